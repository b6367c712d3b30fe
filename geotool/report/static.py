"""The report's static figures for print: maps and the Moran scatter, Chinese or English.

Each function takes what the matching HTML figure of :mod:`geotool.report.figures`
takes (the run's ``info`` table, local statistics, tier shapes, cluster polygons) and
returns a :class:`matplotlib.figure.Figure` drawn by :func:`geotool.maps.figure.to_figure`
(projected, scale bar, north arrow, 南海诸岛 inset, caption with the boundaries' source and
vintage); :func:`report_figures` yields every figure of a run by file name, and
:func:`geotool.maps.figure.figure_bytes` turns one into PNG, SVG or PDF bytes.

Every map tells apart the units that were tested and found not significant from those
that were not tested (no neighbours, or not a member for join counts) and from those
outside the analysis' universe, each in its own colour, and its legend names the
significance level and the multiple-comparison rule.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from geotool import boundaries
from geotool.autocorr import LISA_CLASSES
from geotool.maps.figure import Overlay, style, to_figure, validate
from geotool.report.figures import (
    JOIN_COLOURS,
    P_COLOURS,
    TIER_COLOURS,
    cluster_colours,
    marked_points,
)
from geotool.report.rankings import REPORT_TIERS

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.figure import Figure

__all__ = [
    "NOT_SIGNIFICANT",
    "NOT_TESTED",
    "OUTSIDE",
    "clusters_figure",
    "joins_figure",
    "lisa_figure",
    "moran_figure",
    "rankings_figure",
    "report_figures",
    "significance_figure",
    "tiers_figure",
]

#: Tested, not significant / not tested (in the universe) / outside the universe.
NOT_SIGNIFICANT = "#c8c8c8"
NOT_TESTED = "#f3e3a0"
OUTSIDE = "#fbfbfb"

_T = {
    "zh": {
        "source": "数据：《中国工业百强县（市）、百强区发展报告（2020 年）》；geotool 计算",
        "rankings": "2020 中国工业百强县（市）梯队",
        "tier": "第 {t} 梯队",
        "tier_ranks": "第 {t} 梯队（第 {lo}–{hi} 名）",
        "tiers": "梯队",
        "not_ranked": "未上榜",
        "outside": "不在分析范围内",
        "not_sig": "已检验，不显著",
        "not_tested": "未检验（无邻居）",
        "lisa": "LISA 聚类：{label}",
        "lisa_legend": "局部 Moran's I 分类",
        "lisa_classes": {
            "High-High": "高-高",
            "Low-Low": "低-低",
            "Low-High": "低-高",
            "High-Low": "高-低",
            "Not significant": "已检验，不显著",
        },
        "rule": "显著性：{rule}",
        "perms": "；{n} 次条件置换",
        "sig": "显著性（伪 p 值）：{label}",
        "sig_legend": "伪 p 值（未校正，{sided}）",
        "sig_note": "α = 0.05；图中为未校正的 p 值，LISA 分类按 {rule}",
        "joins": "局部联接计数：{label}",
        "joins_legend": "局部联接计数",
        "cluster": "显著聚集（p ≤ {alpha:g}）",
        "member_not_sig": "已检验，不显著",
        "not_member": "未检验（非成员）",
        "joins_note": "α = {alpha:g}，{n} 次条件置换，未作多重比较校正",
        "diffusion": "东西梯次扩散：梯队、标准差椭圆与扩散向量",
        "ellipse": "梯队标准差椭圆",
        "centre": "梯队平均中心",
        "vector": "扩散向量（第 1 梯队 → 第 n 梯队）",
        "clusters": "城市群",
        "clusters_legend": "城市群（{set}）",
        "outline": "城市群边界",
        "moran_x": "标准化值 z",
        "moran_y": "z 的空间滞后（行标准化）",
        "moran_i": "Moran's I = {i:.3f}",
        "slope": "斜率 = {s:.3f}",
    },
    "en": {
        "source": "Data: China's Top-100 Industrial Counties and Districts report (2020); "
        "computed with geotool",
        "rankings": "2020 top-100 industrial counties: tiers",
        "tier": "tier {t}",
        "tier_ranks": "tier {t} (ranks {lo}–{hi})",
        "tiers": "Tiers",
        "not_ranked": "not ranked",
        "outside": "outside the universe",
        "not_sig": "tested, not significant",
        "not_tested": "not tested (no neighbours)",
        "lisa": "LISA clusters: {label}",
        "lisa_legend": "Local Moran classes",
        "lisa_classes": {
            "High-High": "High-High",
            "Low-Low": "Low-Low",
            "Low-High": "Low-High",
            "High-Low": "High-Low",
            "Not significant": "tested, not significant",
        },
        "rule": "Significance: {rule}",
        "perms": "; {n} conditional permutations",
        "sig": "Significance (pseudo p): {label}",
        "sig_legend": "pseudo p (unadjusted, {sided})",
        "sig_note": "α = 0.05; p shown unadjusted; LISA classes use {rule}",
        "joins": "Local join counts: {label}",
        "joins_legend": "Local join counts",
        "cluster": "significant cluster (p ≤ {alpha:g})",
        "member_not_sig": "tested, not significant",
        "not_member": "not tested (not a member)",
        "joins_note": "α = {alpha:g}, {n} conditional permutations, no multiple-comparison "
        "correction",
        "diffusion": "East-west tier diffusion: tiers, standard-deviational ellipses, vectors",
        "ellipse": "tier standard-deviational ellipse",
        "centre": "tier mean centre",
        "vector": "diffusion vector (tier 1 → tier n)",
        "clusters": "City clusters",
        "clusters_legend": "City clusters ({set})",
        "outline": "city-cluster outline",
        "moran_x": "standardised value z",
        "moran_y": "spatial lag of z (row-standardised)",
        "moran_i": "Moran's I = {i:.3f}",
        "slope": "slope = {s:.3f}",
    },
}


def _words(lang: str) -> dict[str, Any]:
    validate((), lang=lang)
    return _T[lang]


_RULE_ZH = {
    "no adjustment": "未校正",
    "FDR": "FDR 校正",
    "Bonferroni": "Bonferroni 校正",
    "two-sided p": "双侧 p",
    "one-sided (folded) p": "单侧 p（折叠，同 GeoDa）",
}
#: The sidedness of local p-values (``attrs["p_sided"]``) in legends, by language.
_SIDED = {
    "en": {"two-sided": "two-sided", "folded": "one-sided, folded"},
    "zh": {"two-sided": "双侧", "folded": "单侧，折叠"},
}

#: The 2020 report's variables and join tables by key, in Chinese.
_LABELS_ZH = {
    "industrial_counties": "工业百强县（得分 = 101 − 名次）",
    "innovation_counties": "创新百强县（得分 = 101 − 名次）",
    "industrial_districts": "工业百强区（得分 = 101 − 名次）",
}
_JOIN_LABELS_ZH = {
    "industrial_counties": "工业百强县成员（BB）",
    "innovation_counties": "创新百强县成员（BB）",
    "industrial_districts": "工业百强区成员（BB）",
    "colocation": "工业百强县 × 创新百强县 共位（CLC）",
}


def _rule(local: pd.DataFrame, lang: str) -> str:
    """The classes' significance rule (``attrs["lisa_rule"]``) in ``lang``."""
    rule = str(local.attrs.get("lisa_rule", "p <= 0.05, no adjustment")).replace("<=", "≤")
    if lang == "zh":
        for en, zh in _RULE_ZH.items():
            rule = rule.replace(en, zh)
        rule = rule.replace(", ", "，")
    return rule


