"""Purchase-intent scoring of open leads (the deck's daily intent screening).

For every lead open at a scoring date, the probability of an order within 7, 15, 30 and 90 days
(``params/scoring.yaml`` ``leads.horizons``), from leak-free features as of that date
(:func:`crm_analytics.models.features.lead_features`: channel and journey, stage reached, visits and
dwell, test drive, quote, days since the last contact, invitation responses, model of interest,
consultant's past win rate, recorded grade). One calibrated gradient-boosting classifier per
horizon, trained on daily/weekly snapshots of the open leads at many past dates; the horizon
probabilities are made monotone (a longer window can only add orders).

Grades, as dealers use them: ``H`` (order expected within 7 days) if P(7 days) >= the H
threshold, else ``A`` (15 days) if P(15 days) >= the A threshold, else ``B`` (30 days) if
P(30 days) >= the B threshold, else ``C`` (2-3 months or later).

Reason codes: occlusion contributions to P(order within 30 days), as in
:mod:`crm_analytics.models.churn`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingClassifier

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError, InsufficientDataError, SmallDealerWarning
from crm_analytics.models.churn import (
    _as_dealers,
    _calibrated_pipeline,
    _check,
    _cutoff_list,
    _group_folds,
    _markdown,
    _occlusion,
    _scoring_param,
    _threads,
    _top_reasons,
    calibration_table,
    classification_metrics,
)
from crm_analytics.models.features import (
    LEAD_FEATURE_GROUPS,
    LEAD_FEATURES,
    _cutoff,
    lead_features,
    lead_labels,
)

GRADES: tuple[str, ...] = ("H", "A", "B", "C")

LEAD_REASON_TEXT: dict[str, str] = {
    "channel": "lead channel / journey",
    "stage": "stage reached (visit, test drive, quote)",
    "visits": "showroom visits and time spent",
    "contact_recency": "recent contact",
    "invitations": "invitation responses",
    "model_interest": "model of interest",
    "consultant": "consultant's track record",
    "recorded_grade": "grade recorded by the consultant",
    "customer": "returning customer",
}


def snapshot_cutoffs(start: Any, end: Any, *, every_days: int = 7) -> list[pd.Timestamp]:
    """Scoring dates from ``start`` to ``end`` (inclusive) every ``every_days`` days."""
    s, e = _cutoff(start), _cutoff(end)
    if e < s:
        raise InputError(f"snapshot_cutoffs: end {e.date()} is before start {s.date()}.")
    return list(pd.date_range(s, e, freq=f"{int(every_days)}D"))


def _lead_frame(
    d: DealerData, cuts: Sequence[pd.Timestamp], horizons: Sequence[int], idle: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    Xs, Ys = [], []
    for c in cuts:
        X = lead_features(d, c, defeat_idle_days=idle)
        Y = lead_labels(d, c, horizons=horizons, defeat_idle_days=idle)
        Xs.append(X.reset_index().assign(cutoff=c))
        Ys.append(Y.reset_index(drop=True))
    return pd.concat(Xs, ignore_index=True), pd.concat(Ys, ignore_index=True)


def _default_estimator(random_state: int | None) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=200,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        categorical_features=["channel_code", "model_code"],
        early_stopping=False,
        random_state=random_state,
    )


class LeadScoreModel(BaseEstimator):
    """P(order within 7 / 15 / 30 / 90 days) of every open lead, H/A/B/C grade, reason codes.

    Parameters
    ----------
    estimator
        Unfitted classifier handling NaN (default: gradient boosting with the channel and model
        codes as categorical features); cloned once per horizon.
    calibration, cv
        Calibration method and lead-grouped folds.
    horizons, defeat_idle_days, grade_thresholds
        Default from ``params/scoring.yaml`` (``leads``).
    min_rows, min_per_class, fallback
        As in :class:`~crm_analytics.models.churn.ChurnModel`: a fitted network model used
        (with a :class:`~crm_analytics.core.errors.SmallDealerWarning`) when a dealer's own
        training snapshots are too few.
    n_reasons, random_state, n_threads
        Reason codes per lead, seed, booster threads.

    Attributes
    ----------
    pipelines_ : dict
        Horizon (days) -> fitted calibrated pipeline.
    reference_ : pandas.Series
        Training medians (reason-code reference).
    cutoffs_, dealers_, n_train_rows_, order_rate_
        Training snapshots, dealers, lead-snapshot rows and the order rate per horizon.
    used_fallback_, fit_message_
        Whether the fallback model is used and why.
    """

    def __init__(
        self,
        *,
        estimator: Any = None,
        calibration: str = "isotonic",
        cv: int = 3,
        horizons: Sequence[int] | None = None,
        defeat_idle_days: float | None = None,
        grade_thresholds: dict[str, float] | None = None,
        min_rows: int | None = None,
        min_per_class: int | None = None,
        fallback: LeadScoreModel | None = None,
        n_reasons: int | None = None,
        random_state: int | None = 0,
        n_threads: int | None = 1,
    ) -> None:
        self.estimator = estimator
        self.calibration = calibration
        self.cv = cv
        self.horizons = horizons
        self.defeat_idle_days = defeat_idle_days
        self.grade_thresholds = grade_thresholds
        self.min_rows = min_rows
        self.min_per_class = min_per_class
        self.fallback = fallback
        self.n_reasons = n_reasons
        self.random_state = random_state
        self.n_threads = n_threads

    def _p(self, key: str) -> Any:
        return _scoring_param(self, "leads", key)

    def _horizons(self) -> list[int]:
        hs = sorted(int(h) for h in self._p("horizons"))
        if not hs or hs[0] <= 0:
            raise InputError(f"LeadScoreModel: horizons must be positive days, got {hs}.")
        return hs

    def training_frame(
        self, data: DealerData | Iterable[DealerData], cutoffs: Sequence[Any]
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Stacked lead features and labels of every dealer at every snapshot date."""
        cuts = [pd.Timestamp(c) for c in cutoffs]
        parts = [
            _lead_frame(d, cuts, self._horizons(), self._p("defeat_idle_days"))
            for d in _as_dealers(data)
        ]
        if not parts:
            raise InputError("LeadScoreModel.fit: no dealer was given.")
        return pd.concat([p[0] for p in parts], ignore_index=True), pd.concat(
            [p[1] for p in parts], ignore_index=True
        )

    def fit(
        self,
        data: DealerData | Iterable[DealerData],
        y: None = None,
        *,
        cutoff: Any = None,
        cutoffs: Sequence[Any] | None = None,
    ) -> LeadScoreModel:
        """Fit on the leads open at each snapshot date (see :func:`snapshot_cutoffs`).

        Parameters
        ----------
        data
            A dealer or an iterable of dealers (network mode, pooled).
        y
            Ignored.
        cutoff, cutoffs
            Snapshot date(s); each needs ``max(horizons)`` days of data after it.

        Returns
        -------
        self
        """
        cuts = _cutoff_list(cutoff, cutoffs, "LeadScoreModel.fit")
        X, Y = self.training_frame(data, cuts)
        return self._fit_frame(X, Y)

    def fit_frame(self, X: pd.DataFrame, Y: pd.DataFrame) -> LeadScoreModel:
        """Fit on a prebuilt training frame (:meth:`training_frame`, stacked over dealers)."""
        return self._fit_frame(X, Y)

    def _fit_frame(self, X: pd.DataFrame, Y: pd.DataFrame) -> LeadScoreModel:
        hs = self._horizons()
        self.cutoffs_ = sorted(pd.to_datetime(X["cutoff"]).unique()) if len(X) else []
        self.dealers_ = sorted(X["dealer_id"].unique().tolist()) if len(X) else []
        self.n_train_rows_ = len(X)
        self.order_rate_ = {
            h: float(Y[f"order_{h}d"].mean()) if len(Y) else float("nan") for h in hs
        }
        self.feature_names_in_ = np.asarray(LEAD_FEATURES, dtype=object)
        self.used_fallback_ = False
        self.fit_message_ = ""
        need_rows, need_cls = int(self._p("min_rows")), int(self._p("min_per_class"))
        y0 = Y[f"order_{hs[0]}d"].to_numpy() if len(Y) else np.zeros(0, bool)
        n_pos = int(y0.sum())
        if len(X) < need_rows or n_pos < need_cls or len(X) - n_pos < need_cls:
            msg = (
                f"dealer(s) {', '.join(self.dealers_) or '(none)'}: only {len(X)} open-lead snapshots "
                f"({n_pos} ordered within {hs[0]} days) at {len(self.cutoffs_)} snapshot date(s); a dealer's own "
                f"lead model needs at least {need_rows} snapshots and {need_cls} orders and non-orders."
            )
            fb = self.fallback
            if fb is None:
                raise InsufficientDataError(
                    msg
                    + " Fit LeadScoreModel on the dealer network and pass it as fallback=..., or add snapshot dates."
                )
            if not hasattr(fb, "pipelines_"):
                raise InputError("LeadScoreModel: fallback= must be a fitted LeadScoreModel.")
            self.fit_message_ = (
                msg + f" Using the pooled network model fitted on {len(fb.dealers_)} dealers."
            )
            warnings.warn(self.fit_message_, SmallDealerWarning, stacklevel=3)
            self.pipelines_ = fb.pipelines_
            self.pipeline_ = fb.pipeline_
            self.reference_ = fb.reference_
            self.used_fallback_ = True
            return self
        groups = (X["dealer_id"].astype(str) + "|" + X["lead_id"].astype(str)).to_numpy()
        est = (
            clone(self.estimator)
            if self.estimator is not None
            else _default_estimator(self.random_state)
        )
        self.pipelines_ = {}
        with _threads(self.n_threads):
            for h in hs:
                yh = Y[f"order_{h}d"].to_numpy().astype(int)
                folds = _group_folds(groups, yh, self.cv)
                pipe = _calibrated_pipeline(clone(est), LEAD_FEATURES, folds, self.calibration)
                self.pipelines_[h] = pipe.fit(X, yh)
        # the 30-day model (or the nearest horizon) carries the reason codes
        self.pipeline_ = self.pipelines_[min(hs, key=lambda h: abs(h - 30))]
        self.reference_ = (
            X[list(LEAD_FEATURES)].median(numeric_only=True).reindex(list(LEAD_FEATURES))
        )
        return self

    def predict_proba_horizons(self, X: pd.DataFrame) -> pd.DataFrame:
        """P(order within each horizon) of feature rows, monotone in the horizon.

        Returns
        -------
        pandas.DataFrame
            Columns ``p_{h}d`` for each horizon, aligned with ``X``.
        """
        _check(self)
        missing = [c for c in LEAD_FEATURES if c not in X]
        if missing:
            raise InputError(f"LeadScoreModel: feature columns missing: {missing}.")
        hs = sorted(self.pipelines_)
        if len(X) == 0:
            return pd.DataFrame({f"p_{h}d": np.zeros(0) for h in hs})
        with _threads(self.n_threads):
            P = np.column_stack([self.pipelines_[h].predict_proba(X)[:, 1] for h in hs])
        P = np.maximum.accumulate(P, axis=1)
        return pd.DataFrame(P, columns=[f"p_{h}d" for h in hs], index=X.index)

    def grade(self, P: pd.DataFrame) -> np.ndarray:
        """H / A / B / C from horizon probabilities (thresholds of ``params/scoring.yaml``)."""
        th = self._p("grade_thresholds")
        hs = sorted(int(c[2:-1]) for c in P.columns)

        def col(target: int) -> np.ndarray:
            h = min(hs, key=lambda x: abs(x - target))
            return P[f"p_{h}d"].to_numpy()

        return np.select(
            [col(7) >= th["H"], col(15) >= th["A"], col(30) >= th["B"]],
            ["H", "A", "B"],
            default="C",
        ).astype(object)

    def score(self, dealer: DealerData, as_of: Any = None) -> pd.DataFrame:  # type: ignore[override]
        """Score every lead open at ``as_of`` (default: the day after ``dealer.as_of``).

        Returns
        -------
        pandas.DataFrame
            ``dealer_id``, ``lead_id``, ``consultant_id``, ``p_{h}d`` per horizon, ``grade``
            (model), ``recorded_grade`` (consultant) and the top reason codes for P(30 days).
        """
        _check(self)
        return self.score_features(self.scoring_features(dealer, as_of), dealer.dealer_id)

    def scoring_features(self, dealer: DealerData, as_of: Any = None) -> pd.DataFrame:
        """Features of the leads open at ``as_of`` (default: the day after the data date), as
        :meth:`score_features` takes them (a batch run scores them with the network model)."""
        c = _cutoff(as_of) if as_of is not None else dealer.as_of.normalize() + pd.Timedelta(days=1)
        return lead_features(dealer, c, defeat_idle_days=self._p("defeat_idle_days"))

    def score_features(self, X: pd.DataFrame, dealer_id: str) -> pd.DataFrame:
        """Per-lead scores of feature rows (:meth:`scoring_features`); see :meth:`score`."""
        _check(self)
        out = pd.DataFrame(
            {
                "dealer_id": dealer_id,
                "lead_id": X.index.to_numpy(),
                "consultant_id": X["consultant_id"].to_numpy(),
                "recorded_grade": X["intent_grade"].to_numpy(),
            }
        )
        P = self.predict_proba_horizons(X).reset_index(drop=True)
        out = pd.concat([out, P], axis=1)
        out["grade"] = self.grade(P) if len(P) else np.array([], dtype=object)
        if len(X):
            contrib = _occlusion(
                lambda Z: self._predict_reason(Z), X, self.reference_, LEAD_FEATURE_GROUPS
            )
            reasons = _top_reasons(contrib, int(self._p("n_reasons")), LEAD_REASON_TEXT)
            out = pd.concat([out, reasons.reset_index(drop=True)], axis=1)
        return out

    def _predict_reason(self, X: pd.DataFrame) -> np.ndarray:
        with _threads(self.n_threads):
            return self.pipeline_.predict_proba(X)[:, 1]

    def model_card(self, backtest: LeadBacktest | None = None) -> str:
        """Markdown model card (with the backtest's figures when given)."""
        _check(self)
        th = self._p("grade_thresholds")
        lines = [
            "## Lead intent model card",
            "",
            f"- **Target**: order within {', '.join(str(h) for h in sorted(self.pipelines_))} days of the scoring date, "
            "for every lead open at that date (created before it, no order yet, last contact less than "
            f"{self._p('defeat_idle_days')} days old).",
            f"- **Training data**: {self.n_train_rows_:,} open-lead snapshots from {len(self.dealers_)} dealer(s) "
            f"at {len(self.cutoffs_)} dates; order rates "
            + ", ".join(f"{h} d: {r:.1%}" for h, r in self.order_rate_.items())
            + "."
            + (" **Pooled network model used** (dealer too small)." if self.used_fallback_ else ""),
            "- **Features** (records before the scoring date only): "
            + "; ".join(f"{g}: {', '.join(c)}" for g, c in LEAD_FEATURE_GROUPS.items())
            + ".",
            f"- **Model**: one gradient-boosting classifier per horizon, {self.calibration} calibration on {self.cv} "
            "lead-grouped folds; probabilities made monotone in the horizon.",
            f"- **Grades**: H if P(7 d) >= {th['H']:.2f}, else A if P(15 d) >= {th['A']:.2f}, "
            f"else B if P(30 d) >= {th['B']:.2f}, else C.",
            "- **Reason codes**: occlusion contribution of each feature group to P(30 d).",
        ]
        if backtest is not None:
            lines += [
                "",
                "### Backtest (training label windows end before every evaluation date)",
                "",
            ]
            lines += [_markdown(backtest.summary()), "", "### Grades: realized order rates", ""]
            lines += [
                _markdown(backtest.grade_table()),
                "",
                "### Targets",
                "",
                _markdown(backtest.targets()),
            ]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# backtest
