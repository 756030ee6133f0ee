"""Report machinery: parameters, metrics, charts, HTML safety, and the batch runner end to end.

The end-to-end tests run the real notebooks with papermill on a 3-dealer simulated store, on a
local process pool and on a Dask cluster whose scheduler and workers are separate processes on
loopback; a run is killed mid-batch and rerun.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import jupytext
import nbformat
import pandas as pd
import pytest
from shared_runs import HOSTILE_CUSTOMER, HOSTILE_DEALER, HOSTILE_STAFF

from crm_analytics.batch import export, params, runner
from crm_analytics.core import files
from crm_analytics.core.errors import InputError, ParameterError, RunLockedError
from crm_analytics.report import display
from crm_analytics.report import headline as metrics
from crm_analytics.report.analysis import NETWORK_SCORES_FILE

RAW_MARKERS = ('<script>alert("', "<img src=x onerror")


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------


def _htmls(out: Path) -> list[Path]:
    return sorted(out.rglob("*.html"))


def _assert_complete_and_escaped(out: Path) -> None:
    for f in _htmls(out):
        text = f.read_text(encoding="utf-8")
        assert text.rstrip().endswith("</html>"), f"{f} is not a complete HTML file"
        for marker in RAW_MARKERS:
            assert marker not in text, f"unescaped data {marker!r} in {f}"
    for f in out.rglob("metrics.json"):
        json.loads(f.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------------------------


def test_params_resolve_and_merge(report_params, report_store):
    from crm_analytics.core.config import target_defaults

    dps = params.load_run_params(report_params, all_dealers=True).dealers
    assert [p.dealer_id for p in dps] == ["D001", "D002", "D003"]
    d1 = dps[0]
    assert d1.language == "zh" and dps[1].language == "en"
    defaults = target_defaults()
    assert dict(d1.targets) == {
        **defaults,
        "visit_to_order_rate": 0.35,
        "finance_penetration": 0.6,
    }
    assert d1.source == str(Path(report_store).resolve()) and d1.mask_personal_data
    dps = params.load_run_params(report_params, dealers=["D003"], contact_lists=True).dealers
    assert [p.dealer_id for p in dps] == ["D003"] and not dps[0].mask_personal_data
    nbp = params.notebook_parameters(dps[0])
    assert nbp["period_start"] is None and nbp["dealer_id"] == "D003"
    assert nbp["targets"]["visit_to_order_rate"] == 0.35


def test_params_every_problem_reported_up_front(tmp_path, report_store):
    (tmp_path / "dealers").mkdir()
    (tmp_path / "network.yaml").write_text(
        f"source: {report_store}\nlangauge: zh\nmask_personal_data: 'yes'\n"
        "targets: {visit_to_order_rate: 35, finance_penetraton: 0.5}\n"
    )
    (tmp_path / "dealers" / "D001.yaml").write_text(
        "dealer_id: D001\nperiod: {start: 2026-01-01, end: 2025-01-01}\n"
    )
    (tmp_path / "dealers" / "D009.yaml").write_text("dealer_id: D009\n")
    (tmp_path / "dealers" / "D003.yaml").write_text("dealer_id: D004\n")
    (tmp_path / "dealers" / "D002.yaml").write_text("dealer_id: D002\nsource: /nope/store\n")
    with pytest.raises(ParameterError) as exc:
        params.load_run_params(tmp_path, all_dealers=True)
    msg = str(exc.value)
    for needle in (
        "langauge: unknown key (did you mean 'language'?)",
        "mask_personal_data: must be true or false",
        "target 'visit_to_order_rate' is a rate and must lie in [0, 1]",
        "unknown target 'finance_penetraton' (did you mean 'finance_penetration'?)",
        "'start' 2026-01-01 is after 'end' 2025-01-01",
        "'D004' does not match the file name 'D003'",
        "D002.yaml: source: missing files",
    ):
        assert needle in msg, f"{needle!r} not reported in:\n{msg}"


def test_all_dealers_means_the_store_and_absent_dealer_files_are_noted(tmp_path, report_store):
    (tmp_path / "dealers").mkdir()
    (tmp_path / "network.yaml").write_text(f"source: {report_store}\n")
    (tmp_path / "dealers" / "D009.yaml").write_text("dealer_id: D009\n")
    run = params.load_run_params(tmp_path, all_dealers=True)
    assert [s.dealer_id for s in run.dealers] == ["D001", "D002", "D003"]
    assert len(run.notes) == 1 and "D009" in run.notes[0]
    with pytest.raises(ParameterError, match="dealer 'D009' is not in the store"):
        params.load_run_params(tmp_path, dealers=["D009"])


def test_missing_store_is_one_error_and_bad_yaml_no_false_source_error(tmp_path):
    (tmp_path / "dealers").mkdir()
    (tmp_path / "network.yaml").write_text("source: /nope/store\n")
    for d in ("D001", "D002", "D003"):
        (tmp_path / "dealers" / f"{d}.yaml").write_text(f"dealer_id: {d}\n")
    with pytest.raises(ParameterError) as exc:
        params.load_run_params(tmp_path, dealers=["D001", "D002", "D003"])
    assert str(exc.value).count("missing files") == 1
    (tmp_path / "network.yaml").write_text("source: [unclosed\n")
    with pytest.raises(ParameterError) as exc:
        params.load_run_params(tmp_path, dealers=["D001"])
    msg = str(exc.value)
    assert "not valid YAML" in msg and "no data source" not in msg


def test_notebook_parameters_checked(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "language": "python",
        "display_name": "Python 3",
    }
    cell = nbformat.v4.new_code_cell("source = 'x'\ndealer_id = 'D001'")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    path = tmp_path / "dealer_report.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ParameterError, match="does not declare.*language"):
        runner._check_notebook_parameters([path], ["source", "dealer_id", "language"])


def test_repository_params_are_valid():
    """The shipped params/ validate (against any store holding their dealers)."""
    from crm_analytics.core import config

    repo = Path(runner.__file__).resolve().parents[2]
    for f in sorted((repo / "params" / "dealers").glob("*.yaml")):
        data = config.read_yaml(f)
        assert not config.check_params(data, file=str(f), allowed=config.DEALER_KEYS)
    data = config.read_yaml(repo / "params" / "network.yaml")
    assert not config.check_params(data, file="network.yaml", allowed=config.NETWORK_KEYS)


def test_every_notebook_declares_the_report_parameters():
    """The .py notebooks: every dealer notebook takes exactly the runner's parameters."""
    from crm_analytics.core.config import Settings

    expected = [*params.notebook_parameters(Settings("D", "s")), "benchmark_path"]
    nbs = sorted(runner.NOTEBOOKS_DIR.glob("*.py"))
    assert len(nbs) >= 10
    dealer_nbs = [p for p in nbs if p.stem in runner.DEFAULT_NOTEBOOKS]
    runner._check_notebook_parameters(dealer_nbs, expected)
    runner._check_notebook_parameters(
        [runner.NOTEBOOKS_DIR / "network_overview.py"], runner._NETWORK_PARAMS
    )
    for p in nbs:
        nb = runner.read_notebook(p)
        assert nb.cells[0].metadata.get("tags") == ["parameters"], p.name
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), p.name
        assert "def " not in "".join(c.source for c in nb.cells), f"{p.name} defines a function"
        assert (p.with_suffix(".py")).is_file(), f"{p.name} has no jupytext pair"
        paired = jupytext.read(p.with_suffix(".py"))
        assert [c.source for c in paired.cells] == [c.source for c in nb.cells], (
            f"{p.name} is out of sync with its .py (run: jupytext --sync notebooks/*.py)"
        )


