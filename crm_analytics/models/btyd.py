"""Buy-till-you-die models of repeat service visits: BG/NBD, Pareto/NBD and Gamma-Gamma.

Maximum-likelihood estimators with the scikit-learn contract. Each model is fitted on a
customer summary (see :func:`crm_analytics.metrics.rfm.summarize_visits`) with columns

* ``frequency`` -- number of repeat visits ``x`` (visits after the first one),
* ``recency`` -- time of the last visit since the first one, ``t_x``,
* ``T`` -- time since the first visit at the end of the observation window,
* ``monetary`` -- mean spend of the repeat visits (Gamma-Gamma only).

All times are in the same arbitrary unit (days, weeks, ...); the fitted scale parameters
(``alpha``, ``beta``) are in that unit.

Implementation notes
--------------------
* The log-likelihoods are pure functions (``bgnbd_log_likelihood`` and friends), written in
  log space so that customers with hundreds of visits and ``T`` of decades stay finite.
* Identical rows are compressed into weights before fitting, and special functions of the
  frequency alone are evaluated once per distinct frequency. BG/NBD and Gamma-Gamma use
  L-BFGS-B on the logarithms of the parameters with analytic gradients, then Newton
  polishing. Pareto/NBD has no cheap analytic gradient (it goes through the Gauss
  hypergeometric function), so it uses damped Newton steps whose gradient and Hessian come
  from one vectorised finite-difference stencil of parameter sets, started from a loose fit
  on a 4,000-row subsample (L-BFGS-B is the fallback). Time is rescaled internally so that
  ``max(T) = 1``; results are reported in the caller's unit.
* ``fit`` limits BLAS to one thread for its duration (``threadpoolctl``): the optimiser's
  BLAS calls are on 4-vectors and idle BLAS threads spinning between them cost more than the
  fit itself on a busy machine.
* Standard errors come from the inverse Hessian of the (penalised) negative log-likelihood in
  the natural parameter space. The Hessian is computed numerically in log-parameter space and
  mapped to the natural space with the delta method,
  ``Cov(theta) = diag(theta) H_log^-1 diag(theta)``; at the optimum (zero gradient) this is
  exactly the inverse of the natural-space Hessian. Confidence intervals are Wald intervals
  ``theta +/- z * se``.

References
----------
.. [FHL05a] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting Your Customers"
   the Easy Way: An Alternative to the Pareto/NBD Model. Marketing Science 24(2), 275-284.
.. [FHS05] Fader, P. S., Hardie, B. G. S. and Shang, J. (2005). A Note on Deriving the
   Pareto/NBD Model and Related Expressions. http://brucehardie.com/notes/009/
.. [FHL05b] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: Using Iso-Value
   Curves for Customer Base Analysis. Journal of Marketing Research 42(4), 415-430; and
   Fader & Hardie (2013), The Gamma-Gamma Model of Monetary Value,
   http://brucehardie.com/notes/025/
.. [SMC87] Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987). Counting Your
   Customers: Who Are They and What Will They Do Next? Management Science 33(1), 1-24.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import optimize, special, stats
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from crm_analytics.core.errors import (
    ConvergenceError,
    InputError,
    InsufficientDataError,
    NotFittedError,
)

__all__ = [
    "BGNBD",
    "GammaGamma",
    "NetworkPrior",
    "ParetoNBD",
    "bgnbd_log_likelihood",
    "gamma_gamma_log_likelihood",
    "pareto_nbd_log_likelihood",
    "sample_bgnbd",
    "sample_gamma_gamma",
    "sample_pareto_nbd",
]

ArrayLike = Any


# --------------------------------------------------------------------------------------------
# Likelihoods (pure functions)
# --------------------------------------------------------------------------------------------


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum of products over the last axis without BLAS.

    ``a @ b`` goes through the threaded BLAS, whose idle threads spin and multiply the CPU
    time of these many small products on a loaded machine.
    """
    return np.multiply(a, b).sum(axis=-1)


def bgnbd_log_likelihood(
    r: float,
    alpha: float,
    a: float,
    b: float,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
) -> np.ndarray:
    r"""Per-customer log-likelihood of the BG/NBD model.

    Equation (6) of Fader, Hardie & Lee (2005a), evaluated in the log form of their
    section 7 (Hardie note 004):

    .. math::

        \ln L = A_1 + A_2 + \ln\left(e^{A_3} + \delta_{x>0} e^{A_4}\right)

    with :math:`A_1 = \ln\Gamma(r+x) - \ln\Gamma(r) + r\ln\alpha`,
    :math:`A_2 = \ln\Gamma(a+b) + \ln\Gamma(b+x) - \ln\Gamma(b) - \ln\Gamma(a+b+x)`,
    :math:`A_3 = -(r+x)\ln(\alpha+T)` and
    :math:`A_4 = \ln a - \ln(b+x-1) - (r+x)\ln(\alpha+t_x)`.

    Parameters
    ----------
    r, alpha, a, b
        Model parameters (all > 0).
    frequency, recency, T
        Repeat visits ``x``, time of last visit ``t_x`` and age ``T`` of each customer.

    Returns
    -------
    numpy.ndarray
        Log-likelihood of each customer (full likelihood including all constants).
    """
    x = np.asarray(frequency, dtype=float)
    tx = np.asarray(recency, dtype=float)
    T = np.asarray(T, dtype=float)
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.betaln(a, b + x) - special.betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.where(
        x > 0,
        np.log(a) - np.log(b + np.maximum(x, 1.0) - 1.0) - (r + x) * np.log(alpha + tx),
        -np.inf,
    )
    return a1 + a2 + np.logaddexp(a3, a4)


def _bgnbd_value_grad(theta: np.ndarray, d: dict[str, np.ndarray]) -> tuple[float, np.ndarray]:
    """Weighted sum of the BG/NBD log-likelihood and its gradient in natural parameters.

    ``d`` holds the compressed data split into customers without repeat visits (``T0, w0``)
    and with repeat visits (``x, tx, T, w``), plus the distinct frequencies ``ux`` and the
    index ``ix`` of each repeat customer's frequency in ``ux``; special functions of ``x``
    alone are evaluated once per distinct frequency. Same formula as
    :func:`bgnbd_log_likelihood`.
    """
    r, alpha, a, b = theta
    x, tx, T, w, ux, ix, wx = d["x"], d["tx"], d["T"], d["w"], d["ux"], d["ix"], d["wx"]
    T0, w0 = d["T0"], d["w0"]
    n0, n1 = d["n0"], d["n1"]
    la = np.log(alpha)
    # functions of x only (repeat customers), and the x = 0 constant
    head_u = special.gammaln(r + ux) - special.gammaln(r) + special.betaln(a, b + ux)
    lbx_u = np.log(b + ux - 1.0)
    psi_ab = special.digamma(a + b)
    psi_abx_u = special.digamma(a + b + ux)
    bab = special.betaln(a, b)
    # x = 0: ll = r log(alpha) - r log(alpha + T); betaln(a, b) - betaln(a, b) cancels
    lat0 = np.log(alpha + T0)
    ll0 = n0 * r * la - r * _dot(w0, lat0)
    g0_r = n0 * la - _dot(w0, lat0)
    g0_alpha = n0 * r / alpha - r * _dot(w0, 1.0 / (alpha + T0))
    # x > 0
    lat = np.log(alpha + T)
    latx = np.log(alpha + tx)
    rx = r + x
    a3 = -rx * lat
    diff = np.log(a) - lbx_u[ix] - rx * (latx - lat)  # A4 - A3
    w4 = special.expit(diff)
    w3 = 1.0 - w4
    dd = a3 - special.log_expit(-diff)
    ll1 = _dot(wx, head_u) - n1 * bab + n1 * r * la + _dot(w, dd)
    ww4 = w * w4
    g1_r = _dot(wx, special.digamma(r + ux)) - n1 * special.digamma(r) + n1 * la
    g1_r -= _dot(w * w3, lat) + _dot(ww4, latx)
    g1_alpha = n1 * r / alpha - _dot(w * rx, w3 / (alpha + T) + w4 / (alpha + tx))
    w4x = np.bincount(ix, weights=ww4, minlength=len(ux))
    g_a = _dot(wx, psi_ab - psi_abx_u) + w4x.sum() / a
    g_b = _dot(wx, psi_ab + special.digamma(b + ux) - special.digamma(b) - psi_abx_u)
    g_b -= _dot(w4x, 1.0 / (b + ux - 1.0))
    grad = np.array([g0_r + g1_r, g0_alpha + g1_alpha, g_a, g_b])
    return float(ll0 + ll1), grad


def _bgnbd_hessian(theta: np.ndarray, d: dict[str, np.ndarray]) -> np.ndarray:
    """Hessian of :func:`_bgnbd_value_grad`'s weighted log-likelihood in natural parameters
    ``(r, alpha, a, b)``, analytic (about the cost of one gradient; finite differences of the
    gradient cost four).

    With ``D = A4 - A3`` the log-likelihood of a repeat customer is
    ``A1 + A2 + A3 + log(1 + e^D)``; the last term contributes ``w4 * D_ij + w3 * w4 * D_i * D_j``
    (``w4 = expit(D)``, ``w3 = 1 - w4``), the others their own second derivatives (trigamma
    functions of the distinct frequencies, and the ``alpha`` terms).
    """
    r, alpha, a, b = theta
    x, tx, T, w, ux, ix, wx = d["x"], d["tx"], d["T"], d["w"], d["ux"], d["ix"], d["wx"]
    T0, w0, n0, n1 = d["T0"], d["w0"], d["n0"], d["n1"]
    tri = functools.partial(special.polygamma, 1)
    lat = np.log(alpha + T)
    latx = np.log(alpha + tx)
    it, itx = 1.0 / (alpha + T), 1.0 / (alpha + tx)
    rx = r + x
    diff = np.log(a) - np.log(b + ux - 1.0)[ix] - rx * (latx - lat)
    w4 = special.expit(diff)
    v = w * w4 * special.expit(-diff)  # weight times w3 * w4
    ww4 = w * w4
    d_r = lat - latx
    d_al = -rx * (itx - it)
    d_b_u = -1.0 / (b + ux - 1.0)  # D_b of each distinct frequency
    vd_r, vd_al = v * d_r, v * d_al
    v_x = np.bincount(ix, weights=v, minlength=len(ux))
    h = np.empty((4, 4))
    t0 = 1.0 / (alpha + T0)
    h[0, 0] = _dot(wx, tri(r + ux)) - n1 * tri(r) + _dot(vd_r, d_r)
    h[0, 1] = (n0 + n1) / alpha - _dot(w0, t0) - _dot(w, it) + _dot(vd_r, d_al)
    h[0, 1] -= _dot(ww4, itx - it)
    h[1, 1] = -(n0 + n1) * r / alpha**2 + r * _dot(w0, t0 * t0) + _dot(w * rx, it * it)
    h[1, 1] += _dot(vd_al, d_al) + _dot(ww4 * rx, itx * itx - it * it)
    h[0, 2] = vd_r.sum() / a
    h[0, 3] = _dot(np.bincount(ix, weights=vd_r, minlength=len(ux)), d_b_u)
    h[1, 2] = vd_al.sum() / a
    h[1, 3] = _dot(np.bincount(ix, weights=vd_al, minlength=len(ux)), d_b_u)
    w4x = np.bincount(ix, weights=ww4, minlength=len(ux))
    ab = _dot(wx, tri(a + b) - tri(a + b + ux))
    h[2, 2] = ab + (v.sum() - w4x.sum()) / a**2
    h[2, 3] = ab + _dot(v_x, d_b_u) / a
    h[3, 3] = _dot(wx, tri(b + ux) - tri(a + b + ux) - tri(b) + tri(a + b))
    h[3, 3] += _dot(v_x + w4x, d_b_u * d_b_u)
    return np.triu(h) + np.triu(h, 1).T


#: log-parameters (scaled) beyond which the objective is +inf without being evaluated: exp()
#: overflows at 709 and the squared penalty far earlier; no fit has an optimum near it
_MAX_LOG_PARAM = 100.0
#: the sane region of the Pareto/NBD warm start (log parameters in time scaled to max(T) = 1):
#: its search stays inside (outside, near the ridge s, beta -> inf or at r in the thousands, the
#: 2F1 needs quadrature at every row and a step costs a hundred times more); a start on the
#: edge is not used
_WARM_BOUNDS = (-6.0, 2.5)
_SERIES_RATIO = 0.3  # the 2F1 series is summed where z * max(q, 1) <= this


