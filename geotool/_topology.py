"""Neighbour sets of a polygon coverage, computed from shared vertices and edges.

On a valid coverage (no overlaps, neighbours share identical vertices along common
borders, as ``shapely.coverage_is_valid`` checks) two units are

* **queen** neighbours when they share at least one vertex, and
* **rook** neighbours when they share at least one edge (two consecutive vertices).

This is the definition libpysal's vertex-based contiguity uses; it is re-implemented
here with numpy so that the 4.2 million-vertex source can be checked in seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

__all__ = ["components", "neighbour_pairs"]


def _vertex_ids(coords: np.ndarray) -> np.ndarray:
    """Integer id per coordinate row; equal coordinates get equal ids."""
    z = np.ascontiguousarray(coords[:, :2], dtype=float).view(np.complex128).ravel()
    codes, _ = pd.factorize(z)
    return codes


def _pairs(keys: np.ndarray, owner: np.ndarray) -> set[tuple[int, int]]:
    """Pairs of distinct owners that share at least one key."""
    frame = pd.DataFrame({"k": keys, "o": owner}).drop_duplicates()
    counts = frame["k"].map(frame["k"].value_counts())
    frame = frame[counts.to_numpy() > 1]
    joined = frame.merge(frame, on="k")
    joined = joined[joined["o_x"] < joined["o_y"]]
    uniq = joined[["o_x", "o_y"]].drop_duplicates().to_numpy()
    return {(int(a), int(b)) for a, b in uniq}


def neighbour_pairs(geometries: np.ndarray, *, rook: bool = False) -> set[tuple[int, int]]:
    """Neighbouring pairs ``(i, j)`` with ``i < j`` (positions in ``geometries``).

    Parameters
    ----------
    geometries : numpy.ndarray of shapely.Polygon or MultiPolygon
        A polygon coverage.
    rook : bool
        Shared edge (True) or shared vertex (False, queen).

    """
    geometries = np.asarray(geometries, dtype=object)
    parts, part_owner = shapely.get_parts(geometries, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    ring_owner = part_owner[ring_part]
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    vids = _vertex_ids(coords)
    if not rook:
        return _pairs(vids, ring_owner[coord_ring])
    same_ring = coord_ring[1:] == coord_ring[:-1]
    a = vids[:-1][same_ring]
    b = vids[1:][same_ring]
    lo = np.minimum(a, b).astype(np.int64)
    hi = np.maximum(a, b).astype(np.int64)
    seg = lo * (int(vids.max()) + 1) + hi
    return _pairs(seg, ring_owner[coord_ring[:-1][same_ring]])


def components(n: int, pairs: set[tuple[int, int]]) -> np.ndarray:
    """Connected-component label per unit (0..k-1) of a graph of ``n`` nodes."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if pairs:
        i, j = np.array(sorted(pairs)).T
    else:
        i = j = np.array([], dtype=int)
    mat = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    _, labels = connected_components(mat, directed=False)
    return labels
