"""After-sales retention by vehicle age, and the mix of customer-pay and warranty work.

Retention of a vehicle-age cohort is the share of its vehicles with a service visit in the
last ``window_days`` before the data date, the measure dealer CRMs track against the age of
the car (retention falls as the warranty ends and the car ages). The pay mix splits repair
orders and their revenue (labour and parts) between work the customer pays for and work the
maker pays for (warranty and recall), per vehicle-age band.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from crm_analytics.core.errors import InputError
from crm_analytics.core.frames import isin
from crm_analytics.metrics.funnel import Z95, wilson_interval

__all__ = ["AGE_BANDS_YEARS", "MAKER_PAID_KINDS", "pay_mix", "retention_by_vehicle_age"]

#: Vehicle-age bands (years since purchase): 1-2, 2-3, 3-4, 4-5, 5 and older.
AGE_BANDS_YEARS: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0, np.inf)
#: Service kinds paid by the maker; every other kind is customer-pay.
MAKER_PAID_KINDS: tuple[str, ...] = ("warranty", "recall")
_YEAR = pd.Timedelta(days=365.25)


def _age_labels(bands: Sequence[float]) -> list[str]:
    return [
        f"{lo:g}+ y" if np.isinf(hi) else f"{lo:g}-{hi:g} y"
        for lo, hi in zip(bands[:-1], bands[1:], strict=True)
    ]


def _check_bands(bands: Sequence[float]) -> np.ndarray:
    edges = np.asarray(bands, dtype=float)
    if len(edges) < 2 or edges[0] < 0 or np.any(np.diff(edges) <= 0):
        raise InputError(f"vehicle-age bands must be increasing and non-negative, got {bands}")
    return edges


def retention_by_vehicle_age(
    vehicles: pd.DataFrame,
    service_visits: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str,
    window_days: float = 365.0,
    bands: Sequence[float] = AGE_BANDS_YEARS,
    sold_here_only: bool = False,
    z: float = Z95,
) -> pd.DataFrame:
    """Service retention of each vehicle-age cohort at ``as_of``.

    Parameters
    ----------
    vehicles
        The vehicles table (``vin, purchase_date, sold_by_this_dealer``).
    service_visits
        The service-visits table (``vin, at``).
    as_of
        The data date.
    window_days
        Retained: a visit in ``(as_of - window_days, as_of]``.
    bands
        Vehicle-age band edges in years (age at ``as_of``); vehicles younger than the first
        edge are left out (their window is not complete).
    sold_here_only
        Only vehicles this dealer sold (the base it is responsible for).
    z
        Normal quantile of the Wilson intervals.

    Returns
    -------
    pandas.DataFrame
        One row per band: ``age_band, vehicles, retained, retention, ci_low, ci_high``.
    """
    for name, frame, cols in (
        ("vehicles", vehicles, ("vin", "purchase_date", "sold_by_this_dealer")),
        ("service_visits", service_visits, ("vin", "at")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise InputError(f"table {name} is missing column(s) {missing} for retention")
    edges = _check_bands(bands)
    as_of = pd.Timestamp(as_of)
    v = vehicles[vehicles["sold_by_this_dealer"].astype(bool)] if sold_here_only else vehicles
    age = (as_of - pd.to_datetime(v["purchase_date"])) / _YEAR
    labels = _age_labels(edges)
    band = pd.cut(age, edges, right=False, labels=labels)
    lo = as_of - pd.Timedelta(days=window_days)
    recent = service_visits[(service_visits["at"] > lo) & (service_visits["at"] <= as_of)]
    retained = pd.Series(isin(v["vin"], recent["vin"]), index=v.index)
    g = (
        pd.DataFrame({"band": band, "retained": retained})
        .dropna(subset=["band"])
        .groupby("band", observed=False)["retained"]
        .agg(["size", "sum"])
    )
    out = pd.DataFrame(
        {
            "age_band": labels,
            "vehicles": g["size"].to_numpy(),
            "retained": g["sum"].to_numpy(),
        }
    )
    out["retention"] = out["retained"] / out["vehicles"].where(out["vehicles"] > 0)
    out["ci_low"], out["ci_high"] = wilson_interval(out["retained"], out["vehicles"], z=z)
    return out


def pay_mix(
    service_visits: pd.DataFrame,
    vehicles: pd.DataFrame,
    *,
    period: tuple[pd.Timestamp | str, pd.Timestamp | str] | None = None,
    bands: Sequence[float] = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, np.inf),
) -> pd.DataFrame:
    """Customer-pay against warranty (maker-paid) work, per vehicle-age band at the visit.

    Parameters
    ----------
    service_visits
        The service-visits table (``vin, at, kind, labor_amount, parts_amount``).
    vehicles
        The vehicles table (``vin, purchase_date``).
    period
        Inclusive ``(start, end)`` of the visits counted; ``None``: all.
    bands
        Vehicle-age band edges in years (age at the visit).

    Returns
    -------
    pandas.DataFrame
        One row per band and a last row ``all``: ``repair_orders, customer_pay_orders,
        maker_paid_orders, customer_pay_share`` (of orders), ``customer_pay_revenue,
        maker_paid_revenue, customer_pay_revenue_share`` (labour plus parts, yuan).
    """
    need = ("vin", "at", "kind", "labor_amount", "parts_amount")
    missing = [c for c in need if c not in service_visits.columns]
    if missing:
        raise InputError(f"table service_visits is missing column(s) {missing} for the pay mix")
    edges = _check_bands(bands)
    sv = service_visits
    if period is not None:
        start, end = (pd.Timestamp(p) for p in period)
        sv = sv[(sv["at"] >= start) & (sv["at"] < end.normalize() + pd.Timedelta(days=1))]
    purchase = vehicles.drop_duplicates("vin").set_index("vin")["purchase_date"]
    age = (sv["at"] - pd.to_datetime(sv["vin"].map(purchase))) / _YEAR
    labels = _age_labels(edges)
    maker = sv["kind"].isin(MAKER_PAID_KINDS)
    df = pd.DataFrame(
        {
            "band": pd.cut(age, edges, right=False, labels=labels).astype(object),
            "maker": maker,
            "revenue": sv["labor_amount"] + sv["parts_amount"],
        }
    )
    df["band"] = df["band"].fillna("unknown age")
    rows = []
    groups = [*df.groupby("band", sort=False), ("all", df)]
    order = {b: i for i, b in enumerate([*labels, "unknown age", "all"])}
    for key, g in sorted(groups, key=lambda kv: order[kv[0]]):
        cp = g.loc[~g["maker"], "revenue"].sum()
        mp = g.loc[g["maker"], "revenue"].sum()
        rows.append(
            {
                "age_band": key,
                "repair_orders": len(g),
                "customer_pay_orders": int((~g["maker"]).sum()),
                "maker_paid_orders": int(g["maker"].sum()),
                "customer_pay_revenue": float(cp),
                "maker_paid_revenue": float(mp),
            }
        )
    out = pd.DataFrame(rows)
    out["customer_pay_share"] = out["customer_pay_orders"] / out["repair_orders"].where(
        out["repair_orders"] > 0
    )
    total = out["customer_pay_revenue"] + out["maker_paid_revenue"]
    out["customer_pay_revenue_share"] = out["customer_pay_revenue"] / total.where(total > 0)
    return out
