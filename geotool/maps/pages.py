"""A run's map pages (LISA, tiers, city clusters) and its landing page.

Built on :func:`geotool.maps.unit_map` like any user's map; titles are parameters.
"""

from __future__ import annotations

import functools
import html as html_mod
import re
import string
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geotool import boundaries, settings
from geotool._errors import InputError
from geotool._html import check_page, href
from geotool.maps import (
    LISA_COLOURS,
    NEUTRAL,
    NOT_SIGNIFICANT,
    NOT_TESTED,
    P_CLASSES,
    asset,
    escape,
    fmt_p,
    rule_text,
    unit_map,
)
from geotool.maps._words import html_lang, section_words, sentence_rules, translate

if TYPE_CHECKING:
    import folium

__all__ = [
    "FIELDS", "JOIN_COLOURS", "ONEPAGE", "P_COLOURS", "STEP_COLOUR", "TAB20", "TIER_COLOURS",
    "cluster_colours", "clusters_map", "finding_items", "index_page", "km_text", "lisa_map",
    "marked_points", "panel_section", "regression_page", "regression_section", "sentence_html",
    "tier_colours", "tier_palette", "tiers_map", "year_lisa_layers", "year_values_map"
]  # fmt: skip

TIER_COLOURS = {1: "#67000d", 2: "#cb181d", 3: "#fb6a4a", 4: "#fcbba1"}
JOIN_COLOURS = {"cluster": "#7b3294", "tested, not significant": "#c2a5cf"}
P_COLOURS = {
    **{label: colour for label, _, colour in P_CLASSES[:-1]},
    "not significant": NOT_SIGNIFICANT,
}
#: matplotlib's ``tab20`` colours as hex (written out: the web maps need no matplotlib).
TAB20 = (
    "#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896",
    "#9467bd", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7",
    "#bcbd22", "#dbdb8d", "#17becf", "#9edae5",
)  # fmt: skip
FIELDS = {
    "industrial_rank": "工业百强县 rank",
    "innovation_rank": "创新百强县 rank",
    "district_rank": "工业百强区 rank",
    "tier": "tier 梯队",
    "region": "region",
    "cluster": "城市群 cluster",
    "lisa_class": "LISA (industrial score)",
}
#: The run's one-page summary (:mod:`geotool.maps.onepage`), linked from the index.
ONEPAGE = "onepage.html"
#: What each map of a run shows, for the index page (``words.toml`` ``[maps]``, English).
MAP_DESCRIPTIONS = {
    f"{k}.html": v for k, v in section_words("maps", "en").items() if k not in (
        "lang", "values_of", "linked", "scatter", "scatter_alt", "linked_view")
}


def tier_palette(n: int) -> dict[int, str]:
    """Colours of tiers 1..n: the report's four reds, or a red ramp of ``n`` steps."""
    if n <= len(TIER_COLOURS):
        return {t: TIER_COLOURS[t] for t in range(1, n + 1)}
    ramp = ("#67000d", "#a50f15", "#cb181d", "#ef3b2c", "#fb6a4a", "#fc9272", "#fcbba1",
            "#fee0d2", "#fff5f0")  # fmt: skip
    idx = np.linspace(0, len(ramp) - 1, n).round().astype(int)
    return {t + 1: ramp[i] for t, i in enumerate(idx)}


def tier_colours(info: pd.DataFrame) -> dict[str, str]:
    """Colour of each unit with a tier (``info["tier"]``), by its tier."""
    tiers_ = info["tier"].dropna().astype(int)
    palette = tier_palette(int(tiers_.max()) if len(tiers_) else 1)
    return {str(c): palette[int(t)] for c, t in tiers_.items()}


def _layer(name: str, index: Any, keys: Any, palette: dict, tested: pd.Series) -> dict:
    """A layer of the tested units coloured by ``palette[key]``; the others not tested."""
    colours = {c: palette[k] for c, k, ok in zip(index, keys, tested, strict=True) if ok}
    return {"name": name, "colours": colours, "neutral": NOT_TESTED}


