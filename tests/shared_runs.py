"""The suite's shared stores and report runs, built in background processes.

A report run executes real notebooks (a minute or more each), so the runs several test files
read are built once per session. They are built beside the tests, not in the pytest process:
``tests/conftest.py`` starts one process per run right after collection
(``python -c 'import shared_runs; shared_runs.main()' ROOT PART...``); each process builds its
parts in order into ``ROOT`` and writes each part's result to ``ROOT/<part>.pkl`` when it is
complete; the fixture of a part waits for that file. On a 2-core machine the suite's model
tests run in one process, so the runs use the other core instead of waiting for it.

Parts: ``stores`` (the 3-dealer store, clean and with HTML in D002's names, and the run's
parameters), ``report_run`` and ``killed_run`` (runs over those stores; they wait for
``stores``), ``lists_runs`` (a one-dealer store with external name lists, reported in zh and en
with every dealer notebook), ``lab_notebooks`` (nbval over every notebook as an analyst opens
it). Read these runs, never write into them: a test that changes a
run works on a copy (``shutil.copytree``).
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crm_analytics.batch.runner import DEFAULT_NOTEBOOKS

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

#: HTML/script in dealer D002's names in the ``stores`` part's store (the markers
#: tests/test_report.py checks for: escaped in every page, never raw)
HOSTILE_DEALER = 'Evil <script>alert("dealer")</script> Motors'
HOSTILE_STAFF = '<script>alert("staff")</script>'
HOSTILE_CUSTOMER = '<img src=x onerror=alert("cust")>'

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


def coaching_yaml(lang: str, extra: str = "") -> str:
    """D001's dealer file with ``COACHING_PLAN`` in ``lang`` (``extra``: lines before it)."""
    lines = ["dealer_id: D001", *([extra.rstrip("\n")] if extra else []), "coaching:"]
    for kpi, action, owner, status, baseline in COACHING_PLAN[lang]:
        lines.append(
            f"  - {{round: 2025-07-10, kpi: {kpi}, action: {action}, owner: {owner}, "
            f"due: 2025-09-30, status: {status}, target: 0.6"
            + (f", baseline: {baseline}}}" if baseline is not None else "}")
        )
    return "\n".join(lines) + "\n"


#: the one-dealer store's seed (its network and its name lists)
LISTS_SEED = 5
#: an external list named in D001's file that does not exist (a run note)
MISSING_LIST = "external_lists/D001/gone.csv"
#: the notebooks of the one-dealer runs: every dealer notebook (the report and the pages a
#: consultant opens from the index beside it; tests/test_language.py SECONDARY)
ONE_DEALER_NOTEBOOKS = DEFAULT_NOTEBOOKS


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
class Stores:
    """``clean``: a 3-dealer store (300 customers each, 2 years, key accounts and events, as
    the sample network has them); ``store``: the same with HTML/script in D002's dealer, staff
    and customer names (its key accounts' company names kept); ``params``: the parameters of
    ``store`` (English, network targets; D001 in Chinese with a note and the previous round's
    action plan)."""

    clean: Path
    store: Path
    params: Path


@dataclass
class ReportRun:
    """A run of the report, churn and action-list notebooks of every dealer of
    ``Stores.store`` on a 2-process pool with the network overview: ``out`` is a copy of the run
    folder as the run left it (``<runs>/2026-06``, the only run in ``<runs>``); the run's own
    folder was then run again at once with nothing changed (``rerun``, ``rerun_summary``: every
    dealer skipped; ``rerun_stamps``: the mtimes of the analyses before it)."""

    out: Path
    summary: Any
    rerun: Path
    rerun_summary: Any
    rerun_stamps: dict[Path, int]


