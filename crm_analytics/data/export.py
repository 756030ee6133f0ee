"""The one way tables leave the package as files: CSV or Excel, safe to open.

Every exporter (call lists, fix lists, ...) writes through :func:`write_table`, so every file
gets the same two protections:

* **Spreadsheet (CSV/formula) injection**: a text cell that starts with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return would run as a formula when the file is opened in Excel
  or WPS (``=HYPERLINK("http://evil", "click")`` typed into a staff name by anyone who can edit
  the DMS). Such cells are prefixed with ``'`` and shown as text. Numbers stay numbers.
* **Personal data**: phones and names are masked (:mod:`crm_analytics.data.privacy`) unless
  the caller asks for a contact list (``contact=True``), which only lists handed to the staff
  who make the calls should be. Masking is idempotent, so a frame masked upstream stays as it
  is.

CSV files are UTF-8 with BOM (Excel shows Chinese correctly); Excel cells hold dates as
``YYYY-MM-DD`` text; files are written atomically. :func:`sheets_by_owner` splits a list into
one sheet per owner after a summary sheet (the call-list and fix-list workbooks).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from crm_analytics.core.errors import InputError
from crm_analytics.core.files import atomic_path
from crm_analytics.data.privacy import mask_frame

__all__ = [
    "FORMULA_START",
    "neutralize_formulas",
    "sheet_name",
    "sheets_by_owner",
    "write_table",
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
        Text cells starting with one of :data:`FORMULA_START` get a leading ``'``; other cells
        (numbers, dates, missing values) are unchanged.

    Examples
    --------
    >>> neutralize_formulas(pd.DataFrame({"a": ['=HYPERLINK("x")', "ok"]}))["a"].tolist()
    ['\\'=HYPERLINK("x")', 'ok']
    """
    out = frame.copy()
    for j in range(out.shape[1]):
        s = out.iloc[:, j]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            values = s.tolist()
            if any(isinstance(v, str) and v.startswith(FORMULA_START) for v in values):
                out.isetitem(
                    j, pd.Series([_defuse(v) for v in values], index=s.index, dtype=object)
                )
            elif s.dtype != object:
                out.isetitem(j, s.astype(object))
    out.columns = [_defuse(c) for c in out.columns]
    return out


def sheet_name(name: object, taken: Iterable[str] = ()) -> str:
    """An Excel sheet name for ``name``: forbidden characters replaced, at most 31
    characters, never empty, and unique among ``taken`` (case-insensitive, as Excel wants)."""
    base = str(name).translate(_SHEET_FORBIDDEN).strip().strip("'")[:_SHEET_MAX] or "sheet"
    used = {t.lower() for t in taken}
    candidate, k = base, 1
    while candidate.lower() in used:
        k += 1
        suffix = f"~{k}"
        candidate = base[: _SHEET_MAX - len(suffix)] + suffix
    return candidate


def _prepare(
    frame: pd.DataFrame,
    *,
    contact: bool,
    phone_columns: Iterable[str] | None,
    name_columns: Iterable[str] | None,
) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"write_table: {type(frame).__name__} is not a table (a DataFrame)")
    # a file holds no attrs; without them pandas does not deep-copy them on every column taken
    frame = frame.copy(deep=False)
    frame.attrs = {}
    if not contact:
        phones = None if phone_columns is None else [c for c in phone_columns if c in frame]
        names = None if name_columns is None else [c for c in name_columns if c in frame]
        frame = mask_frame(frame, phone_columns=phones, name_columns=names)
    return neutralize_formulas(frame)


