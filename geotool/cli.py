"""The ``geotool`` command: a thin shell over the library.

Parsing, progress, messages and exit codes live here; the library returns data.
Exit status: 0 success, 1 a check failed (``check-report`` mismatch), 2 bad input
(one line on stderr naming the problem and the fix, no traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
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


def _cmd_check_report(args: argparse.Namespace) -> int:
    from geotool.report.check import check_report

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


def _path(text: str) -> Path:
    """A path option: refused when empty (``Path("")`` would be the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path names nothing; give a file or folder")
    return Path(text)


def _cmd_boundaries_info(args: argparse.Namespace) -> int:
    from geotool.boundaries import info

    data = info()
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=1))
        return EXIT_OK
    print(f"source      {data['source']} ({data['upstream']}), vintage {data['vintage']}")
    print(f"datum       {data['datum']}")
    if data["code_corrections"]:
        print(
            "codes       official instead of the source's: "
            + ", ".join(f"{k} -> {v}" for k, v in data["code_corrections"].items())
        )
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
    from geotool import _validate as check
    from geotool._csv import to_csv_bytes
    from geotool._outdir import OutputFile
    from geotool.io import read_table
    from geotool.match import require_unique, resolve

    out = check.output_file(args.out, inputs=[args.file])
    max_unmatched = check.share(args.max_unmatched, "max_unmatched")
    target = args.hold(OutputFile(out, owner="geotool match"))  # one writer at a time
    table = read_table(args.file, encoding=args.encoding, sheet=args.sheet)
    resolved = resolve(
        table,
        name_col=args.name_col,
        province_col=args.province_col,
        prefecture_col=args.prefecture_col,
        code_col=args.code_col,
    )
    target.write(to_csv_bytes(resolved, index_label="line"))  # lines of the file
    counts = resolved["match_status"].value_counts().to_dict()
    print(
        f"{len(resolved)} rows: "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + f"; report written to {out}",
        file=sys.stderr,
    )
    bad = resolved[resolved["match_status"] != "matched"]
    share = len(bad) / len(resolved)
    if share > max_unmatched:
        first = bad.iloc[0]
        msg = (
            f"{len(bad)} of {len(resolved)} rows are not matched (first: line {bad.index[0]}, "
            f"{first['match_status']}: {first['match_note']}); fix them as {out} suggests, "
            f"or allow them with --max-unmatched {check.share_at_least(len(bad), len(resolved))}."
        )
        raise InputError(msg)
    require_unique(resolved)
    return EXIT_OK


#: Study fields read from flags of the same name (``--name-col`` -> ``name_col``).
_STUDY_FLAGS = (
    "name_col", "province_col", "prefecture_col", "code_col", "year_col", "encoding", "sheet",
    "level", "geometry", "id_col", "datum", "layer", "max_unmatched", "crs", "geometry_encoding",
)  # fmt: skip


def _study(args: argparse.Namespace, **fields: Any) -> Any:
    """The study the flags describe (:class:`geotool.study.Study`); ``fields`` add more."""
    from geotool.study import Study

    given = {f: getattr(args, f) for f in _STUDY_FLAGS if getattr(args, f, None) is not None}
    if getattr(args, "data", None) is not None:
        given["data"] = args.data
    value_col = getattr(args, "value_col", None)
    if value_col:
        given["value_cols"] = value_col
    return Study(**(given | fields))


def _user_table(
    args: argparse.Namespace, value_col: str | None, report: Path, folder: Any = None
) -> Any:
    """``--data`` (or ``--geometry`` alone) read and accounted for, as a study's table.

    With ``folder`` (the command's open output folder) the match report is published in
    it as ``match_report.csv``, and written to ``report`` (beside the folder) only when
    the table is refused: a refused table leaves the previous output as it was.
    """
    from geotool._csv import to_csv_bytes
    from geotool.userdata import load

    study = _study(args, value_cols=value_col or ())
    table = load(study, report, report_on_failure_only=folder is not None)
    if folder is not None:
        label = "line" if table.report.index.name == "line" else "row"
        folder.write("match_report.csv", to_csv_bytes(table.report.reset_index(names=label)))
    return table


def _output_folder(args: argparse.Namespace, owner: str) -> Any:
    """``--out`` as a transaction held until the command ends (:mod:`geotool._outdir`)."""
    from geotool._outdir import OutputFolder

    inputs = [args.data] if args.data is not None else []
    return args.hold(OutputFolder(args.out, inputs=inputs, owner=owner))


def _beside(out: object) -> Path:
    """Where a refused table's match report goes: beside the output folder, named after it."""
    return Path(str(out).rstrip("/") + ".match_report.csv")


def _latest_values(table: Any) -> Any:
    """The first value column of a user's table (its latest year), by unit id."""
    import pandas as pd

    rows = table.rows
    label = table.value_cols[0]
    if table.year_col:
        latest = rows[table.year_col].max()
        rows = rows[rows[table.year_col] == latest]
        label = f"{label} ({latest:g})" if pd.api.types.is_number(latest) else label
    col = table.value_cols[0]
    out = pd.Series(rows[col].to_numpy(float), index=rows["adcode"].to_numpy(), name=col)
    out.attrs["label"] = label  # the panel's year said where it is shown
    return out


