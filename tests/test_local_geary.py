"""Local Geary, univariate and multivariate: against esda on real data and on a grid.

esda 2.9's ``Geary_Local`` ignores its ``seed`` argument (it never reaches ``crand``),
and ``Geary_Local_MV`` draws from numpy's global state: both are seeded here through
``np.random.seed``.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from geotool import _geary, autocorr, weights
from geotool._errors import InputError
from geotool.report import rankings

esda = pytest.importorskip("esda")

ALPHA = 0.05
N = 30


def esda_local(x, w, permutations=999, seed=2024):
    np.random.seed(seed)  # noqa: NPY002 (esda draws from the global state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # crand's DeprecationWarning on `alternative`
        return esda.Geary_Local(
            connectivity=w.graph, labels=permutations > 0, permutations=permutations
        ).fit(x)


def esda_mv(columns, w, permutations=0, seed=2024):
    np.random.seed(seed)  # noqa: NPY002 (esda draws from the global state)
    return esda.Geary_Local_MV(connectivity=w.graph, permutations=permutations).fit(columns)


@pytest.fixture(scope="module")
def real():
    v = rankings.variables("industrial_counties")
    innovation = rankings.variables("innovation_counties")["score"]
    frame = pd.DataFrame({"industrial": v["score"], "innovation": innovation.reindex(v.index)})
    return frame, weights.build(v.index, "queen")


@pytest.fixture(scope="module")
def grid():
    """900 cells of 10 km in UTM 50N: a smooth field plus noise, and a second noisy field."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(20201)
    rows, cols = np.divmod(np.arange(N * N), N)
    cells = [
        shapely.box(300_000 + c * 10_000, 3_300_000 + r * 10_000,
                    310_000 + c * 10_000, 3_310_000 + r * 10_000)
        for r, c in zip(rows, cols, strict=True)
    ]  # fmt: skip
    field = np.sin(cols / 6) + 0.5 * np.cos(rows / 5)
    return gpd.GeoDataFrame(
        {
            "field": field + rng.normal(0, 0.4, N * N),
            "second": 0.6 * field + rng.normal(0, 0.8, N * N),
            "third": np.cos(rows / 7) + rng.normal(0, 0.5, N * N),
        },
        geometry=cells,
        index=pd.Index([f"cell-{i:03d}" for i in range(N * N)], name="cell"),
        crs="EPSG:32650",
    )


@pytest.fixture(scope="module")
def grid_weights(grid):
    return {spec: weights.build(grid, spec) for spec in ("queen", "kernel:triangular:knn:8")}


# (1) the statistic -------------------------------------------------------------------


def test_statistic_equals_esda_on_the_real_ranking(real):
    frame, w = real
    ours = autocorr.local_geary(frame["industrial"], w, permutations=0)
    theirs = esda_local(frame["industrial"].to_numpy(float), w, permutations=0)
    np.testing.assert_allclose(ours["c"], theirs.localG, rtol=1e-9, atol=1e-9)
    assert ours.index.equals(w.ids)


@pytest.mark.parametrize("spec", ["queen", "kernel:triangular:knn:8"])
def test_statistic_equals_esda_on_a_grid(grid, grid_weights, spec):
    w = grid_weights[spec]
    ours = autocorr.local_geary(grid["field"], w, permutations=0)
    theirs = esda_local(grid["field"].to_numpy(), w, permutations=0)
    np.testing.assert_allclose(ours["c"], theirs.localG, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours["lag"], w.row_standardised() @ ours["z"], rtol=1e-12)


def test_expected_value_is_the_mean_of_the_permutations(grid, grid_weights):
    """E[c_i] = n / (n - 1) (1 + z_i^2) under conditional randomisation (esda's draws)."""
    w = grid_weights["queen"]
    x = grid["field"].to_numpy()
    theirs = esda_local(x, w, permutations=999)
    z = ((x - x.mean()) / x.std())[:, None]
    sims = theirs.rlocalG
    error = np.abs(sims.mean(axis=1) - _geary.expected(z, w.row_standardised()))
    assert (error < 5 * sims.std(axis=1) / np.sqrt(sims.shape[1])).all()


# (2) classes ---------------------------------------------------------------------------


def geoda_classes(z, lag, c, p, sims):
    """GeoDa's classes from esda's p and simulations: the side is c against their mean."""
    positive = np.select(
        [(z > 0) & (lag > 0), (z < 0) & (lag < 0)], ["High-High", "Low-Low"], "Other Positive"
    )
    side = np.where(c <= sims.mean(axis=1), positive, "Negative")
    return np.where(p <= ALPHA, side, "Not significant")


