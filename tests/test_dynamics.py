"""Panels: year labels, balance, rank mobility, Markov chains, against giddy and by hand.

The reference panel: the bundled prefecture layer (345 units, queen weights from
``geotool.weights.build``) over five years of deterministic synthetic values with
spatial structure (a smooth surface plus spatially smoothed, seeded shocks that
persist), year labels mixed as users write them.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from geotool import autocorr, boundaries, dynamics, tiers, weights
from geotool._errors import InputError

YEARS = ["2018", "2019年", 2020.0, "2021", " 2022 "]
PERSIST = 0.85


@pytest.fixture(scope="module")
def layer():
    g = boundaries.load("prefecture")
    # every unit joined (台湾, 三沙 too, beyond the default bound): giddy's and esda's
    # references below see the same weights, with no unit left out
    return g, weights.build(g, "queen", islands="nearest:unbounded")


def _panel_values(g, w, *, spatial: float, seed: int) -> pd.DataFrame:
    pt = g.geometry.representative_point()
    lon, lat = pt.x.to_numpy(), pt.y.to_numpy()
    rng = np.random.default_rng(seed)
    lag = w.row_standardised()
    n = len(g)
    surface = np.sin(lon / 7.0) + np.cos(lat / 5.0)
    current = (surface - surface.mean()) / surface.std() if spatial else rng.normal(size=n)
    columns = {}
    for year in YEARS:
        columns[year] = current
        shock = rng.normal(0, 1.0, n)
        shock = (1 - spatial) * shock + spatial * (lag @ shock)
        current = PERSIST * current + np.sqrt(1 - PERSIST**2) * shock / shock.std()
    return pd.DataFrame(columns, index=g.index)


@pytest.fixture(scope="module")
def structured(layer):
    g, w = layer
    return _panel_values(g, w, spatial=0.8, seed=2026)


def _libpysal_w(w, transform="r"):
    """A libpysal W with the same links, ids 0..n-1 in w's order (giddy indexes by id)."""
    from libpysal.weights import W

    s = w.sparse
    neighbours = {a: s.indices[s.indptr[a] : s.indptr[a + 1]].tolist() for a in range(len(w.ids))}
    out = W(neighbours, silence_warnings=True)
    out.transform = transform
    return out


# --- panels -------------------------------------------------------------------------


def test_year_labels_mixed_long_and_wide(caplog):
    long = pd.DataFrame(
        {
            "unit": ["a", "a", "a", "b", "b", "b", "c", "c"],
            "year": ["2018", "2019年", 2020.0, 2018, "２０１９", "2020 年", "2018", "2020"],
            "GDP": [1.0, 2.0, 3.0, "4", 5.0, 6.0, 7.0, 8.0],
        }
    )
    p = dynamics.panel(long, id_col="unit", year_col="year", value_col="GDP")
    assert p.years == [2018, 2019, 2020]
    assert p.wide.index.tolist() == ["a", "b"]
    assert p.wide.loc["b"].tolist() == [4.0, 5.0, 6.0]
    assert p.name == "GDP"
    assert p.dropped.to_dict(orient="index") == {
        "c": {"missing_years": "2019", "reason": "no value in some years"}
    }
    wide = pd.DataFrame(
        {"2018": [1.0, 2.0, 0.0], "2019年": [3.0, np.nan, 0.0], 2020.0: [5.0, 6.0, 0.0]}
    )
    pw = dynamics.panel(wide)
    assert pw.years == [2018, 2019, 2020]
    with caplog.at_level(logging.WARNING, logger="geotool"):
        dynamics.panel(wide.drop(columns="2019年").assign(**{"2023": 1.0}))
    assert "[2018, 2020, 2023] are not evenly spaced" in caplog.text
    assert pw.dropped["missing_years"].tolist() == ["2019"]


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        (
            pd.DataFrame({"u": ["a", "b"], "y": ["2019", "FY20"], "v": [1.0, 2.0]}),
            {"id_col": "u", "year_col": "y", "value_col": "v"},
            r"y: 1 rows do not hold a year \(1: not a year: 'FY20'\)",
        ),
        (
            pd.DataFrame({"u": ["a", "b"], "y": ["2019", None], "v": [1.0, 2.0]}),
            {"id_col": "u", "year_col": "y", "value_col": "v"},
            r"1 rows do not hold a year \(1: empty\)",
        ),
        (
            pd.DataFrame({"u": ["a", "a"], "y": ["2019", 2019.0], "v": [1.0, 2.0]}),
            {"id_col": "u", "year_col": "y", "value_col": "v"},
            r"two values for one year \(a in 2019\)",
        ),
        (
            pd.DataFrame({"2019": [1.0], "GDP": [2.0]}),
            {},
            r"data: 1 columns do not hold a year \(1: not a year: 'GDP'\)",
        ),
        (
            pd.DataFrame({"2019": [1.0, 2.0], "2019年": [2.0, 3.0]}),
            {},
            r"columns \['2019', '2019年'\] name the same year",
        ),
        (
            pd.DataFrame({"2019": [1.0, 2.0], "2020": ["3", "n/a"]}),
            {},
            r"1 value\(s\) are not numbers \(e.g. 'n/a' at rows \['1'\]\)",
        ),
        (
            pd.DataFrame({"u": ["a"], "y": [2019], "v": [1.0]}),
            {"id_col": "u", "year_col": "y"},
            r"year_col='y', value_col=None: a long table needs both",
        ),
        (
            pd.DataFrame({"2019": [1.0, np.nan], "2020": [2.0, 3.0]}),
            {},
            r"balanced panel of value has 1 unit\(s\) and 2 year\(s\) \(1 units dropped",
        ),
    ],
)
def test_panel_refuses_what_is_not_a_year_or_a_number(data, kwargs, message):
    with pytest.raises(InputError, match=message):
        dynamics.panel(data, **kwargs)


