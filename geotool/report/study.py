"""The 2020 report as one study: its rankings as variables, its tiers, its own stages.

:data:`STAGES` adds ``check-report`` before every study's stages; the ``*_command`` stages
are the one-table commands on the report's rankings (a user's table: the pipeline's own).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from geotool import boundaries, clusters, pipeline, tiers
from geotool._errors import InputError
from geotool.analysis import Analysis, TierTable, Variable
from geotool.report import figures, rankings
from geotool.report.check import check_report, region_change
from geotool.study import Study

__all__ = [
    "CHECK", "STAGES", "analysis", "autocorr_command", "clusters_command", "map_command", "run",
    "study", "tiers_command",
]  # fmt: skip


#: Study fields that are a run's options; the others describe a user's data.
RUN_FIELDS = (
    "out", "seed", "permutations", "title", "lang", "weights", "islands", "adjust", "sided",
    "alpha", "dpi", "cdn", "basemap", "k", "figures", "cluster_set", "labels",
    "model", "model_kind", "model_method", "model_regimes", "value_classes",
)  # fmt: skip


def study(**fields: Any) -> Study:
    """The report's study description; ``fields`` change its options (seed, out ...)."""
    return Study(recipe="report2020", tiers="report", **fields)


def study_of(fields: dict[str, Any], study_file: Path | None = None) -> Study:
    """The study ``fields`` describe: a user's, a study file's, a grid's or the report's.

    Without ``data``, only the run's options (:data:`RUN_FIELDS`) are taken; a study
    file's own options stay unless given.
    """
    if fields.get("data") is not None:
        return Study(**fields)
    run = {k: v for k, v in fields.items() if k in RUN_FIELDS}
    if fields.get("raster") is not None:
        return Study(raster=fields["raster"], **run)
    return Study.from_file(study_file, **run) if study_file else study(**run)


def command(study: Study, stage: str, owner: str = "", **options: Any) -> dict[str, Any]:
    """Run one command's stage on ``study``, with its ``options``; the run's summary.

    The stage is :func:`autocorr_command` ... here, or the pipeline's ``match`` and ``batch``.
    """
    where = vars(pipeline) if stage in ("match", "batch") else globals()
    step = pipeline.Stage(stage, partial(where[f"{stage}_command"], **options))
    return pipeline.run(study, analysis=None, stages=(step,), owner=owner, index=False)


def run_study(study: Study, owner: str = "") -> tuple[dict[str, Any], list[str]]:
    """Run a whole study (a grid's, the report's or a user's): its summary and headline."""
    if study.raster is not None:
        from geotool import raster_stages

        summary = raster_stages.run(study)
        return summary, raster_stages.headline(summary)
    summary = run(study) if study.recipe is not None else pipeline.run(study, owner=owner)
    return summary, pipeline.headline(summary)


def analysis(study: Study) -> Analysis:
    """The report's three rankings as variables, its tier tables and ranked counties."""
    units = boundaries.units()
    table = rankings.load()
    joined = table.merge(
        units[
            ["name", "unit_type", "prefecture", "province", "area_km2", "rep_lon", "rep_lat"]
        ].add_prefix("unit_"),
        left_on="adcode", right_index=True, how="left", validate="many_to_one",
    )  # fmt: skip
    variables = []
    for name, spec in rankings.DEFAULT_WEIGHTS.items():
        v = rankings.variables(name)
        variables.append(
            Variable(name, name.replace("_", " "), v["score"], spec, member=v["member"],
                     high_means=rankings.HIGH_MEANS["score"])
        )  # fmt: skip
    return Analysis(
        title=study.title or "中国工业百强县（市）、百强区 2020 · spatial analysis",
        variables=variables,
        tier_tables={
            name: TierTable(rankings.tier_table(name), cuts, region_change=region_change(name))
            for name, cuts in (
                ("industrial_counties", "report (1-6, 7-30, 32-62, 63-100)"),
                ("industrial_districts", "report deciles (表 6)"),
            )
        },
        cluster_table=rankings.load("industrial_counties"),
        values_map=lambda info, opts: figures.rankings_map(info, **opts),
        unit_info=figures.unit_info,
        bivariate=[("industrial_counties", "innovation_counties")],
        tables={"rankings": joined},
        summary={
            "boundaries": {k: boundaries.metadata()[k] for k in ("source", "datum", "counts")},
            "match": {
                name: table.loc[table["ranking"] == name, "match_method"].value_counts().to_dict()
                for name in rankings.RANKINGS
            },
            "universe_sizes": {name: len(rankings.universe(name)) for name in rankings.RANKINGS},
        },
        lisa_legend="Local Moran (score = 101 - rank)",
        marked_name="工业百强县 ranked counties",
        sensitivity_specs=rankings.SENSITIVITY_SPECS,  # the band its tables have used
    )


def _check(run: pipeline.Run) -> None:
    """Every aggregate figure the report states, recomputed beside the report's value."""
    checks = check_report()
    status = checks["status"].value_counts().to_dict()
    run.summary["check_report"] = {"ok": status.get("mismatch", 0) == 0, "status_counts": status}
    if run.folder is None:  # geotool check-report: the table is printed
        run.summary["check_report"]["table"] = checks
    else:
        run.table("tables/check_report.csv", checks)


