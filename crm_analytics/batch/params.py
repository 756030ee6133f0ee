"""A run's parameters: which dealers, from which store, with which settings.

papermill checks no parameter (names, types, files), so a typo in a dealer's YAML would only
surface as a wrong report. Here every selected dealer's settings are resolved once
(:func:`crm_analytics.core.config.resolve_settings`: package defaults < ``network.yaml`` <
``dealers/<ID>.yaml`` < run arguments) and every problem of every file is reported at once
(:class:`~crm_analytics.core.errors.ParameterError`) before anything runs.

Layout::

    params/network.yaml          defaults for every dealer (and the network notebook)
    params/dealers/<ID>.yaml     one dealer: ``dealer_id`` plus any key it overrides

The keys are documented in :mod:`crm_analytics.core.config`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_analytics.core.config import (
    DEALER_KEYS,
    NETWORK_KEYS,
    ParamProblem,
    Settings,
    check_params,
    external_list_path,
    read_yaml,
    resolve_settings,
)
from crm_analytics.core.errors import InputError, ParameterError
from crm_analytics.data.store import list_dealers

__all__ = ["RunParams", "load_run_params", "notebook_parameters"]


@dataclass(frozen=True)
class RunParams:
    """The resolved parameters of a run: the network's settings, one :class:`Settings` per
    dealer (sorted by id), and notes that do not stop the run (a dealer file for a dealer the
    store does not hold)."""

    network: Settings
    dealers: list[Settings]
    notes: list[str] = field(default_factory=list)


def notebook_parameters(settings: Settings) -> dict[str, Any]:
    """Literals for a dealer notebook's ``parameters`` cell (targets fully resolved)."""
    period, comparison = settings.period, settings.comparison_period
    return {
        "source": settings.source,
        "dealer_id": settings.dealer_id,
        "period_start": period[0] if period else None,
        "period_end": period[1] if period else None,
        "comparison_start": comparison[0] if comparison else None,
        "comparison_end": comparison[1] if comparison else None,
        "targets": dict(sorted(settings.targets.items())),
        "language": settings.language,
        "mask_personal_data": settings.mask_personal_data,
        "notes": settings.notes,
    }


def _read(path: Path, problems: list[ParamProblem]) -> dict[str, Any] | None:
    try:
        return read_yaml(path)
    except InputError as err:
        problems.append(ParamProblem(str(path), "-", str(err)))
        return None


def _dealer_files(ddir: Path, problems: list[ParamProblem]) -> dict[str, tuple[Path, dict]]:
    files: dict[str, tuple[Path, dict[str, Any]]] = {}
    for f in sorted(ddir.glob("*.y*ml")) if ddir.is_dir() else []:
        data = _read(f, problems)
        if data is None:
            continue
        data = _valid_keys(data, file=f, allowed=DEALER_KEYS, problems=problems)
        did = data.get("dealer_id")
        if not isinstance(did, str) or not did:
            problems.append(ParamProblem(str(f), "dealer_id", "missing; name the dealer"))
            continue
        if did != f.stem:
            problems.append(
                ParamProblem(
                    str(f), "dealer_id", f"{did!r} does not match the file name {f.stem!r}"
                )
            )
            continue
        files[did] = (f, data)
    return files


def _store_ids(source: str | None, cache: dict[str, Any]) -> tuple[set[str] | None, str | None]:
    if source is None:
        return None, "no data source: set 'source' in network.yaml or pass --source"
    if source not in cache:
        try:
            cache[source] = (set(list_dealers(source)["dealer_id"].astype(str)), None)
        except InputError as err:
            cache[source] = (None, str(err))
    return cache[source]


