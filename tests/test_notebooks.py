"""Every notebook executes on the sample network (nbval, lax: outputs are not compared).

Runs ``pytest --nbval-lax notebooks/`` in a subprocess so the notebooks' own pytest session
(one kernel per notebook, started in the notebooks folder) stays separate from this one. The
notebooks read ``../data/sample`` (their default parameters); it is generated here when missing
(the same seeded sample as ``crm-analytics generate``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


@pytest.fixture(scope="module")
def sample_store():
    if not (SAMPLE / "dealers.parquet").is_file():
        from crm_analytics.cli import SAMPLE as CONFIG
        from crm_analytics.sim import simulate_network

        simulate_network(out=SAMPLE, **CONFIG)
    return SAMPLE


def test_every_notebook_runs_on_the_sample_network(sample_store):
    pytest.importorskip("nbval")
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) == 10
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(ROOT / "notebooks"),
            *map(str, notebooks),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = "\n".join(proc.stdout.splitlines()[-40:])
    assert proc.returncode == 0, f"nbval failed:\n{tail}\n{proc.stderr[-3000:]}"
    assert " passed" in tail and "failed" not in tail
