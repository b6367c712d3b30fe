"""Compiled permutation kernels (numba), used by :mod:`geotool._perm`.

Compiled with ``cache=True`` (next to this file, or in numba's user cache when the package
is read-only; :func:`warm_up` loads them), and kept apart from ``_perm`` so that editing
the engine's Python does not invalidate that cache. The kernels split the work into
blocks of a fixed size, each with its own arithmetic and random stream, and run on one
thread per core (:func:`_in_parts`): results do not depend on the number of threads.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import numba as nb
import numpy as np
from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [
    "conditional_direct",
    "conditional_incremental",
    "global_quadratic_forms",
    "kendall_sums",
    "rank_sums",
    "warm_up",
]

_U = np.uint64
#: LLVM's prefetch intrinsic, named by pointer type (opaque pointers from LLVM 15 on).
_PREFETCH = "llvm.prefetch.p0" if binding.llvm_version_info >= (15,) else "llvm.prefetch.p0i8"


@nb.njit(cache=True)
def _rotl(x: np.uint64, k: np.uint64) -> np.uint64:
    return (x << k) | (x >> (_U(64) - k))


@nb.njit(cache=True)
def _next(s: np.ndarray) -> np.uint64:
    """xoshiro256** (Blackman and Vigna 2018): the next 64 random bits of state ``s``."""
    result = _rotl(s[1] * _U(5), _U(7)) * _U(9)
    t = s[1] << _U(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], _U(45))
    return result


@nb.njit(cache=True)
def _below(s: np.ndarray, bound: int) -> int:
    """A random integer in ``[0, bound)`` from 53 random bits (bias below 2**-30)."""
    u = np.float64(_next(s) >> _U(11)) * (1.0 / 9007199254740992.0)
    j = int(u * bound)
    return j if j < bound else bound - 1


#: Runs of consecutive blocks the incremental kernel walks in parallel: each run sorts its
#: first block's sums and then re-sorts from the previous order (insertion sort, O(P)).
#: Counts do not depend on it (nor on the threads).
_RUNS = 64
#: Values (8 bytes each) of a global block's relabellings held for one pass over the
#: weights: 2 M (16 MB a thread; measured: x2.2 at 2 x 10^5 units, none at 10^6).
_HELD_VALUES = 1 << 21


@nb.njit(cache=True)
def _first_holding(srt: np.ndarray, cf: float, bound: float, rising: bool) -> int:
    """The first index of ascending ``srt`` with ``cf srt[i] >= bound`` (``rising``) or ``> bound``.

    A binary search on the kernels' own predicate: ``cf > 0`` times ``srt`` is monotone in
    ``srt`` (rounding is monotone), so the counts equal those of a pass over every ``p``.
    Branchless (a select, no jump to mispredict): ``log2(P)`` steps of one load.
    """
    n = len(srt)
    if n == 0:
        return 0
    at = 0
    while n > 1:
        half = n >> 1
        sim = cf * srt[at + half]
        holds = (sim >= bound) if rising else (sim > bound)
        at = at if holds else at + half
        n -= half
    sim = cf * srt[at]
    holds = (sim >= bound) if rising else (sim > bound)
    return at if holds else at + 1


@nb.njit(cache=True)
def _beyond(srt: np.ndarray, cf: float, bound: float, at: int) -> int:
    """The first index from ``at`` with ``cf srt[i] > bound`` (all before ``at`` are not)."""
    stop = min(len(srt), at + 8)  # ties aside, a step or two past ``at``
    while at < stop and cf * srt[at] <= bound:
        at += 1
    if at == stop and at < len(srt):
        at += _first_holding(srt[at:], cf, bound, False)
    return at


@nb.njit(cache=True)
def _count_sorted(srt: np.ndarray, cf: float, hi: float, lo: float) -> tuple[int, int]:
    """``#{p: cf s_p >= hi}`` and ``#{p: cf s_p <= lo}`` over the ascending sums ``srt``.

    With ``lo >= hi`` (a tolerance, not negative): one search, then a walk to ``lo``.
    """
    perms = len(srt)
    if cf > 0.0 and lo >= hi:  # cf * s rises with s
        at = _first_holding(srt, cf, hi, True)
        return perms - at, _beyond(srt, cf, lo, at)
    if cf < 0.0 and lo >= hi:  # falls: the same on -cf * s, -lo <= -hi
        at = _first_holding(srt, -cf, -lo, True)
        return _beyond(srt, -cf, -hi, at), perms - at
    up = 0  # cf = 0, or a negative tolerance: every p
    dn = 0
    for p in range(perms):
        sim = cf * srt[p]
        up += sim >= hi
        dn += sim <= lo
    return up, dn


@nb.njit(cache=True)
def _insertion_sort(srt: np.ndarray, order: np.ndarray) -> None:
    """Sort ``srt`` ascending, carrying ``order`` along: O(P) when nearly sorted."""
    for j in range(1, len(srt)):
        v = srt[j]
        o = order[j]
        i = j - 1
        while i >= 0 and srt[i] > v:
            srt[i + 1] = srt[i]
            order[i + 1] = order[i]
            i -= 1
        srt[i + 1] = v
        order[i + 1] = o


@nb.njit(cache=True)
def _left(srt: np.ndarray, value: float) -> int:
    """The first index of ascending ``srt`` with ``srt[i] >= value`` (``np.searchsorted``)."""
    lo = 0
    hi = len(srt)
    while lo < hi:
        mid = (lo + hi) >> 1
        if srt[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@nb.njit(cache=True)
def _sorted_order(srt: np.ndarray, order: np.ndarray, values: np.ndarray) -> None:
    """``values`` ascending into ``srt`` and their indices into ``order`` (a merge sort).

    The kernels' own, not ``np.argsort``: numba compiles its quicksort in about a second
    (the first run), and the counts read only the sorted values, not the order of ties.
    """
    n = len(values)
    tmp_v = np.empty(n)
    tmp_o = np.empty(n, dtype=np.int64)
    for j in range(n):
        srt[j] = values[j]
        order[j] = j
    width = 1
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            a, b, t = lo, mid, lo
            while a < mid and b < hi:
                if srt[b] < srt[a]:
                    tmp_v[t], tmp_o[t] = srt[b], order[b]
                    b += 1
                else:
                    tmp_v[t], tmp_o[t] = srt[a], order[a]
                    a += 1
                t += 1
            while a < mid:
                tmp_v[t], tmp_o[t] = srt[a], order[a]
                a += 1
                t += 1
            while b < hi:
                tmp_v[t], tmp_o[t] = srt[b], order[b]
                b += 1
                t += 1
        for j in range(n):
            srt[j] = tmp_v[j]
            order[j] = tmp_o[j]
        width *= 2


@nb.njit(cache=True)
def _resort(srt: np.ndarray, order: np.ndarray, p: int, old: float, new: float) -> None:
    """Sum ``p`` moved from ``old`` to ``new``: move it in ascending ``srt`` (and ``order``)."""
    i = _left(srt, old)
    while order[i] != p:  # among equal sums
        i += 1
    srt[i] = new
    while i + 1 < len(srt) and srt[i + 1] < srt[i]:
        srt[i], srt[i + 1] = srt[i + 1], srt[i]
        order[i], order[i + 1] = order[i + 1], order[i]
        i += 1
    while i > 0 and srt[i - 1] > srt[i]:
        srt[i], srt[i - 1] = srt[i - 1], srt[i]
        order[i], order[i - 1] = order[i - 1], order[i]
        i -= 1


@nb.njit(cache=True)
def _count_pair(  # noqa: PLR0917 (numba: positional only)
    s0: np.ndarray, s1: np.ndarray, a: float, b: float, w: float, hi: float, lo: float
) -> tuple[int, int]:
    """Counts of ``(a s0_p + b s1_p) w`` (two columns: local Geary), one vectorised pass.

    ``b = 1`` (local Geary's sum of squares) skips its product: ``1 s1_p`` is ``s1_p``.
    """
    up = 0
    dn = 0
    if b == 1.0:
        for p in range(len(s0)):
            sim = (a * s0[p] + s1[p]) * w
            up += sim >= hi
            dn += sim <= lo
        return up, dn
    for p in range(len(s0)):
        sim = (a * s0[p] + b * s1[p]) * w
        up += sim >= hi
        dn += sim <= lo
    return up, dn


@nb.njit(cache=True)
def _count_many(
    sums: np.ndarray, cf: np.ndarray, w: float, hi: float, lo: float
) -> tuple[int, int]:
    """Counts of ``w sum_v cf[v] sums[v, p]`` (three or more columns)."""
    up = 0
    dn = 0
    for p in range(sums.shape[1]):
        sim = 0.0
        for v in range(sums.shape[0]):
            sim += cf[v] * sums[v, p]
        sim *= w
        up += sim >= hi
        dn += sim <= lo
    return up, dn


@nb.njit(cache=True)
def _block_sums(  # noqa: PLR0917 (numba: positional only)
    sums: np.ndarray, gathered: np.ndarray, steps: np.ndarray, base: np.ndarray, k: int,
    first: int,
) -> None:  # fmt: skip
    """The permuted sums of a block's first unit ``first`` (``k`` neighbours each)."""
    m, _, perms = gathered.shape
    for v in range(m):
        for p in range(perms):
            sums[v, p] = 0.0
    for v in range(m):
        for c in range(k):
            for p in range(perms):
                step = steps[v, c, p] if base[c, p] >= first else 0.0
                sums[v, p] += gathered[v, c, p] + step


@nb.njit(cache=True, nogil=True)
def _conditional_incremental(  # noqa: PLR0917 (numba: positional only)
    units: np.ndarray,
    at: np.ndarray,
    card: np.ndarray,
    starts: np.ndarray,
    base: np.ndarray,
    gathered: np.ndarray,
    steps: np.ndarray,
    evt_val: np.ndarray,
    evt_c: np.ndarray,
    evt_p: np.ndarray,
    scale: np.ndarray,
    coef: np.ndarray,
    obs: np.ndarray,
    tol: float,
    upper: np.ndarray,
    lower: np.ndarray,
    part: int,
    parts: int,
) -> None:
    """Counts of permuted statistics >= / <= the observed one, rows of equal weights.

    Block ``b``: units ``units[starts[b]:starts[b + 1]]``, ascending, all with ``k``
    neighbours; the one at position ``u`` reads and writes row ``r = at[u]`` of ``scale``
    (its weight), ``coef`` (one row for all when it has one), ``obs``, ``upper`` and
    ``lower`` (no gathered copies). The permuted sum of column ``v`` is ``sum_c
    gathered[v, c, p] + [base[c, p] >= i] steps[v, c, p]``; walking the units in order,
    each indicator switches off once (the events, sorted by ``evt_val``), so a unit costs
    ``O(m P)``, not ``O(m k P)``. With one column the sums are kept sorted (an event
    moves one) and a unit costs one binary search, ``O(log P)``. The statistic:
    ``scale[r] sum_v coef[r, v] sum_v``.
    """
    m, _, perms = gathered.shape
    per_unit = coef.shape[0] > 1  # else one row for every unit
    n_evt = len(evt_val)
    n_blocks = len(starts) - 1
    runs = min(n_blocks, _RUNS)
    for r in range(part * runs // parts, (part + 1) * runs // parts):
        sums = np.empty((m, perms))
        srt = np.empty(perms)
        order = np.empty(perms, dtype=np.int64)
        for b in range(r * n_blocks // runs, (r + 1) * n_blocks // runs):
            start = starts[b]
            first = units[start]
            k = card[start]
            _block_sums(sums, gathered, steps, base, k, first)
            if m == 1:
                if b == r * n_blocks // runs:
                    _sorted_order(srt, order, sums[0])
                else:
                    for j in range(perms):
                        srt[j] = sums[0, order[j]]
                    _insertion_sort(srt, order)
            ptr = _left(evt_val, first)
            for u in range(start, starts[b + 1]):
                while ptr < n_evt and evt_val[ptr] < units[u]:
                    c = evt_c[ptr]
                    if c < k:
                        p = evt_p[ptr]
                        if m == 1:
                            old = sums[0, p]
                            sums[0, p] -= steps[0, c, p]
                            _resort(srt, order, p, old, sums[0, p])
                        else:
                            for v in range(m):
                                sums[v, p] -= steps[v, c, p]
                    ptr += 1
                row = at[u]
                cr = row if per_unit else 0
                hi = obs[row] - tol
                lo = obs[row] + tol
                if m == 1:
                    upper[row], lower[row] = _count_sorted(srt, coef[cr, 0] * scale[row], hi, lo)
                elif m == 2:
                    upper[row], lower[row] = _count_pair(
                        sums[0], sums[1], coef[cr, 0], coef[cr, 1], scale[row], hi, lo
                    )
                else:
                    upper[row], lower[row] = _count_many(sums, coef[cr], scale[row], hi, lo)


@nb.njit(cache=True, nogil=True)
def _conditional_direct(  # noqa: PLR0917 (numba: positional only)
    units: np.ndarray,
    at: np.ndarray,
    card: np.ndarray,
    starts: np.ndarray,
    base: np.ndarray,
    gathered: np.ndarray,
    steps: np.ndarray,
    rows: np.ndarray,
    coef: np.ndarray,
    obs: np.ndarray,
    tol: float,
    upper: np.ndarray,
    lower: np.ndarray,
    part: int,
    parts: int,
) -> None:
    """As :func:`_conditional_incremental` for rows of unequal weights ``rows[u, c]``."""
    m, _, perms = gathered.shape
    per_unit = coef.shape[0] > 1
    n_blocks = len(starts) - 1
    for b in range(part * n_blocks // parts, (part + 1) * n_blocks // parts):
        for u in range(starts[b], starts[b + 1]):
            i = units[u]
            k = card[u]
            r = at[u]
            cr = r if per_unit else 0
            hi = obs[r] - tol
            lo = obs[r] + tol
            up = 0
            dn = 0
            for p in range(perms):
                sim = 0.0
                for v in range(m):
                    lag = 0.0
                    for c in range(k):
                        val = gathered[v, c, p]
                        if base[c, p] >= i:
                            val += steps[v, c, p]
                        lag += rows[u, c] * val
                    sim += coef[cr, v] * lag
                up += sim >= hi
                dn += sim <= lo
            upper[r] = up
            lower[r] = dn


@intrinsic
def _prefetch(typingctx: Any, arr: Any, idx: Any) -> Any:
    """LLVM's prefetch (for writing, high locality) of ``arr[idx]``: a hint, no effect on values."""
    sig = types.void(arr, idx)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _PREFETCH)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(1), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@nb.njit(cache=True)
def _shuffle(y: np.ndarray, s: np.ndarray, js: np.ndarray) -> None:
    """One Fisher-Yates pass over ``y`` (xoshiro256** stream ``s``, ``i`` from the top).

    :func:`_below`'s draws, the state in registers; drawn ``len(js)`` at a time ahead of
    their swaps, each target prefetched: the same swaps, but their loads from ``y``
    (beyond the caches at 10^6 units) overlap (measured at 10^6: 10 -> 5 ms a pass).
    """
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    i = len(y) - 1
    while i > 0:
        cnt = min(len(js), i)
        for t in range(cnt):
            bits = _rotl(s1 * _U(5), _U(7)) * _U(9)  # xoshiro256**, as :func:`_next`
            tt = s1 << _U(17)
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= tt
            s3 = _rotl(s3, _U(45))
            bound = i - t + 1  # as :func:`_below`
            j = int(np.float64(bits >> _U(11)) * (1.0 / 9007199254740992.0) * bound)
            j = j if j < bound else bound - 1
            js[t] = j
            _prefetch(y, j)  # type: ignore[call-arg]  # numba supplies the context
        for t in range(cnt):
            j = js[t]
            tmp = y[i - t]
            y[i - t] = y[j]
            y[j] = tmp
        i -= cnt
    s[0], s[1], s[2], s[3] = s0, s1, s2, s3


@nb.njit(cache=True)
def _forms(  # noqa: PLR0917 (numba: positional only)
    ys: np.ndarray,
    left: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data_r: np.ndarray,
    data_b: np.ndarray,
    deg: np.ndarray,
    shift: float,
    by_row: bool,
    out: np.ndarray,
) -> None:
    """:func:`global_quadratic_forms`' three sums of each row of ``ys``, in one pass.

    Each row's sums take the same steps in the same order as :func:`_form_one` (the
    same numbers), but the weights are read once for all the rows.
    """
    n_y, n = ys.shape
    fixed = len(left) > 0
    with_b = len(data_b) > 0
    quad_r = np.zeros(n_y)
    quad_b = np.zeros(n_y)
    sq = np.zeros(n_y)
    lag_r = np.empty(n_y)
    lag_b = np.empty(n_y)
    for i in range(n):
        for t in range(n_y):
            lag_r[t] = 0.0
            lag_b[t] = 0.0
        e0, e1 = indptr[i], indptr[i + 1]
        if by_row:
            for e in range(e0, e1):
                j = indices[e]
                for t in range(n_y):
                    lag_r[t] += ys[t, j]
            r = data_r[i] if len(data_r) > 1 else data_r[0]
            b = (data_b[i] if len(data_b) > 1 else data_b[0]) if with_b else 0.0
            for t in range(n_y):
                if with_b:
                    lag_b[t] = b * (lag_r[t] + (e1 - e0) * shift)
                lag_r[t] *= r
        else:
            for e in range(e0, e1):
                j = indices[e]
                for t in range(n_y):
                    yj = ys[t, j]
                    lag_r[t] += data_r[e] * yj
                    if with_b:
                        lag_b[t] += data_b[e] * (yj + shift)
        for t in range(n_y):
            yi = ys[t, i]
            quad_r[t] += (left[i] if fixed else yi) * lag_r[t]
            sq[t] += deg[i] * yi * yi
            if with_b:
                quad_b[t] += (yi + shift) * lag_b[t]
    for t in range(n_y):
        out[0, t], out[1, t], out[2, t] = quad_r[t], sq[t], quad_b[t]


@nb.njit(cache=True)
def _form_one(  # noqa: PLR0917 (numba: positional only)
    y: np.ndarray,
    left: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data_r: np.ndarray,
    data_b: np.ndarray,
    deg: np.ndarray,
    shift: float,
    by_row: bool,
    out: np.ndarray,
) -> None:
    """:func:`_forms` of one relabelling ``y`` (the same steps, in scalars).

    Rows of one value each (``by_row``) have their own loop: unsigned indices (no
    wrap-around test), a weight the same for every row (length 1) read once; measured
    at 10^6 units 6.6 -> 3.5 ms a pass.
    """
    n = len(y)
    fixed = len(left) > 0
    with_b = len(data_b) > 0
    quad_r = 0.0
    quad_b = 0.0
    sq = 0.0
    e0 = indptr[0]
    if by_row:
        one_r, one_b = len(data_r) == 1, len(data_b) == 1
        r = data_r[0]
        b = data_b[0] if with_b else 0.0
        for i in range(n):
            e1 = indptr[i + 1]
            yi = y[i]
            lag = 0.0
            for e in range(e0, e1):
                lag += y[indices[e]]
            if with_b:
                quad_b += (yi + shift) * ((b if one_b else data_b[i]) * (lag + (e1 - e0) * shift))
            quad_r += (left[i] if fixed else yi) * (lag * (r if one_r else data_r[i]))
            sq += deg[i] * yi * yi
            e0 = e1
    else:
        for i in range(n):
            e1 = indptr[i + 1]
            yi = y[i]
            lag_r = 0.0
            lag_b = 0.0
            for e in range(e0, e1):
                yj = y[indices[e]]
                lag_r += data_r[e] * yj
                if with_b:
                    lag_b += data_b[e] * (yj + shift)
            quad_r += (left[i] if fixed else yi) * lag_r
            sq += deg[i] * yi * yi
            if with_b:
                quad_b += (yi + shift) * lag_b
            e0 = e1
    out[0] = quad_r
    out[1] = sq
    out[2] = quad_b


@nb.njit(cache=True)
def _form_four(  # noqa: PLR0917 (numba: positional only)
    ys: np.ndarray,
    y3: np.ndarray,
    left: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data_r: np.ndarray,
    data_b: np.ndarray,
    deg: np.ndarray,
    shift: float,
    by_row: bool,
    out: np.ndarray,
) -> None:
    """:func:`_form_one` of four relabellings, ``ys[0..2]`` and ``y3``, in one pass.

    Each keeps its own sums in registers and takes :func:`_form_one`'s steps in its order
    (the same numbers); a link's index is read once for the four, and their four chains
    of additions overlap: at 10^6 units 4.6 -> 2.4 ms a relabelling (and 0.9 ms for the
    copies that hold three of them, 1.2 ms each).
    """
    n = ys.shape[1]
    y0, y1, y2 = ys[0], ys[1], ys[2]
    fixed = len(left) > 0
    with_b = len(data_b) > 0
    one_r, one_b = len(data_r) == 1, len(data_b) == 1
    qr0 = qr1 = qr2 = qr3 = 0.0
    qb0 = qb1 = qb2 = qb3 = 0.0
    sq0 = sq1 = sq2 = sq3 = 0.0
    e0 = indptr[0]
    for i in range(n):
        e1 = indptr[i + 1]
        r0 = r1 = r2 = r3 = 0.0  # lags (weighted by link unless by_row)
        b0 = b1 = b2 = b3 = 0.0
        for e in range(e0, e1):
            j = indices[e]
            if by_row:
                r0 += y0[j]
                r1 += y1[j]
                r2 += y2[j]
                r3 += y3[j]
            else:
                w = data_r[e]
                r0 += w * y0[j]
                r1 += w * y1[j]
                r2 += w * y2[j]
                r3 += w * y3[j]
                if with_b:
                    wb = data_b[e]
                    b0 += wb * (y0[j] + shift)
                    b1 += wb * (y1[j] + shift)
                    b2 += wb * (y2[j] + shift)
                    b3 += wb * (y3[j] + shift)
        if by_row:
            bi = (data_b[0] if one_b else data_b[i]) if with_b else 0.0
            ri = data_r[0] if one_r else data_r[i]
            kk = (e1 - e0) * shift
            b0, b1, b2, b3 = bi * (r0 + kk), bi * (r1 + kk), bi * (r2 + kk), bi * (r3 + kk)
            r0, r1, r2, r3 = r0 * ri, r1 * ri, r2 * ri, r3 * ri
        a0, a1, a2, a3 = y0[i], y1[i], y2[i], y3[i]
        di = deg[i]
        if with_b:
            qb0 += (a0 + shift) * b0
            qb1 += (a1 + shift) * b1
            qb2 += (a2 + shift) * b2
            qb3 += (a3 + shift) * b3
        li = left[i] if fixed else 0.0
        qr0 += (li if fixed else a0) * r0
        qr1 += (li if fixed else a1) * r1
        qr2 += (li if fixed else a2) * r2
        qr3 += (li if fixed else a3) * r3
        sq0 += di * a0 * a0
        sq1 += di * a1 * a1
        sq2 += di * a2 * a2
        sq3 += di * a3 * a3
        e0 = e1
    out[0, 0], out[0, 1], out[0, 2], out[0, 3] = qr0, qr1, qr2, qr3
    out[1, 0], out[1, 1], out[1, 2], out[1, 3] = sq0, sq1, sq2, sq3
    out[2, 0], out[2, 1], out[2, 2], out[2, 3] = qb0, qb1, qb2, qb3


@nb.njit(cache=True, nogil=True)
def _global_quadratic_forms(  # noqa: PLR0917 (numba: positional only)
    z: np.ndarray,
    left: np.ndarray,
    states: np.ndarray,
    permutations: int,
    block: int,
    indptr: np.ndarray,
    indices: np.ndarray,
    data_r: np.ndarray,
    data_b: np.ndarray,
    deg: np.ndarray,
    shift: float,
    by_row: bool,
    out: np.ndarray,
    part: int,
    parts: int,
) -> None:
    """Statistics of ``permutations`` random relabellings ``y`` of ``z``, in blocks.

    Block ``b`` shuffles its copy of ``z`` (Fisher-Yates, xoshiro256** stream
    ``states[b]``): ``out[0] = a' W_r y`` (``a = y``, or ``left`` when not empty),
    ``out[1] = sum_i deg_i y_i^2``, ``out[2] = (y + shift)' W_b (y + shift)`` when
    ``data_b`` is not empty (:func:`_forms`), in one pass over the weights for the block
    when its relabellings fit in the caches, else a pass for each four of them
    (:func:`_form_four`). ``W_r`` and ``W_b`` share ``indptr, indices`` (unsigned
    32-bit); with ``by_row`` their data hold one value per row (length ``n``, or 1 when
    every row has the same: less memory), else one per link.
    """
    n = len(z)
    n_blocks = states.shape[0]
    for b in range(part * n_blocks // parts, (part + 1) * n_blocks // parts):
        s = states[b].copy()
        y = z.copy()
        js = np.empty(256, dtype=np.int64)
        first = b * block
        last = min((b + 1) * block, permutations)
        if n * (last - first) <= _HELD_VALUES:  # the block's relabellings fit in the caches
            ys = np.empty((last - first, n))
            for q in range(first, last):
                _shuffle(y, s, js)
                for i in range(n):
                    ys[q - first, i] = y[i]
            _forms(ys, left, indptr, indices, data_r, data_b, deg, shift, by_row,
                   out[:, first:last])  # fmt: skip
        else:  # four at a time in registers (:func:`_form_four`), then one at a time
            three = np.empty((3, n))  # copies of the first three; the fourth is ``y``
            q = first
            while q + 4 <= last:
                for t in range(3):
                    _shuffle(y, s, js)
                    for i in range(n):
                        three[t, i] = y[i]
                _shuffle(y, s, js)
                _form_four(three, y, left, indptr, indices, data_r, data_b, deg, shift, by_row,
                           out[:, q : q + 4])  # fmt: skip
                q += 4
            for rest in range(q, last):
                _shuffle(y, s, js)
                _form_one(y, left, indptr, indices, data_r, data_b, deg, shift, by_row,
                          out[:, rest])  # fmt: skip


@nb.njit(cache=True)
def _kendall_one(xs_group: np.ndarray, yrank: np.ndarray, m: int, tree: np.ndarray) -> int:
    """``#concordant - #discordant`` pairs (ties count neither), ``O(n log m)``.

    ``xs_group``: the tie group of each unit in the order of ``x``; a Fenwick tree over
    the ``m`` ranks of ``y`` holds the units of smaller ``x``.
    """
    n = len(yrank)
    for t in range(m + 1):
        tree[t] = 0
    s = 0
    i = 0
    while i < n:
        g = i
        while g < n and xs_group[g] == xs_group[i]:
            g += 1
        done = i  # units with a strictly smaller x
        for t in range(i, g):
            r = yrank[t]
            below = 0  # earlier units with a smaller y (ranks 1 .. r - 1): concordant
            idx = r - 1
            while idx > 0:
                below += tree[idx]
                idx -= idx & (-idx)
            at_most = 0  # ... with a y at most r: the others are discordant
            idx = r
            while idx > 0:
                at_most += tree[idx]
                idx -= idx & (-idx)
            s += below - (done - at_most)
        for t in range(i, g):
            idx = yrank[t]
            while idx <= m:
                tree[idx] += 1
                idx += idx & (-idx)
        i = g
    return s


@nb.njit(cache=True, nogil=True)
def _kendall_sums(  # noqa: PLR0917 (numba: positional only)
    xs_group: np.ndarray, yrank: np.ndarray, m: int, perms: np.ndarray, out: np.ndarray,
    part: int, parts: int,
) -> None:
    """:func:`_kendall_one` of ``x`` against ``y`` relabelled by each row of ``perms``.

    ``yrank`` is in the order of ``x``; row ``q`` gives unit ``t`` (in that order) the
    rank ``yrank[perms[q, t]]``.
    """
    n_perm, n = perms.shape
    for q in range(part * n_perm // parts, (part + 1) * n_perm // parts):
        tree = np.zeros(m + 1, dtype=np.int64)
        yr = np.empty(n, dtype=np.int64)
        for t in range(n):
            yr[t] = yrank[perms[q, t]]
        out[q] = _kendall_one(xs_group, yr, m, tree)


@nb.njit(cache=True, nogil=True)
def _rank_sums(  # noqa: PLR0917 (numba: positional only)
    group: np.ndarray,
    score: np.ndarray,
    rank: np.ndarray,
    other_score: np.ndarray,
    m: int,
    states: np.ndarray,
    permutations: int,
    block: int,
    kendall: np.ndarray,
    spearman: np.ndarray,
    part: int,
    parts: int,
) -> None:
    """Kendall's ``S`` and Spearman's cross-product of random relabellings, in blocks.

    Units in the order of one variable (``group``: tie groups, ``score``: centred
    ranks); the other's dense ranks ``rank`` (``1..m``) and centred ranks
    ``other_score``, shuffled per block (stream ``states[b]``).
    """
    n = len(rank)
    n_blocks = states.shape[0]
    for b in range(part * n_blocks // parts, (part + 1) * n_blocks // parts):
        s = states[b].copy()
        r = rank.copy()
        o = other_score.copy()
        tree = np.zeros(m + 1, dtype=np.int64)
        for q in range(b * block, min((b + 1) * block, permutations)):
            for i in range(n - 1, 0, -1):
                j = _below(s, i + 1)
                r[i], r[j] = r[j], r[i]
                o[i], o[j] = o[j], o[i]
            kendall[q] = _kendall_one(group, r, m, tree)
            dot = 0.0
            for i in range(n):
                dot += score[i] * o[i]
            spearman[q] = dot


# ------------------------------------------------ the kernels over the cores, by threads

#: One worker thread per core numba may use (``NUMBA_NUM_THREADS``); made at first use,
#: and anew in a forked child (a parent's threads do not survive the fork).
_POOL: list[ThreadPoolExecutor] = []
os.register_at_fork(after_in_child=_POOL.clear)


def _in_parts(kernel: Any, *args: Any) -> None:
    """``kernel(*args, part, parts)`` for every part, on threads (the kernels release the GIL).

    Each part takes whole outer iterations (blocks, runs, permutations), which are
    independent and write disjoint outputs: the numbers do not depend on ``parts``. Serial
    kernels run on threads compile in about half the time of ``parallel=True`` ones
    (benchmarks/README.md, first run).
    """
    parts = max(1, int(getattr(nb.config, "NUMBA_NUM_THREADS", 1)))
    if parts == 1:
        kernel(*args, 0, 1)
        return
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(parts, thread_name_prefix="geotool-kernel"))
    calls = [partial(kernel, *args, part, parts) for part in range(parts)]
    for done in [_POOL[0].submit(call) for call in calls]:
        done.result()


def conditional_incremental(*args: Any) -> None:
    """:func:`_conditional_incremental` over the cores."""
    _in_parts(_conditional_incremental, *args)


def conditional_direct(*args: Any) -> None:
    """:func:`_conditional_direct` over the cores."""
    _in_parts(_conditional_direct, *args)


def global_quadratic_forms(*args: Any) -> None:
    """:func:`_global_quadratic_forms` over the cores."""
    _in_parts(_global_quadratic_forms, *args)


def kendall_sums(xs_group: np.ndarray, yrank: np.ndarray, m: int, perms: np.ndarray) -> np.ndarray:
    """:func:`_kendall_sums` over the cores: ``S`` of each row of ``perms``."""
    out = np.empty(perms.shape[0], dtype=np.int64)
    _in_parts(_kendall_sums, xs_group, yrank, m, perms, out)
    return out


def rank_sums(*args: Any) -> None:
    """:func:`_rank_sums` over the cores."""
    _in_parts(_rank_sums, *args)


def warm_up() -> None:
    """Load (or, the first time on a machine, compile and cache) every kernel."""
    f8 = np.zeros((1, 1, 1))
    i8 = np.zeros((1, 1), dtype=np.int64)
    ids = np.zeros(1, dtype=np.int64)
    one = np.ones(1)
    cnt = np.zeros(1, dtype=np.int64)
    conditional_incremental(ids, ids, ids + 1, np.array([0, 1]), i8, f8, f8, ids, ids, ids, one,
                            np.ones((1, 1)), one, 0.0, cnt, cnt.copy())  # fmt: skip
    conditional_direct(ids, ids, ids + 1, np.array([0, 1]), i8, f8, f8, np.ones((1, 1)),
                       np.ones((1, 1)), one, 0.0, cnt, cnt.copy())  # fmt: skip
    z = np.zeros(2)
    global_quadratic_forms(z, np.zeros(0), np.ones((1, 4), dtype=np.uint64), 1, 1,
                           np.array([0, 1, 2], dtype=np.uint32), np.array([1, 0], dtype=np.uint32),
                           np.ones(2), np.ones(2), np.ones(2), 0.0, True,
                           np.zeros((3, 1)))  # fmt: skip
    kendall_sums(np.zeros(2, dtype=np.int64), np.ones(2, dtype=np.int64), 2,
                 np.zeros((1, 2), dtype=np.int64))  # fmt: skip
    rank_sums(np.zeros(2, dtype=np.int64), np.zeros(2), np.ones(2, dtype=np.int64), np.zeros(2),
              1, np.ones((1, 4), dtype=np.uint64), 1, 1, np.zeros(1, dtype=np.int64),
              np.zeros(1))  # fmt: skip
