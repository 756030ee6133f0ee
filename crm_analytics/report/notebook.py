"""The opening every dealer notebook shares: load the dealer, resolve its periods, show the header.

Kept here, not in the notebooks, so the ten notebooks stay thin and agree on what "the period"
means (:func:`crm_analytics.report.headline.resolve_periods`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from crm_analytics.core.config import Settings, params_dirs, resolve_settings
from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import CRMAnalyticsError
from crm_analytics.core.files import (
    code_hash,
    file_identity,
    is_url,
    read_json,
    read_pickle,
    read_while_unchanged,
    to_jsonable,
    write_json,
    write_pickle,
)
from crm_analytics.data.store import list_dealers, load_dealer
from crm_analytics.models.clv import BasePriors
from crm_analytics.report import display as out
from crm_analytics.report import plots
from crm_analytics.report.analysis import (
    ANALYSIS_FILE,
    NETWORK_SCORES_FILE,
    PRIOR_FILE,
    DealerAnalysis,
    analyse_dealer,
    fit_btyd_prior,
    load_analysis,
    store_visit_summary,
)
from crm_analytics.report.headline import (
    MIN_PEER_DEALERS,
    data_start,
    dealer_metrics,
    load_benchmark,
    network_benchmark,
    peers_of,
)
from crm_analytics.report.text import t

__all__ = ["find_run_analysis", "open_analysis", "peer_benchmark", "show_header"]

Period = tuple[pd.Timestamp, pd.Timestamp]
#: Settings that only change how a view looks, not its numbers (the coaching plan's review
#: reads the analysis's numbers: :mod:`crm_analytics.report.coaching`).
_PRESENTATION = ("language", "notes", "mask_personal_data", "action_plan")
#: Folder of the runs folder where a dealer's analysis made on the spot is kept for the next
#: notebook opened on it: ``<runs>/on_the_spot/<dealer>/analysis.pkl`` (no ``metrics.json``:
#: it is not a run).
SPOT_DIR = "on_the_spot"


#: Set (to ``1``) in the environment of a batch run's kept kernel
#: (:mod:`crm_analytics.batch.kernel`); only there is a run analysis kept between notebooks.
KEPT_KERNEL_ENV = "CRM_ANALYTICS_KEPT_KERNEL"
#: The run analysis last opened in a kept kernel, with its files' identities (the analysis and
#: its network scores: path, modification time, size): the kernel executes a dealer's
#: notebooks one after another, and each read the same file again (0.1-0.25 s for a
#: 20,000-customer dealer). The next dealer's replaces it, and the notebooks only read it
#: (``tests/test_report.py`` checks the object after all of them against the file). An analyst's kernel reads the file each time: what the analyst
#: changed in an analysis is gone when the cell runs again.
_OPENED: dict[str, Any] = {}


def _run_analysis(path: str | os.PathLike[str]) -> DealerAnalysis:
    p = Path(path).resolve()
    ids = (file_identity(p), file_identity(p.with_name(NETWORK_SCORES_FILE)))
    # kept only in a batch run's kernel; a missing analysis is read (load_analysis says so)
    key = ids if os.environ.get(KEPT_KERNEL_ENV) and ids[0] else None

    def read() -> DealerAnalysis:
        analysis = load_analysis(p)
        analysis.run_dir = str(p.parent.parent)
        return analysis

    return read_while_unchanged(_OPENED, key, read)


def _chart_language(language: str) -> str:
    """Apply the report style; the label language charts use. Without a CJK font a Chinese
    report's charts fall back to English: the reader gets a note in the report's language
    instead of the library's warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", plots.FontFallbackWarning)
        lang = plots.apply_style(language)
    if any(issubclass(w.category, plots.FontFallbackWarning) for w in caught):
        out.show_text(t("font_fallback", language), muted=True)
    return lang