@dataclass
class KilledRun:
    """``dealer_report`` for every dealer of ``Stores.clean``, each in the other language than
    in ``ReportRun`` (the network in Chinese, D001 in English), started as the command on one
    worker, killed (SIGKILL to its process group) a second after the first dealer finished,
    then run again to the end on two workers: ``after_kill`` is a copy of its folder as the
    kill left it, ``done_before`` the dealers finished then, ``out`` the folder the second run
    completed (``rerun_summary``)."""

    out: Path
    after_kill: Path
    done_before: set[str]
    rerun_summary: Any


@dataclass
class ListsRuns:
    """``store`` (one dealer, D001, 300 customers, 3 years) with its name lists ``files``
    (``write_external_lists``; D001's file also names ``MISSING_LIST``) and the previous
    round's action plan; ``runs``: language -> (run folder, parameters folder) of D001
    reported with ``ONE_DEALER_NOTEBOOKS``."""

    store: Path
    files: Any
    runs: dict[str, tuple[Path, Path]]


def _stores(root: Path) -> Stores:
    from crm_analytics.data.store import (
        list_dealers,
        load_dealer,
        write_dealer_tables,
        write_dealers_index,
    )
    from crm_analytics.sim import simulate_network

    clean = root / "clean_store"
    simulate_network(
        n_dealers=3,
        customers_per_dealer=300,
        years=2,
        seed=7,
        out=clean,
        workers=1,
        key_accounts=True,
        events=True,
    )
    store = root / "store"
    shutil.copytree(clean, store)
    d = load_dealer(store, "D002", truth=True)
    tables = {k: v.copy() for k, v in d.tables.items()}
    tables["staff"]["name"] = HOSTILE_STAFF
    # every person's name; the key accounts (companies) keep theirs, which the report names
    people = ~tables["customers"]["customer_id"].isin(d.truth["key_accounts"]["customer_id"])
    tables["customers"].loc[people, "name"] = HOSTILE_CUSTOMER
    write_dealer_tables(store, {"dealer_id": "D002"}, tables, truth=d.truth)
    index = list_dealers(store)
    index.loc[index["dealer_id"] == "D002", "name"] = HOSTILE_DEALER
    write_dealers_index(store, index)
    params = root / "params"
    (params / "dealers").mkdir(parents=True)
    (params / "network.yaml").write_text(
        f"source: {store}\nlanguage: en\ntargets:\n  visit_to_order_rate: 0.35\n"
        "  finance_penetration: 0.6\n"
    )
    d001 = coaching_yaml("zh", "language: zh\nnotes: '第二轮辅导。重点:金融渗透率。'")
    (params / "dealers" / "D001.yaml").write_text(d001, encoding="utf-8")
    return Stores(clean, store, params)


def _report_run(root: Path) -> ReportRun:
    from crm_analytics.batch import runner

    stores = wait(root, "stores")
    notebooks = ["dealer_report", "churn", "action_lists"]
    run = root / "run" / "2026-06"
    kw = {"all_dealers": True, "params_dir": stores.params, "progress": False}
    summary = runner.run_report(out=run, workers=2, notebooks=notebooks, **kw)
    out = root / "runs" / "2026-06"
    shutil.copytree(run, out)
    stamps = {p: p.stat().st_mtime_ns for p in run.glob("*/analysis.pkl")}
    rerun_summary = runner.run_report(out=run, workers=1, network=False, notebooks=notebooks, **kw)
    return ReportRun(out, summary, run, rerun_summary, stamps)


