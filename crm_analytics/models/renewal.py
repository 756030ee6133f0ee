"""Contractual renewal: the shifted-beta-geometric (sBG) model of contract duration.

Insurance and extended-warranty contracts are renewed (or not) once a period, so a customer's
lifetime is a whole number of periods. The sBG model (Fader & Hardie 2007) says: each customer
has a constant probability ``theta`` of not renewing at each renewal opportunity, and
``theta`` varies across customers as a Beta(alpha, beta) distribution. The cohort's retention
rate then rises over time (the customers likely to leave leave first), which a single
average rate misses.

Internally the model is parametrised by the mean churn probability ``theta = alpha /
(alpha + beta)`` and the polarisation ``phi = 1 / (alpha + beta)``: every quantity is a
product of the factors ``(1 - theta + k phi) / (1 + k phi)``, which is exact for all
parameters and stays finite in the homogeneous limit ``phi = 0`` (a geometric lifetime,
``alpha, beta -> infinity``), where the maximum likelihood estimate lies when the observed
retention rates do not rise.

References
----------
.. [FH07] Fader, P. S. and Hardie, B. G. S. (2007). How to Project Customer Retention.
   Journal of Interactive Marketing 21(1), 76-90.
.. [FH10] Fader, P. S. and Hardie, B. G. S. (2010). Customer-Base Valuation in a Contractual
   Setting: The Perils of Ignoring Heterogeneity. Marketing Science 29(1), 85-93.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.validation import check_is_fitted

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import (
    ConvergenceError,
    InputError,
    InsufficientDataError,
    NotFittedError,
)

__all__ = [
    "ShiftedBetaGeometric",
    "renewal_what_if",
    "fit_dealer_renewal",
    "renewal_cohorts",
    "sbg_log_likelihood",
]

YEAR_DAYS = 365.25


# --------------------------------------------------------------------------------------------
# Likelihood (pure function)
# --------------------------------------------------------------------------------------------


def _log_factors(theta: float, phi: float, n: int) -> np.ndarray:
    """``ln[(1 - theta + k phi) / (1 + k phi)]`` for ``k = 0 .. n-1``: the log retention rate
    at renewal opportunity ``k + 1`` ([FH07] eq. 8, :math:`r_t = (\\beta+t-1)/(\\alpha+\\beta+t-1)`
    divided through by :math:`\\alpha+\\beta`)."""
    k = np.arange(n, dtype=float)
    return np.log1p(-theta + k * phi) - np.log1p(k * phi)


def _cohort_loglik(theta: float, phi: float, survivors: np.ndarray) -> float:
    """Log-likelihood of one cohort's survivor counts at ``(theta, phi)``."""
    n = len(survivors) - 1
    log_r = _log_factors(theta, phi, n)
    log_s = np.concatenate([[0.0], np.cumsum(log_r)])  # ln S(t), t = 0..n
    # P(T = t) = S(t-1) - S(t) = S(t-1) (1 - r_t), t = 1..n
    log_p = log_s[:-1] + np.log(-np.expm1(np.minimum(log_r, -1e-300)))
    lost = survivors[:-1] - survivors[1:]
    ll = float(np.dot(lost[lost > 0], log_p[lost > 0]))
    return ll + (float(survivors[-1] * log_s[-1]) if survivors[-1] > 0 else 0.0)


def _theta_phi(alpha: float, beta: float) -> tuple[float, float]:
    return alpha / (alpha + beta), 1.0 / (alpha + beta)


def sbg_log_likelihood(alpha: float, beta: float, survivors: Any) -> float:
    r"""Log-likelihood of a cohort's survivor counts under the shifted-beta-geometric model.

    Fader & Hardie (2007), equation (B1) of appendix B (the sBG likelihood of a cohort of
    :math:`n_0` customers observed over :math:`n` renewal opportunities):

    .. math::

        LL(\alpha, \beta) = \sum_{t=1}^{n} (n_{t-1} - n_t) \ln P(T = t \mid \alpha, \beta)
            + n_n \ln S(n \mid \alpha, \beta)

    with :math:`P(T=t) = B(\alpha+1, \beta+t-1) / B(\alpha, \beta)` (eq. 6) and
    :math:`S(t) = B(\alpha, \beta+t) / B(\alpha, \beta)` (eq. 7), evaluated as products of the
    retention rates :math:`r_t = (\beta+t-1)/(\alpha+\beta+t-1)` (eq. 8).

    Parameters
    ----------
    alpha, beta
        Parameters of the Beta distribution of the churn probability (both > 0).
    survivors
        ``survivors[0]`` is the cohort size, ``survivors[t]`` the customers still renewed
        after ``t`` periods (non-increasing).

    Returns
    -------
    float
        The log-likelihood (multinomial constant excluded, as in the paper).
    """
    if not (0 < alpha < np.inf and 0 < beta < np.inf):
        raise InputError(
            f"sbg_log_likelihood: alpha and beta must be finite and > 0, got {alpha}, {beta}."
        )
    theta, phi = _theta_phi(float(alpha), float(beta))
    return _cohort_loglik(theta, phi, _validate_cohort(survivors, 0))