# --- Markov by hand -----------------------------------------------------------------


def test_markov_matrix_by_hand():
    # classes (pooled median split at 8.5): A 1,1,1  B 1,2,2  C 2,1,2  D 1,2,2
    wide = pd.DataFrame(
        {
            "2018": [1.0, 4.0, 13.0, 6.0],
            "2019年": [2.0, 11.0, 5.0, 15.0],
            2020.0: [3.0, 12.0, 14.0, 16.0],
        },
        index=["A", "B", "C", "D"],
    )
    out = dynamics.markov(wide, k=2)
    assert out["classes"].to_numpy().tolist() == [[1, 1, 1], [1, 2, 2], [2, 1, 2], [1, 2, 2]]
    # from 1: A 1->1 twice, B, C (2019 -> 2020) and D 1->2; from 2: B 2->2, C 2->1, D 2->2
    assert out["counts"].to_numpy().tolist() == [[2.0, 3.0], [1.0, 2.0]]
    np.testing.assert_allclose(out["probabilities"].to_numpy(), [[0.4, 0.6], [1 / 3, 2 / 3]])
    # two states: pi_1 = p21 / (p12 + p21) = (1/3) / (0.6 + 1/3) = 5/14
    np.testing.assert_allclose(out["steady_state"].to_numpy(), [5 / 14, 9 / 14], atol=1e-12)
    assert out["shorrocks"] == pytest.approx(2 - 0.4 - 2 / 3)
    assert out["moves"] == 8
    assert out["cutoffs"]["upper"].tolist() == [8.5, 16.0]
    assert "50% stayed in their class" in out["sentence"]  # A twice, B and D once: 4 of 8
    yearly = dynamics.markov(wide, k=2, classes="yearly")
    # per year the two lowest of each column are class 1
    assert yearly["classes"].to_numpy().tolist() == [[1, 1, 1], [1, 2, 1], [2, 1, 2], [2, 2, 2]]


def test_markov_refuses_too_many_classes_for_tied_values():
    wide = pd.DataFrame({"2019": [0.0, 0.0, 0.0, 1.0], "2020": [0.0, 0.0, 1.0, 2.0]})
    with pytest.raises(InputError, match=r"k=4: the values over all years have only 3 distinct"):
        dynamics.markov(wide, k=4)
    with pytest.raises(InputError, match="classes='quartiles'"):
        dynamics.markov(wide, k=2, classes="quartiles")


