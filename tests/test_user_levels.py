"""A user's own data at every level, through the CLI and the API: the same numbers.

Real names as economists type them (苏州, 恩施, 延边, 襄樊市, 内蒙), GBK files, a
prefecture table, a province table, a county table with 县市/地市/省份 headers, and
polygons nobody bundled (counties split into township-like pieces) in GCJ-02 and in a
projected CRS, through ``geotool run --data ... --geometry ...``.
"""

import json
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geotool import boundaries, datum, match
from geotool._errors import InputError
from geotool.pipeline import run
from geotool.study import Study
from geotool.userdata import load_user_table

from .conftest import ROOT
from .test_cli import run_main

#: Provinces of the prefecture table: a connected block of eastern and central China.
_PROVINCES = ("江苏省", "浙江省", "安徽省", "上海市", "山东省", "江西省", "湖北省", "河南省")
#: What people type for some of them (the table must still resolve every row).
_TYPED = {
    "苏州市": "苏州",
    "襄阳市": "襄樊市",  # the name before 2010
    "恩施土家族苗族自治州": "恩施",
    "无锡市": "无锡市",
    "上海市": "上海",
}


def _prefecture_values(pref: gpd.GeoDataFrame) -> pd.Series:
    """A value that falls with distance from Shanghai (spatially structured), rounded."""
    pts = pref.to_crs("EPSG:3857").geometry.representative_point()
    shanghai = pts.loc["310100"]
    km = pts.distance(shanghai) / 1000
    return (1000 - km).round(1)


@pytest.fixture(scope="module")
def prefecture_table(tmp_path_factory):
    pref = boundaries.load("prefecture")
    pref = pref[pref["province"].isin(_PROVINCES) & ~pref.index.str.endswith("9000")]
    values = _prefecture_values(pref)
    names = [_TYPED.get(n, n) for n in pref["prefecture"]]
    extra = pd.DataFrame(  # beyond the block: a municipality, an autonomous prefecture far away
        {"城市": ["北京", "天津市", "重庆市", "延边"], "GDP": [900.0, 800.0, 300.0, 100.0]}
    )
    table = pd.concat(
        [pd.DataFrame({"城市": names, "GDP": values.to_numpy()}), extra], ignore_index=True
    )
    path = tmp_path_factory.mktemp("pref") / "地级市GDP.csv"
    table.to_csv(path, index=False, encoding="gbk")
    return path, table


def test_prefecture_table_resolves_every_row_at_its_level(prefecture_table):
    path, table = prefecture_table
    t = load_user_table(path, None)
    assert t.level == "prefecture"
    assert len(t.rows) == len(table)  # every row, none dropped
    codes = dict(zip(t.raw["城市"], t.rows["adcode"], strict=True))
    assert codes["苏州"] == "320500"
    assert codes["襄樊市"] == "420600"
    assert codes["恩施"] == "422800"
    assert codes["延边"] == "222400"
    assert codes["北京"] == "110100" and codes["上海"] == "310100"
    assert codes["重庆市"] == "500100"
    assert t.units is not None and set(t.units.index) == set(t.rows["adcode"])


def test_prefecture_run_through_the_cli(prefecture_table, tmp_path):
    path, table = prefecture_table
    out = tmp_path / "o"
    proc = run_main("run", "--data", str(path), "--out", str(out), "--permutations", "99")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["input"]["level"] == "prefecture"
    assert summary["input"]["units"] == len(table)
    res = summary["autocorrelation"]["gdp"]
    # a value falling with distance from Shanghai is strongly clustered
    assert res["moran_i"]["queen"]["value"] > 0.5
    assert res["weights_report"]["units"] == len(table)
    # the terminal says n, Moran's I and, in one line per weights, the islands bridged; the
    # units (延边, 重庆) are in tables/islands.csv
    assert f"n {len(table)}, Moran's I" in proc.stderr
    assert "queen weights:" in proc.stderr and "without neighbours" in proc.stderr
    assert "延边" in (out / "tables" / "islands.csv").read_text(encoding="utf-8-sig")
    # city clusters at prefecture level: 苏州 is in the Yangtze delta under the report's set
    counts = pd.read_csv(out / "tables" / "clusters_counts_report2020.csv")
    delta = counts.loc[counts["cluster_id"] == "yangtze_delta", "units"].iloc[0]
    assert "苏州市" in delta
    # maps titled from the column, and an index page naming the table
    lisa = (out / "maps" / "lisa.html").read_text(encoding="utf-8")
    assert "GDP" in lisa and "2020 rankings" not in lisa
    assert (out / "maps" / "values_gdp.html").exists()
    assert (out / "maps" / "clusters.html").exists()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "地级市GDP" in index and "GDP" in index


