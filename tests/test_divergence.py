"""geotool.divergence against PySAL's inequality and spreg, and direct least squares."""

# inequality's Gini_Spatial draws from numpy's global stream: the tests seed it as it does
# ruff: noqa: NPY002

from __future__ import annotations

import math

import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import pytest
import spreg
from inequality.gini import Gini, Gini_Spatial
from inequality.theil import TheilD
from libpysal import examples
from libpysal.weights import Queen
from scipy import stats

from geotool import divergence as dv
from geotool._errors import InputError
from geotool.weights import build

YEARS = ["1929", "2009"]


@pytest.fixture(scope="module")
def states() -> gpd.GeoDataFrame:
    return gpd.read_file(examples.get_path("us48.shp")).set_index("STATE_NAME")


@pytest.fixture(scope="module")
def income() -> pd.DataFrame:
    """usjoin.csv: per-capita income of the 48 states, 1929-2009, wide, on the names."""
    table = pd.read_csv(examples.get_path("usjoin.csv")).set_index("Name")
    return table.drop(columns="STATE_FIPS")


@pytest.fixture(scope="module")
def regions(states: gpd.GeoDataFrame) -> pd.Series:
    """The census sub-regions (9 groups) of the us_income shapefile."""
    return states["SUB_REGION"]


@pytest.fixture(scope="module")
def queen(states: gpd.GeoDataFrame):
    return build(states, "queen")


def _ols(y: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray | float]:
    """Direct least squares: coefficients, classical standard errors, t, p, R²."""
    design = np.column_stack([np.ones(len(y)), x])
    coef, rss, *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = len(y) - design.shape[1]
    se = np.sqrt(np.diag(rss[0] / dof * np.linalg.inv(design.T @ design)))
    t = coef / se
    r2 = 1 - rss[0] / ((y - y.mean()) ** 2).sum()
    return {"coef": coef, "se": se, "t": t, "p": 2 * stats.t.sf(np.abs(t), dof), "r2": r2}


# ---------------------------------------------------------------- inequality
def test_theil_decomposition_and_gini_equal_the_inequality_package(income, regions):
    out = dv.inequality(income, regions)
    for year in YEARS:
        y = income[year].to_numpy(dtype=float)
        part = regions.reindex(income.index).to_numpy()
        td = TheilD(y, part)
        row = out.loc[int(year)]
        assert row["theil"] == pytest.approx(float(td.T), abs=1e-9)
        assert row["theil_between"] == pytest.approx(float(td.bg[0]), abs=1e-9)
        assert row["theil_within"] == pytest.approx(float(td.wg[0]), abs=1e-9)
        assert row["between_share"] == pytest.approx(float(td.bg[0] / td.T), abs=1e-9)
        assert row["gini"] == pytest.approx(Gini(y).g, abs=1e-9)
        assert row["cv"] == pytest.approx(y.std() / y.mean(), rel=1e-12)
        assert row["max_min_ratio"] == pytest.approx(y.max() / y.min(), rel=1e-12)
    # the US story: regional gaps narrowed, and the between-region part lost weight
    assert out.loc[2009, "theil"] < out.loc[1929, "theil"] / 5
    assert out.loc[2009, "between_share"] < out.loc[1929, "between_share"]
    assert "between-group part" in out.attrs["finding"]
    assert out.attrs["not_shown"]


def test_a_long_table_with_a_group_column_gives_the_same(income, regions):
    wide = income[YEARS]
    long = (
        wide.rename_axis("state")
        .reset_index()
        .melt(id_vars="state", var_name="year", value_name="income")
    )
    long["region"] = long["state"].map(regions)
    got = dv.inequality(long, "region", id_col="state", year_col="year", value_col="income")
    want = dv.inequality(wide, regions)
    pd.testing.assert_frame_equal(got, want)
    assert got.index.tolist() == [1929, 2009]


