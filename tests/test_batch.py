"""geotool.batch: many analyses, serial and on dask, with identical numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geotool import _batch, autocorr, batch, boundaries, weights
from geotool._errors import InputError

PERMS = 99
SEED = 2026


@pytest.fixture(scope="module")
def panel(counties):
    """Two years of three variables over Jiangsu's counties (a long table, adcodes)."""
    units = counties[counties["province_code"] == "320000"]
    rng = np.random.default_rng(7)
    frames = []
    for year in (2019, 2020):
        frame = pd.DataFrame({"adcode": units.index.to_numpy(), "year": year})
        trend = units["rep_lat"].to_numpy()
        frame["gdp"] = trend * 3 + rng.normal(size=len(units))
        frame["jobs"] = rng.gamma(2.0, size=len(units))
        frame["flat"] = 1.0  # no variance: every task on it fails
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    sparse = table["year"] == 2020
    table.loc[sparse, "jobs"] = np.nan
    table.loc[table.index[sparse][:2], "jobs"] = [1.0, 2.0]  # 2020: two units only
    table.loc[3, "gdp"] = np.nan  # one unit missing in 2019: its own unit set
    return table


OPTIONS = {
    "year_col": "year",
    "weights": ("queen", "knn:4"),
    "statistics": ("moran", "geary", "lisa", "gi_star"),
    "permutations": PERMS,
    "seed": SEED,
}


@pytest.fixture(scope="module")
def serial(panel, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch") / "serial"
    return batch.run(panel, "county", out=out, **OPTIONS), out


def _numbers(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["seconds"])


def test_task_seeds_depend_on_the_seed_and_the_key_only():
    keys = [t.key for t in batch.tasks(["a", "b"], [2019, None], ["queen"], ["moran", "lisa"])]
    assert len(set(keys)) == 8
    seeds = [batch.task_seed(SEED, k) for k in keys]
    assert seeds == [batch.task_seed(SEED, k) for k in keys]
    assert seeds == [batch.task_seed(SEED, k) for k in reversed(keys)][::-1]
    assert len(set(seeds)) == 8
    assert all(0 <= s < 2**32 for s in seeds)
    assert batch.task_seed(SEED + 1, keys[0]) != seeds[0]


def test_serial_rows_are_the_library_statistics_with_the_task_seed(panel, serial):
    result, out = serial
    assert len(result) == 3 * 2 * 2 * 4  # nothing dropped, failed tasks included
    assert result["key"].is_unique
    row = result.set_index("key").loc["gdp|2020|queen|moran"]
    values = panel[panel["year"] == 2020].set_index("adcode")["gdp"]
    w = weights.build(values.index, "queen")
    seed = batch.task_seed(SEED, "gdp|2020|queen|moran")
    expected = autocorr.global_stats(values, w, permutations=PERMS, seed=seed)
    moran = expected.set_index("statistic").loc["moran_i"]
    assert row["seed"] == seed
    assert row["value"] == moran["value"]
    assert row["p_sim"] == moran["p_sim"]
    assert row["n"] == len(values)

    # the unit missing in 2019 is left out of that year's tasks only
    assert result.set_index("key").loc["gdp|2019|queen|moran", "n"] == len(values) - 1

    # a local task: its table, written into the folder, is local_stats with its seed
    lisa = result.set_index("key").loc["gdp|2020|knn:4|lisa"]
    seed = batch.task_seed(SEED, "gdp|2020|knn:4|lisa")
    local = autocorr.local_stats(
        values, weights.build(values.index, "knn:4"), permutations=PERMS, seed=seed,
        gi_star=False,
    )  # fmt: skip
    written = pd.read_csv(out / lisa["local_file"], dtype={"adcode": str}).set_index("adcode")
    np.testing.assert_array_equal(written["p_sim"].to_numpy(), local["p_sim"].to_numpy())
    assert lisa["high_high"] == (local["lisa_class"] == "High-High").sum()
    assert lisa["significant"] == local["significant"].sum()
    on_disk = pd.read_csv(out / "batch.csv")
    assert len(on_disk) == len(result)
    assert (out / ".geotool-manifest.json").exists()


def test_failed_tasks_are_listed_with_their_key_and_the_rest_runs(serial):
    result, _ = serial
    failed = result[result["status"] == "failed"].set_index("key")
    flat = [k for k in result["key"] if k.startswith("flat|")]
    sparse = [k for k in result["key"] if k.startswith("jobs|2020|")]
    assert set(failed.index) == set(flat) | set(sparse)
    assert failed["error"].str.len().gt(0).all()
    assert "3 or more" in failed.loc[sparse[0], "error"]
    ok = result[result["status"] == "ok"]
    assert len(ok) == len(result) - len(flat) - len(sparse)
    assert ok["error"].isna().all()


def test_on_a_local_cluster_numbers_are_the_serial_ones_for_1_and_2_workers(panel, serial):
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    expected, _ = serial
    results = {}
    for n in (2, 1):
        with (
            LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=":0",
            ) as cluster,
            Client(cluster, set_as_default=False) as client,
        ):  # fmt: skip
            results[n] = batch.run(panel, "county", client=client, **OPTIONS)
    for n, got in results.items():
        assert got["local_file"].isna().all()  # no out folder
        pd.testing.assert_frame_equal(
            _numbers(got).drop(columns="local_file"),
            _numbers(expected).drop(columns="local_file"),
            obj=f"{n} workers",
        )


