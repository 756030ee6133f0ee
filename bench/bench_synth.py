"""Benchmark: write a 100-dealer x 20,000-customer x 5-year network, then load one dealer.

Targets (issue 2): written in under 5 minutes with peak memory under 8 GiB on a 2-core machine;
one dealer loads (read + validate) from it in under 2 s.

Usage: python bench/bench_synth.py [--dealers 100] [--customers 20000] [--out bench/out/network]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
from pathlib import Path

from crm_analytics.data.store import list_dealers, load_dealer
from crm_analytics.sim import simulate_network


def _peak_gib() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return own, kids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dealers", type=int, default=100)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--years", type=float, default=5.0)
    ap.add_argument("--out", default="bench/out/network")
    ap.add_argument("--keep", action="store_true", help="keep the store for other benchmarks")
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    simulate_network(
        n_dealers=args.dealers,
        customers_per_dealer=args.customers,
        years=args.years,
        seed=2016,
        out=out,
    )
    t_write = time.perf_counter() - t0
    own, kids = _peak_gib()
    size = sum(f.stat().st_size for f in out.rglob("*.parquet")) / 2**20
    dealers = list_dealers(out)
    mid = dealers["dealer_id"].iloc[len(dealers) // 2]
    load_dealer(out, dealers["dealer_id"].iloc[0])  # warm imports (pandera builds schemas lazily)
    times = []
    for _ in range(3):
        t1 = time.perf_counter()
        d = load_dealer(out, mid)
        times.append(time.perf_counter() - t1)
    rows = sum(len(t) for t in d.tables.values())
    print(f"network: {args.dealers} dealers x {args.customers:,} customers x {args.years:g} years")
    print(f"write:   {t_write:7.1f} s   (target < 300 s: ratio {t_write / 300:.2f} of budget)")
    print(f"peak RSS: parent {own:.2f} GiB, largest worker {kids:.2f} GiB (target < 8 GiB)")
    print(f"store:   {size:,.0f} MiB on disk")
    print(
        f"load one dealer ({mid}, {rows:,} rows, validated): best {min(times):.2f} s of 3 (target < 2 s)"
    )
    if not args.keep:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
