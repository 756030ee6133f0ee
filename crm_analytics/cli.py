"""The ``crm-analytics`` command.

Sub-commands
------------
``generate``  write a simulated dealer network as a Parquet store (the sample by default)
``check``     load every dealer of a store and print its validation summary
``report``    run the diagnostic notebooks for each dealer and write HTML reports + an index
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from crm_analytics.core.errors import CRMAnalyticsError

SAMPLE = {"n_dealers": 5, "customers_per_dealer": 2500, "years": 5.0, "seed": 2016}
DEFAULT_STORE = "data/sample"


def _generate(args: argparse.Namespace) -> int:
    from crm_analytics.sim import simulate_network

    t0 = time.perf_counter()
    index = simulate_network(
        n_dealers=args.dealers,
        customers_per_dealer=args.customers,
        years=args.years,
        seed=args.seed,
        out=args.out,
        workers=args.workers,
    )
    dt = time.perf_counter() - t0
    sys.stdout.write(f"wrote {len(index)} dealer(s) to {args.out} in {dt:.1f} s\n")
    return 0


def _check(args: argparse.Namespace) -> int:
    from crm_analytics.data.store import list_dealers, load_dealer
    from crm_analytics.data.validation import format_report

    dealers = list_dealers(args.source)
    ids = args.dealers or dealers["dealer_id"].tolist()
    bad = 0
    for did in ids:
        d = load_dealer(args.source, did)
        s = d.summary()
        sys.stdout.write(
            f"{did} {d.name}: {int(s['kept'].sum()):,} rows kept, {int(s['quarantined'].sum()):,} quarantined\n"
        )
        if len(d.report):
            bad += 1
            sys.stdout.write(format_report(d.report, limit=10) + "\n")
    return 1 if (bad and args.strict) else 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``crm-analytics`` command."""
    p = argparse.ArgumentParser(prog="crm-analytics", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write a simulated dealer network (Parquet store)")
    g.add_argument("--out", default=DEFAULT_STORE, help=f"store folder (default {DEFAULT_STORE})")
    g.add_argument("--dealers", type=int, default=SAMPLE["n_dealers"], help="number of dealers")
    g.add_argument(
        "--customers", type=int, default=SAMPLE["customers_per_dealer"], help="customers per dealer"
    )
    g.add_argument("--years", type=float, default=SAMPLE["years"], help="years of history")
    g.add_argument("--seed", type=int, default=SAMPLE["seed"], help="master seed")
    g.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    g.set_defaults(func=_generate)

    c = sub.add_parser("check", help="load and validate every dealer of a store")
    c.add_argument(
        "--source", default=DEFAULT_STORE, help=f"store folder (default {DEFAULT_STORE})"
    )
    c.add_argument("--dealers", nargs="*", help="dealer ids (default: all)")
    c.add_argument("--strict", action="store_true", help="exit 1 if any row was quarantined")
    c.set_defaults(func=_check)

    from crm_analytics.batch import runner

    r = sub.add_parser("report", help="run the diagnostic notebooks for each dealer; HTML + index")
    runner.add_arguments(r)
    r.set_defaults(func=runner.run_from_args)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``crm-analytics`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CRMAnalyticsError as err:
        sys.stderr.write(f"crm-analytics: error: {err}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
