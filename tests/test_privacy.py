"""Masking of phones and names (hand-written cases, frames, hostile strings)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_analytics.core.errors import InputError
from crm_analytics.data.privacy import mask_frame, mask_name, mask_phone, mask_series
from crm_analytics.sim import simulate_dealer


@pytest.fixture(scope="module")
def small_dealer():
    return simulate_dealer(0, customers=400, seed=7)


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("008613812345678", "138****5678"),
        (13812345678, "138****5678"),
        (13812345678.0, "138****5678"),
        ("021-6234567", "****4567"),
        ("12345", "****"),
        ("<script>alert(1)</script>", "****"),
        ("", ""),
    ],
)
def test_mask_phone_cases(raw, masked):
    assert mask_phone(raw) == masked


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA])
def test_mask_phone_and_name_keep_missing(missing):
    assert mask_phone(missing) is missing
    assert mask_name(missing) is missing


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("张三", "张*"),
        ("张三丰", "张*"),
        ("欧阳娜娜", "欧*"),
        ("David Wang", "D*"),
        ("王", "*"),
        ("<script>", "<*"),
        ("  李四 ", "李*"),
        ("", ""),
    ],
)
def test_mask_name_cases(raw, masked):
    assert mask_name(raw) == masked


def test_masked_phone_never_reveals_middle_digits():
    rng = np.random.default_rng(0)
    phones = [f"1{rng.integers(3, 10)}{rng.integers(0, 10**9):09d}" for _ in range(200)]
    out = mask_series(pd.Series(phones), kind="phone")
    for p, m in zip(phones, out, strict=True):
        assert m == p[:3] + "****" + p[-4:]


def test_mask_frame_defaults_and_copy():
    df = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "name": ["张三丰", None, "<b>李</b>"],
            "customer_phone": ["13812345678", np.nan, "<script>"],
            "owner_name": ["王五", "赵六", "孙七"],
            "score": [1.0, 2.0, 3.0],
        }
    )
    out = mask_frame(df)
    assert (
        out["name"].tolist()[0] == "张*"
        and pd.isna(out["name"].iloc[1])
        and out["name"].iloc[2] == "<*"
    )
    assert out["customer_phone"].iloc[0] == "138****5678" and pd.isna(out["customer_phone"].iloc[1])
    assert out["customer_phone"].iloc[2] == "****"
    assert out["owner_name"].tolist() == ["王*", "赵*", "孙*"]
    assert out["score"].tolist() == [1.0, 2.0, 3.0]
    assert df["name"].iloc[0] == "张三丰"  # input untouched
    only = mask_frame(df, name_columns=["name"], phone_columns=[])
    assert only["owner_name"].tolist() == ["王五", "赵六", "孙七"]
    with pytest.raises(InputError, match="not in the frame"):
        mask_frame(df, phone_columns=["phone"])
    with pytest.raises(InputError):
        mask_series(df["name"], kind="email")


def test_mask_frame_on_simulated_customers(small_dealer):
    c = small_dealer.customers
    out = mask_frame(c)
    assert out["phone"].str.fullmatch(r"1\d\d\*{4}\d{4}|\*{4}(\d{4})?").all()
    assert (out["name"].str.len() <= 2).all()
    assert not set(out["phone"]) & set(c["phone"])
    assert len(out) == len(c) and list(out.columns) == list(c.columns)
