"""Customer lifetime value: the deck's value-chain CLV (and the probabilistic CLV of BTYD).

Value-chain CLV (deck slide 21)
-------------------------------
Per business line: unit value (yuan) x take-up rate x frequency per year x years, summed over
the lines. The deck's illustrative loyal 5-year customer comes out at exactly 39,870 yuan with
the parameters of ``params/value_chain.yaml``. :func:`value_chain_clv` evaluates the
illustrative customer (or any other parameter set); :func:`customer_value_chain` applies the
same formula per customer with that customer's own observed take-up.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crm_analytics.core.config import load_params
from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import (
    ConvergenceError,
    InputError,
    InsufficientDataError,
    SmallDealerWarning,
)
from crm_analytics.metrics.lifecycle import lifecycle_states
from crm_analytics.metrics.rfm import summarize_visits
from crm_analytics.models.btyd import BGNBD, FALLBACK_PENALTIES, GammaGamma, NetworkPrior

VALUE_CHAIN_FIELDS = ("unit_value", "take_up", "per_year", "years")


def _lines(params: dict[str, Any] | None) -> dict[str, dict[str, float]]:
    data = params if params is not None else load_params("value_chain")
    lines = data.get("lines", data)
    if not isinstance(lines, dict) or not lines:
        raise InputError("value-chain parameters need a 'lines' mapping of business line -> fields")
    for name, spec in lines.items():
        missing = [f for f in VALUE_CHAIN_FIELDS if f not in spec]
        if missing:
            raise InputError(
                f"value-chain line {name!r} lacks {missing}; each line needs {list(VALUE_CHAIN_FIELDS)}"
            )
        if not 0 <= float(spec["take_up"]) <= 1:
            raise InputError(
                f"value-chain line {name!r}: take_up must lie in [0, 1], got {spec['take_up']}"
            )
    return lines


def value_chain_clv(params: dict[str, Any] | None = None) -> pd.DataFrame:
    """The deck's value-chain CLV of one illustrative customer, per business line.

    Parameters
    ----------
    params
        ``{"lines": {line: {unit_value, take_up, per_year, years}}}``; default
        ``params/value_chain.yaml`` (the deck's slide 21, total 39,870 yuan).

    Returns
    -------
    pandas.DataFrame
        One row per line with the four factors and ``value``, plus a ``total`` row.
    """
    rows = []
    for name, s in _lines(params).items():
        value = (
            float(s["unit_value"]) * float(s["take_up"]) * float(s["per_year"]) * float(s["years"])
        )
        rows.append({"line": name, **{f: float(s[f]) for f in VALUE_CHAIN_FIELDS}, "value": value})
    out = pd.DataFrame(rows)
    total = {
        "line": "total",
        **{f: np.nan for f in VALUE_CHAIN_FIELDS},
        "value": out["value"].sum(),
    }
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)


def what_if(line: str, *, take_up: float, params: dict[str, Any] | None = None) -> float:
    """Change of the value-chain CLV (yuan per customer) when one line's take-up changes."""
    lines = _lines(params)
    if line not in lines:
        raise InputError(f"unknown value-chain line {line!r}; lines are {sorted(lines)}")
    s = lines[line]
    return (
        float(s["unit_value"])
        * (take_up - float(s["take_up"]))
        * float(s["per_year"])
        * float(s["years"])
    )


def customer_value_chain(
    dealer: DealerData,
    *,
    as_of: str | pd.Timestamp | None = None,
    params: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The value-chain CLV per owner, with each owner's own observed take-up.

    Take-up per line, from the owner's records up to ``as_of``:

    * ``first_year_insurance``: the first policy of the owner's latest vehicle was sold here;
    * ``service``: observed service visits per year here (since the vehicle became known,
      at least 3 months of history) divided by the line's ``per_year``, capped at 1;
    * ``insurance_renewal``: share of the owner's renewal years sold here (NaN without one);
    * ``extension_products``: the owner bought an extended warranty with the car.

    Unit values, frequencies and years stay those of the parameters, so the result reads as
    "this customer's version of the deck's 39,870 yuan".

    Returns
    -------
    pandas.DataFrame
        One row per owner: customer_id, one ``take_up_<line>`` and ``value_<line>`` column per
        line, and ``value`` (sum over lines with known take-up).
    """
    lines = _lines(params)
    t = pd.Timestamp(as_of) if as_of is not None else dealer.as_of
    veh = dealer.vehicles[dealer.vehicles["purchase_date"] <= t]
    if veh.empty:
        return pd.DataFrame(columns=["customer_id", "value"])
    sv = dealer.service_visits[dealer.service_visits["at"] <= t]
    pol = dealer.insurance_policies[dealer.insurance_policies["start"] <= t]
    orders = dealer.orders[dealer.orders["ordered_at"] <= t]
    latest = (
        veh.sort_values("purchase_date").groupby("customer_id").tail(1).set_index("customer_id")
    )
    ids = latest.index
    take: dict[str, pd.Series] = {}
    first = pol[~pol["renewal"]].set_index("vin")["sold_by_this_dealer"]
    first = first[~first.index.duplicated()]
    take["first_year_insurance"] = latest["vin"].map(first).astype(float)
    first_seen = sv.groupby("customer_id")["at"].min()
    start = pd.concat([latest["purchase_date"], first_seen.reindex(ids)], axis=1).min(axis=1)
    years = ((t - start) / pd.Timedelta(days=365.25)).clip(lower=0.25)
    visits = sv.groupby("customer_id").size().reindex(ids).fillna(0)
    per_year = float(lines.get("service", {}).get("per_year", 3.0)) or 3.0
    take["service"] = (visits / years / per_year).clip(upper=1.0)
    ren = pol[pol["renewal"]].groupby("customer_id")["sold_by_this_dealer"].mean()
    take["insurance_renewal"] = ren.reindex(ids).astype(float)
    ew = orders.groupby("customer_id")["extended_warranty"].any()
    take["extension_products"] = ew.reindex(ids).astype(float)
    # vehicles bought elsewhere had no chance of an extended warranty sale here
    take["extension_products"] = take["extension_products"].where(latest["sold_by_this_dealer"])
    out = pd.DataFrame({"customer_id": ids})
    total = np.zeros(len(ids))
    for name, s in lines.items():
        tu = take.get(name)
        if tu is None:
            raise InputError(
                f"customer_value_chain knows no observed take-up for line {name!r}; "
                f"supported lines: {sorted(take)}"
            )
        tu = tu.reindex(ids).to_numpy(dtype=float)
        value = float(s["unit_value"]) * tu * float(s["per_year"]) * float(s["years"])
        out[f"take_up_{name}"] = tu
        out[f"value_{name}"] = value
        total += np.nan_to_num(value)
    out["value"] = total
    return out


# --------------------------------------------------------------------------------------------
# Probabilistic CLV and the customer-base projection (BG/NBD visits x Gamma-Gamma margin)
# --------------------------------------------------------------------------------------------
MONTH_WEEKS = 365.25 / 12 / 7


def service_summary(dealer: DealerData, *, as_of: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Weekly BTYD summary of service visits up to ``as_of``, with gross margin as the spend.

    Columns ``frequency``, ``recency``, ``T`` (weeks) and ``monetary`` (mean gross margin of the
    repeat visits, yuan), indexed by customer_id; see :func:`crm_analytics.metrics.rfm.summarize_visits`.
    """
    t = pd.Timestamp(as_of) if as_of is not None else dealer.as_of
    return visit_summary(dealer.service_visits, t, dealer_id=dealer.dealer_id)


def visit_summary(
    visits: pd.DataFrame, as_of: pd.Timestamp, *, dealer_id: str = ""
) -> pd.DataFrame:
    """:func:`service_summary` of a service-visits table (e.g. read alone from a store with
    :func:`crm_analytics.data.store.read_table`) up to ``as_of`` (a date: the whole day)."""
    t = pd.Timestamp(as_of)
    end = (
        t.normalize() + pd.Timedelta(days=1) - pd.Timedelta(seconds=1) if t == t.normalize() else t
    )
    sv = visits[visits["at"] <= end]
    if sv.empty:
        raise InputError(
            f"dealer {dealer_id!r} has no service visits up to {t.date()}: no customer base to value"
        )
    return summarize_visits(sv, observation_end=end, time_unit="W", spend_cols=("margin",))


@dataclass
class BaseModels:
    """The fitted visit (count) and margin (spend) models behind probabilistic CLV."""

    count: Any
    spend: Any
    summary: pd.DataFrame
    as_of: pd.Timestamp


@dataclass(frozen=True)
class BasePriors:
    """The network's empirical-Bayes priors of the CLV base models
    (:class:`crm_analytics.models.btyd.NetworkPrior`, fitted on every dealer's service
    summary): ``visits`` for BG/NBD, ``spend`` for Gamma-Gamma; either may be None (its fit
    failed), and that model is then fitted on the dealer's data alone."""

    visits: NetworkPrior | None
    spend: NetworkPrior | None


def repeat_spenders(summary: pd.DataFrame) -> pd.DataFrame:
    """The customers of a service summary that the Gamma-Gamma spend model learns from: repeat
    visits and a positive mean margin."""
    return summary[(summary["frequency"] > 0) & (summary["monetary"] > 0)]


#: Fewest repeat customers with a positive margin for a dealer's own Gamma-Gamma fit (without
#: the network's spend prior).
MIN_SPEND_CUSTOMERS = 20


def fit_visit_model(
    summary: pd.DataFrame,
    *,
    l2_penalty: float = 0.0,
    max_customers: int | None = None,
    random_state: int = 0,
    dealer_id: str = "",
) -> BGNBD:
    """BG/NBD fitted on a service-visit summary, with the small-dealer handling.

    The one place where the package fits BG/NBD on service visits (probabilistic CLV, the
    churn features' P(alive), the call lists' BTYD scores). On a small dealer the unpenalised
    likelihood can peak at the boundary (``a`` and ``b`` growing without limit at a fixed
    dropout probability ``a/(a+b)``), so the fit does not converge. With ``l2_penalty=0`` the
    fit is then repeated with the smallest of :data:`FALLBACK_PENALTIES` that converges, and a
    :class:`~crm_analytics.core.errors.SmallDealerWarning` names it (the penalty used is the
    returned model's ``l2_penalty``). An explicit penalty is the caller's choice: no retry.

    Parameters
    ----------
    summary
        ``frequency``, ``recency``, ``T`` per customer
        (:func:`crm_analytics.metrics.rfm.summarize_visits`).
    l2_penalty
        Penalty of the first fit (0: unpenalised, with the retries above).
    max_customers
        Fit on a seeded random subsample of at most this many customers (the four parameters
        describe the population; a subsample estimates them as well and keeps large dealers
        fast). None: every customer.
    random_state
        Seed of the subsample.
    dealer_id
        Named in the warning.

    Returns
    -------
    BGNBD
        The fitted model.

    Raises
    ------
    ConvergenceError
        No penalty made the fit converge (or the explicit one did not).
    """
    fit_on = summary
    if max_customers is not None and len(summary) > max_customers:
        fit_on = summary.sample(int(max_customers), random_state=random_state)
    try:
        return BGNBD(l2_penalty=l2_penalty).fit(fit_on)
    except ConvergenceError as first:
        if l2_penalty > 0:
            raise
        for pen in FALLBACK_PENALTIES:
            try:
                count = BGNBD(l2_penalty=pen).fit(fit_on)
            except ConvergenceError:
                continue
            warnings.warn(
                f"dealer {dealer_id!r}: BG/NBD did not converge on {len(fit_on)} "
                f"customers without a penalty ({first}); refitted with l2_penalty={pen:g}.",
                SmallDealerWarning,
                stacklevel=3,
            )
            return count
        raise


def fit_base_models(
    dealer: DealerData,
    *,
    as_of: str | pd.Timestamp | None = None,
    l2_penalty: float = 0.0,
    network_prior: NetworkPrior | None = None,
    spend_prior: NetworkPrior | None = None,
) -> BaseModels:
    """Fit BG/NBD on the service visits and Gamma-Gamma on the repeat visits' margins.

    With ``network_prior`` (a fitted :class:`crm_analytics.models.btyd.NetworkPrior` with
    ``model="bgnbd"``, fitted on the network's service summaries), the BG/NBD fit is shrunk
    towards the network's parameters (empirical Bayes); a small dealer's fit then stays away
    from the boundary and no penalty retry is needed. Without it the visit model is
    :func:`fit_visit_model` (with its small-dealer penalty retries when ``l2_penalty=0``).
    ``spend_prior`` (``model="gammagamma"``, fitted on the network's repeat customers,
    :func:`repeat_spenders`) does the same for the spend model: a dealer with a few dozen
    repeat customers, whose own Gamma-Gamma likelihood peaks at the boundary, gets a fit
    between its own data and the network's; without it the dealer needs
    :data:`MIN_SPEND_CUSTOMERS` repeat customers and a fit that converges.
    """
    summary = service_summary(dealer, as_of=as_of)
    for prior, model in ((network_prior, "bgnbd"), (spend_prior, "gammagamma")):
        if prior is not None and getattr(prior, "model", None) != model:
            raise InputError(
                f"fit_base_models: a network prior for {model} must be a fitted "
                f"NetworkPrior(model='{model}'), got {prior!r}."
            )
    if network_prior is not None:
        count = network_prior.fit_dealer(summary)
    else:
        count = fit_visit_model(summary, l2_penalty=l2_penalty, dealer_id=dealer.dealer_id)
    rep = repeat_spenders(summary)
    fewest = 1 if spend_prior is not None else MIN_SPEND_CUSTOMERS
    if len(rep) < fewest:
        raise InsufficientDataError(
            f"dealer {dealer.dealer_id!r}: only {len(rep)} customers with repeat visits and a "
            f"positive margin; Gamma-Gamma needs at least {fewest}. Use a longer history or "
            "the network's spend prior."
        )
    if spend_prior is not None:
        spend = spend_prior.fit_dealer(rep)
    else:
        spend = GammaGamma(l2_penalty=l2_penalty).fit(rep)
    t = pd.Timestamp(as_of) if as_of is not None else dealer.as_of
    return BaseModels(count=count, spend=spend, summary=summary, as_of=t)


def _monthly_expected_visits(count, summary: pd.DataFrame, months: int) -> np.ndarray:
    """customers x months matrix of expected visits in each future month."""
    x = summary["frequency"].to_numpy(float)
    tx = summary["recency"].to_numpy(float)
    T = summary["T"].to_numpy(float)
    cum = np.column_stack(
        [np.zeros(len(x))]
        + [count.predict_expected_visits(m * MONTH_WEEKS, x, tx, T) for m in range(1, months + 1)]
    )
    return np.diff(cum, axis=1)


def _expected_margin(models: BaseModels) -> np.ndarray:
    s = models.summary
    x = s["frequency"].to_numpy(float)
    m = s["monetary"].fillna(0.0).clip(lower=0).to_numpy(float)
    return models.spend.predict_expected_spend(x, m)


def probabilistic_clv(
    models: BaseModels, *, horizon_months: int = 36, annual_discount: float = 0.08
) -> pd.DataFrame:
    """Expected discounted after-sales gross margin per customer over a horizon.

    ``CLV_i = sum_{m=1..H} E[visits_i in month m] * E[margin per visit_i] / (1 + d)^(m/12)``,
    with BG/NBD conditional expectations (Fader, Hardie & Lee 2005, eq. 10) and the Gamma-Gamma
    conditional mean spend (Fader, Hardie & Lee 2005b, eq. 5), discounted monthly.

    Returns
    -------
    pandas.DataFrame
        customer_id, p_alive, expected_visits, expected_margin_per_visit, clv.
    """
    if horizon_months < 1:
        raise InputError(f"horizon_months must be >= 1, got {horizon_months}")
    s = models.summary
    monthly = _monthly_expected_visits(models.count, s, horizon_months)
    disc = (1.0 + annual_discount) ** (-np.arange(1, horizon_months + 1) / 12.0)
    margin = _expected_margin(models)
    p_alive = models.count.predict_proba_alive(s["frequency"], s["recency"], s["T"])
    return pd.DataFrame(
        {
            "customer_id": s.index.to_numpy(),
            "p_alive": p_alive,
            "expected_visits": monthly.sum(axis=1),
            "expected_margin_per_visit": margin,
            "clv": (monthly * disc).sum(axis=1) * margin,
        }
    )


#: A log parameter whose standard error exceeds this is not identified by the data (a small
#: dealer's fit running along a ridge of its likelihood); its draws would be meaningless.
MAX_LOG_SD = 2.0


def _log_parameter_covariance(theta: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Covariance of the log parameters (delta method), made usable for sampling.

    A fit on the boundary of a small dealer's likelihood can give a covariance that is not
    finite, not positive semidefinite, or with a log standard error in the thousands for a
    parameter the data do not identify. Such parameters (standard error above
    :data:`MAX_LOG_SD`, or not finite) are held at their estimate; negative eigenvalues of the
    rest are set to zero. The interval then reflects the uncertainty the data do carry.
    """
    log_cov = cov / np.outer(theta, theta)
    log_cov = (log_cov + log_cov.T) / 2
    sd = np.sqrt(np.abs(np.diag(log_cov)))
    fixed = ~np.isfinite(sd) | (sd > MAX_LOG_SD) | ~np.isfinite(log_cov).all(axis=1)
    log_cov[fixed, :] = 0.0
    log_cov[:, fixed] = 0.0
    w, v = np.linalg.eigh(log_cov)
    return (v * np.clip(w, 0.0, None)) @ v.T


def project_customer_base(
    models: BaseModels,
    *,
    months: int = 36,
    n_sims: int = 300,
    level: float = 0.9,
    seed: int = 0,
) -> pd.DataFrame:
    """Expected service visits and after-sales gross margin per month from today's customer base.

    The point forecast is the sum of BG/NBD conditional expectations. The interval comes from
    simulating the BG/NBD story forward ``n_sims`` times: parameters drawn from their fitted
    sampling distribution (log-normal, from the fit's covariance), each customer alive with
    probability P(alive), a visit rate from its posterior Gamma(r + x, alpha + T) and a dropout
    probability from its posterior Beta(a, b + x); each month Poisson visits, and after each
    visit the customer drops out with that probability. Margins per visit are each customer's
    Gamma-Gamma expected margin.

    Returns
    -------
    pandas.DataFrame
        One row per month: month (first day), expected_visits, visits_low, visits_high,
        expected_margin, margin_low, margin_high.
    """
    if months < 1 or n_sims < 20:
        raise InputError("project_customer_base needs months >= 1 and n_sims >= 20")
    s = models.summary
    x = s["frequency"].to_numpy(float)
    tx = s["recency"].to_numpy(float)
    T = s["T"].to_numpy(float)
    margin = _expected_margin(models)
    point = _monthly_expected_visits(models.count, s, months)
    exp_visits = point.sum(axis=0)
    exp_margin = (point * margin[:, None]).sum(axis=0)

    rng = np.random.default_rng(seed)
    theta = models.count.params_.to_numpy(float)
    cov = _log_parameter_covariance(theta, models.count.covariance_.to_numpy(float))
    sims_v = np.empty((n_sims, months))
    sims_m = np.empty((n_sims, months))
    dt = MONTH_WEEKS
    for k in range(n_sims):
        r, alpha, a, b = theta * np.exp(rng.multivariate_normal(np.zeros(4), cov))
        log_div = (r + x) * np.log((alpha + T) / (alpha + tx)) + np.log(
            a / (b + np.maximum(x, 1.0) - 1.0)
        )
        pa = np.where(x == 0, 1.0, 1.0 / (1.0 + np.exp(log_div)))
        # each customer alive visits as a Poisson process (``lam`` visits a month) and drops
        # out after a visit with probability ``p``: simulated visit by visit (exponential
        # gaps), so the draws follow the visits made instead of every customer-month
        alive = np.flatnonzero(rng.random(len(x)) < pa)
        lam = rng.gamma(r + x[alive], 1.0 / (alpha + T[alive])) * dt
        p = rng.beta(a, b + x[alive])
        who, t = np.arange(len(alive)), np.zeros(len(alive))
        at, by = [], []
        while len(who):
            with np.errstate(divide="ignore"):  # a rate drawn as 0: no visit (t = inf)
                t = t + rng.standard_exponential(len(who)) / lam[who]
            inside = t < months
            who, t = who[inside], t[inside]
            at.append(t.astype(np.int64))
            by.append(who)
            stay = rng.random(len(who)) >= p[who]
            who, t = who[stay], t[stay]
        month, cust = np.concatenate(at), np.concatenate(by)
        sims_v[k] = np.bincount(month, minlength=months)
        sims_m[k] = np.bincount(month, weights=margin[alive][cust], minlength=months)
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    start = (models.as_of + pd.offsets.MonthBegin(1)).normalize()
    return pd.DataFrame(
        {
            "month": pd.date_range(start, periods=months, freq="MS"),
            "expected_visits": exp_visits,
            "visits_low": np.quantile(sims_v, lo, axis=0),
            "visits_high": np.quantile(sims_v, hi, axis=0),
            "expected_margin": exp_margin,
            "margin_low": np.quantile(sims_m, lo, axis=0),
            "margin_high": np.quantile(sims_m, hi, axis=0),
        }
    )


def backtest_projection(
    dealer: DealerData, *, cutoff: str | pd.Timestamp, months: int = 12, **kwargs
) -> pd.DataFrame:
    """Project from ``cutoff`` and compare with what the same customers really did afterwards.

    Returns the projection table with ``actual_visits`` and ``actual_margin`` per month (visits
    of customers who were in the base at the cutoff, counted per calendar day as in the fit).
    """
    cutoff = pd.Timestamp(cutoff)
    models = fit_base_models(dealer, as_of=cutoff)
    proj = project_customer_base(models, months=months, **kwargs)
    sv = dealer.service_visits
    end = cutoff.normalize() + pd.Timedelta(days=1)
    fut = sv[(sv["at"] >= end) & sv["customer_id"].isin(models.summary.index)]
    if fut.empty:
        raise InsufficientDataError(
            f"no service visits after the cutoff {cutoff.date()} to compare with"
        )
    day = (
        fut.assign(day=fut["at"].dt.normalize())
        .groupby(["customer_id", "day"], as_index=False)["margin"]
        .sum()
    )
    day["month"] = day["day"].dt.to_period("M").dt.to_timestamp()
    act = day.groupby("month").agg(
        actual_visits=("margin", "size"), actual_margin=("margin", "sum")
    )
    out = proj.merge(act, left_on="month", right_index=True, how="left")
    cols = ["actual_visits", "actual_margin"]
    out[cols] = out[cols].fillna(0.0)
    # months the data does not fully cover yet have no actuals
    last_full = (dealer.as_of + pd.Timedelta(days=1)).to_period(
        "M"
    ).to_timestamp() - pd.offsets.MonthBegin(1)
    out.loc[out["month"] > last_full, cols] = np.nan
    return out


def dormant_activation_list(
    dealer: DealerData,
    *,
    models: BaseModels | None = None,
    states: pd.DataFrame | None = None,
    horizon_months: int = 36,
) -> pd.DataFrame:
    """Dormant customers ranked by P(alive) x expected value (the deck's activation list).

    Parameters
    ----------
    models
        Fitted base models (fitted on the dealer when omitted).
    states
        Lifecycle states (computed with P(alive) when omitted).

    Returns
    -------
    pandas.DataFrame
        customer_id, months_since_visit, p_alive, clv, priority (= p_alive x clv), rank;
        no names or phones (join the customers table for a staff call list).
    """
    models = models or fit_base_models(dealer)
    clv = probabilistic_clv(models, horizon_months=horizon_months).set_index("customer_id")
    if states is None:
        states = lifecycle_states(dealer, as_of=models.as_of, p_alive=clv["p_alive"])
    dormant = states[states["state"] == "dormant"][["customer_id", "months_since_visit"]]
    out = dormant.merge(
        clv[["p_alive", "clv"]], left_on="customer_id", right_index=True, how="left"
    )
    out["priority"] = out["p_alive"] * out["clv"]
    out = out.sort_values(["priority", "customer_id"], ascending=[False, True], na_position="last")
    out["rank"] = np.arange(1, len(out) + 1)
    return out.reset_index(drop=True)
