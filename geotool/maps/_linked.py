"""The linked LISA view: a Moran scatter beside a cluster map and a significance map.

One offline HTML page of SVG drawn by ``maps/linked.js``, linked as GeoDa links its
windows (hover, click, brushing). Units are projected to the equal-area CRS, simplified
to about 1/2,000 of their extent, and written as SVG paths on an integer grid; the
bundled layer's shared arcs are simplified once, so neighbours keep identical borders.
"""

from __future__ import annotations

import functools
import json
import string
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geotool import boundaries, settings
from geotool._cache import Array, derived_cache
from geotool._errors import InputError
from geotool._html import check_page, escape, script_call
from geotool._topojson import ring_points
from geotool.autocorr import LISA_CLASSES
from geotool.maps._words import html_lang, section_words, translate

__all__ = [
    "ADJUST_WORDS", "EARLY_ERROR_HOOK", "LISA_COLOURS", "NOT_SIGNIFICANT", "NOT_TESTED",
    "P_CLASSES", "SIDED_WORDS", "SOUTH_SEA", "fmt_p", "geo_series", "linked_lisa", "rule_text"
]  # fmt: skip

#: Units outside the statistic's universe (no value, no neighbours): blank.
NOT_TESTED = "#ffffff"
#: Tested units whose local statistic is not significant: a grey clearly unlike blank.
NOT_SIGNIFICANT = "#c8c8c8"
#: LISA class colours on the maps (GeoDa's four quadrant colours).
LISA_COLOURS = {**LISA_CLASSES, "Not significant": NOT_SIGNIFICANT}
#: Significance map classes: (label, upper bound of p, colour), GeoDa's greens.
P_CLASSES = (
    ("p <= 0.001", 0.001, "#006d2c"),
    ("p <= 0.01", 0.01, "#31a354"),
    ("p <= 0.05", 0.05, "#a1d99b"),
    ("p > 0.05", 1.0, NOT_SIGNIFICANT),
)
ADJUST_WORDS = {
    "none": "no multiple-comparison correction",
    "bonferroni": "Bonferroni correction",
    "fdr": "FDR correction (Benjamini-Hochberg)",
}

#: The South China Sea islands' box, ((south, west), (north, east)) in degrees: units
#: centred inside are not fitted into a map's opening view (they are shown in an inset or
#: by panning), so that they do not shrink the mainland's data to specks.
SOUTH_SEA = ((3.0, 105.0), (17.5, 123.5))

#: Target size of the drawing grid: the units' extent spans about this many cells.
_GRID = 4000
#: How legends name the sidedness of local p-values (``attrs["p_sided"]``).
SIDED_WORDS = {
    "two-sided": "two-sided p",
    "folded": "one-sided p in the observed direction (folded, as GeoDa and esda)",
}


def rule_text(alpha: float, adjust: str, sided: str | None = None) -> str:
    """The significance rule for legends: "α = 0.05, no multiple-comparison correction".

    ``adjust`` is "none", "bonferroni" or "fdr" (other text is shown as it is); ``sided``
    ("two-sided" or "folded") is named after it when given.
    """
    text = f"α = {alpha:g}, {ADJUST_WORDS.get(adjust, adjust)}"
    return f"{text}, {SIDED_WORDS.get(sided, sided)}" if sided else text


def _ring_paths(coords: np.ndarray, ring_of: np.ndarray) -> str:
    """One SVG path (``M x y l dx dy ... z`` per ring) from integer grid coordinates."""
    parts = []
    starts = np.flatnonzero(np.concatenate([[True], ring_of[1:] != ring_of[:-1]]))
    ends = np.append(starts[1:], len(ring_of))
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        pts = coords[s:e]
        if len(pts) and (pts[0] == pts[-1]).all():
            pts = pts[:-1]
        if len(pts) < 3:
            continue
        d = np.diff(pts, axis=0)
        d = d[(d != 0).any(axis=1)]
        if len(d) < 2:
            continue
        parts.append(f"M{pts[0, 0]} {pts[0, 1]}l" + " ".join(map(str, d.ravel().tolist())) + "z")
    return "".join(parts)


