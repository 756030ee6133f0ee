"""Display tables of the dealer report's sections that were built inside its notebook.

Each function takes numbers the analysis computed once (a section of
:attr:`~crm_analytics.report.analysis.DealerAnalysis.sections`, or the analysis itself) and a
language, and returns a table whose headers, index and key values are the glossary's names and
whose numbers are written in their unit. Nothing here computes a dealer-level artefact; the one
re-aggregation (media cost per car model over channels) is the metric's own
:func:`crm_analytics.metrics.attribution.media_totals`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from crm_analytics.metrics.attribution import media_totals
from crm_analytics.report.analysis import DealerAnalysis
from crm_analytics.report.display import fmt_count
from crm_analytics.report.sections import fmt_change, fmt_level, high_risk_reasons, translate
from crm_analytics.report.text import fmt_date, fmt_prob, fmt_value, format_yuan, label, t

__all__ = [
    "activation_view",
    "change_table",
    "churn_bands_note",
    "churn_bands_view",
    "churn_reasons_view",
    "consultants_view",
    "csi_view",
    "defeat_view",
    "lead_grades_view",
    "media_view",
    "projection_view",
    "renewal_lines",
    "transitions_view",
    "value_chain_view",
]

#: Months of the CLV projection shown (1, 6, 12, 24 and 36 months ahead).
PROJECTION_MONTHS: tuple[int, ...] = (0, 5, 11, 23, 35)


def _range(lo: pd.Series, hi: pd.Series, fmt: str) -> list[str]:
    return [f"{a:{fmt}} – {b:{fmt}}" for a, b in zip(lo, hi, strict=True)]


def projection_view(proj: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The owner base's expected service visits and margin in the months ahead (the CLV
    section's ``projection``), with their intervals."""
    p = proj.iloc[[i for i in PROJECTION_MONTHS if i < len(proj)]]
    table = pd.DataFrame(
        {
            "month": p["month"].dt.strftime("%Y-%m"),
            "expected_visits": [f"{v:,.0f}" for v in p["expected_visits"]],
            "visits_interval": _range(p["visits_low"], p["visits_high"], ",.0f"),
            "expected_margin_m": [fmt_count(v) for v in p["expected_margin"]],
            "interval_m": _range(p["margin_low"], p["margin_high"], ",.0f"),
        }
    )
    return translate(table.set_index("month"), lang)


def transitions_view(moves: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Customers moving between lifecycle states in the period (the analysis's
    ``transitions``, :func:`crm_analytics.metrics.lifecycle.transition_matrix`): rows the
    state at the start, columns the state at the end, states in the glossary's words."""
    table = moves.rename(columns=str, index=str).map(
        lambda v: f"{v:,.0f}" if isinstance(v, (int, float)) else v
    )
    return translate(table, lang)


def value_chain_view(chain: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The deck's value chain of one loyal customer (the CLV section's ``value_chain``,
    :func:`crm_analytics.models.clv.value_chain_clv`): each line's margin per purchase, take-up,
    times a year and years, and its value; the total last."""
    total = chain["line"] == "total"

    def cells(col: str, fmt: Any) -> list[str]:
        return ["" if t_ else fmt(v) for v, t_ in zip(chain[col], total, strict=True)]

    table = pd.DataFrame(
        {
            "line": chain["line"].to_numpy(),
            "vc_unit_value": cells("unit_value", lambda v: format_yuan(v, lang)),
            "vc_take_up": cells("take_up", lambda v: f"{v:.0%}"),
            "vc_per_year": cells("per_year", lambda v: f"{v:g}"),
            "vc_years": cells("years", lambda v: f"{v:g}"),
            "vc_value": [format_yuan(v, lang) for v in chain["value"]],
        }
    )
    return translate(table.set_index("line"), lang)


def churn_bands_view(a: DealerAnalysis, lang: str) -> pd.DataFrame:
    """Active service customers per churn-risk band."""
    bands = a.band_counts()
    table = pd.DataFrame(
        {
            "risk_band": [label(b, lang) for b in bands.index],
            "customers": [fmt_count(v) for v in bands.to_numpy()],
        }
    )
    return translate(table.set_index("risk_band"), lang)


def churn_bands_note(a: DealerAnalysis, lang: str) -> str:
    """The bands' date, horizon and probability bounds (the fitted model's own)."""
    m = a.churn_model
    bands = dict(getattr(m, "risk_bands_", {}))
    return t(
        "churn_as_of",
        lang,
        as_of=fmt_date(a.dealer.as_of),
        months=getattr(m, "horizon_months_", 12),
        high=f"{bands.get('high', float('nan')):.0%}",
        medium=f"{bands.get('medium', float('nan')):.0%}",
    )


def churn_reasons_view(a: DealerAnalysis, lang: str, *, n: int = 6) -> pd.DataFrame | None:
    """The ``n`` commonest reasons of the high-risk customers, each counted once per customer
    among that customer's top reasons (None without reasons)."""
    n_high, _, named = high_risk_reasons(a)
    if not n_high or named.empty:
        return None
    top = named.head(n)
    table = pd.DataFrame(
        {
            "churn_reason": [label("churn." + str(x), lang) for x in top.index],
            "customers": [f"{v:,}" for v in top.to_numpy()],
            "share_of_high": [f"{v / n_high:.0%}" for v in top.to_numpy()],
        }
    )
    return translate(table, lang)


