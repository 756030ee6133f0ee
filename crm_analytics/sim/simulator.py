"""Seeded simulator of a dealer network, with ground truth.

The simulator follows the deck's customer lifecycle (DIGEST sections 3-5):

* **Leads** arrive by channel with seasonality; each lead's journey touches one or more channels
  (``inquiry`` touchpoints). A latent intent drives every funnel stage: it is the sum of the
  true effects of the channels touched (ground truth ``channel_effects``), the car model, the
  consultant's skill and noise.
* **Funnel**: invitations (first and repeat), visits (repeat visits are common, so counting
  events understates closing ratios), test drives, quotes, orders (same day as the quote or on
  a re-visit), deliveries with value-added take-up (finance, insurance, accessories, extended
  warranty, trade-in). The consultant records an intent grade H/A/B/C with noise.
* **After-sales**: every owner (sold here before or during the window, or bought elsewhere)
  visits for service as a Poisson process with a gamma-heterogeneous rate, until a dropout
  whose hazard depends on observable factors: distance, satisfaction, unresolved complaints,
  buying elsewhere, and rises after the warranty ends. So customers really go dormant and churn.
* Insurance policies and renewals, surveys and delivery interviews (use, media seen), complaints,
  a front-desk visitor log, monthly channel costs, recalls.
* **Defects** at configurable rates: unregistered walk-ins, typo'd phones, duplicate customers,
  missing stage records, placeholder records, DMS visits with no arrival (phantoms), staff
  phones entered as customers, missing visitor-log days.

Everything is drawn from ``numpy.random.Generator`` streams seeded by ``(seed, dealer index)``,
so a dealer is reproducible on its own and a network can be generated in parallel; the same
seed gives byte-identical files.

Ground truth (``DealerData.truth``): ``customers`` (latent visit rate, dropout time, hazards,
persona), ``leads`` (true stage probabilities, true order time), ``channel_effects``,
``defects`` (one row per injected defect), ``dealer`` (the dealer's profile).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from crm_analytics.core import schema
from crm_analytics.core.dealer import DealerData

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
MODEL_EFFECT: dict[str, float] = {
    "Q50L": 0.15,
    "QX50": 0.10,
    "QX60": 0.0,
    "Q70L": -0.15,
    "QX80": -0.35,
}
#: monthly lead seasonality (Jan..Dec): Spring Festival dip, spring and autumn peaks, year-end push
SEASONALITY = np.array([0.95, 0.70, 1.10, 1.10, 1.00, 0.95, 0.90, 0.95, 1.10, 1.15, 1.00, 1.10])

PERSONAS: tuple[str, ...] = ("young_professional", "family", "business_owner", "enthusiast")
_PERSONA_MIX = np.array([0.30, 0.35, 0.20, 0.15])
#: persona -> (age mean, gender P(M), industry weights, hobby weights, use weights, media weights, model weights)
_PERSONA_PROFILE = {
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

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余于杜叶程苏魏吕丁任沈姚卢"
_SURNAME_PINYIN = (
    "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Gao Lin Luo Zheng Liang Xie Song Tang "
    "Xu Han Feng Deng Cao Peng Zeng Xiao Tian Dong Yuan Pan Cai Jiang Yu Yu Du Ye Cheng Su Wei Lv Ding Ren Shen Yao Lu"
).split()
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉建国志红飞宇浩然子涵欣怡梓轩雨婷晨阳思远"
_GIVEN_PINYIN = (
    "Wei Fang Na Min Jing Li Qiang Lei Jun Yang Yong Yan Jie Juan Tao Ming Chao Xiu Xia Ping Gang Gui Ying Hua Yu Lan "
    "Ping Peng Hui Jian Guo Zhi Hong Fei Yu Hao Ran Zi Han Xin Yi Zi Xuan Yu Ting Chen Yang Si Yuan"
).split()
_ENGLISH = (
    "David",
    "Michael",
    "Kevin",
    "Jason",
    "Tony",
    "Linda",
    "Grace",
    "Cindy",
    "Jack",
    "Vivian",
    "Eric",
    "Amy",
)
_CITIES = (
    ("Shanghai", "East"),
    ("Beijing", "North"),
    ("Guangzhou", "South"),
    ("Shenzhen", "South"),
    ("Hangzhou", "East"),
    ("Chengdu", "West"),
    ("Wuhan", "Central"),
    ("Nanjing", "East"),
    ("Tianjin", "North"),
    ("Xi'an", "West"),
    ("Suzhou", "East"),
    ("Chongqing", "West"),
)
_MOBILE_PREFIXES = np.array(
    [
        130,
        131,
        132,
        133,
        135,
        136,
        137,
        138,
        139,
        150,
        151,
        152,
        155,
        158,
        159,
        177,
        180,
        181,
        186,
        187,
        188,
        189,
        199,
    ]
)
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
    """

    n_dealers: int = 5
    customers_per_dealer: int = 2500
    years: float = 5.0
    seed: int = 2016
    as_of: str = "2026-06-30"
    defects: DefectRates = field(default_factory=DefectRates)
    dealer_variation: float = 1.0


@dataclass(frozen=True)
class DealerProfile:
    """Latent characteristics that make dealers differ (ground truth)."""

    dealer_id: str
    name: str
    city: str
    region: str
    n_customers: int
    channel_mix: dict[str, float]
    consultant_skill_mean: float
    n_consultants: int
    visit_rate_mean: float  # service visits per year of an alive owner
    dropout_base: float  # dropout hazard per year before warranty end
    finance_rate: float
    insurance_rate: float
    accessories_rate: float
    extended_warranty_rate: float
    trade_in_rate: float
    renewal_rate: float
    addon_rate: float
    intent_base: float
    grade_noise: float


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _choice(rng: np.random.Generator, options: Sequence, n: int, p=None) -> np.ndarray:
    p = None if p is None else np.asarray(p, dtype=float) / np.sum(p)
    return np.asarray(options, dtype=object)[rng.choice(len(options), size=n, p=p)]


def _sample_sets(
    rng: np.random.Generator, options: Sequence[str], weights, sizes: np.ndarray
) -> np.ndarray:
    """Draw ``sizes[i]`` distinct options for each row, without replacement, as sorted
    ';'-joined strings (Gumbel top-k: the same law as sequential weighted draws)."""
    n, k = len(sizes), len(options)
    keys = np.log(np.asarray(weights, float))[None, :] + rng.gumbel(size=(n, k))
    rank = np.argsort(-keys, axis=1).argsort(axis=1)
    chosen = rank < np.asarray(sizes)[:, None]
    bits = chosen @ (1 << np.arange(k))
    names = sorted(range(k), key=lambda j: options[j])
    lookup = {b: ";".join(options[j] for j in names if b >> j & 1) for b in np.unique(bits)}
    return np.array([lookup[b] for b in bits], dtype=object)


def _persona_draw(
    rng: np.random.Generator,
    personas: np.ndarray,
    options: Sequence[str],
    field: int,
    size: int = 0,
) -> np.ndarray:
    """One option per row (or ``size`` distinct ones, ';'-joined) from its persona's weights."""
    out = np.empty(len(personas), dtype=object)
    for k, prof in _PERSONA_PROFILE.items():
        m = personas == k
        c = int(m.sum())
        if c:
            w = prof[field]
            out[m] = (
                _choice(rng, options, c, w)
                if not size
                else _sample_sets(rng, options, w, np.full(c, size))
            )
    return out


def _ids(prefix: str, n: int, start: int = 0, width: int = 6) -> np.ndarray:
    return np.array([f"{prefix}{i:0{width}d}" for i in range(start, start + n)], dtype=object)


def _phones(rng: np.random.Generator, n: int) -> np.ndarray:
    pre = rng.choice(_MOBILE_PREFIXES, size=n)
    rest = rng.integers(0, 100_000_000, size=n)
    return np.array([f"{a}{b:08d}" for a, b in zip(pre, rest, strict=True)], dtype=object)


