"""The action-lists page (and the report's list table): list sizes with the ranking rule, each
owner's load, the weekly touch calendar, the top calls and department efficiency.

Each view takes the run's analysis (numbers computed once) and a language and returns tables
and sentences in the reader's words, like :mod:`crm_analytics.report.sections`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from crm_analytics.actions.call_lists import REASONS, owner_load, touch_calendar
from crm_analytics.report.analysis import DealerAnalysis
from crm_analytics.report.sections import list_facts, translate
from crm_analytics.report.text import fmt_date, fmt_num, format_yuan, label, t

__all__ = [
    "action_lists",
    "owner_load_view",
    "touch_calendar_view",
    "top_of_lists",
    "department_view",
]


def action_lists(a: DealerAnalysis, lang: str) -> pd.DataFrame:
    """Every call list: customers, expected margin, owner role, due by (90th percentile of the
    rows' due dates)."""
    rows = []
    for reason in REASONS:
        f = list_facts(a, reason)
        rows.append(
            {
                "reason": label(reason, lang),
                "customers": f"{f['n']:,}",
                "expected_margin": format_yuan(f["gain"], lang),
                "owner_role": label(f["owner"], lang) if f["owner"] else "–",
                "due_by": fmt_date(f["due"]),
            }
        )
    return translate(pd.DataFrame(rows).set_index("reason"), lang)


def _owner_names(ids: pd.Series, names: Mapping[str, str] | None) -> list[str]:
    """Each owner's name (as the funnel page shows consultants), its staff id where the
    staff table has no name for it, "–" where a call has no owner."""
    names = names or {}
    return [names.get(str(i), str(i)) if pd.notna(i) else "–" for i in ids]


def owner_load_view(
    calls: pd.DataFrame, lang: str, names: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Calls per owner and the owner's load against the mean of the role
    (:func:`crm_analytics.actions.call_lists.owner_load`), busiest first within each role;
    owners by name (``names``: staff id -> name, e.g. ``DealerAnalysis.staff_names()``)."""
    load = owner_load(calls).sort_values(["owner_role", "rows"], ascending=[True, False])
    return translate(
        pd.DataFrame(
            {
                "owner_role": [label(r, lang) for r in load["owner_role"]],
                "owner": _owner_names(load["owner_id"], names),
                "calls": [f"{v:,}" for v in load["rows"]],
                "value_at_stake": [format_yuan(v, lang) for v in load["value"]],
                "load_ratio": [f"{v:.2f}×" for v in load["load_ratio"]],
            }
        ).set_index("owner_role"),
        lang,
    )


def touch_calendar_view(calls: pd.DataFrame, lang: str, *, weeks: int = 12) -> pd.DataFrame:
    """Calls due per week (Monday to Sunday; overdue calls in the first week) and list, the
    first ``weeks`` weeks, with the expected value (:func:`~crm_analytics.actions.call_lists.
    touch_calendar`). Lists with no call in those weeks are left out."""
    cal = touch_calendar(calls).head(weeks)
    lists = [r for r in REASONS if r in cal.columns and cal[r].sum() > 0]
    frame = pd.DataFrame(
        {label(r, lang): [f"{int(v):,}" for v in cal[r]] for r in lists},
        index=[t("week_of", lang, date=fmt_date(d)) for d in cal.index],
    )
    frame[label("total", lang)] = [f"{int(v):,}" for v in cal["total"]]
    frame[label("expected_value", lang)] = [format_yuan(v, lang) for v in cal["value"]]
    return frame


def top_of_lists(
    calls: pd.DataFrame, lang: str, *, n: int = 40, names: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """The first ``n`` calls across all lists, highest priority first (customers' names and
    phones as ``calls`` carries them: masked unless contact lists were asked for; owners by
    name as in :func:`owner_load_view`)."""
    top = calls.head(n)
    return translate(
        pd.DataFrame(
            {
                "rank": [f"{int(v):,}" for v in top["rank"]],
                "customer_id": top["customer_id"].astype(str).to_list(),
                "customer_name": top["customer_name"].fillna("–").astype(str).to_list(),
                "customer_phone": top["customer_phone"].fillna("–").astype(str).to_list(),
                "reason": [label(r, lang) for r in top["reason"]],
                "list_rank": [f"{int(v):,}" for v in top["list_rank"]],
                "due_date": [fmt_date(d) for d in top["due_date"]],
                "expected_margin": [format_yuan(v, lang) for v in top["expected_margin"]],
                "owner": _owner_names(top["owner_id"], names),
            }
        ).set_index("rank"),
        lang,
    )


def department_view(eff: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Each department's customers, conversions and margin per customer and per staff member
    over the last year (:func:`crm_analytics.metrics.crm_department.department_efficiency`)."""

    return translate(
        pd.DataFrame(
            {
                "department": [label("dept." + str(d), lang) for d in eff["department"]],
                "customers": [fmt_num(v, ",.0f") for v in eff["customers"]],
                "converted": [fmt_num(v, ",.0f") for v in eff["converted"]],
                "conversion_rate": [fmt_num(v, ".1%") for v in eff["conversion_rate"]],
                "margin": [format_yuan(v, lang) for v in eff["margin"]],
                "margin_per_customer": [format_yuan(v, lang) for v in eff["margin_per_customer"]],
                "staff": [fmt_num(v, ",.0f") for v in eff["staff"]],
                "margin_per_staff": [format_yuan(v, lang) for v in eff["margin_per_staff"]],
            }
        ).set_index("department"),
        lang,
    )
