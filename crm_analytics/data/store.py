"""The Parquet network store (hive layout, read with DuckDB).

    <root>/dealers.parquet                                  one row per dealer (schema.Dealers)
    <root>/<table>/dealer_id=<ID>/part-0.parquet            one file per canonical table
    <root>/truth/<name>/dealer_id=<ID>/part-0.parquet       simulator ground truth (optional)

    <root>/manifest.json                                    tables, row counts, sizes, sha256

Written by :func:`write_dealer_tables` (one dealer, deterministic: same input, byte-identical
files) and :func:`write_dealers_index`; read by :func:`list_dealers` and :func:`load_dealer`.
Each write records its files in the manifest (under a file lock, so dealers can be written by
parallel processes); :func:`load_dealer` checks the dealer's files against it (sizes, then
sha256), so a deleted, truncated or altered file is reported as damage
(:class:`~crm_analytics.core.errors.StoreDamageError`) instead of loading as an empty table.
A store written before manifests existed still loads, with a :class:`StoreWarning`.

A store can also be read from an fsspec URL (``s3://bucket/store``, ``file:///srv/store``, ...:
the workers of a Dask cluster on other machines read the one store): the files a read needs
(the index, the manifest, one dealer's partition files) are copied into a local cache first
(``CRM_ANALYTICS_CACHE``, else ``~/.cache/crm_analytics/stores``) and checked against the
manifest there, so a URL store is read by the same code and checks as a folder. Writing goes
to folders only.
Partition files do not hold ``dealer_id`` (it is in the path, as hive partitioning expects);
every canonical table gets a file, even when empty, with the canonical Arrow schema. Every
dealer goes through :func:`crm_analytics.data.validation.build_dealer`, so each row is kept
or quarantined.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pandera.errors as pa_errors
import pyarrow as pa
import pyarrow.parquet as pq

from crm_analytics.core import schema
from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import (
    CRMAnalyticsError,
    InputError,
    StoreDamageError,
    UnknownDealerError,
)
from crm_analytics.core.files import atomic_path, atomic_write_text, is_url
from crm_analytics.core.schema import TABLE_NAMES, TABLES, columns, empty_frame
from crm_analytics.data.validation import EVENT_TIMES, after_as_of, build_dealer, validate_table

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "add_dealer",
    "MANIFEST_FILE",
    "StoreWarning",
    "arrow_schema",
    "column_kinds",
    "column_nullable",
    "dealer_version",
    "list_dealers",
    "load_dealer",
    "read_table",
    "verify_dealer",
    "write_dealer_tables",
    "write_dealers_index",
]

DEFAULT_MAPPING = "dms_mapping"

_SAMPLE_HINT = (
    "Create the sample store with `crm-analytics generate` (or `make sample`), "
    "or pass the path of an existing store."
)
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "write_statistics": True}
DEALERS_FILE = "dealers.parquet"
PART_FILE = "part-0.parquet"
#: The store manifest: per dealer, each file's table, rows, bytes and sha256.
MANIFEST_FILE = "manifest.json"
_MANIFEST_VERSION = 1
_LOCK_FILE = ".manifest.lock"
_INDEX_COLUMNS = ("dealer_id", "name", "city", "region", "as_of", "opening_hour", "closing_hour")


class StoreWarning(UserWarning):
    """A store was read with a caveat (written before manifests existed: damage to its files
    cannot be told from an empty table)."""


# ---------------------------------------------------------------------------------------------
# Arrow schemas of the canonical tables
# ---------------------------------------------------------------------------------------------


def _arrow_type(dtype: Any) -> pa.DataType:
    if pd.api.types.is_bool_dtype(dtype):
        return pa.bool_()
    if pd.api.types.is_integer_dtype(dtype):
        return pa.int64()
    if pd.api.types.is_float_dtype(dtype):
        return pa.float64()
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return pa.timestamp("us")
    return pa.string()


@cache
def column_kinds(table: str) -> dict[str, str]:
    """Column -> one of ``str``, ``datetime``, ``float``, ``int``, ``bool``."""
    out = {}
    for col, dtype in empty_frame(table).dtypes.items():
        t = _arrow_type(dtype)
        out[col] = {
            pa.bool_(): "bool",
            pa.int64(): "int",
            pa.float64(): "float",
            pa.timestamp("us"): "datetime",
        }.get(t, "str")
    return out


@cache
def column_nullable(table: str) -> dict[str, bool]:
    model, _ = TABLES[table]
    return {name: bool(col.nullable) for name, col in model.to_schema().columns.items()}


@cache
def arrow_schema(table: str) -> pa.Schema:
    """Arrow schema of a canonical table's partition file (all columns but ``dealer_id``)."""
    frame = empty_frame(table)
    return pa.schema(
        [
            pa.field(col, _arrow_type(dtype), nullable=True)
            for col, dtype in frame.dtypes.items()
            if col != "dealer_id"
        ]
    )


