"""A dealer's outputs to act on: the call-list and fix-list workbooks of a run.

Written in the render stage of a batch run beside the dealer's report, under stable names a
report page or the index can link (:data:`CALL_LISTS_FILE`, :data:`FIX_LIST_FILE`):

* ``call_lists.xlsx``: a summary sheet (calls and expected margin per owner), then one sheet
  per owner (sales consultant or service advisor) with that owner's calls in priority order.
* ``fix_list.xlsx``: a summary sheet (records per owner and issue), then one sheet per owner
  (consultant, reception, sales manager, CRM) with the records to correct and what to do.
* ``action_plan_next.yaml``: the next coaching round's proposed action plan (the report's
  summary items), in the schema of a dealer file's ``coaching`` key, to paste into
  ``params/dealers/<ID>.yaml`` (:func:`write_next_action_plan`).

Headers and the words in cells (reasons, actions) are in the dealer's language. Phones and
names are masked unless the run asked for contact lists (``Settings.mask_personal_data`` is
false); every sheet is formula-safe (:func:`crm_analytics.data.export.write_table`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from crm_analytics.core.config import action_plan_yaml
from crm_analytics.core.files import atomic_write_text
from crm_analytics.data.export import sheet_name, sheets_by_owner, write_table
from crm_analytics.data.privacy import mask_frame
from crm_analytics.report.analysis import CALL_LISTS_FILE, FIX_LIST_FILE, DealerAnalysis
from crm_analytics.report.coaching import ACTION_PLAN_FILE, next_action_plan
from crm_analytics.report.headline import gaps_in_yuan
from crm_analytics.report.plots import label
from crm_analytics.report.sections import summary_items
from crm_analytics.report.text import fmt_date, t
from crm_analytics.report.views_quality import named_fix_list

__all__ = [
    "ACTION_PLAN_FILE",
    "CALL_LISTS_FILE",
    "FIX_LIST_FILE",
    "call_list_sheets",
    "external_list_sheet",
    "fix_list_sheets",
    "write_action_workbooks",
    "write_next_action_plan",
]


#: call-list column -> text key of its header (the order of the sheet's columns)
_CALL_COLUMNS = {
    "no": "wb_no",
    "reason": "wb_reason",
    "customer_id": "wb_customer",
    "customer_name": "wb_customer_name",
    "customer_phone": "wb_phone",
    "due_date": "wb_due",
    "detail": "wb_detail",
    "expected_margin": "wb_expected",
    "value": "wb_value",
    "likelihood": "wb_likelihood",
    "rank": "wb_rank",
    "owner_id": "wb_owner",
}
_FIX_COLUMNS = {
    "owner": "wb_owner",
    "consultant_name": "wb_owner_name",
    "issue": "wb_issue",
    "action": "wb_action",
    "table": "wb_table",
    "record_id": "wb_record",
    "customer_id": "wb_customer",
    "lead_id": "wb_lead",
    "at": "wb_at",
    "name": "wb_customer_name",
    "phone": "wb_phone",
    "other_phone": "wb_other_phone",
    "detail": "wb_detail",
    "note": "wb_note",
}


def _owner_sheet(names: dict[str, str], language: str) -> Callable[[str], str]:
    roles = {"crm": "CRM", "reception": "前台" if language == "zh" else "reception"}
    roles["sales_manager"] = "销售经理" if language == "zh" else "sales manager"

    def name(owner: str) -> str:
        if owner in names:
            return f"{owner} {names[owner]}"
        return roles.get(owner, owner)

    return name


def call_list_sheets(analysis: DealerAnalysis, language: str) -> dict[str, pd.DataFrame]:
    """The call-list workbook's sheets: summary, then one per owner, headers in ``language``.

    Masked unless the dealer's settings ask for contact lists (``mask_personal_data`` false).
    """
    calls = analysis.call_lists(masked=analysis.settings.mask_personal_data)
    calls.attrs = {}  # a copy; its rules are not written, and attrs are deep-copied on each step
    calls = calls.sort_values(["owner_id", "priority", "rank"], ascending=[True, False, True])
    calls["no"] = calls.groupby("owner_id", dropna=False).cumcount() + 1
    calls["reason"] = calls["reason"].map(lambda r: label(str(r), language))
    calls["expected_margin"] = calls["expected_margin"].round(0)
    calls["value"] = calls["value"].round(0)
    calls["likelihood"] = calls["likelihood"].round(3)
    names = analysis.staff_names()
    summary = (
        calls.groupby("owner_id", dropna=False)
        .agg(calls=("customer_id", "size"), expected=("expected_margin", "sum"))
        .reset_index()
    )
    summary.insert(1, "owner_name", summary["owner_id"].astype(str).map(names))
    summary = summary.rename(
        columns={
            "owner_id": t("wb_owner", language),
            "owner_name": t("wb_owner_name", language),
            "calls": t("wb_calls", language),
            "expected": t("wb_expected", language),
        }
    )
    table = calls[list(_CALL_COLUMNS)].rename(
        columns={c: t(k, language) for c, k in _CALL_COLUMNS.items()}
    )
    sheets = sheets_by_owner(
        table,
        t("wb_owner", language),
        summary=summary,
        summary_name=t("wb_summary", language),
        sheet_of=_owner_sheet(names, language),
        unassigned=t("wb_unassigned", language),
    )
    ext = external_list_sheet(analysis, language)
    if ext is not None:
        sheets[sheet_name(t("wb_external_lists", language), sheets)] = ext
    return sheets


def external_list_sheet(analysis: DealerAnalysis, language: str) -> pd.DataFrame | None:
    """The new names of the dealer's external lists (``analysis.sections["external_lists"]``,
    reason ``external_list``) in the call-list sheet's columns, masked unless the settings
    ask for contact lists; ``None`` without such a row."""
    ext = analysis.sections.get("external_lists") or {}
    calls = ext.get("calls")
    if calls is None or not len(calls):
        return None
    if analysis.settings.mask_personal_data:
        calls = mask_frame(calls, phone_columns=["customer_phone"], name_columns=["customer_name"])
    calls = calls.sort_values(["owner_id", "rank"]).copy()
    calls["no"] = calls.groupby("owner_id", dropna=False).cumcount() + 1
    calls["reason"] = calls["reason"].map(lambda r: label(str(r), language))
    calls["detail"] = calls["detail"].map(lambda d: label(f"list.{d}", language))
    return (
        calls[list(_CALL_COLUMNS)]
        .rename(columns={c: t(k, language) for c, k in _CALL_COLUMNS.items()})
        .reset_index(drop=True)
    )


def fix_list_sheets(analysis: DealerAnalysis, language: str) -> dict[str, pd.DataFrame]:
    """The fix-list workbook's sheets: summary (records per owner and issue), then one per
    owner, headers and actions in ``language``; masked unless contact lists were asked for."""
    fixes = named_fix_list(analysis.fix_list(masked=analysis.settings.mask_personal_data), language)
    summary = fixes.groupby(["owner", "issue"]).size().rename("records").reset_index()
    summary = summary.rename(
        columns={
            "owner": t("wb_owner", language),
            "issue": t("wb_issue", language),
            "records": t("wb_records", language),
        }
    )
    table = fixes[list(_FIX_COLUMNS)].rename(
        columns={c: t(k, language) for c, k in _FIX_COLUMNS.items()}
    )
    return sheets_by_owner(
        table,
        t("wb_owner", language),
        summary=summary,
        summary_name=t("wb_summary", language),
        sheet_of=_owner_sheet(analysis.staff_names(), language),
        unassigned="crm",
    )


def write_action_workbooks(
    analysis: DealerAnalysis, folder: str | os.PathLike[str]
) -> dict[str, Path]:
    """Write ``call_lists.xlsx`` and ``fix_list.xlsx`` of the dealer into ``folder``.

    Returns
    -------
    dict
        ``{"call_lists": path, "fix_list": path}``.
    """
    language = analysis.settings.language
    folder = Path(folder)
    # the sheets come masked (or not, for contact lists) from the analysis, with headers in
    # the dealer's language: no column is masked again here
    kw = {"phone_columns": (), "name_columns": ()}
    return {
        "call_lists": write_table(
            call_list_sheets(analysis, language), folder / CALL_LISTS_FILE, **kw
        ),
        "fix_list": write_table(fix_list_sheets(analysis, language), folder / FIX_LIST_FILE, **kw),
    }


def write_next_action_plan(
    analysis: DealerAnalysis,
    folder: str | os.PathLike[str],
    benchmark: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``action_plan_next.yaml``: the next coaching round's proposed items
    (:func:`crm_analytics.report.coaching.next_action_plan` of the report's summary items,
    gaps against the targets and the run's peer medians ``benchmark``) under a comment saying
    where to paste them, in the dealer's language; atomic."""
    language = analysis.settings.language
    gaps = gaps_in_yuan(analysis.metrics, targets=analysis.settings.targets, benchmark=benchmark)
    plan = next_action_plan(analysis, summary_items(analysis, gaps, language))
    header = t(
        "plan_file_header",
        language,
        dealer=analysis.dealer_id,
        round=fmt_date(analysis.dealer.as_of),
    )
    return atomic_write_text(action_plan_yaml(plan, header=header), Path(folder) / ACTION_PLAN_FILE)
