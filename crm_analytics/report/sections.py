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
from pathlib import Path
from typing import Any

import pandas as pd

from crm_analytics.metrics.pacing import OPEN_WEEKDAYS
from crm_analytics.report import headline, plots
from crm_analytics.report.analysis import DealerAnalysis
from crm_analytics.report.coaching import ACTION_PLAN_FILE, next_action_plan, review_action_plan
from crm_analytics.report.display import show_heading, show_table, show_text, status_text
from crm_analytics.report.text import (
    GLOSSARY,
    KPI_UNITS,
    date_span,
    fmt_date,
    fmt_num,
    fmt_pct,
    fmt_pp,
    fmt_value,
    fmt_window,
    format_yuan,
    label,
    t,
    why,
)

__all__ = [
    "SECTIONS",
    "action_plan_view",
    "next_plan_view",
    "external_lists_view",
    "external_lists_lines",
    "gaps_view",
    "high_risk_reasons",
    "profit_table",
    "aftersales_view",
    "complaints_view",
    "pacing_view",
    "penetration_view",
    "speed_to_lead_view",
    "show_frame",
    "show_missing",
    "show_states",
    "show_section",
    "diagnosis_blocks",
    "fmt_change",
    "fmt_level",
    "kpi_status",
    "kpi_table",
    "persona_crosstab_view",
    "persona_table",
    "rule_text",
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
    ("aftersales", "aftersales_section"),
    ("predictability", "predictability"),
    ("lifecycle", "lifecycle"),
    ("clv", "clv"),
    ("churn", "churn"),
    ("leads", "leads_section"),
    ("speed", "speed_section"),
    ("media", "media"),
    ("accounts", "ka_section"),
    ("lists", "lists"),
    ("satisfaction", "satisfaction"),
    ("complaints", "complaints_section"),
    ("contact", "contact_section"),
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


def show_section(anchor: str, lang: str, as_of: Any) -> None:
    """Display a section's heading with its anchor (the table of contents links to it)."""
    show_heading(t(dict(SECTIONS)[anchor], lang, as_of=fmt_date(as_of)), anchor=anchor)


def show_missing(a: DealerAnalysis, name: str, lang: str) -> bool:
    """Say why a section's numbers are missing (returns True when they are)."""
    if name in a.sections:
        return False
    show_text(t("not_available", lang, why=why(a.notes.get(name, ""), lang)), muted=True)
    return True


def show_frame(a: DealerAnalysis, name: str, view: Any, lang: str) -> None:
    """Show the analysis's section ``name`` (a table) through ``view(frame, lang)``; say why
    when the section is missing, or that the data are too few when it is empty."""
    if show_missing(a, name, lang):
        return
    frame = a.sections[name]
    if len(frame):
        show_table(view(frame, lang))
    else:
        show_text(t("not_available", lang, why=t("insufficient", lang)), muted=True)


def show_states(states: pd.DataFrame, lang: str, chart_lang: str) -> None:
    """Customers per lifecycle state: the table (count, share) and the bar chart (labels in
    ``chart_lang``, English when no CJK font is installed)."""
    show_table(
        translate(
            pd.DataFrame(
                {
                    "state": [label(x, lang) for x in states["state"]],
                    "customers": [f"{v:,}" for v in states["customers"]],
                    "share": [f"{v:.1%}" for v in states["share"]],
                }
            ).set_index("state"),
            lang,
        )
    )
    plots.plot_bars(states.set_index("state")["customers"], title="states_title", lang=chart_lang)


def translate(
    frame: pd.DataFrame, lang: str, *, values: tuple[str, ...] = (), index: bool = True
) -> pd.DataFrame:
    """``frame`` with its headers, index (unless ``index`` is False: row names that are data,
    such as a company's name) and the ``values`` columns' entries as glossary names."""
    out = frame.copy()
    for c in values:
        if c in out.columns:
            out[c] = [label(v, lang) if isinstance(v, str) else v for v in out[c]]
    if index:
        out.index = [label(i, lang) if isinstance(i, str) else i for i in out.index]
    out.index.name = None
    out.columns = [label(c, lang) for c in out.columns]
    return out


def kpi_status(kpi: str, actual: Any, target: Any, lang: str) -> str:
    """The table text (``● green`` / ``● 绿``) of the package's one red/amber/green rule,
    :func:`crm_analytics.report.headline.kpi_status` (the index colours with it too)."""
    s = headline.kpi_status(kpi, actual, target)
    return status_text(s, label(s, lang)) if s else "–"


def kpis_note(lang: str, window: Mapping[str, str], benchmark: Mapping[str, Any] | None) -> str:
    """The note above the KPI table: the period, the units and the status rule, and (with a
    peer benchmark, as :func:`~crm_analytics.report.headline.peers_of` gives it) which dealers
    the peer median is taken over: the run's other dealers."""
    note = t("kpis_note", lang, **window)
    if benchmark:
        note += " " + t("peer_median_note", lang, n=int(benchmark["peers"]))
    return note


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
    """Each persona's size, age, share of men and distinctive answers, in ``lang``
    (:func:`crm_analytics.models.personas.describe_personas`: the answers more frequent in the
    persona than among all customers), each cell's answers by their share of the persona,
    largest first."""
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
            found = sorted(_TOP.findall(str(getattr(r, col))), key=lambda vp: -int(vp[1]))
            row[col] = sep.join(f"{label(prefix + v, lang)} {p}%" for v, p in found) or "–"
        rows.append(row)
    return translate(pd.DataFrame(rows).set_index("persona"), lang)


def persona_crosstab_view(cross: pd.DataFrame, by: str, lang: str) -> pd.DataFrame:
    """Each persona's customers by ``by`` (``channel`` or ``model``) as shares of the persona
    (the personas section's ``crosstab``, :func:`crm_analytics.models.personas.persona_crosstab`),
    personas and values in ``lang``; shares as fractions, for a percentage formatter."""
    table = cross.groupby(["persona", by])["buyers"].sum().unstack(by, fill_value=0)
    table = table.div(table.sum(axis=1), axis=0)
    table.index = [t("persona_name", lang, i=int(p) + 1) for p in table.index]
    table.columns = [label(c, lang) for c in table.columns]
    return table


def rule_text(text: str, settings: Mapping[str, Any] | None = None) -> str:
    """A quality rule's description for readers: a backticked setting name (``followup_days``)
    becomes its value from ``settings`` (the quality section), else words (``followup days``)."""
    settings = settings or {}

    def value(m: re.Match[str]) -> str:
        v = settings.get(m.group(1))
        return f"{v:g}" if isinstance(v, (int, float)) else m.group(1).replace("_", " ")

    return re.sub(r"`([A-Za-z_]+)`", value, str(text))


def tree_table(a: DealerAnalysis, lang: str, *, whole: bool = False) -> pd.DataFrame:
    """The showroom KPI tree: value, 95 % interval, target, status and the cohort of each rate
    (maturing KPIs on their matured cohort, marked ``*``). ``whole``: the volumes too, each KPI
    with the KPI it feeds into (the funnel page); else the rates (the report)."""
    tree = a.tree if whole else a.tree.loc[a.tree["unit"] != "leads"]
    targets = a.settings.funnel_targets()
    mature = set(a.maturity.get("kpis", ())) if a.maturity.get("shifted", False) else set()
    rows = []
    for r in tree.itertuples(index=False):
        spec = targets.get(r.kpi)
        tg = spec["target"] if isinstance(spec, Mapping) else spec
        lo, hi = fmt_value(r.kpi, r.ci_low, lang), fmt_value(r.kpi, r.ci_high, lang)
        row = {"kpi": label(r.kpi, lang) + (" *" if r.kpi in mature else "")}
        if whole:
            row["parent"] = label(r.parent, lang) if isinstance(r.parent, str) else "–"
        row |= {
            "value": fmt_value(r.kpi, r.value, lang),
            "interval": "–" if lo == "–" else f"{lo} – {hi}",
            "target": fmt_value(r.kpi, tg, lang),
            "status": kpi_status(r.kpi, r.value, tg, lang),
            "window": fmt_window(r.window_start, r.window_end, lang),
        }
        rows.append(row)
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
            window=fmt_window(first["window_start"], first["window_end"], lang),
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


def list_facts(a: DealerAnalysis, reason: str) -> dict[str, Any]:
    """Size, expected margin, owner role and due date of one call list (or of the open H and
    A leads)."""
    if reason == "open_h_a_leads":
        return {**_open_lead_facts(a), "gain": math.nan, "owner": "sales_consultant", "due": None}
    c = a.calls.loc[a.calls["reason"] == reason]
    if c.empty:
        return {"n": 0, "gain": 0.0, "owner": "", "due": None}
    return {
        "n": len(c),
        "gain": float(c["expected_margin"].sum()),
        "owner": str(c["owner_role"].mode().iloc[0]),
        "due": c["due_date"].quantile(0.9) if c["due_date"].notna().any() else None,
    }


def _open_lead_facts(a: DealerAnalysis) -> dict[str, Any]:
    """The open leads to invite first: the H and A leads, else (no open lead graded H or A)
    the B leads, else every open lead; without a lead model in the run, the open leads of the
    period's cohort; no open lead at all: nothing to invite. ``n`` leads, ``action`` the
    sentence key naming which."""
    scores = a.lead_scores
    if "grade" not in scores:
        tree = a.tree.set_index("kpi")["value"] if len(a.tree) else {}
        n = int(tree.get("open_leads", 0) or 0)
        return {"n": n, "action": "open_leads_action" if n else "no_open_leads_action"}
    grades = scores["grade"]
    for chosen, action in ((["H", "A"], "h_a_action"), (["B"], "b_leads_action")):
        n = int(grades.isin(chosen).sum())
        if n:
            return {"n": n, "action": action}
    return {"n": len(grades), "action": "c_leads_action" if len(grades) else "no_open_leads_action"}


def high_risk_reasons(a: DealerAnalysis) -> tuple[int, pd.Series, pd.Series]:
    """The high-risk customers' reasons: their number, the counts of their main reasons and
    of every reason among their top three (a customer's reasons are distinct groups, so each
    counts a customer once), commonest first."""
    sc = a.churn_scores
    if sc.empty or "reason_1" not in sc:
        return 0, pd.Series(dtype=int), pd.Series(dtype=int)
    high = sc.loc[sc["risk_band"] == "high"]
    cols = [c for c in ("reason_1", "reason_2", "reason_3") if c in high]
    return len(high), high["reason_1"].value_counts(), high[cols].stack().value_counts()


def _churn_evidence(a: DealerAnalysis, lang: str) -> str:
    """The churn model's most frequent main reason among the high-risk customers, with its
    count, and the commonest other reason among their top three."""
    n_high, main, named = high_risk_reasons(a)
    if main.empty:
        return ""
    top, n = main.index[0], int(main.iloc[0])
    other = named.drop(index=top)
    text = t(
        "ev_churn_main", lang, reason=label("churn." + top, lang), n=f"{n:,}", n_high=f"{n_high:,}"
    )
    if len(other):
        reason = label("churn." + other.index[0], lang)
        text += t(
            "ev_churn_next",
            lang,
            reason=reason.lower() if lang == "en" else reason,
            n=f"{int(other.iloc[0]):,}",
        )
    return text


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
        return t("ev_stage_unexplained", lang, stage=label(stage, lang), value=value)
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
    and ``action`` (sentences), ``expected_gain`` (yuan: the list's expected margin, or the
    gap itself when no list works on the KPI), ``owner`` (role), ``due`` (the list's due date;
    None for an action at the point of sale), ``actual`` and ``reference`` (the KPI and the
    target or peer median its gap is priced against).
    """
    (start, end) = a.period
    window = fmt_window(start, end, lang)
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
        due_at = None
        if reason is None:
            action, gain = t("no_list", lang, owner=_inline(label(owner, lang), lang)), r.gap_yuan
        else:
            f = list_facts(a, reason)
            due_at = (
                f["due"]
                if f["due"] is not None
                else pd.Timestamp(a.dealer.as_of) + pd.Timedelta(days=14)
            )
            due = fmt_date(due_at)
            owner = f["owner"] or owner
            if reason == "open_h_a_leads":
                action, gain = t(f["action"], lang, n=f"{f['n']:,}", due=due), r.gap_yuan
            else:
                action = t(
                    "list_action",
                    lang,
                    list=_inline(label(reason, lang), lang),
                    n=f"{f['n']:,}",
                    owner=_inline(label(owner, lang), lang),
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
                "owner": owner,
                "due": due_at,
                "actual": float(r.actual),
                "reference": float(r.reference),
            }
        )
    return items


def profit_table(profit: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The deck's profit formula per line (contacts x penetration x unit margin, slides 14-21):
    penetration with its 95 % interval, target, gross profit and the gain at target
    (:func:`crm_analytics.metrics.penetration.profit_decomposition` with targets)."""
    return translate(
        pd.DataFrame(
            {
                "business": [
                    label("insurance_line" if b == "insurance" else b, lang)
                    for b in profit["business"]
                ],
                "line": [label(x, lang) for x in profit["line"]],
                "contacts": [fmt_num(v, ",.0f") for v in profit["contacts"]],
                "takers": [fmt_num(v, ",.0f") for v in profit["takers"]],
                "penetration": [fmt_num(v, ".1%") for v in profit["penetration"]],
                "interval": [
                    _pct_interval(lo, hi)
                    for lo, hi in zip(profit["ci_low"], profit["ci_high"], strict=True)
                ],
                "target": [fmt_num(v, ".1%") for v in profit["target"]],
                "unit_margin": [fmt_num(v, ",.0f") for v in profit["unit_margin"]],
                "gross_profit_col": [fmt_num(v, ",.0f") for v in profit["gross_profit"]],
                "what_if_gain": [fmt_num(v, ",.0f") for v in profit["what_if_gain"]],
            }
        ).set_index("business"),
        lang,
    )


def gaps_view(gaps: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Shortfalls against target and peer median priced in yuan for the period, largest first
    (:func:`crm_analytics.report.headline.gaps_in_yuan`)."""
    return translate(
        pd.DataFrame(
            {
                "kpi": [label(k, lang) for k in gaps["kpi"]],
                "against": [label(x, lang) for x in gaps["against"]],
                "actual": [
                    fmt_value(k, v, lang) for k, v in zip(gaps["kpi"], gaps["actual"], strict=True)
                ],
                "reference": [
                    fmt_value(k, v, lang)
                    for k, v in zip(gaps["kpi"], gaps["reference"], strict=True)
                ],
                "shortfall": [
                    fmt_pp(k, v, lang) for k, v in zip(gaps["kpi"], gaps["shortfall"], strict=True)
                ],
                "base": [fmt_num(v, ",.0f") for v in gaps["base"]],
                "unit_margin": [fmt_num(v, ",.0f") for v in gaps["unit_margin"]],
                "gap_yuan": [format_yuan(v, lang) for v in gaps["gap_yuan"]],
            }
        ).set_index("kpi"),
        lang,
    )


def action_plan_view(a: DealerAnalysis, lang: str) -> dict[str, Any]:
    """The review of the earlier coaching rounds' action plans
    (:func:`crm_analytics.report.coaching.review_action_plan`): ``heading``, ``note`` (the
    windows, the baseline's source, the verdict's rule), ``table`` (None when no item is due
    for review), ``empty`` (how to record a plan, when none is), ``later`` (the items agreed on
    or after the period's end; empty text when none)."""
    review = review_action_plan(a)
    (start, end), (cstart, cend) = a.period, a.comparison
    dealer, as_of = a.dealer_id, fmt_date(a.dealer.as_of)
    later = int(review.attrs.get("later", 0))
    out: dict[str, Any] = {
        "heading": t("plan_review", lang),
        "note": t(
            "plan_note",
            lang,
            dealer=dealer,
            start=fmt_date(start),
            end=fmt_date(end),
            cstart=fmt_date(cstart),
            cend=fmt_date(cend),
            as_of=as_of,
        ),
        "table": None,
        "empty": "" if len(review) or later else t("plan_none", lang, dealer=dealer),
        "later": t("plan_later", lang, n=later, end=fmt_date(end)) if later else "",
    }
    if review.empty:
        return out
    mark = {"recorded": "", "previous_round": " †"}
    frame = pd.DataFrame(
        {
            "coaching_round": [fmt_date(d) for d in review["round"]],
            "kpi": [label(k, lang) for k in review["kpi"]],
            "action": review["action"].to_list(),
            "owner_role": [label(o, lang) for o in review["owner"]],
            "due_date": [fmt_date(d) for d in review["due"]],
            "plan_status": [label("plan." + s, lang) for s in review["status"]],
            "plan_baseline": [
                fmt_value(r.kpi, r.baseline, lang) + mark[r.baseline_source]
                for r in review.itertuples(index=False)
            ],
            "value_after": [
                fmt_value(k, v, lang) for k, v in zip(review["kpi"], review["now"], strict=True)
            ],
            "plan_change": [
                _change_with_interval(r.kpi, r.change, r.ci_low, r.ci_high, lang)
                for r in review.itertuples(index=False)
            ],
            "target": [
                fmt_value(k, v, lang) for k, v in zip(review["kpi"], review["target"], strict=True)
            ],
            "overdue": [label("yes" if x else "no", lang) for x in review["overdue"]],
            "verdict": [label("plan." + v, lang) for v in review["verdict"]],
        }
    )
    out["table"] = translate(frame, lang)
    return out


def _change_with_interval(kpi: str, change: float, lo: float, hi: float, lang: str) -> str:
    """``+2.8 pp (−6.2 to +11.7)``: a change with its 95 % interval in the same unit."""
    text = fmt_pp(kpi, change, lang)
    if text == "–" or not (math.isfinite(lo) and math.isfinite(hi)):
        return text
    scale = 1.0 if KPI_UNITS.get(kpi) or kpi.endswith("_count") else 100.0
    sep = " 至 " if lang == "zh" else " to "
    inner = f"{scale * lo:+,.1f}{sep}{scale * hi:+,.1f}".replace("-", "−")
    return f"{text}({inner})" if lang == "zh" else f"{text} ({inner})"


def next_plan_view(a: DealerAnalysis, items: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    """The next round's proposed plan (:func:`crm_analytics.report.coaching.next_action_plan`
    of the summary ``items``): ``heading``, ``note``, ``table`` (None without a gap) and
    ``file``, the link to the plan's parameter file beside the report in a run (``""``
    outside a run)."""
    plan = next_action_plan(a, items)
    path = Path(a.run_dir) / a.dealer_id / ACTION_PLAN_FILE if a.run_dir else None
    out: dict[str, Any] = {
        "heading": t("plan_next", lang),
        "note": t("plan_next_note", lang, dealer=a.dealer_id, round=fmt_date(a.dealer.as_of)),
        "table": None,
        "file": ACTION_PLAN_FILE if path is not None and path.is_file() else "",
    }
    if plan:
        frame = pd.DataFrame(
            {
                "kpi": [label(p["kpi"], lang) for p in plan],
                "actual": [fmt_value(p["kpi"], p["baseline"], lang) for p in plan],
                "reference": [fmt_value(p["kpi"], p["target"], lang) for p in plan],
                "gap_yuan": [format_yuan(p["gap_yuan"], lang) for p in plan],
                "owner_role": [label(p["owner"], lang) for p in plan],
                "due_date": [p["due"] for p in plan],
            }
        )
        out["table"] = translate(frame, lang)
    return out


def external_lists_view(summary: pd.DataFrame, lang: str) -> dict[str, Any]:
    """The screened external lists (issue 17 item 3): ``heading``, ``note`` and ``table``, one
    row per list source, from
    :func:`crm_analytics.metrics.external_lists.external_list_summary` (its ``lists``
    attribute, when set, is the number of lists). Empty without a screened row."""
    if summary is None or not len(summary) or int(summary["rows"].sum()) == 0:
        return {}
    key = summary.columns[0]
    counts = ("invalid", "duplicate", "open_lead", "existing_customer", "new")
    frame = pd.DataFrame(
        {
            "list_source": [
                label(f"list.{v}", lang) if f"list.{v}" in GLOSSARY else str(v)
                for v in summary[key]
            ],
            "list_rows": [f"{int(v):,}" for v in summary["rows"]],
            **{f"list_{c}": [f"{int(v):,}" for v in summary[c]] for c in counts},
            "list_new_share": [fmt_num(v, ".1%") for v in summary["new_share"]],
            **{
                f"list_{c}": [f"{int(v):,}" for v in summary[c]]
                for c in ("leads", "visits", "orders")
            },
            "list_cost": [format_yuan(v, lang) for v in summary["cost"]],
            "list_cost_per_order": [format_yuan(v, lang) for v in summary["cost_per_order"]],
        }
    ).set_index("list_source")
    lists = summary.attrs.get("lists", len(summary))
    return {
        "heading": t("external_lists", lang),
        "note": t("external_lists_note", lang, lists=lists, rows=f"{int(summary['rows'].sum()):,}"),
        "table": translate(frame, lang),
    }


def external_lists_lines(ext: dict[str, Any], lang: str) -> list[str]:
    """The sentences under the external-lists table: how many new names went to the call
    list (and the workbook sheet that holds them), and which list files were not found."""
    lines = []
    if len(ext.get("calls", ())):
        lines.append(
            t(
                "external_lists_handover",
                lang,
                n=f"{len(ext['calls']):,}",
                sheet=t("wb_external_lists", lang),
            )
        )
    missing = ext.get("missing") or []
    if missing:
        sep = "、" if lang == "zh" else ", "
        sources = sep.join(label(f"list.{m['source']}", lang) for m in missing)
        lines.append(t("external_lists_missing", lang, n=len(missing), sources=sources))
    return lines


# ---------------------------------------------------------------------------------------------
# Speed to lead, complaints, after-sales by vehicle age, month-to-date pacing (issue 17)
# ---------------------------------------------------------------------------------------------


def _minutes(v: Any) -> str:
    return fmt_num(v, ",.1f")


def _pct_interval(lo: Any, hi: Any) -> str:
    a, b = fmt_pct(lo), fmt_pct(hi)
    return "–" if a == "–" else f"{a} – {b}"


def _band_name(band: str, lang: str) -> str:
    """``0-5 min`` / ``240+ min`` / ``1-2 y`` in ``lang``; ``none`` is no response."""
    if band == "none":
        return label("no_response", lang)
    if band.endswith(" min"):
        return band[:-4] + ("分钟" if lang == "zh" else " min")
    if band.endswith(" y"):
        return band[:-2] + ("年" if lang == "zh" else " years")
    return label(band, lang)


def speed_to_lead_view(a: DealerAnalysis, lang: str) -> dict[str, Any]:
    """The speed-to-lead section: ``distribution`` (first-response minutes per inbound
    channel), ``bands`` (lead-to-order rate by response band, 95 % intervals), ``effect``
    (the fast-against-slow sentence, or why it is missing) and the notes with their windows.
    Empty when the analysis has no speed-to-lead numbers."""
    stl = getattr(a, "speed_to_lead", None) or {}
    if "distribution" not in stl:
        return {}
    as_of = pd.Timestamp(a.dealer.as_of)
    leads = a.dealer.leads
    first, _ = date_span(leads["created_at"])
    days = 90  # metrics.speed_to_lead: a lead's outcome is known after min_age_days
    mature_end = as_of - pd.Timedelta(days=days)
    d = stl["distribution"]
    key = d.columns[0]
    dist = pd.DataFrame(
        {
            "channel": [
                label("all_inbound" if c == "all" else c, lang) for c in d[key].astype(str)
            ],
            "leads": [f"{v:,}" for v in d["leads"]],
            "responded": [f"{v:,}" for v in d["responded"]],
            "median_minutes": [_minutes(v) for v in d["median_minutes"]],
            "p90_minutes": [_minutes(v) for v in d["p90_minutes"]],
            **{
                c: [fmt_pct(v) for v in d[c]]
                for c in ("within_5_min", "within_15_min", "within_60_min")
                if c in d
            },
        }
    ).set_index("channel")
    b = stl["bands"]
    bands = pd.DataFrame(
        {
            "response_band": [_band_name(x, lang) for x in b["band"]],
            "leads": [f"{v:,}" for v in b["leads"]],
            "orders": [f"{v:,}" for v in b["orders"]],
            "conversion": [fmt_pct(v) for v in b["conversion"]],
            "interval": [
                _pct_interval(lo, hi) for lo, hi in zip(b["ci_low"], b["ci_high"], strict=True)
            ],
            "rate_ratio": [
                "–" if not math.isfinite(float(v)) else f"{float(v):.2f}×" for v in b["rate_ratio"]
            ],
        }
    ).set_index("response_band")
    e = stl.get("effect")
    if e is None or len(e) == 0:
        effect = t("not_available", lang, why=why(getattr(a, "speed_to_lead_note", ""), lang))
    else:
        r = e.iloc[0]
        effect = t(
            "speed_effect",
            lang,
            minutes=f"{r['threshold_minutes']:g}",
            rr=f"{r['rate_ratio']:.2f}",
            lo=f"{r['ci_low']:.2f}",
            hi=f"{r['ci_high']:.2f}",
            fast=f"{int(r['fast_leads']):,}",
            slow=f"{int(r['slow_leads']):,}",
            start=fmt_date(first),
            end=fmt_date(mature_end),
            verdict=t(
                "effect_clear" if r["ci_low"] > 1 or r["ci_high"] < 1 else "effect_unclear", lang
            ),
        )
    n_events = int(stl.get("event_leads", 0))
    events = t("speed_events", lang, n=f"{n_events:,}") if n_events else ""
    return {
        "note": t("speed_note", lang, start=fmt_date(first), end=fmt_date(as_of), events=events),
        "distribution": translate(dist, lang),
        "bands_note": t(
            "speed_bands_note", lang, start=fmt_date(first), end=fmt_date(mature_end), days=days
        ),
        "bands": translate(bands, lang),
        "effect": effect,
    }


def complaints_view(a: DealerAnalysis, lang: str) -> dict[str, Any]:
    """The complaints section: ``counts`` (category by stage), ``handling`` (response and
    resolution against the service levels, reopen rate, per category), ``retention``
    (resolved against unresolved) and the notes with their windows and service levels."""
    cp = getattr(a, "complaints", None) or {}
    if "counts" not in cp:
        return {}
    sla = a.settings.section("lifecycle")["complaints"]
    as_of = pd.Timestamp(a.dealer.as_of)
    table = a.dealer.complaints
    first, _ = date_span(table["opened_at"]) if len(table) else (None, None)
    c = cp["counts"]
    counts = pd.DataFrame(
        [[f"{int(v):,}" for v in row] for row in c.to_numpy()],
        index=[label("total" if i == "total" else "complaint." + i, lang) for i in c.index],
        columns=[label("total" if s == "total" else "complaint_stage." + s, lang) for s in c],
    )
    h = cp["handling"]
    key = h.columns[0]
    resp_col = t("sla_response_col", lang, hours=f"{sla['first_response_hours']:g}")
    res_col = t("sla_resolution_col", lang, days=f"{sla['resolution_days']:g}")
    handling = pd.DataFrame(
        {
            "complaint_category": [
                label("total" if x == "all" else "complaint." + x, lang) for x in h[key]
            ],
            "complaints_col": [f"{v:,}" for v in h["complaints"]],
            "median_response_hours": [_minutes(v) for v in h["median_response_hours"]],
            resp_col: [fmt_pct(v) for v in h["response_sla_rate"]],
            "median_resolution_days": [_minutes(v) for v in h["median_resolution_days"]],
            res_col: [fmt_pct(v) for v in h["resolution_sla_rate"]],
            "open_complaints": [f"{v:,}" for v in h["open"]],
            "reopen_rate": [fmt_pct(v) for v in h["reopen_rate"]],
            "interval": [
                _pct_interval(lo, hi)
                for lo, hi in zip(h["reopen_ci_low"], h["reopen_ci_high"], strict=True)
            ],
        }
    ).set_index("complaint_category")
    out: dict[str, Any] = {
        "counts_note": t("complaints_note", lang, start=fmt_date(first), end=fmt_date(as_of)),
        "counts": counts,
        "handling_note": t(
            "complaints_sla_note",
            lang,
            hours=f"{sla['first_response_hours']:g}",
            days=f"{sla['resolution_days']:g}",
            start=fmt_date(first),
            end=fmt_date(as_of),
            as_of=fmt_date(as_of),
        ),
        "handling": translate(handling, lang),
        "retention": None,
    }
    r = cp.get("retention")
    horizon = float(sla["retention_horizon_days"])
    if r is None or len(r) == 0:
        out["retention_note"] = t(
            "not_available", lang, why=why(getattr(a, "complaints_note", ""), lang)
        )
        return out
    sv_start, _ = date_span(a.dealer.service_visits["at"])
    start = max(x for x in (first, sv_start) if x is not None)
    names = {"resolved": "resolved_group", "unresolved": "unresolved_group"}
    names["difference"] = "retention_gap"
    out["retention_note"] = t(
        "complaint_retention_note",
        lang,
        start=fmt_date(start),
        end=fmt_date(as_of - pd.Timedelta(days=horizon)),
        days=f"{horizon:g}",
    )
    out["retention"] = translate(
        pd.DataFrame(
            {
                "group": [label(names[g], lang) for g in r["group"]],
                "complainers": [f"{v:,}" for v in r["complainers"]],
                "retained": [f"{v:,}" for v in r["retained"]],
                "retention": [
                    fmt_pp("retention", v, lang) if g == "difference" else fmt_pct(v)
                    for g, v in zip(r["group"], r["retention"], strict=True)
                ],
                "interval": [
                    f"{fmt_pp('retention', lo, lang)} – {fmt_pp('retention', hi, lang)}"
                    if g == "difference"
                    else _pct_interval(lo, hi)
                    for g, lo, hi in zip(r["group"], r["ci_low"], r["ci_high"], strict=True)
                ],
            }
        ).set_index("group"),
        lang,
    )
    return out


def aftersales_view(a: DealerAnalysis, lang: str) -> dict[str, Any]:
    """The after-sales-by-vehicle-age section: ``retention`` (vehicles sold here, serviced in
    the last 12 months, by age cohort) and ``pay_mix`` (customer-pay against warranty and
    recall work in the period, by age at the visit), with their notes."""
    sm = getattr(a, "service_mix", None) or {}
    if "retention" not in sm:
        return {}
    as_of = pd.Timestamp(a.dealer.as_of)
    start, end = a.period
    r = sm["retention"]
    retention = pd.DataFrame(
        {
            "age_band": [_band_name(x, lang) for x in r["age_band"]],
            "vehicles_sold_here": [f"{v:,}" for v in r["vehicles"]],
            "serviced_12m": [f"{v:,}" for v in r["retained"]],
            "retention": [fmt_pct(v) for v in r["retention"]],
            "interval": [
                _pct_interval(lo, hi) for lo, hi in zip(r["ci_low"], r["ci_high"], strict=True)
            ],
        }
    ).set_index("age_band")
    p = sm["pay_mix"]
    mix = pd.DataFrame(
        {
            "age_at_visit": [
                label("all_ages", lang) if x == "all" else _band_name(x, lang)
                for x in p["age_band"].astype(str)
            ],
            "repair_orders": [f"{v:,}" for v in p["repair_orders"]],
            "customer_pay_share": [fmt_pct(v) for v in p["customer_pay_share"]],
            "customer_pay_revenue": [f"{v:,.0f}" for v in p["customer_pay_revenue"]],
            "maker_paid_revenue": [f"{v:,.0f}" for v in p["maker_paid_revenue"]],
            "customer_pay_revenue_share": [fmt_pct(v) for v in p["customer_pay_revenue_share"]],
        }
    ).set_index("age_at_visit")
    return {
        "retention_note": t(
            "retention_age_note",
            lang,
            as_of=fmt_date(as_of),
            start=fmt_date(as_of - pd.Timedelta(days=365)),
        ),
        "retention": translate(retention, lang),
        "pay_mix_note": t("pay_mix_note", lang, start=fmt_date(start), end=fmt_date(end)),
        "pay_mix": translate(mix, lang),
    }


_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
}


def open_weekdays(days: Any, lang: str) -> str:
    """The showroom's open weekdays in words (Monday = 0): a run of three or more as
    ``Monday to Saturday`` / ``周一至周六``, else listed (``Monday, Wednesday``)."""
    names, ds = _WEEKDAYS["zh" if lang == "zh" else "en"], sorted({int(d) % 7 for d in days})
    if len(ds) >= 3 and ds == list(range(ds[0], ds[-1] + 1)):
        return f"{names[ds[0]]}{'至' if lang == 'zh' else ' to '}{names[ds[-1]]}"
    return ("、" if lang == "zh" else ", ").join(names[d] for d in ds)


def pacing_view(a: DealerAnalysis, lang: str) -> dict[str, Any]:
    """Month-to-date pacing: the heading, the note (month, open days), the table (so far,
    month target, pro-rated target, ahead or behind, projected month end with its 80 %
    interval, status) and one alert sentence per measure whose status is red."""
    p = getattr(a, "pacing", None)
    if p is None or len(p) == 0:
        return {}
    as_of = fmt_date(a.dealer.as_of)
    first = p.iloc[0]
    month = str(first["month"])

    def n(v: Any, digits: int = 0) -> str:
        return fmt_num(v, f",.{digits}f")

    table = pd.DataFrame(
        {
            "measure": [label("pace." + m, lang) for m in p["measure"]],
            "so_far": [n(v) for v in p["actual"]],
            "month_target": [n(v) for v in p["target"]],
            "target_basis": [label("basis." + b, lang) for b in p["basis"]],
            "target_to_date": [n(v, 1) for v in p["expected"]],
            "ahead_behind": [
                "–" if not math.isfinite(float(v)) else f"{float(v):+,.1f}".replace("-", "−")
                for v in p["gap"]
            ],
            "projected": [n(v) for v in p["projected"]],
            "projected_interval": [
                "–" if n(lo) == "–" else f"{n(lo)} – {n(hi)}"
                for lo, hi in zip(p["projected_low"], p["projected_high"], strict=True)
            ],
            "status": [status_text(s, label(s, lang)) if s else "–" for s in p["status"]],
        }
    ).set_index("measure")
    final = int(first["open_days_elapsed"]) >= int(first["open_days"])
    alerts = [
        t(
            "pacing_alert_final" if final else "pacing_alert",
            lang,
            measure=_inline(label("pace." + r.measure, lang), lang),
            actual=n(r.actual),
            expected=n(r.expected, 1),
            as_of=as_of,
            gap=n(-r.gap, 0 if final else 1),
            projected=n(r.projected),
            lo=n(r.projected_low),
            hi=n(r.projected_high),
            target=n(r.target),
        )
        for r in p.itertuples(index=False)
        if r.status in ("red", "amber")
    ]
    if not alerts:
        alerts = [t("pacing_none" if (p["basis"] == "none").all() else "pacing_ok", lang)]
    return {
        "heading": t("pacing", lang, month=month),
        "note": t(
            "pacing_note",
            lang,
            month=month,
            as_of=as_of,
            worked=int(first["open_days_elapsed"]),
            days=int(first["open_days"]),
            open=open_weekdays(p.attrs.get("weekdays", OPEN_WEEKDAYS), lang),
        ),
        "table": translate(table, lang),
        "alerts": alerts,
    }


def penetration_view(a: DealerAnalysis, by: str, lang: str) -> dict[str, Any]:
    """Value-added penetration per sales consultant (``by="consultant"``) or car model
    (``"model"``) in the period: the note (window, the lines that differ beyond chance) and the
    table (deliveries and each line's penetration per group, the dealer's total last)."""
    name = "penetration_by_" + by
    if name not in a.sections:
        return {}
    pen = a.sections[name]
    start, end = a.period
    staff = a.dealer.staff
    names = staff.set_index("staff_id")["name"] if by == "consultant" and len(staff) else {}

    def group_name(g: str) -> str:
        if g in ("all", "unassigned"):
            return label("total" if g == "all" else g, lang)
        return str(names.get(g, g)) if by == "consultant" else g

    wide = pen.pivot(index="group", columns="line", values="penetration")
    lines = [x for x in pen["line"].drop_duplicates()]
    n = pen.drop_duplicates("group").set_index("group")["deliveries"]
    order = [g for g in pen["group"].drop_duplicates() if g != "all"] + ["all"]
    table = pd.DataFrame(
        {"deliveries": [f"{int(n[g]):,}" for g in order]}
        | {line: [fmt_pct(wide.at[g, line]) for g in order] for line in lines},
        index=[group_name(g) for g in order],
    )
    p = pen.drop_duplicates("line").set_index("line")["p_value"]
    differ = [label(x, lang) for x in lines if pd.notna(p[x]) and p[x] < 0.05]
    sep = "、" if lang == "zh" else ", "
    return {
        "heading": label("by_" + by, lang),
        "note": t(
            "penetration_by_note",
            lang,
            start=fmt_date(start),
            end=fmt_date(end),
            group=_inline(label("by_" + by, lang), lang),
            lines=sep.join(differ) or label("none", lang),
        ),
        "table": translate(table, lang),
    }


# --- data-quality and funnel notebooks (secondary views) ---
# The views of notebooks/data_quality.py and notebooks/funnel_diagnostics.py: the same numbers
# as the report (the analysis's), in more detail, every header and name from the glossary.
