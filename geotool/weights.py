"""Spatial weights for any geometry: contiguity, nearest neighbours, distance bands, kernels.

:func:`build` takes a GeoDataFrame (polygons or points, any CRS, any index) or, as a
fast path, codes of the bundled county layer, and a spec string. :func:`as_weights`
turns a ``libpysal.graph.Graph`` or ``libpysal.weights.W`` into :class:`Weights`
*keeping their values*; every statistic in :mod:`geotool.autocorr` accepts all three.

Specs
-----
``queen`` (default), ``rook``
    Polygons sharing a vertex (queen) or an edge (rook), as GeoDa and libpysal's
    vertex-based contiguity define them. For bundled codes, the shipped neighbour
    table (:func:`geotool.boundaries.neighbours`, identical to the full-resolution
    source's). Points have no contiguity: use ``knn`` or ``distance``.
``knn:K``
    The K nearest units.
``distance:D`` with ``D`` in ``km`` or ``m`` (``distance:100km``)
    Binary band: units closer than D.
``kernel:FUNCTION:knn:K`` (adaptive) or ``kernel:FUNCTION:D`` (fixed, ``D`` in km or m)
    Non-binary weights ``K(d_ij / h_i)`` with FUNCTION one of ``triangular``
    (``1 - z``), ``uniform`` (``1/2``), ``epanechnikov`` (``3/4 (1 - z^2)``),
    ``quartic`` (``15/16 (1 - z^2)^2``) or ``gaussian`` (``exp(-z^2/2) / sqrt(2 pi)``,
    truncated at the bandwidth), libpysal's ``Kernel`` definitions. Fixed: ``h = D``
    for every unit, neighbours are the units closer than D. Adaptive: the neighbours
    are the K nearest units and ``h_i`` is the distance to the K-th of them (times
    1 + 1e-7, so that it stays a neighbour), the convention of libpysal's adaptive
    ``Kernel`` and of GWR; under a compact kernel the K-th neighbour's weight is close
    to 0 (with ties at the K-th distance broken by order, as for ``knn``). No
    self-weights: statistics that include a unit in its own neighbourhood (Gi*) add it
    themselves.

Distances are between representative points in a projected CRS chosen for the data's
extent (:func:`geotool.geometry.analysis_crs`: the China Albers CRS for Chinese data),
never in degrees; the report names it.

Units left without neighbours
-----------------------------
A county universe has holes where city districts lie, so pure contiguity cuts some
counties off (启东 once 海门 became a district), and real islands have none. Leaving
them isolated takes them out of every local test and changes the global statistics
(esda gives an isolate a spatial lag of 0). The ``islands`` rule:

``"nearest"`` (default)
    Join each such unit to its nearest unit, symmetrically, as a full neighbour
    (weight 1, or the kernel's value at distance 0), **if that unit is within the
    bound**: :data:`ISLAND_BOUND_FACTOR` (3) times the median distance from a unit to
    its nearest other unit (over all units, between representative points; e.g. about
    40 km x 3 among counties). A unit whose nearest is farther stays without
    neighbours: a link such as 延边 -> 连云港 (1,320.7 km, on a prefecture table with
    gaps) is not a neighbourhood.
``"max:100km"`` (or ``max:D`` in km or m)
    The same with an explicit bound.
``"nearest:unbounded"``
    Join every such unit to its nearest unit at any distance (the rule before the bound).
``"drop"``
    Remove them from the weights (and so from the statistics).
``"keep"``
    Keep them without neighbours (networks, belts).

``report["islands"]`` gives the rule, the bound, and for every unit without
neighbours its nearest unit, the distance and the action (``details``); a warning is
logged for units left without neighbours, and a **bridge warning** for every join
longer than ``max_bridge_km`` (default: the bound of ``"nearest"``) or across
``groups`` (e.g. provinces). The statistics give a unit left without neighbours no
local test (:mod:`geotool.autocorr`).
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import pandas as pd
import scipy.sparse as sp

from geotool import _validate as check
from geotool import boundaries
from geotool._cache import settings_cache
from geotool._errors import InputError
from geotool._log import log
from geotool._text import short

if TYPE_CHECKING:
    import geopandas as gpd
    from libpysal.graph import Graph
    from libpysal.weights import W

__all__ = [
    "ISLAND_BOUND_FACTOR",
    "KERNELS",
    "Weights",
    "WeightsLike",
    "as_weights",
    "build",
    "neighbour_band",
    "parse_islands",
    "parse_spec",
]

_NUMBER = r"\d+(?:\.\d+)?"
_MAX_K_DIGITS = 9
_SPEC = re.compile(
    rf"^(?:(?P<contig>queen|rook)|knn:(?P<k>\d+)|distance:(?P<d>{_NUMBER})(?P<unit>km|m)"
    rf"|kernel:(?P<fn>[a-z]+):(?:knn:(?P<kk>\d+)|(?P<kd>{_NUMBER})(?P<kunit>km|m)))$"
)

#: ``islands="nearest"`` joins a unit without neighbours only to a unit closer than this
#: many times the median nearest-neighbour distance.
ISLAND_BOUND_FACTOR = 3.0
_ISLANDS = re.compile(rf"^(?:(?P<rule>nearest|nearest:unbounded|drop|keep)|max:(?P<d>{_NUMBER})"
                      r"(?P<unit>km|m))$")  # fmt: skip

#: Kernel functions of z = d / h, 0 <= z < 1 (libpysal's ``Kernel`` definitions).
KERNELS = {
    "triangular": lambda z: 1.0 - z,
    "uniform": lambda z: np.full_like(z, 0.5),
    "epanechnikov": lambda z: 0.75 * (1.0 - z**2),
    "quartic": lambda z: (15.0 / 16.0) * (1.0 - z**2) ** 2,
    "gaussian": lambda z: np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi),
}


@dataclass
class Weights:
    """Spatial weights over a set of units, with what was done to build them.

    The statistics work on :attr:`sparse` directly; :attr:`graph` gives the same
    weights (values kept) as a ``libpysal.graph.Graph``. The Graph is built on first
    use only: importing libpysal costs more than a whole autocorrelation stage.

    Attributes
    ----------
    sparse : scipy.sparse.csr_matrix
        ``(n, n)`` weights, rows and columns in the order of ``ids``, no self-weights.
        Binary (0/1) for contiguity, ``knn`` and ``distance``; kernel values for
        ``kernel`` specs; as given for a Graph or W.
    spec : str
        The spec it was built from (``graph`` / ``W`` when converted).
    ids : pandas.Index
        The units, in order (adcodes for bundled units, else the input's index).
    report : dict
        Connectivity summary: units, links, neighbours (mean/min/max), the island rule,
        the units it touched and its bridges, components, the CRS of distances.

    """

    sparse: sp.csr_matrix
    spec: str
    ids: pd.Index
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def is_binary(self) -> bool:
        """Whether every weight is 1."""
        return bool(np.all(self.sparse.data == 1.0))

    @classmethod
    def from_graph(cls, graph: Graph, spec: str = "graph") -> Weights:
        """Wrap a ``libpysal.graph.Graph``, keeping its weights (self-weights dropped)."""
        return _from_sparse(graph.sparse, pd.Index(graph.unique_ids), spec)

    @classmethod
    def from_w(cls, w: W, spec: str = "W") -> Weights:
        """Wrap a ``libpysal.weights.W`` (in its current transformation), keeping values."""
        return _from_sparse(w.sparse, pd.Index(w.id_order), spec)

    @functools.cached_property
    def graph(self) -> Graph:
        """The weights as a ``libpysal.graph.Graph`` (values kept), indexed by :attr:`ids`."""
        from libpysal.graph import Graph

        return Graph.from_sparse(self.sparse, ids=self.ids)

    def to_gal(self, path: str | Path) -> Path:
        """Write binary weights as a GeoDa ``.gal`` file (ids as given).

        GeoDa (and pygeoda's ``read_gal``) then reads exactly these weights, islands
        rule included, e.g. to compare results across tools. Non-binary weights have no
        ``.gal`` form: :class:`~geotool._errors.InputError`.
        """
        if not self.is_binary:
            msg = f"A .gal file holds binary weights only; weights {self.spec!r} are not binary."
            raise InputError(msg)
        path = Path(path)
        lines = [f"0 {len(self.ids)} units {self.ids.name or 'id'}"]
        ids = [str(i) for i in self.ids]
        for i, code in enumerate(ids):
            row = self.sparse.indices[self.sparse.indptr[i] : self.sparse.indptr[i + 1]]
            lines += [f"{code} {len(row)}", " ".join(ids[j] for j in sorted(row))]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def binary(self) -> sp.csr_matrix:
        """Binary weights: 1 wherever a weight is non-zero (a copy)."""
        out = self.sparse.copy()
        out.data = np.ones_like(out.data)
        return out

    def row_standardised(self) -> sp.csr_matrix:
        """Row-standardised weights: each row sums to 1 (rows without links stay 0)."""
        sums = np.asarray(self.sparse.sum(axis=1)).ravel()
        scale = np.divide(1.0, sums, out=np.zeros_like(sums, dtype=float), where=sums != 0)
        return (sp.diags(scale) @ self.sparse).tocsr()


#: Anything geotool accepts as weights.
WeightsLike = Union[Weights, "Graph", "W"]


def _from_sparse(matrix: Any, ids: pd.Index, spec: str) -> Weights:
    if ids.has_duplicates:
        msg = f"The weights' ids must be unique; {spec} has duplicated ids."
        raise InputError(msg)
    mat = sp.csr_matrix(matrix, dtype=float)
    self_weights = int(np.count_nonzero(mat.diagonal()))
    mat.setdiag(0)
    mat.eliminate_zeros()
    w = Weights(sparse=mat, spec=spec, ids=ids)
    lonely = [str(i) for i in ids[np.flatnonzero(np.diff(mat.indptr) == 0)]]
    w.report = _report(w, {"rule": "as given", "count": len(lonely), "units": lonely})
    if lonely:
        log(
            f"{spec} weights: {len(lonely)} units have no neighbours ({', '.join(lonely[:5])}"
            f"{' ...' if len(lonely) > 5 else ''}): their lag is 0 and they get no local test.",
            logging.WARNING,
        )
    if self_weights:
        w.report["self_weights_dropped"] = self_weights
    return w


def as_weights(w: object) -> Weights:
    """Weights as :class:`Weights`, from itself, a libpysal ``Graph`` or a ``W``.

    Values are kept (binary, row-standardised or kernel, as given); each statistic
    transforms them as it needs (see :mod:`geotool.autocorr`). Self-weights are
    dropped and counted in ``report["self_weights_dropped"]``.

    Raises
    ------
    InputError
        For anything else (``None``, a matrix without ids ...).

    """
    if isinstance(w, Weights):
        return w
    kind = type(w).__module__ + "." + type(w).__name__
    if kind.startswith("libpysal.graph") and hasattr(w, "unique_ids"):
        return Weights.from_graph(w)
    if kind.startswith("libpysal.weights") and hasattr(w, "id_order"):
        return Weights.from_w(w)
    msg = (
        f"w must be geotool Weights, a libpysal.graph.Graph or a libpysal.weights.W, "
        f"got {type(w).__name__}; build weights with geotool.weights.build(geo, 'queen')."
    )
    raise InputError(msg)


def parse_islands(islands: str) -> tuple[str, float | None]:
    """The island rule (see the module docstring) and its explicit bound in km.

    Examples
    --------
    >>> parse_islands("nearest"), parse_islands("max:100km"), parse_islands("max:2500m")
    (('nearest', None), ('max', 100.0), ('max', 2.5))

    """
    m = _ISLANDS.match(str(islands).strip().lower()) if isinstance(islands, str) else None
    if not m:
        msg = (
            f"islands={str(islands)[:40]!r} is not a rule: use 'nearest' (joined within "
            f"{ISLAND_BOUND_FACTOR:g}x the median nearest-neighbour distance), 'max:D' with D "
            "in km or m (max:100km), 'nearest:unbounded', 'drop' or 'keep'."
        )
        raise InputError(msg)
    if m["rule"]:
        return m["rule"], None
    km = float(m["d"]) / (1.0 if m["unit"] == "km" else 1000.0)
    if not math.isfinite(km) or km <= 0:
        msg = f"islands={islands!r} has no positive bound: give a distance, e.g. max:100km."
        raise InputError(msg)
    return "max", km


def parse_spec(spec: str) -> dict[str, Any]:
    """Parse a weights spec such as ``queen``, ``knn:6``, ``distance:100km``, ``kernel:...``.

    Examples
    --------
    >>> parse_spec("kernel:triangular:knn:8")
    {'kind': 'kernel', 'function': 'triangular', 'k': 8}
    >>> parse_spec("distance:50km")
    {'kind': 'distance', 'metres': 50000.0}

    """
    m = _SPEC.match(str(spec).strip().lower())
    if not m or (m["fn"] and m["fn"] not in KERNELS):
        msg = (
            f"Unknown weights spec {str(spec)[:60]!r}; use queen, rook, knn:K (e.g. knn:6), "
            "distance:D with km or m (distance:100km), or kernel:FUNCTION:knn:K / "
            f"kernel:FUNCTION:D (FUNCTION one of {', '.join(KERNELS)})."
        )
        raise InputError(msg)
    if m["contig"]:
        return {"kind": m["contig"]}
    if m["k"] or m["kk"]:
        digits = (m["k"] or m["kk"]).lstrip("0") or "0"
        if len(digits) > _MAX_K_DIGITS:  # int() of 4,300+ digits raises; no data has 10^9 units
            msg = (
                f"Weights spec {short(spec, 40)!r} asks for a {len(digits):,}-digit number of "
                "neighbours; use knn:K with K below the number of units (e.g. knn:6)."
            )
            raise InputError(msg)
        k = int(digits)
        if k < 1:
            msg = f"knn needs k >= 1, got {k} in {short(spec, 40)!r}."
            raise InputError(msg)
        return (
            {"kind": "knn", "k": k} if m["k"] else {"kind": "kernel", "function": m["fn"], "k": k}
        )
    number, unit = (m["d"], m["unit"]) if m["d"] else (m["kd"], m["kunit"])
    metres = float(number) * (1000.0 if unit == "km" else 1.0)
    if not math.isfinite(metres) or metres <= 0:
        msg = f"A distance band must be a positive number of km or m, got {short(spec, 40)!r}."
        raise InputError(msg)
    if m["d"]:
        return {"kind": "distance", "metres": metres}
    return {"kind": "kernel", "function": m["fn"], "metres": metres}


@settings_cache(maxsize=1)
def _bundled_pairs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shipped neighbour pairs as positions in the county layer's order, and the rook flag."""
    index = boundaries.units().index
    pairs = boundaries.neighbours()
    return (
        index.get_indexer(pd.Index(pairs["adcode_a"])),
        index.get_indexer(pd.Index(pairs["adcode_b"])),
        pairs["rook"].to_numpy(),
    )


def _bundled_contiguity(ids: pd.Index, rook: bool) -> tuple[np.ndarray, np.ndarray]:
    a, b, is_rook = _bundled_pairs()
    index = boundaries.units().index
    pos = np.full(len(index), -1)
    pos[index.get_indexer(ids)] = np.arange(len(ids))
    keep = (pos[a] >= 0) & (pos[b] >= 0)
    if rook:
        keep &= is_rook
    pa, pb = pos[a[keep]], pos[b[keep]]
    return np.concatenate([pa, pb]), np.concatenate([pb, pa])


def _geometry_contiguity(geo: gpd.GeoSeries, rook: bool) -> tuple[np.ndarray, np.ndarray]:
    from geotool._topology import neighbour_array

    kinds = set(geo.geom_type.unique())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        msg = (
            f"Contiguity weights need polygons; geo holds {sorted(kinds)}. Use knn:K or "
            "distance:D for points and lines."
        )
        raise InputError(msg)
    a, b = neighbour_array(geo.to_numpy(), rook=rook).T
    return np.concatenate([a, b]), np.concatenate([b, a])


def _knn(tree: Any, pts: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k nearest other units of each unit: (focal, neighbour, distance), self excluded."""
    n = len(pts)
    dist, idx = tree.query(pts, k=min(k + 1, n))
    focal = np.repeat(np.arange(n), idx.shape[1])
    neigh, d = idx.ravel(), dist.ravel()
    other = neigh != focal  # duplicate points may put self anywhere in the row
    focal, neigh, d = focal[other], neigh[other], d[other]
    order = np.lexsort((d, focal))
    focal, neigh, d = focal[order], neigh[order], d[order]
    rank = np.arange(len(focal)) - np.searchsorted(focal, focal)
    keep = rank < k
    return focal[keep], neigh[keep], d[keep]


def _structure(
    parsed: dict[str, Any], where: Any, contiguity: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(focal, neighbour, weight) of a parsed spec; ``where()`` gives points and their tree."""
    kind = parsed["kind"]
    if kind in ("queen", "rook"):
        focal, neigh = contiguity(kind == "rook")
        return focal, neigh, np.ones(len(focal))
    pts, tree = where()
    n = len(pts)
    if kind == "knn" or (kind == "kernel" and "k" in parsed):
        k = parsed["k"]
        if k >= n:
            msg = (
                f"knn:{k} asks for {k} neighbours of each of {n} units; use at most {n - 1} "
                f"(knn:{n - 1})."
            )
            raise InputError(msg)
        if kind == "knn":
            focal, neigh, _ = _knn(tree, pts, k)
            return focal, neigh, np.ones(len(focal))
        focal, neigh, d = _knn(tree, pts, k)
        bandwidth = d.reshape(n, k)[:, -1] * (1.0 + 1e-7)  # the K-th stays in, barely
        z = np.divide(d, bandwidth[focal], out=np.zeros_like(d), where=bandwidth[focal] > 0)
        return focal, neigh, KERNELS[parsed["function"]](z)
    metres = parsed["metres"]
    coo = tree.sparse_distance_matrix(tree, metres, output_type="coo_matrix")
    off = (coo.row != coo.col) & (coo.data < metres)
    focal, neigh, d = coo.row[off], coo.col[off], coo.data[off]
    # sparse_distance_matrix leaves out pairs at distance 0 (identical points): add them
    dup = tree.query_pairs(0.0, output_type="ndarray")
    if len(dup):
        focal = np.concatenate([focal, dup[:, 0], dup[:, 1]])
        neigh = np.concatenate([neigh, dup[:, 1], dup[:, 0]])
        d = np.concatenate([d, np.zeros(2 * len(dup))])
    if kind == "distance":
        return focal, neigh, np.ones(len(focal))
    return focal, neigh, KERNELS[parsed["function"]](d / metres)


def _label_array(
    values: str | pd.Series | None, geo: Any, ids: pd.Index, what: str
) -> np.ndarray | None:
    if values is None:
        return None
    if not isinstance(values, str | pd.Series):
        msg = (
            f"{what} must be a column name of geo or a pandas Series on its index, got "
            f"{type(values).__name__}."
        )
        raise InputError(msg)
    if isinstance(values, str):
        if geo is None or values not in geo.columns:
            msg = f"{what}={values!r} is not a column of geo."
            raise InputError(msg)
        values = geo[values]
    return pd.Series(values).reindex(ids).astype(object).to_numpy()


def build(
    geo: gpd.GeoDataFrame | gpd.GeoSeries | pd.Index | Sequence[str],
    spec: str = "queen",
    *,
    islands: str = "nearest",
    labels: str | pd.Series | None = None,
    groups: str | pd.Series | None = None,
    max_bridge_km: float | None = None,
) -> Weights:
    """Build spatial weights over any set of units.

    Parameters
    ----------
    geo : geopandas.GeoDataFrame, geopandas.GeoSeries, or codes
        The units: any geometry with a CRS and a unique index (the weights' ids), or
        six-digit codes of the bundled county layer (the fast path: shipped neighbour
        table, bundled representative points, names and provinces for the report).
    spec : str
        See the module docstring: ``queen``, ``rook``, ``knn:K``, ``distance:D``,
        ``kernel:FUNCTION:knn:K``, ``kernel:FUNCTION:D``.
    islands : str
        Units without neighbours under ``spec`` (module docstring): ``"nearest"``
        (default: join each to its nearest unit if closer than
        :data:`ISLAND_BOUND_FACTOR` times the median nearest-neighbour distance, else
        leave it without neighbours), ``"max:D"`` (the same with the bound D, in km or
        m: ``"max:100km"``), ``"nearest:unbounded"`` (join at any distance),
        ``"drop"`` (remove them) or ``"keep"`` (no neighbours: networks and belts).
        A unit without neighbours has a lag of 0 and no local test.
    labels : str or pandas.Series, optional
        Names for the report (a column of ``geo`` or a Series on its index); bundled
        codes use the layer's names.
    groups : str or pandas.Series, optional
        A grouping (e.g. province): a bridge across groups is warned about. Bundled
        codes use provinces.
    max_bridge_km : float, optional
        Bridges longer than this are warned about (default: three times the median
        distance from a unit to its nearest unit, the bound of ``"nearest"``).

    Returns
    -------
    Weights
        ``.sparse`` (``.graph`` for a libpysal Graph), the ids kept and a connectivity
        report: ``report["islands"]`` has the ``rule``, ``bound_km``, ``count``,
        ``joined``, ``isolated``, ``dropped``, ``units`` (one line each), ``details``
        (``unit, nearest, km, action`` per unit without neighbours, the action one of
        ``joined``, ``isolated`` (nearest beyond the bound), ``dropped``, ``kept without
        neighbours``) and ``bridges`` (every join with its length).

    Examples
    --------
    >>> from geotool.report import rankings
    >>> w = build(rankings.universe("industrial_counties"), "queen")
    >>> w.report["units"], w.report["islands"]["rule"]
    (1861, 'nearest')

    """
    import geopandas as gpd
    from scipy.spatial import cKDTree

    rule, bound_km = parse_islands(islands)
    if max_bridge_km is not None and not (
        isinstance(max_bridge_km, int | float)
        and not isinstance(max_bridge_km, bool)
        and math.isfinite(max_bridge_km)
        and max_bridge_km > 0
    ):
        msg = f"max_bridge_km must be a positive number of km, got {max_bridge_km!r}."
        raise InputError(msg)
    parsed = parse_spec(spec)
    gdf = None
    if not isinstance(geo, gpd.GeoDataFrame | gpd.GeoSeries | pd.Index | pd.Series | np.ndarray
                      | list | tuple):  # fmt: skip
        msg = (
            f"geo must be a GeoDataFrame, a GeoSeries or a list of bundled county codes, got "
            f"{type(geo).__name__}."
        )
        raise InputError(msg)
    if isinstance(geo, gpd.GeoDataFrame | gpd.GeoSeries):
        from geotool.geometry import positions

        series = geo.geometry if isinstance(geo, gpd.GeoDataFrame) else geo
        gdf = geo if isinstance(geo, gpd.GeoDataFrame) else None
        ids = pd.Index(series.index)
        if ids.has_duplicates:
            dup = ids[ids.duplicated()].unique()[:5].tolist()
            msg = f"geo's index must identify units uniquely; duplicated: {dup}."
            raise InputError(msg)
        check.geometries(series)  # checked here: contiguity needs no positions

        def locate() -> tuple[np.ndarray, str]:
            pos = positions(series)
            return pos.xy, pos.crs_note

        names = _label_array(labels, gdf, ids, "labels")
        group_of = _label_array(groups, gdf, ids, "groups")
        geometries = series

        def contiguity(rook: bool) -> tuple[np.ndarray, np.ndarray]:
            return _geometry_contiguity(geometries, rook)
    else:
        ids = pd.Index(pd.unique(pd.Index(list(geo)).astype(str)), name="adcode")
        from geotool.geometry import bundled_positions

        bpos = bundled_positions(ids)  # shipped points: cheap, and checks the codes

        def locate() -> tuple[np.ndarray, str]:
            return bpos.xy, bpos.crs_note

        units = boundaries.units()
        names = units.loc[ids, "name"].to_numpy() if labels is None else None
        if labels is not None:
            names = _label_array(labels, None, ids, "labels")
        group_of = units.loc[ids, "province"].to_numpy() if groups is None else None
        if groups is not None:
            group_of = _label_array(groups, None, ids, "groups")
        bundled_ids = ids

        def contiguity(rook: bool) -> tuple[np.ndarray, np.ndarray]:
            return _bundled_contiguity(bundled_ids, rook)

    n = len(ids)
    if n < 3:
        msg = f"Spatial weights need at least 3 units, got {n}."
        raise InputError(msg)
    located: list[Any] = []

    def where() -> tuple[np.ndarray, Any]:
        """Positions and their k-d tree, made when first needed.

        Contiguity without units to bridge measures no distance: a third of the time
        of weights from 10^5 polygons went to positions it did not use.
        """
        if not located:
            pts, note = locate()
            located.extend([pts, cKDTree(pts), note])
        return located[0], located[1]

    focal, neigh, wts = _structure(parsed, where, contiguity)
    bridge_weight = (
        1.0 if parsed["kind"] != "kernel" else float(KERNELS[parsed["function"]](np.zeros(1))[0])
    )

    degree = np.bincount(focal, minlength=n)
    lonely = np.flatnonzero(degree == 0)
    if parsed["kind"] == "distance" and 2 * len(lonely) > n:
        # a band that leaves most units alone measures the island rule, not the band
        pts, tree = where()
        nearest_km = tree.query(pts, k=2)[0][:, 1] / 1000
        msg = (
            f"{spec} leaves {len(lonely)} of {n} units without a neighbour (the median "
            f"distance to the nearest unit is {np.median(nearest_km):.3g} km); use a band "
            f"of at least {math.ceil(nearest_km.max()):d}km, which gives every unit one, "
            "or knn:K."
        )
        raise InputError(msg)
    label = (lambda i: f"{ids[i]} {names[i]}") if names is not None else (lambda i: f"{ids[i]}")
    island_report: dict[str, Any] = {
        "rule": str(islands).strip().lower(), "count": len(lonely), "units": [],
    }  # fmt: skip
    if len(lonely):
        joined, island_report = _islands(
            lonely, where, rule=rule, bound_km=bound_km, report=island_report, label=label,
            group_of=group_of, max_bridge_km=max_bridge_km, spec=spec,
        )  # fmt: skip
        focal = np.concatenate([focal, joined[0], joined[1]])
        neigh = np.concatenate([neigh, joined[1], joined[0]])
        wts = np.concatenate([wts, np.full(2 * len(joined[0]), bridge_weight)])
    if len(lonely) and rule == "drop":
        keep = np.setdiff1d(np.arange(n), lonely)
        if len(keep) < 3:
            msg = (
                f"islands='drop' leaves {len(keep)} of {n} units under {spec!r}; use "
                "islands='nearest' or weights that connect more units (knn:K)."
            )
            raise InputError(msg)
        remap = np.full(n, -1)
        remap[keep] = np.arange(len(keep))
        focal, neigh = remap[focal], remap[neigh]
        ids = ids[keep]
        n = len(ids)
    matrix = sp.coo_matrix((wts, (focal, neigh)), shape=(n, n)).tocsr()
    matrix.sum_duplicates()
    if parsed["kind"] != "kernel":  # an island link that was also a neighbour counts once
        matrix.data[:] = 1.0
    else:  # a bridge may coincide with a kernel link: keep the larger weight, once
        dup = sp.coo_matrix((np.ones(len(focal)), (focal, neigh)), shape=(n, n)).tocsr()
        dup.sum_duplicates()
        once = sp.coo_matrix((wts, (focal, neigh)), shape=(n, n))
        matrix = _max_duplicates(once, n) if (dup.data > 1).any() else matrix
    matrix.eliminate_zeros()
    w = Weights(sparse=matrix, spec=spec, ids=ids)
    crs_note = located[2] if located else "none: contiguity measures no distance"
    w.report = _report(w, island_report, crs_note)
    return w


def _typical_nearest(nearest: np.ndarray) -> float:
    """The median distance from a unit to its nearest other (of the positive ones if 0)."""
    median = float(np.median(nearest))
    positive = nearest[nearest > 0]
    return median if median > 0 or not len(positive) else float(np.median(positive))


def _nearest_others(where: Any, units: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Each of ``units``' nearest other unit, the distance to it and the typical one (km).

    The typical distance is the median over all units of the distance to their nearest
    other unit (:func:`_typical_nearest`).
    """
    pts, tree = where()
    dist, idx = tree.query(pts, k=2)
    median = _typical_nearest(dist[:, 1]) / 1000
    nearest = np.where(idx[units, 0] == units, idx[units, 1], idx[units, 0])
    km = np.hypot(*(pts[units] - pts[nearest]).T) / 1000
    return nearest, km, median


def _islands(
    lonely: np.ndarray,
    where: Any,
    *,
    rule: str,
    bound_km: float | None,
    report: dict[str, Any],
    label: Any,
    group_of: np.ndarray | None,
    max_bridge_km: float | None,
    spec: str,
) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    """The links that join units without neighbours ((from, to) positions) and the report.

    ``rule`` and ``bound_km`` are :func:`parse_islands`'; the report gets the bound and,
    per unit, its nearest unit, the distance and what was done.
    """
    joins = rule in ("nearest", "max", "nearest:unbounded")
    try:
        nearest, km, median = _nearest_others(where, lonely)
    except InputError:  # "keep" and "drop" need no positions: the report goes without
        if joins:
            raise
        nearest, km, median = np.full(len(lonely), -1), np.full(len(lonely), np.nan), np.nan
    if rule == "nearest":
        bound_km = ISLAND_BOUND_FACTOR * median
        report["bound_rule"] = (
            f"{ISLAND_BOUND_FACTOR:g} x the median nearest-neighbour distance ({median:.3g} km)"
        )
    elif rule == "max":
        report["bound_rule"] = f"islands='max:{bound_km:g}km'"
    report["bound_km"] = None if bound_km is None else round(float(bound_km), 1)
    within = np.full(len(lonely), joins)
    if joins and bound_km is not None:
        within &= km < bound_km
    otherwise = {"drop": "dropped", "keep": "kept without neighbours"}.get(rule, "isolated")
    details = []
    for i, j, d, ok in zip(lonely, nearest, km, within, strict=True):
        details.append({
            "unit": label(i), "nearest": label(j) if j >= 0 else None,
            "km": round(float(d), 1) if np.isfinite(d) else None,
            "action": "joined" if ok else otherwise,
        })  # fmt: skip
    report["details"] = details
    beyond = "" if bound_km is None else f", beyond {bound_km:.4g} km"

    def line(d: dict[str, Any]) -> str:
        if d["action"] == "joined":
            return f"{d['unit']} -> {d['nearest']}"
        if d["km"] is None:
            return f"{d['unit']} ({d['action']})"
        where = f"nearest {d['nearest']} at {d['km']:g} km"
        return f"{d['unit']} ({d['action']}: {where}{beyond if d['action'] == 'isolated' else ''})"

    report["units"] = [line(d) for d in details]
    report["joined"] = int(within.sum())
    report["isolated"] = 0 if rule == "drop" else int((~within).sum())
    report["dropped"] = len(lonely) if rule == "drop" else 0
    if joins:
        pts, tree = where()
        report["bridges"] = _bridges(
            (lonely[within], nearest[within], km[within]), pts, tree, group_of=group_of,
            label=label, max_bridge_km=max_bridge_km or bound_km, spec=spec,
        )  # fmt: skip
    far = [d for d in details if d["action"] == otherwise and joins]
    if far:
        shown = "; ".join(f"{d['unit']} (nearest {d['nearest']}, {d['km']:g} km)" for d in far[:5])
        log(
            f"{spec} weights: {len(far)} units without neighbours have none within "
            f"{bound_km:.4g} km ({report['bound_rule']}) and stay without neighbours (lag 0, "
            f"no local test): {shown}{' ...' if len(far) > 5 else ''}; islands='max:<D>km' "
            "or 'nearest:unbounded' joins them, knn:K weights give every unit neighbours.",
            logging.WARNING,
        )
    return (lonely[within], nearest[within]), report


def _readable_band(metres: float) -> str:
    """The smallest two-significant-figure distance strictly above ``metres``, as a spec.

    >>> _readable_band(137_200.0), _readable_band(140_000.0), _readable_band(372.0)
    ('distance:140km', 'distance:150km', 'distance:380m')

    """
    unit, value = ("km", metres / 1000) if metres >= 1000 else ("m", max(metres, 1e-3))
    step = 10.0 ** (math.floor(math.log10(value)) - 1)
    band = round((math.floor(value / step + 1e-9) + 1) * step, 10)
    return f"distance:{band:g}{unit}"


def neighbour_band(geo: gpd.GeoDataFrame | gpd.GeoSeries | pd.Index | Sequence[str]) -> str:
    """The distance band of sensitivity analyses, from the data's own scale.

    The smallest band that gives every unit a neighbour (the largest distance from a
    unit to its nearest other unit, between the representative points of
    :func:`build`), rounded up to two significant figures: ``distance:140km`` among
    prefectures, ``distance:2.4km`` among the streets of a small city. A fixed band
    such as 100 km is wider than a city (every unit neighbours every other: Moran's I
    is its expected value and has no variance) and narrower than the gaps of a sparse
    table. One remote unit would widen the band for all (延边 among the prefectures of
    eastern China: 930 km), so the band stops at the island bound of :func:`build`
    (:data:`ISLAND_BOUND_FACTOR` times the median nearest-neighbour distance); the
    units farther from any other are then islands, handled and reported by the island
    rule.

    Parameters
    ----------
    geo : geopandas.GeoDataFrame, geopandas.GeoSeries, or codes
        As :func:`build`.

    Returns
    -------
    str
        A ``distance:D`` spec naming its band.

    """
    import geopandas as gpd
    from scipy.spatial import cKDTree

    if isinstance(geo, gpd.GeoDataFrame | gpd.GeoSeries):
        from geotool.geometry import positions

        series = geo.geometry if isinstance(geo, gpd.GeoDataFrame) else geo
        check.geometries(series)
        pts = positions(series).xy
    else:
        from geotool.geometry import bundled_positions

        pts = bundled_positions(pd.Index(pd.unique(pd.Index(list(geo)).astype(str)))).xy
    if len(pts) < 2:
        msg = f"A distance band needs at least 2 units, got {len(pts)}."
        raise InputError(msg)
    nearest = cKDTree(pts).query(pts, k=2)[0][:, 1]
    bound = ISLAND_BOUND_FACTOR * _typical_nearest(nearest)
    return _readable_band(min(float(nearest.max()), bound))


def _max_duplicates(coo: sp.coo_matrix, n: int) -> sp.csr_matrix:
    frame = pd.DataFrame({"r": coo.row, "c": coo.col, "v": coo.data})
    best = frame.groupby(["r", "c"], sort=True)["v"].max().reset_index()
    return sp.csr_matrix((best["v"], (best["r"], best["c"])), shape=(n, n))


def _bridges(
    links: tuple[np.ndarray, np.ndarray, np.ndarray],
    pts: np.ndarray,
    tree: Any,
    *,
    group_of: np.ndarray | None,
    label: Any,
    max_bridge_km: float | None,
    spec: str,
) -> list[dict[str, Any]]:
    """Every bridge (from, to, km) with its length, flagged when long or across groups."""
    lonely, nearest, km = links
    if max_bridge_km is None:
        d, _ = tree.query(pts, k=2)
        max_bridge_km = ISLAND_BOUND_FACTOR * float(np.median(d[:, 1])) / 1000
    out = []
    for i, j, length in zip(lonely, nearest, km, strict=True):
        across = group_of is not None and group_of[i] != group_of[j]
        long = bool(length > max_bridge_km)
        out.append({
            "from": label(i), "to": label(j), "km": round(float(length), 1),
            "long": long, "across_groups": bool(across),
        })  # fmt: skip
    flagged = [b for b in out if b["long"] or b["across_groups"]]
    if flagged:
        shown = "; ".join(
            f"{b['from']} -> {b['to']} ({b['km']:g} km"
            + (", across groups" if b["across_groups"] else "")
            + ")"
            for b in flagged[:5]
        )
        log(
            f"{spec} weights: {len(flagged)} of {len(out)} units without neighbours were "
            f"joined far away or across groups (threshold {max_bridge_km:.0f} km): {shown}"
            + (" ..." if len(flagged) > 5 else "")
            + "; consider knn:K weights or islands='drop'.",
            logging.WARNING,
        )
    return out


def _report(w: Weights, island_report: dict[str, Any], crs_note: str | None = None) -> dict:
    from scipy.sparse.csgraph import connected_components

    card = np.diff(w.sparse.indptr)
    n_comp, _ = connected_components(w.sparse, directed=False)
    report = {
        "spec": w.spec,
        "units": len(w.ids),
        "links": int(w.sparse.nnz),
        "mean_neighbours": round(float(card.mean()), 3) if len(card) else 0.0,
        "min_neighbours": int(card.min()) if len(card) else 0,
        "max_neighbours": int(card.max()) if len(card) else 0,
        "binary": w.is_binary,
        "islands": island_report,
        "components": int(n_comp),
    }
    if crs_note:
        report["crs_for_distances"] = crs_note
    return report