def lead_grades_view(a: DealerAnalysis, lang: str) -> pd.DataFrame | None:
    """Open leads per consultant (staff names) and model grade (``Grade H`` / ``级别 H`` ...);
    None without grades."""
    ls = a.lead_scores
    if ls is None or not len(ls) or "grade" not in ls:
        return None
    staff = a.dealer.staff.set_index("staff_id")["name"] if len(a.dealer.staff) else pd.Series()
    g = ls.assign(consultant=ls["consultant_id"].map(lambda i: str(staff.get(i, i))))
    table = pd.crosstab(g["consultant"], g["grade"]).reindex(columns=["H", "A", "B", "C"])
    table = table.fillna(0).astype(int).rename_axis(index=None, columns=None)
    return table.set_axis([f"{label('grade', lang)} {c}" for c in table.columns], axis=1)


def media_view(media: pd.DataFrame, key: str, lang: str) -> pd.DataFrame:
    """Media cost, leads, orders, cost per lead and per order per ``key`` (``"channel"`` or
    ``"model"``; a per-model frame's channel rows are summed per model first)."""
    if key != "channel":
        media = media_totals(media, [key])
    table = pd.DataFrame(
        {
            key: [label(x, lang) for x in media[key]],
            "cost": [fmt_count(v) for v in media["cost"]],
            "leads": [f"{v:,.0f}" for v in media["leads"]],
            "orders": [f"{v:,.0f}" for v in media["orders"]],
            "cost_per_lead": [fmt_count(v) for v in media["cost_per_lead"]],
            "cost_per_order": [fmt_count(v) for v in media["cost_per_order"]],
        }
    )
    return translate(table.set_index(key), lang)


