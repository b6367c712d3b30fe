"""Spatial weights for any geometry: contiguity, nearest neighbours, distance bands, kernels.

:func:`build` takes a GeoDataFrame (any geometry, CRS and index) or bundled county codes
and a spec: ``queen`` (default) or ``rook`` (polygons sharing a vertex or an edge, as
libpysal's vertex contiguity), ``knn:K``, ``distance:D`` (a binary band, D in km or m),
``kernel:FUNCTION:knn:K`` (adaptive bandwidth: the K-th neighbour's distance times
1 + 1e-7) or ``kernel:FUNCTION:D`` (fixed), FUNCTION one of :data:`KERNELS`. No
self-weights; distances are between representative points in
:func:`geotool.geometry.analysis_crs`. Units without neighbours follow ``islands=``:
``"nearest"`` (joined to their nearest unit within :data:`ISLAND_BOUND_FACTOR` times the
median nearest-neighbour distance), ``"max:D"``, ``"nearest:unbounded"``, ``"drop"`` or
``"keep"`` (README, "Units without neighbours"). :func:`as_weights` takes a libpysal
``Graph`` or ``W``, keeping its values.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Callable, Sequence
from contextvars import ContextVar
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
    "ISLAND_BOUND_FACTOR", "ISLAND_DETAILS", "KERNELS", "Weights", "WeightsLike", "as_weights",
    "build", "connectivity_line", "neighbour_band", "parse_islands", "parse_spec",
]  # fmt: skip

_NUMBER = r"\d+(?:\.\d+)?"
_MAX_K_DIGITS = 9
_SPEC = re.compile(
    rf"^(?:(?P<contig>queen|rook)|knn:(?P<k>\d+)|distance:(?P<d>{_NUMBER})(?P<unit>km|m)"
    rf"|kernel:(?P<fn>[a-z]+):(?:knn:(?P<kk>\d+)|(?P<kd>{_NUMBER})(?P<kunit>km|m)))$"
)

#: Where the per-unit island details are: the summary line of :func:`build` points there
#: (a run that writes a folder sets it to its table, ``tables/islands.csv``).
ISLAND_DETAILS: ContextVar[str] = ContextVar("island_details", default="report['islands']")

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

    ``sparse``: ``(n, n)`` csr weights in the order of ``ids`` (adcodes, or the input's
    index), no self-weights; ``spec``: what built them (``graph`` / ``W`` if converted);
    ``report``: links, neighbours, the island rule's work, components, CRS of distances.
    """

    sparse: sp.csr_matrix
    spec: str
    ids: pd.Index
    report: dict[str, Any] = field(default_factory=dict)
    #: :meth:`row_standardised` of the ``sparse`` it was made from (LISA, local Geary and
    #: the global statistics each ask: 55 ms a call at 10^6 units, a copy 10 ms).
    _row_standardised: tuple[sp.csr_matrix, bool, sp.csr_matrix] | None = field(
        default=None, init=False, repr=False, compare=False
    )

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
        """The weights as a ``libpysal.graph.Graph`` (built on first use: libpysal is slow)."""
        from libpysal.graph import Graph

        return Graph.from_sparse(self.sparse, ids=self.ids)

    def to_gal(self, path: str | Path) -> Path:
        """Write binary weights as a GeoDa ``.gal`` file (ids as given), e.g. for pygeoda.

        Non-binary weights have no ``.gal`` form: :class:`~geotool._errors.InputError`.
        """
        if not self.is_binary:
            msg = f"A .gal file holds binary weights only; weights {self.spec!r} are not binary."
            raise InputError(msg)
        lines = [f"0 {len(self.ids)} units {self.ids.name or 'id'}"]
        ids = [str(i) for i in self.ids]
        for i, code in enumerate(ids):
            row = self.sparse.indices[self.sparse.indptr[i] : self.sparse.indptr[i + 1]]
            lines += [f"{code} {len(row)}", " ".join(ids[j] for j in sorted(row))]
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
        return Path(path)

    def binary(self) -> sp.csr_matrix:
        """Binary weights: 1 wherever a weight is non-zero (a copy)."""
        out = self.sparse.copy()
        out.data = np.ones_like(out.data)
        return out

    def row_standardised(self) -> sp.csr_matrix:
        """Row-standardised weights: each row sums to 1 (rows without links stay 0).

        Made once per ``sparse`` (and again if its rows were sorted since: the sums' order);
        each call gets a copy, as scipy sorts a matrix's rows in place on some operations.
        """
        made, key = self._row_standardised, (self.sparse, bool(self.sparse.has_sorted_indices))
        if made is None or made[0] is not key[0] or made[1] != key[1]:
            sums = np.asarray(self.sparse.sum(axis=1)).ravel()
            scale = np.divide(1.0, sums, out=np.zeros_like(sums, dtype=float), where=sums != 0)
            made = self._row_standardised = (*key, (sp.diags(scale) @ self.sparse).tocsr())
        return made[2].copy()


