"""Tests of :mod:`crm_analytics.metrics.attribution`.

Numbers are checked against hand computations, an independent dense linear-algebra solution
of the absorbing chain, and the known true channel effects of simulated journeys.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.metrics import attribution as A


def _credits(result: pd.DataFrame, model: str, col: str = "conversions") -> dict[str, float]:
    part = result[result["model"] == model]
    return dict(zip(part["channel"], part[col], strict=True))


def _frame(paths, converted, value=None) -> pd.DataFrame:
    value = value if value is not None else [10.0 * c for c in converted]
    return pd.DataFrame(
        {"path": [tuple(p) for p in paths], "converted": list(converted), "value": value}
    )


# ----------------------------------------------------------------------------------------
# hand-computed cases
# ----------------------------------------------------------------------------------------
HAND = _frame([("a", "b"), ("b",), ("a",)], [True, False, False], [30.0, 0.0, 0.0])


def test_markov_order1_by_hand():
    # start->a 2/3, start->b 1/3; a->b 1/2, a->null 1/2; b->conv 1/2, b->null 1/2
    # P(conv) = 2/3*1/2*1/2 + 1/3*1/2 = 1/3
    # without a: 1/3*1/2 = 1/6 -> RE_a = 1/2; without b: 0 -> RE_b = 1
    re = A.removal_effects(HAND).set_index("channel")
    assert re.attrs["conversion_probability"] == pytest.approx(1 / 3)
    assert re.loc["a", "removal_effect"] == pytest.approx(0.5)
    assert re.loc["b", "removal_effect"] == pytest.approx(1.0)
    res = A.attribute(HAND, models=["markov"])
    assert _credits(res, "markov_1") == pytest.approx({"a": 1 / 3, "b": 2 / 3})
    assert _credits(res, "markov_1", "value") == pytest.approx({"a": 10.0, "b": 20.0})


def test_markov_without_nulls_and_order2_by_hand():
    res = A.attribute(HAND, models=["markov_1"], include_nulls=False)
    # only a > b > conv remains: both removals kill every conversion
    assert _credits(res, "markov_1") == pytest.approx({"a": 0.5, "b": 0.5})
    # order 2: states (a), (a,b), (b); removing either channel removes (a,b)
    res2 = A.attribute(HAND, models=["markov_2"])
    assert _credits(res2, "markov_2") == pytest.approx({"a": 0.5, "b": 0.5})
    chain = A.markov_chain(HAND)
    p = {(f, t): v for f, t, v in chain.itertuples(index=False)}
    assert p[("(start)", "a")] == pytest.approx(2 / 3)
    assert p[("a", "b")] == pytest.approx(0.5)
    assert p[("b", "(conversion)")] == pytest.approx(0.5)
    assert p[("b", "(null)")] == pytest.approx(0.5)


def test_heuristics_by_hand():
    j = _frame([("a", "b", "c", "d"), ("c", "a")], [True, True], [100.0, 10.0])
    res = A.attribute(j, models=None, half_life=1.0)
    assert _credits(res, "first_touch") == pytest.approx({"a": 1, "b": 0, "c": 1, "d": 0})
    assert _credits(res, "last_touch") == pytest.approx({"a": 1, "b": 0, "c": 0, "d": 1})
    assert _credits(res, "linear") == pytest.approx({"a": 0.75, "b": 0.25, "c": 0.75, "d": 0.25})
    assert _credits(res, "position_based") == pytest.approx(
        {"a": 0.4 + 0.5, "b": 0.1, "c": 0.1 + 0.5, "d": 0.4}
    )
    assert _credits(res, "position_based", "value") == pytest.approx(
        {"a": 40 + 5, "b": 10, "c": 10 + 5, "d": 40}
    )
    # touch-based time decay without days_before: weights 1/8, 1/4, 1/2, 1 (half-life 1 touch)
    w = np.array([1 / 8, 1 / 4, 1 / 2, 1.0]) / (15 / 8)
    assert _credits(res, "time_decay") == pytest.approx(
        {"a": w[0] + 2 / 3, "b": w[1], "c": w[2] + 1 / 3, "d": w[3]}
    )
    # simplified Shapley: equal share per distinct channel of each converting journey
    assert _credits(res, "shapley_simplified") == pytest.approx(
        {"a": 0.25 + 0.5, "b": 0.25, "c": 0.25 + 0.5, "d": 0.25}
    )


def test_time_decay_uses_days_before():
    j = _frame([("a", "b")], [True], [8.0])
    j["days_before"] = [(14.0, 0.0)]
    res = A.attribute(j, models=["time_decay"], half_life=7.0)
    # weights 2**-2 and 1 -> 0.2 and 0.8
    assert _credits(res, "time_decay") == pytest.approx({"a": 0.2, "b": 0.8})
    assert _credits(res, "time_decay", "value") == pytest.approx({"a": 1.6, "b": 6.4})


def test_shapley_coalition_by_hand():
    # sets {a}: 1 of 2 convert, {b}: 0 of 1, {a,b}: 1 of 1
    # v(a) = 1/2, v(b) = 0, v(ab) = 2/4 -> phi_a = 1/2, phi_b = 0
    j = _frame([("a", "b"), ("b",), ("a",), ("a",)], [True, False, False, True])
    res = A.attribute(j, models=["shapley"])
    assert _credits(res, "shapley") == pytest.approx({"a": 2.0, "b": 0.0}, abs=1e-12)


def test_shapley_coalition_matches_brute_force_permutations():
    rng = np.random.default_rng(3)
    chans = list("abcd")
    paths = [tuple(rng.choice(chans, size=rng.integers(1, 4))) for _ in range(200)]
    conv = rng.random(200) < 0.3
    j = _frame(paths, conv)
    res = _credits(A.attribute(j, models=["shapley"]), "shapley")

    sets = [frozenset(p) for p in paths]

    def v(s):
        idx = [i for i, x in enumerate(sets) if x <= s]
        return float(np.mean(conv[idx])) if idx else 0.0

    phi = dict.fromkeys(chans, 0.0)
    perms = list(itertools.permutations(chans))
    for perm in perms:
        s: frozenset = frozenset()
        for c in perm:
            phi[c] += (v(s | {c}) - v(s)) / len(perms)
            s = s | {c}
    total = conv.sum()
    full = v(frozenset(chans))
    assert res == pytest.approx({c: phi[c] / full * total for c in chans})


def test_attribute_paths_matches_journey_rows():
    rng = np.random.default_rng(0)
    chans = ["search", "display", "tv"]
    paths = [tuple(rng.choice(chans, size=rng.integers(1, 5))) for _ in range(300)]
    conv = rng.random(300) < 0.4
    value = np.where(conv, rng.gamma(2.0, 5.0, 300), 0.0)
    j = _frame(paths, conv, value)
    agg = (
        j.assign(
            path=j["path"].map(" > ".join),
            total_conversions=conv.astype(int),
            total_null=(~conv).astype(int),
            total_conversion_value=value,
        )
        .groupby("path", as_index=False)[
            ["total_conversions", "total_null", "total_conversion_value"]
        ]
        .sum()
    )
    # irregular spacing around the separator must not matter
    agg["path"] = agg["path"].str.replace(" > ", ">", n=1)
    a = A.attribute(j, half_life=2.0).sort_values(["model", "channel"], ignore_index=True)
    b = A.attribute_paths(agg, half_life=2.0).sort_values(["model", "channel"], ignore_index=True)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-10)


# ----------------------------------------------------------------------------------------
# independent linear algebra
# ----------------------------------------------------------------------------------------
def _dense_removal_effects(paths, conv, nulls, order):
    """Dense absorbing-chain solution built from scratch with dicts and numpy.linalg."""
    states = {("start",): 0}
    counts: dict[tuple[int, str | int], float] = {}

    def sid(s):
        return states.setdefault(s, len(states))

    for p, c, n in zip(paths, conv, nulls, strict=True):
        w = c + n
        if w == 0:
            continue
        prev = 0
        for i in range(len(p)):
            s = sid(tuple(p[max(0, i - order + 1) : i + 1]))
            counts[(prev, s)] = counts.get((prev, s), 0.0) + w
            prev = s
        counts[(prev, "conv")] = counts.get((prev, "conv"), 0.0) + c
        counts[(prev, "null")] = counts.get((prev, "null"), 0.0) + n
    m = len(states)
    P = np.zeros((m, m + 2))  # last two columns: conv, null
    for (i, j), w in counts.items():
        col = m if j == "conv" else m + 1 if j == "null" else j
        P[i, col] += w
    P = P / np.where(P.sum(1, keepdims=True) > 0, P.sum(1, keepdims=True), 1)

    def p_conv(P):
        Q, R = P[:, :m], P[:, m]
        return np.linalg.solve(np.eye(m) - Q, R)[0]

    base = p_conv(P)
    out = {}
    names = {s for p in paths for s in p}
    for ch in names:
        P2 = P.copy()
        for s, i in states.items():
            if ch in s:  # redirect transitions into states containing ch to null
                P2[:, m + 1] += P2[:, i]
                P2[:, i] = 0.0
        out[ch] = 1 - p_conv(P2) / base
    return out


@pytest.mark.parametrize("include_nulls", [True, False])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_removal_effects_equal_dense_solution(order, include_nulls):
    rng = np.random.default_rng(order)
    chans = list("abcde")
    paths = [tuple(rng.choice(chans, size=rng.integers(1, 6))) for _ in range(400)]
    conv = (rng.random(400) < 0.35).astype(float)
    j = _frame(paths, conv.astype(bool))
    got = A.removal_effects(j, order=order, include_nulls=include_nulls)
    got = got.set_index("channel")["removal_effect"].to_dict()
    nulls = 1 - conv if include_nulls else np.zeros_like(conv)
    want = _dense_removal_effects(paths, conv, nulls, order)
    assert got == pytest.approx(want, abs=1e-10)


# ----------------------------------------------------------------------------------------
# property tests
# ----------------------------------------------------------------------------------------
journey_strategy = st.lists(
    st.tuples(
        st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=6),
        st.booleans(),
        st.floats(min_value=0, max_value=1e5, allow_nan=False),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journey_strategy, st.booleans())
def test_every_model_credits_sum_to_totals(rows, include_nulls):
    j = pd.DataFrame(
        {
            "path": [tuple(p) for p, _, _ in rows],
            "converted": [c for _, c, _ in rows],
            "value": [v if c else 0.0 for _, c, v in rows],
        }
    )
    res = A.attribute(j, include_nulls=include_nulls)
    total_c = float(j["converted"].sum())
    total_v = float(j["value"].sum())
    sums = res.groupby("model")[["conversions", "value"]].sum()
    assert set(sums.index) == set(A.MODELS)
    np.testing.assert_allclose(sums["conversions"], total_c, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(sums["value"], total_v, rtol=1e-9, atol=1e-6)
    nonneg = res[res["model"] != "shapley"]
    assert (nonneg["conversions"] >= -1e-9).all()
    # channels never on a converting journey get nothing from path-based heuristics
    converting = {c for p, conv, _ in rows if conv for c in p}
    heur = res[res["model"].isin(["first_touch", "last_touch", "linear", "shapley_simplified"])]
    assert (heur.loc[~heur["channel"].isin(converting), "conversions"].abs() < 1e-12).all()


@settings(max_examples=30, deadline=None)
@given(journey_strategy)
def test_markov_matches_dense_solution_on_random_journeys(rows):
    paths = [tuple(p) for p, _, _ in rows]
    conv = np.array([float(c) for _, c, _ in rows])
    if conv.sum() == 0:
        return
    j = _frame(paths, conv.astype(bool))
    got = A.removal_effects(j, order=2).set_index("channel")["removal_effect"].to_dict()
    want = _dense_removal_effects(paths, conv, 1 - conv, 2)
    assert got == pytest.approx(want, abs=1e-9)


# ----------------------------------------------------------------------------------------
# degenerate input
# ----------------------------------------------------------------------------------------
def test_one_touch_journeys_every_model_agrees_with_counts():
    rng = np.random.default_rng(1)
    chans = rng.choice(["a", "b", "c"], size=500)
    conv = rng.random(500) < np.where(chans == "a", 0.5, 0.2)
    j = _frame([(c,) for c in chans], conv)
    res = A.attribute(j, models=[m for m in A.MODELS if m != "shapley"])
    want = pd.Series(conv).groupby(chans).sum().astype(float).to_dict()
    for model in res["model"].unique():
        assert _credits(res, model) == pytest.approx(want), model


def test_channel_that_never_converts():
    j = _frame([("a",), ("d",), ("d", "d"), ("a", "a")], [True, False, False, True])
    res = A.attribute(j)
    for model in A.MODELS:
        credit = _credits(res, model)["d"]
        if model == "shapley":
            # v({d}) = 0, v({a}) = 1, v({a, d}) = 1/2: phi_d = -1/4, phi_a = 3/4, scaled by
            # 2 conversions / v(N) = 4: d lowers the pooled rate and gets a negative credit
            assert credit == pytest.approx(-1.0)
            assert _credits(res, model)["a"] == pytest.approx(3.0)
        else:
            assert credit == pytest.approx(0.0, abs=1e-12), model


def test_repeated_and_single_channel():
    j = _frame([("a", "a", "a"), ("a",), ("a", "a")], [True, False, True], [5.0, 0.0, 7.0])
    res = A.attribute(j)
    assert (res["channel"] == "a").all()
    np.testing.assert_allclose(res["conversions"], 2.0)
    np.testing.assert_allclose(res["value"], 12.0)


def test_no_conversions_gives_zero_credit():
    j = _frame([("a", "b"), ("b",)], [False, False])
    res = A.attribute(j)
    assert (res["conversions"] == 0).all() and (res["value"] == 0).all()


def test_empty_input_gives_empty_table():
    empty = pd.DataFrame({"path": [], "converted": [], "value": []})
    res = A.attribute(empty)
    assert list(res.columns) == ["channel", "model", "conversions", "value"]
    assert res.empty
    paths = pd.DataFrame({"path": [], "total_conversions": [], "total_null": []})
    assert A.attribute_paths(paths, value_col=None).empty


def test_clear_errors():
    j = _frame([("a",)], [True])
    with pytest.raises(InputError, match="unknown model 'markov_9'"):
        A.attribute(j, models=["markov_9"])
    with pytest.raises(InputError, match="no column 'conv'"):
        A.attribute(j, converted_col="conv")
    with pytest.raises(InputError, match="are empty"):
        A.attribute_paths(
            pd.DataFrame(
                {"path": ["a > b", " "], "total_conversions": [1, 0], "total_null": [0, 1]}
            ),
            value_col=None,
        )
    with pytest.raises(InputError, match="missing"):
        A.attribute_paths(
            pd.DataFrame({"path": ["a", None], "total_conversions": [1, 0], "total_null": [0, 1]}),
            value_col=None,
        )
    with pytest.raises(InputError, match="negative counts"):
        A.attribute_paths(
            pd.DataFrame({"path": ["a"], "total_conversions": [-1], "total_null": [0]}),
            value_col=None,
        )
    many = _frame([tuple(f"c{i}" for i in range(16))], [True])
    with pytest.raises(InputError, match="at most 15 channels"):
        A.attribute(many, models=["shapley"])
    assert A.attribute(many, models=["shapley_simplified", "markov_3"])["conversions"].sum() == (
        pytest.approx(2.0)
    )
    with pytest.raises(InputError, match="0/1"):
        A.attribute(j.assign(converted=[3]))


# ----------------------------------------------------------------------------------------
# ranking against known true effects
# ----------------------------------------------------------------------------------------
def simulate_journeys(n, effects, *, seed=0, base=0.02, staged=True):
    """Journeys of 1-5 uniformly drawn channels converting with probability
    ``1 - (1 - base) * prod(1 - effect)`` over the distinct channels touched. With ``staged``,
    strong channels tend to come first (awareness) and weak ones last (closing), as in a
    dealer funnel, which fools last-touch and position-based heuristics."""
    rng = np.random.default_rng(seed)
    names = list(effects)
    eff = np.array([effects[c] for c in names])
    paths, conv = [], []
    for _ in range(n):
        length = rng.integers(1, 6)
        idx = rng.integers(0, len(names), size=length)
        if staged:
            idx = idx[np.argsort(idx + rng.normal(0.0, 1.0, size=length))]
        p = 1 - (1 - base) * np.prod(1 - eff[np.unique(idx)])
        paths.append(tuple(names[i] for i in idx))
        conv.append(rng.random() < p)
    return _frame(paths, conv)


def test_markov_and_shapley_rank_true_effects():
    effects = {"a": 0.40, "b": 0.20, "c": 0.10, "d": 0.04, "e": 0.0}
    j = simulate_journeys(30_000, effects, seed=0)
    res = A.attribute(j)
    true_order = list(effects)

    def ranking(model):
        credit = _credits(res, model)
        return sorted(credit, key=credit.get, reverse=True)

    for model in ("markov_1", "markov_2", "markov_3", "shapley", "shapley_simplified"):
        assert ranking(model) == true_order, model
    # where heuristics disagree: the zero-effect closing channel e wins last touch
    assert ranking("last_touch")[0] == "e"
    assert ranking("position_based") != true_order


# ----------------------------------------------------------------------------------------
# journeys and media efficiency from a DealerData
# ----------------------------------------------------------------------------------------
def _dealer() -> DealerData:
    ts = pd.Timestamp
    leads = pd.DataFrame(
        {
            "dealer_id": "D1",
            "lead_id": ["L1", "L2", "L3", "L4"],
            "customer_id": ["C1", "C2", "C3", "C4"],
            "channel": ["online_inquiry", "walk_in", "auto_show", "referral"],
            "model_interest": ["QX50", "QX60", "QX50", "Q50L"],
            "created_at": [ts("2026-01-05"), ts("2026-01-10"), ts("2026-02-01"), ts("2026-02-03")],
            "consultant_id": None,
            "intent_grade": None,
            "status": ["won", "defeated", "open", "defeated"],
            "closed_at": [ts("2026-02-01"), ts("2026-03-01"), pd.NaT, ts("2026-03-01")],
            "defeat_reason": None,
        }
    )
    tp = pd.DataFrame(
        {
            "dealer_id": "D1",
            "touch_id": [f"T{i}" for i in range(8)],
            "customer_id": ["C1", "C1", "C1", "C1", "C2", "C2", "C3", "C1"],
            "lead_id": ["L1", "L1", "L1", "L1", "L2", "L2", "L3", "L1"],
            "kind": ["inquiry", "call", "visit", "inquiry", "visit", "inquiry", "inquiry", "call"],
            "channel": [
                "online_inquiry",
                None,
                "walk_in",
                "dcc_outbound",
                "walk_in",
                "online_inquiry",
                "auto_show",
                "phone_inquiry",
            ],
            "at": [
                ts("2026-01-05"),
                ts("2026-01-06"),
                ts("2026-01-12"),
                ts("2026-01-20"),
                ts("2026-01-10"),
                ts("2025-06-01"),  # outside the 90-day window of L2
                ts("2026-02-01"),
                ts("2026-03-01"),  # after L1's order
            ],
            "outcome": None,
            "dwell_minutes": np.nan,
            "staff_id": None,
        }
    )
    orders = pd.DataFrame(
        {
            "dealer_id": "D1",
            "order_id": ["O1"],
            "lead_id": ["L1"],
            "customer_id": ["C1"],
            "vin": [None],
            "model": ["QX50"],
            "ordered_at": [ts("2026-01-25")],
            "delivered_at": [ts("2026-02-10")],
            "status": ["delivered"],
            "price": [300_000.0],
            "vehicle_margin": [5_000.0],
            "finance": [True],
            "finance_margin": [3_000.0],
            "insurance": [True],
            "insurance_margin": [1_000.0],
            "accessories_amount": [0.0],
            "accessories_margin": [500.0],
            "extended_warranty": [False],
            "extended_warranty_margin": [0.0],
            "trade_in": [False],
            "trade_in_margin": [0.0],
        }
    )
    costs = pd.DataFrame(
        {
            "dealer_id": "D1",
            "channel": ["online_inquiry", "walk_in", "auto_show"],
            "month": [ts("2026-01-01"), ts("2026-01-01"), ts("2026-02-01")],
            "cost": [1_900.0, 500.0, 4_000.0],
        }
    )
    return DealerData(
        dealer_id="D1",
        name="d",
        city="c",
        as_of=ts("2026-03-31"),
        tables={"leads": leads, "touchpoints": tp, "orders": orders, "channel_costs": costs},
    )


def test_journeys_from_dealer():
    j = A.journeys(_dealer(), lookback_days=90).set_index("lead_id")
    assert list(j.index) == ["L1", "L2", "L4"]  # L3 is open
    assert j.loc["L1", "path"] == ("online_inquiry", "walk_in", "dcc_outbound")
    assert j.loc["L1", "days_before"] == (20.0, 13.0, 5.0)
    assert bool(j.loc["L1", "converted"]) and j.loc["L1", "value"] == 9_500.0
    assert j.loc["L2", "path"] == ("walk_in",)  # old inquiry is out of the window
    assert not j.loc["L2", "converted"] and j.loc["L2", "value"] == 0.0
    assert j.loc["L4", "path"] == ("referral",) and j.loc["L4", "n_touches"] == 0
    only = A.journeys(_dealer(), kinds=["inquiry"], include_open=True).set_index("lead_id")
    assert only.loc["L1", "path"] == ("online_inquiry", "dcc_outbound")
    assert only.loc["L3", "path"] == ("auto_show",)
    dropped = A.journeys(_dealer(), lead_channel_fallback=False)
    assert dropped.attrs["dropped_without_touch"] == 1
    res = A.attribute(j)
    assert res.groupby("model")["value"].sum().to_numpy() == pytest.approx(9_500.0)
    with pytest.raises(InputError, match="unknown touchpoint kind"):
        A.journeys(_dealer(), kinds=["visits"])
    # a cancelled order is no conversion: the lead ends at its close, unconverted
    d = _dealer()
    d.tables["orders"] = d.orders.assign(status="cancelled")
    c = A.journeys(d).set_index("lead_id")
    assert not c.loc["L1", "converted"] and c.loc["L1", "value"] == 0.0
    assert c.loc["L1", "end_at"] == pd.Timestamp("2026-02-01")
    assert c.loc["L1", "path"][-1] == "dcc_outbound"


def test_media_efficiency():
    d = _dealer()
    m = A.media_efficiency(d, by=("month",)).set_index(["channel", "month"])
    jan = pd.Timestamp("2026-01-01")
    row = m.loc[("online_inquiry", jan)]
    assert row["leads"] == 1 and row["visits"] == 1 and row["orders"] == 1
    assert row["deliveries"] == 1 and row["gross_profit"] == 9_500.0
    assert row["cost_per_lead"] == 1_900.0 and row["cost_per_order"] == 1_900.0
    assert row["roi"] == pytest.approx((9_500 - 1_900) / 1_900)
    w = m.loc[("walk_in", jan)]
    assert w["cost_per_visit"] == 500.0 and math.isnan(w["cost_per_order"])
    tot = A.media_efficiency(d, by=())
    assert tot["cost"].sum() == pytest.approx(6_400.0)
    assert tot["leads"].sum() == 4
    bym = A.media_efficiency(d, by=("month", "model"))
    assert bym["cost"].sum() == pytest.approx(6_400.0)
    with pytest.raises(InputError, match="by="):
        A.media_efficiency(d, by=("week",))


def test_path_strings_differing_in_spacing_are_merged():
    paths = pd.DataFrame(
        {
            "path": ["a>b", " a > b ", "b >> a", "b > a"],
            "total_conversions": [1, 2, 0, 1],
            "total_null": [1, 0, 3, 0],
        }
    )
    res = A.attribute_paths(paths, value_col=None, models=["first_touch", "markov_2"])
    assert _credits(res, "first_touch") == pytest.approx({"a": 3.0, "b": 1.0})
    chain = A.markov_chain(
        paths, conversions_col="total_conversions", nulls_col="total_null", value_col=None
    )
    p = {(f, t): v for f, t, v in chain.itertuples(index=False)}
    assert p[("(start)", "a")] == pytest.approx(4 / 8)
    assert p[("b", "(conversion)")] == pytest.approx(3 / 8)  # b ends 4 of its 8 exits


def test_channel_reach():
    j = _frame([("a", "a", "b"), ("b",), ("c", "a")], [True, False, False])
    reach = A.channel_reach(j).set_index("channel")
    assert reach["journeys"].to_dict() == {"a": 2, "b": 2, "c": 1}
    assert reach["touches"].to_dict() == {"a": 3, "b": 2, "c": 1}


# ----------------------------------------------------------------------------------------
# the simulator's ground truth
# ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim_dealer():
    synth = pytest.importorskip("crm_analytics.sim")
    return synth.simulate_dealer(0, customers=20_000, seed=2016, defects=synth.DefectRates.none())


@pytest.fixture(scope="module")
def large_sim_dealer():
    synth = pytest.importorskip("crm_analytics.sim")
    return synth.simulate_dealer(0, customers=60_000, seed=2016, defects=synth.DefectRates.none())


def test_markov_and_shapley_rank_simulator_effects(large_sim_dealer):
    """Credits per journey touching a channel against the simulator's true per-journey effect:
    the orders lost when the channel is taken out of every journey of the data-generating
    process (``truth['channel_effects']['orders_lost_per_journey']``)."""
    from scipy.stats import spearmanr

    j = A.journeys(large_sim_dealer)
    assert len(j) > 20_000 and 0.02 < j["converted"].mean() < 0.5
    effects = large_sim_dealer.truth["channel_effects"].set_index("channel")
    truth = effects["orders_lost_per_journey"].sort_values(ascending=False)
    # the causal effect ranks channels as their intent effects do
    assert list(truth.index) == list(effects["effect"].sort_values(ascending=False).index)
    res = A.attribute(j)
    reach = A.channel_reach(j).set_index("channel")["journeys"]
    per = res.pivot(index="channel", columns="model", values="conversions").div(reach, axis=0)
    per = per.loc[truth.index]
    # conversions credited per journey touching the channel, against the true effect
    for model in ("markov_2", "markov_3"):
        assert list(per[model].sort_values(ascending=False).index) == list(truth.index), model
    for model in ("markov_1", "shapley", "shapley_simplified"):
        # at most one swap of neighbouring channels (sampling noise of one dealer)
        assert spearmanr(per[model], truth).statistic >= 0.95, model
    # the top and bottom channels are right in every model
    for model in A.MODELS:
        order = list(per[model].sort_values(ascending=False).index)
        assert set(order[:2]) == {"referral", "walk_in"}, model
        assert order[-1] == "partner_list", model


def test_media_efficiency_period_is_the_months_of_the_monthly_table(sim_dealer):
    d = sim_dealer
    monthly = A.media_efficiency(d, by=("month",))
    lo, hi = d.as_of - pd.DateOffset(months=12) + pd.Timedelta(days=1), d.as_of
    got = A.media_efficiency(d, by=(), period=(lo, hi)).set_index("channel")
    inside = monthly[monthly["month"].between(lo.to_period("M").to_timestamp(), hi)]
    want = inside.groupby("channel")[["cost", "leads", "orders", "gross_profit"]].sum()
    pd.testing.assert_frame_equal(got[want.columns].loc[want.index], want, check_dtype=False)
    assert len(A.media_efficiency(d, by=(), period=("2001-01-01", "2001-12-31"))) == 0


def test_media_totals_of_a_finer_table_are_the_coarser_table(sim_dealer):
    """Summing the channel x model table over models gives the channel table (cost split by
    model's lead share adds back up), ratios recomputed from the sums, not averaged."""
    d = sim_dealer
    by_model = A.media_efficiency(d, by=("model",))
    got = A.media_totals(by_model, "channel").set_index("channel")
    want = A.media_efficiency(d, by=()).set_index("channel")
    pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False)
    per_model = A.media_totals(by_model, ["model"]).set_index("model")
    assert per_model["leads"].sum() == len(d.leads)
    m = per_model.loc[per_model["orders"] > 0].iloc[0]
    assert m["cost_per_order"] == pytest.approx(m["cost"] / m["orders"])
    with pytest.raises(InputError, match="week"):
        A.media_totals(by_model, ["week"])