# ---------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------


def test_gaps_in_yuan_hand_computed():
    m = {
        "kpis": {
            "finance_penetration": 0.42,
            "visit_to_order_rate": 0.30,
            "service_retention": 0.5,
        },
        "volumes": {
            "base.finance_penetration": 300,
            "base.visit_to_order_rate": 1000,
            "base.service_retention": 10,
        },
        "unit_margins": {
            "finance_penetration": 1900.0,
            "visit_to_order_rate": 10000.0,
            "service_retention": 100.0,
        },
    }
    g = metrics.gaps_in_yuan(
        m,
        targets={
            "finance_penetration": 0.55,
            "visit_to_order_rate": 0.25,
        },  # close rate above target
        # retention 10 points under the peers on 10 cases is within its sampling error
        benchmark={"median": {"visit_to_order_rate": 0.36, "service_retention": 0.6}},
    )
    got = {(r.kpi, r.against): r.gap_yuan for r in g.itertuples()}
    assert got == pytest.approx(
        {
            ("finance_penetration", "target"): 0.13 * 300 * 1900,  # 74,100
            ("visit_to_order_rate", "peer"): 0.06 * 1000 * 10000,  # 600,000
        }
    )
    # two points under the peers on 1,000 visits: the 95 % interval (0.272-0.329) reaches 0.32
    near = metrics.gaps_in_yuan(m, benchmark={"median": {"visit_to_order_rate": 0.32}})
    assert near.empty
    assert list(g["kpi"])[:2] == ["visit_to_order_rate", "finance_penetration"]  # largest first


def test_dealer_metrics_match_an_independent_count(report_store):
    from crm_analytics.data.store import load_dealer

    d = load_dealer(report_store, "D001")
    m = metrics.dealer_metrics(d, period=("2025-07-01", "2026-06-30"))
    leads = d.leads[
        (d.leads["created_at"] >= "2025-07-01") & (d.leads["created_at"] < "2026-07-01")
    ]
    # the closing ratio is the funnel's: orders / visiting leads, where a test drive, quote or
    # order implies a visit (counted here by hand from the raw tables)
    tp = d.touchpoints[d.touchpoints["lead_id"].isin(leads["lead_id"])]
    ordered = set(d.orders["lead_id"]) | set(tp.loc[tp["kind"] == "order", "lead_id"])
    ordered &= set(leads["lead_id"])
    showroom = set(tp.loc[tp["kind"].isin(["visit", "test_drive", "quote"]), "lead_id"])
    visited = showroom | ordered
    assert m["volumes"]["leads"] == len(leads)
    assert m["volumes"]["visited"] == len(visited)
    assert m["kpis"]["visit_to_order_rate"] == pytest.approx(len(ordered) / len(visited))
    deliv = d.orders[
        (d.orders["status"] == "delivered") & (d.orders["delivered_at"] >= "2025-07-01")
    ]
    assert m["kpis"]["finance_penetration"] == pytest.approx(deliv["finance"].mean())
    assert m["comparison_period"] == ["2024-07-01", "2025-06-30"]
    json.dumps(m)  # serialisable
    bench = metrics.network_benchmark([m, {**m, "dealer": {"dealer_id": "X"}}])
    assert bench["median"]["visit_to_order_rate"] == pytest.approx(m["kpis"]["visit_to_order_rate"])


def test_a_period_without_data_gives_missing_kpis_not_zeros(report_store):
    """A period before the extract (a consultant's typo, or an old coaching round): every KPI
    is missing, none is a misleading 0 %; a period past the data date is refused."""
    from crm_analytics.data.store import load_dealer

    d = load_dealer(report_store, "D001")
    first = metrics.data_start(d)
    assert first == max(d.leads["created_at"].min(), d.service_visits["at"].min()).normalize()
    m = metrics.dealer_metrics(d, period=("2001-01-01", "2001-12-31"))
    missing = {k: v is None or math.isnan(v) for k, v in m["kpis"].items()}  # JSON: NaN -> None
    assert all(v for k, v in missing.items() if k != "quarantine_share"), m["kpis"]
    # the retention window must lie inside the service records
    lo, hi = (str((first + pd.DateOffset(months=k)).date()) for k in (-3, 3))
    m = metrics.dealer_metrics(d, period=(lo, hi))
    assert m["kpis"]["service_retention"] is None
    assert m["kpis"]["visit_rate"] is not None  # the leads of the covered months still count
    with pytest.raises(InputError, match="after the data date"):
        metrics.resolve_periods(d.as_of, (str(d.as_of.date()), "2099-01-01"))


def test_peer_benchmark_needs_three_dealers(tmp_path):
    """One dealer run alone must not be shown its own values as the "peer median"."""
    k = {key: 0.5 for key in metrics.KPI_KEYS}
    two = metrics.network_benchmark(
        [
            {"dealer": {"dealer_id": i}, "kpis": {**k, "visit_rate": v}}
            for i, v in zip("AB", (0.2, 0.4), strict=True)
        ]
    )
    files.write_json(two, tmp_path / "two.json")
    assert metrics.load_benchmark(tmp_path / "two.json") is None
    assert metrics.load_benchmark(None) is None and metrics.load_benchmark(tmp_path / "no") is None
    three = metrics.network_benchmark(
        [
            {"dealer": {"dealer_id": i}, "kpis": {**k, "visit_rate": v}}
            for i, v in zip("ABC", (0.2, 0.4, 0.9), strict=True)
        ]
    )
    files.write_json(three, tmp_path / "three.json")
    assert metrics.load_benchmark(tmp_path / "three.json")["median"]["visit_rate"] == pytest.approx(
        0.4
    )


def test_headline_targets_have_one_source():
    from crm_analytics.core.config import load_params, resolve_settings
    from crm_analytics.metrics.funnel import load_targets as funnel_targets

    s = resolve_settings()
    funnel = funnel_targets(s.funnel_targets())
    for k in metrics.FUNNEL_KPIS:  # the funnel's own targets, not a second copy
        assert s.targets[k] == funnel[k]["target"]
    assert (
        s.targets["finance_penetration"]
        == (load_params("targets")["headline"]["finance_penetration"])
    )
    assert (
        resolve_settings(targets={"finance_penetration": 0.7}).targets["finance_penetration"] == 0.7
    )
    assert not (load_params("network").get("targets") or {})  # network.yaml: overrides only
    with pytest.raises(ParameterError, match="close_rate"):
        resolve_settings(targets={"close_rate": 0.3})


