"""The ``geotool`` command: a thin shell over the library.

Each command builds one :class:`geotool.study.Study` from its flags (:func:`_study`), runs
it through :func:`geotool.pipeline.run` and formats what comes back. Exit status: 0
success, 1 a check failed (``check-report`` mismatch), 2 bad input (one line on stderr
naming the problem and the fix, no traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import re
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from geotool._errors import GeotoolError, InputError
from geotool._text import short

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2

#: Study fields that are a run's options; the others describe a user's data.
_RUN_FIELDS = (
    "out", "seed", "permutations", "title", "lang", "weights", "islands", "adjust", "sided",
    "alpha", "dpi", "cdn", "basemap", "k", "figures", "cluster_set", "labels",
    "model", "model_kind", "model_method", "model_regimes", "value_classes",
)  # fmt: skip


def _say(*lines: str) -> None:
    """Lines for the person at the terminal: stderr, stdout is the command's output."""
    for line in lines:
        print(line, file=sys.stderr)


def _pandas(**display: Any) -> Any:
    """The display options of pandas (``width=200`` ...) for the tables printed."""
    import pandas as pd

    return pd.option_context(*(x for k, v in display.items() for x in (f"display.{k}", v)))


def _records(value: Any) -> Any:
    """JSON of what ``json`` cannot write itself: a frame as a list of records, else text."""
    if hasattr(value, "to_json"):
        return json.loads(value.to_json(orient="records", force_ascii=False))
    return str(value)


def _dump(payload: Any) -> int:
    print(json.dumps(payload, ensure_ascii=False, indent=1, default=_records))
    return EXIT_OK


def _counts(counts: Any) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _study(args: argparse.Namespace, **fields: Any) -> Any:
    """The one :class:`geotool.study.Study` a command's flags describe; ``fields`` win.

    A study file (``run FILE.toml``) or the bundled report (no ``--data``) takes the
    run's options only; a user's data takes the data flags too.
    """
    from geotool.report import study as report
    from geotool.study import Study

    names = {f.name for f in dataclasses.fields(Study)} - {"data", "recipe", "value_cols"}
    given = {
        name: value for name in names
        if (value := getattr(args, name, None)) is not None and value is not False
        and value != ""
    }  # fmt: skip
    if given.get("sided") == "two":
        given["sided"] = "two-sided"
    if getattr(args, "value_col", None):
        given["value_cols"] = args.value_col
    if getattr(args, "dimensions", None):
        given["dimensions"] = ";".join(args.dimensions)
    file = getattr(args, "file", None)
    toml = None
    if args.command == "run" and file is not None and file.suffix.lower() == ".toml":
        toml = file
    data = getattr(args, "data", None) or (None if toml else file)
    if data is not None:
        return Study(data=data, **given | fields)
    if given.get("raster") is not None:  # a grid alone, with the run's options
        return Study(**{k: v for k, v in given.items() if k in (*_RUN_FIELDS, "raster")} | fields)
    given = {k: v for k, v in given.items() if k in _RUN_FIELDS}
    return Study.from_file(toml, **given | fields) if toml else report.study(**given | fields)


def _execute(study: Any, stage: str, owner: str = "", **options: Any) -> dict[str, Any]:
    """Run one command stage on the study (the report's, or a generic one); its summary."""
    from geotool import pipeline
    from geotool.report import study as report

    where = pipeline if stage in ("match", "batch") else report
    step = pipeline.Stage(stage, partial(getattr(where, f"{stage}_command"), **options))
    return pipeline.run(study, analysis=None, stages=(step,), owner=owner, index=False)


def _output_file(args: argparse.Namespace, owner: str, inputs: list[Any]) -> tuple[Path, Any]:
    """``--out`` checked, and held by this command until it ends (one writer at a time)."""
    from geotool import _validate as check
    from geotool._outdir import OutputFile

    out = check.output_file(args.out, inputs=inputs)
    return out, args.hold(OutputFile(out, owner=owner))


def _cmd_check_report(args: argparse.Namespace) -> int:
    from geotool.report import study as report

    table = report.run(_study(args, out=None), check_only=True)["check_report"]["table"]
    failed = int((table["status"] == "mismatch").sum())
    if args.json:
        _dump({"ok": failed == 0, "figures": table})
    else:
        with _pandas(max_rows=None, width=200, max_colwidth=70):
            print(table[["figure", "key", "stated", "computed", "status", "note"]].to_string(
                index=False))  # fmt: skip
        counts = table["status"].value_counts().to_dict()
        print(f"\n{len(table)} figures: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return EXIT_FAILED if failed else EXIT_OK


def _cmd_boundaries_info(args: argparse.Namespace) -> int:
    from geotool.boundaries import info

    d = info()
    if args.json:
        return _dump(d)
    fixes = ", ".join(f"{k} -> {v}" for k, v in d["code_corrections"].items())
    print("\n".join([
        f"source      {d['source']} ({d['upstream']}), vintage {d['vintage']}",
        f"datum       {d['datum']}",
        *([f"codes       official instead of the source's: {fixes}"] if fixes else []),
        f"units       {_counts(d['counts'])}",
        f"unit types  {_counts(d['unit_types'])}",
        f"simplified  coverage, {d['simplify_tolerance_m']:g} m; neighbour sets "
        + ", ".join(f"{k}={v}" for k, v in d["neighbour_check"].items()),
        f"components  {d['components']} (sizes {d['component_sizes']})",
        f"islands     {len(d['islands'])}: " + ", ".join(d["islands"]),
        "files       " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in d["file_bytes"].items()),
    ]))  # fmt: skip
    return EXIT_OK