def open_analysis(
    source: str,
    dealer_id: str,
    period_start: str | None = None,
    period_end: str | None = None,
    comparison_start: str | None = None,
    comparison_end: str | None = None,
    language: str | None = None,
    *,
    targets: Mapping[str, float] | None = None,
    analysis_path: str | None = None,
    runs_dir: str | os.PathLike[str] | None = None,
) -> tuple[DealerAnalysis, str]:
    """A notebook's parameters in, ``(analysis, chart language)`` out.

    In a batch run ``analysis_path`` is the dealer's analysis in the run folder, computed once
    for every notebook of the dealer (no notebook reloads the data or refits a model).
    Interactively (no ``analysis_path``) the settings are resolved from the parameter files and
    these parameters (:func:`crm_analytics.core.config.resolve_settings`), then the latest run
    of the dealer is used when it matches (:func:`find_run_analysis`: the same store, data not
    changed since, the same settings but for language, notes and masking): the notebook shows
    the numbers of that run's report. Otherwise the dealer is read from ``source`` and analysed
    here (lead scores then need a run: the lead model is pooled over the network). Either way a
    line says which run and data date the numbers come from. The chart language is the
    settings' language unless no CJK font is installed (then English, with a warning:
    :func:`crm_analytics.report.plots.apply_style`).
    """
    if analysis_path:
        analysis = _run_analysis(analysis_path)
        return analysis, _chart_language(analysis.settings.language)
    period = (period_start, period_end) if period_start and period_end else None
    comparison = (comparison_start, comparison_end) if comparison_start and comparison_end else None
    settings = resolve_settings(
        dealer_id,
        source=source,
        period=period,
        comparison_period=comparison,
        language=language,
        targets=dict(targets) if targets else None,
    )
    found, why = find_run_analysis(settings, runs_dir=runs_dir)
    keep = {k: getattr(settings, k) for k in _PRESENTATION}
    if found is not None:
        found.settings = dataclasses.replace(found.settings, **keep)
        analysis = found
        note = t("from_run", settings.language, run=analysis.run_dir)
    else:
        analysis, kept = _spot_analysis(settings, runs_dir)
        analysis.settings = dataclasses.replace(analysis.settings, **keep)
        note = t("on_the_spot", settings.language, why=why)
        if kept:
            note += " " + t("spot_kept", settings.language, at=kept)
    as_of = analysis.dealer.as_of.date()
    out.show_text(f"{note} {t('data_date', settings.language, as_of=as_of)}", muted=True)
    return analysis, _chart_language(analysis.settings.language)


def _kept(path: Path, key: dict[str, Any], since: float, read: Callable[[Path], Any]) -> Any:
    """The value an earlier notebook kept at ``path`` (:func:`_keep`) if it was made with
    ``key`` (code and number settings) after ``since`` (the store's last change), else None."""
    try:
        if path.stat().st_mtime < since:
            return None
        doc = read(path)
    except (OSError, CRMAnalyticsError):  # none kept, or unreadable: compute again
        return None
    ok = isinstance(doc, dict) and doc.get("key") == to_jsonable(key)
    return doc["value"] if ok else None


def _keep(path: Path, key: dict[str, Any], value: Any, write: Callable[[Any, Path], Any]) -> None:
    """Keep ``value`` with ``key`` at ``path`` in one atomic file (a read-only project only
    loses the reuse)."""
    with contextlib.suppress(OSError):
        write({"key": to_jsonable(key), "value": value}, path)


def _store_prior(source: str, dealers: list[str], root: Path, since: float) -> BasePriors | None:
    """The network's CLV priors (BG/NBD, Gamma-Gamma) of every dealer of the store, as a run
    of the whole store fits them (:func:`crm_analytics.report.analysis.fit_btyd_prior`, from
    each dealer's service visits alone), kept beside the analyses made on the spot while the
    store and the code are unchanged. None below three dealers with service visits."""
    keep = root / SPOT_DIR / "network" / PRIOR_FILE
    key = {"code": code_hash(), "dealers": sorted(dealers)}
    kept = _kept(keep, key, since, read_pickle)
    if isinstance(kept, BasePriors):
        return kept
    summaries = {}
    for did in dealers:
        with contextlib.suppress(CRMAnalyticsError):  # no service visits: not in the prior
            summaries[did] = store_visit_summary(source, did)
    prior, _ = fit_btyd_prior(summaries)
    if prior is not None:
        _keep(keep, key, prior, write_pickle)
    return prior