def _autocorr_values(args: argparse.Namespace, folder: Any) -> tuple[Any, Any, str, Any]:
    """The variable, what its weights are built from, a label and the units' names."""
    from geotool import boundaries
    from geotool.report import rankings

    if args.data is None and args.geometry is None:
        series = rankings.variable(args.ranking, args.variable)
        return series, series.index, args.ranking, boundaries.units()["name"]
    table = _user_table(args, args.value_col, _beside(args.out), folder)
    if args.bivariate and table.level != "county":
        msg = (
            f"--bivariate {args.bivariate} is a ranking of the report's counties, and --data "
            f"holds {table.level} units; pair two of your columns with geotool run --data "
            "--bivariate A:B."
        )
        raise InputError(msg)
    series = _latest_values(table)
    stem = Path(args.data or args.geometry).stem
    if table.units is None:
        return series, series.index, stem, boundaries.units()["name"]
    units = table.units.loc[series.index]
    return series, units, stem, units["name"]


def _cmd_autocorr(args: argparse.Namespace) -> int:
    import pandas as pd

    from geotool import _validate as check
    from geotool import autocorr, weights
    from geotool._csv import to_csv_bytes
    from geotool.report import rankings

    check.output_dir(args.out, inputs=[args.data] if args.data else [])  # before any work
    autocorr.adjustment(args.adjust, fdr=args.fdr)  # options fail before any work
    sided = autocorr.sidedness(args.sided)
    weights.parse_islands(args.islands)
    folder = _output_folder(args, "geotool autocorr")  # a second run on --out is refused

    def write(stem: str, frame: Any, index: bool = True) -> Path:
        """A table of this run, with its permutations and seed, into the folder."""
        frame = frame.assign(permutations=args.permutations, seed=args.seed)
        name = check.safe_filename(stem) + ".csv"
        folder.write(name, to_csv_bytes(frame, index=index, index_label="adcode"))
        return folder.out / name

    values, ids, label, names = _autocorr_values(args, folder)
    if args.sensitivity:  # the report's published band for its rankings, else the data's
        specs = rankings.SENSITIVITY_SPECS if args.data is None else None
        table = autocorr.sensitivity(
            values, ids, specs=specs, permutations=args.permutations, seed=args.seed
        )
        write(f"sensitivity_{label}_{values.name}", table, index=False)
        if args.json:
            print(table.to_json(orient="records", force_ascii=False, indent=1))
        else:
            _print_table(
                table.round(4),
                ["weights", "statistic", "value", "expected", "z_norm", "p_norm", "p_sim"],
            )
        return EXIT_OK
    w = weights.build(ids, args.weights, islands=args.islands)
    other = clc = None
    if args.bivariate:
        other_vars = rankings.variables(args.bivariate, universe=w.ids)
        other = other_vars["score"].rename(f"{args.bivariate}.score")
        if values.isin([0, 1]).all():  # two memberships: where do they co-locate?
            clc = autocorr.local_join_counts(
                values, w, z=other_vars["member"].rename(f"{args.bivariate}.member"),
                case="CLC", permutations=args.permutations, seed=args.seed, alpha=args.alpha,
            )  # fmt: skip
    result = autocorr.analyse(
        values,
        w,
        permutations=args.permutations,
        seed=args.seed,
        alpha=args.alpha,
        adjust=args.adjust,
        fdr=args.fdr,
        other=other,
        sided=sided,
    )
    spec = args.weights.replace(":", "")
    local = result["local"]
    local.insert(0, "name", names.reindex(local.index).to_numpy())
    out = write(f"lisa_{label}_{values.name}_{spec}", local)
    geary = result["local_geary"]
    geary.insert(0, "name", names.reindex(geary.index).to_numpy())
    write(f"geary_{label}_{values.name}_{spec}", geary)
    joins = {"BB": result["local_join_counts"], "CLC": clc}
    joins = {case: frame for case, frame in joins.items() if frame is not None}
    for case, frame in joins.items():
        frame.insert(0, "name", names.reindex(frame.index).to_numpy())
        write(f"ljc_{case}_{label}_{values.name}_{spec}", frame)
    if args.json:
        payload = {
            "global": json.loads(result["global"].to_json(orient="records")),
            "join_counts": None
            if result["join_counts"] is None
            else json.loads(result["join_counts"].to_json(orient="records")),
            "lisa_counts": result["lisa_counts"],
            "local_geary_counts": geary["cluster"].value_counts().to_dict(),
            "local_join_counts": {
                case: json.loads(
                    frame[frame["significant"]][["name", "ljc", "p_sim"]]
                    .reset_index()
                    .to_json(orient="records", force_ascii=False)
                )
                for case, frame in joins.items()
            },
            "weights": result["weights"],
            "alpha": args.alpha,
            "adjust": result["adjust"],
            "p_sided": result["p_sided"],
            "lisa_rule": result["lisa_rule"],
            "adjust_note": local.attrs.get("adjust_note", ""),
            "fdr": result["fdr"],
            "local_table": str(out),
        }
        print(json.dumps(payload, ensure_ascii=False, indent=1))
        return EXIT_OK
    rep = result["weights"]
    if values.attrs.get("high_means"):
        print(f"{values.name}: {values.attrs['high_means']}")
    print(
        f"{label}: {values.name}, {rep['units']} units, weights {rep['spec']} "
        f"(neighbours mean {rep['mean_neighbours']}, min {rep['min_neighbours']}, max "
        f"{rep['max_neighbours']}; {rep['islands']['count']} without neighbours -> "
        f"{rep['islands']['rule']}; {rep['components']} components)"
    )
    cols = ["statistic", "value", "expected", "z_norm", "p_norm", "z_rand", "p_rand", "p_sim"]
    glob = result["global"].reindex(columns=cols)
    with pd.option_context("display.float_format", "{:.4g}".format):
        print(glob.to_string(index=False))
        if result["join_counts"] is not None:
            print(
                result["join_counts"][
                    ["statistic", "value", "expected", "z_norm", "p_norm", "p_sim"]
                ].to_string(index=False)
            )
    print(
        f"p_norm/p_rand two-sided; global p_sim one-sided (observed direction); local p_sim "
        f"(LISA, Gi*, local Geary) {sided}; {args.permutations} permutations, seed {args.seed}"
    )
    print(
        f"LISA classes ({result['lisa_rule']}): "
        + ", ".join(f"{k} {v}" for k, v in result["lisa_counts"].items())
    )
    print(
        f"local Geary classes at alpha {args.alpha}: "
        + ", ".join(f"{k} {v}" for k, v in geary["cluster"].value_counts().items())
    )
    for case, frame in joins.items():
        hits = frame[frame["significant"]].sort_values(["p_sim", "ljc"], ascending=[True, False])
        what = "BB clusters (ranked among ranked)" if case == "BB" else (
            f"co-location clusters (CLC) with {args.bivariate}"
        )  # fmt: skip
        tested = int(frame["p_sim"].notna().sum())
        print(
            f"local join counts, {what}: {len(hits)} of {tested} tested units at alpha "
            f"{args.alpha} (one-sided upper p_sim): "
            + ", ".join(
                f"{n} ({j:g}, p {p:.4g})" for n, j, p in hits[["name", "ljc", "p_sim"]].to_numpy()
            )
        )
    print(f"local table: {out}")
    return EXIT_OK