def _log_hyp2f1_c1(
    c: ArrayLike, q: ArrayLike, z: ArrayLike, *, z_decreasing: bool = False
) -> np.ndarray:
    r""":math:`\ln {}_2F_1(c, q; c+1; z)` for :math:`c, q > 0`, :math:`0 \le z < 1`.

    Where :math:`z \max(q, 1) \le 0.3` (every customer at realistic parameters) the series
    is summed directly (:func:`_hyp2f1_c1_series`); it is about twice as fast as
    ``scipy.special.hyp2f1`` and as accurate. Elsewhere ``scipy.special.hyp2f1`` is used for
    ``z < 0.9``, where it agrees with quadrature to about 1e-9. Closer to 1 it is unreliable:
    it returns NaN for large ``c`` (customers with hundreds of visits), overflows for large
    ``q``, and can be finite but wrong (for ``c=3.194, q=1, z=0.99867`` it gives
    ``ln F = 0.539`` instead of ``2.786``). Those entries use :func:`_log_hyp2f1_c1_gl`,
    Gauss-Legendre quadrature of Euler's integral in log space (checked against the series
    and adaptive quadrature in the tests). ``q`` may be a scalar; ``z_decreasing`` (a 1-d
    ``z`` sorted in decreasing order) lets the series skip converged points.
    """
    c, q, z = (np.asarray(a, dtype=float) for a in (c, q, z))
    shape = np.broadcast_shapes(c.shape, q.shape, z.shape)
    c, z = np.broadcast_to(c, shape), np.broadcast_to(z, shape)
    if q.ndim:  # a scalar q stays one: the series is cheaper with it
        q = np.broadcast_to(q, shape)
    series = z * np.maximum(q, 1.0) <= _SERIES_RATIO
    if series.all():
        return np.log(_hyp2f1_c1_series(c, q, z, z_decreasing=z_decreasing))
    qb = np.broadcast_to(q, shape)  # for indexing
    out = np.empty(shape)
    out[series] = np.log(
        _hyp2f1_c1_series(
            c[series], q if q.ndim == 0 else qb[series], z[series], z_decreasing=z_decreasing
        )
    )
    rest = ~series
    cr, qr, zr = c[rest], qb[rest], z[rest]
    with np.errstate(all="ignore"):
        lr = np.log(special.hyp2f1(cr, qr, cr + 1.0, zr))
    bad = ~np.isfinite(lr) | (zr >= 0.9)
    if bad.any():
        lr[bad] = _log_hyp2f1_c1_gl(cr[bad], qr[bad], zr[bad])
    out[rest] = lr
    return out


def _hyp2f1_c1_series(
    c: np.ndarray, q: np.ndarray | float, z: np.ndarray, *, z_decreasing: bool = False
) -> np.ndarray:
    r""":math:`{}_2F_1(c, q; c+1; z) = \sum_{n \ge 0} \frac{c}{c+n} \frac{(q)_n}{n!} z^n`
    for :math:`z \max(q, 1) \le 0.3`.

    All terms are positive and each is at most 0.3 times the one before, since
    :math:`(q+n)/(n+1) \le \max(q, 1)`; a point's sum (at least 1) is complete once its
    :math:`(q)_n z^n / n!` falls below :math:`2^{-55}`: the rest is below 1e-16 (at most 33
    terms). With a scalar ``q`` and a 1-d ``z`` that is ``z_decreasing``, that bound is
    decreasing along the array too, so each term is computed only on the prefix of points
    that still need it.
    """
    if z.ndim == 0:
        q1 = q if np.ndim(q) == 0 else np.reshape(q, 1)
        return _hyp2f1_c1_series(np.reshape(c, 1), q1, np.reshape(z, 1)).reshape(())
    tol = 2.0**-55
    total = np.ones_like(z)
    term = np.ones_like(z)  # (q)_n z^n / n!
    add = np.empty_like(z)
    scalar_q = np.ndim(q) == 0
    shrink = z_decreasing and scalar_q and z.ndim == 1
    m = z.shape[-1]
    for n in range(1, 40):
        t, a, cc = term[..., :m], add[..., :m], c[..., :m]
        t *= z[..., :m]
        t *= (float(q) + (n - 1)) / n if scalar_q else (q[..., :m] + (n - 1)) / n
        np.add(cc, n, out=a)
        np.divide(cc, a, out=a)
        a *= t
        total[..., :m] += a
        if shrink:  # number of leading points whose term is still >= tol
            m = bisect.bisect_left(t, -tol, key=lambda v: -v)
            if m == 0:
                break
        elif a.size == 0 or t.max() < tol:
            break
    return total


@functools.lru_cache(maxsize=1)
def _gauss_legendre(n: int = 240) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


def _log_hyp2f1_c1_gl(c: np.ndarray, q: np.ndarray, z: np.ndarray) -> np.ndarray:
    r"""Vectorised fallback of :func:`_log_hyp2f1_c1` by Gauss-Legendre quadrature.

    Euler's integral :math:`c\int_0^1 t^{c-1}(1 - zt)^{-q} dt` in two panels, each made
    smooth by a substitution: on :math:`[0, 1/2]`, :math:`t = v^{1/c}/2` removes the
    :math:`t^{c-1}` singularity; on :math:`[1/2, 1]`, :math:`1 - t = e^{\psi}/2`,
    :math:`\psi \in [-45, 0]`, spreads the boundary layer of width :math:`(1-z)` at
    :math:`t \to 1` over many nodes. Sums are taken in log space.
    """
    nodes, weights = _gauss_legendre()
    c, q, z = (np.asarray(a, dtype=float)[..., None] for a in (c, q, z))
    # panel 1: t in [0, 1/2], t = v^(1/c) / 2, v in [0, 1]
    v = 0.5 * (nodes + 1.0)
    t1 = 0.5 * np.exp(np.log(v) / c)
    p1 = -c * np.log(2.0) + special.logsumexp(
        np.log(0.5 * weights) - q * np.log1p(-z * t1), axis=-1, keepdims=True
    )
    # panel 2: t in [1/2, 1], 1 - t = e^psi / 2, psi in [lo, 0]
    lo = -45.0
    psi = 0.5 * lo * (1.0 - nodes)
    log_w2 = np.log(weights * (-0.5 * lo))
    log_t = np.log1p(-0.5 * np.exp(psi))
    log_1mzt = np.logaddexp(np.log1p(-z), np.log(z) + psi - np.log(2.0))
    p2 = special.logsumexp(
        np.log(c) + (c - 1.0) * log_t - q * log_1mzt + psi - np.log(2.0) + log_w2,
        axis=-1,
        keepdims=True,
    )
    return np.logaddexp(p1, p2)[..., 0]


def _log_int_pareto(
    r: float | np.ndarray,
    alpha: float | np.ndarray,
    s: float | np.ndarray,
    beta: float | np.ndarray,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
) -> np.ndarray:
    r"""Log of :math:`\int_{t_x}^{T} (\alpha+\tau)^{-(r+x)} (\beta+\tau)^{-(s+1)} d\tau`.

    Closed form of Fader, Hardie & Shang (2005), equations (19) and (20): with
    :math:`A = \max(\alpha, \beta)`, the Gauss hypergeometric function is always evaluated at
    :math:`0 \le z = |\alpha-\beta| / (A + t) < 1`, and the difference of the two end-point
    terms is taken in log space.
    """
    swap = alpha < beta
    big = np.where(swap, beta, alpha)
    small = np.where(swap, alpha, beta)
    q = np.where(swap, r + x, s + 1.0)  # exponent of the smaller-offset factor
    c = r + s + x
    diff = big - small

    def log_g(t: np.ndarray) -> np.ndarray:
        z = diff / (big + t)
        return _log_hyp2f1_c1(c, q, z) - c * np.log(big + t) - np.log(c)

    g1 = log_g(tx)
    g2 = log_g(T)
    with np.errstate(divide="ignore"):
        out = g1 + np.log1p(-np.exp(np.minimum(g2 - g1, 0.0)))
    return np.where(tx >= T, -np.inf, out)


def pareto_nbd_log_likelihood(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
) -> np.ndarray:
    r"""Per-customer log-likelihood of the Pareto/NBD model.

    Equation (18) of Fader, Hardie & Shang (2005) (the likelihood of Schmittlein, Morrison
    & Colombo 1987):

    .. math::

        L = \frac{\Gamma(r+x)\alpha^r\beta^s}{\Gamma(r)}
            \left[\frac{1}{(\alpha+T)^{r+x}(\beta+T)^s} + \frac{s}{r+s+x} A_0\right]

    where :math:`A_0` is given by equations (19) (:math:`\alpha \ge \beta`) and (20)
    (:math:`\alpha < \beta`). We use :math:`A_0 / (r+s+x) = \int_{t_x}^{T}
    (\alpha+\tau)^{-(r+x)}(\beta+\tau)^{-(s+1)} d\tau` and combine the two terms with
    log-sum-exp.

    Parameters
    ----------
    r, alpha, s, beta
        Model parameters (all > 0).
    frequency, recency, T
        Repeat visits ``x``, time of last visit ``t_x`` and age ``T`` of each customer.

    Returns
    -------
    numpy.ndarray
        Log-likelihood of each customer (full likelihood including all constants).
    """
    x = np.asarray(frequency, dtype=float)
    tx = np.asarray(recency, dtype=float)
    T = np.asarray(T, dtype=float)
    head = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    dead = np.log(s) + _log_int_pareto(r, alpha, s, beta, x, tx, T)
    return head + np.logaddexp(alive, dead)


def _pareto_ll_sets(thetas: np.ndarray, d: dict[str, np.ndarray]) -> np.ndarray:
    """Weighted Pareto/NBD log-likelihood for each row ``(r, alpha, s, beta)`` of ``thetas``.

    ``d`` is the compressed data with the distinct ``(x, t)`` end-point pairs ``px, pt`` and
    the row indices ``i1`` (recency end) and ``i2`` (age end) into them (see
    :func:`_with_pairs`). Same formula as :func:`pareto_nbd_log_likelihood`. The sets are
    evaluated one at a time: the work arrays of one set stay in the CPU cache, which makes
    this faster than one broadcast call on large data, and the ordering of ``alpha`` and
    ``beta`` is a scalar per set.
    """
    x, T, w, ux, wx = d["x"], d["T"], d["w"], d["ux"], d["wx"]
    px, pt, i1, i2 = d["px"], d["pt"], d["i1"], d["i2"]
    out = np.empty(len(thetas))
    for k, (r, alpha, s, beta) in enumerate(np.asarray(thetas, dtype=float)):
        if alpha >= beta:
            big, small, q = alpha, beta, s + 1.0  # q: exponent of the smaller offset
        else:
            big, small, q = beta, alpha, r + px
        c = (r + s) + px
        big_t = big + pt
        z = (big - small) / big_t  # decreasing: the pairs are sorted by t
        log_g = _log_hyp2f1_c1(c, q, z, z_decreasing=True) - c * np.log(big_t) - np.log(c)
        g1 = log_g[i1]
        with np.errstate(divide="ignore"):  # tx == T: empty integral, log 0
            log_int = g1 + np.log1p(-np.exp(np.minimum(log_g[i2] - g1, 0.0)))
        head = _dot(special.gammaln(r + ux) - special.gammaln(r), wx) + d["w_sum"] * (
            r * np.log(alpha) + s * np.log(beta)
        )
        alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        dead = np.log(s) + log_int
        # logaddexp(alive, dead), written out: numpy's logaddexp is several times slower
        top = np.maximum(alive, dead)
        ll = top + np.log1p(np.exp(-np.abs(alive - dead)))
        out[k] = head + _dot(ll, w)
    return out


