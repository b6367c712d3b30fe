"""A TopoJSON encoder for polygon coverages, and a decoder for checks.

The pages decode with ``geotool/maps/topojson.js``; :func:`decode` is for tests and the
build's checks.

A border between two units is stored once, as an *arc* that both units reference, so
a national map carries each border once instead of twice. Coordinates are quantised
to an integer grid over the layer's bounding box and delta-encoded, as the TopoJSON
specification describes (transform ``scale``/``translate``).

The encoder relies on the input being a valid coverage (``shapely.coverage_is_valid``):
neighbours share identical vertices along common borders, so a border is found by
matching vertex sequences. A ring is cut into arcs at *junctions*: vertices where the
set of polygons on either side changes. Arcs are found on the input's own vertices and
only then quantised, so a coarse grid changes how borders look, never which units
share them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import shapely

__all__ = ["decode", "encode"]


#: Vertices are identified on a grid of this many steps across the bounding box
#: (6e-7 degrees for China, finer than the bundled layer's 1e-6 degree rounding),
#: whatever the output grid: float noise never splits a shared border, and the
#: shortest shared border of the input (under a metre) stays a border.
_IDENTITY_STEPS = 10**8


def _signed_area2(points: np.ndarray) -> int:
    """Twice the signed area of a closed ring of integer points (shoelace)."""
    x, y = points[:, 0], points[:, 1]
    return int((x[:-1] * y[1:] - x[1:] * y[:-1]).sum())


def encode(
    geometries: np.ndarray, properties: list[dict[str, Any]], *, quantization: int = 100_000
) -> dict[str, Any]:
    """Encode polygons as one TopoJSON object (``objects.units``) with shared arcs.

    Arcs are found on the input's vertices (identified on a grid of 1e8 steps across,
    so float noise does not split a border), *then* quantised: a coarse output grid
    never changes the topology. A shared border shorter than one grid step
    stays an arc of its own (of zero length), so neighbours stay neighbours; a ring
    that quantisation flattens (a speck smaller than a grid cell) is dropped if it
    borders no other unit, and a unit always keeps its largest part.

    Parameters
    ----------
    geometries : numpy.ndarray of shapely (Multi)Polygon
        A valid coverage, lon/lat degrees.
    properties : list of dict
        One properties dict per geometry (JSON-serialisable).
    quantization : int
        Grid steps across the bounding box in each direction.

    Returns
    -------
    dict
        A TopoJSON Topology.

    """
    geometries = np.asarray(geometries, dtype=object)
    xmin, ymin, xmax, ymax = shapely.total_bounds(geometries)
    kx = (xmax - xmin) / (quantization - 1) or 1.0
    ky = (ymax - ymin) / (quantization - 1) or 1.0

    # rings in order: (geometry, part, ring)
    parts, part_geom = shapely.get_parts(geometries, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    fx, fy = (coords[:, 0] - xmin) / kx, (coords[:, 1] - ymin) / ky
    scale = (_IDENTITY_STEPS - 1) / (quantization - 1)
    fine = np.column_stack([np.round(fx * scale), np.round(fy * scale)]).astype(np.int64)
    # drop vertices that repeat their predecessor on the fine grid
    keep = np.ones(len(fine), dtype=bool)
    keep[1:] = ~((fine[1:] == fine[:-1]).all(axis=1) & (coord_ring[1:] == coord_ring[:-1]))
    fine, coord_ring = fine[keep], coord_ring[keep]
    q = np.column_stack([np.round(fx[keep]), np.round(fy[keep])]).astype(np.int64)
    vid = pd.factorize(fine[:, 0] * (_IDENTITY_STEPS + 1) + fine[:, 1])[0]
    owner = part_geom[ring_part[coord_ring]]

    # owners of each segment (start vertex index within the flat arrays)
    same = coord_ring[1:] == coord_ring[:-1]
    seg_i = np.flatnonzero(same)
    a, b = vid[seg_i], vid[seg_i + 1]
    key = np.minimum(a, b) * (vid.max() + 1) + np.maximum(a, b)
    seg = pd.DataFrame({"key": key, "owner": owner[seg_i]})
    owners = seg.groupby("key")["owner"].agg(lambda s: tuple(sorted(set(s))))  # type: ignore[type-var]
    seg_owner = owners.loc[key].to_numpy()

    arcs: list[np.ndarray] = []  # quantised points of each arc
    arc_index: dict[tuple, int] = {}

    def arc_ref(vertex_ids: np.ndarray, points: np.ndarray) -> int:
        fwd = tuple(vertex_ids.tolist())
        if fwd in arc_index:
            return arc_index[fwd]
        rev = fwd[::-1]
        if rev in arc_index:
            return ~arc_index[rev]
        arc_index[fwd] = len(arcs)
        arcs.append(points)
        return arc_index[fwd]

    def points_of(refs: list[int]) -> np.ndarray:
        out = [arcs[r] if r >= 0 else arcs[~r][::-1] for r in refs]
        return np.vstack([out[0], *(o[1:] for o in out[1:])])

    ring_arcs: dict[int, list[int]] = {}
    ring_flat: set[int] = set()  # rings quantisation flattens to no area
    starts = np.flatnonzero(np.r_[True, coord_ring[1:] != coord_ring[:-1]])
    ends = np.r_[starts[1:], len(coord_ring)]
    seg_pos = np.full(len(coord_ring), -1)
    seg_pos[seg_i] = np.arange(len(seg_i))
    for s, e in zip(starts, ends, strict=True):
        ring_id = int(coord_ring[s])
        n = e - s  # closed ring: first == last
        if n < 4:  # degenerate in the input itself
            continue
        ids = vid[s:e]
        pts = q[s:e]
        own = [seg_owner[seg_pos[s + i]] for i in range(n - 1)]
        cuts = [i for i in range(1, n - 1) if own[i] != own[i - 1]]
        if own and own[0] != own[-1]:
            cuts = [0, *cuts]
        if not cuts:  # one arc for the whole ring, started at its smallest vertex id
            shift = int(np.argmin(ids[:-1]))
            ids_r = np.r_[ids[shift:-1], ids[: shift + 1]]
            pts_r = np.vstack([pts[shift:-1], pts[: shift + 1]])
            refs = [arc_ref(ids_r, pts_r)]
        else:  # rotate so the ring starts at the first cut, then split at every cut
            c0 = cuts[0]
            ids_r = np.r_[ids[c0:-1], ids[: c0 + 1]]
            pts_r = np.vstack([pts[c0:-1], pts[: c0 + 1]])
            local = [c - c0 for c in cuts] + [n - 1]
            refs = [
                arc_ref(ids_r[i0 : i1 + 1], pts_r[i0 : i1 + 1])
                for i0, i1 in zip(local[:-1], local[1:], strict=True)
            ]
        ring_arcs[ring_id] = refs
        if _signed_area2(points_of(refs)) == 0:
            ring_flat.add(ring_id)

    # a flattened ring is dropped only if it borders no other unit (a speck of an island):
    # one that does stays, area-less, so that the two units still share their arc
    ring_geom = part_geom[ring_part]
    users: dict[int, set[int]] = {}
    for ring_id, refs in ring_arcs.items():
        for r in refs:
            users.setdefault(r if r >= 0 else ~r, set()).add(int(ring_geom[ring_id]))
    for ring_id in list(ring_flat):
        if any(len(users[r if r >= 0 else ~r]) > 1 for r in ring_arcs[ring_id]):
            ring_flat.discard(ring_id)

    # geometries: polygons -> list of rings -> list of arc refs
    ring_counts = shapely.get_num_interior_rings(parts) + 1
    ring_offset = np.r_[0, np.cumsum(ring_counts)]
    part_area = shapely.area(parts)
    objects: list[dict[str, Any]] = []
    polygons: list[list[list[list[int]]]] = []
    used: set[int] = set()
    for g in range(len(geometries)):
        mine = [p for p in np.flatnonzero(part_geom == g) if ring_offset[p] in ring_arcs]
        kept = [p for p in mine if ring_offset[p] not in ring_flat]
        if not kept and mine:  # a unit always keeps its largest part
            kept = [max(mine, key=lambda p: part_area[p])]
        polys = []
        for p in kept:
            poly = [ring_arcs[ring_offset[p]]]
            poly += [
                ring_arcs[r]
                for r in range(ring_offset[p] + 1, ring_offset[p + 1])
                if r in ring_arcs and r not in ring_flat
            ]
            used.update(r if r >= 0 else ~r for ring in poly for r in ring)
            polys.append(poly)
        polygons.append(polys)
        objects.append({"type": "MultiPolygon", "arcs": [], "properties": properties[g]})

    # only the arcs some ring uses, renumbered; consecutive repeats dropped (a border
    # shorter than a grid step keeps two equal points: an arc of zero length)
    order = sorted(used)
    new = {old: i for i, old in enumerate(order)}
    for obj, polys in zip(objects, polygons, strict=True):
        obj["arcs"] = [
            [[new[r] if r >= 0 else ~new[~r] for r in ring] for ring in poly] for poly in polys
        ]
    encoded = []
    for i in order:
        arc = arcs[i]
        step = np.diff(arc, axis=0)
        arc = np.vstack([arc[:1], arc[1:][(step != 0).any(axis=1)]])
        if len(arc) == 1:
            arc = np.vstack([arc, arc])
        d = np.diff(arc, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
        encoded.append(d.tolist())
    return {
        "type": "Topology",
        "transform": {"scale": [kx, ky], "translate": [xmin, ymin]},
        "objects": {"units": {"type": "GeometryCollection", "geometries": objects}},
        "arcs": encoded,
    }


def decode(topology: dict[str, Any]) -> tuple[np.ndarray, list[set[int]]]:
    """Decode :func:`encode`'s output: the polygons, and the arcs each unit uses.

    Parameters
    ----------
    topology : dict
        A TopoJSON Topology with one object, ``units``, of (Multi)Polygons.

    Returns
    -------
    geometries : numpy.ndarray of shapely.MultiPolygon
        In the order of ``objects.units.geometries``, lon/lat (empty where a unit has no
        ring).
    arcs : list of set of int
        Per unit, the indices of the arcs its rings use (either direction).

    """
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
                refs.update(r if r >= 0 else ~r for r in ring)
                pts = [arcs[r] if r >= 0 else arcs[~r][::-1] for r in ring]
                xy = np.vstack([pts[0], *(p[1:] for p in pts[1:])])
                if len(xy) < 4:  # a flattened ring a unit kept: still a (empty-area) ring
                    xy = np.vstack([xy, np.repeat(xy[:1], 4 - len(xy), axis=0)])
                rings.append(np.column_stack([xy[:, 0] * sx + tx, xy[:, 1] * sy + ty]))
            shapes.append(shapely.Polygon(rings[0], rings[1:]))
        geometries.append(shapely.MultiPolygon(shapes))
        used.append(refs)
    return np.asarray(geometries, dtype=object), used
