"""Attribution against the simulator's true channel effects (run on demand, not in CI).

Usage::

    cd /work/wt-attribution
    PYTHONPATH=$PWD /work/main/.venv/bin/python bench/bench_attribution_truth.py [--dealers 5]

Simulates clean dealers (:func:`crm_analytics.sim.simulate_dealer`), pools their journeys
(:func:`crm_analytics.metrics.attribution.journeys`), runs every model, and compares each model's
conversions credited *per journey touching the channel* with the simulator's true effect
(``dealer.truth['channel_effects']``, additive log-odds): Spearman correlation, whether the
order is exactly the true one, and where heuristics disagree with Markov / Shapley.

Measured 2026-11-26, ``--dealers 1 --customers 100000`` (44,062 journeys): Markov orders 2 and
3 give exactly the true order (Spearman 1.0); Markov order 1, every heuristic and the
simplified Shapley put walk_in above referral (Spearman 0.976) -- in the simulator a walk-in
lead always visits, a funnel advantage outside its intent effect; the coalition Shapley swaps
phone_inquiry and auto_show (0.976). Pooling 5 dealers of different channel mixes and base
intent (``--dealers 5 --customers 20000``) mixes dealers (a Simpson-type confounding):
no model then gives the exact order (Spearman 0.93-0.98), so run attribution per dealer.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

from crm_analytics import sim as synth
from crm_analytics.metrics import attribution as A

OUT = Path(__file__).resolve().parent / "out"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dealers", type=int, default=5)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=2016)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    frames, truth = [], None
    for i in range(args.dealers):
        d = synth.simulate_dealer(
            i, customers=args.customers, seed=args.seed, defects=synth.DefectRates.none()
        )
        frames.append(A.journeys(d))
        truth = d.truth["channel_effects"].set_index("channel")["effect"]
    assert truth is not None
    j = pd.concat(frames, ignore_index=True)
    t_sim = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = A.attribute(j)
    t_attr = time.perf_counter() - t0
    reach = A.channel_reach(j).set_index("channel")["journeys"]
    truth = truth.sort_values(ascending=False)
    piv = res.pivot(index="channel", columns="model", values="conversions")
    per = piv.div(reach, axis=0).loc[truth.index]
    per.insert(0, "true_effect", truth)
    summary = pd.DataFrame(
        {
            "spearman": {m: spearmanr(per[m], truth).statistic for m in A.MODELS},
            "exact_order": {
                m: list(per[m].sort_values(ascending=False).index) == list(truth.index)
                for m in A.MODELS
            },
        }
    )
    ranks = per[list(A.MODELS)].rank(ascending=False).astype(int)
    ranks.insert(0, "true_rank", range(1, len(truth) + 1))
    lines = [
        f"dealers: {args.dealers} x {args.customers:,} customers (seed {args.seed}); "
        f"journeys: {len(j):,}; conversion rate {j['converted'].mean():.3f}; "
        f"simulate+journeys {t_sim:.1f} s; attribute (10 models) {t_attr:.2f} s",
        "conversions credited per journey touching the channel:",
        per.round(4).to_string(),
        "rank of each channel by model (1 = largest credit per journey):",
        ranks.to_string(),
        "agreement with the true order of effects:",
        summary.round(3).to_string(),
    ]
    text = "\n".join(lines)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_attribution_truth.txt").write_text(text + "\n")
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