def _sort_keys(table: str) -> list[str]:
    _, pk = TABLES[table]
    if pk is not None:
        return [pk]
    return [c for c in ("channel", "month") if c in columns(table)]


def _to_arrow_column(series: pd.Series, kind: str, where: str) -> pa.Array:
    try:
        if kind == "str":
            if not (pd.api.types.is_string_dtype(series) or series.dtype == object):
                series = series.astype("string")
            return pa.array(series, type=pa.string(), from_pandas=True)
        if kind == "datetime":
            if not pd.api.types.is_datetime64_any_dtype(series):
                series = pd.to_datetime(series)
            if getattr(series.dt, "tz", None) is not None:
                series = series.dt.tz_localize(None)  # keep local wall time, drop the zone
            return pa.array(
                series.astype("datetime64[us]"), type=pa.timestamp("us"), from_pandas=True
            )
        if kind == "float":
            return pa.array(series.astype("float64"), type=pa.float64(), from_pandas=True)
        if kind == "int":
            return pa.array(series.astype("Int64"), type=pa.int64(), from_pandas=True)
        if kind == "bool":
            return pa.array(series.astype("boolean"), type=pa.bool_(), from_pandas=True)
    except (ValueError, TypeError, pa.ArrowException) as err:
        raise InputError(
            f"{where}: cannot store values of dtype {series.dtype} as {kind} ({err}). "
            "Convert the column to its canonical type (see crm_analytics.core.schema) before writing."
        ) from err
    raise AssertionError(kind)  # pragma: no cover


def _canonical_arrow(table: str, frame: pd.DataFrame, dealer_id: str) -> pa.Table:
    """A canonical frame as an Arrow table with the fixed schema, sorted by its key (stable)."""
    expected = [c for c in columns(table) if c != "dealer_id"]
    if "dealer_id" in frame.columns:
        ids = frame["dealer_id"].astype("string")
        other = ids.notna() & (ids != dealer_id)
        if other.any():
            raise InputError(
                f"table {table!r} for dealer {dealer_id!r} holds rows of other dealer(s) "
                f"{sorted(ids[other].unique())[:5]}; write each dealer's rows separately."
            )
    extra = [c for c in frame.columns if c not in expected and c != "dealer_id"]
    if extra:
        raise InputError(
            f"table {table!r} for dealer {dealer_id!r} has non-canonical column(s) {extra}; "
            "drop them, or store them as a truth frame (truth={...})."
        )
    nullable = column_nullable(table)
    missing = [c for c in expected if c not in frame.columns]
    required = [c for c in missing if not nullable[c]]
    if required and len(frame):
        raise InputError(
            f"table {table!r} for dealer {dealer_id!r} is missing required column(s) {required}; "
            f"canonical columns are {expected}."
        )
    kinds = column_kinds(table)
    n = len(frame)
    arrays = []
    for col in expected:
        if col in frame.columns:
            arrays.append(
                _to_arrow_column(frame[col], kinds[col], f"table {table!r} column {col!r}")
            )
        else:
            arrays.append(pa.nulls(n, type=arrow_schema(table).field(col).type))
    out = pa.Table.from_arrays(arrays, schema=arrow_schema(table))
    keys = _sort_keys(table)
    if keys and n > 1:
        out = out.sort_by([(k, "ascending") for k in keys])  # Arrow's sort is stable
    return out


