"""Static maps for print: any polygons (or points) as a matplotlib Figure, 300 dpi.

:func:`to_figure` draws a GeoDataFrame coloured by a column in a projected CRS (the
China Albers equal-area conic re-centred on the map). :func:`save` writes PNG, SVG (text
as paths) and PDF (font embedded); in SVG and PDF the units' fills are one image at the
save's dpi (text, borders and overlays stay vectors), which keeps a county map under 2 MB.
Chinese text uses the bundled **Geotool Sans SC**, a
2.2 MB OFL subset of Noto Sans CJK SC (``maps/fonts/``, rebuilt by
``tools/build_font.py``; ``mplfonts`` would add 107 MB), registered by path. pyplot is
never touched.

Cartographic rules (every static map; see ``docs/cartography.md``)
------------------------------------------------------------------
:func:`china_scope` sorts a map by its units:

- **national** (their points fall in more than half of China's 34 province-level
  units, e.g. the bundled county, prefecture or province layer): the main map shows
  the WHOLE of China (every province as grey land, the units over it; grey where no
  data), cropped just south of Hainan so that the South China Sea is not drawn there;
  the South China Sea Islands (南海诸岛) inset, exactly once, with the maritime boundary
  line (十段线), which is also drawn where it falls in the main map's frame;
- **part** of China (a province, a city's townships): the provinces as context, no
  inset and no maritime line; but a part holding 三沙's islands (Hainan province) gets
  the inset, as Hainan's standard map has it, and its main map ends north of the sea;
- **outside** China: none of China's decorations (no land, borders, line or inset).

Every map has an upright north arrow pointing to GRID north (straight up the
projected map; on the conic true north differs from it by n·Δλ, n ≈ 0.60, Δλ the
longitude from the central meridian), a scale bar true at the map's centre, and a
caption with the data's source and the projection (and on maps of China the
boundaries' source). Publishing a national map in China needs a map approval number
(审图号): geotool does not give one (``docs/cartography.md``).
"""

from __future__ import annotations

import functools
import io
import itertools
import logging
import math
import operator
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
import pandas as pd
import shapely

from geotool import boundaries, settings
from geotool._atomic import write_atomic
from geotool._cache import settings_cache
from geotool._classify import classify
from geotool._errors import InputError
from geotool.geofile import PLANE

if TYPE_CHECKING:
    from collections.abc import Iterator

    import geopandas as gpd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

T = TypeVar("T")

__all__ = [
    "FONT_FAMILY", "FORMATS", "LANGS", "NEUTRAL", "WORDS", "Overlay", "china_scope",
    "figure_bytes", "figure_files", "font_path", "is_plane", "polygon_paths", "register_font",
    "save", "style", "text_style", "to_figure", "validate"
]  # fmt: skip

FONT_FAMILY = "Geotool Sans SC"
FORMATS = ("png", "svg", "pdf")
LANGS = ("zh", "en")
NEUTRAL = "#eeeeee"
_LAND = "#f4f4f4"
_BORDER = "#555555"
_MARITIME = "#3b3b3b"


def _halo() -> list[Any]:
    """A white outline under map text (north, scale), legible over any fill."""
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=2.2, foreground="white")]


#: China's extent (degrees) and the South China Sea inset's window.
_CHINA = (73.0, 3.0, 136.0, 54.0)
_INSET = (106.0, 3.0, 123.5, 25.5)
_SANSHA_PREFIX = "4603"

#: The figures' own words by language (``maps/words.toml``, shared with maps.static).
WORDS: dict[str, Any] = tomllib.loads(
    resources.files("geotool.maps").joinpath("words.toml").read_text(encoding="utf-8")
)
_TEXT: dict[str, dict[str, str]] = WORDS["figure"]


def font_path() -> Path:
    """Path of the bundled CJK font (``maps/fonts/GeotoolSansSC-Regular.ttf``)."""
    return Path(str(resources.files("geotool.maps").joinpath("fonts/GeotoolSansSC-Regular.ttf")))


def register_font() -> str:
    """Register the bundled CJK font with matplotlib's font manager; return its family.

    Idempotent; by path (``fontManager.addfont``), so no system font and nothing written
    into matplotlib's installation is needed.
    """
    from matplotlib import font_manager

    path = font_path()
    known = {f.fname for f in font_manager.fontManager.ttflist}
    if str(path) not in known:
        font_manager.fontManager.addfont(str(path))
    return FONT_FAMILY


def text_style() -> dict[str, Any]:
    """Matplotlib rc settings of the static figures (fonts, embedding, reproducibility)."""
    return {
        "font.family": [register_font(), "DejaVu Sans"],
        "pdf.fonttype": 42,
        "svg.fonttype": "path",
        "svg.hashsalt": "geotool",
        "axes.unicode_minus": True,
        "text.parse_math": False,  # a user's "$" in a label is text, not TeX to parse
        "pdf.compression": 1,  # level 3: 10 % longer a county map for 4 % less; 6: 2.5x
        # print resolution needs no grid-fitting; unhinted CJK glyphs lay out 10 % faster
        "text.hinting": "none",
    }


@contextmanager
def style() -> Iterator[None]:
    """A context in which new figures get the static figures' fonts and settings."""
    import matplotlib as mpl

    with mpl.rc_context(cast(Any, text_style())):
        yield


def _lang(lang: str) -> dict[str, str]:
    if lang not in LANGS:
        msg = f"lang={str(lang)[:20]!r} is not a language of the figures; use 'zh' or 'en'."
        raise InputError(msg)
    return _TEXT[lang]


@dataclass
class Overlay:
    """A vector layer drawn over the units (lines, points or polygon outlines).

    ``data`` is a GeoDataFrame or GeoSeries in any CRS; ``label`` its legend entry
    (empty: none); ``style`` holds ``color``, ``linewidth``, ``linestyle``, ``facecolor``
    (polygons), ``marker``, ``markersize`` (points²), ``zorder`` and ``arrow=True`` (a
    line as an arrow from its first point to its last); ``text`` names a column of
    ``data`` written beside each geometry (``leaders``: points away, on leader lines, no
    two overlapping; ``text_colors``: one colour per row).
    """

    data: Any
    label: str = ""
    style: dict[str, Any] = field(default_factory=dict)
    text: str | None = None


# ---------------------------------------------------------------- geometry to artists


