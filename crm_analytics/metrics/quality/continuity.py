"""Continuity [连贯性] checks: every step of a customer's journey is recorded, in order, every month."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics.core.dealer import DealerData
from crm_analytics.metrics.quality.common import _isin
from crm_analytics.metrics.quality.params import QualityParams
from crm_analytics.metrics.quality.rule import Outcome, Rule, RuleContext

_STAGE_NEEDS_VISIT = ("test_drive", "quote", "order")


#: event tables and the time column whose monthly counts ``no_silent_month`` checks
#: and the unit counted (touches, visits and surveys cluster around one customer's lead or
#: vehicle, so distinct customers a month are counted, closer to a Poisson count than rows)
_EVENT_TIMES: dict[str, tuple[str, str | None]] = {
    "leads": ("created_at", None),
    "touchpoints": ("at", "customer_id"),
    "orders": ("ordered_at", None),
    "service_visits": ("at", "customer_id"),
    "surveys": ("at", "customer_id"),
    "visitor_log": ("at", None),
}


def _silent_months(
    dealer: DealerData, params: QualityParams
) -> tuple[dict[str, int], pd.DataFrame]:
    """Months checked per event table and the silent ones (``table``, ``month``, ``expected``).

    A table is checked from the 13th month after its first record to the month of the as-of
    date (that month pro rata of its days up to as-of); rows are counted, or distinct
    customers for tables whose rows cluster around a customer (see ``_EVENT_TIMES``). A month with no record is silent when a
    Poisson count at the daily rate of the 12 months before its run of empty months would have
    been zero with chance at most ``params.missing_day_max_chance``. Judging each run by the
    months before it keeps a sparse start of the history (before the DMS was fully in use)
    from flagging, and flags every month of an export cut short.
    """
    end = dealer.as_of.normalize() + pd.Timedelta(days=1)
    checked: dict[str, int] = {}
    silent: list[pd.DataFrame] = []
    for table, (col, unit) in _EVENT_TIMES.items():
        frame = dealer.tables[table]
        frame = frame[frame[col].notna() & (frame[col] < end)]
        at = frame[col]
        if at.empty:
            checked[table] = 0
            continue
        months = pd.period_range(at.min().to_period("M"), dealer.as_of.to_period("M"), freq="M")
        starts = months.to_timestamp()
        span_start = np.maximum(starts, at.min().normalize())
        span_end = np.minimum(starts + pd.offsets.MonthBegin(1), end)
        days = np.asarray((span_end - span_start) / pd.Timedelta(days=1), dtype=float)
        month = at.dt.to_period("M")
        per = (
            frame.assign(_m=month).drop_duplicates(["_m", unit])["_m"] if unit else month
        ).value_counts()
        n = per.reindex(months, fill_value=0).to_numpy()
        # a silent run of months is judged at the daily rate of the 12 months before it
        # (history can start sparse, before the DMS was fully in use; the first month has a record)
        last_busy = np.maximum.accumulate(np.where(n > 0, np.arange(len(n)), 0))
        run_start = last_busy + 1
        lo = np.maximum(run_start - 12, 0)
        cum_n = np.concatenate([[0.0], np.cumsum(n)])
        cum_d = np.concatenate([[0.0], np.cumsum(days)])
        rate = (cum_n[run_start] - cum_n[lo]) / (cum_d[run_start] - cum_d[lo])
        expected = rate * days
        # a run is judged only with 12 months of history before it
        judged = run_start >= 12
        empty = judged & (n == 0) & (np.exp(-expected) <= params.missing_day_max_chance)
        checked[table] = int(judged.sum())
        if empty.any():
            silent.append(
                pd.DataFrame(
                    {
                        "table": table,
                        "month": months[empty].astype(str),
                        "at": starts[empty],
                        "expected": expected[empty],
                    }
                )
            )
    out = (
        pd.concat(silent, ignore_index=True)
        if silent
        else pd.DataFrame(
            {
                "table": pd.Series(dtype=str),
                "month": pd.Series(dtype=str),
                "at": pd.Series(dtype="datetime64[ns]"),
                "expected": pd.Series(dtype=float),
            }
        )
    )
    return checked, out


def _stage_gaps(
    dealer: DealerData, params: QualityParams
) -> tuple[pd.DataFrame, dict[str, tuple[int, int]]]:
    """Missing lead stage records seen in the DMS itself: ``lead_id``, ``kind``, ``at``, ``detail``.

    Visits missing although the front desk saw the customer are found by the reconciliation
    (``visit_not_recorded``), not here.
    """
    tp = dealer.touchpoints
    st = tp[tp["lead_id"].notna()]
    visits = st[st["kind"] == "visit"][["lead_id", "at"]].sort_values("at")
    needs = st[st["kind"].isin(_STAGE_NEEDS_VISIT)][
        ["touch_id", "lead_id", "kind", "at"]
    ].sort_values("at")
    counts: dict[str, tuple[int, int]] = {}
    gaps = []
    if len(needs):
        m = pd.merge_asof(
            needs,
            visits.rename(columns={"at": "visit_at"}),
            left_on="at",
            right_on="visit_at",
            by="lead_id",
            direction="backward",
            tolerance=pd.Timedelta(hours=params.stage_visit_window_hours),
            allow_exact_matches=True,
        )
        bad = m[m["visit_at"].isna()]
        counts["visit_before_stage"] = (len(m), len(bad))
        gaps.append(
            pd.DataFrame(
                {
                    "lead_id": bad["lead_id"],
                    "kind": "visit",
                    "at": bad["at"],
                    "detail": "no visit before " + bad["kind"] + " " + bad["touch_id"],
                }
            )
        )
    else:
        counts["visit_before_stage"] = (0, 0)
    orders = st[st["kind"] == "order"][["touch_id", "lead_id", "at"]].sort_values("at")
    quotes = (
        st[st["kind"] == "quote"][["lead_id", "at"]]
        .sort_values("at")
        .rename(columns={"at": "quote_at"})
    )
    if len(orders):
        m = pd.merge_asof(
            orders, quotes, left_on="at", right_on="quote_at", by="lead_id", direction="backward"
        )
        bad = m[m["quote_at"].isna()]
        counts["quote_before_order"] = (len(m), len(bad))
        gaps.append(
            pd.DataFrame(
                {
                    "lead_id": bad["lead_id"],
                    "kind": "quote",
                    "at": bad["at"],
                    "detail": "no quote before order " + bad["touch_id"],
                }
            )
        )
    else:
        counts["quote_before_order"] = (0, 0)
    gaps = [g for g in gaps if len(g)]
    out = (
        pd.concat(gaps, ignore_index=True)
        if gaps
        else pd.DataFrame(columns=["lead_id", "kind", "at", "detail"])
    )
    # one flag per lead, stage and day
    out = (
        out.assign(_day=pd.to_datetime(out["at"]).dt.normalize())
        .drop_duplicates(["lead_id", "kind", "_day"])
        .drop(columns="_day")
    )
    return out.reset_index(drop=True), counts


#: How ``reconcile_visits`` matched an unregistered arrival to a known customer (its ``how``
#: codes), in the words of the fix list's evidence.
MATCHED_BY = {
    "phone": "phone",
    "phone_one_digit": "a phone one digit apart",
    "full_name_and_lead": "full name and open lead",
    "surname_lead_and_touch_that_day": "surname, open lead and a contact that day",
}


def arrival_in_dms(ctx: RuleContext, rule: Rule) -> Outcome:
    """Front-desk sales arrivals with no DMS visit: unregistered walk-ins, unrecorded visits."""
    rec = ctx.rec
    un, nr = rec.unregistered, rec.not_recorded
    return (
        rule.outcome()
        .count(len(rec.pairs) + len(un) + len(nr), len(un) + len(nr))
        .flag(
            "unregistered_walk_in",
            un,
            "entry_id",
            consultant_id="staff_id",
            detail=pd.Series("party of " + un["party_size"].astype(str), index=un.index),
        )
        .flag(
            "visit_not_recorded",
            nr,
            "entry_id",
            consultant_id="staff_id",
            detail="known customer, matched by " + nr["how"].map(MATCHED_BY).fillna(nr["how"]),
        )
    )


def no_missing_day(ctx: RuleContext, rule: Rule) -> Outcome:
    """Open days with no visitor-log entry although the DMS expects arrivals."""
    days = ctx.rec.missing_days
    log_days = ctx.dealer.visitor_log["at"].dt.normalize().nunique()
    md = pd.DataFrame(
        {
            "day": days["day"].dt.strftime("%Y-%m-%d") if len(days) else pd.Series(dtype=str),
            "at": days["day"] if len(days) else pd.Series(dtype="datetime64[ns]"),
        }
    )
    md["detail"] = (
        (
            "DMS: "
            + days["dms_visits"].astype(str)
            + " visits, "
            + days["deliveries"].astype(str)
            + " deliveries, "
            + days["service_visits"].astype(str)
            + " service visits"
        ).to_numpy()
        if len(days)
        else []
    )
    return (
        rule.outcome()
        .count(log_days + len(days), days)
        .flag("missing_log_day", md, "day", consultant_id=pd.Series("reception", index=md.index))
    )


def no_silent_month(ctx: RuleContext, rule: Rule) -> Outcome:
    """Calendar months without records in an event table (per table)."""
    months_checked, silent = _silent_months(ctx.dealer, ctx.params)
    out = rule.outcome()
    for table, n_months in months_checked.items():
        part = silent[silent["table"] == table]
        out.count(n_months, part, table=table).flag(
            "silent_month",
            part,
            "month",
            table=table,
            consultant_id=pd.Series("crm", index=part.index),
            detail=pd.Series(
                "no record; about " + part["expected"].round(1).astype(str) + " expected",
                index=part.index,
            ),
        )
    return out


def followup_within_days(ctx: RuleContext, rule: Rule) -> Outcome:
    """Open leads without a follow-up within ``followup_days`` of as-of."""
    dealer, leads, params = ctx.dealer, ctx.leads, ctx.params
    tp = dealer.touchpoints
    op = leads[leads["status"] == "open"]
    follow = tp[(tp["kind"] != "inquiry") & tp["lead_id"].notna()].groupby("lead_id")["at"].max()
    last = (op["lead_id"].map(follow) if len(op) else op["created_at"]).fillna(op["created_at"])
    idle = (dealer.as_of - last).dt.total_seconds() / 86400.0
    overdue = op[idle > params.followup_days].assign(last=last[idle > params.followup_days])
    return (
        rule.outcome()
        .count(len(op), overdue)
        .flag(
            "followup_overdue",
            overdue,
            "lead_id",
            consultant_id="consultant_id",
            at="last",
            detail=pd.Series(
                "last follow-up " + overdue["last"].dt.strftime("%Y-%m-%d"), index=overdue.index
            ),
        )
    )


def _stage_gaps_of(ctx: RuleContext) -> tuple[pd.DataFrame, dict[str, tuple[int, int]]]:
    return _stage_gaps(ctx.dealer, ctx.params)


def _stage_rule(ctx: RuleContext, rule: Rule, kind: str) -> Outcome:
    """Count ``rule.id`` from the shared stage gaps and flag the missing ``kind`` records."""
    gaps, counts = ctx.shared(_stage_gaps_of)
    gaps = gaps[gaps["kind"] == kind]
    g = gaps.assign(
        customer_id=gaps["lead_id"].map(ctx.lead_customer).astype("string"),
        consultant_id=gaps["lead_id"].map(ctx.lead_consultant).astype("string"),
    )
    g = g.merge(
        ctx.customers[["customer_id", "name", "phone"]].astype({"customer_id": "string"}),
        on="customer_id",
        how="left",
    )
    checked, failed = counts[rule.id]
    return (
        rule.outcome()
        .count(checked, failed)
        .flag(
            "missing_stage",
            g,
            "lead_id",
            detail=pd.Series(g["kind"].astype(str) + ": " + g["detail"].astype(str), index=g.index),
        )
    )


def visit_before_stage(ctx: RuleContext, rule: Rule) -> Outcome:
    """Test drives, quotes and orders without a DMS visit of their lead shortly before."""
    return _stage_rule(ctx, rule, "visit")


def quote_before_order(ctx: RuleContext, rule: Rule) -> Outcome:
    """Orders without a quote of their lead at or before them."""
    return _stage_rule(ctx, rule, "quote")


def delivery_has_order(ctx: RuleContext, rule: Rule) -> Outcome:
    """Deliveries whose lead has no order."""
    dealer = ctx.dealer
    tp = dealer.touchpoints
    dl = tp[tp["kind"] == "delivery"]
    no_order = dl[~_isin(dl["lead_id"], dealer.orders["lead_id"])]
    out = rule.outcome().count(len(dl), no_order)
    no_order = no_order.assign(consultant_id=no_order["lead_id"].map(ctx.lead_consultant))
    return out.flag(
        "delivery_without_order",
        no_order,
        "touch_id",
        detail=pd.Series("lead " + no_order["lead_id"].astype(str), index=no_order.index),
    )
