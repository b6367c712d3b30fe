"""``--data`` and ``--geometry`` as a naive or hostile user gives them.

Every case must end in exit status 2 with one actionable line on stderr (no traceback,
no "internal error"), or succeed with every input row accounted for in the match report.
The files are real prefecture names (地级市 abbreviations), written in a temporary folder.
"""

from __future__ import annotations

import json
import logging
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from shapely.geometry import box

from geotool import boundaries
from geotool.cli import main

PROVINCES = ["江苏省"]


def _prefectures() -> gpd.GeoDataFrame:
    p = boundaries.load("prefecture")
    return p[p["province"].isin(PROVINCES)]


def _base(n: int | None = None) -> pd.DataFrame:
    p = _prefectures()
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "省份": p["province"].to_numpy(),
            "地级市": [s.removesuffix("市") for s in p["prefecture"]],  # 苏州, 湖州, ...
            "GDP": rng.uniform(100, 1000, len(p)).round(1),
            "人口": rng.uniform(50, 900, len(p)).round(0),
            "投资": rng.uniform(10, 500, len(p)).round(1),
        }
    )
    return df if n is None else df.head(n)


def _panel(years=(2018, 2019, 2020)) -> pd.DataFrame:
    parts = []
    for i, y in enumerate(years):
        d = _base()
        d["年份"] = y
        d["GDP"] = d["GDP"] * (1 + 0.1 * i) + np.arange(len(d)) * i
        parts.append(d)
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hostile")
    f: dict[str, Path] = {}

    def csv(name: str, df: pd.DataFrame) -> None:
        f[name] = d / name
        df.to_csv(f[name], index=False)

    csv("ok.csv", _base())
    b = _base()
    csv("dup.csv", pd.concat([b, b.iloc[[3]]], ignore_index=True))
    b = _base()
    b.loc[len(b)] = ["江苏省", "江苏省", 1, 2, 3]  # a province among prefectures
    csv("mixed.csv", b)
    csv("two.csv", _base(2))
    b = _base()
    b["GDP"] = 5.0
    csv("equal.csv", b)
    b = _base().astype({"GDP": object})
    b.loc[3, "GDP"] = "—"
    csv("dash.csv", b)
    b = _base().astype({"GDP": object})
    b.loc[1, "GDP"] = np.nan
    csv("blank.csv", b)
    b = _base().astype({"GDP": object})
    b.loc[1, "GDP"] = "1,5"  # a decimal comma: never guessed (Excel's 1,234 is read)
    csv("comma.csv", b)
    b = _base()
    b.loc[0, "GDP"] = -3
    b.loc[1, "GDP"] = 0
    csv("negzero.csv", b)
    b = _base()
    b.loc[0, "人口"] = 0
    csv("zeropop.csv", b)
    b = _base().astype({"人口": object})
    b["人口"] = "多"
    csv("textpop.csv", b)
    csv("panel.csv", _panel())
    csv("panel_missing.csv", _panel().drop(index=5).reset_index(drop=True))
    p = _panel((2019, 2020))
    first3 = p["地级市"].isin(p["地级市"].unique()[:3])
    csv("panel_thin.csv", p[(p["年份"] == 2020) | first3])  # 3 units have both years
    csv("panel_thin_latest.csv", p[(p["年份"] == 2019) | first3])  # 3 units in 2020
    p.loc[p["年份"] == 2019, "GDP"] = 7.0
    csv("panel_equal_year.csv", p)
    b = _base().astype({"GDP": object})
    b.loc[2, "GDP"] = "inf"
    csv("inf.csv", b)
    b = _base()
    b.loc[0, "GDP"] = 1e200
    csv("huge.csv", b)
    csv("header_only.csv", _base(0))
    csv("text_only.csv", _base().assign(备注="见附注")[["地级市", "备注"]])
    b = _base()
    b.insert(3, "GDP2", b["GDP"])
    b.columns = ["省份", "地级市", "GDP", "GDP", "人口", "投资"]
    csv("dupcols.csv", b)
    csv("single_year.csv", _panel((2020,)))
    p = _panel((2019, 2020)).astype({"年份": object})
    p.loc[0, "年份"] = "2020.5"
    csv("half_year.csv", p)
    p = _panel((2019, 2020)).astype({"年份": object})
    p["年份"] = "FY" + p["年份"].astype(str)
    csv("fy_year.csv", p)
    csv("year_numeric.csv", _panel((2019, 2020)).rename(columns={"年份": "year"}))
    b = _base()
    b.columns = ["省份", "地级市", "G" * 300, "人口", "a/b..c"]
    csv("longcols.csv", b)
    b = _base().astype({"地级市": object})
    b.loc[0, "地级市"] = "=cmd|' /C calc'!A0"
    csv("formula.csv", b)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["2020年 地级市 经济数据", None, None, None, None])
    ws.merge_cells("A1:E1")
    ws.append(list(_base().columns))
    for r in _base().itertuples(index=False):
        ws.append(list(r))
    f["merged.xlsx"] = d / "merged.xlsx"
    wb.save(f["merged.xlsx"])

    # own geometry
    p = _prefectures().reset_index()
    g = gpd.GeoDataFrame(
        {"code": p["adcode"].astype(str), "name": p["prefecture"]},
        geometry=p.geometry.to_numpy(),
        crs=4326,
    )
    values = np.random.default_rng(2).uniform(1, 9, len(g))
    csv("own.csv", pd.DataFrame({"code": g["code"], "value": values}))
    csv("own_int.csv", pd.DataFrame({"code": g["code"].astype(int), "value": values}))
    csv("own_names.csv", pd.DataFrame({"name": g["name"], "value": values}))

    def gpkg(name: str, frame: gpd.GeoDataFrame, **kw) -> None:
        f[name] = d / name
        frame.to_file(f[name], driver="GPKG", **kw)

    gpkg("own.gpkg", g)
    gpkg("two.gpkg", g, layer="a")
    g.to_file(d / "two.gpkg", driver="GPKG", layer="b")
    gpkg("lines.gpkg", g.assign(geometry=g.boundary))
    gpkg("points.gpkg", g.assign(geometry=g.representative_point()))
    gpkg("proj.gpkg", g.to_crs(32650))
    gpkg("dupids.gpkg", pd.concat([g, g.iloc[[0]]]))
    gpkg("otherids.gpkg", g.assign(code="X" + g["code"]))
    gpkg("zpad.gpkg", g.assign(code="0" + g["code"]))
    far = g.assign(
        geometry=[
            box(x, y, x + 1e4, y + 1e4)
            for x, y in zip(
                5e5 + 1e4 * (np.arange(len(g)) % 8),
                4e6 + 1e4 * (np.arange(len(g)) // 8),
                strict=True,
            )
        ]
    )
    f["nocrs.shp"] = d / "nocrs.shp"
    with warnings.catch_warnings():  # the point of the file: it has no CRS
        warnings.simplefilter("ignore", UserWarning)
        far.set_crs(None, allow_override=True).to_file(f["nocrs.shp"])
    f["gbk.shp"] = d / "gbk.shp"
    g.to_file(f["gbk.shp"], encoding="gbk")
    (d / "gbk.cpg").unlink(missing_ok=True)  # detected, not declared
    f["empty.gpkg"] = d / "empty.gpkg"
    f["empty.gpkg"].write_bytes(b"")
    f["noshp.zip"] = d / "noshp.zip"
    with zipfile.ZipFile(f["noshp.zip"], "w") as z:
        z.writestr("readme.txt", "polygons to follow")
    f["dir"] = d
    return f


def _run(argv: list[str], capsys) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return rc, err


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("geotool: error")]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    return lines[0]


