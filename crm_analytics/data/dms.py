"""Read a dealer's DMS export: a folder of CSV or ``.xlsx`` files, one per table.

Headers may be Chinese or canonical English; headers, file names and categorical values are
mapped by a YAML mapping, ``params/dms_mapping.yaml`` by default (found like every parameter
file, see :mod:`crm_analytics.core.config`): edit a copy of it and pass it as ``mapping=`` to
adapt to another DMS. Every row goes through
:func:`crm_analytics.data.validation.build_dealer`, so each is kept or quarantined.
"""

from __future__ import annotations

import csv
import datetime as _dt
import os
import re
import unicodedata
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from crm_analytics.core.config import find_params, read_yaml
from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.core.schema import TABLE_NAMES, TABLES, columns
from crm_analytics.data.store import column_kinds, column_nullable
from crm_analytics.data.validation import EVENT_TIMES, QUARANTINE_COLUMNS, build_dealer

__all__ = [
    "DMSExportWarning",
    "DEFAULT_MAPPING",
    "load_mapping",
    "parse_amounts",
    "parse_booleans",
    "parse_dates",
    "read_dms_export",
    "read_name_list",
]

#: Name of the shipped DMS mapping in ``params/``.
DEFAULT_MAPPING = "dms_mapping"


class DMSExportWarning(UserWarning):
    """A DMS export was read with a caveat (unmapped columns dropped, files ignored, ...)."""


# ---------------------------------------------------------------------------------------------
# Vectorized parsers (DMS cells arrive as strings)
# ---------------------------------------------------------------------------------------------

_YMD = (
    r"^(?P<y>\d{4})-(?P<m>\d{1,2})(?:-(?P<d>\d{1,2}))?"
    r"(?:[ T]+(?P<H>\d{1,2}):(?P<M>\d{1,2})(?::(?P<S>\d{1,2})(?:\.\d+)?)?)?$"
)
_SERIAL = r"^\d{5}(?:\.\d+)?$"
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


def _strings(values: pd.Series) -> tuple[pa.Array, np.ndarray]:
    """Cells as a trimmed Arrow string array (RE2 kernels are vectorized) and the blank mask."""
    arr = pa.array(values.astype("string"), type=pa.large_string(), from_pandas=True)
    arr = pc.utf8_trim_whitespace(arr)
    blank = pc.fill_null(pc.equal(arr, ""), True).to_numpy(zero_copy_only=False)
    return arr, np.asarray(blank, dtype=bool)


