"""Headline metrics of a dealer, the network benchmark, gaps in yuan, metrics JSON files.

The executive summary of a dealer's report answers "where is the money?": for each KPI the
shortfall against the dealer's target and against the peer median is turned into yuan with the
deck's profit formula (volume x penetration x unit gross margin, slides 14-21). This module
computes the few headline KPIs the summary needs from the validated tables; the analysis modules
(funnel, penetration, lifecycle, ...) give the detailed diagnostics shown further down.

Every function is pure; :func:`write_json` writes atomically (temp file + ``os.replace``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..dealer import DealerData
from ..errors import InputError

__all__ = [
    "KPI_KEYS",
    "dealer_metrics",
    "gaps_in_yuan",
    "kpi_table",
    "network_benchmark",
    "period_kpis",
    "read_json",
    "read_run_metrics",
    "resolve_periods",
    "write_json",
]

#: Headline KPIs, in the order of the showroom flow then value-added then after-sales.
KPI_KEYS: tuple[str, ...] = (
    "visit_rate",
    "test_drive_rate",
    "close_rate",
    "finance_penetration",
    "insurance_penetration",
    "extended_warranty_penetration",
    "trade_in_penetration",
    "accessories_per_car",
    "service_retention",
    "insurance_renewal_rate",
    "quarantine_share",
)
#: KPIs where lower is better.
LOWER_IS_BETTER: frozenset[str] = frozenset({"quarantine_share"})

_ITEMS = {
    "finance_penetration": ("finance", "finance_margin"),
    "insurance_penetration": ("insurance", "insurance_margin"),
    "extended_warranty_penetration": ("extended_warranty", "extended_warranty_margin"),
    "trade_in_penetration": ("trade_in", "trade_in_margin"),
}
_MARGINS = (
    "vehicle_margin",
    "finance_margin",
    "insurance_margin",
    "accessories_margin",
    "extended_warranty_margin",
    "trade_in_margin",
)
_DAY = pd.Timedelta(days=1)


def _ratio(num: float, den: float) -> float:
    """num / den, NaN (not a warning) when the denominator is zero."""
    return float(num) / float(den) if den else math.nan


def _mean(s: pd.Series) -> float:
    return float(s.mean()) if len(s) else math.nan


def resolve_periods(
    as_of: pd.Timestamp,
    period: tuple[str, str] | None = None,
    comparison: tuple[str, str] | None = None,
) -> tuple[tuple[pd.Timestamp, pd.Timestamp], tuple[pd.Timestamp, pd.Timestamp]]:
    """Analysis and comparison periods as inclusive (start, end) dates.

    Defaults: the 12 months ending at ``as_of``; the comparison period is the same number of
    days just before the analysis period (the previous coaching round).
    """
    as_of = pd.Timestamp(as_of).normalize()
    if period:
        start, end = pd.Timestamp(period[0]), pd.Timestamp(period[1])
    else:
        end = as_of
        start = end - pd.DateOffset(years=1) + _DAY
    if start > end:
        raise InputError(f"period start {start.date()} is after its end {end.date()}")
    if comparison:
        cstart, cend = pd.Timestamp(comparison[0]), pd.Timestamp(comparison[1])
    else:
        cend = start - _DAY
        cstart = cend - (end - start)
    return (start, end), (cstart, cend)


def _within(s: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    return (s >= start) & (s < end + _DAY)


def period_kpis(
    dealer: DealerData, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Headline KPIs of one period with the volumes and unit margins that price them.

    Definitions (leads created in the period form the cohort; deliveries, service visits and
    policies are counted by their own dates):

    * ``visit_rate`` = cohort leads with a showroom visit / cohort leads
    * ``test_drive_rate`` = visited leads with a test drive / visited leads
    * ``close_rate`` = visited leads won / visited leads
    * ``<item>_penetration`` = deliveries with the item / deliveries
    * ``accessories_per_car`` = accessories revenue / deliveries (yuan)
    * ``service_retention`` = vehicles sold here (bought before the last 12 months of the period)
      with a service visit in those 12 months / such vehicles
    * ``insurance_renewal_rate`` = renewal policy years starting in the period that this dealer
      sold / renewal policy years starting in the period
    * ``quarantine_share`` = rows quarantined at the boundary / rows read (whole extract)

    Returns
    -------
    kpis, volumes, unit_margins : dict
        Zero denominators give NaN.
    """
    leads = dealer.leads
    cohort = leads.loc[_within(leads["created_at"], start, end)]
    tp = dealer.touchpoints
    tp = tp.loc[tp["lead_id"].isin(cohort["lead_id"])]
    visited = set(tp.loc[tp["kind"] == "visit", "lead_id"])
    drove = set(tp.loc[tp["kind"] == "test_drive", "lead_id"])
    v_leads = cohort.loc[cohort["lead_id"].isin(visited)]
    n_leads, n_visited = len(cohort), len(v_leads)
    n_drive = int(v_leads["lead_id"].isin(drove).sum())
    n_won = int((v_leads["status"] == "won").sum())

    orders = dealer.orders
    deliv = orders.loc[
        (orders["status"] == "delivered") & _within(orders["delivered_at"], start, end)
    ]
    n_deliv = len(deliv)
    kpis: dict[str, float] = {
        "visit_rate": _ratio(n_visited, n_leads),
        "test_drive_rate": _ratio(n_drive, n_visited),
        "close_rate": _ratio(n_won, n_visited),
    }
    unit: dict[str, float] = {"gross_per_deal": _mean(deliv[list(_MARGINS)].sum(axis=1))}
    for key, (flag, margin) in _ITEMS.items():
        kpis[key] = _ratio(int(deliv[flag].sum()), n_deliv)
        unit[key] = _mean(deliv.loc[deliv[flag], margin])
    kpis["accessories_per_car"] = _ratio(float(deliv["accessories_amount"].sum()), n_deliv)
    unit["accessories_per_car"] = _ratio(
        float(deliv["accessories_margin"].sum()), float(deliv["accessories_amount"].sum())
    )
    unit["close_rate"] = unit["gross_per_deal"]
    unit["visit_rate"] = kpis["close_rate"] * unit["gross_per_deal"] if n_visited else math.nan

    # after-sales retention over the last 12 months of the period
    w_start = max(start, end - pd.DateOffset(years=1) + _DAY)
    veh = dealer.vehicles
    park = veh.loc[veh["sold_by_this_dealer"] & (veh["purchase_date"] < w_start)]
    sv = dealer.service_visits
    sv_w = sv.loc[_within(sv["at"], w_start, end)]
    retained = park["vin"].isin(set(sv_w["vin"]))
    n_park, n_ret = len(park), int(retained.sum())
    kpis["service_retention"] = _ratio(n_ret, n_park)
    years = ((end - w_start).days + 1) / 365.25
    margin_ret = float(sv_w.loc[sv_w["vin"].isin(set(park.loc[retained, "vin"])), "margin"].sum())
    period_years = ((end - start).days + 1) / 365.25
    unit["service_retention"] = (
        _ratio(margin_ret, n_ret * years) * period_years if n_ret else math.nan
    )

    pol = dealer.insurance_policies
    ren = pol.loc[pol["renewal"] & _within(pol["start"], start, end)]
    kpis["insurance_renewal_rate"] = _ratio(int(ren["sold_by_this_dealer"].sum()), len(ren))
    unit["insurance_renewal_rate"] = _mean(ren.loc[ren["sold_by_this_dealer"], "margin"])

    rows_in = (
        sum(dealer.rows_in.values())
        if dealer.rows_in
        else sum(len(t) for t in dealer.tables.values())
    )
    q = dealer.quarantine
    n_q = int(q.drop_duplicates(["table", "row_id"]).shape[0]) if len(q) else 0
    kpis["quarantine_share"] = _ratio(n_q, rows_in)

    volumes: dict[str, float] = {
        "leads": n_leads,
        "visited": n_visited,
        "test_drive": n_drive,
        "won": n_won,
        "delivered": n_deliv,
        "vehicles_in_park": n_park,
        "retained_vehicles": n_ret,
        "service_visits": int(_within(sv["at"], start, end).sum()),
        "service_margin": float(sv.loc[_within(sv["at"], start, end), "margin"].sum()),
        "renewal_policies": len(ren),
        "gross_profit_new_cars": float(deliv[list(_MARGINS)].sum(axis=1).sum()),
        "rows_in": rows_in,
        "rows_quarantined": n_q,
    }
    # the base each KPI's shortfall is multiplied by
    base = {
        "visit_rate": n_leads,
        "close_rate": n_visited,
        "accessories_per_car": n_deliv,
        "service_retention": n_park,
        "insurance_renewal_rate": len(ren),
        **{k: n_deliv for k in _ITEMS},
    }
    volumes.update({f"base.{k}": float(v) for k, v in base.items()})
    return kpis, volumes, unit


