"""Truth stage: the ground-truth frames of a simulated dealer (``DealerData.truth``) and the
oracles computed from them, such as :func:`true_churn_probability`.

Truth frames: ``customers`` (kind, persona, true distance; for owners the latent visit rate,
hazards, service start, warranty end, dropout time, satisfaction, complaint), ``leads`` (true
stage probabilities and outcomes, true order and delivery times), ``channel_effects`` (true
effect and removal effect of each channel), ``defects`` (one row per injected defect),
``dealer`` (the dealer's profile), ``visitor_log`` (the true customer behind each entry) and
``complaints`` (each complaint's drawn response and resolution times, resolved and reopened,
added by :func:`crm_analytics.sim.aftersales.complaints_table`), ``contact`` (the
unreachable customers: reason and since when) and ``calls`` (each call attempt's list, campaign
and truth; both added by :func:`crm_analytics.sim.crm_calls.crm_calls`).
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from crm_analytics.sim.aftersales import ServiceLife
from crm_analytics.sim.config import TRUE_CHANNEL_EFFECTS, YEAR_DAYS
from crm_analytics.sim.context import DealerContext
from crm_analytics.sim.leads import Leads, response_grid
from crm_analytics.sim.orders import Owners

_LEAD_TRUTH = [
    "lead_id",
    "channel",
    "z",
    "p_visit",
    "p_test_drive",
    "p_quote",
    "p_order",
    "p_deliver",
    "visit",
    "test_drive",
    "quote",
    "order",
    "deliver",
    "t_order",
    "t_deliver",
    "same_day",
    "response_minutes",
    "response_sensitivity",
    "response_effect",
]


def truth_frames(
    ctx: DealerContext,
    C: pd.DataFrame,
    owners: Owners,
    life: ServiceLife,
    leads: Leads,
    A: pd.DataFrame,
) -> dict[str, pd.DataFrame]:
    """The dealer's ground-truth frames (the unregistered walk-ins are added to ``defects`` by
    :func:`crm_analytics.sim.defects.unregistered_walk_in_defects`)."""
    ctruth = pd.DataFrame(
        {
            "customer_id": C["customer_id"],
            "kind": C["kind"],
            "persona": C["persona"],
            "true_distance_km": C["true_distance_km"],
        }
    )
    otruth = pd.DataFrame(
        {
            "customer_id": C["customer_id"].to_numpy()[owners.idx],
            "vin": owners.vin,
            "visit_rate": life.lam,
            "hazard_pre": life.mu1,
            "hazard_post": life.mu2,
            "service_start": life.svc_start,
            "warranty_end": owners.warranty_end,
            "dropout_at": life.drop,
            "satisfaction": life.sat,
            "complaint": life.complaint,
            "complaint_resolved": life.resolved,
        }
    )
    ctruth = ctruth.merge(otruth, on="customer_id", how="left")
    ltruth = leads.frame[_LEAD_TRUTH].rename(
        columns={"t_order": "order_at", "t_deliver": "delivery_at"}
    )
    ltruth["order_at"] = ltruth["order_at"].where(ltruth["order"])
    ltruth["delivery_at"] = ltruth["delivery_at"].where(ltruth["deliver"])
    effects = pd.DataFrame(
        {"channel": list(TRUE_CHANNEL_EFFECTS), "effect": list(TRUE_CHANNEL_EFFECTS.values())}
    ).merge(leads.channel_truth, on="channel", how="left")
    effects["orders_lost_per_journey"] = effects["orders_lost"] / effects["journeys"].where(
        effects["journeys"] > 0
    )
    defects = pd.DataFrame(ctx.defects, columns=["defect", "table", "row_id", "detail"])
    prof = asdict(ctx.p)
    prof["channel_mix"] = ";".join(f"{k}={v}" for k, v in prof["channel_mix"].items())
    return {
        "customers": ctruth,
        "leads": ltruth,
        "channel_effects": effects,
        "defects": defects,
        "dealer": pd.DataFrame([prof]),
        "visitor_log": A[["entry_id", "true_customer", "touch_id"]].rename(
            columns={"true_customer": "customer_id"}
        ),
    }


def _survival(a, b, lam, m1, m2, W):
    """Alive and no visit from ``a`` to ``b`` (years), given alive at ``a``: hazard ``m1``
    before ``W`` (the warranty end on the same axis), ``m2`` after, visits at rate ``lam``."""
    w = np.clip(W, a, b)
    return np.exp(-(m1 + lam) * (w - a) - (m2 + lam) * (b - w))


def _dropout_integral(a, b, lam, m1, m2, W):
    """Dropout in ``(a, b]`` before any visit, given alive at ``a``:
    ``int_a^b h(u) S(u) e^{-lam (u - a)} du`` with the hazard's breakpoint at ``W``."""

    def piece(lo, hi, mu, s0):
        k = mu + lam
        return s0 * mu / k * (1 - np.exp(-k * np.maximum(hi - lo, 0)))

    w = np.clip(W, a, b)
    # if W < a the whole interval is post-warranty: the first piece is zero
    return piece(a, w, m1, 1.0) + piece(w, b, m2, np.exp(-(m1 + lam) * (w - a)))


