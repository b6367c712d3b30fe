"""The ``geotool`` command: each builds one Study from its flags, runs it, formats the result.

A study field's option is the field's own (:func:`_study_option`). Exit status: 0 success,
1 a check failed, 2 bad input (one line naming the flag and the fix).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import logging
import os
import re
import sys
from functools import cache, partial
from pathlib import Path
from typing import Any

from geotool._errors import GeotoolError, InputError
from geotool._log import console, printable
from geotool._text import short
from geotool.study import Study

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2


def _say(*lines: str) -> None:
    """Lines for the person at the terminal: stderr, stdout is the command's output."""
    for line in lines:
        print(line, file=sys.stderr)


def _pandas(**display: Any) -> Any:
    """The display options of pandas (``width=200`` ...) for the tables printed."""
    import pandas as pd

    return pd.option_context(*(x for k, v in display.items() for x in (f"display.{k}", v)))


def _dump(payload: Any) -> int:
    """``payload`` as JSON on stdout: a frame as a list of records, anything else as text."""
    print(json.dumps(payload, ensure_ascii=False, indent=1, default=lambda v: json.loads(
        v.to_json(orient="records", force_ascii=False)) if hasattr(v, "to_json") else str(v)))
    return EXIT_OK


def _report() -> Any:
    """:mod:`geotool.report.study`, imported when a command runs (``--help`` stays quick)."""
    from geotool.report import study

    return study


def _study(args: argparse.Namespace, **fields: Any) -> Study:
    """The one :class:`geotool.study.Study` a command's flags describe; ``fields`` win."""
    given = {f.name: v for f in dataclasses.fields(Study)
             if (v := getattr(args, f.name, None)) is not None and v is not False and v != ""}
    file = getattr(args, "file", None)
    toml = file if args.command == "run" and file and file.suffix.lower() == ".toml" else None
    given["data"] = given.get("data") or (None if toml else file)
    return _report().study_of(given | fields, study_file=toml)


def _output_file(args: argparse.Namespace, owner: str, inputs: list[Any]) -> tuple[Path, Any]:
    """``--out`` checked, and held by this command until it ends (one writer at a time)."""
    from geotool import _validate as check
    from geotool._outdir import OutputFile

    out = check.output_file(args.out, inputs=inputs)
    return out, args.hold(OutputFile(out, owner=owner))


def _cmd_check_report(args: argparse.Namespace) -> int:
    table = _report().run(_study(args, out=None), check_only=True)["check_report"]["table"]
    failed = int((table["status"] == "mismatch").sum())
    if args.json:
        _dump({"ok": failed == 0, "figures": table})
    else:
        with _pandas(max_rows=None, width=200, max_colwidth=70):
            print(table[["figure", "key", "stated", "computed", "status", "note"]].to_string(
                index=False))  # fmt: skip
        counts = table["status"].value_counts().items()
        print(f"\n{len(table)} figures: " + ", ".join(f"{v} {k}" for k, v in counts))
    return EXIT_FAILED if failed else EXIT_OK


def _cmd_boundaries(args: argparse.Namespace) -> int:
    from geotool.boundaries import info

    d = info()
    if args.json:
        return _dump(d)
    fixes = ", ".join(f"{k} -> {v}" for k, v in d["code_corrections"].items())
    print("\n".join([
        f"source      {d['source']} ({d['upstream']}), vintage {d['vintage']}",
        f"datum       {d['datum']}",
        *([f"codes       official instead of the source's: {fixes}"] if fixes else []),
        "units       " + ", ".join(f"{k} {v}" for k, v in d["counts"].items()),
        "unit types  " + ", ".join(f"{k} {v}" for k, v in d["unit_types"].items()),
        f"simplified  coverage, {d['simplify_tolerance_m']:g} m; neighbour sets "
        + ", ".join(f"{k}={v}" for k, v in d["neighbour_check"].items()),
        f"components  {d['components']} (sizes {d['component_sizes']})",
        f"islands     {len(d['islands'])}: " + ", ".join(d["islands"]),
        "files       " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in d["file_bytes"].items()),
    ]))  # fmt: skip
    return EXIT_OK


