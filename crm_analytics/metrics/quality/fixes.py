"""Fix lists: the failing records sent back to whoever can correct them, and their export."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.data.export import write_table
from crm_analytics.data.linkage import PHONE_MASK_CHAR
from crm_analytics.metrics.quality.common import _mask_frame
from crm_analytics.metrics.quality.continuity import MATCHED_BY
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


#: Codes inside the rules' details, in Chinese: lead stages, phone kinds, and the load-time
#: checks that quarantine a row (``data.validation``; a pandera check by the name before its
#: arguments).
_CODES_ZH = {
    "visit": "到店",
    "test_drive": "试驾",
    "quote": "报价",
    "order": "订单",
    "delivery": "交车",
    "placeholder": "占位号码",
    "invalid": "无效号码",
    "null_key": "编号为空",
    "duplicate_key": "编号重复",
    "other_dealer": "属于其他经销商",
    "coerce_dtype": "格式无法识别",
    "not_nullable": "必填项为空",
    "isin": "取值不在允许范围",
    "str_matches": "格式不符",
    "str_length": "长度不符",
    "greater_than": "数值过小",
    "greater_than_or_equal_to": "数值过小",
    "less_than": "数值过大",
    "less_than_or_equal_to": "数值过大",
    "in_range": "数值超出范围",
    "unique": "重复",
}


#: How a front-desk arrival was matched to a known customer, in Chinese, keyed by the English
#: words of the detail (``continuity.MATCHED_BY``).
_MATCHED_BY_ZH = {
    MATCHED_BY[how]: zh
    for how, zh in {
        "phone": "电话",
        "phone_one_digit": "仅差一位的电话",
        "full_name_and_lead": "全名及未结线索",
        "surname_lead_and_touch_that_day": "姓氏、未结线索及当天接触",
    }.items()
}


def _code_zh(code: str) -> str:
    return _CODES_ZH.get(code, _CODES_ZH.get(code.split("(", 1)[0], code))


#: Each rule's detail (``metrics/quality``'s rules write one line of evidence in English) by
#: pattern, in Chinese; ids, dates, numbers and data values are kept as they are.
_DETAILS_ZH: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = tuple(
    (re.compile(pattern, re.DOTALL), fn)
    for pattern, fn in (
        (r"party of (\S+)", lambda m: f"同行 {m[1]} 人"),
        (
            r"known customer, matched by (.+)",
            lambda m: f"已有客户，按{_MATCHED_BY_ZH.get(m[1], m[1])}匹配",
        ),
        (
            r"front-desk phone \(other_phone\) of entry (\S+) is one digit away",
            lambda m: f"前台登记 {m[1]} 的电话（其他电话列）与此号码仅差一位",
        ),
        (r"DMS visit with no front-desk arrival", lambda m: "DMS 有到店记录，前台无对应来店登记"),
        (r"phone of a staff member", lambda m: "员工本人的电话"),
        (r"placeholder name", lambda m: "占位姓名"),
        (r"last follow-up (\S+)", lambda m: f"最近一次跟进 {m[1]}"),
        (
            r"(\w+): no (\w+) before (\w+) (\S+)",
            lambda m: f"缺{_code_zh(m[2])}：{_code_zh(m[3])} {m[4]} 之前无{_code_zh(m[2])}记录",
        ),
        (
            r"DMS: (\S+) visits, (\S+) deliveries, (\S+) service visits",
            lambda m: f"DMS：到店 {m[1]} 次，交车 {m[2]} 次，售后进厂 {m[3]} 次",
        ),
        (r"no record; about (\S+) expected", lambda m: f"无记录；按常规约应有 {m[1]} 条"),
        (r"duplicate of (\S+)", lambda m: f"与 {m[1]} 重复"),
        (r"copy of (\S+)", lambda m: f"与工单 {m[1]} 重复"),
        (r"lead (\S+)", lambda m: f"线索 {m[1]}"),
        (
            r"(.+?) on (\S+) = (.*)",
            lambda m: f"载入时隔离：{_code_zh(m[1])}（列 {m[2]} = {m[3]}）",
        ),
        (r"(placeholder|invalid)", lambda m: _code_zh(m[1])),
    )
)


def detail_zh(detail: str) -> str:
    """A fix-list row's detail in Chinese (a detail of no known pattern, such as a bare id or
    date, is returned as it is)."""
    for pattern, fn in _DETAILS_ZH:
        m = pattern.fullmatch(detail)
        if m:
            return fn(m)
    return detail


def fix_list_in(fixes: pd.DataFrame, language: str) -> pd.DataFrame:
    """The fix list (:func:`fix_list`) with ``action``, ``note`` and ``detail`` in ``language``
    (``"zh"`` or ``"en"``) and without the other language's columns (``action_zh``,
    ``note_zh``); an issue without a registered fix keeps an empty ``action``."""
    out = fixes.copy()
    if language == "zh":
        out["action"] = out["action_zh"]
        out["note"] = out["note_zh"]
        codes, uniq = pd.factorize(out["detail"])  # a few distinct details over many rows
        zh = np.array([detail_zh(str(d)) for d in uniq] + [pd.NA], dtype=object)
        out["detail"] = pd.Series(zh[codes], index=out.index, dtype="string")
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