def _to_grid(xy: np.ndarray, cell: float) -> np.ndarray:
    """Projected metres to integer SVG grid cells (y pointing down)."""
    g = np.rint(xy / cell).astype(np.int64)
    g[:, 1] = -g[:, 1]
    return g


def _lonlat_grid(lon: list[float], lat: list[float], cell: float) -> np.ndarray:
    """Degrees to the grid of the bundled layer's paths."""
    return _to_grid(np.column_stack(_projector().transform(lon, lat)), cell)


def _unit_paths(
    codes: list[str], rings: list[np.ndarray], ring_of: list[np.ndarray]
) -> tuple[list[str], list[str], np.ndarray]:
    """Ids, SVG paths and grid bboxes of the units with points (grid points per unit)."""
    ids, paths, boxes = [], [], []
    for code, xy, ring in zip(codes, rings, ring_of, strict=True):
        if len(xy):
            ids.append(code)
            paths.append(_ring_paths(xy, ring))
            boxes.append([*xy.min(axis=0), *xy.max(axis=0)])
    return ids, paths, np.asarray(boxes, dtype=np.int64).reshape(-1, 4)


@derived_cache(maxsize=1, returns=(list[str], list[str], Array("int64", (None, 4)), float))
def _bundled_paths() -> tuple[list[str], list[str], np.ndarray, float]:
    """The bundled county layer as SVG paths: ids, paths, grid bboxes, cell size (m)."""
    topo = json.loads((Path(settings.boundaries_dir) / "county_web.topojson").read_text("utf-8"))
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    absolute = [np.cumsum(np.asarray(a, dtype=np.int64), axis=0) for a in topo["arcs"]]
    arc_of = np.repeat(np.arange(len(absolute)), [len(a) for a in absolute])
    q = np.concatenate(absolute)
    xy = np.column_stack(_projector().transform(q[:, 0] * sx + tx, q[:, 1] * sy + ty))
    cell = float(np.ptp(xy, axis=0).max()) / _GRID
    simple = shapely.simplify(shapely.linestrings(xy, indices=arc_of), cell * 2.0)
    pts, arc_index = shapely.get_coordinates(simple, return_index=True)  # ends kept: shared
    cuts = np.searchsorted(arc_index, np.arange(len(simple) + 1))  # borders agree
    grid = _to_grid(pts, cell)
    arcs = [grid[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    units = topo["objects"]["units"]["geometries"]
    rings = [[ring_points(arcs, r) for poly in g["arcs"] for r in poly] for g in units]
    ids, paths, boxes = _unit_paths(
        [str(g["properties"]["id"]) for g in units],
        [np.concatenate(r) for r in rings],
        [np.repeat(np.arange(len(r)), [len(x) for x in r]) for r in rings],
    )
    return ids, paths, boxes, cell


@functools.lru_cache(maxsize=4)
def _transformer(src: str, dst: str) -> pyproj.Transformer:
    """One transformer per pair and process: creating one reads PROJ's database."""
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


def _projector() -> pyproj.Transformer:
    return _transformer(settings.default_crs, settings.equal_area_crs)


def geo_series(geo: gpd.GeoDataFrame | gpd.GeoSeries, crs: str) -> gpd.GeoSeries:
    """A user's units (refused without a CRS or with duplicate ids), non-empty, in ``crs``."""
    series = geo.geometry if isinstance(geo, gpd.GeoDataFrame) else geo
    if series.crs is None:
        msg = "geo has no CRS; set it with geo.set_crs('EPSG:4326') (or the CRS it is in)."
        raise InputError(msg)
    if series.index.has_duplicates:
        msg = "geo's index must identify units uniquely (it holds duplicates)."
        raise InputError(msg)
    return series[~(series.isna() | series.is_empty)].to_crs(crs)


def _geo_paths(
    geo: gpd.GeoDataFrame | gpd.GeoSeries,
) -> tuple[list[str], list[str], np.ndarray, float]:
    """A user's polygons as SVG paths: ids, paths, grid bboxes, cell size (m)."""
    series = geo_series(geo, settings.equal_area_crs)
    geoms = series.to_numpy()
    kinds = set(shapely.get_type_id(geoms).tolist())
    if not kinds <= {3, 6}:
        msg = (
            f"geo must hold polygons for the linked view; it holds geometry types {sorted(kinds)}."
        )
        raise InputError(msg)
    bounds = shapely.total_bounds(geoms)
    cell = (float(max(bounds[2] - bounds[0], bounds[3] - bounds[1])) or 1.0) / _GRID
    geoms = shapely.simplify(geoms, cell * 2.0, preserve_topology=True)
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    grid, unit_of = _to_grid(coords, cell), part_of[ring_part[coord_ring]]
    order = np.argsort(unit_of, kind="stable")
    cuts = np.searchsorted(unit_of[order], np.arange(len(geoms) + 1))
    sel = [order[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    codes = [str(c) for c in series.index]
    return (*_unit_paths(codes, [grid[i] for i in sel], [coord_ring[i] for i in sel]), cell)


@derived_cache(maxsize=2)
def _maritime_path(cell: float) -> str:
    """The maritime boundary line (十段线) on the bundled layer's grid."""
    line = boundaries.maritime().geometry.iloc[0]
    out = []
    for dash in shapely.get_parts(line):
        xy = np.column_stack(_projector().transform(*shapely.get_coordinates(dash).T))
        xy = shapely.get_coordinates(shapely.simplify(shapely.linestrings(xy), cell))
        g = _to_grid(xy, cell)
        d = np.diff(g, axis=0)
        out.append(f"M{g[0, 0]} {g[0, 1]}l" + " ".join(map(str, d.ravel().tolist())))
    return "".join(out)


def _fmt(value: object, digits: int = 3) -> str:
    """A number for reading (``"–"`` when missing)."""
    v = float(value)  # type: ignore[arg-type]
    return "–" if not np.isfinite(v) else f"{v:.{digits}g}"


def fmt_p(p: object) -> str:
    """A p-value for reading: ``"< 0.001"`` below 0.001, never "0"; ``"–"`` when missing."""
    v = float(p)  # type: ignore[arg-type]
    if not np.isfinite(v):
        return "–"
    if v < 0.001:
        return "< 0.001"
    return f"{v:.2f}" if v >= 0.1 else f"{v:.3f}"


def linked_lisa(
    local: pd.DataFrame,
    geo: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    *,
    title: str = "",
    alpha: float | None = None,
    adjust: str | None = None,
    names: pd.Series | None = None,
    lang: str = "en",
) -> str:
    """The linked LISA view (Moran scatter, cluster map, significance map) as one HTML page.

    Parameters
    ----------
    local : pandas.DataFrame
        :func:`geotool.autocorr.local_stats` output on the units' ids.
    geo : geopandas.GeoDataFrame or geopandas.GeoSeries, optional
        The units' polygons (any CRS, index = ids); default the bundled county layer,
        with the maritime boundary line and the South China Sea inset. Units outside
        ``local`` or without a p-value are drawn blank, as not tested.
    title : str
        Page heading.
    alpha, adjust : float, str, optional
        The rule named in the legends; default ``local.attrs`` (else 0.05, "none").
    names : pandas.Series, optional
        Unit names by id; default ``local["name"]``, else ``geo["name"]``, else the ids.
    lang : {"en", "zh"}
        The page's one language (its words, legends and rule; names as they are).

    """
    title = translate(title, lang)
    missing = sorted({"z", "lag", "value", "Ii", "p_sim", "lisa_class"} - set(local.columns))
    if missing:
        msg = f"local lacks the columns {missing}; pass geotool.autocorr.local_stats(...) output."
        raise InputError(msg)
    alpha = float(local.attrs.get("alpha", 0.05) if alpha is None else alpha)
    adjust = str(local.attrs.get("adjust", "none") if adjust is None else adjust)
    sided = local.attrs.get("p_sided")  # named in the legends when the table states it
    ids, paths, boxes, cell = _bundled_paths() if geo is None else _geo_paths(geo)
    tested_ids = pd.Index(local.index).astype(str)
    tested = _tested(ids, tested_ids, bundled=geo is None)
    view = _view(boxes[tested], cell, bundled=geo is None)
    inset = _sea_inset(cell, view) if geo is None else None
    keep = _meets(boxes, [view, inset] if inset else [view])
    keep[tested] = True
    label = _names(names, local, geo)
    stats, slope = _stats(local, tested_ids)
    data = {
        "units": [
            [ids[i], paths[i], "" if label is None else label.get(ids[i], ids[i])]
            for i in np.flatnonzero(keep)
        ],
        "stats": stats,
        "view": view,
        "inset": inset,
        "maritime": _maritime_path(cell) if geo is None else "",
        "classes": [[translate(c, lang), LISA_COLOURS[c]] for c in LISA_COLOURS],
        "pclasses": [[lab, col] for lab, _, col in P_CLASSES],
        "words": section_words("linked", lang),
        "notTested": NOT_TESTED,
        "slope": slope,
        "rule": rule_text(alpha, adjust, sided),
        "testHooks": bool(settings.page_test_hooks),
    }
    data["rule"] = translate(str(data["rule"]), lang)
    sided_words = translate(SIDED_WORDS.get(sided, sided), lang) if sided else ""
    p_words = section_words("linked", lang)["unadjusted"] + (f", {sided_words}" if sided else "")
    page = _page(title, slope, str(data["rule"]), p_words, data)
    return check_page(page, "linked LISA view")


def _tested(ids: list[str], tested_ids: pd.Index, *, bundled: bool) -> np.ndarray:
    """The positions among ``ids`` of the tested units that have a polygon."""
    pos = pd.Index(ids).get_indexer(tested_ids)
    if (pos < 0).all():
        msg = (
            f"None of local's {len(tested_ids)} ids (e.g. {list(tested_ids[:3])}) is a unit of "
            + ("the bundled county layer" if bundled else "geo's index")
            + "; pass geo= with the units' polygons."
        )
        raise InputError(msg)
    return pos[pos >= 0]


def _view(hit: np.ndarray, cell: float, *, bundled: bool) -> list[int]:
    """The maps' opening view (x, y, width, height on the grid) on the tested units' boxes."""
    if bundled:  # islands of the South China Sea do not widen the view (see the inset)
        y_cut = _lonlat_grid([112.0], [SOUTH_SEA[1][0]], cell)[0, 1]
        north = hit[(hit[:, 1] + hit[:, 3]) / 2 < y_cut]
        hit = north if len(north) else hit
    lo, hi = hit[:, :2].min(axis=0), hit[:, 2:].max(axis=0)
    pad = 0.03 * (hi - lo).max()
    return [int(v) for v in np.r_[lo - pad, hi - lo + 2 * pad]]


def _sea_inset(cell: float, view: list[int]) -> list[int] | None:
    """The South China Sea inset's box (南海诸岛) on the grid, when the view leaves it out."""
    corners = _lonlat_grid([105.0, 123.5], [3.0, 24.5], cell)
    box = [int(corners[:, 0].min()), int(corners[:, 1].min())]
    box += [int(corners[:, 0].max()) - box[0], int(corners[:, 1].max()) - box[1]]
    return box if box[1] + box[3] * 0.5 > view[1] + view[3] else None


def _meets(boxes: np.ndarray, windows: list[list[int]]) -> np.ndarray:
    """Which units' boxes meet any of the windows (x, y, width, height)."""
    keep = np.zeros(len(boxes), dtype=bool)
    for x0, y0, w, h in windows:
        keep |= (
            (boxes[:, 2] >= x0)
            & (boxes[:, 0] <= x0 + w)
            & (boxes[:, 3] >= y0)
            & (boxes[:, 1] <= y0 + h)
        )
    return keep


def _names(
    names: pd.Series | None, local: pd.DataFrame, geo: gpd.GeoDataFrame | gpd.GeoSeries | None
) -> dict[str, str] | None:
    """Unit names by id for the hover panel (see :func:`linked_lisa`); None: no names."""
    if names is None:
        if "name" in local.columns:
            names = local["name"]
        elif isinstance(geo, gpd.GeoDataFrame) and "name" in geo.columns:
            names = geo["name"]
        elif geo is None:
            names = boundaries.units()["name"]
    if names is None:
        return None
    label = pd.Series(names.to_numpy(), index=pd.Index(names.index).astype(str))
    return dict(zip(label.index, label.astype(str), strict=True))


def _stats(local: pd.DataFrame, tested_ids: pd.Index) -> tuple[list[list], float]:
    """Per tested unit: z, lag, LISA and p class (indices), value, Ii and p as text; the slope."""
    classes = list(LISA_COLOURS)
    frame = local.reset_index(drop=True)
    z, lag, p = (frame[c].to_numpy(float) for c in ("z", "lag", "p_sim"))
    p_class = np.select(
        [~np.isfinite(p), *(p <= bound for _, bound, _ in P_CLASSES)],
        [-1, *range(len(P_CLASSES))],
        default=len(P_CLASSES) - 1,
    )
    lisa = frame["lisa_class"].astype(str)
    cls = np.where(lisa.isin(classes), lisa.map({c: i for i, c in enumerate(classes)}), 4)
    columns = zip(
        np.round(z, 4).tolist(),
        np.round(lag, 4).tolist(),
        cls.astype(int).tolist(),
        p_class.astype(int).tolist(),
        [_fmt(v, 4) for v in frame["value"].to_numpy(float)],
        [_fmt(v) for v in frame["Ii"].to_numpy(float)],
        [fmt_p(v) for v in p],
        strict=True,
    )
    # pairs, not an object: an id such as "__proto__" would set an object literal's prototype
    stats = [[code, list(row)] for code, row in zip(tested_ids, columns, strict=True)]
    ok = np.isfinite(z) & np.isfinite(lag)
    slope = float((z[ok] * lag[ok]).sum() / (z[ok] ** 2).sum()) if ok.any() else float("nan")
    return stats, slope


#: A page's first script under ``settings.page_test_hooks``: an error thrown before the
#: page's own script runs is kept on ``<body>`` for the browser tests to read.
EARLY_ERROR_HOOK = (
    '<script>window.addEventListener("error",function(e){var b=document.body;'
    'if(b){b.setAttribute("data-geotool-early-error",String(e.message));}});</script>'
)


def _page(title: str, slope: float, rule: str, p_words: str, data: dict) -> str:
    """The linked view's HTML (``maps/linked.html``) around its data, every value escaped."""
    files = resources.files("geotool.maps")
    js, css, page = (files.joinpath(f).read_text(encoding="utf-8")
                     for f in ("linked.js", "linked.css", "linked.html"))  # fmt: skip
    words = data["words"]
    help_text = string.Template(words["help"]).substitute(
        slope=_fmt(slope), rule=escape(rule), p_words=escape(p_words)
    )
    return string.Template(page).substitute(
        head=escape(title or words["title"]), css=css, help=help_text,
        lang=html_lang(words.get("lang", "en")),
        scatter=escape(words["scatter"]), clusters=escape(words["clusters"]),
        significance=escape(words["significance"]),
        early=EARLY_ERROR_HOOK if settings.page_test_hooks else "", rule=escape(rule),
        script=js.replace("</script", "<\\/script") + script_call("geotoolLinked", data),
    )  # fmt: skip
