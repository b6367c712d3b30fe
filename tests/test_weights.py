import numpy as np
import pandas as pd
import pytest

from geotool import boundaries, weights
from geotool._errors import InputError
from geotool.report import rankings


@pytest.fixture(scope="module")
def county_universe():
    return rankings.universe("industrial_counties")


def test_queen_on_the_universe_links_units_isolated_by_holes(county_universe):
    w = weights.build(county_universe, "queen")
    rep = w.report
    assert rep["units"] == 1861 and rep["min_neighbours"] >= 1
    assert rep["islands"]["rule"] == "nearest"
    linked = {u.split()[0] for u in rep["islands"]["units"]}
    assert "210224" in linked  # 长海县, a real island
    assert "320681" in linked  # 启东市, cut off once 海门 became a district
    assert rep["islands"]["count"] == len(linked) == 10
    assert w.graph.unique_ids.equals(w.ids)
    # links are symmetric in binary form
    s = w.graph.sparse
    assert (s != s.T).nnz == 0


def test_bridge_warnings_name_the_weights_they_come_from(county_universe, caplog):
    """Queen and rook bridge the same islands: each warning says which weights it is."""
    caplog.set_level("WARNING", logger="geotool")
    for spec in ("queen", "rook"):
        weights.build(county_universe, spec)
    warned = [r.getMessage() for r in caplog.records if "joined far away" in r.getMessage()]
    assert [m.split(" weights: ")[0] for m in warned] == ["queen", "rook"]
    # one line each, with the counts of the report; the units are in the report, not the line
    for m, spec in zip(warned, ("queen", "rook"), strict=True):
        rep = weights.build(county_universe, spec).report["islands"]
        flagged = sum(b["long"] or b["across_groups"] for b in rep["bridges"])
        assert f"{rep['count']} without neighbours: {rep['joined']} joined" in m
        assert f"{flagged} joined far away" in m and "\n" not in m
    bridged = weights.build(county_universe, "queen").report["islands"]["bridges"]
    assert any(b["from"].startswith("440523") and b["across_groups"] for b in bridged)  # 南澳县


def test_drop_rule_removes_and_reports(county_universe):
    w = weights.build(county_universe, "queen", islands="drop")
    assert w.report["units"] == 1861 - 10
    assert "210224" not in w.ids


def test_knn_and_distance_band_are_metric(county_universe):
    w = weights.build(county_universe, "knn:6")
    assert w.report["min_neighbours"] == w.report["max_neighbours"] == 6
    d = weights.build(county_universe, "distance:100km")
    d50 = weights.build(county_universe, "distance:50000m")
    assert d.report["mean_neighbours"] > d50.report["mean_neighbours"]
    # 江阴 and 张家港 (about 30 km apart) are within 50 km
    assert "320582" in d50.graph.neighbors["320281"]


def test_weights_over_all_units_respect_contiguity():
    ids = boundaries.units().index
    w = weights.build(ids, "rook")
    assert w.report["islands"]["count"] == 7  # the seven real islands
    pairs = boundaries.neighbours()
    # every rook pair in both directions, plus one two-way link per island joined within
    # the bound (3 x the median nearest-neighbour distance): 西沙, 南沙 and 台湾 are farther
    assert w.report["islands"]["joined"] == 4 and w.report["islands"]["isolated"] == 3
    assert w.graph.n_edges == 2 * pairs["rook"].sum() + 2 * 4


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("queens", "Unknown weights spec"),
        ("knn:0", "k >= 1"),
        ("distance:100", "Unknown"),
        ("knn:5000", "knn:5000 asks for 5000 neighbours of each of 1861 units; use at most 1860"),
    ],
)
def test_bad_specs(county_universe, spec, message):
    with pytest.raises(InputError, match=message):
        weights.build(county_universe, spec)


def test_too_small_or_unknown_universe():
    with pytest.raises(InputError, match="at least 3"):
        weights.build(["320281", "320582"])
    with pytest.raises(InputError, match="not county-level units"):
        weights.build(["320281", "320582", "999999"])
    assert np.all(weights.parse_spec("distance:2.5km")["metres"] == 2500)


def test_gal_export_round_trips(tmp_path, county_universe):
    w = weights.build(county_universe, "knn:4")
    path = w.to_gal(tmp_path / "w.gal")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "0 1861 units adcode"
    header, nbrs = lines[1].split(), lines[2].split()
    assert header[0] == w.ids[0] and int(header[1]) == 4 == len(nbrs)
    assert set(nbrs) == set(w.graph.neighbors[w.ids[0]])


def test_shared_key_pairs_equal_a_naive_count():
    """The vectorised pair finder (weights from polygons) against every pair, by hand."""
    from itertools import combinations

    from geotool._topology import _pair_array

    rng = np.random.default_rng(7)
    for _ in range(20):
        keys = rng.integers(0, 40, size=200)
        owner = rng.integers(0, 30, size=200)  # repeated (key, owner) rows too
        naive = set()
        for k in np.unique(keys):
            owners = sorted(set(owner[keys == k].tolist()))
            naive |= set(combinations(owners, 2))
        got = _pair_array(keys, owner)
        assert [tuple(p) for p in got.tolist()] == sorted(naive)
    assert _pair_array(np.array([], dtype=int), np.array([], dtype=int)).shape == (0, 2)
    assert _pair_array(np.array([1, 2]), np.array([0, 1])).shape == (0, 2)  # nothing shared