def _polygon_paths(geoms: np.ndarray) -> list[Any]:
    """One compound matplotlib Path per (multi)polygon, holes included (vectorised)."""
    from matplotlib.path import Path as MPath

    polys, poly_geom = shapely.get_parts(geoms, return_index=True)
    rings, ring_poly = shapely.get_rings(polys, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    codes = np.full(len(coords), MPath.LINETO, dtype=np.uint8)
    if len(coords):
        cut = coord_ring[1:] != coord_ring[:-1]
        codes[np.r_[True, cut]] = MPath.MOVETO
        codes[np.r_[cut, True]] = MPath.CLOSEPOLY
    coord_geom = poly_geom[ring_poly[coord_ring]]
    cuts = np.searchsorted(coord_geom, np.arange(len(geoms) + 1))
    return [
        MPath(coords[a:b], codes[a:b]) if b > a else MPath(np.zeros((0, 2)))
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]


def polygon_paths(geoms: np.ndarray) -> list[Any]:
    """One compound matplotlib Path per (multi)polygon, holes included (vectorised)."""
    return _polygon_paths(geoms)


def _draw_polygons(
    ax: Axes, geoms: np.ndarray, facecolors: Sequence[str] | str, *, edgecolor: str = "#ffffff",
    linewidth: float = 0.15, zorder: float = 1, rasterized: bool = False,
) -> None:  # fmt: skip
    """Polygons as one collection; ``rasterized``: an image in SVG and PDF (light files)."""
    from matplotlib.collections import PathCollection

    coll = PathCollection(_polygon_paths(geoms), facecolors=facecolors, edgecolors=edgecolor,
                          linewidths=linewidth, zorder=zorder, rasterized=rasterized)  # fmt: skip
    ax.add_collection(coll, autolim=False)


def _draw_lines(ax: Axes, geoms: np.ndarray, **style: Any) -> None:
    """Lines, and the rings of polygons, as one path of many parts (a few when long).

    One path is one drawing call in every backend (a collection of 600 province rings
    was 600 calls, each with its own graphics state, in PDF and SVG).
    """
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    parts = shapely.get_parts(shapely.get_parts(geoms))  # multi -> single
    rings = np.concatenate([parts[shapely.get_type_id(parts) != 3],
                            shapely.get_rings(parts[shapely.get_type_id(parts) == 3])])
    rings = rings[shapely.get_num_coordinates(rings) > 1]
    if not len(rings):
        return
    xy, at = shapely.get_coordinates(rings, return_index=True)
    codes = np.full(len(at), Path.LINETO, dtype=Path.code_type)
    starts = np.r_[0, np.flatnonzero(np.diff(at)) + 1]
    codes[starts] = Path.MOVETO
    style = _style(style)
    # paths of at most ~50,000 vertices: Agg refuses a longer one drawn wide at 300 dpi
    at_cut = np.searchsorted(starts, np.arange(_PATH_VERTICES, len(xy), _PATH_VERTICES))
    cuts = np.unique(starts[at_cut[at_cut < len(starts)]])
    for a, b in itertools.pairwise([0, *cuts[cuts > 0].tolist(), len(xy)]):
        patch = PathPatch(
            Path(xy[a:b], codes[a:b]), fill=False, edgecolor=style["color"],
            linewidth=style.get("linewidth", 1.0), linestyle=style.get("linestyle", "solid"),
            zorder=style.get("zorder", 4), capstyle="round", joinstyle="round",
            transform=ax.transData,
        )  # fmt: skip
        ax.add_artist(patch)  # not add_patch: the map's limits are set, not grown


#: The most vertices of one line path (Agg's cell blocks); China's province borders: two paths.
_PATH_VERTICES = 50_000


def _style(style: Mapping[str, Any]) -> dict[str, Any]:
    """An overlay's style with its default colour (black) and fill (none)."""
    return {"color": "#000000", "facecolor": "none", **style}


def _kind(geoms: np.ndarray) -> str:
    """What ``geoms`` are for drawing and the legend: "point", "polygon" or "line" (mixed)."""
    kinds = set(shapely.get_type_id(geoms).tolist())
    return "point" if kinds <= {0, 4} else "polygon" if kinds <= {3, 6} else "line"


def _draw_overlay(ax: Axes, geoms: np.ndarray, style: Mapping[str, Any]) -> None:
    """An overlay's geometries: arrows, points, filled polygons, or lines and outlines."""
    st, kind = _style(style), _kind(geoms)
    if st.get("arrow") and set(shapely.get_type_id(geoms).tolist()) <= {1}:
        arrow = {"arrowstyle": "-|>,head_length=0.6,head_width=0.3", "color": st["color"],
                 "linewidth": st.get("linewidth", 1.2), "shrinkA": 0, "shrinkB": 0}  # fmt: skip
        for g in geoms:
            xy = shapely.get_coordinates(g)
            ax.annotate("", xy=tuple(xy[-1]), xytext=tuple(xy[0]), arrowprops=arrow,
                        zorder=st.get("zorder", 6))  # fmt: skip
    elif kind == "point":
        xy = shapely.get_coordinates(geoms)
        ax.scatter(
            xy[:, 0], xy[:, 1], s=st.get("markersize", 12), marker=st.get("marker", "o"),
            c=style.get("facecolor", st["color"]), edgecolors=st["color"],
            linewidths=st.get("linewidth", 0.5), zorder=st.get("zorder", 5),
        )  # fmt: skip
    elif kind == "polygon" and st["facecolor"] != "none":
        _draw_polygons(ax, geoms, st["facecolor"], edgecolor=st["color"],
                       linewidth=st.get("linewidth", 1.0), zorder=st.get("zorder", 4))  # fmt: skip
    else:
        _draw_lines(ax, geoms, **st)  # fmt: skip


def _legend_handle(style: Mapping[str, Any], kind: str) -> Any:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    st = _style(style)
    if kind == "point":
        face = style.get("facecolor", st["color"])  # one per point: white in the legend
        return Line2D(
            [], [], linestyle="none", marker=st.get("marker", "o"),
            markersize=math.sqrt(st.get("markersize", 12)),
            markerfacecolor=face if isinstance(face, str) else "#ffffff",
            markeredgecolor=st["color"],
        )  # fmt: skip
    if kind == "polygon" and st["facecolor"] != "none":
        return Patch(facecolor=st["facecolor"], edgecolor=st["color"])
    return Line2D([], [], color=st["color"], linewidth=st.get("linewidth", 1.0),
                  linestyle=st.get("linestyle", "solid"))  # fmt: skip


# ---------------------------------------------------------------- colours


def _colours(
    gdf: gpd.GeoDataFrame,
    column: str | None,
    *,
    colours: Mapping[Any, str] | None,
    labels: Mapping[Any, str] | None,
    scheme: str,
    k: int | None,
    breaks: list[float] | None,
    cmap: str,
) -> tuple[pd.Series, dict[str, str]]:
    """Fill colour per row (missing: NaN) and the legend, ``gdf`` checked first."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    _check_frame(gdf)
    if column is None:
        return pd.Series(np.nan, index=gdf.index, dtype=object), {}
    if column not in gdf.columns:
        msg = f"column {str(column)[:40]!r} is not a column of gdf ({list(gdf.columns)[:8]})."
        raise InputError(msg)
    values = gdf[column]
    if colours is None and pd.api.types.is_numeric_dtype(values) and values.nunique() > 12:
        fill, legend = classify(values, scheme=scheme, k=k, breaks=breaks, cmap=cmap)
        return fill.reindex(gdf.index), legend
    if colours is None:
        cats = [c for c in pd.unique(values.dropna())]
        palette = [to_hex(colormaps["tab20"](i)) for i in range(20)]
        colours = {c: palette[i % 20] for i, c in enumerate(sorted(cats, key=str))}
    fill = values.map(lambda x: colours.get(x, np.nan) if pd.notna(x) else np.nan)
    present = set(values.dropna())
    legend = {
        str((labels or {}).get(c, c)): colour for c, colour in colours.items() if c in present
    }
    return fill.astype(object), legend


def _check_frame(gdf: gpd.GeoDataFrame) -> None:
    """Refuse what cannot be drawn: not a GeoDataFrame, no CRS, no rows."""
    import geopandas as gpd

    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"gdf must be a GeoDataFrame; got {type(gdf).__name__}."
        raise InputError(msg)
    if gdf.crs is None:
        msg = "gdf has no CRS; set it with gdf.set_crs('EPSG:4326') (or the CRS it is in)."
        raise InputError(msg)
    if len(gdf) == 0:
        msg = "gdf has no rows to draw."
        raise InputError(msg)


# ---------------------------------------------------------------- layout helpers


def _projected_box(bounds: Sequence[float], crs: str) -> tuple[float, float, float, float]:
    """Bounds in ``crs`` of a lon/lat box (edges densified, so curved edges count)."""
    import geopandas as gpd

    box = shapely.segmentize(shapely.box(*bounds), 0.25)
    x0, y0, x1, y1 = gpd.GeoSeries([box], crs=settings.default_crs).to_crs(crs).total_bounds
    return float(x0), float(y0), float(x1), float(y1)


def _fit(
    ax: Axes, box: Sequence[float], margin: float, floor: float | None = None
) -> tuple[float, float, float, float]:
    """Set ``ax``'s limits to ``box`` plus a margin, widened to the axes' aspect.

    ``floor``: the lowest y shown (the main map cropped north of the South China Sea);
    height the aspect adds goes above it instead.
    """
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    span = max(w, h, 1.0)
    x0, x1, y0, y1 = x0 - margin * span, x1 + margin * span, y0 - margin * span, y1 + margin * span
    fig = ax.get_figure(root=True)
    assert fig is not None
    pos = ax.get_position()
    fw, fh = fig.get_size_inches()
    target = (pos.height * fh) / (pos.width * fw)
    w, h = x1 - x0, y1 - y0
    if h / w < target:
        grow = (w * target - h) / 2
        y0, y1 = y0 - grow, y1 + grow
    else:
        grow = (h / target - w) / 2
        x0, x1 = x0 - grow, x1 + grow
    if floor is not None and y0 < floor < y1:
        y0, y1 = floor, y1 + floor - y0
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
    return x0, y0, x1, y1


def _nice(length: float) -> float:
    """A round length (1, 2, 2.5, 5 x 10^n) not above ``length``."""
    exp = 10 ** math.floor(math.log10(length))
    return max(m * exp for m in (1, 2, 2.5, 5) if m * exp <= length)


def _scale_bar(
    ax: Axes,
    limits: Sequence[float],
    crs: str,
    *,
    fontsize: float = 7,
    ticks: Sequence[float] = (0, 0.5, 1),
) -> tuple[float, tuple[float, float, float, float]]:
    """A km scale bar at the lower left; returns its length in km and its ends (x0, y, x1, y).

    Its projected length is the true length times the projection's scale factor along
    the parallel at the map's centre (pyproj ``get_factors``), so the bar is right there.
    """
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = limits
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    lon, lat = _to_degrees(crs).transform(cx, cy)
    factor = float(_proj(crs).get_factors(lon, lat).parallel_scale)
    km = _nice((x1 - x0) * 0.22 / 1000 / factor)
    length = km * 1000 * factor
    bx, by = x0 + 0.04 * (x1 - x0), y0 + 0.04 * (y1 - y0)
    height = 0.012 * (y1 - y0)
    for i in range(4):
        ax.add_patch(
            Rectangle(
                (bx + i * length / 4, by), length / 4, height,
                facecolor="#000000" if i % 2 == 0 else "#ffffff",
                edgecolor="#000000", linewidth=0.5, zorder=10,
            )
        )  # fmt: skip
    for frac in ticks:
        ax.text(
            bx + frac * length, by + height * 1.6, f"{km * frac:g}", ha="center", va="bottom",
            fontsize=fontsize, zorder=10, path_effects=_halo(),
        )  # fmt: skip
    ax.text(bx + length * 1.03, by + height / 2, "km", ha="left", va="center",
            fontsize=fontsize, zorder=10)  # fmt: skip
    return km, (bx, by, bx + length, by)


@settings_cache(maxsize=8)
def _to_degrees(crs: str) -> Any:
    """A transformer from ``crs`` to degrees (a run's maps share one; 40 ms to make)."""
    from pyproj import Transformer

    return Transformer.from_crs(crs, settings.default_crs, always_xy=True)


@settings_cache(maxsize=8)
def _proj(crs: str) -> Any:
    """``crs`` as a :class:`pyproj.Proj` (its scale factors)."""
    from pyproj import CRS, Proj

    return Proj(CRS(crs))


def _north_arrow(
    ax: Axes, limits: Sequence[float], crs: str, word: str
) -> tuple[float, float, float]:
    """An upright north arrow at the upper left, pointing to grid north (up the map).

    Drawn vertically on purpose: a tilted arrow reads as a mistake; true north at the
    arrow differs by the meridians' convergence there (returned as its lon, lat, so
    that it can be stated). Returns its angle (0: up) and its lon, lat.
    """
    x0, y0, x1, y1 = limits
    bx, by = x0 + 0.06 * (x1 - x0), y1 - 0.16 * (y1 - y0)
    lon, lat = _to_degrees(crs).transform(bx, by)
    tip = (bx, by + 0.08 * (y1 - y0))
    ax.annotate(
        "", xy=tip, xytext=(bx, by), gid="north-arrow",
        arrowprops={"arrowstyle": "-|>,head_length=0.8,head_width=0.35", "color": "#000000",
                    "linewidth": 1.2},
        zorder=10,
    )  # fmt: skip
    ax.text(tip[0], tip[1] + 0.012 * (y1 - y0), word, ha="center", va="bottom", fontsize=9,
            zorder=10, path_effects=_halo())  # fmt: skip
    return 0.0, float(lon), float(lat)


def china_scope(geoms: np.ndarray) -> str:
    """Whether geometries in degrees span China, lie in part of it, or outside it.

    "national" when a point of each (``point_on_surface``) falls in more than half of
    the bundled province-level units (34), "part" when in at least one, else "outside".
    Decides China's decorations on every map (module docstring), static and web.
    """
    geoms = np.asarray(geoms, dtype=object)
    geoms = geoms[_present(geoms)]
    if len(geoms) == 0:
        return "outside"
    provinces = _coarse_provinces()

    def scope() -> str:
        hit = provinces.query(shapely.point_on_surface(geoms), predicate="within")[1]
        n = len(np.unique(hit))
        return "national" if n > len(provinces.geometries) / 2 else "part" if n else "outside"

    return _per_layer("scope", geoms, scope)


def is_plane(units: gpd.GeoDataFrame | gpd.GeoSeries) -> bool:
    """Whether the units have no CRS: none set, or read from a file without one.

    :func:`geotool.geofile.read` places such a plane at 3° E on the equator, where
    longitude and latitude keep its shapes (scale differs by under 0.01 %); it is drawn
    as it is, with no map projection fitted to it.
    """
    return units.crs is None or units.attrs.get("source", {}).get("crs") == PLANE


_SAME: dict[str, tuple[np.ndarray, Any]] = {}


def _per_layer(name: str, geoms: np.ndarray, make: Callable[[], T]) -> T:
    """``make()`` once while ``geoms`` are the same objects (a run's maps share a layer).

    Keyed by the settings' CRS too; an array result is read-only (every caller shares it).
    """
    key = f"{name}:{settings.default_crs}"
    hit = _SAME.get(key)
    if hit is None or len(hit[0]) != len(geoms) or not all(map(operator.is_, hit[0], geoms)):
        made = make()
        if isinstance(made, np.ndarray):
            made.flags.writeable = False
        hit = _SAME[key] = (geoms.copy(), made)
    return cast(T, hit[1])


@settings_cache(maxsize=1)
def _coarse_provinces() -> shapely.STRtree:
    """The provinces to ~2 km (0.02°) in a tree: a point's province in 0.06 ms, not 0.3 ms."""
    provinces = _bundled("province", settings.default_crs)
    return shapely.STRtree(shapely.simplify(provinces, 0.02, preserve_topology=False))


@settings_cache(maxsize=8)
def _china_box(crs: str) -> tuple[float, float, float, float]:
    """Bounds in ``crs`` of China's land north of the South China Sea (三沙's islands out)."""
    import geopandas as gpd

    parts = shapely.get_parts(_bundled("province", settings.default_crs))
    land = parts[~_at_sea(parts)]
    x0, y0, x1, y1 = gpd.GeoSeries(land, crs=settings.default_crs).to_crs(crs).total_bounds
    return float(x0), float(y0), float(x1), float(y1)


@settings_cache(maxsize=8)
def _bundled(layer: str, crs: str) -> np.ndarray:
    """A bundled layer's geometries in ``crs``: provinces, 三沙's islands, the maritime line.

    Read and projected once per CRS (every map of a run shares them).
    """
    if layer == "maritime":
        frame: gpd.GeoDataFrame = boundaries.maritime()
    elif layer == "islands":
        county = boundaries.load("county")
        frame = county[county.index.str.startswith(_SANSHA_PREFIX)]
    else:
        frame = boundaries.load("province")
    return frame.to_crs(crs).geometry.to_numpy()


_PROJECTED: dict[tuple[bytes, str], tuple[np.ndarray, np.ndarray]] = {}


def _project(lonlat: np.ndarray, crs: str) -> np.ndarray:
    """``lonlat`` geometries in ``crs``; the last layer is kept (a run's maps share one)."""
    import hashlib

    import geopandas as gpd

    for (_, known), (was, out) in _PROJECTED.items():  # the same geometries: no hashing
        if known == crs and len(was) == len(lonlat) and all(map(operator.is_, was, lonlat)):
            return out
    key = (hashlib.sha1(b"".join(shapely.to_wkb(lonlat)), usedforsecurity=False).digest(), crs)
    if key not in _PROJECTED:
        _PROJECTED.clear()
        out = gpd.GeoSeries(lonlat, crs=settings.default_crs).to_crs(crs).to_numpy()
        _PROJECTED[key] = (lonlat, out)
    return _PROJECTED[key][1]


_SIMPLIFIED: dict[tuple[int, float], tuple[np.ndarray, np.ndarray]] = {}


def _simplify(geoms: np.ndarray, res: float, rows: np.ndarray | None = None) -> np.ndarray:
    """``geoms[rows]`` without detail below 0.3 px (``res``: metres a pixel), cached.

    Simplified without topology first (0.6 s on the county layer; GEOS's
    topology-preserving pass takes 7 s); the few parts that came out empty or invalid
    are redone with it. The whole array is kept per (array, tolerance): a run's figures
    of one layer share it.
    """
    tol = float(f"{0.3 * res:.2g}")  # rounded: maps of one window share one tolerance
    key = (id(geoms), tol)
    hit = _SIMPLIFIED.get(key)
    if hit is None or hit[0] is not geoms:
        if len(_SIMPLIFIED) > 8:
            _SIMPLIFIED.clear()
        out = shapely.simplify(geoms, tol, preserve_topology=False)
        bad = ~shapely.is_valid(out) | (shapely.is_empty(out) & ~shapely.is_empty(geoms))
        bad &= ~shapely.is_missing(geoms)
        if bad.any():
            out[bad] = shapely.simplify(geoms[bad], tol, preserve_topology=True)
        hit = _SIMPLIFIED[key] = (geoms, out)
    return hit[1] if rows is None else hit[1][rows]


def _res(ax: Axes, limits: Sequence[float], dpi: float = 300) -> float:
    """Metres a pixel of ``ax`` showing ``limits`` at ``dpi`` (print: 300)."""
    fig = ax.get_figure(root=True)
    assert fig is not None
    width = ax.get_position().width * fig.get_figwidth() * dpi
    return (limits[2] - limits[0]) / max(width, 1.0)


def boundaries_caption(lang: str = "zh", lon0: float = 105.0) -> str:
    """The boundaries' source and vintage, and the projection, in ``lang``."""
    sep = "；" if lang == "zh" else "; "
    return _credit("boundaries", lang) + sep + _lang(lang)["projection"].format(lon0=lon0)


def _credit(key: str, lang: str) -> str:
    """The bundled boundaries named by the words of ``key`` (``boundaries``, ``base_map``)."""
    src = boundaries.metadata()["source"]
    upstream = "高德 AMap" if lang == "zh" else "AMap"
    return _lang(lang)[key].format(package=src["package"], version=src["version"],
                                   upstream=upstream, vintage=src["vintage"])  # fmt: skip


# ---------------------------------------------------------------- the map


def to_figure(
    gdf: gpd.GeoDataFrame,
    column: str | None = None,
    *,
    colours: Mapping[Any, str] | None = None,
    labels: Mapping[Any, str] | None = None,
    scheme: str = "quantiles",
    k: int | None = None,
    breaks: list[float] | None = None,
    cmap: str = "YlOrRd",
    missing: str = NEUTRAL,
    missing_label: str | None = None,
    title: str = "",
    legend_title: str = "",
    legend_extra: Mapping[str, str] | None = None,
    legend_note: str = "",
    overlays: Iterable[Overlay] = (),
    extent: str | Sequence[float] = "data",
    inset: bool | None = None,
    source: str = "",
    boundaries: str | None = None,
    lang: str = "zh",
    crs: str | None = None,
    figsize: tuple[float, float] = (7.5, 6.2),
) -> Figure:
    """A static map of ``gdf`` coloured by ``column``, ready for print.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Polygons or points, any CRS (must be set); rows are drawn in order.
    column : str, optional
        Categories (with ``colours``, or at most 12 values: tab20) or numbers (more than
        12 values, classed). None: every unit in ``missing``.
    scheme, k, breaks, cmap : str, int, list of float, str
        How numbers are classed, as :func:`geotool.maps.choropleth` classes.
    colours, labels : mapping, optional
        Category -> colour (others are ``missing``); category -> legend label.
    missing, missing_label : str
        Colour of units without a value, and its legend entry (default "no data"/"无数据"
        when any is missing; "": none).
    title, legend_title, legend_note : str
        Above the map; the legend's heading; a line under the legend.
    legend_extra : mapping, optional
        More legend entries (label -> colour).
    overlays : iterable of Overlay
        Drawn over the units, with legend entries.
    extent : {"data", "all"} or sequence of float
        The window: the coloured units (all when none is), every unit, or a
        ``(min_lon, min_lat, max_lon, max_lat)`` box. 南海诸岛 are left to the inset; a
        national map (:func:`china_scope`) shows all of China either way.
    inset : bool, optional
        Draw the South China Sea inset (and crop the main map north of the sea); default
        on national maps of China only.
    source : str
        The data's source, the caption's first line.
    boundaries : str, optional
        Where ``gdf``'s boundaries come from (a file's name), credited in the caption; the
        bundled boundaries are then the base map of a map of China. None: ``gdf`` has the
        bundled boundaries (credited on maps of China).
    lang : {"zh", "en"}
        Language of the map's own words.
    crs : str, optional
        Projected CRS (metres); default :data:`geotool.settings.equal_area_crs` with its
        central meridian at the window's centre.
    figsize : tuple of float
        Inches (7.5 x 6.2: a journal page's width).

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.geotool`` holds what was drawn: ``extent``, ``crs``, ``inset_box`` (figure
        fraction or None), ``scale_km``, ``scale_bar`` (x0, y, x1, y), ``north_deg``
        (clockwise from up: 0, grid north), ``north_at`` (lon, lat) and ``scope``.

    Examples
    --------
    >>> from geotool import boundaries
    >>> units = boundaries.load("county")
    >>> units["east"] = units["region"].eq("east")
    >>> fig = to_figure(units, "east", colours={True: "#cb181d"}, labels={True: "east"},
    ...                 lang="en")
    >>> fig.geotool["inset_box"] is not None
    True

    """
    words = _lang(lang)
    fill, legend = _colours(
        gdf, column, colours=colours, labels=labels, scheme=scheme, k=k, breaks=breaks, cmap=cmap
    )
    # a file without a CRS (placed at 3° E on the equator): drawn unprojected, to scale
    plane = crs is None and gdf.crs is not None and is_plane(gdf)
    plan = _plan(gdf, fill, missing, inset=inset, extent=extent,
                 crs=_PLANE_CRS if plane else crs)  # fmt: skip
    if missing_label is None:
        missing_label = words["missing"] if plan.any_missing and column is not None else ""
    fills = [*legend.items(), *(legend_extra or {}).items()]
    fills += [(missing_label, missing)] if missing_label else []
    with style():
        fig, entries, marks = _draw_main(plan, fills, overlays, words, title=title, figsize=figsize)
        _draw_legend(fig, plan.inset, entries, legend_title, legend_note)
        inset_box = _inset(fig, plan, words["inset"]) if plan.inset else None
        _draw_caption(fig, source, lang, plan, own_crs=crs is not None, plane=plane,
                      boundaries=boundaries)  # fmt: skip
    marks |= {"extent": plan.window, "crs": plan.crs, "inset_box": inset_box, "scope": plan.scope}
    fig.geotool = marks  # type: ignore[attr-defined]
    return fig


@dataclass(frozen=True)
class _Plan:
    """What a map draws, and where: its units and their fills, its window and CRS."""

    lonlat: np.ndarray  # the rows' geometries in degrees
    drawable: np.ndarray  # not missing, not empty
    coloured: np.ndarray  # drawable, with a fill
    colour_of: np.ndarray  # fill colour per row (``missing`` where none)
    scope: str  # china_scope: "national", "part" or "outside"
    inset: bool  # draw the South China Sea inset (and crop the main map north of it)
    window: tuple[float, ...]  # the main map's window, degrees
    crs: str  # the map's projected CRS
    projected: np.ndarray  # the rows' geometries in ``crs``
    whole: bool = False  # a national map showing all of China (its outline's bounds)

    @property
    def china(self) -> bool:
        """The units lie in China: land, province borders, the boundaries' caption."""
        return self.scope != "outside"

    @property
    def any_missing(self) -> bool:
        """Whether a drawn unit has no fill."""
        return bool((self.drawable & ~self.coloured).any())


def _plan(
    gdf: gpd.GeoDataFrame,
    fill: pd.Series,
    missing: str,
    *,
    inset: bool | None,
    extent: str | Sequence[float],
    crs: str | None,
) -> _Plan:
    """The map's plan (see :func:`to_figure` for ``inset``, ``extent`` and ``crs``)."""
    geo = gdf.geometry.to_crs(settings.default_crs)
    drawable = ~(geo.isna() | geo.is_empty).to_numpy()
    lonlat = geo.to_numpy()
    coloured = fill.notna().to_numpy() & drawable
    scope = china_scope(lonlat[drawable])
    colour_of = np.where(coloured, fill.to_numpy(dtype=object), missing)
    if inset is None:  # national maps; a part holding 三沙's islands (Hainan) as its map
        inset = scope == "national" or (scope == "part" and bool(_at_sea(lonlat[drawable]).any()))
    window = _window(extent, lonlat, drawable, coloured, inset=inset)
    whole = scope == "national" and isinstance(extent, str)
    if whole:  # all of China, whatever has data
        window = _china_box(settings.default_crs)
    crs = crs or re.sub(r"\+lon_0=\S+", f"+lon_0={_lon0(window)}", settings.equal_area_crs)
    projected = _project(lonlat, crs)
    return _Plan(lonlat, drawable, coloured, colour_of, scope, inset, window, crs, projected, whole)


def _window(
    extent: str | Sequence[float],
    lonlat: np.ndarray,
    drawable: np.ndarray,
    coloured: np.ndarray,
    *,
    inset: bool,
) -> tuple[float, ...]:
    """The main map's window in degrees; 南海诸岛 are left to the inset when there is one."""
    if not isinstance(extent, str):
        window = tuple(float(b) for b in extent)
        if len(window) != 4 or not (window[0] < window[2] and window[1] < window[3]):
            msg = f"extent must be (min_lon, min_lat, max_lon, max_lat); got {extent!r}."
            raise InputError(msg)
        return window
    if extent not in ("data", "all"):
        msg = f"extent must be 'data', 'all' or a box of 4 numbers, got {extent!r}."
        raise InputError(msg)
    pick = coloured if (extent == "data" and coloured.any()) else drawable
    if inset:
        north = np.ones(len(lonlat), dtype=bool)
        north[drawable] = ~_at_sea(lonlat[drawable])
        pick = pick & north if (pick & north).any() else pick
    return tuple(float(b) for b in shapely.total_bounds(lonlat[pick]))


def _at_sea(geoms: np.ndarray) -> np.ndarray:
    """Which geometries (degrees) are 三沙's islands: centred in the sea south of 17.5 N."""

    def at_sea() -> np.ndarray:
        centre = shapely.get_coordinates(shapely.centroid(geoms))
        return (centre[:, 1] < 17.5) & (centre[:, 0] > 107) & (centre[:, 0] < 123)

    return _per_layer("at_sea", geoms, at_sea)


def _lon0(window: Sequence[float]) -> int:
    """The central meridian of a map of ``window``: its centre, in whole degrees."""
    return round((window[0] + window[2]) / 2)


def _right(inset: bool) -> float:
    """Where the main map ends and the legend (and inset) column begins (figure fraction)."""
    return 0.70 if inset else 0.72


def _span(limits: Sequence[float]) -> float:
    """The longer side of a map's limits."""
    return max(limits[2] - limits[0], limits[3] - limits[1])


def _draw_main(
    plan: _Plan,
    fills: list[tuple[str, str]],
    overlays: Iterable[Overlay],
    words: dict[str, str],
    *,
    title: str,
    figsize: tuple[float, float],
) -> tuple[Figure, list[tuple[Any, str]], dict[str, Any]]:
    """A new figure with the main map: units, base layers, overlays, scale, north, title.

    Returns the figure, the legend's entries (handle, label), and the scale bar's and
    the north arrow's entries of ``fig.geotool``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.015, 0.115, _right(plan.inset) - 0.025, 0.79))
    box = _projected_box(plan.window, plan.crs)
    floor = None
    if plan.inset:  # the sea is the inset's: the main map ends just south of Hainan
        china = _china_box(plan.crs)
        floor = china[1] - 0.005 * (china[3] - china[1])
        if plan.whole:
            box = china  # the outline's bounds; the degrees' box bulges beyond them
    limits = _fit(ax, box, 0.04, floor)
    _draw_units(ax, limits, plan)
    entries = [(Patch(facecolor=c, edgecolor="#888888", linewidth=0.4), name) for name, c in fills]
    entries += _draw_overlays(ax, overlays, plan.crs, _res(ax, limits))
    if plan.scope == "national" or plan.inset:
        maritime = _legend_handle({"color": _MARITIME, "linewidth": 0.9}, "line")
        entries.append((maritime, words["maritime"]))
    scale_km, scale_bar = _scale_bar(ax, limits, plan.crs)
    north_deg, *north_at = _north_arrow(ax, limits, plan.crs, words["north"])
    if title:
        fig.text(0.015, 0.975, title, ha="left", va="top", fontsize=11.5)
    marks = {"scale_km": scale_km, "scale_bar": scale_bar, "north_deg": north_deg}
    return fig, entries, {**marks, "north_at": tuple(north_at)}


def _draw_units(ax: Axes, limits: Sequence[float], plan: _Plan) -> None:
    """The units near the window; on maps of China over land, under borders and the line."""
    view = shapely.box(*limits).buffer(0.02 * _span(limits))
    polygons, points = _near(plan, view)
    res = _res(ax, limits)
    layers = [_land(plan.crs, view, res)] if plan.china else []
    if polygons.any():
        layers.append(_fills(plan, polygons, res, edge=0.12))
    _MapImage(ax, layers, limits)
    if points.any():
        xy = shapely.get_coordinates(shapely.centroid(plan.projected[points]))
        ax.scatter(xy[:, 0], xy[:, 1], s=14, c=list(plan.colour_of[points]),
                   edgecolors="#333333", linewidths=0.3, zorder=2)  # fmt: skip
    if plan.china:
        _draw_lines(ax, layers[0].rows_of(), color=_BORDER, linewidth=0.35, zorder=3)
        if plan.scope == "national":  # where it falls in the frame (east of Taiwan)
            _draw_maritime(ax, plan.crs)


def _near(plan: _Plan, view: shapely.Geometry) -> tuple[np.ndarray, np.ndarray]:
    """The drawable rows that meet ``view``: polygons, and points."""
    near = plan.drawable & shapely.intersects(plan.projected, view)
    polygons = near & np.isin(shapely.get_type_id(plan.projected), (3, 6))
    return polygons, near & ~polygons


@dataclass(frozen=True)
class _Layer:
    """Filled polygons of a map image: ``geoms[rows]`` in ``colours`` (one a row drawn).

    ``geoms`` is a cached array (:func:`_simplify`), so that its rasters are cached too;
    ``edge``: white outlines this wide (points), 0 for none.
    """

    geoms: np.ndarray
    rows: np.ndarray
    colours: np.ndarray
    edge: float = 0.0

    def rows_of(self) -> np.ndarray:
        """The drawn geometries."""
        return self.geoms[self.rows]


def _land(crs: str, view: shapely.Geometry, res: float) -> _Layer:
    """The provinces that meet ``view`` as land under the units (borders: the caller's)."""
    provinces = _simplify(_bundled("province", crs), res)
    rows = shapely.intersects(provinces, view)
    return _Layer(provinces, rows, np.full(int(rows.sum()), _LAND, dtype=object))


def _fills(plan: _Plan, rows: np.ndarray, res: float, *, edge: float) -> _Layer:
    """The units of ``rows`` in their fill colours, simplified to the map's resolution."""
    return _Layer(_simplify(plan.projected, res), rows, plan.colour_of[rows], edge)


def _MapImage(ax: Axes, layers: list[_Layer], limits: Sequence[float]) -> Any:  # noqa: N802
    """Add the filled layers to ``ax`` as one image, painted at each save's resolution.

    Land and units are one opaque image under every line and label in all formats (in SVG
    and PDF too: their fills are most of a vector file's bytes). Each layer's polygons are
    rasterised once per run and size as an index image (:func:`_index`); a figure only
    looks its colours up, and the image goes to the renderer at its pixel size (no
    resampling). Measured on a county map: 0.03 s a format against 0.3 s for
    matplotlib's drawing of the polygons, done again for each format.
    """
    image = _map_image_class()(layers, tuple(limits))
    ax.add_artist(image)
    return image


@functools.cache
def _map_image_class() -> type:
    """An :class:`matplotlib.artist.Artist` drawing :func:`_paint` (matplotlib: lazily)."""
    from matplotlib.artist import Artist

    class MapImage(Artist):
        """The map's fills, repainted when the output's pixel size changes."""

        def __init__(self, layers: list[_Layer], limits: tuple[float, ...]) -> None:
            super().__init__()
            self.set_zorder(0.5)
            self.set_gid("map-fills")
            self._layers, self._limits = layers, limits
            self._size = (0, 0)
            self._codes = np.zeros((0, 0), dtype=np.uint8)
            self._palette = np.zeros((0, 3), dtype=np.uint8)
            self._rgba: np.ndarray | None = None

        def draw(self, renderer: Any) -> None:
            if not self.get_visible() or self.axes is None:
                return
            bbox, mag = self.axes.bbox, renderer.get_image_magnification()
            size = (max(round(bbox.width * mag), 1), max(round(bbox.height * mag), 1))
            if size != self._size:
                fig = self.axes.get_figure(root=True)
                assert fig is not None
                inches = self.axes.get_position().width * fig.get_figwidth()
                self._codes, self._palette = _paint(
                    self._layers, self._limits, size, size[0] / inches
                )
                self._size, self._rgba = size, None
            self.stale = False
            if len(self._palette) <= 256 and hasattr(renderer, "writer"):  # SVG
                _svg_image(renderer, bbox, _png(self._codes, palette=self._palette))
                return
            if self._rgba is None:
                lut = np.full((len(self._palette), 4), 255, dtype=np.uint8)
                lut[:, :3] = self._palette
                pixels = lut.view(np.uint32)[:, 0][self._codes]  # one 4-byte gather a pixel
                self._rgba = pixels.view(np.uint8).reshape(*self._codes.shape, 4)
            if _OPEN[0] and len(self._palette) <= 256 and hasattr(renderer, "file"):  # PDF
                _INDEXED[id(self._rgba)] = (self._rgba, self._codes, self._palette)
            gc = renderer.new_gc()
            gc.set_clip_rectangle(bbox)
            renderer.draw_image(gc, bbox.x0, bbox.y0, self._rgba)
            gc.restore()

    return MapImage


#: Steps of an anti-aliased white outline's coverage (at most; at least 8): more than the
#: eye tells apart at print resolution, few enough that a map of up to 32 fill colours
#: has at most 256 (an indexed image in SVG and PDF).
_SHADES = 32


def _paint(
    layers: list[_Layer], limits: tuple[float, ...], size: tuple[int, int], dpi: float
) -> tuple[np.ndarray, np.ndarray]:
    """The layers as palette codes (h, w) and their RGB palette (k, 3); white where none.

    Outlines are anti-aliased white in :data:`_SHADES` steps of coverage, fewer (down to
    8) where that keeps the palette within 256 colours. What does not depend on the
    figure's colours (the outlines' shades) is cached: a figure only looks up its colours.
    """
    base, of = _base_colours(layers)
    shades = min(_SHADES, 256 // len(base))
    shades = shades if shades >= 8 else _SHADES
    dtype = np.min_scalar_type(len(base) * shades - 1).type
    codes = of.astype(dtype)[_index(layers, limits, size)] * dtype(shades)
    codes += _white(layers, limits, size, dpi, shades=shades, dtype=dtype)
    steps = np.linspace(0, 1, shades)[None, :, None]
    palette = base[:, None, :] * (1 - steps) + 255 * steps
    return codes, np.round(palette).astype(np.uint8).reshape(-1, 3)


def _base_colours(layers: list[_Layer]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct RGB fills (k, 3), 0-255, and each geometry's (and the ground's) code.

    Each distinct colour name is converted once (a county map: 2,875 names, a dozen colours).
    """
    from matplotlib.colors import to_rgba_array

    names = np.concatenate([*(np.asarray(layer.colours, dtype=object) for layer in layers),
                            np.array(["#ffffff"], dtype=object)])  # fmt: skip
    of_name, distinct = pd.factorize(names)
    rgb = np.round(to_rgba_array(list(distinct))[:, :3] * 255)
    base, of_rgb = np.unique(rgb, axis=0, return_inverse=True)
    return base, of_rgb.reshape(-1)[of_name]


def _white(
    layers: list[_Layer], limits: tuple[float, ...], size: tuple[int, int], dpi: float,
    *, shades: int, dtype: type,
) -> np.ndarray:  # fmt: skip
    """Each pixel's white outline coverage in ``shades`` steps (flat, ``dtype``), cached."""
    edged = [layer for layer in layers if layer.edge > 0]
    widths = [layer.edge * dpi / 72 for layer in edged]

    def make() -> np.ndarray:
        white = np.zeros(size[0] * size[1], dtype=np.float32)
        for layer, width in zip(edged, widths, strict=True):
            at, alpha = _outlines(layer, limits, size, width)
            white[at] = 1 - (1 - white[at]) * (1 - alpha)
        return np.rint(white * (shades - 1)).astype(dtype)

    outlines = [(round(w, 3), _key(layer)) for layer, w in zip(edged, widths, strict=True)]
    key = ("white", shades, np.dtype(dtype).str, limits, size, *outlines)
    return _cached_raster(key, edged, make).reshape(size[::-1])


def _deflate(data: Any) -> bytes:
    """``data`` as a zlib stream at a fast level: ISA-L's (``isal``) where installed.

    ISA-L's level 1 deflates a county map's 300 dpi canvas (12.6 MB) in 5 ms against zlib
    level 1's 29 ms, 6 % larger; any zlib reader reads either.
    """
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover (a platform without isal's wheels)
        import zlib

        return zlib.compress(data, 1)
    return isal_zlib.compress(data, 1)


def _png(pixels: np.ndarray, *, dpi: float = 72, palette: np.ndarray | None = None,
         text: Mapping[str, str] | None = None) -> bytes:  # fmt: skip
    """A PNG of ``pixels``: (h, w, 3) RGB, (h, w, 4) RGBA or (h, w) codes into ``palette``.

    Rows unfiltered, deflated fast (:func:`_deflate`). Pillow filters every row
    adaptively: a county map's 300 dpi canvas took 0.43 s and 1.16 MB there, 0.10 s and
    0.85 MB here (flat map colours compress well unfiltered).
    """
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    h, w = pixels.shape[:2]
    kind = 3 if palette is not None else {3: 2, 4: 6}[pixels.shape[2]]
    raw = np.empty((h, 1 + pixels[0].size), dtype=np.uint8)
    raw[:, 0] = 0  # filter byte 0: none
    if pixels.ndim == 3:  # channel by channel: 4x faster than one strided copy
        rows = raw[:, 1:].reshape(pixels.shape)
        for c in range(pixels.shape[2]):
            rows[..., c] = pixels[..., c]
    else:
        raw[:, 1:] = pixels
    ppm = round(dpi / 0.0254)
    out = [b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, kind, 0, 0, 0))]
    if palette is not None:
        out.append(chunk(b"PLTE", palette.astype(np.uint8).tobytes()))
    out.append(chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)))
    out += [chunk(b"tEXt", f"{k}\0{v}".encode("latin-1")) for k, v in (text or {}).items()]
    out += [chunk(b"IDAT", _deflate(raw.data)), chunk(b"IEND", b"")]
    return b"".join(out)


def _svg_image(renderer: Any, bbox: Any, png: bytes) -> None:
    """``png`` as an SVG ``<image>`` filling ``bbox`` (matplotlib's encoder: Pillow, RGBA).

    The layout of matplotlib's ``RendererSVG.draw_image`` without a transform.
    """
    import base64
    import hashlib

    x, y, w, h = bbox.x0, bbox.y0, bbox.width, bbox.height
    num = "{:.4f}".format
    renderer.writer.element(
        "image",
        transform=f"scale(1 -1) translate(0 {num(-h)})",
        x=num(x), y=num(-(renderer.height - y - h)), width=num(w), height=num(h),
        attrib={
            "xlink:href": "data:image/png;base64,\n" + base64.b64encode(png).decode("ascii"),
            "id": "fills" + hashlib.sha1(png, usedforsecurity=False).hexdigest()[:12],
        },
    )  # fmt: skip


_RASTERS: dict[tuple[Any, ...], tuple[tuple[np.ndarray, ...], Any]] = {}
#: Rasters kept (a 300 dpi county map's index: 56 MB; its outlines' shades: 14 MB).
_KEPT = 12


def _cached_raster(key: tuple[Any, ...], layers: Sequence[_Layer], make: Any) -> Any:
    """``make()`` once per ``key`` while the layers' arrays live (a run's maps share them)."""
    geoms = tuple(layer.geoms for layer in layers)
    hit = _RASTERS.get(key)
    if hit is None or any(a is not b for a, b in zip(hit[0], geoms, strict=True)):
        while len(_RASTERS) >= _KEPT:  # the oldest first
            del _RASTERS[next(iter(_RASTERS))]
        hit = _RASTERS[key] = (geoms, make())
    return hit[1]


def _key(layer: _Layer) -> tuple[Any, ...]:
    import hashlib

    rows = hashlib.sha1(np.packbits(layer.rows).tobytes(), usedforsecurity=False).digest()
    return (id(layer.geoms), rows)


def _index(layers: Sequence[_Layer], limits: tuple[float, ...], size: tuple[int, int]) -> Any:
    """Each pixel's drawn geometry: its index into the layers' colours put end to end.

    The last layer's geometry on top; the index one past the end where none is. Drawn
    without anti-aliasing, each geometry in a colour that encodes its index.
    """

    def make() -> np.ndarray:
        n = [int(layer.rows.sum()) for layer in layers]
        out = np.full(size[::-1], sum(n), dtype=np.int32)
        for layer, offset, count in zip(layers, np.cumsum([0, *n]), n, strict=False):
            code = np.arange(1, count + 1)
            rgb = np.stack([code & 255, (code >> 8) & 255, (code >> 16) & 255], axis=1) / 255
            buf = _render(layer.rows_of(), limits, size, facecolors=rgb, edgecolors="none",
                          linewidths=0, antialiaseds=False)  # fmt: skip
            px = buf[..., :3].astype(np.int32)
            ids = px[..., 0] | (px[..., 1] << 8) | (px[..., 2] << 16)
            out[ids > 0] = ids[ids > 0] - 1 + offset
        return out

    return _cached_raster(("index", limits, size, *(_key(x) for x in layers)), layers, make)


def _outlines(
    layer: _Layer, limits: tuple[float, ...], size: tuple[int, int], width: float
) -> Any:
    """Pixels (flat indices) of the geometries' outlines ``width`` pixels wide, and coverage."""

    def make() -> tuple[np.ndarray, np.ndarray]:
        buf = _render(layer.rows_of(), limits, size, facecolors="none", edgecolors="#ffffff",
                      linewidths=width)  # fmt: skip
        cover = buf[..., 0].reshape(-1)
        at = np.flatnonzero(cover)
        return at, (cover[at] / 255).astype(np.float32)

    key = ("outlines", round(width, 3), limits, size, _key(layer))
    return _cached_raster(key, [layer], make)


def _render(
    geoms: np.ndarray, limits: tuple[float, ...], size: tuple[int, int], **style: Any
) -> np.ndarray:
    """``geoms`` drawn by Agg on black, ``size`` pixels showing ``limits``: RGBA (h, w, 4).

    Rows from the bottom up, as ``draw_image`` takes them.

    At 72 dpi: a line width in points is one in pixels.
    """
    dpi = 72.0
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PathCollection
    from matplotlib.figure import Figure

    w, h = size
    fig = Figure(figsize=((w + 0.01) / dpi, (h + 0.01) / dpi), dpi=dpi, facecolor="#000000")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, w / fig.bbox.width, h / fig.bbox.height))
    ax.set_axis_off()
    ax.set_xlim(limits[0], limits[2])
    ax.set_ylim(limits[1], limits[3])
    ax.add_collection(PathCollection(_polygon_paths(geoms), **style), autolim=False)
    canvas.draw()
    buf = np.asarray(canvas.buffer_rgba())
    return buf[buf.shape[0] - h :, :w][::-1]  # bottom row first, as renderers take images


