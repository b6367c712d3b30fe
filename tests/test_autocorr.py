"""Autocorrelation: hand-derived values on a small lattice, GeoDa's engine on real data."""

import json

import numpy as np
import pandas as pd
import pytest
from libpysal.graph import Graph

from geotool import autocorr, weights
from geotool._errors import InputError
from geotool._perm import conditional_lags, rng_for
from geotool.report import rankings
from geotool.weights import Weights

from .test_cli import run_main


def lattice(rows=4, cols=4):
    """A rook lattice as Weights, with ids that sort in lattice order."""
    ids = pd.Index([f"{i:06d}" for i in range(rows * cols)], name="adcode")
    focal, neigh = [], []
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                rr, cc = r + dr, c + dc
                if 0 <= rr < rows and 0 <= cc < cols:
                    focal.append(ids[i])
                    neigh.append(ids[rr * cols + cc])
    g = Graph.from_arrays(focal, neigh, np.ones(len(focal)))
    return Weights.from_graph(g, spec="rook-lattice")


def hand_moran(x, wmat):
    """Moran's I and its moments under normality (Cliff & Ord), from first principles."""
    n = len(x)
    z = x - x.mean()
    s0 = wmat.sum()
    i = n / s0 * (z @ wmat @ z) / (z @ z)
    s1 = 0.5 * ((wmat + wmat.T) ** 2).sum()
    s2 = ((wmat.sum(0) + wmat.sum(1)) ** 2).sum()
    ei = -1 / (n - 1)
    vi = (n**2 * s1 - n * s2 + 3 * s0**2) / ((n**2 - 1) * s0**2) - ei**2
    return i, ei, vi


X = np.array([9, 8, 2, 1, 7, 9, 3, 2, 6, 5, 1, 0, 4, 3, 2, 1], dtype=float)


def test_global_moran_equals_the_hand_derivation():
    w = lattice()
    values = pd.Series(X, index=w.ids, name="x")
    out = autocorr.global_stats(values, w, permutations=999, seed=3).set_index("statistic")
    wmat = w.row_standardised().toarray()
    i, ei, vi = hand_moran(X, wmat)
    np.testing.assert_allclose(out.loc["moran_i", "value"], i, rtol=1e-12)
    np.testing.assert_allclose(out.loc["moran_i", "expected"], ei, rtol=1e-12)
    np.testing.assert_allclose(out.loc["moran_i", "variance_norm"], vi, rtol=1e-12)
    assert out.loc["moran_i", "value"] > 0.4  # a clear east-west gradient


def test_local_moran_equals_the_hand_derivation():
    w = lattice()
    values = pd.Series(X, index=w.ids, name="x")
    out = autocorr.local_stats(values, w, permutations=999, seed=3)
    wmat = w.row_standardised().toarray()
    z = (X - X.mean()) / X.std()
    np.testing.assert_allclose(out["lag"], wmat @ z, rtol=1e-12)
    np.testing.assert_allclose(out["Ii"], (len(X) - 1) * z * (wmat @ z) / (z @ z), rtol=1e-12)
    # corner 000000 (9, with neighbours 8 and 7) is High-High by sign
    assert out.loc["000000", "quadrant"] == "High-High"
    # Gi*: binary weights including self
    b = w.binary().toarray() + np.eye(16)
    np.testing.assert_allclose(out["gi_star"], b @ X / b.sum(1) / X.sum(), rtol=1e-12)
    # Getis & Ord (1995) z with binary weights, written out
    n, xbar, s = 16, X.mean(), X.std()
    wi, s1 = b.sum(1), (b**2).sum(1)
    z = (b @ X - xbar * wi) / (s * np.sqrt((n * s1 - wi**2) / (n - 1)))
    np.testing.assert_allclose(out["gi_star_z"], z, rtol=1e-12)


