"""Method guards (issue 23): what a referee would ask of the numbers.

1. Local p-values: alpha holds under the null only for the two-sided p (the default);
   the folded one-sided p of GeoDa and esda flags about twice alpha. A null lattice
   (30 x 30 iid normal values, rook weights, 999 permutations, several seeds) shows it.
2. Units without neighbours are joined only within a bound (3 x the median
   nearest-neighbour distance by default): on the bundled prefecture layer, 延边 among
   the prefectures of eastern China is not joined to a unit 900 km away, and the
   statistics give it no local test.
3. The sensitivity table's distance band comes from the data's own scale: a 9 km-wide
   district split into streets gets a band of about 2 km, where 100 km gives I = E[I].
4. Empirical-Bayes smoothing is refused for amounts such as GDP (not counts of events).
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geotool import autocorr, boundaries, transform, weights
from geotool._errors import InputError
from geotool.analysis import Analysis
from geotool.report import rankings
from geotool.report import study as report_study

from .test_cli import run_main

ALPHA = 0.05

# (1) sidedness of local p-values ----------------------------------------------------


@pytest.fixture(scope="module")
def lattice():
    """A 30 x 30 grid of 1 km cells (UTM 50N) with rook weights."""
    cells = [shapely.box(c * 1e3, r * 1e3, (c + 1) * 1e3, (r + 1) * 1e3) for r in range(30)
             for c in range(30)]  # fmt: skip
    grid = gpd.GeoDataFrame(geometry=cells, crs="EPSG:32650")
    grid.index = pd.Index([f"g{i:03d}" for i in range(len(grid))], name="cell")
    return grid, weights.build(grid, "rook")


def _noise(grid, seed):
    return pd.Series(np.random.default_rng(seed).normal(size=len(grid)), index=grid.index, name="x")


def test_under_the_null_two_sided_flags_alpha_and_folded_twice_alpha(lattice):
    grid, w = lattice
    shares: dict[str, list[float]] = {k: [] for k in ("two", "folded", "gi", "geary")}
    for seed in range(5):
        x = _noise(grid, seed)
        two = autocorr.local_stats(x, w, permutations=999, seed=seed)
        folded = autocorr.local_stats(x, w, permutations=999, seed=seed, sided="folded")
        geary = autocorr.local_geary(x, w, permutations=999, seed=seed)
        # the same draws: the two-sided p is twice the folded one, capped at 1
        np.testing.assert_array_equal(two["p_sim"], np.minimum(1.0, 2 * folded["p_sim"]))
        assert (two["Ii"] == folded["Ii"]).all()
        shares["two"].append(two["significant"].mean())
        shares["folded"].append(folded["significant"].mean())
        shares["gi"].append(two["gi_star_significant"].mean())
        shares["geary"].append(geary["significant"].mean())
        # the classes follow the p they are given: fewer under two-sided
        assert (two["lisa_class"] != "Not significant").sum() == two["significant"].sum()
        assert two["significant"].sum() < folded["significant"].sum()
    mean = {k: float(np.mean(v)) for k, v in shares.items()}
    assert 0.035 <= mean["two"] <= 0.065, mean  # alpha = 0.05 holds
    assert 0.08 <= mean["folded"] <= 0.12, mean  # GeoDa's and esda's maps: about 10 %
    assert 0.03 <= mean["gi"] <= 0.07 and 0.03 <= mean["geary"] <= 0.07, mean


def test_fdr_and_bonferroni_use_the_two_sided_p_and_say_when_they_cannot(lattice):
    from scipy.stats import false_discovery_control

    grid, w = lattice
    x = _noise(grid, 11)
    fdr = autocorr.local_stats(x, w, permutations=999, seed=11, adjust="fdr", gi_star=False)
    p = fdr["p_sim"].to_numpy()
    np.testing.assert_array_equal(fdr["significant"], false_discovery_control(p) <= ALPHA)
    assert fdr["significant"].sum() <= 2  # pure noise: next to nothing survives FDR
    assert fdr.attrs["adjust_note"] == ""
    # on folded p-values the promise is 2 alpha, and the note (and the log) says so
    folded = autocorr.local_stats(
        x, w, permutations=999, seed=11, adjust="fdr", sided="folded", gi_star=False
    )
    assert "controlled at 2 alpha" in folded.attrs["adjust_note"]
    # 999 permutations: the smallest two-sided p (0.002) cannot reach 0.05 / 900
    bonf = autocorr.local_stats(x, w, permutations=999, adjust="bonferroni", gi_star=False)
    assert not bonf["significant"].any()
    assert "at least 35999 permutations" in bonf.attrs["adjust_note"]


def test_every_local_table_states_its_sidedness(lattice):
    grid, w = lattice
    x, y = _noise(grid, 1), _noise(grid, 2).rename("y")
    local = autocorr.local_stats(x, w, permutations=99, seed=1, gi_star=False)
    assert local.attrs["p_sided"] == "two-sided" and (local["p_sided"] == "two-sided").all()
    assert local.attrs["lisa_rule"] == "two-sided p <= 0.05, no adjustment"
    folded = autocorr.local_stats(x, w, permutations=99, seed=1, sided="folded", adjust="fdr")
    assert folded.attrs["lisa_rule"] == "one-sided (folded) p <= 0.05, FDR"
    bv = autocorr.local_bivariate(x, y, w, permutations=99, seed=1, sided="folded")
    assert bv.attrs["p_sided"] == "folded" and (bv["p_sided"] == "folded").all()
    geary = autocorr.local_geary(x, w, permutations=99, seed=1)
    assert geary.attrs["p_sided"] == "two-sided" and "p_sided" in geary.columns
    member = (x > 1).astype(int)
    ljc = autocorr.local_join_counts(member, w, permutations=99, seed=1)
    assert ljc.attrs["p_sided"] == "upper" and (ljc["p_sided"] == "upper").all()
    res = autocorr.analyse(x, w, permutations=99, seed=1, sided="folded")
    assert res["p_sided"] == "folded" and res["local_geary"].attrs["p_sided"] == "folded"
    for bad in ("one-sided", "TWO", 2, ""):
        with pytest.raises(InputError, match=r"sided must be 'two-sided' .* or 'folded'"):
            autocorr.local_stats(x, w, permutations=99, sided=bad)


def test_cli_states_the_sidedness_and_refuses_bad_flags(tmp_path):
    base = ["autocorr", "--permutations", "99", "--out", str(tmp_path), "--json"]
    proc = run_main(*base, "--sided", "folded", "--islands", "max:50km")
    assert proc.returncode == 0, proc.stderr
    payload = __import__("json").loads(proc.stdout)
    assert payload["p_sided"] == "folded"
    assert payload["lisa_rule"].startswith("one-sided (folded) p <= 0.05")
    assert payload["weights"]["islands"]["rule"] == "max:50km"
    assert payload["weights"]["islands"]["bound_km"] == 50.0
    table = pd.read_csv(tmp_path / "lisa_industrial_counties_score_queen.csv")
    assert (table["p_sided"] == "folded").all()
    for flag, value, says in (
        ("--sided", "one", "invalid choice"),
        ("--islands", "max:far", "--islands max:far is not a rule: use 'nearest'"),
        ("--islands", "max:0km", "--islands max:0km has no positive bound"),
        ("--islands", "nearest:all", "--islands nearest:all is not a rule"),
    ):
        bad = run_main(*base, flag, value)
        assert bad.returncode == 2, (flag, value, bad.stderr)
        assert says in bad.stderr and "Traceback" not in bad.stderr


# (2) islands joined only within a bound ---------------------------------------------

_EAST = ("江苏省", "浙江省", "安徽省", "上海市", "山东省", "江西省", "湖北省", "河南省")


@pytest.fixture(scope="module")
def prefectures():
    """Prefectures of eastern China, and 北京, 天津, 重庆, 延边 beyond them (a table with gaps)."""
    pref = boundaries.load("prefecture")
    east = pref[pref["province"].isin(_EAST) & ~pref.index.str.endswith("9000")]
    table = pd.concat([east, pref.loc[["110100", "120100", "500100", "222400"]]])
    return table.rename(columns={"prefecture": "name"})


def test_a_remote_unit_is_not_joined_beyond_the_bound(prefectures, caplog):
    caplog.set_level(logging.WARNING, logger="geotool")
    w = weights.build(prefectures, "queen", labels="name")
    rep = w.report["islands"]
    assert rep["rule"] == "nearest" and rep["count"] == 1 and rep["isolated"] == 1
    # the bound is 3 x the median distance from a unit to its nearest other
    from scipy.spatial import cKDTree

    from geotool.geometry import positions

    pts = positions(prefectures.geometry).xy
    nearest_km = cKDTree(pts).query(pts, k=2)[0][:, 1] / 1000
    assert rep["bound_km"] == pytest.approx(3 * np.median(nearest_km), abs=0.05)
    assert rep["bound_rule"].startswith("3 x the median")
    assert rep["details"] == [{
        "unit": "222400 延边朝鲜族自治州", "nearest": "371000 威海市", "km": 921.7,
        "action": "isolated",
    }]  # fmt: skip
    assert rep["units"][0].startswith("222400 延边朝鲜族自治州 (isolated: nearest 371000 威海市")
    assert w.sparse[w.ids.get_loc("222400")].nnz == 0
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("queen weights")]
    assert len(said) == 1  # one line, naming the unit left without neighbours
    assert "1 left without (lag 0, no local test: 222400 延边朝鲜族自治州)" in said[0]
    # the former rule, an explicit bound, and dropping
    old = weights.build(prefectures, "queen", labels="name", islands="nearest:unbounded")
    assert old.report["islands"]["units"] == ["222400 延边朝鲜族自治州 -> 371000 威海市"]
    assert old.report["islands"]["bridges"][0]["long"]  # and still warned about
    wide = weights.build(prefectures, "queen", labels="name", islands="max:1000km")
    assert wide.report["islands"]["joined"] == 1 and wide.report["islands"]["bound_km"] == 1000
    narrow = weights.build(prefectures, "queen", labels="name", islands="max:900000m")
    assert narrow.report["islands"]["isolated"] == 1
    dropped = weights.build(prefectures, "queen", labels="name", islands="drop")
    assert "222400" not in dropped.ids and dropped.report["islands"]["dropped"] == 1
    assert dropped.report["islands"]["details"][0]["action"] == "dropped"


def test_an_isolated_unit_gets_no_local_test_and_the_global_ones_stand(prefectures):
    esda = pytest.importorskip("esda")
    w = weights.build(prefectures, "queen", labels="name")
    x = pd.Series(
        prefectures.to_crs(3857).representative_point().y.to_numpy() / 1e5,
        index=prefectures.index, name="north",
    )  # fmt: skip
    local = autocorr.local_stats(x, w, permutations=999, seed=3, adjust="bonferroni")
    yb = local.loc["222400"]
    assert np.isnan(yb["p_sim"]) and yb["lag"] == 0 and yb["lisa_class"] == "Not significant"
    assert np.isnan(yb["gi_star_z"]) and np.isnan(yb["gi_star_p_sim"])
    assert local["p_sim"].notna().sum() == len(local) - 1  # m excludes it
    geary = autocorr.local_geary(x, w, permutations=999, seed=3)
    assert np.isnan(geary.loc["222400", "p_sim"]) and not geary.loc["222400", "significant"]
    bv = autocorr.local_bivariate(x, x.rename("again"), w, permutations=99, seed=3)
    assert np.isnan(bv.loc["222400", "p_sim"])
    glob = autocorr.global_stats(x, w, permutations=99, seed=3).set_index("statistic")
    theirs = esda.Moran(x.reindex(w.ids).to_numpy(), w.graph.transform("r"), permutations=0)
    assert glob.loc["moran_i", "value"] == pytest.approx(theirs.I, rel=1e-10)
    assert np.isfinite(glob[["value", "z_norm", "p_sim"]].to_numpy(float)).all()


def test_weights_given_with_islands_are_reported(prefectures, caplog):
    from libpysal.graph import Graph

    caplog.set_level(logging.WARNING, logger="geotool")
    w = weights.build(prefectures, "queen", labels="name", islands="keep")
    got = weights.as_weights(Graph.from_sparse(w.sparse, ids=w.ids))
    assert got.report["islands"]["count"] == 1 and got.report["islands"]["units"] == ["222400"]
    assert "1 units have no neighbours (222400)" in caplog.text


@pytest.mark.parametrize("bad", ["max:-5km", "max:0m", "max:km", "nearby", "drop ", 3, None])
def test_bad_island_rules_are_refused_by_name(prefectures, bad):
    if bad == "drop ":  # whitespace around a rule is forgiven
        assert weights.parse_islands(bad) == ("drop", None)
        return
    with pytest.raises(InputError, match=r"^islands=.*(is not a rule|no positive bound)"):
        weights.build(prefectures, "queen", islands=bad)


# (3) the sensitivity band from the data's scale -------------------------------------


@pytest.fixture(scope="module")
def streets():
    """南京 鼓楼区 (8.6 km wide) cut into 5 x 5 blocks: a user's own small geometry."""
    county = boundaries.load("county").loc[["320106"]].to_crs("EPSG:32650")
    poly = county.geometry.iloc[0]
    minx, miny, maxx, maxy = poly.bounds
    xs, ys = np.linspace(minx, maxx, 6), np.linspace(miny, maxy, 6)
    pieces = [poly.intersection(shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]))
              for i in range(5) for j in range(5)]  # fmt: skip
    pieces = [p for p in pieces if p.area > 1e5]
    geo = gpd.GeoDataFrame(
        {"name": [f"街道{i}" for i in range(len(pieces))]}, geometry=pieces, crs="EPSG:32650"
    ).to_crs("EPSG:4326")
    geo.index = pd.Index([f"s{i:02d}" for i in range(len(geo))], name="id")
    east = geo.to_crs("EPSG:32650").representative_point().x.to_numpy() / 1000
    noise = np.random.default_rng(1).normal(0, 0.5, len(geo))
    return geo, pd.Series(east + noise, index=geo.index, name="value")


