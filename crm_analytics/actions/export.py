"""Workbooks a CRM desk works from: one sheet per owner, safe to open in Excel or WPS.

:func:`write_workbook` writes named tables as the sheets of one ``.xlsx`` file, atomically, with
every text cell (and header) that a spreadsheet would evaluate as a formula neutralised: a
cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``
(``=HYPERLINK("http://evil", "click")`` typed into a name field of the DMS stays text).
:func:`sheets_by_owner` splits a list into one table per owner, after a summary table.

Personal data is not masked here: the caller passes tables already masked (or, for a run that
asked for contact lists, deliberately not masked), so that masking happens once, in the
function that owns the table (:meth:`crm_analytics.report.analysis.DealerAnalysis.call_lists`,
:func:`crm_analytics.metrics.quality.fix_list`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pandas as pd

from crm_analytics.core.errors import InputError
from crm_analytics.core.files import atomic_path

__all__ = [
    "FORMULA_START",
    "neutralize_formulas",
    "sheet_name",
    "sheets_by_owner",
    "write_workbook",
]

#: First characters that make a spreadsheet evaluate a text cell.
FORMULA_START: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
_SHEET_FORBIDDEN = str.maketrans("[]:*?/\\", "_______")
_SHEET_MAX = 31


def _defuse(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def neutralize_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and headers cannot run as spreadsheet formulas.

    Parameters
    ----------
    frame
        Any table.

    Returns
    -------
    pandas.DataFrame
        Text cells starting with one of :data:`FORMULA_START` get a leading ``'``; numbers,
        dates and missing values are unchanged.

    Examples
    --------
    >>> neutralize_formulas(pd.DataFrame({"a": ["=1+1", "ok", 3]}))["a"].tolist()
    ["'=1+1", 'ok', 3]
    """
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            out[col] = s.astype(object).map(_defuse)
    out.columns = [_defuse(str(c)) for c in out.columns]
    return out


def sheet_name(name: object, taken: Iterable[str] = ()) -> str:
    """An Excel sheet name for ``name``: forbidden characters replaced, at most 31 characters,
    never empty, unique among ``taken`` (case-insensitive, as Excel requires)."""
    base = str(name).translate(_SHEET_FORBIDDEN).strip().strip("'")[:_SHEET_MAX] or "sheet"
    used = {t.lower() for t in taken}
    candidate, k = base, 1
    while candidate.lower() in used:
        k += 1
        suffix = f"~{k}"
        candidate = base[: _SHEET_MAX - len(suffix)] + suffix
    return candidate


def _cells_for_excel(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates as ``YYYY-MM-DD`` text (no time of day, no timezone Excel cannot store)."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
    return out


def write_workbook(sheets: Mapping[str, pd.DataFrame], path: str | os.PathLike[str]) -> Path:
    """Write tables as the sheets of one Excel workbook, atomically and formula-safe.

    Parameters
    ----------
    sheets
        Sheet name -> table, in the order of the sheets. Names are made valid and unique
        (:func:`sheet_name`).
    path
        The ``.xlsx`` file (its folder is created; an existing file is replaced only once the
        new one is complete).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    InputError
        No table, a table that is not a DataFrame, or a path not ending in ``.xlsx``.
    """
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise InputError(f"write_workbook writes .xlsx files, got {str(path)!r}")
    if not sheets:
        raise InputError(f"{str(path)!r}: no table to write")
    prepared: dict[str, pd.DataFrame] = {}
    for name, frame in sheets.items():
        if not isinstance(frame, pd.DataFrame):
            raise InputError(
                f"{str(path)!r}: sheet {name!r} is a {type(frame).__name__}, not a table"
            )
        prepared[sheet_name(name, prepared)] = neutralize_formulas(_cells_for_excel(frame))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
            for name, frame in prepared.items():
                frame.to_excel(xw, sheet_name=name, index=False)
    return path


def sheets_by_owner(
    frame: pd.DataFrame,
    owner: str,
    *,
    summary: pd.DataFrame,
    summary_name: str,
    sheet_of: Callable[[str], str] = str,
    unassigned: str = "unassigned",
) -> dict[str, pd.DataFrame]:
    """The summary table, then one table per owner (rows without an owner under
    ``unassigned``), owners in sorted order.

    Parameters
    ----------
    frame
        The list, one row per item, with an ``owner`` column.
    owner
        Column holding the owner's id.
    summary, summary_name
        The first sheet and its name.
    sheet_of
        Owner id -> sheet name (e.g. the id and the staff member's name).
    unassigned
        The owner of rows without one.
    """
    if owner not in frame.columns:
        raise InputError(f"the list has no owner column {owner!r}; columns: {list(frame.columns)}")
    out = {summary_name: summary}
    who = frame[owner].astype("string").fillna(unassigned)
    for key in sorted(who.unique()):
        out[sheet_name(sheet_of(str(key)), out)] = frame.loc[who == key].reset_index(drop=True)
    return out