# --- against giddy ------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["pooled", "yearly"])
def test_spatial_markov_equals_giddy(layer, structured, rule):
    from giddy.ergodic import steady_state
    from giddy.markov import Spatial_Markov

    _g, w = layer
    ours = dynamics.spatial_markov(dynamics.panel(structured), w, k=4, classes=rule)
    y = structured.reindex(w.ids).to_numpy()
    theirs = Spatial_Markov(y, _libpysal_w(w), k=4, m=4, fixed=rule == "pooled")
    assert ours["counts"].to_numpy().tolist() == theirs.T.reshape(16, 4).tolist()
    probs = ours["probabilities"].to_numpy()
    np.testing.assert_allclose(np.nan_to_num(probs), theirs.P.reshape(16, 4), atol=1e-12)
    assert np.isnan(probs).any(axis=1).sum() == (theirs.T.reshape(16, 4).sum(axis=1) == 0).sum()
    np.testing.assert_array_equal(ours["pooled"]["counts"].to_numpy(), theirs.transitions)
    assert np.asarray(theirs.s).ndim == 1  # an ergodic pooled chain: one steady state
    np.testing.assert_allclose(ours["pooled"]["steady_state"].to_numpy(), theirs.s, atol=1e-10)
    tests = ours["tests"].set_index("statistic")
    assert 1e-8 < tests.loc["Q", "p"] < 0.5  # a case where p-values are informative
    for name, value, dof, p in [
        ("Q", theirs.Q, theirs.dof_hom, theirs.Q_p_value),
        ("LR", theirs.LR, theirs.dof_hom, theirs.LR_p_value),
        ("chi2", theirs.x2, theirs.x2_dof, theirs.x2_pvalue),
    ]:
        assert tests.loc[name, "value"] == pytest.approx(value, abs=1e-10)
        assert tests.loc[name, "dof"] == dof
        assert tests.loc[name, "p"] == pytest.approx(p, abs=1e-10)
    by_lag = ours["chi2_by_lag"]
    np.testing.assert_allclose(
        by_lag[["chi2", "p"]].to_numpy(), [c[:2] for c in theirs.chi2], atol=1e-10
    )
    assert by_lag["dof"].tolist() == [c[2] for c in theirs.chi2]
    compared = 0
    for r in range(4):  # giddy refuses matrices with empty rows; ours are NaN there
        if (theirs.T[r].sum(axis=1) == 0).any():
            assert ours["steady_state"].iloc[r].isna().all()
            continue
        expected = np.atleast_2d(steady_state(theirs.P[r]))
        if len(expected) > 1:  # several closed classes: no single steady state
            assert ours["steady_state"].iloc[r].isna().all()
            continue
        np.testing.assert_allclose(ours["steady_state"].iloc[r].to_numpy(), expected[0], atol=1e-10)
        compared += 1
    assert compared >= 1
    lags = ours["lag_classes"].to_numpy() - 1
    np.testing.assert_array_equal(lags, theirs.lclass_ids)


def test_lisa_markov_equals_giddy(layer, structured):
    from giddy.markov import LISA_Markov, Markov, chi2

    _g, w = layer
    ours = dynamics.lisa_markov(dynamics.panel(structured), w)
    y = structured.reindex(w.ids).to_numpy()
    theirs = LISA_Markov(y, _libpysal_w(w, "b"))
    np.testing.assert_array_equal(ours["counts"].to_numpy(), theirs.transitions)
    np.testing.assert_allclose(ours["probabilities"].to_numpy(), theirs.p, atol=1e-12)
    np.testing.assert_allclose(ours["steady_state"].to_numpy(), theirs.steady_state, atol=1e-10)
    codes = np.array(["", "HH", "LH", "LL", "HL"])[theirs.q]
    np.testing.assert_array_equal(ours["quadrants"].to_numpy(), codes)
    # The independence test. giddy builds the two-state own and neighbour chains on the
    # transposed panel (years as units), so its expected matrix differs; here they are
    # built with giddy's own Markov on the panel as it is (units x years), and the
    # statistic with giddy's chi2 on those expectations.
    below = y < y.mean(axis=0)
    lag_below = (w.row_standardised() @ y) < y.mean(axis=0)
    p_own = Markov(below, summary=False).p
    p_nbr = Markov(lag_below, summary=False).p
    a = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 1, 0, 0]])
    expected = np.diag(theirs.transitions.sum(axis=1)) @ (a @ np.kron(p_own, p_nbr) @ a.T)
    np.testing.assert_allclose(ours["expected"].to_numpy(), expected, atol=1e-10)
    value, p, dof = chi2(theirs.transitions, expected)
    row = ours["tests"].iloc[0]
    assert row["value"] == pytest.approx(value, abs=1e-10)
    assert row["p"] == pytest.approx(p, abs=1e-10)
    assert row["dof"] == dof
    # significance of each unit-year from the local statistics, carried into the moves
    sig = dynamics.lisa_markov(structured, w, permutations=99, seed=4)
    year = structured.columns[1]
    local = autocorr.local_stats(structured[year], w, permutations=99, seed=4, gi_star=False)
    flags = sig["significant"].iloc[:, 1]
    assert flags.to_dict() == local["significant"].reindex(flags.index).to_dict()
    moves = sig["moves"]
    assert len(moves) == 345 * 4
    table = pd.crosstab(moves["from"], moves["to"])
    order = list(dynamics.QUADRANTS)
    assert table.loc[order, order].to_numpy().tolist() == theirs.transitions.tolist()
    both = moves["significant_from"] & moves["significant_to"]
    assert sig["significant_counts"].to_numpy().sum() == both.sum() > 0
    assert "moves" in ours and "significant" not in ours
    # giddy's own chi_2 tests the transposed panel (years as units): another statistic,
    # which is why geotool builds the expectations itself
    assert abs(theirs.chi_2[0] - row["value"]) > 1.0


