"""Key accounts of a simulated dealer: company customers buying fleets over the years, with
the truth of which customers they are and how many vehicles they own (DIGEST sections 23-24:
the CRM department cultivates 大客户; section 48: the coaching plan's 大客户 action).

Drawn on the dealer's side stream 7, ``SeedSequence([seed, index, 7])``, after every other
stage, and appended to the finished tables with ids of their own (customers ``<D>-CK...``,
leads ``<D>-LK...``, orders ``<D>-OK...``, touchpoints ``<D>-TK...``, repair orders
``<D>-RK...``, front-desk entries ``<D>-VK...``, VINs ``JNF...``): with the feature off
(:attr:`SimConfig.key_accounts` false) every table is the same as before, and turning it on
only adds rows.

A dealer has about one account per 700 customers (2 to 11). Each account is a company (logistics, car rental, public sector, manufacturing, real
estate) that places 2 to 4 fleet orders between the window's start and ``as_of``; a fleet
order is one lead (won) and one ``orders`` row per vehicle (each with its VIN, delivery and
value-added items), a showroom visit and an order touch, and each delivered vehicle comes to
service about three times a year. The helpers :func:`order_rows` and :func:`vehicle_rows`
build order and vehicle rows for :mod:`crm_analytics.sim.events` as well.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics.core import schema
from crm_analytics.sim.config import DAY, MODEL_PRICE, YEAR_DAYS
from crm_analytics.sim.context import DealerContext
from crm_analytics.sim.draws import days, draw_names, draw_phones, make_ids

__all__ = [
    "COMPANY_INDUSTRIES",
    "append_rows",
    "consultants_at",
    "order_rows",
    "simulate_key_accounts",
    "vehicle_rows",
]

_STREAM = 7
#: Industries of the simulated key accounts (a company customer's ``industry``).
COMPANY_INDUSTRIES: tuple[str, ...] = schema.COMPANY_INDUSTRIES
_NAME_HEADS = (
    "华通",
    "顺达",
    "安捷",
    "恒信",
    "远航",
    "众诚",
    "鼎盛",
    "金桥",
    "宏远",
    "立信",
    "中瑞",
)
_NAME_TAILS = {
    "logistics": "物流有限公司",
    "car_rental": "汽车租赁有限公司",
    "public_sector": "机关事务服务中心",
    "manufacturing": "机械制造有限公司",
    "real_estate": "置业集团有限公司",
}
#: Fleet models by industry (weights in ``schema.MODELS`` order).
_FLEET_MODELS = {
    "logistics": [2, 4, 3, 0.5, 0.5],
    "car_rental": [5, 4, 2, 0.5, 0.2],
    "public_sector": [2, 1, 2, 4, 0.5],
    "manufacturing": [2, 3, 3, 1, 0.5],
    "real_estate": [1, 1, 2, 3, 2],
}
_FLEET_CHANNELS = ("phone_inquiry", "referral", "dcc_outbound")
#: Service visits per year of a fleet vehicle (they drive far more than private cars).
_FLEET_SERVICE_RATE = 3.0


def consultants_at(ctx: DealerContext, rng: np.random.Generator, times: np.ndarray) -> np.ndarray:
    """A sales consultant employed at each time, drawn from ``rng`` (not the main stream)."""
    st = ctx.staff[ctx.staff["role"] == "sales_consultant"]
    hired = st["hired_at"].to_numpy("datetime64[s]")
    left = st["left_at"].to_numpy("datetime64[s]")
    left = np.where(np.isnat(left), np.datetime64("2100-01-01", "s"), left)
    ids = st["staff_id"].to_numpy()
    out = np.empty(len(times), dtype=object)
    for i, t in enumerate(np.asarray(times, dtype="datetime64[s]")):
        pool = ids[(hired <= t) & (left > t)]
        out[i] = rng.choice(pool if len(pool) else ids)
    return out


def order_rows(
    ctx: DealerContext,
    rng: np.random.Generator,
    *,
    order_ids: np.ndarray,
    lead_ids: np.ndarray,
    customer_ids: np.ndarray,
    vins: np.ndarray,
    models: np.ndarray,
    ordered_at: np.ndarray,
    delivered_at: np.ndarray,
    discount: np.ndarray,
    company: bool,
) -> pd.DataFrame:
    """Canonical ``orders`` rows (one per vehicle) with value-added take-up.

    A company takes finance and trade-ins less often than a person; ``discount`` is the share
    off the list price (fleet orders get more). Orders not delivered by ``as_of`` are
    pending (or cancelled 30 days after the order, as in the main stage)."""
    n = len(order_ids)
    p = ctx.p
    price = np.round(np.array([MODEL_PRICE[m] for m in models], float) * (1 - discount), -2)
    fin = rng.random(n) < (0.10 if company else p.finance_rate)
    ins = rng.random(n) < p.insurance_rate
    acc = rng.random(n) < p.accessories_rate
    acc_amt = np.where(acc, np.round(rng.gamma(2.0, 3500 if company else 6000, n), 0), 0.0)
    ew = rng.random(n) < p.extended_warranty_rate
    ti = rng.random(n) < (0.02 if company else p.trade_in_rate)
    delivered_at = np.asarray(delivered_at, dtype="datetime64[s]")
    done = delivered_at <= ctx.as_of
    status = np.where(
        done,
        "delivered",
        np.where(np.asarray(ordered_at) + 30 * DAY <= ctx.as_of, "cancelled", "pending"),
    )
    return pd.DataFrame(
        {
            "dealer_id": ctx.did,
            "order_id": order_ids,
            "lead_id": lead_ids,
            "customer_id": customer_ids,
            "vin": np.where(done, vins, None),
            "model": models,
            "ordered_at": np.asarray(ordered_at, dtype="datetime64[s]"),
            "delivered_at": np.where(done, delivered_at, np.datetime64("NaT")),
            "status": status,
            "price": price,
            "vehicle_margin": np.round(price * rng.normal(0.008 if company else 0.015, 0.01, n)),
            "finance": fin,
            "finance_margin": np.where(fin, np.round(rng.gamma(6, 600, n), 0), 0.0),
            "insurance": ins,
            "insurance_margin": np.where(ins, np.round(rng.normal(1000, 150, n).clip(300)), 0.0),
            "accessories_amount": acc_amt,
            "accessories_margin": np.round(acc_amt * 0.38, 0),
            "extended_warranty": ew,
            "extended_warranty_margin": np.where(
                ew, np.round(rng.normal(1600, 200, n).clip(500), 0), 0.0
            ),
            "trade_in": ti,
            "trade_in_margin": np.where(ti, np.round(rng.normal(2500, 2500, n), 0), 0.0),
        }
    )


def vehicle_rows(ctx: DealerContext, orders: pd.DataFrame) -> pd.DataFrame:
    """Canonical ``vehicles`` rows of the delivered ``orders`` (3-year warranty)."""
    o = orders[orders["status"] == "delivered"]
    bought = o["delivered_at"].to_numpy("datetime64[s]")
    return pd.DataFrame(
        {
            "dealer_id": ctx.did,
            "vin": o["vin"].to_numpy(),
            "customer_id": o["customer_id"].to_numpy(),
            "model": o["model"].to_numpy(),
            "purchase_date": bought,
            "sold_by_this_dealer": True,
            "warranty_end": bought + days(np.full(len(o), 3 * YEAR_DAYS)),
            "finance_end": np.where(
                o["finance"].to_numpy(bool),
                bought + days(np.full(len(o), 3 * YEAR_DAYS)),
                np.datetime64("NaT"),
            ),
            "recall_campaign": None,
        }
    )


def append_rows(tables: dict[str, pd.DataFrame], new: dict[str, pd.DataFrame]) -> None:
    """Append ``new`` rows to ``tables`` in place (canonical columns; no existing row moves)."""
    for name, rows in new.items():
        if len(rows) == 0:
            continue
        base = tables.get(name)
        if base is None or len(base) == 0:
            tables[name] = rows.reset_index(drop=True)
            continue
        rows = rows.reindex(columns=base.columns)
        tables[name] = pd.concat([base, rows], ignore_index=True)


def _accounts(ctx: DealerContext, rng: np.random.Generator) -> pd.DataFrame:
    """The companies: name, industry, phone, first order day and number of fleet orders."""
    # about one account per 700 customers (at least 2, at most one per name head)
    n = int(np.clip(round(ctx.p.n_customers / 700), 2, len(_NAME_HEADS)))
    industry = rng.choice(COMPANY_INDUSTRIES, size=n)
    heads = rng.choice(len(_NAME_HEADS), size=n, replace=False)
    span = (ctx.as_of - ctx.start) / DAY
    first = ctx.start + days(rng.uniform(0.02, 0.5, n) * span)
    return pd.DataFrame(
        {
            "customer_id": make_ids(f"{ctx.did}-CK", n, width=4),
            "name": [_NAME_HEADS[h] + _NAME_TAILS[i] for h, i in zip(heads, industry, strict=True)],
            "industry": industry,
            "phone": draw_phones(rng, n),
            "contact": draw_names(rng, n)[0],
            "created_at": first - days(rng.uniform(20, 90, n)),
            "first_order": first,
            "n_orders": rng.integers(2, 5, n),
        }
    )


def _fleet_orders(ctx: DealerContext, rng: np.random.Generator, acc: pd.DataFrame) -> pd.DataFrame:
    """One row per fleet order: account, lead day, order day, vehicles, model."""
    rows = []
    for a in acc.itertuples():
        span = (ctx.as_of - a.first_order) / DAY
        offsets = np.sort(np.r_[0.0, rng.uniform(60, max(span - 20, 61), a.n_orders - 1)])
        for off in offsets:
            at = a.first_order + days(off)
            if at > ctx.as_of - 20 * DAY:
                continue
            rows.append(
                {
                    "customer_id": a.customer_id,
                    "industry": a.industry,
                    "ordered_at": ctx.in_hours(rng, np.array([at]))[0],
                    "lead_at": ctx.in_hours(rng, np.array([at - days(rng.uniform(10, 40))]))[0],
                    "size": int(rng.integers(2, 6)),
                }
            )
    fo = pd.DataFrame(rows)
    fo["model"] = [
        schema.MODELS[rng.choice(5, p=np.array(w) / np.sum(w))]
        for w in (_FLEET_MODELS[i] for i in fo["industry"])
    ]
    fo["lead_id"] = make_ids(f"{ctx.did}-LK", len(fo), width=5)
    return fo


def _service(ctx: DealerContext, rng: np.random.Generator, veh: pd.DataFrame) -> pd.DataFrame:
    """Service visits of the fleet vehicles: Poisson at :data:`_FLEET_SERVICE_RATE` a year."""
    rows = []
    advisors = ctx.staff_ids("service_advisor")
    for v in veh.itertuples():
        t, km_per_day = v.purchase_date, rng.uniform(80, 160)
        while True:
            t = t + days(rng.exponential(YEAR_DAYS / _FLEET_SERVICE_RATE))
            if t > ctx.as_of:
                break
            kind = rng.choice(
                ["maintenance", "repair", "warranty", "accident"], p=[0.7, 0.15, 0.1, 0.05]
            )
            if kind == "warranty" and t > v.warranty_end:
                kind = "repair"
            labor = 0.0 if kind == "warranty" else float(np.round(rng.gamma(3, 250), 2))
            parts = 0.0 if kind == "warranty" else float(np.round(rng.gamma(2, 600), 2))
            rows.append(
                {
                    "vin": v.vin,
                    "customer_id": v.customer_id,
                    "at": t,
                    "kind": kind,
                    "labor_amount": labor,
                    "parts_amount": parts,
                    "addon_amount": 0.0,
                    "margin": float(np.round(0.55 * labor + 0.25 * parts, 2)),
                    "mileage": float(np.round((t - v.purchase_date) / DAY * km_per_day)),
                    "advisor_id": rng.choice(advisors),
                }
            )
    sv = pd.DataFrame(rows)
    sv["at"] = ctx.in_hours(rng, sv["at"].to_numpy("datetime64[s]"))
    sv = sv[sv["at"] <= ctx.as_of].sort_values(["at", "vin"], kind="stable")
    sv.insert(0, "ro_id", make_ids(f"{ctx.did}-RK", len(sv), width=6))
    sv.insert(0, "dealer_id", ctx.did)
    return sv.reset_index(drop=True)


def _touches(
    ctx: DealerContext, rng: np.random.Generator, fo: pd.DataFrame, orders: pd.DataFrame
) -> pd.DataFrame:
    """Touchpoints of the fleet orders: a showroom visit, the order, the delivery."""
    d = ctx.did
    visit_at = fo["lead_at"] + pd.to_timedelta(rng.uniform(2, 8, len(fo)), "D")
    visit_at = visit_at.where(visit_at < fo["ordered_at"], fo["ordered_at"] - pd.Timedelta(hours=2))
    delivered_leads = orders.groupby("lead_id")["delivered_at"].min()
    tp = pd.concat(
        [
            pd.DataFrame({"lead_id": fo["lead_id"], "kind": "visit", "at": visit_at}),
            pd.DataFrame({"lead_id": fo["lead_id"], "kind": "order", "at": fo["ordered_at"]}),
            pd.DataFrame(
                {
                    "lead_id": delivered_leads.index,
                    "kind": "delivery",
                    "at": delivered_leads.to_numpy(),
                }
            ).dropna(),
        ],
        ignore_index=True,
    )
    tp = tp.merge(fo[["lead_id", "customer_id", "consultant_id"]], on="lead_id")
    tp = tp.sort_values(["at", "lead_id"], kind="stable").reset_index(drop=True)
    touches = pd.DataFrame(
        {
            "dealer_id": d,
            "touch_id": make_ids(f"{d}-TK", len(tp), width=6),
            "customer_id": tp["customer_id"],
            "lead_id": tp["lead_id"],
            "kind": tp["kind"],
            "channel": None,
            "at": tp["at"],
            "outcome": None,
            "dwell_minutes": np.where(
                tp["kind"] == "visit", np.round(rng.uniform(40, 120, len(tp))), np.nan
            ),
            "staff_id": tp["consultant_id"],
        }
    )
    return touches


def _visitor_log(
    ctx: DealerContext,
    rng: np.random.Generator,
    acc: pd.DataFrame,
    touches: pd.DataFrame,
    sv: pd.DataFrame,
) -> pd.DataFrame:
    """Front-desk entries of the accounts' visits, deliveries and service visits (the
    account's contact person's name and the company phone)."""
    d = ctx.did
    contact = dict(zip(acc["customer_id"], acc["contact"], strict=True))
    phone = dict(zip(acc["customer_id"], acc["phone"], strict=True))
    arrivals = pd.concat(
        [
            touches.loc[
                touches["kind"].isin(["visit", "delivery"]),
                ["customer_id", "at", "kind", "staff_id"],
            ],
            sv[["customer_id", "at"]].assign(kind="service", staff_id=sv["advisor_id"]),
        ],
        ignore_index=True,
    ).sort_values(["at", "customer_id"], kind="stable")
    vlog = pd.DataFrame(
        {
            "dealer_id": d,
            "entry_id": make_ids(f"{d}-VK", len(arrivals), width=6),
            "at": arrivals["at"].to_numpy("datetime64[s]")
            - days(rng.uniform(0, 10, len(arrivals)) / 1440),
            "name": arrivals["customer_id"].map(contact).to_numpy(),
            "phone": arrivals["customer_id"].map(phone).to_numpy(),
            "party_size": rng.integers(1, 4, len(arrivals)),
            "reason": arrivals["kind"]
            .map({"visit": "sales", "delivery": "delivery", "service": "service"})
            .to_numpy(),
            "staff_id": arrivals["staff_id"].to_numpy(),
        }
    )
    return vlog


def _truth(
    acc: pd.DataFrame,
    fo: pd.DataFrame,
    orders: pd.DataFrame,
    veh: pd.DataFrame,
    sv: pd.DataFrame,
) -> pd.DataFrame:
    """One row per key account: fleet orders, orders, vehicles and service visits at as_of."""
    truth = acc[["customer_id", "name", "industry"]].copy()
    truth["fleet_orders"] = (
        truth["customer_id"].map(fo.groupby("customer_id").size()).fillna(0).astype(int)
    )
    truth["orders"] = (
        truth["customer_id"].map(orders.groupby("customer_id").size()).fillna(0).astype(int)
    )
    truth["vehicles"] = (
        truth["customer_id"].map(veh.groupby("customer_id").size()).fillna(0).astype(int)
    )
    truth["service_visits"] = (
        truth["customer_id"].map(sv.groupby("customer_id").size()).fillna(0).astype(int)
    )
    return truth


def simulate_key_accounts(
    ctx: DealerContext,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The key accounts' rows for each table, and their truth.

    Returns
    -------
    (dict, pandas.DataFrame)
        Table name -> rows to append (canonical columns), and the truth: one row per key
        account (``customer_id``, ``name``, ``industry``, ``fleet_orders``, ``orders``,
        ``vehicles`` delivered by ``as_of``, ``service_visits``).
    """
    rng = ctx.stream(_STREAM)
    d = ctx.did
    acc = _accounts(ctx, rng)
    fo = _fleet_orders(ctx, rng, acc)
    fo["consultant_id"] = consultants_at(ctx, rng, fo["lead_at"].to_numpy("datetime64[s]"))
    per = fo.loc[fo.index.repeat(fo["size"])].reset_index(drop=True)
    n = len(per)
    model_code = np.array([schema.MODELS.index(m) for m in per["model"]])
    vins = np.array(
        [f"JNF{ctx.index + 1:03d}{mc}{i:010d}" for i, mc in enumerate(model_code)], dtype=object
    )
    ordered = per["ordered_at"].to_numpy("datetime64[s]")
    # a fleet order's vehicles come together, 10-40 days after the order
    deliver = np.repeat(
        ctx.in_hours(
            rng, fo["ordered_at"].to_numpy("datetime64[s]") + days(rng.uniform(10, 40, len(fo)))
        ),
        fo["size"].to_numpy(),
    )
    orders = order_rows(
        ctx,
        rng,
        order_ids=make_ids(f"{d}-OK", n, width=5),
        lead_ids=per["lead_id"].to_numpy(),
        customer_ids=per["customer_id"].to_numpy(),
        vins=vins,
        models=per["model"].to_numpy(),
        ordered_at=ordered,
        delivered_at=deliver,
        discount=rng.uniform(0.04, 0.09, n),
        company=True,
    )
    veh = vehicle_rows(ctx, orders)
    customers = pd.DataFrame(
        {
            "dealer_id": d,
            "customer_id": acc["customer_id"],
            "name": acc["name"],
            "phone": acc["phone"],
            "gender": None,
            "birth_year": pd.array([pd.NA] * len(acc), dtype="Int64"),
            "city": ctx.p.city,
            "industry": acc["industry"],
            "hobbies": None,
            "distance_km": np.round(rng.uniform(2, 30, len(acc)), 1),
            "created_at": ctx.in_hours(rng, acc["created_at"].to_numpy("datetime64[s]")),
        }
    )
    leads = pd.DataFrame(
        {
            "dealer_id": d,
            "lead_id": fo["lead_id"],
            "customer_id": fo["customer_id"],
            "channel": rng.choice(_FLEET_CHANNELS, size=len(fo)),
            "model_interest": fo["model"],
            "created_at": fo["lead_at"],
            "consultant_id": fo["consultant_id"],
            "intent_grade": "H",
            "status": "won",
            "closed_at": fo["ordered_at"],
            "defeat_reason": None,
            "first_response_at": fo["lead_at"] + pd.to_timedelta(rng.uniform(5, 90, len(fo)), "m"),
            "event_id": None,
        }
    )
    touches = _touches(ctx, rng, fo, orders)
    sv = _service(ctx, rng, veh)
    vlog = _visitor_log(ctx, rng, acc, touches, sv)
    truth = _truth(acc, fo, orders, veh, sv)
    new = {
        "customers": customers,
        "vehicles": veh,
        "leads": leads,
        "touchpoints": touches,
        "orders": orders,
        "service_visits": sv,
        "visitor_log": vlog,
    }
    return new, truth
