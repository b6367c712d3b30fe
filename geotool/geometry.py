"""Positions of any geometry in a projected CRS chosen for its extent.

Every distance geotool computes is in metres in a projected CRS, never in degrees:
the data's own CRS when it is projected in metres; else, within China's extent, the
China Albers equal-area CRS of :data:`geotool.settings.equal_area_crs` (as the bundled
layer's); else a UTM zone for data at most 6 degrees wide, or a Lambert azimuthal
equal-area projection centred on the data. Data without a CRS are refused. Positions are
representative points (``point_on_surface``), inside their polygon.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from geotool import _validate as check
from geotool import boundaries, settings
from geotool._cache import settings_cache
from geotool._errors import InputError
from geotool._text import short

__all__ = ["CHINA_BOUNDS", "Positions", "analysis_crs", "bundled_positions", "positions"]

#: (west, south, east, north) in degrees: data inside use the China Albers CRS.
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)


@dataclass(frozen=True)
class Positions:
    """Representative points: ``xy`` ``(n, 2)`` metres in ``crs``, ``lonlat`` WGS84 degrees.

    ``crs_note`` says which CRS was chosen and why, for reports.
    """

    xy: np.ndarray
    lonlat: np.ndarray
    crs: pyproj.CRS
    crs_note: str


def _metres(crs: pyproj.CRS) -> bool:
    units = {a.unit_name.lower() for a in crs.axis_info}
    return bool(units) and units <= {"metre", "meter", "m"}


def analysis_crs(geo: gpd.GeoDataFrame | gpd.GeoSeries) -> tuple[pyproj.CRS, str]:
    """The projected CRS geotool measures ``geo`` in, and a one-line note of why.

    Examples
    --------
    >>> import shapely
    >>> pts = gpd.GeoSeries([shapely.Point(120.3, 31.9), shapely.Point(113, 28)], crs=4326)
    >>> analysis_crs(pts)[1]
    'China Albers equal-area (geotool.settings.equal_area_crs), metres'

    """
    if geo.crs is None:
        raise InputError(
            "geo has no CRS, so degrees cannot be told from metres; set it with "
            "geo.set_crs('EPSG:4326') for longitude/latitude (or the CRS it is in)."
        )
    crs = pyproj.CRS.from_user_input(geo.crs)
    if crs.is_projected and _metres(crs):
        return crs, f"the data's own projected CRS ({crs.name}), metres"
    west, south, east, north = geo.to_crs(settings.default_crs).total_bounds
    if not np.isfinite([west, south, east, north]).all():
        raise InputError("geo has no finite coordinates; drop empty geometries first.")
    cw, cs, ce, cn = CHINA_BOUNDS
    if west >= cw and east <= ce and south >= cs and north <= cn:
        note = "China Albers equal-area (geotool.settings.equal_area_crs), metres"
        return pyproj.CRS.from_user_input(settings.equal_area_crs), note
    lon0, lat0 = (west + east) / 2, (south + north) / 2
    if east - west <= 6.0 and west >= -180 and east <= 180:
        utm = geo.to_crs(settings.default_crs).estimate_utm_crs()
        return utm, f"UTM for the data's extent ({utm.name}), metres"
    lon0 = (lon0 + 180) % 360 - 180  # longitudes given as 0-360
    laea = pyproj.CRS.from_proj4(
        f"+proj=laea +lat_0={lat0:.4f} +lon_0={lon0:.4f} +datum=WGS84 +units=m +no_defs"
    )
    return laea, f"Lambert azimuthal equal-area centred at {lon0:.2f}, {lat0:.2f}, metres"


def positions(
    geo: gpd.GeoDataFrame | gpd.GeoSeries, crs: pyproj.CRS | str | None = None
) -> Positions:
    """Representative points of ``geo`` (with a CRS, no empty geometry) in metres.

    ``crs`` forces a projected CRS in metres; default :func:`analysis_crs`.
    """
    check.geometries(geo)
    series = geo.geometry if isinstance(geo, gpd.GeoDataFrame) else geo
    if crs is None:
        target, note = analysis_crs(series)
    else:
        target = _given_crs(crs)
        note = f"{target.name} (given)"
    # the point is found on the WGS84 shape, as the bundled layer's are, then projected:
    # the same polygons give the same points (and island bridges) as codes or in any CRS
    geographic = series.to_crs(settings.default_crs)
    ll = geographic.representative_point()
    points = ll.to_crs(target)
    bounds = geographic.bounds
    wrapped = (bounds["maxx"] - bounds["minx"] > 180).to_numpy()
    if wrapped.any():  # cut by the antimeridian in degrees: the projected shape decides
        local = series[wrapped].to_crs(target).representative_point()
        points = points.copy()
        points[wrapped] = local.to_numpy()
        ll = ll.copy()
        ll[wrapped] = local.to_crs(settings.default_crs).to_numpy()
    xy = np.column_stack([points.x.to_numpy(), points.y.to_numpy()])
    lonlat = np.column_stack([ll.x.to_numpy(), ll.y.to_numpy()])
    lost = ~(np.isfinite(xy).all(axis=1) & np.isfinite(lonlat).all(axis=1))
    if lost.any():  # outside the area the projection can show (its antipode ...)
        shown = [str(v)[:40] for v in series.index[lost][:5]]
        raise InputError(
            f"{int(lost.sum()):,} of geo's units have no position in {short(target.name, 60)} "
            f"(index {shown}); pass crs= a projected CRS that covers them, or drop them."
        )
    return Positions(xy=xy, lonlat=lonlat, crs=target, crs_note=note)


def _given_crs(crs: object) -> pyproj.CRS:
    """``crs=`` as a projected CRS in metres, or :class:`InputError` naming it."""
    try:
        target = pyproj.CRS.from_user_input(crs)
    except (pyproj.exceptions.CRSError, TypeError, ValueError) as exc:
        msg = f"crs={short(repr(crs), 60)} is not a CRS ({short(exc, 80)}); pass e.g. 'EPSG:3857'."
        raise InputError(msg) from None
    if not (target.is_projected and _metres(target)):
        raise InputError(
            f"crs={short(repr(crs), 60)} ({short(target.name, 40)}) is not a projected CRS in "
            "metres; distances need one (e.g. 'EPSG:3857'), or leave crs= out."
        )
    return target


@settings_cache(maxsize=1)
def _bundled_xy() -> pd.DataFrame:
    """Every bundled county-level unit's representative point: degrees and Albers metres."""
    units = boundaries.units()
    fwd = pyproj.Transformer.from_crs(settings.default_crs, settings.equal_area_crs, always_xy=True)
    lon = units["rep_lon"].to_numpy(dtype=float)
    lat = units["rep_lat"].to_numpy(dtype=float)
    x, y = fwd.transform(lon, lat)
    return pd.DataFrame({"x": x, "y": y, "lon": lon, "lat": lat}, index=units.index)


def bundled_positions(codes: pd.Index) -> Positions:
    """Positions of bundled county-level units from their shipped points (no geometry read).

    In the China Albers CRS; codes that are not bundled units are an :class:`InputError`.
    """
    table = _bundled_xy()
    unknown = pd.Index(codes).difference(table.index)
    if len(unknown):
        raise InputError(
            f"{len(unknown)} codes are not county-level units of the bundled boundaries "
            f"(e.g. {list(unknown[:5])}); pass a GeoDataFrame to use other geometry."
        )
    part = table.loc[codes]
    return Positions(
        xy=part[["x", "y"]].to_numpy(),
        lonlat=part[["lon", "lat"]].to_numpy(),
        crs=pyproj.CRS.from_user_input(settings.equal_area_crs),
        crs_note="equal-area (geotool.settings.equal_area_crs), metres",
    )
