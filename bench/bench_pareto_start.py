"""Pareto/NBD fit time with its warm start on a weighted subsample of the distinct histories
(``crm_analytics.models.btyd._weighted_subsample``: the heavy rows all taken, the rest drawn
uniformly and scaled) against the uniform draw of distinct rows it replaced, side by side in
one process on the same data.

Data (the package's sampler, the tests' parameters r=0.55, alpha=10.58, s=0.61, beta=11.67):
100,000 customers in weekly cohorts (ages 27-39 whole weeks), 20,000 customers of one age
(39 weeks), and 100,000 customers of continuous ages (27-39 weeks). CPU time of one fit, best
of ``--repeat``; estimates of both compared.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_pareto_start.py
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import numpy as np

from crm_analytics.models import btyd
from crm_analytics.models.btyd import ParetoNBD, sample_pareto_nbd

TRUE = {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}


def _uniform(w: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The warm start's former subsample: ``k`` distinct rows drawn uniformly (fixed seed)."""
    idx = np.random.default_rng(seed).choice(len(w), k, replace=False)
    return idx, np.ones(k)


def _data() -> dict[str, object]:
    rng = np.random.default_rng(1)
    cohorts = sample_pareto_nbd(
        100_000, rng.integers(27, 40, 100_000).astype(float), **TRUE, rng=rng
    )
    one_age = sample_pareto_nbd(20_000, 39.0, **TRUE, rng=np.random.default_rng(11))
    rng = np.random.default_rng(3)
    continuous = sample_pareto_nbd(100_000, rng.uniform(27, 39, 100_000), **TRUE, rng=rng)
    return {"weekly cohorts 100k": cohorts, "one age 20k": one_age, "continuous 100k": continuous}


def _fit(data, repeat: int) -> tuple[float, ParetoNBD]:
    best, model = np.inf, None
    for _ in range(repeat):
        t0 = time.process_time()
        model = ParetoNBD().fit(data)
        best = min(best, time.process_time() - t0)
    return best, model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    print(f"{'data':<20} {'uniform s':>9} {'weighted s':>10} {'speedup':>8} {'max rel param':>14}")
    for name, data in _data().items():
        with mock.patch.object(btyd, "_weighted_subsample", _uniform):
            t_old, old = _fit(data, args.repeat)
        t_new, new = _fit(data, args.repeat)
        rel = float(np.max(np.abs(new.params_ / old.params_ - 1.0)))
        print(f"{name:<20} {t_old:9.2f} {t_new:10.2f} {t_old / t_new:8.1f} {rel:14.1e}")


if __name__ == "__main__":
    main()
