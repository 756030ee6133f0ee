"""Value-chain CLV: the deck's own example, what-if, and per-customer take-up from the records."""

from __future__ import annotations

import numpy as np
import pytest

from crm_analytics.clv import customer_value_chain, value_chain_clv, what_if
from crm_analytics.errors import InputError


def test_deck_example_is_exactly_39870():
    t = value_chain_clv().set_index("line")["value"]
    assert t["first_year_insurance"] == 950
    assert t["service"] == 37_500
    assert t["insurance_renewal"] == 700
    assert t["extension_products"] == 720
    assert t["total"] == 39_870


def test_what_if_renewal_35_to_50_percent():
    # 500 yuan x (50% - 35%) x 1 per year x 4 years = 300 yuan per customer
    assert what_if("insurance_renewal", take_up=0.50) == pytest.approx(300.0)
    with pytest.raises(InputError, match="unknown value-chain line"):
        what_if("tyres", take_up=0.5)


def test_bad_parameters_are_named():
    with pytest.raises(InputError, match="lacks"):
        value_chain_clv({"lines": {"service": {"unit_value": 1}}})
    with pytest.raises(InputError, match="take_up"):
        value_chain_clv(
            {"lines": {"x": {"unit_value": 1, "take_up": 2, "per_year": 1, "years": 1}}}
        )


def test_customer_value_chain_uses_each_customers_own_take_up(dirty_dealer):
    d = dirty_dealer
    v = customer_value_chain(d)
    assert v["customer_id"].is_unique
    assert set(v["customer_id"]) == set(
        d.vehicles.loc[d.vehicles["purchase_date"] <= d.as_of, "customer_id"]
    )
    for col in [c for c in v.columns if c.startswith("take_up_")]:
        x = v[col].dropna()
        assert ((x >= 0) & (x <= 1)).all(), col
    # extension take-up equals the order flag for own-store buyers
    ew = d.orders.groupby("customer_id")["extended_warranty"].any()
    m = v.set_index("customer_id")["take_up_extension_products"].dropna()
    assert (m == ew.reindex(m.index).astype(float)).all()
    # a customer with every take-up at the deck's rate would be worth the deck's value:
    # the formula is the same, checked on the sum of line values
    lines = [c for c in v.columns if c.startswith("value_")]
    np.testing.assert_allclose(v[lines].fillna(0).sum(axis=1), v["value"])
    # higher observed service frequency -> higher service value (monotone in visits)
    r = v[["take_up_service", "value_service"]].dropna().sort_values("take_up_service")
    assert r["value_service"].is_monotonic_increasing
