"""Authenticity [真实性] checks: the records are real people, real visits, entered once."""

from __future__ import annotations

import pandas as pd

from crm_analytics.data.linkage import normalize_phones, phone_kind
from crm_analytics.metrics.quality.rule import Outcome, Rule, RuleContext


def customer_phone_format(ctx: RuleContext, rule: Rule) -> Outcome:
    """Customer phones that are neither mobile nor landline numbers."""
    cust = ctx.customers
    bad = cust[cust["phone_kind"] == "invalid"]
    return (
        rule.outcome()
        .count(int((~cust["phone_kind"].isin(["missing", "masked"])).sum()), bad)
        .flag("phone_format", bad, "customer_id", detail="phone_kind")
    )


def placeholder_record(ctx: RuleContext, rule: Rule) -> Outcome:
    """Customers with a placeholder phone or name."""
    cust = ctx.customers
    ph = cust[(cust["phone_kind"] == "placeholder") | (cust["name_form"] == "placeholder")]
    return (
        rule.outcome()
        .count(len(cust), ph)
        .flag(
            "placeholder_record",
            ph,
            "customer_id",
            detail=ph["phone_kind"].where(ph["phone_kind"] == "placeholder", "placeholder name"),
        )
    )


def duplicate_person(ctx: RuleContext, rule: Rule) -> Outcome:
    """Later customer ids of a person (same normalised phone, compatible surname)."""
    cust = ctx.customers
    usable = cust[
        cust["phone_kind"].isin(["mobile", "landline"]) & ~cust["staff_phone"]
    ].sort_values(["created_at", "customer_id"])
    first = usable.groupby("phone_norm")["customer_id"].transform("first")
    first_sur = usable["phone_norm"].map(
        usable.drop_duplicates("phone_norm").set_index("phone_norm")["surname_py"]
    )
    dup = usable[
        (usable["customer_id"] != first)
        & (
            (usable["surname_py"] == first_sur) | usable["surname_py"].isna() | first_sur.isna()
        ).fillna(True)
    ]
    dup = dup.assign(first=first[dup.index])
    return (
        rule.outcome()
        .count(len(cust), dup)
        .flag("duplicate_person", dup, "customer_id", detail="first")
    )


def staff_phone(ctx: RuleContext, rule: Rule) -> Outcome:
    """Customers whose phone is a staff member's."""
    cust = ctx.customers
    sp = cust[cust["staff_phone"]]
    return (
        rule.outcome()
        .count(len(cust), sp)
        .flag(
            "staff_phone",
            sp,
            "customer_id",
            detail=pd.Series("phone of a staff member", index=sp.index),
        )
    )


def phone_typo(ctx: RuleContext, rule: Rule) -> Outcome:
    """Customers whose DMS phone is one digit away from their front-desk phone."""
    cust = ctx.customers
    ty = ctx.rec.typos.merge(cust[["customer_id", "consultant_id"]], on="customer_id", how="left")
    return (
        rule.outcome()
        .count(len(cust), ty)
        .flag(
            "phone_typo",
            ty,
            "customer_id",
            other_phone="log_phone",
            detail=pd.Series(
                "front-desk phone (other_phone) of entry "
                + ty["entry_id"].astype(str)
                + " is one digit away",
                index=ty.index,
            ),
        )
    )


def log_phone_format(ctx: RuleContext, rule: Rule) -> Outcome:
    """Visitor-log rows with an invalid or placeholder phone."""
    log = ctx.dealer.visitor_log
    lk = phone_kind(normalize_phones(log["phone"]))
    bad = log[lk.isin(["invalid", "placeholder"])]
    return (
        rule.outcome()
        .count(int((~lk.isin(["missing", "masked"])).sum()), bad)
        .flag("log_phone_format", bad, "entry_id", consultant_id="staff_id", detail=lk[bad.index])
    )


def visit_has_arrival(ctx: RuleContext, rule: Rule) -> Outcome:
    """DMS visits with no front-desk arrival on a logged day (possibly fabricated)."""
    rec = ctx.rec
    return (
        rule.outcome()
        .count(len(rec.pairs) + len(rec.phantom), rec.phantom)
        .flag(
            "phantom_visit",
            rec.phantom,
            "touch_id",
            consultant_id="staff_id",
            detail=pd.Series("DMS visit with no front-desk arrival", index=rec.phantom.index),
        )
    )


def one_repair_order(ctx: RuleContext, rule: Rule) -> Outcome:
    """Repair orders keyed in twice (same vehicle, customer, time, kind and amounts)."""
    sv = ctx.dealer.service_visits
    same = ["vin", "customer_id", "at", "kind", "labor_amount", "parts_amount", "margin"]
    ro_dup = sv.sort_values("ro_id")
    ro_dup = ro_dup[ro_dup.duplicated(same, keep="first")]
    first_ro = (
        sv.sort_values("ro_id").drop_duplicates(same).set_index(same)["ro_id"].rename("first_ro")
    )
    ro_dup = ro_dup.join(first_ro, on=same)
    return (
        rule.outcome()
        .count(len(sv), ro_dup)
        .flag(
            "duplicate_repair_order",
            ro_dup,
            "ro_id",
            consultant_id=pd.Series("crm", index=ro_dup.index),
            detail=pd.Series("copy of " + ro_dup["first_ro"].astype(str), index=ro_dup.index),
        )
    )
