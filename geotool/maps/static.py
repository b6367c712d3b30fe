"""A run's static figures for print: its maps and Moran scatter plots, Chinese or English.

Each takes what the matching page of :mod:`geotool.maps.pages` takes and returns a
:class:`matplotlib.figure.Figure` drawn by :func:`geotool.maps.figure.to_figure`.
Tested units that are not significant, units not tested (no neighbours, not members)
and units outside the universe each get their own colour; legends name the rule.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from geotool import boundaries
from geotool._errors import InputError
from geotool._log import log
from geotool.autocorr import LISA_CLASSES
from geotool.maps.figure import WORDS, Overlay, figure_files, style, to_figure, validate
from geotool.maps.pages import (
    JOIN_COLOURS,
    P_COLOURS,
    STEP_COLOUR,
    cluster_colours,
    km_text,
    marked_points,
    tier_palette,
)

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.figure import Figure

__all__ = [
    "NOT_SIGNIFICANT", "NOT_TESTED", "NO_DATA", "OUTSIDE", "lisa_figure", "moran_figure",
    "report_figures", "value_figure", "vector_lines", "warm",
]  # fmt: skip

#: Tested, not significant / not tested (in the universe) / outside the universe.
NOT_SIGNIFICANT = "#c8c8c8"
NOT_TESTED = "#f3e3a0"
OUTSIDE = "#fbfbfb"
#: A unit of the study whose value is missing (darker than any class of a light ramp).
NO_DATA = "#9e9e9e"
_VALUE_WORDS = {
    "zh": {"title": "{label}", "no_data": "无数据 ({n})", "note": "分级：{how}"},
    "en": {"title": "{label}", "no_data": "no data ({n})", "note": "Classes: {how}"},
}

_T: dict[str, dict[str, Any]] = WORDS["static"]


def _words(lang: str) -> dict[str, Any]:
    validate((), lang=lang)
    return _T[lang]


def _rule(local: pd.DataFrame, lang: str) -> str:
    """The classes' significance rule (``attrs["lisa_rule"]``) in ``lang``."""
    rule = str(local.attrs.get("lisa_rule", "p <= 0.05, no adjustment")).replace("<=", "≤")
    for en, translated in _T[lang].get("rule_words", {}).items():
        rule = rule.replace(en, translated)
    return rule


def _map(column: pd.Series, opts: Mapping[str, Any], **kwargs: Any) -> Figure:
    """The units (default the bundled counties) coloured by ``column``, with the source."""
    layer = boundaries.load("county") if opts["units"] is None else opts["units"]
    units = layer[[layer.geometry.name]].copy()
    units["value"] = column.reindex(units.index)
    words = _T[opts["lang"]]
    source = words["source"] if opts["source"] is None else opts["source"]
    if opts.get("when") and kwargs.get("title"):  # a panel's figure names the year it shows
        kwargs["title"] = f"{kwargs['title']} ({opts['when']})"
    return to_figure(units, "value", source=source, boundaries=_own_boundaries(layer),
                     lang=opts["lang"], **kwargs)  # fmt: skip


def _own_boundaries(units: gpd.GeoDataFrame) -> str | None:
    """The file a user's geometry was read from (:func:`geotool.geofile.read_geometry`)."""
    path = (units.attrs.get("source") or {}).get("path")
    return Path(str(path)).name if path else None


def _tier_words(opts: Mapping[str, Any]) -> dict[str, Any]:
    """The figures' words, a user's study's classes (``opts["own"]``) for the report's tiers."""
    words = _T[opts["lang"]]
    return {**words, **words["own"]} if opts.get("own") else words


def _tiers(info: pd.DataFrame, words: Mapping[str, Any]) -> tuple[dict, dict]:
    """The tiers' legend labels (with the report's rank ranges) and colours (the web's)."""
    tiers = sorted(int(t) for t in info["tier"].dropna().unique())
    ranks = info.attrs.get("tier_ranks") or {}
    if "industrial_rank" in info.columns and ranks and set(tiers) <= set(ranks):
        labels = {t: words["tier_ranks"].format(t=t, lo=ranks[t][0], hi=ranks[t][1])
                  for t in tiers}  # fmt: skip
    else:
        labels = {t: words["tier"].format(t=t) for t in tiers}
    palette = tier_palette(max(tiers, default=1))
    return labels, {t: palette[t] for t in tiers}


