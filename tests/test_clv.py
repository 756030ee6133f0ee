"""Value-chain CLV: the deck's own example, what-if, and per-customer take-up from the records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_analytics.core.errors import InputError
from crm_analytics.models.clv import customer_value_chain, value_chain_clv, what_if


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


# -- probabilistic CLV, projection, activation list -------------------------------------------
from crm_analytics.models.clv import (  # noqa: E402
    backtest_projection,
    dormant_activation_list,
    fit_base_models,
    probabilistic_clv,
    project_customer_base,
)
from crm_analytics.sim import simulate_dealer  # noqa: E402


@pytest.fixture(scope="module")
def big_dealer():
    return simulate_dealer(2, customers=4000)


def test_projection_backtest_against_what_happened(big_dealer):
    """Projected from two years before as-of, the base's visits fall inside the interval."""
    bt = backtest_projection(
        big_dealer, cutoff=big_dealer.as_of - pd.DateOffset(years=2), months=24, n_sims=200
    )
    done = bt.dropna(subset=["actual_visits"])
    assert len(done) == 24
    inside = (done["actual_visits"] >= done["visits_low"]) & (
        done["actual_visits"] <= done["visits_high"]
    )
    assert inside.mean() >= 0.75, done
    total_err = abs(done["actual_visits"].sum() / done["expected_visits"].sum() - 1)
    assert total_err < 0.10
    m_err = abs(done["actual_margin"].sum() / done["expected_margin"].sum() - 1)
    assert m_err < 0.15
    # the interval is an interval and the expectation lies inside it
    assert (bt["visits_low"] <= bt["expected_visits"]).all() and (
        bt["expected_visits"] <= bt["visits_high"]
    ).all()


def test_clv_is_consistent_with_its_parts(big_dealer):
    m = fit_base_models(big_dealer)
    c = probabilistic_clv(m, horizon_months=36, annual_discount=0.0)
    np.testing.assert_allclose(
        c["clv"], c["expected_visits"] * c["expected_margin_per_visit"], rtol=1e-9
    )
    disc = probabilistic_clv(m, horizon_months=36, annual_discount=0.10)
    assert (disc["clv"] <= c["clv"] + 1e-9).all()
    longer = probabilistic_clv(m, horizon_months=48, annual_discount=0.10)
    assert (longer["clv"] >= disc["clv"] - 1e-9).all()
    # the monthly projection's point forecast is the sum of the customers' expectations
    proj = project_customer_base(m, months=36, n_sims=50)
    assert proj["expected_visits"].sum() == pytest.approx(c["expected_visits"].sum(), rel=1e-9)


def test_true_dropouts_have_lower_p_alive(big_dealer):
    m = fit_base_models(big_dealer)
    c = probabilistic_clv(m).merge(
        big_dealer.truth["customers"][["customer_id", "dropout_at"]], on="customer_id"
    )
    dead = c["dropout_at"] < big_dealer.as_of
    assert c.loc[dead, "p_alive"].mean() < c.loc[~dead, "p_alive"].mean() - 0.2


def test_dormant_activation_list_is_ranked(big_dealer):
    lst = dormant_activation_list(big_dealer)
    assert len(lst) > 0
    assert lst["priority"].dropna().is_monotonic_decreasing
    assert (
        lst["priority"].isna().sum()
        == lst["priority"].iloc[lst["priority"].notna().sum() :].isna().sum()
    )  # unscored last
    assert lst["rank"].tolist() == list(range(1, len(lst) + 1))
    assert lst["customer_id"].is_unique
    assert not {"name", "phone"} & set(lst.columns)


def test_projection_simulation_agrees_with_the_closed_form(big_dealer):
    """The interval's simulation (each customer alive visiting as a Poisson process and dropping
    out after a visit) against the BG/NBD conditional expectations: with the parameters held
    at their estimates (no sampling uncertainty), the middle of the simulated visits of each
    month is the point forecast within the simulation's error."""
    models = fit_base_models(big_dealer)
    models.count.covariance_ = models.count.covariance_ * 0.0
    proj = project_customer_base(models, months=24, n_sims=400, level=0.02)
    middle = (proj["visits_low"] + proj["visits_high"]) / 2
    rel = (middle - proj["expected_visits"]).abs() / proj["expected_visits"]
    assert rel.max() < 0.03, rel.round(4).tolist()
    # and the spread is the Poisson-like spread of a sum of many customers, not zero
    wide = project_customer_base(models, months=24, n_sims=400, level=0.8)
    width = wide["visits_high"] - wide["visits_low"]
    assert (width > 0.5 * np.sqrt(wide["expected_visits"])).all()


