"""GeoJSON text of a GeoDataFrame, the geometries written by GEOS.

Same structure as :meth:`geopandas.GeoDataFrame.to_json` (``id`` from the index, ``null``
for missing values), without its Python dict per ring: most of the time spent writing a
run's cluster and tier polygons.
"""

from __future__ import annotations

import json
import math

import geopandas as gpd
import shapely

__all__ = ["dumps"]


def dumps(frame: gpd.GeoDataFrame, *, ensure_ascii: bool = False) -> str:
    """``frame`` as a GeoJSON FeatureCollection in its CRS, the index as ``id`` (text).

    NaN and infinite property values become ``null``; ``ensure_ascii`` escapes non-ASCII text.
    """
    texts = shapely.to_geojson(frame.geometry.to_numpy())
    props = frame.drop(columns=frame.geometry.name).to_dict(orient="records")
    parts = []
    for key, geom, row in zip(frame.index, texts, props, strict=True):
        plain = {
            k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()
        }
        feature = {"id": str(key), "type": "Feature", "properties": plain}
        head = json.dumps(feature, ensure_ascii=ensure_ascii, default=str)
        parts.append(f'{head[:-1]}, "geometry": {"null" if geom is None else geom}}}')
    return '{"type": "FeatureCollection", "features": [' + ", ".join(parts) + "]}"
