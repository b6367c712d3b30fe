"""Interactive maps of any polygons (or points), published as one offline HTML file.

A layer travels as TopoJSON (each border once, decoded by ``maps/topojson.js``): the
bundled county layer (``geo=None``, read once), or any GeoDataFrame, reprojected to
WGS84 (GCJ-02 under AMap tiles) and simplified so a page stays light. Tooltips travel
as one compact table that the page (``maps/page.js``) turns into text nodes.

Safety: all data enter the page through :mod:`geotool._html` (escaped JSON in one call
of the page's script; legends and titles HTML-escaped), and :func:`to_html` refuses a
page in which anything but geotool's scripts could run. Leaflet is inlined from
``xstatic-leaflet`` (``cdn=True`` loads it from the network); tiles are optional.
:func:`linked_lisa` is the linked Moran scatter / cluster / significance view (SVG).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geotool import boundaries, settings
from geotool._atomic import write_atomic
from geotool._cache import settings_cache
from geotool._errors import InputError
from geotool._html import JSONText, check_page, escape, is_missing, script_call
from geotool._log import log

if TYPE_CHECKING:  # folium is imported where a map is made (0.4 s a process saves)
    import folium
from geotool.maps._linked import (
    EARLY_ERROR_HOOK,
    LISA_COLOURS,
    NOT_SIGNIFICANT,
    NOT_TESTED,
    P_CLASSES,
    SIDED_WORDS,
    SOUTH_SEA,
    fmt_p,
    geo_series,
    linked_lisa,
    rule_text,
)
from geotool.maps._words import MOBILE, html_lang, page_words, translate

__all__ = [
    "BASEMAPS", "CHINA_VIEW", "LISA_COLOURS", "NEUTRAL", "NOT_SIGNIFICANT", "NOT_TESTED",
    "P_CLASSES", "SIDED_WORDS", "SOUTH_SEA", "asset", "choropleth", "escape", "fmt_p", "legend_html",
    "linked_lisa", "rule_text", "to_html", "unit_map"
]  # fmt: skip

NEUTRAL = "#eeeeee"
#: The view a national map opens on, ((south, west), (north, east)): all of China's land
#: (73.5-135.1 E, 18.2-53.6 N; the South China Sea's islands lie inside the maritime line)
#: with a margin, whatever the coloured units are (the report's ranked counties lie east).
CHINA_VIEW = ((17.6, 72.8), (54.2, 135.7))
BASEMAPS = {
    "none": None,
    "positron": (
        "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
        "&copy; OpenStreetMap contributors &copy; CARTO",
    ),
    "osm": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "&copy; OpenStreetMap contributors"),
    "amap": (
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
        "&x={x}&y={y}&z={z}",
        "&copy; AutoNavi (GCJ-02)",
    ),
}


@functools.cache
def _elements() -> tuple[type, type]:
    """Page elements of ready HTML, and of raw JavaScript placed after the map.

    Not ``folium.Element``/``MacroElement``: those compile their text as a Jinja
    template (seconds for a national layer, and ``{{`` in the data would run).
    """
    from branca.element import Element
    from jinja2 import Template

    class Raw(Element):
        _template = Template("{{ this.text }}")

        def __init__(self, text: str) -> None:
            super().__init__()
            self._name = "GeotoolRaw"
            self.text = text

    class Script(Element):
        def __init__(self, js: str) -> None:
            super().__init__()
            self._name = "GeotoolScript"
            self.js = js

        def render(self, **kwargs: Any) -> str:
            root: Any = self.get_root()  # a branca Figure
            root.script.add_child(Raw(self.js), name=self.get_name())
            return ""

    return Raw, Script


def _raw(text: str) -> Any:
    """A page element of ready HTML."""
    return _elements()[0](text)


def _script(js: str) -> Any:
    """A map child that places ``js`` in the page script after the map is created."""
    return _elements()[1](js)


@settings_cache(maxsize=2)
def _topology(datum: str) -> str:
    """The bundled web layer as compact JSON text, in WGS84 or shifted to GCJ-02."""
    path = Path(settings.boundaries_dir) / "county_web.topojson"
    text = path.read_text(encoding="utf-8")
    if datum == "wgs84":
        return text
    from geotool.datum import wgs84_to_gcj02

    topo = json.loads(text)
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        q = np.cumsum(np.asarray(arc, dtype=np.int64), axis=0)
        lon, lat = wgs84_to_gcj02(q[:, 0] * sx + tx, q[:, 1] * sy + ty)
        shifted = np.column_stack([np.round((lon - tx) / sx), np.round((lat - ty) / sy)])
        shifted = shifted.astype(np.int64)
        arcs.append(np.diff(shifted, axis=0, prepend=np.zeros((1, 2), np.int64)).tolist())
    topo["arcs"] = arcs
    return json.dumps(topo, separators=(",", ":"))


@settings_cache(maxsize=1)
def asset(name: str) -> str:
    """A file shipped with :mod:`geotool.maps` (a script, a page template), read once."""
    return resources.files("geotool.maps").joinpath(name).read_text(encoding="utf-8")


#: Vertices above which a user's layer is simplified for the page.
_MAX_VERTICES = 400_000
#: Encoded user geometries by content: a run draws the same units on five or more maps.
_ENCODED: dict[bytes, str] = {}


def _encode_geo(geo: gpd.GeoDataFrame | gpd.GeoSeries, datum: str, groups: pd.Series | None) -> str:
    """A user's geometry as compact TopoJSON (polygons) or GeoJSON (other types) text.

    Kept for the last four geometries (by a hash of WKB, ids, datum and groups).
    """
    series = geo_series(geo, settings.default_crs)
    ids = [str(i) for i in series.index]
    geoms = series.to_numpy()
    parts = ["\x1f".join(ids).encode(), datum.encode()]
    if groups is not None:
        groups = groups.reindex(series.index).astype(str)
        parts.append("\x1f".join(groups).encode())
    return _by_content(_ENCODED, geoms, parts, lambda: _encode_text(ids, geoms, datum, groups))


def _by_content(store: dict[bytes, Any], geoms: np.ndarray, parts: list[bytes], make: Any) -> Any:
    """``make()``, kept in ``store`` (its last four) by a hash of ``geoms``' WKB and ``parts``."""
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    for part in (*shapely.to_wkb(geoms), *parts):
        digest.update(part)
    key = digest.digest()
    if key not in store:
        if len(store) >= 4:
            store.pop(next(iter(store)))
        store[key] = make()
    return store[key]


def _encode_text(ids: list[str], geoms: np.ndarray, datum: str, groups: pd.Series | None) -> str:
    """The body of :func:`_encode_geo`: polygons simplified past ``_MAX_VERTICES``."""
    from geotool._topojson import encode

    geoms = _in_datum(geoms, datum)
    if not set(shapely.get_type_id(geoms).tolist()) <= {3, 6}:
        return _geojson(geoms, [{"id": i} for i in ids])
    if int(shapely.get_num_coordinates(geoms).sum()) > _MAX_VERTICES:
        span = float(np.ptp(shapely.total_bounds(geoms).reshape(2, 2), axis=0).max())
        tolerance = span / 4000  # about 1/4 pixel on a full-screen map of the extent
        if bool(shapely.coverage_is_valid(geoms)):  # neighbours keep sharing borders
            geoms = shapely.coverage_simplify(geoms, tolerance)
        else:
            geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
    props = [{"id": i} for i in ids]
    if groups is not None:
        props = [{"id": i, "g": g} for i, g in zip(ids, groups.to_numpy(), strict=True)]
    return json.dumps(encode(geoms, props), separators=(",", ":"))


def _in_datum(geoms: np.ndarray, datum: str) -> np.ndarray:
    """WGS84 geometries in the map's datum (shifted to GCJ-02 under AMap tiles)."""
    if datum != "gcj02":
        return geoms
    from geotool.datum import transform_geometries

    return transform_geometries(geoms, to="gcj02")


def _geojson(geoms: np.ndarray, properties: list[dict[str, Any]]) -> str:
    """WGS84 geometries as compact GeoJSON text, a feature per geometry with its properties."""
    feats = json.loads(gpd.GeoSeries(geoms, crs=settings.default_crs).to_json())
    for f, props in zip(feats["features"], properties, strict=True):
        f["properties"] = props
    return json.dumps(feats, separators=(",", ":"))


_TOOLTIP_CACHE: dict[tuple, dict[str, Any]] = {}


def _tooltips(
    table: pd.DataFrame, fields: dict[str, str], ids: pd.Index | None, title: str | None
) -> dict[str, Any]:
    """The units' tooltip table (:func:`_build_tooltips`), cached by the table's content."""
    key = (
        tuple(table.columns.astype(str)),
        int(pd.util.hash_pandas_object(table.astype(str), index=True).sum()) if len(table) else 0,
        tuple(fields.items()),
        None if ids is None else tuple(map(str, ids)),
        title,
        str(settings.boundaries_dir),
    )
    if key not in _TOOLTIP_CACHE:
        _TOOLTIP_CACHE.clear()
        _TOOLTIP_CACHE[key] = _build_tooltips(table, fields, ids, title)
    return _TOOLTIP_CACHE[key]


#: Characters coding small indices in one character each ("." = none).
_CODES = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _codes(indices: list[int | None]) -> str | list[int | None]:
    """Small indices as one character each (``"."`` for none), else the list as it is."""
    if all(i is None or i < len(_CODES) for i in indices):
        return "".join("." if i is None else _CODES[i] for i in indices)
    return indices


def _column(kind: str, values: list[Any], **extra: Any) -> dict[str, Any]:
    """A table column; mostly missing ones list only the rows that have a value (``at``)."""
    present = [r for r, v in enumerate(values) if v is not None]
    if len(present) < 0.5 * len(values):
        return {"k": kind, **extra, "at": present, "v": [values[r] for r in present]}
    return {"k": kind, **extra, "v": values}


def _texts(texts: list[str | None]) -> dict[str, Any]:
    """Texts (``None``: missing) as a column: inline, or coded when often repeated.

    A coded column lists each distinct text once (``d``, most frequent first).
    """
    counts = pd.Series([t for t in texts if t is not None], dtype=object).value_counts()
    if len(counts) > 0.5 * len(texts):
        return _column("s", texts)
    at = {t: i for i, t in enumerate(counts.index)}
    col = _column("i", [None if t is None else at[t] for t in texts], d=list(counts.index))
    col["v"] = _codes(col["v"])
    return col


def _values(values: np.ndarray, label: str = "") -> dict[str, Any]:
    """Any values as a column: integers as JSON numbers, floats as readable text.

    Floats read as :func:`geotool._numbers.for_values` writes them (4 significant
    digits, the data's decimals at most, 12,345 or 4.476万 by ``label``'s unit); other
    values as ``str`` shows them.
    """
    from geotool._numbers import for_values

    shown = [None if is_missing(v) else v for v in values]
    present = [v for v in shown if v is not None]
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in present):
        return _column("n", [None if v is None else int(v) for v in shown])
    if present and all(isinstance(v, float | np.floating) and np.isfinite(v) for v in present):
        fmt = for_values(present, label=label)
        return _texts([None if v is None else fmt(v) for v in shown])
    return _texts([None if v is None else str(v) for v in shown])


def _build_tooltips(
    table: pd.DataFrame, fields: dict[str, str], ids: pd.Index | None, title: str | None
) -> dict[str, Any]:
    """The units' tooltip and search data as one compact table; the page builds the text.

    ``ids`` (every unit, in order), ``head`` (name; for the bundled layer also pinyin,
    province, prefecture) and ``fields`` ([label, column] per row). Column kinds: ``s``
    text, ``i`` indices into distinct texts ``d``, ``n`` integers, ``f`` floats, ``g``
    numbers rounded to ``d`` digits; ``null`` is missing. No HTML.
    """
    if ids is None:  # the bundled layer: names, pinyin, province, prefecture, code
        units = boundaries.units()
        index = units.index
        head = {
            k: _texts([str(v) for v in units[col]])
            for k, col in (("name", "name"), ("pinyin", "name_pinyin"),
                           ("province", "province"), ("prefecture", "prefecture"))
        }  # fmt: skip
    else:
        index = pd.Index(ids)
        names = (
            table[title].reindex(index).to_numpy(dtype=object)
            if title is not None and title in table.columns
            else np.asarray(index, dtype=object)
        )
        head = {"name": _texts([str(v) for v in names])}
    extra = table.reindex(index)
    rows = [
        [str(label), _values(extra[col].to_numpy(dtype=object), str(label))]
        for col, label in fields.items()
        if col in extra.columns
    ]
    return {"ids": [str(i) for i in index], "head": head, "fields": rows}


def _line_columns(line: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    """A compact tooltip line as columns on the table's ids (see :func:`unit_map`)."""
    from geotool._numbers import Formatter

    rows = {str(k): list(v) for k, v in line["rows"].items()}
    classes = [str(c) for c in line.get("classes") or []]
    formats = list(line.get("formats") or [])
    formats += [None] * (len(line["parts"]) - len(formats))
    cols = []
    for k in range(len(line["parts"])):
        raw = [rows[i][k] if i in rows else None for i in ids]
        if k == 0 and classes:
            cols.append(_texts([None if v is None else classes[int(v)] for v in raw]))
        elif formats[k] and str(formats[k]).startswith("g"):
            fmt = Formatter(int(str(formats[k])[1:]), whole=True)
            cols.append(_texts(["–" if v is None else fmt(float(v)) or "–" for v in raw]))
        elif formats[k] == "p":
            cols.append(_texts([None if v is None else fmt_p(v) for v in raw]))
        else:
            cols.append(_values(np.asarray(raw, dtype=object)))
    return {
        "label": str(line["label"]),
        "parts": [str(p) for p in line["parts"]],
        "has": "".join("1" if i in rows else "0" for i in ids),
        "cols": cols,
    }


#: Colours a legend's style attribute takes: hex, a CSS colour name, rgb()/rgba().
_CSS_COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}|rgba?\([0-9.,%\s]+\)")


def legend_html(title: str, legend: dict[str, str]) -> str:
    """A legend box (label -> colour), every value escaped; colours must be CSS colours."""
    bad = [c for c in legend.values() if not _CSS_COLOUR.fullmatch(str(c))]
    if bad:
        msg = (
            f"legend colours must be CSS colours ('#rrggbb', a name, rgb(...)); "
            f"got {str(bad[0])[:40]!r}."
        )
        raise ValueError(msg)
    items = "".join(
        f'<div><span style="display:inline-block;width:14px;height:10px;margin-right:6px;'
        f'background:{escape(colour)};border:1px solid #999"></span>{escape(label)}</div>'
        for label, colour in legend.items()
    )
    return (  # a <details>: folded on small screens (maps/_words.py MOBILE)
        f'<div class="geotool-legend" style="position:absolute;bottom:28px;right:10px;'
        f"z-index:1000;background:rgba(255,255,255,.92);padding:6px 9px;font:12px sans-serif;"
        f'border:1px solid #bbb;border-radius:4px;max-width:260px"><details open>'
        f"<summary>{escape(title)}</summary>{items}</details></div>"
    )


def unit_map(
    layers: list[dict[str, Any]],
    *,
    geo: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    table: pd.DataFrame | None = None,
    fields: dict[str, str] | None = None,
    label_col: str | None = None,
    groups: pd.Series | None = None,
    title: str = "",
    legend: dict[str, str] | None = None,
    legend_title: str = "",
    overlays: list[tuple[str, gpd.GeoDataFrame, dict[str, Any]]] | None = None,
    lines: list[dict[str, Any]] | None = None,
    fit: str | None = None,
    basemap: str = "none",
    cdn: bool = False,
    offline: bool | None = None,
    lang: str | None = None,
) -> folium.Map:
    """A folium map of units with one or more colour layers (write it with :func:`to_html`).

    Parameters
    ----------
    layers : list of dict
        ``{"name": str, "colours": {id: colour}}``, optionally ``"neutral"`` (units
        without a colour; default :data:`NEUTRAL`) and ``"legend"`` (``[label, colour]``
        pairs the legend shows while the layer is switched on). The first is shown; ids are the
        bundled adcodes (``geo=None``) or ``geo``'s index.
    geo : geopandas.GeoDataFrame or geopandas.GeoSeries, optional
        The units (any CRS, any index); default the bundled county layer.
    table, fields : pandas.DataFrame, dict, optional
        Tooltip values on the units' ids, and the rows shown (column -> label).
    label_col : str, optional
        For ``geo``: the column of ``table`` naming each unit (default the id).
    groups : pandas.Series, optional
        For ``geo`` polygons: a grouping (e.g. province) whose outlines are drawn.
    title, legend, legend_title : str, dict, str
        Title; legend (label -> colour) and its heading.
    overlays : list of tuple, optional
        ``(name, gdf, style)``: vector layers with Leaflet path options; a ``label``
        column becomes the tooltip.
    lines : list of dict, optional
        Compact tooltip lines: ``{"label", "parts": [str], "rows": {id: [value ...]}}``,
        optionally ``"classes"`` (a row's first value indexes them) and ``"formats"``
        per part (``"g4"``: 4 significant digits, 12,345 kept whole; ``"p"``: as
        :func:`fmt_p`).
    fit : {"coloured", "all"}, optional
        Open on the first layer's coloured units (all when none is), or on every unit;
        a national map "all" opens on the whole of China (:data:`CHINA_VIEW`). Default
        "all" for a national map (the bundled layer, a ``geo`` spanning China), else
        "coloured".
    basemap : {"none", "positron", "osm", "amap"}
        Optional tiles (``amap`` shifts the polygons to GCJ-02).
    cdn : bool
        Load Leaflet from its CDN instead of inlining it (blank offline).
    offline : bool, optional
        Deprecated (pages are offline by default); ``True`` also refuses tiles.
    lang : {"zh", "en"}, optional
        The page's one language (chrome, titles, layers, legends, fields; data as they
        are); default Chinese for the bundled layer, else English.

    """
    _check_options(basemap, fit, cdn=cdn, offline=offline)
    national = geo is None or _national(geo)
    fit = fit or ("all" if national else "coloured")
    lang = lang or ("zh" if geo is None else "en")
    words = page_words(lang)
    title, legend_title = translate(title, lang), translate(legend_title, lang)
    legend = {translate(k, lang): v for k, v in legend.items()} if legend else legend
    fields = {k: translate(v, lang) for k, v in (fields or {}).items()}
    layers = [{**layer, "name": translate(layer["name"], lang)} for layer in layers]
    for layer in layers:
        if layer.get("legend"):
            layer["legend"] = [[translate(k, lang), c] for k, c in layer["legend"]]
    lines = [_said_line(line, lang) for line in lines or []]
    overlays = [_said_overlay(o, lang) for o in overlays or []]
    context = _context(geo) if geo is not None and groups is None else None
    if context is not None:  # the area's outline, so that it reads
        overlays.insert(0, (words["context"], context, _CONTEXT_STYLE))
    fmap = _new_map(basemap)
    datum = "gcj02" if basemap == "amap" else "wgs84"
    table = table if table is not None else pd.DataFrame()
    if geo is None:
        data, ids, outlines = _topology(datum), None, words["province_outlines"]
    else:
        data, ids = _encode_geo(geo, datum, groups), pd.Index(geo.index)
        outlines = words["outlines"] if groups is not None else ""
    info = dict(_tooltips(table, fields, ids, label_col))
    info["lines"] = [_line_columns(line, info["ids"]) for line in lines]
    spec = [_layer(layer, info["ids"]) for layer in layers]
    overlay_data = _overlays(overlays or [], datum, maritime=lang if national else None)
    _add_html(fmap, title, legend, legend_title, cdn=cdn)
    options = {
        "testHooks": bool(settings.page_test_hooks),
        "outlines": outlines,
        "overlays": overlay_data,
        "fit": fit,
        "bounds": CHINA_VIEW if national and fit == "all" else None,
        "fitExclude": SOUTH_SEA if geo is None else None,
        "searchHint": words["search_bundled" if geo is None else "search"],
        "words": {"fullScreen": words["full_screen"], "tilesFailed": words["tiles_failed"]},
    }
    call = script_call("geotoolPage", JSONText(data), info, spec, options, names=(fmap.get_name(),))
    fmap.add_child(_script(asset("topojson.js") + asset("page.js") + call))  # after the map
    fmap.geotool_cdn = cdn  # type: ignore[attr-defined]  # read by to_html
    fmap.geotool_lang = lang  # type: ignore[attr-defined]  # read by to_html: <html lang>
    return fmap


#: The context outline of a map of one's own units: light, under everything, not a target.
_CONTEXT_STYLE = {"color": "#9a9a9a", "weight": 3, "opacity": 0.6, "fill": False,
                  "interactive": False}  # fmt: skip


#: Context outlines by content (the last four layers): a run draws its units on ten or more
#: pages, and the union takes 0.5 s on 367 prefectures.
_CONTEXTS: dict[bytes, gpd.GeoDataFrame | None] = {}


def _context(geo: gpd.GeoDataFrame | gpd.GeoSeries) -> gpd.GeoDataFrame | None:
    """The union of the units (their outer outline), simplified to the page's precision.

    ``None`` for units that are not polygons (points, lines: no area to outline).
    """
    series = geo_series(geo, settings.default_crs)
    geoms = series[series.geom_type.isin(["Polygon", "MultiPolygon"])].to_numpy()
    geoms = geoms[~shapely.is_empty(geoms)]
    crs = [settings.default_crs.encode()]
    return _by_content(_CONTEXTS, geoms, crs, lambda: _outline(geoms))


def _outline(geoms: np.ndarray) -> gpd.GeoDataFrame | None:
    """The body of :func:`_context`: the outer outline of polygons, or ``None``."""
    if not len(geoms):
        return None
    span = float(np.ptp(shapely.total_bounds(geoms).reshape(2, 2), axis=0).max()) or 1.0
    union = shapely.union_all(shapely.make_valid(geoms), grid_size=span / 1e5)
    boundary = shapely.simplify(shapely.boundary(union), span / 4000)  # as the units' own
    return gpd.GeoDataFrame({"label": [""]}, geometry=[boundary], crs=settings.default_crs)


def _said_line(line: dict[str, Any], lang: str) -> dict[str, Any]:
    """A tooltip line's label, parts and classes in the page's language."""
    out = {**line, "label": translate(line["label"], lang)}
    out["parts"] = [translate(p, lang) if p else p for p in line["parts"]]
    if "classes" in line:
        out["classes"] = [translate(c, lang) for c in line["classes"]]
    return out


def _said_overlay(
    overlay: tuple[str, gpd.GeoDataFrame, dict[str, Any]], lang: str
) -> tuple[str, gpd.GeoDataFrame, dict[str, Any]]:
    """An overlay's name, and its features' labels, in the page's language."""
    name, gdf, style = overlay
    if "label" in gdf.columns:
        gdf = gdf.assign(label=[translate(x, lang) for x in gdf["label"]])
    return translate(name, lang), gdf, style


def _check_options(basemap: str, fit: str | None, *, cdn: bool, offline: bool | None) -> None:
    """Refuse :func:`unit_map` options that are unknown or cannot work together."""
    if basemap not in BASEMAPS:
        msg = f"basemap must be one of {list(BASEMAPS)}, got {str(basemap)[:40]!r}."
        raise InputError(msg)
    if offline and basemap != "none":
        msg = "An offline map cannot load tiles; use basemap='none' with offline=True."
        raise InputError(msg)
    if cdn and offline:
        msg = "cdn=True loads Leaflet from the network; it cannot be combined with offline=True."
        raise InputError(msg)
    if fit not in (None, "all", "coloured"):
        msg = f"fit must be 'all' or 'coloured' (or None: by the map's extent), got {fit!r}."
        raise InputError(msg)


def _new_map(basemap: str) -> folium.Map:
    """An empty map of China that loads Leaflet only (no jQuery, no Bootstrap), with tiles."""
    import folium

    fmap = folium.Map(
        location=[35, 105], zoom_start=4, tiles=None, prefer_canvas=True, control_scale=False,
        zoom_snap=0.25,  # fitting the data's bounds at any scale, not the next whole zoom
    )
    fmap.default_js = [fmap.default_js[0]]
    fmap.default_css = [fmap.default_css[0]]
    if BASEMAPS[basemap]:
        url, attribution = BASEMAPS[basemap]  # type: ignore[misc]
        folium.TileLayer(
            url, attr=attribution, name=basemap, subdomains="1234" if basemap == "amap" else "abc"
        ).add_to(fmap)
    return fmap


def _layer(layer: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    """A colour layer on the table's ids: its escaped name, a palette, one code per unit."""
    name = escape(layer["name"])
    colours = {str(k): str(v) for k, v in dict(layer["colours"]).items()}
    palette = list(dict.fromkeys(colours.values()))
    at = {c: i for i, c in enumerate(palette)}
    out: dict[str, Any] = {
        "name": name,
        "palette": palette,
        "codes": _codes([at[colours[i]] if i in colours else None for i in ids]),
        "neutral": str(layer.get("neutral", NEUTRAL)),
        "stroke": "#777777",
    }
    if layer.get("legend"):  # the legend while this layer is on: [label, colour] (page.js)
        legend_html("", dict(layer["legend"]))  # colours checked as the page's legend's
        out["legend"] = [[str(label), str(colour)] for label, colour in layer["legend"]]
    return out


def _overlays(
    overlays: list[tuple[str, gpd.GeoDataFrame, dict[str, Any]]], datum: str, *,
    maritime: str | None,
) -> list[dict[str, Any]]:
    """The overlays' data for the page, after the maritime line (in ``maritime``'s language)."""
    out = [_maritime_overlay(datum, maritime)] if maritime else []
    for name, gdf, style in overlays:
        if datum == "gcj02":
            msg = "Overlays are not shifted to GCJ-02; use another basemap with overlays."
            raise InputError(msg)
        feats = json.loads(gdf.to_crs(settings.default_crs).to_json())
        labels = gdf["label"] if "label" in gdf.columns else [""] * len(gdf)
        for f, label in zip(feats["features"], labels, strict=True):
            f["properties"] = {"label": escape(label)}
        out.append(
            {"name": escape(name), "data": feats, "style": style, "point": {**style, "radius": 6}}
        )
    return out


def _add_html(
    fmap: folium.Map, title: str, legend: dict[str, str] | None, legend_title: str, *, cdn: bool
) -> None:
    """The page's HTML around the map: test hook, CDN note, title box, legend (escaped)."""
    root: Any = fmap.get_root()  # a branca Figure: header, html, script
    if settings.page_test_hooks:
        root.header.add_child(_raw(EARLY_ERROR_HOOK))
    if cdn:  # a CDN page offline: say why it is empty, and how to get one that is not
        root.header.add_child(_raw(_CDN_NOTE))
    if title:
        root.html.add_child(
            _raw(
                f'<div class="geotool-title" style="position:absolute;top:8px;left:60px;z-index:1000;'
                f"background:rgba(255,255,255,.92);padding:4px 10px;font:bold 14px sans-serif;"
                f'border:1px solid #bbb;border-radius:4px">{escape(title)}</div>'
            )
        )
    if legend:
        root.html.add_child(_raw(legend_html(legend_title, legend)))
    root.header.add_child(_raw(MOBILE))  # small screens: layer list and legend fold


_CDN_NOTE = (
    '<script>window.addEventListener("DOMContentLoaded",function(){if(window.L){return;}'
    'var p=document.createElement("p");p.className="geotool-cdn-note";p.style.cssText='
    '"position:absolute;z-index:2000;top:40px;left:60px;background:#fff3cd;padding:6px 10px;'
    'border:1px solid #c9a227;font:13px sans-serif";p.textContent="Leaflet could not load '
    'from its CDN (no network?). Write the map without cdn to get a self-contained page.";'
    "document.body.appendChild(p);});</script>"
)


def _national(geo: gpd.GeoDataFrame | gpd.GeoSeries) -> bool:
    """Whether ``geo`` spans China (:func:`geotool.maps.figure.china_scope`): the line's maps."""
    from geotool.maps.figure import china_scope

    lonlat = geo.to_crs(settings.default_crs) if geo.crs is not None else geo
    return china_scope(lonlat.geometry.to_numpy()) == "national"


@settings_cache(maxsize=4)
def _maritime_overlay(datum: str, lang: str) -> dict[str, Any]:
    """The maritime boundary line (十段线), to ~10 m, in ``lang``: national maps of China only.

    :func:`unit_map` adds it on the bundled units and on a ``geo`` that spans China, never
    on part of China (a province, a city) or outside it (``docs/cartography.md``).
    """
    words = page_words(lang)
    geoms = _in_datum(boundaries.maritime().geometry.to_numpy(), datum)
    geoms = shapely.set_precision(shapely.simplify(geoms, 0.005), 1e-4)
    lines = _geojson(geoms, [{"label": words["maritime_label"]}] * len(geoms))
    style = {"color": "#333333", "weight": 2, "opacity": 0.9}
    return {"name": words["maritime"], "data": json.loads(lines), "style": style,
            "point": style}  # fmt: skip


def choropleth(
    values: pd.Series,
    *,
    geo: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    scheme: str = "quantiles",
    k: int | None = None,
    breaks: list[float] | None = None,
    cmap: str = "YlOrRd",
    title: str = "",
    label: str | None = None,
    lang: str | None = None,
    **kwargs: Any,
) -> folium.Map:
    """Draw any numeric column with a mapclassify scheme, its classes and counts in the legend.

    Parameters
    ----------
    values : pandas.Series
        Numeric, on the units' ids (bundled adcodes, or ``geo``'s index); missing values
        are neutral. No id matching a unit is an error; a partial match is logged.
    geo : geopandas.GeoDataFrame or geopandas.GeoSeries, optional
        The units to draw; default the bundled county layer.
    scheme : {"quantiles", "fisherjenks", "equalinterval", "user"}
        A classifier of :func:`geotool._classify.bins`; ``user`` takes ``breaks``.
    k : int, optional
        Number of classes (not for ``user``); default 5, or fewer distinct values.
    breaks : list of float, optional
        Class upper bounds, for ``scheme="user"``.
    cmap, title : str
        A matplotlib colormap name; the map's title.
    label, lang : str, optional
        The variable's label (default ``values.name``; its unit, ``"GDP(亿元)"``, decides
        万/亿) and the language of the legend's numbers (default: Chinese when the unit is).
        Missing values are counted in the legend ("no data").
    **kwargs
        Passed to :func:`unit_map` (basemap, cdn, table, fields, label_col ...).

    """
    from geotool._classify import classes, describe
    from geotool._numbers import language

    if not isinstance(values, pd.Series) or not pd.api.types.is_numeric_dtype(values):
        kind = getattr(values, "dtype", type(values).__name__)
        msg = f"values must be a numeric pandas Series; got {kind}."
        raise InputError(msg)
    _check_choropleth_input(values, geo, scheme, k, breaks)
    v = values[np.isfinite(values.to_numpy(dtype=float))]
    known = pd.Index(geo.index if geo is not None else boundaries.units().index).astype(str)
    ids = pd.Index(v.index).astype(str)
    matched = ids.isin(known)
    if not matched.any():
        msg = (
            f"None of the {len(v)} ids of values (e.g. {list(ids[:3])}) is a unit of the "
            + ("bundled county layer (six-digit adcodes)" if geo is None else "geo's index")
            + "; pass geo= with your polygons, or values indexed by their ids."
        )
        raise InputError(msg)
    if not matched.all():
        log(
            f"choropleth: {int((~matched).sum())} of {len(v)} values have no unit to draw "
            f"(e.g. {list(ids[~matched][:3])}).",
            logging.WARNING,
        )
    v = pd.Series(v.to_numpy(), index=ids, name=values.name)[matched]
    label = str(values.name) if label is None else str(label)
    page_lang, lang = lang, language(lang, label)  # the page's: as asked (unit_map's default)
    out = classes(v, scheme=scheme, k=k, breaks=breaks, cmap=cmap, label=label, lang=lang)
    legend = out.legend
    missing = int(values.isna().sum())
    if missing:
        legend[("无数据" if lang == "zh" else "no data") + f" ({missing})"] = NEUTRAL
    kwargs.setdefault("fit", "coloured")
    kwargs.setdefault("legend_title", f"{label} · {describe(out.scheme, out.k, lang)}")
    layer = {"name": label, "colours": out.colour_of().to_dict()}
    return unit_map([layer], geo=geo, title=title, legend=legend, lang=page_lang, **kwargs)


def _check_choropleth_input(
    values: pd.Series, geo: object, scheme: object, k: object, breaks: object
) -> None:
    """Refuse what :func:`choropleth` would silently misdraw, naming the argument."""
    from geotool import _validate as check

    if values.index.has_duplicates:
        dup = values.index[values.index.duplicated()].unique()[:5].tolist()
        msg = f"values has duplicated index labels {dup}; keep one value per unit."
        raise InputError(msg)
    infinite = np.isinf(values.to_numpy(dtype=float))
    if infinite.any():
        shown = values.index[infinite][:5].tolist()
        msg = (
            f"values: {int(infinite.sum())} value(s) are infinite (at {shown}); fix them, or "
            "make them NaN to leave those units uncoloured."
        )
        raise InputError(msg)
    if geo is not None:
        check.geometries(geo, "geo")  # a GeoDataFrame or GeoSeries, finite, in range
    if scheme != "user" and breaks is not None:
        msg = "breaks= are class bounds for scheme='user'; pass scheme='user' or drop breaks=."
        raise InputError(msg)
    if scheme == "user" and k is not None:
        msg = "k= does not apply to scheme='user' (breaks= set the classes); drop k=."
        raise InputError(msg)


@settings_cache(maxsize=1)
def _leaflet_assets() -> tuple[str, str]:
    """Leaflet's script and stylesheet from the installed xstatic-leaflet package."""
    import xstatic.pkg.leaflet as xl

    base = Path(xl.BASE_DIR)
    js = (base / "leaflet.js").read_text(encoding="utf-8")
    css = (base / "leaflet.css").read_text(encoding="utf-8")

    def inline(match: re.Match) -> str:
        img = base / match.group(1)
        data = base64.b64encode(img.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    css = re.sub(r"url\((images/[^)]+\.png)\)", inline, css)
    return js, css


def _stable_ids(text: str, root: Any) -> str:
    """``text`` with folium's random element ids (uuid4) numbered in order of appearance.

    The same map then gives the same file, byte for byte.
    """
    ids, stack = set(), [root]
    while stack:
        element = stack.pop()
        if getattr(element, "_id", None):
            ids.add(element._id)
        stack.extend(getattr(element, "_children", {}).values())
    found = sorted((pos, i) for i in ids if (pos := text.find(i)) >= 0)
    for k, (_, old) in enumerate(found, start=1):
        text = text.replace(old, f"{k:032x}")
    return text


def to_html(fmap: folium.Map, path: str | Path | None = None) -> str:
    """Render a map to standalone, checked HTML (Leaflet inlined unless ``cdn``).

    Written atomically when ``path`` is given; the same map gives the same text.
    """
    root: Any = fmap.get_root()
    text = _stable_ids(root.render(), root)
    lang = html_lang(getattr(fmap, "geotool_lang", "en"))
    text = re.sub(r"<html>", f'<html lang="{lang}">', text, count=1)
    text = re.sub(  # folium's forbids zooming the page: a page zooms, the map pans
        r'<meta name="viewport"[^>]*>',
        '<meta name="viewport" content="width=device-width, initial-scale=1">', text, count=1
    )
    if not getattr(fmap, "geotool_cdn", False):
        js, css = _leaflet_assets()
        js_url, css_url = fmap.default_js[0][1], fmap.default_css[0][1]
        text = re.sub(
            r'<script src="%s"></script>' % re.escape(js_url),
            lambda _m: "<script>" + js.replace("</script", "<\\/script") + "</script>",
            text,
        )
        text = re.sub(
            r'<link rel="stylesheet" href="%s"\s*/>' % re.escape(css_url),
            lambda _m: "<style>" + css + "</style>",
            text,
        )
        leftovers = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(https?://[^"]+)"', text)
        if leftovers:
            msg = f"internal error: the self-contained map still loads {leftovers[:3]}"
            raise AssertionError(msg)
    check_page(text, "map page")
    if path is not None:
        write_atomic(Path(path), text.encode("utf-8"))
    return text


from geotool.maps.figure import save as save  # noqa: E402  (static maps, maps/figure.py)
from geotool.maps.figure import to_figure as to_figure  # noqa: E402