def _tier_map(
    info: pd.DataFrame,
    opts: Mapping[str, Any],
    shapes: gpd.GeoDataFrame | None = None,
    **kwargs: Any,
) -> Figure:
    """Ranked units by tier (the report's four tiers, or a user's classes), unranked apart.

    With ``shapes`` (:func:`geotool.tiers.shapes`): each tier's ellipse and mean centre
    in its colour, and the diffusion vectors' lengths and bearings beside the map.
    """
    words = _tier_words(opts)
    labels, colours = _tiers(info, words)
    if shapes is not None:
        kwargs["overlays"] = _tier_overlays(shapes, words)
        kwargs["legend_note"] = "\n".join(vector_lines(shapes, words["steps"], words["step"],
                                                     steps=words["step_heading"]))
    return _map(
        info["tier"], opts, colours=colours, labels=labels, missing_label=words["not_ranked"],
        legend_title=words["tiers"], **kwargs,
    )  # fmt: skip


def vector_lines(
    shapes: gpd.GeoDataFrame, heading: str, step: str, steps: str | None = None
) -> list[str]:
    """The diffusion vectors of ``shapes`` as text: ``heading``, then one ``step`` each.

    ``step`` is formatted with ``a``, ``b`` (tiers), ``km`` (:func:`km_text`) and ``deg``; the
    numbers are the vectors table's (``tables/tiers_vectors_*.csv``), carried by shapes.
    With ``steps`` (a heading), the steps between consecutive centres come first.
    """
    first = shapes.loc[shapes["kind"] == "mean_centre", "tier"].min()
    out = []
    for kind, head in (("step", steps), ("vector", heading)):
        lines = shapes[shapes["kind"] == kind].sort_values("tier")
        if head is None or not len(lines):
            continue
        starts = lines["from"] if kind == "step" else [first] * len(lines)
        out += [head, *(step.format(a=int(a), b=int(t), km=km_text(km), deg=deg)
                        for a, t, km, deg in zip(starts, lines["tier"], lines["length_km"],
                                                 lines["bearing_deg"], strict=True))]  # fmt: skip
    return out


_DASHES = ("solid", "dashed", "dashdot", "dotted")


def _tier_overlays(shapes: gpd.GeoDataFrame, words: Mapping[str, Any]) -> list[Overlay]:
    """Each tier's ellipse and mean centre in its colour, the vectors, the centres' path.

    Colours are :func:`geotool.maps.pages.tier_palette`'s (the tiers' fills); each
    ellipse has its own dash over a white halo; the centres' labels fan out on leader
    lines, so that close centres' do not overlap.
    """
    tiers = sorted(int(t) for t in shapes["tier"].dropna().unique())
    palette = tier_palette(max(tiers, default=1))
    kind = shapes["kind"]
    out: list[Overlay] = []
    for i, t in enumerate(tiers):
        ring = shapes[(kind == "ellipse") & (shapes["tier"] == t)]
        dash = _DASHES[i % len(_DASHES)]
        out += [Overlay(ring, "", {"color": "#ffffff", "linewidth": 2.6, "zorder": 4}),
                Overlay(ring, words["tier_shape"].format(t=t),
                        {"color": palette[t], "linewidth": 1.3, "linestyle": dash,
                         "zorder": 4.1})]  # fmt: skip
    centres = shapes[kind == "mean_centre"].sort_values("tier")
    path = shapes[kind == "step"]  # the centres joined in order, as on the web page
    if len(path):
        out.append(Overlay(path, words["path"], {"color": STEP_COLOUR, "linewidth": 1.6,
                                                 "arrow": True, "zorder": 5}))  # fmt: skip
    arrow = {"color": "#000000", "linewidth": 1.0, "arrow": True, "zorder": 6}
    out.append(Overlay(shapes[kind == "vector"], words["vector"], arrow))
    labelled = centres.assign(text=[str(int(t)) for t in centres["tier"]])
    face = [palette[int(t)] for t in centres["tier"]]
    out.append(Overlay(labelled, words["centre"],
                       {"color": "#000000", "facecolor": face, "markersize": 30,
                        "linewidth": 0.8, "zorder": 7, "leaders": 16,
                        "text_colors": ["#000000"] * len(face)}, text="text"))  # fmt: skip
    return out


