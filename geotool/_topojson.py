"""A TopoJSON encoder for polygon coverages (the pages decode with ``maps/topojson.js``).

A border is stored once, as an *arc* both units reference: found by matching the vertex
sequences of a valid coverage, cut at *junctions*, and only then quantised, so a coarse
grid changes how borders look, never which units share them. :func:`decode` is for tests.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import shapely

__all__ = ["decode", "encode", "ring_points"]


#: Grid steps across the bounding box on which vertices are identified (6e-7 degrees
#: for China): float noise never splits a border, and sub-metre borders stay borders.
_IDENTITY_STEPS = 10**8
#: Per unit, its polygons as rings of arc references.
_Units = list[list[list[list[int]]]]


def _arc_of(ref: int) -> int:
    """The arc a reference names, in either direction (``~i`` is arc ``i`` reversed)."""
    return ref if ref >= 0 else ~ref


def ring_points(arcs: list[np.ndarray], refs: list[int]) -> np.ndarray:
    """A ring's points from its arcs' references (the points two arcs share, once)."""
    out = [arcs[r] if r >= 0 else arcs[~r][::-1] for r in refs]
    return np.vstack([out[0], *(o[1:] for o in out[1:])])


def encode(
    geometries: np.ndarray, properties: list[dict[str, Any]], *, quantization: int = 100_000
) -> dict[str, Any]:
    """Encode a valid coverage of (Multi)Polygons as a Topology (``objects.units``).

    ``properties`` holds one JSON-serialisable dict per geometry; ``quantization`` is the
    number of grid steps across the bounding box. A shared border shorter than a step stays
    an arc of zero length; a ring quantisation flattens is dropped unless it borders another
    unit, and a unit always keeps its largest part.
    """
    geometries = np.asarray(geometries, dtype=object)
    xmin, ymin, xmax, ymax = shapely.total_bounds(geometries)
    kx = (xmax - xmin) / (quantization - 1) or 1.0
    ky = (ymax - ymin) / (quantization - 1) or 1.0
    parts, part_geom = shapely.get_parts(geometries, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    fx, fy = (coords[:, 0] - xmin) / kx, (coords[:, 1] - ymin) / ky
    coord_ring, vid, q = _vertices(fx, fy, coord_ring, quantization)
    own = _segment_owners(vid, coord_ring, part_geom[ring_part[coord_ring]])
    arcs = _Arcs()
    ring_arcs, flat = _split_rings(coord_ring, vid, q, own, arcs)
    dropped = _specks(ring_arcs, flat, part_geom[ring_part])
    polygons = _polygons(len(geometries), parts, part_geom, ring_arcs, dropped)
    encoded, refs = _renumber(arcs.points, polygons)
    objects = [
        {"type": "MultiPolygon", "arcs": polys, "properties": properties[g]}
        for g, polys in enumerate(refs)
    ]
    return {
        "type": "Topology",
        "transform": {"scale": [kx, ky], "translate": [xmin, ymin]},
        "objects": {"units": {"type": "GeometryCollection", "geometries": objects}},
        "arcs": encoded,
    }


def _vertices(
    fx: np.ndarray, fy: np.ndarray, coord_ring: np.ndarray, quantization: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each vertex's ring, identity on the fine grid and quantised point (repeats dropped)."""
    scale = (_IDENTITY_STEPS - 1) / (quantization - 1)
    fine = np.column_stack([np.round(fx * scale), np.round(fy * scale)]).astype(np.int64)
    keep = np.ones(len(fine), dtype=bool)
    keep[1:] = ~((fine[1:] == fine[:-1]).all(axis=1) & (coord_ring[1:] == coord_ring[:-1]))
    fine, coord_ring = fine[keep], coord_ring[keep]
    q = np.column_stack([np.round(fx[keep]), np.round(fy[keep])]).astype(np.int64)
    vid = pd.factorize(fine[:, 0] * (_IDENTITY_STEPS + 1) + fine[:, 1])[0]
    return coord_ring, vid, q


