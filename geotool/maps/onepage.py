"""A run's one-page summary (``onepage.html``): one A4 page when printed, for a report.

The first variable's value map and LISA cluster map (PNG, embedded), the key statistics
per variable with a sentence each, the stages' findings, and how the run was made (seed,
permutations, weights, geotool's version), in the study's language. :func:`figures` draws
the two maps (in the run's background renderer); :func:`onepage` writes the page from
``summary.json``. Every value from the user's data is escaped.
"""

from __future__ import annotations

import base64
import io
import logging
import string
from collections.abc import Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from geotool._errors import InputError
from geotool._html import check_page
from geotool._log import log
from geotool.maps import escape, fmt_p
from geotool.maps._words import html_lang, section_words, translate
from geotool.maps.pages import finding_items, sentence_html

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

__all__ = ["DPI", "MAX_FINDINGS", "MAX_VARIABLES", "figures", "onepage", "warm"]

#: The embedded maps' resolution: a 7.5-inch figure is 900 px, about 250 dpi on paper at
#: the page's half width (90 mm); 150 dpi costs a third more drawing time for no visible gain.
DPI = 120
#: At most this many findings and variables on the page (the rest: see the index page).
MAX_FINDINGS = 6
MAX_VARIABLES = 6
_CLASSES = ("High-High", "Low-Low", "Low-High", "High-Low", "Not significant")

_STYLE = """@page{size:A4;margin:12mm}
body{font:9pt/1.35 sans-serif;color:#222;margin:0 auto;max-width:186mm}
h1{font-size:14pt;margin:0 0 2mm}h2{font-size:10.5pt;margin:3mm 0 1mm}
p{margin:1mm 0}.src{color:#555}
.maps{display:flex;gap:3mm}.maps figure{margin:0;flex:1;min-width:0}
.maps img{width:100%;max-height:82mm;object-fit:contain;border:1px solid #ddd}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:1px 4px}
th{background:#f3f3f3;font-weight:600}td.n{text-align:right}
ul{margin:1mm 0;padding-left:5mm}li{margin:0.5mm 0}
.maps,table,li,p,h2{break-inside:avoid;page-break-inside:avoid}
h2{break-after:avoid;page-break-after:avoid}
footer{margin-top:2mm;color:#555;font-size:8pt}
@media print{body{max-width:none}}"""


def _png(fig: Any) -> bytes:
    """A figure as a small PNG: at :data:`DPI`, quantised to 128 colours (fast octree).

    A map is a few flat fills with anti-aliased edges: the palette PNG is a quarter of the
    RGBA one's bytes (about 80 kB for China's counties) and looks the same in print; the
    octree costs about 0.1 s a map, median cut ten times that.
    """
    from PIL import Image

    from geotool.maps.figure import figure_files

    buf = io.BytesIO(figure_files(fig, ("png",), dpi=DPI)["png"])  # a user's "$" stays text
    out = io.BytesIO()
    rgb = Image.open(buf).convert("RGB")
    rgb.quantize(colors=128, method=Image.Quantize.FASTOCTREE).save(out, format="PNG")
    return out.getvalue()


def warm(units: gpd.GeoDataFrame | None = None, lang: str = "zh") -> None:
    """Load what the maps draw with (fonts, boundaries, the projected units), ahead.

    Run by the renderer process while the statistics run: a tiny draw of ``units``
    (default the bundled counties, :func:`geotool.maps.static.warm`).
    """
    from geotool.maps import static

    static.warm(units, lang)


def figures(
    values: pd.Series | None,
    local: pd.DataFrame,
    *,
    key: str = "",
    label: str,
    spec: tuple[str, int | None, list[float] | None] | None = None,
    permutations: int | None = None,
    lang: str = "zh",
    units: gpd.GeoDataFrame | None = None,
    source: str | None = None,
) -> dict[str, bytes]:
    """The page's maps as PNG: ``values`` (without values, or none to class: left out), ``lisa``.

    Drawn by :func:`geotool.maps.static.value_figure` and
    :func:`geotool.maps.static.lisa_figure` at :data:`DPI`; ``local`` is the first
    variable's :func:`geotool.autocorr.local_stats`; ``key`` its key (the report's
    variables have labels in each language); ``units`` and ``source`` as there.
    """
    from geotool.maps import static

    label = _static(lang).get("labels", {}).get(key, label)  # the report's, translated
    if source is not None:
        source = section_words("onepage", lang)["data"] + source
    out = {}
    if values is not None:
        try:
            out["values"] = _png(static.value_figure(
                values, label=label, spec=spec, lang=lang, units=units, source=source))
        except InputError as exc:  # e.g. one distinct value: nothing to class
            log(f"one-page value map not drawn: {exc}", logging.WARNING)
    out["lisa"] = _png(static.lisa_figure(
        local, label=label, permutations=permutations, lang=lang, units=units, source=source))
    return out


def _static(lang: str) -> dict[str, Any]:
    """The static figures' words (``[static.<lang>]``: LISA classes, labels, source)."""
    words: dict[str, Any] = dict(section_words("static", lang))
    return words


def _pattern(moran: Mapping[str, Any], alpha: float = 0.05) -> str:
    """The words' key for the global pattern: clustered, dispersed, or not significant."""
    value, p = float(moran.get("value", 0.0)), float(moran.get("p_sim", 1.0))
    if not p <= alpha:
        return "random"
    return "clustered" if value > 0 else "dispersed"


