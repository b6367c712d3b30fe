"""GeoDa's local views as offline pages: Gi* hot and cold spots, significance, bivariate.

Each view's classes come from one public function (:func:`gi_star_classes`,
:func:`p_classes`, :func:`bivariate_classes`, :func:`join_classes`), which the static
figures (:mod:`geotool.maps.static`) share, so a page, a figure and a run's tables
count the same units in each class. Pages are drawn by :func:`geotool.maps.unit_map`
(Leaflet inlined, every name escaped); :func:`local_pages` writes a run's set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from geotool import autocorr
from geotool._html import escape
from geotool.maps import NOT_SIGNIFICANT, NOT_TESTED, P_CLASSES, SIDED_WORDS, to_html, unit_map
from geotool.maps._linked import ADJUST_WORDS
from geotool.maps._words import section_words, translate

if TYPE_CHECKING:
    import folium

__all__ = [
    "BIVARIATE_COLOURS", "GI_COLOURS", "GI_LEVELS", "JOIN_CLASS_COLOURS", "P_CLASS_COLOURS",
    "bivariate_classes", "bivariate_map", "gi_star_classes", "gi_star_map", "join_classes",
    "joins_map", "local_pages", "p_classes", "significance_map", "terciles",
]  # fmt: skip

#: Gi* confidence levels: (alpha, label), strictest first.
GI_LEVELS = ((0.01, "99%"), (0.05, "95%"), (0.10, "90%"))
#: Gi* classes: GeoDa's hot red and cold blue (its Local G "High"/"Low") at 99 %,
#: lighter at 95 % and 90 % (its light red and blue of the LISA map at 90 %).
GI_COLOURS = {
    "Hot spot 99%": "#ff0000", "Hot spot 95%": "#f7706a", "Hot spot 90%": "#f4ada8",
    "Cold spot 99%": "#0000ff", "Cold spot 95%": "#5a64fa", "Cold spot 90%": "#a7adf9",
    "Not significant": NOT_SIGNIFICANT,
}  # fmt: skip
#: GeoDa's significance map: p <= 0.001, 0.01, 0.05 in greens, the rest grey.
P_CLASS_COLOURS = {
    **{label: colour for label, _, colour in P_CLASSES[:-1]},
    "not significant": NOT_SIGNIFICANT,
}
#: Local join counts: significant joins, members whose joins are not significant.
JOIN_CLASS_COLOURS = {"significant joins": "#7b3294", "member, not significant": "#c2a5cf"}
#: 3 x 3 bivariate palette (Stevens' pink-blue), [y class][x class], low first.
BIVARIATE_COLOURS = (
    ("#e8e8e8", "#e4acac", "#c85a5a"),
    ("#b0d5df", "#ad9ea5", "#985356"),
    ("#64acbe", "#627f8c", "#574249"),
)
_NOT_TESTED = "not tested"


def _rule(adjust: str, sided: str | None, lang: str = "en") -> str:
    words = ADJUST_WORDS.get(adjust, adjust)
    rule = f"{SIDED_WORDS.get(sided, sided)}, {words}" if sided else words
    return translate(rule, lang).replace(", ", "，") if lang == "zh" else rule


def _lang(kwargs: Mapping[str, Any]) -> str:
    """The page's language as :func:`geotool.maps.unit_map` picks it (China: Chinese)."""
    return str(kwargs.get("lang") or ("zh" if kwargs.get("geo") is None else "en"))


def _said(kwargs: Mapping[str, Any]) -> dict[str, str]:
    """The local pages' words (``maps/words.toml``, ``[local]``) in the page's language."""
    return section_words("local", _lang(kwargs))


def gi_star_classes(local: pd.DataFrame) -> pd.Series:
    """Gi* hot and cold spots at 99/95/90 %, as GeoDa and ArcGIS class them.

    A unit is a hot (cold) spot at a level when its ``gi_star_p_sim`` (sided as the
    table) is significant at 0.01 / 0.05 / 0.10 under the table's multiple-comparison
    rule (``attrs["adjust"]`` or the ``adjust`` column) and ``gi_star_z`` > 0 (< 0).
    Units without a p-value are missing (not tested).
    """
    p = local["gi_star_p_sim"].to_numpy(dtype=float)
    z = local["gi_star_z"].to_numpy(dtype=float)
    adjust = str(local.attrs.get("adjust") or _first(local, "adjust", "none"))
    out = np.full(len(p), "Not significant", dtype=object)
    for alpha, level in reversed(GI_LEVELS):  # the strictest level written last
        # sided/permutations only shape the returned note, not the mask: no log here
        sig = autocorr.significance(p, alpha=alpha, adjust=adjust, sided="two-sided",
                                    permutations=0)[0]  # fmt: skip
        out[sig & (z > 0)] = f"Hot spot {level}"
        out[sig & (z < 0)] = f"Cold spot {level}"
    out[~np.isfinite(p)] = None
    return pd.Series(out, index=local.index, name="gi_star_class", dtype=object)


