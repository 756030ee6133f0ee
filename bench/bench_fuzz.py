"""Long fuzz run of the DMS export reader (the bounded run is ``tests/test_fuzz.py``).

Runs ``--cases`` fuzz cases (hypothesis, seeded) through :func:`test_fuzz.run_case`: CSV in
several encodings and .xlsx, permuted English/Chinese headers, date and amount formats,
duplicated and blank rows, random byte damage and truncation. Counts the cases tried, how
they ended (read, or which package error refused the file) and every unexpected exception
or broken invariant (expected: zero). Writes ``bench/out/fuzz.json``.

Run on demand (not in the tests)::

    PYTHONPATH=. python bench/bench_fuzz.py --cases 3000 --seed 1
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import test_fuzz  # noqa: E402  (the fuzz cases and invariants live with the tests)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "fuzz.json"))
    args = ap.parse_args()

    outcomes: collections.Counter[str] = collections.Counter()
    unexpected: list[dict[str, str]] = []
    base = Path(tempfile.mkdtemp(prefix="fuzz-"))
    count = [0]

    @seed(args.seed)
    @settings(
        max_examples=args.cases,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=test_fuzz.export_case())
    def one(case: dict) -> None:
        count[0] += 1
        try:
            outcomes[test_fuzz.run_case(base / f"case{count[0]}", case)] += 1
        except Exception as err:  # noqa: BLE001 - recorded: these are the findings
            outcomes["UNEXPECTED"] += 1
            unexpected.append(
                {
                    "error": f"{type(err).__name__}: {err}"[:500],
                    "where": "".join(traceback.format_tb(err.__traceback__)[-3:])[-1500:],
                    "case": repr(case)[:2000],
                }
            )

    t0 = time.perf_counter()
    try:
        one()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    wall = time.perf_counter() - t0
    result = {
        "cases_tried": count[0],
        "unexpected_exceptions": len(unexpected),
        "outcomes": dict(outcomes.most_common()),
        "seconds": round(wall, 1),
        "seed": args.seed,
        "findings": unexpected[:20],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "findings"}, ensure_ascii=False))
    for f in unexpected[:5]:
        print(f["error"], f["where"], sep="\n")
    return 1 if unexpected else 0


if __name__ == "__main__":
    raise SystemExit(main())
