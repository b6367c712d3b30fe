"""A study's composite index and divergence stages, through the CLI and the pipeline.

References: PySAL's ``inequality`` package (Theil and its decomposition, Gini) and direct
least squares (σ, absolute β) on libpysal's us_income (48 states, 1929-2009, census
sub-regions); :func:`geotool.composite.build` for the index a run writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from inequality.gini import Gini
from inequality.theil import TheilD
from libpysal import examples

from geotool import composite, divergence
from geotool.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: The years of the panel run: its ends (the issue's 1929 and 2009) and a middle year.
YEARS = (1929, 1969, 2009)
#: The county index's indicators (points from the report's three tables) and dimensions.
IND, INN, DIS = "工业得分", "创新得分", "百强区得分"
INDICATORS = f"{IND},{INN},{DIS}"
DIMENSIONS = ["--dimension", f"制造={IND},{DIS}", "--dimension", f"创新能力={INN}"]


def _cli(*argv: str) -> int:
    return main(["--quiet", *argv])


@pytest.fixture(scope="module")
def us(tmp_path_factory) -> dict[str, Path]:
    """us_income as an economist has it: a long CSV of states by year, and the polygons."""
    where = tmp_path_factory.mktemp("us")
    wide = pd.read_csv(examples.get_path("usjoin.csv"))
    states = gpd.read_file(examples.get_path("us48.shp"))
    long = wide.melt(id_vars=["Name", "STATE_FIPS"], value_vars=[str(y) for y in YEARS],
                     var_name="year", value_name="income")  # fmt: skip
    regions = states.set_index("STATE_NAME")["SUB_REGION"]
    long["sub_region"] = long["Name"].map(regions)
    long.to_csv(where / "us_income_long.csv", index=False)
    states.set_crs("EPSG:4326", allow_override=True).to_file(where / "us48.gpkg")
    return {"table": where / "us_income_long.csv", "geometry": where / "us48.gpkg", "dir": where}


@pytest.fixture(scope="module")
def us_run(us) -> Path:
    """One run of the whole panel through ``geotool run`` (99 permutations: fast)."""
    out = us["dir"] / "out"
    code = _cli(
        "run", str(us["table"]), "--geometry", str(us["geometry"]), "--id-col", "STATE_NAME",
        "--name-col", "Name", "--year-col", "year", "--value-col", "income",
        "--groups", "sub_region", "--permutations", "99", "--out", str(out),
    )  # fmt: skip
    assert code == 0
    return out


def _table(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / "tables" / f"{name}.csv", encoding="utf-8-sig")


def test_theil_between_within_and_gini_of_a_cli_run_equal_the_inequality_package(us_run):
    wide = pd.read_csv(examples.get_path("usjoin.csv")).set_index("Name")
    regions = gpd.read_file(examples.get_path("us48.shp")).set_index("STATE_NAME")["SUB_REGION"]
    table = _table(us_run, "inequality").set_index("year")
    assert table["variable"].eq("income").all() and list(table.index) == list(YEARS)
    for year in (1929, 2009):
        y = wide[str(year)].to_numpy(float)
        td = TheilD(y, regions.reindex(wide.index).to_numpy())
        row = table.loc[year]
        assert row["theil"] == pytest.approx(float(td.T), abs=1e-9)
        assert row["theil_between"] == pytest.approx(float(td.bg[0]), abs=1e-9)
        assert row["theil_within"] == pytest.approx(float(td.wg[0]), abs=1e-9)
        assert row["gini"] == pytest.approx(float(Gini(y).g), abs=1e-9)
        # the spatial Gini's two parts add up to the Gini
        assert row["gini_neighbours"] + row["gini_non_neighbours"] == pytest.approx(row["gini"])


def test_sigma_and_absolute_beta_of_a_cli_run_equal_direct_least_squares(us_run):
    wide = pd.read_csv(examples.get_path("usjoin.csv")).set_index("Name")
    logs = np.log(wide[[str(y) for y in YEARS]].to_numpy(float))
    sigma = _table(us_run, "sigma_convergence").set_index("year")["sigma"]
    np.testing.assert_allclose(sigma.to_numpy(), logs.std(axis=0), rtol=1e-12)
    growth = (logs[:, -1] - logs[:, 0]) / 80
    design = np.column_stack([np.ones(len(growth)), logs[:, 0]])
    (_, beta), *_ = np.linalg.lstsq(design, growth, rcond=None)
    betas = _table(us_run, "beta_convergence").set_index("model")
    assert betas.loc["absolute", "beta"] == pytest.approx(beta, rel=1e-9)
    assert betas.loc["absolute", "half_life"] == pytest.approx(
        np.log(2) / (-np.log(1 + beta * 80) / 80), rel=1e-9
    )
    assert "spatial_lag" in betas.index  # with its rho
    assert np.isfinite(betas.loc["spatial_lag", "rho"])


def test_the_summary_index_page_and_console_carry_the_findings(us_run):
    summary = json.loads((us_run / "summary.json").read_text(encoding="utf-8"))
    assert summary["stages"]["divergence"] == "ran"
    assert summary["stages"]["composite index"].startswith("skipped: no indicators")
    found = summary["divergence"]["variables"]["income"]
    assert found["inequality_finding"].startswith("Theil of income across 48 units fell")
    assert "narrowed" in found["sigma_convergence_finding"]
    assert summary["divergence"]["groups"] == "sub_region"
    clubs = _table(us_run, "clubs")
    assert clubs["n_units"].sum() == 48
    page = (us_run / "index.html").read_text(encoding="utf-8")
    assert "<h2>Findings</h2>" in page and "Theil of income across 48 units fell" in page
    for name in ("inequality", "theil_groups", "sigma", "convergence"):
        png = us_run / "figures" / f"{name}_income.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"figures/{name}_income.png" in page  # a thumbnail on the index


def test_a_cross_section_on_china_prefectures_of_counts_says_theil_does_not_apply(shared_run):
    """One year of prefectures whose values are counts with zeros: no Theil, and why."""
    run = shared_run("prefecture_gbk")  # --all-numeric: the three counts of the report
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.out
    raw = pd.read_csv(EXAMPLES / "prefecture_top100_gbk.csv", encoding="gbk")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    skipped = summary["divergence"]["variables"]
    # 0 counts are not a positive level: the stage says so instead of computing nonsense
    assert len(skipped) == 3
    assert all("zero or negative" in v["skipped"] for v in skipped.values()), skipped
    assert not (out / "tables" / "inequality.csv").exists()
    assert raw["工业百强县"].eq(0).any()


def test_conditional_beta_on_the_groups_equals_least_squares_with_their_dummies(us_run):
    wide = pd.read_csv(examples.get_path("usjoin.csv")).set_index("Name")
    regions = gpd.read_file(examples.get_path("us48.shp")).set_index("STATE_NAME")["SUB_REGION"]
    logs = np.log(wide[[str(y) for y in YEARS]].to_numpy(float))
    growth = (logs[:, -1] - logs[:, 0]) / 80
    dummies = pd.get_dummies(regions.reindex(wide.index), drop_first=True, dtype=float)
    design = np.column_stack([np.ones(len(growth)), logs[:, 0], dummies.to_numpy()])
    coef, *_ = np.linalg.lstsq(design, growth, rcond=None)
    betas = _table(us_run, "beta_convergence").set_index("model")
    assert betas.loc["conditional", "beta"] == pytest.approx(coef[1], rel=1e-9)


@pytest.fixture(scope="module")
def prefecture_areas(tmp_path_factory) -> Path:
    """A positive level on China's prefectures (their area in km², from the bundled layer)."""
    from geotool import boundaries

    pref = boundaries.load("prefecture")
    pref = pref[~pref.index.str.endswith("9000")]  # 省直辖 groups are no prefecture of a table
    area = pref.to_crs("+proj=aea +lat_1=25 +lat_2=47 +lon_0=105").area / 1e6
    path = tmp_path_factory.mktemp("area") / "area.csv"
    pd.DataFrame({"代码": pref.index, "面积": area.round(1).to_numpy()}).to_csv(path, index=False)
    return path


