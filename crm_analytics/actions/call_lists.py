"""Touch-point calendar and prioritized call lists (DIGEST sections 3-4).

The CRM department screens lists daily: insurance expiring, warranty and finance contracts
ending, maintenance due, recalls, dormant and defeated customers to activate, trade-in and
repurchase candidates, referral candidates. :func:`call_lists` builds all of them as of a date,
one row per (customer, reason), ordered by priority and assigned to an owner.

Priority
--------
``priority = priority_weight x value x likelihood`` where

* ``value`` (yuan) is the gross margin the action can bring, **observed in the dealer's own
  data** (mean renewal-policy margin, mean maintenance margin, mean gross margin of a delivered
  order, ...; see :func:`observed_values`); a customer-level ``expected_value`` passed in
  ``scores`` replaces it for the customer-value reasons (dormant activation, trade-in,
  referral);
* ``likelihood = base_rate(reason) x activity(customer)``. The base rate is observed where the
  data show it (insurance renewal and conquest rates of the last year; the won rate of referral
  leads) and otherwise an explicit assumption in ``params/actions.yaml``. ``activity`` is the
  probability that the customer is still active: ``p_alive`` (e.g. BG/NBD P(alive)) or
  ``1 - churn_probability`` from ``scores`` when given, else the transparent recency rule
  ``exp(-max(0, days since last contact - grace_days) / scale_days)``;
* ``priority_weight`` is a management choice per reason (recalls are a safety obligation).

So each list is ranked by the gross margin a call is expected to bring, ``expected_margin =
value x likelihood`` (the value at risk weighted by the chance the call wins it: the renewal
probability x the renewal margin; for dormant owners, with a ``clv`` score, activation rate x
P(alive) x CLV). ``list_rank`` is a row's rank inside its own list, and ``priority_rule`` states
the rule with that row's sources (``calls.attrs["priority_rules"]`` and
:func:`priority_rules` state it per list).

Expiry windows
--------------
The insurance, warranty and finance lists share one rule (:func:`expiry_window`): the list
for day D (the date of ``as_of``) holds every contract ending on D to D + N, whole calendar
days whatever the hour, that was not renewed by the end of D - 1 (records dated before D). A
policy ending at 15:00 on D is on D's list, and stays on it when it is renewed during D.
Renewed means: insurance, another policy of the vin starting no earlier than 30 days before
the end; warranty, an extended warranty on an order of the vin; finance, another vehicle
ordered by the customer after buying this one.

Owners
------
Sales reasons go to sales consultants, after-sales reasons to service advisors, only to staff
employed at ``as_of`` (hired, not left). Rows are assigned in priority order to the customer's
own consultant/advisor (latest lead / latest repair order) while that person's load is under the
cap ``max(ceil(mean), floor((1 + max_over_mean) x mean))`` of its role, otherwise to the least
loaded colleague; a customer keeps one owner per role across reasons when the cap allows.

Personal data
-------------
Call lists are contact lists for staff only when asked: ``contact=True`` keeps full names and
phones; the default masks them (:mod:`crm_analytics.data.privacy`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crm_analytics.core import config
from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.core.frames import isin
from crm_analytics.core.schema import ORDER_MARGIN_COLUMNS
from crm_analytics.data.export import write_table
from crm_analytics.data.privacy import mask_frame
from crm_analytics.metrics.contact import lost_contacts
from crm_analytics.metrics.lifecycle import dormant_owners
from crm_analytics.models.clv import BaseModels, probabilistic_clv

__all__ = [
    "REASONS",
    "SALES_ROLE",
    "SERVICE_ROLE",
    "load_params",
    "customer_activity",
    "btyd_scores",
    "observed_values",
    "priority_rules",
    "expiry_window",
    "call_lists",
    "touch_calendar",
    "owner_load",
    "export_call_list",
]

SALES_ROLE = "sales_consultant"
SERVICE_ROLE = "service_advisor"

#: The reasons a customer is put on a list, in the order of the deck's CRM department.
REASONS: tuple[str, ...] = (
    "insurance_renewal",
    "warranty_end",
    "finance_end",
    "maintenance_due",
    "recall",
    "dormant_activation",
    "defeated_reactivation",
    "trade_in",
    "referral",
    "recontact",
)


#: Fallback values (yuan) when the dealer's data hold no example to average.
_FALLBACK_VALUES: dict[str, float] = {
    "insurance_renewal": 900.0,
    "warranty_end": 1600.0,
    "maintenance": 500.0,
    "recall": 100.0,
    "annual_service": 1500.0,
    "order_gross": 10000.0,
    "trade_in": 2500.0,
}


_OUT_COLUMNS = [
    "rank",
    "customer_id",
    "customer_name",
    "customer_phone",
    "reason",
    "detail",
    "refs",
    "n_items",
    "due_date",
    "window_days",
    "value",
    "base_rate",
    "activity",
    "likelihood",
    "expected_margin",
    "priority",
    "list_rank",
    "priority_rule",
    "owner_id",
    "owner_role",
    "script_key",
]

#: What a row's ``value`` is, per reason, when no customer-level score replaces it.
_VALUE_SOURCES: dict[str, str] = {
    "insurance_renewal": "mean margin of a renewal policy sold here",
    "warranty_end": "mean extended-warranty margin",
    "finance_end": "mean gross margin of a delivered order",
    "maintenance_due": "mean margin of a maintenance visit",
    "recall": "mean margin of a recall visit",
    "dormant_activation": "service margin of a year per active customer",
    "defeated_reactivation": "mean gross margin of an order of the model of interest",
    "trade_in": "mean order gross margin + mean trade-in margin",
    "referral": "mean gross margin of a delivered order",
    "recontact": "service margin of a year per active customer",
}
#: What a call of each reason succeeds at (its base rate is the probability of it).
_SUCCESS: dict[str, str] = {
    "insurance_renewal": "P(renewed here)",
    "warranty_end": "P(buys an extended warranty)",
    "finance_end": "P(buys again)",
    "maintenance_due": "P(books the visit)",
    "recall": "P(brings the car in)",
    "dormant_activation": "P(comes back)",
    "defeated_reactivation": "win-back rate of the defeat reason",
    "trade_in": "P(trades in and buys)",
    "referral": "P(refers a buyer)",
    "recontact": "P(a new number is found)",
}

#: reasons whose value a customer-level score (CLV, expected value) replaces
_SCORED_VALUE = ("dormant_activation", "trade_in", "referral", "recontact")

_DAY = pd.Timedelta(days=1)
#: Touchpoint kinds initiated by the dealer alone (not evidence that the customer is active).
_OUTBOUND_KINDS = ("call", "invitation", "solicitation")


# -- parameters -------------------------------------------------------------------------------
def _merge(base: dict, over: Mapping) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_params(
    path: str | Path | None = None, *, overrides: Mapping | None = None
) -> dict[str, Any]:
    """Call-list parameters: ``params/actions.yaml``, updated by a YAML file and ``overrides``.

    Every file is read by :func:`crm_analytics.core.config.load_params`; nested mappings are
    merged key by key (``{"reasons": {"recall": {"priority_weight": 1.0}}}`` changes one
    value), and the result is checked against the keys of ``params/actions.yaml``.

    Parameters
    ----------
    path
        A YAML file shaped like ``params/actions.yaml`` (any subset of keys).
    overrides
        A nested mapping applied last (same shape).

    Returns
    -------
    dict
        A new, complete parameter dict.

    Raises
    ------
    InputError
        When a file is missing or not a YAML mapping, or a key or reason is unknown.
    """
    defaults = config.load_params("actions")
    changes: dict[str, Any] = {}
    for layer in (config.load_params(path) if path is not None else None, overrides):
        if layer:
            changes = _merge(changes, layer)
    # top-level keys go through core.config (which rejects unknown ones), each merged over
    # its default first so that a partial mapping changes only the keys it names
    top = {
        k: _merge(defaults[k], v)
        if isinstance(v, Mapping) and isinstance(defaults.get(k), dict)
        else copy.deepcopy(v)
        for k, v in changes.items()
    }
    params = config.load_params("actions", overrides=top)
    unknown = set(params["reasons"]) - set(REASONS)
    if unknown:
        raise InputError(
            f"actions parameters: unknown reasons {sorted(unknown)}; known: {list(REASONS)}"
        )
    return params


# -- inputs -----------------------------------------------------------------------------------
def _as_of(dealer: DealerData, as_of: object) -> pd.Timestamp:
    if as_of is None:
        return pd.Timestamp(dealer.as_of)
    try:
        ts = pd.Timestamp(as_of)
    except (TypeError, ValueError) as err:
        raise InputError(
            f"call_lists: as_of={as_of!r} is not a date; pass e.g. '2026-06-30'"
        ) from err
    if ts > pd.Timestamp(dealer.as_of) + _DAY:
        raise InputError(
            f"call_lists: as_of={ts.date()} is after the data's extraction date {pd.Timestamp(dealer.as_of).date()}; "
            "pass a date on or before it"
        )
    return ts


def _scores_frame(scores: object) -> pd.DataFrame:
    """Normalise ``scores`` to a frame indexed by customer_id.

    Columns ``p_alive``, ``expected_value``, ``clv`` (NaN where not given) and ``p_alive_from``
    (``"P(alive)"`` or ``"1 - P(churn)"``: which score the activity comes from).
    """
    if scores is None:
        out = pd.DataFrame(columns=["p_alive", "expected_value", "clv"], dtype=float)
        out["p_alive_from"] = pd.Series(dtype=object)
        return out
    if isinstance(scores, pd.Series):
        frame = scores.rename("p_alive").to_frame()
    elif isinstance(scores, Mapping):
        frame = pd.Series(dict(scores), dtype=float).rename("p_alive").to_frame()
    elif isinstance(scores, pd.DataFrame):
        frame = scores.set_index("customer_id") if "customer_id" in scores.columns else scores
    else:
        raise InputError(
            f"call_lists: scores must be a DataFrame, Series or mapping keyed by customer_id, got {type(scores).__name__}"
        )
    frame = frame.copy()
    frame.index = frame.index.astype(str)
    out = pd.DataFrame(index=frame.index)
    if "p_alive" in frame.columns:
        out["p_alive"] = pd.to_numeric(frame["p_alive"], errors="coerce")
        out["p_alive_from"] = "P(alive)"
    elif "churn_probability" in frame.columns:
        out["p_alive"] = 1.0 - pd.to_numeric(frame["churn_probability"], errors="coerce")
        out["p_alive_from"] = "1 - P(churn)"
    else:
        out["p_alive"] = np.nan
        out["p_alive_from"] = None
    for col in ("expected_value", "clv"):
        out[col] = pd.to_numeric(frame[col], errors="coerce") if col in frame.columns else np.nan
    bad_value = out["clv"] < 0
    if bad_value.any():
        raise InputError(
            f"call_lists: scores clv must be >= 0 (yuan); {int(bad_value.sum())} rows are not, "
            f"e.g. customers {list(out.index[bad_value][:5])}"
        )
    bad = out["p_alive"].notna() & ~out["p_alive"].between(0.0, 1.0)
    if bad.any():
        raise InputError(
            f"call_lists: scores p_alive / churn_probability must lie in [0, 1]; {int(bad.sum())} rows do not, "
            f"e.g. customers {list(out.index[bad][:5])}"
        )
    if out.index.duplicated().any():
        raise InputError("call_lists: scores has duplicated customer_id; pass one row per customer")
    return out


def _upto(df: pd.DataFrame, col: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """Rows dated on or before the as-of *date* (the whole as-of day counts, as in validation)."""
    cut = as_of.normalize() + _DAY
    return df[df[col].notna() & (df[col] < cut)] if len(df) else df


def customer_activity(
    dealer: DealerData,
    *,
    as_of: object = None,
    scores: object = None,
    grace_days: float = 180,
    scale_days: float = 365,
) -> pd.DataFrame:
    """Probability that each customer is still active, and where it came from.

    Parameters
    ----------
    dealer
        The dealer.
    as_of
        Date of the lists (default ``dealer.as_of``); later records are ignored.
    scores
        Optional customer_id -> ``p_alive`` (or a frame with ``p_alive`` or
        ``churn_probability``); used where present.
    grace_days, scale_days
        The recency rule ``exp(-max(0, days since last contact - grace_days) / scale_days)``.
        A contact is any dated record of the customer (repair order, lead, order delivery,
        answered survey, vehicle bought here, touchpoint) except the dealer's own outbound
        calls, invitations and solicitations.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer_id: ``last_contact``, ``days_since``, ``activity`` and
        ``activity_source`` (``"scores"`` or ``"recency"``).
    """
    as_of = _as_of(dealer, as_of)
    if scale_days <= 0:
        raise InputError(f"customer_activity: scale_days must be > 0, got {scale_days}")
    parts = []
    for table, col in (
        ("service_visits", "at"),
        ("touchpoints", "at"),
        ("surveys", "at"),
        ("leads", "created_at"),
        ("orders", "delivered_at"),
        ("customers", "created_at"),
    ):
        t = _upto(dealer.tables[table], col, as_of)
        if table == "touchpoints" and len(t):
            # the dealer's own outbound attempts say nothing about the customer being active
            t = t[~t["kind"].isin(_OUTBOUND_KINDS)]
        if len(t):
            parts.append(t[["customer_id", col]].rename(columns={col: "t"}))
    v = _upto(dealer.vehicles, "purchase_date", as_of)
    v = v[v["sold_by_this_dealer"].astype(bool)]
    if len(v):
        parts.append(v[["customer_id", "purchase_date"]].rename(columns={"purchase_date": "t"}))
    ids = dealer.customers["customer_id"].astype(str)
    if parts:
        allt = pd.concat(parts, ignore_index=True)
        last = allt.groupby("customer_id")["t"].max()
    else:
        last = pd.Series(dtype="datetime64[ns]")
    out = pd.DataFrame(index=pd.Index(ids.unique(), name="customer_id"))
    out["last_contact"] = last.reindex(out.index)
    out["days_since"] = (as_of - out["last_contact"]) / _DAY
    rec = np.exp(-np.clip(out["days_since"].to_numpy(float) - grace_days, 0, None) / scale_days)
    rec = np.where(np.isnan(rec), 0.0, rec)  # never in contact before as_of: not active
    sc = _scores_frame(scores)
    p = sc["p_alive"].reindex(out.index)
    out["activity"] = np.where(p.notna(), p, rec)
    out["activity_source"] = np.where(p.notna(), "scores", "recency")
    return out


def btyd_scores(
    models: BaseModels, *, horizon_months: int = 36, annual_discount: float = 0.08
) -> pd.DataFrame:
    """BG/NBD P(alive) and CLV from fitted base models, ready for ``call_lists(scores=)``.

    Nothing is fitted here: fit the models with :func:`crm_analytics.models.clv.fit_base_models`
    (BG/NBD on the service-visit summary up to its ``as_of``, visits on the same day counting
    once) and pass them in::

        scores = btyd_scores(fit_base_models(dealer))
        calls = call_lists(dealer, scores=scores)

    Not the default of :func:`call_lists`: on the simulator (whose owners drop out at rates
    driven by distance, satisfaction, complaints and warranty end, not by a BG/NBD process) the
    recency rule ranks truly active owners better (AUC 0.91 vs 0.68 for BG/NBD P(alive) on a
    2,500-customer dealer), and BG/NBD sets P(alive) = 1 for every one-visit customer however
    long ago the visit was. Pass these scores where the BG/NBD fit is validated on real data.

    The ``clv`` column (:func:`crm_analytics.models.clv.probabilistic_clv`, a prediction of
    the fitted models) makes the dormant-activation list rank by value at risk,
    activation rate x P(alive) x CLV: the deck's activation list.

    Parameters
    ----------
    models
        Fitted base models (``models.count`` a fitted BG/NBD, ``models.spend`` a fitted
        Gamma-Gamma, ``models.summary`` their data).
    horizon_months, annual_discount
        Of the CLV (see :func:`crm_analytics.models.clv.probabilistic_clv`).

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``p_alive``, ``frequency``, ``recency``, ``T`` (weeks), ``clv``
        (yuan of discounted after-sales gross margin), one row per customer with a service
        visit up to ``models.as_of``.
    """
    s = models.summary
    p = models.count.predict_proba_alive(s["frequency"], s["recency"], s["T"])
    out = s[["frequency", "recency", "T"]].copy()
    out.insert(0, "p_alive", np.clip(p, 0.0, 1.0))
    out = out.rename_axis("customer_id").reset_index()
    clv = probabilistic_clv(models, horizon_months=horizon_months, annual_discount=annual_discount)
    out["clv"] = clv.set_index("customer_id")["clv"].reindex(out["customer_id"]).to_numpy(float)
    return out


def _mean(s: pd.Series, fallback: float) -> float:
    s = pd.to_numeric(s, errors="coerce").dropna()
    return float(s.mean()) if len(s) else float(fallback)


def observed_values(dealer: DealerData, *, as_of: object = None) -> dict[str, float]:
    """Average margins (yuan) and rates observed in the dealer's data up to ``as_of``.

    Returns
    -------
    dict
        ``insurance_renewal`` (mean margin of renewal policies sold here), ``warranty_end``
        (mean extended-warranty margin), ``maintenance`` (mean margin of a maintenance visit),
        ``recall`` (mean margin of a recall visit), ``annual_service`` (service margin of the
        last 365 days per customer who visited), ``order_gross`` (mean total gross margin of a
        delivered order), ``trade_in`` (mean trade-in margin), ``renewal_rate_sold_here`` /
        ``renewal_rate_sold_elsewhere`` (share of policies ending in the last 365 days whose next
        policy was sold here), ``referral_won_rate`` (won share of closed referral leads).
        Where the data hold no example, a documented fallback is used (see ``_FALLBACK_VALUES``)
        and rates are NaN.
    """
    as_of = _as_of(dealer, as_of)
    pol = _upto(dealer.insurance_policies, "start", as_of)
    sv = _upto(dealer.service_visits, "at", as_of)
    orders = _upto(dealer.orders, "delivered_at", as_of)
    orders = orders[orders["status"] == "delivered"] if len(orders) else orders
    out: dict[str, float] = {}
    here = pol[pol["sold_by_this_dealer"].astype(bool)] if len(pol) else pol
    ren = here[here["renewal"].astype(bool)] if len(here) else here
    out["insurance_renewal"] = _mean(
        ren["margin"] if len(ren) else here.get("margin", pd.Series(dtype=float)),
        _FALLBACK_VALUES["insurance_renewal"],
    )
    ew = orders[orders["extended_warranty"].astype(bool)] if len(orders) else orders
    out["warranty_end"] = _mean(
        ew.get("extended_warranty_margin", pd.Series(dtype=float)), _FALLBACK_VALUES["warranty_end"]
    )
    out["maintenance"] = _mean(
        sv.loc[sv["kind"] == "maintenance", "margin"] if len(sv) else pd.Series(dtype=float),
        _FALLBACK_VALUES["maintenance"],
    )
    out["recall"] = _mean(
        sv.loc[sv["kind"] == "recall", "margin"] if len(sv) else pd.Series(dtype=float),
        _FALLBACK_VALUES["recall"],
    )
    last_year = sv[sv["at"] > as_of - 365 * _DAY] if len(sv) else sv
    n_cust = last_year["customer_id"].nunique() if len(last_year) else 0
    out["annual_service"] = (
        float(last_year["margin"].sum() / n_cust) if n_cust else _FALLBACK_VALUES["annual_service"]
    )
    gross = (
        orders[list(ORDER_MARGIN_COLUMNS)].sum(axis=1) if len(orders) else pd.Series(dtype=float)
    )
    out["order_gross"] = _mean(gross, _FALLBACK_VALUES["order_gross"])
    ti = orders[orders["trade_in"].astype(bool)] if len(orders) else orders
    out["trade_in"] = _mean(
        ti.get("trade_in_margin", pd.Series(dtype=float)), _FALLBACK_VALUES["trade_in"]
    )
    # renewal / conquest rates: policies ending in the last 365 days, next policy of the same vin
    ended = pol[(pol["end"] <= as_of) & (pol["end"] > as_of - 365 * _DAY)] if len(pol) else pol
    for key, flag in (("renewal_rate_sold_here", True), ("renewal_rate_sold_elsewhere", False)):
        e = ended[ended["sold_by_this_dealer"].astype(bool) == flag] if len(ended) else ended
        if not len(e):
            out[key] = float("nan")
            continue
        nxt = pol[["vin", "start", "sold_by_this_dealer"]].rename(
            columns={"start": "next_start", "sold_by_this_dealer": "next_here"}
        )
        m = e[["policy_id", "vin", "end"]].merge(nxt, on="vin")
        m = m[(m["next_start"] >= m["end"] - 30 * _DAY) & (m["next_start"] <= m["end"] + 60 * _DAY)]
        won = set(m.loc[m["next_here"].astype(bool), "policy_id"])
        out[key] = len(won & set(e["policy_id"])) / len(e)
    leads = dealer.leads
    ref = (
        leads[
            (leads["channel"] == "referral")
            & leads["closed_at"].notna()
            & (leads["closed_at"] < as_of.normalize() + _DAY)
        ]
        if len(leads)
        else leads
    )
    out["referral_won_rate"] = float((ref["status"] == "won").mean()) if len(ref) else float("nan")
    return out


# -- reasons -> items (one row per policy / vehicle / lead) -----------------------------------
def _items_frame(**cols: Any) -> pd.DataFrame:
    return pd.DataFrame(cols)


def expiry_window(ends: pd.Series, day: object, n_days: int) -> pd.Series:
    """Contracts ending on ``day`` .. ``day + n_days``: whole calendar days, any time of day.

    The one window of the expiry lists (insurance renewal, warranty end, finance end): the
    list for day D holds every contract whose end falls on D, D + 1, ..., D + N, from
    00:00 of D to 24:00 of D + N, whatever the time of ``day`` itself.

    Parameters
    ----------
    ends
        End timestamps of the contracts (missing ends are outside).
    day
        The list date D (its time of day is ignored).
    n_days
        N, the last day of the window counted from D.

    Returns
    -------
    pandas.Series
        Boolean, aligned with ``ends``.
    """
    d0 = pd.Timestamp(day).normalize()
    return ends.notna() & (ends >= d0) & (ends < d0 + (int(n_days) + 1) * _DAY)


def _known_before(df: pd.DataFrame, col: str, day: pd.Timestamp) -> pd.DataFrame:
    """Rows dated before day D: what the records held at the end of D - 1."""
    return df[df[col].notna() & (df[col] < day)] if len(df) else df


def _renewed_policies(policies: pd.DataFrame, cand: pd.DataFrame) -> set:
    """Candidate policies already renewed: another policy of the same vin starting no earlier
    than 30 days before this one's end (renewals start at, or shortly before, the old end)."""
    later = policies[["policy_id", "vin", "start"]].rename(
        columns={"policy_id": "next_id", "start": "s2"}
    )
    m = cand[["policy_id", "vin", "end"]].merge(later, on="vin")
    m = m[(m["next_id"] != m["policy_id"]) & (m["s2"] >= m["end"] - 30 * _DAY)]
    return set(m["policy_id"])


