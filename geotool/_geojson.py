"""GeoJSON text of a GeoDataFrame, written by GEOS.

:meth:`geopandas.GeoDataFrame.to_json` builds a Python dict per coordinate ring and
serialises it with :mod:`json`; for the cluster and tier polygons of a run (several MB)
that is most of the time spent writing them. Here GEOS writes each geometry
(:func:`shapely.to_geojson`, the shortest decimal that reads back as the same double,
as Python's ``repr``) and :mod:`json` only the properties. The output has the same
structure as geopandas' (``id`` from the index, ``null`` for missing values and for
missing geometries).
"""

from __future__ import annotations

import json
import math
from typing import Any

import geopandas as gpd
import shapely

__all__ = ["dumps"]


def _plain(value: Any) -> Any:
    """A property value JSON can hold: NaN and infinities become ``null``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(frame: gpd.GeoDataFrame, *, ensure_ascii: bool = False) -> str:
    """``frame`` as a GeoJSON FeatureCollection (coordinates in ``frame``'s CRS).

    Parameters
    ----------
    frame : geopandas.GeoDataFrame
        Features; the index becomes each feature's ``id`` (as text).
    ensure_ascii : bool
        Escape non-ASCII characters of the properties (``False`` keeps Chinese names
        readable).

    Returns
    -------
    str

    """
    geoms = frame.geometry.to_numpy()
    texts = shapely.to_geojson(geoms)
    props = frame.drop(columns=frame.geometry.name).to_dict(orient="records")
    parts = []
    for key, geom, row in zip(frame.index, texts, props, strict=True):
        head = json.dumps(
            {"id": str(key), "type": "Feature",
             "properties": {k: _plain(v) for k, v in row.items()}},
            ensure_ascii=ensure_ascii, default=str,
        )  # fmt: skip
        parts.append(f'{head[:-1]}, "geometry": {"null" if geom is None else geom}}}')
    return '{"type": "FeatureCollection", "features": [' + ", ".join(parts) + "]}"
