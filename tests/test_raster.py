"""geotool.raster: grid LISA against known answers, libpysal, esda and the polygon path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine

from geotool import _perm, autocorr, boundaries, raster, weights
from geotool._errors import InputError
from geotool.study import Study

pytest.importorskip("rioxarray")

#: An equal-area CRS for China (Albers), where 50 km cells have equal areas.
ALBERS = "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +datum=WGS84 +units=m +no_defs"
CELL = 50_000
NAMES = {code: name for name, code in raster.CLASS_CODES.items()}


def _grid(values: np.ndarray, nodata: float | None = None):
    return raster.read_grid(
        values, transform=Affine(1000, 0, 0, 0, -1000, 0), crs="EPSG:3857", nodata=nodata
    )


@pytest.fixture(scope="module")
def counties_grid():
    """Log county areas rasterised at 50 km in Albers, and the cells as polygons."""
    from rasterio.features import rasterize

    county = boundaries.load("county").to_crs(ALBERS)
    left, bottom, right, top = (np.floor(np.array(county.total_bounds) / CELL) * CELL).tolist()
    rows, cols = int((top + CELL - bottom) // CELL), int((right + CELL - left) // CELL)
    transform = Affine(CELL, 0, left, 0, -CELL, top + CELL)
    shapes = zip(county.geometry, np.log(county["area_km2"].astype(float)), strict=True)
    values = rasterize(shapes, out_shape=(rows, cols), transform=transform, fill=np.nan,
                       dtype="float64")  # fmt: skip
    grid = raster.read_grid(values, transform=transform, crs=ALBERS)
    valid = np.isfinite(values)
    r, c = np.divmod(np.flatnonzero(valid), cols)
    x0, y0 = left + c * CELL, top + CELL - (r + 1) * CELL  # integral metres: edges meet
    boxes = shapely.box(x0, y0, x0 + CELL, y0 + CELL)
    cells = pd.Index(np.flatnonzero(valid), name="cell")
    import geopandas as gpd

    polygons = gpd.GeoDataFrame(geometry=boxes, index=cells, crs=ALBERS)
    return grid, polygons, pd.Series(values[valid], index=cells, name="log_area")


def test_checkerboard_is_minus_one_under_rook_and_every_cell_is_an_outlier():
    import esda
    import libpysal

    board = np.indices((12, 15)).sum(axis=0) % 2 * 10.0
    ds = raster.lisa(_grid(board), contiguity="rook", permutations=99, seed=1)
    w = libpysal.weights.lat2W(12, 15, rook=True)
    w.transform = "r"
    assert ds.attrs["moran_i"] == pytest.approx(-1.0, abs=1e-12)
    i_esda = esda.Moran(board.ravel(), w, permutations=0).I
    assert i_esda == pytest.approx(-1.0, abs=1e-12)
    quadrant = ds["quadrant"].to_numpy()
    assert (quadrant[board > 0] == raster.CLASS_CODES["High-Low"]).all()
    assert (quadrant[board == 0] == raster.CLASS_CODES["Low-High"]).all()
    np.testing.assert_allclose(ds["lag"].to_numpy(), -np.sign(board - 5.0))  # z = +-1, lag -+1


def test_a_high_block_is_high_high_and_the_flat_background_is_not_significant():
    values = np.zeros((30, 30))
    values[10:16, 12:18] = 10.0
    ds = raster.lisa(_grid(values), contiguity="rook", permutations=999, seed=7)
    classes = ds["lisa_class"].to_numpy()
    inner = np.zeros_like(values, dtype=bool)
    inner[11:15, 13:17] = True  # every rook neighbour is in the block
    assert (classes[inner] == raster.CLASS_CODES["High-High"]).all()
    # all 4 of 4 draws from the 35 other block cells among 899: p = (count + 1) / 1000
    chance = np.prod([(35 - j) / (899 - j) for j in range(4)])
    assert chance * 999 < 0.01
    assert (ds["p_sim"].to_numpy()[inner] <= 2 * 2 / 1000).all()
    far = np.ones_like(inner)
    far[8:18, 10:20] = False
    assert (classes[far] == 0).all()
    assert (ds["quadrant"].to_numpy()[far] == raster.CLASS_CODES["Low-Low"]).all()
    # a flat background's lag is the smallest possible: most permutations tie with it
    assert (ds["p_sim"].to_numpy()[far] > 0.5).all()


def test_weights_equal_libpysal_on_full_and_masked_grids():
    """Full grids: lat2W. Masked: lat2W between the valid cells (what da2W builds; its
    numba compile costs 30 s, so benchmarks/bench_raster.py compares it)."""
    import libpysal

    values = np.arange(8 * 10, dtype=float).reshape(8, 10)
    values[2:5, 3:6] = -1.0
    values[3, 4] = 5.0  # a cell inside a hole of nodata: no neighbours
    values[7, 9] = -1.0
    valid = np.isfinite(_grid(values, nodata=-1.0).to_numpy())
    assert valid.sum() == 80 - 9
    for rook in (True, False):
        contiguity = "rook" if rook else "queen"
        full = libpysal.weights.lat2W(8, 10, rook=rook).sparse.tocsr()
        ours = raster.grid_weights(np.ones((8, 10), dtype=bool), contiguity)
        assert (ours.sparse != full).nnz == 0
        keep = np.flatnonzero(valid.ravel())
        masked = raster.grid_weights(valid, contiguity)
        assert (masked.sparse != full[keep][:, keep]).nnz == 0
        assert masked.ids.tolist() == keep.tolist()
        assert np.diff(masked.sparse.indptr)[masked.ids.get_loc(34)] == 0  # the lone cell


def test_nodata_holes_leave_cells_without_neighbours_untested():
    values = np.random.default_rng(3).normal(size=(10, 12))
    values[2:5, 3:6] = np.nan
    values[3, 4] = 2.0  # surrounded by nodata on every side
    ds = raster.lisa(_grid(values), contiguity="queen", permutations=99, seed=2)
    assert ds["lag"].to_numpy()[3, 4] == 0.0
    assert np.isnan(ds["p_sim"].to_numpy()[3, 4])
    assert ds["lisa_class"].to_numpy()[3, 4] == 0
    holes = np.isnan(values)
    assert (ds["lisa_class"].to_numpy()[holes] == raster.NODATA_CLASS).all()
    assert np.isnan(ds["p_sim"].to_numpy()[holes]).all()
    assert ds.attrs["units"] == int(np.isfinite(values).sum())
    assert (ds.attrs["nodata_cells"], ds.attrs["isolated_cells"]) == (8, 1)


@pytest.mark.parametrize("contiguity", ["rook", "queen"])
def test_counties_raster_equals_the_polygon_path_on_the_same_cells(counties_grid, contiguity):
    grid, polygons, values = counties_grid
    ds = raster.lisa(grid, contiguity=contiguity, permutations=999, seed=11, gi_star=True)
    w = weights.build(polygons, contiguity, islands="keep")
    assert w.ids.equals(values.index)
    valid = np.isfinite(grid.to_numpy())
    assert (w.sparse != raster.grid_weights(valid, contiguity).sparse).nnz == 0
    poly = autocorr.local_stats(values, w, permutations=999, seed=11)
    assert 3000 < valid.sum() < 5000  # China at 50 km
    np.testing.assert_array_equal(ds["p_sim"].to_numpy()[valid], poly["p_sim"].to_numpy())
    np.testing.assert_array_equal(
        ds["gi_star_p_sim"].to_numpy()[valid], poly["gi_star_p_sim"].to_numpy()
    )
    for ours, theirs in (("lag", "lag"), ("Ii", "Ii"), ("gi_star_z", "gi_star_z")):
        np.testing.assert_allclose(ds[ours].to_numpy()[valid], poly[theirs], rtol=1e-12, atol=1e-12)
    classes = pd.Series(ds["lisa_class"].to_numpy()[valid]).map(NAMES)
    assert (classes.to_numpy() == poly["lisa_class"].to_numpy()).all()
    assert (classes != "Not significant").sum() > 300  # west large, east small: clusters


def test_chunked_through_dask_equals_the_whole_grid(counties_grid, tmp_path):
    grid, _, _ = counties_grid
    options = {"contiguity": "queen", "permutations": 199, "seed": 5, "gi_star": True}
    whole = raster.lisa(grid, **options, adjust="fdr")
    path = raster.write_tiffs(whole, tmp_path)[0].with_name("values.tif")
    grid.rio.to_raster(path)
    lazy = raster.read_grid(path, chunks=7)
    assert lazy.chunks is not None  # dask-backed: read band by band
    assert lazy.shape[0] > 60  # so 7-row bands cut the 512-unit counting blocks
    for chunks in (7, 23):
        part = raster.lisa(lazy, **options, adjust="fdr", chunks=chunks)
        for name in whole.data_vars:
            np.testing.assert_array_equal(part[name].to_numpy(), whole[name].to_numpy())


def test_lead_in_starts_every_part_at_a_block_of_the_whole():
    card = np.random.default_rng(0).choice([0, 2, 3, 4], p=[0.1, 0.05, 0.15, 0.7], size=5000)
    block = _perm._UNIT_BLOCK
    for start in (1, 700, 2049, 4999):
        expected = []
        for k in (2, 3, 4):
            ids = np.flatnonzero(card == k)
            before = int((ids < start).sum())
            expected += ids[before - before % block : before].tolist()
        np.testing.assert_array_equal(_perm.lead_in(card, start), np.sort(expected))


def test_geotiff_round_trip_keeps_crs_transform_and_values(counties_grid, tmp_path):
    import rasterio

    grid, _, _ = counties_grid
    ds = raster.lisa(grid, permutations=99, seed=1)
    written = raster.write_tiffs(ds, tmp_path)
    assert [p.name for p in written] == ["lisa_class.tif", "p_sim.tif"]
    with rasterio.open(written[0]) as src:
        assert src.crs == grid.rio.crs and src.transform == grid.rio.transform()
        assert src.dtypes == ("uint8",) and src.nodata == raster.NODATA_CLASS
        assert src.colormap(1)[raster.CLASS_CODES["High-High"]][:3] == (0xD7, 0x19, 0x1C)
        np.testing.assert_array_equal(src.read(1), ds["lisa_class"].to_numpy())
    with rasterio.open(written[1]) as src:
        assert src.dtypes == ("float32",) and src.transform == grid.rio.transform()
        np.testing.assert_array_equal(src.read(1), ds["p_sim"].to_numpy().astype("float32"))
    back = raster.read_grid(written[1])
    assert back.rio.transform() == grid.rio.transform() and back.rio.crs == grid.rio.crs
    np.testing.assert_array_equal(np.isnan(back.to_numpy()), np.isnan(ds["p_sim"].to_numpy()))


def test_aggregate_is_a_nodata_aware_block_mean():
    values = np.arange(7 * 9, dtype=float).reshape(7, 9)
    values[0, 0] = -9999.0
    values[4:6, 2:4] = -9999.0
    agg = raster.read_grid(_grid(values, nodata=-9999.0), aggregate=2)
    masked = np.where(values == -9999.0, np.nan, values)[:6, :8].reshape(3, 2, 4, 2)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanmean(masked, axis=(1, 3))
    np.testing.assert_array_equal(agg.to_numpy(), expected)
    assert agg.rio.transform() == Affine(2000, 0, 0, 0, -2000, 0)
    assert np.isnan(agg.to_numpy()[2, 1])  # a block of nodata only stays nodata


def test_run_raster_writes_tiffs_map_and_summary(counties_grid, tmp_path):
    import json

    from geotool import cli

    grid, _, _ = counties_grid
    tif = tmp_path / "areas.tif"
    grid.rio.to_raster(tif)
    out = tmp_path / "out"
    code = cli.main(["run", "--raster", str(tif), "--out", str(out), "--permutations", "99",
                     "--seed", "3", "--weights", "queen"])  # fmt: skip
    assert code == 0
    names = {"lisa_class.tif", "p_sim.tif", "lisa_map.png", "lisa_classes.csv",
             "lisa_settings.csv", "summary.json"}  # fmt: skip
    assert names <= {p.name for p in out.iterdir()}
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    ds = raster.lisa(grid, contiguity="queen", permutations=99, seed=3)
    codes = np.bincount(ds["lisa_class"].to_numpy().ravel(), minlength=256)
    assert summary["grid"]["classes"]["High-High"] == codes[raster.CLASS_CODES["High-High"]]
    assert (out / "lisa_map.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: np.ones((1, 1)), "1 x 1 cells"),
        (lambda p: np.full((5, 5), np.nan), "0 of its 5 x 5 cells"),
        (lambda p: np.array([["a", "b"], ["c", "d"]]), "not numbers"),
        (lambda p: np.full((4, 4), 3.0), "every cell with a value holds 3"),
        (lambda p: p, "not a raster GDAL can read"),
        (lambda p: p.with_name("missing.tif"), "is not a file"),
    ],
)
def test_hostile_grids_are_one_line_input_errors(tmp_path, make, words):
    fake = tmp_path / "fake.tif"
    fake.write_text("not a raster\n", encoding="utf-8")
    source = make(fake)
    with pytest.raises(InputError) as err:
        raster.lisa(source if not isinstance(source, np.ndarray) else _grid(source)
                    if source.dtype.kind == "f" else raster.read_grid(
                        source, transform=Affine.identity()), permutations=99)  # fmt: skip
    assert words in str(err.value) and "\n" not in str(err.value)


def test_study_and_cli_refuse_a_raster_that_is_not_a_geotiff(tmp_path, capsys):
    from geotool import cli

    fake = tmp_path / "grid.tif"
    fake.write_text("x,y\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a GeoTIFF"):
        Study(raster=fake)
    assert cli.main(["run", "--raster", str(fake), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("geotool: error: --raster") and "\n" not in err
    assert not (tmp_path / "o").exists()
    with pytest.raises(InputError, match="'rook' or 'queen'"):
        raster.lisa(np.ones((3, 3)), contiguity="knn")


def test_a_study_file_names_its_raster_relative_to_itself(tmp_path):
    from geotool import cli

    tif = tmp_path / "grids" / "g.tif"
    tif.parent.mkdir()
    _grid(np.add.outer(np.arange(9.0), np.arange(8.0)) % 5).rio.to_raster(tif)
    toml = tmp_path / "study.toml"
    toml.write_text('raster = "grids/g.tif"\nout = "o"\nweights = "queen"\n', encoding="utf-8")
    assert Study.from_file(toml).raster == tif
    assert cli.main(["run", str(toml), "--permutations", "99"]) == 0
    assert (tmp_path / "o" / "lisa_class.tif").is_file()


def test_a_dataarray_with_its_own_nodata_is_the_same_grid_as_its_file(tmp_path):
    import rasterio
    import rioxarray

    values = np.add.outer(np.arange(12.0), np.arange(14.0) ** 1.5).astype("float32")
    values[3:5, 6:9] = -9999.0
    path = tmp_path / "g.tif"
    profile = {
        "driver": "GTiff",
        "height": 12,
        "width": 14,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:3857",
        "transform": Affine(500, 0, 10, 0, -500, 90),
        "nodata": -9999,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    raw = rioxarray.open_rasterio(path)  # (band, y, x), -9999 not masked
    assert raw.dims == ("band", "y", "x") and (raw.to_numpy() == -9999).sum() == 6
    from_da = raster.lisa(raw, permutations=99, seed=4)
    from_file = raster.lisa(path, permutations=99, seed=4)
    from_numpy = raster.lisa(raster.read_grid(values, transform=profile["transform"],
                                              nodata=-9999.0), permutations=99, seed=4)  # fmt: skip
    assert from_da.attrs["units"] == 12 * 14 - 6
    for name in from_file.data_vars:
        np.testing.assert_array_equal(from_da[name].to_numpy(), from_file[name].to_numpy())
        np.testing.assert_array_equal(from_numpy[name].to_numpy(), from_file[name].to_numpy())
    assert from_da.rio.transform() == profile["transform"] and from_da.rio.crs == "EPSG:3857"


def test_run_raster_is_one_study_through_pipeline_run(tmp_path, monkeypatch):
    from geotool import cli, pipeline, raster_stages

    tif = tmp_path / "g.tif"
    _grid(np.add.outer(np.arange(9.0), np.arange(8.0)) % 5).rio.to_raster(tif)
    calls = []
    monkeypatch.setattr(pipeline, "run", lambda study, **options: calls.append((study, options)))
    with pytest.raises(TypeError):  # the spy returns no summary
        cli.main(["--debug", "run", "--raster", str(tif), "--out", str(tmp_path / "o")])
    ((study, options),) = calls
    assert study.raster == tif and study.data is None and study.recipe is None
    assert options["stages"] is raster_stages.STAGES
    assert options["analysis"] is raster_stages.prepare
    assert [s.name for s in options["stages"]] == ["grid tiffs", "grid map", "grid summary"]


def test_a_grid_s_cells_meet_the_input_limit_before_they_are_read(tmp_path, monkeypatch):
    tif = tmp_path / "g.tif"
    _grid(np.add.outer(np.arange(30.0), np.arange(40.0)) % 7).rio.to_raster(tif, compress="lzw")
    monkeypatch.setenv("GEOTOOL_MAX_INPUT_BYTES", "9KB")  # 1,200 cells x 8 bytes = 9,600
    with pytest.raises(InputError, match=r"grid g\.tif holds 1,200 cells: 9\.4 KiB, over") as e:
        raster.read_grid(tif)
    assert "in Python" not in str(e.value)  # read_grid has no such parameter
    assert raster.read_grid(tif, aggregate=2, chunks=10).shape == (15, 20)  # 300 cells
    with pytest.raises(InputError, match=r"grid holds 1,200 cells"):
        raster.read_grid(tif, chunks=10)
    monkeypatch.setenv("GEOTOOL_MAX_INPUT_BYTES", "10KB")
    assert raster.read_grid(tif).shape == (30, 40)
