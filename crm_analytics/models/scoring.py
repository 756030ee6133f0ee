"""Supervised scoring with calibrated classifiers: the base of the churn and lead models.

:class:`ScoringModel` holds what :class:`~crm_analytics.models.churn.ChurnModel` and
:class:`~crm_analytics.models.leads.LeadScoreModel` share: the training frame (features and
labels of every dealer at every cutoff), the calibrated pipeline on entity-grouped folds, the
pooled network model used for a dealer too small for its own, prediction, ``score`` (ROC AUC),
occlusion reason codes, the model card, and the rolling backtest's fit loop.

Settings (``params/scoring.yaml``): a hyperparameter left ``None`` takes the value of the
model's section of ``scoring.yaml`` (read with :func:`crm_analytics.core.config.load_params`,
so ``CRM_ANALYTICS_PARAMS`` applies) when ``fit`` runs; every setting is then stored as a fitted
attribute (``risk_bands_``, ``horizons_``, ...). Prediction reads only fitted attributes, so a
fitted model's output does not change when the file is edited later.

Reason codes: for each row and each feature group, the *occlusion contribution*
``p(x) - p(x with the group's features set to their reference values)``, the reference being
the training median of each feature (the typical customer or lead). The contributions are
exact differences of the calibrated model's output, one group at a time; they do not sum to
``p(x) - p(reference)`` when groups interact.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from crm_analytics.core.config import find_params, load_params
from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import (
    InputError,
    InsufficientDataError,
    NotFittedError,
    ParameterError,
    SmallDealerWarning,
)
from crm_analytics.models.features import _cutoff

#: names in ``params/scoring.yaml`` of hyperparameters named differently
_YAML_NAMES: dict[str, str] = {"n_reasons": "reason_codes"}


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------
def expected_calibration_error(y: Any, p: Any, *, n_bins: int = 10) -> float:
    """Expected calibration error over ``n_bins`` equal-width probability bins.

    ``sum_b n_b / n * |mean(p in b) - mean(y in b)|`` (Naeini et al. 2015).
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if len(y) == 0:
        return float("nan")
    b = np.minimum((p * n_bins).astype(int), n_bins - 1)
    n = np.bincount(b, minlength=n_bins)
    sp = np.bincount(b, weights=p, minlength=n_bins)
    sy = np.bincount(b, weights=y, minlength=n_bins)
    ok = n > 0
    return float(np.sum(np.abs(sp[ok] - sy[ok])) / len(y))


def calibration_table(y: Any, p: Any, *, n_bins: int = 10) -> pd.DataFrame:
    """Observed rate against mean predicted probability in ``n_bins`` equal-width bins.

    Returns
    -------
    pandas.DataFrame
        ``bin`` (e.g. ``"0.3-0.4"``), ``n``, ``mean_predicted``, ``observed_rate`` (NaN in
        empty bins: no customer to measure).
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    b = np.minimum((p * n_bins).astype(int), n_bins - 1)
    n = np.bincount(b, minlength=n_bins)
    sp = np.bincount(b, weights=p, minlength=n_bins)
    sy = np.bincount(b, weights=y, minlength=n_bins)
    den = np.where(n > 0, n, 1)
    edges = np.linspace(0, 1, n_bins + 1)
    return pd.DataFrame(
        {
            "bin": [f"{a:.1f}-{b_:.1f}" for a, b_ in zip(edges[:-1], edges[1:], strict=True)],
            "n": n,
            "mean_predicted": np.where(n > 0, sp / den, np.nan),
            "observed_rate": np.where(n > 0, sy / den, np.nan),
        }
    )


def top_decile_lift(y: Any, score: Any) -> float:
    """Positive rate among the 10% highest scores over the overall positive rate.

    Ties at the decile boundary are broken by a stable sort of the scores.
    """
    y = np.asarray(y, dtype=float)
    s = np.asarray(score, dtype=float)
    if len(y) == 0 or y.mean() == 0:
        return float("nan")
    k = max(1, int(np.ceil(0.1 * len(y))))
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean() / y.mean())


def classification_metrics(y: Any, score: Any, *, probability: bool = True) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier score, top-decile lift and expected calibration error.

    Parameters
    ----------
    y
        Binary outcomes.
    score
        Scores (higher = more likely positive); missing scores are NaN and rank lowest.
    probability
        Whether ``score`` is a probability; if not, Brier and ECE are NaN (undefined).

    Returns
    -------
    dict
        ``n``, ``positive_rate``, ``roc_auc``, ``pr_auc``, ``brier``, ``lift_top_decile``,
        ``ece`` (NaN where undefined: one class only, or not a probability).
    """
    y = np.asarray(y, dtype=float)
    s = np.asarray(score, dtype=float)
    s = np.where(np.isnan(s), np.nanmin(s) - 1 if np.isfinite(s).any() else 0.0, s)
    both = 0 < y.sum() < len(y)
    return {
        "n": int(len(y)),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
        "roc_auc": float(roc_auc_score(y, s)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, s)) if both else float("nan"),
        "brier": float(brier_score_loss(y, s)) if probability and len(y) else float("nan"),
        "lift_top_decile": top_decile_lift(y, s),
        "ece": expected_calibration_error(y, s) if probability else float("nan"),
    }


