"""Fixtures of the model tests: the simulator's churn oracle, passed to the backtests."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_analytics.core.dealer import DealerData
from crm_analytics.sim.simulator import true_churn_probability


def _simulator_churn_oracle(
    dealer: DealerData, cutoff: pd.Timestamp, *, horizon_months: float
) -> pd.Series | None:
    """True churn probability of a simulated dealer's customers (None without ground truth)."""
    truth = dealer.truth.get("customers") if dealer.truth else None
    if truth is None or "visit_rate" not in truth:
        return None
    return true_churn_probability(
        truth, dealer.service_visits, cutoff, horizon_months=horizon_months
    )


@pytest.fixture(scope="session")
def churn_oracle():
    """The oracle argument of :func:`crm_analytics.models.churn.backtest` for simulated dealers."""
    return _simulator_churn_oracle
