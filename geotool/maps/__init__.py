"""Interactive Folium maps of any polygons (or points) that can be published as one HTML file.

The engine draws a layer on a Leaflet canvas from TopoJSON, each border stored once as a
shared arc, decoded by a few lines of JavaScript (``maps/topojson.js``) shipped with the
package, as is the page's script (``maps/page.js``). Two sources:

* **the bundled county layer** (``geo=None``, the fast path): ``boundaries/
  county_web.topojson``, the county coverage simplified at 1 km, read once; a national
  map of all 2,875 units stays around 2 MB;
* **any GeoDataFrame** (``geo=gdf``, any index, any CRS): reprojected to WGS84 (or
  GCJ-02 for AMap tiles), simplified so that a page stays light (coverage-preserving
  when the polygons form a valid coverage, so neighbours keep sharing their borders),
  then encoded the same way. Points are drawn as circle markers.

Safety: every value that reaches a tooltip, legend or title is HTML-escaped here, before
the page is written; the page's JavaScript only ever inserts those pre-escaped strings.
Folium's own ``GeoJsonTooltip`` (which inserts raw values with ``innerHTML``) is not used.

Offline by default: every page inlines Leaflet's script and stylesheet (from the
installed ``xstatic-leaflet`` package), so it draws with no network at all; ``cdn=True``
loads them from folium's CDN instead (a smaller file that is blank offline). jQuery,
Bootstrap and Font Awesome, which folium loads by default, are not needed and are dropped.
Basemap tiles stay optional: when they cannot load, the page says so in a visible note and
the polygons are drawn all the same. The bundled layer's maps also draw the maritime
boundary line (十段线, :func:`geotool.boundaries.maritime`).

The linked LISA view (:func:`linked_lisa`: Moran scatter, cluster map and significance
map linked by hover, click and brushing, as GeoDa's windows) needs no Leaflet: it is SVG
drawn by ``maps/linked.js``, one small page that works offline.

Basemaps: ``none`` (plain background, the default for publishing), ``positron``
(CartoDB), ``osm`` (OpenStreetMap), all WGS84-aligned with the polygons; and ``amap``
(GaoDe tiles, GCJ-02): the polygons are then shifted to GCJ-02 as well, so tiles and
borders agree.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
from importlib import resources
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geotool import boundaries, settings
from geotool._atomic import write_atomic
from geotool._cache import settings_cache
from geotool._errors import InputError
from geotool._log import log
from geotool.maps._linked import (
    LISA_COLOURS,
    NOT_SIGNIFICANT,
    NOT_TESTED,
    P_CLASSES,
    SOUTH_SEA,
    fmt_p,
    geo_series,
    linked_lisa,
    rule_text,
    script_json,
)

__all__ = [
    "BASEMAPS",
    "LISA_COLOURS",
    "NEUTRAL",
    "NOT_SIGNIFICANT",
    "NOT_TESTED",
    "P_CLASSES",
    "SOUTH_SEA",
    "choropleth",
    "escape",
    "fmt_p",
    "legend_html",
    "linked_lisa",
    "rule_text",
    "to_html",
    "unit_map",
]

NEUTRAL = "#eeeeee"
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


def _script_element() -> type:
    from branca.element import MacroElement
    from jinja2 import Template

    class Script(MacroElement):
        """Raw JavaScript placed in the page's script after the map it belongs to."""

        _template = Template("{% macro script(this, kwargs) %}{{ this.js }}{% endmacro %}")

        def __init__(self, js: str) -> None:
            super().__init__()
            self._name = "GeotoolScript"
            self.js = js

    return Script


def _script(js: str) -> Any:
    """A map child that places ``js`` in the page script after the map is created."""
    return _script_element()(js)


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
def _asset(name: str) -> str:
    """A JavaScript file shipped with :mod:`geotool.maps` (read once)."""
    return resources.files("geotool.maps").joinpath(name).read_text(encoding="utf-8")


#: Vertices above which a user's layer is simplified for the page.
_MAX_VERTICES = 400_000


