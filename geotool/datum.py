"""Datum conversion between WGS84, GCJ-02 and BD-09 (longitude, latitude in degrees).

GCJ-02 ("Mars coordinates"), which Chinese web maps (AMap, Tencent) must publish, is
WGS84 plus a smooth public offset of about 300-700 m; BD-09 (Baidu) shifts GCJ-02 by a
further rotation, scaling and (0.0065, 0.006) degrees. Neither has a closed-form inverse:
:func:`gcj02_to_wgs84` and :func:`bd09_to_gcj02` iterate (each step shrinks the error
100-150 fold) until no point moves by more than 1e-10 degree (0.01 mm). Positions outside
:func:`in_gcj_area` are returned unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import shapely

from geotool._errors import InputError

__all__ = [
    "DATUMS", "bd09_to_gcj02", "bd09_to_wgs84", "check_datum", "convert", "gcj02_to_bd09",
    "gcj02_to_wgs84", "in_gcj_area", "transform_geometries", "wgs84_to_bd09", "wgs84_to_gcj02",
]  # fmt: skip

#: The datums geotool converts between (lower-case names, as ``datum=`` takes them).
DATUMS = ("wgs84", "gcj02", "bd09")

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
# BD-09: angular frequency of its perturbation (pi * 3000 / 180) and its fixed shift.
_X_PI = np.pi * 3000.0 / 180.0
_BD_DLON = 0.0065
_BD_DLAT = 0.006

_Pair = tuple[np.ndarray, np.ndarray]


def _offset(lon: np.ndarray, lat: np.ndarray) -> _Pair:
    """GCJ-02 offset (degrees) to add to a WGS84 position."""
    x, y, pi = lon - 105.0, lat - 35.0, np.pi
    r = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * r + common
    dlat = dlat + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat = dlat + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * r + common
    dlon = dlon + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon = dlon + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * pi)
    return dlon, dlat


def in_gcj_area(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Whether positions lie in the box GCJ-02 shifts: 72.004-137.8347 E, 0.8293-55.8271 N.

    Whether a source shifted Hong Kong, Macau and Taiwan is the caller's to decide.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _iterate(
    step: Callable[[np.ndarray, np.ndarray], _Pair], start: _Pair, target: _Pair,
    tol_deg: float, max_iter: int,
) -> _Pair:  # fmt: skip
    """Iterate ``step`` from ``start`` until no point moves more than ``tol_deg``.

    Positions of ``target`` outside :func:`in_gcj_area` are returned unchanged.
    """
    xlon, xlat = start
    for _ in range(max_iter):
        nlon, nlat = step(xlon, xlat)
        moved = max(np.abs(nlon - xlon).max(initial=0.0), np.abs(nlat - xlat).max(initial=0.0))
        xlon, xlat = nlon, nlat
        if moved <= tol_deg:
            break
    inside = in_gcj_area(*target)
    return np.where(inside, xlon, target[0]), np.where(inside, xlat, target[1])


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> _Pair:
    """Shift WGS84 positions (degrees) to GCJ-02 (unchanged outside :func:`in_gcj_area`)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _offset(lon, lat)
    inside = in_gcj_area(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_wgs84(
    lon: np.ndarray, lat: np.ndarray, *, tol_deg: float = 1e-10, max_iter: int = 10
) -> _Pair:
    """Invert :func:`wgs84_to_gcj02`: from the GCJ-02 position, ``wgs = gcj - offset(wgs)``.

    ``tol_deg``: stop once no point moves more (degrees) in a step; ``max_iter``: at most
    so many steps.
    """
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)

    def step(wlon: np.ndarray, wlat: np.ndarray) -> _Pair:
        dlon, dlat = _offset(wlon, wlat)
        return glon - dlon, glat - dlat

    return _iterate(step, (glon.copy(), glat.copy()), (glon, glat), tol_deg, max_iter)