def _theil_d(path: Path, labels_of) -> TheilD:
    """TheilD of the table at ``path`` between the groups ``labels_of(ids)`` gives."""
    table = pd.read_csv(path, dtype={"代码": str}).set_index("代码")["面积"]
    return TheilD(table.to_numpy(), labels_of(table.index).to_numpy())


def test_a_cross_section_decomposes_by_region_as_theild(prefecture_areas, tmp_path):
    out = tmp_path / "o"
    args = ["--code-col", "代码", "--value-col", "面积", "--groups", "region"]
    assert _cli("run", "--data", str(prefecture_areas), *args, "--permutations", "99",
                "--out", str(out)) == 0  # fmt: skip
    td = _theil_d(prefecture_areas, divergence.china_regions)
    row = _table(out, "inequality").iloc[0]
    assert "year" not in _table(out, "inequality")  # no year column, no year
    assert row["theil"] == pytest.approx(float(td.T), abs=1e-9)
    assert row["theil_between"] == pytest.approx(float(td.bg[0]), abs=1e-9)
    assert (out / "figures" / "theil_groups_mianji.png").exists()  # keys are ASCII (pinyin)


def test_city_cluster_groups_are_each_units_primary_cluster_as_theild(prefecture_areas):
    """``groups="cluster"``: the report's primary cluster, 城市群外 outside (the stage's
    wiring of groups is the region test's above, through the CLI)."""
    from geotool import clusters, pipeline
    from geotool.study import Study

    a = pipeline.prepare(Study(data=prefecture_areas, code_col="代码", value_cols=("面积",),
                               groups="cluster", out=None))  # fmt: skip
    primary = clusters.membership("report2020", level="prefecture")["primary_zh"]

    def labels_of(ids):
        return primary.replace("", np.nan).reindex(ids).fillna("城市群外")

    td = _theil_d(prefecture_areas, labels_of)
    values = a.rows[a.variables[0].variable]
    pd.testing.assert_series_equal(a.groups.reindex(values.index), labels_of(values.index),
                                   check_names=False)  # fmt: skip
    row = divergence.inequality(values.rename(0), a.groups).iloc[0]
    assert row["theil"] == pytest.approx(float(td.T), abs=1e-9)
    assert row["theil_between"] == pytest.approx(float(td.bg[0]), abs=1e-9)