def _draw_maritime(ax: Axes, crs: str) -> None:
    """The maritime boundary line (十段线)."""
    _draw_lines(ax, _bundled("maritime", crs), color=_MARITIME, linewidth=0.9, zorder=3)


def _present(geoms: np.ndarray) -> np.ndarray:
    """Which geometries are neither missing nor empty."""
    return ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))


def _draw_overlays(
    ax: Axes, overlays: Iterable[Overlay], crs: str, res: float
) -> list[tuple[Any, str]]:
    """Draw the overlays (and their text) in order; return their legend entries.

    Their geometries are simplified to the map's resolution (``res``, metres a pixel).
    """
    entries = []
    for ov in overlays:
        data = ov.data.geometry if hasattr(ov.data, "geometry") else ov.data
        g = data.to_crs(crs).to_numpy()
        g = _simplify(g[_present(g)], res)
        if len(g) == 0:
            continue
        _draw_overlay(ax, g, ov.style)
        if ov.text is not None:
            words = ov.data[ov.text].to_numpy()[_present(data.to_numpy())]
            _draw_texts(ax, g, [str(w) for w in words], ov.style)
        if ov.label:
            entries.append((_legend_handle(ov.style, _kind(g)), ov.label))
    return entries


def _draw_texts(ax: Axes, geoms: np.ndarray, words: list[str], style: Mapping[str, Any]) -> None:
    """Each geometry's word beside it; with ``leaders`` fanned out on leader lines.

    Fanned: the labels are spread evenly round the group, in the order of their points'
    directions from the group's centre, ``leaders`` points out, so that close points'
    labels do not overlap. ``text_colors`` colours each label (default ``color``).
    """
    at = shapely.get_coordinates(shapely.point_on_surface(geoms))
    colours = style.get("text_colors") or [style.get("color", "#000000")] * len(words)
    offsets = [(4.0, 3.0)] * len(words)
    radius = float(style.get("leaders") or 0)
    if radius and len(at) > 1:
        d = at - at.mean(axis=0)
        order = np.argsort(np.arctan2(d[:, 1], d[:, 0]), kind="stable")
        start = math.atan2(d[order[0], 1], d[order[0], 0])
        for k, i in enumerate(order):
            angle = start + 2 * math.pi * k / len(at)
            offsets[i] = (radius * math.cos(angle), radius * math.sin(angle))
    elif radius:
        offsets = [(radius * 0.7, radius * 0.7)]
    leader = {"arrowstyle": "-", "color": "#444444", "linewidth": 0.5, "shrinkA": 0,
              "shrinkB": 2} if radius else None  # fmt: skip
    for (x, y), w, c, off in zip(at, words, colours, offsets, strict=True):
        ax.annotate(
            w, (x, y), xytext=off, textcoords="offset points", fontsize=7, zorder=11, color=c,
            ha="center" if radius else "left", va="center" if radius else "baseline",
            arrowprops=leader, path_effects=_halo(), gid="overlay-label",
        )  # fmt: skip


