"""Key accounts and marketing events (DIGEST sections 23-24: 大客户 and 活动 as the CRM
department's customer cultivation; section 48: the coaching plan's 大客户 action; section 5:
店内活动 and 店外活动 as lead sources).

Key accounts are found in the data, not declared: customers with at least ``min_vehicles``
vehicles or ``min_orders`` orders (``params/lifecycle.yaml`` ``key_accounts``); a name with a
company marker (公司, 集团, 中心 ...) flags a company. Events are the ``events`` table; an
event's leads are the leads whose ``event_id`` names it, and its visits and orders are those
of its leads within ``follow_up_days`` of the event's end.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from crm_analytics.core.errors import InputError
from crm_analytics.core.schema import ORDER_MARGIN_COLUMNS

__all__ = [
    "COMPANY_MARKERS",
    "VALUE_ADDED_ITEMS",
    "event_kind_summary",
    "event_results",
    "is_company",
    "key_accounts",
]

#: Substrings of a company's name (a person's name has none of them).
COMPANY_MARKERS: tuple[str, ...] = ("公司", "集团", "中心", "局", "厂", "医院", "学校", "银行")
#: Value-added items whose take-up is shown per account (share of its orders).
VALUE_ADDED_ITEMS: tuple[str, ...] = ("finance", "insurance", "extended_warranty", "accessories")


def _need(frame: pd.DataFrame, table: str, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InputError(
            f"table {table} is missing column(s) {missing}; map them in params/dms_mapping.yaml"
        )


def is_company(names: pd.Series, markers: Sequence[str] = COMPANY_MARKERS) -> pd.Series:
    """Whether each name is a company's (contains one of ``markers``)."""
    s = names.astype("string").fillna("")
    out = pd.Series(False, index=names.index)
    for m in markers:
        out |= s.str.contains(m, regex=False)
    return out.astype(bool)


def key_accounts(
    customers: pd.DataFrame,
    vehicles: pd.DataFrame,
    orders: pd.DataFrame,
    service_visits: pd.DataFrame,
    touchpoints: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str,
    min_vehicles: int = 3,
    min_orders: int = 3,
    service_months: int = 12,
    company_markers: Sequence[str] = COMPANY_MARKERS,
) -> pd.DataFrame:
    """The key accounts found in the data, one row per account, largest fleet first.

    Parameters
    ----------
    customers, vehicles, orders, service_visits, touchpoints
        The dealer's tables.
    as_of
        The data date (the service window ends there; a date without a time of day
        includes that day).
    min_vehicles, min_orders
        A customer with at least this many vehicles, or at least this many orders (cancelled
        ones not counted), is a key account.
    service_months
        Service visits are counted in the months before ``as_of``.
    company_markers
        Name substrings that flag a company (:func:`is_company`).

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``name``, ``phone`` (unmasked: mask in views), ``industry``,
        ``company``, ``vehicles``, ``orders``, ``revenue`` (yuan, prices of the orders),
        ``margin`` (yuan, sum of the order margin columns), ``<item>_rate`` per value-added
        item (share of the orders), ``service_visits`` (last ``service_months``),
        ``last_contact`` (latest touchpoint, order or service visit), ``sales_share`` (the
        account's share of the dealer's orders in the data).
    """
    _need(customers, "customers", ("customer_id", "name"))
    _need(orders, "orders", ("customer_id", "status", "price", *ORDER_MARGIN_COLUMNS))
    as_of = pd.Timestamp(as_of)
    # a data date without a time of day covers that whole day (as the validation's as-of rule)
    end = as_of + pd.Timedelta(days=1) if as_of == as_of.normalize() else as_of
    live = orders[orders["status"] != "cancelled"]
    n_veh = vehicles.groupby("customer_id").size()
    n_ord = live.groupby("customer_id").size()
    ids = n_veh.index[n_veh >= min_vehicles].union(n_ord.index[n_ord >= min_orders])
    cust = customers.set_index("customer_id").reindex(ids)
    o = live[live["customer_id"].isin(ids)].assign(
        margin=lambda f: f[list(ORDER_MARGIN_COLUMNS)].sum(axis=1),
        accessories=lambda f: f["accessories_amount"] > 0,
    )
    g = o.groupby("customer_id")
    since = as_of - pd.DateOffset(months=service_months)
    sv = service_visits[
        service_visits["customer_id"].isin(ids)
        & (service_visits["at"] > since)
        & (service_visits["at"] < end)
    ]
    last = pd.concat(
        [
            touchpoints.loc[touchpoints["customer_id"].isin(ids), ["customer_id", "at"]],
            o[["customer_id", "ordered_at"]].rename(columns={"ordered_at": "at"}),
            service_visits.loc[service_visits["customer_id"].isin(ids), ["customer_id", "at"]],
        ]
    )
    last = last[last["at"] < end].groupby("customer_id")["at"].max()
    out = pd.DataFrame(
        {
            "customer_id": ids,
            "name": cust["name"].to_numpy(),
            "phone": cust["phone"].to_numpy() if "phone" in cust else None,
            "industry": cust["industry"].to_numpy() if "industry" in cust else None,
            "company": is_company(cust["name"], company_markers).to_numpy(),
            "vehicles": n_veh.reindex(ids, fill_value=0).to_numpy(int),
            "orders": n_ord.reindex(ids, fill_value=0).to_numpy(int),
            "revenue": g["price"].sum().reindex(ids, fill_value=0.0).to_numpy(float),
            "margin": g["margin"].sum().reindex(ids, fill_value=0.0).to_numpy(float),
        }
    )
    for item in VALUE_ADDED_ITEMS:
        out[f"{item}_rate"] = g[item].mean().reindex(ids).to_numpy(float)
    out["service_visits"] = sv.groupby("customer_id").size().reindex(ids, fill_value=0).to_numpy()
    out["last_contact"] = last.reindex(ids).to_numpy()
    total = len(live)
    out["sales_share"] = out["orders"] / total if total else np.nan
    out = out.sort_values(["vehicles", "orders", "customer_id"], ascending=[False, False, True])
    return out.reset_index(drop=True)


