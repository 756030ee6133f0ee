"""Benchmark of the visitor-log reconciliation (crm_analytics.metrics.quality).

Two parts, run on demand (not in CI)::

    PYTHONPATH=$PWD python bench/bench_quality.py            # both parts
    PYTHONPATH=$PWD python bench/bench_quality.py accuracy   # splink vs a rule-based baseline
    PYTHONPATH=$PWD python bench/bench_quality.py scale      # a 100,000-row visitor log

* **accuracy**: on the issue's defect dealer (10% unregistered walk-ins, 3% typo'd phones, 2%
  phantom visits), precision and recall of the matched pairs and of the phantom visits for
  (a) :func:`reconcile_visits` (splink Fellegi-Sunter on DuckDB) and (b) the simplest rule a
  CRM clerk would use: same day, same consultant, nearest time within 30 minutes, one-to-one.
  Both run on the log as simulated and on a log with the errors front desks make: in 10% of the
  arrivals the wrong consultant is written down, in 10% the time is off by 40-90 minutes.
* **scale**: wall time of :func:`reconcile_visits` and :func:`quality_scorecard` on a dealer
  whose visitor log has at least 100,000 rows (target: reconcile in under 30 s).
"""

from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np
import pandas as pd

from crm_analytics.data.linkage import assign_one_to_one
from crm_analytics.metrics.quality import quality_scorecard, reconcile_visits
from crm_analytics.sim import DefectRates, simulate_dealer

DEFECTS = DefectRates(unregistered_walk_in=0.10, typo_phone=0.03, phantom_visit=0.02)


def rule_based_pairs(dealer, *, window_minutes: float = 30.0) -> pd.DataFrame:
    """Baseline: same day and consultant, nearest time within ``window_minutes``, one-to-one."""
    log = dealer.visitor_log
    sales = log[log["reason"] == "sales"][["entry_id", "at", "staff_id"]]
    tp = dealer.touchpoints
    vis = tp[tp["kind"] == "visit"][["touch_id", "at", "staff_id"]]
    sales = sales.assign(day=sales["at"].dt.normalize())
    vis = vis.assign(day=vis["at"].dt.normalize())
    cand = sales.merge(vis, on=["day", "staff_id"], suffixes=("_l", "_r"))
    cand["gap"] = (cand["at_r"] - cand["at_l"]).dt.total_seconds().abs() / 60.0
    cand = cand[cand["gap"] <= window_minutes]
    cand = cand.assign(
        unique_id_l=cand["entry_id"], unique_id_r=cand["touch_id"], score=-cand["gap"]
    )
    kept = assign_one_to_one(cand, score="score")
    return kept[["entry_id", "touch_id"]]


