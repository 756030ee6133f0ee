"""Report parameters: YAML files validated before any notebook runs.

papermill checks no parameter (names, types, files), so a typo in a dealer's YAML would only
surface as a wrong report. Here every dealer's parameters are checked up front and every
problem of every dealer is reported at once (:class:`~crm_analytics.core.errors.ParameterError`).

Layout::

    params/network.yaml          defaults for every dealer (and the network notebook)
    params/dealers/<ID>.yaml     one dealer: ``dealer_id`` plus any key it overrides

Keys (all optional in ``network.yaml``; a dealer file needs ``dealer_id``):

``source``               network store folder (relative paths: relative to the folder holding
                         ``params/``)
``dealer_id``            the dealer (dealer files only; must match the file name)
``period``               ``{start: YYYY-MM-DD, end: YYYY-MM-DD}``; absent or null: the 12 months
                         up to the dealer's as-of date
``comparison_period``    the previous coaching round, same form; absent or null: the 12 months
                         before ``period``
``targets``              KPI -> target overriding ``params/targets.yaml`` (rates in [0, 1];
                         ``accessories_per_car`` in yuan); dealer targets are merged over
                         network targets
``language``             ``zh`` or ``en``
``mask_personal_data``   true (default) masks phones and names; a run asking for contact lists
                         (``--contact-lists``) turns it off
``notes``                free text shown on the report's first page
"""

from __future__ import annotations

import datetime as _dt
import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crm_analytics.core.errors import ParameterError
from crm_analytics.report.headline import KPI_KEYS

__all__ = [
    "DEALER_KEYS",
    "NETWORK_KEYS",
    "RATE_TARGETS",
    "TARGET_KEYS",
    "DealerParams",
    "ParamProblem",
    "check_params",
    "load_run_params",
    "read_yaml",
]

#: Every target key: the report's headline KPIs (defaults in ``params/targets.yaml``).
TARGET_KEYS: tuple[str, ...] = KPI_KEYS
#: Targets that are rates in [0, 1] (all but the yuan amount ``accessories_per_car``).
RATE_TARGETS: tuple[str, ...] = tuple(k for k in KPI_KEYS if k != "accessories_per_car")

_COMMON: dict[str, str] = {
    "source": "path",
    "period": "period",
    "comparison_period": "period",
    "targets": "targets",
    "language": "language",
    "mask_personal_data": "bool",
    "notes": "str",
}
#: Keys allowed in ``network.yaml`` -> kind.
NETWORK_KEYS: dict[str, str] = dict(_COMMON)
#: Keys allowed in a dealer file -> kind.
DEALER_KEYS: dict[str, str] = {"dealer_id": "str", **_COMMON}
_DEFAULTS: dict[str, Any] = {
    "period": None,
    "comparison_period": None,
    "targets": {},
    "language": "en",
    "mask_personal_data": True,
    "notes": "",
}


@dataclass(frozen=True)
class ParamProblem:
    """One problem found in a parameter file."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


@dataclass(frozen=True)
class DealerParams:
    """One dealer's resolved parameters (network defaults merged with the dealer's file).

    ``as_notebook_parameters()`` gives the literals injected into the notebooks' ``parameters``
    cell; ``as_dict()`` is what the run fingerprint hashes.
    """

    dealer_id: str
    source: str
    period: tuple[str, str] | None = None
    comparison_period: tuple[str, str] | None = None
    targets: dict[str, float] = field(default_factory=dict)
    language: str = "en"
    mask_personal_data: bool = True
    notes: str = ""
    files: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable form (sorted targets)."""
        return {
            "dealer_id": self.dealer_id,
            "source": self.source,
            "period": list(self.period) if self.period else None,
            "comparison_period": list(self.comparison_period) if self.comparison_period else None,
            "targets": dict(sorted(self.targets.items())),
            "language": self.language,
            "mask_personal_data": self.mask_personal_data,
            "notes": self.notes,
        }

    def as_notebook_parameters(self) -> dict[str, Any]:
        """Literals for the notebooks' ``parameters`` cell."""
        d = self.as_dict()
        return {
            "source": d["source"],
            "dealer_id": d["dealer_id"],
            "period_start": self.period[0] if self.period else None,
            "period_end": self.period[1] if self.period else None,
            "comparison_start": self.comparison_period[0] if self.comparison_period else None,
            "comparison_end": self.comparison_period[1] if self.comparison_period else None,
            "targets": d["targets"],
            "language": d["language"],
            "mask_personal_data": d["mask_personal_data"],
            "notes": d["notes"],
        }