def _insurance(ctx: dict) -> pd.DataFrame:
    """Policies ending on D .. D + 90 (whole days) not renewed by the end of D - 1."""
    prm = ctx["params"]["reasons"]["insurance_renewal"]
    day = ctx["as_of"].normalize()
    windows = sorted(int(w) for w in prm["windows"])
    known = _known_before(ctx["policies"], "start", day)
    if not len(known):
        return pd.DataFrame()
    cand = known[expiry_window(known["end"], day, windows[-1])]
    cand = cand[~isin(cand["policy_id"], _renewed_policies(known, cand))]
    if not len(cand):
        return pd.DataFrame()
    days = ((cand["end"].dt.normalize() - day) / _DAY).to_numpy(float)
    band = np.select([days <= w for w in windows], windows, default=windows[-1])
    here = cand["sold_by_this_dealer"].astype(bool).to_numpy()
    obs = ctx["values"]
    r_here = prm["base_rate_sold_here"]
    r_else = prm["base_rate_sold_elsewhere"]
    r_here = obs["renewal_rate_sold_here"] if r_here is None else r_here
    r_else = obs["renewal_rate_sold_elsewhere"] if r_else is None else r_else
    r_here = 0.0 if r_here is None or math.isnan(r_here) else float(r_here)
    r_else = 0.0 if r_else is None or math.isnan(r_else) else float(r_else)
    scripts = ctx["params"]["scripts"]["insurance_renewal"]
    return _items_frame(
        customer_id=cand["customer_id"].to_numpy(),
        reason="insurance_renewal",
        ref=cand["policy_id"].to_numpy(),
        due_date=cand["end"].to_numpy(),
        window_days=band.astype(float),
        value=obs["insurance_renewal"],
        base_rate=np.where(here, r_here, r_else),
        script_key=np.where(here, scripts["sold_here"], scripts["sold_elsewhere"]),
        detail=np.where(here, "policy sold here", "policy sold elsewhere"),
    )