def test_the_cluster_helper_runs_and_closes(panel):
    pytest.importorskip("distributed")
    small = panel[panel["year"] == 2019][["adcode", "gdp"]]
    with batch.cluster(1) as client:
        got = batch.run(small, client=client, statistics=("moran",), permutations=PERMS)
        assert client.status == "running"
    assert client.status == "closed"
    assert got["status"].eq("ok").all()
    assert got["key"].tolist() == ["gdp|-|queen|moran"]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"statistics": ("moran", "median")}, "statistics must name"),
        ({"weights": ("queen", "hexagons")}, "hexagons"),
        ({"variables": ["gdp", "nope"]}, "not columns: nope"),
        ({"years": [1999]}, r"years \[1999\]"),
        ({"id_col": "code"}, "id_col='code' is not a column"),
    ],
)
def test_bad_options_are_refused_before_any_work(panel, options, match):
    kwargs = {"year_col": "year", **options}
    with pytest.raises(InputError, match=match):
        batch.run(panel, "county", **kwargs)


def test_units_are_resolved_from_names_or_refused(panel, counties):
    named = panel[panel["year"] == 2019][["adcode", "gdp"]].copy()
    named["unit"] = counties.loc[named["adcode"], "name"].to_numpy()
    unique = ~counties["name"].duplicated(keep=False)  # 鼓楼区 is in four cities
    named = named[unique.loc[named["adcode"]].to_numpy()]
    by_code = batch.run(named.drop(columns="unit"), statistics=("moran",), permutations=PERMS)
    by_name = batch.run(
        named.drop(columns="adcode"), id_col="unit", statistics=("moran",), permutations=PERMS
    )
    assert by_name["value"].tolist() == by_code["value"].tolist()
    named.loc[named.index[0], "adcode"] = "999999"
    with pytest.raises(InputError, match="1 rows of the table have no unit of the bundled county"):
        batch.run(named.drop(columns="unit"), statistics=("moran",))


