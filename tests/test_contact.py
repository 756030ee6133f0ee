"""Lost contacts and the CRM desk's own work (issue 17 items 4-5) against the simulator's truth.

The simulator's desk calls on four lists (``crm_analytics.sim.crm_calls``); its truth says
which customers cannot be reached (since when, and why) and each attempt's list and whether a
reached call converted.
"""

from __future__ import annotations

import dataclasses
import pickle
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from crm_analytics.actions.call_lists import call_lists
from crm_analytics.core.config import load_params, resolve_settings
from crm_analytics.core.errors import InputError, InsufficientDataError
from crm_analytics.core.schema import CALL_OUTCOMES
from crm_analytics.data.dms import load_mapping
from crm_analytics.metrics import contact as ct
from crm_analytics.report.analysis import crm_desk
from crm_analytics.report.headline import resolve_periods
from crm_analytics.report.views_contact import RECONTACT_ROWS, contact_view
from crm_analytics.sim import simulate_dealer
from crm_analytics.sim.surveys import RESPONSE_RATES

SEEDS = (1, 2, 3)
PARAMS = load_params("lifecycle")["contact"]


@pytest.fixture(scope="module", params=SEEDS)
def dealer(request):
    return simulate_dealer(0, customers=3000, years=3, seed=request.param)


def _truth_sets(d):
    """(unreachable on the data date, of whom detectable: an invalid phone or an attempt
    since the phone stopped working)."""
    tr, calls = d.truth["contact"], d.truth["calls"]
    now = tr[
        (tr["unreachable_from"] <= pd.Timestamp(d.as_of))
        & tr["customer_id"].isin(d.customers["customer_id"])
    ]
    cc = calls.merge(now[["customer_id", "unreachable_from"]], on="customer_id")
    after = set(cc.loc[cc["at"] >= cc["unreachable_from"], "customer_id"])
    invalid = set(now.loc[now["reason"] == "invalid_phone", "customer_id"])
    return set(now["customer_id"]), invalid | after


def test_calls_are_canonical_touchpoints(dealer):
    tp = dealer.touchpoints
    calls = tp[tp["kind"] == "call"]
    truth = dealer.truth["calls"]
    assert len(calls) == len(truth) > 500  # every simulated attempt passed validation
    assert set(calls["outcome"]) == set(CALL_OUTCOMES)
    assert calls["channel"].isna().all() and calls["dwell_minutes"].isna().all()
    roles = dealer.staff.set_index("staff_id")["role"]
    assert set(calls["staff_id"].map(roles)) == {"crm", "dcc"}
    assert (calls["at"] <= pd.Timestamp(dealer.as_of) + pd.Timedelta(days=1)).all()
    # an unreachable customer's attempts never reach anyone
    assert not truth.loc[truth["unreachable"], "outcome"].isin(["reached", "refused"]).any()


def test_lost_contacts_precision_and_recall_against_truth(dealer):
    lost = ct.lost_contacts(
        dealer,
        no_answer_streak=PARAMS["no_answer_streak"],
        no_answer_days=PARAMS["no_answer_days"],
        contact=True,
    )
    unreachable, detectable = _truth_sets(dealer)
    flagged = set(lost["customer_id"])
    precision = len(flagged & unreachable) / len(flagged)
    recall = len(flagged & detectable) / len(detectable)
    assert len(detectable) >= 40
    assert precision >= 0.9, precision
    assert recall >= 0.9, recall


def test_recontact_list_is_masked_by_default_and_share_adds_up(dealer):
    masked = ct.lost_contacts(dealer)
    plain = ct.lost_contacts(dealer, contact=True)
    assert masked["customer_id"].tolist() == plain["customer_id"].tolist()
    shown = plain["phone"].dropna().astype(str)
    assert not masked["phone"].dropna().astype(str).isin(shown[shown.str.len() >= 7]).any()
    share = ct.unreachable_share(dealer, plain)
    assert share.loc["total", "customers"] == len(plain)
    n = dealer.customers["customer_id"].nunique()
    assert share.loc["total", "customer_share"] == pytest.approx(len(plain) / n)
    assert set(plain["reason"]) <= set(ct.LOST_REASONS)


def test_each_call_is_put_on_its_true_list(dealer):
    att = ct.call_attempts(
        dealer,
        callback_window_days=PARAMS["callback_window_days"],
        dormant_days=PARAMS["dormant_days"],
    )
    m = att.merge(dealer.truth["calls"], on="touch_id", suffixes=("", "_true"))
    assert len(m) == len(att) == len(dealer.truth["calls"])
    assert (m["list_type"] == m["list_type_true"]).mean() >= 0.99