def _cmd_match(args: argparse.Namespace) -> int:
    out, target = _output_file(args, "geotool match", [args.file])
    _execute(_study(args, out=None), "match", out=out, target=target, say=_say)
    return EXIT_OK


def _cmd_autocorr(args: argparse.Namespace) -> int:
    from geotool import autocorr

    study = _study(args, adjust=autocorr.adjustment(args.adjust, fdr=args.fdr))
    r = _execute(
        study, "autocorr", "geotool autocorr", ranking=args.ranking, variable=args.variable,
        bivariate=args.other_ranking, sensitivity=args.sensitivity,
        on_table=partial(_county_level, args.other_ranking),
    )  # fmt: skip
    if args.sensitivity and args.json:
        print(r["sensitivity"].to_json(orient="records", force_ascii=False, indent=1))
    elif args.sensitivity:
        cols = ["weights", "statistic", "value", "expected", "z_norm", "p_norm", "p_sim"]
        with _pandas(max_rows=None, width=200, max_colwidth=70):
            print(r["sensitivity"].round(4)[cols].to_string(index=False))
    elif args.json:
        _dump({
            "global": r["global"], "join_counts": r["join_counts"],
            "lisa_counts": r["lisa_counts"],
            "local_geary_counts": r["local_geary"]["cluster"].value_counts().to_dict(),
            "local_join_counts": {
                case: frame[frame["significant"]][["name", "ljc", "p_sim"]].reset_index()
                for case, frame in r["joins"].items()
            },
            **{k: r[k] for k in ("weights", "alpha", "adjust", "p_sided", "lisa_rule")},
            "adjust_note": r["local"].attrs.get("adjust_note", ""),
            "fdr": r["fdr"], "local_table": str(r["local_table"]),
        })  # fmt: skip
    else:
        _print_autocorr(r, args, study.sided)
    return EXIT_OK


def _county_level(bivariate: str | None, table: Any) -> None:
    """Refuse ``--bivariate`` (a ranking of counties) with a table of other units."""
    if bivariate and table.level != "county":
        msg = (
            f"--bivariate {bivariate} is a ranking of the report's counties, and --data "
            f"holds {table.level} units; pair two of your columns with geotool run --data "
            "--bivariate A:B."
        )
        raise InputError(msg)


def _print_autocorr(r: dict[str, Any], args: argparse.Namespace, sided: str) -> None:
    """``geotool autocorr``'s statistics, as text."""
    values, rep = r["values"], r["weights"]
    if values.attrs.get("high_means"):
        print(f"{values.name}: {values.attrs['high_means']}")
    print(
        f"{r['label']}: {values.name}, {rep['units']} units, weights {rep['spec']} "
        f"(neighbours mean {rep['mean_neighbours']}, min {rep['min_neighbours']}, max "
        f"{rep['max_neighbours']}; {rep['islands']['count']} without neighbours -> "
        f"{rep['islands']['rule']}; {rep['components']} components)"
    )
    cols = ["statistic", "value", "expected", "z_norm", "p_norm", "z_rand", "p_rand", "p_sim"]
    with _pandas(float_format="{:.4g}".format):
        print(r["global"].reindex(columns=cols).to_string(index=False))
        if r["join_counts"] is not None:
            print(r["join_counts"][[*cols[:5], "p_sim"]].to_string(index=False))
    print(
        f"p_norm/p_rand two-sided; global p_sim one-sided (observed direction); local p_sim "
        f"(LISA, Gi*, local Geary) {sided}; {args.permutations} permutations, seed {args.seed}"
    )
    print(f"LISA classes ({r['lisa_rule']}): " + _counts(r["lisa_counts"]))
    geary = r["local_geary"]["cluster"].value_counts()
    print(f"local Geary classes at alpha {args.alpha}: " + _counts(geary))
    for case, frame in r["joins"].items():
        hits = frame[frame["significant"]].sort_values(["p_sim", "ljc"], ascending=[True, False])
        what = ("BB clusters (ranked among ranked)" if case == "BB"
                else f"co-location clusters (CLC) with {args.other_ranking}")  # fmt: skip
        print(
            f"local join counts, {what}: {len(hits)} of {int(frame['p_sim'].notna().sum())} "
            f"tested units at alpha {args.alpha} (one-sided upper p_sim): "
            + ", ".join(
                f"{n} ({j:g}, p {p:.4g})" for n, j, p in hits[["name", "ljc", "p_sim"]].to_numpy()
            )
        )
    print(f"local table: {r['local_table']}")


