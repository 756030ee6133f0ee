"""Tests of penetration, the profit decomposition and what-ifs."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.metrics.penetration import (
    profit_decomposition,
    renewal_penetration,
    sales_penetration,
    service_penetration,
    what_if,
)
from crm_analytics.sim import simulate_dealer


@pytest.fixture(scope="module")
def dealer():
    return simulate_dealer(0, customers=1500)


def test_decomposition_reproduces_recorded_gross_profit(dealer):
    dec = profit_decomposition(dealer, period=("2024-01-01", "2025-12-31"))
    ok = dec["check"].notna()
    np.testing.assert_allclose(dec.loc[ok, "check"], dec.loc[ok, "gross_profit"], rtol=1e-9)
    o = dealer.orders[dealer.orders["delivered_at"].between("2024-01-01", "2025-12-31 23:59:59")]
    assert dec.loc[dec["line"] == "vehicle", "contacts"].iloc[0] == len(o)
    assert dec.loc[dec["line"] == "finance", "penetration"].iloc[0] == pytest.approx(
        o["finance"].mean()
    )
    assert dec.loc[dec["line"] == "finance", "gross_profit"].iloc[0] == pytest.approx(
        o["finance_margin"].sum()
    )
    sv = dealer.service_visits[
        dealer.service_visits["at"].between("2024-01-01", "2025-12-31 23:59:59")
    ]
    svc = dec[(dec["business"] == "after_sales") & (dec["line"] != "value_added_items")]
    assert svc["penetration"].sum() == pytest.approx(1.0)  # visit kinds partition the repair orders
    assert svc["gross_profit"].sum() == pytest.approx(sv["margin"].sum())
    assert dec["gross_profit_per_year"].sum() == pytest.approx(
        dec["gross_profit"].sum() / (731 / 365.25)
    )


def test_penetration_recovers_simulator_take_up_rates():
    # big dealer: observed take-up within sampling error of the dealer profile's true rates
    d = simulate_dealer(4, customers=6000)
    prof = d.truth["dealer"].iloc[0]
    sp = sales_penetration(d).set_index("line")
    for line, true in (
        ("accessories", prof["accessories_rate"]),
        ("extended_warranty", prof["extended_warranty_rate"]),
        ("trade_in", prof["trade_in_rate"]),
    ):
        n = sp.loc[line, "contacts"]
        se = np.sqrt(true * (1 - true) / n)
        assert abs(sp.loc[line, "penetration"] - true) < 3.5 * se, line
    sv = service_penetration(d).set_index("line")
    se = np.sqrt(prof["addon_rate"] * (1 - prof["addon_rate"]) / sv.loc["maintenance", "contacts"])
    assert abs(sv.loc["value_added_items", "penetration"] - prof["addon_rate"]) < 3.5 * se


def test_what_if_insurance_renewal_hand_computed(dealer):
    dec = profit_decomposition(dealer, period=("2024-01-01", "2025-12-31"))
    w = what_if(dec, "insurance_renewal", from_=0.35, to=0.50)
    r = dec[dec["line"] == "insurance_renewal"].iloc[0]
    per_year = r["contacts"] / (731 / 365.25)
    expected = per_year * 0.15 * r["unit_margin"]
    assert w["delta_gross_profit_per_year"].iloc[0] == pytest.approx(expected, rel=1e-6)
    assert "from 35% to 50% adds" in w["sentence"].iloc[0]
    # default base is the observed rate; override of the contacts
    w2 = what_if(dec, "finance", to=0.9, contacts_per_year=100)
    f = dec[dec["line"] == "finance"].iloc[0]
    assert w2["delta_gross_profit_per_year"].iloc[0] == pytest.approx(
        100 * (0.9 - f["penetration"]) * f["unit_margin"]
    )
    with pytest.raises(InputError):
        what_if(dec, "no_such_line", to=0.5)
    with pytest.raises(InputError):
        what_if(dec, "finance", to=1.5)


def test_empty_period_gives_nan_with_reason():
    d = DealerData(
        dealer_id="D0", name="empty", city="X", as_of=pd.Timestamp("2025-06-30"), tables={}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dec = profit_decomposition(d, period="2025")
        r = renewal_penetration(d, period="2025")
    assert dec["penetration"].isna().all()
    assert dec["note"].str.startswith("no ").all()
    assert np.isnan(r["penetration"].iloc[0])
    w = what_if(dec, "finance", to=0.5)
    assert np.isnan(w["delta_gross_profit_per_year"].iloc[0])


def _true_rates(customers: int, index: int = 0) -> dict[str, float]:
    """The simulated dealer's take-up probability of each value-added line (the same for every
    consultant and car model in the simulator)."""
    from crm_analytics.sim import SimConfig
    from crm_analytics.sim.context import DealerContext

    cfg = SimConfig(n_dealers=index + 1, customers_per_dealer=customers)
    p = DealerContext.create(cfg, index).p
    return {
        "finance": p.finance_rate,
        "insurance": p.insurance_rate,
        "accessories": p.accessories_rate,
        "extended_warranty": p.extended_warranty_rate,
        "trade_in": p.trade_in_rate,
    }


@pytest.mark.parametrize("by", ["consultant", "model"])
def test_penetration_by_group_against_the_simulator(dealer, by):
    from crm_analytics.metrics.penetration import penetration_by

    period = ("2021-07-01", "2026-06-30")
    out = penetration_by(dealer, by, period=period)
    true = _true_rates(1500)
    whole = sales_penetration(dealer, period=period).set_index("line")
    groups = out[out["group"] != "all"]
    for line, g in groups.groupby("line"):
        # the groups add up to the dealer's own penetration table
        assert g["deliveries"].sum() == whole.at[line, "contacts"]
        assert g["takers"].sum() == whole.at[line, "takers"]
    # the simulator gives every consultant and model the dealer's rate: the 95% intervals
    # cover it, and the homogeneity test finds no difference beyond chance
    big = groups[groups["deliveries"] >= 10]
    rates = big["line"].map(true)
    covered = ((big["ci_low"] <= rates) & (rates <= big["ci_high"])).mean()
    assert len(big) >= 20 and covered >= 0.85, (len(big), covered)
    assert out.groupby("line")["p_value"].first().min() > 0.001
    if by == "model":
        assert set(groups["group"]) <= {"Q50L", "QX50", "QX60", "Q70L", "QX80"}
    else:
        ids = set(dealer.leads["consultant_id"].dropna()) | {"unassigned"}
        assert set(groups["group"]) <= ids


def test_penetration_by_detects_a_consultant_difference(dealer):
    """Finance taken on every order of one consultant's leads: the test flags it."""
    from crm_analytics.metrics.penetration import penetration_by

    cons = dealer.leads.set_index("lead_id")["consultant_id"]
    top = dealer.orders["lead_id"].map(cons).value_counts().index[0]
    o = dealer.orders.copy()
    o.loc[o["lead_id"].map(cons) == top, "finance"] = True
    d = dataclasses.replace(dealer, tables={**dealer.tables, "orders": o})
    out = penetration_by(d, "consultant", period=("2021-07-01", "2026-06-30"))
    fin = out[out["line"] == "finance"].set_index("group")
    assert fin.at[top, "penetration"] == 1.0
    assert fin["p_value"].iloc[0] < 0.001
