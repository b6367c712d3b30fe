"""Local join counts: esda's counts and classes on the rankings, hand counts on a lattice."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy.stats import hypergeom
from shapely.geometry import box

from geotool import autocorr, weights
from geotool._errors import InputError
from geotool._perm import conditional_lags, rng_for
from geotool.report import rankings

ALPHA = 0.05


def ljc(x, w, z, case, *, permutations, seed):
    """geotool's local join counts of one case (z passed for BJC and CLC only)."""
    return autocorr.local_join_counts(
        x, w, z=None if case == "BB" else z, case=case, permutations=permutations, seed=seed
    )


def counted(case, x, z):
    """The 0/1 vector a case counts among the neighbours, as floats."""
    return {"BB": x, "BJC": z * (1 - x), "CLC": x * z}[case].to_numpy(dtype=float)


@pytest.fixture(scope="module")
def ranked():
    """Queen weights over the industrial ranking's universe, x and z memberships."""
    v = rankings.variables("industrial_counties")
    w = weights.build(v.index, "queen")
    z = rankings.variables("innovation_counties", universe=w.ids)["member"]
    return w, v["member"], z


def _esda_fit(w, x, z, case, permutations):
    """esda's local join counts (its global random state seeded, then restored)."""
    esda = pytest.importorskip("esda")
    g = w.graph.transform("b")
    xs = x.reindex(w.ids).to_numpy(dtype=float)
    state = np.random.get_state()  # noqa: NPY002 (esda reads the global state)
    np.random.seed(20240601)  # noqa: NPY002 (esda takes its seed from there)
    try:
        if case == "BB":
            return esda.Join_Counts_Local(connectivity=g).fit(xs, permutations=permutations)
        zs = z.reindex(w.ids).to_numpy(dtype=float)
        est = esda.Join_Counts_Local_BV(connectivity=g)
        return est.fit(xs, zs, case=case, permutations=permutations)
    finally:
        np.random.set_state(state)  # noqa: NPY002


@pytest.mark.parametrize("case", ["BB", "BJC", "CLC"])
def test_counts_equal_esda(ranked, case):
    w, x, z = ranked
    ours = ljc(x, w, z, case, permutations=0, seed=None).reindex(w.ids)
    ref = _esda_fit(w, x, z, case, permutations=0)
    np.testing.assert_allclose(ours["ljc"], ref.LJC, rtol=0, atol=1e-12)
    assert ours["ljc"].sum() > 0
    if case == "CLC":  # two variables: the multivariate co-location count too
        esda = pytest.importorskip("esda")
        mv = esda.Join_Counts_Local_MV(connectivity=w.graph.transform("b"))
        xs, zs = (s.reindex(w.ids).to_numpy(dtype=float) for s in (x, z))
        mv.fit([xs, zs], permutations=0)
        np.testing.assert_allclose(ours["ljc"], mv.LJC, rtol=0, atol=1e-12)


# slow: esda's first permutation run compiles its numba kernels (~40 s a process). The same
# significance is covered by default by test_p_sim_estimates_the_exact_hypergeometric_tail
# (p_sim of BB, BJC and CLC against the exact tail) and test_counts_equal_esda (the counts).
@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "permutations"), [("BB", 9999), ("CLC", 999), ("BJC-no-co-location", 999)]
)
def test_significance_agrees_with_esda(ranked, case, permutations):
    """Same units tested; same class wherever neither p is within 0.01 of alpha.

    BJC is compared on variables that are never both 1 (industrial but not innovative,
    innovative): there esda's scheme and this one are the same (see local_join_counts).
    """
    w, x, z = ranked
    if case.startswith("BJC"):
        case, x = "BJC", (x.astype(bool) & ~z.reindex(x.index).astype(bool)).astype(int)
    ours = ljc(x, w, z, case, permutations=9999, seed=7).reindex(w.ids)
    ref = pd.Series(_esda_fit(w, x, z, case, permutations).p_sim, index=w.ids, dtype=float)
    assert ours["p_sim"].notna().equals(ref.notna())
    tested = ours["p_sim"].notna()
    assert tested.sum() >= 2
    clear = tested & ((ours["p_sim"] - ALPHA).abs() > 0.01) & ((ref - ALPHA).abs() > 0.01)
    assert clear.sum() >= 2
    pd.testing.assert_series_equal(
        ours["significant"][clear], (ref <= ALPHA)[clear], check_names=False
    )
    assert ours["significant"].any()


