"""A TopoJSON encoder for polygon coverages (the decoder is ``geotool/maps/topojson.js``).

A border between two units is stored once, as an *arc* that both units reference, so
a national map carries each border once instead of twice. Coordinates are quantised
to an integer grid over the layer's bounding box and delta-encoded, as the TopoJSON
specification describes (transform ``scale``/``translate``).

The encoder relies on the input being a valid coverage (``shapely.coverage_is_valid``):
neighbours share identical vertices along common borders, so a border is found by
matching vertex sequences. A ring is cut into arcs at *junctions*: vertices where the
set of polygons on either side changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import shapely

__all__ = ["encode"]


def encode(
    geometries: np.ndarray, properties: list[dict[str, Any]], *, quantization: int = 100_000
) -> dict[str, Any]:
    """Encode polygons as one TopoJSON object (``objects.units``) with shared arcs.

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
    # quantise first, then drop vertices that collapse onto their predecessor
    q = np.column_stack(
        [np.round((coords[:, 0] - xmin) / kx), np.round((coords[:, 1] - ymin) / ky)]
    )
    q = q.astype(np.int64)
    keep = np.ones(len(q), dtype=bool)
    keep[1:] = ~((q[1:] == q[:-1]).all(axis=1) & (coord_ring[1:] == coord_ring[:-1]))
    q, coord_ring = q[keep], coord_ring[keep]
    vid = pd.factorize(q[:, 0] * (quantization + 1) + q[:, 1])[0]
    owner = part_geom[ring_part[coord_ring]]

    # owners of each segment (start vertex index within the flat arrays)
    same = coord_ring[1:] == coord_ring[:-1]
    seg_i = np.flatnonzero(same)
    a, b = vid[seg_i], vid[seg_i + 1]
    key = np.minimum(a, b) * (vid.max() + 1) + np.maximum(a, b)
    seg = pd.DataFrame({"key": key, "owner": owner[seg_i]})
    owners = seg.groupby("key")["owner"].agg(lambda s: tuple(sorted(set(s))))  # type: ignore[type-var]
    seg_owner = owners.loc[key].to_numpy()

    arcs: list[np.ndarray] = []
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

    ring_arcs: dict[int, list[int]] = {}
    starts = np.flatnonzero(np.r_[True, coord_ring[1:] != coord_ring[:-1]])
    ends = np.r_[starts[1:], len(coord_ring)]
    seg_pos = np.full(len(coord_ring), -1)
    seg_pos[seg_i] = np.arange(len(seg_i))
    for s, e in zip(starts, ends, strict=True):
        ring_id = int(coord_ring[s])
        n = e - s  # closed ring: first == last
        if n < 4:  # collapsed by quantisation (a speck smaller than the grid)
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
            ring_arcs[ring_id] = [arc_ref(ids_r, pts_r)]
            continue
        # rotate so the ring starts at the first cut, then split at every cut
        c0 = cuts[0]
        ids_r = np.r_[ids[c0:-1], ids[: c0 + 1]]
        pts_r = np.vstack([pts[c0:-1], pts[: c0 + 1]])
        local = [c - c0 for c in cuts] + [n - 1]
        refs = []
        for i0, i1 in zip(local[:-1], local[1:], strict=True):
            refs.append(arc_ref(ids_r[i0 : i1 + 1], pts_r[i0 : i1 + 1]))
        ring_arcs[ring_id] = refs

    # geometries: polygons -> list of rings -> list of arc refs
    ring_counts = shapely.get_num_interior_rings(parts) + 1
    ring_offset = np.r_[0, np.cumsum(ring_counts)]
    objects = []
    for g in range(len(geometries)):
        polys = []
        for p in np.flatnonzero(part_geom == g):
            if ring_offset[p] not in ring_arcs:  # exterior collapsed: drop the part
                continue
            polys.append(
                [ring_arcs[r] for r in range(ring_offset[p], ring_offset[p + 1]) if r in ring_arcs]
            )
        objects.append({"type": "MultiPolygon", "arcs": polys, "properties": properties[g]})

    encoded = []
    for arc in arcs:
        d = np.diff(arc, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
        encoded.append(d.tolist())
    return {
        "type": "Topology",
        "transform": {"scale": [kx, ky], "translate": [xmin, ymin]},
        "objects": {"units": {"type": "GeometryCollection", "geometries": objects}},
        "arcs": encoded,
    }
