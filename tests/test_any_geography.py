"""The core on geometry nobody bundled: a 30 x 30 grid in a projected CRS.

Weights (queen, knn, kernel) -> global and local statistics -> tiers -> an HTML map,
through the public API only, and every statistic equal to esda's (and GeoDa's local
Moran through pygeoda) on the same weights. Also: libpysal Graph and W inputs keep their
weights.
"""

from __future__ import annotations

import gc
import warnings

import esda
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from libpysal.graph import Graph

from geotool import autocorr, clusters, maps, tiers, weights
from geotool._errors import InputError

N = 30


@pytest.fixture(scope="module")
def grid() -> gpd.GeoDataFrame:
    """900 square cells of 10 km in UTM zone 50N, a smooth east-west field plus noise."""
    rng = np.random.default_rng(20201)
    cells, field = [], []
    for r in range(N):
        for c in range(N):
            x0, y0 = 300_000 + c * 10_000, 3_300_000 + r * 10_000
            cells.append(shapely.box(x0, y0, x0 + 10_000, y0 + 10_000))
            field.append(np.sin(c / 6) + 0.5 * np.cos(r / 5))
    value = np.array(field) + rng.normal(0, 0.4, N * N)
    ids = [f"cell-{i:03d}" for i in range(N * N)]
    return gpd.GeoDataFrame(
        {"value": value, "name": [f"格{i}" for i in range(N * N)]},
        geometry=cells,
        index=pd.Index(ids, name="cell"),
        crs="EPSG:32650",
    )


SPECS = ["queen", "knn:6", "kernel:triangular:knn:8"]


@pytest.mark.parametrize("spec", SPECS)
def test_weights_on_a_grid(grid, spec):
    w = weights.build(grid, spec)
    assert list(w.ids) == list(grid.index)
    card = np.diff(w.sparse.indptr)
    if spec == "queen":
        assert card.min() == 3 and card.max() == 8  # corners, interior cells
        assert w.report["links"] == 2 * (2 * N * (N - 1) + 2 * (N - 1) ** 2)
        assert w.is_binary
    elif spec == "knn:6":
        assert (card == 6).all() and w.is_binary
    else:  # adaptive triangular kernel: 8 positive weights below 1 per unit
        assert (card == 8).all() and not w.is_binary
        assert w.sparse.data.min() > 0 and w.sparse.data.max() < 1
    if spec == "queen":  # no units to bridge: no distance measured, no positions made
        assert w.report["crs_for_distances"] == "none: contiguity measures no distance"
    else:
        assert "own projected CRS" in w.report["crs_for_distances"]


@pytest.mark.parametrize("spec", SPECS)
def test_global_and_local_statistics_equal_esda(grid, spec):
    y = grid["value"]
    w = weights.build(grid, spec)
    g = w.graph  # the same weights, as libpysal sees them
    glob = autocorr.global_stats(y, w, permutations=0).set_index("statistic")
    mi = esda.Moran(y.to_numpy(), g.transform("r"), permutations=0)
    np.testing.assert_allclose(
        glob.loc[
            "moran_i", ["value", "expected", "variance_norm", "z_norm", "variance_rand"]
        ].to_numpy(dtype=float),
        [mi.I, mi.EI, mi.VI_norm, mi.z_norm, mi.VI_rand],
        rtol=1e-9,
    )
    gc_ = esda.Geary(y.to_numpy(), g.transform("r"), permutations=0)
    np.testing.assert_allclose(
        glob.loc["geary_c", ["value", "variance_norm", "variance_rand"]].to_numpy(dtype=float),
        [gc_.C, gc_.VC_norm, gc_.VC_rand],
        rtol=1e-9,
    )
    local = autocorr.local_stats(y, w, permutations=99, seed=3)
    assert list(local.index) == list(grid.index)
    lm = esda.Moran_Local(y.to_numpy(), g.transform("r"), permutations=0)
    np.testing.assert_allclose(local["Ii"].to_numpy(), lm.Is, rtol=1e-9, atol=1e-12)
    with warnings.catch_warnings():  # esda warns that it fills the star with the row max
        warnings.simplefilter("ignore", UserWarning)
        gs = esda.G_Local(y.to_numpy(), g, transform="R", star=True, permutations=0)
    np.testing.assert_allclose(local["gi_star"].to_numpy(), gs.Gs, rtol=1e-9, atol=1e-12)
    if w.is_binary:  # esda's z of row-standardised Gi* is not Getis and Ord's; binary is
        gb = esda.G_Local(y.to_numpy(), g.transform("b"), transform="B", star=True, permutations=0)
        np.testing.assert_allclose(local["gi_star_z"].to_numpy(), gb.Zs, rtol=1e-9, atol=1e-12)


