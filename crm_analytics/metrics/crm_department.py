"""Satisfaction and the CRM department's periodic reports (DIGEST section 4).

Satisfaction
    :func:`csi_by_stage` (CSI of each survey stage, optionally per period),
    :func:`csi_by_staff` (per consultant / service advisor, with a shrunk score for small
    samples), :func:`defeat_pareto` (defeat reasons as Pareto data),
    :func:`channel_recall_accuracy` and :func:`channel_confusion` (the intended-customer
    survey's check of the information channel: the channel the customer recalls vs the channel
    the DMS recorded).

Department reports
    :func:`deal_customers` (deliveries, gross margin and value-added penetration per period),
    :func:`owner_status` / :func:`dormant_customers` (owner base by lifecycle state),
    :func:`defeated_customers` (lost sales per period, reason, channel and consultant),
    :func:`department_efficiency` (each department's customer efficiency).

Every function returns a new DataFrame for the report notebooks to render. Aggregates carry no
personal data; the one customer-level table (:func:`owner_status`) masks names and phones
unless ``contact=True``.

CSI here is the mean survey score on the 0-10 scale times 10 (0-100). Intervals are normal
approximations ``mean +- 1.96 sd / sqrt(n)``; they are NaN below two answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.core.frames import isin
from crm_analytics.core.schema import CHANNELS, ORDER_MARGIN_COLUMNS, SURVEY_KINDS
from crm_analytics.data.privacy import mask_frame
from crm_analytics.metrics.lifecycle import MONTH_DAYS, lifecycle_states

__all__ = [
    "SURVEY_STAGE",
    "csi_by_stage",
    "csi_by_staff",
    "defeat_pareto",
    "channel_recall_accuracy",
    "channel_confusion",
    "deal_customers",
    "owner_status",
    "dormant_customers",
    "defeated_customers",
    "department_efficiency",
]

#: Survey kind -> lifecycle stage it measures.
SURVEY_STAGE: dict[str, str] = {
    "intent_survey": "intent",
    "sales_satisfaction": "sales",
    "delivery_interview": "delivery",
    "service_satisfaction": "service",
    "defeated_survey": "defeated",
}
_STAGE_ORDER = ["intent", "sales", "delivery", "service", "defeated"]
_DAY = pd.Timedelta(days=1)
_VALUE_ADDED = ("finance", "insurance", "extended_warranty", "trade_in")


def _cut(dealer: DealerData, as_of: object) -> tuple[pd.Timestamp, pd.Timestamp]:
    ts = pd.Timestamp(dealer.as_of if as_of is None else as_of)
    return ts, ts.normalize() + _DAY


def _score_stats(g: pd.core.groupby.SeriesGroupBy) -> pd.DataFrame:
    out = g.agg(n="count", mean="mean", sd="std")
    se = out["sd"] / np.sqrt(out["n"].where(out["n"] >= 2))
    out["csi"] = out["mean"] * 10
    out["csi_low"] = (out["mean"] - 1.96 * se) * 10
    out["csi_high"] = (out["mean"] + 1.96 * se) * 10
    return out


def _surveys(dealer: DealerData, as_of: object, kinds: Sequence[str] | None) -> pd.DataFrame:
    _, cut = _cut(dealer, as_of)
    s = dealer.surveys
    s = s[(s["at"] < cut) & s["score"].notna()]
    if kinds is not None:
        bad = [k for k in kinds if k not in SURVEY_KINDS]
        if bad:
            raise InputError(f"unknown survey kinds {bad}; choose from {list(SURVEY_KINDS)}")
        s = s[s["kind"].isin(list(kinds))]
    return s.assign(stage=s["kind"].map(SURVEY_STAGE))


def csi_by_stage(
    dealer: DealerData, *, freq: str | None = None, as_of: object = None
) -> pd.DataFrame:
    """CSI of each lifecycle stage (survey kind), overall or per period.

    Parameters
    ----------
    dealer
        The dealer.
    freq
        A pandas period frequency (``"M"``, ``"Q"``, ``"Y"``) for a trend; ``None`` for totals.
    as_of
        Surveys up to this date (default ``dealer.as_of``).

    Returns
    -------
    pandas.DataFrame
        One row per stage (and period): ``stage``, [``period``], ``n``, ``mean`` (0-10),
        ``sd``, ``csi`` (0-100), ``csi_low``, ``csi_high`` (95 % interval), ``top_box``
        (share of scores >= 9) and ``bottom_box`` (share <= 6).
    """
    s = _surveys(dealer, as_of, None)
    keys = ["stage"]
    if freq is not None:
        s = s.assign(period=s["at"].dt.to_period(freq).dt.start_time)
        keys.append("period")
    if not len(s):
        return pd.DataFrame(
            columns=[
                *keys,
                "n",
                "mean",
                "sd",
                "csi",
                "csi_low",
                "csi_high",
                "top_box",
                "bottom_box",
            ]
        )
    g = s.groupby(keys)["score"]
    out = _score_stats(g)
    by = [s[k] for k in keys]
    out["top_box"] = s["score"].ge(9).groupby(by).mean()
    out["bottom_box"] = s["score"].le(6).groupby(by).mean()
    out = out.reset_index()
    out["stage"] = pd.Categorical(out["stage"], categories=_STAGE_ORDER, ordered=True)
    return out.sort_values(keys).reset_index(drop=True)


def csi_by_staff(
    dealer: DealerData,
    *,
    kinds: Sequence[str] = ("sales_satisfaction", "delivery_interview", "service_satisfaction"),
    prior_n: float = 10.0,
    as_of: object = None,
) -> pd.DataFrame:
    """CSI per consultant / service advisor, with a shrunk score for small samples.

    Parameters
    ----------
    dealer
        The dealer.
    kinds
        Survey kinds that rate the staff member named in ``surveys.staff_id``.
    prior_n
        Weight (in answers) of the stage mean in the shrunk score
        ``(n x mean + prior_n x stage mean) / (n + prior_n)``: a consultant with three 10s is
        not ranked above one with two hundred 9.5s.
    as_of
        Surveys up to this date.

    Returns
    -------
    pandas.DataFrame
        ``stage, staff_id, role, active`` (employed at ``as_of``), ``n, mean, sd, csi, csi_low,
        csi_high, csi_shrunk, stage_csi, gap`` (``csi_shrunk - stage_csi``), sorted by stage and
        ``csi_shrunk``. No staff names (join ``dealer.staff`` where needed).
    """
    if prior_n < 0:
        raise InputError(f"csi_by_staff: prior_n must be >= 0, got {prior_n}")
    ts, _ = _cut(dealer, as_of)
    s = _surveys(dealer, as_of, kinds)
    s = s[s["staff_id"].notna()]
    if not len(s):
        return pd.DataFrame(
            columns=["stage", "staff_id", "role", "active", "n", "mean", "csi", "csi_shrunk"]
        )
    out = _score_stats(s.groupby(["stage", "staff_id"])["score"]).reset_index()
    stage_mean = s.groupby("stage")["score"].mean()
    sm = out["stage"].map(stage_mean)
    out["csi_shrunk"] = (out["n"] * out["mean"] + prior_n * sm) / (out["n"] + prior_n) * 10
    out["stage_csi"] = sm * 10
    out["gap"] = out["csi_shrunk"] - out["stage_csi"]
    staff = dealer.staff.set_index("staff_id")
    out["role"] = out["staff_id"].map(staff["role"])
    left = out["staff_id"].map(staff["left_at"])
    out["active"] = left.isna() | (left > ts)
    cols = [
        "stage",
        "staff_id",
        "role",
        "active",
        "n",
        "mean",
        "sd",
        "csi",
        "csi_low",
        "csi_high",
        "csi_shrunk",
        "stage_csi",
        "gap",
    ]
    return (
        out[cols]
        .sort_values(["stage", "csi_shrunk"], ascending=[True, False])
        .reset_index(drop=True)
    )


def defeat_pareto(
    dealer: DealerData,
    *,
    by: str | None = None,
    since: object = None,
    as_of: object = None,
    vital_share: float = 0.8,
) -> pd.DataFrame:
    """Defeat reasons as Pareto data (counts in descending order with cumulative share).

    Parameters
    ----------
    dealer
        The dealer.
    by
        Optional lead column to split by (``"model_interest"``, ``"channel"``,
        ``"consultant_id"``); each group gets its own Pareto.
    since, as_of
        Leads closed in ``[since, as_of]``.
    vital_share
        The "vital few": reasons up to and including the one whose cumulative share first
        reaches this share.

    Returns
    -------
    pandas.DataFrame
        [``by``], ``defeat_reason`` (``"unknown"`` when not recorded), ``count``, ``share``,
        ``cum_share``, ``vital_few``.
    """
    _, cut = _cut(dealer, as_of)
    leads = dealer.leads
    d = leads[
        (leads["status"] == "defeated") & leads["closed_at"].notna() & (leads["closed_at"] < cut)
    ]
    if since is not None:
        d = d[d["closed_at"] >= pd.Timestamp(since)]
    if by is not None and by not in d.columns:
        raise InputError(
            f"defeat_pareto: by={by!r} is not a column of table leads ({list(leads.columns)})"
        )
    d = d.assign(defeat_reason=d["defeat_reason"].fillna("unknown"))
    keys = [by] if by else []
    cnt = d.groupby([*keys, "defeat_reason"]).size().rename("count").reset_index()
    cnt = cnt.sort_values(
        [*keys, "count", "defeat_reason"], ascending=[True] * len(keys) + [False, True]
    )
    tot = cnt.groupby(keys)["count"].transform("sum") if keys else cnt["count"].sum()
    cnt["share"] = cnt["count"] / tot
    cnt["cum_share"] = cnt.groupby(keys)["share"].cumsum() if keys else cnt["share"].cumsum()
    prev = (
        cnt.groupby(keys)["cum_share"].shift(fill_value=0.0)
        if keys
        else cnt["cum_share"].shift(fill_value=0.0)
    )
    cnt["vital_few"] = prev < vital_share - 1e-12
    return cnt.reset_index(drop=True)


def _recall_frame(dealer: DealerData, kinds: Sequence[str] | None, as_of: object) -> pd.DataFrame:
    _, cut = _cut(dealer, as_of)
    s = dealer.surveys
    s = s[(s["at"] < cut) & s["recalled_channel"].notna() & s["lead_id"].notna()]
    if kinds is not None:
        s = s[s["kind"].isin(list(kinds))]
    leads = dealer.leads.set_index("lead_id")
    s = s.assign(dms_channel=s["lead_id"].map(leads["channel"]))
    return s[s["dms_channel"].notna()]


def channel_recall_accuracy(
    dealer: DealerData,
    *,
    by: str = "kind",
    kinds: Sequence[str] | None = None,
    as_of: object = None,
) -> pd.DataFrame:
    """Accuracy of the recorded information channel: recalled (survey) vs recorded (DMS).

    The intended-customer survey asks buyers and non-buyers where they first heard of the
    dealer; the share whose answer equals the lead's DMS channel measures how accurately the
    showroom records the channel (DIGEST section 4).

    Parameters
    ----------
    dealer
        The dealer.
    by
        ``"kind"`` (buyers' delivery interview vs non-buyers' defeated survey vs intent survey),
        ``"dms_channel"``, ``"staff_id"`` or ``"overall"``.
    kinds
        Survey kinds to use (default all that carry ``recalled_channel`` and ``lead_id``).
    as_of
        Surveys up to this date.

    Returns
    -------
    pandas.DataFrame
        ``by`` value, ``n``, ``matches``, ``accuracy`` with a 95 % Wilson interval
        (``accuracy_low``, ``accuracy_high``).
    """
    s = _recall_frame(dealer, kinds, as_of)
    if by not in ("kind", "dms_channel", "staff_id", "overall"):
        raise InputError(
            f"channel_recall_accuracy: by must be kind, dms_channel, staff_id or overall, got {by!r}"
        )
    s = s.assign(match=s["recalled_channel"] == s["dms_channel"], overall="all")
    g = s.groupby(by)["match"].agg(n="size", matches="sum").reset_index()
    n, k = g["n"].astype(float), g["matches"].astype(float)
    p = k / n
    z = 1.96
    den = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / den
    g["accuracy"], g["accuracy_low"], g["accuracy_high"] = p, centre - half, centre + half
    return g


def channel_confusion(
    dealer: DealerData,
    *,
    kinds: Sequence[str] | None = None,
    normalize: bool = False,
    as_of: object = None,
) -> pd.DataFrame:
    """Recorded (DMS, rows) x recalled (survey, columns) channel counts, or row shares."""
    s = _recall_frame(dealer, kinds, as_of)
    tab = pd.crosstab(
        pd.Categorical(s["dms_channel"], categories=CHANNELS),
        pd.Categorical(s["recalled_channel"], categories=CHANNELS),
        dropna=False,
    )
    tab.index.name, tab.columns.name = "dms_channel", "recalled_channel"
    if normalize:
        tab = tab.div(tab.sum(axis=1).where(lambda x: x > 0), axis=0)
    return tab


# -- department reports -----------------------------------------------------------------------
def deal_customers(
    dealer: DealerData, *, freq: str = "M", by: str | None = None, as_of: object = None
) -> pd.DataFrame:
    """Deal customers: deliveries, gross margin and value-added penetration per period.

    Parameters
    ----------
    dealer
        The dealer.
    freq
        Period of the report (pandas frequency).
    by
        Optional split: ``"model"``, ``"channel"`` (the lead's) or ``"consultant_id"``.
    as_of
        Deliveries up to this date.

    Returns
    -------
    pandas.DataFrame
        ``period`` [, ``by``], ``deliveries``, ``customers``, ``gross_margin`` (sum of all
        margins, yuan), ``gross_per_delivery``, and ``<item>_penetration`` (share of deliveries
        with finance, insurance, extended warranty, trade-in; accessories: share with an amount).
    """
    _, cut = _cut(dealer, as_of)
    o = dealer.orders
    o = o[(o["status"] == "delivered") & o["delivered_at"].notna() & (o["delivered_at"] < cut)]
    if by in ("channel", "consultant_id"):
        o = o.assign(**{by: o["lead_id"].map(dealer.leads.set_index("lead_id")[by])})
    elif by not in (None, "model"):
        raise InputError(
            f"deal_customers: by must be None, model, channel or consultant_id, got {by!r}"
        )
    o = o.assign(
        period=o["delivered_at"].dt.to_period(freq).dt.start_time,
        gross=o[list(ORDER_MARGIN_COLUMNS)].sum(axis=1),
    )
    o = o.assign(accessories=o["accessories_amount"] > 0)
    keys = ["period"] + ([by] if by else [])
    agg = {
        "deliveries": ("order_id", "size"),
        "customers": ("customer_id", "nunique"),
        "gross_margin": ("gross", "sum"),
    }
    for item in (*_VALUE_ADDED, "accessories"):
        agg[f"{item}_penetration"] = (item, "mean")
    out = o.groupby(keys).agg(**agg).reset_index()
    out["gross_per_delivery"] = out["gross_margin"] / out["deliveries"]
    return out


def owner_status(
    dealer: DealerData,
    *,
    as_of: object = None,
    p_alive: pd.Series | None = None,
    params: dict | None = None,
    contact: bool = False,
) -> pd.DataFrame:
    """Each vehicle owner's lifecycle state, with the facts behind it.

    The state is :func:`crm_analytics.metrics.lifecycle.lifecycle_states` (own-store new, bought
    elsewhere, regular, floating, dormant, lost; thresholds in ``params/lifecycle.yaml``),
    so every report and list of the package uses one dormancy rule: the owners in state
    ``dormant`` here are :func:`crm_analytics.metrics.lifecycle.dormant_owners`.

    Returns
    -------
    pandas.DataFrame
        One row per owner: ``customer_id, name, phone`` (masked unless ``contact``),
        ``vehicles, sold_here`` (any vehicle sold here), ``first_purchase, last_service,
        days_since, state, service_margin_12m``.
    """
    ts, cut = _cut(dealer, as_of)
    states = lifecycle_states(dealer, as_of=ts, p_alive=p_alive, params=params)
    states = states[states["origin"] != "none"].set_index("customer_id")
    v = dealer.vehicles[
        (dealer.vehicles["purchase_date"] < cut)
        & isin(dealer.vehicles["customer_id"], states.index)
    ]
    sv = dealer.service_visits[dealer.service_visits["at"] < cut]
    own = v.groupby("customer_id").agg(
        vehicles=("vin", "size"),
        sold_here=("sold_by_this_dealer", "any"),
        first_purchase=("purchase_date", "min"),
    )
    own = own.reindex(states.index)
    own["vehicles"] = own["vehicles"].fillna(0).astype(int)
    own["sold_here"] = states["origin"].eq("own_store")
    own["last_service"] = states["last_visit"]
    own["days_since"] = states["months_since_visit"] * MONTH_DAYS
    own["state"] = states["state"]
    m12 = sv[sv["at"] >= ts - 365 * _DAY].groupby("customer_id")["margin"].sum()
    own["service_margin_12m"] = m12.reindex(own.index).fillna(0.0)
    cust = dealer.customers.set_index("customer_id")
    own["name"] = own.index.map(cust["name"])
    own["phone"] = own.index.map(cust["phone"])
    own = own.reset_index(names="customer_id")
    cols = [
        "customer_id",
        "name",
        "phone",
        "vehicles",
        "sold_here",
        "first_purchase",
        "last_service",
        "days_since",
        "state",
        "service_margin_12m",
    ]
    own = own[cols]
    return own if contact else mask_frame(own, phone_columns=["phone"], name_columns=["name"])


def dormant_customers(
    dealer: DealerData, *, as_of: object = None, by: str = "sold_here", **kwargs: Any
) -> pd.DataFrame:
    """Owner base by lifecycle state: counts and shares per ``by`` group (dormant-customer report).

    Parameters
    ----------
    dealer
        The dealer.
    as_of
        Date of the report.
    by
        ``"sold_here"`` (sold here vs bought elsewhere) or ``"model"`` (of the newest vehicle).
    **kwargs
        ``p_alive`` / ``params`` for :func:`owner_status`.

    Returns
    -------
    pandas.DataFrame
        ``by``, ``state``, ``owners``, ``share`` (of the group), ``service_margin_12m``.
    """
    st = owner_status(dealer, as_of=as_of, **kwargs)
    if by == "model":
        newest = dealer.vehicles.sort_values("purchase_date").groupby("customer_id")["model"].last()
        st = st.assign(model=st["customer_id"].map(newest).fillna("unknown"))
    elif by != "sold_here":
        raise InputError(f"dormant_customers: by must be sold_here or model, got {by!r}")
    out = (
        st.groupby([by, "state"])
        .agg(owners=("customer_id", "size"), service_margin_12m=("service_margin_12m", "sum"))
        .reset_index()
    )
    out["share"] = out["owners"] / out.groupby(by)["owners"].transform("sum")
    return out


def defeated_customers(
    dealer: DealerData, *, freq: str = "Q", by: str = "defeat_reason", as_of: object = None
) -> pd.DataFrame:
    """Lost sales per period and ``by`` group, with the defeat rate and later reactivation.

    Parameters
    ----------
    dealer
        The dealer.
    freq
        Period (of ``closed_at``).
    by
        Lead column: ``"defeat_reason"``, ``"channel"``, ``"consultant_id"``, ``"model_interest"``.
    as_of
        Leads closed up to this date.

    Returns
    -------
    pandas.DataFrame
        ``period``, ``by``, ``closed`` (won + defeated), ``defeated``, ``defeat_rate`` (NaN when
        nothing closed), ``reactivated`` (defeated customers with a later won lead) and
        ``reactivation_rate``.
    """
    _, cut = _cut(dealer, as_of)
    leads = dealer.leads
    if by not in leads.columns:
        raise InputError(f"defeated_customers: by={by!r} is not a column of table leads")
    c = leads[
        leads["status"].isin(["won", "defeated"])
        & leads["closed_at"].notna()
        & (leads["closed_at"] < cut)
    ]
    won = c[c["status"] == "won"][["customer_id", "created_at"]]
    d = c[c["status"] == "defeated"]
    later = d[["lead_id", "customer_id", "closed_at"]].merge(won, on="customer_id")
    react = set(later.loc[later["created_at"] > later["closed_at"], "lead_id"])
    c = c.assign(
        period=c["closed_at"].dt.to_period(freq).dt.start_time,
        defeated=c["status"] == "defeated",
        reactivated=isin(c["lead_id"], react),
        grp=c[by].fillna("unknown") if by == "defeat_reason" else c[by],
    )
    if by == "defeat_reason":
        # a won lead has no defeat reason: rates are per period, counts per reason
        g = (
            c[c["defeated"]]
            .groupby(["period", "grp"])
            .agg(defeated=("lead_id", "size"), reactivated=("reactivated", "sum"))
        )
        closed = c.groupby("period").size()
        g = g.reset_index()
        g["closed"] = g["period"].map(closed)
    else:
        g = (
            c.groupby(["period", "grp"])
            .agg(
                closed=("lead_id", "size"),
                defeated=("defeated", "sum"),
                reactivated=("reactivated", "sum"),
            )
            .reset_index()
        )
    g["defeat_rate"] = g["defeated"] / g["closed"].where(g["closed"] > 0)
    g["reactivation_rate"] = g["reactivated"] / g["defeated"].where(g["defeated"] > 0)
    g = g.rename(columns={"grp": by})
    return g[
        ["period", by, "closed", "defeated", "defeat_rate", "reactivated", "reactivation_rate"]
    ]


def department_efficiency(
    dealer: DealerData, *, as_of: object = None, window_days: int = 365
) -> pd.DataFrame:
    """Each department's customer efficiency over the last ``window_days``.

    Departments and their customers:

    * ``sales``: leads created in the window -> deliveries from them; gross margin of the
      deliveries of the window.
    * ``after_sales``: owners served in the window (at least one repair order); repair orders
      per served owner; service margin.
    * ``insurance``: policies ending in the window -> renewed here (next policy sold here).
    * ``crm_dcc``: outbound contacts (calls, invitations, solicitations) in the window -> visits
      of the same customers within 30 days.

    Returns
    -------
    pandas.DataFrame
        One row per department: ``customers`` (the department's customers in the window),
        ``converted`` (see above), ``conversion_rate``, ``margin`` (yuan),
        ``margin_per_customer``, ``staff`` (employed at as_of in the department's roles),
        ``customers_per_staff``, ``margin_per_staff``, ``definition``.
    """
    ts, cut = _cut(dealer, as_of)
    lo = ts.normalize() + _DAY - window_days * _DAY
    staff = dealer.staff
    active = staff[(staff["hired_at"] < cut) & (staff["left_at"].isna() | (staff["left_at"] > ts))]
    n_role = active["role"].value_counts()
    rows = []
    # sales
    leads = dealer.leads[(dealer.leads["created_at"] >= lo) & (dealer.leads["created_at"] < cut)]
    o = dealer.orders
    deliv = o[(o["status"] == "delivered") & o["delivered_at"].notna() & (o["delivered_at"] < cut)]
    won = deliv[isin(deliv["lead_id"], leads["lead_id"])]
    d_win = deliv[deliv["delivered_at"] >= lo]
    rows.append(
        {
            "department": "sales",
            "customers": leads["customer_id"].nunique(),
            "converted": won["customer_id"].nunique(),
            "margin": float(d_win[list(ORDER_MARGIN_COLUMNS)].sum(axis=1).sum()),
            "staff": int(n_role.get("sales_consultant", 0)),
            "definition": "leads created in the window -> delivered; margin of deliveries in the window",
        }
    )
    # after-sales
    sv = dealer.service_visits[
        (dealer.service_visits["at"] >= lo) & (dealer.service_visits["at"] < cut)
    ]
    served = sv["customer_id"].nunique()
    repeat = (sv.groupby("customer_id").size() >= 2).sum()
    rows.append(
        {
            "department": "after_sales",
            "customers": served,
            "converted": int(repeat),
            "margin": float(sv["margin"].sum()),
            "staff": int(n_role.get("service_advisor", 0)),
            "definition": "owners with a repair order in the window -> with two or more (returning)",
        }
    )
    # insurance
    pol = dealer.insurance_policies[dealer.insurance_policies["start"] < cut]
    ended = pol[(pol["end"] >= lo) & (pol["end"] < cut)]
    nxt = pol[["vin", "start", "sold_by_this_dealer", "margin"]].rename(
        columns={"start": "s2", "sold_by_this_dealer": "here2", "margin": "m2"}
    )
    m = ended[["policy_id", "vin", "end", "customer_id"]].merge(nxt, on="vin")
    m = m[
        (m["s2"] >= m["end"] - 30 * _DAY)
        & (m["s2"] <= m["end"] + 60 * _DAY)
        & m["here2"].astype(bool)
    ]
    rows.append(
        {
            "department": "insurance",
            "customers": ended["customer_id"].nunique(),
            "converted": m["customer_id"].nunique(),
            "margin": float(m.drop_duplicates("policy_id")["m2"].sum()),
            "staff": int(n_role.get("service_advisor", 0)),
            "definition": "owners whose policy ended in the window -> renewed here",
        }
    )
    # CRM / DCC outbound
    tp = dealer.touchpoints[(dealer.touchpoints["at"] >= lo) & (dealer.touchpoints["at"] < cut)]
    out_tp = tp[tp["kind"].isin(["call", "invitation", "solicitation"])]
    first = out_tp.groupby("customer_id")["at"].min()
    visits = pd.concat(
        [
            dealer.touchpoints.loc[dealer.touchpoints["kind"] == "visit", ["customer_id", "at"]],
            dealer.service_visits[["customer_id", "at"]],
        ]
    )
    visits = visits[isin(visits["customer_id"], first.index)]
    if len(visits):
        visits = visits.assign(at=pd.to_datetime(visits["at"]), t0=visits["customer_id"].map(first))
    else:
        visits = pd.DataFrame(
            {
                "customer_id": pd.Series(dtype=object),
                "at": pd.Series(dtype="datetime64[ns]"),
                "t0": pd.Series(dtype="datetime64[ns]"),
            }
        )
    came = visits[
        (visits["at"] > visits["t0"])
        & (visits["at"] <= visits["t0"] + 30 * _DAY)
        & (visits["at"] < cut)
    ]
    rows.append(
        {
            "department": "crm_dcc",
            "customers": len(first),
            "converted": came["customer_id"].nunique(),
            "margin": np.nan,
            "staff": int(n_role.get("dcc", 0) + n_role.get("crm", 0)),
            "definition": "customers contacted outbound in the window -> visited within 30 days",
        }
    )
    out = pd.DataFrame(rows)
    cust = out["customers"].where(out["customers"] > 0)
    st = out["staff"].where(out["staff"] > 0)
    out["conversion_rate"] = out["converted"] / cust
    out["margin_per_customer"] = out["margin"] / cust
    out["customers_per_staff"] = out["customers"] / st
    out["margin_per_staff"] = out["margin"] / st
    cols = [
        "department",
        "customers",
        "converted",
        "conversion_rate",
        "margin",
        "margin_per_customer",
        "staff",
        "customers_per_staff",
        "margin_per_staff",
        "definition",
    ]
    return out[cols]
