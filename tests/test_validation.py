"""One test per boundary rule: each is found, counted, quarantined, and its message is clear."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_analytics.core import schema
from crm_analytics.core.errors import DataValidationError, InputError
from crm_analytics.data.validation import build_dealer, validate


def _tables(dealer):
    return {k: v.copy() for k, v in dealer.tables.items()}


def _rebuild(dealer, tables, **kw):
    return build_dealer(
        tables,
        dealer_id=dealer.dealer_id,
        name=dealer.name,
        city=dealer.city,
        as_of=dealer.as_of,
        **kw,
    )


def test_clean_dealer_keeps_every_row(clean_dealer):
    assert len(clean_dealer.quarantine) == 0
    s = clean_dealer.summary()
    assert (s["rows_in"] == s["kept"]).all()
    assert set(clean_dealer.tables) == set(schema.TABLE_NAMES)


def test_revalidating_is_idempotent(clean_dealer):
    again = validate(clean_dealer)
    for name in schema.TABLE_NAMES:
        pd.testing.assert_frame_equal(again.tables[name], clean_dealer.tables[name])


@pytest.mark.parametrize(
    ("table", "column", "value", "rule"),
    [
        ("customers", "gender", "X", "isin"),
        ("customers", "birth_year", 1850, "greater_than_or_equal_to"),
        ("customers", "created_at", "not a date", "coerce_dtype"),
        ("customers", "distance_km", -3.0, "greater_than_or_equal_to"),
        ("leads", "channel", "billboard", "isin"),
        ("leads", "status", "maybe", "isin"),
        ("leads", "model_interest", None, "not_nullable"),
        ("touchpoints", "kind", "telepathy", "isin"),
        ("touchpoints", "dwell_minutes", 5000.0, "less_than_or_equal_to"),
        ("orders", "price", -1.0, "greater_than"),
        ("service_visits", "kind", "tuning", "isin"),
        ("service_visits", "mileage", -10.0, "greater_than_or_equal_to"),
        ("vehicles", "vin", "SHORTVIN", "str_length"),
        ("surveys", "score", 11.0, "less_than_or_equal_to"),
        ("visitor_log", "party_size", 0, "greater_than_or_equal_to"),
        ("channel_costs", "cost", -5.0, "greater_than_or_equal_to"),
        ("staff", "role", "astronaut", "isin"),
        ("insurance_policies", "premium", 0.0, "greater_than"),
    ],
)
def test_row_rule_quarantines_the_row(clean_dealer, table, column, value, rule):
    tables = _tables(clean_dealer)
    frame = tables[table].astype({column: object})
    frame.loc[0, column] = value
    tables[table] = frame
    d = _rebuild(clean_dealer, tables)
    q = d.quarantine[(d.quarantine["table"] == table) & (d.quarantine["column"] == column)]
    assert len(q) == 1, d.quarantine
    assert rule in q["rule"].iloc[0]
    assert int(q["source_row"].iloc[0]) == 0
    # the report names table, column, rule, count and an example row id
    rep = d.report[(d.report["table"] == table) & (d.report["column"] == column)]
    assert rep["count"].iloc[0] == 1 and rep["examples"].iloc[0] == q["row_id"].iloc[0]
    # nothing is lost: kept + quarantined == read
    s = d.summary().set_index("table")
    assert s.loc[table, "kept"] + s.loc[table, "quarantined"] == s.loc[table, "rows_in"]


def test_duplicate_and_null_keys(clean_dealer):
    tables = _tables(clean_dealer)
    c = tables["customers"]
    c = pd.concat([c, c.iloc[[3]]], ignore_index=True)
    c.loc[5, "customer_id"] = None
    tables["customers"] = c
    d = _rebuild(clean_dealer, tables)
    rules = d.quarantine[d.quarantine["table"] == "customers"]["rule"].tolist()
    assert rules.count("duplicate_key") == 1 and rules.count("null_key") == 1
    # the original customer 3 is kept: the first occurrence wins
    assert c.loc[3, "customer_id"] in set(d.customers["customer_id"])


def test_foreign_keys_cascade(clean_dealer):
    """A quarantined customer takes its leads, orders and touchpoints with it: nothing dangles."""
    tables = _tables(clean_dealer)
    buyer = tables["orders"]["customer_id"].iloc[0]
    c = tables["customers"].astype({"gender": object})
    c.loc[c["customer_id"] == buyer, "gender"] = "?"
    tables["customers"] = c
    d = _rebuild(clean_dealer, tables)
    q = d.quarantine
    assert (q["rule"] == "foreign_key:customers.customer_id").sum() >= 3
    for name, col in [
        ("leads", "customer_id"),
        ("orders", "customer_id"),
        ("touchpoints", "customer_id"),
    ]:
        assert not d.tables[name][col].isin([buyer]).any()


@pytest.mark.parametrize(
    ("table", "mutate", "rule"),
    [
        (
            "orders",
            lambda f: f.assign(ordered_at=f["ordered_at"] - pd.Timedelta(days=3650)),
            "chronology:order_before_lead",
        ),
        (
            "orders",
            lambda f: f.assign(delivered_at=f["ordered_at"] - pd.Timedelta(days=1)),
            "chronology:delivery_before_order",
        ),
        (
            "leads",
            lambda f: f.assign(closed_at=f["created_at"] - pd.Timedelta(days=1)),
            "chronology:closed_before_created",
        ),
        (
            "insurance_policies",
            lambda f: f.assign(end=f["start"]),
            "chronology:end_not_after_start",
        ),
    ],
)
def test_chronology(clean_dealer, table, mutate, rule):
    tables = _tables(clean_dealer)
    frame = tables[table]
    first = frame.iloc[[0]]
    if table == "leads":
        first = frame[frame["closed_at"].notna()].iloc[[0]]
    tables[table] = pd.concat([mutate(first), frame.drop(index=first.index)])
    d = _rebuild(clean_dealer, tables)
    assert rule in set(d.quarantine["rule"]), d.report


def test_stage_event_before_lead(clean_dealer):
    tables = _tables(clean_dealer)
    tp = tables["touchpoints"]
    i = tp.index[tp["kind"] == "quote"][0]
    tp.loc[i, "at"] = tp.loc[i, "at"] - pd.Timedelta(days=4000)
    d = _rebuild(clean_dealer, tables)
    q = d.quarantine
    assert (
        (q["rule"] == "chronology:stage_before_lead") & (q["row_id"] == tp.loc[i, "touch_id"])
    ).any()


def test_events_after_as_of(clean_dealer):
    tables = _tables(clean_dealer)
    tables["service_visits"].loc[0, "at"] = clean_dealer.as_of + pd.Timedelta(days=2)
    # an event on the as-of day itself is fine
    tables["service_visits"].loc[1, "at"] = clean_dealer.as_of + pd.Timedelta(hours=15)
    d = _rebuild(clean_dealer, tables)
    q = d.quarantine
    assert q["rule"].tolist() == ["after_as_of"]
    assert q["row_id"].iloc[0] == tables["service_visits"].loc[0, "ro_id"]


def test_strict_raises_one_error_with_the_whole_report(clean_dealer):
    tables = _tables(clean_dealer)
    tables["customers"] = tables["customers"].astype({"gender": object})
    tables["customers"].loc[0:4, "gender"] = "X"
    tables["leads"] = tables["leads"].astype({"channel": object})
    tables["leads"].loc[0, "channel"] = "billboard"
    with pytest.raises(DataValidationError) as err:
        _rebuild(clean_dealer, tables, strict=True)
    msg = str(err.value)
    assert "customers.gender" in msg and "leads.channel" in msg and "strict=False" in msg
    assert set(err.value.report["table"]) >= {"customers", "leads"}


def test_missing_and_unknown_columns_name_the_table_and_the_fix(clean_dealer):
    tables = _tables(clean_dealer)
    tables["leads"] = tables["leads"].drop(columns=["channel"])
    with pytest.raises(InputError, match=r"'leads'.*missing column\(s\) \['channel'\].*mapping"):
        _rebuild(clean_dealer, tables, sources={"leads": "线索.csv"})
    tables = _tables(clean_dealer)
    tables["leads"] = tables["leads"].assign(colour="red")
    with pytest.raises(InputError, match=r"\[.colour.\] that the canonical model does not know"):
        _rebuild(clean_dealer, tables)


def test_unknown_table_and_missing_as_of(clean_dealer):
    with pytest.raises(InputError, match="unknown table"):
        build_dealer({"customerz": clean_dealer.customers}, dealer_id="D1", as_of="2026-01-01")
    with pytest.raises(InputError, match="as_of"):
        build_dealer({}, dealer_id="D1", as_of=None)


def test_rows_of_another_dealer_are_quarantined(clean_dealer):
    tables = _tables(clean_dealer)
    tables["surveys"].loc[0, "dealer_id"] = "D999"
    d = _rebuild(clean_dealer, tables)
    assert d.quarantine["rule"].tolist() == ["other_dealer"]


def test_empty_dealer_is_valid():
    d = build_dealer({}, dealer_id="D9", as_of="2026-01-31")
    assert all(len(t) == 0 for t in d.tables.values())
    assert list(d.customers.columns) == schema.columns("customers")