def test_spatial_gini_is_inequality_s_with_the_seed_and_leaves_numpy_alone(income, states, queen):
    np.random.seed(3)
    before = np.random.random()
    np.random.seed(3)
    out = dv.inequality(income[YEARS], w=queen, permutations=99, seed=7)
    assert np.random.random() == before  # the global stream is restored
    w = Queen.from_dataframe(states.loc[income.index], use_index=False, silence_warnings=True)
    for year in YEARS:
        np.random.seed(7)
        gs = Gini_Spatial(income[year].to_numpy(dtype=float), w, permutations=99)
        row = out.loc[int(year)]
        assert row["gini_non_neighbours"] == pytest.approx(gs.wcg_share, abs=1e-12)
        assert row["gini_neighbours"] == pytest.approx(gs.wg / gs.den, abs=1e-12)
        assert row["spatial_gini_p"] == gs.p_sim
        assert row["polarization"] == pytest.approx(gs.polarization, rel=1e-12)
        assert row["gini_neighbours"] + row["gini_non_neighbours"] == pytest.approx(row["gini"])
    # neighbouring states are far more alike than random pairs
    assert (out["spatial_gini_p"] <= 0.05).all()
    assert (out["polarization"] > 1).all()


# ---------------------------------------------------------------- sigma
def _t2_direct(a: np.ndarray, b: np.ndarray) -> float:
    s1, s2 = np.var(a, ddof=1), np.var(b, ddof=1)
    s12 = np.mean((a - a.mean()) * (b - b.mean())) * len(a) / (len(a) - 1)
    return (len(a) - 2.5) * math.log(1 + 0.25 * (s1 - s2) ** 2 / (s1 * s2 - s12**2))


def test_sigma_is_the_std_of_logs_and_t2_is_carree_klomp(income):
    out = dv.sigma_convergence(income)
    logs = np.log(income.to_numpy(dtype=float))
    np.testing.assert_allclose(out["sigma"].to_numpy(), logs.std(axis=0), rtol=0, atol=1e-12)
    assert out.index[0] == 1929 and out.index[-1] == 2009
    test = out.attrs["test"]
    t2 = _t2_direct(logs[:, 0], logs[:, -1])
    assert test["t2"] == pytest.approx(t2, rel=1e-12)
    assert test["p"] == pytest.approx(stats.chi2.sf(t2, 1), rel=1e-9)
    assert test["p"] < 1e-6
    assert "narrowed" in out.attrs["finding"]


def test_t2_holds_its_size_where_a_variance_ratio_f_test_does_not():
    """Same units twice, equal variances, correlation 0.9: T2 rejects about 5 %."""
    rng = np.random.default_rng(2020)
    cov = [[1.0, 0.9], [0.9, 1.0]]
    draws = rng.multivariate_normal([0, 0], cov, size=(2000, 48))
    p_t2 = np.array([dv._carree_klomp_t2(d[:, 0], d[:, 1])[1] for d in draws])
    ratio = draws[:, :, 0].var(axis=1, ddof=1) / draws[:, :, 1].var(axis=1, ddof=1)
    p_f = 2 * np.minimum(stats.f.sf(ratio, 47, 47), stats.f.cdf(ratio, 47, 47))
    assert 0.035 < (p_t2 < 0.05).mean() < 0.07
    assert (p_f < 0.05).mean() < 0.005  # ignores the correlation: almost never rejects


def test_same_spread_in_both_years_is_no_change(income):
    shuffled = income[YEARS].copy()
    shuffled["2009"] = shuffled["1929"].to_numpy()[::-1]
    test = dv.sigma_convergence(shuffled).attrs["test"]
    assert test["t2"] == pytest.approx(0, abs=1e-12)
    assert test["p"] == pytest.approx(1)


# ---------------------------------------------------------------- beta
def test_absolute_beta_equals_direct_least_squares(income):
    out = dv.beta_convergence(income)
    y0, y1 = np.log(income["1929"].to_numpy(float)), np.log(income["2009"].to_numpy(float))
    ref = _ols((y1 - y0) / 80, y0[:, None])
    row = out.loc["absolute"]
    assert row["beta"] == pytest.approx(ref["coef"][1], abs=1e-12)
    assert row["se"] == pytest.approx(ref["se"][1], abs=1e-12)
    assert row["t"] == pytest.approx(ref["t"][1], rel=1e-9)
    assert row["p"] == pytest.approx(ref["p"][1], rel=1e-6)
    assert row["r2"] == pytest.approx(ref["r2"], abs=1e-12)
    speed = -math.log(1 + 80 * ref["coef"][1]) / 80
    assert row["speed"] == pytest.approx(speed, rel=1e-10)
    assert row["half_life"] == pytest.approx(math.log(2) / speed, rel=1e-10)
    assert out.attrs["coefficients"]["const"]["coef"] == pytest.approx(ref["coef"][0])
    assert row["finding"].startswith(f"β = {ref['coef'][1]:.4f} (p < 0.001): poorer units")
    assert f"half-life {math.log(2) / speed:.0f} years" in row["finding"]
    assert "sigma_convergence" in row["not_shown"]


