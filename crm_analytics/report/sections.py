"""The consultant's report, section by section, as display-ready tables and sentences.

Each function takes a :class:`~crm_analytics.report.analysis.DealerAnalysis` (numbers computed
once) and a language, and returns what the section shows: tables whose headers, index and
key values are the glossary's names (:mod:`crm_analytics.report.text`), numbers written in
their unit (rates in %, changes of rates in percentage points, money in yuan, dates as dates),
and sentences that state each number's window. Nothing here computes a dealer-level artefact.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from crm_analytics.actions.call_lists import REASONS
from crm_analytics.report.analysis import DealerAnalysis
from crm_analytics.report.display import show_heading, show_text, status_text
from crm_analytics.report.headline import LOWER_IS_BETTER
from crm_analytics.report.text import (
    KPI_UNITS,
    fmt_date,
    fmt_pp,
    fmt_value,
    format_yuan,
    label,
    t,
    why,
)

__all__ = [
    "SECTIONS",
    "action_lists",
    "show_missing",
    "show_section",
    "diagnosis_blocks",
    "fmt_change",
    "fmt_level",
    "kpi_status",
    "kpi_table",
    "persona_table",
    "rule_text",
    "rag",
    "summary_items",
    "translate",
    "tree_table",
]

#: The report's sections in the deck's order: (anchor, TEXT key of the heading).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "summary"),
    ("kpis", "kpis"),
    ("quality", "quality_cards"),
    ("funnel", "kpi_tree"),
    ("diagnosis", "diagnosis"),
    ("profit", "profit"),
    ("predictability", "predictability"),
    ("lifecycle", "lifecycle"),
    ("clv", "clv"),
    ("churn", "churn"),
    ("leads", "leads_section"),
    ("media", "media"),
    ("lists", "lists"),
    ("satisfaction", "satisfaction"),
    ("personas", "personas"),
    ("previous", "previous"),
)

#: Headline KPI -> the call list that works on it (None: a point-of-sale action) and the role
#: that owns the action.
KPI_ACTIONS: dict[str, tuple[str | None, str]] = {
    "visit_rate": ("open_h_a_leads", "sales_consultant"),
    "visit_to_order_rate": ("defeated_reactivation", "sales_consultant"),
    "test_drive_rate": (None, "sales_manager"),
    "finance_penetration": (None, "f_and_i_manager"),
    "insurance_penetration": (None, "f_and_i_manager"),
    "extended_warranty_penetration": ("warranty_end", "service_advisor"),
    "trade_in_penetration": ("trade_in", "sales_consultant"),
    "accessories_per_car": (None, "sales_manager"),
    "service_retention": ("dormant_activation", "service_advisor"),
    "insurance_renewal_rate": ("insurance_renewal", "service_advisor"),
}
#: Headline KPI -> the funnel stage whose diagnosis explains it.
KPI_STAGE: dict[str, str] = {"visit_rate": "visit_rate", "visit_to_order_rate": "order_rate"}
_AMBER_PP = 0.05
_AMBER_REL = 0.10


def show_section(anchor: str, lang: str, as_of: Any) -> None:
    """Display a section's heading with its anchor (the table of contents links to it)."""
    show_heading(t(dict(SECTIONS)[anchor], lang, as_of=fmt_date(as_of)), anchor=anchor)


def show_missing(a: DealerAnalysis, name: str, lang: str) -> bool:
    """Say why a section's numbers are missing (returns True when they are)."""
    if name in a.sections:
        return False
    show_text(t("not_available", lang, why=why(a.notes.get(name, ""), lang)), muted=True)
    return True


def translate(frame: pd.DataFrame, lang: str, *, values: tuple[str, ...] = ()) -> pd.DataFrame:
    """``frame`` with its headers, index and the ``values`` columns' entries as glossary names."""
    out = frame.copy()
    for c in values:
        if c in out.columns:
            out[c] = [label(v, lang) if isinstance(v, str) else v for v in out[c]]
    out.index = [label(i, lang) if isinstance(i, str) else i for i in out.index]
    out.index.name = None
    out.columns = [label(c, lang) for c in out.columns]
    return out


def rag(kpi: str, actual: Any, target: Any) -> str:
    """``green`` at or better than target, ``amber`` within 5 pp (10 % for amounts), else
    ``red``; ``""`` without a target or a value."""
    if actual is None or target is None:
        return ""
    a, tg = float(actual), float(target)
    if not (math.isfinite(a) and math.isfinite(tg)):
        return ""
    lower = kpi in LOWER_IS_BETTER or kpi in ("order_cycle_days", "order_to_delivery_days")
    lower = lower or kpi == "order_cancellation_rate"
    short = (a - tg) if lower else (tg - a)
    if short <= 0:
        return "green"
    tol = _AMBER_REL * abs(tg) if KPI_UNITS.get(kpi) else _AMBER_PP
    return "amber" if short <= tol else "red"


