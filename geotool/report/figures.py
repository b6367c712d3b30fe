"""The report's figures: its four maps, their colours and the landing page.

Built on the public map engine (:func:`geotool.maps.unit_map`) like any user's map;
the titles are parameters, so a user's run gets its own.
"""

from __future__ import annotations

from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geotool import boundaries, settings
from geotool.autocorr import LISA_CLASSES
from geotool.maps import NEUTRAL, escape, unit_map
from geotool.report import rankings
from geotool.report.rankings import REPORT_TIERS

__all__ = [
    "FIELDS",
    "JOIN_COLOURS",
    "P_COLOURS",
    "QUARTER_COLOURS",
    "TIER_COLOURS",
    "clusters_map",
    "index_page",
    "lisa_map",
    "rankings_map",
    "tiers_map",
    "unit_info",
]

TIER_COLOURS = {1: "#67000d", 2: "#cb181d", 3: "#fb6a4a", 4: "#fcbba1"}
QUARTER_COLOURS = {"1-25": "#08306b", "26-50": "#2171b5", "51-75": "#6baed6", "76-100": "#c6dbef"}
JOIN_COLOURS = {"cluster": "#7b3294", "tested, not significant": "#c2a5cf"}
P_COLOURS = {
    "p <= 0.001": "#006d2c",
    "p <= 0.01": "#31a354",
    "p <= 0.05": "#a1d99b",
    "not significant": NEUTRAL,
}


def _tier_colours(info: pd.DataFrame) -> dict[str, str]:
    """Colour of each ranked unit by its report tier."""
    return {str(c): TIER_COLOURS[int(t)] for c, t in info["tier"].dropna().items()}


def _quarter(rank: int) -> str:
    return next(k for k in QUARTER_COLOURS if rank <= int(k.split("-")[1]))