def _cmd_tiers(args: argparse.Namespace) -> int:
    import pandas as pd

    from geotool import boundaries, tiers
    from geotool.report import rankings
    from geotool.report.check import region_change

    folder = None
    if args.data is not None:  # the match report goes to --out: check it before any work
        from geotool import _validate as check

        check.output_dir(args.out, inputs=[args.data])
        folder = _output_folder(args, "geotool tiers")
    if args.data is None:
        if args.method == "report":
            table = rankings.tier_table(args.ranking)
        else:
            table = rankings.load(args.ranking)
            table["tier"] = tiers.assign(101 - table["rank"], method=args.method, k=args.k)
        label = args.ranking
        method = args.method
    else:
        user = _user_table(args, args.value_col, _beside(args.out), folder)
        ok, score = user.rows, user.value_cols[0]
        panel = bool(user.year_col) and ok[user.year_col].nunique() >= 2
        if args.method == "report":  # the report's cut points are for its own ranking
            print(
                "tiers of --data: the report's cut points do not apply; Ward clustering "
                "instead (choose with --method)",
                file=sys.stderr,
            )
        method = "ward" if args.method == "report" else args.method
        table = tiers.from_scores(
            ok["adcode"], ok[score], method=method, k=args.k,
            years=ok[user.year_col] if panel else None,
        )  # fmt: skip
        attrs = boundaries.units() if user.units is None else user.units
        for col in ("region", "province"):
            if col in attrs.columns:
                table[col] = attrs[col].reindex(table["adcode"]).to_numpy()
        label = f"{Path(args.data).stem}: {score} ({user.level})"
    units_geo = None if args.data is None else user.units
    ids = pd.Index(table["adcode"]).unique()
    pos = tiers.unit_positions(
        ids if units_geo is None else units_geo.loc[ids],
        coast=boundaries.coastline(),
        core=rankings.core_point(),
    )
    result = tiers.analyse(
        table,
        pos,
        permutations=args.permutations,
        seed=args.seed,
        year_col="year" if args.data is not None and panel else None,
    )
    if args.data is None and args.ranking != "innovation_counties":
        result["region_change"] = region_change(args.ranking)
    if args.json:
        payload = {
            k: (
                json.loads(v.to_json(orient="records", force_ascii=False))
                if hasattr(v, "to_json")
                else v
            )
            for k, v in result.items()
            if k not in ("shapes", "mobility")
        }
        if "mobility" in result:
            payload["mobility"] = {k: v.to_dict() for k, v in result["mobility"].items()}
        print(json.dumps(payload, ensure_ascii=False, indent=1, default=str))
        return EXIT_OK
    with pd.option_context(
        "display.width", 200, "display.max_columns", 30, "display.float_format", "{:.3f}".format
    ):
        print(f"{label}: tiers by {method}" + (f", k={args.k}" if method != "report" else ""))
        if "composition" in result:
            print("\ncomposition by region\n" + result["composition"].to_string())
        print("\ngeography per tier\n" + result["geography"].to_string(index=False))
        print(
            "\ndiffusion vectors (from tier 1's mean centre)\n"
            + result["vectors"][["from", "to", "bearing_deg", "length_km"]].to_string(index=False)
        )
        print(
            "\ngradient test (two-sided permutation p)\n"
            + result["gradient"].to_string(index=False)
        )
        if "region_change" in result:
            print("\nchange on 2019\n" + result["region_change"].to_string(index=False))
        if "yearly_centres" in result:
            print("\ntier centres by year\n" + result["yearly_centres"].to_string(index=False))
            for key, mat in result["mobility"].items():
                print(f"\nmobility {key}\n{mat.to_string()}")
    print("\n" + result["verdict"])
    return EXIT_OK


