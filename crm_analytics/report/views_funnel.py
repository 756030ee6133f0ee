"""The funnel-diagnostics page: the whole KPI tree, rates per channel and consultant, every stage
against target and peers, the period comparison, and the forecast with its backtest.

Each view takes the run's analysis (numbers computed once) and a language and returns tables
and sentences in the reader's words, like :mod:`crm_analytics.report.sections`.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from crm_analytics.report import headline
from crm_analytics.report.analysis import DealerAnalysis
from crm_analytics.report.sections import translate
from crm_analytics.report.text import fmt_date, fmt_pct, fmt_pp, fmt_value, label, t

__all__ = [
    "channel_rates_view",
    "consultant_funnel_view",
    "stage_check_view",
    "change_view",
    "forecast_view",
]


def channel_rates_view(a: DealerAnalysis, lang: str) -> dict[str, Any]:
    """Leads and the funnel rates per lead channel (the analysis's ``funnel_by_channel``:
    ``funnel.kpi_tree(..., by="channel")`` of the period), most leads first, with the note."""
    kpis = ["lead_count", *headline.FUNNEL_KPIS]
    wide = (
        a.sections["funnel_by_channel"]
        .pivot_table(index="channel", columns="kpi", values="value")
        .reindex(columns=kpis)
    )
    wide = wide.sort_values("lead_count", ascending=False)
    table = pd.DataFrame(
        {k: [fmt_value(k, v, lang) for v in wide[k]] for k in kpis},
        index=[label(str(c), lang) for c in wide.index],
    )
    start, end = a.period
    return {
        "note": t("fn_channels_note", lang, start=fmt_date(start), end=fmt_date(end)),
        "table": translate(table, lang),
    }


def consultant_funnel_view(a: DealerAnalysis, lang: str) -> dict[str, Any]:
    """Leads, visits, orders and the closing ratio per sales consultant (the report's
    numbers), with the note; empty when the analysis has none."""
    if "consultants" not in a.sections:
        return {}
    cons = a.sections["consultants"]
    start, end = a.period
    table = pd.DataFrame(
        {
            "consultant": [str(x) for x in cons["consultant"]],
            "leads": [f"{v:,.0f}" for v in cons["leads"]],
            "visited": [f"{v:,.0f}" for v in cons["visited"]],
            "ordered": [f"{v:,.0f}" for v in cons["ordered"]],
            "visit_to_order_rate": [
                fmt_value("visit_to_order_rate", v, lang) for v in cons["visit_to_order_rate"]
            ],
        }
    )
    return {
        "note": t("fn_consultants_note", lang, start=fmt_date(start), end=fmt_date(end)),
        "table": translate(table, lang),
    }


def _stage_reading(r: Any) -> list[str]:
    """Why a stage is (not) flagged, as glossary keys (the rule of ``funnel.diagnose``)."""
    has_target = pd.notna(r.stage_target)
    miss = has_target and r.stage_value < r.stage_target
    beyond = miss and pd.notna(r.stage_ci_high) and r.stage_ci_high < r.stage_target
    if r.flagged:
        keys = ["below target beyond sampling error"] if beyond else []
        return keys + (["low among peers"] if not beyond or _low_peer(r) else [])
    if not has_target and pd.isna(r.stage_peer_median):
        return ["no reference"]
    return ["inconclusive"] if miss else ["meets target and peers"]


def _low_peer(r: Any) -> bool:
    return pd.notna(r.stage_peer_percentile) and r.stage_peer_percentile <= 25


def stage_check_view(a: DealerAnalysis, lang: str) -> pd.DataFrame:
    """Every stage of the diagnosis (flagged or not): value, 95 % interval, target, peer
    median, the reading (flagged and why, within sampling error, meets target) and the
    orders a year at stake."""
    d = a.diagnosis
    if d is None or d.empty:
        return pd.DataFrame()
    sep = "; " if lang == "en" else ";"
    rows = []
    for r in d.drop_duplicates("stage").itertuples(index=False):
        k = r.stage
        lo, hi = fmt_value(k, r.stage_ci_low, lang), fmt_value(k, r.stage_ci_high, lang)
        rows.append(
            {
                "stage": label(k, lang),
                "value": fmt_value(k, r.stage_value, lang),
                "interval": "–" if lo == "–" else f"{lo} – {hi}",
                "target": fmt_value(k, r.stage_target, lang),
                "peer": fmt_value(k, r.stage_peer_median, lang),
                "stage_check": sep.join(label(x, lang) for x in _stage_reading(r)),
                "orders_at_stake": "–"
                if pd.isna(r.orders_at_stake)
                else f"{r.orders_at_stake:,.1f}",
            }
        )
    return translate(pd.DataFrame(rows).set_index("stage"), lang)


def _per_month(v: Any, lang: str, *, sign: bool = False) -> str:
    if v is None or not math.isfinite(float(v)):
        return "–"
    digits = 2 if 0 < abs(float(v)) < 0.05 else 1  # -0.007 is "−0.01", not "−0.0"
    text = f"{float(v):+,.{digits}f}" if sign else f"{float(v):,.{digits}f}"
    return text.replace("-", "−") + (" / month" if lang == "en" else "/月")


def change_view(a: DealerAnalysis, lang: str) -> dict[str, Any]:
    """Every KPI of the period against the previous round (``funnel.compare_periods``, the
    report's numbers): levels (volumes per month), the change (rates in percentage points)
    with its 95 % interval and whether it is beyond chance; ``note`` and ``immature_note``
    (maturing KPIs are marked ``*``). Empty when the analysis has no comparison."""
    if "change" not in a.sections:
        return {}
    ch = a.sections["change"]
    ch = ch.loc[ch["kpi"] != "open_leads"]  # the previous round's cohort has none left open
    m = a.maturity
    maturing = set(m.get("kpis", ())) if m.get("shifted") else set()

    def level(k: str, u: str, v: Any, *, sign: bool = False) -> str:
        if "per month" in str(u):
            return _per_month(v, lang, sign=sign)
        return fmt_pp(k, v, lang) if sign else fmt_value(k, v, lang)

    rows = []
    for r in ch.itertuples(index=False):
        k, u = r.kpi, r.unit
        rows.append(
            {
                "kpi": label(k, lang) + (" *" if k in maturing else ""),
                "value_before": level(k, u, r.value_before),
                "value_after": level(k, u, r.value_after),
                "change": level(k, u, r.change, sign=True),
                "interval": f"{level(k, u, r.ci_low, sign=True)} – "
                f"{level(k, u, r.ci_high, sign=True)}",
                "significant": label("yes" if r.significant else "no", lang),
            }
        )
    (start, end), (cstart, cend) = a.period, a.comparison
    immature = ""
    if maturing & set(ch["kpi"]):
        share = m["immature_share"]["leads"]
        immature = t("immature_note", lang, days=m["days"], share=f"{share:.0%}")
    return {
        "note": t(
            "previous_note",
            lang,
            start=fmt_date(start),
            end=fmt_date(end),
            cstart=fmt_date(cstart),
            cend=fmt_date(cend),
        ),
        "immature_note": immature,
        "table": translate(pd.DataFrame(rows).set_index("kpi"), lang),
    }


def forecast_view(a: DealerAnalysis, lang: str) -> dict[str, Any]:
    """Next month's orders and deliveries (the report's forecast) with their 80 % and 95 %
    intervals and where they come from (``table``, ``note``), and how such forecasts did in
    the last months (``backtest``: the analysis's ``forecast_accuracy``, its
    ``forecast_backtest`` summarised by :func:`~crm_analytics.metrics.forecast.backtest_summary`;
    ``backtest_note``). Empty when the analysis has no forecast."""
    if "forecast" not in a.sections:
        return {}
    f = a.sections["forecast"]
    backtest = a.sections.get("forecast_backtest")
    summary = a.sections.get("forecast_accuracy")

    def one(v: Any) -> str:
        return "–" if pd.isna(v) else f"{float(v):,.1f}"

    def band(lo: Any, hi: Any) -> str:
        return "–" if pd.isna(lo) else f"{float(lo):,.0f} – {float(hi):,.0f}"

    table = pd.DataFrame(
        {
            "forecast_of": [label(str(x), lang) for x in f["target"]],
            "forecast": [one(v) for v in f["forecast"]],
            "interval_80": [band(lo, hi) for lo, hi in zip(f["lo80"], f["hi80"], strict=True)],
            "interval": [band(lo, hi) for lo, hi in zip(f["lo95"], f["hi95"], strict=True)],
            "from_pipeline": [one(v) for v in f["from_pipeline"]],
            "from_new_leads": [one(v) for v in f["from_new_leads"]],
            "open_units": [f"{int(v):,}" for v in f["open_units"]],
            "expected_new_leads": [one(v) for v in f["expected_new_leads"]],
        }
    ).set_index("forecast_of")
    month = pd.Timestamp(f["window_end"].iloc[0]).strftime("%Y-%m")
    out: dict[str, Any] = {
        "note": t("fn_forecast_note", lang, month=month, as_of=fmt_date(a.dealer.as_of)),
        "table": translate(table, lang),
        "backtest_note": "",
        "backtest": None,
    }
    if summary is None or not len(summary):
        return out
    order = {x: i for i, x in enumerate(f["target"])}  # the forecast table's order
    summary = summary.sort_values("target", key=lambda s: s.map(order), kind="stable")
    cut = pd.to_datetime(backtest.dropna(subset=["seasonal_naive"])["as_of"])
    bt = pd.DataFrame(
        {
            "forecast_of": [label(str(x), lang) for x in summary["target"]],
            "months_tested": [f"{int(v):,}" for v in summary["cutoffs"]],
            "mean_actual": [one(v) for v in summary["mean_actual"]],
            "mae_model": [one(v) for v in summary["mae_model"]],
            "mae_seasonal_naive": [one(v) for v in summary["mae_seasonal_naive"]],
            "mae_trailing_mean": [one(v) for v in summary["mae_trailing_mean"]],
            "coverage80": [fmt_pct(v) for v in summary["coverage80"]],
            "coverage95": [fmt_pct(v) for v in summary["coverage95"]],
        }
    ).set_index("forecast_of")
    out["backtest_note"] = t(
        "fn_backtest_note",
        lang,
        n=cut.nunique(),
        first=fmt_date(cut.min()),
        last=fmt_date(cut.max()),
    )
    out["backtest"] = translate(bt, lang)
    return out