def _names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chinese names, their pinyin, and the surname index (for surname-only entries)."""
    s = rng.integers(0, len(_SURNAMES), size=n)
    g1 = rng.integers(0, len(_GIVEN), size=n)
    g2 = rng.integers(0, len(_GIVEN), size=n)
    two = rng.random(n) < 0.6
    zh, py = [], []
    for i in range(n):
        if two[i]:
            zh.append(_SURNAMES[s[i]] + _GIVEN[g1[i]] + _GIVEN[g2[i]])
            py.append(
                f"{_SURNAME_PINYIN[s[i]]} {_GIVEN_PINYIN[g1[i]]}{_GIVEN_PINYIN[g2[i]].lower()}"
            )
        else:
            zh.append(_SURNAMES[s[i]] + _GIVEN[g1[i]])
            py.append(f"{_SURNAME_PINYIN[s[i]]} {_GIVEN_PINYIN[g1[i]]}")
    return np.array(zh, dtype=object), np.array(py, dtype=object), s


def _days(values) -> np.ndarray:
    """Float days -> timedelta64[s] (second resolution keeps times realistic)."""
    return (np.asarray(values, dtype=float) * 86400.0).round().astype("timedelta64[s]")


def _shop_hours(
    rng: np.random.Generator, dates: np.ndarray, open_h: int, close_h: int
) -> np.ndarray:
    """Place event times on their day, inside opening hours."""
    day = dates.astype("datetime64[D]")
    secs = rng.integers(open_h * 3600, close_h * 3600 - 1800, size=len(day))
    return day.astype("datetime64[s]") + secs.astype("timedelta64[s]")


def _not_before(t: np.ndarray, floor: np.ndarray, gap_s: int = 900) -> np.ndarray:
    """``t`` moved to ``floor + gap`` where it fell before ``floor`` (same-day reshuffles)."""
    lo = np.asarray(floor, dtype="datetime64[s]") + np.timedelta64(gap_s, "s")
    return np.where(t < lo, lo, t)


def _visit_near(
    who: np.ndarray,
    when: np.ndarray,
    v_who: np.ndarray,
    v_at: np.ndarray,
    before_days: float = 90,
    after_days: float = 30,
) -> np.ndarray:
    """Whether owner ``who[i]`` has a visit in ``[when[i] - before, when[i] + after]``."""
    base = np.datetime64("1970-01-01", "s")
    span = np.int64(10**10)  # seconds: wider than any time range here
    keys = np.sort(v_who.astype(np.int64) * span + (v_at - base).astype(np.int64))
    t = (np.asarray(when, dtype="datetime64[s]") - base).astype(np.int64)
    lo = who.astype(np.int64) * span + t - np.int64(before_days * 86400)
    hi = who.astype(np.int64) * span + t + np.int64(after_days * 86400)
    i = np.searchsorted(keys, lo, side="left")
    ok = i < len(keys)
    ok[ok] = keys[i[ok]] <= hi[ok]
    return ok


def dealer_profile(cfg: SimConfig, index: int, rng: np.random.Generator) -> DealerProfile:
    """Draw one dealer's latent profile (size, channel mix, skill, retention, take-up rates)."""
    v = cfg.dealer_variation
    city, region = _CITIES[index % len(_CITIES)]
    dealer_id = f"D{index + 1:03d}"
    size = float(np.exp(rng.normal(0, 0.2 * v)))
    base = np.array(list(BASE_CHANNEL_MIX.values()))
    mix = rng.dirichlet(base * (60.0 / max(v, 1e-3))) if v > 0 else base
    mix = mix / mix.sum()

    def spread(mean: float, sd: float, lo: float, hi: float) -> float:
        return float(np.clip(mean + rng.normal(0, sd * v), lo, hi))

    return DealerProfile(
        dealer_id=dealer_id,
        name=f"Infiniti {city} {['Central', 'East', 'West', 'North', 'South'][index % 5]} #{index + 1}",
        city=city,
        region=region,
        n_customers=max(50, round(cfg.customers_per_dealer * size)),
        channel_mix=dict(zip(BASE_CHANNEL_MIX, mix.round(6).tolist(), strict=True)),
        consultant_skill_mean=spread(0.0, 0.25, -0.8, 0.8),
        n_consultants=int(np.clip(round(cfg.customers_per_dealer / 250 * size), 4, 40)),
        visit_rate_mean=spread(2.2, 0.3, 1.2, 3.5),
        dropout_base=spread(0.10, 0.04, 0.03, 0.3),
        finance_rate=spread(0.45, 0.08, 0.1, 0.8),
        insurance_rate=spread(0.88, 0.05, 0.5, 0.99),
        accessories_rate=spread(0.60, 0.10, 0.2, 0.95),
        extended_warranty_rate=spread(0.40, 0.08, 0.1, 0.8),
        trade_in_rate=spread(0.20, 0.05, 0.05, 0.5),
        renewal_rate=spread(0.40, 0.10, 0.1, 0.8),
        addon_rate=spread(0.25, 0.06, 0.05, 0.6),
        intent_base=spread(0.0, 0.2, -0.7, 0.7),
        grade_noise=spread(1.0, 0.2, 0.4, 1.8),
    )