def test_the_prefecture_example_resolves_every_row():
    """The shipped example: the report's ranked units counted per prefecture, in GBK."""
    t = load_user_table(ROOT / "examples" / "prefecture_top100_gbk.csv", None, all_numeric=True)
    assert t.level == "prefecture" and len(t.rows) == len(t.raw) == 367
    assert t.value_cols == ["工业百强县", "工业百强区", "创新百强县"]
    assert (t.rows[t.value_cols].sum() == 100).all()  # every ranked unit counted once
    codes = dict(zip(t.raw["城市"], t.rows["adcode"], strict=True))
    assert codes["延边州"] == "222400" and codes["恩施州"] == "422800"


def test_the_prefecture_example_through_the_cli_with_its_columns_named(tmp_path, shared_run):
    """Issue 23's bug: naming 省份 and 城市 (the table has no other name column) was refused.

    The finest column named holds the names: every row matches its prefecture, in its
    province, through ``geotool match`` and ``geotool run`` alike.
    """
    data = str(ROOT / "examples" / "prefecture_top100_gbk.csv")
    flags = ("--province-col", "省份", "--prefecture-col", "城市")
    proc = run_main("match", data, *flags, "--out", str(tmp_path / "m.csv"))
    assert proc.returncode == 0, proc.stderr
    report = pd.read_csv(tmp_path / "m.csv", encoding="utf-8-sig", dtype=str)
    assert len(report) == 367 and (report["match_status"] == "matched").all()
    gaz = match.gazetteer("prefecture").loc[report["adcode"]]
    assert (gaz["province"].to_numpy() == report["省份"].to_numpy()).all()
    # the full name, or what people write for an autonomous prefecture (恩施州)
    full = gaz["name"].to_numpy() == report["城市"].to_numpy()
    short = [match.core(n) + "州" == t for n, t in zip(gaz["name"], report["城市"], strict=True)]
    assert (full | np.array(short)).all() and full.sum() > 300
    assert report["adcode"].is_unique
    run = shared_run("prefecture_gbk")  # the same file and flags, --all-numeric
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.out
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["input"]["level"] == "prefecture" and summary["input"]["units"] == 367
    assert summary["match"] == {"matched": 367}
    table = pd.read_csv(out / "tables" / "match_report.csv", encoding="utf-8-sig", dtype=str)
    assert table["adcode"].tolist() == report["adcode"].tolist()


def test_province_table(tmp_path):
    prov = boundaries.load("province")
    typed = {"内蒙古自治区": "内蒙", "新疆维吾尔自治区": "新疆", "广西壮族自治区": "广西壮族自治区"}
    mainland = prov[~prov["province"].isin(["香港特别行政区", "澳门特别行政区", "台湾省"])]
    pts = mainland.to_crs("EPSG:3857").geometry.representative_point()
    table = pd.DataFrame(
        {
            "省份": [typed.get(n, n) for n in mainland["province"]],
            "value": (pts.x / 1e5).round(2).to_numpy(),  # rises to the east
        }
    )
    path = tmp_path / "provinces.csv"
    table.to_csv(path, index=False, encoding="utf-8")
    t = load_user_table(path, None)
    assert t.level == "province"
    codes = dict(zip(t.raw["省份"], t.rows["adcode"], strict=True))
    assert codes["内蒙"] == "150000" and codes["新疆"] == "650000"
    assert codes["广西壮族自治区"] == "450000"
    proc = run_main(
        "autocorr", "--data", str(path), "--out", str(tmp_path / "a"), "--permutations", "99"
    )
    assert proc.returncode == 0, proc.stderr
    assert "31 units" in proc.stdout


