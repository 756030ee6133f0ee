"""The simulator's former single module, kept as an import path.

The simulator now lives in one module per stage (see :mod:`crm_analytics.sim`); import from
``crm_analytics.sim`` (or ``crm_analytics.sim.truth`` for the oracles). This module only
re-exports the names that were imported from it, for code not yet moved over.
"""

from crm_analytics.sim import (
    DEFECT_CLASSES,
    DefectRates,
    SimConfig,
    simulate_dealer,
    simulate_dealer_tables,
    simulate_network,
    true_churn_probability,
)

__all__ = [
    "DEFECT_CLASSES",
    "DefectRates",
    "SimConfig",
    "simulate_dealer",
    "simulate_dealer_tables",
    "simulate_network",
    "true_churn_probability",
]