def lisa_map(
    locals_: dict[str, pd.DataFrame],
    info: pd.DataFrame,
    *,
    title: str = "LISA clusters of the 2020 rankings",
    legend_title: str = "Local Moran (score = 101 - rank)",
    fields: dict[str, str] | None = None,
    joins: dict[str, pd.DataFrame] | None = None,
    years: dict[str, dict[Any, pd.DataFrame]] | None = None,
    **kwargs: Any,
) -> folium.Map:
    """Local statistics per variable: local join counts (first), LISA classes, significance.

    ``joins``: label -> :func:`geotool.autocorr.local_join_counts`; ``years``: label ->
    {year: local statistics} of a panel, a LISA layer per year after the others. The
    legend names the classes' rule (``attrs`` alpha, adjust, p_sided); units outside a
    statistic's universe are blank ("not tested"), tested non-significant ones grey.
    """
    rules = dict.fromkeys(
        rule_text(float(v.attrs["alpha"]), str(v.attrs["adjust"]), v.attrs.get("p_sided"))
        for v in locals_.values()
        if "alpha" in v.attrs and "adjust" in v.attrs
    )
    if rules:
        legend_title = f"{legend_title} · LISA classes at {'; '.join(rules)}"
    layers = []
    for label, frame in (joins or {}).items():
        sig = frame["significant"].to_numpy(dtype=bool, na_value=False)
        keys = np.where(sig, "cluster", "tested, not significant")
        tested = frame["p_sim"].notna()
        name = f"local join counts: {label}"
        layers.append(_layer(name, frame.index, keys, JOIN_COLOURS, tested))
    for label, local in locals_.items():  # a unit without a p-value was not tested
        lisa, tested = local["lisa_class"], local["p_sim"].notna()
        layers.append(_layer(f"LISA: {label}", local.index, lisa, LISA_COLOURS, tested))
    for label, local in locals_.items():
        p = local["p_sim"]
        keys = np.select(
            [p <= 0.001, p <= 0.01, p <= 0.05], list(P_COLOURS)[:3], default="not significant"
        )
        layers.append(_layer(f"significance: {label}", local.index, keys, P_COLOURS, p.notna()))
    for label, yearly in (years or {}).items():
        layers += year_lisa_layers(label, yearly)
    legend = {f"join count {k}": v for k, v in JOIN_COLOURS.items()} if joins else {}
    legend.update(LISA_COLOURS)
    legend.update(
        {f"significance {k} (p_sim)": v for k, v in P_COLOURS.items() if k != "not significant"}
    )
    legend["not tested (outside the universe)"] = NOT_TESTED
    lines = [_lisa_line(label, local) for label, local in locals_.items()]
    return unit_map(
        layers, table=info, fields=fields or FIELDS, legend=legend, legend_title=legend_title,
        title=title, lines=lines, **kwargs,
    )  # fmt: skip


def year_values_map(
    wide: pd.DataFrame, *, label: str, title: str = "", study_title: str = "", k: int = 5,
    cmap: str = "YlOrRd", **kwargs: Any,
) -> folium.Map:  # fmt: skip
    """A panel's values map: one layer per year (latest first, shown), switched in the control.

    ``wide`` is units x years. Each year is cut in its own ``k`` quantiles (a unit's
    place that year; the values are in the tooltips); the legend gives the shown year's
    class bounds (:func:`geotool._classify.classify`'s, in the page's language) and
    changes with the year switched on. A year's missing units are blank. Colours are
    codes, not copies of the polygons: 81 years of 48 states add a few kB. Without
    ``title``, the title names ``study_title``, the variable and the years.
    """
    from geotool._classify import classify

    lang = kwargs.get("lang") or ("zh" if kwargs.get("geo") is None else "en")
    said = section_words("years", lang)
    layers: list[dict[str, Any]] = []
    for year in reversed(list(wide.columns)):
        v = wide[year].dropna()
        if v.nunique() < 2:
            continue
        v = pd.Series(v.to_numpy(float), index=pd.Index(v.index).astype(str), name=label)
        colour_of, legend = classify(v, scheme="quantiles", k=min(k, v.nunique()), cmap=cmap,
                                     label=label, lang=lang)  # fmt: skip
        items = [[said["item"].format(year=year, range=r), c] for r, c in legend.items()]
        layers.append({"name": f"{label} {year}", "colours": colour_of.to_dict(),
                       "legend": items})  # fmt: skip
    if not layers:
        raise InputError(f"{label}: no year has two distinct values to map.")
    y0, y1 = wide.columns[0], wide.columns[-1]
    title = title or said["title"].format(study=study_title, label=label, y0=y0, y1=y1)
    kwargs.setdefault("fit", "coloured")
    return unit_map(layers, title=title, legend=dict(layers[0]["legend"]),
                    legend_title=said["legend"].format(label=label), **kwargs)  # fmt: skip


def year_lisa_layers(label: str, yearly: dict[Any, pd.DataFrame]) -> list[dict[str, Any]]:
    """One LISA class layer per year (latest first) of :func:`lisa_map`'s ``years``."""
    ordered = sorted(yearly.items(), key=lambda item: item[0], reverse=True)
    return [
        _layer(f"LISA: {label} {year}", local.index, local["lisa_class"], LISA_COLOURS,
               local["p_sim"].notna())
        for year, local in ordered
    ]  # fmt: skip


def _lisa_line(label: str, local: pd.DataFrame) -> dict[str, Any]:
    """A compact tooltip line per tested unit: class, value, local Moran Ii and p_sim."""
    classes = [*LISA_COLOURS, "not tested"]
    index = {c: i for i, c in enumerate(classes)}
    nan = np.full(len(local), np.nan)
    value, ii = (local[n].to_numpy(float) if n in local else nan for n in ("value", "Ii"))
    p_sim = local["p_sim"].to_numpy(float)
    rows = {
        str(code): [index.get(str(c), 4) if np.isfinite(p) else len(classes) - 1,
                    float(v), float(i), float(p)]
        for code, c, v, i, p in zip(local.index, local["lisa_class"], value, ii, p_sim,
                                    strict=True)
    }  # fmt: skip
    return {
        "label": f"LISA {label}",
        "parts": ["", "value", "Ii", "p"],
        "classes": classes,
        "formats": [None, "g4", "g3", "p"],
        "rows": rows,
    }


_DASH_ARRAYS = (None, "8 5", "10 4 2 4", "2 4")
#: The colour of the steps' line (the mean centres joined in order), on web and print.
STEP_COLOUR = "#1f4e9c"


