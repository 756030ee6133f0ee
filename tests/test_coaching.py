"""Coaching action plans (issue 17 item 7): the ``coaching`` key of a dealer file, the review
of each item at the next round, the proposed plan of the next round and the report's section."""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from crm_analytics.core import config
from crm_analytics.core.errors import ParameterError
from crm_analytics.metrics.funnel import compare_periods
from crm_analytics.report import sections
from crm_analytics.report.analysis import DealerAnalysis
from crm_analytics.report.coaching import review_action_plan
from crm_analytics.report.headline import dealer_metrics, resolve_periods

SNAKE = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")
CJK = re.compile(r"[\u4e00-\u9fff]")

ITEM = {
    "round": "2025-07-08",
    "kpi": "finance_penetration",
    "action": "two finance offers at every delivery",
    "owner": "f_and_i_manager",
    "due": "2025-10-31",
    "status": "done",
    "baseline": 0.47,
    "target": 0.6,
}


def _problems(tmp_path: Path, items: list) -> str:
    with pytest.raises(ParameterError) as exc:
        config.resolve_settings(
            "D009", params_dir=tmp_path, dealer={"dealer_id": "D009", "coaching": items}
        )
    return str(exc.value)


def test_a_plan_is_read_into_the_settings(tmp_path):
    (tmp_path / "dealers").mkdir()
    (tmp_path / "dealers" / "D009.yaml").write_text(
        "dealer_id: D009\ncoaching:\n"
        "  - {round: 2025-07-08, kpi: visit_rate, action: 邀约所有新线索, owner: dcc,"
        " due: 2025-09-30}\n",
        encoding="utf-8",
    )
    s = config.resolve_settings("D009", params_dir=tmp_path)
    (item,) = s.action_plan
    assert dict(item) == {
        "round": "2025-07-08",
        "kpi": "visit_rate",
        "action": "邀约所有新线索",
        "owner": "dcc",
        "due": "2025-09-30",
        "status": "open",  # the default
        "baseline": None,
        "target": None,
        "gap_yuan": None,
    }
    with pytest.raises(TypeError):
        item["status"] = "done"  # type: ignore[index]
    assert s.as_dict()["action_plan"] == [dict(item)]
    assert config.resolve_settings("D009", params_dir=tmp_path, dealer={}).action_plan == ()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"kpi": "finance_penatration"},
            "item 1: field 'kpi': unknown KPI 'finance_penatration' "
            "(did you mean 'finance_penetration'?)",
        ),
        ({"round": "2025-02-30"}, "item 1: field 'round' must be a date YYYY-MM-DD"),
        ({"due": "31.10.2025"}, "item 1: field 'due' must be a date YYYY-MM-DD"),
        ({"due": "2025-07-01"}, "item 1: field 'due' 2025-07-01 is before the round 2025-07-08"),
        ({"status": "finished"}, "item 1: field 'status': unknown status 'finished'"),
        (
            {"status": "Done"},
            "item 1: field 'status': unknown status 'Done' (did you mean 'done'?)",
        ),
        ({"owner": "f_and_i"}, "item 1: field 'owner': unknown role 'f_and_i' (did you mean"),
        ({"owner": None}, "item 1: field 'owner' is missing"),
        ({"action": " "}, "item 1: field 'action' must be text"),
        (
            {"baseline": 47},
            "item 1: field 'baseline' of the rate 'finance_penetration' must lie in [0, 1]",
        ),
        ({"target": "60%"}, "item 1: field 'target' must be a number"),
        ({"ownr": "dcc"}, "item 1: unknown field 'ownr' (did you mean 'owner'?)"),
    ],
)
def test_each_bad_item_is_named_with_its_field_and_fix(tmp_path, change, expected):
    item = {**ITEM, **change}
    msg = _problems(tmp_path, [ITEM, item])
    assert "D009.yaml: coaching: " + expected.replace("item 1", "item 2") in msg, msg
    assert "item 1" not in msg  # the good item has no problem
    assert msg.startswith("1 problem(s)")


def test_a_plan_that_is_not_a_list_of_items(tmp_path):
    assert "must be a list of action items" in _problems(tmp_path, {"round": "2025-07-08"})
    assert "item 1: must be a mapping" in _problems(tmp_path, ["call everyone"])
    # a network-wide plan makes no sense: the key belongs to a dealer's file
    with pytest.raises(ParameterError, match="network.yaml: coaching: unknown key"):
        (tmp_path / "network.yaml").write_text("coaching: []\n", encoding="utf-8")
        config.resolve_settings(params_dir=tmp_path)


