"""Users' own geometry: :func:`read_geometry` reads polygon files, :func:`join_table` joins.

Reading checks sizes first (:mod:`geotool._limits`), decodes a ``.dbf`` as its ``.cpg`` says
or as detected, reprojects to EPSG:4326 refusing a CRS the coordinates contradict (no CRS:
degrees in China, else a plane, as GeoDa reads it), removes a GCJ-02/BD-09 offset, snaps
vertices, repairs or reports every problem geometry, and finds the id column.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import unicodedata
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geotool import _limits, settings
from geotool import datum as _datum
from geotool._errors import InputError
from geotool._log import log
from geotool._text import codec, listing, short
from geotool.geometry import CHINA_BOUNDS
from geotool.match import COLUMN_ALIASES, normalise

__all__ = [
    "JOIN_REPORT_COLUMNS", "REPORT_COLUMNS", "join_table", "name_column", "read_geometry", "to_id",
]

#: Columns of :func:`read_geometry`'s report: one row per geometry repaired or dropped.
REPORT_COLUMNS = ["row", "id", "issue", "action", "area_km2_before", "area_km2_after"]
#: Columns of :func:`join_table`'s report: one row per table row, then per unit left out.
JOIN_REPORT_COLUMNS = ["row", "key", "id", "status"]
#: How a file without a CRS, outside China, is described (its coordinates read as a plane).
PLANE = "none: a plane in the file's own units"
PLANE_SAID = "has no CRS (read as a plane in its own units)"

_FORMATS = {
    ".gpkg": "GeoPackage", ".shp": "Shapefile", ".zip": "zipped Shapefile", ".geojson": "GeoJSON",
    ".json": "GeoJSON", ".parquet": "GeoParquet", ".geoparquet": "GeoParquet",
}  # fmt: skip
_ID_ALIASES = (*COLUMN_ALIASES["code"], "id", "编码", "编号", "xzqdm", "dm")
_ID_ENDINGS = ("code", "_id", "代码", "编码")
_NAME_ALIASES = (*COLUMN_ALIASES["name"], "乡镇", "乡镇名称", "街道", "xzqmc", "mc", "名字")
_NAME_ENDINGS = ("name", "名称", "_mc")
#: Columns ending in 名 that are not the units' names (a rank, a former or other name).
_NOT_NAMES = ("排名", "名次", "别名", "曾用名", "原名", "旧名", "签名", "姓名", "英文名")
_INTEGRAL = re.compile(r"^([+-]?\d+)\.0*$")
_POLYGONAL = ("Polygon", "MultiPolygon")
_POINTS = ("Point", "MultiPoint")
_M_PER_DEG = 111_320.0  # a degree of latitude (and the most a degree of longitude spans)
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_CODE_PAGES = {"65001": "utf-8", "936": "gb18030", "54936": "gb18030"}  # a .cpg's numbers
_SAMPLE = 512 * 1024  # bytes of a .dbf's records read at each of 3 places to guess its encoding
_SMALLER = "read a smaller file (fewer or simpler features), or use a machine with more memory"
# a PROJ string's tokens: +key or +key=value, nothing else (markup is not skipped silently)
_PROJ_TOKEN = re.compile(r"^\+[A-Za-z_][A-Za-z0-9_]*(=[^\s<>\"'&;`|{}]+)?$")
_MARKUP = re.compile(r"[<>\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CRS_KEY = re.compile(r'"crs"\s*:\s*')
# what may follow a GeoJSON's last member: simple members, then the object's end
_AFTER_LAST = re.compile(r'\s*(,\s*"[^"{}\[\]]*"\s*:\s*("[^"]*"|[-+\w.]+)\s*)*\}\s*$')
_MISSING = object()
_AREA_TOLERANCE = 10.0  # degrees a file may reach beyond its CRS's area of use


def to_id(value: object) -> str | None:
    """The id string of a cell: trimmed, NFKC, integral numbers without ``.0``, or ``None``.

    >>> to_id(320500), to_id(320500.0), to_id(" 320500 "), to_id("320500.00"), to_id("0101")
    ('320500', '320500', '320500', '320500', '0101')
    >>> to_id(float("nan")) is None, to_id("  ") is None
    (True, True)
    """
    if value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value))):  # type: ignore[call-overload]
        return None
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not text:
        return None
    found = _INTEGRAL.match(text)
    return found.group(1) if found else text


def _ids(column: pd.Series) -> pd.Series:
    """:func:`to_id` of each cell (``None`` where missing), as an object Series."""
    out = pd.Series([to_id(v) for v in column.to_numpy(dtype=object)], index=column.index)
    return out.astype(object)


def _rows(positions: np.ndarray | list[int], limit: int = 8) -> str:
    """1-based row numbers for a message: ``rows 3, 17`` (at most ``limit`` shown)."""
    shown = ", ".join(str(int(p) + 1) for p in list(positions)[:limit])
    more = f" ... ({len(positions):,} in all)" if len(positions) > limit else ""
    return f"row{'s' if len(positions) > 1 else ''} {shown}{more}"


def _id_problems(ids: pd.Series) -> list[str]:
    """What makes ``ids`` unusable as unique ids (empty: nothing)."""
    problems = []
    missing = np.flatnonzero(ids.isna().to_numpy())
    if len(missing):
        problems.append(f"{len(missing):,} missing ({_rows(missing)})")
    present = ids[ids.notna()]
    dup = present[present.duplicated(keep=False)]
    if len(dup):
        position = pd.Series(np.arange(len(ids)), index=ids.index)
        groups = [
            f"{short(key)!r} ({_rows(position[rows].to_numpy())})"
            for key, rows in list(dup.groupby(dup, sort=False).groups.items())[:3]
        ]
        more = f" and {dup.nunique() - 3:,} more" if dup.nunique() > 3 else ""
        problems.append(f"{dup.nunique():,} duplicated: {', '.join(groups)}{more}")
    return problems


def name_column(geo: gpd.GeoDataFrame) -> str | None:
    """The column of ``geo`` named like its units' names (``名称``, ``STATE_NAME`` ...).

    Of several (省名称, 县名称), the one telling the most units apart (the first on a tie);
    the one :func:`join_table` matches a table's names against; ``None`` without one.
    """
    columns = [c for c in geo.columns if c != geo.geometry.name]
    found = _candidates(columns, _NAME_ALIASES, _NAME_ENDINGS) or _text_named(geo, columns)
    if not found:
        return None
    return max(found, key=lambda c: (geo[c].astype(str).nunique(), -found.index(c)))


def _candidates(columns: list[str], aliases: tuple[str, ...], endings: tuple[str, ...]) -> list:
    """Columns named as an alias (in the aliases' order), then those with such an ending."""
    by_norm = {normalise(c).lower(): c for c in columns}
    found = [by_norm[normalise(a).lower()] for a in aliases if normalise(a).lower() in by_norm]
    return found + [c for c in columns if normalise(c).lower().endswith(endings) and c not in found]


def _text_named(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """Columns named ``…名`` (网格名, 县名) holding text: names (not 排名, 别名 …)."""
    named = [c for c in columns if str(c).endswith("名") and not str(c).endswith(_NOT_NAMES)]
    return [c for c in named if not pd.api.types.is_numeric_dtype(frame[c])
            and pd.to_numeric(frame[c], errors="coerce").isna().all()]  # fmt: skip


def _require_column(columns: list, col: str | None, parameter: str, where: str) -> None:
    """Raise when a column named by ``parameter=`` is not among ``columns``."""
    if col is not None and col not in columns:
        raise InputError(
            f"{parameter}={short(col)!r} is not a column of {where}; its columns are "
            f"{listing(columns)}. Pass one of them as {parameter}=."
        )


def _choose_ids(
    frame: pd.DataFrame, id_col: str | None, where: str, *, numbered: bool = False
) -> tuple[str, pd.Series]:
    """The id column (given, detected, or GeoDa's numbering if ``numbered``) and its ids."""
    columns = [c for c in frame.columns if c != frame.geometry.name]
    _require_column(columns, id_col, "id_col", where)
    found = _candidates(columns, _ID_ALIASES, _ID_ENDINGS)
    found += _candidates(columns, _NAME_ALIASES, _NAME_ENDINGS) or _text_named(frame, columns)
    tried = []
    for col in found if id_col is None else [id_col]:
        ids = _ids(frame[col])
        problems = _id_problems(ids)
        if problems and id_col is not None:
            raise InputError(
                f"id_col={short(id_col)!r} of {where} must hold a unique id in every row, "
                f"but has {'; '.join(problems)}; fix those rows or pass another id_col=."
            )
        if not problems:
            if id_col is None:
                log(f"{where}: ids from column {col!r} (pass id_col= to choose another)")
            return col, ids
        tried.append(f"{col!r} has {problems[0]}")
    if numbered:
        log(f"{where}: no column of unique ids; features numbered from 1 (pass id_col=)")
        return "feature", pd.Series(np.arange(1, len(frame) + 1).astype(str), index=frame.index)
    raise InputError(
        f"{where} has no column of unique ids among {listing(columns)}"
        f"{' (' + '; '.join(tried[:3]) + ')' if tried else ''}; pass id_col= naming one."
    )


def _check_path(path: str | Path, limit: int) -> Path:
    """``path`` as a Path, refused unless a non-empty geometry file within ``limit``."""
    path = _limits.regular_file(path, "one geometry file", tuple(_FORMATS))
    named = f"path={short(path.name, 80)!r}"
    if path.suffix.lower() not in _FORMATS:
        raise InputError(
            f"{named} is not a geometry file geotool reads; pass a GeoPackage (.gpkg), "
            "Shapefile (.shp or .zip), GeoJSON (.geojson, .json) or GeoParquet (.parquet)."
        )
    if path.stat().st_size == 0:
        raise InputError(f"{named} is empty (0 bytes); check that it was saved.")
    where, size, what = short(path.name, 80), path.stat().st_size, "is"
    if path.suffix.lower() == ".shp":
        parts = [p for s, p in _siblings(path).items() if s in _SHAPEFILE_PARTS]
        size, what = sum(p.stat().st_size for p in parts), "is (with the files beside it)"
    _limits.check_size(size, limit, where, what, "max_bytes")
    return path


def _siblings(shp: Path) -> dict[str, Path]:
    """The files beside a ``.shp`` that share its name, by lower-case suffix (first wins)."""
    same = [p for p in sorted(shp.parent.iterdir(), reverse=True) if p.stem == shp.stem]
    return {**{p.suffix.lower(): p for p in same}, ".shp": shp}


def _head(path: Path, size: int) -> bytes:
    """The first ``size`` bytes of a file (a ``.cpg`` or ``.prj`` may be anything)."""
    with path.open("rb") as f:
        return f.read(size)


def _zip_parts(members: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    """The Shapefile parts of a zip, by file name (the first of a name; no macOS forks)."""
    parts: dict[str, zipfile.ZipInfo] = {}
    for m in members:
        name = m.filename.replace("\\", "/").rsplit("/", 1)[-1]
        junk = m.filename.startswith("__MACOSX/") or name.startswith("._")
        if m.is_dir() or junk or Path(name).suffix.lower() not in _SHAPEFILE_PARTS:
            continue
        if name in parts:
            log(f"{m.filename!r}: a second file named {name!r} in the zip, not read")
            continue
        parts[name] = m
    return parts


def _unzip(path: Path, folder: Path, limit: int, where: str) -> None:
    """Extract a zip's Shapefile parts into ``folder``, refusing a bomb or no Shapefile."""
    _limits.check_zip_directory(path, where)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise InputError(f"path={where!r} is not a zip archive; check the file.") from None
    fix = "re-create the zip from the original files"
    with archive:
        parts = _zip_parts(archive.infolist())
        if not any(name.lower().endswith(".shp") for name in parts):
            files = [Path(m.filename).name for m in archive.infolist() if not m.is_dir()]
            raise InputError(
                f"path={where!r} holds no Shapefile (.shp; it holds "
                f"{listing(files, 5) if files else 'nothing'}); pass a zip of a Shapefile "
                "(.shp, .shx, .dbf, .prj) or the geometry file itself."
            )
        genuine = "if it is genuine, unzip it yourself and pass the .shp"
        _limits.check_zip(list(parts.values()), limit, where, "max_bytes", genuine)
        try:
            _limits.extract(archive, parts, folder, limit=limit, where=where, parameter="max_bytes")
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise InputError(f"{where} is a corrupt zip ({short(exc)}); {fix}.") from None
        except (RuntimeError, NotImplementedError) as exc:  # a password, an unknown method
            msg = f"{where} cannot be unzipped ({short(exc)}); {fix}, without a password."
            raise InputError(msg) from None
        except OSError as exc:
            msg = f"{where} cannot be unzipped to a temporary folder ({short(exc)}); check TMPDIR."
            raise InputError(msg) from None


@contextlib.contextmanager
def _reading(where: str, source: Path, failed: str, fix: str = "check the file") -> Iterator[None]:
    """Turn a reader's failure into one :class:`InputError` line: ``{where} {failed} (why)``.

    GDAL reads offline inside (:func:`_offline`).
    """
    try:
        with _offline():
            yield
    except InputError:
        raise
    except MemoryError:
        raise InputError(f"{where} is too big for this machine's memory; {_SMALLER}.") from None
    except Exception as exc:  # GDAL, pyarrow and geopandas raise many kinds
        text = re.sub(rf"(?:\w+:)?{re.escape(str(source))}", where, str(exc))  # no temp path
        raise InputError(f"{where} {failed} ({short(text, 160)}); {fix}.") from None


#: GDAL's settings while geotool reads a file: no request leaves the machine. GDAL has no
#: switch for its network: a CRS linked by URL (GeoJSON) or a /vsicurl/ path is fetched
#: through a proxy that refuses at once (the discard port), with no retry.
_OFFLINE = {
    "GDAL_HTTP_PROXY": "127.0.0.1:9", "GDAL_HTTPS_PROXY": "127.0.0.1:9",
    "GDAL_HTTP_TIMEOUT": "1", "GDAL_HTTP_CONNECTTIMEOUT": "1", "GDAL_HTTP_MAX_RETRY": "0",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": "/none/", "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
}  # fmt: skip


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """GDAL and PROJ offline for the block; their settings before, after.

    :data:`_OFFLINE` for GDAL, PROJ's network off, and libcurl's ``no_proxy`` unset (it lets
    requests past the proxy).
    """
    import pyogrio

    before = {k: pyogrio.get_gdal_config_option(k) for k in _OFFLINE}
    bypass = {k: os.environ.pop(k) for k in ("no_proxy", "NO_PROXY") if k in os.environ}
    network = pyproj.network.is_network_enabled()
    pyogrio.set_gdal_config_options(_OFFLINE)
    pyproj.network.set_network_enabled(False)  # PROJ fetches grids by itself (+nadgrids=URL)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(before)
        pyproj.network.set_network_enabled(network)
        os.environ.update(bypass)


#: How each kind of file begins: GDAL picks its reader by the content, whatever the name
#: (an XML "virtual" dataset named .geojson reads other files, and the network).
_MAGIC = {"Shapefile": (b"\x00\x00\x27\x0a",), "GeoPackage": (b"SQLite format 3\x00",),
          "GeoJSON": (b"{",)}  # fmt: skip


def _check_content(path: Path, kind: str, where: str) -> None:
    """Refuse a file whose content is not its kind's (:data:`_MAGIC`), before GDAL opens it."""
    magics = _MAGIC.get(kind)
    if magics is None:
        return
    with path.open("rb") as f:
        head = f.read(4096)
    if kind == "GeoJSON":  # JSON: white space first, perhaps a byte-order mark
        head = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if not head.startswith(magics):
        seen = "XML" if head.lstrip().startswith(b"<") else "something else"
        raise InputError(
            f"{where} is named as a {kind} but holds {seen}: geotool reads a {kind} under "
            f"that name, nothing else; pass a real {kind}."
        )


#: GDAL's own name for a kind it must open with its driver, no other (by content, GDAL
#: would take a GeoJSON holding "<OGRVRTDataSource" or a "gdal_streamed_alg" for a virtual
#: dataset, which reads other files). A Shapefile is read by its .shp, checked first.
_DRIVERS = {"GeoJSON": "GeoJSON", "GeoPackage": "GPKG"}


def _for_gdal(source: Path, kind: str) -> str:
    """``source`` as GDAL opens it: with its driver's prefix (``GeoJSON:path``) where known."""
    driver = _DRIVERS.get(kind)
    return f"{driver}:{source}" if driver else str(source)


def _choose_layer(source: Path, layer: str | None, where: str, kind: str) -> str | None:
    """The layer to read: ``layer`` if the file has it, else its only geometry layer."""
    import pyogrio

    with _reading(where, source, f"cannot be opened as a {kind}"):
        layers = pyogrio.list_layers(_for_gdal(source, kind))
    names = [str(n) for n, _ in layers]
    spatial = [str(n) for n, kind in layers if kind is not None]
    described = listing([f"{n} ({kind or 'no geometry'})" for n, kind in layers])
    if layer is not None:
        if layer not in names:
            msg = f"layer={short(layer)!r} is not in {where}; its layers are {described}."
            raise InputError(msg)
        return layer
    if len(spatial) == 1:
        return spatial[0]
    if not spatial:
        msg = f"{where} has no layer with geometry (layers: {described}); pass a geometry file."
        raise InputError(msg)
    msg = f"{where} has {len(spatial)} layers with geometry, {described}; pass layer= naming one."
    raise InputError(msg)


def _shapefile_parts(source: Path, where: str, layer: str | None = None) -> dict[str, Path]:
    """A Shapefile's parts (in a folder: ``layer``'s, else each's); refuse a missing .dbf, .shx."""
    shps, parts = [source], {}
    if source.is_dir():
        shps = sorted(p for p in source.iterdir() if p.suffix.lower() == ".shp")
        shps = [p for p in shps if p.stem == layer] or shps
    for shp in shps:
        parts = _siblings(shp)
        for suffix, what in ((".dbf", "attribute table (its ids and names)"), (".shx", "index")):
            if suffix not in parts:
                raise InputError(
                    f"{where} lacks {short(shp.stem, 40)}{suffix}, the Shapefile's {what}; put "
                    f"it beside the .shp (or in the zip) under that name."
                )
    return parts


def _dbf_encoding(dbf: Path) -> str | None:
    """``None`` for ASCII; ``"utf-8"`` if 90 % of the rest decodes so (GBK never does).

    Only field names and records at the .dbf's start, middle and end are read.
    """
    with dbf.open("rb") as f:
        header = f.read(32)
        if len(header) < 32:
            return None
        header_size = int.from_bytes(header[8:10], "little")
        record = max(1, int.from_bytes(header[10:12], "little"))
        fields = f.read(max(0, header_size - 32))
        names = b"".join(fields[i : i + 11].split(b"\0")[0] for i in range(0, len(fields) - 1, 32))
        count = max(0, (f.seek(0, 2) - header_size) // record)
        per = max(1, _SAMPLE // record)
        chunks = [names]
        for start in sorted({0, max(0, count // 2 - per // 2), max(0, count - per)}):
            f.seek(header_size + start * record)
            chunks.append(f.read(min(per, count - start) * record))
    text = b"".join(chunks)
    if text.isascii():
        return None
    decoded = text.decode("utf-8", errors="replace")
    bad = decoded.count("\ufffd")
    wide = sum(1 for ch in decoded if ord(ch) > 127) - bad
    return "utf-8" if bad <= 0.1 * (wide + bad) else "gb18030"


def _shapefile_encoding(
    parts: dict[str, Path], encoding: str | None, where: str
) -> tuple[str | None, str | None]:
    """(encoding to decode with, or None for GDAL's choice; how it was chosen)."""
    if encoding is not None:
        name = codec(encoding)
        return name, f"{name} (given)"
    cpg = _head(parts[".cpg"], 200) if ".cpg" in parts else b""
    guess = _dbf_encoding(parts[".dbf"])
    if cpg.strip():
        said = short(cpg.decode("latin-1").strip())
        text = said.strip().lower().removeprefix("ansi").strip()  # "ANSI 936"
        text, declared = _CODE_PAGES.get(text, text), None
        with contextlib.suppress(InputError):  # a .cpg naming no codec: GDAL's to judge
            declared = codec(text)
        # the .cpg wins, unless it says UTF-8 over GBK bytes or GBK over UTF-8 ones
        if guess is None or declared not in ("utf-8", "gb18030") or declared == guess:
            log(f"{where}: attributes decoded as its .cpg says ({said})")
            return None, f"{said} (.cpg)"  # GDAL honours the .cpg
        log(
            f"{where}: its .cpg says {said}, but the attributes are not {said} text; "
            f"decoded as {guess} (detected; pass encoding= to choose another)",
            logging.WARNING,
        )
        return guess, f"{guess} (detected; the .cpg's {said} does not fit)"
    if guess is None:
        return None, None
    log(f"{where}: no .cpg; attributes decoded as {guess} (pass encoding= to override)")
    return guess, f"{guess} (detected)"


def _valid_text(frame: gpd.GeoDataFrame, where: str, shapefile: bool) -> gpd.GeoDataFrame:
    """``frame`` with text GDAL handed over as invalid UTF-8 repaired (a cut end) or refused."""
    import pyarrow as pa

    fix = (
        "pass encoding= with the encoding of its .dbf (e.g. encoding='gbk'), or fix its .cpg"
        if shapefile
        else "save it again with UTF-8 text (GeoPackage and GeoJSON text is UTF-8)"
    )
    for col in frame.columns.drop(frame.geometry.name):
        values = frame[col]
        arrow = hasattr(values.array, "__arrow_array__")
        if not arrow or not pd.api.types.is_string_dtype(values.dtype):
            continue
        try:
            pa.chunked_array(pa.array(values.array)).validate(full=True)
            continue
        except (pa.ArrowException, ValueError, TypeError):
            raws = pa.chunked_array(pa.array(values.array)).cast(pa.binary()).to_pylist()
        cells: list[str | None] = []
        cut = 0
        for raw in raws:
            try:
                cells.append(None if raw is None else raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                if exc.reason != "unexpected end of data":
                    msg = f"{where}: column {short(col)!r} holds text that is not valid UTF-8"
                    raise InputError(f"{msg}; {fix}.") from None
                cells.append(raw[: exc.start].decode("utf-8", errors="replace"))
                cut += 1
        frame[col] = pd.array(cells, dtype=values.dtype)
        log(
            f"{where}: {cut:,} values of column {short(col)!r} end in a character cut at "
            "the field's width; the incomplete character is dropped"
        )
    return frame


def _read_parquet(path: Path, layer: str | None, where: str, limit: int) -> gpd.GeoDataFrame:
    """A GeoParquet file, after its metadata's sizes are checked against ``limit``."""
    if layer is not None:
        msg = f"layer={short(layer)!r} was given, but {where} (GeoParquet) has no layers."
        raise InputError(msg)
    with _reading(where, path, "cannot be read as GeoParquet"):
        _limits.check_parquet(path, limit, where, "max_bytes")
        frame = gpd.read_parquet(path)
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()  # a named index (adcode) is an id candidate
    return frame


def _read_frame(
    path: Path, layer: str | None, encoding: str | None, where: str, limit: int
) -> tuple[gpd.GeoDataFrame, str | None, str | None]:
    """(frame, layer used, encoding used) of any supported file."""
    kind = _FORMATS[path.suffix.lower()]
    if kind == "GeoParquet":
        return _read_parquet(path, layer, where, limit), None, None
    if kind != "zipped Shapefile":
        return _read_ogr(path, layer, encoding, where, limit=limit, kind=kind)
    with tempfile.TemporaryDirectory(prefix="geotool-unzip-") as tmp:
        _unzip(path, Path(tmp), limit, where)
        return _read_ogr(Path(tmp), layer, encoding, where, limit=limit, kind=kind)


def _gdal_read(
    source: Path, chosen: str | None, enc: str | None, where: str, *, cap: int, kind: str
) -> gpd.GeoDataFrame:
    """A layer as pyogrio reads it (at most ``cap + 1`` features); GDAL's warnings logged."""
    import pyogrio

    opened = _for_gdal(source, kind)
    with (
        warnings.catch_warnings(record=True) as caught,
        _reading(where, source, "cannot be read", "check the file, or pass layer="),
    ):
        warnings.simplefilter("always")
        info = pyogrio.read_info(opened, layer=chosen, encoding=enc)
        _limits.check_columns(len(info["fields"]), where)
        count = int(info["features"])
        _limits.check_features(count, cap * _limits.BYTES_PER_FEATURE, where, "max_bytes")
        frame = pyogrio.read_dataframe(
            opened, layer=chosen, encoding=enc, use_arrow=True, max_features=cap + 1
        )
    said = {str(w.message) for w in caught}
    for text in sorted(said - {"invalid value encountered in from_wkb"}):  # NaN: reported
        log(f"{where}: GDAL: {short(text.replace(str(source), where), 160)}", logging.WARNING)
    return frame


#: The most tables a GeoPackage may hold to be read (each is checked for computed columns).
_TABLES = 2000


def _refuse_running_sql(path: Path, where: str) -> None:
    """Refuse a GeoPackage holding SQL that runs as it is read: a view, a generated column.

    GDAL runs a view's query (or computes a column), without bound, as soon as it lists
    the layers or reads them; only SQLite's own table of objects and its tables' columns
    (``PRAGMA table_xinfo``: hidden 2 and 3 are generated) are read here, with a bounded
    number of steps. A file whose schema this SQLite cannot read is refused too (GDAL's
    newer SQLite would run what could not be checked); a read-only copy is read as
    immutable first.
    """
    import sqlite3

    steps = {"n": 0}

    def bounded() -> int:  # stop a reading that runs long (a crafted file)
        steps["n"] += 1
        return int(steps["n"] > 5000)

    uri = path.resolve().as_uri()
    for mode in ("?mode=ro", "?mode=ro&immutable=1"):  # a WAL file on a read-only share
        try:
            with contextlib.closing(sqlite3.connect(uri + mode, uri=True)) as db:
                db.set_progress_handler(bounded, 1000)
                views = [r[0] for r in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'view' LIMIT 1")]  # fmt: skip
                listed = f"SELECT name FROM sqlite_master WHERE type = 'table' LIMIT {_TABLES + 1}"
                tables = [r[0] for r in db.execute(listed)]
                generated = [name for name in tables[:_TABLES] if any(
                    row[6] in (2, 3) for row in db.execute(
                        "SELECT * FROM pragma_table_xinfo(?)", (name,)))]  # fmt: skip
            break
        except sqlite3.Error as exc:
            failure = exc
    else:
        why = ("its table of contents takes too long to read" if steps["n"] > 5000
               else f"its schema cannot be checked ({short(failure, 80)})")  # fmt: skip
        msg = f"{where}: {why}; save the layers again (e.g. ogr2ogr) and pass that file."
        raise InputError(msg) from None
    if len(tables) > _TABLES:
        raise InputError(f"{where} holds more than {_TABLES:,} tables, more than geotool checks; "
                         "save the layers you need (e.g. ogr2ogr) and pass that file.")  # fmt: skip
    for name, what in [*((v, "an SQL view, whose query") for v in views[:1]),
                       *((g, "a table with computed (generated) columns, which")
                         for g in generated[:1])]:  # fmt: skip
        raise InputError(
            f"{where}: {short(name)!r} is {what} would run as the file is read; save the "
            "layers as plain tables (e.g. ogr2ogr) and pass that file."
        )


def _read_ogr(
    source: Path, layer: str | None, encoding: str | None, where: str, *, limit: int, kind: str
) -> tuple[gpd.GeoDataFrame, str | None, str | None]:
    """(frame, layer, encoding) of a file GDAL reads (``source``: a file or a folder)."""
    shapefile = kind in ("Shapefile", "zipped Shapefile")
    if shapefile:
        parts = _shapefile_parts(source, where, layer)
        if source.is_dir():  # an unzipped folder: only its Shapefiles, each by its .shp
            shps = sorted(p for p in source.rglob("*") if p.suffix.lower() == ".shp")
            for shp in shps:
                _check_content(shp, "Shapefile", f"{where} ({shp.name})")
        else:
            _check_content(parts.get(".shp", source), "Shapefile", where)
    else:
        _check_content(source, kind, where)
    if kind == "GeoPackage":
        _refuse_running_sql(source, where)
    chosen = _choose_layer(source, layer, where, kind)
    enc = label = None
    shp = source / f"{chosen}.shp" if source.is_dir() else source
    if shapefile:
        enc, label = _shapefile_encoding(_shapefile_parts(shp, where), encoding, where)
    elif encoding is not None:
        log(f"{where}: encoding= ignored, {kind} text is UTF-8 by definition")
    cap = _limits.check_features(0, limit, where, "max_bytes")
    frame = _gdal_read(source, chosen, enc, where, cap=cap, kind=kind)
    _limits.check_features(len(frame), limit, where, "max_bytes")
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = f"{where} (layer {chosen!r}) has no geometry column; pass a geometry layer."
        raise InputError(msg)
    frame = _valid_text(frame, where, shapefile)
    frame = _declared_crs(frame, shp if shapefile else source, kind, where)
    return frame, chosen, label


def _parse_crs(text: object) -> pyproj.CRS | None:
    """The CRS ``text`` names; ``None`` if pyproj cannot parse it, or for markup or bad tokens.

    (PROJ silently skips tokens that are not ``+key`` or ``+key=value``.)
    """
    if isinstance(text, str):
        if _MARKUP.search(text) or "://" in text:  # never in a CRS (a URL: PROJ fetches it)
            return None
        tokens = text.split()
        if tokens and tokens[0].startswith("+") and not all(map(_PROJ_TOKEN.match, tokens)):
            return None
    try:
        return pyproj.CRS.from_user_input(text)
    except (pyproj.exceptions.CRSError, TypeError, ValueError):
        return None


def _json_member(text: str, first: bool) -> object:
    """The value of ``text``'s first (or last top-level) ``"crs"`` member, else ``_MISSING``."""
    matches = list(_CRS_KEY.finditer(text))
    for m in matches[:1] if first else reversed(matches):
        try:
            value, end = json.JSONDecoder().raw_decode(text, m.end())
        except (ValueError, RecursionError):  # not JSON, or nested a million deep
            return text[m.end() : m.end() + 80] if first else _MISSING
        if first or _AFTER_LAST.match(text, end):
            return value
    return _MISSING


def _geojson_crs(path: Path) -> str | None:
    """The CRS a GeoJSON's ``"crs"`` member names, as text, looked for at the file's ends."""
    with path.open("rb") as f:
        head = f.read(1024**2).decode("utf-8", "replace")
        f.seek(max(0, f.seek(0, os.SEEK_END) - 64 * 1024))
        tail = f.read().decode("utf-8", "replace")
    features = head.find('"features"')
    value = _json_member(head[: features if features >= 0 else len(head)], first=True)
    if value is _MISSING:
        value = _json_member(tail, first=False)
    if value is _MISSING or value is None:
        return None
    if isinstance(value, dict) and isinstance(value.get("properties"), dict):
        props = value["properties"]
        for key, form in (("name", "{}"), ("code", "EPSG:{}"), ("href", "{}")):
            if key in props:
                return form.format(props[key])
    return json.dumps(value, ensure_ascii=False)[:200]


def _declared_crs(frame: gpd.GeoDataFrame, file: Path, kind: str, where: str) -> gpd.GeoDataFrame:
    """``frame`` with the CRS its GeoJSON ``"crs"`` or ``.prj`` declares, judged by pyproj.

    GDAL reads an unknown ``"crs"`` as WGS84 and a bad ``.prj`` as none; one pyproj cannot
    read goes to ``attrs["crs_problem"]``, raised unless ``crs=`` is given.
    """
    if kind == "GeoJSON":
        text, what = _geojson_crs(file), 'its "crs" member'
    elif kind.endswith("Shapefile") and ".prj" in _siblings(file):
        raw = _head(_siblings(file)[".prj"], 65536)
        text, what = raw.decode("utf-8", "replace").strip(), "its .prj"
    else:
        return frame
    if not text:
        return frame
    parsed = _parse_crs(text)
    if parsed is None:
        frame.attrs["crs_problem"] = (
            f"{where}: {what} names the CRS {short(text)!r}, which is not a CRS pyproj "
            "knows; correct it, or pass crs= with the real CRS (e.g. crs='EPSG:4326' for "
            "longitude/latitude)."
        )
    elif frame.crs is None or (kind == "GeoJSON" and not parsed.equals(frame.crs, True)):
        log(f"{where}: CRS {parsed.name!r} from {what}, which GDAL did not read")
        frame = frame.set_crs(parsed, allow_override=True)
    return frame


def _bounds(xy: np.ndarray) -> str:
    """``x 116.4 to 121.9, y 30.8 to 35.1`` for a message."""
    (west, south), (east, north) = np.nanmin(xy, axis=0), np.nanmax(xy, axis=0)
    return f"x {west:.6g} to {east:.6g}, y {south:.6g} to {north:.6g}"


def _check_fit(xy: np.ndarray, source: pyproj.CRS, said: str) -> None:
    """Refuse degrees labelled projected, and a geographic label on values beyond degrees."""
    if not len(xy):
        return
    (west, south), (east, north) = xy.min(axis=0), xy.max(axis=0)
    degrees = west >= -180 and east <= 360 and south >= -90 and north <= 90
    if source.is_projected and degrees and max(abs(west), abs(east)) <= 180:
        unit = " and ".join(sorted({a.unit_name for a in source.axis_info})) or "unknown units"
        raise InputError(
            f"{said} (projected, unit: {unit}), but its coordinates ({_bounds(xy)}) "
            "look like longitude/latitude in degrees; pass crs='EPSG:4326' (or fix the "
            "file's CRS)."
        )
    if source.is_geographic and not degrees:
        raise InputError(
            f"{said} (longitude/latitude in degrees), but its coordinates ({_bounds(xy)}) "
            "are not degrees: they look projected (metres); pass crs= with the CRS they "
            "are in (e.g. crs='EPSG:32650' for UTM zone 50N), or fix the file's CRS."
        )


def _check_reprojected(xy: np.ndarray, source: pyproj.CRS, said: str) -> None:
    """Refuse reprojected positions that are not on Earth or far outside ``source``'s area."""
    fix = "the file's CRS is likely wrong: pass crs= with the CRS the coordinates are in"
    finite = np.isfinite(xy).all(axis=1)
    if not finite.all() or (len(xy) and np.abs(xy[:, 1]).max() > 90 + 1e-6):
        raise InputError(
            f"{said}, and in it {int((~finite).sum()):,} of {len(xy):,} positions have no "
            f"longitude/latitude (the others: {_bounds(xy[finite]) if finite.any() else 'none'}"
            f"); {fix}."
        )
    area = source.area_of_use
    if area is None or not len(xy) or area.west > area.east:  # none, or over 180 degrees
        return
    (west, south), (east, north) = xy.min(axis=0), xy.max(axis=0)
    tol = _AREA_TOLERANCE
    inside = (
        west >= area.west - tol and east <= area.east + tol
        and south >= area.south - tol and north <= area.north + tol
    )  # fmt: skip
    if not inside:
        raise InputError(
            f"{said}, and in it the coordinates fall at longitude {west:.4g} to {east:.4g}, "
            f"latitude {south:.4g} to {north:.4g}, far from where that CRS is used "
            f"({area.west:g} to {area.east:g} E, {area.south:g} to {area.north:g} N); {fix}."
        )


def plane_crs(bounds: np.ndarray) -> pyproj.CRS:
    """A CRS placing coordinates without one on the globe for drawing, losslessly.

    UTM zone 31's transverse Mercator with the data's centre at 3° E on the equator, so
    distances are the file's; a unit is a km when the data span under 1,000 units, else m.
    """
    west, south, east, north = (float(b) for b in bounds)
    scale = 1000.0 if max(east - west, north - south) < 1000 else 1.0
    cx, cy = (west + east) / 2, (south + north) / 2
    return pyproj.CRS.from_proj4(
        f"+proj=tmerc +lat_0=0 +lon_0=3 +k=0.9996 +x_0={cx * scale:.6f} "
        f"+y_0={cy * scale:.6f} +ellps=WGS84 +towgs84=0,0,0 +to_meter={scale:g} +no_defs"
    )


def _source_crs(
    geoms: gpd.GeoSeries, crs: Any, where: str, problem: str | None
) -> tuple[gpd.GeoSeries, str]:
    """``geoms`` with their CRS (``crs=``, the file's, else by position) and its source, said."""
    if crs is not None:
        given = _parse_crs(crs)
        if given is None:
            msg = f"crs={short(repr(crs))} is not a CRS pyproj knows; pass e.g. crs='EPSG:32650'."
            raise InputError(msg)
        if geoms.crs is not None and not given.equals(geoms.crs, ignore_axis_order=True):
            log(
                f"{where}: crs={given.name!r} given; the file's CRS {geoms.crs.name!r} ignored",
                logging.WARNING,
            )
        return geoms.set_crs(given, allow_override=True), f"{where}: crs={given.name!r} was given"
    if problem:
        raise InputError(problem)
    if geoms.crs is not None:
        return geoms, f"{where} says its CRS is {pyproj.CRS.from_user_input(geoms.crs).name!r}"
    west, south, east, north = geoms.total_bounds
    cw, cs, ce, cn = CHINA_BOUNDS
    if west >= cw and east <= ce and south >= cs and north <= cn:
        log(f"{where}: no CRS; coordinates are longitude/latitude in China, taken as EPSG:4326")
        return geoms.set_crs(settings.default_crs), f"{where} has no CRS"
    unit = "km" if max(east - west, north - south) < 1000 else "m"  # as plane_crs scales
    log(
        f"{where} has no CRS: its coordinates (x {west:.6g} to {east:.6g}, y "
        f"{south:.6g} to {north:.6g}) are read as a plane in the file's own units, as "
        f"GeoDa does (contiguity and neighbours exact; distances written in {unit} with "
        f"1 unit = 1 {unit}); if they are longitude/latitude or a projection, pass crs= "
        "(e.g. crs='EPSG:4326')",
        logging.WARNING,
    )
    return geoms.set_crs(plane_crs(geoms.total_bounds)), f"{where} {PLANE_SAID}"


def _to_wgs84(
    geoms: gpd.GeoSeries, crs: Any, datum: str, where: str, problem: str | None = None
) -> tuple[gpd.GeoSeries, str]:
    """Geometries in EPSG:4326 (label checked before and after), datum offset removed; the CRS."""
    wgs84 = pyproj.CRS.from_user_input(settings.default_crs)
    geoms, said = _source_crs(geoms, crs, where, problem)
    source = pyproj.CRS.from_user_input(geoms.crs)
    plane = said.endswith(PLANE_SAID)  # no CRS to check the coordinates against
    if not plane:
        _check_fit(shapely.get_coordinates(geoms.to_numpy()), source, said)
    if not source.equals(wgs84, ignore_axis_order=True):
        try:
            geoms = geoms.to_crs(wgs84)
        except pyproj.exceptions.ProjError as exc:  # another planet's body, no transform
            raise InputError(
                f"{said} ({source.name}), which cannot be converted to longitude/latitude on "
                f"Earth ({short(str(exc), 120)}); pass crs= with the CRS the file is in."
            ) from None
        if not plane:  # a plane is placed for drawing only, as its warning said
            log(f"{where}: reprojected from {source.name} to EPSG:4326")
    if not plane:
        _check_reprojected(shapely.get_coordinates(geoms.to_numpy()), source, said)
    if datum != "wgs84":
        if not _datum.in_gcj_area(*shapely.get_coordinates(geoms.to_numpy()).T).any():
            log(
                f"{where}: datum={datum!r}, but no position lies in China, where the offset "
                "applies; nothing moved",
                logging.WARNING,
            )
        converted = _datum.transform_geometries(geoms.to_numpy(), to="wgs84", source=datum)
        geoms = gpd.GeoSeries(converted, index=geoms.index, crs=settings.default_crs)
        log(f"{where}: positions converted from {datum.upper()} to WGS84")
    return geoms, PLANE if plane else source.name


def _drop_non_finite(
    geoms: gpd.GeoSeries, ids: pd.Series, where: str
) -> tuple[gpd.GeoSeries, np.ndarray]:
    """``geoms`` with features holding NaN or infinite coordinates nulled, and their positions."""
    values = geoms.to_numpy()
    xy, index = shapely.get_coordinates(values, return_index=True)
    bad = np.unique(index[~np.isfinite(xy).all(axis=1)])
    if not len(bad):
        return geoms, bad
    log(
        f"{where}: {len(bad):,} features have NaN or infinite coordinates ({_rows(bad)}; ids "
        f"{listing(ids.iloc[bad].tolist(), 5)}), left out; see the report",
        logging.WARNING,
    )
    values = values.copy()
    values[bad] = None
    return gpd.GeoSeries(values, index=geoms.index, crs=geoms.crs), bad


def _snap(geoms: np.ndarray, tol_deg: float) -> tuple[np.ndarray, int]:
    """Move clusters of vertices within ``tol_deg`` onto their first; how many moved."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    coords = shapely.get_coordinates(geoms) if tol_deg > 0 else ()
    if len(coords) < 2:
        return geoms, 0
    uniq = pd.unique(np.ascontiguousarray(coords, dtype=float).view(np.complex128).ravel())
    points = np.column_stack([uniq.real, uniq.imag])
    tree = cKDTree(points, balanced_tree=False, compact_nodes=False)  # faster to build
    pairs = tree.query_pairs(tol_deg, output_type="ndarray")
    if not len(pairs):
        return geoms, 0
    n = len(points)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    first = pd.Series(np.arange(n)).groupby(label).transform("min").to_numpy()
    moved = first != np.arange(n)
    target = pd.Series(uniq[first][moved], index=uniq[moved])

    def _apply(xy: np.ndarray) -> np.ndarray:
        keys = np.ascontiguousarray(xy, dtype=float).view(np.complex128).ravel().copy()
        new = pd.Series(keys).map(target).to_numpy()
        hit = pd.notna(new)
        keys[hit] = new[hit].astype(np.complex128)
        return np.column_stack([keys.real, keys.imag])

    return shapely.transform(geoms, _apply), int(moved.sum())


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal parts of a geometry, as a (Multi)Polygon, possibly empty."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in _POLYGONAL]
    if len(parts) == 1:
        return parts[0]
    return shapely.MultiPolygon([q for p in parts for q in shapely.get_parts(p)])


def _area_km2(geoms: np.ndarray) -> np.ndarray:
    projected = gpd.GeoSeries(geoms, crs=settings.default_crs).to_crs(settings.equal_area_crs)
    return projected.area.to_numpy() / 1e6


def _keep_polygonal_parts(values: np.ndarray, names: np.ndarray, ids: pd.Series) -> list[dict]:
    """Collections with polygonal parts reduced to them, in place; their report rows."""
    records = []
    for i in np.flatnonzero(names == "GeometryCollection"):
        part_types = sorted({p.geom_type for p in shapely.get_parts(values[i])})
        kept = _polygonal(values[i])
        if not kept.is_empty:
            values[i] = kept
            names[i] = kept.geom_type
            records.append(
                {"row": i + 1, "id": ids.iloc[i], "action": "polygonal parts kept",
                 "issue": f"GeometryCollection of {', '.join(part_types)}"}
            )  # fmt: skip
    return records


def _refuse_kinds(names: np.ndarray, present: np.ndarray, ids: pd.Series, where: str) -> None:
    """Refuse lines, and points among polygons: contiguity needs polygons."""
    polygonal, points = np.isin(names, _POLYGONAL), np.isin(names, _POINTS)
    other = present & ~polygonal & ~points
    if polygonal.any():
        other |= points  # points in a polygon layer
    if other.any():
        bad = np.flatnonzero(other)
        shown = ", ".join(f"{short(ids.iloc[i])} ({names[i]})" for i in bad[:5])
        wanted = "polygons" if polygonal.any() else "polygons or points"
        raise InputError(
            f"{where} must hold {wanted}, but {len(bad):,} rows do not ({_rows(bad)}: ids "
            f"{shown}); remove or convert them."
        )


def _repair(values: np.ndarray, polygonal: np.ndarray, ids: pd.Series, where: str) -> list[dict]:
    """Invalid polygons repaired with ``shapely.make_valid`` in place; their report rows."""
    invalid = np.zeros(len(values), dtype=bool)
    invalid[polygonal] = ~shapely.is_valid(values[polygonal])
    if not invalid.any():
        return []
    idx = np.flatnonzero(invalid)
    reasons = shapely.is_valid_reason(values[idx])
    before = _area_km2(values[idx])
    fixed = shapely.make_valid(values[idx], method="structure", keep_collapsed=False)
    fixed = np.array([_polygonal(g) for g in fixed], dtype=object)
    after = _area_km2(fixed)
    values[idx] = fixed
    log(f"{where}: {len(idx):,} invalid polygons repaired with shapely.make_valid")
    return [
        {"row": i + 1, "id": ids.iloc[i], "issue": f"invalid: {reasons[k]}",
         "action": "dropped (nothing left after repair)" if fixed[k].is_empty else "repaired",
         "area_km2_before": before[k], "area_km2_after": after[k]}
        for k, i in enumerate(idx)
    ]  # fmt: skip


def _check_geometries(
    geoms: gpd.GeoSeries, ids: pd.Series, where: str, non_finite: np.ndarray
) -> tuple[gpd.GeoSeries, pd.DataFrame]:
    """Repair invalid polygons, keep polygonal parts, drop empties: geometries and report."""
    values = geoms.to_numpy().copy()
    null = pd.isna(values)
    empty = ~null & shapely.is_empty(np.where(null, shapely.Point(), values))
    nan_rows = {int(i) for i in non_finite}
    records: list[dict[str, Any]] = [
        {"row": i + 1, "id": ids.iloc[i], "action": "dropped",
         "issue": "NaN or infinite coordinates" if i in nan_rows
         else "null geometry" if null[i] else "empty geometry"}
        for i in np.flatnonzero(null | empty)
    ]  # fmt: skip
    present = ~(null | empty)
    names = np.where(present, gpd.GeoSeries(values).geom_type.to_numpy(dtype=object), "")
    records += _keep_polygonal_parts(values, names, ids)
    _refuse_kinds(names, present, ids, where)
    records += _repair(values, np.isin(names, _POLYGONAL), ids, where)
    empty |= present & shapely.is_empty(np.where(present, values, shapely.Point()))
    report = pd.DataFrame.from_records(records, columns=REPORT_COLUMNS)
    report = report.sort_values("row", kind="stable").reset_index(drop=True)
    keep = ~(null | empty)
    if (~keep).any():
        dropped = np.flatnonzero(~keep)
        log(
            f"{where}: {len(dropped):,} rows without geometry dropped ({_rows(dropped)}; "
            f"ids {listing(ids.iloc[dropped].tolist(), 5)}), see the report",
            logging.WARNING,
        )
    out = gpd.GeoSeries(values, index=geoms.index, crs=geoms.crs)
    return out[keep], report


def read_geometry(
    path: str | Path,
    *,
    id_col: str | None = None,
    layer: str | None = None,
    datum: str | None = None,
    encoding: str | None = None,
    crs: str | pyproj.CRS | None = None,
    snap_m: float = 0.01,
    max_bytes: int | None = None,
    numbered: bool = False,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Read a user's polygons (or points) as WGS84 geometry indexed by unique string ids.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.gpkg``, ``.shp`` (or a ``.zip`` of one), ``.geojson``/``.json`` or ``.parquet``.
    id_col : str, optional
        Default: the first column named like a code, id or name with complete, unique values.
    layer : str, optional
        The layer to read, for files with several.
    datum : {"wgs84", "gcj02", "bd09"}, optional
        The datum the positions are really in (AMap/Tencent: gcj02, Baidu: bd09).
    encoding : str, optional
        Encoding of a Shapefile's attributes; default: its ``.cpg``, else detected.
    crs : str or pyproj.CRS, optional
        The CRS of the coordinates, for a file without one (or overriding a wrong one).
    snap_m : float
        Vertices within this many metres are moved onto one another (0: off).
    max_bytes : int, optional
        The most bytes the file may hold; default ``GEOTOOL_MAX_INPUT_BYTES``, else 2 GiB.
    numbered : bool
        Without a column of unique ids, number the features from 1 instead of refusing.

    Returns
    -------
    tuple of (geopandas.GeoDataFrame, pandas.DataFrame)
        The geometry in EPSG:4326 indexed by id, with the other columns and
        ``attrs["source"]``; the report, a row per geometry repaired or dropped.

    >>> import tempfile, pathlib
    >>> from geotool import boundaries
    >>> towns = boundaries.load("county").loc[["320281", "320282"], ["name", "geometry"]]
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "towns.gpkg"
    >>> towns.reset_index().to_file(f)
    >>> geo, report = read_geometry(f)
    >>> geo.index.tolist(), geo.index.name, len(report)
    (['320281', '320282'], 'adcode', 0)
    """
    limit = _limits.max_input_bytes(max_bytes, "max_bytes")
    path = _check_path(path, limit)
    where = short(path.name, 80)
    chosen_datum = "wgs84" if datum is None else _datum.check_datum(datum, "datum")
    if not (isinstance(snap_m, int | float) and np.isfinite(snap_m) and snap_m >= 0):
        raise InputError(f"snap_m must be a distance in metres >= 0, got {short(repr(snap_m))}.")
    frame, chosen_layer, enc = _read_frame(path, layer, encoding, where, limit)
    if frame.empty:
        msg = f"{where} has no features (layer {chosen_layer!r}); pass a file or layer with some."
        raise InputError(msg)
    if layer is not None or chosen_layer not in (None, path.stem):
        where = f"{where} (layer {short(chosen_layer)!r})"
    id_name, ids = _choose_ids(frame, id_col, where, numbered=numbered)
    geoms = frame.geometry
    if shapely.has_z(geoms.to_numpy()).any():
        geoms = gpd.GeoSeries(shapely.force_2d(geoms.to_numpy()), index=geoms.index, crs=geoms.crs)
    geoms, non_finite = _drop_non_finite(geoms, ids, where)
    if not np.isfinite(geoms.total_bounds).all():  # every geometry missing or empty
        msg = f"None of the {len(frame):,} rows of {where} has a geometry; check the file."
        raise InputError(msg)
    placed = None  # a file without a CRS: where it was placed (its tables' x and y)
    if crs is None and frame.crs is None:
        placed = plane_crs(geoms.total_bounds).to_wkt()
    geoms, crs_read = _to_wgs84(geoms, crs, chosen_datum, where, frame.attrs.get("crs_problem"))
    snapped_values, snapped = _snap(geoms.to_numpy(), snap_m / _M_PER_DEG)
    if snapped:
        geoms = gpd.GeoSeries(snapped_values, index=geoms.index, crs=geoms.crs)
        log(f"{where}: {snapped:,} vertices snapped onto a vertex within {snap_m:g} m")
    geoms, report = _check_geometries(geoms, ids, where, non_finite)
    if geoms.empty:
        msg = f"None of the {len(frame):,} rows of {where} has a geometry; check the file."
        raise InputError(msg)
    own = [id_name] if id_name in frame.columns else []
    attributes = frame.drop(columns=[frame.geometry.name, *own]).loc[geoms.index]
    out = gpd.GeoDataFrame(attributes, geometry=geoms.to_numpy(), crs=settings.default_crs)
    out.index = pd.Index(ids.loc[geoms.index].astype(str).to_numpy(), name=str(id_name))
    out.attrs["source"] = {
        "path": str(path), "format": _FORMATS[path.suffix.lower()], "layer": chosen_layer,
        "crs": crs_read, "plane": placed if crs_read == PLANE else None,
        "datum": chosen_datum, "encoding": enc, "id_col": str(id_name),
        "rows_read": len(frame), "rows_kept": len(out), "snapped_vertices": snapped,
    }  # fmt: skip
    log(f"{where}: {len(out):,} units read ({len(frame) - len(out):,} dropped, see the report)")
    return out, report


def _best_column(
    table: pd.DataFrame, keys: set[str], convert: Callable[[object], object]
) -> tuple[str | None, int]:
    """The table column whose converted values hit ``keys`` most often (and how often)."""
    best, hits = None, 0
    for col in table.columns:
        found = sum(1 for v in pd.unique(table[col].to_numpy(dtype=object)) if convert(v) in keys)
        if found > hits:
            best, hits = col, found
    return best, hits


def _key_column(
    table: pd.DataFrame, geo: gpd.GeoDataFrame, ids: set, names: set, name_source: str
) -> tuple[str | None, str | None]:
    """``(id_col, name_col)``, one of them found: the column hitting most ids, else names."""
    id_col, id_hits = _best_column(table, ids, to_id)
    name_col, name_hits = _best_column(table, names - {""}, _name_key)
    if id_hits >= name_hits and id_col is not None:
        log(f"join_table: the table's ids are in column {id_col!r} (pass id_col=)")
        return id_col, None
    if name_col is None:
        raise InputError(
            f"No column of the table ({listing(table.columns)}) holds ids of geo (e.g. "
            f"{listing(geo.index[:3])}) or its names; pass id_col= or name_col=."
        )
    log(
        f"join_table: the table's names are in column {name_col!r}, matched to "
        f"geo's {name_source} (pass name_col=)"
    )
    return None, name_col


def _geo_lookups(
    geo: gpd.GeoDataFrame, geo_name_col: str | None
) -> tuple[dict, dict, set, str, dict]:
    """``geo``'s lookups: ids, unique normalised names, shared names, the names' source.

    Last, the names without their unit word (江阴 for 江阴市) no other unit shares.
    """
    geo_ids = pd.Index([to_id(v) for v in geo.index], dtype=object)
    if geo_ids.hasnans or geo_ids.has_duplicates:
        raise InputError(
            "geo's index must hold unique, present ids (after trimming and dropping '.0'); "
            "read it with read_geometry or set a unique index."
        )
    columns = [c for c in geo.columns if c != geo.geometry.name]
    _require_column(columns, geo_name_col, "geo_name_col", "geo")
    best = name_column(geo) if geo_name_col is None else geo_name_col
    if best is not None:
        source, names = best, geo[best]
    else:
        source = f"the index ({geo.index.name or 'ids'})"
        names = pd.Series(geo.index, index=geo.index)
    norm = names.map(_name_key)
    counts = norm.value_counts()
    by_name = {n: i for n, i in zip(norm, geo.index, strict=True) if n and counts[n] == 1}
    ambiguous = {n for n, c in counts.items() if n and c > 1}
    stems = norm.map(_stem)
    stem_counts = stems.value_counts()
    by_stem = {t: i for t, i in zip(stems, geo.index, strict=True)
               if t and stem_counts[t] == 1 and t not in counts}  # fmt: skip
    return dict(zip(geo_ids, geo.index, strict=True)), by_name, ambiguous, source, by_stem


#: A table's markers (★, (1), ［2］): never bare digits, which tell a user's units apart.
_SYMBOLS = re.compile(r"[★☆*＊※●◆▲△○#＃†‡]|\(\d+\)|\[\d+\]|（\d+）")


def _unmarked_key(name: object) -> str:
    """:func:`_name_key` without markers (江阴市★ and 江阴市(1) are 江阴市; 网格12 stays)."""
    return _SYMBOLS.sub("", _name_key(name))


def _unmarked(names: pd.Series, index: pd.Index) -> dict[str, Any]:
    """Names without markers that one unit alone has, to its id."""
    bare = names.map(_unmarked_key)
    counts = bare.value_counts()
    return {b: i for b, i in zip(bare, index, strict=True) if b and counts[b] == 1}


def _name_key(name: object) -> str:
    """A name as joins compare it: NFKC, no white space, digits kept (网格1 is not 网格12)."""
    return normalise(name, markers=True)


#: The unit words a Chinese place name may be written without (江阴市 -> 江阴).
_UNIT_WORDS = re.compile(r"(?<=..)(?:自治县|自治旗|街道|市|县|区|镇|乡|旗)$")


def _stem(name: object) -> str:
    """A normalised name without its trailing unit word (two characters kept at least)."""
    return _UNIT_WORDS.sub("", name) if isinstance(name, str) else ""


def _join_report(
    column: pd.Series, status: np.ndarray, matched: pd.Series, left_out: pd.Index
) -> pd.DataFrame:
    """One row per table row, then one per unit of geo no row joined."""
    joined_to = matched.to_numpy(dtype=object).copy()
    joined_to[status != "matched"] = None
    report = pd.DataFrame(
        {
            "row": np.arange(1, len(column) + 1),
            "key": column.astype(object).where(column.notna(), None).to_numpy(),
            "id": joined_to,
            "status": status,
        }
    )
    if len(left_out):  # (concatenating an empty frame warns)
        extra = {"row": None, "key": None, "id": left_out.to_numpy(), "status": "no row joined"}
        report = pd.concat([report, pd.DataFrame(extra)], ignore_index=True)
    report["row"] = report["row"].astype("Int64")
    return report


def join_table(
    table: pd.DataFrame,
    geo: gpd.GeoDataFrame,
    *,
    id_col: str | None = None,
    name_col: str | None = None,
    geo_name_col: str | None = None,
    year_col: str | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Join a table of values to geometry by id, or by name; account for every row.

    Ids compare as :func:`to_id` strings, names after :func:`geotool.match.normalise`. A
    row joins when its key is present, in ``geo`` and held by no other row (of its year,
    with ``year_col``); without ``id_col`` or ``name_col`` the table's column matching most
    ids, else names, is used. ``geo_name_col`` defaults to the first named like a name, else
    ``geo``'s index.

    Returns
    -------
    tuple of (geopandas.GeoDataFrame, pandas.DataFrame)
        The joined units in ``geo``'s order (shared columns of ``geo`` get ``_geo``); the
        report, per table row a ``status`` of ``matched``, ``missing key``, ``no such id``
        / ``no such name``, ``duplicate`` or ``ambiguous name``, then ``no row joined`` per
        unit left out.

    >>> from geotool import boundaries
    >>> geo = boundaries.load("county").loc[["320281", "320282", "320583"], ["name", "geometry"]]
    >>> table = pd.DataFrame({"code": [320281, "320282.0", 999999], "gdp": [4.0, 2.0, 1.0]})
    >>> joined, report = join_table(table, geo, id_col="code")
    >>> joined.index.tolist(), report["status"].tolist()
    (['320281', '320282'], ['matched', 'matched', 'no such id', 'no row joined'])
    """
    if not isinstance(table, pd.DataFrame) or not isinstance(geo, gpd.GeoDataFrame):
        raise InputError(
            f"join_table takes a DataFrame and a GeoDataFrame, got {type(table).__name__} and "
            f"{type(geo).__name__}; read them with geotool.io.read_table and read_geometry."
        )
    if id_col is not None and name_col is not None:
        msg = "Pass id_col= or name_col=, not both: ids are joined on when the table has them."
        raise InputError(msg)
    for col, parameter in ((id_col, "id_col"), (name_col, "name_col"), (year_col, "year_col")):
        _require_column(list(table.columns), col, parameter, "the table")
    by_id, by_name, ambiguous, name_source, by_stem = _geo_lookups(geo, geo_name_col)
    if id_col is None and name_col is None:
        id_col, name_col = _key_column(table, geo, set(by_id), {*by_name, *ambiguous}, name_source)
    by_ids = id_col is not None
    column = table[id_col if by_ids else name_col]
    keys = _ids(column) if by_ids else column.map(_name_key).astype(object)
    keys = keys.where(keys.astype(bool), None) if not by_ids else keys
    matched = keys.map(by_id if by_ids else by_name)
    if not by_ids:  # one side without its unit word: 江阴 for 江阴市 (never 江阴县 for 江阴市)
        bare = keys.where(keys.map(_stem) == keys)
        matched = matched.fillna(bare.map(by_stem))  # 江阴 in the table
        plain = {n: i for n, i in by_name.items() if _stem(n) == n}  # 江阴 in the geometry
        matched = matched.fillna(keys.map(_stem).map(plain))
        geo_names = geo[name_source] if name_source in geo.columns else geo.index.to_series()
        unmarked = _unmarked(geo_names, geo.index)  # 江阴市★ or 江阴市(1) on either side
        matched = matched.fillna(column.map(_unmarked_key).map(unmarked))
    scope = pd.DataFrame({"key": keys, "year": None if year_col is None else table[year_col]})
    repeated = keys.notna() & scope.duplicated(keep=False)
    shared = scope.assign(key=matched)  # two keys, one unit (江阴市 and 江阴市★)
    repeated |= matched.notna() & shared.duplicated(keep=False)
    status = np.select(
        [
            keys.isna().to_numpy(),
            repeated.to_numpy(),
            matched.notna().to_numpy(),
            (~keys.isin(ambiguous)).to_numpy() | by_ids,
        ],
        ["missing key", "duplicate", "matched", "no such id" if by_ids else "no such name"],
        default="ambiguous name",
    )
    ok = status == "matched"
    joined_ids = pd.Index(matched[ok].to_numpy())
    left_out = geo.index.difference(joined_ids, sort=False)
    report = _join_report(column, status, matched, left_out)
    values = table[ok].drop(columns=[c for c in [id_col] if c is not None and by_ids])
    values.index = joined_ids
    if geo.geometry.name in values.columns:
        values = values.rename(columns={geo.geometry.name: f"{geo.geometry.name}_table"})
    base = geo.rename(columns={c: f"{c}_geo" for c in geo.columns if c in values.columns})
    joined = base.loc[base.index.isin(joined_ids)].join(values)  # one row per unit (and year)
    problems = {k: int(v) for k, v in pd.Series(status).value_counts().items() if k != "matched"}
    against = "" if by_ids else f" (names compared with geo's {name_source})"
    log(
        f"join_table: {int(ok.sum()):,} of {len(table):,} rows joined"
        + (f" ({', '.join(f'{v:,} {k}' for k, v in problems.items())})" if problems else "")
        + f"; {len(left_out):,} units of geo without a row" + (against if problems else ""),
        logging.WARNING if problems else logging.INFO,
    )
    return joined, report