def _draw_legend(
    fig: Figure, inset: bool, entries: list[tuple[Any, str]], title: str, note: str
) -> None:
    """The legend right of the map, and the note under it."""
    right = _right(inset)
    leg_ax = fig.add_axes((right, 0.42 if inset else 0.115, 0.995 - right, 0.48))
    leg_ax.set_axis_off()
    top = 0.9
    if entries:
        from matplotlib.font_manager import FontProperties

        room = (0.995 - right) * fig.get_figwidth() * 72 * _WRAP_ROOM  # points
        size = 7 if len(entries) <= 14 else 6
        names = [broken(name, FontProperties(size=size), room - 2.4 * size)
                 for _, name in entries]  # fmt: skip
        title = broken(title, FontProperties(size=8), room) if title else title
        box = leg_ax.legend(
            [handle for handle, _ in entries], names, title=title or None, loc="upper left",
            frameon=False, fontsize=size, title_fontsize=8,
            borderaxespad=0, handlelength=1.6, handleheight=0.9, labelspacing=0.35,
            alignment="left",
        )  # fmt: skip
        box.set_clip_on(False)
        if note:
            extent = box.get_window_extent(fig.canvas.get_renderer())  # type: ignore[attr-defined]
            top = fig.transFigure.inverted().transform((0, extent.y0))[1] - 0.01
    if note:
        fig.text(right + 0.005, top, note, ha="left", va="top", fontsize=6.5, wrap=True)


