"""The operator's commands: import-dms, check, report --month, --version, help."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from crm_analytics import cli
from crm_analytics.data.store import list_dealers, load_dealer

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_EXPORT = ROOT / cli.SAMPLE_EXPORT_DIR


def test_version_and_help_show_examples_and_defaults(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and "crm-analytics 0." in capsys.readouterr().out
    for command in ("import-dms", "check", "report", "generate"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        text = capsys.readouterr().out
        assert "Example" in text and f"crm-analytics {command}" in text
        assert "``" not in text  # no reST markup
        # each default shown once, and none for unset options and flags
        flat = " ".join(text.split())
        assert "(default: None)" not in flat and "(default: False)" not in flat
        assert re.search(r"\(default[^)]*\) \(default", flat) is None, command
    with pytest.raises(SystemExit):
        cli.main(["check", "--help"])
    assert "(default: data/sample)" in capsys.readouterr().out


def test_month_period():
    assert cli.month_period("2026-02") == ("2026-02-01", "2026-02-28")
    with pytest.raises(Exception, match="2026-06"):
        cli.month_period("June")


def test_shipped_export_imports_then_reports_clean(tmp_path, capsys):
    """The README's monthly run on the shipped sample export: import-dms, check, report."""
    export = tmp_path / "export"
    shutil.copytree(SHIPPED_EXPORT, export)
    store = tmp_path / "store"
    rc = cli.main(["import-dms", str(export), "--dealer", "D042", "--store", str(store)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "4 quarantined" in out and "unparseable_date" in out
    q = pd.read_csv(store / "quarantine" / "dealer_id=D042" / "quarantine.csv")
    assert len(q) == 4 and set(q["rule"]) == {
        "duplicate_key",
        "unparseable_date",
        "unparseable_amount",
    }
    d = load_dealer(store, "D042")
    assert list_dealers(store)["dealer_id"].tolist() == ["D042"]
    rows_in_file = len(pd.read_csv(export / "客户.csv", encoding="gb18030"))
    assert len(d.customers) == rows_in_file - 1  # the duplicated row is quarantined
    assert cli.main(["check", "--source", str(store)]) == 0
    assert cli.main(["check", "--source", str(store), "--dealers", "D04"]) == 1
    assert "did you mean D042" in capsys.readouterr().out

    params = tmp_path / "params"
    (params / "dealers").mkdir(parents=True)
    (params / "network.yaml").write_text("language: zh\n", encoding="utf-8")
    run = tmp_path / "run"
    rc = cli.main(
        [
            "report",
            "--all",
            "--source",
            str(store),
            "--params",
            str(params),
            "--month",
            "2026-05",
            "--out",
            str(run),
            "--no-progress",
            "--notebooks",
            "dealer_report",
            "churn",
            "action_lists",
        ]
    )
    assert rc == 0, capsys.readouterr().out
    doc = json.loads((run / "D042" / "metrics.json").read_text(encoding="utf-8"))
    assert doc["status"] == "ok"
    assert doc["metrics"]["period"] == ["2026-05-01", "2026-05-31"]
    for name in ("report.html", "churn.html", "action_lists.html"):
        assert (run / "D042" / name).is_file()


def test_import_of_a_folder_without_tables_is_refused(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("not an export", encoding="utf-8")
    rc = cli.main(["import-dms", str(empty), "--dealer", "D001", "--store", str(tmp_path / "s")])
    assert rc == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "no customers file" in err and "客户.csv" in err
    assert not (tmp_path / "s").exists()  # nothing half-imported


def test_check_reports_a_damaged_dealer_and_checks_the_others(tmp_path, capsys):
    from crm_analytics.sim import simulate_network

    store = tmp_path / "store"
    simulate_network(n_dealers=2, customers_per_dealer=150, years=2, seed=3, out=store, workers=1)
    part = next((store / "orders" / "dealer_id=D001").glob("*.parquet"))
    part.write_bytes(b"not parquet at all")
    rc = cli.main(["check", "--source", str(store)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "D001: FAILED" in out and "D002" in out and "rows kept" in out
    assert "Traceback" not in out