def _clusters(
    membership: pd.DataFrame,
    polygons: gpd.GeoDataFrame,
    ranked: pd.Series,
    marked_name: str,
    opts: Mapping[str, Any],
) -> Figure:
    """Member units shaded by primary city cluster, cluster outlines, ranked units marked."""
    words = _T[opts["lang"]]
    en = opts["lang"] != "zh" and "cluster_en" in polygons.columns
    labels = dict(zip(polygons["cluster_id"], polygons["cluster_en" if en else "cluster_zh"],
                      strict=True))  # fmt: skip
    primary = membership["primary_cluster"].where(membership["primary_cluster"].astype(bool))
    overlays = [
        Overlay(polygons, words["outline"], {"color": "#000000", "linewidth": 0.8}),
        Overlay(marked_points(ranked, opts["units"]), marked_name,
                {"color": "#000000", "facecolor": "#ffdd00", "markersize": 9,
                 "linewidth": 0.4}),
    ]  # fmt: skip
    return _map(
        primary, opts, colours=cluster_colours(polygons), labels=labels, missing_label="",
        title=words["clusters"], overlays=overlays,
        legend_title=words["clusters_legend"].format(set=membership.attrs.get("set", "")),
    )  # fmt: skip


def _class_map(
    cls: pd.Series,
    colours: dict[Any, str],
    labels: dict[Any, str],
    opts: Mapping[str, Any],
    **kwargs: Any,
) -> Figure:
    """Units coloured by a class; units outside the universe (not in ``cls``) apart."""
    words = _T[opts["lang"]]
    return _map(
        cls, opts, colours=colours, labels=labels, missing=OUTSIDE,
        missing_label=words["outside"], **kwargs,
    )  # fmt: skip


def _lisa(local: pd.DataFrame, label: str, permutations: int | None, opts: Mapping) -> Figure:
    """LISA classes of one variable; untested units (no neighbours) apart."""
    words = _T[opts["lang"]]
    cls = local["lisa_class"].where(local["p_sim"].notna(), "__untested")
    colours = {k: NOT_SIGNIFICANT if k == "Not significant" else c
               for k, c in LISA_CLASSES.items()} | {"__untested": NOT_TESTED}  # fmt: skip
    labels = dict(words["lisa_classes"]) | {"__untested": words["not_tested"]}
    note = words["rule"].format(rule=_rule(local, opts["lang"]))
    note += words["perms"].format(n=permutations) if permutations else ""
    return _class_map(
        cls, colours, labels, opts, title=words["lisa"].format(label=label),
        legend_title=words["lisa_legend"], legend_note=note,
    )  # fmt: skip


def lisa_figure(
    local: pd.DataFrame,
    *,
    label: str,
    permutations: int | None = None,
    lang: str = "zh",
    units: gpd.GeoDataFrame | None = None,
    source: str | None = None,
) -> Figure:
    """The LISA cluster map of one variable, as ``report_figures`` draws it (``lisa_<key>``).

    ``units`` and ``source`` as in :func:`value_figure` (default: the bundled counties,
    the report's source line).
    """
    _words(lang)
    return _lisa(local, label, permutations, {"lang": lang, "source": source, "units": units})


