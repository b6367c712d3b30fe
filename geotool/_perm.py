"""Seeded permutation engines: numpy draws, compiled (numba) counting kernels.

esda's kernels compile for about 18 s in every fresh process and its global statistics
take no seed. Here every permutation comes from a ``numpy.random.Generator`` stream
derived from the user's seed and the statistic's name (:func:`rng_for`), and the counting
runs in :mod:`geotool._kernels` (compiled once, cached on disk, both cores) in blocks of a
fixed size, so results depend neither on the order of the statistics nor on the threads.
Local statistics share one matrix of draws among all units (conditional randomisation, as
esda and GeoDa); global ones shuffle in blocks of :data:`_GLOBAL_BLOCK` permutations, each
block from its own spawned stream.

The tie rule of every permutation p-value: a simulated statistic equal to the observed one
counts as at least as extreme, ``p = (min(#{sim >= obs}, #{sim <= obs}) + 1) / (P + 1)``,
one-sided in the observed direction. With continuous values this is GeoDa's and esda's
folded ``p_sim``; under ties theirs counts only simulations strictly below, so a 0 among
0s gets ``p = 1 / (P + 1)`` ("significant") where this rule, that of exact permutation
tests (Phipson and Smyth 2010), gives ``p = 1``.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "HELD_PERMUTATIONS",
    "TIE_RTOL",
    "at_mean_p",
    "conditional_counts",
    "conditional_lags",
    "conditional_pvalues",
    "folded_pvalue",
    "lag_pvalues",
    "lead_in",
    "permuted_quadratic_forms",
    "permuted_statistics",
    "rank_correlations",
    "rng_for",
    "row_ranges",
    "row_sums_of",
    "tie_rule_p",
    "two_sided_p",
]

TIE_RTOL = 1e-9
#: Units per block of the compiled local kernels, and permutations per block (and per
#: random stream) of the global ones: fixed, so results never depend on the threads.
_UNIT_BLOCK = 512
_GLOBAL_BLOCK = 8
#: Permuted copies of the values the engines hold at once, at most: the working set
#: :func:`geotool._validate.permutations` estimates from.
HELD_PERMUTATIONS = 8


def rng_for(seed: int, name: str) -> np.random.Generator:
    """A generator for one statistic: the same ``seed`` and ``name`` give the same draws."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def _draw_without_replacement(
    rng: np.random.Generator, population: int, permutations: int, k: int
) -> np.ndarray:
    """``permutations`` rows of ``k`` distinct integers in ``[0, population)``."""
    if k == 0:
        return np.empty((permutations, 0), dtype=np.int64)
    if k > population:
        msg = f"Cannot draw {k} distinct values from {population}."
        raise ValueError(msg)
    if k * 4 > population:  # dense: shuffle a full row each time
        return np.argsort(rng.random((permutations, population)), axis=1)[:, :k]
    out = rng.integers(0, population, size=(permutations, k))
    while True:
        srt = np.sort(out, axis=1)
        bad = np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))
        if bad.size == 0:
            return out
        out[bad] = rng.integers(0, population, size=(bad.size, k))


