"""core.frames: the fast helpers give pandas' own answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_analytics.core.frames import isin

WORDS = st.sampled_from(["C001", "C002", "C003", "L9", "", "王伟", None])


@given(
    values=st.lists(WORDS, max_size=30),
    universe=st.lists(st.one_of(WORDS, st.just(float("nan"))), max_size=10),
    kind=st.sampled_from(["list", "set", "series", "index", "object_series"]),
    dtype=st.sampled_from(["str", "string", "object"]),
    as_index=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_isin_equals_pandas(values, universe, kind, dtype, as_index):
    """Missing values on either side, empty universes, sets, columns and indexes of every
    string dtype: the same mask as ``values.isin(universe)``."""
    v = pd.Index(values, dtype=dtype) if as_index else pd.Series(values, dtype=dtype)
    u = {
        "list": list(universe),
        "set": set(universe),
        "series": pd.Series(universe, dtype="str"),
        "index": pd.Index(universe, dtype="str"),
        "object_series": pd.Series(universe, dtype=object),
    }[kind]
    got = isin(v, u)
    assert isinstance(got, np.ndarray) and got.dtype == bool
    np.testing.assert_array_equal(got, np.asarray(v.isin(u), dtype=bool))


@pytest.mark.parametrize(
    "universe", [[1, 2], ["C001", 1], [pd.Timestamp("2024-01-01")], np.array([1.5]), []]
)
def test_isin_non_string_universes_go_to_pandas(universe):
    v = pd.Series(["C001", None, "1"], dtype="str")
    np.testing.assert_array_equal(isin(v, universe), np.asarray(v.isin(universe), dtype=bool))


def test_isin_other_dtypes_are_pandas():
    v = pd.Series([1, 2, None], dtype="Int64")
    np.testing.assert_array_equal(isin(v, [2, None]), np.asarray(v.isin([2, None]), dtype=bool))
    d = pd.Series(pd.to_datetime(["2024-01-01", None]))
    assert isin(d, [pd.Timestamp("2024-01-01")]).tolist() == [True, False]