def tiers_map(
    info: pd.DataFrame,
    shapes: gpd.GeoDataFrame,
    *,
    title: str = "东西梯次扩散 · East-west tier diffusion",
    fields: dict[str, str] | None = None,
    tier_word: str = "tier 梯队",
    **kwargs: Any,
) -> folium.Map:
    """Tiers coloured, each tier's ellipse and mean centre in its colour, vectors and steps.

    ``tier_word`` names the classes (the report's 梯队; a user's "class (ward; ...)").
    The mean centres are joined in order (the steps, t-1 -> t); the legend and a small
    table at the lower left give each step's and each vector's (1 -> t) length (km) and
    bearing, as the vectors table has them (carried by ``shapes``), in the page's language.
    """
    said = section_words("tiers", _page_lang(kwargs))
    word = said["tier" if tier_word == "tier 梯队" else "class"]
    tiers_ = [int(t) for t in (*info["tier"].dropna(), *shapes["tier"].dropna())]
    palette = tier_palette(max(tiers_) if tiers_ else len(TIER_COLOURS))
    name = functools.partial(_tier_name, said["name"], word)
    steps, vectors = _vector_steps(shapes, "step"), _vector_steps(shapes, "vector")
    overlays = []
    for i, t in enumerate(sorted(int(t) for t in shapes["tier"].dropna().unique())):
        part = shapes[shapes["kind"].isin(["ellipse", "mean_centre"]) & (shapes["tier"] == t)]
        part = part.assign(label=[said[k].format(name=name(t)) for k in part["kind"]])
        ring: dict[str, Any] = {"color": palette[t], "weight": 3 if i == 0 else 2.5, "fill": False,
                                "opacity": 1, "dashArray": _DASH_ARRAYS[i % len(_DASH_ARRAYS)]}
        overlays.append((said["shapes"].format(name=name(t)), part[["label", "geometry"]], ring))
    lines_style: dict[str, dict[str, Any]] = {
        "step": {"color": STEP_COLOUR, "weight": 3.5}, "vector": {"color": "#000000", "weight": 2}}
    for kind, rows in (("step", steps), ("vector", vectors)):
        style = lines_style[kind]
        lines = shapes[shapes["kind"] == kind].sort_values("tier")
        labels = [said[f"{kind}_item"].format(a=name(a), b=name(b), km=km_text(km), deg=deg)
                  for a, b, km, deg in rows]  # fmt: skip
        if len(lines):
            overlays.append((said[f"{kind}s"].format(word=word),
                             lines.assign(label=labels)[["label", "geometry"]], style))
    legend = {name(t): c for t, c in palette.items()}
    legend |= {said["step_item"].format(a=name(a), b=name(b), km=km_text(km), deg=deg):
               STEP_COLOUR for a, b, km, deg in steps}  # fmt: skip
    legend |= {said["vector_item"].format(a=name(a), b=name(b), km=km_text(km), deg=deg):
               palette[b] for a, b, km, deg in vectors}  # fmt: skip
    legend[said["not_ranked" if tier_word == "tier 梯队" else "no_value"]] = NEUTRAL
    title_of = said["legend"] if tier_word == "tier 梯队" else translate(tier_word, said["lang"])
    fmap = unit_map(
        [{"name": tier_word, "colours": tier_colours(info)}], table=info,
        fields=fields or FIELDS, legend=legend, legend_title=title_of,
        overlays=overlays, title=title, **kwargs,
    )  # fmt: skip
    if steps or vectors:
        _add_vector_table(fmap, said, word, steps, vectors)
    return fmap


def _page_lang(kwargs: dict[str, Any]) -> str:
    """The language of a page made with ``kwargs`` (:func:`unit_map`'s default)."""
    return kwargs.get("lang") or ("zh" if kwargs.get("geo") is None else "en")


def _tier_name(template: str, word: str, t: int) -> str:
    """A tier's (or class's) name: "第 2 梯队", "tier 2", "class 2"."""
    return template.format(word=word, t=t)


def km_text(km: float) -> str:
    """A diffusion vector's length as written on maps: whole km, or 2 decimals under 10."""
    return f"{km:.0f}" if abs(km) >= 10 else f"{km:.2f}"


def _vector_steps(shapes: gpd.GeoDataFrame, kind: str = "vector"
                  ) -> list[tuple[int, int, float, float]]:  # fmt: skip
    """(from tier, to tier, km, bearing) of each diffusion vector or step, in tier order."""
    lines = shapes[shapes["kind"] == kind].sort_values("tier")
    if kind == "step":
        starts = lines["from"].astype(int).tolist()
    else:
        first = shapes.loc[shapes["kind"] == "mean_centre", "tier"].min() if len(lines) else 0
        starts = [int(first)] * len(lines)
    return [
        (a, int(t), float(km), float(deg))
        for a, t, km, deg in zip(
            starts, lines["tier"], lines["length_km"], lines["bearing_deg"], strict=True
        )
    ]


