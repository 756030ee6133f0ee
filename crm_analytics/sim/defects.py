"""Defects stage: how the visitor log presents each arrival (names in mixed scripts, missing
phones, party size) and the injected data-quality defects (see
:data:`crm_analytics.sim.config.DEFECT_CLASSES`), each recorded in ``ctx.defects`` (one row per
defect in the truth).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics.sim.config import DAY, PLACEHOLDER_NAMES, PLACEHOLDER_PHONES, DefectRates
from crm_analytics.sim.context import DealerContext
from crm_analytics.sim.customers import draw_people
from crm_analytics.sim.draws import ENGLISH_NAMES, choice, days, make_ids


def inject_defects(
    ctx: DealerContext,
    dr: DefectRates,
    A: pd.DataFrame,
    C: pd.DataFrame,
    tp: pd.DataFrame,
    in_dms: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Present the arrivals ``A`` in the visitor log and inject the defects.

    Parameters
    ----------
    ctx
        The dealer; every defect is appended to ``ctx.defects``.
    dr
        The defect rates; customer defects are fractions of the customers in the DMS.
    A, C, tp
        Front-desk arrivals, true customers, touchpoints.
    in_dms
        Positions in ``C`` of the customers the DMS knows.

    Returns
    -------
    tuple
        ``(A, C, tp, extra_customers)``: the arrivals with log columns (and unregistered
        walk-ins, missing days removed), the customers with typo'd and staff phones, the
        touchpoints with phantom visits added and missing stages removed, and the duplicate and
        placeholder customer records to add.
    """
    C = C.copy()
    A = _log_presentation(ctx, A, C)
    A = _unregistered_walk_ins(ctx, dr, A)
    tp, phantom_ids = _phantom_visits(ctx, dr, tp)
    tp, A = _missing_stages(ctx, dr, tp, A, phantom_ids)
    _typo_phones(ctx, dr, C, in_dms)
    _staff_phones(ctx, dr, C, in_dms)
    extra = [_duplicates(ctx, dr, C, in_dms), _placeholders(ctx, dr, len(in_dms))]
    extra = [e for e in extra if e is not None]
    A = _missing_log_days(ctx, dr, A)
    extra_customers = pd.concat(extra, ignore_index=True) if extra else C.iloc[:0]
    return A, C, tp, extra_customers


def _record(ctx: DealerContext, defect: str, table: str, row_id: str, detail: str = "") -> None:
    """Log one injected defect."""
    ctx.defects.append({"defect": defect, "table": table, "row_id": row_id, "detail": detail})


def _log_presentation(ctx: DealerContext, A: pd.DataFrame, C: pd.DataFrame) -> pd.DataFrame:
    """The visitor log's presentation of the true person: full name (60%), surname + title,
    pinyin, or English + surname; phone given 80% of the time; party size."""
    rng = ctx.rng
    cpos = A["cpos"].to_numpy()
    form = rng.random(len(A))
    sur = np.array([n[0] for n in C["name"].to_numpy()], dtype=object)
    gender = C["gender"].to_numpy()
    title = np.where(gender[cpos] == "M", "先生", "女士")
    py = C["pinyin"].to_numpy()[cpos]
    eng = choice(rng, ENGLISH_NAMES, len(A))
    english = np.array([f"{e} {p.split()[0]}" for e, p in zip(eng, py, strict=True)], dtype=object)
    name_log = np.where(
        form < 0.6,
        C["name"].to_numpy()[cpos],
        np.where(form < 0.82, sur[cpos] + title, np.where(form < 0.95, py, english)),
    )
    phone_log = np.where(rng.random(len(A)) < 0.8, C["phone"].to_numpy()[cpos], None)
    return A.assign(
        log_name=name_log,
        log_phone=phone_log,
        party_size=1 + rng.poisson(0.7, len(A)).clip(0, 6),
    )