def _mask(arr: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def parse_dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse DMS date strings, vectorized (Arrow RE2 kernels).

    Accepts ``2016-03-05``, ``2016/3/5``, ``2016.3.5``, ``2016年3月5日``, ``20160305``, year-month
    (``2016-03``, ``2016年3月`` -> first of the month), each optionally with a time
    (``14:30`` or ``14:30:05``), ISO ``T`` separators, and Excel serial day numbers (``42434``,
    ``42434.5``).

    Returns
    -------
    parsed, failed
        ``datetime64[us]`` values (NaT for blank cells) and a boolean mask of non-blank cells
        that did not parse (never silently NaT).
    """
    arr, blank = _strings(values)
    arr = pc.utf8_normalize(arr, "NFKC")  # full-width digits, colons and slashes
    out = np.full(len(arr), np.datetime64("NaT"), dtype="datetime64[us]")
    pending = ~blank
    # fast path: common zero-padded layouts of fixed length; Arrow's strptime would roll
    # 2016-02-30 over to March, so the month and day it read must equal the text's
    lengths = pc.utf8_length(arr)
    for fmt, length in _FAST_FORMATS:
        if not pending.any():
            break
        sample = arr.filter(pa.array(pending)).slice(0, 200)
        if not pc.any(
            pc.is_valid(pc.strptime(sample, format=fmt, unit="s", error_is_null=True))
        ).as_py():
            continue  # no pending cell of the sample has this layout
        stamp = pc.strptime(arr, format=fmt, unit="s", error_is_null=True)
        valid = pc.and_(pc.is_valid(stamp), pc.equal(lengths, length))
        same = valid
        fields = [(pc.month, 5), (pc.day, 8), (pc.hour, 11), (pc.minute, 14), (pc.second, 17)]
        for part, at in fields[: {10: 2, 16: 4, 19: 5}[length]]:
            text = pc.cast(
                pc.if_else(valid, pc.utf8_slice_codeunits(arr, at, at + 2), "0"), pa.int64()
            )
            same = pc.and_(same, pc.equal(part(stamp), text))
        good = pending & _mask(same)
        if good.any():
            out[good] = stamp.to_numpy(zero_copy_only=False)[good].astype("datetime64[us]")
            pending &= ~good
    if pending.any():
        out[pending] = _parse_dates_slow(arr.filter(pa.array(pending)))
    parsed = pd.Series(out, index=values.index)
    failed = pd.Series(~blank & np.isnat(out), index=values.index)
    return parsed, failed


_FAST_FORMATS = (
    ("%Y-%m-%d", 10),
    ("%Y-%m-%d %H:%M:%S", 19),
    ("%Y-%m-%d %H:%M", 16),
    ("%Y/%m/%d", 10),
    ("%Y/%m/%d %H:%M", 16),
    ("%Y/%m/%d %H:%M:%S", 19),
)


def _parse_dates_slow(arr: pa.Array) -> np.ndarray:
    """Every accepted layout, via RE2 normalisation and component extraction."""
    norm = pc.replace_substring_regex(arr, r"^(\d{4})\.(\d{1,2})\.(\d{1,2})", r"\1-\2-\3")
    norm = pc.replace_substring_regex(norm, r"^(\d{4})(\d{2})(\d{2})$", r"\1-\2-\3")
    norm = pc.replace_substring_regex(norm, r"\s*[年月/]\s*", "-")
    norm = pc.replace_substring_regex(norm, r"\s*[日号]\s*", " ")
    norm = pc.replace_substring(norm, "：", ":")
    norm = pc.utf8_rtrim(pc.utf8_trim_whitespace(norm), characters="-")
    parts = pc.extract_regex(norm, _YMD)
    has = _mask(pc.is_valid(parts))
    out = np.full(len(arr), np.datetime64("NaT"), dtype="datetime64[us]")
    if has.any():
        keep = pa.array(has)
        f = {}
        for name, default in (
            ("y", "0"),
            ("m", "1"),
            ("d", "1"),
            ("H", "0"),
            ("M", "0"),
            ("S", "0"),
        ):
            field = pc.struct_field(parts, name).filter(keep)
            f[name] = pc.cast(
                pc.if_else(pc.equal(field, ""), default, field), pa.int64()
            ).to_numpy()
        y, m, d, hh, mm, ss = f["y"], f["m"], f["d"], f["H"], f["M"], f["S"]
        ok = (m >= 1) & (m <= 12) & (d >= 1) & (hh < 24) & (mm < 60) & (ss < 60)
        month = ((y - 1970) * 12 + np.clip(m, 1, 12) - 1).astype("datetime64[M]")
        first = month.astype("datetime64[D]")
        ok &= d <= ((month + 1).astype("datetime64[D]") - first).astype(np.int64)
        stamp = (
            first.astype("datetime64[us]")
            + (d - 1).astype("timedelta64[D]")
            + hh.astype("timedelta64[h]")
            + mm.astype("timedelta64[m]")
            + ss.astype("timedelta64[s]")
        )
        out[has] = np.where(ok, stamp, np.datetime64("NaT"))
    serial = ~has & _mask(pc.match_substring_regex(arr, _SERIAL))
    if serial.any():
        days = pc.cast(arr.filter(pa.array(serial)), pa.float64()).to_numpy()
        stamps = _EXCEL_EPOCH + pd.to_timedelta(days, unit="D").round("s")
        out[serial] = stamps.to_numpy().astype("datetime64[us]")
    return out


_NUM = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$"
_UNITS = r"(?i)rmb|cny|[¥￥元万]|公里|km|分钟|min|人|年|岁"
# thousands separators (comma or space) only between groups of three digits: ``1.234,50`` or
# ``1,5`` would otherwise read as 1.2345 and 15
_GROUPED = r"^[+-]?\d{1,3}(?:[,\s]\d{3})+(?:\.\d*)?$"


def parse_amounts(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse amounts and other numbers, vectorized (Arrow RE2 kernels).

    Accepts ``12,345.00``, ``12345元``, ``￥12,345``, ``¥12345``, ``RMB 12345``, ``1.2万`` (= 12000),
    full-width digits and separators, and plain numbers; units such as ``公里``, ``km``, ``分钟``,
    ``年`` and ``人`` are dropped. Commas and spaces are thousands separators only between
    groups of three digits; ``1.234,50`` and ``1,5`` fail rather than read as 1.2345 and 15.

    Returns
    -------
    parsed, failed
        float64 values (NaN for blank cells) and a mask of non-blank cells that did not parse.
    """
    arr, blank = _strings(values)
    arr = pc.utf8_normalize(arr, "NFKC")  # full-width digits, commas and yen sign
    wan = _mask(pc.match_substring(arr, "万"))
    clean = pc.utf8_trim_whitespace(pc.replace_substring_regex(arr, _UNITS, ""))
    misgrouped = _mask(pc.match_substring_regex(clean, r"[,\s]")) & ~_mask(
        pc.match_substring_regex(clean, _GROUPED)
    )
    clean = pc.replace_substring_regex(clean, r"[,\s]", "")
    ok = _mask(pc.match_substring_regex(clean, _NUM)) & ~misgrouped
    out = np.full(len(arr), np.nan)
    if ok.any():
        numbers = clean.filter(pa.array(ok))
        try:
            out[ok] = pc.cast(numbers, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:  # forms Arrow does not parse ("5.", "+5"): let pandas try
            out[ok] = pd.to_numeric(
                pd.Series(numbers.to_numpy(zero_copy_only=False)), errors="coerce"
            ).to_numpy(dtype=float)
    out[ok & wan] *= 10_000
    failed = ~blank & (~ok | np.isnan(out))
    return pd.Series(out, index=values.index), pd.Series(failed, index=values.index)


_TRUE = ["是", "y", "yes", "1", "1.0", "true", "t", "有", "√", "✓", "对"]
_FALSE = ["否", "n", "no", "0", "0.0", "false", "f", "无", "×", "x", "不是", "没有"]


def parse_booleans(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse 是/否, Y/N, yes/no, 1/0, true/false (case-insensitive), vectorized.

    Returns
    -------
    parsed, failed
        nullable ``boolean`` values and a mask of non-blank cells that did not parse.
    """
    arr, blank = _strings(values)
    arr = pc.utf8_lower(arr)
    is_true = _mask(pc.is_in(arr, value_set=pa.array(_TRUE, type=pa.large_string())))
    is_false = _mask(pc.is_in(arr, value_set=pa.array(_FALSE, type=pa.large_string())))
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[is_true] = True
    out[is_false] = False
    failed = pd.Series(~blank & ~is_true & ~is_false, index=values.index)
    return out, failed


def _parse_ints(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    num, failed = parse_amounts(values)
    frac = num.notna() & (num != np.floor(num))
    num = num.where(~frac)
    return num.astype("Int64"), (failed | frac).astype(bool)


# ---------------------------------------------------------------------------------------------
# DMS mapping
# ---------------------------------------------------------------------------------------------


def load_mapping(
    mapping: str | os.PathLike[str] | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Load and check a DMS mapping (YAML path, dict, or ``None`` for the shipped one).

    The layout is ``tables: {<table>: {files: [...], columns: {<canonical>: [headers...]},
    values: {<canonical>: {<export value>: <canonical value>}}, lists: [<';'-separated columns>]}}``.
    Canonical names are always accepted as file stems and headers, in addition to the aliases.
    """
    if mapping is None:
        mapping = find_params(DEFAULT_MAPPING)
    if isinstance(mapping, str | os.PathLike):
        path = Path(mapping)
        if not path.is_file():
            raise InputError(f"DMS mapping file {str(path)!r} does not exist")
        data = read_yaml(path)
        where = str(path)
    else:
        data, where = dict(mapping), "mapping"
    if not isinstance(data, dict) or not isinstance(data.get("tables"), dict):
        raise InputError(f"DMS mapping {where!r} needs a top-level 'tables:' section")
    for table, spec in data["tables"].items():
        if table not in TABLES:
            raise InputError(
                f"DMS mapping {where!r}: unknown table {table!r}; known: {list(TABLE_NAMES)}"
            )
        cols = columns(table)
        for col in list((spec or {}).get("columns", {})) + list((spec or {}).get("values", {})):
            if col not in cols:
                raise InputError(
                    f"DMS mapping {where!r}: table {table!r} has no canonical column {col!r}; columns are {cols}"
                )
    return data


def _norm_header(h: Any) -> str:
    return re.sub(r"\s+", "", str(h)).strip().lower() if h is not None else ""


def _table_spec(mapping: Mapping[str, Any], table: str) -> dict[str, Any]:
    return dict(mapping["tables"].get(table) or {})


def _header_aliases(mapping: Mapping[str, Any], table: str) -> dict[str, list[str]]:
    """Canonical column -> accepted headers (canonical name first)."""
    spec = _table_spec(mapping, table).get("columns") or {}
    out = {}
    for col in columns(table):
        aliases = spec.get(col) or []
        if isinstance(aliases, str):
            aliases = [aliases]
        out[col] = [col, *[str(a) for a in aliases]]
    return out


def _file_table(mapping: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for table in TABLE_NAMES:
        names = [table, *(_table_spec(mapping, table).get("files") or [])]
        for name in names:
            out[_norm_header(name)] = table
    return out


# ---------------------------------------------------------------------------------------------
# Reading export files
# ---------------------------------------------------------------------------------------------

_ENCODING_FIX = (
    "Re-export the file as UTF-8 (with or without BOM) or GB18030 CSV, or as .xlsx; or pass "
    "its encoding to read_dms_export(..., encoding=...)."
)
#: Encodings named as the likely one when a file is not plausible UTF-8 or GB18030 text.
_OTHER_ENCODINGS = (("big5", "Big5"), ("shift_jis", "Shift-JIS"), ("euc_kr", "EUC-KR"))
#: Share of non-ASCII characters that may be rare for GB18030-decoded Chinese text (names with
#: a character outside GB2312 exist; Big5 read as GB18030 gives about 70%, Shift-JIS 100%).
_RARE_SHARE = 0.2
#: Share that may be private-use, control or replacement characters (in any encoding).
_INVALID_SHARE = 0.02
#: Characters looked at for plausibility: a file has one encoding, so its start tells.
_PLAUSIBILITY_WINDOW = 1 << 20


def _char_counts(text: str) -> dict[str, int]:
    """Counts of the non-ASCII and control characters of ``text`` (vectorized: exports are
    large and mostly Chinese)."""
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    odd = (cps > 0x7F) | ((cps < 0x20) & (cps != 9) & (cps != 10) & (cps != 13))
    cps = cps[odd]
    bmp = cps < 0x10000
    counts = np.bincount(cps[bmp], minlength=0x10000) if bmp.any() else np.zeros(0, np.int64)
    out = {chr(int(c)): int(counts[c]) for c in np.flatnonzero(counts)}
    high, n = np.unique(cps[~bmp], return_counts=True)
    out.update({chr(int(c)): int(k) for c, k in zip(high, n, strict=True)})
    return out


def _implausible(text: str, *, chinese_gb: bool) -> tuple[int, int, int, str]:
    """Non-ASCII characters; invalid ones (private-use, control, U+FFFD); rare ones; examples
    (in the first ``_PLAUSIBILITY_WINDOW`` characters).

    For text decoded as GB18030, rare means outside GB2312 (which holds the 6,763 hanzi of
    everyday names and addresses) or kana, Greek, Cyrillic and box drawing: what Big5 or
    Shift-JIS bytes turn into when read as GB18030.
    """
    counts = _char_counts(text[:_PLAUSIBILITY_WINDOW])
    examples: list[str] = []
    n_invalid = n_rare = 0
    for ch, n in counts.items():
        cat = unicodedata.category(ch)
        if cat in ("Co", "Cc", "Cs", "Cn") or ch == "\ufffd":
            n_invalid += n
            examples.append(ch)
            continue
        if not chinese_gb:
            continue
        o = ord(ch)
        rare = 0x3040 <= o <= 0x30FF or 0x0370 <= o <= 0x04FF or 0x2500 <= o <= 0x257F
        if not rare and cat.startswith("L"):
            try:
                ch.encode("gb2312")
            except UnicodeEncodeError:
                rare = True
        if rare:
            n_rare += n
            examples.append(ch)
    return sum(counts.values()), n_invalid, n_rare, "".join(examples[:12])


def _likely_encoding(data: bytes) -> str | None:
    """The other encoding the bytes most plausibly are (decoded strictly, mostly CJK/kana)."""
    best, best_share = None, 0.0
    for codec, label in _OTHER_ENCODINGS:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        non = [c for c in text if c > "\x7f"]
        if not non:
            continue
        good = sum(
            1 for c in non if unicodedata.category(c) == "Lo" and not 0xFF61 <= ord(c) <= 0xFF9F
        )
        if good / len(non) > best_share:
            best, best_share = label, good / len(non)
    return best if best_share >= 0.8 else None


def _decode(path: Path, data: bytes, encoding: str | None = None) -> str:
    """Decode an export's bytes: the declared ``encoding``, else UTF-8 then GB18030.

    Text that decodes but is implausible for the encoding (private-use code points, or for
    GB18030 characters that Chinese names and addresses do not use) is refused, naming the
    likely encoding (Big5, Shift-JIS, ...): such a file would otherwise load as mojibake.
    """
    if b"\x00" in data:
        raise InputError(
            f"file {str(path)!r} cannot be decoded: it contains NUL bytes (UTF-16 or binary?). "
            + _ENCODING_FIX
        )
    candidates = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    for codec in candidates:
        try:
            text = data.decode(codec, errors="strict")
        except UnicodeDecodeError:
            continue
        except LookupError as err:
            raise InputError(
                f"unknown encoding {codec!r} for {str(path)!r}; use a Python codec name such as "
                "'utf-8', 'gb18030', 'big5' or 'shift_jis'."
            ) from err
        # the rare-character test applies to a guessed GB18030 only: declaring the encoding is
        # how a GBK file of traditional characters (a Hong Kong customer list) is read
        gb = codec == "gb18030" and not encoding
        total, n_invalid, n_rare, examples = _implausible(text, chinese_gb=gb)
        n_bad = n_invalid + n_rare
        if n_bad >= 2 and (n_invalid > _INVALID_SHARE * total or n_bad > _RARE_SHARE * total):
            likely = _likely_encoding(data)
            guess = f" It is most likely {likely}." if likely else ""
            raise InputError(
                f"file {str(path)!r} decodes as {codec} but {n_bad} of its {total} non-ASCII "
                f"characters are implausible for Chinese text (private-use or rare characters "
                f"such as {examples!r}): it would load as garbled text.{guess} "
                + _ENCODING_FIX
                + (
                    " If it really is GB18030 (traditional characters), pass encoding='gb18030'."
                    if gb
                    else ""
                )
            )
        return text[1:] if text.startswith("\ufeff") else text  # a BOM is no data
    likely = _likely_encoding(data)
    guess = f" It is most likely {likely}." if likely else ""
    what = f"valid {encoding}" if encoding else "UTF-8 nor GB18030"
    raise InputError(
        f"file {str(path)!r} is {'not' if encoding else 'neither'} {what} text."
        f"{guess} " + _ENCODING_FIX
    )


#: bytes that a blank CSV row may hold: whitespace, commas and quotes
_BLANK_BYTES = np.zeros(256, dtype=bool)
_BLANK_BYTES[[9, 10, 11, 12, 13, 32, 34, 44]] = True
_BLANK_CHARS = bytes([9, 10, 11, 12, 13, 32, 34, 44])


class _UnbalancedQuotes(Exception):
    """A quote opened on ``line`` is never closed (internal: becomes an InputError)."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _csv_records(buf: bytes) -> tuple[bytes, bytes, np.ndarray]:
    """Split UTF-8 CSV bytes into the header record, the body (the other non-blank records,
    newline-separated) and the physical line each body record starts on (1-based).

    Vectorized: a newline ends a record when the quotes before it are balanced, so quoted
    newlines stay inside their record. Blank records (empty, spaces, only commas) are dropped.
    """
    arr = np.frombuffer(buf, dtype=np.uint8)
    newlines = np.flatnonzero(arr == 10)
    quotes = np.flatnonzero(arr == 34)
    if len(quotes) % 2:
        raise _UnbalancedQuotes(int(np.searchsorted(newlines, quotes[-1])) + 1)
    quotes_before = np.searchsorted(quotes, newlines)
    ends = newlines[quotes_before % 2 == 0]
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [len(buf)]))
    lines = np.searchsorted(newlines, starts) + 1  # newlines before the start, + 1
    # a record is blank when it is empty or all its bytes are blank; only records that start
    # and end with a blank byte can be, and only those are looked at byte by byte
    content = stops > starts
    last = np.maximum(stops - 1, 0)
    maybe = content & _BLANK_BYTES[arr[np.minimum(starts, len(arr) - 1)]] & _BLANK_BYTES[arr[last]]
    for i in np.flatnonzero(maybe).tolist():
        content[i] = bool(buf[starts[i] : stops[i]].strip(_BLANK_CHARS))
    keep = np.flatnonzero(content)
    if not len(keep):
        return b"", b"", np.zeros(0, dtype=np.int64)
    head = buf[starts[keep[0]] : stops[keep[0]]]
    body_recs = keep[1:]
    if len(body_recs) == len(starts) - keep[0] - 1:  # no blank record after the header
        body = buf[starts[keep[0]] + len(head) + 1 :] if len(body_recs) else b""
    else:  # drop the blank records' bytes (each record with its newline)
        lengths = np.minimum(stops + 1, len(buf)) - starts
        kept = np.zeros(len(starts), dtype=bool)
        kept[body_recs] = True
        body = arr[np.repeat(kept, lengths)].tobytes()
    return head, body, lines[body_recs]


def _read_csv(path: Path, encoding: str | None = None) -> tuple[list[str], pd.DataFrame]:
    """Header and cells (strings) of a CSV export; the index is each row's line in the file."""
    data = path.read_bytes()
    if not data.strip():
        raise InputError(
            f"file {str(path)!r} is empty (0 bytes or blank): a broken export. Re-export it from "
            "the DMS; "
            "a table without rows should still have its header line."
        )
    text = _decode(path, data, encoding)
    if b"\r" in data and text.count("\r") != text.count("\r\n"):  # old Mac line ends
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        head, body, lines = _csv_records(text.encode("utf-8"))
    except _UnbalancedQuotes as err:
        raise InputError(
            f"file {str(path)!r} is not a well-formed CSV: the quote opened on line {err.line} "
            "(or the last quote before it) is never closed, so the file ends inside a quoted "
            'cell - cut short? Re-export it; a quote inside a quoted cell is doubled ("").'
        ) from err
    if not head:
        raise InputError(f"file {str(path)!r} holds only blank lines: re-export it from the DMS")
    try:
        header = next(csv.reader([head.decode("utf-8").rstrip("\r")], strict=True))
    except (StopIteration, csv.Error) as err:
        raise InputError(f"file {str(path)!r}: cannot read the header line ({err})") from err
    width = len(header)
    if not len(lines):
        return header, pd.DataFrame({i: pd.Series(dtype=object) for i in range(width)})
    names = [f"c{i}" for i in range(width)]
    try:  # Arrow's multithreaded reader on the records; every cell stays a string
        table = pacsv.read_csv(
            pa.py_buffer(body),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as err:
        raise InputError(
            f"file {str(path)!r} is not a well-formed CSV ({err}). Check quoting, separators and "
            f"that every row has the {width} fields of the header (comma-separated)."
        ) from err
    if table.num_rows != len(lines):
        raise InputError(
            f"file {str(path)!r} is not a well-formed CSV: unbalanced quotes make its "
            f"{len(lines)} rows (lines {int(lines[0])}-{int(lines[-1])}) read as "
            f'{table.num_rows}. Check the quoting (a quote inside a quoted cell is doubled: "").'
        )
    frame = table.to_pandas().set_axis(list(range(width)), axis=1)
    frame.index = pd.Index(lines, dtype="int64")
    return header, frame


def _excel_cell(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, _dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _xlsx_rows(path: Path) -> list[tuple[int, list[Any]]]:
    """(row number in the sheet, cells) of the first worksheet's non-blank rows.

    openpyxl is a parser of untrusted bytes: whatever it raises on a damaged workbook (a cut
    zip, sheet XML cut short, no worksheet part, a broken style table) means the file cannot
    be read, and is reported as such.
    """
    import openpyxl  # Excel reading only: a notebook opening a saved analysis never loads it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            if not book.worksheets:
                raise InputError(
                    f"file {str(path)!r} holds no worksheet: a broken export. Re-export it from "
                    "the DMS as .xlsx or as UTF-8 / GB18030 CSV."
                )
            rows = []
            for number, row in enumerate(book.worksheets[0].iter_rows(values_only=True), 1):
                cells = [_excel_cell(v) for v in row]
                if any(v is not None and v.strip() for v in cells):
                    rows.append((number, cells))
        finally:
            book.close()
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - see the docstring: any parser failure is the file's
        raise InputError(
            f"file {str(path)!r} is not a readable .xlsx workbook ({type(err).__name__}: "
            f"{str(err)[:200]}). It is damaged or cut short: re-export it from the DMS as .xlsx, "
            "or as UTF-8 / GB18030 CSV."
        ) from err
    return rows


def _read_xlsx(path: Path) -> tuple[list[str], pd.DataFrame]:
    """Header and cells (strings) of the first sheet; the index is each row's Excel row."""
    if path.stat().st_size == 0:
        raise InputError(
            f"file {str(path)!r} is empty (0 bytes): a broken export. Re-export it from the DMS."
        )
    rows = _xlsx_rows(path)
    if not rows:
        raise InputError(
            f"file {str(path)!r}: the first sheet is empty (no header row). Re-export it."
        )
    header = [h if h is not None else "" for h in rows[0][1]]
    width = len(header)
    body = [(r + [None] * width)[:width] for _, r in rows[1:]]
    frame = pd.DataFrame(body, columns=list(range(width)), dtype=object).fillna("").astype(str)
    frame.index = pd.Index([n for n, _ in rows[1:]], dtype="int64")
    return header, frame


def _map_columns(
    path: Path, table: str, header: list[str], frame: pd.DataFrame, mapping: Mapping[str, Any]
) -> pd.DataFrame:
    """Rename export headers to canonical columns; drop unmapped columns with a warning."""
    norm = [_norm_header(h) for h in header]
    seen: dict[str, int] = {}
    dups = []
    for h, n in zip(header, norm, strict=True):
        if n and n in seen:
            dups.append(str(h).strip())
        seen[n] = seen.get(n, 0) + 1
    if dups:
        raise InputError(
            f"file {str(path)!r} (table {table!r}) has duplicated header(s) {sorted(set(dups))}; "
            "each column must appear once. Remove or rename the duplicates in the export."
        )
    aliases = _header_aliases(mapping, table)
    lookup = {_norm_header(a): col for col, names in aliases.items() for a in names}
    if "dealer_id" in norm:
        lookup["dealer_id"] = "dealer_id"
    rename: dict[int, str] = {}
    by_col: dict[str, list[str]] = {}
    unmapped = []
    for pos, (h, n) in enumerate(zip(header, norm, strict=True)):
        col = lookup.get(n)
        if col is None:
            if n:
                unmapped.append(str(h).strip())
            continue
        rename[pos] = col
        by_col.setdefault(col, []).append(str(h).strip())
    clash = {c: hs for c, hs in by_col.items() if len(hs) > 1}
    if clash:
        raise InputError(
            f"file {str(path)!r} (table {table!r}): several headers map to the same column "
            f"{clash}; keep one of them in the export, or edit the mapping."
        )
    nullable = column_nullable(table)
    missing = [c for c in columns(table) if c not in by_col and c != "dealer_id"]
    required = [c for c in missing if not nullable[c]]
    if required:
        hints = {c: aliases[c] for c in required}
        raise InputError(
            f"file {str(path)!r} (table {table!r}) lacks required column(s) {required}. "
            f"Headers that map to them: {hints}; headers in the file: "
            f"{[str(h).strip() for h in header][:20]}. Add the column to the export, or add its "
            "header to the DMS mapping (params/dms_mapping.yaml, passed as mapping=). Garbled "
            "headers mean another encoding (Big5, Shift-JIS ...): save the file as UTF-8 or "
            "GB18030."
        )
    notes = []
    if unmapped:
        notes.append(f"dropped unmapped column(s) {unmapped}")
    if missing:
        notes.append(f"optional column(s) {missing} absent, left empty")
    if notes:
        warnings.warn(
            f"{path.name} (table {table!r}): " + "; ".join(notes), DMSExportWarning, stacklevel=4
        )
    out = frame[list(rename)].set_axis([rename[p] for p in rename], axis=1)
    for col in missing:
        out[col] = ""
    return out


_LIST_SPLIT = r"\s*[;；,，、/|]\s*"


def _coerce_table(
    path: Path, table: str, frame: pd.DataFrame, mapping: Mapping[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Strings -> canonical types; cells that do not parse quarantine their row."""
    spec = _table_spec(mapping, table)
    values = spec.get("values") or {}
    lists = set(spec.get("lists") or [])
    kinds = column_kinds(table)
    _, pk = TABLES[table]
    out = {}
    failures: list[pd.DataFrame] = []
    rule_names = {
        "datetime": "unparseable_date",
        "float": "unparseable_amount",
        "int": "unparseable_number",
        "bool": "unparseable_boolean",
    }
    raw = frame.astype("string")
    for col in frame.columns:
        s = raw[col].str.strip()
        kind = kinds.get(col, "str")
        if kind == "str":
            s = s.where(s != "")
            vmap = {str(k): str(v) for k, v in (values.get(col) or {}).items()}
            if vmap and col in lists:
                s = s.str.split(_LIST_SPLIT, regex=True).map(
                    lambda xs, vmap=vmap: (
                        xs
                        if not isinstance(xs, list)
                        else ";".join(vmap.get(x, x) for x in xs if x)
                    ),
                    na_action="ignore",
                )
                s = s.astype("string")
            elif vmap:
                mapped = s.map(vmap)
                s = mapped.where(mapped.notna(), s).astype("string")
            out[col] = s
            continue
        parser = {
            "datetime": parse_dates,
            "float": parse_amounts,
            "int": _parse_ints,
            "bool": parse_booleans,
        }[kind]
        if kind == "bool" and values.get(col):
            s = s.replace({str(k): str(v) for k, v in values[col].items()})
        parsed, failed = parser(s)
        out[col] = parsed
        if failed.any():
            ids = (
                raw[pk].str.strip()
                if pk and pk in raw.columns
                else pd.Series(pd.NA, index=raw.index)
            )
            rows = frame.index[failed.to_numpy()]
            rid = ids.loc[rows]
            rid = rid.where(
                rid.notna() & (rid != ""), "#" + pd.Series(rows.astype(str), index=rows)
            )
            failures.append(
                pd.DataFrame(
                    {
                        "table": table,
                        "row_id": rid.astype(str).to_numpy(),
                        "source_row": rows.to_numpy(),
                        "column": col,
                        "rule": rule_names[kind],
                        "value": raw.loc[rows, col].astype(str).to_numpy(),
                    }
                )
            )
    result = pd.DataFrame(out, index=frame.index)
    quarantine = (
        pd.concat(failures, ignore_index=True)
        if failures
        else pd.DataFrame(columns=QUARANTINE_COLUMNS)
    )
    if len(quarantine):
        result = result.drop(index=pd.Index(quarantine["source_row"].unique()))
    return result, quarantine


def _default_as_of(tables: Mapping[str, pd.DataFrame]) -> pd.Timestamp:
    now = pd.Timestamp.now().tz_localize(None)
    best = pd.NaT
    for table, cols in EVENT_TIMES.items():
        frame = tables.get(table)
        if frame is None or not len(frame):
            continue
        for col in cols:
            if col in frame.columns:
                s = frame[col]
                s = s[s <= now]
                if len(s) and s.notna().any():
                    m = s.max()
                    best = m if pd.isna(best) else max(best, m)
    return best.normalize() if not pd.isna(best) else best  # a date: events that day count


def _export_files(root: Path, mapping: Mapping[str, Any]) -> dict[str, Path]:
    """Table -> file of an export folder (warns about files that match no table)."""
    by_stem = _file_table(mapping)
    files: dict[str, Path] = {}
    ignored = []
    try:
        entries = sorted(root.iterdir())
    except OSError as err:
        raise InputError(
            f"DMS export folder {str(root)!r} cannot be listed: {err.strerror or err}"
        ) from err
    for path in entries:
        if path.name.startswith((".", "~$")) or not path.is_file():
            continue
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".xlsx", ".txt"):
            if suffix in (".xls", ".xlsm", ".et"):
                raise InputError(
                    f"file {str(path)!r}: old or macro Excel format; save it as .xlsx or CSV."
                )
            ignored.append(path.name)
            continue
        table = by_stem.get(_norm_header(path.stem))
        if table is None:
            ignored.append(path.name)
            continue
        if table in files:
            raise InputError(
                f"files {files[table].name!r} and {path.name!r} in {str(root)!r} both hold table "
                f"{table!r}; keep one."
            )
        files[table] = path
    if ignored:
        warnings.warn(
            f"{str(root)!r}: ignored file(s) that match no table: {ignored}",
            DMSExportWarning,
            stacklevel=3,
        )
    return files


def read_dms_export(
    folder: str | os.PathLike[str],
    *,
    mapping: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    dealer_id: str | None = None,
    name: str = "",
    city: str = "",
    as_of: pd.Timestamp | str | None = None,
    strict: bool = False,
    encoding: str | None = None,
) -> DealerData:
    """Read a folder of DMS export files (CSV or .xlsx, one per table) into a :class:`DealerData`.

    Parameters
    ----------
    folder
        The export folder. Files are matched to tables by their name without extension
        (``客户.csv`` -> customers, see the mapping's ``files:``; canonical names such as
        ``customers.csv`` always work). ``customers`` is required; other tables may be absent
        (they are empty).
    mapping
        A DMS mapping (YAML path or dict, see :func:`load_mapping`); ``None`` uses the shipped
        ``params/dms_mapping.yaml``.
    dealer_id
        Dealer id; defaults to the folder name.
    name, city
        Dealer metadata.
    as_of
        Extraction date. Default: the date of the latest event in the data that is not in the
        future (a typo such as 2099 cannot push it out; such rows are quarantined as
        ``after_as_of``).
    strict
        Raise :class:`~crm_analytics.core.errors.DataValidationError` if any row is quarantined.
    encoding
        Encoding of the CSV files (a Python codec name such as ``"big5"``). Default: UTF-8
        (with or without BOM), else GB18030. Text that decodes but is implausible (private-use
        or control characters; for a guessed GB18030 also more than 20% of characters outside
        GB2312, which is what Big5 or Shift-JIS bytes become) is refused, naming the likely
        encoding; it is never guessed silently. Big5 and Shift-JIS are read correctly when
        declared here.

    Returns
    -------
    DealerData
        Validated tables. Cells that do not parse (dates, amounts, numbers, booleans) quarantine
        their row with rules ``unparseable_date``, ``unparseable_amount``, ``unparseable_number``
        or ``unparseable_boolean``; ``source_row`` is the row's physical place in the file
        (CSV line where the row starts, or Excel row; the header is usually 1), counting blank
        lines. Blank rows (nothing but spaces and commas) are not data rows and are skipped.

    Raises
    ------
    InputError
        Missing folder or customers file, 0-byte, undecodable, implausibly decoded or damaged
        file (CSV with broken quoting, .xlsx cut short or without a worksheet), duplicated
        headers, a required column missing (the message names the file, table, column and the
        headers that map to it).

    Warns
    -----
    DMSExportWarning
        Unmapped columns dropped, optional columns absent, files that match no table.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"DMS export folder {str(root)!r} does not exist")
    mapping = load_mapping(mapping)
    files = _export_files(root, mapping)
    if "customers" not in files:
        expected = [
            f"{n}.csv"
            for n in [*(_table_spec(mapping, "customers").get("files") or []), "customers"]
        ]
        raise InputError(
            f"DMS export folder {str(root)!r} has no customers file; expected one of {expected} "
            "(or .xlsx). The customers table is required."
        )
    tables: dict[str, pd.DataFrame] = {}
    parts: list[pd.DataFrame] = []
    for table, path in files.items():
        # the index is each row's physical row in the file (CSV line, Excel row), blank
        # lines included; blank rows are not data rows and are skipped
        try:
            if path.suffix.lower() == ".xlsx":
                header, frame = _read_xlsx(path)
            else:
                header, frame = _read_csv(path, encoding)
        except OSError as err:  # permissions, a file removed meanwhile, a network drive gone
            raise InputError(
                f"file {str(path)!r} (table {table!r}) cannot be read: {err.strerror or err}. "
                "Check that it exists and is readable, then run again."
            ) from err
        frame = _map_columns(path, table, header, frame, mapping)
        frame, bad = _coerce_table(path, table, frame, mapping)
        tables[table] = frame
        if len(bad):
            parts.append(bad)
    if dealer_id is None:
        dealer_id = root.resolve().name
    if as_of is None:
        as_of = _default_as_of(tables)
        if pd.isna(as_of):
            raise InputError(f"DMS export {str(root)!r} has no dated event; pass as_of= explicitly")
    extra = pd.concat(parts, ignore_index=True) if parts else None
    return build_dealer(
        tables,
        dealer_id=str(dealer_id),
        name=name,
        city=city,
        as_of=as_of,
        strict=strict,
        sources={t: str(p) for t, p in files.items()},
        extra_quarantine=extra,
    )


def read_name_list(
    path: str | os.PathLike[str],
    *,
    mapping: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    encoding: str | None = None,
) -> pd.DataFrame:
    """Read an external name list (an auto show's, a partner's, an exchanged list): one CSV or
    ``.xlsx`` file with a name and a phone column, for
    :func:`crm_analytics.metrics.external_lists.screen_external_list`.

    The file is read like a DMS export file (same encodings: UTF-8 with or without BOM,
    GB18030, or ``encoding=``; the first worksheet of a workbook), and its headers are mapped
    with the ``name`` and ``phone`` headers of the mapping's ``customers`` table (姓名, 客户姓名;
    手机, 电话, 联系电话 ...). Other columns are kept under their own header.

    Returns
    -------
    pandas.DataFrame
        ``row`` (the row's line in the CSV or row in the sheet), ``name``, ``phone`` (strings,
        as written) and the file's other columns; ``attrs['path']``.

    Raises
    ------
    InputError
        A missing, empty, undecodable or damaged file, or no phone column (naming the file,
        the headers that map to a phone and the headers found).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"name list {str(p)!r} does not exist: check the path")
    if not p.read_bytes().strip():
        raise InputError(
            f"name list {str(p)!r} is empty (0 bytes or blank). Save the list again with a "
            "header line (姓名, 电话) and one row per person."
        )
    mapping = load_mapping(mapping)
    try:
        header, frame = _read_xlsx(p) if p.suffix.lower() == ".xlsx" else _read_csv(p, encoding)
    except OSError as err:
        raise InputError(f"name list {str(p)!r} cannot be read: {err.strerror or err}") from err
    aliases = _header_aliases(mapping, "customers")
    norm = [_norm_header(h) for h in header]
    names = [str(h).strip() for h in header]
    for col in ("name", "phone"):
        wanted = {_norm_header(a) for a in aliases[col]}
        hits = [i for i, n in enumerate(norm) if n in wanted]
        if len(hits) > 1:
            raise InputError(
                f"name list {str(p)!r}: several columns {[names[i] for i in hits]} are the "
                f"{col!r} column; keep one of them."
            )
        if hits:
            names[hits[0]] = col
        elif col == "phone":
            raise InputError(
                f"name list {str(p)!r} has no phone column. Headers that are read as the phone: "
                f"{aliases['phone']}; headers in the file: {[str(h).strip() for h in header][:20]}. "
                "Rename the phone column to one of them (for example 电话), or add its header to "
                "the customers 'phone' headers of the DMS mapping (params/dms_mapping.yaml, "
                "passed as mapping=). Garbled headers mean another encoding: save the file as "
                "UTF-8 or GB18030."
            )
    out = frame.set_axis(names, axis=1)
    if "name" not in out.columns:
        out["name"] = ""
    out = out.replace({"": None})
    out.insert(0, "row", out.index.to_numpy())
    out = out.reset_index(drop=True)
    out.attrs["path"] = str(p)
    return out