def test_zero_denominators_give_nan_without_warnings(report_store):
    from crm_analytics.data.store import load_dealer

    d = load_dealer(report_store, "D003")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = metrics.dealer_metrics(d, period=("1999-01-01", "1999-12-31"))
    assert m["kpis"]["visit_to_order_rate"] is None and m["volumes"]["leads"] == 0


# ---------------------------------------------------------------------------------------------
# charts and HTML safety
# ---------------------------------------------------------------------------------------------


def test_zh_without_cjk_font_falls_back_to_english_with_warning(monkeypatch):
    from crm_analytics.report import plots

    monkeypatch.setattr(plots, "cjk_font", lambda: None)
    with pytest.warns(plots.FontFallbackWarning, match="fonts-wqy-microhei"):
        assert plots.resolve_language("zh") == "en"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plots.resolve_language("en") == "en"


def test_a_zh_report_without_cjk_font_says_so_in_chinese(monkeypatch):
    from crm_analytics.report import notebook, plots

    shown = []
    monkeypatch.setattr(plots, "cjk_font", lambda: None)
    monkeypatch.setattr(notebook.out, "show_text", lambda text, **kw: shown.append(text))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the library's English warning does not reach the page
        assert notebook._chart_language("zh") == "en"
    assert shown and "中文字体" in shown[0]
    shown.clear()
    assert notebook._chart_language("en") == "en" and not shown


def test_charts_draw_chinese_labels_with_a_cjk_font():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from crm_analytics.report import plots

    if plots.cjk_font() is None:
        pytest.skip("no CJK font installed (make fonts)")
    with plots.style_context("zh") as lang, warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph warns: "Glyph ... missing from font"
        ax = plots.plot_funnel({"leads": 100, "visited": 60, "ordered": 20}, lang=lang)
        ax.figure.canvas.draw()
        assert ax.get_title() == "展厅漏斗"
        assert [t.get_text() for t in ax.get_yticklabels()] == ["线索", "到店", "成交"]
        plt.close("all")