def _cmd_clusters(args: argparse.Namespace) -> int:
    import pandas as pd

    from geotool import clusters
    from geotool.report import rankings

    name, _ = clusters.load_set(args.set)
    table = rankings.load(args.ranking)
    checked = clusters.check_geometry(args.set)
    counts = clusters.ranking_counts(args.set, table)
    other = "plans" if name != "plans" else "report2020"
    changes = clusters.set_changes(args.set, other, table)
    belts = clusters.table_belts(table, args.set)
    radiation = clusters.radiation(args.set, table, permutations=args.permutations, seed=args.seed)
    _, overlaps = clusters.overlaps(args.set)
    if args.json:
        payload = {
            "set": name,
            "geometry_check": checked,
            "counts": json.loads(counts.to_json(orient="records", force_ascii=False)),
            f"changes_vs_{other}": json.loads(changes.to_json(orient="records", force_ascii=False)),
            "belts": json.loads(belts.to_json(orient="records", force_ascii=False)),
            "radiation": json.loads(radiation.to_json(orient="records")),
            "overlaps": json.loads(overlaps.to_json(orient="records", force_ascii=False)),
        }
        print(json.dumps(payload, ensure_ascii=False, indent=1))
        return EXIT_OK
    with pd.option_context(
        "display.width", 200, "display.max_colwidth", 80, "display.float_format", "{:.3f}".format
    ):
        print(
            f"definition set {name}: code and geometry membership agree for "
            f"{sum(checked.values())} memberships in {len(checked)} definitions"
        )
        print(
            f"\n{args.ranking} by primary cluster\n"
            + counts[["cluster_zh", "definition", "count", "units"]].to_string(index=False)
        )
        print(f"\nunits whose cluster differs under {other}\n" + changes.to_string(index=False))
        print(
            "\nindustrial belts (contiguous ranked units), largest first\n"
            + belts.head(8).to_string(index=False)
        )
        print(
            "\nradiation: rank against km to the nearest core (Spearman, two-sided "
            "permutation p)\n" + radiation.drop(columns=["seed"]).to_string(index=False)
        )
        print("\noverlapping definitions\n" + overlaps[["a", "b", "shared"]].to_string(index=False))
    return EXIT_OK


def _cmd_map(args: argparse.Namespace) -> int:
    import pandas as pd

    from geotool import _validate as check
    from geotool import maps
    from geotool._outdir import OutputFile
    from geotool.report import figures

    opts = {"cdn": args.cdn, "offline": args.offline or None, "basemap": args.basemap}
    out = check.output_file(args.out, inputs=[args.data] if args.data else [])
    args.hold(OutputFile(out, owner="geotool map"))  # the map and its match report
    if args.data is not None:
        user = _user_table(args, args.value_col, out.with_name(out.stem + "_match_report.csv"))
        series = _latest_values(user)
        rows = user.rows.drop_duplicates("adcode", keep="last").set_index("adcode")
        extra = {
            c: c
            for c in user.raw.columns
            if c in rows.columns and c not in (series.name, user.year_col)
        }
        if user.units is not None:
            opts["geo"] = user.units.loc[series.index]
            opts["label_col"] = "name"
        fmap = maps.choropleth(
            series,
            scheme=args.scheme,
            k=args.k,
            title=args.title or f"{Path(args.data).stem}: {series.attrs['label']}",
            # the unit's name only where the table has no column of that name (as in run)
            table=rows[list(extra)].join(
                user.units[["name"]].drop(columns=list(extra), errors="ignore")
                if user.units is not None
                else pd.DataFrame()
            ),
            fields=extra,
            **opts,
        )
    else:
        fmap = figures.report_map(
            args.kind, cluster_set=args.set, weights=args.weights,
            permutations=args.permutations, seed=args.seed, **opts,
        )  # fmt: skip
    text = maps.to_html(fmap, out)
    print(
        f"wrote {out} ({len(text.encode('utf-8')) / 1e6:.2f} MB"
        f"{', Leaflet from the CDN' if args.cdn else ', self-contained'})",
        file=sys.stderr,
    )
    return EXIT_OK


def _headline(summary: dict[str, Any]) -> list[str]:
    """What a run found, in a few lines: units, Moran's I, LISA counts, weights warnings."""
    lines = []
    given = summary.get("input", {})
    if given:
        lines.append(
            f"{given.get('file')}: {given.get('units')} units at level {given.get('level')} "
            f"({given.get('level_reason')}); values {', '.join(given.get('value_cols', []))}"
            + (f"; years by {given['year_col']}" if given.get("year_col") else "")
        )
    for res in summary["autocorrelation"].values():
        if not (isinstance(res, dict) and "moran_i" in res):
            continue
        spec = res["default_weights"]
        mi = res["moran_i"][spec]
        lines.append(
            f"{res['label']}: n {res['weights_report']['units']}, Moran's I {mi['value']:.3f} "
            f"({spec}, p_sim {mi['p_sim']:.4g}); LISA ({res['lisa_rule']}) "
            + ", ".join(f"{k} {v}" for k, v in res["lisa_counts"].items())
        )
        islands = res["weights_report"]["islands"]
        if islands.get("count"):
            joined = "; ".join(islands.get("units", [])[:5])
            more = " ..." if len(islands.get("units", [])) > 5 else ""
            lines.append(
                f"  warning: {islands['count']} units without {spec} neighbours, rule "
                f"{islands['rule']}: {joined}{more}"
            )
        if res["weights_report"].get("components", 1) > 1:
            lines.append(
                f"  warning: the {spec} weights have {res['weights_report']['components']} "
                "separate components"
            )
    for res in summary.get("dynamics", {}).values():
        by_year = ", ".join(
            f"{y}: {v['value']:.3f} (p {v['p_sim']:.3g})" for y, v in res["moran_by_year"].items()
        )
        lines.append(f"{res['label']}: Moran's I by year {by_year}")
        if res.get("dropped"):
            lines.append(
                f"  warning: {res['dropped']} units without a value in every year are left out "
                "of the dynamics (tables/dynamics_dropped_*.csv)"
            )
        lines.extend(f"  {sentence}" for sentence in res["sentences"])
    return lines