def _unregistered_walk_ins(ctx: DealerContext, dr: DefectRates, A: pd.DataFrame) -> pd.DataFrame:
    """1) Arrivals of people the DMS never registered (recorded later, from the truth)."""
    rng = ctx.rng
    n_sales = int((A["reason"] == "sales").sum())
    n_unreg = int(round(dr.unregistered_walk_in * n_sales))
    if not n_unreg:
        return A.assign(unregistered=False)
    people = draw_people(ctx, n_unreg, np.full(n_unreg, ctx.start))
    at = ctx.in_hours(rng, ctx.start + days(rng.uniform(0, (ctx.as_of - ctx.start) / DAY, n_unreg)))
    form = rng.random(n_unreg)
    nm = np.where(
        form < 0.6,
        people["name"],
        np.where(form < 0.85, people["name"].str[0] + "先生", people["pinyin"]),
    )
    cons = ctx.consultants_at(at)
    U = pd.DataFrame(
        {
            "cpos": -1,
            "at": at,
            "reason": "sales",
            "touch_id": None,
            "staff_id": cons,
            "true_customer": None,
            "log_name": nm,
            "log_phone": np.where(rng.random(n_unreg) < 0.6, people["phone"], None),
            "party_size": 1 + rng.poisson(0.7, n_unreg).clip(0, 6),
            "unregistered": True,
        }
    )
    return pd.concat([A.assign(unregistered=False), U], ignore_index=True)


def _phantom_visits(
    ctx: DealerContext, dr: DefectRates, tp: pd.DataFrame
) -> tuple[pd.DataFrame, list[str]]:
    """2) DMS visit records with no front-desk arrival: a consultant pads a lead with a visit
    2-20 days after a real one. Returns the touchpoints and the phantom touch ids."""
    rng = ctx.rng
    vis = tp.index[(tp["kind"] == "visit").to_numpy()]
    n_ph = int(round(dr.phantom_visit * len(vis)))
    if not n_ph:
        return tp, []
    src = tp.loc[rng.choice(vis, n_ph, replace=False)]
    shift = days(rng.uniform(2, 20, n_ph))
    ph = src.copy()
    ph["at"] = ctx.in_hours(rng, ph["at"].to_numpy("datetime64[s]") + shift)
    ph = ph[ph["at"] <= ctx.as_of]
    ph["outcome"] = "repeat"
    ph["touch_id"] = make_ids(f"{ctx.did}-T", len(ph), start=len(tp), width=7)
    phantom_ids = ph["touch_id"].tolist()
    tp = pd.concat([tp, ph], ignore_index=True)
    for t in phantom_ids:
        _record(ctx, "phantom_visit", "touchpoints", t)
    return tp, phantom_ids


