"""Shared fixtures: small simulated dealers (seconds to build, cached per session); a small
simulated network with two report runs of it, shared by the runner, language and
interactive-notebook tests (a run executes real notebooks: a minute or more each); and
background jobs (a long subprocess started right after collection, checked by its test)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crm_analytics.sim import DefectRates, simulate_dealer

# ---------------------------------------------------------------------------------------------
# background jobs: for a test marked ``@pytest.mark.background(start=start)``, ``start(folder)``
# is called right after collection and returns a ``subprocess.Popen`` started in a new session
# (or None). The job runs beside the tests before its test (on a 2-core machine the suite runs
# in one process most of the time); the test gets ``(process, folder)`` from the
# ``background_job`` fixture. A job whose test did not run is killed at the end of the session.
# ---------------------------------------------------------------------------------------------

_JOBS = pytest.StashKey[dict]()


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "background(start): start(folder) -> Popen | None is called right after collection; the "
        "test gets (process, folder) from the background_job fixture",
    )
    config.stash[_JOBS] = {}


def pytest_collection_finish(session):
    if session.config.option.collectonly:
        return
    jobs = session.config.stash[_JOBS]
    for item in session.items:
        mark = item.get_closest_marker("background")
        if mark is not None and item.nodeid not in jobs:
            folder = Path(tempfile.mkdtemp(prefix="crm-analytics-background-"))
            try:
                jobs[item.nodeid] = (mark.kwargs["start"](folder), folder)
            except Exception as err:  # noqa: BLE001 - raised in the test, not in collection
                jobs[item.nodeid] = (err, folder)


def pytest_sessionfinish(session):
    for proc, folder in session.config.stash.get(_JOBS, {}).values():
        if isinstance(proc, subprocess.Popen) and proc.poll() is None:  # its test did not run
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def background_job(request) -> tuple[subprocess.Popen | None, Path]:
    """``(process, folder)`` of the test's background job (its ``background`` mark)."""
    proc, folder = request.config.stash[_JOBS][request.node.nodeid]
    if isinstance(proc, Exception):
        raise proc
    return proc, folder


@pytest.fixture(scope="session")
def clean_dealer():
    """A small simulated dealer with no injected defect."""
    return simulate_dealer(0, customers=600, defects=DefectRates.none())


@pytest.fixture(scope="session")
def dirty_dealer():
    """A small simulated dealer with the default defect rates."""
    return simulate_dealer(1, customers=1500)


_HOLD = """
import sys, time
from crm_analytics.batch.lock import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(60)
"""


@pytest.fixture
def lock_holder():
    """``lock_holder(folder)`` starts a process that holds the folder's run lock (killed at
    the end of the test) and returns it."""
    procs = []

    def start(folder):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        proc = subprocess.Popen(
            [sys.executable, "-c", _HOLD, str(folder)], stdout=subprocess.PIPE, text=True, env=env
        )
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------------------------
# a small network and its report runs (session-scoped: read them, never write into them; a test
# that changes a run works on a copy, ``shutil.copytree``)
# ---------------------------------------------------------------------------------------------

#: HTML/script in dealer D002's names in ``report_store`` (the markers tests/test_report.py
#: checks for: escaped in every page, never raw)
HOSTILE_DEALER = 'Evil <script>alert("dealer")</script> Motors'
HOSTILE_STAFF = '<script>alert("staff")</script>'
HOSTILE_CUSTOMER = '<img src=x onerror=alert("cust")>'


@pytest.fixture(scope="session")
def clean_report_store(tmp_path_factory) -> Path:
    """A 3-dealer store (300 customers each, 2 years) for report runs."""
    from crm_analytics.sim import simulate_network

    root = tmp_path_factory.mktemp("clean_store")
    # with key accounts and events, as the sample network (crm-analytics generate) has them
    simulate_network(
        n_dealers=3,
        customers_per_dealer=300,
        years=2,
        seed=7,
        out=root,
        workers=1,
        key_accounts=True,
        events=True,
    )
    return root


@pytest.fixture(scope="session")
def report_store(tmp_path_factory, clean_report_store) -> Path:
    """``clean_report_store`` with HTML/script in dealer D002's dealer, staff and customer
    names (its key accounts' company names kept; the same data and truth otherwise)."""
    from crm_analytics.data.store import (
        list_dealers,
        load_dealer,
        write_dealer_tables,
        write_dealers_index,
    )

    root = tmp_path_factory.mktemp("store") / "store"
    shutil.copytree(clean_report_store, root)
    d = load_dealer(root, "D002", truth=True)
    tables = {k: v.copy() for k, v in d.tables.items()}
    tables["staff"]["name"] = HOSTILE_STAFF
    # every person's name; the key accounts (companies) keep theirs, which the report names
    people = ~tables["customers"]["customer_id"].isin(d.truth["key_accounts"]["customer_id"])
    tables["customers"].loc[people, "name"] = HOSTILE_CUSTOMER
    write_dealer_tables(root, {"dealer_id": "D002"}, tables, truth=d.truth)
    index = list_dealers(root)
    index.loc[index["dealer_id"] == "D002", "name"] = HOSTILE_DEALER
    write_dealers_index(root, index)
    return root


