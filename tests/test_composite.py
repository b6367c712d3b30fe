"""geotool.composite: weights, aggregation, ranks and sensitivity against references.

Data: libpysal's us_income table (usjoin.csv, 48 states' per-capita income 1929-2009) and
the bundled 2020 rankings. Every number is compared to a published value or to a direct
computation written here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from libpysal import examples
from scipy.special import xlogy

from geotool import composite, tiers
from geotool._errors import InputError
from geotool.report import rankings

YEARS = ["1929", "1969", "2009"]

#: Saaty (1990), "How to make a decision: the analytic hierarchy process", European Journal
#: of Operational Research 48(1): 9-26, the house-buying example (also Saaty 1980, The
#: Analytic Hierarchy Process, McGraw-Hill): the eight criteria, and the yard of the house.
HOUSE_CRITERIA = [
    [1, 5, 3, 7, 6, 6, 1 / 3, 1 / 4],
    [1 / 5, 1, 1 / 3, 5, 3, 3, 1 / 5, 1 / 7],
    [1 / 3, 3, 1, 6, 3, 4, 6, 1 / 5],
    [1 / 7, 1 / 5, 1 / 6, 1, 1 / 3, 1 / 4, 1 / 7, 1 / 8],
    [1 / 6, 1 / 3, 1 / 3, 3, 1, 1 / 2, 1 / 5, 1 / 6],
    [1 / 6, 1 / 3, 1 / 4, 4, 2, 1, 1 / 5, 1 / 6],
    [3, 5, 1 / 6, 7, 5, 5, 1, 1 / 2],
    [4, 7, 5, 8, 6, 6, 2, 1],
]
HOUSE_YARD = [[1, 5, 4], [1 / 5, 1, 1 / 3], [1 / 4, 3, 1]]

#: Published entropy-weight examples: (matrix, cost columns, published weights, decimals).
#: All four compute p = x / sum x on the values as measured, cost columns included as they
#: are (Zavadskas & Podvezko's cost columns reciprocated would give .128 .217 .360 .295).
#: The matrices and weights were read as transcribed, with these citations, in the test
#: suites of A. Baczkiewicz's pyrepo-mcda and crispyn (github.com/energyinpython); the
#: papers themselves were not readable offline. Every printed digit is reproduced below.
ENTROPY_EXAMPLES = {
    # Xu, X. (2004), "A note on the subjective and objective integrated approach to
    # determine attribute weights", European Journal of Operational Research 156(2):
    # 530-532, doi:10.1016/S0377-2217(03)00146-2: 4 alternatives x 4 attributes; the
    # last attribute barely varies (29, 29, 28.9, 29) and gets weight 0.0000.
    "xu2004": (
        [[30, 30, 38, 29], [19, 54, 86, 29], [19, 15, 85, 28.9], [68, 70, 60, 29]],
        [], [0.4630, 0.3992, 0.1378, 0.0000], 4,
    ),
    # Zavadskas, E.K. & Podvezko, V. (2016), "Integrated determination of objective
    # criteria weights in MCDM", International Journal of Information Technology &
    # Decision Making 15(2): 267-283, doi:10.1142/S0219622016500036: the entropy step
    # of the IDOCRIW example; criteria 1 and 3 are minimised.
    "zavadskas2016": (
        [[3.0, 100, 10, 7], [2.5, 80, 8, 5], [1.8, 50, 20, 11], [2.2, 70, 12, 9]],
        [0, 2], [0.1146, 0.1981, 0.4185, 0.2689], 4,
    ),
    # Lee, H.C. & Chang, C.T. (2018), "Comparative analysis of MCDM methods for ranking
    # renewable energy sources in Taiwan", Renewable and Sustainable Energy Reviews 92:
    # 883-896, doi:10.1016/j.rser.2018.05.007: 5 energy sources x 10 criteria.
    "lee2018": (
        [[4550, 30, 6.74, 20, 15, 5, 85, 150, 0.87, 4.76],
         [3005, 60.86, 2.4, 35, 27, 4, 26, 200, 0.17, 4.51],
         [2040, 14.85, 1.7, 90, 25, 5, 26, 500, 0.27, 4.19],
         [3370, 99.4, 3.25, 25.3, 54, 3, 45, 222, 0.21, 3.78],
         [3920, 112.6, 4.93, 11.4, 71.7, 2, 50, 100, 0.25, 4.11]],
        [0, 1, 2, 6, 7],
        [0.026, 0.154, 0.089, 0.199, 0.115, 0.04, 0.08, 0.123, 0.172, 0.002], 3,
    ),
    # Ersoy, Y. (2021), "Equipment selection for an e-commerce company using entropy-based
    # TOPSIS, EDAS and CODAS methods during the COVID-19", LogForum 17(3),
    # doi:10.17270/J.LOG.2021.603: 6 alternatives x 6 criteria (directions not needed).
    "ersoy2021": (
        [[256, 8, 41, 1.6, 1.77, 7347.16], [256, 8, 32, 1.0, 1.8, 6919.99],
         [256, 8, 53, 1.6, 1.9, 8400], [256, 8, 41, 1.0, 1.75, 6808.9],
         [512, 8, 35, 1.6, 1.7, 8479.99], [256, 4, 35, 1.6, 1.7, 7499.99]],
        [], [0.405, 0.221, 0.134, 0.199, 0.007, 0.034], 3,
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def states() -> pd.DataFrame:
    table = pd.read_csv(examples.get_path("usjoin.csv")).set_index("Name")
    table.columns = table.columns.astype(str)
    return table


def _minmax(x: pd.DataFrame) -> pd.DataFrame:
    return (x - x.min()) / (x.max() - x.min())


# --- AHP ------------------------------------------------------------------------------


def test_ahp_reproduces_saatys_published_yard_priorities_and_consistency():
    """Saaty (1990) EJOR 48:9-26, house example, 'yard of the house': priorities
    .674/.101/.226, λmax 3.086, CI .043, CR .074 (printed to 3 decimals); RI(3) = 0.58
    (Saaty 1980)."""
    weights, diag = composite.ahp_weights(HOUSE_YARD, ["A", "B", "C"])
    np.testing.assert_allclose(weights.to_numpy(), [0.674, 0.101, 0.226], atol=5e-4)
    assert diag["lambda_max"] == pytest.approx(3.086, abs=5e-4)
    assert diag["ci"] == pytest.approx(0.043, abs=5e-4)
    assert diag["ri"] == 0.58
    assert diag["cr"] == pytest.approx(0.074, abs=5e-4)
    assert diag["cr"] == pytest.approx(diag["ci"] / 0.58, rel=1e-12)


def test_ahp_refuses_saatys_inconsistent_criteria_matrix_with_its_published_cr():
    """Saaty (1990), house example, the 8 criteria: λmax 9.669, CR .169 > 0.1 (Saaty
    publishes it as an example of judgements to revise). The refusal names the matrix, the
    published numbers and the fix; the weights it would give match the published
    .173 .054 .188 .018 .031 .036 .167 .333 (numpy's eigenvector, computed here)."""
    with pytest.raises(InputError, match=r"^ahp: the 8x8 pairwise matrix is inconsistent") as err:
        composite.ahp_weights(HOUSE_CRITERIA)
    message = str(err.value)
    assert "CR 0.169" in message and "λmax 9.669" in message and "revise" in message
    assert "\n" not in message
    values, vectors = np.linalg.eig(np.array(HOUSE_CRITERIA))
    vec = np.abs(vectors[:, np.argmax(values.real)].real)
    published = [0.173, 0.054, 0.188, 0.018, 0.031, 0.036, 0.167, 0.333]
    np.testing.assert_allclose(vec / vec.sum(), published, atol=5e-4)


@pytest.mark.parametrize("n, ri", [(3, 0.58), (4, 0.90), (5, 1.12)])
def test_ahp_random_index_is_saatys_and_consistent_matrices_give_their_ratios(n, ri):
    """Saaty (1980) RI table: n=3 0.58, n=4 0.90, n=5 1.12. A consistent matrix
    a_ij = w_i / w_j has λmax = n, CR = 0 and gives back w; one perturbed pair gives
    CR = ((λmax - n) / (n - 1)) / RI with λmax computed here by power iteration."""
    w = np.arange(1, n + 1, dtype=float)[::-1]
    a = np.outer(w, 1 / w)
    weights, diag = composite.ahp_weights(a)
    np.testing.assert_allclose(weights.to_numpy(), w / w.sum(), rtol=1e-10)
    assert diag["ri"] == ri and diag["cr"] == pytest.approx(0.0, abs=1e-10)
    a[0, 1] *= 1.5
    a[1, 0] = 1 / a[0, 1]
    x = np.ones(n)
    for _ in range(500):
        x = a @ x
        x /= x.sum()
    lam = float((a @ x / x).mean())
    _, diag = composite.ahp_weights(a)
    assert diag["cr"] == pytest.approx((lam - n) / (n - 1) / ri, rel=1e-8)


@pytest.mark.parametrize(
    "matrix, needle",
    [
        ([[1, 3], [3, 1]], "not reciprocal"),
        ([[1, 3, 0.5], [0.33, 1, 2], [2, 0.5, 1]], "not reciprocal"),  # 0.33 for 1/3
        ([[1, -2], [-0.5, 1]], "positive"),
        ([[1, 0], [np.inf, 1]], "positive"),
        ([[1, 2, 3], [0.5, 1, 2]], "square"),
        ([[1.0]], "square"),
    ],
)
def test_ahp_refuses_bad_matrices_in_one_line(matrix, needle):
    with pytest.raises(InputError, match=r"^ahp: ") as err:
        composite.ahp_weights(matrix)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_ahp_accepts_three_decimal_reciprocals_and_labels_reorder():
    typed = [[1, 5, 4], [0.2, 1, 0.333], [0.25, 3, 1]]
    exact, _ = composite.ahp_weights(HOUSE_YARD, ["A", "B", "C"])
    got, _ = composite.ahp_weights(typed, ["A", "B", "C"])
    np.testing.assert_allclose(got.to_numpy(), exact.to_numpy(), atol=1e-3)
    frame = pd.DataFrame(HOUSE_YARD, index=list("ABC"), columns=list("ABC"))
    shuffled, _ = composite.ahp_weights(frame.loc[list("CAB"), list("BCA")], ["A", "B", "C"])
    np.testing.assert_allclose(shuffled.to_numpy(), exact.to_numpy(), rtol=1e-12)


# --- objective weights ------------------------------------------------------------------


def test_entropy_weights_match_the_formula_with_zero_proportions(states):
    """The default basis: Shannon entropy of min-max proportions (Zou, Yun & Sun 2006,
    J. Environ. Sci. 18(5)), built here from the formula: p = x' / sum x', e = -sum p ln p
    / ln n with 0 ln 0 = 0 (scipy's xlogy), w ∝ 1 - e. Min-max leaves one zero per column.
    The published examples (raw basis) are the next test."""
    result = composite.build(states, YEARS, method="entropy")
    mm = _minmax(states[YEARS])
    assert (mm == 0).sum().tolist() == [1, 1, 1]
    p = mm / mm.sum()
    e = -xlogy(p, p).sum() / np.log(len(states))
    expected = (1 - e) / (1 - e).sum()
    np.testing.assert_allclose(result.weights["weight"], expected.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(list(result.diagnostics["entropy"].values()), e, rtol=1e-12)
    assert result.weights["method"].eq("entropy").all()
    assert result.diagnostics["entropy_basis"] == "minmax"


@pytest.mark.parametrize("name", list(ENTROPY_EXAMPLES))
def test_entropy_weights_reproduce_published_examples_on_the_raw_basis(name):
    """Xu (2004) EJOR 156(2):530-532; Zavadskas & Podvezko (2016) IJITDM 15(2):267-283;
    Lee & Chang (2018) RSER 92:883-896; Ersoy (2021) LogForum 17(3) (full citations at
    ENTROPY_EXAMPLES): entropy_basis='raw' gives every published weight to the printed
    decimals, with the cost columns marked '-' (direction does not enter raw proportions).
    The default min-max basis gives other weights: the option is what reproduces them."""
    matrix, cost, published, decimals = ENTROPY_EXAMPLES[name]
    frame = pd.DataFrame(matrix, columns=[f"c{j + 1}" for j in range(len(matrix[0]))])
    cols = list(frame.columns)
    direction = {cols[j]: "-" for j in cost}
    result = composite.build(frame, cols, method="entropy", entropy_basis="raw",
                             direction=direction)  # fmt: skip
    got = result.weights["weight"].to_numpy()
    np.testing.assert_allclose(got, published, rtol=0, atol=0.5 * 10.0**-decimals + 1e-12)
    assert result.diagnostics["entropy_basis"] == "raw"
    default = composite.build(frame, cols, method="entropy", direction=direction)
    assert np.abs(default.weights["weight"].to_numpy() - published).max() > 0.02


def test_entropy_raw_basis_refuses_negative_values(states):
    relative = np.log(states["2009"] / states["2009"].mean())  # below-mean states < 0
    frame = states[YEARS].assign(relative=relative)
    assert (frame["relative"] < 0).any()
    with pytest.raises(InputError, match=r"^entropy_basis='raw': \['relative'\] has negative"):
        composite.build(frame, [*YEARS, "relative"], entropy_basis="raw")
    minmax = composite.build(frame, [*YEARS, "relative"])  # the default basis takes them
    assert minmax.weights["weight"].sum() == pytest.approx(1.0)


def test_critic_weights_match_diakoulaki_formula(states):
    """CRITIC, Diakoulaki, Mavrotas & Papayannakis (1995), Computers & OR 22(7): C_j =
    sigma_j * sum_k (1 - r_jk) on min-max values; pandas' Pearson r, computed here."""
    cols = [*YEARS, "1949"]
    result = composite.build(states, cols, method="critic", direction={"1949": "-"})
    oriented = states[cols].astype(float) * [1, 1, 1, -1]
    mm = _minmax(oriented)
    c = mm.std(ddof=1) * (1 - mm.corr()).sum()
    np.testing.assert_allclose(result.weights["weight"], (c / c.sum()).to_numpy(), rtol=1e-12)


def test_pca_weights_from_the_components_explaining_85_percent(states):
    """PCA weights by SVD of the standardised data (not the module's eigh of the
    correlation matrix): the fewest components with >= 85% of variance, weights ∝
    sum_k lambda_k |v_jk|."""
    cols = ["1929", "1949", "1969", "1989", "2009"]
    growth = np.log(states["2009"] / states["1929"]).rename("growth")
    frame = states[cols].join(growth)
    cols = [*cols, "growth"]
    result = composite.build(frame, cols, method="pca")
    x = frame[cols].to_numpy(float)
    zs = (x - x.mean(0)) / x.std(0, ddof=1)
    _, s, vt = np.linalg.svd(zs, full_matrices=False)
    lam = s**2 / (len(x) - 1)
    k = int(np.argmax(np.cumsum(lam) / lam.sum() >= 0.85)) + 1
    assert result.diagnostics["components"] == k == 2
    raw = np.abs(vt[:k].T) @ lam[:k]
    np.testing.assert_allclose(result.weights["weight"], raw / raw.sum(), rtol=1e-10)
    assert result.diagnostics["explained"] == pytest.approx(lam[:k].sum() / lam.sum())


# --- normalisation, aggregation, TOPSIS -------------------------------------------------


def test_weighted_sum_with_dimensions_and_ahp_over_dimensions(states):
    """AHP over two dimensions (Saaty's yard matrix cut to 2x2 is reciprocal: 1 vs 5):
    dimension weights 5/6, 1/6 shared equally by their indicators; dimension scores are
    weighted means of min-max values, the score their weighted sum."""
    dims = {"early": ["1929", "1949"], "late": ["2009"]}
    cols = ["1929", "1949", "2009"]
    result = composite.build(states, cols, method="ahp", ahp=[[1, 5], [1 / 5, 1]],
                             dimensions=dims)  # fmt: skip
    np.testing.assert_allclose(result.weights["weight"], [5 / 12, 5 / 12, 1 / 6], rtol=1e-12)
    assert result.weights["dimension"].tolist() == ["early", "early", "late"]
    mm = _minmax(states[cols].astype(float))
    early = (mm["1929"] + mm["1949"]) / 2
    np.testing.assert_allclose(result.scores["early"], early, rtol=1e-12)
    np.testing.assert_allclose(result.scores["late"], mm["2009"], rtol=1e-12)
    np.testing.assert_allclose(result.scores["score"], 5 / 6 * early + mm["2009"] / 6)
    assert result.diagnostics["cr"] == 0.0 and result.scores.index.equals(states.index)


def test_direction_minus_reverses_before_normalising(states):
    got = composite.build(states, YEARS, method="equal", direction={"1969": "-"},
                          normalise="zscore")  # fmt: skip
    x = states[YEARS].astype(float)
    z = (x - x.mean()) / x.std(ddof=1)
    np.testing.assert_allclose(got.scores["score"], (z["1929"] - z["1969"] + z["2009"]) / 3)
    mm = composite.build(states, ["1929"], method="equal", direction={"1929": "-"})
    expected = (x["1929"].max() - x["1929"]) / (x["1929"].max() - x["1929"].min())
    np.testing.assert_allclose(mm.scores["score"], expected, rtol=1e-12)
    assert mm.scores["rank"].loc[x["1929"].idxmin()] == 1


def test_geometric_mean_on_vector_normalised_values(states):
    result = composite.build(states, YEARS, method="critic", aggregate="geometric",
                             normalise="vector")  # fmt: skip
    x = states[YEARS].astype(float)
    r = x / np.sqrt((x**2).sum())
    w = result.weights["weight"].to_numpy()
    np.testing.assert_allclose(result.scores["score"], np.prod(r**w, axis=1), rtol=1e-12)
    with pytest.raises(InputError, match=r"aggregate='geometric'.*normalise='vector'"):
        composite.build(states, YEARS, aggregate="geometric")


def test_topsis_matches_a_direct_computation_of_hwang_and_yoons_example():
    """Hwang & Yoon (1981), Multiple Attribute Decision Making, Springer: the fighter
    aircraft example (speed, range, payload, cost '-', reliability, manoeuvrability;
    weights .2 .1 .1 .1 .2 .3). Closeness computed here step by step: vector
    normalisation, weighted, ideal max (min for cost), Euclidean distances, C = S- /
    (S+ + S-). The book's printed closeness values were not verified offline."""
    x = pd.DataFrame(
        [[2.0, 1500, 20000, 5.5, 5, 9], [2.5, 2700, 18000, 6.5, 3, 5],
         [1.8, 2000, 21000, 4.5, 7, 7], [2.2, 1800, 20000, 5.0, 5, 5]],
        index=["A1", "A2", "A3", "A4"],
        columns=["speed", "range", "payload", "cost", "reliability", "manoeuvre"],
    )  # fmt: skip
    w = np.array([0.2, 0.1, 0.1, 0.1, 0.2, 0.3])
    ahp = np.outer(w, 1 / w)  # consistent: gives back w exactly
    result = composite.build(x, list(x.columns), method="ahp", ahp=ahp,
                             direction={"cost": "-"}, aggregate="topsis")  # fmt: skip
    v = (x / np.sqrt((x**2).sum())).to_numpy() * w
    best = np.where(x.columns == "cost", v.min(0), v.max(0))
    worst = np.where(x.columns == "cost", v.max(0), v.min(0))
    s_plus = np.sqrt(((v - best) ** 2).sum(1))
    s_minus = np.sqrt(((v - worst) ** 2).sum(1))
    np.testing.assert_allclose(result.scores["score"], s_minus / (s_plus + s_minus), rtol=1e-12)
    assert result.diagnostics["normalise"] == "vector"
    ranks = scipy.stats.rankdata(-(s_minus / (s_plus + s_minus)), method="min")
    assert result.scores["rank"].tolist() == ranks.tolist()


# --- the 2020 rankings: ranks, ties, tiers ----------------------------------------------


def test_the_index_reproduces_the_reports_ranks_with_its_tie_and_feeds_tiers():
    """Ranks are 1..n with equal scores sharing the best rank: the report's 表 1 has two
    counties at 30 and no 31. A one-indicator index of rank ('-') gives the report's
    ranks back; its 4 quantile tiers equal tiers.assign on the same score and hold the
    ranks' quartiles (ties together)."""
    table = rankings.load("industrial_counties").set_index("adcode")
    result = composite.build(table, ["rank"], method="equal", direction={"rank": "-"})
    assert result.scores["rank"].tolist() == table["rank"].tolist()
    assert sorted(set(result.scores["rank"])) == sorted(set(range(1, 101)) - {31})
    tier = tiers.assign(result.scores["score"], method="quantiles", k=4)
    cuts = np.quantile(result.scores["score"], [0.25, 0.5, 0.75, 1.0])
    direct = 4 - np.searchsorted(cuts, result.scores["score"], side="left")
    assert tier.tolist() == direct.tolist()
    assert tier.value_counts().sort_index().tolist() == [25, 25, 25, 25]


def test_two_rankings_combined_rank_by_competition_rule():
    """Industrial score (101 - rank) and innovation score (101 - rank in 表 2, 0 when not
    listed) of the 100 industrial counties, equal weights: score and ranks computed here
    (scipy's rankdata, method='min')."""
    industrial = rankings.load("industrial_counties").set_index("adcode")
    innovation = rankings.load("innovation_counties").set_index("adcode")["rank"]
    frame = pd.DataFrame({
        "industrial": 101 - industrial["rank"],
        "innovation": (101 - innovation).reindex(industrial.index).fillna(0),
    })  # fmt: skip
    result = composite.build(frame, ["industrial", "innovation"], method="equal")
    expected = _minmax(frame.astype(float)).mean(axis=1)
    np.testing.assert_allclose(result.scores["score"], expected, rtol=1e-12)
    ranks = scipy.stats.rankdata(-expected.to_numpy(), method="min")
    assert result.scores["rank"].tolist() == ranks.tolist()
    assert result.scores["rank"].min() == 1 and result.scores["rank"].max() <= 100


# --- sensitivity ------------------------------------------------------------------------


def test_sensitivity_ranks_spearman_and_tier_changes(states):
    options = {"ahp": [[1, 3, 5], [1 / 3, 1, 3], [1 / 5, 1 / 3, 1]]}
    cols = ["1929", "1969", "2009"]
    sens = composite.sensitivity(states, cols, k=4, **options)
    methods = ["entropy", "critic", "ahp", "pca", "equal"]
    assert sens.ranks.columns.tolist() == methods
    for m in methods:
        one = composite.build(states, cols, method=m, ahp=options["ahp"] if m == "ahp" else None)
        assert sens.ranks[m].tolist() == one.scores["rank"].tolist()
        tier = tiers.assign(one.scores["score"], method="quantiles", k=4)
        assert sens.tiers[m].tolist() == tier.tolist()
    rho = scipy.stats.spearmanr(sens.ranks.astype(float).to_numpy()).statistic
    np.testing.assert_allclose(sens.spearman.to_numpy(), rho, rtol=1e-12)
    moved = [s for s in states.index if sens.tiers.loc[s].min() != sens.tiers.loc[s].max()]
    assert sens.changes.index.tolist() == moved and moved  # weights matter at the margins
    assert (sens.changes["lowest"] >= sens.changes["highest"]).all()


# --- bad input --------------------------------------------------------------------------


def test_missing_values_refused_by_row_or_excluded_and_reported(states):
    gappy = states[YEARS].astype(float)
    gappy.loc[["Ohio", "Utah"], "1969"] = np.nan
    with pytest.raises(
        InputError, match=r"^indicators: 2 row\(s\) .*Ohio.*Utah.*missing='exclude'"
    ):
        composite.build(gappy, YEARS)
    result = composite.build(gappy, YEARS, missing="exclude")
    assert result.diagnostics["excluded"] == ["Ohio", "Utah"]
    assert result.scores.loc[["Ohio", "Utah"], "score"].isna().all()
    assert result.scores.loc[["Ohio", "Utah"], "rank"].isna().all()
    complete = composite.build(gappy.drop(index=["Ohio", "Utah"]), YEARS)
    pd.testing.assert_frame_equal(result.scores.dropna(), complete.scores)


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"method": "topsis"}, "^method must be one of"),
        ({"aggregate": "mean"}, "^aggregate must be one of"),
        ({"normalise": "rank"}, "^normalise must be one of"),
        ({"direction": {"1929": "up"}}, "^direction: bad signs"),
        ({"direction": {"gdp": "-"}}, "^direction: not indicators"),
        ({"dimensions": {"a": ["1929"]}}, "^dimensions: each indicator"),
        ({"dimensions": {"score": YEARS}}, "^dimensions: .*result column"),
        ({"method": "ahp"}, "^ahp: method='ahp' needs"),
        ({"method": "equal", "ahp": [[1, 2], [0.5, 1]]}, "^ahp: a pairwise matrix is given"),
        ({"method": "ahp", "ahp": [[1, 2], [0.5, 1]]}, "^ahp: the pairwise matrix has shape"),
        ({"missing": "drop"}, "^missing must be one of"),
        ({"entropy_basis": "sum"}, "^entropy_basis must be one of"),
    ],
)
def test_bad_options_are_refused_naming_the_parameter(states, kwargs, needle):
    with pytest.raises(InputError, match=needle):
        composite.build(states, YEARS, **kwargs)