def _significance(local: pd.DataFrame, label: str, opts: Mapping[str, Any]) -> Figure:
    """Unadjusted pseudo p-values of the local Moran in 3 classes, as the HTML layer."""
    words, lang = _T[opts["lang"]], opts["lang"]
    p = local["p_sim"]
    keys = list(P_COLOURS)[:3]  # "p <= 0.001", "p <= 0.01", "p <= 0.05"
    cls = pd.Series(
        np.select([p <= 0.001, p <= 0.01, p <= 0.05, p.notna()], [*keys, "ns"], default="nt"),
        index=local.index,
    )
    colours = {k: P_COLOURS[k] for k in keys} | {"ns": NOT_SIGNIFICANT, "nt": NOT_TESTED}
    labels = {k: k.replace("<=", "≤") for k in keys}
    labels |= {"ns": words["not_sig"], "nt": words["not_tested"]}
    sided = words["sided"].get(str(local.attrs.get("p_sided", "folded")), "?")
    return _class_map(
        cls, colours, labels, opts, title=words["sig"].format(label=label),
        legend_title=words["sig_legend"].format(sided=sided),
        legend_note=words["sig_note"].format(rule=_rule(local, lang)),
    )  # fmt: skip


def _joins(frame: pd.DataFrame, label: str, opts: Mapping[str, Any]) -> Figure:
    """Local join counts: significant clusters, members not significant, non-members."""
    words = _T[opts["lang"]]
    alpha = float(frame.attrs.get("alpha", 0.05))
    cls = pd.Series(
        np.where(frame["p_sim"].isna(), "nt", np.where(frame["significant"], "c", "ns")),
        index=frame.index,
    )
    colours = {"c": JOIN_COLOURS["cluster"], "ns": JOIN_COLOURS["tested, not significant"],
               "nt": NOT_SIGNIFICANT}  # fmt: skip
    labels = {"c": words["cluster"].format(alpha=alpha), "ns": words["member_not_sig"],
              "nt": words["not_member"]}  # fmt: skip
    note = words["joins_note"].format(alpha=alpha, n=frame.attrs.get("permutations", ""))
    return _class_map(
        cls, colours, labels, opts, title=words["joins"].format(label=label),
        legend_title=words["joins_legend"], legend_note=note,
    )  # fmt: skip


def value_figure(
    values: pd.Series,
    *,
    label: str = "",
    spec: tuple[str, int | None, list[float] | None] | None = None,
    lang: str = "zh",
    units: gpd.GeoDataFrame | None = None,
    source: str | None = None,
    cmap: str = "YlOrRd",
    when: str | None = None,
) -> Figure:
    """A variable's values in classes, for print: bounds, counts and the scheme in the legend.

    ``spec`` is ``(scheme, k, breaks)`` (:func:`geotool._classify.parse_spec`; default
    :func:`geotool._classify.default_spec`); numbers read as on the web legend (12,345 or
    4.48万 by ``label``'s unit). Units of ``values`` without a value are "no data" (dark
    grey), units of the layer (``units``, default the bundled counties) not in ``values``
    are outside. ``source`` replaces the report's source line; ``when`` (a panel's year)
    ends the title.
    """
    from geotool._classify import classes, describe, spec_for

    _words(lang)
    label = label or str(values.name)
    scheme, k, breaks = spec_for(values, spec)
    out = classes(values, scheme=scheme, k=k, breaks=breaks, cmap=cmap, label=label, lang=lang)
    cls = out.codes.astype(object).reindex(values.index).where(values.notna(), "__none")
    colours: dict[Any, str] = dict(enumerate(out.colours))
    labels: dict[Any, str] = dict(enumerate(out.labels))
    words = _VALUE_WORDS[lang]
    if out.missing:
        colours["__none"], labels["__none"] = NO_DATA, words["no_data"].format(n=out.missing)
    layer = boundaries.units() if units is None else units
    outside = not pd.Index(layer.index).isin(values.index).all()
    opts = {"lang": lang, "source": source, "units": units, "when": when}
    return _map(
        cls, opts, colours=colours, labels=labels, missing=OUTSIDE,
        missing_label=_T[lang]["outside"] if outside else "",
        title=words["title"].format(label=label), legend_title=label,
        legend_note=words["note"].format(how=describe(out.scheme, out.k, lang)),
    )  # fmt: skip