def _encode_geo(geo: gpd.GeoDataFrame | gpd.GeoSeries, datum: str, groups: pd.Series | None) -> str:
    """A user's geometry as compact TopoJSON (polygons) or GeoJSON (other types) text."""
    from geotool._topojson import encode

    series = geo_series(geo, settings.default_crs)
    ids = [str(i) for i in series.index]
    geoms = series.to_numpy()
    if datum == "gcj02":
        from geotool.datum import transform_geometries

        geoms = transform_geometries(geoms, to="gcj02")
    kinds = set(shapely.get_type_id(geoms).tolist())
    if kinds <= {3, 6}:  # polygons: one coverage, borders shared
        n_vertices = int(shapely.get_num_coordinates(geoms).sum())
        if n_vertices > _MAX_VERTICES:
            span = float(np.ptp(shapely.total_bounds(geoms).reshape(2, 2), axis=0).max())
            tolerance = span / 4000  # about 1/4 pixel on a full-screen map of the extent
            if bool(shapely.coverage_is_valid(geoms)):
                geoms = shapely.coverage_simplify(geoms, tolerance)
            else:
                geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
        props = [{"id": i} for i in ids]
        if groups is not None:
            g = groups.reindex(series.index).astype(str).to_numpy()
            props = [{"id": i, "g": gi} for i, gi in zip(ids, g, strict=True)]
        return json.dumps(encode(geoms, props), separators=(",", ":"))
    feats = json.loads(gpd.GeoSeries(geoms, crs=settings.default_crs).to_json())
    for f, i in zip(feats["features"], ids, strict=True):
        f["properties"] = {"id": i}
    return json.dumps(feats, separators=(",", ":"))


def _pinyin_names() -> dict[str, str]:
    """Romanised names of every unit (the county layer's ``name_pinyin``, from pypinyin)."""
    return {str(k): str(v) for k, v in boundaries.units()["name_pinyin"].items()}