def auc_interval(auc: float, n_pos: int, n_neg: int, *, level: float = 0.95) -> tuple[float, float]:
    """Interval of a ROC AUC from ``n_pos`` positives and ``n_neg`` negatives, by the standard
    error of Hanley & McNeil (1982), clipped to [0, 1]; ``(nan, nan)`` without both classes.
    On binormal scores it holds about 96% of fresh samples' AUCs at ``level=0.95`` (a little
    wide; ``tests/test_scoring.py``).

    It is the sampling noise of one evaluation: two methods scored on the same customers
    whose intervals overlap differ by less than it (a conservative reading: their scores are
    correlated, so a paired comparison would be tighter).
    """
    if not (n_pos > 0 and n_neg > 0 and np.isfinite(auc)):
        return float("nan"), float("nan")
    q1, q2 = auc / (2.0 - auc), 2.0 * auc**2 / (1.0 + auc)
    var = auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)
    half = stats.norm.ppf(0.5 + level / 2.0) * np.sqrt(max(var, 0.0) / (n_pos * n_neg))
    return max(0.0, auc - half), min(1.0, auc + half)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _as_dealers(data: DealerData | Iterable[DealerData]) -> Iterable[DealerData]:
    if isinstance(data, DealerData):
        return [data]
    if isinstance(data, (str, bytes, pd.DataFrame)) or not isinstance(data, Iterable):
        raise InputError(
            f"expected a DealerData or an iterable of DealerData (a network), got {type(data).__name__}."
        )
    return data


def _cutoff_list(cutoff: Any, cutoffs: Any, name: str) -> list[pd.Timestamp]:
    if cutoff is not None and cutoffs is not None:
        raise InputError(f"{name}: pass cutoff= or cutoffs=, not both.")
    vals = cutoffs if cutoffs is not None else cutoff
    if vals is None:
        raise InputError(
            f"{name}: pass cutoff='YYYY-MM-DD' (or cutoffs=[...]) to define the training date(s)."
        )
    if isinstance(vals, (str, pd.Timestamp)) or not isinstance(vals, Sequence):
        vals = [vals]
    out = sorted({_cutoff(v) for v in vals})
    if not out:
        raise InputError(f"{name}: cutoffs is empty.")
    return out


