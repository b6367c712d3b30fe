"""The main job (``geotool run``): one pipeline for the report and for a user's table.

A :class:`Study` says what to analyse: variables over a universe of bundled county-level
units, tier tables, the units city clusters are counted for, titles and extra tables.
:func:`report2020` builds the 2020 report's study, :func:`geotool.report.user.user_study`
a user's table's;
:func:`run` turns either into the same outputs (tables, figures, four maps, an index page
and ``summary.json``), using only the public core (:mod:`geotool.weights`,
:mod:`geotool.autocorr`, :mod:`geotool.tiers`, :mod:`geotool.clusters`,
:mod:`geotool.maps`), like any user's analysis.

A run is a transaction (:class:`geotool._outdir.OutputFolder`): it writes into a staging
folder and publishes all its files at once when it succeeded, so a killed, failed or
concurrent run never leaves ``out_dir`` holding files of two runs; files the run did not
write (a user's own) are kept, input files are never overwritten.

Stages: inputs, then two processes are forked for the Moran scatter plots and the map
pages (:mod:`geotool._background`), which import matplotlib and folium while this one
computes the tiers and the autocorrelation; they draw from the statistics while this
one counts the city clusters and runs a user study's extra analyses; static figures,
if asked for, and the index page come last. ``summary.json``'s ``timings_s`` has a lap
per stage (``maps`` is the wait for the two renderers).
"""

from __future__ import annotations

import io
import json
import math
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geotool import _background as background
from geotool import _validate as check
from geotool import autocorr, boundaries, clusters, tiers
from geotool._atomic import write_atomic
from geotool._csv import to_csv_bytes
from geotool._errors import InputError
from geotool._geojson import dumps as geojson_dumps
from geotool._log import log
from geotool._outdir import OutputFolder
from geotool._version import __version__
from geotool.maps.figure import figure_bytes
from geotool.maps.figure import validate as validate_figures
from geotool.report import figures, rankings
from geotool.report import static as print_figures
from geotool.report.check import check_report, region_change
from geotool.weights import Weights, build

__all__ = ["Study", "TierTable", "Variable", "report2020", "run"]


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
        The values, on the universe (bundled adcodes).
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
class Study:
    """Everything :func:`run` needs: inputs and titles (see the module docstring).

    Attributes
    ----------
    units : geopandas.GeoDataFrame, optional
        The units' polygons (or points), indexed by the ids the variables use, with
        a ``name`` column: a bundled prefecture or province layer, or a user's own
        geometry. ``None``: the bundled county layer (weights from its shipped
        neighbour table, maps from its web topology).
    level : str
        What the units are (``county``, ``prefecture``, ``province``, ``own
        geometry``), for titles and the summary.
    cluster_table : pandas.DataFrame, optional
        Units (``adcode``, ``name``, ``rank``) counted per city cluster; ``None``
        when the units are not bundled counties or prefectures (no clusters section).
    cluster_level : {"county", "prefecture"}
        The level of ``cluster_table``'s codes.
    bivariate : list of tuple
        Pairs of variable keys for bivariate Moran's I (and co-location).

    """

    title: str
    variables: list[Variable]
    tier_tables: dict[str, TierTable]
    cluster_table: pd.DataFrame | None
    values_map: Any  # (info, opts) -> folium.Map, built after clusters (tooltips need membership)
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
    extra: Any = None  # (study, folder write, seed, permutations) -> dict: more analyses
    #: Specs of the sensitivity table; ``None``: queen, rook, knn:6 and the data's own
    #: band (:func:`geotool.weights.neighbour_band`). The 2020 report keeps its 100 km.
    sensitivity_specs: tuple[str, ...] | None = None
    #: The island rule of every weights built (:func:`geotool.weights.build`).
    islands: str = "nearest"
    _weights: dict[tuple[tuple[str, ...], str, str], Weights] = field(
        default_factory=dict, repr=False, compare=False
    )

    def names(self) -> pd.Series:
        """Each unit's name, by id."""
        return boundaries.units()["name"] if self.units is None else self.units["name"]

    def geometry_of(self, ids: pd.Index) -> gpd.GeoDataFrame | pd.Index:
        """What weights and positions are built from: the units' geometry, or codes."""
        return ids if self.units is None else self.units.loc[ids]

    def weights(self, ids: pd.Index, spec: str) -> Weights:
        """Weights between these units (reports name the units by their names).

        Built once per set of units and specification: variables over the same units
        (two rankings of the same counties) share them, and their warnings are given once.
        """
        key = (tuple(ids), spec, self.islands)
        if key not in self._weights:
            self._weights[key] = (
                build(ids, spec, islands=self.islands)
                if self.units is None
                else build(self.units.loc[ids], spec, labels="name", islands=self.islands)
            )
        return self._weights[key]

    def sensitivity(self, ids: pd.Index) -> tuple[str, ...]:
        """The weights specs of the sensitivity table over these units."""
        if self.sensitivity_specs is not None:
            return self.sensitivity_specs
        from geotool.weights import neighbour_band

        return ("queen", "rook", "knn:6", neighbour_band(self.geometry_of(ids)))


