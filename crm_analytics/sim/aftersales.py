"""After-sales stage: each owner's latent service life (visit rate, satisfaction, complaints,
dropout hazards before and after the warranty end, dropout time), the service visits with
their amounts, a recall campaign, complaints, and the service-visits table.

Every owner visits as a Poisson process with a gamma-heterogeneous rate until a dropout whose
hazard depends on distance, satisfaction, unresolved complaints and buying elsewhere, and
rises after the warranty ends. The process runs three years past ``as_of`` so the truth knows
the future.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics.core import schema
from crm_analytics.sim.config import (
    COMPLAINT_CATEGORY_MIX,
    COMPLAINT_REOPEN_RATE,
    COMPLAINT_RESOLUTION_MEAN_DAYS,
    COMPLAINT_RESPONSE_MEDIAN_HOURS,
    COMPLAINT_STAGE_MIX,
    DAY,
    YEAR_DAYS,
)
from crm_analytics.sim.context import DealerContext
from crm_analytics.sim.customers import Customers
from crm_analytics.sim.draws import choice, days, make_ids, shop_hours, sigmoid
from crm_analytics.sim.orders import Owners

_VISIT_KINDS = ["maintenance", "repair", "warranty", "accident", "care"]


@dataclass
class ServiceLife:
    """Each owner's latent service life (one entry per owner, in :class:`Owners` order).

    ``lam`` visits per year while alive; ``mu1``/``mu2`` dropout hazards per year before and
    after the warranty end; ``svc_start`` when the owner's service life here starts (purchase
    here, else the first visit); ``drop`` the dropout time; ``known_from`` when the owner enters
    the DMS.
    """

    sat: np.ndarray
    complaint: np.ndarray
    resolved: np.ndarray
    lam: np.ndarray
    mu1: np.ndarray
    mu2: np.ndarray
    svc_start: np.ndarray
    drop: np.ndarray
    known_from: np.ndarray


def dropout_times(
    rng: np.random.Generator,
    start: np.ndarray,
    warranty_end: np.ndarray,
    mu1: np.ndarray,
    mu2: np.ndarray,
) -> np.ndarray:
    """Piecewise-exponential dropout: hazard ``mu1`` until warranty end, ``mu2`` after."""
    e = rng.exponential(1.0, len(start))
    w = np.maximum((warranty_end - start) / DAY / YEAR_DAYS, 0.0)
    t1 = e / mu1
    t = np.where(t1 <= w, t1, w + (e - mu1 * w) / mu2)
    return start + days(t * YEAR_DAYS)


def draw_service_life(ctx: DealerContext, owners: Owners, cust: Customers) -> ServiceLife:
    """Draw the owners' satisfaction, complaints, visit rates, hazards and dropout times."""
    rng, p = ctx.rng, ctx.p
    n_own, here = len(owners), owners.here
    dist = cust.frame["true_distance_km"].to_numpy()[owners.idx]
    sat = np.clip(rng.normal(8.2, 1.1, n_own), 2, 10)
    complaint = rng.random(n_own) < sigmoid(-3.2 - 0.8 * (sat - 8.2))
    resolved = complaint & (rng.random(n_own) < 0.6)
    lam = rng.gamma(2.0, p.visit_rate_mean / 2.0, n_own) * np.exp(-0.15 * np.log(dist / 12.0))
    log_mu = (
        np.log(p.dropout_base)
        + 0.5 * np.log(dist / 12.0)
        - 0.5 * (sat - 8.2)
        + 1.2 * (complaint & ~resolved)
        + 0.7 * (~here)
        + rng.normal(0, 0.3, n_own)
    )
    mu1 = np.exp(log_mu)
    mu2 = mu1 * 3.0
    n_sold = len(owners.buyers) + cust.n_pre
    svc_start = np.where(
        here,
        owners.purchase,
        np.concatenate([np.full(n_sold, np.datetime64("NaT", "s")), cust.else_first]),
    )
    drop = dropout_times(rng, svc_start, owners.warranty_end, mu1, mu2)
    known_from = np.where(here, owners.purchase, svc_start)
    return ServiceLife(sat, complaint, resolved, lam, mu1, mu2, svc_start, drop, known_from)


