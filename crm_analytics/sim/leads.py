"""Leads stage: lead arrivals by channel with seasonality, channel journeys, the latent intent,
the true stage probabilities and outcomes, and the timeline of each lead (first visit, order,
delivery). Also the ground truth of each channel's effect (orders lost without it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from crm_analytics.core import schema
from crm_analytics.sim.config import (
    DAY,
    MODEL_EFFECT,
    RESPONSE_EFFECT_PER_DOUBLING,
    RESPONSE_GRID_MINUTES,
    RESPONSE_LOG_SD,
    RESPONSE_MEDIAN_MINUTES,
    SEASONALITY,
    TRUE_CHANNEL_EFFECTS,
)
from crm_analytics.sim.context import DealerContext
from crm_analytics.sim.draws import choice, days, make_ids, not_before, persona_draw, sigmoid


@dataclass
class Leads:
    """The leads with their latent quantities and outcomes (``frame``: one row per lead), the
    channel touches of their journeys (``journey``: row, channel, days after creation) and the
    channels' removal effects (``channel_truth``)."""

    frame: pd.DataFrame
    journey: pd.DataFrame
    channel_truth: pd.DataFrame


def draw_leads(ctx: DealerContext, n_leads: int, persona: np.ndarray) -> Leads:
    """Draw ``n_leads`` leads: channel, model of interest (from the persona), consultant,
    journey, intent, true stage probabilities, outcomes and timeline."""
    rng, p = ctx.rng, ctx.p
    created = _arrivals(ctx, n_leads)
    ch_names = list(p.channel_mix)
    channel = choice(rng, ch_names, n_leads, list(p.channel_mix.values()))
    model = persona_draw(rng, persona, schema.MODELS, 6)
    consultant = ctx.consultants_at(created)
    skill_of = ctx.skill()
    skill = np.array([skill_of[c] for c in consultant])
    journey, sets, eff = _journeys(ctx, channel)
    z = (
        p.intent_base
        + eff
        + np.array([MODEL_EFFECT[m] for m in model])
        + skill
        + rng.normal(0, 0.8, n_leads)
    )
    walk = channel == "walk_in"
    p_visit, p_td, p_quote, p_order = _stage_probs(z, walk, skill)
    p_deliver = np.full(n_leads, 0.97)
    truth = _removal_effects(ch_names, sets, z, walk, skill, p_visit * p_quote * p_order)
    visit = rng.random(n_leads) < p_visit
    td = visit & (rng.random(n_leads) < p_td)
    quote = visit & (rng.random(n_leads) < p_quote)
    order = quote & (rng.random(n_leads) < p_order)
    deliver = order & (rng.random(n_leads) < p_deliver)
    frame = pd.DataFrame(
        {
            "lead_id": make_ids(f"{ctx.did}-L", n_leads),
            "channel": channel,
            "model": model,
            "created_at": created,
            "consultant_id": consultant,
            "skill": skill,
            "z": z,
            "p_visit": p_visit,
            "p_test_drive": p_td,
            "p_quote": p_quote,
            "p_order": p_order,
            "p_deliver": p_deliver,
            "visit": visit,
            "test_drive": td,
            "quote": quote,
            "order": order,
            "deliver": deliver,
        }
    )
    _timeline(ctx, frame)
    _first_response(ctx, frame)
    return Leads(frame, journey, truth)