# --------------------------------------------------------------------------------------------
LEAD_METHODS = ("model", "recorded_grade", "stage_only")


@dataclass
class LeadBacktest:
    """Result of :func:`backtest_leads`: per-snapshot predictions and their summaries.

    ``model`` is the model fitted for the last block of evaluation dates.
    """

    predictions: pd.DataFrame
    horizons: list[int]
    train_cutoffs: dict[pd.Timestamp, list[pd.Timestamp]] = field(default_factory=dict)
    model: LeadScoreModel | None = None

    def summary(self) -> pd.DataFrame:
        """ROC AUC, PR AUC, Brier, lift, ECE per horizon and method (all snapshots pooled)."""
        rows = []
        P = self.predictions
        for h in self.horizons:
            y = P[f"order_{h}d"].to_numpy()
            for m, col, prob in (
                ("model", f"p_{h}d", True),
                ("recorded_grade", "recorded_grade_code", False),
                ("stage_only", f"stage_{h}d", True),
            ):
                rows.append(
                    {
                        "horizon_days": h,
                        "method": m,
                        **classification_metrics(y, P[col].to_numpy(), probability=prob),
                    }
                )
        return pd.DataFrame(rows)

    def grade_table(self) -> pd.DataFrame:
        """Realized order rates within each horizon per grade, model grade and recorded grade."""
        P = self.predictions
        rows = []
        for who, col in (("model", "grade"), ("consultant", "recorded_grade")):
            g = P[col].fillna("ungraded")
            for grade in [*GRADES, "ungraded"]:
                sub = P[g == grade]
                if len(sub) == 0:
                    continue
                rows.append(
                    {
                        "graded_by": who,
                        "grade": grade,
                        "n": len(sub),
                        **{
                            f"ordered_{h}d": float(sub[f"order_{h}d"].mean()) for h in self.horizons
                        },
                    }
                )
        return pd.DataFrame(rows)

    def calibration(self, horizon: int = 30) -> pd.DataFrame:
        """Calibration table of the model's P(order within ``horizon`` days)."""
        return calibration_table(
            self.predictions[f"order_{horizon}d"], self.predictions[f"p_{horizon}d"]
        )

    def targets(self) -> pd.DataFrame:
        """The issue's acceptance targets."""
        s = self.summary()
        h30 = min(self.horizons, key=lambda h: abs(h - 30))
        auc = s[s["horizon_days"] == h30].set_index("method")["roc_auc"]
        gt = self.grade_table()
        gt = gt[gt["graded_by"] == "model"].set_index("grade")
        h7 = min(self.horizons, key=lambda h: abs(h - 7))
        rate = gt[f"ordered_{h7}d"] if len(gt) else pd.Series(dtype=float)
        ratio = (
            float(rate.get("H", np.nan) / rate.get("C", np.nan))
            if rate.get("C", 0)
            else float("nan")
        )
        rows = [
            (
                f"ROC AUC ({h30} d) - recorded grade >= 0.05",
                auc["model"] - auc["recorded_grade"],
                0.05,
            ),
            (f"ROC AUC ({h30} d) - stage only >= 0.05", auc["model"] - auc["stage_only"], 0.05),
            (f"H / C realized {h7}-day order rate >= 3", ratio, 3.0),
        ]
        out = pd.DataFrame(rows, columns=["target", "value", "threshold"])
        out["met"] = out["value"] >= out["threshold"]
        return out


