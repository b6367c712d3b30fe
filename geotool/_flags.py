"""The ``geotool`` command's options (a declarative table) and its spelling of messages.

:func:`parser` builds the command line from shared groups of options (a user's data,
inference, map pages); :func:`as_flags` spells the library's parameters in a message
(``value_col=``) as the command's flags (``--value-col``).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

__all__ = ["as_flags", "parser"]


def _path(text: str) -> Path:
    """A path option: refused when empty (``Path("")`` would be the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path names nothing; give a file or folder")
    return Path(text)


def _flag(*names: str, **options: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """One option of the parser: its names and ``add_argument``'s keywords."""
    return names, options


_JSON = _flag("--json", action="store_true")
_RANKING = _flag("--ranking", default="industrial_counties",
                 choices=["industrial_counties", "innovation_counties", "industrial_districts"])
_OFFLINE = _flag("--offline", action="store_true", help=argparse.SUPPRESS)  # the default now
_BASEMAPS = ["none", "positron", "osm", "amap"]
_ADJUST = ["none", "bonferroni", "fdr"]
_COLUMNS = tuple(_flag(f"--{c}-col", help=f"column holding the {c}")
                 for c in ("name", "province", "prefecture", "code"))
_MAX_UNMATCHED = _flag("--max-unmatched", type=float, default=0.0,
                       help="share of rows allowed to stay unmatched or ambiguous (default 0)")
_SIDES = (  # shared by autocorr and run
    _flag("--islands", default="nearest", metavar="RULE",
          help="units without neighbours: nearest (joined if within 3x the median "
          "nearest-neighbour distance, the default), max:100km (an explicit bound), "
          "nearest:unbounded, drop, keep"),
    _flag("--sided", default="two", choices=["two", "folded"],
          help="local p-values for alpha, --adjust and the classes: two (two-sided, the "
          "default: alpha holds under the null) or folded (GeoDa's and esda's one-sided p, "
          "about 2 x alpha of the units flagged under the null)"),
)  # fmt: skip


def _data(value_flag: str = "--value-col") -> tuple[Any, ...]:
    """The options of a user's table (``--data``) and of own geometry (``--geometry``)."""
    return (
        _flag("--data", type=_path,
              help="your own data instead of the report's: a table (CSV in UTF-8/GBK, .xlsx) "
              "or a geometry file whose attributes hold the values (GeoPackage, Shapefile, "
              "GeoJSON ...)"),
        _flag(value_flag, dest="value_col",
              help="value column(s) of --data, comma-separated (default: the only numeric one)"),
        _flag("--year-col", help="year column of --data (a panel)"), *_COLUMNS,
        _flag("--encoding", help="force the CSV encoding (e.g. gb18030)"),
        _flag("--sheet", help="Excel sheet name or number"),
        _flag("--level", default="auto", choices=["auto", "county", "prefecture", "province"],
              help="level of the units of --data (default: detected from codes and names)"),
        _flag("--geometry", type=_path,
              help="your own polygons (GeoPackage, Shapefile or .zip, GeoJSON, GeoParquet)"),
        _flag("--id-col", help="id column of --geometry (and of --data)"),
        _flag("--datum", choices=["wgs84", "gcj02", "bd09"],
              help="datum of --geometry's positions: gcj02 for AMap-derived, bd09 for "
              "Baidu-derived"),
        _flag("--layer", help="layer of a GeoPackage with several"),
        _flag("--crs", help="CRS of --geometry's coordinates when its own is missing or wrong "
              "(EPSG:4326)"),
        _flag("--geometry-encoding",
              help="encoding of --geometry's attributes (a Shapefile's .dbf, e.g. gbk); "
              "default: its .cpg, else detected"),
        _MAX_UNMATCHED,
    )  # fmt: skip


def _inference(permutations: int | None, seed: int | None) -> tuple[Any, ...]:
    return (
        _flag("--permutations", type=int, default=permutations),
        _flag("--seed", type=int, default=seed),
    )


def _commands() -> list[tuple[str, str, tuple[Any, ...], dict[str, Any]]]:
    """Every subcommand: its name, help, options and defaults."""
    from geotool import settings

    perm = _inference(settings.permutations, settings.seed)
    return [
        ("check-report", "recompute the report's figures from the data",
         (_flag("--json", action="store_true", help="machine-readable output"),), {}),
        ("boundaries info", "describe the bundled boundaries", (_JSON,), {}),
        ("match", "resolve a table's names to adcodes", (
            _flag("file", type=_path, help="CSV (UTF-8 or GBK) or .xlsx"),
            _flag("--out", default="match_report.csv"), _flag("--encoding"),
            _flag("--sheet"), *_COLUMNS, _MAX_UNMATCHED,
        ), {}),
        ("autocorr", "global and local spatial autocorrelation", _autocorr_flags(perm), {}),
        ("tiers", "tier composition, geography, diffusion and gradient", (
            _RANKING, *_data("--score"),
            _flag("--method", default="report", choices=["report", "ward", "jenks", "quantiles"]),
            _flag("-k", dest="classes", metavar="K", type=int, default=4,
                  help="number of tiers for ward/jenks"),
            *perm, _JSON, _flag("--out", type=_path, default="outputs_tiers"),
        ), {"flags": {"value_col": "--score"}}),
        ("clusters", "city-cluster membership, counts, belts, radiation", (
            _flag("--set", dest="cluster_set", metavar="SET", default="report2020",
                  help="report2020, plans, or a YAML/CSV file listing definitions in "
                  "priority order"),
            _RANKING, *perm, _JSON,
        ), {}),
        ("map", "write one interactive map as standalone HTML", (
            _flag("kind", nargs="?", default="rankings",
                  choices=["rankings", "lisa", "tiers", "clusters"]),
            _flag("--out", type=_path, default=Path("outputs/maps/map.html")),
            _flag("--cdn", action="store_true", help="load Leaflet from its CDN (blank offline)"),
            _OFFLINE, _flag("--basemap", default="none", choices=_BASEMAPS),
            _flag("--set", dest="cluster_set", metavar="SET", default="report2020",
                  help="cluster definition set"),
            _flag("--weights", help="weights for the LISA map"), *perm, *_data(),
            _flag("--scheme", default="quantiles",
                  choices=["quantiles", "fisherjenks", "equalinterval"]),
            _flag("-k", dest="classes", metavar="K", type=int,
                  help="classes (default 5, fewer if the data have fewer)"),
            _flag("--title"),
        ), {}),
        ("run", "a whole study (default: the bundled 2020 report): writes outputs/",
         _run_flags(), {"islands": None, "sided": None}),  # a study file's own unless given
        ("batch", "many analyses (variables x years x weights x statistics), on dask",
         _batch_flags(perm), {}),
    ]  # fmt: skip


def _autocorr_flags(perm: tuple[Any, ...]) -> tuple[Any, ...]:
    return (
        _RANKING,
        _flag("--variable", default="score",
              help="member, score (101 - rank) or tier_strength (5 - tier): high means strong"),
        *_data(), _flag("--weights", default="queen", help="queen, rook, knn:6, distance:100km"),
        *_SIDES, *perm, _flag("--alpha", type=float, default=0.05),
        _flag("--adjust", choices=_ADJUST,
              help="multiple-comparison rule of the LISA classes and Gi* significance: none "
              "(each unit at --alpha, the default), bonferroni (alpha / units), fdr "
              "(Benjamini-Hochberg)"),
        _flag("--fdr", action="store_true", help="same as --adjust fdr"),
        _flag("--bivariate", dest="other_ranking", metavar="BIVARIATE",
              help="another ranking: bivariate Moran of --variable with its score"),
        _flag("--sensitivity", action="store_true",
              help="global statistics under queen, rook, knn:6 and a distance band (the "
              "report's 100km; for --data the smallest readable band giving every unit a "
              "neighbour)"),
        _JSON, _flag("--out", type=_path, default="outputs_autocorr"),
    )  # fmt: skip


def _run_flags() -> tuple[Any, ...]:
    """``geotool run``'s options: unset unless given (a study file's own stay)."""
    return (
        _flag("file", nargs="?", type=_path,
              help="a study file (.toml), or your data: a table (CSV, .xlsx) or a geometry "
              "file (GeoPackage, Shapefile or .zip, GeoJSON, GeoParquet) whose attributes "
              "hold the values"),
        _flag("--out", type=_path, help="output folder (default outputs)"),
        _flag("--seed", type=int), _flag("--permutations", type=int),
        _flag("--title", help="the study's title"),
        _flag("--label", dest="labels", action="append", metavar="COL=TEXT",
              help="a readable label of a column for titles and legends (repeatable)"),
        _flag("--lang", choices=["zh", "en"],
              help="language of titles, legends and figures (default: zh for China, en "
              "elsewhere)"),
        _flag("--tiers", choices=["ward", "jenks", "quantiles"],
              help="how a variable's values are classed into tiers (default ward)"),
        _flag("-k", type=int, help="number of tiers (default 4)"),
        _flag("--cdn", action="store_true",
              help="maps load Leaflet from its CDN (smaller, blank offline); default: "
              "self-contained"),
        _OFFLINE, _flag("--basemap", choices=_BASEMAPS),
        _flag("--quiet", dest="quiet_run", action="store_true", help="no progress"), *_data(),
        _flag("--all-numeric", action="store_true",
              help="analyse every numeric column of --data"),
        _flag("--bivariate", action="append", metavar="A:B",
              help="bivariate Moran's I and LISA of two value columns (repeatable)"),
        _flag("--transform", choices=["log", "log1p", "standardise"],
              help="transform every variable (after --per), per year; named in every title"),
        _flag("--per", help="population column: variables become rates"),
        _flag("--smooth", choices=["eb", "spatial_eb"],
              help="empirical-Bayes smoothing of the --per rates (global or spatial); for "
              "counts of events (cases, births) only, refused for amounts such as GDP"),
        _flag("--scale", type=float, default=1.0, help="multiplier of rates (e.g. 10000)"),
        _flag("--weights", help="weights spec for join counts and LISA (default: queen for "
              "counties and --data, knn:6 for districts)"),
        _flag("--set", dest="cluster_set", metavar="SET",
              help="cluster definition set for the map and tooltips (report2020, plans, FILE)"),
        _flag("--adjust", choices=_ADJUST,
              help="multiple-comparison rule of the LISA classes (default none: each unit at "
              "0.05)"),
        *_SIDES,
        _flag("--figures", default="",
              help="static figures for print, e.g. png,svg,pdf (default none: about 4 s a "
              "figure)"),
        _flag("--dpi", type=int, help="resolution of the PNG figures"),
    )  # fmt: skip


def _batch_flags(perm: tuple[Any, ...]) -> tuple[Any, ...]:
    return (
        _flag("file", type=_path, help="CSV or .xlsx: a unit column, value columns"),
        _flag("--id-col", default="adcode", help="column of unit codes or names"),
        _flag("--year-col", help="year column of a long table"),
        _flag("--variables", help="comma-separated (default: numeric)"),
        _flag("--years", help="comma-separated (default: every year)"),
        _flag("--weights", default="queen", help="comma-separated specs: queen,knn:6"),
        _flag("--statistics", default="moran,lisa",
              help="comma-separated: moran, geary, getis_ord_g (global), lisa, gi_star (local)"),
        _flag("--level", default="county", choices=["county", "prefecture", "province"],
              help="bundled layer the units belong to"),
        *perm, _flag("--alpha", type=float, default=0.05),
        _flag("--islands", default="nearest", choices=["nearest", "drop", "keep"]),
        _flag("--workers", type=int,
              help="local dask workers (default: one per CPU, at most 2 per CPU); 0 runs "
              "serially"),
        _flag("--scheduler",
              help="a running dask scheduler: tcp://host:8786 (tls://, ws://, wss://) or its "
              "--scheduler-file"),
        _flag("--connect-timeout", type=float, default=10.0, metavar="SECONDS",
              help="seconds the --scheduler has to answer (default 10)"),
        _flag("--max-tasks", type=int, default=50_000,
              help="refuse a batch of more tasks (variables x years x weights x statistics)"),
        _flag("--max-output-gb", type=float, default=2.0,
              help="refuse a batch whose estimated output (batch.csv, local tables) is larger"),
        _flag("--encoding"), _flag("--sheet"),
        _flag("--out", type=_path, default=Path("outputs/batch")),
    )  # fmt: skip


def parser() -> argparse.ArgumentParser:
    """The ``geotool`` command line: ``command`` names the subcommand."""
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
    for name, text, flags, defaults in _commands():
        command, _, action = name.partition(" ")
        p = sub.add_parser(command, help=text)
        if action:  # boundaries info
            actions = p.add_subparsers(dest="action", required=True)
            p = actions.add_parser(action, help="counts, vintage, datum, islands")
        for names, options in flags:
            p.add_argument(*names, **options)
        p.set_defaults(**defaults)
    return top


#: Library parameters as the CLI spells them: errors name parameters, users see flags.
FLAGS = {
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
SPELLINGS = {
    "log1p=True": "--transform log1p",
    "smooth=None": "no --smooth",
    "transform=None": "no --transform",
    "per=None": "no --per",
    "adjust=None": "no --adjust",
}
_SPELLING = re.compile(r"\b(?:" + "|".join(re.escape(k) for k in SPELLINGS) + r")(?![\w'])")
# a parameter, and a plain quoted word after it: level='prefecture' -> --level prefecture
_PARAM = re.compile(
    r"\b(" + "|".join(FLAGS) + r")=(?:'([\w.:-]+)'(?=[\s).;,]|$)|(True)\b)?"
)  # all_numeric=True -> --all-numeric (a switch takes no value)


#: A quoted value in a message (the user's text, as ``repr`` shows it): never rewritten.
_QUOTED = re.compile(r"""(?<!\w)'[^'\n]*'(?!\w)|(?<!\w)"[^"\n]*"(?!\w)""")


def as_flags(message: str, overrides: dict[str, str] | None = None) -> str:
    """A library message with ``value_col=`` and the like spelled as the CLI's flags.

    Text inside quotes is the user's (a cell, a file name) and stays as it is.
    """
    flags = {**FLAGS, **(overrides or {})}
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

    message = _SPELLING.sub(lambda m: SPELLINGS[m.group(0)], message)
    return _PARAM.sub(spelt, message).rstrip()