def test_permutations_are_conditional_and_reproducible():
    w = lattice()
    wr = w.row_standardised()
    lags = conditional_lags(X, wr, 500, rng_for(1, "t"))
    again = conditional_lags(X, wr, 500, rng_for(1, "t"))
    np.testing.assert_array_equal(lags, again)
    # a unit's own value never enters its permuted lag: with X[15] huge, unit 15's
    # lag never contains it, while others sometimes do
    big = X.copy()
    big[15] = 1e6
    lags = conditional_lags(big, wr, 500, rng_for(1, "t"))
    assert lags[15].max() < 1e5 and lags[0].max() > 1e5
    values = pd.Series(X, index=w.ids, name="x")
    a = autocorr.local_stats(values, w, permutations=199, seed=7)
    b = autocorr.local_stats(values, w, permutations=199, seed=7)
    c = autocorr.local_stats(values, w, permutations=199, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not np.array_equal(a["p_sim"], c["p_sim"])


def test_join_count_moments_match_their_permutation_distribution():
    w = weights.build(rankings.universe("industrial_counties"), "queen")
    member = rankings.variables("industrial_counties")["member"]
    out = autocorr.join_counts(member, w, permutations=99, seed=1).set_index("statistic")
    joins = out["joins"].iloc[0]
    assert out.loc[["BB", "BW", "WW"], "value"].sum() == joins
    # Monte Carlo check of the Cliff-Ord moments with 4,000 shuffles
    from geotool._perm import permuted_quadratic_forms

    wb = w.binary()
    x = member.reindex(w.ids).to_numpy(dtype=float)
    sim = permuted_quadratic_forms(x, wb, 4000, rng_for(0, "mc")) / 2
    assert abs(sim.mean() - out.loc["BB", "expected"]) < 3 * sim.std() / np.sqrt(4000)
    assert abs(sim.var() / out.loc["BB", "variance"] - 1) < 0.1


pygeoda = pytest.importorskip("pygeoda", reason="GeoDa's engine (pygeoda) not installed")
# pygeoda's GAL reader leaves its file handle to the garbage collector.
geoda_file_warning = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def _gal(w, path):
    w.to_gal(path)
    return pygeoda.read_gal(str(path), [str(i) for i in w.ids])


@geoda_file_warning
@pytest.mark.parametrize("ranking", list(rankings.RANKINGS))
@pytest.mark.parametrize("spec", ["queen", "knn:6"])
# 999 draws by default; the 9,999-draw precision (slow) asserts the same things
@pytest.mark.parametrize("perms", [999, pytest.param(9999, marks=pytest.mark.slow)])
def test_local_moran_agrees_with_geoda(tmp_path, ranking, spec, perms):
    v = rankings.variables(ranking)
    w = weights.build(v.index, spec)
    gw = _gal(w, tmp_path / "w.gal")
    x = v["score"].reindex(w.ids).to_numpy()
    geoda = pygeoda.local_moran(gw, list(x), permutations=perms, seed=1)
    ours = autocorr.local_stats(v["score"], w, permutations=perms, seed=1, sided="folded")
    np.testing.assert_allclose(np.array(geoda.lisa_values()), ours["Ii"], rtol=1e-9, atol=1e-12)
    labels = np.array(geoda.lisa_labels())[np.array(geoda.lisa_clusters()).astype(int)]
    p_geoda = np.array(geoda.lisa_pvalues())
    p_ours = ours["p_sim"].to_numpy()
    # units left without neighbours (islands beyond the bound): GeoDa's "Isolated" class
    # (at p = 0), no test here (p missing, "Not significant")
    isolated = np.diff(w.sparse.indptr) == 0
    assert (labels[isolated] == "Isolated").all() and np.isnan(p_ours[isolated]).all()
    assert (ours["lisa_class"].to_numpy()[isolated] == "Not significant").all()
    clear = ~isolated & (np.abs(p_geoda - 0.05) > 0.01) & (np.abs(p_ours - 0.05) > 0.01)
    assert clear[~isolated].mean() > 0.95
    differ = clear & (labels != ours["lisa_class"].to_numpy())
    # Every difference is GeoDa's tie artefact (geotool._perm, "The tie rule"): a ranked
    # unit among unranked neighbours, whose permuted lags equal the observed one in most
    # draws, is High-Low at p ~ 1/(P+1) for GeoDa and not significant here.
    all_zero_around = (w.binary() @ (x != 0).astype(float)) == 0
    assert (labels[differ] == "High-Low").all()
    assert all_zero_around[differ].all() and (x[differ] > 0).all()
    assert (p_geoda[differ] <= 0.05).all() and (p_ours[differ] > 0.4).all()
    assert differ.sum() < 30


@geoda_file_warning
def test_gi_star_agrees_with_geoda(tmp_path):
    v = rankings.variables("industrial_counties")
    w = weights.build(v.index, "queen")
    gw = _gal(w, tmp_path / "w.gal")
    x = v["score"].reindex(w.ids).to_numpy()
    geoda = pygeoda.local_gstar(gw, list(x))
    ours = autocorr.local_stats(v["score"], w, permutations=99, seed=1)
    np.testing.assert_allclose(np.array(geoda.lisa_values()), ours["gi_star"], rtol=1e-9)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (pd.Series(["a"] * 1861, name="s"), "not numeric"),
        (pd.Series([1.0] * 1861, name="s"), "same value"),
        (pd.Series([np.nan] + [1.0, 2.0] * 930, name="s"), "missing or infinite values"),
    ],
)
def test_bad_values(values, message):
    ids = rankings.universe("industrial_counties")
    w = weights.build(ids, "queen")
    with pytest.raises(InputError, match=message):
        autocorr.global_stats(values.set_axis(ids), w, permutations=99)


