"""A study's inputs, prepared: variables, tier tables and units, as the stages read them.

:func:`geotool.userdata.user_analysis` prepares a user's study, :mod:`geotool.report`
the 2020 report's; :func:`geotool.pipeline.run` runs the stages on either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd

from geotool import boundaries
from geotool.geometry import CHINA_BOUNDS
from geotool.weights import Weights, build

__all__ = ["CHINA_CORE", "Analysis", "TierTable", "Variable", "china_core", "in_china"]

#: The eastern core China's tier distances are measured to: 上海's historic centre, 黄浦区.
CHINA_CORE = "310101"


@dataclass
class Variable:
    """One variable to test for spatial autocorrelation.

    ``key`` names its files (``tables/lisa_<key>.csv``), ``label`` its titles; ``data`` are
    the values on the universe (bundled adcodes or the user's ids), ``weights`` the default
    spec of its local statistics, ``member`` a 0/1 variable for join counts; ``variable``
    and ``high_means`` say what the values are and what a high one means.
    """

    key: str
    label: str
    data: pd.Series
    weights: str
    member: pd.Series | None = None
    variable: str = "score"
    high_means: str = ""


@dataclass
class TierTable:
    """A tier table (``adcode``, ``tier``, ``rank``, ``region``, ...) and how it was made."""

    table: pd.DataFrame
    tiers: str
    year_col: str | None = None
    region_change: pd.DataFrame | None = None


@dataclass
class Analysis:
    """A study's inputs, prepared: variables, tier tables, units, titles, extra tables.

    ``units``: the units' polygons by id with a ``name`` (``None``: the bundled counties);
    ``level``: a bundled level or ``own``; ``china``: China-only stages apply;
    ``cluster_table``: units counted per city cluster (bundled counties or prefectures);
    ``values_map(info, opts)`` and ``unit_info(lisa=, membership=)``: a recipe's value maps
    and tooltip table; ``extra(write, seed=, permutations=)``: a panel's dynamics; ``rows``
    and ``year_col``: a user's usable rows by id; ``composite``: the index the variable is;
    ``groups``: the units' groups for inequality, ``grouped_by`` what they are;
    ``about``: what the data are (file, variables, units), the figures' source line
    (default: the title).
    """

    title: str
    variables: list[Variable]
    tier_tables: dict[str, TierTable]
    cluster_table: pd.DataFrame | None
    values_map: Any
    info_values: pd.DataFrame | None = None
    bivariate: list[tuple[str, str]] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    lisa_legend: str = "Local Moran"
    marked_name: str = "units"
    units: gpd.GeoDataFrame | None = None
    level: str = "county"
    cluster_level: str = "county"
    china: bool = True
    tier_word: str = "tier 梯队"
    #: Specs of the sensitivity table; ``None``: queen, rook, knn:6 and the data's own
    #: band (:func:`geotool.weights.neighbour_band`). The 2020 report keeps its 100 km.
    sensitivity_specs: tuple[str, ...] | None = None
    extra: Any = None
    unit_info: Any = None
    rows: pd.DataFrame | None = None
    year_col: str | None = None
    composite: dict[str, Any] | None = None
    groups: pd.Series | None = None
    grouped_by: str = ""
    about: str = ""
    _weights: dict[tuple[tuple[str, ...], str], Weights] = field(
        default_factory=dict, repr=False, compare=False
    )

    def names(self) -> pd.Series:
        """Each unit's name, by id."""
        return boundaries.units()["name"] if self.units is None else self.units["name"]

    def geometry_of(self, ids: pd.Index) -> gpd.GeoDataFrame | pd.Index:
        """What weights and positions are built from: the units' geometry, or codes."""
        return ids if self.units is None else self.units.loc[ids]

    def sensitivity(self, ids: pd.Index) -> tuple[str, ...]:
        """The weights specs of the sensitivity table over these units."""
        if self.sensitivity_specs is not None:
            return self.sensitivity_specs
        from geotool.weights import neighbour_band

        return ("queen", "rook", "knn:6", neighbour_band(self.geometry_of(ids)))

    def weights(self, ids: pd.Index, spec: str, islands: str = "nearest") -> Weights:
        """Weights between these units, built once per set of units and spec."""
        key = (tuple(ids), f"{spec}|{islands}")
        if key not in self._weights:
            label = None if self.units is None else "name"
            self._weights[key] = build(self.geometry_of(ids), spec, labels=label, islands=islands)
        return self._weights[key]


def china_core() -> tuple[float, float]:
    """(lon, lat) of :data:`CHINA_CORE`, for :func:`geotool.tiers.unit_positions`' ``core``."""
    lon, lat = boundaries.units().loc[CHINA_CORE, ["rep_lon", "rep_lat"]].to_numpy(dtype=float)
    return float(lon), float(lat)


def in_china(units: gpd.GeoDataFrame | None) -> bool:
    """Whether units lie inside China's extent (``None``: the bundled county layer)."""
    if units is None:
        return True
    if units.crs is None or units.empty:
        return False
    west, south, east, north = units.to_crs("EPSG:4326").total_bounds
    cw, cs, ce, cn = CHINA_BOUNDS
    return bool(west >= cw and east <= ce and south >= cs and north <= cn)