R = ["run", "--quiet", "--permutations", "99"]

# argv (file names stand for the fixture's files), a fragment of the one error line
REFUSED = [
    pytest.param(
        [*R, "--data", "dup.csv", "--value-col", "GDP"], "320400: lines 5, 15", id="duplicate unit"
    ),
    pytest.param(
        [*R, "--data", "two.csv", "--value-col", "GDP"],
        "has 2 matched unit(s); spatial statistics need at least 4",
        id="two rows",
    ),
    pytest.param(
        [*R, "--data", "equal.csv", "--value-col", "GDP"], "single distinct", id="all values equal"
    ),
    pytest.param(
        [*R, "--data", "dash.csv", "--value-col", "GDP"], "are missing at line 5",
        id="dash as value",
    ),
    pytest.param(
        [*R, "--data", "blank.csv", "--value-col", "GDP"], "--value-col 'GDP'", id="blank value"
    ),
    pytest.param(
        [*R, "--data", "comma.csv", "--value-col", "GDP"],
        "'1,5' at line 3",
        id="decimal comma",
    ),
    pytest.param(
        [*R, "--data", "negzero.csv", "--value-col", "GDP", "--transform", "log"],
        "--transform log1p",
        id="log of zero and negative",
    ),
    pytest.param(
        [*R, "--data", "zeropop.csv", "--value-col", "GDP", "--per", "人口"],
        "positive population",
        id="zero population",
    ),
    pytest.param(
        [*R, "--data", "textpop.csv", "--value-col", "GDP", "--per", "人口"],
        "--per '人口'",
        id="text population",
    ),
    pytest.param(
        [*R, "--data", "half_year.csv", "--value-col", "GDP", "--year-col", "年份"],
        "not a year on line 2",
        id="year 2020.5",
    ),
    pytest.param(
        [*R, "--data", "fy_year.csv", "--value-col", "GDP", "--year-col", "年份"],
        "FY2019",
        id="year FY2020",
    ),
    pytest.param(
        [*R, "--data", "ok.csv", "--value-col", "地级市"],
        "is the name column",
        id="value is the name",
    ),
    pytest.param(
        [*R, "--data", "panel.csv", "--value-col", "年份", "--year-col", "年份"],
        "is the year column (--year-col)",
        id="value is the year",
    ),
    pytest.param(
        [*R, "--data", "ok.csv", "--value-col", "GDP,人口", "--per", "人口"],
        "is the population column (--per)",
        id="value is the population",
    ),
    pytest.param(
        [*R, "--data", "ok.csv", "--value-col", "GDP,投资", "--bivariate", "GDP:XX"],
        "['XX'], which are not value columns",
        id="bivariate unknown",
    ),
    pytest.param(
        [*R, "--data", "ok.csv", "--value-col", "GDP,投资", "--bivariate", "GDP:GDP"],
        "with itself",
        id="bivariate with itself",
    ),
    pytest.param(
        [*R, "--data", "ok.csv", "--value-col", "GDP", "--per", "人口", "--scale", "0"],
        "positive number",
        id="scale 0",
    ),
    pytest.param(
        [*R, "--data", "ok.csv", "--value-col", "GDP", "--per", "人口", "--scale", "-1"],
        "positive number",
        id="scale -1",
    ),
    pytest.param(
        [*R, "--data", "ok.csv", "--value-col", "GDP", "--per", "人口", "--scale", "nan"],
        "positive number",
        id="scale nan",
    ),
    pytest.param(
        [*R, "--data", "ok.csv", "--value-col", "GDP", "--smooth", "eb"],
        "pass --per (the population column) or drop --smooth.",
        id="smooth without per",
    ),
    pytest.param(
        [*R, "--data", "own.csv", "--geometry", "own.csv"], "not a geometry", id="geometry is a CSV"
    ),
    pytest.param(
        [*R, "--data", "own.csv", "--geometry", "empty.gpkg"],
        "empty (0 bytes)",
        id="geometry empty",
    ),
    pytest.param(
        [*R, "--data", "own.csv", "--geometry", "dir"], "is a folder", id="geometry a folder"
    ),
    pytest.param(
        [*R, "--data", "own.csv", "--geometry", "noshp.zip"],
        "holds no Shapefile (.shp; it holds ['readme.txt'])",
        id="zip without shp",
    ),
    pytest.param(
        [*R, "--data", "own.csv", "--geometry", "two.gpkg"],
        "pass --layer naming one",
        id="two layers",
    ),
    pytest.param(
        [*R, "--data", "own.csv", "--geometry", "lines.gpkg"], "polygons or points", id="lines"
    ),
    pytest.param(
        [*R, "--data", "ok.csv", "--value-col", "GDP", "--scale", "10000"],
        "no population column was given; pass --per (the population column), or drop --scale.",
        id="scale without per",
    ),
    pytest.param(
        [*R, "--data", "ok.csv", "--value-col", "GDP", "--all-numeric"],
        "Pass --value-col or --all-numeric, not both",
        id="value-col and all-numeric",
    ),
    pytest.param(
        [*R, "--data", "ok.csv", "--value-col", "GDP,GDP"],
        "--value-col names a column twice",
        id="value column twice",
    ),
    pytest.param(
        [*R, "--data", "text_only.csv", "--all-numeric"],
        "has no column of numbers besides its units and years (other columns: ['备注'])",
        id="no numeric column",
    ),
    pytest.param(
        [
            "autocorr",
            "--data",
            "ok.csv",
            "--value-col",
            "GDP",
            "--bivariate",
            "industrial_counties",
        ],
        "holds prefecture units; pair two of your columns",
        id="autocorr bivariate ranking with prefectures",
    ),
    pytest.param(
        ["autocorr", "--data", "own.csv", "--geometry", "points.gpkg"],
        "knn:K",
        id="points with queen",
    ),
    pytest.param(
        [*R, "--data", "own.csv", "--geometry", "dupids.gpkg", "--id-col", "code"],
        "1 duplicated: '320100'",
        id="duplicate geometry ids",
    ),
    pytest.param(
        [*R, "--data", "own.csv", "--geometry", "otherids.gpkg", "--id-col", "code"],
        "no such id",
        id="ids the table lacks",
    ),
    pytest.param(
        [*R, "--data", "own_int.csv", "--geometry", "zpad.gpkg", "--id-col", "code"],
        "the geometry has '0320100' (leading zeros lost?",
        id="leading zeros lost",
    ),
    pytest.param(
        [*R, "--data", "own.csv", "--geometry", "own.gpkg", "--level", "prefecture"],
        "--level prefecture chooses bundled units, but --geometry gives your own polygons",
        id="geometry with level",
    ),
    pytest.param(
        [*R, "--data", "panel_thin.csv", "--value-col", "GDP"],
        "Only 3 of 13 units have a row in every year of --year-col 年份",
        id="unbalanced panel",
    ),
    pytest.param(
        [*R, "--data", "panel_thin_latest.csv", "--value-col", "GDP"],
        "3 matched unit(s) in the latest year (2020)",
        id="thin latest year",
    ),
    pytest.param(
        [*R, "--data", "panel_equal_year.csv", "--value-col", "GDP"],
        "single distinct value in 年份 2019",
        id="one year all equal",
    ),
    pytest.param(
        [*R, "--data", "own.csv", "--geometry", "points.gpkg", "--weights", "knn:4"],
        "--geometry holds Point",
        id="points in a run",
    ),
    pytest.param([*R, "--data", "inf.csv", "--value-col", "GDP"], "infinite at line 4", id="inf"),
    pytest.param([*R, "--data", "huge.csv", "--value-col", "GDP"], "1e+200", id="1e200"),
    pytest.param([*R, "--data", "header_only.csv"], "no data rows", id="header only"),
    pytest.param([*R, "--data", "dupcols.csv"], "repeats column names", id="repeated column"),
    pytest.param(
        ["autocorr", "--data", "two.csv", "--value-col", "GDP"], "3 units", id="autocorr two rows"
    ),
    pytest.param(
        ["tiers", "--data", "equal.csv", "--score", "GDP"], "1 distinct", id="tiers all equal"
    ),
    pytest.param(
        ["tiers", "--data", "two.csv", "--score", "GDP"], "use -k 2 or fewer", id="tiers two rows"
    ),
    pytest.param([*R, "--data", "ok.csv"], "or use --all-numeric.", id="no value column"),
    pytest.param(["map", "--data", "equal.csv", "--value-col", "GDP"], "2", id="map all equal"),
]


