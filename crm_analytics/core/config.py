"""Settings: the one place that reads parameter files and resolves a dealer's settings.

Rules, thresholds, targets and mappings live in YAML under the project's ``params/`` folder so
that an analyst changes them without touching code. Nothing else in the package reads YAML.

Where a file is found (:func:`find_params`): an explicit path; then ``$CRM_ANALYTICS_PARAMS``;
then ``./params`` of the working directory; then the ``params/`` folder of the source tree the
package runs from.

How a dealer's settings are resolved (:func:`resolve_settings`), each layer over the one before:

1. **package defaults**: the shipped files (``targets.yaml``, ``scoring.yaml``,
   ``actions.yaml``, ``lifecycle.yaml``, ``quality.yaml``, ``value_chain.yaml``) and the report
   defaults below; each default exists once, in those files or here;
2. ``params/network.yaml``: network-wide report keys and target overrides;
3. ``params/dealers/<ID>.yaml``: the dealer's own keys and target overrides;
4. run arguments (a command-line flag, a notebook parameter).

The result is a frozen :class:`Settings`, resolved once per dealer and handed to every function,
estimator and notebook of that dealer, so every table, chart and diagnosis judges against the
same targets.

Report keys (all optional in ``network.yaml``; a dealer file needs ``dealer_id``):

``source``               network store folder (relative paths: relative to the folder holding
                         ``params/``)
``dealer_id``            the dealer (dealer files only; must match the file name)
``period``               ``{start: YYYY-MM-DD, end: YYYY-MM-DD}``; absent or null: the 12 months
                         up to the dealer's as-of date
``comparison_period``    the previous coaching round, same form; absent or null: the 12 months
                         before ``period``
``targets``              KPI -> target overriding ``params/targets.yaml`` (rates in [0, 1]);
                         dealer targets are merged over network targets
``language``             ``zh`` or ``en``
``mask_personal_data``   true (default) masks phones and names; a run asking for contact lists
                         turns it off
``notes``                free text shown on the report's first page
``coaching``             (dealer files only) the action plan agreed at each coaching round: a list
                         of items ``{round, kpi, action, owner, due, status, baseline, target,
                         gap_yuan}`` (:data:`ACTION_FIELDS`); the report compares each item's KPI
                         at the round with the period's at the next round
``external_lists``       (dealer files only) the external name lists the dealer received: a list
                         of items ``{file, source, received, cost}`` (:data:`EXTERNAL_LIST_FIELDS`):
                         ``file`` a CSV or Excel file (relative paths: relative to the store
                         folder ``source``), ``source`` one of :data:`EXTERNAL_LIST_SOURCES`,
                         ``received`` the date it arrived, ``cost`` what it cost (yuan,
                         optional); the report screens each against the DMS of that day
"""

from __future__ import annotations

import datetime as _dt
import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from crm_analytics.core.errors import InputError, ParameterError
from crm_analytics.core.files import is_url
from crm_analytics.core.schema import STAFF_ROLES

__all__ = [
    "ACTION_FIELDS",
    "ACTION_STATUSES",
    "DEALER_KEYS",
    "EXTERNAL_LIST_FIELDS",
    "EXTERNAL_LIST_SOURCES",
    "NETWORK_KEYS",
    "OWNER_ROLES",
    "REPORT_DEFAULTS",
    "SECTIONS",
    "ParamProblem",
    "Settings",
    "action_plan_yaml",
    "check_params",
    "external_list_path",
    "find_params",
    "load_params",
    "params_dirs",
    "read_yaml",
    "resolve_settings",
    "target_defaults",
]

#: the params/ folder of the source tree (an editable install or a checkout)
SOURCE_PARAMS = Path(__file__).resolve().parents[2] / "params"

