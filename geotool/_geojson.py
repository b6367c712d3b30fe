"""GeoJSON text of a GeoDataFrame, the geometries written by GEOS.

Same structure as :meth:`geopandas.GeoDataFrame.to_json` (``id`` from the index,
``null`` for missing values), without its Python dict per ring: most of the time spent
writing a run's cluster and tier polygons.
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
    """``frame`` as a GeoJSON FeatureCollection in its CRS, the index as ``id`` (text).

    ``ensure_ascii`` escapes non-ASCII property text (``False`` keeps names readable).
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