def test_desk_work_counts_match_truth(dealer):
    att = ct.call_attempts(dealer)
    work = ct.desk_work(dealer, att, convert_days=PARAMS["convert_days"])
    truth = dealer.truth["calls"]
    lists = work[work["staff_id"] == "all"].set_index("list_type")
    t = truth.groupby("list_type").agg(
        attempts=("touch_id", "size"),
        customers=("customer_id", "nunique"),
        reached_calls=("outcome", lambda s: int((s == "reached").sum())),
        converted=("converted", "sum"),
    )
    for lt in ct.CALL_LISTS:
        assert lists.loc[lt, "attempts"] == t.loc[lt, "attempts"], lt
        assert lists.loc[lt, "customers"] == t.loc[lt, "customers"], lt
        assert lists.loc[lt, "reached_calls"] == t.loc[lt, "reached_calls"], lt
        if lt != "delivery_callback":
            assert lists.loc[lt, "converted"] == t.loc[lt, "converted"], lt
    assert lists.loc["total", "attempts"] == len(truth)
    # per owner: the rows of a list add up to the list
    per = work[work["staff_id"] != "all"].groupby("list_type")["attempts"].sum()
    assert per.to_dict() == lists.drop(index="total")["attempts"].to_dict()


def test_delivery_coverage_matches_truth(dealer):
    att = ct.call_attempts(dealer)
    limit = PARAMS["callback_days"]
    cov = ct.delivery_coverage(
        dealer, att, callback_days=limit, interview_days=PARAMS["interview_days"]
    )
    o = dealer.orders.dropna(subset=["delivered_at"])[["customer_id", "delivered_at"]]
    cut = pd.Timestamp(dealer.as_of).normalize() + pd.Timedelta(days=1)
    o = o.drop_duplicates()
    day = o["delivered_at"].dt.normalize()
    o = o[day + pd.Timedelta(days=limit + 1) <= cut].reset_index(drop=True)
    truth = dealer.truth["calls"]
    cb = truth[truth["list_type"] == "delivery_callback"]
    m = o.reset_index().merge(cb, on="customer_id")
    d = (m["at"].dt.normalize() - m["delivered_at"].dt.normalize()) / pd.Timedelta(days=1)
    ok = (d >= 0) & (d <= limit)
    assert cov.loc["callback_attempted", "deliveries"] == len(o)
    assert cov.loc["callback_attempted", "covered"] == m.loc[ok, "index"].nunique()
    reached = ok & (m["outcome"] == "reached")
    assert cov.loc["callback_reached", "covered"] == m.loc[reached, "index"].nunique()
    # the simulator calls 90% of the deliveries, 85% of those 1-3 days after (the rest 4-10)
    assert 0.7 < cov.loc["callback_attempted", "coverage"] < 0.9
    assert np.isfinite(cov.loc["interviewed", "coverage"])


def test_survey_response_rates_recover_the_simulated_rates(dealer):
    """Each survey kind's response rate (answered / events due) is the simulator's rate
    within 4 binomial standard errors; the interview's equals the delivery coverage's."""
    days = {"delivery_interview": PARAMS["interview_days"], **PARAMS["survey_days"]}
    sv = ct.survey_response(dealer, survey_days=days)
    assert list(sv.index) == list(days) and set(days) == set(RESPONSE_RATES)
    for kind, p in RESPONSE_RATES.items():
        n, rate = sv.loc[kind, "due"], sv.loc[kind, "response_rate"]
        assert n >= 80, (kind, n)
        assert abs(rate - p) < 4 * np.sqrt(p * (1 - p) / n), (kind, rate, p, n)
    cov = ct.delivery_coverage(
        dealer,
        ct.call_attempts(dealer),
        callback_days=PARAMS["callback_days"],
        interview_days=PARAMS["interview_days"],
    )
    assert sv.loc["delivery_interview", "answered"] == cov.loc["interviewed", "covered"]
    assert sv.loc["delivery_interview", "due"] == cov.loc["interviewed", "deliveries"]


def test_a_survey_answers_only_the_latest_event_before_it(dealer):
    """Two service visits three days apart and one survey the day after the second: the
    second visit is answered, the first is not (not both); a survey past the limit answers
    none; an event whose limit has not run out is not judged."""
    d = dealer
    cid = d.customers["customer_id"].iloc[0]
    t0 = pd.Timestamp(d.as_of).normalize() - pd.Timedelta(days=200)
    sv = d.service_visits.iloc[:4].copy()
    sv["customer_id"] = cid
    sv["at"] = [t0, t0 + pd.Timedelta(days=3), t0 + pd.Timedelta(days=50), pd.Timestamp(d.as_of)]
    sv["ro_id"] = [f"RO-X{i}" for i in range(4)]
    surveys = d.surveys.iloc[:2].copy()
    surveys["customer_id"] = cid
    surveys["kind"] = "service_satisfaction"
    surveys["at"] = [t0 + pd.Timedelta(days=4, hours=9), t0 + pd.Timedelta(days=60)]
    surveys["survey_id"] = ["Q-X0", "Q-X1"]
    d2 = dataclasses.replace(d, tables={**d.tables, "service_visits": sv, "surveys": surveys})
    r = ct.survey_response(d2, survey_days={"service_satisfaction": 5})
    assert r.loc["service_satisfaction", ["due", "answered"]].tolist() == [3, 1]
    with pytest.raises(InputError, match="survey_days names unknown survey kinds"):
        ct.survey_response(d2, survey_days={"csi": 5})


