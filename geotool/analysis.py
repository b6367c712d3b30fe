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

    Attributes
    ----------
    key : str
        Used in file names (``tables/lisa_<key>.csv``); letters, digits and ``_``.
    label : str
        For titles and the index page.
    data : pandas.Series
        The values, on the universe (bundled adcodes, or the user's ids).
    weights : str
        Default weights spec for the local statistics and join counts.
    member : pandas.Series, optional
        A 0/1 variable for join counts (e.g. ranked or not).
    variable : str
        What ``data`` is (for the summary: ``score``, a column name ...).
    high_means : str
        What a high value means, for the summary and the index page.

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

    Attributes
    ----------
    units : geopandas.GeoDataFrame, optional
        The units' polygons, indexed by the ids the variables use, with a ``name``
        column: a bundled prefecture or province layer, or a user's own geometry.
        ``None``: the bundled county layer (weights from its shipped neighbour table).
    level : str
        ``county``, ``prefecture``, ``province`` (bundled layers) or ``own``.
    china : bool
        Whether the units are China's (bundled layers, or own geometry inside China):
        China-only stages apply.
    cluster_table : pandas.DataFrame, optional
        Units (``adcode``, ``name``, ``rank``) counted per city cluster; ``None``
        when the units are not bundled counties or prefectures.
    tier_word : str
        What a class of a tier table is called on pages (``tier 梯队`` for the
        report's tiers; the classification's name for a user's variable).
    values_map : callable
        ``(info, opts) -> {file: folium.Map}``: the value maps of the variables.
    unit_info : callable, optional
        ``(lisa=, membership=) -> DataFrame``: a recipe's own tooltip table of the
        units (default: the units' values, names, region, cluster and LISA class).
    extra : callable, optional
        ``(write, seed=, permutations=) -> dict``: a panel's dynamics.
    rows, year_col : pandas.DataFrame, str, optional
        A user's usable rows on the units' ids (every year of a panel, the year in
        ``year_col``, which may hold one year; the table's other columns kept).
    composite : dict, optional
        The composite index the variable is (``result``, ``sensitivity``, ``indicators``).
    groups, grouped_by : pandas.Series, str
        The units' groups inequality is decomposed between (``None``: no groups), and
        what they are.

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
    check_ok: bool = True
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
            self._weights[key] = (
                build(ids, spec, islands=islands)
                if self.units is None
                else build(self.units.loc[ids], spec, labels="name", islands=islands)
            )
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