def _spot_analysis(
    settings: Settings, runs_dir: str | os.PathLike[str] | None
) -> tuple[DealerAnalysis, str]:
    """The dealer's analysis made on the spot, and when it was made if it was kept from an
    earlier notebook (else ``""``).

    An analysis made here is kept in the runs folder (:data:`SPOT_DIR`) and reused while the
    store's files of the dealer are older than it, its settings equal ``settings`` but for
    language, notes and masking, and the package's code is the same; the next notebook opened
    on the dealer then shows the same numbers at once.
    """
    root = Path(runs_dir) if runs_dir else _default_runs_dir()
    path = root / SPOT_DIR / settings.dealer_id / ANALYSIS_FILE
    key = {"code": code_hash(), "settings": _numbers_key(settings)}
    source = str(settings.source)
    dealers = [str(d) for d in list_dealers(source)["dealer_id"]]
    # any dealer's data moves the network prior the analysis's visit model is shrunk towards
    since = _store_changed(source, {*dealers, settings.dealer_id})
    kept = _kept(path, key, since, read_pickle)
    if isinstance(kept, DealerAnalysis):
        made = pd.Timestamp.fromtimestamp(path.stat().st_mtime)
        return kept, made.strftime("%Y-%m-%d %H:%M")
    prior = _store_prior(source, dealers, root, since)
    analysis = analyse_dealer(
        load_dealer(settings.source, settings.dealer_id), settings, btyd_prior=prior
    )
    analysis = analysis.without_frames()
    # keyed by the settings the analysis carries (what it was made with), not those asked for
    made_with = {"code": key["code"], "settings": _numbers_key(analysis.settings)}
    _keep(path, made_with, analysis, write_pickle)
    return analysis, ""


def _default_runs_dir() -> Path:
    """``$CRM_ANALYTICS_RUNS`` when set, else ``reports/`` beside the parameter folder in use
    (the project folder)."""
    env = os.environ.get("CRM_ANALYTICS_RUNS")
    if env:
        return Path(env)
    for folder in params_dirs():
        if folder.is_dir():
            return folder.resolve().parent / "reports"
    return Path.cwd() / "reports"


def _numbers_key(settings: Settings) -> dict[str, Any]:
    d = settings.as_dict()
    for k in _PRESENTATION:
        d.pop(k, None)
    src = d.get("source")
    d["source"] = (src if is_url(src) else str(Path(src).resolve())) if src else None
    return d


def _store_mtime(source: str, dealer_id: str) -> float:
    if is_url(source):  # no file times to compare: a kept result of a URL store is not reused
        return float("inf")
    root = Path(source)
    files = [*root.glob(f"*/dealer_id={dealer_id}/*.parquet"), root / "dealers.parquet"]
    return max((f.stat().st_mtime for f in files if f.is_file()), default=0.0)


def _store_changed(source: str, dealers: Iterable[str]) -> float:
    """The store's last change to any of ``dealers``' files (what a kept result depends on)."""
    return max((_store_mtime(source, did) for did in dealers), default=0.0)


