"""One dealer's simulation context: its latent profile, time window, random stream, staff
roster and the log of injected defects, shared by every stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crm_analytics.sim.config import BASE_CHANNEL_MIX, DAY, YEAR_DAYS, SimConfig
from crm_analytics.sim.draws import days, draw_names, draw_phones, make_ids, shop_hours

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
        """``mean`` plus a normal spread of ``sd`` (scaled by the variation), clipped."""
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


@dataclass
class DealerContext:
    """What every stage of one dealer's simulation shares.

    ``rng`` is the dealer's main stream ``(seed, index)``; the stages draw from it in a fixed
    order (see :func:`crm_analytics.sim.network.simulate_dealer_tables`), so their order is
    part of the output. ``defects`` collects one record per injected defect.
    """

    cfg: SimConfig
    index: int
    rng: np.random.Generator
    p: DealerProfile
    start: np.datetime64
    as_of: np.datetime64
    open_h: int = 9
    close_h: int = 18
    defects: list[dict] = field(default_factory=list)
    staff: pd.DataFrame = field(default_factory=pd.DataFrame)

    @classmethod
    def create(cls, cfg: SimConfig, index: int) -> DealerContext:
        """Dealer ``index`` of the network ``cfg``: its stream, profile, window and staff."""
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, index]))
        profile = dealer_profile(cfg, index, rng)
        as_of = np.datetime64(
            pd.Timestamp(cfg.as_of).normalize() + pd.Timedelta(hours=23, minutes=59), "s"
        )
        start = np.datetime64(
            pd.Timestamp(cfg.as_of).normalize() - pd.Timedelta(days=round(cfg.years * YEAR_DAYS)),
            "s",
        )
        ctx = cls(cfg=cfg, index=index, rng=rng, p=profile, start=start, as_of=as_of)
        ctx.staff = draw_staff(ctx)
        return ctx

    @property
    def did(self) -> str:
        """The dealer id."""
        return self.p.dealer_id

    def stream(self, k: int) -> np.random.Generator:
        """Side stream ``k`` of this dealer: draws from it leave the main stream unchanged."""
        return np.random.default_rng(np.random.SeedSequence([self.cfg.seed, self.index, k]))

    def in_hours(self, rng: np.random.Generator, dates: np.ndarray) -> np.ndarray:
        """Times on the days of ``dates``, inside the showroom's opening hours."""
        return shop_hours(rng, dates, self.open_h, self.close_h)

    def staff_ids(self, role: str) -> np.ndarray:
        """Staff ids of one role."""
        return self.staff.loc[self.staff["role"] == role, "staff_id"].to_numpy()

    def skill(self) -> dict[str, float]:
        """Consultant id -> latent skill."""
        st = self.staff[self.staff["role"] == "sales_consultant"]
        return dict(zip(st["staff_id"].to_numpy(), st["skill"].to_numpy(), strict=True))

    def consultants_at(self, times: np.ndarray) -> np.ndarray:
        """Assign a consultant employed at each time (uniformly among those employed)."""
        st = self.staff[self.staff["role"] == "sales_consultant"]
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
        return out


def draw_staff(ctx: DealerContext) -> pd.DataFrame:
    """The staff roster: consultants (with latent skill), advisors, reception, DCC, CRM and
    managers; one consultant leaves mid-window and is replaced."""
    rng, p = ctx.rng, ctx.p
    roles = (
        ["sales_consultant"] * p.n_consultants
        + ["service_advisor"] * max(3, p.n_consultants // 2)
        + ["reception"] * 2
        + ["dcc"] * 3
        + ["crm"] * 1
        + ["manager"] * 2
    )
    n = len(roles)
    names, _, _ = draw_names(rng, n)
    hired = ctx.start - days(rng.uniform(30, 2000, n))
    skill = rng.normal(p.consultant_skill_mean, 0.35, n)
    left = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
    roles_a = np.array(roles, dtype=object)
    cons = np.flatnonzero(roles_a == "sales_consultant")
    # one consultant leaves mid-window; a replacement is hired the same month
    leaver = cons[0]
    span = (ctx.as_of - ctx.start) / DAY
    left[leaver] = ctx.start + days(span * rng.uniform(0.55, 0.75))
    roles_a = np.append(roles_a, "sales_consultant")
    names = np.append(names, draw_names(rng, 1)[0])
    hired = np.append(hired, left[leaver] + days(rng.uniform(5, 25)))
    left = np.append(left, np.datetime64("NaT"))
    skill = np.append(skill, rng.normal(p.consultant_skill_mean - 0.2, 0.3))
    n += 1
    df = pd.DataFrame(
        {
            "dealer_id": ctx.did,
            "staff_id": make_ids(f"{ctx.did}-S", n, width=3),
            "name": names,
            "role": roles_a,
            "phone": draw_phones(rng, n),
            "hired_at": hired,
            "left_at": left,
            "skill": np.where(roles_a == "sales_consultant", skill, np.nan).round(3),
        }
    )
    return df
