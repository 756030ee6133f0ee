"""The notebooks: every one executes on the sample network (nbval, lax: outputs are not
compared), and running and saving them as JupyterLab does leaves git clean.

Only the py:percent ``notebooks/*.py`` are tracked (``jupytext.toml``); the ``.ipynb`` nbval
needs are generated into a temp folder. nbval runs in a subprocess so the notebooks' own pytest
session (one kernel per notebook) stays separate from this one. nbval starts each kernel in its
notebook's folder, so the temp folder mirrors the repository (``notebooks/`` beside ``data/``)
and the notebooks read ``../data/sample`` (their default parameters), a small simulated network
generated there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def test_only_py_notebooks_are_tracked():
    """The .py notebooks are the tracked format; no .ipynb is tracked, and a generated one is
    ignored by git."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = _git("ls-files", "notebooks").split()
    assert not [t for t in tracked if t.endswith(".ipynb")]
    assert len([t for t in tracked if t.endswith(".py")]) >= 10
    assert _git("check-ignore", "notebooks/dealer_report.ipynb").strip()
    header = "# ---\n# jupyter:\n#   kernelspec:\n"
    for t in tracked:
        text = (ROOT / t).read_text(encoding="utf-8")
        head, _, cells = text.partition("\n# ---\n\n")
        assert head.startswith(header) and "jupytext" not in head, f"{t}: header {head!r}"
        assert cells.startswith("# %%"), f"{t}: text before the first cell"


def test_every_notebook_runs_as_in_the_lab(lab_notebooks):
    """Every notebook runs top to bottom with its own default parameters, as an analyst opens
    it (no run: each analyses its dealer on the spot), on a small network laid out like the
    sample (``../data/sample``) so that the whole set runs in a couple of minutes.

    nbval runs one kernel at a time, in the shared ``lab_notebooks`` part
    (tests/shared_runs.py), built beside the other tests; this test reads its outcome."""
    if lab_notebooks is None:
        pytest.skip("nbval is not installed")
    assert len(lab_notebooks.notebooks) >= 10
    assert lab_notebooks.notebooks == sorted(p.stem for p in NOTEBOOKS.glob("*.py"))
    tail = "\n".join(lab_notebooks.log.splitlines()[-40:])
    assert lab_notebooks.returncode == 0, f"nbval failed:\n{lab_notebooks.log[-6000:]}"
    assert " passed" in tail and "failed" not in tail


def _html_outputs(nb) -> list[str]:
    """The HTML a notebook shows (tables and text), in order."""
    return [
        "".join(o["data"]["text/html"])
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "text/html" in o.get("data", {})
    ]


def test_interactive_notebook_shows_the_batch_report_numbers(
    tmp_path, monkeypatch, report_store, report_params, report_run
):
    """dealer_report opened without a run's analysis (as in the lab) finds the run and shows
    its headline KPIs and peer medians: every table and line equals the batch report's.

    The run is the shared ``report_run`` (tests/shared_runs.py, the only run of its runs folder);
    the lab reads the run's parameter files (``CRM_ANALYTICS_PARAMS``)."""
    import papermill as pm

    from crm_analytics.batch import runner
    from crm_analytics.report import notebook as nb
    from crm_analytics.report.analysis import load_analysis
    from crm_analytics.report.headline import load_benchmark
    from crm_analytics.report.text import t

    run, summary = report_run.out, report_run.summary
    assert summary.exit_code == 0, summary.results
    batch_nb = nbformat.read(run / "D001" / "dealer_report.ipynb", as_version=4)
    injected = dict(batch_nb.metadata.papermill.parameters)
    params = {k: v for k, v in injected.items() if k not in ("analysis_path", "benchmark_path")}
    monkeypatch.setenv("CRM_ANALYTICS_RUNS", str(run.parent))
    monkeypatch.setenv("CRM_ANALYTICS_PARAMS", str(report_params))

    # the API: the same metrics and peer medians as the run
    analysis, _ = nb.open_analysis(str(report_store), "D001", language=params["language"])
    assert analysis.run_dir == str(run.resolve())
    assert analysis.metrics == load_analysis(run / "D001" / "analysis.pkl").metrics
    bench = nb.peer_benchmark(analysis)
    assert bench == load_benchmark(run / "network" / "benchmark.json", dealer_id="D001")
    assert bench["n_dealers"] == 3 and bench["peers"] == 2

    # the notebook, executed as the lab runs it (its folder, no run parameters)
    src = tmp_path / "dealer_report.ipynb"
    nbformat.write(runner.read_notebook(NOTEBOOKS / "dealer_report.py"), src)
    inter = pm.execute_notebook(
        str(src),
        str(tmp_path / "interactive.ipynb"),
        parameters=params,
        kernel_name="python3",
        progress_bar=False,
        cwd=str(NOTEBOOKS),
    )
    shown = _html_outputs(inter)
    provenance = [h for h in shown if str(run.resolve()) in h]
    assert len(provenance) == 1 and str(analysis.dealer.as_of.date()) in provenance[0]
    assert [h for h in shown if h not in provenance] == _html_outputs(batch_nb)
    no_peers = t("no_peers", params["language"])
    assert not [h for h in shown if no_peers in h], "the report says peers are unavailable"