#: Anything geotool accepts as weights.
WeightsLike = Union[Weights, "Graph", "W"]


def _from_sparse(matrix: Any, ids: pd.Index, spec: str) -> Weights:
    if ids.has_duplicates:
        raise InputError(f"The weights' ids must be unique; {spec} has duplicated ids.")
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

    Values are kept (each statistic transforms them as it needs); self-weights are
    dropped and counted in ``report["self_weights_dropped"]``. Anything else (``None``,
    a matrix without ids ...) is an :class:`InputError`.
    """
    if isinstance(w, Weights):
        return w
    kind = type(w).__module__ + "." + type(w).__name__
    if kind.startswith("libpysal.graph") and hasattr(w, "unique_ids"):
        return Weights.from_graph(w)
    if kind.startswith("libpysal.weights") and hasattr(w, "id_order"):
        return Weights.from_w(w)
    raise InputError(
        f"w must be geotool Weights, a libpysal.graph.Graph or a libpysal.weights.W, "
        f"got {type(w).__name__}; build weights with geotool.weights.build(geo, 'queen')."
    )


def parse_islands(islands: str) -> tuple[str, float | None]:
    """The island rule (see the module docstring) and its explicit bound in km.

    Examples
    --------
    >>> parse_islands("nearest"), parse_islands("max:100km"), parse_islands("max:2500m")
    (('nearest', None), ('max', 100.0), ('max', 2.5))

    """
    m = _ISLANDS.match(str(islands).strip().lower()) if isinstance(islands, str) else None
    if not m:
        raise InputError(
            f"islands={str(islands)[:40]!r} is not a rule: use 'nearest' (joined within "
            f"{ISLAND_BOUND_FACTOR:g}x the median nearest-neighbour distance), 'max:D' with D "
            "in km or m (max:100km), 'nearest:unbounded', 'drop' or 'keep'."
        )
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
        raise InputError(
            f"Unknown weights spec {str(spec)[:60]!r}; use queen, rook, knn:K (e.g. knn:6), "
            "distance:D with km or m (distance:100km), or kernel:FUNCTION:knn:K / "
            f"kernel:FUNCTION:D (FUNCTION one of {', '.join(KERNELS)})."
        )
    if m["contig"]:
        return {"kind": m["contig"]}
    kernel = {"kind": "kernel", "function": m["fn"]}
    if m["k"] or m["kk"]:
        digits = (m["k"] or m["kk"]).lstrip("0") or "0"
        if len(digits) > _MAX_K_DIGITS:  # int() of 4,300+ digits raises; no data has 10^9 units
            raise InputError(
                f"Weights spec {short(spec, 40)!r} asks for a {len(digits):,}-digit number of "
                "neighbours; use knn:K with K below the number of units (e.g. knn:6)."
            )
        if int(digits) < 1:
            raise InputError(f"knn needs k >= 1, got {int(digits)} in {short(spec, 40)!r}.")
        return {"kind": "knn", "k": int(digits)} if m["k"] else {**kernel, "k": int(digits)}
    number, unit = (m["d"], m["unit"]) if m["d"] else (m["kd"], m["kunit"])
    metres = float(number) * (1000.0 if unit == "km" else 1.0)
    if not math.isfinite(metres) or metres <= 0:
        msg = f"A distance band must be a positive number of km or m, got {short(spec, 40)!r}."
        raise InputError(msg)
    return {"kind": "distance", "metres": metres} if m["d"] else {**kernel, "metres": metres}


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
    keep = (pos[a] >= 0) & (pos[b] >= 0) & (is_rook | (not rook))
    pa, pb = pos[a[keep]], pos[b[keep]]
    return np.concatenate([pa, pb]), np.concatenate([pb, pa])


def _geometry_contiguity(geo: gpd.GeoSeries, rook: bool) -> tuple[np.ndarray, np.ndarray]:
    from geotool._topology import neighbour_array

    kinds = set(geo.geom_type.unique())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise InputError(
            f"Contiguity weights need polygons; geo holds {sorted(kinds)}. Use knn:K or "
            "distance:D for points and lines."
        )
    a, b = neighbour_array(geo.to_numpy(), rook=rook).T
    return np.concatenate([a, b]), np.concatenate([b, a])


class _Located:
    """Positions and their k-d tree, made on first call.

    Contiguity without units to bridge measures no distance (a third of the time of
    weights from 10^5 polygons went to positions it did not use).
    """

    def __init__(self, locate: Callable[[], tuple[np.ndarray, str]]) -> None:
        self._locate = locate
        self._got: tuple[np.ndarray, Any] | None = None
        self.note = "none: contiguity measures no distance"

    def __call__(self) -> tuple[np.ndarray, Any]:
        if self._got is None:
            from scipy.spatial import cKDTree

            pts, self.note = self._locate()
            self._got = pts, cKDTree(pts)
        return self._got


@dataclass
class _Units:
    """The units :func:`build` weighs: ids, report labels, groups, positions, contiguity."""

    ids: pd.Index
    names: np.ndarray | None
    group_of: np.ndarray | None
    where: _Located
    contiguity: Callable[[bool], tuple[np.ndarray, np.ndarray]]


def _label_array(
    values: str | pd.Series | None, geo: Any, ids: pd.Index, what: str
) -> np.ndarray | None:
    if values is None:
        return None
    if not isinstance(values, str | pd.Series):
        raise InputError(
            f"{what} must be a column name of geo or a pandas Series on its index, got "
            f"{type(values).__name__}."
        )
    if isinstance(values, str):
        if geo is None or values not in geo.columns:
            raise InputError(f"{what}={values!r} is not a column of geo.")
        values = geo[values]
    return pd.Series(values).reindex(ids).astype(object).to_numpy()


def _units(geo: Any, labels: Any, groups: Any) -> _Units:
    """The units of ``geo``: a GeoDataFrame or GeoSeries, or bundled county codes."""
    import geopandas as gpd

    from geotool.geometry import bundled_positions, positions

    if isinstance(geo, gpd.GeoDataFrame | gpd.GeoSeries):
        series = geo.geometry if isinstance(geo, gpd.GeoDataFrame) else geo
        gdf = geo if isinstance(geo, gpd.GeoDataFrame) else None
        ids = pd.Index(series.index)
        if ids.has_duplicates:
            dup = ids[ids.duplicated()].unique()[:5].tolist()
            raise InputError(f"geo's index must identify units uniquely; duplicated: {dup}.")
        check.geometries(series)  # checked here: contiguity needs no positions

        def locate() -> tuple[np.ndarray, str]:
            pos = positions(series)
            return pos.xy, pos.crs_note

        return _Units(
            ids, _label_array(labels, gdf, ids, "labels"), _label_array(groups, gdf, ids, "groups"),
            _Located(locate), functools.partial(_geometry_contiguity, series),
        )  # fmt: skip
    if not isinstance(geo, pd.Index | pd.Series | np.ndarray | list | tuple):
        raise InputError(
            f"geo must be a GeoDataFrame, a GeoSeries or a list of bundled county codes, got "
            f"{type(geo).__name__}."
        )
    ids = pd.Index(pd.unique(pd.Index(list(geo)).astype(str)), name="adcode")
    bpos = bundled_positions(ids)  # shipped points: cheap, and checks the codes
    units = boundaries.units()
    names = _label_array(labels, None, ids, "labels")
    group_of = _label_array(groups, None, ids, "groups")
    return _Units(
        ids,
        units.loc[ids, "name"].to_numpy() if labels is None else names,
        units.loc[ids, "province"].to_numpy() if groups is None else group_of,
        _Located(lambda: (bpos.xy, bpos.crs_note)),
        functools.partial(_bundled_contiguity, ids),
    )


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
    keep = np.arange(len(focal)) - np.searchsorted(focal, focal) < k
    return focal[keep], neigh[keep], d[keep]


def _structure(
    parsed: dict[str, Any], where: _Located, contiguity: Callable[[bool], Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(focal, neighbour, weight) of a parsed spec, before the island rule."""
    kind = parsed["kind"]
    if kind in ("queen", "rook"):
        focal, neigh = contiguity(kind == "rook")
        return focal, neigh, np.ones(len(focal))
    pts, tree = where()
    n = len(pts)
    if "k" in parsed:
        k = parsed["k"]
        if k >= n:
            raise InputError(
                f"knn:{k} asks for {k} neighbours of each of {n} units; use at most {n - 1} "
                f"(knn:{n - 1})."
            )
        focal, neigh, d = _knn(tree, pts, k)
        if kind == "knn":
            return focal, neigh, np.ones(len(focal))
        bandwidth = d.reshape(n, k)[:, -1] * (1.0 + 1e-7)  # the K-th stays in, barely
        z = np.divide(d, bandwidth[focal], out=np.zeros_like(d), where=bandwidth[focal] > 0)
        return focal, neigh, KERNELS[parsed["function"]](z)
    metres = parsed["metres"]
    coo = tree.sparse_distance_matrix(tree, metres, output_type="coo_matrix")
    off = (coo.row != coo.col) & (coo.data < metres)
    focal, neigh, d = coo.row[off], coo.col[off], coo.data[off]
    # sparse_distance_matrix leaves out pairs at distance 0 (identical points): add them
    dup = tree.query_pairs(0.0, output_type="ndarray")
    focal = np.concatenate([focal, dup[:, 0], dup[:, 1]])
    neigh = np.concatenate([neigh, dup[:, 1], dup[:, 0]])
    d = np.concatenate([d, np.zeros(2 * len(dup))])
    if kind == "distance":
        return focal, neigh, np.ones(len(focal))
    return focal, neigh, KERNELS[parsed["function"]](d / metres)


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

    ``geo``: any geometry with a CRS and a unique index (the ids), or six-digit codes of
    the bundled county layer. ``spec`` and ``islands``: see the module docstring.
    ``labels`` (names for the report) and ``groups`` (e.g. provinces: a bridge across
    them is warned about) are columns of ``geo`` or Series on its index; bundled codes
    use the layer's. Bridges longer than ``max_bridge_km`` (default the bound of
    ``"nearest"``) are warned about. ``report["islands"]`` has ``rule``, ``bound_km``,
    ``count``, ``joined``, ``isolated``, ``dropped``, ``units`` (one line each),
    ``details`` (``unit, nearest, km, action`` each) and ``bridges``.

    Examples
    --------
    >>> from geotool.report import rankings
    >>> w = build(rankings.universe("industrial_counties"), "queen")
    >>> w.report["units"], w.report["islands"]["rule"]
    (1861, 'nearest')

    """
    rule, bound_km = parse_islands(islands)
    if max_bridge_km is not None and not (
        isinstance(max_bridge_km, int | float)
        and not isinstance(max_bridge_km, bool)
        and math.isfinite(max_bridge_km)
        and max_bridge_km > 0
    ):
        raise InputError(f"max_bridge_km must be a positive number of km, got {max_bridge_km!r}.")
    parsed = parse_spec(spec)
    units = _units(geo, labels, groups)
    ids, where, n = units.ids, units.where, len(units.ids)
    if n < 3:
        raise InputError(f"Spatial weights need at least 3 units, got {n}.")
    focal, neigh, wts = _structure(parsed, where, units.contiguity)
    lonely = np.flatnonzero(np.bincount(focal, minlength=n) == 0)
    if parsed["kind"] == "distance" and 2 * len(lonely) > n:
        _refuse_sparse_band(spec, len(lonely), where)
    island_report: dict[str, Any] = {
        "rule": str(islands).strip().lower(), "count": len(lonely), "units": [],
    }  # fmt: skip
    if len(lonely):
        names = units.names

        def label(i: int) -> str:
            return f"{ids[i]} {names[i]}" if names is not None else f"{ids[i]}"

        plan = _IslandRule(rule, bound_km, label, units.group_of, max_bridge_km, spec)
        a, b = plan.join(lonely, where, island_report)
        bridge = KERNELS[parsed["function"]](np.zeros(1))[0] if "function" in parsed else 1.0
        focal, neigh = np.concatenate([focal, a, b]), np.concatenate([neigh, b, a])
        wts = np.concatenate([wts, np.full(2 * len(a), float(bridge))])
    if len(lonely) and rule == "drop":
        focal, neigh, ids = _drop(lonely, focal, neigh, ids, spec)
    w = Weights(sparse=_matrix(focal, neigh, wts, len(ids)), spec=spec, ids=ids)
    w.report = _report(w, island_report, where.note)
    _log_connectivity(w.report)
    return w


def connectivity_line(report: dict[str, Any]) -> tuple[str, int]:
    """One line on a weights' connectivity (units, islands and their fate, components).

    Also its logging level: a warning when units stay without neighbours or were joined
    far away or across groups, else information.
    """
    isl, parts = report["islands"], []
    if isl.get("count"):
        alone = [d["unit"] for d in isl.get("details", []) if d["action"] != "joined"]
        named = ", ".join(alone[:3]) + (" ..." if len(alone) > 3 else "")
        fate = [f"{isl[k]} {w}" for k, w in (("joined", "joined to the nearest"),
                ("isolated", f"left without (lag 0, no local test: {named or isl['rule']})"),
                ("dropped", "dropped")) if isl.get(k)]  # fmt: skip
        flagged = sum(b["long"] or b["across_groups"] for b in isl.get("bridges", []))
        fate += [f"{flagged} joined far away or across groups"] if flagged else []
        kept = "" if fate else f" ({isl['rule']})"
        parts.append(f"{isl['count']} without neighbours{kept}" + (": " if fate else "")
                     + ", ".join(fate))  # fmt: skip
    if report.get("components", 1) > 1:
        parts.append(f"{report['components']} separate components")
    if isl.get("rule") == "keep":  # asked for: said, never warned of
        return line_of(report, parts), logging.DEBUG
    warn = bool(isl.get("isolated")) or "far away" in " ".join(parts)
    return line_of(report, parts), logging.WARNING if warn else logging.INFO


def line_of(report: dict[str, Any], parts: list[str]) -> str:
    """The weights' spec and units, then ``parts``."""
    return f"{report['spec']} weights: {report['units']:,} units" + "".join(f"; {p}" for p in parts)