def _renewed_vehicles(ctx: dict, reason: str, cand: pd.DataFrame, day: pd.Timestamp) -> set:
    """Vins whose ending contract was renewed by the end of D - 1.

    * warranty end: an extended warranty recorded on an order of the vin;
    * finance end: the customer ordered another vehicle here after buying this one (the
      repurchase the call is for); cancelled orders do not count.
    """
    orders = _known_before(ctx["orders"], "ordered_at", day)
    if not len(orders) or not len(cand):
        return set()
    if reason == "warranty_end":
        return set(orders.loc[orders["extended_warranty"].astype(bool), "vin"].dropna())
    live = orders[orders["status"] != "cancelled"]
    m = cand[["vin", "customer_id", "purchase_date"]].merge(
        live[["customer_id", "vin", "ordered_at"]].rename(columns={"vin": "order_vin"}),
        on="customer_id",
    )
    m = m[(m["order_vin"] != m["vin"]) & (m["ordered_at"] > m["purchase_date"])]
    return set(m["vin"])


def _vehicle_window(ctx: dict, reason: str, col: str, value: float, detail: str) -> pd.DataFrame:
    """Vehicles whose ``col`` contract ends on D .. D + N (whole days), not renewed by D - 1."""
    prm = ctx["params"]["reasons"][reason]
    day = ctx["as_of"].normalize()
    v = _known_before(ctx["vehicles"], "purchase_date", day)
    if not len(v):
        return pd.DataFrame()
    c = v[expiry_window(v[col], day, int(prm["window_days"]))]
    c = c[~isin(c["vin"], _renewed_vehicles(ctx, reason, c, day))]
    return _items_frame(
        customer_id=c["customer_id"].to_numpy(),
        reason=reason,
        ref=c["vin"].to_numpy(),
        due_date=c[col].to_numpy(),
        window_days=float(prm["window_days"]),
        value=value,
        base_rate=float(prm["base_rate"]),
        script_key=ctx["params"]["scripts"][reason]["default"],
        detail=detail,
    )


