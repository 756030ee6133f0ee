"""The seeded dealer-network simulator and its ground truth (oracles).

Imported only by tests, benchmarks and ``crm-analytics generate``; no analysis module imports
it (a backtest takes the oracle as an argument).
"""

from crm_analytics.sim.simulator import simulate_dealer, simulate_network

__all__ = ["simulate_dealer", "simulate_network"]