def test_bad_frames_and_indicators(states):
    with pytest.raises(InputError, match=r"^indicators: not columns of frame: \['gdp'\]"):
        composite.build(states, ["gdp"])
    by_year = states[YEARS].set_axis([1929, 1969, 2009], axis=1)
    pd.testing.assert_frame_equal(
        composite.build(by_year, [1929, 1969, 2009]).scores, composite.build(states, YEARS).scores
    )
    with pytest.raises(InputError, match=r"^indicators: give a list"):
        composite.build(states, "1929")
    with pytest.raises(InputError, match=r"^frame: 2 complete row"):
        composite.build(states.head(2), YEARS)
    flat = states[YEARS].assign(flat=1.0)
    with pytest.raises(InputError, match=r"^indicators: \['flat'\] is constant"):
        composite.build(flat, [*YEARS, "flat"])
    text = states[YEARS].astype(str)
    text.iloc[3, 0] = "n/a"
    with pytest.raises(InputError, match=r"^1929: 1 value"):
        composite.build(text, YEARS)
    with pytest.raises(InputError, match=r"^methods: give at least two"):
        composite.sensitivity(states, YEARS, methods=["equal"])


def test_equal_scores_share_a_rank_whatever_the_order_of_summation():
    """0.1 + 0.2 is not 0.3 in floating point; as scores they are one score (rank 1, 1, 3)."""
    assert 0.1 + 0.2 != 0.3
    ranks = composite.rank(pd.Series([0.1 + 0.2, 0.3, 0.25]))
    assert ranks.tolist() == [1, 1, 3]
    assert composite.rank(pd.Series([3e-9, 3.0000000001e-9])).tolist() == [2, 1]