class _Dealer:
    """Builds one dealer's tables; a class only to share the many intermediate arrays."""

    def __init__(self, cfg: SimConfig, index: int):
        self.cfg = cfg
        self.index = index
        ss = np.random.SeedSequence([cfg.seed, index])
        self.rng = np.random.default_rng(ss)
        self.p = dealer_profile(cfg, index, self.rng)
        self.as_of = np.datetime64(
            pd.Timestamp(cfg.as_of).normalize() + pd.Timedelta(hours=23, minutes=59), "s"
        )
        self.start = np.datetime64(
            pd.Timestamp(cfg.as_of).normalize() - pd.Timedelta(days=round(cfg.years * YEAR_DAYS)),
            "s",
        )
        self.open_h, self.close_h = 9, 18
        self.did = self.p.dealer_id
        self.defects: list[dict] = []

    # -- people -------------------------------------------------------------------------------
    def staff(self) -> pd.DataFrame:
        rng, p = self.rng, self.p
        roles = (
            ["sales_consultant"] * p.n_consultants
            + ["service_advisor"] * max(3, p.n_consultants // 2)
            + ["reception"] * 2
            + ["dcc"] * 3
            + ["crm"] * 1
            + ["manager"] * 2
        )
        n = len(roles)
        names, _, _ = _names(rng, n)
        hired = self.start - _days(rng.uniform(30, 2000, n))
        skill = rng.normal(p.consultant_skill_mean, 0.35, n)
        left = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
        roles_a = np.array(roles, dtype=object)
        cons = np.flatnonzero(roles_a == "sales_consultant")
        # one consultant leaves mid-window; a replacement is hired the same month
        leaver = cons[0]
        span = (self.as_of - self.start) / DAY
        left[leaver] = self.start + _days(span * rng.uniform(0.55, 0.75))
        roles_a = np.append(roles_a, "sales_consultant")
        names = np.append(names, _names(rng, 1)[0])
        hired = np.append(hired, left[leaver] + _days(rng.uniform(5, 25)))
        left = np.append(left, np.datetime64("NaT"))
        skill = np.append(skill, rng.normal(p.consultant_skill_mean - 0.2, 0.3))
        n += 1
        df = pd.DataFrame(
            {
                "dealer_id": self.did,
                "staff_id": _ids(f"{self.did}-S", n, width=3),
                "name": names,
                "role": roles_a,
                "phone": _phones(rng, n),
                "hired_at": hired,
                "left_at": left,
                "skill": np.where(roles_a == "sales_consultant", skill, np.nan).round(3),
            }
        )
        self._staff = df
        return df

    def consultants_at(self, times: np.ndarray) -> np.ndarray:
        """Assign a consultant employed at each time (uniformly among those employed)."""
        st = self._staff[self._staff["role"] == "sales_consultant"]
        hired = st["hired_at"].to_numpy("datetime64[s]")
        left = st["left_at"].to_numpy("datetime64[s]")
        left = np.where(np.isnat(left), np.datetime64("2100-01-01", "s"), left)
        ids = st["staff_id"].to_numpy()
        u = self.rng.random(len(times))
        out = np.empty(len(times), dtype=object)
        active = (times[:, None] >= hired[None, :]) & (times[:, None] < left[None, :])
        counts = active.sum(1)
        pick = np.floor(u * np.maximum(counts, 1)).astype(int)
        cum = np.cumsum(active, axis=1)
        idx = (cum > pick[:, None]).argmax(1)
        out[:] = ids[idx]
        self._skill = dict(zip(ids, st["skill"].to_numpy(), strict=True))
        return out

    def people(
        self, n: int, created: np.ndarray, persona: np.ndarray | None = None
    ) -> pd.DataFrame:
        rng = self.rng
        if persona is None:
            persona = _choice(rng, PERSONAS, n, _PERSONA_MIX)
        names, pinyin, _ = _names(rng, n)
        age = np.empty(n)
        male = np.empty(n, dtype=bool)
        industry = np.empty(n, dtype=object)
        hobbies = np.empty(n, dtype=object)
        for k, prof in _PERSONA_PROFILE.items():
            m = persona == k
            c = int(m.sum())
            if not c:
                continue
            age[m] = rng.normal(prof[0], 5, c)
            male[m] = rng.random(c) < prof[1]
            industry[m] = _choice(rng, schema.INDUSTRIES, c, prof[2])
            np.asarray(prof[3], float)
            hobbies[m] = _sample_sets(rng, schema.HOBBIES, prof[3], rng.integers(1, 4, c))
        year_now = pd.Timestamp(self.cfg.as_of).year
        birth = np.clip(np.round(year_now - age), 1940, 2006).astype(int)
        dist = np.round(np.exp(rng.normal(np.log(12), 0.8, n)), 1)
        known = rng.random(n) < 0.85
        return pd.DataFrame(
            {
                "name": names,
                "pinyin": pinyin,
                "phone": _phones(rng, n),
                "gender": np.where(male, "M", "F"),
                "birth_year": pd.array(
                    np.where(rng.random(n) < 0.9, birth, -1), dtype="Int64"
                ).astype("Int64"),
                "city": self.p.city,
                "industry": np.where(rng.random(n) < 0.8, industry, None),
                "hobbies": np.where(rng.random(n) < 0.7, hobbies, None),
                "distance_km": np.where(known, dist, np.nan),
                "true_distance_km": dist,
                "created_at": created,
                "persona": persona,
            }
        )

    # -- sales funnel ----------------------------------------------------------------------------
    def leads(self, n_leads: int, persona: np.ndarray) -> None:
        rng, p = self.rng, self.p
        span = (self.as_of - self.start) / DAY
        # seasonality by rejection sampling over the window
        cand = rng.uniform(0, span, n_leads * 3)
        month = (self.start + _days(cand)).astype("datetime64[M]").astype(int) % 12
        keep = rng.random(len(cand)) < SEASONALITY[month] / SEASONALITY.max()
        offs = cand[keep][:n_leads]
        if len(offs) < n_leads:  # pragma: no cover - 3x oversampling always suffices
            offs = np.concatenate([offs, rng.uniform(0, span, n_leads - len(offs))])
        offs.sort()
        created = _shop_hours(rng, self.start + _days(offs), self.open_h, self.close_h)
        ch_names = list(p.channel_mix)
        channel = _choice(rng, ch_names, n_leads, list(p.channel_mix.values()))
        model = _persona_draw(rng, persona, schema.MODELS, 6)
        consultant = self.consultants_at(created)
        skill = np.array([self._skill[c] for c in consultant])
        # journey: the lead's own channel first, then 0-4 further channel touches
        n_extra = np.minimum(rng.poisson(0.9, n_leads), 4)
        eff = np.array([TRUE_CHANNEL_EFFECTS[c] for c in channel])
        journey_rows = [np.arange(n_leads)]
        journey_ch = [channel]
        journey_t = [np.zeros(n_leads)]
        sets = [set([c]) for c in channel]
        for k in range(1, 5):
            idx = np.flatnonzero(n_extra >= k)
            extra = _choice(rng, ch_names, len(idx), list(p.channel_mix.values()))
            # walk-ins and show visitors are followed up by DCC/phone more often
            journey_rows.append(idx)
            journey_ch.append(extra)
            journey_t.append(rng.uniform(0.2, 1.0, len(idx)) * k * 4.0)
            for i, c in zip(idx, extra, strict=True):
                if c not in sets[i]:
                    sets[i].add(c)
                    eff[i] += TRUE_CHANNEL_EFFECTS[c]
        z = (
            p.intent_base
            + eff
            + np.array([MODEL_EFFECT[m] for m in model])
            + skill
            + rng.normal(0, 0.8, n_leads)
        )
        walk = channel == "walk_in"

        def stage_probs(z, walk):
            """True stage probabilities of a lead with intent z (walk-ins visit by definition)."""
            return (
                np.where(walk, 1.0, _sigmoid(-0.3 + 0.9 * z)),
                _sigmoid(0.2 + 0.6 * z + 0.5 * skill),
                _sigmoid(0.4 + 0.6 * z + 0.3 * skill),
                _sigmoid(-1.6 + 1.0 * z + 0.6 * skill),
            )

        p_visit, p_td, p_quote, p_order = stage_probs(z, walk)
        p_deliver = np.full(n_leads, 0.97)
        # each channel's true effect on conversion, as the removal effect of the data-generating
        # process: expected orders lost if the channel were taken out of every journey
        p_conv = p_visit * p_quote * p_order
        lost = {}
        for c in ch_names:
            has = np.array([c in st for st in sets])
            pv, _, pq, po = stage_probs(z - TRUE_CHANNEL_EFFECTS[c] * has, walk & (c != "walk_in"))
            lost[c] = (float((p_conv - pv * pq * po)[has].sum()), int(has.sum()))
        self.channel_truth = pd.DataFrame(
            {
                "channel": list(lost),
                "orders_lost": [v[0] for v in lost.values()],
                "journeys": [v[1] for v in lost.values()],
            }
        )
        visit = rng.random(n_leads) < p_visit
        td = visit & (rng.random(n_leads) < p_td)
        quote = visit & (rng.random(n_leads) < p_quote)
        order = quote & (rng.random(n_leads) < p_order)
        deliver = order & (rng.random(n_leads) < p_deliver)
        # invitations before the first visit (none for walk-ins)
        n_inv = np.where(walk, 0, 1 + np.minimum(rng.geometric(0.55, n_leads) - 1, 3))
        first_visit_delay = np.where(walk, 0.0, rng.gamma(2.0, 2.5, n_leads) + 0.5)
        t_visit1 = created + _days(first_visit_delay)
        t_visit1 = _not_before(_shop_hours(rng, t_visit1, self.open_h, self.close_h), created)
        t_visit1 = np.where(walk, created, t_visit1)
        # repeat visits: more for buyers; order cycle in days from first visit
        n_visits = np.where(visit, 1 + rng.poisson(np.where(order, 0.9, 0.35)), 0)
        same_day = order & (rng.random(n_leads) < _sigmoid(-0.8 + 0.5 * z))
        cycle = np.where(same_day, 0.0, rng.gamma(1.6, 9.0, n_leads) + 1.0)
        n_visits = np.where(order & ~same_day, np.maximum(n_visits, 2), n_visits)
        t_order = t_visit1 + _days(cycle)
        t_order = np.where(
            same_day,
            t_visit1 + np.timedelta64(2400, "s"),
            _shop_hours(rng, t_order, self.open_h, self.close_h),
        )
        t_deliver = _shop_hours(
            rng, t_order + _days(rng.gamma(2.0, 9.0, n_leads) + 3), self.open_h, self.close_h
        )
        self.L = pd.DataFrame(
            {
                "lead_id": _ids(f"{self.did}-L", n_leads),
                "channel": channel,
                "model": model,
                "created_at": created,
                "consultant_id": consultant,
                "skill": skill,
                "z": z,
                "p_visit": p_visit,
                "p_test_drive": p_td,
                "p_quote": p_quote,
                "p_order": p_order,
                "p_deliver": p_deliver,
                "visit": visit,
                "test_drive": td,
                "quote": quote,
                "order": order,
                "deliver": deliver,
                "n_inv": n_inv,
                "n_visits": n_visits,
                "t_visit1": t_visit1,
                "same_day": same_day,
                "t_order": t_order,
                "t_deliver": t_deliver,
            }
        )
        self.journey = pd.DataFrame(
            {
                "row": np.concatenate(journey_rows),
                "channel": np.concatenate(journey_ch),
                "dt": np.concatenate(journey_t),
            }
        )

    def funnel_events(self) -> pd.DataFrame:
        """Every lead event (times may lie beyond as_of; cut later)."""
        rng, L = self.rng, self.L
        ev: list[pd.DataFrame] = []

        def add(rows, kind, at, channel=None, outcome=None, dwell=None):
            rows = np.asarray(rows)
            ev.append(
                pd.DataFrame(
                    {
                        "row": rows,
                        "kind": kind,
                        "at": np.asarray(at, dtype="datetime64[s]"),
                        "channel": channel if channel is not None else None,
                        "outcome": outcome if outcome is not None else None,
                        "dwell_minutes": dwell if dwell is not None else np.nan,
                    }
                )
            )

        created = L["created_at"].to_numpy("datetime64[s]")
        t1 = L["t_visit1"].to_numpy("datetime64[s]")
        # channel touches (journeys); the first is at lead creation
        j = self.journey
        jt = created[j["row"]] + _days(j["dt"])
        add(j["row"], "inquiry", jt, channel=j["channel"].to_numpy())
        # invitations: the last accepted if the lead visits, declined otherwise
        visit = L["visit"].to_numpy()
        for k in range(1, 5):
            rows = np.flatnonzero(L["n_inv"].to_numpy() >= k)
            last = L["n_inv"].to_numpy()[rows] == k
            at = created[rows] + _days(
                np.minimum(
                    k * 1.0 + rng.uniform(0, 0.5, len(rows)),
                    0.98 * (t1[rows] - created[rows]) / DAY,
                )
            )
            at = np.where(at <= created[rows], created[rows] + np.timedelta64(600, "s"), at)
            outcome = np.where(
                last & visit[rows],
                "accepted",
                np.where(rng.random(len(rows)) < 0.5, "declined", "no_answer"),
            )
            add(rows, "invitation", at, outcome=outcome)
        # visits
        nv = L["n_visits"].to_numpy()
        order = L["order"].to_numpy()
        t_order = L["t_order"].to_numpy("datetime64[s]")
        vis_rows = np.flatnonzero(nv >= 1)
        dwell = np.round(
            np.exp(rng.normal(np.log(40), 0.5, len(vis_rows))) + 20 * order[vis_rows], 1
        )
        add(vis_rows, "visit", t1[vis_rows], outcome="first", dwell=dwell)
        for k in range(2, int(nv.max(initial=1)) + 1):
            rows = np.flatnonzero(nv >= k)
            span = np.where(
                order[rows], (t_order[rows] - t1[rows]) / DAY, rng.gamma(1.5, 8, len(rows)) + 1
            )
            frac = (k - 1) / np.maximum(nv[rows] - 1, 1)
            at = np.where(
                order[rows] & (k == nv[rows]),
                t_order[rows] - np.timedelta64(1800, "s"),
                t1[rows] + _days(span * frac * 0.9 + 0.01),
            )
            at = _not_before(_shop_hours(rng, at, self.open_h, self.close_h), t1[rows])
            at = np.where(
                order[rows] & (k == nv[rows]), t_order[rows] - np.timedelta64(1800, "s"), at
            )
            add(
                rows,
                "visit",
                at,
                outcome="repeat",
                dwell=np.round(np.exp(rng.normal(np.log(35), 0.5, len(rows))), 1),
            )
        # test drive on the first visit; quote on the first visit or the order visit
        td = np.flatnonzero(L["test_drive"].to_numpy())
        add(td, "test_drive", t1[td] + np.timedelta64(1200, "s"))
        q = np.flatnonzero(L["quote"].to_numpy())
        q_at = np.where(
            order[q],
            np.where(
                L["same_day"].to_numpy()[q],
                t1[q] + np.timedelta64(1800, "s"),
                t_order[q] - np.timedelta64(900, "s"),
            ),
            t1[q] + np.timedelta64(1800, "s"),
        )
        # some buyers got the quote already on the first visit and came back to order (quote re-visit)
        early = order[q] & ~L["same_day"].to_numpy()[q] & (rng.random(len(q)) < 0.5)
        q_at = np.where(early, t1[q] + np.timedelta64(1800, "s"), q_at)
        add(q, "quote", q_at)
        o = np.flatnonzero(order)
        add(o, "order", t_order[o])
        d = np.flatnonzero(L["deliver"].to_numpy())
        add(d, "delivery", L["t_deliver"].to_numpy("datetime64[s]")[d])
        out = pd.concat(ev, ignore_index=True)
        return out

    # -- after-sales ------------------------------------------------------------------------------
    def dropout_times(
        self, start: np.ndarray, warranty_end: np.ndarray, mu1: np.ndarray, mu2: np.ndarray
    ) -> np.ndarray:
        """Piecewise-exponential dropout: hazard ``mu1`` until warranty end, ``mu2`` after."""
        e = self.rng.exponential(1.0, len(start))
        w = np.maximum((warranty_end - start) / DAY / YEAR_DAYS, 0.0)
        t1 = e / mu1
        t = np.where(t1 <= w, t1, w + (e - mu1 * w) / mu2)
        return start + _days(t * YEAR_DAYS)

    def simulate(self) -> tuple[dict, dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
        rng, p, cfg = self.rng, self.p, self.cfg
        d = self.did
        staff = self.staff()
        n_total = p.n_customers
        n_leads = int(round(n_total * 0.62))
        n_pre = int(round(n_total * 0.24))
        n_else = max(0, n_total - n_leads - n_pre)
        # personas drive attributes and the car model a lead is interested in
        persona = _choice(rng, PERSONAS, n_total, _PERSONA_MIX)
        self.leads(n_leads, persona[:n_leads])
        L = self.L
        # -- customers ---------------------------------------------------------------------------
        lead_created = L["created_at"].to_numpy("datetime64[s]")
        dormant = L["channel"].to_numpy() == "dormant_activation"
        c_created_lead = np.where(
            dormant, lead_created - _days(rng.uniform(200, 1400, n_leads)), lead_created
        )
        pre_purchase = self.start - _days(rng.uniform(0, 6 * YEAR_DAYS, n_pre))
        pre_purchase = _shop_hours(rng, pre_purchase, self.open_h, self.close_h)
        else_purchase = self.start + _days(
            rng.uniform(-5 * YEAR_DAYS, ((self.as_of - self.start) / DAY) - 30, n_else)
        )
        else_first = np.maximum(else_purchase, self.start) + _days(rng.uniform(0, 400, n_else))
        else_first = _shop_hours(rng, else_first, self.open_h, self.close_h)
        created = np.concatenate([c_created_lead, pre_purchase, np.minimum(else_first, self.as_of)])
        kind = np.concatenate(
            [np.full(n_leads, "lead"), np.full(n_pre, "pre_owner"), np.full(n_else, "elsewhere")]
        )
        C = self.people(len(created), np.minimum(created, self.as_of), persona)
        C["customer_id"] = _ids(f"{d}-C", len(C))
        C["kind"] = kind
        L["customer_id"] = C["customer_id"].to_numpy()[:n_leads]
        self.C = C
        ev = self.funnel_events()
        # -- owners and vehicles -----------------------------------------------------------------
        buyers = np.flatnonzero(L["deliver"].to_numpy())
        own_models = np.concatenate(
            [
                L["model"].to_numpy()[buyers],
                _persona_draw(rng, persona[n_leads:], schema.MODELS, 6),
            ]
        )
        owner_idx = np.concatenate([buyers, np.arange(n_leads, n_total)])
        purchase = np.concatenate(
            [
                L["t_deliver"].to_numpy("datetime64[s]")[buyers],
                pre_purchase,
                else_purchase.astype("datetime64[s]"),
            ]
        )
        here = np.concatenate([np.ones(len(buyers) + n_pre, bool), np.zeros(n_else, bool)])
        n_own = len(owner_idx)
        model_code = np.array([schema.MODELS.index(m) for m in own_models])
        vin = np.array(
            [f"JNK{self.index + 1:03d}{mc}{i:010d}" for i, mc in enumerate(model_code)],
            dtype=object,
        )
        warranty_end = purchase + _days(np.full(n_own, 3 * YEAR_DAYS))
        # value-added take-up of own-store sales
        fin = rng.random(n_own) < p.finance_rate
        finance_end = np.where(
            fin & here, purchase + _days(np.full(n_own, 3 * YEAR_DAYS)), np.datetime64("NaT")
        )
        # -- latent service process -------------------------------------------------------------
        dist = C["true_distance_km"].to_numpy()[owner_idx]
        sat = np.clip(rng.normal(8.2, 1.1, n_own), 2, 10)
        complaint = rng.random(n_own) < _sigmoid(-3.2 - 0.8 * (sat - 8.2))
        resolved = complaint & (rng.random(n_own) < 0.6)
        lam = rng.gamma(2.0, p.visit_rate_mean / 2.0, n_own) * np.exp(-0.15 * np.log(dist / 12.0))
        log_mu = (
            np.log(p.dropout_base)
            + 0.5 * np.log(dist / 12.0)
            - 0.5 * (sat - 8.2)
            + 1.2 * (complaint & ~resolved)
            + 0.7 * (~here)
            + rng.normal(0, 0.3, n_own)
        )
        mu1 = np.exp(log_mu)
        mu2 = mu1 * 3.0
        svc_start = np.where(
            here,
            purchase,
            np.concatenate([np.full(len(buyers) + n_pre, np.datetime64("NaT", "s")), else_first]),
        )
        drop = self.dropout_times(svc_start, warranty_end, mu1, mu2)
        horizon_end = self.as_of + _days(
            3 * YEAR_DAYS
        )  # simulate past as_of so truth knows the future
        visit_end = np.minimum(drop, horizon_end)
        dur = np.maximum((visit_end - svc_start) / DAY / YEAR_DAYS, 0)
        n_vis = rng.poisson(lam * dur)
        # bought-elsewhere owners are known from their first visit: it happens by construction
        n_vis = np.where(~here, np.maximum(n_vis, 1), n_vis)
        rows = np.repeat(np.arange(n_own), n_vis)
        u = rng.random(len(rows))
        vat = svc_start[rows] + _days(u * dur[rows] * YEAR_DAYS)
        first_forced = np.zeros(len(rows), bool)
        fe = np.flatnonzero(~here)
        starts = np.concatenate([[0], np.cumsum(n_vis)[:-1]])
        first_forced[starts[fe]] = True
        vat = np.where(first_forced, svc_start[rows], vat)
        vat = _shop_hours(rng, vat, 8, 18)
        vat = np.where(first_forced, svc_start[rows], vat)
        # complaint events lie in the first service year
        # -- recalls -----------------------------------------------------------------------------
        camp_model = rng.choice(len(schema.MODELS))
        camp_at = self.start + _days(rng.uniform(0.3, 0.8) * (self.as_of - self.start) / DAY)
        recall = (model_code == camp_model) & (purchase < camp_at) & (rng.random(n_own) < 0.9)
        recall_code = np.where(
            recall, f"RC-{pd.Timestamp(camp_at).year}-{schema.MODELS[camp_model]}", None
        )
        rec_rows = np.flatnonzero(recall & (drop > camp_at) & (rng.random(n_own) < 0.75))
        rec_at = _shop_hours(rng, camp_at + _days(rng.gamma(2, 30, len(rec_rows))), 8, 18)
        ok = (rec_at > svc_start[rec_rows]) & (rec_at < drop[rec_rows])
        rec_rows, rec_at = rec_rows[ok], rec_at[ok]
        rows = np.concatenate([rows, rec_rows])
        vat = np.concatenate([vat, rec_at])
        vkind = np.concatenate(
            [
                _choice(
                    rng,
                    ["maintenance", "repair", "warranty", "accident", "care"],
                    len(vat) - len(rec_rows),
                    [0.58, 0.14, 0.1, 0.07, 0.11],
                ),
                np.full(len(rec_rows), "recall", dtype=object),
            ]
        )
        in_warr = vat <= warranty_end[rows]
        vkind = np.where((vkind == "warranty") & ~in_warr, "repair", vkind)
        ordr = np.lexsort((vat, rows))
        rows, vat, vkind = rows[ordr], vat[ordr], vkind[ordr]
        labor = np.select(
            [
                vkind == "maintenance",
                vkind == "repair",
                vkind == "warranty",
                vkind == "accident",
                vkind == "recall",
            ],
            [
                rng.gamma(6, 70, len(vat)),
                rng.gamma(3, 300, len(vat)),
                rng.gamma(3, 200, len(vat)),
                rng.gamma(2, 1500, len(vat)),
                rng.gamma(4, 50, len(vat)),
            ],
            default=rng.gamma(4, 120, len(vat)),
        )
        parts = np.select(
            [
                vkind == "maintenance",
                vkind == "repair",
                vkind == "warranty",
                vkind == "accident",
                vkind == "recall",
            ],
            [
                rng.gamma(5, 160, len(vat)),
                rng.gamma(2, 900, len(vat)),
                rng.gamma(2, 500, len(vat)),
                rng.gamma(2, 4000, len(vat)),
                np.zeros(len(vat)),
            ],
            default=rng.gamma(3, 150, len(vat)),
        )
        warranty_paid = np.isin(vkind, ["warranty", "recall"])
        addon = np.where(
            rng.random(len(vat)) < p.addon_rate, np.round(rng.gamma(3, 200, len(vat)), 0), 0.0
        )
        margin = 0.55 * labor + 0.28 * parts + 0.45 * addon
        margin = np.where(warranty_paid, 0.3 * labor + 0.08 * parts + 0.45 * addon, margin)
        km_rate = np.exp(rng.normal(np.log(15000), 0.35, n_own))
        mileage = np.round(
            np.maximum((vat - purchase[rows]) / DAY / YEAR_DAYS, 0) * km_rate[rows]
            + rng.uniform(5, 50, len(vat))
        )
        advisors = staff.loc[staff["role"] == "service_advisor", "staff_id"].to_numpy()
        SV = pd.DataFrame(
            {
                "owner": rows,
                "vin": vin[rows],
                "customer_id": C["customer_id"].to_numpy()[owner_idx[rows]],
                "at": vat,
                "kind": vkind,
                "labor_amount": np.round(labor, 2),
                "parts_amount": np.round(np.where(warranty_paid, 0.0, parts), 2),
                "addon_amount": addon,
                "margin": np.round(margin, 2),
                "mileage": mileage,
                "advisor_id": _choice(rng, advisors, len(vat)),
            }
        )
        # -- insurance policies -------------------------------------------------------------------
        n_years = np.floor(np.maximum((self.as_of - purchase) / DAY / YEAR_DAYS, 0)).astype(int) + 1
        n_years = np.where(purchase > self.as_of, 0, n_years)
        prow = np.repeat(np.arange(n_own), n_years)
        pyear = np.arange(len(prow)) - np.repeat(
            np.concatenate([[0], np.cumsum(n_years)[:-1]]), n_years
        )
        pstart = purchase[prow] + _days(pyear * YEAR_DAYS)
        pend = pstart + _days(np.full(len(prow), YEAR_DAYS))
        alive_at = drop[prow] > pstart
        first = pyear == 0
        ins_taken = rng.random(n_own) < p.insurance_rate
        sold_here = np.where(
            first,
            here[prow] & ins_taken[prow],
            alive_at & (rng.random(len(prow)) < p.renewal_rate * np.where(here[prow], 1.0, 0.6)),
        )
        premium = np.round(
            MODEL_PRICE_ARR[model_code[prow]] * rng.uniform(0.012, 0.02, len(prow)), 0
        )
        # the dealer knows the first policy and the renewals it sold; a renewal sold elsewhere
        # only when the owner mentions it at a service visit around the renewal date
        told = _visit_near(prow, pstart, SV["owner"].to_numpy(), SV["at"].to_numpy("datetime64[s]"))
        known = first | sold_here | told
        known &= pend > self.start
        P = pd.DataFrame(
            {
                "vin": vin[prow],
                "customer_id": C["customer_id"].to_numpy()[owner_idx[prow]],
                "start": pstart,
                "end": pend,
                "premium": premium,
                "margin": np.where(sold_here, np.round(premium * 0.16, 2), 0.0),
                "sold_by_this_dealer": sold_here,
                "renewal": ~first,
            }
        )[known]
        # a bought-elsewhere owner enters the DMS at the first visit here
        known_from = np.where(here, purchase, svc_start)
        P = P[P["vin"].isin(vin[known_from <= self.as_of])]
        # -- orders -------------------------------------------------------------------------------
        o_rows = np.flatnonzero(L["order"].to_numpy())
        n_o = len(o_rows)
        o_model = L["model"].to_numpy()[o_rows]
        price = np.round(
            np.array([MODEL_PRICE[m] for m in o_model]) * rng.uniform(0.85, 1.02, n_o), -2
        )
        # buyers' take-up: align finance with the vehicle table for delivered buyers
        buyer_pos = {r: i for i, r in enumerate(buyers)}
        o_fin = np.array(
            [
                fin[buyer_pos[r]] if r in buyer_pos else rng.random() < p.finance_rate
                for r in o_rows
            ],
            bool,
        )
        o_ins = np.array(
            [
                ins_taken[buyer_pos[r]] if r in buyer_pos else rng.random() < p.insurance_rate
                for r in o_rows
            ],
            bool,
        )
        acc = rng.random(n_o) < p.accessories_rate
        acc_amt = np.where(acc, np.round(rng.gamma(2.5, 3000, n_o), 0), 0.0)
        ew = rng.random(n_o) < p.extended_warranty_rate
        ti = rng.random(n_o) < p.trade_in_rate
        delivered = L["deliver"].to_numpy()[o_rows]
        t_del = L["t_deliver"].to_numpy("datetime64[s]")[o_rows]
        orders_all = pd.DataFrame(
            {
                "order_id": _ids(f"{d}-O", n_o),
                "row": o_rows,
                "lead_id": L["lead_id"].to_numpy()[o_rows],
                "customer_id": L["customer_id"].to_numpy()[o_rows],
                "vin": np.where(
                    delivered,
                    np.array(
                        [vin[buyer_pos[r]] if r in buyer_pos else None for r in o_rows],
                        dtype=object,
                    ),
                    None,
                ),
                "model": o_model,
                "ordered_at": L["t_order"].to_numpy("datetime64[s]")[o_rows],
                "delivered_at": np.where(delivered, t_del, np.datetime64("NaT")),
                "cancelled": ~delivered,
                "price": price,
                "vehicle_margin": np.round(price * rng.normal(0.015, 0.02, n_o), 0),
                "finance": o_fin,
                "finance_margin": np.where(o_fin, np.round(rng.gamma(6, 600, n_o), 0), 0.0),
                "insurance": o_ins,
                "insurance_margin": np.where(
                    o_ins, np.round(rng.normal(1000, 150, n_o).clip(300), 0), 0.0
                ),
                "accessories_amount": acc_amt,
                "accessories_margin": np.round(acc_amt * 0.38, 0),
                "extended_warranty": ew,
                "extended_warranty_margin": np.where(
                    ew, np.round(rng.normal(1600, 200, n_o).clip(500), 0), 0.0
                ),
                "trade_in": ti,
                "trade_in_margin": np.where(ti, np.round(rng.normal(2500, 2500, n_o), 0), 0.0),
            }
        )
        # -- surveys ------------------------------------------------------------------------------
        srv = []
        b_pos = np.arange(len(buyers))
        di = b_pos[rng.random(len(buyers)) < 0.75]
        lead_rows = buyers[di]
        pers = persona[lead_rows]
        true_ch = L["channel"].to_numpy()[lead_rows]
        recalled = np.where(
            rng.random(len(di)) < 0.8, true_ch, _choice(rng, schema.CHANNELS, len(di))
        )
        srv.append(
            pd.DataFrame(
                {
                    "customer_id": L["customer_id"].to_numpy()[lead_rows],
                    "lead_id": L["lead_id"].to_numpy()[lead_rows],
                    "at": _shop_hours(
                        rng,
                        L["t_deliver"].to_numpy("datetime64[s]")[lead_rows]
                        + _days(rng.uniform(1, 7, len(di))),
                        self.open_h,
                        self.close_h,
                    ),
                    "kind": "delivery_interview",
                    "score": np.round(np.clip(sat[di] + rng.normal(0, 0.6, len(di)), 0, 10), 1),
                    "recalled_channel": recalled,
                    "use": _persona_draw(rng, pers, schema.USES, 4),
                    "media_seen": _persona_draw(rng, pers, schema.MEDIA, 5, size=2),
                    "staff_id": L["consultant_id"].to_numpy()[lead_rows],
                }
            )
        )
        # defeated-customer survey
        lost = np.flatnonzero(L["visit"].to_numpy() & ~L["order"].to_numpy())
        ds = lost[rng.random(len(lost)) < 0.3]
        srv.append(
            pd.DataFrame(
                {
                    "customer_id": L["customer_id"].to_numpy()[ds],
                    "lead_id": L["lead_id"].to_numpy()[ds],
                    "at": _shop_hours(
                        rng,
                        L["t_visit1"].to_numpy("datetime64[s]")[ds]
                        + _days(rng.uniform(35, 60, len(ds))),
                        self.open_h,
                        self.close_h,
                    ),
                    "kind": "defeated_survey",
                    "score": np.round(np.clip(rng.normal(6.5, 1.8, len(ds)), 0, 10), 1),
                    "recalled_channel": np.where(
                        rng.random(len(ds)) < 0.7,
                        L["channel"].to_numpy()[ds],
                        _choice(rng, schema.CHANNELS, len(ds)),
                    ),
                    "use": None,
                    "media_seen": None,
                    "staff_id": L["consultant_id"].to_numpy()[ds],
                }
            )
        )
        # service satisfaction after some visits
        ss = rng.random(len(SV)) < 0.25
        srv.append(
            pd.DataFrame(
                {
                    "customer_id": SV["customer_id"].to_numpy()[ss],
                    "lead_id": None,
                    "at": SV["at"].to_numpy("datetime64[s]")[ss]
                    + _days(rng.uniform(1, 5, int(ss.sum()))),
                    "kind": "service_satisfaction",
                    "score": np.round(
                        np.clip(
                            sat[SV["owner"].to_numpy()[ss]] + rng.normal(0, 0.8, int(ss.sum())),
                            0,
                            10,
                        ),
                        1,
                    ),
                    "recalled_channel": None,
                    "use": None,
                    "media_seen": None,
                    "staff_id": SV["advisor_id"].to_numpy()[ss],
                }
            )
        )
        srv.extend(self._sales_surveys(buyers, sat[b_pos]))
        S = pd.concat(srv, ignore_index=True)
        # -- complaints and solicitations (touchpoints without a lead) --------------------------------
        comp_rows = np.flatnonzero(complaint & ~np.isnat(svc_start))
        comp_at = _shop_hours(
            rng,
            svc_start[comp_rows] + _days(rng.uniform(10, 300, len(comp_rows))),
            self.open_h,
            self.close_h,
        )
        ok = comp_at < drop[comp_rows]
        comp_rows, comp_at = comp_rows[ok], comp_at[ok]
        extra_tp = [
            pd.DataFrame(
                {
                    "customer_id": C["customer_id"].to_numpy()[owner_idx[comp_rows]],
                    "lead_id": None,
                    "kind": "complaint",
                    "channel": None,
                    "at": comp_at,
                    "outcome": np.where(resolved[comp_rows], "resolved", "unresolved"),
                    "dwell_minutes": np.nan,
                    "staff_id": _choice(rng, advisors, len(comp_rows)),
                }
            )
        ]
        # insurance-renewal solicitation calls a month before expiry
        # (a stream of its own: which policies are known must not reshuffle the other tables)
        srng = np.random.default_rng(np.random.SeedSequence([cfg.seed, self.index, 2]))
        sol = P[P["end"] <= self.as_of + _days(31)]
        sol = sol[srng.random(len(sol)) < 0.7]
        extra_tp.append(
            pd.DataFrame(
                {
                    "customer_id": sol["customer_id"].to_numpy(),
                    "lead_id": None,
                    "kind": "solicitation",
                    "channel": None,
                    "at": _shop_hours(
                        srng,
                        sol["end"].to_numpy("datetime64[s]")
                        - _days(srng.uniform(20, 40, len(sol))),
                        self.open_h,
                        self.close_h,
                    ),
                    "outcome": np.where(
                        sol["end"].to_numpy("datetime64[s]") > self.as_of,
                        "pending",
                        np.where(sol["sold_by_this_dealer"].to_numpy(), "renewed", "not_renewed"),
                    ),
                    "dwell_minutes": np.nan,
                    "staff_id": None,
                }
            )
        )
        # -- assemble lead table and statuses as of as_of ----------------------------------------
        as_of = self.as_of
        ev = ev[ev["at"] <= as_of]
        last_ev = ev.groupby("row")["at"].max()
        order_seen = L["order"].to_numpy() & (L["t_order"].to_numpy("datetime64[s]") <= as_of)
        last = last_ev.reindex(np.arange(n_leads)).to_numpy("datetime64[s]")
        last = np.where(np.isnat(last), lead_created, last)
        idle_days = (as_of - last) / DAY
        defeated = ~order_seen & (idle_days > 45)
        closed_at = np.where(
            order_seen,
            L["t_order"].to_numpy("datetime64[s]"),
            np.where(defeated, last + _days(np.full(n_leads, 45.0)), np.datetime64("NaT")),
        )
        status = np.where(order_seen, "won", np.where(defeated, "defeated", "open"))
        reason = np.where(
            defeated,
            _choice(
                rng, schema.DEFEAT_REASONS, n_leads, [0.24, 0.22, 0.16, 0.14, 0.06, 0.12, 0.06]
            ),
            None,
        )
        # intent grade recorded at the first contact: a noisy read of the true order propensity
        p_ord_total = L["p_visit"] * L["p_quote"] * L["p_order"]
        noisy = np.log(p_ord_total / (1 - p_ord_total)) + rng.normal(0, p.grade_noise, n_leads)
        grade = np.select([noisy > -0.4, noisy > -1.6, noisy > -2.8], ["H", "A", "B"], default="C")
        grade = np.where(rng.random(n_leads) < 0.05, None, grade)  # some leads never graded
        leads = pd.DataFrame(
            {
                "dealer_id": d,
                "lead_id": L["lead_id"],
                "customer_id": L["customer_id"],
                "channel": L["channel"],
                "model_interest": L["model"],
                "created_at": lead_created,
                "consultant_id": L["consultant_id"],
                "intent_grade": grade,
                "status": status,
                "closed_at": closed_at,
                "defeat_reason": reason,
            }
        )
        # -- touchpoints -----------------------------------------------------------------------------
        staff_for = L["consultant_id"].to_numpy()
        dcc = staff.loc[staff["role"] == "dcc", "staff_id"].to_numpy()
        tp_lead = pd.DataFrame(
            {
                "customer_id": L["customer_id"].to_numpy()[ev["row"]],
                "lead_id": L["lead_id"].to_numpy()[ev["row"]],
                "kind": ev["kind"].to_numpy(),
                "channel": ev["channel"].to_numpy(),
                "at": ev["at"].to_numpy("datetime64[s]"),
                "outcome": ev["outcome"].to_numpy(),
                "dwell_minutes": ev["dwell_minutes"].to_numpy(),
                "staff_id": np.where(
                    ev["kind"].to_numpy() == "invitation",
                    _choice(rng, dcc, len(ev)),
                    staff_for[ev["row"]],
                ),
            }
        )
        tp_lead.loc[tp_lead["kind"] == "inquiry", "staff_id"] = None
        tp = pd.concat([tp_lead] + extra_tp, ignore_index=True)
        tp = (
            tp[tp["at"] <= as_of]
            .sort_values(["at", "customer_id", "kind"], kind="stable")
            .reset_index(drop=True)
        )
        tp.insert(0, "touch_id", _ids(f"{d}-T", len(tp), width=7))
        tp.insert(0, "dealer_id", d)
        # -- visitor log (truth: every real arrival) ------------------------------------------------
        vis = tp[tp["kind"] == "visit"]
        cust_pos = pd.Series(np.arange(len(C)), index=C["customer_id"])
        arrivals = [
            pd.DataFrame(
                {
                    "cpos": cust_pos[vis["customer_id"]].to_numpy(),
                    "at": vis["at"].to_numpy("datetime64[s]"),
                    "reason": "sales",
                    "touch_id": vis["touch_id"].to_numpy(),
                    "staff_id": vis["staff_id"].to_numpy(),
                }
            ),
        ]
        dl = tp[tp["kind"] == "delivery"]
        arrivals.append(
            pd.DataFrame(
                {
                    "cpos": cust_pos[dl["customer_id"]].to_numpy(),
                    "at": dl["at"].to_numpy("datetime64[s]"),
                    "reason": "delivery",
                    "touch_id": None,
                    "staff_id": dl["staff_id"].to_numpy(),
                }
            )
        )
        svc_log = SV[(SV["at"] <= as_of) & (SV["at"] >= self.start)]
        svc_log = svc_log[
            rng.random(len(svc_log)) < 0.5
        ]  # half the service arrivals pass the showroom desk
        arrivals.append(
            pd.DataFrame(
                {
                    "cpos": cust_pos[svc_log["customer_id"]].to_numpy(),
                    "at": svc_log["at"].to_numpy("datetime64[s]"),
                    "reason": "service",
                    "touch_id": None,
                    "staff_id": None,
                }
            )
        )
        A = pd.concat(arrivals, ignore_index=True)
        A["at"] = A["at"].to_numpy("datetime64[s]") - _days(rng.uniform(0, 10, len(A)) / 1440.0)
        A["true_customer"] = C["customer_id"].to_numpy()[A["cpos"].to_numpy()]
        # -- defects ---------------------------------------------------------------------------------
        dr = cfg.defects
        # a bought-elsewhere owner enters the DMS at the first visit here
        in_dms = C["created_at"].to_numpy("datetime64[s]") <= as_of
        in_dms[n_leads + n_pre :] &= else_first <= as_of
        A, C, tp, extra_customers = self._inject(dr, A, C, tp, staff, np.flatnonzero(in_dms))
        # -- assemble tables -------------------------------------------------------------------------
        cust = pd.concat([C, extra_customers], ignore_index=True)
        customers = pd.DataFrame(
            {
                "dealer_id": d,
                "customer_id": cust["customer_id"],
                "name": cust["name"],
                "phone": cust["phone"],
                "gender": cust["gender"],
                "birth_year": pd.array(
                    cust["birth_year"].where(cust["birth_year"] > 0), dtype="Int64"
                ),
                "city": cust["city"],
                "industry": cust["industry"],
                "hobbies": cust["hobbies"],
                "distance_km": cust["distance_km"],
                "created_at": cust["created_at"],
            }
        )
        unknown = set(C["customer_id"].to_numpy()[~in_dms])
        customers = customers[
            (customers["created_at"] <= as_of) & ~customers["customer_id"].isin(unknown)
        ]
        veh = pd.DataFrame(
            {
                "dealer_id": d,
                "vin": vin,
                "customer_id": C["customer_id"].to_numpy()[owner_idx],
                "model": own_models,
                "purchase_date": purchase,
                "sold_by_this_dealer": here,
                "warranty_end": warranty_end,
                "finance_end": finance_end,
                "recall_campaign": recall_code,
            }
        )
        veh = veh[known_from <= as_of]
        orders = orders_all[orders_all["ordered_at"] <= as_of].copy()
        orders["delivered_at"] = orders["delivered_at"].where(orders["delivered_at"] <= as_of)
        orders["vin"] = orders["vin"].where(orders["delivered_at"].notna())
        orders["status"] = np.where(
            orders["delivered_at"].notna(),
            "delivered",
            np.where(
                orders["cancelled"] & (orders["ordered_at"] + pd.Timedelta(days=30) <= as_of),
                "cancelled",
                "pending",
            ),
        )
        orders = orders.drop(columns=["row", "cancelled"])
        orders.insert(0, "dealer_id", d)
        sv = (
            SV[(SV["at"] <= as_of) & (SV["at"] >= self.start)]
            .drop(columns=["owner"])
            .sort_values(["at", "vin"], kind="stable")
            .reset_index(drop=True)
        )
        sv.insert(0, "ro_id", _ids(f"{d}-R", len(sv), width=7))
        sv.insert(0, "dealer_id", d)
        pol = (
            P[P["start"] <= as_of]
            .sort_values(["start", "vin"], kind="stable")
            .reset_index(drop=True)
        )
        pol.insert(0, "policy_id", _ids(f"{d}-P", len(pol), width=7))
        pol.insert(0, "dealer_id", d)
        S = (
            S[(S["at"] <= as_of) & (S["at"] >= self.start)]
            .sort_values(["at", "customer_id"], kind="stable")
            .reset_index(drop=True)
        )
        S.insert(0, "survey_id", _ids(f"{d}-Q", len(S), width=7))
        S.insert(0, "dealer_id", d)
        A = A[A["at"] <= as_of].sort_values("at", kind="stable").reset_index(drop=True)
        A["entry_id"] = _ids(f"{d}-V", len(A), width=7)
        vlog = A[
            ["entry_id", "at", "log_name", "log_phone", "party_size", "reason", "staff_id"]
        ].rename(columns={"log_name": "name", "log_phone": "phone"})
        vlog.insert(0, "dealer_id", d)
        # channel costs per month: fixed + per lead
        months = pd.period_range(
            pd.Timestamp(self.start).to_period("M"), pd.Timestamp(as_of).to_period("M"), freq="M"
        )
        lm = pd.DataFrame(
            {"channel": leads["channel"], "month": leads["created_at"].dt.to_period("M")}
        ).value_counts()
        grid = pd.MultiIndex.from_product(
            [list(schema.CHANNELS), months], names=["channel", "month"]
        )
        cnt = lm.reindex(grid, fill_value=0).to_numpy()
        ch_arr = grid.get_level_values(0).to_numpy()
        cost = (
            np.array([CHANNEL_COST_FIXED[c] for c in ch_arr]) * rng.uniform(0.8, 1.2, len(grid))
            + np.array([CHANNEL_COST_PER_LEAD[c] for c in ch_arr]) * cnt
        )
        costs = pd.DataFrame(
            {
                "dealer_id": d,
                "channel": ch_arr,
                "month": grid.get_level_values(1).to_timestamp(),
                "cost": np.round(cost, 0),
            }
        )
        tables = {
            "staff": staff,
            "customers": customers.reset_index(drop=True),
            "vehicles": veh.reset_index(drop=True),
            "leads": leads,
            "touchpoints": tp,
            "orders": orders.reset_index(drop=True),
            "service_visits": sv,
            "insurance_policies": pol,
            "surveys": S,
            "visitor_log": vlog,
            "channel_costs": costs,
        }
        for name, frame in tables.items():
            tables[name] = frame[schema.columns(name)].reset_index(drop=True)
        # -- truth -------------------------------------------------------------------------------------
        ctruth = pd.DataFrame(
            {
                "customer_id": C["customer_id"],
                "kind": C["kind"],
                "persona": C["persona"],
                "true_distance_km": C["true_distance_km"],
            }
        )
        otruth = pd.DataFrame(
            {
                "customer_id": C["customer_id"].to_numpy()[owner_idx],
                "vin": vin,
                "visit_rate": lam,
                "hazard_pre": mu1,
                "hazard_post": mu2,
                "service_start": svc_start,
                "warranty_end": warranty_end,
                "dropout_at": drop,
                "satisfaction": sat,
                "complaint": complaint,
                "complaint_resolved": resolved,
            }
        )
        ctruth = ctruth.merge(otruth, on="customer_id", how="left")
        ltruth = L[
            [
                "lead_id",
                "channel",
                "z",
                "p_visit",
                "p_test_drive",
                "p_quote",
                "p_order",
                "p_deliver",
                "visit",
                "test_drive",
                "quote",
                "order",
                "deliver",
                "t_order",
                "t_deliver",
                "same_day",
            ]
        ].rename(columns={"t_order": "order_at", "t_deliver": "delivery_at"})
        ltruth["order_at"] = ltruth["order_at"].where(ltruth["order"])
        ltruth["delivery_at"] = ltruth["delivery_at"].where(ltruth["deliver"])
        effects = pd.DataFrame(
            {"channel": list(TRUE_CHANNEL_EFFECTS), "effect": list(TRUE_CHANNEL_EFFECTS.values())}
        ).merge(self.channel_truth, on="channel", how="left")
        effects["orders_lost_per_journey"] = effects["orders_lost"] / effects["journeys"].where(
            effects["journeys"] > 0
        )
        defects = pd.DataFrame(self.defects, columns=["defect", "table", "row_id", "detail"])
        prof = asdict(self.p)
        prof["channel_mix"] = ";".join(f"{k}={v}" for k, v in prof["channel_mix"].items())
        truth = {
            "customers": ctruth,
            "leads": ltruth,
            "channel_effects": effects,
            "defects": defects,
            "dealer": pd.DataFrame([prof]),
            "visitor_log": A[["entry_id", "true_customer", "touch_id"]].rename(
                columns={"true_customer": "customer_id"}
            ),
        }
        meta = {
            "dealer_id": d,
            "name": p.name,
            "city": p.city,
            "region": p.region,
            "as_of": pd.Timestamp(cfg.as_of).normalize(),
            "opening_hour": self.open_h,
            "closing_hour": self.close_h,
        }
        return meta, tables, truth

    def _sales_surveys(self, buyers: np.ndarray, buyer_sat: np.ndarray) -> list[pd.DataFrame]:
        """Sales satisfaction after delivery and the intended-customer survey after a first visit.

        Drawn from a stream of their own, so adding them left every other table unchanged.
        """
        rng = np.random.default_rng(np.random.SeedSequence([self.cfg.seed, self.index, 1]))
        L = self.L
        lead = L["lead_id"].to_numpy()
        cust = L["customer_id"].to_numpy()
        cons = L["consultant_id"].to_numpy()
        # sales satisfaction (CSI) of buyers, rated on the consultant, 1-3 weeks after delivery
        pick = rng.random(len(buyers)) < 0.6
        rows = buyers[pick]
        sales = pd.DataFrame(
            {
                "customer_id": cust[rows],
                "lead_id": lead[rows],
                "at": _shop_hours(
                    rng,
                    L["t_deliver"].to_numpy("datetime64[s]")[rows]
                    + _days(rng.uniform(7, 21, len(rows))),
                    self.open_h,
                    self.close_h,
                ),
                "kind": "sales_satisfaction",
                "score": np.round(
                    np.clip(
                        buyer_sat[pick]
                        + 0.3 * L["skill"].to_numpy()[rows]
                        + rng.normal(0, 0.7, len(rows)),
                        0,
                        10,
                    ),
                    1,
                ),
                "recalled_channel": None,
                "use": None,
                "media_seen": None,
                "staff_id": cons[rows],
            }
        )
        # intended-customer survey of visitors, buyers or not: which channel brought them
        visited = np.flatnonzero(L["visit"].to_numpy())
        rows = visited[rng.random(len(visited)) < 0.35]
        true_ch = L["channel"].to_numpy()[rows]
        intent = pd.DataFrame(
            {
                "customer_id": cust[rows],
                "lead_id": lead[rows],
                "at": _shop_hours(
                    rng,
                    L["t_visit1"].to_numpy("datetime64[s]")[rows]
                    + _days(rng.uniform(2, 10, len(rows))),
                    self.open_h,
                    self.close_h,
                ),
                "kind": "intent_survey",
                "score": np.round(
                    np.clip(
                        rng.normal(7.8, 1.3, len(rows)) + 0.5 * L["skill"].to_numpy()[rows], 0, 10
                    ),
                    1,
                ),
                "recalled_channel": np.where(
                    rng.random(len(rows)) < 0.75, true_ch, _choice(rng, schema.CHANNELS, len(rows))
                ),
                "use": None,
                "media_seen": None,
                "staff_id": cons[rows],
            }
        )
        return [sales, intent]

    def _inject(self, dr: DefectRates, A, C, tp, staff, in_dms: np.ndarray):
        """Inject data-quality defects; every one is recorded in ``self.defects``."""
        rng = self.rng
        d = self.did
        C = C.copy()
        n_c = len(in_dms)  # defect rates are fractions of the customers in the DMS
        # visitor-log presentation of the true person (names in mixed scripts, missing phones)
        cpos = A["cpos"].to_numpy()
        form = rng.random(len(A))
        sur = np.array([n[0] for n in C["name"].to_numpy()], dtype=object)
        gender = C["gender"].to_numpy()
        title = np.where(gender[cpos] == "M", "先生", "女士")
        py = C["pinyin"].to_numpy()[cpos]
        eng = _choice(rng, _ENGLISH, len(A))
        name_log = np.where(
            form < 0.6,
            C["name"].to_numpy()[cpos],
            np.where(
                form < 0.82,
                sur[cpos] + title,
                np.where(
                    form < 0.95,
                    py,
                    np.array(
                        [f"{e} {p.split()[0]}" for e, p in zip(eng, py, strict=True)], dtype=object
                    ),
                ),
            ),
        )
        phone_log = np.where(rng.random(len(A)) < 0.8, C["phone"].to_numpy()[cpos], None)
        A = A.assign(
            log_name=name_log,
            log_phone=phone_log,
            party_size=1 + rng.poisson(0.7, len(A)).clip(0, 6),
        )
        # 1) unregistered walk-ins: arrivals of people the DMS never registered
        n_sales = int((A["reason"] == "sales").sum())
        n_unreg = int(round(dr.unregistered_walk_in * n_sales))
        if n_unreg:
            people = self.people(n_unreg, np.full(n_unreg, self.start))
            at = _shop_hours(
                rng,
                self.start + _days(rng.uniform(0, (self.as_of - self.start) / DAY, n_unreg)),
                self.open_h,
                self.close_h,
            )
            form = rng.random(n_unreg)
            nm = np.where(
                form < 0.6,
                people["name"],
                np.where(form < 0.85, people["name"].str[0] + "先生", people["pinyin"]),
            )
            cons = self.consultants_at(at)
            U = pd.DataFrame(
                {
                    "cpos": -1,
                    "at": at,
                    "reason": "sales",
                    "touch_id": None,
                    "staff_id": cons,
                    "true_customer": None,
                    "log_name": nm,
                    "log_phone": np.where(rng.random(n_unreg) < 0.6, people["phone"], None),
                    "party_size": 1 + rng.poisson(0.7, n_unreg).clip(0, 6),
                    "unregistered": True,
                }
            )
            A = pd.concat([A.assign(unregistered=False), U], ignore_index=True)
        else:
            A = A.assign(unregistered=False)
        # 2) phantom DMS visits: visit records with no front-desk arrival
        vis = tp.index[(tp["kind"] == "visit").to_numpy()]
        n_ph = int(round(dr.phantom_visit * len(vis)))
        phantom_ids: list[str] = []
        if n_ph:
            # a consultant pads an open or defeated lead with a visit that never happened
            src = tp.loc[rng.choice(vis, n_ph, replace=False)]
            shift = _days(rng.uniform(2, 20, n_ph))
            ph = src.copy()
            ph["at"] = _shop_hours(
                rng, ph["at"].to_numpy("datetime64[s]") + shift, self.open_h, self.close_h
            )
            ph = ph[ph["at"] <= self.as_of]
            ph["outcome"] = "repeat"
            ph["touch_id"] = _ids(f"{d}-T", len(ph), start=len(tp), width=7)
            phantom_ids = ph["touch_id"].tolist()
            tp = pd.concat([tp, ph], ignore_index=True)
            for t in phantom_ids:
                self.defects.append(
                    {"defect": "phantom_visit", "table": "touchpoints", "row_id": t, "detail": ""}
                )
        # 3) missing stage records: visit / test drive / quote rows the consultant never entered
        stage = tp.index[
            tp["kind"].isin(["visit", "test_drive", "quote"]).to_numpy()
            & ~tp["touch_id"].isin(phantom_ids).to_numpy()
        ]
        n_miss = int(round(dr.missing_stage * len(stage)))
        if n_miss:
            gone = rng.choice(stage, n_miss, replace=False)
            for t, lid, k in tp.loc[gone, ["touch_id", "lead_id", "kind"]].itertuples(index=False):
                self.defects.append(
                    {
                        "defect": "missing_stage",
                        "table": "touchpoints",
                        "row_id": t,
                        "detail": f"{lid}:{k}",
                    }
                )
            gone_ids = set(tp.loc[gone, "touch_id"])
            tp = tp.drop(index=gone)
            # the arrival stays in the visitor log; it no longer points at a DMS record
            A.loc[A["touch_id"].isin(gone_ids), "touch_id"] = None
        # 4) typo'd phones in the DMS (the visitor log keeps the true number)
        n_typo = int(round(dr.typo_phone * n_c))
        if n_typo:
            pos = rng.choice(in_dms, n_typo, replace=False)
            for i in pos:
                ph = C.at[i, "phone"]
                j = int(rng.integers(3, 11))
                new = str((int(ph[j]) + int(rng.integers(1, 10))) % 10)
                C.at[i, "phone"] = ph[:j] + new + ph[j + 1 :]
                self.defects.append(
                    {
                        "defect": "typo_phone",
                        "table": "customers",
                        "row_id": C.at[i, "customer_id"],
                        "detail": ph,
                    }
                )
        # 5) staff phones entered as customers
        n_sp = int(round(dr.staff_phone * n_c))
        if n_sp:
            pos = rng.choice(in_dms, n_sp, replace=False)
            sp = _choice(rng, staff["phone"].to_numpy(), n_sp)
            for i, ph in zip(pos, sp, strict=True):
                C.at[i, "phone"] = ph
                self.defects.append(
                    {
                        "defect": "staff_phone",
                        "table": "customers",
                        "row_id": C.at[i, "customer_id"],
                        "detail": ph,
                    }
                )
        extra = []
        # 6) duplicate customers: the same person entered again under a new id
        n_dup = int(round(dr.duplicate_customer * n_c))
        if n_dup:
            pos = rng.choice(in_dms, n_dup, replace=False)
            dup = C.iloc[pos].copy()
            dup["customer_id"] = _ids(f"{d}-C", n_dup, start=len(C))
            dup["created_at"] = np.minimum(
                dup["created_at"].to_numpy("datetime64[s]") + _days(rng.uniform(1, 300, n_dup)),
                self.as_of,
            )
            # sometimes the second entry has a space or a +86 prefix in the phone
            fmt = rng.random(n_dup)
            dup["phone"] = np.where(
                fmt < 0.2,
                "+86 " + dup["phone"].astype(str),
                np.where(
                    fmt < 0.35,
                    dup["phone"].astype(str).str[:3] + " " + dup["phone"].astype(str).str[3:],
                    dup["phone"],
                ),
            )
            for new, old in zip(dup["customer_id"], C["customer_id"].to_numpy()[pos], strict=True):
                self.defects.append(
                    {
                        "defect": "duplicate_customer",
                        "table": "customers",
                        "row_id": new,
                        "detail": old,
                    }
                )
            extra.append(dup)
        # 7) placeholder / test records
        n_pl = int(round(dr.placeholder * n_c))
        if n_pl:
            pl = self.people(
                n_pl,
                _shop_hours(
                    rng,
                    self.start + _days(rng.uniform(0, (self.as_of - self.start) / DAY, n_pl)),
                    self.open_h,
                    self.close_h,
                ),
            )
            pl["customer_id"] = _ids(f"{d}-X", n_pl)
            kind = rng.random(n_pl)
            pl["phone"] = np.where(kind < 0.6, _choice(rng, PLACEHOLDER_PHONES, n_pl), pl["phone"])
            pl["name"] = np.where(kind >= 0.4, _choice(rng, PLACEHOLDER_NAMES, n_pl), pl["name"])
            for cid in pl["customer_id"]:
                self.defects.append(
                    {"defect": "placeholder", "table": "customers", "row_id": cid, "detail": ""}
                )
            extra.append(pl)
        # 8) missing visitor-log days
        days = pd.DatetimeIndex(A["at"]).normalize()
        uniq = np.unique(days.to_numpy())
        n_md = int(round(dr.missing_log_day * len(uniq)))
        if n_md:
            gone_days = rng.choice(uniq, n_md, replace=False)
            gone = days.isin(gone_days)
            for g in np.sort(gone_days):
                self.defects.append(
                    {
                        "defect": "missing_log_day",
                        "table": "visitor_log",
                        "row_id": str(pd.Timestamp(g).date()),
                        "detail": "",
                    }
                )
            A = A[~gone]
        extra_customers = pd.concat(extra, ignore_index=True) if extra else C.iloc[:0]
        return A, C, tp, extra_customers


MODEL_PRICE_ARR = np.array([MODEL_PRICE[m] for m in schema.MODELS])


def simulate_dealer_tables(
    cfg: SimConfig, index: int
) -> tuple[dict, dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Simulate dealer ``index`` of the network ``cfg``: ``(meta, tables, truth)``.

    Tables have canonical columns but are not validated; see :func:`simulate_dealer`.
    """
    sim = _Dealer(cfg, index)
    meta, tables, truth = sim.simulate()
    vt = truth["visitor_log"]
    unreg = vt[vt["customer_id"].isna()]
    truth["defects"] = pd.concat(
        [
            truth["defects"],
            pd.DataFrame(
                {
                    "defect": "unregistered_walk_in",
                    "table": "visitor_log",
                    "row_id": unreg["entry_id"].to_numpy(),
                    "detail": "",
                }
            ),
        ],
        ignore_index=True,
    )
    return meta, tables, truth


def simulate_dealer(
    index: int = 0,
    *,
    customers: int = 2500,
    years: float = 5.0,
    seed: int = 2016,
    as_of: str = "2026-06-30",
    defects: DefectRates | None = None,
    dealer_variation: float = 1.0,
    strict: bool = False,
) -> DealerData:
    """Simulate one dealer and return it validated, with ground truth in ``.truth``.

    Parameters
    ----------
    index
        Dealer index in the network (dealer id ``D{index+1:03d}``); different indices give
        different dealers from the same seed.
    customers, years, seed, as_of, defects, dealer_variation
        See :class:`SimConfig`. ``defects=DefectRates.none()`` gives a clean dealer.
    strict
        Passed to :func:`crm_analytics.data.validation.build_dealer`.
    """
    from crm_analytics.data.validation import build_dealer

    cfg = SimConfig(
        n_dealers=index + 1,
        customers_per_dealer=customers,
        years=years,
        seed=seed,
        as_of=as_of,
        defects=defects if defects is not None else DefectRates(),
        dealer_variation=dealer_variation,
    )
    meta, tables, truth = simulate_dealer_tables(cfg, index)
    return build_dealer(tables, strict=strict, truth=truth, **meta)


def _write_one(args: tuple[SimConfig, int, str]) -> dict:
    cfg, index, out = args
    from crm_analytics.data.store import write_dealer_tables

    meta, tables, truth = simulate_dealer_tables(cfg, index)
    write_dealer_tables(out, meta, tables, truth)
    return {**meta, "rows": int(sum(len(t) for t in tables.values()))}


def simulate_network(
    n_dealers: int = 5,
    customers_per_dealer: int = 2500,
    years: float = 5.0,
    seed: int = 2016,
    out: str | os.PathLike | None = None,
    *,
    as_of: str = "2026-06-30",
    defects: DefectRates | None = None,
    dealer_variation: float = 1.0,
    workers: int | None = None,
) -> pd.DataFrame:
    """Simulate a dealer network and write it as the Parquet network store at ``out``.

    Parameters
    ----------
    n_dealers, customers_per_dealer, years, seed, as_of, defects, dealer_variation
        See :class:`SimConfig`.
    out
        Folder of the network store (created). Required.
    workers
        Processes to use (default: one per core, at most ``n_dealers``). The output does not
        depend on it: each dealer has its own seeded stream and its own files. Workers are
        started with *spawn*, so a script (not a notebook or the console) must make this call
        under ``if __name__ == "__main__":``, as Python's multiprocessing requires, or pass
        ``workers=1``.

    Returns
    -------
    pandas.DataFrame
        The dealers index that was written (``dealers.parquet``).
    """
    from crm_analytics.core.errors import InputError
    from crm_analytics.data.store import write_dealers_index

    if out is None:
        raise InputError("simulate_network needs out=<folder> for the network store")
    if n_dealers < 1 or customers_per_dealer < 50:
        raise InputError("simulate_network needs n_dealers >= 1 and customers_per_dealer >= 50")
    cfg = SimConfig(
        n_dealers=n_dealers,
        customers_per_dealer=customers_per_dealer,
        years=years,
        seed=seed,
        as_of=as_of,
        defects=defects if defects is not None else DefectRates(),
        dealer_variation=dealer_variation,
    )
    out = str(Path(out))
    Path(out).mkdir(parents=True, exist_ok=True)
    jobs = [(cfg, i, out) for i in range(n_dealers)]
    workers = workers or min(os.cpu_count() or 1, n_dealers)
    if workers > 1:
        # spawn, not fork: a forked child inherits the parent's DuckDB and BLAS threads
        # mid-state and can die on start (seen in CI after DuckDB-using tests had run).
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            metas = list(ex.map(_write_one, jobs))
    else:
        metas = [_write_one(j) for j in jobs]
    index = pd.DataFrame(metas).drop(columns=["rows"])
    write_dealers_index(out, index)
    return index


def true_churn_probability(
    truth_customers: pd.DataFrame,
    service_visits: pd.DataFrame,
    cutoff: str | pd.Timestamp,
    *,
    horizon_months: float = 12,
) -> pd.Series:
    """The oracle's churn probability: P(no service visit in the horizon after ``cutoff``).

    The oracle knows each owner's true visit rate and dropout hazards (before and after the
    warranty end) but not whether the owner is still alive: like any model it sees only the
    visit history. With Poisson visits at rate ``lam`` and a piecewise-constant dropout hazard,
    ``P(alive | last visit at t_x, none since)`` follows from the two likelihoods
    ``A = S(t) e^{-lam (t - t_x)}`` and ``B = int_{t_x}^{t} h(u) S(u) e^{-lam (u - t_x)} du``
    (``S`` the survival from ``t_x``), then
    ``P(churn) = (1 - pa) + pa * P(no visit in (t, t + w] | alive at t)``.

    Parameters
    ----------
    truth_customers
        ``DealerData.truth['customers']`` (needs visit_rate, hazard_pre, hazard_post,
        warranty_end, service_start).
    service_visits
        The observed service visits (only those before ``cutoff`` are used).
    cutoff, horizon_months
        The scoring date and the churn window.

    Returns
    -------
    pandas.Series
        Indexed by customer_id (owners whose service started before the cutoff).
    """
    cutoff = pd.Timestamp(cutoff)
    tc = truth_customers.dropna(subset=["visit_rate"]).copy()
    tc = tc[tc["service_start"] <= cutoff]
    sv = service_visits[service_visits["at"] < cutoff]
    last = sv.groupby("customer_id")["at"].max()
    t_x = last.reindex(tc["customer_id"]).to_numpy("datetime64[ns]")
    start = tc["service_start"].to_numpy("datetime64[ns]")
    t_x = np.where(np.isnat(t_x), start, t_x)

    def years(a, b):
        return (b - a) / np.timedelta64(1, "D") / YEAR_DAYS

    lam = tc["visit_rate"].to_numpy()
    m1 = tc["hazard_pre"].to_numpy()
    m2 = tc["hazard_post"].to_numpy()
    w_end = tc["warranty_end"].to_numpy("datetime64[ns]")
    c = np.datetime64(cutoff, "ns")
    T = years(t_x, np.full_like(t_x, c))  # time since last visit
    W = years(t_x, w_end)  # warranty end relative to last visit (may be negative)
    H = horizon_months / 12.0

    def piece(a, b, mu, s0):
        """int_a^b mu * exp(-(mu+lam)(u-a)) du * s0, for b >= a (vectorised)."""
        k = mu + lam
        return s0 * mu / k * (1 - np.exp(-k * np.maximum(b - a, 0)))

    def integral(a, b):
        """int_a^b h(u) S(u) e^{-lam(u-a)} du over [a, b] with a breakpoint at W; S(a)=1."""
        w = np.clip(W, a, b)
        first = piece(a, w, m1, 1.0)
        s_at_w = np.exp(-(m1 + lam) * (w - a))
        second = piece(w, b, m2, s_at_w)
        # if W < a the whole interval is post-warranty: first is zero, second starts at a
        return first + second

    def survival(a, b):
        """S(b)/S(a) * e^{-lam(b-a)} with the breakpoint at W."""
        w = np.clip(W, a, b)
        return np.exp(-(m1 + lam) * (w - a) - (m2 + lam) * (b - w))

    zero = np.zeros_like(T)
    A = survival(zero, T)
    B = integral(zero, T)
    pa = A / (A + B)
    no_visit_alive = survival(T, T + H) + integral(T, T + H)
    churn = (1 - pa) + pa * no_visit_alive
    return pd.Series(
        churn,
        index=pd.Index(tc["customer_id"].to_numpy(), name="customer_id"),
        name="true_churn_probability",
    )
