"""Headline metrics of a dealer, the network benchmark, gaps in yuan, metrics JSON files.

The executive summary of a dealer's report answers "where is the money?": for each KPI the
shortfall against the dealer's target and against the peer median is turned into yuan with the
deck's profit formula (volume x penetration x unit gross margin, slides 14-21). This module
computes the few headline KPIs the summary needs from the validated tables; the analysis modules
(funnel, penetration, lifecycle, ...) give the detailed diagnostics shown further down.

Every function is pure; :func:`write_json` writes atomically (temp file + ``os.replace``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from crm_analytics.actions.call_lists import REASONS, call_lists
from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.core.files import read_json, to_jsonable, write_json
from crm_analytics.core.frames import isin
from crm_analytics.core.schema import CHANNELS
from crm_analytics.metrics.funnel import kpi_tree, wilson_interval
from crm_analytics.metrics.penetration import renewal_penetration, sales_penetration

__all__ = [
    "KPI_KEYS",
    "dealer_metrics",
    "data_start",
    "gaps_in_yuan",
    "kpi_status",
    "kpi_table",
    "load_benchmark",
    "network_benchmark",
    "peers_of",
    "period_kpis",
    "read_json",
    "read_run_metrics",
    "resolve_periods",
    "write_json",
]

#: Headline KPIs, in the order of the showroom flow then value-added then after-sales.
#: One definition each: the funnel rates are :func:`crm_analytics.metrics.funnel.kpi_tree`'s, the
#: penetrations :mod:`crm_analytics.metrics.penetration`'s; only ``service_retention`` (vehicles sold
#: here that came back for service) and ``quarantine_share`` are defined here.
KPI_KEYS: tuple[str, ...] = (
    "visit_rate",
    "test_drive_rate",
    "visit_to_order_rate",
    "finance_penetration",
    "insurance_penetration",
    "extended_warranty_penetration",
    "trade_in_penetration",
    "accessories_per_car",
    "service_retention",
    "insurance_renewal_rate",
    "quarantine_share",
)
#: Headline KPIs that are not shares (yuan per car): no binomial sampling error.
NOT_SHARES: frozenset[str] = frozenset({"accessories_per_car"})
#: Headline KPIs taken from :func:`crm_analytics.metrics.funnel.kpi_tree` (same names there).
FUNNEL_KPIS: tuple[str, ...] = ("visit_rate", "test_drive_rate", "visit_to_order_rate")
#: KPIs where lower is better (the headline's quarantine share; the KPI tree's durations and
#: cancellations).
LOWER_IS_BETTER: frozenset[str] = frozenset(
    {"quarantine_share", "order_cycle_days", "order_to_delivery_days", "order_cancellation_rate"}
)

#: headline KPI -> line of :func:`crm_analytics.metrics.penetration.sales_penetration`
_LINES = {
    "finance_penetration": "finance",
    "insurance_penetration": "insurance",
    "extended_warranty_penetration": "extended_warranty",
    "trade_in_penetration": "trade_in",
}
_DAY = pd.Timedelta(days=1)


def _ratio(num: float, den: float) -> float:
    """num / den, NaN (not a warning) when the denominator is zero."""
    return float(num) / float(den) if den else math.nan


def _num(v: Any) -> float:
    return float(v) if v is not None and pd.notna(v) else math.nan


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
    for name, e in (("period", end), ("comparison_period", cend)):
        if e > as_of:
            raise InputError(
                f"{name} ends {e.date()}, after the data date {as_of.date()}: its last days "
                "are not in the data yet. End it on or before the data date (or set it to "
                "null for the 12 months up to the data date)."
            )
    return (start, end), (cstart, cend)


def data_start(dealer: DealerData) -> pd.Timestamp | None:
    """The day from which the extract records both leads and service visits (the later of
    their first dates; ``None`` when either table is empty). The report's KPIs are built on
    these two streams, so a period that starts earlier is partly without data. (Stray older
    rows, such as a complaint from before the extract, do not count.)"""
    firsts = [dealer.leads["created_at"].min(), dealer.service_visits["at"].min()]
    if any(pd.isna(f) for f in firsts):
        return None
    return max(firsts).normalize()


def _within(s: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    return (s >= start) & (s < end + _DAY)


def period_kpis(
    dealer: DealerData, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Headline KPIs of one period with the volumes and unit margins that price them.

    Definitions (one each, from the analysis modules):

    * ``visit_rate``, ``test_drive_rate``, ``visit_to_order_rate`` (orders / visiting leads,
      the closing ratio): :func:`crm_analytics.metrics.funnel.kpi_tree` on the cohort of leads created
      in the period
    * ``<item>_penetration``, ``accessories_per_car`` (accessories revenue / deliveries, yuan):
      :func:`crm_analytics.metrics.penetration.sales_penetration` (deliveries dated in the period)
    * ``insurance_renewal_rate``: :func:`crm_analytics.metrics.penetration.renewal_penetration`
    * ``service_retention`` = vehicles sold here (bought before the last 12 months of the period)
      with a service visit in those 12 months / such vehicles (NaN when those 12 months start
      before the extract's first service record)
    * ``quarantine_share`` = rows quarantined at the boundary / rows read (whole extract)

    Returns
    -------
    kpis, volumes, unit_margins : dict
        Zero denominators give NaN.
    """
    period = (pd.Timestamp(start), pd.Timestamp(end))
    tree = kpi_tree(dealer, period=period).set_index("kpi")["value"]
    n_leads = _num(tree.get("lead_count", 0.0))
    n_visited = _num(tree.get("visit_count", 0.0))
    n_drive = _num(tree.get("test_drive_count", 0.0))
    n_orders = _num(tree.get("order_count", 0.0))
    kpis: dict[str, float] = {k: _num(tree.get(k)) for k in FUNNEL_KPIS}

    sales = sales_penetration(dealer, period=period).set_index("line")
    n_deliv = _num(sales["contacts"].iloc[0]) if len(sales) else 0.0
    unit: dict[str, float] = {"gross_per_deal": _ratio(float(sales["gross_profit"].sum()), n_deliv)}
    for key, line in _LINES.items():
        kpis[key] = _num(sales.at[line, "penetration"]) if line in sales.index else math.nan
        unit[key] = _num(sales.at[line, "unit_margin"]) if line in sales.index else math.nan
    acc = sales.loc["accessories"] if "accessories" in sales.index else None
    acc_rev = _num(acc["revenue"]) if acc is not None else math.nan
    kpis["accessories_per_car"] = _ratio(acc_rev, n_deliv) if n_deliv else math.nan
    unit["accessories_per_car"] = (
        _ratio(_num(acc["gross_profit"]), acc_rev) if acc is not None and acc_rev else math.nan
    )
    unit["visit_to_order_rate"] = unit["gross_per_deal"]
    unit["visit_rate"] = (
        kpis["visit_to_order_rate"] * unit["gross_per_deal"] if n_visited else math.nan
    )

    # after-sales retention over the last 12 months of the period
    w_start = max(start, end - pd.DateOffset(years=1) + _DAY)
    veh = dealer.vehicles
    park = veh.loc[veh["sold_by_this_dealer"] & (veh["purchase_date"] < w_start)]
    sv = dealer.service_visits
    sv_w = sv.loc[_within(sv["at"], w_start, end)]
    retained = isin(park["vin"], sv_w["vin"])
    n_park, n_ret = len(park), int(retained.sum())
    # a window that starts before the service records do cannot show who came back
    covered = len(sv) > 0 and sv["at"].min() <= w_start
    kpis["service_retention"] = _ratio(n_ret, n_park) if covered else math.nan
    years = ((end - w_start).days + 1) / 365.25
    margin_ret = float(sv_w.loc[isin(sv_w["vin"], park.loc[retained, "vin"]), "margin"].sum())
    period_years = ((end - start).days + 1) / 365.25
    unit["service_retention"] = (
        _ratio(margin_ret, n_ret * years) * period_years if n_ret else math.nan
    )

    ren = renewal_penetration(dealer, period=period)
    n_ren = _num(ren["contacts"].iloc[0]) if len(ren) else 0.0
    kpis["insurance_renewal_rate"] = _num(ren["penetration"].iloc[0]) if len(ren) else math.nan
    unit["insurance_renewal_rate"] = _num(ren["unit_margin"].iloc[0]) if len(ren) else math.nan

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
        "ordered": n_orders,
        "delivered": n_deliv,
        "vehicles_in_park": n_park,
        "retained_vehicles": n_ret,
        "service_visits": int(_within(sv["at"], start, end).sum()),
        "service_margin": float(sv.loc[_within(sv["at"], start, end), "margin"].sum()),
        "renewal_policies": n_ren,
        "gross_profit_new_cars": float(sales["gross_profit"].sum()) if len(sales) else 0.0,
        "rows_in": rows_in,
        "rows_quarantined": n_q,
    }
    # the base each KPI's shortfall is multiplied by
    base = {
        "visit_rate": n_leads,
        "visit_to_order_rate": n_visited,
        "accessories_per_car": n_deliv,
        "service_retention": n_park,
        "insurance_renewal_rate": n_ren,
        **{k: n_deliv for k in _LINES},
    }
    volumes.update({f"base.{k}": float(v) for k, v in base.items()})
    return kpis, volumes, unit