def test_the_next_rounds_yaml_reads_back_as_the_same_items(tmp_path):
    zh = {**ITEM, "action": "金融经理在交车前提供两套分期方案", "gap_yuan": 12345.0}
    bare = {k: v for k, v in ITEM.items() if k not in ("status", "baseline", "target")}
    text = config.action_plan_yaml([zh, bare], header="Proposed plan\nfor D009")
    assert text.startswith("# Proposed plan\n# for D009\ncoaching:\n")
    assert "金融经理" in text  # readable Chinese, not escapes
    (tmp_path / "dealers").mkdir()
    (tmp_path / "dealers" / "D009.yaml").write_text("dealer_id: D009\n" + text, encoding="utf-8")
    s = config.resolve_settings("D009", params_dir=tmp_path)
    assert [dict(x) for x in s.action_plan] == [
        {**zh},
        {**bare, "status": "open", "baseline": None, "target": None, "gap_yuan": None},
    ]


# ---------------------------------------------------------------------------------------------
# The review of each item, against values counted here from the dealer's tables
# ---------------------------------------------------------------------------------------------

Z = 1.959963984540054
DAY = pd.Timedelta(days=1)


def _wilson(x: float, n: float) -> tuple[float, float]:
    p = x / n
    denom = 1 + Z**2 / n
    centre = (p + Z**2 / (2 * n)) / denom
    half = Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2)) / denom
    return centre - half, centre + half


def _newcombe(x1: float, n1: float, x2: float, n2: float) -> tuple[float, float]:
    """Newcombe (1998) method 10: 95 % interval of p2 - p1 from the two Wilson intervals."""
    p1, p2 = x1 / n1, x2 / n2
    (l1, u1), (l2, u2) = _wilson(x1, n1), _wilson(x2, n2)
    d = p2 - p1
    return d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt(
        (u2 - p2) ** 2 + (p1 - l1) ** 2
    )


def _financed(d, start, end) -> tuple[int, int]:
    o = d.orders
    sel = o.loc[(o["delivered_at"] >= start) & (o["delivered_at"] < end + DAY)]
    return int(sel["finance"].astype(bool).sum()), len(sel)


def _visited(d, start, end) -> tuple[int, int]:
    """Leads created in the window that reached the showroom (a visit, test drive, quote,
    order or delivery of the lead: a later stage implies the visit)."""
    leads, tp = d.leads, d.touchpoints
    cohort = leads.loc[(leads["created_at"] >= start) & (leads["created_at"] < end + DAY)]
    stages = tp["kind"].isin(["visit", "test_drive", "quote", "order", "delivery"])
    seen = set(tp.loc[stages, "lead_id"].dropna()) | set(d.orders["lead_id"].dropna())
    return int(cohort["lead_id"].isin(seen).sum()), len(cohort)


def _analysis(d, items: list, tmp_path: Path) -> DealerAnalysis:
    """The parts of the dealer's analysis the review reads, built as analyse_dealer does."""
    settings = config.resolve_settings(
        d.dealer_id,
        params_dir=tmp_path,
        network={},
        dealer={"dealer_id": d.dealer_id, "coaching": items},
    )
    period, comparison = resolve_periods(d.as_of)
    return DealerAnalysis(
        dealer=d,
        settings=settings,
        period=period,
        comparison=comparison,
        metrics=dealer_metrics(d),
        calls=pd.DataFrame(),
        reconciliation=None,
        scorecard=None,
        sections={"change": compare_periods(d, before=comparison, after=period)},
    )


