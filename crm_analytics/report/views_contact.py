"""The report's section on the CRM desk's own work and lost contacts (issue 17 items 4-5):
tables translated for the reader, from the ``contact`` section of a dealer's analysis
(:func:`crm_analytics.report.analysis.crm_desk`).

Kept apart from :mod:`crm_analytics.report.sections`; the section's heading and anchor are in
its ``SECTIONS``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from crm_analytics.data.privacy import mask_frame
from crm_analytics.metrics.contact import CALL_LISTS, LOST_REASONS
from crm_analytics.report.analysis import DealerAnalysis
from crm_analytics.report.sections import translate
from crm_analytics.report.text import fmt_count, fmt_date, fmt_pct, label, t

__all__ = ["RECONTACT_ROWS", "contact_view"]

#: Rows of the re-contact list shown in the report (the full list is in the analysis).
RECONTACT_ROWS = 15


def _list_name(key: str, lang: str) -> str:
    return label("total" if key == "total" else "desk_list." + key, lang)


def _work(work: pd.DataFrame, lang: str) -> pd.DataFrame:
    w = work[work["staff_id"] == "all"]
    return translate(
        pd.DataFrame(
            {
                "call_attempts": [fmt_count(v) for v in w["attempts"]],
                "customers_called": [fmt_count(v) for v in w["customers"]],
                "customers_reached": [fmt_count(v) for v in w["reached_customers"]],
                "reach_rate": [fmt_pct(v) for v in w["reach_rate"]],
                "calls_reached": [fmt_count(v) for v in w["reached_calls"]],
                "calls_converted": [fmt_count(v) for v in w["converted"]],
                "call_conversion_rate": [fmt_pct(v) for v in w["conversion_rate"]],
            },
            index=[_list_name(x, lang) for x in w["list_type"]],
        ),
        lang,
        index=False,
    )


def _owners(work: pd.DataFrame, staff: pd.DataFrame, lang: str) -> pd.DataFrame:
    w = work[work["staff_id"] != "all"]
    names = staff.set_index("staff_id")["name"].astype(str).to_dict()
    return translate(
        pd.DataFrame(
            {
                "desk_staff": [names.get(s, t("desk_staff_unknown", lang)) for s in w["staff_id"]],
                "call_attempts": [fmt_count(v) for v in w["attempts"]],
                "customers_called": [fmt_count(v) for v in w["customers"]],
                "reach_rate": [fmt_pct(v) for v in w["reach_rate"]],
                "calls_converted": [fmt_count(v) for v in w["converted"]],
            },
            index=[_list_name(x, lang) for x in w["list_type"]],
        ),
        lang,
        index=False,
    )


def _surveys(sv: pd.DataFrame, lang: str) -> pd.DataFrame:
    return translate(
        pd.DataFrame(
            {
                "survey_follows": [label("survey_event." + e, lang) for e in sv["event"]],
                "surveys_due": [fmt_count(v) for v in sv["due"]],
                "surveys_answered": [fmt_count(v) for v in sv["answered"]],
                "survey_response_rate": [fmt_pct(v) for v in sv["response_rate"]],
                "limit_days": [f"{v:g}" for v in sv["limit_days"]],
            },
            index=[label("survey." + k, lang) for k in sv.index],
        ),
        lang,
        index=False,
    )


def _coverage(cov: pd.DataFrame, lang: str) -> pd.DataFrame:
    return translate(
        pd.DataFrame(
            {
                "deliveries_judged": [fmt_count(v) for v in cov["deliveries"]],
                "deliveries_covered": [fmt_count(v) for v in cov["covered"]],
                "coverage_share": [fmt_pct(v) for v in cov["coverage"]],
                "limit_days": [f"{v:g}" for v in cov["limit_days"]],
            },
            index=[label("desk_coverage." + x, lang) for x in cov.index],
        ),
        lang,
        index=False,
    )


def _share(share: pd.DataFrame, lang: str) -> pd.DataFrame:
    keys = [*LOST_REASONS, "total"]
    s = share.reindex(keys)
    return translate(
        pd.DataFrame(
            {
                "lost_customers": [fmt_count(v) for v in s["customers"]],
                "lost_customer_share": [fmt_pct(v) for v in s["customer_share"]],
                "lost_owners": [fmt_count(v) for v in s["owners"]],
                "lost_owner_share": [fmt_pct(v) for v in s["owner_share"]],
            },
            index=[label("total" if k == "total" else "lost_reason." + k, lang) for k in keys],
        ),
        lang,
        index=False,
    )


def _recontact(lost: pd.DataFrame, staff: pd.DataFrame, lang: str, masked: bool) -> pd.DataFrame:
    top = lost.head(RECONTACT_ROWS)
    if masked:
        top = mask_frame(top)
    names = staff.set_index("staff_id")["name"].astype(str).to_dict()
    frame = pd.DataFrame(
        {
            "customer_name": [x if isinstance(x, str) else "–" for x in top["name"]],
            "customer_phone": [x if isinstance(x, str) else "–" for x in top["phone"]],
            "lost_reason": [label("lost_reason." + r, lang) for r in top["reason"]],
            "failed_attempts": [fmt_count(v) for v in top["failed_attempts"]],
            "last_attempt": [fmt_date(v) if pd.notna(v) else "–" for v in top["last_attempt_at"]],
            "last_reached": [fmt_date(v) if pd.notna(v) else "–" for v in top["last_reached_at"]],
            "desk_staff": [
                names.get(s, t("desk_staff_unknown", lang)) if isinstance(s, str) else "–"
                for s in top["staff_id"]
            ],
        },
        index=range(1, len(top) + 1),
    )
    return translate(frame, lang, index=False)


def contact_view(a: DealerAnalysis, lang: str, *, masked: bool = True) -> dict[str, Any]:
    """The section's notes and tables: ``work`` (per list), ``owners`` (per list and owner),
    ``coverage`` (delivery callbacks within their limit), ``surveys`` (the response rate of
    each survey kind), ``lost`` (the
    unreachable share of the base per reason), ``recontact`` (the first rows of the
    re-contact list, names and phones masked unless ``masked=False``), each with its
    ``<name>_note``. Empty when the analysis has no such section."""
    c = a.sections.get("contact")
    if not c:
        return {}
    prm, (start, end) = c["params"], c["period"]
    window = {"start": fmt_date(start), "end": fmt_date(end)}
    lost, share = c["lost"], c["share"]
    total = share.loc["total"]
    lists = "、" if lang == "zh" else ", "
    return {
        "work_note": t(
            "desk_work_note",
            lang,
            lists=lists.join(_list_name(x, lang) for x in CALL_LISTS),
            days=f"{float(prm['convert_days']):g}",
            **window,
        ),
        "work": _work(c["work"], lang),
        "owners_note": t("desk_owners_note", lang, **window),
        "owners": _owners(c["work"], a.dealer.staff, lang),
        "coverage_note": t(
            "desk_coverage_note",
            lang,
            callback=f"{float(prm['callback_days']):g}",
            interview=f"{float(prm['interview_days']):g}",
            **window,
        ),
        "coverage": _coverage(c["coverage"].drop(index="interviewed"), lang),
        "surveys_note": t("desk_surveys_note", lang, **window),
        "surveys": _surveys(c["surveys"], lang),
        "lost_note": t(
            "lost_contacts_note",
            lang,
            n=f"{int(total['customers']):,}",
            share=fmt_pct(total["customer_share"]),
            owner_share=fmt_pct(total["owner_share"]),
            streak=int(prm["no_answer_streak"]),
            days=f"{float(prm['no_answer_days']):g}",
            as_of=fmt_date(a.dealer.as_of),
        ),
        "lost": _share(share, lang),
        "recontact_note": t(
            "recontact_note", lang, shown=min(len(lost), RECONTACT_ROWS), n=f"{len(lost):,}"
        ),
        "recontact": _recontact(lost, a.dealer.staff, lang, masked),
    }
