"""Shared fixtures: small simulated dealers (seconds to build, cached per session)."""

from __future__ import annotations

import pytest

from crm_analytics.sim import DefectRates, simulate_dealer


@pytest.fixture(scope="session")
def clean_dealer():
    """A small simulated dealer with no injected defect."""
    return simulate_dealer(0, customers=600, defects=DefectRates.none())


@pytest.fixture(scope="session")
def dirty_dealer():
    """A small simulated dealer with the default defect rates."""
    return simulate_dealer(1, customers=1500)
