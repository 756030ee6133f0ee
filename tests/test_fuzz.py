"""A fuzzer for DMS exports (:func:`crm_analytics.data.dms.read_dms_export`).

Each case writes a small export folder (customers, and leads or orders or neither; CSV in one
of several encodings, or .xlsx) with permuted headers (English or Chinese), dates and amounts
in the formats DMSs use and some they should not, duplicated and blank rows, then damages one
file (random byte changes, truncation) or not. Invariants:

* the reader returns a dealer or raises an error of the package's hierarchy
  (:class:`~crm_analytics.core.errors.CRMAnalyticsError`), never anything else;
* for every table, rows in the file (counted independently: Python's ``csv`` module, or
  openpyxl in its normal mode) = rows kept + rows quarantined, each quarantined row with a
  reason, and its ``source_row`` a physical row of a data record in the file.

The bounded run here is deterministic (``derandomize=True``); ``bench/bench_fuzz.py`` runs
thousands of cases with :func:`run_case`.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_analytics.core.errors import CRMAnalyticsError
from crm_analytics.data import dms

MAPPING = dms.load_mapping()
TABLES = ("customers", "leads", "orders")
AS_OF = pd.Timestamp("2017-06-30")

DATES = [
    "2016-03-05",
    "2016/3/5",
    "2016.3.5",
    "2016年3月5日",
    "20160305",
    "2016-03-05 14:30",
    "2016-03-05T14:30:05",
    "42434",
    "２０１６－０３－０５",
    "2016-02-30",
    "last tuesday",
    "2099-01-01",
    "",
]
AMOUNTS = [
    "12,345.00",
    "12345元",
    "￥12,345",
    "1.2万",
    "345000",
    "1.234,50",
    "about 3k",
    "-3500",
    "",
]
BOOLS = ["是", "否", "Y", "N", "true", "0", "maybe", ""]
TEXT = ["张伟", "李娜", "王强", '=HYPERLINK("x")', "<script>x</script>", "a,b", 'say "hi"', "", " "]
CHANNELS = ["网络询价", "展厅自然进店", "walk_in", "referral", "tv"]
STATUS = {"leads": ["won", "defeated", "open", "赢单", "??"], "orders": ["delivered", "ordered"]}
#: weighted towards what Chinese DMSs write; the others must be refused, never misread
ENCODINGS = ["utf-8", "utf-8", "utf-8-sig", "gb18030", "gb18030", "big5", "shift_jis", "utf-16"]


def _header(table: str, col: str, chinese: bool) -> str:
    aliases = (MAPPING["tables"][table].get("columns") or {}).get(col) or []
    return str(aliases[0]) if chinese and aliases else col


def _cell(draw, table: str, col: str, kind: str, n_customers: int, n_leads: int) -> str:
    if col == "customer_id":
        return f"C{draw(st.integers(0, max(n_customers, 1)))}"
    if col == "lead_id":
        return f"L{draw(st.integers(0, max(n_leads, 1)))}"
    if col == "channel":
        return draw(st.sampled_from(CHANNELS))
    if col == "status":
        return draw(st.sampled_from(STATUS.get(table, ["ok"])))
    if kind == "datetime":
        return draw(st.sampled_from(DATES))
    if kind in ("float", "int"):
        return draw(st.sampled_from(AMOUNTS))
    if kind == "bool":
        return draw(st.sampled_from(BOOLS))
    return draw(st.sampled_from(TEXT))


@st.composite
def export_case(draw) -> dict[str, Any]:
    """A fuzz case: table -> (header, rows), file formats and the damage to apply."""
    from crm_analytics.data.store import column_kinds, column_nullable

    present = ["customers", *sorted(draw(st.sets(st.sampled_from(TABLES[1:]), max_size=1)))]
    n = {t: draw(st.integers(0, 6)) for t in TABLES}
    n["customers"] = max(n["customers"], 1)
    chinese = draw(st.booleans())
    tables, canonical = {}, {}
    for table in present:
        kinds = {c: k for c, k in column_kinds(table).items() if c != "dealer_id"}
        cols = draw(st.permutations(list(kinds)))
        optional = [c for c in cols if column_nullable(table)[c]]
        absent = draw(st.lists(st.sampled_from(optional), max_size=2)) if optional else []
        cols = [c for c in cols if c not in absent]  # optional columns may be absent
        rows = []
        for i in range(n[table]):
            row = []
            for c in cols:
                if c == TABLE_KEYS[table]:
                    row.append(f"{TABLE_KEYS[table][0].upper()}{i}")
                else:
                    row.append(_cell(draw, table, c, kinds[c], n["customers"], n["leads"]))
            rows.append(row)
        if rows and draw(st.booleans()):  # duplicated rows
            rows += [rows[draw(st.integers(0, len(rows) - 1))]]
        blanks = draw(st.lists(st.integers(0, len(rows)), max_size=3))
        for at in sorted(blanks, reverse=True):  # blank rows: empty, spaces or commas
            rows.insert(at, draw(st.sampled_from([[], [" "], [""] * len(cols)])))
        tables[table] = ([_header(table, c, chinese) for c in cols], rows)
        canonical[table] = cols
    return {
        "tables": tables,
        "columns": canonical,
        "format": {t: draw(st.sampled_from(["csv", "csv", "xlsx"])) for t in present},
        "encoding": draw(st.sampled_from(ENCODINGS)),
        "crlf": draw(st.booleans()),
        "target": draw(st.sampled_from(present)),
        "damage": draw(st.sampled_from(["none", "none", "bytes", "truncate"])),
        "positions": draw(st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=4)),
        "byte_values": draw(st.lists(st.integers(0, 255), min_size=4, max_size=4)),
    }


TABLE_KEYS = {"customers": "customer_id", "leads": "lead_id", "orders": "order_id"}


def _csv_bytes(header: list[str], rows: list[list[str]], encoding: str, crlf: bool) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode(encoding, errors="replace")


def _xlsx_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append([v if v != "" else None for v in row] or [None])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def write_case(folder: Path, case: dict[str, Any]) -> dict[str, Path]:
    """Write the case's export folder; returns table -> file."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for table, (header, rows) in case["tables"].items():
        if case["format"][table] == "xlsx":
            data, path = _xlsx_bytes(header, rows), folder / f"{table}.xlsx"
        else:
            data = _csv_bytes(header, rows, case["encoding"], case["crlf"])
            path = folder / f"{table}.csv"
        if table == case["target"] and data:
            if case["damage"] == "truncate":
                data = data[: int(case["positions"][0] * len(data))]
            elif case["damage"] == "bytes":
                raw = bytearray(data)
                for pos, value in zip(case["positions"], case["byte_values"], strict=False):
                    raw[int(pos * len(raw))] = value
                data = bytes(raw)
        path.write_bytes(data)
        files[table] = path
    return files


