"""Spatial autocorrelation: global and local statistics with seeded inference.

Every function takes a numeric Series and weights (:class:`geotool.weights.Weights`, a
``libpysal.graph.Graph`` or a ``libpysal.weights.W``, values kept) over any units, and
returns a tidy DataFrame (never an esda object) on the units' index. Names and other
labels are the caller's to join: nothing here looks anything up.

Inference, stated once for every table:

* **Analytical** (``z_norm``/``p_norm``, ``z_rand``/``p_rand``): under the normality and
  the randomisation assumptions (Cliff and Ord 1981; Getis and Ord 1992), checked
  against esda in the tests; p-values **two-sided**.
* **Permutation** (``p_sim``): ``permutations`` random relabellings drawn from a
  ``numpy`` generator seeded with ``seed`` and the statistic's name
  (:mod:`geotool._perm`), so every number is reproducible from ``--seed``. Global
  statistics use total randomisation, local ones conditional randomisation (each unit
  keeps its value). The *folded* p is one-sided in the direction of the observed
  statistic (``(m + 1) / (P + 1)``, ``m`` = simulated values at least as extreme on
  the observed side), the convention of GeoDa and esda. Global ``p_sim`` is the folded
  p (one number, read with its sign).
* **Local p-values and their sidedness** (``sided=``, :data:`SIDED`): the folded p
  picks its tail after seeing the data, so applying ``alpha`` to it flags about
  ``2 alpha`` of the units under the null (10% at 0.05: GeoDa's and esda's LISA maps
  do this). By default (``sided="two-sided"``) the local ``p_sim`` of LISA, Gi*,
  bivariate LISA and local Geary is **two-sided**, ``min(1, 2 x folded)``
  (:func:`geotool._perm.two_sided_p`: valid whatever the shape of the conditional
  distribution, no centre to choose), and ``alpha`` means what it says; ``sided="folded"``
  reproduces GeoDa and esda. Every local table names its rule in a ``p_sided`` column
  and ``attrs["p_sided"]``, and ``lisa_rule`` states it. Bonferroni and FDR promise an
  error rate only for valid p-values (under the null ``P(p <= t) <= t``): the two-sided
  p, or the one-sided p of a direction stated *before* seeing the data (local join
  counts: clustering, the upper tail). The folded p is not one (``P(p <= t)`` is about
  ``2t``): FDR or Bonferroni on it at ``alpha`` is the same rule on the two-sided p at
  ``2 alpha``, which ``attrs["adjust_note"]`` says and logs.

Weights, as esda uses them: Moran's I, Geary's C, local Moran and bivariate Moran
row-standardise the weights given (kernel weights keep their relative values); Getis-Ord
G and join counts use binary weights (every non-zero weight counts 1); Gi* uses the
weights given with each unit in its own neighbourhood, at weight 1 for binary weights and
the row's largest weight otherwise (esda's rule for non-binary weights).

Islands (units without neighbours) are handled before any statistic
(:func:`geotool.weights.build`: joined to their nearest unit within a bound, dropped,
or kept), and weights that still have some are warned about when built. A unit kept
without neighbours enters the global statistics as esda's do (a row of zeros: lag 0,
``S0`` counts only the others' links) and has **no local test**: its lag is 0, its
``p_sim`` (and Gi*'s ``gi_star_z``, ``gi_star_p_norm``, ``gi_star_p_sim``) missing,
its class "Not significant", and it is not counted among the tests of Bonferroni or
FDR (esda gives it ``p = 1`` or a spurious p instead).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import erfc

from geotool import _validate as check
from geotool import settings
from geotool._errors import InputError
from geotool._log import log
from geotool._perm import (
    HELD_PERMUTATIONS,
    conditional_pvalues,
    folded_pvalue,
    permuted_quadratic_forms,
    permuted_statistics,
    rng_for,
    two_sided_p,
)
from geotool.weights import Weights, WeightsLike, as_weights, build

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.figure import Figure

__all__ = [
    "LISA_CLASSES",
    "SIDED",
    "adjustment",
    "analyse",
    "global_stats",
    "join_counts",
    "local_bivariate",
    "local_geary",
    "local_join_counts",
    "local_stats",
    "moran_scatter",
    "sensitivity",
    "sidedness",
]

#: LISA classes in their conventional order (and GeoDa's colours, used by the maps).
LISA_CLASSES = {
    "High-High": "#d7191c",
    "Low-Low": "#2c7bb6",
    "Low-High": "#abd9e9",
    "High-Low": "#fdae61",
    "Not significant": "#eeeeee",
}


def _check_values(values: pd.Series, w: Weights, name: str = "values") -> np.ndarray:
    """``values`` in the order of ``w.ids``, checked: numeric, finite, not constant."""
    if not isinstance(values, pd.Series):
        msg = f"{name} must be a pandas Series on the units' index, got {type(values).__name__}."
        raise InputError(msg)
    if values.index.has_duplicates:
        dup = values.index[values.index.duplicated()].unique()[:5].tolist()
        msg = f"{name} has duplicated index labels {dup}; keep one value per unit."
        raise InputError(msg)
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_complex_dtype(values):
        msg = (
            f"{name}: column {values.name!r} is not numeric: not real numbers (dtype "
            f"{values.dtype}); choose a numeric column or convert it."
        )
        raise InputError(msg)
    missing = w.ids.difference(values.index)
    if len(missing):
        msg = (
            f"{len(missing)} units of the weights have no value in {name} (e.g. "
            f"{list(missing[:3])}); give a value for every unit of the weights."
        )
        raise InputError(msg)
    x = values.reindex(w.ids).to_numpy(dtype=float)
    if not np.isfinite(x).all():
        bad = w.ids[~np.isfinite(x)][:5].tolist()
        msg = (
            f"{name} ({values.name!r}) has missing or infinite values for units {bad}; "
            "fill or drop them."
        )
        raise InputError(msg)
    if 0 < np.abs(x - x.mean()).max() < 1e-150:
        msg = (
            f"{name} ({values.name!r}) varies only by {np.abs(x - x.mean()).max():.3g}, too "
            "little to square without underflow; rescale the values (e.g. multiply them)."
        )
        raise InputError(msg)
    if np.abs(x).max() > 1e150:
        msg = (
            f"{name} ({values.name!r}) has values up to {np.abs(x).max():.3g}, too large to "
            "square without overflow; rescale them (e.g. to thousands or a logarithm)."
        )
        raise InputError(msg)
    if len(x) < 4:
        msg = (
            f"Spatial autocorrelation needs at least 4 units with values (the variances of "
            f"I and C are undefined below), got {len(x)}."
        )
        raise InputError(msg)
    if np.ptp(x) == 0:
        msg = (
            f"Column {values.name!r} has the same value ({x[0]:g}) for all {len(x)} units; "
            "spatial autocorrelation is undefined."
        )
        raise InputError(msg)
    return x


def _row(statistic: str, value: float, expected: float, **extra: Any) -> dict[str, Any]:
    return {"statistic": statistic, "value": float(value), "expected": float(expected), **extra}


def _two_sided(z: float) -> float:
    """Two-sided normal p-value of a z-score (``2 * (1 - Phi(|z|))``)."""
    return float(erfc(abs(z) / math.sqrt(2)))


def _moments(w: sp.csr_matrix) -> tuple[float, float, float]:
    """S0, S1, S2 of a sparse weights matrix (Cliff and Ord's notation)."""
    s0 = float(w.sum())
    sym = w + w.T
    s1 = 0.5 * float(sym.multiply(sym).sum())
    s2 = float(((np.asarray(w.sum(axis=1)).ravel() + np.asarray(w.sum(axis=0)).ravel()) ** 2).sum())
    return s0, s1, s2


def global_stats(
    values: pd.Series,
    w: WeightsLike,
    *,
    permutations: int | None = None,
    seed: int | None = None,
    other: pd.Series | None = None,
) -> pd.DataFrame:
    """Global Moran's I, Geary's C and Getis-Ord General G (and bivariate Moran's I).

    Analytical moments follow Cliff and Ord (1981) for I and C (normality and
    randomisation) and Getis and Ord (1992) for G; ``tests/test_autocorr.py`` checks
    each against esda to 1e-10. They are computed here rather than through esda's
    classes because importing esda costs more than the whole statistic.

    Parameters
    ----------
    values : pandas.Series
        Numeric and finite, on the units' index, covering the weights' units.
    w : Weights, libpysal.graph.Graph or libpysal.weights.W
        From :func:`geotool.weights.build`, or libpysal's (values kept).
    permutations : int, optional
        Default :data:`geotool.settings.permutations`. One set of relabellings
        serves I, C and G.
    seed : int, optional
        Default :data:`geotool.settings.seed`.
    other : pandas.Series, optional
        A second variable: adds bivariate Moran's I of ``values`` with the spatial lag
        of ``other`` (``other`` is permuted for ``p_sim``).

    Returns
    -------
    pandas.DataFrame
        One row per statistic: ``statistic, value, expected, variance_norm, z_norm,
        p_norm, variance_rand, z_rand, p_rand, p_sim, permutations, seed, n, weights,
        variable, note``. General G only for non-negative values. ``note`` is empty, or
        says (and logs as a warning) why a statistic cannot be tested: weights under
        which every arrangement of the values gives the same statistic (every unit
        neighbours every other) leave a variance of 0 and permutations that all tie, so
        its z and p are NaN, never a misleading p = 1.

    """
    w = as_weights(w)
    x = _check_values(values, w)
    n = len(x)
    permutations, seed = _inference(permutations, seed, n)
    wr = w.row_standardised()
    wb = w.binary()
    z = x - x.mean()
    m2 = z @ z
    kurt = n * (z**4).sum() / m2**2
    s0, s1, s2 = _moments(wr)
    rows = []

    # Moran's I
    i_obs = n / s0 * (z @ (wr @ z)) / m2
    ei = -1.0 / (n - 1)
    vi_norm = (n**2 * s1 - n * s2 + 3 * s0**2) / ((n**2 - 1) * s0**2) - ei**2
    vi_rand = (
        n * ((n**2 - 3 * n + 3) * s1 - n * s2 + 3 * s0**2)
        - kurt * ((n**2 - n) * s1 - 2 * n * s2 + 6 * s0**2)
    ) / ((n - 1) * (n - 2) * (n - 3) * s0**2) - ei**2
    # Geary's C: sum_ij w_ij (x_i - x_j)^2 = sum_i x_i^2 (r_i + c_i) - 2 x'Wx
    deg = np.asarray(wr.sum(axis=1)).ravel() + np.asarray(wr.sum(axis=0)).ravel()
    c_obs = (n - 1) * ((z**2) @ deg - 2 * (z @ (wr @ z))) / (2 * s0 * m2)
    vc_norm = ((2 * s1 + s2) * (n - 1) - 4 * s0**2) / (2 * (n + 1) * s0**2)
    vc_rand = (
        (n - 1) * s1 * (n**2 - 3 * n + 3 - (n - 1) * kurt)
        - 0.25 * (n - 1) * s2 * (n**2 + 3 * n - 6 - (n**2 - n + 2) * kurt)
        + s0**2 * (n**2 - 3 - (n - 1) ** 2 * kurt)
    ) / (n * (n - 2) * (n - 3) * s0**2)
    g_den = x.sum() ** 2 - (x**2).sum()
    # General G needs non-negative values, and at least two non-zero ones (else 0/0)
    with_g = bool((x >= 0).all()) and g_den > 0
    if with_g:
        b0, b1, b2_ = _moments(wb)
        g_obs = (x @ (wb @ x)) / g_den

    # One stream of relabellings serves I, C and G (in blocks, never all at once).
    quad_r, sq, quad_b = permuted_statistics(
        z, wr, permutations, rng_for(seed, "global"), degrees=deg,
        binary=wb if with_g else None, shift=float(x.mean()),
    )  # fmt: skip
    sim_i = n / s0 * quad_r / m2
    sim_c = (n - 1) * (sq - 2 * quad_r) / (2 * s0 * m2)
    sim_g = quad_b / g_den if with_g else quad_b

    def stat(name: str, obs: float, e: float, *, vn: float, vr: float, sim: np.ndarray) -> dict:
        zn, zr = _z(obs, e, vn), _z(obs, e, vr)
        return _row(
            name, obs, e, variance_norm=vn, z_norm=zn, p_norm=_two_sided(zn),
            variance_rand=vr, z_rand=zr, p_rand=_two_sided(zr),
            p_sim=_p_sim(obs, sim), note=_degenerate_note(name, obs, e, (vn, vr), sim),
        )  # fmt: skip

    rows.append(stat("moran_i", i_obs, ei, vn=vi_norm, vr=vi_rand, sim=sim_i))
    rows.append(stat("geary_c", c_obs, 1.0, vn=vc_norm, vr=vc_rand, sim=sim_c))
    if with_g:
        eg = b0 / (n * (n - 1))
        m1, m2x, m3, m4 = (float((x**k).sum()) for k in (1, 2, 3, 4))
        c0 = (n**2 - 3 * n + 3) * b1 - n * b2_ + 3 * b0**2
        c1 = -((n**2 - n) * b1 - 2 * n * b2_ + 6 * b0**2)
        c2 = -(2 * n * b1 - (n + 3) * b2_ + 6 * b0**2)
        c3 = 4 * (n - 1) * b1 - 2 * (n + 1) * b2_ + 8 * b0**2
        c4 = b1 - b2_ + b0**2
        eg2 = (c0 * m2x**2 + c1 * m4 + c2 * m1**2 * m2x + c3 * m1 * m3 + c4 * m1**4) / (
            (m1**2 - m2x) ** 2 * n * (n - 1) * (n - 2) * (n - 3)
        )
        vg = eg2 - eg**2
        zg = _z(g_obs, eg, vg)
        rows.append(
            _row("getis_ord_g", g_obs, eg, variance_norm=vg, z_norm=zg, p_norm=_two_sided(zg),
                 p_sim=_p_sim(g_obs, sim_g),
                 note=_degenerate_note("getis_ord_g", g_obs, eg, (vg,), sim_g))
        )  # fmt: skip

    if other is not None:
        y = _check_values(other, w, "other")
        zx = (x - x.mean()) / x.std()
        zy = (y - y.mean()) / y.std()
        ibv = float(zx @ (wr @ zy) / n)
        sim = permuted_quadratic_forms(zx, wr, permutations, rng_for(seed, "moran_bv"), y=zy) / n
        e_sim = float(np.mean(sim)) if len(sim) else float("nan")
        sd_sim = float(np.std(sim)) if len(sim) else float("nan")
        rows.append(
            _row(
                f"moran_bv:{other.name}", ibv, e_sim,
                z_sim=(ibv - e_sim) / sd_sim if sd_sim > 0 else float("nan"),
                p_sim=_p_sim(ibv, sim),
            )
        )  # fmt: skip

    out = pd.DataFrame(rows)
    out["permutations"] = permutations
    out["seed"] = seed
    out["n"] = n
    out["weights"] = w.spec
    out["variable"] = str(values.name)
    out["note"] = out.pop("note").fillna("")
    for note in out["note"][out["note"] != ""]:
        log(f"{values.name}, weights {w.spec}: {note}", logging.WARNING)
    return out


#: A variance this small relative to the squared expectation is rounding, not variance.
_DEGENERATE_RTOL = 1e-10


def _degenerate(variance: float, expected: float) -> bool:
    """Whether a moment-based variance is zero, negative or rounding around zero."""
    return not variance > _DEGENERATE_RTOL * max(expected**2, 1e-300)


def _z(observed: float, expected: float, variance: float) -> float:
    """z-score, NaN when the variance is degenerate (:func:`_degenerate`)."""
    if _degenerate(variance, expected):
        return float("nan")
    return (observed - expected) / math.sqrt(variance)


def _flat(observed: float, simulated: np.ndarray) -> bool:
    """Whether every permutation gave the observed value (up to rounding)."""
    if len(simulated) == 0:
        return False
    spread = max(float(np.ptp(simulated)), abs(float(np.mean(simulated)) - observed))
    return spread <= 1e-9 * max(abs(observed), 1e-300)


def _degenerate_note(
    name: str, observed: float, expected: float, variances: tuple[float, ...], sim: np.ndarray
) -> str:
    """Why a statistic has no z or p (empty when it has them).

    Weights under which every unit neighbours every other (with equal weights) make
    the statistic the same for every arrangement of the values: its variance is 0 (or
    rounding around it) and every permutation gives the observed value. Its z and p
    are then undefined: they are reported as NaN, with this note, never as p = 1.
    """
    moments = [v for v in variances if _degenerate(v, expected)]
    flat = _flat(observed, sim)
    if not moments and not flat:
        return ""
    what = []
    if moments:
        what.append(f"its variance is {max(moments):.3g} (0 or below, up to rounding)")
    if flat:
        what.append("every permutation gives the observed value")
    return (
        f"{name} = {observed:.6g} (expected {expected:.6g}) cannot be tested: "
        + " and ".join(what)
        + "; the weights give every arrangement of the values the same statistic (e.g. "
        "every unit neighbours every other), so z and p are NaN; use sparser weights."
    )


def _falling(a: int, k: int) -> float:
    return math.prod(a - i for i in range(k))


def join_counts(
    member: pd.Series,
    w: WeightsLike,
    *,
    permutations: int | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Join counts BB, BW and WW of a 0/1 variable, with binary weights.

    Each join (unordered neighbouring pair) counts once. Expected values and variances
    are Cliff and Ord's under non-free sampling (the number of 1s fixed), z and
    two-sided p from them; ``p_sim`` is the seeded permutation p-value, one-sided in
    the direction of the observed count.

    Returns
    -------
    pandas.DataFrame
        Rows ``BB, BW, WW``: ``statistic, value, expected, variance, z_norm, p_norm,
        p_sim, permutations, seed, n, n_black, joins, weights``.

    """
    w = as_weights(w)
    x = _check_values(member, w, "member")
    permutations, seed = _inference(permutations, seed, len(x))
    if not np.isin(x, (0, 1)).all():
        msg = f"Join counts need a 0/1 variable; {member.name!r} has other values."
        raise InputError(msg)
    wb = w.binary()
    wsym = ((wb + wb.T) > 0).astype(float)  # a join exists if either unit names the other
    n = len(x)
    n1 = int(x.sum())
    n2 = n - n1
    joins = wsym.sum() / 2
    bb = x @ (wsym @ x) / 2
    ww = (1 - x) @ (wsym @ (1 - x)) / 2
    bw = joins - bb - ww
    # Cliff & Ord (1981), non-free sampling, symmetric binary W (S0 counts both directions).
    s0 = wsym.sum()
    s1 = 0.5 * ((2 * wsym.data) ** 2).sum()
    deg = np.asarray(wsym.sum(axis=1)).ravel()
    s2 = ((2 * deg) ** 2).sum()
    e_bb = 0.5 * s0 * _falling(n1, 2) / _falling(n, 2)
    e_ww = 0.5 * s0 * _falling(n2, 2) / _falling(n, 2)
    e_bw = s0 * n1 * n2 / _falling(n, 2)

    def var_same(k: int, e: float) -> float:
        return (
            0.25
            * (
                s1 * _falling(k, 2) / _falling(n, 2)
                + (s2 - 2 * s1) * _falling(k, 3) / _falling(n, 3)
                + (s0**2 + s1 - s2) * _falling(k, 4) / _falling(n, 4)
            )
            - e**2
        )

    v_bw = (
        0.25
        * (
            2 * s1 * n1 * n2 / _falling(n, 2)
            + (s2 - 2 * s1) * n1 * n2 * (n1 + n2 - 2) / _falling(n, 3)
            + 4 * (s0**2 + s1 - s2) * _falling(n1, 2) * _falling(n2, 2) / _falling(n, 4)
        )
        - e_bw**2
    )
    # y' W y / 2 joins of 1s, and sum_i deg_i y_i^2 = sum_i deg_i y_i (0/1 values) joins
    # touching a 1: minus twice the 1-1 joins, the 1-0 joins
    quad, touching, _ = permuted_statistics(
        x, wsym, permutations, rng_for(seed, "join_counts"), degrees=deg
    )
    sim_bb = quad / 2
    sim_bw = touching - 2 * sim_bb
    sim_ww = joins - sim_bb - sim_bw
    rows = []
    for name, obs, e, v, sim in (
        ("BB", bb, e_bb, var_same(n1, e_bb), sim_bb),
        ("BW", bw, e_bw, v_bw, sim_bw),
        ("WW", ww, e_ww, var_same(n2, e_ww), sim_ww),
    ):
        zval = (obs - e) / math.sqrt(v) if v > 0 else float("nan")
        rows.append(
            _row(name, obs, e, variance=v, z_norm=zval, p_norm=_two_sided(zval),
                 p_sim=_p_sim(obs, sim))
        )  # fmt: skip
    out = pd.DataFrame(rows)
    out["permutations"] = permutations
    out["seed"] = seed
    out["n"] = n
    out["n_black"] = n1
    out["joins"] = int(joins)
    out["weights"] = w.spec
    out["variable"] = str(member.name)
    return out


_ADJUST_NAMES = {"none": "no adjustment", "bonferroni": "Bonferroni", "fdr": "FDR"}


def _significant(p: np.ndarray, alpha: float, adjust: str) -> np.ndarray:
    """Which p-values are significant at ``alpha`` under a multiple-comparison rule.

    Only finite p-values are tested (a NaN p is never significant and is not counted
    among the ``m`` tests): ``"none"`` ``p <= alpha``; ``"bonferroni"``
    ``p <= alpha / m``; ``"fdr"`` Benjamini-Hochberg step-up, ``p <= p_(k)`` for the
    largest ``k`` with ``p_(k) <= alpha * k / m``.
    """
    tested = np.isfinite(p)
    out = np.zeros(len(p), dtype=bool)
    m = int(tested.sum())
    if m == 0:
        return out
    q = p[tested]
    if adjust == "none":
        out[tested] = q <= alpha
    elif adjust == "bonferroni":
        out[tested] = q <= alpha / m
    else:
        q_sorted = np.sort(q)
        below = np.flatnonzero(q_sorted <= alpha * np.arange(1, m + 1) / m)
        if len(below):
            out[tested] = q <= q_sorted[below.max()]
    return out


def adjustment(adjust: str | None, fdr: bool = False) -> str:
    """The multiple-comparison rule asked for, checked, with ``fdr=True`` an alias of ``"fdr"``.

    Examples
    --------
    >>> adjustment(None, fdr=True), adjustment("bonferroni")
    ('fdr', 'bonferroni')

    """
    rule = adjust if adjust is not None else ("fdr" if fdr else "none")
    if rule not in _ADJUST_NAMES:
        msg = f"adjust must be 'none', 'bonferroni' or 'fdr', got {adjust!r}."
        raise InputError(msg)
    if fdr and rule != "fdr":
        msg = f"fdr=True means adjust=fdr; it contradicts adjust={adjust}: pass one of them."
        raise InputError(msg)
    return rule


#: Sidedness of local permutation p-values (``sided=``), as tables and legends name it.
SIDED = {"two-sided": "two-sided p", "folded": "one-sided (folded) p"}


def sidedness(sided: str | None) -> str:
    """The sidedness of local p-values asked for, checked (default ``"two-sided"``).

    ``"two"`` is accepted for ``"two-sided"`` (the CLI's ``--sided two``).

    Examples
    --------
    >>> sidedness(None), sidedness("two"), sidedness("folded")
    ('two-sided', 'two-sided', 'folded')

    """
    rule = "two-sided" if sided in (None, "two") else sided
    if rule not in SIDED:
        msg = (
            f"sided must be 'two-sided' (GeoDa's p doubled: alpha holds under the null) or "
            f"'folded' (GeoDa's and esda's one-sided p), got {str(sided)[:40]!r}."
        )
        raise InputError(msg)
    return rule


def _local_p(folded: np.ndarray, sided: str) -> np.ndarray:
    """The local p-values under ``sided`` from the folded ones."""
    return two_sided_p(folded) if sided == "two-sided" else folded


def _rule_words(alpha: float, adjust: str, sided: str) -> str:
    """``lisa_rule``: e.g. ``"two-sided p <= 0.05, FDR"``."""
    return f"{SIDED[sided]} <= {alpha:g}, {_ADJUST_NAMES[adjust]}"


def _adjust_note(adjust: str, sided: str, alpha: float, permutations: int, n: int) -> str:
    """Why the adjustment cannot find a unit, or does not hold at ``alpha``; "" if neither.

    Logged as a warning when not empty.
    """
    notes = []
    smallest = (2.0 if sided == "two-sided" else 1.0) / (permutations + 1)
    if adjust == "bonferroni" and permutations and smallest > alpha / n:
        need = math.ceil((2 if sided == "two-sided" else 1) * n / alpha) - 1
        notes.append(
            f"Bonferroni with {permutations} permutations: the smallest {SIDED[sided]}, "
            f"{smallest:.2g}, is above alpha / n = {alpha / n:.2g}, so no unit can be "
            f"significant; use at least {need} permutations."
        )
    if adjust != "none" and sided == "folded":
        notes.append(
            f"{_ADJUST_NAMES[adjust]} on the folded one-sided p at alpha {alpha:g} is "
            f"{_ADJUST_NAMES[adjust]} on the two-sided p at {2 * alpha:g}: the folded p is "
            "not a valid p-value, so the error rate is controlled at 2 alpha, not alpha "
            "(use sided='two-sided' for alpha)."
        )
    note = " ".join(notes)
    if note:
        log(note, logging.WARNING)
    return note


def local_stats(
    values: pd.Series,
    w: WeightsLike,
    *,
    permutations: int | None = None,
    seed: int | None = None,
    alpha: float = 0.05,
    adjust: str | None = None,
    fdr: bool = False,
    gi_star: bool = True,
    sided: str = "two-sided",
) -> pd.DataFrame:
    """Local Moran (LISA) with quadrant classes, and local Getis-Ord Gi*.

    Parameters
    ----------
    values : pandas.Series
        Numeric and finite, on the units' index, covering the weights' units.
    w : Weights, libpysal.graph.Graph or libpysal.weights.W
        Any weights (values kept; see the module docstring for how each statistic
        uses them).
    permutations : int, optional
        Default :data:`geotool.settings.permutations`; 0 gives analytical results only
        (``p_sim`` and ``gi_star_p_sim`` missing, classes from ``gi_star_p_norm`` are not
        made: every unit is "Not significant").
    seed : int, optional
        Default :data:`geotool.settings.seed`.
    alpha : float
        Significance level for ``significant``, the class and ``gi_star_significant``.
    adjust : {"none", "bonferroni", "fdr"}, optional
        Default ``"none"`` (``"fdr"`` with ``fdr=True``). Multiple-comparison rule over
        the units with a permutation p-value (a missing
        p-value is not a test and is never significant): ``"none"`` tests each unit at
        ``alpha``; ``"bonferroni"`` at ``alpha / m`` (``m`` units tested), controlling
        the family-wise error rate; ``"fdr"`` controls the false discovery rate at
        ``alpha`` (Benjamini-Hochberg step-up).
    fdr : bool
        ``True`` is an alias of ``adjust="fdr"`` (kept for old callers).
    gi_star : bool
        Also compute Gi* (its own permutations double the cost).
    sided : {"two-sided", "folded"}
        Sidedness of ``p_sim`` and ``gi_star_p_sim``, which ``alpha`` and ``adjust``
        are applied to (module docstring). ``"two-sided"`` (default): twice the folded
        p, capped at 1; about ``alpha`` of the units are flagged under the null, and
        Bonferroni and FDR hold at ``alpha``. ``"folded"``: GeoDa's and esda's one-sided
        p in the observed direction (flags about ``2 alpha`` under the null; their
        LISA maps, for comparisons).

    Returns
    -------
    pandas.DataFrame
        On the units of the weights, in the order of ``values``' index: ``value, z,
        lag (row-standardised lag of z), Ii, p_sim, quadrant (HH/LL/LH/HL by the signs
        of z and lag), significant, lisa_class`` (quadrant name if significant, else
        "Not significant"), ``gi_star`` (the unit in its own neighbourhood, weights
        row-standardised: the neighbourhood mean over the total, as GeoDa and esda
        define it), ``gi_star_z`` (scale-free), ``gi_star_p_norm`` (two-sided),
        ``gi_star_p_sim``, ``gi_star_significant`` (``gi_star_p_sim`` under the same
        rule as the LISA classes), ``adjust`` and ``p_sided`` (the rules, constant).
        Units without neighbours have a missing ``p_sim`` (no test; module docstring).
        ``attrs``: ``adjust``, ``alpha``, ``p_sided``, ``lisa_rule`` (the rule in words,
        e.g. ``"two-sided p <= 0.05, FDR"``, for legends), ``degenerate_note`` (empty,
        or, logged as a warning too, which units neighbour every other unit at equal
        weights: their ``p_sim`` and ``gi_star_p_sim`` are NaN, untested) and
        ``adjust_note`` (empty, or, logged as a warning too, why Bonferroni cannot find
        any unit with so few permutations, or that an adjustment of folded p-values
        holds at ``2 alpha``).

    """
    alpha = check.alpha(alpha)
    adjust = adjustment(adjust, fdr)
    sided = sidedness(sided)
    w = as_weights(w)
    x = _check_values(values, w)
    n = len(x)
    permutations, seed = _inference(permutations, seed, n)
    wr = w.row_standardised()
    z = (x - x.mean()) / x.std()
    lag = wr @ z
    ii = (n - 1) * z * lag / (z @ z)  # esda's normalisation
    if permutations:
        p_sim = _local_p(conditional_pvalues(z, wr, permutations, rng_for(seed, "lisa"), z), sided)
    else:
        p_sim = np.full(n, np.nan)
    untestable = _neighbours_all(w.sparse)
    p_sim[untestable] = np.nan  # their lag is the same under every permutation
    significant = _significant(p_sim, alpha, adjust)
    degenerate_note = _untestable_note(w, untestable)
    note = _adjust_note(adjust, sided, alpha, permutations, int(np.isfinite(p_sim).sum()) or n)
    quadrant = np.select(
        [(z > 0) & (lag > 0), (z < 0) & (lag < 0), (z < 0) & (lag > 0), (z > 0) & (lag < 0)],
        ["High-High", "Low-Low", "Low-High", "High-Low"],
        default="Not significant",
    )
    lisa_class = np.where(significant, quadrant, "Not significant")
    out = pd.DataFrame(
        {
            "value": x,
            "z": z,
            "lag": lag,
            "Ii": ii,
            "p_sim": p_sim,
            "quadrant": quadrant,
            "significant": significant,
            "lisa_class": lisa_class,
        },
        index=w.ids,
    )
    if gi_star:
        # Gi*: the unit in its own neighbourhood, at weight 1 (binary weights) or at
        # its row's largest weight (esda's rule for non-binary weights).
        raw = w.sparse
        self_weight = np.ones(n) if w.is_binary else np.asarray(raw.max(axis=1).todense()).ravel()
        self_weight = np.where(self_weight > 0, self_weight, 1.0)
        wstar = (raw + sp.diags(self_weight)).tocsr()
        wi = np.asarray(wstar.sum(axis=1)).ravel()
        s1i = np.asarray(wstar.multiply(wstar).sum(axis=1)).ravel()
        xbar = x.mean()
        s = math.sqrt(max((x**2).mean() - xbar**2, 0.0))
        spread = np.sqrt(np.maximum((n * s1i - wi**2) / (n - 1), 0.0))
        # a unit whose neighbourhood is every unit has no Gi* variance, and one without
        # neighbours no neighbourhood (its Gi* is its own value): z is missing for both
        spread[np.diff(raw.indptr) == 0] = 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            gi_z = np.where(spread > 0, (wstar @ x - xbar * wi) / (s * spread), np.nan)
        out["gi_star"] = (wstar @ x) / wi / x.sum() if x.sum() != 0 else np.nan
        out["gi_star_z"] = gi_z
        out["gi_star_p_norm"] = erfc(np.abs(gi_z) / math.sqrt(2))
        gi_p = (
            _local_p(
                conditional_pvalues(x, raw, permutations, rng_for(seed, "gi_star"), np.ones(n)),
                sided,
            )
            if permutations
            else np.full(n, np.nan)
        )
        gi_p[untestable] = np.nan
        out["gi_star_p_sim"] = gi_p
        out["gi_star_significant"] = _significant(gi_p, alpha, adjust)
    out["adjust"] = adjust
    out["p_sided"] = sided
    order = values.index[values.index.isin(w.ids)]
    if not order.equals(w.ids):
        out = out.reindex(order)
    out.index.name = values.index.name if values.index.name is not None else w.ids.name
    out.attrs.update(
        adjust=adjust,
        alpha=alpha,
        p_sided=sided,
        lisa_rule=_rule_words(alpha, adjust, sided),
        adjust_note=note,
        degenerate_note=degenerate_note,
    )
    return out


def _neighbours_all(weights: sp.csr_matrix) -> np.ndarray:
    """Units whose neighbours are all the other units, at equal weights.

    Any permutation of the other units' values gives such a unit the same spatial lag,
    so its local statistic has no permutation distribution (p would be 1 whatever the
    data).
    """
    w = weights.tocsr()
    n = w.shape[0]
    full = np.diff(w.indptr) == n - 1
    out = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(full):
        row = w.data[w.indptr[i] : w.indptr[i + 1]]
        out[i] = bool(np.ptp(row) <= 1e-12 * np.abs(row).max())
    return out


def _untestable_note(w: Weights, untestable: np.ndarray) -> str:
    """The note (logged as a warning) on units whose local p-values are NaN by design."""
    if not untestable.any():
        return ""
    shown = ", ".join(str(i) for i in w.ids[untestable][:5])
    note = (
        f"{int(untestable.sum()):,} of {len(untestable):,} units neighbour every other unit "
        f"at equal weights under {w.spec} ({shown}{' ...' if untestable.sum() > 5 else ''}): "
        "permuting the others cannot change their lag, so their p_sim and gi_star_p_sim "
        "are NaN (not tested); use sparser weights (knn:K, queen)."
    )
    log(note, logging.WARNING)
    return note


def _inference(permutations: int | None, seed: int | None, n_units: int = 1) -> tuple[int, int]:
    """Checked permutations and seed (defaults from :mod:`geotool.settings`).

    0 permutations means analytical results only (every ``p_sim`` missing); 1 to 98
    are refused (they cannot give p <= 0.01); the cap and the memory estimate are
    :func:`geotool._validate.permutations`'s.
    """
    p = settings.permutations if permutations is None else permutations
    s = settings.seed if seed is None else seed
    return check.permutations(p, n_units=n_units, block=HELD_PERMUTATIONS), check.seed(s)


def _p_sim(observed: float, simulated: np.ndarray) -> float:
    """Folded pseudo p-value of one statistic; NaN without permutations or when they all tie."""
    if len(simulated) == 0 or not np.isfinite(observed) or _flat(observed, simulated):
        return float("nan")
    return float(folded_pvalue(np.array([observed]), simulated)[0])


def sensitivity(
    values: pd.Series,
    geo: gpd.GeoDataFrame | gpd.GeoSeries | pd.Index | list[str],
    *,
    specs: tuple[str, ...] | None = None,
    permutations: int | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Global statistics of one variable under several weights specs, side by side.

    Parameters
    ----------
    values : pandas.Series
        The variable, on the units' index.
    geo : geopandas.GeoDataFrame or codes
        What :func:`geotool.weights.build` builds the weights from.
    specs : tuple of str, optional
        Weights specs; default ``queen, rook, knn:6`` and the distance band of the
        data's own scale, :func:`geotool.weights.neighbour_band` (the smallest
        readable band that gives every unit a neighbour, e.g. ``distance:140km``),
        which the ``weights`` column names.
    permutations : int, optional
        As :func:`global_stats`.
    seed : int, optional
        As :func:`global_stats`.

    Returns
    -------
    pandas.DataFrame
        :func:`global_stats`' rows for every spec that builds. A spec the units cannot
        take (a distance band that leaves most of them without a neighbour, more
        neighbours than units) is left out, logged, and named with its reason in
        ``attrs["skipped"]``; when no spec builds, the first one's error is raised.

    """
    if specs is None:
        from geotool.weights import neighbour_band

        specs = ("queen", "rook", "knn:6", neighbour_band(geo))
    frames, skipped, first = [], {}, None
    for spec in specs:
        try:
            w = build(geo, spec)
        except InputError as exc:
            skipped[spec] = str(exc)
            first = first or exc
            continue
        frames.append(global_stats(values, w, permutations=permutations, seed=seed))
    if not frames:
        assert first is not None
        raise first
    out = pd.concat(frames, ignore_index=True)
    out.attrs["skipped"] = skipped
    for spec, why in skipped.items():
        log(f"sensitivity: {spec} left out: {why}", logging.WARNING)
    return out


def moran_scatter(local: pd.DataFrame, *, title: str = "", moran_i: float | None = None) -> Figure:
    """Moran scatter plot: standardised value against its spatial lag, by LISA class.

    Drawn on a :class:`matplotlib.figure.Figure` (no pyplot, so the caller's backend
    is never switched; in a notebook, display the returned figure).

    Parameters
    ----------
    local : pandas.DataFrame
        The output of :func:`local_stats`.
    title : str
        Plot title.
    moran_i : float, optional
        Global Moran's I to print; the fitted slope is drawn either way.

    Returns
    -------
    matplotlib.figure.Figure

    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 5), dpi=110)
    ax = fig.add_subplot()
    for cls, colour in LISA_CLASSES.items():
        part = local[local["lisa_class"] == cls]
        edge = "#999999" if cls == "Not significant" else "none"
        ax.scatter(
            part["z"],
            part["lag"],
            s=12,
            c=colour,
            edgecolors=edge,
            linewidths=0.4,
            label=f"{cls} ({len(part)})",
            zorder=3 if cls != "Not significant" else 2,
        )
    slope = float(np.polyfit(local["z"], local["lag"], 1)[0])
    xs = np.array([local["z"].min(), local["z"].max()])
    ax.plot(xs, slope * xs, color="black", linewidth=1)
    ax.axhline(0, color="#777777", linewidth=0.6)
    ax.axvline(0, color="#777777", linewidth=0.6)
    ax.set_xlabel("standardised value z")
    ax.set_ylabel("spatial lag of z (row-standardised)")
    label = f"Moran's I = {moran_i:.3f}" if moran_i is not None else f"slope = {slope:.3f}"
    ax.set_title(f"{title}\n{label}" if title else label, fontsize=10)
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    fig.tight_layout()
    return fig


def analyse(
    values: pd.Series,
    w: WeightsLike,
    *,
    permutations: int | None = None,
    seed: int | None = None,
    alpha: float = 0.05,
    fdr: bool = False,
    other: pd.Series | None = None,
    adjust: str | None = None,
    sided: str = "two-sided",
) -> dict[str, Any]:
    """Global and local statistics of one variable under one set of weights.

    ``sided`` is the sidedness of the local p-values of LISA, Gi* and local Geary
    (:func:`local_stats`); local join counts are one-sided (upper) by design.

    Returns
    -------
    dict
        ``global`` (DataFrame, :func:`global_stats`), ``join_counts`` (DataFrame,
        for a 0/1 variable, else ``None``), ``local`` (DataFrame,
        :func:`local_stats`), ``local_join_counts`` (DataFrame, BB, for a 0/1
        variable, else ``None``), ``local_geary`` (DataFrame, :func:`local_geary`),
        ``lisa_counts`` (class -> count, every class present), ``adjust``,
        ``p_sided`` and ``lisa_rule`` (the multiple-comparison rule and sidedness of the
        classes, see :func:`local_stats`) and ``weights`` (the connectivity report).

    """
    w = as_weights(w)
    glob = global_stats(values, w, permutations=permutations, seed=seed, other=other)
    x = values.reindex(w.ids)
    jc = ljc = None
    if np.isin(x.to_numpy(dtype=float), (0, 1)).all():
        jc = join_counts(values, w, permutations=permutations, seed=seed)
        ljc = local_join_counts(values, w, permutations=permutations, seed=seed, alpha=alpha)
    local = local_stats(
        values, w, permutations=permutations, seed=seed, alpha=alpha, adjust=adjust, fdr=fdr,
        sided=sided,
    )  # fmt: skip
    fdr = local.attrs["adjust"] == "fdr"
    geary = local_geary(values, w, permutations=permutations, seed=seed, alpha=alpha, sided=sided)
    counts = local["lisa_class"].value_counts()
    return {
        "global": glob,
        "join_counts": jc,
        "local_join_counts": ljc,
        "local_geary": geary,
        "local": local,
        "lisa_counts": {cls: int(counts.get(cls, 0)) for cls in LISA_CLASSES},
        "adjust": local.attrs["adjust"],
        "p_sided": local.attrs["p_sided"],
        "lisa_rule": local.attrs["lisa_rule"],
        "weights": w.report,
        "alpha": alpha,
        "fdr": fdr,
    }


def local_join_counts(
    x: pd.Series,
    w: WeightsLike,
    *,
    z: pd.Series | None = None,
    case: str = "BB",
    permutations: int | None = None,
    seed: int | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Local join counts of 0/1 variables (Anselin and Li 2019), as GeoDa and esda.

    With binary weights (every non-zero weight counts 1; row ``i`` names i's
    neighbours), the count of unit ``i`` is, by ``case``:

    * ``"BB"`` (univariate): ``x_i * #{neighbours j with x_j = 1}``;
    * ``"BJC"`` (bivariate, no co-location): ``x_i (1 - z_i) * #{j: z_j = 1, x_j = 0}``;
    * ``"CLC"`` (co-location): ``x_i z_i * #{j: x_j = z_j = 1}``.

    These are esda's ``Join_Counts_Local`` and ``Join_Counts_Local_BV`` (CLC with two
    variables is also ``Join_Counts_Local_MV``'s). ``p_sim`` comes from conditional
    randomisation (the unit keeps its values, the others' are permuted, pairs
    ``(x_j, z_j)`` together) and is **one-sided (upper)**, as Anselin and Li's:
    ``(#{sim >= obs} + 1) / (P + 1)``, ties counted (:mod:`geotool._perm`). It is
    computed only for the units the case tests that have at least one join (esda's
    rule); elsewhere it is missing. BJC is meant for variables that are never both 1;
    with co-located units, esda compares the count with permuted counts of *all*
    neighbours with ``z = 1``, this with permuted counts of what the count counts
    (``z = 1, x = 0``), so it is less conservative than esda's there
    (``attrs["co_located"]`` says how many units have ``x = z = 1``).

    Parameters
    ----------
    x : pandas.Series
        0/1 (or boolean) values on the units' index, covering the weights' units.
    w : Weights, libpysal.graph.Graph or libpysal.weights.W
        Any weights; binarised. Islands are fine (no joins: not tested).
    z : pandas.Series, optional
        The second 0/1 variable, required for ``"BJC"`` and ``"CLC"`` (not for BB).
    case : {"BB", "BJC", "CLC"}
        Which count.
    permutations : int, optional
        Default :data:`geotool.settings.permutations`; 0 gives the counts only
        (``p_sim`` missing, no clusters).
    seed : int, optional
        Default :data:`geotool.settings.seed` (stream ``"ljc:" + case``).
    alpha : float
        Significance level for ``significant`` and ``cluster``.

    Returns
    -------
    pandas.DataFrame
        On the units of the weights, in the order of ``x``'s index: ``value`` (x),
        ``z`` (if given), ``ljc``, ``p_sim``, ``significant`` (``p_sim <= alpha``),
        ``cluster``: ``"<case> cluster"`` where significant, ``"not significant"``
        where tested, ``"not tested (...)"`` with the reason elsewhere, and
        ``p_sided`` (``"upper"``, constant: the direction is stated before the data
        are seen, so ``p_sim`` is a valid p-value and takes no ``sided=``).
        ``attrs``: ``case, permutations, seed, alpha, p_sided, weights`` (and
        ``co_located``).

    """
    from geotool import _joins  # here, not at the top: keeps this addition in one place

    if not isinstance(case, str) or case.upper() not in _joins.CASES:
        msg = f"case must be one of {', '.join(_joins.CASES)}, got {str(case)[:40]!r}."
        raise InputError(msg)
    case = case.upper()
    if case == "BB" and z is not None:
        msg = "z is used by case 'BJC' or 'CLC' only; drop z, or choose one of those cases."
        raise InputError(msg)
    if case != "BB" and z is None:
        msg = f"case {case!r} compares two variables; give the second as z=."
        raise InputError(msg)
    alpha = check.alpha(alpha)
    w = as_weights(w)

    def binary_values(values: pd.Series, name: str) -> np.ndarray:
        """0/1 ``values`` in the order of ``w.ids`` (booleans accepted), checked."""
        if isinstance(values, pd.Series) and pd.api.types.is_bool_dtype(values):
            values = values.astype(int)
        v = _check_values(values, w, name)
        if not np.isin(v, (0, 1)).all():
            other = np.unique(v[~np.isin(v, (0, 1))])[:3].tolist()
            msg = (
                f"Local join counts need 0/1 values; {name} ({values.name!r}) also has "
                f"{other}. Code the units as 1 (in the group) or 0, e.g. "
                f"(series > threshold).astype(int)."
            )
            raise InputError(msg)
        return v

    xv = binary_values(x, "x")
    zv = None if z is None else binary_values(z, "z")
    permutations, seed = _inference(permutations, seed, len(xv))
    ljc, p_sim, tested = _joins.local_join_counts(
        xv, zv, w.binary(), case, permutations=permutations, rng=rng_for(seed, "ljc:" + case)
    )
    significant = p_sim <= alpha  # NaN (not tested, or no permutations) is False
    untested = {
        "BB": "not tested (x = 0)",
        "BJC": "not tested (x = 0 or z = 1)",
        "CLC": "not tested (x = 0 or z = 0)",
    }[case]
    a, _ = _joins.indicators(xv, zv, case)
    cluster = np.select(
        [significant, tested & (permutations > 0), tested, a == 1],
        [f"{case} cluster", "not significant", "not tested (no permutations)",
         "not tested (no joins)"],
        default=untested,
    )  # fmt: skip
    columns: dict[str, Any] = {"value": xv}
    if zv is not None:
        columns["z"] = zv
    columns |= {
        "ljc": ljc, "p_sim": p_sim, "significant": significant, "cluster": cluster,
        "p_sided": "upper",
    }  # fmt: skip
    out = pd.DataFrame(columns, index=w.ids)
    order = x.index[x.index.isin(w.ids)]
    if not order.equals(w.ids):
        out = out.reindex(order)
    out.index.name = x.index.name if x.index.name is not None else w.ids.name
    out.attrs = {
        "case": case,
        "permutations": permutations,
        "seed": seed,
        "alpha": alpha,
        "p_sided": "upper",
        "weights": w.spec,
    }
    if zv is not None:
        out.attrs["co_located"] = int(((xv == 1) & (zv == 1)).sum())
    return out


def local_geary(
    values: pd.Series | pd.DataFrame,
    w: WeightsLike,
    *,
    permutations: int | None = None,
    seed: int | None = None,
    alpha: float = 0.05,
    sided: str = "two-sided",
) -> pd.DataFrame:
    """Local Geary ``c_i``, univariate (Anselin 1995) or multivariate (Anselin 2019).

    ``c_i = (1/k) sum_v sum_j w_ij (z_vi - z_vj)^2`` over the ``k`` variables, each
    standardised with its population standard deviation (``z = (x - mean) / std``,
    ``ddof=0``), weights row-standardised: esda's ``Geary_Local`` (``k = 1``) and
    ``Geary_Local_MV``, checked against both to 1e-9 in ``tests/test_local_geary.py``.
    A small ``c_i`` means neighbours alike (positive association), a large one unlike
    (negative), *relative to the unit's own reference distribution*: its expected value
    under randomisation is ``n / (n - 1) (1 + mean_v z_vi^2)``, large for extreme values.

    ``p_sim``: conditional randomisation (the unit keeps its values, its neighbours'
    rows are drawn from the other units, all variables together), one-sided on the side
    where ``c_i`` lies, with ties counted as at least as extreme
    (``p = (min(#{sim >= c}, #{sim <= c}) + 1) / (P + 1)``, :mod:`geotool._perm`). With
    continuous values this is esda's ``p_sim``; under ties it is conservative where esda
    is not: a unit at the mode among neighbours at the mode (``c_i = 0``, as are most
    permutations) gets a large p here and ``1 / (P + 1)`` in esda and GeoDa. That is
    the folded p (``sided="folded"``); by default ``p_sim`` is two-sided, twice it
    capped at 1, as :func:`local_stats`'. Units without neighbours are not tested.

    Classes, GeoDa's (only for ``p_sim <= alpha``): a unit in the lower tail is a
    positive association, "High-High" (``z > 0`` and lag ``> 0``), "Low-Low" (both
    ``< 0``) or "Other Positive"; in the upper tail, "Negative". Several variables:
    "Positive" or "Negative". The side is the tail the p-value was counted in (GeoDa
    compares ``c_i`` with the mean of its permutations, the same side for every
    significant unit); esda's ``labs`` compare ``c_i`` with the mean of all units'
    ``c``, which calls a unit with an extreme value "negative" when it is less unlike
    its neighbours than chance would make it.

    Parameters
    ----------
    values : pandas.Series or pandas.DataFrame
        One variable (Series), or ``k >= 2`` numeric columns (DataFrame, multivariate;
        one column is the Series' case), on the units' index, covering the weights'
        units; finite, none constant.
    w : Weights, libpysal.graph.Graph or libpysal.weights.W
        Any weights; row-standardised here (kernel weights keep their relative values).
    permutations : int, optional
        Default :data:`geotool.settings.permutations`; 0 gives the statistic only
        (``p_sim`` missing, every unit "Not significant"); 1 to 98 are refused.
    seed : int, optional
        Default :data:`geotool.settings.seed`; the draws are ``rng_for(seed,
        "local_geary")``'s, so results are reproducible.
    alpha : float
        Significance level for ``significant`` and the class.
    sided : {"two-sided", "folded"}
        Sidedness of ``p_sim`` (:func:`local_stats`); ``"folded"`` is esda's and GeoDa's.

    Returns
    -------
    pandas.DataFrame
        On the units of the weights, in the order of ``values``' index. One variable:
        ``value, z, lag`` (row-standardised lag of z), ``c, p_sim, significant,
        cluster, p_sided``. Several: ``z:NAME`` and ``lag:NAME`` per variable, then
        ``c, p_sim, significant, cluster, p_sided``. ``attrs``: ``alpha, p_sided``.

    Raises
    ------
    InputError
        Values not numeric, not finite, constant, missing for some units, fewer than
        4 units; a DataFrame without columns or with duplicated column names; bad
        ``permutations``, ``seed`` or ``alpha``.

    """
    from geotool import _geary

    alpha = check.alpha(alpha)
    sided = sidedness(sided)
    w = as_weights(w)
    if isinstance(values, pd.DataFrame):
        if values.shape[1] == 0 or values.columns.has_duplicates:
            msg = (
                f"values has {'no' if values.shape[1] == 0 else 'duplicated'} columns "
                f"({list(values.columns)}); give one named numeric column per variable."
            )
            raise InputError(msg)
        series = [values[col] for col in values.columns]
        index = values.index
    elif isinstance(values, pd.Series):
        series, index = [values], values.index
    else:
        msg = (
            "values must be a pandas Series (one variable) or DataFrame (several) on the "
            f"units' index, got {type(values).__name__}."
        )
        raise InputError(msg)
    x = np.column_stack([_check_values(s, w) for s in series])  # (n, k)
    n, k = x.shape
    permutations, seed = _inference(permutations, seed, n)
    wr = w.row_standardised()
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    lag = wr @ z
    if permutations:
        c, p_sim, low = _geary.permutation_test(z, wr, permutations, rng_for(seed, "local_geary"))
        p_sim = np.where(np.diff(wr.indptr) == 0, np.nan, _local_p(p_sim, sided))  # islands
    else:
        c, p_sim, low = _geary.observed(z, wr), np.full(n, np.nan), np.zeros(n, dtype=bool)
    significant = p_sim <= alpha
    if k == 1:
        positive = np.select(
            [(z[:, 0] > 0) & (lag[:, 0] > 0), (z[:, 0] < 0) & (lag[:, 0] < 0)],
            ["High-High", "Low-Low"],
            default="Other Positive",
        )
        cluster = np.where(low, positive, "Negative")
        columns: dict[str, Any] = {"value": x[:, 0], "z": z[:, 0], "lag": lag[:, 0]}
    else:
        cluster = np.where(low, "Positive", "Negative")
        columns = {}
        for v, name in enumerate(values.columns):
            columns[f"z:{name}"] = z[:, v]
            columns[f"lag:{name}"] = lag[:, v]
    columns |= {
        "c": c,
        "p_sim": p_sim,
        "significant": significant,
        "cluster": np.where(significant, cluster, "Not significant"),
        "p_sided": sided,
    }
    out = pd.DataFrame(columns, index=w.ids)
    order = index[index.isin(w.ids)]
    if not order.equals(w.ids):
        out = out.reindex(order)
    out.index.name = index.name if index.name is not None else w.ids.name
    out.attrs = {"alpha": alpha, "p_sided": sided}
    return out


def local_bivariate(
    x: pd.Series,
    y: pd.Series,
    w: WeightsLike,
    *,
    permutations: int | None = None,
    seed: int | None = None,
    alpha: float = 0.05,
    adjust: str | None = None,
    sided: str = "two-sided",
) -> pd.DataFrame:
    """Bivariate local Moran (bivariate LISA): ``x`` at a unit against ``y`` around it.

    ``I_i = (n - 1) / n * z_x,i * lag(z_y)_i`` with ``z`` standardised by the population
    standard deviation and the weights row-standardised: esda's ``Moran_Local_BV``
    (checked against it in ``tests/test_transform.py``). A "High-High" unit has a high
    ``x`` among neighbours of high ``y``; "High-Low" a high ``x`` among low ``y``. It
    measures co-location, not that one variable drives the other, and it is
    asymmetric: ``local_bivariate(x, y)`` differs from ``local_bivariate(y, x)``.

    ``p_sim``: conditional randomisation as :func:`local_stats` (the unit keeps its
    ``x``, its neighbours' ``y`` are drawn from the other units), ties counted as at
    least as extreme (:mod:`geotool._perm`); two-sided by default, or one-sided in the
    direction of ``I_i`` (``sided="folded"``, esda's).

    Parameters
    ----------
    x : pandas.Series
        The variable at each unit: numeric, finite, not constant, covering the weights'
        units.
    y : pandas.Series
        The variable whose spatial lag is taken; same requirements.
    w : Weights, libpysal.graph.Graph or libpysal.weights.W
        Any weights; row-standardised here.
    permutations : int, optional
        Default :data:`geotool.settings.permutations`; 0 gives the statistic only.
    seed : int, optional
        Default :data:`geotool.settings.seed` (stream ``"lisa_bv"``).
    alpha : float
        Significance level for ``significant`` and the class.
    adjust : {"none", "bonferroni", "fdr"}, optional
        Multiple-comparison rule, as :func:`local_stats`.
    sided : {"two-sided", "folded"}
        Sidedness of ``p_sim``, as :func:`local_stats`.

    Returns
    -------
    pandas.DataFrame
        On the units of the weights, in the order of ``x``'s index: ``x, y, z_x, z_y,
        lag_y`` (row-standardised lag of ``z_y``), ``Ii, p_sim, quadrant, significant,
        lisa_class, p_sided``. ``attrs``: ``x, y, adjust, alpha, p_sided, lisa_rule,
        adjust_note, permutations, seed, weights``.

    Raises
    ------
    InputError
        Values not numeric, missing, constant, or too few units; bad options.

    """
    alpha = check.alpha(alpha)
    adjust = adjustment(adjust)
    sided = sidedness(sided)
    w = as_weights(w)
    xv = _check_values(x, w, "x")
    yv = _check_values(y, w, "y")
    n = len(xv)
    permutations, seed = _inference(permutations, seed, n)
    wr = w.row_standardised()
    zx = (xv - xv.mean()) / xv.std()
    zy = (yv - yv.mean()) / yv.std()
    lag = wr @ zy
    ii = (n - 1) * zx * lag / (zx @ zx)
    if permutations:
        p_sim = _local_p(
            conditional_pvalues(zy, wr, permutations, rng_for(seed, "lisa_bv"), zx), sided
        )
    else:
        p_sim = np.full(n, np.nan)
    significant = _significant(p_sim, alpha, adjust)
    note = _adjust_note(adjust, sided, alpha, permutations, int(np.isfinite(p_sim).sum()) or n)
    quadrant = np.select(
        [(zx > 0) & (lag > 0), (zx < 0) & (lag < 0), (zx < 0) & (lag > 0), (zx > 0) & (lag < 0)],
        ["High-High", "Low-Low", "Low-High", "High-Low"],
        default="Not significant",
    )
    out = pd.DataFrame(
        {
            "x": xv, "y": yv, "z_x": zx, "z_y": zy, "lag_y": lag, "Ii": ii, "p_sim": p_sim,
            "quadrant": quadrant, "significant": significant,
            "lisa_class": np.where(significant, quadrant, "Not significant"),
            "p_sided": sided,
        },
        index=w.ids,
    )  # fmt: skip
    order = x.index[x.index.isin(w.ids)]
    if not order.equals(w.ids):
        out = out.reindex(order)
    out.index.name = x.index.name if x.index.name is not None else w.ids.name
    out.attrs = {
        "x": str(x.name),
        "y": str(y.name),
        "adjust": adjust,
        "alpha": alpha,
        "p_sided": sided,
        "lisa_rule": _rule_words(alpha, adjust, sided),
        "adjust_note": note,
        "permutations": permutations,
        "seed": seed,
        "weights": w.spec,
    }
    return out