def backtest_leads(
    data: DealerData | Sequence[DealerData],
    cutoffs: Sequence[Any],
    *,
    model: LeadScoreModel | None = None,
    train_start: Any = None,
    train_every_days: int = 7,
    refit_every_days: int = 91,
) -> LeadBacktest:
    """Rolling backtest of lead scoring at many evaluation dates, against two baselines.

    Evaluation dates are processed in blocks of ``refit_every_days``; before each block a clone of
    ``model`` is fitted on snapshots every ``train_every_days`` from ``train_start`` to the block
    start minus the longest horizon, so every training label window closes before the block's
    first evaluation date. Baselines: the grade the consultant recorded (H > A > B > C >
    ungraded) and a stage-only model (training order rate per stage reached).

    Parameters
    ----------
    data
        A dealer or a list of dealers.
    cutoffs
        Evaluation dates (e.g. :func:`snapshot_cutoffs` over the last year with labels).
    model
        Unfitted template (default ``LeadScoreModel()``).
    train_start
        First training snapshot (default: 180 days after the first lead).
    train_every_days, refit_every_days
        Spacing of the training snapshots and of the refits.

    Returns
    -------
    LeadBacktest
    """
    model = model if model is not None else LeadScoreModel()
    dealers = list(_as_dealers(data))
    if not dealers:
        raise InputError("backtest_leads: no dealer was given.")
    hs = model._horizons()
    idle = model._p("defeat_idle_days")
    evals = _cutoff_list(None, cutoffs, "backtest_leads")
    if train_start is None:
        first = min(d.leads["created_at"].min() for d in dealers if len(d.leads))
        train_start = first.normalize() + pd.Timedelta(days=180)
    t0 = _cutoff(train_start)
    cache: dict[tuple[str, pd.Timestamp], tuple[pd.DataFrame, pd.DataFrame]] = {}

    def frame(cuts: Sequence[pd.Timestamp]) -> tuple[pd.DataFrame, pd.DataFrame]:
        Xs, Ys = [], []
        for d in dealers:
            for c in cuts:
                key = (d.dealer_id, c)
                if key not in cache:
                    cache[key] = _lead_frame(d, [c], hs, idle)
                Xs.append(cache[key][0])
                Ys.append(cache[key][1])
        return pd.concat(Xs, ignore_index=True), pd.concat(Ys, ignore_index=True)

    preds, used = [], {}
    i = 0
    while i < len(evals):
        block_start = evals[i]
        block = [c for c in evals[i:] if c < block_start + pd.Timedelta(days=refit_every_days)]
        i += len(block)
        last_train = block_start - pd.Timedelta(days=max(hs))
        tcuts = (
            snapshot_cutoffs(t0, last_train, every_days=train_every_days)
            if last_train >= t0
            else []
        )
        if not tcuts:
            raise InsufficientDataError(
                f"backtest_leads: no training snapshot before {last_train.date()} for the evaluation "
                f"dates from {block_start.date()}; use later evaluation dates or an earlier train_start."
            )
        for c in block:
            used[c] = tcuts
        Xtr, Ytr = frame(tcuts)
        fitted = clone(model)._fit_frame(Xtr, Ytr)
        stage_rate = {h: Ytr[f"order_{h}d"].groupby(Xtr["stage_reached"]).mean() for h in hs}
        Xte, Yte = frame(block)
        P = pd.concat(
            [
                Xte[["dealer_id", "lead_id", "cutoff", "intent_grade"]].rename(
                    columns={"intent_grade": "recorded_grade"}
                ),
                Yte,
            ],
            axis=1,
        )
        Ph = fitted.predict_proba_horizons(Xte)
        P = pd.concat([P, Ph], axis=1)
        P["grade"] = fitted.grade(Ph) if len(Ph) else np.array([], dtype=object)
        P["recorded_grade_code"] = Xte["grade_code"].fillna(0.0).to_numpy()
        P["stage_reached"] = Xte["stage_reached"].to_numpy()
        for h in hs:
            P[f"stage_{h}d"] = (
                Xte["stage_reached"]
                .map(stage_rate[h])
                .fillna(float(Ytr[f"order_{h}d"].mean()))
                .to_numpy()
            )
        preds.append(P)
    return LeadBacktest(
        predictions=pd.concat(preds, ignore_index=True),
        horizons=hs,
        train_cutoffs=used,
        model=fitted,
    )
