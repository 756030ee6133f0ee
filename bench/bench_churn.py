"""Benchmark: fit the churn model on a network of 100 dealers x 20,000 customers.

Target (issue 6): under 2 minutes and under 6 GiB.

Phase 1 (not timed) simulates the network in a process pool and caches one pickled
``DealerData`` per dealer (``--cache``; reused by later runs). Phase 2 runs in a fresh child
process so that its peak memory is its own: it streams the dealers from the cache (one at a
time per worker) into ``ChurnModel(n_jobs=...).fit(network, cutoff=...)`` and reports wall time,
the time spent loading pickles, and peak resident memory (``resource.getrusage``: the process
itself plus its worker processes).

Usage::

    PYTHONPATH=. python bench/bench_churn.py --dealers 100 --customers 20000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import pickle
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def _simulate(args: tuple[int, int, str]) -> str:
    i, customers, cache = args
    path = Path(cache) / f"D{i:03d}.pkl"
    if path.exists():
        return str(path)
    from crm_analytics.sim import simulate_dealer

    d = simulate_dealer(i, customers=customers, seed=2016)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(d, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return str(path)


def generate(n: int, customers: int, cache: str, workers: int) -> list[str]:
    Path(cache).mkdir(parents=True, exist_ok=True)
    jobs = [(i, customers, cache) for i in range(n)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
        return list(ex.map(_simulate, jobs))


class _Timed:
    """Iterate the cached dealers, loading each only when the model asks for it."""

    def __init__(self, paths: list[str]):
        self.paths = paths
        self.load_seconds = 0.0

    def __iter__(self):
        for p in self.paths:
            t = time.perf_counter()
            with open(p, "rb") as f:
                d = pickle.load(f)
            self.load_seconds += time.perf_counter() - t
            yield d


def fit_only(paths: list[str], cutoffs: list[str], workers: int, max_rows: int) -> dict:
    from crm_analytics.models.churn import ChurnModel

    data = _Timed(paths)
    model = ChurnModel(n_jobs=workers, max_train_rows=max_rows)
    t0 = time.perf_counter()
    X, y = model.training_frame(data, cutoffs)
    t1 = time.perf_counter()
    model.fit(X, y)
    t2 = time.perf_counter()
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return {
        "dealers": len(paths),
        "cutoffs": cutoffs,
        "rows": int(len(X)),
        "rows_fitted": int(min(len(X), max_rows)),
        "features_seconds": round(t1 - t0, 1),
        "of_which_loading_pickles_seconds": round(data.load_seconds, 1),
        "model_fit_seconds": round(t2 - t1, 1),
        "total_fit_seconds": round(t2 - t0, 1),
        "peak_rss_main_gib": round(me, 2),
        "peak_rss_one_worker_gib": round(kids, 2),
        "peak_memory_bound_gib": round(me + workers * kids, 2),
        "churn_rate": float(y.mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dealers", type=int, default=100)
    ap.add_argument("--customers", type=int, default=20000)
    ap.add_argument("--cutoffs", nargs="+", default=["2025-06-30"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-train-rows", type=int, default=200_000)
    ap.add_argument("--cache", default="/tmp/churn/bench")
    ap.add_argument("--fit-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    paths = [str(Path(a.cache) / f"D{i:03d}.pkl") for i in range(a.dealers)]
    if a.fit_only:
        print(json.dumps(fit_only(paths, a.cutoffs, a.workers, a.max_train_rows)))
        return
    t = time.perf_counter()
    generate(a.dealers, a.customers, a.cache, a.workers)
    print(
        f"simulated/cached {a.dealers} dealers x {a.customers} customers in {time.perf_counter() - t:.0f} s"
    )
    cmd = [
        sys.executable,
        __file__,
        "--fit-only",
        "--dealers",
        str(a.dealers),
        "--workers",
        str(a.workers),
        "--max-train-rows",
        str(a.max_train_rows),
        "--cache",
        a.cache,
        "--cutoffs",
        *a.cutoffs,
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ})
    res = json.loads(out.stdout.strip().splitlines()[-1])
    for k, v in res.items():
        print(f"{k:36s} {v}")
    print(
        f"target: under 120 s -> {'met' if res['total_fit_seconds'] < 120 else 'MISSED'}; "
        f"under 6 GiB -> {'met' if res['peak_memory_bound_gib'] < 6 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