def test_the_tallest_stacked_month_stays_inside_the_chart():
    """A channel with no lead in a month is a zero-height bar on top of that month's stack,
    whose sticky edge pinned the axis to the tallest total: the bar ended on the frame and
    read as cut off."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from crm_analytics.report import plots

    months = pd.to_datetime(["2025-07-01", "2025-08-01", "2025-09-01"])
    frame = pd.DataFrame(  # the tallest month (August) has no lead of the last channel
        {
            "month": months.repeat(3),
            "channel": ["ch_a", "ch_b", "ch_c"] * 3,
            "count": [10, 0, 4, 25, 31, 0, 8, 0, 1],
        }
    )
    ax = plots.plot_monthly(frame, hue="channel", stacked=True)
    tallest = max(p.get_y() + p.get_height() for p in ax.patches)
    assert tallest == 56 and ax.get_ylim()[1] > tallest * 1.02
    plt.close("all")


def test_html_table_escapes_and_safety_net():
    frame = pd.DataFrame({"name": [HOSTILE_CUSTOMER, HOSTILE_STAFF]})
    html = display.html_table(frame)
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "<img" not in html
    assert display.heading(HOSTILE_DEALER).count("<script>") == 0
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": f"<b>{HOSTILE_STAFF}</b>"}),
        nbformat.v4.new_output("display_data", data={"text/html": html}),
    ]
    nb.cells = [cell]
    assert display.neutralize_active_html(nb) == 1
    assert "<script>" not in cell.outputs[0]["data"]["text/html"]
    assert cell.outputs[1]["data"]["text/html"] == html  # escaped tables are left alone


def test_a_long_table_counts_its_hidden_rows_in_the_tables_language():
    rows = pd.DataFrame({"客户": range(65)})
    assert "另有 5 行未显示" in display.html_table(rows)
    assert "1,935 rows not shown" in display.html_table(pd.DataFrame({"customer": range(1995)}))
    assert "另有" in display.html_table(pd.DataFrame({"x": range(61)}), lang="zh")
    assert "not shown" not in display.html_table(pd.DataFrame({"x": range(60)}))
    assert "… 1 row not shown" in display.html_table(pd.DataFrame({"x": range(61)}))


def test_notebook_tooling_loads_without_the_iri_grammar():
    """load_tooling: nbformat, papermill and nbconvert import and validate a notebook in a fresh
    process without rfc3987_syntax's grammar, which stays importable for whoever needs it."""
    code = (
        "import sys\n"
        "from crm_analytics.batch.tooling import load_tooling\n"
        "load_tooling()\n"
        "import nbformat, papermill, jupytext\n"
        "from nbconvert import HTMLExporter\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')])\n"
        "nbformat.validate(nb)\n"
        "HTMLExporter().from_notebook_node(nb)\n"
        "assert 'rfc3987_syntax' not in sys.modules\n"
        "import importlib.util\n"
        "if importlib.util.find_spec('rfc3987_syntax'):\n"
        "    import rfc3987_syntax\n"
        "    assert rfc3987_syntax.is_valid_syntax('iri', 'http://example.com/a')\n"
        "print('ok')\n"
    )
    repo = Path(runner.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


def test_validation_examples_of_personal_columns_are_masked():
    rep = pd.DataFrame(
        {
            "table": ["customers", "leads"],
            "column": ["phone", "channel"],
            "rule": ["format", "isin"],
            "count": [2, 1],
            "examples": ["13812345678, 1391", "tv"],
        }
    )
    out = display.validation_table(rep, mask=True)
    assert list(out["examples"]) == ["(masked)", "tv"]
    assert list(display.validation_table(rep, mask=False)["examples"]) == list(rep["examples"])


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "a.html"
    files.atomic_write_text("old", target)

    with pytest.raises(TypeError):
        files.atomic_write_text(123, target)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert not list(tmp_path.glob(".*tmp*"))


def test_index_html_escapes(tmp_path):
    export.write_index(
        tmp_path / "index.html",
        [
            {
                "dealer_id": "D1",
                "name": HOSTILE_DEALER,
                "status": "failed",
                "error": HOSTILE_STAFF,
                "link": "",
            }
        ],
    )
    text = (tmp_path / "index.html").read_text()
    assert "<script>alert" not in text and "&lt;script&gt;alert(&quot;dealer&quot;)" in text


def _fake_run(tmp_path):
    """A run folder of two reported dealers and one that failed to load."""
    kpis = dict.fromkeys(metrics.KPI_KEYS, 0.5) | {"accessories_per_car": 4000.0}
    for did, fin in (("D1", 0.56), ("D2", 0.40)):
        m = {
            "dealer": {"dealer_id": did, "name": HOSTILE_DEALER, "as_of": "2026-06-30"},
            "period": ["2025-07-01", "2026-06-30"],
            "kpis": kpis | {"finance_penetration": fin, "visit_rate": 0.53},
            "volumes": {"base.finance_penetration": 100},
            "unit_margins": {"finance_penetration": 2000.0},
        }
        doc = {"dealer_id": did, "status": "ok", "metrics": m, "report": f"{did}/report.html"}
        doc["targets"] = {"finance_penetration": 0.55, "visit_rate": 0.55}
        files.write_json(doc, tmp_path / did / "metrics.json")
    rows = [
        {"dealer_id": "D1", "status": "ok", "link": "D1/report.html", "outputs": {}},
        {"dealer_id": "D2", "status": "ok", "link": "D2/report.html"},  # before manifests
    ]
    rows[0]["outputs"]["call_lists"] = "D1/call_lists.xlsx"
    rows.append({"dealer_id": "D3", "status": "failed", "error": "InputError: <bad> file"})
    return rows


def test_index_is_a_network_scorecard(tmp_path):
    rows = _fake_run(tmp_path)
    (tmp_path / "D2" / "fix_list.xlsx").write_bytes(b"")  # found in the folder
    for lang in ("en", "zh"):
        export.write_index(tmp_path / "index.html", rows, run_dir=tmp_path, language=lang)
        text = (tmp_path / "index.html").read_text()
        assert "2025-07-01 – 2026-06-30" in text and "2026-06-30" in text
        assert "<script>alert" not in text and "&lt;bad&gt;" in text
        assert "crm-analytics check --dealers D3" in text  # the fix of a load failure
        assert "D1/call_lists.xlsx" in text and "D2/report.html" in text
        assert "D2/fix_list.xlsx" in text and "D1/fix_list.xlsx" not in text
        assert "th[data-k]" in text  # sortable
    assert "经销商网络记分卡" in text and "金融渗透率" in text
    # D1 finance 56% vs 55% green, D2 40% red (gap 0.15 x 100 x 2000 = 30,000 yuan), visit
    # rate 53% vs 55% amber for both
    assert text.count("background:#dafbe1") >= 1 and text.count("background:#fff1c2") >= 2
    assert "data-v='30000.0'" in text


def test_kpi_status_rules():
    assert metrics.kpi_status("finance_penetration", 0.55, 0.55) == "green"
    assert metrics.kpi_status("finance_penetration", 0.50, 0.55) == "amber"
    assert metrics.kpi_status("finance_penetration", 0.49, 0.55) == "red"
    assert metrics.kpi_status("quarantine_share", 0.005, 0.01) == "green"
    assert metrics.kpi_status("quarantine_share", 0.0105, 0.01) == "amber"
    assert metrics.kpi_status("quarantine_share", 0.02, 0.01) == "red"
    assert metrics.kpi_status("visit_rate", None, 0.5) is None
    assert metrics.kpi_status("visit_rate", 0.5, None) is None
    # durations and cancellations: lower is better
    assert metrics.kpi_status("order_cycle_days", 20, 21) == "green"
    assert metrics.kpi_status("order_cycle_days", 23, 21) == "amber"
    assert metrics.kpi_status("order_cancellation_rate", 0.08, 0.05) == "red"


def test_report_and_index_colour_a_kpi_alike():
    """One rule: a test-drive rate of 55% against 60% (8% short) was red in the report's tables
    (5 pp band) and amber in the index (10% band); both now read it from headline.kpi_status."""
    from crm_analytics.report import sections

    cases = [("test_drive_rate", 0.55, 0.60), ("visit_rate", 0.40, 0.55)]
    cases += [("finance_penetration", 0.50, 0.55), ("order_to_delivery_days", 40, 30)]
    for kpi, actual, target in cases:
        want = metrics.kpi_status(kpi, actual, target)
        for lang in ("en", "zh"):
            shown = sections.kpi_status(kpi, actual, target, lang)
            assert shown.endswith(sections.label(want, lang)), (kpi, lang, shown, want)
    assert metrics.kpi_status("test_drive_rate", 0.55, 0.60) == "amber"


# ---------------------------------------------------------------------------------------------
# runner end to end
# ---------------------------------------------------------------------------------------------


def test_runner_local_pool_end_to_end_then_skip(report_run):
    """The shared run (conftest ``report_run``: three notebooks per dealer on a 2-process
    pool, and the overview), then a second run of its folder: every dealer skipped."""
    from crm_analytics.report.analysis import load_analysis

    NOTEBOOKS = ["dealer_report", "churn", "action_lists"]  # noqa: N806 - the run's notebooks
    out, s = report_run.out, report_run.summary
    assert s.exit_code == 0, [(r.dealer_id, r.error) for r in s.results]
    assert [r.status for r in s.results] == ["ok"] * 3 and s.network.status == "ok"
    # compute once, show everywhere: the report and the churn notebook show the run's bands
    for did in ("D001", "D002", "D003"):
        a = load_analysis(out / did / "analysis.pkl")
        assert a.churn_model is not None
        # the pooled lead model needs enough snapshots over the network; without it the
        # analysis says why instead of showing empty scores
        assert len(a.lead_scores) > 0 or a.lead_note
        assert not hasattr(a, "lead_frames") or a.lead_frames is None
        churn_html = (out / did / "churn.html").read_text()
        n_active = f"{len(a.churn_scores):,}"
        phrase = f"{n_active} 位活跃售后客户" if did == "D001" else f"{n_active} active customers"
        assert phrase in churn_html  # D001 reports in zh
        report_html = (out / did / "report.html").read_text()
        for n in a.band_counts():
            assert f">{n:,}<" in report_html
        assert json.loads((out / did / "metrics.json").read_text())["metrics"] == a.metrics
    for did in ("D001", "D002", "D003"):
        doc = json.loads((out / did / "metrics.json").read_text())
        assert doc["status"] == "ok" and doc["metrics"]["dealer"]["dealer_id"] == did
        html = (out / did / "report.html").read_text()
        assert 'class="jp-InputArea' not in html and "load_dealer" not in html  # no code
        assert "benchmark_path" not in html
    index = (out / "index.html").read_text()
    assert all(f"{d}/report.html" in index for d in ("D001", "D002", "D003"))
    assert "network_overview.html" in index
    # the manifest: every dealer x notebook, and every output linked from the index
    manifest = json.loads((out / "run.json").read_text())
    assert len(manifest["notebooks"]) == 3 * len(NOTEBOOKS)
    for did in ("D001", "D002", "D003"):
        for f in ("call_lists.xlsx", "fix_list.xlsx", "lead_scores.parquet"):
            assert (out / did / f).is_file()
        for f in ("call_lists.xlsx", "fix_list.xlsx", "churn.html", "action_lists.html"):
            assert f"{did}/{f}" in index
    assert "Network scorecard" in index and "Period " in index
    # hostile names are escaped in the dealer's report and the index
    d2 = (out / "D002" / "report.html").read_text()
    q = '(&quot;|")'
    assert re.search(f"&lt;script&gt;alert\\({q}dealer{q}\\)&lt;/script&gt;", d2)  # heading
    assert re.search(f"&lt;script&gt;alert\\({q}staff{q}\\)&lt;/script&gt;", d2)  # consultants
    _assert_complete_and_escaped(out)
    # zh report of D001 carries Chinese headings
    assert "管理摘要" in (out / "D001" / "report.html").read_text()
    # peers: D002's gaps refer to the network medians written in benchmark.json
    bench = json.loads((out / "network" / "benchmark.json").read_text())
    assert bench["n_dealers"] == 3

    # rerun: nothing changed -> every dealer skipped, none loaded or analysed again
    stamps = report_run.rerun_stamps
    assert len(stamps) == 3
    assert [r.status for r in report_run.rerun_summary.results] == ["skipped"] * 3
    rerun = report_run.rerun
    assert {p: p.stat().st_mtime_ns for p in rerun.glob("*/analysis.pkl")} == stamps


def test_runner_failures_timeouts_do_not_stop_others(tmp_path, report_params):
    """A dealer whose notebook raises and one that hangs are reported; the third completes."""
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    src = runner.read_notebook(runner.NOTEBOOKS_DIR / "dealer_report.py")
    nb = nbformat.v4.new_notebook()
    nb.metadata = src.metadata
    nb.cells = [
        src.cells[0],
        nbformat.v4.new_code_cell(
            "import time\n"
            "if dealer_id == 'D001':\n    time.sleep(600)\n"
            "if dealer_id == 'D002':\n    raise RuntimeError('bad data for ' + dealer_id)\n"
            "print('ok', dealer_id)"
        ),
    ]
    nbformat.write(nb, nbdir / "dealer_report.ipynb")
    out = tmp_path / "run"
    t0 = time.perf_counter()
    s = runner.run_report(
        out=out,
        all_dealers=True,
        params_dir=report_params,
        workers=2,
        timeout=30,  # D003 runs within it on a machine busy with the shared runs
        notebooks=["dealer_report"],
        notebooks_dir=nbdir,
        network=False,
        progress=False,
    )
    # a hang guard only (speed is measured in bench/, not here): the dealer stage now runs first
    assert time.perf_counter() - t0 < 600
    status = {r.dealer_id: r for r in s.results}
    assert status["D001"].status == "timeout" and "timeout" in status["D001"].error
    assert status["D002"].status == "failed" and "bad data for D002" in status["D002"].error
    assert status["D003"].status == "ok"
    assert s.exit_code == 1
    index = (out / "index.html").read_text()
    assert "bad data for D002" in index and "timeout" in index
    assert (out / "D002" / "failed.html").is_file() and not (out / "D002" / "report.html").exists()
    # the command: D003 is unchanged (skipped, exit 0); a bad dealer id is a parameter error (2)
    base = [
        "--params",
        str(report_params),
        "--out",
        str(out),
        "--no-progress",
        "--no-network",
        "--notebooks",
        "dealer_report",
        "--notebooks-dir",
        str(nbdir),
        "--notebooks",
        "dealer_report",
    ]
    assert runner.main(["--dealers", "D003", *base]) == 0
    assert json.loads((out / "run.json").read_text())["results"][0]["status"] == "skipped"
    assert runner.main(["--dealers", "D003", "--force", *base]) == 0
    assert json.loads((out / "run.json").read_text())["results"][0]["status"] == "ok"
    # the partial re-run kept every dealer of the run folder in the manifest and the index
    manifest = json.loads((out / "run.json").read_text())
    dealers = {d["dealer_id"]: d for d in manifest["dealers"]}
    assert sorted(dealers) == ["D001", "D002", "D003"]
    assert dealers["D001"]["status"] == "timeout" and dealers["D002"]["status"] == "failed"
    assert "bad data for D002" in dealers["D002"]["error"]
    rows = {(r["dealer_id"], r["notebook"]): r for r in manifest["notebooks"]}
    assert rows[("D002", "dealer_report")]["status"] == "failed"
    assert rows[("D003", "dealer_report")]["output"] == "D003/report.html"
    assert all(len(r["input_hash"]) == 32 and r["duration_s"] >= 0 for r in rows.values())
    index = (out / "index.html").read_text()
    for did in ("D001", "D002", "D003"):
        assert f"<td data-v='{did}'>{did}</td>" in index
    assert "bad data for D002" in index and "D002/failed.html" in index
    assert "D003/report.html" in index and "D003/call_lists.xlsx" in index
    assert "crm-analytics report --dealers D002 --force" in index  # the fix
    assert runner.main(["--dealers", "D1", *base]) == 2


def test_a_damaged_store_fails_its_dealer_only_in_the_index(tmp_path, report_store):
    """A truncated table file of one dealer: that dealer fails with the store's damage message
    (dealer, table, file, fix) in the manifest and the index; the others are reported."""
    from crm_analytics.data.store import PART_FILE

    root = tmp_path / "store"
    shutil.copytree(report_store, root)
    part = root / "service_visits" / "dealer_id=D002" / PART_FILE
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    params = tmp_path / "params"
    (params / "dealers").mkdir(parents=True)
    (params / "network.yaml").write_text(f"source: {root}\nlanguage: en\n")
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    src = runner.read_notebook(runner.NOTEBOOKS_DIR / "dealer_report.py")
    nb = nbformat.v4.new_notebook()
    nb.metadata = src.metadata
    nb.cells = [src.cells[0], nbformat.v4.new_code_cell("print('ok', dealer_id)")]
    nbformat.write(nb, nbdir / "dealer_report.ipynb")
    out = tmp_path / "run"
    s = runner.run_report(
        out=out,
        all_dealers=True,
        params_dir=params,
        workers=2,
        notebooks=["dealer_report"],
        notebooks_dir=nbdir,
        network=False,
        progress=False,
    )
    status = {r.dealer_id: r for r in s.results}
    assert status["D001"].status == "ok" and status["D003"].status == "ok"
    assert status["D002"].status == "failed"
    assert "StoreDamageError" in status["D002"].error
    assert "service_visits" in status["D002"].error and "truncated" in status["D002"].error
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "StoreDamageError" in index and "crm-analytics check --dealers D002" in index


def test_runner_on_dask_cluster_of_separate_processes(tmp_path, report_params, report_store):
    """The run on a Dask cluster of separate processes, its workers reading the store by an
    fsspec URL (file://: the code path of s3:// or gs://) into their cache."""
    pytest.importorskip("distributed")
    sched_file = tmp_path / "scheduler.json"
    cache = tmp_path / "cache"
    env = {**os.environ, "CRM_ANALYTICS_CACHE": str(cache)}
    bindir = Path(sys.executable).parent
    procs = [
        subprocess.Popen(
            [
                str(bindir / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(sched_file),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        for _ in range(200):
            if sched_file.exists() and sched_file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        procs.append(
            subprocess.Popen(
                [
                    str(bindir / "dask"),
                    "worker",
                    address,
                    "--nworkers",
                    "2",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        from distributed import Client

        with Client(address) as c:
            c.wait_for_workers(2, timeout=60)
        out = tmp_path / "run"
        s = runner.run_report(
            out=out,
            all_dealers=True,
            params_dir=report_params,
            scheduler=address,
            source=Path(report_store).as_uri(),
            progress=False,
            notebooks=["dealer_report"],
        )
        assert s.exit_code == 0, [(r.dealer_id, r.error) for r in s.results]
        assert [r.status for r in s.results] == ["ok"] * 3 and s.network.status == "ok"
        assert address in (out / "index.html").read_text()
        # the workers read every dealer's tables from the URL, through their cache
        fetched = {p.parent.name for p in cache.glob("stores/*/leads/dealer_id=*/part-0.parquet")}
        assert fetched == {"dealer_id=D001", "dealer_id=D002", "dealer_id=D003"}
        _assert_complete_and_escaped(out)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:  # pragma: no cover
                p.kill()


def test_html_export_is_nbconvert_page_without_its_reparse(report_run):
    """The export skips nbconvert's BeautifulSoup pass (alt texts and tabindex set on the
    template's tags instead): every page of a dealer is nbconvert's own, tag for tag."""
    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter

    stock = HTMLExporter(
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_output_stdin=True,
    )
    pages = sorted((report_run.out / "D001").glob("*.ipynb"))
    assert len(pages) == 3
    for path in pages:
        nb = nbformat.read(path, as_version=4)
        ours, _ = export._exporter().from_notebook_node(nbformat.from_dict(nb))
        theirs, _ = stock.from_notebook_node(nbformat.from_dict(nb))
        assert 'tabindex="0"' in ours and "<img alt=" in ours, path.name
        assert str(BeautifulSoup(ours, "html.parser")) == str(
            BeautifulSoup(theirs, "html.parser")
        ), path.name


def test_a_locked_run_folder_is_refused_before_any_work(tmp_path, report_params, lock_holder):
    out = tmp_path / "run"
    out.mkdir()
    holder = lock_holder(out)
    with pytest.raises(RunLockedError, match=rf"pid {holder.pid}"):
        runner.run_report(
            out=out, all_dealers=True, params_dir=report_params, progress=False, network=False
        )
    assert sorted(p.name for p in out.iterdir()) == [".run.lock"]  # nothing written
    cmd = [sys.executable, "-m", "crm_analytics.batch.runner", "--all"]
    cmd += ["--params", str(report_params), "--out", str(out), "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_killed_run_leaves_no_corrupt_output_and_rerun_completes(killed_run):
    """The shared ``killed_run`` (conftest): the command on one worker killed while the second
    dealer's kernel runs, then run again."""
    done_before = killed_run.done_before
    assert "D001" in done_before and len(done_before) < 3
    _assert_complete_and_escaped(killed_run.after_kill)  # nothing half-written
    status = {r.dealer_id: r.status for r in killed_run.rerun_summary.results}
    assert all(status[d] == "skipped" for d in done_before)
    assert all(status[d] == "ok" for d in {"D001", "D002", "D003"} - done_before)
    out = killed_run.out
    assert not list(out.rglob(".*tmp*"))
    _assert_complete_and_escaped(out)


def test_progress_bar_names_the_dealers_running():
    class Job:
        def __init__(self, did: str) -> None:
            self.dealer_id = did

    jobs = [Job(f"D00{i}") for i in range(1, 6)]
    with runner._Progress(jobs, "reports", enabled=True, slots=2) as bar:
        assert bar._bar.postfix == "running: D001, D002; 3 waiting"
        bar.done(jobs[1])  # a pool hands the freed slot to the next dealer in line
        assert bar._bar.postfix == "running: D001, D003; 2 waiting"
        for j in (jobs[0], jobs[2], jobs[3]):
            bar.done(j)
        assert bar._bar.postfix == "running: D005"


def test_network_stage_hash_is_of_its_inputs(tmp_path, monkeypatch):
    """The network models' hash (a dealer's report re-renders when it changes) is of the
    training rows, not of the fitted pickle under the run folder's path: a copied run folder
    or a new process re-rendered every dealer."""
    import shutil

    monkeypatch.setattr(runner, "fit_network_models", lambda frames, need_churn: ({}, None, ""))
    a = tmp_path / "a"
    for did, rows in (("D1", [1, 2]), ("D2", [3])):
        files.write_pickle((pd.DataFrame({"x": rows}), None), a / did / runner.FRAMES_FILE)
    h = runner._network_stage(a, ["D2", "D1"], need_churn=False)
    b = tmp_path / "copy"
    shutil.copytree(a, b)
    assert runner._network_stage(b, ["D1", "D2"], need_churn=False) == h
    assert runner._network_stage(b, ["D1", "D2"], need_churn=True) != h
    files.write_pickle((pd.DataFrame({"x": [9]}), None), b / "D2" / runner.FRAMES_FILE)
    assert runner._network_stage(b, ["D1", "D2"], need_churn=False) != h


def test_formatters_show_missing_as_a_dash_and_no_certainty():
    """The report's number formatters: a missing or infinite value is ``–``; a model's
    probability never reads ``100.0%`` or ``0.0%`` (a certainty no model has)."""
    from crm_analytics.report.text import (
        date_span,
        fmt_count,
        fmt_num,
        fmt_pct,
        fmt_prob,
        fmt_window,
    )

    for missing in (None, float("nan"), pd.NA, pd.NaT, float("inf")):
        assert fmt_num(missing, ".2f") == fmt_pct(missing) == fmt_prob(missing) == "–"
    assert fmt_pct(0.2346) == "23.5%" and fmt_pct(0.2346, ".0%") == "23%"
    assert fmt_count(12345.4) == "12,345"
    assert fmt_prob(0.9996) == "> 99.9%" and fmt_prob(1.0) == "> 99.9%"
    assert fmt_prob(0.0004) == fmt_prob(0.0) == "< 0.1%"
    assert fmt_prob(0.5) == "50.0%" and fmt_prob(0.999) == "99.9%"
    assert fmt_window("2025-07-01", pd.Timestamp("2026-06-30 13:00"), "zh") == (
        "2025-07-01 至 2026-06-30"
    )
    assert date_span(["2026-03-01", None, "2025-01-02"]) == (
        pd.Timestamp("2025-01-02"),
        pd.Timestamp("2026-03-01"),
    )
    assert date_span([], end="2026-06-30") == (None, "2026-06-30")


def test_the_peer_median_is_of_the_other_dealers():
    """A dealer is not its own peer: its peer median is the median of the run's other dealers
    (with five dealers the median of all was the dealer's own value on half of the KPIs), the
    network quartiles stay those of every dealer, and the KPI note says whose median it is."""
    from crm_analytics.report.headline import KPI_KEYS, network_benchmark, peers_of
    from crm_analytics.report.sections import kpis_note

    values = {"D1": 0.10, "D2": 0.20, "D3": 0.30, "D4": 0.40, "D5": 0.50}
    metrics = [
        {"dealer": {"dealer_id": d}, "kpis": {"visit_rate": v, "test_drive_rate": None}}
        for d, v in values.items()
    ]
    bench = network_benchmark(metrics)
    assert bench["median"]["visit_rate"] == pytest.approx(0.30)  # the network's, D3's own value
    d3 = peers_of(bench, "D3")
    assert d3["median"]["visit_rate"] == pytest.approx(0.30)  # (0.2 + 0.4) / 2 without D3
    assert peers_of(bench, "D1")["median"]["visit_rate"] == pytest.approx(0.35)
    assert peers_of(bench, "D5")["median"]["visit_rate"] == pytest.approx(0.25)
    assert d3["peers"] == 4 and d3["q1"] == bench["q1"]
    assert d3["median"]["test_drive_rate"] is None and set(d3["median"]) == set(KPI_KEYS)
    outside = peers_of(bench, "D9")  # a dealer whose metrics failed: every dealer is a peer
    assert outside["peers"] == 5 and outside["median"] == bench["median"]
    assert peers_of(None, "D1") is None

    window = {"start": "2025-07-01", "end": "2026-06-30"}
    assert "median of the other 4 dealers of this run" in kpis_note("en", window, d3)
    assert "本批次其他 4 家经销商的中位数(不含本店)" in kpis_note("zh", window, d3)
    assert "Peer median" not in kpis_note("en", window, None)


def test_the_run_fits_one_network_prior_and_a_spot_analysis_uses_the_same(
    report_run, report_store, report_params, tmp_path, monkeypatch
):
    """Issue 16 item 6 in the run: the network priors (BG/NBD visits, Gamma-Gamma spend) are
    fitted once, before the dealers are loaded, from each dealer's service visits; every
    dealer's CLV models are shrunk towards them (no penalty retry), so every dealer is valued,
    D002 too (300 owners: its own Gamma-Gamma fit does not converge); an analysis made on the
    spot from the store fits the same priors, so its CLV equals the run's."""
    from crm_analytics.core.files import read_pickle
    from crm_analytics.models.clv import BasePriors
    from crm_analytics.report import notebook as nb
    from crm_analytics.report.analysis import load_analysis

    run = report_run.out
    priors = read_pickle(run / "network" / "btyd_prior.pkl")
    assert isinstance(priors, BasePriors)
    for prior in (priors.visits, priors.spend):
        assert prior.prior_strength_ > 0 and not hasattr(prior, "dealer_models_")
    for did in ("D001", "D002", "D003"):
        a = load_analysis(run / did / "analysis.pkl")
        assert a.btyd_prior is not None and "clv" not in a.notes, a.notes
        models = a.sections["clv"]["models"]
        for fitted, prior in ((models.count, priors.visits), (models.spend, priors.spend)):
            assert fitted.prior_strength == prior.prior_strength_ and fitted.l2_penalty == 0
            pd.testing.assert_series_equal(
                pd.Series(fitted.prior_mean).sort_index(),
                prior.params_.sort_index(),
                check_names=False,
            )
        assert a.sections["clv"]["total"] > 0
    monkeypatch.setenv("CRM_ANALYTICS_PARAMS", str(report_params))
    spot, _ = nb.open_analysis(str(report_store), "D001", runs_dir=tmp_path)
    ran = load_analysis(run / "D001" / "analysis.pkl")
    assert spot.run_dir == "" and spot.btyd_prior is not None
    assert spot.sections["clv"]["total"] == pytest.approx(ran.sections["clv"]["total"], rel=1e-9)


def test_the_two_priors_fit_side_by_side_as_one_after_the_other():
    """fit_btyd_prior with a run's pool (both priors at once) gives the priors it gives alone;
    a worker that dies leaves that prior None, says why, and keeps the other."""
    from concurrent.futures import ProcessPoolExecutor

    from crm_analytics.models.clv import service_summary
    from crm_analytics.report.analysis import fit_btyd_prior
    from crm_analytics.sim import simulate_dealer

    summaries = {
        f"D00{i}": service_summary(simulate_dealer(i, customers=300, years=2, seed=7))
        for i in range(3)
    }
    alone, why = fit_btyd_prior(summaries)
    assert why == "" and alone.visits is not None and alone.spend is not None

    def pooled(fn, items):
        with ProcessPoolExecutor(2) as ex:
            yield from zip(items, ex.map(fn, items), strict=True)

    both, why = fit_btyd_prior(summaries, map_unordered=pooled)
    assert why == ""
    for a, b in ((alone.visits, both.visits), (alone.spend, both.spend)):
        pd.testing.assert_series_equal(a.params_, b.params_)
        assert a.prior_strength_ == b.prior_strength_

    def spend_dies(fn, items):
        for item in items:
            yield item, (RuntimeError("worker died") if item[0] == "gammagamma" else fn(item))

    half, why = fit_btyd_prior(summaries, map_unordered=spend_dies)
    assert half.spend is None and half.visits.prior_strength_ == alone.visits.prior_strength_
    assert why == "no network gammagamma prior: RuntimeError: worker died"


def test_one_dormant_count_on_every_page(report_run):
    """The state table, the lifecycle page and the call lists count the same dormant
    customers: every dormant owner of the state table is on the dormant-activation call list
    or on the maintenance-due list instead, and the lifecycle page shows the call list's own
    first rows (one ranking: by expected margin, from the churn model and the CLV)."""
    from crm_analytics.report.analysis import load_analysis
    from crm_analytics.report.views_report import activation_view

    checked = 0
    for did in ("D001", "D002", "D003"):
        a = load_analysis(report_run.out / did / "analysis.pkl")
        states = a.sections["lifecycle"]
        dormant = set(states.loc[states["state"] == "dormant", "customer_id"])
        counts = a.sections["states"].set_index("state")["customers"]
        assert counts["dormant"] == len(dormant)
        calls = a.call_lists()
        listed = calls.loc[calls["reason"] == "dormant_activation"].sort_values("list_rank")
        maint = set(calls.loc[calls["reason"] == "maintenance_due", "customer_id"])
        assert set(listed["customer_id"]) <= dormant
        assert dormant - set(listed["customer_id"]) <= maint
        if not len(listed):
            continue
        sentence, table = activation_view(a, "en")
        assert f"{len(dormant):,} dormant customers on {a.dealer.as_of.date()}" in sentence
        assert f"{len(listed):,} of them are on the dormant-activation call list" in sentence
        assert table["Customer id"].tolist() == listed["customer_id"].head(20).tolist()
        zh, _ = activation_view(a, "zh")
        assert f"休眠客户 {len(dormant):,} 位" in zh and "dormant" not in zh
        checked += 1
    assert checked >= 2


def test_the_churn_reasons_name_the_drivers_beside_the_silence(report_run):
    """Issue 16 item 8 in the report: the high-risk customers' reasons are counted over each
    customer's top three (the survival model's drivers beside the silence that leads them),
    and the summary's evidence names the commonest one after the main reason."""
    from crm_analytics.report.analysis import load_analysis
    from crm_analytics.report.sections import _churn_evidence
    from crm_analytics.report.text import label
    from crm_analytics.report.views_report import churn_reasons_view

    checked = 0
    for did in ("D001", "D002", "D003"):
        a = load_analysis(report_run.out / did / "analysis.pkl")
        sc = a.churn_scores
        high = sc.loc[sc["risk_band"] == "high"] if "reason_1" in sc else sc.iloc[:0]
        if len(high) < 5:
            continue
        table = churn_reasons_view(a, "en")
        by_hand = {
            label("churn." + r, "en"): int(
                (high[["reason_1", "reason_2", "reason_3"]] == r).any(axis=1).sum()
            )
            for r in pd.unique(high[["reason_1", "reason_2", "reason_3"]].to_numpy().ravel())
            if isinstance(r, str)
        }
        assert len(table) >= 2  # more than the silence alone
        for _, row in table.iterrows():
            assert int(row["Customers"].replace(",", "")) == by_hand[row["Reason"]]
        evidence = _churn_evidence(a, "en")
        assert "next most often" in evidence and "其次常见" in _churn_evidence(a, "zh")
        checked += 1
    assert checked >= 1


def _assert_same(a, b, name: str = "analysis") -> None:
    """``a`` and ``b`` hold the same values, whatever their memory layout (a frame's blocks,
    an array shared or copied): frames and arrays by value, containers and objects field by
    field."""
    import dataclasses

    import numpy as np

    assert type(a) is type(b), f"{name}: {type(a).__name__} against {type(b).__name__}"
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
        assert a.attrs.keys() == b.attrs.keys(), name
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True, obj=name)
    elif isinstance(a, pd.Index):
        pd.testing.assert_index_equal(a, b, exact=True, obj=name)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), name
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{name}: keys {set(a) ^ set(b)}"
        for k in a:
            _assert_same(a[k], b[k], f"{name}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), name
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{name}[{k}]")
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _assert_same(getattr(a, f.name), getattr(b, f.name), f"{name}.{f.name}")
    elif hasattr(a, "__dict__") and not isinstance(a, type):
        _assert_same(vars(a), vars(b), name)
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), name
    elif a != b:  # objects equal by identity only (a random generator): by their state
        assert pickle.dumps(a) == pickle.dumps(b), f"{name}: {a!r} against {b!r}"


def test_a_kept_kernel_opens_a_dealers_analysis_once_and_no_notebook_changes_it(
    report_run, tmp_path
):
    """A batch run executes a dealer's notebooks one after another in one kept kernel, which
    reads the run's analysis once (``report.notebook._run_analysis``): every notebook of the
    dealer runs, then a notebook in the same kernel checks that the analysis was not read
    again and writes the object they all read; it holds the values the file holds."""
    from crm_analytics.report.analysis import load_analysis

    nb0 = nbformat.read(report_run.out / "D001" / "dealer_report.ipynb", as_version=4)
    params = dict(nb0.metadata["papermill"]["parameters"])
    params["analysis_path"] = str(report_run.out / "D001" / "analysis.pkl")
    params["benchmark_path"] = str(report_run.out / "network" / "benchmark.json")
    for name in runner.DEFAULT_NOTEBOOKS:
        nb = runner.NOTEBOOKS_DIR / f"{name}.py"
        runner._execute(
            str(nb), params, tmp_path / f"{nb.stem}.ipynb", timeout=600, kernel_name="python3"
        )
    check = nbformat.v4.new_notebook()
    check.cells = [
        nbformat.v4.new_code_cell(
            "analysis_path = kept_path = ''", metadata={"tags": ["parameters"]}
        ),
        nbformat.v4.new_code_cell(
            "import pickle\n"
            "from crm_analytics.report import notebook as nbm\n"
            "read = []\n"
            "load = nbm.load_analysis\n"
            "nbm.load_analysis = lambda p: read.append(p) or load(p)\n"
            "kept = nbm._run_analysis(analysis_path)\n"
            "nbm.load_analysis = load\n"
            "assert read == [], read\n"
            "with open(kept_path, 'wb') as fh:\n"
            "    pickle.dump(kept, fh)\n"
        ),
    ]
    nbformat.write(check, tmp_path / "check.ipynb")
    kept_path = tmp_path / "kept.pkl"
    runner._execute(
        str(tmp_path / "check.ipynb"),
        {"analysis_path": params["analysis_path"], "kept_path": str(kept_path)},
        tmp_path / "check.out.ipynb",
        timeout=120,
        kernel_name="python3",
    )
    kept = files.read_pickle(kept_path)
    fresh = load_analysis(params["analysis_path"])
    fresh.run_dir = kept.run_dir
    _assert_same(kept, fresh)


def test_only_a_kept_kernel_keeps_the_run_analysis(report_run, monkeypatch, tmp_path):
    """An analyst's kernel reads the run's analysis each time a notebook opens it (what the
    analyst changed is gone); the batch run's kept kernel reads it once per dealer, again when
    the file changes."""
    from crm_analytics.report import notebook as nbm

    path = report_run.out / "D002" / "analysis.pkl"
    monkeypatch.delenv(nbm.KEPT_KERNEL_ENV, raising=False)
    assert nbm._run_analysis(path) is not nbm._run_analysis(path)
    monkeypatch.setenv(nbm.KEPT_KERNEL_ENV, "1")
    kept = nbm._run_analysis(path)
    assert nbm._run_analysis(path) is kept
    copy = tmp_path / "D002" / "analysis.pkl"
    copy.parent.mkdir()
    shutil.copyfile(path, copy)
    part = copy.with_name(NETWORK_SCORES_FILE)
    shutil.copyfile(path.with_name(NETWORK_SCORES_FILE), part)
    copied = nbm._run_analysis(copy)
    assert copied is not kept and nbm._run_analysis(copy) is copied
    # the dealer scored again (the network stage's part rewritten): read again
    rescored = files.read_pickle(part)
    rescored["lead_note"] = "scored again"
    files.write_pickle(rescored, part)
    again = nbm._run_analysis(copy)
    assert again is not copied and again.lead_note == "scored again"


def test_a_dealers_analysis_is_written_once_and_its_network_scores_beside_it(report_run, tmp_path):
    """The dealer stage writes the analysis; the network stage's scores are kept beside it
    (a small file) instead of the whole analysis being written again: each analysis is older
    than the run's network models, and read with its part it holds the scores the run wrote
    as Parquet. A new analysis of the dealer drops the part of the old one."""
    from crm_analytics.report.analysis import load_analysis, save_analysis

    out = report_run.out  # the first run's folder (copied with the files' times)
    models = out / "network" / runner.NETWORK_MODELS_FILE
    compared = 0
    for did in ("D001", "D002", "D003"):
        path = out / did / "analysis.pkl"
        part = path.with_name(NETWORK_SCORES_FILE)
        assert path.stat().st_mtime_ns < models.stat().st_mtime_ns < part.stat().st_mtime_ns
        assert part.stat().st_size < path.stat().st_size / 10
        bare, full = load_analysis(path, network=False), load_analysis(path)
        assert bare.lead_scores.empty and not bare.lead_note and bare.lead_model is None
        # the part: the open leads scored by the run's lead model, or why there are none
        assert (len(full.lead_scores) > 0 or full.lead_note) and full.lead_model is None
        for name in ("lead_scores", "churn_scores"):
            ran = pd.read_parquet(out / did / f"{name}.parquet")
            kept = getattr(full, name).reset_index(drop=True)
            if len(ran) or len(kept):  # (an empty frame's columns read back untyped)
                pd.testing.assert_frame_equal(kept, ran)
                compared += 1
    assert compared >= 3
    copy = tmp_path / "analysis.pkl"
    shutil.copyfile(path, copy)
    shutil.copyfile(part, copy.with_name(NETWORK_SCORES_FILE))

    def leads(a):
        return a.lead_note, len(a.lead_scores)

    assert leads(load_analysis(copy)) == leads(full) != ("", 0)
    save_analysis(bare, copy)
    assert not copy.with_name(NETWORK_SCORES_FILE).exists()
    assert leads(load_analysis(copy)) == ("", 0)