def test_groups_that_do_not_fit_the_units_are_refused_by_flag(us, tmp_path, capsys):
    base = ["run", str(us["table"]), "--geometry", str(us["geometry"]), "--id-col",
            "STATE_NAME", "--year-col", "year", "--value-col", "income", "--permutations",
            "99", "--out", str(tmp_path / "o")]  # fmt: skip
    assert _cli(*base, "--groups", "region") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--groups" in err[0] and "China" in err[0]
    assert _cli(*base, "--groups", "nope") == 2
    assert "not a column" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- the index


@pytest.fixture(scope="module")
def counties_table(tmp_path_factory) -> Path:
    """Three indicators of counties from the report's own tables, as a GBK CSV."""
    from geotool import settings

    ranks = pd.read_csv(settings.data_dir / "rankings_2020.csv", dtype={"adcode": str})
    wide = ranks.pivot_table(index="adcode", columns="ranking", values="rank", aggfunc="min")
    points = (101 - wide).fillna(0)
    table = pd.DataFrame({
        "代码": points.index,
        IND: points["industrial_counties"].to_numpy() + 1,
        INN: points["innovation_counties"].to_numpy() + 1,
        DIS: points["industrial_districts"].to_numpy() + 1,
    })  # fmt: skip
    path = tmp_path_factory.mktemp("index") / "indicators_gbk.csv"
    table.to_csv(path, index=False, encoding="gbk")
    return path