def _killed_run(root: Path) -> KilledRun:
    from crm_analytics.batch import runner

    stores = wait(root, "stores")
    params = root / "params_other_languages"
    (params / "dealers").mkdir(parents=True)
    (params / "network.yaml").write_text(f"source: {stores.clean}\nlanguage: zh\n")
    (params / "dealers" / "D001.yaml").write_text(coaching_yaml("en", "language: en"), "utf-8")
    out = root / "killed_run" / "2026-06"
    cmd = [sys.executable, "-m", "crm_analytics.batch.runner", "--all", "--params", str(params)]
    cmd += ["--out", str(out), "--workers", "1", "--no-progress", "--no-network"]
    cmd += ["--notebooks", "dealer_report"]
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    first = out / "D001" / "metrics.json"
    try:
        deadline = time.time() + 600  # a hang guard: the machine is busy with the suite
        while time.time() < deadline and not first.exists() and proc.poll() is None:
            time.sleep(0.1)
        if not first.exists():
            raise RuntimeError("killed_run: the first dealer never finished")
        time.sleep(1.0)  # the second dealer's kernel is running now
        if proc.poll() is not None:
            raise RuntimeError("killed_run: the run ended before it could be killed")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    done_before = {p.parent.name for p in out.glob("*/metrics.json")}
    after_kill = root / "after_kill" / "2026-06"
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


def _lists_runs(root: Path) -> ListsRuns:
    from crm_analytics.batch import runner
    from crm_analytics.sim import simulate_network
    from crm_analytics.sim.external_lists import write_external_lists

    store = root / "lists_store"
    simulate_network(
        n_dealers=1, customers_per_dealer=300, years=3, seed=LISTS_SEED, out=store, workers=1
    )
    files = write_external_lists(store, seed=LISTS_SEED, rows_per_list=60)
    runs = {}
    for lang in ("zh", "en"):
        params = root / f"lists_params_{lang}"
        (params / "dealers").mkdir(parents=True)
        (params / "network.yaml").write_text(f"source: {store}\nlanguage: {lang}\n")
        d001 = coaching_yaml(lang, external_lists_yaml(files))
        (params / "dealers" / "D001.yaml").write_text(d001, encoding="utf-8")
        folder = root / f"lists_run_{lang}"
        s = runner.run_report(
            out=folder,
            all_dealers=True,
            params_dir=params,
            workers=1,
            progress=False,
            network=False,
            notebooks=list(ONE_DEALER_NOTEBOOKS),
        )
        if s.exit_code != 0:
            raise RuntimeError(
                f"lists_runs ({lang}): {[(r.dealer_id, r.error) for r in s.results]}"
            )
        runs[lang] = (folder, params)
    return ListsRuns(store, files, runs)


@dataclass
class LabNotebooks:
    """nbval's run of every notebook (``notebooks``: their names) with its own default
    parameters on a small network laid out like the sample (``data/sample`` beside
    ``notebooks/``): its exit code and output."""

    notebooks: list[str]
    returncode: int
    log: str


def _lab_notebooks(root: Path) -> LabNotebooks | None:
    """Every notebook of ``notebooks/`` run by nbval (lax: outputs are not compared) as an
    analyst opens it; ``None`` without nbval. nbval starts each kernel in its notebook's
    folder, so the folder mirrors the repository and the notebooks read ``../data/sample``."""
    import nbformat

    from crm_analytics.batch.runner import read_notebook
    from crm_analytics.sim import simulate_network

    try:
        import nbval  # noqa: F401 - only whether it is installed
    except ImportError:
        return None
    work = root / "lab" / "notebooks"
    work.mkdir(parents=True)
    simulate_network(  # with key accounts and events, as `crm-analytics generate` writes it
        n_dealers=3,
        customers_per_dealer=400,
        years=3,
        seed=5,
        out=root / "lab" / "data" / "sample",
        key_accounts=True,
        events=True,
    )
    sources = sorted(NOTEBOOKS.glob("*.py"))
    for p in sources:
        nbformat.write(read_notebook(p), work / f"{p.stem}.ipynb")
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider"]
    cmd += ["--rootdir", str(work), "--nbval-current-env"]
    cmd += sorted(str(p) for p in work.glob("*.ipynb"))
    env = {**os.environ, "CRM_ANALYTICS_RUNS": str(root / "lab" / "reports")}  # beside data/
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=900, env=env)
    return LabNotebooks([p.stem for p in sources], proc.returncode, proc.stdout + proc.stderr)