def test_a_county_name_at_prefecture_level_says_so(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"城市": ["苏州市", "无锡市", "南京市"], "x": [1.0, 2.0, 3.0]}).to_csv(
        path, index=False
    )
    proc = run_main("run", "--data", str(path), "--level", "county", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "prefecture" in proc.stderr and "--level prefecture" in proc.stderr


# ---------------------------------------------------------------- own geometry


def _townships() -> gpd.GeoDataFrame:
    """Township-like polygons: 40 southern Jiangsu counties, each cut in two or three."""
    counties = boundaries.load("county")
    counties = counties[counties["prefecture"].isin(["苏州市", "无锡市", "常州市", "南京市"])]
    rows = []
    for code, geom in zip(counties.index, counties.geometry, strict=True):
        x0, _, x1, _ = geom.bounds
        cuts = 3 if int(code[-2:]) % 2 else 2
        edges = np.linspace(x0, x1, cuts + 1)
        for i in range(cuts):
            part = shapely.intersection(geom, shapely.box(edges[i], -90, edges[i + 1], 90))
            if not part.is_empty and part.area > 0:
                rows.append({"code": f"{code}{i:03d}", "名称": f"{code}-{i}", "geometry": part})
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


@pytest.fixture(scope="module")
def own_geometry(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    towns = _townships()
    pts = towns.to_crs("EPSG:32651").geometry.representative_point()
    table = pd.DataFrame(
        {"code": towns["code"], "产值": (pts.y / 1000 - pts.x / 2000).round(3).to_numpy()}
    )
    table_path = root / "towns.csv"
    table.to_csv(table_path, index=False, encoding="gbk")
    # (a) a GeoPackage in GCJ-02 longitude/latitude, as an AMap-derived file would be
    gcj = towns.copy()
    gcj["geometry"] = datum.transform_geometries(towns.geometry.to_numpy(), to="gcj02")
    gpkg = root / "towns_gcj02.gpkg"
    gcj.to_file(gpkg, driver="GPKG")
    # (b) a zipped Shapefile in a projected CRS (UTM 51N), attributes in GBK
    shp_dir = root / "shp"
    shp_dir.mkdir()
    towns.to_crs("EPSG:32651").to_file(shp_dir / "towns.shp", encoding="gbk")
    zipped = root / "towns_utm.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for f in shp_dir.iterdir():
            zf.write(f, f.name)
    return towns, table_path, gpkg, zipped


@pytest.fixture(scope="module")
def own_geometry_api(own_geometry, tmp_path_factory):
    """The API's run of the towns (default seed, 99 permutations): the CLI's reference."""
    from geotool import settings

    towns, table_path, _, _ = own_geometry
    out = tmp_path_factory.mktemp("own_api")
    study = Study(
        data=table_path, geometry=towns.set_index("code"), id_col="code",
        out=out, seed=settings.seed, permutations=99,
    )  # fmt: skip
    return run(study), out


@pytest.mark.parametrize("kind", ["gpkg", "zip"])
def test_own_geometry_runs_end_to_end_with_the_same_numbers_as_the_api(
    own_geometry, own_geometry_api, kind, tmp_path
):
    towns, table_path, gpkg, zipped = own_geometry
    geo_path, extra = (gpkg, ["--datum", "gcj02"]) if kind == "gpkg" else (zipped, [])
    out = tmp_path / "cli"
    proc = run_main(
        "run", "--data", str(table_path), "--geometry", str(geo_path), "--id-col", "code",
        "--out", str(out), "--permutations", "99", *extra,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cli = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert cli["input"]["level"] == "own"
    assert cli["input"]["units"] == len(towns)
    api, api_out = own_geometry_api
    assert api["seed"] == cli["seed"]  # the same permutations
    mi_cli = cli["autocorrelation"]["chanzhi"]["moran_i"]["queen"]
    mi_api = api["autocorrelation"]["chanzhi"]["moran_i"]["queen"]
    assert mi_cli["value"] == pytest.approx(mi_api["value"], abs=1e-12)
    assert mi_cli["p_sim"] == mi_api["p_sim"]
    assert mi_cli["value"] > 0.5  # the values have a strong north-south trend
    lisa_cli = pd.read_csv(out / "tables" / "lisa_chanzhi.csv", dtype={"adcode": str})
    lisa_api = pd.read_csv(api_out / "tables" / "lisa_chanzhi.csv", dtype={"adcode": str})
    pd.testing.assert_frame_equal(lisa_cli, lisa_api)
    assert (out / "maps" / "values_chanzhi.html").exists()
    assert not (out / "maps" / "clusters.html").exists()  # no city clusters on own units


def test_panel_with_several_rates_through_the_cli(own_geometry, tmp_path):
    """Three years with mixed labels, two variables as EB-smoothed rates per 人口."""
    towns, _, gpkg, _ = own_geometry
    pts = towns.to_crs("EPSG:32651").geometry.representative_point()
    rng = np.random.default_rng(7)
    rows = []
    for i, label in enumerate(["2018", "2019年", 2020.0]):
        people = rng.integers(2_000, 80_000, len(towns))
        trend = (pts.y.to_numpy() - pts.y.mean()) / 1e5
        rows.append(
            pd.DataFrame(
                {
                    "code": towns["code"],
                    "年份": label,
                    "人口": people,
                    "企业数": rng.poisson(people * np.exp(-4 + trend + 0.1 * i)),
                    "专利": rng.poisson(people * np.exp(-6 - trend)),
                }
            )
        )
    path = tmp_path / "panel.csv"
    pd.concat(rows).to_csv(path, index=False, encoding="gbk")
    out = tmp_path / "o"
    proc = run_main(
        "run", "--data", str(path), "--geometry", str(gpkg), "--datum", "gcj02",
        "--id-col", "code", "--year-col", "年份", "--value-col", "企业数,专利",
        "--per", "人口", "--smooth", "eb", "--scale", "10000", "--bivariate",
        "企业数:专利", "--out", str(out), "--permutations", "99",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["input"]["value_cols"] == [
        "企业数（每万人口，经验贝叶斯平滑）",
        "专利（每万人口，经验贝叶斯平滑）",
    ]
    dyn = summary["dynamics"]
    assert len(dyn) == 2
    for res in dyn.values():
        assert sorted(res["moran_by_year"]) == ["2018", "2019", "2020"]  # one year, not two
        assert res["units"] == len(towns) and res["dropped"] == 0
        assert {t["statistic"] for t in res["spatial_markov_tests"]} >= {"Q", "chi2"}
    # the rates rise to the north: positive autocorrelation every year
    first = next(iter(dyn.values()))
    assert all(v["value"] > 0.2 for v in first["moran_by_year"].values())
    tables = {p.name for p in (out / "tables").iterdir()}
    key = next(iter(dyn))
    for name in ("moran_by_year", "rank_mobility", "spatial_markov", "lisa_markov", "markov",
                 "tests"):  # one long table per kind of result  # fmt: skip
        assert f"dynamics_{name}_{key}.csv" in tables
    assert any(n.startswith("lisa_bv_") for n in tables)
    assert "Moran's I by year" in proc.stderr and "neighbours" in proc.stderr
    lisa = (out / "maps" / "lisa.html").read_text(encoding="utf-8")
    assert "经验贝叶斯平滑" in lisa  # the transform is named in the map's titles


def test_unmatched_rows_name_the_column_that_would_resolve_them(tmp_path):
    """鼓楼区 is in 南京 and 徐州: with 省份 given, the fix is a prefecture column."""
    table = pd.DataFrame({"省份": ["江苏省"] * 4 + ["浙江省"],
                          "县区": ["玄武区", "鼓楼区", "秦淮区", "不存在县", "西湖区"],
                          "产值": [1.0, 2.0, 3.0, 4.0, 5.0]})  # fmt: skip
    path = tmp_path / "县区.csv"
    table.to_csv(path, index=False, encoding="gbk")
    proc = run_main("run", str(path), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert "2 of 5 rows are not matched (1 unmatched, 1 ambiguous" in line
    assert "add a prefecture column" in line and "--max-unmatched 0.4" in line
    report = pd.read_csv(tmp_path / "o.match_report.csv")
    assert report.set_index("县区").loc["鼓楼区", "match_status"] == "ambiguous"
    table.drop(columns="省份").to_csv(path, index=False, encoding="gbk")
    line = run_main("run", str(path), "--out", str(tmp_path / "o")).stderr.splitlines()[-1]
    assert "add a province column" in line


def test_a_value_column_exported_with_thousands_separators_is_the_value(tmp_path):
    """Excel writes 1,435.6 as text; the column is still the table's value column."""
    county = boundaries.load("county")
    js = county[county["province"] == "江苏省"].head(30)
    values = np.linspace(900.5, 12345.25, len(js))
    table = pd.DataFrame({"县区": js["name"].to_numpy(), "代码": js.index.to_numpy(),
                          "工业增加值（亿元）": [f"{x:,.2f}" for x in values]})  # fmt: skip
    path = tmp_path / "县区.csv"
    table.to_csv(path, index=False, encoding="gbk")
    t = load_user_table(path, None)
    assert t.value_cols == ["工业增加值（亿元）"]
    assert '"12,345.25"' in path.read_text(encoding="gbk")  # as Excel exports it
    got = t.rows.set_index("adcode")["工业增加值（亿元）"].astype(float)
    assert np.allclose(got.loc[js.index].to_numpy(), values.round(2))


def test_blank_and_total_rows_are_set_aside_and_reported(tmp_path):
    """A yearbook sheet: blank rows and a 全省合计 row are not units, nor unmatched rows."""
    county = boundaries.load("county")
    unique = ~county["name"].duplicated(keep=False)  # not 鼓楼区 (南京, 徐州 ...)
    js = county[(county["province"] == "江苏省") & unique].head(12)
    rows = [[n, "江苏省", float(i)] for i, n in enumerate(js["name"], start=1)]
    rows[4:4] = [[None, None, None]]
    rows += [["全省合计", None, 78.0], ["  ", " ", None], ["不存在县", "江苏省", 3.0],
             ["无锡市合计", None, 9.0], ["合　计", None, 78.0], ["其中：县级市", None, 40.0],
             ["注：数据来自江苏统计年鉴", None, None]]  # a yearbook's other ways of ending
    path = tmp_path / "年鉴.csv"
    pd.DataFrame(rows, columns=["县区", "省份", "产值"]).to_csv(path, index=False, encoding="gbk")
    report_path = tmp_path / "report.csv"
    t = load_user_table(path, report_path, max_unmatched=0.1)
    assert len(t.rows) == 12 and set(t.rows["adcode"]) == set(js.index)
    report = pd.read_csv(report_path)
    assert report["match_status"].value_counts().to_dict() == {
        "matched": 12, "blank": 2, "total": 5, "unmatched": 1
    }
    assert report.loc[report["match_status"] == "total", "县区"].tolist() == [
        "全省合计", "无锡市合计", "合　计", "其中：县级市", "注：数据来自江苏统计年鉴"]
    with pytest.raises(match.MatchError, match="1 of 20 rows are not matched"):
        load_user_table(path, None, max_unmatched=0.0)  # only 不存在县 counts


def test_a_wide_table_of_years_says_how_to_make_it_a_panel(tmp_path):
    county = boundaries.load("county")
    js = county[county["province"] == "江苏省"].head(6)
    table = pd.DataFrame({"代码": js.index, "2019年": range(6), "2020年": range(1, 7),
                          "2021 年": range(2, 8)})  # fmt: skip
    path = tmp_path / "wide.csv"
    table.to_csv(path, index=False, encoding="gbk")
    with pytest.raises(InputError, match=r"look like the years of one variable .* year_col="):
        load_user_table(path, None)
    t = load_user_table(path, None, all_numeric=True)  # each year its own variable: allowed
    assert t.value_cols == ["2019年", "2020年", "2021 年"]


def test_the_province_or_prefecture_above_its_units_is_their_total(tmp_path):
    """Yearbooks print the province (or the prefecture) above its units: that row is
    their total, set aside with status ``total``; a unit of the coarser level that does not
    hold them all is not (浙江省 among 江苏's counties stays an unmatched row)."""
    rows = ["江苏省", "无锡市", "江阴市", "宜兴市", "锡山区", "惠山区", "滨湖区", "梁溪区",
            "新吴区"]
    path = tmp_path / "wuxi.csv"
    pd.DataFrame({"县市": rows, "产值": range(9, 0, -1)}).to_csv(path, index=False)
    t = load_user_table(path, tmp_path / "report.csv", value_col="产值")
    assert len(t.rows) == 7
    report = pd.read_csv(tmp_path / "report.csv", dtype=str)
    status = dict(zip(report["县市"], report["match_status"], strict=True))
    assert status["江苏省"] == status["无锡市"] == "total"
    assert sum(s == "matched" for s in status.values()) == 7
    assert report.loc[report["match_status"] == "total", "match_candidates"].isna().all()
    yearbook = tmp_path / "yearbook.csv"  # a blank province cell, a rate beside, 合计, 江苏
    rows = [["", "江苏省", "9", "5.2%"], ["江苏省", "无锡市", "3", "6.1%"],
            ["江苏省", "苏州市", "4", "5.0%"], ["江苏省", "南京市", "2", "4.9%"],
            ["江苏省", "常州市", "1", "5.5%"], ["", "合计", "10", ""], ["江苏", "", "", ""]]
    pd.DataFrame(rows, columns=["省份", "城市", "产值", "增速"]).to_csv(yearbook, index=False)
    load_user_table(yearbook, tmp_path / "y.csv", value_col="产值", level="prefecture")
    statuses = pd.read_csv(tmp_path / "y.csv")["match_status"].tolist()
    assert statuses == ["total", *["matched"] * 4, "total", "total"]
    other = tmp_path / "other.csv"
    counties = ["浙江省", "江阴市", "宜兴市", "锡山区", "惠山区", "滨湖区", "梁溪区", "新吴区"]
    pd.DataFrame({"县市": counties, "产值": range(8)}).to_csv(other, index=False)
    with pytest.raises(InputError, match="not matched"):
        load_user_table(other, None, value_col="产值")