def _cmd_tiers(args: argparse.Namespace) -> int:
    study = _study(args, out=args.out if args.data is not None else None)
    r = _execute(study, "tiers", "geotool tiers", ranking=args.ranking, method=args.method,
                 k=args.classes, on_table=partial(_report_cuts, args.method))  # fmt: skip
    method, result = r["method"], r["tiers"]
    if args.json:
        payload = {k: v for k, v in result.items() if k not in ("shapes", "mobility")}
        if "mobility" in result:
            payload["mobility"] = {k: v.to_dict() for k, v in result["mobility"].items()}
        return _dump(payload)
    head = f"{r['label']}: tiers by {method}" + (f", k={args.classes}" * (method != "report"))
    _sections(head, [
        ("composition by region", result.get("composition")),
        ("geography per tier", result["geography"]),
        ("diffusion vectors (from tier 1's mean centre) and steps (tier t-1 -> t)",
         result["vectors"][["kind", "from", "to", "bearing_deg", "length_km"]]),
        ("gradient test (two-sided permutation p)", result["gradient"]),
        ("change on 2019", result.get("region_change")),
        ("tier centres by year", result.get("yearly_centres")),
        *((f"mobility {k}", m) for k, m in result.get("mobility", {}).items()),
    ], max_columns=30)  # fmt: skip
    print("\n" + result["verdict"])
    return EXIT_OK


def _report_cuts(method: str, table: Any) -> None:
    if method == "report":  # the report's cut points are for its own ranking
        _say("tiers of --data: the report's cut points do not apply; Ward clustering instead "
             "(choose with --method)")  # fmt: skip


def _sections(head: str, sections: list[tuple[str, Any]], **display: Any) -> None:
    """A headline, then each titled table (composition and mobility with their index)."""
    with _pandas(width=200, float_format="{:.3f}".format, **display):
        print(head)
        for title, frame in sections:
            if frame is not None:
                index = title.startswith(("composition", "mobility"))
                print(f"\n{title}\n" + frame.to_string(index=index))


def _cmd_clusters(args: argparse.Namespace) -> int:
    r = _execute(_study(args, out=None), "clusters", ranking=args.ranking)
    name, other, checked = r["set"], r["other"], r["geometry_check"]
    if args.json:
        return _dump({
            "set": name, "geometry_check": checked, "counts": r["counts"],
            f"changes_vs_{other}": r["changes"], "belts": r["belts"],
            "radiation": r["radiation"], "overlaps": r["overlaps"],
        })  # fmt: skip
    _sections(
        f"definition set {name}: code and geometry membership agree for "
        f"{sum(checked.values())} memberships in {len(checked)} definitions",
        [
            (f"{args.ranking} by primary cluster",
             r["counts"][["cluster_zh", "definition", "count", "units"]]),
            (f"units whose cluster differs under {other}", r["changes"]),
            ("industrial belts (contiguous ranked units), largest first", r["belts"].head(8)),
            ("radiation: rank against km to the nearest core (Spearman, two-sided permutation "
             "p)", r["radiation"].drop(columns=["seed"])),
            ("overlapping definitions", r["overlaps"][["a", "b", "shared"]]),
        ],
        max_colwidth=80,
    )  # fmt: skip
    return EXIT_OK


def _cmd_map(args: argparse.Namespace) -> int:
    out, _ = _output_file(args, "geotool map", [args.data] if args.data else [])
    r = _execute(_study(args, out=None), "map", kind=args.kind, out=out, scheme=args.scheme,
                 k=args.classes, offline=args.offline)  # fmt: skip
    how = "Leaflet from the CDN" if args.cdn else "self-contained"
    _say(f"wrote {out} ({r['bytes'] / 1e6:.2f} MB, {how})")
    return EXIT_OK


def _cmd_run(args: argparse.Namespace, owner: str = "geotool run") -> int:
    """``geotool run`` (and ``geotool index``, a run whose variable is a composite index)."""
    from geotool import pipeline
    from geotool.report import study as report

    _verbosity(args)
    if args.file is not None and getattr(args, "data", None) is not None:
        msg = f"Pass the data as FILE or as --data, not both (got {args.file} and {args.data})."
        raise InputError(msg)
    study = _study(args)
    if study.raster is not None:  # a grid: LISA on its cells (geotool.raster_stages)
        from geotool import raster_stages

        summary = raster_stages.run(study)
        lines = raster_stages.headline(summary)
        _say(f"wrote {len(summary['files'])} files to {study.out}", *lines)
        return EXIT_OK
    summary = report.run(study) if study.recipe is not None else pipeline.run(study, owner=owner)
    _say(f"wrote {len(summary['files'])} files to {study.out} (open {study.out / 'index.html'})",
         *pipeline.headline(summary))  # fmt: skip
    return EXIT_OK if summary.get("check_report", {}).get("ok", True) else EXIT_FAILED