def read_yaml(path: str | os.PathLike[str]) -> tuple[dict[str, Any] | None, list[ParamProblem]]:
    """Read one YAML mapping; a missing file, bad YAML or a non-mapping is a problem."""
    p = Path(path)
    if not p.is_file():
        return None, [ParamProblem(str(p), "-", "file does not exist")]
    try:
        with p.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        return None, [ParamProblem(str(p), "-", f"not valid YAML: {err}")]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, [
            ParamProblem(str(p), "-", f"must be a mapping of keys, got {type(data).__name__}")
        ]
    return data, []


def _date(value: Any) -> str | None:
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            return None
    return None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_value(kind: str, key: str, value: Any, file: str) -> list[ParamProblem]:
    bad = []

    def add(msg: str) -> None:
        bad.append(ParamProblem(file, key, msg))

    if kind in ("str", "path"):
        if not isinstance(value, str) or (kind == "path" and not value.strip()):
            add(f"must be a string, got {type(value).__name__} {value!r}")
    elif kind == "bool":
        if not isinstance(value, bool):
            add(f"must be true or false, got {type(value).__name__} {value!r}")
    elif kind == "language":
        if value not in ("zh", "en"):
            add(f"must be 'zh' or 'en', got {value!r}")
    elif kind == "period":
        if value is None:
            return bad
        if not isinstance(value, dict):
            add(f"must be a mapping {{start: YYYY-MM-DD, end: YYYY-MM-DD}} or null, got {value!r}")
            return bad
        extra = sorted(set(value) - {"start", "end"})
        if extra:
            add(f"unknown key(s) {extra}; a period has only 'start' and 'end'")
        start, end = _date(value.get("start")), _date(value.get("end"))
        if start is None:
            add(f"'start' must be a date YYYY-MM-DD, got {value.get('start')!r}")
        if end is None:
            add(f"'end' must be a date YYYY-MM-DD, got {value.get('end')!r}")
        if start and end and start > end:
            add(f"'start' {start} is after 'end' {end}")
    elif kind == "targets":
        if not isinstance(value, dict):
            add(f"must be a mapping KPI -> number, got {type(value).__name__}")
            return bad
        for k, v in value.items():
            if k not in TARGET_KEYS:
                add(f"unknown target {k!r}{_suggest(k, TARGET_KEYS)}; known: {list(TARGET_KEYS)}")
            elif not _is_number(v):
                add(f"target {k!r} must be a number, got {type(v).__name__} {v!r}")
            elif k in RATE_TARGETS and not 0.0 <= float(v) <= 1.0:
                add(f"target {k!r} is a rate and must lie in [0, 1], got {v!r} (write 35% as 0.35)")
            elif float(v) < 0:
                add(f"target {k!r} must not be negative, got {v!r}")
    return bad


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_params(
    data: Mapping[str, Any], *, file: str, allowed: Mapping[str, str]
) -> list[ParamProblem]:
    """Unknown keys and wrong types of one parameter mapping (files are checked later)."""
    problems = []
    for key, value in data.items():
        if key not in allowed:
            problems.append(
                ParamProblem(
                    file,
                    str(key),
                    f"unknown key{_suggest(key, allowed)}; allowed: {sorted(allowed)}",
                )
            )
            continue
        problems.extend(_check_value(allowed[key], key, value, file))
    return problems


def _resolve_path(value: str, base: Path) -> str:
    p = Path(value).expanduser()
    return str((p if p.is_absolute() else base / p).resolve())


def _period(value: Any) -> tuple[str, str] | None:
    if not value:
        return None
    start, end = _date(value.get("start")), _date(value.get("end"))
    return (start, end) if start and end else None


def _store_dealers(source: str) -> tuple[set[str] | None, str | None]:
    """Dealer ids of a store, or an error message."""
    from crm_analytics.core.errors import InputError
    from crm_analytics.data.store import list_dealers

    try:
        return set(list_dealers(source)["dealer_id"].astype(str)), None
    except InputError as err:
        return None, str(err)


