"""Showroom funnel: the deck's KPI tree, diagnosis against targets and peers, period comparison.

The funnel of the deck (slides 39-41) is lead -> visit -> test drive -> quote -> order ->
delivery. Every stage is counted by **unique lead** (``unit="lead"``, default) or **unique
customer** (``unit="customer"``), never by events: a customer who visits three times is one
visiting customer. Counting visit events understates closing ratios (4 customers, 6 visits,
2 orders is a 50 % visit-to-order rate, not 33 %), a known flaw of dealer CRM reports.

Which leads belong to a period (``basis``)
------------------------------------------
``basis="cohort"`` (default)
    A lead belongs to the period of its **creation date**; every later stage it reached up to
    the data's ``as_of`` counts for it, whenever it happened. Stage rates are then true
    conversion probabilities of that cohort. Recent cohorts are immature (leads still open):
    the table says how many leads are still open in its ``note``.
``basis="activity"``
    Each stage counts the units whose **first event of that stage** falls in the period (the
    dealer's monthly activity report). Ratios of two stages then mix cohorts and can exceed 1;
    they are labelled "activity ratio" in the ``note``.
Diagnostic KPIs follow the same rule: in cohort mode the lead's creation date decides; in
activity mode the date of the KPI's own anchoring event (first invitation, visit, quote,
order, delivery).

Stage records and implied stages
--------------------------------
A stage is reached when its DMS record exists (touchpoints of kind ``visit``, ``test_drive``,
``quote`` with the lead's id; the orders table for order and delivery). With ``imply=True``
(default) a later stage implies the earlier ones the sales process requires (an order implies a
quote and a visit; a test drive or quote implies a visit; a delivery implies an order): a
consultant who forgot to enter the visit does not make the visit rate fall. Implied stages are
counted in ``note``; timing KPIs use recorded events only.

KPIs (``kpi`` column; ``parent`` is the KPI each one explains in the deck's tree)
--------------------------------------------------------------------------------
Stage counts ``lead_count``, ``visit_count``, ``test_drive_count``, ``quote_count``,
``order_count``, ``delivery_count`` and rates ``visit_rate`` (visit / lead),
``test_drive_rate`` and ``quote_rate`` (per visiting unit), ``order_rate`` (order / quote),
``visit_to_order_rate`` (closing ratio), ``lead_to_order_rate``, ``delivery_rate``
(order-to-delivery). Diagnostics of slide 41: ``walk_in_lead_count``, ``referral_lead_count``,
``front_desk_sales_arrivals``, ``walk_in_registration_rate``, ``first_invitation_visit_rate``
(visited after exactly one invitation / invited before visiting), ``repeat_invitation_visit_rate``
(visited / needed two or more invitations), ``invitation_acceptance_rate`` (event level),
``showroom_dwell_minutes`` (first visit), ``same_day_quote_order_rate`` (ordered on the day of
the first quote), ``quote_revisit_rate`` (came back on a later day after a quote not closed that
day), ``order_cycle_days`` (first visit to order), ``order_to_delivery_days``,
``order_cancellation_rate``, ``open_leads`` (cohort maturity).

Confidence intervals
--------------------
Rates: Wilson score interval (95 %). Differences of rates between two periods: Newcombe's
hybrid score interval (Newcombe 1998, method 10). Means (dwell time, order cycle): Welch's t
interval from the two means, standard deviations and counts. Counts (leads): the difference of
monthly rates with a normal approximation to Poisson counts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from crm_analytics.core.config import load_params
from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.core.frames import isin
from crm_analytics.core.schema import CHANNELS, MODELS

STAGES: tuple[str, ...] = ("lead", "visit", "test_drive", "quote", "order", "delivery")
BY_OPTIONS: tuple[str, ...] = ("month", "channel", "model", "consultant")
TREE_COLUMNS: tuple[str, ...] = (
    "dealer_id",
    "period_start",
    "period_end",
    "basis",
    "unit_of_count",
    "kpi",
    "parent",
    "value",
    "numerator",
    "denominator",
    "std",
    "ci_low",
    "ci_high",
    "unit",
    "note",
)
Z95 = float(stats.norm.ppf(0.975))
_FAR_FUTURE = pd.Timestamp("2100-01-01")


# -- statistics ----------------------------------------------------------------------------------
def wilson_interval(k: Any, n: Any, *, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of the proportions ``k / n`` (vectorised; NaN where ``n == 0``).

    Reference: Wilson (1927); Newcombe (1998), Statistics in Medicine 17:857-872, method 3.
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    ok = n > 0
    nn = np.where(ok, n, 1.0)
    p = np.where(ok, np.clip(k / nn, 0.0, 1.0), 0.0)
    denom = 1 + z**2 / nn
    centre = (p + z**2 / (2 * nn)) / denom
    half = z * np.sqrt(p * (1 - p) / nn + z**2 / (4 * nn**2)) / denom
    lo = np.where(ok, np.clip(centre - half, 0.0, 1.0), np.nan)
    hi = np.where(ok, np.clip(centre + half, 0.0, 1.0), np.nan)
    return lo, hi


def newcombe_interval(
    k1: Any, n1: Any, k2: Any, n2: Any, *, z: float = Z95
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval of ``k2/n2 - k1/n1`` (method 10 of Newcombe 1998).

    NaN where either denominator is zero.
    """
    k1, n1, k2, n2 = (np.asarray(a, dtype=float) for a in (k1, n1, k2, n2))
    ok = (n1 > 0) & (n2 > 0)
    p1 = np.divide(k1, n1, out=np.zeros_like(k1), where=n1 > 0)
    p2 = np.divide(k2, n2, out=np.zeros_like(k2), where=n2 > 0)
    l1, u1 = wilson_interval(k1, n1, z=z)
    l2, u2 = wilson_interval(k2, n2, z=z)
    d = p2 - p1
    lo = d - np.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    hi = d + np.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return np.where(ok, lo, np.nan), np.where(ok, hi, np.nan)


def welch_interval(
    m1: float, s1: float, n1: float, m2: float, s2: float, n2: float, *, level: float = 0.95
) -> tuple[float, float, float]:
    """Welch's t interval of ``m2 - m1`` from summary statistics: ``(lo, hi, p_value)``.

    NaN when either group has fewer than two observations.
    """
    if not (n1 >= 2 and n2 >= 2) or not np.isfinite([m1, s1, m2, s2]).all():
        return np.nan, np.nan, np.nan
    v1, v2 = s1**2 / n1, s2**2 / n2
    se = np.sqrt(v1 + v2)
    if se == 0:
        return m2 - m1, m2 - m1, np.nan
    df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    t = stats.t.ppf(0.5 + level / 2, df)
    d = m2 - m1
    p = 2 * stats.t.sf(abs(d) / se, df)
    return d - t * se, d + t * se, float(p)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else np.nan


