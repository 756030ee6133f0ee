"""Key accounts and marketing events (issue 17): the simulator's rows and truth, the store and
DMS round trips, and the metrics checked against the simulator's truth."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pyarrow.parquet as pq
import pytest

from crm_analytics.core.schema import TABLE_NAMES, TABLES
from crm_analytics.data.dms import read_dms_export
from crm_analytics.data.store import MANIFEST_FILE, PART_FILE, StoreWarning, load_dealer
from crm_analytics.metrics import key_accounts as ka
from crm_analytics.sim import SimConfig, simulate_dealer, simulate_network
from crm_analytics.sim.dms_export import write_dms_export
from crm_analytics.sim.events import FOLLOW_UP_DAYS
from crm_analytics.sim.network import simulate_dealer_tables


@pytest.fixture(scope="module")
def dealer():
    return simulate_dealer(1, customers=1500, years=4, seed=23, key_accounts=True, events=True)


def _ns(frame: pd.DataFrame) -> pd.DataFrame:
    """Datetime columns in one unit (appending rows may change a column's unit, not values)."""
    cols = frame.select_dtypes("datetime").columns
    return frame.astype({c: "datetime64[ns]" for c in cols})


def test_feature_off_leaves_every_table_as_it_was_and_on_only_appends():
    """With both features off the events table is empty and no lead has an event; turning
    them on (side streams 7 and 8) only appends rows: every row of the off run is unchanged.
    The CRM desk's calls (touchpoints of kind call, side stream 6) are drawn last from the
    finished tables, so with the features on the desk also calls the fleets' deliveries: they
    are compared apart (both runs put them after every other touchpoint)."""
    base = SimConfig(n_dealers=1, customers_per_dealer=400, years=3, seed=3)
    _, off, truth_off = simulate_dealer_tables(base, 0)
    on_cfg = SimConfig(
        n_dealers=1, customers_per_dealer=400, years=3, seed=3, key_accounts=True, events=True
    )
    _, on, truth_on = simulate_dealer_tables(on_cfg, 0)
    assert off["events"].empty and off["leads"]["event_id"].isna().all()
    assert len(on["events"]) > 0
    for run in (off, on):
        tp = run["touchpoints"]
        calls = tp["kind"].eq("call").to_numpy()
        assert calls.any() and not calls[: int((~calls).sum())].any()  # the calls come last
        run["touchpoints"] = tp[~calls].reset_index(drop=True)
    for name in TABLE_NAMES:
        head = _ns(on[name].iloc[: len(off[name])].reset_index(drop=True))
        pd.testing.assert_frame_equal(head, _ns(off[name]), check_dtype=False)
        assert len(on[name]) >= len(off[name])
    for name, frame in truth_off.items():
        if name not in ("contact", "calls"):  # the desk's calls, drawn from the final tables
            pd.testing.assert_frame_equal(truth_on[name], frame)
    assert {"key_accounts", "events"} <= set(truth_on) and "events" not in truth_off


def test_generated_rows_are_valid(dealer):
    """Every appended row passes the canonical schema and cross-table rules."""
    assert dealer.quarantine.empty, dealer.quarantine.groupby(["table", "rule"]).size()
    truth = dealer.truth["key_accounts"]
    assert 2 <= len(truth) <= 11
    assert (truth["vehicles"] >= 4).all() and (truth["fleet_orders"] >= 2).all()
    per = dealer.vehicles.groupby("customer_id").size()
    others = per.drop(truth["customer_id"], errors="ignore")
    assert others.max() == 1  # nobody but a key account owns more than one vehicle


def test_key_accounts_against_truth(dealer):
    """Identification precision and recall are 1 at the default thresholds, and each account's
    vehicles and orders equal the truth's."""
    acc = ka.key_accounts(
        dealer.customers,
        dealer.vehicles,
        dealer.orders,
        dealer.service_visits,
        dealer.touchpoints,
        as_of=dealer.as_of,
    )
    truth = dealer.truth["key_accounts"].set_index("customer_id")
    found, true = set(acc["customer_id"]), set(truth.index)
    precision = len(found & true) / len(found)
    recall = len(found & true) / len(true)
    assert precision == 1.0 and recall == 1.0, (precision, recall)
    a = acc.set_index("customer_id").loc[truth.index]
    assert (a["vehicles"] == truth["vehicles"]).all()
    assert (a["orders"] >= truth["vehicles"]).all() and (a["orders"] <= truth["orders"]).all()
    assert a["company"].all()
    since = dealer.as_of - pd.DateOffset(months=12)
    sv = dealer.service_visits
    recent = sv[(sv["at"] > since) & sv["customer_id"].isin(truth.index)].groupby("customer_id")
    assert (a["service_visits"] == recent.size().reindex(truth.index, fill_value=0)).all()
    assert (a["service_visits"] <= truth["service_visits"]).all()
    live = dealer.orders[dealer.orders["status"] != "cancelled"]
    assert a["sales_share"].sum() == pytest.approx(a["orders"].sum() / len(live))
    assert a["revenue"].gt(0).all()
    assert a["last_contact"].lt(dealer.as_of + pd.Timedelta(days=1)).all()


def test_events_against_truth(dealer):
    """Each event's leads, visits, orders and deliveries within the follow-up window equal
    the truth's; costs per lead and order follow."""
    res = ka.event_results(
        dealer.events,
        dealer.leads,
        dealer.touchpoints,
        dealer.orders,
        as_of=dealer.as_of,
        follow_up_days=FOLLOW_UP_DAYS,
    ).set_index("event_id")
    truth = dealer.truth["events"].set_index("event_id")
    assert list(res.index) == sorted(truth.index, key=lambda e: res.index.get_loc(e))
    assert set(res.index) == set(truth.index) and len(truth) >= 10
    for col in ("leads", "visits", "orders", "delivered"):
        assert (res[col] == truth.loc[res.index, col]).all(), col
    assert res["cost_per_lead"].equals(res["cost"] / res["leads"].where(res["leads"] > 0))
    kinds = ka.event_kind_summary(res.reset_index())
    assert kinds["leads"].sum() == truth["leads"].sum()
    # a shorter window counts no more
    short = ka.event_results(
        dealer.events,
        dealer.leads,
        dealer.touchpoints,
        dealer.orders,
        as_of=dealer.as_of,
        follow_up_days=5,
    )
    assert short["orders"].sum() < res["orders"].sum()


def test_store_round_trip_and_older_store(tmp_path):
    """The store writes and reads the events table and leads.event_id; a store written before
    them (no events file, leads without event_id) still loads, with an empty events table."""
    root = tmp_path / "store"
    simulate_network(
        n_dealers=1,
        customers_per_dealer=300,
        years=2,
        seed=4,
        out=root,
        workers=1,
        key_accounts=True,
        events=True,
    )
    d = load_dealer(root, "D001")
    assert len(d.events) > 0 and d.leads["event_id"].notna().any()
    assert set(d.truth) >= {"key_accounts", "events"}
    # an older store: no events table, leads without event_id, no manifest
    (root / "events" / "dealer_id=D001" / PART_FILE).unlink()
    leads_path = root / "leads" / "dealer_id=D001" / PART_FILE
    pq.write_table(pq.read_table(leads_path).drop(["event_id"]), leads_path)
    manifest = json.loads((root / MANIFEST_FILE).read_text())
    assert "events" in manifest["dealers"]["D001"]["tables"]
    (root / MANIFEST_FILE).unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoreWarning)
        old = load_dealer(root, "D001")
    assert old.events.empty and list(old.events.columns) == list(d.events.columns)
    assert old.leads["event_id"].isna().all() and len(old.leads) == len(d.leads)
    assert old.quarantine.empty


