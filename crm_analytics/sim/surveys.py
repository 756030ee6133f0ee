"""Surveys stage: delivery interviews (use, media seen, recalled channel), defeated-customer
surveys, service satisfaction, sales satisfaction and intended-customer surveys, and the
surveys table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics.core import schema
from crm_analytics.sim.context import DealerContext
from crm_analytics.sim.draws import choice, days, make_ids, persona_draw

#: The share of the events each survey kind follows that answer it (the simulator's truth of
#: the response rates; crm_analytics.metrics.contact.survey_response reads them from the data):
#: deliveries, deliveries, service visits, first showroom visits, visits without an order.
RESPONSE_RATES: dict[str, float] = {
    "delivery_interview": 0.75,
    "sales_satisfaction": 0.6,
    "service_satisfaction": 0.25,
    "intent_survey": 0.35,
    "defeated_survey": 0.3,
}


def draw_surveys(
    ctx: DealerContext,
    L: pd.DataFrame,
    persona: np.ndarray,
    buyers: np.ndarray,
    sat: np.ndarray,
    SV: pd.DataFrame,
) -> pd.DataFrame:
    """Every survey (also outside the window; cut later).

    ``buyers`` are the lead rows of the delivered buyers, ``sat`` the owners' latent
    satisfaction (buyers first), ``SV`` the service visits.
    """
    buyer_sat = sat[np.arange(len(buyers))]
    srv = [
        _delivery_interviews(ctx, L, persona, buyers, buyer_sat),
        _defeated_surveys(ctx, L),
        _service_satisfaction(ctx, SV, sat),
    ]
    srv.extend(_sales_surveys(ctx, L, buyers, buyer_sat))
    return pd.concat(srv, ignore_index=True)


def _delivery_interviews(
    ctx: DealerContext,
    L: pd.DataFrame,
    persona: np.ndarray,
    buyers: np.ndarray,
    buyer_sat: np.ndarray,
) -> pd.DataFrame:
    """Interviews of 75% of buyers 1-7 days after delivery: score, the channel they recall
    (right 80% of the time), the use of the car and two media seen (from the persona)."""
    rng = ctx.rng
    di = np.arange(len(buyers))[rng.random(len(buyers)) < RESPONSE_RATES["delivery_interview"]]
    lead_rows = buyers[di]
    pers = persona[lead_rows]
    true_ch = L["channel"].to_numpy()[lead_rows]
    recalled = np.where(rng.random(len(di)) < 0.8, true_ch, choice(rng, schema.CHANNELS, len(di)))
    return pd.DataFrame(
        {
            "customer_id": L["customer_id"].to_numpy()[lead_rows],
            "lead_id": L["lead_id"].to_numpy()[lead_rows],
            "at": ctx.in_hours(
                rng,
                L["t_deliver"].to_numpy("datetime64[s]")[lead_rows]
                + days(rng.uniform(1, 7, len(di))),
            ),
            "kind": "delivery_interview",
            "score": np.round(np.clip(buyer_sat[di] + rng.normal(0, 0.6, len(di)), 0, 10), 1),
            "recalled_channel": recalled,
            "use": persona_draw(rng, pers, schema.USES, 4),
            "media_seen": persona_draw(rng, pers, schema.MEDIA, 5, size=2),
            "staff_id": L["consultant_id"].to_numpy()[lead_rows],
        }
    )


def _defeated_surveys(ctx: DealerContext, L: pd.DataFrame) -> pd.DataFrame:
    """Surveys of 30% of visitors who did not order, 35-60 days after their first visit."""
    rng = ctx.rng
    lost = np.flatnonzero(L["visit"].to_numpy() & ~L["order"].to_numpy())
    ds = lost[rng.random(len(lost)) < RESPONSE_RATES["defeated_survey"]]
    return pd.DataFrame(
        {
            "customer_id": L["customer_id"].to_numpy()[ds],
            "lead_id": L["lead_id"].to_numpy()[ds],
            "at": ctx.in_hours(
                rng,
                L["t_visit1"].to_numpy("datetime64[s]")[ds] + days(rng.uniform(35, 60, len(ds))),
            ),
            "kind": "defeated_survey",
            "score": np.round(np.clip(rng.normal(6.5, 1.8, len(ds)), 0, 10), 1),
            "recalled_channel": np.where(
                rng.random(len(ds)) < 0.7,
                L["channel"].to_numpy()[ds],
                choice(rng, schema.CHANNELS, len(ds)),
            ),
            "use": None,
            "media_seen": None,
            "staff_id": L["consultant_id"].to_numpy()[ds],
        }
    )


def _service_satisfaction(ctx: DealerContext, SV: pd.DataFrame, sat: np.ndarray) -> pd.DataFrame:
    """Service satisfaction 1-5 days after a quarter of the service visits, rated on the
    advisor."""
    rng = ctx.rng
    ss = rng.random(len(SV)) < RESPONSE_RATES["service_satisfaction"]
    n = int(ss.sum())
    return pd.DataFrame(
        {
            "customer_id": SV["customer_id"].to_numpy()[ss],
            "lead_id": None,
            "at": SV["at"].to_numpy("datetime64[s]")[ss] + days(rng.uniform(1, 5, n)),
            "kind": "service_satisfaction",
            "score": np.round(
                np.clip(sat[SV["owner"].to_numpy()[ss]] + rng.normal(0, 0.8, n), 0, 10), 1
            ),
            "recalled_channel": None,
            "use": None,
            "media_seen": None,
            "staff_id": SV["advisor_id"].to_numpy()[ss],
        }
    )


def _sales_surveys(
    ctx: DealerContext, L: pd.DataFrame, buyers: np.ndarray, buyer_sat: np.ndarray
) -> list[pd.DataFrame]:
    """Sales satisfaction after delivery and the intended-customer survey after a first visit.

    Drawn from side stream 1, so adding them left every other table unchanged.
    """
    rng = ctx.stream(1)
    lead = L["lead_id"].to_numpy()
    cust = L["customer_id"].to_numpy()
    cons = L["consultant_id"].to_numpy()
    # sales satisfaction (CSI) of buyers, rated on the consultant, 1-3 weeks after delivery
    pick = rng.random(len(buyers)) < RESPONSE_RATES["sales_satisfaction"]
    rows = buyers[pick]
    sales = pd.DataFrame(
        {
            "customer_id": cust[rows],
            "lead_id": lead[rows],
            "at": ctx.in_hours(
                rng,
                L["t_deliver"].to_numpy("datetime64[s]")[rows]
                + days(rng.uniform(7, 21, len(rows))),
            ),
            "kind": "sales_satisfaction",
            "score": np.round(
                np.clip(
                    buyer_sat[pick]
                    + 0.3 * L["skill"].to_numpy()[rows]
                    + rng.normal(0, 0.7, len(rows)),
                    0,
                    10,
                ),
                1,
            ),
            "recalled_channel": None,
            "use": None,
            "media_seen": None,
            "staff_id": cons[rows],
        }
    )
    # intended-customer survey of visitors, buyers or not: which channel brought them
    visited = np.flatnonzero(L["visit"].to_numpy())
    rows = visited[rng.random(len(visited)) < RESPONSE_RATES["intent_survey"]]
    true_ch = L["channel"].to_numpy()[rows]
    intent = pd.DataFrame(
        {
            "customer_id": cust[rows],
            "lead_id": lead[rows],
            "at": ctx.in_hours(
                rng,
                L["t_visit1"].to_numpy("datetime64[s]")[rows] + days(rng.uniform(2, 10, len(rows))),
            ),
            "kind": "intent_survey",
            "score": np.round(
                np.clip(rng.normal(7.8, 1.3, len(rows)) + 0.5 * L["skill"].to_numpy()[rows], 0, 10),
                1,
            ),
            "recalled_channel": np.where(
                rng.random(len(rows)) < 0.75, true_ch, choice(rng, schema.CHANNELS, len(rows))
            ),
            "use": None,
            "media_seen": None,
            "staff_id": cons[rows],
        }
    )
    return [sales, intent]


def surveys_table(ctx: DealerContext, S: pd.DataFrame) -> pd.DataFrame:
    """The surveys table: the surveys inside the window, numbered in time order."""
    d = ctx.did
    S = (
        S[(S["at"] <= ctx.as_of) & (S["at"] >= ctx.start)]
        .sort_values(["at", "customer_id"], kind="stable")
        .reset_index(drop=True)
    )
    S.insert(0, "survey_id", make_ids(f"{d}-Q", len(S), width=7))
    S.insert(0, "dealer_id", d)
    return S
