"""Fix lists: the failing records sent back to whoever can correct them, and their export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.data.export import write_table
from crm_analytics.data.linkage import PHONE_MASK_CHAR
from crm_analytics.metrics.quality.common import _mask_frame
from crm_analytics.metrics.quality.params import QualityParams
from crm_analytics.metrics.quality.registry import fix_of
from crm_analytics.metrics.quality.scorecard import Scorecard, quality_scorecard

FIX_COLUMNS = [
    "owner",
    "consultant_name",
    "issue",
    "action",
    "table",
    "record_id",
    "customer_id",
    "lead_id",
    "at",
    "name",
    "phone",
    "other_phone",
    "detail",
    "note",
    "action_zh",
    "note_zh",
]

#: the note of a fix-list row whose phone the DMS masked before export (English, Chinese)
MASKED_PHONE_NOTE = (
    "phone masked in the DMS export: this record cannot be linked by phone (matched by name, "
    "time and consultant only); the fix needs the unmasked number from the DMS",
    "DMS 导出的电话已打码：该记录无法按电话关联（仅按姓名、时间和顾问匹配），整改需在 DMS 中查看完整号码",
)


def fix_list(
    dealer: DealerData,
    *,
    params: QualityParams | None = None,
    contacts: bool = False,
    scorecard: Scorecard | None = None,
) -> pd.DataFrame:
    """The records to send back for correction, one row per record and issue, per owner.

    ``owner`` is the consultant who holds the record (the lead's consultant, the consultant of
    the customer's latest lead, or the consultant named at the front desk), ``reception`` for
    front-desk rows, ``sales_manager`` for leads without a consultant, or ``crm`` for records
    nobody holds and rows rejected at load time. Each row says what to do (``action``).

    Parameters
    ----------
    dealer
        A validated dealer.
    params
        Rule parameters (default :class:`QualityParams`).
    contacts
        Show full names and phones: only for lists handed to staff who will call customers.
        By default they are masked.
    scorecard
        A scorecard computed earlier with ``mask=False`` (computed here when omitted).

    Returns
    -------
    DataFrame
        :data:`FIX_COLUMNS`, sorted by owner, issue and time. ``note`` / ``note_zh`` say when
        the record's phone was masked by the DMS before export (such phones are accepted; the
        record could not be linked by phone). Write it with :func:`export_fix_list`.
    """
    sc = (
        scorecard if scorecard is not None else quality_scorecard(dealer, params=params, mask=False)
    )
    if sc.masked:
        raise InputError(
            "fix_list needs an unmasked scorecard: pass quality_scorecard(dealer, mask=False)"
        )
    fl = sc.flags
    # with an unmasked scorecard an asterisk can only come from the DMS export itself
    pre_masked = pd.Series(False, index=fl.index)
    for col in ("phone", "other_phone"):
        pre_masked |= fl[col].astype("string").str.contains(PHONE_MASK_CHAR, regex=False, na=False)
    fixes = [
        fix_of(t, i) for t, i in zip(fl["table"].astype(str), fl["rule"].astype(str), strict=True)
    ]
    role = pd.Series([f.owner if f else pd.NA for f in fixes], index=fl.index, dtype="string")
    # a consultant's issue goes to the consultant holding the record, any other to its role
    owner = fl["consultant_id"].astype("string").where((role == "consultant").fillna(False), role)
    names = (
        dealer.staff.set_index("staff_id")["name"] if len(dealer.staff) else pd.Series(dtype=str)
    )
    out = pd.DataFrame(
        {
            "owner": owner.fillna("crm").to_numpy(),
            "issue": fl["rule"].to_numpy(),
            "action": pd.Series([f.en if f else pd.NA for f in fixes], dtype=object).to_numpy(),
            "table": fl["table"].to_numpy(),
            "record_id": fl["row_id"].to_numpy(),
            "customer_id": fl["customer_id"].to_numpy(),
            "lead_id": fl["lead_id"].to_numpy(),
            "at": pd.to_datetime(fl["at"], errors="coerce").to_numpy(),
            "name": fl["name"].to_numpy(),
            "phone": fl["phone"].to_numpy(),
            "other_phone": fl["other_phone"].to_numpy(),
            "detail": fl["detail"].astype("string").to_numpy(),
            "note": np.where(pre_masked, MASKED_PHONE_NOTE[0], ""),
            "action_zh": pd.Series([f.zh if f else pd.NA for f in fixes], dtype=object).to_numpy(),
            "note_zh": np.where(pre_masked, MASKED_PHONE_NOTE[1], ""),
        }
    )
    out.insert(1, "consultant_name", out["owner"].map(names))
    out = (
        out[FIX_COLUMNS]
        .sort_values(["owner", "issue", "at", "record_id"], kind="stable", na_position="last")
        .reset_index(drop=True)
    )
    if not contacts:
        out = _mask_frame(out)
    out.attrs["contact"] = bool(contacts)
    return out


def fix_list_in(fixes: pd.DataFrame, language: str) -> pd.DataFrame:
    """The fix list (:func:`fix_list`) with ``action`` and ``note`` in ``language`` (``"zh"``
    or ``"en"``) and without the other language's columns (``action_zh``, ``note_zh``); an
    issue without a registered fix keeps an empty ``action``."""
    out = fixes.copy()
    if language == "zh":
        out["action"] = out["action_zh"]
        out["note"] = out["note_zh"]
    return out.drop(columns=["action_zh", "note_zh"])


def export_fix_list(
    fixes: pd.DataFrame, path: str | Path, *, format: str | None = None
) -> list[Path]:
    """Write a fix list per owner: one Excel sheet per owner, or one CSV file per owner.

    Parameters
    ----------
    fixes
        The output of :func:`fix_list`.
    path
        ``.xlsx`` file (one sheet per owner, plus a ``summary`` sheet), or a folder for CSV
        files named ``fix_<owner>.csv`` (UTF-8 with BOM so that Excel shows Chinese correctly).
    format
        ``"xlsx"`` or ``"csv"``; inferred from ``path`` when omitted.

    Returns
    -------
    list of Path
        The files written, through :func:`crm_analytics.data.export.write_table`: formula-like
        text neutralised, names and phones masked unless ``fixes.attrs["contact"]`` is true.
    """
    path = Path(path)
    fmt = format or ("xlsx" if path.suffix.lower() in {".xlsx", ".xls"} else "csv")
    if fmt not in {"xlsx", "csv"}:
        raise InputError(f"export format must be 'xlsx' or 'csv', got {fmt!r}")
    missing = [c for c in ("owner", "issue") if c not in fixes.columns]
    if missing:
        raise InputError(f"fix list lacks column(s) {missing}; pass the output of fix_list(dealer)")
    summary = fixes.groupby(["owner", "issue"]).size().rename("records").reset_index()
    kw = {
        "contact": bool(fixes.attrs.get("contact", False)),
        "phone_columns": ["phone", "other_phone"],
        "name_columns": ["name"],  # consultant_name is the staff member the list goes to
    }
    parts = dict(iter(fixes.groupby("owner", sort=True)))
    if fmt == "xlsx":
        sheets = {"summary": summary, **{str(o): part for o, part in parts.items()}}
        return [write_table(sheets, path, format="xlsx", **kw)]
    written = []
    for owner, part in parts.items():
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(owner))
        written.append(write_table(part, path / f"fix_{safe}.csv", format="csv", **kw))
    written.append(write_table(summary, path / "fix_summary.csv", format="csv", **kw))
    return written