def _verbosity(args: argparse.Namespace) -> None:
    """A command's own ``--quiet`` (warnings only) or ``--verbose`` (details too)."""
    if getattr(args, "quiet_run", False):
        logging.getLogger("geotool").setLevel(logging.WARNING)
    elif getattr(args, "verbose_run", False):
        logging.getLogger("geotool").setLevel(logging.DEBUG)


#: The regression's study fields in messages, as ``geotool regress`` spells them.
_REGRESS_FLAGS = (("model_regimes=", "--regimes "), ("model_regimes:", "--regimes:"),
                  ("model_kind=", "--kind "), ("model_method=", "--method "),
                  ("model:", "--model:"), ("model=", "--model "))  # fmt: skip


def _cmd_regress(args: argparse.Namespace) -> int:
    from geotool import pipeline, regress_stage

    _verbosity(args)
    if not args.model:
        raise InputError("--model is required: e.g. --model 'y ~ x1 + log(x2)'.")
    study = _study(args)
    stage = pipeline.Stage("regression", regress_stage.regression_stage, regress_stage.no_model)
    index = pipeline.Stage("index", regress_stage.regression_index)
    try:
        summary = pipeline.run(study, stages=(stage, index), owner="geotool regress", index=False)
    except InputError as exc:  # the study's fields, as this command's flags
        text = str(exc)
        for field, flag in _REGRESS_FLAGS:
            if text.startswith(field):
                text = flag + text[len(field) :]
        raise InputError(text) from None
    found = summary["regression"]
    print((study.out / "regression.md").read_text(encoding="utf-8"))
    _say(f"wrote index.html, regression.md, .html, .tex, tables/regression_*.csv, figures/ "
         f"and maps/ to {study.out}",
         f"regression: {found['finding']}", *(f"  note: {n}" for n in found["notes"]))  # fmt: skip
    return EXIT_OK


def _cmd_batch(args: argparse.Namespace) -> int:
    names = ("variables", "years", "weights", "statistics")
    r = _execute(
        _study(args, out=None, weights=None), "batch",
        level=args.level, out=args.out, **{n: getattr(args, n) for n in names},
        cluster={n: getattr(args, n) for n in ("workers", "scheduler", "connect_timeout")},
        limits={"max_tasks": args.max_tasks, "max_output_gb": args.max_output_gb},
    )  # fmt: skip
    result = r["result"]
    failed = result[result["status"] == "failed"]
    lines = [f"  failed {key}: {short(str(error), 160)}"
             for key, error in failed[["key", "error"]].head(20).to_numpy()]  # fmt: skip
    if len(failed) > 20:
        lines.append(f"  ... and {len(failed) - 20} more (status column of batch.csv)")
    _say(f"{len(result)} tasks {r['where']}: {len(result) - len(failed)} ok, {len(failed)} "
         f"failed; wrote {Path(args.out) / 'batch.csv'}", *lines)  # fmt: skip
    return EXIT_FAILED if len(failed) else EXIT_OK


def _path(text: str) -> Path:
    """A path option: refused when empty (``Path("")`` would be the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path names nothing; give a file or folder")
    return Path(text)


def _flag(*names: str, key: str = "", **options: Any) -> tuple[str, tuple[str, ...], dict]:
    """One option: its key in the commands' lists (default: its name), names and keywords."""
    return key or names[0].lstrip("-"), names, options


