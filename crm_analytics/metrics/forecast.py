"""Next month's orders and deliveries from the open pipeline, with a rolling backtest.

Method (a stage-and-age pipeline model, "predictable and controllable" of the deck's slide 16):

1. At the forecast date ``as_of`` every open unit of the pipeline is put in a cell
   ``(stage, age)``: stage ``lead`` (no visit yet), ``visited`` (no quote), ``quoted`` (no
   order) or ``ordered`` (not delivered); age = days since it entered that stage, bucketed
   (:data:`AGE_EDGES`). A lead closed as defeated by ``as_of`` leaves the pipeline.
2. The chance that a unit of a cell orders (and, separately, is delivered) within the next
   month is learned from **historical snapshots**: the same cells on the same day of each of
   the previous ``history_months`` months, and what happened in the month after each. This
   one number per cell carries both the stage conversion and the cycle-time distribution
   (a quoted lead 40 days old converts less in the next month than one quoted yesterday).
   Cells are shrunk towards their stage's pooled rate (beta prior of strength
   ``prior_strength``).
3. Leads not yet created: expected new leads of the month (mean of the last 12 months times a
   shrunk calendar-month index) times the historical share of new leads that order (or are
   delivered) within their first month.
4. The interval is Monte Carlo: per cell a rate drawn from its beta posterior, then a binomial
   count of the cell's open units; new leads Poisson, their conversion binomial.

Only what was known at ``as_of`` is used (leads, events and closures dated up to it), so the
rolling backtest (:func:`backtest_forecast`) is honest. Its baseline is the seasonal-naive
forecast: the count of the same month a year earlier.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError, InsufficientDataError
from crm_analytics.metrics.funnel import lead_journeys

PIPELINE_STAGES: tuple[str, ...] = ("lead", "visited", "quoted", "ordered")
#: age buckets in days since the unit entered its stage
AGE_EDGES: tuple[float, ...] = (0.0, 7.0, 14.0, 30.0, 60.0, np.inf)
AGE_LABELS: tuple[str, ...] = ("0-7d", "7-14d", "14-30d", "30-60d", "60d+")
TARGETS: tuple[str, ...] = ("orders", "deliveries")


def _end_of_day(t: Any) -> pd.Timestamp:
    t = pd.Timestamp(t)
    if t == t.normalize():
        return t + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return t


def shift_months(t: pd.Timestamp, k: int) -> pd.Timestamp:
    """``t`` moved by ``k`` calendar months; a month's last day stays on the last day."""
    t = _end_of_day(t)
    if (t.normalize() + pd.Timedelta(days=1)).day == 1:
        return _end_of_day((t.to_period("M") + k).end_time.normalize())
    return t + pd.DateOffset(months=k)


def _states(J: pd.DataFrame, snaps: np.ndarray) -> dict[str, np.ndarray]:
    """Stage and age of every lead at every snapshot (arrays of shape (leads, snapshots))."""
    t = snaps[None, :]

    def col(name):
        return J[name].to_numpy("datetime64[ns]")[:, None]

    created, visit, quote, order, deliv, closed = (
        col(c)
        for c in ("created_at", "visit_at", "quote_at", "order_at", "delivery_at", "closed_at")
    )
    with np.errstate(invalid="ignore"):
        exists = created <= t
        has_v = ~np.isnat(visit) & (visit <= t)
        has_q = ~np.isnat(quote) & (quote <= t)
        has_o = ~np.isnat(order) & (order <= t)
        has_d = ~np.isnat(deliv) & (deliv <= t)
        defeated = (
            (J["status"].to_numpy() == "defeated")[:, None]
            & ~np.isnat(closed)
            & (closed <= t)
            & ~has_o
        )
    stage = np.full(exists.shape, -1, dtype=np.int8)
    open_ = exists & ~defeated & ~has_d
    stage[open_ & ~has_v & ~has_q & ~has_o] = 0
    stage[open_ & has_v & ~has_q & ~has_o] = 1
    stage[open_ & has_q & ~has_o] = 2
    stage[open_ & has_o] = 3
    entered = np.select(
        [stage == 0, stage == 1, stage == 2, stage == 3],
        [
            np.broadcast_to(created, stage.shape),
            np.broadcast_to(visit, stage.shape),
            np.broadcast_to(quote, stage.shape),
            np.broadcast_to(order, stage.shape),
        ],
        default=np.datetime64("NaT"),
    )
    age = (t - entered) / np.timedelta64(1, "D")
    bucket = np.digitize(np.nan_to_num(age, nan=0.0), AGE_EDGES[1:-1], right=False).astype(np.int8)
    return {"stage": stage, "bucket": bucket, "order": order, "deliv": deliv}


