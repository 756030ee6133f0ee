"""Coaching action plans (issue 17 item 7): the ``coaching`` key of a dealer file, the review
of each item at the next round, the proposed plan of the next round and the report's section."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_analytics.core import config
from crm_analytics.core.errors import ParameterError

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