def _segment_owners(vid: np.ndarray, coord_ring: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Per vertex, the sorted units on either side of the segment it starts (or None)."""
    seg_i = np.flatnonzero(coord_ring[1:] == coord_ring[:-1])
    a, b = vid[seg_i], vid[seg_i + 1]
    key = np.minimum(a, b) * (vid.max() + 1) + np.maximum(a, b)
    seg = pd.DataFrame({"key": key, "owner": owner[seg_i]})
    owners = seg.groupby("key")["owner"].agg(lambda s: tuple(sorted(set(s))))  # type: ignore[type-var]
    own = np.full(len(vid), None, dtype=object)
    own[seg_i] = owners.loc[key].to_numpy()
    return own


class _Arcs:
    """The arcs found so far, each stored once, keyed by the vertex ids along it."""

    def __init__(self) -> None:
        self.points: list[np.ndarray] = []  # quantised points of each arc
        self.index: dict[tuple, int] = {}

    def ref(self, vertex_ids: np.ndarray, points: np.ndarray) -> int:
        """The reference of the arc along ``vertex_ids`` (stored when new)."""
        fwd = tuple(vertex_ids.tolist())
        if fwd in self.index:
            return self.index[fwd]
        rev = fwd[::-1]
        if rev in self.index:
            return ~self.index[rev]
        self.index[fwd] = len(self.points)
        self.points.append(points)
        return self.index[fwd]


def _split_rings(
    coord_ring: np.ndarray, vid: np.ndarray, q: np.ndarray, own: np.ndarray, arcs: _Arcs
) -> tuple[dict[int, list[int]], set[int]]:
    """Each ring's arc references, and the rings that quantisation flattens to no area."""
    ring_arcs: dict[int, list[int]] = {}
    flat: set[int] = set()
    starts = np.flatnonzero(np.r_[True, coord_ring[1:] != coord_ring[:-1]])
    ends = np.r_[starts[1:], len(coord_ring)]
    for s, e in zip(starts, ends, strict=True):
        if e - s < 4:  # degenerate in the input itself (closed ring: first == last)
            continue
        ring_id = int(coord_ring[s])
        refs = _ring_refs(vid[s:e], q[s:e], list(own[s : e - 1]), arcs)
        ring_arcs[ring_id] = refs
        x, y = ring_points(arcs.points, refs).T
        if (x[:-1] * y[1:] - x[1:] * y[:-1]).sum() == 0:  # shoelace: no area
            flat.add(ring_id)
    return ring_arcs, flat


def _ring_refs(ids: np.ndarray, pts: np.ndarray, own: list[tuple], arcs: _Arcs) -> list[int]:
    """A closed ring's arcs: cut at its junctions, where the units beside it change."""
    n = len(ids)
    cuts = [i for i in range(1, n - 1) if own[i] != own[i - 1]]
    if own and own[0] != own[-1]:
        cuts = [0, *cuts]
    if not cuts:  # one arc for the whole ring, started at its smallest vertex id
        return [arcs.ref(*_rotate(ids, pts, int(np.argmin(ids[:-1]))))]
    ids_r, pts_r = _rotate(ids, pts, cuts[0])  # started at the first cut, split at each
    local = [c - cuts[0] for c in cuts] + [n - 1]
    return [arcs.ref(ids_r[i0 : i1 + 1], pts_r[i0 : i1 + 1]) for i0, i1 in pairwise(local)]


def _rotate(ids: np.ndarray, pts: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
    """A closed ring's vertex ids and points, started (and closed) at ``start``."""
    return np.r_[ids[start:-1], ids[: start + 1]], np.vstack([pts[start:-1], pts[: start + 1]])


def _specks(ring_arcs: dict[int, list[int]], flat: set[int], ring_geom: np.ndarray) -> set[int]:
    """The flattened rings that border no other unit (specks of islands): to drop."""
    users: dict[int, set[int]] = {}
    for ring_id, refs in ring_arcs.items():
        for r in refs:
            users.setdefault(_arc_of(r), set()).add(int(ring_geom[ring_id]))
    return {
        ring_id
        for ring_id in flat
        if not any(len(users[_arc_of(r)]) > 1 for r in ring_arcs[ring_id])
    }


def _polygons(
    n: int,
    parts: np.ndarray,
    part_geom: np.ndarray,
    ring_arcs: dict[int, list[int]],
    dropped: set[int],
) -> _Units:
    """Per geometry, its polygons as rings of arc references; it keeps its largest part."""
    ring_offset = np.r_[0, np.cumsum(shapely.get_num_interior_rings(parts) + 1)]
    part_area = shapely.area(parts)
    live = set(ring_arcs) - dropped
    polygons = []
    for g in range(n):
        mine = [p for p in np.flatnonzero(part_geom == g) if ring_offset[p] in ring_arcs]
        kept = [p for p in mine if ring_offset[p] in live]
        if not kept and mine:
            kept = [max(mine, key=lambda p: part_area[p])]
        polys = []
        for p in kept:  # the exterior ring, then the holes that stay
            first, stop = ring_offset[p], ring_offset[p + 1]
            holes = (ring_arcs[r] for r in range(first + 1, stop) if r in live)
            polys.append([ring_arcs[first], *holes])
        polygons.append(polys)
    return polygons


def _renumber(arcs: list[np.ndarray], polygons: _Units) -> tuple[list[list[list[int]]], _Units]:
    """Only the arcs some ring uses, delta-encoded and renumbered; the rings' new refs."""
    used = {_arc_of(r) for polys in polygons for poly in polys for ring in poly for r in ring}
    order = sorted(used)
    new = {old: i for i, old in enumerate(order)}
    refs = [
        [[[new[r] if r >= 0 else ~new[~r] for r in ring] for ring in poly] for poly in polys]
        for polys in polygons
    ]
    return [_delta(arcs[i]) for i in order], refs


def _delta(arc: np.ndarray) -> list[list[int]]:
    """An arc delta-encoded, repeats dropped (a sub-step border keeps two equal points)."""
    step = np.diff(arc, axis=0)
    arc = np.vstack([arc[:1], arc[1:][(step != 0).any(axis=1)]])
    if len(arc) == 1:
        arc = np.vstack([arc, arc])
    return np.diff(arc, axis=0, prepend=np.zeros((1, 2), dtype=np.int64)).tolist()


def decode(topology: dict[str, Any]) -> tuple[np.ndarray, list[set[int]]]:
    """:func:`encode`'s output as MultiPolygons (empty without a ring), and each one's arcs."""
    sx, sy = topology["transform"]["scale"]
    tx, ty = topology["transform"]["translate"]
    arcs = [np.cumsum(np.asarray(a, dtype=np.int64), axis=0) for a in topology["arcs"]]
    geometries, used = [], []
    for g in topology["objects"]["units"]["geometries"]:
        polys = g["arcs"] if g["type"] == "MultiPolygon" else [g["arcs"]]
        shapes: list[shapely.Polygon] = []
        refs: set[int] = set()
        for poly in polys:
            rings = []
            for ring in poly:
                refs.update(_arc_of(r) for r in ring)
                xy = ring_points(arcs, ring)
                if len(xy) < 4:  # a flattened ring a unit kept: still a (empty-area) ring
                    xy = np.vstack([xy, np.repeat(xy[:1], 4 - len(xy), axis=0)])
                rings.append(np.column_stack([xy[:, 0] * sx + tx, xy[:, 1] * sy + ty]))
            shapes.append(shapely.Polygon(rings[0], rings[1:]))
        geometries.append(shapely.MultiPolygon(shapes))
        used.append(refs)
    return np.asarray(geometries, dtype=object), used