@pytest.mark.parametrize("case", ["BB", "BJC", "CLC"])
def test_p_sim_estimates_the_exact_hypergeometric_tail(ranked, case):
    """With binary weights a permuted count is hypergeometric: k draws from n - 1 units."""
    w, x, z = ranked
    perms = 9999
    out = ljc(x, w, z, case, permutations=perms, seed=3).reindex(w.ids)
    b = counted(case, x.reindex(w.ids), z.reindex(w.ids))
    tested = out["p_sim"].notna().to_numpy()
    k = np.diff(w.binary().indptr)[tested]
    ones = b.sum() - b[tested]  # 1s among the other n - 1 units
    exact = hypergeom.sf(out["ljc"].to_numpy()[tested] - 1, len(b) - 1, ones, k)
    se = np.sqrt(exact * (1 - exact) / perms)
    assert np.all(np.abs(out["p_sim"].to_numpy()[tested] - exact) <= 4.5 * se + 2 / perms)


def grid(extra_island=False):
    """5 x 5 boxes of 1 km, ids c<row><col>, optionally a far box kept as an island."""
    ids = [f"c{r}{c}" for r in range(5) for c in range(5)]
    geoms = [
        box(c * 1e3, -r * 1e3, (c + 1) * 1e3, (1 - r) * 1e3) for r in range(5) for c in range(5)
    ]
    if extra_island:
        ids.append("far")
        geoms.append(box(5e4, 5e4, 5.1e4, 5.1e4))
    gdf = gpd.GeoDataFrame({"id": ids}, geometry=geoms, crs="EPSG:3857").set_index("id")
    return weights.build(gdf, "rook", islands="keep" if extra_island else "nearest")


# rows 0..4 top to bottom, columns 0..4 left to right
X = "11000 11001 00001 00100 00000"
Z = "11000 00101 01000 00010 00000"


def cells(pattern):
    """A 5 x 5 pattern as 25 values in the order c00, c01, ..., c44."""
    return np.array([int(c) for c in pattern.replace(" ", "")])


@pytest.fixture(scope="module")
def lattice():
    w = grid()
    ids = list(w.ids)
    assert ids == [f"c{r}{c}" for r in range(5) for c in range(5)]
    x = pd.Series(cells(X), index=w.ids, name="x")
    z = pd.Series(cells(Z), index=w.ids, name="z")
    return w, x, z


def test_hand_counts_on_a_lattice(lattice):
    w, x, z = lattice
    bb = autocorr.local_join_counts(x, w, permutations=999, seed=1)
    # c00, c01, c10, c11: a 2 x 2 block, two rook neighbours each inside it;
    # c14 - c24 a pair; c32 a lone 1 (no joins)
    expected = {"c00": 2, "c01": 2, "c10": 2, "c11": 2, "c14": 1, "c24": 1}
    assert bb["ljc"].to_dict() == {u: expected.get(u, 0) for u in w.ids}
    assert bb.loc["c32", "cluster"] == "not tested (no joins)"
    assert bb.loc["c33", "cluster"] == "not tested (x = 0)"
    assert bb["p_sim"].notna().sum() == 6
    assert bb.attrs["case"] == "BB"
    # x = 1, z = 0 (c10, c11, c24, c32) next to z = 1, x = 0 (c12, c21, c33);
    # the co-located c01 and c14 do not count
    bjc = autocorr.local_join_counts(x, w, z=z, case="BJC", permutations=999, seed=1)
    assert bjc["ljc"][bjc["ljc"] > 0].to_dict() == {"c11": 2, "c32": 1}
    assert bjc.loc["c10", "cluster"] == "not tested (no joins)"
    assert bjc.loc["c00", "cluster"] == "not tested (x = 0 or z = 1)"
    assert bjc.attrs["co_located"] == 3
    # co-located c00 - c01 join each other; co-located c14 has no co-located neighbour
    clc = autocorr.local_join_counts(x, w, z=z, case="CLC", permutations=999, seed=1)
    assert clc["ljc"][clc["ljc"] > 0].to_dict() == {"c00": 1, "c01": 1}
    assert clc.loc["c14", "cluster"] == "not tested (no joins)"
    assert clc.loc["c11", "cluster"] == "not tested (x = 0 or z = 0)"
    assert list(clc.columns) == [
        "value", "z", "ljc", "p_sim", "significant", "cluster", "p_sided",
    ]  # fmt: skip
    assert (clc["p_sided"] == "upper").all()  # a direction stated in advance: no sided=