def _run_study(args: argparse.Namespace) -> Any:
    """The study ``geotool run`` describes: a study file, a data file, or the report."""
    from geotool.report import study as report
    from geotool.study import Study

    if args.file is not None and args.data is not None:
        msg = f"Pass the data as FILE or as --data, not both (got {args.file} and {args.data})."
        raise InputError(msg)
    options = {
        name: value
        for name in ("out", "seed", "permutations", "title", "lang", "weights", "islands",
                     "adjust", "dpi", "cdn", "basemap", "k")
        if (value := getattr(args, name)) is not None and value is not False
    }  # fmt: skip
    if args.sided is not None:
        options["sided"] = "two-sided" if args.sided == "two" else args.sided
    if args.figures:
        options["figures"] = args.figures
    if args.set is not None:
        options["cluster_set"] = args.set
    if args.label:
        options["labels"] = args.label
    if args.file is not None and args.file.suffix.lower() == ".toml":
        return Study.from_file(args.file, **options)
    data = args.data if args.data is not None else args.file
    if data is None and args.geometry is None:
        return report.study(**options)
    return _study(
        args, data=data, value_cols=args.value_col or (), all_numeric=args.all_numeric,
        bivariate=tuple(args.bivariate or ()), transform=args.transform, per=args.per,
        smooth=args.smooth, scale=args.scale, tiers=args.tiers or "ward", **options,
    )  # fmt: skip


def _cmd_run(args: argparse.Namespace) -> int:
    from geotool import pipeline
    from geotool.report import study as report

    if args.quiet_run:
        logging.getLogger("geotool").setLevel(logging.WARNING)
    study = _run_study(args)
    summary = report.run(study) if study.recipe is not None else pipeline.run(study)
    print(
        f"wrote {len(summary['files'])} files to {study.out} (open {study.out / 'index.html'})",
        file=sys.stderr,
    )
    for line in _headline(summary):
        print(line, file=sys.stderr)
    ok = summary.get("check_report", {}).get("ok", True)
    return EXIT_OK if ok else EXIT_FAILED


def _add_data_args(p: argparse.ArgumentParser, *, value_flag: str | None = "--value-col") -> None:
    """The options of a user's table (``--data``) and of own geometry (``--geometry``)."""
    p.add_argument(
        "--data", type=_path, default=None,
        help="your own data instead of the report's: a table (CSV in UTF-8/GBK, .xlsx) or a "
        "geometry file whose attributes hold the values (GeoPackage, Shapefile, GeoJSON ...)",
    )  # fmt: skip
    if value_flag:
        p.add_argument(
            value_flag, dest="value_col", default=None,
            help="value column(s) of --data, comma-separated (default: the only numeric one)",
        )  # fmt: skip
    p.add_argument("--year-col", default=None, help="year column of --data (a panel)")
    for col in ("name", "province", "prefecture", "code"):
        p.add_argument(f"--{col}-col", default=None, help=f"column holding the {col}")
    p.add_argument("--encoding", default=None, help="force the CSV encoding (e.g. gb18030)")
    p.add_argument("--sheet", default=None, help="Excel sheet name or number")
    p.add_argument(
        "--level", default="auto", choices=["auto", "county", "prefecture", "province"],
        help="level of the units of --data (default: detected from codes and names)",
    )  # fmt: skip
    p.add_argument(
        "--geometry", type=_path, default=None,
        help="your own polygons (GeoPackage, Shapefile or .zip, GeoJSON, GeoParquet)",
    )  # fmt: skip
    p.add_argument("--id-col", default=None, help="id column of --geometry (and of --data)")
    p.add_argument(
        "--datum", default=None, choices=["wgs84", "gcj02", "bd09"],
        help="datum of --geometry's positions: gcj02 for AMap-derived, bd09 for Baidu-derived",
    )  # fmt: skip
    p.add_argument("--layer", default=None, help="layer of a GeoPackage with several")
    p.add_argument(
        "--crs", default=None,
        help="CRS of --geometry's coordinates when its own is missing or wrong (EPSG:4326)",
    )  # fmt: skip
    p.add_argument(
        "--geometry-encoding", default=None,
        help="encoding of --geometry's attributes (a Shapefile's .dbf, e.g. gbk); default: "
        "its .cpg, else detected",
    )  # fmt: skip
    p.add_argument(
        "--max-unmatched", type=float, default=0.0,
        help="share of rows allowed to stay unmatched or ambiguous (default 0)",
    )  # fmt: skip


def _add_inference_args(p: argparse.ArgumentParser) -> None:
    """``--islands`` and ``--sided``, shared by autocorr and run."""
    p.add_argument(
        "--islands", default="nearest", metavar="RULE",
        help="units without neighbours: nearest (joined if within 3x the median "
        "nearest-neighbour distance, the default), max:100km (an explicit bound), "
        "nearest:unbounded, drop, keep",
    )  # fmt: skip
    p.add_argument(
        "--sided", default="two", choices=["two", "folded"],
        help="local p-values for alpha, --adjust and the classes: two (two-sided, the "
        "default: alpha holds under the null) or folded (GeoDa's and esda's one-sided p, "
        "about 2 x alpha of the units flagged under the null)",
    )  # fmt: skip


