"""Tests of the visit summaries, the calibration/holdout split and the holdout check."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from crm_analytics.core.errors import InputError
from crm_analytics.metrics import rfm
from crm_analytics.models.btyd import ParetoNBD

T0 = pd.Timestamp("2024-01-01")


def _visits(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    """(customer, day offset, spend) -> a minimal service_visits frame."""
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "at": [T0 + pd.Timedelta(days=r[1]) for r in rows],
            "labor_amount": [r[2] for r in rows],
            "parts_amount": 0.0,
            "addon_amount": 0.0,
        }
    )


def test_summary_by_hand():
    v = _visits(
        [
            ("A", 0.2, 100.0),
            ("A", 0.7, 50.0),  # same day as the first visit: merged into it
            ("A", 7.5, 300.0),
            ("A", 14.1, 500.0),
            ("B", 3.0, 80.0),
            ("C", 20.9, 10.0),
        ]
    )
    s = rfm.summarize_visits(v, observation_end=T0 + pd.Timedelta(days=21), time_unit="W")
    assert list(s.columns) == ["frequency", "recency", "T", "monetary"]
    assert s.loc["A", "frequency"] == 2
    assert s.loc["A", "recency"] == pytest.approx(2.0)  # day 0 -> day 14
    assert s.loc["A", "T"] == pytest.approx(3.0)  # day 0 -> day 21
    assert s.loc["A", "monetary"] == pytest.approx(400.0)  # repeat visits only
    assert s.loc["B", "frequency"] == 0 and s.loc["B", "recency"] == 0
    assert np.isnan(s.loc["B", "monetary"])
    assert s.loc["B", "T"] == pytest.approx(18 / 7)
    assert s.loc["C", "T"] == pytest.approx(1 / 7)
    days = rfm.summarize_visits(v, observation_end=T0 + pd.Timedelta(days=21), time_unit="D")
    assert days.loc["A", "T"] == pytest.approx(21.0)


def test_summary_matches_pandas_reference_on_random_data():
    rng = np.random.default_rng(0)
    n = 5000
    v = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 700, n).astype(str),
            "at": T0 + pd.to_timedelta(rng.uniform(0, 400, n), unit="D"),
            "labor_amount": rng.gamma(2, 100, n),
            "parts_amount": rng.gamma(2, 50, n),
            "addon_amount": 0.0,
        }
    )
    end = T0 + pd.Timedelta(days=400)
    got = rfm.summarize_visits(v, observation_end=end, time_unit="D")
    day = v["at"].dt.floor("D")
    spend = v[["labor_amount", "parts_amount", "addon_amount"]].sum(axis=1)
    per_day = spend.groupby([v["customer_id"], day]).sum().reset_index(name="spend")
    g = per_day.groupby("customer_id")
    ref = pd.DataFrame(
        {
            "frequency": g.size() - 1,
            "recency": (g["at"].max() - g["at"].min()).dt.days.astype(float),
            "T": (end.floor("D") - g["at"].min()).dt.days.astype(float),
        }
    )
    first = g.apply(lambda d: d.sort_values("at")["spend"].iloc[0], include_groups=False)
    ref["monetary"] = ((g["spend"].sum() - first) / ref["frequency"]).where(ref["frequency"] > 0)
    pd.testing.assert_frame_equal(got.sort_index(), ref.sort_index(), check_names=False)


def test_errors_name_the_problem():
    v = _visits([("A", 1.0, 10.0), ("B", 30.0, 10.0)])
    with pytest.raises(InputError, match="missing column"):
        rfm.summarize_visits(v.drop(columns="at"), observation_end=T0)
    with pytest.raises(InputError, match="after observation_end"):
        rfm.summarize_visits(v, observation_end=T0 + pd.Timedelta(days=10))
    with pytest.raises(InputError, match="datetime"):
        rfm.summarize_visits(v.assign(at="2024-01-01"), observation_end=T0)
    with pytest.raises(InputError, match="time_unit"):
        rfm.summarize_visits(v, observation_end=T0 + pd.Timedelta(days=40), time_unit="fortnight")
    bad = v.copy()
    bad.loc[1, "customer_id"] = None
    with pytest.raises(InputError, match="missing"):
        rfm.summarize_visits(bad, observation_end=T0 + pd.Timedelta(days=40))


def test_calibration_holdout_split_by_hand():
    v = _visits(
        [
            ("A", 0.0, 10.0),
            ("A", 7.0, 20.0),
            ("A", 15.0, 30.0),  # holdout
            ("A", 16.0, 40.0),  # holdout
            ("B", 2.0, 10.0),
            ("C", 12.0, 10.0),  # first visit after calibration end: not in the result
        ]
    )
    ch = rfm.calibration_holdout_split(
        v,
        calibration_end=T0 + pd.Timedelta(days=10),
        observation_end=T0 + pd.Timedelta(days=24),
        time_unit="D",
    )
    assert list(ch.index) == ["A", "B"]
    assert ch.loc["A", "frequency_cal"] == 1
    assert ch.loc["A", "recency_cal"] == 7.0
    assert ch.loc["A", "T_cal"] == 10.0
    assert ch.loc["A", "frequency_holdout"] == 2
    assert ch.loc["A", "monetary_holdout"] == pytest.approx(35.0)
    assert ch.loc["B", "frequency_holdout"] == 0
    assert (ch["duration_holdout"] == 14.0).all()


def _pareto_visits(n: int, rng: np.random.Generator, horizon_days: float) -> pd.DataFrame:
    """Event-level Pareto/NBD visits (weekly rates) with staggered acquisition dates."""
    r, alpha, s, beta = 0.55, 10.58, 0.61, 11.67  # rates per week
    lam = rng.gamma(r, 1 / alpha, n) / 7.0
    mu = rng.gamma(s, 1 / beta, n) / 7.0
    start = rng.uniform(0, 84, n)  # acquired in the first 12 weeks
    death = start + rng.exponential(1 / mu)
    stop = np.minimum(death, horizon_days)
    k = rng.poisson(lam * (stop - start))
    cust = np.repeat(np.arange(n), k)
    times = np.repeat(start, k) + rng.uniform(0, 1, k.sum()) * np.repeat(stop - start, k)
    ids = np.concatenate([np.arange(n), cust])
    at = np.concatenate([start, times])
    return pd.DataFrame(
        {
            "customer_id": pd.Index(ids).map(lambda i: f"C{i:05d}"),
            "at": T0 + pd.to_timedelta(at, unit="D"),
            "labor_amount": 100.0,
            "parts_amount": 0.0,
            "addon_amount": 0.0,
        }
    )


def test_holdout_table_tracks_actual_visits():
    rng = np.random.default_rng(7)
    visits = _pareto_visits(20_000, rng, horizon_days=78 * 7)
    ch = rfm.calibration_holdout_split(
        visits,
        calibration_end=T0 + pd.Timedelta(days=39 * 7),
        observation_end=T0 + pd.Timedelta(days=78 * 7),
        time_unit="W",
    )
    cal = ch.rename(columns={"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T"})
    model = ParetoNBD().fit(cal)
    table = rfm.holdout_table(model, ch, max_frequency=5)
    assert list(table.columns) == ["n_customers", "actual", "predicted"]
    assert table["n_customers"].sum() == len(ch)
    # totals within 5 %, and every group within 20 % or 0.15 visits
    total_pred = (table["predicted"] * table["n_customers"]).sum()
    total_act = (table["actual"] * table["n_customers"]).sum()
    assert total_pred == pytest.approx(total_act, rel=0.05)
    err = (table["predicted"] - table["actual"]).abs()
    assert ((err < 0.2 * table["actual"]) | (err < 0.15)).all(), table

    from crm_analytics.report.plots import plot_holdout

    ax = plot_holdout(table)
    assert ax.get_xlabel() and len(ax.lines) >= 2
    ax_zh = plot_holdout(table, lang="zh")
    assert ax_zh.get_title() != ax.get_title()