def _group_folds(
    groups: np.ndarray, y: np.ndarray, n_splits: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds that keep each group (customer or lead) on one side; every fold holds both classes."""
    n_groups = len(np.unique(groups))
    k = int(min(n_splits, n_groups))
    folds = list(GroupKFold(n_splits=k).split(np.zeros(len(y)), y, groups))
    for tr, te in folds:
        if len(np.unique(y[tr])) < 2 or len(np.unique(y[te])) < 2:
            raise InsufficientDataError(
                "a calibration fold holds one class only; too few customers to fit."
            )
    return folds


def _calibrated_pipeline(
    estimator: Any,
    features: Sequence[str],
    folds: list[tuple[np.ndarray, np.ndarray]] | None,
    calibration: str | None,
) -> Pipeline:
    """Column selection, then the estimator; wrapped in :class:`CalibratedClassifierCV` on
    ``folds`` unless ``calibration`` is None (an estimator whose own probabilities are
    calibrated, such as a logistic regression)."""
    select = ColumnTransformer(
        [("features", "passthrough", list(features))],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    select.set_output(transform="pandas")
    if calibration is not None:
        estimator = CalibratedClassifierCV(estimator, method=calibration, cv=folds)
    return Pipeline([("select", select), ("model", estimator)])


def _top_reasons(contrib: pd.DataFrame, n: int, text: dict[str, str]) -> pd.DataFrame:
    vals = contrib.to_numpy()
    order = np.argsort(-vals, axis=1, kind="stable")[:, :n]
    names = np.asarray(contrib.columns)
    out = {}
    for k in range(min(n, vals.shape[1])):
        v = vals[np.arange(len(vals)), order[:, k]]
        code = np.where(v > 0, names[order[:, k]], None)
        out[f"reason_{k + 1}"] = code
        out[f"reason_{k + 1}_impact"] = np.where(v > 0, v, np.nan)
        out[f"reason_{k + 1}_text"] = [text.get(c, c) if c is not None else None for c in code]
    return pd.DataFrame(out, index=contrib.index)


def _threads(n: int | None) -> Any:
    """Scoped limit of OpenMP/BLAS threads (no global state is changed)."""
    return threadpool_limits(limits=n) if n is not None else contextlib.nullcontext()


def _check(model: BaseEstimator) -> None:
    try:
        check_is_fitted(model, "pipeline_")
    except SklearnNotFittedError as err:
        raise NotFittedError(
            f"{type(model).__name__} is not fitted yet; call fit(dealer, cutoff=...) first."
        ) from err


def _is_fitted(model: BaseEstimator) -> bool:
    try:
        check_is_fitted(model, "pipeline_")
    except SklearnNotFittedError:
        return False
    return True


def _markdown(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A DataFrame as a GitHub markdown table (no dependency on ``tabulate``)."""
    cols = [str(c) for c in df.columns]

    def fmt(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else format(float(v), floatfmt)
        if isinstance(v, pd.Timestamp):
            return str(v.date())
        return str(v)

    rows = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for rec in df.itertuples(index=False):
        rows.append("| " + " | ".join(fmt(v) for v in rec) + " |")
    return "\n".join(rows)


def _stack(parts: list[tuple[pd.DataFrame, Any]], name: str) -> tuple[pd.DataFrame, Any]:
    if not parts:
        raise InputError(f"{name}: no dealer was given.")
    X = pd.concat([p[0] for p in parts], ignore_index=True)
    return X, pd.concat([p[1] for p in parts], ignore_index=True)


#: Features and labels of one dealer at one date, keyed by (dealer id, date, settings): see
#: :meth:`ScoringModel.training_frame` and :func:`rolling_fits`.
FrameCache = dict[tuple[str, pd.Timestamp, str], tuple[pd.DataFrame, Any]]


def _cached_frame(
    frame: Callable[..., tuple[pd.DataFrame, Any]], cache: FrameCache, settings: dict[str, Any]
) -> Callable[[DealerData, Sequence[pd.Timestamp]], list[tuple[pd.DataFrame, Any]]]:
    """``get(dealer, dates)``: the frame of ``dealer`` at each of ``dates``, each computed once
    per key; the dates not yet in ``cache`` in one ``frame(dealer, dates, settings)`` call (a
    dealer's records are prepared once for all of them), split on its ``cutoff`` column."""
    fixed = repr(sorted(settings.items()))

    def get(d: DealerData, cuts: Sequence[pd.Timestamp]) -> list[tuple[pd.DataFrame, Any]]:
        keys = [(d.dealer_id, pd.Timestamp(c), fixed) for c in cuts]
        missing = list(dict.fromkeys(k[1] for k in keys if k not in cache))
        if missing:
            X, y = frame(d, missing, settings)
            for c in missing:
                rows = np.flatnonzero((X["cutoff"] == c).to_numpy())
                cache[(d.dealer_id, c, fixed)] = (
                    X.iloc[rows].reset_index(drop=True),
                    y.iloc[rows].reset_index(drop=True),
                )
        return [cache[k] for k in keys]

    return get


# --------------------------------------------------------------------------------------------
# the base model
# --------------------------------------------------------------------------------------------
class ScoringModel(BaseEstimator):
    """Base of the calibrated scoring models (not used on its own).

    A subclass sets the class attributes below and implements the hooks ``_dealer_frame``
    (features and labels of one dealer), ``_feature_list``, ``_default_estimator``,
    ``_fit_pipelines``, ``_positive``, ``feature_frame``, ``_describe_rows``,
    ``_describe_training``, ``_too_small_message`` and ``_card_lines``; its ``__init__`` lists
    its hyperparameters (scikit-learn reads them from the signature) and must include
    ``estimator``, ``calibration``, ``cv``, ``min_rows``, ``min_per_class``, ``n_reasons``,
    ``random_state``, ``n_threads``, ``n_jobs`` and every name of ``_SETTINGS``.

    Fitted attributes common to every subclass: ``pipeline_`` (the calibrated pipeline that
    carries the reason codes), ``reference_`` (training medians), ``feature_names_in_``,
    ``cutoffs_``, ``dealers_``, ``n_train_rows_``, ``used_fallback_``, ``fit_message_``, and one
    ``<setting>_`` attribute per name of ``_SETTINGS`` (the value used).
    """

    #: section of ``params/scoring.yaml``
    _SECTION: ClassVar[str] = ""
    #: hyperparameters resolved from ``params/scoring.yaml`` when ``None``
    _SETTINGS: ClassVar[tuple[str, ...]] = ()
    #: settings a fallback model must share (they define what the labels mean)
    _DEFINITION: ClassVar[tuple[str, ...]] = ()
    #: fitted attributes taken from the fallback model
    _FALLBACK_ATTRS: ClassVar[tuple[str, ...]] = ("pipeline_", "reference_", "feature_names_in_")
    #: id column of a scored row (``customer_id`` or ``lead_id``)
    _ID: ClassVar[str] = ""
    #: columns ``predict_proba`` needs
    _REQUIRED_FEATURES: ClassVar[tuple[str, ...]] = ()
    _REASON_GROUPS: ClassVar[dict[str, tuple[str, ...]]] = {}
    _REASON_TEXT: ClassVar[dict[str, str]] = {}
    _CARD_TITLE: ClassVar[str] = ""
    _FALLBACK_HINT: ClassVar[str] = ""

    # -- settings ----------------------------------------------------------------------------
    def resolved_settings(self) -> dict[str, Any]:
        """Each setting: the hyperparameter, or the ``params/scoring.yaml`` value where ``None``.

        Called by ``fit`` (and by the backtests, before their first fit); prediction uses the
        fitted ``<setting>_`` attributes instead.

        Raises
        ------
        ParameterError
            The file lacks a value, has unknown keys, or a value is out of range.
        """
        out = {k: getattr(self, k) for k in self._SETTINGS}
        missing = [k for k, v in out.items() if v is None]
        if missing:
            params = load_params("scoring")
            where = f"{find_params('scoring')} [{self._SECTION}]"
            section = params.get(self._SECTION)
            if not isinstance(section, dict):
                raise ParameterError(f"{where}: the section is missing or not a mapping.")
            known = {_YAML_NAMES.get(k, k) for k in self._SETTINGS}
            unknown = sorted(set(section) - known)
            if unknown:
                raise ParameterError(f"{where}: unknown keys {unknown}; known: {sorted(known)}.")
            for k in missing:
                name = _YAML_NAMES.get(k, k)
                if name not in section:
                    raise ParameterError(
                        f"{where}: no value for {name!r}; add it or pass {k}= to "
                        f"{type(self).__name__}."
                    )
                out[k] = section[name]
        return self._validate_settings(out)

    def _validate_settings(self, s: dict[str, Any]) -> dict[str, Any]:
        name = type(self).__name__
        for k in ("min_rows", "min_per_class", "n_reasons"):
            try:
                s[k] = int(s[k])
            except (TypeError, ValueError) as err:
                raise ParameterError(f"{name}: {k} must be an integer, got {s[k]!r}.") from err
            if s[k] < 0:
                raise ParameterError(f"{name}: {k} must be >= 0, got {s[k]}.")
        return s

    # -- data --------------------------------------------------------------------------------
    @staticmethod
    def _dealer_frame(
        dealer: DealerData, cuts: Sequence[pd.Timestamp], settings: dict[str, Any]
    ) -> tuple[pd.DataFrame, Any]:
        raise NotImplementedError

    def training_frame(
        self,
        data: DealerData | Iterable[DealerData],
        cutoffs: Sequence[Any],
        *,
        settings: dict[str, Any] | None = None,
        frames: FrameCache | None = None,
    ) -> tuple[pd.DataFrame, Any]:
        """Stacked features and labels of every dealer at every cutoff.

        Parameters
        ----------
        data
            A dealer or an iterable of dealers (with ``n_jobs > 1`` each dealer's features are
            computed in a worker process, at most ``n_jobs`` dealers in flight).
        cutoffs
            Dates at which features (before) and labels (after) are taken.
        settings
            Resolved settings (default :meth:`resolved_settings`).
        frames
            A cache of each (dealer, cutoff) frame (:data:`FrameCache`, filled here), shared
            with a :func:`rolling_fits` backtest of the same dealer so that a date that is both
            a training and an evaluation date is computed once. Computes dealer by dealer.

        Returns
        -------
        (X, y)
            ``X`` has the id columns (``dealer_id``, the row id, ``cutoff``) and the features;
            ``y`` the labels aligned with ``X``. ``fit(X, y)`` accepts the pair.
        """
        settings = settings if settings is not None else self.resolved_settings()
        cuts = [pd.Timestamp(c) for c in cutoffs]
        frame = type(self)._dealer_frame
        if frames is not None:
            get = _cached_frame(frame, frames, settings)
            parts = [part for d in _as_dealers(data) for part in get(d, cuts)]
        elif self.n_jobs in (None, 1):
            parts = [frame(d, cuts, settings) for d in _as_dealers(data)]
        else:
            par = Parallel(n_jobs=self.n_jobs, return_as="generator", pre_dispatch="n_jobs")
            parts = list(par(delayed(frame)(d, cuts, settings) for d in _as_dealers(data)))
        return _stack(parts, f"{type(self).__name__}.fit")

    # -- fit ---------------------------------------------------------------------------------
    def fit(
        self,
        X: DealerData | Iterable[DealerData] | pd.DataFrame,
        y: Any = None,
        *,
        cutoff: Any = None,
        cutoffs: Sequence[Any] | None = None,
        fallback: ScoringModel | None = None,
    ) -> ScoringModel:
        """Fit on one dealer, or pool a network of dealers, at one or several cutoffs.

        Parameters
        ----------
        X
            A :class:`~crm_analytics.core.dealer.DealerData` or an iterable of them (network
            mode; a generator keeps only one dealer in memory at a time), with ``cutoff`` or
            ``cutoffs``; or a feature frame from :meth:`training_frame` with its labels ``y``
            (what scikit-learn's model selection tools pass).
        y
            Labels of a feature frame; must be None with dealers (labels are derived from the
            records after each cutoff).
        cutoff, cutoffs
            Training date(s) with dealers; each needs the label window of data after it.
        fallback
            A fitted model of the same class (typically fitted on the network), used with a
            :class:`~crm_analytics.core.errors.SmallDealerWarning` when the training data are
            below ``min_rows`` / ``min_per_class``; without it such a fit raises
            :class:`~crm_analytics.core.errors.InsufficientDataError`. Its settings that
            define the labels must equal this model's.

        Returns
        -------
        self
        """
        name = type(self).__name__
        if isinstance(X, pd.DataFrame):
            if y is None:
                raise InputError(
                    f"{name}.fit: a feature frame needs its labels y (training_frame returns both)."
                )
            if cutoff is not None or cutoffs is not None:
                raise InputError(f"{name}.fit: cutoff(s) apply to dealers, not to a feature frame.")
            return self._fit_frame(X, y, fallback=fallback)
        if y is not None:
            raise InputError(
                f"{name}.fit: y must be None with dealers; labels are derived from the records "
                "after each cutoff."
            )
        cuts = _cutoff_list(cutoff, cutoffs, f"{name}.fit")
        self._feature_list()  # fail fast on an unknown feature subset
        settings = self.resolved_settings()
        Xf, yf = self.training_frame(X, cuts, settings=settings)
        return self._fit_frame(Xf, yf, fallback=fallback, settings=settings)

    def _fit_frame(
        self,
        X: pd.DataFrame,
        y: Any,
        *,
        fallback: ScoringModel | None = None,
        settings: dict[str, Any] | None = None,
    ) -> ScoringModel:
        name = type(self).__name__
        if self.calibration not in ("isotonic", "sigmoid", None):
            raise InputError(
                f"{name}: calibration must be 'isotonic', 'sigmoid' or None, got {self.calibration!r}."
            )
        missing = [c for c in ("dealer_id", self._ID, "cutoff") if c not in X]
        if missing:
            raise InputError(
                f"{name}.fit: the feature frame lacks the id column(s) {missing}; build it with "
                "training_frame()."
            )
        if len(X) != len(y):
            raise InputError(f"{name}.fit: X has {len(X)} rows but y has {len(y)}.")
        settings = settings if settings is not None else self.resolved_settings()
        for k, v in settings.items():
            setattr(self, f"{k}_", v)
        self.cutoffs_ = sorted(pd.to_datetime(X["cutoff"]).unique()) if len(X) else []
        self.dealers_ = sorted(X["dealer_id"].unique().tolist()) if len(X) else []
        self.n_train_rows_ = len(X)
        self._describe_training(y)
        self.feature_names_in_ = np.asarray(self._feature_list(), dtype=object)
        self.used_fallback_ = False
        self.fit_message_ = ""
        y0 = self._positive(y, size_check=True)
        n, n_pos = len(y0), int(y0.sum())
        if n < self.min_rows_ or n_pos < self.min_per_class_ or n - n_pos < self.min_per_class_:
            return self._use_fallback(fallback, self._too_small_message(n, n_pos))
        self._fit_pipelines(X, y)
        return self

    def _use_fallback(self, fallback: ScoringModel | None, msg: str) -> ScoringModel:
        name = type(self).__name__
        if fallback is None:
            raise InsufficientDataError(msg + self._FALLBACK_HINT)
        if not isinstance(fallback, ScoringModel) or type(fallback) is not type(self):
            raise InputError(f"{name}: fallback= must be a fitted {name}.")
        _check(fallback)
        differ = {
            k: (getattr(self, f"{k}_"), getattr(fallback, f"{k}_"))
            for k in self._DEFINITION
            if getattr(self, f"{k}_") != getattr(fallback, f"{k}_")
        }
        if differ:
            raise InputError(
                f"{name}: the fallback model was fitted with another definition "
                f"(setting: (this model, fallback) = {differ}); fit the network model with the same "
                "settings."
            )
        self.fit_message_ = (
            msg + f" Using the pooled network model fitted on {len(fallback.dealers_)} dealers."
        )
        warnings.warn(self.fit_message_, SmallDealerWarning, stacklevel=4)
        for attr in self._FALLBACK_ATTRS:
            setattr(self, attr, getattr(fallback, attr))
        self.used_fallback_ = True
        return self

    def _estimator(self) -> Any:
        return clone(self.estimator) if self.estimator is not None else self._default_estimator()

    def _calibrated_fit(self, X: pd.DataFrame, y: np.ndarray, features: Sequence[str]) -> Pipeline:
        """The calibrated pipeline fitted on ``X``, ``y`` with folds grouped by dealer and row id."""
        folds = None
        if self.calibration is not None:
            groups = (X["dealer_id"].astype(str) + "|" + X[self._ID].astype(str)).to_numpy()
            folds = _group_folds(groups, y, self.cv)
        pipe = _calibrated_pipeline(self._estimator(), features, folds, self.calibration)
        with _threads(self.n_threads):
            return pipe.fit(X, y)

    # -- predict -----------------------------------------------------------------------------
    def _check_features(self, X: pd.DataFrame) -> None:
        missing = [c for c in self._REQUIRED_FEATURES if c not in X]
        if missing:
            raise InputError(f"{type(self).__name__}: feature columns missing: {missing}.")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of the negative and positive class of each feature row.

        Returns
        -------
        numpy.ndarray
            Shape ``(n, 2)``.
        """
        _check(self)
        self._check_features(X)
        if len(X) == 0:
            return np.zeros((0, 2))
        with _threads(self.n_threads):
            return self._predict_proba(X)

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.predict_proba(X)

    def score(self, X: pd.DataFrame, y: Any, sample_weight: Any = None) -> float:
        """ROC AUC of the predicted probabilities on feature rows with known labels.

        Parameters
        ----------
        X, y
            A feature frame and its labels (as returned by :meth:`training_frame`).
        sample_weight
            Optional row weights.

        Returns
        -------
        float
            Area under the ROC curve (higher is better, 0.5 is chance).
        """
        p = self.predict_proba(X)[:, 1]
        yy = self._positive(y)
        if len(yy) != len(p) or len(np.unique(yy)) < 2:
            raise InsufficientDataError(
                f"{type(self).__name__}.score: y must hold both classes, one label per row of X "
                f"({len(yy)} labels, {len(p)} rows); ROC AUC is undefined otherwise."
            )
        return float(roc_auc_score(yy, p, sample_weight=sample_weight))

    def reason_contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Occlusion contribution of each reason group to each row's probability.

        Only groups with a feature in the model; see the module docstring for the method.
        """
        _check(self)
        self._check_features(X)

        def predict(Z: pd.DataFrame) -> np.ndarray:
            with _threads(self.n_threads):
                return self.pipeline_.predict_proba(Z)[:, 1]

        p = predict(X)
        out = {g: p - predict(Xg) for g, Xg in self._reason_variants(X)}
        return pd.DataFrame(out, index=X.index)

    def _reason_variants(self, X: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
        """Each reason group with a feature in the model, and ``X`` with that group's features
        at their reference (training medians): p(x) - p(variant) is the group's contribution."""
        for g, cols in self._REASON_GROUPS.items():
            if any(c in self.reference_.index for c in cols):
                yield g, self._at_reference(X, cols)

    def _at_reference(self, X: pd.DataFrame, cols: Iterable[str]) -> pd.DataFrame:
        """A copy of ``X`` with those of ``cols`` the model reads at their reference."""
        Xg = X.copy()
        for col in cols:
            if col in self.reference_.index:
                Xg[col] = self.reference_[col]
        return Xg

    def reasons(self, X: pd.DataFrame) -> pd.DataFrame:
        """The top ``n_reasons`` reason codes of each row (groups that raise the probability).

        Returns
        -------
        pandas.DataFrame
            Aligned with ``X``: ``reason_k`` (group), ``reason_k_impact`` (probability points)
            and ``reason_k_text`` for k = 1 .. n_reasons; missing where fewer groups raise it.
        """
        return _top_reasons(self.reason_contributions(X), int(self.n_reasons_), self._REASON_TEXT)

    def score_dealer(self, dealer: DealerData, as_of: Any = None) -> pd.DataFrame:
        """Score every row (customer or lead) of ``dealer`` as of a date, with reason codes.

        Parameters
        ----------
        dealer
            The dealer.
        as_of
            Scoring date (records strictly before it are used); default the day after
            ``dealer.as_of`` (all records).

        Returns
        -------
        pandas.DataFrame
            One row per scored customer or lead: ids, probabilities (see the subclass) and the
            columns of :meth:`reasons`.
        """
        _check(self)
        return self.score_rows(self.scoring_frame(dealer, as_of), dealer.dealer_id)

    def scoring_frame(self, dealer: DealerData, as_of: Any = None) -> pd.DataFrame:
        """Features of the rows to score at ``as_of`` (default: the day after the data date).

        With the fitted settings; before ``fit``, with the settings ``fit`` would resolve. A
        batch run computes these rows where the dealer is loaded and scores them with
        :meth:`score_rows` where the model is (a model pooled over the network).
        """
        c = _cutoff(as_of) if as_of is not None else dealer.as_of.normalize() + pd.Timedelta(days=1)
        settings = self._fitted_settings() if _is_fitted(self) else self.resolved_settings()
        return self._features(dealer, c, settings)

    def score_rows(self, X: pd.DataFrame, dealer_id: str) -> pd.DataFrame:
        """Scores and reason codes of feature rows (:meth:`scoring_frame`) of one dealer."""
        _check(self)
        out = self._describe_rows(dealer_id, X)
        if len(X):
            out = pd.concat([out, self.reasons(X).reset_index(drop=True)], axis=1)
        return out

    def feature_frame(self, dealer: DealerData, cutoff: Any) -> pd.DataFrame:
        """Features of ``dealer`` as of ``cutoff`` with the fitted settings."""
        _check(self)
        return self._features(dealer, _cutoff(cutoff), self._fitted_settings())

    def _fitted_settings(self) -> dict[str, Any]:
        return {k: getattr(self, f"{k}_") for k in self._SETTINGS if hasattr(self, f"{k}_")}

    # -- documentation -----------------------------------------------------------------------
    def model_card(self, backtest: ScoringBacktest | None = None) -> str:
        """Markdown model card: definition, data, method, and (given a backtest) its figures."""
        _check(self)
        lines = [f"## {self._CARD_TITLE}", "", *self._card_lines()]
        if backtest is not None:
            lines += backtest.card_sections()
        return "\n".join(lines)

    # -- hooks -------------------------------------------------------------------------------
    def _feature_list(self) -> list[str]:
        raise NotImplementedError

    def _default_estimator(self) -> Any:
        raise NotImplementedError

    def _fit_pipelines(self, X: pd.DataFrame, y: Any) -> None:
        raise NotImplementedError

    def _positive(self, y: Any, *, size_check: bool = False) -> np.ndarray:
        raise NotImplementedError

    def _describe_training(self, y: Any) -> None:
        raise NotImplementedError

    def _too_small_message(self, n: int, n_pos: int) -> str:
        raise NotImplementedError

    @staticmethod
    def _features(
        dealer: DealerData, cutoff: pd.Timestamp, settings: dict[str, Any]
    ) -> pd.DataFrame:
        """Features of the rows of ``dealer`` to score at ``cutoff`` under ``settings``."""
        raise NotImplementedError

    def _describe_rows(self, dealer_id: str, X: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    def _card_lines(self) -> list[str]:
        raise NotImplementedError


# --------------------------------------------------------------------------------------------
# backtests
# --------------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class ScoringBacktest:
    """Result of a rolling backtest: per-row predictions, the training dates, the last model.

    Attributes
    ----------
    predictions
        One row per scored entity and evaluation date: labels, the model's and the baselines'
        scores.
    train_cutoffs
        Evaluation date -> training dates used.
    model
        The model fitted for the last block of evaluation dates.
    """

    predictions: pd.DataFrame
    train_cutoffs: dict[pd.Timestamp, list[pd.Timestamp]] = field(default_factory=dict)
    model: ScoringModel | None = None

    _TITLE: ClassVar[str] = ""

    def summary(self) -> pd.DataFrame:
        """Metrics of the model and the baselines over every evaluation date."""
        raise NotImplementedError

    def targets(self) -> pd.DataFrame:
        """The acceptance targets against the pooled figures (``target``, ``value``,
        ``threshold``, ``met``)."""
        raise NotImplementedError

    def _card_tables(self) -> list[tuple[str, str | None, pd.DataFrame]]:
        """(heading, note, table) of the model card after the summary."""
        raise NotImplementedError

    def card_sections(self) -> list[str]:
        """Markdown lines of the model card's backtest part."""
        lines = ["", f"### Backtest ({self._TITLE})", "", _markdown(self.summary())]
        for heading, note, table in self._card_tables():
            lines += ["", f"### {heading}", ""]
            if note:
                lines += [note, ""]
            lines.append(_markdown(table))
        return lines


def targets_table(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    """Target rows ``(text, value, threshold)`` with ``met``: ``value < threshold`` when the
    text says ``<``, else ``value >= threshold``."""
    out = pd.DataFrame(rows, columns=["target", "value", "threshold"])
    lt = out["target"].str.contains("<")
    out["met"] = np.where(lt, out["value"] < out["threshold"], out["value"] >= out["threshold"])
    return out


def rolling_fits(
    model: ScoringModel,
    dealers: Sequence[DealerData],
    blocks: Iterable[tuple[list[pd.Timestamp], list[pd.Timestamp]]],
    settings: dict[str, Any],
    frames: FrameCache | None = None,
) -> Iterator[tuple[ScoringModel, pd.DataFrame, Any, pd.DataFrame, Any]]:
    """The fit loop of a rolling backtest.

    For each block ``(evaluation dates, training dates)``, a clone of ``model`` (with every
    setting fixed to ``settings``) is fitted on the training dates' frame; yields the fitted
    clone, the training frame and labels, and the evaluation frame and labels. Frames are
    computed once per (dealer, date) and reused across blocks (and taken from ``frames``, a
    cache filled by :meth:`ScoringModel.training_frame`, when given).
    """
    template = clone(model).set_params(**settings)
    get = _cached_frame(type(model)._dealer_frame, frames if frames is not None else {}, settings)

    def stacked(cuts: Sequence[pd.Timestamp]) -> tuple[pd.DataFrame, Any]:
        return _stack([part for d in dealers for part in get(d, cuts)], "backtest")

    for evals, tcuts in blocks:
        Xtr, ytr = stacked(tcuts)
        fitted = clone(template)._fit_frame(Xtr, ytr, settings=settings)
        Xte, yte = stacked(evals)
        yield fitted, Xtr, ytr, Xte, yte