def _cmd_match(args: argparse.Namespace) -> int:
    out, target = _output_file(args, "geotool match", [args.file])
    _report().command(_study(args, out=None), "match", out=out, target=target, say=_say)
    return EXIT_OK


def _cmd_autocorr(args: argparse.Namespace) -> int:
    from geotool import autocorr, pipeline

    study = _study(args, adjust=autocorr.adjustment(args.adjust, fdr=args.fdr))
    r = _report().command(study, "autocorr", "geotool autocorr", ranking=args.ranking,
                 variable=args.variable, bivariate=args.other_ranking,
                 sensitivity=args.sensitivity)  # fmt: skip
    if args.sensitivity:
        cols = ["weights", "statistic", "value", "expected", "z_norm", "p_norm", "p_sim"]
        with _pandas(max_rows=None, width=200, max_colwidth=70):
            print(r["sensitivity"].to_json(orient="records", force_ascii=False, indent=1)
                  if args.json else r["sensitivity"].round(4)[cols].to_string(index=False))
        return EXIT_OK
    if not args.json:
        print("\n".join(pipeline.autocorr_lines(r, study, args.other_ranking)))
        return EXIT_OK
    keys = ("global", "join_counts", "lisa_counts", "local_geary_counts", "weights", "alpha",
            "adjust", "p_sided", "lisa_rule", "adjust_note", "fdr", "local_table")
    joins = {case: frame[frame["significant"]][["name", "ljc", "p_sim"]].reset_index()
             for case, frame in r["joins"].items()}  # fmt: skip
    return _dump({k: r[k] for k in keys} | {"local_join_counts": joins})


def _cmd_tiers(args: argparse.Namespace) -> int:
    from geotool import pipeline

    study = _study(args, out=args.out if args.data is not None else None)
    r = _report().command(study, "tiers", "geotool tiers", ranking=args.ranking, method=args.method,
                 k=args.classes)  # fmt: skip
    result = r["tiers"]
    if args.json:
        payload = {k: v for k, v in result.items() if k != "shapes"}
        if "mobility" in result:
            payload["mobility"] = {k: v.to_dict() for k, v in result["mobility"].items()}
        return _dump(payload)
    _sections(*pipeline.tiers_sections(r, args.classes), max_columns=30)
    print("\n" + result["verdict"])
    return EXIT_OK


def _sections(head: str, sections: list[tuple[str, Any]], **display: Any) -> None:
    """A headline, then each titled table (composition and mobility with their index)."""
    with _pandas(width=200, float_format="{:.3f}".format, **display):
        print(head)
        for title, frame in sections:
            if frame is not None:
                index = title.startswith(("composition", "mobility"))
                print(f"\n{title}\n" + frame.to_string(index=index))


def _cmd_clusters(args: argparse.Namespace) -> int:
    r = _report().command(_study(args, out=None), "clusters", ranking=args.ranking)
    if not args.json:
        _sections(*_report().clusters_sections(r, args.ranking), max_colwidth=80)
        return EXIT_OK
    keys = ("set", "geometry_check", "counts", "changes", "belts", "radiation", "overlaps")
    return _dump({("changes_vs_" + r["other"] if k == "changes" else k): r[k] for k in keys})


def _cmd_map(args: argparse.Namespace) -> int:
    out, _ = _output_file(args, "geotool map", [args.data] if args.data else [])
    study = _study(args, out=None)
    r = _report().command(study, "map", kind=args.kind, out=out, scheme=args.scheme, k=args.classes,
                 offline=args.offline)  # fmt: skip
    how = "Leaflet from the CDN" if study.cdn else "self-contained"
    _say(f"wrote {out} ({r['bytes'] / 1e6:.2f} MB, {how})")
    return EXIT_OK