def draw_service_visits(
    ctx: DealerContext, owners: Owners, life: ServiceLife, C: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray]:
    """Every service visit until dropout (also after ``as_of``), with a recall campaign.

    Returns the visits (owner position, vin, customer, time, kind, amounts, margin, mileage,
    advisor) in owner and time order, and each vehicle's recall campaign code (or None).
    """
    rng = ctx.rng
    rows, vat = _visit_times(ctx, owners, life)
    recall_code, rec_rows, rec_at = _recall(ctx, owners, life)
    rows = np.concatenate([rows, rec_rows])
    vat = np.concatenate([vat, rec_at])
    vkind = np.concatenate(
        [
            choice(rng, _VISIT_KINDS, len(vat) - len(rec_rows), [0.58, 0.14, 0.1, 0.07, 0.11]),
            np.full(len(rec_rows), "recall", dtype=object),
        ]
    )
    in_warr = vat <= owners.warranty_end[rows]
    vkind = np.where((vkind == "warranty") & ~in_warr, "repair", vkind)
    ordr = np.lexsort((vat, rows))
    rows, vat, vkind = rows[ordr], vat[ordr], vkind[ordr]
    amounts = _visit_amounts(ctx, vkind)
    km_rate = np.exp(rng.normal(np.log(15000), 0.35, len(owners)))
    mileage = np.round(
        np.maximum((vat - owners.purchase[rows]) / DAY / YEAR_DAYS, 0) * km_rate[rows]
        + rng.uniform(5, 50, len(vat))
    )
    SV = pd.DataFrame(
        {
            "owner": rows,
            "vin": owners.vin[rows],
            "customer_id": C["customer_id"].to_numpy()[owners.idx[rows]],
            "at": vat,
            "kind": vkind,
            **amounts,
            "mileage": mileage,
            "advisor_id": choice(rng, ctx.staff_ids("service_advisor"), len(vat)),
        }
    )
    return SV, recall_code