def _dates_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates as ``YYYY-MM-DD`` text for Excel (no time of day, no timezone it cannot store)."""
    cols = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
    if not cols:
        return frame
    out = frame.copy()
    for col in cols:
        out[col] = out[col].dt.strftime("%Y-%m-%d")
    return out


def write_table(
    frames: pd.DataFrame | Mapping[str, pd.DataFrame],
    path: str | os.PathLike[str],
    *,
    contact: bool = False,
    phone_columns: Iterable[str] | None = None,
    name_columns: Iterable[str] | None = None,
    format: str | None = None,
) -> Path:
    """Write a table (CSV or Excel) or several tables (Excel sheets), masked and defused.

    Parameters
    ----------
    frames
        One table, or sheet name -> table (Excel only; sheet names are made valid and unique,
        see :func:`sheet_name`).
    path
        Target file; its folder is created. The file is replaced atomically.
    contact
        Keep full phones and names: only for contact lists handed to the staff who make the
        calls. By default they are masked.
    phone_columns, name_columns
        The columns holding phones and personal names (those absent from a table are skipped).
        Default: columns named ``phone``/``*_phone`` and ``name``/``*_name``/``pinyin``, as in
        :func:`crm_analytics.data.privacy.mask_frame`; pass them explicitly when a ``*_name``
        column is not a customer's name.
    format
        ``"csv"`` or ``"xlsx"``; inferred from the suffix of ``path`` when omitted.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    InputError
        An unsupported format, or several tables for a CSV file.
    """
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in ("csv", "xlsx"):
        raise InputError(
            f"cannot export {str(path)!r} as {fmt or 'a file without suffix'!r}: use .csv or .xlsx"
        )
    kw = {"contact": contact, "phone_columns": phone_columns, "name_columns": name_columns}
    if fmt == "csv":
        if not isinstance(frames, pd.DataFrame):
            raise InputError(
                f"{str(path)!r}: a CSV file holds one table; write several tables as .xlsx "
                "sheets or as one CSV file each"
            )
        safe = _prepare(frames, **kw)
        with atomic_path(path) as tmp:
            safe.to_csv(tmp, index=False, encoding="utf-8-sig")
        return path
    sheets = {"all": frames} if isinstance(frames, pd.DataFrame) else dict(frames)
    if not sheets:
        raise InputError(f"{str(path)!r}: no table to write")
    prepared: dict[str, pd.DataFrame] = {}
    for name, frame in sheets.items():
        if not isinstance(frame, pd.DataFrame):
            raise InputError(
                f"{str(path)!r}: sheet {name!r} is a {type(frame).__name__}, not a table"
            )
        prepared[sheet_name(name, prepared)] = _prepare(_dates_as_text(frame), **kw)
    with atomic_path(path) as tmp:
        _write_xlsx(prepared, tmp)
    return path


def _cell(value: object) -> object:
    """A cell value xlsxwriter writes as itself: text, number, bool or blank (``None``)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, bool, int)):
        return value
    return str(value)


def _column_values(col: pd.Series) -> list[object]:
    if pd.api.types.is_integer_dtype(col) and not col.isna().any():
        return col.astype("int64").tolist()
    if pd.api.types.is_float_dtype(col) or pd.api.types.is_integer_dtype(col):
        return [v if math.isfinite(v) else None for v in col.astype("float64").tolist()]
    return [_cell(v) for v in col.tolist()]


#: characters two columns wide in a spreadsheet (CJK and everything above it)
_WIDE = re.compile("[\u2e80-\U0010ffff]")


def _display_width(text: str) -> int:
    return len(text) + len(_WIDE.findall(text))


def _write_xlsx(sheets: Mapping[str, pd.DataFrame], path: Path) -> None:
    """Write prepared (masked, defused) tables as the sheets of one workbook: a bold, frozen
    header row with filters, columns as wide as their content (at most 50 characters).

    Cells are written by type: text always as text (never as a formula or a link), numbers as
    numbers, missing values blank. xlsxwriter writes a dealer's workbooks 1.7-2.6 times as
    fast as openpyxl through pandas (``bench/bench_render_parts.py``: 105 sheets, 69,000-148,000
    cells for a 20,000-customer dealer)."""
    import xlsxwriter  # Excel export only

    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    head = book.add_format({"bold": True, "bg_color": "#F2F2F2", "bottom": 1})
    try:
        for name, frame in sheets.items():
            ws = book.add_worksheet(name)
            headers = [str(c) for c in frame.columns]
            ws.write_row(0, 0, headers, head)
            for j in range(frame.shape[1]):
                values = _column_values(frame.iloc[:, j])
                ws.write_column(1, j, values)
                sample = [_display_width(str(v)) for v in values[:200] if v is not None]
                width = max([_display_width(headers[j]), *sample], default=8)
                ws.set_column(j, j, min(max(width, 6), 50) + 2)
            if headers:
                ws.freeze_panes(1, 0)
                ws.autofilter(0, 0, len(frame), len(headers) - 1)
    finally:
        book.close()


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
    ``unassigned``), owners in sorted order: the sheets of a workbook for :func:`write_table`.

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