def _json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None`` (JSON has no NaN: ``null`` = missing)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _number(value: object) -> float:
    """A scalar taken out of a frame, as a float."""
    return float(value)  # type: ignore[arg-type]


def _csv(frame: pd.DataFrame) -> bytes:
    """A table as CSV (UTF-8 with BOM for Excel), formula-like text cells neutralised."""
    return to_csv_bytes(frame)


def _clusters(study: Study, write: Any, *, permutations: int, seed: int) -> dict[str, Any]:
    """City-cluster counts, membership, radiation and belts of the study's units."""
    table = study.cluster_table
    if table is None:
        return {"skipped": f"city clusters are defined on bundled units, not on {study.level}"}
    log(f"city clusters under report2020 and plans ({study.cluster_level} level) ...")
    level = study.cluster_level
    out: dict[str, Any] = {"level": level}
    for set_name in ("report2020", "plans"):
        checked = clusters.check_geometry(set_name)
        cl_counts = clusters.ranking_counts(set_name, table, level=level)
        ms = clusters.membership(set_name, level=level)
        polys = clusters.polygons(set_name)
        write(f"tables/clusters_counts_{set_name}.csv", _csv(cl_counts))
        write(
            f"tables/clusters_membership_{set_name}.csv",
            _csv(ms.loc[ms.index.isin(table["adcode"])].reset_index(names="adcode"))
            if study.info_values is not None
            else _csv(ms.reset_index(names="adcode")),
        )
        write(f"tables/clusters_{set_name}.geojson", geojson_dumps(polys))
        out[set_name] = {
            "definitions": list(checked),
            "geometry_check": "code and geometry membership agree",
            "counts": {
                str(c): int(n)
                for c, n in zip(cl_counts["cluster_id"], cl_counts["count"], strict=True)
            },
            "outside": [u for u in str(cl_counts["units"].iloc[-1]).split(";") if u],
        }
        if level == "county":  # distances to cores are measured between counties
            radiation = clusters.radiation(set_name, table, permutations=permutations, seed=seed)
            write(f"tables/clusters_radiation_{set_name}.csv", _csv(radiation))
            out[set_name]["radiation"] = radiation.drop(columns=["permutations", "seed"]).to_dict(
                orient="records"
            )
    changes = clusters.set_changes("report2020", "plans", table, level=level)
    write("tables/clusters_changes_report2020_plans.csv", _csv(changes))
    out["changes_report2020_to_plans"] = changes.to_dict(orient="records")
    if level == "county":
        belts = clusters.table_belts(table, "report2020")
        write("tables/clusters_belts.csv", _csv(belts))
        out["largest_belts"] = belts.head(5).to_dict(orient="records")
    return out