def _last_service(ctx: dict) -> pd.DataFrame:
    """Per vin: date and mileage of the latest repair order up to as_of."""
    sv = ctx["service"]
    cols = ["vin", "at", "mileage", "customer_id", "advisor_id"]
    if not len(sv):
        return pd.DataFrame(
            {c: pd.Series(dtype="datetime64[ns]" if c == "at" else object) for c in cols}
        )
    s = sv.sort_values(["vin", "at"])
    return s.groupby("vin", as_index=False).last()[
        ["vin", "at", "mileage", "customer_id", "advisor_id"]
    ]


def _maintenance(ctx: dict) -> pd.DataFrame:
    v, as_of, prm = ctx["vehicles"], ctx["as_of"], ctx["params"]["reasons"]["maintenance_due"]
    last = ctx["last_service"]
    if not len(v):
        return pd.DataFrame()
    base = v[["vin", "customer_id", "purchase_date", "sold_by_this_dealer"]].merge(
        last[["vin", "at", "mileage"]], on="vin", how="left"
    )
    # a vehicle sold here and never serviced counts from its delivery (mileage 0)
    base = base[base["at"].notna() | base["sold_by_this_dealer"].astype(bool)]
    base_at = base["at"].fillna(base["purchase_date"])
    km = base["mileage"].fillna(0.0)
    age_days = (base["at"] - base["purchase_date"]) / _DAY
    km_per_day = (km / age_days).where(age_days > 30)
    due_time = base_at + float(prm["interval_days"]) * _DAY
    days_to_km = (float(prm["interval_km"]) / km_per_day).where(km_per_day > 0)
    due_km = base_at + pd.to_timedelta(days_to_km, unit="D")
    due = due_time.where(due_km.isna() | (due_time <= due_km), due_km)
    lo = as_of - float(prm["overdue_grace_days"]) * _DAY
    hi = as_of + float(prm["window_days"]) * _DAY
    sel = (due >= lo) & (due <= hi)
    b, d = base[sel], due[sel]
    scripts = ctx["params"]["scripts"]["maintenance_due"]
    overdue = (d < as_of).to_numpy()
    return _items_frame(
        customer_id=b["customer_id"].to_numpy(),
        reason="maintenance_due",
        ref=b["vin"].to_numpy(),
        due_date=d.to_numpy(),
        window_days=float(prm["window_days"]),
        value=ctx["values"]["maintenance"],
        base_rate=float(prm["base_rate"]),
        script_key=np.where(overdue, scripts["overdue"], scripts["upcoming"]),
        detail=np.where(overdue, "maintenance overdue", "maintenance due"),
    )


def _recall(ctx: dict) -> pd.DataFrame:
    v, as_of, prm = ctx["vehicles"], ctx["as_of"], ctx["params"]["reasons"]["recall"]
    sv = ctx["service"]
    if not len(v):
        return pd.DataFrame()
    done = set(sv.loc[sv["kind"] == "recall", "vin"]) if len(sv) else set()
    c = v[v["recall_campaign"].notna() & ~isin(v["vin"], done)]
    return _items_frame(
        customer_id=c["customer_id"].to_numpy(),
        reason="recall",
        ref=c["vin"].to_numpy(),
        due_date=as_of + float(prm["due_in_days"]) * _DAY,
        window_days=np.nan,
        value=ctx["values"]["recall"],
        base_rate=float(prm["base_rate"]),
        script_key=ctx["params"]["scripts"]["recall"]["default"],
        detail=("campaign " + c["recall_campaign"].astype(str)).to_numpy(),
    )