def _argv(argv: list[str], files: dict[str, Path], out: Path) -> list[str]:
    args = [str(files.get(a, a)) for a in argv]
    target = out.with_suffix(".html") if args[0] == "map" else out
    return [*args, "--out", str(target)]


@pytest.mark.parametrize(("argv", "fragment"), REFUSED)
def test_refused_with_one_actionable_line(argv, fragment, files, tmp_path, capsys):
    rc, err = _run(_argv(argv, files, tmp_path / "out"), capsys)
    line = _error_line(err)
    assert rc == 2, err
    assert fragment in line, line
    assert "  " not in line  # no flag left dangling by a translated parameter


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def _report(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "tables" / "match_report.csv", encoding="utf-8-sig", dtype=str)


ACCOUNTED = [
    # argv, (rows in the file, units analysed, rows matched)
    pytest.param(  # read as a plane in its own units, as GeoDa reads Columbus (a warning)
        [*R, "--data", "own.csv", "--geometry", "nocrs.shp"],
        (13, 13, 13),
        id="no CRS far from China",
    ),
    pytest.param(
        [*R, "--data", "single_year.csv", "--value-col", "GDP", "--year-col", "年份"],
        (13, 13, 13),
        id="single year panel",
    ),
    pytest.param(
        [*R, "--data", "year_numeric.csv", "--all-numeric"],
        (26, 13, 26),
        id="year column with --all-numeric",
    ),
    pytest.param(
        [*R, "--data", "formula.csv", "--value-col", "GDP", "--max-unmatched", "0.1"],
        (13, 12, 12),
        id="formula-like name",
    ),
    pytest.param(  # the province's row among its prefectures: their total, set aside
        [*R, "--data", "mixed.csv", "--value-col", "GDP"],
        (14, 13, 13),
        id="province among prefectures",
    ),
    pytest.param(
        [*R, "--data", "longcols.csv", "--all-numeric"],
        (13, 13, 13),
        id="long and odd column names",
    ),
    pytest.param(
        [*R, "--data", "own_int.csv", "--geometry", "own.gpkg", "--id-col", "code"],
        (13, 13, 13),
        id="int ids vs string ids",
    ),
    pytest.param(
        [*R, "--data", "own_names.csv", "--geometry", "gbk.shp"],
        (13, 13, 13),
        id="GBK shapefile joined by name",
    ),
    pytest.param(
        [
            *R,
            "--data",
            "own.csv",
            "--geometry",
            "proj.gpkg",
            "--id-col",
            "code",
            "--datum",
            "gcj02",
        ],
        (13, 13, 13),
        id="datum with a projected file",
    ),
]


