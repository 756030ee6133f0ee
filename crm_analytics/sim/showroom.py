"""Showroom stage: the events of every lead (inquiries, invitations, visits, test drives,
quotes, orders, deliveries), the leads table with its statuses as of ``as_of``, the
touchpoints table, the front-desk visitor log (every real arrival) and monthly channel costs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics.core import schema
from crm_analytics.sim.config import CHANNEL_COST_FIXED, CHANNEL_COST_PER_LEAD, DAY
from crm_analytics.sim.context import DealerContext
from crm_analytics.sim.draws import choice, days, make_ids, not_before


def _events(rows, kind, at, channel=None, outcome=None, dwell=None) -> pd.DataFrame:
    """Lead events of one kind: lead row, kind, time, channel, outcome, dwell minutes."""
    rows = np.asarray(rows)
    return pd.DataFrame(
        {
            "row": rows,
            "kind": kind,
            "at": np.asarray(at, dtype="datetime64[s]"),
            "channel": channel if channel is not None else None,
            "outcome": outcome if outcome is not None else None,
            "dwell_minutes": dwell if dwell is not None else np.nan,
        }
    )


def funnel_events(ctx: DealerContext, L: pd.DataFrame, journey: pd.DataFrame) -> pd.DataFrame:
    """Every lead event (times may lie beyond ``as_of``; cut later).

    The journey's channel touches (the first at lead creation), invitations, visits, the test
    drive on the first visit, the quote on the first visit or the order visit, the order and
    the delivery.
    """
    rng = ctx.rng
    created = L["created_at"].to_numpy("datetime64[s]")
    t1 = L["t_visit1"].to_numpy("datetime64[s]")
    jt = created[journey["row"]] + days(journey["dt"])
    ev = [_events(journey["row"], "inquiry", jt, channel=journey["channel"].to_numpy())]
    ev += _invitations(ctx, L)
    ev += _visits(ctx, L)
    order = L["order"].to_numpy()
    t_order = L["t_order"].to_numpy("datetime64[s]")
    td = np.flatnonzero(L["test_drive"].to_numpy())
    ev.append(_events(td, "test_drive", t1[td] + np.timedelta64(1200, "s")))
    q = np.flatnonzero(L["quote"].to_numpy())
    q_at = np.where(
        order[q],
        np.where(
            L["same_day"].to_numpy()[q],
            t1[q] + np.timedelta64(1800, "s"),
            t_order[q] - np.timedelta64(900, "s"),
        ),
        t1[q] + np.timedelta64(1800, "s"),
    )
    # some buyers got the quote already on the first visit and came back to order (quote re-visit)
    early = order[q] & ~L["same_day"].to_numpy()[q] & (rng.random(len(q)) < 0.5)
    q_at = np.where(early, t1[q] + np.timedelta64(1800, "s"), q_at)
    ev.append(_events(q, "quote", q_at))
    o = np.flatnonzero(order)
    ev.append(_events(o, "order", t_order[o]))
    d = np.flatnonzero(L["deliver"].to_numpy())
    ev.append(_events(d, "delivery", L["t_deliver"].to_numpy("datetime64[s]")[d]))
    return pd.concat(ev, ignore_index=True)


def _invitations(ctx: DealerContext, L: pd.DataFrame) -> list[pd.DataFrame]:
    """Invitations before the first visit: the last accepted if the lead visits, declined or
    unanswered otherwise."""
    rng = ctx.rng
    created = L["created_at"].to_numpy("datetime64[s]")
    t1 = L["t_visit1"].to_numpy("datetime64[s]")
    visit = L["visit"].to_numpy()
    n_inv = L["n_inv"].to_numpy()
    ev = []
    for k in range(1, 5):
        rows = np.flatnonzero(n_inv >= k)
        last = n_inv[rows] == k
        at = created[rows] + days(
            np.minimum(
                k * 1.0 + rng.uniform(0, 0.5, len(rows)),
                0.98 * (t1[rows] - created[rows]) / DAY,
            )
        )
        at = np.where(at <= created[rows], created[rows] + np.timedelta64(600, "s"), at)
        outcome = np.where(
            last & visit[rows],
            "accepted",
            np.where(rng.random(len(rows)) < 0.5, "declined", "no_answer"),
        )
        ev.append(_events(rows, "invitation", at, outcome=outcome))
    return ev


def _visits(ctx: DealerContext, L: pd.DataFrame) -> list[pd.DataFrame]:
    """Showroom visits: the first, then repeats spread up to the order (a buyer's last visit is
    the order visit)."""
    rng = ctx.rng
    t1 = L["t_visit1"].to_numpy("datetime64[s]")
    nv = L["n_visits"].to_numpy()
    order = L["order"].to_numpy()
    t_order = L["t_order"].to_numpy("datetime64[s]")
    vis_rows = np.flatnonzero(nv >= 1)
    dwell = np.round(np.exp(rng.normal(np.log(40), 0.5, len(vis_rows))) + 20 * order[vis_rows], 1)
    ev = [_events(vis_rows, "visit", t1[vis_rows], outcome="first", dwell=dwell)]
    for k in range(2, int(nv.max(initial=1)) + 1):
        rows = np.flatnonzero(nv >= k)
        span = np.where(
            order[rows], (t_order[rows] - t1[rows]) / DAY, rng.gamma(1.5, 8, len(rows)) + 1
        )
        frac = (k - 1) / np.maximum(nv[rows] - 1, 1)
        at = np.where(
            order[rows] & (k == nv[rows]),
            t_order[rows] - np.timedelta64(1800, "s"),
            t1[rows] + days(span * frac * 0.9 + 0.01),
        )
        at = not_before(ctx.in_hours(rng, at), t1[rows])
        at = np.where(order[rows] & (k == nv[rows]), t_order[rows] - np.timedelta64(1800, "s"), at)
        dwell = np.round(np.exp(rng.normal(np.log(35), 0.5, len(rows))), 1)
        ev.append(_events(rows, "visit", at, outcome="repeat", dwell=dwell))
    return ev


def lead_table(
    ctx: DealerContext, L: pd.DataFrame, ev: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The leads table as of ``as_of`` and the events up to ``as_of``.

    A lead is won once ordered, defeated after 45 idle days (with a reason), open otherwise.
    The intent grade recorded at the first contact is a noisy read of the true order
    propensity; some leads are never graded.
    """
    rng, p, as_of = ctx.rng, ctx.p, ctx.as_of
    n_leads = len(L)
    lead_created = L["created_at"].to_numpy("datetime64[s]")
    ev = ev[ev["at"] <= as_of]
    last_ev = ev.groupby("row")["at"].max()
    order_seen = L["order"].to_numpy() & (L["t_order"].to_numpy("datetime64[s]") <= as_of)
    last = last_ev.reindex(np.arange(n_leads)).to_numpy("datetime64[s]")
    last = np.where(np.isnat(last), lead_created, last)
    idle_days = (as_of - last) / DAY
    defeated = ~order_seen & (idle_days > 45)
    closed_at = np.where(
        order_seen,
        L["t_order"].to_numpy("datetime64[s]"),
        np.where(defeated, last + days(np.full(n_leads, 45.0)), np.datetime64("NaT")),
    )
    status = np.where(order_seen, "won", np.where(defeated, "defeated", "open"))
    reason = np.where(
        defeated,
        choice(rng, schema.DEFEAT_REASONS, n_leads, [0.24, 0.22, 0.16, 0.14, 0.06, 0.12, 0.06]),
        None,
    )
    p_ord_total = L["p_visit"] * L["p_quote"] * L["p_order"]
    noisy = np.log(p_ord_total / (1 - p_ord_total)) + rng.normal(0, p.grade_noise, n_leads)
    grade = np.select([noisy > -0.4, noisy > -1.6, noisy > -2.8], ["H", "A", "B"], default="C")
    grade = np.where(rng.random(n_leads) < 0.05, None, grade)
    leads = pd.DataFrame(
        {
            "dealer_id": ctx.did,
            "lead_id": L["lead_id"],
            "customer_id": L["customer_id"],
            "channel": L["channel"],
            "model_interest": L["model"],
            "created_at": lead_created,
            "consultant_id": L["consultant_id"],
            "intent_grade": grade,
            "status": status,
            "closed_at": closed_at,
            "defeat_reason": reason,
            "first_response_at": _first_response_at(ctx, L),
        }
    )
    return leads, ev


