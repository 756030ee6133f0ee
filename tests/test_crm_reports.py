"""Satisfaction and CRM department reports, checked against the simulator and by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from crm_analytics.core.errors import InputError
from crm_analytics.core.schema import empty_frame
from crm_analytics.metrics import crm_department as cr
from crm_analytics.metrics.lifecycle import dormant_owners, lifecycle_states
from crm_analytics.sim import simulate_dealer

DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def dealer():
    return simulate_dealer(0, customers=3000, seed=11)


def test_csi_by_stage_hand_computed(dealer):
    out = cr.csi_by_stage(dealer).set_index("stage")
    s = dealer.surveys
    svc = s.loc[s["kind"] == "service_satisfaction", "score"].dropna()
    row = out.loc["service"]
    assert row["n"] == len(svc)
    assert row["csi"] == pytest.approx(svc.mean() * 10)
    half = 1.96 * svc.std() / np.sqrt(len(svc)) * 10
    assert row["csi_high"] - row["csi"] == pytest.approx(half)
    assert row["top_box"] == pytest.approx((svc >= 9).mean())
    # the simulator scores defeated customers lower than buyers
    assert out.loc["defeated", "csi"] < out.loc["delivery", "csi"] - 10
    trend = cr.csi_by_stage(dealer, freq="Y")
    assert trend.groupby("stage", observed=True)["n"].sum().loc["service"] == len(svc)


def test_csi_by_staff_shrinkage_and_roles(dealer):
    out = cr.csi_by_staff(dealer)
    assert set(out["role"]) <= {"sales_consultant", "service_advisor"}
    svc = out[out["stage"] == "service"]
    assert (svc["role"] == "service_advisor").all()
    # shrunk score lies between the raw score and the stage mean
    lo = np.minimum(out["csi"], out["stage_csi"]) - 1e-9
    hi = np.maximum(out["csi"], out["stage_csi"]) + 1e-9
    assert out["csi_shrunk"].between(lo, hi).all()
    r = out.iloc[0]
    assert r["csi_shrunk"] == pytest.approx(
        (r["n"] * r["mean"] + 10 * r["stage_csi"] / 10) / (r["n"] + 10) * 10
    )
    s = dealer.surveys
    raw = s[(s["kind"] == "service_satisfaction") & (s["staff_id"] == svc.iloc[0]["staff_id"])][
        "score"
    ]
    assert svc.iloc[0]["n"] == raw.notna().sum()
    leaver = dealer.staff.loc[dealer.staff["left_at"].notna(), "staff_id"]
    assert (~out.loc[out["staff_id"].isin(leaver), "active"]).all()


def test_defeat_pareto(dealer):
    p = cr.defeat_pareto(dealer)
    leads = dealer.leads
    counts = leads.loc[leads["status"] == "defeated", "defeat_reason"].value_counts()
    assert p["count"].sum() == counts.sum()
    assert (np.diff(p["count"]) <= 0).all()
    assert p["cum_share"].iloc[-1] == pytest.approx(1.0)
    # vital few: up to and including the first reason that reaches 80 %
    first = int(np.argmax(p["cum_share"].to_numpy() >= 0.8 - 1e-12))
    assert p["vital_few"].tolist() == [True] * (first + 1) + [False] * (len(p) - first - 1)
    by = cr.defeat_pareto(dealer, by="model_interest")
    assert by.groupby("model_interest")["cum_share"].max().round(9).eq(1).all()
    with pytest.raises(InputError):
        cr.defeat_pareto(dealer, by="nope")


def test_channel_recall_accuracy_matches_simulator(dealer):
    # synth: the buyer recalls the true channel with p 0.8, else a uniform channel (8 choices);
    # the defeated customer with p 0.7. Expected accuracies 0.825 and 0.7375.
    acc = cr.channel_recall_accuracy(dealer).set_index("kind")
    for kind, expected in (
        ("delivery_interview", 0.8 + 0.2 / 8),
        ("defeated_survey", 0.7 + 0.3 / 8),
    ):
        row = acc.loc[kind]
        assert row["accuracy_low"] <= expected <= row["accuracy_high"], (kind, row.to_dict())
    conf = cr.channel_confusion(dealer)
    assert conf.to_numpy().sum() == acc["n"].sum()
    assert np.trace(conf.to_numpy()) == acc["matches"].sum()
    norm = cr.channel_confusion(dealer, normalize=True)
    assert np.allclose(norm.sum(axis=1).dropna(), 1.0)


def test_deal_customers_totals(dealer):
    d = cr.deal_customers(dealer, freq="Y")
    o = dealer.orders[dealer.orders["status"] == "delivered"]
    assert d["deliveries"].sum() == len(o)
    margins = o[
        [
            "vehicle_margin",
            "finance_margin",
            "insurance_margin",
            "accessories_margin",
            "extended_warranty_margin",
            "trade_in_margin",
        ]
    ]
    assert d["gross_margin"].sum() == pytest.approx(margins.sum().sum())
    pen = (d["finance_penetration"] * d["deliveries"]).sum() / d["deliveries"].sum()
    assert pen == pytest.approx(o["finance"].mean())
    by = cr.deal_customers(dealer, freq="Y", by="channel")
    assert by["deliveries"].sum() == len(o)


def test_owner_status_and_dormant_report(dealer):
    st = cr.owner_status(dealer)
    assert st["customer_id"].is_unique
    assert st["phone"].str.contains(r"\*\*\*\*").all()
    # the states are the lifecycle states (one dormancy rule for the whole package)
    ref = lifecycle_states(dealer).set_index("customer_id")["state"]
    assert (st.set_index("customer_id")["state"] == ref.reindex(st["customer_id"])).all()
    dor = st[st["state"] == "dormant"]
    assert (dor["days_since"] > 9 * 30.4).all()
    # against the truth: owners called regular are far more often truly alive than the lost
    t = dealer.truth["customers"].groupby("customer_id")["dropout_at"].max()
    alive = (t > dealer.as_of).reindex(st["customer_id"]).to_numpy()
    a = alive[(st["state"] == "regular").to_numpy()].mean()
    lost = alive[(st["state"] == "lost").to_numpy()].mean()
    assert a > 0.6 and lost < 0.2, (a, lost)
    rep = cr.dormant_customers(dealer)
    assert rep["owners"].sum() == len(st)
    assert np.allclose(rep.groupby("sold_here")["share"].sum(), 1.0)
    # the report's dormant owners are exactly the package's dormant list
    dormant = dormant_owners(dealer)
    assert rep.loc[rep["state"] == "dormant", "owners"].sum() == len(dormant)
    assert set(dor["customer_id"]) == set(dormant["customer_id"])
    full = cr.owner_status(dealer, contact=True)
    assert full["phone"].isin(dealer.customers["phone"]).all()


def test_defeated_customers_report(dealer):
    rep = cr.defeated_customers(dealer, freq="Y", by="consultant_id")
    leads = dealer.leads
    closed = leads[leads["status"].isin(["won", "defeated"])]
    assert rep["closed"].sum() == len(closed)
    assert rep["defeated"].sum() == (closed["status"] == "defeated").sum()
    assert rep["defeat_rate"].between(0, 1).all()
    by_reason = cr.defeated_customers(dealer, freq="Y")
    assert by_reason["defeated"].sum() == (closed["status"] == "defeated").sum()


def test_department_efficiency(dealer):
    de = cr.department_efficiency(dealer).set_index("department")
    assert list(de.index) == ["sales", "after_sales", "insurance", "crm_dcc"]
    assert de["conversion_rate"].between(0, 1).all()
    sv = dealer.service_visits
    win = sv[sv["at"] >= dealer.as_of.normalize() + DAY - 365 * DAY]
    assert de.loc["after_sales", "customers"] == win["customer_id"].nunique()
    assert de.loc["after_sales", "margin"] == pytest.approx(win["margin"].sum())
    staff = dealer.staff
    active = staff[staff["left_at"].isna() | (staff["left_at"] > dealer.as_of)]
    assert de.loc["sales", "staff"] == (active["role"] == "sales_consultant").sum()
    assert np.isnan(de.loc["crm_dcc", "margin_per_customer"])


def test_reports_survive_hostile_and_empty_inputs(dealer):
    d = dataclasses.replace(dealer, tables=dict(dealer.tables))
    c = d.customers.copy()
    c["name"] = "<script>alert(1)</script>"
    d.tables["customers"] = c
    st = cr.owner_status(d)
    assert (st["name"] == "<*").all()
    d.tables["surveys"] = d.surveys.iloc[0:0]
    assert cr.csi_by_stage(d).empty and cr.csi_by_staff(d).empty
    assert cr.channel_recall_accuracy(d).empty


def test_reports_on_empty_tables(dealer):
    keep = ("customers", "staff")
    e = dataclasses.replace(
        dealer, tables={k: (v if k in keep else empty_frame(k)) for k, v in dealer.tables.items()}
    )
    for f in (
        cr.csi_by_stage,
        cr.csi_by_staff,
        cr.defeat_pareto,
        cr.channel_recall_accuracy,
        cr.deal_customers,
        cr.dormant_customers,
        cr.defeated_customers,
    ):
        assert f(e).empty, f.__name__
    de = cr.department_efficiency(e)
    assert (de["customers"] == 0).all() and de["conversion_rate"].isna().all()
