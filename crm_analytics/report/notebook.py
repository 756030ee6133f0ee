"""The opening every dealer notebook shares: load the dealer, resolve its periods, show the header.

Kept here, not in the notebooks, so the ten notebooks stay thin and agree on what "the period"
means (:func:`crm_analytics.report.headline.resolve_periods`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from crm_analytics.core.config import resolve_settings
from crm_analytics.core.dealer import DealerData
from crm_analytics.data.store import load_dealer
from crm_analytics.report import display as out
from crm_analytics.report import plots
from crm_analytics.report.analysis import DealerAnalysis, analyse_dealer, load_analysis
from crm_analytics.report.headline import data_start
from crm_analytics.report.text import t

__all__ = ["open_analysis", "show_header"]

Period = tuple[pd.Timestamp, pd.Timestamp]


def open_analysis(
    source: str,
    dealer_id: str,
    period_start: str | None = None,
    period_end: str | None = None,
    comparison_start: str | None = None,
    comparison_end: str | None = None,
    language: str | None = None,
    *,
    targets: Mapping[str, float] | None = None,
    analysis_path: str | None = None,
) -> tuple[DealerAnalysis, str]:
    """A notebook's parameters in, ``(analysis, chart language)`` out.

    In a batch run ``analysis_path`` is the dealer's analysis in the run folder, computed once
    for every notebook of the dealer (no notebook reloads the data or refits a model).
    Interactively (no ``analysis_path``) the dealer is read from ``source`` and analysed here,
    with settings resolved from the parameter files and these parameters
    (:func:`crm_analytics.core.config.resolve_settings`); lead scores then need a batch run
    (the lead model is pooled over the network). The chart language is the settings' language
    unless no CJK font is installed (then English, with a warning:
    :func:`crm_analytics.report.plots.apply_style`).
    """
    if analysis_path:
        analysis = load_analysis(analysis_path)
    else:
        period = (period_start, period_end) if period_start and period_end else None
        comparison = (
            (comparison_start, comparison_end) if comparison_start and comparison_end else None
        )
        settings = resolve_settings(
            dealer_id,
            source=source,
            period=period,
            comparison_period=comparison,
            language=language,
            targets=dict(targets) if targets else None,
        )
        analysis = analyse_dealer(load_dealer(source, dealer_id), settings).without_frames()
    return analysis, plots.apply_style(analysis.settings.language)


def show_header(
    dealer: DealerData,
    title: str,
    language: str,
    period: Period,
    comparison: Period,
    *,
    with_city: bool = False,
    coverage_notes: bool = False,
) -> None:
    """Heading, the period line and (``coverage_notes``) a note for each period that starts
    before the extract records both leads and service visits."""
    where = f"{dealer.dealer_id}, {dealer.city}" if with_city else dealer.dealer_id
    out.show_heading(f"{dealer.name} ({where}) – {title}", 1)
    out.show_text(
        t(
            "period",
            language,
            start=period[0].date(),
            end=period[1].date(),
            cstart=comparison[0].date(),
            cend=comparison[1].date(),
            as_of=dealer.as_of.date(),
        )
    )
    if not coverage_notes:
        return
    first = data_start(dealer)
    for which, begins in (("which_period", period[0]), ("which_comparison", comparison[0])):
        if first is None or begins < first:
            out.show_text(
                t("before_data", language, which=t(which, language), first=first and first.date())
            )
