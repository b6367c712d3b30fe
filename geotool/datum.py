"""Datum conversion between GCJ-02 and WGS84.

GCJ-02 ("Mars coordinates") is the obfuscated datum that Chinese web-map providers
(AMap/GaoDe, Tencent) must publish in mainland China. It is WGS84 plus a smooth,
deterministic, non-linear offset of roughly 300-700 m. The forward transform
(WGS84 -> GCJ-02) is public; there is no closed-form inverse, so
:func:`gcj02_to_wgs84` inverts it by fixed-point iteration, vectorised over numpy
arrays. Each step shrinks the error about 150-fold: three steps reach 0.3 mm, and
iteration stops once a step moves no point by more than 1e-10 degree (about
0.01 mm), usually after five (see ``tests/test_datum.py``).

All longitudes and latitudes are in decimal degrees.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

__all__ = ["gcj02_to_wgs84", "in_gcj_area", "transform_geometries", "wgs84_to_gcj02"]

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323


def _distinct(coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hash (x, y) rows: an id per row and the distinct points as complex numbers."""
    z = np.ascontiguousarray(coords[:, :2], dtype=float).view(np.complex128).ravel()
    codes, uniq = pd.factorize(z)
    return codes, np.asarray(uniq)


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (degrees) to add to a WGS84 position."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * sqrt_abs_x
        + common
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * sqrt_abs_x
        + common
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return dlon, dlat


def in_gcj_area(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Whether positions lie in the rectangle where the GCJ-02 offset is applied.

    This is the conventional bounding box (72.004-137.8347 E, 0.8293-55.8271 N). It
    contains Hong Kong, Macau and Taiwan; whether a *data source* shifted those is a
    property of the source, decided by the caller (see ``boundaries/README.md``).
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS84 positions (degrees) to GCJ-02.

    Positions outside :func:`in_gcj_area` are returned unchanged.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _offset(lon, lat)
    inside = in_gcj_area(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_wgs84(
    lon: np.ndarray, lat: np.ndarray, *, tol_deg: float = 1e-10, max_iter: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration.

    Starting from the GCJ-02 position itself, each step sets
    ``wgs = gcj - offset(wgs)``. The offset changes by well under 1 % of a
    position change, so the iteration contracts fast (about 150-fold per step).

    Parameters
    ----------
    lon, lat : numpy.ndarray
        GCJ-02 longitude and latitude in degrees.
    tol_deg : float
        Stop once no point moves by more than this (degrees) in one step.
    max_iter : int
        Upper bound on steps.

    Returns
    -------
    tuple of numpy.ndarray
        WGS84 longitude and latitude in degrees.

    """
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(max_iter):
        dlon, dlat = _offset(wlon, wlat)
        step = max(
            np.abs(glon - dlon - wlon).max(initial=0.0), np.abs(glat - dlat - wlat).max(initial=0.0)
        )
        wlon = glon - dlon
        wlat = glat - dlat
        if step <= tol_deg:
            break
    inside = in_gcj_area(glon, glat)
    return np.where(inside, wlon, glon), np.where(inside, wlat, glat)


def transform_geometries(geometries: np.ndarray, *, to: str = "wgs84") -> np.ndarray:
    """Convert an array of shapely geometries between GCJ-02 and WGS84.

    Identical input vertices map to identical output vertices, so a valid polygon
    coverage (shared edges) stays a coverage.

    Parameters
    ----------
    geometries : numpy.ndarray of shapely.Geometry
        Geometries in the source datum (lon/lat degrees).
    to : {"wgs84", "gcj02"}
        Target datum.

    """
    if to not in ("wgs84", "gcj02"):
        msg = f"`to` must be 'wgs84' or 'gcj02', got {to!r}."
        raise ValueError(msg)
    func = gcj02_to_wgs84 if to == "wgs84" else wgs84_to_gcj02

    def _apply(coords: np.ndarray) -> np.ndarray:
        # Shared borders repeat each vertex; convert each distinct one once.
        inverse, uniq = _distinct(coords)
        x, y = func(uniq.real, uniq.imag)
        return np.column_stack([x, y])[inverse]

    return shapely.transform(np.asarray(geometries, dtype=object), _apply)
