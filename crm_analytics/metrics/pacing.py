"""Month-to-date pacing: this month's leads, orders and deliveries against the month's target.

For the calendar month of the data date, each measure's count so far is set against the
month's target pro-rated by the dealer's open days (days of the week the showroom opens;
public holidays are not known to the CRM and are not taken out). The month end is projected
at this month's own daily pace: the count so far plus the expected count of the remaining open
days, whose predictive distribution is negative binomial (a Poisson rate with the Jeffreys
prior, updated by the count so far), so the interval is wide early in the month and narrows
as it fills.

A measure's month target is the one given; without one, the same calendar month a year
earlier (counted the same way) times ``1 + growth``; when the data do not cover that month,
the mean of the last three complete months times ``1 + growth``.

Status: ``green`` on or ahead of the pro-rated target, ``amber`` behind it while the target
is still inside the projection's interval, ``red`` (an alert) when even the interval's upper
end falls short of the month target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from crm_analytics.core.errors import InputError

__all__ = ["MEASURES", "OPEN_WEEKDAYS", "month_events", "month_to_date_pacing", "open_days"]

#: The measures paced, in report order.
MEASURES: tuple[str, ...] = ("leads", "orders", "deliveries")
#: Days of the week a showroom opens (Monday = 0): Monday to Saturday.
OPEN_WEEKDAYS: tuple[int, ...] = (0, 1, 2, 3, 4, 5)


def open_days(
    start: pd.Timestamp | str, end: pd.Timestamp | str, weekdays: Sequence[int] = OPEN_WEEKDAYS
) -> int:
    """Open days from ``start`` to ``end``, both dates included."""
    days = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize(), freq="D")
    return int(np.isin(days.day_of_week, list(weekdays)).sum())


def month_events(leads: pd.DataFrame, orders: pd.DataFrame) -> dict[str, pd.Series]:
    """The event times of each measure: leads created, orders placed (not cancelled),
    deliveries."""
    for name, frame, cols in (
        ("leads", leads, ("created_at",)),
        ("orders", orders, ("ordered_at", "delivered_at", "status")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise InputError(f"table {name} is missing column(s) {missing} for the pacing")
    live = orders.loc[orders["status"] != "cancelled"]
    return {
        "leads": pd.to_datetime(leads["created_at"]),
        "orders": pd.to_datetime(live["ordered_at"]),
        "deliveries": pd.to_datetime(orders["delivered_at"]).dropna(),
    }


def _count(times: pd.Series, lo: pd.Timestamp, hi: pd.Timestamp) -> int:
    """Events on the dates ``lo`` to ``hi`` (both included)."""
    return int(((times >= lo) & (times < hi + pd.Timedelta(days=1))).sum())


def _default_target(
    times: pd.Series, month: pd.Period, first: pd.Timestamp, growth: float
) -> tuple[float, str]:
    """The same month a year earlier, else the mean of the last three complete months."""
    ly = month - 12
    if first <= ly.start_time:
        return _count(times, ly.start_time, ly.end_time.normalize()) * (1 + growth), "last_year"
    recent = [month - k for k in (1, 2, 3)]
    if first <= recent[-1].start_time:
        n = np.mean([_count(times, p.start_time, p.end_time.normalize()) for p in recent])
        return float(n) * (1 + growth), "recent"
    return float("nan"), "none"


def month_to_date_pacing(
    leads: pd.DataFrame,
    orders: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str,
    targets: Mapping[str, float] | None = None,
    growth: float = 0.0,
    weekdays: Sequence[int] = OPEN_WEEKDAYS,
    level: float = 0.8,
    data_start: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Each measure's month-to-date count against its pro-rated month target, with the
    projected month end and a status.

    Parameters
    ----------
    leads, orders
        The leads (``created_at``) and orders (``ordered_at, delivered_at, status``) tables.
    as_of
        The data date: the month paced is its calendar month, counted up to this date
        (included).
    targets
        Month targets by measure (``{"orders": 40}``); a measure not given gets the default
        target (see the module notes).
    growth
        Growth over the baseline of a default target (0.05: 5 %).
    weekdays
        The open days of the week (Monday = 0).
    level
        Coverage of the projection's interval.
    data_start
        The first date the data cover (default: the first lead or order).

    Returns
    -------
    pandas.DataFrame
        One row per measure (:data:`MEASURES`): ``measure, month, actual, target, basis``
        (``given``, ``last_year``, ``recent``, ``none``), ``open_days_elapsed, open_days,
        expected`` (the target pro-rated to date), ``gap`` (actual minus expected),
        ``projected, projected_low, projected_high, status`` (``green``, ``amber``, ``red``
        or ``""`` without a target).
    """
    as_of = pd.Timestamp(as_of)
    ev = month_events(leads, orders)
    month = as_of.to_period("M")
    m_start, m_end = month.start_time, month.end_time.normalize()
    worked = open_days(m_start, as_of, weekdays)
    total = open_days(m_start, m_end, weekdays)
    remaining = total - worked
    if data_start is None:
        firsts = [s.min() for s in ev.values() if len(s)]
        first = min(firsts) if firsts else as_of
    else:
        first = pd.Timestamp(data_start)
    rows = []
    for name in MEASURES:
        times = ev[name]
        k = _count(times, m_start, as_of.normalize())
        if targets and name in targets and targets[name] is not None:
            target, basis = float(targets[name]), "given"
        else:
            target, basis = _default_target(times[times <= as_of], month, first, growth)
        expected = target * worked / total if total else float("nan")
        if worked > 0:
            projected = k + k * remaining / worked
            # remaining ~ Poisson(rate x remaining), rate ~ Gamma(k + 1/2, worked): negative
            # binomial with n = k + 1/2, p = worked / (worked + remaining)
            nb = stats.nbinom(k + 0.5, worked / (worked + remaining))
            tail = (1 - level) / 2
            lo, hi = k + nb.ppf(tail), k + nb.ppf(1 - tail)
        else:
            projected = lo = hi = float("nan")
        if not np.isfinite(target):
            status = ""
        elif k >= expected:
            status = "green"
        elif np.isfinite(hi) and hi < target:
            status = "red"
        else:
            status = "amber"
        rows.append(
            {
                "measure": name,
                "month": str(month),
                "actual": k,
                "target": target,
                "basis": basis,
                "open_days_elapsed": worked,
                "open_days": total,
                "expected": expected,
                "gap": k - expected,
                "projected": projected,
                "projected_low": float(lo),
                "projected_high": float(hi),
                "status": status,
            }
        )
    out = pd.DataFrame(rows)
    out.attrs["weekdays"] = tuple(int(d) for d in weekdays)
    return out