# -- periods -------------------------------------------------------------------------------------
def period_bounds(
    period: Any, *, as_of: pd.Timestamp | None = None, start: pd.Timestamp | None = None
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Turn a period into inclusive ``(start, end)`` timestamps (end at 23:59:59.999999).

    Parameters
    ----------
    period
        ``None`` (everything from ``start`` to ``as_of``); a pair ``("2025-01-01",
        "2025-06-30")`` of dates (both days included); a :class:`pandas.Period`; or a string a
        Period understands (``"2025Q1"``, ``"2025-03"``, ``"2025"``).
    as_of, start
        Used when ``period`` is ``None``.
    """
    one_day = pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    if period is None:
        lo = pd.Timestamp(start) if start is not None else pd.Timestamp("1990-01-01")
        hi = pd.Timestamp(as_of) if as_of is not None else _FAR_FUTURE
        return lo.normalize(), hi.normalize() + one_day
    if isinstance(period, pd.Period):
        return period.start_time, period.end_time
    if isinstance(period, (tuple, list)) and len(period) == 2:
        try:
            lo, hi = pd.Timestamp(period[0]), pd.Timestamp(period[1])
        except (ValueError, TypeError) as err:
            raise InputError(f"period {period!r}: both ends must be dates") from err
        if hi < lo:
            raise InputError(f"period {period!r} ends before it starts")
        return lo.normalize(), hi.normalize() + one_day
    if isinstance(period, str):
        try:
            p = pd.Period(period)
        except (ValueError, TypeError) as err:
            raise InputError(
                f"period {period!r} is not understood; use ('2025-01-01', '2025-06-30'), "
                "'2025Q1', '2025-03' or '2025'"
            ) from err
        return p.start_time, p.end_time
    raise InputError(
        f"period must be None, a (start, end) pair, a pandas Period or a string; got {period!r}"
    )


# -- per-lead journeys ---------------------------------------------------------------------------
#: The journeys computed inside :func:`shared_journeys` blocks: (id(dealer), imply) -> (dealer, J).
_SHARED: ContextVar[dict[tuple[int, bool], tuple[DealerData, pd.DataFrame]] | None] = ContextVar(
    "crm_analytics_shared_journeys", default=None
)


@contextlib.contextmanager
def shared_journeys() -> Iterator[None]:
    """Within the block, :func:`lead_journeys` at the data date (``cutoff=None``) is computed
    once per dealer and ``imply``, and copies are handed out (one dealer's analysis asks for
    the same journeys in every KPI tree and diagnosis). The dealers' tables must not change
    inside the block."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def lead_journeys(dealer: DealerData, *, cutoff: Any = None, imply: bool = True) -> pd.DataFrame:
    """One row per lead with the time each funnel stage was first reached.

    Parameters
    ----------
    dealer
        The dealer.
    cutoff
        Only what was known at this time is used (leads created and events dated up to it;
        statuses recomputed). Default: the dealer's ``as_of``.
    imply
        Fill stages that a later recorded stage implies (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        ``lead_id, customer_id, channel, model, consultant_id, created_at, closed_at, status``;
        per stage ``visit, test_drive, quote, order, delivery``: ``<stage>_at`` (first time,
        NaT if not reached; an implied stage carries the implying event's time) and
        ``<stage>_implied``; ``n_visits``, ``first_dwell`` (minutes of the first visit),
        ``n_inv_pre`` (invitations before the first visit, or all if no visit),
        ``first_inv_at``, ``revisit_after_quote`` (a visit on a later day than the first
        quote), ``cancelled``.
    """
    shared = _SHARED.get() if cutoff is None else None
    if shared is None:
        return _lead_journeys(dealer, cutoff=cutoff, imply=imply)
    key = (id(dealer), bool(imply))
    if key not in shared:  # the dealer is kept with its journeys: its id is not reused
        shared[key] = (dealer, _lead_journeys(dealer, cutoff=None, imply=imply))
    return shared[key][1].copy()


def _first_at(codes: np.ndarray, at: np.ndarray, n: int) -> np.ndarray:
    """The earliest time per lead code ``0..n-1``; NaT for a lead without one (codes -1 and
    NaT times are left out)."""
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = (codes >= 0) & ~np.isnat(at)
    if ok.any():
        s = pd.Series(at[ok]).groupby(codes[ok]).min()
        out[s.index.to_numpy()] = s.to_numpy("datetime64[ns]")
    return out


def _count_by(codes: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(codes[codes >= 0], minlength=n)


def _lead_journeys(dealer: DealerData, *, cutoff: Any, imply: bool) -> pd.DataFrame:
    cut = pd.Timestamp(dealer.as_of if cutoff is None else cutoff)
    if cutoff is None:
        cut = cut.normalize() + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    cut64 = np.datetime64(cut.tz_localize(None) if cut.tzinfo else cut, "ns")
    leads = dealer.leads
    leads = leads[leads["created_at"] <= cut]
    J = pd.DataFrame(
        {
            "lead_id": leads["lead_id"].to_numpy(),
            "customer_id": leads["customer_id"].to_numpy(),
            "channel": leads["channel"].to_numpy(),
            "model": leads["model_interest"].to_numpy(),
            "consultant_id": leads["consultant_id"].to_numpy(),
            "created_at": leads["created_at"].to_numpy(),
        }
    )
    n = len(J)
    # every event as the position of its lead in J (-1: no lead, or one created after the
    # cutoff), so the per-lead firsts and counts below are integer group-bys (lead ids are
    # unique: the validation keeps one row per id)
    idx = pd.Index(J["lead_id"])

    def code(ids: pd.Series) -> np.ndarray:
        return idx.get_indexer(ids)

    tp = dealer.touchpoints
    tp = tp[tp["lead_id"].notna() & (tp["at"] <= cut)]
    t_code = code(tp["lead_id"])
    t_at = tp["at"].to_numpy("datetime64[ns]")
    t_kind = tp["kind"].to_numpy(dtype=object)
    first = {k: _first_at(np.where(t_kind == k, t_code, -1), t_at, n) for k in _TP_KINDS}
    for kind in ("visit", "test_drive", "quote"):
        J[f"{kind}_at"] = first[kind]
    orders = dealer.orders
    orders = orders[orders["ordered_at"] <= cut]
    o_code = code(orders["lead_id"])
    o_at = orders["ordered_at"].to_numpy("datetime64[ns]")
    o_first = _first_at(o_code, o_at, n)
    J["order_at"] = np.where(np.isnat(o_first), first["order"], o_first)
    dl = orders["delivered_at"].to_numpy("datetime64[ns]")
    dl = np.where(dl <= cut64, dl, np.datetime64("NaT"))
    d_first = _first_at(o_code, dl, n)
    J["delivery_at"] = np.where(np.isnat(d_first), first["delivery"], d_first)
    cancelled = (
        (orders["status"] == "cancelled").to_numpy(dtype=bool, na_value=False)
        & (o_at + np.timedelta64(30, "D") <= cut64)
        & np.isnat(dl)
    )
    J["cancelled"] = _count_by(np.where(cancelled, o_code, -1), n) > 0
    for s in ("visit", "test_drive", "quote", "order", "delivery"):
        J[f"{s}_implied"] = False
    if imply:
        # (stage, stages that imply it)
        rules = (
            ("order", ("delivery",)),
            ("quote", ("order",)),
            ("visit", ("test_drive", "quote", "order")),
        )
        for stage, later in rules:
            miss = J[f"{stage}_at"].isna()
            implying = J[[f"{s}_at" for s in later]].min(axis=1)
            fill = miss & implying.notna()
            J.loc[fill, f"{stage}_at"] = implying[fill]
            J.loc[fill, f"{stage}_implied"] = True
    # visits: count and first dwell (of the earliest visit; the first row of a tie)
    is_visit = t_kind == "visit"
    v_code = np.where(is_visit, t_code, -1)
    J["n_visits"] = _count_by(v_code, n)
    vis = pd.DataFrame({"code": v_code, "at": t_at, "dwell": tp["dwell_minutes"].to_numpy()})
    vis = vis[vis["code"] >= 0].sort_values("at", kind="stable")
    dwell = vis.groupby("code")["dwell"].first()
    first_dwell = np.full(n, np.nan)
    first_dwell[dwell.index.to_numpy()] = dwell.to_numpy(dtype=float, na_value=np.nan)
    J["first_dwell"] = first_dwell
    # invitations before the first visit (all invitations when the lead never visited)
    inv = (t_kind == "invitation") & (t_code >= 0)
    i_code, i_at = t_code[inv], t_at[inv]
    fv = J["visit_at"].to_numpy("datetime64[ns]")[i_code]
    pre = np.isnat(fv) | (i_at < fv)
    J["n_inv_pre"] = np.bincount(i_code[pre], minlength=n)
    J["first_inv_at"] = first["invitation"]
    # a re-visit after the first quote, on a later calendar day
    fq = J["quote_at"].where(~J["quote_implied"]).to_numpy("datetime64[ns]")
    visits = is_visit & (t_code >= 0)
    lead, day = t_code[visits], t_at[visits].astype("datetime64[D]")
    quoted = fq[lead]
    later = ~np.isnat(quoted) & (day > quoted.astype("datetime64[D]"))
    J["revisit_after_quote"] = _count_by(lead[later], n) > 0
    # status as known at the cutoff
    closed = leads["closed_at"].to_numpy()
    status = leads["status"].to_numpy()
    won = J["order_at"].notna().to_numpy()
    defeated = (status == "defeated") & (pd.to_datetime(closed) <= cut) & ~won
    J["status"] = np.where(won, "won", np.where(defeated, "defeated", "open"))
    J["closed_at"] = np.where(won, J["order_at"], np.where(defeated, closed, pd.NaT))
    J["closed_at"] = pd.to_datetime(J["closed_at"])
    return J


#: touchpoint kinds whose first time per lead the journeys use
_TP_KINDS = ("visit", "test_drive", "quote", "order", "delivery", "invitation")


def _by_customer(J: pd.DataFrame) -> pd.DataFrame:
    """Collapse leads to customers: a stage is reached if any lead reached it (first time)."""
    if J.empty:
        return J
    g = J.groupby("customer_id", sort=False)
    agg: dict[str, Any] = {
        "lead_id": "first",
        "channel": "first",
        "model": "first",
        "consultant_id": "first",
        "created_at": "min",
        "n_visits": "sum",
        "first_dwell": "first",
        "n_inv_pre": "max",
        "first_inv_at": "min",
        "revisit_after_quote": "any",
        "cancelled": "all",
    }
    for s in ("visit", "test_drive", "quote", "order", "delivery"):
        agg[f"{s}_at"] = "min"
        agg[f"{s}_implied"] = "all"
    out = g.agg(agg).reset_index()
    any_open = J["status"].eq("open").groupby(J["customer_id"], sort=False).any()
    out["status"] = np.where(
        out["order_at"].notna(), "won", np.where(any_open.to_numpy(), "open", "defeated")
    )
    return out


# -- KPI definitions -----------------------------------------------------------------------------
@dataclass(frozen=True)
class _KPI:
    name: str
    parent: str | None
    unit: str
    kind: str  # count | rate | mean
    higher_is_better: bool = True


KPIS: tuple[_KPI, ...] = (
    _KPI("lead_count", None, "leads", "count"),
    _KPI("visit_count", "lead_count", "units", "count"),
    _KPI("test_drive_count", "visit_count", "units", "count"),
    _KPI("quote_count", "visit_count", "units", "count"),
    _KPI("order_count", "quote_count", "units", "count"),
    _KPI("delivery_count", "order_count", "units", "count"),
    _KPI("visit_rate", "visit_count", "share", "rate"),
    _KPI("test_drive_rate", "quote_rate", "share", "rate"),
    _KPI("quote_rate", "quote_count", "share", "rate"),
    _KPI("order_rate", "order_count", "share", "rate"),
    _KPI("visit_to_order_rate", "order_count", "share", "rate"),
    _KPI("lead_to_order_rate", "order_count", "share", "rate"),
    _KPI("delivery_rate", "delivery_count", "share", "rate"),
    _KPI("walk_in_lead_count", "lead_count", "leads", "count"),
    _KPI("referral_lead_count", "lead_count", "leads", "count"),
    _KPI("front_desk_sales_arrivals", "lead_count", "arrivals", "count"),
    _KPI("walk_in_registration_rate", "lead_count", "share", "rate"),
    _KPI("first_invitation_visit_rate", "visit_rate", "share", "rate"),
    _KPI("repeat_invitation_visit_rate", "visit_rate", "share", "rate"),
    _KPI("invitation_acceptance_rate", "visit_rate", "share", "rate"),
    _KPI("showroom_dwell_minutes", "quote_rate", "minutes", "mean"),
    _KPI("same_day_quote_order_rate", "order_rate", "share", "rate"),
    _KPI("quote_revisit_rate", "order_rate", "share", "rate"),
    _KPI("order_cycle_days", "order_rate", "days", "mean", higher_is_better=False),
    _KPI("order_to_delivery_days", "delivery_rate", "days", "mean", higher_is_better=False),
    _KPI("order_cancellation_rate", "delivery_rate", "share", "rate", higher_is_better=False),
    _KPI("open_leads", "lead_count", "units", "count"),
)
KPI_INFO: dict[str, _KPI] = {k.name: k for k in KPIS}


_TIME_COLS = ("created_at", "first_inv_at") + tuple(f"{s}_at" for s in STAGES[1:])


def _arrays(J: pd.DataFrame) -> dict[str, np.ndarray]:
    """The journey columns a KPI needs, as numpy arrays (times as datetime64[ns])."""
    A: dict[str, np.ndarray] = {}
    for c in _TIME_COLS:
        A[c] = J[c].to_numpy("datetime64[ns]")
    for s in STAGES[1:]:
        A[f"{s}_implied"] = J[f"{s}_implied"].to_numpy(dtype=bool)
    A["channel"] = J["channel"].to_numpy(dtype=object)
    A["n_inv_pre"] = J["n_inv_pre"].to_numpy(dtype=float)
    A["first_dwell"] = J["first_dwell"].to_numpy(dtype=float)
    A["revisit_after_quote"] = J["revisit_after_quote"].to_numpy(dtype=bool)
    A["cancelled"] = J["cancelled"].to_numpy(dtype=bool)
    A["status"] = J["status"].to_numpy(dtype=object)
    return A


def _inv_arrays(inv: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        "created_at": inv["created_at"].to_numpy("datetime64[ns]"),
        "at": inv["at"].to_numpy("datetime64[ns]"),
        "outcome": inv["outcome"].to_numpy(dtype=object),
    }


def _take(A: dict[str, np.ndarray], sel: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[sel] for k, v in A.items()}


def _in(ts: Any, lo: pd.Timestamp, hi: pd.Timestamp) -> np.ndarray:
    """``lo <= ts <= hi`` as a boolean array (missing times are outside)."""
    a = np.asarray(ts, dtype="datetime64[ns]")
    return (a >= np.datetime64(lo, "ns")) & (a <= np.datetime64(hi, "ns"))


def _rate_row(name, num, den, note_zero, note="") -> dict:
    num, den = float(num), float(den)
    if den == 0:
        return {
            "kpi": name,
            "value": np.nan,
            "numerator": num,
            "denominator": den,
            "note": note_zero,
        }
    return {"kpi": name, "value": num / den, "numerator": num, "denominator": den, "note": note}


def _mean_row(name, values: np.ndarray, note_zero, note="") -> dict:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return {
            "kpi": name,
            "value": np.nan,
            "numerator": 0.0,
            "denominator": 0.0,
            "std": np.nan,
            "note": note_zero,
        }
    sd = float(v.std(ddof=1)) if n > 1 else np.nan
    return {
        "kpi": name,
        "value": float(v.mean()),
        "numerator": float(v.sum()),
        "denominator": float(n),
        "std": sd,
        "note": note,
    }


def _days_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (b - a) / np.timedelta64(1, "D")


_RATE_KPIS_OPEN = frozenset(
    {
        "visit_rate",
        "order_rate",
        "visit_to_order_rate",
        "lead_to_order_rate",
        "delivery_rate",
        "quote_rate",
        "test_drive_rate",
    }
)


def _count_row(kpi: str, value: Any, note: str = "", *, numerator: Any = None) -> dict:
    """A count KPI row (numerator = the count unless given)."""
    return {
        "kpi": kpi,
        "value": value,
        "numerator": value if numerator is None else numerator,
        "denominator": np.nan,
        "note": note,
    }


def _stage_rows(cnt: dict[str, int], implied: dict[str, int], act: str) -> list[dict]:
    """Lead and stage counts, and the stage-to-stage conversion rates."""
    rows = [
        _count_row(
            "lead_count",
            cnt["lead"],
            "" if cnt["lead"] else "no leads created in this group and period",
        )
    ]
    for s in STAGES[1:]:
        note = f"{implied[s]} implied by a later stage" if implied.get(s) else ""
        rows.append(_count_row(f"{s}_count", cnt[s], note))
    pairs = (
        ("visit_rate", "visit", "lead", "no leads"),
        ("test_drive_rate", "test_drive", "visit", "no visits"),
        ("quote_rate", "quote", "visit", "no visits"),
        ("order_rate", "order", "quote", "no quotes"),
        ("visit_to_order_rate", "order", "visit", "no visits"),
        ("lead_to_order_rate", "order", "lead", "no leads"),
        ("delivery_rate", "delivery", "order", "no orders"),
    )
    for name, a, b, why in pairs:
        rows.append(_rate_row(name, cnt[a], cnt[b], f"{why} in this group and period", act))
    return rows


def _lead_driver_rows(
    A: dict[str, np.ndarray], created_in: np.ndarray, desk: dict[str, Any]
) -> list[dict]:
    """What drives the lead count: walk-in and referral leads, front-desk arrivals, registration."""
    ch = A["channel"]
    rows = [
        _count_row(kpi, int((created_in & (ch == channel)).sum()), numerator=np.nan)
        for kpi, channel in (("walk_in_lead_count", "walk_in"), ("referral_lead_count", "referral"))
    ]
    rows.append(_count_row("front_desk_sales_arrivals", desk["arrivals"], desk["arrivals_note"]))
    rows.append(
        _rate_row(
            "walk_in_registration_rate",
            desk["num"],
            desk["den"],
            "no front-desk sales arrivals logged in the period",
            desk["note"],
        )
    )
    return rows


def _invitation_rows(
    A: dict[str, np.ndarray],
    base: np.ndarray,
    visited: np.ndarray,
    inv_events: dict[str, np.ndarray],
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    *,
    cohort: bool,
    unit_label: str,
) -> list[dict]:
    """Visit rates after first and repeat invitations, and the invitation acceptance rate."""
    n_inv = A["n_inv_pre"]
    lvl = (
        "per lead"
        if unit_label == "lead"
        else "per customer (most invitations of any of its leads)"
    )
    ie_in = _in(inv_events["created_at"] if cohort else inv_events["at"], lo, hi)
    outcome = inv_events["outcome"][ie_in]
    return [
        _rate_row(
            "first_invitation_visit_rate",
            (base & (n_inv == 1) & visited).sum(),
            (base & (n_inv >= 1)).sum(),
            "no invited units in this group and period",
            f"visited after exactly one invitation / invited before visiting, {lvl}",
        ),
        _rate_row(
            "repeat_invitation_visit_rate",
            (base & (n_inv >= 2) & visited).sum(),
            (base & (n_inv >= 2)).sum(),
            "no unit needed a repeat invitation in this group and period",
            f"visited / invited two or more times before visiting, {lvl}",
        ),
        _rate_row(
            "invitation_acceptance_rate",
            (outcome == "accepted").sum(),
            pd.notna(outcome).sum(),
            "no invitation with a recorded outcome",
            "invitation events with outcome 'accepted' / with any outcome (event level)",
        ),
    ]


def _showroom_rows(
    A: dict[str, np.ndarray],
    anchored: Any,
    reach: dict[str, np.ndarray],
    orders_in: np.ndarray,
) -> list[dict]:
    """Dwell, quote and order KPIs (recorded events only: implied stages carry no time)."""
    vrec = reach["visit"] & ~A["visit_implied"]
    vsel = anchored("visit_at") & vrec
    qsel = anchored("quote_at") & reach["quote"] & ~A["quote_implied"]
    same_day = (
        A["order_at"].astype("datetime64[D]") == A["quote_at"].astype("datetime64[D]")
    ) & reach["order"]
    not_same = qsel & ~same_day
    osel = anchored("order_at") & reach["order"] & vrec & ~A["order_implied"]
    dsel = anchored("delivery_at") & reach["delivery"] & reach["order"] & ~A["order_implied"]
    return [
        _mean_row(
            "showroom_dwell_minutes",
            A["first_dwell"][vsel],
            "no recorded visit with a dwell time",
            "first visit of each unit",
        ),
        _rate_row(
            "same_day_quote_order_rate",
            (qsel & same_day).sum(),
            qsel.sum(),
            "no recorded quote in this group and period",
            "ordered on the day of the first quote / quoted",
        ),
        _rate_row(
            "quote_revisit_rate",
            (not_same & A["revisit_after_quote"]).sum(),
            not_same.sum(),
            "no quote left open after its day in this group and period",
            "came back on a later day / quoted and not ordered that day",
        ),
        _mean_row(
            "order_cycle_days",
            _days_between(A["visit_at"][osel], A["order_at"][osel]),
            "no order in this group and period",
            "days from first visit to order",
        ),
        _mean_row(
            "order_to_delivery_days",
            _days_between(A["order_at"][dsel], A["delivery_at"][dsel]),
            "no delivery in this group and period",
            "days from order to delivery",
        ),
        _rate_row(
            "order_cancellation_rate",
            (orders_in & A["cancelled"]).sum(),
            orders_in.sum(),
            "no orders in this group and period",
            "cancelled (not delivered 30 days after the order) / orders",
        ),
    ]


def _group_kpis(
    A: dict[str, np.ndarray],
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    *,
    basis: str,
    unit_label: str,
    inv_events: dict[str, np.ndarray],
    desk: dict[str, Any],
) -> list[dict]:
    """Every KPI of one group of units (leads or customers) over one period."""
    cohort = basis == "cohort"
    created_in = _in(A["created_at"], lo, hi)
    reach = {s: ~np.isnat(A[f"{s}_at"]) for s in STAGES[1:]}

    def anchored(col: str) -> np.ndarray:
        """Cohort: created in the period; activity: the anchoring event dated in it."""
        return created_in if cohort else _in(A[col], lo, hi)

    inp = {"lead": created_in}
    for s in STAGES[1:]:
        inp[s] = (created_in & reach[s]) if cohort else _in(A[f"{s}_at"], lo, hi)
    cnt = {s: int(inp[s].sum()) for s in STAGES}
    implied = {s: int((inp[s] & A[f"{s}_implied"]).sum()) for s in ("visit", "quote", "order")}
    act = (
        ""
        if cohort
        else "activity ratio: numerator and denominator are first events dated in the period (may mix cohorts)"
    )
    rows = _stage_rows(cnt, implied, act)
    rows += _lead_driver_rows(A, created_in, desk)
    rows += _invitation_rows(
        A,
        anchored("first_inv_at"),
        reach["visit"],
        inv_events,
        lo,
        hi,
        cohort=cohort,
        unit_label=unit_label,
    )
    rows += _showroom_rows(A, anchored, reach, inp["order"])
    n_open = int((created_in & (A["status"] == "open")).sum())
    rows.append(
        _count_row(
            "open_leads",
            n_open,
            "cohort still maturing: rates will change" if (cohort and n_open) else "",
        )
    )
    if cohort and n_open:
        extra = f"{n_open} of {cnt['lead']} units still open at as_of"
        for r in rows:
            if r["kpi"] in _RATE_KPIS_OPEN:
                r["note"] = f"{r['note']}; {extra}" if r["note"] else extra
    return rows


def _attr(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


_LINKED_NOTE = (
    "linked (visitor log matched to the DMS): 1 - unregistered / front-desk sales arrivals"
)
_ESTIMATE_NOTE = (
    "SIMPLE ESTIMATE (no record linkage): DMS-registered sales visits / front-desk sales "
    "arrivals, totals over days with a visitor log; pass reconciliation= for the linked rate"
)


def _front_desk_prep(dealer: DealerData, reconciliation: Any) -> dict[str, Any]:
    """Per sales arrival (and per DMS visit) what the walk-in registration rate needs."""
    log = dealer.visitor_log
    sales = log[log["reason"] == "sales"]
    prep: dict[str, Any] = {"sales_at": sales["at"].to_numpy("datetime64[ns]")}
    n = len(sales)
    if reconciliation is None:
        logged = np.unique(log["at"].to_numpy("datetime64[ns]").astype("datetime64[D]"))
        tp = dealer.touchpoints
        v_at = tp.loc[tp["kind"] == "visit", "at"].to_numpy("datetime64[ns]")
        on_logged = np.isin(v_at.astype("datetime64[D]"), logged)
        prep.update(mode="estimate", note=_ESTIMATE_NOTE, visit_at=v_at[on_logged])
        return prep
    entries = _attr(reconciliation, "entries")
    unreg = _attr(reconciliation, "unregistered")
    pairs = (
        reconciliation
        if isinstance(reconciliation, pd.DataFrame)
        else _attr(reconciliation, "pairs")
    )
    if isinstance(entries, pd.DataFrame) and {"entry_id", "status"} <= set(entries.columns):
        status = entries.drop_duplicates("entry_id").set_index("entry_id")["status"]
        st = status.reindex(sales["entry_id"]).to_numpy(dtype=object)
        counted = ~pd.Series(st).isin(["duplicate", "not_sales"]).to_numpy()
        registered = pd.notna(st) & (st != "unregistered") & counted
        note = _LINKED_NOTE
    elif isinstance(unreg, pd.DataFrame) and "entry_id" in unreg.columns:
        counted = np.ones(n, bool)
        registered = ~isin(sales["entry_id"], unreg["entry_id"])
        note = _LINKED_NOTE
    elif isinstance(pairs, pd.DataFrame) and "entry_id" in pairs.columns:
        key = "touch_id" if "touch_id" in pairs.columns else "customer_id"
        if key not in pairs.columns:
            raise InputError("reconciliation pairs need a 'touch_id' or 'customer_id' column")
        counted = np.ones(n, bool)
        registered = isin(sales["entry_id"], pairs.loc[pairs[key].notna(), "entry_id"])
        note = f"linked: front-desk sales arrivals matched to a DMS record ({key}) / front-desk sales arrivals"
    else:
        raise InputError(
            "reconciliation must be the result of quality.reconcile_visits (with 'entries' "
            "holding entry_id and status, or 'unregistered' holding entry_id) or a DataFrame of "
            "pairs with 'entry_id' and 'touch_id' (or 'customer_id')"
        )
    prep.update(mode="linked", note=note, counted=counted, registered=registered)
    return prep


def _front_desk(prep: dict[str, Any], lo: pd.Timestamp, hi: pd.Timestamp) -> dict[str, Any]:
    """Walk-in registration over one period: linked (with a reconciliation) or an estimate."""
    in_p = _in(prep["sales_at"], lo, hi)
    out: dict[str, Any] = {
        "arrivals": float(in_p.sum()),
        "arrivals_note": "front-desk visitor log, reason 'sales', dated in the period (event basis)",
        "note": prep["note"],
    }
    if prep["mode"] == "linked":
        out["num"] = float((in_p & prep["registered"]).sum())
        out["den"] = float((in_p & prep["counted"]).sum())
    else:
        out["num"] = float(_in(prep["visit_at"], lo, hi).sum())
        out["den"] = float(in_p.sum())
    return out


def _group_values(
    J: pd.DataFrame, by: Sequence[str], lo, hi, dealer: DealerData
) -> dict[str, list]:
    """Full list of values for each grouping key (so empty groups appear as zero rows)."""
    vals: dict[str, list] = {}
    for b in by:
        if b == "month":
            vals[b] = list(pd.period_range(lo, min(hi, _FAR_FUTURE), freq="M"))
        elif b == "channel":
            vals[b] = list(CHANNELS)
        elif b == "model":
            vals[b] = list(MODELS)
        elif b == "consultant":
            st = dealer.staff
            ids = set(st.loc[st["role"] == "sales_consultant", "staff_id"]) | set(
                J["consultant_id"].dropna()
            )
            vals[b] = sorted(ids)
    return vals


def kpi_tree(
    dealer: DealerData,
    *,
    period: Any = None,
    by: str | Sequence[str] | None = None,
    unit: str = "lead",
    basis: str = "cohort",
    imply: bool = True,
    reconciliation: Any = None,
) -> pd.DataFrame:
    """The deck's showroom KPI tree as a tidy table.

    Parameters
    ----------
    dealer
        The dealer.
    period
        See :func:`period_bounds` (default: all history up to ``as_of``).
    by
        ``None`` or any of ``"month"``, ``"channel"``, ``"model"``, ``"consultant"`` (or a
        list of them). Every value appears, also groups without leads (clean zeros and NaN
        rates with the reason in ``note``). Month is the lead's creation month (cohort) or the
        event's month (activity).
    unit
        ``"lead"`` (default) or ``"customer"``: what one counted unit is.
    basis
        ``"cohort"`` (default) or ``"activity"``; see the module docstring.
    imply
        Count stages implied by a later recorded stage.
    reconciliation
        Optional result of ``quality.reconcile_visits(dealer)`` (an object or mapping with
        ``entries`` holding ``entry_id`` and ``status``, or ``unregistered`` holding
        ``entry_id``), or a DataFrame of matched pairs (``entry_id``, ``touch_id``). With it the
        walk-in registration rate is ``1 - unregistered / front-desk sales arrivals``; without
        it, a clearly labelled simple estimate (DMS sales visits / front-desk sales arrivals on
        the days the log covers). The ``note`` says which.

    Returns
    -------
    pandas.DataFrame
        One row per (group, KPI): the grouping columns, then :data:`TREE_COLUMNS`
        (``kpi``, ``parent`` — the KPI it explains in the deck's tree, ``value``,
        ``numerator``, ``denominator``, ``std`` (means), Wilson ``ci_low``/``ci_high``
        (rates), ``unit``, ``note``).
    """
    if unit not in ("lead", "customer"):
        raise InputError(f"unit must be 'lead' or 'customer', got {unit!r}")
    if basis not in ("cohort", "activity"):
        raise InputError(f"basis must be 'cohort' or 'activity', got {basis!r}")
    by_list = [by] if isinstance(by, str) else list(by or [])
    bad = [b for b in by_list if b not in BY_OPTIONS]
    if bad:
        raise InputError(f"by={bad} not supported; choose from {list(BY_OPTIONS)}")
    J = lead_journeys(dealer, imply=imply)
    start = J["created_at"].min() if len(J) else dealer.as_of
    lo, hi = period_bounds(period, as_of=dealer.as_of, start=start)
    tp = dealer.touchpoints
    inv = tp[(tp["kind"] == "invitation") & tp["lead_id"].notna()][["lead_id", "at", "outcome"]]
    inv = inv.merge(
        J[["lead_id", "created_at", "channel", "model", "consultant_id"]], on="lead_id", how="inner"
    )
    desk_prep = _front_desk_prep(dealer, reconciliation)
    if not by_list:
        A = _arrays(J) if unit == "lead" else _arrays(_by_customer(J))
        rows = _group_kpis(
            A,
            lo,
            hi,
            basis=basis,
            unit_label=unit,
            inv_events=_inv_arrays(inv),
            desk=_front_desk(desk_prep, lo, hi),
        )
    else:
        rows = _grouped_rows(
            dealer, J, inv, by_list, lo, hi, unit=unit, basis=basis, desk_prep=desk_prep
        )
    return _finish_tree(pd.DataFrame(rows), by_list, dealer, lo, hi, basis=basis, unit=unit)


#: the walk-in registration of a group that the visitor log cannot be split into
_NO_DESK = {
    "arrivals": np.nan,
    "arrivals_note": "the visitor log has no channel, model or consultant of a lead",
    "num": 0.0,
    "den": 0.0,
    "note": "",
}
_COL_OF = {"channel": "channel", "model": "model", "consultant": "consultant_id"}


def _grouped_rows(
    dealer: DealerData,
    J: pd.DataFrame,
    inv: pd.DataFrame,
    by_list: list[str],
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    *,
    unit: str,
    basis: str,
    desk_prep: dict[str, Any],
) -> list[dict]:
    """KPI rows of every group (all values of each ``by`` key, empty groups included)."""
    A_all, I_all = _arrays(J), _inv_arrays(inv)
    vals = _group_values(J, by_list, lo, hi, dealer)
    keys = pd.MultiIndex.from_product([vals[b] for b in by_list], names=by_list)
    subsets: dict[tuple, tuple] = {}
    # with lead units and cohort basis only leads created in the group's period matter
    prefilter = basis == "cohort" and unit == "lead" and "month" in by_list
    desk_ok = all(b == "month" for b in by_list)
    rows: list[dict] = []
    for key in keys:
        key = key if isinstance(key, tuple) else (key,)
        glo, ghi = lo, hi
        for b, v in zip(by_list, key, strict=True):
            if b == "month":
                glo, ghi = max(lo, v.start_time), min(hi, v.end_time)
        attr_key = tuple((b, v) for b, v in zip(by_list, key, strict=True) if b != "month")
        if attr_key not in subsets:
            subsets[attr_key] = _group_subset(J, inv, A_all, I_all, attr_key, unit)
        Jg, Ag, Ig = subsets[attr_key]
        if prefilter:
            Ag = _take(Ag, _in(Ag["created_at"], glo, ghi))
            Ig = _take(Ig, _in(Ig["created_at"], glo, ghi))
        if unit == "customer":
            Ag = _arrays(_by_customer(Jg))
        grows = _group_kpis(
            Ag,
            glo,
            ghi,
            basis=basis,
            unit_label=unit,
            inv_events=Ig,
            desk=_front_desk(desk_prep, glo, ghi) if desk_ok else _NO_DESK,
        )
        if not desk_ok:
            for r in grows:
                if r["kpi"] == "walk_in_registration_rate":
                    r["note"] = (
                        "not defined per channel, model or consultant (the visitor log does not carry them)"
                    )
        _label_group(grows, by_list, key, _staff_change(dealer, by_list, key, glo, ghi))
        rows.extend(grows)
    return rows


def _group_subset(
    J: pd.DataFrame,
    inv: pd.DataFrame,
    A_all: dict[str, np.ndarray],
    I_all: dict[str, np.ndarray],
    attr_key: tuple,
    unit: str,
) -> tuple:
    """Journeys (customer units only), journey arrays and invitation arrays of one group."""
    sel = np.ones(len(J), bool)
    isel = np.ones(len(inv), bool)
    for b, v in attr_key:
        sel &= (J[_COL_OF[b]] == v).to_numpy()
        isel &= (inv[_COL_OF[b]] == v).to_numpy()
    Jsub = J[sel] if unit == "customer" else None
    return Jsub, _take(A_all, sel), _take(I_all, isel)


def _staff_change(
    dealer: DealerData, by_list: list[str], key: tuple, glo: pd.Timestamp, ghi: pd.Timestamp
) -> str:
    """Why a consultant's group covers only part of the period (left or hired in it)."""
    if "consultant" not in by_list:
        return ""
    staff = dealer.staff.set_index("staff_id")
    cid = key[by_list.index("consultant")]
    left = staff["left_at"].get(cid, pd.NaT)
    hired = staff["hired_at"].get(cid, pd.NaT)
    if pd.notna(left) and left < ghi:
        return f"consultant left on {pd.Timestamp(left).date()}"
    if pd.notna(hired) and hired > glo:
        return f"consultant hired on {pd.Timestamp(hired).date()}"
    return ""


def _label_group(rows: list[dict], by_list: list[str], key: tuple, why: str) -> None:
    """Write the group's key into its rows (months as text) and ``why`` into the lead count."""
    for r in rows:
        for b, v in zip(by_list, key, strict=True):
            r[b] = str(v) if b == "month" else v
        if why and r["kpi"] == "lead_count":
            r["note"] = f"{r['note']}; {why}" if r["note"] else why


def _finish_tree(
    out: pd.DataFrame,
    by_list: list[str],
    dealer: DealerData,
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    *,
    basis: str,
    unit: str,
) -> pd.DataFrame:
    """Units, parents, intervals (Wilson for rates, t for means) and the period columns."""
    out["std"] = out["std"] if "std" in out else np.nan
    out["unit"] = [
        KPI_INFO[k].unit if KPI_INFO[k].unit != "units" else f"{unit}s" for k in out["kpi"]
    ]
    out["parent"] = [KPI_INFO[k].parent for k in out["kpi"]]
    is_rate = np.array([KPI_INFO[k].kind == "rate" for k in out["kpi"]])
    lo_ci, hi_ci = wilson_interval(out["numerator"].fillna(0), out["denominator"].fillna(0))
    out["ci_low"] = np.where(is_rate, lo_ci, np.nan)
    out["ci_high"] = np.where(is_rate, hi_ci, np.nan)
    is_mean = np.array([KPI_INFO[k].kind == "mean" for k in out["kpi"]])
    n = out["denominator"].to_numpy(dtype=float)
    sd = out["std"].to_numpy(dtype=float)
    ok = is_mean & (n >= 2) & np.isfinite(sd)
    nn = np.where(ok, n, 2.0)
    tq = stats.t.ppf(0.975, nn - 1)
    half = np.where(ok, tq * np.where(ok, sd, 0.0) / np.sqrt(nn), np.nan)
    # the mean KPIs are durations: a t interval reaching below zero is cut at zero
    out["ci_low"] = np.where(ok, np.maximum(out["value"] - half, 0.0), out["ci_low"])
    out["ci_high"] = np.where(ok, out["value"] + half, out["ci_high"])
    out["dealer_id"] = dealer.dealer_id
    out["period_start"] = lo
    out["period_end"] = hi
    out["basis"] = basis
    out["unit_of_count"] = unit
    out["value"] = out["value"].astype(float)
    out["note"] = out["note"].fillna("").astype(str)
    return out[[*by_list, *TREE_COLUMNS]].reset_index(drop=True)


# -- peers and targets ---------------------------------------------------------------------------
def peer_table(dealers: Iterable[DealerData], **kwargs: Any) -> pd.DataFrame:
    """:func:`kpi_tree` of several dealers, concatenated (``dealer_id`` tells them apart).

    Keyword arguments are passed to :func:`kpi_tree` (use the same period and basis for all).
    """
    frames = [kpi_tree(d, **kwargs) for d in dealers]
    if not frames:
        raise InputError("peer_table needs at least one dealer")
    return pd.concat(frames, ignore_index=True)


def load_targets(targets: Mapping[str, Any] | str | None = None) -> dict[str, dict[str, Any]]:
    """Network KPI targets: ``{kpi: {"target": float, "higher_is_better": bool}}``.

    ``targets`` may be a mapping (plain numbers or dicts, optionally under ``kpis``), a
    parameter file name or path, or ``None`` for ``params/targets.yaml``; files are read by
    :func:`crm_analytics.core.config.load_params` only.
    """
    raw = (
        dict(targets)
        if isinstance(targets, Mapping)
        else load_params("targets" if targets is None else targets)
    )
    raw = raw.get("kpis", raw)
    out: dict[str, dict[str, Any]] = {}
    for k, v in raw.items():
        if k not in KPI_INFO:
            raise InputError(f"target for unknown KPI {k!r}; KPIs are {sorted(KPI_INFO)}")
        if isinstance(v, Mapping):
            if "target" not in v:
                raise InputError(f"target for {k!r} needs a 'target' field")
            out[k] = {
                "target": float(v["target"]),
                "higher_is_better": bool(v.get("higher_is_better", KPI_INFO[k].higher_is_better)),
            }
        else:
            out[k] = {"target": float(v), "higher_is_better": KPI_INFO[k].higher_is_better}
    return out


#: the deck's problem -> diagnosis map (slide 41): weak stage -> candidate causes.
#: cause: (kpi that measures it or None, grouping, description)
CAUSES: dict[str, list[tuple[str, str | None, str | None]]] = {
    "lead_count": [
        ("outside events (auto shows)", "auto_show_leads", None),
        ("online media", "online_leads", None),
        ("walk-in registration rate", "walk_in_registration_rate", None),
        ("walk-in traffic", "front_desk_sales_arrivals", None),
        ("referrals from existing customers", "referral_lead_count", None),
        ("in-store events", None, None),
    ],
    "visit_rate": [
        ("visit rate of each channel", "visit_rate", "channel"),
        ("first-invitation visit rate", "first_invitation_visit_rate", None),
        ("repeat-invitation visit rate", "repeat_invitation_visit_rate", None),
        (
            "invitation scripts (proxy: invitation acceptance rate)",
            "invitation_acceptance_rate",
            None,
        ),
        ("proactive visits", None, None),
    ],
    "quote_rate": [
        ("showroom dwell time", "showroom_dwell_minutes", None),
        ("test-drive rate", "test_drive_rate", None),
        ("needs analysis", None, None),
        ("product scripts", None, None),
        ("re-invitation (repeat-invitation visit rate)", "repeat_invitation_visit_rate", None),
    ],
    "order_rate": [
        ("average order cycle", "order_cycle_days", None),
        ("same-day quote-to-order rate", "same_day_quote_order_rate", None),
        ("quote re-visit rate", "quote_revisit_rate", None),
        ("team selling in the showroom", None, None),
    ],
    "delivery_rate": [
        ("order control (cancellations)", "order_cancellation_rate", None),
        ("stock / delivery process (order-to-delivery days)", "order_to_delivery_days", None),
    ],
}
STAGE_KPIS: tuple[str, ...] = (
    "lead_count",
    "visit_rate",
    "test_drive_rate",
    "quote_rate",
    "order_rate",
    "delivery_rate",
)


def _peer_percentile(
    peers: pd.DataFrame | None, kpi: str, value: float, *, channel: str | None = None
) -> tuple[float, float, int]:
    """Peer percentile of ``value`` (share of peers doing no better, 0-100; 100 = best) and median."""
    if peers is None or not np.isfinite(value):
        return np.nan, np.nan, 0
    p = peers[peers["kpi"] == kpi]
    if channel is not None and "channel" in p.columns:
        p = p[p["channel"] == channel]
    elif "channel" in p.columns:
        p = p[p["channel"].isna()] if p["channel"].isna().any() else p.iloc[:0]
    v = p["value"].to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return np.nan, np.nan, 0
    hib = KPI_INFO[kpi].higher_is_better if kpi in KPI_INFO else True
    pct = 100.0 * (np.mean(v <= value) if hib else np.mean(v >= value))
    return float(pct), float(np.median(v)), len(v)


def diagnose(
    dealer: DealerData,
    *,
    targets: Mapping[str, Any] | str | None = None,
    peers: pd.DataFrame | None = None,
    period: Any = None,
    basis: str = "cohort",
    unit: str = "lead",
    peer_flag_percentile: float = 25.0,
    reconciliation: Any = None,
) -> pd.DataFrame:
    """Flag the weakest funnel stages and weigh the deck's candidate causes of each.

    A stage KPI (lead count, visit, test-drive, quote, order and delivery rates) is flagged
    when it misses its target (``params/targets.yaml`` or ``targets``) with its 95 % interval
    entirely on the wrong side, or when it ranks at or below ``peer_flag_percentile`` among
    the peers. A miss within sampling error is reported in ``flag_reason`` but not flagged. Stages are ranked by ``orders_at_stake``: the
    orders a year the dealer would gain if the stage met its target (or the peer median),
    carried through the downstream rates.

    For each flagged stage the deck's candidate causes (slide 41) are listed with the KPI that
    measures each, its value, interval, target and peer percentile, and a verdict:
    ``supports`` (the cause KPI misses its target beyond sampling error, or ranks low among
    peers), ``inconclusive`` (misses its target within sampling error), ``rules out`` (meets
    its target and is not low among peers), ``no reference`` (no target and no peers),
    ``no data`` (not measurable from CRM records, such as scripts, or no observation).

    Parameters
    ----------
    dealer
        The dealer.
    targets
        Targets (see :func:`load_targets`).
    peers
        Output of :func:`peer_table` (by ``None``) and optionally of ``peer_table(...,
        by="channel")`` concatenated; the dealer itself may be included.
    period, basis, unit, reconciliation
        Passed to :func:`kpi_tree`.
    peer_flag_percentile
        A KPI at or below this percentile of the peers is flagged.

    Returns
    -------
    pandas.DataFrame
        One row per (stage, cause): ``dealer_id, stage, stage_value, stage_target,
        stage_ci_low, stage_ci_high, stage_peer_percentile, stage_peer_median, flagged,
        flag_reason, orders_at_stake, rank, cause, cause_kpi, channel, cause_value,
        cause_target, cause_peer_percentile, cause_peer_median, verdict, evidence``.
    """
    tg = load_targets(targets)
    tree = kpi_tree(dealer, period=period, basis=basis, unit=unit, reconciliation=reconciliation)
    by_ch = kpi_tree(dealer, period=period, basis=basis, unit=unit, by="channel")
    judge = _Judge.build(tg, tree, by_ch, peers, peer_flag_percentile)
    val = judge.val
    lo, hi = tree["period_start"].iloc[0], tree["period_end"].iloc[0]
    years = max((hi - lo).total_seconds() / (365.25 * 86400), 1 / 12)
    rate = {
        k: float(val.loc[k, "value"])
        for k in ("visit_rate", "quote_rate", "order_rate", "delivery_rate", "test_drive_rate")
    }
    volume = {
        "lead": float(val.loc["lead_count", "value"]),
        "order": float(val.loc["order_count", "value"]),
    }
    rows = []
    for stage in STAGE_KPIS:
        j = judge(stage)
        base = {
            "dealer_id": dealer.dealer_id,
            "stage": stage,
            "stage_value": j["value"],
            "stage_target": j["target"],
            "stage_ci_low": j["ci_low"],
            "stage_ci_high": j["ci_high"],
            "stage_peer_percentile": j["pct"],
            "stage_peer_median": j["median"],
            "flagged": bool(j["sig"] or j["low"]),
            "flag_reason": _flag_reason(j),
            "orders_at_stake": _orders_at_stake(stage, j, rate, volume, years),
        }
        rows += [{**base, **c} for c in _cause_rows(stage, judge)]
    return _rank_stages(pd.DataFrame(rows))


class _Judge:
    """Value, target, peer position and verdict of a KPI of one dealer (see :func:`diagnose`)."""

    def __init__(
        self,
        targets: dict[str, dict[str, Any]],
        val: pd.DataFrame,
        by_ch: pd.DataFrame,
        extra: dict[str, float],
        peers: pd.DataFrame | None,
        peer_flag_percentile: float,
    ) -> None:
        self.targets, self.val, self.by_ch, self.extra = targets, val, by_ch, extra
        self.peers, self.peer_flag_percentile = peers, peer_flag_percentile

    @classmethod
    def build(
        cls,
        targets: dict[str, dict[str, Any]],
        tree: pd.DataFrame,
        by_ch: pd.DataFrame,
        peers: pd.DataFrame | None,
        peer_flag_percentile: float,
    ) -> _Judge:
        """From the dealer's KPI tree (total and by channel) and the peers' tables."""
        lead_rows = by_ch[by_ch["kpi"] == "lead_count"]
        channel_leads = (("auto_show_leads", "auto_show"), ("online_leads", "online_inquiry"))
        extra = {
            name: float(lead_rows.loc[lead_rows["channel"] == ch, "value"].sum())
            for name, ch in channel_leads
        }
        peer_extra: list[pd.DataFrame] = []
        if peers is not None and "channel" in peers.columns:
            for name, ch in channel_leads:
                p = peers[(peers["kpi"] == "lead_count") & (peers["channel"] == ch)]
                peer_extra.append(p.assign(kpi=name, channel=np.nan))
        peers_all = (
            pd.concat([peers, *peer_extra], ignore_index=True) if peers is not None else None
        )
        return cls(targets, tree.set_index("kpi"), by_ch, extra, peers_all, peer_flag_percentile)

    def row_of(self, kpi: str, channel: str | None = None) -> pd.Series | None:
        """The KPI's row of the dealer's tree (or of the tree by channel)."""
        if kpi in self.extra:
            return pd.Series({"value": self.extra[kpi], "ci_low": np.nan, "ci_high": np.nan})
        if channel is not None:
            by_ch = self.by_ch
            r = by_ch[(by_ch["kpi"] == kpi) & (by_ch["channel"] == channel)]
            return r.iloc[0] if len(r) else None
        return self.val.loc[kpi] if kpi in self.val.index else None

    def __call__(self, kpi: str, channel: str | None = None) -> dict[str, Any]:
        """Value, target, peer position and the verdict of one KPI."""
        r = self.row_of(kpi, channel)
        v = float(r["value"]) if r is not None else np.nan
        spec = self.targets.get(kpi, {})
        t = float(spec.get("target", np.nan))
        hib = bool(
            spec.get(
                "higher_is_better", KPI_INFO[kpi].higher_is_better if kpi in KPI_INFO else True
            )
        )
        pct, med, npeer = _peer_percentile(self.peers, kpi, v, channel=channel)
        miss = bool(np.isfinite(t) and np.isfinite(v) and ((v < t) if hib else (v > t)))
        lo_ci = float(r["ci_low"]) if r is not None else np.nan
        hi_ci = float(r["ci_high"]) if r is not None else np.nan
        has_ci = np.isfinite(lo_ci) and np.isfinite(hi_ci)
        # a miss is significant when the 95 % interval lies entirely on the wrong side
        sig = miss and (not has_ci or ((hi_ci < t) if hib else (lo_ci > t)))
        low = bool(np.isfinite(pct) and pct <= self.peer_flag_percentile)
        if not np.isfinite(v):
            verdict = "no data"
        elif not np.isfinite(t) and not np.isfinite(pct):
            verdict = "no reference"
        elif sig or low:
            verdict = "supports"
        elif miss:
            verdict = "inconclusive"
        else:
            verdict = "rules out"
        parts = [f"value {v:.3g}"] if np.isfinite(v) else ["no observations in the period"]
        if has_ci:
            parts.append(f"95% CI {lo_ci:.3g}-{hi_ci:.3g}")
        if np.isfinite(t):
            parts.append(
                f"target {t:.3g}"
                + (" (missed)" if sig else " (missed within sampling error)" if miss else " (met)")
            )
        if np.isfinite(pct):
            parts.append(f"{pct:.0f}th percentile of {npeer} peers (median {med:.3g})")
        return {
            "value": v,
            "target": t,
            "ci_low": lo_ci,
            "ci_high": hi_ci,
            "pct": pct,
            "median": med,
            "npeer": npeer,
            "miss": miss,
            "sig": sig,
            "low": low,
            "verdict": verdict,
            "evidence": ", ".join(parts),
        }


def _flag_reason(j: dict[str, Any]) -> str:
    """Why a stage is (or is not) flagged, from its judgement."""
    reasons = []
    if j["miss"]:
        reasons.append(
            f"below target {j['target']:.3g}"
            + ("" if j["sig"] else " but within sampling error (not flagged)")
        )
    if j["low"]:
        reasons.append(f"at the {j['pct']:.0f}th percentile of {j['npeer']} peers")
    if not reasons:
        reasons.append(
            "no target or peers" if j["verdict"] == "no reference" else "meets target and peers"
        )
    return "; ".join(reasons)


def _orders_at_stake(
    stage: str,
    j: dict[str, Any],
    rate: dict[str, float],
    volume: dict[str, float],
    years: float,
) -> float:
    """Orders a year gained if the stage reached its target (or the peer median)."""
    v, t = j["value"], j["target"]
    ref = t if np.isfinite(t) else j["median"]
    if not (np.isfinite(ref) and np.isfinite(v) and ref > v):
        return np.nan
    gap = ref - v
    with np.errstate(invalid="ignore"):
        gain = {
            "lead_count": gap * rate["visit_rate"] * rate["quote_rate"] * rate["order_rate"],
            "visit_rate": gap * volume["lead"] * rate["quote_rate"] * rate["order_rate"],
            "quote_rate": gap * volume["lead"] * rate["visit_rate"] * rate["order_rate"],
            "order_rate": gap * volume["lead"] * rate["visit_rate"] * rate["quote_rate"],
            "test_drive_rate": np.nan,  # a test drive is not a required step
            "delivery_rate": gap * volume["order"],
        }[stage]
    return gain / years if np.isfinite(gain) else np.nan


def _cause_rows(stage: str, judge: _Judge) -> list[dict[str, Any]]:
    """The deck's candidate causes of a stage, each judged by the KPI that measures it."""
    causes = CAUSES.get(
        stage, [("product scripts", None, None), ("test-drive fleet availability", None, None)]
    )
    rows = []
    for cause, ckpi, grouping in causes:
        channels = [c for c in CHANNELS if c != "walk_in"] if grouping == "channel" else [None]
        for ch in channels:
            if ckpi is None:
                c = {
                    "value": np.nan,
                    "target": np.nan,
                    "pct": np.nan,
                    "median": np.nan,
                    "verdict": "no data",
                    "evidence": "not measurable from CRM records; check on site",
                }
            else:
                c = judge(ckpi, ch)
            rows.append(
                {
                    "cause": cause,
                    "cause_kpi": ckpi,
                    "channel": ch,
                    "cause_value": c["value"],
                    "cause_target": c["target"],
                    "cause_peer_percentile": c["pct"],
                    "cause_peer_median": c["median"],
                    "verdict": c["verdict"],
                    "evidence": c["evidence"],
                }
            )
    return rows


def _rank_stages(out: pd.DataFrame) -> pd.DataFrame:
    """Rank flagged stages by orders at stake (unflagged stages last), rows sorted by rank."""
    st = out.drop_duplicates("stage")[["stage", "flagged", "orders_at_stake"]].copy()
    st["key"] = np.where(st["flagged"], st["orders_at_stake"].fillna(0.0), -1.0)
    st["rank"] = st["key"].rank(ascending=False, method="first").astype(int)
    out = out.merge(st[["stage", "rank"]], on="stage")
    return out.sort_values(["rank", "stage"], kind="stable").reset_index(drop=True)


# -- period comparison ---------------------------------------------------------------------------
def compare_periods(
    dealer: DealerData,
    *,
    before: Any,
    after: Any,
    by: str | Sequence[str] | None = None,
    unit: str = "lead",
    basis: str = "cohort",
    reconciliation: Any = None,
) -> pd.DataFrame:
    """KPI changes between two periods (before / after a coaching round) with 95 % intervals.

    Rates: Newcombe hybrid score interval of the difference; means: Welch t interval; counts:
    difference of monthly rates (normal approximation to Poisson counts). ``significant`` is
    True when the interval excludes zero, so a consultant can tell a real change from noise.

    Returns
    -------
    pandas.DataFrame
        Grouping columns, ``kpi, unit, value_before, value_after, change, ci_low, ci_high,
        p_value, significant, method, n_before, n_after, note``.
    """
    kw = {"by": by, "unit": unit, "basis": basis, "reconciliation": reconciliation}
    a = kpi_tree(dealer, period=before, **kw)
    b = kpi_tree(dealer, period=after, **kw)
    by_list = [by] if isinstance(by, str) else list(by or [])
    if "month" in by_list:
        raise InputError("compare_periods: by='month' makes no sense across two periods")
    keys = [*by_list, "kpi"]
    m = a.merge(b, on=keys, suffixes=("_b", "_a"))
    months_b = (a["period_end"].iloc[0] - a["period_start"].iloc[0]).total_seconds() / (
        30.4375 * 86400
    )
    months_a = (b["period_end"].iloc[0] - b["period_start"].iloc[0]).total_seconds() / (
        30.4375 * 86400
    )
    rows = []
    for r in m.itertuples(index=False):
        d = r._asdict()
        kind = KPI_INFO[d["kpi"]].kind
        res = {k: d[k] for k in keys}
        res["unit"] = d["unit_a"]
        vb, va = d["value_b"], d["value_a"]
        if kind == "rate":
            lo, hi = newcombe_interval(
                d["numerator_b"], d["denominator_b"], d["numerator_a"], d["denominator_a"]
            )
            lo, hi = float(lo), float(hi)
            change = va - vb
            p = np.nan
            n1, n2 = d["denominator_b"], d["denominator_a"]
            if n1 > 0 and n2 > 0:
                pooled = (d["numerator_b"] + d["numerator_a"]) / (n1 + n2)
                se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
                p = float(2 * stats.norm.sf(abs(change) / se)) if se > 0 else np.nan
            method = "Newcombe hybrid score (difference of proportions)"
            nb, na = n1, n2
        elif kind == "mean":
            change = va - vb
            lo, hi, p = welch_interval(
                vb, d["std_b"], d["denominator_b"], va, d["std_a"], d["denominator_a"]
            )
            method = "Welch t (difference of means)"
            nb, na = d["denominator_b"], d["denominator_a"]
        else:
            rb, ra = vb / months_b, va / months_a
            change = ra - rb
            se = np.sqrt(vb / months_b**2 + va / months_a**2) if np.isfinite(vb + va) else np.nan
            lo, hi = (
                (change - Z95 * se, change + Z95 * se)
                if se and np.isfinite(se)
                else (np.nan, np.nan)
            )
            p = float(2 * stats.norm.sf(abs(change) / se)) if se and np.isfinite(se) else np.nan
            method = "Poisson normal approximation (difference of monthly counts)"
            vb, va = rb, ra
            res["unit"] = f"{res['unit']} per month"
            nb, na = d["value_b"], d["value_a"]
        sig = bool(np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0))
        note = "; ".join(x for x in (d["note_b"], d["note_a"]) if x)
        rows.append(
            {
                **res,
                "value_before": vb,
                "value_after": va,
                "change": change,
                "ci_low": lo,
                "ci_high": hi,
                "p_value": p,
                "significant": sig,
                "method": method,
                "n_before": nb,
                "n_after": na,
                "note": note,
            }
        )
    return pd.DataFrame(rows)


__all__ = [
    "BY_OPTIONS",
    "CAUSES",
    "KPIS",
    "STAGES",
    "compare_periods",
    "diagnose",
    "kpi_tree",
    "lead_journeys",
    "load_targets",
    "newcombe_interval",
    "peer_table",
    "period_bounds",
    "welch_interval",
    "wilson_interval",
]
