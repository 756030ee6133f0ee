"""Batch runner: execute the report notebooks of many dealers with papermill.

``crm-analytics report [--dealers ID ... | --all] --out DIR [--workers N] [--scheduler ADDRESS]``

A run has four steps:

1. **Validate** every dealer's parameters (:func:`~crm_analytics.batch.params.load_run_params`)
   and the notebooks' ``parameters`` cells before anything runs; all problems at once.
2. **Prior** (one job per dealer, then one fit): each dealer's service-visit summary, read from
   the store's service-visits table alone, and from all of them the network's priors
   (empirical Bayes, :class:`~crm_analytics.models.btyd.NetworkPrior`) that each dealer's
   visit (BG/NBD) and spend (Gamma-Gamma) models are shrunk towards; a small dealer's fits
   then need no penalty retry and its lifetime value is computed from a few dozen owners.
3. **Metrics** (one job per dealer): load the dealer (its only load), analyse it
   (:func:`~crm_analytics.report.analysis.analyse_dealer`). From all dealers' metrics the peer
   benchmark (network medians) is computed, so each dealer's report compares it with its peers.
4. **Reports** (one job per dealer): papermill executes the dealer's notebooks (by default only
   ``dealer_report``) in the kernel its worker keeps from notebook to notebook, reset between
   them (:mod:`crm_analytics.batch.kernel`), exports HTML without code or parameter cells,
   and writes ``<out>/<dealer>/metrics.json`` last; before the notebooks, the scores (Parquet)
   and the call-list and fix-list workbooks are written. Then the ``network_overview`` notebook
   ranks all dealers from those files; ``<out>/run.json`` (the manifest: every dealer x
   notebook of the run folder, a partial re-run keeping the other dealers' rows) and
   ``<out>/index.html`` (the network scorecard built from it) are written last.

Jobs run on a local process pool (default) or a Dask distributed cluster (``scheduler``). A
failing dealer never stops the others; each notebook has a timeout (its kernel is killed at the
deadline); every output is written atomically (temp file + ``os.replace``), so a killed run leaves
no half-written report. A dealer is skipped when its data files, parameters, notebooks, package
code, the network prior's inputs and the peer benchmark are unchanged since its last successful
report (``force`` reruns it).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crm_analytics.batch.export import export_html, write_index
from crm_analytics.batch.kernel import warm_kernel
from crm_analytics.batch.lock import RunLock
from crm_analytics.batch.params import load_run_params, notebook_parameters
from crm_analytics.batch.tooling import load_tooling
from crm_analytics.core.config import Settings
from crm_analytics.core.errors import CRMAnalyticsError, InputError, ParameterError
from crm_analytics.core.files import (
    atomic_path,
    code_hash,
    file_identity,
    read_json,
    read_pickle,
    read_while_unchanged,
    write_json,
    write_pickle,
)
from crm_analytics.data.store import dealer_version, load_dealer
from crm_analytics.report.analysis import (
    ANALYSIS_FILE,
    PRIOR_FILE,
    analyse_dealer,
    fit_btyd_prior,
    fit_network_models,
    load_analysis,
    save_analysis,
    save_network_scores,
    score_with_network,
    store_visit_summary,
)
from crm_analytics.report.headline import load_benchmark, network_benchmark
from crm_analytics.report.outputs import write_action_workbooks, write_next_action_plan
from crm_analytics.report.text import t

__all__ = [
    "DEFAULT_NOTEBOOKS",
    "NOTEBOOKS_DIR",
    "DealerResult",
    "RunSummary",
    "add_arguments",
    "check_kernel",
    "main",
    "read_notebook",
    "run_from_args",
    "run_report",
]

#: The repository's notebooks folder (source checkout / editable install).
NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
#: Notebooks executed per dealer by default: every dealer notebook.
DEFAULT_NOTEBOOKS: tuple[str, ...] = (
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
NETWORK_NOTEBOOK = "network_overview"
KERNEL_NAME = "python3"
_NETWORK_PARAMS = ("run_dir", "benchmark_path", "language")
#: Training rows a dealer contributes to the network models (kept for partial re-runs).
FRAMES_FILE = "frames.pkl"
NETWORK_MODELS_FILE = "models.pkl"
#: A dealer's service-visit summary, the network priors' input (kept for partial re-runs).
SUMMARY_FILE = "service_summary.pkl"
#: The peer benchmark of the run folder's dealers, in ``<run folder>/network/``.
BENCHMARK_FILE = "benchmark.json"


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------


@dataclass
class DealerResult:
    """Outcome of one dealer (or of the network notebook, ``dealer_id == "network"``)."""

    dealer_id: str
    name: str = ""
    status: str = "failed"  # ok | skipped | failed | timeout
    duration_s: float = 0.0
    link: str = ""
    error: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    #: one manifest row per notebook run: notebook, status, duration_s, error, output, input_hash
    notebooks: list[dict[str, Any]] = field(default_factory=list)
    #: outputs of the dealer: name -> path relative to the run folder
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class RunSummary:
    """What a run did; ``exit_code`` is 1 when any dealer (or the network notebook) failed."""

    out: str
    results: list[DealerResult]
    network: DealerResult | None
    duration_s: float
    #: wall seconds of each stage of the run (prior, analysis, benchmark, network_models,
    #: render, overview), in the order they ran
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> list[DealerResult]:
        """Dealers that failed or timed out."""
        return [r for r in self.results if r.status in ("failed", "timeout")]

    @property
    def exit_code(self) -> int:
        """0 when every dealer and the network notebook succeeded (or was skipped), else 1."""
        net_bad = self.network is not None and self.network.status in ("failed", "timeout")
        return 1 if (self.failed or net_bad) else 0


# ---------------------------------------------------------------------------------------------
# fingerprints
# ---------------------------------------------------------------------------------------------


def _input_fingerprint(p: Settings, code: str, extra: dict[str, Any]) -> str:
    """Hash of the dealer's data (:func:`~crm_analytics.data.store.dealer_version`), its
    parameters and the code."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps(p.as_dict(), sort_keys=True).encode())
    h.update(json.dumps(extra, sort_keys=True).encode())
    h.update(code.encode())
    h.update(dealer_version(str(p.source), str(p.dealer_id)).encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# kernel
# ---------------------------------------------------------------------------------------------


def check_kernel(kernel_name: str = KERNEL_NAME) -> str:
    """Check that ``kernel_name`` starts this environment's Python; return its argv[0].

    papermill must run notebooks in the same virtualenv as the runner. The venv's ``python3``
    kernelspec (installed by ipykernel into ``sys.prefix``, or by
    ``python -m ipykernel install --sys-prefix``) starts ``python``, which jupyter_client maps to
    ``sys.executable``. A kernelspec of that name in the user's folder, pointing at another
    Python, would take precedence: that is reported with the fix.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel  # jupyter: run start only

    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel as err:
        raise InputError(
            f"no Jupyter kernel named {kernel_name!r}. Install it into this environment: "
            f"{sys.executable} -m ipykernel install --sys-prefix"
        ) from err
    exe = spec.argv[0] if spec.argv else ""
    ok_names = {"python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"}
    if exe in ok_names:
        return sys.executable
    if exe and Path(exe).resolve() == Path(sys.executable).resolve():
        return exe
    raise InputError(
        f"the kernel {kernel_name!r} ({spec.resource_dir}) starts {exe!r}, not this "
        f"environment's Python {sys.executable!r}; notebooks would run with other packages. "
        f"Remove that kernelspec or run: {sys.executable} -m ipykernel install --sys-prefix"
    )


# ---------------------------------------------------------------------------------------------
# jobs (run in pool / Dask worker processes; they never raise)
# ---------------------------------------------------------------------------------------------


@dataclass
class _Job:
    dealer_id: str
    params: dict[str, Any]  # Settings.as_dict()
    settings: Settings | None
    nb_params: dict[str, Any]
    notebooks: list[str]  # absolute paths
    out: str
    timeout: float
    kernel_name: str
    fingerprint: dict[str, str]
    metrics: dict[str, Any] | None = None
    needs_network_churn: bool = False
    prior_path: str = ""  # the network priors (empty: none in this run)


def _prepare_job(job: _Job) -> dict[str, Any]:
    """The dealer stage: load the dealer (the run's only read of its data), analyse it
    (:func:`crm_analytics.report.analysis.analyse_dealer`: metrics, call lists, data quality,
    its own churn model) and save the analysis and the rows the network models train on."""
    t0 = time.perf_counter()
    try:
        assert job.settings is not None
        dealer = load_dealer(job.settings.source, job.dealer_id, truth=False)
        prior = read_pickle(Path(job.prior_path)) if job.prior_path else None
        analysis = analyse_dealer(dealer, job.settings, btyd_prior=prior)
        ddir = Path(job.out) / job.dealer_id
        write_pickle((analysis.churn_frames, analysis.lead_frames), ddir / FRAMES_FILE)
        save_analysis(analysis.without_frames(), ddir / ANALYSIS_FILE)
        return {
            "dealer_id": job.dealer_id,
            "metrics": analysis.metrics,
            "needs_network_churn": analysis.churn_model is None,
            "error": "",
            "s": time.perf_counter() - t0,
        }
    except Exception as err:  # noqa: BLE001 - a failing dealer never stops the others
        return {
            "dealer_id": job.dealer_id,
            "metrics": None,
            "error": f"loading / analysis failed: {type(err).__name__}: {err}",
            "trace": traceback.format_exc(),
            "s": time.perf_counter() - t0,
        }


def _summary_job(job: _Job) -> dict[str, Any]:
    """The prior stage's part of one dealer: its service-visit summary from the store's
    service-visits table alone (not a load of the dealer), kept in its run folder."""
    try:
        assert job.settings is not None
        summary = store_visit_summary(job.settings.source, job.dealer_id)
        write_pickle(summary, Path(job.out) / job.dealer_id / SUMMARY_FILE)
        return {"dealer_id": job.dealer_id, "error": ""}
    except Exception as err:  # noqa: BLE001 - a dealer without visits is left out of the prior
        (Path(job.out) / job.dealer_id / SUMMARY_FILE).unlink(missing_ok=True)
        return {"dealer_id": job.dealer_id, "error": f"{type(err).__name__}: {err}"}


def _prior_stage(pool: _LocalPool | _DaskPool, jobs: Mapping[str, _Job], out: Path) -> str:
    """The network priors of the CLV models, before the dealers are loaded: every selected
    dealer's service summary (in the pool), the kept summaries of the run folder's other
    dealers, one empirical-Bayes fit per model, the two side by side
    (:func:`crm_analytics.report.analysis.fit_btyd_prior`). Each job is given the priors'
    path; returns the hash of the summaries they were fitted on (a dealer's analysis is redone
    when it changes), ``""`` without a prior."""
    for _ in pool.map_unordered(_summary_job, list(jobs.values())):
        pass
    summaries, h = {}, hashlib.blake2b(digest_size=16)
    for f in sorted(out.glob(f"*/{SUMMARY_FILE}")):
        summaries[f.parent.name] = read_pickle(f)
        h.update(f.parent.name.encode())
        h.update(f.read_bytes())
    # the two fits side by side in two processes of their own: fitted in the run's workers,
    # they changed the bytes of the frames those workers pickled next (equal values), and the
    # network models' fingerprint, a hash of those bytes, then re-rendered unchanged dealers
    fits = _LocalPool(2)
    try:
        prior, why = fit_btyd_prior(summaries, map_unordered=fits.map_unordered)
    finally:
        fits.close()
    path = out / "network" / PRIOR_FILE
    if summaries and why:
        sys.stderr.write(f"note: each dealer's model fitted alone where it has no prior: {why}\n")
    if prior is None:
        path.unlink(missing_ok=True)
        return ""
    write_pickle(prior, path)
    for job in jobs.values():
        job.prior_path = str(path)
    return h.hexdigest()


def _network_stage(out: Path, dealer_ids: Sequence[str], *, need_churn: bool) -> str:
    """Fit the network models once per run on every dealer's training rows (the pooled lead
    model; the network churn model when a dealer is too small for its own); save them and
    return the hash of their inputs (a dealer's report is rerun when they change).

    The hash is of what the fit reads (each dealer's training rows, by dealer id, and
    ``need_churn``), not of the fitted pickle: its bytes differ between processes and it
    lives under the run folder's absolute path, so a re-run in a new process or a copied run
    folder re-rendered every dealer."""
    frames = {}
    h = hashlib.blake2b(digest_size=16)
    h.update(f"need_churn={bool(need_churn)}".encode())
    for did in sorted(dealer_ids):
        f = out / did / FRAMES_FILE
        if f.is_file():
            frames[did] = read_pickle(f)
            h.update(did.encode())
            h.update(f.read_bytes())
    lead_model, churn_model, note = fit_network_models(frames, need_churn=need_churn)
    path = out / "network" / NETWORK_MODELS_FILE
    write_pickle({"lead": lead_model, "churn": churn_model, "note": note}, path)
    return h.hexdigest()


class _Timeout(Exception):
    pass


def _execute(
    notebook: str, params: dict[str, Any], tmp_out: Path, *, timeout: float, kernel_name: str
) -> Any:
    """Execute one notebook with papermill within ``timeout`` seconds in total.

    A ``.py`` notebook (the tracked py:percent source) is converted with jupytext into a temp
    ``.ipynb`` beside ``tmp_out`` first (papermill reads ``.ipynb``; handing it the notebook
    object instead would copy the whole notebook into the output's ``papermill.input_path``);
    the output records the ``.py`` as its input. nbclient asks ``timeout_func`` for each
    cell's limit; it returns the time left before the notebook's deadline, so the whole
    notebook (not each cell) is bounded. The notebook runs in this process's kept kernel
    (:func:`~crm_analytics.batch.kernel.warm_kernel`); when the limit is hit nbclient raises,
    the kernel is shut down (the next notebook gets a new one), and this raises
    :class:`_Timeout` (papermill writes no error marker for a timeout, so the status comes
    from here).
    """
    load_tooling()
    import papermill as pm  # heavy: loaded by the workers that execute notebooks only

    deadline = time.monotonic() + timeout

    def time_left(cell: Any) -> float:
        return max(0.05, deadline - time.monotonic())

    for attempt in (1, 2):
        try:
            return _papermill(pm, notebook, params, tmp_out, timeout, time_left, kernel_name)
        except RuntimeError as err:
            # a kernel that dies while starting (a loaded machine) gets one more start
            if attempt == 2 or "Kernel died before replying to kernel_info" not in str(err):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _papermill(
    pm: Any,
    notebook: str,
    params: dict[str, Any],
    tmp_out: Path,
    timeout: float,
    time_left: Callable[[Any], float],
    kernel_name: str,
) -> Any:
    import nbformat  # with papermill, in the workers only

    deadline = time.monotonic() + timeout
    source = tmp_out.with_name(tmp_out.name.replace(".ipynb", ".src.ipynb"))
    nbformat.write(read_notebook(notebook, kernel_name=kernel_name), source)
    try:
        with warm_kernel(kernel_name).lease() as km:
            nb = pm.execute_notebook(
                str(source),
                str(tmp_out),
                parameters=params,
                kernel_name=kernel_name,
                km=km,
                progress_bar=False,
                request_save_on_cell_execute=False,
                execution_timeout=timeout,
                timeout_func=time_left,
                start_timeout=60,
            )
    except Exception as err:
        if isinstance(err, TimeoutError) or time.monotonic() >= deadline:
            raise _Timeout(f"{Path(notebook).stem}: exceeded the {timeout:g} s timeout") from err
        # papermill saved the notebook with the traceback: keep it for the failure report
        err.partial_nb = nbformat.read(tmp_out, as_version=4) if tmp_out.exists() else None  # type: ignore[attr-defined]
        raise
    finally:
        with contextlib.suppress(OSError):
            source.unlink()
    nb.metadata.papermill["input_path"] = str(notebook)
    nbformat.write(nb, tmp_out)
    return nb


def _short_error(err: BaseException) -> str:
    name = type(err).__name__
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return f"{name}: {err}"


def _run_notebook(job: _Job, nb_path: str, ddir: Path) -> dict[str, Any]:
    """Execute one notebook of the dealer and export its HTML; return its manifest row
    (``status``, ``duration_s``, ``error``, ``output``: the HTML relative to the run folder)."""

    stem = Path(nb_path).stem
    tmp = ddir / f".{stem}.{os.getpid()}.tmp.ipynb"
    t1 = time.perf_counter()
    row: dict[str, Any] = {"notebook": stem, "status": "ok", "error": "", "output": ""}
    try:
        nb = _execute(nb_path, job.nb_params, tmp, timeout=job.timeout, kernel_name=job.kernel_name)
        target = "report.html" if stem == "dealer_report" else f"{stem}.html"
        # the page title holds only the (validated) id: no data string outside escaped output
        export_html(nb, ddir / target, title=f"{job.dealer_id} – {stem.replace('_', ' ')}")
        os.replace(tmp, ddir / f"{stem}.ipynb")
        row["output"] = f"{job.dealer_id}/{target}"
    except Exception as err:  # noqa: BLE001 - record, go on with other dealers
        row["status"] = "timeout" if isinstance(err, _Timeout) else "failed"
        row["error"] = str(err) if isinstance(err, _Timeout) else f"{stem}: {_short_error(err)}"
        partial = getattr(err, "partial_nb", None)
        with contextlib.suppress(Exception):
            if partial is not None:
                export_html(partial, ddir / "failed.html", title=f"{job.dealer_id} failed")
                row["output"] = f"{job.dealer_id}/failed.html"
        with contextlib.suppress(OSError):
            (ddir / "report.html").unlink()
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    row["duration_s"] = time.perf_counter() - t1
    return row


def _render_job(job: _Job) -> dict[str, Any]:
    """Step 3: write the dealer's outputs, execute its notebooks, export HTML, write
    metrics.json last (with the manifest rows of its notebooks and its outputs)."""
    t0 = time.perf_counter()
    ddir = Path(job.out) / job.dealer_id
    ddir.mkdir(parents=True, exist_ok=True)
    name = (job.metrics or {}).get("dealer", {}).get("name", "")
    status, error, link = "ok", "", ""
    outputs: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    with contextlib.suppress(OSError):
        (ddir / "failed.html").unlink()  # a page of an earlier failure is not this run's
    try:
        outputs = _complete_analysis(job, ddir)
    except Exception as err:  # noqa: BLE001 - record, go on with other dealers
        status, error = "failed", f"network scoring failed: {_short_error(err)}"
    for nb_path in job.notebooks if status == "ok" else []:
        row = _run_notebook(job, nb_path, ddir)
        rows.append(row)
        if row["status"] != "ok":
            status, error, link = row["status"], row["error"], row["output"]
            break
        if row["notebook"] == "dealer_report" or not link:
            link = row["output"]
    input_hash = _fingerprint_hash(job.fingerprint)
    for row in rows:
        row["input_hash"] = input_hash
    outputs.update({r["notebook"]: r["output"] for r in rows if r["status"] == "ok"})
    timings = {r["notebook"]: r["duration_s"] for r in rows}
    duration = time.perf_counter() - t0
    targets = job.settings.targets if job.settings is not None else {}
    doc = {
        "dealer_id": job.dealer_id,
        "status": status,
        "error": error,
        "fingerprint": job.fingerprint,
        "metrics": job.metrics,
        "needs_network_churn": job.needs_network_churn,
        "report": link if status == "ok" else "",
        "duration_s": duration,
        "timings": timings,
        "notebooks": rows,
        "outputs": outputs,
        "targets": dict(targets),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    write_json(doc, ddir / "metrics.json")  # last: marks the dealer as done
    return {
        "dealer_id": job.dealer_id,
        "name": name,
        "status": status,
        "duration_s": duration,
        "link": link,
        "error": error,
        "timings": timings,
        "notebooks": rows,
        "outputs": outputs,
    }


def _fingerprint_hash(fingerprint: Mapping[str, str]) -> str:
    """One hash of a dealer's inputs (data, settings, code, peers, network models)."""
    text = json.dumps(dict(fingerprint), sort_keys=True).encode()
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def _complete_analysis(job: _Job, ddir: Path) -> dict[str, str]:
    """Score the dealer with the run's network models and write the outputs a CRM desk works
    from (scores as Parquet, the call-list and fix-list workbooks, the next coaching round's
    proposed action plan), then the network scores every notebook of the dealer reads with its
    analysis. Returns the outputs (name -> path in the run folder)."""
    models = _network_models(Path(job.out) / "network" / NETWORK_MODELS_FILE)
    churn_frames, lead_frames = read_pickle(ddir / FRAMES_FILE)
    analysis = load_analysis(ddir / ANALYSIS_FILE, network=False)
    analysis.churn_frames, analysis.lead_frames = churn_frames, lead_frames
    analysis = score_with_network(analysis, models["lead"], models["churn"], models["note"])
    outputs = {}
    for name, frame in (
        ("churn_scores", analysis.churn_scores),
        ("lead_scores", analysis.lead_scores),
    ):
        with atomic_path(ddir / f"{name}.parquet") as tmp:
            frame.to_parquet(tmp, index=False)
        outputs[name] = f"{job.dealer_id}/{name}.parquet"
    for name, path in write_action_workbooks(analysis, ddir).items():
        outputs[name] = f"{job.dealer_id}/{path.name}"
    # the report's peers
    bench = load_benchmark(Path(job.out) / "network" / BENCHMARK_FILE, dealer_id=job.dealer_id)
    plan = write_next_action_plan(analysis, ddir, bench)
    outputs["action_plan_next"] = f"{job.dealer_id}/{plan.name}"
    save_network_scores(analysis, ddir / ANALYSIS_FILE)
    return outputs


#: The run's network models as a render worker last read them, with the file's identity (path,
#: modification time, size): a worker renders many dealers of one run, and each read the same
#: file again (the pooled lead model: ~9 MB at 10 dealers of 20,000 customers).
_MODELS: dict[str, Any] = {}


def _network_models(path: Path) -> dict[str, Any]:
    # a missing file (no identity): read_pickle says so
    return read_while_unchanged(_MODELS, file_identity(path), lambda: read_pickle(path))


def _render_network(job: _Job) -> dict[str, Any]:
    """Execute the network notebook over the run folder."""

    t0 = time.perf_counter()
    out = Path(job.out)
    nb_path = job.notebooks[0]
    tmp = out / f".network_overview.{os.getpid()}.tmp.ipynb"
    try:
        nb = _execute(nb_path, job.nb_params, tmp, timeout=job.timeout, kernel_name=job.kernel_name)
        export_html(nb, out / "network_overview.html", title="Network overview")
        os.replace(tmp, out / "network_overview.ipynb")
        status, error = "ok", ""
    except Exception as err:  # noqa: BLE001
        status = "timeout" if isinstance(err, _Timeout) else "failed"
        error = str(err) if isinstance(err, _Timeout) else _short_error(err)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return {
        "dealer_id": "network",
        "name": "network overview",
        "status": status,
        "duration_s": time.perf_counter() - t0,
        "link": "network_overview.html" if status == "ok" else "",
        "error": error,
        "timings": {},
    }


# ---------------------------------------------------------------------------------------------
# executors
# ---------------------------------------------------------------------------------------------


class _LocalPool:
    def __init__(self, workers: int) -> None:
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
        self.slots = workers  # jobs run at once, in the order they were submitted

    def map_unordered(
        self, fn: Callable[[Any], Any], items: Sequence[Any]
    ) -> Iterator[tuple[Any, Any]]:
        futs = {self.pool.submit(fn, it): it for it in items}
        for f in as_completed(futs):
            try:
                yield futs[f], f.result()
            except Exception as err:  # noqa: BLE001 - a worker process died
                yield futs[f], err

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


class _DaskPool:
    def __init__(self, address: str) -> None:
        try:
            from distributed import Client  # dask: optional, --scheduler only
        except ImportError as err:  # pragma: no cover
            raise InputError(
                "a Dask scheduler was given but dask.distributed is not installed: "
                "pip install 'dask[distributed]'"
            ) from err
        # the default client for this run (distributed.as_completed looks it up); closed after
        self.client = Client(address)
        workers = self.client.scheduler_info().get("workers", {})
        self.slots = max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))

    def map_unordered(
        self, fn: Callable[[Any], Any], items: Sequence[Any]
    ) -> Iterator[tuple[Any, Any]]:
        from distributed import as_completed  # dask: optional, --scheduler only

        if not items:
            return
        futs = self.client.map(fn, list(items), pure=False)
        owner = {f.key: it for f, it in zip(futs, items, strict=True)}
        for f in as_completed(futs):
            try:
                yield owner[f.key], f.result()
            except Exception as err:  # noqa: BLE001 - worker died (KilledWorker, ...)
                yield owner[f.key], err

    def close(self) -> None:
        self.client.close()


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------


def _notebook_paths(names: Sequence[str], notebooks_dir: Path) -> list[Path]:
    """The notebook of each name: ``NAME.py`` (the tracked py:percent notebook), else
    ``NAME.ipynb``; a name with either suffix is taken as it is."""
    paths, missing = [], []
    for n in names:
        if n.endswith((".py", ".ipynb")):
            cands = [notebooks_dir / n]
        else:
            cands = [notebooks_dir / f"{n}.py", notebooks_dir / f"{n}.ipynb"]
        found = next((c for c in cands if c.is_file()), None)
        if found is None:
            missing.append(cands[0])
        else:
            paths.append(found)
    if missing:
        raise ParameterError(
            f"notebook(s) not found: {[str(m) for m in missing]} (in {str(notebooks_dir)!r})"
        )
    return paths


def read_notebook(path: str | os.PathLike[str], *, kernel_name: str = KERNEL_NAME) -> Any:
    """A notebook file as an ``nbformat`` notebook: a ``.py`` through jupytext (py:percent,
    the repository's tracked format), an ``.ipynb`` as it is. A notebook without a kernelspec
    (the ``.py`` files carry no header) gets ``kernel_name``'s, so papermill knows its language.
    """
    load_tooling()
    import jupytext  # notebook tooling: loaded where notebooks are read
    import nbformat  # notebook tooling: loaded where notebooks are read

    p = Path(path)
    try:
        if p.suffix == ".py":
            nb = jupytext.read(p, fmt="py:percent")
        else:
            nb = nbformat.read(p, as_version=4)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the notebook {str(p)!r}: {err}") from err
    if not nb.metadata.get("kernelspec"):
        nb.metadata["kernelspec"] = {
            "name": kernel_name,
            "language": "python",
            "display_name": f"Python 3 ({kernel_name})",
        }
    return nb


def _check_notebook_parameters(paths: Sequence[Path], expected: Sequence[str]) -> None:
    """Every notebook's ``parameters`` cell must declare exactly the injected names."""
    load_tooling()
    import papermill as pm  # heavy: loaded where notebooks are executed

    problems = []
    for p in paths:
        try:
            declared = set(pm.inspect_notebook(read_notebook(p)))
        except (ValueError, OSError, InputError) as err:
            problems.append(f"{p.name}: cannot read its parameters cell ({err})")
            continue
        if not declared:
            problems.append(f"{p.name}: no cell tagged 'parameters'")
            continue
        unknown = sorted(set(expected) - declared)
        if unknown:
            problems.append(f"{p.name}: the parameters cell does not declare {unknown}")
    if problems:
        raise ParameterError(
            "notebooks do not match the report parameters:\n  " + "\n  ".join(problems)
        )


def _clean_temp_files(out: Path) -> None:
    """Remove temp files a killed run left (``.<name>.<pid>.tmp``)."""
    for p in list(out.glob(".*.tmp*")) + list(out.glob("*/.*.tmp*")):
        with contextlib.suppress(OSError):
            p.unlink()


class _Progress:
    """A progress bar over dealer jobs that names the dealers running (the first ``slots`` not
    yet done, in submission order, as the pool takes them) and counts those waiting."""

    def __init__(self, jobs: Sequence[_Job], desc: str, enabled: bool, slots: int) -> None:
        from tqdm.auto import tqdm  # the bar only: not needed by the workers

        self._slots = max(1, int(slots))
        self._left = [j.dealer_id for j in jobs]
        self._bar = tqdm(
            total=len(jobs),
            desc=desc,
            unit="dealer",
            disable=not (enabled and jobs),
            file=sys.stderr,
            leave=True,
        )
        self._show()

    def _show(self) -> None:
        running, waiting = self._left[: self._slots], len(self._left) - self._slots
        text = f"running: {', '.join(running)}" if running else ""
        if waiting > 0:
            text += f"; {waiting} waiting"
        self._bar.set_postfix_str(text, refresh=True)

    def done(self, job: _Job) -> None:
        """One dealer finished (whatever its result)."""
        with contextlib.suppress(ValueError):
            self._left.remove(job.dealer_id)
        self._bar.update(1)
        self._show()

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()


def run_report(
    dealers: Sequence[str] | None = None,
    *,
    out: str | os.PathLike[str],
    all_dealers: bool = False,
    params_dir: str | os.PathLike[str] = "params",
    source: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    timeout: float = 600.0,
    contact_lists: bool = False,
    notebooks: Sequence[str] = DEFAULT_NOTEBOOKS,
    notebooks_dir: str | os.PathLike[str] | None = None,
    network: bool = True,
    kernel_name: str = KERNEL_NAME,
    progress: bool = True,
    run_args: Mapping[str, Any] | None = None,
) -> RunSummary:
    """Run the report notebooks for the selected dealers; see the module docstring.

    Parameters
    ----------
    dealers
        Dealer ids (a dealer without a YAML file gets the network defaults).
    out
        Run folder (created): ``index.html``, ``network_overview.html``,
        ``<dealer>/report.html``, ``<dealer>/metrics.json``, ``network/benchmark.json``.
    all_dealers
        Every dealer of the network store (and of the dealer YAML files).
    params_dir
        Folder with ``network.yaml`` and ``dealers/*.yaml``.
    source
        Store folder overriding the YAML ``source``.
    workers
        Local worker processes (default: the number of CPUs, at most the number of dealers).
    scheduler
        Address of a Dask distributed scheduler (``tcp://host:8786``); then jobs run there
        (the run folder must be reachable from the workers under the same path).
    force
        Rerun dealers whose inputs are unchanged.
    timeout
        Seconds per notebook; the kernel is killed at the deadline.
    contact_lists
        The run asks for contact lists: personal data is not masked.
    notebooks
        Notebook names executed per dealer (default: ``dealer_report`` only).
    notebooks_dir
        Where the notebooks are (default: the repository's ``notebooks/``).
    network
        Also execute the network overview notebook.
    kernel_name
        Jupyter kernel (must start this environment's Python; :func:`check_kernel`).
    progress
        Show a progress bar on stderr.
    run_args
        Settings over every dealer's parameter files (``{"period": (start, end)}``, ...).

    Returns
    -------
    RunSummary

    Raises
    ------
    ParameterError
        Before anything runs, listing every parameter problem of every dealer.
    """
    t_run = time.perf_counter()
    out = Path(out).resolve()
    nb_dir = Path(notebooks_dir) if notebooks_dir else NOTEBOOKS_DIR
    run_params = load_run_params(
        params_dir,
        dealers=dealers,
        all_dealers=all_dealers,
        source=source,
        contact_lists=contact_lists,
        run_args=run_args,
    )
    for note in run_params.notes:
        sys.stderr.write(f"note: {note}\n")
    nb_paths = _notebook_paths(list(notebooks), nb_dir)
    net_nb = _notebook_paths([NETWORK_NOTEBOOK], nb_dir)[0] if network else None
    dealer_params = run_params.dealers
    expected = list(notebook_parameters(dealer_params[0])) if dealer_params else []
    _check_notebook_parameters(nb_paths, expected + ["benchmark_path", "analysis_path"])
    if net_nb is not None:
        _check_notebook_parameters([net_nb], _NETWORK_PARAMS)
    check_kernel(kernel_name)
    if timeout <= 0:
        raise ParameterError(f"timeout must be positive, got {timeout}")

    out.mkdir(parents=True, exist_ok=True)
    with RunLock(out):  # one run at a time per run folder; a killed run's lock is stale
        _clean_temp_files(out)
        jobs, previous = _build_jobs(dealer_params, nb_paths, out, timeout, kernel_name)
        n_workers = workers or min(os.cpu_count() or 1, max(len(jobs), 1))
        pool: _LocalPool | _DaskPool = _DaskPool(scheduler) if scheduler else _LocalPool(n_workers)
        results: dict[str, DealerResult] = {}
        net_result: DealerResult | None = None
        stages: dict[str, float] = {}
        started = time.perf_counter()

        def lap(stage: str) -> None:
            """The stage that just ended: its wall time since the previous one ended."""
            nonlocal started
            now = time.perf_counter()
            stages[stage], started = round(now - started, 2), now

        try:
            prior_hash = _prior_stage(pool, jobs, out)
            for job in jobs.values():
                job.fingerprint["btyd_prior"] = prior_hash
            lap("prior")
            needs_network_churn = _dealer_stage(pool, jobs, previous, out, results, progress)
            lap("analysis")
            bench_hash = _benchmark_stage(out, jobs)
            lap("benchmark")
            # the network stage: models fitted once per run on every dealer of the run folder
            models_hash = _network_stage(
                out,
                sorted({*jobs, *(f.parent.name for f in out.glob(f"*/{FRAMES_FILE}"))}),
                need_churn=needs_network_churn,
            )
            for job in jobs.values():
                job.fingerprint["benchmark"] = bench_hash
                job.fingerprint["network_models"] = models_hash
            lap("network_models")
            _render_stage(pool, jobs, previous, out, results, force=force, progress=progress)
            lap("render")
            if net_nb is not None:
                net_result = _overview_stage(
                    pool, net_nb, out, run_params.network.language, timeout, kernel_name
                )
                lap("overview")
        finally:
            pool.close()

        ordered = [results[d] for d in sorted(results)]
        summary = RunSummary(str(out), ordered, net_result, time.perf_counter() - t_run, stages)
        _write_run_files(
            out,
            summary,
            workers=n_workers,
            scheduler=scheduler,
            language=run_params.network.language,
        )
    return summary


def _build_jobs(
    dealer_params: Sequence[Settings],
    nb_paths: Sequence[Path],
    out: Path,
    timeout: float,
    kernel_name: str,
) -> tuple[dict[str, _Job], dict[str, dict[str, Any]]]:
    """One job per dealer (its settings, notebook parameters and input fingerprint), and the
    ``metrics.json`` each dealer's previous run left in the run folder."""
    code = code_hash(nb_paths)
    bench_path = out / "network" / BENCHMARK_FILE
    jobs: dict[str, _Job] = {}
    previous: dict[str, dict[str, Any]] = {}
    for p in dealer_params:
        fp = _input_fingerprint(p, code, {"notebooks": [x.name for x in nb_paths]})
        jobs[p.dealer_id] = _Job(
            dealer_id=p.dealer_id,
            params=p.as_dict(),
            settings=p,
            nb_params={
                **notebook_parameters(p),
                "benchmark_path": str(bench_path),
                "analysis_path": str(out / p.dealer_id / ANALYSIS_FILE),
            },
            notebooks=[str(x) for x in nb_paths],
            out=str(out),
            timeout=float(timeout),
            kernel_name=kernel_name,
            fingerprint={"input": fp},
        )
        doc = read_json(out / p.dealer_id / "metrics.json")
        if isinstance(doc, dict):
            previous[p.dealer_id] = doc
    return jobs, previous


def _dealer_stage(
    pool: _LocalPool | _DaskPool,
    jobs: Mapping[str, _Job],
    previous: Mapping[str, dict[str, Any]],
    out: Path,
    results: dict[str, DealerResult],
    progress: bool,
) -> bool:
    """Load and analyse each dealer whose inputs changed (the others keep their analysis);
    a dealer that fails gets its result here. Returns whether any dealer needs the network
    churn model."""
    needs_network_churn = False
    todo = []
    for did, job in jobs.items():
        prev = previous.get(did)
        if (
            prev
            and prev.get("metrics")
            and prev.get("fingerprint", {}).get("input") == job.fingerprint["input"]
            and prev.get("fingerprint", {}).get("btyd_prior") == job.fingerprint["btyd_prior"]
            and (out / did / ANALYSIS_FILE).is_file()
            and (out / did / FRAMES_FILE).is_file()
        ):
            job.metrics = prev["metrics"]
            needs_network_churn |= bool(prev.get("needs_network_churn"))
        else:
            todo.append(job)
    with _Progress(todo, "metrics", progress, pool.slots) as bar:
        for job, res in pool.map_unordered(_prepare_job, todo):
            bar.done(job)
            if isinstance(res, BaseException) or res.get("error"):
                err = res if isinstance(res, BaseException) else res["error"]
                results[job.dealer_id] = DealerResult(
                    job.dealer_id, status="failed", error=str(err)
                )
            else:
                job.metrics = res["metrics"]
                job.needs_network_churn = res["needs_network_churn"]
                needs_network_churn |= res["needs_network_churn"]
    return needs_network_churn


def _benchmark_stage(out: Path, jobs: Mapping[str, _Job]) -> str:
    """The peer benchmark of the whole network known to the run folder (not only the selected
    dealers), written when it changed; returns its hash."""
    ok_metrics = [j.metrics for j in jobs.values() if j.metrics]
    for f in sorted(out.glob("*/metrics.json")):
        if f.parent.name not in jobs:
            doc = read_json(f)
            if isinstance(doc, dict) and doc.get("metrics"):
                ok_metrics.append(doc["metrics"])
    bench = network_benchmark(ok_metrics)
    bench_path = out / "network" / BENCHMARK_FILE
    if read_json(bench_path) != json.loads(json.dumps(bench)):
        write_json(bench, bench_path)
    return hashlib.blake2b(json.dumps(bench, sort_keys=True).encode(), digest_size=16).hexdigest()


def _render_stage(
    pool: _LocalPool | _DaskPool,
    jobs: Mapping[str, _Job],
    previous: Mapping[str, dict[str, Any]],
    out: Path,
    results: dict[str, DealerResult],
    *,
    force: bool,
    progress: bool,
) -> None:
    """Execute each analysed dealer's notebooks, skipping a dealer whose report is there and
    whose fingerprint (inputs, benchmark, network models) is unchanged."""
    render = []
    for did, job in jobs.items():
        if did in results:
            continue
        prev = previous.get(did) or {}
        link = prev.get("report") or ""
        if (
            not force
            and prev.get("status") == "ok"
            and prev.get("fingerprint") == job.fingerprint
            and link
            and (out / link).is_file()
        ):
            results[did] = DealerResult(
                did,
                name=(job.metrics or {}).get("dealer", {}).get("name", ""),
                status="skipped",
                duration_s=0.0,
                link=link,
                notebooks=list(prev.get("notebooks") or []),
                outputs=dict(prev.get("outputs") or {}),
            )
        else:
            render.append(job)
    with _Progress(render, "reports", progress, pool.slots) as bar:
        for job, res in pool.map_unordered(_render_job, render):
            bar.done(job)
            if isinstance(res, BaseException):
                results[job.dealer_id] = DealerResult(
                    job.dealer_id, status="failed", error=f"worker died: {_short_error(res)}"
                )
            else:
                results[job.dealer_id] = DealerResult(**res)


def _overview_stage(
    pool: _LocalPool | _DaskPool,
    net_nb: Path,
    out: Path,
    language: str,
    timeout: float,
    kernel_name: str,
) -> DealerResult:
    """Execute the network overview notebook on the run folder."""
    net_job = _Job(
        dealer_id="network",
        params={},
        settings=None,
        nb_params={
            "run_dir": str(out),
            "benchmark_path": str(out / "network" / BENCHMARK_FILE),
            "language": language,
        },
        notebooks=[str(net_nb)],
        out=str(out),
        timeout=float(timeout),
        kernel_name=kernel_name,
        fingerprint={},
    )
    result = DealerResult("network", status="failed", error="the overview did not run")
    for _, res in pool.map_unordered(_render_network, [net_job]):
        result = (
            DealerResult("network", status="failed", error=_short_error(res))
            if isinstance(res, BaseException)
            else DealerResult(**res)
        )
    return result


def _manifest_dealers(out: Path, results: Sequence[DealerResult]) -> list[dict[str, Any]]:
    """Every dealer of the run folder: this run's results over the previous manifest's rows
    (a partial re-run keeps the others), plus any dealer folder with a ``metrics.json``."""
    previous = read_json(out / "run.json")
    rows: dict[str, dict[str, Any]] = {}
    if isinstance(previous, dict):
        for r in previous.get("dealers") or []:
            if isinstance(r, dict) and r.get("dealer_id"):
                rows[str(r["dealer_id"])] = r
    for f in sorted(out.glob("*/metrics.json")):
        did = f.parent.name
        if did in rows or did == "network":
            continue
        doc = read_json(f)
        if isinstance(doc, dict) and doc.get("dealer_id") == did:
            rows[did] = {
                "dealer_id": did,
                "name": ((doc.get("metrics") or {}).get("dealer") or {}).get("name", ""),
                "status": doc.get("status", "failed"),
                "duration_s": doc.get("duration_s"),
                "link": doc.get("report", ""),
                "error": doc.get("error", ""),
                "notebooks": doc.get("notebooks") or [],
            }
            if isinstance(doc.get("outputs"), dict):
                rows[did]["outputs"] = doc["outputs"]
    for r in results:
        rows[r.dealer_id] = {**asdict(r), "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
    return [rows[d] for d in sorted(rows)]


def _write_run_files(
    out: Path, summary: RunSummary, *, workers: int, scheduler: str | None, language: str
) -> None:
    """Write ``run.json`` (the manifest: every dealer x notebook of the run folder) and the
    index built from it."""

    dealers = _manifest_dealers(out, summary.results)
    previous = read_json(out / "run.json")
    network = asdict(summary.network) if summary.network else None
    if network is None and isinstance(previous, dict):
        network = previous.get("network")  # a run without the overview keeps the last one
    links = []
    if network and network.get("status") == "ok" and (out / "network_overview.html").is_file():
        links.append(("network_overview", "network_overview.html"))
    meta = {
        "executed": (
            t("idx_dask", language, address=scheduler)
            if scheduler
            else t("idx_local_pool", language, n=workers)
        ),
        "run_time": f"{summary.duration_s:.1f} s",
    }
    write_index(
        out / "index.html",
        dealers,
        language=language,
        run_dir=out,
        extra_links=links,
        meta=meta,
        network=network if network and network.get("status") != "ok" else None,
    )
    write_json(
        {
            "results": [asdict(r) for r in summary.results],
            "dealers": dealers,
            "notebooks": [
                {"dealer_id": d["dealer_id"], **row}
                for d in dealers
                for row in d.get("notebooks") or []
            ],
            "network": network,
            "duration_s": summary.duration_s,
            "stages_s": summary.stages,
            "exit_code": summary.exit_code,
            "language": language,
        },
        out / "run.json",
    )


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``report`` command's options to a parser (for ``crm-analytics report``)."""
    sel = p.add_mutually_exclusive_group(required=True)
    sel.add_argument("--dealers", nargs="+", metavar="ID", help="dealer ids to report")
    sel.add_argument("--all", action="store_true", dest="all_dealers", help="every dealer")
    p.add_argument("--out", required=True, help="run folder (index.html, one folder per dealer)")
    p.add_argument(
        "--workers", type=int, default=None, help="local processes (default: one per core)"
    )
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="Dask scheduler address")
    p.add_argument("--params", default="params", dest="params_dir", help="parameters folder")
    p.add_argument(
        "--source",
        default=None,
        help="network store: a folder or an fsspec URL such as s3://bucket/store (overrides the YAML 'source')",
    )
    p.add_argument("--force", action="store_true", help="rerun dealers whose inputs are unchanged")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per notebook")
    p.add_argument(
        "--contact-lists", action="store_true", help="do not mask phones and names (staff lists)"
    )
    p.add_argument(
        "--notebooks",
        nargs="+",
        default=list(DEFAULT_NOTEBOOKS),
        help=f"notebooks per dealer (default: all of them: {' '.join(DEFAULT_NOTEBOOKS)})",
    )
    p.add_argument("--notebooks-dir", default=None, help="folder of the notebooks (default: repo)")
    p.add_argument("--no-network", action="store_true", help="skip the network overview")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run_from_args(args: argparse.Namespace) -> int:
    """Run from parsed arguments; print a one-line summary; return the exit status."""
    summary = run_report(
        args.dealers,
        out=args.out,
        all_dealers=args.all_dealers,
        params_dir=args.params_dir,
        source=args.source,
        workers=args.workers,
        scheduler=args.scheduler,
        force=args.force,
        timeout=args.timeout,
        contact_lists=args.contact_lists,
        notebooks=args.notebooks,
        notebooks_dir=args.notebooks_dir,
        network=not args.no_network,
        progress=not args.no_progress,
        run_args=getattr(args, "run_args", None),
    )
    counts: dict[str, int] = {}
    for r in summary.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    sys.stdout.write(
        f"{len(summary.results)} dealer(s): {parts} in {summary.duration_s:.1f} s; "
        f"index: {Path(summary.out) / 'index.html'}\n"
    )
    for r in summary.failed:
        sys.stdout.write(f"  {r.dealer_id} {r.status}: {r.error}\n")
    if summary.network is not None and summary.network.status != "ok":
        sys.stdout.write(f"  network overview {summary.network.status}: {summary.network.error}\n")
    return summary.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """``crm-analytics report`` as a stand-alone entry point; returns the exit status."""
    parser = add_arguments(
        argparse.ArgumentParser(prog="crm-analytics report", description=__doc__.splitlines()[0])
    )
    args = parser.parse_args(argv)
    try:
        return run_from_args(args)
    except CRMAnalyticsError as err:
        sys.stderr.write(f"crm-analytics report: error: {err}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