def _units(
    column: pd.Series, name: str = "value", units: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """The units drawn (default the bundled county layer) with one column, on their ids."""
    layer = boundaries.load("county") if units is None else units
    out = layer[[layer.geometry.name]].copy()
    out[name] = column.reindex(out.index)
    return out


def _tier_legend(info: pd.DataFrame, words: Mapping[str, Any]) -> dict[int, str]:
    tiers = sorted(int(t) for t in info["tier"].dropna().unique())
    if "industrial_rank" in info.columns and set(tiers) <= set(REPORT_TIERS):
        return {
            t: words["tier_ranks"].format(t=t, lo=REPORT_TIERS[t][0], hi=REPORT_TIERS[t][1])
            for t in tiers
        }
    return {t: words["tier"].format(t=t) for t in tiers}


def _tier_colours(tiers: list[int]) -> dict[int, str]:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if set(tiers) <= set(TIER_COLOURS):
        return {t: TIER_COLOURS[t] for t in tiers}
    cm = colormaps["Reds_r"].resampled(len(tiers) + 1)
    return {t: to_hex(cm(i)) for i, t in enumerate(tiers)}


def rankings_figure(
    info: pd.DataFrame,
    *,
    title: str | None = None,
    lang: str = "zh",
    units: gpd.GeoDataFrame | None = None,
    source: str | None = None,
) -> Figure:
    """Ranked units by tier (the report's four tiers, or a user's Ward tiers).

    Parameters
    ----------
    info : pandas.DataFrame
        :func:`geotool.report.figures.unit_info` (column ``tier``, on adcodes).
    title : str, optional
        Default: the 2020 report's.
    lang : {"zh", "en"}
        Language of every label.
    source : str, optional
        The data's source line; default the 2020 report.
    units : geopandas.GeoDataFrame, optional
        The units drawn, indexed like ``info`` (a study's own geometry); default the
        bundled county layer. The other figures take it too.

    Returns
    -------
    matplotlib.figure.Figure

    """
    words = _words(lang)
    labels = _tier_legend(info, words)
    return to_figure(
        _units(info["tier"], "tier", units),
        "tier",
        colours=_tier_colours(list(labels)),
        labels=labels,
        missing_label=words["not_ranked"],
        title=title or words["rankings"],
        legend_title=words["tiers"],
        source=words["source"] if source is None else source,
        lang=lang,
    )


def _universe_colours(local: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(tested, untested) masks on the local frame (p_sim missing = not tested)."""
    tested = local["p_sim"].notna()
    return tested, ~tested


def _class_map(
    cls: pd.Series,
    colours: dict[Any, str],
    labels: dict[Any, str],
    *,
    words: Mapping[str, Any],
    title: str,
    legend_title: str,
    legend_note: str,
    source: str | None,
    lang: str,
    units: gpd.GeoDataFrame | None,
) -> Figure:
    """Units coloured by a class, units outside the universe (not in ``cls``) apart."""
    return to_figure(
        _units(cls, "cls", units),
        "cls",
        colours=colours,
        labels=labels,
        missing=OUTSIDE,
        missing_label=words["outside"],
        title=title,
        legend_title=legend_title,
        legend_note=legend_note,
        source=words["source"] if source is None else source,
        lang=lang,
    )


def lisa_figure(
    local: pd.DataFrame,
    *,
    label: str,
    lang: str = "zh",
    units: gpd.GeoDataFrame | None = None,
    source: str | None = None,
    permutations: int | None = None,
) -> Figure:
    """LISA classes of one variable (:func:`geotool.autocorr.local_stats`).

    Units of the universe without a test (no neighbours) and units outside it get their
    own colours; the legend note names the classes' rule (``attrs["lisa_rule"]``).
    """
    words = _words(lang)
    tested, _untested = _universe_colours(local)
    cls = local["lisa_class"].where(tested, "__untested")
    colours = {
        k: (NOT_SIGNIFICANT if k == "Not significant" else c) for k, c in LISA_CLASSES.items()
    }
    colours["__untested"] = NOT_TESTED
    labels: dict[Any, str] = dict(words["lisa_classes"])
    labels["__untested"] = words["not_tested"]
    note = words["rule"].format(rule=_rule(local, lang))
    note += words["perms"].format(n=permutations) if permutations else ""
    return _class_map(
        cls, colours, labels, words=words, title=words["lisa"].format(label=label),
        legend_title=words["lisa_legend"], legend_note=note, source=source, lang=lang, units=units,
    )  # fmt: skip


def significance_figure(
    local: pd.DataFrame,
    *,
    label: str,
    lang: str = "zh",
    units: gpd.GeoDataFrame | None = None,
    source: str | None = None,
) -> Figure:
    """Pseudo p-values of the local Moran (unadjusted, as the HTML layer), in 3 classes.

    "not significant" (tested, p > 0.05), "not tested" (no neighbours) and "outside the
    universe" are three colours; the note says α and the rule the LISA classes use.
    """
    words = _words(lang)
    p = local["p_sim"]
    keys = list(P_COLOURS)[:3]  # "p <= 0.001", "p <= 0.01", "p <= 0.05"
    cls = pd.Series(
        np.select([p <= 0.001, p <= 0.01, p <= 0.05, p.notna()], [*keys, "ns"], default="nt"),
        index=local.index,
    )
    colours = {k: P_COLOURS[k] for k in keys} | {"ns": NOT_SIGNIFICANT, "nt": NOT_TESTED}
    labels = {k: k.replace("<=", "≤") for k in keys} | {
        "ns": words["not_sig"],
        "nt": words["not_tested"],
    }
    return _class_map(
        cls, colours, labels, words=words, title=words["sig"].format(label=label),
        legend_title=words["sig_legend"].format(
            sided=_SIDED[lang].get(str(local.attrs.get("p_sided", "folded")), "?")
        ),
        legend_note=words["sig_note"].format(rule=_rule(local, lang)), source=source, lang=lang,
        units=units,
    )  # fmt: skip


def joins_figure(
    frame: pd.DataFrame,
    *,
    label: str,
    lang: str = "zh",
    units: gpd.GeoDataFrame | None = None,
    source: str | None = None,
) -> Figure:
    """Local join counts (:func:`geotool.autocorr.local_join_counts`): clusters of members.

    Members in a significant cluster, members tested and not significant, units of the
    universe that were not tested (not members), and units outside the universe.
    """
    words = _words(lang)
    alpha = float(frame.attrs.get("alpha", 0.05))
    cls = pd.Series(
        np.where(frame["p_sim"].isna(), "nt", np.where(frame["significant"], "c", "ns")),
        index=frame.index,
    )
    colours = {"c": JOIN_COLOURS["cluster"], "ns": JOIN_COLOURS["tested, not significant"]}
    colours["nt"] = NOT_SIGNIFICANT
    labels = {
        "c": words["cluster"].format(alpha=alpha),
        "ns": words["member_not_sig"],
        "nt": words["not_member"],
    }
    note = words["joins_note"].format(alpha=alpha, n=frame.attrs.get("permutations", ""))
    return _class_map(
        cls, colours, labels, words=words, title=words["joins"].format(label=label),
        legend_title=words["joins_legend"], legend_note=note, source=source, lang=lang, units=units,
    )  # fmt: skip


def tiers_figure(
    info: pd.DataFrame,
    shapes: gpd.GeoDataFrame,
    *,
    title: str | None = None,
    lang: str = "zh",
    units: gpd.GeoDataFrame | None = None,
    source: str | None = None,
) -> Figure:
    """Tiers with their standard-deviational ellipses, mean centres and diffusion vectors.

    The shapes are :func:`geotool.tiers.shapes`: each tier's ellipse and mean centre, and
    the vectors from tier 1's centre to each other tier's.
    """
    words = _words(lang)
    labels = _tier_legend(info, words)
    colours = _tier_colours(list(labels))
    centres = shapes[shapes["kind"] == "mean_centre"].copy()
    centres["text"] = [str(int(t)) for t in centres["tier"]]
    overlays = [
        Overlay(
            shapes[shapes["kind"] == "ellipse"], words["ellipse"],
            {"color": "#08519c", "linewidth": 1.1, "linestyle": "dashed"},
        ),
        Overlay(
            shapes[shapes["kind"] == "vector"], words["vector"],
            {"color": "#000000", "linewidth": 1.4, "arrow": True},
        ),
        Overlay(
            centres, words["centre"],
            {"color": "#08519c", "facecolor": "#ffffff", "markersize": 28, "linewidth": 1.2,
             "zorder": 7},
            text="text",
        ),
    ]  # fmt: skip
    return to_figure(
        _units(info["tier"], "tier", units),
        "tier",
        colours=colours,
        labels=labels,
        missing_label=words["not_ranked"],
        title=title or words["diffusion"],
        legend_title=words["tiers"],
        overlays=overlays,
        source=words["source"] if source is None else source,
        lang=lang,
    )


def clusters_figure(
    membership: pd.DataFrame,
    polygons: gpd.GeoDataFrame,
    info: pd.DataFrame,
    *,
    marked: pd.Series | None = None,
    marked_name: str = "工业百强县 ranked counties",
    lang: str = "zh",
    units: gpd.GeoDataFrame | None = None,
    source: str | None = None,
) -> Figure:
    """Member units shaded by primary city cluster, cluster outlines, ranked units marked."""
    words = _words(lang)
    colours = cluster_colours(polygons)
    name_col = (
        "cluster_zh" if lang == "zh" or "cluster_en" not in polygons.columns else "cluster_en"
    )
    labels = dict(zip(polygons["cluster_id"], polygons[name_col], strict=True))
    primary = membership["primary_cluster"].where(membership["primary_cluster"].astype(bool))
    ranked = info["industrial_rank"].dropna() if marked is None else marked.dropna()
    pts = marked_points(ranked, units)
    overlays = [
        Overlay(polygons, words["outline"], {"color": "#000000", "linewidth": 0.8}),
        Overlay(
            pts, marked_name,
            {"color": "#000000", "facecolor": "#ffdd00", "markersize": 9, "linewidth": 0.4},
        ),
    ]  # fmt: skip
    return to_figure(
        _units(primary, "cluster", units),
        "cluster",
        colours=colours,
        labels=labels,
        missing_label="",
        title=words["clusters"],
        legend_title=words["clusters_legend"].format(set=membership.attrs.get("set", "")),
        overlays=overlays,
        source=words["source"] if source is None else source,
        lang=lang,
    )


def moran_figure(
    local: pd.DataFrame,
    *,
    title: str = "",
    moran_i: float | None = None,
    lang: str = "zh",
) -> Figure:
    """The Moran scatter plot for print: larger, CJK-capable, classes in the legend.

    Parameters
    ----------
    local : pandas.DataFrame
        :func:`geotool.autocorr.local_stats`.
    title : str
        Plot title (any script).
    moran_i : float, optional
        Global Moran's I to print; the fitted slope is drawn either way.
    lang : {"zh", "en"}
        Language of axis labels and classes.

    Returns
    -------
    matplotlib.figure.Figure

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
        stat = (
            words["moran_i"].format(i=moran_i)
            if moran_i is not None
            else words["slope"].format(s=slope)
        )
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
) -> Iterator[tuple[str, Figure]]:
    """Every static figure of a run, by file name (no suffix), one at a time.

    Parameters
    ----------
    info : pandas.DataFrame
        The run's :func:`geotool.report.figures.unit_info` table.
    locals_ : mapping
        Variable key (file-name safe) -> :func:`geotool.autocorr.local_stats`.
    labels : mapping
        Variable key -> label for titles.
    joins : mapping
        File-name key -> (label, :func:`geotool.autocorr.local_join_counts` frame).
    shapes : geopandas.GeoDataFrame
        :func:`geotool.tiers.shapes` of the first tier table.
    membership, polygons : pandas.DataFrame, geopandas.GeoDataFrame, optional
        :func:`geotool.clusters.membership` and :func:`geotool.clusters.polygons`; no
        cluster figure without them.
    marked : pandas.Series, optional
        Ranks by adcode of the units marked on the cluster map.
    marked_name : str
        Their legend entry.
    moran : mapping
        Variable key -> global Moran's I under the default weights.
    permutations : int, optional
        Permutations of the local tests, for the legends.
    title : str, optional
        Title of the rankings map (a user's study).
    source : str, optional
        What the data are (a user's file), written "数据：…" / "Data: …" in the captions;
        default the 2020 report.
    lang : {"zh", "en"}
        Language of the figures.
    units : geopandas.GeoDataFrame, optional
        The units drawn, indexed like ``info`` (a study's own geometry); default the
        bundled county layer.

    Yields
    ------
    tuple of (str, matplotlib.figure.Figure)
        ``rankings``, ``tiers``, ``clusters``, then per variable ``lisa_<key>``,
        ``significance_<key>``, ``moran_<key>``, then ``ljc_<key>`` per join table.

    """
    if source is not None:
        source = ("数据：" if lang == "zh" else "Data: ") + source
    _words(lang)
    opts: dict[str, Any] = {"lang": lang, "source": source, "units": units}
    yield "rankings", rankings_figure(info, title=title, **opts)
    yield "tiers", tiers_figure(info, shapes, **opts)
    if membership is not None and polygons is not None:
        yield (
            "clusters",
            clusters_figure(
                membership, polygons, info, marked=marked, marked_name=marked_name, **opts
            ),
        )
    for key, local in locals_.items():
        label = _LABELS_ZH[key] if lang == "zh" and key in _LABELS_ZH else labels.get(key, key)
        yield (
            f"lisa_{key}",
            lisa_figure(local, label=label, permutations=permutations, **opts),
        )
        yield (
            f"significance_{key}",
            significance_figure(local, label=label, **opts),
        )
        yield f"moran_{key}", moran_figure(local, title=label, moran_i=moran.get(key), lang=lang)
    for key, (join_label, frame) in joins.items():
        shown = _JOIN_LABELS_ZH[key] if lang == "zh" and key in _JOIN_LABELS_ZH else join_label
        yield f"ljc_{key}", joins_figure(frame, label=shown, **opts)