def escape(value: object) -> str:
    """HTML-escape any value for a page (missing values become an empty string)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


_TOOLTIP_CACHE: dict[tuple, dict[str, dict[str, str]]] = {}


def _tooltips(
    table: pd.DataFrame, fields: dict[str, str], ids: pd.Index | None, title: str | None
) -> dict[str, dict[str, str]]:
    """Per unit: the tooltip HTML (every value escaped) and the search text.

    Several maps of one run share a table: the result is cached by the table's content.
    """
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


def _build_tooltips(
    table: pd.DataFrame, fields: dict[str, str], ids: pd.Index | None, title: str | None
) -> dict[str, dict[str, str]]:
    if ids is None:  # the bundled layer: names, pinyin, province, prefecture, code
        units = boundaries.units()
        pinyin = _pinyin_names()
        index = units.index
        heads = [
            (f"<b>{escape(name)}</b> {escape(pinyin[code])}<br>"
             f"{escape(prov)} {escape(pref)} · {escape(code)}",
             f"{name} {pinyin[code]} {pinyin[code].lower()}")
            for code, name, prov, pref in zip(
                index, units["name"], units["province"], units["prefecture"], strict=True
            )
        ]  # fmt: skip
    else:
        index = pd.Index(ids)
        names = (
            table[title].reindex(index).to_numpy(dtype=object)
            if title is not None and title in table.columns
            else np.asarray(index, dtype=object)
        )
        heads = [
            (f"<b>{escape(name)}</b>" + (f" · {escape(code)}" if str(name) != str(code) else ""),
             f"{name} {code}")
            for code, name in zip(index, names, strict=True)
        ]  # fmt: skip
    extra = table.reindex(index)
    columns = [
        (label, extra[col].to_numpy(dtype=object) if col in extra.columns else [None] * len(index))
        for col, label in fields.items()
    ]
    out = {}
    for i, code in enumerate(index):
        lines = [heads[i][0]]
        for label, values in columns:
            shown = escape(values[i])
            if shown:
                lines.append(f"{escape(label)}: {shown}")
        out[str(code)] = {"t": "<br>".join(lines), "s": heads[i][1]}
    return out


def legend_html(title: str, legend: dict[str, str]) -> str:
    """A legend box (label -> colour), every value escaped."""
    items = "".join(
        f'<div><span style="display:inline-block;width:14px;height:10px;margin-right:6px;'
        f'background:{escape(colour)};border:1px solid #999"></span>{escape(label)}</div>'
        for label, colour in legend.items()
    )
    return (
        f'<div class="geotool-legend" style="position:absolute;bottom:28px;right:10px;'
        f"z-index:1000;background:rgba(255,255,255,.92);padding:6px 9px;font:12px sans-serif;"
        f'border:1px solid #bbb;border-radius:4px;max-width:260px">'
        f'<div style="font-weight:bold;margin-bottom:3px">{escape(title)}</div>{items}</div>'
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
    fit: str = "coloured",
    basemap: str = "none",
    cdn: bool = False,
    offline: bool | None = None,
) -> folium.Map:
    """A folium map of units with one or more colour layers.

    Parameters
    ----------
    layers : list of dict
        Each ``{"name": str, "colours": {id: "#rrggbb"}}`` and optionally
        ``"neutral"``: the colour of units without one (default :data:`NEUTRAL`; e.g.
        :data:`NOT_TESTED` for units outside a statistic's universe). The first layer is
        shown; all are in the layer control. Ids are the bundled adcodes (``geo=None``)
        or ``geo``'s index.
    geo : geopandas.GeoDataFrame or geopandas.GeoSeries, optional
        The units to draw (any CRS, any index); default: the bundled county layer.
    table : pandas.DataFrame, optional
        On the units' ids: values for the tooltips.
    fields : dict, optional
        Tooltip rows: column of ``table`` -> label. For the bundled layer the name
        (Chinese and pinyin), province, prefecture and code are always shown.
    label_col : str, optional
        For ``geo``: the column of ``table`` that names each unit (tooltip heading and
        search); default the id.
    groups : pandas.Series, optional
        For ``geo`` polygons: a grouping (e.g. province) whose outlines are drawn.
    title : str
        Shown at the top of the map.
    legend : dict, optional
        Label -> colour.
    legend_title : str
        The legend's heading.
    overlays : list of tuple, optional
        Extra vector layers: ``(name, gdf, style)`` with ``style`` a dict of Leaflet
        path options; a ``label`` column becomes the (escaped) tooltip.
    lines : list of dict, optional
        Compact tooltip lines, formatted in the page (smaller than ``fields`` for many
        numbers): each ``{"label": str, "parts": [str], "rows": {id: [value, ...]}}``
        and optionally ``"classes": [str]``, in which case each row's first value is an
        index into it. A unit's line reads "label: part value · part value ...".
    fit : {"coloured", "all"}
        Open on the coloured units of the first layer (the data; every unit when none
        is coloured), or on every unit.
    basemap : {"none", "positron", "osm", "amap"}
        Tiles under the polygons (``amap`` shifts the polygons to GCJ-02); optional:
        without network the page notes that they did not load.
    cdn : bool
        Load Leaflet from its CDN instead of inlining it (the page is then blank
        offline).
    offline : bool, optional
        Deprecated: pages are offline by default. ``True`` also refuses tiles (as
        before); ``False`` changes nothing (ask for ``cdn=True``).

    Returns
    -------
    folium.Map
        Write it with :func:`to_html` (which inlines the assets unless ``cdn``).

    """
    if basemap not in BASEMAPS:
        msg = f"basemap must be one of {list(BASEMAPS)}, got {str(basemap)[:40]!r}."
        raise InputError(msg)
    if offline and basemap != "none":
        msg = "An offline map cannot load tiles; use basemap='none' with offline=True."
        raise InputError(msg)
    if cdn and offline:
        msg = "cdn=True loads Leaflet from the network; it cannot be combined with offline=True."
        raise InputError(msg)
    if fit not in ("all", "coloured"):
        msg = f"fit must be 'all' or 'coloured', got {fit!r}."
        raise InputError(msg)
    fmap = folium.Map(
        location=[35, 105], zoom_start=4, tiles=None, prefer_canvas=True, control_scale=False
    )
    fmap.default_js = [fmap.default_js[0]]  # leaflet only: no jQuery/Bootstrap needed
    fmap.default_css = [fmap.default_css[0]]
    if BASEMAPS[basemap]:
        url, attribution = BASEMAPS[basemap]  # type: ignore[misc]
        folium.TileLayer(
            url, attr=attribution, name=basemap, subdomains="1234" if basemap == "amap" else "abc"
        ).add_to(fmap)
    datum = "gcj02" if basemap == "amap" else "wgs84"
    table = table if table is not None else pd.DataFrame()
    if geo is None:
        data = _topology(datum)
        ids = None
        outlines = "province outlines"
    else:
        data = _encode_geo(geo, datum, groups)
        ids = pd.Index(geo.index)
        outlines = "outlines" if groups is not None else ""
    info = _tooltips(table, fields or {}, ids, label_col)
    spec = [
        {
            "name": escape(layer["name"]),
            "colours": {str(k): v for k, v in dict(layer["colours"]).items()},
            "neutral": str(layer.get("neutral", NEUTRAL)),
            "stroke": "#777777",
        }
        for layer in layers
    ]
    overlay_data = []
    if geo is None:  # maps of China show the maritime boundary line
        overlay_data.append(_maritime_overlay(datum))
    for name, gdf, style in overlays or []:
        if datum == "gcj02":
            msg = "Overlays are not shifted to GCJ-02; use another basemap with overlays."
            raise InputError(msg)
        feats = json.loads(gdf.to_crs(settings.default_crs).to_json())
        labels = gdf["label"] if "label" in gdf.columns else [""] * len(gdf)
        for f, label in zip(feats["features"], labels, strict=True):
            f["properties"] = {"label": escape(label)}
        overlay_data.append(
            {"name": escape(name), "data": feats, "style": style, "point": {**style, "radius": 6}}
        )
    root: Any = fmap.get_root()  # a branca Figure: header, html, script
    if settings.page_test_hooks:
        head = (
            '<script>window.addEventListener("error",function(e){var b=document.body;'
            'if(b){b.setAttribute("data-geotool-early-error",String(e.message));}});</script>'
        )
        root.header.add_child(folium.Element(head))
    if cdn:  # a CDN page offline: say why it is empty, and how to get one that is not
        root.header.add_child(folium.Element(_CDN_NOTE))
    if title:
        root.html.add_child(
            folium.Element(
                f'<div class="geotool-title" style="position:absolute;top:8px;left:60px;z-index:1000;'
                f"background:rgba(255,255,255,.92);padding:4px 10px;font:bold 14px sans-serif;"
                f'border:1px solid #bbb;border-radius:4px">{escape(title)}</div>'
            )
        )
    if legend:
        root.html.add_child(folium.Element(legend_html(legend_title, legend)))
    compact = [
        {
            "label": escape(line["label"]),
            "parts": [escape(p) for p in line["parts"]],
            "classes": [escape(c) for c in line.get("classes") or []],
            "rows": {str(k): [escape(v) if isinstance(v, str) else v for v in row]
                     for k, row in line["rows"].items()},
        }
        for line in lines or []
    ]  # fmt: skip
    options = {
        "testHooks": bool(settings.page_test_hooks),
        "lines": compact,
        "outlines": outlines,
        "overlays": overlay_data,
        "fit": fit,
        "fitExclude": SOUTH_SEA if geo is None else None,
        "searchHint": "搜索 / search (江阴 / Jiangyin)" if geo is None else "搜索 / search",
    }
    js = (
        _asset("topojson.js")
        + _asset("page.js")
        + f"\ngeotoolPage({fmap.get_name()}, {data}, {script_json(info)}, "
        + f"{script_json(spec)}, {script_json(options)});\n"
    )
    fmap.add_child(_script(js))  # rendered after the map is created
    fmap.geotool_cdn = cdn  # type: ignore[attr-defined]  # read by to_html
    return fmap


_CDN_NOTE = (
    '<script>window.addEventListener("DOMContentLoaded",function(){if(window.L){return;}'
    'var p=document.createElement("p");p.className="geotool-cdn-note";p.style.cssText='
    '"position:absolute;z-index:2000;top:40px;left:60px;background:#fff3cd;padding:6px 10px;'
    'border:1px solid #c9a227;font:13px sans-serif";p.textContent="Leaflet could not load '
    'from its CDN (no network?). Write the map without cdn to get a self-contained page.";'
    "document.body.appendChild(p);});</script>"
)


@settings_cache(maxsize=2)
def _maritime_lines(datum: str) -> str:
    """The maritime boundary line as compact GeoJSON text (coordinates to ~10 m)."""
    geoms = boundaries.maritime().geometry.to_numpy()
    if datum == "gcj02":
        from geotool.datum import transform_geometries

        geoms = transform_geometries(geoms, to="gcj02")
    geoms = shapely.set_precision(shapely.simplify(geoms, 0.005), 1e-4)
    feats = json.loads(gpd.GeoSeries(geoms, crs=settings.default_crs).to_json())
    for f in feats["features"]:
        f["properties"] = {"label": "十段线 maritime boundary line"}
    return json.dumps(feats, separators=(",", ":"))


def _maritime_overlay(datum: str) -> dict[str, Any]:
    """The map overlay of the maritime boundary line (in the map's datum)."""
    style = {"color": "#333333", "weight": 2, "opacity": 0.9}
    return {
        "name": "十段线 maritime boundary",
        "data": json.loads(_maritime_lines(datum)),
        "style": style,
        "point": style,
    }


def choropleth(
    values: pd.Series,
    *,
    geo: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    scheme: str = "quantiles",
    k: int | None = None,
    breaks: list[float] | None = None,
    cmap: str = "YlOrRd",
    title: str = "",
    **kwargs: Any,
) -> folium.Map:
    """Draw any numeric column with a mapclassify scheme.

    Parameters
    ----------
    values : pandas.Series
        Numeric, on the units' ids (bundled adcodes, or ``geo``'s index); missing
        values are neutral. Values whose ids match no unit are an error (a grey map
        helps nobody); a partial match is logged.
    geo : geopandas.GeoDataFrame or geopandas.GeoSeries, optional
        The units to draw; default the bundled county layer. The map opens on the
        coloured units.
    scheme : {"quantiles", "fisherjenks", "equalinterval", "user"}
        mapclassify classifier; ``user`` takes ``breaks`` (upper bounds).
    k : int, optional
        Number of classes (not for ``user``), from 2 to the number of distinct values;
        default 5, or the number of distinct values when there are fewer.
    breaks : list of float, optional
        Class upper bounds, for ``scheme="user"``.
    cmap : str
        A matplotlib colormap name.
    title : str
        Shown at the top of the map.
    **kwargs
        Passed to :func:`unit_map` (basemap, cdn, table, fields, label_col ...).

    """
    from geotool._classify import classify

    if not isinstance(values, pd.Series) or not pd.api.types.is_numeric_dtype(values):
        kind = getattr(values, "dtype", type(values).__name__)
        msg = f"values must be a numeric pandas Series; got {kind}."
        raise InputError(msg)
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
    colour_of, legend = classify(v, scheme=scheme, k=k, breaks=breaks, cmap=cmap)
    by_unit = colour_of.to_dict()
    kwargs.setdefault("fit", "coloured")
    return unit_map(
        [{"name": str(values.name), "colours": by_unit}],
        geo=geo,
        title=title,
        legend=legend,
        legend_title=str(values.name),
        **kwargs,
    )


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


def to_html(fmap: folium.Map, path: str | Path | None = None) -> str:
    """Render a map to standalone HTML (assets inlined unless it was made with ``cdn``).

    Written atomically when ``path`` is given. Returns the HTML text.
    """
    text = fmap.get_root().render()
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
    if path is not None:
        write_atomic(Path(path), text.encode("utf-8"))
    return text


from geotool.maps.figure import save as save  # noqa: E402  (static maps, maps/figure.py)
from geotool.maps.figure import to_figure as to_figure  # noqa: E402
