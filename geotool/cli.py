"""The ``geotool`` command: a thin shell over the library.

Each command builds one :class:`geotool.study.Study` from its flags (:func:`_study`), runs
it through :func:`geotool.pipeline.run` and formats what comes back. Exit status: 0
success, 1 a check failed (``check-report`` mismatch), 2 bad input (one line on stderr
naming the problem and the fix, no traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
from functools import partial
from pathlib import Path
from typing import Any

from geotool._errors import GeotoolError, InputError
from geotool._text import short

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2


def _print_table(frame: Any, columns: list[str]) -> None:
    import pandas as pd

    with pd.option_context(
        "display.max_rows", None, "display.width", 200, "display.max_colwidth", 70
    ):
        print(frame[columns].to_string(index=False))


def _records(frame: Any) -> Any:
    """A frame as JSON records (a list of dicts)."""
    return json.loads(frame.to_json(orient="records", force_ascii=False))


def _dump(payload: Any, **options: Any) -> int:
    print(json.dumps(payload, ensure_ascii=False, indent=1, **options))
    return EXIT_OK


#: Study fields of a run's options, and of the user's data (flags of the same name).
_RUN_FIELDS = (
    "out", "seed", "permutations", "title", "lang", "weights", "islands", "adjust", "sided",
    "alpha", "dpi", "cdn", "basemap", "k", "figures", "cluster_set", "labels",
)  # fmt: skip
_DATA_FIELDS = (
    "name_col", "province_col", "prefecture_col", "code_col", "year_col", "encoding", "sheet",
    "level", "geometry", "id_col", "datum", "layer", "max_unmatched", "crs",
    "geometry_encoding", "all_numeric", "bivariate", "transform", "per", "smooth", "scale",
    "tiers",
)  # fmt: skip


def _study(args: argparse.Namespace, **fields: Any) -> Any:
    """The one :class:`geotool.study.Study` a command's flags describe; ``fields`` win.

    A study file (``run FILE.toml``) or the bundled report (no ``--data``) takes the
    run's options only; a user's data takes the data flags too.
    """
    from geotool.report import study as report
    from geotool.study import Study

    given = {
        name: value
        for name in (*_RUN_FIELDS, *_DATA_FIELDS)
        if (value := getattr(args, name, None)) is not None and value is not False
        and value != ""
    }  # fmt: skip
    if given.get("sided") == "two":
        given["sided"] = "two-sided"
    if getattr(args, "value_col", None):
        given["value_cols"] = args.value_col
    file = getattr(args, "file", None)
    toml = None
    if args.command == "run" and file is not None and file.suffix.lower() == ".toml":
        toml = file
    data = getattr(args, "data", None) or (None if toml else file)
    if data is not None:
        return Study(data=data, **given | fields)
    given = {k: v for k, v in given.items() if k in _RUN_FIELDS}
    return Study.from_file(toml, **given | fields) if toml else report.study(**given | fields)


def _execute(study: Any, stage: str, owner: str = "", **options: Any) -> dict[str, Any]:
    """Run one command stage on the study (the report's, or a generic one); its summary."""
    from geotool import pipeline
    from geotool.report import study as report

    where = pipeline if stage in ("match", "batch") else report
    step = pipeline.Stage(stage, partial(getattr(where, f"{stage}_command"), **options))
    return pipeline.run(study, analysis=None, stages=(step,), owner=owner, index=False)


def _cmd_check_report(args: argparse.Namespace) -> int:
    from geotool.report import study as report

    table = report.run(_study(args, out=None), check_only=True)["check_report"]["table"]
    failed = int((table["status"] == "mismatch").sum())
    if args.json:
        _dump({"ok": failed == 0, "figures": _records(table)})
    else:
        _print_table(table, ["figure", "key", "stated", "computed", "status", "note"])
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
    from geotool import _validate as check
    from geotool._outdir import OutputFile

    out = check.output_file(args.out, inputs=[args.file])
    target = args.hold(OutputFile(out, owner="geotool match"))  # one writer at a time
    _execute(_study(args, out=None), "match", out=out, target=target,
             say=partial(print, file=sys.stderr))  # fmt: skip
    return EXIT_OK


def _cmd_autocorr(args: argparse.Namespace) -> int:
    from geotool import autocorr

    study = _study(args, adjust=autocorr.adjustment(args.adjust, fdr=args.fdr))
    r = _execute(
        study, "autocorr", "geotool autocorr", ranking=args.ranking, variable=args.variable,
        bivariate=args.other_ranking, sensitivity=args.sensitivity,
        on_table=partial(_county_level, args.other_ranking),
    )  # fmt: skip
    if args.sensitivity:
        if args.json:
            print(r["sensitivity"].to_json(orient="records", force_ascii=False, indent=1))
        else:
            cols = ["weights", "statistic", "value", "expected", "z_norm", "p_norm", "p_sim"]
            _print_table(r["sensitivity"].round(4), cols)
        return EXIT_OK
    if args.json:
        jc = r["join_counts"]
        return _dump({
            "global": _records(r["global"]),
            "join_counts": None if jc is None else _records(jc),
            "lisa_counts": r["lisa_counts"],
            "local_geary_counts": r["local_geary"]["cluster"].value_counts().to_dict(),
            "local_join_counts": {
                case: _records(frame[frame["significant"]][["name", "ljc", "p_sim"]].reset_index())
                for case, frame in r["joins"].items()
            },
            **{k: r[k] for k in ("weights", "alpha", "adjust", "p_sided", "lisa_rule")},
            "adjust_note": r["local"].attrs.get("adjust_note", ""),
            "fdr": r["fdr"], "local_table": str(r["local_table"]),
        })  # fmt: skip
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
    import pandas as pd

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
    with pd.option_context("display.float_format", "{:.4g}".format):
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
        what = "BB clusters (ranked among ranked)" if case == "BB" else (
            f"co-location clusters (CLC) with {args.other_ranking}"
        )  # fmt: skip
        print(
            f"local join counts, {what}: {len(hits)} of {int(frame['p_sim'].notna().sum())} "
            f"tested units at alpha {args.alpha} (one-sided upper p_sim): "
            + ", ".join(
                f"{n} ({j:g}, p {p:.4g})" for n, j, p in hits[["name", "ljc", "p_sim"]].to_numpy()
            )
        )
    print(f"local table: {r['local_table']}")


def _counts(counts: Any) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _cmd_tiers(args: argparse.Namespace) -> int:
    study = _study(args, out=args.out if args.data is not None else None)
    r = _execute(study, "tiers", "geotool tiers", ranking=args.ranking, method=args.method,
                 k=args.classes, on_table=partial(_report_cuts, args.method))  # fmt: skip
    method = r["method"]
    result = r["tiers"]
    if args.json:
        skip = ("shapes", "mobility")
        payload = {k: _records(v) if hasattr(v, "to_json") else v
                   for k, v in result.items() if k not in skip}  # fmt: skip
        if "mobility" in result:
            payload["mobility"] = {k: v.to_dict() for k, v in result["mobility"].items()}
        return _dump(payload, default=str)
    head = f"{r['label']}: tiers by {method}" + (f", k={args.classes}" * (method != "report"))
    vectors = result["vectors"][["from", "to", "bearing_deg", "length_km"]]
    _sections(head, [
        ("composition by region", result.get("composition")),
        ("geography per tier", result["geography"]),
        ("diffusion vectors (from tier 1's mean centre)", vectors),
        ("gradient test (two-sided permutation p)", result["gradient"]),
        ("change on 2019", result.get("region_change")),
        ("tier centres by year", result.get("yearly_centres")),
        *((f"mobility {k}", m) for k, m in result.get("mobility", {}).items()),
    ], max_columns=30)  # fmt: skip
    print("\n" + result["verdict"])
    return EXIT_OK


def _report_cuts(method: str, table: Any) -> None:
    if method == "report":  # the report's cut points are for its own ranking
        print(
            "tiers of --data: the report's cut points do not apply; Ward clustering "
            "instead (choose with --method)",
            file=sys.stderr,
        )


def _sections(head: str, sections: list[tuple[str, Any]], **display: Any) -> None:
    """A headline, then each titled table (composition and mobility with their index)."""
    import pandas as pd

    shown = {f"display.{k}": v for k, v in display.items()}
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format,
                           *(x for kv in shown.items() for x in kv)):  # fmt: skip
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
            "set": name, "geometry_check": checked, "counts": _records(r["counts"]),
            f"changes_vs_{other}": _records(r["changes"]), "belts": _records(r["belts"]),
            "radiation": _records(r["radiation"]), "overlaps": _records(r["overlaps"]),
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
    from geotool import _validate as check
    from geotool._outdir import OutputFile

    out = check.output_file(args.out, inputs=[args.data] if args.data else [])
    args.hold(OutputFile(out, owner="geotool map"))  # the map and its match report
    r = _execute(_study(args, out=None), "map", kind=args.kind, out=out, scheme=args.scheme,
                 k=args.classes, offline=args.offline)  # fmt: skip
    print(
        f"wrote {out} ({r['bytes'] / 1e6:.2f} MB"
        f"{', Leaflet from the CDN' if args.cdn else ', self-contained'})",
        file=sys.stderr,
    )
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    from geotool import pipeline
    from geotool.report import study as report

    if args.quiet_run:
        logging.getLogger("geotool").setLevel(logging.WARNING)
    if args.file is not None and args.data is not None:
        msg = f"Pass the data as FILE or as --data, not both (got {args.file} and {args.data})."
        raise InputError(msg)
    study = _study(args)
    summary = report.run(study) if study.recipe is not None else pipeline.run(study)
    print(
        f"wrote {len(summary['files'])} files to {study.out} (open {study.out / 'index.html'})",
        file=sys.stderr,
    )
    for line in pipeline.headline(summary):
        print(line, file=sys.stderr)
    ok = summary.get("check_report", {}).get("ok", True)
    return EXIT_OK if ok else EXIT_FAILED


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
    print(
        f"{len(result)} tasks {r['where']}: {len(result) - len(failed)} ok, {len(failed)} "
        f"failed; wrote {Path(args.out) / 'batch.csv'}",
        file=sys.stderr,
    )
    for key, error in failed[["key", "error"]].head(20).to_numpy():
        print(f"  failed {key}: {short(str(error), 160)}", file=sys.stderr)
    if len(failed) > 20:
        print(f"  ... and {len(failed) - 20} more (status column of batch.csv)", file=sys.stderr)
    return EXIT_FAILED if len(failed) else EXIT_OK