def _cmd_batch(args: argparse.Namespace) -> int:
    from geotool import _validate as check
    from geotool import batch
    from geotool.io import read_table

    check.output_dir(args.out, inputs=[args.file])  # before any work
    if args.scheduler is not None:
        from geotool import _scheduler

        _scheduler.address(args.scheduler)  # its text; whether it answers, when connecting
    table = read_table(args.file, encoding=args.encoding, sheet=args.sheet)

    def items(text: str | None) -> list[str] | None:
        return None if text is None else [t.strip() for t in text.split(",") if t.strip()]

    years = items(args.years)
    if years is not None and not all(y.lstrip("-").isdigit() for y in years):
        msg = f"--years must be whole years separated by commas, got {short(args.years, 60)!r}."
        raise InputError(msg)
    options = {
        "id_col": args.id_col, "year_col": args.year_col, "variables": items(args.variables),
        "years": None if years is None else [int(y) for y in years],
        "weights": items(args.weights), "statistics": items(args.statistics),
        "permutations": args.permutations, "seed": args.seed, "alpha": args.alpha,
        "islands": args.islands, "out": args.out, "inputs": [args.file],
    }  # fmt: skip
    limits = {"max_tasks": args.max_tasks, "max_output_gb": args.max_output_gb}
    sized = {k: options[k] for k in ("id_col", "year_col", "variables", "years", "weights")}
    batch.estimate(  # before any cluster starts
        table, args.level, statistics=options["statistics"], permutations=args.permutations,
        **sized,
    ).check(**limits)  # fmt: skip
    options |= limits
    if args.scheduler is None and args.workers == 0:
        result = batch.run(table, args.level, **options)
        where = "serially"
    else:
        import distributed  # noqa: F401  (its loggers, configured on import, then quietened)

        for name in list(logging.root.manager.loggerDict):
            if name.split(".")[0] == "distributed":
                logging.getLogger(name).setLevel(logging.ERROR)
        with batch.cluster(
            args.workers, scheduler=args.scheduler, connect_timeout=args.connect_timeout
        ) as client:
            result = batch.run(table, args.level, client=client, **options)
            workers = len(client.scheduler_info(n_workers=-1)["workers"])
        where = f"on {short(args.scheduler or 'a local cluster', 80)} ({workers} workers)"
    failed = result[result["status"] == "failed"]
    print(
        f"{len(result)} tasks {where}: {len(result) - len(failed)} ok, {len(failed)} failed; "
        f"wrote {Path(args.out) / 'batch.csv'}",
        file=sys.stderr,
    )
    for key, error in failed[["key", "error"]].head(20).to_numpy():
        print(f"  failed {key}: {short(str(error), 160)}", file=sys.stderr)
    if len(failed) > 20:
        print(f"  ... and {len(failed) - 20} more (status column of batch.csv)", file=sys.stderr)
    return EXIT_FAILED if len(failed) else EXIT_OK


