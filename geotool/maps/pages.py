"""A run's map pages (LISA, tiers, city clusters) and its landing page.

Built on :func:`geotool.maps.unit_map` like any user's map; titles are parameters.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geotool import boundaries, settings
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
from geotool.maps._words import html_lang, section_words, translate

if TYPE_CHECKING:
    import folium

__all__ = [
    "FIELDS", "JOIN_COLOURS", "P_COLOURS", "TAB20", "TIER_COLOURS", "cluster_colours",
    "clusters_map", "index_page", "lisa_map", "marked_points", "tier_colours", "tier_palette",
    "tiers_map"
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
#: What each map of a run shows, for the index page.
MAP_DESCRIPTIONS = {
    "rankings.html": "the three rankings: county tiers, rank quarters of the other two",
    "values.html": "the table's values by quantile class",
    "lisa.html": "local join counts, LISA clusters and significance of every variable",
    "tiers.html": "tiers with their ellipses, mean centres and diffusion vectors",
    "clusters.html": "city clusters (城市群), their outlines and the ranked units",
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
    **kwargs: Any,
) -> folium.Map:
    """Local statistics per variable: local join counts (first), LISA classes, significance.

    ``joins``: label -> :func:`geotool.autocorr.local_join_counts`. The legend names the
    classes' rule (``attrs`` alpha, adjust, p_sided); units outside a statistic's
    universe are blank ("not tested"), tested non-significant ones grey.
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