def _first(frame: pd.DataFrame, column: str, default: str) -> str:
    return str(frame[column].iloc[0]) if column in frame.columns and len(frame) else default


def p_classes(p: pd.Series) -> pd.Series:
    """GeoDa's significance classes of pseudo p-values (as they are, unadjusted); NaN: untested."""
    v = p.to_numpy(dtype=float)
    keys = list(P_CLASS_COLOURS)
    out = np.select([v <= 0.001, v <= 0.01, v <= 0.05, np.isfinite(v)], keys, default="")
    return pd.Series(out, index=p.index, name="p_class", dtype=object).replace("", None)


def join_classes(frame: pd.DataFrame) -> pd.Series:
    """Local join count classes: significant joins, members not significant; NaN untested."""
    sig = frame["significant"].to_numpy(dtype=bool, na_value=False)
    keys = list(JOIN_CLASS_COLOURS)
    out = np.where(sig, keys[0], keys[1]).astype(object)
    out[frame["p_sim"].isna().to_numpy()] = None
    return pd.Series(out, index=frame.index, name="join_class", dtype=object)


def terciles(values: pd.Series) -> pd.Series:
    """Tercile class 0/1/2 of each value: :func:`pandas.qcut` (edges in the lower class).

    Where ties merge quantile edges (a ranking's zeros outside its top 100), the tied
    value (held by at least a third of the units) is one class and the values above
    (below) it are split at their median, so a study's classes stay three.
    """
    v = values.astype(float)
    codes = pd.qcut(v, 3, labels=False, duplicates="drop")
    if codes.nunique() == 3 or v.nunique() < 3:
        return codes.astype(int)
    tied = v.mode().iloc[0]
    below, above = v < tied, v > tied
    out = pd.Series(1, index=v.index, dtype=int)
    if not below.any():  # the minimum tied: low class, the rest in two halves
        out[v == tied] = 0
        out[above] = 1 + pd.qcut(v[above], 2, labels=False, duplicates="drop").astype(int)
    elif not above.any():
        out[v == tied] = 2
        out[below] = pd.qcut(v[below], 2, labels=False, duplicates="drop").astype(int)
    else:
        out[below], out[above] = 0, 2
    return out


def bivariate_classes(x: pd.Series, y: pd.Series) -> pd.DataFrame:
    """Tercile classes of two variables on their common units (:func:`terciles`).

    Columns ``x_class``, ``y_class`` (0 low .. 2 high), ``class`` ("x-y", e.g. "2-0"
    high x, low y) and ``colour`` (:data:`BIVARIATE_COLOURS`).
    """
    both = pd.concat([x.rename("x"), y.rename("y")], axis=1, join="inner").dropna()
    cx, cy = terciles(both["x"]), terciles(both["y"])
    return pd.DataFrame({
        "x_class": cx, "y_class": cy,
        "class": [f"{a}-{b}" for a, b in zip(cx, cy, strict=True)],
        "colour": [BIVARIATE_COLOURS[b][a] for a, b in zip(cx, cy, strict=True)],
    }, index=both.index)  # fmt: skip


def _layer(name: str, classes: pd.Series, palette: Mapping[str, str]) -> dict[str, Any]:
    colours = {str(c): palette[k] for c, k in classes.dropna().items()}
    return {"name": name, "colours": colours, "neutral": NOT_TESTED}