# --------------------------------------------------------------------------------------------
# Estimator
# --------------------------------------------------------------------------------------------


def _validate_cohort(survivors: Any, i: int) -> np.ndarray:
    try:
        s = np.asarray(survivors, dtype=float)
    except (TypeError, ValueError) as err:
        raise InputError(f"survivors cohort {i}: not a sequence of numbers.") from err
    if s.ndim != 1 or len(s) < 2:
        raise InputError(
            f"survivors cohort {i}: need a 1-d sequence [cohort size, survivors after 1 "
            f"period, ...] of length >= 2, got shape {s.shape}."
        )
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        raise InputError(f"survivors cohort {i}: counts must be finite and >= 0, got {s}.")
    if s[0] <= 0:
        raise InputError(f"survivors cohort {i}: the cohort size survivors[0] must be > 0.")
    up = np.flatnonzero(np.diff(s) > 0)
    if len(up):
        t = int(up[0]) + 1
        raise InputError(
            f"survivors cohort {i}: survivors must not increase, but survivors[{t}] = {s[t]:g} "
            f"> survivors[{t - 1}] = {s[t - 1]:g}; a customer who did not renew cannot come back "
            "in a survivor count (count consecutive renewals)."
        )
    return s


def _as_cohorts(survivors: Any) -> list[np.ndarray]:
    """One survivor array, or a list of them (cohorts observed for different lengths)."""
    if isinstance(survivors, pd.Series | np.ndarray) or (
        isinstance(survivors, Sequence) and len(survivors) > 0 and np.isscalar(survivors[0])
    ):
        return [_validate_cohort(survivors, 0)]
    if isinstance(survivors, Sequence) and len(survivors) > 0:
        return [_validate_cohort(s, i) for i, s in enumerate(survivors)]
    raise InputError(
        "ShiftedBetaGeometric.fit expects survivors = [cohort size, survivors after 1 period, "
        "...] or a non-empty list of such sequences."
    )


