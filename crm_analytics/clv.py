"""Customer lifetime value: the deck's value-chain CLV (and the probabilistic CLV of BTYD).

Value-chain CLV (deck slide 21)
-------------------------------
Per business line: unit value (yuan) x take-up rate x frequency per year x years, summed over
the lines. The deck's illustrative loyal 5-year customer comes out at exactly 39,870 yuan with
the parameters of ``params/value_chain.yaml``. :func:`value_chain_clv` evaluates the
illustrative customer (or any other parameter set); :func:`customer_value_chain` applies the
same formula per customer with that customer's own observed take-up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .config import load_params
from .dealer import DealerData
from .errors import InputError

VALUE_CHAIN_FIELDS = ("unit_value", "take_up", "per_year", "years")


def _lines(params: dict[str, Any] | None) -> dict[str, dict[str, float]]:
    data = params if params is not None else load_params("value_chain")
    lines = data.get("lines", data)
    if not isinstance(lines, dict) or not lines:
        raise InputError("value-chain parameters need a 'lines' mapping of business line -> fields")
    for name, spec in lines.items():
        missing = [f for f in VALUE_CHAIN_FIELDS if f not in spec]
        if missing:
            raise InputError(
                f"value-chain line {name!r} lacks {missing}; each line needs {list(VALUE_CHAIN_FIELDS)}"
            )
        if not 0 <= float(spec["take_up"]) <= 1:
            raise InputError(
                f"value-chain line {name!r}: take_up must lie in [0, 1], got {spec['take_up']}"
            )
    return lines


def value_chain_clv(params: dict[str, Any] | None = None) -> pd.DataFrame:
    """The deck's value-chain CLV of one illustrative customer, per business line.

    Parameters
    ----------
    params
        ``{"lines": {line: {unit_value, take_up, per_year, years}}}``; default
        ``params/value_chain.yaml`` (the deck's slide 21, total 39,870 yuan).

    Returns
    -------
    pandas.DataFrame
        One row per line with the four factors and ``value``, plus a ``total`` row.
    """
    rows = []
    for name, s in _lines(params).items():
        value = (
            float(s["unit_value"]) * float(s["take_up"]) * float(s["per_year"]) * float(s["years"])
        )
        rows.append({"line": name, **{f: float(s[f]) for f in VALUE_CHAIN_FIELDS}, "value": value})
    out = pd.DataFrame(rows)
    total = {
        "line": "total",
        **{f: np.nan for f in VALUE_CHAIN_FIELDS},
        "value": out["value"].sum(),
    }
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)


def what_if(line: str, *, take_up: float, params: dict[str, Any] | None = None) -> float:
    """Change of the value-chain CLV (yuan per customer) when one line's take-up changes."""
    lines = _lines(params)
    if line not in lines:
        raise InputError(f"unknown value-chain line {line!r}; lines are {sorted(lines)}")
    s = lines[line]
    return (
        float(s["unit_value"])
        * (take_up - float(s["take_up"]))
        * float(s["per_year"])
        * float(s["years"])
    )


def customer_value_chain(
    dealer: DealerData,
    *,
    as_of: str | pd.Timestamp | None = None,
    params: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The value-chain CLV per owner, with each owner's own observed take-up.

    Take-up per line, from the owner's records up to ``as_of``:

    * ``first_year_insurance``: the first policy of the owner's latest vehicle was sold here;
    * ``service``: observed service visits per year here (since the vehicle became known,
      at least 3 months of history) divided by the line's ``per_year``, capped at 1;
    * ``insurance_renewal``: share of the owner's renewal years sold here (NaN without one);
    * ``extension_products``: the owner bought an extended warranty with the car.

    Unit values, frequencies and years stay those of the parameters, so the result reads as
    "this customer's version of the deck's 39,870 yuan".

    Returns
    -------
    pandas.DataFrame
        One row per owner: customer_id, one ``take_up_<line>`` and ``value_<line>`` column per
        line, and ``value`` (sum over lines with known take-up).
    """
    lines = _lines(params)
    t = pd.Timestamp(as_of) if as_of is not None else dealer.as_of
    veh = dealer.vehicles[dealer.vehicles["purchase_date"] <= t]
    if veh.empty:
        return pd.DataFrame(columns=["customer_id", "value"])
    sv = dealer.service_visits[dealer.service_visits["at"] <= t]
    pol = dealer.insurance_policies[dealer.insurance_policies["start"] <= t]
    orders = dealer.orders[dealer.orders["ordered_at"] <= t]
    latest = (
        veh.sort_values("purchase_date").groupby("customer_id").tail(1).set_index("customer_id")
    )
    ids = latest.index
    take: dict[str, pd.Series] = {}
    first = pol[~pol["renewal"]].set_index("vin")["sold_by_this_dealer"]
    first = first[~first.index.duplicated()]
    take["first_year_insurance"] = latest["vin"].map(first).astype(float)
    first_seen = sv.groupby("customer_id")["at"].min()
    start = pd.concat([latest["purchase_date"], first_seen.reindex(ids)], axis=1).min(axis=1)
    years = ((t - start) / pd.Timedelta(days=365.25)).clip(lower=0.25)
    visits = sv.groupby("customer_id").size().reindex(ids).fillna(0)
    per_year = float(lines.get("service", {}).get("per_year", 3.0)) or 3.0
    take["service"] = (visits / years / per_year).clip(upper=1.0)
    ren = pol[pol["renewal"]].groupby("customer_id")["sold_by_this_dealer"].mean()
    take["insurance_renewal"] = ren.reindex(ids).astype(float)
    ew = orders.groupby("customer_id")["extended_warranty"].any()
    take["extension_products"] = ew.reindex(ids).astype(float)
    # vehicles bought elsewhere had no chance of an extended warranty sale here
    take["extension_products"] = take["extension_products"].where(latest["sold_by_this_dealer"])
    out = pd.DataFrame({"customer_id": ids})
    total = np.zeros(len(ids))
    for name, s in lines.items():
        tu = take.get(name)
        if tu is None:
            raise InputError(
                f"customer_value_chain knows no observed take-up for line {name!r}; "
                f"supported lines: {sorted(take)}"
            )
        tu = tu.reindex(ids).to_numpy(dtype=float)
        value = float(s["unit_value"]) * tu * float(s["per_year"]) * float(s["years"])
        out[f"take_up_{name}"] = tu
        out[f"value_{name}"] = value
        total += np.nan_to_num(value)
    out["value"] = total
    return out
