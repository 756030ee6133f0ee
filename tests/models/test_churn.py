"""Churn model: contract, leakage guard, small-dealer fallback, and figures against the oracle."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml
from bench_modules import bench_module
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_score

from crm_analytics.core.config import load_params
from crm_analytics.core.errors import (
    InputError,
    InsufficientDataError,
    NotFittedError,
    SmallDealerWarning,
)
from crm_analytics.models.churn import (
    CHURN_REASON_GROUPS,
    DEFAULT_CHURN_FEATURES,
    ChurnModel,
    backtest,
)
from crm_analytics.models.features import (
    CHURN_FEATURE_GROUPS,
    CHURN_FEATURES,
    churn_features,
    truncate_dealer,
)
from crm_analytics.models.scoring import (
    calibration_table,
    classification_metrics,
    expected_calibration_error,
    top_decile_lift,
)
from crm_analytics.sim.simulator import simulate_dealer

FAST = HistGradientBoostingClassifier(
    max_iter=60, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=30, random_state=0
)


@pytest.fixture(scope="module")
def network():
    return [simulate_dealer(i, customers=1200, seed=2016) for i in range(3)]


@pytest.fixture(scope="module")
def network_frames():
    """Features and labels of ``network`` computed once for the module's backtests (the pooled
    and the per-dealer ones use the same dates)."""
    return {}


@pytest.fixture(scope="module")
def bt(network, churn_oracle, network_frames):
    return backtest(
        network,
        cutoffs=["2025-06-30"],
        model=ChurnModel(),
        oracle=churn_oracle,
        n_train_cutoffs=3,
        frames=network_frames,
    )


@pytest.fixture(scope="module")
def fitted(bt):
    return bt.model


@pytest.fixture(scope="module")
def frame(network):
    """Features and churn labels of the three dealers at one cutoff (shipped settings)."""
    return ChurnModel().training_frame(network, ["2024-06-30"])


def test_metrics_against_hand_computed_cases():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.05, 0.15, 0.95, 0.55])
    # bins 0.0-0.1: |0.05-0|, 0.1-0.2: |0.15-0|, 0.5-0.6: |0.55-1|, 0.9-1.0: |0.95-1|
    assert expected_calibration_error(y, p) == pytest.approx((0.05 + 0.15 + 0.45 + 0.05) / 4)
    t = calibration_table(y, p)
    assert (
        t["n"].sum() == 4
        and t.loc[5, "observed_rate"] == 1.0
        and np.isnan(t.loc[3, "observed_rate"])
    )
    yy = np.r_[np.ones(5), np.zeros(45)]
    s = np.r_[np.arange(5) + 100.0, np.arange(45)]
    assert top_decile_lift(yy, s) == pytest.approx(1.0 / 0.1)
    m = classification_metrics(y, p)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p)) == 1.0
    assert np.isnan(classification_metrics(y, p, probability=False)["brier"])


def test_sklearn_contract(fitted):
    m = ChurnModel(estimator=FAST, cv=4)
    assert m.get_params()["cv"] == 4 and not hasattr(m, "pipeline_")
    assert clone(m).get_params()["cv"] == 4
    with pytest.raises(NotFittedError, match="fit"):
        m.predict_proba(pd.DataFrame(columns=list(CHURN_FEATURES)))
    assert fitted.n_train_rows_ > 300 and len(fitted.dealers_) == 3 and not fitted.used_fallback_
    assert set(fitted.reference_.index) == set(DEFAULT_CHURN_FEATURES) <= set(CHURN_FEATURES)


def test_not_fitted_error_is_scikit_learns():
    assert issubclass(NotFittedError, SklearnNotFittedError)
    with pytest.raises(SklearnNotFittedError):
        ChurnModel().reasons(pd.DataFrame(columns=list(CHURN_FEATURES)))


def test_clone_keeps_every_hyperparameter():
    m = ChurnModel(
        estimator=FAST,
        calibration="sigmoid",
        cv=4,
        active_months=18,
        horizon_months=6,
        risk_bands={"low": 0.0, "high": 0.5},
        min_rows=100,
        min_per_class=10,
        btyd=False,
        max_train_rows=5000,
        n_reasons=2,
        random_state=7,
        n_threads=2,
        n_jobs=2,
        features=["recency_days", "visits_total"],
    )
    p, q = m.get_params(deep=False), clone(m).get_params(deep=False)
    assert set(p) == set(q) == set(inspect.signature(ChurnModel).parameters)
    assert all(v is not None for v in p.values())  # every setting was given, none defaulted
    for k, v in p.items():
        if k == "estimator":
            assert q[k] is not v and q[k].get_params() == v.get_params()
        else:
            assert q[k] == v, k


def test_a_cloned_model_with_fixed_settings_refits_identically(frame):
    X, y = frame
    m = ChurnModel(
        active_months=24,
        horizon_months=12,
        risk_bands={"low": 0.0, "medium": 0.3, "high": 0.55},
        min_rows=300,
        min_per_class=40,
        n_reasons=2,
    ).fit(X, y)
    c = clone(m)
    assert not hasattr(c, "pipeline_") and c.get_params()["risk_bands"] == m.risk_bands
    c.fit(X, y)
    np.testing.assert_array_equal(c.predict_proba(X), m.predict_proba(X))
    pd.testing.assert_series_equal(c.reference_, m.reference_)
    assert c.risk_bands_ == m.risk_bands_ == {"low": 0.0, "medium": 0.3, "high": 0.55}
    assert c.n_reasons_ == 2 and list(c.reasons(X.head(5)).columns[::3]) == [
        "reason_1",
        "reason_2",
    ]


def test_score_is_roc_auc_and_model_selection_runs(frame):
    X, y = frame
    m = ChurnModel().fit(X, y)
    s = m.score(X, y)
    assert isinstance(s, float)
    assert s == pytest.approx(roc_auc_score(y, m.predict_proba(X)[:, 1]))
    groups = (X["dealer_id"] + "|" + X["customer_id"].astype(str)).to_numpy()
    cv = cross_val_score(ChurnModel(), X, y, groups=groups, cv=GroupKFold(3))
    # out-of-fold ROC AUC of the three folds (one cutoff, 3 x 1,200 customers)
    assert cv.shape == (3,) and np.all((cv > 0.65) & (cv < 0.95)), cv
    with pytest.raises(InsufficientDataError, match="both classes"):
        m.score(X.head(5), np.zeros(5, bool))


def test_editing_params_after_fit_does_not_change_a_fitted_model(
    frame, network, tmp_path, monkeypatch
):
    X, y = frame
    m = ChurnModel().fit(X, y)  # every setting from the shipped scoring.yaml
    before = m.score_dealer(network[0], as_of="2025-06-30")
    params = load_params("scoring")
    edited = {"low": 0.0, "medium": 0.05, "high": 0.1}
    assert params["churn"]["risk_bands"] != edited
    params["churn"]["risk_bands"] = edited
    params["churn"]["reason_codes"] = 1
    (tmp_path / "scoring.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    monkeypatch.setenv("CRM_ANALYTICS_PARAMS", str(tmp_path))
    after = m.score_dealer(network[0], as_of="2025-06-30")
    pd.testing.assert_frame_equal(before, after)
    # a new fit reads the edited file (found through CRM_ANALYTICS_PARAMS) ...
    m2 = ChurnModel().fit(X, y)
    assert m2.risk_bands_ == edited and m2.n_reasons_ == 1
    assert (m2.risk_band(before["churn_probability"]) == "high").sum() > (
        before["risk_band"] == "high"
    ).sum()

    # ... and prediction does not read it at all
    def no_params(*args, **kwargs):
        raise AssertionError("prediction read a parameter file")

    monkeypatch.setattr("crm_analytics.core.config.load_params", no_params)
    monkeypatch.setattr("crm_analytics.models.scoring.load_params", no_params)
    pd.testing.assert_frame_equal(m.score_dealer(network[0], as_of="2025-06-30"), before)


def test_unknown_feature_subset_is_refused(network):
    with pytest.raises(InputError, match="CHURN_FEATURES"):
        ChurnModel(features=["recency_days", "shoe_size"]).fit(network[0], cutoff="2024-06-30")


def test_score_contract_and_reason_codes(network, fitted):
    s = fitted.score_dealer(network[0], as_of="2025-06-30")
    assert len(s) == len(churn_features(network[0], "2025-06-30", btyd=False))
    assert s["churn_probability"].between(0, 1).all()
    assert set(s["risk_band"]) <= {"low", "medium", "high"}
    lo = s["churn_probability"] < 0.35
    assert (s.loc[lo, "risk_band"] == "low").all() and (
        s.loc[s["churn_probability"] >= 0.6, "risk_band"] == "high"
    ).all()
    assert s["reason_1"].dropna().isin(list(CHURN_REASON_GROUPS)).all()
    assert (s["reason_1_impact"].dropna() > 0).all()
    assert (s["reason_1_impact"].fillna(0) >= s["reason_2_impact"].fillna(0)).all()
    # occlusion by hand for one customer and one group (visit count: a model feature only)
    X = churn_features(network[0], "2025-06-30")
    row = X.iloc[[0]]
    ref = row.copy()
    for c in CHURN_REASON_GROUPS["frequency"]:
        if c in fitted.reference_:
            ref[c] = fitted.reference_[c]
    by_hand = fitted.predict_proba(row)[0, 1] - fitted.predict_proba(ref)[0, 1]
    assert fitted.reason_contributions(row).iloc[0]["frequency"] == pytest.approx(by_hand)
    # and for a driver of the survival model's hazard: the warranty clock at its median and
    # the survival columns as if the warranty were running
    ref = row.copy()
    ref["warranty_days_left"] = fitted.reference_["warranty_days_left"]
    for c in CHURN_FEATURE_GROUPS["survival"]:
        ref[c] = row[f"{c}|warranty"]
    by_hand = fitted.predict_proba(row)[0, 1] - fitted.predict_proba(ref)[0, 1]
    assert fitted.reason_contributions(row).iloc[0]["warranty"] == pytest.approx(by_hand)


def test_reason_codes_name_the_drivers_the_simulator_used(network, fitted):
    """Issue 16 item 8: each driver of the survival model's hazard (distance, satisfaction,
    unresolved complaint, bought elsewhere, warranty end) is a reason code of its own, named
    for a customer only when the simulator's truth has that driver raising the customer's
    dropout hazard. Measured on the three dealers here (named / share true): distance 36-108 /
    0.94-1.00, bought elsewhere 57-79 / 1.00, warranty 126-175 / 0.99-1.00, satisfaction 58-101
    / 0.66-0.78 (the report sees survey scores, not the true satisfaction: half the owners are
    below it), unresolved complaint 0-3 / 1.00."""
    cut = pd.Timestamp("2025-06-30")
    checked = 0
    for d in network:
        s = fitted.score_dealer(d, as_of=cut).set_index("customer_id")
        X = churn_features(d, cut)
        truth = d.truth["customers"].drop_duplicates("customer_id").set_index("customer_id")
        here = d.vehicles.groupby("customer_id")["sold_by_this_dealer"].any()
        raises = {
            "distance": truth["true_distance_km"] > 12,
            "satisfaction": truth["satisfaction"] < 8.2,
            "complaints": truth["complaint"].astype(bool)
            & ~truth["complaint_resolved"].astype(bool),
            "bought_elsewhere": ~here.reindex(truth.index, fill_value=False).astype(bool),
            "warranty": pd.to_datetime(truth["warranty_end"]) < cut,
        }
        for driver, true in raises.items():
            named = s.index[(s[["reason_1", "reason_2", "reason_3"]] == driver).any(axis=1)]
            if driver == "complaints":  # named exactly for an unresolved complaint on record
                on_record = X.index[X["complaints_unresolved"].fillna(0) > 0]
                assert set(named) <= set(on_record)
            if len(named) < 10:
                continue
            precision = float(true.reindex(named).mean())
            base = float(true.reindex(s.index).mean())
            floor = 0.9 if driver != "satisfaction" else min(0.9, base + 0.1)
            assert precision >= floor, (d.dealer_id, driver, len(named), precision, base)
            checked += 1
    assert checked >= 10


def test_scores_do_not_change_when_later_records_are_deleted(network, fitted):
    cut = pd.Timestamp("2025-03-31")
    a = fitted.score_dealer(network[1], as_of=cut)
    b = fitted.score_dealer(truncate_dealer(network[1], cut), as_of=cut)
    pd.testing.assert_frame_equal(a, b)


def test_small_dealer_gets_a_message_and_the_network_model(fitted):
    small = simulate_dealer(9, customers=50, seed=2016)
    with pytest.raises(InsufficientDataError, match="network"):
        ChurnModel().fit(small, cutoff="2024-06-30")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        m = ChurnModel().fit(small, cutoff="2024-06-30", fallback=fitted)
    assert m.used_fallback_ and any(issubclass(x.category, SmallDealerWarning) for x in w)
    assert "pooled network model" in m.fit_message_
    s = m.score_dealer(small, as_of="2025-06-30")
    assert s["churn_probability"].between(0, 1).all()
    assert "Pooled network model used" in m.model_card()
    with pytest.raises(InputError, match="definition"):
        ChurnModel(horizon_months=6).fit(small, cutoff="2024-06-30", fallback=fitted)


def test_backtest_beats_recency_and_approaches_the_oracle(bt, fitted):
    s = bt.summary().set_index("method")
    # every training label window closes before the evaluation cutoff
    for c, tc in bt.train_cutoffs.items():
        assert max(tc) + pd.DateOffset(months=12) <= c
    # small network here (3 x 1,200 customers, one cutoff; measured: model 0.794, oracle 0.827,
    # days since last visit 0.744, 12-month rule 0.672, BG/NBD 0.621, survival model alone
    # 0.798; model ECE 0.034). The sample-network figures are in the model card.
    assert s.loc["model", "roc_auc"] > s.loc["recency_rule", "roc_auc"] + 0.05
    assert s.loc["model", "roc_auc"] > s.loc["recency_days", "roc_auc"] + 0.02
    assert s.loc["model", "roc_auc"] > s.loc["p_alive", "roc_auc"] + 0.1
    assert s.loc["survival_model", "roc_auc"] > s.loc["recency_days", "roc_auc"] + 0.04
    assert s.loc["model", "roc_auc"] >= 0.95 * s.loc["oracle", "roc_auc"]  # measured 0.960
    assert s.loc["model", "ece"] < 0.05
    card = fitted.model_card(bt)
    assert "| model |" in card and "Targets" in card


def test_each_dealers_own_model_ranks_as_the_survival_model_and_beats_a_booster(
    network, network_frames
):
    """A report fits each dealer's own model; on a dealer's few thousand training rows a
    gradient-boosted classifier ranked worse than the survival model it is fed (issue 16 item
    8: 28 of 30 simulated dealers). The default model must not: it ranks as the survival
    model alone, and above the booster it replaced."""
    booster = bench_module("bench_churn_cdnow").BOOSTER  # the booster the default was until 2026-12
    ours, survival, boosted = [], [], []
    for d in network:
        kw = {"cutoffs": ["2025-06-30"], "n_train_cutoffs": 3, "frames": network_frames}
        s = backtest(d, **kw).summary().set_index("method")["roc_auc"]
        b = backtest(d, model=ChurnModel(estimator=booster, calibration="isotonic"), **kw)
        ours.append(s["model"])
        survival.append(s["survival_model"])
        boosted.append(b.summary().set_index("method").loc["model", "roc_auc"])
    # measured (195, 257 and 334 customers): ours 0.713 / 0.822 / 0.805, survival model
    # 0.729 / 0.823 / 0.813, booster 0.676 / 0.793 / 0.790
    assert np.mean(ours) >= np.mean(survival) - 0.015, (ours, survival)
    assert np.mean(ours) >= np.mean(boosted) + 0.02, (ours, boosted)
    assert all(o > b for o, b in zip(ours, boosted, strict=True)), (ours, boosted)


def test_on_real_purchases_it_ranks_above_the_booster_and_the_survival_model_alone():
    """Data we did not generate: CDNOW's 1/10 sample (2,357 buyers, lifetimes' datasets),
    loaded as a dealer by bench/bench_churn_cdnow.py; active = a purchase in the last 6 months,
    churned = none in the next 3, evaluated at 1998-03-31 after three training dates."""
    cdnow = bench_module("bench_churn_cdnow")
    dealer = cdnow.cdnow_dealer(cdnow.cdnow_path().with_name("CDNOW_sample.txt"))
    kw = {
        "cutoffs": ["1998-03-31"],
        "n_train_cutoffs": 3,
        "train_step_months": 3,
        "min_history_months": 3,
        "frames": {},
    }
    definition = {"active_months": 6, "horizon_months": 3}
    ours = backtest(dealer, model=ChurnModel(**definition), **kw).summary().set_index("method")
    booster = ChurnModel(estimator=cdnow.BOOSTER, calibration="isotonic", **definition)
    b = backtest(dealer, model=booster, **kw).summary().set_index("method")
    auc = ours["roc_auc"]
    # measured (591 buyers active at the cutoff, 65% churned): ours 0.738, booster 0.704,
    # survival model alone 0.709, days since the last purchase 0.677; ECE ours 0.045,
    # booster 0.033 (on the full CDNOW file: 0.728 / 0.721 / 0.669, ECE 0.025 / 0.031)
    assert auc["model"] > b.loc["model", "roc_auc"] + 0.02
    assert auc["model"] > auc["survival_model"] + 0.02
    assert auc["model"] > auc["recency_days"] + 0.05
    assert ours.loc["model", "ece"] < 0.06


def test_a_calibrated_booster_can_still_be_chosen(frame):
    X, y = frame
    m = ChurnModel(estimator=FAST, calibration="isotonic", cv=3).fit(X, y)
    p = m.predict_proba(X)[:, 1]
    assert type(m.pipeline_.named_steps["model"]).__name__ == "CalibratedClassifierCV"
    assert ((p >= 0) & (p <= 1)).all() and m.score(X, y) > 0.7
    assert "isotonic calibration on 3 customer-grouped folds" in m.model_card()


def test_backtest_reuses_frames_already_computed(network, monkeypatch):
    """A dealer's report fits its own model and backtests it; the dates they share are computed
    once (``frames=``), with the same features, labels and backtest figures as without."""
    d, model = network[0], ChurnModel()
    cuts = ["2024-06-30", "2024-03-30"]  # the backtest's training dates (June 30 - 3 months)
    frames: dict = {}
    X, y = model.training_frame(d, cuts, frames=frames)
    X0, y0 = model.training_frame(d, cuts)
    pd.testing.assert_frame_equal(X, X0)
    pd.testing.assert_series_equal(y, y0)
    computed = []
    frame = ChurnModel._dealer_frame

    def counting(dealer, dates, settings):
        computed.append(list(dates))
        return frame(dealer, dates, settings)

    monkeypatch.setattr(ChurnModel, "_dealer_frame", staticmethod(counting))
    kw = {"cutoffs": ["2025-06-30"], "model": model, "n_train_cutoffs": 2}
    cached = backtest(d, frames=frames, **kw)
    assert computed == [[pd.Timestamp("2025-06-30")]]  # the training dates came from frames
    plain = backtest(d, **kw)
    pd.testing.assert_frame_equal(cached.predictions, plain.predictions)
    pd.testing.assert_frame_equal(cached.metrics, plain.metrics)
