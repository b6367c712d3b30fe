"""One pipeline for every study: an ordered list of small stages, each saying when it applies.

:func:`run` builds a :class:`geotool.study.Study`'s :class:`Analysis` and runs its stages in
one output folder, published at once when the run succeeds; the map pages and scatter plots
are drawn in forked processes while the statistics run. The one-table commands are stages too.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from geotool import _background as background
from geotool import _validate as check
from geotool import autocorr, boundaries, clusters, regional, regress_stage, tiers, weights
from geotool._atomic import write_atomic
from geotool._csv import to_csv_bytes
from geotool._errors import InputError
from geotool._geojson import dumps as geojson_dumps
from geotool._log import log, once
from geotool._outdir import OutputFolder
from geotool._text import short
from geotool._version import __version__
from geotool.analysis import Analysis, TierTable, Variable, china_core, in_china
from geotool.io import read_table
from geotool.maps.figure import figure_files
from geotool.maps.figure import validate as validate_figures
from geotool.study import Study
from geotool.weights import Weights, parse_islands, parse_spec

if TYPE_CHECKING:
    from geotool import _batch

__all__ = ["STAGES", "Analysis", "Run", "Stage", "TierTable", "Variable", "prepare", "run"]


@dataclass
class Run:
    """One run in progress: the study, its analysis, the folder, results so far."""

    study: Study
    analysis: Any  # an Analysis; None for the one-table commands
    folder: OutputFolder | None
    files: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    pending: list[Any] = field(default_factory=list)

    @property
    def perm(self) -> dict[str, Any]:
        """The study's ``permutations`` and ``seed``, as keywords of the statistics."""
        return {"permutations": self.study.permutations, "seed": self.study.seed}

    def write(self, relative: str, data: str | bytes) -> Path:
        """Write a file of the run (atomically, into the staging folder); its final path."""
        assert self.folder is not None, "a run without out= writes no files"
        write_atomic(self.folder.path(relative), data)
        self.files.append(relative)
        return self.folder.out / relative

    def table(self, relative: str, frame: pd.DataFrame, **options: Any) -> Path:
        """Write a table as CSV (UTF-8 with BOM for Excel, formula-like cells neutralised)."""
        return self.write(relative, to_csv_bytes(frame, **options))

    def figure(self, name: str, fig: Any) -> None:
        """Write a figure as PNG (shown on the index page) and in the study's formats."""
        formats = tuple(dict.fromkeys(("png", *self.study.figures)))
        for ext, data in figure_files(fig, formats, dpi=self.study.dpi).items():
            self.write(f"figures/{name}.{ext}", data)


@dataclass(frozen=True)
class Stage:
    """A step of the pipeline: its name, what it does, and when it does not apply.

    ``skip(run)`` returns why the stage does not apply to this study (``None``: it runs);
    ``do(run)`` may return why it did nothing after all (every variable set aside), which
    the summary then says instead of "ran".
    """

    name: str
    do: Callable[[Run], str | None]
    skip: Callable[[Run], str | None] = lambda run: None


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


# ------------------------------------------------------------------------- renderers


def _load_drawing(units: gpd.GeoDataFrame | None, lang: str) -> None:
    """The scatter plots' libraries, and the one-page summary's maps warmed up."""
    import matplotlib.backends.backend_agg
    import matplotlib.figure  # noqa: F401

    from geotool.maps import onepage

    onepage.warm(units, lang)


def _load_folium() -> None:
    """The map pages' libraries (folium compiles its templates as it loads)."""
    import folium  # noqa: F401


def _scatter_pngs(
    scatters: list[tuple[str, pd.DataFrame, str]], moran_i: dict[str, float],
    onepage: dict[str, Any] | None = None, *, lang: str,
) -> dict[str, bytes]:
    """The run's Moran scatter plots as PNG, by file: CJK-capable, 150 dpi (900 px).

    With ``onepage`` (:func:`geotool.maps.onepage.figures`' arguments), also the one-page
    summary's maps, keyed ``onepage:<name>``.
    """
    from geotool.maps import onepage as one
    from geotool.maps import static as print_figures

    out = {}
    for key, local, title in scatters:
        fig = print_figures.moran_figure(local, title=title, moran_i=moran_i[key], lang=lang)
        buf = io.BytesIO()  # fast zlib level: for the index page, not for print
        fig.savefig(buf, format="png", dpi=150, pil_kwargs={"compress_level": 1})
        out[f"figures/moran_scatter_{key}.png"] = buf.getvalue()
    if onepage is not None:
        out |= {f"onepage:{k}": png for k, png in one.figures(**onepage, lang=lang).items()}
    return out


#: The last units drawn and their map geometry (the values and the local pages draw the same).
_MAP_GEOMETRY: list[tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]] = []


