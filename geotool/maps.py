"""Interactive Folium maps of county-level units that economists can publish as one HTML file.

Every map draws the bundled web layer (``boundaries/county_web.topojson``: the county
coverage simplified at 1 km, borders stored once as shared TopoJSON arcs) on a Leaflet
canvas, decoded by a few lines of inline JavaScript, so a national map of all 2,875
units stays around 2 MB and needs no TopoJSON library.

Safety: every value that reaches a tooltip, legend or title is HTML-escaped here, before
the page is written; the page's JavaScript only ever inserts those pre-escaped strings.
Folium's own ``GeoJsonTooltip`` (which inserts raw values with ``innerHTML``) is not used.

Offline: ``offline=True`` inlines Leaflet's script and stylesheet (from the installed
``xstatic-leaflet`` package) and uses no tiles, so the file renders with no network at
all. Online maps load Leaflet from folium's CDN; jQuery, Bootstrap and Font Awesome,
which folium loads by default, are not needed and are dropped.

Basemaps: ``none`` (plain background, the default for publishing), ``positron``
(CartoDB), ``osm`` (OpenStreetMap), all WGS84-aligned with the polygons; and ``amap``
(GaoDe tiles, GCJ-02): the polygons are then shifted to GCJ-02 as well, so tiles and
borders agree.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geotool import boundaries, settings
from geotool._errors import InputError

__all__ = [
    "BASEMAPS",
    "NEUTRAL",
    "choropleth",
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


@functools.lru_cache(maxsize=2)
def _topology(datum: str) -> str:
    """The web layer as compact JSON text, in WGS84 or shifted to GCJ-02."""
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


def _pinyin_names() -> dict[str, str]:
    """Romanised names of every unit (the county layer's ``name_pinyin``, from pypinyin)."""
    return boundaries.units()["name_pinyin"].to_dict()


def _script_json(data: Any) -> str:
    """JSON safe to embed in a <script> element (no "</script>" or "<!--" break-out)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _esc(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return html.escape(str(value), quote=True)


_TOOLTIP_CACHE: dict[tuple, dict[str, dict[str, str]]] = {}


def _tooltips(table: pd.DataFrame, fields: dict[str, str]) -> dict[str, dict[str, str]]:
    """Per unit: the tooltip HTML (every value escaped) and the search text.

    Several maps of one run share a table: the result is cached by the table's content.
    """
    key = (
        tuple(table.columns.astype(str)),
        int(pd.util.hash_pandas_object(table.astype(str), index=True).sum()) if len(table) else 0,
        tuple(fields.items()),
    )
    if key not in _TOOLTIP_CACHE:
        _TOOLTIP_CACHE.clear()
        _TOOLTIP_CACHE[key] = _build_tooltips(table, fields)
    return _TOOLTIP_CACHE[key]


def _build_tooltips(table: pd.DataFrame, fields: dict[str, str]) -> dict[str, dict[str, str]]:
    units = boundaries.units()
    pinyin = _pinyin_names()
    extra = table.reindex(units.index)
    columns = [
        (label, extra[col].to_numpy(dtype=object) if col in extra.columns else [None] * len(units))
        for col, label in fields.items()
    ]
    out = {}
    for i, (code, name, prov, pref) in enumerate(
        zip(units.index, units["name"], units["province"], units["prefecture"], strict=True)
    ):
        py = pinyin[code]
        lines = [f"<b>{_esc(name)}</b> {_esc(py)}", f"{_esc(prov)} {_esc(pref)} · {_esc(code)}"]
        for label, values in columns:
            shown = _esc(values[i])
            if shown:
                lines.append(f"{_esc(label)}: {shown}")
        out[code] = {"t": "<br>".join(lines), "s": f"{name} {py} {py.lower()}"}
    return out


def _legend_html(title: str, legend: dict[str, str]) -> str:
    items = "".join(
        f'<div><span style="display:inline-block;width:14px;height:10px;margin-right:6px;'
        f'background:{_esc(colour)};border:1px solid #999"></span>{_esc(label)}</div>'
        for label, colour in legend.items()
    )
    return (
        f'<div class="geotool-legend" style="position:absolute;bottom:28px;right:10px;'
        f"z-index:1000;background:rgba(255,255,255,.92);padding:6px 9px;font:12px sans-serif;"
        f'border:1px solid #bbb;border-radius:4px;max-width:260px">'
        f'<div style="font-weight:bold;margin-bottom:3px">{_esc(title)}</div>{items}</div>'
    )


_PAGE_JS = """
(function () {
  var map = %(map)s;
  var errors = [];
  window.addEventListener('error', function (e) { errors.push(String(e.message)); });
  var topo = %(topology)s;
  var info = %(info)s;
  var layersSpec = %(layers)s;
  var geo = geotoolTopoToGeoJSON(topo);
  var renderer = L.canvas({padding: 0.5});
  var control = L.control.layers(null, null, {collapsed: false}).addTo(map);
  var drawn = 0, byCode = {}, first = null;
  function build(spec, k) {
    return L.geoJSON(geo, {
      renderer: renderer,
      style: function (f) {
        var c = spec.colours[f.properties.id];
        return {color: spec.stroke, weight: 0.3, fillColor: c || spec.neutral,
                fillOpacity: c ? 0.85 : 0.6};
      },
      onEachFeature: function (f, lyr) {
        var i = info[f.properties.id];
        if (i) { lyr.bindTooltip(i.t, {sticky: true}); }
        if (k === 0) { byCode[f.properties.id] = lyr; drawn += 1; }
      }
    });
  }
  layersSpec.forEach(function (spec, k) {
    if (k === 0) {
      first = build(spec, 0).addTo(map);
      control.addOverlay(first, spec.name);
      return;
    }
    // other layers are built the first time they are switched on: the page is
    // interactive sooner, and a layer never shown costs nothing
    var holder = L.featureGroup();
    holder.on('add', function () {
      if (!holder.getLayers().length) { holder.addLayer(build(spec, k)); }
    });
    control.addOverlay(holder, spec.name);
  });
  // province outlines: arcs whose two sides lie in different provinces, or one side only
  var sides = {};
  topo.objects.units.geometries.forEach(function (g) {
    var prov = String(g.properties.id).slice(0, 2);
    g.arcs.forEach(function (poly) { poly.forEach(function (ring) { ring.forEach(function (ref) {
      var a = ref >= 0 ? ref : ~ref; (sides[a] = sides[a] || []).push(prov);
    }); }); });
  });
  var sx = topo.transform.scale[0], sy = topo.transform.scale[1];
  var tx = topo.transform.translate[0], ty = topo.transform.translate[1];
  var lines = [];
  Object.keys(sides).forEach(function (a) {
    var s = sides[a];
    if (s.length === 1 || s[0] !== s[1]) {
      var x = 0, y = 0;
      lines.push(topo.arcs[a].map(function (p) { x += p[0]; y += p[1]; return [y * sy + ty, x * sx + tx]; }));
    }
  });
  var provinces = L.polyline(lines, {renderer: renderer, color: '#333333', weight: 1.1,
                                     interactive: false}).addTo(map);
  control.addOverlay(provinces, 'province outlines');
  %(overlays)s
  map.getContainer().style.background = '#ffffff';
  if (first) { map.fitBounds(first.getBounds()); }
  L.control.scale({imperial: false}).addTo(map);
  // search by Chinese name or pinyin
  var Search = L.Control.extend({
    onAdd: function () {
      var box = L.DomUtil.create('input', 'geotool-search');
      box.type = 'search'; box.placeholder = '搜索 / search (江阴 / Jiangyin)';
      box.style.cssText = 'width:210px;padding:4px;font:13px sans-serif';
      L.DomEvent.disableClickPropagation(box);
      box.addEventListener('keydown', function (e) {
        if (e.key === 'Enter') { window.geotoolSearch(box.value); }
      });
      return box;
    }
  });
  new Search({position: 'topleft'}).addTo(map);
  window.geotoolSearch = function (q) {
    q = String(q || '').trim().toLowerCase();
    if (!q) { return null; }
    var hit = null;
    Object.keys(info).some(function (code) {
      if (info[code].s.toLowerCase().indexOf(q) >= 0 && byCode[code]) { hit = code; return true; }
      return false;
    });
    if (hit) {
      var lyr = byCode[hit];
      map.fitBounds(lyr.getBounds(), {maxZoom: 9});
      lyr.openTooltip(lyr.getBounds().getCenter());
    }
    document.body.setAttribute('data-geotool-found', hit || '');
    return hit;
  };
  // full screen, with the browser's own API (no plugin, works offline)
  var Full = L.Control.extend({
    onAdd: function () {
      var b = L.DomUtil.create('a', 'geotool-fullscreen leaflet-bar');
      b.href = '#'; b.title = 'Full screen';
      b.innerHTML = '<svg width="16" height="16" viewBox="0 0 16 16" style="margin-top:7px"><path d="M1 6V1h5M10 1h5v5M15 10v5h-5M6 15H1v-5" fill="none" stroke="#333" stroke-width="2"/></svg>';
      b.style.cssText = 'display:block;width:30px;height:30px;line-height:30px;text-align:center;background:#fff;font-size:18px';
      L.DomEvent.on(b, 'click', function (e) {
        L.DomEvent.preventDefault(e);
        var el = map.getContainer();
        if (!document.fullscreenElement) { el.requestFullscreen && el.requestFullscreen(); }
        else { document.exitFullscreen(); }
      });
      return b;
    }
  });
  new Full({position: 'topleft'}).addTo(map);
  document.body.setAttribute('data-geotool-polygons', String(drawn));
  var m = /search=([^&]+)/.exec(window.location.hash);
  if (m) { window.geotoolSearch(decodeURIComponent(m[1])); }
  // interactive: every polygon is on the map with its handlers (painting follows in the
  // next frame); the browser tests and benchmarks read these attributes
  document.body.setAttribute('data-geotool-ms', String(Math.round(performance.now())));
  document.body.setAttribute('data-geotool-errors', JSON.stringify(errors));
  document.body.setAttribute('data-geotool-ready', '1');
})();
"""


def unit_map(
    layers: list[dict[str, Any]],
    *,
    table: pd.DataFrame | None = None,
    fields: dict[str, str] | None = None,
    title: str = "",
    legend: dict[str, str] | None = None,
    legend_title: str = "",
    overlays: list[Any] | None = None,
    basemap: str = "none",
    offline: bool = False,
) -> Any:
    """A folium map of every county-level unit with one or more colour layers.

    Parameters
    ----------
    layers : list of dict
        Each ``{"name": str, "colours": {adcode: "#rrggbb"}}``; units without a colour
        are drawn in :data:`NEUTRAL`. The first layer is shown; all are in the layer
        control.
    table : pandas.DataFrame, optional
        Indexed by adcode: values for the tooltips.
    fields : dict, optional
        Tooltip rows: column of ``table`` -> label. Name (Chinese and pinyin),
        province, prefecture and code are always shown.
    title : str
        Shown at the top of the map.
    legend : dict, optional
        Label -> colour.
    legend_title : str
        The legend's heading.
    overlays : list of geopandas.GeoDataFrame or tuple, optional
        Extra vector layers: ``(name, gdf, style)`` with ``style`` a dict of Leaflet
        path options; a ``label`` column becomes the (escaped) tooltip.
    basemap : {"none", "positron", "osm", "amap"}
        Tiles under the polygons (``amap`` shifts the polygons to GCJ-02).
    offline : bool
        Inline every asset and use no tiles: renders with no network.

    Returns
    -------
    folium.Map
        Write it with :func:`to_html` (which inlines assets when offline).

    """
    import folium

    if basemap not in BASEMAPS:
        msg = f"basemap must be one of {list(BASEMAPS)}, got {basemap!r}."
        raise InputError(msg)
    if offline and basemap != "none":
        msg = "An offline map cannot load tiles; use basemap='none' with offline=True."
        raise InputError(msg)
    fmap = folium.Map(
        location=[35, 105], zoom_start=4, tiles=None, prefer_canvas=True, control_scale=False
    )
    fmap.default_js = [fmap.default_js[0]]  # leaflet only: no jQuery/Bootstrap needed
    fmap.default_css = [fmap.default_css[0]]
    if BASEMAPS[basemap]:
        url, attribution = BASEMAPS[basemap]
        folium.TileLayer(
            url, attr=attribution, name=basemap, subdomains="1234" if basemap == "amap" else "abc"
        ).add_to(fmap)
    datum = "gcj02" if basemap == "amap" else "wgs84"
    info = _tooltips(table if table is not None else pd.DataFrame(), fields or {})
    spec = [
        {
            "name": _esc(layer["name"]),
            "colours": dict(layer["colours"]),
            "neutral": NEUTRAL,
            "stroke": "#777777",
        }
        for layer in layers
    ]
    overlay_js = []
    for name, gdf, style in overlays or []:
        feats = json.loads(gdf.to_crs(settings.default_crs).to_json())
        if datum == "gcj02":
            msg = "Overlays are not shifted to GCJ-02; use another basemap with overlays."
            raise InputError(msg)
        for f, label in zip(
            feats["features"],
            gdf["label"] if "label" in gdf.columns else [""] * len(gdf),
            strict=True,
        ):
            f["properties"] = {"label": _esc(label)}
        overlay_js.append(
            "(function(){var l=L.geoJSON(%s,{renderer:renderer,style:function(){return %s;},"
            "pointToLayer:function(f,ll){return L.circleMarker(ll,%s);},"
            "onEachFeature:function(f,x){if(f.properties.label){x.bindTooltip(f.properties.label);}}"
            "}).addTo(map);control.addOverlay(l,%s);})();"
            % (
                _script_json(feats),
                _script_json(style),
                _script_json({**style, "radius": 6}),
                _script_json(_esc(name)),
            )
        )
    head = (
        '<script>window.addEventListener("error",function(e){var b=document.body;'
        'if(b){b.setAttribute("data-geotool-early-error",String(e.message));}});</script>'
    )
    fmap.get_root().header.add_child(folium.Element(head))
    if title:
        fmap.get_root().html.add_child(
            folium.Element(
                f'<div class="geotool-title" style="position:absolute;top:8px;left:60px;z-index:1000;'
                f"background:rgba(255,255,255,.92);padding:4px 10px;font:bold 14px sans-serif;"
                f'border:1px solid #bbb;border-radius:4px">{_esc(title)}</div>'
            )
        )
    if legend:
        fmap.get_root().html.add_child(folium.Element(_legend_html(legend_title, legend)))
    from geotool._topojson import DECODER_JS

    js = _PAGE_JS % {
        "map": fmap.get_name(),
        "topology": _topology(datum),
        "info": _script_json(info),
        "layers": _script_json(spec),
        "overlays": "\n".join(overlay_js),
    }
    fmap.add_child(_script(DECODER_JS + js))  # rendered after the map is created
    fmap.geotool_offline = offline  # read by to_html
    return fmap


def choropleth(
    values: pd.Series,
    *,
    scheme: str = "quantiles",
    k: int = 5,
    breaks: list[float] | None = None,
    cmap: str = "YlOrRd",
    title: str = "",
    **kwargs: Any,
) -> Any:
    """Draw any numeric column (indexed by adcode) with a mapclassify scheme.

    Parameters
    ----------
    values : pandas.Series
        Numeric, indexed by adcode; missing values and units absent are neutral.
    scheme : {"quantiles", "fisherjenks", "equalinterval", "user"}
        mapclassify classifier; ``user`` takes ``breaks`` (upper bounds).
    k : int
        Number of classes (not for ``user``).
    breaks : list of float, optional
        Class upper bounds, for ``scheme="user"``.
    cmap : str
        A matplotlib colormap name.
    title : str
        Shown at the top of the map.
    **kwargs
        Passed to :func:`unit_map` (basemap, offline, table, fields ...).

    """
    import warnings

    import mapclassify
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if not pd.api.types.is_numeric_dtype(values):
        msg = f"choropleth needs a numeric column; {values.name!r} has dtype {values.dtype}."
        raise InputError(msg)
    v = values.dropna()
    classifiers = {
        "quantiles": mapclassify.Quantiles,
        "fisherjenks": mapclassify.FisherJenks,
        "equalinterval": mapclassify.EqualInterval,
    }
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Numba not installed")
        if scheme == "user":
            if not breaks:
                msg = "scheme='user' needs breaks=[...] (class upper bounds)."
                raise InputError(msg)
            cls = mapclassify.UserDefined(v.to_numpy(), bins=list(breaks))
        elif scheme in classifiers:
            cls = classifiers[scheme](v.to_numpy(), k=k)
        else:
            msg = f"scheme must be one of {[*classifiers, 'user']}, got {scheme!r}."
            raise InputError(msg)
    cm = colormaps[cmap].resampled(len(cls.bins))
    colours = [to_hex(cm(i)) for i in range(len(cls.bins))]
    by_unit = {code: colours[c] for code, c in zip(v.index, cls.yb, strict=True)}
    lows = [float(v.min()), *cls.bins[:-1]]
    legend = {
        f"{lo:.4g} – {hi:.4g} ({n})": colours[i]
        for i, (lo, hi, n) in enumerate(zip(lows, cls.bins, cls.counts, strict=True))
    }
    return unit_map(
        [{"name": str(values.name), "colours": by_unit}],
        title=title,
        legend=legend,
        legend_title=str(values.name),
        **kwargs,
    )


@functools.lru_cache(maxsize=1)
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


def to_html(fmap: Any, path: str | Path | None = None) -> str:
    """Render a map to standalone HTML (inlining assets if it was made offline).

    Written atomically when ``path`` is given. Returns the HTML text.
    """
    text = fmap.get_root().render()
    if getattr(fmap, "geotool_offline", False):
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
            msg = f"internal error: the offline map still loads {leftovers[:3]}"
            raise AssertionError(msg)
    if path is not None:
        from geotool.pipeline import write_atomic

        write_atomic(Path(path), text.encode("utf-8"))
    return text


TIER_COLOURS = {1: "#67000d", 2: "#cb181d", 3: "#fb6a4a", 4: "#fcbba1"}
QUARTER_COLOURS = {"1-25": "#08306b", "26-50": "#2171b5", "51-75": "#6baed6", "76-100": "#c6dbef"}
P_COLOURS = {
    "p <= 0.001": "#006d2c",
    "p <= 0.01": "#31a354",
    "p <= 0.05": "#a1d99b",
    "not significant": NEUTRAL,
}


def _tier_colours(info: pd.DataFrame) -> dict[str, str]:
    """Colour of each ranked unit by its report tier."""
    return {c: TIER_COLOURS[int(t)] for c, t in info["tier"].dropna().items()}


def _quarter(rank: int) -> str:
    return next(k for k in QUARTER_COLOURS if rank <= int(k.split("-")[1]))


def unit_info(
    *,
    lisa: pd.DataFrame | None = None,
    membership: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The tooltip table of every unit: ranks, tier, region, cluster, LISA class.

    Parameters
    ----------
    lisa : pandas.DataFrame, optional
        :func:`geotool.autocorr.local_stats` of the industrial-county score.
    membership : pandas.DataFrame, optional
        :func:`geotool.clusters.membership` under the set to show.

    """
    from geotool import rankings

    units = boundaries.units()
    out = pd.DataFrame(index=units.index)
    for name, label in (
        ("industrial_counties", "industrial_rank"),
        ("innovation_counties", "innovation_rank"),
        ("industrial_districts", "district_rank"),
    ):
        table = rankings.load(name).set_index("adcode")
        out[label] = table["rank"].reindex(units.index).astype("Int64")
        if name == "industrial_counties":
            out["tier"] = table["tier"].reindex(units.index).astype("Int64")
    out["region"] = units["region"]
    if membership is not None:
        out["cluster"] = membership["primary_zh"].reindex(units.index)
    if lisa is not None:
        out["lisa_class"] = lisa["lisa_class"].reindex(units.index)
    return out


_FIELDS = {
    "industrial_rank": "工业百强县 rank",
    "innovation_rank": "创新百强县 rank",
    "district_rank": "工业百强区 rank",
    "tier": "tier 梯队",
    "region": "region",
    "cluster": "城市群 cluster",
    "lisa_class": "LISA (industrial score)",
}


def rankings_map(info: pd.DataFrame, **kwargs: Any) -> Any:
    """The three rankings: county tiers, and rank quarters for the other two rankings."""
    layers = [
        {
            "name": "工业百强县 industrial counties (tiers)",
            "colours": _tier_colours(info),
        },
        {
            "name": "创新百强县 innovation counties (rank)",
            "colours": {
                c: QUARTER_COLOURS[_quarter(int(r))]
                for c, r in info["innovation_rank"].dropna().items()
            },
        },
        {
            "name": "工业百强区 industrial districts (rank)",
            "colours": {
                c: QUARTER_COLOURS[_quarter(int(r))]
                for c, r in info["district_rank"].dropna().items()
            },
        },
    ]
    from geotool.rankings import REPORT_TIERS

    legend = {
        f"tier {t} (ranks {lo}-{hi})": TIER_COLOURS[t] for t, (lo, hi) in REPORT_TIERS.items()
    }
    legend.update({f"rank {k} (other layers)": v for k, v in QUARTER_COLOURS.items()})
    legend["not ranked"] = NEUTRAL
    return unit_map(
        layers,
        table=info,
        fields=_FIELDS,
        legend=legend,
        legend_title="Rankings 2020",
        title="2020 中国工业百强县（市）、百强区 · China's top-100 industrial counties "
        "and districts",
        **kwargs,
    )


def lisa_map(locals_: dict[str, pd.DataFrame], info: pd.DataFrame, **kwargs: Any) -> Any:
    """LISA clusters per ranking (every class keeps its colour), plus significance views."""
    from geotool.autocorr import LISA_CLASSES

    layers = []
    for label, local in locals_.items():
        layers.append(
            {
                "name": f"LISA: {label}",
                "colours": {c: LISA_CLASSES[k] for c, k in local["lisa_class"].items()},
            }
        )
    for label, local in locals_.items():
        p = local["p_sim"]
        cls = np.select(
            [p <= 0.001, p <= 0.01, p <= 0.05], list(P_COLOURS)[:3], default="not significant"
        )
        layers.append(
            {
                "name": f"significance: {label}",
                "colours": {c: P_COLOURS[k] for c, k in zip(local.index, cls, strict=True)},
            }
        )
    legend = dict(LISA_CLASSES)
    legend.update({f"significance {k}": v for k, v in P_COLOURS.items() if k != "not significant"})
    legend["outside the universe"] = NEUTRAL
    return unit_map(
        layers,
        table=info,
        fields=_FIELDS,
        legend=legend,
        legend_title="Local Moran (score = 101 - rank)",
        title="LISA clusters of the 2020 rankings",
        **kwargs,
    )


def tiers_map(info: pd.DataFrame, shapes: Any, **kwargs: Any) -> Any:
    """Tiers coloured, with each tier's ellipse and mean centre and the diffusion vectors."""
    layers = [
        {
            "name": "tiers 梯队",
            "colours": _tier_colours(info),
        }
    ]
    overlays = []
    for kind, style in (
        ("ellipse", {"color": "#08519c", "weight": 2, "fill": False}),
        ("vector", {"color": "#000000", "weight": 3}),
        (
            "mean_centre",
            {"color": "#08519c", "fillColor": "#ffffff", "fillOpacity": 1, "weight": 2},
        ),
    ):
        part = shapes[shapes["kind"] == kind].copy()
        if kind == "vector":
            part["label"] = [
                f"tier 1 -> tier {t}: {b:.0f}°, {d:.0f} km"
                for t, b, d in zip(
                    part["tier"], part["bearing_deg"], part["length_km"], strict=True
                )
            ]
        else:
            part["label"] = [f"tier {int(t)} {kind.replace('_', ' ')}" for t in part["tier"]]
        overlays.append((f"tier {kind.replace('_', ' ')}s", part[["label", "geometry"]], style))
    legend = {f"tier {t}": c for t, c in TIER_COLOURS.items()}
    legend["not ranked"] = NEUTRAL
    return unit_map(
        layers,
        table=info,
        fields=_FIELDS,
        legend=legend,
        legend_title="Tiers",
        overlays=overlays,
        title="东西梯次扩散 · East-west tier diffusion",
        **kwargs,
    )


def clusters_map(membership: pd.DataFrame, polygons: Any, info: pd.DataFrame, **kwargs: Any) -> Any:
    """Member units shaded by primary cluster, dissolved outlines, ranked units marked."""
    import shapely
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    palette = [to_hex(c) for c in colormaps["tab20"].colors]
    clusters_ = [c for c in dict.fromkeys(polygons["cluster_id"])]
    colour = {c: palette[i % len(palette)] for i, c in enumerate(clusters_)}
    shaded = {code: colour[c] for code, c in membership["primary_cluster"].items() if c}
    outlines = polygons.copy()
    # outlines only need map precision: 0.01 degree (~1 km), as the web layer
    outlines["geometry"] = shapely.set_precision(
        shapely.simplify(outlines.geometry.to_numpy(), 0.01), 1e-4
    )
    outlines["label"] = [
        f"{zh} ({d}): {n} units"
        for zh, d, n in zip(
            outlines["cluster_zh"], outlines["definition"], outlines["n_units"], strict=True
        )
    ]
    units = boundaries.units()
    ranked = info["industrial_rank"].dropna()
    import geopandas as gpd

    pts = gpd.GeoDataFrame(
        {"label": [f"{units.at[c, 'name']} #{int(r)}" for c, r in ranked.items()]},
        geometry=shapely.points(
            units.loc[ranked.index, "rep_lon"], units.loc[ranked.index, "rep_lat"]
        ),
        crs=settings.default_crs,
    )
    overlays = [
        (
            "cluster outlines",
            outlines[["label", "geometry"]],
            {"color": "#000000", "weight": 1.5, "fill": False},
        ),
        (
            "工业百强县 ranked counties",
            pts,
            {"color": "#000000", "fillColor": "#ffdd00", "fillOpacity": 1, "weight": 1},
        ),
    ]
    legend = {
        f"{zh}": colour[c]
        for c, zh in zip(polygons["cluster_id"], polygons["cluster_zh"], strict=True)
    }
    return unit_map(
        [{"name": "城市群 primary cluster", "colours": shaded}],
        table=info,
        fields=_FIELDS,
        legend=legend,
        legend_title=f"City clusters ({membership.attrs.get('set', '')})",
        overlays=overlays,
        title="城市群 · City clusters",
        **kwargs,
    )


def index_page(summary: dict[str, Any], maps_written: dict[str, int]) -> str:
    """The landing page: links to every map and the headline figures (all escaped)."""
    auto = summary.get("autocorrelation", {})
    rows = []
    for name, res in auto.items():
        if not isinstance(res, dict) or "moran_i" not in res:
            continue
        spec = res["default_weights"]
        mi = res["moran_i"][spec]
        counts = ", ".join(f"{k} {v}" for k, v in res["lisa_counts"].items())
        rows.append(
            f"<tr><td>{_esc(name)}</td><td>{_esc(spec)}</td><td>{mi['value']:.3f}</td>"
            f"<td>{mi['p_norm']:.2g}</td><td>{mi['p_sim']:.4f}</td><td>{_esc(counts)}</td>"
            f"<td><img src='figures/moran_scatter_{_esc(name)}.png' width='260' "
            f"alt='Moran scatter plot, {_esc(name)}'></td></tr>"
        )
    clusters_ = summary.get("clusters", {})
    cl_rows = "".join(
        f"<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>"
        for k, v in clusters_.get("report2020", {}).get("counts", {}).items()
    )
    tiers_ = summary.get("tiers", {}).get("industrial_counties", {})
    tier_rows = "".join(
        f"<tr><td>{_esc(t)}</td>" + "".join(f"<td>{_esc(n)}</td>" for n in r.values()) + "</tr>"
        for t, r in tiers_.get("by_region", {}).items()
    )
    links = "".join(
        f"<li><a href='maps/{_esc(n)}'>{_esc(n)}</a> ({size / 1e6:.1f} MB)</li>"
        for n, size in maps_written.items()
    )
    check = summary.get("check_report", {})
    return f"""<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">
<title>geotool: 2020 top-100 industrial counties and districts</title>
<style>body{{font:14px/1.45 sans-serif;max-width:1100px;margin:24px auto;padding:0 12px}}
table{{border-collapse:collapse;margin:8px 0 18px}}td,th{{border:1px solid #ccc;padding:3px 7px}}
th{{background:#f3f3f3}}</style></head><body>
<h1>中国工业百强县（市）、百强区 2020 · spatial analysis</h1>
<p>Generated by geotool {_esc(summary.get("geotool_version", ""))}; seed {_esc(summary.get("seed"))},
{_esc(summary.get("permutations"))} permutations. Report check: {_esc(check.get("status_counts"))}.</p>
<h2>Maps</h2><ul>{links}</ul>
<h2>Spatial autocorrelation (score = 101 − rank)</h2>
<table><tr><th>ranking</th><th>weights</th><th>Moran's I</th><th>p (normal, two-sided)</th>
<th>p (permutation, one-sided)</th><th>LISA classes</th><th>Moran scatter</th></tr>{"".join(rows)}</table>
<h2>City clusters (report2020): top-100 industrial counties</h2>
<table><tr><th>cluster</th><th>count</th></tr>{cl_rows}</table>
<h2>Tier × region (industrial counties)</h2>
<table><tr><th>tier</th><th>east</th><th>central</th><th>west</th><th>northeast</th></tr>{tier_rows}</table>
<p>{_esc(tiers_.get("verdict", ""))}</p>
<p>Tables: <code>tables/</code>; machine-readable results: <code>summary.json</code>.</p>
</body></html>
"""