def _cmd_run(args: argparse.Namespace, owner: str = "geotool run") -> int:
    """``geotool run`` (and ``geotool index``, a run whose variable is a composite index)."""
    if args.file is not None and getattr(args, "data", None) is not None:
        msg = f"Pass the data as FILE or as --data, not both (got {args.file} and {args.data})."
        raise InputError(msg)
    study = _study(args)
    assert study.out is not None  # a run writes a folder
    summary, lines = _report().run_study(study, owner)
    where = "" if study.raster else f" (open {study.out / 'index.html'})"
    _say(f"wrote {len(summary['files'])} files to {study.out}{where}", *lines)
    return EXIT_OK if summary.get("check_report", {}).get("ok", True) else EXIT_FAILED


_cmd_index = partial(_cmd_run, owner="geotool index")


def _cmd_regress(args: argparse.Namespace) -> int:
    from geotool import pipeline, regress_stage

    if not args.model:
        raise InputError("--model is required: e.g. --model 'y ~ x1 + log(x2)'.")
    study = _study(args)
    assert study.out is not None  # a run writes a folder
    stages = (*(s for s in pipeline.STAGES if s.name == "regression"),
              pipeline.Stage("index", regress_stage.regression_index))  # fmt: skip
    found = pipeline.run(study, stages=stages, owner="geotool regress", index=False)["regression"]
    print((study.out / "regression.md").read_text(encoding="utf-8"))
    _say(f"wrote index.html, regression.md, .html, .tex, tables/regression_*.csv, figures/ "
         f"and maps/ to {study.out}",
         f"regression: {found['finding']}",
         *(f"  note: {_as_flags(n, args.flags)}" for n in found["notes"]))  # fmt: skip
    return EXIT_OK


def _cmd_batch(args: argparse.Namespace) -> int:
    from geotool import pipeline

    names = ("variables", "years", "weights", "statistics")
    r = _report().command(
        _study(args, out=None, weights=None), "batch",
        level=args.level, out=args.out, **{n: getattr(args, n) for n in names},
        cluster={n: getattr(args, n) for n in ("workers", "scheduler", "connect_timeout")},
        limits={"max_tasks": args.max_tasks, "max_output_gb": args.max_output_gb},
    )  # fmt: skip
    _say(*pipeline.batch_lines(r, args.out))
    return EXIT_FAILED if (r["result"]["status"] == "failed").any() else EXIT_OK


def _path(text: str) -> Path:
    """A path option: refused when empty (``Path("")`` would be the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path names nothing; give a file or folder")
    return Path(text)


def _flag(*names: str, key: str = "", **options: Any) -> tuple[str, tuple[str, ...], dict]:
    """One option: its key in the commands' lists (default: its name), names and keywords."""
    return key or names[0].lstrip("-"), names, options


_RANKINGS = ["industrial_counties", "innovation_counties", "industrial_districts"]