def _draw_caption(
    fig: Figure, source: str, lang: str, plan: _Plan, *, own_crs: bool, plane: bool = False,
    boundaries: str | None = None,
) -> None:
    """The caption: the data's source; the boundaries' and the base map's; the projection.

    The bundled boundaries are credited on maps of China: as the units' boundaries, or, for
    a caller's own (``boundaries`` names them), as the base map under them. A map in a CRS
    of the caller's names it by pyproj's name; a file's own coordinates (``plane``, no
    CRS) are said to be such.
    """
    words = _lang(lang)
    parts = [words["own_boundaries"].format(name=boundaries)] if boundaries else []
    if plan.china:
        parts.append(_credit("base_map" if boundaries else "boundaries", lang))
    if plane:
        parts.append(_PLANE_WORDS[lang])
    elif own_crs:
        from pyproj import CRS

        parts.append(_OWN_PROJECTION[lang].format(name=CRS(plan.crs).name))
    else:
        parts.append(words["projection"].format(lon0=_lon0(plan.window)))
    caption = ("；" if lang == "zh" else "; ").join(parts)
    lines = [s for s in (source, caption) if s]
    fig.text(0.015, 0.015, "\n".join(lines), ha="left", va="bottom", fontsize=6,
             color="#333333", wrap=True)  # fmt: skip


