"""The report's key accounts and marketing events (issue 17; DIGEST sections 5, 23-24, 48), as
display-ready tables and sentences.

The numbers are the analysis's ``key_accounts`` and ``events`` sections
(:mod:`crm_analytics.metrics.key_accounts`); this module only writes them in the reader's
language. A company's name is shown (it is not personal data); a person who is a key account
is shown with a masked name, and every phone is masked.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from crm_analytics.data.privacy import mask_name, mask_phone
from crm_analytics.metrics.key_accounts import VALUE_ADDED_ITEMS
from crm_analytics.report.analysis import DealerAnalysis
from crm_analytics.report.sections import translate
from crm_analytics.report.text import fmt_date, fmt_pct, format_yuan, label, t, why

__all__ = [
    "MAX_EVENTS",
    "events_view",
    "key_accounts_view",
]

#: The section's anchor and the TEXT key of its heading (placed after the media section).
#: Most events listed one by one (the latest); the per-kind totals cover all of them.
MAX_EVENTS = 12


def key_accounts_view(a: DealerAnalysis, lang: str) -> dict[str, Any]:
    """The key accounts: ``note`` (how they are found, the windows) and ``table`` (one row
    per account, its name as the row name), or ``note`` alone when the dealer has none or
    the section is missing."""
    acc = a.sections.get("key_accounts")
    if acc is None:
        return {"note": t("not_available", lang, why=why(a.notes.get("key_accounts", ""), lang))}
    prm = a.settings.section("lifecycle")["key_accounts"]  # the analysis's own settings
    as_of = pd.Timestamp(a.dealer.as_of)
    orders = a.dealer.orders
    first = orders["ordered_at"].min() if len(orders) else None
    note = t(
        "ka_note",
        lang,
        vehicles=prm["min_vehicles"],
        orders=prm["min_orders"],
        months=prm["service_months"],
        start=fmt_date(first),
        end=fmt_date(as_of),
    )
    if acc.empty:
        return {"note": note + " " + t("ka_none", lang)}
    names = [
        str(n) if company else str(mask_name(n))
        for n, company in zip(acc["name"], acc["company"], strict=True)
    ]
    table = pd.DataFrame(
        {
            "ka_industry": [
                label("industry." + str(i), lang) if isinstance(i, str) else "–"
                for i in acc["industry"]
            ],
            "ka_phone": [str(mask_phone(p)) if isinstance(p, str) else "–" for p in acc["phone"]],
            "ka_vehicles": [f"{v:,}" for v in acc["vehicles"]],
            "ka_orders": [f"{v:,}" for v in acc["orders"]],
            "ka_revenue": [format_yuan(v, lang) for v in acc["revenue"]],
            "ka_margin": [format_yuan(v, lang) for v in acc["margin"]],
            **{
                "ka_" + item: [fmt_pct(v, ".0%") for v in acc[f"{item}_rate"]]
                for item in VALUE_ADDED_ITEMS
            },
            "ka_service_visits": [f"{v:,}" for v in acc["service_visits"]],
            "ka_last_contact": [fmt_date(v) for v in acc["last_contact"]],
            "ka_sales_share": [f"{v:.1%}" for v in acc["sales_share"]],
        },
        index=names,
    )
    total = t(
        "ka_total",
        lang,
        n=len(acc),
        vehicles=f"{int(acc['vehicles'].sum()):,}",
        share=f"{acc['sales_share'].sum():.1%}",
    )
    return {"note": note, "table": translate(table, lang, index=False), "total": total}


def events_view(a: DealerAnalysis, lang: str) -> dict[str, Any]:
    """The marketing events: ``note`` (the follow-up window), ``by_kind`` (totals per kind)
    and ``table`` (the latest :data:`MAX_EVENTS` events), or ``note`` alone."""
    ev = a.sections.get("events")
    if ev is None:
        return {"note": t("not_available", lang, why=why(a.notes.get("events", ""), lang))}
    if ev.empty:
        return {"note": t("ev_none", lang)}
    days = int(ev["follow_up_days"].iloc[0])
    note = t(
        "ev_note",
        lang,
        days=days,
        n=len(ev),
        start=fmt_date(ev["start"].min()),
        end=fmt_date(ev["end"].max()),
        as_of=fmt_date(a.dealer.as_of),
    )
    g = ev.groupby("kind")
    kinds = pd.DataFrame(
        {
            "events": g.size(),
            "cost": g["cost"].sum(),
            "leads": g["leads"].sum(),
            "visits": g["visits"].sum(),
            "orders": g["orders"].sum(),
        }
    )
    by_kind = pd.DataFrame(
        {
            "ev_events": [f"{v:,}" for v in kinds["events"]],
            "ev_cost": [format_yuan(v, lang) for v in kinds["cost"]],
            "ev_leads": [f"{v:,}" for v in kinds["leads"]],
            "ev_visits": [f"{v:,}" for v in kinds["visits"]],
            "ev_orders": [f"{v:,}" for v in kinds["orders"]],
            "ev_cost_per_lead": [
                format_yuan(c / n, lang) if n else "–"
                for c, n in zip(kinds["cost"], kinds["leads"], strict=True)
            ],
            "ev_cost_per_order": [
                format_yuan(c / n, lang) if n else "–"
                for c, n in zip(kinds["cost"], kinds["orders"], strict=True)
            ],
        },
        index=[label("event." + str(k), lang) for k in kinds.index],
    )
    last = ev.sort_values("start", kind="stable").tail(MAX_EVENTS).iloc[::-1]
    table = pd.DataFrame(
        {
            "ev_kind": [label("event." + str(k), lang) for k in last["kind"]],
            "ev_dates": [
                f"{fmt_date(s)} – {fmt_date(e)}"
                for s, e in zip(last["start"], last["end"], strict=True)
            ],
            "ev_cost": [format_yuan(v, lang) for v in last["cost"]],
            "ev_leads": [f"{v:,}" for v in last["leads"]],
            "ev_visits": [f"{v:,}" for v in last["visits"]],
            "ev_orders": [f"{v:,}" for v in last["orders"]],
            "ev_cost_per_lead": [format_yuan(v, lang) for v in last["cost_per_lead"]],
            "ev_cost_per_order": [format_yuan(v, lang) for v in last["cost_per_order"]],
            "ev_complete": [label("ev.yes" if c else "ev.no", lang) for c in last["complete"]],
        },
        index=[str(n) if isinstance(n, str) and n else "–" for n in last["name"]],
    )
    return {
        "note": note,
        "by_kind": translate(by_kind, lang, index=False),
        "table_note": t("ev_table_note", lang, n=len(last)),
        "table": translate(table, lang, index=False),
    }