def response_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The speed-to-lead model on its grid: the cell edges (minutes), each cell's probability
    under the response-time distribution, and each cell's true multiplier of the order
    probability (averaging 1 under that distribution)."""
    edges = RESPONSE_GRID_MINUTES
    cdf = ndtr((np.log(edges) - np.log(RESPONSE_MEDIAN_MINUTES)) / RESPONSE_LOG_SD)
    prior = np.diff(cdf) / (cdf[-1] - cdf[0])
    mid = np.sqrt(edges[:-1] * edges[1:])
    effect = np.exp(RESPONSE_EFFECT_PER_DOUBLING * np.clip(np.log2(mid / 60.0), -3.0, 3.0))
    return edges, prior, effect / (prior @ effect)


def _first_response(ctx: DealerContext, L: pd.DataFrame) -> None:
    """Add each lead's first-response delay in minutes (``response_minutes``; 0 for a lead
    created at a dealer contact), its sensitivity to the delay (``response_sensitivity``) and
    its true order multiplier (``response_effect``) to ``L``.

    The world: an inbound lead's delay ``T`` is drawn from the response-time distribution,
    independently of its intent, and the lead orders with probability ``p * m(T)``, where
    ``p`` is its intent's order probability and ``m(T) = 1 + s * (effect(T) - 1)`` averages 1
    over ``T``; the sensitivity ``s`` is 1 except for a near-certain buyer, whom a slow
    response cannot put off so much (``s`` keeps ``p * m <= 1``). The outcomes were already
    drawn with probability ``p``, the world's margin over ``T``; so ``T`` is drawn here from
    its posterior given the outcome, ``prior * m`` for a buyer and ``prior * (1 - p * m)``
    otherwise, which gives exactly the world's joint distribution. The draws come from a side
    stream: every other table is unchanged.
    """
    rng = ctx.stream(3)
    edges, prior, effect = response_grid()
    inbound = np.isin(L["channel"].to_numpy(), schema.INBOUND_CHANNELS)
    p = (L["p_visit"] * L["p_quote"] * L["p_order"]).to_numpy()[inbound]
    sens = np.minimum(1.0, (1.0 - p) / (p * (effect.max() - 1.0)))
    m = 1.0 + sens[:, None] * (effect[None, :] - 1.0)
    order = L["order"].to_numpy()[inbound]
    w = np.where(order[:, None], prior * m, prior * (1.0 - p[:, None] * m)).cumsum(1)
    cell = (w < (rng.random(len(p)) * w[:, -1])[:, None]).sum(1)
    log_e = np.log(edges)
    minutes = np.exp(log_e[cell] + rng.random(len(p)) * (log_e[cell + 1] - log_e[cell]))
    L["response_minutes"] = 0.0
    L.loc[inbound, "response_minutes"] = minutes
    L["response_sensitivity"] = 0.0
    L.loc[inbound, "response_sensitivity"] = sens
    L["response_effect"] = 1.0
    L.loc[inbound, "response_effect"] = m[np.arange(len(p)), cell]


def _arrivals(ctx: DealerContext, n_leads: int) -> np.ndarray:
    """Sorted lead creation times over the window, with the monthly seasonality (rejection
    sampling), inside opening hours."""
    rng = ctx.rng
    span = (ctx.as_of - ctx.start) / DAY
    cand = rng.uniform(0, span, n_leads * 3)
    month = (ctx.start + days(cand)).astype("datetime64[M]").astype(int) % 12
    keep = rng.random(len(cand)) < SEASONALITY[month] / SEASONALITY.max()
    offs = cand[keep][:n_leads]
    if len(offs) < n_leads:  # pragma: no cover - 3x oversampling always suffices
        offs = np.concatenate([offs, rng.uniform(0, span, n_leads - len(offs))])
    offs.sort()
    return ctx.in_hours(rng, ctx.start + days(offs))


def _journeys(
    ctx: DealerContext, channel: np.ndarray
) -> tuple[pd.DataFrame, list[set[str]], np.ndarray]:
    """Each lead's journey: its own channel first, then 0-4 further channel touches.

    Returns the touches (row, channel, days after creation), each lead's set of channels, and
    the sum of the true effects of the distinct channels touched.
    """
    rng, p = ctx.rng, ctx.p
    n_leads = len(channel)
    ch_names = list(p.channel_mix)
    n_extra = np.minimum(rng.poisson(0.9, n_leads), 4)
    eff = np.array([TRUE_CHANNEL_EFFECTS[c] for c in channel])
    journey_rows = [np.arange(n_leads)]
    journey_ch = [channel]
    journey_t = [np.zeros(n_leads)]
    sets = [set([c]) for c in channel]
    for k in range(1, 5):
        idx = np.flatnonzero(n_extra >= k)
        extra = choice(rng, ch_names, len(idx), list(p.channel_mix.values()))
        journey_rows.append(idx)
        journey_ch.append(extra)
        journey_t.append(rng.uniform(0.2, 1.0, len(idx)) * k * 4.0)
        for i, c in zip(idx, extra, strict=True):
            if c not in sets[i]:
                sets[i].add(c)
                eff[i] += TRUE_CHANNEL_EFFECTS[c]
    journey = pd.DataFrame(
        {
            "row": np.concatenate(journey_rows),
            "channel": np.concatenate(journey_ch),
            "dt": np.concatenate(journey_t),
        }
    )
    return journey, sets, eff


def _stage_probs(z: np.ndarray, walk: np.ndarray, skill: np.ndarray) -> tuple[np.ndarray, ...]:
    """True stage probabilities (visit, test drive, quote, order) of leads with intent ``z``
    (walk-ins visit by definition)."""
    return (
        np.where(walk, 1.0, sigmoid(-0.3 + 0.9 * z)),
        sigmoid(0.2 + 0.6 * z + 0.5 * skill),
        sigmoid(0.4 + 0.6 * z + 0.3 * skill),
        sigmoid(-1.6 + 1.0 * z + 0.6 * skill),
    )


def _removal_effects(
    ch_names: list[str],
    sets: list[set[str]],
    z: np.ndarray,
    walk: np.ndarray,
    skill: np.ndarray,
    p_conv: np.ndarray,
) -> pd.DataFrame:
    """Each channel's true effect on conversion, as the removal effect of the data-generating
    process: expected orders lost if the channel were taken out of every journey."""
    lost = {}
    for c in ch_names:
        has = np.array([c in st for st in sets])
        pv, _, pq, po = _stage_probs(
            z - TRUE_CHANNEL_EFFECTS[c] * has, walk & (c != "walk_in"), skill
        )
        lost[c] = (float((p_conv - pv * pq * po)[has].sum()), int(has.sum()))
    return pd.DataFrame(
        {
            "channel": list(lost),
            "orders_lost": [v[0] for v in lost.values()],
            "journeys": [v[1] for v in lost.values()],
        }
    )


def _timeline(ctx: DealerContext, L: pd.DataFrame) -> None:
    """Add each lead's timeline to ``L``: invitations before the first visit (none for
    walk-ins), first visit, repeat visits (more for buyers), same-day or later order, delivery.
    """
    rng = ctx.rng
    n_leads = len(L)
    walk = L["channel"].to_numpy() == "walk_in"
    created = L["created_at"].to_numpy("datetime64[s]")
    visit, order, z = L["visit"].to_numpy(), L["order"].to_numpy(), L["z"].to_numpy()
    n_inv = np.where(walk, 0, 1 + np.minimum(rng.geometric(0.55, n_leads) - 1, 3))
    first_visit_delay = np.where(walk, 0.0, rng.gamma(2.0, 2.5, n_leads) + 0.5)
    t_visit1 = created + days(first_visit_delay)
    t_visit1 = not_before(ctx.in_hours(rng, t_visit1), created)
    t_visit1 = np.where(walk, created, t_visit1)
    # repeat visits: more for buyers; order cycle in days from first visit
    n_visits = np.where(visit, 1 + rng.poisson(np.where(order, 0.9, 0.35)), 0)
    same_day = order & (rng.random(n_leads) < sigmoid(-0.8 + 0.5 * z))
    cycle = np.where(same_day, 0.0, rng.gamma(1.6, 9.0, n_leads) + 1.0)
    n_visits = np.where(order & ~same_day, np.maximum(n_visits, 2), n_visits)
    t_order = t_visit1 + days(cycle)
    t_order = np.where(
        same_day,
        t_visit1 + np.timedelta64(2400, "s"),
        ctx.in_hours(rng, t_order),
    )
    t_deliver = ctx.in_hours(rng, t_order + days(rng.gamma(2.0, 9.0, n_leads) + 3))
    L["n_inv"] = n_inv
    L["n_visits"] = n_visits
    L["t_visit1"] = t_visit1
    L["same_day"] = same_day
    L["t_order"] = t_order
    L["t_deliver"] = t_deliver