_OWN_PROJECTION = {"zh": "投影：{name}", "en": "Projection: {name}"}
_PLANE_WORDS = {
    "zh": "坐标：文件自身的平面坐标，未作投影（文件无坐标参考系）",
    "en": "Coordinates: the file's own plane coordinates, unprojected (the file has no CRS)",
}
#: Where a file without a CRS lies (:func:`geotool.geofile.plane_crs`: at 3° E on the
#: equator), a projection true to its shapes and distances.
_PLANE_CRS = "+proj=eqc +lat_ts=0 +lon_0=3 +datum=WGS84 +units=m +no_defs"


def _inset(fig: Figure, plan: _Plan, label: str) -> tuple[float, float, float, float]:
    """The South China Sea panel (land, the units' colours, 三沙's islands, the line); its box."""
    right = _right(True)
    rect = (right + 0.01, 0.115, 0.985 - right - 0.01, 0.29)
    ax = fig.add_axes(rect, label="south-china-sea-inset")
    limits = _fit(ax, _projected_box(_INSET, plan.crs), 0.0)
    ax.set_axis_on()
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_linewidth(0.8)
        spine.set_edgecolor("#000000")
    view, res = shapely.box(*limits), _res(ax, limits)
    land = _land(plan.crs, view, res)
    rows = _near(plan, view)[0]
    _MapImage(ax, [land, _fills(plan, rows, res, edge=0)] if rows.any() else [land], limits)
    _draw_lines(ax, land.rows_of(), color=_BORDER, linewidth=0.25, zorder=1.5)
    # islands are far below a pixel here: outlined so that each shows as a dot
    islands = _bundled("islands", plan.crs)
    _draw_polygons(ax, islands, "#777777", edgecolor="#555555", linewidth=0.6, zorder=2)
    _draw_maritime(ax, plan.crs)
    ax.text(0.96, 0.14, label, transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
            zorder=4)  # fmt: skip
    _scale_bar(ax, limits, plan.crs, fontsize=5, ticks=(0, 1))
    return rect