def _log_connectivity(report: dict[str, Any]) -> None:
    """The one-line summary (when there is something to say); the details at DEBUG."""
    line, level = connectivity_line(report)
    isl = report["islands"]
    if isl.get("count") or report.get("components", 1) > 1:
        more = f" (details: {ISLAND_DETAILS.get()})" if isl.get("count") else ""
        log(line + more, level)
    for d in isl.get("details", []):
        log(f"{report['spec']} weights: {d['unit']}: {d['action']}, nearest {d['nearest']} "
            f"({d['km']} km)", logging.DEBUG)  # fmt: skip


def _refuse_sparse_band(spec: str, lonely: int, where: _Located) -> None:
    """A band that leaves most units alone measures the island rule, not the band."""
    pts, tree = where()
    nearest_km = tree.query(pts, k=2)[0][:, 1] / 1000
    raise InputError(
        f"{spec} leaves {lonely} of {len(pts)} units without a neighbour (the median "
        f"distance to the nearest unit is {np.median(nearest_km):.3g} km); use a band "
        f"of at least {math.ceil(nearest_km.max()):d}km, which gives every unit one, "
        "or knn:K."
    )


def _drop(
    lonely: np.ndarray, focal: np.ndarray, neigh: np.ndarray, ids: pd.Index, spec: str
) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """The links and ids without the units ``islands="drop"`` removes."""
    keep = np.setdiff1d(np.arange(len(ids)), lonely)
    if len(keep) < 3:
        raise InputError(
            f"islands='drop' leaves {len(keep)} of {len(ids)} units under {spec!r}; use "
            "islands='nearest' or weights that connect more units (knn:K)."
        )
    remap = np.full(len(ids), -1)
    remap[keep] = np.arange(len(keep))
    return remap[focal], remap[neigh], ids[keep]