def comparable(ours, theirs):
    """Units where neither p is near alpha and the tie rule does not change esda's p."""
    sims, obs = theirs.rlocalG, theirs.localG[:, None]
    tol = 1e-9 * (np.abs(obs) + 1)
    tie_p = (np.minimum((sims >= obs - tol).sum(1), (sims <= obs + tol).sum(1)) + 1) / (
        sims.shape[1] + 1
    )
    p_esda = theirs.p_sim.astype(float)
    return (
        (np.abs(ours["p_sim"].to_numpy() - ALPHA) > 0.01)
        & (np.abs(p_esda - ALPHA) > 0.01)
        & np.isclose(tie_p, p_esda, atol=1e-6)
    )


@pytest.mark.parametrize("case", ["real", "grid"])
def test_classes_agree_with_esda(case, real, grid, grid_weights):
    if case == "real":
        frame, w = real
        values = frame["industrial"]
    else:
        values, w = grid["field"], grid_weights["queen"]
    ours = autocorr.local_geary(values, w, permutations=999, seed=7, sided="folded")  # esda's
    theirs = esda_local(values.to_numpy(float), w)
    keep = comparable(ours, theirs)
    # most real units are 0 among 0s, where the tie rule changes esda's p (test below)
    assert keep.sum() > (150 if case == "real" else 0.8 * len(keep))
    # GeoDa's rule (c against the mean of the unit's permutations) applied to esda's run
    reference = geoda_classes(
        ours["z"].to_numpy(), ours["lag"].to_numpy(), theirs.localG,
        theirs.p_sim.astype(float), theirs.rlocalG,
    )  # fmt: skip
    assert (ours["cluster"].to_numpy()[keep] == reference[keep]).all()
    assert (keep & (ours["cluster"] != "Not significant")).sum() >= 40
    # esda's own labs (c against the mean of all units' c, and z alone): 1 = positive
    # with z > 0, 2 = positive with z < 0, 3 = negative, 4 = not significant. They agree
    # wherever that reference and the unit's own permutations put c on the same side.
    z = ours["z"].to_numpy()
    positive = np.where(z > 0, 1, 2)
    code = np.select(
        [ours["cluster"] == "Not significant", ours["cluster"] == "Negative"], [4, 3], positive
    )
    below_mean = theirs.localG < theirs.localG.mean()
    low_side = np.isin(ours["cluster"], ["High-High", "Low-Low", "Other Positive"])
    same_reference = (ours["cluster"] == "Not significant").to_numpy() | (below_mean == low_side)
    both = keep & same_reference
    assert (code[both] == theirs.labs[both]).all()


def test_real_classes_differ_from_esda_labs_only_by_their_reference(real):
    """Top counties among top counties: c far below their own expectation, above the mean.

    esda's labs call them 3 (its "negative" side); GeoDa's rule and this one High-High.
    """
    frame, w = real
    ours = autocorr.local_geary(frame["industrial"], w, permutations=999, seed=7)
    expected = _geary.expected(ours[["z"]].to_numpy(), w.row_standardised())
    high = (ours["cluster"] == "High-High").to_numpy()
    assert high.sum() > 20
    assert (ours["c"].to_numpy()[high] < expected[high]).all()
    assert (ours["c"].to_numpy()[high] > ours["c"].mean()).mean() > 0.5


# (3) multivariate ----------------------------------------------------------------------


def test_multivariate_equals_esda_on_the_real_rankings(real):
    frame, w = real
    ours = autocorr.local_geary(frame, w, permutations=0)
    theirs = esda_mv([frame[c].to_numpy(float) for c in frame.columns], w)
    np.testing.assert_allclose(ours["c"], theirs.localG, rtol=1e-9, atol=1e-9)
    assert list(ours.columns) == [
        "z:industrial", "lag:industrial", "z:innovation", "lag:innovation",
        "c", "p_sim", "significant", "cluster", "p_sided",
    ]  # fmt: skip


@pytest.mark.parametrize("spec", ["queen", "kernel:triangular:knn:8"])
def test_multivariate_equals_esda_on_a_grid(grid, grid_weights, spec):
    w = grid_weights[spec]
    for names in (["field", "second"], ["field", "second", "third"]):
        ours = autocorr.local_geary(grid[names], w, permutations=0)
        theirs = esda_mv([grid[c].to_numpy() for c in names], w)
        np.testing.assert_allclose(ours["c"], theirs.localG, rtol=1e-9, atol=1e-9)


def test_multivariate_significance_agrees_with_esda(grid, grid_weights):
    w = grid_weights["queen"]
    names = ["field", "second"]
    ours = autocorr.local_geary(grid[names], w, permutations=999, seed=11, sided="folded")
    theirs = esda_mv([grid[c].to_numpy() for c in names], w, permutations=999)
    p_ours, p_esda = ours["p_sim"].to_numpy(), theirs.p_sim
    keep = (np.abs(p_ours - ALPHA) > 0.01) & (np.abs(p_esda - ALPHA) > 0.01)
    assert keep.mean() > 0.8
    assert ((p_ours <= ALPHA) == (p_esda <= ALPHA))[keep].all()
    side = np.where(theirs.localG <= theirs.Gs.mean(axis=1), "Positive", "Negative")
    sig = keep & (p_ours <= ALPHA)
    assert sig.sum() > 30
    assert (ours["cluster"].to_numpy()[sig] == side[sig]).all()
    assert set(ours["cluster"]) <= {"Positive", "Negative", "Not significant"}