def _missing_stages(
    ctx: DealerContext, dr: DefectRates, tp: pd.DataFrame, A: pd.DataFrame, phantom_ids: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """3) Visit / test drive / quote records the consultant never entered. The arrival stays in
    the visitor log; it no longer points at a DMS record."""
    rng = ctx.rng
    stage = tp.index[
        tp["kind"].isin(["visit", "test_drive", "quote"]).to_numpy()
        & ~tp["touch_id"].isin(phantom_ids).to_numpy()
    ]
    n_miss = int(round(dr.missing_stage * len(stage)))
    if not n_miss:
        return tp, A
    gone = rng.choice(stage, n_miss, replace=False)
    for t, lid, k in tp.loc[gone, ["touch_id", "lead_id", "kind"]].itertuples(index=False):
        _record(ctx, "missing_stage", "touchpoints", t, f"{lid}:{k}")
    gone_ids = set(tp.loc[gone, "touch_id"])
    tp = tp.drop(index=gone)
    A.loc[A["touch_id"].isin(gone_ids), "touch_id"] = None
    return tp, A


def _typo_phones(ctx: DealerContext, dr: DefectRates, C: pd.DataFrame, in_dms: np.ndarray) -> None:
    """4) One wrong digit in a customer's DMS phone (the visitor log keeps the true number)."""
    rng = ctx.rng
    n_typo = int(round(dr.typo_phone * len(in_dms)))
    if not n_typo:
        return
    pos = rng.choice(in_dms, n_typo, replace=False)
    for i in pos:
        ph = C.at[i, "phone"]
        j = int(rng.integers(3, 11))
        new = str((int(ph[j]) + int(rng.integers(1, 10))) % 10)
        C.at[i, "phone"] = ph[:j] + new + ph[j + 1 :]
        _record(ctx, "typo_phone", "customers", C.at[i, "customer_id"], ph)


def _staff_phones(ctx: DealerContext, dr: DefectRates, C: pd.DataFrame, in_dms: np.ndarray) -> None:
    """5) Customers entered with a staff member's phone."""
    rng = ctx.rng
    n_sp = int(round(dr.staff_phone * len(in_dms)))
    if not n_sp:
        return
    pos = rng.choice(in_dms, n_sp, replace=False)
    sp = choice(rng, ctx.staff["phone"].to_numpy(), n_sp)
    for i, ph in zip(pos, sp, strict=True):
        C.at[i, "phone"] = ph
        _record(ctx, "staff_phone", "customers", C.at[i, "customer_id"], ph)


def _duplicates(
    ctx: DealerContext, dr: DefectRates, C: pd.DataFrame, in_dms: np.ndarray
) -> pd.DataFrame | None:
    """6) The same person entered again under a new id, 1-300 days later, sometimes with a
    space or a +86 prefix in the phone."""
    rng = ctx.rng
    n_dup = int(round(dr.duplicate_customer * len(in_dms)))
    if not n_dup:
        return None
    pos = rng.choice(in_dms, n_dup, replace=False)
    dup = C.iloc[pos].copy()
    dup["customer_id"] = make_ids(f"{ctx.did}-C", n_dup, start=len(C))
    dup["created_at"] = np.minimum(
        dup["created_at"].to_numpy("datetime64[s]") + days(rng.uniform(1, 300, n_dup)),
        ctx.as_of,
    )
    fmt = rng.random(n_dup)
    phone = dup["phone"].astype(str)
    dup["phone"] = np.where(
        fmt < 0.2,
        "+86 " + phone,
        np.where(fmt < 0.35, phone.str[:3] + " " + phone.str[3:], dup["phone"]),
    )
    for new, old in zip(dup["customer_id"], C["customer_id"].to_numpy()[pos], strict=True):
        _record(ctx, "duplicate_customer", "customers", new, old)
    return dup


def _placeholders(ctx: DealerContext, dr: DefectRates, n_c: int) -> pd.DataFrame | None:
    """7) Test / placeholder customer records (placeholder phone, name or both)."""
    rng = ctx.rng
    n_pl = int(round(dr.placeholder * n_c))
    if not n_pl:
        return None
    created = ctx.in_hours(
        rng, ctx.start + days(rng.uniform(0, (ctx.as_of - ctx.start) / DAY, n_pl))
    )
    pl = draw_people(ctx, n_pl, created)
    pl["customer_id"] = make_ids(f"{ctx.did}-X", n_pl)
    kind = rng.random(n_pl)
    pl["phone"] = np.where(kind < 0.6, choice(rng, PLACEHOLDER_PHONES, n_pl), pl["phone"])
    pl["name"] = np.where(kind >= 0.4, choice(rng, PLACEHOLDER_NAMES, n_pl), pl["name"])
    for cid in pl["customer_id"]:
        _record(ctx, "placeholder", "customers", cid)
    return pl


def _missing_log_days(ctx: DealerContext, dr: DefectRates, A: pd.DataFrame) -> pd.DataFrame:
    """8) Opening days with no visitor-log entries at all."""
    log_days = pd.DatetimeIndex(A["at"]).normalize()
    uniq = np.unique(log_days.to_numpy())
    n_md = int(round(dr.missing_log_day * len(uniq)))
    if not n_md:
        return A
    gone_days = ctx.rng.choice(uniq, n_md, replace=False)
    for g in np.sort(gone_days):
        _record(ctx, "missing_log_day", "visitor_log", str(pd.Timestamp(g).date()))
    return A[~log_days.isin(gone_days)]


def unregistered_walk_in_defects(truth: dict[str, pd.DataFrame]) -> None:
    """Record the unregistered walk-ins that reached the visitor log (those before ``as_of``
    on a logged day) in ``truth['defects']``, now that the log entries have ids."""
    vt = truth["visitor_log"]
    unreg = vt[vt["customer_id"].isna()]
    truth["defects"] = pd.concat(
        [
            truth["defects"],
            pd.DataFrame(
                {
                    "defect": "unregistered_walk_in",
                    "table": "visitor_log",
                    "row_id": unreg["entry_id"].to_numpy(),
                    "detail": "",
                }
            ),
        ],
        ignore_index=True,
    )