def _with_pairs(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add the distinct ``(x, t)`` end-point pairs used by :func:`_pareto_ll_sets`.

    The pairs are sorted by ``t``, so the 2F1 argument ``z = |alpha - beta| / (max + t)``
    decreases along them (see :func:`_hyp2f1_c1_series`).
    """
    n = len(d["x"])
    pt, px, inv = _unique_pairs(np.concatenate([d["tx"], d["T"]]), np.concatenate([d["x"], d["x"]]))
    d.update(px=px, pt=pt, i1=inv[:n], i2=inv[n:], w_sum=float(d["w"].sum()))
    return d


def gamma_gamma_log_likelihood(
    p: float, q: float, v: float, frequency: ArrayLike, monetary: ArrayLike
) -> np.ndarray:
    r"""Per-customer log-likelihood of the Gamma-Gamma model of mean spend.

    Density of the mean spend :math:`\bar m` of :math:`x` repeat visits, Fader & Hardie
    (2013), note 025, equation (1a) (and Fader, Hardie & Lee 2005b, appendix):

    .. math::

        f(\bar m \mid p, q, v, x) = \frac{\Gamma(px+q)}{\Gamma(px)\Gamma(q)}
            \frac{v^q \bar m^{px-1} x^{px}}{(v + x\bar m)^{px+q}}

    Parameters
    ----------
    p, q, v
        Model parameters (all > 0).
    frequency
        Number of repeat visits ``x`` (> 0).
    monetary
        Mean spend of those visits (> 0).

    Returns
    -------
    numpy.ndarray
        Log-density of each customer's mean spend.
    """
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary, dtype=float)
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(v + x * m)
    )


def _gg_value_grad(theta: np.ndarray, d: dict[str, np.ndarray]) -> tuple[float, np.ndarray]:
    """Weighted Gamma-Gamma log-likelihood and gradient in natural parameters.

    Special functions of ``x`` alone are evaluated once per distinct frequency ``ux``.
    """
    p, q, v = theta
    x, m, w, ux, ix, logm = d["x"], d["m"], d["w"], d["ux"], d["ix"], d["logm"]
    wx = np.bincount(ix, weights=w, minlength=len(ux))
    pux = p * ux
    lvxm = np.log(v + x * m)
    wsum = w.sum()
    ll = (
        _dot(wx, special.gammaln(pux + q) - special.gammaln(pux) + pux * np.log(ux))
        + wsum * (q * np.log(v) - special.gammaln(q))
        + _dot(w, (p * x - 1.0) * logm - (p * x + q) * lvxm)
    )
    psi_u = special.digamma(pux + q)
    g_p = _dot(wx, ux * (psi_u - special.digamma(pux) + np.log(ux))) + _dot(w * x, logm - lvxm)
    g_q = _dot(wx, psi_u) - wsum * special.digamma(q) + wsum * np.log(v) - _dot(w, lvxm)
    g_v = wsum * q / v - _dot(w * (p * x + q), 1.0 / (v + x * m))
    return float(ll), np.array([g_p, g_q, g_v])


# --------------------------------------------------------------------------------------------
# Generative samplers (ground truth for tests and benchmarks)
# --------------------------------------------------------------------------------------------


def _as_T(n: int, T: ArrayLike) -> np.ndarray:
    T = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    if np.any(T <= 0):
        raise InputError("sample: T must be > 0 for every customer.")
    return T


def sample_bgnbd(
    n: int,
    T: ArrayLike,
    r: float,
    alpha: float,
    a: float,
    b: float,
    *,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Simulate ``n`` customers from the BG/NBD model (Fader, Hardie & Lee 2005a, section 3).

    Each customer draws a visit rate ``lambda ~ Gamma(r, rate=alpha)`` and a drop-out
    probability ``p ~ Beta(a, b)``; visits follow a Poisson process and after each repeat
    visit the customer becomes inactive with probability ``p``. The simulation is exact: the
    number of repeat visits before drop-out is geometric, the visits in ``(0, T]`` are a
    Poisson count with uniform order statistics.

    Parameters
    ----------
    n
        Number of customers.
    T
        Age of each customer (scalar or array of length ``n``).
    r, alpha, a, b
        True parameters.
    rng
        NumPy random generator.

    Returns
    -------
    pandas.DataFrame
        Columns ``frequency``, ``recency``, ``T`` and the latent ``alive`` (bool).
    """
    T = _as_T(n, T)
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    k = rng.geometric(p)  # repeat visit after which the customer drops out (>= 1)
    n_T = rng.poisson(lam * T)
    x = np.minimum(k, n_T)
    # time of the x-th of n_T uniform arrivals on (0, T]: T * Beta(x, n_T - x + 1)
    tx = np.zeros(n)
    pos = x > 0
    tx[pos] = T[pos] * rng.beta(x[pos], n_T[pos] - x[pos] + 1)
    alive = k > n_T
    return pd.DataFrame({"frequency": x.astype(np.int64), "recency": tx, "T": T, "alive": alive})


def sample_pareto_nbd(
    n: int,
    T: ArrayLike,
    r: float,
    alpha: float,
    s: float,
    beta: float,
    *,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Simulate ``n`` customers from the Pareto/NBD model (Schmittlein et al. 1987).

    Visit rate ``lambda ~ Gamma(r, rate=alpha)``, drop-out rate ``mu ~ Gamma(s, rate=beta)``,
    exponential lifetime ``tau ~ Exp(mu)``; visits are Poisson while alive. Exact simulation.

    Parameters
    ----------
    n
        Number of customers.
    T
        Age of each customer (scalar or array of length ``n``).
    r, alpha, s, beta
        True parameters.
    rng
        NumPy random generator.

    Returns
    -------
    pandas.DataFrame
        Columns ``frequency``, ``recency``, ``T`` and the latent ``alive`` (bool).
    """
    T = _as_T(n, T)
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    mu = rng.gamma(s, 1.0 / beta, size=n)
    tau = rng.exponential(1.0 / mu)
    active = np.minimum(tau, T)
    x = rng.poisson(lam * active)
    tx = np.zeros(n)
    pos = x > 0
    tx[pos] = active[pos] * rng.beta(x[pos], 1.0)  # max of x uniforms
    return pd.DataFrame({"frequency": x.astype(np.int64), "recency": tx, "T": T, "alive": tau > T})


def sample_gamma_gamma(
    frequency: ArrayLike,
    p: float,
    q: float,
    v: float,
    *,
    rng: np.random.Generator,
) -> np.ndarray:
    """Simulate mean spend per customer from the Gamma-Gamma model (Fader et al. 2005b).

    Each customer draws ``nu ~ Gamma(q, rate=v)``; each visit's spend is
    ``Gamma(p, rate=nu)``, so the mean of ``x`` visits is ``Gamma(p x, rate=nu x)``.

    Parameters
    ----------
    frequency
        Number of repeat visits per customer; customers with 0 get ``NaN``.
    p, q, v
        True parameters.
    rng
        NumPy random generator.

    Returns
    -------
    numpy.ndarray
        Mean spend per customer (``NaN`` where ``frequency == 0``).
    """
    x = np.asarray(frequency, dtype=float)
    nu = rng.gamma(q, 1.0 / v, size=x.shape)
    out = np.full(x.shape, np.nan)
    pos = x > 0
    out[pos] = rng.gamma(p * x[pos], 1.0 / (nu[pos] * x[pos]))
    return out


# --------------------------------------------------------------------------------------------
# Input validation and compression
# --------------------------------------------------------------------------------------------


def _rows(mask: np.ndarray, index: pd.Index) -> str:
    bad = index[np.asarray(mask)]
    shown = ", ".join(repr(i) for i in bad[:5])
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return f"{len(bad)} row(s) ({shown}{more})"


def _validate_summary(summary: Any, columns: Sequence[str], model: str) -> dict[str, np.ndarray]:
    """Check a customer summary and return its columns as float arrays.

    Raises
    ------
    InputError
        Naming the column, the rule and the offending rows.
    """
    if not isinstance(summary, pd.DataFrame):
        raise InputError(f"{model}.fit expects a pandas DataFrame with columns {list(columns)}.")
    missing = [c for c in columns if c not in summary.columns]
    if missing:
        raise InputError(
            f"{model}.fit: summary is missing column(s) {missing}; expected {list(columns)} "
            "(see crm_analytics.metrics.rfm.summarize_visits)."
        )
    if len(summary) == 0:
        raise InsufficientDataError(f"{model}.fit: summary has no rows.")
    out: dict[str, np.ndarray] = {}
    for c in columns:
        try:
            arr = summary[c].to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as err:
            raise InputError(f"{model}.fit: column {c!r} is not numeric.") from err
        bad = ~np.isfinite(arr)
        if bad.any():
            raise InputError(
                f"{model}.fit: column {c!r} has NaN or infinite values in "
                f"{_rows(bad, summary.index)}; drop or fill them."
            )
        neg = arr < 0
        if neg.any():
            raise InputError(
                f"{model}.fit: column {c!r} has negative values in {_rows(neg, summary.index)}."
            )
        out[c] = arr
    x = out["frequency"]
    nonint = x != np.round(x)
    if nonint.any():
        raise InputError(
            f"{model}.fit: column 'frequency' must hold whole numbers of repeat visits; "
            f"non-integer values in {_rows(nonint, summary.index)}."
        )
    if "recency" in out and "T" in out:
        late = out["recency"] > out["T"]
        if late.any():
            raise InputError(
                f"{model}.fit: column 'recency' is larger than 'T' in "
                f"{_rows(late, summary.index)}; recency must lie within the customer's age."
            )
        odd = (x == 0) & (out["recency"] != 0)
        if odd.any():
            raise InputError(
                f"{model}.fit: column 'recency' must be 0 where frequency is 0; violated in "
                f"{_rows(odd, summary.index)}."
            )
        if not np.any(out["T"] > 0):
            raise InsufficientDataError(f"{model}.fit: every customer has T == 0.")
    return out


def _compress(*cols: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Collapse identical rows of ``cols`` into unique rows with summed weights."""
    order = np.lexsort(cols[::-1])
    sorted_cols = [c[order] for c in cols]
    new = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        same = np.ones(len(order) - 1, dtype=bool)
        for c in sorted_cols:
            same &= c[1:] == c[:-1]
        new[1:] = ~same
    group = np.cumsum(new) - 1
    w = np.ones(len(order)) if weights is None else np.asarray(weights, dtype=float)[order]
    counts = np.bincount(group, weights=w)
    return (*(c[new] for c in sorted_cols), counts)


def _unique_whole(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(x, return_inverse=True)`` for whole numbers >= 0 (visit counts) by
    counting instead of sorting; other values go to ``np.unique``."""
    top = float(x.max()) if x.size else 0.0
    if x.size == 0 or top > 4 * x.size + 1024:
        return np.unique(x, return_inverse=True)
    xi = x.astype(np.int64)
    present = np.bincount(xi) > 0
    return np.flatnonzero(present).astype(float), (np.cumsum(present) - 1)[xi]


def _unique_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct ``(a, b)`` pairs and the index of each input pair among them."""
    order = np.lexsort((b, a))
    sa, sb = a[order], b[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (sa[1:] != sa[:-1]) | (sb[1:] != sb[:-1])
    group = np.cumsum(new) - 1
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = group
    return sa[new], sb[new], inverse


# --------------------------------------------------------------------------------------------
# Shared estimator machinery
# --------------------------------------------------------------------------------------------


def _check_fitted(model: BaseEstimator) -> None:
    """``check_is_fitted``, re-raised as the package's :class:`NotFittedError`."""
    try:
        check_is_fitted(model, "params_")
    except SklearnNotFittedError as err:
        raise NotFittedError(
            f"{type(model).__name__} is not fitted yet; call fit(summary) first."
        ) from err


def _stencil_points(u: np.ndarray, h_grad: float, h_hess: float) -> np.ndarray:
    """Central-difference stencil around ``u``: the centre, the ``2k`` gradient points, then
    the ``2k + k(k-1)`` Hessian points (see :func:`_stencil_hessian`)."""
    k = len(u)
    eye = np.eye(k)
    off = np.array([eye[i] + eye[j] for i in range(k) for j in range(i + 1, k)]).reshape(-1, k)
    return np.vstack(
        [u, u + h_grad * eye, u - h_grad * eye, u + h_hess * eye, u - h_hess * eye]
        + [u + h_hess * off, u - h_hess * off]
    )


def _stencil_hessian(vals: np.ndarray, k: int, h_hess: float) -> np.ndarray:
    """Hessian from the objective values at :func:`_stencil_points` (centre first)."""
    f = vals[0]
    fp = vals[2 * k + 1 : 3 * k + 1]
    fm = vals[3 * k + 1 : 4 * k + 1]
    hess = np.diag((fp + fm - 2.0 * f) / h_hess**2)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    fpp = vals[4 * k + 1 : 4 * k + 1 + len(pairs)]
    fmm = vals[4 * k + 1 + len(pairs) :]
    for n, (i, j) in enumerate(pairs):
        hess[i, j] = hess[j, i] = (fpp[n] - fp[i] - fp[j] + 2.0 * f - fm[i] - fm[j] + fmm[n]) / (
            2 * h_hess**2
        )
    return hess


def _weighted_subsample(w: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(idx, scale)``: ``k`` of the rows with weights ``w`` (distinct histories and their
    counts) for a warm start, and each one's inverse inclusion probability. The heavy rows
    (a weight of at least ``sum(w) / k``, at most ``k // 4`` of them) are all taken (scale 1);
    the rest are drawn uniformly (fixed seed) from the others, scaled up to stand for them. A
    uniform draw alone leaves out or doubles the few heavy rows (customers without a repeat
    visit compress into one row per age) and its start can lie far from the fit; with equal
    weights (every history distinct) it is the uniform draw."""
    n = len(w)
    order = np.argsort(-w, kind="stable")[: k // 4]
    heavy = order[w[order] >= w.sum() / k]
    others = np.ones(n, dtype=bool)
    others[heavy] = False
    rest = np.flatnonzero(others)
    drawn = np.random.default_rng(seed).choice(rest, k - len(heavy), replace=False)
    scale = np.concatenate([np.ones(len(heavy)), np.full(len(drawn), len(rest) / len(drawn))])
    return np.concatenate([heavy, drawn]), scale


def _stencil_newton(
    fun_sets: Callable[[np.ndarray], np.ndarray],
    u0: np.ndarray,
    *,
    max_iter: int = 100,
    stop: Callable[[np.ndarray], str | None] | None = None,
    gtol: float = 1e-8,
    h_grad: float = 1e-6,
    h_hess: float = 1e-4,
) -> optimize.OptimizeResult:
    """Damped Newton minimisation with finite-difference derivatives.

    ``fun_sets`` maps an ``(m, k)`` array of points to their ``m`` objective values, so every
    batch of points is one vectorised call. The first iteration evaluates the whole
    central-difference stencil (gradient step ``h_grad``, Hessian step ``h_hess``). Later
    iterations evaluate only the ``2k + 1`` gradient points and carry the Hessian forward
    with a BFGS update from the change in gradient. Each step backtracks along the Newton
    direction of the Hessian with its eigenvalues floored (so it always descends). When the
    gradient is below ``gtol`` (or the updated Hessian stalls), the rest of the stencil is
    evaluated at that point: the returned Hessian is always the finite-difference one at
    ``x`` (the covariance is taken from it). A converged fit ends with one more Newton step
    with that Hessian, kept unless the objective gets worse, which pins the optimum well
    below ``gtol``. ``stop(u)``, if given, is asked after every step; a message from it ends
    the search unsuccessfully with that message (e.g. the iterate heads for a boundary).
    """
    k = len(u0)
    n_grad = 2 * k + 1
    u = np.asarray(u0, dtype=float).copy()
    f = g = hess = s_step = None
    exact = False  # is ``hess`` the stencil Hessian at ``u``?
    message = "maximum number of iterations reached"
    success = False
    for it in range(max_iter):  # noqa: B007 (it is reported after the loop)
        pts = _stencil_points(u, h_grad, h_hess)
        if hess is None:
            vals = fun_sets(pts)
            exact = True
        else:
            vals = fun_sets(pts[:n_grad])
        if not np.all(np.isfinite(vals)):
            message = "non-finite objective in the stencil"
            break
        f = vals[0]
        g_new = (vals[1 : k + 1] - vals[k + 1 : n_grad]) / (2.0 * h_grad)
        if exact:
            hess = _stencil_hessian(vals, k, h_hess)
        else:  # BFGS update of the carried Hessian
            y = g_new - g
            sy = float(y @ s_step)
            hs = hess @ s_step
            if sy > 1e-12 * float(np.sqrt(y @ y) * np.sqrt(s_step @ s_step)):
                hess = hess + np.outer(y, y) / sy - np.outer(hs, hs) / float(s_step @ hs)
        g = g_new
        stalled = not exact and np.max(np.abs(s_step)) < 1e-9
        if np.max(np.abs(g)) < gtol or stalled:
            if not exact:  # the stencil Hessian at this point
                rest = fun_sets(pts[n_grad:])
                if not np.all(np.isfinite(rest)):
                    message = "non-finite objective in the stencil"
                    break
                hess = _stencil_hessian(np.concatenate([vals, rest]), k, h_hess)
                exact = True
            if np.max(np.abs(g)) < gtol:
                success, message = True, "gradient below tolerance"
                break
        evals, evecs = np.linalg.eigh(hess)
        floor = max(1e-8, 1e-6 * np.max(np.abs(evals)))
        step = -evecs @ ((evecs.T @ g) / np.maximum(evals, floor))
        big = np.max(np.abs(step))
        if big > 2.0:
            step *= 2.0 / big
        t = 1.0
        slope = float(g @ step)
        while t > 1e-10:
            f_new = fun_sets((u + t * step)[None, :])[0]
            if np.isfinite(f_new) and f_new <= f + 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            if not exact:  # the carried Hessian misleads: restart from the stencil's
                hess = None
                continue
            message = "line search failed"
            break
        s_step = t * step
        u = u + s_step
        if stop is not None and (why := stop(u)) is not None:
            message = why
            break
        if exact and np.max(np.abs(s_step)) < 1e-12:
            success = np.max(np.abs(g)) < 1e3 * gtol
            message = "step below tolerance"
            break
        exact = False
    if success and np.all(np.linalg.eigvalsh(hess) > 0):
        cand = u - np.linalg.solve(hess, g)
        f_new = fun_sets(cand[None, :])[0]
        if np.isfinite(f_new) and f_new <= f + 1e-13 * max(1.0, abs(f)):
            u, f = cand, f_new
    return optimize.OptimizeResult(
        x=u, fun=f, jac=g, hess=hess, nit=it + 1, success=success, message=message
    )


def _newton_from_start(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    u0: np.ndarray,
    hessian: Callable[[Callable, np.ndarray, np.ndarray], np.ndarray],
    *,
    hess0: np.ndarray | None = None,
    max_iter: int = 12,
    near: float = 1e-5,
    gtol: float = 1e-10,
) -> optimize.OptimizeResult:
    """Newton minimisation with an analytic gradient from a start near the optimum.

    The first steps use a stand-in Hessian, ``hess0`` (e.g. a subsample's) or the one taken
    at the start, updated by BFGS after each step; each step costs one gradient. Once the
    next Newton step is shorter than ``near`` in every coordinate (the iterate is about that
    close to the optimum) the Hessian is taken there (``hessian(objective, u, g)``) and
    kept; it is returned as ``hess``. Steps end when the gradient is below ``gtol`` after
    that. Every step backtracks until the objective descends. ``success`` is False, with the
    reason, when a Hessian is not positive definite, a step finds no descent or the iteration
    limit is reached: the caller then runs its general search.
    """
    calls = 0

    def counted(v: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal calls
        calls += 1
        return objective(v)

    u = np.asarray(u0, dtype=float).copy()
    f, g = counted(u)
    result = optimize.OptimizeResult(x=u, fun=f, jac=g, hess=None, success=False)
    if not (np.isfinite(f) and np.all(np.isfinite(g))):
        result.update(message="non-finite objective at the start", nit=0, nfev=calls)
        return result
    hess = hessian(counted, u, g) if hess0 is None else hess0
    exact = False  # is ``hess`` the Hessian taken near the optimum?
    message = "iteration limit of the Newton steps"
    for nit in range(1, max_iter + 1):  # noqa: B007 (reported below)
        if not np.all(np.isfinite(hess)) or np.min(np.linalg.eigvalsh(hess)) <= 0:
            message = "Hessian not positive definite"
            break
        step = -np.linalg.solve(hess, g)
        if not exact and np.max(np.abs(step)) < near:
            hess, exact = hessian(counted, u, g), True
            continue
        if exact and np.max(np.abs(g)) < gtol:
            result.update(x=u, fun=f, jac=g, hess=hess, success=True)
            message = "Newton steps converged"
            break
        slope = float(g @ step)
        t = 1.0
        while t > 1e-6:
            f_c, g_c = counted(u + t * step)
            if np.isfinite(f_c) and f_c <= f + 1e-4 * t * slope:
                break
            # at the optimum the descent is below the objective's rounding (a fresh install
            # with numpy 2.4.6 stopped a prior's fit here at |gradient| 6e-10 and left it to
            # the slower general search): a step that leaves the objective equal within that
            # rounding and shrinks the gradient is taken (Hager and Zhang's approximate Wolfe
            # condition; a gradient with a NaN compares False)
            smaller = np.max(np.abs(g_c)) < np.max(np.abs(g))
            if np.isfinite(f_c) and f_c <= f + 1e-14 * abs(f) and smaller:
                break
            t *= 0.5
        else:
            message = "no descent along the Newton step"
            break
        s_step, y = t * step, g_c - g
        u, f, g = u + s_step, f_c, g_c
        if not exact and (sy := float(y @ s_step)) > 0:  # BFGS update of the stand-in
            hs = hess @ s_step
            hess = hess + np.outer(y, y) / sy - np.outer(hs, hs) / float(s_step @ hs)
    result.update(message=message, nit=nit, nfev=calls)
    return result


class _BTYDBase(BaseEstimator):
    """Common fitting, inference and reporting for the BTYD estimators."""

    _param_names: ClassVar[tuple[str, ...]] = ()
    _columns: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        l2_penalty: float = 0.0,
        tol: float = 1e-10,
        max_iter: int = 2000,
        confidence: float = 0.95,
        prior_mean: Any = None,
        prior_strength: float = 0.0,
    ) -> None:
        self.l2_penalty = l2_penalty
        self.tol = tol
        self.max_iter = max_iter
        self.confidence = confidence
        self.prior_mean = prior_mean
        self.prior_strength = prior_strength

    # subclass hooks ------------------------------------------------------------------------
    def _prepare(
        self, data: dict[str, np.ndarray], weights: np.ndarray | None
    ) -> tuple[dict[str, np.ndarray], float, int]:
        raise NotImplementedError

    def _loglik_grad(
        self, theta: np.ndarray, prepared: dict[str, np.ndarray]
    ) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def _start(self, prepared: dict[str, np.ndarray]) -> np.ndarray:
        return np.zeros(len(self._param_names))

    # ---------------------------------------------------------------------------------------
    def fit(self, summary: pd.DataFrame, y: None = None, *, sample_weight: ArrayLike = None):
        """Fit the model by maximum likelihood.

        Parameters
        ----------
        summary
            Customer summary with the columns the model needs (see the class docstring).
        y
            Ignored (scikit-learn compatibility).
        sample_weight
            Optional number of customers each row stands for.

        Returns
        -------
        self
            The fitted estimator.

        Raises
        ------
        InputError
            Missing columns or invalid values (the message names column and rows).
        ConvergenceError
            The optimiser did not converge; ``err.result`` is scipy's ``OptimizeResult``.
        """
        # The optimiser's BLAS calls are on 4-vectors; idle BLAS threads spinning between
        # them cost more than the whole fit on a busy machine. Limit them for this call only.
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(summary, sample_weight)

    def _fit(self, summary: pd.DataFrame, sample_weight: ArrayLike):
        name = type(self).__name__
        if self.l2_penalty < 0:
            raise InputError(f"{name}: l2_penalty must be >= 0, got {self.l2_penalty}.")
        data = _validate_summary(summary, self._columns, name)
        weights = None
        if sample_weight is not None:
            weights = np.asarray(sample_weight, dtype=float)
            if weights.shape != (len(summary),) or np.any(~np.isfinite(weights) | (weights < 0)):
                raise InputError(f"{name}.fit: sample_weight must be {len(summary)} values >= 0.")
        prepared, scale, n_obs = self._prepare(data, weights)
        n_total = float(prepared.get("w_all", prepared["w"]).sum())
        if n_total <= 0:
            raise InsufficientDataError(f"{name}.fit: no usable customers.")
        pen = float(self.l2_penalty)
        k = len(self._param_names)
        unscale = self._unscale_vector(scale)
        prior_m, prior_tau = self._prior_vectors()
        # log-normal prior: its precision on log(theta) is divided by n_total like the LL
        log_unscale = np.log(unscale)
        tau_n = prior_tau / n_total

        def objective(u: np.ndarray) -> tuple[float, np.ndarray]:
            # a line search may try a step far out (log-parameters of several hundred, seen
            # with scipy 1.17's L-BFGS-B): such a point is infeasible, not an error
            if not np.all(np.isfinite(u)) or np.max(u) > _MAX_LOG_PARAM:
                return np.inf, np.zeros(k)
            theta = np.exp(u)
            ll, g = self._loglik_grad(theta, prepared)
            nat = theta * unscale
            dev = u + log_unscale - prior_m
            val = -ll / n_total + pen * np.sum(nat**2) + 0.5 * np.sum(tau_n * dev**2)
            grad_theta = -g / n_total + 2.0 * pen * nat * unscale
            if not np.isfinite(val):
                return np.inf, np.zeros(k)
            return val, grad_theta * theta + tau_n * dev

        def hessian(obj: Callable, u: np.ndarray, g_u: np.ndarray) -> np.ndarray:
            """Hessian of the objective in ``u``: analytic where the model has one."""
            if self._loglik_hessian is None:
                return self._hessian(obj, u, g_u)
            theta = np.exp(u)
            h_ll = self._loglik_hessian(theta, prepared)
            # d2/du2 of F(exp(u)) + P(u): theta_i theta_j F_ij + diag(theta F') + P''
            h_theta = -h_ll / n_total + np.diag(2.0 * pen * unscale**2)
            dev = u + log_unscale - prior_m
            return np.outer(theta, theta) * h_theta + np.diag(g_u - tau_n * dev + tau_n)

        def boundary(u: np.ndarray) -> str | None:
            return self._at_boundary(np.exp(u) * unscale)

        u0 = self._start(prepared)
        hess = None
        if self._newton_rows is not None and n_obs > self._newton_rows:
            # many rows and a warm start from a subsample: Newton steps need far fewer
            # passes over the data than L-BFGS-B (which stays the fallback)
            result = _newton_from_start(
                objective, u0, hessian, hess0=prepared.pop("_start_hessian", None)
            )
            if result.success:
                u, hess, g_u = result.x, result.hess, result.jac
                if self._loglik_hessian is not None:  # cheap: at the optimum itself
                    hess = hessian(objective, u, g_u)
        if self._uses_stencil:
            # numerical-gradient models: Newton steps with gradient and Hessian from one
            # vectorised stencil of parameter sets (cheaper than L-BFGS-B's many iterations)

            def objective_sets(us: np.ndarray) -> np.ndarray:
                th = np.exp(us)
                nat = th * unscale
                ll = self._loglik_sets(th, prepared)
                dev = us + log_unscale - prior_m
                return (
                    -ll / n_total
                    + pen * np.sum(nat**2, axis=1)
                    + 0.5 * np.sum(tau_n * dev**2, axis=1)
                )

            result = _stencil_newton(
                objective_sets, u0, max_iter=min(self.max_iter, 100), stop=boundary
            )
            if result.success:  # converged, and already polished by a last Newton step
                u, hess, g_u = result.x, result.hess, result.jac
            elif (why := boundary(result.x)) is not None:
                raise ConvergenceError(f"{name}.fit did not converge: {why}", result)
            else:
                u0 = result.x if np.all(np.isfinite(result.x)) else u0
        if hess is None:
            u, g_u, hess, result = self._general_search(objective, hessian, boundary, u0, prepared)
        if np.max(np.abs(g_u)) > max(1e-6, 10 * self.tol):
            raise ConvergenceError(
                f"{name}.fit did not converge ({result.message}); max |gradient| = "
                f"{np.max(np.abs(g_u)):.3g}. Try l2_penalty > 0 or check the summary.",
                result,
            )
        fit = {"n_total": n_total, "n_obs": n_obs, "scale": scale, "unscale": unscale}
        return self._store(u, hess, result, fit, prepared, data, weights)

    def _general_search(
        self,
        objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
        hessian: Callable[[Callable, np.ndarray, np.ndarray], np.ndarray],
        boundary: Callable[[np.ndarray], str | None],
        u0: np.ndarray,
        prepared: dict[str, np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, optimize.OptimizeResult]:
        """L-BFGS-B from ``u0``, then Newton polishing; ``(u, gradient, Hessian, result)``."""
        name = type(self).__name__
        prepared["_search"] = True  # numerical-gradient models may use a cheaper one
        result = optimize.minimize(
            objective,
            u0,
            jac=True,
            method="L-BFGS-B",
            options={
                "maxiter": self.max_iter,
                "ftol": 1e-15,
                "gtol": max(self.tol, self._search_gtol),
            },
        )
        prepared["_search"] = False
        u = result.x
        if (why := boundary(u)) is not None:
            raise ConvergenceError(f"{name}.fit did not converge: {why}", result)
        if result.status == 1 or not np.isfinite(result.fun):  # iteration limit
            raise ConvergenceError(
                f"{name}.fit did not converge ({result.message}) after {result.nit} "
                "iterations. Try l2_penalty > 0, a larger max_iter, or check the summary.",
                result,
            )
        f_u, g_u = objective(u)
        hess = hessian(objective, u, g_u)
        # Newton polishing (the likelihood is smooth; this pins the optimum to ~1e-12)
        for _ in range(4):
            if np.max(np.abs(g_u)) < 1e-12:
                break
            try:
                step = np.linalg.solve(hess, g_u)
            except np.linalg.LinAlgError:
                break
            if not np.max(np.abs(step)) < 1.0:  # not a polish: off a flat ridge
                break
            cand = u - step
            f_c, g_c = objective(cand)
            if not (np.isfinite(f_c) and f_c <= f_u + 1e-14):
                break
            u, f_u, g_u = cand, f_c, g_c
        return u, g_u, hess, result

    def _store(
        self,
        u: np.ndarray,
        hess: np.ndarray,
        result: optimize.OptimizeResult,
        fit: dict[str, Any],
        prepared: dict[str, np.ndarray],
        data: dict[str, np.ndarray],
        weights: np.ndarray | None,
    ):
        """Set the fitted attributes from the optimum ``u`` (log scaled parameters) and the
        objective's Hessian there."""
        name = type(self).__name__
        n_total, unscale, scale = fit["n_total"], fit["unscale"], fit["scale"]
        prior_m, prior_tau = self._prior_vectors()
        theta_scaled = np.exp(u)
        theta = theta_scaled * unscale
        # covariance: delta method from the log-space Hessian of the total objective
        try:
            cov_log = np.linalg.inv(hess * n_total)
        except np.linalg.LinAlgError as err:
            raise ConvergenceError(
                f"{name}.fit: Hessian is singular at the optimum; parameters are not "
                "identified on this data.",
                result,
            ) from err
        cov = cov_log * np.outer(theta, theta)
        names = list(self._param_names)
        self.params_ = pd.Series(theta, index=names, name="estimate")
        self.covariance_ = pd.DataFrame(cov, index=names, columns=names)
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        self.standard_errors_ = pd.Series(se, index=names, name="std_error")
        z = stats.norm.ppf(0.5 + self.confidence / 2.0)
        self.confidence_intervals_ = pd.DataFrame(
            {"lower": theta - z * se, "upper": theta + z * se}, index=names
        )
        fast = self._prepared_loglik(theta_scaled, prepared, scale)
        self.log_likelihood_ = (
            float(self._total_loglik(theta, data, weights)) if fast is None else fast
        )
        self.log_marginal_likelihood_ = self.log_likelihood_ + self._laplace_evidence(
            theta, cov_log, prior_m, prior_tau
        )
        self.n_customers_ = int(round(n_total))
        self.n_unique_rows_ = int(fit["n_obs"])
        self.optimize_result_ = result
        return self

    def _unscale_vector(self, scale: float) -> np.ndarray:
        return np.ones(len(self._param_names))

    def _prepared_loglik(
        self, theta_scaled: np.ndarray, prepared: dict[str, np.ndarray], scale: float
    ) -> float | None:
        """Total log-likelihood from the prepared (compressed, rescaled) data, or None to
        evaluate the public likelihood on the raw data."""
        return None

    def _prior_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Centre (log natural parameters) and precision of the log-normal prior."""
        name = type(self).__name__
        k = len(self._param_names)
        tau = np.broadcast_to(np.asarray(self.prior_strength, dtype=float), (k,)).copy()
        if np.any(~np.isfinite(tau) | (tau < 0)):
            raise InputError(f"{name}: prior_strength must be >= 0, got {self.prior_strength}.")
        if not np.any(tau > 0):
            return np.zeros(k), np.zeros(k)
        if self.prior_mean is None:
            raise InputError(
                f"{name}: prior_strength > 0 needs prior_mean (the network's parameters "
                f"{list(self._param_names)}, e.g. a pooled fit's params_)."
            )
        try:
            mean = pd.Series(self.prior_mean, dtype=float)[list(self._param_names)]
        except KeyError as err:
            raise InputError(
                f"{name}: prior_mean must give {list(self._param_names)}, got "
                f"{dict(pd.Series(self.prior_mean))}."
            ) from err
        if np.any(~np.isfinite(mean.to_numpy()) | (mean.to_numpy() <= 0)):
            raise InputError(f"{name}: prior_mean values must be finite and > 0.")
        return np.log(mean.to_numpy()), tau

    @staticmethod
    def _laplace_evidence(
        theta: np.ndarray, cov_log: np.ndarray, prior_m: np.ndarray, prior_tau: np.ndarray
    ) -> float:
        """Laplace approximation of the log marginal likelihood under the log-normal prior.

        ``log p(data) ~ LL(u*) + log N(u*; m, diag(1/tau)) + k/2 log(2 pi) - 1/2 log det H``
        in ``u = log(theta)``, where ``H`` is the Hessian of the negative log posterior
        (``cov_log = H^-1``). NaN without a proper prior (some ``tau == 0``). The caller adds
        the log-likelihood.
        """
        if np.any(prior_tau <= 0):
            return float("nan")
        dev = np.log(theta) - prior_m
        log_prior = float(np.sum(0.5 * np.log(prior_tau / (2 * np.pi)) - 0.5 * prior_tau * dev**2))
        sign, logdet_cov = np.linalg.slogdet(cov_log)
        if sign <= 0:
            return float("nan")
        return log_prior + 0.5 * len(theta) * np.log(2 * np.pi) + 0.5 * logdet_cov

    def _at_boundary(self, theta: np.ndarray) -> str | None:
        """Why the search for the optimum at natural parameters ``theta`` should stop because
        it heads for the edge of the parameter space, or None (stencil models only)."""
        return None

    _hessian_step: ClassVar[float] = 1e-6
    #: ``f(theta, prepared)``: analytic Hessian of the log-likelihood in scaled natural
    #: parameters; None: finite differences of the gradient (``_hessian``)
    _loglik_hessian: ClassVar[Callable[[np.ndarray, dict], np.ndarray] | None] = None
    #: above this many distinct rows the fit starts from ``_start``'s subsample fit and
    #: goes straight to Newton steps (:func:`_newton_from_start`); None: L-BFGS-B always
    _newton_rows: ClassVar[int | None] = None
    _search_gtol: ClassVar[float] = 0.0
    _uses_stencil: ClassVar[bool] = False

    def _loglik_sets(self, thetas: np.ndarray, prepared: dict[str, np.ndarray]) -> np.ndarray:
        """Total log-likelihood for each row of ``thetas`` (stencil models only)."""
        raise NotImplementedError

    def _hessian(
        self,
        objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
        u: np.ndarray,
        g_u: np.ndarray,
    ) -> np.ndarray:
        """Forward-difference Hessian of the objective from its gradient, symmetrised."""
        k = len(u)
        h = self._hessian_step
        hess = np.empty((k, k))
        for i in range(k):
            e = np.zeros(k)
            e[i] = h
            hess[:, i] = (objective(u + e)[1] - g_u) / h
        return 0.5 * (hess + hess.T)

    def _total_loglik(
        self, theta: np.ndarray, data: dict[str, np.ndarray], weights: np.ndarray | None
    ) -> float:
        raise NotImplementedError

    def summary(self) -> pd.DataFrame:
        """Table of estimates, standard errors and confidence intervals.

        Returns
        -------
        pandas.DataFrame
            One row per parameter: ``estimate``, ``std_error``, ``lower``, ``upper``.
        """
        _check_fitted(self)
        out = pd.concat([self.params_, self.standard_errors_, self.confidence_intervals_], axis=1)
        out.attrs["log_likelihood"] = self.log_likelihood_
        out.attrs["confidence"] = self.confidence
        return out

    def _p(self) -> tuple[float, ...]:
        _check_fitted(self)
        return tuple(float(v) for v in self.params_.to_numpy())


def _arrays(*args: ArrayLike) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(a, dtype=float) for a in args)


def _whole(n: ArrayLike) -> np.ndarray:
    """Numbers of visits: whole numbers >= 0, else an :class:`InputError`."""
    arr = np.asarray(n, dtype=float)
    if np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise InputError(f"numbers of visits must be whole numbers >= 0, got {n}.")
    return arr


class _CountModel(_BTYDBase):
    _columns: ClassVar[tuple[str, ...]] = ("frequency", "recency", "T")
    _scale_params: ClassVar[tuple[int, ...]] = (1,)

    def _prepare(self, data, weights):
        T_all = data["T"]
        if np.unique(T_all).size == T_all.size:  # no two rows alike: nothing to compress
            x, tx, T = data["frequency"], data["recency"], T_all
            w = np.ones(T.size) if weights is None else np.asarray(weights, dtype=float)
        else:
            x, tx, T, w = _compress(data["frequency"], data["recency"], T_all, weights=weights)
        keep = w > 0
        x, tx, T, w = x[keep], tx[keep], T[keep], w[keep]
        scale = float(np.max(T))
        ux, ix = _unique_whole(x)
        d = {
            "x": x,
            "tx": tx / scale,
            "T": T / scale,
            "w": w,
            "ux": ux,
            "ix": ix,
            "wx": np.bincount(ix, weights=w, minlength=len(ux)),
        }
        return d, scale, len(w)

    def _unscale_vector(self, scale):
        out = np.ones(len(self._param_names))
        out[list(self._scale_params)] = scale
        return out

    def _total_loglik(self, theta, data, weights):
        ll = self._loglik_fn(*theta, data["frequency"], data["recency"], data["T"])
        return float(ll.sum() if weights is None else weights @ ll)

    def probability_alive_matrix(
        self, T: float, *, max_frequency: int, recency: ArrayLike | None = None
    ) -> pd.DataFrame:
        """P(alive) of customers of age ``T`` on a frequency x recency grid.

        The table behind ``lifetimes``' ``plot_probability_alive_matrix``: rows are recencies
        (time of the last visit, default ``0, 1, ..., floor(T)``), columns are frequencies
        ``0 .. max_frequency``. Histories that cannot occur (no repeat visit but a recency
        above 0) are NaN.

        Parameters
        ----------
        T
            Age of the customers (time since the first visit), > 0.
        max_frequency
            Largest number of repeat visits in the grid.
        recency
            Recencies of the rows (each in ``[0, T]``).

        Returns
        -------
        pandas.DataFrame
            Index ``recency``, columns ``frequency``.
        """
        if not T > 0 or int(max_frequency) < 0:
            raise InputError("probability_alive_matrix needs T > 0 and max_frequency >= 0.")
        tx = np.arange(int(np.floor(T)) + 1, dtype=float) if recency is None else recency
        tx = np.asarray(tx, dtype=float)
        if np.any((tx < 0) | (tx > T)):
            raise InputError(f"probability_alive_matrix: recencies must lie in [0, T={T}].")
        x = np.arange(int(max_frequency) + 1, dtype=float)
        xx, rr = np.meshgrid(x, tx)
        pa = self.predict_proba_alive(xx, rr, np.full_like(xx, float(T)))
        pa = np.where((xx == 0) & (rr > 0), np.nan, pa)
        return pd.DataFrame(
            pa,
            index=pd.Index(tx, name="recency"),
            columns=pd.Index(x.astype(int), name="frequency"),
        )


class BGNBD(_CountModel):
    """BG/NBD model of repeat visits (Fader, Hardie & Lee 2005a), maximum likelihood.

    Parameters
    ----------
    l2_penalty
        Coefficient of an L2 penalty ``l2_penalty * sum(theta**2)`` on the natural parameters,
        added to the mean negative log-likelihood per customer (as in ``lifetimes``, but on
        parameters in the caller's time unit). 0 gives plain maximum likelihood.
    tol
        Gradient tolerance of the optimiser (on the mean negative log-likelihood).
    max_iter
        Maximum number of L-BFGS-B iterations.
    confidence
        Level of the Wald confidence intervals.
    prior_mean
        Centre of a log-normal prior on the parameters (mapping or Series with every
        parameter, in the caller's time unit), e.g. the network's pooled fit; see
        :class:`NetworkPrior`. Used when ``prior_strength > 0``.
    prior_strength
        Precision of the prior on ``log(theta)`` (scalar or one per parameter): the fit
        maximises ``LL(theta) - prior_strength / 2 * sum((log theta - log prior_mean)**2)``
        (maximum a posteriori). 0 (default) is plain maximum likelihood.

    Attributes
    ----------
    params_ : pandas.Series
        ``r, alpha, a, b``.
    log_likelihood_ : float
        Total log-likelihood at the estimate (full likelihood, all constants, unpenalised).
    covariance_, standard_errors_, confidence_intervals_
        Inverse Hessian of the penalised negative log-likelihood in natural parameters, its
        square-root diagonal, and Wald intervals.
    log_marginal_likelihood_ : float
        With a prior: Laplace approximation of the log marginal likelihood of the data
        (the evidence used to choose ``prior_strength``); NaN without one.
    n_customers_, n_unique_rows_ : int
        Customers used and distinct ``(frequency, recency, T)`` rows after compression.
    optimize_result_ : scipy.optimize.OptimizeResult
        The optimiser's result. Above 20,000 distinct rows the fit starts from a fit to
        4,000 of them and takes Newton steps with the analytic Hessian (about six passes
        over the data); L-BFGS-B otherwise, and wherever those steps do not converge.
    """

    _param_names = ("r", "alpha", "a", "b")
    _loglik_fn = staticmethod(bgnbd_log_likelihood)
    _newton_rows = 20_000
    _sample_rows = 4000
    _loglik_hessian = staticmethod(_bgnbd_hessian)

    def _prepare(self, data, weights):
        full, scale, n = super()._prepare(data, weights)
        x, w = full["x"], full["w"]
        pos = x > 0
        # the distinct frequencies above 0: those of all rows without a leading 0
        ux, ix = full["ux"], full["ix"][pos]
        if ux.size and ux[0] == 0:
            ux, ix = ux[1:], ix - 1
        d = {
            "x": x[pos],
            "tx": full["tx"][pos],
            "T": full["T"][pos],
            "w": w[pos],
            "ux": ux,
            "ix": ix,
            "wx": np.bincount(ix, weights=w[pos], minlength=len(ux)),
            "T0": full["T"][~pos],
            "w0": w[~pos],
            "n0": float(w[~pos].sum()),
            "n1": float(w[pos].sum()),
            "w_all": w,
        }
        return d, scale, n

    def _start(self, prepared):
        """Zeros (all parameters 1 in time scaled to ``max(T) = 1``), or above
        ``_newton_rows`` distinct rows a fit on ``_sample_rows`` of them
        (:func:`_weighted_subsample`) for the Newton steps of the full fit."""
        u0 = np.zeros(4)
        n1 = len(prepared["x"])
        if n1 + len(prepared["T0"]) <= self._newton_rows:
            return u0
        w = np.concatenate([prepared["w"], prepared["w0"]])
        idx, scale = _weighted_subsample(w, self._sample_rows)
        ws = w[idx] * scale
        ws = ws / ws.sum()
        pos, zero = idx < n1, idx >= n1
        x = prepared["x"][idx[pos]]
        ux, ix = np.unique(x, return_inverse=True)
        sub = {
            "x": x,
            "tx": prepared["tx"][idx[pos]],
            "T": prepared["T"][idx[pos]],
            "w": ws[pos],
            "ux": ux,
            "ix": ix,
            "wx": np.bincount(ix, weights=ws[pos], minlength=len(ux)),
            "T0": prepared["T0"][idx[zero] - n1],
            "w0": ws[zero],
            "n0": float(ws[zero].sum()),
            "n1": float(ws[pos].sum()),
        }

        def objective(u: np.ndarray) -> tuple[float, np.ndarray]:
            val, g = _bgnbd_value_grad(np.exp(u), sub)
            if not np.isfinite(val):
                return np.inf, np.zeros(4)
            return -val, -g * np.exp(u)

        res = optimize.minimize(
            objective, u0, jac=True, method="L-BFGS-B", options={"maxiter": 200, "gtol": 1e-7}
        )
        if not (np.all(np.isfinite(res.x)) and np.isfinite(res.fun)):
            return u0
        # the subsample's curvature stands in for the full data's on the first Newton steps
        theta = np.exp(res.x)
        h_u = -np.outer(theta, theta) * _bgnbd_hessian(theta, sub) + np.diag(res.jac)
        prepared["_start_hessian"] = h_u
        return res.x

    def _loglik_grad(self, theta, prepared):
        return _bgnbd_value_grad(theta, prepared)

    def _prepared_loglik(self, theta_scaled, prepared, scale):
        # time rescaled by c = scale adds x log(c) per customer to the log-likelihood
        ll, _ = _bgnbd_value_grad(theta_scaled, prepared)
        return float(ll - np.log(scale) * _dot(prepared["wx"], prepared["ux"]))

    def predict_proba_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        r"""Probability that each customer is still active at ``T``.

        Fader, Hardie & Lee (2008), "Computing P(alive) using the BG/NBD model", note 021,
        http://brucehardie.com/notes/021/ (the share of the likelihood of "still alive");
        equals 1 when ``frequency == 0``.

        Parameters
        ----------
        frequency, recency, T
            Customer histories.

        Returns
        -------
        numpy.ndarray
        """
        r, alpha, a, b = self._p()
        x, tx, T = _arrays(frequency, recency, T)
        log_div = (r + x) * np.log((alpha + T) / (alpha + tx)) + np.log(
            a / (b + np.maximum(x, 1.0) - 1.0)
        )
        return np.where(x == 0, 1.0, special.expit(-log_div))

    def predict_expected_visits(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        r"""Expected number of visits in the next ``t`` time units given the history.

        Equation (10) of Fader, Hardie & Lee (2005a). The Gauss hypergeometric term is
        evaluated after Euler's transformation,
        :math:`{}_2F_1(r+x, b+x; a+b+x-1; z) = (1-z)^{a-r-x-1}\,{}_2F_1(a+b-1-r, a-1; a+b+x-1; z)`,
        whose parameters stay small for customers with hundreds of visits.

        Parameters
        ----------
        t
            Horizon (same unit as the fit).
        frequency, recency, T
            Customer histories.

        Returns
        -------
        numpy.ndarray
        """
        r, alpha, a, b = self._p()
        t, x, tx, T = _arrays(t, frequency, recency, T)
        c = a + b + x - 1.0
        z = t / (alpha + T + t)
        # 2F1(r+x, b+x; c; z) * ((alpha+T)/(alpha+T+t))^(r+x)
        hyp = special.hyp2f1(a + b - 1.0 - r, a - 1.0, c, z) * np.exp(
            (a - 1.0) * np.log((alpha + T) / (alpha + T + t))
        )
        numerator = c / (a - 1.0) * (1.0 - hyp)
        log_ratio = np.log(a / (b + np.maximum(x, 1.0) - 1.0)) + (r + x) * np.log(
            (alpha + T) / (alpha + tx)
        )
        # 1 / (1 + ratio) written as expit(-log ratio): no overflow for long silences
        return numerator * np.where(x > 0, special.expit(-log_ratio), 1.0)

    def expected_visits(self, t: ArrayLike) -> np.ndarray:
        """Expected repeat visits in ``(0, t]`` of a new customer; equation (9) of [FHL05a].

        Parameters
        ----------
        t
            Time since the first visit.

        Returns
        -------
        numpy.ndarray
        """
        r, alpha, a, b = self._p()
        t = np.asarray(t, dtype=float)
        hyp = special.hyp2f1(r, b, a + b - 1.0, t / (alpha + t))
        return (a + b - 1.0) / (a - 1.0) * (1.0 - hyp * (alpha / (alpha + t)) ** r)

    def predict_probability_of_n_visits(
        self, t: float, n: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        r"""``P(X(T, T+t] = n | x, t_x, T)``: probability of ``n`` visits in the next ``t``.

        The conditional PMF of the BG/NBD model, derived here from [FHL05a] the way
        equation (8) is derived for a new customer: the individual-level probability of
        ``n`` visits in ``(T, T+t]`` weighted by the individual likelihood of the history and
        integrated over the Gamma visit rate and the Beta dropout probability (Bayes' rule),
        with the likelihood :math:`L` of equation (6) in the denominator,

        .. math::

            P(n) = rac{1}{L}\Big[ rac{B(a, b+x+n)}{B(a,b)}
                rac{\Gamma(r+x+n)lpha^r t^n}{\Gamma(r)\, n!\,(lpha+T+t)^{r+x+n}}
              + \delta_{n>0} rac{B(a+1, b+x+n-1)}{B(a,b)}
                rac{\Gamma(r+x)lpha^r}{\Gamma(r)(lpha+T)^{r+x}}
                \Big(1 - F_{NB}(n-1; r+x, 	frac{lpha+T}{lpha+T+t})\Big)
              + \delta_{n=0}\,\delta_{x>0} rac{B(a+1, b+x-1)}{B(a,b)}
                rac{\Gamma(r+x)lpha^r}{\Gamma(r)(lpha+t_x)^{r+x}} \Big]

        (alive with ``n`` visits and no dropout after them; dropout at the ``n``-th future
        visit; already inactive), where :math:`F_{NB}` is the negative binomial CDF.
        Evaluated in log space.

        Parameters
        ----------
        t
            Horizon (same unit as the fit), > 0.
        n
            Number(s) of visits (whole numbers >= 0); broadcast with the histories.
        frequency, recency, T
            Customer histories.

        Returns
        -------
        numpy.ndarray
        """
        r, alpha, a, b = self._p()
        n, x, tx, T = np.broadcast_arrays(*_arrays(_whole(n), frequency, recency, T))
        bab = special.betaln(a, b)
        head = r * np.log(alpha) - special.gammaln(r)
        alive_n = (
            special.betaln(a, b + x + n)
            - bab
            + special.gammaln(r + x + n)
            + head
            - (r + x + n) * np.log(alpha + T + t)
            + n * np.log(t)
            - special.gammaln(n + 1.0)
        )
        tail = special.betainc(np.maximum(n, 1.0), r + x, t / (alpha + T + t))
        with np.errstate(divide="ignore"):
            drop_n = np.where(
                n > 0,
                special.betaln(a + 1.0, b + x + np.maximum(n, 1.0) - 1.0)
                - bab
                + special.gammaln(r + x)
                + head
                - (r + x) * np.log(alpha + T)
                + np.log(tail),
                -np.inf,
            )
            dead = np.where(
                (n == 0) & (x > 0),
                special.betaln(a + 1.0, b + np.maximum(x, 1.0) - 1.0)
                - bab
                + special.gammaln(r + x)
                + head
                - (r + x) * np.log(alpha + tx),
                -np.inf,
            )
        log_l = bgnbd_log_likelihood(r, alpha, a, b, x, tx, T)
        terms = np.stack([alive_n, drop_n, dead])
        return np.exp(special.logsumexp(terms, axis=0) - log_l)

    def probability_of_n_visits(self, t: float, n: ArrayLike) -> np.ndarray:
        """Probability that a new customer makes ``n`` repeat visits in ``(0, t]``.

        Equation (8) of Fader, Hardie & Lee (2005a).

        Parameters
        ----------
        t
            Length of the period.
        n
            Number(s) of visits.

        Returns
        -------
        numpy.ndarray
        """
        r, alpha, a, b = self._p()
        n = np.atleast_1d(np.asarray(n, dtype=np.int64))
        lt = np.log(t / (alpha + t))
        la = r * np.log(alpha / (alpha + t))
        out = np.empty(n.shape, dtype=float)
        for i, k in enumerate(n):
            nb = special.gammaln(r + k) - special.gammaln(r) - special.gammaln(k + 1) + la + k * lt
            first = np.exp(special.betaln(a, b + k) - special.betaln(a, b) + nb)
            if k > 0:
                j = np.arange(k)
                terms = (
                    special.gammaln(r + j) - special.gammaln(r) - special.gammaln(j + 1) + j * lt
                )
                cdf = np.exp(la + special.logsumexp(terms))
                second = np.exp(special.betaln(a + 1, b + k - 1) - special.betaln(a, b)) * (
                    1.0 - cdf
                )
            else:
                second = 0.0
            out[i] = first + second
        return out


class ParetoNBD(_CountModel):
    """Pareto/NBD model of repeat visits (Schmittlein et al. 1987), maximum likelihood.

    The likelihood follows Fader, Hardie & Shang (2005); see
    :func:`pareto_nbd_log_likelihood`. The gradient is a central finite difference in
    log-parameter space (all perturbed parameter sets are evaluated in one vectorised call).

    Parameters
    ----------
    l2_penalty, tol, max_iter, confidence, prior_mean, prior_strength
        As in :class:`BGNBD`.

    Attributes
    ----------
    params_ : pandas.Series
        ``r, alpha, s, beta``.
    log_likelihood_, covariance_, standard_errors_, confidence_intervals_, n_customers_,
    n_unique_rows_, optimize_result_
        As in :class:`BGNBD`.
    """

    _param_names = ("r", "alpha", "s", "beta")
    _scale_params = (1, 3)
    _hessian_step = 1e-4
    _loglik_fn = staticmethod(pareto_nbd_log_likelihood)

    _search_gtol = 1e-7  # fallback L-BFGS-B search, then Newton polishing
    _uses_stencil = True
    _warm_start = True
    _sample_rows = 4000  # the warm start's subsample of distinct rows

    _max_s = 400.0  # dropout rates' coefficient of variation 1/sqrt(s) below 5 %

    def _loglik_sets(self, thetas, prepared):
        return _pareto_ll_sets(thetas, prepared)

    def _at_boundary(self, theta):
        r, alpha, s, beta = theta
        if s <= self._max_s:
            return None
        return (
            f"the likelihood keeps rising as s and beta grow together (now s = {s:.4g}, "
            f"beta = {beta:.4g}; mean dropout rate s/beta = {s / beta:.3g} per time unit). "
            "The customers' dropout rates show no heterogeneity, so the Pareto/NBD optimum "
            "lies at the edge of the parameter space (a single dropout rate). Fit BGNBD "
            "instead, or pass l2_penalty > 0 (e.g. 1e-6) to keep s finite."
        )

    def _prepare(self, data, weights):
        d, scale, n = super()._prepare(data, weights)
        return _with_pairs(d), scale, n

    def _start(self, prepared):
        """Warm start: a loose fit on 4,000 of the distinct rows (:func:`_weighted_subsample`).

        Its search is bounded to a sane region (``_WARM_BOUNDS``: scaled parameters within
        e^-6..e^2.5) and its result used only inside it; on the edge (a small subsample can
        drift along the flat ridge ``s, beta -> inf``) the fit starts from all parameters
        equal to 1 in time scaled to ``max(T) = 1``.
        """
        u0 = np.zeros(4)
        n = len(prepared["x"])
        if n <= self._sample_rows or not self._warm_start:
            return u0
        sub = self._subsample(prepared, *_weighted_subsample(prepared["w"], self._sample_rows))

        def objective(u: np.ndarray) -> tuple[float, np.ndarray]:
            val, g = self._loglik_grad(np.exp(u), {**sub, "_search": True})
            if not np.isfinite(val):
                return np.inf, np.zeros(4)
            return -val, -g * np.exp(u)

        res = optimize.minimize(
            objective,
            u0,
            jac=True,
            method="L-BFGS-B",
            bounds=[_WARM_BOUNDS] * 4,
            options={"maxiter": 200, "gtol": 1e-5},
        )
        ok = np.all(np.isfinite(res.x)) and np.isfinite(res.fun)
        lo, hi = _WARM_BOUNDS
        return res.x if ok and np.all((res.x > lo) & (res.x < hi)) else u0

    @staticmethod
    def _subsample(
        prepared: dict[str, np.ndarray], idx: np.ndarray, scale: np.ndarray
    ) -> dict[str, np.ndarray]:
        """The rows ``idx`` of the prepared data, their weights times ``scale`` (each row's
        inverse inclusion probability), normalised to a mean likelihood."""
        order = np.argsort(idx)
        idx, scale = idx[order], scale[order]
        w = prepared["w"][idx] * scale
        w = w / w.sum()
        x = prepared["x"][idx]
        ux, ix = np.unique(x, return_inverse=True)
        return _with_pairs(
            {
                "x": x,
                "tx": prepared["tx"][idx],
                "T": prepared["T"][idx],
                "w": w,
                "ux": ux,
                "ix": ix,
                "wx": np.bincount(ix, weights=w, minlength=len(ux)),
            }
        )

    def _loglik_grad(self, theta, prepared):
        k = len(theta)
        u = np.log(theta)
        if prepared.get("_search", False):  # forward differences while searching
            h = 1e-7
            pts = np.vstack([u, u + h * np.eye(k)])
            ll = _pareto_ll_sets(np.exp(pts), prepared)
            grad_u = (ll[1:] - ll[0]) / h
        else:  # central differences for polishing and the Hessian
            h = 1e-6
            pts = np.vstack([u, u + h * np.eye(k), u - h * np.eye(k)])
            ll = _pareto_ll_sets(np.exp(pts), prepared)
            grad_u = (ll[1 : k + 1] - ll[k + 1 :]) / (2.0 * h)
        return float(ll[0]), grad_u / theta

    def predict_proba_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """Probability that each customer is still active at ``T``.

        Fader, Hardie & Shang (2005), section 5.1, equations (36)-(37): the share of the
        likelihood contributed by the "still alive" term.

        Parameters
        ----------
        frequency, recency, T
            Customer histories.

        Returns
        -------
        numpy.ndarray
        """
        r, alpha, s, beta = self._p()
        x, tx, T = _arrays(frequency, recency, T)
        alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        dead = np.log(s) + _log_int_pareto(r, alpha, s, beta, x, tx, T)
        return np.exp(alive - np.logaddexp(alive, dead))

    def predict_expected_visits(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        r"""Expected number of visits in the next ``t`` time units given the history.

        Fader, Hardie & Shang (2005), equation (41):
        :math:`P(\text{alive}) \frac{(r+x)(\beta+T)}{(\alpha+T)(s-1)}
        \left[1 - \left(\frac{\beta+T}{\beta+T+t}\right)^{s-1}\right]`, evaluated with
        ``expm1`` so that ``s = 1`` is handled by continuity.

        Parameters
        ----------
        t
            Horizon.
        frequency, recency, T
            Customer histories.

        Returns
        -------
        numpy.ndarray
        """
        r, alpha, s, beta = self._p()
        t, x, tx, T = _arrays(t, frequency, recency, T)
        pa = self.predict_proba_alive(x, tx, T)
        lg = np.log((beta + T) / (beta + T + t))
        if abs(s - 1.0) < 1e-12:
            factor = -lg
        else:
            factor = -np.expm1((s - 1.0) * lg) / (s - 1.0)
        return pa * (r + x) * (beta + T) / (alpha + T) * factor

    def expected_visits(self, t: ArrayLike) -> np.ndarray:
        """Expected repeat visits in ``(0, t]`` of a new customer; [FHS05] equation (27).

        Parameters
        ----------
        t
            Time since the first visit.

        Returns
        -------
        numpy.ndarray
        """
        r, alpha, s, beta = self._p()
        t = np.asarray(t, dtype=float)
        lg = np.log(beta / (beta + t))
        factor = -lg if abs(s - 1.0) < 1e-12 else -np.expm1((s - 1.0) * lg) / (s - 1.0)
        return r * beta / alpha * factor

    def predict_probability_of_n_visits(
        self, t: float, n: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        r"""``P(X(T, T+t] = n | x, t_x, T)``: probability of ``n`` visits in the next ``t``.

        The conditional PMF of the Pareto/NBD model (Fader, Hardie & Shang, "Deriving the
        Conditional PMF of the Pareto/NBD Model", note 028, http://brucehardie.com/notes/028/,
        equation (16)), evaluated as its mixture definition: a customer inactive at ``T``
        (probability ``1 - P(alive)``) makes no visit; given alive at ``T``, the visit rate
        and the dropout rate are independent posteriors
        :math:`\lambda \sim \Gamma(r+x, lpha+T)`, :math:`\mu \sim \Gamma(s, eta+T)` and
        the remaining lifetime is exponential, so

        .. math::

            P(n \mid 	ext{alive}) = \Big(rac{eta+T}{eta+T+t}\Big)^s NB(n; t)
              + \int_0^t rac{s(eta+T)^s}{(eta+T+u)^{s+1}} NB(n; u)\, du,

        with :math:`NB(n; u)` the negative binomial probability of ``n`` visits in a time
        ``u`` at shape ``r + x`` and rate ``alpha + T``. The integral (smooth in ``u``) is
        taken by Gauss-Legendre quadrature on three panels.

        Parameters
        ----------
        t
            Horizon (same unit as the fit), > 0.
        n
            Number(s) of visits (whole numbers >= 0); broadcast with the histories.
        frequency, recency, T
            Customer histories.

        Returns
        -------
        numpy.ndarray
        """
        n, x, tx, T = np.broadcast_arrays(*_arrays(_whole(n), frequency, recency, T))
        pa = self.predict_proba_alive(x, tx, T)
        alive = self._pmf_if_alive(float(t), n, x, T)
        return pa * alive + np.where(n == 0, 1.0 - pa, 0.0)

    def _pmf_if_alive(self, t: float, n: np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """``P(n visits in the next t | alive at T, x)`` (see
        :meth:`predict_probability_of_n_visits`), once per distinct ``(n, x, T)`` (customers
        of one age with one frequency share it), in chunks to bound memory."""
        r, alpha, s, beta = self._p()
        nodes, weights = _gauss_legendre()
        edges = np.array([0.0, t / 8.0, t / 2.0, t])
        rows = np.stack([np.asarray(a, dtype=float).reshape(-1) for a in (n, x, T)], axis=1)
        distinct, back = np.unique(rows, axis=0, return_inverse=True)
        flat = list(distinct.T)
        out = np.empty(len(distinct))
        for lo_i in range(0, len(out), 2048):
            nn, xx, TT = (a[lo_i : lo_i + 2048, None] for a in flat)
            k = r + xx

            def log_nb(u: np.ndarray, nn=nn, k=k, TT=TT) -> np.ndarray:
                return (
                    special.gammaln(k + nn)
                    - special.gammaln(k)
                    - special.gammaln(nn + 1.0)
                    + k * np.log((alpha + TT) / (alpha + TT + u))
                    + special.xlogy(nn, u / (alpha + TT + u))
                )

            res = np.exp(log_nb(np.array([[t]])) + s * np.log((beta + TT) / (beta + TT + t)))
            res = res[:, 0]
            for lo, hi in zip(edges[:-1], edges[1:], strict=True):
                u = (lo + (hi - lo) * 0.5 * (nodes + 1.0))[None, :]
                log_dens = np.log(s) + s * np.log(beta + TT) - (s + 1.0) * np.log(beta + TT + u)
                res = res + np.exp(log_nb(u) + log_dens) @ (weights * 0.5 * (hi - lo))
            out[lo_i : lo_i + 2048] = res
        return out[back.reshape(-1)].reshape(np.shape(n))

    def probability_of_n_visits(self, t: float, n: ArrayLike) -> np.ndarray:
        r"""Probability that a new customer makes ``n`` repeat visits in ``(0, t]``.

        The conditional PMF (:meth:`predict_probability_of_n_visits`) of a customer with
        no history (``x = T = 0``, alive): the negative binomial count of a customer active
        for time ``u`` mixed over the Pareto (Lomax) lifetime (Schmittlein et al. 1987;
        [FHS05] equation (16) with ``x = t_x = T = 0``).

        Parameters
        ----------
        t
            Length of the period.
        n
            Number(s) of visits.

        Returns
        -------
        numpy.ndarray
        """
        n = np.atleast_1d(_whole(n)).astype(float)
        zero = np.zeros_like(n)
        return self._pmf_if_alive(float(t), n, zero, zero)


class GammaGamma(_BTYDBase):
    """Gamma-Gamma model of mean spend per visit (Fader, Hardie & Lee 2005b).

    Fitted on customers with ``frequency > 0``; rows with ``frequency == 0`` carry no
    information on spend and are left out of the likelihood (their count is in
    ``n_excluded_``).

    Parameters
    ----------
    l2_penalty, tol, max_iter, confidence, prior_mean, prior_strength
        As in :class:`BGNBD`.

    Attributes
    ----------
    params_ : pandas.Series
        ``p, q, v``.
    log_likelihood_, covariance_, standard_errors_, confidence_intervals_, n_customers_,
    n_unique_rows_, optimize_result_
        As in :class:`BGNBD`.
    n_excluded_ : int
        Rows with ``frequency == 0`` left out.
    """

    _param_names = ("p", "q", "v")
    _columns = ("frequency", "monetary")

    def fit(self, summary: pd.DataFrame, y: None = None, *, sample_weight: ArrayLike = None):
        """Fit the model by maximum likelihood; see :meth:`BGNBD.fit`.

        Parameters
        ----------
        summary
            Columns ``frequency`` and ``monetary`` (mean spend of the repeat visits; it may be
            NaN where ``frequency == 0``).
        y
            Ignored.
        sample_weight
            Optional number of customers each row stands for.

        Returns
        -------
        self
        """
        if isinstance(summary, pd.DataFrame) and {"frequency", "monetary"} <= set(summary.columns):
            freq = pd.to_numeric(summary["frequency"], errors="coerce")
            keep = (freq != 0).to_numpy()
            self.n_excluded_ = int((~keep).sum())
            if sample_weight is not None:
                sample_weight = np.asarray(sample_weight, dtype=float)[keep]
            summary = summary.loc[keep]
            mon = summary["monetary"].to_numpy(dtype=float, na_value=np.nan)
            nonpos = mon <= 0
            if nonpos.any():
                raise InputError(
                    "GammaGamma.fit: column 'monetary' must be > 0 for customers with repeat "
                    f"visits; violated in {_rows(nonpos, summary.index)}."
                )
        else:
            self.n_excluded_ = 0
        return super().fit(summary, y, sample_weight=sample_weight)

    def _prepare(self, data, weights):
        x, m, w = _compress(data["frequency"], data["monetary"], weights=weights)
        keep = w > 0
        x, m, w = x[keep], m[keep], w[keep]
        scale = float(np.average(m, weights=w))
        m = m / scale
        ux, ix = np.unique(x, return_inverse=True)
        d = {"x": x, "m": m, "w": w, "ux": ux, "ix": ix, "logm": np.log(m)}
        return d, scale, len(w)

    def _start(self, prepared):
        return np.array([0.0, np.log(2.0), 0.0])

    def _unscale_vector(self, scale):
        return np.array([1.0, 1.0, scale])

    def _loglik_grad(self, theta, prepared):
        return _gg_value_grad(theta, prepared)

    def _total_loglik(self, theta, data, weights):
        ll = gamma_gamma_log_likelihood(*theta, data["frequency"], data["monetary"])
        return float(ll.sum() if weights is None else weights @ ll)

    def predict_expected_spend(self, frequency: ArrayLike, monetary: ArrayLike) -> np.ndarray:
        r"""Expected mean spend per visit given the history.

        Fader & Hardie (2013), note 025 (conditional expectation of mean spend):
        :math:`E(M \mid x, \bar m) = \frac{p(v + x\bar m)}{px + q - 1}`, a weighted average of
        the population mean :math:`pv/(q-1)` and the observed mean. Customers with
        ``frequency == 0`` get the population mean. Requires ``q > 1``.

        Parameters
        ----------
        frequency
            Repeat visits.
        monetary
            Observed mean spend (ignored where ``frequency == 0``).

        Returns
        -------
        numpy.ndarray
        """
        p, q, v = self._p()
        x, m = _arrays(frequency, monetary)
        m = np.where(x > 0, m, 0.0)
        return p * (v + x * m) / (p * x + q - 1.0)

    def customer_lifetime_value(
        self,
        count_model: _CountModel,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        monetary: ArrayLike,
        *,
        periods: int = 12,
        period_length: float = 1.0,
        discount_rate: float = 0.01,
    ) -> np.ndarray:
        r"""Discounted expected value of each customer's next ``periods`` periods.

        .. math::

            CLV = E(M \mid x, \bar m) \sum_{i=1}^{H}
                \frac{E[X(i L) \mid \cdot] - E[X((i-1) L) \mid \cdot]}{(1+d)^i}

        Convention (the one of ``lifetimes``' ``customer_lifetime_value``): discrete
        discounting, ``discount_rate`` ``d`` per period of length ``L = period_length`` (in
        the count model's time unit), the visits expected in period ``i`` all discounted as
        if paid at its end. An annual rate ``D`` with monthly periods is
        ``d = (1 + D) ** (1 / 12) - 1`` (not ``D / 12``). Expected visits are the count
        model's conditional expectations, the value per visit is
        :meth:`predict_expected_spend`.

        Parameters
        ----------
        count_model
            A fitted :class:`BGNBD` or :class:`ParetoNBD` (same time unit as ``recency``, ``T``).
        frequency, recency, T, monetary
            Customer histories and mean spend of the repeat visits.
        periods
            Number of periods ``H`` (>= 1).
        period_length
            Length of a period in the count model's time unit (e.g. 30 for 30-day months
            with a model in days, 365.25 / 12 / 7 for months with a model in weeks).
        discount_rate
            Discount rate per period (>= 0).

        Returns
        -------
        numpy.ndarray
            CLV of each customer (in the unit of ``monetary``).
        """
        if int(periods) < 1 or not period_length > 0 or not discount_rate >= 0:
            raise InputError(
                "customer_lifetime_value needs periods >= 1, period_length > 0 and "
                f"discount_rate >= 0; got {periods}, {period_length}, {discount_rate}."
            )
        x, tx, T, m = _arrays(frequency, recency, T, monetary)
        spend = self.predict_expected_spend(x, m)
        ends = period_length * np.arange(0, int(periods) + 1)
        cum = np.stack(
            [np.zeros(np.broadcast(x, tx, T).shape)]
            + [count_model.predict_expected_visits(e, x, tx, T) for e in ends[1:]]
        )
        disc = (1.0 + discount_rate) ** -np.arange(1, int(periods) + 1)
        return spend * np.tensordot(disc, np.diff(cum, axis=0), axes=1)


# --------------------------------------------------------------------------------------------
# Network prior: empirical Bayes shrinkage of small dealers' parameters
# --------------------------------------------------------------------------------------------

FALLBACK_PENALTIES = (1e-6, 1e-5, 1e-4, 1e-3)
"""L2 penalties tried, in order, when an unpenalised fit does not converge (a small dealer's
BG/NBD in :func:`crm_analytics.models.clv.fit_visit_model`, a small network's pooled fit, the
centre of :class:`NetworkPrior`)."""

_PRIOR_MODELS: dict[str, type[_BTYDBase]] = {
    "bgnbd": BGNBD,
    "pareto": ParetoNBD,
    "gammagamma": GammaGamma,
}
DEFAULT_STRENGTHS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0)


class NetworkPrior(BaseEstimator):
    """Shrink each dealer's BG/NBD, Pareto/NBD or Gamma-Gamma parameters towards the network's.

    Empirical Bayes: the network's pooled fit (every dealer's customers together) is the
    centre of a log-normal prior on each dealer's parameters, and each dealer is fitted by
    maximum a posteriori (``prior_mean``, ``prior_strength`` of :class:`BGNBD`). The prior's
    precision on ``log(theta)`` is chosen on a grid by the network's marginal likelihood
    (sum over dealers of the Laplace approximation ``log_marginal_likelihood_``): a network
    whose dealers really differ gets a weak prior, one whose dealers look alike a strong one.
    A large dealer's likelihood outweighs the prior and its fit stays close to its own
    maximum likelihood; a small dealer's moves towards the network, and its optimum can no
    longer run off to the edge of the parameter space (Pareto/NBD ``s, beta -> infinity``,
    BG/NBD ``a, b -> infinity``, Gamma-Gamma ``p -> infinity``, ``v -> 0`` on a few dozen
    repeat customers).

    Parameters
    ----------
    model
        ``"bgnbd"``, ``"pareto"`` or ``"gammagamma"`` (the spend model: summaries with
        ``frequency`` and ``monetary``, the customers without repeat visits left out by
        :meth:`GammaGamma.fit`).
    strengths
        Candidate prior precisions on the log parameters (prior standard deviation
        ``1 / sqrt(strength)``).

    Attributes
    ----------
    params_ : pandas.Series
        The prior's centre: the pooled fit's parameters.
    pooled_ : BGNBD, ParetoNBD or GammaGamma
        The pooled fit (its ``l2_penalty`` is the smallest of :data:`FALLBACK_PENALTIES` that
        converged when the unpenalised fit did not).
    prior_strength_ : float
        The chosen precision.
    evidence_ : pandas.DataFrame
        Per candidate strength: ``log_evidence`` (summed over dealers) and ``failed`` (dealers
        whose fit did not converge; a strength with failures is not chosen).
    dealer_models_ : dict
        Dealer id -> fitted estimator at the chosen strength.
    dealer_params_ : pandas.DataFrame
        One row of parameters per dealer.
    """

    def __init__(self, *, model: str = "bgnbd", strengths: Sequence[float] = DEFAULT_STRENGTHS):
        self.model = model
        self.strengths = strengths

    def _model_cls(self) -> type[_BTYDBase]:
        if self.model not in _PRIOR_MODELS:
            raise InputError(f"NetworkPrior: model must be one of {sorted(_PRIOR_MODELS)}.")
        return _PRIOR_MODELS[self.model]

    def fit(self, summaries: dict[str, pd.DataFrame], y: None = None) -> NetworkPrior:
        """Fit the pooled model, choose the prior strength and fit every dealer.

        Parameters
        ----------
        summaries
            Dealer id -> customer summary (``frequency``, ``recency``, ``T``, all dealers in
            the same time unit; ``frequency``, ``monetary`` for Gamma-Gamma).
        y
            Ignored.

        Returns
        -------
        self

        Raises
        ------
        InsufficientDataError
            Fewer than two dealers.
        ConvergenceError
            The pooled fit, or every candidate strength, fails.
        """
        cls = self._model_cls()
        if not isinstance(summaries, dict) or len(summaries) < 2:
            raise InsufficientDataError(
                "NetworkPrior.fit needs a dict of at least two dealers' summaries."
            )
        strengths = sorted(float(s) for s in self.strengths)
        if not strengths or strengths[0] <= 0:
            raise InputError("NetworkPrior: strengths must be a non-empty list of values > 0.")
        cols = list(cls._columns)
        pooled_data = pd.concat([s[cols] for s in summaries.values()], ignore_index=True)
        # the prior's centre; on a small network the pooled likelihood can peak at the edge as
        # a small dealer's does (Gamma-Gamma p -> infinity), and then the smallest penalty that
        # converges places the centre (the strength is still chosen by the evidence)
        for pen in (0.0, *FALLBACK_PENALTIES):
            try:
                self.pooled_ = cls(l2_penalty=pen).fit(pooled_data)
                break
            except ConvergenceError as err:
                if pen == FALLBACK_PENALTIES[-1]:
                    raise ConvergenceError(
                        f"NetworkPrior: the pooled {cls.__name__} fit on {len(pooled_data)} "
                        f"customers of {len(summaries)} dealers did not converge, even with "
                        f"l2_penalty={pen:g} ({err}).",
                        err.result,
                    ) from err
        self.params_ = self.pooled_.params_.copy()
        rows, fits = [], {}
        for tau in strengths:
            total, failed, models = 0.0, [], {}
            for dealer, summary in summaries.items():
                try:
                    m = cls(prior_mean=self.params_, prior_strength=tau).fit(summary)
                except ConvergenceError:
                    failed.append(dealer)
                    continue
                models[dealer] = m
                total += m.log_marginal_likelihood_
            rows.append({"strength": tau, "log_evidence": total, "failed": len(failed)})
            fits[tau] = models
        ev = pd.DataFrame(rows).set_index("strength")
        ok = ev[ev["failed"] == 0]
        if ok.empty:
            raise ConvergenceError(
                f"NetworkPrior: at every strength some dealer's fit failed ({ev.to_dict()})."
            )
        self.prior_strength_ = float(ok["log_evidence"].idxmax())
        self.evidence_ = ev
        self.dealer_models_ = fits[self.prior_strength_]
        self.dealer_params_ = pd.DataFrame(
            {d: m.params_ for d, m in self.dealer_models_.items()}
        ).T.rename_axis("dealer")
        return self

    def without_dealer_fits(self) -> NetworkPrior:
        """A copy with only what :meth:`fit_dealer` needs (the prior's centre and strength)
        and the evidence table: small enough to send to every worker process of a run."""
        try:
            check_is_fitted(self, "params_")
        except SklearnNotFittedError as err:
            raise NotFittedError("NetworkPrior is not fitted yet; call fit(summaries).") from err
        out = NetworkPrior(model=self.model, strengths=self.strengths)
        out.params_ = self.params_.copy()
        out.prior_strength_ = self.prior_strength_
        out.evidence_ = self.evidence_.copy()
        return out

    def fit_dealer(self, summary: pd.DataFrame) -> _BTYDBase:
        """Fit one (new) dealer with the network's prior.

        Parameters
        ----------
        summary
            The dealer's customer summary (same time unit as the network's).

        Returns
        -------
        BGNBD, ParetoNBD or GammaGamma
            Fitted at the network's prior.
        """
        try:
            check_is_fitted(self, "params_")
        except SklearnNotFittedError as err:
            raise NotFittedError("NetworkPrior is not fitted yet; call fit(summaries).") from err
        cls = self._model_cls()
        return cls(prior_mean=self.params_, prior_strength=self.prior_strength_).fit(summary)