def test_geotool_index_writes_the_weights_scores_and_sensitivity_of_composite_build(
    counties_table, tmp_path
):
    out = tmp_path / "idx"
    assert _cli("index", str(counties_table), "--indicators", INDICATORS, "--method",
                "critic", *DIMENSIONS, "--permutations", "99", "--out", str(out)) == 0  # fmt: skip
    table = pd.read_csv(counties_table, encoding="gbk", dtype={"代码": str})
    dims = {"制造": [IND, DIS], "创新能力": [INN]}
    expected = composite.build(table, [IND, INN, DIS], method="critic", dimensions=dims)
    weights = _table(out, "index_weights")
    np.testing.assert_allclose(weights["weight"], expected.weights["weight"], rtol=1e-12)
    scores = _table(out, "index_scores").astype({"id": str}).set_index("id")
    want = expected.scores.set_index(table["代码"])
    np.testing.assert_allclose(scores.loc[want.index, "score"], want["score"], rtol=1e-12)
    assert (scores.loc[want.index, "rank"] == want["rank"]).all()
    assert {"制造", "创新能力", "name"} <= set(scores.columns)
    spearman = _table(out, "index_sensitivity_spearman").set_index("method")
    assert set(spearman.columns) == {"entropy", "critic", "pca", "equal"}
    assert (np.diag(spearman.to_numpy()) == 1).all()
    # the index is the variable of every spatial stage
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["stages"]["composite index"] == "ran"
    assert list(summary["autocorrelation"]) == ["index"] or "index" in summary["autocorrelation"]
    assert (out / "tables" / "lisa_index.csv").exists()
    assert (out / "figures" / "index_dimensions.png").stat().st_size > 10_000
    # a positive index (indicators + 1 are never 0 together, min-max is) : divergence ran or
    # said why not; either way it says so
    assert "divergence" in summary["stages"]


def test_an_ahp_matrix_file_weighs_the_dimensions_and_an_inconsistent_one_is_refused(
    counties_table, tmp_path, capsys
):
    good = tmp_path / "ahp.csv"
    good.write_text(",制造,创新能力\n制造,1,3\n创新能力,1/3,1\n", encoding="utf-8")
    args = ["index", str(counties_table), "--indicators", INDICATORS, "--method", "ahp",
            *DIMENSIONS, "--permutations", "99"]  # fmt: skip
    assert _cli(*args, "--ahp", str(good), "--out", str(tmp_path / "a")) == 0
    weights = _table(tmp_path / "a", "index_weights").set_index("indicator")["weight"]
    # 制造 : 创新能力 = 3 : 1, the dimension's weight shared by its indicators
    assert weights[INN] == pytest.approx(0.25, abs=1e-9)
    assert weights[IND] == pytest.approx(0.375, abs=1e-9)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n1,9,1/9\n1/9,1,9\n9,1/9,1\n", encoding="utf-8")
    three = ["--dimension", f"a={IND}", "--dimension", f"b={INN}", "--dimension", f"c={DIS}"]
    capsys.readouterr()
    code = _cli(*args[:4], "--method", "ahp", *three, "--ahp", str(bad), "--out",
                str(tmp_path / "b"))  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "inconsistent" in err[0] and "CR" in err[0]
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("cell", ["1e999999999", "1e400", "-3", "nan", "1/0", "0x10"])
def test_an_ahp_cell_that_is_no_judgement_is_refused_at_once(counties_table, tmp_path, capsys,
                                                            cell):  # fmt: skip
    """No exact fraction of a huge exponent (hours of CPU), no overflow as an internal error."""
    import time

    bad = tmp_path / "ahp.csv"
    bad.write_text(f",制造,创新能力\n制造,1,{cell}\n创新能力,1/3,1\n", encoding="utf-8")
    started = time.monotonic()
    code = _cli("index", str(counties_table), "--indicators", INDICATORS, "--method", "ahp",
                *DIMENSIONS, "--ahp", str(bad), "--out", str(tmp_path / "o"))  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "every judgement must be a number" in err[0], err
    assert time.monotonic() - started < 30
    assert not (tmp_path / "o").exists()


def test_index_options_that_contradict_each_other_are_refused_by_flag(counties_table, capsys):
    base = ["index", str(counties_table), "--indicators", f"{IND},{INN}"]
    assert _cli(*base, "--direction", f"{DIS}:-") == 2
    assert "--direction" in capsys.readouterr().err
    assert _cli(*base, "--method", "ahp") == 2
    assert "--ahp" in capsys.readouterr().err
    assert _cli(*base[:2], "--indicators", f"{IND},nope") == 2
    assert "nope" in capsys.readouterr().err


