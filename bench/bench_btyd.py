"""Benchmark and cross-check the BTYD estimators against ``lifetimes`` 0.11.3.

Run from the repository root (not part of the test suite)::

    PYTHONPATH=$PWD /work/main/.venv/bin/python bench/bench_btyd.py

What it does
------------
1. Creates ``bench/out/.venv-lifetimes`` (once; ``bench/out/`` is git-ignored) with a set of old packages under which
   ``lifetimes`` 0.11.3 works on Python 3.11: numpy 1.23.5, scipy 1.10.1, pandas 1.5.3,
   autograd 1.5, dill. ``lifetimes`` is not a dependency of the package.
2. Simulates CDNOW-like customer summaries (100,000 customers, ages 27-39 weeks) from known
   BG/NBD and Pareto/NBD parameters with :mod:`crm_analytics.models.btyd`'s samplers, in two
   time resolutions: ``daily`` (visit dates known to the day, times in weeks = days / 7, as a
   summary from :func:`crm_analytics.metrics.rfm.summarize_visits` gives), ``continuous`` (no two
   customers share a history, so compression does not help) and, on request, ``cohorts``
   (whole-week ages: the customers without a repeat visit share one history per cohort).
3. Writes each summary to a CSV, fits ``lifetimes`` on it in its own venv (subprocess) and
   ``crm_analytics`` here, and compares fit times with default settings on both sides
   (speedup = lifetimes time / crm_analytics time, best of ``--repeat`` runs except the slow
   lifetimes Pareto/NBD, timed once). For the agreement checks ``lifetimes`` is refitted with
   its tolerance tightened to 1e-12 (its default Nelder-Mead for Pareto/NBD stops about 1e-4
   away from the optimum), then parameters, log-likelihoods, P(alive) and expected visits in
   the next 52 weeks are compared; the predictions are also compared with ``lifetimes``'
   formulas evaluated at *our* parameters, which isolates the formulas from the optimisers.
4. Times :func:`crm_analytics.metrics.rfm.summarize_visits` on 1,000,000 visits.

Two further modes (lifetimes imported in this environment, the package's test extra)::

    PYTHONPATH=$PWD python bench/bench_btyd.py --independent --repeat 5 [--seeds 42,7,2027]
    PYTHONPATH=$PWD python bench/bench_btyd.py --pooled --networks 20

``--independent`` times the BG/NBD fit against lifetimes on 100,000 customers drawn by
lifetimes' own generator (``beta_geometric_nbd_model``), not by ours. ``--pooled`` compares
the network prior (:class:`crm_analytics.models.btyd.NetworkPrior`) with per-dealer maximum
likelihood (with ``clv.fit_base_models``' L2 retry) and with one pooled fit on networks of
small dealers: BG/NBD networks with known dealer parameters (held-out error and error
against the true conditional expectation), the same for the Gamma-Gamma spend model
(``model="gammagamma"``, against per-dealer fits without a penalty as ``clv`` makes them),
and small dealers of the network simulator (held-out error over the last year).

Log-likelihood conventions: ``lifetimes`` minimises a *mean* negative log-likelihood in time
rescaled to ``max(T) = 1`` (BG/NBD, Gamma-Gamma) or the sum divided by the mean weight
(Pareto/NBD). Both include every constant of the likelihood. Rescaling time by ``c`` changes
the log-likelihood by ``-sum(x) * log(c)``; the script therefore evaluates ``lifetimes``' own
per-customer likelihood functions on the unscaled data at its fitted parameters and compares
that total with ``crm_analytics``' ``log_likelihood_``.
"""

from __future__ import annotations

import os

# Both sides single-threaded BLAS (set before numpy loads): the machine has 2 shared cores and
# idle BLAS threads spinning would inflate the CPU time of either library.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from crm_analytics.core.errors import ConvergenceError  # noqa: E402
from crm_analytics.metrics import rfm  # noqa: E402
from crm_analytics.models.btyd import (  # noqa: E402
    BGNBD,
    FALLBACK_PENALTIES,
    GammaGamma,
    NetworkPrior,
    ParetoNBD,
    sample_bgnbd,
    sample_pareto_nbd,
)