def _dormant(ctx: dict) -> pd.DataFrame:
    """Owners in the lifecycle state ``dormant`` (the one dormancy rule: params/lifecycle.yaml)."""
    as_of, prm = ctx["as_of"], ctx["params"]["reasons"]["dormant_activation"]
    dormant = (
        dormant_owners(ctx["dealer"], as_of=as_of, p_alive=ctx["p_alive"])
        if ctx["states"] is None
        else dormant_owners(states=ctx["states"])
    )
    if not len(dormant):
        return pd.DataFrame()
    # every dormant owner, those who bought here and never came for service included
    c = dormant.set_index("customer_id")
    last, bought = c["last_visit"], c["purchase_date"]
    detail = np.where(
        last.notna(),
        "last service " + last.dt.date.astype(str),
        "no service visit here; bought " + bought.dt.date.astype(str),
    )
    # the after-sales value at risk: the customer's CLV when scored, else its value, else the
    # observed service margin of a year
    clv = ctx["scores"]["clv"].reindex(c.index)
    ev = ctx["scores"]["expected_value"].reindex(c.index)
    value = clv.fillna(ev).fillna(ctx["values"]["annual_service"]).to_numpy(float)
    source = np.where(
        clv.notna(),
        "after-sales CLV from scores",
        np.where(ev.notna(), "customer value from scores", _VALUE_SOURCES["dormant_activation"]),
    )
    return _items_frame(
        customer_id=c.index.to_numpy(),
        reason="dormant_activation",
        ref=c.index.to_numpy(),
        due_date=as_of + float(prm["due_in_days"]) * _DAY,
        window_days=np.nan,
        value=value,
        base_rate=float(prm["base_rate"]),
        script_key=ctx["params"]["scripts"]["dormant_activation"]["default"],
        detail=detail,
        value_source=source,
    )


def _defeated(ctx: dict) -> pd.DataFrame:
    as_of, prm = ctx["as_of"], ctx["params"]["reasons"]["defeated_reactivation"]
    leads = ctx["leads"]
    if not len(leads):
        return pd.DataFrame()
    d = leads[
        (leads["status"] == "defeated")
        & leads["closed_at"].notna()
        & (leads["closed_at"] < as_of.normalize() + _DAY)
    ]
    d = d[d["defeat_reason"].isin(list(prm["windows"]))]
    days = (as_of - d["closed_at"]) / _DAY
    lo = d["defeat_reason"].map(lambda r: prm["windows"][r][0]).astype(float)
    hi = d["defeat_reason"].map(lambda r: prm["windows"][r][1]).astype(float)
    d = d[(days >= lo) & (days <= hi)]
    # bought since, or back in the pipeline: not a defeated customer any more
    won_or_open = leads[
        (leads["status"] == "open") | ((leads["status"] == "won") & (leads["created_at"] <= as_of))
    ]
    orders = ctx["orders"]
    active = set(won_or_open["customer_id"]) | set(orders["customer_id"])
    d = d[~isin(d["customer_id"], active)]
    gross_by_model = ctx["gross_by_model"]
    value = (
        d["model_interest"].map(gross_by_model).fillna(ctx["values"]["order_gross"]).to_numpy(float)
    )
    return _items_frame(
        customer_id=d["customer_id"].to_numpy(),
        reason="defeated_reactivation",
        ref=d["lead_id"].to_numpy(),
        due_date=as_of + float(prm["due_in_days"]) * _DAY,
        window_days=np.nan,
        value=value,
        base_rate=d["defeat_reason"].map(lambda r: float(prm["base_rates"][r])).to_numpy(float),
        script_key=d["defeat_reason"]
        .map(ctx["params"]["scripts"]["defeated_reactivation"])
        .to_numpy(),
        detail=(
            "defeated: " + d["defeat_reason"].astype(str) + ", " + d["model_interest"].astype(str)
        ).to_numpy(),
        preferred_owner=d["consultant_id"].to_numpy(),
    )


def _add_years(t: np.ndarray, years: np.ndarray) -> np.ndarray:
    """``t + pd.DateOffset(years=years)`` element-wise (Feb 29 to Feb 28 in a common year; the
    time of day kept), without a Python loop over the rows."""
    t = np.asarray(t, dtype="datetime64[ns]")
    day = t.astype("datetime64[D]")
    month = day.astype("datetime64[M]")
    y = month.astype("datetime64[Y]")
    to = (y + np.asarray(years, dtype=int)).astype("datetime64[M]") + (
        month - y.astype("datetime64[M]")
    )
    last = ((to + 1).astype("datetime64[D]") - to.astype("datetime64[D]")).astype(int)
    dom = np.minimum((day - month.astype("datetime64[D]")).astype(int), last - 1)
    return to.astype("datetime64[D]") + dom + (t - day.astype("datetime64[ns]"))


def _trade_in(ctx: dict) -> pd.DataFrame:
    v, as_of, prm = ctx["vehicles"], ctx["as_of"], ctx["params"]["reasons"]["trade_in"]
    horizon = as_of + float(ctx["params"]["horizon_days"]) * _DAY
    if not len(v):
        return pd.DataFrame()
    # the customer's newest vehicle only: an older car of a customer who bought again is done
    newest = v.sort_values("purchase_date").groupby("customer_id").tail(1)
    years_now = (as_of - newest["purchase_date"]) / _DAY / 365.25
    whole = np.floor(years_now.to_numpy(float))
    anniv = pd.Series(
        _add_years(newest["purchase_date"].to_numpy("datetime64[ns]"), whole.astype(int) + 1),
        index=newest.index,
        dtype="datetime64[ns]",
    )
    age_at = whole + 1
    sel = (
        (anniv > as_of)
        & (anniv <= horizon)
        & (age_at >= prm["min_vehicle_age_years"])
        & (age_at <= prm["max_vehicle_age_years"])
    )
    c = newest[sel]
    ev = ctx["scores"]["expected_value"].reindex(c["customer_id"])
    base_value = ctx["values"]["order_gross"] + ctx["values"]["trade_in"]
    value = ev.fillna(base_value).to_numpy(float)
    source = np.where(ev.notna(), "customer value from scores", _VALUE_SOURCES["trade_in"])
    return _items_frame(
        customer_id=c["customer_id"].to_numpy(),
        reason="trade_in",
        ref=c["vin"].to_numpy(),
        due_date=anniv[sel].to_numpy(),
        window_days=np.nan,
        value=value,
        base_rate=float(prm["base_rate"]),
        script_key=ctx["params"]["scripts"]["trade_in"]["default"],
        value_source=source,
        detail=(
            c["model"].astype(str)
            + ", "
            + age_at[sel.to_numpy()].astype(int).astype(str)
            + " years"
        ).to_numpy(),
    )


