"""Parameter files (``params/*.yaml``): where they are found and how they are read.

Rules, thresholds, targets and mappings live in YAML under the project's ``params/`` folder
so that an analyst changes them without touching code. :func:`load_params` finds a file by
name in, first, an explicit path; then ``$CRM_ANALYTICS_PARAMS``; then ``./params`` of the
working directory; then the ``params/`` folder of the source tree the package runs from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from crm_analytics.core.errors import InputError

#: the params/ folder of the source tree (an editable install or a checkout)
SOURCE_PARAMS = Path(__file__).resolve().parents[2] / "params"


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


def load_params(
    name: str | os.PathLike, *, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Read a parameter file by name (``"lifecycle"``) or path, with optional overrides.

    Raises
    ------
    InputError
        When the file is missing, is not valid YAML, or is not a mapping.
    """
    path = find_params(str(name))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise InputError(f"parameter file {path} is not valid UTF-8 YAML: {err}") from err
    if not isinstance(data, dict):
        raise InputError(f"parameter file {path} must hold a mapping of names to values")
    if overrides:
        unknown = set(overrides) - set(data)
        if unknown:
            raise InputError(
                f"unknown parameter(s) {sorted(unknown)} for {path.name}; known: {sorted(data)}"
            )
        data = {**data, **overrides}
    return data