def test_rank_mobility_equals_giddy_tau_and_spatial_tau(layer, structured):
    from giddy.rank import SpatialTau, Tau
    from scipy.stats import kendalltau

    _g, w = layer
    out = dynamics.rank_mobility(dynamics.panel(structured), w, permutations=199, seed=3)
    assert out[["year_from", "year_to"]].to_numpy().tolist() == [
        [2018, 2019], [2019, 2020], [2020, 2021], [2021, 2022], [2018, 2022],
    ]  # fmt: skip
    y = structured.reindex(w.ids).to_numpy()
    for row, (j0, j1) in zip(
        out.itertuples(), [(0, 1), (1, 2), (2, 3), (3, 4), (0, 4)], strict=True
    ):
        st = SpatialTau(y[:, j0], y[:, j1], _libpysal_w(w, "b"))
        assert row.tau == pytest.approx(st.tau, abs=1e-12)
        assert (row.concordant, row.discordant) == (st.concordant, st.discordant)
        assert row.tau_neighbours == pytest.approx(st.tau_spatial, abs=1e-12)
        assert row.pairs_neighbours == st.pairs_spatial
        assert row.concordant_neighbours == st.concordant_spatial
        assert row.discordant_neighbours == st.discordant_spatial
        assert row.p_norm == pytest.approx(kendalltau(y[:, j0], y[:, j1]).pvalue, rel=1e-12)
        # the decomposition: all pairs = neighbouring pairs + the others
        n_pairs = len(y) * (len(y) - 1) // 2
        others = n_pairs - row.pairs_neighbours
        assert row.tau * n_pairs == pytest.approx(
            row.tau_neighbours * row.pairs_neighbours + row.tau_others * others, rel=1e-12
        )
        assert 1 / 200 <= row.p_sim_neighbours <= 1
    # structured shocks: neighbours swap ranks more than distant units do
    assert (out["tau_neighbours"] < out["tau_others"]).all()
    assert (out["p_sim_neighbours"] <= 0.05).all()
    # ties: tau-b as giddy's Tau
    x0 = np.array([1, 1, 2, 3, 3, 3, 4, 5], dtype=float)
    x1 = np.array([2, 1, 1, 3, 4, 4, 4, 5], dtype=float)
    tied = dynamics.rank_mobility(pd.DataFrame({"2019": x0, "2020": x1}))
    assert tied["tau"].iloc[0] == pytest.approx(Tau(x0, x1).tau, abs=1e-12)
    assert "tau_neighbours" not in tied.columns


def test_empty_rows_and_closed_classes_are_nan_where_giddy_fills_them():
    from giddy.ergodic import steady_state
    from giddy.markov import Markov

    # pooled median 4.5: every unit in class 1 in 2018 and in class 2 in 2019
    up = dynamics.markov(pd.DataFrame({"2018": [1.0, 2, 3, 4], "2019": [5.0, 6, 7, 8]}), k=2)
    chain = Markov(up["classes"].to_numpy() - 1, classes=np.arange(2), summary=False)
    assert up["counts"].to_numpy().tolist() == chain.transitions.tolist() == [[0, 4], [0, 0]]
    assert chain.p[1].tolist() == [0.0, 0.0]  # giddy: a row of zeros ...
    assert np.isnan(up["probabilities"].to_numpy()[1]).all()  # geotool: not estimated
    # ... and giddy's steady state makes the empty class absorbing: all mass there
    filled = steady_state(chain.p, fill_empty_classes=True)
    np.testing.assert_allclose(np.ravel(filled), [0.0, 1.0])
    assert up["steady_state"].isna().all() and np.isnan(up["shorrocks"])
    assert up["steady_state_note"] == "some classes have no observed moves out"
    # nobody moves: two closed classes, two steady states in giddy, none here
    still = dynamics.markov(pd.DataFrame({"2018": [1.0, 2, 3, 4], "2019": [1.0, 2, 3, 4]}), k=2)
    chain = Markov(still["classes"].to_numpy() - 1, classes=np.arange(2), summary=False)
    assert np.atleast_2d(steady_state(chain.p)).shape == (2, 2)
    assert still["steady_state"].isna().all()
    assert still["steady_state_note"].startswith("2 closed classes")
    assert still["shorrocks"] == 0.0