def _line(label: str, classes: pd.Series, parts: dict[str, pd.Series]) -> dict[str, Any]:
    """A tooltip line: the unit's class, then the numbers (``"p"`` formatted as p-values)."""
    order = list(dict.fromkeys(classes.dropna()))
    at = {c: i for i, c in enumerate(order)}
    cols = [s.reindex(classes.index).to_numpy(dtype=float) for s in parts.values()]
    rows = {
        str(code): [at[c], *(float(col[i]) for col in cols)]
        for i, (code, c) in enumerate(classes.items()) if isinstance(c, str)
    }  # fmt: skip
    formats = [None, *("p" if k == "p" else "g4" for k in parts)]
    return {"label": label, "parts": ["", *parts], "classes": order, "formats": formats,
            "rows": rows}  # fmt: skip


def gi_star_map(
    locals_: Mapping[str, pd.DataFrame], info: pd.DataFrame | None = None, *,
    title: str = "", **kwargs: Any,
) -> folium.Map:
    """Gi* hot and cold spots of each variable (label -> :func:`autocorr.local_stats`).

    The legend states the rule the levels use (the tables' sidedness and adjustment).
    """
    w = _said(kwargs)
    layers, lines, rules = [], [], []
    for label, local in locals_.items():
        classes = gi_star_classes(local)
        layers.append(_layer(w["gi_layer"].format(label=label), classes, GI_COLOURS))
        lines.append(_line(f"Gi* {label}", classes,
                           {"z": local["gi_star_z"], "p": local["gi_star_p_sim"]}))
        rules.append(_rule(str(local.attrs.get("adjust") or _first(local, "adjust", "none")),
                           local.attrs.get("p_sided") or _first(local, "p_sided", ""), w["lang"]))
    legend = {**GI_COLOURS, w["no_p"]: NOT_TESTED}
    levels = "/".join(f"{a:g}" for a, _ in GI_LEVELS)
    legend_title = w["gi_legend"].format(levels=levels, rules="; ".join(dict.fromkeys(rules)))
    return unit_map(layers, table=info, legend=legend, legend_title=legend_title,
                    title=title or w["gi_title"], lines=lines, **kwargs)  # fmt: skip


def significance_map(
    pvalues: Mapping[str, pd.Series], info: pd.DataFrame | None = None, *,
    title: str = "", sided: str | None = None, **kwargs: Any,
) -> folium.Map:
    """GeoDa's significance map of each local statistic's pseudo p (label -> p-values)."""
    w = _said(kwargs)
    layers, lines = [], []
    for label, p in pvalues.items():
        classes = p_classes(p)
        layers.append(_layer(w["sig_layer"].format(label=label), classes, P_CLASS_COLOURS))
        lines.append(_line(label, classes, {"p": p}))
    legend = {**P_CLASS_COLOURS, w["no_p"]: NOT_TESTED}
    what = translate(SIDED_WORDS.get(sided, sided), w["lang"]) + w["semicolon"] if sided else ""
    legend_title = w["sig_legend"].format(what=what)
    return unit_map(layers, table=info, legend=legend, legend_title=legend_title,
                    title=title or w["sig_title"], lines=lines, **kwargs)  # fmt: skip


def joins_map(
    joins: Mapping[str, pd.DataFrame], info: pd.DataFrame | None = None, *,
    title: str = "", **kwargs: Any,
) -> folium.Map:
    """Members of 0/1 variables whose joins with member neighbours are significant."""
    w = _said(kwargs)
    layers, lines, alphas = [], [], []
    for label, frame in joins.items():
        classes = join_classes(frame)
        layers.append(_layer(w["joins_layer"].format(label=label), classes, JOIN_CLASS_COLOURS))
        lines.append(_line(w["joins_line"].format(label=label), classes,
                           {w["joins"]: frame["ljc"], "p": frame["p_sim"]}))  # fmt: skip
        alphas.append(f"{float(frame.attrs.get('alpha', 0.05)):g}")
    legend = {**JOIN_CLASS_COLOURS, w["no_member"]: NOT_TESTED}
    legend_title = w["joins_legend"].format(alphas="/".join(dict.fromkeys(alphas)))
    return unit_map(layers, table=info, legend=legend, legend_title=legend_title,
                    title=title or w["joins_title"], lines=lines, **kwargs)  # fmt: skip