#: D001's action plan of the previous coaching round, in each report language, in the shared
#: runs' parameters (the other dealers have none; tests/test_language.py checks its review):
#: (KPI, action, owner, status, baseline)
COACHING_PLAN = {
    "zh": [
        ("finance_penetration", "交车前提供两套分期方案", "f_and_i_manager", "done", 0.4),
        ("visit_rate", "二十四小时内邀约所有新线索", "dcc", "open", None),
    ],
    "en": [
        (
            "finance_penetration",
            "Two finance offers at every delivery",
            "f_and_i_manager",
            "done",
            0.4,
        ),
        ("visit_rate", "Invite every new lead within a day", "dcc", "open", None),
    ],
}


@dataclass(frozen=True)
class CoachingPlans:
    """``COACHING_PLAN`` (``items``) and D001's dealer file carrying it (``yaml``)."""

    items: dict[str, list[tuple]]

    def yaml(self, lang: str, extra: str = "") -> str:
        """D001's dealer file with the plan in ``lang`` (``extra``: more lines before it)."""
        lines = ["dealer_id: D001", *([extra.rstrip("\n")] if extra else []), "coaching:"]
        for kpi, action, owner, status, baseline in self.items[lang]:
            lines.append(
                f"  - {{round: 2025-07-10, kpi: {kpi}, action: {action}, owner: {owner}, "
                f"due: 2025-09-30, status: {status}, target: 0.6"
                + (f", baseline: {baseline}}}" if baseline is not None else "}")
            )
        return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def coaching_plans() -> CoachingPlans:
    return CoachingPlans(COACHING_PLAN)


@pytest.fixture(scope="session")
def report_params(tmp_path_factory, report_store, coaching_plans) -> Path:
    """Parameters of ``report_store``: English, network targets; D001 in Chinese with a note
    and the previous round's action plan (``COACHING_PLAN``)."""
    p = tmp_path_factory.mktemp("params")
    (p / "dealers").mkdir()
    (p / "network.yaml").write_text(
        f"source: {report_store}\nlanguage: en\ntargets:\n  visit_to_order_rate: 0.35\n"
        "  finance_penetration: 0.6\n"
    )
    d001 = coaching_plans.yaml("zh", "language: zh\nnotes: '第二轮辅导。重点:金融渗透率。'")
    (p / "dealers" / "D001.yaml").write_text(d001, encoding="utf-8")
    return p


@dataclass
class ReportRun:
    """A run of the report notebooks (``out``, ``summary``) and a second run of its folder
    with nothing changed (``rerun``, ``rerun_summary``; ``rerun_stamps``: the mtimes of the
    analyses before it)."""

    out: Path
    summary: Any
    rerun: Path
    rerun_summary: Any
    rerun_stamps: dict[Path, int]


@pytest.fixture(scope="session")
def report_run(tmp_path_factory, report_params) -> ReportRun:
    """A run over ``report_store`` with ``report_params``: the report, churn and action-list
    notebooks of every dealer on a 2-process pool, and the network overview.

    ``out`` is a copy of the run folder as the run left it, ``<runs>/2026-06`` (the only run in
    ``<runs>``); the run's own folder is then run again at once (``rerun``, nothing changed:
    every dealer is skipped), as the end-to-end test did it in its own folder."""
    from crm_analytics.batch import runner

    notebooks = ["dealer_report", "churn", "action_lists"]
    run = tmp_path_factory.mktemp("run") / "2026-06"
    kw = {"all_dealers": True, "params_dir": report_params, "progress": False}
    summary = runner.run_report(out=run, workers=2, notebooks=notebooks, **kw)
    out = tmp_path_factory.mktemp("runs") / "2026-06"
    shutil.copytree(run, out)
    stamps = {p: p.stat().st_mtime_ns for p in run.glob("*/analysis.pkl")}
    rerun_summary = runner.run_report(out=run, workers=1, network=False, notebooks=notebooks, **kw)
    return ReportRun(out, summary, run, rerun_summary, stamps)


@dataclass
class KilledRun:
    """A run killed mid-batch and then run again to the end: ``after_kill`` is a copy of its
    folder as the kill left it, ``done_before`` the dealers finished then, ``out`` the folder
    the second run completed (``rerun_summary``)."""

    out: Path
    after_kill: Path
    done_before: set[str]
    rerun_summary: Any