def _pages(
    study: Study,
    folder: OutputFolder,
    *,
    cdn: bool,
    offline: bool | None,
    basemap: str,
    cluster_set: str,
    info: pd.DataFrame,
    fields: dict[str, str],
    membership: pd.DataFrame | None,
    locals_: dict[str, pd.DataFrame],
    joins: dict[str, pd.DataFrame],
    tier_shapes: gpd.GeoDataFrame,
) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """Write the run's map pages; their sizes (bytes), the linked views, the files."""
    from geotool.maps import linked_lisa, to_html

    files: list[str] = []
    opts: dict[str, Any] = {"cdn": cdn, "offline": offline, "basemap": basemap}
    if study.units is not None:
        opts["geo"] = _map_geometry(study.units)
        opts["label_col"] = "name"
    if study.info_values is not None:  # a user's table: open on its units, not all of China
        opts["fit"] = "coloured"
    values_maps = study.values_map(info, opts)
    if not isinstance(values_maps, dict):
        values_maps = {"rankings.html": values_maps}
    built = {
        **values_maps,
        "lisa.html": figures.lisa_map(
            {v.label: locals_[v.key] for v in study.variables},
            info,
            title=f"LISA clusters · {study.title}",
            legend_title=study.lisa_legend,
            fields=fields,
            joins=joins,
            **opts,
        ),
        "tiers.html": figures.tiers_map(
            info,
            tier_shapes,
            title=f"Tier diffusion · {study.title}",
            fields=fields,
            **opts,
        ),
    }
    if membership is not None and study.cluster_table is not None:
        built["clusters.html"] = figures.clusters_map(
            membership,
            clusters.polygons(cluster_set),
            info,
            marked=study.cluster_table.set_index("adcode")["rank"],
            marked_name=study.marked_name,
            fields=fields,
            **opts,
        )
    maps_written = {}
    for fname, fmap in built.items():
        text = to_html(fmap, folder.path(f"maps/{fname}"))
        maps_written[fname] = len(text.encode("utf-8"))
        files.append(f"maps/{fname}")
    linked = {}  # the linked LISA view of each variable: scatter and maps, one offline page
    for var in study.variables:
        page = linked_lisa(
            locals_[var.key],
            opts.get("geo"),
            title=f"{var.label} · linked LISA view · {study.title}",
            names=None if study.units is None else study.names(),
        )
        linked[var.key] = f"lisa_linked_{var.key}.html"
        write_atomic(folder.path(f"maps/{linked[var.key]}"), page)
        files.append(f"maps/{linked[var.key]}")
        maps_written[linked[var.key]] = len(page.encode("utf-8"))
    return maps_written, linked, files


def _load_matplotlib() -> None:
    """The scatter plots' libraries, imported while the statistics run."""
    import matplotlib.backends.backend_agg
    import matplotlib.figure  # noqa: F401


def _load_folium() -> None:
    """The map pages' libraries (folium compiles its templates as it loads)."""
    import folium  # noqa: F401


def _scatter_pngs(
    scatters: list[tuple[str, pd.DataFrame, str]], moran_i: dict[str, float], *, lang: str
) -> dict[str, bytes]:
    """The run's Moran scatter plots as PNG, by file: CJK-capable, 150 dpi (900 px)."""
    out = {}
    for key, local, title in scatters:
        fig = print_figures.moran_figure(local, title=title, moran_i=moran_i[key], lang=lang)
        buf = io.BytesIO()  # fast zlib level: for the index page, not for print
        fig.savefig(buf, format="png", dpi=150, pil_kwargs={"compress_level": 1})
        out[f"figures/moran_scatter_{key}.png"] = buf.getvalue()
    return out


def _unit_info(study: Study, lisa: pd.DataFrame, membership: pd.DataFrame | None) -> pd.DataFrame:
    """The tooltip table of a study's own units: its values, region, cluster, LISA class."""
    index = study.names().index
    out = pd.DataFrame(index=index)
    if study.info_values is not None:
        out = study.info_values.reindex(index)
    if study.units is not None:
        for col in ("province", "region"):
            if col in study.units.columns and col not in out.columns:
                out[col] = study.units[col].reindex(index)
    if membership is not None:
        out["cluster"] = membership["primary_zh"].reindex(index)
    out["lisa_class"] = lisa["lisa_class"].reindex(index)
    return out