def bivariate_map(
    pairs: Mapping[str, tuple[pd.Series, pd.Series]], info: pd.DataFrame | None = None, *,
    title: str = "", **kwargs: Any,
) -> folium.Map:
    """3 x 3 classes of two variables per layer (name -> (x, y)), a 2-D legend square.

    The square's axes name the first layer's variables (``x.name`` across, ``y.name`` up).
    """
    w = _said(kwargs)
    tercile = dict(enumerate(w["terciles"].split("/")))
    layers, lines = [], []
    for name, (x, y) in pairs.items():
        cls = bivariate_classes(x, y)
        layers.append({"name": name, "colours": cls["colour"].to_dict(), "neutral": NOT_TESTED})
        shown = pd.Series([w["bivariate_class"].format(x=tercile[a], y=tercile[b]) for a, b in
                           zip(cls["x_class"], cls["y_class"], strict=True)], index=cls.index)
        lines.append(_line(name, shown, {str(x.name): x, str(y.name): y}))
    fmap = unit_map(layers, table=info, title=title or w["bivariate_title"], lines=lines,
                    **kwargs)  # fmt: skip
    x, y = next(iter(pairs.values()))
    _add_square(fmap, str(x.name), str(y.name), w["square"])
    return fmap


def _add_square(fmap: folium.Map, x_name: str, y_name: str, note: str) -> None:
    """The 2-D legend square (escaped; braces as entities, the page is a Jinja template)."""
    from branca.element import Element

    cells = "".join(
        f'<div style="background:{BIVARIATE_COLOURS[2 - r][c]}"></div>'
        for r in range(3) for c in range(3)
    )  # fmt: skip
    html = (
        '<div class="geotool-legend geotool-bivariate" style="position:absolute;bottom:28px;'
        "right:10px;z-index:1000;background:rgba(255,255,255,.92);padding:6px 9px;"
        'font:12px sans-serif;border:1px solid #bbb;border-radius:4px;max-width:220px">'
        f'<div style="font-weight:bold">↑ {escape(y_name)}</div>'
        '<div style="display:grid;grid-template-columns:repeat(3,22px);'
        f'grid-auto-rows:22px;gap:1px;margin:4px 0">{cells}</div>'
        f'<div style="font-weight:bold">→ {escape(x_name)}</div>'
        f"<div>{escape(note)}</div></div>"
    )
    html = html.replace("{", "&#123;").replace("}", "&#125;")
    fmap.get_root().html.add_child(Element(html))  # type: ignore[attr-defined]


def local_pages(
    *,
    locals_: Mapping[str, pd.DataFrame],
    gearys: Mapping[str, pd.DataFrame],
    joins: Mapping[str, pd.DataFrame],
    pairs: Mapping[str, tuple[pd.Series, pd.Series]],
    info: pd.DataFrame | None = None,
    title: str = "",
    **kwargs: Any,
) -> dict[str, str]:
    """A run's local views as HTML by file: hotspots, significance, bivariate, joins.

    ``locals_`` and ``gearys`` map a variable's label to :func:`autocorr.local_stats`
    and :func:`autocorr.local_geary`; ``joins`` a label to local join counts; ``pairs``
    a layer name to two value series. ``kwargs`` go to :func:`unit_map`.
    """
    w = _said(kwargs)
    suffix = f" · {title}" if title else ""
    built = {"maps/hotspots.html": gi_star_map(locals_, info, title=w["gi_page"] + suffix,
                                               **kwargs)}  # fmt: skip
    pvalues = {f"LISA {k}": v["p_sim"] for k, v in locals_.items()}
    pvalues |= {f"Gi* {k}": v["gi_star_p_sim"] for k, v in locals_.items()}
    pvalues |= {w["geary"].format(label=k): v["p_sim"] for k, v in gearys.items()}
    pvalues |= {w["joins_p"].format(label=k): v["p_sim"] for k, v in joins.items()}
    sided = next((str(v.attrs["p_sided"]) for v in locals_.values() if "p_sided" in v.attrs),
                 None)  # fmt: skip
    if sided and joins:
        sided = translate(SIDED_WORDS.get(sided, sided), w["lang"]) + w["joins_sided"]
    built["maps/significance.html"] = significance_map(
        pvalues, info, title=w["sig_title"] + suffix, sided=sided, **kwargs
    )
    if pairs:
        built["maps/bivariate.html"] = bivariate_map(
            pairs, info, title=w["bivariate_page"] + suffix, **kwargs
        )
    if joins:
        built["maps/joins.html"] = joins_map(joins, info, title=w["joins_page"] + suffix,
                                             **kwargs)  # fmt: skip
    return {name: to_html(fmap) for name, fmap in built.items()}