HERE = Path(__file__).resolve().parent
VENV = HERE / "out" / ".venv-lifetimes"  # bench/out/ is git-ignored
PINS = [
    "numpy==1.23.5",
    "scipy==1.10.1",
    "pandas==1.5.3",
    "autograd==1.5",
    "dill==0.3.8",
    "lifetimes==0.11.3",
]
BG_TRUE = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PNBD_TRUE = {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}
HORIZON = 52.0  # weeks, for expected visits
LT_REFIT_MAXITER = 3000  # Nelder-Mead iterations of lifetimes' Pareto/NBD agreement refit

LIFETIMES_RUNNER = r"""
import json, sys, time, warnings
import numpy as np, pandas as pd
warnings.simplefilter("ignore")
from lifetimes import BetaGeoFitter, ParetoNBDFitter
model, path, out, horizon, theirs_json = sys.argv[1:6]
horizon = float(horizon)
ours = json.loads(theirs_json)
d = pd.read_csv(path, float_precision="round_trip")
x, tx, T = d["frequency"].to_numpy(), d["recency"].to_numpy(), d["T"].to_numpy()
res = {}
if model == "bgnbd":
    cls, names = BetaGeoFitter, ["r", "alpha", "a", "b"]
else:
    cls, names = ParetoNBDFitter, ["r", "alpha", "s", "beta"]
times = []
np.random.seed(0)
for _ in range(int(sys.argv[6])):
    t0 = time.process_time(); m = cls().fit(x, tx, T); times.append(time.process_time() - t0)
res["fit_seconds"] = min(times)
res["params_default_tol"] = {k: float(m.params_[k]) for k in names}
# agreement run: same optimiser, tolerance tightened so that lifetimes reaches the optimum
np.random.seed(0)
if model == "bgnbd":
    for tol in (1e-12, 1e-11, 1e-10, 1e-9, 1e-8):  # BFGS reports precision loss when too tight
        try:
            m = cls().fit(x, tx, T, tol=tol)
            res["agreement_tol"] = tol
            break
        except Exception:
            continue
else:
    # Nelder-Mead restarted from its default solution (scaled time, as lifetimes optimises)
    scale = 1.0 / T.max()
    p0 = [m.params_["r"], m.params_["alpha"] * scale, m.params_["s"], m.params_["beta"] * scale]
    maxiter = int(sys.argv[7]) if len(sys.argv) > 7 else 3000
    m = cls().fit(x, tx, T, tol=1e-11, maxiter=maxiter, initial_params=np.array(p0))
res["params"] = {k: float(m.params_[k]) for k in names}
def total_ll(p):
    if model == "bgnbd":
        return float(-cls._negative_log_likelihood(np.log(np.array([p[k] for k in names])), x, tx, T,
                                                    np.ones_like(tx), 0.0) * len(x))
    return float(cls._conditional_log_likelihood([p[k] for k in names], x, tx, T).sum())
res["ll_own_params"] = total_ll(res["params"])
res["ll_at_our_params"] = total_ll(ours)
res["palive"] = m.conditional_probability_alive(x, tx, T).tolist()
res["expected"] = m.conditional_expected_number_of_purchases_up_to_time(horizon, x, tx, T).tolist()
m.params_ = pd.Series(ours)[names]
res["palive_at_our_params"] = m.conditional_probability_alive(x, tx, T).tolist()
res["expected_at_our_params"] = m.conditional_expected_number_of_purchases_up_to_time(horizon, x, tx, T).tolist()
json.dump(res, open(out, "w"))
"""


def ensure_venv() -> Path:
    """Create the lifetimes venv once; return its python."""
    py = VENV / "bin" / "python"
    if py.exists():
        return py
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *PINS], check=True)
    return py


def cdnow_like(model: str, n: int, resolution: str, seed: int) -> pd.DataFrame:
    """Simulated summary in weeks; 'daily' rounds visit times to whole days; 'cohorts' gives
    whole-week ages (customers acquired in weekly cohorts, visit times continuous)."""
    rng = np.random.default_rng(seed)
    t_days = rng.integers(27 * 7, 39 * 7 + 1, n)
    if resolution == "daily":
        T = t_days / 7.0
    elif resolution == "cohorts":
        T = rng.integers(27, 40, n).astype(float)
    else:
        T = rng.uniform(27.0, 39.0, n)
    if model == "bgnbd":
        d = sample_bgnbd(n, T, **BG_TRUE, rng=rng)
    else:
        d = sample_pareto_nbd(n, T, **PNBD_TRUE, rng=rng)
    d = d[["frequency", "recency", "T"]].copy()
    if resolution == "daily":
        days = np.ceil(d["recency"].to_numpy() * 7.0)
        days = np.where(d["frequency"] > 0, np.clip(days, 1, t_days), 0)
        d["recency"] = days / 7.0
    return d


