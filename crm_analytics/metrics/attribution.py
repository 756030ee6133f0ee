"""Channel attribution (heuristic, Markov, Shapley) and media efficiency.

Everything here is a function: tables in, new tables out, options keyword-only.

Pipeline
--------
1. :func:`journeys` turns one dealer's touchpoints, leads and orders into one row per lead:
   the ordered channel touches up to the order (converted; value = order gross profit) or
   until the lead closes unconverted, within a lookback window.
2. :func:`attribute` (journey rows) and :func:`attribute_paths` (aggregated path tables as
   other attribution tools export them) credit conversions and value to channels with any
   of the models of :data:`MODELS`, returning one tidy table ``channel, model, conversions,
   value``. Every model's credits add up to the total conversions and total value.
3. :func:`media_efficiency` and :func:`persona_channel_effects` relate channels to cost and to
   customer personas.

Internally, journeys are first aggregated to distinct paths with counts of conversions,
non-conversions and value, so every model scales with the number of distinct paths rather
than the number of journeys.

Models
------
``first_touch``, ``last_touch``
    All credit of a journey to its first (last) touch.
``linear``
    Equal credit to every touch (a channel touched twice gets two shares).
``position_based``
    40 % to the first touch, 40 % to the last, 20 % shared by the touches between (a one-touch
    journey gives 100 % to its touch, a two-touch journey 50/50); weights are adjustable.
``time_decay``
    Touch weight ``2 ** (-age / half_life)``. With journey rows carrying ``days_before`` (as
    :func:`journeys` writes), age is days before the journey's end and ``half_life`` is in days;
    otherwise (path tables) age is the number of touches before the last one and
    ``half_life`` is in touches.
``markov_1``, ``markov_2``, ``markov_3`` (``markov`` = ``markov_1``)
    Removal effects of an absorbing Markov chain of order *k*, computed exactly by sparse
    linear solves (no simulation). States are the last ``min(i, k)`` channels of the path after
    its *i*-th touch, plus ``start`` and the absorbing ``conversion`` and ``null``. The
    conversion probability from ``start`` solves ``(I - Q) x = r``. The removal effect of a
    channel ``c`` is ``1 - P(conv | every state containing c goes to null) / P(conv)`` (the
    standard definition, also used by ChannelAttribution). Credits are removal effects scaled
    to total conversions. Value credits use the value removal effect, the same computation
    with ``r`` replaced by the expected conversion value leaving each state, scaled to total
    value. With ``include_nulls=False`` only converting journeys build the chain.
``shapley_simplified``
    The simplified Shapley value of Zhao et al. (2018), "Shapley value methods for attribution
    modeling in online advertising" (arXiv:1804.05327): with ``v(S)`` the conversions
    of journeys whose channel *set* is a subset of ``S``, the Shapley value reduces to each
    converting journey giving an equal share to each distinct channel it touched. Exact, any
    number of channels.
``shapley``
    Coalition form over conversion rates: characteristic function ``v(S)`` = conversion rate
    (conversions / journeys) of the journeys whose channel set is a subset of ``S``, ``v({}) = 0``;
    exact Shapley values over all ``2 ** n`` coalitions (``n <=`` :data:`MAX_SHAPLEY_CHANNELS`),
    scaled to total conversions. Value credits use ``v(S)`` = value per journey. Unlike every
    other model, a channel that lowers the conversion rate of the journeys it joins gets a
    *negative* credit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse
from scipy.sparse import linalg as splinalg

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.core.frames import isin
from crm_analytics.core.schema import ORDER_MARGIN_COLUMNS, TOUCH_KINDS
from crm_analytics.metrics.funnel import period_bounds

__all__ = [
    "media_totals",
    "MODELS",
    "MAX_SHAPLEY_CHANNELS",
    "MARGIN_COLUMNS",
    "journeys",
    "attribute",
    "attribute_paths",
    "markov_chain",
    "removal_effects",
    "channel_reach",
    "media_efficiency",
    "persona_channel_effects",
]

#: Model names understood by :func:`attribute` and :func:`attribute_paths`.
MODELS: tuple[str, ...] = (
    "first_touch",
    "last_touch",
    "linear",
    "position_based",
    "time_decay",
    "markov_1",
    "markov_2",
    "markov_3",
    "shapley_simplified",
    "shapley",
)
_ALIASES = {"markov": "markov_1", "first": "first_touch", "last": "last_touch"}
#: Largest number of channels the exact coalition Shapley model accepts (2**n coalitions).
MAX_SHAPLEY_CHANNELS = 20
#: Order margin columns whose sum is an order's gross profit (the schema's).
MARGIN_COLUMNS: tuple[str, ...] = ORDER_MARGIN_COLUMNS


# ----------------------------------------------------------------------------------------
# distinct paths
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Paths:
    """Distinct paths as flat integer arrays (internal)."""

    channels: tuple[str, ...]  # channel names; token t means channels[t]
    tokens: np.ndarray  # int64, concatenated channel codes of all distinct paths
    offsets: np.ndarray  # int64, len n_paths + 1
    conversions: np.ndarray  # float64 per distinct path
    nulls: np.ndarray  # float64 per distinct path
    value: np.ndarray  # float64 per distinct path

    @property
    def n_paths(self) -> int:
        return len(self.offsets) - 1

    @cached_property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @cached_property
    def path_of_token(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_paths), self.lengths)

    @cached_property
    def pos_of_token(self) -> np.ndarray:
        return np.arange(len(self.tokens)) - np.repeat(self.offsets[:-1], self.lengths)


def _model_list(models: Iterable[str] | str | None) -> list[str]:
    if models is None:
        return list(MODELS)
    if isinstance(models, str):
        models = [models]
    out: list[str] = []
    for m in models:
        name = _ALIASES.get(m, m)
        if name not in MODELS:
            raise InputError(
                f"attribution: unknown model {m!r}; choose from {', '.join(MODELS)} "
                f"(aliases: {', '.join(_ALIASES)})"
            )
        if name not in out:
            out.append(name)
    return out


_JOIN = "\x1f"  # joins channel names into one canonical key per path


def _canonical(unique: np.ndarray, sep: str | None) -> list[str]:
    """Canonical key (channel names joined by ``_JOIN``) of each distinct raw path.

    ``sep=None`` means the raw paths are sequences of channels; otherwise strings split on
    ``sep`` with whitespace stripped around each channel and empty pieces dropped.
    """
    if sep is None:
        return [_JOIN.join(str(c).strip() for c in u) for u in unique]
    out = []
    for s in unique:
        parts = [p.strip() for p in str(s).split(sep)]
        out.append(_JOIN.join([p for p in parts if p]))
    return out


def _encode(
    keys: Sequence[str],
    conv: np.ndarray,
    nulls: np.ndarray,
    value: np.ndarray,
    *,
    table: str,
    column: str,
) -> _Paths:
    """Integer-encode distinct canonical path keys."""
    empty = [i for i, k in enumerate(keys) if not k]
    if empty:
        raise InputError(
            f"{table}: {len(empty)} distinct path(s) in column {column!r} are empty; "
            "drop those rows or give every journey at least one channel"
        )
    split = [k.split(_JOIN) for k in keys]
    lengths = np.fromiter((len(p) for p in split), dtype=np.int64, count=len(split))
    flat = np.array([c for p in split for c in p], dtype=object)
    codes, uniques = pd.factorize(flat, sort=True)
    channels = tuple(str(u) for u in uniques)
    offsets = np.zeros(len(split) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return _Paths(channels, codes.astype(np.int64), offsets, conv, nulls, value)


def _gather(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat positions of the tokens of ``rows`` (in that order) and their new offsets."""
    lengths = offsets[1:][rows] - offsets[:-1][rows]
    new_off = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_off[1:])
    pos = (
        np.arange(new_off[-1])
        - np.repeat(new_off[:-1], lengths)
        + np.repeat(offsets[:-1][rows], lengths)
    )
    return pos, new_off


