"""Validity [有效性] checks, and the rules counted from the load boundary's quarantine.

Rows the boundary validation (:mod:`crm_analytics.data.validation`) rejected are not checked
again: the quarantine is counted per table and scorecard rule (``row_rules``,
``not_after_as_of``, and the continuity rules ``has_parent`` and ``chronology``).
"""

from __future__ import annotations

import pandas as pd

from crm_analytics.core.dealer import DealerData
from crm_analytics.metrics.quality.common import _isin
from crm_analytics.metrics.quality.rule import Outcome, Rule, RuleContext

#: tables with a parent key, and tables with stage timestamps to keep in order
_HAS_PARENT = frozenset(
    {
        "vehicles",
        "leads",
        "touchpoints",
        "orders",
        "service_visits",
        "insurance_policies",
        "surveys",
    }
)
_HAS_CHRONOLOGY = frozenset({"leads", "orders", "touchpoints", "insurance_policies"})


def _quarantine_kind(rule: pd.Series) -> pd.Series:
    """The scorecard rule of each boundary rule name."""
    out = pd.Series("row_rules", index=rule.index, dtype=object)
    out[rule.str.startswith("foreign_key")] = "has_parent"
    out[rule.str.startswith("chronology")] = "chronology"
    out[rule == "after_as_of"] = "not_after_as_of"
    return out


def _quarantine_counts(dealer: DealerData) -> pd.DataFrame:
    """Rows read and rows quarantined at the boundary, per table and scorecard rule.

    ``has_parent`` is counted for tables with a parent key only, ``chronology`` for tables
    with stage timestamps only; a row quarantined by several rules of one kind counts once.
    """
    q = dealer.quarantine
    rows = []
    for table in sorted(set(dealer.rows_in) | set(dealer.tables)):
        rows_in = int(dealer.rows_in.get(table, len(dealer.tables.get(table, []))))
        qt = q[q["table"] == table] if len(q) else pd.DataFrame(columns=["rule", "source_row"])
        kind = _quarantine_kind(qt["rule"].astype(str)) if len(qt) else pd.Series(dtype=object)
        for name in ("has_parent", "chronology", "not_after_as_of", "row_rules"):
            if (name == "has_parent" and table not in _HAS_PARENT) or (
                name == "chronology" and table not in _HAS_CHRONOLOGY
            ):
                continue
            failed = (
                int(qt.loc[(kind == name).to_numpy(bool), "source_row"].nunique()) if len(qt) else 0
            )
            rows.append({"table": table, "rule": name, "checked": rows_in, "failed": failed})
    return pd.DataFrame(rows, columns=["table", "rule", "checked", "failed"])


def _quarantine_counts_of(ctx: RuleContext) -> pd.DataFrame:
    return _quarantine_counts(ctx.dealer)


def quarantine_rule(ctx: RuleContext, rule: Rule) -> Outcome:
    """Count, per table, the rows quarantined at the boundary by the rules of kind ``rule.id``."""
    counts = ctx.shared(_quarantine_counts_of)
    out = rule.outcome()
    for r in counts[counts["rule"] == rule.id].itertuples():
        out.count(r.checked, r.failed, table=r.table)
    return out


def row_rules(ctx: RuleContext, rule: Rule) -> Outcome:
    """Rows quarantined by a row rule; every quarantined row is listed (issue ``quarantined``)."""
    out = quarantine_rule(ctx, rule)
    q = ctx.dealer.quarantine
    if not len(q):
        return out
    q = q.drop_duplicates(["table", "source_row", "rule"])
    qf = pd.DataFrame(
        {
            "row_id": q["row_id"].astype(str),
            "detail": (
                q["rule"].astype(str)
                + " on "
                + q["column"].astype(str)
                + " = "
                + q["value"].astype(str)
            ).to_numpy(),
        }
    )
    qf = qf.assign(table=q["table"].to_numpy())
    for table, part in qf.groupby("table"):
        out.flag(
            "quarantined",
            part.reset_index(drop=True),
            "row_id",
            table=str(table),
            consultant_id=pd.Series("crm", index=range(len(part))),
        )
    return out


def phone_required(ctx: RuleContext, rule: Rule) -> Outcome:
    """Customers without a phone."""
    cust = ctx.customers
    no_phone = cust[cust["phone_kind"] == "missing"]
    return rule.outcome().count(len(cust), no_phone).flag("phone_required", no_phone, "customer_id")


def lead_consultant_required(ctx: RuleContext, rule: Rule) -> Outcome:
    """Leads without a consultant."""
    leads = ctx.leads
    no_cons = leads[leads["consultant_id"].isna()]
    return (
        rule.outcome()
        .count(len(leads), no_cons)
        .flag("consultant_required", no_cons, "lead_id", at="created_at")
    )


def log_consultant_required(ctx: RuleContext, rule: Rule) -> Outcome:
    """Front-desk sales arrivals without the consultant who received them."""
    log = ctx.dealer.visitor_log
    sales = log[log["reason"] == "sales"]
    ns = sales[sales["staff_id"].isna()]
    return (
        rule.outcome()
        .count(len(sales), ns)
        .flag(
            "consultant_required",
            ns,
            "entry_id",
            consultant_id=pd.Series("reception", index=ns.index),
        )
    )


def inside_opening_hours(ctx: RuleContext, rule: Rule) -> Outcome:
    """Front-desk arrivals outside opening hours (with grace)."""
    rec = ctx.rec
    ent = rec.entries
    oh = ent[
        ent["entry_id"].isin(
            rec.anomalies.loc[rec.anomalies["issue"] == "outside_opening_hours", "entry_id"]
        )
    ]
    return (
        rule.outcome()
        .count(len(ctx.dealer.visitor_log), oh)
        .flag(
            "outside_opening_hours",
            oh,
            "entry_id",
            consultant_id=pd.Series("reception", index=oh.index),
            detail="at",
        )
    )


def no_duplicate_entry(ctx: RuleContext, rule: Rule) -> Outcome:
    """Front-desk rows registering the same visitor again minutes later."""
    rec = ctx.rec
    ent = rec.entries
    dups = rec.anomalies[rec.anomalies["issue"] == "duplicate_entry"]
    de = ent[_isin(ent["entry_id"], dups["entry_id"])]
    return (
        rule.outcome()
        .count(len(ent), de)
        .flag(
            "duplicate_entry",
            de,
            "entry_id",
            consultant_id=pd.Series("reception", index=de.index),
            detail=pd.Series(
                "duplicate of "
                + de["entry_id"].map(dups.set_index("entry_id")["value"]).astype(str),
                index=de.index,
            ),
        )
    )
