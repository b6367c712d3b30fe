"""Transforms, rates and empirical-Bayes smoothing (against esda.smoothing), bivariate LISA.

Counts and populations are constructed deterministically on the bundled Jiangsu county
layer (queen weights from ``geotool.weights.build``), so that esda sees the same units
and links as geotool.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from geotool import autocorr, transform, weights
from geotool._errors import InputError


@pytest.fixture(scope="module")
def jiangsu(counties):
    units = counties[counties["province"] == "江苏省"]
    w = weights.build(units.index, "queen")
    i = np.arange(len(units))
    pop = pd.Series(20_000.0 + (i * 7919) % 50_000, index=units.index, name="人口")
    # a rate with a north-south gradient plus unit-level noise, as whole counts
    lat = units["rep_lat"].to_numpy()
    risk = 0.001 + 0.0004 * (lat - lat.min()) / np.ptp(lat) + 0.0003 * np.sin(i * 1.7)
    cases = pd.Series(np.round(pop.to_numpy() * risk), index=units.index, name="cases")
    return units, w, cases, pop


def _binary_w(w):
    """esda's smoothers take a libpysal W: the same links, binary, ids in w's order."""
    from libpysal.weights import W

    s = w.sparse
    ids = list(w.ids)
    neighbours = {
        ids[a]: [ids[b] for b in s.indices[s.indptr[a] : s.indptr[a + 1]]] for a in range(len(ids))
    }
    return W(neighbours, id_order=ids, silence_warnings=True)


def test_log_names_the_transform_and_refuses_non_positive_values_naming_rows():
    gdp = pd.Series([1.0, np.e, 0.0, -2.0], index=["a", "b", "c", "d"], name="GDP")
    out = transform.log(gdp.iloc[:2])
    assert out.name == "log(GDP)"
    assert out.attrs == {"transform": "log", "source": "GDP"}
    np.testing.assert_allclose(out.to_numpy(), [0.0, 1.0])
    with pytest.raises(
        InputError, match=r"2 value\(s\) are zero or negative at \['c', 'd'\].*log1p=True"
    ):
        transform.log(gdp)
    shifted = transform.log(gdp.iloc[:3], log1p=True)
    assert shifted.name == "log(1 + GDP)"
    np.testing.assert_allclose(shifted.to_numpy(), np.log1p([1.0, np.e, 0.0]))
    with pytest.raises(InputError, match=r"-1 or less at \['d'\]"):
        transform.log(gdp.replace(-2.0, -1.0), log1p=True)


def test_standardise_gives_the_z_of_the_local_statistics(jiangsu):
    _units, w, cases, _ = jiangsu
    z = transform.standardise(cases)
    assert z.name == "z(cases)"
    assert z.index.equals(cases.index)
    assert abs(z.mean()) < 1e-12
    assert abs(z.std(ddof=0) - 1) < 1e-12
    local = autocorr.local_stats(cases, w, permutations=0, gi_star=False)
    np.testing.assert_allclose(z.reindex(local.index).to_numpy(), local["z"].to_numpy(), atol=1e-12)
    with pytest.raises(InputError, match="every value is 3"):
        transform.standardise(pd.Series([3.0, 3.0, 3.0], name="flat"))


def test_rate_is_per_capita_and_refuses_bad_populations():
    gdp = pd.Series([10.0, 30.0, 5.0], index=["a", "b", "c"], name="GDP")
    pop = pd.Series([3.0, 2.0, 5.0], index=["b", "a", "c"], name="人口")  # another order
    r = transform.rate(gdp, pop, scale=10_000)
    assert r.name == "GDP（每万人口）"  # Chinese names: a Chinese label
    assert transform.rate(gdp, pop.rename("pop"), scale=10_000).name == "GDP per 10,000 pop"
    np.testing.assert_allclose(r.to_numpy(), [50_000.0, 100_000.0, 10_000.0])
    with pytest.raises(InputError, match=r"zero or negative at \['c'\]"):
        transform.rate(gdp, pop.replace(5.0, 0.0))
    with pytest.raises(InputError, match=r"population \(人口\) has no value for 1 unit.*\['c'\]"):
        transform.rate(gdp, pop.drop("c"))
    with pytest.raises(InputError, match="scale=-1"):
        transform.rate(gdp, pop, scale=-1)


def test_global_eb_equals_esda(jiangsu):
    from esda.smoothing import Empirical_Bayes

    _, _, cases, pop = jiangsu
    ours = transform.eb_rate(cases, pop)
    theirs = Empirical_Bayes(cases.to_numpy(), pop.to_numpy()).r.ravel()
    assert ours.attrs["variance"] > 0  # the case esda and Marshall agree on
    np.testing.assert_allclose(ours.to_numpy(), theirs, rtol=1e-12)
    assert ours.name == "cases／人口（经验贝叶斯平滑）"
    # shrinkage: smoothed rates are pulled toward the overall rate, never past it
    raw = (cases / pop).to_numpy()
    m = ours.attrs["reference_rate"]
    assert np.all(np.abs(ours.to_numpy() - m) <= np.abs(raw - m) + 1e-15)
    assert np.ptp(ours.to_numpy()) < np.ptp(raw)


def test_global_eb_with_less_variation_than_chance_gives_the_overall_rate(caplog):
    cases = pd.Series([10.0, 21.0, 29.0, 40.0], name="cases")
    pop = pd.Series([1000.0, 2000.0, 3000.0, 4000.0], name="pop")
    with caplog.at_level(logging.WARNING, logger="geotool"):
        out = transform.eb_rate(cases, pop)
    assert out.attrs["variance"] < 0
    np.testing.assert_allclose(out.to_numpy(), 100.0 / 10_000.0)
    assert "vary less than chance" in caplog.text
    with pytest.raises(InputError, match=r"negative at \['1'\].*leave out smooth="):
        transform.eb_rate(cases.replace(21.0, -1.0), pop)


def test_spatial_eb_equals_esda(jiangsu):
    from esda.smoothing import Spatial_Empirical_Bayes

    _, w, cases, pop = jiangsu
    ours = transform.spatial_eb_rate(cases, pop, w)
    wl = _binary_w(w)
    theirs = Spatial_Empirical_Bayes(
        cases.reindex(w.ids).to_numpy(), pop.reindex(w.ids).to_numpy(), wl
    ).r.ravel()
    np.testing.assert_allclose(ours.reindex(w.ids).to_numpy(), theirs, rtol=1e-12)
    assert ours.index.equals(cases.index)
    assert ours.name == "cases／人口（空间经验贝叶斯平滑，queen）"
    # not the global smoother: each unit is shrunk toward its own neighbourhood
    assert np.abs(ours.to_numpy() - transform.eb_rate(cases, pop).to_numpy()).max() > 1e-5
    with pytest.raises(InputError, match=r"events \(cases\) has no value for 1 unit"):
        transform.spatial_eb_rate(cases.iloc[1:], pop, w)


def test_apply_chains_rate_smoothing_and_transform_with_labels(jiangsu):
    _units, w, cases, pop = jiangsu
    table = pd.DataFrame({"cases": cases, "人口": pop, "GDP": pop * 3.0})
    before = table.copy()
    out = transform.apply(table, ["cases", "GDP"], per="人口", smooth="eb", transform="log")
    pd.testing.assert_frame_equal(table, before)  # input untouched
    assert list(out.columns) == [
        "log(cases／人口（经验贝叶斯平滑）)",
        "log(GDP／人口（经验贝叶斯平滑）)",
    ]
    assert out.attrs["labels"]["cases"] == "log(cases／人口（经验贝叶斯平滑）)"
    np.testing.assert_allclose(
        out.iloc[:, 0].to_numpy(), np.log(transform.eb_rate(cases, pop).to_numpy()), rtol=1e-13
    )
    spatial = transform.apply(table, "cases", per="人口", smooth="spatial_eb", w=w)
    assert spatial.index.equals(table.index)
    z = transform.apply(table, "GDP", transform="standardise")
    assert z.columns.tolist() == ["z(GDP)"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"columns": ["nope"]}, r"columns=\['nope'\].*'nope'.*not in the table"),
        ({"columns": "GDP", "per": "pop"}, r"per='pop'.*not in the table"),
        ({"columns": "GDP", "smooth": "eb"}, r"smooth='eb' smooths rates.*per="),
        ({"columns": "GDP", "per": "人口", "smooth": "spatial_eb"}, r"needs weights: pass w="),
        ({"columns": "GDP", "transform": "sqrt"}, r"transform='sqrt': use one of log, log1p"),
        ({"columns": "GDP", "per": "人口", "smooth": "kernel"}, r"smooth='kernel'"),
        ({"columns": "人口", "per": "人口"}, r"per='人口' is also among columns"),
    ],
)
def test_apply_errors_name_the_parameter(kwargs, message):
    table = pd.DataFrame({"GDP": [1.0, 2.0], "人口": [3.0, 4.0]})
    with pytest.raises(InputError, match=message):
        transform.apply(table, **kwargs)


def test_local_bivariate_statistics_equal_esda(jiangsu):
    import esda

    _units, w, cases, pop = jiangsu
    x = (cases / pop).rename("rate")
    y = pop
    ours = autocorr.local_bivariate(x, y, w, permutations=0)
    wl = _binary_w(w)
    theirs = esda.Moran_Local_BV(
        x.reindex(w.ids).to_numpy(), y.reindex(w.ids).to_numpy(), wl, permutations=0
    )
    np.testing.assert_allclose(ours.reindex(w.ids)["Ii"].to_numpy(), theirs.Is, atol=1e-12)
    names = np.array(["", "High-High", "Low-High", "Low-Low", "High-Low"])
    assert (ours.reindex(w.ids)["quadrant"].to_numpy() == names[theirs.q]).all()
    assert ours["p_sim"].isna().all()
    assert (ours["lisa_class"] == "Not significant").all()
    # the local statistics add up to the global bivariate Moran's I
    glob = autocorr.global_stats(x, w, permutations=0, other=y)
    bv = glob.loc[glob["statistic"].str.startswith("moran_bv"), "value"].iloc[0]
    assert ours["Ii"].sum() / (len(ours) - 1) == pytest.approx(bv, abs=1e-12)
    # x with itself is the univariate LISA
    uni = autocorr.local_stats(x, w, permutations=0, gi_star=False)
    np.testing.assert_allclose(
        autocorr.local_bivariate(x, x, w, permutations=0)["Ii"], uni["Ii"], atol=1e-12
    )


def test_local_bivariate_p_values_agree_with_plain_conditional_permutation(jiangsu):
    """p_sim against an independent, plainly written conditional randomisation.

    esda's Moran_Local_BV permutations need a numba compilation of about two minutes
    here (and fail with numba disabled), so its p-values are not the reference; two
    independent streams of P permutations estimate the same p, so they differ by
    sampling error only: |p1 - p2| <= 5 sd of the difference.
    """
    _units, w, cases, pop = jiangsu
    x = (cases / pop).rename("rate")
    y = pop
    perms = 1999
    # the reference below folds its p, as sided="folded" does
    ours = autocorr.local_bivariate(x, y, w, permutations=perms, seed=7, sided="folded")
    ours = ours.reindex(w.ids)
    assert ours.attrs["permutations"] == perms
    zx, zy = ours["z_x"].to_numpy(), ours["z_y"].to_numpy()
    wr = w.row_standardised()
    rng = np.random.default_rng(99)
    n = len(zx)
    ref = np.empty(n)
    for i in range(n):
        row = wr.getrow(i)
        k = row.nnz
        others = np.delete(np.arange(n), i)
        draws = others[np.argsort(rng.random((perms, n - 1)), axis=1)[:, :k]]
        lags = zy[draws] @ row.data
        obs = wr[i] @ zy
        ii_sim, ii_obs = zx[i] * lags, zx[i] * obs[0]
        above = np.count_nonzero(ii_sim >= ii_obs)
        ref[i] = (min(above, perms - above) + 1) / (perms + 1)
    p = ours["p_sim"].to_numpy()
    sd = np.sqrt(2 * np.maximum(ref, 1 / perms) * (1 - ref) / perms)
    assert np.all(np.abs(p - ref) <= 5 * sd + 2 / (perms + 1))
    assert np.corrcoef(p, ref)[0, 1] > 0.99
    assert ours["significant"].sum() == (p <= 0.05).sum() > 0
    again = autocorr.local_bivariate(x, y, w, permutations=perms, seed=7).reindex(w.ids)
    # reproducible from the seed; two-sided by default: twice the folded p, capped at 1
    assert np.array_equal(again["p_sim"].to_numpy(), np.minimum(1.0, 2 * p))
    assert (again["p_sided"] == "two-sided").all() and again.attrs["p_sided"] == "two-sided"
