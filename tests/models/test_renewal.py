"""Tests of the shifted-beta-geometric renewal model.

Published example: Fader & Hardie (2007), "How to Project Customer Retention", the two
segments' survivor counts over 7 years and their maximum likelihood estimates (high end:
alpha = 0.668, beta = 3.806, LL = -1611.2; regular: alpha = 0.704, beta = 1.182,
LL = -1680.3). Then closed forms (Beta functions, the hypergeometric DERL of Fader & Hardie
2010), recovery from simulation with known parameters, and the simulator's ground truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special
from sklearn.base import clone

from crm_analytics.core.errors import InputError, InsufficientDataError, NotFittedError
from crm_analytics.models.renewal import (
    ShiftedBetaGeometric,
    fit_dealer_renewal,
    renewal_cohorts,
    renewal_what_if,
    sbg_log_likelihood,
)

HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]


@pytest.mark.parametrize(
    ("survivors", "alpha", "beta", "ll"),
    [(HIGH_END, 0.668, 3.806, -1611.2), (REGULAR, 0.704, 1.182, -1680.3)],
)
def test_reproduces_fader_hardie_2007(survivors, alpha, beta, ll):
    m = ShiftedBetaGeometric().fit(survivors)
    assert m.params_["alpha"] == pytest.approx(alpha, abs=6e-4)  # published to 3 decimals
    assert m.params_["beta"] == pytest.approx(beta, abs=6e-4)
    assert m.log_likelihood_ == pytest.approx(ll, abs=0.06)
    assert not m.at_boundary_
    # the standard errors are finite and small against the estimates (1,000 customers)
    assert np.all(m.standard_errors_ < 0.25 * m.params_)


def test_likelihood_is_the_beta_function_formula():
    """Eq. (6)-(7) of FH07 written with Beta functions, summed by hand."""
    a, b = 0.9, 2.7
    s = np.array(REGULAR, dtype=float)
    t = np.arange(1, 8)
    log_p = special.betaln(a + 1, b + t - 1) - special.betaln(a, b)
    log_s7 = special.betaln(a, b + 7) - special.betaln(a, b)
    expected = np.dot(s[:-1] - s[1:], log_p) + s[-1] * log_s7
    assert sbg_log_likelihood(a, b, s) == pytest.approx(expected, rel=1e-12)


def test_survival_retention_churn_and_derl_closed_forms():
    m = ShiftedBetaGeometric().fit(REGULAR)
    a, b = m.params_["alpha"], m.params_["beta"]
    t = np.arange(0, 15)
    np.testing.assert_allclose(
        m.survival(t), np.exp(special.betaln(a, b + t) - special.betaln(a, b)), rtol=1e-12
    )
    np.testing.assert_allclose(m.retention_rate(t[1:]), (b + t[1:] - 1) / (a + b + t[1:] - 1))
    p = np.exp(special.betaln(a + 1, b + t[1:] - 1) - special.betaln(a, b))
    np.testing.assert_allclose(m.churn_probability(t[1:]), p, rtol=1e-10)
    # DERL: Fader & Hardie (2010) eq. (6), the hypergeometric closed form
    for d in (0.05, 0.1, 0.3):
        n = np.arange(1, 9)  # renewals = n - 1
        closed = (b + n - 1) / (a + b + n - 1) * special.hyp2f1(1, b + n, a + b + n, 1 / (1 + d))
        got = m.discounted_expected_residual_lifetime(d, n - 1)
        np.testing.assert_allclose(got, closed, rtol=1e-9)
    # customers who renewed more often are worth more (retention rises with tenure)
    assert np.all(np.diff(m.discounted_expected_residual_lifetime(0.1, np.arange(6))) > 0)


def test_recovers_parameters_from_simulated_cohorts():
    """Individual-level simulation: theta ~ Beta(a, b), lifetime ~ shifted geometric(theta)."""
    rng = np.random.default_rng(3)
    a, b, n, horizon = 1.3, 4.0, 20_000, 8
    life = rng.geometric(rng.beta(a, b, n))  # last period, >= 1
    survivors = [(life > k).sum() for k in range(horizon + 1)]
    m = ShiftedBetaGeometric().fit(survivors)
    z = (m.params_ - [a, b]) / m.standard_errors_
    assert np.all(np.abs(z) < 3.5), (m.params_, m.standard_errors_)
    # cohorts of different ages (ragged) give the same estimate as the sum of their likelihoods
    cohorts = [survivors[:4], survivors[:7], survivors]
    m2 = ShiftedBetaGeometric().fit(cohorts)
    a2, b2 = m2.params_
    total = sum(sbg_log_likelihood(a2, b2, c) for c in cohorts)
    assert m2.log_likelihood_ == pytest.approx(total, rel=1e-12)
    for da, db in [(1.01, 1.0), (0.99, 1.0), (1.0, 1.01), (1.0, 0.99)]:
        assert sum(sbg_log_likelihood(a2 * da, b2 * db, c) for c in cohorts) < total


def test_homogeneous_cohort_gives_the_geometric_limit():
    """Retention that does not rise: the likelihood is largest as alpha, beta -> infinity."""
    survivors = [1000 * 0.7**t for t in range(6)]
    m = ShiftedBetaGeometric().fit(survivors)
    assert m.at_boundary_ and np.isinf(m.params_["alpha"])
    assert m.churn_mean_ == pytest.approx(0.3, abs=1e-6)
    np.testing.assert_allclose(m.survival([1, 3]), [0.7, 0.343], rtol=1e-6)
    d = 0.1
    assert float(m.discounted_expected_residual_lifetime(d)) == pytest.approx(0.7 / (1 - 0.7 / 1.1))


def test_errors_and_contract():
    with pytest.raises(NotFittedError):
        ShiftedBetaGeometric().survival(1)
    with pytest.raises(InputError, match="must not increase"):
        ShiftedBetaGeometric().fit([100, 80, 90])
    with pytest.raises(InputError, match="cohort size"):
        ShiftedBetaGeometric().fit([0, 0, 0])
    with pytest.raises(InsufficientDataError, match="one period"):
        ShiftedBetaGeometric().fit([100, 60])
    with pytest.raises(InsufficientDataError, match="no customer was lost"):
        ShiftedBetaGeometric().fit([100, 100, 100])
    m = ShiftedBetaGeometric().fit(REGULAR)
    with pytest.raises(InputError, match="discount_rate"):
        m.discounted_expected_residual_lifetime(0.0)
    with pytest.raises(InputError, match="whole numbers"):
        m.survival(1.5)
    assert clone(m).get_params() == {"confidence": 0.95}
    assert not hasattr(clone(m), "params_")


def _policies(rows):
    """(vin, first start year offset, sold-here flags for year 0, 1, 2, ...)."""
    out = []
    t0 = pd.Timestamp("2020-03-01")
    for vin, offset, flags in rows:
        for k, here in enumerate(flags):
            out.append(
                {
                    "vin": vin,
                    "start": t0 + pd.Timedelta(days=365.25 * (offset + k)),
                    "sold_by_this_dealer": here,
                    "renewal": k > 0,
                }
            )
    return pd.DataFrame(out)


def test_renewal_cohorts_by_hand():
    pol = _policies(
        [
            ("A", 0, [True, True, True, True]),  # 3 renewals here, still renewed
            ("B", 0, [True, True, False, True]),  # chain broken after 1 renewal
            ("C", 1, [True, False]),  # lost at the first renewal
            ("D", 1, [False, True]),  # first policy elsewhere: not in the cohorts
        ]
    )
    pol = pd.concat(
        [
            pol,
            pd.DataFrame(
                [
                    {
                        "vin": "E",
                        "start": pd.Timestamp("2021-06-01"),
                        "sold_by_this_dealer": True,
                        "renewal": True,
                    }
                ]
            ),
        ]
    )
    tab = renewal_cohorts(pol, as_of=pd.Timestamp("2023-04-01"))
    # A, B: first start 2020-03-01 -> 3 opportunities; C: 2021-03-01 -> 2 opportunities
    assert tab.loc[3].tolist() == [2, 2, 1, 1]
    assert tab.loc[2].dropna().tolist() == [1, 0, 0]
    ex = tab.attrs["excluded"]
    assert ex["first contract sold elsewhere"] == 2
    assert ex["renewal of a vehicle without a first contract on record"] == 1
    assert tab.attrs["vehicles"] == 3


def test_dealer_renewal_matches_simulator_truth():
    """The simulator renews each year with the dealer's renewal_rate while the owner is
    still a customer (true dropout time known), so the expected share of a cohort with
    ``t`` consecutive renewals is ``renewal_rate**t * P(owner still a customer at t)``.
    The fitted survival curve must match it within 2.5 binomial standard errors."""
    from crm_analytics.sim.simulator import simulate_dealer

    d = simulate_dealer(2, customers=2500, years=5, seed=5)
    m = fit_dealer_renewal(d)
    pol = d.insurance_policies
    firsts = pol[~pol["renewal"] & pol["sold_by_this_dealer"]].set_index("vin")["start"]
    truth = d.truth["customers"].dropna(subset=["vin"]).drop_duplicates("vin")
    dropout = truth.set_index("vin")["dropout_at"]
    rate = float(d.truth["dealer"]["renewal_rate"].iloc[0])
    year = pd.Timedelta(days=365.25)
    opportunities = np.floor((d.as_of - firsts) / year)
    total, total_se = 0.0, 0.0
    for t in (1, 2, 3):
        starts = firsts[opportunities >= t]
        still = (dropout.reindex(starts.index) > starts + t * year).to_numpy()
        expected = rate**t * still.mean()
        se = np.sqrt(expected * (1 - expected) / len(starts))
        assert abs(float(m.survival(t)) - expected) < 2.5 * se, (t, m.survival(t), expected, se)
        total, total_se = total + expected, total_se + se
    # a new customer's expected renewals in 3 opportunities: the truth's sum of the same
    assert abs(m.expected_renewals(3) - total) < 2.5 * total_se


def test_expected_renewals_and_the_what_if_against_monte_carlo():
    """Draw each customer's churn probability from Beta(alpha, beta) and its renewals as
    Bernoulli trials until the first failure: the mean count within n opportunities is
    expected_renewals(n); with the first renewal rate moved to a target, the same with
    Beta(alpha', beta') at the model's polarisation."""
    rng = np.random.default_rng(11)
    m = ShiftedBetaGeometric().fit(REGULAR)
    a, b = m.params_["alpha"], m.params_["beta"]

    def simulated(alpha: float, beta: float, n: int, size: int = 400_000) -> float:
        theta = rng.beta(alpha, beta, size)
        life = rng.geometric(theta) - 1  # renewals before the first non-renewal
        return float(np.minimum(life, n).mean())

    assert m.expected_renewals(4) == pytest.approx(simulated(a, b, 4), abs=0.01)
    assert m.expected_renewals(0) == 0.0
    t = m.with_first_renewal_rate(0.75)
    assert float(t.retention_rate(1)) == pytest.approx(0.75)
    assert t.polarization_ == pytest.approx(m.polarization_)
    assert t.expected_renewals(4) == pytest.approx(
        simulated(t.params_["alpha"], t.params_["beta"], 4), abs=0.01
    )
    w = renewal_what_if(m, target_rate=0.75, periods=4, unit_margin=500.0)
    assert w["gain_per_customer"] == pytest.approx(
        500.0 * (t.expected_renewals(4) - m.expected_renewals(4))
    )
    assert w["first_rate"] == pytest.approx(1 - m.churn_mean_)
    assert w["last_rate"] > w["first_rate"]  # heterogeneity: retention rises with tenure
    same = renewal_what_if(m, target_rate=w["first_rate"], periods=4, unit_margin=500.0)
    assert same["gain_per_customer"] == pytest.approx(0.0, abs=1e-9)
    # the homogeneous limit: a geometric lifetime, sum of r**t
    g = ShiftedBetaGeometric().fit([10000, 6000, 3600, 2160, 1296]).with_first_renewal_rate(0.5)
    assert g.expected_renewals(3) == pytest.approx(0.5 + 0.25 + 0.125)
    with pytest.raises(InputError):
        m.with_first_renewal_rate(1.2)