def test_sensitivity_of_a_small_city_uses_its_own_band(streets):
    geo, values = streets
    band = weights.neighbour_band(geo)
    assert band == "distance:1.9km"
    table = autocorr.sensitivity(values, geo, permutations=999, seed=1)
    moran = table[table["statistic"] == "moran_i"].set_index("weights")
    assert list(moran.index) == ["queen", "rook", "knn:6", band]  # the spec names the band
    assert moran.loc[band, "value"] > 0.4 and moran.loc[band, "p_sim"] < 0.01
    # the fixed 100 km band makes every street a neighbour of every other: nothing to test
    fixed = autocorr.sensitivity(values, geo, specs=("distance:100km",), permutations=999, seed=1)
    row = fixed[fixed["statistic"] == "moran_i"].iloc[0]
    # I = E[I] under every arrangement: untestable, so no p-value (never p = 1)
    assert row["value"] == pytest.approx(row["expected"]) and np.isnan(row["p_sim"])
    # every unit has a neighbour under the band, none under a band one step narrower
    w = weights.build(geo, band)
    assert w.report["islands"]["count"] == 0 and w.report["min_neighbours"] >= 1


def test_run_sensitivity_specs_follow_the_study(streets):
    geo, _values = streets
    study = Analysis(
        title="streets", variables=[], tier_tables={}, cluster_table=None, values_map=None,
        units=geo, level="own",
    )  # fmt: skip
    assert study.sensitivity(geo.index) == ("queen", "rook", "knn:6", "distance:1.9km")
    report = report_study.analysis(report_study.study())  # keeps its 100 km band
    assert report.sensitivity(report.variables[0].data.index) == rankings.SENSITIVITY_SPECS