# ---------------------------------------------------------------- writing


def validate(
    formats: Sequence[str], dpi: float = 300, lang: str = "zh", *, name: str = "formats"
) -> tuple[str, ...]:
    """Check the output options before any work; return the formats as a tuple.

    ``name`` is the parameter that holds the formats (for the message).
    """
    if isinstance(formats, str):
        formats = (formats,)
    # "PNG" and " png" name png: case and spaces are how people type, not another format
    spelt = (f.strip().lower() if isinstance(f, str) else repr(f) for f in formats)
    formats = tuple(dict.fromkeys(spelt))
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        msg = f"{name}={bad[0]!r} is not a figure format; use any of {', '.join(FORMATS)}."
        raise InputError(msg)
    if isinstance(dpi, bool) or not isinstance(dpi, int | float) or not 30 <= dpi <= 1200:
        msg = f"dpi={dpi!r:.20} is not usable; give a number from 30 to 1200 (print: 300)."
        raise InputError(msg)
    _lang(lang)
    return formats


def figure_bytes(fig: Figure, fmt: str = "png", *, dpi: float = 300) -> bytes:
    """``fig`` as PNG (dpi recorded in the file), SVG (text as paths) or PDF (font embedded).

    Reproducible: no creation date in SVG or PDF, fixed SVG ids. In SVG and PDF, large
    filled collections are an image at ``dpi`` (text, lines and markers stay vectors).
    """
    return figure_files(fig, (fmt,), dpi=dpi, name="fmt")[fmt]


def figure_files(
    fig: Figure, formats: Sequence[str], *, dpi: float = 300, name: str = "formats"
) -> dict[str, bytes]:
    """``fig`` in each of ``formats`` (see :func:`figure_bytes`), prepared once.

    The figure is built once; matplotlib renders it once a format.
    """
    formats = validate(formats, dpi, name=name)
    _prepare(fig)
    quiet = logging.getLogger("fontTools")  # its subsetter logs every table it prunes
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        with style(), _font_subsets(), _indexed_pdf_images(), _short_svg_paths(), _metrics():
            return {fmt: _savefig(fig, fmt, dpi) for fmt in formats}
    finally:
        quiet.setLevel(level)


#: (font file, face, glyphs) -> the subset's bytes and glyph index map.
_SUBSETS: dict[tuple[str, int, frozenset[int]], tuple[bytes, dict[int, int]]] = {}


@contextmanager
def _font_subsets() -> Iterator[None]:
    """PDF font subsets made once per set of glyphs: ``words.toml``'s, and a figure's own.

    matplotlib parses the 2.2 MB CJK font again for each PDF (0.15-0.2 s, most of a
    county map's PDF once its fills are an image). A PDF's subset holds the glyphs of
    every word of the figures (:func:`_common_glyphs`) and its own, and depends on nothing
    else: the same figure embeds the same bytes whichever figures its process drew before.
    """
    from matplotlib.backends import _backend_pdf_ps

    made = getattr(_backend_pdf_ps, "get_glyphs_subset", None)
    if made is None or not hasattr(_backend_pdf_ps, "SubsetResults"):  # not matplotlib 3.11
        yield
        return

    def subset(fontfile: Any, glyphs: Iterable[int]) -> Any:
        union = frozenset(glyphs) | _common_glyphs(str(fontfile))
        key = (str(fontfile), int(getattr(fontfile, "face_index", 0)), union)
        hit = _SUBSETS.get(key)
        if hit is None:
            with made(fontfile, set(union)) as done:
                data = _backend_pdf_ps.font_as_file(done.font).getvalue()
            if len(_SUBSETS) >= 32:
                _SUBSETS.clear()
            hit = _SUBSETS[key] = (data, dict(done.glyph_index_map))
        font = _saved_font_class()(io.BytesIO(hit[0]), recalcTimestamp=False)
        font.saved = hit[0]  # matplotlib only saves it: the bytes as made (reproducible)
        return _backend_pdf_ps.SubsetResults(font, hit[1])._as_cm()

    _backend_pdf_ps.get_glyphs_subset = subset
    try:
        yield
    finally:
        _backend_pdf_ps.get_glyphs_subset = made


@functools.cache
def _saved_font_class() -> type:
    """A fontTools ``TTFont`` that saves as the bytes it was read from (``saved``).

    Parsing and writing the subset again took 10 ms a PDF, for the same bytes.
    """
    from fontTools.ttLib import TTFont

    class SavedFont(TTFont):
        saved = b""

        def save(self, file: Any, reorderTables: bool | None = True) -> None:  # noqa: N803
            file.write(self.saved)

    return SavedFont


#: The fills images drawn into the PDF being written: id -> (image, codes, palette).
_INDEXED: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
_OPEN = [0]  # :func:`_indexed_pdf_images` blocks open (outside them, matplotlib's path)


@contextmanager
def _indexed_pdf_images() -> Iterator[None]:
    """PDF fills images written from their palette codes, as an indexed image.

    matplotlib finds an RGB image's colours again by sorting every pixel and encodes
    it with Pillow's adaptive filters (0.15-0.2 s a county map); the codes are known.
    Relies on ``PdfFile._images`` (matplotlib 3.8-3.11); without it, matplotlib's path.
    """
    from matplotlib.backends.backend_pdf import PdfFile

    made = PdfFile.writeImages

    def write(self: Any) -> None:
        everything = getattr(self, "_images", None)
        if not isinstance(everything, dict):
            return made(self)
        ours = {k: v for k, v in everything.items() if _INDEXED.get(id(v[0]), (None,))[0] is v[0]}
        for image, _, ob in ours.values():
            _write_indexed(self, ob, *_INDEXED[id(image)][1:])
        self._images = {k: v for k, v in everything.items() if k not in ours}
        try:
            made(self)
        finally:
            self._images = everything

    setattr(PdfFile, "writeImages", write)  # noqa: B010 (a method, for this block only)
    _OPEN[0] += 1
    try:
        yield
    finally:
        setattr(PdfFile, "writeImages", made)  # noqa: B010
        _OPEN[0] -= 1
        if not _OPEN[0]:
            _INDEXED.clear()


def _write_indexed(pdf: Any, ob: Any, codes: np.ndarray, palette: np.ndarray) -> None:
    """``codes`` into ``palette`` as the image XObject ``ob`` of ``pdf`` (rows bottom-up)."""
    from matplotlib.backends.backend_pdf import Name

    h, w = codes.shape
    space = [Name("Indexed"), Name("DeviceRGB"), len(palette) - 1, palette.tobytes()]
    extra = {"Type": Name("XObject"), "Subtype": Name("Image"), "Width": w, "Height": h,
             "ColorSpace": space, "BitsPerComponent": 8}  # fmt: skip
    rows = np.ascontiguousarray(codes[::-1], dtype=np.uint8)
    # written compressed (as the PNGs: flat fills) with no predictor
    pdf.beginStream(ob.id, pdf.reserveObject("length"), extra, png={"Predictor": 1})
    pdf.currentstream.write(_deflate(rows.data))
    pdf.endStream()


