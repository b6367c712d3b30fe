"""Local Geary engine, univariate and multivariate (Anselin 1995, 2019).

For ``k`` standardised variables ``z_v`` (mean 0, population standard deviation 1, as
esda's ``Geary_Local`` and ``Geary_Local_MV`` standardise) and row-standardised weights,

    c_i = (1/k) sum_v sum_j w_ij (z_vi - z_vj)^2
        = (1/k) [W_i sum_v z_vi^2 - 2 sum_v z_vi lag(z_v)_i + lag(sum_v z_v^2)_i]

with ``W_i = sum_j w_ij``. The second form needs, per permutation, only the lags of the
``k`` variables and of ``sum_v z_v^2``: :func:`geotool._perm.conditional_counts` takes
all ``k + 1`` of them under the same draws, in one pass (unit ``i`` keeps its values;
the rows of all variables move together), as the permuted statistic
``sum_v (-2 z_vi) lag(z_v)_i + lag(sum_v z_v^2)_i`` (a linear combination of the lags).

Under conditional randomisation the expected value is exact:
``E[c_i] = W_i n / (n - 1) (1 + (1/k) sum_v z_vi^2)`` (each drawn neighbour has
``E[z_j] = -z_i / (n - 1)`` and ``E[z_j^2] = (n - z_i^2) / (n - 1)``), so a unit with an
extreme value has a large expected ``c_i``: "small" and "large" are relative to the unit.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from geotool._perm import TIE_RTOL, conditional_counts, tie_rule_p

__all__ = ["expected", "observed", "permutation_test"]


def observed(z: np.ndarray, w: sp.csr_matrix) -> np.ndarray:
    """``c_i`` of ``z`` (shape ``(n, k)``) summed term by term, as esda does."""
    w = w.tocoo()
    diff = z[w.row] - z[w.col]  # (links, k)
    terms = w.data * (diff**2).mean(axis=1)
    return np.bincount(w.row, weights=terms, minlength=z.shape[0])


def expected(z: np.ndarray, w: sp.csr_matrix) -> np.ndarray:
    """``E[c_i]`` under conditional randomisation (``z`` with mean 0 and variance 1)."""
    n = z.shape[0]
    row_sums = np.asarray(w.sum(axis=1)).ravel()
    return row_sums * n / (n - 1) * (1.0 + (z**2).mean(axis=1))


def permutation_test(
    z: np.ndarray,
    w: sp.csr_matrix,
    permutations: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pseudo p-values of ``c_i`` and the side of the reference distribution it lies on.

    Parameters
    ----------
    z : numpy.ndarray
        ``(n, k)`` standardised variables.
    w : scipy.sparse.csr_matrix
        Row-standardised weights, no self-weights.
    permutations : int
        At least 1.
    rng : numpy.random.Generator
        Source of the draws.

    Returns
    -------
    c, p, low : numpy.ndarray
        The observed statistics; ``p = (min(#{sim >= c}, #{sim <= c}) + 1) / (P + 1)``
        (the tie rule of :mod:`geotool._perm`); ``low`` is True where fewer permuted
        statistics lie at or below ``c`` than at or above it, i.e. ``c`` is in the
        lower tail (positive association). Units without neighbours: ``p = 1``.

    """
    n, k = z.shape
    c = observed(z, w)
    row_sums = np.asarray(w.sum(axis=1)).ravel()
    z2 = (z**2).sum(axis=1)
    columns = np.column_stack([z, z2])  # lags of each z_v and of sum_v z_v^2
    # The permuted statistic is summed in another order than the observed one, so a
    # tie (a unit at the mode among neighbours at the mode: c = 0 both ways) may differ
    # by rounding: compare with a tolerance far below any real difference.
    tol = TIE_RTOL * (z2.max() * row_sums.max() + 1.0)
    # k * c_sim = W_i sum z_vi^2 - 2 sum_v z_vi lag_v + lag(sum z^2): compare
    # lag(sum z^2) - 2 sum_v z_vi lag_v with k c_i - W_i sum z_vi^2.
    coef = np.column_stack([-2.0 * z, np.ones(n)])
    obs = k * c - row_sums * z2
    upper, lower = conditional_counts(
        columns, w, permutations, rng, observed=obs, tol=tol, coef=coef
    )
    p = tie_rule_p(upper, lower, permutations)
    no_neighbours = row_sums == 0
    p[no_neighbours] = 1.0
    return c, p, (lower < upper) & ~no_neighbours