def time_best(fn, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def compare(model: str, resolution: str, n: int, py: Path, repeat: int, tmp: Path) -> dict:
    data = cdnow_like(model, n, resolution, seed=7)
    path = tmp / f"{model}_{resolution}.csv"
    data.to_csv(path, index=False)
    with warnings.catch_warnings():  # float_precision is deprecated in pandas 3 but still exact
        warnings.simplefilter("ignore")
        data = pd.read_csv(path, float_precision="round_trip")  # same values on both sides
    cls = BGNBD if model == "bgnbd" else ParetoNBD
    ours = cls().fit(data)
    t_ours = time_best(lambda: cls().fit(data), repeat)
    out = tmp / f"{model}_{resolution}.json"
    lt_repeat = repeat if model == "bgnbd" else 1
    subprocess.run(
        [
            str(py),
            "-c",
            LIFETIMES_RUNNER,
            model,
            str(path),
            str(out),
            str(HORIZON),
            json.dumps(ours.params_.to_dict()),
            str(lt_repeat),
            str(LT_REFIT_MAXITER),
        ],
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    lt = json.loads(out.read_text())
    x, tx, T = (data[c].to_numpy() for c in ("frequency", "recency", "T"))
    pa = ours.predict_proba_alive(x, tx, T)
    ev = ours.predict_expected_visits(HORIZON, x, tx, T)
    p_ours = ours.params_
    p_lt = pd.Series(lt["params"])
    return {
        "model": model,
        "resolution": resolution,
        "customers": n,
        "unique_rows": ours.n_unique_rows_,
        "fit_cpu_s_crm": t_ours,
        "fit_cpu_s_lifetimes": lt["fit_seconds"],
        "speedup": lt["fit_seconds"] / t_ours,
        "params_crm": p_ours.round(6).to_dict(),
        "params_lifetimes": p_lt.round(6).to_dict(),
        "max_rel_param_diff": float(((p_ours - p_lt[p_ours.index]).abs() / p_ours).max()),
        "max_rel_param_diff_lifetimes_default_tol": float(
            ((p_ours - pd.Series(lt["params_default_tol"])[p_ours.index]).abs() / p_ours).max()
        ),
        "ll_crm": ours.log_likelihood_,
        "ll_lifetimes": lt["ll_own_params"],
        "rel_ll_diff": abs(ours.log_likelihood_ - lt["ll_own_params"]) / abs(ours.log_likelihood_),
        "rel_ll_diff_same_params": abs(ours.log_likelihood_ - lt["ll_at_our_params"])
        / abs(ours.log_likelihood_),
        "max_abs_palive_diff": float(np.max(np.abs(pa - np.array(lt["palive"])))),
        "max_abs_expected_diff": float(np.max(np.abs(ev - np.array(lt["expected"])))),
        "max_abs_palive_diff_same_params": float(
            np.max(np.abs(pa - np.array(lt["palive_at_our_params"])))
        ),
        "max_abs_expected_diff_same_params": float(
            np.max(np.abs(ev - np.array(lt["expected_at_our_params"])))
        ),
    }


def bench_summaries(n_visits: int, repeat: int) -> dict:
    rng = np.random.default_rng(0)
    n_cust = n_visits // 8
    cust = rng.integers(0, n_cust, n_visits)
    start = pd.Timestamp("2021-01-01")
    visits = pd.DataFrame(
        {
            "customer_id": pd.Index(cust).map("C{:07d}".format),
            "at": start + pd.to_timedelta(rng.uniform(0, 5 * 365, n_visits), unit="D"),
            "labor_amount": rng.gamma(2.0, 200.0, n_visits),
            "parts_amount": rng.gamma(2.0, 300.0, n_visits),
            "addon_amount": 0.0,
        }
    )
    end = start + pd.Timedelta(days=5 * 365)
    t = time_best(lambda: rfm.summarize_visits(visits, observation_end=end), repeat)
    t2 = time_best(
        lambda: rfm.calibration_holdout_split(
            visits, calibration_end=end - pd.Timedelta(days=365), observation_end=end
        ),
        repeat,
    )
    return {"visits": n_visits, "summarize_s": t, "calibration_holdout_s": t2}


# --------------------------------------------------------------------------------------------
# Pooled dormancy models: network prior vs per-dealer vs fully pooled, held-out error
# --------------------------------------------------------------------------------------------


def _per_dealer(cls, summary: pd.DataFrame):
    """Per-dealer maximum likelihood, with the L2 retry of clv.fit_base_models; None when
    every fit fails (the Pareto/NBD boundary stop)."""
    for pen in (0.0, *FALLBACK_PENALTIES):
        try:
            return cls(l2_penalty=pen).fit(summary), pen
        except ConvergenceError:
            continue
    return None, None


def _bgnbd_future(n, T, horizon, params, rng):
    """Event-level BG/NBD: calibration summary and the visits in the next ``horizon``."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    lam = rng.gamma(r, 1.0 / alpha, n)
    k = rng.geometric(rng.beta(a, b, n))
    total = rng.poisson(lam * (T + horizon))
    made = np.minimum(k, total)
    n_T = rng.binomial(total, T / (T + horizon))
    x = np.minimum(made, n_T)
    tx = np.zeros(n)
    pos = x > 0
    tx[pos] = T[pos] * rng.beta(x[pos], n_T[pos] - x[pos] + 1)
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T}), made - x


def _score(models: dict, summaries: dict, actual: dict, horizon: float, oracle=None) -> dict:
    """Held-out errors of each method, averaged over the dealers where every method gives
    finite predictions (a method's other dealers are counted as failed)."""
    per: dict[str, dict] = {name: {} for name in models}
    fails = dict.fromkeys(models, 0)
    for name, get in models.items():
        for d, s in summaries.items():
            m = get(d)
            pred = None
            if m is not None:
                x, tx, T = (s[c].to_numpy(float) for c in ("frequency", "recency", "T"))
                with np.errstate(all="ignore"):
                    pred = m.predict_expected_visits(horizon, x, tx, T)
            if pred is None or not np.all(np.isfinite(pred)):  # e.g. a, b ~ 1e6: NaN
                fails[name] += 1
                continue
            per[name][d] = pred
    common = [d for d in summaries if all(d in per[name] for name in models)]
    out = {}
    for name in models:
        preds = [per[name][d] for d in common]
        out[name] = {
            "heldout_mse": float(
                np.mean([np.mean((p - actual[d]) ** 2) for p, d in zip(preds, common, strict=True)])
            ),
            "dealer_total_abs_rel_err": float(
                np.mean(
                    [
                        abs(p.sum() - actual[d].sum()) / max(actual[d].sum(), 1.0)
                        for p, d in zip(preds, common, strict=True)
                    ]
                )
            ),
            "mse_vs_true_expectation": float(
                np.mean([np.mean((p - oracle[d]) ** 2) for p, d in zip(preds, common, strict=True)])
            )
            if oracle is not None
            else np.nan,
            "failed_dealers": fails[name],
        }
    return out


def pooled_model_networks(n_networks: int, n_dealers: int, spread: float) -> pd.DataFrame:
    """Networks of small dealers drawn from BG/NBD with dealer parameters log-normal around
    CDNOW's (log-sd ``spread``): 50-200 customers each, ages 26-52 weeks, 26-week holdout."""
    rows = []
    horizon = 26.0
    for seed in range(n_networks):
        rng = np.random.default_rng(1000 + seed)
        summaries, actual, oracle = {}, {}, {}
        for d in range(n_dealers):
            p = {k: v * np.exp(rng.normal(0.0, spread)) for k, v in BG_TRUE.items()}
            n = int(rng.integers(50, 200))
            T = rng.uniform(26.0, 52.0, n)
            summaries[d], actual[d] = _bgnbd_future(n, T, horizon, p, rng)
            truth = BGNBD()
            truth.params_ = pd.Series(p)
            s = summaries[d]
            oracle[d] = truth.predict_expected_visits(horizon, s["frequency"], s["recency"], T)
        pooled = BGNBD().fit(pd.concat(summaries.values(), ignore_index=True))
        prior = NetworkPrior().fit(summaries)
        per = {d: _per_dealer(BGNBD, s)[0] for d, s in summaries.items()}
        scores = _score(
            {
                "per_dealer": per.get,
                "pooled": lambda d, m=pooled: m,
                "network_prior": prior.dealer_models_.get,
            },
            summaries,
            actual,
            horizon,
            oracle,
        )
        for method, sc in scores.items():
            rows.append(
                {"network": seed, "method": method, **sc, "strength": prior.prior_strength_}
            )
    return pd.DataFrame(rows)


def pooled_simulator_network(n_dealers: int, customers: int, model: str, seed: int) -> pd.DataFrame:
    """Small dealers from the package's network simulator: calibration up to a year before
    ``as_of``, held-out service visits in the last year (weekly time, daily periods)."""
    from crm_analytics.sim.simulator import simulate_dealer

    cls = BGNBD if model == "bgnbd" else ParetoNBD
    summaries, actual = {}, {}
    for i in range(n_dealers):
        dealer = simulate_dealer(i, customers=customers, years=5, seed=seed)
        end = dealer.as_of + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
        ch = rfm.calibration_holdout_split(
            dealer.service_visits[dealer.service_visits["at"] <= end],
            calibration_end=end - pd.Timedelta(days=365),
            observation_end=end,
            time_unit="W",
            spend_cols=None,
        )
        summaries[i] = ch.rename(
            columns={"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T"}
        )
        actual[i] = ch["frequency_holdout"].to_numpy(float)
        horizon = float(ch["duration_holdout"].iloc[0])
    pooled = cls().fit(pd.concat([s[["frequency", "recency", "T"]] for s in summaries.values()]))
    prior = NetworkPrior(model=model).fit(
        {d: s[["frequency", "recency", "T"]] for d, s in summaries.items()}
    )
    per = {}
    n_penalised = 0
    for d, s in summaries.items():
        per[d], pen = _per_dealer(cls, s)
        n_penalised += bool(pen)
    scores = _score(
        {
            "per_dealer": per.get,
            "pooled": lambda d, m=pooled: m,
            "network_prior": prior.dealer_models_.get,
        },
        summaries,
        actual,
        horizon,
    )
    out = pd.DataFrame(scores).T
    out["customers_per_dealer"] = np.mean([len(s) for s in summaries.values()])
    out.attrs.update(strength=prior.prior_strength_, l2_retries=n_penalised)
    return out


GG_TRUE = {"p": 6.25, "q": 3.74, "v": 15.44}  # lifetimes' CDNOW Gamma-Gamma fit


def pooled_spend_networks(n_networks: int, n_dealers: int, spread: float) -> pd.DataFrame:
    """Networks of small dealers drawn from Gamma-Gamma with dealer parameters log-normal
    around CDNOW's (log-sd ``spread``): 15-60 repeat customers each with 1-6 repeat visits,
    and each customer's next 3 visits held out. Errors of the predicted mean spend against
    the held-out mean spend and against the true conditional expectation, over the dealers
    where the per-dealer fit gives a finite expected spend (it fails on the others: no
    convergence, or q <= 1)."""
    rows = []
    for seed in range(n_networks):
        rng = np.random.default_rng(2000 + seed)
        summaries, heldout, truth = {}, {}, {}
        for d in range(n_dealers):
            p = {k: v * np.exp(rng.normal(0.0, spread)) for k, v in GG_TRUE.items()}
            x = rng.integers(1, 7, int(rng.integers(15, 60))).astype(float)
            nu = rng.gamma(p["q"], 1.0 / p["v"], len(x))
            summaries[d] = pd.DataFrame(
                {"frequency": x, "monetary": rng.gamma(p["p"] * x, 1.0 / (nu * x))}
            )
            heldout[d] = rng.gamma(3 * p["p"], 1.0 / (3 * nu))
            truth[d] = GammaGamma()
            truth[d].params_ = pd.Series(p)
        try:
            pooled = GammaGamma().fit(pd.concat(summaries.values(), ignore_index=True))
        except ConvergenceError:
            pooled = None  # its errors are NaN for this network
        try:
            prior = NetworkPrior(model="gammagamma").fit(summaries)
        except ConvergenceError:  # the pooled fit (the prior's centre) failed: no prior here
            rows.append({"network": seed, "method": "network_prior", "prior_failed": 1})
            continue
        errs = {m: {"heldout": [], "truth": []} for m in ("per_dealer", "pooled", "network_prior")}
        own_failed = 0
        for d, s in summaries.items():
            args = (s["frequency"], s["monetary"])
            try:
                own = GammaGamma().fit(s)
            except ConvergenceError:
                own = None
            if own is None or own.params_["q"] <= 1:
                own_failed += 1
                continue
            target = truth[d].predict_expected_spend(*args)
            fits = {"per_dealer": own, "pooled": pooled, "network_prior": prior.dealer_models_[d]}
            for name, m in fits.items():
                if m is None:
                    pred = np.full(len(s), np.nan)
                else:
                    pred = m.predict_expected_spend(*args)
                errs[name]["heldout"].append(np.mean((pred - heldout[d]) ** 2))
                errs[name]["truth"].append(np.mean((pred - target) ** 2))
        for name, e in errs.items():
            rows.append(
                {
                    "network": seed,
                    "method": name,
                    "heldout_mse": float(np.mean(e["heldout"])),
                    "mse_vs_true_expectation": float(np.mean(e["truth"])),
                    "failed_dealers": own_failed if name == "per_dealer" else 0,
                    "strength": prior.prior_strength_,
                    "prior_failed": 0,
                }
            )
    return pd.DataFrame(rows)


def _print_pooled(table: pd.DataFrame, title: str) -> None:
    if "prior_failed" in table:
        failed = int(table["prior_failed"].sum())
        title += f"; networks whose pooled fit (the prior's centre) failed, left out: {failed}"
        table = table[~table["network"].isin(table.loc[table["prior_failed"] == 1, "network"])]
    cols = [c for c in ("heldout_mse", "dealer_total_abs_rel_err") if c in table]
    cols += ["mse_vs_true_expectation", "failed_dealers"]
    print(f"\n{title}; means over networks:")
    print(table.groupby("method")[cols].mean().to_string(float_format=lambda v: f"{v:.4f}"))
    wide = table.pivot(index="network", columns="method", values="heldout_mse")
    wide_o = table.pivot(index="network", columns="method", values="mse_vs_true_expectation")
    for other in ("per_dealer", "pooled"):
        diff = wide["network_prior"] - wide[other]
        diff_o = wide_o["network_prior"] - wide_o[other]
        print(
            f"network_prior - {other}: held-out MSE {diff.mean():+.4f} "
            f"(se {diff.std() / np.sqrt(len(diff)):.4f}, lower in {(diff < 0).sum()}/"
            f"{len(diff)}); vs true expectation {diff_o.mean():+.4f} "
            f"(se {diff_o.std() / np.sqrt(len(diff_o)):.4f}, lower in {(diff_o < 0).sum()}/"
            f"{len(diff_o)})"
        )
    print(
        f"chosen strengths: {table.groupby('network')['strength'].first().value_counts().to_dict()}"
    )


def bench_pooled(args: argparse.Namespace) -> None:
    t0 = time.process_time()
    table = pooled_model_networks(args.networks, 10, args.spread)
    _print_pooled(
        table,
        f"BG/NBD networks ({args.networks} networks x 10 dealers of 50-200 customers, "
        f"dealer log-sd {args.spread})",
    )
    for spread in sorted({args.spread, 0.0, 1.0}):
        _print_pooled(
            pooled_spend_networks(args.networks, 8, spread),
            f"Gamma-Gamma networks ({args.networks} networks x 8 dealers of 15-60 repeat "
            f"customers, dealer log-sd {spread}; errors over the dealers whose own fit works)",
        )
    for model in args.sim_models.split(","):
        if not model:
            continue
        out = pooled_simulator_network(args.sim_dealers, args.sim_customers, model, args.sim_seed)
        print(
            f"\nsimulator network, {model}: {args.sim_dealers} dealers of "
            f"{args.sim_customers} customers (seed {args.sim_seed}); prior strength "
            f"{out.attrs['strength']}, per-dealer fits needing the L2 retry: "
            f"{out.attrs['l2_retries']}"
        )
        print(out.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"\nCPU {time.process_time() - t0:.1f} s")


# --------------------------------------------------------------------------------------------
# BG/NBD speed on data from lifetimes' own generator (not ours)
# --------------------------------------------------------------------------------------------


def bench_independent(n: int, repeat: int, seed: int) -> dict:
    """BG/NBD fit CPU time, crm_analytics vs lifetimes, on ``n`` customers drawn by
    ``lifetimes.generate_data.beta_geometric_nbd_model`` (CDNOW parameters, ages uniform on
    27-39 weeks). Both run in this process, one BLAS thread, interleaved (best of
    ``repeat``), so machine load hits both alike. Needs lifetimes in this environment (the
    test extra)."""
    with warnings.catch_warnings():  # lifetimes sets a pandas option pandas 3 warns about
        warnings.simplefilter("ignore")
        from lifetimes import BetaGeoFitter
        from lifetimes.generate_data import beta_geometric_nbd_model

        np.random.seed(seed)  # noqa: NPY002 (lifetimes draws from numpy's global state)
        T = np.random.default_rng(seed).uniform(27.0, 39.0, n)
        t0 = time.process_time()
        gen = beta_geometric_nbd_model(T, *BG_TRUE.values(), size=n)
        gen_s = time.process_time() - t0
    data = gen[["frequency", "recency", "T"]].astype(float).reset_index(drop=True)
    x, tx, T = (data[c].to_numpy() for c in ("frequency", "recency", "T"))
    ours_t, theirs_t = [], []
    for _ in range(repeat):
        t0 = time.process_time()
        ours = BGNBD().fit(data)
        ours_t.append(time.process_time() - t0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.process_time()
            theirs = BetaGeoFitter().fit(x, tx, T)
            theirs_t.append(time.process_time() - t0)
    p_ours, p_lt = ours.params_, theirs.params_[ours.params_.index]
    return {
        "customers": n,
        "unique_rows": ours.n_unique_rows_,
        "generate_cpu_s": gen_s,
        "fit_cpu_s_crm": min(ours_t),
        "fit_cpu_s_lifetimes": min(theirs_t),
        "speedup": min(theirs_t) / min(ours_t),
        "params_crm": p_ours.round(6).to_dict(),
        "params_lifetimes": p_lt.round(6).to_dict(),
        "max_rel_param_diff": float(((p_ours - p_lt).abs() / p_ours).max()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--models", default="bgnbd,pareto")
    ap.add_argument("--resolutions", default="daily,continuous")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--lt-refit-maxiter", type=int, default=3000)
    ap.add_argument("--skip-summaries", action="store_true")
    ap.add_argument("--pooled", action="store_true", help="only the network-prior comparison")
    ap.add_argument("--networks", type=int, default=20)
    ap.add_argument("--spread", type=float, default=0.35)
    ap.add_argument("--sim-models", default="bgnbd,pareto")
    ap.add_argument("--sim-dealers", type=int, default=8)
    ap.add_argument("--sim-customers", type=int, default=400)
    ap.add_argument("--sim-seed", type=int, default=2016)
    ap.add_argument(
        "--independent", action="store_true", help="only BG/NBD on lifetimes' generator"
    )
    ap.add_argument(
        "--seeds", default="42", help="--independent: comma-separated seeds, one draw each"
    )
    args = ap.parse_args()
    if args.independent:
        runs = [
            bench_independent(args.customers, args.repeat, int(s)) for s in args.seeds.split(",")
        ]
        for seed, r in zip(args.seeds.split(","), runs, strict=True):
            print(json.dumps({"seed": int(seed), **r}, indent=1), flush=True)
        if len(runs) > 1:
            ratios = [r["speedup"] for r in runs]
            print(f"speedup over {len(runs)} draws: min {min(ratios):.1f}x, max {max(ratios):.1f}x")
        return
    if args.pooled:
        bench_pooled(args)
        return
    global LT_REFIT_MAXITER
    LT_REFIT_MAXITER = args.lt_refit_maxiter
    py = ensure_venv()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            for res in args.resolutions.split(","):
                r = compare(model, res, args.customers, py, args.repeat, Path(tmp))
                results.append(r)
                print(json.dumps(r, indent=1), flush=True)
    summ = None if args.skip_summaries else bench_summaries(1_000_000, args.repeat)
    print(json.dumps(summ), flush=True)
    print(
        f"\n{'model':<10} {'resolution':<11} {'rows':>6} {'crm cpu s':>9} {'lt cpu s':>9} "
        f"{'speedup':>8} {'param rel':>9} {'LL rel':>7} {'P(alive)':>9} {'E[X]':>7}"
    )
    for r in results:
        print(
            f"{r['model']:<10} {r['resolution']:<11} {r['unique_rows']:>6} "
            f"{r['fit_cpu_s_crm']:9.3f} {r['fit_cpu_s_lifetimes']:9.3f} "
            f"{r['speedup']:8.1f} {r['max_rel_param_diff']:9.1e} "
            f"{r['rel_ll_diff']:7.1e} {r['max_abs_palive_diff']:9.1e} "
            f"{r['max_abs_expected_diff']:7.1e}"
        )
    if args.json:
        args.json.write_text(json.dumps({"fits": results, "summaries": summ}, indent=1))


if __name__ == "__main__":
    main()
