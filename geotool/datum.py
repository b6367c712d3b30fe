"""Datum conversion between WGS84, GCJ-02 and BD-09.

GCJ-02 ("Mars coordinates") is the obfuscated datum that Chinese web-map providers
(AMap/GaoDe, Tencent) must publish in mainland China. It is WGS84 plus a smooth,
deterministic, non-linear offset of roughly 300-700 m. The forward transform
(WGS84 -> GCJ-02) is public; there is no closed-form inverse, so
:func:`gcj02_to_wgs84` inverts it by fixed-point iteration, vectorised over numpy
arrays. Each step shrinks the error about 150-fold: three steps reach 0.3 mm, and
iteration stops once a step moves no point by more than 1e-10 degree (about
0.01 mm), usually after five (see ``tests/test_datum.py``).

BD-09 is Baidu's further obfuscation of GCJ-02: a small rotation and scaling about
the origin plus a fixed shift of (0.0065, 0.006) degrees, about 1 km in all
(:func:`gcj02_to_bd09`, the published forward formula). The usual closed-form inverse
is off by up to about 0.2 m (6 cm typically); :func:`bd09_to_gcj02` starts from it and
iterates like :func:`gcj02_to_wgs84` (about 100-fold per step) to 1e-10 degree. BD-09 <-> WGS84 goes
through GCJ-02. As for GCJ-02, positions outside :func:`in_gcj_area` are returned
unchanged (Baidu shifts positions in China only).

All longitudes and latitudes are in decimal degrees.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import shapely

from geotool._errors import InputError

__all__ = [
    "DATUMS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "check_datum",
    "convert",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_gcj_area",
    "transform_geometries",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

#: The datums geotool converts between (lower-case names, as ``datum=`` takes them).
DATUMS = ("wgs84", "gcj02", "bd09")

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
# BD-09: angular frequency of its perturbation (pi * 3000 / 180) and its fixed shift.
_X_PI = np.pi * 3000.0 / 180.0
_BD_DLON = 0.0065
_BD_DLAT = 0.006


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


def gcj02_to_bd09(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
) -> tuple[np.ndarray, np.ndarray]:
    """Invert :func:`gcj02_to_bd09`: the closed-form estimate, refined by iteration.

    The closed-form inverse that circulates with the forward formula is off by up to
    about 0.2 m; each step ``gcj -= gcj02_to_bd09(gcj) - bd`` shrinks the error about
    100-fold, so three or four steps reach ``tol_deg``.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        BD-09 longitude and latitude in degrees.
    tol_deg, max_iter : float, int
        Stopping rule, as for :func:`gcj02_to_wgs84` (``max_iter=0``: the closed form).

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 longitude and latitude in degrees.

    """
    blon = np.asarray(lon, dtype=float)
    blat = np.asarray(lat, dtype=float)
    x = blon - _BD_DLON
    y = blat - _BD_DLAT
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    glon, glat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(max_iter):
        flon, flat = gcj02_to_bd09(glon, glat)
        dlon, dlat = flon - blon, flat - blat
        glon = glon - dlon
        glat = glat - dlat
        if max(np.abs(dlon).max(initial=0.0), np.abs(dlat).max(initial=0.0)) <= tol_deg:
            break
    inside = in_gcj_area(blon, blat)
    return np.where(inside, glon, blon), np.where(inside, glat, blat)


def wgs84_to_bd09(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS84 positions (degrees) to BD-09 (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert BD-09 positions (degrees) to WGS84 (through GCJ-02, both steps iterated)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def _identity(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(lon, dtype=float).copy(), np.asarray(lat, dtype=float).copy()


_CONVERSIONS: dict[tuple[str, str], Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    ("wgs84", "gcj02"): wgs84_to_gcj02,
    ("gcj02", "wgs84"): gcj02_to_wgs84,
    ("gcj02", "bd09"): gcj02_to_bd09,
    ("bd09", "gcj02"): bd09_to_gcj02,
    ("wgs84", "bd09"): wgs84_to_bd09,
    ("bd09", "wgs84"): bd09_to_wgs84,
}


def check_datum(value: object, parameter: str = "datum") -> str:
    """The datum name ``value`` stands for (``"GCJ-02"`` -> ``"gcj02"``), or an InputError.

    Parameters
    ----------
    value : object
        A datum name: ``wgs84``, ``gcj02`` or ``bd09``, any case, with ``-`` or ``_``.
    parameter : str
        The parameter name for the message.

    Returns
    -------
    str
        One of :data:`DATUMS`.

    Examples
    --------
    >>> check_datum("GCJ-02"), check_datum("BD09")
    ('gcj02', 'bd09')

    """
    name = str(value).strip().lower().replace("-", "").replace("_", "")
    if name not in DATUMS:
        msg = (
            f"{parameter}={str(value)[:40]!r} is not a datum geotool converts; "
            "use 'wgs84', 'gcj02' (AMap, Tencent) or 'bd09' (Baidu)."
        )
        raise InputError(msg)
    return name


def convert(
    lon: np.ndarray, lat: np.ndarray, *, source: str, to: str
) -> tuple[np.ndarray, np.ndarray]:
    """Convert positions (degrees) between any two of :data:`DATUMS`.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        Longitude and latitude in degrees, in ``source``.
    source, to : {"wgs84", "gcj02", "bd09"}
        Datum of the input and of the output (``"GCJ-02"``, ``"BD09"`` also accepted).

    Returns
    -------
    tuple of numpy.ndarray
        Longitude and latitude in degrees, in ``to``.

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
    """Convert an array of shapely geometries between datums (lon/lat degrees).

    Each distinct input vertex is converted once, so identical input vertices map to
    identical output vertices (bit for bit), and a polygon coverage whose neighbours
    share vertices keeps sharing them: contiguity is preserved exactly. Z values are
    dropped.

    Parameters
    ----------
    geometries : numpy.ndarray of shapely.Geometry
        Geometries in the source datum (lon/lat degrees).
    to : {"wgs84", "gcj02", "bd09"}
        Target datum.
    source : {"wgs84", "gcj02", "bd09"}, optional
        Source datum; default ``"gcj02"`` when ``to`` is ``"wgs84"``, else ``"wgs84"``.

    Returns
    -------
    numpy.ndarray of shapely.Geometry

    """
    target = check_datum(to, "to")
    origin = check_datum(
        source if source is not None else ("gcj02" if target == "wgs84" else "wgs84"), "source"
    )
    func = _CONVERSIONS.get((origin, target), _identity)

    def _apply(coords: np.ndarray) -> np.ndarray:
        # Shared borders repeat each vertex; convert each distinct one once.
        inverse, uniq = _distinct(coords)
        x, y = func(uniq.real, uniq.imag)
        return np.column_stack([x, y])[inverse]

    return shapely.transform(np.asarray(geometries, dtype=object), _apply)