@functools.cache
def _common_glyphs(fontfile: str) -> frozenset[int]:
    """The font's glyphs of printable ASCII and of every word in ``words.toml``.

    Every PDF's subset holds them (and its own glyphs), so most figures share one subset
    (0.1 s to make): a report run makes 4, for about 70 KB more a PDF.
    """
    from matplotlib.font_manager import get_font

    source = resources.files("geotool.maps").joinpath("words.toml").read_text(encoding="utf-8")
    chars = {ord(c) for c in source if c.isprintable()} | set(range(32, 127))
    cmap = get_font(fontfile).get_charmap()
    return frozenset(cmap[c] for c in chars if c in cmap)


#: A filled collection with more vertices than this is an image in SVG and PDF.
_RASTER_VERTICES = 5000


def _prepare(fig: Figure) -> None:
    """Text as text (no TeX), wrapped once; big filled collections rasterised (SVG, PDF).

    matplotlib wraps a text anew at each draw, measuring every line prefix (a fifth of a
    county map's PNG); broken into lines here, once, each format draws the lines.
    """
    from matplotlib.axis import Axis
    from matplotlib.text import Text

    artists: list[Any] = [fig]
    texts: list[Any] = []
    while artists:  # as Artist.findobj, without the (unused) axes' ticks it would build
        artist = artists.pop()
        if isinstance(artist, Text):
            texts.append(artist)
        elif _to_rasterise(artist):
            artist.set_rasterized(True)  # maps drawn outside to_figure (charts)
        artists += [a for a in artist.get_children() if not isinstance(a, Axis) or _shown(a)]
    for text in texts:  # a user's "$...$" in a label is text, never TeX
        text.set_parse_math(False)
        if text.get_wrap() and text.get_ha() == "left" and not text.get_rotation():
            _wrap_once(fig, text)


def _shown(axis: Any) -> bool:
    """Whether an axis is drawn (a map's axes are off: its ticks need not be built)."""
    return bool(axis.get_visible() and axis.axes is not None and axis.axes.axison)


def _to_rasterise(artist: Any) -> bool:
    """Whether ``artist`` is a filled collection of more than :data:`_RASTER_VERTICES`."""
    from matplotlib.collections import PathCollection

    if not isinstance(artist, PathCollection) or artist.get_rasterized():
        return False
    return bool(len(artist.get_facecolor())) and _vertices(artist) > _RASTER_VERTICES


def _vertices(coll: Any) -> int:
    """How many vertices a collection's paths hold."""
    return sum(len(p.vertices) for p in coll.get_paths())


def _savefig(fig: Figure, fmt: str, dpi: float) -> bytes:
    """One format's bytes, without dates (reproducible)."""
    if fmt == "png":
        return _png_of(fig, dpi, {"Software": "geotool"})
    metadata = {
        "svg": {"Date": None, "Creator": "geotool"},
        "pdf": {"CreationDate": None, "Creator": "geotool"},
    }[fmt]
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, metadata=metadata, facecolor="white")
    return buf.getvalue()


def _png_of(fig: Figure, dpi: float, metadata: Mapping[str, str]) -> bytes:
    """``fig`` drawn by Agg at ``dpi`` and written by :func:`_png` (RGB where opaque)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    before = fig.canvas
    canvas = before if isinstance(before, FigureCanvasAgg) else FigureCanvasAgg(fig)
    drawn = _Drawn()
    try:
        fig.savefig(drawn, format="raw", dpi=dpi, facecolor="white")
    finally:
        fig.set_canvas(before)
    size = (int(canvas.renderer.height), int(canvas.renderer.width), 4)
    rgba = np.frombuffer(drawn.pixels, dtype=np.uint8).reshape(size)
    opaque = bool((rgba[..., 3] == 255).all())
    return _png(rgba[..., :3] if opaque else rgba, dpi=dpi, text=metadata)


class _Drawn(io.BytesIO):
    """A file for matplotlib's ``raw`` format that keeps the renderer's buffer, uncopied."""

    pixels: Any = b""

    def write(self, data: Any) -> int:
        self.pixels = data
        return len(data)


@functools.lru_cache(8192)
def _measured(key: tuple[type, float, float], text: str, prop: Any, ismath: Any) -> Any:
    """A text's width, height and descent by the renderer of ``key``'s kind (and dpi)."""
    return _MEASURER[key[0]].get_text_width_height_descent(text, prop, ismath)


#: The renderer that measures the texts of its kind (the latest of the kind).
_MEASURER: dict[type, Any] = {}


@contextmanager
def _metrics() -> Iterator[None]:
    """Texts measured once per kind of renderer, resolution and font, not once per save.

    matplotlib keeps its measures per renderer, and each save makes a new one: a run's
    33 figures measured their common words (legends, scale, source line) 100 times over.
    A measure depends on the renderer's kind and resolution (the key) and the text
    settings of :func:`style` (the same throughout).
    """
    import matplotlib.text as mtext
    from matplotlib.backends.backend_mixed import MixedModeRenderer

    before = mtext.__dict__.get("_get_text_metrics_with_cache")
    if before is None:  # not the matplotlib this was written for
        yield
        return

    def cached(renderer: Any, text: str, prop: Any, ismath: Any, dpi: float) -> Any:
        mixed = isinstance(renderer, MixedModeRenderer)  # SVG and PDF
        inner = renderer._renderer if mixed else renderer
        kind = type(inner)
        _MEASURER[kind] = inner
        res = float(getattr(inner, "dpi", 72.0))
        return _measured((kind, res, dpi), text, prop.copy(), ismath)

    setattr(mtext, "_get_text_metrics_with_cache", cached)  # noqa: B010 (this block only)
    try:
        yield
    finally:
        setattr(mtext, "_get_text_metrics_with_cache", before)  # noqa: B010
        _MEASURER.clear()


#: Decimals of an SVG path's coordinates (points; glyphs: 1/64 of a font unit).
_SVG_DECIMALS = 2
_SVG_CODES = [b"M", b"L", b"Q", b"C", b"z"]


@contextmanager
def _short_svg_paths() -> Iterator[None]:
    """SVG paths written to 0.01 pt, not matplotlib's 6 decimals: 40 % lighter paths.

    0.01 pt is 1/7 of a pixel at 1,000 dpi. Written so by matplotlib's own path
    formatter (rewriting the file's numbers took 14 ms an SVG).
    """
    from matplotlib import _path
    from matplotlib.backends.backend_svg import RendererSVG

    before = RendererSVG.__dict__.get("_convert_path")
    if before is None:  # not the matplotlib this was written for: its 6 decimals
        yield
        return

    def convert(  # noqa: PLR0917 (matplotlib's signature)
        self: Any, path: Any, transform: Any = None, clip: Any = None, simplify: Any = None,
        sketch: Any = None,
    ) -> str:  # fmt: skip
        box = (0.0, 0.0, self.width, self.height) if clip else None
        out = _path.convert_to_string(  # type: ignore[attr-defined]
            path, transform, box, simplify, sketch, _SVG_DECIMALS, _SVG_CODES, False
        )
        return out.decode("ascii")

    setattr(RendererSVG, "_convert_path", convert)  # noqa: B010 (this block only)
    try:
        yield
    finally:
        setattr(RendererSVG, "_convert_path", before)  # noqa: B010


_WRAP_ROOM = 0.98


def _wrap_once(fig: Figure, text: Any) -> None:
    """Break a wrapped text into lines once (matplotlib did it at each draw), stop wrapping.

    Lines fill up to 98 % of the room between the text (``ha="left"``) and the figure's
    edge (:func:`broken`; the margin: a raster draw's widths round up to whole pixels).
    """
    x = text.get_position()[0] if text.get_transform() == fig.transFigure else 0.0
    room = fig.get_figwidth() * 72 * max(1.0 - x, 0.2) * _WRAP_ROOM
    text.set_text(broken(text.get_text(), text.get_fontproperties(), room))
    text.set_wrap(False)


#: Where a line may break: a run of spaces, or beside a CJK character (not before closing
#: punctuation, not after opening); Latin words are never cut.
_TOKENS = re.compile(
    r"\s+|[（「『【《〈]*(?:[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]"
    r"|[^\s\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+)[）」』】》〉，。、：；！？]*"
)


def broken(text: str, prop: Any, room: float) -> str:
    """``text`` in lines of at most ``room`` points in font ``prop``, each paragraph apart.

    Breaks at spaces (as matplotlib's wrapping) and between CJK characters (Chinese has
    no spaces to break at); widths measured on the font's outlines.
    """
    from matplotlib.textpath import TextToPath

    measure = TextToPath().get_text_width_height_descent
    # a token's width, summed along a line (kerning is within the margin); a space's is
    # its advance (the outlines' box of " " is empty)
    space = measure(" x", prop, False)[0] - measure("x", prop, False)[0]
    widths: dict[str, float] = {}
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, width = "", 0.0
        for token in _TOKENS.findall(paragraph):
            if token not in widths:
                widths[token] = len(token) * space if token.isspace() else measure(
                    token, prop, False)[0]  # fmt: skip
            if line.strip() and not token.isspace() and width + widths[token] > room:
                lines.append(line.rstrip())
                line, width = token, widths[token]
            else:
                line, width = line + token, width + widths[token]
        lines.append(line.rstrip())
    return "\n".join(lines)


def save(
    fig: Figure, path: str | Path, *, formats: Sequence[str] = ("png",), dpi: int = 300
) -> list[Path]:
    """Write ``fig`` once per format (atomically); return the files written.

    ``path``'s suffix is replaced by each format's (``map`` and ``map.png`` both give
    ``map.png``, ``map.pdf`` ...); ``dpi`` is recorded in the PNG.
    """
    formats = validate(formats, dpi)
    if not formats:
        msg = "formats is empty; pass e.g. formats=('png', 'pdf')."
        raise InputError(msg)
    written = [Path(path).with_suffix(f".{fmt}") for fmt in formats]
    files = figure_files(fig, formats, dpi=dpi)
    for fmt, target in zip(formats, written, strict=True):
        write_atomic(target, files[fmt])
    return written