def moran_figure(
    local: pd.DataFrame, *, title: str = "", moran_i: float | None = None, lang: str = "zh"
) -> Figure:
    """The Moran scatter plot for print: CJK-capable, the LISA classes in the legend.

    ``local`` is :func:`geotool.autocorr.local_stats`; ``moran_i`` (the global I) is
    printed when given, else the fitted slope (drawn either way).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    words = _words(lang)
    data = local[local["z"].notna() & local["lag"].notna()]
    with style():
        fig = Figure(figsize=(6.0, 5.6))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for cls, colour in LISA_CLASSES.items():
            part = data[data["lisa_class"] == cls]
            ns = cls == "Not significant"
            ax.scatter(
                part["z"], part["lag"], s=16, c=NOT_SIGNIFICANT if ns else colour,
                edgecolors="#888888" if ns else "#333333", linewidths=0.3,
                label=f"{words['lisa_classes'][cls]} ({len(part)})", zorder=2 if ns else 3,
            )  # fmt: skip
        slope = float(np.polyfit(data["z"], data["lag"], 1)[0])
        xs = np.array([data["z"].min(), data["z"].max()])
        ax.plot(xs, slope * xs, color="#000000", linewidth=1.2)
        ax.axhline(0, color="#777777", linewidth=0.6)
        ax.axvline(0, color="#777777", linewidth=0.6)
        ax.set_xlabel(words["moran_x"], fontsize=10)
        ax.set_ylabel(words["moran_y"], fontsize=10)
        ax.tick_params(labelsize=9)
        stat = (words["moran_i"].format(i=moran_i) if moran_i is not None
                else words["slope"].format(s=slope))  # fmt: skip
        ax.set_title(f"{title}\n{stat}" if title else stat, fontsize=11)
        ax.legend(fontsize=8.5, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3,
                  frameon=False, title=words["rule"].format(rule=_rule(local, lang)),
                  title_fontsize=8.5)  # fmt: skip
        fig.tight_layout()
    return fig


def report_figures(
    info: pd.DataFrame,
    *,
    locals_: Mapping[str, pd.DataFrame],
    labels: Mapping[str, str],
    joins: Mapping[str, tuple[str, pd.DataFrame]],
    shapes: gpd.GeoDataFrame,
    membership: pd.DataFrame | None,
    polygons: gpd.GeoDataFrame | None,
    marked: pd.Series | None,
    marked_name: str,
    moran: Mapping[str, float],
    permutations: int | None = None,
    title: str | None = None,
    source: str | None = None,
    lang: str = "zh",
    units: gpd.GeoDataFrame | None = None,
    values: Mapping[str, pd.Series] | None = None,
    classes: tuple[str, int | None, list[float] | None] | None = None,
    when: str | None = None,
    only: Callable[[str], bool] | None = None,
    own_study: bool = False,
) -> Iterator[tuple[str, Figure]]:
    """Every static figure of a run, by file name (no suffix), one at a time.

    ``info`` is the units' table (``tier``; ``industrial_rank`` for the report);
    ``locals_`` and ``labels`` map a variable key to its
    :func:`geotool.autocorr.local_stats` and label; ``joins`` a key to (label,
    :func:`geotool.autocorr.local_join_counts`); ``shapes`` are the first tier table's
    :func:`geotool.tiers.shapes`; no cluster figure without ``membership`` and
    ``polygons``; ``marked`` ranks the units marked on it (default
    ``info["industrial_rank"]``); ``moran`` maps a key to its global Moran's I. A user's
    study gives ``title`` (of the rankings map), ``source`` ("数据：…" / "Data: …") and
    ``units`` (its geometry, indexed like ``info``; default the bundled counties).
    ``values`` maps a key to the variable's values, drawn by :func:`value_figure` in the
    study's ``classes`` (``(scheme, k, breaks)``; default per variable). ``when`` (the year
    a panel's figures show) ends every title. ``only`` (a file name -> bool) chooses the
    figures built, in order (a run shares them between two processes). ``own_study``:
    a user's classes (第 t 类, class t; no data), never the report's 梯队 and 未上榜.

    Yields ``rankings``, ``tiers``, ``clusters``, then per variable ``values_<key>`` (with
    ``values``), ``lisa_<key>``, ``significance_<key>``, ``moran_<key>``, then
    ``ljc_<key>`` per join table.
    """
    if source is not None:
        source = ("数据：" if lang == "zh" else "Data: ") + source
    opts: dict[str, Any] = {"lang": lang, "source": source, "units": units, "when": when,
                            "own": own_study}  # fmt: skip
    words = _tier_words(opts)
    jobs: list[tuple[str, Callable[[], Figure | None]]] = [
        ("rankings", partial(_tier_map, info, opts, title=title or words["rankings"])),
        ("tiers", partial(_tier_map, info, opts, shapes, title=words["diffusion"])),
    ]
    if membership is not None and polygons is not None:
        ranked = info["industrial_rank"].dropna() if marked is None else marked.dropna()
        jobs.append(("clusters", partial(_clusters, membership, polygons, ranked, marked_name,
                                         opts)))  # fmt: skip
    own = {"labels": {}, "join_labels": {}} | words  # the 2020 report's keys, translated
    for key, local in locals_.items():
        label = own["labels"].get(key, labels.get(key, key))
        if values is not None and key in values:
            name = f"values_{key}"
            jobs.append((name, partial(_values_or_none, name, values[key], label=label,
                                       spec=classes, opts=opts)))  # fmt: skip
        title = f"{label} ({when})" if when else label
        jobs += [
            (f"lisa_{key}", partial(_lisa, local, label, permutations, opts)),
            (f"significance_{key}", partial(_significance, local, label, opts)),
            (f"moran_{key}", partial(moran_figure, local, title=title, moran_i=moran.get(key),
                                     lang=lang)),
        ]  # fmt: skip
    for key, (join_label, frame) in joins.items():
        label = own["join_labels"].get(key, join_label)
        jobs.append((f"ljc_{key}", partial(_joins, frame, label, opts)))
    return _built(jobs, only)


def _values_or_none(
    name: str, values: pd.Series, *, label: str, spec: Any, opts: Mapping[str, Any]
) -> Figure | None:
    """:func:`value_figure`, or None (said) where the values cannot be classed."""
    keep = {k: opts[k] for k in ("lang", "units", "source", "when")}
    try:
        return value_figure(values, label=label, spec=spec, **keep)
    except InputError as exc:  # e.g. one distinct value: nothing to class
        log(f"{name} not drawn: {exc}", logging.WARNING)
        return None


def _built(
    jobs: list[tuple[str, Callable[[], Figure | None]]], only: Callable[[str], bool] | None
) -> Iterator[tuple[str, Figure]]:
    """Each job's figure, built when asked for, where ``only`` (by name) wants it."""
    for name, make in jobs:
        if only is None or only(name):
            fig = make()
            if fig is not None:
                yield name, fig


