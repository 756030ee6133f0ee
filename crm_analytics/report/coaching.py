"""Coaching action plans: each item of the earlier rounds reviewed, and the next round's plan.

The deck's coaching runs in rounds (slide 48): a round agrees an action plan (the gap, the
action, its owner and due date), and the next round reviews how each action went and agrees new
ones. A dealer's items live in its parameter file under ``coaching``
(:data:`crm_analytics.core.config.ACTION_FIELDS`, read into ``Settings.action_plan``).

:func:`review_action_plan` sets each item's KPI at the round (the ``baseline`` recorded with
the item, else the KPI in the previous round's period) beside the KPI now (the analysis
period), with the change, its 95 % interval, whether the item's target is reached, whether the
action is overdue, and a one-word verdict. Every value is the analysis's own
(:class:`~crm_analytics.report.analysis.DealerAnalysis` ``metrics`` and its period comparison
``sections["change"]``): nothing is recomputed here.

:func:`next_action_plan` turns the report's summary items (the biggest gaps in yuan with their
actions, :func:`crm_analytics.report.sections.summary_items`) into the next round's items, in
the same schema, so a consultant can paste them into the dealer's file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from crm_analytics.core.config import is_rate
from crm_analytics.report.analysis import DealerAnalysis
from crm_analytics.report.headline import KPI_KEYS, LOWER_IS_BETTER

__all__ = [
    "ACTION_PLAN_FILE",
    "NEXT_DUE_DAYS",
    "REVIEW_COLUMNS",
    "VERDICTS",
    "kpi_values",
    "next_action_plan",
    "review_action_plan",
]

#: The next round's proposed plan of a dealer in a run folder:
#: ``<run>/<dealer>/action_plan_next.yaml`` (the ``coaching`` key of a dealer file).
ACTION_PLAN_FILE = "action_plan_next.yaml"
#: Normal quantile of a two-sided 95 % interval.
Z95 = 1.959963984540054
#: Days after the round an action of the next plan falls due when its call list gives no
#: later due date (a point-of-sale action, or a list whose calls are already due).
NEXT_DUE_DAYS = 30
#: The one-word verdicts, best first: the target is reached; the KPI moved the right or the
#: wrong way beyond its 95 % interval (by the sign alone where no interval is known); it did
#: not move beyond chance; a value is missing.
VERDICTS: tuple[str, ...] = ("reached", "improved", "unchanged", "worse", "no_data")
#: Columns of :func:`review_action_plan`.
REVIEW_COLUMNS: tuple[str, ...] = (
    "round",
    "kpi",
    "action",
    "owner",
    "due",
    "status",
    "baseline",
    "baseline_source",
    "now",
    "change",
    "ci_low",
    "ci_high",
    "target",
    "reached",
    "overdue",
    "verdict",
)


def _num(v: Any) -> float:
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def _wald(before: float, n_before: float, after: float, n_after: float) -> tuple[float, float]:
    """95 % Wald interval of ``after - before`` for two shares with their denominators
    (``n_before`` NaN: ``before`` taken as exact); NaN without ``n_after``."""
    if not n_after > 0:
        return math.nan, math.nan
    var = after * (1.0 - after) / n_after
    if n_before > 0:
        var += before * (1.0 - before) / n_before
    d, half = after - before, Z95 * math.sqrt(var)
    return (d - half, d + half) if math.isfinite(d + half) else (math.nan, math.nan)


def kpi_values(a: DealerAnalysis) -> dict[str, dict[str, float]]:
    """Each KPI of the analysis in the previous round's period and in the period.

    ``{kpi: {"before", "after", "n_before", "n_after", "ci_low", "ci_high"}}``: the headline
    KPIs from ``a.metrics`` (shares with their bases, 95 % Wald interval of the change), the
    showroom funnel's from the period comparison ``a.sections["change"]`` (its own intervals:
    Newcombe for rates, Welch for means).
    """
    m = a.metrics
    prev = m.get("comparison", {})
    out: dict[str, dict[str, float]] = {}
    for k in KPI_KEYS:
        row = {
            "before": _num(prev.get("kpis", {}).get(k)),
            "after": _num(m["kpis"].get(k)),
            "n_before": _num(prev.get("volumes", {}).get(f"base.{k}")),
            "n_after": _num(m["volumes"].get(f"base.{k}")),
        }
        lo, hi = math.nan, math.nan
        if is_rate(k) and math.isfinite(row["n_before"]):
            lo, hi = _wald(row["before"], row["n_before"], row["after"], row["n_after"])
        out[k] = {**row, "ci_low": lo, "ci_high": hi}
    change = a.sections.get("change")
    if isinstance(change, pd.DataFrame):
        for r in change.itertuples(index=False):
            out[str(r.kpi)] = {
                "before": _num(r.value_before),
                "after": _num(r.value_after),
                "n_before": _num(r.n_before),
                "n_after": _num(r.n_after),
                "ci_low": _num(r.ci_low),
                "ci_high": _num(r.ci_high),
            }
    return out


def _higher_is_better(a: DealerAnalysis, kpi: str) -> bool:
    return bool(a.settings.higher_is_better.get(kpi, kpi not in LOWER_IS_BETTER))


def _verdict(change: float, lo: float, hi: float, reached: bool | None, higher: bool) -> str:
    if not math.isfinite(change):
        return "no_data"
    if reached:
        return "reached"
    better = change if higher else -change
    if math.isfinite(lo) and math.isfinite(hi) and lo <= 0 <= hi:
        return "unchanged"
    if better > 0:
        return "improved"
    return "worse" if better < 0 else "unchanged"


def _review_row(
    a: DealerAnalysis, item: Mapping[str, Any], values: Mapping[str, Mapping[str, float]]
) -> dict[str, Any]:
    kpi = str(item["kpi"])
    v = values.get(kpi, {})
    now = _num(v.get("after"))
    recorded = item.get("baseline") is not None
    if recorded:
        baseline = float(item["baseline"])
        # the recorded share carries the sampling error of the previous round's volume
        lo, hi = (
            _wald(baseline, _num(v.get("n_before")), now, _num(v.get("n_after")))
            if is_rate(kpi)
            else (math.nan, math.nan)
        )
    else:
        baseline, lo, hi = _num(v.get("before")), _num(v.get("ci_low")), _num(v.get("ci_high"))
    change = now - baseline
    higher = _higher_is_better(a, kpi)
    target = _num(item.get("target"))
    reached = None
    if math.isfinite(target) and math.isfinite(now):
        reached = bool(now >= target if higher else now <= target)
    due = pd.Timestamp(item["due"])
    return {
        "round": pd.Timestamp(item["round"]),
        "kpi": kpi,
        "action": str(item["action"]),
        "owner": str(item["owner"]),
        "due": due,
        "status": str(item.get("status") or "open"),
        "baseline": baseline,
        "baseline_source": "recorded" if recorded else "previous_round",
        "now": now,
        "change": change,
        "ci_low": lo,
        "ci_high": hi,
        "target": target,
        "reached": reached,
        "overdue": bool(item.get("status", "open") == "open" and due < a.dealer.as_of),
        "verdict": _verdict(change, lo, hi, reached, higher),
    }


def review_action_plan(a: DealerAnalysis) -> pd.DataFrame:
    """Each action-plan item agreed before the end of the analysis period, reviewed.

    Columns :data:`REVIEW_COLUMNS`: the item (``round``, ``kpi``, ``action``, ``owner``,
    ``due``, ``status``, ``target``), ``baseline`` (the value recorded with the item, else the
    KPI in the previous round's period: ``baseline_source`` is ``recorded`` or
    ``previous_round``), ``now`` (the KPI in the analysis period), ``change`` (now - baseline;
    a share's change is a difference of shares, shown in percentage points) with its 95 %
    interval (``ci_low``, ``ci_high``: the period comparison's for a previous-round baseline;
    for a recorded share, the Wald interval of the difference of two shares, the recorded one
    on the previous round's volume; NaN for a recorded KPI in yuan, days or minutes), ``reached`` (the target, in the KPI's
    direction; None without one), ``overdue`` (open and due before the data date) and
    ``verdict`` (:data:`VERDICTS`). Latest round first, items of a round in the file's order.
    ``attrs["later"]`` counts the items agreed on or after the period's end (nothing to review
    yet).
    """
    end = pd.Timestamp(a.period[1])
    plan = list(a.settings.action_plan)
    due = [x for x in plan if pd.Timestamp(x["round"]) < end]
    values = kpi_values(a) if due else {}
    rows = [_review_row(a, item, values) for item in due]
    out = pd.DataFrame(rows, columns=list(REVIEW_COLUMNS))
    out = out.sort_values("round", ascending=False, kind="stable").reset_index(drop=True)
    out.attrs["later"] = len(plan) - len(due)
    return out


def _rounded(kpi: str, v: Any) -> float | None:
    x = _num(v)
    if not math.isfinite(x):
        return None
    return round(x, 4) if is_rate(kpi) else round(x, 1)


def next_action_plan(a: DealerAnalysis, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The next round's action plan from the report's summary items
    (:func:`crm_analytics.report.sections.summary_items`): one item per gap, agreed at the
    data date (``round``), its KPI, the KPI now (``baseline``), the target or peer median the
    gap was priced against (``target``), the gap in yuan, the summary's action sentence, its
    owner role and due date (at the latest call of its list, or :data:`NEXT_DUE_DAYS` after
    the round when the list gives none later than the round), status ``open``. The items have
    the fields of the ``coaching`` key of a dealer file
    (:data:`crm_analytics.core.config.ACTION_FIELDS`)."""
    as_of = pd.Timestamp(a.dealer.as_of).normalize()
    plan = []
    for it in items:
        due = pd.Timestamp(it["due"]) if it.get("due") is not None else None
        if due is None or due <= as_of:
            due = as_of + pd.Timedelta(days=NEXT_DUE_DAYS)
        kpi = str(it["kpi"])
        action = str(it["action"])
        plan.append(
            {
                "round": as_of.date().isoformat(),
                "kpi": kpi,
                "action": action[:1].upper() + action[1:],
                "owner": str(it["owner"]),
                "due": due.date().isoformat(),
                "status": "open",
                "baseline": _rounded(kpi, it.get("actual")),
                "target": _rounded(kpi, it.get("reference")),
                "gap_yuan": round(float(it["gap_yuan"])),
            }
        )
    return plan
