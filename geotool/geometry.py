"""Positions of any geometry in a projected CRS chosen for its extent.

Every distance geotool computes (weights, tier centres and ellipses, distances to a
coast or a core) is measured in metres in a projected CRS, never in degrees. Which CRS:

1. the data's own CRS when it is already projected in metres (the user chose it);
2. otherwise, for data within China's extent (73-136 E, 3-54 N), the Albers
   equal-area conic for China of :data:`geotool.settings.equal_area_crs` (areas exact,
   distances within about 1.5 % across the mainland), so results agree with the
   bundled layer's;
3. otherwise, a UTM zone when the data span at most 6 degrees of longitude (the
   zone's width: scale error under 0.1 %), else a Lambert azimuthal equal-area
   projection centred on the data (areas exact, distances good near the centre).

The choice is returned with a plain description, and the statistics' reports state
it. A GeoDataFrame without a CRS is refused: geotool cannot tell degrees from metres.

Positions are *representative points* (``shapely.point_on_surface``): they lie inside
their polygon, so a crescent-shaped or multi-part unit is not placed in its neighbour.
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
    """Representative points of a set of geometries, projected and in degrees.

    Attributes
    ----------
    xy : numpy.ndarray
        ``(n, 2)`` metres in :attr:`crs`.
    lonlat : numpy.ndarray
        ``(n, 2)`` WGS84 longitude and latitude, degrees (for display and geodesics).
    crs : pyproj.CRS
        The projected CRS of :attr:`xy`.
    crs_note : str
        Which CRS was chosen and why, for reports.

    """

    xy: np.ndarray
    lonlat: np.ndarray
    crs: pyproj.CRS
    crs_note: str


def _metres(crs: pyproj.CRS) -> bool:
    units = {a.unit_name.lower() for a in crs.axis_info}
    return bool(units) and units <= {"metre", "meter", "m"}


def analysis_crs(geo: gpd.GeoDataFrame | gpd.GeoSeries) -> tuple[pyproj.CRS, str]:
    """The projected CRS geotool measures ``geo`` in, and why (see the module docstring).

    Parameters
    ----------
    geo : geopandas.GeoDataFrame or geopandas.GeoSeries
        Any geometry with a CRS.

    Returns
    -------
    tuple of (pyproj.CRS, str)
        The CRS and a one-line description of the choice.

    Examples
    --------
    >>> import shapely
    >>> pts = gpd.GeoSeries([shapely.Point(120.3, 31.9), shapely.Point(113, 28)], crs=4326)
    >>> analysis_crs(pts)[1]
    'China Albers equal-area (geotool.settings.equal_area_crs), metres'

    """
    if geo.crs is None:
        msg = (
            "geo has no CRS, so degrees cannot be told from metres; set it with "
            "geo.set_crs('EPSG:4326') for longitude/latitude (or the CRS it is in)."
        )
        raise InputError(msg)
    crs = pyproj.CRS.from_user_input(geo.crs)
    if crs.is_projected and _metres(crs):
        return crs, f"the data's own projected CRS ({crs.name}), metres"
    west, south, east, north = geo.to_crs(settings.default_crs).total_bounds
    if not np.isfinite([west, south, east, north]).all():
        msg = "geo has no finite coordinates; drop empty geometries first."
        raise InputError(msg)
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
    """Representative points of ``geo`` in metres (in ``crs`` or :func:`analysis_crs`).

    Parameters
    ----------
    geo : geopandas.GeoDataFrame or geopandas.GeoSeries
        Polygons, points or lines, with a CRS; no empty or missing geometry.
    crs : pyproj.CRS or str, optional
        Force the projected CRS (metres); default: :func:`analysis_crs`.

    Returns
    -------
    Positions

    """
    check.geometries(geo)
    series = geo.geometry if isinstance(geo, gpd.GeoDataFrame) else geo
    if crs is None:
        target, note = analysis_crs(series)
    else:
        target = _given_crs(crs)
        note = f"{target.name} (given)"
    # the point on each surface is found on the WGS84 geometry, as the bundled layer's
    # shipped points are, then projected: the same polygons give the same points (and
    # the same island bridges) whether passed as bundled codes or as a GeoDataFrame, in
    # any CRS. Found on a projected shape, a multipart unit's point can fall on another
    # part (岱山县: 24 km or 48 km from 定海区).
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
        msg = (
            f"{int(lost.sum()):,} of geo's units have no position in {short(target.name, 60)} "
            f"(index {shown}); pass crs= a projected CRS that covers them, or drop them."
        )
        raise InputError(msg)
    return Positions(xy=xy, lonlat=lonlat, crs=target, crs_note=note)


def _given_crs(crs: object) -> pyproj.CRS:
    """``crs=`` as a projected CRS in metres, or :class:`InputError` naming it."""
    try:
        target = pyproj.CRS.from_user_input(crs)
    except (pyproj.exceptions.CRSError, TypeError, ValueError) as exc:
        msg = f"crs={short(repr(crs), 60)} is not a CRS ({short(exc, 80)}); pass e.g. 'EPSG:3857'."
        raise InputError(msg) from None
    if not (target.is_projected and _metres(target)):
        msg = (
            f"crs={short(repr(crs), 60)} ({short(target.name, 40)}) is not a projected CRS in "
            "metres; distances need one (e.g. 'EPSG:3857'), or leave crs= out."
        )
        raise InputError(msg)
    return target


#: How the bundled units' positions are measured (their shipped representative points).
BUNDLED_CRS_NOTE = "equal-area (geotool.settings.equal_area_crs), metres"


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
    """Positions of bundled county-level units, from their shipped representative points.

    The fast path for the bundled layer: no geometry is read. Distances are in the China
    Albers CRS of :data:`geotool.settings.equal_area_crs`.

    Raises
    ------
    InputError
        For codes that are not bundled county-level units.

    """
    table = _bundled_xy()
    unknown = pd.Index(codes).difference(table.index)
    if len(unknown):
        msg = (
            f"{len(unknown)} codes are not county-level units of the bundled boundaries "
            f"(e.g. {list(unknown[:5])}); pass a GeoDataFrame to use other geometry."
        )
        raise InputError(msg)
    part = table.loc[codes]
    return Positions(
        xy=part[["x", "y"]].to_numpy(),
        lonlat=part[["lon", "lat"]].to_numpy(),
        crs=pyproj.CRS.from_user_input(settings.equal_area_crs),
        crs_note=BUNDLED_CRS_NOTE,
    )