def _add_vector_table(
    fmap: folium.Map, said: dict[str, str], word: str, steps: list, vectors: list
) -> None:
    """A small table of the steps and vectors at the map's lower left (escaped; no braces).

    A ``<details>`` like the legend: open on a wide screen, folded on a phone.
    """
    import folium

    def rows(part: list, head: str) -> str:
        cells = "".join(
            f"<tr><td>{a} → {b}</td><td>{km_text(km)}</td><td>{deg:.0f}°</td></tr>"
            for a, b, km, deg in part
        )
        return f'<tr><th colspan="3">{escape(head)}</th></tr>{cells}' if part else ""

    header = "".join(f"<th>{escape(h)}</th>" for h in said["table_header"].split("|"))
    html = (
        '<div class="geotool-vectors" style="position:absolute;bottom:40px;left:10px;'
        "z-index:1000;background:rgba(255,255,255,.92);padding:6px 9px;font:12px sans-serif;"
        'border:1px solid #bbb;border-radius:4px"><details open>'  # folded on phones (MOBILE)
        f"<summary>{escape(said['table'].format(word=word))}</summary>"
        f'<table class="geotool-vector-table"><tr>{header}</tr>'
        f"{rows(steps, said['table_steps'].format(word=word))}"
        f"{rows(vectors, said['table_vectors'].format(word=word))}</table></details></div>"
    )
    braces = html.replace("{", "&#123;").replace("}", "&#125;")  # rendered as a template
    fmap.get_root().html.add_child(folium.Element(braces))  # type: ignore[attr-defined]


def cluster_colours(polygons: gpd.GeoDataFrame) -> dict[str, str]:
    """One colour per cluster (matplotlib's tab20, in the polygons' order): web and print."""
    ids = list(dict.fromkeys(polygons["cluster_id"]))
    return {c: TAB20[i % len(TAB20)] for i, c in enumerate(ids)}