#: Parameter sections every dealer carries (file name in ``params/`` -> its contents).
SECTIONS: tuple[str, ...] = ("scoring", "actions", "lifecycle", "quality", "value_chain")

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
DEALER_KEYS: dict[str, str] = {
    "dealer_id": "str",
    **_COMMON,
    "coaching": "action_plan",
    "external_lists": "external_lists",
}
#: Report defaults (the first layer of the report keys).
REPORT_DEFAULTS: dict[str, Any] = {
    "period": None,
    "comparison_period": None,
    "language": "zh",
    "mask_personal_data": True,
    "notes": "",
}
_RATE_SUFFIXES = ("_rate", "_penetration", "_share", "_retention")
#: Fields of one action-plan item (``coaching`` key of a dealer file) -> required?
#: ``round`` (date of the coaching round that agreed it), ``kpi`` (a KPI of
#: ``params/targets.yaml``), ``action`` (free text), ``owner`` (a role of
#: :data:`OWNER_ROLES`), ``due`` (date, on or after the round), ``status``
#: (:data:`ACTION_STATUSES`, default ``open``), ``baseline`` (the KPI's value at the round;
#: absent: the report takes the previous round's period), ``target`` (the value the item aims
#: at), ``gap_yuan`` (the gap the round priced, yuan).
ACTION_FIELDS: dict[str, bool] = {
    "round": True,
    "kpi": True,
    "action": True,
    "owner": True,
    "due": True,
    "status": False,
    "baseline": False,
    "target": False,
    "gap_yuan": False,
}
#: Fields of one external name list (``external_lists`` key of a dealer file) -> required?
#: ``file`` (CSV or Excel; relative to the store folder), ``source``
#: (:data:`EXTERNAL_LIST_SOURCES`), ``received`` (date the list arrived), ``cost`` (yuan).
EXTERNAL_LIST_FIELDS: dict[str, bool] = {
    "file": True,
    "source": True,
    "received": True,
    "cost": False,
}
#: Sources of an external name list: auto show 车展, cross-industry partner 异业合作, list
#: exchange 名单交换.
EXTERNAL_LIST_SOURCES: tuple[str, ...] = ("auto_show", "partner", "list_exchange")
#: Statuses of an action-plan item.
ACTION_STATUSES: tuple[str, ...] = ("open", "done", "dropped")
#: Roles that own an action: the staff table's roles and the managers the report names.
OWNER_ROLES: tuple[str, ...] = (
    *STAFF_ROLES,
    "sales_manager",
    "service_manager",
    "f_and_i_manager",
    "general_manager",
)


# ---------------------------------------------------------------------------------------------
# Finding and reading files
# ---------------------------------------------------------------------------------------------


def params_dirs() -> list[Path]:
    """Folders searched for parameter files, in order."""
    dirs = []
    env = os.environ.get("CRM_ANALYTICS_PARAMS")
    if env:
        dirs.append(Path(env))
    dirs += [Path.cwd() / "params", SOURCE_PARAMS]
    return dirs


def find_params(name: str) -> Path:
    """Path of ``params/<name>.yaml`` (``name`` may also be a path to a YAML file)."""
    p = Path(name)
    if p.suffix in {".yaml", ".yml"} and p.exists():
        return p
    for folder in params_dirs():
        cand = folder / f"{name}.yaml"
        if cand.exists():
            return cand
    raise InputError(
        f"parameter file {name!r} not found (looked for {name}.yaml in "
        f"{', '.join(str(d) for d in params_dirs())}). Pass a path to the YAML file, or set "
        "CRM_ANALYTICS_PARAMS to the folder holding it."
    )


#: libyaml's safe loader when present (pure-Python parsing was 60% of reading a small DMS
#: export with its mapping); the same safe subset of YAML either way
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read one YAML file holding a mapping (an empty file is an empty mapping).

    Raises
    ------
    InputError
        When the file is missing, not UTF-8, not valid YAML, or not a mapping; the message
        names the file and the fix.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"parameter file {p} does not exist")
    try:
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except OSError as err:
        raise InputError(f"parameter file {p} cannot be read: {err}") from err
    except UnicodeDecodeError as err:
        raise InputError(f"parameter file {p} is not UTF-8 text ({err}); save it as UTF-8") from err
    except yaml.YAMLError as err:
        raise InputError(
            f"parameter file {p} is not valid YAML: {err}. Fix the line named above."
        ) from err
    except ValueError as err:  # a date that YAML reads as one but the calendar has not
        raise InputError(
            f"parameter file {p} holds an impossible value ({err}); write dates as YYYY-MM-DD "
            "with a real month and day (e.g. 2026-06-30), or quote the value to keep it as text."
        ) from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(
            f"parameter file {p} must hold a mapping of names to values, got {type(data).__name__}"
        )
    return data