def consultants_view(cons: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Leads, visits, orders and visit-to-order rate per sales consultant."""
    table = pd.DataFrame(
        {
            "consultant": cons["consultant"],
            "leads": [f"{v:,.0f}" for v in cons["leads"]],
            "visited": [f"{v:,.0f}" for v in cons["visited"]],
            "ordered": [f"{v:,.0f}" for v in cons["ordered"]],
            "visit_to_order_rate": [
                fmt_value("visit_to_order_rate", v, lang) for v in cons["visit_to_order_rate"]
            ],
        }
    )
    return translate(table.set_index("consultant"), lang)


def csi_view(csi: pd.DataFrame, lang: str) -> pd.DataFrame:
    """CSI (0-100) per survey stage with its 95% interval and the number of answers."""
    table = pd.DataFrame(
        {
            "stage": [label("csi." + str(x), lang) for x in csi["stage"]],
            "csi": [f"{v:.1f}" for v in csi["csi"]],
            "interval": _range(csi["csi_low"], csi["csi_high"], ".1f"),
            "responses": [f"{v:,}" for v in csi["n"]],
        }
    )
    return translate(table.set_index("stage"), lang)


def defeat_view(dp: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Lost sales per defeat reason, with their share."""
    table = pd.DataFrame(
        {
            "defeat_reason": [label("defeat." + str(x), lang) for x in dp["defeat_reason"]],
            "count": [f"{v:,}" for v in dp["count"]],
            "share": [f"{v:.1%}" for v in dp["share"]],
        }
    )
    return translate(table.set_index("defeat_reason"), lang)


def change_table(ch: pd.DataFrame, maturing: set[str], lang: str) -> pd.DataFrame:
    """Each KPI before and after, its change with the 95% interval and whether it is
    significant; KPIs in ``maturing`` (immature cohorts) are starred."""
    kpis = list(ch["kpi"])

    def each(fmt, col):
        return [fmt(k, v, lang) for k, v in zip(kpis, ch[col], strict=True)]

    table = pd.DataFrame(
        {
            "kpi": [label(k, lang) + (" *" if k in maturing else "") for k in kpis],
            "value_before": each(fmt_level, "value_before"),
            "value_after": each(fmt_level, "value_after"),
            "change": each(fmt_change, "change"),
            "interval": [
                f"{fmt_change(k, a, lang)} – {fmt_change(k, b, lang)}"
                for k, a, b in zip(kpis, ch["ci_low"], ch["ci_high"], strict=True)
            ],
            "significant": [label("yes" if s else "no", lang) for s in ch["significant"]],
        }
    )
    return translate(table.set_index("kpi"), lang)


def renewal_lines(r: dict, window: dict[str, str], lang: str) -> list[str]:
    """The renewal section's sentences: the contractual model's renewal rates and expected
    renewals, then the what-if at the KPI's target (``window``: the period's ``start`` and
    ``end``)."""
    pct = "{:.0%}".format
    rising = r["last_rate"] > r["first_rate"] + 0.005
    kpi = pct(r["rate"]) if r["rate"] is not None else "–"
    lines = [
        t(
            "renewal_line",
            lang,
            vehicles=f"{r['vehicles']:,}",
            kpi=kpi,
            first=pct(r["first_rate"]),
            last=pct(r["last_rate"]),
            years=int(r["periods"]),
            rising=t("renewal_rising" if rising else "renewal_flat", lang),
            expected=f"{r['expected']:.2f}",
        )
    ]
    if r["target_rate"] is None:  # no target or no rate, or the KPI meets its target
        if r["target"] is not None and r["rate"] is not None:
            lines.append(t("renewal_at_target", lang, kpi=kpi, target=pct(r["target"])))
        return lines
    lines.append(
        t(
            "renewal_what_if",
            lang,
            target=pct(r["target"]),
            kpi=kpi,
            aim=pct(r["target_rate"]),
            at_target=f"{r['expected_at_target']:.2f}",
            gain=format_yuan(r["gain_per_customer"], lang),
            unit=format_yuan(r["unit_margin"], lang),
            per_year=format_yuan(r["gain_per_year"], lang),
            new=f"{r['new_customers']:,}",
            **window,
        )
    )
    return lines


def activation_view(
    a: DealerAnalysis, lang: str, *, n: int = 20
) -> tuple[str, pd.DataFrame] | None:
    """The dormant customers of the state table and the dormant-activation call list that
    works on them: the sentence that ties the two counts (those not on the list are on the
    maintenance-due list) and the list's first ``n`` rows in its own order (ids only). ``None``
    without lifecycle states."""
    states = a.sections.get("lifecycle")
    if states is None:
        return None
    dormant = states.loc[states["state"] == "dormant", ["customer_id", "months_since_visit"]]
    calls = a.calls
    listed = calls.loc[calls["reason"] == "dormant_activation"].sort_values("list_rank")
    maint = calls.loc[calls["reason"] == "maintenance_due", "customer_id"]
    covered = int(dormant["customer_id"].isin(maint).sum())
    sentence = t(
        "activation",
        lang,
        n=f"{len(dormant):,}",
        as_of=fmt_date(a.dealer.as_of),
        listed=f"{len(listed):,}",
        covered=t("activation_covered", lang, k=f"{covered:,}") if covered else "",
    )
    top = listed.head(n).merge(dormant, on="customer_id", how="left")
    table = pd.DataFrame(
        {
            "list_rank": [f"{int(v):,}" for v in top["list_rank"]],
            "customer_id": top["customer_id"].to_numpy(),
            "months_since_visit": [f"{v:,.0f}" for v in top["months_since_visit"]],
            "value_at_stake": [format_yuan(v, lang) for v in top["value"]],
            "p_alive": [fmt_prob(v) for v in top["activity"]],
            "expected_margin": [format_yuan(v, lang) for v in top["expected_margin"]],
        }
    )
    return sentence, translate(table, lang, index=False)