def test_the_same_polygons_give_the_same_weights_as_codes_or_as_geometry_in_any_crs():
    """Island bridges join representative points: taken on the WGS84 shape for a
    GeoDataFrame as for the bundled layer's shipped points, so 岱山县 (many islands) is
    bridged to 定海区 both ways, in degrees or in metres."""
    counties = boundaries.load("county")
    jiangsu_zhejiang = counties[counties.index.str[:2].isin(["32", "33"])]
    from_codes = weights.build(jiangsu_zhejiang.index, "queen")
    for crs in ("EPSG:4326", "EPSG:32650"):
        from_geometry = weights.build(jiangsu_zhejiang.to_crs(crs), "queen")
        assert (from_geometry.sparse != from_codes.sparse).nnz == 0
        assert from_geometry.report["islands"]["units"] == [
            "330921 -> 330902",
            "330922 -> 330921",
        ]
        assert from_geometry.report["components"] == from_codes.report["components"] == 2


@pytest.mark.parametrize("hole", [None, "empty"])
def test_a_unit_without_geometry_is_refused_by_name(hole):
    import shapely

    counties = boundaries.load("county")
    jiangsu = counties[counties.index.str[:2] == "32"].copy()
    first = jiangsu.index[0]
    jiangsu.loc[first, "geometry"] = None if hole is None else shapely.Polygon()
    for spec in ("queen", "knn:4"):
        with pytest.raises(InputError, match=rf"1 of geo's geometries are missing .*{first}"):
            weights.build(jiangsu, spec)


def test_a_distance_band_that_leaves_most_units_alone_is_refused(county_universe):
    """Bridging every unit to its nearest one would report nearest-neighbour weights under
    the band's name: the error gives the band that reaches every unit's nearest."""
    prefectures = boundaries.load("prefecture").loc[lambda g: g.index.str[:2] == "32"]
    with pytest.raises(InputError, match=r"distance:5km leaves 13 of 13 units .* at least \d+km"):
        weights.build(prefectures, "distance:5km")
    wide = weights.build(county_universe, "distance:100km")  # 74 islands of 1,861: kept
    assert wide.report["islands"]["count"] < 1861 / 2


def test_sensitivity_leaves_out_a_band_the_units_cannot_take():
    from geotool import autocorr

    provinces = boundaries.load("province")
    values = pd.Series(np.arange(len(provinces), dtype=float), index=provinces.index)
    fixed = ("queen", "rook", "knn:6", "distance:100km")
    table = autocorr.sensitivity(values, provinces, specs=fixed, permutations=99, seed=1)
    assert list(dict.fromkeys(table["weights"])) == ["queen", "rook", "knn:6"]
    assert "leaves" in table.attrs["skipped"]["distance:100km"]
    # by default the band is the provinces' own (tests/test_method_guards.py)
    table = autocorr.sensitivity(values, provinces, permutations=99, seed=1)
    assert list(dict.fromkeys(table["weights"])) == ["queen", "rook", "knn:6", "distance:1100km"]
    with pytest.raises(InputError, match="distance:1km leaves"):
        autocorr.sensitivity(values, provinces, specs=("distance:1km",), permutations=99)


def test_positions_of_a_unit_across_the_antimeridian_stay_on_it():
    """In degrees a polygon across 180° spans the globe: its point is found projected."""
    import geopandas as gpd
    import shapely

    from geotool.geometry import positions

    fiji = gpd.GeoSeries([shapely.box(2.3e6, -2.2e6, 4.3e6, -1.5e6)], crs="EPSG:3832")
    pos = positions(fiji)
    assert pos.xy[0, 0] == pytest.approx(3.3e6, rel=0.01)
    assert abs(pos.lonlat[0, 0]) > 179


def test_row_standardised_is_made_once_and_every_caller_gets_its_own_copy():
    import scipy.sparse as sp

    def fresh(m):  # as the weights made it before it was kept
        scale = 1.0 / np.maximum(np.asarray(m.sum(axis=1)).ravel(), 1e-300)
        return (sp.diags(np.where(np.asarray(m.sum(axis=1)).ravel() > 0, scale, 0)) @ m).tocsr()

    data, cols = np.array([2.0, 1.0, 1.0, 1.0, 3.0, 1.0]), np.array([2, 1, 0, 0, 1, 3])
    m = sp.csr_matrix((data, cols, np.array([0, 2, 3, 6, 6])), shape=(4, 4))  # row 0: 2, 1
    w = weights.Weights(sparse=m, spec="test", ids=pd.Index(list("abcd")))
    first, expected = w.row_standardised(), fresh(m.copy())
    assert np.array_equal(first.indices, expected.indices)  # each row's order kept
    assert np.array_equal(first.data, expected.data)
    first.sort_indices()  # what scipy does in place on some operations
    first.data[:] = -1.0
    again = w.row_standardised()
    assert np.array_equal(again.indices, expected.indices)
    assert np.array_equal(again.data, expected.data)
    w.sparse.sort_indices()  # the weights' own rows sorted: made again, in the new order
    resorted = w.row_standardised()
    assert np.array_equal(resorted.indices, fresh(w.sparse).indices)
    assert not np.array_equal(resorted.indices, expected.indices)
    w.sparse = sp.csr_matrix(np.eye(4)[::-1])  # new weights: made from them
    assert np.array_equal(w.row_standardised().toarray(), np.eye(4)[::-1])
