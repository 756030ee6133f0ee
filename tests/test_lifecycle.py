"""Lifecycle states: hand-built cases, agreement with the simulator's true dropouts, transitions."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_analytics.core.errors import InputError
from crm_analytics.data.validation import build_dealer
from crm_analytics.metrics.lifecycle import (
    STATES,
    dormant_owners,
    lifecycle_states,
    state_counts,
    transition_matrix,
)


def _dealer():
    as_of = "2026-06-30"
    cust = pd.DataFrame(
        {
            "customer_id": ["reg", "flo", "dor", "los", "new", "els", "pro", "def"],
            "name": "x",
            "phone": None,
            "gender": None,
            "birth_year": None,
            "city": None,
            "industry": None,
            "hobbies": None,
            "distance_km": None,
            "created_at": pd.Timestamp("2020-01-01"),
        }
    )
    vin = {
        c: f"VIN{c.upper():0>14}"[:17].ljust(17, "0")
        for c in ["reg", "flo", "dor", "los", "new", "els"]
    }
    veh = pd.DataFrame(
        {
            "vin": list(vin.values()),
            "customer_id": list(vin),
            "model": "QX50",
            "purchase_date": pd.to_datetime(
                ["2021-01-10", "2021-01-10", "2021-01-10", "2021-01-10", "2026-01-10", "2020-01-10"]
            ),
            "sold_by_this_dealer": [True, True, True, True, True, False],
            "warranty_end": pd.Timestamp("2029-01-01"),
            "finance_end": None,
            "recall_campaign": None,
        }
    )
    visits = {
        "reg": ["2024-08-01", "2025-01-15", "2025-07-01", "2025-12-20", "2026-06-01"],
        "flo": ["2024-09-01", "2026-03-01"],
        "dor": ["2025-02-01"],
        "los": ["2024-06-01"],
        "els": ["2026-02-01"],
    }
    rows = [(c, pd.Timestamp(t)) for c, ts in visits.items() for t in ts]
    sv = pd.DataFrame(
        {
            "ro_id": [f"R{i}" for i in range(len(rows))],
            "vin": [vin[c] for c, _ in rows],
            "customer_id": [c for c, _ in rows],
            "at": [t for _, t in rows],
            "kind": "maintenance",
            "labor_amount": 100.0,
            "parts_amount": 100.0,
            "addon_amount": 0.0,
            "margin": 80.0,
            "mileage": 1000.0,
            "advisor_id": None,
        }
    )
    leads = pd.DataFrame(
        {
            "lead_id": ["L1", "L2"],
            "customer_id": ["pro", "def"],
            "channel": "walk_in",
            "model_interest": "QX50",
            "created_at": pd.to_datetime(["2026-06-01", "2025-01-01"]),
            "consultant_id": None,
            "intent_grade": None,
            "status": ["open", "defeated"],
            "closed_at": pd.to_datetime([None, "2025-03-01"]),
            "defeat_reason": [None, "price"],
            "first_response_at": pd.to_datetime(["2026-06-01", "2025-01-01"]),
        }
    )
    return build_dealer(
        {"customers": cust, "vehicles": veh, "service_visits": sv, "leads": leads},
        dealer_id="D",
        as_of=as_of,
        strict=True,
    )


def test_hand_built_states():
    s = lifecycle_states(_dealer()).set_index("customer_id")["state"].astype(str).to_dict()
    assert s == {
        "reg": "regular",
        "flo": "floating",
        "dor": "dormant",
        "los": "lost",
        "new": "own_store_new",
        "els": "bought_elsewhere",
        "pro": "prospect",
        "def": "defeated",
    }


def test_states_at_a_past_date_use_only_the_past():
    s = (
        lifecycle_states(_dealer(), as_of="2025-02-15")
        .set_index("customer_id")["state"]
        .astype(str)
    )
    assert "new" not in s.index or s["new"] == "prospect"  # bought 2026: not an owner yet
    assert s["def"] == "prospect"  # the lead was still open in February 2025
    assert s["los"] == "floating"  # 8.5 months since its last visit: not yet dormant (> 9)
    later = lifecycle_states(_dealer(), as_of="2025-03-15").set_index("customer_id")["state"]
    assert later["los"] == "dormant"


def test_p_alive_makes_a_recent_but_improbable_owner_dormant():
    d = _dealer()
    p = pd.Series({"reg": 0.1})
    s = lifecycle_states(d, p_alive=p).set_index("customer_id")["state"]
    assert s["reg"] == "dormant"


def test_dormant_owners_is_the_dormant_state():
    d = _dealer()
    assert dormant_owners(d)["customer_id"].tolist() == ["dor"]
    # in March 2025 "los" has just crossed 9 months and "dor" visited in February
    assert dormant_owners(d, as_of="2025-03-15")["customer_id"].tolist() == ["los"]
    # with P(alive) a recent owner below p_alive_dormant joins the list
    got = dormant_owners(d, p_alive=pd.Series({"reg": 0.1}))
    assert set(got["customer_id"]) == {"dor", "reg"}
    # from states already computed, the same rows
    states = lifecycle_states(d)
    pd.testing.assert_frame_equal(dormant_owners(states=states), dormant_owners(d))
    # the thresholds are the lifecycle parameters: 16.9 months dormant, 24.9 months lost
    wider = dormant_owners(d, params={"dormant_months": 12, "lost_months": 20})
    assert wider["customer_id"].tolist() == ["dor"]
    with pytest.raises(InputError, match="dealer or the states"):
        dormant_owners()
    with pytest.raises(InputError, match="output of lifecycle_states"):
        dormant_owners(states=states[["customer_id"]])


def test_unknown_parameter_is_named():
    with pytest.raises(InputError, match="unknown lifecycle parameter"):
        lifecycle_states(_dealer(), params={"dormant_month": 6})


def test_states_agree_with_true_dropouts(dirty_dealer):
    d = dirty_dealer
    s = lifecycle_states(d).merge(
        d.truth["customers"][["customer_id", "dropout_at"]], on="customer_id"
    )
    s["dead"] = s["dropout_at"] < d.as_of
    rate = s.groupby("state", observed=True)["dead"].mean()
    assert rate["lost"] > 0.8
    assert rate["regular"] < 0.2
    assert rate["lost"] > rate["dormant"] > rate["regular"]


def test_transition_matrix_counts_every_customer_once(dirty_dealer):
    d = dirty_dealer
    tab = transition_matrix(d, "2024-06-30", "2025-06-30")
    end = lifecycle_states(d, as_of="2025-06-30")
    assert int(tab.to_numpy().sum()) == len(end)
    assert list(tab.columns) == list(STATES)
    # nobody goes from defeated back to prospect without a new lead, and "lost" is sticky-ish
    norm = transition_matrix(d, "2024-06-30", "2025-06-30", normalize=True)
    assert norm.loc["lost", "lost"] > 0.8
    counts = state_counts(end)
    assert counts["customers"].sum() == len(end) and counts["share"].sum() == pytest.approx(1.0)
    with pytest.raises(InputError):
        transition_matrix(d, "2025-06-30", "2024-06-30")
