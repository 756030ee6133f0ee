"""Parameters of the simulated world: the network's true effects, prices, costs, seasonality
and personas, the injected defect classes and rates, and the network configuration.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from crm_analytics.core import schema

DAY = np.timedelta64(1, "D")
YEAR_DAYS = 365.25

#: True additive effect of each channel on a lead's intent (log-odds scale).
TRUE_CHANNEL_EFFECTS: dict[str, float] = {
    "referral": 1.10,
    "walk_in": 0.80,
    "phone_inquiry": 0.55,
    "auto_show": 0.35,
    "online_inquiry": 0.20,
    "dormant_activation": 0.00,
    "dcc_outbound": -0.25,
    "partner_list": -0.50,
}
BASE_CHANNEL_MIX: dict[str, float] = {
    "online_inquiry": 0.30,
    "phone_inquiry": 0.12,
    "walk_in": 0.20,
    "auto_show": 0.08,
    "partner_list": 0.07,
    "referral": 0.08,
    "dcc_outbound": 0.10,
    "dormant_activation": 0.05,
}
#: yuan per lead (variable part of channel cost) and fixed yuan per month
CHANNEL_COST_PER_LEAD: dict[str, float] = {
    "online_inquiry": 350.0,
    "phone_inquiry": 250.0,
    "walk_in": 60.0,
    "auto_show": 900.0,
    "partner_list": 180.0,
    "referral": 500.0,
    "dcc_outbound": 120.0,
    "dormant_activation": 80.0,
}
CHANNEL_COST_FIXED: dict[str, float] = {
    "online_inquiry": 20000.0,
    "phone_inquiry": 3000.0,
    "walk_in": 8000.0,
    "auto_show": 15000.0,
    "partner_list": 2000.0,
    "referral": 1000.0,
    "dcc_outbound": 12000.0,
    "dormant_activation": 1500.0,
}
MODEL_PRICE: dict[str, float] = {
    "Q50L": 300_000,
    "QX50": 360_000,
    "QX60": 460_000,
    "Q70L": 520_000,
    "QX80": 950_000,
}
#: list price by model, in the order of ``schema.MODELS``
MODEL_PRICE_ARR = np.array([MODEL_PRICE[m] for m in schema.MODELS])
MODEL_EFFECT: dict[str, float] = {
    "Q50L": 0.15,
    "QX50": 0.10,
    "QX60": 0.0,
    "Q70L": -0.15,
    "QX80": -0.35,
}
#: Speed-to-lead. The dealer's first response to an inbound lead comes a log-normal time after
#: creation (median and log-sd below, in minutes), drawn on the grid's log-spaced cells from
#: one minute to a day (uniform on the log scale inside a cell).
RESPONSE_MEDIAN_MINUTES = 40.0
RESPONSE_LOG_SD = 1.5
RESPONSE_GRID_MINUTES = np.geomspace(1.0, 1440.0, 97)
#: The response time's true effect: a lead's order probability is its intent's probability
#: times ``exp(RESPONSE_EFFECT_PER_DOUBLING * clip(log2(minutes / 60), -3, 3))``, normalised so
#: that the multiplier averages 1 over the response-time distribution (faster than 7.5 minutes
#: and slower than 8 hours change nothing more).
RESPONSE_EFFECT_PER_DOUBLING = -0.15
#: Complaint handling: category and stage mix (in the order of ``schema.COMPLAINT_CATEGORIES``
#: and ``schema.COMPLAINT_STAGES``), median hours to the first response, mean days from opening
#: to resolution, and the share of resolved complaints that are reopened once. Whether a
#: complaint is resolved is the owner's latent ``resolved`` (see ``aftersales``), which raises
#: the dropout hazard when false.
COMPLAINT_CATEGORY_MIX = [0.30, 0.22, 0.16, 0.14, 0.10, 0.08]
COMPLAINT_STAGE_MIX = [0.08, 0.12, 0.72, 0.08]
COMPLAINT_RESPONSE_MEDIAN_HOURS = 10.0
COMPLAINT_RESOLUTION_MEAN_DAYS = 6.0
COMPLAINT_REOPEN_RATE = 0.15
#: monthly lead seasonality (Jan..Dec): Spring Festival dip, spring and autumn peaks, year-end push
SEASONALITY = np.array([0.95, 0.70, 1.10, 1.10, 1.00, 0.95, 0.90, 0.95, 1.10, 1.15, 1.00, 1.10])

PERSONAS: tuple[str, ...] = ("young_professional", "family", "business_owner", "enthusiast")
PERSONA_MIX = np.array([0.30, 0.35, 0.20, 0.15])
#: persona -> (age mean, gender P(M), industry weights, hobby weights, use weights, media weights, model weights)
PERSONA_PROFILE = {
    "young_professional": (
        30,
        0.55,
        [3, 6, 1, 2, 1, 1, 1, 1, 1],
        [1, 6, 4, 6, 2, 1, 2, 3],
        [1, 6, 1, 2],
        [5, 6, 4, 6, 1, 1, 2, 1],
        [6, 5, 1, 1, 0.2],
    ),
    "family": (
        40,
        0.5,
        [1, 1, 2, 1, 4, 5, 5, 1, 1],
        [1, 5, 2, 1, 4, 1, 1, 5],
        [8, 2, 0.5, 2],
        [4, 2, 5, 1, 3, 5, 5, 1],
        [1, 4, 7, 0.5, 0.5],
    ),
    "business_owner": (
        47,
        0.8,
        [2, 1, 4, 6, 1, 1, 0.5, 5, 6],
        [6, 2, 0.5, 1, 2, 2, 6, 1],
        [1, 1, 8, 1],
        [2, 1, 6, 1, 4, 2, 5, 3],
        [0.5, 1, 3, 6, 4],
    ),
    "enthusiast": (
        35,
        0.85,
        [2, 4, 3, 1, 1, 1, 1, 1, 3],
        [1, 2, 3, 4, 1, 1, 1, 8],
        [1, 2, 1, 8],
        [6, 7, 2, 5, 1, 0.5, 1, 6],
        [4, 5, 1, 2, 2],
    ),
}

PLACEHOLDER_PHONES = ("13800000000", "13888888888", "12345678901", "123456", "00000000000")
PLACEHOLDER_NAMES = ("测试", "test", "客户", "无", "123456")
DEFECT_CLASSES = (
    "unregistered_walk_in",
    "typo_phone",
    "duplicate_customer",
    "missing_stage",
    "placeholder",
    "phantom_visit",
    "staff_phone",
    "missing_log_day",
)


@dataclass(frozen=True)
class DefectRates:
    """Rates of injected data-quality defects (fractions; see :data:`DEFECT_CLASSES`).

    ``unregistered_walk_in``: extra front-desk sales arrivals never registered in the DMS, as a
    fraction of the logged sales arrivals. ``typo_phone``: customers whose DMS phone has one
    wrong digit. ``duplicate_customer``: customers entered a second time under a new id.
    ``missing_stage``: lead stage events (visit, test drive, quote) missing from the DMS.
    ``placeholder``: test/placeholder customer records. ``phantom_visit``: DMS visit records
    with no front-desk arrival, as a fraction of DMS sales visits. ``staff_phone``: customers
    entered with a staff member's phone. ``missing_log_day``: opening days with no visitor-log
    entries at all.
    """

    unregistered_walk_in: float = 0.08
    typo_phone: float = 0.02
    duplicate_customer: float = 0.015
    missing_stage: float = 0.02
    placeholder: float = 0.005
    phantom_visit: float = 0.015
    staff_phone: float = 0.003
    missing_log_day: float = 0.01

    @classmethod
    def none(cls) -> DefectRates:
        """A clean dealer: no injected defect."""
        return cls(**{k: 0.0 for k in asdict(cls())})


@dataclass(frozen=True)
class SimConfig:
    """Parameters of a simulated network.

    Parameters
    ----------
    n_dealers, customers_per_dealer, years
        Network size and history length (years before ``as_of``).
    seed
        Master seed; dealer ``i`` uses the stream ``(seed, i)``.
    as_of
        Extraction date of every dealer's data.
    defects
        Injected defect rates.
    dealer_variation
        Spread of dealer profiles around the network's mean (0 = identical dealers).
    key_accounts, events
        Add key accounts (company customers with fleets, :mod:`~crm_analytics.sim.key_accounts`)
        and marketing events with their leads (:mod:`~crm_analytics.sim.events`). Off by
        default so that the simulator's other outputs, which tests pin, stay as they were;
        ``crm-analytics generate`` (the sample network) turns both on. Each draws from a side
        stream of its own and only appends rows: with both off, every table is the same.
    """

    n_dealers: int = 5
    customers_per_dealer: int = 2500
    years: float = 5.0
    seed: int = 2016
    as_of: str = "2026-06-30"
    defects: DefectRates = field(default_factory=DefectRates)
    dealer_variation: float = 1.0
    key_accounts: bool = False
    events: bool = False