def test_interactive_notebook_without_a_run_says_so(tmp_path, monkeypatch):
    """No matching run: analysed on the spot, the reason stated, peers from the store."""
    from crm_analytics.core.files import to_jsonable
    from crm_analytics.report import notebook as nb
    from crm_analytics.sim import simulate_network

    store = tmp_path / "store"
    simulate_network(n_dealers=3, customers_per_dealer=200, years=2, seed=3, out=store, workers=1)
    monkeypatch.setenv("CRM_ANALYTICS_RUNS", str(tmp_path / "no_runs"))
    analysis, _ = nb.open_analysis(str(store), "D002", language="en")
    assert analysis.run_dir == ""
    bench = nb.peer_benchmark(analysis)
    assert (
        bench is not None
        and bench["n_dealers"] == 3
        and bench["dealers"]
        == [
            "D001",
            "D002",
            "D003",
        ]
    )
    assert bench["peers"] == 2 and bench["median"] == bench["median_without"]["D002"]
    # the next notebook's peers are the kept ones while the store and settings are unchanged
    real = nb.dealer_metrics
    calls = []
    monkeypatch.setattr(nb, "dealer_metrics", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert to_jsonable(nb.peer_benchmark(analysis)) == to_jsonable(bench) and calls == []
    later = time.time() + 5
    for part in store.glob("*/dealer_id=D003/*.parquet"):
        os.utime(part, (later, later))
    assert to_jsonable(nb.peer_benchmark(analysis)) == to_jsonable(bench) and len(calls) == 2


def test_an_analysis_made_on_the_spot_is_kept_for_the_next_notebook(tmp_path, monkeypatch):
    """The next notebook opened on a dealer without a run reuses the analysis made on the
    spot (no second analysis, a line says so) until a setting that changes numbers, the
    store's data or the kept file changes; language only changes the presentation."""
    from crm_analytics.report import notebook as nb
    from crm_analytics.sim import simulate_network

    store = tmp_path / "store"
    simulate_network(n_dealers=1, customers_per_dealer=150, years=2, seed=4, out=store, workers=1)
    runs = tmp_path / "runs"
    monkeypatch.setenv("CRM_ANALYTICS_RUNS", str(runs))
    shown: list[str] = []
    monkeypatch.setattr(nb.out, "show_text", lambda text, **kw: shown.append(text))
    first, _ = nb.open_analysis(str(store), "D001", language="en")
    kept_file = runs / nb.SPOT_DIR / "D001" / "analysis.pkl"
    assert kept_file.is_file() and "The analysis made on" not in shown[-1]

    def must_not_run(*args, **kwargs):
        raise AssertionError("analysed again")

    monkeypatch.setattr(nb, "analyse_dealer", must_not_run)
    again, _ = nb.open_analysis(str(store), "D001", language="zh")
    assert again.metrics == first.metrics and again.run_dir == ""
    assert again.settings.language == "zh" and "沿用" in shown[-1]

    calls = []

    def analyse(dealer, settings, **kw):
        calls.append(settings)
        return first

    monkeypatch.setattr(nb, "analyse_dealer", analyse)
    nb.open_analysis(str(store), "D001", targets={"visit_to_order_rate": 0.5})
    assert len(calls) == 1 and calls[0].targets["visit_to_order_rate"] == 0.5
    nb.open_analysis(str(store), "D001")  # kept: ``analyse`` handed back the first analysis
    assert len(calls) == 1
    later = kept_file.stat().st_mtime + 5
    for part in store.glob("*/dealer_id=D001/*.parquet"):
        os.utime(part, (later, later))
    nb.open_analysis(str(store), "D001")  # the store changed after it
    assert len(calls) == 2
    kept_file.write_bytes(b"not a pickle")
    os.utime(kept_file, (later + 5, later + 5))  # newer than the store: only damaged
    nb.open_analysis(str(store), "D001")  # damaged: analysed again, no error
    assert len(calls) == 3
    assert "The analysis made on" not in shown[-1]
