"""Shared fixtures: small simulated dealers (seconds to build, cached per session); the shared
stores and report runs of ``tests/shared_runs.py``, built in background processes started right
after collection; and background jobs (a long subprocess started right after collection,
checked by its test)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import shared_runs

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


def pytest_collection_modifyitems(config, items):
    items.sort(key=_order)  # stable: each group keeps the collection's order


def pytest_collection_finish(session):
    config = session.config
    config.stash[_SHARED] = {"root": None, "procs": {}}
    if config.option.collectonly:
        return
    jobs = config.stash[_JOBS]
    for item in session.items:
        mark = item.get_closest_marker("background")
        if mark is not None and item.nodeid not in jobs:
            folder = Path(tempfile.mkdtemp(prefix="crm-analytics-background-"))
            try:
                jobs[item.nodeid] = (mark.kwargs["start"](folder), folder)
            except Exception as err:  # noqa: BLE001 - raised in the test, not in collection
                jobs[item.nodeid] = (err, folder)
    _start_shared(config, {SHARED_FIXTURES.get(f) for i in session.items for f in i.fixturenames})


def pytest_sessionfinish(session):
    shared = session.config.stash.get(_SHARED, {})
    procs = [(proc, folder) for proc, folder in session.config.stash.get(_JOBS, {}).values()]
    procs += [(proc, shared["root"]) for proc in set(shared.get("procs", {}).values())]
    for proc, folder in procs:
        if isinstance(proc, subprocess.Popen) and proc.poll() is None:  # its test did not run
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if folder is not None:
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
# the shared stores and report runs (tests/shared_runs.py): the parts the collected tests need are
# started right after collection, each run in a process of its own, and the tests that read a
# run are moved to the end of the session (after every other test, in their order), so that the
# runs are built while the other tests run. Read them, never write into them: a test that
# changes a run works on a copy (``shutil.copytree``).
# ---------------------------------------------------------------------------------------------

_SHARED = pytest.StashKey[dict]()
#: fixture -> the part of tests/shared_runs.py it returns
SHARED_FIXTURES = {
    "clean_report_store": "stores",
    "report_store": "stores",
    "report_params": "stores",
    "report_run": "report_run",
    "killed_run": "killed_run",
    "lists_runs": "lists_runs",
}


def _order(item) -> int:
    """0: any test; 1: a test reading a shared run; 2: a test waiting for a background job."""
    if item.get_closest_marker("background") is not None:
        return 2
    return int(any(SHARED_FIXTURES.get(f, "stores") != "stores" for f in item.fixturenames))


def _start_shared(config, parts: set[str]) -> None:
    state = config.stash[_SHARED]
    if state.get("root") is None:
        state["root"] = Path(tempfile.mkdtemp(prefix="crm-analytics-shared-"))
    for job in shared_runs.plan(parts, started=set(state["procs"])):
        proc = shared_runs.start(state["root"], job)
        state["procs"].update({part: proc for part in job})


def _shared(config, part: str):
    """The shared ``part`` (waits for the process building it; one not started after
    collection, for a fixture asked for on the fly, is started now)."""
    state = config.stash[_SHARED]
    if part not in state["procs"]:
        _start_shared(config, {part})
    try:
        return shared_runs.wait(state["root"], part, state["procs"][part])
    except (RuntimeError, TimeoutError) as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="session")
def clean_report_store(request) -> Path:
    """``shared_runs.Stores.clean``: a 3-dealer store (300 customers each, 2 years)."""
    return _shared(request.config, "stores").clean


@pytest.fixture(scope="session")
def report_store(request) -> Path:
    """``shared_runs.Stores.store``: ``clean_report_store`` with HTML/script in D002's names."""
    return _shared(request.config, "stores").store


@pytest.fixture(scope="session")
def report_params(request) -> Path:
    """``shared_runs.Stores.params``: the parameters of ``report_store``."""
    return _shared(request.config, "stores").params


@pytest.fixture(scope="session")
def report_run(request) -> shared_runs.ReportRun:
    """``shared_runs.ReportRun`` over ``report_store`` with ``report_params``."""
    return _shared(request.config, "report_run")


@pytest.fixture(scope="session")
def killed_run(request) -> shared_runs.KilledRun:
    """``shared_runs.KilledRun`` over ``clean_report_store``."""
    return _shared(request.config, "killed_run")


@pytest.fixture(scope="session")
def lists_runs(request) -> shared_runs.ListsRuns:
    """``shared_runs.ListsRuns``: D001 with external name lists, every notebook, zh and en."""
    return _shared(request.config, "lists_runs")