def _path(text: str) -> Path:
    """A path option: refused when empty (``Path("")`` would be the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path names nothing; give a file or folder")
    return Path(text)


def _flag(*names: str, **options: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """One option of the parser: its names and ``add_argument``'s keywords."""
    return names, options


class _Help(argparse.HelpFormatter):
    """A subcommand's help: each option's line ends with its default, where it has one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        default = action.default
        if default is None or default is False or default in ("", argparse.SUPPRESS):
            return action.help
        return f"{action.help}; default {default}"


_BASEMAPS = ["none", "positron", "osm", "amap"]
_ADJUST = ["none", "bonferroni", "fdr"]
_RANKINGS = ["industrial_counties", "innovation_counties", "industrial_districts"]
_USER = "@where"  # the flags of a user's data (:data:`_GROUPS`)

#: Every option of every subcommand, once: a command lists the keys it takes (or a group
#: of :data:`_GROUPS`) and may give its own defaults (:data:`_SUBCOMMANDS`).
_OPTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "json": _flag("--json", action="store_true", help="machine-readable output (JSON)"),
    "out": _flag("--out", type=_path,
                 help="where the results go: a folder (map: the page; run: outputs unless given)"),
    "table": _flag("file", type=_path, help="the table: CSV (UTF-8 or GBK) or .xlsx"),
    "report-out": _flag("--out", default="match_report.csv", help="the match report (CSV)"),
    "ranking": _flag("--ranking", default="industrial_counties", choices=_RANKINGS,
                     help="the report's ranking to analyse"),
    "variable": _flag("--variable", default="score",
                      help="member, score (101 - rank) or tier_strength (5 - tier)"),
    "data": _flag("--data", type=_path, help="your own data instead of the report's: a table "
                  "(CSV in UTF-8/GBK, .xlsx) or a geometry file holding the values"),
    "value-col": _flag("--value-col", help="value column(s) of --data, comma-separated "
                       "(default: the only numeric one)"),
    "score": _flag("--score", dest="value_col",
                   help="score column of --data (default: the only numeric one)"),
    "year-col": _flag("--year-col", help="year column (a panel in long form)"),
    **{f"{c}-col": _flag(f"--{c}-col", help=f"column holding the {c}")
       for c in ("name", "province", "prefecture", "code")},
    "encoding": _flag("--encoding", help="force the CSV encoding (e.g. gb18030)"),
    "sheet": _flag("--sheet", help="Excel sheet name or number"),
    "level": _flag("--level", default="auto", choices=["auto", "county", "prefecture", "province"],
                   help="level of the units of --data; auto: detected from codes and names"),
    "geometry": _flag("--geometry", type=_path, help="your own polygons (GeoPackage, Shapefile "
                      "or .zip, GeoJSON, GeoParquet)"),
    "id-col": _flag("--id-col", help="id column of --geometry and --data: unit codes or names"),
    "datum": _flag("--datum", choices=["wgs84", "gcj02", "bd09"],
                   help="datum of --geometry: gcj02 for AMap-derived, bd09 for Baidu-derived"),
    "layer": _flag("--layer", help="layer of a GeoPackage with several"),
    "crs": _flag("--crs", help="CRS of --geometry when its own is missing or wrong (EPSG:4326)"),
    "geometry-encoding": _flag("--geometry-encoding", help="encoding of --geometry's attributes "
                               "(a .dbf's, e.g. gbk; default: its .cpg, else detected)"),
    "max-unmatched": _flag("--max-unmatched", type=float, default=0.0,
                           help="share of rows allowed to stay unmatched or ambiguous"),
    "weights": _flag("--weights", help="weights spec: queen, rook, knn:6, distance:100km"),
    "islands": _flag("--islands", default="nearest", metavar="RULE",
                     help="units without neighbours: nearest (within 3x the median nearest "
                     "distance), max:100km, nearest:unbounded, drop or keep"),
    "sided": _flag("--sided", default="two", choices=["two", "folded"], help="local p-values: "
                   "two-sided (alpha holds under the null) or folded (GeoDa's one-sided)"),
    "permutations": _flag("--permutations", type=int, help="permutations of the pseudo p-values"),
    "seed": _flag("--seed", type=int, help="random seed of the permutations"),
    "alpha": _flag("--alpha", type=float, default=0.05, help="significance level"),
    "adjust": _flag("--adjust", choices=_ADJUST, help="multiple-comparison rule of the LISA "
                    "classes and Gi*: none (each unit at alpha), bonferroni or fdr"),
    "fdr": _flag("--fdr", action="store_true", help="same as --adjust fdr"),
    "other-ranking": _flag("--bivariate", dest="other_ranking", metavar="BIVARIATE",
                           help="another ranking: bivariate Moran of --variable with its score"),
    "sensitivity": _flag("--sensitivity", action="store_true", help="global statistics under "
                         "queen, rook, knn:6 and a distance band (the report's or the data's)"),
    "method": _flag("--method", default="report", choices=["report", "ward", "jenks", "quantiles"],
                    help="the report's cut points, or how to class the scores"),
    "tier-k": _flag("-k", dest="classes", metavar="K", type=int, default=4,
                    help="number of tiers for ward/jenks"),
    "set": _flag("--set", dest="cluster_set", metavar="SET", default="report2020",
                 help="cluster definitions: report2020, plans, or a YAML/CSV file of them"),
    "kind": _flag("kind", nargs="?", default="rankings",
                  choices=["rankings", "lisa", "tiers", "clusters"], help="the report's map"),
    "cdn": _flag("--cdn", action="store_true",
                 help="load Leaflet from its CDN (smaller, blank offline), not self-contained"),
    "offline": _flag("--offline", action="store_true", help=argparse.SUPPRESS),  # the default
    "basemap": _flag("--basemap", default="none", choices=_BASEMAPS, help="tiles under the map"),
    "scheme": _flag("--scheme", default="quantiles",
                    choices=["quantiles", "fisherjenks", "equalinterval"], help="value classes"),
    "map-k": _flag("-k", dest="classes", metavar="K", type=int,
                   help="number of value classes (5, fewer if the data have fewer)"),
    "title": _flag("--title", help="the title of the map or study"),
    "study-file": _flag("file", nargs="?", type=_path, help="a study file (.toml), or your data "
                        "(a table or a geometry file) as with --data"),
    "label": _flag("--label", dest="labels", action="append", metavar="COL=TEXT",
                   help="a readable label of a column for titles and legends (repeatable)"),
    "lang": _flag("--lang", choices=["zh", "en"], help="language of titles, legends and "
                  "figures (default: zh for China, en elsewhere)"),
    "tiers": _flag("--tiers", choices=["ward", "jenks", "quantiles"],
                   help="how a variable's values are classed into tiers (default ward)"),
    "k": _flag("-k", type=int, help="number of tiers (default 4)"),
    "quiet": _flag("--quiet", dest="quiet_run", action="store_true", help="no progress"),
    "all-numeric": _flag("--all-numeric", action="store_true",
                         help="analyse every numeric column of --data"),
    "pairs": _flag("--bivariate", action="append", metavar="A:B",
                   help="bivariate Moran's I and LISA of two value columns (repeatable)"),
    "transform": _flag("--transform", choices=["log", "log1p", "standardise"],
                       help="transform every variable (after --per), per year"),
    "per": _flag("--per", help="population column: variables become rates"),
    "smooth": _flag("--smooth", choices=["eb", "spatial_eb"], help="empirical-Bayes smoothing "
                    "of the --per rates, for counts of events (cases, births) only"),
    "scale": _flag("--scale", type=float, default=1.0, help="multiplier of rates (e.g. 10000)"),
    "figures": _flag("--figures", default="",
                     help="static figures for print, e.g. png,svg,pdf (about 4 s a figure)"),
    "dpi": _flag("--dpi", type=int, help="resolution of the PNG figures"),
    "batch": _flag("file", type=_path, help="CSV or .xlsx: a unit column, value columns"),
    "variables": _flag("--variables", help="value columns, comma-separated (default: numeric)"),
    "years": _flag("--years", help="years, comma-separated (default: every year)"),
    "statistics": _flag("--statistics", default="moran,lisa", help="comma-separated: moran, "
                        "geary, getis_ord_g (global), lisa, gi_star (local)"),
    "layer-of": _flag("--level", default="county", choices=["county", "prefecture", "province"],
                      help="bundled layer the units belong to"),
    "islands-rule": _flag("--islands", default="nearest", choices=["nearest", "drop", "keep"],
                          help="units without neighbours"),
    "workers": _flag("--workers", type=int, help="local dask workers (default: one per CPU, at "
                     "most 2 per CPU); 0 runs serially"),
    "scheduler": _flag("--scheduler", help="a running dask scheduler: tcp://host:8786 (tls://, "
                       "ws://, wss://) or its --scheduler-file"),
    "connect-timeout": _flag("--connect-timeout", type=float, default=10.0, metavar="SECONDS",
                             help="seconds the --scheduler has to answer"),
    "max-tasks": _flag("--max-tasks", type=int, default=50_000,
                       help="refuse a batch of more tasks (variables x years x weights x ...)"),
    "max-output-gb": _flag("--max-output-gb", type=float, default=2.0,
                           help="refuse a batch whose estimated output is larger"),
}  # fmt: skip

#: Flags that several subcommands take together.
_GROUPS = {
    _USER: "year-col name-col province-col prefecture-col code-col encoding sheet level "
    "geometry id-col datum layer crs geometry-encoding max-unmatched",
    "@perm": "permutations seed",
}

#: Every subcommand: its name, help, flags (:data:`_OPTIONS`) and its own defaults.
_SUBCOMMANDS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("check-report", "recompute the report's figures from the data", "json", {}),
    ("boundaries info", "describe the bundled boundaries", "json", {}),
    ("match", "resolve a table's names to adcodes", "table report-out encoding sheet name-col "
     "province-col prefecture-col code-col max-unmatched", {}),
    ("autocorr", "global and local spatial autocorrelation", f"ranking variable data value-col "
     f"{_USER} weights islands sided @perm alpha adjust fdr other-ranking sensitivity json out",
     {"weights": "queen", "out": "outputs_autocorr"}),
    ("tiers", "tier composition, geography, diffusion and gradient",
     f"ranking data score {_USER} method tier-k @perm json out",
     {"out": "outputs_tiers", "flags": {"value_col": "--score"}}),
    ("clusters", "city-cluster membership, counts, belts, radiation", "set ranking @perm json",
     {}),
    ("map", "write one interactive map as standalone HTML", f"kind out cdn offline basemap set "
     f"weights @perm data value-col {_USER} scheme map-k title",
     {"out": "outputs/maps/map.html"}),
    ("run", "a whole study (default: the bundled 2020 report): writes outputs/",
     f"study-file out @perm title label lang tiers k cdn offline basemap quiet data value-col "
     f"{_USER} all-numeric pairs transform per smooth scale weights set adjust islands sided "
     "figures dpi",  # a study file's own options stay unless given
     dict.fromkeys(("permutations", "seed", "basemap", "cluster_set", "islands", "sided"))),
    ("batch", "many analyses (variables x years x weights x statistics), on dask",
     "batch id-col year-col variables years weights statistics layer-of @perm alpha "
     "islands-rule workers scheduler connect-timeout max-tasks max-output-gb encoding sheet out",
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
    top.add_argument(
        "--debug", action="store_true", help="show the traceback of an unexpected error"
    )
    top.set_defaults(flags={})
    sub = top.add_subparsers(dest="command", required=True)
    for name, text, keys, own in _SUBCOMMANDS:
        command, _, action = name.partition(" ")
        p = sub.add_parser(command, help=text, formatter_class=_Help)
        if action:  # boundaries info
            actions = p.add_subparsers(dest="action", required=True)
            p = actions.add_parser(action, help="counts, vintage, datum, islands",
                                   formatter_class=_Help)  # fmt: skip
        defaults = {"permutations": settings.permutations, "seed": settings.seed} | own
        for key in " ".join(_GROUPS.get(k, k) for k in keys.split()).split():
            names, options = _OPTIONS[key]
            dest = options.get("dest", names[0].lstrip("-").replace("-", "_"))
            if dest in defaults:
                options = options | {"default": defaults[dest]}
            p.add_argument(*names, **options)
        if "flags" in own:  # flags named otherwise in this command's messages
            p.set_defaults(flags=own["flags"])
    return top


#: Library parameters as the CLI spells them: errors name parameters, users see flags.
_FLAGS = {
    name: "--" + name.replace("_", "-")
    for name in (  # noqa: SIM905
        "value_col name_col province_col prefecture_col code_col year_col max_unmatched level "
        "geometry id_col datum layer crs geometry_encoding all_numeric transform per smooth "
        "scale bivariate permutations seed alpha islands sided encoding sheet basemap cdn "
        "offline scheme out variable adjust fdr workers scheduler connect_timeout variables "
        "years weights statistics max_tasks max_output_gb figures dpi title lang tiers"
    ).split()
} | {
    "k": "-k",
    "report_path": "the match report (named after --out)",
    "labels": "--label",
    "value_cols": "--value-col",
}

#: Library spellings with no flag of their own, and what the CLI says instead.
_SPELLINGS = {
    "log1p=True": "--transform log1p",
    "smooth=None": "no --smooth",
    "transform=None": "no --transform",
    "per=None": "no --per",
    "adjust=None": "no --adjust",
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



_COMMANDS = {
    "check-report": _cmd_check_report, "boundaries": _cmd_boundaries_info, "match": _cmd_match,
    "autocorr": _cmd_autocorr, "tiers": _cmd_tiers, "clusters": _cmd_clusters, "map": _cmd_map,
    "run": _cmd_run, "batch": _cmd_batch,
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
        print(f"geotool: error: {_as_flags(str(exc), args.flags)}", file=sys.stderr)
        return EXIT_INPUT if isinstance(exc, InputError) else EXIT_FAILED
    except KeyboardInterrupt:
        print("geotool: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return EXIT_OK
    except MemoryError:
        msg = "out of memory; use fewer --permutations or a smaller table."
        print(f"geotool: error: {msg}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as exc:  # a disk or permission problem outside a run's own handling
        where = f" ({short(exc.filename)})" if exc.filename else ""
        print(f"geotool: error: {exc.strerror or exc}{where}; check the path.", file=sys.stderr)
        return EXIT_INPUT
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"geotool: internal error: {type(exc).__name__}: {short(str(exc), 200)}. This is "
            "a bug in geotool: please report it with the command you ran (add --debug for "
            "the traceback).",
            file=sys.stderr,
        )
        return EXIT_FAILED


def entry() -> None:
    """The ``geotool`` console command: :func:`main`, then a prompt exit.

    A finished run holds many objects whose teardown takes about 0.4 s; like mypy's
    ``hard_exit``, the command flushes its output and leaves with ``os._exit`` (every
    file is written atomically and closed by then). ``main()`` itself returns normally.
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
