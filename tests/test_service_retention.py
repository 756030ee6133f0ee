"""Service retention by vehicle-age cohort and the customer-pay / warranty mix, checked against
the simulator's retention oracle and its warranty rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_analytics.core.errors import InputError
from crm_analytics.metrics import service_retention as R
from crm_analytics.metrics.funnel import wilson_interval
from crm_analytics.sim import DefectRates, SimConfig, simulate_dealer_tables
from crm_analytics.sim.truth import true_active_retention

#: share of non-recall visits the simulator draws as warranty work while under warranty
WARRANTY_SHARE = 0.10


@pytest.fixture(scope="module")
def big():
    meta, tables, truth = simulate_dealer_tables(
        SimConfig(customers_per_dealer=10000, defects=DefectRates.none()), 0
    )
    return pd.Timestamp(meta["as_of"]), tables, truth


def test_cohort_retention_matches_the_oracle(big):
    as_of, tables, truth = big
    v, sv = tables["vehicles"], tables["service_visits"]
    r = R.retention_by_vehicle_age(v, sv, as_of=as_of, sold_here_only=True)
    here = v[v["sold_by_this_dealer"]]
    p = true_active_retention(truth["customers"], here["vin"], as_of)
    age = (as_of - here["purchase_date"]) / pd.Timedelta(days=365.25)
    band = pd.cut(age, R.AGE_BANDS_YEARS, right=False)
    true = p.groupby(band.to_numpy(), observed=False).mean().to_numpy()
    assert (r["vehicles"] > 80).all()
    assert ((r["ci_low"] <= true) & (true <= r["ci_high"])).all(), r.assign(truth=true)
    # retention falls with age, clearly from the first band to the oldest
    assert r["ci_high"].iloc[-1] < r["ci_low"].iloc[0]


def test_pay_mix_follows_the_warranty_rule(big):
    as_of, tables, _ = big
    sv, v = tables["service_visits"], tables["vehicles"]
    mix = R.pay_mix(sv, v).set_index("age_band")
    assert mix.loc["all", "repair_orders"] == len(sv)
    assert mix.loc["all", "maker_paid_orders"] == sv["kind"].isin(["warranty", "recall"]).sum()
    # under warranty (three years) a tenth of non-recall visits are warranty work
    for band in ("0-1 y", "1-2 y", "2-3 y"):
        sub = _band_visits(sv, v, band)
        n, k = (sub["kind"] != "recall").sum(), (sub["kind"] == "warranty").sum()
        lo, hi = wilson_interval(k, n)
        assert lo <= WARRANTY_SHARE <= hi, band
    # after it, maker-paid work is recalls only
    for band in ("3-4 y", "4-5 y", "5+ y"):
        sub = _band_visits(sv, v, band)
        assert mix.loc[band, "maker_paid_orders"] == (sub["kind"] == "recall").sum()
        assert not (sub["kind"] == "warranty").any()
    assert mix.loc["0-1 y", "customer_pay_share"] < mix.loc["4-5 y", "customer_pay_share"]


def _band_visits(sv, v, band):
    purchase = v.set_index("vin")["purchase_date"]
    age = (sv["at"] - sv["vin"].map(purchase)) / pd.Timedelta(days=365.25)
    lo, hi = band.removesuffix(" y").replace("+", "-inf").split("-")
    return sv[(age >= float(lo)) & (age < float(hi))]


def test_hand_computed_cohorts_and_mix():
    as_of = pd.Timestamp("2026-06-30")
    v = pd.DataFrame(
        {
            "vin": ["A", "B", "C", "D"],
            "purchase_date": pd.to_datetime(
                ["2025-03-01", "2024-01-01", "2019-01-01", "2026-01-01"]
            ),
            "sold_by_this_dealer": [True, True, False, True],
        }
    )
    sv = pd.DataFrame(
        {
            "vin": ["A", "B", "C", "C"],
            "at": pd.to_datetime(["2026-05-01", "2025-01-01", "2026-02-01", "2025-12-01"]),
            "kind": ["warranty", "maintenance", "repair", "recall"],
            "labor_amount": [100.0, 200.0, 300.0, 50.0],
            "parts_amount": [0.0, 100.0, 100.0, 0.0],
        }
    )
    r = R.retention_by_vehicle_age(v, sv, as_of=as_of).set_index("age_band")
    assert r.loc["1-2 y", ["vehicles", "retained"]].tolist() == [1, 1]  # A; D is too young
    assert r.loc["2-3 y", ["vehicles", "retained"]].tolist() == [1, 0]  # B: last visit old
    assert r.loc["5+ y", ["vehicles", "retained"]].tolist() == [1, 1]
    here = R.retention_by_vehicle_age(v, sv, as_of=as_of, sold_here_only=True)
    assert here["vehicles"].sum() == 2
    mix = R.pay_mix(sv, v).set_index("age_band")
    assert mix.loc["all", ["customer_pay_orders", "maker_paid_orders"]].tolist() == [2, 2]
    assert mix.loc["all", "customer_pay_revenue"] == pytest.approx(700.0)
    assert mix.loc["all", "customer_pay_revenue_share"] == pytest.approx(700.0 / 850.0)
    with pytest.raises(InputError, match="bands"):
        R.pay_mix(sv, v, bands=[3, 1])
    with pytest.raises(InputError, match="purchase_date"):
        R.retention_by_vehicle_age(v.drop(columns="purchase_date"), sv, as_of=as_of)
    assert np.isnan(
        R.pay_mix(sv.iloc[:0], v).set_index("age_band").loc["all", "customer_pay_share"]
    )
