"""Shared fixtures: small simulated dealers (seconds to build, cached per session), a holder of
a run folder's lock, and the shared stores and runs of ``tests/shared_runs.py`` (built in
background processes started right after collection)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# one thread per process: pytest-xdist runs a test per core beside the shared runs' processes,
# where pools of OpenMP/BLAS threads in each would only contend (set before they are loaded;
# the workers and the runs' processes inherit it)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import shared_runs  # noqa: E402 - after the thread settings

from crm_analytics.sim import DefectRates, simulate_dealer  # noqa: E402


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
# the shared stores and runs (tests/shared_runs.py): the parts the collected tests need are started
# right after collection, each run in a process of its own, and the tests that read a run are
# moved to the end of the session (in their order), so that the runs are built while the other
# tests run. With pytest-xdist every worker collects the same tests; the first to claim a part
# builds it, in a folder the controller hands to the workers, and the controller stops what is
# left and removes the folder at the end. Read the runs, never write into them: a test that
# changes a run works on a copy (``shutil.copytree``).
# ---------------------------------------------------------------------------------------------

_SHARED_ROOT = pytest.StashKey[Path]()
_ROOT_KEY = "crm_analytics_shared_root"
#: fixture -> the part of tests/shared_runs.py it returns
SHARED_FIXTURES = {
    "clean_report_store": "stores",
    "report_store": "stores",
    "report_params": "stores",
    "report_run": "report_run",
    "killed_run": "killed_run",
    "lists_runs": "lists_runs",
    "lab_notebooks": "lab_notebooks",
}
#: where a test reading a part runs: 0 in its place, 1 at the end, 2 after those
_PLACE = {"report_run": 1, "killed_run": 1, "lists_runs": 1, "lab_notebooks": 2}


def _controller(config) -> bool:
    return not hasattr(config, "workerinput")


def _root(config) -> Path:
    if _SHARED_ROOT not in config.stash:
        given = getattr(config, "workerinput", {}).get(_ROOT_KEY)
        root = Path(given) if given else Path(tempfile.mkdtemp(prefix="crm-analytics-shared-"))
        config.stash[_SHARED_ROOT] = root
    return config.stash[_SHARED_ROOT]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist: each worker builds and reads the parts in the controller's folder."""
    node.workerinput[_ROOT_KEY] = str(_root(node.config))


def _place(item) -> int:
    return max((_PLACE.get(SHARED_FIXTURES.get(f, ""), 0) for f in item.fixturenames), default=0)


def pytest_collection_modifyitems(config, items):
    items.sort(key=_place)  # stable: each group keeps the collection's order


def pytest_collection_finish(session):
    if session.config.option.collectonly:
        return
    parts = {SHARED_FIXTURES.get(f) for item in session.items for f in item.fixturenames}
    for job in shared_runs.plan(parts):
        shared_runs.start(_root(session.config), job)


def pytest_sessionfinish(session):
    config = session.config
    if _controller(config) and _SHARED_ROOT in config.stash:
        shared_runs.stop(config.stash[_SHARED_ROOT])
        shutil.rmtree(config.stash[_SHARED_ROOT], ignore_errors=True)


def _shared(config, part: str):
    """The shared ``part``: waits for the process building it (starts it when no test
    process did, for a fixture asked for on the fly)."""
    root = _root(config)
    for job in shared_runs.plan({part}):
        shared_runs.start(root, job)  # nothing when claimed already
    try:
        return shared_runs.wait(root, part)
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


@pytest.fixture(scope="session")
def lab_notebooks(request) -> shared_runs.LabNotebooks | None:
    """``shared_runs.LabNotebooks``: nbval over every notebook (None without nbval)."""
    return _shared(request.config, "lab_notebooks")