def tiers_map(
    info: pd.DataFrame,
    shapes: gpd.GeoDataFrame,
    *,
    title: str = "东西梯次扩散 · East-west tier diffusion",
    fields: dict[str, str] | None = None,
    tier_word: str = "tier 梯队",
    **kwargs: Any,
) -> folium.Map:
    """Tiers coloured, with each tier's ellipse and mean centre and the diffusion vectors.

    ``tier_word`` names the classes (the report's 梯队; a user's "class (ward)").
    """
    report = tier_word == "tier 梯队"
    word = "tier" if report else "class"
    overlays = []
    for kind, style in (
        ("ellipse", {"color": "#08519c", "weight": 2, "fill": False}),
        ("vector", {"color": "#000000", "weight": 3}),
        ("mean_centre",
         {"color": "#08519c", "fillColor": "#ffffff", "fillOpacity": 1, "weight": 2}),
    ):  # fmt: skip
        part = shapes[shapes["kind"] == kind].copy()
        what = kind.replace("_", " ")
        if kind == "vector":
            part["label"] = [
                f"{word} 1 -> {word} {t}: {b:.0f}°, {d:.0f} km"
                for t, b, d in zip(part["tier"], part["bearing_deg"], part["length_km"],
                                   strict=True)
            ]  # fmt: skip
        else:
            part["label"] = [f"{word} {int(t)} {what}" for t in part["tier"]]
        overlays.append((f"{word} {what}s", part[["label", "geometry"]], style))
    tiers_ = info["tier"].dropna()
    palette = tier_palette(int(tiers_.max()) if len(tiers_) else len(TIER_COLOURS))
    legend = {f"{word} {t}": c for t, c in palette.items()}
    legend["not ranked" if report else "no value"] = NEUTRAL
    return unit_map(
        [{"name": tier_word, "colours": tier_colours(info)}], table=info,
        fields=fields or FIELDS, legend=legend, legend_title="Tiers" if report else tier_word,
        overlays=overlays, title=title, **kwargs,
    )  # fmt: skip


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
    **kwargs: Any,
) -> folium.Map:
    """Member units shaded by primary cluster, dissolved outlines, ranked units marked."""
    colour = cluster_colours(polygons)
    shaded = {code: colour[c] for code, c in membership["primary_cluster"].items() if c}
    outlines = polygons.copy()  # at map precision: 0.01 degree (~1 km), as the web layer
    outlines["geometry"] = shapely.set_precision(
        shapely.simplify(outlines.geometry.to_numpy(), 0.01), 1e-4
    )
    outlines["label"] = [
        f"{zh} ({d}): {n} units"
        for zh, d, n in zip(outlines["cluster_zh"], outlines["definition"], outlines["n_units"],
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
        for c, zh in zip(polygons["cluster_id"], polygons["cluster_zh"], strict=True)
    }
    return unit_map(
        [{"name": "城市群 primary cluster", "colours": shaded}], table=info,
        fields=fields or FIELDS, legend=legend,
        legend_title=f"City clusters ({membership.attrs.get('set', '')})", overlays=overlays,
        title="城市群 · City clusters", **kwargs,
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


def _counts_table(counts: dict[str, Any], what: str, n: str = "count") -> str:
    """A {label: count} dict as a two-column table."""
    return _table([what, n], [[escape(k), _num(v)] for k, v in counts.items()], "num")


def _link(path: str, text: str) -> str:
    return f"<a href='{href(path)}'>{text}</a>"


def _autocorrelation(summary: dict[str, Any], linked: dict[str, str]) -> tuple[str, str]:
    """The Moran's I tables, and the Moran scatter plots (with their linked views)."""
    auto = summary.get("autocorrelation", {})
    classes = list(LISA_COLOURS)
    rows, scatters = [], []
    for name, res in auto.items():
        if not isinstance(res, dict) or "moran_i" not in res:
            continue
        spec, view = res["default_weights"], linked.get(name)
        mi, counts = res["moran_i"][spec], res.get("lisa_counts", {})
        explore = _link("maps/" + view, "linked view") if view else ""
        rows.append([
            escape(res.get("label", name)), escape(spec), _num(mi["value"]),
            escape(fmt_p(mi["p_norm"])), escape(fmt_p(mi["p_sim"])),
            *(_num(counts.get(c, 0)) for c in classes), explore,
        ])  # fmt: skip
        png = f"figures/moran_scatter_{name}.png"
        if png in (summary.get("files") or [png]):
            scatters.append(
                f"<figure><a href='{href(png)}'><img src='{href(png)}' width='520' "
                f"alt='Moran scatter plot, {escape(name)}'></a><figcaption>"
                f"{escape(res.get('label', name))} ({escape(spec)} weights)"
                + (f" · {explore}" if view else "") + "</figcaption></figure>"
            )  # fmt: skip
    other = [
        [escape(key.replace("_", " ")), _num(res["value"]), escape(fmt_p(res["p_sim"]))]
        for key, res in auto.items()
        if isinstance(res, dict) and "value" in res and "p_sim" in res
    ]
    tables = _table(
        ["variable", "weights", "Moran's I", "p (normal, two-sided)",
         "p (permutation, one-sided)", *classes, "explore"], rows, "num",
    ) + _table(["statistic", "value", "p (permutation)"], other, "num")  # fmt: skip
    return tables, "".join(scatters)


def _map_rows(summary: dict[str, Any], maps_written: dict[str, int], linked: dict) -> list:
    """The rows of the maps table: the map pages, then the linked views."""
    rows = [
        [_link("maps/" + n, escape(n)), escape(MAP_DESCRIPTIONS.get(n, "")),
         f"{size / 1e6:.1f} MB"]
        for n, size in maps_written.items()
        if n not in linked.values()
    ]  # fmt: skip
    auto = summary.get("autocorrelation", {})
    labels = {k: r.get("label", k) for k, r in auto.items() if isinstance(r, dict)}
    return rows + [
        [_link("maps/" + f, escape(f)),
         f"linked LISA view of {escape(labels.get(k, k))}: Moran scatter, cluster and "
         "significance maps; hover, click or brush to link them",
         f"{maps_written.get(f, 0) / 1e6:.1f} MB"]
        for k, f in linked.items()
    ]  # fmt: skip


def _findings(summary: dict[str, Any]) -> str:
    """What the index, divergence and dynamics stages found, in their own sentences."""
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
    if not items:
        return ""
    rows = "".join(f"<li><b>{escape(k)}</b>: {escape(v)}</li>" for k, v in items if v)
    groups = summary.get("divergence", {}).get("groups")
    by = f"<p>Inequality is decomposed between groups: {escape(groups)}.</p>" if groups else ""
    return f"<h2>Findings</h2>{by}<ul>{rows}</ul>"


def _tiers_and_inputs(summary: dict[str, Any]) -> tuple[str, str]:
    """The tiers' tables by region, and the inputs' (report check, matching, universes)."""
    regions = ("east", "central", "west", "northeast")
    tiers = ""
    for name, t in summary.get("tiers", {}).items():
        rows = [[escape(k), *(_num(r.get(g, 0)) for g in regions)]
                for k, r in t.get("by_region", {}).items()]  # fmt: skip
        tiers += (
            f"<h3>{escape(name.replace('_', ' '))} <small>({escape(t.get('tiers', ''))})"
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
    auto_tables, scatters = _autocorrelation(summary, linked)
    tier_blocks, inputs = _tiers_and_inputs(summary)
    clusters_ = summary.get("clusters", {})
    first_set = next((k for k, v in clusters_.items() if isinstance(v, dict) and "counts" in v), "")
    cl_table = _counts_table(clusters_.get(first_set, {}).get("counts", {}), "cluster", "units")
    thumbs = "".join(
        f"<figure class='thumb'><a href='{href(f)}'><img src='{href(f)}' width='240' "
        f"loading='lazy' alt='{escape(f)}'></a><figcaption>{escape(f.rsplit('/', 1)[-1])}"
        "</figcaption></figure>"
        for f in figures or []
    )
    w = section_words("index", lang)
    english = (lambda html: f'<div lang="en">{html}</div>' if html else "") if (
        w["lang"] != "en") else (lambda html: html)  # the tables and sentences: English
    stage_rows = [[escape(n), escape(v)] for n, v in summary.get("stages", {}).items()]
    stages = _table(["stage", "status"], stage_rows) if stage_rows else ""
    cl_section = (
        f"<h2>{w['h_city_clusters']} <small>({escape(first_set)})</small></h2>"
        + english(cl_table) if clusters_ else ""
    )  # fmt: skip
    said = {k: v for k, v in w.items() if k.startswith(("h_", "p_"))}
    said["p_autocorrelation"] = string.Template(said["p_autocorrelation"]).substitute(
        rules=escape("; ".join(translate(r, lang) for r in rules) or w["see_tables"]))
    page = string.Template(asset("index.html")).substitute(
        lang=html_lang(lang), title=escape(title), **said,
        generated=string.Template(w["generated"]).substitute(
            version=escape(summary.get("geotool_version", "")), seed=escape(summary.get("seed")),
            permutations=_num(summary.get("permutations"))),
        maps_are=string.Template(w["maps_are"]).substitute(
            assets=escape(w["cdn" if summary.get("maps", {}).get("cdn") else "offline"])),
        maps=english(_table(["page", "shows", "size"], _map_rows(summary, maps_written, linked))),
        auto_tables=english(auto_tables), scatters=english(scatters),
        thumbs=thumbs or f"<p>{w['no_figures']}</p>", clusters=cl_section,
        tiers=english(tier_blocks), inputs=english(inputs) or "<p>–</p>",
        stages=english(stages), findings=english(_findings(summary)),
    )  # fmt: skip
    return check_page(page, "index page")
