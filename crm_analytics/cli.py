"""The ``crm-analytics`` command: generate, import-dms, check, report."""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import time
import traceback
import warnings
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from crm_analytics.batch import runner
from crm_analytics.core.errors import CRMAnalyticsError, InputError
from crm_analytics.data.dms import DMSExportWarning, read_dms_export
from crm_analytics.data.store import add_dealer, list_dealers, load_dealer
from crm_analytics.data.validation import format_report

SAMPLE = {"n_dealers": 5, "customers_per_dealer": 2500, "years": 5.0, "seed": 2016}
DEFAULT_STORE = "data/sample"
SAMPLE_EXPORT_DIR = "data/sample_export/D042"

_DESCRIPTION = """\
Dealer CRM analytics: turn a dealer network's CRM data into diagnostic reports and call lists.

A monthly run, from a DMS export to the reports:
  crm-analytics import-dms data/sample_export/D042 --dealer D042 --store data/stores/network
  crm-analytics check --source data/stores/network
  crm-analytics report --all --source data/stores/network --month 2026-06 --out reports/2026-06

The bundled sample network (simulated, 5 dealers):
  crm-analytics generate
  crm-analytics report --all --out reports/sample

Run 'crm-analytics COMMAND --help' for a command's options and examples."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Examples kept as written, and each option's default shown once: a help that names its
    default itself is left alone, and no default is shown for a flag or an unset option."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS, []):
            return text
        if not action.option_strings:
            return text
        return text + " (default: %(default)s)"


def _version() -> str:
    try:
        return version("crm_analytics")
    except PackageNotFoundError:  # running from a checkout without installing
        return "unknown (not installed)"


# ---------------------------------------------------------------------------------------------
# generate
# ---------------------------------------------------------------------------------------------


def _generate(args: argparse.Namespace) -> int:
    # the simulator is used only by this command (and tests and benchmarks)
    from crm_analytics.sim import simulate_network  # generate only: sim/ stays off other paths
    from crm_analytics.sim.dms_export import write_sample_export  # generate only
    from crm_analytics.sim.external_lists import write_external_lists  # generate only

    t0 = time.perf_counter()
    index = simulate_network(
        n_dealers=args.dealers,
        customers_per_dealer=args.customers,
        years=args.years,
        seed=args.seed,
        out=args.out,
        workers=args.workers,
        key_accounts=not args.no_key_accounts,
        events=not args.no_events,
    )
    dt = time.perf_counter() - t0
    sys.stdout.write(f"wrote {len(index)} dealer(s) to {args.out} in {dt:.1f} s\n")
    if not args.no_external_lists:
        files = write_external_lists(args.out, seed=args.seed)
        sys.stdout.write(
            f"wrote {len(files)} external name list(s) to {args.out}/external_lists "
            f"in {time.perf_counter() - t0 - dt:.1f} s\n"
        )
    if args.sample_export:
        folder = write_sample_export(args.sample_export)
        sys.stdout.write(f"wrote the sample DMS export to {folder}\n")
    return 0


# ---------------------------------------------------------------------------------------------
# import-dms
# ---------------------------------------------------------------------------------------------


def _import_dms(args: argparse.Namespace) -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DMSExportWarning)
        dealer = read_dms_export(
            args.export_dir, dealer_id=args.dealer, as_of=args.as_of, mapping=args.mapping
        )
    notes = [str(w.message) for w in caught if issubclass(w.category, DMSExportWarning)]
    qfile = add_dealer(
        args.store,
        dealer,
        name=args.name,
        city=args.city,
        region=args.region,
        opening_hour=args.opening_hour,
        closing_hour=args.closing_hour,
    )
    s = dealer.summary()
    kept, quarantined = int(s["kept"].sum()), int(s["quarantined"].sum())
    sys.stdout.write(
        f"{dealer.dealer_id}: {int(s['rows_in'].sum()):,} rows read, {kept:,} kept, "
        f"{quarantined:,} quarantined (data date {dealer.as_of.date()}); store {args.store}\n"
    )
    if quarantined:
        sys.stdout.write(format_report(dealer.report, limit=10) + "\n")
        sys.stdout.write(f"quarantined rows with their reasons: {qfile}\n")
    for n in notes:
        sys.stdout.write(f"note: {n}\n")
    rejected = [n for n in notes if "ignored" in n or "not read" in n]
    if rejected:
        sys.stdout.write(
            "some files were not imported (above): rename them to a table of the mapping "
            "(params/dms_mapping.yaml) or pass --mapping, then import again\n"
        )
        return 1
    return 0


# ---------------------------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    dealers = list_dealers(args.source)
    known = dealers["dealer_id"].astype(str).tolist()
    ids = args.dealers or known
    failed = 0
    quarantined = 0
    for did in ids:
        if did not in known:
            close = difflib.get_close_matches(did, known, n=1)
            hint = (
                f" (did you mean {close[0]}?)" if close else f"; dealers: {', '.join(known[:10])}"
            )
            sys.stdout.write(f"{did}: FAILED: not in the store {args.source}{hint}\n")
            failed += 1
            continue
        try:
            d = load_dealer(args.source, did)
        except CRMAnalyticsError as err:
            sys.stdout.write(f"{did}: FAILED: {err}\n")
            failed += 1
            continue
        except Exception as err:  # noqa: BLE001 - one damaged dealer never hides the others
            where = traceback.extract_tb(err.__traceback__)[-1]
            sys.stdout.write(
                f"{did}: FAILED: {type(err).__name__}: {err} (in {Path(where.filename).name}). "
                "Regenerate or re-import this dealer; if it persists, report it with this line.\n"
            )
            failed += 1
            continue
        s = d.summary()
        n_q = int(s["quarantined"].sum())
        quarantined += bool(n_q)
        sys.stdout.write(
            f"{did} {d.name}: {int(s['kept'].sum()):,} rows kept, {n_q:,} quarantined\n"
        )
        if len(d.report):
            sys.stdout.write(format_report(d.report, limit=10) + "\n")
    sys.stdout.write(
        f"{len(ids)} dealer(s) checked: {failed} failed, {quarantined} with quarantined rows\n"
    )
    if failed:
        return 1
    return 1 if (quarantined and args.strict) else 0


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


def month_period(month: str) -> tuple[str, str]:
    """``"2026-06"`` -> ``("2026-06-01", "2026-06-30")``."""
    if not re.fullmatch(r"\d{4}-\d{2}", month or ""):
        raise InputError(f"--month must look like 2026-06, got {month!r}")
    start = pd.Timestamp(f"{month}-01")
    end = start + pd.offsets.MonthEnd(0)
    return start.date().isoformat(), end.date().isoformat()


def _report(args: argparse.Namespace) -> int:
    run_args = {}
    if args.month:
        run_args["period"] = month_period(args.month)
    elif args.period:
        run_args["period"] = tuple(args.period)
    args.run_args = run_args
    return runner.run_from_args(args)


# ---------------------------------------------------------------------------------------------
# the parser
# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``crm-analytics`` command."""
    p = argparse.ArgumentParser(
        prog="crm-analytics", description=_DESCRIPTION, formatter_class=_Formatter
    )
    p.add_argument("--version", action="version", version=f"crm-analytics {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = sub.add_parser(
        "generate",
        help="write a simulated dealer network (the bundled sample by default)",
        description="Write a simulated dealer network as a Parquet store.\n\nExample:\n"
        "  crm-analytics generate --out data/generated/big --dealers 100 --customers 20000",
        formatter_class=_Formatter,
    )
    g.add_argument("--out", default=DEFAULT_STORE, help="store folder")
    g.add_argument("--dealers", type=int, default=SAMPLE["n_dealers"], help="number of dealers")
    g.add_argument(
        "--customers", type=int, default=SAMPLE["customers_per_dealer"], help="customers per dealer"
    )
    g.add_argument("--years", type=float, default=SAMPLE["years"], help="years of history")
    g.add_argument("--seed", type=int, default=SAMPLE["seed"], help="master seed")
    g.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    g.add_argument(
        "--sample-export",
        default=None,
        metavar="DIR",
        help=f"also write the sample DMS export (shipped in {SAMPLE_EXPORT_DIR})",
    )
    g.add_argument(
        "--no-external-lists",
        action="store_true",
        help="do not write each dealer's simulated external name lists (external_lists/<ID>/)",
    )
    g.add_argument(
        "--no-key-accounts",
        action="store_true",
        help="do not simulate key accounts (company customers with fleets)",
    )
    g.add_argument(
        "--no-events",
        action="store_true",
        help="do not simulate marketing events and their leads (the events table stays empty)",
    )
    g.set_defaults(func=_generate)

    i = sub.add_parser(
        "import-dms",
        help="read a dealer's DMS export (CSV/Excel) into a store",
        description="Read a dealer's DMS export (a folder of CSV or Excel files with Chinese or "
        "English headers; UTF-8, UTF-8 with BOM or GB18030) into a store. Rows that cannot be "
        "used are quarantined with their reason, written beside the store and counted. Exit "
        "status 1 when files of the export were not imported.\n\nExample:\n"
        f"  crm-analytics import-dms {SAMPLE_EXPORT_DIR} --dealer D042 --store data/stores/network",
        formatter_class=_Formatter,
    )
    i.add_argument("export_dir", metavar="EXPORT_DIR", help="folder of the DMS export")
    i.add_argument("--dealer", required=True, metavar="ID", help="the dealer's id in the store")
    i.add_argument("--store", required=True, help="store folder (created when missing)")
    i.add_argument("--as-of", default=None, help="data date (default: the export's last record)")
    i.add_argument("--name", default=None, help="dealer name (default: the id)")
    i.add_argument("--city", default="", help="dealer city")
    i.add_argument("--region", default="", help="dealer region")
    i.add_argument("--opening-hour", type=int, default=9, help="showroom opening hour")
    i.add_argument("--closing-hour", type=int, default=18, help="showroom closing hour")
    i.add_argument(
        "--mapping", default=None, help="DMS mapping YAML (default: params/dms_mapping.yaml)"
    )
    i.set_defaults(func=_import_dms)

    c = sub.add_parser(
        "check",
        help="load and validate every dealer of a store",
        description="Load and validate every dealer of a store; a damaged or unknown dealer is "
        "reported and the others are still checked. Exit status 1 when any dealer failed "
        "(or, with --strict, had quarantined rows).\n\nExample:\n"
        "  crm-analytics check --source data/sample --dealers D001 D003",
        formatter_class=_Formatter,
    )
    c.add_argument("--source", default=DEFAULT_STORE, help="store folder")
    c.add_argument("--dealers", nargs="*", help="dealer ids (default: all)")
    c.add_argument("--strict", action="store_true", help="exit 1 if any row was quarantined")
    c.set_defaults(func=_check)

    r = sub.add_parser(
        "report",
        help="run the diagnostic notebooks of each dealer; HTML reports and an index",
        description="Run the diagnostic notebooks of each dealer (a network stage first: each "
        "dealer loaded once, network models fitted once) and write an HTML report per dealer, "
        "the CRM desk's lists and an index of the run.\n\nExamples:\n"
        "  crm-analytics report --all --out reports/sample\n"
        "  crm-analytics report --all --month 2026-06 --out reports/2026-06\n"
        "  crm-analytics report --dealers D003 --force --out reports/2026-06\n"
        "  crm-analytics report --all --scheduler tcp://10.0.0.5:8786 --out /shared/reports",
        formatter_class=_Formatter,
    )
    runner.add_arguments(r)
    when = r.add_mutually_exclusive_group()
    when.add_argument("--month", default=None, help="report month YYYY-MM (overrides the YAML)")
    when.add_argument(
        "--period", nargs=2, default=None, metavar=("START", "END"), help="report period dates"
    )
    r.set_defaults(func=_report)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``crm-analytics`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CRMAnalyticsError as err:
        sys.stderr.write(f"crm-analytics {args.command}: error: {err}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
