"""Speed-to-lead: how fast the dealer first responds to inbound leads, and what it is worth.

An inbound lead (online or phone inquiry, auto show, partner list, referral: see
:data:`crm_analytics.core.schema.INBOUND_CHANNELS`) waits for the dealer's first response,
recorded in ``leads.first_response_at``. This module gives the response-time distribution,
conversion (lead to order) by response-time band with Wilson intervals, and the rate ratio of
fast against slow responses stratified by channel (Mantel-Haenszel), so that the difference in
channel mix between fast and slow leads does not pass for an effect of speed.

Only leads old enough for their outcome to be known count for conversion (``min_age_days``);
an inbound lead with no response by the data date is in the band ``none``. A lead captured at
one of the dealer's own events (an auto show's booth, a test-drive day: it carries the event's
``event_id``) met the dealer face to face and waits for nothing: its "first response" is its
creation. Counted as a 0-minute response it would fill the fastest band with show visitors of
low intent, and the fastest band would convert worst; such leads are left out
(:func:`event_leads` counts them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from crm_analytics.core.errors import InputError, InsufficientDataError
from crm_analytics.core.schema import INBOUND_CHANNELS
from crm_analytics.metrics.funnel import Z95, wilson_interval

__all__ = [
    "RESPONSE_BANDS_MINUTES",
    "conversion_by_response_band",
    "event_leads",
    "response_effect",
    "response_time_distribution",
    "response_times",
]

#: Default response-time bands (minutes): within 5, 15, an hour, four hours, later.
RESPONSE_BANDS_MINUTES: tuple[float, ...] = (0.0, 5.0, 15.0, 60.0, 240.0, np.inf)
_NEEDED = ("lead_id", "channel", "created_at", "status", "first_response_at")


def _band_labels(bands: Sequence[float]) -> list[str]:
    """``0-5 min``, ..., ``240+ min`` labels of the band edges."""
    out = []
    for lo, hi in zip(bands[:-1], bands[1:], strict=True):
        out.append(f"{lo:g}+ min" if np.isinf(hi) else f"{lo:g}-{hi:g} min")
    return out


def response_times(
    leads: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str,
    channels: Sequence[str] = INBOUND_CHANNELS,
    bands: Sequence[float] = RESPONSE_BANDS_MINUTES,
    min_age_days: float = 90.0,
) -> pd.DataFrame:
    """One row per inbound lead (not captured at an event): its first-response time, band and
    outcome.

    Parameters
    ----------
    leads
        The leads table (needs ``lead_id, channel, created_at, status, first_response_at``).
    as_of
        The data date: responses after it are not known yet.
    channels
        The inbound channels whose leads wait for a response.
    bands
        Increasing band edges in minutes, from 0 and ending with ``inf``.
    min_age_days
        A lead is ``mature`` (its outcome known) when created at least this long before
        ``as_of``.

    Returns
    -------
    pandas.DataFrame
        ``lead_id, channel, created_at, response_minutes`` (NaN without a response),
        ``band`` (``none`` without a response), ``converted`` (status won), ``mature``.

    Raises
    ------
    InputError
        If a needed column is missing or the bands are not increasing from 0 to ``inf``.
    """
    missing = [c for c in _NEEDED if c not in leads.columns]
    if missing:
        raise InputError(
            f"table leads: speed-to-lead needs the column(s) {missing}; map the DMS export's "
            "first-response header (params/dms_mapping.yaml, leads.first_response_at)"
        )
    edges = np.asarray(bands, dtype=float)
    if len(edges) < 2 or edges[0] != 0 or not np.isinf(edges[-1]) or np.any(np.diff(edges) <= 0):
        raise InputError(f"response bands must increase from 0 to inf, got {list(bands)}")
    as_of = pd.Timestamp(as_of)
    waits = leads["channel"].isin(list(channels)) & ~_at_event(leads)
    df = leads.loc[waits, list(_NEEDED)].copy()
    resp = pd.to_datetime(df["first_response_at"]).where(lambda s: s <= as_of)
    minutes = (resp - pd.to_datetime(df["created_at"])).dt.total_seconds() / 60.0
    df["response_minutes"] = minutes.clip(lower=0.0)
    labels = _band_labels(edges)
    band = pd.cut(df["response_minutes"], edges, right=False, labels=labels)
    df["band"] = pd.Categorical(
        band.astype(object).where(band.notna(), "none"), categories=[*labels, "none"]
    )
    df["converted"] = df["status"].eq("won")
    df["mature"] = df["created_at"] <= as_of - pd.Timedelta(days=min_age_days)
    return df[
        ["lead_id", "channel", "created_at", "response_minutes", "band", "converted", "mature"]
    ].reset_index(drop=True)


def _at_event(leads: pd.DataFrame) -> pd.Series:
    """Leads captured at one of the dealer's events (an ``event_id``; no column: none)."""
    if "event_id" not in leads.columns:
        return pd.Series(False, index=leads.index)
    return leads["event_id"].notna()


def event_leads(leads: pd.DataFrame, *, channels: Sequence[str] = INBOUND_CHANNELS) -> int:
    """How many inbound leads were captured at one of the dealer's events, face to face, and
    are left out of the response times (see the module's docstring)."""
    return int((leads["channel"].isin(list(channels)) & _at_event(leads)).sum())