def _parser() -> argparse.ArgumentParser:
    from geotool import settings

    parser = argparse.ArgumentParser(
        prog="geotool",
        description="Spatial analysis of China's top-100 industrial counties and districts.",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an unexpected error"
    )
    parser.set_defaults(flags={})
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check-report", help="recompute the report's figures from the data")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_check_report)

    b = sub.add_parser("boundaries", help="describe the bundled boundaries")
    bsub = b.add_subparsers(dest="action", required=True)
    bi = bsub.add_parser("info", help="counts, vintage, datum, islands")
    bi.add_argument("--json", action="store_true")
    bi.set_defaults(func=_cmd_boundaries_info)

    m = sub.add_parser("match", help="resolve a table's names to adcodes")
    m.add_argument("file", type=_path, help="CSV (UTF-8 or GBK) or .xlsx")
    m.add_argument("--out", default="match_report.csv")
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

    a = sub.add_parser("autocorr", help="global and local spatial autocorrelation")
    a.add_argument(
        "--ranking",
        default="industrial_counties",
        choices=["industrial_counties", "innovation_counties", "industrial_districts"],
    )
    a.add_argument(
        "--variable",
        default="score",
        help="member, score (101 - rank) or tier_strength (5 - tier): high means strong",
    )
    _add_data_args(a)
    a.add_argument("--weights", default="queen", help="queen, rook, knn:6, distance:100km")
    _add_inference_args(a)
    a.add_argument("--permutations", type=int, default=settings.permutations)
    a.add_argument("--seed", type=int, default=settings.seed)
    a.add_argument("--alpha", type=float, default=0.05)
    a.add_argument(
        "--adjust",
        default=None,
        choices=["none", "bonferroni", "fdr"],
        help="multiple-comparison rule of the LISA classes and Gi* significance: none "
        "(each unit at --alpha, the default), bonferroni (alpha / units), fdr "
        "(Benjamini-Hochberg)",
    )
    a.add_argument("--fdr", action="store_true", help="same as --adjust fdr")
    a.add_argument(
        "--bivariate",
        default=None,
        help="another ranking: bivariate Moran of --variable with its score",
    )
    a.add_argument(
        "--sensitivity",
        action="store_true",
        help="global statistics under queen, rook, knn:6 and a distance band (the report's "
        "100km; for --data the smallest readable band giving every unit a neighbour)",
    )
    a.add_argument("--json", action="store_true")
    a.add_argument("--out", default="outputs_autocorr")
    a.set_defaults(func=_cmd_autocorr)

    t = sub.add_parser("tiers", help="tier composition, geography, diffusion and gradient")
    t.add_argument(
        "--ranking",
        default="industrial_counties",
        choices=["industrial_counties", "innovation_counties", "industrial_districts"],
    )
    _add_data_args(t, value_flag="--score")
    t.add_argument("--method", default="report", choices=["report", "ward", "jenks", "quantiles"])
    t.add_argument("-k", type=int, default=4, help="number of tiers for ward/jenks")
    t.add_argument("--permutations", type=int, default=settings.permutations)
    t.add_argument("--seed", type=int, default=settings.seed)
    t.add_argument("--json", action="store_true")
    t.add_argument("--out", default="outputs_tiers")
    t.set_defaults(func=_cmd_tiers, flags={"value_col": "--score"})

    c = sub.add_parser("clusters", help="city-cluster membership, counts, belts, radiation")
    c.add_argument(
        "--set",
        default="report2020",
        help="report2020, plans, or a YAML/CSV file listing definitions in priority order",
    )
    c.add_argument(
        "--ranking",
        default="industrial_counties",
        choices=["industrial_counties", "innovation_counties", "industrial_districts"],
    )
    c.add_argument("--permutations", type=int, default=settings.permutations)
    c.add_argument("--seed", type=int, default=settings.seed)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_cmd_clusters)

    mp = sub.add_parser("map", help="write one interactive map as standalone HTML")
    mp.add_argument(
        "kind", nargs="?", default="rankings", choices=["rankings", "lisa", "tiers", "clusters"]
    )
    mp.add_argument("--out", type=_path, default=Path("outputs/maps/map.html"))
    mp.add_argument("--cdn", action="store_true", help="load Leaflet from its CDN (blank offline)")
    mp.add_argument("--offline", action="store_true", help=argparse.SUPPRESS)  # the default now
    mp.add_argument("--basemap", default="none", choices=["none", "positron", "osm", "amap"])
    mp.add_argument("--set", default="report2020", help="cluster definition set")
    mp.add_argument("--weights", default=None, help="weights for the LISA map")
    mp.add_argument("--permutations", type=int, default=settings.permutations)
    mp.add_argument("--seed", type=int, default=settings.seed)
    _add_data_args(mp)
    mp.add_argument(
        "--scheme", default="quantiles", choices=["quantiles", "fisherjenks", "equalinterval"]
    )
    mp.add_argument(
        "-k", type=int, default=None, help="classes (default 5, fewer if the data have fewer)"
    )
    mp.add_argument("--title", default="")
    mp.set_defaults(func=_cmd_map)

    r = sub.add_parser(
        "run", help="a whole study (default: the bundled 2020 report): writes outputs/"
    )
    r.add_argument(
        "file", nargs="?", type=_path, default=None,
        help="a study file (.toml), or your data: a table (CSV, .xlsx) or a geometry file "
        "(GeoPackage, Shapefile or .zip, GeoJSON, GeoParquet) whose attributes hold the values",
    )  # fmt: skip
    r.add_argument("--out", type=_path, default=None, help="output folder (default outputs)")
    r.add_argument("--seed", type=int, default=None)
    r.add_argument("--permutations", type=int, default=None)
    r.add_argument("--title", default=None, help="the study's title")
    r.add_argument(
        "--label", action="append", default=None, metavar="COL=TEXT",
        help="a readable label of a column for titles and legends (repeatable)",
    )  # fmt: skip
    r.add_argument(
        "--lang", default=None, choices=["zh", "en"],
        help="language of titles, legends and figures (default: zh for China, en elsewhere)",
    )  # fmt: skip
    r.add_argument(
        "--tiers", default=None, choices=["ward", "jenks", "quantiles"],
        help="how a variable's values are classed into tiers (default ward)",
    )  # fmt: skip
    r.add_argument("-k", type=int, default=None, help="number of tiers (default 4)")
    r.add_argument(
        "--cdn",
        action="store_true",
        help="maps load Leaflet from its CDN (smaller, blank offline); default: self-contained",
    )
    r.add_argument("--offline", action="store_true", help=argparse.SUPPRESS)  # the default now
    r.add_argument("--basemap", default=None, choices=["none", "positron", "osm", "amap"])
    r.add_argument("--quiet", dest="quiet_run", action="store_true", help="no progress")
    _add_data_args(r)
    r.add_argument(
        "--all-numeric", action="store_true", help="analyse every numeric column of --data"
    )
    r.add_argument(
        "--bivariate", action="append", default=None, metavar="A:B",
        help="bivariate Moran's I and LISA of two value columns (repeatable)",
    )  # fmt: skip
    r.add_argument(
        "--transform", default=None, choices=["log", "log1p", "standardise"],
        help="transform every variable (after --per), per year; named in every title",
    )  # fmt: skip
    r.add_argument("--per", default=None, help="population column: variables become rates")
    r.add_argument(
        "--smooth", default=None, choices=["eb", "spatial_eb"],
        help="empirical-Bayes smoothing of the --per rates (global or spatial); for counts "
        "of events (cases, births) only, refused for amounts such as GDP",
    )  # fmt: skip
    r.add_argument("--scale", type=float, default=1.0, help="multiplier of rates (e.g. 10000)")
    r.add_argument(
        "--weights",
        default=None,
        help="weights spec for join counts and LISA (default: queen for counties "
        "and --data, knn:6 for districts)",
    )
    r.add_argument(
        "--set",
        default=None,
        help="cluster definition set for the map and tooltips (report2020, plans, FILE)",
    )
    r.add_argument(
        "--adjust",
        default=None,
        choices=["none", "bonferroni", "fdr"],
        help="multiple-comparison rule of the LISA classes (default none: each unit at 0.05)",
    )
    _add_inference_args(r)
    r.set_defaults(islands=None, sided=None)  # a study file's own unless given
    r.add_argument(
        "--figures",
        default="",
        help="static figures for print, e.g. png,svg,pdf (default none: about 4 s a figure)",
    )
    r.add_argument("--dpi", type=int, default=None, help="resolution of the PNG figures")
    r.set_defaults(func=_cmd_run)

    bt = sub.add_parser(
        "batch", help="many analyses (variables x years x weights x statistics), on dask"
    )
    bt.add_argument("file", type=_path, help="CSV or .xlsx: a unit column, value columns")
    bt.add_argument("--id-col", default="adcode", help="column of unit codes or names")
    bt.add_argument("--year-col", default=None, help="year column of a long table")
    bt.add_argument("--variables", default=None, help="comma-separated (default: numeric)")
    bt.add_argument("--years", default=None, help="comma-separated (default: every year)")
    bt.add_argument("--weights", default="queen", help="comma-separated specs: queen,knn:6")
    bt.add_argument(
        "--statistics",
        default="moran,lisa",
        help="comma-separated: moran, geary, getis_ord_g (global), lisa, gi_star (local)",
    )
    bt.add_argument(
        "--level", default="county", choices=["county", "prefecture", "province"],
        help="bundled layer the units belong to",
    )  # fmt: skip
    bt.add_argument("--permutations", type=int, default=settings.permutations)
    bt.add_argument("--seed", type=int, default=settings.seed)
    bt.add_argument("--alpha", type=float, default=0.05)
    bt.add_argument("--islands", default="nearest", choices=["nearest", "drop", "keep"])
    bt.add_argument(
        "--workers", type=int, default=None,
        help="local dask workers (default: one per CPU, at most 2 per CPU); 0 runs serially",
    )  # fmt: skip
    bt.add_argument(
        "--scheduler", default=None,
        help="a running dask scheduler: tcp://host:8786 (tls://, ws://, wss://) or its "
        "--scheduler-file",
    )  # fmt: skip
    bt.add_argument(
        "--connect-timeout", type=float, default=10.0, metavar="SECONDS",
        help="seconds the --scheduler has to answer (default 10)",
    )  # fmt: skip
    bt.add_argument(
        "--max-tasks", type=int, default=50_000,
        help="refuse a batch of more tasks (variables x years x weights x statistics)",
    )  # fmt: skip
    bt.add_argument(
        "--max-output-gb", type=float, default=2.0,
        help="refuse a batch whose estimated output (batch.csv, local tables) is larger",
    )  # fmt: skip
    bt.add_argument("--encoding", default=None)
    bt.add_argument("--sheet", default=None)
    bt.add_argument("--out", type=_path, default=Path("outputs/batch"))
    bt.set_defaults(func=_cmd_batch)
    return parser


