import numpy as np
import pytest

from geotool import datum

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


def test_transform_geometries_rejects_unknown_target():
    with pytest.raises(ValueError, match="'wgs84' or 'gcj02'"):
        datum.transform_geometries(np.array([]), to="bd09")
