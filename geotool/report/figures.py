"""The report's own maps: its units' tooltip table, the rankings map, ``geotool map KIND``.

The other pages of a run are :mod:`geotool.maps.pages`, shared by every study.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from geotool import boundaries
from geotool._errors import InputError
from geotool.maps import NEUTRAL, unit_map
from geotool.maps.pages import (
    FIELDS,
    TIER_COLOURS,
    clusters_map,
    lisa_map,
    tier_colours,
    tiers_map,
)
from geotool.report import rankings
from geotool.report.rankings import REPORT_TIERS

if TYPE_CHECKING:
    import folium

__all__ = ["MAP_KINDS", "QUARTER_COLOURS", "rankings_map", "report_map", "unit_info"]

QUARTER_COLOURS = {"1-25": "#08306b", "26-50": "#2171b5", "51-75": "#6baed6", "76-100": "#c6dbef"}
MAP_KINDS = ("rankings", "lisa", "tiers", "clusters")


def unit_info(
    *,
    lisa: pd.DataFrame | None = None,
    membership: pd.DataFrame | None = None,
    values: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The tooltip table of every county: ranks, tier, region, cluster, LISA class.

    ``lisa`` (:func:`geotool.autocorr.local_stats` of the industrial-county score),
    ``membership`` (:func:`geotool.clusters.membership`) and ``values`` (a user's
    columns by adcode, shown first) are optional. ``attrs["tier_ranks"]`` holds the
    report's tiers' rank ranges, for the figures' legends.
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
    out.attrs["tier_ranks"] = dict(REPORT_TIERS)
    return out


def _quarters(ranks: pd.Series) -> dict[Any, str]:
    """Colour of each ranked unit by its rank's quarter (1-25, 26-50 ...)."""

    def quarter(rank: int) -> str:
        return next(k for k in QUARTER_COLOURS if rank <= int(k.split("-")[1]))

    return {c: QUARTER_COLOURS[quarter(int(r))] for c, r in ranks.dropna().items()}


def rankings_map(info: pd.DataFrame, **kwargs: Any) -> folium.Map:
    """The three rankings: county tiers, and rank quarters for the other two rankings."""
    layers: list[dict[str, Any]] = [
        {"name": "工业百强县 industrial counties (tiers)", "colours": tier_colours(info)},
        {"name": "创新百强县 innovation counties (rank)",
         "colours": _quarters(info["innovation_rank"])},
        {"name": "工业百强区 industrial districts (rank)",
         "colours": _quarters(info["district_rank"])},
    ]  # fmt: skip
    legend = {
        f"tier {t} (ranks {lo}-{hi})": TIER_COLOURS[t] for t, (lo, hi) in REPORT_TIERS.items()
    }
    legend.update({f"rank {k} (other layers)": v for k, v in QUARTER_COLOURS.items()})
    legend["not ranked"] = NEUTRAL
    return unit_map(
        layers, table=info, fields=FIELDS, legend=legend, legend_title="Rankings 2020",
        title="2020 中国工业百强县（市）、百强区 · China's top-100 industrial counties "
        "and districts", **kwargs,
    )  # fmt: skip


def report_map(
    kind: str = "rankings",
    *,
    cluster_set: str = "report2020",
    weights: str | None = None,
    permutations: int | None = None,
    seed: int | None = None,
    **kwargs: Any,
) -> folium.Map:
    """One of the report's maps on its own (``geotool map KIND``).

    ``kind``: the ranked counties by tier, the rankings' LISA clusters (under ``weights``,
    default each ranking's own, with ``permutations`` and ``seed``), the tiers' ellipses and
    vectors, or the city clusters of ``cluster_set``; ``kwargs``: the page's options.
    """
    from geotool import autocorr, clusters, tiers
    from geotool import weights as weights_mod

    if kind not in MAP_KINDS:
        raise InputError(f"kind={kind!r} is not a report map; use one of {', '.join(MAP_KINDS)}.")
    ms = clusters.membership(cluster_set)
    if kind == "lisa":
        locals_ = {}
        for name in rankings.RANKINGS:
            v = rankings.variables(name)
            w = weights_mod.build(v.index, weights or rankings.DEFAULT_WEIGHTS[name])
            locals_[name.replace("_", " ")] = autocorr.local_stats(
                v["score"], w, permutations=permutations, seed=seed, gi_star=False
            )
        info = unit_info(lisa=locals_["industrial counties"], membership=ms)
        return lisa_map(locals_, info, **kwargs)
    info = unit_info(membership=ms)
    if kind == "rankings":
        return rankings_map(info, **kwargs)
    if kind == "tiers":
        table = rankings.tier_table()
        geo = tiers.geography(table, tiers.unit_positions(table["adcode"]))
        return tiers_map(info, tiers.shapes(geo, tiers.diffusion_vectors(geo)), **kwargs)
    return clusters_map(ms, clusters.polygons(cluster_set), info, **kwargs)
