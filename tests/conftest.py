"""Shared fixtures: small simulated dealers (seconds to build, cached per session)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from crm_analytics.sim import DefectRates, simulate_dealer


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
