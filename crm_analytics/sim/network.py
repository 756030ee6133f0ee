"""Entry points: simulate one dealer (:func:`simulate_dealer`, :func:`simulate_dealer_tables`)
or a network written as a Parquet store (:func:`simulate_network`).

One dealer is simulated by running the stages in a fixed order on the dealer's random stream
(:class:`~crm_analytics.sim.context.DealerContext`); the order is part of the output, since
each stage draws from the same stream. Each dealer has its own stream ``(seed, index)``, so a
dealer is reproducible on its own and a network can be generated in parallel; the same seed
gives byte-identical files.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from crm_analytics.core import schema
from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.data.store import write_dealer_tables, write_dealers_index
from crm_analytics.data.validation import build_dealer
from crm_analytics.sim.aftersales import (
    complaints,
    complaints_table,
    draw_service_life,
    draw_service_visits,
    service_table,
)
from crm_analytics.sim.config import DefectRates, SimConfig
from crm_analytics.sim.context import DealerContext
from crm_analytics.sim.crm_calls import crm_calls
from crm_analytics.sim.customers import customer_mix, customers_table, draw_customers, in_dms
from crm_analytics.sim.defects import inject_defects, unregistered_walk_in_defects
from crm_analytics.sim.events import simulate_events
from crm_analytics.sim.insurance import draw_policies, policies_table, solicitations
from crm_analytics.sim.key_accounts import append_rows, simulate_key_accounts
from crm_analytics.sim.leads import draw_leads
from crm_analytics.sim.orders import draw_orders, draw_owners, orders_table, vehicles_table
from crm_analytics.sim.showroom import (
    channel_costs,
    funnel_events,
    lead_table,
    touchpoints_table,
    visitor_arrivals,
    visitor_log_table,
)
from crm_analytics.sim.surveys import draw_surveys, surveys_table
from crm_analytics.sim.truth import truth_frames


def simulate_dealer_tables(
    cfg: SimConfig, index: int
) -> tuple[dict, dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Simulate dealer ``index`` of the network ``cfg``: ``(meta, tables, truth)``.

    Tables have canonical columns but are not validated; see :func:`simulate_dealer`.
    """
    # The stages draw from one stream in this order: moving a call changes every table after
    # it (test_synth pins the output). Table assembly below draws only for channel costs.
    ctx = DealerContext.create(cfg, index)  # profile, then staff
    persona, n_leads, n_pre, n_else = customer_mix(ctx)
    leads = draw_leads(ctx, n_leads, persona[:n_leads])
    L = leads.frame
    cust = draw_customers(ctx, L, persona, n_pre, n_else)
    C = cust.frame
    events = funnel_events(ctx, L, leads.journey)
    owners = draw_owners(ctx, L, cust)
    life = draw_service_life(ctx, owners, cust)
    SV, recall_code = draw_service_visits(ctx, owners, life, C)
    P, ins_taken = draw_policies(ctx, owners, life, C, SV)
    orders_all = draw_orders(ctx, L, owners, ins_taken)
    S = draw_surveys(ctx, L, persona, owners.buyers, life.sat, SV)
    comp = complaints(ctx, owners, life, C)
    extra_tp = [comp.drop(columns="owner"), solicitations(ctx, P)]
    lead_tab, events = lead_table(ctx, L, events)
    tp = touchpoints_table(ctx, L, events, extra_tp)
    A = visitor_arrivals(ctx, tp, C, SV)
    known = in_dms(ctx, cust)
    A, C, tp, extra_customers = inject_defects(ctx, cfg.defects, A, C, tp, np.flatnonzero(known))
    A, vlog = visitor_log_table(ctx, A)
    tables = {  # in schema.TABLE_NAMES order
        "staff": ctx.staff,
        "customers": customers_table(ctx, C, extra_customers, known),
        "vehicles": vehicles_table(ctx, owners, C, recall_code, life.known_from),
        "leads": lead_tab,
        "touchpoints": tp,
        "orders": orders_table(ctx, orders_all),
        "service_visits": service_table(ctx, SV),
        "insurance_policies": policies_table(ctx, P),
        "surveys": surveys_table(ctx, S),
        "visitor_log": vlog,
        "channel_costs": channel_costs(ctx, lead_tab),
    }
    tables["complaints"], comp_truth = complaints_table(ctx, owners, comp, tables["customers"])
    tables["leads"] = tables["leads"].assign(event_id=None)
    tables["events"] = schema.empty_frame("events").assign(dealer_id=ctx.did)
    extra_truth = {}
    # key accounts and events: side streams 7 and 8, appended rows only (see their modules)
    if cfg.key_accounts:
        rows, extra_truth["key_accounts"] = simulate_key_accounts(ctx)
        append_rows(tables, rows)
    if cfg.events:
        rows, extra_truth["events"] = simulate_events(ctx)
        append_rows(tables, rows)
    for name, frame in tables.items():
        tables[name] = frame[schema.columns(name)].reset_index(drop=True)
    # the CRM/DCC desk's call attempts, drawn last on side stream 6: every other row is
    # unchanged, and the calls come after the other touchpoints (in time order among them)
    calls, call_truth = crm_calls(ctx, tables)
    tp = pd.concat([tables["touchpoints"], calls[schema.columns("touchpoints")]])
    tables["touchpoints"] = tp.reset_index(drop=True)
    truth = truth_frames(ctx, C, owners, life, leads, A)
    unregistered_walk_in_defects(truth)
    truth["complaints"] = comp_truth
    truth.update(call_truth)  # contact (unreachable customers), calls (each attempt's list)
    truth.update(extra_truth)
    meta = {
        "dealer_id": ctx.did,
        "name": ctx.p.name,
        "city": ctx.p.city,
        "region": ctx.p.region,
        "as_of": pd.Timestamp(cfg.as_of).normalize(),
        "opening_hour": ctx.open_h,
        "closing_hour": ctx.close_h,
    }
    return meta, tables, truth