def test_conditional_beta_with_region_dummies_equals_least_squares(income, regions):
    dummies = pd.get_dummies(regions, drop_first=True, dtype=float)
    out = dv.beta_convergence(income, dummies, start=1950, end=2000)
    y0, y1 = np.log(income["1950"].to_numpy(float)), np.log(income["2000"].to_numpy(float))
    x = np.column_stack([y0, dummies.reindex(income.index).to_numpy()])
    ref = _ols((y1 - y0) / 50, x)
    table = pd.DataFrame.from_dict(out.attrs["coefficients"], orient="index")
    np.testing.assert_allclose(table["coef"].to_numpy(), ref["coef"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(table["se"].to_numpy(), ref["se"], rtol=1e-9)
    assert out.index.tolist() == ["conditional"]
    assert table.index[2:].tolist() == dummies.columns.tolist()


@pytest.mark.parametrize("model", ["lag", "error"])
def test_spatial_beta_equals_spreg_called_directly(income, states, queen, model):
    out = dv.spatial_beta_convergence(income, queen, model=model)
    row = out.iloc[0]
    assert out.index.tolist() == [f"spatial_{model}"]
    name = "rho" if model == "lag" else "lambda"
    for order, tol in ((income.index, 1e-12), (states.index, 1e-5)):
        # spreg directly, on libpysal's own queen W of the shapefile: in the panel's order
        # the same numbers; in the shapefile's, within the bounded optimiser's 1e-5 in x
        w = Queen.from_dataframe(states.loc[order], use_index=True, silence_warnings=True)
        w.transform = "r"
        y0 = np.log(income.loc[order, "1929"].to_numpy(float))
        g = (np.log(income.loc[order, "2009"].to_numpy(float)) - y0) / 80
        fit = spreg.ML_Lag if model == "lag" else spreg.ML_Error
        with dv._quiet_spreg():
            ref = fit(g[:, None], y0[:, None], w)
        value = ref.rho if model == "lag" else ref.lam
        assert row[name] == pytest.approx(float(value), abs=tol)
        assert row["beta"] == pytest.approx(float(ref.betas[1, 0]), abs=tol)
        assert row["z"] == pytest.approx(float(ref.z_stat[1][0]), rel=max(tol, 1e-9) * 100)
        assert row["log_likelihood"] == pytest.approx(float(ref.logll), rel=1e-9)
    assert row[f"{name}_p"] < 0.1  # neighbours' growth (or shocks) go together


# ---------------------------------------------------------------- clubs
def test_quantile_clubs_are_mapclassify_s_and_their_paths_direct(income):
    out = dv.clubs(income, k=4)
    y0, y1 = np.log(income["1929"].to_numpy(float)), np.log(income["2009"].to_numpy(float))
    q = mapclassify.Quantiles(y0, k=4)
    members = pd.Series(out.attrs["membership"])
    assert members.tolist() == [f"Q{c + 1}" for c in q.yb]
    for c in range(4):
        pick = q.yb == c
        row = out.loc[f"Q{c + 1}"]
        assert row["n_units"] == pick.sum()
        assert row["growth"] == pytest.approx(((y1 - y0) / 80)[pick].mean(), rel=1e-12)
        ref = _ols(((y1 - y0) / 80)[pick], y0[pick][:, None])
        assert row["beta"] == pytest.approx(ref["coef"][1], abs=1e-12)
    # the poorest quarter of 1929 grew fastest
    assert out["growth"].idxmax() == "Q1"
    assert "Q1 grew fastest" in out.attrs["finding"]


def test_lisa_clubs_split_the_rich_north_east_from_the_poor_south(income, queen):
    out = dv.clubs(income, by="lisa", w=queen, permutations=99, seed=1)
    members = pd.Series(out.attrs["membership"])
    assert members.index.equals(income.index)
    assert members["Mississippi"] == "Low-Low"
    assert members["Connecticut"] == "High-High"
    assert out.loc["Low-Low", "growth"] > out.loc["High-High", "growth"]
    assert out["n_units"].sum() == len(income)


# ---------------------------------------------------------------- China regions
def test_china_regions_are_the_reports():
    codes = ["320281", "410100", "510100", "230100", "110101", "810000"]
    got = dv.china_regions(pd.Index(codes))
    assert got.tolist() == ["东部", "中部", "西部", "东北", "东部", "港澳台"]
    assert dv.china_regions(codes, lang="en").tolist()[:4] == ["east", "central", "west",
                                                               "northeast"]  # fmt: skip


def test_china_regions_decompose_a_china_panel():
    from geotool.report import rankings

    table = rankings.load("industrial_counties")
    adcodes = table["adcode"].drop_duplicates().head(60)
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.lognormal(10, 0.5, (60, 2)), index=adcodes, columns=[2019, 2020])
    out = dv.inequality(wide, dv.china_regions(wide.index))
    td = TheilD(wide.to_numpy(), dv.china_regions(wide.index).to_numpy())
    np.testing.assert_allclose(out["theil_between"].to_numpy(), td.bg, atol=1e-12)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda d, r: dv.inequality(d.assign(**{"1930": 0}), r), "value_col"),
        (lambda d, r: dv.inequality(d, pd.Series("one", index=d.index)), "one group"),
        (lambda d, r: dv.inequality(d, r.drop("Texas")), "groups has no value"),
        (lambda d, r: dv.inequality(d, r.where(r != "Mtn")), "groups is missing"),
        (lambda d, r: dv.inequality(d.head(2)), "at least 3 units"),
        (lambda d, r: dv.sigma_convergence(d, start=2009, end=1929), "start=2009"),
        (lambda d, r: dv.beta_convergence(d, pd.DataFrame({"x": ["a"] * 48})), "not numeric"),
        (lambda d, r: dv.clubs(d, by="kmeans"), "by='kmeans'"),
        (lambda d, r: dv.clubs(d, by="lisa"), "w:"),
        (lambda d, r: dv.china_regions(["99"]), "ids:"),
    ],
)
def test_bad_input_is_refused_by_parameter(income, regions, call, words):
    with pytest.raises(InputError, match=words):
        call(income, regions)


