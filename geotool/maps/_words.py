"""The map pages' words in one language (``maps/words.toml``, ``[page]``) and their shell.

A page is in one language: its own chrome (search, outlines, full screen) from the
language's table, and the run's map words (layer names, legends, fields, titles), which
the page functions spell in English or as old bilingual pairs ("tier 梯队"), put into
that language by :func:`translate`. Data (unit names, a user's labels) are left as they
are, except the run's own English words inside them on Chinese pages.
"""

from __future__ import annotations

import functools
import re
import tomllib
from importlib import resources
from typing import Any

__all__ = [
    "LANGS", "MOBILE", "html_lang", "page_words", "section_words", "sentence_rules", "translate"
]

LANGS = ("zh", "en")


@functools.cache
def _words() -> dict[str, Any]:
    text = resources.files("geotool.maps").joinpath("words.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _page() -> dict[str, Any]:
    return _words()["page"]


def section_words(section: str, lang: str) -> dict[str, str]:
    """A section's words of ``maps/words.toml`` in ``lang`` ("zh" or "en"), and ``lang``."""
    lang = lang if lang in LANGS else "en"
    return {**_words()[section][lang], "lang": lang}


@functools.cache
def sentence_rules() -> tuple[tuple[re.Pattern[str], str], ...]:
    """``[sentences]``: (a stage's English sentence as a pattern, its Chinese template)."""
    return tuple((re.compile(en), zh) for en, zh in _words()["sentences"]["zh"])


def page_words(lang: str) -> dict[str, str]:
    """The page chrome's words in ``lang`` ("zh" or "en")."""
    return dict(_page()[lang if lang in LANGS else "en"])


def html_lang(lang: str) -> str:
    """The ``<html lang>`` value of a page in ``lang``."""
    return page_words(lang)["html_lang"]


@functools.cache
def _rules(lang: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    """(pattern, replacement) pairs, longest term first: bilingual pairs, then words."""
    at = 0 if lang == "zh" else 1
    pairs: list[tuple[str, str, bool]] = []  # (from, to, whole string only)
    for zh, en, *aliases in _page()["terms"]:
        pairs += [(a, (zh, en)[at], False) for a in aliases]
        if lang == "zh":
            pairs.append((en, zh, False))
        else:  # a Chinese word inside a data name ("长三角城市群") is the name's
            pairs.append((zh, en, True))
    pairs.sort(key=lambda p: -len(p[0]))
    out = []
    for old, new, whole in dict.fromkeys(pairs):
        body = re.escape(old)
        if whole:
            body = f"^{body}$"
        elif old.isascii():  # an English word, not part of another
            body = rf"(?<![\w-]){body}(?![\w-])"
        out.append((re.compile(body), new))
    return tuple(out)


def translate(text: str, lang: str) -> str:
    """A map word (title, layer, legend, field) in ``lang``; data are left as they are.

    >>> translate("tier 梯队", "en"), translate("tier 3", "zh"), translate("LISA: CRIME", "zh")
    ('tier', '第 3 梯队', 'LISA：CRIME')

    """
    text = str(text)
    if lang == "zh":  # "tier 3" / "class 3 ellipse": the ordinals of a classification
        by = page_words(lang)["class_by"]  # a user's classes: "class (ward; 1 = highest)"
        text = re.sub(r"(?<![\w-])class \(([\w-]+); 1 = highest\)",
                      lambda m: by.format(method=m.group(1)), text)  # fmt: skip
        text = re.sub(r"(?<![\w-])(?:tier|class) (\d+)", r"第 \1 梯队", text)
    for pattern, new in _rules(lang):
        text = pattern.sub(new.replace("\\", "\\\\"), text)
    if lang == "zh":
        text = re.sub(r"^(LISA|显著性|局部联接计数): ", r"\1：", text)
    return text


#: The page shell on small screens (max-width 640px): the layer list folds into its
#: button (opened by a tap), the title box keeps clear of the zoom and layer buttons on
#: one line, and the legend (and the tiers' steps table) is a folded <details>; the script
#: folds them at load.
MOBILE = """<style>
.geotool-legend summary,.geotool-vectors summary{cursor:pointer;font-weight:bold;margin-bottom:3px}
@media (max-width:640px){
.leaflet-control-layers-expanded .leaflet-control-layers-list{display:none!important}
.leaflet-control-layers-expanded{padding:0!important}
.leaflet-control-layers-expanded .leaflet-control-layers-toggle{display:block!important}
.leaflet-control-layers-expanded:hover,.leaflet-control-layers-expanded:focus-within{
padding:6px 10px 6px 6px!important}
.leaflet-control-layers-expanded:hover .leaflet-control-layers-list,
.leaflet-control-layers-expanded:focus-within .leaflet-control-layers-list{display:block!important}
.leaflet-control-layers-expanded:hover .leaflet-control-layers-toggle,
.leaflet-control-layers-expanded:focus-within .leaflet-control-layers-toggle{display:none!important}
.geotool-title{left:54px!important;right:62px;top:10px!important;font-size:12px!important;
white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.geotool-search{width:150px!important}
.geotool-legend{max-width:60vw!important;max-height:45vh;overflow:auto;bottom:24px!important}
}</style>
<script>window.addEventListener("DOMContentLoaded",function(){
if(!window.matchMedia("(max-width:640px)").matches){return;}
document.querySelectorAll(".geotool-legend details,.geotool-vectors details")
.forEach(function(d){d.open=false;});});
</script>"""
