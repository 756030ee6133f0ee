"""Customer lifecycle states in the deck's vocabulary, and transitions between two dates.

States (one per customer as of a date):

``prospect``
    has a lead that is still open, or no lead and no vehicle yet;
``defeated``
    every lead closed without an order (a lost sale) and owns no vehicle known here;
``own_store_new``
    bought the car here within ``new_months``;
``bought_elsewhere``
    car sold by another dealer, first serviced here within ``new_months``;
``regular``
    services here regularly: at least ``regular_visits_per_year`` visits a year over the last
    24 months and no gap longer than ``regular_max_gap_months``;
``floating``
    still comes, but irregularly (services at several stores);
``dormant``
    no service visit for more than ``dormant_months`` (or P(alive) below ``p_alive_dormant``);
``lost``
    no service visit for more than ``lost_months`` (and, when P(alive) is given, P(alive)
    below ``p_alive_lost``).

Precedence for owners: lost > dormant > new (own store / elsewhere) > regular > floating.
The thresholds live in ``params/lifecycle.yaml``.

:func:`dormant_owners` is the one list of dormant customers: every dormant-customer report
and activation list of the package (the CRM department's reports, the call lists, the CLV
activation list) selects its customers through it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crm_analytics.core.config import load_params
from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.core.frames import isin

STATES: tuple[str, ...] = (
    "prospect",
    "defeated",
    "own_store_new",
    "bought_elsewhere",
    "regular",
    "floating",
    "dormant",
    "lost",
)
MONTH_DAYS = 30.4375
#: The lifecycle state of an owner to re-activate.
DORMANT = "dormant"


def _rules(params: dict[str, Any] | None) -> dict[str, Any]:
    base = load_params("lifecycle")
    if params:
        unknown = set(params) - set(base)
        if unknown:
            raise InputError(
                f"unknown lifecycle parameter(s) {sorted(unknown)}; known: {sorted(base)}"
            )
        base.update(params)
    return base


def lifecycle_states(
    dealer: DealerData,
    *,
    as_of: str | pd.Timestamp | None = None,
    p_alive: pd.Series | None = None,
    params: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Each customer's lifecycle state as of a date.

    Only records dated on or before ``as_of`` are used, so the states at a past date are
    those the dealer would have seen then.

    Parameters
    ----------
    dealer
        The dealer's validated data.
    as_of
        The date (default: the data's as-of date). Customers created after it are left out.
    p_alive
        Optional P(alive) per customer_id (e.g. from a fitted BG/NBD); combined with the
        recency rules as described in the module docstring.
    params
        Overrides of ``params/lifecycle.yaml``.

    Returns
    -------
    pandas.DataFrame
        One row per customer: customer_id, state, origin (own_store / elsewhere / none),
        months_since_visit, visits_24m (days with a service visit in the last 24 months),
        last_visit, purchase_date.
    """
    rules = _rules(params)
    t = pd.Timestamp(as_of) if as_of is not None else dealer.as_of
    end = t.normalize() + pd.Timedelta(days=1) if t == t.normalize() else t
    cust = dealer.customers.loc[dealer.customers["created_at"] < end, ["customer_id"]]
    veh = dealer.vehicles
    sv = dealer.service_visits
    sv = sv.loc[sv["at"] < end, ["customer_id", "at"]]
    leads = dealer.leads.loc[dealer.leads["created_at"] < end]

    # ownership known by t: bought here (purchase) or first serviced here
    first_visit = sv.groupby("customer_id")["at"].min()
    v = veh[["customer_id", "purchase_date", "sold_by_this_dealer"]].copy()
    v["known_from"] = v["purchase_date"].where(
        v["sold_by_this_dealer"].astype(bool),
        pd.Series(first_visit.reindex(v["customer_id"]).to_numpy(), index=v.index),
    )
    v = v[v["known_from"] < end]
    own = (
        v.sort_values("purchase_date")
        .groupby("customer_id")
        .agg(
            purchase_date=("purchase_date", "last"),
            here=("sold_by_this_dealer", "any"),
            known_from=("known_from", "last"),
        )
    )

    last_visit = sv.groupby("customer_id")["at"].max()
    since = pd.concat([last_visit, own["known_from"].astype("datetime64[ns]")], axis=1).max(axis=1)
    months_since = (t - since) / pd.Timedelta(days=MONTH_DAYS)
    recent = sv[sv["at"] >= t - pd.DateOffset(months=24)]
    # a visit is a day at the workshop: several repair orders of one day (or one visit keyed
    # in twice) are one visit, as in rfm.summarize_visits
    visits_24 = (
        recent.assign(day=recent["at"].dt.normalize())
        .drop_duplicates(["customer_id", "day"])
        .groupby("customer_id")
        .size()
    )
    # longest gap among recent visits, including the gap up to t
    gaps = recent.sort_values(["customer_id", "at"]).groupby("customer_id")["at"].diff().dt.days
    max_gap = (
        gaps.groupby(recent.sort_values(["customer_id", "at"])["customer_id"]).max() / MONTH_DAYS
    )

    # lead outcomes as of t: status is re-derived from dates, not today's status column
    closed = leads["closed_at"].notna() & (leads["closed_at"] < end)
    open_lead = leads.loc[~closed].groupby("customer_id").size()
    defeated_lead = (
        leads.loc[closed & (leads["status"] == "defeated")].groupby("customer_id").size()
    )

    out = cust.set_index("customer_id")
    ids = out.index
    is_owner = isin(ids, own.index)
    ms = months_since.reindex(ids)
    v24 = visits_24.reindex(ids).fillna(0)
    gap = np.fmax(max_gap.reindex(ids).fillna(np.inf).to_numpy(), ms.fillna(np.inf).to_numpy())
    pa = p_alive.reindex(ids) if p_alive is not None else pd.Series(np.nan, index=ids)
    known_for = (t - own["known_from"].astype("datetime64[ns]")).reindex(ids) / pd.Timedelta(
        days=MONTH_DAYS
    )
    here = own["here"].reindex(ids).fillna(False).astype(bool)

    lost = ms > rules["lost_months"]
    dormant = ms > rules["dormant_months"]
    if p_alive is not None:
        has = pa.notna()
        dormant = dormant | (has & (pa < rules["p_alive_dormant"]))
        lost = lost & (~has | (pa < rules["p_alive_lost"]))
    new = known_for <= rules["new_months"]
    regular = (v24 / 2.0 >= rules["regular_visits_per_year"]) & (
        gap <= rules["regular_max_gap_months"]
    )

    owner_state = np.select(
        [lost, dormant, new & here, new & ~here, regular],
        ["lost", "dormant", "own_store_new", "bought_elsewhere", "regular"],
        default="floating",
    )
    non_owner = np.where(
        isin(ids, open_lead.index) | ~isin(ids, defeated_lead.index), "prospect", "defeated"
    )
    state = np.where(is_owner, owner_state, non_owner)
    res = pd.DataFrame(
        {
            "customer_id": ids,
            "state": pd.Categorical(state, categories=STATES),
            "origin": np.where(is_owner, np.where(here, "own_store", "elsewhere"), "none"),
            "months_since_visit": ms.round(2).to_numpy(),
            "visits_24m": v24.astype(int).to_numpy(),
            "last_visit": last_visit.reindex(ids).to_numpy(),
            "purchase_date": own["purchase_date"].reindex(ids).to_numpy(),
            "p_alive": pa.to_numpy(),
        }
    )
    return res.reset_index(drop=True)


