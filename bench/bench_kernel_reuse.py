"""A kept kernel against a fresh kernel per notebook, side by side in one script.

The batch runner's workers keep one Jupyter kernel from notebook to notebook
(``crm_analytics.batch.kernel``), reset between them. This script executes the same notebooks
both ways in this process, one after the other: the reference is papermill's default (a new
kernel per notebook), the other a ``WarmKernel`` handed to papermill. It reports the wall time
and the CPU time of this process and its kernels (a kernel's CPU is counted once it has exited
and been waited for), their ratios, and whether every notebook's outputs are equal.

Inputs: a run folder of the bundled sample network made first (``crm-analytics report``, cached
under ``bench/out/kernel_reuse``), then ``--notebooks`` of every dealer, ``--rounds`` times.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_kernel_reuse.py [--notebooks dealer_report churn]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import nbformat
import papermill as pm

from crm_analytics.batch import runner
from crm_analytics.batch.kernel import QUIET, WarmKernel
from crm_analytics.batch.params import load_run_params, notebook_parameters

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "kernel_reuse"


def _cpu() -> float:
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _outputs(nb) -> list[str]:
    """Each code cell's outputs without execution counts (they are equal after the reset
    anyway, but a reference kernel numbers from 1 too: compared as they are)."""
    return [str(c.get("outputs", [])) for c in nb.cells if c.cell_type == "code"]


def _jobs(run: Path, notebooks: list[str]) -> list[tuple[str, Path, dict]]:
    params = load_run_params(all_dealers=True, params_dir=ROOT / "params")
    jobs = []
    for settings in params.dealers:
        did = settings.dealer_id
        nbp = notebook_parameters(settings)
        nbp["analysis_path"] = str(run / did / runner.ANALYSIS_FILE)
        nbp["benchmark_path"] = str(run / "network" / runner.BENCHMARK_FILE)
        for name in notebooks:
            src = OUT / f"{name}.src.ipynb"
            if not src.exists():
                nbformat.write(runner.read_notebook(runner.NOTEBOOKS_DIR / f"{name}.py"), src)
            jobs.append((f"{did}/{name}", src, nbp))
    return jobs


def _execute(jobs, rounds: int, kernel: WarmKernel | None) -> tuple[float, float, list]:
    cpu, wall, outs = _cpu(), time.perf_counter(), []
    for r in range(rounds):
        for key, src, nbp in jobs:
            dest = OUT / f"{key.replace('/', '_')}.{'warm' if kernel else 'fresh'}.ipynb"
            kw = {"progress_bar": False, "kernel_name": runner.KERNEL_NAME}
            if kernel is None:  # quiet as the kept kernel is: no start-up notice per kernel
                nb = pm.execute_notebook(
                    str(src), str(dest), parameters=nbp, extra_arguments=QUIET, **kw
                )
            else:
                with kernel.lease() as km:
                    nb = pm.execute_notebook(str(src), str(dest), parameters=nbp, km=km, **kw)
            if r == 0:
                outs.append(_outputs(nb))
    if kernel is not None:
        kernel.close()  # its CPU is counted once it has exited
    return time.perf_counter() - wall, _cpu() - cpu, outs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notebooks", nargs="+", default=["dealer_report"])
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    run = OUT / "run"
    if not (run / "run.json").exists():
        runner.run_report(out=run, all_dealers=True, params_dir=ROOT / "params", progress=False)
    jobs = _jobs(run, args.notebooks)
    n = len(jobs) * args.rounds
    fresh = _execute(jobs, args.rounds, None)
    warm = _execute(jobs, args.rounds, WarmKernel(runner.KERNEL_NAME))
    print(
        f"{n} notebooks ({', '.join(args.notebooks)}) of {len(jobs) // len(args.notebooks)} dealers"
    )
    print(f"{'':22}{'wall s':>10}{'CPU s':>10}{'wall/nb':>10}")
    for name, (wall, cpu, _) in (("fresh kernel each", fresh), ("kept kernel", warm)):
        print(f"{name:22}{wall:10.1f}{cpu:10.1f}{wall / n:10.2f}")
    print(f"ratio fresh/kept: wall {fresh[0] / warm[0]:.2f}x, CPU {fresh[1] / warm[1]:.2f}x")
    same = fresh[2] == warm[2]
    print(f"outputs equal: {same}")
    if not same:
        raise SystemExit("the kept kernel changed a notebook's outputs")


if __name__ == "__main__":
    main()
