"""The notebooks: every one executes on the sample network (nbval, lax: outputs are not
compared), and running and saving them as JupyterLab does leaves git clean.

Only the py:percent ``notebooks/*.py`` are tracked (``jupytext.toml``); the ``.ipynb`` nbval
needs are generated into a temp folder. nbval runs in a subprocess so the notebooks' own pytest
session (one kernel per notebook) stays separate from this one. nbval starts each kernel in its
notebook's folder, so the temp folder mirrors the repository (``notebooks/`` beside a link to
``data/``) and the notebooks read ``../data/sample`` (their default parameters), generated here
when missing (the same seeded sample as ``crm-analytics generate``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from crm_analytics.batch.runner import read_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SAMPLE = ROOT / "data" / "sample"


@pytest.fixture(scope="module")
def sample_store():
    if not (SAMPLE / "dealers.parquet").is_file():
        from crm_analytics.cli import SAMPLE as CONFIG
        from crm_analytics.sim import simulate_network

        simulate_network(out=SAMPLE, **CONFIG)
    return SAMPLE


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
    for t in tracked:
        text = (ROOT / t).read_text(encoding="utf-8")
        assert text.startswith("# %%"), f"{t}: a header or text before the first cell"


def test_every_notebook_runs_on_the_sample_network(sample_store, tmp_path):
    pytest.importorskip("nbval")
    sources = sorted(NOTEBOOKS.glob("*.py"))
    assert len(sources) >= 10
    work = tmp_path / "notebooks"
    work.mkdir()
    (tmp_path / "data").symlink_to(ROOT / "data", target_is_directory=True)
    for p in sources:
        nbformat.write(read_notebook(p), work / f"{p.stem}.ipynb")
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
            str(work),
            "--nbval-current-env",
            *sorted(str(p) for p in work.glob("*.ipynb")),
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=900,
    )
    tail = "\n".join(proc.stdout.splitlines()[-40:])
    assert proc.returncode == 0, f"nbval failed:\n{tail}\n{proc.stderr[-3000:]}"
    assert " passed" in tail and "failed" not in tail
