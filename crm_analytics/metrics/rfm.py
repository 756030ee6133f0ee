"""Visit histories -> per-customer frequency / recency / T / monetary summaries.

The summaries feed the buy-till-you-die models of :mod:`crm_analytics.models.btyd`:

* ``frequency`` -- number of *repeat* visits (distinct time periods with a visit, minus one),
* ``recency`` -- time from the first to the last visit,
* ``T`` -- time from the first visit to the end of the observation window,
* ``monetary`` -- mean spend of the repeat visits (NaN for customers without repeat visits),

all in a chosen time unit. Visits are first rounded down to whole periods of ``period``
(default one calendar day; ``"W"`` is the ISO week, Monday to Sunday), and several visits in
the same period count as one (their spend is summed), as in Fader, Hardie & Lee (2005) and
``lifetimes``' ``summary_data_from_transaction_data``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crm_analytics.core.errors import InputError, InsufficientDataError

__all__ = [
    "calibration_holdout_split",
    "expected_cumulative_transactions",
    "holdout_table",
    "summarize_visits",
]

#: Length of the supported time units in days.
TIME_UNITS: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 365.25 / 12.0, "Y": 365.25}
_NS_PER_DAY = 86_400 * 10**9
#: Shift of the period grid from the Unix epoch (a Thursday), in days: weeks start on Monday
#: 1969-12-29 (ISO 8601, and pandas' ``W`` = ``W-SUN`` periods that ``lifetimes`` uses).
_PERIOD_ORIGIN_DAYS: dict[str, int] = {"W": 3}


def _unit_days(unit: str, name: str) -> float:
    if unit not in TIME_UNITS:
        raise InputError(f"{name} must be one of {sorted(TIME_UNITS)}, got {unit!r}.")
    return TIME_UNITS[unit]


def _period_index(t_ns: np.ndarray | int, period: str) -> np.ndarray | int:
    """Whole periods of ``period`` since the grid origin (days and ISO weeks are calendar ones;
    ``"M"`` and ``"Y"`` are blocks of 365.25/12 and 365.25 days from the epoch)."""
    period_ns = int(round(_unit_days(period, "period") * _NS_PER_DAY))
    shift = _PERIOD_ORIGIN_DAYS.get(period, 0) * _NS_PER_DAY
    return np.floor_divide(np.asarray(t_ns, dtype=np.int64) + shift, period_ns)


def _visit_arrays(
    visits: pd.DataFrame,
    customer_col: str,
    time_col: str,
    spend_cols: tuple[str, ...] | None,
) -> tuple[np.ndarray, pd.Index, np.ndarray, np.ndarray]:
    """Validate the visit table; return customer codes, their labels, times (ns) and spend."""
    if not isinstance(visits, pd.DataFrame):
        raise InputError("service visits must be a pandas DataFrame.")
    needed = [customer_col, time_col, *(spend_cols or ())]
    missing = [c for c in needed if c not in visits.columns]
    if missing:
        raise InputError(
            f"service_visits is missing column(s) {missing}; available: {list(visits.columns)}."
        )
    if len(visits) == 0:
        raise InsufficientDataError("service_visits has no rows; nothing to summarise.")
    at = visits[time_col]
    if not pd.api.types.is_datetime64_any_dtype(at):
        raise InputError(f"service_visits column {time_col!r} must be datetime, got {at.dtype}.")
    if getattr(at.dt, "tz", None) is not None:
        raise InputError(f"service_visits column {time_col!r} must be timezone-naive.")
    bad = at.isna() | visits[customer_col].isna()
    if bad.any():
        rows = ", ".join(repr(i) for i in visits.index[bad.to_numpy()][:5])
        raise InputError(
            f"service_visits has {int(bad.sum())} row(s) with missing {customer_col!r} or "
            f"{time_col!r} (e.g. rows {rows}); drop or quarantine them first."
        )
    codes, labels = pd.factorize(visits[customer_col], sort=False)
    t_ns = at.to_numpy(dtype="datetime64[ns]").view(np.int64)
    if spend_cols:
        spend = np.zeros(len(visits))
        for c in spend_cols:
            col = pd.to_numeric(visits[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            if np.isnan(col).any():
                rows = ", ".join(repr(i) for i in visits.index[np.isnan(col)][:5])
                raise InputError(
                    f"service_visits column {c!r} has missing or non-numeric values "
                    f"(e.g. rows {rows})."
                )
            spend += col
    else:
        spend = np.zeros(len(visits))
    return codes, pd.Index(labels, name=customer_col), t_ns, spend


def _summarize(
    codes: np.ndarray,
    labels: pd.Index,
    period_idx: np.ndarray,
    spend: np.ndarray,
    end_period: np.ndarray | int,
    period_len: float,
) -> pd.DataFrame:
    """Core: visits as (customer code, integer period) -> summary in time units."""
    order = np.lexsort((period_idx, codes))
    c = codes[order]
    p = period_idx[order]
    m = spend[order]
    new = np.ones(len(c), dtype=bool)
    new[1:] = (c[1:] != c[:-1]) | (p[1:] != p[:-1])
    grp = np.cumsum(new) - 1
    period_spend = np.bincount(grp, weights=m)
    pc = c[new]  # customer code of each (customer, period)
    pp = p[new]
    n_cust = len(labels)
    n_periods = np.bincount(pc, minlength=n_cust)
    first_pos = np.searchsorted(pc, np.arange(n_cust), side="left")
    last_pos = np.searchsorted(pc, np.arange(n_cust), side="right") - 1
    present = n_periods > 0
    first = np.where(present, pp[np.minimum(first_pos, len(pp) - 1)], 0)
    last = np.where(present, pp[np.maximum(last_pos, 0)], 0)
    total_spend = np.bincount(pc, weights=period_spend, minlength=n_cust)
    first_spend = np.where(present, period_spend[np.minimum(first_pos, len(pp) - 1)], 0.0)
    frequency = np.maximum(n_periods - 1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, (total_spend - first_spend) / frequency, np.nan)
    end = np.broadcast_to(np.asarray(end_period), (n_cust,))
    out = pd.DataFrame(
        {
            "frequency": frequency.astype(np.int64),
            "recency": (last - first) * period_len,
            "T": (end - first) * period_len,
            "monetary": monetary,
        },
        index=labels,
    )
    return out.loc[present]


def summarize_visits(
    visits: pd.DataFrame,
    *,
    observation_end: Any,
    time_unit: str = "W",
    period: str = "D",
    customer_col: str = "customer_id",
    time_col: str = "at",
    spend_cols: tuple[str, ...] | None = ("labor_amount", "parts_amount", "addon_amount"),
) -> pd.DataFrame:
    """Per-customer frequency, recency, T and mean spend from service visits.

    Parameters
    ----------
    visits
        Service visits (canonical ``service_visits`` table, e.g. ``dealer.service_visits``).
    observation_end
        End of the observation window (e.g. ``dealer.as_of``); visits after it are an error.
    time_unit
        Unit of ``recency`` and ``T``: ``"D"``, ``"W"``, ``"M"`` (365.25/12 days) or ``"Y"``.
    period
        Resolution at which visits are counted: visits in the same period (``"D"`` = same
        calendar day, ``"W"`` = same ISO week, Monday 00:00 to Sunday 24:00) are one visit.
        ``recency`` and ``T`` count whole periods between the first visit's period, the last
        visit's and the period holding ``observation_end`` (as ``lifetimes`` does).
    customer_col, time_col
        Column names of the customer id and the visit time.
    spend_cols
        Columns summed into a visit's spend (``None`` for no monetary column).

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id, columns ``frequency`` (int), ``recency``, ``T``, ``monetary``.

    Raises
    ------
    InputError
        Missing columns, non-datetime times, missing ids or visits after ``observation_end``.
    """
    unit_days = _unit_days(time_unit, "time_unit")
    period_days = _unit_days(period, "period")
    codes, labels, t_ns, spend = _visit_arrays(visits, customer_col, time_col, spend_cols)
    end_ns = pd.Timestamp(observation_end).as_unit("ns").value
    late = t_ns > end_ns
    if late.any():
        rows = ", ".join(repr(i) for i in visits.index[late][:5])
        raise InputError(
            f"service_visits has {int(late.sum())} visit(s) after observation_end "
            f"{pd.Timestamp(observation_end)} (e.g. rows {rows})."
        )
    period_idx = _period_index(t_ns, period)
    end_period = int(_period_index(end_ns, period))
    out = _summarize(codes, labels, period_idx, spend, end_period, period_days / unit_days)
    if spend_cols is None:
        out = out.drop(columns="monetary")
    return out


def calibration_holdout_split(
    visits: pd.DataFrame,
    *,
    calibration_end: Any,
    observation_end: Any,
    time_unit: str = "W",
    period: str = "D",
    customer_col: str = "customer_id",
    time_col: str = "at",
    spend_cols: tuple[str, ...] | None = ("labor_amount", "parts_amount", "addon_amount"),
) -> pd.DataFrame:
    """Calibration summary up to ``calibration_end`` and holdout counts after it.

    Customers whose first visit is after ``calibration_end`` are not in the result (the
    models predict for customers already acquired).

    Parameters
    ----------
    visits
        Service visits.
    calibration_end
        Last instant of the calibration period.
    observation_end
        End of the holdout period.
    time_unit, period, customer_col, time_col, spend_cols
        As in :func:`summarize_visits`.

    Returns
    -------
    pandas.DataFrame
        Columns ``frequency_cal``, ``recency_cal``, ``T_cal``, ``monetary_cal`` (if
        ``spend_cols``), ``frequency_holdout`` (visit periods in the holdout window),
        ``monetary_holdout`` (mean holdout spend, NaN without holdout visits) and
        ``duration_holdout`` (length of the holdout window in ``time_unit``).
    """
    unit_days = _unit_days(time_unit, "time_unit")
    period_days = _unit_days(period, "period")
    cal_ns = pd.Timestamp(calibration_end).as_unit("ns").value
    end_ns = pd.Timestamp(observation_end).as_unit("ns").value
    if end_ns <= cal_ns:
        raise InputError("observation_end must be after calibration_end.")
    codes, labels, t_ns, spend = _visit_arrays(visits, customer_col, time_col, spend_cols)
    late = t_ns > end_ns
    if late.any():
        rows = ", ".join(repr(i) for i in visits.index[late][:5])
        raise InputError(
            f"service_visits has {int(late.sum())} visit(s) after observation_end "
            f"{pd.Timestamp(observation_end)} (e.g. rows {rows})."
        )
    period_idx = _period_index(t_ns, period)
    cal_period = int(_period_index(cal_ns, period))
    end_period = int(_period_index(end_ns, period))
    in_cal = period_idx <= cal_period
    if not in_cal.any():
        raise InsufficientDataError("calibration_holdout_split: no visit before calibration_end.")
    cal = _summarize(
        codes[in_cal],
        labels,
        period_idx[in_cal],
        spend[in_cal],
        cal_period,
        period_days / unit_days,
    )
    cal = cal.rename(columns=lambda c: f"{c}_cal")
    # holdout: distinct periods after the calibration period
    ho = ~in_cal
    hc, hp, hs = codes[ho], period_idx[ho], spend[ho]
    order = np.lexsort((hp, hc))
    hc, hp, hs = hc[order], hp[order], hs[order]
    new = np.ones(len(hc), dtype=bool)
    new[1:] = (hc[1:] != hc[:-1]) | (hp[1:] != hp[:-1])
    n_ho = np.bincount(hc[new], minlength=len(labels))
    spend_ho = np.bincount(hc, weights=hs, minlength=len(labels))
    with np.errstate(invalid="ignore", divide="ignore"):
        mon_ho = np.where(n_ho > 0, spend_ho / n_ho, np.nan)
    hold = pd.DataFrame(
        {"frequency_holdout": n_ho.astype(np.int64), "monetary_holdout": mon_ho}, index=labels
    )
    out = cal.join(hold, how="left")
    out["duration_holdout"] = (end_period - cal_period) * period_days / unit_days
    if spend_cols is None:
        out = out.drop(columns=["monetary_cal", "monetary_holdout"])
    return out


def holdout_table(
    model: Any,
    calibration_holdout: pd.DataFrame,
    *,
    max_frequency: int = 7,
) -> pd.DataFrame:
    """Predicted vs actual holdout visits, grouped by calibration frequency.

    Parameters
    ----------
    model
        A fitted BG/NBD or Pareto/NBD estimator (anything with
        ``predict_expected_visits(t, frequency, recency, T)``).
    calibration_holdout
        Output of :func:`calibration_holdout_split`.
    max_frequency
        Calibration frequencies above this are pooled into one ``>= max_frequency`` group.

    Returns
    -------
    pandas.DataFrame
        One row per calibration frequency (the last row pools ``>= max_frequency``):
        ``n_customers``, ``actual`` and ``predicted`` mean holdout visits per customer.
    """
    needed = ["frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout"]
    missing = [c for c in needed if c not in calibration_holdout.columns]
    if missing:
        raise InputError(
            f"holdout_table: missing column(s) {missing}; use calibration_holdout_split()."
        )
    ch = calibration_holdout
    pred = model.predict_expected_visits(
        ch["duration_holdout"].to_numpy(float),
        ch["frequency_cal"].to_numpy(float),
        ch["recency_cal"].to_numpy(float),
        ch["T_cal"].to_numpy(float),
    )
    group = np.minimum(ch["frequency_cal"].to_numpy(), max_frequency)
    df = pd.DataFrame(
        {
            "frequency_cal": group,
            "actual": ch["frequency_holdout"].to_numpy(float),
            "predicted": pred,
        }
    )
    out = df.groupby("frequency_cal").agg(
        n_customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
    )
    out.index.name = "frequency_cal"
    out.attrs["pooled_from"] = max_frequency
    return out


def expected_cumulative_transactions(
    model: Any,
    visits: pd.DataFrame,
    *,
    periods: int,
    period: str = "D",
    time_unit: str = "W",
    customer_col: str = "customer_id",
    time_col: str = "at",
) -> pd.DataFrame:
    """Actual and expected cumulative repeat visits of the customer base: the tracking plot.

    Time runs in periods of ``period`` from the period of the earliest visit (period 0).
    Each customer is acquired in the period of their first visit; a repeat visit is a
    further period with a visit (as in :func:`summarize_visits`). Row ``i`` (``i = 0 ..
    periods-1``) is the state at the end of period ``i``:

    * ``actual`` -- repeat visits in periods ``0 .. i``;
    * ``predicted`` -- ``sum over customers acquired in periods b <= i of
      model.expected_visits(i + 1 - b)`` (the expected repeat visits of a new customer,
      with the time converted to ``time_unit``).

    This is the definition of ``lifetimes.utils.expected_cumulative_transactions``
    (Fader, Hardie & Lee 2005, figure 2). Customers keep being acquired over the calendar,
    so the curve tests the model on the whole base, not only on the calibration customers.

    Parameters
    ----------
    model
        A fitted :class:`~crm_analytics.models.btyd.BGNBD` or ``ParetoNBD`` (anything with
        ``expected_visits(t)``), fitted in ``time_unit``.
    visits
        Visit table (customer and time columns; visits are counted once per period).
    periods
        Number of periods to track (>= 1).
    period, time_unit
        Period of the calendar and time unit of the model, as in :func:`summarize_visits`.
    customer_col, time_col
        Column names.

    Returns
    -------
    pandas.DataFrame
        Columns ``period_start`` (first instant of period ``i``), ``actual`` and
        ``predicted``.
    """
    if int(periods) < 1:
        raise InputError(f"expected_cumulative_transactions: periods must be >= 1, got {periods}.")
    unit_days = _unit_days(time_unit, "time_unit")
    period_days = _unit_days(period, "period")
    codes, _labels, t_ns, _spend = _visit_arrays(visits, customer_col, time_col, None)
    p = np.asarray(_period_index(t_ns, period), dtype=np.int64)
    p0 = int(p.min())
    p = p - p0
    first = np.full(codes.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(first, codes, p)
    # distinct (customer, period) pairs; the first period of each customer is not a repeat
    pairs = np.unique(codes.astype(np.int64) * (int(p.max()) + 1) + p)
    pc, pp = pairs // (int(p.max()) + 1), pairs % (int(p.max()) + 1)
    repeat_period = pp[pp > first[pc]]
    n = int(periods)
    actual = np.cumsum(np.bincount(repeat_period[repeat_period < n], minlength=n)[:n])
    births = np.bincount(first, minlength=n)[:n]
    ages = np.arange(1, n + 1, dtype=float) * period_days / unit_days
    e_new = np.asarray(model.expected_visits(ages), dtype=float)  # E[X(k periods)], k = 1..n
    # predicted_i = sum_{b <= i} births[b] * e_new[i - b]
    predicted = np.convolve(births.astype(float), e_new)[:n]
    period_ns = int(round(period_days * _NS_PER_DAY))
    shift = _PERIOD_ORIGIN_DAYS.get(period, 0) * _NS_PER_DAY
    starts = (np.arange(n, dtype=np.int64) + p0) * period_ns - shift
    return pd.DataFrame(
        {
            "period_start": pd.to_datetime(starts, unit="ns"),
            "actual": actual.astype(float),
            "predicted": predicted,
        }
    )