def _map_geometry(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The units as web maps draw them: EPSG:4326, simplified where a screen cannot tell.

    Shared borders are simplified once for both sides (a coverage simplification) when
    the polygons form a valid coverage, so no gap opens between neighbours; the
    tolerance is 1/2000 of the extent's larger side (about 1 km for a province, 2 km
    for China), below what a map of the whole extent shows.
    """
    import numpy as np
    import shapely

    geo = units[["name", "geometry"]].to_crs("EPSG:4326")
    polygonal = geo.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    if not polygonal:
        return geo
    x0, y0, x1, y1 = geo.total_bounds
    tol = max(x1 - x0, y1 - y0) / 2000
    arr = geo.geometry.to_numpy()
    if shapely.coverage_is_valid(arr):
        simple = shapely.coverage_simplify(arr, tol)
    else:  # not a coverage (overlaps, gaps): each polygon on its own
        simple = shapely.simplify(arr, tol, preserve_topology=True)
    keep = ~shapely.is_empty(simple) & shapely.is_valid(simple)
    geo = geo.copy()
    geo.loc[keep, "geometry"] = np.asarray(simple)[keep]
    return geo


def report2020() -> Study:
    """The 2020 report's study: its three rankings, tiers, clusters and figures check."""
    checks = check_report()
    units = boundaries.units()
    table = rankings.load()
    joined = table.merge(
        units[
            ["name", "unit_type", "prefecture", "province", "area_km2", "rep_lon", "rep_lat"]
        ].add_prefix("unit_"),
        left_on="adcode",
        right_index=True,
        how="left",
        validate="many_to_one",
    )
    variables = []
    for name, spec in rankings.DEFAULT_WEIGHTS.items():
        v = rankings.variables(name)
        variables.append(
            Variable(
                name,
                name.replace("_", " "),
                v["score"],
                spec,
                member=v["member"],
                high_means=rankings.HIGH_MEANS["score"],
            )
        )
    status = checks["status"].value_counts().to_dict()
    counties = rankings.load("industrial_counties")
    return Study(
        title="中国工业百强县（市）、百强区 2020 · spatial analysis",
        variables=variables,
        tier_tables={
            "industrial_counties": TierTable(
                rankings.tier_table("industrial_counties"),
                "report (1-6, 7-30, 32-62, 63-100)",
                region_change=region_change("industrial_counties"),
            ),
            "industrial_districts": TierTable(
                rankings.tier_table("industrial_districts"),
                "report deciles (表 6)",
                region_change=region_change("industrial_districts"),
            ),
        },
        cluster_table=counties,
        values_map=lambda info, opts: figures.rankings_map(info, **opts),
        bivariate=[("industrial_counties", "innovation_counties")],
        tables={"check_report": checks, "rankings": joined},
        summary={
            "boundaries": {k: boundaries.metadata()[k] for k in ("source", "datum", "counts")},
            "check_report": {"ok": status.get("mismatch", 0) == 0, "status_counts": status},
            "match": {
                name: table.loc[table["ranking"] == name, "match_method"].value_counts().to_dict()
                for name in rankings.RANKINGS
            },
            "universe_sizes": {name: len(rankings.universe(name)) for name in rankings.RANKINGS},
        },
        lisa_legend="Local Moran (score = 101 - rank)",
        marked_name="工业百强县 ranked counties",
        check_ok=status.get("mismatch", 0) == 0,
        sensitivity_specs=rankings.SENSITIVITY_SPECS,  # the band its tables have used
    )


