"""The data-quality page: the scorecard by dimension and table, the weakest rules, the visitor-log
reconciliation, the import checks and the fix list per owner.

Each view takes the run's analysis (numbers computed once) and a language and returns tables
and sentences in the reader's words, like :mod:`crm_analytics.report.sections`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from crm_analytics.metrics.quality.fixes import fix_list_in
from crm_analytics.report.analysis import FIX_LIST_FILE, DealerAnalysis
from crm_analytics.report.display import status_text
from crm_analytics.report.sections import rule_text, translate
from crm_analytics.report.text import date_span, fmt_date, fmt_pct, label, t

__all__ = [
    "quality_view",
    "reconciliation_view",
    "load_view",
    "fix_list_view",
    "fix_owners_view",
    "named_fix_list",
]


#: the clause of a boundary rule's description naming the validation rule (an internal name)
_BOUNDARY_CLAUSE = re.compile(r"\s*[;；]\s*(?:counts rows|统计因).*$")


def _rule_name(table: str, rule: str, lang: str) -> str:
    """``Leads: Open lead followed up in time`` / ``线索:未关闭线索按时跟进``."""
    sep = ":" if lang == "zh" else ": "
    return f"{label('table.' + table, lang)}{sep}{label('rule.' + rule, lang)}"


def _rule_description(row: Any, lang: str, settings: Mapping[str, Any]) -> str:
    """What a rule checks, its settings as values (``within `followup_days` days`` ->
    ``within 30 days``), without the boundary rule's internal clause."""
    text = row.description_zh if lang == "zh" else row.description
    return _BOUNDARY_CLAUSE.sub("", rule_text(text, settings))


def _extract_span(a: DealerAnalysis) -> tuple[Any, Any]:
    """First event of the extract (lead, service visit or visitor-log arrival) and the data date."""
    d = a.dealer
    firsts = [
        date_span(frame[col])[0]
        for frame, col in ((d.leads, "created_at"), (d.service_visits, "at"))
        if len(frame)
    ]
    firsts = [f for f in firsts if f is not None]
    return (min(firsts) if firsts else None), a.dealer.as_of


def quality_view(a: DealerAnalysis, lang: str) -> dict[str, Any]:
    """The data-quality scorecard: ``note`` (window, scoring), ``dimensions`` (score, status,
    pass rate, failing and checked records, weakest rules per dimension), ``by_table`` (score
    per table and dimension) and ``rules`` (every rule that failed a record, weakest first;
    None when none did)."""
    card, qs = a.scorecard, a.settings.section("quality")
    start, end = _extract_span(a)
    rules = card.rules.sort_values(["score", "key"], kind="stable")
    sep = ";" if lang == "zh" else "; "
    n_worst = int(qs.get("worst_rules", 3))
    dims = card.dimensions
    rows = []
    for r in dims.itertuples(index=False):
        weak = rules.loc[(rules["dimension"] == r.dimension) & (rules["failed"] > 0)]
        rows.append(
            {
                "dimension": label(r.dimension, lang),
                "score": f"{r.score:.1f}",  # as in the chart (99.9 is not 100)
                "status": status_text(r.status, label(r.status, lang)),
                "pass_rate": f"{r.pass_rate:.1f}%",
                "failed": f"{int(r.failed):,}",
                "checked": f"{int(r.checked):,}",
                "worst_rules": sep.join(
                    _rule_name(w.table, w.rule, lang) + t("dq_rule_score", lang, score=w.score)
                    for w in weak.head(n_worst).itertuples(index=False)
                )
                or "–",
            }
        )
    pivot = card.pivot()
    by_table = pd.DataFrame(
        [["–" if pd.isna(v) else f"{v:.1f}" for v in row] for row in pivot.to_numpy()],
        index=[label("table." + x, lang) for x in pivot.index],
        columns=[label(x, lang) for x in pivot.columns],
    )
    failing = rules.loc[rules["failed"] > 0]
    table = pd.DataFrame(
        {
            "rule": [
                _rule_name(tb, r, lang)
                for tb, r in zip(failing["table"], failing["rule"], strict=True)
            ],
            "dimension": [label(x, lang) for x in failing["dimension"]],
            "checked": [f"{v:,}" for v in failing["checked"]],
            "failed": [f"{v:,}" for v in failing["failed"]],
            "score": [f"{v:.1f}" for v in failing["score"]],
            "status": [status_text(s, label(s, lang)) for s in failing["status"]],
            "rule_checks": [_rule_description(r, lang, qs) for r in failing.itertuples()],
        }
    )
    return {
        "note": t(
            "dq_scores_note",
            lang,
            start=fmt_date(start),
            end=fmt_date(end),
            tolerance=f"{float(qs.get('score_tolerance', 0.1)):.0%}",
            green=f"{qs.get('green_at', 95):g}",
            amber=f"{qs.get('amber_at', 85):g}",
        ),
        "dimensions": translate(pd.DataFrame(rows).set_index("dimension"), lang),
        "by_table": by_table,
        "rules": translate(table, lang) if len(table) else None,
    }