def test_each_item_is_reviewed_against_the_dealers_tables(clean_dealer, tmp_path):
    d = clean_dealer
    (start, end), (cstart, cend) = resolve_periods(d.as_of)
    x_fin, n_fin = _financed(d, start, end)
    fin = x_fin / n_fin
    n_fin_before = _financed(d, cstart, cend)[1]
    xb, nb = _visited(d, cstart, cend)
    xa, na = _visited(d, start, end)
    day = lambda k: (start + pd.Timedelta(days=k)).date().isoformat()  # noqa: E731
    base = {"round": day(7), "action": "x", "owner": "sales_manager", "due": day(60)}
    items = [
        {**base, "kpi": "finance_penetration", "baseline": 0.2, "status": "done"},
        {**base, "kpi": "finance_penetration", "baseline": fin - 0.01, "target": fin - 0.05},
        {**base, "kpi": "visit_rate", "target": 0.99, "status": "open"},
        {**base, "kpi": "visit_rate", "status": "dropped"},
        {**base, "kpi": "order_cycle_days", "baseline": 60.0, "target": 1.0, "status": "done"},
        {**base, "round": day(3), "kpi": "order_cycle_days", "baseline": 60.0, "target": 200.0},
        {
            **base,
            "round": end.date().isoformat(),
            "due": end.date().isoformat(),
            "kpi": "visit_rate",
        },
    ]
    review = review_action_plan(_analysis(d, items, tmp_path))
    assert review.attrs["later"] == 1  # agreed at the period's end: nothing to review yet
    assert len(review) == 6
    assert list(review["round"]) == [pd.Timestamp(day(7))] * 5 + [pd.Timestamp(day(3))]
    r = review  # latest round first, a round's items in the file's order

    # finance: the recorded baseline against the period's deliveries, Wald interval of the
    # difference, the recorded share on the previous round's deliveries
    half = Z * math.sqrt(fin * (1 - fin) / n_fin + 0.2 * 0.8 / n_fin_before)
    first = r.iloc[0]
    assert first["baseline_source"] == "recorded" and first["now"] == pytest.approx(fin)
    d_fin = fin - 0.2
    assert first["change"] == pytest.approx(d_fin)
    assert (first["ci_low"], first["ci_high"]) == pytest.approx((d_fin - half, d_fin + half))
    expected = "unchanged" if abs(d_fin) <= half else ("improved" if d_fin > 0 else "worse")
    assert first["verdict"] == expected
    assert first["reached"] is None and not first["overdue"]  # no target; done
    second = r.iloc[1]  # a target below the KPI now: reached, whatever the change
    assert second["reached"] is True and second["verdict"] == "reached"
    assert second["overdue"]  # open, due before the data date

    # visit rate: no baseline recorded -> the previous round's period, Newcombe interval
    third = r.iloc[2]
    assert third["baseline_source"] == "previous_round"
    assert third["baseline"] == pytest.approx(xb / nb) and third["now"] == pytest.approx(xa / na)
    lo, hi = _newcombe(xb, nb, xa, na)
    assert (third["ci_low"], third["ci_high"]) == pytest.approx((lo, hi), abs=1e-9)
    beyond = lo > 0 or hi < 0
    assert third["verdict"] == (("improved" if lo > 0 else "worse") if beyond else "unchanged")
    assert third["reached"] is False and third["overdue"]
    assert not r.iloc[3]["overdue"]  # dropped: not overdue

    # order cycle: lower is better; days have no interval here, the sign decides
    fifth, sixth = r.iloc[4], r.iloc[5]
    cycle = fifth["now"]
    assert 0 < cycle < 60 and fifth["change"] == pytest.approx(cycle - 60.0)
    assert math.isnan(fifth["ci_low"]) and fifth["reached"] is False
    assert fifth["verdict"] == "improved"  # fewer days than at the round
    assert sixth["reached"] is True and sixth["verdict"] == "reached"  # at most 200 days


def test_without_a_plan_the_report_says_how_to_record_one(clean_dealer, tmp_path):
    a = _analysis(clean_dealer, [], tmp_path)
    assert review_action_plan(a).empty
    for lang in ("zh", "en"):
        view = sections.action_plan_view(a, lang)
        assert view["table"] is None and view["later"] == ""
        assert f"params/dealers/{clean_dealer.dealer_id}.yaml" in view["empty"]
        assert "coaching" in view["empty"]
        assert not SNAKE.search(view["empty"]) and not SNAKE.search(view["note"])
    assert CJK.search(sections.action_plan_view(a, "zh")["empty"])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_index_links_the_next_plan_by_name(lang):
    from crm_analytics.batch import export
    from crm_analytics.report.text import t

    row = {"dealer_id": "D1", "status": "ok", "link": "D1/report.html"}
    row["outputs"] = {"action_plan_next": "D1/action_plan_next.yaml"}
    cell = export._link_cell(row, None, lang)
    assert "href='D1/action_plan_next.yaml'" in cell
    assert html.escape(t("idx_action_plan", lang)) in cell and ">action_plan_next<" not in cell