def _no_visit_probability(a, b, lam, m1, m2, W):
    """P(no service visit in ``(a, b]`` | alive at ``a``)."""
    return _survival(a, b, lam, m1, m2, W) + _dropout_integral(a, b, lam, m1, m2, W)


def true_retention(
    truth_customers: pd.DataFrame,
    customer_ids: pd.Series,
    starts: pd.Series,
    *,
    horizon_days: float = 365.0,
) -> pd.Series:
    """The oracle of retention after an event: P(a service visit within ``horizon_days``
    after ``starts``), for owners alive at their start (as a complainer is at the complaint).

    Exact for owners whose visits are the simulator's Poisson process: owners who bought here.
    An owner who bought elsewhere enters through a first visit that the simulator places at
    the service start, taking it from the owner's Poisson count, so later visits are fewer
    than the rate says; such owners get NaN.

    Parameters
    ----------
    truth_customers
        ``DealerData.truth['customers']``.
    customer_ids, starts
        The owners and their start times (aligned).
    horizon_days
        The window.

    Returns
    -------
    pandas.Series
        Aligned with ``customer_ids``.
    """
    tc = truth_customers.dropna(subset=["visit_rate"]).drop_duplicates("customer_id")
    tc = tc.set_index("customer_id").loc[np.asarray(customer_ids)]
    t0 = pd.to_datetime(pd.Series(np.asarray(starts))).to_numpy("datetime64[ns]")
    W = (tc["warranty_end"].to_numpy("datetime64[ns]") - t0) / np.timedelta64(1, "D") / YEAR_DAYS
    zero = np.zeros(len(t0))
    p = _no_visit_probability(
        zero,
        zero + horizon_days / YEAR_DAYS,
        tc["visit_rate"].to_numpy(),
        tc["hazard_pre"].to_numpy(),
        tc["hazard_post"].to_numpy(),
        W,
    )
    p = np.where(tc["kind"].to_numpy() == "elsewhere", np.nan, p)
    return pd.Series(1.0 - p, index=pd.Index(np.asarray(customer_ids)), name="true_retention")


def true_churn_probability(
    truth_customers: pd.DataFrame,
    service_visits: pd.DataFrame,
    cutoff: str | pd.Timestamp,
    *,
    horizon_months: float = 12,
) -> pd.Series:
    """The oracle's churn probability: P(no service visit in the horizon after ``cutoff``).

    The oracle knows each owner's true visit rate and dropout hazards (before and after the
    warranty end) but not whether the owner is still alive: like any model it sees only the
    visit history. With Poisson visits at rate ``lam`` and a piecewise-constant dropout hazard,
    ``P(alive | last visit at t_x, none since)`` follows from the two likelihoods
    ``A = S(t) e^{-lam (t - t_x)}`` and ``B = int_{t_x}^{t} h(u) S(u) e^{-lam (u - t_x)} du``
    (``S`` the survival from ``t_x``), then
    ``P(churn) = (1 - pa) + pa * P(no visit in (t, t + w] | alive at t)``.

    Parameters
    ----------
    truth_customers
        ``DealerData.truth['customers']`` (needs visit_rate, hazard_pre, hazard_post,
        warranty_end, service_start).
    service_visits
        The observed service visits (only those before ``cutoff`` are used).
    cutoff, horizon_months
        The scoring date and the churn window.

    Returns
    -------
    pandas.Series
        Indexed by customer_id (owners whose service started before the cutoff).
    """
    cutoff = pd.Timestamp(cutoff)
    tc = truth_customers.dropna(subset=["visit_rate"]).copy()
    tc = tc[tc["service_start"] <= cutoff]
    sv = service_visits[service_visits["at"] < cutoff]
    last = sv.groupby("customer_id")["at"].max()
    t_x = last.reindex(tc["customer_id"]).to_numpy("datetime64[ns]")
    start = tc["service_start"].to_numpy("datetime64[ns]")
    t_x = np.where(np.isnat(t_x), start, t_x)

    def years(a, b):
        """Years from ``a`` to ``b``."""
        return (b - a) / np.timedelta64(1, "D") / YEAR_DAYS

    lam = tc["visit_rate"].to_numpy()
    m1 = tc["hazard_pre"].to_numpy()
    m2 = tc["hazard_post"].to_numpy()
    w_end = tc["warranty_end"].to_numpy("datetime64[ns]")
    c = np.datetime64(cutoff, "ns")
    T = years(t_x, np.full_like(t_x, c))  # time since last visit
    W = years(t_x, w_end)  # warranty end relative to last visit (may be negative)
    H = horizon_months / 12.0

    zero = np.zeros_like(T)
    A = _survival(zero, T, lam, m1, m2, W)
    B = _dropout_integral(zero, T, lam, m1, m2, W)
    pa = A / (A + B)
    no_visit_alive = _no_visit_probability(T, T + H, lam, m1, m2, W)
    churn = (1 - pa) + pa * no_visit_alive
    return pd.Series(
        churn,
        index=pd.Index(tc["customer_id"].to_numpy(), name="customer_id"),
        name="true_churn_probability",
    )


