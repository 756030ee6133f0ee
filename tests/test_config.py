"""The settings resolver: package defaults < network.yaml < dealers/ID.yaml < run arguments."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from crm_analytics.core import config
from crm_analytics.core.errors import InputError, ParameterError
from crm_analytics.metrics import funnel
from crm_analytics.report import headline

REPO_PARAMS = Path(config.__file__).resolve().parents[2] / "params"


@pytest.fixture
def params_dir(tmp_path: Path) -> Path:
    (tmp_path / "dealers").mkdir()
    (tmp_path / "network.yaml").write_text(
        "language: en\ntargets: {visit_to_order_rate: 0.30, finance_penetration: 0.6}\n"
        "period: {start: 2025-07-01, end: 2026-06-30}\n",
        encoding="utf-8",
    )
    (tmp_path / "dealers" / "D007.yaml").write_text(
        "dealer_id: D007\nlanguage: zh\ntargets: {visit_to_order_rate: 0.33}\n", encoding="utf-8"
    )
    return tmp_path


def test_layers_apply_in_order(params_dir):
    defaults = config.target_defaults()
    net = config.resolve_settings(params_dir=params_dir)
    assert net.language == "en" and net.targets["visit_to_order_rate"] == 0.30
    assert net.period == ("2025-07-01", "2026-06-30")
    d7 = config.resolve_settings("D007", params_dir=params_dir)
    assert d7.language == "zh"
    assert d7.targets["visit_to_order_rate"] == 0.33  # dealer over network
    assert d7.targets["finance_penetration"] == 0.6  # network over package
    assert d7.targets["test_drive_rate"] == defaults["test_drive_rate"]  # package default
    run = config.resolve_settings(
        "D007", params_dir=params_dir, language="en", targets={"visit_to_order_rate": 0.4}
    )
    assert run.language == "en" and run.targets["visit_to_order_rate"] == 0.4
    # a run argument left None means "not given", not "reset"
    assert config.resolve_settings("D007", params_dir=params_dir, language=None).language == "zh"
    assert d7.files == (str(params_dir / "network.yaml"), str(params_dir / "dealers" / "D007.yaml"))


def test_settings_are_frozen_and_read_only(params_dir):
    s = config.resolve_settings("D007", params_dir=params_dir)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.language = "en"  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.targets["visit_to_order_rate"] = 0.9  # type: ignore[index]
    with pytest.raises(TypeError):
        s.section("lifecycle")["x"] = 1  # type: ignore[index]
    copy = s.section_dict("scoring")
    copy["churn"] = None  # a plain copy may be changed; the settings stay as they were
    assert s.section("scoring")["churn"] is not None


def test_settings_pickle_round_trip(params_dir):
    import pickle

    s = config.resolve_settings("D007", params_dir=params_dir, period=("2026-01-01", "2026-06-30"))
    back = pickle.loads(pickle.dumps(s))
    assert back == s and back.as_dict() == s.as_dict()
    with pytest.raises(TypeError):
        back.targets["visit_rate"] = 0.1  # type: ignore[index]


def test_every_problem_of_every_layer_is_named(params_dir):
    (params_dir / "dealers" / "D008.yaml").write_text(
        "dealer_id: D008\nlangauge: zh\ntargets: {visit_to_order_rate: 33}\n", encoding="utf-8"
    )
    with pytest.raises(ParameterError) as exc:
        config.resolve_settings("D008", params_dir=params_dir)
    msg = str(exc.value)
    assert "D008.yaml: langauge: unknown key (did you mean 'language'?)" in msg
    assert "is a rate and must lie in [0, 1]" in msg
    with pytest.raises(ParameterError, match="unknown target 'close_rate'"):
        config.resolve_settings(params_dir=params_dir, targets={"close_rate": 0.3})


def test_yaml_is_read_only_by_the_config_module():
    """No module but core/config imports yaml (one reader of parameter files)."""
    pkg = Path(config.__file__).resolve().parents[1]
    offenders = [
        str(p.relative_to(pkg))
        for p in pkg.rglob("*.py")
        if p.name != "config.py" and "import yaml" in p.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_bad_yaml_names_the_file(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text("a: [1, 2\n", encoding="utf-8")
    with pytest.raises(InputError, match="x.yaml is not valid YAML"):
        config.read_yaml(bad)
    bad.write_bytes("a: 名字\n".encode("gb18030"))
    with pytest.raises(InputError, match="not UTF-8"):
        config.read_yaml(bad)
    bad.write_text("period: [2026-13-01, 2026-06-30]\n", encoding="utf-8")  # no month 13
    with pytest.raises(InputError, match="x.yaml holds an impossible value.*YYYY-MM-DD"):
        config.read_yaml(bad)


def test_d003_closing_ratio_target_is_its_own_everywhere(clean_dealer):
    """The shipped D003 overrides the closing ratio: the headline table, the KPI tree and the
    diagnosis all judge against that one value (they used to show 33 % and 25 %)."""
    d3 = config.read_yaml(REPO_PARAMS / "dealers" / "D003.yaml")["targets"]["visit_to_order_rate"]
    s = config.resolve_settings("D003", params_dir=REPO_PARAMS)
    assert s.targets["visit_to_order_rate"] == d3
    tree_targets = funnel.load_targets(s.funnel_targets())
    assert tree_targets["visit_to_order_rate"]["target"] == d3
    diag = funnel.diagnose(clean_dealer, targets=s.funnel_targets())
    judged = diag.dropna(subset=["stage_target"]).drop_duplicates("stage")
    assert len(judged) >= 4  # every stage with a target is judged against the settings' value
    for stage, target in zip(judged["stage"], judged["stage_target"], strict=True):
        assert target == s.targets[stage]
    m = headline.dealer_metrics(clean_dealer)
    table = headline.kpi_table(m, targets=s.targets)
    assert table.loc["visit_to_order_rate", "target"] == d3
