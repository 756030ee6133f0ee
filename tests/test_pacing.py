"""Month-to-date pacing: a hand-computed month, the default targets, and the coverage of the
projected month end on simulated Poisson months."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_analytics.metrics import pacing


def _tables(lead_days, orders):
    """Leads created on ``lead_days``; orders as ``(ordered, delivered or None, status)``."""
    leads = pd.DataFrame({"created_at": pd.to_datetime(lead_days)})
    o = pd.DataFrame(orders, columns=["ordered_at", "delivered_at", "status"])
    o["ordered_at"] = pd.to_datetime(o["ordered_at"])
    o["delivered_at"] = pd.to_datetime(o["delivered_at"])
    return leads, o


def test_open_days_of_june_2026():
    # 2026-06-01 is a Monday; the Sundays are the 7th, 14th, 21st and 28th
    assert pacing.open_days("2026-06-01", "2026-06-30") == 26
    assert pacing.open_days("2026-06-01", "2026-06-10") == 9
    assert pacing.open_days("2026-06-01", "2026-06-10", weekdays=range(7)) == 10


def test_hand_computed_month():
    # data date Wednesday 2026-06-10: 9 of June's 26 open days have passed
    lead_days = ["2026-06-02"] * 30 + ["2026-06-10"] * 6 + ["2026-05-31"] * 5 + ["2025-06-15"] * 80
    orders = (
        [("2026-06-03", "2026-06-05", "delivered")] * 9
        + [("2026-06-03", None, "pending")] * 3
        + [("2026-06-04", None, "cancelled")] * 3
        + [("2025-06-20", "2025-06-25", "delivered")] * 26
        + [("2025-06-20", None, "cancelled")] * 4
        + [("2025-06-20", "2025-07-02", "delivered")] * 22
    )
    leads, orders = _tables(lead_days, orders)
    out = pacing.month_to_date_pacing(
        leads,
        orders,
        as_of="2026-06-10",
        targets={"orders": 52.0},
        growth=0.25,
        data_start="2025-01-01",
    ).set_index("measure")
    o = out.loc["orders"]
    assert o["actual"] == 12  # the 3 cancelled orders do not count
    assert (o["open_days_elapsed"], o["open_days"]) == (9, 26)
    assert o["basis"] == "given" and o["target"] == 52.0
    assert o["expected"] == pytest.approx(18.0)  # 52 x 9 / 26
    assert o["gap"] == pytest.approx(-6.0)
    assert o["projected"] == pytest.approx(12 + 12 * 17 / 9)  # 34.67 at June's pace
    assert o["projected_high"] < 52 and o["status"] == "red"
    le = out.loc["leads"]
    assert le["actual"] == 36 and le["basis"] == "last_year"
    assert le["target"] == pytest.approx(80 * 1.25)  # June 2025 x (1 + growth)
    assert le["expected"] == pytest.approx(100 * 9 / 26)
    assert le["status"] == "green"  # 36 >= 34.6
    d = out.loc["deliveries"]
    assert d["actual"] == 9 and d["target"] == pytest.approx(26 * 1.25)  # June 2025: 26
    assert d["expected"] == pytest.approx(32.5 * 9 / 26)  # 11.25: behind by 2.25
    assert d["status"] == "amber"  # behind, but 32.5 is inside the 80% interval
    assert d["projected_low"] <= 32.5 <= d["projected_high"]


def test_default_target_falls_back_to_the_last_three_months():
    lead_days = ["2026-03-01"] * 30 + ["2026-04-10"] * 45 + ["2026-05-31"] * 60 + ["2026-06-02"] * 5
    leads, orders = _tables(lead_days, [])
    out = pacing.month_to_date_pacing(leads, orders, as_of="2026-06-10").set_index("measure")
    assert out.loc["leads", "basis"] == "recent"
    assert out.loc["leads", "target"] == pytest.approx(45.0)
    # a store that starts this month has no target and no status
    leads, orders = _tables(["2026-06-02"] * 5, [])
    out = pacing.month_to_date_pacing(leads, orders, as_of="2026-06-10").set_index("measure")
    assert out.loc["leads", "basis"] == "none" and out.loc["leads", "status"] == ""


def test_projection_interval_covers_simulated_month_ends():
    """Months of Poisson orders at a known daily rate: the 80% interval of the month end,
    made on the 10th, covers the realised month end in about 80% of them."""
    rng = np.random.default_rng(7)
    days = pd.date_range("2026-06-01", "2026-06-30")
    open_ = days[days.day_of_week < 6]
    hits, n = 0, 400
    for _ in range(n):
        rate = rng.uniform(0.5, 4.0)
        per_day = rng.poisson(rate, len(open_))
        times = np.repeat(open_.to_numpy(), per_day)
        leads = pd.DataFrame({"created_at": pd.to_datetime(times)})
        orders = pd.DataFrame(
            {"ordered_at": pd.to_datetime([]), "delivered_at": pd.to_datetime([]), "status": []}
        )
        row = pacing.month_to_date_pacing(leads, orders, as_of="2026-06-10", targets={"leads": 1})
        row = row.set_index("measure").loc["leads"]
        hits += row["projected_low"] <= per_day.sum() <= row["projected_high"]
    assert 0.74 <= hits / n <= 0.88, hits / n


def test_the_note_names_the_open_weekdays_the_pacing_used():
    """A showroom open Tuesday to Sunday is paced on those days and the report says so (the note
    said "Monday to Saturday" whatever the settings)."""
    from crm_analytics.report.sections import open_weekdays

    leads, orders = _tables(["2026-06-02"] * 3, [("2026-06-03", None, "pending")])
    days = (1, 2, 3, 4, 5, 6)
    out = pacing.month_to_date_pacing(
        leads, orders, as_of="2026-06-10", targets={"orders": 10.0}, weekdays=days
    )
    # June 2026 has 30 days and 5 Mondays (1, 8, 15, 22, 29): 25 open; 1-10 June has 2: 8 open
    assert (out["open_days_elapsed"].iloc[0], out["open_days"].iloc[0]) == (8, 25)
    assert out.attrs["weekdays"] == days
    assert open_weekdays(out.attrs["weekdays"], "en") == "Tuesday to Sunday"
    assert open_weekdays(out.attrs["weekdays"], "zh") == "周二至周日"
    assert open_weekdays((0, 2), "en") == "Monday, Wednesday"