def load_run_params(
    params_dir: str | os.PathLike[str] = "params",
    *,
    dealers: Sequence[str] | None = None,
    all_dealers: bool = False,
    source: str | os.PathLike[str] | None = None,
    contact_lists: bool = False,
) -> tuple[dict[str, Any], list[DealerParams]]:
    """Load and validate the network file and every selected dealer's parameters.

    Parameters
    ----------
    params_dir
        Folder holding ``network.yaml`` and ``dealers/<ID>.yaml``.
    dealers
        Dealer ids to run. A dealer without its own file gets the network defaults.
    all_dealers
        Run every dealer of the store (plus any dealer file's dealer).
    source
        Store folder overriding ``source`` of every file.
    contact_lists
        The run asks for contact lists: personal data is not masked.

    Returns
    -------
    network : dict
        The network parameters (resolved ``source`` and defaults).
    dealer_params : list of DealerParams
        One per dealer, sorted by id.

    Raises
    ------
    ParameterError
        Listing every problem of every file (unknown keys, wrong types, missing files, dealers
        not in the store), so all of them can be fixed before a single notebook runs.
    """
    pdir = Path(params_dir)
    base = pdir.resolve().parent
    problems: list[ParamProblem] = []
    net_file = pdir / "network.yaml"
    network: dict[str, Any] = {}
    if net_file.is_file():
        data, probs = read_yaml(net_file)
        problems += probs
        if data is not None:
            problems += check_params(data, file=str(net_file), allowed=NETWORK_KEYS)
            network = dict(data)
    elif not pdir.is_dir() and source is None:
        problems.append(
            ParamProblem(str(pdir), "-", "parameter folder does not exist (or pass a source)")
        )
    if source is not None:
        network["source"] = str(source)
    if isinstance(network.get("source"), str):
        network["source"] = (
            str(Path(source).resolve())
            if source is not None
            else _resolve_path(network["source"], base)
        )

    # dealer files
    files: dict[str, tuple[Path, dict[str, Any]]] = {}
    ddir = pdir / "dealers"
    if ddir.is_dir():
        for f in sorted(ddir.glob("*.y*ml")):
            data, probs = read_yaml(f)
            problems += probs
            if data is None:
                continue
            probs = check_params(data, file=str(f), allowed=DEALER_KEYS)
            problems += probs
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
            files[did] = (f, data)

    if dealers:
        wanted = [str(d) for d in dealers]
    else:
        wanted = sorted(files) if all_dealers else []
    if not wanted and not all_dealers:
        problems.append(
            ParamProblem(str(pdir), "-", "no dealer selected: pass dealer ids or --all")
        )

    # resolve every wanted dealer; check sources once per store
    store_cache: dict[str, tuple[set[str] | None, str | None]] = {}
    resolved: list[DealerParams] = []

    def store(src: str) -> tuple[set[str] | None, str | None]:
        if src not in store_cache:
            store_cache[src] = _store_dealers(src)
        return store_cache[src]

    if all_dealers and not dealers:
        src = network.get("source")
        if isinstance(src, str):
            ids, err = store(src)
            if ids is not None:
                wanted = sorted(set(wanted) | ids)
        elif not files:
            problems.append(
                ParamProblem(str(net_file), "source", "--all needs a network 'source' (a store)")
            )
    for did in sorted(dict.fromkeys(wanted)):
        file, data = files.get(did, (net_file, {"dealer_id": did}))
        merged: dict[str, Any] = {**_DEFAULTS, **network}
        merged.update({k: v for k, v in data.items() if k in DEALER_KEYS})
        targets = (
            dict(network.get("targets") or {}) if isinstance(network.get("targets"), dict) else {}
        )
        if isinstance(data.get("targets"), dict):
            targets.update(data["targets"])
        src = merged.get("source")
        if source is not None:
            src = str(Path(source).resolve())
        elif isinstance(data.get("source"), str):
            src = _resolve_path(data["source"], base)
        if not isinstance(src, str):
            problems.append(
                ParamProblem(str(file), "source", "no data source: set 'source' (a store folder)")
            )
            continue
        ids, err = store(src)
        if ids is None:
            problems.append(ParamProblem(str(file), "source", f"missing files: {err}"))
            continue
        if did not in ids:
            problems.append(
                ParamProblem(
                    str(file),
                    "dealer_id",
                    f"dealer {did!r} is not in the store {src!r}{_suggest(did, ids)}",
                )
            )
            continue
        part = f"dealer_id={did}"
        data_files = sorted(str(p) for p in Path(src).glob(f"*/{part}/*.parquet"))
        if not data_files:
            problems.append(
                ParamProblem(str(file), "source", f"missing files: no partition files for {did}")
            )
            continue
        resolved.append(
            DealerParams(
                dealer_id=did,
                source=src,
                period=_period(merged.get("period"))
                if isinstance(merged.get("period"), dict)
                else None,
                comparison_period=(
                    _period(merged.get("comparison_period"))
                    if isinstance(merged.get("comparison_period"), dict)
                    else None
                ),
                targets={k: float(v) for k, v in targets.items() if _is_number(v)},
                language=merged.get("language") if merged.get("language") in ("zh", "en") else "en",
                mask_personal_data=bool(merged.get("mask_personal_data", True))
                and not contact_lists,
                notes=merged.get("notes") if isinstance(merged.get("notes"), str) else "",
                files=tuple(data_files),
            )
        )
    if problems:
        lines = "\n  ".join(str(p) for p in problems)
        raise ParameterError(
            f"{len(problems)} problem(s) in the report parameters; nothing was run. "
            f"Fix them and run again:\n  {lines}",
        )
    return network, resolved