@pytest.mark.parametrize("spec", ["queen", "knn:6"])
def test_global_moments_agree_with_esda(spec):
    esda = pytest.importorskip("esda")
    v = rankings.variables("industrial_counties")
    w = weights.build(v.index, spec)
    x = v["score"].reindex(w.ids).to_numpy()
    ours = autocorr.global_stats(v["score"], w, permutations=99, seed=1).set_index("statistic")
    mi = esda.Moran(x, w.graph.transform("r"), permutations=0)
    gc = esda.Geary(x, w.graph.transform("r"), permutations=0)
    gg = esda.G(x, w.graph.transform("b"), permutations=0)
    for stat, obj, names in (
        ("moran_i", mi, ("I", "EI", "VI_norm", "VI_rand")),
        ("geary_c", gc, ("C", "EC", "VC_norm", "VC_rand")),
        ("getis_ord_g", gg, ("G", "EG", "VG", None)),
    ):
        got = ours.loc[stat, ["value", "expected", "variance_norm", "variance_rand"]].to_numpy()
        for value, name in zip(got, names, strict=True):
            if name:
                np.testing.assert_allclose(value, getattr(obj, name), rtol=1e-10)


def _ranking_stage(ranking, default, *, permutations, seed):
    """What ``geotool run`` computes per ranking, from the public core."""
    v = rankings.variables(ranking)
    glob = autocorr.sensitivity(
        v["score"], v.index, specs=rankings.SENSITIVITY_SPECS, permutations=permutations, seed=seed
    )
    w = weights.build(v.index, default)
    res = autocorr.analyse(v["score"], w, permutations=permutations, seed=seed)
    res["global"] = glob
    res["join_counts"] = autocorr.join_counts(v["member"], w, permutations=permutations, seed=seed)
    return res


def test_stage_covers_the_three_rankings_and_every_weights_spec():
    result = {}
    for ranking, default in rankings.DEFAULT_WEIGHTS.items():
        res = result[ranking] = _ranking_stage(ranking, default, permutations=99, seed=5)
        assert set(res["global"]["weights"]) == set(rankings.SENSITIVITY_SPECS)
        assert res["weights"]["spec"] == default
        assert set(res["lisa_counts"]) == set(autocorr.LISA_CLASSES)  # absent classes: 0
        assert sum(res["lisa_counts"].values()) == res["weights"]["units"]
        assert list(res["join_counts"]["statistic"]) == ["BB", "BW", "WW"]
    counties = rankings.variables("industrial_counties")
    other = rankings.variables("innovation_counties", universe=counties.index)["score"]
    w = weights.build(counties.index, rankings.DEFAULT_WEIGHTS["industrial_counties"])
    biv = autocorr.global_stats(counties["score"], w, permutations=99, seed=5, other=other)
    biv = biv[biv["statistic"].str.startswith("moran_bv")].iloc[0]
    assert biv["value"] > 0.3  # industrial and innovation scores co-locate
    again = _ranking_stage("industrial_counties", "queen", permutations=99, seed=5)
    pd.testing.assert_frame_equal(result["industrial_counties"]["global"], again["global"])


RULES = ("none", "bonferroni", "fdr")


def _bh_by_hand(p, alpha):
    """Benjamini-Hochberg step-up, written out: the k smallest p, k the last step passed."""
    order = np.argsort(p, kind="stable")
    m = len(p)
    k = 0
    for i, unit in enumerate(order, start=1):
        if p[unit] <= alpha * i / m:
            k = i
    out = np.zeros(m, dtype=bool)
    out[order[:k]] = True
    return out


_EAST = ("江苏省", "浙江省", "山东省")


@pytest.fixture(
    scope="module",
    params=[
        pytest.param((_EAST, 4_999), id="east-171"),
        pytest.param((None, 49_999), id="all-1861", marks=pytest.mark.slow(
            reason="200 CPU-s; covered by [east-171]: the same checks, 171 counties")),
    ],
)  # fmt: skip
def industrial_by_rule(request):
    """Local statistics of the industrial score under each rule, with enough permutations
    for Bonferroni to be reachable on folded p-values: alpha / n = 0.05 / 1861 = 2.7e-5 on
    every county (49,999; two-sided ones would need 74,439), 0.05 / 171 = 2.9e-4 on the
    counties of Jiangsu, Zhejiang and Shandong (4,999: the default run's, 100x cheaper)."""
    provinces, permutations = request.param
    v = rankings.variables("industrial_counties")
    if provinces:
        from geotool import boundaries

        v = v[boundaries.units()["province"].reindex(v.index).isin(provinces)]
        assert len(v) == 171
    w = weights.build(v.index, "queen")
    return {
        rule: autocorr.local_stats(
            v["score"], w, permutations=permutations, seed=1, adjust=rule, sided="folded"
        )
        for rule in RULES
    }