def test_p_values_and_dof_where_giddy_rounds_or_miscounts(layer, structured):
    from giddy.markov import Spatial_Markov, chi2

    _g, w = layer
    lisa = dynamics.lisa_markov(structured, w)
    row = lisa["tests"].iloc[0]
    counts, expected = lisa["counts"].to_numpy(), lisa["expected"].to_numpy()
    assert chi2(counts, expected)[1] == 0.0  # giddy's 1 - cdf: rounded to nothing
    assert 0.0 < row["p"] < 1e-20  # chi2.sf: the tail as it is
    assert f"p = {row['p']:.3g}" in lisa["sentence"] and "p = 0," not in lisa["sentence"]
    # m lag classes, k value classes: the chi-square sums m tests of (k - 1)^2 dof
    ours = dynamics.spatial_markov(structured, w, k=4, m=3)
    y = structured.reindex(w.ids).to_numpy()
    theirs = Spatial_Markov(y, _libpysal_w(w), k=4, m=3)
    tests = ours["tests"].set_index("statistic")
    assert tests.loc["chi2", "value"] == pytest.approx(theirs.x2, abs=1e-10)
    assert tests.loc["chi2", "dof"] == 3 * 9 and theirs.x2_dof == 4 * 9
    assert ours["counts"].shape == (12, 4)
    assert tests.loc["Q", "value"] == pytest.approx(theirs.Q, abs=1e-10)


