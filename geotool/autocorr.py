"""Spatial autocorrelation: global and local statistics with seeded inference.

Every function takes a numeric Series and weights (:class:`geotool.weights.Weights`, a
libpysal ``Graph`` or ``W``) and returns a tidy DataFrame on the units' index. Analytical
z and p (``_norm``, ``_rand``: Cliff and Ord 1981, Getis and Ord 1992) are two-sided and
checked against esda in the tests. ``p_sim`` comes from seeded permutations
(:mod:`geotool._perm`): total randomisation for the global statistics (the folded p,
one-sided in the observed direction), conditional for the local ones. Applying ``alpha``
to a folded p flags about ``2 alpha`` of the units under the null (GeoDa's and esda's LISA
maps), so local p-values are two-sided by default (``sided="two-sided"``: twice the
folded p, capped at 1; alpha, Bonferroni and FDR then hold); ``sided="folded"`` is GeoDa's
and esda's, and an adjustment of it holds at ``2 alpha`` (``attrs["adjust_note"]``). Every
local table names its rule (``p_sided``, ``lisa_rule``).

Weights as esda uses them: I, C, local and bivariate Moran and local Geary
row-standardise; G and join counts binarise; Gi* puts each unit in its own neighbourhood
(weight 1, or its row's largest weight). A unit without neighbours enters the global
statistics as esda's (lag 0) and has no local test: missing p, "Not significant", not
counted by Bonferroni or FDR.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import erfc

from geotool import _geary, settings
from geotool import _validate as check
from geotool._errors import InputError
from geotool._log import log
from geotool._perm import (
    HELD_PERMUTATIONS,
    at_mean_p,
    conditional_counts,
    conditional_pvalues,
    folded_pvalue,
    lag_pvalues,
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
    "significance",
]

#: LISA classes in their conventional order (and GeoDa's colours, used by the maps).
LISA_CLASSES = {
    "High-High": "#d7191c",
    "Low-Low": "#2c7bb6",
    "Low-High": "#abd9e9",
    "High-Low": "#fdae61",
    "Not significant": "#eeeeee",
}
#: Sidedness of local permutation p-values (``sided=``), as tables and legends name it.
SIDED = {"two-sided": "two-sided p", "folded": "one-sided (folded) p"}
_ADJUST_NAMES = {"none": "no adjustment", "bonferroni": "Bonferroni", "fdr": "FDR"}
#: Local join count cases: which units are tested, with which neighbours counted.
_LJC_CASES = {
    "BB": "x = 1 with neighbours x = 1",
    "BJC": "x = 1, z = 0 with neighbours z = 1, x = 0 (no co-location)",
    "CLC": "x = z = 1 with neighbours x = z = 1 (co-location)",
}
#: A variance this small relative to the squared expectation is rounding, not variance.
_DEGENERATE_RTOL = 1e-10


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


def _inference(permutations: int | None, seed: int | None, n_units: int = 1) -> tuple[int, int]:
    """Checked permutations (0, or 99 and up) and seed, defaults from :mod:`geotool.settings`."""
    p = settings.permutations if permutations is None else permutations
    s = settings.seed if seed is None else seed
    return check.permutations(p, n_units=n_units, block=HELD_PERMUTATIONS), check.seed(s)


def _labels(codes: np.ndarray, names: list[str]) -> np.ndarray:
    """``names[codes]``: class labels as Python strings shared by reference (object array).

    A string column of 10^6 labels takes 0.2 s to build (pandas' Arrow strings), this
    one 20 ms; unlike a categorical, two such columns always compare, and counts, groups
    and sorting are those of strings.
    """
    return np.array(names, dtype=object)[np.asarray(codes, dtype=np.intp)]


def _text_column(value: Any, ids: pd.Index) -> Any:
    """A column of text (one string, or an array of them) as object strings; others as given."""
    if isinstance(value, str):
        value = _labels(np.zeros(len(ids), dtype=np.intp), [value])
    if isinstance(value, np.ndarray) and value.dtype.kind in "OU":
        return pd.Series(value.astype(object, copy=False), index=ids, dtype=object, copy=False)
    return value


def _on_units(columns: dict[str, Any], w: Weights, index: pd.Index) -> pd.DataFrame:
    """A table on the weights' units, in the order of the caller's ``index``.

    The columns are the caller's new arrays (not copied); text stays object strings.
    """
    columns = {name: _text_column(value, w.ids) for name, value in columns.items()}
    out = pd.DataFrame(columns, index=w.ids, copy=False)
    if not index.equals(w.ids):  # else the order is the weights' (no isin over 10^6 labels)
        order = index[index.isin(w.ids)]
        if not order.equals(w.ids):
            out = out.reindex(order)
    out.index.name = index.name if index.name is not None else w.ids.name
    return out


def _row(statistic: str, value: float, expected: float, **extra: Any) -> dict[str, Any]:
    return {"statistic": statistic, "value": float(value), "expected": float(expected), **extra}


def _two_sided(z: float) -> float:
    """Two-sided normal p-value of a z-score (``2 * (1 - Phi(|z|))``)."""
    return float(erfc(abs(z) / math.sqrt(2)))


def _moments(w: sp.csr_matrix) -> tuple[float, float, float]:
    """S0, S1, S2 of a sparse weights matrix (Cliff and Ord's notation)."""
    return _moments_degrees(w)[:3]


def _moments_degrees(w: sp.csr_matrix) -> tuple[float, float, float, np.ndarray]:
    """S0, S1, S2 and each unit's row plus column sum (S2's terms, Geary's C's degrees)."""
    exact = _symmetric_binary_moments(w)
    if exact is not None:
        return exact
    s0 = float(w.sum())
    sym = w + w.T
    s1 = 0.5 * float(sym.multiply(sym).sum())
    deg = np.asarray(w.sum(axis=1)).ravel() + np.asarray(w.sum(axis=0)).ravel()
    return s0, s1, float((deg**2).sum()), deg


def _symmetric_binary_moments(
    w: sp.csr_matrix,
) -> tuple[float, float, float, np.ndarray] | None:
    """:func:`_moments_degrees` of symmetric 0/1 weights by counting links, else ``None``.

    Every sum is of small integers, exact in floating point in any order: the same
    numbers as the sparse products (``S0`` links, ``S1`` twice the links), 150 -> 40 ms
    at 10^6 units.
    """
    w = w.tocsr()
    if not w.nnz or not w.has_canonical_format or not (w.data == 1.0).all():
        return None
    wt = w.T.tocsr()
    if not (np.array_equal(wt.indptr, w.indptr) and np.array_equal(wt.indices, w.indices)):
        return None
    n = w.shape[0]
    deg = (np.diff(w.indptr) + np.bincount(w.indices, minlength=n)).astype(float)
    return float(w.nnz), 2.0 * w.nnz, float((deg**2).sum()), deg


def _degenerate(variance: float, expected: float) -> bool:
    """Whether a moment-based variance is zero, negative or rounding around zero."""
    return not variance > _DEGENERATE_RTOL * max(expected**2, 1e-300)


def _z(observed: float, expected: float, variance: float) -> float:
    """z-score, NaN when the variance is degenerate."""
    if _degenerate(variance, expected):
        return float("nan")
    return (observed - expected) / math.sqrt(variance)


def _flat(observed: float, simulated: np.ndarray) -> bool:
    """Whether every permutation gave the observed value (up to rounding)."""
    if len(simulated) == 0:
        return False
    spread = max(float(np.ptp(simulated)), abs(float(np.mean(simulated)) - observed))
    return spread <= 1e-9 * max(abs(observed), 1e-300)


def _p_sim(observed: float, simulated: np.ndarray) -> float:
    """Folded pseudo p-value of one statistic; NaN without permutations or when they all tie."""
    if len(simulated) == 0 or not np.isfinite(observed) or _flat(observed, simulated):
        return float("nan")
    return float(folded_pvalue(np.array([observed]), simulated)[0])


def _degenerate_note(
    name: str, observed: float, expected: float, variances: tuple[float, ...], sim: np.ndarray
) -> str:
    """Why a statistic has no z or p (empty when it has them): never a misleading p = 1."""
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


def _tested(
    name: str, obs: float, e: float, variances: tuple[float, ...], sim: np.ndarray
) -> dict[str, Any]:
    """A global statistic's row: normal (and randomisation) moments, ``p_sim``, note."""
    row = _row(name, obs, e)
    for kind, v in zip(("norm", "rand"), variances, strict=False):
        z = _z(obs, e, v)
        row |= {f"variance_{kind}": v, f"z_{kind}": z, f"p_{kind}": _two_sided(z)}
    note = _degenerate_note(name, obs, e, variances, sim)
    return row | {"p_sim": _p_sim(obs, sim), "note": note}


def global_stats(
    values: pd.Series,
    w: WeightsLike,
    *,
    permutations: int | None = None,
    seed: int | None = None,
    other: pd.Series | None = None,
) -> pd.DataFrame:
    """Global Moran's I, Geary's C and Getis-Ord General G (and bivariate Moran's I).

    The moments are written here (checked against esda to 1e-10 in the tests) because
    importing esda costs more than the statistics.

    Parameters
    ----------
    values : pandas.Series
        Numeric and finite, on the units' index, covering the weights' units.
    w : Weights, libpysal.graph.Graph or libpysal.weights.W
        From :func:`geotool.weights.build`, or libpysal's (values kept).
    permutations, seed : int, optional
        Defaults from :mod:`geotool.settings`; one set of relabellings serves I, C, G.
    other : pandas.Series, optional
        Adds bivariate Moran's I of ``values`` with the lag of ``other`` (permuted).

    Returns
    -------
    pandas.DataFrame
        One row per statistic: ``statistic, value, expected, variance_norm, z_norm,
        p_norm, variance_rand, z_rand, p_rand, p_sim, permutations, seed, n, weights,
        variable, note``; G only for non-negative values. ``note`` (also logged) says
        why a statistic cannot be tested (weights under which every arrangement gives
        the same value): its z and p are then NaN.

    """
    w = as_weights(w)
    x = _check_values(values, w)
    n = len(x)
    permutations, seed = _inference(permutations, seed, n)
    rows = _global_rows(x, w, permutations, seed)
    if other is not None:
        y = _check_values(other, w, "other")
        rows.append(_moran_bv(x, y, w, permutations, seed, name=other.name))
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


def _global_rows(x: np.ndarray, w: Weights, permutations: int, seed: int) -> list[dict]:
    """Moran's I, Geary's C and (non-negative values) General G: one stream of relabellings."""
    n = len(x)
    wr, wb = w.row_standardised(), w.binary()
    z = x - x.mean()
    m2 = z @ z
    kurt = n * (z**4).sum() / m2**2
    s0, s1, s2, deg = _moments_degrees(wr)
    i_obs = n / s0 * (z @ (wr @ z)) / m2
    ei = -1.0 / (n - 1)
    vi_norm = (n**2 * s1 - n * s2 + 3 * s0**2) / ((n**2 - 1) * s0**2) - ei**2
    vi_rand = (
        n * ((n**2 - 3 * n + 3) * s1 - n * s2 + 3 * s0**2)
        - kurt * ((n**2 - n) * s1 - 2 * n * s2 + 6 * s0**2)
    ) / ((n - 1) * (n - 2) * (n - 3) * s0**2) - ei**2
    # Geary's C: sum_ij w_ij (x_i - x_j)^2 = sum_i x_i^2 (r_i + c_i) - 2 x'Wx, deg = r + c
    c_obs = (n - 1) * ((z**2) @ deg - 2 * (z @ (wr @ z))) / (2 * s0 * m2)
    vc_norm = ((2 * s1 + s2) * (n - 1) - 4 * s0**2) / (2 * (n + 1) * s0**2)
    vc_rand = (
        (n - 1) * s1 * (n**2 - 3 * n + 3 - (n - 1) * kurt)
        - 0.25 * (n - 1) * s2 * (n**2 + 3 * n - 6 - (n**2 - n + 2) * kurt)
        + s0**2 * (n**2 - 3 - (n - 1) ** 2 * kurt)
    ) / (n * (n - 2) * (n - 3) * s0**2)
    g_den = x.sum() ** 2 - (x**2).sum()
    with_g = bool((x >= 0).all()) and g_den > 0  # else no G (0 / 0)
    quad_r, sq, quad_b = permuted_statistics(
        z, wr, permutations, rng_for(seed, "global"), degrees=deg,
        binary=wb if with_g else None, shift=float(x.mean()),
    )  # fmt: skip
    sim_c = (n - 1) * (sq - 2 * quad_r) / (2 * s0 * m2)
    rows = [
        _tested("moran_i", i_obs, ei, (vi_norm, vi_rand), n / s0 * quad_r / m2),
        _tested("geary_c", c_obs, 1.0, (vc_norm, vc_rand), sim_c),
    ]
    if with_g:
        eg, vg = _getis_ord_moments(x, wb)
        rows.append(_tested("getis_ord_g", (x @ (wb @ x)) / g_den, eg, (vg,), quad_b / g_den))
    return rows


def _getis_ord_moments(x: np.ndarray, wb: sp.csr_matrix) -> tuple[float, float]:
    """Expectation and variance of General G (Getis and Ord 1992)."""
    n = len(x)
    b0, b1, b2 = _moments(wb)
    eg = b0 / (n * (n - 1))
    m1, m2, m3, m4 = (float((x**k).sum()) for k in (1, 2, 3, 4))
    c0 = (n**2 - 3 * n + 3) * b1 - n * b2 + 3 * b0**2
    c1 = -((n**2 - n) * b1 - 2 * n * b2 + 6 * b0**2)
    c2 = -(2 * n * b1 - (n + 3) * b2 + 6 * b0**2)
    c3 = 4 * (n - 1) * b1 - 2 * (n + 1) * b2 + 8 * b0**2
    c4 = b1 - b2 + b0**2
    eg2 = (c0 * m2**2 + c1 * m4 + c2 * m1**2 * m2 + c3 * m1 * m3 + c4 * m1**4) / (
        (m1**2 - m2) ** 2 * n * (n - 1) * (n - 2) * (n - 3)
    )
    return eg, eg2 - eg**2


def _moran_bv(
    x: np.ndarray, y: np.ndarray, w: Weights, permutations: int, seed: int, *, name: object
) -> dict[str, Any]:
    """Bivariate Moran's I of ``x`` with the lag of ``y`` (``y`` permuted)."""
    n, wr = len(x), w.row_standardised()
    zx = (x - x.mean()) / x.std()
    zy = (y - y.mean()) / y.std()
    ibv = float(zx @ (wr @ zy) / n)
    sim = permuted_quadratic_forms(zx, wr, permutations, rng_for(seed, "moran_bv"), y=zy) / n
    e_sim = float(np.mean(sim)) if len(sim) else float("nan")
    sd_sim = float(np.std(sim)) if len(sim) else float("nan")
    z_sim = (ibv - e_sim) / sd_sim if sd_sim > 0 else float("nan")
    return _row(f"moran_bv:{name}", ibv, e_sim, z_sim=z_sim, p_sim=_p_sim(ibv, sim))


def _falling(a: int, k: int) -> float:
    return math.prod(a - i for i in range(k))


def _join_count_moments(
    wsym: sp.csr_matrix, deg: np.ndarray, n: int, n1: int
) -> list[tuple[float, float]]:
    """Expectations and variances of BB, BW, WW: Cliff and Ord (1981), non-free sampling.

    ``wsym`` symmetric and binary (S0 counts each join in both directions).
    """
    n2 = n - n1
    s0 = wsym.sum()
    s1 = 0.5 * ((2 * wsym.data) ** 2).sum()
    s2 = ((2 * deg) ** 2).sum()
    e_bb = 0.5 * s0 * _falling(n1, 2) / _falling(n, 2)
    e_ww = 0.5 * s0 * _falling(n2, 2) / _falling(n, 2)
    e_bw = s0 * n1 * n2 / _falling(n, 2)

    def var_same(k: int, e: float) -> float:
        a = s1 * _falling(k, 2) / _falling(n, 2) + (s2 - 2 * s1) * _falling(k, 3) / _falling(n, 3)
        return 0.25 * (a + (s0**2 + s1 - s2) * _falling(k, 4) / _falling(n, 4)) - e**2

    a = 2 * s1 * n1 * n2 / _falling(n, 2) + (s2 - 2 * s1) * n1 * n2 * (n1 + n2 - 2) / _falling(n, 3)
    b = 4 * (s0**2 + s1 - s2) * _falling(n1, 2) * _falling(n2, 2) / _falling(n, 4)
    v_bw = 0.25 * (a + b) - e_bw**2
    return [(e_bb, var_same(n1, e_bb)), (e_bw, v_bw), (e_ww, var_same(n2, e_ww))]


def join_counts(
    member: pd.Series,
    w: WeightsLike,
    *,
    permutations: int | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Join counts BB, BW and WW of a 0/1 variable, with binary weights.

    Each join (unordered neighbouring pair) counts once. Moments are Cliff and Ord's
    under non-free sampling; ``p_sim`` is folded, as :func:`global_stats`'.

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
    n, n1 = len(x), int(x.sum())
    joins = wsym.sum() / 2
    bb = x @ (wsym @ x) / 2
    ww = (1 - x) @ (wsym @ (1 - x)) / 2
    bw = joins - bb - ww
    deg = np.asarray(wsym.sum(axis=1)).ravel()
    (e_bb, v_bb), (e_bw, v_bw), (e_ww, v_ww) = _join_count_moments(wsym, deg, n, n1)
    # y'Wy / 2 joins of 1s; sum_i deg_i y_i joins touching a 1, minus twice those: 1-0 joins
    quad, touching, _ = permuted_statistics(
        x, wsym, permutations, rng_for(seed, "join_counts"), degrees=deg
    )
    sim_bb = quad / 2
    sim_bw = touching - 2 * sim_bb
    sim_ww = joins - sim_bb - sim_bw
    rows = []
    for name, obs, e, v, sim in (
        ("BB", bb, e_bb, v_bb, sim_bb),
        ("BW", bw, e_bw, v_bw, sim_bw),
        ("WW", ww, e_ww, v_ww, sim_ww),
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


def _significant(p: np.ndarray, alpha: float, adjust: str) -> np.ndarray:
    """Which p-values are significant at ``alpha`` under a multiple-comparison rule.

    Only finite p-values are tests (NaN is never significant, nor counted in ``m``):
    ``"none"`` ``p <= alpha``; ``"bonferroni"`` ``p <= alpha / m``; ``"fdr"``
    Benjamini-Hochberg step-up.
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


def sidedness(sided: str | None) -> str:
    """The sidedness of local p-values asked for, checked (``"two"`` is ``"two-sided"``).

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
    """Why the adjustment cannot find a unit, or does not hold at ``alpha`` (logged); or ""."""
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


def significance(
    p: np.ndarray, *, alpha: float, adjust: str, sided: str, permutations: int
) -> tuple[np.ndarray, str, str]:
    """Which local p-values are significant, the rule in words, and the adjustment's note.

    The rule of :func:`local_stats` for callers with p-values of their own (raster cells);
    ``adjust`` and ``sided`` as :func:`adjustment` and :func:`sidedness` return them.
    """
    tested = int(np.isfinite(p).sum())
    note = _adjust_note(adjust, sided, alpha, permutations, tested or len(p))
    return _significant(p, alpha, adjust), _rule_words(alpha, adjust, sided), note


_QUADRANTS = list(LISA_CLASSES)  # codes 0-3 the quadrants, 4 "Not significant"


def _quadrant(z: np.ndarray, lag: np.ndarray) -> np.ndarray:
    """Each unit's quadrant of the Moran scatter as a code into :data:`_QUADRANTS`.

    A look-up by the two signs (3 x 3; a 0 or NaN is "Not significant"'s 4).
    """
    side = 3 * (z > 0).astype(np.int8) + 6 * (z < 0).astype(np.int8)  # 3 high, 6 low
    side += (lag > 0).astype(np.int8) + 2 * (lag < 0).astype(np.int8)  # + 1 high, 2 low
    return _QUADRANT_OF[side]


#: :func:`_quadrant`'s codes by ``3 [z > 0] + 6 [z < 0] + [lag > 0] + 2 [lag < 0]``.
_QUADRANT_OF = np.array([4, 4, 4, 4, 0, 3, 4, 2, 1], dtype=np.int8)


def _lisa(
    zx: np.ndarray, zy: np.ndarray, wr: sp.csr_matrix, permutations: int, rng: Any, *, sided: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lag of ``zy``, local Moran ``I_i`` (esda's normalisation) and its p-values."""
    lag = wr @ zy
    ii = (len(zx) - 1) * zx * lag / (zx @ zx)
    if not permutations:
        return lag, ii, np.full(len(zx), np.nan)
    p = conditional_pvalues(zy, wr, permutations, rng, zx, observed=lag)
    return lag, ii, _local_p(p, sided)


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
        Any weights (values kept).
    permutations, seed : int, optional
        Defaults from :mod:`geotool.settings`; 0 permutations: no ``p_sim``, every unit
        "Not significant".
    alpha : float
        Significance level of ``significant``, the class and ``gi_star_significant``.
    adjust : {"none", "bonferroni", "fdr"}, optional
        Multiple-comparison rule over the units with a p-value.
    fdr : bool
        ``True`` is an alias of ``adjust="fdr"`` (old callers).
    gi_star : bool
        Also compute Gi*. Its ``gi_star_p_sim`` is LISA's conditional permutation test
        read for Gi* (the same draws: Gi* rises with the same lag), so it costs no
        permutations of its own; with negative weights it draws its own.
    sided : {"two-sided", "folded"}
        Sidedness of ``p_sim`` and ``gi_star_p_sim`` (module docstring).

    Returns
    -------
    pandas.DataFrame
        In the order of ``values``' index: ``value, z, lag, Ii, p_sim, quadrant,
        significant, lisa_class, gi_star`` (neighbourhood mean over the total, as GeoDa
        and esda), ``gi_star_z, gi_star_p_norm, gi_star_p_sim, gi_star_significant,
        adjust, p_sided``. ``attrs``: ``adjust, alpha, p_sided, lisa_rule`` (e.g.
        ``"two-sided p <= 0.05, FDR"``), ``degenerate_note`` (units neighbouring every
        other at equal weights: not tested) and ``adjust_note`` (both logged).

    """
    alpha = check.alpha(alpha)
    adjust = adjustment(adjust, fdr)
    sided = sidedness(sided)
    w = as_weights(w)
    x = _check_values(values, w)
    permutations, seed = _inference(permutations, seed, len(x))
    z = (x - x.mean()) / x.std()
    wr = w.row_standardised()
    lag = wr @ z
    ii = (len(z) - 1) * z * lag / (z @ z)
    p_lag = np.full(len(x), np.nan)
    if permutations:  # stream "lisa"; Gi* too, when its weights are not negative
        p_lag = lag_pvalues(z, wr, permutations, rng_for(seed, "lisa"), observed=lag)
    untestable = _neighbours_all(w.sparse)
    p_lag[untestable] = np.nan  # their lag is the same under every permutation
    p_sim = _local_p(at_mean_p(p_lag, z), sided)
    significant = _significant(p_sim, alpha, adjust)
    degenerate_note = _untestable_note(w, untestable)
    note = _adjust_note(adjust, sided, alpha, permutations, int(np.isfinite(p_sim).sum()) or len(x))
    quadrant = _quadrant(z, lag)
    columns = {
        "value": x.copy(), "z": z, "lag": lag, "Ii": ii, "p_sim": p_sim,
        "quadrant": _labels(quadrant, _QUADRANTS), "significant": significant,
        "lisa_class": _labels(np.where(significant, quadrant, 4), _QUADRANTS),
    }  # fmt: skip
    if gi_star:
        gi_p = _gi_star_p(x, w, permutations, seed, p_lag)
        gi_p[untestable] = np.nan
        gi_p = _local_p(gi_p, sided)
        columns |= _gi_star(x, w) | {
            "gi_star_p_sim": gi_p, "gi_star_significant": _significant(gi_p, alpha, adjust)
        }  # fmt: skip
    out = _on_units(columns | {"adjust": adjust, "p_sided": sided}, w, values.index)
    out.attrs.update(
        adjust=adjust,
        alpha=alpha,
        p_sided=sided,
        lisa_rule=_rule_words(alpha, adjust, sided),
        adjust_note=note,
        degenerate_note=degenerate_note,
    )
    return out


def _gi_star_p(
    x: np.ndarray, w: Weights, permutations: int, seed: int, p_lag: np.ndarray
) -> np.ndarray:
    """Gi*'s folded permutation p: LISA's, from the same draws, for non-negative weights.

    With the unit's own weight fixed, Gi* rises with ``sum_j w_ij x_j``, and so with the
    row-standardised lag of ``z`` that LISA counts (``W_i > 0``): under conditional
    randomisation both are one test of the same lag, so LISA's counts give Gi*'s
    p-values for free (a valid conditional permutation test; esda and GeoDa draw again).
    Negative weights: its own draws (stream ``"gi_star"``) on the raw weights.
    """
    if not permutations:
        return np.full(len(x), np.nan)
    if (w.sparse.data > 0).all():
        return p_lag.copy()
    ones = np.ones(len(x))
    return conditional_pvalues(x, w.sparse, permutations, rng_for(seed, "gi_star"), ones)


def _gi_star(x: np.ndarray, w: Weights) -> dict[str, Any]:
    """Gi*, its z and two-sided normal p: each unit in its own neighbourhood (esda's rule)."""
    raw, n = w.sparse, len(x)
    if w.is_binary:  # sums of ones, exact in any order: each row's count, and its own
        wi = s1i = np.diff(raw.indptr) + 1.0
        lag_star = raw @ x + x  # without building W + I (a third of Gi*'s time at 10^6)
    else:
        self_weight = np.asarray(raw.max(axis=1).todense()).ravel()
        wstar = (raw + sp.diags(np.where(self_weight > 0, self_weight, 1.0))).tocsr()
        wi, s1i = _star_sums(wstar)
        lag_star = wstar @ x
    xbar = x.mean()
    s = math.sqrt(max((x**2).mean() - xbar**2, 0.0))
    spread = np.sqrt(np.maximum((n * s1i - wi**2) / (n - 1), 0.0))
    # no z for a unit whose neighbourhood is every unit, nor for one without neighbours
    spread[np.diff(raw.indptr) == 0] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        gi_z = np.where(spread > 0, (lag_star - xbar * wi) / (s * spread), np.nan)
    return {
        "gi_star": lag_star / wi / x.sum() if x.sum() != 0 else np.nan,
        "gi_star_z": gi_z,
        "gi_star_p_norm": erfc(np.abs(gi_z) / math.sqrt(2)),
    }


def _star_sums(wstar: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Row sums of Gi*'s weights and of their squares, as scipy's ``sum(axis=1)``."""
    n = wstar.shape[0]
    rows = np.flatnonzero(np.diff(wstar.indptr))  # every row: each holds its unit
    starts = wstar.indptr[rows]
    wi, s1i = np.zeros(n), np.zeros(n)
    wi[rows] = np.add.reduceat(wstar.data, starts)
    squares = wstar.data * wstar.data  # wstar.multiply(wstar) without its index merge ...
    if squares.all():
        s1i[rows] = np.add.reduceat(squares, starts)
    else:  # ... which drops squares that underflow to 0
        s1i = np.asarray(wstar.multiply(wstar).sum(axis=1)).ravel()
    return wi, s1i


def _neighbours_all(weights: sp.csr_matrix) -> np.ndarray:
    """Units whose neighbours are all the others at equal weights: no permutation test."""
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
        Default ``queen, rook, knn:6`` and the data's own distance band
        (:func:`geotool.weights.neighbour_band`, e.g. ``distance:140km``).
    permutations, seed : int, optional
        As :func:`global_stats`.

    Returns
    -------
    pandas.DataFrame
        :func:`global_stats`' rows for every spec that builds; the others are logged
        and named with their reason in ``attrs["skipped"]`` (none builds: the first
        one's error is raised).

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
    """Moran scatter plot of :func:`local_stats`' ``z`` against ``lag``, by LISA class.

    A :class:`matplotlib.figure.Figure` (no pyplot: the caller's backend is never
    switched); ``moran_i`` is printed when given, the fitted slope drawn either way.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 5), dpi=110)
    ax = fig.add_subplot()
    for cls, colour in LISA_CLASSES.items():
        part = local[local["lisa_class"] == cls]
        quiet = cls == "Not significant"
        ax.scatter(
            part["z"], part["lag"], s=12, c=colour, edgecolors="#999999" if quiet else "none",
            linewidths=0.4, label=f"{cls} ({len(part)})", zorder=2 if quiet else 3,
        )  # fmt: skip
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

    Returns
    -------
    dict
        ``global`` (:func:`global_stats`), ``join_counts`` and ``local_join_counts``
        (BB; a 0/1 variable only, else ``None``), ``local`` (:func:`local_stats`),
        ``local_geary``, ``lisa_counts`` (every class), ``adjust``, ``p_sided``,
        ``lisa_rule``, ``weights`` (the connectivity report), ``alpha`` and ``fdr``.

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
        "fdr": local.attrs["adjust"] == "fdr",
    }


def _binary_values(values: pd.Series, w: Weights, name: str) -> np.ndarray:
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


def _check_case(case: object, z: pd.Series | None) -> str:
    if not isinstance(case, str) or case.upper() not in _LJC_CASES:
        msg = f"case must be one of {', '.join(_LJC_CASES)}, got {str(case)[:40]!r}."
        raise InputError(msg)
    case = case.upper()
    if case == "BB" and z is not None:
        msg = "z is used by case 'BJC' or 'CLC' only; drop z, or choose one of those cases."
        raise InputError(msg)
    if case != "BB" and z is None:
        msg = f"case {case!r} compares two variables; give the second as z=."
        raise InputError(msg)
    return case


def _ljc(
    x: np.ndarray, z: Any, wb: sp.csr_matrix, case: str, *, permutations: int, rng: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(a, counts, p, tested)``: ``a`` the tested units' indicator, ``b`` the counted one."""
    if case == "BB":
        a, b = x, x
    elif case == "BJC":
        a, b = x * (1 - z), z * (1 - x)
    else:
        a = b = x * z
    lag = wb @ b
    ljc = a * lag
    tested = (a == 1) & (ljc > 0)
    p = np.full(len(x), np.nan)
    if permutations:  # counts are sums of 1.0s, exact; ties count anyway
        upper, _ = conditional_counts(
            b, wb, permutations, rng, observed=lag, tol=1e-9, units=tested
        )
        p[tested] = (upper[tested] + 1.0) / (permutations + 1.0)
    return a, ljc, p, tested


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

    With binary weights, unit ``i``'s count ``a_i * sum_j w_ij b_j`` is, by ``case``:

    * ``"BB"``: ``x_i * #{j: x_j = 1}`` (esda's ``Join_Counts_Local``);
    * ``"BJC"`` (no co-location): ``x_i (1 - z_i) * #{j: z_j = 1, x_j = 0}``;
    * ``"CLC"`` (co-location): ``x_i z_i * #{j: x_j = z_j = 1}`` (``Join_Counts_Local_BV``).

    ``p_sim``: conditional randomisation of ``b`` (pairs ``(x_j, z_j)`` together),
    one-sided (upper), ties counted, for the tested units with a join (esda's rule). For
    BJC with co-located units esda counts every permuted neighbour with ``z = 1``, which
    is not the observed statistic; here the permuted counts count what the count counts
    (``attrs["co_located"]`` says how many units have ``x = z = 1``).

    Parameters
    ----------
    x : pandas.Series
        0/1 (or boolean) values on the units' index, covering the weights' units.
    w : Weights, libpysal.graph.Graph or libpysal.weights.W
        Any weights; binarised.
    z : pandas.Series, optional
        The second 0/1 variable, for ``"BJC"`` and ``"CLC"``.
    case : {"BB", "BJC", "CLC"}
        Which count.
    permutations, seed, alpha
        As :func:`local_stats` (stream ``"ljc:" + case``; 0 permutations: counts only).

    Returns
    -------
    pandas.DataFrame
        In the order of ``x``'s index: ``value``, ``z`` (if given), ``ljc, p_sim,
        significant, cluster`` (``"<case> cluster"``, ``"not significant"`` or
        ``"not tested (...)"`` with the reason) and ``p_sided`` (``"upper"``: the
        direction is stated before the data are seen). ``attrs``: ``case,
        permutations, seed, alpha, p_sided, weights`` (and ``co_located``).

    """
    case = _check_case(case, z)
    alpha = check.alpha(alpha)
    w = as_weights(w)
    xv = _binary_values(x, w, "x")
    zv = None if z is None else _binary_values(z, w, "z")
    permutations, seed = _inference(permutations, seed, len(xv))
    rng = rng_for(seed, "ljc:" + case)
    a, ljc, p_sim, tested = _ljc(xv, zv, w.binary(), case, permutations=permutations, rng=rng)
    significant = p_sim <= alpha  # NaN (not tested, or no permutations) is False
    untested = {"BB": "x = 0", "BJC": "x = 0 or z = 1", "CLC": "x = 0 or z = 0"}[case]
    cluster = np.select(
        [significant, tested & (permutations > 0), tested, a == 1],
        [f"{case} cluster", "not significant", "not tested (no permutations)",
         "not tested (no joins)"],
        default=f"not tested ({untested})",
    )  # fmt: skip
    columns: dict[str, Any] = {"value": xv.copy()} | ({} if zv is None else {"z": zv.copy()})
    columns |= {
        "ljc": ljc, "p_sim": p_sim, "significant": significant, "cluster": cluster,
        "p_sided": "upper",
    }  # fmt: skip
    out = _on_units(columns, w, x.index)
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


def _geary_inputs(values: pd.Series | pd.DataFrame) -> tuple[list[pd.Series], pd.Index]:
    """One Series per variable of :func:`local_geary`, and the index to order by."""
    if isinstance(values, pd.DataFrame):
        if values.shape[1] == 0 or values.columns.has_duplicates:
            msg = (
                f"values has {'no' if values.shape[1] == 0 else 'duplicated'} columns "
                f"({list(values.columns)}); give one named numeric column per variable."
            )
            raise InputError(msg)
        return [values[col] for col in values.columns], values.index
    if isinstance(values, pd.Series):
        return [values], values.index
    msg = (
        "values must be a pandas Series (one variable) or DataFrame (several) on the "
        f"units' index, got {type(values).__name__}."
    )
    raise InputError(msg)


_GEARY_CLASSES = ["High-High", "Low-Low", "Other Positive", "Negative", "Not significant"]
_GEARY_MV_CLASSES = ["Positive", "Negative", "Not significant"]


def _geary_class(
    z: np.ndarray, lag: np.ndarray, low: np.ndarray, significant: np.ndarray
) -> np.ndarray:
    """GeoDa's local Geary classes by the tail ``c_i`` lies in (lower: positive)."""
    if z.shape[1] > 1:
        return _labels(np.where(significant, np.where(low, 0, 1), 2), _GEARY_MV_CLASSES)
    code = np.full(len(z), 2, dtype=np.int8)  # "Other Positive"
    code[(z[:, 0] > 0) & (lag[:, 0] > 0)] = 0
    code[(z[:, 0] < 0) & (lag[:, 0] < 0)] = 1
    return _labels(np.where(significant, np.where(low, code, 3), 4), _GEARY_CLASSES)


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

    ``c_i = (1/k) sum_v sum_j w_ij (z_vi - z_vj)^2`` over ``k`` variables standardised
    with ``ddof=0``, weights row-standardised: esda's ``Geary_Local`` and
    ``Geary_Local_MV`` (checked in ``tests/test_local_geary.py``). Small ``c_i``:
    neighbours alike, relative to the unit's own reference distribution (its expected
    value grows with ``z_i^2``). ``p_sim``: conditional randomisation, ties counted (so
    a unit at the mode among neighbours at the mode is not significant, as it is in
    esda and GeoDa); two-sided by default, or ``sided="folded"``. Classes, GeoDa's, by
    the tail the p-value lies in: lower, "High-High", "Low-Low" or "Other Positive"
    (several variables: "Positive"); upper, "Negative".

    Parameters
    ----------
    values : pandas.Series or pandas.DataFrame
        One variable, or ``k >= 2`` numeric columns, on the units' index, covering the
        weights' units; finite, none constant.
    w : Weights, libpysal.graph.Graph or libpysal.weights.W
        Any weights; row-standardised here.
    permutations, seed, alpha, sided
        As :func:`local_stats` (stream ``"local_geary"``; 0 permutations: ``c`` only).

    Returns
    -------
    pandas.DataFrame
        In the order of ``values``' index. One variable: ``value, z, lag, c, p_sim,
        significant, cluster, p_sided``; several: ``z:NAME`` and ``lag:NAME`` per
        variable, then ``c, p_sim, significant, cluster, p_sided``. ``attrs``:
        ``alpha, p_sided``.

    """
    alpha = check.alpha(alpha)
    sided = sidedness(sided)
    w = as_weights(w)
    series, index = _geary_inputs(values)
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
        columns: dict[str, Any] = {"value": x[:, 0], "z": z[:, 0], "lag": lag[:, 0]}
    else:
        columns = {}
        for v, s in enumerate(series):
            columns |= {f"z:{s.name}": z[:, v], f"lag:{s.name}": lag[:, v]}
    cluster = _geary_class(z, lag, low, significant)
    columns |= {
        "c": c, "p_sim": p_sim, "significant": significant, "cluster": cluster, "p_sided": sided
    }  # fmt: skip
    out = _on_units(columns, w, index)
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

    ``I_i = (n - 1) / n * z_x,i * lag(z_y)_i`` (population standard deviations,
    row-standardised weights): esda's ``Moran_Local_BV``. "High-High": a high ``x``
    among neighbours of high ``y``. Co-location, not cause; asymmetric in ``x``, ``y``.
    ``p_sim``: conditional randomisation of ``y`` as :func:`local_stats`.

    Parameters
    ----------
    x, y : pandas.Series
        The variable at each unit, and the one whose lag is taken: numeric, finite, not
        constant, covering the weights' units.
    w : Weights, libpysal.graph.Graph or libpysal.weights.W
        Any weights; row-standardised here.
    permutations, seed, alpha, adjust, sided
        As :func:`local_stats` (stream ``"lisa_bv"``).

    Returns
    -------
    pandas.DataFrame
        In the order of ``x``'s index: ``x, y, z_x, z_y, lag_y, Ii, p_sim, quadrant,
        significant, lisa_class, p_sided``. ``attrs``: ``x, y, adjust, alpha, p_sided,
        lisa_rule, adjust_note, permutations, seed, weights``.

    """
    alpha = check.alpha(alpha)
    adjust = adjustment(adjust)
    sided = sidedness(sided)
    w = as_weights(w)
    xv = _check_values(x, w, "x")
    yv = _check_values(y, w, "y")
    n = len(xv)
    permutations, seed = _inference(permutations, seed, n)
    zx = (xv - xv.mean()) / xv.std()
    zy = (yv - yv.mean()) / yv.std()
    rng = rng_for(seed, "lisa_bv")
    lag, ii, p_sim = _lisa(zx, zy, w.row_standardised(), permutations, rng, sided=sided)
    significant = _significant(p_sim, alpha, adjust)
    note = _adjust_note(adjust, sided, alpha, permutations, int(np.isfinite(p_sim).sum()) or n)
    quadrant = _quadrant(zx, lag)
    out = _on_units(
        {
            "x": xv.copy(), "y": yv.copy(), "z_x": zx, "z_y": zy, "lag_y": lag, "Ii": ii,
            "p_sim": p_sim, "quadrant": _labels(quadrant, _QUADRANTS), "significant": significant,
            "lisa_class": _labels(np.where(significant, quadrant, 4), _QUADRANTS),
            "p_sided": sided,
        },
        w, x.index,
    )  # fmt: skip
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