def test_a_panel_index_is_ranked_within_each_year(tmp_path):
    """Weights pooled over the years (scores on one scale), ranks within each year."""
    wide = pd.read_csv(examples.get_path("usjoin.csv"))
    years = ["1999", "2009"]
    long = wide.melt(id_vars=["Name"], value_vars=years, var_name="year", value_name="income")
    long["income_rank_points"] = long.groupby("year")["income"].rank()
    long["fips"] = long["Name"].map(dict(zip(wide["Name"], wide["STATE_FIPS"], strict=True)))
    path = tmp_path / "panel.csv"
    long.to_csv(path, index=False)
    states = gpd.read_file(examples.get_path("us48.shp")).set_crs("EPSG:4326",
                                                                   allow_override=True)
    states.to_file(tmp_path / "us48.gpkg")
    out = tmp_path / "o"
    assert _cli("index", str(path), "--geometry", str(tmp_path / "us48.gpkg"), "--id-col",
                "STATE_NAME", "--name-col", "Name", "--year-col", "year", "--indicators",
                "income,income_rank_points", "--method", "equal", "--permutations", "99",
                "--out", str(out)) == 0  # fmt: skip
    scores = _table(out, "index_scores")
    for _, part in scores.groupby("year"):  # 1..48 within each year, ties sharing
        assert part["rank"].tolist() == composite.rank(part["score"]).tolist()
        assert part["rank"].min() == 1 and part["rank"].max() == 48
    pooled = composite.build(long, ["income", "income_rank_points"], method="equal")
    assert sorted(scores["score"]) == pytest.approx(sorted(pooled.scores["score"]))
    assert divergence.china_regions(["320281"]).iloc[0] == "东部"


def test_a_column_named_like_tex_is_drawn_as_text(us, tmp_path):
    """``$\\frac{a}{$`` in a column name was parsed as TeX by matplotlib and crashed the
    run (wrapped captions are measured as TeX whatever ``parse_math`` says)."""
    table = pd.read_csv(us["table"]).rename(columns={"income": "$\\frac{a}{$ income"})
    path = tmp_path / "tex.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "o"
    assert _cli("run", str(path), "--geometry", str(us["geometry"]), "--id-col", "STATE_NAME",
                "--year-col", "year", "--value-col", "$\\frac{a}{$ income", "--permutations",
                "99", "--figures", "svg", "--out", str(out)) == 0  # fmt: skip
    assert next((out / "figures").glob("sigma_*.svg")).stat().st_size > 10_000
    drawn = sorted(p.name.split("_")[0] for p in (out / "figures").glob("*.png"))
    # no groups: no group chart; "moran": the scatter and the Moran-by-year chart of the panel
    assert drawn == ["convergence", "inequality", "moran", "moran", "sigma"]


def test_islands_dropped_from_the_weights_still_count_in_inequality(tmp_path):
    """``--islands drop`` leaves units out of the spatial statistics, not out of Theil and
    Gini (it made the stage skip with "w has no row for ... units")."""
    from inequality.theil import Theil

    columbus = examples.get_path("columbus.shp")
    out = tmp_path / "o"
    assert _cli("run", columbus, "--id-col", "POLYID", "--value-col", "CRIME", "--weights",
                "distance:0.5km", "--islands", "drop", "--permutations", "99",
                "--out", str(out)) == 0  # fmt: skip
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["autocorrelation"]["crime"]["weights_report"]["islands"]["dropped"] > 0
    row = _table(out, "inequality").iloc[0]
    crime = gpd.read_file(columbus)["CRIME"].to_numpy()
    assert row["n_units"] == 49
    assert row["theil"] == pytest.approx(float(Theil(crime).T), abs=1e-9)
    assert 0 <= row["spatial_gini_p"] <= 1


def test_an_unknown_indicator_is_named_by_its_flag(tmp_path):
    from libpysal.examples import get_path

    from .test_cli import run_main

    proc = run_main("index", get_path("columbus.shp"), "--id-col", "POLYID", "--indicators",
                    "CRIME,HOVALX", "--out", str(tmp_path / "o"))  # fmt: skip
    assert proc.returncode == 2
    assert "--indicators HOVALX is not a column of" in proc.stderr
    assert "--value-col" not in proc.stderr and "Traceback" not in proc.stderr