def event_results(
    events: pd.DataFrame,
    leads: pd.DataFrame,
    touchpoints: pd.DataFrame,
    orders: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str,
    follow_up_days: int = 90,
) -> pd.DataFrame:
    """Leads, showroom visits and orders of each event, and its cost per lead and per order.

    Parameters
    ----------
    events, leads, touchpoints, orders
        The dealer's tables (``leads.event_id`` names the event that produced a lead).
    as_of
        The data date: an event whose window ends after it is still open (``complete``
        false; its counts can still grow).
    follow_up_days
        A lead's visit or order counts for its event when it comes no later than this many
        days after the event's end.

    Returns
    -------
    pandas.DataFrame
        One row per event, in start order: ``event_id``, ``kind``, ``name``, ``start``,
        ``end``, ``cost``, ``leads``, ``visits`` (leads with a showroom visit in the window),
        ``orders`` (orders placed in the window, any status), ``delivered``,
        ``visit_rate``, ``order_rate`` (per lead), ``cost_per_lead``, ``cost_per_order``
        (yuan; empty without leads or orders) and ``complete``.
    """
    _need(events, "events", ("event_id", "kind", "start", "end", "cost"))
    _need(leads, "leads", ("lead_id", "event_id", "created_at"))
    as_of = pd.Timestamp(as_of)
    ev = events.sort_values(["start", "event_id"], kind="stable").reset_index(drop=True)
    if ev.empty:  # no events recorded: no rows (the columns as for a dealer with events)
        ints = ["leads", "visits", "orders", "delivered"]
        floats = ["visit_rate", "order_rate", "cost_per_lead", "cost_per_order"]
        return ev[["event_id", "kind", "name", "start", "end", "cost"]].assign(
            **{c: pd.Series(dtype=int) for c in ints},
            **{c: pd.Series(dtype=float) for c in floats},
            complete=pd.Series(dtype=bool),
        )
    window_end = ev.set_index("event_id")["end"] + pd.Timedelta(days=follow_up_days)
    lead_ev = leads.loc[leads["event_id"].notna(), ["lead_id", "event_id", "created_at"]]
    lead_ev = lead_ev[lead_ev["event_id"].isin(ev["event_id"])]
    lead_ev = lead_ev.assign(until=lead_ev["event_id"].map(window_end))
    vis = touchpoints.loc[touchpoints["kind"] == "visit", ["lead_id", "at"]].merge(
        lead_ev, on="lead_id"
    )
    vis = vis[(vis["at"] >= vis["created_at"]) & (vis["at"] <= vis["until"])]
    od = orders[["lead_id", "ordered_at", "status"]].merge(lead_ev, on="lead_id")
    od = od[od["ordered_at"] <= od["until"]]
    ids = ev["event_id"]
    out = ev[["event_id", "kind", "name", "start", "end", "cost"]].copy()
    out["leads"] = ids.map(lead_ev.groupby("event_id").size()).fillna(0).astype(int)
    out["visits"] = ids.map(vis.groupby("event_id")["lead_id"].nunique()).fillna(0).astype(int)
    out["orders"] = ids.map(od.groupby("event_id").size()).fillna(0).astype(int)
    delivered = od[od["status"] == "delivered"].groupby("event_id").size()
    out["delivered"] = ids.map(delivered).fillna(0).astype(int)
    leads_n = out["leads"].where(out["leads"] > 0)
    out["visit_rate"] = out["visits"] / leads_n
    out["order_rate"] = out["orders"] / leads_n
    out["cost_per_lead"] = out["cost"] / leads_n
    out["cost_per_order"] = out["cost"] / out["orders"].where(out["orders"] > 0)
    out["complete"] = (out["event_id"].map(window_end) <= as_of).to_numpy()
    return out


def event_kind_summary(results: pd.DataFrame) -> pd.DataFrame:
    """:func:`event_results` summed per event kind: events, cost, leads, visits, orders and the
    cost per lead and per order (index: kind)."""
    g = results.groupby("kind")
    out = pd.DataFrame(
        {
            "events": g.size(),
            "cost": g["cost"].sum(),
            "leads": g["leads"].sum(),
            "visits": g["visits"].sum(),
            "orders": g["orders"].sum(),
        }
    )
    out["cost_per_lead"] = out["cost"] / out["leads"].where(out["leads"] > 0)
    out["cost_per_order"] = out["cost"] / out["orders"].where(out["orders"] > 0)
    return out