class ShiftedBetaGeometric(BaseEstimator):
    """Shifted-beta-geometric model of contract renewal (Fader & Hardie 2007).

    Parameters
    ----------
    confidence
        Level of the Wald confidence intervals of ``alpha`` and ``beta``.

    Attributes
    ----------
    params_ : pandas.Series
        ``alpha`` and ``beta`` (both ``inf`` when the estimate is the geometric limit, see
        ``at_boundary_``).
    churn_mean_ : float
        Mean churn probability per period, ``alpha / (alpha + beta)``.
    polarization_ : float
        ``1 / (alpha + beta)`` (0: every customer has the same churn probability).
    at_boundary_ : bool
        True when the likelihood is largest in the homogeneous limit (retention rates that do
        not rise): the model is then a geometric lifetime with churn ``churn_mean_``.
    log_likelihood_ : float
        Log-likelihood at the estimate (:func:`sbg_log_likelihood` summed over the cohorts).
    standard_errors_, confidence_intervals_ : pandas.Series, pandas.DataFrame
        From the observed information in ``(log alpha, log beta)`` by the delta method (NaN at
        the boundary).
    n_customers_, n_cohorts_, n_periods_ : int
        Customers (sum of the cohort sizes), cohorts, and the longest observed horizon.
    """

    def __init__(self, *, confidence: float = 0.95) -> None:
        self.confidence = confidence

    def fit(self, survivors: Any, y: None = None) -> ShiftedBetaGeometric:
        """Fit ``alpha`` and ``beta`` by maximum likelihood.

        Parameters
        ----------
        survivors
            ``[n_0, n_1, ..., n_T]`` (cohort size, then those still renewed after each
            period), or a list of such sequences for cohorts observed for different lengths
            (their likelihoods add up).
        y
            Ignored (scikit-learn compatibility).

        Returns
        -------
        self

        Raises
        ------
        InputError
            Counts that are negative, increasing or not numbers.
        InsufficientDataError
            Nothing to separate ``alpha`` from ``beta``: no cohort observed for two periods,
            no customer lost, or every customer lost at the first renewal.
        """
        cohorts = _as_cohorts(survivors)
        if max(len(c) for c in cohorts) < 3:
            raise InsufficientDataError(
                "ShiftedBetaGeometric.fit: every cohort is observed for one period only; "
                "alpha and beta need at least two renewal opportunities (the rise of the "
                "retention rate) to be told apart."
            )
        lost = sum(float(c[0] - c[-1]) for c in cohorts)
        stayed = sum(float(c[1]) for c in cohorts)
        if lost <= 0:
            raise InsufficientDataError(
                "ShiftedBetaGeometric.fit: no customer was lost in any cohort; the churn "
                "probability is not estimable (it is 0 at the maximum of the likelihood)."
            )
        if stayed <= 0:
            raise InsufficientDataError(
                "ShiftedBetaGeometric.fit: every customer left at the first renewal."
            )

        def neg_ll(v: np.ndarray) -> float:
            theta, phi = float(stats.logistic.cdf(v[0])), float(v[1])
            return -sum(_cohort_loglik(theta, phi, c) for c in cohorts)

        first_rate = stayed / sum(float(c[0]) for c in cohorts)
        starts = [np.array([np.log((1 - first_rate) / first_rate), p]) for p in (0.0, 0.5, 3.0)]
        best = None
        for v0 in starts:
            res = optimize.minimize(
                neg_ll,
                v0,
                method="L-BFGS-B",
                bounds=[(-30.0, 30.0), (0.0, 1e6)],
                options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000},
            )
            if best is None or res.fun < best.fun:
                best = res
        if not np.isfinite(best.fun) or best.x[1] >= 1e6 or abs(best.x[0]) >= 30.0:
            raise ConvergenceError(
                f"ShiftedBetaGeometric.fit did not converge ({best.message}).", best
            )
        theta, phi = float(stats.logistic.cdf(best.x[0])), float(best.x[1])
        self.at_boundary_ = bool(phi < 1e-7)
        if self.at_boundary_:
            phi = 0.0
        self.churn_mean_ = theta
        self.polarization_ = phi
        alpha, beta = (theta / phi, (1.0 - theta) / phi) if phi > 0 else (np.inf, np.inf)
        self.params_ = pd.Series({"alpha": alpha, "beta": beta}, name="estimate")
        self.log_likelihood_ = float(-neg_ll(np.array([best.x[0], phi])))
        self._set_errors(cohorts, alpha, beta)
        self.n_customers_ = int(round(sum(float(c[0]) for c in cohorts)))
        self.n_cohorts_ = len(cohorts)
        self.n_periods_ = max(len(c) for c in cohorts) - 1
        self.optimize_result_ = best
        return self

    def _set_errors(self, cohorts: list[np.ndarray], alpha: float, beta: float) -> None:
        """Standard errors from a central-difference Hessian in log parameters."""
        names = ["alpha", "beta"]
        se = np.full(2, np.nan)
        if np.isfinite(alpha):
            u0 = np.log([alpha, beta])

            def ll(u: np.ndarray) -> float:
                th, ph = _theta_phi(*np.exp(u))
                return sum(_cohort_loglik(th, ph, c) for c in cohorts)

            h = 1e-4
            hess = np.empty((2, 2))
            for i in range(2):
                for j in range(2):
                    ei, ej = np.eye(2)[i] * h, np.eye(2)[j] * h
                    hess[i, j] = (
                        ll(u0 + ei + ej) - ll(u0 + ei - ej) - ll(u0 - ei + ej) + ll(u0 - ei - ej)
                    ) / (4 * h * h)
            try:
                cov_log = np.linalg.inv(-hess)
                se = np.sqrt(np.clip(np.diag(cov_log), 0, None)) * np.array([alpha, beta])
            except np.linalg.LinAlgError:
                pass
        self.standard_errors_ = pd.Series(se, index=names, name="std_error")
        z = stats.norm.ppf(0.5 + self.confidence / 2.0)
        p = self.params_.to_numpy()
        self.confidence_intervals_ = pd.DataFrame(
            {"lower": p - z * se, "upper": p + z * se}, index=names
        )

    # predictions -----------------------------------------------------------------------------
    def _tp(self) -> tuple[float, float]:
        try:
            check_is_fitted(self, "params_")
        except SklearnNotFittedError as err:
            raise NotFittedError(
                "ShiftedBetaGeometric is not fitted yet; call fit(survivors) first."
            ) from err
        return self.churn_mean_, self.polarization_

    @staticmethod
    def _periods(t: Any, low: int) -> np.ndarray:
        t_arr = np.asarray(t)
        if not np.all(np.asarray(t_arr, dtype=float) == np.round(np.asarray(t_arr, dtype=float))):
            raise InputError(f"periods must be whole numbers, got {t}.")
        t_int = np.asarray(t_arr, dtype=np.int64)
        if np.any(t_int < low):
            raise InputError(f"periods must be >= {low}, got {t}.")
        return t_int

    def survival(self, t: Any) -> np.ndarray:
        """``S(t)``: share of a new cohort still renewed after ``t`` periods ([FH07] eq. 7).

        Parameters
        ----------
        t
            Whole number(s) of periods, >= 0.

        Returns
        -------
        numpy.ndarray
        """
        theta, phi = self._tp()
        t_int = self._periods(t, 0)
        log_s = np.concatenate([[0.0], np.cumsum(_log_factors(theta, phi, int(t_int.max())))])
        return np.exp(log_s[t_int])

    def retention_rate(self, t: Any) -> np.ndarray:
        """``r_t = S(t) / S(t-1)``: share of period ``t - 1``'s survivors who renew at ``t``
        ([FH07] eq. 8, :math:`(\\beta+t-1)/(\\alpha+\\beta+t-1)`).

        Parameters
        ----------
        t
            Whole number(s) of periods, >= 1.

        Returns
        -------
        numpy.ndarray
        """
        theta, phi = self._tp()
        t_int = self._periods(t, 1)
        return (1.0 - theta + (t_int - 1) * phi) / (1.0 + (t_int - 1) * phi)

    def churn_probability(self, t: Any) -> np.ndarray:
        """``P(T = t)``: probability that a new customer's last period is ``t`` ([FH07] eq. 6).

        Parameters
        ----------
        t
            Whole number(s) of periods, >= 1.

        Returns
        -------
        numpy.ndarray
        """
        t_int = self._periods(t, 1)
        return self.survival(t_int - 1) - self.survival(t_int)

    def expected_renewals(self, periods: int) -> float:
        """Expected renewals of a new customer within its next ``periods`` renewal
        opportunities, ``sum_{t=1..periods} S(t)`` (undiscounted; a renewal counts once)."""
        n = int(self._periods(periods, 0))
        return float(self.survival(np.arange(1, n + 1)).sum()) if n else 0.0

    def with_first_renewal_rate(self, rate: float) -> ShiftedBetaGeometric:
        """A copy of the fitted model whose first renewal rate ``r_1`` is ``rate``, with the
        same polarisation (the spread of churn probabilities across customers): the what-if
        of a dealer that lifts its renewal rate at the first renewal, later renewals rising
        from there as its own customers' do."""
        _, phi = self._tp()
        if not 0.0 < float(rate) < 1.0:
            raise InputError(f"with_first_renewal_rate: rate must be in (0, 1), got {rate}.")
        out = ShiftedBetaGeometric(confidence=self.confidence)
        theta = 1.0 - float(rate)
        out.churn_mean_, out.polarization_ = theta, phi
        out.at_boundary_ = phi == 0.0
        alpha, beta = (theta / phi, (1.0 - theta) / phi) if phi > 0 else (np.inf, np.inf)
        out.params_ = pd.Series({"alpha": alpha, "beta": beta}, name="what_if")
        return out

    def discounted_expected_residual_lifetime(
        self, discount_rate: float, renewals: Any = 0
    ) -> np.ndarray:
        r"""Discounted expected residual lifetime (DERL) of a customer up for renewal.

        Fader & Hardie (2010), equation (6): for a customer who has made ``renewals`` =
        :math:`n-1` renewals and is evaluated just before the next renewal decision,

        .. math::

            DERL(d) = \sum_{t=n}^{\infty} \frac{S(t)}{S(n-1)} \frac{1}{(1+d)^{t-n}}
                = \frac{\beta+n-1}{\alpha+\beta+n-1}\,
                  {}_2F_1\!\left(1, \beta+n; \alpha+\beta+n; \tfrac{1}{1+d}\right).

        Convention: one payment per period, paid at the start of the period; the payment
        of the renewal about to be decided is counted undiscounted (if the customer renews)
        and later ones are discounted at ``discount_rate`` per period (discrete discounting).
        Multiply by the margin per period for the customer's residual value. The series is
        summed directly (each term at most ``1/(1+d)`` times the one before) until its tail
        is below 1e-15 of the sum.

        Parameters
        ----------
        discount_rate
            Discount rate per period (> 0), e.g. 0.1 for 10% a year with annual contracts.
        renewals
            Renewals the customer has made (0 for a customer in the first period).

        Returns
        -------
        numpy.ndarray
            DERL in periods, one per ``renewals`` value.
        """
        theta, phi = self._tp()
        if not discount_rate > 0:
            raise InputError(
                f"discount_rate must be > 0 (per period), got {discount_rate}: undiscounted "
                "expected lifetimes are infinite when alpha <= 1."
            )
        n1 = self._periods(renewals, 0)  # n - 1
        tail = -np.log(1e-17) / np.log1p(discount_rate)
        k_max = int(min(np.ceil(tail), 10**6))
        out = np.empty(n1.shape, dtype=float)
        for idx, m in np.ndenumerate(n1):
            k = np.arange(k_max, dtype=float) + m  # factors of r_{n}, r_{n+1}, ...
            log_r = np.log1p(-theta + k * phi) - np.log1p(k * phi)
            log_terms = np.cumsum(log_r) - np.arange(k_max) * np.log1p(discount_rate)
            out[idx] = np.exp(log_terms).sum()
        return out