#: part -> builder(root); ``stores`` first (the other parts over its stores wait for it)
PARTS: dict[str, Callable[[Path], Any]] = {
    "stores": _stores,
    "report_run": _report_run,
    "killed_run": _killed_run,
    "lists_runs": _lists_runs,
    "lab_notebooks": _lab_notebooks,
}


def plan(parts: set[str | None]) -> list[list[str]]:
    """The processes that build ``parts`` (and the stores the runs over them read): one per
    run, the stores built first in the report run's process."""
    parts = set(parts) - {None}
    if parts & {"report_run", "killed_run"}:
        parts.add("stores")
    jobs = [[p] for p in ("lab_notebooks", "killed_run", "lists_runs") if p in parts]
    first = [p for p in ("stores", "report_run") if p in parts]
    return [first, *jobs] if first else jobs


def _claim(root: Path, part: str) -> bool:
    """Whether this test process builds ``part``: the first to create ``<part>.claim`` does
    (with pytest-xdist every worker collects the same tests and asks)."""
    try:
        os.close(os.open(root / f"{part}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def start(root: Path, parts: list[str]) -> subprocess.Popen | None:
    """A process building those of ``parts`` no other test process claimed, into ``root``
    (its output in ``root/<first part>.log``; its pid in ``<part>.pid``), in a session of its
    own so that it and its kernels can be stopped together; None when all were claimed."""
    parts = [p for p in parts if _claim(root, p)]
    if not parts:
        return None
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    code = "import shared_runs; shared_runs.main()"
    with open(root / f"{parts[0]}.log", "w") as log:  # the child keeps its own handle
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(root), *parts],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    for part in parts:
        _result(root, part, ".pid.tmp").write_text(str(proc.pid))
        os.replace(_result(root, part, ".pid.tmp"), _result(root, part, ".pid"))
    return proc


def _result(root: Path, part: str, suffix: str = ".pkl") -> Path:
    return root / f"{part}{suffix}"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):  # no /proc: trust the signal
        return True


def wait(root: Path, part: str, timeout: float = 1800) -> Any:
    """The result of ``part`` once its process wrote it; raises with the reason when the part
    failed, when the process building it ended without it, or after ``timeout`` seconds."""
    path, failed, pid = (_result(root, part, s) for s in (".pkl", ".failed", ".pid"))
    deadline = time.time() + timeout
    while not path.exists():
        if failed.exists():
            raise RuntimeError(f"shared run {part!r} failed:\n{failed.read_text()}")
        if pid.exists() and not _alive(int(pid.read_text())) and not path.exists():
            raise RuntimeError(f"shared run {part!r}: its process ended without it ({root})")
        if time.time() > deadline:
            raise TimeoutError(f"shared run {part!r}: not built within {timeout:g} s")
        time.sleep(0.2)
    with open(path, "rb") as fh:
        return pickle.load(fh)


def stop(root: Path) -> None:
    """Stop every process still building a part in ``root`` (and its kernels)."""
    for pid_file in root.glob("*.pid"):
        pid = int(pid_file.read_text())
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:  # pragma: no cover - ended meanwhile
                pass


def main() -> None:
    """``ROOT PART...``: build each part in order; a part's result is written (atomically)
    only when it is complete, its traceback to ``<part>.failed`` when it fails (and the
    parts after it are marked failed too)."""
    root, parts = Path(sys.argv[1]), sys.argv[2:]
    for i, part in enumerate(parts):
        try:
            result = PARTS[part](root)
        except BaseException:
            _result(root, part, ".failed").write_text(traceback.format_exc())
            for later in parts[i + 1 :]:
                _result(root, later, ".failed").write_text(f"(not built: {part} failed)")
            raise SystemExit(1) from None
        tmp = _result(root, part, ".tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(result, fh)
        os.replace(tmp, _result(root, part))
        print(f"{part}: built", flush=True)