def _parse_strings(
    col: pd.Series, sep: str, *, table: str, column: str
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    """Split ``sep``-joined path strings with Arrow kernels.

    Returns channel names (sorted), tokens and offsets of the distinct paths, and the index of
    each row's distinct path. Whitespace around channel names is stripped and empty pieces are
    dropped, so ``"a>b"`` and ``"a > b"`` are the same path.
    """
    strings = col if isinstance(col.dtype, pd.StringDtype) else col.astype("str")
    arrow = getattr(strings.array, "__arrow_array__", None)
    arr = arrow() if arrow is not None else pa.array(strings.to_numpy(dtype=object))
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    enc = pc.dictionary_encode(arr)
    row_raw = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    raw = enc.dictionary
    lists = pc.split_pattern(raw, sep)
    flat = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    parent = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    nonempty = pc.greater(pc.binary_length(flat), 0)
    flat = flat.filter(nonempty)
    parent = parent[nonempty.to_numpy(zero_copy_only=False)]
    n_raw = len(raw)
    lengths = np.bincount(parent, minlength=n_raw).astype(np.int64)
    empty = np.flatnonzero(lengths == 0)
    if len(empty):
        examples = [raw[int(i)].as_py() for i in empty[:3]]
        raise InputError(
            f"{table}: {len(empty)} distinct path(s) in column {column!r} are empty "
            f"(e.g. {examples}); drop those rows or give every journey at least one channel"
        )
    offsets = np.zeros(n_raw + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    chan = pc.dictionary_encode(flat)
    names = np.asarray(chan.dictionary.to_pylist(), dtype=object)
    order = np.argsort(names, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    tokens = rank[chan.indices.to_numpy(zero_copy_only=False)]
    channels = tuple(str(c) for c in names[order])
    # raw strings that differ only in spacing are the same path: merge them
    base = len(channels) + 1
    if int(lengths.max()) * math.log2(base) < 62:  # exact integer key per token sequence
        power = base ** np.arange(int(lengths.max()), dtype=np.int64)
        pos = np.arange(len(tokens)) - np.repeat(offsets[:-1], lengths)
        key = np.add.reduceat((tokens + 1) * power[pos], offsets[:-1])
        raw_to_canon, canon_keys = pd.factorize(key)
        n_canon = len(canon_keys)
    else:
        canon = pc.binary_join(
            pa.LargeListArray.from_arrays(pa.array(offsets), flat),
            pa.scalar(_JOIN, pa.large_string()),
        )
        canon_enc = pc.dictionary_encode(canon)
        raw_to_canon = canon_enc.indices.to_numpy(zero_copy_only=False)
        n_canon = len(canon_enc.dictionary)
    raw_to_canon = raw_to_canon.astype(np.int64)
    if n_canon < n_raw:
        _, first = np.unique(raw_to_canon, return_index=True)
        pos, offsets = _gather(offsets, first)
        tokens = tokens[pos]
    return channels, tokens, offsets, raw_to_canon[row_raw]


def _paths_from_table(
    frame: pd.DataFrame,
    *,
    path_col: str,
    conversions_col: str | None,
    nulls_col: str | None,
    value_col: str | None,
    sep: str,
    table: str,
) -> tuple[_Paths, np.ndarray]:
    """Aggregate a table of paths (strings or sequences) to distinct paths.

    Returns the paths and, per input row, the index of its distinct path.
    """
    if path_col not in frame.columns:
        raise InputError(
            f"{table}: no column {path_col!r} (columns: {list(frame.columns)}); "
            f"pass path_col= naming the column that holds the paths"
        )
    for name in (conversions_col, nulls_col, value_col):
        if name is not None and name not in frame.columns:
            raise InputError(
                f"{table}: no column {name!r} (columns: {list(frame.columns)}); "
                "pass the right column name or None"
            )
    n = len(frame)

    def num(col: str | None, default: float) -> np.ndarray:
        if col is None:
            return np.full(n, default, dtype=np.float64)
        s = frame[col]
        if s.dtype == bool:
            s = s.astype(np.float64)
        arr = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(arr))
        if len(bad):
            raise InputError(
                f"{table}: column {col!r} has {len(bad)} missing or non-numeric value(s) "
                f"(rows {list(frame.index[bad[:5]])}); fill or drop them"
            )
        if col != value_col and (arr < 0).any():
            rows = list(frame.index[np.flatnonzero(arr < 0)[:5]])
            raise InputError(f"{table}: column {col!r} has negative counts (rows {rows})")
        return arr

    conv = num(conversions_col, 0.0)
    nulls = num(nulls_col, 0.0)
    value = num(value_col, 0.0)
    col = frame[path_col]
    missing = col.isna().to_numpy()
    if missing.any():
        rows = list(frame.index[missing][:5])
        raise InputError(
            f"{table}: column {path_col!r} has {int(missing.sum())} missing path(s) "
            f"(rows {rows}); drop them or fill them"
        )
    is_seq = n > 0 and isinstance(col.iloc[0], (tuple, list, np.ndarray))
    if is_seq:
        gid, uniq = pd.factorize(col.map(tuple))
        keys = _canonical(np.asarray(uniq, dtype=object), None)
        gid2, ukeys = pd.factorize(pd.Series(keys, dtype=object))
        gid = gid2[gid]
        m = len(ukeys)
        paths = _encode(
            list(ukeys),
            np.bincount(gid, weights=conv, minlength=m),
            np.bincount(gid, weights=nulls, minlength=m),
            np.bincount(gid, weights=value, minlength=m),
            table=table,
            column=path_col,
        )
        return paths, gid
    channels, tokens, offsets, gid = _parse_strings(col, sep, table=table, column=path_col)
    m = len(offsets) - 1
    paths = _Paths(
        channels,
        tokens,
        offsets,
        np.bincount(gid, weights=conv, minlength=m),
        np.bincount(gid, weights=nulls, minlength=m),
        np.bincount(gid, weights=value, minlength=m),
    )
    return paths, gid


# ----------------------------------------------------------------------------------------
# heuristic models
# ----------------------------------------------------------------------------------------
def _credit(paths: _Paths, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spread each path's conversions and value over its tokens by per-token weights.

    ``weights`` must sum to 1 within each path.
    """
    pid = paths.path_of_token
    k = len(paths.channels)
    conv = np.bincount(paths.tokens, weights=weights * paths.conversions[pid], minlength=k)
    val = np.bincount(paths.tokens, weights=weights * paths.value[pid], minlength=k)
    return conv, val


def _position_weights(paths: _Paths, first: float, middle: float, last: float) -> np.ndarray:
    lengths = paths.lengths
    pid = paths.path_of_token
    pos = paths.pos_of_token
    n = lengths[pid]
    w = np.zeros(len(paths.tokens))
    w[n == 1] = 1.0
    two = n == 2
    w[two] = 0.5
    many = n >= 3
    is_first = pos == 0
    is_last = pos == n - 1
    ends = first + last
    # with a middle: first/last/middle as given (normalised)
    tot = first + middle + last
    w[many & is_first] = first / tot
    w[many & is_last] = last / tot
    mid = many & ~is_first & ~is_last
    w[mid] = (middle / tot) / (n[mid] - 2)
    if ends > 0:
        w[two & is_first] = first / ends
        w[two & is_last] = last / ends
    return w


def _decay_weights(ages: np.ndarray, pid: np.ndarray, n_paths: int, half_life: float) -> np.ndarray:
    raw = np.exp2(-np.asarray(ages, dtype=np.float64) / half_life)
    norm = np.bincount(pid, weights=raw, minlength=n_paths)
    return raw / norm[pid]


# ----------------------------------------------------------------------------------------
# Markov
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Chain:
    states: list[tuple[int, ...]]  # state 0 is start = ()
    Q: sparse.csr_matrix  # transient -> transient probabilities (start included)
    r: np.ndarray  # transient -> conversion probability
    rv: np.ndarray  # expected conversion value leaving each transient state
    contains: np.ndarray  # bool (n_states, n_channels): state contains channel


def _build_chain(paths: _Paths, order: int, include_nulls: bool) -> _Chain:
    if order < 1:
        raise InputError(f"attribution: Markov order must be >= 1, got {order}")
    k = len(paths.channels)
    conv = paths.conversions
    nulls = paths.nulls if include_nulls else np.zeros_like(paths.nulls)
    keep = (conv + nulls) > 0
    pid = paths.path_of_token
    pos = paths.pos_of_token
    tok_keep = keep[pid]
    toks = paths.tokens[tok_keep]
    pid = pid[tok_keep]
    pos = pos[tok_keep]
    base = k + 1
    if base**order >= 2**62:
        raise InputError(
            f"attribution: Markov order {order} over {k} channels is too large to encode"
        )
    code = np.zeros(len(toks), dtype=np.int64)
    for j in range(order - 1, -1, -1):  # j tokens back
        shifted = np.zeros(len(toks), dtype=np.int64)
        if j == 0:
            shifted[:] = toks + 1
        else:
            ok = pos >= j
            idx = np.flatnonzero(ok)
            shifted[idx] = toks[idx - j] + 1
        code = code * base + shifted
    if base**order <= 1 << 24:  # dense code space: map codes to states in O(n)
        present = np.bincount(code, minlength=base**order) > 0
        uniq = np.flatnonzero(present)
        lookup = np.cumsum(present) - 1
        sid = lookup[code]
    else:
        uniq, sid = np.unique(code, return_inverse=True)
    sid = sid + 1  # 0 = start
    n_states = len(uniq) + 1
    w = (conv + nulls)[pid]
    is_first = pos == 0
    last_of_path = np.zeros(len(toks), dtype=bool)
    last_of_path[:-1] = pid[1:] != pid[:-1]
    if len(toks):
        last_of_path[-1] = True
    # transitions: start -> first state; state_i -> state_{i+1}
    src = np.where(is_first, 0, np.roll(sid, 1))
    rows = src
    cols = sid
    if n_states <= 4096:  # small state space: count pairs densely in O(n)
        dense = np.bincount(rows * n_states + cols, weights=w, minlength=n_states * n_states)
        counts = sparse.csr_matrix(dense.reshape(n_states, n_states))
    else:
        counts = sparse.coo_matrix((w, (rows, cols)), shape=(n_states, n_states)).tocsr()
        counts.sum_duplicates()
    end_sid = sid[last_of_path]
    end_pid = pid[last_of_path]
    to_conv = np.bincount(end_sid, weights=conv[end_pid], minlength=n_states)
    to_null = np.bincount(end_sid, weights=nulls[end_pid], minlength=n_states)
    val_out = np.bincount(end_sid, weights=paths.value[end_pid], minlength=n_states)
    out = np.asarray(counts.sum(axis=1)).ravel() + to_conv + to_null
    inv = np.divide(1.0, out, out=np.zeros(n_states), where=out > 0)
    Q = sparse.diags(inv) @ counts
    r = to_conv * inv
    rv = val_out * inv
    # which channels each state contains
    digits = np.zeros((n_states, order), dtype=np.int64)
    rest = uniq.copy()
    for j in range(order):
        digits[1:, j] = rest % base
        rest //= base
    contains = np.zeros((n_states, k), dtype=bool)
    for j in range(order):
        d = digits[:, j]
        m = d > 0
        contains[np.flatnonzero(m), d[m] - 1] = True
    states: list[tuple[int, ...]] = [()]
    for i in range(1, n_states):
        states.append(tuple(int(d) - 1 for d in digits[i, ::-1] if d > 0))
    return _Chain(states, sparse.csr_matrix(Q), r, rv, contains)


def _absorb(Q: sparse.csr_matrix, rhs: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Solve ``(I - Q) x = rhs`` restricted to the states ``keep``; returns x at start (row 0).

    ``rhs`` may be 2-D (one column per right-hand side).
    """
    if keep is not None:
        idx = np.flatnonzero(keep)
        Q = Q[idx][:, idx]
        rhs = rhs[idx]
    n = Q.shape[0]
    A = (sparse.identity(n, format="csc") - Q.tocsc()).tocsc()
    x = splinalg.splu(A).solve(np.asarray(rhs, dtype=np.float64))
    return np.atleast_1d(x[0])


def _markov(paths: _Paths, order: int, include_nulls: bool) -> tuple[np.ndarray, ...]:
    """Removal effects (conversion and value) and the chain's P(conv), E[value]."""
    k = len(paths.channels)
    chain = _build_chain(paths, order, include_nulls)
    rhs = np.column_stack([chain.r, chain.rv])
    base = _absorb(chain.Q, rhs)
    p_conv, e_val = float(base[0]), float(base[1])
    re = np.zeros(k)
    rev = np.zeros(k)
    for c in range(k):
        keep = ~chain.contains[:, c]
        x = _absorb(chain.Q, rhs, keep)
        re[c] = 1.0 - x[0] / p_conv if p_conv > 0 else 0.0
        rev[c] = 1.0 - x[1] / e_val if e_val != 0 else 0.0
    # exact solves leave rounding noise of order 1e-16
    re = np.clip(re, 0.0, 1.0)
    return re, rev, np.array([p_conv, e_val])


def _scale(effects: np.ndarray, total: float) -> np.ndarray:
    s = effects.sum()
    if s == 0 or total == 0:
        return np.zeros_like(effects)
    return effects / s * total


# ----------------------------------------------------------------------------------------
# Shapley
# ----------------------------------------------------------------------------------------
def _channel_sets(paths: _Paths) -> np.ndarray:
    """Bitmask of the distinct channels of each path (object ints when > 62 channels)."""
    k = len(paths.channels)
    if k > 62:
        raise InputError(f"attribution: {k} channels; Shapley models support at most 62")
    bits = np.left_shift(np.int64(1), paths.tokens.astype(np.int64))
    return np.bitwise_or.reduceat(bits, paths.offsets[:-1]) if len(bits) else bits


def _shapley_simplified(paths: _Paths) -> tuple[np.ndarray, np.ndarray]:
    k = len(paths.channels)
    masks = _channel_sets(paths)
    size = np.zeros(paths.n_paths)
    for c in range(k):
        size += (masks >> c) & 1
    conv = np.zeros(k)
    val = np.zeros(k)
    for c in range(k):
        has = ((masks >> c) & 1).astype(bool)
        conv[c] = (paths.conversions[has] / size[has]).sum()
        val[c] = (paths.value[has] / size[has]).sum()
    return conv, val


def _shapley_coalition(paths: _Paths, max_channels: int) -> tuple[np.ndarray, np.ndarray]:
    k = len(paths.channels)
    if k > max_channels:
        raise InputError(
            f"attribution: the coalition Shapley model is exact over 2**n coalitions and accepts "
            f"at most {max_channels} channels; the journeys have {k} "
            f"({', '.join(paths.channels)}). Group rare channels, or use 'shapley_simplified'"
        )
    masks = _channel_sets(paths)
    m = 1 << k
    conv = np.bincount(masks, weights=paths.conversions, minlength=m)
    tot = np.bincount(masks, weights=paths.conversions + paths.nulls, minlength=m)
    val = np.bincount(masks, weights=paths.value, minlength=m)
    # zeta transform: sum over subsets
    for c in range(k):
        bit = 1 << c
        idx = np.arange(m)
        hi = idx[(idx & bit) != 0]
        for arr in (conv, tot, val):
            arr[hi] += arr[hi ^ bit]
    v_conv = np.divide(conv, tot, out=np.zeros(m), where=tot > 0)
    v_val = np.divide(val, tot, out=np.zeros(m), where=tot > 0)
    idx = np.arange(m)
    popcount = np.zeros(m, dtype=np.int64)
    for c in range(k):
        popcount += (idx >> c) & 1
    fact = np.array([math.factorial(i) for i in range(k + 1)], dtype=np.float64)
    phi = np.zeros(k)
    phiv = np.zeros(k)
    for c in range(k):
        bit = 1 << c
        without = idx[(idx & bit) == 0]
        s = popcount[without]
        weight = fact[s] * fact[k - s - 1] / fact[k]
        phi[c] = (weight * (v_conv[without | bit] - v_conv[without])).sum()
        phiv[c] = (weight * (v_val[without | bit] - v_val[without])).sum()
    full = m - 1
    total_conv = paths.conversions.sum()
    total_val = paths.value.sum()
    out_c = phi / v_conv[full] * total_conv if v_conv[full] != 0 else np.zeros(k)
    out_v = phiv / v_val[full] * total_val if v_val[full] != 0 else np.zeros(k)
    return out_c, out_v


# ----------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------
def _run_models(
    paths: _Paths,
    models: list[str],
    *,
    day_ages: _DayAges | None,
    half_life: float,
    position_weights: tuple[float, float, float],
    include_nulls: bool,
    max_shapley_channels: int,
) -> pd.DataFrame:
    k = len(paths.channels)
    frames = []
    for model in models:
        if model == "first_touch":
            w = (paths.pos_of_token == 0).astype(np.float64)
            c, v = _credit(paths, w)
        elif model == "last_touch":
            w = (paths.pos_of_token == paths.lengths[paths.path_of_token] - 1).astype(np.float64)
            c, v = _credit(paths, w)
        elif model == "linear":
            w = 1.0 / paths.lengths[paths.path_of_token]
            c, v = _credit(paths, w)
        elif model == "position_based":
            w = _position_weights(paths, *position_weights)
            c, v = _credit(paths, w)
        elif model == "time_decay":
            if not half_life > 0:
                raise InputError(f"attribution: half_life must be > 0, got {half_life}")
            if day_ages is None:
                pid = paths.path_of_token
                age = paths.lengths[pid] - 1 - paths.pos_of_token
                w = _decay_weights(age, pid, paths.n_paths, half_life)
                c, v = _credit(paths, w)
            else:
                d = day_ages
                w = _decay_weights(d.ages, d.row, len(d.conv), half_life)
                c = np.bincount(d.tokens, weights=w * d.conv[d.row], minlength=k)
                v = np.bincount(d.tokens, weights=w * d.value[d.row], minlength=k)
        elif model.startswith("markov_"):
            order = int(model.split("_")[1])
            re, rev, _ = _markov(paths, order, include_nulls)
            c = _scale(re, paths.conversions.sum())
            v = _scale(rev, paths.value.sum())
        elif model == "shapley_simplified":
            c, v = _shapley_simplified(paths)
        elif model == "shapley":
            c, v = _shapley_coalition(paths, max_shapley_channels)
        else:  # pragma: no cover - _model_list guards this
            raise InputError(f"attribution: unknown model {model!r}")
        frames.append(
            pd.DataFrame(
                {
                    "channel": pd.Series(paths.channels, dtype="str"),
                    "model": pd.Series([model] * k, dtype="str"),
                    "conversions": c,
                    "value": v,
                }
            )
        )
    if not frames:
        return _empty_result()
    return pd.concat(frames, ignore_index=True)


def _empty_result() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "channel": pd.Series([], dtype="str"),
            "model": pd.Series([], dtype="str"),
            "conversions": pd.Series([], dtype="float64"),
            "value": pd.Series([], dtype="float64"),
        }
    )


@dataclass(frozen=True)
class _DayAges:
    """Per-touch channel token, age in days and journey row, with per-row conversion/value."""

    tokens: np.ndarray
    ages: np.ndarray
    row: np.ndarray
    conv: np.ndarray
    value: np.ndarray


def attribute(
    journeys: pd.DataFrame,
    *,
    models: Iterable[str] | str | None = None,
    path_col: str = "path",
    converted_col: str = "converted",
    value_col: str | None = "value",
    sep: str = ">",
    half_life: float = 7.0,
    position_weights: tuple[float, float, float] = (0.4, 0.2, 0.4),
    include_nulls: bool = True,
    max_shapley_channels: int = 15,
) -> pd.DataFrame:
    """Credit conversions and value of journeys to channels with several models.

    Parameters
    ----------
    journeys
        One row per journey (as :func:`journeys` returns): ``path`` (tuple of channels or a
        ``sep``-joined string), ``converted`` (bool or 0/1) and ``value`` (conversion value,
        e.g. order gross profit; ignored for non-converted rows, missing counts as 0). When a
        ``days_before`` column
        (per-touch days before the journey's end, aligned with ``path``) is present, the
        ``time_decay`` model uses it and ``half_life`` is in days.
    models
        Names from :data:`MODELS` (``"markov"`` means ``"markov_1"``); default all.
    path_col, converted_col, value_col
        Column names; ``value_col=None`` gives zero value.
    sep
        Separator of string paths.
    half_life
        Half-life of the ``time_decay`` model (days with ``days_before``, else touches).
    position_weights
        Weights (first, middle, last) of the ``position_based`` model.
    include_nulls
        Whether the Markov chains are built from non-converting journeys too.
    max_shapley_channels
        Limit of channels for the exact coalition Shapley model (at most
        :data:`MAX_SHAPLEY_CHANNELS`).

    Returns
    -------
    pandas.DataFrame
        ``channel, model, conversions, value``: one row per channel and model. Within a model,
        ``conversions`` adds up to the number of converted journeys and ``value`` to their total
        value. Empty input gives an empty table with these columns.

    Raises
    ------
    InputError
        Unknown model, missing columns, missing values, empty paths, too many channels for the
        coalition Shapley model.
    """
    model_names = _model_list(models)
    if converted_col not in journeys.columns:
        raise InputError(
            f"journeys: no column {converted_col!r} (columns: {list(journeys.columns)}); "
            "pass converted_col= naming the 0/1 or boolean conversion column"
        )
    if len(journeys) == 0:
        return _empty_result()
    conv_raw = journeys[converted_col]
    if conv_raw.isna().any():
        rows = list(journeys.index[conv_raw.isna().to_numpy()][:5])
        raise InputError(f"journeys: column {converted_col!r} has missing values (rows {rows})")
    try:
        conv = conv_raw.astype(np.float64).to_numpy()
    except (TypeError, ValueError) as err:
        raise InputError(
            f"journeys: column {converted_col!r} ({conv_raw.dtype}) must be boolean or 0/1"
        ) from err
    if not np.isin(conv, (0.0, 1.0)).all():
        raise InputError(
            f"journeys: column {converted_col!r} must be boolean or 0/1; "
            "for counts per path use attribute_paths()"
        )
    if path_col not in journeys.columns:
        raise InputError(
            f"journeys: no column {path_col!r} (columns: {list(journeys.columns)}); "
            "pass path_col= naming the column that holds the paths"
        )
    frame = pd.DataFrame(
        {"_path": journeys[path_col], "_conv": conv, "_null": 1.0 - conv}, index=journeys.index
    )
    if value_col is not None:
        if value_col not in journeys.columns:
            raise InputError(
                f"journeys: no column {value_col!r} (columns: {list(journeys.columns)}); "
                "pass value_col=None for no value"
            )
        val = pd.to_numeric(journeys[value_col], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        val = np.where(conv > 0, np.nan_to_num(val, nan=0.0), 0.0)
        frame["_value"] = val
    paths, gid = _paths_from_table(
        frame,
        path_col="_path",
        conversions_col="_conv",
        nulls_col="_null",
        value_col="_value" if value_col is not None else None,
        sep=sep,
        table="journeys",
    )
    day_ages = None
    if "time_decay" in model_names and "days_before" in journeys.columns:
        day_ages = _journey_ages(journeys, frame, paths, gid)
    return _run_models(
        paths,
        model_names,
        day_ages=day_ages,
        half_life=half_life,
        position_weights=position_weights,
        include_nulls=include_nulls,
        max_shapley_channels=min(max_shapley_channels, MAX_SHAPLEY_CHANNELS),
    )


def _journey_ages(
    journeys: pd.DataFrame,
    frame: pd.DataFrame,
    paths: _Paths,
    gid: np.ndarray | None,
) -> _DayAges:
    """Per-touch (token, age in days) of every journey row, for day-based time decay."""
    assert gid is not None
    lengths = paths.lengths[gid]
    days = journeys["days_before"].to_list()
    if not all(len(row) == n for row, n in zip(days, lengths, strict=True)):
        raise InputError(
            "journeys: column 'days_before' must hold one age per touch of 'path' in each row; "
            "drop the column to use touch-based time decay"
        )
    flat_days = np.fromiter(
        (float(d) for row in days for d in row), dtype=np.float64, count=int(lengths.sum())
    )
    if (flat_days < 0).any() or not np.isfinite(flat_days).all():
        raise InputError("journeys: column 'days_before' has negative or missing ages")
    starts = paths.offsets[:-1][gid]
    row_of_touch = np.repeat(np.arange(len(gid)), lengths)
    pos = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    tokens = paths.tokens[starts[row_of_touch] + pos]
    conv = frame["_conv"].to_numpy()
    value = frame["_value"].to_numpy() if "_value" in frame.columns else np.zeros(len(frame))
    return _DayAges(tokens, flat_days, row_of_touch, conv, value)


def attribute_paths(
    paths: pd.DataFrame,
    *,
    path_col: str = "path",
    conversions_col: str = "total_conversions",
    nulls_col: str | None = "total_null",
    value_col: str | None = "total_conversion_value",
    sep: str = ">",
    models: Iterable[str] | str | None = None,
    half_life: float = 2.0,
    position_weights: tuple[float, float, float] = (0.4, 0.2, 0.4),
    include_nulls: bool = True,
    max_shapley_channels: int = 15,
) -> pd.DataFrame:
    """Attribute an aggregated path table, as other attribution tools export it.

    Parameters
    ----------
    paths
        One row per path (duplicates are merged): a path string such as ``"a > b > c"``
        (or a tuple), counts of conversions and of non-conversions, and conversion value.
    path_col, conversions_col, nulls_col, value_col
        Column names (the defaults are ChannelAttribution's); ``nulls_col=None`` means no
        non-converting journeys, ``value_col=None`` zero value.
    sep
        Path separator; whitespace around channel names is stripped.
    models, position_weights, include_nulls, max_shapley_channels
        As in :func:`attribute`.
    half_life
        Half-life of the ``time_decay`` model in touches (path tables carry no times).

    Returns
    -------
    pandas.DataFrame
        ``channel, model, conversions, value`` (see :func:`attribute`).

    Raises
    ------
    InputError
        As in :func:`attribute`.
    """
    model_names = _model_list(models)
    if len(paths) == 0:
        return _empty_result()
    table, _ = _paths_from_table(
        paths,
        path_col=path_col,
        conversions_col=conversions_col,
        nulls_col=nulls_col,
        value_col=value_col,
        sep=sep,
        table="paths",
    )
    return _run_models(
        table,
        model_names,
        day_ages=None,
        half_life=half_life,
        position_weights=position_weights,
        include_nulls=include_nulls,
        max_shapley_channels=min(max_shapley_channels, MAX_SHAPLEY_CHANNELS),
    )


def _as_paths(
    data: pd.DataFrame,
    *,
    path_col: str,
    conversions_col: str,
    nulls_col: str | None,
    value_col: str | None,
    sep: str,
) -> _Paths:
    if conversions_col in data.columns and data[conversions_col].dtype == bool:
        conv = data[conversions_col].astype(np.float64)
        frame = pd.DataFrame({"_p": data[path_col], "_c": conv, "_n": 1.0 - conv})
        if value_col is not None:
            frame["_v"] = np.where(conv > 0, data[value_col].fillna(0.0), 0.0)
        table, _ = _paths_from_table(
            frame,
            path_col="_p",
            conversions_col="_c",
            nulls_col="_n",
            value_col="_v" if value_col is not None else None,
            sep=sep,
            table="journeys",
        )
        return table
    table, _ = _paths_from_table(
        data,
        path_col=path_col,
        conversions_col=conversions_col,
        nulls_col=nulls_col,
        value_col=value_col,
        sep=sep,
        table="paths",
    )
    return table


def markov_chain(
    data: pd.DataFrame,
    *,
    order: int = 1,
    include_nulls: bool = True,
    path_col: str = "path",
    conversions_col: str = "converted",
    nulls_col: str | None = None,
    value_col: str | None = "value",
    sep: str = ">",
) -> pd.DataFrame:
    """The estimated transition matrix of the order-``k`` Markov chain, as a long table.

    Parameters
    ----------
    data
        Journey rows (boolean ``conversions_col``) or an aggregated path table (counts in
        ``conversions_col`` and ``nulls_col``).
    order
        Markov order *k* (states are the last up to *k* channels).
    include_nulls
        Whether non-converting journeys build the chain.
    path_col, conversions_col, nulls_col, value_col, sep
        As in :func:`attribute_paths`.

    Returns
    -------
    pandas.DataFrame
        ``from, to, probability``; states are ``"(start)"``, ``"(conversion)"``, ``"(null)"`` or
        channels joined by ``" > "``.
    """
    paths = _as_paths(
        data,
        path_col=path_col,
        conversions_col=conversions_col,
        nulls_col=nulls_col,
        value_col=value_col,
        sep=sep,
    )
    chain = _build_chain(paths, order, include_nulls)
    names = ["(start)"] + [" > ".join(paths.channels[t] for t in s) for s in chain.states[1:]]
    coo = chain.Q.tocoo()
    r = chain.r
    null = 1.0 - np.asarray(chain.Q.sum(axis=1)).ravel() - r
    reached = np.asarray(chain.Q.sum(axis=1)).ravel() + r > 0
    frm = [names[i] for i in coo.row] + [names[i] for i in np.flatnonzero(r > 0)]
    to = [names[j] for j in coo.col] + ["(conversion)"] * int((r > 0).sum())
    prob = list(coo.data) + list(r[r > 0])
    nz = np.flatnonzero(reached & (null > 1e-12))
    frm += [names[i] for i in nz]
    to += ["(null)"] * len(nz)
    prob += list(null[nz])
    out = pd.DataFrame({"from": frm, "to": to, "probability": prob})
    return out.sort_values(["from", "to"], ignore_index=True)


def removal_effects(
    data: pd.DataFrame,
    *,
    order: int = 1,
    include_nulls: bool = True,
    path_col: str = "path",
    conversions_col: str = "converted",
    nulls_col: str | None = None,
    value_col: str | None = "value",
    sep: str = ">",
) -> pd.DataFrame:
    """Exact Markov removal effects per channel.

    Parameters
    ----------
    data, order, include_nulls, path_col, conversions_col, nulls_col, value_col, sep
        As in :func:`markov_chain`.

    Returns
    -------
    pandas.DataFrame
        ``channel, removal_effect, value_removal_effect``; ``attrs`` holds
        ``conversion_probability`` and ``expected_value`` of the full chain.
    """
    paths = _as_paths(
        data,
        path_col=path_col,
        conversions_col=conversions_col,
        nulls_col=nulls_col,
        value_col=value_col,
        sep=sep,
    )
    re, rev, base = _markov(paths, order, include_nulls)
    out = pd.DataFrame(
        {
            "channel": pd.Series(paths.channels, dtype="str"),
            "removal_effect": re,
            "value_removal_effect": rev,
        }
    )
    out.attrs["conversion_probability"] = float(base[0])
    out.attrs["expected_value"] = float(base[1])
    return out


def channel_reach(
    journeys: pd.DataFrame, *, path_col: str = "path", sep: str = ">"
) -> pd.DataFrame:
    """Journeys and touches per channel, to turn credits into per-journey effects.

    Attribution credits grow with how often a channel is used; dividing a model's
    ``conversions`` by ``journeys`` (the number of journeys touching the channel) gives
    conversions credited per journey touched, which is what compares to a channel's effect.

    Parameters
    ----------
    journeys
        Journey rows with paths (tuples or ``sep``-joined strings).
    path_col, sep
        As in :func:`attribute`.

    Returns
    -------
    pandas.DataFrame
        ``channel, journeys, touches``.
    """
    if path_col not in journeys.columns:
        raise InputError(
            f"journeys: no column {path_col!r} (columns: {list(journeys.columns)}); "
            "pass path_col= naming the column that holds the paths"
        )
    frame = pd.DataFrame({"_p": journeys[path_col], "_c": 1.0})
    paths, gid = _paths_from_table(
        frame,
        path_col="_p",
        conversions_col="_c",
        nulls_col=None,
        value_col=None,
        sep=sep,
        table="journeys",
    )
    k = len(paths.channels)
    rows = paths.conversions  # journeys per distinct path
    pid = paths.path_of_token
    touches = np.bincount(paths.tokens, weights=rows[pid], minlength=k)
    masks = _channel_sets(paths)
    reach = np.array([rows[((masks >> c) & 1).astype(bool)].sum() for c in range(k)])
    return pd.DataFrame(
        {
            "channel": pd.Series(paths.channels, dtype="str"),
            "journeys": reach.astype("int64"),
            "touches": touches.astype("int64"),
        }
    )


# ----------------------------------------------------------------------------------------
# journeys from a dealer
# ----------------------------------------------------------------------------------------
def _gross_profit(orders: pd.DataFrame) -> pd.Series:
    cols = [c for c in MARGIN_COLUMNS if c in orders.columns]
    return orders[cols].fillna(0.0).sum(axis=1) if cols else pd.Series(0.0, index=orders.index)


def _runs(values: list[Any], bounds: np.ndarray) -> list[tuple[Any, ...]]:
    """``values`` cut at ``bounds`` (``bounds[k]:bounds[k + 1]``), each run as a tuple."""
    edges = bounds.tolist()
    return [tuple(values[a:b]) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def journeys(
    dealer: DealerData,
    *,
    lookback_days: float = 90,
    kinds: Iterable[str] | None = None,
    include_open: bool = False,
    lead_channel_fallback: bool = True,
) -> pd.DataFrame:
    """One journey per lead: its ordered channel touches up to the order or the close.

    A lead converts when it has a non-cancelled order; its journey ends at its first order
    (``ordered_at``) and its value is the gross profit of its non-cancelled orders (the sum of
    :data:`MARGIN_COLUMNS`). A lead without such an order ends at ``closed_at`` (or at the
    dealer's ``as_of`` when it has none); open leads are left out unless ``include_open``,
    because their outcome is not known yet. Touches are the lead's touchpoints carrying a
    channel, dated within ``lookback_days`` before the end (inclusive), in time order.

    Parameters
    ----------
    dealer
        A :class:`~crm_analytics.core.dealer.DealerData` (uses ``touchpoints``, ``leads``, ``orders``).
    lookback_days
        Touches older than this many days before the journey's end are ignored.
    kinds
        Touchpoint kinds that count as channel touches; ``None`` means every kind that
        carries a channel (``"inquiry"`` touches always do). Pass ``("inquiry",)`` to keep
        only media contacts.
    include_open
        Keep open leads as non-converted journeys ending at ``as_of``.
    lead_channel_fallback
        A lead without any channel touch in the window gets the one-touch path
        ``(lead.channel,)`` dated at its creation (``n_touches`` is then 0); with ``False``
        such leads are dropped and counted in ``attrs["dropped_without_touch"]``.

    Returns
    -------
    pandas.DataFrame
        One row per lead: ``dealer_id, lead_id, customer_id, lead_channel, model, status,
        path`` (tuple of channels), ``days_before`` (tuple of days from each touch to the end),
        ``n_touches, converted, value, first_touch_at, last_touch_at, end_at``. Ready for
        :func:`attribute`.

    Raises
    ------
    InputError
        ``lookback_days`` not positive, or unknown touchpoint kinds.
    """
    if not lookback_days > 0:
        raise InputError(f"journeys: lookback_days must be > 0, got {lookback_days}")
    leads = dealer.leads
    tps = dealer.touchpoints
    orders = dealer.orders
    as_of = pd.Timestamp(dealer.as_of)
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        unknown = sorted(set(kinds) - set(TOUCH_KINDS))
        if unknown:
            raise InputError(
                f"journeys: unknown touchpoint kind(s) {unknown}; choose from {TOUCH_KINDS}"
            )
    live = orders[orders["status"] != "cancelled"].copy()
    live["_gp"] = _gross_profit(live)
    live = live.sort_values(["ordered_at", "order_id"])
    per_lead = live.groupby("lead_id", sort=False).agg(
        ordered_at=("ordered_at", "first"), model=("model", "first"), value=("_gp", "sum")
    )
    out = leads[
        ["dealer_id", "lead_id", "customer_id", "channel", "model_interest", "status"]
        + ["created_at", "closed_at"]
    ].rename(columns={"channel": "lead_channel"})
    out = out.join(per_lead, on="lead_id")
    out["converted"] = out["ordered_at"].notna()
    out["value"] = out["value"].where(out["converted"], 0.0).astype("float64")
    out["model"] = out["model"].fillna(out["model_interest"])
    end = out["ordered_at"].where(out["converted"], out["closed_at"])
    out["end_at"] = end.fillna(as_of)
    if not include_open:
        out = out[out["converted"] | (out["status"] != "open")]
    t = tps[tps["channel"].notna() & tps["lead_id"].notna()]
    if kinds is not None:
        t = t[t["kind"].isin(kinds)]
    t = t[["lead_id", "touch_id", "channel", "at"]].merge(
        out[["lead_id", "end_at"]], on="lead_id", how="inner"
    )
    lb = pd.Timedelta(days=float(lookback_days))
    t = t[(t["at"] <= t["end_at"]) & (t["at"] >= t["end_at"] - lb)]
    t = t.sort_values(["lead_id", "at", "touch_id"])
    t["_days"] = (t["end_at"] - t["at"]) / pd.Timedelta(days=1)
    # t is in lead order: each lead's touches are one run of rows, cut into tuples directly
    # (a per-group Python aggregation took a second for a dealer's 13,000 journeys)
    lead = t["lead_id"].to_numpy(object)
    starts = np.flatnonzero(np.r_[True, lead[1:] != lead[:-1]]) if len(t) else np.array([], int)
    bounds = np.r_[starts, len(t)]
    firsts = t["at"].iloc[starts].to_numpy()
    agg = pd.DataFrame(
        {
            "path": _runs(t["channel"].tolist(), bounds),
            "days_before": _runs(t["_days"].tolist(), bounds),
            "n_touches": np.diff(bounds),
            "first_touch_at": firsts,
            "last_touch_at": t["at"].iloc[bounds[1:] - 1].to_numpy(),
        },
        index=pd.Index(lead[starts], name="lead_id"),
    )
    out = out.join(agg, on="lead_id")
    missing = out["path"].isna()
    dropped = int(missing.sum())
    if lead_channel_fallback and dropped:
        m = out.loc[missing]
        age = ((m["end_at"] - m["created_at"]) / pd.Timedelta(days=1)).clip(lower=0.0)
        out.loc[missing, "path"] = pd.Series(
            [(c,) for c in m["lead_channel"]], index=m.index, dtype=object
        )
        out.loc[missing, "days_before"] = pd.Series(
            [(float(a),) for a in age], index=m.index, dtype=object
        )
        out.loc[missing, "n_touches"] = 0
        out.loc[missing, "first_touch_at"] = m["created_at"]
        out.loc[missing, "last_touch_at"] = m["created_at"]
        dropped = 0
    elif dropped:
        out = out[~missing]
    out["n_touches"] = out["n_touches"].astype("int64")
    cols = [
        "dealer_id",
        "lead_id",
        "customer_id",
        "lead_channel",
        "model",
        "status",
        "path",
        "days_before",
        "n_touches",
        "converted",
        "value",
        "first_touch_at",
        "last_touch_at",
        "end_at",
    ]
    result = out[cols].reset_index(drop=True)
    result["path"] = result["path"].astype(object)
    result["days_before"] = result["days_before"].astype(object)
    result.attrs["dropped_without_touch"] = dropped
    result.attrs["lookback_days"] = float(lookback_days)
    return result


# ----------------------------------------------------------------------------------------
# media efficiency
# ----------------------------------------------------------------------------------------
_EFFICIENCY_BY = ("month", "model")


def media_efficiency(
    dealer: DealerData,
    *,
    by: Sequence[str] = ("month",),
    visit_kinds: Sequence[str] = ("visit",),
    period: Any = None,
) -> pd.DataFrame:
    """Cost per lead, visit, order and delivery, and ROI, per channel.

    Leads are counted by their source channel (``leads.channel``), creation month and model of
    interest; visits are leads with at least one touchpoint of ``visit_kinds``; orders and
    deliveries are the leads' non-cancelled (delivered) orders, counted in the month the lead
    was created (a cohort view, so cost of a month is set against what its leads became),
    by ordered model. ``gross_profit`` is the orders' margin sum. Monthly channel costs are
    split across models in proportion to the channel-month's leads per model (a channel-month
    with cost but no lead keeps its cost under model ``"(no lead)"``).

    Parameters
    ----------
    dealer
        A :class:`~crm_analytics.core.dealer.DealerData` (``leads``, ``touchpoints``, ``orders``,
        ``channel_costs``).
    by
        Cuts besides channel: any of ``"month"`` and ``"model"``; ``()`` gives channel totals.
    visit_kinds
        Touchpoint kinds that count as a showroom visit.
    period
        Keep the leads created and the costs of the months in this period (any form
        :func:`crm_analytics.metrics.funnel.period_bounds` takes; a month counts when it overlaps the
        period). The leads' orders count whenever they come (the cohort view). ``None``: all.

    Returns
    -------
    pandas.DataFrame
        ``channel, *by, cost, leads, visits, orders, deliveries, gross_profit,
        cost_per_lead, cost_per_visit, cost_per_order, cost_per_delivery, roi`` with
        ``roi = (gross_profit - cost) / cost``; ratios are NaN where the denominator is 0.

    Raises
    ------
    InputError
        Unknown ``by`` names.
    """
    by = [by] if isinstance(by, str) else list(by)
    bad = sorted(set(by) - set(_EFFICIENCY_BY))
    if bad or len(set(by)) != len(by):
        raise InputError(
            f"media_efficiency: by={by!r} is not valid; use a subset of {_EFFICIENCY_BY}"
        )
    keys = ["channel", *by]
    leads = dealer.leads[["lead_id", "channel", "created_at", "model_interest"]].copy()
    leads["month"] = leads["created_at"].dt.to_period("M").dt.to_timestamp()
    costs = dealer.channel_costs[["channel", "month", "cost"]].copy()
    costs["month"] = costs["month"].dt.to_period("M").dt.to_timestamp()
    if period is not None:
        lo, hi = period_bounds(period, as_of=dealer.as_of)
        leads = leads[leads["created_at"].between(lo, hi)]
        costs = costs[costs["month"].between(lo.to_period("M").to_timestamp(), hi)]
    leads["model"] = leads["model_interest"]
    tps = dealer.touchpoints
    visited = set(tps.loc[tps["kind"].isin(list(visit_kinds)), "lead_id"].dropna())
    leads["visits"] = isin(leads["lead_id"], visited).astype("int64")
    leads["leads"] = 1
    counts = leads.groupby(keys, observed=True)[["leads", "visits"]].sum()

    orders = dealer.orders
    live = orders[orders["status"] != "cancelled"]
    o = live[["lead_id", "model", "delivered_at"]].assign(
        orders=1,
        deliveries=live["delivered_at"].notna().astype("int64"),
        gross_profit=_gross_profit(live),
    )
    o = o.merge(leads[["lead_id", "channel", "month"]], on="lead_id", how="inner")
    ocounts = o.groupby(keys, observed=True)[["orders", "deliveries", "gross_profit"]].sum()

    if "model" in by:
        share = leads.groupby(["channel", "month", "model"]).size().rename("n").reset_index()
        share["share"] = share["n"] / share.groupby(["channel", "month"])["n"].transform("sum")
        c = costs.merge(share, on=["channel", "month"], how="left")
        c["model"] = c["model"].fillna("(no lead)")
        c["cost"] = c["cost"] * c["share"].fillna(1.0)
        costs = c[["channel", "month", "model", "cost"]]
    ccounts = costs.groupby(keys, observed=True)[["cost"]].sum()

    res = ccounts.join(counts, how="outer").join(ocounts, how="outer").fillna(0.0).reset_index()
    for col in ("leads", "visits", "orders", "deliveries"):
        res[col] = res[col].astype("int64")
    return _with_ratios(res).sort_values(keys, ignore_index=True)


#: the additive columns of :func:`media_efficiency` (its ratios are computed from them)
_MEDIA_SUMS = ("cost", "leads", "visits", "orders", "deliveries", "gross_profit")


def _with_ratios(res: pd.DataFrame) -> pd.DataFrame:
    """``res`` with cost per lead, visit, order and delivery and ROI from its sums."""

    def ratio(num: pd.Series, den: pd.Series) -> pd.Series:
        return (num / den.where(den != 0)).astype("float64")

    res["cost_per_lead"] = ratio(res["cost"], res["leads"])
    res["cost_per_visit"] = ratio(res["cost"], res["visits"])
    res["cost_per_order"] = ratio(res["cost"], res["orders"])
    res["cost_per_delivery"] = ratio(res["cost"], res["deliveries"])
    res["roi"] = ratio(res["gross_profit"] - res["cost"], res["cost"])
    return res


def media_totals(media: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """A :func:`media_efficiency` frame summed over its other cuts, per ``by`` (for example
    per car model over channels), with the ratios recomputed from the sums."""
    by = [by] if isinstance(by, str) else list(by)
    missing = sorted(set(by) - set(media.columns))
    if missing:
        raise InputError(f"media_totals: by={by!r}: no column {missing} in the frame")
    res = media.groupby(by, as_index=False, observed=True)[list(_MEDIA_SUMS)].sum()
    return _with_ratios(res).sort_values(by, ignore_index=True)


def _age_band(age: pd.Series) -> pd.Series:
    bins = [-np.inf, 30, 40, 50, 60, np.inf]
    labels = ["<30", "30-39", "40-49", "50-59", "60+"]
    return pd.cut(age, bins=bins, labels=labels, right=False).astype("str").where(age.notna())


def persona_channel_effects(
    dealer: DealerData,
    *,
    by: str = "age_band",
    interviewed_only: bool = True,
    interview_kinds: Sequence[str] = ("delivery_interview", "defeated_survey", "intent_survey"),
    models: Iterable[str] | str = ("markov_1",),
    lookback_days: float = 90,
    kinds: Iterable[str] | None = None,
    min_journeys: int = 30,
) -> pd.DataFrame:
    """Channel effect within persona cuts (age band or industry) of interviewed customers.

    For each persona segment, the journeys of :func:`journeys` are split by whether they touch
    a channel: ``conversion_rate_with`` / ``conversion_rate_without`` and their ratio ``lift``
    (a descriptive, not causal, effect), plus each requested attribution model's share of the
    segment's conversions (``share_<model>``).

    Parameters
    ----------
    dealer
        A :class:`~crm_analytics.core.dealer.DealerData` with ``customers`` (``birth_year``,
        ``industry``) and, for ``interviewed_only``, ``surveys`` or ``interview`` touchpoints.
    by
        ``"age_band"`` (from ``birth_year`` at the dealer's ``as_of``) or ``"industry"``.
    interviewed_only
        Keep customers with an interview (a survey of ``interview_kinds`` or a touchpoint of
        kind ``interview``), whose persona data is the trustworthy kind.
    interview_kinds
        Survey kinds that count as interviews. Delivery interviews alone reach only buyers,
        which makes every conversion rate 1; the default adds the defeated-lead survey (and
        intent surveys) so that both outcomes are present. Response still depends on the
        outcome, so read ``lift`` within a segment, not rates across segments.
    models
        Attribution models whose shares are reported (see :data:`MODELS`).
    lookback_days, kinds
        As in :func:`journeys`.
    min_journeys
        Segments with fewer journeys are left out (their rates are noise).

    Returns
    -------
    pandas.DataFrame
        ``<by>, channel, journeys, journeys_with, conversion_rate_with,
        conversion_rate_without, lift, share_<model>...``.

    Raises
    ------
    InputError
        Unknown ``by``.
    """
    if by not in ("age_band", "industry"):
        raise InputError(
            f"persona_channel_effects: by must be 'age_band' or 'industry', got {by!r}"
        )
    model_names = _model_list(models)
    j = journeys(dealer, lookback_days=lookback_days, kinds=kinds)
    cust = dealer.customers[["customer_id", "birth_year", "industry"]].copy()
    age = pd.Timestamp(dealer.as_of).year - cust["birth_year"].astype("Float64")
    cust["age_band"] = _age_band(age.astype("float64"))
    if interviewed_only:
        s = dealer.surveys
        t = dealer.touchpoints
        ids = set(s.loc[s["kind"].isin(list(interview_kinds)), "customer_id"]) | set(
            t.loc[t["kind"] == "interview", "customer_id"]
        )
        cust = cust[isin(cust["customer_id"], ids)]
    j = j.merge(cust[["customer_id", by]], on="customer_id", how="inner")
    j = j[j[by].notna()]
    cols = [by, "channel", "journeys", "journeys_with", "conversion_rate_with"]
    cols += ["conversion_rate_without", "lift"] + [f"share_{m}" for m in model_names]
    frames = []
    for seg, part in j.groupby(by, sort=True):
        if len(part) < min_journeys:
            continue
        conv = part["converted"].to_numpy()
        chans = sorted({c for p in part["path"] for c in p})
        rows = []
        for ch in chans:
            has = part["path"].map(lambda p, ch=ch: ch in p).to_numpy()
            rw = conv[has].mean() if has.any() else np.nan
            rwo = conv[~has].mean() if (~has).any() else np.nan
            rows.append(
                {
                    by: seg,
                    "channel": ch,
                    "journeys": len(part),
                    "journeys_with": int(has.sum()),
                    "conversion_rate_with": rw,
                    "conversion_rate_without": rwo,
                    "lift": rw / rwo if rwo and rwo > 0 else np.nan,
                }
            )
        seg_frame = pd.DataFrame(rows)
        credits = attribute(part, models=model_names)
        total = conv.sum()
        for m in model_names:
            c = credits[credits["model"] == m].set_index("channel")["conversions"]
            seg_frame[f"share_{m}"] = (
                seg_frame["channel"].map(c).astype("float64") / total if total else np.nan
            )
        frames.append(seg_frame)
    if not frames:
        return pd.DataFrame({c: pd.Series([], dtype="float64") for c in cols})
    return pd.concat(frames, ignore_index=True)[cols]
