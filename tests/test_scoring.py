"""The ranking-accuracy interval of the churn page's backtest table."""

from __future__ import annotations

import numpy as np
import pytest


def test_auc_interval_matches_the_spread_of_fresh_samples():
    """The Hanley-McNeil interval against the AUC's real spread: 2,000 fresh samples of 120
    churners and 230 stayers (binormal scores, true AUC about 0.80) and a bootstrap of one."""
    from sklearn.metrics import roc_auc_score

    from crm_analytics.models.scoring import auc_interval

    rng = np.random.default_rng(5)
    n_pos, n_neg, shift = 120, 230, 1.19  # Phi(shift / sqrt(2)) = 0.80
    y = np.r_[np.ones(n_pos), np.zeros(n_neg)]

    def draw():
        return np.r_[rng.normal(shift, 1, n_pos), rng.normal(0, 1, n_neg)]

    aucs = np.array([roc_auc_score(y, draw()) for _ in range(2000)])
    lo, hi = auc_interval(0.80, n_pos, n_neg)
    assert (hi - lo) / 2 == pytest.approx(1.96 * aucs.std(), rel=0.1)
    # Hanley-McNeil assumes exponential score distributions; on binormal scores it is a
    # little wide (96.5% of fresh samples inside here), never narrow
    assert 0.945 <= np.mean((aucs >= lo) & (aucs <= hi)) <= 0.975
    s = draw()
    boot = []
    for _ in range(1000):
        i = np.r_[rng.integers(0, n_pos, n_pos), rng.integers(n_pos, n_pos + n_neg, n_neg)]
        boot.append(roc_auc_score(y[i], s[i]))
    lo1, hi1 = auc_interval(roc_auc_score(y, s), n_pos, n_neg)
    assert (hi1 - lo1) / 2 == pytest.approx(1.96 * np.std(boot), rel=0.15)
    assert auc_interval(0.8, 0, 10) != auc_interval(0.8, 0, 10)  # NaN without both classes
    assert auc_interval(0.999, 5, 5)[1] == 1.0  # clipped


def test_the_churn_page_states_each_ranking_accuracy_with_its_interval():
    from crm_analytics.report.views_churn import fmt_auc

    assert fmt_auc(0.82, 349, 0.433) == "82% (77–87%)"
    assert fmt_auc(float("nan"), 349, 0.4) == "–"
    assert fmt_auc(0.7, 10, 0.0) == "70%"  # one class: no interval