def test_the_band_stops_at_the_island_bound(prefectures):
    """延边 would widen the band to 930 km for every prefecture; it stops at the bound."""
    band = weights.neighbour_band(prefectures)
    km = weights.parse_spec(band)["metres"] / 1000
    bound = weights.build(prefectures, "queen").report["islands"]["bound_km"]
    assert km <= bound * 1.1 and km < 921.7
    w = weights.build(prefectures, band, labels="name")
    # the units farther than the band from any other are islands, reported with their
    # nearest: 延边 and 重庆 (恩施 is 279.3 km away)
    alone = {d["unit"]: (d["nearest"], d["km"]) for d in w.report["islands"]["details"]}
    assert alone == {
        "222400 延边朝鲜族自治州": ("371000 威海市", 921.7),
        "500100 重庆市": ("422800 恩施土家族苗族自治州", 279.3),
    }
    assert w.report["islands"]["isolated"] == 2 and min(d for _, d in alone.values()) > km
    east = prefectures[prefectures["province"].isin(_EAST)]
    band_east = weights.neighbour_band(east)
    assert weights.build(east, band_east).report["islands"]["count"] == 0


# (4) empirical-Bayes smoothing only for counts --------------------------------------


@pytest.fixture(scope="module")
def jiangsu_table():
    """Jiangsu's 13 prefectures: GDP (亿元, with decimals), cases (counts), population."""
    pref = boundaries.load("prefecture")
    js = pref[pref["province"] == "江苏省"]
    i = np.arange(len(js))
    pop = 3_000_000 + 250_000 * i
    return pd.DataFrame(
        {
            "城市": js["prefecture"].to_numpy(),
            "GDP": np.round(4000.5 + 731.37 * i, 2),
            "病例数": (pop * (0.0004 + 0.00003 * (i % 4))).round(),
            "常住人口": pop,
        },
        index=js.index,
    )