def load_run_params(
    params_dir: str | os.PathLike[str] = "params",
    *,
    dealers: Sequence[str] | None = None,
    all_dealers: bool = False,
    source: str | os.PathLike[str] | None = None,
    contact_lists: bool = False,
    run_args: Mapping[str, Any] | None = None,
) -> RunParams:
    """Load, validate and resolve the network file and every selected dealer's settings.

    Parameters
    ----------
    params_dir
        Folder holding ``network.yaml`` and ``dealers/<ID>.yaml``.
    dealers
        Dealer ids to run. A dealer without its own file gets the network's settings.
    all_dealers
        Every dealer of the store. Dealer files of dealers the store does not hold are noted
        (:attr:`RunParams.notes`), not fatal.
    source
        Store folder overriding ``source`` of every file.
    contact_lists
        The run asks for contact lists: personal data is not masked.
    run_args
        Further run arguments over every dealer's files (``period``, ``comparison_period``,
        ``language``, ``targets``).

    Raises
    ------
    ParameterError
        Listing every problem of every file (unknown keys, wrong types, a missing store,
        dealers not in the store), so all of them can be fixed before a single notebook runs.
    """
    pdir = Path(params_dir)
    problems: list[ParamProblem] = []
    net_file = pdir / "network.yaml"
    network_data: dict[str, Any] = {}
    unreadable = False  # a network file that cannot be read: its source is unknown, not absent
    if net_file.is_file():
        raw = _read(net_file, problems)
        unreadable = raw is None
        network_data = _valid_keys(
            raw or {}, file=net_file, allowed=NETWORK_KEYS, problems=problems
        )
    elif not pdir.is_dir() and source is None:
        problems.append(
            ParamProblem(str(pdir), "-", "parameter folder does not exist (or pass --source)")
        )
    files = _dealer_files(pdir / "dealers", problems)
    args: dict[str, Any] = dict(run_args or {})
    if source is not None:
        args["source"] = source
    if contact_lists:
        args["mask_personal_data"] = False

    def resolve(did: str | None, data: dict[str, Any] | None) -> Settings:
        return resolve_settings(
            did, params_dir=pdir, network=network_data, dealer=data or {}, **args
        )

    network = resolve(None, None)
    store_cache: dict[str, Any] = {}
    ids, store_error = _store_ids(network.source, store_cache)
    notes: list[str] = []
    if dealers:
        wanted = list(dict.fromkeys(str(d) for d in dealers))
    elif all_dealers:
        wanted = sorted(ids or set(files))
        if ids is None and not files and not unreadable:
            problems.append(ParamProblem(str(net_file), "source", store_error or "no store"))
        notes += [
            f"{files[d][0]}: dealer {d!r} is not in the store {network.source}; its file is not used"
            for d in sorted(set(files) - (ids or set(files)))
        ]
    else:
        problems.append(
            ParamProblem(str(pdir), "-", "no dealer selected: pass dealer ids or --all")
        )
        wanted = []
    resolved: list[Settings] = []
    reported_stores: set[str | None] = set()
    for did in sorted(wanted):
        file, data = files.get(did, (net_file, None))
        s = resolve(did, data)
        dealer_ids, err = _store_ids(s.source, store_cache)
        if dealer_ids is None:
            if s.source is None and unreadable:
                continue  # already reported: the file naming the source is not valid YAML
            if s.source not in reported_stores:  # one error per missing store, not per dealer
                reported_stores.add(s.source)
                where = file if data and "source" in data else net_file
                problems.append(ParamProblem(str(where), "source", f"missing files: {err}"))
        elif did not in dealer_ids:
            problems.append(
                ParamProblem(
                    str(file),
                    "dealer_id",
                    f"dealer {did!r} is not in the store {s.source!r}"
                    + _did_you_mean(did, dealer_ids),
                )
            )
        else:
            resolved.append(s)
    if problems:
        raise ParameterError(_text(problems))
    for s in resolved:
        file = files.get(str(s.dealer_id), (net_file, None))[0]
        notes += _missing_lists(s, file)
    return RunParams(network=network, dealers=resolved, notes=notes)


def _missing_lists(settings: Settings, file: Path) -> list[str]:
    """A note per external list of a dealer whose file does not exist (the report says so in
    its lists section; the run goes on)."""
    out = []
    for i, item in enumerate(settings.external_lists, 1):
        path = external_list_path(item["file"], settings.source)
        if not path.is_file():
            out.append(
                f"{file}: external_lists: item {i}: the list file {str(path)!r} does not exist; "
                "put it there or correct 'file' (relative paths are relative to the store "
                f"folder {settings.source}); dealer {settings.dealer_id}'s report leaves it out"
            )
    return out


def _valid_keys(
    data: dict[str, Any], *, file: Path, allowed: dict[str, str], problems: list[ParamProblem]
) -> dict[str, Any]:
    """``data`` without the keys that have problems (which are added to ``problems``), so the
    rest of the run can still be checked and every problem reported at once."""
    found = check_params(data, file=str(file), allowed=allowed)
    problems += found
    bad = {p.key for p in found}
    return {k: v for k, v in data.items() if k not in bad}


def _did_you_mean(word: str, options: set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _text(problems: list[ParamProblem]) -> str:
    lines = "\n  ".join(str(p) for p in problems)
    return (
        f"{len(problems)} problem(s) in the report parameters; nothing was run. "
        f"Fix them and run again:\n  {lines}"
    )