def marked_points(ranked: pd.Series, geo: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """A point inside each ranked unit, labelled "name #rank" (EPSG:4326).

    The bundled counties' representative points (``geo=None``) or ``geo``'s; ranked ids
    that are not units of the layer are left out.
    """
    if geo is None:
        units = boundaries.units()
        names = units["name"]
        ranked = ranked[ranked.index.isin(units.index)]
        at = units.loc[ranked.index]
        points = shapely.points(at["rep_lon"].to_numpy(float), at["rep_lat"].to_numpy(float))
    else:
        names = geo["name"] if "name" in geo.columns else pd.Series(geo.index, index=geo.index)
        ranked = ranked[ranked.index.isin(geo.index)]
        points = geo.geometry.to_crs(settings.default_crs).loc[ranked.index].representative_point()
    return gpd.GeoDataFrame(
        {"label": [f"{names.get(c, c)} #{int(r)}" for c, r in ranked.items()]},
        geometry=np.asarray(points),
        crs=settings.default_crs,
    )


def clusters_map(
    membership: pd.DataFrame,
    polygons: gpd.GeoDataFrame,
    info: pd.DataFrame,
    *,
    marked: pd.Series | None = None,
    marked_name: str = "工业百强县 ranked counties",
    fields: dict[str, str] | None = None,
    title: str = "城市群 · City clusters",
    **kwargs: Any,
) -> folium.Map:
    """Member units shaded by primary cluster, dissolved outlines, ranked units marked.

    Clusters are named in the page's language (``cluster_en`` on an English page).
    """
    colour = cluster_colours(polygons)
    named = "cluster_en" if kwargs.get("lang") == "en" and "cluster_en" in polygons else (
        "cluster_zh")  # fmt: skip
    shaded = {code: colour[c] for code, c in membership["primary_cluster"].items() if c}
    outlines = polygons.copy()  # at map precision: 0.01 degree (~1 km), as the web layer
    outlines["geometry"] = shapely.set_precision(
        shapely.simplify(outlines.geometry.to_numpy(), 0.01), 1e-4
    )
    outlines["label"] = [
        f"{zh} ({d}): {n} units"
        for zh, d, n in zip(outlines[named], outlines["definition"], outlines["n_units"],
                            strict=True)
    ]  # fmt: skip
    ranked = info["industrial_rank"].dropna() if marked is None else marked.dropna()
    overlays = [
        ("cluster outlines", outlines[["label", "geometry"]],
         {"color": "#000000", "weight": 1.5, "fill": False}),
        (marked_name, marked_points(ranked, kwargs.get("geo")),
         {"color": "#000000", "fillColor": "#ffdd00", "fillOpacity": 1, "weight": 1}),
    ]  # fmt: skip
    legend = {
        f"{zh}": colour[c]
        for c, zh in zip(polygons["cluster_id"], polygons[named], strict=True)
    }
    return unit_map(
        [{"name": "城市群 primary cluster", "colours": shaded}], table=info,
        fields=fields or FIELDS, legend=legend,
        legend_title=f"City clusters ({membership.attrs.get('set', '')})", overlays=overlays,
        title=title, **kwargs,
    )  # fmt: skip


# ---------------------------------------------------------------- the landing page


def _num(value: object, digits: int = 3) -> str:
    """A number for reading: fixed decimals for moderate values, ``"–"`` when missing."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return escape(value)
    if not np.isfinite(v):
        return "–"
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:.{digits}f}" if 1e-3 <= abs(v) < 1e5 else f"{v:.{digits}g}"


def _table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    """An HTML table; header escaped here, cells given as HTML (escaped by the caller)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table class='{cls}'><tr>{head}</tr>{body}</table>" if rows else ""


def _cluster_counts(counted: dict[str, Any], lang: str) -> dict[str, Any]:
    """A set's counts by each cluster's name in the page's language (its id without one)."""
    names = counted.get("names", {})
    lang = "zh" if lang == "zh" else "en"
    return {names.get(cid, {}).get(lang, cid): n for cid, n in counted.get("counts", {}).items()}


def _counts_table(counts: dict[str, Any], what: str, n: str = "count") -> str:
    """A {label: count} dict as a two-column table."""
    return _table([what, n], [[escape(k), _num(v)] for k, v in counts.items()], "num")


def _link(path: str, text: str) -> str:
    return f"<a href='{href(path)}'>{text}</a>"


def _said_tables(html: str) -> str:
    """The index's tables and sentences, built in English, said in Chinese.

    Every text node goes through :func:`_say`; what no term or sentence of
    ``maps/words.toml`` says (a stage's new sentence) stays English, marked ``lang="en"``.
    """

    def node(m: re.Match) -> str:
        raw = html_mod.unescape(m.group(2))
        said = _say(raw.strip())
        if _ENGLISH.search(said):
            return f'>{m.group(1)}<span lang="en">{escape(raw.strip())}</span>{m.group(3)}<'
        return f">{m.group(1)}{escape(said)}{m.group(3)}<"

    return re.sub(r">(\s*)([^<>]*?[A-Za-z][^<>]*?)(\s*)<", node, html)


def sentence_html(text: str, lang: str) -> str:
    """A stage's sentence as escaped HTML in ``lang``.

    On a Chinese page, one that no word table says stays English, marked ``lang="en"``.
    """
    if lang != "zh":
        return escape(text)
    said = _say(text)
    return f'<span lang="en">{escape(text)}</span>' if _ENGLISH.search(said) else escape(said)


#: A run of three English words: a sentence (or phrase) no word table said.
_ENGLISH = re.compile(r"(?<![\w.@/-])[a-z]+(?:[ ,;:'’()-]+[a-z]+){2,}(?![\w.@/-])")


def _say(text: str) -> str:
    """A phrase or sentence of a run's index in Chinese; data and identifiers as they are.

    In order: a term of ``[index_terms]`` ("ran", "crosswalk"), "term: rest", a sentence
    of ``[sentences]`` (its ``t_`` groups said in turn), "(...)", an identifier
    (``knn:6``, ``tables/``), else the map words' terms (:func:`translate`).
    """
    terms = section_words("index_terms", "zh")
    if text in terms:
        return terms[text]
    head, sep, rest = text.partition(": ")
    if sep and head in terms:
        return f"{terms[head]}：{_say(rest)}"
    for pattern, template in sentence_rules():
        if m := pattern.fullmatch(text):
            groups = {k: _say(v) if k.startswith("t_") else v
                      for k, v in m.groupdict(default="").items()}  # fmt: skip
            return template.format(**groups)
    if text.startswith("(") and text.endswith(")"):
        return f"（{_say(text[1:-1])}）"
    parts = re.split(r"(?<=\.) (?=[A-Z])", text)  # sentences in a row: each said alone
    if len(parts) > 1:
        return "".join(_say(part) for part in parts)
    if "; " in text:  # a list of items ("tier 2: 0.4 km at bearing 146°; tier 3: ...")
        return "；".join(_say(part) for part in text.split("; "))
    if re.fullmatch(r"[\w./:*-]+", text):
        return text
    return translate(text, "zh")


def _autocorrelation(
    summary: dict[str, Any], linked: dict[str, str], said: dict[str, str]
) -> tuple[str, str]:
    """The Moran's I tables, and the Moran scatter plots (with their linked views).

    ``said``: the ``[maps]`` words of the page's language (captions, link words).
    """
    auto = summary.get("autocorrelation", {})
    classes = list(LISA_COLOURS)
    rows, scatters = [], []
    for name, res in auto.items():
        if not isinstance(res, dict) or "moran_i" not in res:
            continue
        spec, view = res["default_weights"], linked.get(name)
        mi, counts = res["moran_i"][spec], res.get("lisa_counts", {})
        explore = _link("maps/" + view, escape(said["linked_view"])) if view else ""
        rows.append([
            escape(res.get("label", name)), escape(spec), _num(mi["value"]),
            escape(fmt_p(mi["p_norm"])), escape(fmt_p(mi["p_sim"])),
            *(_num(counts.get(c, 0)) for c in classes), explore,
        ])  # fmt: skip
        png = f"figures/moran_scatter_{name}.png"
        label = translate(res.get("label", name), said["lang"])
        if png in (summary.get("files") or [png]):
            scatters.append(
                f"<figure><a href='{href(png)}'><img src='{href(png)}' width='520' "
                f"alt='{escape(said['scatter_alt'].format(label=label))}'></a><figcaption>"
                f"{escape(said['scatter'].format(label=label, weights=spec))}"
                + (f" · {explore}" if view else "") + "</figcaption></figure>"
            )  # fmt: skip
    other = [
        [escape(res.get("label") or key.replace("_", " ")), _num(res["value"]),
         escape(fmt_p(res["p_sim"]))]
        for key, res in auto.items()
        if isinstance(res, dict) and "value" in res and "p_sim" in res
    ]
    tables = _table(
        ["variable", "weights", "Moran's I", "p (normal, two-sided)",
         "p (permutation, one-sided)", *classes, "explore"], rows, "num",
    ) + _table(["statistic", "value", "p (permutation)"], other, "num")  # fmt: skip
    return tables, "".join(scatters)


def _map_rows(
    summary: dict[str, Any], maps_written: dict[str, int], linked: dict, said: dict[str, str]
) -> list:
    """The rows of the maps table: the map pages, then the linked views (``said``: [maps])."""
    auto = summary.get("autocorrelation", {})
    labels = {k: translate(r.get("label", k), said["lang"]) for k, r in auto.items()
              if isinstance(r, dict)}  # fmt: skip
    values = {f"values_{k}.html": said["values_of"].format(label=v) for k, v in labels.items()}

    def shows(n: str) -> str:
        return said[n.removesuffix(".html")] if n in MAP_DESCRIPTIONS else values.get(n, "")

    rows = [
        [_link("maps/" + n, escape(n)), escape(shows(n)), f"{size / 1e6:.1f} MB"]
        for n, size in maps_written.items()
        if n not in linked.values()
    ]  # fmt: skip
    return rows + [
        [_link("maps/" + f, escape(f)), escape(said["linked"].format(label=labels.get(k, k))),
         f"{maps_written.get(f, 0) / 1e6:.1f} MB"]
        for k, f in linked.items()
    ]  # fmt: skip


def finding_items(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(subject, sentence) of what the index, divergence and dynamics stages found."""
    items: list[tuple[str, str]] = []
    if "composite_index" in summary:
        items.append(("composite index", summary["composite_index"].get("finding", "")))
    for res in summary.get("divergence", {}).get("variables", {}).values():
        sentences = [v for k, v in res.items() if k.endswith("_finding")]
        sentences += [res["skipped"]] if "skipped" in res else []
        items += [(str(res.get("label", "")), s) for s in sentences]
        items += [(str(res.get("label", "")), f"Not shown: {s}") for s in res.get("not_shown", [])]
    for res in summary.get("dynamics", {}).values():
        items += [(str(res.get("label", "")), s) for s in res.get("sentences", [])]
    return [(k, v) for k, v in items if v]


def _findings(summary: dict[str, Any], lang: str = "en") -> str:
    """What the index, divergence and dynamics stages found, their sentences in ``lang``."""
    items = finding_items(summary)
    if not items:
        return ""
    said = section_words("index", lang)
    colon = "：" if said["lang"] == "zh" else ": "
    rows = "".join(
        f"<li><b>{escape(translate(k, lang))}</b>{colon}"
        + (f"{said['not_shown']}{sentence_html(v[11:], lang)}" if v.startswith("Not shown: ")
           else sentence_html(v, lang)) + "</li>"
        for k, v in items if v
    )  # fmt: skip
    groups = summary.get("divergence", {}).get("groups")
    by = f"<p>{said['p_groups']}{sentence_html(str(groups), lang)}</p>" if groups else ""
    return f"<h2>{said['h_findings']}</h2>{by}<ul>{rows}</ul>"


def _tiers_and_inputs(summary: dict[str, Any], lang: str = "en") -> tuple[str, str]:
    """The tiers' tables by region, and the inputs' (report check, matching, universes)."""
    regions = ("east", "central", "west", "northeast")
    tiers = ""
    for name, t in summary.get("tiers", {}).items():
        rows = [[escape(k), *(_num(r.get(g, 0)) for g in regions)]
                for k, r in t.get("by_region", {}).items()]  # fmt: skip
        tiers += (
            f"<h3>{escape(t.get('label', name.replace('_', ' ')))} "
            f"<small>({escape(translate(t.get('tiers', ''), lang))})"
            f"</small></h3>{_table(['tier', *regions], rows, 'num')}"
            f"<p>{escape(t.get('verdict', ''))}</p>"
        )
    inputs = []
    if check := summary.get("check_report"):
        inputs.append(
            "<h3>Report check</h3>"
            + _counts_table(check.get("status_counts", {}), "status", "rows")
        )
    match = summary.get("match")
    if isinstance(match, dict) and all(isinstance(v, dict) for v in match.values()):
        for name, counts in match.items():
            inputs.append(f"<h3>Matching: {escape(name.replace('_', ' '))}</h3>"
                          + _counts_table(counts, "method", "rows"))  # fmt: skip
    elif isinstance(match, dict):
        inputs.append("<h3>Matching</h3>" + _counts_table(match, "status", "rows"))
    if isinstance(summary.get("universe_sizes"), dict):
        inputs.append(
            "<h3>Universes</h3>" + _counts_table(summary["universe_sizes"], "ranking", "units")
        )
    return tiers, "".join(inputs)


#: The transition tables (their names and what they show: ``words.toml`` ``[panel]``).
_CHAINS = ("spatial_markov", "lisa_markov")


def _transition_html(rows: list[dict[str, Any]], said: dict[str, str]) -> str:
    """A transition table: keys, ``n``, the counts, then the probabilities (given rows)."""
    if not rows:
        return ""
    cols = list(rows[0])
    keys = cols[: cols.index("n")]
    counts = [c for c in cols if c.startswith("count_")]
    probs = [c for c in cols if c.startswith("p_")]
    names = {"lag_class": said["lag_class"], "from": said["from"]}
    header = [names.get(k, k) for k in keys] + ["n"]
    header += [f"→ {c[6:]}" for c in counts] + [f"P(→ {c[2:]})" for c in probs]
    body = [
        [escape(r[k]) for k in keys] + [_num(r["n"])] + [_num(r[c]) for c in counts]
        + [_num(r[c]) for c in probs]
        for r in rows
    ]  # fmt: skip
    return _table(header, body, "num transitions")


def _moran_line(res: dict[str, Any]) -> str:
    """Moran's I by year in one sentence: first and last year, years significant."""
    by_year = {int(y): v for y, v in res.get("moran_by_year", {}).items()}
    if not by_year:
        return ""
    y0, y1 = min(by_year), max(by_year)
    sig = sum(v["p_sim"] <= 0.05 for v in by_year.values())
    return (
        f"Moran's I of {res.get('label', '')} went from {_num(by_year[y0]['value'])} ({y0}) to "
        f"{_num(by_year[y1]['value'])} ({y1}); p ≤ 0.05 (permutation) in {sig} of "
        f"{len(by_year)} years."
    )


def panel_section(summary: dict[str, Any], lang: str = "en") -> str:
    """The panel's part of the index: Moran's I by year, the transition tables, the tests.

    Empty without a panel (``summary["dynamics"]``). Every value is escaped. Headings,
    table headers and the tables' explanations are in ``lang``; the run's sentences and
    the tests' meanings are English (marked so on a Chinese page).
    """
    said = section_words("panel", lang)
    blocks = []
    files = summary.get("files") or []
    for n, (key, res) in enumerate(summary.get("dynamics", {}).items()):
        label, years = str(res.get("label", key)), res.get("years") or [""]
        png = f"figures/moran_by_year_{key}.png"
        parts = [
            f"<h3>{escape(label)} <small>({escape(years[0])}–{escape(years[-1])}, "
            f"{said['units'].format(n=_num(res.get('units')))})</small></h3>"
            f"<p>{sentence_html(_moran_line(res), lang)}</p>"
        ]
        if png in files:
            alt = escape(said["moran_alt"].format(label=label))
            parts.append(f"<figure><a href='{href(png)}'><img src='{href(png)}' width='640' "
                         f"alt=\"{alt}\"></a></figure>")  # fmt: skip
        parts += [f"<p>{sentence_html(s, lang)}</p>" for s in res.get("sentences", [])]
        for chain in _CHAINS:
            rows = res.get("transitions", {}).get(chain, [])
            what = said[f"{chain}_what"].format(k=res.get("k", ""), label=label)
            parts.append(f"<h4>{escape(said[chain])}</h4><p>{escape(what)}</p>"
                         f"{_transition_html(rows, said)}")  # fmt: skip
        tests = [[escape(said.get(t["chain"], t["chain"].replace("_", " "))),
                  escape(t["statistic"]), _num(t["value"]), _num(t["dof"]),
                  escape(fmt_p(t["p"])), sentence_html(t["meaning"], lang)]
                 for t in res.get("tests", [])]  # fmt: skip
        parts.append(f"<h4>{said['h_tests']}</h4>" + _table(said["tests_header"].split("|"),
                                                             tests, "num"))  # fmt: skip
        parts.append(f"<p>{said['tables']}<code>tables/dynamics_*_{escape(key)}.csv</code>{said['stop']}</p>")
        # ids by position: an id made of a user's column name could shadow a page global
        blocks.append(f"<section class='panel' id='panel-{n}'>{''.join(parts)}</section>")
    if not blocks:
        return ""
    return f"<h2>{said['h_panel']}</h2>" + "".join(blocks)


def index_page(
    summary: dict[str, Any],
    maps_written: dict[str, int],
    *,
    title: str,
    linked: dict[str, str] | None = None,
    figures: list[str] | None = None,
    lang: str = "en",
) -> str:
    """The landing page of a run: maps, linked views, headline numbers as tables, figures.

    ``summary`` is the run's ``summary.json``; ``maps_written`` maps a file under
    ``maps/`` to its size; ``linked`` a variable key to its linked view's file;
    ``figures`` are static figures (paths in the run folder) shown as thumbnails;
    ``lang`` is the page's language (its tables and the stages' sentences are English,
    marked so on a Chinese page). Every value is escaped; p-values below 0.001 read
    "< 0.001".
    """
    linked = linked or {}
    rules = dict.fromkeys(
        rule_text(float(r.get("alpha", 0.05)), str(r["adjust"]), r.get("p_sided"))
        for r in summary.get("autocorrelation", {}).values()
        if isinstance(r, dict) and "adjust" in r
    )
    auto_tables, scatters = _autocorrelation(summary, linked, section_words("maps", lang))
    tier_blocks, inputs = _tiers_and_inputs(summary, lang)
    clusters_ = summary.get("clusters", {})
    first_set = next((k for k, v in clusters_.items() if isinstance(v, dict) and "counts" in v), "")
    counted = _cluster_counts(clusters_.get(first_set, {}), lang)
    cl_table = _counts_table(counted, "cluster", "units")
    thumbs = "".join(
        f"<figure class='thumb'><a href='{href(f)}'><img src='{href(f)}' width='240' "
        f"loading='lazy' alt='{escape(f)}'></a><figcaption>{escape(f.rsplit('/', 1)[-1])}"
        "</figcaption></figure>"
        for f in figures or []
    )
    w = section_words("index", lang)
    english = _said_tables if w["lang"] == "zh" else (lambda html: html)  # built in English
    stage_rows = [[escape(n), escape(v)] for n, v in summary.get("stages", {}).items()]
    stages = _table(["stage", "status"], stage_rows) if stage_rows else ""
    cl_section = (
        f"<h2>{w['h_city_clusters']} <small>"
        f"({escape(clusters_.get(first_set, {}).get('name', first_set))})</small></h2>"
        + english(cl_table) if clusters_ else ""
    )  # fmt: skip
    said = {k: v for k, v in w.items() if k.startswith(("h_", "p_"))}
    said["p_autocorrelation"] = string.Template(said["p_autocorrelation"]).substitute(
        rules=escape("; ".join(translate(r, lang) for r in rules) or w["see_tables"]))
    page = string.Template(asset("index.html")).substitute(
        lang=html_lang(lang), title=escape(translate(title, lang)), **said,
        generated=string.Template(w["generated"]).substitute(
            version=escape(summary.get("geotool_version", "")), seed=escape(summary.get("seed")),
            permutations=_num(summary.get("permutations"))),
        maps_are=string.Template(w["maps_are"]).substitute(
            assets=escape(w["cdn" if summary.get("maps", {}).get("cdn") else "offline"]))
        + (f"<br>{_link(ONEPAGE, w['onepage'])}" if ONEPAGE in summary.get("files", []) else ""),
        maps=english(_table(["page", "shows", "size"],
                            _map_rows(summary, maps_written, linked, section_words("maps", lang)))),
        auto_tables=english(auto_tables), scatters=english(scatters),
        thumbs=thumbs or f"<p>{w['no_figures']}</p>", clusters=cl_section,
        tiers=english(tier_blocks), inputs=english(inputs) or "<p>–</p>",
        stages=english(stages),
        findings=_findings(summary, lang) + regression_section(summary, lang),
        panel=panel_section(summary, lang),
    )  # fmt: skip
    return check_page(page, "index page")


# ------------------------------------------------------------ the regression section


#: The regression table's note as the stage writes it (then said in the page's language).
_TABLE_NOTE = section_words("regression", "en")["table_note"]


def regression_section(summary: dict[str, Any], lang: str = "en") -> str:
    """The regression stage's part of an index page ("" without one), in ``lang``.

    Its table (the cells of ``regression.html``), the decision guide or the finding, the
    notes, and links to every file the stage wrote: tables, figures (thumbnails), web maps.
    The stage's own sentences (guide, finding, notes) are English, marked so on a Chinese
    page; the headings, table headers and the table's note are in ``lang``.
    """
    reg = summary.get("regression")
    if not isinstance(reg, dict):
        return ""
    said = section_words("regression", lang)
    t = reg.get("table") or {}
    rows = [[said["dependent"], *row[1:]] if row[:1] == ["dependent variable"] else row
            for row in t.get("rows", [])]  # the table's first row, in ``lang``
    table = _table(list(t.get("header", [])), [[escape(c) for c in row] for row in rows], "num")
    said_note = said["table_note"] if t.get("note") == _TABLE_NOTE else t.get("note")
    note = f"<p><small>{escape(said_note)}</small></p>" if said_note else ""
    guide = reg.get("guide") or ""
    lead = (f"<p><b>{said['guide']}</b>{said['guide_of']}: {sentence_html(guide, lang)}</p>"
            if guide else f"<p>{sentence_html(reg.get('finding', ''), lang)}</p>")  # fmt: skip
    notes = "".join(f"<li>{sentence_html(n, lang)}</li>" for n in reg.get("notes", []))
    files = [str(f) for f in reg.get("files", [])]
    web = reg.get("web_maps") or {}
    maps = _table([said["page"], said["shows"]],
                  [[_link(f, escape(f.removeprefix("maps/"))), escape(w)]
                   for f, w in web.items()])  # fmt: skip
    pngs = [f for f in files if f.startswith("figures/") and f.endswith(".png")]
    thumbs = "".join(
        f"<figure class='thumb'><a href='{href(f)}'><img src='{href(f)}' width='360' "
        f"alt='{escape(f)}'></a><figcaption>{escape(f.rsplit('/', 1)[-1])}</figcaption></figure>"
        for f in pngs
    )
    others = [f for f in files if f not in web and f not in pngs]
    links = " · ".join(_link(f, escape(f)) for f in others)
    return (
        f"<h2>{said['h_regression']} <small>({escape(reg.get('model', ''))}; "
        f"{sentence_html(str(reg.get('rows', '')), lang)})</small></h2>{lead}{table}{note}"
        + (f"<h3>{said['h_notes']}</h3><ul>{notes}</ul>" if notes else "")
        + (f"<h3>{said['h_web_maps']}</h3>{maps}" if maps else "")
        + (f"<h3>{said['h_figures']}</h3><div class='figs'>{thumbs}</div>" if thumbs else "")
        + (f"<h3>{said['h_files']}</h3><p>{links}</p>" if links else "")
    )


def regression_page(summary: dict[str, Any], *, title: str, lang: str = "en") -> str:
    """The landing page of ``geotool regress``: its regression section, every value escaped.

    Styled as a run's index page (its stylesheet); ``lang`` is the page's language.
    """
    style = re.search(r"<style>.*?</style>", asset("index.html"), re.S)
    version = escape(summary.get("geotool_version", ""))
    page = (
        f"<!DOCTYPE html><html lang='{html_lang(lang)}'><head>"
        "<meta charset='utf-8'><meta name='viewport' content='width=device-width, "
        f"initial-scale=1'><title>geotool: {escape(title)}</title>"
        f"{style.group(0) if style else ''}</head><body><h1>{escape(title)}</h1>"
        f"<p>{section_words('regression', lang)['generated'].format(version=version)}</p>"
        f"{regression_section(summary, lang)}</body></html>"
    )
    return check_page(page, "regression index page")
