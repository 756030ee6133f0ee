"""Call lists and touch-point calendar against the simulator and hand computations."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm_analytics.actions.call_lists import (
    REASONS,
    btyd_scores,
    call_lists,
    customer_activity,
    expiry_window,
    export_call_list,
    load_params,
    observed_values,
    owner_load,
    priority_rules,
    touch_calendar,
)
from crm_analytics.core.errors import InputError
from crm_analytics.core.schema import empty_frame
from crm_analytics.metrics.lifecycle import dormant_owners
from crm_analytics.models.clv import dormant_activation_list, fit_base_models
from crm_analytics.sim import simulate_dealer

DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def dealer():
    return simulate_dealer(0, customers=2500, seed=2016)


@pytest.fixture(scope="module")
def calls(dealer):
    return call_lists(dealer)


@pytest.fixture(scope="module")
def base_models(dealer):
    return fit_base_models(dealer)


def test_every_expiring_policy_appears_exactly_once(dealer, calls):
    p = dealer.insurance_policies
    day = dealer.as_of.normalize()
    known = p[p["start"] < day]
    expiring = known[(known["end"] >= day) & (known["end"] < day + 91 * DAY)]
    # renewed by the end of the day before: another policy of the vin started before the day
    m = expiring[["policy_id", "vin", "end"]].merge(
        known[["policy_id", "vin", "start"]], on="vin", suffixes=("", "_next")
    )
    m = m[(m["policy_id_next"] != m["policy_id"]) & (m["start"] >= m["end"] - 30 * DAY)]
    expiring = expiring[~expiring["policy_id"].isin(m["policy_id"])]
    assert len(expiring) > 20
    ins = calls[calls["reason"] == "insurance_renewal"]
    refs = ins["refs"].str.split(";").explode()
    assert refs.is_unique
    assert set(refs) == set(expiring["policy_id"])
    # the 30/60/90 band (whole days) and the due date follow each customer's earliest policy
    first = expiring.groupby("customer_id")["end"].min()
    got = ins.set_index("customer_id")
    assert (got["due_date"] == first.reindex(got.index)).all()
    days = (got["due_date"].dt.normalize() - day) / DAY
    expected_band = np.select([days <= 30, days <= 60], [30, 60], 90)
    assert (got["window_days"].to_numpy() == expected_band).all()
    # one row per customer even with several vehicles: n_items counts the policies
    assert got["n_items"].sum() == len(expiring)


def _contracts_dealer(dealer, day: pd.Timestamp):
    """The dealer with hand-made policies, vehicles and orders around list day ``day``."""
    h = pd.Timedelta(hours=1)
    cids = dealer.customers["customer_id"].iloc[:12].tolist()

    def vin(k: int) -> str:
        return f"TESTVIN{k:010d}"

    def policy(pid, k, start, end, here=True):
        return {
            "dealer_id": dealer.dealer_id,
            "policy_id": pid,
            "vin": vin(k),
            "customer_id": cids[k],
            "start": start,
            "end": end,
            "premium": 5000.0,
            "margin": 800.0,
            "sold_by_this_dealer": here,
            "renewal": True,
        }

    year = 365 * DAY
    pol = pd.DataFrame(
        [
            policy("P-ON-D-1500", 0, day + 15 * h - year, day + 15 * h),
            policy("P-ON-D-0001", 1, day - year, day + pd.Timedelta(minutes=1)),
            policy("P-D90-2300", 2, day + 90 * DAY + 23 * h - year, day + 90 * DAY + 23 * h),
            policy("P-D91-0030", 3, day + 91 * DAY - year, day + 91 * DAY + h / 2),
            policy("P-ENDED-D-1", 4, day - DAY + 23 * h - year, day - DAY + 23 * h),
            # renewed on D - 1 (the renewal starts 20 days before the old end): excluded
            policy("P-RENEWED-D-1", 5, day + 20 * DAY - year, day + 20 * DAY),
            policy("P-RENEWAL-D-1", 5, day - DAY + 10 * h, day - DAY + 10 * h + year),
            # renewed during D itself: still on D's list
            policy("P-RENEWED-ON-D", 6, day + 5 * DAY - year, day + 5 * DAY),
            policy("P-RENEWAL-ON-D", 6, day + 9 * h, day + 9 * h + year),
        ]
    )
    veh_row = dealer.vehicles.iloc[0]

    def vehicle(k, warranty_end, finance_end, bought=day - 3 * year):
        return {
            **veh_row.to_dict(),
            "vin": vin(k),
            "customer_id": cids[k],
            "purchase_date": bought,
            "sold_by_this_dealer": True,
            "warranty_end": warranty_end,
            "finance_end": finance_end,
            "recall_campaign": None,
        }

    veh = pd.DataFrame(
        [
            vehicle(0, day + 15 * h, day + 15 * h),
            vehicle(2, day + 90 * DAY + 23 * h, day + 90 * DAY + 23 * h),
            vehicle(3, day + 91 * DAY + h / 2, day + 91 * DAY + h / 2),
            vehicle(4, day - DAY + 23 * h, day - DAY + 23 * h),
            vehicle(5, day + 10 * DAY, day + 10 * DAY),  # extended warranty / repurchase on D-1
            vehicle(6, day + 10 * DAY, day + 10 * DAY),  # ... on D
        ]
    )
    order_row = dealer.orders.iloc[0]

    def order(oid, k, at, order_vin, ew):
        return {
            **order_row.to_dict(),
            "order_id": oid,
            "customer_id": cids[k],
            "vin": order_vin,
            "ordered_at": at,
            "delivered_at": at + DAY,
            "status": "delivered",
            "extended_warranty": ew,
        }

    orders = pd.DataFrame(
        [
            order("O-EW-D-1", 5, day - DAY + 16 * h, vin(5), True),
            order("O-NEW-D-1", 5, day - DAY + 16 * h, vin(11), False),
            order("O-EW-ON-D", 6, day + 8 * h, vin(6), True),
            order("O-NEW-ON-D", 6, day + 8 * h, vin(10), False),
        ]
    )
    d = dataclasses.replace(dealer, tables=dict(dealer.tables))
    d.tables["insurance_policies"] = pol.astype(
        {"start": "datetime64[ns]", "end": "datetime64[ns]"}
    )
    d.tables["vehicles"] = veh.astype(dealer.vehicles.dtypes.to_dict())
    d.tables["orders"] = orders.astype(dealer.orders.dtypes.to_dict())
    return d, cids


@pytest.mark.parametrize("hour", [0, 8, 23])
def test_expiry_windows_are_whole_days(dealer, hour):
    day = dealer.as_of.normalize()
    d, cids = _contracts_dealer(dealer, day)
    reasons = ["insurance_renewal", "warranty_end", "finance_end"]
    c = call_lists(d, as_of=day + pd.Timedelta(hours=hour), reasons=reasons)
    refs = {r: set(c.loc[c["reason"] == r, "refs"].str.split(";").explode()) for r in reasons}
    assert refs["insurance_renewal"] == {
        "P-ON-D-1500",  # ends at 15:00 on D: on D's list
        "P-ON-D-0001",  # one minute after midnight
        "P-D90-2300",  # ends late on D + 90: included
        "P-RENEWED-ON-D",  # renewed during D: not renewed by the end of D - 1
    }  # D + 91, ended on D - 1 and renewed on D - 1 are not on the list
    ins = c[c["reason"] == "insurance_renewal"].set_index("refs")
    assert ins.loc["P-ON-D-1500", "window_days"] == 30
    assert ins.loc["P-D90-2300", "window_days"] == 90
    vin = {k: f"TESTVIN{k:010d}" for k in range(12)}
    # warranty: an extended warranty bought on D - 1 renews it, one bought on D does not
    assert refs["warranty_end"] == {vin[0], vin[2], vin[6]}
    # finance: another vehicle ordered on D - 1 is the repurchase, one ordered on D is not yet
    assert refs["finance_end"] == {vin[0], vin[2], vin[6]}


def test_expiry_window_function():
    ends = pd.Series(
        pd.to_datetime(
            [
                "2026-06-29 23:59",
                "2026-06-30 00:00",
                "2026-06-30 15:00",
                "2026-07-30 23:59",
                "2026-07-31 00:00",
                None,
            ]
        )
    )
    got = expiry_window(ends, pd.Timestamp("2026-06-30 17:45"), 30)
    assert got.tolist() == [False, True, True, True, False, False]


def test_one_row_per_customer_and_reason_ordered_by_priority(calls):
    assert not calls.duplicated(["customer_id", "reason"]).any()
    assert set(calls["reason"]) <= set(REASONS)
    assert len(set(calls["reason"])) >= 8  # every reason has candidates on this dealer
    pr = calls["priority"].to_numpy()
    assert (np.diff(pr) <= 1e-9).all()
    assert calls["rank"].tolist() == list(range(1, len(calls) + 1))


def test_priority_is_value_times_likelihood(calls):
    w = calls["reason"].map({r: load_params()["reasons"][r]["priority_weight"] for r in REASONS})
    np.testing.assert_allclose(calls["likelihood"], calls["base_rate"] * calls["activity"])
    np.testing.assert_allclose(calls["priority"], w * calls["value"] * calls["likelihood"])
    assert calls["activity"].between(0, 1).all() and (calls["value"] > 0).all()
    # each list ranked by the margin a call is expected to bring
    np.testing.assert_allclose(calls["expected_margin"], calls["value"] * calls["likelihood"])
    for reason, part in calls.groupby("reason"):
        assert part["list_rank"].tolist() == list(range(1, len(part) + 1)), reason
        assert (np.diff(part["expected_margin"].to_numpy()) <= 1e-9).all(), reason


def test_priority_rule_stated_per_list(dealer, calls):
    rules = calls.attrs["priority_rules"]
    assert list(rules) == list(REASONS)
    assert "priority = 3 x" in rules["recall"] and "observed" in rules["insurance_renewal"]
    for reason, part in calls.groupby("reason"):
        assert part["priority_rule"].str.contains("recency rule", regex=False).all(), reason
        w = load_params()["reasons"][reason]["priority_weight"]
        assert part["priority_rule"].str.startswith(f"{w:g} x ").all(), reason
    ins = calls[calls["reason"] == "insurance_renewal"]
    assert ins["priority_rule"].str.contains("mean margin of a renewal policy").all()
    # the rule follows what was used: churn scores, an explicitly assumed renewal rate
    top = calls.loc[calls["reason"] == "insurance_renewal", "customer_id"].iloc[0]
    c = call_lists(
        dealer,
        scores=pd.DataFrame({"customer_id": [top], "churn_probability": [0.4]}),
        params={"reasons": {"insurance_renewal": {"base_rate_sold_here": 0.5}}},
        reasons=["insurance_renewal"],
    )
    row = c[c["customer_id"] == top].iloc[0]
    assert "1 - P(churn) from scores" in row["priority_rule"]
    assert (
        "assumed" in row["priority_rule"]
        and "assumed" in c.attrs["priority_rules"]["insurance_renewal"]
    )
    assert list(c.attrs["priority_rules"]) == ["insurance_renewal"]
    assert priority_rules()["recall"] == rules["recall"]


def test_owner_balance_role_and_employment(dealer, calls):
    load = owner_load(calls)
    assert (load["load_ratio"] <= 1.2 + 1e-9).all(), load
    staff = dealer.staff.set_index("staff_id")
    assert calls["owner_id"].notna().all()
    assert (staff.loc[calls["owner_id"], "role"].to_numpy() == calls["owner_role"].to_numpy()).all()
    left = staff.loc[calls["owner_id"], "left_at"]
    assert left.isna().all() or (left.dropna() > dealer.as_of).all()
    leaver = staff.index[staff["left_at"].notna()]
    assert len(leaver) and not calls["owner_id"].isin(leaver).any()


def test_owner_balance_under_skewed_preferences(dealer):
    # every defeated lead and every repair order pointing at one person must still be spread
    d = dataclasses.replace(dealer, tables=dict(dealer.tables))
    d.tables["leads"] = d.leads.assign(consultant_id="D001-S001")
    d.tables["service_visits"] = d.service_visits.assign(advisor_id="D001-S007")
    c = call_lists(d)
    load = owner_load(c)
    assert (load["load_ratio"] <= 1.2 + 1e-9).all(), load
    # the preferred owner still carries the most (up to the cap)
    sales = load[load["owner_role"] == "sales_consultant"].set_index("owner_id")["rows"]
    assert sales.idxmax() == "D001-S001"


def test_staff_who_left_later_can_own_earlier_lists(dealer):
    staff = dealer.staff
    leaver = staff[staff["left_at"].notna()].iloc[0]
    as_of = leaver["left_at"] - 30 * DAY
    c = call_lists(
        dealer,
        as_of=as_of,
        reasons=["defeated_reactivation", "trade_in", "referral", "finance_end"],
    )
    hired_later = staff.loc[staff["hired_at"] > as_of, "staff_id"]
    assert not c["owner_id"].isin(hired_later).any()
    assert (c["owner_id"] == leaver["staff_id"]).any()


def test_earlier_as_of_uses_only_earlier_records(dealer):
    as_of = dealer.as_of - 365 * DAY
    c = call_lists(dealer, as_of=as_of)
    pol = dealer.insurance_policies.set_index("policy_id")
    ins = c.loc[c["reason"] == "insurance_renewal", "refs"].str.split(";").explode()
    assert (pol.loc[ins, "start"] < as_of).all() and (pol.loc[ins, "end"] >= as_of).all()
    assert (c["due_date"] >= as_of - 60 * DAY).all()
    with pytest.raises(InputError, match="after the data's extraction date"):
        call_lists(dealer, as_of=dealer.as_of + 30 * DAY)


def test_recall_rows_are_open_campaign_vehicles(dealer, calls):
    v = dealer.vehicles
    done = set(dealer.service_visits.loc[dealer.service_visits["kind"] == "recall", "vin"])
    open_vins = set(v.loc[v["recall_campaign"].notna() & ~v["vin"].isin(done), "vin"])
    got = calls.loc[calls["reason"] == "recall", "refs"].str.split(";").explode()
    assert set(got) == open_vins and got.is_unique


def test_defeated_rows_inside_window_and_not_bought_since(dealer, calls):
    d = calls[calls["reason"] == "defeated_reactivation"]
    leads = dealer.leads.set_index("lead_id")
    refs = d["refs"].str.split(";").explode()
    lf = leads.loc[refs]
    days = (dealer.as_of - lf["closed_at"]) / DAY
    win = load_params()["reasons"]["defeated_reactivation"]["windows"]
    lo = lf["defeat_reason"].map(lambda r: win[r][0])
    hi = lf["defeat_reason"].map(lambda r: win[r][1])
    assert (lf["status"] == "defeated").all() and ((days >= lo) & (days <= hi)).all()
    assert not d["customer_id"].isin(dealer.orders["customer_id"]).any()
    assert not lf["defeat_reason"].isin(["bought_competitor", "bought_other_dealer"]).any()


def test_maintenance_and_dormant_hand_checked(dealer, calls):
    prm = load_params()["reasons"]["maintenance_due"]
    m = calls[calls["reason"] == "maintenance_due"].iloc[0]
    vin = m["refs"].split(";")[0]
    sv = dealer.service_visits[dealer.service_visits["vin"] == vin].sort_values("at")
    veh = dealer.vehicles.set_index("vin").loc[vin]
    if len(sv):
        last = sv.iloc[-1]
        km_day = last["mileage"] / ((last["at"] - veh["purchase_date"]) / DAY)
        due = min(
            last["at"] + prm["interval_days"] * DAY,
            last["at"] + pd.Timedelta(days=prm["interval_km"] / km_day),
        )
    else:
        due = veh["purchase_date"] + prm["interval_days"] * DAY
    assert abs((m["due_date"] - due) / DAY) < 1e-3
    # dormant: the package's dormant list (params/lifecycle.yaml), no maintenance call on top
    dorm = calls[calls["reason"] == "dormant_activation"]
    dormant = dormant_owners(dealer)
    assert set(dorm["customer_id"]) <= set(dormant["customer_id"])
    maint_c = set(calls.loc[calls["reason"] == "maintenance_due", "customer_id"])
    assert set(dorm["customer_id"]) == set(dormant["customer_id"]) - maint_c
    # every dormant owner is called, those who never came for service included (bought here)
    serviced = set(dealer.service_visits["customer_id"])
    never = dorm[~dorm["customer_id"].isin(serviced)]
    assert len(never) and never["detail"].str.startswith("no service visit here; bought").all()
    seen = dorm[dorm["customer_id"].isin(serviced)]
    last_c = dealer.service_visits.groupby("customer_id")["at"].max()
    days = (dealer.as_of - last_c.loc[seen["customer_id"]]) / DAY
    assert (days > 9 * 30.4).all()
    assert seen["detail"].str.startswith("last service").all()
    maint = set(calls.loc[calls["reason"] == "maintenance_due", "customer_id"])
    assert not set(dorm["customer_id"]) & maint


def test_dormant_list_customers_are_truly_less_alive(dealer, calls):
    t = dealer.truth["customers"].groupby("customer_id")["dropout_at"].max()
    alive = t > dealer.as_of
    dorm = alive.reindex(calls.loc[calls["reason"] == "dormant_activation", "customer_id"]).mean()
    maint = alive.reindex(calls.loc[calls["reason"] == "maintenance_due", "customer_id"]).mean()
    assert maint > dorm + 0.2, (maint, dorm)
    # the recency activity ranks the truly alive above the gone (AUC well above chance)
    act = customer_activity(dealer)["activity"]
    owners = alive.index.intersection(act.index)
    a, y = act.loc[owners].to_numpy(), alive.loc[owners].to_numpy()
    auc = (a[y][:, None] > a[~y][None, :]).mean() + 0.5 * (a[y][:, None] == a[~y][None, :]).mean()
    assert auc > 0.75, auc


def test_scores_are_pluggable(dealer, calls):
    top = calls.iloc[0]["customer_id"]
    c0 = call_lists(dealer, scores={top: 0.0})
    assert (c0.loc[c0["customer_id"] == top, "priority"] == 0).all()
    assert c0["customer_id"].iloc[-1] == top or (c0["priority"].iloc[-1] == 0)
    frame = pd.DataFrame(
        {"customer_id": [top], "churn_probability": [0.75], "expected_value": [1e6]}
    )
    c1 = call_lists(dealer, scores=frame)
    rows = c1[c1["customer_id"] == top]
    assert np.allclose(rows["activity"], 0.25)
    others = c1[c1["customer_id"] != top].set_index(["customer_id", "reason"])["activity"]
    base = calls.set_index(["customer_id", "reason"])["activity"]
    assert np.allclose(others, base.reindex(others.index))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        call_lists(dealer, scores={top: 1.5})


def test_observed_values_match_hand_computation(dealer):
    v = observed_values(dealer)
    sv = dealer.service_visits
    assert v["maintenance"] == pytest.approx(sv.loc[sv["kind"] == "maintenance", "margin"].mean())
    p = dealer.insurance_policies
    ren = p[p["sold_by_this_dealer"] & p["renewal"]]
    assert v["insurance_renewal"] == pytest.approx(ren["margin"].mean())
    true_rate = (
        dealer.truth["dealer"]["renewal_rate"].iloc[0]
        if "renewal_rate" in dealer.truth["dealer"]
        else None
    )
    assert 0 < v["renewal_rate_sold_here"] < 1
    if true_rate is not None:  # observed renewal rate is the simulator's (diluted by dropouts)
        assert v["renewal_rate_sold_here"] <= true_rate + 0.1


def test_masking_default_and_contact_lists(dealer, calls):
    raw = dealer.customers.set_index("customer_id")
    assert calls["customer_phone"].str.contains(r"\*\*\*\*").all()
    assert not calls["customer_phone"].isin(raw["phone"]).any()
    full = call_lists(dealer, contact=True)
    assert (
        full["customer_phone"].to_numpy() == raw.loc[full["customer_id"], "phone"].to_numpy()
    ).all()
    assert full.drop(columns=["customer_name", "customer_phone"]).equals(
        calls.drop(columns=["customer_name", "customer_phone"])
    )


def test_calendar_counts_match_list(calls):
    cal = touch_calendar(calls)
    assert cal["total"].sum() == len(calls)
    assert cal.index.min() >= calls.attrs["as_of"] - 7 * DAY
    for r in cal.columns.drop(["total", "value"]):
        assert cal[r].sum() == (calls["reason"] == r).sum()
    # ISO weeks: every period starts on a Monday and holds the due dates of its Monday to Sunday
    assert (cal.index.dayofweek == 0).all()
    due = calls["due_date"].where(calls["due_date"] >= calls.attrs["as_of"], calls.attrs["as_of"])
    monday = due.dt.normalize() - pd.to_timedelta(due.dt.dayofweek, unit="D")
    assert monday.value_counts().sort_index().to_numpy().tolist() == cal["total"].tolist()


def test_export_csv_and_excel_with_hostile_strings(dealer, tmp_path: Path):
    d = simulate_dealer(0, customers=600, seed=3)
    cust = d.customers.copy()
    cust.loc[cust.index[:50], "name"] = "<script>alert('x')</script>"
    cust.loc[cust.index[50:100], "name"] = '=HYPERLINK("http://x")'
    d.tables["customers"] = cust
    c = call_lists(d, contact=True)
    assert len(c) > 0
    csv = export_call_list(c, tmp_path / "out" / "calls.csv")
    back = pd.read_csv(csv, encoding="utf-8-sig", dtype=str)
    assert len(back) == len(c) and not back["customer_name"].str.startswith("=").any()
    xlsx = export_call_list(c, tmp_path / "calls.xlsx")
    sheets = pd.read_excel(xlsx, sheet_name=None, dtype=str)
    assert len(sheets["all"]) == len(c)
    assert sum(len(v) for k, v in sheets.items() if k != "all") == len(c)
    with pytest.raises(InputError):
        export_call_list(c, tmp_path / "calls.json")


def test_load_params_reads_yaml_through_config(tmp_path: Path):
    base = load_params()
    assert base["reasons"]["recall"]["priority_weight"] == 3.0 and set(base["reasons"]) == set(
        REASONS
    )
    # a partial file changes only the keys it names (nested keys merged over the defaults)
    part = tmp_path / "dealer_actions.yaml"
    part.write_text("horizon_days: 60\nreasons:\n  recall:\n    priority_weight: 1.0\n")
    p = load_params(part, overrides={"reasons": {"recall": {"base_rate": 0.5}}})
    assert p["horizon_days"] == 60 and p["reasons"]["recall"]["priority_weight"] == 1.0
    assert p["reasons"]["recall"]["base_rate"] == 0.5
    assert p["reasons"]["recall"]["role"] == base["reasons"]["recall"]["role"]
    assert p["reasons"]["warranty_end"] == base["reasons"]["warranty_end"]
    assert load_params() == base  # nothing leaks into the defaults
    with pytest.raises(InputError, match="unknown reasons"):
        load_params(overrides={"reasons": {"bogus": {}}})
    with pytest.raises(InputError, match="unknown parameter"):
        load_params(overrides={"horizon": 30})
    with pytest.raises(InputError, match="not found"):
        load_params(tmp_path / "missing.yaml")
    with pytest.raises(InputError):
        call_lists(simulate_dealer(0, customers=300, seed=1), reasons=["bogus"])
    with pytest.raises(InputError, match="unknown reasons"):
        call_lists(simulate_dealer(0, customers=300, seed=1), params={"reasons": {"x": {}}})


def test_btyd_scores_plug_in(dealer, base_models):
    sc = btyd_scores(base_models)
    assert sc["customer_id"].is_unique and sc["p_alive"].between(0, 1).all()
    assert set(sc["customer_id"]) == set(dealer.service_visits["customer_id"])
    c = call_lists(dealer, scores=sc)
    p = sc.set_index("customer_id")["p_alive"]
    has = c["customer_id"].isin(p.index)
    np.testing.assert_allclose(c.loc[has, "activity"], p.loc[c.loc[has, "customer_id"]].to_numpy())
    # why the recency rule stays the default here: it ranks truly active owners better
    alive = dealer.truth["customers"].groupby("customer_id")["dropout_at"].max().gt(dealer.as_of)
    y = alive.reindex(p.index).to_numpy(bool)
    rec = customer_activity(dealer)["activity"].reindex(p.index).to_numpy()

    def auc(a):
        return (a[y][:, None] > a[~y][None, :]).mean() + 0.5 * (
            a[y][:, None] == a[~y][None, :]
        ).mean()

    assert auc(p.to_numpy()) > 0.6
    assert auc(rec) > auc(p.to_numpy())


def test_empty_tables_and_no_staff(dealer, tmp_path: Path):
    keep = ("customers", "staff")
    e = dataclasses.replace(
        dealer, tables={k: (v if k in keep else empty_frame(k)) for k, v in dealer.tables.items()}
    )
    c = call_lists(e)
    assert c.empty and list(c.columns)[:3] == ["rank", "customer_id", "customer_name"]
    assert touch_calendar(c).empty and owner_load(c).empty
    assert export_call_list(c, tmp_path / "empty.xlsx").is_file()
    n = dataclasses.replace(dealer, tables=dict(dealer.tables))
    n.tables["staff"] = empty_frame("staff")
    c = call_lists(n)
    assert len(c) and c["owner_id"].isna().all()


def test_dormant_list_ranked_by_value_at_risk(dealer, base_models):
    sc = btyd_scores(base_models)
    assert (sc["clv"] >= 0).all() and sc["clv"].notna().all()
    every = call_lists(dealer, scores=sc, reasons=["dormant_activation"])
    # owners with no service visit have no CLV: valued at a year's service margin, by recency
    unscored = every[~every["customer_id"].isin(sc["customer_id"])]
    assert len(unscored) and unscored["priority_rule"].str.contains("service margin").all()
    c = every[every["customer_id"].isin(sc["customer_id"])]
    assert len(c) > 20
    s = sc.set_index("customer_id").loc[c["customer_id"]]
    rate = load_params()["reasons"]["dormant_activation"]["base_rate"]
    # activation rate x P(alive) x CLV
    np.testing.assert_allclose(c["value"], s["clv"].to_numpy())
    np.testing.assert_allclose(c["expected_margin"], rate * s["p_alive"] * s["clv"])
    assert c["priority_rule"].str.contains("after-sales CLV from scores").all()
    # the same order as the deck's activation list of the CLV model (P(alive) x CLV)
    deck = dormant_activation_list(dealer, models=base_models)
    ours = c["customer_id"].tolist()
    assert set(ours) <= set(deck["customer_id"])
    assert [x for x in deck["customer_id"] if x in set(ours)] == ours
    with pytest.raises(InputError, match="clv must be >= 0"):
        call_lists(dealer, scores=sc.assign(clv=-1.0), reasons=["dormant_activation"])


def test_add_years_matches_pandas_date_offset():
    from crm_analytics.actions.call_lists import _add_years

    rng = np.random.default_rng(1)
    t = pd.Timestamp("2010-01-01") + pd.to_timedelta(rng.integers(0, 16 * 365 * 86400, 2000), "s")
    t = t.append(pd.DatetimeIndex(["2012-02-29 13:45:10", "2016-02-29", "2019-12-31 23:59:59"]))
    years = rng.integers(1, 12, len(t))
    want = [pd.Timestamp(p) + pd.DateOffset(years=int(k)) for p, k in zip(t, years, strict=True)]
    got = _add_years(t.to_numpy("datetime64[ns]"), years)
    np.testing.assert_array_equal(got, np.array(want, dtype="datetime64[ns]"))