def response_time_distribution(
    leads: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str,
    channels: Sequence[str] = INBOUND_CHANNELS,
    by: str | None = "channel",
    within_minutes: Sequence[float] = (5.0, 15.0, 60.0),
) -> pd.DataFrame:
    """The first-response-time distribution of inbound leads, overall and per group.

    Parameters
    ----------
    leads
        The leads table (see :func:`response_times`).
    as_of
        The data date.
    channels
        The inbound channels.
    by
        A column of ``leads`` to group by (``channel``, ``consultant_id``...) or ``None``.
    within_minutes
        Response times whose share of leads is reported (``within_5_min``...).

    Returns
    -------
    pandas.DataFrame
        One row per group and a last row ``all``: ``leads, responded, median_minutes,
        p75_minutes, p90_minutes`` and ``within_<m>_min`` (share of all the group's leads
        answered within ``m`` minutes).
    """
    rt = response_times(leads, as_of=as_of, channels=channels)
    if by is not None and by != "channel":
        if by not in leads.columns:
            raise InputError(f"table leads has no column {by!r} to group response times by")
        rt[by] = leads.set_index("lead_id")[by].reindex(rt["lead_id"]).to_numpy()
    groups = [("all", rt)] if by is None else [*rt.groupby(by, observed=True), ("all", rt)]
    rows = []
    for key, g in groups:
        m = g["response_minutes"].dropna()
        row = {
            by or "group": key,
            "leads": len(g),
            "responded": len(m),
            "median_minutes": m.median(),
            "p75_minutes": m.quantile(0.75),
            "p90_minutes": m.quantile(0.9),
        }
        for w in within_minutes:
            row[f"within_{w:g}_min"] = float((m < w).sum() / len(g)) if len(g) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def conversion_by_response_band(
    leads: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str,
    channels: Sequence[str] = INBOUND_CHANNELS,
    bands: Sequence[float] = RESPONSE_BANDS_MINUTES,
    min_age_days: float = 90.0,
    z: float = Z95,
) -> pd.DataFrame:
    """Conversion (lead to order) of mature inbound leads by first-response band.

    Parameters
    ----------
    leads, as_of, channels, bands, min_age_days
        See :func:`response_times`.
    z
        Normal quantile of the Wilson intervals (1.96: 95 %).

    Returns
    -------
    pandas.DataFrame
        One row per band (and ``none``): ``band, leads, orders, conversion, ci_low, ci_high,
        rate_ratio`` (conversion relative to the first band).
    """
    rt = response_times(
        leads, as_of=as_of, channels=channels, bands=bands, min_age_days=min_age_days
    )
    rt = rt[rt["mature"]]
    g = rt.groupby("band", observed=False)["converted"].agg(["size", "sum"])
    out = pd.DataFrame(
        {"band": g.index.astype(str), "leads": g["size"].to_numpy(), "orders": g["sum"].to_numpy()}
    )
    out["conversion"] = out["orders"] / out["leads"].where(out["leads"] > 0)
    out["ci_low"], out["ci_high"] = wilson_interval(out["orders"], out["leads"], z=z)
    out["rate_ratio"] = out["conversion"] / out["conversion"].iloc[0]
    return out


def response_effect(
    leads: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str,
    threshold_minutes: float = 15.0,
    channels: Sequence[str] = INBOUND_CHANNELS,
    min_age_days: float = 90.0,
    z: float = Z95,
) -> pd.DataFrame:
    """The rate ratio of conversion, answered within ``threshold_minutes`` against later,
    stratified by channel.

    The Mantel-Haenszel rate ratio over the channel strata, with the Greenland-Robins (1985)
    variance of its logarithm (Biometrics 41:55-68); leads without a response are left out.

    Parameters
    ----------
    leads, as_of, channels, min_age_days
        See :func:`response_times`.
    threshold_minutes
        Fast means a first response within this many minutes.
    z
        Normal quantile of the interval.

    Returns
    -------
    pandas.DataFrame
        One row: ``threshold_minutes, fast_leads, fast_orders, slow_leads, slow_orders,
        crude_rate_ratio, rate_ratio, ci_low, ci_high, strata``.

    Raises
    ------
    InsufficientDataError
        If no stratum has both fast and slow leads with an order.
    """
    rt = response_times(leads, as_of=as_of, channels=channels, min_age_days=min_age_days)
    rt = rt[rt["mature"] & rt["response_minutes"].notna()]
    rt = rt.assign(fast=rt["response_minutes"] < threshold_minutes)
    t = rt.groupby(["channel", "fast"])["converted"].agg(["size", "sum"]).unstack(fill_value=0)
    n1 = t["size"].get(True, pd.Series(0, index=t.index)).to_numpy(float)
    n0 = t["size"].get(False, pd.Series(0, index=t.index)).to_numpy(float)
    a = t["sum"].get(True, pd.Series(0, index=t.index)).to_numpy(float)
    c = t["sum"].get(False, pd.Series(0, index=t.index)).to_numpy(float)
    ok = (n1 > 0) & (n0 > 0)
    n1, n0, a, c = n1[ok], n0[ok], a[ok], c[ok]
    n = n1 + n0
    r = (a * n0 / n).sum()
    s = (c * n1 / n).sum()
    if r == 0 or s == 0:
        raise InsufficientDataError(
            "table leads: too few mature inbound leads with a response and an order on both "
            f"sides of {threshold_minutes:g} minutes for a speed-to-lead effect"
        )
    var = ((n1 * n0 * (a + c) - a * c * n) / n**2).sum() / (r * s)
    rr = r / s
    half = z * np.sqrt(var)
    return pd.DataFrame(
        [
            {
                "threshold_minutes": threshold_minutes,
                "fast_leads": int(n1.sum()),
                "fast_orders": int(a.sum()),
                "slow_leads": int(n0.sum()),
                "slow_orders": int(c.sum()),
                "crude_rate_ratio": (a.sum() / n1.sum()) / (c.sum() / n0.sum()),
                "rate_ratio": rr,
                "ci_low": rr * np.exp(-half),
                "ci_high": rr * np.exp(half),
                "strata": int(ok.sum()),
            }
        ]
    )