def _matrix(focal: np.ndarray, neigh: np.ndarray, wts: np.ndarray, n: int) -> sp.csr_matrix:
    """The weights matrix; a link given twice (a bridge, also a neighbour) counts once, at most."""
    order = np.lexsort((-wts, neigh, focal))
    focal, neigh, wts = focal[order], neigh[order], wts[order]
    first = np.r_[True, (focal[1:] != focal[:-1]) | (neigh[1:] != neigh[:-1])][: len(focal)]
    matrix = sp.csr_matrix((wts[first], (focal[first], neigh[first])), shape=(n, n))
    matrix.eliminate_zeros()
    return matrix


def _typical_nearest(nearest: np.ndarray) -> float:
    """The median distance from a unit to its nearest other (of the positive ones if 0)."""
    median = float(np.median(nearest))
    positive = nearest[nearest > 0]
    return median if median > 0 or not len(positive) else float(np.median(positive))


@dataclass
class _IslandRule:
    """The island rule applied to units without neighbours, reported and warned of."""

    rule: str
    bound_km: float | None
    label: Callable[[int], str]
    group_of: np.ndarray | None
    max_bridge_km: float | None
    spec: str

    def join(
        self, lonely: np.ndarray, where: _Located, report: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The links (from, to positions) joining ``lonely``; fills ``report``."""
        joins = self.rule in ("nearest", "max", "nearest:unbounded")
        nearest, km, median, raw_median = _nearest(lonely, where, joins)
        bound_km = ISLAND_BOUND_FACTOR * median if self.rule == "nearest" else self.bound_km
        if self.rule == "nearest":
            report["bound_rule"] = (
                f"{ISLAND_BOUND_FACTOR:g} x the median nearest-neighbour distance ({median:.3g} km)"
            )
        elif self.rule == "max":
            report["bound_rule"] = f"islands='max:{bound_km:g}km'"
        report["bound_km"] = None if bound_km is None else round(float(bound_km), 1)
        within = np.full(len(lonely), joins) if bound_km is None else km < bound_km
        otherwise = {"drop": "dropped", "keep": "kept without neighbours"}.get(
            self.rule, "isolated"
        )
        beyond = (
            "" if bound_km is None or otherwise != "isolated" else f", beyond {bound_km:.4g} km"
        )
        details, lines = [], []
        for i, j, d, ok in zip(lonely, nearest, km, within, strict=True):
            unit, near = self.label(i), self.label(j) if j >= 0 else None
            kms = round(float(d), 1) if np.isfinite(d) else None
            details.append({"unit": unit, "nearest": near, "km": kms,
                            "action": "joined" if ok else otherwise})  # fmt: skip
            lines.append(
                f"{unit} -> {near}" if ok else f"{unit} ({otherwise})" if kms is None
                else f"{unit} ({otherwise}: nearest {near} at {kms:g} km{beyond})"
            )  # fmt: skip
        report.update(
            details=details, units=lines, joined=int(within.sum()),
            isolated=0 if self.rule == "drop" else int((~within).sum()),
            dropped=len(lonely) if self.rule == "drop" else 0,
        )  # fmt: skip
        if joins:
            threshold = self.max_bridge_km or bound_km or ISLAND_BOUND_FACTOR * raw_median
            report["bridges"] = self._bridges(
                lonely[within], nearest[within], km[within], threshold
            )
            far = [d for d in details if d["action"] == "isolated"]
            if far:
                shown = "; ".join(f"{d['unit']} (nearest {d['nearest']}, {d['km']:g} km)"
                                  for d in far[:5])  # fmt: skip
                log(
                    f"{self.spec} weights: {len(far)} units without neighbours have none within "
                    f"{bound_km:.4g} km ({report['bound_rule']}) and stay without neighbours "
                    f"(lag 0, no local test): {shown}{' ...' if len(far) > 5 else ''}; "
                    "islands='max:<D>km' or 'nearest:unbounded' joins them, knn:K weights give "
                    "every unit neighbours.",
                    logging.DEBUG,  # the summary line of build() says it in one line
                )
        return lonely[within], nearest[within]

    def _bridges(
        self, lonely: np.ndarray, nearest: np.ndarray, km: np.ndarray, threshold: float
    ) -> list[dict[str, Any]]:
        """Every join with its length, flagged (and warned of) when long or across groups."""
        groups = self.group_of
        out = [
            {
                "from": self.label(i), "to": self.label(j), "km": round(float(length), 1),
                "long": bool(length > threshold),
                "across_groups": bool(groups is not None and groups[i] != groups[j]),
            }
            for i, j, length in zip(lonely, nearest, km, strict=True)
        ]  # fmt: skip
        flagged = [b for b in out if b["long"] or b["across_groups"]]
        if flagged:
            shown = "; ".join(
                f"{b['from']} -> {b['to']} ({b['km']:g} km"
                f"{', across groups' if b['across_groups'] else ''})"
                for b in flagged[:5]
            )
            log(
                f"{self.spec} weights: {len(flagged)} of {len(out)} units without neighbours "
                f"were joined far away or across groups (threshold {threshold:.0f} km): "
                f"{shown}{' ...' if len(flagged) > 5 else ''}; consider knn:K weights or "
                "islands='drop'.",
                logging.DEBUG,  # the summary line of build() says it in one line
            )
        return out


def _nearest(
    lonely: np.ndarray, where: _Located, joins: bool
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Each unit's nearest other unit, the km to it, and the typical and plain median km."""
    try:
        pts, tree = where()
    except InputError:  # "keep" and "drop" need no positions: the report goes without
        if joins:
            raise
        return np.full(len(lonely), -1), np.full(len(lonely), np.nan), np.nan, np.nan
    dist, idx = tree.query(pts, k=2)
    nearest = np.where(idx[lonely, 0] == lonely, idx[lonely, 1], idx[lonely, 0])
    km = np.hypot(*(pts[lonely] - pts[nearest]).T) / 1000
    return nearest, km, _typical_nearest(dist[:, 1]) / 1000, np.median(dist[:, 1]) / 1000


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
    """The ``distance:D`` band of sensitivity analyses, from ``geo``'s own scale (as :func:`build`).

    The smallest band that gives every unit a neighbour, rounded up to two significant
    figures, capped at the island bound of :func:`build` so that one remote unit does
    not widen it for all (units farther out are islands, for the island rule).
    """
    import geopandas as gpd
    from scipy.spatial import cKDTree

    from geotool.geometry import bundled_positions, positions

    if isinstance(geo, gpd.GeoDataFrame | gpd.GeoSeries):
        series = geo.geometry if isinstance(geo, gpd.GeoDataFrame) else geo
        check.geometries(series)
        pts = positions(series).xy
    else:
        pts = bundled_positions(pd.Index(pd.unique(pd.Index(list(geo)).astype(str)))).xy
    if len(pts) < 2:
        raise InputError(f"A distance band needs at least 2 units, got {len(pts)}.")
    nearest = cKDTree(pts).query(pts, k=2)[0][:, 1]
    bound = ISLAND_BOUND_FACTOR * _typical_nearest(nearest)
    return _readable_band(min(float(nearest.max()), bound))


def _report(w: Weights, island_report: dict[str, Any], crs_note: str | None = None) -> dict:
    from scipy.sparse.csgraph import connected_components

    card = np.diff(w.sparse.indptr)
    report = {
        "spec": w.spec,
        "units": len(w.ids),
        "links": int(w.sparse.nnz),
        "mean_neighbours": round(float(card.mean()), 3) if len(card) else 0.0,
        "min_neighbours": int(card.min()) if len(card) else 0,
        "max_neighbours": int(card.max()) if len(card) else 0,
        "binary": w.is_binary,
        "islands": island_report,
        "components": int(connected_components(w.sparse, directed=False)[0]),
    }
    if crs_note:
        report["crs_for_distances"] = crs_note
    return report