def kpi_status(kpi: str, actual: Any, target: Any, lang: str) -> str:
    """The table text of :func:`rag` (``● green`` / ``● 绿``)."""
    s = rag(kpi, actual, target)
    return status_text(s, label(s, lang)) if s else "–"


def kpi_table(kpis: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The headline KPIs (:func:`crm_analytics.report.headline.kpi_table`) in their units,
    with the change in percentage points and the status against target."""
    rows = []
    for k, r in kpis.iterrows():
        rows.append(
            {
                "kpi": label(k, lang),
                "actual": fmt_value(k, r["actual"], lang),
                "target": fmt_value(k, r["target"], lang),
                "status": kpi_status(k, r["actual"], r["target"], lang),
                "peer": fmt_value(k, r["peer"], lang),
                "previous": fmt_value(k, r["previous"], lang),
                "change": fmt_pp(k, r["change"], lang),
            }
        )
    return translate(pd.DataFrame(rows).set_index("kpi"), lang)


def _window(start: Any, end: Any, lang: str) -> str:
    sep = " 至 " if lang == "zh" else " to "
    return f"{fmt_date(start)}{sep}{fmt_date(end)}"


def fmt_change(kpi: str, v: Any, lang: str) -> str:
    """A change between two periods: rates in percentage points, counts per month."""
    if kpi.endswith("_count") or kpi == "open_leads":
        if v is None or not math.isfinite(float(v)):
            return "–"
        return f"{float(v):+,.1f}" + (" / month" if lang == "en" else "/月")
    return fmt_pp(kpi, v, lang)


def fmt_level(kpi: str, v: Any, lang: str) -> str:
    """A KPI's level in the period comparison: counts per month, else :func:`fmt_value`."""
    if kpi.endswith("_count") or kpi == "open_leads":
        if v is None or not math.isfinite(float(v)):
            return "–"
        return f"{float(v):,.1f}" + (" / month" if lang == "en" else "/月")
    return fmt_value(kpi, v, lang)


_TOP = re.compile(r"([A-Za-z0-9_]+) \((\d+)%\)")
_PERSONA_VOCAB = {
    "top_use": "use.",
    "top_industry": "industry.",
    "top_hobbies": "hobby.",
    "top_media_seen": "media.",
    "top_model": "",
}


def persona_table(profile: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Each persona's size, age, share of men and most frequent answers, in ``lang``
    (:func:`crm_analytics.models.personas.describe_personas`)."""
    sep = "、" if lang == "zh" else ", "
    rows = []
    for r in profile.itertuples(index=False):
        row = {
            "persona": t("persona_name", lang, i=int(r.persona) + 1),
            "size": f"{int(r.size):,}",
            "share": f"{r.share:.0%}",
            "mean_age": f"{r.mean_age:.0f}",
            "male_share": f"{r.male_share:.0%}",
        }
        for col, prefix in _PERSONA_VOCAB.items():
            found = _TOP.findall(str(getattr(r, col)))
            row[col] = sep.join(f"{label(prefix + v, lang)} {p}%" for v, p in found) or "–"
        rows.append(row)
    return translate(pd.DataFrame(rows).set_index("persona"), lang)


def rule_text(text: str, settings: Mapping[str, Any] | None = None) -> str:
    """A quality rule's description for readers: a backticked setting name (``followup_days``)
    becomes its value from ``settings`` (the quality section), else words (``followup days``)."""
    settings = settings or {}

    def value(m: re.Match[str]) -> str:
        v = settings.get(m.group(1))
        return f"{v:g}" if isinstance(v, (int, float)) else m.group(1).replace("_", " ")

    return re.sub(r"`([A-Za-z_]+)`", value, str(text))


def tree_table(a: DealerAnalysis, lang: str) -> pd.DataFrame:
    """The showroom KPI tree: value, 95 % interval, target, status and the cohort of each rate
    (maturing KPIs on their matured cohort, marked ``*``)."""
    tree = a.tree
    tree = tree.loc[tree["unit"] != "leads"]
    targets = a.settings.funnel_targets()
    shifted = a.maturity.get("shifted", False)
    mature = set(a.maturity.get("kpis", ())) if shifted else set()
    rows = []
    for r in tree.itertuples(index=False):
        spec = targets.get(r.kpi)
        tg = spec["target"] if isinstance(spec, Mapping) else spec
        lo, hi = fmt_value(r.kpi, r.ci_low, lang), fmt_value(r.kpi, r.ci_high, lang)
        rows.append(
            {
                "kpi": label(r.kpi, lang) + (" *" if r.kpi in mature else ""),
                "value": fmt_value(r.kpi, r.value, lang),
                "interval": "–" if lo == "–" else f"{lo} – {hi}",
                "target": fmt_value(r.kpi, tg, lang),
                "status": kpi_status(r.kpi, r.value, tg, lang),
                "window": _window(r.window_start, r.window_end, lang),
            }
        )
    return translate(pd.DataFrame(rows).set_index("kpi"), lang)


def maturity_note(a: DealerAnalysis, lang: str) -> str:
    """The sentence under the KPI tree: the cohorts and the immature shares."""
    (start, end), m = a.period, a.maturity
    mstart, mend = m.get("window", (start, end))
    share = m.get("immature_share", {})
    return t(
        "kpi_tree_note",
        lang,
        start=fmt_date(start),
        end=fmt_date(end),
        mstart=fmt_date(mstart),
        mend=fmt_date(mend),
        days=m.get("days", 0),
        lead_share=f"{share.get('leads', 0.0):.0%}",
        order_share=f"{share.get('orders', 0.0):.0%}",
    )


def _inline(text: str, lang: str) -> str:
    """A glossary name inside an English sentence: ``Target`` -> ``target`` (acronyms and
    Chinese unchanged)."""
    if lang != "en" or len(text) < 2 or not text[1].islower():
        return text
    return text[0].lower() + text[1:]


def _cause_evidence(r: Any, lang: str) -> str:
    if r.verdict == "no data" or not isinstance(r.cause_kpi, str):
        return label("no data", lang)
    k = r.cause_kpi
    parts = [fmt_value(k, r.cause_value, lang)]
    if pd.notna(r.cause_target):
        parts.append(f"{_inline(label('target', lang), lang)} {fmt_value(k, r.cause_target, lang)}")
    if pd.notna(r.cause_peer_median):
        parts.append(
            f"{_inline(label('peer', lang), lang)} {fmt_value(k, r.cause_peer_median, lang)}"
        )
    return ", ".join(parts) if lang == "en" else ",".join(parts)


def diagnosis_blocks(a: DealerAnalysis, lang: str) -> list[tuple[str, str, pd.DataFrame]]:
    """One block per flagged stage, in rank order: ``(stage key, sentence, causes table)``.
    The sentence states the stage's value, target, cohort and why it is flagged; the table
    lists every candidate cause with its verdict (supports / rules out / inconclusive / not
    measurable) and the numbers behind it."""
    d = a.diagnosis
    blocks = []
    for stage in a.flagged_stages():
        rows = d.loc[d["stage"] == stage]
        first = rows.iloc[0]
        why = []
        if pd.notna(first["stage_target"]) and first["flagged"]:
            why.append(
                ("below target beyond sampling error" if lang == "en" else "低于目标(超出抽样误差)")
                if first["stage_ci_high"] < first["stage_target"]
                or first["stage_ci_low"] > first["stage_target"]
                else ("low among peers" if lang == "en" else "在同行中偏低")
            )
        if pd.notna(first["orders_at_stake"]):
            n = f"{first['orders_at_stake']:,.1f}"
            why.append(f"{n} orders a year at stake" if lang == "en" else f"每年可增订单约 {n} 台")
        sentence = t(
            "flagged_stage",
            lang,
            stage=label(stage, lang),
            value=fmt_value(stage, first["stage_value"], lang),
            target=fmt_value(stage, first["stage_target"], lang),
            window=_window(first["window_start"], first["window_end"], lang),
            why=("; " if lang == "en" else ";").join(why) or "–",
        )
        causes = pd.DataFrame(
            {
                "cause": [
                    label(r.cause, lang)
                    + (f" ({label(r.channel, lang)})" if isinstance(r.channel, str) else "")
                    for r in rows.itertuples(index=False)
                ],
                "verdict": [label(v, lang) for v in rows["verdict"]],
                "evidence": [_cause_evidence(r, lang) for r in rows.itertuples(index=False)],
            }
        )
        blocks.append((stage, sentence, translate(causes, lang)))
    return blocks


def _list_facts(a: DealerAnalysis, reason: str) -> dict[str, Any]:
    """Size, expected margin, owner role and due date of one call list (or of the open H and
    A leads)."""
    if reason == "open_h_a_leads":
        scores = a.lead_scores
        if "grade" in scores:
            n, graded = int(scores["grade"].isin(["H", "A"]).sum()), True
        else:  # no network lead model in this run: every open lead of the period's cohort
            tree = a.tree.set_index("kpi")["value"] if len(a.tree) else {}
            n, graded = int(tree.get("open_leads", 0) or 0), False
        return {
            "n": n,
            "gain": math.nan,
            "owner": "sales_consultant",
            "due": None,
            "graded": graded,
        }
    c = a.calls.loc[a.calls["reason"] == reason]
    if c.empty:
        return {"n": 0, "gain": 0.0, "owner": "", "due": None}
    return {
        "n": len(c),
        "gain": float(c["expected_margin"].sum()),
        "owner": str(c["owner_role"].mode().iloc[0]),
        "due": c["due_date"].quantile(0.9) if c["due_date"].notna().any() else None,
    }


def _churn_evidence(a: DealerAnalysis, lang: str) -> str:
    """The churn model's most frequent reason among the high-risk customers, with its count."""
    sc = a.churn_scores
    if sc.empty or "reason_1" not in sc:
        return ""
    high = sc.loc[sc["risk_band"] == "high", "reason_1"].dropna()
    if high.empty:
        return ""
    top, n = high.value_counts().index[0], int(high.value_counts().iloc[0])
    if lang == "zh":
        return f"{len(high):,} 位高风险客户中 {n:,} 位的主要原因是「{label('churn.' + top, lang)}」"
    return f"{label('churn.' + top, lang)} is the main reason for {n:,} of {len(high):,} high-risk customers"


def _stage_evidence(a: DealerAnalysis, kpi: str, lang: str) -> str:
    if kpi == "service_retention":
        return _churn_evidence(a, lang)
    stage = KPI_STAGE.get(kpi)
    d = a.diagnosis
    if stage is None or d.empty:
        return ""
    rows = d.loc[d["stage"] == stage]
    if rows.empty or not bool(rows["flagged"].iloc[0]):
        return ""
    sup = rows.loc[rows["verdict"] == "supports"]
    if sup.empty:
        first = rows.iloc[0]
        value = fmt_value(stage, first["stage_value"], lang)
        if lang == "zh":
            return f"{label(stage, lang)} {value} 未达标;CRM数据中没有得到支持的原因,需现场检查(见诊断)"
        return (
            f"{label(stage, lang)} is {value}, below target; no cause measured in the CRM data "
            "supports it, so check on site (see the diagnosis)"
        )
    parts = []
    for r in sup.head(3).itertuples(index=False):
        ch = f" ({label(r.channel, lang)})" if isinstance(r.channel, str) else ""
        parts.append(f"{label(r.cause, lang)}{ch}: {_cause_evidence(r, lang)}")
    return ("; " if lang == "en" else ";").join(parts)


def summary_items(
    a: DealerAnalysis, gaps: pd.DataFrame, lang: str, *, n: int = 5
) -> list[dict[str, Any]]:
    """The biggest gaps in yuan (one per KPI, its larger gap), each with its evidence, the
    action (list, customers, owner, due date) and the expected gain.

    Returns a list of dicts with ``kpi``, ``gap_yuan``, ``line`` (the gap sentence), ``cause``
    and ``action`` (sentences) and ``expected_gain`` (yuan: the list's expected margin, or the
    gap itself when no list works on the KPI).
    """
    (start, end) = a.period
    window = _window(start, end, lang)
    items = []
    for i, r in enumerate(gaps.drop_duplicates("kpi").head(n).itertuples(index=False), 1):
        reason, owner = KPI_ACTIONS.get(r.kpi, (None, "sales_manager"))
        line = t(
            "gap_line",
            lang,
            i=i,
            kpi=label(r.kpi, lang),
            actual=fmt_value(r.kpi, r.actual, lang),
            ref=label("target" if r.against == "target" else "peer", lang).lower(),
            reference=fmt_value(r.kpi, r.reference, lang),
            window=window,
            money=format_yuan(r.gap_yuan, lang),
        )
        if reason is None:
            action, gain = t("no_list", lang, owner=_inline(label(owner, lang), lang)), r.gap_yuan
        else:
            f = _list_facts(a, reason)
            due = (
                fmt_date(f["due"])
                if f["due"] is not None
                else fmt_date(pd.Timestamp(a.dealer.as_of) + pd.Timedelta(days=14))
            )
            if reason == "open_h_a_leads":
                key = "h_a_action" if f["graded"] else "open_leads_action"
                action, gain = t(key, lang, n=f"{f['n']:,}", due=due), r.gap_yuan
            else:
                action = t(
                    "list_action",
                    lang,
                    list=_inline(label(reason, lang), lang),
                    n=f"{f['n']:,}",
                    owner=_inline(label(f["owner"] or owner, lang), lang),
                    due=due,
                    gain=format_yuan(f["gain"], lang),
                )
                gain = f["gain"]
        items.append(
            {
                "kpi": r.kpi,
                "gap_yuan": float(r.gap_yuan),
                "line": line,
                "cause": _stage_evidence(a, r.kpi, lang),
                "action": action,
                "expected_gain": float(gain),
            }
        )
    return items


def action_lists(a: DealerAnalysis, lang: str) -> pd.DataFrame:
    """Every call list: customers, expected margin, owner role, due by (90th percentile of the
    rows' due dates)."""
    rows = []
    for reason in REASONS:
        f = _list_facts(a, reason)
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
