"""Measure papermill's per-notebook overhead with and without JupyterLab in the environment.

DESIGN.md notes that installing JupyterLab into the batch environment made every kernel start
about 2 s slower. This script builds two throw-away virtualenvs (papermill + ipykernel, then the
same plus jupyterlab), executes an empty notebook N times in each and prints the mean times and
their ratio. Usage: python bench/bench_kernel_start.py [--runs 5] [--dir bench/out/kernel]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

EMPTY = {
    "cells": [
        {
            "cell_type": "code",
            "metadata": {},
            "source": "x = 1",
            "outputs": [],
            "execution_count": None,
        }
    ],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def _venv(path: Path, packages: list[str]) -> Path:
    if not (path / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(path / "bin" / "pip"), "install", "-q", *packages], check=True)
    return path / "bin" / "python"


def _time(python: Path, nb: Path, runs: int) -> float:
    code = (
        "import papermill, time, sys\n"
        "t = time.perf_counter()\n"
        f"papermill.execute_notebook({str(nb)!r}, {str(nb.with_suffix('.out.ipynb'))!r}, kernel_name='python3', progress_bar=False)\n"
        "print(time.perf_counter() - t)\n"
    )
    times = []
    for _ in range(runs):
        out = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return min(times), sum(times) / len(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", default="bench/out/kernel")
    args = ap.parse_args()
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    nb = root / "empty.ipynb"
    nb.write_text(json.dumps(EMPTY))
    lean = _venv(root / "lean", ["papermill", "ipykernel"])
    lab = _venv(root / "lab", ["papermill", "ipykernel", "jupyterlab"])
    t0 = time.perf_counter()
    best_lean, mean_lean = _time(lean, nb, args.runs)
    best_lab, mean_lab = _time(lab, nb, args.runs)
    print(
        f"empty notebook, papermill + ipykernel:            best {best_lean:.2f} s, mean {mean_lean:.2f} s"
    )
    print(
        f"empty notebook, papermill + ipykernel + jupyterlab: best {best_lab:.2f} s, mean {mean_lab:.2f} s"
    )
    print(
        f"ratio (lab / lean, means): {mean_lab / mean_lean:.2f}  ({time.perf_counter() - t0:.0f} s of runs)"
    )


if __name__ == "__main__":
    main()