def test_media_efficiency_on_simulator(sim_dealer):
    d = sim_dealer
    tot = A.media_efficiency(d, by=())
    assert tot["cost"].sum() == pytest.approx(d.channel_costs["cost"].sum())
    assert tot["leads"].sum() == len(d.leads)
    live = d.orders[d.orders["status"] != "cancelled"]
    assert tot["orders"].sum() == live["lead_id"].isin(d.leads["lead_id"]).sum()
    for by in (("month",), ("model",), ("month", "model")):
        m = A.media_efficiency(d, by=by)
        assert m["cost"].sum() == pytest.approx(tot["cost"].sum())
        assert m["leads"].sum() == tot["leads"].sum()
        assert m["gross_profit"].sum() == pytest.approx(tot["gross_profit"].sum())
    walk = tot.set_index("channel").loc["walk_in"]
    assert walk["visits"] == walk["leads"]  # walk-ins are visits by definition


def test_persona_channel_effects_on_simulator(sim_dealer):
    for by in ("age_band", "industry"):
        p = A.persona_channel_effects(sim_dealer, by=by)
        assert not p.empty and p["journeys"].min() >= 30
        rates = p[["conversion_rate_with", "conversion_rate_without"]].stack()
        assert rates.between(0, 1).all() and rates.std() > 0
        shares = p.groupby(by)["share_markov_1"].sum()
        np.testing.assert_allclose(shares, 1.0)
    with pytest.raises(InputError, match="age_band"):
        A.persona_channel_effects(sim_dealer, by="hobby")


def test_empty_dealer():
    d = DealerData(dealer_id="X", name="x", city="c", as_of=pd.Timestamp("2026-01-01"), tables={})
    j = A.journeys(d)
    assert j.empty and "path" in j.columns
    assert A.attribute(j).empty
    assert A.media_efficiency(d, by=("month", "model")).empty
    assert A.persona_channel_effects(d).empty


def test_long_paths_with_spacing_variants_are_merged():
    long = [f"c{i % 17}" for i in range(40)]  # too long for the integer path key
    paths = pd.DataFrame(
        {
            "path": [">".join(long), " > ".join(long), "c1 > c2"],
            "total_conversions": [1, 1, 0],
            "total_null": [0, 0, 1],
        }
    )
    res = A.attribute_paths(paths, value_col=None, models=["first_touch", "linear"])
    assert _credits(res, "first_touch")["c0"] == pytest.approx(2.0)
    assert sum(_credits(res, "linear").values()) == pytest.approx(2.0)
    chain = A.markov_chain(
        paths, conversions_col="total_conversions", nulls_col="total_null", value_col=None
    )
    p = {(f, t): v for f, t, v in chain.itertuples(index=False)}
    assert p[("(start)", "c0")] == pytest.approx(2 / 3)
