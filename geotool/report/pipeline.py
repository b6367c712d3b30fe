"""The main job (``geotool run``): one pipeline for the report and for a user's table.

A :class:`Study` says what to analyse: variables over a universe of bundled county-level
units, tier tables, the units city clusters are counted for, titles and extra tables.
:func:`report2020` builds the 2020 report's study, :func:`user_study` a user's table's;
:func:`run` turns either into the same outputs (tables, figures, four maps, an index page
and ``summary.json``), using only the public core (:mod:`geotool.weights`,
:mod:`geotool.autocorr`, :mod:`geotool.tiers`, :mod:`geotool.clusters`,
:mod:`geotool.maps`), like any user's analysis.

A run is a transaction (:class:`geotool._outdir.OutputFolder`): it writes into a staging
folder and publishes all its files at once when it succeeded, so a killed, failed or
concurrent run never leaves ``out_dir`` holding files of two runs; files the run did not
write (a user's own) are kept, input files are never overwritten.
"""

from __future__ import annotations

import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from geotool import __version__, autocorr, boundaries, clusters, tiers
from geotool import _validate as check
from geotool._atomic import write_atomic
from geotool._csv import to_csv_bytes
from geotool._errors import InputError, MatchError
from geotool._log import log
from geotool._outdir import OutputFolder
from geotool._text import short
from geotool.maps.figure import figure_bytes
from geotool.maps.figure import style as figure_style
from geotool.maps.figure import validate as validate_figures
from geotool.report import figures, rankings, static
from geotool.report.check import check_report, region_change
from geotool.weights import Weights, build

__all__ = ["Study", "TierTable", "Variable", "load_user_table", "report2020", "run", "user_study"]


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
    """Everything :func:`run` needs: inputs and titles (see the module docstring)."""

    title: str
    variables: list[Variable]
    tier_tables: dict[str, TierTable]
    cluster_table: pd.DataFrame
    values_map: Any  # () -> folium.Map, built after clusters (tooltips need membership)
    info_values: pd.DataFrame | None = None
    bivariate: tuple[str, str] | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    lisa_legend: str = "Local Moran"
    marked_name: str = "units"
    check_ok: bool = True


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
        bivariate=("industrial_counties", "innovation_counties"),
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
    )