def reconciliation_view(a: DealerAnalysis, lang: str) -> dict[str, Any]:
    """The visitor log against the DMS: ``heading`` (with the log's window), ``note``, ``summary`` (arrivals,
    matched, unregistered, phantom visits ... with the registration rate) and ``consultants``
    (the same per sales consultant, by name)."""
    rec = a.reconciliation
    log = a.dealer.tables.get("visitor_log", pd.DataFrame(columns=["at"]))
    start, end = date_span(log["at"]) if len(log) else (None, None)
    s = rec.summary()
    summary = pd.DataFrame(
        {
            "item": [label(k, lang) for k in s.index],
            "value": [
                f"{float(v):.1%}" if str(k).endswith("_rate") else f"{float(v):,.0f}"
                for k, v in s.items()
            ],
        }
    )
    pc = rec.per_consultant
    names = pc["consultant_name"].where(pc["consultant_name"].notna(), pc["staff_id"])
    consultants = pd.DataFrame(
        {
            "consultant": [str(x) for x in names],
            **{c: [f"{int(v):,}" for v in pc[c]] for c in ("arrivals", "matched", "unregistered")},
            "not_recorded": [f"{int(v):,}" for v in pc["not_recorded"]],
            "registration_rate": [fmt_pct(v) for v in pc["registration_rate"]],
            **{
                c: [f"{int(v):,}" for v in pc[c]] for c in ("dms_visits", "phantom", "unverifiable")
            },
            "phantom_rate": [fmt_pct(v) for v in pc["phantom_rate"]],
        }
    )
    return {
        "heading": t("recon", lang, start=fmt_date(start), end=fmt_date(end)),
        "note": t("dq_recon_note", lang),
        "summary": translate(summary, lang),
        "consultants": translate(consultants, lang),
    }


def _boundary_kind(rule: str) -> str:
    """The scorecard rule of a validation rule that quarantined a row."""
    if rule.startswith("foreign_key"):
        return "has_parent"
    if rule.startswith("chronology"):
        return "chronology"
    return "not_after_as_of" if rule == "after_as_of" else "row_rules"


def load_view(a: DealerAnalysis, lang: str) -> dict[str, Any]:
    """Rows read, kept and rejected on import per table (``tables``; ``rejected``: the total)
    and the rejected rows per table and rule (``by_rule``, None when none was rejected)."""
    d = a.dealer
    summary = d.summary()
    tables = pd.DataFrame(
        {
            "table": [label("table." + x, lang) for x in summary["table"]],
            "rows_in": [f"{int(v):,}" for v in summary["rows_in"]],
            "kept": [f"{int(v):,}" for v in summary["kept"]],
            "quarantined": [f"{int(v):,}" for v in summary["quarantined"]],
        }
    ).set_index("table")
    q = d.quarantine
    by_rule = None
    if q is not None and len(q):
        q = q.assign(kind=[_boundary_kind(str(r)) for r in q["rule"]])
        counts = q.groupby(["table", "kind"])["row_id"].nunique().reset_index()
        by_rule = translate(
            pd.DataFrame(
                {
                    "table": [label("table." + x, lang) for x in counts["table"]],
                    "rule": [label("rule." + x, lang) for x in counts["kind"]],
                    "quarantined": [f"{int(v):,}" for v in counts["row_id"]],
                }
            ),
            lang,
        )
    return {
        "tables": translate(tables, lang),
        "rejected": int(summary["quarantined"].sum()),
        "by_rule": by_rule,
    }