def unit_info(
    *,
    lisa: pd.DataFrame | None = None,
    membership: pd.DataFrame | None = None,
    values: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The tooltip table of every unit: ranks, tier, region, cluster, LISA class.

    Parameters
    ----------
    lisa : pandas.DataFrame, optional
        :func:`geotool.autocorr.local_stats` of the industrial-county score.
    membership : pandas.DataFrame, optional
        :func:`geotool.clusters.membership` under the set to show.
    values : pandas.DataFrame, optional
        A user's columns by adcode, shown first.

    """
    units = boundaries.units()
    out = pd.DataFrame(index=units.index)
    for name, label in (
        ("industrial_counties", "industrial_rank"),
        ("innovation_counties", "innovation_rank"),
        ("industrial_districts", "district_rank"),
    ):
        table = rankings.load(name).set_index("adcode")
        out[label] = table["rank"].reindex(units.index).astype("Int64")
        if name == "industrial_counties":
            out["tier"] = table["tier"].reindex(units.index).astype("Int64")
    out["region"] = units["region"]
    if membership is not None:
        out["cluster"] = membership["primary_zh"].reindex(units.index)
    if lisa is not None:
        out["lisa_class"] = lisa["lisa_class"].reindex(units.index)
    if values is not None:
        out = values.reindex(units.index).join(out)
    return out


FIELDS = {
    "industrial_rank": "工业百强县 rank",
    "innovation_rank": "创新百强县 rank",
    "district_rank": "工业百强区 rank",
    "tier": "tier 梯队",
    "region": "region",
    "cluster": "城市群 cluster",
    "lisa_class": "LISA (industrial score)",
}


def rankings_map(info: pd.DataFrame, **kwargs: Any) -> folium.Map:
    """The three rankings: county tiers, and rank quarters for the other two rankings."""
    layers: list[dict[str, Any]] = [
        {
            "name": "工业百强县 industrial counties (tiers)",
            "colours": _tier_colours(info),
        },
        {
            "name": "创新百强县 innovation counties (rank)",
            "colours": {
                c: QUARTER_COLOURS[_quarter(int(r))]
                for c, r in info["innovation_rank"].dropna().items()
            },
        },
        {
            "name": "工业百强区 industrial districts (rank)",
            "colours": {
                c: QUARTER_COLOURS[_quarter(int(r))]
                for c, r in info["district_rank"].dropna().items()
            },
        },
    ]
    legend = {
        f"tier {t} (ranks {lo}-{hi})": TIER_COLOURS[t] for t, (lo, hi) in REPORT_TIERS.items()
    }
    legend.update({f"rank {k} (other layers)": v for k, v in QUARTER_COLOURS.items()})
    legend["not ranked"] = NEUTRAL
    return unit_map(
        layers,
        table=info,
        fields=FIELDS,
        legend=legend,
        legend_title="Rankings 2020",
        title="2020 中国工业百强县（市）、百强区 · China's top-100 industrial counties "
        "and districts",
        **kwargs,
    )


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
    """Local statistics per variable: local join counts first, LISA clusters, significance.

    ``joins`` maps a label to :func:`geotool.autocorr.local_join_counts` results: for a
    top-100 membership they are the right local statistic (clusters of ranked units among
    ranked ones), so they are the layer shown first when given. The legend title names the
    classes' significance rule (``attrs["lisa_rule"]`` of
    :func:`geotool.autocorr.local_stats`, e.g. "LISA classes (p <= 0.05, FDR)"); the
    significance layers show the unadjusted ``p_sim``.
    """
    rules = list(
        dict.fromkeys(str(v.attrs["lisa_rule"]) for v in locals_.values() if "lisa_rule" in v.attrs)
    )
    if rules:
        legend_title = f"{legend_title} · LISA classes ({'; '.join(rules)})"
    layers = []
    for label, frame in (joins or {}).items():
        tested = frame["p_sim"].notna()
        colours = {
            c: JOIN_COLOURS["cluster"] if sig else JOIN_COLOURS["tested, not significant"]
            for c, sig, t in zip(frame.index, frame["significant"], tested, strict=True)
            if t
        }
        layers.append({"name": f"local join counts: {label}", "colours": colours})
    for label, local in locals_.items():
        layers.append(
            {
                "name": f"LISA: {label}",
                "colours": {c: LISA_CLASSES[k] for c, k in local["lisa_class"].items()},
            }
        )
    for label, local in locals_.items():
        p = local["p_sim"]
        cls = np.select(
            [p <= 0.001, p <= 0.01, p <= 0.05], list(P_COLOURS)[:3], default="not significant"
        )
        layers.append(
            {
                "name": f"significance: {label}",
                "colours": {c: P_COLOURS[k] for c, k in zip(local.index, cls, strict=True)},
            }
        )
    legend = {f"join count {k}": v for k, v in JOIN_COLOURS.items()} if joins else {}
    legend.update(LISA_CLASSES)
    legend.update({f"significance {k}": v for k, v in P_COLOURS.items() if k != "not significant"})
    legend["outside the universe"] = NEUTRAL
    return unit_map(
        layers,
        table=info,
        fields=fields or FIELDS,
        legend=legend,
        legend_title=legend_title,
        title=title,
        **kwargs,
    )


def tiers_map(
    info: pd.DataFrame,
    shapes: gpd.GeoDataFrame,
    *,
    title: str = "东西梯次扩散 · East-west tier diffusion",
    fields: dict[str, str] | None = None,
    **kwargs: Any,
) -> folium.Map:
    """Tiers coloured, with each tier's ellipse and mean centre and the diffusion vectors."""
    layers = [
        {
            "name": "tiers 梯队",
            "colours": _tier_colours(info),
        }
    ]
    overlays = []
    for kind, style in (
        ("ellipse", {"color": "#08519c", "weight": 2, "fill": False}),
        ("vector", {"color": "#000000", "weight": 3}),
        (
            "mean_centre",
            {"color": "#08519c", "fillColor": "#ffffff", "fillOpacity": 1, "weight": 2},
        ),
    ):
        part = shapes[shapes["kind"] == kind].copy()
        if kind == "vector":
            part["label"] = [
                f"tier 1 -> tier {t}: {b:.0f}°, {d:.0f} km"
                for t, b, d in zip(
                    part["tier"], part["bearing_deg"], part["length_km"], strict=True
                )
            ]
        else:
            part["label"] = [f"tier {int(t)} {kind.replace('_', ' ')}" for t in part["tier"]]
        overlays.append((f"tier {kind.replace('_', ' ')}s", part[["label", "geometry"]], style))
    legend = {f"tier {t}": c for t, c in TIER_COLOURS.items()}
    legend["not ranked"] = NEUTRAL
    return unit_map(
        layers,
        table=info,
        fields=fields or FIELDS,
        legend=legend,
        legend_title="Tiers",
        overlays=overlays,
        title=title,
        **kwargs,
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
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    palette = [to_hex(colormaps["tab20"](i)) for i in range(20)]
    clusters_ = [c for c in dict.fromkeys(polygons["cluster_id"])]
    colour = {c: palette[i % len(palette)] for i, c in enumerate(clusters_)}
    shaded = {code: colour[c] for code, c in membership["primary_cluster"].items() if c}
    outlines = polygons.copy()
    # outlines only need map precision: 0.01 degree (~1 km), as the web layer
    outlines["geometry"] = shapely.set_precision(
        shapely.simplify(outlines.geometry.to_numpy(), 0.01), 1e-4
    )
    outlines["label"] = [
        f"{zh} ({d}): {n} units"
        for zh, d, n in zip(
            outlines["cluster_zh"], outlines["definition"], outlines["n_units"], strict=True
        )
    ]
    ranked = info["industrial_rank"].dropna() if marked is None else marked.dropna()
    geo = kwargs.get("geo")
    if geo is None:  # the bundled counties' shipped representative points
        units = boundaries.units()
        names = units["name"]
        points = shapely.points(
            units.loc[ranked.index, "rep_lon"], units.loc[ranked.index, "rep_lat"]
        )
    else:
        names = geo["name"] if "name" in geo.columns else pd.Series(geo.index, index=geo.index)
        points = geo.loc[ranked.index].to_crs(settings.default_crs).representative_point()
    pts = gpd.GeoDataFrame(
        {"label": [f"{names.get(c, c)} #{int(r)}" for c, r in ranked.items()]},
        geometry=np.asarray(points),
        crs=settings.default_crs,
    )
    overlays = [
        (
            "cluster outlines",
            outlines[["label", "geometry"]],
            {"color": "#000000", "weight": 1.5, "fill": False},
        ),
        (
            marked_name,
            pts,
            {"color": "#000000", "fillColor": "#ffdd00", "fillOpacity": 1, "weight": 1},
        ),
    ]
    legend = {
        f"{zh}": colour[c]
        for c, zh in zip(polygons["cluster_id"], polygons["cluster_zh"], strict=True)
    }
    return unit_map(
        [{"name": "城市群 primary cluster", "colours": shaded}],
        table=info,
        fields=fields or FIELDS,
        legend=legend,
        legend_title=f"City clusters ({membership.attrs.get('set', '')})",
        overlays=overlays,
        title="城市群 · City clusters",
        **kwargs,
    )


def _fmt_p(p: object) -> str:
    """A p-value for reading: never "0" (below the float floor it is "< 1e-300")."""
    if p is None or (isinstance(p, float) and not np.isfinite(p)):
        return "–"
    value = float(p)  # type: ignore[arg-type]
    return "< 1e-300" if value == 0 else f"{value:.2g}"


def index_page(summary: dict[str, Any], maps_written: dict[str, int], *, title: str) -> str:
    """The landing page: links to every map and the headline figures (all escaped)."""
    auto = summary.get("autocorrelation", {})
    rules = list(
        dict.fromkeys(
            r["lisa_rule"] for r in auto.values() if isinstance(r, dict) and "lisa_rule" in r
        )
    )
    lisa_header = f"LISA classes ({'; '.join(rules)})" if rules else "LISA classes"
    rows = []
    for name, res in auto.items():
        if not isinstance(res, dict) or "moran_i" not in res:
            continue
        spec = res["default_weights"]
        mi = res["moran_i"][spec]
        counts = ", ".join(f"{k} {v}" for k, v in res["lisa_counts"].items())
        rows.append(
            f"<tr><td>{escape(res.get('label', name))}</td><td>{escape(spec)}</td>"
            f"<td>{mi['value']:.3f}</td><td>{_fmt_p(mi['p_norm'])}</td>"
            f"<td>{_fmt_p(mi['p_sim'])}</td><td>{escape(counts)}</td>"
            f"<td><img src='figures/moran_scatter_{escape(name)}.png' width='260' "
            f"alt='Moran scatter plot, {escape(name)}'></td></tr>"
        )
    clusters_ = summary.get("clusters", {})
    first_set = next((k for k, v in clusters_.items() if isinstance(v, dict) and "counts" in v), "")
    cl_rows = "".join(
        f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>"
        for k, v in clusters_.get(first_set, {}).get("counts", {}).items()
    )
    tier_blocks = []
    for name, tiers_ in summary.get("tiers", {}).items():
        by_region = tiers_.get("by_region", {})
        tier_rows = "".join(
            f"<tr><td>{escape(t)}</td>"
            + "".join(f"<td>{escape(n)}</td>" for n in r.values())
            + "</tr>"
            for t, r in by_region.items()
        )
        table = (
            "<table><tr><th>tier</th><th>east</th><th>central</th><th>west</th>"
            f"<th>northeast</th></tr>{tier_rows}</table>"
            if tier_rows
            else ""
        )
        tier_blocks.append(
            f"<h3>{escape(name)}</h3>{table}<p>{escape(tiers_.get('verdict', ''))}</p>"
        )
    links = "".join(
        f"<li><a href='maps/{escape(n)}'>{escape(n)}</a> ({size / 1e6:.1f} MB)</li>"
        for n, size in maps_written.items()
    )
    check = summary.get("check_report")
    check_text = ""
    if check:
        counts = ", ".join(f"{v} {k}" for k, v in check.get("status_counts", {}).items())
        check_text = f" Report check: {escape(counts)}."
    return f"""<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">
<title>geotool: {escape(title)}</title>
<style>body{{font:14px/1.45 sans-serif;max-width:1100px;margin:24px auto;padding:0 12px}}
table{{border-collapse:collapse;margin:8px 0 18px}}td,th{{border:1px solid #ccc;padding:3px 7px}}
th{{background:#f3f3f3}}</style></head><body>
<h1>{escape(title)}</h1>
<p>Generated by geotool {escape(summary.get("geotool_version", ""))};
seed {escape(summary.get("seed"))}, {escape(summary.get("permutations"))} permutations.
{check_text}</p>
<h2>Maps</h2><ul>{links}</ul>
<h2>Spatial autocorrelation</h2>
<table><tr><th>variable</th><th>weights</th><th>Moran's I</th><th>p (normal, two-sided)</th>
<th>p (permutation, one-sided)</th><th>{escape(lisa_header)}</th><th>Moran scatter</th></tr>
{"".join(rows)}</table>
<h2>City clusters ({escape(first_set)})</h2>
<table><tr><th>cluster</th><th>count</th></tr>{cl_rows}</table>
<h2>Tiers</h2>{"".join(tier_blocks)}
<p>Tables: <code>tables/</code>; machine-readable results: <code>summary.json</code>.</p>
</body></html>
"""