#: The commands' own options (a study field's is the field's: :func:`_study_option`), by key.
_OPTIONS = {key: (names, options) for key, names, options in (
    _flag("--json", action="store_true", help="machine-readable output (JSON)"),
    _flag("--out", key="report", default="match_report.csv", help="the match report (CSV)"),
    _flag("file", key="table", type=_path, help="the table: CSV (UTF-8 or GBK) or .xlsx"),
    _flag("file", key="study", nargs="?", type=_path, help="a study file (.toml), or your --data"),
    _flag("file", key="batch", type=_path, help="CSV or .xlsx: a unit column, value columns"),
    _flag("file", key="data-file", type=_path, help="your table or geometry file"),
    _flag("--ranking", default=_RANKINGS[0], choices=_RANKINGS, help="the report's ranking"),
    _flag("--variable", default="score",
          help="member, score (101 - rank) or tier_strength (5 - tier): high means strong"),
    _flag("--level", key="layer-of", default="county",
          choices=["county", "prefecture", "province"], help="the units' layer"),
    _flag("--islands", key="rule", default="nearest", choices=["nearest", "drop", "keep"],
          help="units without neighbours"),
    _flag("--fdr", action="store_true", help="same as --adjust fdr"),
    _flag("--bivariate", key="other-ranking", dest="other_ranking", metavar="BIVARIATE",
          help="another ranking: bivariate Moran of --variable with its score"),
    _flag("--sensitivity", action="store_true", help="global statistics under queen, rook, "
          "knn:6 and a distance band (the report's or the data's)"),
    _flag("--method", key="tier-method", default="report", help="the report's cut points, or "
          "how to class the scores", choices=["report", "ward", "jenks", "quantiles"]),
    _flag("-k", key="tier-k", dest="classes", metavar="K", type=int, default=4, help="tier count"),
    _flag("-k", key="map-k", dest="classes", metavar="K", type=int, help="classes; default 5"),
    _flag("kind", key="map-kind", nargs="?", default="rankings",
          choices=["rankings", "lisa", "tiers", "clusters"], help="which of the report's maps"),
    _flag("--offline", action="store_true", help=argparse.SUPPRESS),
    _flag("--scheme", default="quantiles", choices=["quantiles", "fisherjenks", "equalinterval"],
          help="how values are classed"),
    _flag("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress"),
    _flag("--verbose", action="store_true", default=argparse.SUPPRESS,
          help="details too: every unit without neighbours, each file written"),
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
    "@run": "out @perm title label lang quiet verbose @user weights islands sided alpha groups "
    "figures dpi",
}

#: Every subcommand: its name, help, options (keys of :data:`_OPTIONS`, or a study field's
#: option) and own defaults (``flags``: study fields this command names otherwise).
_SUBCOMMANDS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("check-report", "recompute the report's figures from the data", "json", {}),
    ("boundaries info", "describe the bundled boundaries", "json", {}),
    ("match", "resolve a table's names to adcodes", "table report encoding sheet name-col "
     "province-col prefecture-col code-col max-unmatched", {}),
    ("autocorr", "global and local spatial autocorrelation", "ranking variable data value-col "
     "@user weights islands sided @perm alpha adjust fdr other-ranking sensitivity json out",
     {"weights": "queen", "out": "outputs_autocorr", "flags": {"data": "--data"}}),
    ("tiers", "tier composition, geography, diffusion and gradient", "ranking data value-col "
     "@user tier-method tier-k @perm json out", {"out": "outputs_tiers", "flags": {
         "value_cols": "--score", "value_col": "--score", "method": "--method"}}),
    ("clusters", "city-cluster membership, counts, belts, radiation", "set ranking @perm json", {}),
    ("map", "write one interactive map as standalone HTML", "map-kind out cdn offline basemap set "
     "weights @perm data value-col @user scheme map-k title", {"out": "outputs/maps/map.html"}),
    ("run", "a whole study (default: the bundled 2020 report): writes outputs/", "study @run "
     "tiers k cdn offline basemap data value-col all-numeric bivariate transform per smooth "
     "scale set adjust classes @index index-method raster model kind method regimes robust", {}),
    ("index", "a composite index of indicators, ranked, tiered, tested and mapped", "data-file "
     "index-method @index @run tiers k cdn basemap",
     {"out": "outputs_index", "flags": {"index_method": "--method"}}),
    ("regress", "a spatial regression: OLS with GeoDa's diagnostics, lag/error, SLX, Durbin, "
     "GWR", "data-file model kind method regimes robust @run", {"out": "outputs_regress"}),
    ("batch", "many analyses (variables x years x weights x statistics), on dask",
     "batch id-col year-col variables years weights statistics layer-of @perm alpha "
     "rule workers scheduler connect-timeout max-tasks max-output-gb encoding sheet out",
     {"id_col": "adcode", "weights": "queen", "out": "outputs/batch"}),
]  # fmt: skip


