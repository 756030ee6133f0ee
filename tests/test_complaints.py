"""Complaint handling: counts, service levels, reopen rate and retention after a complaint,
checked against the simulator's complaint process and its retention oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_analytics.core.config import resolve_settings
from crm_analytics.core.errors import InputError, InsufficientDataError
from crm_analytics.core.schema import COMPLAINT_CATEGORIES, COMPLAINT_STAGES
from crm_analytics.data.validation import build_dealer
from crm_analytics.metrics import complaints as K
from crm_analytics.metrics.funnel import wilson_interval
from crm_analytics.sim import DefectRates, SimConfig, simulate_dealer_tables
from crm_analytics.sim.config import (
    COMPLAINT_CATEGORY_MIX,
    COMPLAINT_REOPEN_RATE,
)
from crm_analytics.sim.truth import true_retention

SLA = resolve_settings().section("lifecycle")["complaints"]


@pytest.fixture(scope="module")
def big():
    meta, tables, truth = simulate_dealer_tables(
        SimConfig(customers_per_dealer=10000, defects=DefectRates.none()), 0
    )
    return pd.Timestamp(meta["as_of"]), tables, truth


def test_settings_come_from_the_lifecycle_file():
    assert SLA["first_response_hours"] == 24 and SLA["resolution_days"] == 7
    assert SLA["retention_horizon_days"] == 365


def test_counts_by_category_and_stage(big):
    as_of, tables, _ = big
    c = tables["complaints"]
    t = K.complaint_counts(c)
    assert list(t.index) == [*COMPLAINT_CATEGORIES, "total"]
    assert list(t.columns) == [*COMPLAINT_STAGES, "total"]
    assert t.loc["total", "total"] == len(c) > 50
    # the category shares follow the simulated mix (Wilson interval of each share)
    k = t.loc[list(COMPLAINT_CATEGORIES), "total"].to_numpy()
    lo, hi = wilson_interval(k, np.full(len(k), len(c)), z=3.0)
    assert ((lo <= COMPLAINT_CATEGORY_MIX) & (np.asarray(COMPLAINT_CATEGORY_MIX) <= hi)).all()


def test_service_levels_and_reopen_rate_match_the_simulated_process(big):
    as_of, tables, truth = big
    c = tables["complaints"]
    h = K.complaint_handling(
        c, as_of=as_of, **{k: SLA[k] for k in ("first_response_hours", "resolution_days")}
    )
    allrow = h.set_index("category").loc["all"]
    # the counts against the simulator's drawn times: met when drawn within the level
    tk = truth["complaints"].set_index("complaint_id").loc[c["complaint_id"]]
    assert allrow["response_sla_met"] == (tk["response_hours"] <= SLA["first_response_hours"]).sum()
    assert allrow["resolution_sla_met"] == (tk["resolution_days"] <= SLA["resolution_days"]).sum()
    judged = (tk["response_hours"] <= SLA["first_response_hours"]) | (
        c["opened_at"].to_numpy() < as_of - pd.Timedelta(hours=SLA["first_response_hours"])
    )
    assert allrow["response_sla_judged"] == judged.sum()
    # the reopen rate covers the simulated rate, and the median response time the drawn one
    assert allrow["reopen_ci_low"] <= COMPLAINT_REOPEN_RATE <= allrow["reopen_ci_high"]
    assert allrow["median_response_hours"] == pytest.approx(tk["response_hours"].median(), rel=1e-3)
    # resolved complaints are the owners the truth marks resolved (those old enough to be done)
    tc = truth["customers"].dropna(subset=["visit_rate"]).set_index("vin")
    old = c[c["opened_at"] <= as_of - pd.Timedelta(days=120)]
    assert (tk.loc[old["complaint_id"], "resolved"].to_numpy() == old["resolved_at"].notna()).all()
    assert (
        old["resolved_at"].notna().to_numpy() == tc.loc[old["vin"], "complaint_resolved"].to_numpy()
    ).all()
    assert allrow["complaints"] == len(c) and allrow["open"] + allrow["resolved"] == len(c)


def test_retention_after_a_complaint_against_the_oracle(big):
    """Consistency with the oracle only: with ~40 complainers sold here the intervals are
    wide (the difference's spans about 0.55), so this does not show the effect is recovered."""
    as_of, tables, truth = big
    here = tables["vehicles"].set_index("vin")["sold_by_this_dealer"]
    c = tables["complaints"]
    c = c[here.reindex(c["vin"]).to_numpy(dtype=bool)]  # the oracle is exact for these owners
    r = K.complaint_retention(c, tables["service_visits"], as_of=as_of).set_index("group")
    first = c.sort_values("opened_at").drop_duplicates("customer_id")
    first = first[
        (first["opened_at"] <= as_of - pd.Timedelta(days=365))
        & (first["opened_at"] >= tables["service_visits"]["at"].min())
    ]
    p = true_retention(truth["customers"], first["customer_id"], first["opened_at"]).to_numpy()
    resolved = first["resolved_at"].notna().to_numpy()
    assert r.loc["resolved", "complainers"] == resolved.sum()
    for group, mask in (("resolved", resolved), ("unresolved", ~resolved)):
        assert r.loc[group, "ci_low"] <= p[mask].mean() <= r.loc[group, "ci_high"], group
    true_diff = p[~resolved].mean() - p[resolved].mean()
    assert r.loc["difference", "ci_low"] <= true_diff <= r.loc["difference", "ci_high"]


def _toy():
    t = pd.Timestamp("2025-01-01 09:00")
    return pd.DataFrame(
        {
            "complaint_id": ["K1", "K2", "K3", "K4"],
            "customer_id": ["C1", "C2", "C3", "C4"],
            "category": ["price", "price", "waiting_time", "repair_quality"],
            "stage": ["service", "sales", "service", "service"],
            "opened_at": [t, t, t, pd.Timestamp("2026-06-30 08:00")],
            "first_response_at": [
                t + pd.Timedelta(hours=2),
                t + pd.Timedelta(hours=30),
                pd.NaT,
                pd.NaT,
            ],
            "resolved_at": [t + pd.Timedelta(days=3), pd.NaT, t + pd.Timedelta(days=10), pd.NaT],
            "reopened": [True, False, False, False],
        }
    )


def test_hand_computed_handling_and_retention():
    c = _toy()
    h = K.complaint_handling(
        c, as_of="2026-06-30 12:00", first_response_hours=24, resolution_days=7, by=None
    ).iloc[0]
    # K4 opened 4 h before as_of: not yet judged on the response level nor on resolution
    assert (h["response_sla_met"], h["response_sla_judged"]) == (1, 3)
    assert (h["resolution_sla_met"], h["resolution_sla_judged"]) == (1, 3)
    assert (h["resolved"], h["open"], h["reopened"]) == (2, 2, 1)
    assert h["reopen_rate"] == pytest.approx(0.5)
    sv = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C3"],
            "at": pd.to_datetime(["2024-06-01", "2025-05-01", "2026-03-01", "2024-12-01"]),
        }
    )
    r = K.complaint_retention(c, sv, as_of="2026-06-30").set_index("group")
    # C1 resolved, no visit after; C3 resolved, visit after the window; C2 unresolved, retained
    assert r.loc["resolved", ["complainers", "retained"]].tolist() == [2, 0]
    assert r.loc["unresolved", ["complainers", "retained"]].tolist() == [1, 1]
    assert r.loc["difference", "retention"] == pytest.approx(1.0)


def test_bad_input_is_named():
    with pytest.raises(InputError, match="resolved_at"):
        K.complaint_handling(
            _toy().drop(columns="resolved_at"),
            as_of="2026-01-01",
            first_response_hours=24,
            resolution_days=7,
        )
    only_open = _toy().assign(resolved_at=pd.NaT)
    with pytest.raises(InsufficientDataError):
        K.complaint_retention(
            only_open,
            pd.DataFrame({"customer_id": ["C1"], "at": [pd.Timestamp("2024-01-01")]}),
            as_of="2026-06-30",
        )


def test_a_resolution_before_opening_is_quarantined(clean_dealer):
    tables = {name: frame.copy() for name, frame in clean_dealer.tables.items()}
    c = tables["complaints"]
    assert len(c) > 0
    c.loc[c.index[0], "resolved_at"] = c.loc[c.index[0], "opened_at"] - pd.Timedelta(days=1)
    d = build_dealer(tables, dealer_id=clean_dealer.dealer_id, as_of=clean_dealer.as_of)
    q = d.quarantine
    hit = q[(q["table"] == "complaints") & (q["rule"] == "chronology:resolved_before_opened")]
    assert hit["row_id"].tolist() == [c.loc[c.index[0], "complaint_id"]]