#: ``geotool check-report``'s stage: every figure the report states, recomputed.
CHECK = pipeline.Stage("check-report", _check)
#: The report's stages: its check, then every study's.
STAGES = (CHECK, *pipeline.STAGES)


def run(report: Study | None = None, *, check_only: bool = False) -> dict[str, Any]:
    """Run the report's study (default :func:`study`) and write its folder; the summary.

    ``check_only``: only :data:`CHECK`, on a study without ``out`` (``geotool
    check-report``: the table is in ``summary["check_report"]["table"]``).
    """
    if check_only:
        return pipeline.run(report or study(out=None), analysis=None, stages=(CHECK,),
                            index=False)  # fmt: skip
    return pipeline.run(report or study(), analysis=analysis, stages=STAGES)


# ------------------------------------------- the one-table commands on the rankings


def _pair(ranking: str, ids: pd.Index) -> tuple[pd.Series, pd.Series]:
    """A ranking's score and 0/1 membership over ``ids``: the bivariate variable."""
    pair = rankings.variables(ranking, universe=ids)
    return pair["score"].rename(f"{ranking}.score"), pair["member"].rename(f"{ranking}.member")


def _counties_only(bivariate: str, table: Any) -> None:
    """Refuse a ranking of counties as the bivariate variable of a table of other units."""
    if table.level != "county":
        raise InputError(
            f"bivariate={bivariate!r} is a ranking of the report's counties, and data= holds "
            f"{table.level} units; pair two of your columns with bivariate=A:B in a run of them."
        )


def autocorr_command(
    run: pipeline.Run, *, ranking: str, variable: str, bivariate: str | None, sensitivity: bool
) -> None:
    """``geotool autocorr`` of a ranking's ``variable`` (a user's table: its first column).

    ``bivariate`` names another ranking (its score is the other variable; a user's table
    must then be of counties).
    """
    source = specs = None
    on_table = partial(_counties_only, bivariate) if bivariate else None
    if run.study.recipe is not None:  # the report's published band for its rankings
        series = rankings.variable(ranking, variable)
        source = (series, series.index, ranking, boundaries.units()["name"])
        specs = rankings.SENSITIVITY_SPECS
    pipeline.autocorr_command(
        run, sensitivity=sensitivity, source=source, specs=specs, on_table=on_table,
        pair=partial(_pair, bivariate) if bivariate else None,
    )  # fmt: skip


def tiers_command(run: pipeline.Run, *, ranking: str, method: str, k: int) -> None:
    """``geotool tiers``: a ranking's tiers (the report's cut points, or ``method``'s).

    A user's table (no recipe) is :func:`geotool.pipeline.tiers_command`'s.
    """
    if run.study.recipe is None:
        pipeline.tiers_command(run, method=method, k=k)
        return
    if method == "report":
        table = rankings.tier_table(ranking)
    else:
        table = rankings.load(ranking)
        table["tier"] = tiers.assign(101 - table["rank"], method=method, k=k)
    result = pipeline.analyse_tiers(run, table, label=ranking, method=method)
    if ranking != "innovation_counties":
        result["region_change"] = region_change(ranking)


def clusters_command(run: pipeline.Run, *, ranking: str) -> None:
    """``geotool clusters``: a definition set's counts, changes, belts and radiation."""
    spec = run.study.cluster_set
    name, _ = clusters.load_set(spec)
    table = rankings.load(ranking)
    other = "plans" if name != "plans" else "report2020"
    run.summary |= {
        "set": name, "other": other, "geometry_check": clusters.check_geometry(spec),
        "counts": clusters.ranking_counts(spec, table),
        "changes": clusters.set_changes(spec, other, table),
        "belts": clusters.table_belts(table, spec),
        "radiation": clusters.radiation(spec, table, **run.perm),
        "overlaps": clusters.overlaps(spec)[1],
    }  # fmt: skip


def clusters_sections(s: dict[str, Any], ranking: str) -> tuple[str, list[tuple[str, Any]]]:
    """``geotool clusters``' headline and titled tables (its stage's summary ``s``)."""
    checked = s["geometry_check"]
    return (
        f"definition set {s['set']}: code and geometry membership agree for "
        f"{sum(checked.values())} memberships in {len(checked)} definitions"
    ), [
        (f"{ranking} by primary cluster",
         s["counts"][["cluster_zh", "definition", "count", "units"]]),
        (f"units whose cluster differs under {s['other']}", s["changes"]),
        ("industrial belts (contiguous ranked units), largest first", s["belts"].head(8)),
        ("radiation: rank against km to the nearest core (Spearman, two-sided permutation p)",
         s["radiation"].drop(columns=["seed"])),
        ("overlapping definitions", s["overlaps"][["a", "b", "shared"]]),
    ]  # fmt: skip


def map_command(
    run: pipeline.Run, *, kind: str, out: Path, scheme: str, k: int | None, offline: bool
) -> None:
    """``geotool map``: one of the report's maps (``kind``), or a user's table's values."""
    study, page = run.study, None
    if study.recipe is not None:
        page = partial(
            figures.report_map, kind, cluster_set=study.cluster_set, weights=study.weights,
            **run.perm,
        )  # fmt: skip
    pipeline.map_command(run, out=out, scheme=scheme, k=k, offline=offline, page=page)