# ------------------------------------------- local views (Gi*, significance, bivariate)

#: The local views' own words (Gi* classes, statistics, bivariate legend), by language.
_LOCAL_WORDS: dict[str, dict[str, Any]] = {
    "zh": {
        "gi": "Gi* 热点与冷点：{label}", "gi_legend": "Gi*（p ≤ 0.01/0.05/0.10）",
        "gi_note": "显著性：{rule}", "hot": "热点 {level}", "cold": "冷点 {level}",
        "sig": "显著性（伪 p 值）：{stat} · {label}",
        "stats": {"gi": "Gi*", "geary": "局部 Geary", "ljc": "局部联接计数"},
        "biv": "双变量分级图：{x} × {y}", "biv_legend": "三分位数（横 · 纵）",
        "low": "低", "mid": "中", "high": "高",
    },
    "en": {
        "gi": "Gi* hot and cold spots: {label}", "gi_legend": "Gi* (p ≤ 0.01/0.05/0.10)",
        "gi_note": "Significance: {rule}", "hot": "Hot spot {level}",
        "cold": "Cold spot {level}", "sig": "Significance (pseudo p): {stat} · {label}",
        "stats": {"gi": "Gi*", "geary": "local Geary", "ljc": "local join counts"},
        "biv": "Bivariate choropleth: {x} × {y}", "biv_legend": "terciles (across · up)",
        "low": "low", "mid": "mid", "high": "high",
    },
}  # fmt: skip