def test_lost_contacts_rules_on_a_hand_made_history(dealer):
    """A customer reached, then three unanswered attempts 20 days apart: flagged for
    no_answer; with the streak spanning less than the limit: not flagged."""
    d = dealer
    cid = d.customers.loc[d.customers["phone"].astype(str).str.fullmatch(r"1\d{10}"), "customer_id"]
    calls = d.touchpoints[d.touchpoints["kind"] == "call"]
    cid = cid[~cid.isin(calls["customer_id"])].iloc[0]
    t0 = pd.Timestamp(d.as_of) - pd.Timedelta(days=100)
    rows = pd.DataFrame(
        {
            "dealer_id": d.dealer_id,
            "touch_id": [f"X{i}" for i in range(4)],
            "customer_id": cid,
            "lead_id": None,
            "kind": "call",
            "channel": None,
            "at": [t0 + pd.Timedelta(days=k) for k in (0, 10, 20, 30)],
            "outcome": ["reached", "no_answer", "no_answer", "no_answer"],
            "dwell_minutes": np.nan,
            "staff_id": None,
        }
    )
    d2 = dataclasses.replace(d, tables={**d.tables, "touchpoints": rows})
    lost = ct.lost_contacts(d2, no_answer_streak=3, no_answer_days=14, contact=True)
    assert lost.set_index("customer_id").loc[cid, "reason"] == "no_answer"
    lost = ct.lost_contacts(d2, no_answer_streak=3, no_answer_days=25, contact=True)
    assert cid not in set(lost["customer_id"])


def test_dms_mapping_reads_chinese_call_outcomes():
    values = load_mapping()["tables"]["touchpoints"]["values"]["outcome"]
    assert values["空号"] == "wrong_number" and values["未接通"] == "no_answer"
    assert set(values.values()) == set(CALL_OUTCOMES)


def test_report_view_speaks_one_language():
    """The section's notes and tables in zh and en: no internal names, Chinese headers in zh,
    the re-contact list masked by default."""
    dealer = simulate_dealer(0, customers=400, years=3, seed=11)
    settings = resolve_settings(dealer.dealer_id, language="en")
    period, _ = resolve_periods(dealer.as_of, settings.period, settings.comparison_period)
    section = crm_desk(dealer, settings, period)
    pickle.loads(pickle.dumps(section))  # the run keeps it in the dealer's analysis.pkl
    analysis = SimpleNamespace(sections={"contact": section}, dealer=dealer, settings=settings)
    snake = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for lang in ("zh", "en"):
        view = contact_view(analysis, lang)
        parts = ("work", "owners", "coverage", "surveys", "lost", "recontact")
        assert set(view) == {p + s for p in parts for s in ("", "_note")}
        for key, part in view.items():
            text = part if isinstance(part, str) else part.to_string()
            assert not snake.search(text), (lang, key, snake.findall(text))
            if lang == "zh" and not isinstance(part, str):
                heads = [str(h) for h in [*part.columns, *part.index] if not str(h).isdigit()]
                assert all(cjk.search(h) for h in heads), (key, heads)
        shown = view["recontact"]
        assert 0 < len(shown) == min(len(section["lost"]), RECONTACT_ROWS)
        assert all("*" in p or p == "–" for p in shown.iloc[:, 1])  # phones masked


def test_lost_owners_are_on_the_call_lists(dealer):
    """The call lists' ``recontact`` rows are the owners the screening flags, with its rule."""
    calls = call_lists(dealer, reasons=["recontact"], contact=True)
    lost = ct.lost_contacts(
        dealer,
        no_answer_streak=PARAMS["no_answer_streak"],
        no_answer_days=PARAMS["no_answer_days"],
        contact=True,
    )
    owners = set(lost.loc[lost["owner"], "customer_id"])
    assert owners and set(calls["customer_id"]) == owners
    assert set(calls["reason"]) == {"recontact"} and set(calls["owner_role"]) == {"service_advisor"}
    assert calls["detail"].str.startswith("lost contact: ").all()
    unreachable, _ = _truth_sets(dealer)
    assert len(owners & unreachable) / len(owners) >= 0.9


def test_no_calls_at_all():
    """A DMS without call records: only invalid phones are flagged; the report section says
    why it is missing."""
    d = simulate_dealer(0, customers=200, years=2, seed=3)
    tp = d.touchpoints
    e = dataclasses.replace(d, tables={**d.tables, "touchpoints": tp[tp["kind"] != "call"]})
    lost = ct.lost_contacts(e, contact=True)
    assert set(lost["reason"]) <= {"invalid_phone"}
    assert ct.call_attempts(e).empty
    settings = resolve_settings(e.dealer_id, language="en")
    with pytest.raises(InsufficientDataError, match="call attempts"):
        crm_desk(e, settings, (pd.Timestamp("2025-01-01"), pd.Timestamp(e.as_of)))
