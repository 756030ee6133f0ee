"""Compare the metrics of two run folders: every dealer's ``metrics.json``, value by value.

Used to show that a refactoring changed no number: run the same store and parameters with the
code before and after, then

    python bench/diff_runs.py reports/before reports/after

prints every dealer and key that differs (relative tolerance ``--rtol``, default exact) and
exits 1 when any does. Volatile fields (durations, timestamps, fingerprints, links) are ignored.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

IGNORED = {"duration_s", "timings", "finished_at", "fingerprint", "report", "error"}


def _flatten(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(obj, dict):
        for k, v in sorted(obj.items()):
            if prefix == "" and k in IGNORED:
                continue
            yield from _flatten(v, f"{prefix}{k}.")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _flatten(v, f"{prefix}{i}.")
    else:
        yield prefix.rstrip("."), obj


def _same(a: Any, b: Any, rtol: float) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=rtol, abs_tol=0.0) if rtol else a == b
    return a == b


def diff_runs(before: Path, after: Path, *, rtol: float = 0.0) -> list[str]:
    """Differences between the ``metrics.json`` files of two run folders."""
    out = []
    a_files = {p.parent.name: p for p in before.glob("*/metrics.json")}
    b_files = {p.parent.name: p for p in after.glob("*/metrics.json")}
    for d in sorted(set(a_files) ^ set(b_files)):
        out.append(f"{d}: only in {'before' if d in a_files else 'after'}")
    for d in sorted(set(a_files) & set(b_files)):
        a = dict(_flatten(json.loads(a_files[d].read_text(encoding="utf-8"))))
        b = dict(_flatten(json.loads(b_files[d].read_text(encoding="utf-8"))))
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b or not _same(a[k], b[k], rtol):
                out.append(f"{d}: {k}: {a.get(k, '(missing)')!r} -> {b.get(k, '(missing)')!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--rtol", type=float, default=0.0, help="relative tolerance (default exact)")
    args = p.parse_args(argv)
    diffs = diff_runs(args.before, args.after, rtol=args.rtol)
    n = len(list(args.before.glob("*/metrics.json")))
    for line in diffs:
        sys.stdout.write(line + "\n")
    sys.stdout.write(f"{n} dealer(s) compared, {len(diffs)} difference(s)\n")
    return 1 if diffs else 0


if __name__ == "__main__":
    raise SystemExit(main())
