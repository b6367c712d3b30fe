"""GeoDa's local views (issue 24): Gi* hot/cold spots, significance, bivariate, join counts.

The classes on the pages are counted from the pages themselves (the colour of each unit
in the page's layer spec) and compared with the run's CSV tables and with direct
computations written here; Gi* levels are compared with esda's ``G_Local(star=True)``.
"""

from __future__ import annotations

import os
import re

import esda
import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pytest

from geotool import autocorr, pipeline, weights
from geotool.maps import local as lm
from geotool.maps import static
from geotool.report import rankings
from geotool.study import Study

from .conftest import page_args as _page_args

PAYLOAD = "<img src=x onerror=alert(1)>"
COLUMBUS = os.path.join(
    os.path.dirname(libpysal.examples.get_path("columbus.shp")), "columbus.shp"
)


CODES = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _layers(text):
    """Each layer of a page by name, as {unit id: colour} (uncoloured units left out)."""
    args = _page_args(text)
    ids, out = args[1]["ids"], {}
    for layer in args[2]:
        codes = layer["codes"]
        at = [CODES.find(c) if isinstance(codes, str) else c for c in codes]
        out[layer["name"]] = {
            i: layer["palette"][c] for i, c in zip(ids, at, strict=True) if c is not None and c >= 0
        }
    return out


def _counts(colours, palette):
    """Units per class of a layer ({id: colour}), classes named by ``palette``."""
    by_colour = {c: k for k, c in palette.items()}
    return pd.Series([by_colour[c] for c in colours.values()]).value_counts().to_dict()


@pytest.fixture(scope="module")
def columbus_run(tmp_path_factory):
    """Columbus CRIME, INC and the 0/1 CP through the whole pipeline, with figures."""
    out = tmp_path_factory.mktemp("col") / "run"
    study = Study(data=COLUMBUS, value_cols=("CRIME", "INC", "CP"), figures=("png",), dpi=72,
                  permutations=999, seed=7, out=out)  # fmt: skip
    pipeline.run(study)
    return out


def _table(out, name):
    return pd.read_csv(out / "tables" / name, encoding="utf-8-sig", dtype={"adcode": str})


def _page(out, name):
    return (out / "maps" / name).read_text(encoding="utf-8")


def test_hot_spot_page_counts_equal_the_lisa_tables(columbus_run):
    layers = _layers(_page(columbus_run, "hotspots.html"))
    for key, label in (("crime", "CRIME"), ("inc", "INC")):
        t = _table(columbus_run, f"lisa_{key}.csv").set_index("adcode")
        p, z = t["gi_star_p_sim"], t["gi_star_z"]
        assert (t["adjust"] == "none").all()
        expected = {}
        for lo, hi, level in ((0, 0.01, "99%"), (0.01, 0.05, "95%"), (0.05, 0.10, "90%")):
            band = (p > lo) & (p <= hi)
            expected[f"Hot spot {level}"] = int((band & (z > 0)).sum())
            expected[f"Cold spot {level}"] = int((band & (z < 0)).sum())
        expected["Not significant"] = int((p > 0.10).sum())
        expected = {k: v for k, v in expected.items() if v}
        got = _counts(layers[f"Gi*: {label}"], lm.GI_COLOURS)
        assert got == expected
        at_95 = sum(v for k, v in got.items() if k.endswith(("99%", "95%")))
        assert at_95 == int(t["gi_star_significant"].sum()) > 0  # the table's alpha 0.05


def test_significance_page_has_every_local_statistic_in_geoda_classes(columbus_run):
    layers = _layers(_page(columbus_run, "significance.html"))
    tables = {
        "LISA CRIME": _table(columbus_run, "lisa_crime.csv")["p_sim"],
        "Gi* CRIME": _table(columbus_run, "lisa_crime.csv")["gi_star_p_sim"],
        "local Geary INC": _table(columbus_run, "local_geary_inc.csv")["p_sim"],
        "local join counts CP (BB)": _table(columbus_run, "ljc_cp.csv")["p_sim"],
    }
    for label, p in tables.items():
        expected = {
            "p <= 0.001": int((p <= 0.001).sum()),
            "p <= 0.01": int(((p > 0.001) & (p <= 0.01)).sum()),
            "p <= 0.05": int(((p > 0.01) & (p <= 0.05)).sum()),
            "not significant": int((p > 0.05).sum()),
        }
        got = _counts(layers[f"significance: {label}"], lm.P_CLASS_COLOURS)
        assert got == {k: v for k, v in expected.items() if v}, label
    assert len(layers) == 3 * 3 + 1  # LISA, Gi*, Geary of three variables; CP's joins


