"""Rule parameters of the data-quality checks (``params/quality.yaml``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from crm_analytics.core.config import load_params
from crm_analytics.core.errors import InputError, ParameterError


@dataclass(frozen=True)
class QualityParams:
    """Rule parameters (defaults equal ``params/quality.yaml``).

    Parameters
    ----------
    followup_days
        An open lead needs a follow-up (any non-inquiry touch) within this many days of as-of.
    match_probability
        Arrival-visit pairs below this splink match probability are not matched.
    opening_grace_minutes
        Arrivals this close outside opening or closing time still count as inside hours.
    service_opens_earlier_hours
        The service reception opens this many hours before the showroom (``dealer.opening_hour``);
        service arrivals are judged against that earlier time.
    duplicate_entry_minutes
        The same visitor (phone or name), reason and consultant registered again within this
        many minutes is a duplicate row.
    stage_visit_window_hours
        A test drive, quote or order needs a DMS visit of its lead within this many hours before.
    known_lead_days
        An unmatched arrival belongs to a known prospect when the consultant holds a lead of a
        customer with that phone or name, open within this many days of the arrival.
    service_desk_share
        Share of service customers who pass the showroom desk (and so appear in the log).
    missing_day_max_chance
        A day without log entries is a missing log day when, had the log been kept, an empty
        day would have had at most this chance given the DMS's events that day: a delivery
        always passes the desk, a sales visit is missing only if it was fabricated (chance =
        the phantom rate measured on logged days, at least 1%), a service customer with chance
        ``1 - service_desk_share``. The same bound makes a calendar month without records in an
        event table a silent month (rule ``no_silent_month``): a Poisson month at the table's
        daily rate would have been empty with at most this chance.
    score_tolerance
        A rule's score falls linearly from 100 (no record fails) to 0 when this share of its
        records fails: ``score = 100 * max(0, 1 - failure_rate / tolerance)``. ``1.0`` makes
        the score the pass rate.
    rule_tolerances
        Per-rule tolerances, by rule key (``docs/quality_rules.md``), overriding
        ``score_tolerance``.
    rule_weights
        Per-rule weights in the dimension's score, by rule key (1 when not given; 0 leaves the
        rule out of the score).
    green_at, amber_at
        A score at or above ``green_at`` is green, at or above ``amber_at`` amber, below red.
    worst_rules
        How many of the lowest-scoring rules the scorecard names per dimension.
    """

    followup_days: int = 30
    match_probability: float = 0.5
    opening_grace_minutes: int = 30
    service_opens_earlier_hours: float = 1.0
    duplicate_entry_minutes: float = 5
    stage_visit_window_hours: float = 3
    known_lead_days: int = 120
    service_desk_share: float = 0.5
    missing_day_max_chance: float = 0.01
    score_tolerance: float = 0.10
    rule_tolerances: Mapping[str, float] = field(default_factory=dict)
    rule_weights: Mapping[str, float] = field(default_factory=dict)
    green_at: float = 95.0
    amber_at: float = 85.0
    worst_rules: int = 3

    def __post_init__(self) -> None:
        tolerances = [("score_tolerance", self.score_tolerance)] + [
            (f"rule_tolerances[{k!r}]", v) for k, v in self.rule_tolerances.items()
        ]
        for name, v in tolerances:
            if not 0 < v <= 1:
                raise ParameterError(f"quality parameter {name} must lie in (0, 1], got {v!r}")
        for k, v in self.rule_weights.items():
            if not v >= 0:
                raise ParameterError(
                    f"quality parameter rule_weights[{k!r}] must be >= 0, got {v!r}"
                )
        if not 0 <= self.amber_at <= self.green_at <= 100:
            raise ParameterError(
                "quality parameters need 0 <= amber_at <= green_at <= 100, got "
                f"amber_at={self.amber_at!r}, green_at={self.green_at!r}"
            )
        if self.worst_rules < 0:
            raise ParameterError(
                f"quality parameter worst_rules must be >= 0, got {self.worst_rules!r}"
            )

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, source: str = "quality") -> QualityParams:
        """Parameters from a mapping of name -> number (keys left out keep their default).

        Parameters
        ----------
        raw
            Parameter name -> value, e.g. the content of ``params/quality.yaml``.
        source
            Where the mapping came from, named in error messages.

        Raises
        ------
        ParameterError
            On an unknown name or a value that is not a number.
        """
        if not isinstance(raw, Mapping):
            raise ParameterError(
                f"{source}: expected a mapping of parameter -> value, got {type(raw).__name__}"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ParameterError(
                f"{source}: unknown quality parameter(s) {unknown}; known: {sorted(known)}"
            )
        out: dict[str, Any] = {}
        for k, v in raw.items():
            if k in _PER_RULE:
                if v is None:
                    v = {}
                if not isinstance(v, Mapping):
                    raise ParameterError(
                        f"{source}: parameter {k!r} must map rule keys to numbers, got {v!r}"
                    )
                out[k] = {str(rk): _number(source, f"{k}[{rk!r}]", rv) for rk, rv in v.items()}
                continue
            default = getattr(cls, k)
            v = _number(source, k, v)
            out[k] = (
                type(default)(v) if isinstance(default, int) and float(v).is_integer() else float(v)
            )
        return cls(**out)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str] = "quality") -> QualityParams:
        """Read parameters from a parameter file (by name, default ``quality``, or path).

        The file is found and read by :func:`crm_analytics.core.config.load_params`; unknown or
        mistyped keys raise ``ParameterError``.
        """
        try:
            raw = load_params(path)
        except InputError as err:
            raise ParameterError(f"quality parameters: {err}") from err
        return cls.from_mapping(raw, source=str(path))


_PER_RULE = ("rule_tolerances", "rule_weights")


def _number(source: str, name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ParameterError(f"{source}: parameter {name!r} must be a number, got {v!r}")
    return v


def resolve_params(params: QualityParams | None) -> QualityParams:
    """``params`` or the defaults; anything else than a :class:`QualityParams` is an error."""
    if params is None:
        return QualityParams()
    if not isinstance(params, QualityParams):
        raise InputError(
            f"params must be a QualityParams, got {type(params).__name__}; "
            "use QualityParams.from_yaml(path)"
        )
    return params