def test_adjust_rules_on_the_industrial_score(industrial_by_rule):
    from scipy.stats import false_discovery_control

    by = industrial_by_rule
    p = by["none"]["p_sim"].to_numpy()
    gi_p = by["none"]["gi_star_p_sim"].to_numpy()
    n = len(p)
    for rule, local in by.items():
        np.testing.assert_array_equal(local["p_sim"].to_numpy(), p)  # same draws, any rule
        assert local.attrs["adjust"] == rule and (local["adjust"] == rule).all()
        sig = local["significant"].to_numpy()
        expected_class = np.where(sig, local["quadrant"], "Not significant")
        assert (local["lisa_class"].to_numpy() == expected_class).all()
    counts = {rule: int(local["significant"].sum()) for rule, local in by.items()}
    gi_counts = {rule: int(local["gi_star_significant"].sum()) for rule, local in by.items()}
    assert 0 < counts["bonferroni"] <= counts["fdr"] <= counts["none"]
    assert 0 < gi_counts["bonferroni"] <= gi_counts["fdr"] <= gi_counts["none"]
    assert counts["bonferroni"] < counts["none"]
    for rule, hand, gi_hand in (
        ("none", p <= 0.05, gi_p <= 0.05),
        ("bonferroni", p <= 0.05 / n, gi_p <= 0.05 / n),
        ("fdr", _bh_by_hand(p, 0.05), _bh_by_hand(gi_p, 0.05)),
    ):
        np.testing.assert_array_equal(by[rule]["significant"].to_numpy(), hand)
        np.testing.assert_array_equal(by[rule]["gi_star_significant"].to_numpy(), gi_hand)
    # scipy's BH adjusted p-values agree
    np.testing.assert_array_equal(by["fdr"]["significant"], false_discovery_control(p) <= 0.05)
    assert by["fdr"].attrs["lisa_rule"] == "one-sided (folded) p <= 0.05, FDR"
    # reachable, but on folded p-values the rate holds at 2 alpha: the note says so
    assert by["bonferroni"].attrs["adjust_note"].startswith("Bonferroni on the folded")
    assert "controlled at 2 alpha" in by["fdr"].attrs["adjust_note"]
    assert by["none"].attrs["adjust_note"] == ""


def test_fdr_alias_and_bad_rules():
    v = rankings.variables("industrial_counties")
    w = weights.build(v.index, "queen")
    old = autocorr.local_stats(v["score"], w, permutations=999, seed=3, fdr=True, gi_star=False)
    new = autocorr.local_stats(v["score"], w, permutations=999, seed=3, adjust="fdr", gi_star=False)
    pd.testing.assert_frame_equal(old, new)
    assert old.attrs["adjust"] == "fdr"
    with pytest.raises(InputError, match="adjust must be"):
        autocorr.local_stats(v["score"], w, permutations=99, adjust="holm")
    with pytest.raises(InputError, match="fdr=True"):
        autocorr.local_stats(v["score"], w, permutations=99, adjust="bonferroni", fdr=True)
    # 999 permutations cannot reach alpha / n: no unit, and a note that says why
    bonf = autocorr.local_stats(v["score"], w, permutations=999, adjust="bonferroni")
    assert not bonf["significant"].any()
    assert "at least 74439 permutations" in bonf.attrs["adjust_note"]  # two-sided p >= 0.002
    folded = autocorr.local_stats(v["score"], w, permutations=999, adjust="bonferroni",
                                  sided="folded", gi_star=False)  # fmt: skip
    assert "at least 37219 permutations" in folded.attrs["adjust_note"]


def test_missing_p_values_are_never_significant():
    v = rankings.variables("industrial_counties")
    w = weights.build(v.index, "queen")
    for rule in RULES:
        local = autocorr.local_stats(v["score"], w, permutations=0, adjust=rule)
        assert local["p_sim"].isna().all() and local["gi_star_p_sim"].isna().all()
        assert not local["significant"].any() and not local["gi_star_significant"].any()
        assert (local["lisa_class"] == "Not significant").all()
    # a NaN p is not a test: it neither counts in m nor is significant
    p = np.array([0.001, np.nan, 0.02, 0.04, np.nan])
    assert autocorr._significant(p, 0.05, "bonferroni").tolist() == [1, 0, 0, 0, 0]
    assert autocorr._significant(p, 0.05, "fdr").tolist() == [1, 0, 1, 1, 0]  # m = 3
    assert autocorr._significant(p, 0.05, "none").tolist() == [1, 0, 1, 1, 0]