def _owner_namer(a: DealerAnalysis, lang: str) -> Any:
    """A fix-list owner's name: the staff member's, else the role's (``crm``, ``reception``)."""
    names = a.staff_names()

    def owner(o: Any) -> str:
        o = str(o)
        return names[o] if o in names else label(o, lang)

    return owner


def fix_owners_view(a: DealerAnalysis, lang: str) -> pd.DataFrame:
    """Records of the fix list per owner (the report's data-quality section)."""
    per_owner = a.fix_list().groupby("owner").size()
    owner = _owner_namer(a, lang)
    table = pd.DataFrame(
        {
            "owner_role": [owner(o) for o in per_owner.index],
            "records": [f"{v:,}" for v in per_owner.to_numpy()],
        }
    )
    return translate(table, lang)


def named_fix_list(fixes: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The fix list as readers see it (the report page, the workbook): action and note in
    ``lang`` (:func:`~crm_analytics.metrics.quality.fix_list_in`), the issue and the table by
    their names in ``lang``, not their codes."""
    out = fix_list_in(fixes, lang)
    out["issue"] = [label("issue." + str(x), lang) for x in out["issue"]]
    out["table"] = [label("table." + str(x), lang) for x in out["table"]]
    return out


def fix_list_view(a: DealerAnalysis, lang: str, *, shown: int = 30) -> dict[str, Any]:
    """The fix list (:meth:`DealerAnalysis.fix_list`, masked): ``note``, ``link`` (to the
    run's fix-list workbook, an HTML fragment), ``by_owner`` (records per owner and issue, a
    total last) and ``recent`` (the ``shown`` most recent records: owner, issue, what to do,
    record, date)."""
    fixes = a.fix_list()
    owner = _owner_namer(a, lang)
    as_of = fmt_date(a.dealer.as_of)
    if not len(fixes):
        return {"note": t("dq_fixes_none", lang), "link": "", "by_owner": None, "recent": None}
    counts = pd.crosstab(fixes["owner"].astype(str), fixes["issue"].astype(str))
    counts = counts[counts.sum().sort_values(ascending=False).index]
    counts["total"] = counts.sum(axis=1)
    by_owner = pd.DataFrame({"fix_owner": [owner(o) for o in counts.index]})
    for c in counts.columns:
        key = "total" if c == "total" else "issue." + c
        by_owner[label(key, lang)] = [f"{int(v):,}" for v in counts[c]]
    recent = named_fix_list(fixes, lang).sort_values("at", ascending=False, kind="stable")
    recent = recent.head(shown)
    table = pd.DataFrame(
        {
            "fix_owner": [owner(o) for o in recent["owner"]],
            "issue": recent["issue"].tolist(),
            "fix_action": [
                issue if pd.isna(a) else str(a)
                for a, issue in zip(recent["action"], recent["issue"], strict=True)
            ],
            "record_id": [str(x) for x in recent["record_id"]],
            "record_date": [fmt_date(x) for x in recent["at"]],
        }
    )
    link = html.escape(t("idx_fix_list", lang))
    return {
        "note": t("dq_fixes_note", lang, n=f"{len(fixes):,}", as_of=as_of, shown=len(table)),
        "link": f'<p><a href="{FIX_LIST_FILE}">{link}</a></p>',
        "by_owner": translate(by_owner, lang),
        "recent": translate(table, lang),
    }