def test_prefecture_names_and_codes_resolve_as_match_resolves_them(caplog):
    """Short names (无锡), full names and codes written as numbers (320200.0): the same
    units and the same Moran's I as the layer's own codes; a name of nothing is refused."""
    prefectures = boundaries.load("prefecture")
    jiangsu = prefectures[prefectures["province_code"] == "320000"]
    values = np.arange(len(jiangsu), dtype=float) ** 1.5
    by_code = pd.DataFrame({"adcode": jiangsu.index, "gdp": values})
    written = [name.removesuffix("市") if i % 2 else name for i, name in
               enumerate(jiangsu["prefecture"])]  # fmt: skip
    written[1] = float(jiangsu.index[1])  # 320200.0, as Excel writes a code
    by_name = pd.DataFrame({"unit": written, "gdp": values})
    options = {"statistics": ("moran",), "permutations": PERMS, "seed": SEED}
    want = batch.run(by_code, "prefecture", **options)
    with caplog.at_level("INFO", logger="geotool"):
        got = batch.run(by_name, "prefecture", id_col="unit", **options)
    assert got["value"].tolist() == want["value"].tolist()
    assert got["n"].tolist() == [len(jiangsu)]
    assert "rows resolved through geotool.match at the prefecture level" in caplog.text
    by_name.loc[0, "unit"] = "不存在市"
    with pytest.raises(InputError, match="1 rows of the table have no unit of the bundled "
                       "prefecture layer \\(first: 不存在市;"):  # fmt: skip
        batch.run(by_name, "prefecture", id_col="unit", **options)