def _first_response_at(ctx: DealerContext, L: pd.DataFrame) -> np.ndarray:
    """When the dealer first responded to each lead (empty if after ``as_of``)."""
    created = L["created_at"].to_numpy("datetime64[s]")
    at = created + days(L["response_minutes"].to_numpy() / 1440.0)
    return np.where(at <= ctx.as_of, at, np.datetime64("NaT"))


def touchpoints_table(
    ctx: DealerContext, L: pd.DataFrame, ev: pd.DataFrame, extra: list[pd.DataFrame]
) -> pd.DataFrame:
    """The touchpoints table: lead events (invitations by the DCC, inquiries by nobody, the
    rest by the lead's consultant) and the ``extra`` touchpoints without a lead, up to
    ``as_of``, in time order."""
    d = ctx.did
    staff_for = L["consultant_id"].to_numpy()
    dcc = ctx.staff_ids("dcc")
    tp_lead = pd.DataFrame(
        {
            "customer_id": L["customer_id"].to_numpy()[ev["row"]],
            "lead_id": L["lead_id"].to_numpy()[ev["row"]],
            "kind": ev["kind"].to_numpy(),
            "channel": ev["channel"].to_numpy(),
            "at": ev["at"].to_numpy("datetime64[s]"),
            "outcome": ev["outcome"].to_numpy(),
            "dwell_minutes": ev["dwell_minutes"].to_numpy(),
            "staff_id": np.where(
                ev["kind"].to_numpy() == "invitation",
                choice(ctx.rng, dcc, len(ev)),
                staff_for[ev["row"]],
            ),
        }
    )
    tp_lead.loc[tp_lead["kind"] == "inquiry", "staff_id"] = None
    tp = pd.concat([tp_lead] + extra, ignore_index=True)
    tp = (
        tp[tp["at"] <= ctx.as_of]
        .sort_values(["at", "customer_id", "kind"], kind="stable")
        .reset_index(drop=True)
    )
    tp.insert(0, "touch_id", make_ids(f"{d}-T", len(tp), width=7))
    tp.insert(0, "dealer_id", d)
    return tp