def test_general_g_and_join_counts_equal_esda(grid):
    y = grid["value"] - grid["value"].min() + 0.1  # G needs non-negative values
    w = weights.build(grid, "queen")
    glob = autocorr.global_stats(y, w, permutations=0).set_index("statistic")
    gg = esda.G(y.to_numpy(), w.graph.transform("b"), permutations=0)
    np.testing.assert_allclose(
        glob.loc["getis_ord_g", ["value", "expected", "variance_norm", "z_norm"]].to_numpy(float),
        [gg.G, gg.EG, gg.VG, gg.z_norm],
        rtol=1e-9,
    )
    member = (grid["value"] > grid["value"].quantile(0.8)).astype(int)
    jc = autocorr.join_counts(member, w, permutations=0).set_index("statistic")
    ej = esda.Join_Counts(member.to_numpy(), w.graph.transform("b"), permutations=0)
    np.testing.assert_allclose(
        jc.loc[["BB", "BW"], "value"].to_numpy(float), [ej.bb, ej.bw], rtol=1e-12
    )


pygeoda = pytest.importorskip("pygeoda", reason="GeoDa's engine (pygeoda) not installed")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # pygeoda's file
@pytest.mark.parametrize("spec", ["queen", "knn:6"])
def test_local_moran_equals_geoda(grid, spec, tmp_path):
    y = grid["value"]
    w = weights.build(grid, spec)
    path = w.to_gal(tmp_path / "w.gal")
    gw = pygeoda.read_gal(str(path), [str(i) for i in w.ids])
    geoda = pygeoda.local_moran(gw, list(y.to_numpy()), permutations=999, seed=1)
    ours = autocorr.local_stats(y, w, permutations=999, seed=1)
    np.testing.assert_allclose(ours["Ii"].to_numpy(), geoda.lisa_values(), rtol=1e-9)
    del gw, geoda
    gc.collect()


def test_graph_and_w_inputs_keep_their_weights(grid):
    """A libpysal Graph (kernel, non-binary) and a W give esda's numbers, values kept."""
    y = grid["value"]
    pts = grid.representative_point()
    kernel = Graph.build_kernel(pts, kernel="gaussian", bandwidth=25_000)
    assert not np.allclose(kernel.sparse.data, 1.0)
    for given in (kernel, kernel.to_W()):
        local = autocorr.local_stats(y, given, permutations=0)
        lm = esda.Moran_Local(y.to_numpy(), kernel.transform("r"), permutations=0)
        np.testing.assert_allclose(local["Ii"].to_numpy(), lm.Is, rtol=1e-9, atol=1e-12)
        glob = autocorr.global_stats(y, given, permutations=0).set_index("statistic")
        mi = esda.Moran(y.to_numpy(), kernel.transform("r"), permutations=0)
        np.testing.assert_allclose(glob.loc["moran_i", "value"], mi.I, rtol=1e-9)
    wrapped = weights.as_weights(kernel)
    np.testing.assert_allclose(wrapped.sparse.toarray(), kernel.sparse.toarray(), rtol=1e-12)


def test_tiers_network_and_map_on_the_grid(grid, tmp_path):
    table = tiers.from_scores(grid.index, grid["value"], k=4, id_col="cell")
    pos = tiers.unit_positions(grid)
    assert "own projected CRS" in pos.attrs["crs_note"]
    res = tiers.analyse(table, pos, permutations=99, seed=2, id_col="cell")
    geo = res["geography"].set_index("tier")
    assert geo["n"].sum() == N * N
    # the field is sin(column / 6): the best tier is not centred where the worst is
    assert geo.loc[1, "mean_lon"] != pytest.approx(geo.loc[4, "mean_lon"], abs=1e-3)
    assert set(res["gradient"]["position"]) == {"lon"}  # no coast, no core given
    w = weights.build(grid, "queen")
    belts = clusters.belts(table.set_index("cell")["tier"] == 1, w, labels=grid["name"])
    assert belts["size"].sum() == int((table["tier"] == 1).sum())
    g = clusters.network(w)
    assert g.number_of_nodes() == N * N and g.number_of_edges() == w.report["links"] // 2
    fmap = maps.choropleth(grid["value"], geo=grid, k=5, title="grid", table=grid, label_col="name")
    html = maps.to_html(fmap, tmp_path / "grid.html")
    assert "cell-899" in html and "格899" in html
    with pytest.raises(InputError, match="None of the"):
        maps.choropleth(pd.Series([1.0, 2.0], index=["x", "y"]), geo=grid)


def test_points_take_distance_weights_but_not_contiguity(grid):
    pts = gpd.GeoDataFrame(geometry=grid.representative_point(), crs=grid.crs)
    w = weights.build(pts, "distance:10.5km")
    assert np.diff(w.sparse.indptr).max() == 4  # the four rook neighbours, 10 km away
    with pytest.raises(InputError, match="Contiguity weights need polygons"):
        weights.build(pts, "queen")
    with pytest.raises(InputError, match="no CRS"):
        weights.build(gpd.GeoDataFrame(geometry=grid.geometry.to_numpy()), "knn:4")
