"""Sensitivity of the data-quality scores to injected defects (crm_analytics.metrics.quality).

Run on demand (not in CI)::

    PYTHONPATH=$PWD python bench/bench_quality_sensitivity.py [customers]

For every defect class of the simulator (:data:`crm_analytics.sim.simulator.DEFECT_CLASSES`)
and rate 0, 2, 5, 10 and 20% (the simulator's rate of that class, every other class at 0), one
dealer is simulated with the same seed and scored; the table gives each dimension's score
(weighted mean of per-rule scores) and, for comparison, the pooled pass rate the scorecard
used to report as the dimension score (``100 * (1 - sum failed / sum checked)`` over all rules).

The simulator closes a lead as defeated after 45 days without a touch, so a defect-free
simulated dealer has open leads idle 30-45 days; the follow-up rule is therefore run with
``followup_days=45`` (the simulator's process) so that the table shows the injected defects
only. With the default 30 days a defect-free dealer scores about 89 on continuity.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import pandas as pd

from crm_analytics.metrics.quality import QualityParams, quality_scorecard
from crm_analytics.sim import DEFECT_CLASSES, DefectRates, simulate_dealer

RATES = (0.0, 0.02, 0.05, 0.10, 0.20)
PARAMS = QualityParams(followup_days=45)
DIMS = ("authenticity", "continuity", "validity")


def scores(kind: str | None, rate: float, *, customers: int, seed: int = 11) -> dict:
    """Dimension scores and pooled pass rates of one simulated dealer with one defect class."""
    defects = DefectRates.none()
    if kind is not None:
        defects = dataclasses.replace(defects, **{kind: rate})
    dealer = simulate_dealer(0, customers=customers, seed=seed, defects=defects)
    d = quality_scorecard(dealer, params=PARAMS).dimensions.set_index("dimension")
    out = {f"{dim}": d.loc[dim, "score"] for dim in DIMS}
    out |= {f"{dim}_pooled": d.loc[dim, "pass_rate"] for dim in DIMS}
    return out


def sensitivity(customers: int = 1500, kinds=DEFECT_CLASSES, rates=RATES) -> pd.DataFrame:
    """One row per (defect class, rate): the three dimension scores and pooled pass rates."""
    base = scores(None, 0.0, customers=customers)
    rows = []
    for kind in kinds:
        for rate in rates:
            row = base if rate == 0 else scores(kind, rate, customers=customers)
            rows.append({"defect": kind, "rate_pct": round(100 * rate)} | row)
    return pd.DataFrame(rows)


def main(argv: list[str]) -> None:
    customers = int(argv[0]) if argv else 1500
    t = time.perf_counter()
    table = sensitivity(customers)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 1):
        sys.stdout.write(f"== scores vs injected defect rate ({customers} customers) ==\n")
        sys.stdout.write(table.to_string(index=False) + "\n")
        wide = table.pivot(index="defect", columns="rate_pct", values=list(DIMS))
        sys.stdout.write("\n== the same, one row per defect class ==\n" + wide.to_string() + "\n")
    sys.stdout.write(f"\n{time.perf_counter() - t:.0f} s\n")


if __name__ == "__main__":
    main(sys.argv[1:])