@pytest.mark.parametrize(("argv", "expected"), ACCOUNTED)
def test_success_accounts_for_every_row(argv, expected, files, tmp_path, capsys):
    rows, units, matched = expected
    out = tmp_path / "out"
    rc, err = _run(_argv(argv, files, out), capsys)
    assert rc == 0, err
    s = _summary(out)
    assert s["input"]["rows"] == rows and s["input"]["units"] == units
    assert sum(s["match"].values()) == rows and s["match"]["matched"] == matched
    report = _report(out)
    lines = report["line"].astype(int).tolist()  # the lines of the file: header on line 1
    assert len(report) == rows and lines == list(range(2, rows + 2))


def test_a_title_merged_above_the_header_is_read_as_a_title(files, tmp_path, capsys, caplog):
    """A sheet's title in cells merged above the header (refused before, "no name"): the
    header is the row below it, every data row accounted for by its sheet row."""
    out = tmp_path / "out"
    argv = ["run", "--permutations", "99", "--data", "merged.xlsx", "--value-col", "GDP"]
    with caplog.at_level(logging.INFO):  # the root's: the command leaves geotool's unset
        rc, err = _run(_argv(argv, files, out), capsys)
    assert rc == 0, err
    assert "row 1 above the header is the table's title ('2020年 地级市 经济数据')" in caplog.text
    s = _summary(out)
    assert s["input"]["rows"] == 13 and s["match"]["matched"] == 13
    assert _report(out)["line"].astype(int).tolist() == list(range(3, 16))


