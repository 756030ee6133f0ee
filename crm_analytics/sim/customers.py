"""Customers stage: who the dealer's customers are (leads, owners who bought here before the
window, owners who bought elsewhere), their attributes, and the customers table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics.core import schema
from crm_analytics.sim.config import DAY, PERSONA_MIX, PERSONA_PROFILE, PERSONAS, YEAR_DAYS
from crm_analytics.sim.context import DealerContext
from crm_analytics.sim.draws import (
    choice,
    days,
    draw_names,
    draw_phones,
    make_ids,
    sample_sets,
)


@dataclass
class Customers:
    """The dealer's customers, in three groups (in this order in ``frame``).

    ``n_leads`` people who came in as leads, ``n_pre`` owners who bought here before the window,
    ``n_else`` owners who bought elsewhere (known from their first service visit here).
    ``frame`` holds the true people (attributes, true distance, persona, kind).
    """

    frame: pd.DataFrame
    persona: np.ndarray
    n_leads: int
    n_pre: int
    n_else: int
    pre_purchase: np.ndarray
    else_purchase: np.ndarray
    else_first: np.ndarray

    @property
    def n_total(self) -> int:
        """All customers."""
        return self.n_leads + self.n_pre + self.n_else


def customer_mix(ctx: DealerContext) -> tuple[np.ndarray, int, int, int]:
    """Everyone's persona (it drives attributes and the car model a lead is interested in) and
    the sizes of the three groups: ``(persona, n_leads, n_pre, n_else)``."""
    n_total = ctx.p.n_customers
    n_leads = int(round(n_total * 0.62))
    n_pre = int(round(n_total * 0.24))
    n_else = max(0, n_total - n_leads - n_pre)
    persona = choice(ctx.rng, PERSONAS, n_total, PERSONA_MIX)
    return persona, n_leads, n_pre, n_else


def draw_people(
    ctx: DealerContext, n: int, created: np.ndarray, persona: np.ndarray | None = None
) -> pd.DataFrame:
    """``n`` people with persona-driven attributes (name, phone, gender, birth year, industry,
    hobbies, distance with its recorded value sometimes missing), created at ``created``."""
    rng = ctx.rng
    if persona is None:
        persona = choice(rng, PERSONAS, n, PERSONA_MIX)
    names, pinyin, _ = draw_names(rng, n)
    age = np.empty(n)
    male = np.empty(n, dtype=bool)
    industry = np.empty(n, dtype=object)
    hobbies = np.empty(n, dtype=object)
    for k, prof in PERSONA_PROFILE.items():
        m = persona == k
        c = int(m.sum())
        if not c:
            continue
        age[m] = rng.normal(prof[0], 5, c)
        male[m] = rng.random(c) < prof[1]
        industry[m] = choice(rng, schema.INDUSTRIES, c, prof[2])
        hobbies[m] = sample_sets(rng, schema.HOBBIES, prof[3], rng.integers(1, 4, c))
    year_now = pd.Timestamp(ctx.cfg.as_of).year
    birth = np.clip(np.round(year_now - age), 1940, 2006).astype(int)
    dist = np.round(np.exp(rng.normal(np.log(12), 0.8, n)), 1)
    known = rng.random(n) < 0.85
    return pd.DataFrame(
        {
            "name": names,
            "pinyin": pinyin,
            "phone": draw_phones(rng, n),
            "gender": np.where(male, "M", "F"),
            "birth_year": pd.array(np.where(rng.random(n) < 0.9, birth, -1), dtype="Int64").astype(
                "Int64"
            ),
            "city": ctx.p.city,
            "industry": np.where(rng.random(n) < 0.8, industry, None),
            "hobbies": np.where(rng.random(n) < 0.7, hobbies, None),
            "distance_km": np.where(known, dist, np.nan),
            "true_distance_km": dist,
            "created_at": created,
            "persona": persona,
        }
    )


def draw_customers(
    ctx: DealerContext, L: pd.DataFrame, persona: np.ndarray, n_pre: int, n_else: int
) -> Customers:
    """The customers: creation times of the three groups and the people themselves.

    A dormant-activation lead is an old customer (created 200-1400 days before the lead); a
    pre-window owner bought up to 6 years before the window; a bought-elsewhere owner bought
    any time up to a month before ``as_of`` and first visits here within 400 days. Writes the
    customer id into the leads ``L``.
    """
    rng = ctx.rng
    n_leads = len(L)
    lead_created = L["created_at"].to_numpy("datetime64[s]")
    dormant = L["channel"].to_numpy() == "dormant_activation"
    c_created_lead = np.where(
        dormant, lead_created - days(rng.uniform(200, 1400, n_leads)), lead_created
    )
    pre_purchase = ctx.start - days(rng.uniform(0, 6 * YEAR_DAYS, n_pre))
    pre_purchase = ctx.in_hours(rng, pre_purchase)
    else_purchase = ctx.start + days(
        rng.uniform(-5 * YEAR_DAYS, ((ctx.as_of - ctx.start) / DAY) - 30, n_else)
    )
    else_first = np.maximum(else_purchase, ctx.start) + days(rng.uniform(0, 400, n_else))
    else_first = ctx.in_hours(rng, else_first)
    created = np.concatenate([c_created_lead, pre_purchase, np.minimum(else_first, ctx.as_of)])
    kind = np.concatenate(
        [np.full(n_leads, "lead"), np.full(n_pre, "pre_owner"), np.full(n_else, "elsewhere")]
    )
    C = draw_people(ctx, len(created), np.minimum(created, ctx.as_of), persona)
    C["customer_id"] = make_ids(f"{ctx.did}-C", len(C))
    C["kind"] = kind
    L["customer_id"] = C["customer_id"].to_numpy()[:n_leads]
    return Customers(C, persona, n_leads, n_pre, n_else, pre_purchase, else_purchase, else_first)


def in_dms(ctx: DealerContext, cust: Customers) -> np.ndarray:
    """Which customers the DMS knows at ``as_of`` (a bought-elsewhere owner enters it at the
    first visit here)."""
    known = cust.frame["created_at"].to_numpy("datetime64[s]") <= ctx.as_of
    known[cust.n_leads + cust.n_pre :] &= cust.else_first <= ctx.as_of
    return known


def customers_table(
    ctx: DealerContext, C: pd.DataFrame, extra: pd.DataFrame, known: np.ndarray
) -> pd.DataFrame:
    """The DMS customers table: the customers ``C`` the DMS knows (``known``) and the ``extra``
    records the defects stage added (duplicates, placeholders)."""
    cust = pd.concat([C, extra], ignore_index=True)
    customers = pd.DataFrame(
        {
            "dealer_id": ctx.did,
            "customer_id": cust["customer_id"],
            "name": cust["name"],
            "phone": cust["phone"],
            "gender": cust["gender"],
            "birth_year": pd.array(cust["birth_year"].where(cust["birth_year"] > 0), dtype="Int64"),
            "city": cust["city"],
            "industry": cust["industry"],
            "hobbies": cust["hobbies"],
            "distance_km": cust["distance_km"],
            "created_at": cust["created_at"],
        }
    )
    unknown = set(C["customer_id"].to_numpy()[~known])
    return customers[
        (customers["created_at"] <= ctx.as_of) & ~customers["customer_id"].isin(unknown)
    ]
