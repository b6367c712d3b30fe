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
import sys
from functools import partial
from pathlib import Path
from typing import Any

from geotool._errors import GeotoolError, InputError
from geotool._flags import as_flags as _as_flags
from geotool._flags import parser
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
    """Run one command stage of :mod:`geotool.pipeline` on the study; its summary."""
    from geotool import pipeline

    step = pipeline.Stage(stage, partial(getattr(pipeline, f"{stage}_command"), **options))
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
                 k=args.classes, say=partial(print, file=sys.stderr))  # fmt: skip
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
    args = parser().parse_args(argv)
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
