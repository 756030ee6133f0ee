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


# ---------------------------------------------------------------------------------------------
# The export helper: formula injection and masking, for every exporter
# ---------------------------------------------------------------------------------------------

HOSTILE = ['=HYPERLINK("http://x","click")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def _fixes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "owner": ["S01", "S01", "S02", "crm"],
            "consultant_name": [HOSTILE[0], HOSTILE[0], "王芳", None],
            "issue": ["missing_phone", "bad_phone", "missing_phone", "rejected"],
            "name": ["张三丰", "=cmd|' /C calc'!A0", "李娜", None],
            "phone": ["13812345678", "138****5678", None, "+86 139-0000-1111"],
            "other_phone": [None, "13900001111", None, None],
            "detail": ["-", "@x", "ok", "+1"],
        }
    )


def _cells(path) -> list[object]:
    import openpyxl

    book = openpyxl.load_workbook(path)
    return [c.value for ws in book.worksheets for row in ws.iter_rows() for c in row]


def test_neutralize_formulas_every_formula_start() -> None:
    from crm_analytics.data.export import neutralize_formulas

    frame = pd.DataFrame({"t": HOSTILE + ["ok", None], "n": [-1.5] * 7 + [2.0]})
    out = neutralize_formulas(frame)
    assert out["t"].tolist()[:6] == ["'" + h for h in HOSTILE]
    assert out["t"].tolist()[6] == "ok" and out["t"].isna().tolist()[7]
    assert out["n"].tolist() == frame["n"].tolist()  # numbers stay numbers


def test_export_fix_list_neutralises_formulas_and_masks(tmp_path) -> None:
    """export_fix_list wrote =HYPERLINK(...) in a staff name into Excel and CSV as a formula."""
    from crm_analytics.metrics.quality import export_fix_list

    fixes = _fixes()
    [xlsx] = export_fix_list(fixes, tmp_path / "fix.xlsx")
    cells = [c for c in _cells(xlsx) if isinstance(c, str)]
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells), cells
    assert "'" + HOSTILE[0] in cells  # the staff name shown as text, not masked
    assert "13812345678" not in cells and "138****5678" in cells and "张*" in cells
    files = export_fix_list(fixes, tmp_path / "csv")
    for f in files:
        raw = f.read_text(encoding="utf-8-sig")
        assert "13812345678" not in raw and "13900001111" not in raw and "张三丰" not in raw
        back = pd.read_csv(f, encoding="utf-8-sig", dtype=str, keep_default_na=False)
        for col in back.columns:
            assert not back[col].str.startswith(("=", "+", "-", "@", "\t")).any(), (f, col)


def test_export_fix_list_contact_list_keeps_phones(tmp_path) -> None:
    from crm_analytics.metrics.quality import export_fix_list

    fixes = _fixes()
    fixes.attrs["contact"] = True
    [xlsx] = export_fix_list(fixes, tmp_path / "fix.xlsx")
    cells = _cells(xlsx)
    assert "13812345678" in cells and "张三丰" in cells
    assert "'=cmd|' /C calc'!A0" in cells  # still defused


def test_export_call_list_masks_unless_contact(tmp_path) -> None:
    from crm_analytics.actions.call_lists import export_call_list

    calls = pd.DataFrame(
        {
            "owner_id": ["S01", "S02"],
            "customer_name": ["张三丰", '=HYPERLINK("x")'],
            "customer_phone": ["13812345678", "13900001111"],
            "due": pd.to_datetime(["2026-01-02", "2026-01-03"]),
        }
    )
    raw = export_call_list(calls, tmp_path / "c.csv").read_text(encoding="utf-8-sig")
    assert "13812345678" not in raw and "138****5678" in raw and "2026-01-02" in raw
    assert "张*" in raw and "\n=" not in raw and ",=" not in raw
    calls.attrs["contact"] = True
    cells = _cells(export_call_list(calls, tmp_path / "c.xlsx"))
    assert "13812345678" in cells and '\'=HYPERLINK("x")' in cells
    with pytest.raises(InputError, match="csv or .xlsx"):
        export_call_list(calls, tmp_path / "c.json")


def test_write_table_sheet_names_and_errors(tmp_path) -> None:
    from crm_analytics.data.export import sheet_name, write_table

    assert sheet_name("a/b:c*d?[e]") == "a_b_c_d__e_"
    assert sheet_name("x" * 40, ["x" * 31]) == "x" * 29 + "~2"
    assert sheet_name("", []) == "sheet"
    frame = pd.DataFrame({"a": [1]})
    with pytest.raises(InputError, match="one table"):
        write_table({"a": frame, "b": frame}, tmp_path / "x.csv")
    with pytest.raises(InputError, match="use .csv or .xlsx"):
        write_table(frame, tmp_path / "x")
    path = write_table({"Sales": frame, "sales": frame}, tmp_path / "x.xlsx")
    import openpyxl

    assert openpyxl.load_workbook(path).sheetnames == ["Sales", "sales~2"]


def test_mask_phone_is_idempotent_and_accepts_dms_masked_phones() -> None:
    for raw in ["13812345678", "+86 138-1234-5678", "021-6234567", "123", "138****5678"]:
        once = mask_phone(raw)
        assert mask_phone(once) == once
    assert mask_phone("138****5678") == "138****5678"  # masked by the DMS: kept
    assert mask_phone("****5678") == "****5678"
    assert mask_phone("13812345678*") == "138****5678"  # a stray * does not leak the number