def true_response_effect(truth_leads: pd.DataFrame, bands_minutes: list[float]) -> pd.DataFrame:
    """The oracle of speed-to-lead: each response band's true conversion for these leads.

    For the leads given (inbound leads of ``DealerData.truth['leads']``, with ``p_visit``,
    ``p_quote``, ``p_order`` and ``response_sensitivity``), the conversion they would have if
    every one were first answered within the band: the mean over leads of
    ``p * E[m(T) | T in band]``, ``T`` following the simulator's response-time distribution
    (see :func:`crm_analytics.sim.leads.response_grid`; a cell cut by a band edge is split on
    the log scale, as the draw is).

    Parameters
    ----------
    truth_leads
        The leads to average over.
    bands_minutes
        Increasing band edges in minutes, e.g. ``[0, 15, 60, inf]``.

    Returns
    -------
    pandas.DataFrame
        ``lo, hi, true_conversion, true_rate_ratio`` (relative to the first band).
    """
    edges, prior, effect = response_grid()
    log_e = np.log(edges)
    rows = []
    p = (truth_leads["p_visit"] * truth_leads["p_quote"] * truth_leads["p_order"]).to_numpy()
    sens = truth_leads["response_sensitivity"].to_numpy()
    for lo, hi in zip(bands_minutes[:-1], bands_minutes[1:], strict=True):
        a = np.log(max(lo, edges[0]))
        b = np.log(min(hi, edges[-1]))
        overlap = np.clip(np.minimum(log_e[1:], b) - np.maximum(log_e[:-1], a), 0, None)
        mass = prior * overlap / np.diff(log_e)
        mean_effect = float(mass @ effect / mass.sum())
        conv = float(np.mean(p * (1.0 + sens * (mean_effect - 1.0))))
        rows.append({"lo": lo, "hi": hi, "true_conversion": conv})
    out = pd.DataFrame(rows)
    out["true_rate_ratio"] = out["true_conversion"] / out["true_conversion"].iloc[0]
    return out


def true_active_retention(
    truth_customers: pd.DataFrame,
    vins: pd.Series,
    as_of: str | pd.Timestamp,
    *,
    window_days: float = 365.0,
) -> pd.Series:
    """The oracle of service retention: P(a visit in ``(as_of - window_days, as_of]``) of each
    vehicle whose service life started before the window, from its service start: alive at
    the window's start (piecewise-exponential dropout), then a visit before dropping out.

    Exact for vehicles sold here (see :func:`true_retention`); NaN for the others and for
    vehicles whose service started inside the window.

    Returns
    -------
    pandas.Series
        Indexed by vin.
    """
    tc = truth_customers.dropna(subset=["visit_rate"]).set_index("vin").loc[np.asarray(vins)]
    start = tc["service_start"].to_numpy("datetime64[ns]")
    a = np.datetime64(pd.Timestamp(as_of) - pd.Timedelta(days=window_days), "ns")
    day = np.timedelta64(1, "D")
    t_a = (a - start) / day / YEAR_DAYS
    W = (tc["warranty_end"].to_numpy("datetime64[ns]") - start) / day / YEAR_DAYS
    lam = tc["visit_rate"].to_numpy()
    m1, m2 = tc["hazard_pre"].to_numpy(), tc["hazard_post"].to_numpy()
    zero = np.zeros(len(tc))
    alive = _survival(zero, t_a, 0.0, m1, m2, W)
    visit = 1.0 - _no_visit_probability(t_a, t_a + window_days / YEAR_DAYS, lam, m1, m2, W)
    p = np.where((tc["kind"].to_numpy() == "elsewhere") | (t_a < 0), np.nan, alive * visit)
    return pd.Series(p, index=pd.Index(np.asarray(vins), name="vin"), name="true_retention")