def _referral(ctx: dict) -> pd.DataFrame:
    as_of, prm = ctx["as_of"], ctx["params"]["reasons"]["referral"]
    s = ctx["surveys"]
    s = s[
        s["kind"].isin(["delivery_interview", "sales_satisfaction", "service_satisfaction"])
        & s["score"].notna()
    ]
    s = s[s["at"] > as_of - float(prm["lookback_days"]) * _DAY]
    if not len(s):
        return pd.DataFrame()
    latest = s.sort_values("at").groupby("customer_id").tail(1)
    latest = latest[latest["score"] >= float(prm["min_score"])]
    due = (latest["at"] + float(prm["due_after_survey_days"]) * _DAY).where(
        latest["at"] + float(prm["due_after_survey_days"]) * _DAY > as_of, as_of + _DAY
    )
    horizon = as_of + float(ctx["params"]["horizon_days"]) * _DAY
    keep = due <= horizon
    latest, due = latest[keep], due[keep]
    rate = prm["base_rate"]
    if rate is None:  # P(the call yields a referral lead) x P(a referral lead is won)
        won = ctx["values"]["referral_won_rate"]
        rate = 0.0 if math.isnan(won) else float(prm["lead_yield"]) * won
    ev = ctx["scores"]["expected_value"].reindex(latest["customer_id"])
    value = ev.fillna(ctx["values"]["order_gross"]).to_numpy(float)
    source = np.where(ev.notna(), "customer value from scores", _VALUE_SOURCES["referral"])
    return _items_frame(
        customer_id=latest["customer_id"].to_numpy(),
        reason="referral",
        ref=latest["survey_id"].to_numpy(),
        due_date=due.to_numpy(),
        window_days=np.nan,
        value=value,
        base_rate=float(rate),
        script_key=ctx["params"]["scripts"]["referral"]["default"],
        value_source=source,
        detail=("score " + latest["score"].astype(str)).to_numpy(),
    )


def _recontact(ctx: dict) -> pd.DataFrame:
    """Owners the desk cannot reach (:func:`crm_analytics.metrics.contact.lost_contacts`, with
    the rule of ``params/lifecycle.yaml`` ``contact``): their advisor asks for a new number at
    the next visit, or through the consultant who sold the car. Customers who own no car stay
    on the report's re-contact list only."""
    as_of, prm = ctx["as_of"], ctx["params"]["reasons"]["recontact"]
    rule = config.load_params("lifecycle")["contact"]
    lost = lost_contacts(
        ctx["dealer"],
        no_answer_streak=int(rule["no_answer_streak"]),
        no_answer_days=float(rule["no_answer_days"]),
        contact=True,
        as_of=as_of,
    )
    lost = lost[lost["owner"].to_numpy(bool)]
    if not len(lost):
        return pd.DataFrame()
    ids = pd.Index(lost["customer_id"])
    clv = ctx["scores"]["clv"].reindex(ids)
    ev = ctx["scores"]["expected_value"].reindex(ids)
    value = clv.fillna(ev).fillna(ctx["values"]["annual_service"]).to_numpy(float)
    source = np.where(
        clv.notna(),
        "after-sales CLV from scores",
        np.where(ev.notna(), "customer value from scores", _VALUE_SOURCES["recontact"]),
    )
    return _items_frame(
        customer_id=ids.to_numpy(),
        reason="recontact",
        ref=ids.to_numpy(),
        due_date=as_of + float(prm["due_in_days"]) * _DAY,
        window_days=np.nan,
        value=value,
        base_rate=float(prm["base_rate"]),
        script_key=ctx["params"]["scripts"]["recontact"]["default"],
        detail=("lost contact: " + lost["reason"].astype(str)).to_numpy(),
        value_source=source,
    )


_BUILDERS = {
    "insurance_renewal": _insurance,
    "warranty_end": lambda ctx: _vehicle_window(
        ctx,
        "warranty_end",
        "warranty_end",
        ctx["values"]["warranty_end"],
        "warranty ends: extended warranty",
    ),
    "finance_end": lambda ctx: _vehicle_window(
        ctx,
        "finance_end",
        "finance_end",
        ctx["values"]["order_gross"],
        "finance contract ends: repurchase",
    ),
    "maintenance_due": _maintenance,
    "recall": _recall,
    "dormant_activation": _dormant,
    "defeated_reactivation": _defeated,
    "trade_in": _trade_in,
    "referral": _referral,
    "recontact": _recontact,
}


# -- owners -----------------------------------------------------------------------------------
def _active_staff(staff: pd.DataFrame, role: str, as_of: pd.Timestamp) -> list[str]:
    s = staff[(staff["role"] == role) & (staff["hired_at"] <= as_of)]
    s = s[s["left_at"].isna() | (s["left_at"] > as_of)]
    return sorted(s["staff_id"].astype(str))


def _assign(rows: pd.DataFrame, staff_ids: list[str], max_over_mean: float) -> np.ndarray:
    """Greedy capped assignment in row order (rows already sorted by priority)."""
    n = len(rows)
    out = np.full(n, None, dtype=object)
    if not staff_ids or n == 0:
        return out
    mean = n / len(staff_ids)
    cap = max(math.ceil(mean), math.floor((1.0 + max_over_mean) * mean))
    load = dict.fromkeys(staff_ids, 0)
    valid = set(staff_ids)
    sticky: dict[str, str] = {}
    for i, (cid, pref) in enumerate(
        zip(rows["customer_id"].to_numpy(), rows["preferred_owner"].to_numpy(), strict=True)
    ):
        choice = None
        for cand in (sticky.get(cid), pref):
            if isinstance(cand, str) and cand in valid and load[cand] < cap:
                choice = cand
                break
        if choice is None:
            choice = min(staff_ids, key=lambda s: (load[s], s))
        out[i] = choice
        load[choice] += 1
        sticky.setdefault(cid, choice)
    return out


