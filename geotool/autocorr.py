"""Spatial autocorrelation of the rankings: global and local statistics with inference.

Every function takes a value Series indexed by adcode and a :class:`geotool.weights.Weights`
and returns a tidy DataFrame (never an esda object).

Inference, stated once for every table:

* **Analytical** (``z_norm``/``p_norm``, ``z_rand``/``p_rand``): under the normality and
  the randomisation assumptions, from esda's formulas; p-values **two-sided**.
* **Permutation** (``p_sim``): ``permutations`` random relabellings drawn from a
  ``numpy`` generator seeded with ``seed`` and the statistic's name
  (:mod:`geotool._perm`), so every number is reproducible from ``--seed``. ``p_sim``
  is **one-sided in the direction of the observed statistic** (``(m + 1) / (P + 1)``,
  ``m`` = simulated values at least as extreme on the observed side), the convention
  of GeoDa and esda; double it for a two-sided test. Global statistics use total
  randomisation, local ones conditional randomisation (each unit keeps its value).

Weights: Moran's I, Geary's C, local Moran and bivariate Moran use row-standardised
weights; Getis-Ord G, Gi* and join counts use binary weights (Gi* with each unit
included in its own neighbourhood).

Islands are handled before any statistic (:func:`geotool.weights.build`), because
esda's ``Moran_Local`` gives an island a spatial lag of 0 whatever ``island_weight``
says.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from geotool import boundaries, rankings, settings
from geotool._errors import InputError
from geotool._perm import (
    conditional_pvalues,
    folded_pvalue,
    permuted_quadratic_forms,
    rng_for,
)
from geotool.weights import Weights

__all__ = [
    "LISA_CLASSES",
    "global_stats",
    "join_counts",
    "local_stats",
    "ranking_variables",
    "sensitivity",
]

#: LISA classes in their conventional order (and GeoDa's colours, used by the maps).
LISA_CLASSES = {
    "High-High": "#d7191c",
    "Low-Low": "#2c7bb6",
    "Low-High": "#abd9e9",
    "High-Low": "#fdae61",
    "Not significant": "#eeeeee",
}


def ranking_variables(ranking: str, universe: pd.Index | None = None) -> pd.DataFrame:
    """Per unit of a ranking's universe: ``member``, ``score``, ``rank`` and ``tier``.

    ``member`` is 1 for ranked units; ``score`` is ``101 - rank`` for ranked units
    (ties keep their shared rank: both rank-30 counties score 71) and 0 otherwise;
    ``tier`` is the report's tier (industrial counties only, 0 for unranked).

    Examples
    --------
    >>> v = ranking_variables("industrial_counties")
    >>> len(v), int(v["member"].sum()), float(v.loc["320281", "score"])
    (1861, 100, 100.0)

    """
    table = rankings.load(ranking).set_index("adcode")
    ids = rankings.universe(ranking) if universe is None else pd.Index(universe)
    out = pd.DataFrame(index=ids)
    out.index.name = "adcode"
    out["member"] = ids.isin(table.index).astype(int)
    out["rank"] = table["rank"].reindex(ids).astype("Int64")
    out["score"] = (101 - table["rank"]).reindex(ids).fillna(0).astype(float)
    out["tier"] = table["tier"].reindex(ids).fillna(0).astype(int)
    return out


def _check_values(values: pd.Series, w: Weights) -> np.ndarray:
    if not isinstance(values, pd.Series):
        msg = f"values must be a pandas Series indexed by adcode, got {type(values).__name__}."
        raise InputError(msg)
    if not pd.api.types.is_numeric_dtype(values):
        msg = (
            f"Column {values.name!r} is not numeric (dtype {values.dtype}); choose a numeric "
            "column or convert it."
        )
        raise InputError(msg)
    missing = w.ids.difference(values.index)
    if len(missing):
        msg = f"{len(missing)} units of the weights have no value (e.g. {list(missing[:3])})."
        raise InputError(msg)
    x = values.reindex(w.ids).to_numpy(dtype=float)
    if np.isnan(x).any():
        bad = w.ids[np.isnan(x)][:3].tolist()
        msg = f"Column {values.name!r} has missing values for units {bad}; fill or drop them."
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
    return float(2 * stats.norm.sf(abs(z)))


def global_stats(
    values: pd.Series,
    w: Weights,
    *,
    permutations: int | None = None,
    seed: int | None = None,
    other: pd.Series | None = None,
) -> pd.DataFrame:
    """Global Moran's I, Geary's C and Getis-Ord General G (and bivariate Moran's I).

    Parameters
    ----------
    values : pandas.Series
        Numeric, indexed by adcode, covering ``w.ids``.
    w : Weights
        From :func:`geotool.weights.build`.
    permutations : int, optional
        Default :data:`geotool.settings.permutations`.
    seed : int, optional
        Default :data:`geotool.settings.seed`.
    other : pandas.Series, optional
        A second variable: adds bivariate Moran's I of ``values`` with the spatial lag
        of ``other`` (``other`` is permuted for ``p_sim``).

    Returns
    -------
    pandas.DataFrame
        One row per statistic: ``statistic, value, expected, variance_norm, z_norm,
        p_norm, variance_rand, z_rand, p_rand, p_sim, permutations, seed, n, weights``.

    """
    import esda

    permutations = settings.permutations if permutations is None else int(permutations)
    seed = settings.seed if seed is None else int(seed)
    x = _check_values(values, w)
    n = len(x)
    wr = w.graph.transform("r")
    wb = w.graph.transform("b")
    wr_sp = wr.sparse.tocsr()
    wb_sp = wb.sparse.tocsr()
    z = x - x.mean()
    rows = []

    mi = esda.Moran(x, wr, permutations=0)
    sim = permuted_quadratic_forms(z, wr_sp, permutations, rng_for(seed, "moran"))
    sim_i = n / wr_sp.sum() * sim / (z @ z)
    rows.append(
        _row(
            "moran_i", mi.I, mi.EI,
            variance_norm=mi.VI_norm, z_norm=mi.z_norm, p_norm=_two_sided(mi.z_norm),
            variance_rand=mi.VI_rand, z_rand=mi.z_rand, p_rand=_two_sided(mi.z_rand),
            p_sim=float(folded_pvalue(np.array([mi.I]), sim_i)[0]),
        )
    )  # fmt: skip

    gc = esda.Geary(x, wr, permutations=0)
    sim_g = _permuted_geary(z, wr_sp, permutations, rng_for(seed, "geary"))
    rows.append(
        _row(
            "geary_c", gc.C, gc.EC,
            variance_norm=gc.VC_norm, z_norm=gc.z_norm, p_norm=_two_sided(gc.z_norm),
            variance_rand=gc.VC_rand, z_rand=gc.z_rand, p_rand=_two_sided(gc.z_rand),
            p_sim=float(folded_pvalue(np.array([gc.C]), sim_g)[0]),
        )
    )  # fmt: skip

    if (x >= 0).all():
        gg = esda.G(x, wb, permutations=0)
        sim = permuted_quadratic_forms(x, wb_sp, permutations, rng_for(seed, "getis_ord_g"))
        sim_gg = sim / (x.sum() ** 2 - (x**2).sum())
        rows.append(
            _row(
                "getis_ord_g", gg.G, gg.EG,
                variance_norm=gg.VG, z_norm=gg.z_norm, p_norm=_two_sided(gg.z_norm),
                p_sim=float(folded_pvalue(np.array([gg.G]), sim_gg)[0]),
            )
        )  # fmt: skip

    if other is not None:
        y = _check_values(other, w)
        zx = (x - x.mean()) / x.std()
        zy = (y - y.mean()) / y.std()
        ibv = float(zx @ (wr_sp @ zy) / n)
        sim = permuted_quadratic_forms(zx, wr_sp, permutations, rng_for(seed, "moran_bv"), y=zy)
        rows.append(
            _row(
                f"moran_bv:{other.name}", ibv, float(np.mean(sim / n)),
                z_sim=float((ibv - np.mean(sim / n)) / np.std(sim / n)),
                p_sim=float(folded_pvalue(np.array([ibv]), sim / n)[0]),
            )
        )  # fmt: skip

    out = pd.DataFrame(rows)
    out["permutations"] = permutations
    out["seed"] = seed
    out["n"] = n
    out["weights"] = w.spec
    out["variable"] = values.name
    return out


def _permuted_geary(
    z: np.ndarray, wr: Any, permutations: int, rng: np.random.Generator
) -> np.ndarray:
    n = len(z)
    s0 = wr.sum()
    deg = np.asarray(wr.sum(axis=1)).ravel() + np.asarray(wr.sum(axis=0)).ravel()
    out = np.empty(permutations)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, permutations, chunk):
        m = min(chunk, permutations - start)
        block = rng.permuted(np.broadcast_to(z, (m, n)), axis=1)
        quad = (block * (wr @ block.T).T).sum(axis=1)
        out[start : start + m] = (block**2 @ deg) - 2 * quad
    return (n - 1) * out / (2 * s0 * (z @ z))


def _falling(a: int, k: int) -> float:
    return math.prod(a - i for i in range(k))


def join_counts(
    member: pd.Series,
    w: Weights,
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
    permutations = settings.permutations if permutations is None else int(permutations)
    seed = settings.seed if seed is None else int(seed)
    x = _check_values(member, w)
    if not np.isin(x, (0, 1)).all():
        msg = f"Join counts need a 0/1 variable; {member.name!r} has other values."
        raise InputError(msg)
    wb = w.graph.transform("b").sparse.tocsr()
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
    sim_bb = permuted_quadratic_forms(x, wsym, permutations, rng_for(seed, "join_bb")) / 2
    sim_ww = permuted_quadratic_forms(1 - x, wsym, permutations, rng_for(seed, "join_ww")) / 2
    sim_bw = _permuted_bw(x, wsym, permutations, rng_for(seed, "join_bw"))
    rows = []
    for name, obs, e, v, sim in (
        ("BB", bb, e_bb, var_same(n1, e_bb), sim_bb),
        ("BW", bw, e_bw, v_bw, sim_bw),
        ("WW", ww, e_ww, var_same(n2, e_ww), sim_ww),
    ):
        zval = (obs - e) / math.sqrt(v) if v > 0 else float("nan")
        rows.append(
            _row(name, obs, e, variance=v, z_norm=zval, p_norm=_two_sided(zval),
                 p_sim=float(folded_pvalue(np.array([obs]), sim)[0]))
        )  # fmt: skip
    out = pd.DataFrame(rows)
    out["permutations"] = permutations
    out["seed"] = seed
    out["n"] = n
    out["n_black"] = n1
    out["joins"] = int(joins)
    out["weights"] = w.spec
    out["variable"] = member.name
    return out


def _permuted_bw(
    x: np.ndarray, wsym: Any, permutations: int, rng: np.random.Generator
) -> np.ndarray:
    n = len(x)
    deg = np.asarray(wsym.sum(axis=1)).ravel()
    out = np.empty(permutations)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, permutations, chunk):
        m = min(chunk, permutations - start)
        block = rng.permuted(np.broadcast_to(x, (m, n)), axis=1)
        bb = (block * (wsym @ block.T).T).sum(axis=1) / 2
        out[start : start + m] = block @ deg - 2 * bb
    return out


def local_stats(
    values: pd.Series,
    w: Weights,
    *,
    permutations: int | None = None,
    seed: int | None = None,
    alpha: float = 0.05,
    fdr: bool = False,
) -> pd.DataFrame:
    """Local Moran (LISA) with quadrant classes, and local Getis-Ord Gi*.

    Parameters
    ----------
    values : pandas.Series
        Numeric, indexed by adcode, covering ``w.ids``.
    w : Weights
        From :func:`geotool.weights.build`.
    permutations : int, optional
        Default :data:`geotool.settings.permutations`.
    seed : int, optional
        Default :data:`geotool.settings.seed`.
    alpha : float
        Significance level for ``significant`` and the class.
    fdr : bool
        Control the false discovery rate (Benjamini-Hochberg at ``alpha`` over all
        units) instead of testing each unit at ``alpha``.

    Returns
    -------
    pandas.DataFrame
        Indexed by adcode: ``name, value, z, lag (row-standardised lag of z), Ii, p_sim,
        quadrant (HH/LL/LH/HL by the signs of z and lag), significant, lisa_class
        (quadrant name if significant, else "Not significant"), gi_star (with
        row-standardised weights, the unit in its own neighbourhood, as GeoDa and
        esda define it: the neighbourhood mean over the total), gi_star_z (scale-free,
        so the same with binary weights),
        gi_star_p_norm (two-sided), gi_star_p_sim``.

    """
    permutations = settings.permutations if permutations is None else int(permutations)
    seed = settings.seed if seed is None else int(seed)
    if not 0 < alpha < 1:
        msg = f"alpha must be between 0 and 1, got {alpha}."
        raise InputError(msg)
    x = _check_values(values, w)
    n = len(x)
    wr = w.graph.transform("r").sparse.tocsr()
    z = (x - x.mean()) / x.std()
    lag = wr @ z
    ii = (n - 1) * z * lag / (z @ z)  # esda's normalisation
    p_sim = conditional_pvalues(z, wr, permutations, rng_for(seed, "lisa"), z)
    if fdr:
        p_sorted = np.sort(p_sim)
        below = p_sorted <= alpha * np.arange(1, n + 1) / n
        cutoff = p_sorted[np.flatnonzero(below).max()] if below.any() else -1.0
        significant = p_sim <= cutoff
    else:
        significant = p_sim <= alpha
    quadrant = np.select(
        [(z > 0) & (lag > 0), (z < 0) & (lag < 0), (z < 0) & (lag > 0), (z > 0) & (lag < 0)],
        ["High-High", "Low-Low", "Low-High", "High-Low"],
        default="Not significant",
    )
    lisa_class = np.where(significant, quadrant, "Not significant")

    # Gi*: binary weights with each unit in its own neighbourhood.
    wb = w.graph.transform("b").sparse.tocsr()
    wstar = (wb + _identity(n)).tocsr()
    wi = np.asarray(wstar.sum(axis=1)).ravel()
    s1i = np.asarray(wstar.multiply(wstar).sum(axis=1)).ravel()
    xbar = x.mean()
    s = math.sqrt((x**2).mean() - xbar**2)
    gi_z = (wstar @ x - xbar * wi) / (s * np.sqrt((n * s1i - wi**2) / (n - 1)))
    gi_p_sim = conditional_pvalues(x, wb, permutations, rng_for(seed, "gi_star"), np.ones(n))
    names = boundaries.units()["name"].reindex(w.ids).to_numpy()
    return pd.DataFrame(
        {
            "name": names,
            "value": x,
            "z": z,
            "lag": lag,
            "Ii": ii,
            "p_sim": p_sim,
            "quadrant": quadrant,
            "significant": significant,
            "lisa_class": lisa_class,
            "gi_star": (wstar @ x) / wi / x.sum() if x.sum() != 0 else np.nan,
            "gi_star_z": gi_z,
            "gi_star_p_norm": 2 * stats.norm.sf(np.abs(gi_z)),
            "gi_star_p_sim": gi_p_sim,
        },
        index=w.ids,
    )


def _identity(n: int) -> Any:
    import scipy.sparse as sp

    return sp.identity(n, format="csr")


def sensitivity(
    values: pd.Series,
    ids: pd.Index,
    *,
    specs: tuple[str, ...] = ("queen", "rook", "knn:6", "distance:100km"),
    permutations: int | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Global statistics of one variable under several weights, side by side."""
    from geotool.weights import build

    frames = [
        global_stats(values, build(ids, spec), permutations=permutations, seed=seed)
        for spec in specs
    ]
    return pd.concat(frames, ignore_index=True)
