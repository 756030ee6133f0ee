"""Benchmark of the report runner (run on demand, not in CI).

Measures
--------
1. Per-notebook overhead: papermill on an empty notebook (kernel start + shutdown), on a notebook
   that only imports what the report imports, and on one that also loads a dealer.
2. One large dealer (``--customers``, default 20,000) through the whole runner (metrics step,
   ``dealer_report``, network notebook, index): target under 60 s.
3. Throughput on 8 dealers with 1 and 2 local workers: target ratio >= 1.7.

Usage::

    python bench/bench_report.py [--customers 20000] [--dealers 8] [--skip-large]

Stores and runs go to ``bench/out/`` (git-ignored); stores are reused when present.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def _store(name: str, n_dealers: int, customers: int) -> Path:
    from crm_analytics.sim import simulate_network

    root = OUT / name
    if not (root / "dealers.parquet").is_file():
        t0 = time.perf_counter()
        simulate_network(
            n_dealers=n_dealers, customers_per_dealer=customers, years=5, seed=2016, out=root
        )
        print(
            f"  generated {name}: {n_dealers} x {customers} customers in {time.perf_counter() - t0:.1f} s"
        )
    return root


def _nb(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "language": "python",
        "display_name": "Python 3",
    }
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


def overhead(store: Path, repeat: int = 3) -> dict[str, float]:
    import papermill as pm

    tmp = Path(tempfile.mkdtemp(prefix="bench_report_"))
    imports = (
        "import matplotlib.pyplot as plt\nimport pandas as pd\nfrom crm_analytics.report import plots\n"
        "from crm_analytics.data.store import load_dealer\nfrom crm_analytics.report import display\nfrom crm_analytics.report import headline as metrics\n"
        "lang = plots.apply_style('zh')"
    )
    cases = {
        "empty notebook (kernel start/stop)": _nb(tmp / "empty.ipynb", ["1"]),
        "+ report imports": _nb(tmp / "imports.ipynb", [imports]),
        "+ load_dealer (2,500 customers)": _nb(
            tmp / "load.ipynb", [imports, f"d = load_dealer({str(store)!r}, 'D001')"]
        ),
    }
    res = {}
    for name, path in cases.items():
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            pm.execute_notebook(
                str(path), str(tmp / "o.ipynb"), kernel_name="python3", progress_bar=False
            )
            times.append(time.perf_counter() - t0)
        res[name] = statistics.median(times)
        print(f"  {name:40s} {res[name]:6.2f} s (median of {repeat})")
    shutil.rmtree(tmp, ignore_errors=True)
    return res


def _run(store: Path, out: Path, workers: int) -> tuple[float, dict]:
    from crm_analytics.batch.runner import run_report

    shutil.rmtree(out, ignore_errors=True)
    params = out.parent / f"{out.name}-params"
    params.mkdir(parents=True, exist_ok=True)
    (params / "network.yaml").write_text(f"source: {store}\nlanguage: zh\n")
    t0 = time.perf_counter()
    s = run_report(out=out, all_dealers=True, params_dir=params, workers=workers, progress=False)
    dt = time.perf_counter() - t0
    assert s.exit_code == 0, [(r.dealer_id, r.error) for r in s.failed]
    return dt, {r.dealer_id: r.timings for r in s.results}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=20000)
    ap.add_argument("--dealers", type=int, default=8)
    ap.add_argument("--skip-large", action="store_true")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    figures: dict[str, object] = {}

    print("1. per-notebook overhead")
    net = _store(f"net{args.dealers}", args.dealers, 2500)
    figures["overhead_s"] = overhead(net)

    if not args.skip_large:
        print(f"2. one dealer with {args.customers:,} customers, whole runner (1 worker)")
        big = _store(f"big{args.customers}", 1, args.customers)
        dt, timings = _run(big, OUT / "run-big", 1)
        figures["large_dealer_run_s"] = dt
        figures["large_dealer_notebook_s"] = timings["D001"].get("dealer_report")
        print(
            f"  whole run {dt:.1f} s (dealer_report notebook {figures['large_dealer_notebook_s']:.1f} s); target < 60 s"
        )

    print(f"3. throughput on {args.dealers} dealers")
    t1, _ = _run(net, OUT / "run-w1", 1)
    t2, _ = _run(net, OUT / "run-w2", 2)
    figures.update({"workers1_s": t1, "workers2_s": t2, "speedup_2_vs_1": t1 / t2})
    print(f"  1 worker {t1:.1f} s, 2 workers {t2:.1f} s: {t1 / t2:.2f}x (target >= 1.7x)")
    (OUT / "bench_report.json").write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
