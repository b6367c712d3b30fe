"""Property-based tests of weights specs and building: only InputError, or sound weights."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geotool import weights
from geotool._errors import InputError

SPEC_PARTS = st.sampled_from(
    ["queen", "rook", "knn", "distance", "kernel", "triangular", "gaussian", "bogus", ":", "km",
     "m", "0", "1", "3", "1860", "100000", "1e9", "-1", "0.5", " ", ";rm", "../", "nan"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.lists(SPEC_PARTS, max_size=6).map("".join)))
def test_any_spec_string_parses_or_is_refused_in_one_line(spec):
    try:
        parsed = weights.parse_spec(spec)
    except InputError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
    else:
        assert parsed["kind"] in {"queen", "rook", "knn", "distance", "kernel"}


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    n=st.integers(1, 25),
    seed=st.integers(0, 2**16),
    spec=st.sampled_from(
        [
            "knn:1",
            "knn:4",
            "knn:30",
            "distance:0.5km",
            "distance:5km",
            "distance:1000km",
            "kernel:triangular:knn:3",
            "kernel:gaussian:3km",
            "kernel:uniform:knn:30",
            "queen",
        ]
    ),
    islands=st.sampled_from(["nearest", "drop", "keep"]),
    duplicates=st.booleans(),
)
def test_building_on_random_points_gives_sound_weights_or_input_error(
    n, seed, spec, islands, duplicates
):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 10_000, size=(n, 2))
    if duplicates and n > 1:
        xy[-1] = xy[0]  # two units at one point
    pts = gpd.GeoDataFrame(geometry=shapely.points(xy), crs="EPSG:32650")
    try:
        w = weights.build(pts, spec, islands=islands)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    m = w.sparse
    assert m.shape == (len(w.ids), len(w.ids))
    assert np.all(m.diagonal() == 0)  # no self-weights
    assert np.all(np.isfinite(m.data)) and np.all(m.data > 0)
    assert set(w.ids) <= set(pts.index)
    if islands == "nearest":  # alone only when reported isolated beyond the stated bound
        alone = {w.ids[i] for i in np.flatnonzero(np.diff(m.indptr) == 0)}
        isolated = {
            d["unit"]: d for d in w.report.get("islands", {}).get("details", [])
            if d["action"] == "isolated"
        }
        assert len(alone) == len(isolated)
        bound = w.report["islands"].get("bound_km") if alone else None
        assert all(d["km"] is None or d["km"] >= bound for d in isolated.values())