def _list_sizes(dealer: DealerData, calls: pd.DataFrame | None = None) -> dict[str, int]:
    """Rows of each standing call list at the as-of date (:func:`crm_analytics.actions.call_lists.call_lists`,
    the deck's daily list screening); every reason is listed, zeros included."""
    if calls is None:
        calls = call_lists(dealer)
    counts = calls["reason"].value_counts() if len(calls) else pd.Series(dtype=int)
    return {r: int(counts.get(r, 0)) for r in REASONS}


def dealer_metrics(
    dealer: DealerData,
    *,
    period: tuple[str, str] | None = None,
    comparison_period: tuple[str, str] | None = None,
    calls: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Everything the report's summary and the network notebook need, JSON-serialisable.

    ``calls`` are the dealer's call lists when already computed (else they are built here).

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
    return to_jsonable(
        {
            "dealer": dealer.meta,
            "period": [s.date().isoformat(), e.date().isoformat()],
            "comparison_period": [cs.date().isoformat(), ce.date().isoformat()],
            "kpis": kpis,
            "volumes": vols,
            "unit_margins": unit,
            "comparison": {"kpis": ckpis, "volumes": cvols},
            "list_sizes": _list_sizes(dealer, calls),
        }
    )


def network_benchmark(metrics: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Peer medians (and quartiles) of every KPI over the given dealers' metrics.

    Returns ``{"n_dealers": n, "dealers": [...], "median": {kpi: v}, "q1": {...}, "q3": {...},
    "median_without": {dealer_id: {kpi: v}}}``: the network's quartiles, and for each dealer the
    median of the others (what :func:`peers_of` gives that dealer to compare with).
    """
    rows = {m["dealer"]["dealer_id"]: m["kpis"] for m in metrics}
    frame = pd.DataFrame.from_dict(rows, orient="index", dtype=float).reindex(columns=KPI_KEYS)
    return to_jsonable(
        {
            "n_dealers": len(frame),
            "dealers": sorted(rows),
            "median": frame.median().to_dict(),
            "q1": frame.quantile(0.25).to_dict(),
            "q3": frame.quantile(0.75).to_dict(),
            "median_without": {d: frame.drop(index=d).median().to_dict() for d in frame.index},
        }
    )


def peers_of(bench: Mapping[str, Any] | None, dealer_id: str) -> dict[str, Any] | None:
    """The benchmark as one dealer compares with it: ``median`` is the median of the *other*
    dealers (a dealer is not its own peer: with five dealers, the median of all was the
    dealer's own value on half of the KPIs) and ``peers`` their number. A dealer outside the
    benchmark (its metrics failed) has every dealer of it as peers. ``None`` without a
    benchmark."""
    if not bench:
        return None
    without = bench.get("median_without") or {}
    if dealer_id in without:
        return {**bench, "median": without[dealer_id], "peers": int(bench["n_dealers"]) - 1}
    return {**bench, "peers": int(bench["n_dealers"])}


MIN_PEER_DEALERS = 3
"""Fewest dealers whose medians make a peer benchmark (with one, the "peer median" would be
the dealer itself; with two, the other dealer's value)."""


def load_benchmark(
    path: str | os.PathLike[str] | None,
    *,
    dealer_id: str | None = None,
    min_dealers: int = MIN_PEER_DEALERS,
) -> dict[str, Any] | None:
    """The run's network benchmark (as ``dealer_id`` compares with it: :func:`peers_of`), or
    ``None`` when missing or built on too few dealers."""
    bench = read_json(path) if path else None
    if not isinstance(bench, dict) or int(bench.get("n_dealers") or 0) < min_dealers:
        return None
    return peers_of(bench, dealer_id) if dealer_id is not None else bench


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


#: A KPI short of its target by at most this share of the target is amber (beyond it, red).
AMBER_WITHIN = 0.10


def kpi_status(
    kpi: str, actual: Any, target: Any, *, amber_within: float = AMBER_WITHIN
) -> str | None:
    """``green`` (at or better than target), ``amber`` (short of it by at most
    ``amber_within`` x target) or ``red``; ``None`` without an actual value or a target.

    The one red/amber/green rule of the package: the report's tables, the KPI tree and the
    network index all colour a KPI with it. The direction is the KPI's: lower is better for
    :data:`LOWER_IS_BETTER` (the share of rows quarantined, durations, cancellations), higher
    for every other KPI.

    Examples
    --------
    >>> kpi_status("finance_penetration", 0.52, 0.55), kpi_status("quarantine_share", 0.02, 0.01)
    ('amber', 'red')
    """
    a, t = _num(actual), _num(target)
    if not (math.isfinite(a) and math.isfinite(t)):
        return None
    lower = kpi in LOWER_IS_BETTER
    short = (a - t) if lower else (t - a)
    if short <= 0:
        return "green"
    return "amber" if short <= amber_within * abs(t) else "red"


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
    out. Against the peer median, a shortfall counts only beyond the dealer's sampling error
    (the upper end of its 95 % Wilson interval below the median, as the KPI tree flags a
    stage; for shares, not ``NOT_SHARES``): a dealer a tenth of a point under its peers on a few
    hundred cases has no gap.

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
            if (
                against == "peer"
                and k not in NOT_SHARES
                and wilson_interval(float(a) * float(b), float(b))[1] >= float(r)
            ):
                continue  # within the dealer's own sampling error
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
    """Leads, visits, orders and the closing ratio per sales consultant (leads created in the
    period), from :func:`crm_analytics.metrics.funnel.kpi_tree` ``by="consultant"``.

    Columns ``consultant`` (staff name, or the id when the staff table lacks it), ``leads``,
    ``visited``, ``ordered``, ``visit_to_order_rate`` (NaN without visits); sorted by orders.
    """
    tree = kpi_tree(dealer, period=(pd.Timestamp(start), pd.Timestamp(end)), by="consultant")
    keys = {
        "lead_count": "leads",
        "visit_count": "visited",
        "order_count": "ordered",
        "visit_to_order_rate": "visit_to_order_rate",
    }
    g = (
        tree.loc[tree["kpi"].isin(list(keys))]
        .pivot_table(
            index="consultant", columns="kpi", values="value", aggfunc="first", dropna=False
        )
        .reindex(columns=list(keys))
        .rename(columns=keys)
    )
    names = (
        dealer.staff.set_index("staff_id")["name"] if len(dealer.staff) else pd.Series(dtype=str)
    )
    g.index = [str(names.get(i, i)) for i in g.index]
    g.columns.name = None
    return (
        g.rename_axis("consultant").sort_values(["ordered", "leads"], ascending=False).reset_index()
    )


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
