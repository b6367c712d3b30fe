"""Seeded, vectorised permutation engines (numpy only).

Why not esda's engine: esda compiles its conditional-randomisation kernels with numba
when numba is installed, and keeps no compile cache, so the first local statistic of
a fresh process costs about 18 s of compilation; its global statistics take no seed.
These engines draw every permutation from ``numpy.random.Generator`` streams derived
from the user's seed and the statistic's name, so each result is reproducible from
``--seed`` alone and independent of the order statistics are computed in.

The tie rule (one for every permutation p-value geotool reports)
-----------------------------------------------------------------
A simulated statistic *equal* to the observed one counts as at least as extreme, on
both sides: ``p = (min(#{sim >= obs}, #{sim <= obs}) + 1) / (P + 1)``, one-sided in the
direction where the observed value lies (double it for two sides). With continuous
values this is GeoDa's and esda's folded ``p_sim``. Under ties it is not: their fold
``P - #{sim >= obs}`` counts only simulations strictly below, so a unit whose every
permutation equals the observed value (a 0 among 0s, as most units of a top-100
ranking are) gets ``p = 1 / (P + 1)`` and is "significant"; under this rule it gets
``p = 1``. It is the rule of exact permutation tests, where ties count against the
hypothesis (Phipson and Smyth 2010, "Permutation p-values should never be zero";
Hope 1968), and it is conservative, never anti-conservative, under ties.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

__all__ = [
    "TIE_RTOL",
    "conditional_blocks",
    "conditional_lags",
    "conditional_pvalues",
    "folded_pvalue",
    "permuted_quadratic_forms",
    "rank_correlations",
    "rng_for",
    "tie_rule_p",
]

_CHUNK_ELEMENTS = 8_000_000
#: Elements of one block of permuted local lags (units x permutations): small enough to
#: stay in cache. 65,536 gives the same p-values as 8,000,000 (the draws do not depend
#: on the blocks) about twice as fast on the county layer with 9,999 permutations.
_LOCAL_BLOCK_ELEMENTS = 65_536
TIE_RTOL = 1e-9


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


def conditional_blocks(
    values: np.ndarray, weights: sp.csr_matrix, permutations: int, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(unit ids, permuted lags)`` blocks.

    ``values`` of shape ``(n,)`` gives lags of shape ``(len(ids), permutations)``;
    ``values`` of shape ``(n, m)`` gives the lags of its ``m`` columns under the *same*
    draws, shape ``(m, len(ids), permutations)`` (statistics that need the lags of
    several transforms of the values, such as local Geary's lags of z and z^2). The
    draws depend only on ``rng``, ``n``, ``permutations`` and the largest number of
    neighbours, never on ``m``, and each column's lags are those of the 1-D call.
    """
    columns = np.atleast_2d(values.T)  # (m, n): one row per column of values
    n = columns.shape[1]
    w = weights.tocsr()
    card = np.diff(w.indptr)
    draws = _draw_without_replacement(rng, n - 1, permutations, int(card.max(initial=0)))
    draws = draws.astype(np.int32)
    # A draw r in [0, n-1) stands for unit r if r < i, else unit r + 1 (skipping i).
    # So value = z[r] + [r >= i] * (z[r+1] - z[r]): the gather is shared by all units
    # and only a comparison is per unit, which is about ten times faster than
    # gathering z at per-unit indices.
    step_up = np.concatenate([np.diff(columns, axis=1), np.zeros((len(columns), 1))], axis=1)
    for k in np.unique(card[card > 0]):
        units = np.flatnonzero(card == k).astype(np.int32)
        rows = np.stack([w.data[w.indptr[i] : w.indptr[i + 1]] for i in units])  # (m, k)
        base = np.ascontiguousarray(draws[:, :k].T)  # (k, P)
        gathered, steps = columns[:, base], step_up[:, base]  # (cols, k, P) each
        chunk = max(1, _LOCAL_BLOCK_ELEMENTS // (permutations * len(columns)))
        uniform = bool(np.all(rows == rows[:, :1]))
        for start in range(0, len(units), chunk):
            ids = units[start : start + chunk]
            wts = rows[start : start + chunk]  # (m, k)
            if uniform:  # one weight per row: sum the values, scale once
                lag = np.repeat(gathered.sum(axis=1)[:, None, :], len(ids), axis=1)
            else:
                lag = np.stack([wts @ g for g in gathered])  # (cols, m, P)
            for c in range(k):  # column by column: 2-D temporaries only
                shifted = base[c][None, :] >= ids[:, None]  # (m, P): the draw skips i
                for v in range(len(columns)):
                    step = steps[v, c][None, :] if uniform else wts[:, c : c + 1] * steps[v, c]
                    lag[v] += shifted * step
            if uniform:
                lag *= wts[:, :1]
            yield ids, (lag[0] if values.ndim == 1 else lag)


def conditional_lags(
    values: np.ndarray,
    weights: sp.csr_matrix,
    permutations: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Spatial lags under conditional randomisation, for every unit.

    For unit ``i`` with ``k_i`` neighbours, each permutation gives the ``k_i``
    weights of row ``i`` to ``k_i`` distinct values drawn from the *other* ``n - 1``
    units (``i`` holds its own value fixed), as in Anselin (1995). One random matrix
    of draws is shared by all units, as esda and GeoDa do.

    Parameters
    ----------
    values : numpy.ndarray
        Shape ``(n,)``.
    weights : scipy.sparse.csr_matrix
        ``(n, n)`` weights without self-weights.
    permutations : int
        Number of random draws.
    rng : numpy.random.Generator
        Source of the draws (see :func:`rng_for`).

    Returns
    -------
    numpy.ndarray
        Shape ``(n, permutations)``: the permuted lags (units without neighbours: 0).

    """
    out = np.zeros((len(values), permutations))
    for ids, lag in conditional_blocks(values, weights, permutations, rng):
        out[ids] = lag
    return out


def tie_rule_p(upper: np.ndarray, lower: np.ndarray, permutations: int) -> np.ndarray:
    """The one folding rule of every permutation p-value (see the module docstring)."""
    return (np.minimum(upper, lower) + 1.0) / (permutations + 1.0)


def conditional_pvalues(
    values: np.ndarray,
    weights: sp.csr_matrix,
    permutations: int,
    rng: np.random.Generator,
    direction: np.ndarray,
) -> np.ndarray:
    """Folded pseudo p-values of a local statistic monotone in the spatial lag.

    The statistic of unit ``i`` must be monotone in its lag (increasing or decreasing:
    local Moran, Gi*), so counting permuted *lags* at least as extreme as the observed
    one counts permuted statistics. The observed lag is ``weights @ values``. Units
    with ``direction == 0`` (local Moran of a unit at the mean: its statistic is 0
    whatever its neighbours) or no neighbours get ``p = 1``. Same draws as
    :func:`conditional_lags`, without keeping the ``(n, permutations)`` array. The
    tie rule is the module's: ``p = (min(#{lag >= obs}, #{lag <= obs}) + 1) / (P + 1)``.
    """
    observed = weights @ values
    upper = np.zeros(len(values))
    lower = np.zeros(len(values))
    sign = np.sign(direction)
    # Permuted lags are summed in another order than the observed one, so equal lags
    # may differ by rounding: compare with a tolerance far below any real difference
    # (many units share a value, e.g. the score 0 of every unranked unit).
    tol = TIE_RTOL * (np.abs(values).max() * np.abs(weights).sum(axis=1).max() + 1.0)
    for ids, lag in conditional_blocks(values, weights, permutations, rng):
        obs = observed[ids][:, None]
        upper[ids] = np.count_nonzero(lag >= obs - tol, axis=1)
        lower[ids] = np.count_nonzero(lag <= obs + tol, axis=1)
    p = tie_rule_p(upper, lower, permutations)
    no_neighbours = np.diff(weights.tocsr().indptr) == 0
    return np.where((sign == 0) | no_neighbours, 1.0, p)


def folded_pvalue(observed: np.ndarray, simulated: np.ndarray) -> np.ndarray:
    """Pseudo p-value, one-sided in the direction of the observed statistic.

    ``p = (min(#{sim >= obs}, #{sim <= obs}) + 1) / (P + 1)``: simulated values at
    least as extreme as the observed one on the side where it lies, ties counted as
    at least as extreme (the module's tie rule). Doubling it (capped at 1) gives a
    two-sided p-value.

    Parameters
    ----------
    observed : numpy.ndarray
        Shape ``(n,)`` (or scalar).
    simulated : numpy.ndarray
        Shape ``(n, P)`` (or ``(P,)``).

    """
    simulated = np.atleast_2d(simulated)
    observed = np.atleast_1d(observed)
    perms = simulated.shape[1]
    tol = TIE_RTOL * (np.abs(observed)[:, None] + 1.0)  # ties count, despite rounding
    upper = (simulated >= observed[:, None] - tol).sum(axis=1)
    lower = (simulated <= observed[:, None] + tol).sum(axis=1)
    return tie_rule_p(upper, lower, perms)


def permuted_quadratic_forms(
    x: np.ndarray,
    weights: sp.csr_matrix,
    permutations: int,
    rng: np.random.Generator,
    y: np.ndarray | None = None,
) -> np.ndarray:
    """``x_p' W x_p`` (or ``x' W y_p``) for random permutations ``p`` of the values.

    Total randomisation, as used for global statistics: each permutation shuffles
    all values across units. With ``y`` given, ``x`` stays fixed and ``y`` is shuffled
    (bivariate Moran's I).
    """
    n = len(x)
    out = np.empty(permutations)
    step = max(1, _CHUNK_ELEMENTS // (4 * n))
    w = weights.tocsr()
    shuffled = x if y is None else y
    for start in range(0, permutations, step):
        m = min(step, permutations - start)
        block = rng.permuted(np.broadcast_to(shuffled, (m, n)), axis=1)  # (m, n)
        lag = (w @ block.T).T  # (m, n)
        left = block if y is None else x[None, :]
        out[start : start + m] = (left * lag).sum(axis=1)
    return out


def _rank(a: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their ranks), as scipy's ``rankdata``."""
    import pandas as pd

    return pd.Series(a).rank(method="average").to_numpy()


def rank_correlations(
    x: np.ndarray, y: np.ndarray, permutations: int, rng: np.random.Generator
) -> dict[str, float]:
    """Spearman's rho and Kendall's tau-b of x and y, with two-sided permutation p-values.

    A constant x or y (one tier only) has no rank correlation: every result is missing.
    """
    n = len(x)
    rx, ry = _rank(x), _rank(y)
    rx_c, ry_c = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt((rx_c @ rx_c) * (ry_c @ ry_c))
    if denom == 0:
        nan = float("nan")
        return {"spearman_rho": nan, "spearman_p": nan, "kendall_tau_b": nan, "kendall_p": nan}
    rho = float(rx_c @ ry_c / denom)
    sx = np.sign(x[:, None] - x[None, :])
    sy = np.sign(y[:, None] - y[None, :])
    tx, ty = np.count_nonzero(sx), np.count_nonzero(sy)  # ordered pairs not tied
    tau = float((sx * sy).sum() / math.sqrt(tx * ty)) if tx and ty else float("nan")
    perms = np.argsort(rng.random((permutations, n)), axis=1)
    sim_rho = (ry_c[perms] @ rx_c) / denom
    sim_tau = np.empty(permutations)
    chunk = max(1, 2_000_000 // (n * n))
    for start in range(0, permutations, chunk):
        p = perms[start : start + chunk]
        sy_p = sy[p[:, :, None], p[:, None, :]]
        sim_tau[start : start + chunk] = (sy_p * sx).sum(axis=(1, 2)) / math.sqrt(tx * ty)
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