def test_dms_export_round_trip(dealer, tmp_path):
    """The DMS reader maps the events file (市场活动.csv, Chinese headers and kinds) and the
    leads' 活动编号 column back to the canonical table and column."""
    folder = write_dms_export(dealer, tmp_path / "export")
    assert (folder / "市场活动.csv").is_file()
    head = pd.read_csv(folder / "市场活动.csv", encoding="gb18030", nrows=1)
    assert {"活动编号", "活动类型", "活动费用"} <= set(head.columns)
    back = read_dms_export(folder, dealer_id=dealer.dealer_id, as_of=dealer.as_of)
    pd.testing.assert_series_equal(
        back.events["event_id"], dealer.events["event_id"], check_dtype=False
    )
    assert (back.events["kind"] == dealer.events["kind"]).all()
    assert back.leads["event_id"].notna().sum() == dealer.leads["event_id"].notna().sum()
    assert "events" in TABLES


def test_a_dealer_without_key_accounts_or_events():
    """With both features off the metrics return no rows (and no error)."""
    d = simulate_dealer(0, customers=300, years=2, seed=5)
    acc = ka.key_accounts(
        d.customers, d.vehicles, d.orders, d.service_visits, d.touchpoints, as_of=d.as_of
    )
    assert acc.empty and "sales_share" in acc.columns
    ev = ka.event_results(d.events, d.leads, d.touchpoints, d.orders, as_of=d.as_of)
    assert ev.empty and {"leads", "cost_per_order", "complete"} <= set(ev.columns)