# -- public API -------------------------------------------------------------------------------
def call_lists(
    dealer: DealerData,
    *,
    as_of: object = None,
    scores: object = None,
    params: Mapping | None = None,
    reasons: list[str] | tuple[str, ...] | None = None,
    contact: bool = False,
    states: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Prioritized call lists as of a date: one row per (customer, reason).

    Parameters
    ----------
    dealer
        The dealer (validated tables).
    as_of
        Date of the lists (default ``dealer.as_of``); records after it are ignored.
    scores
        Optional customer-level scores, keyed by customer_id: a Series of ``p_alive``, a mapping,
        or a DataFrame with ``p_alive`` (e.g. BG/NBD) or ``churn_probability`` (activity =
        1 - churn), optionally ``expected_value`` (yuan: replaces the value of the dormant,
        trade-in and referral rows) and ``clv`` (yuan of after-sales margin: the value at risk
        of a dormant owner, before ``expected_value``); :func:`btyd_scores` gives ``p_alive``
        and ``clv`` from fitted base models. Customers absent from
        ``scores`` fall back to the recency rule (module docstring).
    params
        Parameters shaped like ``params/actions.yaml`` (merged over it, see
        :func:`load_params`).
    reasons
        Subset of :data:`REASONS` to build (default: all).
    contact
        ``True`` for lists handed to the staff who call: full names and phones. Default
        ``False`` masks them (``138****5678``, ``张*``).
    states
        The customers' lifecycle states at ``as_of`` when already computed
        (:func:`crm_analytics.metrics.lifecycle.lifecycle_states`): the dormant-activation
        list takes its owners from them. Default: computed here, with the ``p_alive`` of
        ``scores`` when given.

    Returns
    -------
    pandas.DataFrame
        Columns ``rank, customer_id, customer_name, customer_phone, reason, detail, refs``
        (``;``-joined policy ids / VINs / lead ids / survey ids behind the row), ``n_items,
        due_date`` (earliest due date of the items), ``window_days`` (insurance: 30/60/90 band),
        ``value`` (yuan, summed over items), ``base_rate, activity, likelihood,
        expected_margin`` (``value x likelihood``, yuan), ``priority`` (``priority_weight x
        expected_margin``), ``list_rank`` (rank inside the row's reason), ``priority_rule``,
        ``owner_id, owner_role, script_key``; sorted by ``priority`` descending (ties: due
        date, customer). ``attrs["priority_rules"]`` states each list's rule. ``owner_id`` is missing only when no staff of the role is employed at
        ``as_of``.
    """
    as_of = _as_of(dealer, as_of)
    prm = load_params(overrides=params)
    wanted = list(REASONS) if reasons is None else list(reasons)
    unknown = [r for r in wanted if r not in REASONS]
    if unknown:
        raise InputError(f"call_lists: unknown reasons {unknown}; choose from {list(REASONS)}")
    ctx = _list_context(dealer, as_of, _scores_frame(scores), prm)
    ctx["states"] = states
    activity = customer_activity(
        dealer,
        as_of=as_of,
        scores=ctx["scores"],
        grace_days=prm["activity"]["grace_days"],
        scale_days=prm["activity"]["scale_days"],
    )
    rows = _prioritized_rows(_list_items(ctx, wanted), activity, prm, ctx["scores"])
    rows["owner_id"] = _assign_owners(rows, ctx)
    out = _finish_lists(rows, dealer, as_of, contact)
    rules = _rules_of(prm)
    out.attrs["priority_rules"] = {r: rules[r] for r in wanted}
    return out


_ITEM_COLUMNS = [
    "customer_id",
    "reason",
    "ref",
    "due_date",
    "window_days",
    "value",
    "base_rate",
    "script_key",
    "detail",
]


def _list_context(
    dealer: DealerData, as_of: pd.Timestamp, sc: pd.DataFrame, prm: dict[str, Any]
) -> dict[str, Any]:
    """What the reason builders share: the tables cut at ``as_of``, values, scores, params."""
    values = observed_values(dealer, as_of=as_of)
    orders = _upto(dealer.orders, "ordered_at", as_of)
    delivered = orders[(orders["status"] == "delivered")] if len(orders) else orders
    gross_by_model = (
        delivered.assign(g=delivered[list(ORDER_MARGIN_COLUMNS)].sum(axis=1))
        .groupby("model")["g"]
        .mean()
        .to_dict()
        if len(delivered)
        else {}
    )
    ctx = {
        "dealer": dealer,
        "p_alive": sc["p_alive"].dropna() if sc["p_alive"].notna().any() else None,
        "as_of": as_of,
        "params": prm,
        "scores": sc,
        "values": values,
        "policies": _upto(dealer.insurance_policies, "start", as_of),
        "vehicles": _upto(dealer.vehicles, "purchase_date", as_of),
        "service": _upto(dealer.service_visits, "at", as_of),
        "leads": _upto(dealer.leads, "created_at", as_of),
        "orders": orders,
        "surveys": _upto(dealer.surveys, "at", as_of),
        "gross_by_model": gross_by_model,
    }
    ctx["last_service"] = _last_service(ctx)
    return ctx


def _list_items(ctx: dict[str, Any], wanted: list[str]) -> pd.DataFrame:
    """One row per (customer, reason, item) of the wanted reasons."""
    items = [f for f in (_BUILDERS[r](ctx) for r in wanted) if len(f)]
    it = pd.concat(items, ignore_index=True) if items else pd.DataFrame(columns=_ITEM_COLUMNS)
    for col in ("preferred_owner", "value_source"):
        if col not in it.columns:
            it[col] = None
    it["due_date"] = pd.to_datetime(it["due_date"])
    # maintenance already covers a customer: no dormant-activation call on top
    if len(it):
        maint = set(it.loc[it["reason"] == "maintenance_due", "customer_id"])
        it = it[~((it["reason"] == "dormant_activation") & isin(it["customer_id"], maint))]
    return it


def _rate_source(reason: str, prm: dict[str, Any]) -> str:
    """Where a reason's base rate (P(the call succeeds)) comes from."""
    r = prm["reasons"][reason]
    if reason == "insurance_renewal":
        src = {
            k: "observed over the last 365 days"
            if r[k] is None
            else "assumed (params/actions.yaml)"
            for k in ("base_rate_sold_here", "base_rate_sold_elsewhere")
        }
        return (
            f"P(renewed here), {src['base_rate_sold_here']} for policies sold here, "
            f"{src['base_rate_sold_elsewhere']} for policies sold elsewhere"
        )
    if reason == "referral" and r["base_rate"] is None:
        return "P(refers a buyer) = referral-lead yield (assumed) x won rate of referral leads (observed)"
    return f"{_SUCCESS[reason]}, assumed (params/actions.yaml)"


def priority_rules(params: Mapping | None = None) -> dict[str, str]:
    """The ranking rule of each call list, in words (also ``calls.attrs["priority_rules"]``).

    Every list is ranked by the gross margin a call is expected to bring,
    ``expected_margin = base_rate x activity x value``, times the reason's
    ``priority_weight``; the rule names where each factor comes from.
    """
    return _rules_of(load_params(overrides=params))


def _rules_of(prm: dict[str, Any]) -> dict[str, str]:
    out = {}
    for r in REASONS:
        w = float(prm["reasons"][r]["priority_weight"])
        value = _VALUE_SOURCES[r] + (
            " (the customer's CLV or value when scored)" if r in _SCORED_VALUE else ""
        )
        out[r] = (
            f"priority = {w:g} x base rate x activity x value; base rate: {_rate_source(r, prm)}; "
            "activity: P(alive) or 1 - P(churn) from scores, else the recency rule; "
            f"value: {value}"
        )
    return out


def _row_rules(rows: pd.DataFrame, sc: pd.DataFrame, prm: dict[str, Any]) -> np.ndarray:
    """Each row's ranking rule with the sources that apply to that row."""
    rate = rows["reason"].map({r: _rate_source(r, prm) for r in REASONS})
    weight = rows["reason"].map(
        {r: f"{float(prm['reasons'][r]['priority_weight']):g}" for r in REASONS}
    )
    from_scores = sc["p_alive_from"].where(sc["p_alive"].notna()).reindex(rows["customer_id"])
    act = np.where(
        from_scores.notna().to_numpy(),
        from_scores.fillna("").to_numpy(object) + " from scores",
        "recency rule",
    )
    value = rows["value_source"].fillna(rows["reason"].map(_VALUE_SOURCES))
    return (weight + " x " + rate + " x activity (" + act + ") x value (" + value + ")").to_numpy(
        object
    )


def _joined_refs(it: pd.DataFrame, rows: pd.DataFrame) -> list[str]:
    """Each row's item refs as text, sorted and joined with ``;`` (one pass over the items: a
    Python aggregation per (customer, reason) group costs pandas a Series per group)."""
    refs: dict[tuple[Any, Any], list[str]] = {}
    keys = zip(it["customer_id"].to_numpy(object), it["reason"].to_numpy(object), strict=True)
    for key, ref in zip(keys, it["ref"].to_numpy(object), strict=True):
        refs.setdefault(key, []).append(str(ref))
    at = zip(rows["customer_id"].to_numpy(object), rows["reason"].to_numpy(object), strict=True)
    return [";".join(sorted(refs[key])) for key in at]


def _prioritized_rows(
    it: pd.DataFrame, activity: pd.DataFrame, prm: dict[str, Any], sc: pd.DataFrame
) -> pd.DataFrame:
    """Items collapsed to one row per (customer, reason), ranked by expected margin.

    ``expected_margin = base_rate x activity x value`` (yuan the call is expected to bring);
    ``priority = priority_weight x expected_margin``; ``list_rank`` is the rank inside the
    row's own list (reason), ``priority_rule`` the rule with this row's sources.
    """
    it = it.sort_values(["customer_id", "reason", "due_date", "ref"], kind="stable")
    g = it.groupby(["customer_id", "reason"], sort=False)
    rows = g.agg(
        n_items=("ref", "size"),
        due_date=("due_date", "min"),
        window_days=("window_days", "min"),
        value=("value", "sum"),
        base_rate=("base_rate", "max"),
        script_key=("script_key", "first"),
        detail=("detail", "first"),
        preferred_owner=("preferred_owner", "first"),
        value_source=("value_source", "first"),
    ).reset_index()
    refs = _joined_refs(it, rows)  # (no rows: an object column, as pandas' aggregation gives)
    rows.insert(2, "refs", refs if refs else pd.Series([], dtype=object))
    rows["activity"] = activity["activity"].reindex(rows["customer_id"]).fillna(0.0).to_numpy(float)
    rows["likelihood"] = rows["base_rate"].astype(float) * rows["activity"]
    weights = rows["reason"].map({r: float(prm["reasons"][r]["priority_weight"]) for r in REASONS})
    rows["expected_margin"] = rows["value"].astype(float) * rows["likelihood"]
    rows["priority"] = weights * rows["value"].astype(float) * rows["likelihood"]
    rows["priority_rule"] = _row_rules(rows, sc, prm)
    rows["owner_role"] = rows["reason"].map({r: prm["reasons"][r]["role"] for r in REASONS})
    rows = rows.sort_values(
        ["priority", "due_date", "customer_id", "reason"],
        ascending=[False, True, True, True],
        kind="stable",
    )
    rows = rows.reset_index(drop=True)
    rows["list_rank"] = rows.groupby("reason").cumcount() + 1
    return rows


def _assign_owners(rows: pd.DataFrame, ctx: dict[str, Any]) -> pd.Series:
    """Owner of each row: the reason's or the customer's own person, within the role's cap.

    Fills ``rows["preferred_owner"]`` where the reason named none (the customer's latest
    consultant for sales reasons, latest advisor for after-sales ones).
    """
    last_cons = (
        ctx["leads"]
        .sort_values("created_at")
        .dropna(subset=["consultant_id"])
        .groupby("customer_id")["consultant_id"]
        .last()
        if len(ctx["leads"])
        else pd.Series(dtype=object)
    )
    last_adv = (
        ctx["service"]
        .sort_values("at")
        .dropna(subset=["advisor_id"])
        .groupby("customer_id")["advisor_id"]
        .last()
        if len(ctx["service"])
        else pd.Series(dtype=object)
    )
    own = np.where(
        rows["owner_role"] == SALES_ROLE,
        rows["customer_id"].map(last_cons),
        rows["customer_id"].map(last_adv),
    )
    rows["preferred_owner"] = rows["preferred_owner"].where(
        rows["preferred_owner"].notna(), pd.Series(own, index=rows.index)
    )
    owner = pd.Series(np.full(len(rows), None, dtype=object), index=rows.index)
    for role in sorted(rows["owner_role"].dropna().unique()):
        m = (rows["owner_role"] == role).to_numpy()
        owner[m] = _assign(
            rows[m],
            _active_staff(ctx["dealer"].staff, role, ctx["as_of"]),
            float(ctx["params"]["balance"]["max_over_mean"]),
        )
    return owner


def _finish_lists(
    rows: pd.DataFrame, dealer: DealerData, as_of: pd.Timestamp, contact: bool
) -> pd.DataFrame:
    """Names and phones (masked unless ``contact``), rank, output columns and attrs."""
    cust = dealer.customers.set_index("customer_id")
    rows["customer_name"] = rows["customer_id"].map(cust["name"]) if len(cust) else None
    rows["customer_phone"] = rows["customer_id"].map(cust["phone"]) if len(cust) else None
    rows["rank"] = np.arange(1, len(rows) + 1)
    out = rows[_OUT_COLUMNS].copy()
    out["owner_id"] = out["owner_id"].astype(object)
    if not contact:
        out = mask_frame(out, phone_columns=["customer_phone"], name_columns=["customer_name"])
    out.attrs["as_of"] = as_of
    out.attrs["contact"] = bool(contact)
    return out


def owner_load(calls: pd.DataFrame) -> pd.DataFrame:
    """Rows per owner and their ratio to the mean load of the owner's role.

    Parameters
    ----------
    calls
        Output of :func:`call_lists`.

    Returns
    -------
    pandas.DataFrame
        ``owner_role, owner_id, rows, value, mean_role_load, load_ratio``.
    """
    c = calls.dropna(subset=["owner_id"])
    g = (
        c.groupby(["owner_role", "owner_id"])
        .agg(rows=("customer_id", "size"), value=("value", "sum"))
        .reset_index()
    )
    g["mean_role_load"] = g.groupby("owner_role")["rows"].transform("mean")
    g["load_ratio"] = g["rows"] / g["mean_role_load"]
    return g


def touch_calendar(
    calls: pd.DataFrame, *, freq: str = "W-SUN", as_of: object = None
) -> pd.DataFrame:
    """Touch-point calendar: calls per period and reason (past due dates count at ``as_of``).

    Parameters
    ----------
    calls
        Output of :func:`call_lists`.
    freq
        Pandas period frequency of the calendar: default ISO weeks, Monday to Sunday (pandas'
        ``W-SUN``, weeks ending on Sunday; ``W-MON`` would run Tuesday to Monday).
    as_of
        Overdue rows (due before it) are scheduled at ``as_of``; default the ``as_of`` that
        :func:`call_lists` stored in ``calls.attrs``, else the earliest due date.

    Returns
    -------
    pandas.DataFrame
        Index ``period`` (start date), one column per reason with the number of calls, plus
        ``total`` and ``value`` (yuan of expected value, ``value x likelihood``).
    """
    if not len(calls):
        return pd.DataFrame(columns=[*REASONS, "total", "value"])
    if as_of is None:
        as_of = calls.attrs.get("as_of", calls["due_date"].min())
    start = pd.Timestamp(as_of)
    when = calls["due_date"].where(calls["due_date"] >= start, start)
    period = when.dt.to_period(freq).dt.start_time.rename("period")
    tab = pd.crosstab(period, calls["reason"])
    tab = tab.reindex(columns=[r for r in REASONS if r in tab.columns])
    tab["total"] = tab.sum(axis=1)
    tab["value"] = (calls["value"] * calls["likelihood"]).groupby(period).sum().round(2)
    tab.columns.name = None
    return tab


def export_call_list(calls: pd.DataFrame, path: str | Path, *, by_owner: bool = True) -> Path:
    """Write call lists to CSV (UTF-8 with BOM, opens in Excel) or Excel (``.xlsx``).

    Parameters
    ----------
    calls
        Output of :func:`call_lists` (masked or, for staff, with contact details).
    path
        Target file; the suffix picks the format. The folder is created if missing.
    by_owner
        Excel only: one sheet ``all`` plus one sheet per owner.

    Returns
    -------
    pathlib.Path
        The written file, through :func:`crm_analytics.data.export.write_table`: text cells
        starting with ``= + - @``, tab or CR are prefixed with ``'`` so that a spreadsheet never
        evaluates them, and names and phones are masked unless ``calls`` was built with
        ``contact=True``.
    """
    out = calls.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    frames: pd.DataFrame | dict[str, pd.DataFrame] = out
    if Path(path).suffix.lower() in (".xlsx", ".xlsm") and by_owner and "owner_id" in out.columns:
        frames = {"all": out}
        for owner, part in out.groupby(out["owner_id"].fillna("unassigned"), sort=True):
            frames[str(owner)] = part
    return write_table(
        frames,
        path,
        format="xlsx" if Path(path).suffix.lower() == ".xlsm" else None,
        contact=bool(calls.attrs.get("contact", False)),
        phone_columns=["customer_phone"],
        name_columns=["customer_name"],
    )