def find_run_analysis(
    settings: Settings, *, runs_dir: str | os.PathLike[str] | None = None
) -> tuple[DealerAnalysis | None, str]:
    """The newest run's analysis of ``settings.dealer_id`` that matches, or ``(None, why)``.

    Runs are the folders of ``runs_dir`` (default: ``$CRM_ANALYTICS_RUNS``, else ``reports/``
    of the project, beside ``params/``) holding ``<dealer>/analysis.pkl`` and a ``metrics.json`` with status ``ok``,
    newest report first. A run matches when it read the same store, the store's files of the
    dealer are older than its analysis, and its settings equal ``settings`` but for language,
    notes and masking. The returned analysis has ``run_dir`` set.
    """
    root = Path(runs_dir) if runs_dir else _default_runs_dir()
    did = settings.dealer_id
    cands = []
    for path in [root / did / ANALYSIS_FILE, *root.glob(f"*/{did}/{ANALYSIS_FILE}")]:
        doc = read_json(path.parent / "metrics.json")
        if path.is_file() and isinstance(doc, dict) and doc.get("status") == "ok":
            cands.append((path.parent.joinpath("metrics.json").stat().st_mtime, path))
    if not cands:
        return None, t("no_run", settings.language, runs=root)
    changed = _store_mtime(str(settings.source), did)
    why = ""
    for _, path in sorted(cands, reverse=True):
        run = path.parent.parent
        if path.stat().st_mtime < changed:
            why = why or t("run_stale", settings.language, run=run)
            continue
        analysis = load_analysis(path)
        if _numbers_key(analysis.settings) != _numbers_key(settings):
            why = why or t("run_other_settings", settings.language, run=run)
            continue
        analysis.run_dir = str(run.resolve())
        return analysis, ""
    return None, why


def peer_benchmark(
    analysis: DealerAnalysis, benchmark_path: str | os.PathLike[str] | None = None
) -> dict[str, Any] | None:
    """The peer medians the dealer's views compare with.

    In a batch run (``benchmark_path``) and for an analysis read from a run, the run's
    ``network/benchmark.json`` (the medians its report shows). An analysis made on the spot
    computes them from every dealer of its store, each with its own settings (as a run of the
    whole store would), and says so. ``None`` below
    :data:`~crm_analytics.report.headline.MIN_PEER_DEALERS` dealers.
    """
    me = analysis.dealer_id
    if benchmark_path:
        return load_benchmark(benchmark_path, dealer_id=me)
    if analysis.run_dir:
        return load_benchmark(Path(analysis.run_dir) / "network" / "benchmark.json", dealer_id=me)
    source = str(analysis.settings.source)
    others = {
        did: resolve_settings(did, source=source)
        for did in list_dealers(source)["dealer_id"]
        if did != me
    }
    # kept beside the analyses made on the spot, for the next notebook, while the store, every
    # dealer's number settings and the code are unchanged
    keep = _default_runs_dir() / SPOT_DIR / "network" / f"peers_of_{me}.json"
    settings = {**others, me: analysis.settings}
    key = {"code": code_hash(), "settings": {d: _numbers_key(s) for d, s in settings.items()}}
    since = _store_changed(source, settings)
    bench = _kept(keep, key, since, read_json)
    if bench is None:
        metrics = [analysis.metrics]
        for did, s in others.items():
            metrics.append(
                dealer_metrics(
                    load_dealer(source, did), period=s.period, comparison_period=s.comparison_period
                )
            )
        bench = network_benchmark(metrics)
        _keep(keep, key, bench, write_json)
    if bench["n_dealers"] < MIN_PEER_DEALERS:
        return None
    out.show_text(
        t("peers_from_store", analysis.settings.language, n=bench["n_dealers"]), muted=True
    )
    return peers_of(bench, me)


def show_header(
    dealer: DealerData,
    title: str,
    language: str,
    period: Period,
    comparison: Period,
    *,
    with_city: bool = False,
    coverage_notes: bool = False,
) -> None:
    """Heading, the period line and (``coverage_notes``) a note for each period that starts
    before the extract records both leads and service visits."""
    where = f"{dealer.dealer_id}, {dealer.city}" if with_city else dealer.dealer_id
    out.show_heading(f"{dealer.name} ({where}) – {title}", 1)
    out.show_text(
        t(
            "period",
            language,
            start=period[0].date(),
            end=period[1].date(),
            cstart=comparison[0].date(),
            cend=comparison[1].date(),
            as_of=dealer.as_of.date(),
        )
    )
    if not coverage_notes:
        return
    first = data_start(dealer)
    for which, begins in (("which_period", period[0]), ("which_comparison", comparison[0])):
        if first is None or begins < first:
            out.show_text(
                t("before_data", language, which=t(which, language), first=first and first.date())
            )