def _gi_figure(local: pd.DataFrame, label: str, opts: Mapping[str, Any]) -> Figure:
    """Gi* hot and cold spots at 99/95/90 % (the web page's classes), untested apart."""
    from geotool.maps.local import GI_COLOURS, gi_star_classes

    words, lang = _T[opts["lang"]], opts["lang"]
    own = _LOCAL_WORDS[lang]
    cls = gi_star_classes(local).fillna("__untested")
    colours = dict(GI_COLOURS) | {"__untested": NOT_TESTED}
    labels = {k: own[k.split()[0].lower()].format(level=k.split()[-1])
              for k in GI_COLOURS if k != "Not significant"}  # fmt: skip
    labels |= {"Not significant": words["not_sig"], "__untested": words["not_tested"]}
    return _class_map(
        cls, colours, labels, opts, title=own["gi"].format(label=label),
        legend_title=own["gi_legend"],
        legend_note=own["gi_note"].format(rule=_gi_rule(local, lang)),
    )  # fmt: skip


def _gi_rule(local: pd.DataFrame, lang: str) -> str:
    """The Gi* levels' rule: sidedness and multiple-comparison adjustment, in ``lang``."""
    adjust = {"none": "no adjustment", "fdr": "FDR", "bonferroni": "Bonferroni"}.get(
        str(local.attrs.get("adjust", "none")), str(local.attrs.get("adjust"))
    )
    sided = _T[lang]["sided"].get(str(local.attrs.get("p_sided", "two-sided")), "")
    rule = f"{sided} p, {adjust}"
    for en, translated in _T[lang].get("rule_words", {}).items():
        rule = rule.replace(en, translated)
    return rule


def _p_figure(p: pd.Series, stat: str, label: str, sided: str, opts: Mapping[str, Any]) -> Figure:
    """GeoDa's significance map of one local statistic's pseudo p (the web page's classes)."""
    from geotool.maps.local import P_CLASS_COLOURS, p_classes

    words, own = _T[opts["lang"]], _LOCAL_WORDS[opts["lang"]]
    cls = p_classes(p).fillna("__untested")
    keys = list(P_CLASS_COLOURS)
    colours = dict(P_CLASS_COLOURS) | {"__untested": NOT_TESTED}
    labels = {k: k.replace("<=", "≤") for k in keys[:3]}
    labels |= {keys[3]: words["not_sig"], "__untested": words["not_tested"]}
    return _class_map(
        cls, colours, labels, opts, title=own["sig"].format(stat=own["stats"][stat], label=label),
        legend_title=words["sig_legend"].format(sided=words["sided"].get(sided, sided)),
    )  # fmt: skip


def _bivariate_figure(x: pd.Series, y: pd.Series, opts: Mapping[str, Any]) -> Figure:
    """3 x 3 tercile classes of two variables, with the 2-D legend square (upper left)."""
    from geotool.maps.local import BIVARIATE_COLOURS, bivariate_classes

    own = _LOCAL_WORDS[opts["lang"]]
    cls = bivariate_classes(x, y)
    names = (own["low"], own["mid"], own["high"])
    colours = {f"{a}-{b}": BIVARIATE_COLOURS[b][a] for b in range(3) for a in range(3)}
    labels = {f"{a}-{b}": f"{names[a]} · {names[b]}" for b in range(3) for a in range(3)}
    fig = _class_map(
        cls["class"], colours, labels, opts, title=own["biv"].format(x=x.name, y=y.name),
        legend_title=own["biv_legend"], legend_note=f"{x.name} · {y.name}",
    )  # fmt: skip
    with style():
        ax = fig.add_axes((0.04, 0.24, 0.125, 0.15))  # lower left, above the scale bar
        ax.imshow([[_rgb(BIVARIATE_COLOURS[b][a]) for a in range(3)] for b in range(3)],
                  origin="lower", extent=(0, 3, 0, 3))  # fmt: skip
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_xlabel(f"{x.name} →", fontsize=6, labelpad=2)
        ax.set_ylabel(f"{y.name} →", fontsize=6, labelpad=2)
        ax.yaxis.set_label_position("right")  # clear of the x label at the corner
    return fig