def _rule(rule: str, lang: str) -> str:
    """The LISA significance rule (English in ``summary.json``) in the page's language."""
    rule = rule.replace("<=", "≤")
    for en, translated in _static(lang).get("rule_words", {}).items():
        rule = rule.replace(en, translated)
    return rule


def _stats_rows(summary: Mapping[str, Any], w: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The key statistics' table rows, and a sentence per variable, in the page's language."""
    classes = _static(w["lang"])["lisa_classes"]
    auto = [(k, r) for k, r in summary.get("autocorrelation", {}).items()
            if isinstance(r, dict) and "moran_i" in r]  # fmt: skip
    labels = _static(w["lang"]).get("labels", {})  # the report's, translated
    rows, sentences = [], []
    for key, res in auto[:MAX_VARIABLES]:
        spec = str(res.get("default_weights", ""))
        mi = res["moran_i"].get(spec, {})
        n = res.get("weights_report", {}).get("units", "")
        counts = res.get("lisa_counts", {})
        label = labels.get(key, res.get("label", key))
        cells = [escape(label), escape(n), f"{float(mi.get('value', 'nan')):.3f}",
                 escape(fmt_p(mi.get("p_sim", float("nan")))), escape(spec)]  # fmt: skip
        cells += [escape(counts.get(c, 0)) for c in _CLASSES]
        rows.append("<tr>" + "".join(
            f"<td class='n'>{c}</td>" if i else f"<td>{c}</td>" for i, c in enumerate(cells)
        ) + "</tr>")  # fmt: skip
        sentences.append(string.Template(w["sentence"]).substitute(
            label=cells[0], n=cells[1], i=cells[2], p=cells[3], weights=cells[4],
            hh=cells[5], ll=cells[6],
            sign=w[_pattern(mi)], rule=escape(_rule(str(res.get("lisa_rule", "")), w["lang"])),
        ))  # fmt: skip
    head = [w["variable"], "n", "Moran's I", "p", w["weights"],
            *(classes.get(c, c) for c in _CLASSES)]  # fmt: skip
    header = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"
    return [header, *rows], sentences


def _headlines(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The regression's finding, then the index, divergence and dynamics findings."""
    items = []
    reg = summary.get("regression")
    if isinstance(reg, dict) and reg.get("finding"):
        items.append(("regression", str(reg["finding"])))
    return items + finding_items(dict(summary))


def _source(summary: Mapping[str, Any], w: Mapping[str, Any]) -> str:
    """The data source line: the user's file and units, or the report's source."""
    given = summary.get("input") or {}
    if given:
        name = PurePath(str(given.get("file", ""))).name
        return string.Template(w["source_file"]).substitute(
            file=escape(name), units=escape(given.get("units", "")),
            level=escape(given.get("level", "")),
            values=escape(", ".join(map(str, given.get("value_cols", [])))),
        )  # fmt: skip
    return escape(_static(w["lang"])["source"])


def onepage(
    summary: Mapping[str, Any], images: Mapping[str, bytes], *, title: str, lang: str = "en"
) -> str:
    """The one-page summary of a run's ``summary`` (``summary.json``) as HTML.

    ``images`` are :func:`figures`' PNGs (missing ones are left out); ``lang`` is the
    page's language ("zh" or "en"; the stages' sentences said in it where ``words.toml``
    says them, else English, marked so).
    """
    w = section_words("onepage", lang)
    title = translate(title, lang)  # the report's bilingual title: the page's half
    table, sentences = _stats_rows(summary, w)
    imgs = "".join(
        f"<figure><img alt='{escape(w[key])}' src='data:image/png;base64,"
        f"{base64.b64encode(images[key]).decode('ascii')}'></figure>"
        for key in ("values", "lisa") if key in images
    )  # fmt: skip
    items = _headlines(summary)
    more = len(items) - MAX_FINDINGS
    colon = "：" if w["lang"] == "zh" else ": "
    found = "".join(f"<li><b>{sentence_html(k, lang)}</b>{colon}{sentence_html(v, lang)}</li>"
                    for k, v in items[:MAX_FINDINGS])  # fmt: skip
    more_p = f"<p>{string.Template(w['more']).substitute(n=more)}</p>" if more > 0 else ""
    auto = summary.get("autocorrelation", {}).values()
    weights = ", ".join(dict.fromkeys(
        str(r["default_weights"]) for r in auto if isinstance(r, dict) and "default_weights" in r))
    made = string.Template(w["made"]).substitute(
        seed=escape(summary.get("seed")), permutations=escape(summary.get("permutations")),
        weights=escape(weights or "–"), version=escape(summary.get("geotool_version", "")),
    )  # fmt: skip
    page = (
        f"<!DOCTYPE html><html lang='{html_lang(lang)}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class='src'>{_source(summary, w)}</p>"
        f"<div class='maps'>{imgs}</div>"
        f"<h2>{w['h_stats']}</h2><table>{''.join(table)}</table>"
        + "".join(f"<p>{s}</p>" for s in sentences)
        + (f"<h2>{w['h_findings']}</h2><ul>{found}</ul>{more_p}" if items else "")
        + f"<footer>{made}</footer></body></html>"
    )  # fmt: skip
    return check_page(page, "one-page summary")