def test_tiers_of_one_year_and_autocorr_of_points(files, tmp_path, capsys):
    """``tiers --data --year-col`` with one year is a cross-section; points take knn."""
    argv = ["tiers", "--data", "single_year.csv", "--score", "GDP", "--year-col", "年份"]
    rc, err = _run(_argv(argv, files, tmp_path / "t"), capsys)
    assert rc == 0, err
    argv = ["autocorr", "--data", "own.csv", "--geometry", "points.gpkg", "--weights", "knn:4"]
    rc, err = _run([*_argv(argv, files, tmp_path / "a"), "--permutations", "99", "--json"], capsys)
    assert rc == 0, err
    lisa = next((tmp_path / "a").glob("lisa_*.csv"))
    assert len(pd.read_csv(lisa)) == 13


def test_panel_with_a_missing_year_says_who_is_left_out(files, tmp_path, capsys):
    out = tmp_path / "out"
    rc, err = _run(
        _argv([*R, "--data", "panel_missing.csv", "--value-col", "GDP"], files, out), capsys
    )
    assert rc == 0, err
    assert _summary(out)["match"] == {"matched": 38} and len(_report(out)) == 38
    dyn = _summary(out)["dynamics"]["gdp"]
    assert (dyn["units"], dyn["dropped"]) == (12, 1)
    dropped = pd.read_csv(out / "tables" / "dynamics_dropped_gdp.csv", dtype=str)
    assert dropped["unit"].tolist() == ["320600"]
    assert "1 units are left out of the dynamics (why: tables/dynamics_dropped_" in err
