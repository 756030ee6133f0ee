"""Benchmark: one 20,000-customer dealer's whole report (run on demand, not in CI).

Measures, on ``simulate_dealer(0, customers=20000)``:

1. ``analyse_dealer`` in total and per part (call lists, reconciliation, metrics, quality
   scorecard, churn model with its backtest, lead training rows, KPI tree and diagnosis with
   matured cohorts, the report's sections);
2. the ``dealer_report`` notebook executed with papermill on the saved analysis, and its HTML
   export.

The budget is 30 s for (1) + (2); the script prints each part as a share of it and the ratio
of the whole to the budget (below 1.0 meets it). The machine is shared, so wall seconds are
noisy: CPU seconds are printed beside them (the analysis: this process; the notebook: the
kernel and the exporter, as children's CPU time), the measure of the monthly run's budget of
about 20-24 CPU seconds per dealer (issue 14).

Usage::

    python bench/bench_report_one_dealer.py [--customers 20000] [--skip-notebook]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import crm_analytics.report.analysis as analysis_module
from crm_analytics.batch.tooling import load_tooling
from crm_analytics.core.config import resolve_settings
from crm_analytics.report.analysis import analyse_dealer, save_analysis

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 30.0
PARTS = (
    "call_lists",
    "dealer_metrics",
    "_fit_churn",
    "_lead_frames",
    "diagnosis_with_maturity",
    "report_sections",
)


def _timed_parts() -> dict[str, float]:
    """Wrap the analysis module's parts so each call adds its seconds to the returned dict."""
    spent: dict[str, float] = {}

    def wrap(name: str, fn: Any) -> Any:
        def timed(*args: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - t0

        return timed

    for name in PARTS:
        setattr(analysis_module, name, wrap(name, getattr(analysis_module, name)))
    q = analysis_module.quality
    for name in ("reconcile_visits", "quality_scorecard"):
        setattr(q, name, wrap(name, getattr(q, name)))
    return spent


def _render(analysis_path: Path, out: Path) -> float:
    load_tooling()  # as the runner does: nbformat's jsonschema without the IRI grammar
    import jupytext
    import nbformat
    import papermill as pm

    from crm_analytics.batch.export import export_html

    t0 = time.perf_counter()
    # the tracked py:percent source (a generated .ipynb beside it may be stale)
    source = out / "dealer_report.ipynb"
    nbformat.write(jupytext.read(ROOT / "notebooks" / "dealer_report.py", fmt="py:percent"), source)
    # as the runner executes and exports it (batch/runner._papermill): the notebook is not
    # saved after every cell, and the executed notebook is exported as returned
    nb = pm.execute_notebook(
        str(source),
        str(out / "report.ipynb"),
        parameters={"dealer_id": "D001", "analysis_path": str(analysis_path), "language": "zh"},
        kernel_name="python3",
        progress_bar=False,
        request_save_on_cell_execute=False,
        extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        cwd=str(ROOT / "notebooks"),
    )
    export_html(nb, out / "report.html")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--skip-notebook", action="store_true")
    args = ap.parse_args()

    from crm_analytics.sim import simulate_dealer

    t0 = time.perf_counter()
    dealer = simulate_dealer(0, customers=args.customers)
    print(f"simulated {args.customers:,} customers in {time.perf_counter() - t0:.1f} s")
    settings = resolve_settings(dealer.dealer_id)
    spent = _timed_parts()
    t0, c0 = time.perf_counter(), time.process_time()
    analysis = analyse_dealer(dealer, settings).without_frames()
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"analyse_dealer: {total:.1f} s ({total / BUDGET_S:.2f} of the 30 s budget), CPU {cpu:.1f} s"
    )
    for name, s in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<26} {s:6.1f} s  {s / total:6.1%}")
    whole = total
    if not args.skip_notebook:
        with tempfile.TemporaryDirectory() as tmp:
            c0 = time.process_time() + _children_cpu()
            path = save_analysis(analysis, Path(tmp) / "analysis.pkl")
            render = _render(path, Path(tmp))
            render_cpu = time.process_time() + _children_cpu() - c0
        whole += render
        cpu += render_cpu
        print(f"dealer_report notebook + HTML: {render:.1f} s, CPU {render_cpu:.1f} s")
    print(
        f"whole report: {whole:.1f} s; ratio to the 30 s budget {whole / BUDGET_S:.2f}; "
        f"CPU {cpu:.1f} s"
    )


def _children_cpu() -> float:
    """CPU seconds of the finished child processes (the notebook's kernel)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


if __name__ == "__main__":
    main()