def _is_blank(cells: list[Any]) -> bool:
    return all(v is None or str(v).strip(" \t\r\n\x0b\x0c") == "" for v in cells)


def reference_rows(path: Path) -> list[int]:
    """Physical rows of the data records of a file that the reader accepted, counted with
    another parser (Python's csv module; openpyxl in normal mode)."""
    if path.suffix == ".xlsx":
        sheet = openpyxl.load_workbook(path, data_only=True).worksheets[0]
        rows = [
            i
            for i, row in enumerate(sheet.iter_rows(values_only=True), 1)
            if not _is_blank(list(row))
        ]
        return rows[1:]
    data = path.read_bytes()
    for codec in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(codec)
            break
        except UnicodeDecodeError:
            continue
    try:
        return _csv_rows(text, strict=True)
    except csv.Error:
        # a quote in the middle of a quoted cell (byte damage): strict CSV has no row count
        # for it; the lenient reading (the quote taken as text) is the one the reader follows
        return _csv_rows(text, strict=False)


def _csv_rows(text: str, *, strict: bool) -> list[int]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=strict)
    rows, line = [], 0
    for record in reader:
        if not _is_blank(record):
            rows.append(line + 1)
        line = reader.line_num
    return rows[1:]


def _kind(message: str) -> str:
    """A short label of an error message, for the bench's tally of refusals."""
    for key in (
        "implausible",
        "neither UTF-8",
        "NUL bytes",
        "not a readable .xlsx",
        "well-formed",
        "lacks required",
        "duplicated header",
        "several headers",
        "empty",
        "blank",
    ):
        if key in message:
            return key
    return message[:60]


def _check_no_mojibake(dealer: Any, case: dict[str, Any]) -> None:
    """Names read from an undamaged CSV file are names that were written (never mojibake)."""
    table = "customers"
    if case["format"][table] != "csv" or "name" not in case["columns"][table]:
        return
    if case["damage"] != "none" and case["target"] == table:
        return
    at = case["columns"][table].index("name")
    enc = case["encoding"]
    written = {
        str(r[at]).encode(enc, errors="replace").decode(enc).strip()
        for r in case["tables"][table][1]
        if len(r) > at
    }
    got = set(dealer.customers["name"].dropna().astype(str))
    assert got <= written, (enc, sorted(got - written))


def run_case(folder: Path, case: dict[str, Any]) -> str:
    """Write and read one case and check the invariants.

    Returns
    -------
    str
        ``"read"``, or the package error the reader raised and a label of its message.

    Raises
    ------
    AssertionError
        An invariant failed; any exception outside the package's hierarchy propagates.
    """
    files = write_case(folder, case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            dealer = dms.read_dms_export(folder, mapping=MAPPING, dealer_id="D001", as_of=AS_OF)
        except CRMAnalyticsError as err:
            kind = _kind(str(err))
            clean = case["damage"] == "none" or case["target"] not in case["format"]
            if clean and case["encoding"] in ("utf-8", "utf-8-sig", "gb18030"):
                # a clean UTF-8 or GB18030 export is never refused for its encoding
                assert kind not in ("implausible", "neither UTF-8"), str(err)
            return f"{type(err).__name__}: {kind}"
    _check_no_mojibake(dealer, case)
    summary = dealer.summary().set_index("table")
    q = dealer.quarantine
    assert q["rule"].astype(str).str.len().gt(0).all(), "a quarantined row without a reason"
    for table, path in files.items():
        expected = reference_rows(path)
        s = summary.loc[table]
        assert s["rows_in"] == len(expected) == s["kept"] + s["quarantined"], (
            table,
            dict(s),
            len(expected),
        )
        rows = set(q.loc[q["table"] == table, "source_row"].astype(int))
        assert rows <= set(expected), (table, sorted(rows - set(expected)))
    return "read"


@settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=export_case())
def test_fuzz_dms_exports(tmp_path_factory: pytest.TempPathFactory, case: dict) -> None:
    run_case(tmp_path_factory.mktemp("fuzz"), case)