def run(
    study: Study | None = None,
    out_dir: Path | str = "outputs",
    *,
    seed: int,
    permutations: int,
    cdn: bool = False,
    offline: bool | None = None,
    basemap: str = "none",
    weights: str | None = None,
    cluster_set: str = "report2020",
    inputs: tuple[Path | str, ...] = (),
    adjust: str = "none",
    figures: tuple[str, ...] = (),
    dpi: int = 300,
    lang: str = "zh",
    sided: str = "two-sided",
    islands: str | None = None,
) -> dict[str, Any]:
    """Run a study (default: :func:`report2020`) and write ``out_dir``; return the summary.

    Parameters
    ----------
    study : Study, optional
        What to analyse; the 2020 report by default.
    out_dir : pathlib.Path or str
        Output folder (created if missing).
    seed : int
        Seed of every permutation test.
    permutations : int
        Permutations per test.
    cdn : bool
        Load Leaflet from its CDN (smaller pages, blank offline); by default every page
        is self-contained and draws with no network.
    offline : bool, optional
        Deprecated (pages are offline by default); ``True`` also refuses tiles.
    basemap : str
        Tiles under the maps' polygons (see :mod:`geotool.maps`).
    weights : str, optional
        Weights spec for join counts and LISA of every variable (default: each
        variable's own).
    cluster_set : str
        Definition set shown in the cluster map and the tooltips (both ``report2020``
        and ``plans`` are always computed).
    inputs : tuple of path
        Files the run reads (a user's table): refused as destinations.
    adjust : {"none", "bonferroni", "fdr"}
        Multiple-comparison rule of the LISA classes and Gi* significance
        (:func:`geotool.autocorr.local_stats`); default none, each unit at 0.05. The
        summary, the LISA map's legend and the index page name it.
    figures : tuple of {"png", "svg", "pdf"}
        Static figures for print (:mod:`geotool.report.static`) in these formats, as
        ``figures/<name>.<ext>``; none by default (they take about 4 s each).
    dpi : int
        Resolution of the static PNG figures.
    lang : {"zh", "en"}
        Language of the static figures' labels.
    sided : {"two-sided", "folded"}
        Sidedness of the local p-values that ``alpha`` and ``adjust`` apply to
        (:func:`geotool.autocorr.local_stats`): two-sided by default; ``"folded"`` is
        GeoDa's and esda's one-sided p. The summary (``p_sided``), the tables'
        ``p_sided`` column, the legends and the index page name it.
    islands : str, optional
        The island rule of every weights (:func:`geotool.weights.build`); default the
        study's (``"nearest"``, within 3x the median nearest-neighbour distance).

    Returns
    -------
    dict
        The summary written as ``summary.json`` (``files`` lists what was written).

    """
    pending: list[background.Pending[Any] | background.Prepared[Any]] = []  # other processes
    with OutputFolder(out_dir, inputs=inputs, owner="geotool run") as folder:
        try:
            summary = _run(
                study, folder, seed=seed, permutations=permutations, cdn=cdn,
                offline=offline, basemap=basemap, weights=weights, cluster_set=cluster_set,
                adjust=adjust, static_formats=figures, dpi=dpi, lang=lang, pending=pending,
                sided=sided, islands=islands,
            )  # fmt: skip
        finally:  # a failed run stops them before its folder is rolled back
            for work in pending:
                work.cancel()
    log(f"wrote {len(summary['files'])} files to {folder.out}")
    return summary


