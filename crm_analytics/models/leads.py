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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError, InsufficientDataError, ParameterError
from crm_analytics.models.features import (
    LEAD_FEATURE_GROUPS,
    LEAD_FEATURES,
    _cutoff,
    lead_feature_snapshots,
    lead_features,
    lead_labels,
)
from crm_analytics.models.scoring import (
    ScoringBacktest,
    ScoringModel,
    _as_dealers,
    _check,
    _cutoff_list,
    _threads,
    calibration_table,
    classification_metrics,
    rolling_fits,
    targets_table,
)

GRADES: tuple[str, ...] = ("H", "A", "B", "C")
#: The purchase window (days) of each grade: H orders within 7 days, A 15, B 30; C later.
GRADE_WINDOWS: dict[str, int] = {"H": 7, "A": 15, "B": 30}

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


def _primary(horizons: Sequence[int]) -> int:
    """The horizon nearest 30 days: it carries ``predict_proba``, ``score`` and reason codes."""
    return min(horizons, key=lambda h: abs(h - 30))


class LeadScoreModel(ScoringModel):
    """P(order within 7 / 15 / 30 / 90 days) of every open lead, H/A/B/C grade, reason codes.

    Parameters
    ----------
    estimator
        Unfitted classifier handling NaN (default: gradient boosting with the channel and model
        codes as categorical features); cloned once per horizon.
    calibration, cv
        Calibration method and lead-grouped folds.
    horizons, defeat_idle_days, grade_thresholds
        None: ``params/scoring.yaml`` (``leads``) when ``fit`` runs.
    min_rows, min_per_class
        Smallest training set for a dealer's own model (snapshots, orders and non-orders within
        the shortest horizon); below it ``fit(..., fallback=network_model)`` uses the network
        model (with a :class:`~crm_analytics.core.errors.SmallDealerWarning`). None:
        ``params/scoring.yaml``.
    n_reasons, random_state, n_threads, n_jobs
        Reason codes per lead (None: ``params/scoring.yaml``), seed, booster threads, processes
        computing the dealers' features.

    Attributes
    ----------
    pipelines_ : dict
        Horizon (days) -> fitted calibrated pipeline.
    pipeline_
        The pipeline of the horizon nearest 30 days (``predict_proba``, reason codes).
    reference_ : pandas.Series
        Training medians (reason-code reference).
    horizons_, defeat_idle_days_, grade_thresholds_, min_rows_, min_per_class_, n_reasons_
        The settings used (fixed at fit time; prediction never reads the file).
    cutoffs_, dealers_, n_train_rows_, order_rate_
        Training snapshots, dealers, lead-snapshot rows and the order rate per horizon.
    used_fallback_, fit_message_
        Whether the fallback model is used and why.
    """

    _SECTION = "leads"
    _SETTINGS = (
        "horizons",
        "defeat_idle_days",
        "grade_thresholds",
        "min_rows",
        "min_per_class",
        "n_reasons",
    )
    _DEFINITION = ("horizons", "defeat_idle_days")
    _FALLBACK_ATTRS = ("pipelines_", "pipeline_", "reference_", "feature_names_in_")
    _ID = "lead_id"
    _REQUIRED_FEATURES = LEAD_FEATURES
    _REASON_GROUPS = LEAD_FEATURE_GROUPS
    _REASON_TEXT = LEAD_REASON_TEXT
    _CARD_TITLE = "Lead intent model card"
    _FALLBACK_HINT = (
        " Fit LeadScoreModel on the dealer network and pass it as fit(..., fallback=network_model), "
        "or add snapshot dates."
    )

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
        n_reasons: int | None = None,
        random_state: int | None = 0,
        n_threads: int | None = 1,
        n_jobs: int | None = 1,
    ) -> None:
        self.estimator = estimator
        self.calibration = calibration
        self.cv = cv
        self.horizons = horizons
        self.defeat_idle_days = defeat_idle_days
        self.grade_thresholds = grade_thresholds
        self.min_rows = min_rows
        self.min_per_class = min_per_class
        self.n_reasons = n_reasons
        self.random_state = random_state
        self.n_threads = n_threads
        self.n_jobs = n_jobs

    # -- settings and data -------------------------------------------------------------------
    def _validate_settings(self, s: dict[str, Any]) -> dict[str, Any]:
        s = super()._validate_settings(s)
        try:
            hs = sorted(int(h) for h in s["horizons"])
        except (TypeError, ValueError) as err:
            raise ParameterError(
                f"LeadScoreModel: horizons must be days, got {s['horizons']!r}."
            ) from err
        if not hs or hs[0] <= 0:
            raise ParameterError(f"LeadScoreModel: horizons must be positive days, got {hs}.")
        s["horizons"] = hs
        th = s["grade_thresholds"]
        if not isinstance(th, dict) or not {"H", "A", "B"} <= set(th):
            raise ParameterError(
                f"LeadScoreModel: grade_thresholds must give H, A and B, got {th!r}."
            )
        if not isinstance(s["defeat_idle_days"], (int, float)) or s["defeat_idle_days"] <= 0:
            raise ParameterError(
                f"LeadScoreModel: defeat_idle_days must be positive, got {s['defeat_idle_days']!r}."
            )
        return s

    def _feature_list(self) -> list[str]:
        return list(LEAD_FEATURES)

    @staticmethod
    def _dealer_frame(
        dealer: DealerData, cuts: Sequence[pd.Timestamp], settings: dict[str, Any]
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Lead features and order labels of one dealer at each snapshot date."""
        hs, idle = settings["horizons"], settings["defeat_idle_days"]
        Xs, Ys = [], []
        for c, X in zip(
            cuts, lead_feature_snapshots(dealer, cuts, defeat_idle_days=idle), strict=True
        ):
            Y = lead_labels(dealer, c, horizons=hs, defeat_idle_days=idle, leads=X.index)
            Xs.append(X.reset_index().assign(cutoff=c))
            Ys.append(Y.reset_index(drop=True))
        return pd.concat(Xs, ignore_index=True), pd.concat(Ys, ignore_index=True)

    @staticmethod
    def _features(
        dealer: DealerData, cutoff: pd.Timestamp, settings: dict[str, Any]
    ) -> pd.DataFrame:
        """Features of the leads of ``dealer`` open at ``cutoff``."""
        return lead_features(dealer, cutoff, defeat_idle_days=settings["defeat_idle_days"])

    # -- fit ---------------------------------------------------------------------------------
    def _default_estimator(self) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            learning_rate=0.05,
            max_iter=200,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            categorical_features=["channel_code", "model_code"],
            early_stopping=False,
            random_state=self.random_state,
        )

    def _positive(self, y: Any, *, size_check: bool = False) -> np.ndarray:
        """Order labels: the shortest horizon's for the size check, the primary one's to score.

        ``y`` is the label frame (``order_{h}d`` columns) or, to score, one label vector.
        """
        h = self.horizons_[0] if size_check else _primary(self.horizons_)
        if isinstance(y, pd.DataFrame):
            if f"order_{h}d" not in y:
                raise InputError(
                    f"LeadScoreModel: labels lack column order_{h}d; build them with training_frame()."
                )
            return y[f"order_{h}d"].to_numpy().astype(int) if len(y) else np.zeros(0, int)
        return np.asarray(y, dtype=int)

    def _describe_training(self, y: Any) -> None:
        self.order_rate_ = {
            h: float(y[f"order_{h}d"].mean()) if len(y) else float("nan") for h in self.horizons_
        }

    def _too_small_message(self, n: int, n_pos: int) -> str:
        return (
            f"dealer(s) {', '.join(self.dealers_) or '(none)'}: only {n} open-lead snapshots "
            f"({n_pos} ordered within {self.horizons_[0]} days) at {len(self.cutoffs_)} snapshot date(s); a dealer's own "
            f"lead model needs at least {self.min_rows_} snapshots and {self.min_per_class_} orders and non-orders."
        )

    def _fit_pipelines(self, X: pd.DataFrame, y: pd.DataFrame) -> None:
        feats = list(LEAD_FEATURES)
        self.pipelines_ = {
            h: self._calibrated_fit(X, y[f"order_{h}d"].to_numpy().astype(int), feats)
            for h in self.horizons_
        }
        self.pipeline_ = self.pipelines_[_primary(self.horizons_)]
        self.reference_ = X[feats].median(numeric_only=True).reindex(feats)

    # -- predict -----------------------------------------------------------------------------
    def predict_proba_horizons(self, X: pd.DataFrame) -> pd.DataFrame:
        """P(order within each horizon) of feature rows, monotone in the horizon.

        Returns
        -------
        pandas.DataFrame
            Columns ``p_{h}d`` for each horizon, aligned with ``X``.
        """
        _check(self)
        self._check_features(X)
        hs = sorted(self.pipelines_)
        if len(X) == 0:
            return pd.DataFrame({f"p_{h}d": np.zeros(0) for h in hs})
        with _threads(self.n_threads):
            P = np.column_stack([self.pipelines_[h].predict_proba(X)[:, 1] for h in hs])
        P = np.maximum.accumulate(P, axis=1)
        return pd.DataFrame(P, columns=[f"p_{h}d" for h in hs], index=X.index)

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """P(no order, order) within the horizon nearest 30 days (monotone with the others)."""
        p = self.predict_proba_horizons(X)[f"p_{_primary(sorted(self.pipelines_))}d"].to_numpy()
        return np.column_stack([1.0 - p, p])

    def grade(self, P: pd.DataFrame) -> np.ndarray:
        """H / A / B / C from horizon probabilities (the fitted ``grade_thresholds_``)."""
        _check(self)
        th = self.grade_thresholds_
        hs = sorted(int(c[2:-1]) for c in P.columns)

        def col(target: int) -> np.ndarray:
            h = min(hs, key=lambda x: abs(x - target))
            return P[f"p_{h}d"].to_numpy()

        return np.select(
            [col(days) >= th[g] for g, days in GRADE_WINDOWS.items()],
            list(GRADE_WINDOWS),
            default="C",
        ).astype(object)

    def _describe_rows(self, dealer_id: str, X: pd.DataFrame) -> pd.DataFrame:
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
        return out

    def score_dealer(self, dealer: DealerData, as_of: Any = None) -> pd.DataFrame:
        """Score every lead open at ``as_of`` (default: the day after ``dealer.as_of``).

        Returns
        -------
        pandas.DataFrame
            ``dealer_id``, ``lead_id``, ``consultant_id``, ``recorded_grade`` (consultant),
            ``p_{h}d`` per horizon, ``grade`` (model) and the top reason codes for P(30 days).
        """
        return super().score_dealer(dealer, as_of)

    # -- documentation -----------------------------------------------------------------------
    def _card_lines(self) -> list[str]:
        th = self.grade_thresholds_
        return [
            f"- **Target**: order within {', '.join(str(h) for h in sorted(self.pipelines_))} days of the scoring date, "
            "for every lead open at that date (created before it, no order yet, last contact less than "
            f"{self.defeat_idle_days_} days old).",
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


# --------------------------------------------------------------------------------------------
# backtest
# --------------------------------------------------------------------------------------------
LEAD_METHODS = ("model", "recorded_grade", "stage_only")


@dataclass(kw_only=True)
class LeadBacktest(ScoringBacktest):
    """Result of :func:`backtest_leads`: per-snapshot predictions and their summaries.

    ``model`` is the model fitted for the last block of evaluation dates.
    """

    horizons: list[int]
    model: LeadScoreModel | None = None

    _TITLE: ClassVar[str] = "training label windows end before every evaluation date"

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
        h30 = _primary(self.horizons)
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
        return targets_table(rows)

    def _card_tables(self) -> list[tuple[str, str | None, pd.DataFrame]]:
        return [
            ("Grades: realized order rates", None, self.grade_table()),
            ("Targets", None, self.targets()),
        ]


def _lead_blocks(
    evals: list[pd.Timestamp],
    t0: pd.Timestamp,
    horizon: int,
    train_every_days: int,
    refit_every_days: int,
) -> list[tuple[list[pd.Timestamp], list[pd.Timestamp]]]:
    """(evaluation dates, training snapshots) per refit block."""
    blocks = []
    i = 0
    while i < len(evals):
        block_start = evals[i]
        block = [c for c in evals[i:] if c < block_start + pd.Timedelta(days=refit_every_days)]
        i += len(block)
        last_train = block_start - pd.Timedelta(days=horizon)
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
        blocks.append((block, tcuts))
    return blocks


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
        Unfitted template (default ``LeadScoreModel()``); settings left None are read from
        ``params/scoring.yaml`` once, before the first fit.
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
    settings = model.resolved_settings()
    hs = settings["horizons"]
    evals = _cutoff_list(None, cutoffs, "backtest_leads")
    if train_start is None:
        first = min(d.leads["created_at"].min() for d in dealers if len(d.leads))
        train_start = first.normalize() + pd.Timedelta(days=180)
    blocks = _lead_blocks(evals, _cutoff(train_start), max(hs), train_every_days, refit_every_days)
    used = {c: tcuts for block, tcuts in blocks for c in block}
    preds = []
    for fitted, Xtr, Ytr, Xte, Yte in rolling_fits(model, dealers, blocks, settings):
        stage_rate = {h: Ytr[f"order_{h}d"].groupby(Xtr["stage_reached"]).mean() for h in hs}
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