@pytest.mark.parametrize("smooth", ["eb", "spatial_eb"])
def test_eb_smoothing_is_refused_for_gdp_and_done_for_counts(jiangsu_table, smooth):
    w = weights.build(boundaries.load("prefecture").loc[jiangsu_table.index], "queen")
    kwargs = {"per": "常住人口", "smooth": smooth, "w": w}
    with pytest.raises(InputError) as err:
        transform.apply(jiangsu_table, "GDP", **kwargs)
    msg = str(err.value)
    assert msg.startswith(f"smooth='{smooth}' refused: empirical-Bayes smoothing is for counts")
    assert "GDP is not a count" in msg and "drop smooth= or use per= alone" in msg
    assert "\n" not in msg
    # in 千亿元 (every unit would get the overall rate): refused too
    thousands = jiangsu_table.assign(GDP=jiangsu_table["GDP"] / 1000)
    with pytest.raises(InputError, match="GDP is not a count"):
        transform.apply(thousands, "GDP", **kwargs)
    out = transform.apply(jiangsu_table, "病例数", **kwargs)  # counts: smoothed
    assert out.columns[0].startswith("病例数／常住人口（") and "经验贝叶斯平滑" in out.columns[0]
    rate = transform.apply(jiangsu_table, "GDP", per="常住人口")  # GDP per capita: per= alone
    assert rate.columns.tolist() == ["GDP／常住人口"]


