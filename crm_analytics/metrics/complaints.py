"""Complaint handling: counts by category and stage, time to first response and to resolution
against the service levels, reopen rate, and retention after a resolved or unresolved
complaint.

The service levels and the retention window are the ``complaints`` block of
``params/lifecycle.yaml`` (``Settings.section("lifecycle")["complaints"]``); the functions take
them as keyword options.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics.core.errors import InputError, InsufficientDataError
from crm_analytics.core.frames import isin
from crm_analytics.core.schema import COMPLAINT_CATEGORIES, COMPLAINT_STAGES
from crm_analytics.metrics.funnel import Z95, newcombe_interval, wilson_interval

__all__ = ["complaint_counts", "complaint_handling", "complaint_retention"]

_NEEDED = ("complaint_id", "customer_id", "category", "stage", "opened_at")


def _check(complaints: pd.DataFrame, needed: tuple[str, ...]) -> None:
    missing = [c for c in needed if c not in complaints.columns]
    if missing:
        raise InputError(
            f"table complaints is missing column(s) {missing}; map the DMS export's complaint "
            "file headers in params/dms_mapping.yaml (complaints)"
        )


def complaint_counts(complaints: pd.DataFrame) -> pd.DataFrame:
    """Complaints by category (rows) and stage (columns), with totals.

    Parameters
    ----------
    complaints
        The complaints table.

    Returns
    -------
    pandas.DataFrame
        Index: the categories and ``total``; columns: the stages and ``total``. Every known
        category and stage appears, zeros included.
    """
    _check(complaints, _NEEDED)
    t = pd.crosstab(complaints["category"], complaints["stage"])
    t = t.reindex(index=list(COMPLAINT_CATEGORIES), columns=list(COMPLAINT_STAGES), fill_value=0)
    t["total"] = t.sum(axis=1)
    t.loc["total"] = t.sum(axis=0)
    t.index.name, t.columns.name = "category", "stage"
    return t


def complaint_handling(
    complaints: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str,
    first_response_hours: float,
    resolution_days: float,
    by: str | None = "category",
    z: float = Z95,
) -> pd.DataFrame:
    """Time to first response and to resolution against the service levels, and reopen rate.

    A complaint meets a service level when answered (resolved) within it; it misses it when
    answered late or not answered once the level has run out by ``as_of``; a complaint still
    inside its window without an answer is not yet judged.

    Parameters
    ----------
    complaints
        The complaints table (``opened_at, first_response_at, resolved_at, reopened``).
    as_of
        The data date.
    first_response_hours, resolution_days
        The service levels (``params/lifecycle.yaml``, ``complaints``).
    by
        ``category``, ``stage``, ``staff_id`` or ``None``; a last row ``all`` is added.
    z
        Normal quantile of the Wilson intervals.

    Returns
    -------
    pandas.DataFrame
        One row per group: ``complaints, median_response_hours, response_sla_met,
        response_sla_judged, response_sla_rate, median_resolution_days, resolution_sla_met,
        resolution_sla_judged, resolution_sla_rate, open, reopened, reopen_rate, reopen_ci_low,
        reopen_ci_high`` (reopen rate among resolved complaints).
    """
    _check(complaints, (*_NEEDED, "first_response_at", "resolved_at", "reopened"))
    as_of = pd.Timestamp(as_of)
    c = complaints.copy()
    opened = pd.to_datetime(c["opened_at"])
    resp_h = (pd.to_datetime(c["first_response_at"]) - opened).dt.total_seconds() / 3600.0
    res_d = (pd.to_datetime(c["resolved_at"]) - opened).dt.total_seconds() / 86400.0
    elapsed_h = (as_of - opened).dt.total_seconds() / 3600.0
    c["resp_h"], c["res_d"] = resp_h, res_d
    c["resp_met"] = resp_h <= first_response_hours
    c["resp_judged"] = c["resp_met"] | (elapsed_h > first_response_hours)
    c["res_met"] = res_d <= resolution_days
    c["res_judged"] = c["res_met"] | (elapsed_h > 24.0 * resolution_days)
    c["resolved"] = res_d.notna()
    c["reopened"] = c["reopened"].astype(bool)
    groups = [("all", c)] if by is None else [*c.groupby(by, observed=True), ("all", c)]
    rows = []
    for key, g in groups:
        rows.append(
            {
                by or "group": key,
                "complaints": len(g),
                "median_response_hours": g["resp_h"].median(),
                "response_sla_met": int(g["resp_met"].sum()),
                "response_sla_judged": int(g["resp_judged"].sum()),
                "median_resolution_days": g["res_d"].median(),
                "resolution_sla_met": int(g["res_met"].sum()),
                "resolution_sla_judged": int(g["res_judged"].sum()),
                "open": int((~g["resolved"]).sum()),
                "resolved": int(g["resolved"].sum()),
                "reopened": int((g["reopened"] & g["resolved"]).sum()),
            }
        )
    out = pd.DataFrame(rows)
    for kind in ("response", "resolution"):
        judged = out[f"{kind}_sla_judged"]
        out[f"{kind}_sla_rate"] = out[f"{kind}_sla_met"] / judged.where(judged > 0)
    out["reopen_rate"] = out["reopened"] / out["resolved"].where(out["resolved"] > 0)
    out["reopen_ci_low"], out["reopen_ci_high"] = wilson_interval(
        out["reopened"], out["resolved"], z=z
    )
    return out


def complaint_retention(
    complaints: pd.DataFrame,
    service_visits: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str,
    retention_horizon_days: float = 365.0,
    z: float = Z95,
) -> pd.DataFrame:
    """Retention after a complaint: the share of complainers with a service visit within the
    window after their complaint, resolved against unresolved.

    Each customer's first complaint counts, if opened at least ``retention_horizon_days``
    before ``as_of`` (so the window is complete) and after the first recorded service visit
    (so the service history covers the window); resolved means resolved by ``as_of``.

    Parameters
    ----------
    complaints, service_visits
        The complaints and service-visits tables.
    as_of
        The data date.
    retention_horizon_days
        The window (``params/lifecycle.yaml``, ``complaints``).
    z
        Normal quantile of the intervals.

    Returns
    -------
    pandas.DataFrame
        Rows ``resolved``, ``unresolved`` (``complainers, retained, retention, ci_low,
        ci_high``) and ``difference`` (unresolved minus resolved, Newcombe interval).

    Raises
    ------
    InsufficientDataError
        If either group is empty.
    """
    _check(complaints, (*_NEEDED, "resolved_at"))
    as_of = pd.Timestamp(as_of)
    horizon = pd.Timedelta(days=retention_horizon_days)
    c = complaints.sort_values("opened_at", kind="stable").drop_duplicates("customer_id")
    start = pd.to_datetime(service_visits["at"]).min()
    c = c[(c["opened_at"] <= as_of - horizon) & (c["opened_at"] >= start)]
    sv = service_visits[["customer_id", "at"]].merge(
        c[["customer_id", "opened_at"]], on="customer_id"
    )
    hit = sv[(sv["at"] > sv["opened_at"]) & (sv["at"] <= sv["opened_at"] + horizon)]
    retained = isin(c["customer_id"], hit["customer_id"])
    resolved = c["resolved_at"].notna().to_numpy()
    k = np.array([retained[resolved].sum(), retained[~resolved].sum()], dtype=float)
    n = np.array([resolved.sum(), (~resolved).sum()], dtype=float)
    if (n == 0).any():
        raise InsufficientDataError(
            "table complaints: retention after complaints needs resolved and unresolved "
            f"complaints opened at least {retention_horizon_days:g} days before {as_of:%Y-%m-%d} "
            f"(found {int(n[0])} resolved, {int(n[1])} unresolved)"
        )
    lo, hi = wilson_interval(k, n, z=z)
    dlo, dhi = newcombe_interval(k[0], n[0], k[1], n[1], z=z)
    out = pd.DataFrame(
        {
            "group": ["resolved", "unresolved"],
            "complainers": n.astype(int),
            "retained": k.astype(int),
            "retention": k / n,
            "ci_low": lo,
            "ci_high": hi,
        }
    )
    diff = {
        "group": "difference",
        "complainers": int(n.sum()),
        "retained": int(k.sum()),
        "retention": k[1] / n[1] - k[0] / n[0],
        "ci_low": float(dlo),
        "ci_high": float(dhi),
    }
    return pd.concat([out, pd.DataFrame([diff])], ignore_index=True)