def test_one_way_links_count_once_in_the_spatial_tau(layer, structured):
    from giddy.rank import SpatialTau

    g, _w = layer
    knn = weights.build(g, "knn:4")  # one-way links: a is among b's 4 nearest, not b in a's
    b = knn.binary()
    links = int((((b + b.T) > 0).sum()) // 2)
    assert links > len(g) * 4 // 2  # some links are one-way
    out = dynamics.rank_mobility(structured, knn, span="first_last", permutations=0)
    assert out["pairs_neighbours"].iloc[0] == links
    y = structured.reindex(knn.ids).to_numpy()
    one_way = SpatialTau(y[:, 0], y[:, -1], _libpysal_w(knn, "b"))
    assert one_way.pairs_spatial != links  # giddy on the directed W: s0 / 2 pairs
    assert np.isnan(out["p_sim_neighbours"].iloc[0])  # no permutations, no p-value


def test_giddy_is_imported_only_by_the_analyses():
    code = (
        "import sys, pandas as pd; from geotool import dynamics; "
        "dynamics.panel(pd.DataFrame({'2019': [1.0, 2.0], '2020': [2.0, 3.0]})); "
        "print(sorted(m for m in ('giddy', 'mapclassify', 'quantecon') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_run_modules_do_not_import_scipy_stats():
    # 0.4 s of a 4 s run (its distributions' docstrings): chi-square tails come from
    # scipy.special, kendalltau is imported by the panel analysis that uses it.
    code = (
        "import sys; from geotool import cli, pipeline, dynamics, divergence, regional; "
        "print(dynamics._chi2_p(3.84, 1), 'scipy.stats' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    p, imported = out.stdout.split()
    assert float(p) == pytest.approx(0.050043521248705, rel=1e-12)  # chi2(1).sf(3.84)
    assert imported == "False"


def test_moran_by_year_is_global_stats_of_each_year(layer, structured):
    _g, w = layer
    out = dynamics.moran_by_year(dynamics.panel(structured), w, permutations=99, seed=1)
    assert out["year"].tolist() == [2018, 2019, 2020, 2021, 2022]
    col = structured.columns[2]
    ref = autocorr.global_stats(structured[col].rename("v"), w, permutations=99, seed=1)
    i = ref[ref["statistic"] == "moran_i"].iloc[0]
    assert out.loc[2, "moran_i"] == pytest.approx(i["value"], abs=1e-14)
    assert out.loc[2, "p_sim"] == i["p_sim"]
    assert (out["moran_i"] > 0.3).all()


def test_class_centres_reuse_tier_centres(layer, structured):
    g, _w = layer
    pos = tiers.unit_positions(g)
    out = dynamics.class_centres(dynamics.panel(structured), pos, k=4)
    assert set(out["class"]) == {1, 2, 3, 4}
    assert out.groupby("year")["n"].sum().tolist() == [345] * 5
    assert out["shift_km"].isna().sum() == 4  # the first year of each class


# --- sentences, balance, weights ----------------------------------------------------


def test_sentences_state_association_or_its_absence(layer, structured):
    g, w = layer
    found = dynamics.spatial_markov(dynamics.panel(structured), w, k=4)
    q = found["tests"].set_index("statistic").loc["Q"]
    assert q["p"] <= 0.05
    assert "is associated with its neighbours' class" in found["sentence"]
    assert f"Q = {q['value']:.1f}, dof {int(q['dof'])}, p = {q['p']:.3g}" in found["sentence"]
    assert "not evidence that neighbours cause" in found["sentence"]
    noise = _panel_values(g, w, spatial=0.0, seed=5)
    none = dynamics.spatial_markov(dynamics.panel(noise), w, k=4)
    assert none["tests"].set_index("statistic").loc["Q", "p"] > 0.05
    assert "shows no detectable dependence" in none["sentence"]
    assert "α = 0.05" in none["sentence"]
    lisa = dynamics.lisa_markov(dynamics.panel(noise), w, alpha=0.01)
    assert "α = 0.01" in lisa["sentence"]
    before = structured.copy()
    everything = dynamics.analyse(structured, w, k=4, permutations=99, seed=2)
    pd.testing.assert_frame_equal(structured, before)  # the input is never changed
    assert everything["sentences"] == [
        everything[key]["sentence"] for key in ("markov", "spatial_markov", "lisa_markov")
    ]
    assert everything["spatial_markov"]["sentence"] == found["sentence"]
    assert everything["dropped"].empty


def test_units_missing_years_or_weights_are_returned_not_hidden(layer, structured):
    _g, w = layer
    data = structured.copy()
    data.iloc[0, 2] = np.nan  # one unit misses 2020
    data.loc["999999"] = 1.0  # a unit the weights do not know
    p = dynamics.panel(data)
    out = dynamics.spatial_markov(p, w, k=4)
    assert out["dropped"].to_dict(orient="index") == {
        structured.index[0]: {"missing_years": "2020", "reason": "no value in some years"},
        "999999": {"missing_years": "", "reason": "not in w"},
    }
    assert len(out["classes"]) == 344
    # a unit whose only neighbour left the panel has no lag: left out, and reported
    lonely = w.ids[np.diff(w.sparse.indptr) == 1][0]
    partner = w.ids[w.sparse.indices[w.sparse.indptr[w.ids.get_loc(lonely)]]]
    out = dynamics.lisa_markov(structured.drop(index=partner), w)
    assert out["dropped"].loc[lonely, "reason"] == "no neighbour in w"
    numbered = structured.set_axis(structured.index.astype(int))
    with pytest.raises(InputError, match=r"only 0 units in common.*same type"):
        dynamics.spatial_markov(numbered, w)


def test_a_300_unit_10_year_panel_takes_well_under_a_second(layer):
    rng = np.random.default_rng(11)
    g, _w = layer
    units = g.index[:300]
    sub = weights.build(g.loc[units], "knn:6")
    wide = pd.DataFrame(
        rng.normal(size=(300, 10)).cumsum(axis=1), index=units, columns=range(2011, 2021)
    )
    p = dynamics.panel(wide)
    # giddy's import and quantecon's first compile are one-offs of the process (measured
    # on their own in benchmarks and the commit log), not the analyses' cost
    dynamics.markov(p, k=2)
    for name, run in [
        ("moran_by_year", lambda: dynamics.moran_by_year(p, sub, permutations=999)),
        ("rank_mobility", lambda: dynamics.rank_mobility(p, sub, permutations=999)),
        ("markov", lambda: dynamics.markov(p)),
        ("spatial_markov", lambda: dynamics.spatial_markov(p, sub)),
        ("lisa_markov", lambda: dynamics.lisa_markov(p, sub)),
    ]:
        start = time.process_time()  # CPU time: other processes' load does not count
        run()
        assert time.process_time() - start < 1.0, name
