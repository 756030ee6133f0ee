"""Value-added and after-sales penetration, the deck's profit decomposition, and what-ifs.

The deck's profit formula (slides 14-21): gross profit of a business line = customer contacts x
penetration rate x unit gross margin. New cars: deliveries x penetration of each value-added
item (finance, insurance, accessories, extended warranty, trade-in). After-sales: service
visits (repair orders) x share of each visit kind (maintenance, repair, warranty, accident,
recall, care) and of value-added items sold on the visit. Insurance renewal: policy years
coming up for renewal x renewal rate.

Which records belong to a period: **events by their own date** — deliveries by
``delivered_at``, repair orders by their date, renewal policy years by their ``start``.
Unit margin is the mean margin per taker (per delivery or repair order that bought the item),
so ``contacts x penetration x unit_margin`` equals the recorded gross profit exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.core.schema import SERVICE_KINDS
from crm_analytics.metrics.funnel import period_bounds, wilson_interval

#: new-car value-added lines: (line, take-up column, margin column)
SALES_LINES: tuple[tuple[str, str, str], ...] = (
    ("finance", "finance", "finance_margin"),
    ("insurance", "insurance", "insurance_margin"),
    ("accessories", "accessories_amount", "accessories_margin"),
    ("extended_warranty", "extended_warranty", "extended_warranty_margin"),
    ("trade_in", "trade_in", "trade_in_margin"),
)
PENETRATION_COLUMNS: tuple[str, ...] = (
    "dealer_id",
    "period_start",
    "period_end",
    "business",
    "line",
    "contacts",
    "takers",
    "penetration",
    "ci_low",
    "ci_high",
    "unit_margin",
    "gross_profit",
    "gross_profit_per_year",
    "revenue",
    "contact_unit",
    "note",
)


def _bounds(
    dealer: DealerData, period: Any, start: pd.Timestamp | None
) -> tuple[pd.Timestamp, pd.Timestamp, float]:
    lo, hi = period_bounds(period, as_of=dealer.as_of, start=start)
    hi_eff = min(hi, pd.Timestamp(dealer.as_of).normalize() + pd.Timedelta(days=1))
    years = max((hi_eff - lo).total_seconds() / (365.25 * 86400), 0.0)
    return lo, hi, years


def _row(
    dealer,
    lo,
    hi,
    years,
    business,
    line,
    contacts,
    takers,
    margin_sum,
    revenue,
    contact_unit,
    note="",
) -> dict:
    contacts, takers = float(contacts), float(takers)
    pen = takers / contacts if contacts else np.nan
    unit = margin_sum / takers if takers else np.nan
    lo_ci, hi_ci = wilson_interval(takers, contacts)
    why = (
        f"no {contact_unit} in the period"
        if not contacts
        else ("no taker in the period: unit margin unknown" if not takers else "")
    )
    note = "; ".join(x for x in (why, note) if x)
    return {
        "dealer_id": dealer.dealer_id,
        "period_start": lo,
        "period_end": hi,
        "business": business,
        "line": line,
        "contacts": contacts,
        "takers": takers,
        "penetration": pen,
        "ci_low": float(lo_ci),
        "ci_high": float(hi_ci),
        "unit_margin": unit,
        "gross_profit": float(margin_sum),
        "gross_profit_per_year": float(margin_sum) / years if years > 0 else np.nan,
        "revenue": float(revenue),
        "contact_unit": contact_unit,
        "note": note,
    }


def sales_penetration(dealer: DealerData, *, period: Any = None) -> pd.DataFrame:
    """Value-added penetration per delivery, with unit margins (deliveries dated in the period).

    Returns
    -------
    pandas.DataFrame
        One row per line (``vehicle`` first: penetration 1 by definition) with
        :data:`PENETRATION_COLUMNS`; ``ci_low``/``ci_high`` are Wilson 95 % intervals.
    """
    o = dealer.orders
    start = o["delivered_at"].min() if len(o) else None
    lo, hi, years = _bounds(dealer, period, start)
    d = o[o["delivered_at"].between(lo, hi)]
    n = len(d)
    rows = [
        _row(
            dealer,
            lo,
            hi,
            years,
            "new_car",
            "vehicle",
            n,
            n,
            d["vehicle_margin"].sum(),
            d["price"].sum(),
            "deliveries",
        )
    ]
    for line, take, margin in SALES_LINES:
        took = d[take] > 0 if take == "accessories_amount" else d[take].astype(bool)
        rev = d.loc[took, "accessories_amount"].sum() if take == "accessories_amount" else np.nan
        rows.append(
            _row(
                dealer,
                lo,
                hi,
                years,
                "new_car",
                line,
                n,
                took.sum(),
                d.loc[took, margin].sum(),
                rev,
                "deliveries",
            )
        )
    return pd.DataFrame(rows, columns=list(PENETRATION_COLUMNS))


def service_penetration(dealer: DealerData, *, period: Any = None) -> pd.DataFrame:
    """Item penetration per service visit (repair order) dated in the period.

    Visit kinds (maintenance, repair, warranty, accident, recall, care) partition the repair
    orders, so their gross profits add up to the service gross profit. ``value_added_items``
    (care or detailing products sold on the visit, ``addon_amount > 0``) is an overlay: its
    revenue is known but its margin is inside the repair order's margin (``gross_profit`` NaN).
    """
    sv = dealer.service_visits
    start = sv["at"].min() if len(sv) else None
    lo, hi, years = _bounds(dealer, period, start)
    s = sv[sv["at"].between(lo, hi)]
    n = len(s)
    rows = []
    for kind in SERVICE_KINDS:
        m = s["kind"] == kind
        rev = (s.loc[m, "labor_amount"] + s.loc[m, "parts_amount"] + s.loc[m, "addon_amount"]).sum()
        rows.append(
            _row(
                dealer,
                lo,
                hi,
                years,
                "after_sales",
                kind,
                n,
                m.sum(),
                s.loc[m, "margin"].sum(),
                rev,
                "repair orders",
            )
        )
    add = s["addon_amount"] > 0
    r = _row(
        dealer,
        lo,
        hi,
        years,
        "after_sales",
        "value_added_items",
        n,
        add.sum(),
        0.0,
        s.loc[add, "addon_amount"].sum(),
        "repair orders",
        "margin included in the repair order's margin (not separable)",
    )
    r["unit_margin"] = r["gross_profit"] = r["gross_profit_per_year"] = np.nan
    rows.append(r)
    return pd.DataFrame(rows, columns=list(PENETRATION_COLUMNS))


def renewal_penetration(dealer: DealerData, *, period: Any = None) -> pd.DataFrame:
    """Insurance renewal rate: renewal policy years starting in the period sold by this dealer."""
    p = dealer.insurance_policies
    start = p["start"].min() if len(p) else None
    lo, hi, years = _bounds(dealer, period, start)
    r = p[p["renewal"].astype(bool) & p["start"].between(lo, hi)]
    sold = r["sold_by_this_dealer"].astype(bool)
    row = _row(
        dealer,
        lo,
        hi,
        years,
        "insurance",
        "insurance_renewal",
        len(r),
        sold.sum(),
        r.loc[sold, "margin"].sum(),
        r.loc[sold, "premium"].sum(),
        "policy years due for renewal",
    )
    return pd.DataFrame([row], columns=list(PENETRATION_COLUMNS))


def profit_decomposition(dealer: DealerData, *, period: Any = None) -> pd.DataFrame:
    """The deck's profit formula per business line: contacts x penetration x unit margin.

    Rows of :func:`sales_penetration`, :func:`service_penetration` and
    :func:`renewal_penetration`, plus ``check`` = ``contacts * penetration * unit_margin`` (equal
    to ``gross_profit`` by construction; NaN where there is no taker) and ``share`` of the
    total gross profit. ``gross_profit_per_year`` annualises over the period's length.
    """
    out = pd.concat(
        [
            sales_penetration(dealer, period=period),
            service_penetration(dealer, period=period),
            renewal_penetration(dealer, period=period),
        ],
        ignore_index=True,
    )
    out["check"] = out["contacts"] * out["penetration"] * out["unit_margin"]
    total = out["gross_profit"].sum(min_count=1)
    out["share"] = out["gross_profit"] / total if total else np.nan
    return out


def what_if(
    decomposition: pd.DataFrame,
    line: str,
    *,
    to: float,
    from_: float | None = None,
    contacts_per_year: float | None = None,
) -> pd.DataFrame:
    """Gross profit a year gained by moving one line's penetration ``from_`` -> ``to``.

    ``delta = contacts a year x (to - from_) x unit margin``: e.g. raising insurance renewal
    from 35 % to 50 % adds ``policies due a year x 0.15 x margin per renewed policy`` yuan.

    Parameters
    ----------
    decomposition
        Output of :func:`profit_decomposition` (one dealer and period).
    line
        A ``line`` of it (``"insurance_renewal"``, ``"finance"``, ``"maintenance"``...).
    to, from_
        Penetration rates in [0, 1]; ``from_`` defaults to the observed penetration.
    contacts_per_year
        Override the contacts a year (default: the period's contacts annualised).

    Returns
    -------
    pandas.DataFrame
        One row: ``line, contacts_per_year, from_rate, to_rate, unit_margin,
        delta_gross_profit_per_year, sentence``.
    """
    r = decomposition[decomposition["line"] == line]
    if len(r) != 1:
        raise InputError(
            f"what_if: line {line!r} not found once in the decomposition; lines are {sorted(decomposition['line'])}"
        )
    r = r.iloc[0]
    for name, v in (("to", to), ("from_", from_)):
        if v is not None and not 0 <= v <= 1:
            raise InputError(f"what_if: {name} must be a rate in [0, 1], got {v}")
    base = float(r["penetration"]) if from_ is None else float(from_)
    years = (r["period_end"] - r["period_start"]).total_seconds() / (365.25 * 86400)
    cpy = (
        float(contacts_per_year)
        if contacts_per_year is not None
        else (float(r["contacts"]) / years if years > 0 else np.nan)
    )
    unit = float(r["unit_margin"])
    delta = cpy * (to - base) * unit if np.isfinite(unit) and np.isfinite(base) else np.nan
    if np.isfinite(delta):
        verb = "adds" if delta >= 0 else "costs"
        sentence = f"raising {line.replace('_', ' ')} from {base:.0%} to {to:.0%} {verb} {abs(delta):,.0f} yuan of gross profit a year ({cpy:,.0f} {r['contact_unit']} a year x {unit:,.0f} yuan per taker)"
    else:
        sentence = f"{line}: unit margin or base rate unknown (no taker in the period)"
    return pd.DataFrame(
        [
            {
                "line": line,
                "contacts_per_year": cpy,
                "from_rate": base,
                "to_rate": float(to),
                "unit_margin": unit,
                "delta_gross_profit_per_year": delta,
                "sentence": sentence,
            }
        ]
    )


def penetration_by(dealer: DealerData, by: str, *, period: Any = None) -> pd.DataFrame:
    """Value-added penetration of the deliveries in the period, per sales consultant or car
    model (the deck's item 6), with Wilson 95 % intervals and a test of whether the groups
    differ beyond chance.

    Parameters
    ----------
    dealer
        The dealer.
    by
        ``consultant`` (the consultant of the order's lead; ``unassigned`` without one) or
        ``model`` (the car model ordered).
    period
        Deliveries dated in it (as :func:`sales_penetration`).

    Returns
    -------
    pandas.DataFrame
        One row per group and line (:data:`SALES_LINES`), the group ``all`` last:
        ``group, line, deliveries, takers, penetration, ci_low, ci_high, p_value`` (the
        chi-square test of homogeneity of the line's penetration across the groups; the same
        on every row of a line, NaN with fewer than two groups with deliveries).
    """
    if by not in ("consultant", "model"):
        raise InputError(f"penetration by {by!r}: use 'consultant' or 'model'")
    o = dealer.orders
    start = o["delivered_at"].min() if len(o) else None
    lo, hi, _ = _bounds(dealer, period, start)
    d = o[o["delivered_at"].between(lo, hi)]
    if by == "model":
        group = d["model"].astype(str)
    else:
        cons = dealer.leads.drop_duplicates("lead_id").set_index("lead_id")["consultant_id"]
        group = d["lead_id"].map(cons).fillna("unassigned").astype(str)
    rows = []
    for line, take, _margin in SALES_LINES:
        took = (d[take] > 0) if take == "accessories_amount" else d[take].astype(bool)
        t = pd.DataFrame({"group": group.to_numpy(), "took": took.to_numpy()})
        g = t.groupby("group", sort=True)["took"].agg(["size", "sum"])
        p_value = np.nan
        if len(g) >= 2 and 0 < g["sum"].sum() < g["size"].sum():
            table = np.column_stack([g["sum"], g["size"] - g["sum"]])
            p_value = float(stats.chi2_contingency(table, correction=False)[1])
        g.loc["all"] = [g["size"].sum(), g["sum"].sum()]
        for key, r in g.iterrows():
            rows.append(
                {
                    "group": key,
                    "line": line,
                    "deliveries": int(r["size"]),
                    "takers": int(r["sum"]),
                    "p_value": p_value,
                }
            )
    out = pd.DataFrame(rows)
    out["penetration"] = out["takers"] / out["deliveries"].where(out["deliveries"] > 0)
    out["ci_low"], out["ci_high"] = wilson_interval(out["takers"], out["deliveries"])
    cols = ["group", "line", "deliveries", "takers", "penetration", "ci_low", "ci_high"]
    return out[[*cols, "p_value"]]


__all__ = [
    "SALES_LINES",
    "penetration_by",
    "profit_decomposition",
    "renewal_penetration",
    "sales_penetration",
    "service_penetration",
    "what_if",
]