def gcj02_to_bd09(lon: np.ndarray, lat: np.ndarray) -> _Pair:
    """Shift GCJ-02 positions (degrees) to BD-09, Baidu's published forward formula.

    Positions outside :func:`in_gcj_area` are returned unchanged.

    Examples
    --------
    >>> lon, lat = gcj02_to_bd09(np.array([116.404]), np.array([39.915]))
    >>> print(f"{lon[0]:.8f} {lat[0]:.8f}")
    116.41036949 39.92133699

    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    inside = in_gcj_area(lon, lat)
    blon = z * np.cos(theta) + _BD_DLON
    blat = z * np.sin(theta) + _BD_DLAT
    return np.where(inside, blon, lon), np.where(inside, blat, lat)


def bd09_to_gcj02(
    lon: np.ndarray, lat: np.ndarray, *, tol_deg: float = 1e-10, max_iter: int = 10
) -> _Pair:
    """Invert :func:`gcj02_to_bd09`: the closed form (off by up to 0.2 m), then iterated.

    Each step is ``gcj -= gcj02_to_bd09(gcj) - bd``; ``max_iter=0`` gives the closed form.
    """
    blon = np.asarray(lon, dtype=float)
    blat = np.asarray(lat, dtype=float)
    x, y = blon - _BD_DLON, blat - _BD_DLAT
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)

    def step(glon: np.ndarray, glat: np.ndarray) -> _Pair:
        flon, flat = gcj02_to_bd09(glon, glat)
        return glon - (flon - blon), glat - (flat - blat)

    start = (z * np.cos(theta), z * np.sin(theta))
    return _iterate(step, start, (blon, blat), tol_deg, max_iter)


def wgs84_to_bd09(lon: np.ndarray, lat: np.ndarray) -> _Pair:
    """Shift WGS84 positions (degrees) to BD-09 (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: np.ndarray, lat: np.ndarray) -> _Pair:
    """Convert BD-09 positions (degrees) to WGS84 (through GCJ-02, both steps iterated)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def _identity(lon: np.ndarray, lat: np.ndarray) -> _Pair:
    return np.asarray(lon, dtype=float).copy(), np.asarray(lat, dtype=float).copy()


_CONVERSIONS: dict[tuple[str, str], Callable[..., _Pair]] = {
    ("wgs84", "gcj02"): wgs84_to_gcj02,
    ("gcj02", "wgs84"): gcj02_to_wgs84,
    ("gcj02", "bd09"): gcj02_to_bd09,
    ("bd09", "gcj02"): bd09_to_gcj02,
    ("wgs84", "bd09"): wgs84_to_bd09,
    ("bd09", "wgs84"): bd09_to_wgs84,
}


def check_datum(value: object, parameter: str = "datum") -> str:
    """The datum ``value`` names (any case, with ``-`` or ``_``), or an InputError.

    Examples
    --------
    >>> check_datum("GCJ-02"), check_datum("BD09")
    ('gcj02', 'bd09')

    """
    name = str(value).strip().lower().replace("-", "").replace("_", "")
    if name not in DATUMS:
        raise InputError(
            f"{parameter}={str(value)[:40]!r} is not a datum geotool converts; "
            "use 'wgs84', 'gcj02' (AMap, Tencent) or 'bd09' (Baidu)."
        )
    return name


def convert(lon: np.ndarray, lat: np.ndarray, *, source: str, to: str) -> _Pair:
    """Convert positions (degrees) from datum ``source`` to ``to`` (any of :data:`DATUMS`).

    Examples
    --------
    >>> lon, lat = convert(np.array([116.404]), np.array([39.915]), source="wgs84", to="gcj02")
    >>> print(f"{lon[0]:.8f} {lat[0]:.8f}")
    116.41024450 39.91640428

    """
    pair = (check_datum(source, "source"), check_datum(to, "to"))
    return _CONVERSIONS.get(pair, _identity)(lon, lat)


def transform_geometries(
    geometries: np.ndarray, *, to: str = "wgs84", source: str | None = None
) -> np.ndarray:
    """Convert shapely geometries (lon/lat degrees) between datums; Z values are dropped.

    Each distinct vertex is converted once, so a coverage whose neighbours share vertices
    keeps sharing them bit for bit (contiguity is preserved). ``source`` defaults to
    ``"gcj02"`` when ``to`` is ``"wgs84"``, else ``"wgs84"``.
    """
    target = check_datum(to, "to")
    origin = check_datum(
        source if source is not None else ("gcj02" if target == "wgs84" else "wgs84"), "source"
    )
    func = _CONVERSIONS.get((origin, target), _identity)

    def _apply(coords: np.ndarray) -> np.ndarray:
        z = np.ascontiguousarray(coords[:, :2], dtype=float).view(np.complex128).ravel()
        inverse, uniq = pd.factorize(z)
        x, y = func(np.asarray(uniq).real, np.asarray(uniq).imag)
        return np.column_stack([x, y])[inverse]

    return shapely.transform(np.asarray(geometries, dtype=object), _apply)
