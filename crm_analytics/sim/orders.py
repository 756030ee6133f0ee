"""Orders and deliveries stage: the owners and their vehicles (buyers delivered here, owners who
bought here before the window, owners who bought elsewhere), the orders with their value-added
take-up, and the orders and vehicles tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics.core import schema
from crm_analytics.sim.config import MODEL_PRICE, YEAR_DAYS
from crm_analytics.sim.context import DealerContext
from crm_analytics.sim.customers import Customers
from crm_analytics.sim.draws import days, make_ids, persona_draw


@dataclass
class Owners:
    """The vehicle owners, one row per vehicle: the delivered buyers (``buyers``: their lead
    rows) then the pre-window and bought-elsewhere owners.

    ``idx`` is each owner's position in the customers frame; ``here`` whether the car was sold
    by this dealer; ``fin`` whether the owner took finance (applies to own-store sales).
    """

    buyers: np.ndarray
    idx: np.ndarray
    models: np.ndarray
    model_code: np.ndarray
    purchase: np.ndarray
    here: np.ndarray
    vin: np.ndarray
    warranty_end: np.ndarray
    fin: np.ndarray
    finance_end: np.ndarray

    def __len__(self) -> int:
        """Number of owners (vehicles)."""
        return len(self.idx)


def draw_owners(ctx: DealerContext, L: pd.DataFrame, cust: Customers) -> Owners:
    """The owners: models (a lead's model of interest, else drawn from the persona), purchase
    dates, VINs, a 3-year warranty and finance take-up."""
    rng, p = ctx.rng, ctx.p
    n_leads, n_pre, n_else = cust.n_leads, cust.n_pre, cust.n_else
    buyers = np.flatnonzero(L["deliver"].to_numpy())
    own_models = np.concatenate(
        [
            L["model"].to_numpy()[buyers],
            persona_draw(rng, cust.persona[n_leads:], schema.MODELS, 6),
        ]
    )
    owner_idx = np.concatenate([buyers, np.arange(n_leads, cust.n_total)])
    purchase = np.concatenate(
        [
            L["t_deliver"].to_numpy("datetime64[s]")[buyers],
            cust.pre_purchase,
            cust.else_purchase.astype("datetime64[s]"),
        ]
    )
    here = np.concatenate([np.ones(len(buyers) + n_pre, bool), np.zeros(n_else, bool)])
    n_own = len(owner_idx)
    model_code = np.array([schema.MODELS.index(m) for m in own_models])
    vin = np.array(
        [f"JNK{ctx.index + 1:03d}{mc}{i:010d}" for i, mc in enumerate(model_code)],
        dtype=object,
    )
    warranty_end = purchase + days(np.full(n_own, 3 * YEAR_DAYS))
    fin = rng.random(n_own) < p.finance_rate
    finance_end = np.where(
        fin & here, purchase + days(np.full(n_own, 3 * YEAR_DAYS)), np.datetime64("NaT")
    )
    return Owners(
        buyers,
        owner_idx,
        own_models,
        model_code,
        purchase,
        here,
        vin,
        warranty_end,
        fin,
        finance_end,
    )


def draw_orders(
    ctx: DealerContext, L: pd.DataFrame, owners: Owners, ins_taken: np.ndarray
) -> pd.DataFrame:
    """Every order (also those after ``as_of`` and the cancelled ones): price, margins and the
    value-added take-up (finance and insurance agree with the delivered buyer's vehicle and
    policy; accessories, extended warranty, trade-in)."""
    rng, p, d = ctx.rng, ctx.p, ctx.did
    buyers, vin = owners.buyers, owners.vin
    o_rows = np.flatnonzero(L["order"].to_numpy())
    n_o = len(o_rows)
    o_model = L["model"].to_numpy()[o_rows]
    price = np.round(np.array([MODEL_PRICE[m] for m in o_model]) * rng.uniform(0.85, 1.02, n_o), -2)
    buyer_pos = {r: i for i, r in enumerate(buyers)}
    o_fin = np.array(
        [
            owners.fin[buyer_pos[r]] if r in buyer_pos else rng.random() < p.finance_rate
            for r in o_rows
        ],
        bool,
    )
    o_ins = np.array(
        [
            ins_taken[buyer_pos[r]] if r in buyer_pos else rng.random() < p.insurance_rate
            for r in o_rows
        ],
        bool,
    )
    acc = rng.random(n_o) < p.accessories_rate
    acc_amt = np.where(acc, np.round(rng.gamma(2.5, 3000, n_o), 0), 0.0)
    ew = rng.random(n_o) < p.extended_warranty_rate
    ti = rng.random(n_o) < p.trade_in_rate
    delivered = L["deliver"].to_numpy()[o_rows]
    t_del = L["t_deliver"].to_numpy("datetime64[s]")[o_rows]
    return pd.DataFrame(
        {
            "order_id": make_ids(f"{d}-O", n_o),
            "row": o_rows,
            "lead_id": L["lead_id"].to_numpy()[o_rows],
            "customer_id": L["customer_id"].to_numpy()[o_rows],
            "vin": np.where(
                delivered,
                np.array(
                    [vin[buyer_pos[r]] if r in buyer_pos else None for r in o_rows], dtype=object
                ),
                None,
            ),
            "model": o_model,
            "ordered_at": L["t_order"].to_numpy("datetime64[s]")[o_rows],
            "delivered_at": np.where(delivered, t_del, np.datetime64("NaT")),
            "cancelled": ~delivered,
            "price": price,
            "vehicle_margin": np.round(price * rng.normal(0.015, 0.02, n_o), 0),
            "finance": o_fin,
            "finance_margin": np.where(o_fin, np.round(rng.gamma(6, 600, n_o), 0), 0.0),
            "insurance": o_ins,
            "insurance_margin": np.where(
                o_ins, np.round(rng.normal(1000, 150, n_o).clip(300), 0), 0.0
            ),
            "accessories_amount": acc_amt,
            "accessories_margin": np.round(acc_amt * 0.38, 0),
            "extended_warranty": ew,
            "extended_warranty_margin": np.where(
                ew, np.round(rng.normal(1600, 200, n_o).clip(500), 0), 0.0
            ),
            "trade_in": ti,
            "trade_in_margin": np.where(ti, np.round(rng.normal(2500, 2500, n_o), 0), 0.0),
        }
    )


def orders_table(ctx: DealerContext, orders_all: pd.DataFrame) -> pd.DataFrame:
    """The orders table as of ``as_of``: delivered, cancelled (undelivered 30 days after the
    order) or pending."""
    as_of = ctx.as_of
    orders = orders_all[orders_all["ordered_at"] <= as_of].copy()
    orders["delivered_at"] = orders["delivered_at"].where(orders["delivered_at"] <= as_of)
    orders["vin"] = orders["vin"].where(orders["delivered_at"].notna())
    orders["status"] = np.where(
        orders["delivered_at"].notna(),
        "delivered",
        np.where(
            orders["cancelled"] & (orders["ordered_at"] + pd.Timedelta(days=30) <= as_of),
            "cancelled",
            "pending",
        ),
    )
    orders = orders.drop(columns=["row", "cancelled"])
    orders.insert(0, "dealer_id", ctx.did)
    return orders


def vehicles_table(
    ctx: DealerContext,
    owners: Owners,
    C: pd.DataFrame,
    recall_code: np.ndarray,
    known_from: np.ndarray,
) -> pd.DataFrame:
    """The vehicles table: the vehicles the DMS knows at ``as_of`` (``known_from``)."""
    veh = pd.DataFrame(
        {
            "dealer_id": ctx.did,
            "vin": owners.vin,
            "customer_id": C["customer_id"].to_numpy()[owners.idx],
            "model": owners.models,
            "purchase_date": owners.purchase,
            "sold_by_this_dealer": owners.here,
            "warranty_end": owners.warranty_end,
            "finance_end": owners.finance_end,
            "recall_campaign": recall_code,
        }
    )
    return veh[known_from <= ctx.as_of]