def test_join_count_page_marks_the_significant_joins_of_a_users_dummy(columbus_run):
    ljc = _table(columbus_run, "ljc_cp.csv").set_index("adcode")
    gdf = gpd.read_file(COLUMBUS)
    assert ljc["value"].sum() == gdf["CP"].sum() > 0  # the 0/1 column of the user's file
    layer = _layers(_page(columbus_run, "joins.html"))["local join counts: CP (BB)"]
    marked = {i for i, c in layer.items() if c == lm.JOIN_CLASS_COLOURS["significant joins"]}
    assert marked == set(ljc.index[ljc["significant"]]) != set()
    assert set(layer) == set(ljc.index[ljc["p_sim"].notna()])  # members only
    # the joins of a member: its member neighbours, counted here on the queen weights
    w = libpysal.weights.Queen.from_dataframe(gdf, use_index=False)
    cp = gdf["CP"].to_numpy()
    joins = [cp[i] * sum(cp[j] for j in w.neighbors[i]) for i in range(len(cp))]
    by_id = pd.Series(joins, index=gdf["POLYID"].astype(str))
    np.testing.assert_array_equal(ljc["ljc"].to_numpy(), by_id.reindex(ljc.index).to_numpy())


def test_bivariate_page_classes_are_pandas_terciles(columbus_run):
    layers = _layers(_page(columbus_run, "bivariate.html"))
    gdf = gpd.read_file(COLUMBUS).set_index(gpd.read_file(COLUMBUS)["POLYID"].astype(str))
    cx = pd.qcut(gdf["CRIME"], 3, labels=False)
    cy = pd.qcut(gdf["INC"], 3, labels=False)
    expected = {i: lm.BIVARIATE_COLOURS[b][a] for i, a, b in zip(gdf.index, cx, cy, strict=True)}
    assert layers["CRIME × INC"] == expected
    assert len(set(expected.values())) == 9
    text = _page(columbus_run, "bivariate.html")
    assert "geotool-bivariate" in text and text.count("grid-template-columns") == 1


def test_figures_of_the_local_views_are_written(columbus_run):
    names = {p.stem for p in (columbus_run / "figures").glob("*.png")}
    expected = {
        "hotspots_crime", "hotspots_inc", "significance_gi_crime", "significance_geary_inc",
        "significance_ljc_cp", "bivariate_crime__inc", "bivariate_inc__cp", "ljc_cp",
    }  # fmt: skip
    assert expected <= names
    assert (columbus_run / "figures" / "hotspots_crime.png").read_bytes()[:4] == b"\x89PNG"


def test_every_new_page_is_offline(columbus_run):
    for name in ("hotspots.html", "significance.html", "bivariate.html", "joins.html"):
        text = _page(columbus_run, name)
        assert not re.search(r"<(?:script|link|img)[^>]+(?:src|href)=[\"']?https?://", text)
        assert "<script>" in text and "L.map" in text  # Leaflet inlined


def _folded_gi_star_p(y, neighbours, permutations, rng):
    """Conditional permutation p of Gi* written out: each unit's neighbours drawn anew.

    Gi* with a self-weight of 1 on binary weights moves with the sum over the
    neighbours (the unit's own value and the total stay): folded one-sided p, as esda.
    """
    p = np.full(len(y), np.nan)
    for i, nb in enumerate(neighbours):
        k = len(nb)
        if not k:
            continue
        others = np.delete(y, i)
        draws = rng.random((permutations, len(others))).argpartition(k - 1, axis=1)[:, :k]
        sims = others[draws].sum(axis=1)
        above = int((sims >= y[nb].sum()).sum())
        p[i] = (min(above, permutations - above) + 1) / (permutations + 1)
    return p