def visitor_arrivals(
    ctx: DealerContext, tp: pd.DataFrame, C: pd.DataFrame, SV: pd.DataFrame
) -> pd.DataFrame:
    """Every real arrival at the front desk (the truth behind the visitor log): sales visits,
    deliveries and half the service visits, logged up to 10 minutes before the DMS time.

    Columns: ``cpos`` (position of the customer in ``C``), at, reason, touch_id, staff_id,
    true_customer.
    """
    rng = ctx.rng
    vis = tp[tp["kind"] == "visit"]
    cust_pos = pd.Series(np.arange(len(C)), index=C["customer_id"])
    arrivals = [
        pd.DataFrame(
            {
                "cpos": cust_pos[vis["customer_id"]].to_numpy(),
                "at": vis["at"].to_numpy("datetime64[s]"),
                "reason": "sales",
                "touch_id": vis["touch_id"].to_numpy(),
                "staff_id": vis["staff_id"].to_numpy(),
            }
        ),
    ]
    dl = tp[tp["kind"] == "delivery"]
    arrivals.append(
        pd.DataFrame(
            {
                "cpos": cust_pos[dl["customer_id"]].to_numpy(),
                "at": dl["at"].to_numpy("datetime64[s]"),
                "reason": "delivery",
                "touch_id": None,
                "staff_id": dl["staff_id"].to_numpy(),
            }
        )
    )
    svc_log = SV[(SV["at"] <= ctx.as_of) & (SV["at"] >= ctx.start)]
    svc_log = svc_log[rng.random(len(svc_log)) < 0.5]  # half pass the showroom desk
    arrivals.append(
        pd.DataFrame(
            {
                "cpos": cust_pos[svc_log["customer_id"]].to_numpy(),
                "at": svc_log["at"].to_numpy("datetime64[s]"),
                "reason": "service",
                "touch_id": None,
                "staff_id": None,
            }
        )
    )
    A = pd.concat(arrivals, ignore_index=True)
    A["at"] = A["at"].to_numpy("datetime64[s]") - days(rng.uniform(0, 10, len(A)) / 1440.0)
    A["true_customer"] = C["customer_id"].to_numpy()[A["cpos"].to_numpy()]
    return A


def visitor_log_table(ctx: DealerContext, A: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Number the arrivals ``A`` up to ``as_of`` in time order (adds ``entry_id`` to the
    returned arrivals) and return ``(arrivals, visitor_log table)``."""
    d = ctx.did
    A = A[A["at"] <= ctx.as_of].sort_values("at", kind="stable").reset_index(drop=True)
    A["entry_id"] = make_ids(f"{d}-V", len(A), width=7)
    vlog = A[
        ["entry_id", "at", "log_name", "log_phone", "party_size", "reason", "staff_id"]
    ].rename(columns={"log_name": "name", "log_phone": "phone"})
    vlog.insert(0, "dealer_id", d)
    return A, vlog


def channel_costs(ctx: DealerContext, leads: pd.DataFrame) -> pd.DataFrame:
    """Monthly cost of each channel: a fixed part (+-20%) plus a cost per lead."""
    months = pd.period_range(
        pd.Timestamp(ctx.start).to_period("M"), pd.Timestamp(ctx.as_of).to_period("M"), freq="M"
    )
    lm = pd.DataFrame(
        {"channel": leads["channel"], "month": leads["created_at"].dt.to_period("M")}
    ).value_counts()
    grid = pd.MultiIndex.from_product([list(schema.CHANNELS), months], names=["channel", "month"])
    cnt = lm.reindex(grid, fill_value=0).to_numpy()
    ch_arr = grid.get_level_values(0).to_numpy()
    cost = (
        np.array([CHANNEL_COST_FIXED[c] for c in ch_arr]) * ctx.rng.uniform(0.8, 1.2, len(grid))
        + np.array([CHANNEL_COST_PER_LEAD[c] for c in ch_arr]) * cnt
    )
    return pd.DataFrame(
        {
            "dealer_id": ctx.did,
            "channel": ch_arr,
            "month": grid.get_level_values(1).to_timestamp(),
            "cost": np.round(cost, 0),
        }
    )