def _run(
    study: Study | None,
    folder: OutputFolder,
    *,
    seed: int,
    permutations: int,
    cdn: bool,
    offline: bool | None,
    basemap: str,
    weights: str | None,
    cluster_set: str,
    adjust: str,
    static_formats: tuple[str, ...] = (),
    dpi: int = 300,
    lang: str = "zh",
    pending: list[background.Pending[Any] | background.Prepared[Any]] | None = None,
    sided: str = "two-sided",
    islands: str | None = None,
) -> dict[str, Any]:
    """The body of :func:`run`, writing into an open :class:`OutputFolder`.

    Work started in other processes is added to ``pending`` (for the caller to cancel
    if this fails before collecting it).
    """
    pending = [] if pending is None else pending
    check.permutations(permutations, n_units=1)  # options fail before any work is done
    autocorr.adjustment(adjust)
    sided = autocorr.sidedness(sided)
    if islands is not None:
        from geotool.weights import parse_islands

        parse_islands(islands)
    check.seed(seed)
    formats = validate_figures(static_formats, dpi, lang, name="figures")
    clusters.load_set(cluster_set)  # a bad set fails before anything is written
    if weights is not None:
        from geotool.weights import parse_spec

        parse_spec(weights)
    files: list[str] = []
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        timings[stage] = round(now - clock[0], 2)
        clock[0] = now

    def write(relative: str, data: str | bytes) -> None:
        write_atomic(folder.path(relative), data)
        files.append(relative)

    if study is None:
        log("checking the report's figures ...")
        study = report2020()
    if islands is not None:
        study = replace(study, islands=islands)  # the caller's study stays as it was
    for name, frame in study.tables.items():
        write(f"tables/{name}.csv", _csv(frame))
    # the renderers fork now and import their libraries while the statistics run
    drawing = background.prepare(partial(_scatter_pngs, lang=lang), warm=_load_matplotlib)
    pending.append(drawing)
    paging = background.prepare(
        partial(
            _pages, study, folder, cdn=cdn, offline=offline, basemap=basemap,
            cluster_set=cluster_set,
        ),
        warm=_load_folium,
    )  # fmt: skip
    pending.append(paging)
    lap("inputs")

    log("tiers: composition, geography, diffusion, gradient ...")
    tier_summary: dict[str, Any] = {}
    tier_shapes = {}
    coast = boundaries.coastline()
    core = rankings.core_point()
    for name, tt in study.tier_tables.items():
        ids = pd.Index(tt.table["adcode"]).unique()
        pos = tiers.unit_positions(study.geometry_of(ids), coast=coast, core=core)
        res = tiers.analyse(
            tt.table, pos, permutations=permutations, seed=seed, year_col=tt.year_col
        )
        if tt.region_change is not None:
            res["region_change"] = tt.region_change
        tier_shapes[name] = res["shapes"]
        for key in ("composition", "geography", "vectors", "gradient", "region_change"):
            if key in res:
                frame = res[key].reset_index() if key == "composition" else res[key]
                write(f"tables/tiers_{key}_{name}.csv", _csv(frame))
        if "yearly_centres" in res:
            write(f"tables/tiers_yearly_centres_{name}.csv", _csv(res["yearly_centres"]))
        write(f"tables/tiers_shapes_{name}.geojson", geojson_dumps(res["shapes"]))
        for step, matrix in res.get("mobility", {}).items():  # tier transitions, year to year
            step_key = step.replace("->", "_")
            write(f"tables/tiers_mobility_{name}_{step_key}.csv", _csv(matrix.reset_index()))
        comp = res.get("composition")
        tier_summary[name] = {
            "tiers": tt.tiers,
            "by_region": {
                int(t): {r: int(comp.loc[t, r]) for r in ("east", "central", "west", "northeast")}
                for t in comp.index
            }
            if comp is not None
            else {},
            "vectors": res["vectors"][["from", "to", "bearing_deg", "length_km"]].to_dict(
                orient="records"
            ),
            "gradient": res["gradient"]
            .drop(columns=["permutations", "seed"])
            .to_dict(orient="records"),
            "verdict": res["verdict"],
        }
    lap("tiers")

    log(f"spatial autocorrelation ({permutations} permutations) ...")
    auto_summary: dict[str, Any] = {}
    locals_: dict[str, pd.DataFrame] = {}
    joins: dict[str, pd.DataFrame] = {}
    static_joins: dict[str, tuple[str, pd.DataFrame]] = {}  # by file-name key
    moran_i: dict[str, float] = {}
    names = study.names()
    default_weights: dict[str, Weights] = {}
    scatters: list[tuple[str, pd.DataFrame, str]] = []  # drawn while the maps are written
    for var in study.variables:
        default = weights or var.weights
        sensitivity = study.sensitivity(var.data.index)
        specs = sensitivity if default in sensitivity else (*sensitivity, default)
        frames: list[pd.DataFrame] = []
        skipped: dict[str, str] = {}
        default_w = None
        for spec in specs:
            try:
                w = study.weights(var.data.index, spec)
            except InputError as exc:
                if spec == default:
                    raise
                skipped[spec] = str(exc)
                continue
            frames.append(autocorr.global_stats(var.data, w, permutations=permutations, seed=seed))
            if spec == default:
                default_w = w
        assert default_w is not None
        default_weights[var.key] = default_w
        local = autocorr.local_stats(
            var.data, default_w, permutations=permutations, seed=seed, adjust=adjust,
            sided=sided,
        )  # fmt: skip
        local.insert(0, "name", names.reindex(local.index).to_numpy())
        locals_[var.key] = local
        glob = pd.concat(frames, ignore_index=True)
        write(f"tables/global_{var.key}.csv", _csv(glob))
        moran = glob.set_index(["weights", "statistic"])
        jc = None
        if var.member is not None:
            jc = autocorr.join_counts(var.member, default_w, permutations=permutations, seed=seed)
            write(f"tables/join_counts_{var.key}.csv", _csv(jc))
            ljc = autocorr.local_join_counts(
                var.member, default_w, permutations=permutations, seed=seed
            )
            ljc.insert(0, "name", names.reindex(ljc.index).to_numpy())
            joins[f"{var.label} (BB)"] = ljc
            static_joins[var.key] = (f"{var.label} (BB)", ljc)
            write(f"tables/ljc_{var.key}.csv", _csv(ljc.reset_index(names="adcode")))
        write(f"tables/lisa_{var.key}.csv", _csv(local.reset_index(names="adcode")))
        geary = autocorr.local_geary(
            var.data, default_w, permutations=permutations, seed=seed, sided=sided
        )
        geary.insert(0, "name", names.reindex(geary.index).to_numpy())
        write(f"tables/local_geary_{var.key}.csv", _csv(geary.reset_index(names="adcode")))
        moran_i[var.key] = _number(moran.loc[(default, "moran_i"), "value"])
        scatters.append((var.key, local, f"{var.label}: {var.variable}, {default} weights"))
        counts = local["lisa_class"].value_counts()
        done_specs = [s for s in sensitivity if s not in skipped]
        auto_summary[var.key] = {
            "label": var.label,
            "variable": var.variable,
            "high_means": var.high_means,
            "default_weights": default,
            "weights_report": default_w.report,
            "moran_i": {
                spec: {
                    k: _number(moran.loc[(spec, "moran_i"), k])
                    for k in ("value", "expected", "z_norm", "p_norm", "p_rand", "p_sim")
                }
                for spec in dict.fromkeys([*done_specs, default])
            },
            "lisa_counts": {cls: int(counts.get(cls, 0)) for cls in autocorr.LISA_CLASSES},
            "local_geary_counts": {
                str(k): int(v) for k, v in geary["cluster"].value_counts().items()
            },
            "lisa_rule": local.attrs["lisa_rule"],
            "adjust": adjust,
            "p_sided": sided,
            "p_sim": (
                "global: one-sided in the observed direction; local (LISA, Gi*, local "
                + (
                    "Geary): two-sided, 2 x the folded one-sided p capped at 1"
                    if sided == "two-sided"
                    else "Geary): one-sided in the observed direction (folded, GeoDa's)"
                )
                + "; local join counts: one-sided (upper); p_norm, p_rand two-sided"
            ),
            "sensitivity_specs": list(sensitivity),
        }
        if var.member is not None:
            hits = ljc[ljc["significant"]]
            auto_summary[var.key]["local_join_counts_bb"] = {
                "tested": int(ljc["p_sim"].notna().sum()),
                "clusters": len(hits),
                "units": hits["name"].tolist(),
            }
        if jc is not None:
            auto_summary[var.key]["join_counts"] = jc.set_index("statistic")[
                ["value", "expected", "z_norm", "p_norm", "p_sim"]
            ].to_dict(orient="index")
        if skipped:
            auto_summary[var.key]["weights_skipped"] = skipped
    for pair in study.bivariate:
        a, b = (next(v for v in study.variables if v.key == k) for k in pair)
        heads = [k.split("_")[0] for k in pair]
        one = len(study.bivariate) == 1
        key = "_".join(heads) if one and heads[0] != heads[1] else f"{a.key}__{b.key}"
        other = b.data.reindex(a.data.index).fillna(0.0)
        w = default_weights[a.key]  # the weights of a's local statistics
        biv = autocorr.global_stats(
            a.data.rename(f"{a.key}.{a.variable}"), w, permutations=permutations, seed=seed,
            other=other.rename(f"{b.key}.{b.variable}"),
        )  # fmt: skip
        biv = biv[biv["statistic"].str.startswith("moran_bv")].reset_index(drop=True)
        write(f"tables/bivariate_moran{'' if one else '_' + key}.csv", _csv(biv))
        if a.member is not None and b.member is not None:  # where do both memberships meet?
            clc = autocorr.local_join_counts(
                a.member, w, z=b.member.reindex(a.member.index).fillna(0).astype(int),
                case="CLC", permutations=permutations, seed=seed,
            )  # fmt: skip
            clc.insert(0, "name", names.reindex(clc.index).to_numpy())
            joins[f"co-location {a.label} × {b.label} (CLC)"] = clc
            static_joins["colocation" if one else f"colocation_{key}"] = (
                f"co-location {a.label} × {b.label} (CLC)",
                clc,
            )
            write("tables/ljc_colocation.csv", _csv(clc.reset_index(names="adcode")))
            colocated = clc[clc["significant"]]["name"].tolist()
        lbv = autocorr.local_bivariate(
            a.data, other, w, permutations=permutations, seed=seed, adjust=adjust, sided=sided
        )
        lbv.insert(0, "name", names.reindex(lbv.index).to_numpy())
        write(f"tables/lisa_bv_{key}.csv", _csv(lbv.reset_index(names="adcode")))
        bv_counts = lbv["lisa_class"].value_counts()
        row = biv.iloc[0]
        auto_summary[f"bivariate_{key}"] = {
            "label": f"{a.label} × lag of {b.label}",
            "value": float(row["value"]),
            "p_sim": float(row["p_sim"]),
            "weights": row["weights"],
            "lisa_counts": {str(c): int(n) for c, n in bv_counts.items()},
        }
        if a.member is not None and b.member is not None:
            auto_summary["colocation_clc"] = {"clusters": len(colocated), "units": colocated}
    # the scatter plots are drawn in another process while the clusters are counted
    drawn = drawing.submit(scatters, moran_i)
    lap("autocorrelation")

    log("maps (in a second process while the city clusters are counted) ...")
    first = study.variables[0].key
    membership = (
        clusters.membership(cluster_set, level=study.cluster_level)
        if study.cluster_table is not None
        else None
    )
    if study.units is None and study.cluster_level == "county":
        info = figures.unit_info(
            lisa=locals_[first], membership=membership, values=study.info_values
        )
    else:
        info = _unit_info(study, locals_[first], membership)
    first_tiers = next(iter(study.tier_tables))
    if study.info_values is not None:
        t = study.tier_tables[first_tiers].table
        latest = (
            t if not study.tier_tables[first_tiers].year_col else t[t["year"] == t["year"].max()]
        )
        info["tier"] = latest.set_index("adcode")["tier"].reindex(info.index).astype("Int64")
    fields = dict(figures.FIELDS)
    if study.info_values is not None:
        fields = {c: c for c in study.info_values.columns} | {
            "tier": "tier 梯队", "region": "region", "cluster": "城市群 cluster",
            "lisa_class": f"LISA ({study.variables[0].label})",
        }  # fmt: skip
    pages = paging.submit(
        info=info, fields=fields, membership=membership, locals_=locals_, joins=joins,
        tier_shapes=tier_shapes[first_tiers],
    )  # fmt: skip
    cluster_summary = _clusters(study, write, permutations=permutations, seed=seed)
    lap("clusters")
    extra_summary = study.extra(write, seed=seed, permutations=permutations) if study.extra else {}
    lap("extra")

    maps_written, linked, page_files = pages.result()
    files += page_files
    for relative, png in drawn.result().items():
        write(relative, png)
    lap("maps")
    if formats:
        log(f"static figures ({', '.join(formats)}, {dpi} dpi, {lang}) ...")
        with_clusters = membership is not None and study.cluster_table is not None
        for name, static_fig in print_figures.report_figures(
            info, locals_=locals_, labels={v.key: v.label for v in study.variables},
            joins=static_joins, shapes=tier_shapes[first_tiers],
            membership=membership if with_clusters else None,
            polygons=clusters.polygons(cluster_set) if with_clusters else None,
            marked=None if study.cluster_table is None
            else study.cluster_table.set_index("adcode")["rank"],
            marked_name=study.marked_name, moran=moran_i, permutations=permutations, lang=lang,
            title=None if study.info_values is None else study.title,
            source=None if study.info_values is None else study.title, units=study.units,
        ):  # fmt: skip
            for ext in formats:
                write(f"figures/{name}.{ext}", figure_bytes(static_fig, ext, dpi=dpi))
        lap("static figures")

    summary: dict[str, Any] = {
        "geotool_version": __version__,
        "title": study.title,
        **{k: v for k, v in study.summary.items() if k in ("boundaries", "input")},
        "seed": seed,
        "permutations": permutations,
        **{k: v for k, v in study.summary.items() if k not in ("boundaries", "input")},
        "autocorrelation": auto_summary,
        "tiers": tier_summary,
        "clusters": cluster_summary,
        **extra_summary,
        "maps": {"files": maps_written, "cdn": cdn, "basemap": basemap, "linked": linked},
        "timings_s": timings,
    }
    static = [f for f in files if f.startswith("figures/") and f.endswith(".png")]
    static = [f for f in static if not f.startswith("figures/moran_scatter_")]
    write(
        "index.html",
        figures.index_page(summary, maps_written, title=study.title, linked=linked, figures=static),
    )
    files.append("summary.json")
    summary["files"] = files
    write_atomic(
        folder.path("summary.json"),
        json.dumps(_json_safe(summary), ensure_ascii=False, indent=1, default=str) + "\n",
    )
    return summary
