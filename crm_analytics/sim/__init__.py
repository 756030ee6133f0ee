"""The seeded dealer-network simulator and its ground truth (oracles).

Imported only by tests, benchmarks and ``crm-analytics generate``; no analysis module imports
it (a backtest takes the oracle as an argument).

The simulator follows the deck's customer lifecycle, one stage per module, run in a fixed
order on each dealer's random stream by :func:`simulate_dealer_tables`:

``context``
    The dealer's latent profile, time window, random stream and staff roster.
``customers``
    Who the customers are (leads, earlier owners, owners who bought elsewhere).
``leads``
    Lead arrivals, channel journeys, latent intent, true stage probabilities and outcomes.
``showroom``
    Lead events, the leads and touchpoints tables, the front-desk visitor log, channel costs.
``orders``
    Owners and vehicles, orders with value-added take-up.
``aftersales``
    Service life (visit rate, dropout hazards), service visits, recalls, complaints.
``insurance``
    Policies and renewals, solicitation calls.
``surveys``
    Delivery interviews, defeated-customer, service, sales and intended-customer surveys.
``defects``
    The injected data-quality defects (see :data:`DEFECT_CLASSES`).
``crm_calls``
    The CRM/DCC desk's call attempts (touchpoints of kind ``call``) on its lists, and the
    truth of the unreachable customers (side stream 6, after the other tables).
``key_accounts``, ``events``
    Optional (:class:`SimConfig` ``key_accounts``, ``events``; on in ``crm-analytics
    generate``): company customers with fleets, and marketing events with their leads, each
    on a side stream of its own and appended after the other stages, with their truth.
``truth``
    The ground-truth frames and the oracles (:func:`true_churn_probability`).

``config`` holds the world's parameters and :class:`DefectRates`, :class:`SimConfig`;
``draws`` the random-draw helpers; ``network`` the entry points.
"""

from crm_analytics.sim.config import (
    DEFECT_CLASSES,
    MODEL_PRICE,
    PERSONAS,
    TRUE_CHANNEL_EFFECTS,
    DefectRates,
    SimConfig,
)
from crm_analytics.sim.network import simulate_dealer, simulate_dealer_tables, simulate_network
from crm_analytics.sim.truth import true_churn_probability

__all__ = [
    "DEFECT_CLASSES",
    "MODEL_PRICE",
    "PERSONAS",
    "TRUE_CHANNEL_EFFECTS",
    "DefectRates",
    "SimConfig",
    "simulate_dealer",
    "simulate_dealer_tables",
    "simulate_network",
    "true_churn_probability",
]