class _Help(argparse.HelpFormatter):
    """A subcommand's help: each option's line ends with its default, where it has one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        default = action.default
        if default is None or default is False or default in ("", argparse.SUPPRESS):
            return action.help
        return f"{action.help}; default {default}"


_RANKINGS = ["industrial_counties", "innovation_counties", "industrial_districts"]
_LEVELS = ["county", "prefecture", "province"]
_CLASSES = ["ward", "jenks", "quantiles"]
_BASEMAPS = ["none", "positron", "osm", "amap"]
_SCHEMES = ["quantiles", "fisherjenks", "equalinterval"]
_MAPS = ["rankings", "lisa", "tiers", "clusters"]
_TRANSFORMS = ["log", "log1p", "standardise"]
_INDEX_METHODS = ["entropy", "critic", "pca", "equal", "ahp"]
_KINDS = ("ols", "lag", "error", "slx", "durbin", "gwr", "mgwr")  # geotool.regress.KINDS
_PANEL_KINDS = ("pooled", "fe_lag", "fe_error", "re_lag", "re_error")  # regress.PANEL_KINDS

#: Every option of every subcommand, once, by key: a command lists the keys it takes
#: (:data:`_SUBCOMMANDS`; ``@user`` and ``@perm`` are groups of them).
_OPTIONS = {key: (names, options) for key, names, options in (
    _flag("--json", action="store_true", help="machine-readable output (JSON)"),
    _flag("--out", type=_path, help="output folder (map: the page; run: outputs unless given)"),
    _flag("--out", key="report", default="match_report.csv", help="the match report (CSV)"),
    _flag("file", key="table", type=_path, help="the table: CSV (UTF-8 or GBK) or .xlsx"),
    _flag("file", key="study", nargs="?", type=_path, help="a study file (.toml), or your --data"),
    _flag("file", key="batch", type=_path, help="CSV or .xlsx: a unit column, value columns"),
    _flag("--ranking", default=_RANKINGS[0], choices=_RANKINGS, help="the report's ranking"),
    _flag("--variable", default="score",
          help="member, score (101 - rank) or tier_strength (5 - tier): high means strong"),
    _flag("--data", type=_path, help="your table (CSV, .xlsx) or geometry file, not the report's"),
    _flag("--value-col",
          help="value column(s) of --data, comma-separated; default: its only numeric one"),
    _flag("--score", dest="value_col",
          help="score column of --data; default: its only numeric one"),
    _flag("--year-col", help="year column (a panel in long form)"),
    *(_flag(f"--{c}-col", help=f"column of the {c}") for c in ("name", "province", "prefecture")),
    _flag("--code-col", help="column of the code"),
    _flag("--encoding", help="force the CSV encoding (e.g. gb18030)"),
    _flag("--sheet", help="Excel sheet name or number"),
    _flag("--level", default="auto", choices=["auto", *_LEVELS],
          help="level of the units of --data; auto: detected from codes and names"),
    _flag("--level", key="layer-of", default="county", choices=_LEVELS, help="the units' layer"),
    _flag("--geometry", type=_path, help="your polygons (GeoPackage, Shapefile, GeoJSON ...)"),
    _flag("--raster", type=_path, help="a GeoTIFF grid: LISA on its cells (--weights rook/queen)"),
    _flag("--id-col", help="id column of --geometry and --data: unit codes or names"),
    _flag("--datum", choices=["wgs84", "gcj02", "bd09"],
          help="datum of --geometry: gcj02 for AMap-derived, bd09 for Baidu-derived"),
    _flag("--layer", help="layer of a GeoPackage with several"),
    _flag("--crs", help="CRS of --geometry when its own is missing or wrong (EPSG:4326)"),
    _flag("--geometry-encoding",
          help="encoding of --geometry's attributes (e.g. gbk); default: its .cpg, else detected"),
    _flag("--max-unmatched", type=float, default=0.0, help="share of rows allowed unmatched"),
    _flag("--weights", help="weights spec: queen, rook, knn:6, distance:100km (batch: several, "
          "comma-separated)"),
    _flag("--islands", default="nearest", metavar="RULE", help="units without neighbours: "
          "nearest (within 3x the median nearest distance), max:100km, nearest:unbounded, "
          "drop or keep"),
    _flag("--islands", key="rule", default="nearest", choices=["nearest", "drop", "keep"],
          help="units without neighbours"),
    _flag("--sided", default="two", choices=["two", "folded"], help="local p-values: two-sided "
          "(alpha holds under the null) or folded (GeoDa's one-sided)"),
    _flag("--permutations", type=int, help="permutations of the pseudo p-values"),
    _flag("--seed", type=int, help="random seed of the permutations"),
    _flag("--alpha", type=float, default=0.05, help="significance level"),
    _flag("--adjust", choices=["none", "bonferroni", "fdr"], help="multiple-comparison rule of "
          "the LISA classes and Gi*: none (each unit at alpha), bonferroni or fdr"),
    _flag("--fdr", action="store_true", help="same as --adjust fdr"),
    _flag("--bivariate", key="other-ranking", dest="other_ranking", metavar="BIVARIATE",
          help="another ranking: bivariate Moran of --variable with its score"),
    _flag("--bivariate", key="pairs", action="append", metavar="A:B",
          help="bivariate Moran's I and LISA of two value columns (repeatable)"),
    _flag("--sensitivity", action="store_true", help="global statistics under queen, rook, "
          "knn:6 and a distance band (the report's or the data's)"),
    _flag("--method", default="report", choices=["report", *_CLASSES],
          help="the report's cut points, or how to class the scores"),
    _flag("-k", key="tier-k", dest="classes", metavar="K", type=int, default=4, help="tier count"),
    _flag("-k", key="map-k", dest="classes", metavar="K", type=int, help="classes; default 5"),
    _flag("-k", type=int, help="number of tiers (default 4)"),
    _flag("--set", dest="cluster_set", metavar="SET", default="report2020",
          help="cluster definitions: report2020, plans, or a YAML/CSV file of them"),
    _flag("kind", nargs="?", default="rankings", choices=_MAPS, help="which of the report's maps"),
    _flag("--cdn", action="store_true", help="Leaflet from its CDN (smaller, blank offline)"),
    _flag("--offline", action="store_true", help=argparse.SUPPRESS),  # the default now
    _flag("--basemap", default="none", choices=_BASEMAPS, help="tiles under the map"),
    _flag("--scheme", default="quantiles", choices=_SCHEMES, help="how values are classed"),
    _flag("--title", help="the title of the map or study"),
    _flag("--label", dest="labels", action="append", metavar="COL=TEXT",
          help="a readable label of a column for titles and legends (repeatable)"),
    _flag("--lang", choices=["zh", "en"], help="language of the pages; default: zh in China"),
    _flag("--tiers", choices=_CLASSES, help="how values are classed into tiers (default ward)"),
    _flag("--quiet", dest="quiet_run", action="store_true", help="no progress"),
    _flag("--verbose", dest="verbose_run", action="store_true",
          help="details too: every unit without neighbours, each file written"),
    _flag("--all-numeric", action="store_true", help="analyse every numeric column of --data"),
    _flag("--transform", choices=_TRANSFORMS, help="transform of every variable, after --per"),
    _flag("--per", help="population column: variables become rates"),
    _flag("--smooth", choices=["eb", "spatial_eb"],
          help="empirical-Bayes smoothing of --per rates (global or spatial), for event counts"),
    _flag("--scale", type=float, default=1.0, help="multiplier of rates (e.g. 10000)"),
    _flag("--figures", default="", help="figures for print, e.g. png,svg,pdf (4 s a figure)"),
    _flag("--dpi", type=int, help="resolution of the PNG figures"),
    _flag("--classes", dest="value_classes", metavar="SCHEME:K", help="classes of the value "
          "maps: quantiles:5 (default), jenks:5, equal:5 or breaks:1,10,100"),
    _flag("--indicators", help="columns combined into a composite index (comma-separated): "
          "the index is then the variable"),
    _flag("--index-method", choices=_INDEX_METHODS, help="weights of --indicators (default "
          "entropy; ahp needs --ahp)"),
    _flag("--method", key="index-by", dest="index_method", default="entropy",
          choices=_INDEX_METHODS, help="weights of the indicators (ahp needs --ahp)"),
    _flag("--direction", metavar="A:-,B:+", help="indicators where less is better get '-'"),
    _flag("--dimension", dest="dimensions", action="append", metavar="NAME=A,B",
          help="a dimension of the index and its indicators (repeatable)"),
    _flag("--ahp", type=_path, help="AHP pairwise matrix (CSV; 1/3 allowed), over the "
          "dimensions or else the indicators"),
    _flag("--normalise", choices=["minmax", "zscore", "vector"],
          help="normalisation of the indicators (default minmax; vector for topsis)"),
    _flag("--aggregate", default="sum", choices=["sum", "geometric", "topsis"],
          help="how normalised indicators combine"),
    _flag("--groups", help="groups inequality is decomposed between: region (China's 东中西东北, "
          "the default there), province, cluster (city clusters of --set), or a column"),
    _flag("file", key="index-data", type=_path, help="your table or geometry file (indicators)"),
    _flag("file", key="regress-data", type=_path, help="your table or geometry file"),
    _flag("--model", help="a regression, e.g. 'y ~ x1 + log(x2) + C(region)' (formula syntax; "
          "y is then the variable)"),
    _flag("--kind", key="model-kind", dest="model_kind", choices=[*_KINDS, *_PANEL_KINDS],
          help="the model: OLS (with the LM tests), spatial lag or error, SLX, spatial Durbin, "
          "GWR or MGWR; with --year-col, a panel: pooled OLS with year effects, spatial fixed "
          "(fe_lag, fe_error) or random effects (re_lag, re_error) with the Hausman test"),
    _flag("--method", key="model-method", dest="model_method", choices=["ml", "gm"],
          help="lag, error and Durbin models by maximum likelihood or GMM"),
    _flag("--regimes", dest="model_regimes", metavar="COLUMN",
          help="spatial regimes with Chow tests: a column, or 'groups' (--groups)"),
    _flag("--variables", help="value columns, comma-separated (default: the numeric ones)"),
    _flag("--years", help="years, comma-separated (default: every year)"),
    _flag("--statistics", default="moran,lisa", help="moran,geary,getis_ord_g,lisa,gi_star"),
    _flag("--workers", type=int, help="local dask workers (default: one per CPU); 0: serially"),
    _flag("--scheduler", help="a dask scheduler: tcp://host:8786, or its --scheduler-file"),
    _flag("--connect-timeout", type=float, default=10.0, metavar="SECONDS",
          help="seconds the --scheduler has to answer"),
    _flag("--max-tasks", type=int, default=50_000, help="refuse a batch of more tasks"),
    _flag("--max-output-gb", type=float, default=2.0, help="refuse a batch of larger output"),
)}  # fmt: skip

#: Flags that several subcommands take together.
_GROUPS = {
    "@user": "year-col name-col province-col prefecture-col code-col encoding sheet level "
    "geometry id-col datum layer crs geometry-encoding max-unmatched",
    "@perm": "permutations seed",
    "@index": "indicators direction dimension ahp normalise aggregate",
}

#: Every subcommand: its name, help, flags (keys of :data:`_OPTIONS`) and own defaults.
_SUBCOMMANDS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("check-report", "recompute the report's figures from the data", "json", {}),
    ("boundaries info", "describe the bundled boundaries", "json", {}),
    ("match", "resolve a table's names to adcodes", "table report encoding sheet name-col "
     "province-col prefecture-col code-col max-unmatched", {}),
    ("autocorr", "global and local spatial autocorrelation", "ranking variable data value-col "
     "@user weights islands sided @perm alpha adjust fdr other-ranking sensitivity json out",
     {"weights": "queen", "out": "outputs_autocorr"}),
    ("tiers", "tier composition, geography, diffusion and gradient",
     "ranking data score @user method tier-k @perm json out",
     {"out": "outputs_tiers", "flags": {"value_col": "--score"}}),
    ("clusters", "city-cluster membership, counts, belts, radiation", "set ranking @perm json",
     {}),
    ("map", "write one interactive map as standalone HTML", "kind out cdn offline basemap set "
     "weights @perm data value-col @user scheme map-k title", {"out": "outputs/maps/map.html"}),
    ("run", "a whole study (default: the bundled 2020 report): writes outputs/",
     "study out @perm title label lang tiers k cdn offline basemap quiet verbose data value-col "
     "@user all-numeric pairs transform per smooth scale weights set adjust islands sided figures "
     "dpi classes @index index-method groups raster model model-kind model-method regimes",
     # a study file's own options stay unless given
     dict.fromkeys(("permutations", "seed", "basemap", "cluster_set", "islands", "sided"))),
    ("index", "a composite index of indicators, ranked, tiered, tested and mapped",
     "index-data index-by @index out @perm title label lang tiers k cdn basemap "
     "quiet verbose @user weights islands sided groups figures dpi",
     {"out": "outputs_index", "flags": {"index_method": "--method"}}),
    ("regress", "a spatial regression: OLS with GeoDa's diagnostics, lag/error, SLX, Durbin, "
     "GWR", "regress-data model model-kind model-method regimes out @perm title label lang "
     "@user weights islands sided alpha groups figures dpi quiet verbose",
     {"out": "outputs_regress", "model_kind": "ols", "model_method": "ml",
      "flags": {"model_kind": "--kind", "model_method": "--method",
                "model_regimes": "--regimes"}}),
    ("batch", "many analyses (variables x years x weights x statistics), on dask",
     "batch id-col year-col variables years weights statistics layer-of @perm alpha "
     "rule workers scheduler connect-timeout max-tasks max-output-gb encoding sheet out",
     {"id_col": "adcode", "weights": "queen", "out": "outputs/batch"}),
]  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    """The ``geotool`` command line: ``command`` names the subcommand."""
    from geotool import settings

    top = argparse.ArgumentParser(
        prog="geotool",
        description="Spatial analysis of China's top-100 industrial counties and districts.",
    )
    top.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    top.add_argument("-v", "--verbose", action="store_true",
                     help="details too (each unit without neighbours, ...)")
    top.add_argument("--debug", action="store_true", help="show the traceback of a crash")
    top.set_defaults(flags={})
    sub = top.add_subparsers(dest="command", required=True)
    for name, text, keys, own in _SUBCOMMANDS:
        command, _, action = name.partition(" ")
        p = sub.add_parser(command, help=text, formatter_class=_Help)
        if action:  # boundaries info
            p = p.add_subparsers(dest="action", required=True).add_parser(
                action, help="counts, vintage, datum, islands", formatter_class=_Help)
        defaults = {"permutations": settings.permutations, "seed": settings.seed} | own
        for key in " ".join(_GROUPS.get(k, k) for k in keys.split()).split():
            names, options = _OPTIONS[key]
            dest = options.get("dest", names[0].lstrip("-").replace("-", "_"))
            if dest in defaults:
                options = options | {"default": defaults[dest]}
            p.add_argument(*names, **options)
        p.set_defaults(flags=own.get("flags", {}))  # flags this command names otherwise
    return top


#: Library parameters as the CLI spells them: errors name parameters, users see flags.
#: Every option named as its parameter, except the commands' own (``data=``, ``method=``
#: ... of the library stay as they are).
_FLAGS = {
    names[0].lstrip("-").replace("-", "_"): names[0]
    for names, options in _OPTIONS.values()
    if names[0].startswith("-") and "dest" not in options
    and names[0] not in ("--json", "--ranking", "--data", "--sensitivity", "--method")
} | {
    "report_path": "the match report (named after --out)",
    "labels": "--label",
    "value_cols": "--value-col",
    "dimensions": "--dimension",
    "value_classes": "--classes",
}

#: Library spellings with no flag of their own, and what the CLI says instead.
_SPELLINGS = {"log1p=True": "--transform log1p"} | {
    f"{name}=None": f"no --{name}" for name in ("smooth", "transform", "per", "adjust")
}
_SPELLING = re.compile(r"\b(?:" + "|".join(re.escape(k) for k in _SPELLINGS) + r")(?![\w'])")
# a parameter, and a plain quoted word after it: level='prefecture' -> --level prefecture
_PARAM = re.compile(
    r"\b(" + "|".join(_FLAGS) + r")=(?:'([\w.:-]+)'(?=[\s).;,]|$)|(True)\b)?"
)  # all_numeric=True -> --all-numeric (a switch takes no value)


#: A quoted value in a message (the user's text, as ``repr`` shows it): never rewritten.
_QUOTED = re.compile(r"""(?<!\w)'[^'\n]*'(?!\w)|(?<!\w)"[^"\n]*"(?!\w)""")