def test_gi_star_levels_agree_with_esda_and_a_direct_permutation_test():
    gdf = gpd.read_file(COLUMBUS)
    y = gdf["CRIME"]
    n_perm = 9999
    w = weights.build(gdf.set_crs(4326, allow_override=True), "queen")
    ours = autocorr.local_stats(y, w, permutations=n_perm, seed=11, sided="folded")
    lw = libpysal.weights.Queen.from_dataframe(gdf, use_index=False)
    lw.transform = "b"  # binary with a self-weight of 1: geotool's Gi* on queen weights
    theirs = esda.G_Local(y.to_numpy(), lw, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(ours["gi_star_z"].to_numpy(), theirs.Zs, rtol=1e-9)
    neighbours = [np.asarray(lw.neighbors[i]) for i in range(len(y))]
    p = _folded_gi_star_p(y.to_numpy(), neighbours, n_perm, np.random.default_rng(5))
    expected = np.full(len(y), "Not significant", dtype=object)
    for alpha, level in ((0.10, "90%"), (0.05, "95%"), (0.01, "99%")):
        expected[(p <= alpha) & (theirs.Zs > 0)] = f"Hot spot {level}"
        expected[(p <= alpha) & (theirs.Zs < 0)] = f"Cold spot {level}"
    # two Monte Carlo estimates of one p: compare the units not within 4 s.e. of a level
    se = np.sqrt(2 * p * (1 - p) / n_perm)
    clear = np.all([np.abs(p - a) > 4 * se + 1e-4 for a in (0.01, 0.05, 0.10)], axis=0)
    ours_p = ours["gi_star_p_sim"].to_numpy()
    assert (np.abs(ours_p - p) <= 5 * se + 5e-4).all()  # the table's p: the same test
    got = lm.gi_star_classes(ours).to_numpy()
    assert clear.sum() >= 30
    assert (got[clear] == expected[clear]).all()
    assert {"Hot spot 99%", "Cold spot 95%"} <= set(expected[clear])


def test_gi_star_levels_follow_the_adjustment():
    gdf = gpd.read_file(COLUMBUS).set_crs(4326, allow_override=True)
    w = weights.build(gdf, "queen")
    local = autocorr.local_stats(gdf["HOVAL"], w, permutations=999, seed=2, adjust="fdr")
    got = lm.gi_star_classes(local)
    p = local["gi_star_p_sim"].to_numpy()
    for alpha, level in ((0.01, "99%"), (0.05, "95%"), (0.10, "90%")):
        # Benjamini-Hochberg by hand: the largest k with p_(k) <= alpha k / m
        order = np.sort(p)
        ok = np.flatnonzero(order <= alpha * np.arange(1, len(p) + 1) / len(p))
        cut = order[ok.max()] if len(ok) else -1.0
        at_least = got.str.endswith(tuple(lv for a, lv in lm.GI_LEVELS if a <= alpha))
        assert at_least.sum() == int((p <= cut).sum()), level


def test_terciles_of_a_ranking_split_the_ranked_units_at_their_median():
    """The report's scores are 0 outside the top 100: the tie is the low class."""
    for ranking in ("industrial_counties", "innovation_counties"):
        score = rankings.variable(ranking, "score")
        got = lm.terciles(score)
        ranked = score[score > 0]
        expected = np.where(score == 0, 0, np.where(score > ranked.median(), 2, 1))
        np.testing.assert_array_equal(got.to_numpy(), expected)
        assert (got == 2).sum() == 50 and (got == 0).sum() == len(score) - len(ranked)


def test_pages_escape_names_and_labels():
    gdf = gpd.read_file(COLUMBUS).set_crs(4326, allow_override=True)
    gdf.index = [f"u{i}" for i in range(len(gdf))]
    gdf["name"] = [f"{PAYLOAD}{{{{7*7}}}}{i}" for i in range(len(gdf))]
    w = weights.build(gdf, "queen")
    local = autocorr.local_stats(gdf["CRIME"], w, permutations=99, seed=1)
    x, y = gdf["CRIME"].rename(PAYLOAD), gdf["INC"].rename("{{ 7*7 }}</script>")
    pages = lm.local_pages(
        locals_={PAYLOAD: local}, gearys={}, joins={}, pairs={PAYLOAD: (x, y)},
        info=gdf[["name"]], geo=gdf[["name", "geometry"]], label_col="name", title=PAYLOAD,
    )  # fmt: skip
    assert set(pages) == {"maps/hotspots.html", "maps/significance.html", "maps/bivariate.html"}
    for text in pages.values():
        assert PAYLOAD not in text
        assert "&lt;img src=x onerror=alert(1)&gt;" in text or "\\u003cimg" in text
    biv = pages["maps/bivariate.html"]
    assert "&#123;&#123; 7*7 &#125;&#125;&lt;/script&gt;" in biv  # the legend square's axis
    assert "7*7 }}</script>" not in biv and ">49<" not in biv  # text, not a template


def test_static_figures_use_the_pages_classes():
    gdf = gpd.read_file(COLUMBUS).set_crs(4326, allow_override=True)
    w = weights.build(gdf, "queen")
    local = autocorr.local_stats(gdf["CRIME"], w, permutations=99, seed=1)
    figs = dict(static.local_figures(
        locals_={"crime": local}, gearys={}, joins={},
        pairs={"c_i": (gdf["CRIME"].rename("CRIME"), gdf["INC"].rename("INC"))},
        labels={"crime": "CRIME"}, lang="en", source="Columbus", units=gdf,
    ))  # fmt: skip
    assert set(figs) == {"hotspots_crime", "significance_gi_crime", "bivariate_c_i"}
    legend = figs["hotspots_crime"].axes[1].get_legend()
    shown = [t.get_text() for t in legend.get_texts()]
    classes = lm.gi_star_classes(local).value_counts()
    assert [s for s in shown if s.startswith(("Hot", "Cold"))] == [
        k for k in lm.GI_COLOURS if k in classes.index and k != "Not significant"
    ]
    square = figs["bivariate_c_i"].axes[-1]
    assert np.asarray(square.get_images()[0].get_array()).shape[:2] == (3, 3)


def test_the_reports_bivariate_figure_names_its_variables_in_chinese():
    """A Chinese figure's legend square names the report's rankings in Chinese."""
    from geotool import boundaries
    from geotool.maps import static

    units = boundaries.load("county")
    rng = np.random.default_rng(0)
    x = pd.Series(rng.random(len(units)), index=units.index, name="industrial counties")
    y = pd.Series(rng.random(len(units)), index=units.index, name="innovation counties")
    labels = {"industrial_counties": "industrial counties",
              "innovation_counties": "innovation counties"}  # fmt: skip
    figs = dict(static.local_figures(locals_={}, gearys={}, joins={}, pairs={"p": (x, y)},
                                     labels=labels, lang="zh"))  # fmt: skip
    fig = figs["bivariate_p"]
    axis_names = [a.get_text() for ax in fig.axes for a in (ax.xaxis.label, ax.yaxis.label)]
    assert "工业百强县 →" in axis_names and "创新百强县 →" in axis_names, axis_names
    assert "industrial" not in fig.axes[0].get_title(loc="left")


def test_only_builds_the_figures_it_names_and_asks_about_each_in_order(monkeypatch):
    """``only=`` is asked about every figure in order; the others are never built."""
    gdf = gpd.read_file(COLUMBUS).set_crs(4326, allow_override=True)
    local = autocorr.local_stats(gdf["CRIME"], weights.build(gdf, "queen"), permutations=99,
                                 seed=1)  # fmt: skip
    built = []
    real = static._p_figure
    monkeypatch.setattr(static, "_p_figure", lambda *a, **k: built.append(a[1]) or real(*a, **k))
    asked: list[str] = []
    figs = dict(static.local_figures(
        locals_={"crime": local}, gearys={}, joins={},
        pairs={"c_i": (gdf["CRIME"].rename("CRIME"), gdf["INC"].rename("INC"))},
        labels={"crime": "CRIME"}, lang="en", units=gdf,
        only=lambda name: asked.append(name) or name != "significance_gi_crime",
    ))  # fmt: skip
    assert asked == ["hotspots_crime", "significance_gi_crime", "bivariate_c_i"]
    assert set(figs) == {"hotspots_crime", "bivariate_c_i"} and built == []