def _rgb(colour: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(colour)


def local_figures(
    *,
    locals_: Mapping[str, pd.DataFrame],
    gearys: Mapping[str, pd.DataFrame],
    joins: Mapping[str, tuple[str, pd.DataFrame]],
    pairs: Mapping[str, tuple[pd.Series, pd.Series]],
    labels: Mapping[str, str],
    lang: str = "zh",
    source: str | None = None,
    units: gpd.GeoDataFrame | None = None,
    when: str | None = None,
    only: Callable[[str], bool] | None = None,
) -> Iterator[tuple[str, Figure]]:
    """The local views for print, by file name (no suffix), one at a time.

    ``locals_``, ``gearys`` map a variable key to :func:`geotool.autocorr.local_stats` and
    :func:`geotool.autocorr.local_geary`; ``joins`` a key to (label, local join counts);
    ``pairs`` a key to two value series (named). Yields ``hotspots_<key>``,
    ``significance_gi_<key>``, ``significance_geary_<key>`` per variable,
    ``significance_ljc_<key>`` per join table and ``bivariate_<key>`` per pair; the
    LISA's significance map is :func:`report_figures`' ``significance_<key>``; ``when``
    (a panel's year) ends every title; ``only`` as in :func:`report_figures`.
    """
    words = _words(lang)
    if source is not None:
        source = ("数据：" if lang == "zh" else "Data: ") + source
    opts: dict[str, Any] = {"lang": lang, "source": source, "units": units, "when": when}
    own = {"labels": {}, "join_labels": {}} | words
    jobs: list[tuple[str, Callable[[], Figure | None]]] = []
    for key, local in locals_.items():
        label = own["labels"].get(key, labels.get(key, key))
        sided = str(local.attrs.get("p_sided", "two-sided"))
        jobs += [
            (f"hotspots_{key}", partial(_gi_figure, local, label, opts)),
            (f"significance_gi_{key}", partial(_p_figure, local["gi_star_p_sim"], "gi", label,
                                               sided, opts)),
        ]  # fmt: skip
        if key in gearys:
            jobs.append((f"significance_geary_{key}", partial(
                _p_figure, gearys[key]["p_sim"], "geary", label, sided, opts)))  # fmt: skip
    for key, (join_label, frame) in joins.items():
        label = own["join_labels"].get(key, join_label)
        jobs.append((f"significance_ljc_{key}", partial(_p_figure, frame["p_sim"], "ljc", label,
                                                        "folded", opts)))  # fmt: skip
    # a pair's series are named by the variables' labels: the report's in this language
    short = {labels[k]: name.split("（")[0] for k, name in own["labels"].items() if k in labels}
    for key, pair in pairs.items():
        x, y = (v.rename(short.get(str(v.name), v.name)) for v in pair)
        jobs.append((f"bivariate_{key}", partial(_bivariate_figure, x, y, opts)))
    return _built(jobs, only)


def warm(
    units: gpd.GeoDataFrame | None = None, lang: str = "zh", *,
    formats: tuple[str, ...] = ("png",), dpi: int = 30,
) -> None:  # fmt: skip
    """Draw a throwaway value map of ``units`` (default the bundled counties), to warm up.

    Run by a drawing process while the statistics run: libraries imported, fonts loaded
    (and, with ``pdf``, subset), the layers projected, simplified and rasterised at ``dpi``.
    """
    layer = boundaries.load("county") if units is None else units
    values = pd.Series(np.arange(len(layer), dtype=float), index=layer.index)
    figure_files(value_figure(values, label="-", lang=lang, units=units), formats, dpi=dpi)