def conditional_lags(
    values: np.ndarray,
    weights: sp.csr_matrix,
    permutations: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Spatial lags under conditional randomisation, ``(n, permutations)`` (islands: 0).

    Unit ``i`` gives its ``k_i`` weights to ``k_i`` distinct other units (Anselin 1995),
    from one matrix of draws shared by all units: a draw ``r`` in ``[0, n - 1)`` stands
    for unit ``r`` below ``i`` and ``r + 1`` from ``i`` on. The draws of
    :func:`conditional_counts`, whose counts these lags check.
    """
    w = weights.tocsr()
    card = np.diff(w.indptr)
    draws = _draw_without_replacement(rng, len(values) - 1, permutations, int(card.max(initial=0)))
    out = np.zeros((len(values), permutations))
    for i in np.flatnonzero(card):
        drawn = draws[:, : card[i]]
        out[i] = values[drawn + (drawn >= i)] @ w.data[w.indptr[i] : w.indptr[i + 1]]
    return out


def conditional_counts(
    values: np.ndarray,
    weights: sp.csr_matrix,
    permutations: int,
    rng: np.random.Generator,
    *,
    observed: np.ndarray,
    tol: float,
    coef: np.ndarray | None = None,
    units: np.ndarray | None = None,
    rows: np.ndarray | None = None,
    draw_width: int | None = None,
    ranges: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``#{sim >= observed - tol}`` and ``#{sim <= observed + tol}`` for every unit.

    Unit ``i``'s permuted statistic is ``sum_v coef[i, v] lag_v``, ``lag_v`` a permuted
    lag of column ``v`` of ``values`` (``(n,)`` or ``(n, m)``; ``coef`` default 1) under
    the draws of :func:`conditional_lags`, counted by the compiled kernels without
    holding the lags. ``units`` (boolean) restricts the counting; the others, and units
    without neighbours, get 0. A caller working on a part of the units passes ``rows``,
    their ascending indices (``weights``, ``observed``, ``coef``, ``units`` and the
    counts are then on those rows only), and ``draw_width``, the most neighbours of any
    unit of the study, so that every part draws what the whole would. ``ranges``:
    :func:`row_ranges` of ``weights``, when the caller has them.
    """
    from geotool import _kernels

    columns = np.ascontiguousarray(np.atleast_2d(np.asarray(values, dtype=float).T))  # (m, n)
    m, n = columns.shape
    w = weights.tocsr()
    card, low, high = row_ranges(w) if ranges is None else ranges
    n_rows = len(card)
    observed = np.asarray(observed, dtype=float)
    width = int(card.max(initial=0)) if draw_width is None else int(draw_width)
    draws = _draw_without_replacement(rng, n - 1, permutations, width)
    base, gathered, steps, events = _gathered(draws, columns)
    upper = np.zeros(n_rows, dtype=np.int64)
    lower = np.zeros(n_rows, dtype=np.int64)
    wanted = card > 0 if units is None else (card > 0) & np.asarray(units, dtype=bool)
    same = low == high
    cf = np.ones((1, m)) if coef is None else _coef_rows(coef, n_rows, m)
    obs = np.ascontiguousarray(observed)
    for uniform in (True, False):  # rows of equal weights, then the others
        if not uniform and same.all():
            break
        ids = np.flatnonzero(wanted & same if uniform else wanted & ~same)
        if not len(ids):
            continue
        ids = _by_cardinality(ids, card[ids])  # by k, then id
        unit_of = ids if rows is None else np.asarray(rows, np.int64)[ids]
        k_of = card[ids].astype(np.int64)
        starts = _unit_blocks(k_of)
        if uniform:
            _kernels.conditional_incremental(
                unit_of, ids, k_of, starts, base, gathered, steps, *events,
                np.ascontiguousarray(high, dtype=float), cf, obs, float(tol), upper, lower,
            )  # fmt: skip
        else:
            padded = _padded_rows(w, ids, k_of, base.shape[0])
            _kernels.conditional_direct(
                unit_of, ids, k_of, starts, base, gathered, steps, padded, cf, obs, float(tol),
                upper, lower,
            )  # fmt: skip
    return upper, lower


def _coef_rows(coef: np.ndarray, n_rows: int, m: int) -> np.ndarray:
    """The coefficients as ``(n_rows, m)`` however they are shaped (a view when they can)."""
    return np.ascontiguousarray(np.asarray(coef, dtype=float).reshape(n_rows, m))


def _by_cardinality(ids: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``ids`` ordered by ``k``, ties in their own order: a stable sort on ``k``.

    One mask per value of ``k`` when there are few (a lattice has 2, 3 and 4: 8 ms at
    10^6 units, against 25 ms for numpy's stable argsort of 16-bit keys).
    """
    values = np.flatnonzero(np.bincount(k))
    if len(values) == 1:
        return ids.astype(np.int64, copy=False)
    if len(values) > 16:
        small = np.int16 if values[-1] < 2**15 else np.int64
        return ids[np.argsort(k.astype(small), kind="stable")].astype(np.int64)
    return np.concatenate([ids[k == v] for v in values]).astype(np.int64, copy=False)


def row_ranges(w: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's number of weights, smallest and largest weight (0 for empty rows).

    Rows of equal weights (contiguity, row-standardised or not) are found by comparing
    each weight with the next (:func:`_row_values`; the two ``reduceat``, 120 ms at 10^6
    units, run only when a row is not).
    """
    card = np.diff(w.indptr)
    n = len(card)
    has = np.flatnonzero(card)
    if not len(has):
        return card, np.zeros(n), np.zeros(n)
    first = _row_values(w.data, w.indptr, card)
    if first is not None:  # 0 for empty rows
        return card, first, first.copy()
    low, high = np.zeros(n), np.zeros(n)  # consecutive non-empty rows: a segment each
    low[has] = np.minimum.reduceat(w.data, w.indptr[has])
    high[has] = np.maximum.reduceat(w.data, w.indptr[has])
    return card, low, high


def row_sums_of(w: sp.csr_matrix) -> np.ndarray:
    """Each row's sum of weights, as scipy's ``w.sum(axis=1)`` takes it.

    The same ``reduceat`` over each row's links, without the matrix scipy wraps it in
    (35 -> 20 ms at 10^6 units).
    """
    card = np.diff(w.indptr)
    has = np.flatnonzero(card)
    out = np.zeros(len(card))
    if len(has):
        out[has] = np.add.reduceat(w.data.astype(float, copy=False), w.indptr[has])
    return out


def _widest(card: np.ndarray, value: np.ndarray) -> float:
    """The largest row sum of ``|w|`` for rows of equal weights ``value`` (``card`` each).

    As ``np.add.reduceat`` over the links (scipy's ``sum(axis=1)``), from each number of
    links' largest ``|value|`` alone: a sum of equal non-negative terms rises with them.
    """
    ks = np.flatnonzero(np.bincount(card))
    ks = ks[ks > 0]
    if not len(ks):
        return 0.0
    if len(ks) > 16:  # many row lengths: sum every row
        has = card > 0
        starts = (np.cumsum(card) - card)[has]
        return float(np.add.reduceat(np.repeat(np.abs(value[has]), card[has]), starts).max())
    absv = np.abs(value)
    return max(float(np.add.reduceat(np.full(int(k), absv[card == k].max()), [0])[0]) for k in ks)


def lead_in(card: np.ndarray, start: int) -> np.ndarray:
    """The units before ``start`` that share a counting block with units from ``start`` on.

    :func:`conditional_counts` sums permuted lags block by block (units of one
    cardinality, :data:`_UNIT_BLOCK` at a time, in order), so a part of the study (units
    ``start`` onwards, ``card`` every unit's number of neighbours) counted with these
    units as extra ``rows`` gets the whole study's blocks, and bit for bit its numbers.
    For weights whose rows each hold one value (row-standardised or binary contiguity).
    """
    card = np.asarray(card)
    before = np.bincount(card[:start], minlength=int(card.max(initial=0)) + 1)
    out = []
    for k in np.flatnonzero(before[1:]) + 1:
        need = int(before[k] % _UNIT_BLOCK)
        span = _UNIT_BLOCK
        while need:  # look back in growing windows for the last ``need`` units of k
            lo = max(0, start - span)
            found = np.flatnonzero(card[lo:start] == k)
            if len(found) >= need or lo == 0:
                out.append(found[len(found) - need :] + lo)
                break
            span *= 4
    return np.sort(np.concatenate([np.zeros(0, dtype=np.int64), *out])).astype(np.int64)


def _gathered(
    draws: np.ndarray, columns: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The kernels' view of the draws ``(P, kmax)`` over ``columns`` ``(m, n)``.

    ``base`` ``(kmax, P)``; the values drawn and the step to the next unit's,
    ``(m, kmax, P)`` each; every draw sorted by the unit it names (the events).
    """
    permutations = draws.shape[0]
    step_up = np.concatenate([np.diff(columns, axis=1), np.zeros((len(columns), 1))], axis=1)
    flat = draws.T.ravel().astype(np.int64)
    order = np.argsort(flat)
    base = np.ascontiguousarray(draws.T, dtype=np.int64)
    return (
        base,
        np.ascontiguousarray(columns[:, base]),
        np.ascontiguousarray(step_up[:, base]),
        (flat[order], order // permutations, order % permutations),
    )


def _unit_blocks(k_of: np.ndarray) -> np.ndarray:
    """Block starts: at most :data:`_UNIT_BLOCK` units of one cardinality (never by threads)."""
    cuts = np.flatnonzero(np.diff(k_of)) + 1
    edges = np.concatenate([[0], cuts, [len(k_of)]])
    return np.unique(np.concatenate(
        [np.arange(a, b, _UNIT_BLOCK) for a, b in zip(edges[:-1], edges[1:], strict=True)]
        + [[len(k_of)]]
    )).astype(np.int64)  # fmt: skip


def _padded_rows(w: sp.csr_matrix, ids: np.ndarray, k_of: np.ndarray, width: int) -> np.ndarray:
    """The weights of rows ``ids``, each padded with zeros to ``width``."""
    rows = np.zeros((len(ids), width))
    first = np.repeat(w.indptr[ids], k_of)
    link = first + (np.arange(k_of.sum()) - np.repeat(np.cumsum(k_of) - k_of, k_of))
    rows[np.repeat(np.arange(len(ids)), k_of), link - first] = w.data[link]
    return rows


def tie_rule_p(upper: np.ndarray, lower: np.ndarray, permutations: int) -> np.ndarray:
    """The one folding rule of every permutation p-value (see the module docstring)."""
    return (np.minimum(upper, lower) + 1.0) / (permutations + 1.0)


def two_sided_p(folded: np.ndarray) -> np.ndarray:
    """Two-sided p-values from folded ones: ``min(1, 2 p)`` (missing stays missing).

    The folded p is the smaller of two valid one-sided p-values, so twice it rejects at
    ``alpha`` at most ``alpha`` of the time under the null (a union bound), whatever the
    shape of the permutation distribution and without choosing a centre.
    """
    return np.minimum(1.0, 2.0 * np.asarray(folded, dtype=float))


def conditional_pvalues(
    values: np.ndarray,
    weights: sp.csr_matrix,
    permutations: int,
    rng: np.random.Generator,
    direction: np.ndarray,
    *,
    observed: np.ndarray | None = None,
) -> np.ndarray:
    """Folded pseudo p-values of a local statistic monotone in the spatial lag.

    :func:`lag_pvalues`, but ``direction == 0`` (a unit at the mean: its statistic, local
    Moran's, is 0 whatever its neighbours) gives ``p = 1``; no neighbours, NaN.
    """
    return at_mean_p(lag_pvalues(values, weights, permutations, rng, observed=observed),
                     direction)  # fmt: skip


def at_mean_p(p: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """``p`` with 1 where ``direction`` is 0 (local Moran's is 0 whatever the neighbours).

    NaN (no neighbours) stays NaN.
    """
    return np.where((np.sign(direction) == 0) & ~np.isnan(p), 1.0, p)


def lag_pvalues(
    values: np.ndarray,
    weights: sp.csr_matrix,
    permutations: int,
    rng: np.random.Generator,
    *,
    observed: np.ndarray | None = None,
) -> np.ndarray:
    """Folded pseudo p-values of each unit's spatial lag (NaN: no neighbours).

    Permuted lags are counted against the observed ``weights @ values`` (``observed``,
    when the caller has it). The folded p is that of every local statistic strictly
    monotone (rising or falling) in the unit's lag under conditional randomisation, as
    local Moran (for ``z_i != 0``) and Gi* are: one count serves them all.
    """
    observed = weights @ values if observed is None else observed
    w = weights.tocsr()
    card, low, high = row_ranges(w)
    ranges: tuple[np.ndarray, np.ndarray, np.ndarray] | None = (card, low, high)
    if np.array_equal(low, high):  # equal weights in every row: their order is no matter
        widest = _widest(card, low)
    else:  # as before: abs() sorts the matrix's rows in place, and the kernels see them so
        widest = np.abs(weights).sum(axis=1).max()
        ranges = None
    # permuted lags are summed in another order: ties may differ by rounding
    tol = TIE_RTOL * (np.abs(values).max() * widest + 1.0)
    upper, lower = conditional_counts(
        values, weights, permutations, rng, observed=observed, tol=tol, ranges=ranges
    )
    p = tie_rule_p(upper, lower, permutations)
    p[card == 0] = np.nan
    return p


def folded_pvalue(observed: np.ndarray, simulated: np.ndarray) -> np.ndarray:
    """Folded p of ``observed`` (``(n,)``) against ``simulated`` (``(n, P)``), ties counted."""
    simulated = np.atleast_2d(simulated)
    observed = np.atleast_1d(observed)
    perms = simulated.shape[1]
    tol = TIE_RTOL * (np.abs(observed)[:, None] + 1.0)  # ties count, despite rounding
    upper = (simulated >= observed[:, None] - tol).sum(axis=1)
    lower = (simulated <= observed[:, None] + tol).sum(axis=1)
    return tie_rule_p(upper, lower, perms)


# numpy's SeedSequence (O'Neill's seed_seq_fe, pool of 4 words): its hash constants
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _M32 = 0xCA01F9DD, 0x4973F715, 0xFFFFFFFF


def _mix(x: Any, y: Any) -> Any:
    """SeedSequence's ``mix`` of two 32-bit words (ints, or uint64 arrays holding them)."""
    r = ((_MIX_L * x) & _M32) - ((_MIX_R * y) & _M32)
    r &= _M32
    return r ^ (r >> 16)


def _spawned_states(entropy: list[int], blocks: int) -> np.ndarray:
    """``[c.generate_state(4, np.uint64) for c in SeedSequence(entropy).spawn(blocks)]``.

    The same words (a test compares them), vectorised over the spawn key: 0.18 ms for
    125 blocks against 2.8 ms in numpy's loop, paid by every global test.
    """
    words = [  # each int as 32-bit words, least significant first; 0 is one word
        v >> (32 * k) & _M32 for v in entropy for k in range(max(1, -(-v.bit_length() // 32)))
    ]
    if len(words) < 4:  # numpy pads the run entropy to the pool size before a spawn key
        words += [0] * (4 - len(words))
    hash_a = _INIT_A

    def hashmix(value: Any) -> Any:
        nonlocal hash_a
        value = value ^ hash_a
        hash_a = (hash_a * _MULT_A) & _M32
        value = (value * hash_a) & _M32
        return value ^ (value >> 16)

    pool: list[Any] = [hashmix(w) for w in words[:4]]
    for src in range(4):
        for dst in range(4):
            if src != dst:
                pool[dst] = _mix(pool[dst], hashmix(pool[src]))
    for w in words[4:]:
        for dst in range(4):
            pool[dst] = _mix(pool[dst], hashmix(w))
    key = np.arange(blocks, dtype=np.uint64)  # each child's spawn key: one word
    for dst in range(4):
        pool[dst] = _mix(np.full(blocks, pool[dst], dtype=np.uint64), hashmix(key))
    hash_b = _INIT_B
    state = np.empty((blocks, 8), dtype=np.uint64)  # 8 words of 32 bits = 4 of 64
    for j in range(8):
        value = pool[j % 4] ^ np.uint64(hash_b)
        hash_b = (hash_b * _MULT_B) & _M32
        value = (value * np.uint64(hash_b)) & np.uint64(_M32)
        state[:, j] = value ^ (value >> np.uint64(16))
    return state[:, 0::2] | (state[:, 1::2] << np.uint64(32))  # little-endian pairs


def _stream_states(rng: np.random.Generator, blocks: int) -> np.ndarray:
    """One xoshiro256** state per block, from ``rng``'s seed (``SeedSequence.spawn``)."""
    out = _spawned_states(rng.integers(0, 2**63, size=4).tolist(), blocks)
    out[~out.any(axis=1), 0] = 1  # the all-zero state is xoshiro's only fixed point
    return out


def permuted_statistics(
    z: np.ndarray,
    weights: sp.csr_matrix,
    permutations: int,
    rng: np.random.Generator,
    *,
    degrees: np.ndarray | None = None,
    binary: sp.csr_matrix | None = None,
    shift: float = 0.0,
    left: np.ndarray | None = None,
) -> np.ndarray:
    """Quadratic forms of random relabellings ``y`` of ``z`` (total randomisation), streamed.

    Returns ``(3, permutations)``: row 0 ``y' W y`` (``left' W y`` with ``left``), row 1
    ``sum_i degrees_i y_i^2`` and row 2 ``(y + shift)' binary (y + shift)`` (0 without
    ``degrees`` or ``binary``). Block ``b`` of :data:`_GLOBAL_BLOCK` permutations draws
    from its own stream: no ``(permutations, n)`` array, no dependence on threads.
    """
    from geotool import _kernels

    z = np.ascontiguousarray(z, dtype=float)
    n = len(z)
    out = np.zeros((3, permutations))
    if permutations == 0:
        return out
    w, data_r, data_b, by_row = _kernel_weights(weights, binary)
    if w.nnz >= 2**32:
        msg = f"{w.nnz:,} links: the permutation kernels index at most 2**32 - 1."
        raise ValueError(msg)
    blocks = -(-permutations // _GLOBAL_BLOCK)
    _kernels.global_quadratic_forms(
        z,
        np.zeros(0) if left is None else np.ascontiguousarray(left, dtype=float),
        _stream_states(rng, blocks),
        permutations,
        _GLOBAL_BLOCK,
        w.indptr.astype(np.uint32),
        w.indices.astype(np.uint32),
        np.ascontiguousarray(data_r, dtype=float),
        np.ascontiguousarray(data_b, dtype=float),
        np.zeros(n) if degrees is None else np.ascontiguousarray(degrees, dtype=float),
        float(shift),
        by_row,
        out,
    )
    return out


def _kernel_weights(
    weights: sp.csr_matrix, binary: sp.csr_matrix | None
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, bool]:
    """``(W, data of W, data of binary, by_row)`` on one sparsity pattern (or their union).

    ``by_row`` when every row holds one value in both: the data are then those row values
    (length ``n``), or the one value of every row (length 1).
    """
    w = weights.tocsr().astype(float)
    w.sort_indices()
    n = w.shape[0]
    data_b = np.zeros(0)
    if binary is not None:
        b = binary.tocsr().astype(float)
        b.sort_indices()
        if np.array_equal(b.indptr, w.indptr) and np.array_equal(b.indices, w.indices):
            data_b = b.data
        else:  # the union, each matrix with explicit zeros elsewhere
            pattern = (abs(w) + abs(b)).tocsr()
            pattern.sort_indices()
            rows = np.repeat(np.arange(n), np.diff(pattern.indptr))
            data_w = np.asarray(w[rows, pattern.indices]).ravel()
            data_b = np.asarray(b[rows, pattern.indices]).ravel()
            w = sp.csr_matrix((data_w, pattern.indices, pattern.indptr), shape=w.shape)
    card = np.diff(w.indptr)
    if len(w.data) == n or not len(card):
        return w, w.data, data_b, False
    firsts = _row_values(w.data, w.indptr, card)
    firsts_b = None if not len(data_b) else _row_values(data_b, w.indptr, card)
    if firsts is None or (len(data_b) and firsts_b is None):
        return w, w.data, data_b, False
    has = card > 0
    return (
        w, _one_if_equal(firsts, has),
        data_b if firsts_b is None else _one_if_equal(firsts_b, has), True,
    )  # fmt: skip


def _row_values(data: np.ndarray, indptr: np.ndarray, card: np.ndarray) -> np.ndarray | None:
    """Each row's value (0 for empty rows) when every row holds one value, else ``None``.

    Consecutive links that differ must all straddle a row's end (at most ``n - 1`` of
    them): found with one comparison and a search, no scatter over the links.
    """
    if len(data) > 1:
        differ = np.flatnonzero(data[1:] != data[:-1]) + 1  # a new value starts here
        if len(differ) >= len(card):
            return None
        at = np.searchsorted(indptr, differ)
        if not np.array_equal(indptr[np.minimum(at, len(indptr) - 1)], differ):
            return None
    firsts = np.zeros(len(card))
    has = card > 0
    firsts[has] = data[indptr[:-1][has]]
    return firsts


def _one_if_equal(values: np.ndarray, has: np.ndarray) -> np.ndarray:
    """``values``, or its one value when all rows ``has`` (with links) hold it: read once.

    Rows without links have a lag of 0 whatever their value.
    """
    held = values[has]
    return held[:1] if len(held) and np.all(held == held[0]) else values


def permuted_quadratic_forms(
    x: np.ndarray,
    weights: sp.csr_matrix,
    permutations: int,
    rng: np.random.Generator,
    y: np.ndarray | None = None,
) -> np.ndarray:
    """``x_p' W x_p``, or ``x' W y_p`` with ``y``, over random relabellings ``p``."""
    if y is None:
        return permuted_statistics(x, weights, permutations, rng)[0]
    return permuted_statistics(y, weights, permutations, rng, left=x)[0]


def rank_correlations(
    x: np.ndarray, y: np.ndarray, permutations: int, rng: np.random.Generator
) -> dict[str, float]:
    """Spearman's rho and Kendall's tau-b of x and y, with two-sided permutation p-values.

    A constant x or y (one tier only) has no rank correlation: every result is missing.
    """
    import pandas as pd  # not scipy.stats.rankdata: importing scipy.stats costs a run ~0.5 s

    n = len(x)
    rx, ry = (pd.Series(v).rank(method="average").to_numpy() for v in (x, y))
    rx_c, ry_c = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt((rx_c @ rx_c) * (ry_c @ ry_c))
    if denom == 0:
        nan = float("nan")
        return {"spearman_rho": nan, "spearman_p": nan, "kendall_tau_b": nan, "kendall_p": nan}
    rho = float(rx_c @ ry_c / denom)
    # Kendall's S = concordant - discordant pairs, O(n log m) per draw (a Fenwick tree
    # over the m ranks of the variable with fewer levels); tau-b = 2S / sqrt(tx ty)
    from geotool import _kernels

    x_levels, x_rank = np.unique(x, return_inverse=True)
    y_levels, y_rank = np.unique(y, return_inverse=True)
    tx = n * n - int((np.bincount(x_rank).astype(np.int64) ** 2).sum())
    ty = n * n - int((np.bincount(y_rank).astype(np.int64) ** 2).sum())
    scale = math.sqrt(tx * ty) if tx and ty else float("nan")
    # order by the variable with more levels, relabel the other (the same distribution)
    if len(x_levels) >= len(y_levels):
        order, fixed, fixed_c, moved, moved_c, m = x, x_rank, rx_c, y_rank, ry_c, len(y_levels)
    else:
        order, fixed, fixed_c, moved, moved_c, m = y, y_rank, ry_c, x_rank, rx_c, len(x_levels)
    by = np.argsort(order, kind="stable")
    group = np.ascontiguousarray(fixed[by], dtype=np.int64)
    moved_rank = np.ascontiguousarray(moved[by], dtype=np.int64) + 1
    s_obs = int(_kernels.kendall_sums(group, moved_rank, m, np.arange(n)[None, :])[0])
    tau = float(2 * s_obs / scale) if tx and ty else float("nan")
    s_sim = np.zeros(permutations, dtype=np.int64)
    dot = np.zeros(permutations)
    blocks = -(-permutations // _GLOBAL_BLOCK)
    _kernels.rank_sums(
        group, np.ascontiguousarray(fixed_c[by]), moved_rank, np.ascontiguousarray(moved_c[by]),
        m, _stream_states(rng, blocks), permutations, _GLOBAL_BLOCK, s_sim, dot,
    )  # fmt: skip
    sim_rho = dot / denom
    sim_tau = 2.0 * s_sim / scale
    tol = 1e-12
    if permutations == 0:  # analytical only: no permutation p-value, rather than p = 1
        p_rho = p_tau = float("nan")
    else:
        p_rho = (np.count_nonzero(np.abs(sim_rho) >= abs(rho) - tol) + 1) / (permutations + 1)
        p_tau = (np.count_nonzero(np.abs(sim_tau) >= abs(tau) - tol) + 1) / (permutations + 1)
    return {
        "spearman_rho": rho,
        "spearman_p": float(p_rho),
        "kendall_tau_b": tau,
        "kendall_p": float(p_tau),
    }
