"""Local join counts (Anselin and Li 2019): the counts and their conditional p-values.

Every case is a unit's *indicator* times a binary spatial lag of a *counted* 0/1
vector, ``ljc_i = a_i * sum_j w_ij b_j``:

======  ==========================  ====================  ==========================
case    a_i (the unit is tested)    b_j (a neighbour      esda
                                    counts)
======  ==========================  ====================  ==========================
BB      x_i                         x_j                   ``Join_Counts_Local``
BJC     x_i (1 - z_i)               z_j (1 - x_j)         ``Join_Counts_Local_BV``
CLC     x_i z_i                     x_j z_j               ``Join_Counts_Local_BV``,
                                                          ``Join_Counts_Local_MV``
======  ==========================  ====================  ==========================

Under conditional randomisation unit ``i`` keeps its values and the other units' are
permuted, so a permuted count is ``a_i`` times a permuted lag of ``b``: the lags come
from :func:`geotool._perm.conditional_counts` (compiled, no loop over units in Python). For
CLC, permuting ``b = x z`` is permuting the pairs ``(x_j, z_j)`` together, as esda
does. For BJC esda permutes ``z`` alone and counts every permuted neighbour with
``z = 1``, also those with ``x = 1`` that the observed count leaves out; permuting
``b = z (1 - x)`` (the pairs together) keeps the simulated count the same statistic
as the observed one. Without co-location (no unit with ``x = z = 1``, the case BJC
is defined for) ``b = z`` and both schemes are the same; with co-location esda's
reference counts are too large and its p-values too large (conservative).

p-values are one-sided (upper), as Anselin and Li's and esda's, ties counted as at
least as extreme (:mod:`geotool._perm`'s tie rule): ``(#{sim >= obs} + 1) / (P + 1)``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from geotool._perm import conditional_counts

__all__ = ["CASES", "local_join_counts"]

#: Cases and what each tests.
CASES = {
    "BB": "x = 1 with neighbours x = 1",
    "BJC": "x = 1, z = 0 with neighbours z = 1, x = 0 (no co-location)",
    "CLC": "x = z = 1 with neighbours x = z = 1 (co-location)",
}

_TIE_TOL = 1e-9  # counts are sums of 1.0s, exact in floating point; ties count anyway


def indicators(x: np.ndarray, z: np.ndarray | None, case: str) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)``: which units are tested, and which neighbours count (see the table)."""
    if case == "BB":
        return x, x
    if z is None:
        msg = f"case {case!r} needs z."
        raise ValueError(msg)
    if case == "BJC":
        return x * (1 - z), z * (1 - x)
    if case == "CLC":
        return x * z, x * z
    msg = f"Unknown case {case!r}; one of {sorted(CASES)}."
    raise ValueError(msg)


def _upper_counts(
    counted: np.ndarray,
    wb: sp.csr_matrix,
    observed: np.ndarray,
    tested: np.ndarray,
    *,
    permutations: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``#{permuted lag >= observed lag}`` of the tested units (0 elsewhere).

    Only the tested units are counted; the draws are those of every unit (the engine
    draws as many ids per permutation as the largest row of ``wb`` has), so each tested
    unit's p-value is that of :func:`geotool._perm.conditional_lags` over all units.
    """
    upper, _ = conditional_counts(
        counted, wb, permutations, rng, observed=observed, tol=_TIE_TOL, units=tested
    )
    return upper.astype(float)


def local_join_counts(
    x: np.ndarray,
    z: np.ndarray | None,
    wb: sp.csr_matrix,
    case: str,
    *,
    permutations: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts, p-values and the tested units of one case.

    Parameters
    ----------
    x, z : numpy.ndarray
        0/1 arrays of shape ``(n,)`` (``z`` None for BB).
    wb : scipy.sparse.csr_matrix
        Binary ``(n, n)`` weights without self-weights; row ``i`` names i's neighbours.
    case : str
        ``"BB"``, ``"BJC"`` or ``"CLC"``.
    permutations : int
        0 for counts only (p missing).
    rng : numpy.random.Generator
        Source of the draws.

    Returns
    -------
    tuple of numpy.ndarray
        ``ljc`` (the counts), ``p`` (NaN where not tested or without permutations)
        and ``tested`` (``a_i = 1`` and ``ljc_i > 0``, where esda gives a p-value).

    """
    a, b = indicators(x, z, case)
    lag = wb @ b
    ljc = a * lag
    tested = (a == 1) & (ljc > 0)
    p = np.full(len(x), np.nan)
    if permutations:
        upper = _upper_counts(b, wb, lag, tested, permutations=permutations, rng=rng)
        p[tested] = (upper[tested] + 1.0) / (permutations + 1.0)
    return ljc, p, tested
