"""The media page: media efficiency per channel, orders credited by each attribution model,
channel lift per customer age and the recall of the DMS channel in surveys.

Each view takes the run's analysis (numbers computed once) and a language and returns tables
and sentences in the reader's words, like :mod:`crm_analytics.report.sections`.
"""

from __future__ import annotations

import pandas as pd

from crm_analytics.report.sections import translate
from crm_analytics.report.text import fmt_num, label

__all__ = [
    "media_channel_view",
    "attribution_view",
    "persona_channel_view",
    "recall_view",
]


def media_channel_view(media: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Per channel: media cost, leads, visits, orders, deliveries, the orders' gross profit, the
    cost per lead, visit, order and delivery, and the return on the cost
    (:func:`crm_analytics.metrics.attribution.media_efficiency` of the period)."""
    money = ["cost", "gross_profit", "cost_per_lead", "cost_per_visit", "cost_per_order"]
    counts = ["leads", "visits", "orders", "deliveries"]
    frame = pd.DataFrame({"channel": [label(c, lang) for c in media["channel"]]})
    for c in counts:
        frame[c] = [fmt_num(v, ",.0f") for v in media[c]]
    for c in [*money, "cost_per_delivery"]:
        frame["orders_gross_profit" if c == "gross_profit" else c] = [
            fmt_num(v, ",.0f") for v in media[c]
        ]
    frame["roi"] = [fmt_num(v, "+.0%") for v in media["roi"]]
    return translate(frame.set_index("channel"), lang)


def attribution_view(credit: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Orders credited to each channel (rows) by each attribution model (columns), one decimal
    (:func:`crm_analytics.metrics.attribution.attribute`)."""
    wide = credit.pivot_table(index="channel", columns="model", values="conversions", sort=False)
    frame = pd.DataFrame(
        {label("attr." + m, lang): [fmt_num(v, ",.1f") for v in wide[m]] for m in wide.columns},
        index=[label(c, lang) for c in wide.index],
    )
    return frame


def persona_channel_view(effects: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Each channel's lift within each customer age group
    (:func:`crm_analytics.metrics.attribution.persona_channel_effects` by ``age_band``)."""
    share = [c for c in effects.columns if c.startswith("share_")]
    young_first = effects["age_band"].astype(str).str.extract(r"(\d+)")[0].astype(float)
    young_first -= effects["age_band"].astype(str).str.startswith("<").astype(float)
    effects = effects.assign(_order=young_first.to_numpy()).sort_values(
        ["_order", "channel"], kind="stable"
    )
    frame = pd.DataFrame(
        {
            "customer_age_band": [_age_group(str(x), lang) for x in effects["age_band"]],
            "channel": [label(c, lang) for c in effects["channel"]],
            "journeys": [fmt_num(v, ",.0f") for v in effects["journeys"]],
            "journeys_with": [fmt_num(v, ",.0f") for v in effects["journeys_with"]],
            "conversion_rate_with": [fmt_num(v, ".1%") for v in effects["conversion_rate_with"]],
            "conversion_rate_without": [
                fmt_num(v, ".1%") for v in effects["conversion_rate_without"]
            ],
            "lift": [fmt_num(v, ".2f") + "×" for v in effects["lift"]],
        }
    )
    for c in share:
        frame[c] = [fmt_num(v, ".1%") for v in effects[c]]
    return translate(frame.set_index("customer_age_band"), lang)


def _age_group(band: str, lang: str) -> str:
    """``<30`` / ``30-39`` / ``60+`` in words: ``under 30`` / ``30岁以下``, ``30-39岁``."""
    if band.startswith("<"):
        return f"under {band[1:]}" if lang == "en" else f"{band[1:]}岁以下"
    if band.endswith("+"):
        return band if lang == "en" else f"{band[:-1]}岁及以上"
    return band if lang == "en" else f"{band}岁"


def recall_view(acc: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Share of survey answers whose recalled channel is the lead's DMS channel, per survey,
    with its 95 % interval (:func:`crm_analytics.metrics.crm_department.channel_recall_accuracy`)."""
    return translate(
        pd.DataFrame(
            {
                "survey_kind": [label("survey." + str(k), lang) for k in acc["kind"]],
                "answers": [fmt_num(v, ",.0f") for v in acc["n"]],
                "matches": [fmt_num(v, ",.0f") for v in acc["matches"]],
                "accuracy": [fmt_num(v, ".1%") for v in acc["accuracy"]],
                "interval": [
                    f"{fmt_num(a, '.1%')} – {fmt_num(b, '.1%')}"
                    for a, b in zip(acc["accuracy_low"], acc["accuracy_high"], strict=True)
                ],
            }
        ).set_index("survey_kind"),
        lang,
    )