def _month_index(
    J: pd.DataFrame, as_of: pd.Timestamp, months: int
) -> tuple[float, float, np.ndarray]:
    """Expected new leads next month and the per-calendar-month index (shrunk half-way to 1)."""
    created = J["created_at"]
    ends = np.array([shift_months(as_of, -k) for k in range(0, months + 1)], dtype="datetime64[ns]")
    counts = np.array(
        [
            ((created > pd.Timestamp(ends[k + 1])) & (created <= pd.Timestamp(ends[k]))).sum()
            for k in range(months)
        ],
        dtype=float,
    )
    last12 = counts[:12].mean() if len(counts) else 0.0
    by_month = (
        created.dt.month.value_counts().reindex(range(1, 13), fill_value=0).to_numpy(dtype=float)
    )
    idx = by_month / by_month.mean() if by_month.sum() else np.ones(12)
    idx = 0.5 + 0.5 * idx
    target_month = shift_months(as_of, 1).month
    recent_months = [shift_months(as_of, -k).month for k in range(12)]
    norm = np.mean(idx[np.array(recent_months) - 1])
    lam = last12 * idx[target_month - 1] / norm if norm > 0 else last12
    return float(lam), float(last12), counts


def _fit(J: pd.DataFrame, as_of: pd.Timestamp, history_months: int) -> dict[str, Any]:
    """Historical snapshot rates per (stage, age bucket) and for new leads."""
    snaps = np.array(
        [shift_months(as_of, -k) for k in range(1, history_months + 1)], dtype="datetime64[ns]"
    )
    first = J["created_at"].min()
    snaps = snaps[snaps > np.datetime64(first + pd.Timedelta(days=30))]
    if len(snaps) < 3:
        raise InsufficientDataError(
            f"forecast_orders needs at least 3 months of lead history before as_of={as_of.date()} "
            f"(leads start {pd.Timestamp(first).date() if pd.notna(first) else 'never'})"
        )
    ends = np.array([shift_months(pd.Timestamp(s), 1) for s in snaps], dtype="datetime64[ns]")
    st = _states(J, snaps)
    with np.errstate(invalid="ignore"):
        o_next = (
            ~np.isnat(st["order"]) & (st["order"] > snaps[None, :]) & (st["order"] <= ends[None, :])
        )
        d_next = (
            ~np.isnat(st["deliv"]) & (st["deliv"] > snaps[None, :]) & (st["deliv"] <= ends[None, :])
        )
    n = np.zeros((4, len(AGE_LABELS)))
    k_o = np.zeros_like(n)
    k_d = np.zeros_like(n)
    for s in range(4):
        for b in range(len(AGE_LABELS)):
            m = (st["stage"] == s) & (st["bucket"] == b)
            n[s, b] = m.sum()
            k_o[s, b] = (m & o_next).sum() if s < 3 else 0.0
            k_d[s, b] = (m & d_next).sum()
    # new leads: created inside a historical window; outcome within the same window
    created = J["created_at"].to_numpy("datetime64[ns]")[:, None]
    with np.errstate(invalid="ignore"):
        new = (created > snaps[None, :]) & (created <= ends[None, :])
    n_new = new.sum()
    k_new_o = (new & o_next).sum()
    k_new_d = (new & d_next).sum()
    return {
        "n": n,
        "k_order": k_o,
        "k_delivery": k_d,
        "n_new": float(n_new),
        "k_new_order": float(k_new_o),
        "k_new_delivery": float(k_new_d),
        "snapshots": len(snaps),
    }


