"""The monthly network run at scale: wall time, time per dealer, peak memory, loads per dealer.

    PYTHONPATH=$PWD python bench/bench_network_run.py --dealers 10 30 100 --customers 20000

For each network size a store is simulated (cached under ``bench/out/network_<n>x<c>``), then
``crm-analytics report --all`` runs every dealer notebook of every dealer plus the network
overview on a local process pool (``--workers``, default 2). Measured:

* wall time of the whole run and per dealer (the target: under 20 minutes for 100 dealers of
  20,000 customers on a 2-core machine, and flat per dealer from 10 to 100 dealers);
* peak memory of the run's process tree (the runner, its workers and the notebook kernels),
  sampled every 0.2 s (target: under 8 GiB);
* the machine while it ran: bytes written to disk, CPU seconds waiting for the disk
  (``iowait``) or taken by the host (``steal``), and the seconds during which every runnable
  task waited for the disk (``/proc/pressure/io`` "full"); a run slowed by the disk or a busy
  host shows there, not in the package's own stage times;
* loads per dealer: every call of ``crm_analytics.data.store.load_dealer`` in any process of
  the run is logged (a ``sitecustomize`` module put on the workers' and kernels' path for the
  benchmark only); the target is exactly one per dealer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"

_SITECUSTOMIZE = """
import os
import crm_analytics.data.store as _store

_original = _store.load_dealer


def load_dealer(source, dealer_id, *args, **kwargs):
    with open(os.environ["CRM_BENCH_LOAD_LOG"], "a", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()} {dealer_id}\\n")
    return _original(source, dealer_id, *args, **kwargs)


_store.load_dealer = load_dealer
"""


class PeakMemory:
    """Peak summed RSS of a process and all its descendants, sampled in a thread."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.root = psutil.Process(pid)
        self.every = every
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for p in [self.root, *self.root.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.every)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _machine() -> dict[str, float]:
    """Counters of the whole machine (Linux): disk bytes written, CPU iowait and steal seconds,
    the disk's "full" pressure stall in seconds."""
    cpu = psutil.cpu_times()
    disk = psutil.disk_io_counters()
    stall = 0.0
    with contextlib.suppress(OSError):
        for line in Path("/proc/pressure/io").read_text().splitlines():
            if line.startswith("full"):
                stall = int(line.rsplit("total=", 1)[1]) / 1e6
    return {
        "disk_written_gib": (disk.write_bytes if disk else 0) / 2**30,
        "cpu_iowait_s": getattr(cpu, "iowait", 0.0),
        "cpu_steal_s": getattr(cpu, "steal", 0.0),
        "io_full_stall_s": stall,
    }


def _store(n: int, customers: int, years: float, workers: int) -> Path:
    from crm_analytics.sim import simulate_network

    path = OUT / f"network_{n}x{customers}"
    if not (path / "dealers.parquet").is_file():
        t0 = time.perf_counter()
        simulate_network(
            n_dealers=n,
            customers_per_dealer=customers,
            years=years,
            seed=2016,
            out=path,
            workers=workers,
        )
        print(
            f"  simulated {n} dealers x {customers} customers in {time.perf_counter() - t0:.0f} s"
        )
    return path


def run_once(n: int, customers: int, years: float, workers: int, notebooks: list[str]) -> dict:
    from crm_analytics.batch import runner

    store = _store(n, customers, years, workers)
    run_dir = OUT / f"run_{n}x{customers}"
    shutil.rmtree(run_dir, ignore_errors=True)
    params = Path(tempfile.mkdtemp()) / "params"
    (params / "dealers").mkdir(parents=True)
    (params / "network.yaml").write_text("language: zh\n", encoding="utf-8")
    hook = Path(tempfile.mkdtemp())
    (hook / "sitecustomize.py").write_text(_SITECUSTOMIZE, encoding="utf-8")
    log = hook / "loads.log"
    log.touch()
    os.environ["CRM_BENCH_LOAD_LOG"] = str(log)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(hook), str(ROOT)])
    t0, machine0 = time.perf_counter(), _machine()
    with PeakMemory(os.getpid()) as mem:
        summary = runner.run_report(
            out=run_dir,
            all_dealers=True,
            params_dir=params,
            source=store,
            workers=workers,
            notebooks=notebooks,
            progress=False,
        )
    wall = time.perf_counter() - t0
    machine = {k: round(v - machine0[k], 2) for k, v in _machine().items()}
    loads = [line.split()[1] for line in log.read_text(encoding="utf-8").splitlines()]
    per_dealer = {d: loads.count(d) for d in {*loads}}
    ok = sum(r.status == "ok" for r in summary.results)
    return {
        "dealers": n,
        "customers": customers,
        "workers": workers,
        "notebooks": len(notebooks),
        "ok": ok,
        "failed": [(r.dealer_id, r.error) for r in summary.failed],
        "wall_s": round(wall, 1),
        "s_per_dealer": round(wall / n, 2),
        "peak_gib": round(mem.peak / 2**30, 2),
        "loads_total": len(loads),
        "loads_per_dealer_max": max(per_dealer.values(), default=0),
        "dealers_loaded": len(per_dealer),
        "stages_s": summary.stages,
        "machine": machine,
    }


def main() -> int:
    from crm_analytics.batch.runner import DEFAULT_NOTEBOOKS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dealers", type=int, nargs="+", default=[10, 30, 100])
    p.add_argument("--customers", type=int, default=20000)
    p.add_argument("--years", type=float, default=5.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--notebooks", nargs="+", default=list(DEFAULT_NOTEBOOKS))
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    args = p.parse_args()
    rows = []
    for n in args.dealers:
        print(f"{n} dealers x {args.customers} customers ...", flush=True)
        rows.append(run_once(n, args.customers, args.years, args.workers, args.notebooks))
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print("dealers  wall_s  s/dealer  peak_GiB  loads/dealer(max)  ok")
    for r in rows:
        print(
            f"{r['dealers']:7d} {r['wall_s']:7.0f} {r['s_per_dealer']:9.1f} {r['peak_gib']:9.2f} "
            f"{r['loads_per_dealer_max']:18d} {r['ok']:4d}"
        )
    return 0 if all(not r["failed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