def _list_sizes(dealer: DealerData) -> dict[str, int]:
    """Sizes of the standing call lists at the as-of date (the deck's daily list screening)."""
    as_of = dealer.as_of.normalize() + _DAY  # events on the as-of day count
    leads, tp = dealer.leads, dealer.touchpoints
    last = tp.dropna(subset=["lead_id"]).groupby("lead_id")["at"].max()
    open_ = leads.loc[leads["status"] == "open"]
    stale = open_["lead_id"].map(last).fillna(open_["created_at"])
    pol = dealer.insurance_policies
    veh = dealer.vehicles
    sv = dealer.service_visits
    recent = set(sv.loc[sv["at"] >= as_of - pd.DateOffset(years=1), "vin"])
    own = veh.loc[
        veh["sold_by_this_dealer"] & (veh["purchase_date"] < as_of - pd.DateOffset(years=1))
    ]
    defeated = leads.loc[
        (leads["status"] == "defeated") & (leads["closed_at"] >= as_of - pd.Timedelta(days=90))
    ]
    return {
        "open_leads_no_contact_7d": int((stale < as_of - pd.Timedelta(days=7)).sum()),
        "insurance_expiring_60d": int(
            ((pol["end"] >= as_of) & (pol["end"] < as_of + pd.Timedelta(days=60))).sum()
        ),
        "warranty_expiring_90d": int(
            (
                (veh["warranty_end"] >= as_of)
                & (veh["warranty_end"] < as_of + pd.Timedelta(days=90))
            ).sum()
        ),
        "dormant_owners_12m": int((~own["vin"].isin(recent)).sum()),
        "defeated_last_90d": len(defeated),
    }