def test_projection_survives_a_covariance_that_is_not_positive_semidefinite(clean_dealer):
    """A small dealer's BG/NBD fit can end with a covariance that is not positive semidefinite
    (or not finite); the projection then used to stop with numpy's 'a <= 0'."""
    models = fit_base_models(clean_dealer)
    cov = models.count.covariance_.copy()
    cov.iloc[0, 1] = cov.iloc[1, 0] = 10 * np.sqrt(abs(cov.iloc[0, 0] * cov.iloc[1, 1])) + 1
    models.count.covariance_ = cov
    assert np.linalg.eigvalsh(cov.to_numpy()).min() < 0
    proj = project_customer_base(models, months=3, n_sims=20)
    assert np.isfinite(proj[["visits_low", "visits_high"]].to_numpy()).all()
    models.count.covariance_ = cov * np.nan
    proj = project_customer_base(models, months=3, n_sims=20)
    assert np.isfinite(proj[["visits_low", "visits_high"]].to_numpy()).all()
    # a parameter the data do not identify (log standard error in the thousands)
    theta = models.count.params_.to_numpy(float)
    huge = np.diag((theta * np.array([0.1, 0.1, 3e4, 0.1])) ** 2)
    models.count.covariance_ = pd.DataFrame(huge, index=cov.index, columns=cov.columns)
    proj = project_customer_base(models, months=3, n_sims=20)
    assert np.isfinite(proj[["visits_low", "visits_high"]].to_numpy()).all()


def test_the_reports_renewal_what_if_on_a_dealer(big_dealer):
    """The report's renewal section: the dealer's own sBG fit, its mean renewal margin, the
    first policies sold in the period, and the what-if that lifts the first renewal by the
    renewal KPI's own gap to target (none when the KPI meets it); its sentences in zh/en."""
    from crm_analytics.models.renewal import fit_dealer_renewal
    from crm_analytics.report.analysis import _renewal
    from crm_analytics.report.views_report import renewal_lines

    d = big_dealer
    period = (d.as_of - pd.DateOffset(years=1) + pd.Timedelta(days=1), d.as_of)
    m = fit_dealer_renewal(d)
    first = float(m.retention_rate(1))
    r = _renewal(d, period, target=0.5, rate=0.4)
    pol = d.insurance_policies
    sold = pol[pol["sold_by_this_dealer"]]
    assert r["vehicles"] == m.n_customers_
    assert r["unit_margin"] == pytest.approx(sold.loc[sold["renewal"], "margin"].mean())
    new = ~sold["renewal"] & (sold["start"] >= period[0])
    assert r["new_customers"] == int(new.sum()) > 0
    assert r["first_rate"] == pytest.approx(first)
    assert r["target_rate"] == pytest.approx(first * 0.5 / 0.4)  # the KPI's gap, 25% up
    assert r["expected_at_target"] > r["expected"] == pytest.approx(m.expected_renewals(4))
    assert r["gain_per_year"] == pytest.approx(r["gain_per_customer"] * r["new_customers"])
    window = {"start": "2025-07-01", "end": "2026-06-30"}
    zh, en = renewal_lines(r, window, "zh"), renewal_lines(r, window, "en")
    assert len(zh) == len(en) == 2 and "40%" in en[1] and "50%" in zh[1]
    met = _renewal(d, period, target=0.4, rate=0.45)  # the KPI meets its target: no what-if
    assert met["target_rate"] is None and np.isnan(met["gain_per_year"])
    assert "45%" in renewal_lines(met, window, "en")[1]
    none = _renewal(d, period, target=None, rate=0.45)
    assert none["target"] is None and len(renewal_lines(none, window, "en")) == 1