#: Library parameters as the CLI spells them: errors name parameters, users see flags.
_FLAGS = {
    "value_col": "--value-col",
    "name_col": "--name-col",
    "province_col": "--province-col",
    "prefecture_col": "--prefecture-col",
    "code_col": "--code-col",
    "year_col": "--year-col",
    "max_unmatched": "--max-unmatched",
    "level": "--level",
    "geometry": "--geometry",
    "id_col": "--id-col",
    "datum": "--datum",
    "layer": "--layer",
    "crs": "--crs",
    "geometry_encoding": "--geometry-encoding",
    "all_numeric": "--all-numeric",
    "transform": "--transform",
    "per": "--per",
    "smooth": "--smooth",
    "scale": "--scale",
    "bivariate": "--bivariate",
    "permutations": "--permutations",
    "seed": "--seed",
    "alpha": "--alpha",
    "islands": "--islands",
    "sided": "--sided",
    "encoding": "--encoding",
    "sheet": "--sheet",
    "basemap": "--basemap",
    "cdn": "--cdn",
    "offline": "--offline",
    "scheme": "--scheme",
    "k": "-k",
    "out": "--out",
    "report_path": "the match report (named after --out)",
    "variable": "--variable",
    "adjust": "--adjust",
    "fdr": "--fdr",
    "workers": "--workers",
    "scheduler": "--scheduler",
    "connect_timeout": "--connect-timeout",
    "variables": "--variables",
    "years": "--years",
    "weights": "--weights",
    "statistics": "--statistics",
    "max_tasks": "--max-tasks",
    "max_output_gb": "--max-output-gb",
    "figures": "--figures",
    "dpi": "--dpi",
    "title": "--title",
    "labels": "--label",
    "lang": "--lang",
    "tiers": "--tiers",
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


class _Flags(logging.Filter):
    """Spell the library's parameters in a log line as this command's flags."""

    def __init__(self, overrides: dict[str, str]) -> None:
        super().__init__()
        self.overrides = overrides

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message (always kept)."""
        record.msg, record.args = _as_flags(record.getMessage(), self.overrides), None
        return True


def _not_progress(record: logging.LogRecord) -> bool:
    """Drop progress lines (``record.progress``) where nobody watches a terminal."""
    return not getattr(record, "progress", False)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``geotool`` console command."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        format="geotool: %(message)s", level=logging.WARNING if args.quiet else logging.INFO
    )
    for handler in logging.getLogger().handlers:
        # only the plain stderr handler basicConfig made, never a host's (pytest, an app)
        if type(handler) is logging.StreamHandler and handler.stream is sys.stderr:
            handler.addFilter(_Flags(args.flags))  # warnings name flags, as errors do
            if not sys.stderr.isatty():  # progress lines are for people watching a terminal
                handler.addFilter(_not_progress)
    alone = getattr(args, "data", None) is None and getattr(args, "file", None) is None
    if alone and getattr(args, "geometry", None) is not None:  # its attributes are the data
        args.data, args.geometry = args.geometry, None
    try:
        with contextlib.ExitStack() as stack:  # output folders and files, held to the end
            args.hold = stack.enter_context
            return args.func(args)
    except InputError as exc:
        print(f"geotool: error: {_as_flags(str(exc), args.flags)}", file=sys.stderr)
        return EXIT_INPUT
    except GeotoolError as exc:
        print(f"geotool: error: {_as_flags(str(exc), args.flags)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("geotool: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return EXIT_OK
    except MemoryError:
        print(
            "geotool: error: out of memory; use fewer --permutations or a smaller table.",
            file=sys.stderr,
        )
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

    A finished run holds a few hundred thousand Python objects (frames, geometries,
    cached layers); freeing them one by one at interpreter shutdown takes about 0.4 s,
    a tenth of a run. Like mypy's ``hard_exit``, the command flushes its output and
    leaves with ``os._exit``: every file is closed and every child process joined by
    then (runs write through :func:`geotool._atomic.write_atomic` and finish their
    transaction before :func:`main` returns). ``main()`` itself, as a library call or
    in tests, returns normally.
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
