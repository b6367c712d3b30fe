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
