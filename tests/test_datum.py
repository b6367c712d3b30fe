import numpy as np
import pytest
import shapely

from geotool import datum
from geotool._errors import InputError

R = 6371008.8


def _metres(lon1, lat1, lon2, lat2):
    phi = np.radians((lat1 + lat2) / 2)
    dx = np.radians(lon2 - lon1) * np.cos(phi) * R
    dy = np.radians(lat2 - lat1) * R
    return np.hypot(dx, dy)


def test_round_trip_within_half_a_metre_everywhere_in_china():
    rng = np.random.default_rng(0)
    lon = rng.uniform(73.5, 135.0, 200_000)
    lat = rng.uniform(18.0, 53.5, 200_000)
    glon, glat = datum.wgs84_to_gcj02(lon, lat)
    wlon, wlat = datum.gcj02_to_wgs84(glon, glat)
    err = _metres(lon, lat, wlon, wlat)
    assert err.max() < 0.5
    assert err.max() < 1e-3  # in fact well under a millimetre


def test_offset_is_a_few_hundred_metres_on_the_bundled_units(counties):
    mainland = counties[counties["region"] != "none"]
    lon, lat = mainland["rep_lon"].to_numpy(), mainland["rep_lat"].to_numpy()
    glon, glat = datum.wgs84_to_gcj02(lon, lat)
    shift = _metres(lon, lat, glon, glat)
    # the offset varies smoothly: tens of metres in the far west, ~300-700 m in the east
    assert shift.min() > 20 and shift.max() < 900
    assert 300 < np.median(shift) < 700
    east = mainland["region"].isin(["east", "central"]).to_numpy()
    assert (shift[east] > 150).all()


def test_source_vertex_moves_by_the_expected_amount(source):
    frame, gcj = source
    i = int(np.flatnonzero(frame["adcode"].to_numpy() == "320281")[0])  # 江阴市
    x, y = (
        gcj[i].exterior.coords[0]
        if gcj[i].geom_type == "Polygon"
        else gcj[i].geoms[0].exterior.coords[0]
    )
    wlon, wlat = datum.gcj02_to_wgs84(np.array([x]), np.array([y]))
    moved = _metres(x, y, wlon[0], wlat[0])
    assert 300 < moved < 700
    # and the inverse really inverts: shifting back lands on the source vertex
    blon, blat = datum.wgs84_to_gcj02(wlon, wlat)
    assert _metres(x, y, blon[0], blat[0]) < 1e-3


def test_outside_the_gcj_area_nothing_moves():
    lon, lat = np.array([2.35, -74.0]), np.array([48.85, 40.7])
    assert np.array_equal(datum.gcj02_to_wgs84(lon, lat)[0], lon)
    assert np.array_equal(datum.wgs84_to_gcj02(lon, lat)[1], lat)


def test_transform_geometries_rejects_unknown_datum():
    with pytest.raises(InputError, match=r"to='bd9' .*'wgs84', 'gcj02' .* or 'bd09'"):
        datum.transform_geometries(np.array([]), to="bd9")
    with pytest.raises(ValueError, match="source='mars'"):
        datum.convert(np.zeros(1), np.zeros(1), source="mars", to="wgs84")


# Published control points: the README and tests of wandergis/coordtransform (the
# implementation most Chinese tools copy), at 116.404 E 39.915 N (天安门).
TIANANMEN = (116.404, 39.915)
PUBLISHED = {
    ("wgs84", "gcj02"): (116.41024449916938, 39.91640428150164),
    ("gcj02", "bd09"): (116.41036949371029, 39.92133699351021),
    ("wgs84", "bd09"): (116.41662724378733, 39.922699552216216),
    # their inverses are approximations: one step for GCJ-02, the closed form for BD-09
    ("gcj02", "wgs84"): (116.39775550083061, 39.91359571849836),
    ("bd09", "gcj02"): (116.39762729119315, 39.90865673957631),
    ("bd09", "wgs84"): (116.3913836995125, 39.907253214522164),
}


@pytest.mark.parametrize(("pair", "expected"), PUBLISHED.items(), ids=str)
def test_published_control_points(pair, expected):
    lon, lat = datum.convert(
        np.array([TIANANMEN[0]]), np.array([TIANANMEN[1]]), source=pair[0], to=pair[1]
    )
    moved = _metres(expected[0], expected[1], lon[0], lat[0])
    if pair in (("wgs84", "gcj02"), ("gcj02", "bd09"), ("wgs84", "bd09")):
        assert moved < 1e-6  # the forward formulas are the definitions: equal to the digit
    else:
        # the published inverses are approximate (GCJ-02: one step, metres off; BD-09:
        # the closed form, centimetres); ours are exact: shifting back lands on the input
        assert moved < (0.1 if pair == ("bd09", "gcj02") else 5.0)
        back = datum.convert(lon, lat, source=pair[1], to=pair[0])
        assert _metres(*TIANANMEN, back[0][0], back[1][0]) < 1e-4


def test_beijing_railway_station_gcj02_to_bd09():
    # 北京站 as AMap (GCJ-02) and Baidu (BD-09) list it, to 5 decimals (about 1 m)
    lon, lat = datum.gcj02_to_bd09(np.array([116.42703]), np.array([39.90245]))
    assert _metres(116.43351, 39.90851, lon[0], lat[0]) < 1.5


@pytest.mark.parametrize(("a", "b"), [("gcj02", "bd09"), ("wgs84", "bd09"), ("wgs84", "gcj02")])
def test_round_trips_within_a_millimetre_everywhere_in_china(a, b):
    rng = np.random.default_rng(1)
    lon = rng.uniform(73.5, 135.0, 100_000)
    lat = rng.uniform(18.0, 53.5, 100_000)
    there = datum.convert(lon, lat, source=a, to=b)
    back = datum.convert(*there, source=b, to=a)
    assert _metres(lon, lat, *back).max() < 1e-3
    # and the shift itself is real: BD-09 about 1 km from GCJ-02, hundreds of m from WGS84
    shift = _metres(lon, lat, *there)
    assert np.median(shift) > 100


def test_bd09_inverse_refines_the_closed_form():
    rng = np.random.default_rng(2)
    lon = rng.uniform(100.0, 125.0, 20_000)
    lat = rng.uniform(20.0, 45.0, 20_000)
    bd = datum.gcj02_to_bd09(lon, lat)
    closed = datum.bd09_to_gcj02(*bd, max_iter=0)
    exact = datum.bd09_to_gcj02(*bd)
    assert 0.01 < _metres(lon, lat, *closed).max() < 0.5  # the closed form: centimetres off
    assert _metres(lon, lat, *exact).max() < 1e-5


def test_transform_geometries_keeps_shared_vertices_identical():
    left = shapely.Polygon([(120.1, 31.1), (120.2, 31.1), (120.2, 31.2), (120.1, 31.2)])
    right = shapely.Polygon([(120.2, 31.1), (120.3, 31.1), (120.3, 31.2), (120.2, 31.2)])
    for source in ("gcj02", "bd09"):
        out = datum.transform_geometries(np.array([left, right]), to="wgs84", source=source)
        a = shapely.get_coordinates(out[0])
        b = shapely.get_coordinates(out[1])
        assert not np.allclose(a, shapely.get_coordinates(left), atol=1e-3)  # it moved
        shared = {tuple(p) for p in a} & {tuple(p) for p in b}
        assert len(shared) == 2  # the common edge's two vertices, bit for bit