def run(
    study: Study | None = None,
    out_dir: Path | str = "outputs",
    *,
    seed: int,
    permutations: int,
    offline: bool = False,
    basemap: str = "none",
    weights: str | None = None,
    cluster_set: str = "report2020",
    inputs: tuple[Path | str, ...] = (),
    adjust: str = "none",
    figures: tuple[str, ...] = (),
    dpi: int = 300,
    lang: str = "zh",
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
    offline : bool
        Write maps that render with no network (assets inlined, no tiles).
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

    Returns
    -------
    dict
        The summary written as ``summary.json`` (``files`` lists what was written).

    """
    with OutputFolder(out_dir, inputs=inputs, owner="geotool run") as folder:
        summary = _run(
            study, folder, seed=seed, permutations=permutations, offline=offline,
            basemap=basemap, weights=weights, cluster_set=cluster_set, adjust=adjust,
            static_formats=figures, dpi=dpi, lang=lang,
        )  # fmt: skip
    log(f"wrote {len(summary['files'])} files to {folder.out}")
    return summary


def _run(
    study: Study | None,
    folder: OutputFolder,
    *,
    seed: int,
    permutations: int,
    offline: bool,
    basemap: str,
    weights: str | None,
    cluster_set: str,
    adjust: str,
    static_formats: tuple[str, ...] = (),
    dpi: int = 300,
    lang: str = "zh",
) -> dict[str, Any]:
    """The body of :func:`run`, writing into an open :class:`OutputFolder`."""
    check.permutations(permutations, n_units=1)  # options fail before any work is done
    autocorr.adjustment(adjust)
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
    for name, frame in study.tables.items():
        write(f"tables/{name}.csv", _csv(frame))
    lap("inputs")

    log(f"spatial autocorrelation ({permutations} permutations) ...")
    auto_summary: dict[str, Any] = {}
    locals_: dict[str, pd.DataFrame] = {}
    joins: dict[str, pd.DataFrame] = {}
    static_joins: dict[str, tuple[str, pd.DataFrame]] = {}  # by file-name key
    moran_i: dict[str, float] = {}
    names = boundaries.units()["name"]
    default_weights: dict[str, Weights] = {}
    for var in study.variables:
        default = weights or var.weights
        specs: tuple[str, ...] = rankings.SENSITIVITY_SPECS
        specs = specs if default in specs else (*specs, default)
        frames: list[pd.DataFrame] = []
        skipped: dict[str, str] = {}
        default_w = None
        for spec in specs:
            try:
                w = build(var.data.index, spec)
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
            var.data, default_w, permutations=permutations, seed=seed, adjust=adjust
        )
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
        geary = autocorr.local_geary(var.data, default_w, permutations=permutations, seed=seed)
        geary.insert(0, "name", names.reindex(geary.index).to_numpy())
        write(f"tables/local_geary_{var.key}.csv", _csv(geary.reset_index(names="adcode")))
        moran_i[var.key] = _number(moran.loc[(default, "moran_i"), "value"])
        with figure_style():  # a user's title may be Chinese
            fig = autocorr.moran_scatter(
                local,
                title=f"{var.label}: {var.variable}, {default} weights",
                moran_i=_number(moran.loc[(default, "moran_i"), "value"]),
            )
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        write(f"figures/moran_scatter_{var.key}.png", buf.getvalue())
        counts = local["lisa_class"].value_counts()
        done_specs = [s for s in rankings.SENSITIVITY_SPECS if s not in skipped]
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
            "p_sim": "one-sided in the observed direction; p_norm, p_rand two-sided",
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
    if study.bivariate:
        a, b = (next(v for v in study.variables if v.key == k) for k in study.bivariate)
        other = b.data.reindex(a.data.index).fillna(0.0)
        w = default_weights[a.key]  # the weights of a's local statistics
        biv = autocorr.global_stats(
            a.data.rename(f"{a.key}.{a.variable}"), w, permutations=permutations, seed=seed,
            other=other.rename(f"{b.key}.{b.variable}"),
        )  # fmt: skip
        biv = biv[biv["statistic"].str.startswith("moran_bv")].reset_index(drop=True)
        write("tables/bivariate_moran.csv", _csv(biv))
        if a.member is not None and b.member is not None:  # where do both memberships meet?
            clc = autocorr.local_join_counts(
                a.member, w, z=b.member.reindex(a.member.index).fillna(0).astype(int),
                case="CLC", permutations=permutations, seed=seed,
            )  # fmt: skip
            clc.insert(0, "name", names.reindex(clc.index).to_numpy())
            joins[f"co-location {a.label} × {b.label} (CLC)"] = clc
            static_joins["colocation"] = (f"co-location {a.label} × {b.label} (CLC)", clc)
            write("tables/ljc_colocation.csv", _csv(clc.reset_index(names="adcode")))
            colocated = clc[clc["significant"]]["name"].tolist()
        row = biv.iloc[0]
        auto_summary["bivariate_" + "_".join(k.split("_")[0] for k in study.bivariate)] = {
            "value": float(row["value"]),
            "p_sim": float(row["p_sim"]),
            "weights": row["weights"],
        }
        if a.member is not None and b.member is not None:
            auto_summary["colocation_clc"] = {"clusters": len(colocated), "units": colocated}
    lap("autocorrelation")

    log("tiers: composition, geography, diffusion, gradient ...")
    tier_summary: dict[str, Any] = {}
    tier_shapes = {}
    coast = boundaries.coastline()
    core = rankings.core_point()
    for name, tt in study.tier_tables.items():
        pos = tiers.unit_positions(pd.Index(tt.table["adcode"]).unique(), coast=coast, core=core)
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
        write(f"tables/tiers_shapes_{name}.geojson", res["shapes"].to_json(ensure_ascii=False))
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

    log("city clusters under report2020 and plans ...")
    cluster_summary: dict[str, Any] = {}
    table = study.cluster_table
    for set_name in ("report2020", "plans"):
        checked = clusters.check_geometry(set_name)
        cl_counts = clusters.ranking_counts(set_name, table)
        ms = clusters.membership(set_name)
        radiation = clusters.radiation(set_name, table, permutations=permutations, seed=seed)
        polys = clusters.polygons(set_name)
        write(f"tables/clusters_counts_{set_name}.csv", _csv(cl_counts))
        write(
            f"tables/clusters_membership_{set_name}.csv",
            _csv(ms.loc[ms.index.isin(table["adcode"])].reset_index(names="adcode"))
            if study.info_values is not None
            else _csv(ms.reset_index(names="adcode")),
        )
        write(f"tables/clusters_radiation_{set_name}.csv", _csv(radiation))
        write(f"tables/clusters_{set_name}.geojson", polys.to_json(ensure_ascii=False))
        cluster_summary[set_name] = {
            "definitions": list(checked),
            "geometry_check": "code and geometry membership agree",
            "counts": {
                str(c): int(n)
                for c, n in zip(cl_counts["cluster_id"], cl_counts["count"], strict=True)
            },
            "outside": [u for u in str(cl_counts["units"].iloc[-1]).split(";") if u],
            "radiation": radiation.drop(columns=["permutations", "seed"]).to_dict(orient="records"),
        }
    changes = clusters.set_changes("report2020", "plans", table)
    write("tables/clusters_changes_report2020_plans.csv", _csv(changes))
    belts = clusters.table_belts(table, "report2020")
    write("tables/clusters_belts.csv", _csv(belts))
    cluster_summary["changes_report2020_to_plans"] = changes.to_dict(orient="records")
    cluster_summary["largest_belts"] = belts.head(5).to_dict(orient="records")
    lap("clusters")

    log("maps ...")
    first = study.variables[0].key
    info = figures.unit_info(
        lisa=locals_[first],
        membership=clusters.membership(cluster_set),
        values=study.info_values,
    )
    opts = {"offline": offline, "basemap": basemap}
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
    built = {
        "rankings.html" if study.info_values is None else "values.html": study.values_map(
            info, opts
        ),
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
            tier_shapes[first_tiers],
            title=f"Tier diffusion · {study.title}",
            fields=fields,
            **opts,
        ),
        "clusters.html": figures.clusters_map(
            clusters.membership(cluster_set),
            clusters.polygons(cluster_set),
            info,
            marked=table.set_index("adcode")["rank"],
            marked_name=study.marked_name,
            fields=fields,
            **opts,
        ),
    }
    from geotool.maps import to_html

    maps_written = {}
    for fname, fmap in built.items():
        text = to_html(fmap, folder.path(f"maps/{fname}"))
        maps_written[fname] = len(text.encode("utf-8"))
        files.append(f"maps/{fname}")
    lap("maps")
    if formats:
        log(f"static figures ({', '.join(formats)}, {dpi} dpi, {lang}) ...")
        for name, static_fig in static.report_figures(
            info, locals_=locals_, labels={v.key: v.label for v in study.variables},
            joins=static_joins, shapes=tier_shapes[first_tiers],
            membership=clusters.membership(cluster_set), polygons=clusters.polygons(cluster_set),
            marked=table.set_index("adcode")["rank"], marked_name=study.marked_name,
            moran=moran_i, permutations=permutations, lang=lang,
            title=None if study.info_values is None else study.title,
            source=None if study.info_values is None else study.title,
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
        "maps": {"files": maps_written, "offline": offline, "basemap": basemap},
        "timings_s": timings,
    }
    write("index.html", figures.index_page(summary, maps_written, title=study.title))
    files.append("summary.json")
    summary["files"] = files
    write_atomic(
        folder.path("summary.json"),
        json.dumps(_json_safe(summary), ensure_ascii=False, indent=1, default=str) + "\n",
    )
    return summary


def user_study(
    path: Path | str,
    failed_report: Path | str | None = None,
    *,
    value_col: str | None = None,
    name_col: str | None = None,
    province_col: str | None = None,
    prefecture_col: str | None = None,
    code_col: str | None = None,
    year_col: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    max_unmatched: float = 0.0,
    weights: str = "queen",
    tiers_k: int = 4,
) -> Study:
    """A user's table as a study: its values over its own units, in the same pipeline.

    Every input row goes to the run's ``tables/match_report.csv`` (status, method,
    candidates). When rows cannot be used (:class:`~geotool._errors.MatchError`), the
    report is written to ``failed_report`` instead, outside any run's folder (so the
    previous complete output stays as it was), and the error names it. The analysis universe is the
    table's own units (latest year when ``year_col`` is given): include the units that
    scored nothing, with 0, to test against them. Tiers: Ward clustering of the values
    into ``tiers_k`` tiers per year (fewer if the values have fewer distinct levels).
    """
    ok, raw, resolved, value_col = load_user_table(
        path, failed_report, value_col=value_col, name_col=name_col,
        province_col=province_col, prefecture_col=prefecture_col, code_col=code_col,
        year_col=year_col, encoding=encoding, sheet=sheet, max_unmatched=max_unmatched,
        report_on_failure_only=True,
    )  # fmt: skip
    latest = ok if not year_col else ok[ok[year_col] == ok[year_col].max()]
    series = pd.Series(
        latest[value_col].to_numpy(float), index=pd.Index(latest["adcode"], name="adcode"),
        name=value_col,
    )  # fmt: skip
    label = Path(path).stem
    key = "".join(c if c.isalnum() and c.isascii() else "_" for c in value_col).strip("_")
    key = f"user_{key or 'values'}"[:60]
    years = ok[year_col] if year_col else None
    distinct = ok.groupby(years)[value_col].nunique().min() if year_col else ok[value_col].nunique()
    k = int(min(tiers_k, distinct))
    if k < 2:
        msg = (
            f"value_col={value_col!r} has a single distinct value; tiers and spatial "
            "statistics need variation."
        )
        raise InputError(msg)
    table = tiers.from_scores(ok["adcode"], ok[value_col], years=years, method="ward", k=k)
    units = boundaries.units()
    table["region"] = units.loc[table["adcode"], "region"].to_numpy()
    table["province"] = units.loc[table["adcode"], "province"].to_numpy()
    table["name"] = units.loc[table["adcode"], "name"].to_numpy()
    last = table if not year_col else table[table["year"] == table["year"].max()]
    cluster_table = last[["adcode", "name", "rank"]].reset_index(drop=True)
    info_values = latest.set_index("adcode")[[value_col]]

    def values_map(info: pd.DataFrame, opts: dict[str, Any]) -> Any:
        from geotool.maps import choropleth

        return choropleth(
            series, scheme="quantiles", k=int(min(5, max(2, series.nunique()))),
            title=f"{label}: {value_col}", table=info,
            fields={value_col: value_col, "region": "region", "cluster": "城市群 cluster"},
            **opts,
        )  # fmt: skip

    return Study(
        title=f"{label}: {value_col}",
        variables=[
            Variable(
                key,
                f"{label}: {value_col}",
                series,
                weights,
                variable=value_col,
                high_means=f"{value_col} as given: higher values are read as stronger",
            )
        ],
        tier_tables={
            key: TierTable(
                table,
                f"ward, k={k}" + (" per year" if year_col else ""),
                year_col="year" if year_col else None,
            )
        },
        cluster_table=cluster_table,
        values_map=values_map,
        info_values=info_values,
        tables={"match_report": resolved.reset_index(names="row")},
        summary={
            "input": {
                "file": str(path),
                "encoding": raw.attrs.get("encoding"),
                "rows": len(raw),
                "value_col": value_col,
                "year_col": year_col,
            },
            "match": resolved["match_status"].value_counts().to_dict(),
            "match_methods": ok["match_method"].value_counts().to_dict(),
        },
        lisa_legend=f"Local Moran ({value_col})",
        marked_name=f"{label} units by rank of {value_col}",
    )


def load_user_table(
    path: Path | str,
    report_path: Path | str | None,
    *,
    value_col: str | None,
    name_col: str | None = None,
    province_col: str | None = None,
    prefecture_col: str | None = None,
    code_col: str | None = None,
    year_col: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    max_unmatched: float = 0.0,
    report_on_failure_only: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """Read a user's table, resolve its rows, write the match report, check it.

    Every input row is written to ``report_path`` with its status (matched,
    ambiguous, unmatched; the year read), before anything can fail, or only when
    something fails (``report_on_failure_only``). Raises
    :class:`~geotool._errors.MatchError` when more than ``max_unmatched`` of the rows
    are unmatched or ambiguous or when a unit appears twice (in one year), and
    :class:`~geotool._errors.InputError` for a missing column, a year that is not one,
    or values that are not finite numbers. Years are normalised ("2020", "2020年",
    2020.0 are one year).

    Returns
    -------
    tuple
        The matched rows (with ``adcode`` and the value as float), the raw table, the
        resolved table (every row), and the name of the value column.
    """
    from geotool.io import read_table
    from geotool.match import resolve

    if report_path is not None:  # never written over the input table (or a device)
        report_path = check.output_file(report_path, inputs=[path], name="report_path")
    raw = read_table(path, encoding=encoding, sheet=sheet)
    if value_col is None:
        numeric = [
            c
            for c in raw.columns
            if pd.to_numeric(raw[c], errors="coerce").notna().mean() > 0.9
            and c not in (code_col, year_col)
            and "代码" not in c
            and "code" not in c
        ]
        if len(numeric) != 1:
            msg = (
                f"Cannot tell which column holds the values (numeric columns: {numeric}); "
                "name it with value_col=."
            )
            raise InputError(msg)
        value_col = numeric[0]
    if value_col not in raw.columns:
        msg = (
            f"value_col={value_col!r} is not a column of {path}; its columns are "
            f"{list(raw.columns)}."
        )
        raise InputError(msg)
    if year_col is not None and year_col not in raw.columns:
        msg = (
            f"year_col={year_col!r} is not a column of {path}; its columns are {list(raw.columns)}."
        )
        raise InputError(msg)
    resolved = resolve(
        raw,
        name_col=name_col,
        province_col=province_col,
        prefecture_col=prefecture_col,
        code_col=code_col,
    )
    report = resolved.copy()

    def fail(msg: str, cls: type[InputError] = MatchError) -> None:
        """Write every row with its status to ``report_path``, then raise ``cls``."""
        if report_path is not None:
            write_atomic(Path(report_path), _csv(report.reset_index(names="row")))
            msg += f" Every row with its status: {report_path}."
        raise cls(msg)

    if not report_on_failure_only and report_path is not None:
        write_atomic(Path(report_path), _csv(report.reset_index(names="row")))
    max_unmatched = check.share(max_unmatched, "max_unmatched")
    bad = resolved[resolved["match_status"] != "matched"]
    share = len(bad) / len(resolved)
    if share > max_unmatched:
        first = bad.iloc[0]
        n_un = int((bad["match_status"] == "unmatched").sum())
        why = str(first["match_note"] or first["match_candidates"])[:120]
        fail(
            f"{len(bad)} of {len(resolved)} rows are not matched ({n_un} unmatched, "
            f"{len(bad) - n_un} ambiguous; first: row {bad.index[0]} {first['match_status']}: "
            f"{why}). Fix those names or add a province column, or allow them with "
            f"max_unmatched={math.ceil(share * 100) / 100:.2f}."
        )
    ok = resolved[resolved["match_status"] == "matched"].copy()
    if year_col:
        years, rejected = check.year_labels(ok[year_col], "year_col")
        report["year_used"] = pd.Series(years, dtype="Int64").reindex(report.index)
        if len(rejected):
            rows = rejected.index.tolist()[:8]
            report.loc[rejected.index, "match_note"] = rejected["reason"].astype(str)
            fail(
                f"year_col={year_col!r} has cells that are not a year in rows {rows} "
                f"(e.g. {short(ok.loc[rows[0], year_col])}); write years as 2020 or 2020年, "
                "or remove those rows.",
                InputError,
            )
        ok[year_col] = years.reindex(ok.index).astype(int)
    keys = ["adcode", year_col] if year_col else ["adcode"]
    dup = ok[ok.duplicated(keys, keep=False)]
    if len(dup):
        groups = {k: list(g.index) for k, g in dup.groupby(keys)}
        listing = "; ".join(f"{k}: rows {v}" for k, v in list(groups.items())[:5])
        fail(f"Units appear more than once ({listing}); keep one row per unit (per year).")
    try:
        values = check.finite_values(ok[value_col], f"value_col={value_col!r}")
    except InputError as exc:
        fail(f"{exc} Rows are numbered as in the file's data rows (from 0).", InputError)
    ok[value_col] = values
    return ok, raw, resolved, value_col