def simulate_dealer(
    index: int = 0,
    *,
    customers: int = 2500,
    years: float = 5.0,
    seed: int = 2016,
    as_of: str = "2026-06-30",
    defects: DefectRates | None = None,
    dealer_variation: float = 1.0,
    strict: bool = False,
    key_accounts: bool = False,
    events: bool = False,
) -> DealerData:
    """Simulate one dealer and return it validated, with ground truth in ``.truth``.

    Parameters
    ----------
    index
        Dealer index in the network (dealer id ``D{index+1:03d}``); different indices give
        different dealers from the same seed.
    customers, years, seed, as_of, defects, dealer_variation
        See :class:`SimConfig`. ``defects=DefectRates.none()`` gives a clean dealer.
    strict
        Passed to :func:`crm_analytics.data.validation.build_dealer`.
    key_accounts, events
        Add key accounts and marketing events (see :class:`SimConfig`).
    """
    cfg = SimConfig(
        n_dealers=index + 1,
        customers_per_dealer=customers,
        years=years,
        seed=seed,
        as_of=as_of,
        defects=defects if defects is not None else DefectRates(),
        dealer_variation=dealer_variation,
        key_accounts=key_accounts,
        events=events,
    )
    meta, tables, truth = simulate_dealer_tables(cfg, index)
    return build_dealer(tables, strict=strict, truth=truth, **meta)


def _write_one(args: tuple[SimConfig, int, str]) -> dict:
    """Simulate one dealer and write its files (a worker's job)."""
    cfg, index, out = args
    meta, tables, truth = simulate_dealer_tables(cfg, index)
    write_dealer_tables(out, meta, tables, truth)
    return {**meta, "rows": int(sum(len(t) for t in tables.values()))}


def simulate_network(
    n_dealers: int = 5,
    customers_per_dealer: int = 2500,
    years: float = 5.0,
    seed: int = 2016,
    out: str | os.PathLike | None = None,
    *,
    as_of: str = "2026-06-30",
    defects: DefectRates | None = None,
    dealer_variation: float = 1.0,
    workers: int | None = None,
    key_accounts: bool = False,
    events: bool = False,
) -> pd.DataFrame:
    """Simulate a dealer network and write it as the Parquet network store at ``out``.

    Parameters
    ----------
    n_dealers, customers_per_dealer, years, seed, as_of, defects, dealer_variation
        See :class:`SimConfig`.
    out
        Folder of the network store (created). Required.
    workers
        Processes to use (default: one per core, at most ``n_dealers``). The output does not
        depend on it: each dealer has its own seeded stream and its own files. Workers are
        started with *spawn*, so a script (not a notebook or the console) must make this call
        under ``if __name__ == "__main__":``, as Python's multiprocessing requires, or pass
        ``workers=1``.
    key_accounts, events
        Add key accounts and marketing events (see :class:`SimConfig`; off by default,
        on in ``crm-analytics generate``).

    Returns
    -------
    pandas.DataFrame
        The dealers index that was written (``dealers.parquet``).
    """
    if out is None:
        raise InputError("simulate_network needs out=<folder> for the network store")
    if n_dealers < 1 or customers_per_dealer < 50:
        raise InputError("simulate_network needs n_dealers >= 1 and customers_per_dealer >= 50")
    cfg = SimConfig(
        n_dealers=n_dealers,
        customers_per_dealer=customers_per_dealer,
        years=years,
        seed=seed,
        as_of=as_of,
        defects=defects if defects is not None else DefectRates(),
        dealer_variation=dealer_variation,
        key_accounts=key_accounts,
        events=events,
    )
    out = str(Path(out))
    Path(out).mkdir(parents=True, exist_ok=True)
    jobs = [(cfg, i, out) for i in range(n_dealers)]
    workers = workers or min(os.cpu_count() or 1, n_dealers)
    if workers > 1:
        # spawn, not fork: a forked child inherits the parent's DuckDB and BLAS threads
        # mid-state and can die on start (seen in CI after DuckDB-using tests had run).
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            metas = list(ex.map(_write_one, jobs))
    else:
        metas = [_write_one(j) for j in jobs]
    index = pd.DataFrame(metas).drop(columns=["rows"])
    write_dealers_index(out, index)
    return index
