"""The web topology: every unit kept with an area, neighbours still sharing their arcs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import shapely
from build_boundaries import WEB_QUANTIZATION, WEB_TOLERANCE_M, check_web  # tools/

from geotool import boundaries, settings
from geotool._topojson import decode, encode


def _bundled() -> dict:
    path = settings.boundaries_dir / "county_web.topojson"
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_bundled_web_layer_keeps_every_unit_and_all_contiguity():
    topo = _bundled()
    assert topo["geotool"]["tolerance_m"] == WEB_TOLERANCE_M
    assert topo["geotool"]["quantization"] == WEB_QUANTIZATION
    units = boundaries.units()
    pairs = boundaries.neighbours()
    assert check_web(topo, units.index.to_numpy(), pairs) == []

    # the same, spelled out: 2,875 units, none empty, each with an area
    geoms, refs = decode(topo)
    ids = [g["properties"]["id"] for g in topo["objects"]["units"]["geometries"]]
    assert len(ids) == len(set(ids)) == len(units) == 2875
    assert not shapely.is_empty(geoms).any()
    assert (shapely.area(geoms) > 0).all()
    at = {code: i for i, code in enumerate(ids)}
    rook = pairs[pairs["rook"]]
    shared = [bool(refs[at[a]] & refs[at[b]]) for a, b in rook[["adcode_a", "adcode_b"]].to_numpy()]
    assert all(shared) and len(shared) == 8170
    # the smallest units (Macau's parishes, 0.7 to 1.3 km2) keep an area on the coarse grid
    small = units[units["area_km2"] < 5].index
    assert len(small) == 3
    assert (shapely.area(geoms[[at[c] for c in small]]) > 0).all()


def test_the_web_layer_is_light():
    path = settings.boundaries_dir / "county_web.topojson"
    assert path.stat().st_size < 1_000_000  # 1.64 MB at 1 km and 1e5
    meta = boundaries.metadata()
    assert meta["file_bytes"]["county_web"] == path.stat().st_size


def _square(x0: float, y0: float, size: float) -> shapely.Polygon:
    return shapely.box(x0, y0, x0 + size, y0 + size)


def test_a_coarse_grid_keeps_short_borders_and_tiny_units():
    # A and B share a border of 0.001 (a tenth of a grid step); C is a unit far smaller
    # than a grid cell; A has a speck of an island that the grid flattens.
    a = shapely.MultiPolygon([
        shapely.Polygon([(0, 0), (10, 0), (10, 5), (10, 5.001), (10, 10), (0, 10)]),
        _square(3, 20, 0.0001),
    ])  # fmt: skip
    b = shapely.Polygon([(10, 5), (20, 4), (20, 6), (10, 5.001)])
    c = _square(30, 30, 0.001)
    topo = encode(np.array([a, b, c], dtype=object), [{"id": k} for k in "abc"], quantization=30)
    geoms, refs = decode(topo)
    assert [g["properties"]["id"] for g in topo["objects"]["units"]["geometries"]] == list("abc")
    assert refs[0] & refs[1]  # A and B still share an arc (of zero length on this grid)
    assert shapely.get_num_geometries(geoms[0]) == 1  # the speck is gone
    assert not shapely.is_empty(geoms[2])  # C is kept (flattened, but present)
    problems = check_web(
        topo, np.array(list("abc")), pd.DataFrame({"adcode_a": ["a"], "adcode_b": ["b"],
                                                   "rook": [True]})
    )  # fmt: skip
    assert problems == ["1 units without area: ['c']"]


def test_decode_inverts_encode_to_the_grid(counties):
    part = counties[counties["prefecture_code"] == "320500"]  # Suzhou
    topo = encode(part.geometry.to_numpy(), [{"id": c} for c in part.index], quantization=10**5)
    geoms, _ = decode(topo)
    step = max(topo["transform"]["scale"])
    distance = shapely.hausdorff_distance(geoms, part.geometry.to_numpy())
    assert (distance <= step).all()
    assert shapely.coverage_is_valid(geoms)