def _as_flags(message: str, overrides: dict[str, str] | None = None) -> str:
    """A library message with ``value_col=`` and the like spelled as the CLI's flags.

    Text inside quotes is the user's (a cell, a file name) and stays as it is.
    """
    flags = {**_FLAGS, **(overrides or {})}
    quoted = [(q.start(), q.end()) for q in _QUOTED.finditer(message)]

    def spelt(m: re.Match[str]) -> str:
        if any(a < m.start() < b for a, b in quoted):
            return m.group(0)
        if m.group(2):
            return f"{flags[m.group(1)]} {m.group(2)}"
        if m.group(3):
            return flags[m.group(1)]
        # "pass layer= naming one" -> "pass --layer naming one", never two spaces
        after = message[m.end() : m.end() + 2]  # "layer=." ends a sentence; "out=../x" not
        ends = after[:1] in ("", " ", ",", ";", ")") or after in (".", ". ")
        return flags[m.group(1)] + ("" if ends else " ")

    message = _SPELLING.sub(lambda m: _SPELLINGS[m.group(0)], message)
    return _PARAM.sub(spelt, message).rstrip()



_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "check-report": _cmd_check_report, "boundaries": _cmd_boundaries_info, "match": _cmd_match,
    "autocorr": _cmd_autocorr, "tiers": _cmd_tiers, "clusters": _cmd_clusters, "map": _cmd_map,
    "run": _cmd_run, "batch": _cmd_batch, "index": partial(_cmd_run, owner="geotool index"),
    "regress": _cmd_regress,
}  # fmt: skip


