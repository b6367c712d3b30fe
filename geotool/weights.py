"""Spatial weights over an analysis universe (sparse matrix, or ``libpysal.graph.Graph``).

Specs (strings, as the CLI takes them):

``queen`` (default), ``rook``
    Contiguity from the county layer's shipped neighbour pairs
    (:func:`geotool.boundaries.neighbours`, identical to the full-resolution
    source's), restricted to the universe.
``knn:K``
    The K nearest units, by distance between representative points in the
    equal-area CRS (:data:`geotool.settings.equal_area_crs`), never in degrees.
``distance:D`` with ``D`` in km or m (``distance:100km``)
    Binary distance band between representative points, same CRS.

**Units left without neighbours.** A county universe has holes where city districts
lie, so pure contiguity cuts some counties off from every other county (and true
islands such as 长海县 have none anyway). Leaving them isolated would silently drop
them from every local statistic and distort the global ones (esda gives an isolate
a spatial lag of 0). geotool's default, ``islands="nearest"``, joins each such unit to
its nearest universe unit (representative points, equal-area CRS), symmetrically, so
the weights stay symmetric in binary form; ``islands="drop"`` removes them from the
universe instead. Either way the choice and the affected units are reported.

Representative points rather than centroids: a representative point lies inside its
unit, so a crescent-shaped or multi-part county is not placed in its neighbour.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from geotool import boundaries, settings
from geotool._errors import InputError

if TYPE_CHECKING:
    from libpysal.graph import Graph

__all__ = ["Weights", "build", "parse_spec"]

_SPEC = re.compile(
    r"^(?:(?P<contig>queen|rook)|knn:(?P<k>\d+)|distance:(?P<d>\d+(?:\.\d+)?)(?P<unit>km|m))$"
)


@dataclass
class Weights:
    """Binary weights over a universe, with what was done to build them.

    The statistics work on :attr:`sparse` directly; :attr:`graph` gives the same
    weights as a ``libpysal.graph.Graph`` for everything else libpysal offers. The
    Graph is built on first use only: importing libpysal (and, through it, numba
    where installed) costs more than a whole autocorrelation stage.

    Attributes
    ----------
    sparse : scipy.sparse.csr_matrix
        ``(n, n)`` binary (0/1) weights, rows and columns in the order of ``ids``.
    spec : str
        The spec it was built from.
    ids : pandas.Index
        Adcodes of the units kept, in order.
    report : dict
        Connectivity summary: units, links, mean/min/max neighbours, the island
        rule and the units it touched, components.

    """

    sparse: sp.csr_matrix
    spec: str
    ids: pd.Index
    report: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_graph(cls, graph: Graph, spec: str = "graph") -> Weights:
        """Wrap a ``libpysal.graph.Graph`` (binarised) as :class:`Weights`."""
        binary = graph.transform("b")
        return cls(sparse=binary.sparse.tocsr(), spec=spec, ids=pd.Index(binary.unique_ids))

    @functools.cached_property
    def graph(self) -> Graph:
        """The weights as a binary ``libpysal.graph.Graph`` indexed by adcode."""
        from libpysal.graph import Graph

        return Graph.from_sparse(self.sparse, ids=self.ids)

    def to_gal(self, path: str | Path) -> Path:
        """Write the weights as a GeoDa ``.gal`` file (ids are adcodes).

        GeoDa (and pygeoda's ``read_gal``) then reads exactly these weights, islands
        rule included, e.g. to compare results across tools.
        """
        path = Path(path)
        lines = [f"0 {len(self.ids)} units adcode"]
        for i, code in enumerate(self.ids):
            row = self.sparse.indices[self.sparse.indptr[i] : self.sparse.indptr[i + 1]]
            lines += [f"{code} {len(row)}", " ".join(self.ids[j] for j in sorted(row))]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def binary(self) -> sp.csr_matrix:
        """Binary weights (a copy)."""
        return self.sparse.copy()

    def row_standardised(self) -> sp.csr_matrix:
        """Row-standardised weights: each row sums to 1 (rows without links stay 0)."""
        sums = np.asarray(self.sparse.sum(axis=1)).ravel()
        scale = np.divide(1.0, sums, out=np.zeros_like(sums, dtype=float), where=sums > 0)
        return sp.diags(scale) @ self.sparse


def parse_spec(spec: str) -> dict[str, Any]:
    """Parse a weights spec such as ``queen``, ``rook``, ``knn:6``, ``distance:100km``."""
    m = _SPEC.match(str(spec).strip().lower())
    if not m:
        msg = (
            f"Unknown weights spec {spec!r}; use queen, rook, knn:K (e.g. knn:6) or "
            "distance:D with km or m (e.g. distance:100km)."
        )
        raise InputError(msg)
    if m["contig"]:
        return {"kind": m["contig"]}
    if m["k"]:
        k = int(m["k"])
        if k < 1:
            msg = f"knn needs k >= 1, got {k}."
            raise InputError(msg)
        return {"kind": "knn", "k": k}
    metres = float(m["d"]) * (1000.0 if m["unit"] == "km" else 1.0)
    if metres <= 0:
        msg = f"A distance band must be positive, got {spec!r}."
        raise InputError(msg)
    return {"kind": "distance", "metres": metres}


@functools.lru_cache(maxsize=1)
def _all_points() -> pd.DataFrame:
    """Representative points of every county-level unit in the equal-area CRS (metres)."""
    import pyproj

    units = boundaries.units()
    fwd = pyproj.Transformer.from_crs(settings.default_crs, settings.equal_area_crs, always_xy=True)
    x, y = fwd.transform(units["rep_lon"].to_numpy(), units["rep_lat"].to_numpy())
    return pd.DataFrame({"x": x, "y": y}, index=units.index)


@functools.lru_cache(maxsize=1)
def _all_pairs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shipped neighbour pairs as positions in the county layer's order, and the rook flag."""
    index = boundaries.units().index
    pairs = boundaries.neighbours()
    return (
        index.get_indexer(pairs["adcode_a"]),
        index.get_indexer(pairs["adcode_b"]),
        pairs["rook"].to_numpy(),
    )


def _points(ids: pd.Index) -> np.ndarray:
    """Representative points of ``ids`` in the equal-area CRS (metres)."""
    return _all_points().loc[ids].to_numpy()


def _contiguity_pairs(ids: pd.Index, rook: bool) -> tuple[np.ndarray, np.ndarray]:
    a, b, is_rook = _all_pairs()
    pos = np.full(len(boundaries.units()), -1)
    pos[boundaries.units().index.get_indexer(ids)] = np.arange(len(ids))
    keep = (pos[a] >= 0) & (pos[b] >= 0)
    if rook:
        keep &= is_rook
    pa, pb = pos[a[keep]], pos[b[keep]]
    return np.concatenate([pa, pb]), np.concatenate([pb, pa])


def build(
    ids: pd.Index | list[str],
    spec: str = "queen",
    *,
    islands: str = "nearest",
) -> Weights:
    """Build binary spatial weights over a universe of county-level units.

    Parameters
    ----------
    ids : pandas.Index or list of str
        Adcodes of the universe (e.g. :func:`geotool.rankings.universe`).
    spec : str
        ``queen``, ``rook``, ``knn:K`` or ``distance:D(km|m)``.
    islands : {"nearest", "drop"}
        What to do with units that have no neighbour under ``spec``: join each to its
        nearest universe unit (default) or remove it from the universe.

    Returns
    -------
    Weights
        Binary weights (``.sparse``; ``.graph`` for a libpysal Graph), the ids kept, and
        a connectivity report.

    Examples
    --------
    >>> from geotool import rankings
    >>> w = build(rankings.universe("industrial_counties"), "queen")
    >>> w.report["units"], w.report["islands"]["rule"]
    (1861, 'nearest')

    """
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    if islands not in ("nearest", "drop"):
        msg = f"islands must be 'nearest' or 'drop', got {islands!r}."
        raise InputError(msg)
    ids = pd.Index(pd.unique(pd.Index(ids).astype(str)), name="adcode")
    unknown = ids.difference(boundaries.units().index)
    if len(unknown):
        msg = (
            f"{len(unknown)} codes are not county-level units of the boundaries: "
            f"{list(unknown[:5])}."
        )
        raise InputError(msg)
    if len(ids) < 3:
        msg = f"A universe needs at least 3 units for spatial statistics, got {len(ids)}."
        raise InputError(msg)
    parsed = parse_spec(spec)
    pts = _points(ids)
    tree = cKDTree(pts)
    n = len(ids)
    if parsed["kind"] in ("queen", "rook"):
        focal, neigh = _contiguity_pairs(ids, parsed["kind"] == "rook")
    elif parsed["kind"] == "knn":
        k = parsed["k"]
        if k >= n:
            msg = f"knn:{k} needs more than {k} units; the universe has {n}."
            raise InputError(msg)
        _, idx = tree.query(pts, k=k + 1)
        focal = np.repeat(np.arange(n), k)
        neigh = idx[:, 1:].ravel()
    else:
        coo = tree.sparse_distance_matrix(tree, parsed["metres"], output_type="coo_matrix")
        off = coo.row != coo.col
        focal, neigh = coo.row[off], coo.col[off]

    degree = np.bincount(focal, minlength=n)
    lonely = np.flatnonzero(degree == 0)
    island_report: dict[str, Any] = {"rule": islands, "count": len(lonely), "units": []}
    names = boundaries.units().loc[ids, "name"].to_numpy()
    if len(lonely) and islands == "nearest":
        _, idx = tree.query(pts[lonely], k=2)
        nearest = idx[:, 1]
        focal = np.concatenate([focal, lonely, nearest])
        neigh = np.concatenate([neigh, nearest, lonely])
        island_report["units"] = [
            f"{ids[i]} {names[i]} -> {ids[j]} {names[j]}"
            for i, j in zip(lonely, nearest, strict=True)
        ]
    elif len(lonely):
        island_report["units"] = [f"{ids[i]} {names[i]}" for i in lonely]
        keep = np.setdiff1d(np.arange(n), lonely)
        remap = np.full(n, -1)
        remap[keep] = np.arange(len(keep))
        focal, neigh = remap[focal], remap[neigh]
        ids = ids[keep]
        n = len(ids)
    matrix = sp.coo_matrix((np.ones(len(focal)), (focal, neigh)), shape=(n, n)).tocsr()
    matrix.data[:] = 1.0  # duplicates (an island link that was also a neighbour) count once
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    card = np.diff(matrix.indptr)
    n_comp, _ = connected_components(matrix, directed=False)
    report = {
        "spec": spec,
        "units": int(n),
        "links": int(matrix.nnz),
        "mean_neighbours": round(float(card.mean()), 3),
        "min_neighbours": int(card.min()),
        "max_neighbours": int(card.max()),
        "islands": island_report,
        "components": int(n_comp),
        "crs_for_distances": "equal-area (geotool.settings.equal_area_crs), metres",
    }
    return Weights(sparse=matrix, spec=spec, ids=ids, report=report)