def _map_geometry(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The units as web maps draw them: EPSG:4326, simplified where a screen cannot tell.

    A valid coverage is simplified once per shared border (no gaps between neighbours), to
    1/2000 of the extent's larger side (about 2 km for China). Kept for the last ``units``
    object (0.8 s on 367 prefectures).
    """
    if not _MAP_GEOMETRY or _MAP_GEOMETRY[0][0] is not units:
        _MAP_GEOMETRY[:] = [(units, _simplified(units))]
    return _MAP_GEOMETRY[0][1]


def _simplified(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The body of :func:`_map_geometry`."""
    import numpy as np
    import shapely

    geo = units[["name", "geometry"]].to_crs("EPSG:4326")
    if not geo.geom_type.isin(["Polygon", "MultiPolygon"]).all():
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


def _pages(
    analysis: Analysis,
    folder: OutputFolder,
    *,
    cdn: bool,
    basemap: str,
    cluster_set: str,
    lang: str,
    info: pd.DataFrame,
    fields: dict[str, str],
    membership: pd.DataFrame | None,
    locals_: dict[str, pd.DataFrame],
    joins: dict[str, pd.DataFrame],
    tier_shapes: gpd.GeoDataFrame,
    yearly: dict[str, dict[Any, pd.DataFrame]] | None = None,
    classes: tuple[str, int | None, list[float] | None] | None = None,
) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """Write the run's map pages; their sizes (bytes), the linked views, the files.

    ``yearly`` (a panel: label -> {year: local statistics}) adds a layer per year to the
    values and LISA maps; ``classes`` (the study's ``value_classes``) redraws every
    ``values_<key>.html``.
    """
    from geotool.maps import pages as figures
    from geotool.maps import to_html

    opts: dict[str, Any] = {"cdn": cdn, "offline": None, "basemap": basemap, "lang": lang}
    if analysis.units is not None:
        opts["geo"] = _map_geometry(analysis.units)
        opts["label_col"] = "name"
    if analysis.info_values is not None:  # a user's table: open on its units, not all of China
        opts["fit"] = "coloured"
    values_maps = analysis.values_map(info, opts)
    if not isinstance(values_maps, dict):
        values_maps = {"rankings.html": values_maps}
    values_maps |= _value_pages(analysis, info, fields, opts, classes, drawn=set(values_maps))
    if yearly:  # a panel: the values maps get a layer per year
        values_maps |= _year_values_maps(analysis, info, fields, opts)
    built = {
        **values_maps,
        "lisa.html": figures.lisa_map(
            {v.label: locals_[v.key] for v in analysis.variables}, info,
            title=f"LISA clusters · {analysis.title}"
            + (" (other years: a layer each in the control)" if yearly else ""),
            legend_title=analysis.lisa_legend,
            fields=fields, joins=joins, years=yearly, **opts,
        ),
        "tiers.html": figures.tiers_map(
            info, tier_shapes, title=f"Tier diffusion · {analysis.title}", fields=fields,
            tier_word=analysis.tier_word, **opts,
        ),
    }  # fmt: skip
    if membership is not None and analysis.cluster_table is not None:
        built["clusters.html"] = figures.clusters_map(
            membership, clusters.polygons(cluster_set), info,
            marked=analysis.cluster_table.set_index("adcode")["rank"],
            marked_name=analysis.marked_name, fields=fields,
            **({"title": f"City clusters · {analysis.title}"} if yearly else {}), **opts,
        )  # fmt: skip
    sizes, files = {}, []
    for fname, fmap in built.items():
        sizes[fname] = len(to_html(fmap, folder.path(f"maps/{fname}")).encode("utf-8"))
        files.append(f"maps/{fname}")
    linked = _linked_pages(analysis, folder, locals_, opts.get("geo"), sizes=sizes, files=files,
                           lang=lang)  # fmt: skip
    return sizes, linked, files


def _panel_wide(analysis: Analysis, var: Variable) -> pd.DataFrame:
    """A panel variable's values as units (its universe) x years."""
    assert analysis.rows is not None and analysis.year_col
    rows = analysis.rows.rename_axis("unit").reset_index()
    wide = rows.pivot_table(index="unit", columns=analysis.year_col, values=var.variable,
                            aggfunc="first")  # fmt: skip
    return wide.reindex(var.data.index)


def _year_values_maps(
    analysis: Analysis, info: pd.DataFrame, fields: dict[str, str], opts: dict[str, Any]
) -> dict[str, Any]:
    """Each variable's values map of a panel: a layer per year, the latest shown."""
    from geotool.maps import pages as figures

    out = {}
    for var in analysis.variables:
        if analysis.rows is None or var.variable not in analysis.rows.columns:
            continue
        wide = _panel_wide(analysis, var)
        out[f"values_{var.key}.html"] = figures.year_values_map(
            wide, label=var.label, study_title=analysis.title, table=info, fields=fields, **opts
        )
    return out


def _yearly_locals(run: Run) -> dict[str, dict[Any, pd.DataFrame]]:
    """A panel's local Moran of each variable in each year (the LISA map's year layers).

    The study's weights, adjustment, sides and permutations; a year a unit lacks a value
    in is left out and logged.
    """
    a, study, r = run.analysis, run.study, run.results
    if a.rows is None or not a.year_col or a.rows[a.year_col].nunique() < 2:
        return {}  # not a panel
    out: dict[str, dict[Any, pd.DataFrame]] = {}
    for var in a.variables:
        if var.variable not in a.rows.columns:
            continue
        wide, w = _panel_wide(a, var), r["default_weights"][var.key]
        gaps = [str(y) for y in wide.columns if wide[y].isna().any()]
        if gaps:
            log(f"LISA map of {var.label}: no layer for {', '.join(gaps)} (units without a value)")
        out[var.label] = {
            year: autocorr.local_stats(wide[year].rename(f"{var.label} {year}"), w,
                                       alpha=study.alpha, adjust=study.adjust,
                                       sided=study.sided, **run.perm)
            for year in wide.columns if str(year) not in gaps
        }  # fmt: skip
    return out


def _map_values(analysis: Analysis, var: Variable) -> pd.Series:
    """A variable's values on the units its maps draw (missing: NaN, shown as no data)."""
    values = var.data.astype(float)
    return values if analysis.units is None else values.reindex(analysis.units.index)


def _value_pages(
    analysis: Analysis, info: pd.DataFrame, fields: dict[str, str], opts: dict[str, Any],
    classes: tuple[str, int | None, list[float] | None] | None, *, drawn: set[str],
) -> dict[str, Any]:  # fmt: skip
    """A value map per variable not drawn by the analysis (all when the study sets classes)."""
    from geotool._classify import spec_for
    from geotool.maps import choropleth

    out = {}
    for var in analysis.variables:
        name = f"values_{var.key}.html"
        if name in drawn and classes is None:
            continue
        values = _map_values(analysis, var)
        scheme, k, breaks = spec_for(values, classes)
        shown = {c: t for c, t in fields.items() if t != var.label}
        try:
            out[name] = choropleth(
                values, scheme=scheme, k=k, breaks=breaks, label=var.label,
                title=f"{var.label} · {analysis.title}", table=info.assign(_value_=values),
                fields={"_value_": var.label, **shown}, **opts,
            )  # fmt: skip
        except InputError as exc:  # e.g. one distinct value: nothing to class
            log(f"{name} not drawn: {exc}", logging.WARNING)
    return out


def _linked_pages(
    analysis: Analysis, folder: OutputFolder, locals_: dict[str, pd.DataFrame],
    geo: gpd.GeoDataFrame | None, *, sizes: dict[str, int], files: list[str], lang: str,
) -> dict[str, str]:
    """Write each variable's linked LISA view (scatter and maps, one offline page)."""
    from geotool.maps import linked_lisa

    linked = {}
    for var in analysis.variables:
        page = linked_lisa(
            locals_[var.key], geo, title=f"{var.label} · linked LISA view · {analysis.title}",
            names=None if analysis.units is None else analysis.names(), lang=lang,
        )  # fmt: skip
        linked[var.key] = f"lisa_linked_{var.key}.html"
        write_atomic(folder.path(f"maps/{linked[var.key]}"), page)
        files.append(f"maps/{linked[var.key]}")
        sizes[linked[var.key]] = len(page.encode("utf-8"))
    return linked


# ---------------------------------------------------------------------------- stages


def _check_k(study: Study, analysis: Any) -> None:
    """A ``knn:K`` too large for the units fails before any stage works (not after tiers)."""
    k = parse_spec(study.weights).get("k") if study.weights else None
    n = min((len(v.data) for v in analysis.variables), default=0)
    if k is not None and n and k >= n:
        raise InputError(
            f"weights={study.weights} asks for {k} neighbours of each of {n} units; "
            f"use at most knn:{n - 1} (or queen)."
        )


def _inputs(run: Run) -> None:
    """The analysis' own tables; the renderers fork and import while the statistics run."""
    _check_k(run.study, run.analysis)
    for name, frame in run.analysis.tables.items():
        run.table(f"tables/{name}.csv", frame)
    lang = run.study.language(run.analysis.china)
    assert run.folder is not None
    drawing = None if run.study.figures else background.prepare(
        partial(_scatter_pngs, lang=lang),
        warm=partial(_load_drawing, run.analysis.units, lang),
    )  # with figures, the figures' process draws the scatter plots too (_figures)
    paging = background.prepare(
        partial(
            _pages, run.analysis, run.folder, cdn=run.study.cdn, basemap=run.study.basemap,
            cluster_set=run.study.cluster_set, classes=run.study.classes_spec(), lang=lang,
        ),
        warm=_load_folium,
    )  # fmt: skip
    run.pending += [paging] if drawing is None else [drawing, paging]
    run.results |= {"drawing": drawing, "paging": paging}
    if run.study.figures:
        run.results["figuring"] = _prepare_figures(run, lang)
        run.pending.append(run.results["figuring"])


def _file_xy(frame: pd.DataFrame, plane: str) -> pd.DataFrame:
    """``frame``'s ``*lon*`` and ``*lat*`` columns as the file's own ``*x*`` and ``*y*``.

    A file without a CRS was placed on the globe by ``plane`` (see
    :func:`geotool.geofile.plane_crs`) for drawing; its tables give positions in the file's
    coordinates (a longitude without its latitude, a tier's mean east-west position, is
    left out).
    """
    import pyproj

    back = pyproj.Transformer.from_crs("EPSG:4326", plane, always_xy=True)
    out = frame.copy()
    for lon in [c for c in frame.columns if isinstance(c, str) and "lon" in c]:
        lat = lon.replace("lon", "lat")
        if lat not in frame.columns:
            out = out.drop(columns=lon)
            continue
        out[lon], out[lat] = back.transform(frame[lon].to_numpy(float),
                                            frame[lat].to_numpy(float))  # fmt: skip
        out = out.rename(columns={lon: lon.replace("lon", "x"), lat: lat.replace("lat", "y")})
    return out


def _scatter_title(run: Run, var: Variable, weights_spec: str, year: object) -> str:
    """A Moran scatter plot's title in the study's language: the label, year and weights.

    The report's variables by the figures' words for them (工业百强县 …); a user's by her
    label (or column).
    """
    from geotool.maps.figure import WORDS

    lang = run.study.language(run.analysis.china)
    label = var.label
    if run.analysis.info_values is None:  # the report's own study
        label = WORDS["static"][lang].get("labels", {}).get(var.key, label)
    label += f" ({year})" if year is not None else ""
    if lang == "zh":
        return f"{label}（{weights_spec} 权重）"
    return f"{label}, {weights_spec} weights"


def _tier_summary(tt: TierTable, res: dict[str, Any]) -> dict[str, Any]:
    comp = res.get("composition")
    regions = [r for r in ("east", "central", "west", "northeast") if comp is not None
               and r in comp.columns]  # fmt: skip
    out = {
        "tiers": tt.tiers,
        "by_region": {} if comp is None else {
            int(t): {r: int(comp.loc[t, r]) for r in regions} for t in comp.index
        },
        "vectors": res["vectors"][["kind", "from", "to", "bearing_deg", "length_km"]].to_dict(
            "records"),
    }  # fmt: skip
    if "gradient" in res:
        out["gradient"] = res["gradient"].drop(columns=["permutations", "seed"]).to_dict("records")
    return out | {"verdict": res["verdict"]}


def _tiers(run: Run) -> None:
    """Tier composition, geography, diffusion vectors and the gradient test."""
    a = run.analysis
    log("tiers: composition, geography, diffusion" + (", gradient ..." if a.china else " ..."))
    # distances to China's coast and to 上海 for China's units only
    china = {"coast": boundaries.coastline(), "core": china_core()} if a.china else {}
    out, shapes = {}, {}
    labels = {v.key: v.label for v in a.variables}  # the index's headings
    plane = None if a.units is None else (a.units.attrs.get("source") or {}).get("plane")
    for name, tt in a.tier_tables.items():
        ids = pd.Index(tt.table["adcode"]).unique()
        pos = tiers.unit_positions(a.geometry_of(ids), **china)
        res = tiers.analyse(tt.table, pos, year_col=tt.year_col, east_west=a.china, **run.perm)
        if tt.region_change is not None:
            res["region_change"] = tt.region_change
        shapes[name] = res["shapes"]
        # a panel's composition, geography, vectors and gradient are of its latest year
        latest = {"year": int(tt.table[tt.year_col].max())} if tt.year_col else {}
        for key in ("composition", "geography", "vectors", "gradient", "region_change",
                    "yearly_centres"):  # fmt: skip
            if key in res:
                frame = res[key].reset_index() if key == "composition" else res[key]
                if plane is not None:  # a file without a CRS: its own x and y, not lon/lat
                    frame = _file_xy(frame, plane)
                stamp = latest if key in ("composition", "geography", "vectors", "gradient") else {}
                run.table(f"tables/tiers_{key}_{name}.csv", frame.assign(**stamp))
        run.write(f"tables/tiers_shapes_{name}.geojson", geojson_dumps(res["shapes"]))
        if res.get("mobility"):  # tier transitions, year to year: one long table
            from geotool import dynamics

            run.table(f"tables/tiers_mobility_{name}.csv", dynamics.mobility_table(res["mobility"]))
        out[name] = _tier_summary(tt, res) | {"label": labels.get(name, name.replace("_", " "))}
    run.summary["tiers"] = out
    run.results["tier_shapes"] = shapes


def _global_under_specs(
    run: Run, var: Variable
) -> tuple[pd.DataFrame, Weights, dict[str, str], tuple[str, ...]]:
    """Global statistics of a variable under every sensitivity spec and its own weights.

    Also the weights, the specs left out (with why) and the sensitivity specs.
    """
    study, a = run.study, run.analysis
    default = study.weights or var.weights
    sensitivity = a.sensitivity(var.data.index)
    specs = sensitivity if default in sensitivity else (*sensitivity, default)
    frames, skipped, default_w = [], {}, None
    for spec in specs:
        try:
            w = a.weights(var.data.index, spec, study.islands)
            run.results.setdefault("weights_built", {})[spec, len(w.ids)] = w
        except InputError as exc:
            if spec == default:
                raise
            skipped[spec] = str(exc)
            continue
        frames.append(autocorr.global_stats(var.data, w, **run.perm))
        if spec == default:
            default_w = w
    assert default_w is not None
    return pd.concat(frames, ignore_index=True), default_w, skipped, sensitivity


def _named(frame: pd.DataFrame, names: pd.Series) -> pd.DataFrame:
    frame.insert(0, "name", names.reindex(frame.index).to_numpy())
    return frame


def _keep_joins(run: Run, key: str, label: str, ljc: pd.DataFrame, table: str) -> None:
    """A local join counts table: on the maps as ``label``, the figures as ``key``, written."""
    run.results["joins"][label] = ljc
    run.results["static_joins"][key] = (label, ljc)
    run.table(table, ljc.reset_index(names="adcode"))


def _join_counts(run: Run, var: Variable, w: Weights, names: pd.Series) -> dict[str, Any]:
    """Join counts and local join counts of a variable's 0/1 membership."""
    assert var.member is not None
    jc = autocorr.join_counts(var.member, w, **run.perm)
    run.table(f"tables/join_counts_{var.key}.csv", jc)
    ljc = _named(autocorr.local_join_counts(var.member, w, alpha=run.study.alpha, **run.perm),
                 names)  # fmt: skip
    _keep_joins(run, var.key, f"{var.label} (BB)", ljc, f"tables/ljc_{var.key}.csv")
    hits = ljc[ljc["significant"]]
    return {
        "local_join_counts_bb": {
            "tested": int(ljc["p_sim"].notna().sum()),
            "clusters": len(hits),
            "units": hits["name"].tolist(),
        },
        "join_counts": jc.set_index("statistic")[
            ["value", "expected", "z_norm", "p_norm", "p_sim"]
        ].to_dict(orient="index"),
    }


def _autocorrelation_of(run: Run, var: Variable, names: pd.Series) -> dict[str, Any]:
    """Every statistic of one variable, written; its summary."""
    study, r = run.study, run.results
    glob, w, skipped, sensitivity = _global_under_specs(run, var)
    default = study.weights or var.weights
    r["default_weights"][var.key] = w
    local = autocorr.local_stats(var.data, w, alpha=study.alpha, adjust=study.adjust,
                                 sided=study.sided, **run.perm)  # fmt: skip
    local = _named(local, names)
    r["locals"][var.key] = local
    year = _latest_year(run.analysis)
    stamp = {} if year is None else {"year": year}  # a panel: which year the tables are of
    run.table(f"tables/global_{var.key}.csv", glob.assign(label=var.label, **stamp))
    moran = glob.set_index(["weights", "statistic"])
    out: dict[str, Any] = {}
    if var.member is not None:
        out = _join_counts(run, var, w, names)
    run.table(f"tables/lisa_{var.key}.csv", local.assign(**stamp).reset_index(names="adcode"))
    geary = _named(autocorr.local_geary(var.data, w, alpha=study.alpha, sided=study.sided,
                                        **run.perm), names)  # fmt: skip
    run.table(f"tables/local_geary_{var.key}.csv",
              geary.assign(**stamp).reset_index(names="adcode"))
    r.setdefault("gearys", {})[var.key] = geary
    r["moran_i"][var.key] = _number(moran.loc[(default, "moran_i"), "value"])
    r["scatters"].append((var.key, local, _scatter_title(run, var, default, year)))
    counts = local["lisa_class"].value_counts()
    done = [s for s in sensitivity if s not in skipped]
    stats = ("value", "expected", "z_norm", "p_norm", "p_rand", "p_sim")
    return {
        "label": var.label, "variable": var.variable, "high_means": var.high_means,
        "default_weights": default, "weights_report": w.report,
        "moran_i": {
            spec: {k: _number(moran.loc[(spec, "moran_i"), k]) for k in stats}
            for spec in dict.fromkeys([*done, default])
        },
        "lisa_counts": {cls: int(counts.get(cls, 0)) for cls in autocorr.LISA_CLASSES},
        "local_geary_counts": {str(k): int(v) for k, v in geary["cluster"].value_counts().items()},
        **({"year": year} if year is not None else {}),
        "lisa_rule": local.attrs["lisa_rule"], "adjust": study.adjust, "alpha": study.alpha,
        "p_sided": study.sided, "p_sim": _p_words(study.sided),
        "sensitivity_specs": list(sensitivity),
        **out, **({"weights_skipped": skipped} if skipped else {}),
    }  # fmt: skip


def _p_words(sided: str) -> str:
    """What the p-values of a run's tables are, in words."""
    local = (
        "two-sided, 2 x the folded one-sided p capped at 1"
        if sided == "two-sided"
        else "one-sided in the observed direction (folded, GeoDa's)"
    )
    return (
        f"global: one-sided in the observed direction; local (LISA, Gi*, local Geary): "
        f"{local}; local join counts: one-sided (upper); p_norm, p_rand two-sided"
    )


def _autocorrelation(run: Run) -> None:
    """Global statistics under every spec, local statistics under the study's weights."""
    log(f"spatial autocorrelation ({run.study.permutations} permutations) ...")
    run.results |= {"locals": {}, "joins": {}, "static_joins": {}, "moran_i": {},
                    "default_weights": {}, "scatters": []}  # fmt: skip
    names = run.analysis.names()
    run.summary["autocorrelation"] = {
        var.key: _autocorrelation_of(run, var, names) for var in run.analysis.variables
    }


def _bivariate_pair(run: Run, pair: tuple[str, str], one: bool) -> None:
    """Bivariate Moran's I and LISA of a pair (co-location of two memberships)."""
    study, a, r, perm = run.study, run.analysis, run.results, run.perm
    va, vb = (next(v for v in a.variables if v.key == k) for k in pair)
    heads = [k.split("_")[0] for k in pair]
    key = "_".join(heads) if one and heads[0] != heads[1] else f"{va.key}__{vb.key}"
    other = vb.data.reindex(va.data.index).fillna(0.0)
    w = r["default_weights"][va.key]  # the weights of a's local statistics
    biv = autocorr.global_stats(
        va.data.rename(f"{va.key}.{va.variable}"), w,
        other=other.rename(f"{vb.key}.{vb.variable}"), **perm,
    )  # fmt: skip
    biv = biv[biv["statistic"].str.startswith("moran_bv")].reset_index(drop=True)
    run.table(f"tables/bivariate_moran{'' if one else '_' + key}.csv", biv)
    auto = run.summary["autocorrelation"]
    names = a.names()
    if va.member is not None and vb.member is not None:  # where do both memberships meet?
        z = vb.member.reindex(va.member.index).fillna(0).astype(int)
        clc = _named(autocorr.local_join_counts(va.member, w, z=z, case="CLC",
                                                alpha=study.alpha, **perm), names)  # fmt: skip
        label = f"co-location {va.label} × {vb.label} (CLC)"
        static = "colocation" if one else f"colocation_{key}"
        _keep_joins(run, static, label, clc, "tables/ljc_colocation.csv")
        colocated = clc[clc["significant"]]["name"].tolist()
        auto["colocation_clc"] = {"clusters": len(colocated), "units": colocated}
    lbv = autocorr.local_bivariate(va.data, other, w, alpha=study.alpha, adjust=study.adjust,
                                   sided=study.sided,
                                   **perm)  # fmt: skip
    lbv = _named(lbv, names)
    run.table(f"tables/lisa_bv_{key}.csv", lbv.reset_index(names="adcode"))
    row = biv.iloc[0]
    auto[f"bivariate_{key}"] = {
        "label": f"{va.label} × lag of {vb.label}",
        "value": float(row["value"]), "p_sim": float(row["p_sim"]), "weights": row["weights"],
        "lisa_counts": {str(c): int(n) for c, n in lbv["lisa_class"].value_counts().items()},
    }  # fmt: skip


def _bivariate(run: Run) -> None:
    """Bivariate statistics of every pair of variables the study names."""
    for pair in run.analysis.bivariate:
        _bivariate_pair(run, pair, one=len(run.analysis.bivariate) == 1)


def _unit_info(a: Analysis, lisa: pd.DataFrame, membership: pd.DataFrame | None) -> pd.DataFrame:
    """The tooltip table of a study's own units: its values, region, cluster, LISA class."""
    index = a.names().index
    out = pd.DataFrame(index=index) if a.info_values is None else a.info_values.reindex(index)
    if a.units is not None:
        for col in ("name", "province", "region"):
            if col in a.units.columns and col not in out.columns:
                out[col] = a.units[col].reindex(index)
    if membership is not None:
        out["cluster"] = membership["primary_zh"].reindex(index)
    out["lisa_class"] = lisa["lisa_class"].reindex(index)
    return out


def _maps(run: Run) -> None:
    """Hand the statistics to the renderers: scatter plots and map pages."""
    from geotool.maps.pages import FIELDS

    log("maps (in a second process while the rest is computed) ...")
    a, study, r = run.analysis, run.study, run.results
    first = a.variables[0].key
    r["drawing_args"] = (r["scatters"], r["moran_i"], _onepage_args(run))
    if r["drawing"] is not None:
        r["drawn"] = r["drawing"].submit(*r["drawing_args"])
    membership = (
        clusters.membership(study.cluster_set, level=a.cluster_level)
        if a.cluster_table is not None
        else None
    )
    if a.unit_info is not None:  # a recipe's own tooltip table
        info = a.unit_info(lisa=r["locals"][first], membership=membership)
    else:
        info = _unit_info(a, r["locals"][first], membership)
    first_tiers = next(iter(a.tier_tables))
    fields = dict(FIELDS)
    if a.info_values is not None:
        t = a.tier_tables[first_tiers]
        latest = t.table if not t.year_col else t.table[t.table["year"] == t.table["year"].max()]
        info["tier"] = latest.set_index("adcode")["tier"].reindex(info.index).astype("Int64")
        fields = {c: study.label(c) for c in a.info_values.columns} | {
            "tier": a.tier_word, "region": "region",
            **({"cluster": "城市群 cluster"} if membership is not None else {}),
            "lisa_class": f"LISA ({a.variables[0].label})",
        }  # fmt: skip
    r |= {"membership": membership, "info": info}
    _binary_joins(run)
    r["local_pages"] = background.start(partial(_local_pages, run, info, fields))
    run.pending.append(r["local_pages"])  # stopped if a later stage fails
    r["pages"] = r["paging"].submit(
        info=info, fields=fields, membership=membership, locals_=r["locals"],
        joins=r["joins"], tier_shapes=r["tier_shapes"][first_tiers], yearly=_yearly_locals(run),
    )  # fmt: skip


def _onepage_args(run: Run) -> dict[str, Any]:
    """What the one-page summary's maps need: the first variable's values and LISA."""
    a, study = run.analysis, run.study
    var = a.variables[0]
    return {
        "values": _map_values(a, var), "local": run.results["locals"][var.key], "key": var.key,
        "label": var.label,
        "spec": study.classes_spec(), "permutations": study.permutations, "units": a.units,
        "source": (a.about or a.title) if a.info_values is not None else None,
    }  # fmt: skip


def _binary_joins(run: Run) -> None:
    """Local join counts of every 0/1 variable that has no membership of its own (a dummy)."""
    names = run.analysis.names()
    for var in run.analysis.variables:
        values = var.data
        if var.member is not None or not values.isin([0, 1]).all() or values.nunique() < 2:
            continue
        w = run.results["default_weights"][var.key]
        ljc = _named(autocorr.local_join_counts(values.astype(int), w, alpha=run.study.alpha,
                                                **run.perm), names)  # fmt: skip
        _keep_joins(run, var.key, f"{var.label} (BB)", ljc, f"tables/ljc_{var.key}.csv")


def _value_pairs(a: Analysis) -> dict[str, tuple[pd.Series, pd.Series]]:
    """The bivariate maps' pairs: the study's bivariate pairs, else consecutive variables."""
    by_key = {v.key: v for v in a.variables}
    keys = a.bivariate or list(zip(by_key, list(by_key)[1:], strict=False))
    named = {k: v.data.rename(v.label) for k, v in by_key.items()}
    return {f"{x}__{y}": (named[x], named[y]) for x, y in keys}


def _local_pages(run: Run, info: pd.DataFrame, fields: dict[str, str]) -> dict[str, str]:
    """Gi* hot spots, significance, bivariate and join count pages (in a forked process)."""
    from geotool.maps.local import local_pages

    a, r = run.analysis, run.results
    opts: dict[str, Any] = {"cdn": run.study.cdn, "basemap": run.study.basemap,
                            "lang": run.study.language(a.china)}  # fmt: skip
    if a.units is not None:
        opts |= {"geo": _map_geometry(a.units), "label_col": "name"}
    labels = {v.key: v.label for v in a.variables}
    pairs = {f"{x.name} × {y.name}": (x, y) for x, y in _value_pairs(a).values()}
    return local_pages(
        locals_={labels[k]: v for k, v in r["locals"].items()},
        gearys={labels[k]: v for k, v in r.get("gearys", {}).items()},
        joins=r["joins"], pairs=pairs, info=info, fields=fields, title=a.title, **opts,
    )  # fmt: skip


#: The official cluster sets every run with clusters counts under (and compares).
_OFFICIAL_SETS = ("report2020", "plans")


def _city_clusters(run: Run) -> None:
    """City-cluster counts, membership, radiation and belts of the study's units."""
    a = run.analysis
    table, level = a.cluster_table, a.cluster_level
    assert table is not None
    # the study's set first (the index shows it), then the two official ones it is compared to
    named = (run.study.cluster_set, *_OFFICIAL_SETS)
    sets = {s: s if s in _OFFICIAL_SETS else "own" for s in named}
    log(f"city clusters under {', '.join(sets.values())} ({level} level) ...")
    strong = _belt_units(run, table)  # a user's table: its class-1 units, as the report's ranks
    out: dict[str, Any] = {"level": level, "counted": len(strong)}
    for set_name, key in sets.items():
        checked = clusters.check_geometry(set_name)
        cl_counts = clusters.ranking_counts(set_name, strong, level=level)
        ms = clusters.membership(set_name, level=level)
        run.table(f"tables/clusters_counts_{key}.csv", cl_counts)
        mine = ms.loc[ms.index.isin(table["adcode"])] if a.info_values is not None else ms
        run.table(f"tables/clusters_membership_{key}.csv", mine.reset_index(names="adcode"))
        run.write(f"tables/clusters_{key}.geojson", geojson_dumps(clusters.polygons(set_name)))
        out[key] = {
            "name": str(ms.attrs.get("set", set_name)),
            "definitions": list(checked),
            "geometry_check": "code and geometry membership agree",
            "counts": {str(c): int(n) for c, n in zip(cl_counts["cluster_id"], cl_counts["count"],
                                                      strict=True)},
            "names": _cluster_names(cl_counts),
            "outside": [u for u in str(cl_counts["units"].iloc[-1]).split(";") if u],
        }  # fmt: skip
        if level == "county":  # distances to cores are measured between counties
            radiation = clusters.radiation(set_name, table, **run.perm)
            run.table(f"tables/clusters_radiation_{key}.csv", radiation)
            out[key]["radiation"] = radiation.drop(columns=["permutations", "seed"]).to_dict(
                orient="records"
            )
    changes = clusters.set_changes("report2020", "plans", strong, level=level)
    run.table("tables/clusters_changes_report2020_plans.csv", changes)
    out["changes_report2020_to_plans"] = changes.to_dict(orient="records")
    if level == "county":
        belts = clusters.table_belts(strong, "report2020")
        run.table("tables/clusters_belts.csv", belts)
        out["largest_belts"] = belts.head(5).to_dict(orient="records")
    run.summary["clusters"] = out


def _cluster_names(counts: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Each counted cluster's names, ``{"zh": ..., "en": ...}`` (the index shows one)."""
    english = clusters.definitions().drop_duplicates("cluster_id").set_index("cluster_id")
    out = {}
    for cid, zh in zip(counts["cluster_id"].astype(str), counts["cluster_zh"], strict=True):
        en = english["cluster_en"].get(cid) if cid in english.index else None
        zh_name = str(zh) if isinstance(zh, str) and zh.strip() else cid
        out[cid] = {"zh": zh_name, "en": str(en) if isinstance(en, str) and en.strip() else cid}
    return out


def _belt_units(run: Run, table: pd.DataFrame) -> pd.DataFrame:
    """The units clusters count and belts join: the report's ranked ones, or a user's class 1.

    A user's table ranks every unit: counted whole, every cluster held all of its units
    (the study area) and all of them made one "belt".
    """
    a = run.analysis
    if a.info_values is None or not a.tier_tables:
        return table
    tt = next(iter(a.tier_tables.values()))  # the first variable's, as the cluster table
    t = tt.table
    if tt.year_col:
        t = t[t["year"] == t["year"].max()]
    top = set(t.loc[t["tier"] == 1, "adcode"].astype(str))
    return table[table["adcode"].astype(str).isin(top)]


def _no_clusters(run: Run) -> str | None:
    a = run.analysis
    if a.cluster_table is not None:
        return None
    if not a.china:
        return "city clusters are defined for China's units; these units are outside China"
    return f"city clusters are defined on bundled counties and prefectures, not on {a.level} units"


def _dynamics(run: Run) -> None:
    """A panel's dynamics: Moran's I by year (and its chart), rank mobility, Markov chains."""
    from geotool.maps import charts

    run.summary |= run.analysis.extra(run.write, **run.perm)
    lang = run.study.language(run.analysis.china)
    labels = {v.key: v.label for v in run.analysis.variables}
    for key, res in run.summary.get("dynamics", {}).items():
        frame = pd.DataFrame.from_dict(res["moran_by_year"], orient="index")
        frame = frame.rename(columns={"value": "moran_i"}).rename_axis("year").reset_index()
        run.figure(f"moran_by_year_{key}", charts.moran_by_year_chart(
            frame, lang, n=res["units"], permutations=res.get("permutations", 0),
            label=labels.get(key, "")))  # fmt: skip


def _renderers(run: Run) -> None:
    """Collect the pages and scatter plots drawn in the other processes."""
    r = run.results
    sizes, linked, page_files = r["pages"].result()
    run.files += page_files
    for relative, png in r["drawn"].result().items():
        if relative.startswith("onepage:"):  # embedded in onepage.html by _index
            r.setdefault("onepage_pngs", {})[relative.removeprefix("onepage:")] = png
        else:
            run.write(relative, png)
    for relative, page in r["local_pages"].result().items():
        run.write(relative, page)
        sizes[relative.removeprefix("maps/")] = len(page.encode("utf-8"))
    run.summary["maps"] = {
        "files": sizes, "cdn": run.study.cdn, "basemap": run.study.basemap, "linked": linked,
    }  # fmt: skip


def _figures(run: Run) -> None:
    """Static figures for print, in every format the study asks for, on both cores.

    The figures' process forked at :func:`_inputs` and warmed up while the statistics ran
    (:func:`_warm_figures`); it now gets the results, forks once more, and the two draw
    the figures (and the pages' scatter plots) as each is free (benchmarks/README.md).
    """
    study, r = run.study, run.results
    lang = study.language(run.analysis.china)
    formats = validate_figures(study.figures, study.dpi, lang, name="figures")
    log(f"static figures ({', '.join(formats)}, {study.dpi} dpi, {lang}) ...")
    needed = {k: r[k] for k in _FIGURE_RESULTS if k in r}
    files, turns, drawn = r["figuring"].submit(needed, r["drawing_args"]).result()
    r["drawn"] = background.Prepared(partial(dict, drawn)).submit()  # for _renderers
    for relative in sorted(files, key=lambda f: turns[f.split("/")[1].rsplit(".", 1)[0]]):
        run.write(relative, files[relative])  # in the figures' order


#: The results the figures draw (sent to the figures' process, forked before them).
_FIGURE_RESULTS = (
    "info", "locals", "gearys", "static_joins", "tier_shapes", "membership", "moran_i",
)  # fmt: skip


def _prepare_figures(run: Run, lang: str) -> background.Prepared[Any]:
    """Fork the figures' process now, to warm up while the statistics run."""
    study = run.study
    formats = validate_figures(study.figures, study.dpi, lang, name="figures")
    warm = partial(_warm_figures, _figure_units(run.analysis), formats, lang, study.dpi)
    work = partial(_all_figure_files, run, formats, lang)
    return background.prepare(work, warm=warm, forks=True)


def _warm_figures(
    units: gpd.GeoDataFrame | None, formats: tuple[str, ...], lang: str, dpi: int
) -> None:
    """The figures' warm-up while the statistics run: a map in every format, at ``dpi``."""
    from geotool.maps import static

    static.warm(units, lang, formats=formats, dpi=dpi)


def _all_figure_files(
    run: Run, formats: tuple[str, ...], lang: str, results: dict[str, Any], drawing: tuple
) -> tuple[dict[str, bytes], dict[str, int], dict[str, bytes]]:
    """Every figure's files, the figures' order, and the pages' scatter plots.

    A process forked here and this one each take the next figure not yet taken (a shared
    counter), this one after the scatter plots: neither waits while the other has work.
    """
    import multiprocessing

    run.results.update(results)
    taken = multiprocessing.get_context("fork" if background.forking() else None).Value("i", 0)
    other = background.start(partial(_taken_files, run, formats, lang, taken))
    try:
        drawn = _scatter_pngs(*drawing, lang=lang)
        turns: dict[str, int] = {}
        files = _merged(_figure_files(run, formats, lang, _taker(taken), turns))
        return files | other.result(), turns, drawn
    finally:
        other.cancel()


def _taker(taken: Any) -> Callable[[int], bool]:
    """Whether to draw the figure at this place in the order: yes if no process took it."""

    def take(place: int) -> bool:
        with taken.get_lock():
            if taken.value != place:  # taken (every earlier place is, too)
                return False
            taken.value += 1
            return True

    return take


def _merged(parts: Iterator[dict[str, bytes]]) -> dict[str, bytes]:
    """One figure's files after another, in one mapping."""
    return {k: v for part in parts for k, v in part.items()}


def _taken_files(run: Run, formats: tuple[str, ...], lang: str, taken: Any) -> dict[str, bytes]:
    """The second process's share of the figures, as files."""
    return _merged(_figure_files(run, formats, lang, _taker(taken)))


def _figure_files(
    run: Run, formats: tuple[str, ...], lang: str, take: Callable[[int], bool],
    turns: dict[str, int] | None = None,
) -> Iterator[dict[str, bytes]]:
    """The static figures whose place in the order ``take`` says to draw, their files.

    ``turns`` receives every figure's place in the order (drawn here or not).
    """
    from geotool.maps import static as print_figures

    a, study, r = run.analysis, run.study, run.results
    with_clusters = r["membership"] is not None and a.cluster_table is not None
    own = a.info_values is not None
    seen = {} if turns is None else turns

    def mine(name: str) -> bool:
        seen[name] = len(seen)
        return take(seen[name])

    labels, when = {v.key: v.label for v in a.variables}, _latest_year(a)
    source, units = (a.about or a.title) if own else None, _figure_units(a)
    figures = itertools.chain(print_figures.report_figures(
        r["info"], locals_=r["locals"], labels=labels,
        joins=r["static_joins"], shapes=r["tier_shapes"][next(iter(a.tier_tables))],
        membership=r["membership"] if with_clusters else None,
        polygons=clusters.polygons(study.cluster_set) if with_clusters else None,
        marked=None if a.cluster_table is None else a.cluster_table.set_index("adcode")["rank"],
        marked_name=a.marked_name, moran=r["moran_i"], permutations=study.permutations,
        lang=lang, title=source, source=source,
        units=units, values={v.key: _map_values(a, v) for v in a.variables},
        classes=study.classes_spec(), when=when, only=mine, own_study=own,
    ), print_figures.local_figures(
        locals_=r["locals"], gearys=r.get("gearys", {}), joins=r["static_joins"],
        pairs=_value_pairs(a), labels=labels, lang=lang, source=source, units=units, when=when,
        only=mine,
    ))  # fmt: skip
    for name, fig in figures:
        files = figure_files(fig, formats, dpi=study.dpi)
        yield {f"figures/{name}.{ext}": data for ext, data in files.items()}


#: A user's table of bundled units in at most this many provinces (a province's study, the
#: Yangtze delta's 江浙沪皖) is drawn as them; in more (a national ranking's 12), as China.
_REGIONAL_PROVINCES = 4


def _figure_units(a: Any) -> gpd.GeoDataFrame | None:
    """The units a study's figures draw (None: all of China's counties).

    Its own; for a user's table of bundled units, those of the provinces it covers (a
    province's study is not a map of China with an inset), up to :data:`_REGIONAL_PROVINCES`.
    """
    if a.units is not None or a.info_values is None or a.level not in ("county", "prefecture"):
        return a.units
    provinces = pd.Index(a.info_values.index.astype(str).str[:2]).unique()
    if len(provinces) > _REGIONAL_PROVINCES:
        return None
    layer = boundaries.load(a.level)
    return layer[layer.index.str[:2].isin(provinces)]


def _latest_year(a: Any) -> str | None:
    """The year a panel's maps and figures show (its latest); None for a cross-section."""
    if a.rows is None or not a.year_col:
        return None
    return str(a.rows[a.year_col].max())


def _index(run: Run) -> None:
    """``summary.json`` and the landing page."""
    from geotool.maps import pages as figures
    from geotool.maps.onepage import onepage
    from geotool.maps.pages import ONEPAGE

    a, study, s = run.analysis, run.study, run.summary
    summary: dict[str, Any] = {
        "geotool_version": __version__,
        "title": a.title,
        **{k: v for k, v in a.summary.items() if k in ("boundaries", "input")},
        "seed": study.seed,
        "permutations": study.permutations,
        "lang": study.language(a.china),
        **{k: v for k, v in a.summary.items() if k not in ("boundaries", "input")},
        **s,
    }
    static = [f for f in run.files if f.startswith("figures/") and f.endswith(".png")]
    static = [f for f in static if not f.startswith("figures/moran_scatter_")]
    sizes, linked = s["maps"]["files"], s["maps"]["linked"]
    summary["files"] = run.files  # filled in as the last files are written
    run.write(ONEPAGE, onepage(summary, run.results.get("onepage_pngs", {}), title=a.title,
                               lang=summary["lang"]))  # fmt: skip
    run.write(
        "index.html",
        figures.index_page(summary, sizes, title=a.title, linked=linked, figures=static,
                           lang=summary["lang"]),
    )  # fmt: skip
    run.files.append("summary.json")
    assert run.folder is not None
    text = json.dumps(_json_safe(summary), ensure_ascii=False, indent=1, default=str) + "\n"
    write_atomic(run.folder.path("summary.json"), text)
    run.summary = summary


#: Every study's stages, in order (a recipe may add its own, :func:`run`'s ``stages``).
STAGES: tuple[Stage, ...] = (
    Stage("inputs", _inputs),
    Stage("composite index", regional.composite_stage, regional.no_index),
    Stage("tiers", _tiers),
    Stage("autocorrelation", _autocorrelation),
    Stage("bivariate", _bivariate,
          lambda run: None if run.analysis.bivariate else "no bivariate pairs were asked for"),
    Stage("maps", _maps),
    Stage("clusters", _city_clusters, _no_clusters),
    Stage("dynamics", _dynamics,
          lambda run: None if run.analysis.extra else "one year: not a panel"),
    Stage("divergence", regional.divergence_stage, regional.no_divergence),
    Stage("regression", regress_stage.regression_stage, regress_stage.no_model),
    # drawn while the pages' processes run (both cores busy), then the pages collected
    Stage("static figures", _figures,
          lambda run: None if run.study.figures else "no static figures were asked for"),
    Stage("renderers", _renderers),
)  # fmt: skip


# -------------------------------------------------- the one-table commands, as stages


def _user_table(
    run: Run, report: Path | None = None, on_table: Callable[[Any], Any] | None = None
) -> Any:
    """The study's table read and accounted for (:func:`geotool.userdata.load`).

    The match report goes into the folder (beside it only when the table is refused), or
    without a folder to ``report``; ``on_table`` sees the table once read.
    """
    from geotool.userdata import load

    if run.folder is None:
        table = load(run.study, report)
    else:
        beside = Path(str(run.study.out).rstrip("/") + ".match_report.csv")
        table = load(run.study, beside, report_on_failure_only=True, kept_as="match_report.csv")
        label = "line" if table.report.index.name == "line" else "row"
        run.table("match_report.csv", table.report.reset_index(names=label))
    if on_table is not None:
        on_table(table)
    return table


def _latest_values(table: Any) -> pd.Series:
    """The first value column of a user's table (its latest year), by unit id."""
    rows, label = table.rows, table.value_cols[0]
    if table.year_col:
        latest = rows[table.year_col].max()
        rows = rows[rows[table.year_col] == latest]
        label = f"{label} ({latest:g})" if pd.api.types.is_number(latest) else label
    col = table.value_cols[0]
    out = pd.Series(rows[col].to_numpy(float), index=rows["adcode"].to_numpy(), name=col)
    out.attrs["label"] = label  # the panel's year said where it is shown
    if table.year_col:  # and written in its tables
        out.attrs["year"] = latest
    return out


def _command_values(run: Run, on_table: Any) -> tuple:
    """A user's variable for ``geotool autocorr``: values, what weights use, label, names."""
    table = _user_table(run, on_table=on_table)
    series = _latest_values(table)
    stem = run.study.source
    if table.units is None:
        return series, series.index, stem, boundaries.units()["name"]
    units = table.units.loc[series.index]
    return series, units, stem, units["name"]


def autocorr_command(
    run: Run, *, sensitivity: bool, source: tuple | None = None,
    specs: tuple[str, ...] | None = None, pair: Callable[[pd.Index], tuple] | None = None,
    on_table: Callable[[Any], Any] | None = None,
) -> None:
    """``geotool autocorr``: one variable's statistics, its tables in the folder.

    ``source``: a recipe's ``(values, ids, label, names)``, else the user's table (seen by
    ``on_table``); ``pair(ids)``: the bivariate variable's score and 0/1 membership.
    """
    study, s, perm = run.study, run.summary, run.perm
    values, ids, label, names = source or _command_values(run, on_table)
    s |= {"values": values, "label": label}

    def write(stem: str, frame: pd.DataFrame, index: bool = True) -> Path:
        name = check.safe_filename(stem) + ".csv"
        return run.table(name, frame.assign(**perm), index=index, index_label="adcode")

    if sensitivity:
        s["sensitivity"] = autocorr.sensitivity(values, ids, specs=specs, **perm)
        write(f"sensitivity_{label}_{values.name}", s["sensitivity"], index=False)
        return
    assert study.weights is not None
    w = weights.build(ids, study.weights, islands=study.islands)
    other = clc = None
    if pair is not None:
        other, member = pair(w.ids)
        if values.isin([0, 1]).all():  # two memberships: where do they co-locate?
            clc = autocorr.local_join_counts(
                values, w, z=member, case="CLC", alpha=study.alpha, **perm
            )
    s |= autocorr.analyse(
        values, w, alpha=study.alpha, adjust=study.adjust, other=other, sided=study.sided, **perm
    )
    s["joins"] = {c: f for c, f in (("BB", s["local_join_counts"]), ("CLC", clc)) if f is not None}
    end = f"{label}_{values.name}_{study.weights.replace(':', '')}"
    tables = {"lisa": s["local"], "geary": s["local_geary"]}
    for stem, frame in {**tables, **{f"ljc_{c}": f for c, f in s["joins"].items()}}.items():
        frame.insert(0, "name", names.reindex(frame.index).to_numpy())
        if "year" in values.attrs:  # a panel's latest year
            frame.insert(1, "year", values.attrs["year"])
        path = write(f"{stem}_{end}", frame)
        s.setdefault("local_table", path)
    s["local_geary_counts"] = s["local_geary"]["cluster"].value_counts().to_dict()
    s["adjust_note"] = s["local"].attrs.get("adjust_note", "")


def autocorr_lines(s: dict[str, Any], study: Study, other: str | None) -> list[str]:
    """``geotool autocorr``'s statistics (its stage's summary ``s``) as lines of text."""
    values, rep = s["values"], s["weights"]
    cols = ["statistic", "value", "expected", "z_norm", "p_norm", "z_rand", "p_rand", "p_sim"]
    with pd.option_context("display.float_format", "{:.4g}".format):
        tables = [s["global"].reindex(columns=cols).to_string(index=False)]
        if s["join_counts"] is not None:
            tables.append(s["join_counts"][[*cols[:5], "p_sim"]].to_string(index=False))
    high = values.attrs.get("high_means")
    lines = [f"{values.name}: {high}"] if high else []
    lines += [
        f"{s['label']}: {values.attrs.get('label', values.name)}, {rep['units']} units, "
        f"weights {rep['spec']} (neighbours "
        f"mean {rep['mean_neighbours']}, min {rep['min_neighbours']}, max {rep['max_neighbours']}; "
        f"{rep['islands']['count']} without neighbours -> {rep['islands']['rule']}; "
        f"{rep['components']} components)", *tables,
        f"p_norm/p_rand two-sided; global p_sim one-sided (observed direction); local p_sim (LISA, "
        f"Gi*, local Geary) {study.sided}; {study.permutations} permutations, seed {study.seed}",
        f"LISA classes ({s['lisa_rule']}): {_counts(s['lisa_counts'])}",
        f"local Geary classes at alpha {study.alpha}: {_counts(s['local_geary_counts'])}",
    ]  # fmt: skip
    for case, frame in s["joins"].items():
        hits = frame[frame["significant"]].sort_values(["p_sim", "ljc"], ascending=[True, False])
        what = "BB clusters (ranked among ranked)" if case == "BB" else (
            f"co-location clusters (CLC) with {other}")  # fmt: skip
        found = ", ".join(f"{n} ({j:g}, p {p:.4g})" for n, j, p in hits[["name", "ljc", "p_sim"]]
                          .to_numpy())  # fmt: skip
        lines.append(f"local join counts, {what}: {len(hits)} of {frame['p_sim'].notna().sum()} "
                     f"tested units at alpha {study.alpha} (one-sided upper p_sim): {found}")
    return [*lines, f"local table: {s['local_table']}"]


def tiers_sections(s: dict[str, Any], k: int) -> tuple[str, list[tuple[str, Any]]]:
    """``geotool tiers``' headline and titled tables (its stage's summary ``s``)."""
    result, method = s["tiers"], s["method"]
    return f"{s['label']}: tiers by {method}" + (f", k={k}" * (method != "report")), [
        ("composition by region", result.get("composition")),
        ("geography per tier", result["geography"]),
        ("diffusion vectors (from tier 1's mean centre) and steps (tier t-1 -> t)",
         result["vectors"][["kind", "from", "to", "bearing_deg", "length_km"]]),
        ("gradient test (two-sided permutation p)", result.get("gradient")),
        ("change on 2019", result.get("region_change")),
        ("tier centres by year", result.get("yearly_centres")),
        *((f"mobility {k}", m) for k, m in result.get("mobility", {}).items()),
    ]  # fmt: skip


def _counts(counts: dict[Any, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def tiers_command(run: Run, *, method: str, k: int) -> None:
    """``geotool tiers`` of a user's table: its first value column's tiers, and their tests.

    A table's tiers are never the report's cut points (``method="report"``: Ward's).
    """
    user = _user_table(run)
    ok, score, units = user.rows, user.value_cols[0], user.units
    if method == "report":  # the report's cut points are for its rankings
        log("a table's tiers: the report's cut points do not apply; Ward clustering instead "
            "(choose with method=)")
        method = "ward"
    year_col = "year" if user.year_col and ok[user.year_col].nunique() >= 2 else None
    table = tiers.from_scores(
        ok["adcode"], ok[score], method=method, k=k,
        years=ok[user.year_col] if year_col else None,
    )  # fmt: skip
    attrs = boundaries.units() if units is None else units
    for col in ("region", "province"):
        if col in attrs.columns:
            table[col] = attrs[col].reindex(table["adcode"]).to_numpy()
    label = f"{run.study.source}: {score} ({user.level})"
    china = units is None or user.level != "own" or in_china(units)
    analyse_tiers(run, table, label=label, method=method, units=units, year_col=year_col,
                  china=china)  # fmt: skip


def analyse_tiers(
    run: Run, table: pd.DataFrame, *, label: str, method: str,
    units: gpd.GeoDataFrame | None = None, year_col: str | None = None, china: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """A tier table's geography, diffusion and gradient, in the run's summary; the result.

    Outside China (``china=False``) no distances to China's coast and to 上海 and no
    east-to-west test; a file without a CRS gets its positions in its own x and y.
    """
    ids = pd.Index(table["adcode"]).unique()
    near = {"coast": boundaries.coastline(), "core": china_core()} if china else {}
    pos = tiers.unit_positions(ids if units is None else units.loc[ids], **near)
    result = tiers.analyse(table, pos, year_col=year_col, east_west=china, **run.perm)
    plane = None if units is None else (units.attrs.get("source") or {}).get("plane")
    if plane is not None:
        for key in ("geography", "vectors", "yearly_centres"):
            if isinstance(result.get(key), pd.DataFrame):
                result[key] = _file_xy(result[key], plane)
    run.summary |= {"tiers": result, "label": label, "method": method}
    return result


def map_command(
    run: Run, *, out: Path, scheme: str, k: int | None, offline: bool,
    page: Callable[..., Any] | None = None,
) -> None:
    """``geotool map``: one map page, a table's latest values or a recipe's own ``page``.

    ``page`` takes the page options (``cdn``, ``offline``, ``basemap``) and returns the map.
    """
    from geotool import maps

    study = run.study
    opts: dict[str, Any] = {"cdn": study.cdn, "offline": offline or None,
                            "basemap": study.basemap}  # fmt: skip
    if page is not None:
        fmap = page(**opts)
    else:
        user = _user_table(run, out.with_name(out.stem + "_match_report.csv"))
        series = _latest_values(user)
        rows = user.rows.drop_duplicates("adcode", keep="last").set_index("adcode")
        extra = {c: c for c in user.raw.columns
                 if c in rows.columns and c not in (series.name, user.year_col)}  # fmt: skip
        names = pd.DataFrame()  # the unit's name, where the table has no column of that name
        if user.units is not None:
            opts |= {"geo": user.units.loc[series.index], "label_col": "name"}
            names = user.units[["name"]].drop(columns=list(extra), errors="ignore")
        fmap = maps.choropleth(
            series, scheme=scheme, k=k, fields=extra, table=rows[list(extra)].join(names),
            title=study.title or f"{study.source}: {series.attrs['label']}",
            **opts,
        )  # fmt: skip
    run.summary["bytes"] = len(maps.to_html(fmap, out).encode("utf-8"))


def _read(study: Study) -> pd.DataFrame:
    """The study's table as it is in the file (``batch`` and ``match`` read it whole)."""
    if isinstance(study.data, pd.DataFrame):
        return study.data
    return read_table(Path(str(study.data)), encoding=study.encoding, sheet=study.sheet)


def _items(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def batch_tasks(
    run: Run, *, geo: Any, options: _batch.Options, table: pd.DataFrame | None = None
) -> None:
    """Every task of a batch on the study's table (default: read): ``summary["result"]``."""
    from geotool import _batch

    table = _read(run.study) if table is None else table
    run.summary["result"] = _batch.execute(table, geo, options)


def batch_command(run: Run, *, level: str, out: Path, cluster: dict[str, Any],
                  limits: dict[str, Any], **lists: str | None) -> None:  # fmt: skip
    """``geotool batch``: every analysis of a table's ``lists`` (comma-separated text).

    ``cluster`` holds ``workers``, ``scheduler`` and ``connect_timeout`` (serially when
    there are 0 workers and no scheduler); ``limits`` are checked before it starts.
    """
    from geotool import _batch

    study = run.study
    check.output_dir(out, inputs=[study.data])  # before any work
    if cluster["scheduler"] is not None:
        from geotool import _scheduler

        _scheduler.address(cluster["scheduler"])  # its text; whether it answers, when connecting
    table = _read(study)
    years = _items(lists["years"])
    if years is not None and not all(y.lstrip("-").isdigit() for y in years):
        msg = f"years= must be whole years separated by commas, got {short(lists['years'], 60)!r}."
        raise InputError(msg)
    sized: dict[str, Any] = {
        "variables": _items(lists["variables"]), "weights": _items(lists["weights"]),
        "years": None if years is None else [int(y) for y in years],
    }  # fmt: skip
    options = _batch.Options(
        **sized, **limits, statistics=_items(lists["statistics"]) or (),
        out=out, inputs=[Path(str(study.data))], id_col=study.id_col or "adcode",
        year_col=study.year_col, permutations=study.permutations, seed=study.seed,
        alpha=study.alpha, islands=study.islands,
    )  # fmt: skip
    _batch.estimate(table, level, options).check(**limits)
    if cluster["scheduler"] is None and cluster["workers"] == 0:
        batch_tasks(run, geo=level, table=table, options=options)
        run.summary["where"] = "serially"
        return
    import distributed  # noqa: F401  (its loggers, configured on import, then quietened)

    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] == "distributed":
            logging.getLogger(name).setLevel(logging.ERROR)
    with _batch.cluster(**cluster) as client:
        batch_tasks(run, geo=level, table=table, options=replace(options, client=client))
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
    where = short(cluster["scheduler"] or "a local cluster", 80)
    run.summary["where"] = f"on {where} ({workers} workers)"


def batch_lines(s: dict[str, Any], out: Path | str) -> list[str]:
    """``geotool batch``'s account (its summary ``s``): tasks, where, the first failures."""
    result = s["result"]
    failed = result[result["status"] == "failed"]
    return [
        f"{len(result)} tasks {s['where']}: {len(result) - len(failed)} ok, {len(failed)} "
        f"failed; wrote {Path(out) / 'batch.csv'}",
        *(f"  failed {key}: {short(str(error), 160)}"
          for key, error in failed[["key", "error"]].head(20).to_numpy()),
        *[f"  ... and {len(failed) - 20} more (status column of batch.csv)"][: len(failed) > 20],
    ]  # fmt: skip


def match_command(
    run: Run, *, out: Path, target: Any, say: Callable[[str], Any] = log
) -> None:
    """``geotool match``: a table's names resolved to adcodes, every row in ``target`` (``out``).

    ``say`` tells the counts; more unmatched rows than ``max_unmatched`` allows are refused.
    """
    from geotool.match import require_unique, resolve, set_aside

    study = run.study
    table = _read(study)
    cols = ("name_col", "province_col", "prefecture_col", "code_col")
    resolved = resolve(table, **{c: getattr(study, c) for c in cols})
    level = str(resolved.attrs.get("level", "county"))
    resolved = set_aside(resolved, table, [], level)  # blank, total and note rows, as run's
    target.write(to_csv_bytes(resolved, index_label="line"))  # lines of the file
    counts = resolved["match_status"].value_counts().to_dict()
    shown = ", ".join(f"{v} {k}" for k, v in counts.items())
    say(f"{len(resolved)} rows: {shown}; report written to {out}")
    bad = resolved[~resolved["match_status"].isin(["matched", "blank", "total"])]
    if len(bad) / len(resolved) > study.max_unmatched:
        first, least = bad.iloc[0], check.share_at_least(len(bad), len(resolved))
        raise InputError(
            f"{len(bad)} of {len(resolved)} rows are not matched (first: line {bad.index[0]}, "
            f"{first['match_status']}: {first['match_note']}); fix them as {out} "
            f"suggests, or allow them with max_unmatched={least}."
        )
    require_unique(resolved)


def headline(summary: dict[str, Any]) -> list[str]:
    """What a run found, in a few lines: units, Moran's I, LISA counts, weights warnings."""
    lines = []
    given = summary.get("input", {})
    if given:
        lines.append(
            f"{given.get('file')}: {given.get('units')} units at level {given.get('level')}; "
            f"values {', '.join(given.get('value_cols', []))}"
            + (f"; years by {given['year_col']}" if given.get("year_col") else "")
        )
    for res in summary["autocorrelation"].values():
        if isinstance(res, dict) and "moran_i" in res:
            lines.append(_variable_line(res))
    for res in summary.get("dynamics", {}).values():
        by_year = ", ".join(
            f"{y}: {v['value']:.3f} (p {v['p_sim']:.3g})" for y, v in res["moran_by_year"].items()
        )
        lines.append(f"{res['label']}: Moran's I by year {by_year}")
        if res.get("dropped"):
            lines.append(
                f"  warning: {res['dropped']} units are left out of the dynamics (why: "
                "tables/dynamics_dropped_*.csv)"
            )
        lines.extend(f"  {sentence}" for sentence in res["sentences"])
    if "composite_index" in summary:
        lines.append(f"composite index: {summary['composite_index']['finding']}")
    if "regression" in summary:
        lines.append(f"regression: {summary['regression']['finding']}")
    for res in summary.get("divergence", {}).get("variables", {}).values():
        found = [v for k, v in res.items() if k.endswith("_finding")]
        lines += [f"{res['label']}: {found[0]}", *(f"  {f}" for f in found[1:])] if found else []
    return lines


def _variable_line(res: dict[str, Any]) -> str:
    """A variable's Moran's I and LISA counts (its weights' warnings are logged when built)."""
    spec, rep = res["default_weights"], res["weights_report"]
    mi = res["moran_i"][spec]
    when = f" ({res['year']})" if "year" in res else ""  # a panel: its latest year
    return (
        f"{res['label']}{when}: n {rep['units']}, Moran's I {mi['value']:.3f} "
        f"({spec}, p_sim {mi['p_sim']:.4g}); LISA ({res['lisa_rule']}) "
        + ", ".join(f"{k} {v}" for k, v in res["lisa_counts"].items())
    )



def prepare(study: Study) -> Analysis:
    """A user's study, prepared: its table read and matched, its variables and tiers."""
    from geotool.userdata import user_analysis

    if study.recipe is not None:
        raise InputError(f"recipe={study.recipe!r} is prepared by its own module (geotool.report).")
    return user_analysis(study)


def _check_options(study: Study) -> None:
    """Options that only the run reads fail before any work is done."""
    validate_figures(study.figures, study.dpi, study.lang or "en", name="figures")
    autocorr.sidedness(study.sided)
    parse_islands(study.islands)
    clusters.load_set(study.cluster_set)
    if study.weights is not None:
        parse_spec(study.weights)


def run(
    study: Study,
    *,
    analysis: Callable[[Study], Any] | None = prepare,
    stages: tuple[Stage, ...] = STAGES,
    inputs: tuple[Any, ...] = (),
    owner: str = "geotool run",
    index: bool = True,
) -> dict[str, Any]:
    """Run a study's stages and write its output folder; return the summary.

    ``analysis`` builds the study's :class:`Analysis` (``None``: the stages read their own
    input); ``inputs`` are more files refused as destinations; ``owner`` is the command the
    folder belongs to; ``index`` writes ``summary.json`` and ``index.html``. The summary's
    ``stages`` says which ran and why the others did not, ``timings_s`` times each.
    """
    _check_options(study)
    given = (study.data, study.geometry, *inputs)
    sources = tuple(p for p in given if isinstance(p, str | Path))
    if study.out is None:
        if index:
            raise InputError("A whole study writes a folder: pass out= (a folder), not out=None.")
        state = Run(study, analysis and analysis(study), None)
        _run_stages(state, stages, index=False)
        return state.summary
    check.output_dir(study.out, inputs=sources, name="out")  # before reading anything
    prepared = analysis and analysis(study)  # a refused table leaves no folder behind
    pending: list[Any] = []
    with OutputFolder(study.out, inputs=sources, owner=owner) as folder:
        try:
            state = Run(study, prepared, folder, pending=pending)
            _run_stages(state, stages, index=index)
        finally:  # a failed run stops the renderers before its folder is rolled back
            for work in pending:
                work.cancel()
    if index:  # the CLI says it, with the page to open
        log(f"wrote {len(state.files)} files to {folder.out}", logging.DEBUG)
    return state.summary


#: The per-unit island details of every weights a run built (the console has one line).
_ISLANDS_TABLE = "tables/islands.csv"


def _islands_table(run: Run) -> None:
    """Write each built weights' units without neighbours: what became of them, and why."""
    rows = []
    for (spec, n), w in run.results.get("weights_built", {}).items():
        bridges = {b["from"]: b for b in w.report["islands"].get("bridges", [])}
        for d in w.report["islands"].get("details", []):
            b = bridges.get(d["unit"], {})
            rows.append({"weights": spec, "units": n, **d,
                         "far": b.get("long", False), "across_groups": b.get("across_groups")})
    if rows:
        run.table(_ISLANDS_TABLE, pd.DataFrame(rows), index=False)


def _run_stages(state: Run, stages: tuple[Stage, ...], *, index: bool) -> None:
    """Run each stage that applies, timing it; then the summary and index."""
    ran: dict[str, str] = {}
    timings: dict[str, float] = {}
    hint = weights.ISLAND_DETAILS.set(_ISLANDS_TABLE if state.folder else "summary.json")
    try:
        with once():  # a line two stages would both say is said once
            for stage in stages:
                why = stage.skip(state)
                if why is not None:
                    ran[stage.name] = f"skipped: {why}"
                    continue
                start = time.perf_counter()
                none = stage.do(state)
                timings[stage.name] = round(time.perf_counter() - start, 2)
                ran[stage.name] = f"skipped: {none}" if isinstance(none, str) else "ran"
    finally:
        weights.ISLAND_DETAILS.reset(hint)
    state.summary |= {"stages": ran, "timings_s": timings}
    if state.folder is not None:
        _islands_table(state)
    if index:
        _index(state)