def test_cli_batch_serial(panel, tmp_path, capsys):
    from geotool.cli import main

    path = tmp_path / "panel.csv"
    panel[panel["year"] == 2019].drop(columns=["flat"]).to_csv(path, index=False)
    out = tmp_path / "out"
    code = main([
        "--quiet", "batch", str(path), "--year-col", "year", "--statistics", "moran,lisa",
        "--weights", "queen,knn:4", "--permutations", "99", "--workers", "0", "--out", str(out),
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "8 tasks serially: 8 ok, 0 failed" in err
    table = pd.read_csv(out / "batch.csv")
    assert table["status"].eq("ok").all()
    assert len(list((out / "local").glob("*.csv"))) == 4
    code = main(["--quiet", "batch", str(path), "--id-col", "code", "--workers", "0",
                 "--out", str(out)])  # fmt: skip
    assert code == 2
    assert "--id-col code is not a column" in capsys.readouterr().err


def test_partitioned_contiguity_is_the_geometry_contiguity_and_runs_in_a_batch(panel):
    pytest.importorskip("dask_geopandas")
    from geotool import boundaries

    layer = boundaries.load("prefecture")
    for rook in (False, True):
        got = batch.contiguity(layer, rook=rook, npartitions=4)
        expected = weights.build(layer, "rook" if rook else "queen", islands="keep")
        assert got.ids.equals(expected.ids)
        assert (got.sparse != expected.sparse).nnz == 0
    # prebuilt weights in a batch: named by their spec, used as they are
    counties = boundaries.load("county")
    jiangsu = counties[counties["province_code"] == "320000"]
    w = batch.contiguity(jiangsu, npartitions=3)
    table = panel[panel["year"] == 2019][["adcode", "jobs"]]
    got = batch.run(table, weights=[w, "queen"], statistics=("moran",), permutations=PERMS)
    assert got["weights"].tolist() == ["queen-partitioned", "queen"]
    assert got["status"].eq("ok").all()
    assert got["value"].iloc[0] == pytest.approx(got["value"].iloc[1])  # no islands in Jiangsu


def test_text_cells_leave_their_units_out_and_are_logged(panel, caplog):
    table = panel[panel["year"] == 2019][["adcode", "gdp"]].astype({"gdp": object})
    table.iloc[5, 1] = "n/a"
    table["note"] = "text"  # not a variable: no number in it
    with caplog.at_level("WARNING", logger="geotool"):
        got = batch.run(table, statistics=("moran",), permutations=PERMS)
    assert got["variable"].tolist() == ["gdp"]
    assert got["n"].iloc[0] == len(table) - 2  # the text cell, and the missing value of row 3
    assert "1 cells of gdp are not numbers (first: 'n/a')" in caplog.text
    left = got.attrs["left_out"]
    assert left[["unit", "variable", "reason"]].to_numpy().tolist() == [
        [table["adcode"].iloc[3], "gdp", "blank"],  # the missing value, listed too
        [table["adcode"].iloc[5], "gdp", "not a number"],
    ]
    assert "2 cells left out of their tasks (1 blank, 1 not a number" in caplog.text


def test_cells_left_out_are_written_beside_the_batch(panel, serial):
    """Nothing is dropped unheard: every blank cell of the panel is a row of left_out.csv."""
    result, out = serial
    left = pd.read_csv(out / "left_out.csv", dtype={"unit": str})
    blanks = panel[["gdp", "jobs", "flat"]].isna().sum().sum()
    assert len(left) == blanks == len(result.attrs["left_out"])
    assert set(left["reason"]) == {"blank"}
    assert left.loc[left["variable"] == "gdp", ["unit", "year"]].to_numpy().tolist() == [
        [panel.loc[3, "adcode"], 2019]
    ]


@pytest.mark.parametrize(
    ("tasks", "threads", "size"),
    [(240, 2, 30), (240, 1, 60), (1, 8, 1), (10_000, 2, 64), (0, 2, 1)],
)
def test_tasks_go_out_in_chunks_of_about_four_per_worker_thread(tasks, threads, size):
    assert _batch._chunk_size(tasks, threads) == size


def test_a_repeating_table_index_and_a_float_geo_index_are_no_obstacle():
    """Yearly frames concatenated repeat their index; shapefile ids read as 110000.0."""
    provinces = boundaries.load("province")
    names = provinces["province"].str.removesuffix("省").str.removesuffix("市").tolist()
    one = pd.DataFrame({"unit": names, "v": np.arange(len(provinces), dtype=float)})
    panel = pd.concat([one.assign(year=2019), one.assign(year=2020, v=one["v"] ** 1.2)])
    options = {"statistics": ("moran",), "permutations": PERMS, "seed": SEED}
    got = batch.run(panel, "province", id_col="unit", year_col="year", **options)
    assert got["n"].tolist() == [len(provinces)] * 2
    floats = provinces.set_axis(provinces.index.astype(float))
    by_code = pd.DataFrame({"adcode": provinces.index, "v": one["v"].to_numpy()})
    same = batch.run(by_code, floats, **options)
    assert same["value"].tolist() == got["value"].iloc[:1].tolist()


def test_a_county_table_s_province_and_prefecture_columns_resolve_shared_names(tmp_path):
    from .test_cli import run_main

    county = boundaries.load("county")
    js = county[county["province"] == "江苏省"]
    table = pd.DataFrame({"省": js["province"], "市": js["prefecture"], "县区": js["name"],
                          "GDP": np.arange(len(js), dtype=float)})  # fmt: skip
    assert {"鼓楼区", "通州区"} <= set(table["县区"])  # also names in other provinces
    path = tmp_path / "js.csv"
    table.to_csv(path, index=False, encoding="gbk")
    out = tmp_path / "o"
    proc = run_main("batch", str(path), "--id-col", "县区", "--variables", "GDP", "--workers",
                    "0", "--permutations", "99", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    bad = pd.concat([table, pd.DataFrame({"省": ["江苏省"], "市": ["南京市"],
                                          "县区": ["不存在区"], "GDP": [1.0]})])  # fmt: skip
    bad.to_csv(path, index=False, encoding="gbk")
    proc = run_main("batch", str(path), "--id-col", "县区", "--variables", "GDP", "--workers",
                    "0", "--permutations", "99", "--out", str(tmp_path / "o2"))  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    report = tmp_path / "o2.match_report.csv"
    assert "1 rows of the table have no unit" in proc.stderr and str(report) in proc.stderr
    written = pd.read_csv(report, encoding="utf-8-sig")
    assert written["key"].tolist() == ["不存在区"] and written["reason"].iloc[0]