def dormant_owners(
    dealer: DealerData | None = None,
    *,
    as_of: str | pd.Timestamp | None = None,
    p_alive: pd.Series | None = None,
    params: dict[str, Any] | None = None,
    states: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The dormant customers as of a date: owners in the lifecycle state ``dormant``.

    Dormant means no service visit (nor purchase known here) for more than ``dormant_months``
    but not yet ``lost_months``, or, with ``p_alive``, P(alive) below ``p_alive_dormant``
    (``params/lifecycle.yaml``; precedence in the module docstring).

    Parameters
    ----------
    dealer, as_of, p_alive, params
        As for :func:`lifecycle_states`, which is called when ``states`` is not given.
    states
        The output of :func:`lifecycle_states` when already computed (then the other
        arguments are not used).

    Returns
    -------
    pandas.DataFrame
        The rows of :func:`lifecycle_states` whose state is ``dormant`` (same columns, in
        customer order), with a fresh index.
    """
    if states is None:
        if dealer is None:
            raise InputError("dormant_owners needs a dealer or the states of lifecycle_states")
        states = lifecycle_states(dealer, as_of=as_of, p_alive=p_alive, params=params)
    elif "state" not in states.columns or "customer_id" not in states.columns:
        raise InputError(
            "dormant_owners: states must be the output of lifecycle_states "
            f"(columns customer_id and state); got columns {list(states.columns)}"
        )
    return states[states["state"] == DORMANT].reset_index(drop=True)


def state_counts(states: pd.DataFrame) -> pd.DataFrame:
    """Customers per state with shares (all states listed, zeros included)."""
    n = states["state"].value_counts().reindex(list(STATES), fill_value=0)
    total = int(n.sum())
    share = n / total if total else n.astype(float) * np.nan
    return pd.DataFrame({"state": n.index, "customers": n.to_numpy(), "share": share.to_numpy()})


def transition_matrix(
    dealer: DealerData,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    *,
    normalize: bool = False,
    p_alive_start: pd.Series | None = None,
    p_alive_end: pd.Series | None = None,
    params: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Customers moving between lifecycle states from ``start`` to ``end`` (for a flow chart).

    Rows are the states at ``start`` plus ``new`` (customers who did not exist yet); columns
    the states at ``end``. With ``normalize=True`` each row sums to 1 (empty rows stay NaN).
    """
    a = lifecycle_states(dealer, as_of=start, p_alive=p_alive_start, params=params)
    b = lifecycle_states(dealer, as_of=end, p_alive=p_alive_end, params=params)
    if pd.Timestamp(end) <= pd.Timestamp(start):
        raise InputError(f"transition_matrix needs end > start (got {start} -> {end})")
    m = b.merge(a[["customer_id", "state"]], on="customer_id", how="left", suffixes=("", "_start"))
    m["from"] = m["state_start"].astype(object).where(m["state_start"].notna(), "new")
    rows = ["new", *STATES]
    tab = pd.crosstab(m["from"], m["state"].astype(object)).reindex(
        index=rows, columns=list(STATES), fill_value=0
    )
    tab.index.name, tab.columns.name = "from", "to"
    if normalize:
        tot = tab.sum(axis=1)
        tab = tab.div(tot.where(tot > 0), axis=0)
    return tab
