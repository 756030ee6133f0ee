"""Atomic file writes and JSON artefacts: the one place that writes a file in place.

A write goes to ``.<name>.<pid>.tmp`` in the target's folder and is renamed over the target
(``os.replace``), so a run killed mid-write leaves at most that temp file (the batch runner
removes it on its next start), never a half-written report, table or metrics file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import pickle
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crm_analytics.core.errors import InputError

__all__ = [
    "atomic_path",
    "atomic_write_text",
    "file_identity",
    "is_url",
    "read_json",
    "read_pickle",
    "read_while_unchanged",
    "to_jsonable",
    "write_json",
    "write_pickle",
]


_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_url(source: object) -> bool:
    """Whether ``source`` names a file or store by URL (``s3://...``, ``file://...``: read
    with fsspec), not by a path."""
    return isinstance(source, str) and bool(_URL_RE.match(source))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it replaces ``path``, on error it is removed.

    Examples
    --------
    >>> with atomic_path("out/table.parquet") as tmp:  # doctest: +SKIP
    ...     pq.write_table(table, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Write UTF-8 text atomically (temp file, ``fsync``, rename); returns the path."""
    with atomic_path(path) as tmp:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def to_jsonable(obj: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN/inf to None, timestamps to ISO text, keys to str."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    return obj


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` (made JSON-safe by :func:`to_jsonable`) as JSON, atomically."""
    text = json.dumps(to_jsonable(obj), ensure_ascii=False, indent=1, sort_keys=True)
    return atomic_write_text(text, path)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; ``None`` when it is missing or unreadable (writes are atomic, but a
    file from elsewhere may be corrupt)."""
    try:
        with Path(path).open(encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def write_pickle(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Pickle ``obj`` to ``path`` atomically (a run folder's fitted models and analyses)."""
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return Path(path)


def file_identity(path: str | os.PathLike[str]) -> tuple[str, int, int] | None:
    """A file's resolved path, modification time (ns) and size; ``None`` when there is no such
    file. Equal identities: a value read from the file before may be used again."""
    p = Path(path).resolve()
    try:
        st = p.stat()
    except OSError:
        return None
    return str(p), st.st_mtime_ns, st.st_size


def read_while_unchanged(cache: dict[str, Any], key: Any, read: Callable[[], Any]) -> Any:
    """``read()``, kept in ``cache`` under ``key`` (the identities of the files it reads,
    :func:`file_identity`) and handed back while the key is unchanged; ``key=None``: read
    each time, nothing kept."""
    if key is not None and cache.get("key") == key:
        return cache["value"]
    cache.clear()
    value = read()
    if key is not None:
        cache.update(key=key, value=value)
    return value


def read_pickle(path: str | os.PathLike[str], *, what: str = "artefact") -> Any:
    """Read a pickle written by :func:`write_pickle` (only from a run folder you trust).

    Raises
    ------
    InputError
        The file is missing or cannot be unpickled (damaged, or from another package
        version); the message names the file and says to rerun the dealer.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"no {what} at {p}: rerun `crm-analytics report` for this dealer")
    try:
        with p.open("rb") as fh:
            return pickle.load(fh)  # noqa: S301 - the run folder's own artefact
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as err:
        raise InputError(
            f"{p} cannot be read ({type(err).__name__}: {err}); rerun the dealer with --force"
        ) from err


#: the package's folder (its source files are hashed by :func:`code_hash`)
_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def hash_files(paths: Iterable[str | os.PathLike[str]], h: Any) -> None:
    """Feed each file's path and bytes (in path order) into the hash ``h``."""
    for p in sorted(str(x) for x in paths):
        h.update(p.encode())
        with open(p, "rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(chunk)


def code_hash(extra: Iterable[str | os.PathLike[str]] = ()) -> str:
    """Hash of the package's source and the files ``extra`` (e.g. the notebooks a run
    executes): an analysis or output made by other code is not reused."""
    h = hashlib.blake2b(digest_size=16)
    hash_files(extra, h)
    hash_files(sorted(_PACKAGE_DIR.rglob("*.py")), h)
    return h.hexdigest()