# --------------------------------------------------------------------------------------------
# Survivor cohorts from a dealer's contracts
# --------------------------------------------------------------------------------------------


def renewal_cohorts(
    policies: pd.DataFrame, *, as_of: Any, period_days: float = YEAR_DAYS
) -> pd.DataFrame:
    """Survivor counts of consecutive renewals from a table of yearly contracts.

    A vehicle enters when its first contract (``renewal`` False) was sold by this dealer; it
    survives period ``t`` when the contracts of periods ``1 .. t`` (starting about ``t``
    periods after the first) were all sold by this dealer. A vehicle whose first contract
    started ``n`` whole periods before ``as_of`` has had ``n`` renewal opportunities; the
    vehicles are grouped into cohorts by ``n``, so each cohort's counts are complete.

    Parameters
    ----------
    policies
        Contracts with columns ``vin``, ``start``, ``sold_by_this_dealer``, ``renewal``
        (e.g. ``dealer.insurance_policies``).
    as_of
        Date of the data; contracts starting after it are left out.
    period_days
        Length of a contract period in days (a year by default).

    Returns
    -------
    pandas.DataFrame
        One row per cohort (index ``opportunities`` = n), columns ``0 .. max n`` with the
        survivor counts (NaN beyond the cohort's horizon). ``attrs["excluded"]`` counts the
        rows left out by reason, ``attrs["vehicles"]`` the vehicles used.
    """
    needed = ["vin", "start", "sold_by_this_dealer", "renewal"]
    missing = [c for c in needed if c not in policies.columns]
    if missing:
        raise InputError(
            f"renewal_cohorts: insurance_policies is missing column(s) {missing}; "
            f"available: {list(policies.columns)}."
        )
    t = pd.Timestamp(as_of)
    p = policies[needed]
    excluded: dict[str, int] = {}
    late = p["start"] > t
    excluded["starts after as_of"] = int(late.sum())
    p = p[~late]
    firsts = p[~p["renewal"]].sort_values("start").drop_duplicates("vin")
    excluded["duplicate first contract of a vehicle"] = int((~p["renewal"]).sum() - len(firsts))
    no_first = ~p["vin"].isin(firsts["vin"])
    excluded["renewal of a vehicle without a first contract on record"] = int(no_first.sum())
    not_here = ~firsts["sold_by_this_dealer"]
    excluded["first contract sold elsewhere"] = int(
        p["vin"].isin(firsts.loc[not_here, "vin"]).sum()
    )
    firsts = firsts[~not_here]
    first_start = firsts.set_index("vin")["start"]
    ren = p[p["renewal"] & p["vin"].isin(first_start.index)]
    period = pd.Timedelta(days=period_days)
    k = ((ren["start"] - ren["vin"].map(first_start)) / period).round().astype(int)
    ren = ren.assign(k=k)
    bad_k = ren["k"] < 1
    excluded["renewal starting within the first period"] = int(bad_k.sum())
    ren = ren[~bad_k & ren["sold_by_this_dealer"]]
    opportunities = ((t - first_start) / period).astype(float).apply(np.floor).astype(int)
    chain = pd.Series(0, index=first_start.index)
    held = set(zip(ren["vin"], ren["k"], strict=True))
    alive = pd.Series(True, index=first_start.index)
    for step in range(1, int(opportunities.max()) + 1 if len(opportunities) else 1):
        has = np.fromiter(((v, step) in held for v in chain.index), bool, len(chain))
        alive &= has
        chain += alive.astype(int)
    rows = {}
    for n, grp in chain.groupby(opportunities):
        rows[int(n)] = [int((grp >= s).sum()) for s in range(int(n) + 1)]
    width = max(rows) + 1 if rows else 1
    out = pd.DataFrame(
        [r + [np.nan] * (width - len(r)) for r in rows.values()],
        index=pd.Index(list(rows), name="opportunities"),
        columns=list(range(width)),
    ).sort_index()
    out.attrs["excluded"] = excluded
    out.attrs["vehicles"] = int(len(first_start))
    return out