def test_two_copies_of_one_variable_are_the_univariate_statistic(grid, grid_weights):
    """Same draws for every column: [x, x] gives x's c and p_sim, and Positive for HH/LL/OP."""
    w = grid_weights["kernel:triangular:knn:8"]
    one = autocorr.local_geary(grid["field"], w, permutations=999, seed=5)
    two = autocorr.local_geary(grid[["field"]].assign(copy=grid["field"]), w, permutations=999,
                               seed=5)  # fmt: skip
    np.testing.assert_allclose(two["c"], one["c"], rtol=1e-12)
    np.testing.assert_array_equal(two["p_sim"], one["p_sim"])
    positive = one["cluster"].isin(["High-High", "Low-Low", "Other Positive"])
    assert (two["cluster"][positive] == "Positive").all()
    assert (two["cluster"][~positive] == one["cluster"][~positive]).all()
    single = autocorr.local_geary(grid[["field"]], w, permutations=999, seed=5)
    pd.testing.assert_frame_equal(single, one)


# (4) the tie rule ----------------------------------------------------------------------


def test_a_unit_at_the_mode_among_neighbours_at_the_mode_is_never_significant(real):
    frame, w = real
    ours = autocorr.local_geary(frame["industrial"], w, permutations=999, seed=1)
    x = frame["industrial"].reindex(w.ids).to_numpy()
    flat = (x == 0) & ((w.binary() @ (x != 0).astype(float)) == 0)
    assert flat.sum() > 1500
    assert (ours["c"].to_numpy()[flat] == 0).all()
    assert ours["p_sim"].to_numpy()[flat].min() > 0.3
    assert not ours["significant"].to_numpy()[flat].any()
    # esda's fold counts only simulations strictly below: p = 1 / (P + 1) for all of them
    theirs = esda_local(x, w)
    np.testing.assert_allclose(theirs.p_sim[flat], 1 / 1000, rtol=1e-6)


# (5) inputs, reproducibility, order ----------------------------------------------------


def test_seeded_and_in_the_values_order(grid, grid_weights):
    w = grid_weights["queen"]
    a = autocorr.local_geary(grid["field"], w, permutations=199, seed=3)
    b = autocorr.local_geary(grid["field"], w, permutations=199, seed=3)
    c = autocorr.local_geary(grid["field"], w, permutations=199, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not np.array_equal(a["p_sim"], c["p_sim"])
    shuffled = grid["field"].sample(frac=1, random_state=1)
    d = autocorr.local_geary(shuffled, w, permutations=199, seed=3)
    assert d.index.equals(shuffled.index)
    pd.testing.assert_frame_equal(d.loc[a.index], a)


def test_no_permutations_gives_missing_p_and_no_classes(grid, grid_weights):
    w = grid_weights["queen"]
    for values in (grid["field"], grid[["field", "second"]]):
        out = autocorr.local_geary(values, w, permutations=0)
        assert out["p_sim"].isna().all()
        assert not out["significant"].any()
        assert (out["cluster"] == "Not significant").all()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda s: s.astype(str), "not numeric"),
        (lambda s: s.where(s.index != s.index[3]), "missing or infinite"),
        (lambda s: s * 0 + 2.0, "same value"),
        (lambda s: s.iloc[10:], "no value in values"),
        (lambda s: s.to_numpy(), "pandas Series"),
        (lambda s: pd.DataFrame({"a": s, "b": s.astype(str)}), "not numeric"),
        (lambda s: pd.DataFrame([s, s], index=["a", "a"]).T, "duplicated"),
        (lambda s: pd.DataFrame(index=s.index), "no columns"),
    ],
)
def test_bad_values_are_refused(grid, grid_weights, make, words):
    with pytest.raises(InputError, match=words):
        autocorr.local_geary(make(grid["field"]), grid_weights["queen"], permutations=0)


def test_too_few_units_and_bad_inference_settings_are_refused(grid, grid_weights):
    w = grid_weights["queen"]
    small = weights.build(grid.iloc[:3], "queen")
    with pytest.raises(InputError, match="at least 4 units"):
        autocorr.local_geary(grid["field"].iloc[:3], small, permutations=0)
    with pytest.raises(InputError, match="permutations"):
        autocorr.local_geary(grid["field"], w, permutations=50)
    with pytest.raises(InputError, match="alpha"):
        autocorr.local_geary(grid["field"], w, permutations=0, alpha=1.5)
    with pytest.raises(InputError, match="w must be"):
        autocorr.local_geary(grid["field"], None, permutations=0)
