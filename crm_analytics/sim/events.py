"""Dealer marketing events of a simulated dealer and the leads they produce, with the truth of
each event's leads, showroom visits and orders (DIGEST section 5: 店内活动 in the showroom,
店外活动 such as exhibitions and mall tours, as lead sources; sections 23-24: 活动 as the CRM
department's customer cultivation).

Drawn on the dealer's side stream 8, ``SeedSequence([seed, index, 8])``, after every other
stage (and after :mod:`crm_analytics.sim.key_accounts`, which draws from its own stream), and
appended with ids of their own (events ``<D>-E...``, customers ``<D>-CE...``, leads
``<D>-LE...``, touchpoints ``<D>-TE...``, orders ``<D>-OE...``, front-desk entries
``<D>-VE...``, VINs ``JNE...``): with the feature off (:attr:`SimConfig.events` false) every
table is the same as before, and the leads table's ``event_id`` is empty.

An event produces new people met there: each becomes a customer with one lead, created at
the event, whose ``event_id`` names it (channel ``walk_in`` for an in-store event, where the
lead's first showroom visit is the event itself; ``auto_show`` for an outside one, whose leads
may come to the showroom later). A share of the leads order within :data:`FOLLOW_UP_DAYS` of
the event's end (every simulated order falls inside it). The cost of an event is in the
``events`` table, not in ``channel_costs`` (whose rows stay as they were).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics.core import schema
from crm_analytics.sim.config import DAY
from crm_analytics.sim.context import DealerContext
from crm_analytics.sim.draws import days, draw_names, draw_phones, make_ids
from crm_analytics.sim.key_accounts import consultants_at, order_rows, vehicle_rows

__all__ = ["FOLLOW_UP_DAYS", "simulate_events"]

_STREAM = 8
#: Days after an event's end within which its leads' visits and orders are counted (the
#: metric's default window; every simulated visit and order of an event lead falls inside it).
FOLLOW_UP_DAYS = 90
#: kind -> (events per year, days long, mean leads, P(showroom visit), P(order), cost range)
_KINDS = {
    "in_store": (4.0, (1, 2), 10.0, 1.0, 0.12, (8_000.0, 30_000.0)),
    "outside": (2.0, (2, 5), 20.0, 0.35, 0.05, (30_000.0, 120_000.0)),
}
_NAMES = {
    "in_store": ("新车品鉴会", "试驾体验日", "车主关怀日", "周末团购会", "金融购车节"),
    "outside": ("国际车展", "商场巡展", "社区外展", "高尔夫球会展示", "企业园区巡展"),
}
_CHANNEL = {"in_store": "walk_in", "outside": "auto_show"}


def _events(ctx: DealerContext, rng: np.random.Generator) -> pd.DataFrame:
    """The events inside the window (ending before ``as_of``)."""
    rows = []
    span = (ctx.as_of - ctx.start) / DAY
    for kind, (per_year, (lo, hi), *_rest, (c_lo, c_hi)) in _KINDS.items():
        n = int(rng.poisson(per_year * span / 365.25))
        start = np.sort(ctx.start + days(rng.uniform(0, span - 7, n))).astype("datetime64[D]")
        length = rng.integers(lo, hi + 1, n)
        for s, k in zip(start, length, strict=True):
            rows.append(
                {
                    "kind": kind,
                    "name": str(rng.choice(_NAMES[kind])),
                    "start": s.astype("datetime64[s]") + np.timedelta64(ctx.open_h, "h"),
                    "end": (s + np.timedelta64(int(k) - 1, "D")).astype("datetime64[s]")
                    + np.timedelta64(ctx.close_h, "h"),
                    "cost": float(np.round(rng.uniform(c_lo, c_hi), -2)),
                }
            )
    ev = pd.DataFrame(rows).sort_values(["start", "kind"], kind="stable").reset_index(drop=True)
    ev = ev[ev["end"] <= ctx.as_of].reset_index(drop=True)
    ev.insert(0, "event_id", make_ids(f"{ctx.did}-E", len(ev), width=4))
    ev["name"] = [
        f"{pd.Timestamp(s):%Y年%m月}{n}" for s, n in zip(ev["start"], ev["name"], strict=True)
    ]
    return ev


def _event_leads(ctx: DealerContext, rng: np.random.Generator, ev: pd.DataFrame) -> pd.DataFrame:
    """One row per lead met at an event: when, whether and when it visits and orders."""
    parts = []
    for e in ev.itertuples():
        _, _, mean, p_visit, p_order, _ = _KINDS[e.kind]
        n = int(rng.poisson(mean))
        if n == 0:
            continue
        n_days = int((e.end - e.start) / DAY) + 1
        day = e.start.to_datetime64().astype("datetime64[D]") + rng.integers(0, n_days, n)
        at = ctx.in_hours(rng, day)
        if e.kind == "in_store":
            visit = np.ones(n, bool)
            visit_at = at
        else:
            visit = rng.random(n) < p_visit
            visit_at = ctx.in_hours(rng, (at + days(rng.uniform(2, 45, n))).astype("datetime64[D]"))
        order = visit & (rng.random(n) < p_order / p_visit)
        order_at = ctx.in_hours(
            rng, (visit_at + days(rng.uniform(0.5, 40, n))).astype("datetime64[D]")
        )
        order_at = np.maximum(order_at, visit_at + np.timedelta64(3600, "s"))
        parts.append(
            pd.DataFrame(
                {
                    "event_id": e.event_id,
                    "kind": e.kind,
                    "at": at,
                    "visit": visit,
                    "visit_at": np.where(visit, visit_at, np.datetime64("NaT")),
                    "order": order,
                    "order_at": np.where(order, order_at, np.datetime64("NaT")),
                    "model": rng.choice(schema.MODELS, size=n, p=[0.3, 0.3, 0.25, 0.1, 0.05]),
                }
            )
        )
    el = pd.concat(parts, ignore_index=True)
    # what the data shows at as_of: later visits and orders have not happened yet
    el["visit"] &= el["visit_at"] <= ctx.as_of
    el["order"] &= el["order_at"] <= ctx.as_of
    el["visit_at"] = el["visit_at"].where(el["visit"])
    el["order_at"] = el["order_at"].where(el["order"])
    return el


def simulate_events(
    ctx: DealerContext,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The events and their leads' rows for each table, and the truth per event.

    Returns
    -------
    (dict, pandas.DataFrame)
        Table name -> rows to append (canonical columns; ``events`` is new), and the truth:
        one row per event (``event_id``, ``kind``, ``cost``, ``leads``, ``visits`` (leads with
        a showroom visit), ``orders``, ``delivered``), counted at ``as_of``.
    """
    rng = ctx.stream(_STREAM)
    d = ctx.did
    ev = _events(ctx, rng)
    el = _event_leads(ctx, rng, ev)
    n = len(el)
    el["customer_id"] = make_ids(f"{d}-CE", n, width=5)
    el["lead_id"] = make_ids(f"{d}-LE", n, width=5)
    el["consultant_id"] = consultants_at(ctx, rng, el["at"].to_numpy("datetime64[s]"))
    names = draw_names(rng, n)[0]
    phones = draw_phones(rng, n)
    customers = pd.DataFrame(
        {
            "dealer_id": d,
            "customer_id": el["customer_id"],
            "name": names,
            "phone": phones,
            "gender": rng.choice(["M", "F"], size=n, p=[0.65, 0.35]),
            "birth_year": pd.array(rng.integers(1965, 2000, n), dtype="Int64"),
            "city": ctx.p.city,
            "industry": rng.choice(schema.INDUSTRIES, size=n),
            "hobbies": None,
            "distance_km": np.round(rng.gamma(2.0, 6.0, n), 1),
            "created_at": el["at"],
        }
    )
    # an open lead is closed as defeated 30-120 days after its last contact, if by as_of
    last = el["visit_at"].fillna(el["at"])
    defeat_at = last + pd.to_timedelta(rng.uniform(30, 120, n), "D")
    defeated = ~el["order"] & (defeat_at <= ctx.as_of)
    leads = pd.DataFrame(
        {
            "dealer_id": d,
            "lead_id": el["lead_id"],
            "customer_id": el["customer_id"],
            "channel": el["kind"].map(_CHANNEL),
            "model_interest": el["model"],
            "created_at": el["at"],
            "consultant_id": el["consultant_id"],
            "intent_grade": rng.choice(schema.INTENT_GRADES, size=n, p=[0.15, 0.3, 0.35, 0.2]),
            "status": np.where(el["order"], "won", np.where(defeated, "defeated", "open")),
            "closed_at": el["order_at"].where(el["order"], defeat_at.where(defeated)),
            "defeat_reason": np.where(
                defeated, rng.choice(["price", "postponed", "bought_competitor"], size=n), None
            ),
            "first_response_at": el["at"],
            "event_id": el["event_id"],
        }
    )
    o = el[el["order"]]
    m = len(o)
    model_code = np.array([schema.MODELS.index(x) for x in o["model"]], dtype=int)
    ordered = o["order_at"].to_numpy("datetime64[s]")
    orders = order_rows(
        ctx,
        rng,
        order_ids=make_ids(f"{d}-OE", m, width=5),
        lead_ids=o["lead_id"].to_numpy(),
        customer_ids=o["customer_id"].to_numpy(),
        vins=np.array(
            [f"JNE{ctx.index + 1:03d}{mc}{i:010d}" for i, mc in enumerate(model_code)],
            dtype=object,
        ),
        models=o["model"].to_numpy(),
        ordered_at=ordered,
        delivered_at=ctx.in_hours(
            rng, (ordered + days(rng.uniform(7, 30, m))).astype("datetime64[D]")
        ),
        discount=rng.uniform(0.0, 0.04, m),
        company=False,
    )
    veh = vehicle_rows(ctx, orders)
    tp = pd.concat(
        [
            el.assign(kind="inquiry", t=el["at"], channel=el["kind"].map(_CHANNEL)),
            el[el["visit"]].assign(kind="visit", t=el["visit_at"], channel=None),
            o.assign(kind="order", t=o["order_at"], channel=None),
            orders[orders["status"] == "delivered"]
            .merge(el[["lead_id", "consultant_id"]], on="lead_id")
            .assign(kind="delivery", t=lambda f: f["delivered_at"], channel=None),
        ],
        ignore_index=True,
    )
    # an in-store event's lead is created at its visit: the visit comes a minute after
    tp.loc[(tp["kind"] == "visit") & (tp["t"] == tp["at"]), "t"] += pd.Timedelta(minutes=1)
    tp = tp.sort_values(["t", "lead_id"], kind="stable").reset_index(drop=True)
    touches = pd.DataFrame(
        {
            "dealer_id": d,
            "touch_id": make_ids(f"{d}-TE", len(tp), width=6),
            "customer_id": tp["customer_id"],
            "lead_id": tp["lead_id"],
            "kind": tp["kind"],
            "channel": tp["channel"],
            "at": tp["t"],
            "outcome": None,
            "dwell_minutes": np.where(
                tp["kind"] == "visit", np.round(rng.uniform(20, 90, len(tp))), np.nan
            ),
            "staff_id": tp["consultant_id"],
        }
    )
    arr = touches[touches["kind"].isin(["visit", "delivery"])]
    who = customers.set_index("customer_id")
    vlog = pd.DataFrame(
        {
            "dealer_id": d,
            "entry_id": make_ids(f"{d}-VE", len(arr), width=6),
            "at": arr["at"].to_numpy("datetime64[s]") - days(rng.uniform(0, 10, len(arr)) / 1440),
            "name": who.loc[arr["customer_id"], "name"].to_numpy(),
            "phone": who.loc[arr["customer_id"], "phone"].to_numpy(),
            "party_size": rng.integers(1, 4, len(arr)),
            "reason": arr["kind"].map({"visit": "sales", "delivery": "delivery"}).to_numpy(),
            "staff_id": arr["staff_id"].to_numpy(),
        }
    ).sort_values("at", kind="stable")
    g = el.groupby("event_id")
    truth = ev[["event_id", "kind", "cost"]].copy()
    truth["leads"] = truth["event_id"].map(g.size()).fillna(0).astype(int)
    truth["visits"] = truth["event_id"].map(g["visit"].sum()).fillna(0).astype(int)
    truth["orders"] = truth["event_id"].map(g["order"].sum()).fillna(0).astype(int)
    delivered = orders.merge(el[["lead_id", "event_id"]], on="lead_id")
    delivered = delivered[delivered["status"] == "delivered"].groupby("event_id").size()
    truth["delivered"] = truth["event_id"].map(delivered).fillna(0).astype(int)
    ev.insert(0, "dealer_id", d)
    new = {
        "events": ev,
        "customers": customers,
        "vehicles": veh,
        "leads": leads,
        "touchpoints": touches,
        "orders": orders,
        "visitor_log": vlog,
    }
    return new, truth
