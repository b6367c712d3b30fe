"""The main job (``geotool run``): every analysis on the bundled data, written to ``outputs/``.

Files are written atomically (a temporary file in the same folder, then a rename), so
an interrupted run never leaves a half-written file, and a run only ever writes the
files it names: it deletes nothing.

The analyses that exist so far: the report check, the rankings joined to the
boundaries, and spatial autocorrelation (global statistics under four weights, join
counts, LISA and Gi*, Moran scatter plots, bivariate Moran) and tier diffusion
(composition, centres and ellipses, diffusion vectors, gradient test, change on 2019)
and city clusters (counts under report2020 and plans, membership, radiation, belts,
dissolved polygons), four interactive maps and the landing page ``index.html``.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from geotool import __version__, autocorr, boundaries, clusters, maps, rankings, tiers
from geotool._log import log
from geotool.report import check_report

__all__ = ["run", "write_atomic"]


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; published files are readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8-sig")


def run(
    out_dir: Path | str = "outputs",
    *,
    seed: int,
    permutations: int,
    offline: bool = False,
    basemap: str = "none",
    weights: str | None = None,
    cluster_set: str = "report2020",
) -> dict[str, Any]:
    """Run the main job and write ``out_dir``; return the summary written as ``summary.json``.

    Parameters
    ----------
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
        Weights spec for join counts and LISA of every ranking (default: each ranking's
        own, :data:`geotool.autocorr.DEFAULT_WEIGHTS`).
    cluster_set : str
        Definition set shown in the cluster map and the tooltips (both ``report2020``
        and ``plans`` are always computed).
    """
    out = Path(out_dir)
    files: list[str] = []
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        timings[stage] = round(now - clock[0], 2)
        clock[0] = now

    log("checking the report's figures ...")
    checks = check_report()
    write_atomic(out / "tables" / "check_report.csv", _csv(checks))
    files.append("tables/check_report.csv")

    lap("report_check")
    log("joining the rankings to the boundaries ...")
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
    write_atomic(out / "tables" / "rankings.csv", _csv(joined))
    files.append("tables/rankings.csv")

    lap("rankings_join")
    log(f"spatial autocorrelation of the three rankings ({permutations} permutations) ...")
    auto = autocorr.stage(permutations=permutations, seed=seed, weights=weights)
    auto_summary: dict[str, Any] = {}
    for name in rankings.RANKINGS:
        res = auto[name]
        write_atomic(out / "tables" / f"global_{name}.csv", _csv(res["global"]))
        write_atomic(out / "tables" / f"join_counts_{name}.csv", _csv(res["join_counts"]))
        write_atomic(
            out / "tables" / f"lisa_{name}.csv", _csv(res["local"].reset_index(names="adcode"))
        )
        moran = res["global"].set_index(["weights", "statistic"])
        fig = autocorr.moran_scatter(
            res["local"],
            title=f"{name.replace('_', ' ')}: score, {res['default_weights']} weights",
            moran_i=float(moran.loc[(res["default_weights"], "moran_i"), "value"]),
        )
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        write_atomic(out / "figures" / f"moran_scatter_{name}.png", buf.getvalue())
        files += [
            f"tables/global_{name}.csv",
            f"tables/join_counts_{name}.csv",
            f"tables/lisa_{name}.csv",
            f"figures/moran_scatter_{name}.png",
        ]
        auto_summary[name] = {
            "variable": "score",
            "default_weights": res["default_weights"],
            "weights_report": res["weights"],
            "moran_i": {
                spec: {
                    k: float(moran.loc[(spec, "moran_i"), k])
                    for k in ("value", "expected", "z_norm", "p_norm", "p_rand", "p_sim")
                }
                for spec in autocorr.SENSITIVITY_SPECS
            },
            "join_counts": res["join_counts"]
            .set_index("statistic")[["value", "expected", "z_norm", "p_norm", "p_sim"]]
            .to_dict(orient="index"),
            "lisa_counts": res["lisa_counts"],
            "p_sim": "one-sided in the observed direction; p_norm, p_rand two-sided",
        }
    write_atomic(out / "tables" / "bivariate_moran.csv", _csv(auto["bivariate"]))
    files.append("tables/bivariate_moran.csv")
    biv = auto["bivariate"].iloc[0]
    auto_summary["bivariate_industrial_innovation"] = {
        "value": float(biv["value"]),
        "p_sim": float(biv["p_sim"]),
        "weights": biv["weights"],
    }

    lap("autocorrelation")
    log("tiers: composition, geography, diffusion, gradient ...")
    tier_summary: dict[str, Any] = {}
    tier_shapes = {}
    for name in ("industrial_counties", "industrial_districts"):
        res = tiers.analyse(
            tiers.report_table(name), permutations=permutations, seed=seed, ranking=name
        )
        tier_shapes[name] = res["shapes"]
        for key in ("composition", "geography", "vectors", "gradient", "region_change"):
            frame = res[key].reset_index() if key == "composition" else res[key]
            write_atomic(out / "tables" / f"tiers_{key}_{name}.csv", _csv(frame))
            files.append(f"tables/tiers_{key}_{name}.csv")
        write_atomic(
            out / "tables" / f"tiers_shapes_{name}.geojson",
            res["shapes"].to_json(ensure_ascii=False),
        )
        files.append(f"tables/tiers_shapes_{name}.geojson")
        comp = res["composition"]
        tier_summary[name] = {
            "tiers": "report (1-6, 7-30, 32-62, 63-100)"
            if name == "industrial_counties"
            else "report deciles (表 6)",
            "by_region": {
                int(t): {r: int(comp.loc[t, r]) for r in ("east", "central", "west", "northeast")}
                for t in comp.index
            },
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
    for set_name in ("report2020", "plans"):
        checked = clusters.check_geometry(set_name)
        counts = clusters.ranking_counts(set_name)
        ms = clusters.membership(set_name)
        radiation = clusters.radiation(set_name, permutations=permutations, seed=seed)
        polys = clusters.polygons(set_name)
        write_atomic(out / "tables" / f"clusters_counts_{set_name}.csv", _csv(counts))
        write_atomic(
            out / "tables" / f"clusters_membership_{set_name}.csv",
            _csv(ms.reset_index(names="adcode")),
        )
        write_atomic(out / "tables" / f"clusters_radiation_{set_name}.csv", _csv(radiation))
        write_atomic(
            out / "tables" / f"clusters_{set_name}.geojson", polys.to_json(ensure_ascii=False)
        )
        files += [
            f"tables/clusters_counts_{set_name}.csv",
            f"tables/clusters_membership_{set_name}.csv",
            f"tables/clusters_radiation_{set_name}.csv",
            f"tables/clusters_{set_name}.geojson",
        ]
        cluster_summary[set_name] = {
            "definitions": list(checked),
            "geometry_check": "code and geometry membership agree",
            "counts": dict(zip(counts["cluster_id"], counts["count"].astype(int), strict=True)),
            "outside": [u for u in counts.iloc[-1]["units"].split(";") if u],
            "radiation": radiation.drop(columns=["permutations", "seed"]).to_dict(orient="records"),
        }
    changes = clusters.set_changes("report2020", "plans")
    write_atomic(out / "tables" / "clusters_changes_report2020_plans.csv", _csv(changes))
    belts = clusters.belts()
    write_atomic(out / "tables" / "clusters_belts.csv", _csv(belts))
    files += ["tables/clusters_changes_report2020_plans.csv", "tables/clusters_belts.csv"]
    cluster_summary["changes_report2020_to_plans"] = changes.to_dict(orient="records")
    cluster_summary["largest_belts"] = belts.head(5).to_dict(orient="records")

    lap("clusters")
    log("maps ...")
    info = maps.unit_info(
        lisa=auto["industrial_counties"]["local"], membership=clusters.membership(cluster_set)
    )
    opts = {"offline": offline, "basemap": basemap}
    locals_ = {name.replace("_", " "): auto[name]["local"] for name in rankings.RANKINGS}
    county_tiers = tier_shapes["industrial_counties"]
    built = {
        "rankings.html": maps.rankings_map(info, **opts),
        "lisa.html": maps.lisa_map(locals_, info, **opts),
        "tiers.html": maps.tiers_map(info, county_tiers, **opts),
        "clusters.html": maps.clusters_map(
            clusters.membership(cluster_set), clusters.polygons(cluster_set), info, **opts
        ),
    }
    maps_written = {}
    for fname, fmap in built.items():
        text = maps.to_html(fmap, out / "maps" / fname)
        maps_written[fname] = len(text.encode("utf-8"))
        files.append(f"maps/{fname}")

    lap("maps")
    status = checks["status"].value_counts().to_dict()
    summary: dict[str, Any] = {
        "geotool_version": __version__,
        "boundaries": {k: boundaries.metadata()[k] for k in ("source", "datum", "counts")},
        "seed": seed,
        "permutations": permutations,
        "check_report": {"ok": status.get("mismatch", 0) == 0, "status_counts": status},
        "match": {
            name: table.loc[table["ranking"] == name, "match_method"].value_counts().to_dict()
            for name in rankings.RANKINGS
        },
        "universe_sizes": {name: len(rankings.universe(name)) for name in rankings.RANKINGS},
        "autocorrelation": auto_summary,
        "tiers": tier_summary,
        "clusters": cluster_summary,
        "maps": {"files": maps_written, "offline": offline, "basemap": basemap},
        "timings_s": timings,
    }
    write_atomic(out / "index.html", maps.index_page(summary, maps_written))
    files += ["index.html", "summary.json"]
    summary["files"] = files
    write_atomic(out / "summary.json", json.dumps(summary, ensure_ascii=False, indent=1) + "\n")
    log(f"wrote {len(files)} files to {out}")
    return summary


def run_user(
    path: Path | str,
    out_dir: Path | str = "outputs",
    *,
    value_col: str | None,
    seed: int,
    permutations: int,
    name_col: str | None = None,
    province_col: str | None = None,
    prefecture_col: str | None = None,
    code_col: str | None = None,
    year_col: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    max_unmatched: float = 0.0,
    weights: str = "queen",
    offline: bool = False,
    basemap: str = "none",
) -> dict[str, Any]:
    """The main job on a user's table: match, then autocorrelation, tiers, clusters, maps.

    Every input row is written to ``tables/match_report.csv`` (status, method,
    candidates) before anything can fail. The run stops with :class:`MatchError` if more
    than ``max_unmatched`` of the rows are unmatched or ambiguous, or if a unit appears
    twice (in one year), and with :class:`InputError` if values are not numeric.

    The analysis universe is the table's own units (latest year when ``year_col`` is
    given): include the units that scored nothing, with 0, to test against them.
    """
    from geotool import weights as weights_mod

    out = Path(out_dir)
    ok, raw, resolved, value_col = load_user_table(
        path, out / "tables" / "match_report.csv", value_col=value_col, name_col=name_col,
        province_col=province_col, prefecture_col=prefecture_col, code_col=code_col,
        year_col=year_col, encoding=encoding, sheet=sheet, max_unmatched=max_unmatched,
    )  # fmt: skip
    latest = ok if not year_col else ok[ok[year_col] == ok[year_col].max()]
    series = pd.Series(
        latest[value_col].to_numpy(float), index=latest["adcode"].to_numpy(), name=value_col
    )
    files = ["tables/match_report.csv"]

    log(f"spatial autocorrelation of {value_col!r} over {len(series)} units ...")
    w = weights_mod.build(series.index, weights)
    result = autocorr.analyse(series, w, permutations=permutations, seed=seed)
    write_atomic(out / "tables" / "user_global.csv", _csv(result["global"]))
    write_atomic(
        out / "tables" / "user_lisa.csv", _csv(result["local"].reset_index(names="adcode"))
    )
    files += ["tables/user_global.csv", "tables/user_lisa.csv"]

    log("tiers ...")
    years = ok[year_col] if year_col else None
    distinct = ok.groupby(years)[value_col].nunique().min() if year_col else ok[value_col].nunique()
    table = tiers.from_scores(
        ok["adcode"], ok[value_col], years=years, method="ward", k=int(min(4, distinct))
    )
    tier_res = tiers.analyse(
        table, permutations=permutations, seed=seed, year_col="year" if year_col else None
    )
    write_atomic(out / "tables" / "user_tiers_geography.csv", _csv(tier_res["geography"]))
    files.append("tables/user_tiers_geography.csv")

    log("city clusters ...")
    cluster_counts = {}
    for set_name in ("report2020", "plans"):
        ms = clusters.membership(set_name).loc[series.index]
        counts = ms["primary_cluster"].replace("", "outside").value_counts()
        cluster_counts[set_name] = {k: int(v) for k, v in counts.items()}

    log("maps ...")
    label = Path(path).stem
    extra = latest.set_index("adcode")[[value_col]]
    maps_written = {}
    for fname, fmap in (
        (
            "user_values.html",
            maps.choropleth(
                series,
                scheme="quantiles",
                k=min(5, series.nunique()),
                title=f"{label}: {value_col}",
                table=extra,
                fields={value_col: value_col},
                offline=offline,
                basemap=basemap,
            ),
        ),
        (
            "user_lisa.html",
            maps.lisa_map(
                {f"{label}: {value_col}": result["local"]},
                maps.unit_info(lisa=result["local"]),
                offline=offline,
                basemap=basemap,
            ),
        ),
    ):
        text = maps.to_html(fmap, out / "maps" / fname)
        maps_written[fname] = len(text.encode("utf-8"))
        files.append(f"maps/{fname}")
    mi = result["global"].set_index("statistic").loc["moran_i"]
    summary = {
        "geotool_version": __version__,
        "input": {
            "file": str(path),
            "encoding": raw.attrs.get("encoding"),
            "rows": len(raw),
            "value_col": value_col,
            "year_col": year_col,
        },
        "match": resolved["match_status"].value_counts().to_dict(),
        "match_methods": ok["match_method"].value_counts().to_dict(),
        "seed": seed,
        "permutations": permutations,
        "autocorrelation": {
            "weights": result["weights"],
            "lisa_counts": result["lisa_counts"],
            "moran_i": {
                k: float(mi[k]) for k in ("value", "expected", "z_norm", "p_norm", "p_sim")
            },
        },
        "tiers": {
            "verdict": tier_res["verdict"],
            "vectors": tier_res["vectors"][["from", "to", "bearing_deg", "length_km"]].to_dict(
                orient="records"
            ),
        },
        "clusters": cluster_counts,
        "maps": {"files": maps_written, "offline": offline, "basemap": basemap},
    }
    write_atomic(
        out / "summary.json", json.dumps(summary, ensure_ascii=False, indent=1, default=str) + "\n"
    )
    files.append("summary.json")
    summary["files"] = files
    log(f"wrote {len(files)} files to {out}")
    return summary


def load_user_table(
    path: Path | str,
    report_path: Path | str,
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
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """Read a user's table, resolve its rows, write the match report, check it.

    Every input row is written to ``report_path`` before anything can fail. Raises
    :class:`~geotool._errors.MatchError` when more than ``max_unmatched`` of the rows
    are unmatched or ambiguous or when a unit appears twice (in one year), and
    :class:`~geotool._errors.InputError` for a missing column or non-numeric values.

    Returns
    -------
    tuple
        The matched rows (with ``adcode`` and the value as float), the raw table, the
        resolved table (every row), and the name of the value column.
    """
    from geotool._errors import InputError, MatchError
    from geotool.io import read_table
    from geotool.match import resolve

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
                "name it with --value-col."
            )
            raise InputError(msg)
        value_col = numeric[0]
    if value_col not in raw.columns:
        msg = (
            f"--value-col {value_col!r} is not a column of {path}; its columns are "
            f"{list(raw.columns)}."
        )
        raise InputError(msg)
    if year_col is not None and year_col not in raw.columns:
        msg = (
            f"--year-col {year_col!r} is not a column of {path}; its columns are "
            f"{list(raw.columns)}."
        )
        raise InputError(msg)
    resolved = resolve(
        raw,
        name_col=name_col,
        province_col=province_col,
        prefecture_col=prefecture_col,
        code_col=code_col,
    )
    report_path = Path(report_path)
    write_atomic(report_path, resolved.to_csv(index_label="row").encode("utf-8-sig"))
    bad = resolved[resolved["match_status"] != "matched"]
    share = len(bad) / len(resolved)
    if share > max_unmatched:
        first = bad.iloc[0]
        n_un = int((bad["match_status"] == "unmatched").sum())
        why = first["match_note"] or first["match_candidates"]
        msg = (
            f"{len(bad)} of {len(resolved)} rows are not matched ({n_un} unmatched, "
            f"{len(bad) - n_un} ambiguous; first: row {bad.index[0]} {first['match_status']}: "
            f"{why}). Fix those names (candidates are in {report_path}) or add a province "
            f"column, or allow them with --max-unmatched {share:.2f}."
        )
        raise MatchError(msg)
    ok = resolved[resolved["match_status"] == "matched"].copy()
    keys = ["adcode", year_col] if year_col else ["adcode"]
    dup = ok[ok.duplicated(keys, keep=False)]
    if len(dup):
        groups = dup.groupby(keys).apply(lambda g: list(g.index), include_groups=False)
        listing = "; ".join(f"{k}: rows {v}" for k, v in list(groups.items())[:5])
        msg = f"Units appear more than once ({listing}); keep one row per unit (per year)."
        raise MatchError(msg)
    values = pd.to_numeric(ok[value_col], errors="coerce")
    if values.isna().any():
        rows = ok.index[values.isna()].tolist()[:8]
        msg = (
            f"Column {value_col!r} has empty or non-numeric cells in rows {rows}; fix them "
            "or remove those rows."
        )
        raise InputError(msg)
    ok[value_col] = values
    return ok, raw, resolved, value_col
