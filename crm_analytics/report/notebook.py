"""The opening every dealer notebook shares: load the dealer, resolve its periods, show the header.

Kept here, not in the notebooks, so the ten notebooks stay thin and agree on what "the period"
means (:func:`crm_analytics.report.headline.resolve_periods`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from crm_analytics.core.config import Settings, resolve_settings
from crm_analytics.core.dealer import DealerData
from crm_analytics.data.store import load_dealer
from crm_analytics.report import display as out
from crm_analytics.report import plots
from crm_analytics.report.headline import data_start, resolve_periods
from crm_analytics.report.text import t

__all__ = ["open_dealer", "show_header"]

Period = tuple[pd.Timestamp, pd.Timestamp]


def open_dealer(
    source: str,
    dealer_id: str,
    period_start: str | None = None,
    period_end: str | None = None,
    comparison_start: str | None = None,
    comparison_end: str | None = None,
    language: str | None = None,
    *,
    targets: Mapping[str, float] | None = None,
) -> tuple[DealerData, Settings, str, Period, Period]:
    """A notebook's parameters in, ``(dealer, settings, chart language, period, comparison)``
    out.

    The settings are resolved once (:func:`crm_analytics.core.config.resolve_settings`: package
    defaults, ``params/network.yaml``, the dealer's YAML, then these parameters), so every table,
    chart and diagnosis of the notebook judges against the same targets. The chart language is
    the settings' language unless no CJK font is installed (then English, with a warning:
    :func:`crm_analytics.report.plots.apply_style`). A period without both ends is the default
    one (the 12 months up to the data date; the comparison is the span before it).
    """
    period = (period_start, period_end) if period_start and period_end else None
    comparison = (comparison_start, comparison_end) if comparison_start and comparison_end else None
    settings = resolve_settings(
        dealer_id,
        source=source,
        period=period,
        comparison_period=comparison,
        language=language,
        targets=dict(targets) if targets else None,
    )
    lang = plots.apply_style(settings.language)
    dealer = load_dealer(source, dealer_id)
    main, previous = resolve_periods(dealer.as_of, settings.period, settings.comparison_period)
    return dealer, settings, lang, main, previous


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