def test_cli_refuses_eb_on_gdp_naming_the_flags(jiangsu_table, tmp_path):
    path = tmp_path / "地级市.csv"
    jiangsu_table.to_csv(path, index=False, encoding="gbk")
    out = tmp_path / "o"
    proc = run_main(
        "run", "--data", str(path), "--value-col", "GDP", "--per", "常住人口", "--smooth", "eb",
        "--out", str(out), "--permutations", "99",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "--smooth eb refused: empirical-Bayes smoothing is for counts" in proc.stderr
    assert "drop --smooth or use --per alone" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_labels_name_a_rate_s_column_and_its_population_not_the_rate(jiangsu_table, tmp_path):
    import json

    path = tmp_path / "地级市.csv"
    jiangsu_table.to_csv(path, index=False, encoding="gbk")
    out = tmp_path / "o"
    proc = run_main(
        "run", "--data", str(path), "--value-col", "GDP", "--per", "常住人口", "--scale",
        "10000", "--label", "GDP=地区生产总值（亿元）", "--label", "常住人口=常住人口（人）",
        "--out", str(out), "--permutations", "99",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    label = "地区生产总值（亿元）（每万常住人口（人））"
    assert f"{label}: n 13" in proc.stderr  # the rate's name, with both labels
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert label in json.dumps(summary, ensure_ascii=False)
    assert "地区生产总值（亿元）: n 13" not in proc.stderr  # never the column's label alone


def test_alpha_sets_every_local_statistic_s_significance(tmp_path):
    import libpysal

    columbus = libpysal.examples.get_path("columbus.shp")
    out = tmp_path / "o"
    proc = run_main("run", columbus, "--id-col", "POLYID", "--value-col", "CRIME", "--alpha",
                    "0.01", "--permutations", "999", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "p <= 0.01" in proc.stderr and "p <= 0.05" not in proc.stderr
    tables = out / "tables"
    for name, p, flag in (("lisa_crime.csv", "p_sim", "significant"),
                          ("lisa_crime.csv", "gi_star_p_sim", "gi_star_significant"),
                          ("local_geary_crime.csv", "p_sim", "significant")):  # fmt: skip
        t = pd.read_csv(tables / name, encoding="utf-8-sig")
        assert t[flag].any(), name
        assert (t[flag] == (t[p] <= 0.01)).all(), (name, flag)
    assert "α = 0.01" in (out / "index.html").read_text(encoding="utf-8")


def test_an_english_run_names_china_s_regions_in_english(jiangsu_table, tmp_path):
    path = tmp_path / "地级市.csv"
    jiangsu_table.to_csv(path, index=False, encoding="gbk")
    for lang, word in (("en", "every unit is in east;"), ("zh", "every unit is in 东部;")):
        out = tmp_path / lang
        proc = run_main("run", "--data", str(path), "--value-col", "GDP", "--lang", lang,
                        "--out", str(out), "--permutations", "99")  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert word in (out / "summary.json").read_text(encoding="utf-8")


def test_a_stage_that_set_every_variable_aside_says_so(jiangsu_table, tmp_path):
    import json

    path = tmp_path / "地级市.csv"
    jiangsu_table.assign(增速=np.linspace(-2.0, 3.0, len(jiangsu_table))).to_csv(
        path, index=False, encoding="gbk")  # fmt: skip
    out = tmp_path / "o"
    proc = run_main("run", "--data", str(path), "--value-col", "增速", "--out", str(out),
                    "--permutations", "99")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    stages = json.loads((out / "summary.json").read_text(encoding="utf-8"))["stages"]
    assert stages["divergence"].startswith("skipped: every variable set aside (")
    assert "zero or negative" in stages["divergence"]
