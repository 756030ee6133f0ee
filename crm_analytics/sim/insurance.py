"""Insurance stage: yearly policies of every owner (first policy and renewals, sold here or
elsewhere), which of them the dealer knows, renewal solicitation calls, and the
insurance-policies table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics.sim.aftersales import ServiceLife
from crm_analytics.sim.config import DAY, MODEL_PRICE_ARR, YEAR_DAYS
from crm_analytics.sim.context import DealerContext
from crm_analytics.sim.draws import days, make_ids, visit_near
from crm_analytics.sim.orders import Owners


def draw_policies(
    ctx: DealerContext, owners: Owners, life: ServiceLife, C: pd.DataFrame, SV: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray]:
    """The policies the dealer knows, and whether each owner took the first policy here.

    Every owner has a policy per year from purchase to ``as_of``. The dealer knows the first
    policy and the renewals it sold; a renewal sold elsewhere only when the owner mentions it
    at a service visit around the renewal date; an owner who bought elsewhere only once known.
    """
    rng, p = ctx.rng, ctx.p
    purchase, here, vin = owners.purchase, owners.here, owners.vin
    n_own = len(owners)
    n_years = np.floor(np.maximum((ctx.as_of - purchase) / DAY / YEAR_DAYS, 0)).astype(int) + 1
    n_years = np.where(purchase > ctx.as_of, 0, n_years)
    prow = np.repeat(np.arange(n_own), n_years)
    pyear = np.arange(len(prow)) - np.repeat(
        np.concatenate([[0], np.cumsum(n_years)[:-1]]), n_years
    )
    pstart = purchase[prow] + days(pyear * YEAR_DAYS)
    pend = pstart + days(np.full(len(prow), YEAR_DAYS))
    alive_at = life.drop[prow] > pstart
    first = pyear == 0
    ins_taken = rng.random(n_own) < p.insurance_rate
    sold_here = np.where(
        first,
        here[prow] & ins_taken[prow],
        alive_at & (rng.random(len(prow)) < p.renewal_rate * np.where(here[prow], 1.0, 0.6)),
    )
    premium = np.round(
        MODEL_PRICE_ARR[owners.model_code[prow]] * rng.uniform(0.012, 0.02, len(prow)), 0
    )
    told = visit_near(prow, pstart, SV["owner"].to_numpy(), SV["at"].to_numpy("datetime64[s]"))
    known = first | sold_here | told
    known &= pend > ctx.start
    P = pd.DataFrame(
        {
            "vin": vin[prow],
            "customer_id": C["customer_id"].to_numpy()[owners.idx[prow]],
            "start": pstart,
            "end": pend,
            "premium": premium,
            "margin": np.where(sold_here, np.round(premium * 0.16, 2), 0.0),
            "sold_by_this_dealer": sold_here,
            "renewal": ~first,
        }
    )[known]
    P = P[P["vin"].isin(vin[life.known_from <= ctx.as_of])]
    return P, ins_taken


def solicitations(ctx: DealerContext, P: pd.DataFrame) -> pd.DataFrame:
    """Insurance-renewal solicitation calls about a month before expiry (touchpoints without a
    lead), for 70% of the known policies ending by a month after ``as_of``.

    Drawn from side stream 2: which policies are known must not reshuffle the other tables.
    """
    srng = ctx.stream(2)
    sol = P[P["end"] <= ctx.as_of + days(31)]
    sol = sol[srng.random(len(sol)) < 0.7]
    end = sol["end"].to_numpy("datetime64[s]")
    return pd.DataFrame(
        {
            "customer_id": sol["customer_id"].to_numpy(),
            "lead_id": None,
            "kind": "solicitation",
            "channel": None,
            "at": ctx.in_hours(srng, end - days(srng.uniform(20, 40, len(sol)))),
            "outcome": np.where(
                end > ctx.as_of,
                "pending",
                np.where(sol["sold_by_this_dealer"].to_numpy(), "renewed", "not_renewed"),
            ),
            "dwell_minutes": np.nan,
            "staff_id": None,
        }
    )


def policies_table(ctx: DealerContext, P: pd.DataFrame) -> pd.DataFrame:
    """The insurance-policies table: known policies started by ``as_of``, in time order."""
    d = ctx.did
    pol = (
        P[P["start"] <= ctx.as_of]
        .sort_values(["start", "vin"], kind="stable")
        .reset_index(drop=True)
    )
    pol.insert(0, "policy_id", make_ids(f"{d}-P", len(pol), width=7))
    pol.insert(0, "dealer_id", d)
    return pol
