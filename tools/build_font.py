"""Rebuild geotool/maps/fonts/GeotoolSansSC-Regular.ttf, the CJK font of the static figures.

A subset of Noto Sans CJK SC Regular (SIL Open Font License 1.1, Adobe/Google): every
GB 2312 hanzi (6,763), every character of the bundled data (county, prefecture and
province names, rankings, city clusters: 10 of them are outside GB 2312, e.g. 埇 硚 鄠),
Basic Latin, Latin-1 and Latin Extended-A, Greek (α), general punctuation, arrows, mathematical
operators, CJK symbols and full-width forms. Renamed "Geotool Sans SC" (an OFL Modified
Version must not be confused with the original; the name table keeps the copyright and
licence). Outlines converted from CFF to TrueType (within 1 font unit of 1,000: matplotlib
embeds TrueType in PDF), hinting dropped (matplotlib renders unhinted).

Usage: python tools/build_font.py [SOURCE.otf]

SOURCE defaults to ``NotoSansCJKsc-Regular.otf`` of the ``mplfonts`` package (0.0.11 ships
Noto Sans CJK SC 1.004, the file of https://github.com/notofonts/noto-cjk release
Sans1.004); any Noto Sans CJK SC Regular OTF works.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "geotool" / "maps" / "fonts" / "GeotoolSansSC-Regular.ttf"
FAMILY = "Geotool Sans SC"


def characters() -> set[int]:
    """Code points kept: GB 2312 hanzi, the bundled data's characters, Latin, symbols."""
    import pandas as pd

    keep: set[int] = set()
    for b1 in range(0xB0, 0xF8):
        for b2 in range(0xA1, 0xFF):
            with contextlib.suppress(UnicodeDecodeError):
                keep.add(ord(bytes([b1, b2]).decode("gb2312")))
    for lo, hi in (
        (0x20, 0x7F), (0xA0, 0x180), (0x370, 0x400), (0x2000, 0x2070), (0x2100, 0x2200),
        (0x2200, 0x2300), (0x25A0, 0x2600), (0x3000, 0x3040), (0xFF00, 0xFF70),
    ):  # fmt: skip
        keep.update(range(lo, hi))
    for path in (ROOT / "geotool" / "data").glob("*.csv"):
        keep.update(map(ord, path.read_text(encoding="utf-8-sig")))
    county = pd.read_parquet(
        ROOT / "boundaries" / "county.parquet", columns=["name", "prefecture", "province"]
    )
    for col in county.columns:
        keep.update(map(ord, "".join(county[col].astype(str))))
    return {c for c in keep if c >= 0x20}


def to_truetype(font: Any) -> None:
    """Convert CFF outlines to TrueType (quadratic, 1 unit error), in place.

    matplotlib embeds a font in PDF as TrueType (``pdf.fonttype`` 42, ``FontFile2``): a
    CFF font would be written there as OpenType-CFF data, which PDF readers refuse.
    """
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        glyphs[name] = pen.glyph()
    font["loca"] = newTable("loca")
    font["glyf"] = glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = glyphs
    del font["CFF "]
    if "VORG" in font:
        del font["VORG"]
    glyf.compile(font)
    hmtx = font["hmtx"]
    for name, glyph in glyf.glyphs.items():
        if hasattr(glyph, "xMin"):
            hmtx[name] = (hmtx[name][0], glyph.xMin)
    font["maxp"] = maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    for attr in (
        "maxZones", "maxTwilightPoints", "maxStorage", "maxFunctionDefs",
        "maxInstructionDefs", "maxStackElements", "maxSizeOfInstructions",
        "maxComponentElements",
    ):  # fmt: skip
        setattr(maxp, attr, 1 if attr == "maxZones" else 0)
    maxp.compile(font)
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    font.sfntVersion = "\000\001\000\000"


def main(source: str | None = None) -> Path:
    """Write the subset and return its path."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    if source is None:
        import mplfonts

        source = str(Path(mplfonts.__file__).parent / "fonts" / "NotoSansCJKsc-Regular.otf")
    font = TTFont(source)
    options = subset.Options()
    options.layout_features = ["kern", "vert"]
    options.name_IDs = ["*"]
    options.hinting = False
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=characters())
    subsetter.subset(font)
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (1, 3, 4, 6, 16, 17):
            text = {
                1: FAMILY,
                3: "GeotoolSansSC-Regular;subset of Noto Sans CJK SC 1.004",
                4: f"{FAMILY} Regular",
                6: "GeotoolSansSC-Regular",
                16: FAMILY,
                17: "Regular",
            }[record.nameID]
            names.setName(text, record.nameID, record.platformID, record.platEncID, record.langID)
    to_truetype(font)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    font.save(OUT)
    return OUT


if __name__ == "__main__":
    out = main(sys.argv[1] if len(sys.argv) > 1 else None)
    print(f"{out}: {out.stat().st_size:,} bytes")