def test_cli_prints_the_rule(tmp_path):
    base = ["autocorr", "--permutations", "99", "--out", str(tmp_path)]
    for extra, rule in (
        ([], "two-sided p <= 0.05, no adjustment"),
        (["--adjust", "bonferroni"], "two-sided p <= 0.05, Bonferroni"),
        (["--sided", "folded"], "one-sided (folded) p <= 0.05, no adjustment"),
        (["--fdr"], "two-sided p <= 0.05, FDR"),
        (["--adjust", "fdr", "--alpha", "0.1"], "two-sided p <= 0.1, FDR"),
    ):
        proc = run_main(*base, *extra)
        assert proc.returncode == 0, proc.stderr
        assert f"LISA classes ({rule}): " in proc.stdout
    table = pd.read_csv(tmp_path / "lisa_industrial_counties_score_queen.csv")
    assert (table["adjust"] == "fdr").all() and "gi_star_significant" in table.columns
    assert (table["p_sided"] == "two-sided").all()
    proc = run_main(*base, "--adjust", "bonferroni")
    assert "no unit can be significant" in proc.stderr
    proc = run_main(*base, "--fdr", "--adjust", "none")
    assert proc.returncode == 2 and "contradicts --adjust none" in proc.stderr


def test_run_names_the_rule(tmp_path):
    from .test_run_user import EXAMPLE

    out = tmp_path / "out"
    args = ["run", "--data", str(EXAMPLE), "--out", str(out), "--permutations", "99", "--quiet"]
    proc = run_main(*args, "--adjust", "fdr")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    res = next(iter(summary["autocorrelation"].values()))
    assert res["lisa_rule"] == "two-sided p <= 0.05, FDR" and res["adjust"] == "fdr"
    assert res["p_sided"] == "two-sided"
    for page in ("index.html", "maps/lisa.html"):  # the table header, the map's legend
        text = (out / page).read_text(encoding="utf-8")  # Chinese units: a Chinese page
        assert "α = 0.05, FDR 校正（Benjamini-Hochberg）, 双侧 p" in text
    lisa = pd.read_csv(next((out / "tables").glob("lisa_*.csv")))
    assert (lisa["adjust"] == "fdr").all()


def test_tie_rule_no_all_zero_neighbourhood_is_significant():
    """A unit at the mode among neighbours at the mode is never significant (real data)."""
    v = rankings.variables("industrial_counties")
    w = weights.build(v.index, "queen")
    local = autocorr.local_stats(v["score"], w, permutations=999, seed=1)
    x = v["score"].reindex(w.ids).to_numpy()
    flat = (x == 0) & ((w.binary() @ (x != 0).astype(float)) == 0)
    assert flat.sum() > 1500
    assert local["p_sim"].to_numpy()[flat].min() > 0.3
    assert local["gi_star_p_sim"].to_numpy()[flat].min() > 0.3
    # Gi* under permutation now finds about as many units as the normal approximation
    n_sim = int((local["gi_star_p_sim"] <= 0.05).sum())
    n_norm = int((local["gi_star_p_norm"] <= 0.05).sum())
    assert 0.5 < n_sim / n_norm < 2


def test_tie_rule_on_a_lattice():
    """5 x 5 rook lattice, one high cell in a corner: the far, flat cells are not significant.

    Under GeoDa's and esda's fold they would get p = 1 / (P + 1): most permutations give
    them the same lag as observed (all neighbours 0).
    """
    import geopandas as gpd
    import shapely

    cells = [shapely.box(c, r, c + 1, r + 1) for r in range(5) for c in range(5)]
    grid = gpd.GeoDataFrame(geometry=cells, crs="EPSG:3857")
    values = pd.Series(np.zeros(25), index=grid.index)
    values.iloc[0] = 1.0
    local = autocorr.local_stats(values, weights.build(grid, "rook"), permutations=999, seed=2)
    far = [24, 23, 19, 18]  # zero cells with only zero neighbours
    assert (local.loc[far, "p_sim"] > 0.5).all()
    assert (local.loc[far, "gi_star_p_sim"] > 0.5).all()
    assert (local.loc[far, "lisa_class"] == "Not significant").all()
