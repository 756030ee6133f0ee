"""Helpers shared by the reconciliation and the rules: normalised features, phone neighbours, masking."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics.core.dealer import DealerData
from crm_analytics.data.linkage import (
    mask_name,
    mask_phone,
    name_frame,
    normalize_phones,
    phone_kind,
)
from crm_analytics.metrics.quality.params import QualityParams

_EPOCH = pd.Timestamp("2000-01-01")


def _isin(values: pd.Series, universe) -> pd.Series:
    """``values.isin(universe)`` through object hash tables (Arrow-string ``isin`` is slow)."""
    if isinstance(universe, (set, frozenset)):
        universe = list(universe)
    u = pd.Index(np.asarray(universe, dtype=object)).unique()
    return pd.Series(u.get_indexer(values.to_numpy(object)) >= 0, index=values.index)


def _minutes(at: pd.Series) -> np.ndarray:
    return ((at - _EPOCH).dt.total_seconds() / 60.0).to_numpy(float)


def _phone_neighbours(a: pd.Series, b: pd.Series) -> pd.DataFrame:
    """Pairs of ``a`` and ``b`` index labels whose phones are equal (distance 0) or one digit apart (1).

    Two equal-length strings one substitution apart agree exactly on their first half or on
    their second half, so candidates are joined on each half and the Hamming distance is then
    computed on the candidates only.
    """
    a = a.dropna()
    b = b.dropna()
    cols = ["a", "b", "distance"]
    if not len(a) or not len(b):
        return pd.DataFrame(columns=cols)
    fa = pd.DataFrame({"a": a.index.to_numpy(object), "phone": a.to_numpy(object)})
    fb = pd.DataFrame({"b": b.index.to_numpy(object), "phone": b.to_numpy(object)})
    fa["n"] = fa["phone"].str.len()
    fb["n"] = fb["phone"].str.len()
    parts = []
    for n in sorted(set(fa["n"]) & set(fb["n"])):
        xa = fa[fa["n"] == n]
        xb = fb[fb["n"] == n]
        h = n // 2
        cand = []
        for lo, hi in ((0, h), (h, n)):
            ka = xa.assign(key=xa["phone"].str[lo:hi])
            kb = xb.assign(key=xb["phone"].str[lo:hi])
            cand.append(
                ka.merge(kb, on="key", suffixes=("_a", "_b"))[["a", "b", "phone_a", "phone_b"]]
            )
        m = pd.concat(cand, ignore_index=True).drop_duplicates(["a", "b"])
        if not len(m):
            continue
        pa = np.frombuffer(
            m["phone_a"].to_numpy().astype(f"S{n}").tobytes(), dtype=np.uint8
        ).reshape(-1, n)
        pb = np.frombuffer(
            m["phone_b"].to_numpy().astype(f"S{n}").tobytes(), dtype=np.uint8
        ).reshape(-1, n)
        dist = (pa != pb).sum(axis=1)
        keep = dist <= 1
        parts.append(
            pd.DataFrame(
                {"a": m["a"].to_numpy()[keep], "b": m["b"].to_numpy()[keep], "distance": dist[keep]}
            )
        )
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)[cols]


def _customer_features(dealer: DealerData) -> pd.DataFrame:
    c = dealer.customers[["customer_id", "name", "phone", "created_at"]].copy()
    c["phone_norm"] = normalize_phones(c["phone"])
    c["phone_kind"] = phone_kind(c["phone_norm"])
    c = pd.concat([c, name_frame(c["name"])], axis=1)
    staff = normalize_phones(dealer.staff["phone"]) if len(dealer.staff) else pd.Series(dtype=str)
    staff_phones = set(staff[phone_kind(staff) != "masked"].dropna())
    # a phone masked before export proves nothing: look-alike masks hide different numbers
    c["staff_phone"] = c["phone_norm"].isin(staff_phones).fillna(False).astype(bool) & (
        c["phone_kind"] != "masked"
    )
    return c


def _log_features(dealer: DealerData, params: QualityParams) -> pd.DataFrame:
    v = dealer.visitor_log.copy()
    v["phone_norm"] = normalize_phones(v["phone"])
    v["phone_kind"] = phone_kind(v["phone_norm"])
    v = pd.concat([v, name_frame(v["name"])], axis=1)
    # duplicate rows: same person key, reason and consultant within a few minutes of the previous one
    person = (
        v["phone_norm"]
        .where(v["phone_kind"] != "masked")
        .fillna(v["full_py"])
        .fillna(v["surname_py"])
        .fillna(v["name"].astype("string").str.strip())
    )
    key = (
        person.fillna("")
        + "|"
        + v["reason"].astype(str)
        + "|"
        + v["staff_id"].astype("string").fillna("")
    )
    order = v.assign(_key=key, _has=person.notna()).sort_values(
        ["_key", "at", "entry_id"], kind="stable"
    )
    gap = order.groupby("_key", sort=False)["at"].diff().dt.total_seconds() / 60.0
    dup = (gap <= params.duplicate_entry_minutes).fillna(False) & order["_has"]
    # rows without any person key are duplicates only when every field repeats
    same = (
        order.duplicated(["at", "reason", "staff_id", "party_size"], keep="first") & ~order["_has"]
    )
    dup_of = order["entry_id"].where(~(dup | same)).ffill()
    v["duplicate_of"] = dup_of.where(dup | same).reindex(v.index)
    hour = v["at"].dt.hour + v["at"].dt.minute / 60.0 + v["at"].dt.second / 3600.0
    grace = params.opening_grace_minutes / 60.0
    opens = dealer.opening_hour - np.where(
        v["reason"].to_numpy() == "service", params.service_opens_earlier_hours, 0.0
    )
    v["outside_hours"] = ((hour < opens - grace) | (hour > dealer.closing_hour + grace)).fillna(
        False
    )
    v["day"] = v["at"].dt.strftime("%Y-%m-%d")
    return v


def _mask_frame(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for c in df.columns:
        if c == "name" or c.endswith("_name") and c not in ("consultant_name",):
            df[c] = mask_name(df[c])
        elif c == "phone" or c.endswith("_phone"):
            df[c] = mask_phone(df[c])
    return df
