"""Figures of divergence, convergence and composite indices, Chinese or English.

Each function takes a result of :mod:`geotool.divergence` or :mod:`geotool.composite`
and returns a :class:`matplotlib.figure.Figure` (no pyplot state), drawn with the static
figures' font (:func:`geotool.maps.figure.style`) so Chinese renders anywhere; write it
with :func:`geotool.maps.figure.figure_bytes`. Every title, axis label and legend is in
``lang``; group labels that are the report's regions (东部 ... / east ...) are translated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from geotool import boundaries, settings
from geotool._classify import MAX_CLASSES, bins
from geotool._errors import InputError
from geotool.divergence import REGIONS
from geotool.maps.figure import (
    NEUTRAL,
    boundaries_caption,
    is_plane,
    polygon_paths,
    style,
    validate,
)
from geotool.maps.figure import china_scope as scope

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "class_breaks", "convergence_chart", "dimension_maps", "group_label", "inequality_chart",
    "moran_by_year_chart", "sigma_chart", "theil_group_chart",
]  # fmt: skip

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "year": "year", "theil": "Theil index", "between": "between groups",
        "within": "within groups", "total": "Theil (total)",
        "share": "between-group share of Theil", "gini": "Gini",
        "ineq_title": "Inequality across {n} units, {y0}–{y1}: Theil and its decomposition",
        "ineq_plain": "Inequality across {n} units, {y0}–{y1}: Theil index",
        "ineq_one": "Theil in {year} across {n} units: between and within groups",
        "ineq_caption": "Theil {verb} from {t0:.4f} ({y0}) to {t1:.4f} ({y1}).",
        "share_caption": " Between-group share: {s0:.0%} ({y0}), {s1:.0%} ({y1}).",
        "rose": "rose", "fell": "fell",
        "group_title": "Within-group Theil by group, {year}",
        "contribution": "contribution to within-group Theil (s_g · T_g)",
        "value_share": "share of the total value", "unit_share": "share of the units",
        "sigma": "σ (std of the log values)", "sigma_title": "σ-convergence, {y0}–{y1}",
        "tested": "years tested ({y0}, {y1})",
        "beta_x": "log level in {start}", "beta_y": "average annual log growth, {start}–{end}",
        "beta_title": "β-convergence, {start}–{end} ({n} units)",
        "ols": "OLS fit: β = {beta:.4f} ({p})",
        "through": "slope β = {beta:.4f} ({p}) through the means ({model} model)",
        "speed": "speed λ = {speed:.2%} a year, half-life {half:.0f} years",
        "no_speed": "no implied speed (β ≥ 0 or 1 + βT ≤ 0)",
        "units": "units", "r2": "R²", "pseudo_r2": "pseudo R²", "sep": "; ",
        "classes": "quantile classes", "missing": "no data",
        "maps_caption": "Quantile classes ({k}) per map; breaks rounded.",
        "unplaced": " {n} unit(s) of scores have no geometry and are not drawn.",
        "plane": "No CRS: drawn unprojected, in the data's own plane coordinates.",
    },
    "zh": {
        "year": "年份", "theil": "泰尔指数", "between": "组间差异", "within": "组内差异",
        "total": "泰尔指数（总体）", "share": "组间差异占泰尔指数的比重", "gini": "基尼系数",
        "ineq_title": "{y0}–{y1} 年 {n} 个单元间的不平等：泰尔指数及其分解",
        "ineq_plain": "{y0}–{y1} 年 {n} 个单元间的不平等：泰尔指数",
        "ineq_one": "{year} 年 {n} 个单元的泰尔指数：组间与组内",
        "ineq_caption": "泰尔指数从 {t0:.4f}（{y0} 年）{verb} {t1:.4f}（{y1} 年）。",
        "share_caption": "组间差异占比：{s0:.0%}（{y0} 年），{s1:.0%}（{y1} 年）。",
        "rose": "升至", "fell": "降至",
        "group_title": "{year} 年各组的组内泰尔指数",
        "contribution": "对组内泰尔指数的贡献（s_g · T_g）",
        "value_share": "占总值的比重", "unit_share": "占单元数的比重",
        "sigma": "σ（对数值的标准差）", "sigma_title": "σ 收敛（{y0}–{y1} 年）",
        "tested": "检验年份（{y0} 年、{y1} 年）",
        "beta_x": "{start} 年水平的对数", "beta_y": "{start}–{end} 年对数年均增长率",
        "beta_title": "β 收敛（{start}–{end} 年，{n} 个单元）",
        "ols": "OLS 拟合：β = {beta:.4f}（{p}）",
        "through": "过均值点、斜率 β = {beta:.4f}（{p}）的直线（{model}模型）",
        "speed": "收敛速度 λ = 每年 {speed:.2%}，半衰期 {half:.0f} 年",
        "no_speed": "无收敛速度（β ≥ 0 或 1 + βT ≤ 0）",
        "units": "单元", "r2": "R²", "pseudo_r2": "伪 R²", "sep": "；",
        "classes": "分位数分级", "missing": "无数据",
        "maps_caption": "每幅图按分位数分为 {k} 级；分级界值已取整。",
        "unplaced": "{n} 个有得分的单元无几何图形，未绘出。",
        "plane": "数据无坐标参考系：按其自身平面坐标绘制，未作投影。",
    },
}  # fmt: skip
_SIGMA_ZH = (
    "对数值的标准差 σ 从 {s0:.4f}（{y0} 年）{verb} {s1:.4f}（{y1} 年）：差距{change}"
    "（Carree-Klomp T2 = {t2:.2f}，{p}）。"
)
_REGIONS_EN = {"east": "East", "central": "Central", "west": "West",
               "northeast": "Northeast", "none": "HK, Macao, Taiwan"}  # fmt: skip
_MODELS_ZH = {"absolute": "绝对", "conditional": "条件", "spatial_lag": "空间滞后",
              "spatial_error": "空间误差"}  # fmt: skip
_BETWEEN, _WITHIN, _LINE = "#2c7fb8", "#fdae61", "#222222"


def _words(lang: str) -> dict[str, str]:
    validate((), lang=lang)
    return _WORDS[lang]


def group_label(group: object, lang: str) -> str:
    """A group's label in ``lang``: the report's regions translated, others as they are."""
    text = str(group)
    if lang == "en":
        key = {zh: en for en, zh in REGIONS.items()}.get(text, text)
        return _REGIONS_EN.get(key, text)
    lower = text.lower()
    return REGIONS.get(lower, REGIONS.get({v.lower(): k for k, v in _REGIONS_EN.items()}.get(
        lower, ""), text))  # fmt: skip


def _new_figure(size: tuple[float, float]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def _titled(title: str, head: str, lang: str) -> str:
    """A chart's title: the study's words (a variable's label) before what it shows, when."""
    return f"{title}{'：' if lang == 'zh' else ': '}{head}" if title else head


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _need(frame: object, columns: Sequence[str], name: str, what: str) -> pd.DataFrame:
    """``frame`` if it is a DataFrame with ``columns``, else a one-line refusal."""
    if not isinstance(frame, pd.DataFrame) or not set(columns) <= set(frame.columns):
        msg = f"{name}: pass {what} (a DataFrame with columns {', '.join(columns)})."
        raise InputError(msg)
    if frame.empty:
        raise InputError(f"{name} has no rows; pass {what}.")
    return frame


def _caption(fig: Figure, text: str) -> None:
    fig.text(0.015, 0.012, text, ha="left", va="bottom", fontsize=7, color="#333333", wrap=True)


# ---------------------------------------------------------------- inequality


def inequality_chart(frame: pd.DataFrame, lang: str = "en", *, title: str = "") -> Figure:
    """Theil by year with its between and within parts, and the between-group share.

    ``frame`` is :func:`geotool.divergence.inequality`'s result. Several years: the
    between part stacked under the within part (their top is the total, drawn as a
    line) and, below, the between-group share of Theil. One year: a bar of each part.
    Without groups: Theil alone.
    """
    words = _words(lang)
    frame = _need(frame, ["theil"], "frame", "divergence.inequality(...)'s result")
    split = "theil_between" in frame.columns
    years = frame.index.to_numpy()
    n = int(frame["n_units"].iloc[0]) if "n_units" in frame else len(frame)
    with style():
        if len(frame) == 1:
            fig = _one_year(frame, words, split, n)
        else:
            fig = _new_figure((7.0, 6.0 if split else 4.2))
            grid = fig.add_gridspec(2 if split else 1, 1, height_ratios=[3, 2] if split else [1],
                                    left=0.11, right=0.97, top=0.9, bottom=0.17)  # fmt: skip
            ax = fig.add_subplot(grid[0])
            if split:
                between, within = frame["theil_between"], frame["theil_within"]
                ax.fill_between(years, 0, between, color=_BETWEEN, alpha=0.85,
                                label=words["between"], linewidth=0)  # fmt: skip
                ax.fill_between(years, between, between + within, color=_WITHIN, alpha=0.85,
                                label=words["within"], linewidth=0)  # fmt: skip
            ax.plot(years, frame["theil"], color=_LINE, linewidth=1.4, label=words["total"])
            ax.set_ylabel(words["theil"], fontsize=9)
            ax.set_ylim(0, float(frame["theil"].max()) * 1.3)  # room for the legend above
            ax.legend(fontsize=8, frameon=False, loc="upper left", ncol=3)
            if split:
                ax.tick_params(labelbottom=False)
                ax2 = fig.add_subplot(grid[1], sharex=ax)
                _share_axis(ax2, years, frame["between_share"], words)
            else:
                _year_axis(ax, words["year"])
            head = words["ineq_title" if split else "ineq_plain"]
            head = head.format(n=n, y0=years[0], y1=years[-1])
            ax.set_title(_titled(title, head, lang), fontsize=11, loc="left")
            _caption(fig, _inequality_caption(frame, words, split))
    return fig


def _year_axis(ax: Axes, label: str) -> None:
    """An x axis of years: its label, ticks on whole years only (never 2019.25)."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel(label, fontsize=9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _share_axis(ax: Axes, years: np.ndarray, share: pd.Series, words: dict[str, str]) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.plot(years, share, color=_BETWEEN, linewidth=1.4, marker="o" if len(years) < 25 else "",
            markersize=3, label=words["share"])  # fmt: skip
    # each tick as the percent it is (2.5 %, 5 %), never rounded to whole percents
    ax.yaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x * 100:.6g}%"))
    ax.set_ylim(0, max(float(share.max()) * 1.15, 0.05))
    ax.set_ylabel(words["share"], fontsize=9)
    _year_axis(ax, words["year"])


def _inequality_caption(frame: pd.DataFrame, words: dict[str, str], split: bool) -> str:
    first, last = frame.iloc[0], frame.iloc[-1]
    y0, y1 = frame.index[0], frame.index[-1]
    verb = words["fell" if last["theil"] < first["theil"] else "rose"]
    text = words["ineq_caption"].format(verb=verb, t0=first["theil"], t1=last["theil"], y0=y0,
                                        y1=y1)  # fmt: skip
    if split:
        text += words["share_caption"].format(s0=first["between_share"],
                                              s1=last["between_share"], y0=y0, y1=y1)  # fmt: skip
    return text


def _one_year(frame: pd.DataFrame, words: dict[str, str], split: bool, n: int) -> Figure:
    """One year: a bar of the between and of the within part (or of Theil alone)."""
    row, year = frame.iloc[0], frame.index[0]
    fig = _new_figure((5.0, 4.2))
    ax = fig.add_axes((0.16, 0.14, 0.8, 0.72))
    if split:
        names, values = [words["between"], words["within"]], [row["theil_between"],
                                                              row["theil_within"]]  # fmt: skip
        bars = ax.bar(names, values, color=[_BETWEEN, _WITHIN], width=0.55)
        labels = [f"{v:.4f} ({v / row['theil']:.0%})" for v in values]
    else:
        bars = ax.bar([words["total"]], [row["theil"]], color=_LINE, width=0.4)
        labels = [f"{row['theil']:.4f}"]
    ax.bar_label(bars, labels=labels, fontsize=8, padding=2)
    ax.set_ylabel(words["theil"], fontsize=9)
    ax.margins(y=0.15)
    ax.set_title(words["ineq_one"].format(year=year, n=n), fontsize=10.5, loc="left")
    return fig


def theil_group_chart(
    table: pd.DataFrame, lang: str = "en", *, year: int | None = None, label: str = ""
) -> Figure:
    """Each group's contribution to the within-group Theil, and its value and unit shares.

    ``table`` is :func:`geotool.divergence.theil_by_group`'s result; ``year`` one of its
    years (default the last); ``label`` the variable, first in the title. Left:
    ``contribution`` bars; right: ``value_share`` beside ``unit_share`` (a group richer
    than its size has the longer value bar).
    """
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    words = _words(lang)
    cols = ["contribution", "value_share", "unit_share"]
    table = _need(table, cols, "table", "divergence.theil_by_group(...)'s result")
    years = table.index.get_level_values(0).unique()
    pick = years[-1] if year is None else year
    if pick not in years:
        raise InputError(f"year={year!r} is not a year of table ({years[0]} to {years[-1]}).")
    part = table.xs(pick, level=0)
    names = [group_label(g, lang) for g in part.index]
    pos = np.arange(len(part))[::-1]
    with style():
        fig = _new_figure((7.5, 1.6 + 0.32 * len(part)))
        left, right = fig.subplots(1, 2, sharey=True, gridspec_kw={"wspace": 0.08})
        left.barh(pos, part["contribution"], color=_WITHIN, height=0.6)
        left.set_yticks(pos, names, fontsize=8)
        left.set_xlabel(words["contribution"], fontsize=8.5)
        left.xaxis.set_major_locator(MaxNLocator(4))
        left.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2g}"))
        right.barh(pos + 0.17, part["value_share"], height=0.34, color=_BETWEEN,
                   label=words["value_share"])  # fmt: skip
        right.barh(pos - 0.17, part["unit_share"], height=0.34, color="#bdbdbd",
                   label=words["unit_share"])  # fmt: skip
        right.xaxis.set_major_formatter(_percent())
        right.legend(fontsize=7.5, frameon=False, loc="lower left", bbox_to_anchor=(0, 1),
                     ncol=2, borderaxespad=0.2)  # fmt: skip
        for ax in (left, right):
            ax.tick_params(labelsize=8)
        head = words["group_title"].format(year=pick)
        fig.suptitle(f"{label}{_SEP[lang]}{head}" if label else head, fontsize=11, x=0.02,
                     ha="left")  # fmt: skip
        fig.subplots_adjust(left=0.2, right=0.98, top=0.86, bottom=0.9 / fig.get_figheight())
    return fig


def _percent(decimals: int | None = None) -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=decimals)


# ---------------------------------------------------------------- sigma


def sigma_chart(frame: pd.DataFrame, lang: str = "en", *, title: str = "") -> Figure:
    """σ (the std of the log values) by year; the tested years marked; the test as caption.

    ``frame`` is :func:`geotool.divergence.sigma_convergence`'s result; the caption is
    its ``attrs["finding"]`` (English) or the same sentence in Chinese.
    """
    words = _words(lang)
    frame = _need(frame, ["sigma"], "frame", "divergence.sigma_convergence(...)'s result")
    test = frame.attrs.get("test") or {}
    y0, y1 = test.get("start", frame.index[0]), test.get("end", frame.index[-1])
    with style():
        fig = _new_figure((7.0, 4.4))
        ax = fig.add_axes((0.11, 0.2, 0.86, 0.68))
        years = frame.index.to_numpy()
        ax.plot(years, frame["sigma"], color=_BETWEEN, linewidth=1.5, label=words["sigma"],
                marker="o" if len(frame) < 25 else "", markersize=3)  # fmt: skip
        ends = frame.loc[[y0, y1], "sigma"]
        ax.scatter(ends.index, ends, s=36, color="#d7301f", zorder=3,
                   label=words["tested"].format(y0=y0, y1=y1))  # fmt: skip
        _year_axis(ax, words["year"])
        ax.set_ylabel(words["sigma"], fontsize=9)
        ax.legend(fontsize=8, frameon=False)
        head = words["sigma_title"].format(y0=frame.index[0], y1=frame.index[-1])
        ax.set_title(_titled(title, head, lang), fontsize=11, loc="left")
        _caption(fig, _sigma_caption(frame, test, lang))
    return fig


def _sigma_caption(frame: pd.DataFrame, test: Mapping[str, Any], lang: str) -> str:
    if lang == "en" or not test:
        return str(frame.attrs.get("finding", "")) if lang == "en" else ""
    narrowed = test["sigma_end"] < test["sigma_start"]
    return _SIGMA_ZH.format(
        s0=test["sigma_start"], s1=test["sigma_end"], y0=test["start"], y1=test["end"],
        verb="降至" if narrowed else "升至", change="缩小" if narrowed else "扩大",
        t2=test["t2"], p=_p_text(test["p"]),
    )  # fmt: skip


# ---------------------------------------------------------------- beta


def convergence_chart(
    result: pd.DataFrame,
    points: pd.DataFrame,
    lang: str = "en",
    *,
    groups: pd.Series | None = None,
    title: str = "",
) -> Figure:
    """β-convergence: each unit's log initial level against its growth, and the fit.

    ``result`` is a row of :func:`geotool.divergence.beta_convergence` (or of
    ``spatial_beta_convergence``), ``points`` :func:`geotool.divergence.growth_points`
    of the same panel and years; ``groups`` (on the units' ids) colours the points. The
    absolute model's line is its OLS fit ``const + β x``; another model's is the line of
    slope β through the points' means (its other terms held there). The legend gives β,
    its p, the speed, the half-life and R².
    """
    words = _words(lang)
    cols = ["beta", "p", "speed", "half_life", "start", "end", "n_units"]
    result = _need(result, cols, "result", "divergence.beta_convergence(...)'s result")
    points = _need(points, ["log_initial", "growth"], "points", "divergence.growth_points(...)")
    row, model = result.iloc[0], str(result.index[0])
    if len(points) != row["n_units"] or points.attrs.get("start", row["start"]) != row["start"] \
            or points.attrs.get("end", row["end"]) != row["end"]:  # fmt: skip
        msg = (
            f"points: {len(points)} units over {points.attrs.get('start')}-"
            f"{points.attrs.get('end')}, result: {row['n_units']} over {row['start']}-"
            f"{row['end']}; pass growth_points(...) of the same panel, start and end."
        )
        raise InputError(msg)
    with style():
        fig = _new_figure((7.0, 5.6))
        ax = fig.add_axes((0.12, 0.2, 0.84, 0.68))
        _scatter(ax, points, groups, words, lang)
        x = np.linspace(points["log_initial"].min(), points["log_initial"].max(), 50)
        beta = float(row["beta"])
        if model == "absolute":
            const = float(result.attrs["coefficients"]["const"]["coef"])
            label = words["ols"].format(beta=beta, p=_p_text(row["p"]))
        else:
            const = float(points["growth"].mean() - beta * points["log_initial"].mean())
            name = _MODELS_ZH.get(model, model) if lang == "zh" else model.replace("_", " ")
            label = words["through"].format(beta=beta, p=_p_text(row["p"]), model=name)
        ax.plot(x, const + beta * x, color=_LINE, linewidth=1.4, label=label)
        start, end = int(row["start"]), int(row["end"])  # a row of floats: 2019.0
        ax.set_xlabel(words["beta_x"].format(start=start), fontsize=9)
        ax.set_ylabel(words["beta_y"].format(start=start, end=end), fontsize=9)
        ax.yaxis.set_major_formatter(_percent())
        ax.legend(fontsize=7.5, frameon=False, loc="best")
        head = words["beta_title"].format(start=start, end=end, n=len(points))
        ax.set_title(_titled(title, head, lang), fontsize=11, loc="left")
        _caption(fig, _beta_caption(row, words))
    return fig


def _scatter(
    ax: Axes, points: pd.DataFrame, groups: pd.Series | None, words: dict[str, str], lang: str
) -> None:
    """The units' points, one colour per group (tab10) when groups are given."""
    from matplotlib import colormaps

    if groups is None:
        ax.scatter(points["log_initial"], points["growth"], s=18, color="#6baed6",
                   edgecolors="#08519c", linewidths=0.4, label=words["units"])  # fmt: skip
        return
    if groups.index.has_duplicates or len(points.index.difference(groups.index)):
        raise InputError("groups: give one group for every unit of points (on their ids).")
    by = groups.reindex(points.index).astype(str)
    palette = colormaps["tab10"]
    for i, g in enumerate(sorted(by.unique())):
        part = points[by == g]
        ax.scatter(part["log_initial"], part["growth"], s=18, color=palette(i % 10),
                   edgecolors="#333333", linewidths=0.3,
                   label=f"{group_label(g, lang)} ({len(part)})")  # fmt: skip


def _beta_caption(row: pd.Series, words: dict[str, str]) -> str:
    if math.isfinite(row["speed"]):
        text = words["speed"].format(speed=row["speed"], half=row["half_life"])
    else:
        text = words["no_speed"]
    for key in ("r2", "pseudo_r2"):
        if key in row and pd.notna(row[key]):
            return f"{text}{words['sep']}{words[key]} = {row[key]:.3f}"
    return text


# ---------------------------------------------------------------- small multiples


def class_breaks(values: pd.Series | np.ndarray, k: int = 5) -> list[float]:
    """Upper bounds of ``k`` quantile classes but the last, rounded for a legend.

    The quantiles (mapclassify's, via ``geotool._classify``) are rounded to 2 significant
    digits (3 to 6 where 2 would merge two breaks); breaks outside the values' range are
    dropped, so classes may merge. A value equal to a break is in the class below it.

    >>> class_breaks(np.arange(1, 101) / 7, k=4)
    [3.7, 7.2, 11.0]
    """
    y = np.asarray(values, dtype=float)
    y = y[np.isfinite(y)]
    if len(y) == 0 or np.ptp(y) == 0:
        return []
    raw = bins(y, "quantiles", k)[:-1]
    for digits in range(2, 7):
        out = [float(f"{b:.{digits}g}") for b in raw]
        if len(set(out)) == len(out):
            break
    return sorted({b for b in out if y.min() <= b < y.max()})


def _number(value: float) -> str:
    """A rounded break as written: no exponent, no trailing zeros (0.3, 1200)."""
    return np.format_float_positional(value, trim="-")


def _classes(
    values: pd.Series, k: int, cmap: str, words: dict[str, str]
) -> tuple[np.ndarray, list[tuple[str, str]], list[float]]:
    """Fill per unit (``NEUTRAL`` when missing), the legend (label, colour), the breaks."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    breaks = class_breaks(values, k)
    finite = np.isfinite(values.to_numpy(dtype=float))
    cls = np.searchsorted(np.asarray(breaks), values.to_numpy(dtype=float), side="left")
    cm = colormaps[cmap].resampled(len(breaks) + 1)
    colours = [to_hex(cm(i)) for i in range(len(breaks) + 1)]
    fill = np.where(finite, np.asarray(colours, dtype=object)[np.minimum(cls, len(breaks))],
                    NEUTRAL)  # fmt: skip
    text = [_number(b) for b in breaks]
    names = ([f"≤ {text[0]}"] if text else []) + [f"{a} – {b}" for a, b in zip(
        text[:-1], text[1:], strict=True)] + ([f"> {text[-1]}"] if text else [])  # fmt: skip
    if not text:
        names = [f"{float(values[finite].iloc[0]):.3g}"] if finite.any() else []
    counts = np.bincount(cls[finite], minlength=len(colours))
    pairs = enumerate(zip(names, counts, strict=False))
    legend = [(f"{name} ({c})", colours[i]) for i, (name, c) in pairs]
    if (~finite).any():
        legend.append((f"{words['missing']} ({int((~finite).sum())})", NEUTRAL))
    return fill, legend, breaks


def _map_crs(lonlat_bounds: np.ndarray, crs: Any, china: bool) -> Any:
    """The maps' CRS: China's Albers centred on the map, the data's own, or a fitted Albers.

    Outside China a projected CRS of the data is kept; a geographic one gets an Albers
    equal-area conic with standard parallels at 1/6 and 5/6 of the data's latitudes
    (whole degrees unless the data span under 2 degrees).
    """
    x0, y0, x1, y1 = (float(b) for b in lonlat_bounds)
    if china:
        return re.sub(r"\+lon_0=\S+", f"+lon_0={round((x0 + x1) / 2)}", settings.equal_area_crs)
    if crs.is_projected:
        return crs
    step = (y1 - y0) / 6
    lat1, lat2, lat0, lon0 = y0 + step, y1 - step, (y0 + y1) / 2, (x0 + x1) / 2
    digits = 0 if max(x1 - x0, y1 - y0) >= 2 else 2  # whole degrees but for a small area
    return (
        f"+proj=aea +lat_1={lat1:.{digits}f} +lat_2={lat2:.{digits}f} +lat_0={lat0:.{digits}f} "
        f"+lon_0={lon0:.{digits}f} +datum=WGS84 +units=m +no_defs"
    )


def _geometry(units: gpd.GeoDataFrame, index: pd.Index) -> tuple[np.ndarray, Any, bool, Any]:
    """The units' drawable geometries in the maps' CRS (simplified) and their ids.

    Also whether they lie in China, and (the CRS, the window's bounds, its longer side);
    the CRS is ``None`` for a plane (:func:`geotool.maps.figure.is_plane`), drawn in its
    own coordinates.
    """
    import geopandas as gpd

    if not isinstance(units, gpd.GeoDataFrame):
        raise InputError("units must be a GeoDataFrame (e.g. geotool.geofile.read(...)).")
    geo = units.geometry[~(units.geometry.isna() | units.geometry.is_empty)]
    geo = geo[geo.index.isin(index)]
    if geo.empty:
        raise InputError("units: no geometry on the scores' index; index units like scores.")
    china, crs = False, None
    if not is_plane(units):
        lonlat = geo.to_crs(settings.default_crs).total_bounds
        cx, cy = (lonlat[0] + lonlat[2]) / 2, (lonlat[1] + lonlat[3]) / 2
        china = 73 <= cx <= 136 and 3 <= cy <= 54
        crs = _map_crs(lonlat, units.crs, china)
        geo = geo.to_crs(crs)
    window = geo.total_bounds
    span = float(max(window[2] - window[0], window[3] - window[1]))
    simple = shapely.simplify(geo.to_numpy(), span / 1500, preserve_topology=False)
    return simple, pd.Index(geo.index), china, (crs, window, span)


def _base(crs: Any, window: np.ndarray, span: float) -> tuple[list[Any], list, list]:
    """China's land (province paths), province borders and maritime line near the window.

    In ``crs``; drawn under (land) and over (lines) every panel.
    """
    view = shapely.box(*window).buffer(0.05 * span)
    provinces = boundaries.load("province").geometry.to_crs(crs).to_numpy()
    provinces = shapely.simplify(provinces[shapely.intersects(provinces, view)], span / 1500,
                                 preserve_topology=False)  # fmt: skip
    maritime = boundaries.maritime().geometry.to_crs(crs).to_numpy()
    near = maritime[shapely.intersects(maritime, view)]
    return polygon_paths(provinces), _lines(provinces), _lines(near)


def _lines(geoms: np.ndarray) -> list[np.ndarray]:
    """Every line and polygon ring of ``geoms`` as coordinate arrays."""
    parts = shapely.get_parts(geoms)
    rings = [r for p in parts for r in (shapely.get_rings(p) if shapely.get_type_id(p) == 3
                                         else (p,))]  # fmt: skip
    return [shapely.get_coordinates(r) for r in rings]


def dimension_maps(
    units: gpd.GeoDataFrame,
    scores: pd.DataFrame,
    columns: Sequence[str],
    labels: Mapping[str, str] | None = None,
    lang: str = "en",
    *,
    k: int = 5,
    cmap: str = "YlOrRd",
    ncols: int | None = None,
    source: str = "",
    title: str = "",
) -> Figure:
    """Small multiples: one choropleth per column of ``scores`` on one shared layout.

    ``scores`` is e.g. :class:`geotool.composite.Composite`'s ``scores`` (the score and a
    column per dimension); ``units`` a GeoDataFrame on its index, any CRS (China's units
    are drawn in its Albers equal-area conic with the maritime line, others in their own
    projected CRS or an Albers conic fitted to them; units without a CRS, a plane, are
    drawn unprojected, as the caption says). Each map has ``k`` quantile classes
    with rounded breaks (:func:`class_breaks`), its title from ``labels`` (default the
    column's name), its legend on a light ground (legible over the units); ``title``
    above them all (what the maps show, e.g. a model and its formula). Units of
    ``scores`` without geometry are counted in the caption. ``fig.geotool`` holds
    ``breaks`` (column: list), ``crs`` and ``unplaced``.
    """
    from matplotlib import colormaps

    words = _words(lang)
    if isinstance(columns, str) or not columns or not isinstance(scores, pd.DataFrame):
        raise InputError("columns: pass a list of columns of scores (a DataFrame).")
    absent = [c for c in columns if c not in scores.columns]
    if absent:
        raise InputError(f"columns: {absent[:3]} are not columns of scores; pick from "
                         f"{list(scores.columns)[:8]}.")  # fmt: skip
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= MAX_CLASSES:
        raise InputError(f"k={k!r}: give a whole number of classes from 2 to {MAX_CLASSES}.")
    if cmap not in colormaps:
        raise InputError(f"cmap={cmap!r} is not a matplotlib colormap (e.g. 'YlOrRd').")
    geoms, index, china, (crs, window, span) = _geometry(units, scores.index)
    paths = polygon_paths(geoms)
    base = _base(crs, window, span) if china else None
    if base is not None and scope(units.geometry.to_crs("EPSG:4326").to_numpy()) != "national":
        base = (base[0], base[1], [])  # the maritime line on national maps only (issue 24)
    ncols = ncols or (1 if len(columns) == 1 else 2 if len(columns) <= 4 else 3)
    nrows = math.ceil(len(columns) / ncols)
    aspect = (window[3] - window[1]) / (window[2] - window[0])
    width = 7.5 / ncols
    cell = width * min(max(aspect, 0.45), 1.3) + 0.3
    breaks: dict[str, list[float]] = {}
    top = 0.3 if title else 0.0  # inches above the maps for the title
    with style():
        fig = _new_figure((7.5, nrows * cell + 0.45 + top))
        height = fig.get_figheight()
        if title:
            fig.text(0.01, 1 - 0.08 / height, title, ha="left", va="top", fontsize=10,
                     fontweight="bold")  # fmt: skip
        for i, col in enumerate(columns):
            r, c = divmod(i, ncols)
            box = (c / ncols + 0.005, 1 - ((r + 1) * cell - 0.02 + top) / height,
                   1 / ncols - 0.01, (cell - 0.3) / height)  # fmt: skip
            values = pd.to_numeric(scores[col], errors="coerce").reindex(index)
            fill, legend, breaks[col] = _classes(values, k, cmap, words)
            _panel(fig.add_axes(box), paths, fill, base, window)
            _panel_legend(fig.axes[-1], (labels or {}).get(col, str(col)), legend, words)
        placed = set(index)
        unplaced = [u for u in scores.index if u not in placed]
        caption = words["maps_caption"].format(k=k)
        caption += words["unplaced"].format(n=len(unplaced)) if unplaced else ""
        if crs is None:
            caption += " " + words["plane"]
        if china:
            caption += "\n" + boundaries_caption(lang, float(re.findall(
                r"\+lon_0=(\S+)", str(crs))[0]))  # fmt: skip
        lines = [s for s in (source, caption) if s]
        fig.text(0.01, 0.008, "\n".join(lines), ha="left", va="bottom", fontsize=6,
                 color="#333333", wrap=True)  # fmt: skip
    shown = "none (unprojected)" if crs is None else str(crs)
    fig.geotool = {"breaks": breaks, "crs": shown, "unplaced": unplaced}  # type: ignore[attr-defined]
    return fig


def _panel(
    ax: Axes, paths: list[Any], fill: np.ndarray, base: tuple | None, window: np.ndarray
) -> None:
    """One map: China's land under the units, the units in their fills, borders over."""
    from matplotlib.collections import LineCollection, PathCollection
    from matplotlib.colors import to_rgba_array

    if base is not None:
        ax.add_collection(PathCollection(base[0], facecolors="#f4f4f4", edgecolors="none",
                                         zorder=0))  # fmt: skip
    kinds, at = np.unique(fill.astype(str), return_inverse=True)
    rgba = to_rgba_array(list(kinds))[at]  # a few colours converted, not one per unit
    ax.add_collection(PathCollection(paths, facecolors=rgba, edgecolors="#ffffff",
                                     linewidths=0.08, zorder=1))  # fmt: skip
    if base is not None:
        ax.add_collection(LineCollection(base[1], colors="#555555", linewidths=0.25,
                                         zorder=2))  # fmt: skip
        ax.add_collection(LineCollection(base[2], colors="#3b3b3b", linewidths=0.5,
                                         zorder=2))  # fmt: skip
    ax.set_xlim(window[0], window[2])
    ax.set_ylim(window[1], window[3])
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()


def _panel_legend(
    ax: Axes, title: str, legend: list[tuple[str, str]], words: dict[str, str]
) -> None:
    """A map's title, and its classes' legend at the lower left, on a light ground."""
    from matplotlib.patches import Patch

    ax.set_title(title, fontsize=9, loc="left", y=1.0)  # fixed y: no bbox of every path
    ax.legend([Patch(facecolor=f, edgecolor="#888888", linewidth=0.3) for _, f in legend],
              [t for t, _ in legend], loc="lower left", fontsize=5.5, frameon=True,
              framealpha=0.85, facecolor="#ffffff", edgecolor="none", fancybox=False,
              handlelength=1.2, handleheight=0.8, labelspacing=0.25, borderaxespad=0,
              title=words["classes"], title_fontsize=5.5, alignment="left")  # fmt: skip


# ---------------------------------------------------------------- a panel's Moran's I

#: Between a chart's variable and the rest of its title.
_SEP = {"zh": "：", "en": ": "}

_MORAN_WORDS = {
    "en": {
        "title": "Moran's I by year, {y0}–{y1} ({n} units)", "i": "Moran's I",
        "year": "year", "sig": "p ≤ {alpha:g} (permutation)", "not": "p > {alpha:g}",
        "expected": "E[I] = −1/(n − 1)",
        "caption": "Global Moran's I of each year over the same {n} units; filled: "
                   "significant at {alpha:g} ({perms} permutations, one-sided), {k} of {t} years.",
    },
    "zh": {
        "title": "{y0}–{y1} 年逐年全局 Moran's I（{n} 个单元）", "i": "Moran's I",
        "year": "年份", "sig": "p ≤ {alpha:g}（置换检验）", "not": "p > {alpha:g}",
        "expected": "期望值 E[I] = −1/(n − 1)",
        "caption": "同一组 {n} 个单元逐年的全局 Moran's I；实心点：在 {alpha:g} 水平显著"
                   "（{perms} 次置换，单侧），{t} 年中有 {k} 年。",
    },
}  # fmt: skip


def moran_by_year_chart(
    frame: pd.DataFrame, lang: str = "en", *, n: int, permutations: int, alpha: float = 0.05,
    label: str = "",
) -> Figure:  # fmt: skip
    """Moran's I by year, the years with permutation ``p_sim <= alpha`` filled.

    ``frame`` is :func:`geotool.dynamics.moran_by_year`'s result (``year, moran_i,
    p_sim, expected``); the title states the variable (``label``) and the years, the
    caption the test.
    """
    _words(lang)
    words = _MORAN_WORDS[lang]
    frame = _need(frame, ["year", "moran_i", "p_sim", "expected"], "frame",
                  "dynamics.moran_by_year(...)'s result")  # fmt: skip
    years, value = frame["year"].to_numpy(int), frame["moran_i"].to_numpy(float)
    sig = frame["p_sim"].to_numpy(float) <= alpha
    y0, y1 = int(years.min()), int(years.max())
    with style():
        fig = _new_figure((7.0, 4.4))
        ax = fig.add_axes((0.11, 0.2, 0.86, 0.68))
        ax.plot(years, value, color=_BETWEEN, linewidth=1.2, zorder=2)
        ax.scatter(years[sig], value[sig], s=18, color=_BETWEEN, zorder=3,
                   label=words["sig"].format(alpha=alpha))  # fmt: skip
        ax.scatter(years[~sig], value[~sig], s=18, facecolors="white", edgecolors=_BETWEEN,
                   zorder=3, label=words["not"].format(alpha=alpha))  # fmt: skip
        ax.plot(years, frame["expected"].to_numpy(float), color=_LINE, linestyle="--",
                linewidth=0.8, label=words["expected"])  # fmt: skip
        _year_axis(ax, words["year"])
        ax.set_ylabel(words["i"], fontsize=9)
        ax.legend(fontsize=8, frameon=False)
        head = words["title"].format(y0=y0, y1=y1, n=n)
        ax.set_title(f"{label}{_SEP[lang]}{head}" if label else head, fontsize=11, loc="left")
        _caption(fig, words["caption"].format(n=n, alpha=alpha, perms=permutations,
                                              k=int(sig.sum()), t=len(years)))  # fmt: skip
    return fig