def _visit_times(
    ctx: DealerContext, owners: Owners, life: ServiceLife
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson visit times of each owner from service start until dropout (or three years past
    ``as_of``); a bought-elsewhere owner's first visit is the service start, by construction."""
    rng = ctx.rng
    here, svc_start = owners.here, life.svc_start
    horizon_end = ctx.as_of + days(3 * YEAR_DAYS)
    visit_end = np.minimum(life.drop, horizon_end)
    dur = np.maximum((visit_end - svc_start) / DAY / YEAR_DAYS, 0)
    n_vis = rng.poisson(life.lam * dur)
    n_vis = np.where(~here, np.maximum(n_vis, 1), n_vis)
    rows = np.repeat(np.arange(len(owners)), n_vis)
    u = rng.random(len(rows))
    vat = svc_start[rows] + days(u * dur[rows] * YEAR_DAYS)
    first_forced = np.zeros(len(rows), bool)
    fe = np.flatnonzero(~here)
    starts = np.concatenate([[0], np.cumsum(n_vis)[:-1]])
    first_forced[starts[fe]] = True
    vat = np.where(first_forced, svc_start[rows], vat)
    vat = shop_hours(rng, vat, 8, 18)
    vat = np.where(first_forced, svc_start[rows], vat)
    return rows, vat


def _recall(
    ctx: DealerContext, owners: Owners, life: ServiceLife
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One recall campaign on one model mid-window: the campaign code of each vehicle it
    covers and the recall visits (owner positions, times) of the owners who come in."""
    rng = ctx.rng
    camp_model = rng.choice(len(schema.MODELS))
    camp_at = ctx.start + days(rng.uniform(0.3, 0.8) * (ctx.as_of - ctx.start) / DAY)
    recall = (
        (owners.model_code == camp_model)
        & (owners.purchase < camp_at)
        & (rng.random(len(owners)) < 0.9)
    )
    recall_code = np.where(
        recall, f"RC-{pd.Timestamp(camp_at).year}-{schema.MODELS[camp_model]}", None
    )
    rec_rows = np.flatnonzero(recall & (life.drop > camp_at) & (rng.random(len(owners)) < 0.75))
    rec_at = shop_hours(rng, camp_at + days(rng.gamma(2, 30, len(rec_rows))), 8, 18)
    ok = (rec_at > life.svc_start[rec_rows]) & (rec_at < life.drop[rec_rows])
    return recall_code, rec_rows[ok], rec_at[ok]


def _visit_amounts(ctx: DealerContext, vkind: np.ndarray) -> dict[str, np.ndarray]:
    """Labor, parts and add-on amounts and the margin of each visit, by kind (warranty and
    recall work is paid by the maker: no parts charged, a thinner margin)."""
    rng, n = ctx.rng, len(vkind)
    kinds = [vkind == k for k in ("maintenance", "repair", "warranty", "accident", "recall")]
    labor = np.select(
        kinds,
        [
            rng.gamma(6, 70, n),
            rng.gamma(3, 300, n),
            rng.gamma(3, 200, n),
            rng.gamma(2, 1500, n),
            rng.gamma(4, 50, n),
        ],
        default=rng.gamma(4, 120, n),
    )
    parts = np.select(
        kinds,
        [
            rng.gamma(5, 160, n),
            rng.gamma(2, 900, n),
            rng.gamma(2, 500, n),
            rng.gamma(2, 4000, n),
            np.zeros(n),
        ],
        default=rng.gamma(3, 150, n),
    )
    warranty_paid = np.isin(vkind, ["warranty", "recall"])
    addon = np.where(rng.random(n) < ctx.p.addon_rate, np.round(rng.gamma(3, 200, n), 0), 0.0)
    margin = 0.55 * labor + 0.28 * parts + 0.45 * addon
    margin = np.where(warranty_paid, 0.3 * labor + 0.08 * parts + 0.45 * addon, margin)
    return {
        "labor_amount": np.round(labor, 2),
        "parts_amount": np.round(np.where(warranty_paid, 0.0, parts), 2),
        "addon_amount": addon,
        "margin": np.round(margin, 2),
    }


def complaints(
    ctx: DealerContext, owners: Owners, life: ServiceLife, C: pd.DataFrame
) -> pd.DataFrame:
    """Complaint touchpoints (no lead): in the first service year of a complaining owner who
    has not dropped out by then, resolved or not, taken by a service advisor. The column
    ``owner`` (the owner's position) is for :func:`complaints_table` and is not a touchpoint
    column."""
    rng = ctx.rng
    comp_rows = np.flatnonzero(life.complaint & ~np.isnat(life.svc_start))
    comp_at = ctx.in_hours(
        rng, life.svc_start[comp_rows] + days(rng.uniform(10, 300, len(comp_rows)))
    )
    ok = comp_at < life.drop[comp_rows]
    comp_rows, comp_at = comp_rows[ok], comp_at[ok]
    return pd.DataFrame(
        {
            "customer_id": C["customer_id"].to_numpy()[owners.idx[comp_rows]],
            "lead_id": None,
            "kind": "complaint",
            "channel": None,
            "at": comp_at,
            "outcome": np.where(life.resolved[comp_rows], "resolved", "unresolved"),
            "dwell_minutes": np.nan,
            "staff_id": choice(rng, ctx.staff_ids("service_advisor"), len(comp_rows)),
            "owner": comp_rows,
        }
    )


def complaints_table(
    ctx: DealerContext, owners: Owners, comp: pd.DataFrame, customers: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The complaints table of the complaint touchpoints ``comp`` (see :func:`complaints`) and
    its truth (``complaint_id``, ``response_hours``, ``resolution_days``, ``resolved``,
    ``reopened``: the drawn values, also those not known by ``as_of``).

    Each complaint gets a category and stage, a first response (log-normal, median
    ``COMPLAINT_RESPONSE_MEDIAN_HOURS``) and, when the owner's complaint was resolved (the
    truth behind the dropout hazard), a resolution (gamma, mean
    ``COMPLAINT_RESOLUTION_MEAN_DAYS``) after it; a share of the resolved are reopened and
    resolved again later. Times after ``as_of`` are not known yet (empty); only complaints
    opened inside the window, of customers in the customers table, are kept. Drawn from a side stream: every other
    table is unchanged.
    """
    rng = ctx.stream(4)
    n = len(comp)
    opened = comp["at"].to_numpy("datetime64[s]")
    resolved = comp["outcome"].to_numpy() == "resolved"
    first = opened + days(
        np.exp(rng.normal(np.log(COMPLAINT_RESPONSE_MEDIAN_HOURS), 0.9, n)) / 24.0
    )
    reopened = resolved & (rng.random(n) < COMPLAINT_REOPEN_RATE)
    # a reopened complaint takes a second round of the same length
    spell = rng.gamma(2.0, COMPLAINT_RESOLUTION_MEAN_DAYS / 2.0, n) * np.where(reopened, 2, 1)
    done = np.maximum(first, opened + days(spell))
    out = pd.DataFrame(
        {
            "dealer_id": ctx.did,
            "customer_id": comp["customer_id"].to_numpy(),
            "vin": owners.vin[comp["owner"].to_numpy()],
            "category": choice(rng, schema.COMPLAINT_CATEGORIES, n, COMPLAINT_CATEGORY_MIX),
            "stage": choice(rng, schema.COMPLAINT_STAGES, n, COMPLAINT_STAGE_MIX),
            "opened_at": opened,
            "first_response_at": np.where(first <= ctx.as_of, first, np.datetime64("NaT")),
            "resolved_at": np.where(resolved & (done <= ctx.as_of), done, np.datetime64("NaT")),
            "reopened": reopened & (opened + days(spell / 2) <= ctx.as_of),
            "staff_id": comp["staff_id"].to_numpy(),
        }
    )
    inside = (opened >= ctx.start) & (opened <= ctx.as_of)
    truth = pd.DataFrame(
        {
            "response_hours": (first - opened) / np.timedelta64(1, "h"),
            "resolution_days": np.where(resolved, (done - opened) / DAY, np.nan),
            "resolved": resolved,
            "reopened": reopened,
        }
    )
    keep = inside & out["customer_id"].isin(customers["customer_id"]).to_numpy()
    out = out[keep].sort_values(["opened_at", "customer_id"], kind="stable")
    truth = truth.loc[out.index].reset_index(drop=True)
    out = out.reset_index(drop=True)
    out.insert(1, "complaint_id", make_ids(f"{ctx.did}-K", len(out), width=6))
    truth.insert(0, "complaint_id", out["complaint_id"])
    return out, truth


def service_table(ctx: DealerContext, SV: pd.DataFrame) -> pd.DataFrame:
    """The service-visits table: the visits inside the window, numbered in time order."""
    d = ctx.did
    sv = (
        SV[(SV["at"] <= ctx.as_of) & (SV["at"] >= ctx.start)]
        .drop(columns=["owner"])
        .sort_values(["at", "vin"], kind="stable")
        .reset_index(drop=True)
    )
    sv.insert(0, "ro_id", make_ids(f"{d}-R", len(sv), width=7))
    sv.insert(0, "dealer_id", d)
    return sv