def test_weights_missing_a_unit_and_a_bad_model_are_refused(income, states):
    w = build(states.drop(index="Texas"), "queen")
    with pytest.raises(InputError, match="w has no row for 1 unit"):
        dv.spatial_beta_convergence(income, w)
    with pytest.raises(InputError, match="model='sar'"):
        dv.spatial_beta_convergence(income, w, model="sar")


def test_incomplete_units_are_reported_not_hidden(income, caplog):
    holes = income[YEARS].astype(float)
    holes.loc["Ohio", "2009"] = np.nan
    out = dv.beta_convergence(holes)
    assert out.loc["absolute", "n_units"] == 47
    assert out.attrs["dropped"] == {"Ohio": "no value in some years"}
    assert (dv.sigma_convergence(holes)["n_units"] == 47).all()


def test_results_concatenate_into_one_comparison(income, queen):
    models = [
        dv.beta_convergence(income),
        dv.beta_convergence(income, start=1929, end=1969),
        dv.spatial_beta_convergence(income, queen, model="error"),
    ]
    table = pd.concat(models)
    assert table.index.tolist() == ["absolute", "absolute", "spatial_error"]
    assert table["beta"].tolist() == [m["beta"].iloc[0] for m in models]
    assert table["lambda"].isna().tolist() == [True, True, False]


def test_growth_alike_everywhere_is_refused_by_beta_and_named_unchanged_by_sigma(income):
    """A population table that did not change (every unit's growth 0) has no β to fit:
    spreg would divide by zero; σ reports the spread as unchanged, not as widened."""
    same = pd.DataFrame({"1929": income["1929"], "2009": income["1929"]})
    with pytest.raises(InputError, match="grew alike"):
        dv.beta_convergence(same)
    assert "did not change" in dv.sigma_convergence(same).attrs["finding"]