@cache
def _fields() -> dict[str, dataclasses.Field]:
    """The study fields that have an option, by its name (``value-col``, ``set``, ``k``)."""
    return {f.metadata.get("flag") or f.name.replace("_", "-"): f
            for f in dataclasses.fields(Study) if f.metadata.get("help")}  # fmt: skip


def _study_option(key: str, own: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """A study field's option: its spelling, type, choices and help (and default) as the field's."""
    f, spelt = _fields()[key], _flags() | {"data": "--data"} | own.get("flags", {})
    meta, kind, flag = f.metadata, str(f.type), spelt[f.name]
    shown = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    hidden = f.name in own or shown is None or shown is False or shown in ((), {})
    help_ = meta["help"].format_map(spelt) + ("" if hidden else f"; default {shown}")
    options: dict[str, Any] = {"dest": f.name, "default": own.get(f.name), "help": help_}
    if kind == "bool":
        return [flag], options | {"action": "store_true"}
    if meta["many"]:
        options["action"] = "append"
    elif kind in ("int", "float"):
        options["type"] = int if kind == "int" else float
    elif "Path" in kind:
        options["type"] = _path
    if meta["choices"]:
        return [flag], options | {"choices": meta["choices"]}
    metavar = meta["metavar"] or flag.strip("-").replace("-", "_").upper()
    return [flag], options | {"metavar": metavar}


def _parser() -> argparse.ArgumentParser:
    """The ``geotool`` command line: ``command`` names the subcommand."""
    top = argparse.ArgumentParser(prog="geotool", description="Spatial analysis of China's "
                                  "top-100 industrial counties and districts.")  # fmt: skip
    top.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    top.add_argument("-v", "--verbose", action="store_true",
                     help="details too (each unit without neighbours, ...)")
    top.add_argument("--debug", action="store_true", help="show the traceback of a crash")
    top.set_defaults(flags={})
    sub = top.add_subparsers(dest="command", required=True)
    for name, text, listed, own in _SUBCOMMANDS:
        command, _, action = name.partition(" ")
        p = sub.add_parser(command, help=text)
        if action:  # boundaries info
            p = p.add_subparsers(dest="action", required=True).add_parser(
                action, help="counts, vintage, datum, islands")
        keys = listed
        while "@" in keys:  # groups, in groups
            keys = " ".join(_GROUPS.get(k, k) for k in keys.split())
        for key in keys.split():
            names, options = _OPTIONS[key] if key in _OPTIONS else _study_option(key, own)
            if options.get("default") not in (None, False, argparse.SUPPRESS):  # each default
                options = options | {"help": f"{options['help']}; default {options['default']}"}
            if key == "sided":  # --sided two: two-sided
                options["type"] = lambda text: "two-sided" if text == "two" else text
            p.add_argument(*names, **options)
        p.set_defaults(flags=own.get("flags", {}))  # flags this command names otherwise
    return top


@cache
def _flags() -> dict[str, str]:
    """Library parameters as the CLI spells them (errors name parameters, users see flags).

    Every study field's option but ``--data``; the commands' own options but four.
    """
    own = {names[0].lstrip("-").replace("-", "_"): names[0] for names, options in _OPTIONS.values()
           if names[0].startswith("-") and "dest" not in options
           and names[0] not in ("--json", "--ranking", "--sensitivity", "--method")}  # fmt: skip
    fields = {f.name: ("-" if len(key) == 1 else "--") + key
              for key, f in _fields().items() if f.name != "data"}  # fmt: skip
    extra = {"value_col": "--value-col", "report_path": "the match report (named after --out)"}
    return own | fields | extra


#: Library spellings with no flag of their own, and what the CLI says instead.
_SPELLINGS = {"log1p=True": "--transform log1p"} | {f"{name}=None": f"no --{name}" for name in (
    "smooth", "transform", "per", "adjust")}  # fmt: skip
_SPELLING = re.compile(r"\b(?:" + "|".join(re.escape(k) for k in _SPELLINGS) + r")(?![\w'])")
#: A quoted value in a message (the user's text, as ``repr`` shows it): never rewritten.
_QUOTED = re.compile(r"""(?<!\w)'[^'\n]*'(?!\w)|(?<!\w)"[^"\n]*"(?!\w)""")


def _as_flags(
    message: str, overrides: dict[str, str] | None = None, *, error: bool = False
) -> str:
    """A library message with ``value_col=`` and the like spelled as the CLI's flags.

    Quoted text is the user's and stays; an ``error`` starting ``model:`` starts with its
    flag (a log line ``tiers: ...`` names a stage).
    """
    flags = {**_flags(), **(overrides or {})}
    quoted = [(q.start(), q.end()) for q in _QUOTED.finditer(message)]
    # a parameter, and a plain quoted word after it: level='prefecture' -> --level prefecture
    param = re.compile(
        r"(?<![\w.])(" + "|".join(flags) + r")=(?:'([\w.:-]+)'(?=[\s).;,]|$)|(True)\b)?"
    )  # all_numeric=True -> --all-numeric (a switch takes no value)

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
    head, colon, rest = param.sub(spelt, message).rstrip().partition(":")
    return (flags[head] if error and colon and head in flags else head) + colon + rest


def _check_out_folder(out: Path | str | None) -> None:
    """Refuse an output folder that is the shell's working folder or holds it.

    A run publishes by renaming its folder aside: the shell that started the command would
    be left in a deleted folder (Python callers' own working folder moves along instead).
    """
    if out is None or not str(out).strip():
        return
    target = Path(os.path.abspath(os.path.expanduser(out))).resolve()
    here = Path.cwd().resolve()
    if here == target or target in here.parents:
        raise InputError(
            f"out={out} is the current folder or holds it: publishing replaces that folder, "
            "leaving the shell in a deleted one; run from elsewhere or choose a folder of its "
            "own for out= (e.g. out=results)"
        )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``geotool`` console command."""
    args = _parser().parse_args(argv)
    spelt = partial(_as_flags, overrides=args.flags)  # warnings name flags, as errors do
    console(quiet=args.quiet, verbose=args.verbose, respell=spelt)
    alone = getattr(args, "data", None) is None and getattr(args, "file", None) is None
    if alone and getattr(args, "geometry", None) is not None:  # its attributes are the data
        args.data, args.geometry = args.geometry, None
    try:
        _check_out_folder(getattr(args, "out", None))
        with contextlib.ExitStack() as stack:  # output folders and files, held to the end
            args.hold = stack.enter_context
            return globals()["_cmd_" + args.command.replace("-", "_")](args)
    except GeotoolError as exc:
        _say(f"geotool: error: {_as_flags(str(exc), args.flags, error=True)}")
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


class _Shown:
    """A text stream that writes terminal controls as escapes (:func:`printable`)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(printable(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


#: The ``geotool`` command's collector thresholds: young objects collected after 50,000
#: allocations, not Python's 700; a run spent about 5 % of its CPU on collections that
#: found little (benchmarks/README.md, "Issue 27, fourth pass").
GC_THRESHOLDS = (50_000, 20, 50)


def entry() -> None:
    """The ``geotool`` console command: :func:`main`, then a prompt exit.

    What it prints shows a name's control characters (read from a user's file) as escapes.
    A run's teardown takes about 0.4 s: like mypy's ``hard_exit``, the command flushes its
    output and leaves with ``os._exit`` (every file is written and closed by then). The
    collector runs at :data:`GC_THRESHOLDS` in the command's processes (and the renderers
    they fork), not in a program that imports geotool.
    """
    gc.set_threshold(*GC_THRESHOLDS)
    sys.stdout, sys.stderr = _Shown(sys.stdout), _Shown(sys.stderr)
    code = main()
    logging.shutdown()
    with contextlib.suppress(BrokenPipeError, ValueError):  # a closed pipe (`geotool | head`)
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