def load_params(
    name: str | os.PathLike, *, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Read a parameter file by name (``"lifecycle"``) or path, with optional overrides.

    Raises
    ------
    InputError
        When the file is missing, is not valid YAML, is not a mapping, or an override names a
        key the file does not have.
    """
    path = find_params(str(name))
    data = read_yaml(path)
    if overrides:
        unknown = set(overrides) - set(data)
        if unknown:
            raise InputError(
                f"unknown parameter(s) {sorted(unknown)} for {path.name}; known: {sorted(data)}"
            )
        data = {**data, **overrides}
    return data


# ---------------------------------------------------------------------------------------------
# Checking report keys
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamProblem:
    """One problem found in a parameter file."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


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


def is_rate(kpi: str) -> bool:
    """A KPI is a rate (a share in [0, 1]) when its name ends in ``_rate``, ``_penetration``,
    ``_share`` or ``_retention``; others are minutes, days or yuan."""
    return kpi.endswith(_RATE_SUFFIXES)


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_period(key: str, value: Any, add: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        add(f"must be a mapping {{start: YYYY-MM-DD, end: YYYY-MM-DD}} or null, got {value!r}")
        return
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


def _check_targets(value: Any, known: Iterable[str], add: Any) -> None:
    known = tuple(known)
    if not isinstance(value, dict):
        add(f"must be a mapping KPI -> number, got {type(value).__name__}")
        return
    for k, v in value.items():
        if k not in known:
            add(f"unknown target {k!r}{_suggest(k, known)}; known: {sorted(known)}")
        elif not _is_number(v):
            add(f"target {k!r} must be a number, got {type(v).__name__} {v!r}")
        elif is_rate(k) and not 0.0 <= float(v) <= 1.0:
            add(f"target {k!r} is a rate and must lie in [0, 1], got {v!r} (write 35% as 0.35)")
        elif float(v) < 0:
            add(f"target {k!r} must not be negative, got {v!r}")


def _check_item(i: int, item: Any, known: tuple[str, ...], add: Any) -> None:
    """Problems of action-plan item ``i`` (1-based), each naming the item, the field and the fix."""
    if not isinstance(item, dict):
        add(f"item {i}: must be a mapping of {list(ACTION_FIELDS)}, got {item!r}")
        return
    where = f"item {i}"
    for k in item:
        if k not in ACTION_FIELDS:
            fix = _suggest(k, ACTION_FIELDS)
            add(f"{where}: unknown field {k!r}{fix}; fields: {list(ACTION_FIELDS)}")
    needed = [k for k, required in ACTION_FIELDS.items() if required]
    for k in needed:
        if item.get(k) in (None, ""):
            add(f"{where}: field {k!r} is missing; every item needs {', '.join(needed)}")
    kpi = item.get("kpi")
    if kpi is not None and kpi not in known:
        add(
            f"{where}: field 'kpi': unknown KPI {kpi!r}{_suggest(kpi, known)}; use a KPI of "
            "params/targets.yaml"
        )
    dates = {}
    for k in ("round", "due"):
        if item.get(k) is not None:
            dates[k] = _date(item[k])
            if dates[k] is None:
                add(f"{where}: field {k!r} must be a date YYYY-MM-DD, got {item[k]!r}")
    if dates.get("round") and dates.get("due") and dates["due"] < dates["round"]:
        add(
            f"{where}: field 'due' {dates['due']} is before the round {dates['round']}; "
            "an action falls due on or after the round that agreed it"
        )
    if item.get("action") not in (None, "") and not (
        isinstance(item["action"], str) and item["action"].strip()
    ):
        add(f"{where}: field 'action' must be text saying what to do, got {item['action']!r}")
    owner = item.get("owner")
    if owner is not None and owner not in OWNER_ROLES:
        add(
            f"{where}: field 'owner': unknown role {owner!r}{_suggest(owner, OWNER_ROLES)}; "
            f"roles: {list(OWNER_ROLES)}"
        )
    status = item.get("status")
    if status is not None and status not in ACTION_STATUSES:
        add(
            f"{where}: field 'status': unknown status {status!r}"
            f"{_suggest(status, ACTION_STATUSES)}; use one of {list(ACTION_STATUSES)}"
        )
    for k in ("baseline", "target", "gap_yuan"):
        v = item.get(k)
        if v is None:
            continue
        if not _is_number(v):
            add(f"{where}: field {k!r} must be a number, got {type(v).__name__} {v!r}")
        elif k != "gap_yuan" and isinstance(kpi, str) and is_rate(kpi) and not 0 <= v <= 1:
            add(
                f"{where}: field {k!r} of the rate {kpi!r} must lie in [0, 1], got {v!r} "
                "(write 35% as 0.35)"
            )


def _check_action_plan(value: Any, known: Iterable[str], add: Any) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        add(
            "must be a list of action items (each '- round: YYYY-MM-DD, kpi: ..., action: ..., "
            f"owner: ..., due: YYYY-MM-DD, status: open'), got {type(value).__name__}"
        )
        return
    known = tuple(known)
    for i, item in enumerate(value, 1):
        _check_item(i, item, known, add)


def _check_list_item(i: int, item: Any, add: Any) -> None:
    """Problems of external-list item ``i`` (1-based), each naming the item, field and fix."""
    fields_ = list(EXTERNAL_LIST_FIELDS)
    if not isinstance(item, dict):
        add(
            f"item {i}: must be a mapping of {fields_} (e.g. '- file: lists/show.csv'), got {item!r}"
        )
        return
    where = f"item {i}"
    for k in item:
        if k not in EXTERNAL_LIST_FIELDS:
            add(f"{where}: unknown field {k!r}{_suggest(k, fields_)}; fields: {fields_}")
    needed = [k for k, required in EXTERNAL_LIST_FIELDS.items() if required]
    for k in needed:
        if item.get(k) in (None, ""):
            add(f"{where}: field {k!r} is missing; every list needs {', '.join(needed)}")
    file = item.get("file")
    if file not in (None, "") and not (isinstance(file, str) and file.strip()):
        add(
            f"{where}: field 'file' must be the path of a CSV or Excel file (relative to the "
            f"store folder, or absolute), got {type(file).__name__} {file!r}"
        )
    source = item.get("source")
    if source not in (None, "") and source not in EXTERNAL_LIST_SOURCES:
        add(
            f"{where}: field 'source': unknown source {source!r}"
            f"{_suggest(source, EXTERNAL_LIST_SOURCES)}; use one of {list(EXTERNAL_LIST_SOURCES)}"
        )
    if item.get("received") not in (None, "") and _date(item["received"]) is None:
        add(f"{where}: field 'received' must be a date YYYY-MM-DD, got {item['received']!r}")
    cost = item.get("cost")
    if cost is not None and (not _is_number(cost) or cost < 0):
        add(
            f"{where}: field 'cost' must be a number of yuan, 0 or more (e.g. 30000), got "
            f"{type(cost).__name__} {cost!r}"
        )


def _check_external_lists(value: Any, add: Any) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        add(
            "must be a list of name lists (each '- file: <path>, source: auto_show, received: "
            f"YYYY-MM-DD, cost: 30000'), got {type(value).__name__}"
        )
        return
    for i, item in enumerate(value, 1):
        _check_list_item(i, item, add)


def _list_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """One checked external-list item in its normal form: every field, ``received`` as ISO
    text, ``cost`` a float or None."""
    cost = item.get("cost")
    return {
        "file": str(item["file"]).strip(),
        "source": item["source"],
        "received": _date(item["received"]),
        "cost": float(cost) if cost is not None else None,
    }


def external_list_path(file: str, source: str | os.PathLike[str] | None) -> Path:
    """The path of an external list's ``file``: as written when absolute, else relative to the
    store folder ``source`` (the working directory without one)."""
    p = Path(file).expanduser()
    if p.is_absolute() or source is None:
        return p
    return Path(source) / p


def _action_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """One checked action-plan item in its normal form: every field, dates as ISO text,
    numbers as floats, ``status`` defaulting to ``open``."""
    out: dict[str, Any] = {}
    for k in ACTION_FIELDS:
        v = item.get(k)
        if k in ("round", "due"):
            v = _date(v)
        elif k in ("baseline", "target", "gap_yuan"):
            v = float(v) if v is not None else None
        elif k == "action":
            v = str(v).strip()
        elif k == "status":
            v = v or "open"
        out[k] = v
    return out


def action_plan_yaml(items: Iterable[Mapping[str, Any]], *, header: str = "") -> str:
    """Action-plan items as the YAML of a dealer file's ``coaching`` key (``header``: comment
    lines above it), readable back by :func:`resolve_settings`. Empty optional fields are left
    out."""
    plan = [
        {k: v for k, v in _action_item(item).items() if v is not None or ACTION_FIELDS[k]}
        for item in items
    ]
    text = yaml.safe_dump(
        {"coaching": plan},
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=10_000,  # one line per action: easier to edit and paste
    )
    lines = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    return lines + text


def _check_value(kind: str, key: str, value: Any, file: str) -> list[ParamProblem]:
    bad: list[ParamProblem] = []

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
        _check_period(key, value, add)
    elif kind == "targets":
        _check_targets(value, target_defaults(), add)
    elif kind == "action_plan":
        _check_action_plan(value, target_defaults(), add)
    elif kind == "external_lists":
        _check_external_lists(value, add)
    return bad


def check_params(
    data: Mapping[str, Any], *, file: str, allowed: Mapping[str, str]
) -> list[ParamProblem]:
    """Unknown keys and wrong types of one parameter mapping (every problem, not the first)."""
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


# ---------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------


def target_defaults() -> dict[str, float]:
    """Every KPI target of ``params/targets.yaml``: the KPI tree's (``kpis``) and the report's
    headline ones (``headline``), ``{kpi: target}``."""
    raw = load_params("targets")
    out: dict[str, float] = {}
    for section in ("kpis", "headline"):
        for k, v in (raw.get(section) or {}).items():
            value = v.get("target") if isinstance(v, dict) else v
            if not _is_number(value):
                raise InputError(
                    f"params/targets.yaml: {section}.{k} needs a number (or {{target: number}}), "
                    f"got {v!r}"
                )
            out[k] = float(value)
    return out


def _target_directions() -> dict[str, bool]:
    """KPI -> higher_is_better where ``targets.yaml`` states it (the KPI's own default else)."""
    raw = load_params("targets").get("kpis") or {}
    return {
        k: bool(v["higher_is_better"])
        for k, v in raw.items()
        if isinstance(v, dict) and "higher_is_better" in v
    }


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------


def _frozen(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return tuple(_frozen(v) for v in obj)
    return obj


def _thawed(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _thawed(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return [_thawed(v) for v in obj]
    return obj


@dataclass(frozen=True)
class Settings:
    """One dealer's resolved settings: package defaults < network < dealer file < run arguments.

    Build it with :func:`resolve_settings` (once per dealer and run); it is frozen, and its
    mappings are read-only, so every function and estimator that receives it sees the same
    values. ``targets`` holds every KPI's target after all layers; ``sections`` the parameter
    files of :data:`SECTIONS` (``settings.section("scoring")``); ``action_plan`` the items of
    the dealer file's ``coaching`` key, each with every field of :data:`ACTION_FIELDS`;
    ``external_lists`` the items of its ``external_lists`` key (:data:`EXTERNAL_LIST_FIELDS`,
    files as written: :func:`external_list_path` resolves them against ``source``).
    """

    dealer_id: str | None = None
    source: str | None = None
    period: tuple[str, str] | None = None
    comparison_period: tuple[str, str] | None = None
    targets: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    higher_is_better: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))
    tree_kpis: frozenset[str] = frozenset()
    language: str = "zh"
    mask_personal_data: bool = True
    notes: str = ""
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    files: tuple[str, ...] = ()
    action_plan: tuple[Mapping[str, Any], ...] = ()
    external_lists: tuple[Mapping[str, Any], ...] = ()

    def section(self, name: str) -> Mapping[str, Any]:
        """A parameter section (``"scoring"``, ``"actions"``, ...), read-only."""
        if name not in self.sections:
            raise InputError(f"no parameter section {name!r}; sections: {sorted(self.sections)}")
        return self.sections[name]

    def section_dict(self, name: str) -> dict[str, Any]:
        """A parameter section as a plain, mutable deep copy."""
        return _thawed(self.section(name))

    def funnel_targets(self) -> dict[str, Any]:
        """The KPI tree's targets (``targets.yaml`` ``kpis``, with every override) in the form
        :func:`crm_analytics.metrics.funnel.diagnose` takes: ``{kpi: {"target": float,
        "higher_is_better": bool}}`` where the direction is stated, else the plain number (the
        KPI's own direction applies)."""
        return {
            k: (
                {"target": v, "higher_is_better": self.higher_is_better[k]}
                if k in self.higher_is_better
                else v
            )
            for k, v in self.targets.items()
            if k in self.tree_kpis
        }

    def as_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable form (what a run fingerprint hashes)."""
        return {
            "dealer_id": self.dealer_id,
            "source": self.source,
            "period": list(self.period) if self.period else None,
            "comparison_period": list(self.comparison_period) if self.comparison_period else None,
            "targets": dict(sorted(self.targets.items())),
            "language": self.language,
            "mask_personal_data": self.mask_personal_data,
            "notes": self.notes,
            "sections": {k: _thawed(v) for k, v in sorted(self.sections.items())},
            "action_plan": [dict(x) for x in self.action_plan],
            "external_lists": [dict(x) for x in self.external_lists],
        }

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        # read-only mappings do not pickle: process pools and saved analyses get plain copies
        state = {f.name: _thawed(getattr(self, f.name)) for f in fields(self)}
        state["tree_kpis"] = sorted(self.tree_kpis)
        return (_settings_from_state, (state,))

    def with_run_args(self, **run_args: Any) -> Settings:
        """These settings with run arguments over them (checked like a file's keys)."""
        return _apply(self, run_args, file="run arguments", allowed=DEALER_KEYS, drop_none=True)


def _settings_from_state(state: dict[str, Any]) -> Settings:
    state = dict(state)
    for key in ("targets", "higher_is_better", "sections"):
        state[key] = _frozen(state[key])
    for key in ("period", "comparison_period"):
        state[key] = tuple(state[key]) if state[key] else None
    state["tree_kpis"] = frozenset(state["tree_kpis"])
    state["files"] = tuple(state["files"])
    state["action_plan"] = _frozen(list(state.get("action_plan") or []))
    state["external_lists"] = _frozen(list(state.get("external_lists") or []))
    return Settings(**state)


def _period(value: Any) -> tuple[str, str] | None:
    if isinstance(value, tuple | list) and len(value) == 2:
        value = {"start": value[0], "end": value[1]}
    if not isinstance(value, dict):
        return None
    start, end = _date(value.get("start")), _date(value.get("end"))
    return (start, end) if start and end else None


def _apply(
    base: Settings,
    layer: Mapping[str, Any],
    *,
    file: str,
    allowed: Mapping[str, str],
    drop_none: bool = False,
) -> Settings:
    """``base`` with the keys of one layer over it; raises ParameterError on any problem.
    ``drop_none``: a ``None`` value means "not given" (run arguments), not "the default"."""
    layer = {k: v for k, v in layer.items() if v is not None or not drop_none}
    for key in ("period", "comparison_period"):
        if isinstance(layer.get(key), tuple | list):
            start, end = layer[key]
            layer[key] = {"start": start, "end": end}
    problems = check_params(layer, file=file, allowed=allowed)
    if problems:
        raise ParameterError(_problems_text(problems))
    changes: dict[str, Any] = {}
    for key in ("language", "mask_personal_data", "notes", "source", "dealer_id"):
        if key in layer:
            changes[key] = layer[key]
    for key in ("period", "comparison_period"):
        if key in layer:
            changes[key] = _period(layer[key])
    if "coaching" in layer:
        changes["action_plan"] = _frozen([_action_item(x) for x in layer["coaching"] or []])
    if "external_lists" in layer:
        changes["external_lists"] = _frozen([_list_item(x) for x in layer["external_lists"] or []])
    if layer.get("targets"):
        changes["targets"] = MappingProxyType(
            {**base.targets, **{k: float(v) for k, v in layer["targets"].items()}}
        )
    return replace(base, **changes)


def _problems_text(problems: list[ParamProblem]) -> str:
    lines = "\n  ".join(str(p) for p in problems)
    return f"{len(problems)} problem(s) in the parameters. Fix them and run again:\n  {lines}"


def package_defaults() -> Settings:
    """The first layer: the shipped parameter files and :data:`REPORT_DEFAULTS`."""
    return Settings(
        targets=MappingProxyType(target_defaults()),
        higher_is_better=MappingProxyType(_target_directions()),
        tree_kpis=frozenset(load_params("targets").get("kpis") or {}),
        language=REPORT_DEFAULTS["language"],
        mask_personal_data=REPORT_DEFAULTS["mask_personal_data"],
        notes=REPORT_DEFAULTS["notes"],
        sections=_frozen({name: load_params(name) for name in SECTIONS}),
    )


def resolve_settings(
    dealer_id: str | None = None,
    *,
    params_dir: str | os.PathLike[str] | None = None,
    network: Mapping[str, Any] | None = None,
    dealer: Mapping[str, Any] | None = None,
    **run_args: Any,
) -> Settings:
    """Resolve one dealer's settings: package defaults, ``network.yaml``, the dealer's file,
    then ``run_args`` (``period=("2026-01-01", "2026-06-30")``, ``language="en"``,
    ``targets={...}``, ...).

    Parameters
    ----------
    dealer_id
        The dealer; ``None`` for network-wide settings.
    params_dir
        Folder holding ``network.yaml`` and ``dealers/<ID>.yaml``; default: the first of
        :func:`params_dirs` that exists. Relative ``source`` paths in the files are resolved
        against the folder holding ``params_dir``.
    network, dealer
        Already-read contents of ``network.yaml`` and the dealer's file (the batch runner reads
        each file once for the whole network); read from ``params_dir`` when ``None``; an empty
        mapping means "no such layer".

    Raises
    ------
    ParameterError
        Naming every unknown key, mistyped value and unknown target of every layer.
    """
    pdir = Path(params_dir) if params_dir is not None else _default_params_dir()
    base = pdir.resolve().parent if pdir is not None else Path.cwd()
    settings = package_defaults()
    files: list[str] = []
    layers: list[tuple[str, Mapping[str, Any], Mapping[str, str]]] = []
    if pdir is not None:
        net_file = pdir / "network.yaml"
        if network is None and net_file.is_file():
            network = read_yaml(net_file)
        if network:
            layers.append((str(net_file), network, NETWORK_KEYS))
        dealer_file = pdir / "dealers" / f"{dealer_id}.yaml"
        if dealer is None and dealer_id is not None and dealer_file.is_file():
            dealer = read_yaml(dealer_file)
        if dealer:
            layers.append((str(dealer_file), dealer, DEALER_KEYS))
    problems: list[ParamProblem] = []
    for file, data, allowed in layers:
        problems += check_params(data, file=file, allowed=allowed)
        if allowed is DEALER_KEYS and data.get("dealer_id") not in (None, dealer_id):
            problems.append(
                ParamProblem(
                    file, "dealer_id", f"{data['dealer_id']!r} does not match {dealer_id!r}"
                )
            )
    if problems:
        raise ParameterError(_problems_text(problems))
    for file, data, allowed in layers:
        layer = dict(data)
        if isinstance(layer.get("source"), str):
            layer["source"] = _resolve_path(layer["source"], base)
        settings = _apply(settings, layer, file=file, allowed=allowed)
        files.append(file)
    if run_args:
        if isinstance(run_args.get("source"), str | os.PathLike):
            run_args["source"] = _resolve_path(str(run_args["source"]), Path.cwd())
        settings = _apply(
            settings, run_args, file="run arguments", allowed=DEALER_KEYS, drop_none=True
        )
    return replace(settings, dealer_id=dealer_id, files=tuple(files))


def _default_params_dir() -> Path | None:
    for folder in params_dirs():
        if folder.is_dir():
            return folder
    return None


def _resolve_path(value: str, base: Path) -> str:
    if is_url(value):  # a store URL (fsspec) stays as it is
        return value
    p = Path(value).expanduser()
    return str((p if p.is_absolute() else base / p).resolve())