def perturb(dealer, *, seed: int = 0):
    """Front-desk errors: wrong consultant on 10% of sales arrivals, time off 40-90 min on 10%."""
    rng = np.random.default_rng(seed)
    log = dealer.visitor_log.copy()
    sales = np.flatnonzero((log["reason"] == "sales").to_numpy())
    cons = dealer.staff.loc[dealer.staff["role"] == "sales_consultant", "staff_id"].to_numpy()
    wrong = rng.choice(sales, len(sales) // 10, replace=False)
    log.loc[log.index[wrong], "staff_id"] = rng.choice(cons, len(wrong))
    late = rng.choice(sales, len(sales) // 10, replace=False)
    shift = pd.to_timedelta(
        rng.uniform(40, 90, len(late)) * rng.choice([-1, 1], len(late)), unit="m"
    )
    log.loc[log.index[late], "at"] = log.loc[log.index[late], "at"] + shift
    tables = dict(dealer.tables)
    tables["visitor_log"] = log
    return dataclasses.replace(dealer, tables=tables)


def scores(dealer, pairs: pd.DataFrame) -> dict[str, float]:
    tv = dealer.truth["visitor_log"]
    visits = set(dealer.touchpoints.loc[dealer.touchpoints["kind"] == "visit", "touch_id"])
    sales = set(dealer.visitor_log.loc[dealer.visitor_log["reason"] == "sales", "entry_id"])
    truth = {
        (e, t)
        for e, t in zip(tv["entry_id"], tv["touch_id"], strict=True)
        if t in visits and e in sales
    }
    pred = set(zip(pairs["entry_id"], pairs["touch_id"], strict=True))
    hit = len(pred & truth)
    d = dealer.truth["defects"]
    phantom = set(d.loc[d["defect"] == "phantom_visit", "row_id"]) & visits
    # phantom candidates: unmatched DMS visits on days the log has entries (days with no entry
    # at all cannot be checked either way)
    tp = dealer.touchpoints
    logged = set(dealer.visitor_log["at"].dt.normalize())
    vis_day = tp.loc[tp["kind"] == "visit"].set_index("touch_id")["at"].dt.normalize()
    lone = {t for t in visits - set(pairs["touch_id"]) if vis_day[t] in logged}
    return {
        "pairs_precision": hit / max(len(pred), 1),
        "pairs_recall": hit / max(len(truth), 1),
        "phantom_precision": len(lone & phantom) / max(len(lone), 1),
        "phantom_recall": len(lone & phantom) / max(len(phantom), 1),
    }


def accuracy() -> pd.DataFrame:
    base = simulate_dealer(0, customers=6000, seed=2016, defects=DEFECTS)
    rows = []
    for label, dealer in [("as simulated", base), ("front-desk errors", perturb(base))]:
        t = time.perf_counter()
        rec = reconcile_visits(dealer, mask=False)
        t_splink = time.perf_counter() - t
        t = time.perf_counter()
        rb = rule_based_pairs(dealer)
        t_rule = time.perf_counter() - t
        rows.append(
            {
                "log": label,
                "method": "splink (reconcile_visits)",
                "seconds": t_splink,
                **scores(dealer, rec.pairs),
            }
        )
        rows.append(
            {
                "log": label,
                "method": "rule: day+consultant+30 min",
                "seconds": t_rule,
                **scores(dealer, rb),
            }
        )
    return pd.DataFrame(rows)


def scale(min_rows: int = 100_000) -> pd.DataFrame:
    t = time.perf_counter()
    dealer = simulate_dealer(0, customers=82_000, seed=2016, defects=DEFECTS)
    t_sim = time.perf_counter() - t
    n = len(dealer.visitor_log)
    if n < min_rows:
        raise SystemExit(f"simulated log has {n:,} rows, fewer than {min_rows:,}; raise customers")
    t = time.perf_counter()
    rec = reconcile_visits(dealer, mask=False)
    t_rec = time.perf_counter() - t
    t = time.perf_counter()
    quality_scorecard(dealer, reconciliation=rec)
    t_card = time.perf_counter() - t
    return pd.DataFrame(
        [
            {
                "visitor_log_rows": n,
                "sales_arrivals": int((dealer.visitor_log["reason"] == "sales").sum()),
                "dms_visits": int((dealer.touchpoints["kind"] == "visit").sum()),
                "simulate_s": round(t_sim, 1),
                "reconcile_s": round(t_rec, 1),
                "scorecard_after_reconcile_s": round(t_card, 1),
                "target_reconcile_s": 30,
                "ratio_to_target": round(t_rec / 30, 2),
            }
        ]
    )


def main(argv: list[str]) -> None:
    parts = argv or ["accuracy", "scale"]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 4):
        if "accuracy" in parts:
            sys.stdout.write("== accuracy: splink vs rule-based baseline ==\n")
            sys.stdout.write(accuracy().to_string(index=False) + "\n")
        if "scale" in parts:
            sys.stdout.write("== scale: 100,000-row visitor log ==\n")
            sys.stdout.write(scale().to_string(index=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
