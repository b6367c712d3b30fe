"""Neighbours of a polygon coverage: queen (a shared vertex) or rook (a shared edge).

libpysal's vertex-based contiguity, re-implemented in numpy so that the 4.2
million-vertex source is checked in seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

__all__ = ["components", "neighbour_array", "neighbour_pairs"]


def _vertex_ids(coords: np.ndarray) -> np.ndarray:
    """Integer id per coordinate row; equal coordinates get equal ids."""
    z = np.ascontiguousarray(coords[:, :2], dtype=float).view(np.complex128).ravel()
    codes, _ = pd.factorize(z)
    return codes


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending, by a sort (``numpy.unique`` 2.3+ hashes: 8x slower)."""
    out = np.sort(values)
    return out[np.r_[True, out[1:] != out[:-1]]] if len(out) else out


def _pair_array(keys: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Sorted pairs ``(a, b)``, ``a < b``, of owners sharing a key, ``(m, 2)``.

    The owners of one key (a handful of polygons meet at a vertex) are paired by offsets
    within their run of the sorted keys, one numpy pass per offset.
    """
    keys = np.asarray(keys, dtype=np.int64)
    owner = np.asarray(owner, dtype=np.int64)
    if not len(keys):
        return np.zeros((0, 2), dtype=np.int64)
    n_owner = int(owner.max()) + 1
    both = _sorted_unique(keys * n_owner + owner)  # each (key, owner) once, by key
    k, o = np.divmod(both, n_owner)
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    sizes = np.diff(np.r_[starts, len(k)])
    pairs = []
    for d in range(1, int(sizes.max())):
        same = k[d:] == k[:-d]
        a, b = o[:-d][same], o[d:][same]  # o is ascending within a key: a < b
        pairs.append(a * n_owner + b)
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    codes = _sorted_unique(np.concatenate(pairs))
    return np.column_stack(np.divmod(codes, n_owner))


def neighbour_array(geometries: np.ndarray, *, rook: bool = False) -> np.ndarray:
    """Sorted neighbouring pairs ``(i, j)``, ``i < j``, of a polygon coverage: ``(m, 2)``."""
    geometries = np.asarray(geometries, dtype=object)
    if (shapely.get_type_id(geometries) == shapely.GeometryType.POLYGON).all():
        parts, part_owner = geometries, np.arange(len(geometries))  # no parts to split
    else:
        parts, part_owner = shapely.get_parts(geometries, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    ring_owner = part_owner[ring_part]
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    vids = _vertex_ids(coords)
    if not rook:
        return _pair_array(vids, ring_owner[coord_ring])
    same_ring = coord_ring[1:] == coord_ring[:-1]
    a, b = vids[:-1][same_ring], vids[1:][same_ring]
    seg = np.minimum(a, b).astype(np.int64) * (int(vids.max()) + 1) + np.maximum(a, b)
    return _pair_array(seg, ring_owner[coord_ring[:-1][same_ring]])


def neighbour_pairs(geometries: np.ndarray, *, rook: bool = False) -> set[tuple[int, int]]:
    """:func:`neighbour_array` as a set of ``(i, j)`` tuples."""
    return {(int(a), int(b)) for a, b in neighbour_array(geometries, rook=rook)}


def components(n: int, pairs: set[tuple[int, int]]) -> np.ndarray:
    """Connected-component label per unit (0..k-1) of a graph of ``n`` nodes."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    i, j = np.array(sorted(pairs), dtype=int).reshape(-1, 2).T
    mat = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    _, labels = connected_components(mat, directed=False)
    return labels