def _posterior(k: np.ndarray, n: np.ndarray, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Beta posterior parameters per cell, prior centred on the stage's pooled rate."""
    ks, ns = k.sum(axis=1, keepdims=True), n.sum(axis=1, keepdims=True)
    pooled = np.divide(ks + 0.5, ns + 1.0)
    a = strength * pooled + k
    b = strength * (1 - pooled) + (n - k)
    return a, b


def pipeline_table(
    dealer: DealerData,
    *,
    as_of: Any = None,
    history_months: int = 36,
    prior_strength: float = 20.0,
) -> pd.DataFrame:
    """The open pipeline at ``as_of`` by (stage, age) with next-month conversion rates.

    Returns
    -------
    pandas.DataFrame
        ``stage, age, open_units, history_units, p_order_next_month,
        p_delivery_next_month, expected_orders, expected_deliveries``.
    """
    return _pipeline(dealer, as_of, history_months, prior_strength)[0]


def _pipeline(dealer: DealerData, as_of: Any, history_months: int, prior_strength: float):
    t = _end_of_day(dealer.as_of if as_of is None else as_of)
    if t > _end_of_day(dealer.as_of):
        raise InputError(
            f"as_of={t.date()} lies after the data's as_of {pd.Timestamp(dealer.as_of).date()}"
        )
    J = lead_journeys(dealer, cutoff=t)
    if len(J) == 0:
        raise InsufficientDataError("forecast needs leads: the leads table is empty before as_of")
    fit = _fit(J, t, history_months)
    st = _states(J, np.array([t], dtype="datetime64[ns]"))
    ao, bo = _posterior(fit["k_order"], fit["n"], prior_strength)
    ad, bd = _posterior(fit["k_delivery"], fit["n"], prior_strength)
    rows = []
    for s, sname in enumerate(PIPELINE_STAGES):
        for b, bname in enumerate(AGE_LABELS):
            n_open = int(((st["stage"][:, 0] == s) & (st["bucket"][:, 0] == b)).sum())
            po = 0.0 if s == 3 else ao[s, b] / (ao[s, b] + bo[s, b])
            pdl = ad[s, b] / (ad[s, b] + bd[s, b])
            rows.append(
                {
                    "stage": sname,
                    "age": bname,
                    "open_units": n_open,
                    "history_units": int(fit["n"][s, b]),
                    "p_order_next_month": po,
                    "p_delivery_next_month": pdl,
                    "expected_orders": n_open * po,
                    "expected_deliveries": n_open * pdl,
                }
            )
    return pd.DataFrame(rows), fit, J


def forecast_orders(
    dealer: DealerData,
    *,
    as_of: Any = None,
    history_months: int = 36,
    prior_strength: float = 20.0,
    n_sims: int = 4000,
    seed: int = 0,
) -> pd.DataFrame:
    """Forecast the orders and deliveries of the month after ``as_of`` from the open pipeline.

    Parameters
    ----------
    dealer
        The dealer; only records dated up to ``as_of`` are used.
    as_of
        Forecast date (default the data's ``as_of``); the forecast window is
        ``(as_of, as_of + 1 month]``.
    history_months
        Months of historical snapshots the conversion rates are learned from.
    prior_strength
        Beta-prior strength shrinking each (stage, age) cell towards its stage's rate.
    n_sims, seed
        Monte Carlo draws for the intervals.

    Returns
    -------
    pandas.DataFrame
        Two rows (``orders``, ``deliveries``): ``dealer_id, as_of, window_start, window_end,
        target, forecast, lo80, hi80, lo95, hi95, from_pipeline, from_new_leads,
        open_units, expected_new_leads, method``.
    """
    t = _end_of_day(dealer.as_of if as_of is None else as_of)
    pipe, fit, J = _pipeline(dealer, t, history_months, prior_strength)
    lam, _, _ = _month_index(J, t, min(history_months, 24))
    rng = np.random.default_rng(seed)
    n_open = pipe["open_units"].to_numpy().reshape(4, len(AGE_LABELS))
    rows = []
    for target, kname, knew in (
        ("orders", "k_order", "k_new_order"),
        ("deliveries", "k_delivery", "k_new_delivery"),
    ):
        a, b = _posterior(fit[kname], fit["n"], prior_strength)
        if target == "orders":
            a, b, cells = a[:3], b[:3], n_open[:3]
        else:
            cells = n_open
        p = rng.beta(a[None], b[None], size=(n_sims, *a.shape))
        pipe_draw = rng.binomial(np.broadcast_to(cells, p.shape), p).sum(axis=(1, 2))
        an, bn = 0.5 + fit[knew], 0.5 + fit["n_new"] - fit[knew]
        p_new = rng.beta(an, bn, size=n_sims)
        new_leads = rng.poisson(lam, size=n_sims)
        new_draw = rng.binomial(new_leads, p_new)
        total = pipe_draw + new_draw
        mean_pipe = float((cells * a / (a + b)).sum())
        mean_new = float(lam * an / (an + bn))
        q = np.quantile(total, [0.1, 0.9, 0.025, 0.975])
        rows.append(
            {
                "dealer_id": dealer.dealer_id,
                "as_of": t,
                "window_start": t,
                "window_end": shift_months(t, 1),
                "target": target,
                "forecast": mean_pipe + mean_new,
                "lo80": float(q[0]),
                "hi80": float(q[1]),
                "lo95": float(q[2]),
                "hi95": float(q[3]),
                "from_pipeline": mean_pipe,
                "from_new_leads": mean_new,
                "open_units": int(cells.sum()),
                "expected_new_leads": lam,
                "method": f"stage-age pipeline model, {fit['snapshots']} monthly snapshots; Monte Carlo interval ({n_sims} draws)",
            }
        )
    return pd.DataFrame(rows)


def _count_in(times: pd.Series, lo: pd.Timestamp, hi: pd.Timestamp) -> int:
    return int(((times > lo) & (times <= hi)).sum())


def backtest_forecast(
    dealer: DealerData,
    *,
    cutoffs: Any = None,
    months: int = 24,
    **kwargs: Any,
) -> pd.DataFrame:
    """Rolling-origin backtest of :func:`forecast_orders` against the seasonal-naive baseline.

    Parameters
    ----------
    dealer
        The dealer.
    cutoffs
        Forecast dates; default the last ``months`` month ends whose following month lies
        within the data.
    kwargs
        Passed to :func:`forecast_orders`.

    Returns
    -------
    pandas.DataFrame
        One row per (cutoff, target): ``dealer_id, as_of, target, actual, forecast, lo80, hi80,
        lo95, hi95, seasonal_naive, abs_error, abs_error_naive, trailing_mean,
        abs_error_trailing, in80, in95``. The seasonal-naive forecast is the count in the same
        window one year earlier (NaN without a year of data); ``trailing_mean`` (a second,
        stronger baseline) is the mean monthly count of the previous 12 months.
    """
    end = _end_of_day(dealer.as_of)
    if cutoffs is None:
        last = (end.normalize() + pd.Timedelta(days=1)).to_period("M") - 1
        cand = [_end_of_day((last - k).end_time.normalize()) for k in range(0, months + 1)]
        cutoffs = sorted(c for c in cand if shift_months(c, 1) <= end)[-months:]
    o = dealer.orders
    first_lead = dealer.leads["created_at"].min()
    rows = []
    for c in cutoffs:
        c = _end_of_day(c)
        f = forecast_orders(dealer, as_of=c, **kwargs)
        w_end = shift_months(c, 1)
        ly_lo, ly_hi = shift_months(c, -12), shift_months(c, -11)
        have_year = pd.notna(first_lead) and ly_lo >= first_lead
        for r in f.itertuples(index=False):
            col = "ordered_at" if r.target == "orders" else "delivered_at"
            actual = _count_in(o[col], c, w_end)
            naive = float(_count_in(o[col], ly_lo, ly_hi)) if have_year else np.nan
            trailing = _count_in(o[col], shift_months(c, -12), c) / 12.0 if have_year else np.nan
            rows.append(
                {
                    "dealer_id": dealer.dealer_id,
                    "as_of": c,
                    "target": r.target,
                    "actual": actual,
                    "forecast": r.forecast,
                    "lo80": r.lo80,
                    "hi80": r.hi80,
                    "lo95": r.lo95,
                    "hi95": r.hi95,
                    "seasonal_naive": naive,
                    "abs_error": abs(r.forecast - actual),
                    "abs_error_naive": abs(naive - actual) if np.isfinite(naive) else np.nan,
                    "trailing_mean": trailing,
                    "abs_error_trailing": abs(trailing - actual)
                    if np.isfinite(trailing)
                    else np.nan,
                    "in80": r.lo80 <= actual <= r.hi80,
                    "in95": r.lo95 <= actual <= r.hi95,
                }
            )
    return pd.DataFrame(rows)


def backtest_summary(backtest: pd.DataFrame) -> pd.DataFrame:
    """Mean absolute error of the model and of the baselines, interval coverage.

    Only cutoffs where the baseline exists are compared.
    """
    bt = backtest.dropna(subset=["seasonal_naive"])
    if bt.empty:
        raise InsufficientDataError(
            "no backtest cutoff has a year of history for the seasonal-naive baseline"
        )
    g = bt.groupby("target")
    out = pd.DataFrame(
        {
            "cutoffs": g.size(),
            "mae_model": g["abs_error"].mean(),
            "mae_seasonal_naive": g["abs_error_naive"].mean(),
            "mae_trailing_mean": g["abs_error_trailing"].mean(),
            "coverage80": g["in80"].mean(),
            "coverage95": g["in95"].mean(),
            "mean_actual": g["actual"].mean(),
        }
    ).reset_index()
    out["mae_ratio"] = out["mae_model"] / out["mae_seasonal_naive"]
    return out


__all__ = [
    "AGE_LABELS",
    "PIPELINE_STAGES",
    "backtest_forecast",
    "backtest_summary",
    "forecast_orders",
    "pipeline_table",
    "shift_months",
]