def _write_parquet(table: pa.Table, path: Path) -> None:
    """Write atomically (temp file + rename) without pandas or custom metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = table.replace_schema_metadata(None)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **_PARQUET_OPTIONS)


def _check_dealer_id(dealer_id: Any) -> str:
    if dealer_id is None or (isinstance(dealer_id, float) and np.isnan(dealer_id)):
        raise InputError("dealer_id is missing; give every dealer a string id such as 'D001'")
    dealer_id = str(dealer_id)
    if not _ID_RE.match(dealer_id):
        raise InputError(
            f"dealer_id {dealer_id!r} cannot name a partition folder: use letters, digits, "
            "'_', '-' and '.', starting with a letter or digit."
        )
    return dealer_id


def _truth_frame(frame: pd.DataFrame, name: str) -> pa.Table:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"truth frame {name!r} must be a DataFrame, got {type(frame).__name__}")
    idx = frame.index
    if not (
        isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1 and idx.name is None
    ):
        frame = frame.reset_index()  # a meaningful index becomes a column
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            frame[col] = s.dt.tz_localize(None)
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, ValueError, TypeError) as err:
        raise InputError(f"truth frame {name!r} cannot be stored as Parquet: {err}") from err


def write_dealer_tables(
    root: str | os.PathLike[str],
    dealer_meta: Mapping[str, Any],
    tables: Mapping[str, pd.DataFrame],
    truth: Mapping[str, pd.DataFrame] | None = None,
) -> list[Path]:
    """Write one dealer's partition files into a network store.

    Parameters
    ----------
    root
        Store folder (created if needed).
    dealer_meta
        Dealer metadata; ``dealer_id`` is required (the other :class:`schema.Dealers` fields go to
        the index written by :func:`write_dealers_index`).
    tables
        Canonical table name -> frame with canonical columns (``dealer_id`` optional; if present it
        must equal the dealer's id). Tables not given are written empty, so every dealer has a
        file for every table. Missing nullable columns are written as nulls.
    truth
        Optional ground-truth frames (any columns), written under ``truth/<name>/``. Truth
        partitions of this dealer not named here are removed, so a rewrite leaves no stale truth.

    Returns
    -------
    list of Path
        The files written.

    Notes
    -----
    Deterministic: rows are sorted by primary key (stable), the Arrow schema is fixed per table,
    no pandas index or metadata is stored, and files are written with pyarrow (zstd), so the same
    input gives byte-identical files. Files are replaced atomically. Write the index with
    :func:`write_dealers_index` once all dealers are written (dealers can be written in parallel).
    """
    root = Path(root)
    if "dealer_id" not in dealer_meta:
        raise InputError("dealer_meta needs a 'dealer_id'")
    dealer_id = _check_dealer_id(dealer_meta["dealer_id"])
    unknown = set(tables) - set(TABLE_NAMES)
    if unknown:
        raise InputError(
            f"unknown table(s) {sorted(unknown)}; canonical tables are {list(TABLE_NAMES)}"
        )
    part = f"dealer_id={dealer_id}"
    written = []
    entry: dict[str, dict[str, Any]] = {"tables": {}, "truth": {}}
    for table in TABLE_NAMES:
        frame = tables.get(table)
        if frame is None:
            frame = empty_frame(table)
        path = root / table / part / PART_FILE
        arrow = _canonical_arrow(table, frame, dealer_id)
        _write_parquet(arrow, path)
        entry["tables"][table] = _file_entry(root, path, arrow.num_rows)
        written.append(path)
    truth = dict(truth or {})
    for name, frame in sorted(truth.items()):
        if not _ID_RE.match(str(name)):
            raise InputError(
                f"truth name {name!r} cannot name a folder; use letters, digits, '_', '-'"
            )
        path = root / "truth" / str(name) / part / PART_FILE
        arrow = _truth_frame(frame, name)
        _write_parquet(arrow, path)
        entry["truth"][str(name)] = _file_entry(root, path, arrow.num_rows)
        written.append(path)
    truth_root = root / "truth"
    if truth_root.is_dir():
        for folder in truth_root.iterdir():
            stale = folder / part / PART_FILE
            if folder.name not in truth and stale.exists():
                stale.unlink()
    with _manifest_update(root) as manifest:
        manifest["dealers"][dealer_id] = entry
    return written


def _dealers_arrow(dealers: pd.DataFrame) -> pa.Table:
    frame = pd.DataFrame(dealers).copy()
    if "dealer_id" not in frame.columns:
        raise InputError("the dealers index needs a 'dealer_id' column")
    defaults = {"name": "", "city": "", "region": "", "opening_hour": 9, "closing_hour": 18}
    for col, value in defaults.items():
        if col not in frame.columns:
            frame[col] = value
    if "as_of" not in frame.columns:
        raise InputError(
            "the dealers index needs an 'as_of' column (the extraction date per dealer)"
        )
    for col in ("name", "city", "region"):
        frame[col] = frame[col].astype("string").fillna("")
    frame["dealer_id"] = [_check_dealer_id(d) for d in frame["dealer_id"]]
    model = schema.Dealers
    try:
        frame = model.validate(frame[list(model.to_schema().columns)], lazy=True)
    except (pa_errors.SchemaErrors, pa_errors.SchemaError) as err:
        raise InputError(f"dealers index failed validation:\n{err}") from err
    arrays = {
        "dealer_id": pa.array(frame["dealer_id"], type=pa.string()),
        "name": pa.array(frame["name"], type=pa.string()),
        "city": pa.array(frame["city"], type=pa.string()),
        "region": pa.array(frame["region"], type=pa.string()),
        "as_of": pa.array(frame["as_of"].astype("datetime64[us]"), type=pa.timestamp("us")),
        "opening_hour": pa.array(frame["opening_hour"], type=pa.int64()),
        "closing_hour": pa.array(frame["closing_hour"], type=pa.int64()),
    }
    return pa.table(arrays).sort_by("dealer_id")


def write_dealers_index(root: str | os.PathLike[str], dealers: pd.DataFrame) -> Path:
    """Write ``<root>/dealers.parquet``: one row per dealer (the :class:`schema.Dealers` model).

    Parameters
    ----------
    root
        Store folder (created if needed).
    dealers
        Frame (or list of dicts) with ``dealer_id`` and ``as_of``; ``name``, ``city``, ``region``
        default to ``""`` and opening/closing hours to 9/18. Rows are sorted by ``dealer_id``.

    Returns
    -------
    Path
        The index file (replaces any previous index).
    """
    root = Path(root)
    path = root / DEALERS_FILE
    arrow = _dealers_arrow(pd.DataFrame(dealers))
    _write_parquet(arrow, path)
    with _manifest_update(root) as manifest:
        manifest["index"] = _file_entry(root, path, arrow.num_rows)
    return path


def add_dealer(
    root: str | os.PathLike[str],
    dealer: DealerData,
    *,
    name: str | None = None,
    city: str = "",
    region: str = "",
    opening_hour: int = 9,
    closing_hour: int = 18,
) -> Path:
    """Write one dealer (its kept rows) into a store and add it to the store's index, creating
    the store when needed; a dealer already in the store is replaced. Its quarantined rows go
    to ``<root>/quarantine/dealer_id=<ID>/quarantine.csv`` (UTF-8 with BOM, for Excel) so that
    the rows left out are kept and counted beside the store.

    Returns
    -------
    Path
        The quarantine file (written even when empty: it states that nothing was left out).
    """
    root = Path(root)
    did = _check_dealer_id(dealer.dealer_id)
    write_dealer_tables(root, {"dealer_id": did}, dealer.tables)
    row = {
        "dealer_id": did,
        "name": name or dealer.name or did,
        "city": city or dealer.city or "",
        "region": region or dealer.region or "",
        "as_of": dealer.as_of,
        "opening_hour": int(opening_hour),
        "closing_hour": int(closing_hour),
    }
    index = list_dealers(root) if (root / DEALERS_FILE).is_file() else pd.DataFrame()
    if len(index):
        index = index.loc[index["dealer_id"].astype(str) != did]
    write_dealers_index(root, pd.concat([index, pd.DataFrame([row])], ignore_index=True))
    path = root / "quarantine" / f"dealer_id={did}" / "quarantine.csv"
    with atomic_path(path) as tmp:
        dealer.quarantine.to_csv(tmp, index=False, encoding="utf-8-sig")
    return path


# ---------------------------------------------------------------------------------------------
# The manifest
# ---------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_entry(root: Path, path: Path, rows: int) -> dict[str, Any]:
    return {
        "file": path.relative_to(root).as_posix(),
        "rows": int(rows),
        "bytes": path.stat().st_size,
        "sha256": _sha256(path),
    }


def _read_manifest(root: Path) -> dict[str, Any] | None:
    """The store's manifest; ``None`` when the store has none (written before manifests).

    Raises
    ------
    StoreDamageError
        When the manifest exists but cannot be read.
    """
    path = root / MANIFEST_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise StoreDamageError(
            f"store {str(root)!r}: its manifest {MANIFEST_FILE} is unreadable ({err}). "
            "Regenerate the store (crm-analytics generate) or re-import its dealers."
        ) from err
    if not isinstance(data, dict) or not isinstance(data.get("dealers"), dict):
        raise StoreDamageError(
            f"store {str(root)!r}: its manifest {MANIFEST_FILE} has no 'dealers' section. "
            "Regenerate the store (crm-analytics generate) or re-import its dealers."
        )
    return data


@contextmanager
def _manifest_update(root: Path) -> Iterator[dict[str, Any]]:
    """Read-modify-write the manifest under an exclusive lock (parallel dealer writers)."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / _LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            try:
                manifest = _read_manifest(root)
            except StoreDamageError:
                manifest = None  # rewritten below; dealers missing from it show as damage
            if manifest is None:
                manifest = {"dealers": {}}
            manifest["version"] = _MANIFEST_VERSION
            yield manifest
            text = json.dumps(manifest, indent=1, sort_keys=True)
            atomic_write_text(text, root / MANIFEST_FILE)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _file_problem(root: Path, entry: Mapping[str, Any]) -> str | None:
    """What is wrong with one manifest-listed file (``None`` when it matches)."""
    path = root / str(entry.get("file", ""))
    if not path.is_file():
        return "missing (deleted?)"
    try:
        size = path.stat().st_size
        recorded = entry.get("bytes")
        if size != recorded:
            shown = f"{recorded:,}" if isinstance(recorded, int) else repr(recorded)
            return f"{size:,} bytes where the manifest records {shown} (truncated or changed)"
        if _sha256(path) != entry.get("sha256"):
            return "checksum mismatch: same size, other content (altered or corrupted)"
    except OSError as err:
        return f"unreadable ({err.strerror or err})"
    return None


def verify_dealer(source: str | os.PathLike[str], dealer_id: str, *, truth: bool = True) -> bool:
    """Check one dealer's files against the store manifest (sizes, then sha256 checksums).

    Parameters
    ----------
    source
        Store folder.
    dealer_id
        The dealer to check.
    truth
        Also check the simulator's ground-truth files (a load without them does not read
        them).

    Returns
    -------
    bool
        ``True`` when the files match the manifest; ``False`` when the store has no manifest
        (written before manifests existed: nothing to check against).

    Raises
    ------
    StoreDamageError
        Naming the dealer and every missing, truncated or altered file (table and path), and
        the fix.
    """
    dealer_id = str(dealer_id)
    if is_url(source):
        read = (*TABLE_NAMES, "truth") if truth else TABLE_NAMES
        with _source_root(source, dealer_id, read) as root:
            return verify_dealer(root, dealer_id, truth=truth)
    root = Path(source)
    manifest = _read_manifest(root)
    if manifest is None:
        return False
    fix = (
        "Regenerate the store (crm-analytics generate) or re-import this dealer's DMS export; "
        "the other dealers are not affected."
    )
    entry = manifest["dealers"].get(dealer_id)
    if not isinstance(entry, dict):
        raise StoreDamageError(
            f"dealer {dealer_id!r} of store {str(root)!r} is listed in {DEALERS_FILE} but not in "
            f"{MANIFEST_FILE}: its tables were never completely written. {fix}"
        )
    problems = []
    for kind in ("tables", "truth") if truth else ("tables",):
        for name, file_entry in sorted((entry.get(kind) or {}).items()):
            problem = _file_problem(root, file_entry)
            if problem:
                label = f"table {name!r}" if kind == "tables" else f"truth frame {name!r}"
                problems.append(f"{label}: file {file_entry.get('file')!r}: {problem}")
    if problems:
        raise StoreDamageError(
            f"dealer {dealer_id!r} of store {str(root)!r} is damaged:\n- "
            + "\n- ".join(problems)
            + f"\n{fix}"
        )
    return True


# ---------------------------------------------------------------------------------------------
# Reading the store
# ---------------------------------------------------------------------------------------------


def _cache_dir(url: str) -> Path:
    base = os.environ.get("CRM_ANALYTICS_CACHE") or Path.home() / ".cache" / "crm_analytics"
    key = hashlib.blake2b(url.rstrip("/").encode(), digest_size=8).hexdigest()
    return Path(base) / "stores" / key


def _fetch(fs: Any, remote: str, local: Path) -> bool:
    """Copy one file of a URL store into the cache, atomically; False when it is absent."""
    try:
        with fs.open(remote, "rb") as src, atomic_path(local) as tmp:
            with open(tmp, "wb") as dst:
                while chunk := src.read(1 << 22):
                    dst.write(chunk)
    except FileNotFoundError:
        local.unlink(missing_ok=True)
        return False
    return True


def _mirror(url: str, dealer_id: str | None = None, tables: Sequence[str] = ()) -> Path:
    """The cache folder holding what a read of the URL store needs: its index and manifest,
    and (``dealer_id``) the dealer's files of ``tables`` (``"truth"``: its truth frames)."""
    import fsspec  # stores read by URL only

    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as err:
        raise InputError(
            f"store {url!r}: no filesystem for this URL ({err}). Install the fsspec "
            "implementation of its protocol (s3fs for s3://, gcsfs for gs://, ...)."
        ) from err
    root = root.rstrip("/")
    local = _cache_dir(url)
    try:
        if not _fetch(fs, f"{root}/{DEALERS_FILE}", local / DEALERS_FILE):
            raise InputError(
                f"{url!r} is not a network store: {DEALERS_FILE} is missing. Check the URL; a "
                "store is written to a folder (crm-analytics generate / import-dms) and then "
                "copied there."
            )
        has_manifest = _fetch(fs, f"{root}/{MANIFEST_FILE}", local / MANIFEST_FILE)
        if dealer_id is None:
            return local
        part = f"dealer_id={_check_dealer_id(dealer_id)}"
        manifest = _read_manifest(local) if has_manifest else None
        entry = (manifest or {}).get("dealers", {}).get(dealer_id) or {}
        files = []
        for table in tables:
            if table == "truth":
                files += [str(f["file"]) for f in (entry.get("truth") or {}).values()]
            else:
                files.append(f"{table}/{part}/{PART_FILE}")
        for name in files:
            _fetch(fs, f"{root}/{name}", local / name)
    except OSError as err:
        raise InputError(f"store {url!r} cannot be read: {err}") from err
    return local


def _named(err: CRMAnalyticsError, local: Path, url: str) -> CRMAnalyticsError:
    """``err`` with the cache folder of a URL store named by its URL."""
    out = type(err)(str(err).replace(str(local), url))
    out.__cause__ = err.__cause__
    return out


def _shown(path: Path, root: Path, source: str | os.PathLike[str]) -> str:
    """A file of the store as its reader named the store (a URL store's file by its URL)."""
    if not is_url(source):
        return str(path)
    return f"{str(source).rstrip('/')}/{path.relative_to(root).as_posix()}"


@contextmanager
def _source_root(
    source: str | os.PathLike[str], dealer_id: str | None = None, tables: Sequence[str] = ()
) -> Iterator[Path]:
    """The store folder of ``source`` (a folder, or the cache of a URL store holding the
    dealer's ``tables``); an error inside names the URL, not the cache."""
    if not is_url(source):
        yield _store_root(source)
        return
    url = str(source)
    local = _mirror(url, dealer_id, tables)
    try:
        yield local
    except CRMAnalyticsError as err:
        raise _named(err, local, url) from None


def _store_root(source: str | os.PathLike[str]) -> Path:
    root = Path(source)
    if not root.is_dir():
        raise InputError(f"data folder {str(root)!r} does not exist. {_SAMPLE_HINT}")
    if not (root / DEALERS_FILE).is_file():
        hint = ""
        if any(p.suffix.lower() in (".csv", ".xlsx") for p in root.iterdir()):
            hint = " It holds CSV/Excel files: read a DMS export with crm_analytics.data.dms.read_dms_export."
        raise InputError(
            f"{str(root)!r} is not a network store: {DEALERS_FILE} is missing "
            f"(write it with crm_analytics.data.store.write_dealers_index).{hint} {_SAMPLE_HINT}"
        )
    return root


def _read_parquet(con: duckdb.DuckDBPyConnection, path: Path, what: str) -> pd.DataFrame:
    """Read one Parquet file; a file that cannot be read is reported as store damage."""
    import duckdb  # already loaded: the caller's connection is duckdb's

    try:
        if any(ch in str(path) for ch in "*?[]{}"):  # DuckDB would read these as a glob
            return pq.read_table(path).to_pandas()
        # .to_arrow_table(): DuckDB 2.0's .arrow() returns a reader and leaves the connection busy
        return con.read_parquet(str(path)).to_arrow_table().to_pandas()
    except (duckdb.Error, pa.ArrowException, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StoreDamageError(
            f"{what}: file {str(path)!r} is not a readable Parquet file ({first}). Regenerate "
            "the store (crm-analytics generate) or re-import this dealer's DMS export."
        ) from err


def _add_optional_columns(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the nullable canonical columns it lacks added empty: a store written
    before a column existed (``leads.event_id``) still loads. A table without a file (the
    ``events`` of an older store) is empty already (see :func:`load_dealer`)."""
    nullable = column_nullable(table)
    missing = [c for c in columns(table) if c not in frame.columns and nullable.get(c, False)]
    if not missing:
        return frame
    empty = empty_frame(table)
    return frame.assign(
        **{c: pd.Series(pd.NA, index=frame.index, dtype=empty[c].dtype) for c in missing}
    )


def list_dealers(source: str | os.PathLike[str]) -> pd.DataFrame:
    """The dealers index of a network store (one row per dealer, sorted by ``dealer_id``).

    Raises
    ------
    InputError
        When the folder or its ``dealers.parquet`` is missing.
    """
    import duckdb  # the store's reads only: a notebook opening a saved analysis never loads it

    with _source_root(source) as root, duckdb.connect() as con:
        frame = _read_parquet(con, root / DEALERS_FILE, f"store {str(root)!r} dealers index")
    return frame.sort_values("dealer_id", kind="mergesort").reset_index(drop=True)


def _index_row(con: duckdb.DuckDBPyConnection, root: Path, dealer_id: str) -> pd.Series:
    """The dealer's row of the store's index (name, as-of date, opening hours)."""
    index = _read_parquet(con, root / DEALERS_FILE, f"store {str(root)!r} dealers index")
    lacking = [c for c in _INDEX_COLUMNS if c not in index.columns]
    if lacking:
        raise StoreDamageError(
            f"store {str(root)!r}: {DEALERS_FILE} lacks column(s) {lacking}. Rewrite it "
            "with crm_analytics.data.store.write_dealers_index, or regenerate the store."
        )
    row = index.loc[index["dealer_id"] == dealer_id]
    if row.empty:
        known = sorted(index["dealer_id"].astype(str))
        raise UnknownDealerError(
            f"dealer {dealer_id!r} is not in the store {str(root)!r} ({len(known)} dealers, e.g. "
            f"{known[:5]}). Use crm_analytics.data.store.list_dealers to see them all."
        )
    return row.iloc[0]


def dealer_version(source: str | os.PathLike[str], dealer_id: str) -> str:
    """A hash that changes whenever the dealer's data in the store change: its row of the
    index and its files' checksums as the manifest records them (in a store without a
    manifest, the files themselves). Cheap for a URL store: no table file is fetched."""
    dealer_id = str(dealer_id)
    h = hashlib.blake2b(digest_size=16)
    with _source_root(source) as root:  # a URL store's index and manifest fetched once
        index = list_dealers(root)
        entry = ((_read_manifest(root) or {}).get("dealers") or {}).get(dealer_id)
    row = index.loc[index["dealer_id"].astype(str) == dealer_id].astype(str).to_dict("records")
    h.update(json.dumps(row, sort_keys=True).encode())
    if isinstance(entry, dict):
        h.update(json.dumps(entry, sort_keys=True).encode())
        return h.hexdigest()
    with _source_root(source, dealer_id, TABLE_NAMES) as root:
        part = f"dealer_id={_check_dealer_id(dealer_id)}"
        files = [*root.glob(f"*/{part}/*.parquet"), *root.glob(f"truth/*/{part}/*.parquet")]
        for f in sorted(files):
            h.update(f.relative_to(root).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def read_table(
    source: str | os.PathLike[str], dealer_id: str, table: str
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """One table of one dealer, validated by the table's own rules and cut at the dealer's
    as-of date, with that date: for a pass over the whole network that needs one table of
    every dealer (the BTYD network prior reads only the service visits), not a load.

    The cross-table rules of :func:`load_dealer` (a visit of an unknown vehicle, ...) are not
    applied, so a row they would quarantine is kept here; use :func:`load_dealer` for a
    dealer's figures.

    Raises
    ------
    InputError
        Unknown table, or the folder is not a store.
    UnknownDealerError, StoreDamageError
        As :func:`load_dealer`.
    """
    if table not in TABLES:
        raise InputError(f"unknown table {table!r}; canonical tables are {list(TABLE_NAMES)}")
    dealer_id = str(dealer_id)
    import duckdb  # the store's reads only, as in load_dealer

    with _source_root(source, dealer_id, (table,)) as root, duckdb.connect() as con:
        path = root / table / f"dealer_id={_check_dealer_id(dealer_id)}" / PART_FILE
        where = _shown(path, root, source)
        meta = _index_row(con, root, dealer_id)
        frame = (
            _add_optional_columns(
                table, _read_parquet(con, path, f"dealer {dealer_id!r} table {table!r}")
            )
            if path.is_file()
            else empty_frame(table)
        )
    frame["dealer_id"] = dealer_id
    kept, _ = validate_table(table, frame, source=where)
    as_of = pd.Timestamp(meta["as_of"])
    for col in EVENT_TIMES.get(table, ()):
        kept = kept.loc[~after_as_of(kept[col], as_of)]
    return kept, as_of


def load_dealer(
    source: str | os.PathLike[str],
    dealer_id: str,
    *,
    strict: bool = False,
    truth: bool = True,
) -> DealerData:
    """Load and validate one dealer of a network store.

    Only that dealer's partition files are read (direct paths, via DuckDB), after checking them
    against the store manifest (:func:`verify_dealer`). A table recorded with 0 rows is empty;
    a recorded file that is missing is damage. In a store without a manifest (older), a table
    without a partition file is empty.

    Parameters
    ----------
    source
        Store folder (see the module docstring for its layout).
    dealer_id
        The dealer to load (a string id; see :func:`list_dealers`).
    strict
        Raise :class:`~crm_analytics.core.errors.DataValidationError` if any row fails validation.
    truth
        Also load the simulator's ground-truth frames (if any).

    Returns
    -------
    DealerData

    Raises
    ------
    InputError
        When the folder is not a store.
    UnknownDealerError
        When the index does not list ``dealer_id``.
    StoreDamageError
        When the dealer's files are missing, truncated, altered (checked against the store's
        manifest) or unreadable; the message names the dealer, table and file. Other dealers
        of the store are not affected.

    Warns
    -----
    StoreWarning
        When the store has no manifest (written by an older version).
    """
    dealer_id = str(dealer_id)
    import duckdb  # the store's reads only: a notebook opening a saved analysis never loads it

    tables_read = (*TABLE_NAMES, "truth") if truth else TABLE_NAMES
    with _source_root(source, dealer_id, tables_read) as root, duckdb.connect() as con:
        meta = _index_row(con, root, dealer_id)
        part = f"dealer_id={_check_dealer_id(dealer_id)}"
        if not verify_dealer(root, dealer_id, truth=truth):
            warnings.warn(
                f"store {str(root)!r} has no {MANIFEST_FILE} (written by an older version): a "
                "deleted or damaged table file cannot be told from an empty table. Regenerate "
                "or re-import the store to add one.",
                StoreWarning,
                stacklevel=2,
            )
        tables: dict[str, pd.DataFrame] = {}
        sources: dict[str, str] = {}
        for table in TABLE_NAMES:
            path = root / table / part / PART_FILE
            if path.is_file():
                frame = _read_parquet(con, path, f"dealer {dealer_id!r} table {table!r}")
                tables[table] = _add_optional_columns(table, frame)
                sources[table] = _shown(path, root, source)
        truth_frames: dict[str, pd.DataFrame] = {}
        truth_root = root / "truth"
        if truth and truth_root.is_dir():
            for folder in sorted(truth_root.iterdir()):
                path = folder / part / PART_FILE
                if path.is_file():
                    truth_frames[folder.name] = _read_parquet(
                        con, path, f"dealer {dealer_id!r} truth frame {folder.name!r}"
                    )
    return build_dealer(
        tables,
        dealer_id=dealer_id,
        name=str(meta["name"]),
        city=str(meta["city"]),
        region=str(meta["region"]),
        as_of=meta["as_of"],
        opening_hour=int(meta["opening_hour"]),
        closing_hour=int(meta["closing_hour"]),
        strict=strict,
        sources=sources,
        truth=truth_frames,
    )