def _clean(obj: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN/inf to None, keys to str."""
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    return obj


def dealer_metrics(
    dealer: DealerData,
    *,
    period: tuple[str, str] | None = None,
    comparison_period: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Everything the report's summary and the network notebook need, JSON-serialisable.

    Returns
    -------
    dict
        ``dealer`` (identity), ``period`` / ``comparison_period`` (ISO dates), ``kpis``,
        ``volumes``, ``unit_margins`` (yuan per unit of each KPI's base), ``comparison``
        (``kpis`` and ``volumes`` of the comparison period), ``list_sizes``. Missing values
        (zero denominators) are ``None``.
    """
    (s, e), (cs, ce) = resolve_periods(dealer.as_of, period, comparison_period)
    kpis, vols, unit = period_kpis(dealer, s, e)
    ckpis, cvols, _ = period_kpis(dealer, cs, ce)
    return _clean(
        {
            "dealer": dealer.meta,
            "period": [s.date().isoformat(), e.date().isoformat()],
            "comparison_period": [cs.date().isoformat(), ce.date().isoformat()],
            "kpis": kpis,
            "volumes": vols,
            "unit_margins": unit,
            "comparison": {"kpis": ckpis, "volumes": cvols},
            "list_sizes": _list_sizes(dealer),
        }
    )


def network_benchmark(metrics: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Peer medians (and quartiles) of every KPI over the given dealers' metrics.

    Returns ``{"n_dealers": n, "dealers": [...], "median": {kpi: v}, "q1": {...}, "q3": {...}}``.
    """
    rows = {m["dealer"]["dealer_id"]: m["kpis"] for m in metrics}
    frame = pd.DataFrame.from_dict(rows, orient="index", dtype=float).reindex(columns=KPI_KEYS)
    return _clean(
        {
            "n_dealers": len(frame),
            "dealers": sorted(rows),
            "median": frame.median().to_dict(),
            "q1": frame.quantile(0.25).to_dict(),
            "q3": frame.quantile(0.75).to_dict(),
        }
    )


def kpi_table(
    metrics: Mapping[str, Any],
    *,
    targets: Mapping[str, float] | None = None,
    benchmark: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """One row per KPI: ``actual``, ``target``, ``peer`` (median), ``previous`` (comparison
    period) and ``change`` (actual - previous)."""
    targets = targets or {}
    peer = (benchmark or {}).get("median", {})
    prev = metrics.get("comparison", {}).get("kpis", {})
    rows = []
    for k in KPI_KEYS:
        rows.append(
            {
                "kpi": k,
                "actual": metrics["kpis"].get(k),
                "target": targets.get(k),
                "peer": peer.get(k),
                "previous": prev.get(k),
            }
        )
    out = pd.DataFrame(rows).set_index("kpi").astype(float)
    out["change"] = out["actual"] - out["previous"]
    return out


def gaps_in_yuan(
    metrics: Mapping[str, Any],
    *,
    targets: Mapping[str, float] | None = None,
    benchmark: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Shortfalls against target and peer median, priced in yuan for the period, largest first.

    ``gap_yuan = (reference - actual) x base x unit_margin``: e.g. a finance penetration of 42 %
    against a 55 % target on 300 deliveries at 1,900 yuan per financed car is
    0.13 x 300 x 1,900 = 74,100 yuan. Only shortfalls are listed (a KPI at or above its
    reference has no gap); KPIs that no margin prices (test-drive rate, data quality) are left
    out.

    Returns
    -------
    DataFrame
        Columns ``kpi``, ``against`` (``target`` / ``peer``), ``actual``, ``reference``,
        ``shortfall``, ``base``, ``unit_margin``, ``gap_yuan``.
    """
    refs: list[tuple[str, Mapping[str, Any]]] = [
        ("target", targets or {}),
        ("peer", (benchmark or {}).get("median", {})),
    ]
    unit = metrics.get("unit_margins", {})
    vols = metrics.get("volumes", {})
    rows = []
    for against, ref in refs:
        for k in KPI_KEYS:
            a, r, u = metrics["kpis"].get(k), ref.get(k), unit.get(k)
            b = vols.get(f"base.{k}")
            if None in (a, r, u, b) or k in LOWER_IS_BETTER:
                continue
            short = float(r) - float(a)
            if short <= 0 or not math.isfinite(short):
                continue
            gap = short * float(b) * float(u)
            if gap > 0:
                rows.append(
                    {
                        "kpi": k,
                        "against": against,
                        "actual": float(a),
                        "reference": float(r),
                        "shortfall": short,
                        "base": float(b),
                        "unit_margin": float(u),
                        "gap_yuan": gap,
                    }
                )
    cols = ["kpi", "against", "actual", "reference", "shortfall", "base", "unit_margin", "gap_yuan"]
    return (
        pd.DataFrame(rows, columns=cols)
        .sort_values(["gap_yuan", "kpi"], ascending=[False, True], kind="mergesort")
        .reset_index(drop=True)
    )


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write JSON atomically: a temp file in the same folder, then ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(_clean(obj), fh, ensure_ascii=False, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; ``None`` when it is missing or unreadable (a half-written file cannot
    exist: writes are atomic, but a file from elsewhere may be corrupt)."""
    try:
        with Path(path).open(encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def read_run_metrics(run_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The KPIs and volumes of every successfully reported dealer of a run folder.

    One row per dealer (``<run_dir>/<dealer>/metrics.json`` with ``status == "ok"``): identity,
    every KPI, the headline volumes and list sizes. Empty frame when none.
    """
    rows = []
    for f in sorted(Path(run_dir).glob("*/metrics.json")):
        doc = read_json(f)
        if not doc or doc.get("status") != "ok" or "metrics" not in doc:
            continue
        m = doc["metrics"]
        row = {**m["dealer"]}
        row.update(m["kpis"])
        row.update({k: v for k, v in m["volumes"].items() if not k.startswith("base.")})
        row.update({f"list.{k}": v for k, v in m.get("list_sizes", {}).items()})
        row["report"] = doc.get("report", "")
        rows.append(row)
    return pd.DataFrame(rows)


def consultant_table(dealer: DealerData, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Leads, visits and wins per sales consultant for leads created in the period.

    Columns ``consultant`` (staff name, or the id when the staff table lacks it), ``leads``,
    ``visited``, ``won``, ``close_rate`` (won / visited, NaN without visits); sorted by wins.
    """
    leads = dealer.leads
    cohort = leads.loc[_within(leads["created_at"], pd.Timestamp(start), pd.Timestamp(end))]
    tp = dealer.touchpoints
    visited = set(
        tp.loc[(tp["kind"] == "visit") & tp["lead_id"].isin(cohort["lead_id"]), "lead_id"]
    )
    c = cohort.assign(
        visited=cohort["lead_id"].isin(visited),
        won=(cohort["status"] == "won") & cohort["lead_id"].isin(visited),
        consultant_id=cohort["consultant_id"].fillna("(unassigned)"),
    )
    g = c.groupby("consultant_id").agg(
        leads=("lead_id", "size"), visited=("visited", "sum"), won=("won", "sum")
    )
    g["close_rate"] = g["won"] / g["visited"].where(g["visited"] > 0)
    names = (
        dealer.staff.set_index("staff_id")["name"] if len(dealer.staff) else pd.Series(dtype=str)
    )
    g.index = [str(names.get(i, i)) for i in g.index]
    return g.rename_axis("consultant").sort_values(["won", "leads"], ascending=False).reset_index()


def monthly_leads(dealer: DealerData, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Leads created per month and channel in the period (columns ``month``, ``channel``,
    ``count``)."""
    leads = dealer.leads
    sel = leads.loc[_within(leads["created_at"], pd.Timestamp(start), pd.Timestamp(end))]
    month = sel["created_at"].dt.to_period("M").dt.to_timestamp()
    counts = sel.assign(month=month).groupby(["month", "channel"]).size()
    months = pd.date_range(
        pd.Timestamp(start).to_period("M").to_timestamp(),
        pd.Timestamp(end).to_period("M").to_timestamp(),
        freq="MS",
    )
    from ..schema import CHANNELS

    grid = pd.MultiIndex.from_product([months, list(CHANNELS)], names=["month", "channel"])
    return counts.reindex(grid, fill_value=0).rename("count").reset_index()


def channel_summary(dealer: DealerData, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Per lead channel in the period: leads, wins, spend, cost per lead and per win.

    Spend is the ``channel_costs`` of the months overlapping the period; ratios with a zero
    denominator are NaN. Sorted by leads.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    leads = dealer.leads
    sel = leads.loc[_within(leads["created_at"], start, end)]
    g = sel.groupby("channel").agg(
        leads=("lead_id", "size"), won=("status", lambda s: int((s == "won").sum()))
    )
    costs = dealer.channel_costs
    month0 = start.to_period("M").to_timestamp()
    c = (
        costs.loc[(costs["month"] >= month0) & (costs["month"] <= end)]
        .groupby("channel")["cost"]
        .sum()
    )
    g = g.join(c.rename("cost"), how="outer").fillna({"leads": 0, "won": 0, "cost": 0.0})
    g["cost_per_lead"] = g["cost"] / g["leads"].where(g["leads"] > 0)
    g["cost_per_win"] = g["cost"] / g["won"].where(g["won"] > 0)
    return g.rename_axis("channel").sort_values("leads", ascending=False).reset_index()