@pytest.mark.parametrize("case", ["BB", "BJC", "CLC"])
def test_p_sim_is_the_upper_tail_of_conditional_lags(lattice, case):
    """Same draws as the all-unit engine; ties count; one-sided upper."""
    w, x, z = lattice
    perms = 999
    out = ljc(x, w, z, case, permutations=perms, seed=11)
    b = counted(case, x, z)
    wb = w.binary()
    lags = conditional_lags(b, wb, perms, rng_for(11, "ljc:" + case))
    observed = wb @ b
    upper = (lags >= observed[:, None]).sum(axis=1)
    tested = out["p_sim"].notna().to_numpy()
    np.testing.assert_allclose(out["p_sim"][tested], (upper[tested] + 1) / (perms + 1))
    sig = out["p_sim"] <= ALPHA
    assert (out["cluster"][sig] == f"{case} cluster").all()
    assert (out["cluster"][tested & ~sig] == "not significant").all()
    pd.testing.assert_frame_equal(out, ljc(x, w, z, case, permutations=perms, seed=11))


def test_order_islands_and_booleans():
    w = grid(extra_island=True)
    x = pd.Series(np.append(cells(X), 1), index=w.ids, name="x").astype(bool)
    shuffled = x.sample(frac=1.0, random_state=0)
    out = autocorr.local_join_counts(shuffled, w, permutations=999, seed=2)
    assert list(out.index) == list(shuffled.index)
    assert out.loc["far", "ljc"] == 0
    assert out.loc["far", "cluster"] == "not tested (no joins)"
    assert out["value"].isin([0.0, 1.0]).all()


def test_errors(lattice):
    w, x, z = lattice
    with pytest.raises(InputError, match=r"0/1 values; x \('x'\) also has \[2\.0\].*astype"):
        autocorr.local_join_counts(x.where(x == 0, 2), w)
    with pytest.raises(InputError, match=r"0/1 values; z"):
        autocorr.local_join_counts(x, w, z=z * 0.5 + 0.25, case="CLC")
    with pytest.raises(InputError, match="give the second as z="):
        autocorr.local_join_counts(x, w, case="BJC")
    with pytest.raises(InputError, match="z is used by case"):
        autocorr.local_join_counts(x, w, z=z)
    with pytest.raises(InputError, match="case must be one of BB, BJC, CLC"):
        autocorr.local_join_counts(x, w, z=z, case="BW")
    with pytest.raises(InputError, match="have no value in z"):
        autocorr.local_join_counts(x, w, z=z.iloc[:20], case="CLC")
    with pytest.raises(InputError):
        autocorr.local_join_counts(x, w, permutations=50)


def test_no_permutations_gives_counts_only(lattice):
    w, x, z = lattice
    out = autocorr.local_join_counts(x, w, z=z, case="CLC", permutations=0)
    assert out["p_sim"].isna().all()
    assert not out["significant"].any()
    assert not out["cluster"].str.endswith("cluster").any()
    assert (out["cluster"][out["ljc"] > 0] == "not tested (no permutations)").all()
    assert out["ljc"].sum() == 2