@pytest.fixture(scope="session")
def killed_run(tmp_path_factory, clean_report_store, coaching_plans) -> KilledRun:
    """``dealer_report`` for every dealer of ``clean_report_store``, each in the other language
    than in ``report_run`` (the network in Chinese, D001 in English; with ``report_run`` each
    dealer's report exists in both languages). The run is started as the command
    (``python -m crm_analytics.batch.runner``) on one worker and killed (SIGKILL to its process
    group) a second after the first dealer finished, while the second dealer's kernel runs;
    then it is run again (``run_report``, two workers) to the end."""
    from crm_analytics.batch import runner

    params = tmp_path_factory.mktemp("params_other_languages")
    (params / "dealers").mkdir()
    (params / "network.yaml").write_text(f"source: {clean_report_store}\nlanguage: zh\n")
    d001 = coaching_plans.yaml("en", "language: en")
    (params / "dealers" / "D001.yaml").write_text(d001, encoding="utf-8")
    out = tmp_path_factory.mktemp("killed_run") / "2026-06"
    cmd = [sys.executable, "-m", "crm_analytics.batch.runner", "--all", "--params", str(params)]
    cmd += ["--out", str(out), "--workers", "1", "--no-progress", "--no-network"]
    cmd += ["--notebooks", "dealer_report"]
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not (out / "D001" / "metrics.json").exists():
            time.sleep(0.1)
        if not (out / "D001" / "metrics.json").exists():
            pytest.fail("killed_run: the first dealer never finished")
        time.sleep(1.0)  # the second dealer's kernel is running now
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:  # pragma: no cover
            os.killpg(proc.pid, signal.SIGKILL)
    done_before = {p.parent.name for p in out.glob("*/metrics.json")}
    after_kill = tmp_path_factory.mktemp("after_kill") / "2026-06"
    shutil.copytree(out, after_kill)
    summary = runner.run_report(
        out=out,
        all_dealers=True,
        params_dir=params,
        workers=2,
        progress=False,
        network=False,
        notebooks=["dealer_report"],
    )
    return KilledRun(out, after_kill, done_before, summary)


# ---------------------------------------------------------------------------------------------
# a one-dealer store with external name lists, reported in zh and in en with every dealer
# notebook (tests/test_language.py: the secondary pages; tests/test_external_lists_report.py:
# the lists in the report and the call-list workbook)
# ---------------------------------------------------------------------------------------------

#: the one-dealer store's seed (its network and its name lists)
LISTS_SEED = 5
#: an external list named in D001's file that does not exist (a run note)
MISSING_LIST = "external_lists/D001/gone.csv"
#: the notebooks of the one-dealer runs: the report and the pages a consultant opens from the
#: index beside it (issue 15; tests/test_language.py SECONDARY)
ONE_DEALER_NOTEBOOKS = (
    "dealer_report",
    "data_quality",
    "funnel_diagnostics",
    "value_added_aftersales",
    "lifecycle_clv",
    "churn",
    "attribution_media",
    "action_lists",
    "personas",
)


def external_lists_yaml(files, *, missing: bool = True) -> str:
    """The ``external_lists:`` lines of D001's file for the lists ``files`` (a frame: file,
    source, received, cost) and, with ``missing``, the list file that does not exist."""
    lines = ["external_lists:"]
    for r in files.itertuples():
        lines.append(
            f"  - {{file: {r.file}, source: {r.source}, received: {r.received}, cost: {r.cost}}}"
        )
    if missing:
        lines.append(f"  - {{file: {MISSING_LIST}, source: partner, received: 2026-01-05}}")
    return "\n".join(lines)


@dataclass
class ListsRuns:
    """``store`` (one dealer, D001, 300 customers, 3 years) with its name lists ``files``
    (``write_external_lists``); ``runs``: language -> (run folder, parameters folder)."""

    store: Path
    files: Any
    runs: dict[str, tuple[Path, Path]]


@pytest.fixture(scope="session")
def lists_runs(tmp_path_factory, coaching_plans) -> ListsRuns:
    """D001 of a one-dealer store with external name lists (one of them missing) and the
    previous round's action plan, reported in zh and in en with ``ONE_DEALER_NOTEBOOKS``."""
    from crm_analytics.batch import runner
    from crm_analytics.sim import simulate_network
    from crm_analytics.sim.external_lists import write_external_lists

    root = tmp_path_factory.mktemp("lists_store")
    simulate_network(
        n_dealers=1, customers_per_dealer=300, years=3, seed=LISTS_SEED, out=root, workers=1
    )
    files = write_external_lists(root, seed=LISTS_SEED, rows_per_list=60)
    runs = {}
    for lang in ("zh", "en"):
        params = tmp_path_factory.mktemp(f"lists_params_{lang}")
        (params / "dealers").mkdir()
        (params / "network.yaml").write_text(f"source: {root}\nlanguage: {lang}\n")
        d001 = coaching_plans.yaml(lang, external_lists_yaml(files))
        (params / "dealers" / "D001.yaml").write_text(d001, encoding="utf-8")
        folder = tmp_path_factory.mktemp(f"lists_run_{lang}")
        s = runner.run_report(
            out=folder,
            all_dealers=True,
            params_dir=params,
            workers=1,
            progress=False,
            network=False,
            notebooks=list(ONE_DEALER_NOTEBOOKS),
        )
        assert s.exit_code == 0, [(r.dealer_id, r.error) for r in s.results]
        runs[lang] = (folder, params)
    return ListsRuns(root, files, runs)