def _spell(overrides: dict[str, str], record: logging.LogRecord) -> bool:
    """A log filter: the library's parameters in the line spelled as this command's flags."""
    record.msg, record.args = _as_flags(record.getMessage(), overrides), None
    return True


def _not_progress(record: logging.LogRecord) -> bool:
    """Drop progress lines (``record.progress``) where nobody watches a terminal."""
    return not getattr(record, "progress", False)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``geotool`` console command."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        format="geotool: %(message)s", level=logging.WARNING if args.quiet else logging.INFO
    )
    # geotool's details with -v, not every library's debugging; a command's own flags after
    logging.getLogger("geotool").setLevel(
        logging.DEBUG if args.verbose and not args.quiet else logging.NOTSET
    )
    for handler in logging.getLogger().handlers:
        # only the plain stderr handler basicConfig made, never a host's (pytest, an app)
        if type(handler) is logging.StreamHandler and handler.stream is sys.stderr:
            handler.addFilter(partial(_spell, args.flags))  # warnings name flags, as errors do
            if not sys.stderr.isatty():  # progress lines are for people watching a terminal
                handler.addFilter(_not_progress)
    alone = getattr(args, "data", None) is None and getattr(args, "file", None) is None
    if alone and getattr(args, "geometry", None) is not None:  # its attributes are the data
        args.data, args.geometry = args.geometry, None
    try:
        with contextlib.ExitStack() as stack:  # output folders and files, held to the end
            args.hold = stack.enter_context
            return _COMMANDS[args.command](args)
    except GeotoolError as exc:
        _say(f"geotool: error: {_as_flags(str(exc), args.flags)}")
        return EXIT_INPUT if isinstance(exc, InputError) else EXIT_FAILED
    except KeyboardInterrupt:
        _say("geotool: interrupted")
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return EXIT_OK
    except MemoryError:
        _say("geotool: error: out of memory; use fewer --permutations or a smaller table.")
        return EXIT_INPUT
    except OSError as exc:  # a disk or permission problem outside a run's own handling
        where = f" ({short(exc.filename)})" if exc.filename else ""
        _say(f"geotool: error: {exc.strerror or exc}{where}; check the path.")
        return EXIT_INPUT
    except Exception as exc:
        if args.debug:
            raise
        _say(f"geotool: internal error: {type(exc).__name__}: {short(str(exc), 200)}. This is "
             "a bug in geotool: please report it with the command you ran (add --debug for "
             "the traceback).")  # fmt: skip
        return EXIT_FAILED


def entry() -> None:
    """The ``geotool`` console command: :func:`main`, then a prompt exit.

    A run's teardown takes about 0.4 s: like mypy's ``hard_exit``, the command flushes its
    output and leaves with ``os._exit`` (every file is written and closed by then).
    """
    code = main()
    logging.shutdown()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # a closed pipe (`geotool ... | head`)
        pass
    os._exit(code)


if __name__ == "__main__":
    entry()