def fit_dealer_renewal(
    dealer: DealerData, *, as_of: Any = None, period_days: float = YEAR_DAYS
) -> ShiftedBetaGeometric:
    """Fit the sBG model to a dealer's insurance renewals (consecutive renewals sold here).

    Cohorts with at least one renewal opportunity are used (see :func:`renewal_cohorts`).

    Parameters
    ----------
    dealer
        The dealer (its ``insurance_policies``).
    as_of
        Date of the data (default ``dealer.as_of``).
    period_days
        Contract length in days.

    Returns
    -------
    ShiftedBetaGeometric
        Fitted; ``cohorts_`` holds the survivor table it was fitted on.
    """
    t = dealer.as_of if as_of is None else pd.Timestamp(as_of)
    table = renewal_cohorts(dealer.insurance_policies, as_of=t, period_days=period_days)
    table = table[table.index >= 1]
    if table.empty:
        raise InsufficientDataError(
            f"dealer {dealer.dealer_id!r}: no first insurance policy sold here has reached a "
            "renewal date yet; nothing to fit."
        )
    cohorts = [row.dropna().to_numpy() for _, row in table.iterrows()]
    model = ShiftedBetaGeometric().fit(cohorts)
    model.cohorts_ = table
    return model


def renewal_what_if(
    model: ShiftedBetaGeometric, *, target_rate: float, periods: int, unit_margin: float
) -> dict[str, float]:
    """The deck's renewal what-if ("renewal rate from 35% to 50%") on the contractual model.

    A new customer's expected renewals within ``periods`` opportunities now and with the
    first renewal rate at ``target_rate`` (:meth:`ShiftedBetaGeometric.with_first_renewal_rate`),
    and the gain per new customer at ``unit_margin`` per renewal. Renewals count in a row, as
    the model has them: a customer who lapses is gone (one who comes back later is not
    counted). Beside it, the single-rate reading ``r_1 * periods`` (every year independently
    at the first renewal's rate).

    Returns
    -------
    dict
        ``first_rate``, ``last_rate`` (``r_periods``), ``expected``, ``expected_at_target``,
        ``gain_per_customer`` (yuan), ``single_rate_expected`` (``r_1 * periods``).
    """
    n = int(periods)
    if n < 1:
        raise InputError(f"renewal_what_if: periods must be >= 1, got {periods}.")
    first = float(model.retention_rate(1))
    target = model.with_first_renewal_rate(target_rate)
    expected, at_target = model.expected_renewals(n), target.expected_renewals(n)
    return {
        "first_rate": first,
        "last_rate": float(model.retention_rate(n)),
        "target_rate": float(target_rate),
        "periods": float(n),
        "expected": expected,
        "expected_at_target": at_target,
        "gain_per_customer": (at_target - expected) * float(unit_margin),
        "single_rate_expected": first * n,
    }
