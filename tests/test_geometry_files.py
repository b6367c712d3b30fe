"""Users' own geometry files (geotool.geofile): formats, encodings, CRS, datums, ids,
repairs, the join of a value table, and the same statistics whatever file the same
polygons come in.

The township-like test layer splits the bundled Jiangsu units into 2-4 pieces each
(shapely ``split`` by lines through the middle of each unit's box); its files are
written at test time into ``tmp_path``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.ops import split

from geotool import autocorr, datum, geofile, settings, weights
from geotool._errors import InputError

R = 6371008.8


def _metres(lon1, lat1, lon2, lat2):
    phi = np.radians((lat1 + lat2) / 2)
    return np.hypot(np.radians(lon2 - lon1) * np.cos(phi) * R, np.radians(lat2 - lat1) * R)


@pytest.fixture(scope="module")
def towns(counties) -> gpd.GeoDataFrame:
    """Jiangsu units split into 2-4 township-like pieces, WGS84, ids like 320281001."""
    rows = []
    for code, geom in counties[counties.index.str.startswith("32")].geometry.items():
        minx, miny, maxx, maxy = geom.bounds
        xm, ym = (minx + maxx) / 2, (miny + maxy) / 2
        cuts = [shapely.LineString([(xm, miny - 1), (xm, maxy + 1)])]
        if int(code) % 2:
            cuts.append(shapely.LineString([(minx - 1, ym), (maxx + 1, ym)]))
        pieces = [geom]
        for cut in cuts:
            pieces = [q for p in pieces for q in split(p, cut).geoms]
        rows += [(f"{code}{i:03d}", f"{code}-{i:02d}镇", p) for i, p in enumerate(pieces, 1)]
    ids, names, geoms = zip(*rows, strict=True)
    frame = gpd.GeoDataFrame(
        {"town_code": list(ids), "名称": list(names)}, geometry=list(geoms), crs="EPSG:4326"
    )
    lon = shapely.get_x(frame.representative_point()).to_numpy()
    rng = np.random.default_rng(12)
    frame["value"] = np.sin(lon * 1.5) + rng.normal(0, 0.3, len(frame))
    return frame


@pytest.fixture(scope="module")
def reference(towns):
    """Queen weights and Moran's I of the original WGS84 towns."""
    geo = towns.set_index("town_code")
    w = weights.build(geo, "queen", islands="keep")
    stats = autocorr.global_stats(geo["value"], w, permutations=0)
    return geo, w, stats


def _links(w) -> set[tuple[str, str]]:
    coo = w.sparse.tocoo()
    return {(w.ids[i], w.ids[j]) for i, j in zip(coo.row, coo.col, strict=True)}


def _moran(stats) -> float:
    return float(stats.set_index("statistic").loc["moran_i", "value"])


def test_the_towns_are_a_real_coverage(towns, reference):
    _, w, _ = reference
    assert 250 < len(towns) < 450
    assert w.report["links"] > 2 * len(towns)  # mostly connected, not a set of islands
    assert len(w.report["islands"]["units"]) < 5  # a few real islands (Nantong's shoals)


@pytest.mark.parametrize("kind", ["gcj02 GeoPackage", "bd09 GeoJSON", "Albers zip", "UTM zip"])
def test_same_neighbours_and_moran_whatever_the_file(towns, reference, tmp_path, kind):
    geo0, w0, stats0 = reference
    frame = towns.copy()
    if kind.startswith(("gcj02", "bd09")):
        to = kind.split()[0]
        frame["geometry"] = datum.transform_geometries(towns.geometry.to_numpy(), to=to)
        path = tmp_path / ("towns.gpkg" if to == "gcj02" else "towns.geojson")
        frame.to_file(path)
        geo, report = geofile.read_geometry(path, datum=to)
    else:
        target = settings.equal_area_crs if kind.startswith("Albers") else "EPSG:32650"
        frame.to_crs(target).to_file(tmp_path / "towns.shp", encoding="gbk")
        path = tmp_path / "towns.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for part in tmp_path.glob("towns.*"):
                if part.suffix != ".zip":
                    archive.write(part, part.name)
        geo, report = geofile.read_geometry(path)
    assert report.empty
    assert geo.index.name == "town_code" and list(geo.index) == list(geo0.index)
    assert geo["名称"].tolist() == geo0["名称"].tolist()
    # positions come back to within micrometres (datum) or nanometres (projections)
    err = _metres(
        *shapely.get_coordinates(geo0.geometry.to_numpy()).T,
        *shapely.get_coordinates(geo.geometry.to_numpy()).T,
    )
    assert err.max() < 1e-3
    w = weights.build(geo, "queen", islands="keep")
    assert _links(w) == _links(w0)
    stats = autocorr.global_stats(geo["value"], w, permutations=0)
    assert _moran(stats) == pytest.approx(_moran(stats0), abs=1e-12)
    assert _moran(stats) > 0.3  # a real pattern, so that equality means something


def test_projected_gcj02_file_is_reprojected_then_shifted(towns, reference, tmp_path):
    geo0, w0, _ = reference
    frame = towns.copy()
    frame["geometry"] = datum.transform_geometries(towns.geometry.to_numpy(), to="gcj02")
    frame.to_crs("EPSG:32650").to_file(tmp_path / "towns.gpkg")
    geo, _ = geofile.read_geometry(tmp_path / "towns.gpkg", datum="gcj02")
    err = _metres(
        *shapely.get_coordinates(geo0.geometry.to_numpy()).T,
        *shapely.get_coordinates(geo.geometry.to_numpy()).T,
    )
    assert err.max() < 1e-3
    assert _links(weights.build(geo, "queen", islands="keep")) == _links(w0)


def test_rounding_that_breaks_shared_vertices_is_snapped(tmp_path):
    # two units sharing an edge, the second's copy of it 1e-9 degree off (as a border
    # converted feature by feature, or digitised twice, leaves it): no shared vertex
    cells = [shapely.box(120.0 + i * 0.1, 31.0, 120.1 + i * 0.1, 31.1) for i in range(3)]
    off = shapely.transform(cells[1], lambda xy: xy + 1e-9)
    frame = gpd.GeoDataFrame({"id": ["a", "b", "c"]}, geometry=[cells[0], off, cells[2]], crs=4326)
    frame.to_file(tmp_path / "cells.gpkg")
    raw, _ = geofile.read_geometry(tmp_path / "cells.gpkg", snap_m=0)
    assert weights.build(raw, "queen", islands="keep").report["links"] == 0
    geo, _ = geofile.read_geometry(tmp_path / "cells.gpkg")
    assert geo.attrs["source"]["snapped_vertices"] == 4
    assert weights.build(geo, "queen", islands="keep").report["links"] == 4  # a-b, b-c


# ------------------------------------------------------------------ formats and layers


def test_geopackage_layers(towns, tmp_path):
    path = tmp_path / "two.gpkg"
    towns.iloc[:10].to_file(path, layer="north")
    towns.iloc[10:30].to_file(path, layer="south")
    with pytest.raises(InputError, match=r"2 layers .*'north \(Polygon\)'.*pass layer="):
        geofile.read_geometry(path)
    with pytest.raises(InputError, match=r"layer='east' is not in two.gpkg"):
        geofile.read_geometry(path, layer="east")
    geo, _ = geofile.read_geometry(path, layer="south")
    assert list(geo.index) == towns["town_code"].iloc[10:30].tolist()
    assert geo.attrs["source"]["layer"] == "south"


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])
def test_shapefile_without_cpg_is_not_mojibake(towns, tmp_path, encoding):
    towns.iloc[:20].to_file(tmp_path / "t.shp", encoding=encoding)
    (tmp_path / "t.cpg").unlink()
    geo, _ = geofile.read_geometry(tmp_path / "t.shp")
    assert geo["名称"].tolist() == towns["名称"].iloc[:20].tolist()
    assert geo.attrs["source"]["encoding"] == f"{encoding.replace('gbk', 'gb18030')} (detected)"


def test_shapefile_cpg_and_encoding_override(towns, tmp_path):
    towns.iloc[:5].to_file(tmp_path / "t.shp", encoding="gbk")  # writes t.cpg: GBK
    geo, _ = geofile.read_geometry(tmp_path / "t.shp")
    assert geo["名称"].tolist() == towns["名称"].iloc[:5].tolist()
    (tmp_path / "t.cpg").unlink()
    wrong, _ = geofile.read_geometry(tmp_path / "t.shp", encoding="latin-1")
    assert "名称" not in wrong.columns  # the caller's word wins, even when wrong
    with pytest.raises(InputError, match=r"encoding='klingon' is not a known"):
        geofile.read_geometry(tmp_path / "t.shp", encoding="klingon")


def test_chinese_field_names_in_gbk_under_a_cpg_saying_utf8(towns, tmp_path):
    towns.iloc[:5].to_file(tmp_path / "t.shp", encoding="gbk")
    (tmp_path / "t.cpg").write_text("UTF-8", encoding="ascii")  # what many tools write
    geo, _ = geofile.read_geometry(tmp_path / "t.shp")  # GDAL's field names were UTF-8
    assert "名称" in geo.columns and geo["名称"].tolist() == towns["名称"].iloc[:5].tolist()
    with zipfile.ZipFile(tmp_path / "t.zip", "w") as z:
        for part in tmp_path.glob("t.*"):
            if part.suffix != ".zip":
                z.write(part, part.name)
    zipped, _ = geofile.read_geometry(tmp_path / "t.zip")
    assert zipped["名称"].tolist() == geo["名称"].tolist()


def test_geoparquet_with_an_id_index(towns, tmp_path):
    towns.iloc[:8].set_index("town_code").to_parquet(tmp_path / "t.parquet")
    geo, _ = geofile.read_geometry(tmp_path / "t.parquet")
    assert geo.index.name == "town_code"
    assert list(geo.index) == towns["town_code"].iloc[:8].tolist()


def test_unsupported_paths(tmp_path):
    with pytest.raises(InputError, match="No file at path="):
        geofile.read_geometry(tmp_path / "missing.gpkg")
    (tmp_path / "t.kml").write_text("<kml/>")
    with pytest.raises(InputError, match=r"not a geometry file .* GeoPackage \(.gpkg\)"):
        geofile.read_geometry(tmp_path / "t.kml")
    (tmp_path / "bad.gpkg").write_bytes(b"not a database")
    with pytest.raises(InputError, match="named as a GeoPackage but holds something else"):
        geofile.read_geometry(tmp_path / "bad.gpkg")


# ------------------------------------------------------------------ CRS


def test_missing_crs_lonlat_in_china_is_assumed_and_logged(towns, tmp_path, caplog):
    towns.iloc[:5].to_file(tmp_path / "t.shp")
    (tmp_path / "t.prj").unlink()
    with caplog.at_level(logging.INFO, logger="geotool"):
        geo, _ = geofile.read_geometry(tmp_path / "t.shp")
    assert geo.crs.to_epsg() == 4326
    assert "no CRS; coordinates are longitude/latitude in China" in caplog.text


def test_missing_crs_metres_is_read_as_a_plane_unless_crs_given(towns, tmp_path, caplog):
    """Metres without their .prj: a plane in the file's units (GeoDa), or crs= places them."""
    towns.iloc[:12].to_crs("EPSG:32650").to_file(tmp_path / "t.shp")
    (tmp_path / "t.prj").unlink()
    plane, _ = geofile.read_geometry(tmp_path / "t.shp")
    assert plane.attrs["source"]["crs"] == geofile.PLANE
    assert "read as a plane" in caplog.text and "pass crs=" in caplog.text
    geo, _ = geofile.read_geometry(tmp_path / "t.shp", crs="EPSG:32650")
    assert geo.geom_equals_exact(towns.iloc[:12].set_index("town_code").geometry, 1e-7).all()
    # the same neighbours, and distances in the file's units (metres here)
    from geotool import weights

    a, b = weights.build(plane, "queen"), weights.build(geo, "queen")
    assert (a.sparse != b.sparse).nnz == 0
    utm = geo.to_crs("EPSG:32650")  # measured in the file's own metres
    knn_plane, knn_utm = weights.build(plane, "knn:3"), weights.build(utm, "knn:3")
    assert (knn_plane.sparse != knn_utm.sparse).nnz == 0
    assert "UTM zone 31" in knn_plane.report["crs_for_distances"]


# ------------------------------------------------------------------ ids


def test_ids_detected_or_named(towns, tmp_path):
    frame = towns.iloc[:6].copy()
    frame["town_code"] = frame["town_code"].astype(float)  # 320102001.0: still an id
    frame.to_file(tmp_path / "t.gpkg")
    geo, _ = geofile.read_geometry(tmp_path / "t.gpkg")
    assert list(geo.index) == towns["town_code"].iloc[:6].tolist()
    geo, _ = geofile.read_geometry(tmp_path / "t.gpkg", id_col="名称")
    assert geo.index.name == "名称" and geo.index[0] == towns["名称"].iloc[0]
    with pytest.raises(InputError, match=r"id_col='code' is not a column .*'town_code'"):
        geofile.read_geometry(tmp_path / "t.gpkg", id_col="code")


def test_duplicate_and_missing_ids_name_their_rows(towns, tmp_path):
    frame = towns.iloc[:6].copy()
    frame["town_code"] = ["a", "b", "a", None, "c", "d"]
    frame.to_file(tmp_path / "t.gpkg")
    with pytest.raises(InputError, match=r"1 missing \(row 4\); 1 duplicated: 'a' \(rows 1, 3\)"):
        geofile.read_geometry(tmp_path / "t.gpkg", id_col="town_code")
    frame[["value", "geometry"]].to_file(tmp_path / "noid.gpkg")
    with pytest.raises(InputError, match=r"no column of unique ids among \['value'\]"):
        geofile.read_geometry(tmp_path / "noid.gpkg")


# ------------------------------------------------------------------ repairs


def test_invalid_and_empty_geometries_are_repaired_or_reported(tmp_path):
    square = shapely.box(120.0, 31.0, 120.1, 31.1)
    bowtie = shapely.Polygon([(120.1, 31.0), (120.2, 31.1), (120.2, 31.0), (120.1, 31.1)])
    mixed = shapely.GeometryCollection(
        [shapely.box(120.2, 31.0, 120.3, 31.1), shapely.LineString([(120, 30), (121, 30)])]
    )
    frame = gpd.GeoDataFrame(
        {"code": ["s", "bow", "mix", "none", "empty"]},
        geometry=[square, bowtie, mixed, None, shapely.Polygon()],
        crs=4326,
    )
    frame.to_file(tmp_path / "bad.geojson")
    geo, report = geofile.read_geometry(tmp_path / "bad.geojson")
    assert list(geo.index) == ["s", "bow", "mix"]
    assert geo.is_valid.all() and set(geo.geom_type) <= {"Polygon", "MultiPolygon"}
    assert report.columns.tolist() == geofile.REPORT_COLUMNS
    got = report.set_index("id")
    assert got.loc["bow", "action"] == "repaired"
    assert got.loc["bow", "issue"].startswith("invalid: Self-intersection")
    half = gpd.GeoSeries([square], crs=4326).to_crs(settings.equal_area_crs).area[0] / 2e6
    assert got.loc["bow", "area_km2_after"] == pytest.approx(half, rel=1e-3)  # two triangles
    assert got.loc["mix", "action"] == "polygonal parts kept"
    assert got.loc["none", "action"] == "dropped"
    assert got.loc[["none", "empty"], "row"].tolist() == [4, 5]


def test_lines_and_points_among_polygons_are_refused_naming_them(tmp_path):
    frame = gpd.GeoDataFrame(
        {"code": ["p", "line", "pt"]},
        geometry=[
            shapely.box(120.0, 31.0, 120.1, 31.1),
            shapely.LineString([(120, 31), (121, 31)]),
            shapely.Point(120.5, 31.5),
        ],
        crs=4326,
    )
    frame.to_file(tmp_path / "mixed.geojson")
    with pytest.raises(
        InputError, match=r"must hold polygons, .*\(rows 2, 3: ids line \(LineString\)"
    ):
        geofile.read_geometry(tmp_path / "mixed.geojson")
    frame.iloc[2:].to_file(tmp_path / "points.geojson")
    geo, _ = geofile.read_geometry(tmp_path / "points.geojson")  # points alone are fine
    assert geo.geom_type.tolist() == ["Point"]


# ------------------------------------------------------------------ join_table


def test_join_table_by_id_accounts_for_every_row(towns):
    geo = towns.iloc[:5].set_index("town_code")
    codes = geo.index.tolist()
    table = pd.DataFrame(
        {
            "code": [int(codes[0]), f"{codes[1]}.0", f" {codes[2]} ", "999", codes[3], codes[3]],
            "gdp": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )
    joined, report = geofile.join_table(table, geo, id_col="code")
    assert joined.index.tolist() == codes[:3]
    assert joined["gdp"].tolist() == [1.0, 2.0, 3.0]
    assert report.columns.tolist() == geofile.JOIN_REPORT_COLUMNS
    assert report["status"].tolist() == [
        "matched", "matched", "matched", "no such id", "duplicate", "duplicate",
        "no row joined", "no row joined",
    ]  # fmt: skip
    assert report["id"].tolist()[-2:] == codes[3:]
    assert report["row"].iloc[:6].tolist() == [1, 2, 3, 4, 5, 6]


def test_join_table_by_name_and_detection(towns):
    geo = towns.iloc[:4].set_index("town_code")
    geo.loc[geo.index[3], "名称"] = geo["名称"].iloc[2]  # two units of one name
    names = geo["名称"].tolist()
    table = pd.DataFrame(
        {"县名": [f" {names[0]}★", names[1], names[2], "无此镇", None], "v": range(5)}
    )
    joined, report = geofile.join_table(table, geo)  # the name column is found
    assert joined.index.tolist() == geo.index[:2].tolist()
    assert report["status"].tolist()[:5] == [
        "matched", "matched", "ambiguous name", "no such name", "missing key"
    ]  # fmt: skip
    with pytest.raises(InputError, match=r"No column of the table \(\['x'\]\) holds ids"):
        geofile.join_table(pd.DataFrame({"x": ["?"]}), geo)
    with pytest.raises(InputError, match="Pass id_col= or name_col=, not both"):
        geofile.join_table(table, geo, id_col="县名", name_col="县名")


def test_joined_frame_feeds_weights_and_local_statistics(towns, tmp_path):
    frame = towns.copy()
    frame["geometry"] = datum.transform_geometries(towns.geometry.to_numpy(), to="gcj02")
    frame[["town_code", "名称", "geometry"]].to_file(tmp_path / "towns.gpkg")
    geo, _ = geofile.read_geometry(tmp_path / "towns.gpkg", datum="gcj02")
    table = towns[["town_code", "value"]].sample(frac=1.0, random_state=3)  # any order
    table["town_code"] = table["town_code"].astype(np.int64)  # read from Excel as numbers
    joined, report = geofile.join_table(table, geo)
    assert (report["status"] == "matched").all()
    w = weights.build(joined, "queen")
    local = autocorr.local_stats(joined["value"], w, permutations=99, seed=1)
    assert list(local.index) == list(joined.index)
    assert local["significant"].any()


def test_bad_arguments_are_named(towns, tmp_path):
    towns.iloc[:3].to_file(tmp_path / "t.gpkg")
    with pytest.raises(InputError, match=r"datum='gcj-2' is not a datum .*'bd09'"):
        geofile.read_geometry(tmp_path / "t.gpkg", datum="gcj-2")
    with pytest.raises(InputError, match=r"crs='EPSG:99999999' is not a CRS"):
        geofile.read_geometry(tmp_path / "t.gpkg", crs="EPSG:99999999")
    with pytest.raises(InputError, match="snap_m must be a distance in metres"):
        geofile.read_geometry(tmp_path / "t.gpkg", snap_m=-1)
    towns.iloc[:0].to_file(tmp_path / "none.gpkg")
    with pytest.raises(InputError, match="has no features"):
        geofile.read_geometry(tmp_path / "none.gpkg")


def test_datum_outside_china_warns_that_nothing_moved(tmp_path, caplog):
    paris = gpd.GeoDataFrame({"id": ["a"]}, geometry=[shapely.box(2.3, 48.8, 2.4, 48.9)], crs=4326)
    paris.to_file(tmp_path / "paris.gpkg")
    with caplog.at_level(logging.WARNING, logger="geotool"):
        geo, _ = geofile.read_geometry(tmp_path / "paris.gpkg", datum="gcj02")
    assert "no position lies in China" in caplog.text
    assert geo.geometry.iloc[0].equals_exact(paris.geometry.iloc[0], 0)


def test_utf8_cut_at_a_field_width_is_still_utf8(towns, tmp_path):
    towns.iloc[:20].to_file(tmp_path / "t.shp", encoding="utf-8")
    (tmp_path / "t.cpg").unlink()
    dbf = (tmp_path / "t.dbf").read_bytes()
    town = "镇".encode()
    cut = dbf.index(town)  # the first record's 镇 loses its last byte, as a cut field would
    (tmp_path / "t.dbf").write_bytes(dbf[: cut + 2] + b" " + dbf[cut + 3 :])
    geo, _ = geofile.read_geometry(tmp_path / "t.shp")
    assert geo.attrs["source"]["encoding"] == "utf-8 (detected)"
    assert geo["名称"].iloc[1:].tolist() == towns["名称"].iloc[1:20].tolist()


def test_join_table_panel_a_key_per_year(towns):
    geo = towns.iloc[:3].set_index("town_code")
    codes = geo.index.tolist()
    table = pd.DataFrame(
        {
            "code": [codes[0], codes[0], codes[1], codes[1], codes[2]],
            "year": [2019, 2020, 2019, 2019, 2020],
            "v": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    joined, report = geofile.join_table(table, geo, id_col="code", year_col="year")
    assert report["status"].tolist() == [
        "matched", "matched", "duplicate", "duplicate", "matched", "no row joined"
    ]  # fmt: skip
    assert joined.index.tolist() == [codes[0], codes[0], codes[2]]
    assert joined["year"].tolist() == [2019, 2020, 2020]
    assert isinstance(joined, gpd.GeoDataFrame)
    with pytest.raises(InputError, match=r"year_col='yr' is not a column of the table"):
        geofile.join_table(table, geo, id_col="code", year_col="yr")


def test_a_row_whose_feature_was_dropped_is_told_why_not_no_such_id(towns, tmp_path):
    """A feature without geometry is dropped by read_geometry; its table row says so."""
    from geotool.userdata import load_user_table

    broken = towns.copy()
    gone = broken.index[0]
    broken.loc[gone, "geometry"] = None
    broken.reset_index(names="code").to_file(tmp_path / "towns.gpkg")
    table = pd.DataFrame({"code": list(towns.index), "value": np.arange(len(towns), dtype=float)})
    table.to_csv(tmp_path / "values.csv", index=False)
    t = load_user_table(
        tmp_path / "values.csv", tmp_path / "report.csv", value_col="value",
        geometry=tmp_path / "towns.gpkg",
        id_col="code", max_unmatched=0.5,
    )  # fmt: skip
    row = t.report[t.report["code"].astype(str) == str(gone)].iloc[0]
    assert row["match_status"] == "unmatched"
    assert row["match_note"].startswith("its feature in the geometry file was dropped (null")
    assert (t.report["match_note"] == "no such id").sum() == 0


def test_a_geometry_s_column_of_names_is_found_and_used_in_every_table(tmp_path):
    import json

    import libpysal

    from .test_cli import run_main

    us48 = libpysal.examples.get_path("us48.shp")  # names in STATE_NAME, no "name" column
    usjoin = libpysal.examples.get_path("usjoin.csv")  # joined by its own "Name" column
    assert geofile.name_column(gpd.read_file(us48)) == "STATE_NAME"
    both = gpd.GeoDataFrame({"省名称": ["甲省"] * 3, "县名称": ["a", "b", "c"]},
                            geometry=[shapely.box(i, 0, i + 1, 1) for i in range(3)])  # fmt: skip
    assert geofile.name_column(both) == "县名称"  # the one that tells the units apart
    for argv in ([usjoin, "--geometry", us48, "--value-col", "2009"],
                 [us48, "--value-col", "AREA"]):  # fmt: skip
        out = tmp_path / f"out{len(argv)}"
        proc = run_main("run", *argv, "--crs", "EPSG:4326", "--permutations", "99",
                        "--out", str(out))  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert "column 'STATE_NAME' of the geometry (pass --name-col)" in proc.stderr
        key = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        lisa = next((out / "tables").glob("lisa_*.csv"))
        names = pd.read_csv(lisa, encoding="utf-8-sig")["name"]
        assert "Washington" in set(names) and len(names) == 48, key["files"][:3]
        assert "Washington" in (out / "maps" / "lisa.html").read_text(encoding="utf-8")


def test_a_geopackage_with_an_sql_view_is_refused_before_gdal_runs_it(towns, tmp_path):
    import sqlite3

    path = tmp_path / "v.gpkg"
    towns.iloc[:4].to_file(path, layer="base", driver="GPKG")
    with contextlib.closing(sqlite3.connect(path)) as db:  # a view GDAL lists as a layer
        db.execute("CREATE VIEW slow AS SELECT * FROM base")
        db.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
                   "SELECT 'slow', 'features', 'slow', srs_id FROM gpkg_contents "
                   "WHERE table_name = 'base'")  # fmt: skip
        db.commit()
    with pytest.raises(InputError, match=r"'slow' is an SQL view"):
        geofile.read_geometry(path)
    with contextlib.closing(sqlite3.connect(path)) as db:  # not registered, another case
        db.execute("DELETE FROM gpkg_contents WHERE table_name = 'slow'")
        db.execute("DROP VIEW slow")
        db.execute("CREATE VIEW Hidden AS SELECT * FROM base")
        db.commit()
    with pytest.raises(InputError, match=r"'Hidden' is an SQL view"):
        geofile.read_geometry(path)
    tables = tmp_path / "t.gpkg"
    towns.iloc[:4].to_file(tables, layer="base", driver="GPKG")
    assert len(geofile.read_geometry(tables)[0]) == 4  # a plain one reads


def test_a_geopackage_computing_columns_or_unreadable_to_our_sqlite_is_refused(towns, tmp_path):
    """A generated column is a query run at each read (5.7 s a row, gigabytes, in a
    127 kB file); a schema our SQLite cannot parse (newer syntax) is refused, not passed
    to GDAL's SQLite to run unchecked; the same GeoPackage renamed .geojson is refused too."""
    import shutil
    import sqlite3

    plain = tmp_path / "plain.gpkg"  # a field named "generated" (as (...) in a name): data
    towns.iloc[:4].assign(generated=1, **{"x as (y)": 2}).to_file(plain, driver="GPKG")
    assert len(geofile.read_geometry(plain)[0]) == 4
    path = tmp_path / "g.gpkg"
    towns.iloc[:4].to_file(path, layer="base", driver="GPKG")
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("ALTER TABLE base ADD COLUMN bomb TEXT GENERATED ALWAYS AS "
                   "(printf('%.*c', 100, 'x')) VIRTUAL")  # fmt: skip
        db.commit()
    with pytest.raises(InputError, match=r"'base' is a table with computed \(generated\)"):
        geofile.read_geometry(path)
    shutil.copy(path, tmp_path / "g.geojson")
    with pytest.raises(InputError, match=r"named as a GeoJSON but holds something else"):
        geofile.read_geometry(tmp_path / "g.geojson")
    broken = tmp_path / "b.gpkg"
    towns.iloc[:4].to_file(broken, layer="base", driver="GPKG")
    with contextlib.closing(sqlite3.connect(broken)) as db:
        db.execute("PRAGMA writable_schema = ON")
        newer = "CREATE VIEW v AS SELECT group_concat(fid ORDER BY fid) FROM base NEWER SYNTAX"
        db.execute(f"UPDATE sqlite_master SET sql = '{newer}' WHERE name = 'gpkg_contents'")
        db.commit()
    with pytest.raises(InputError, match=r"its schema cannot be checked"):
        geofile.read_geometry(broken)


def test_a_file_is_read_as_its_name_says_and_gdal_stays_offline(tmp_path, monkeypatch):
    """GDAL picks its reader by content: an XML virtual dataset named .geojson or .shp
    copied /etc/passwd (or any file) into the tables and pages, and fetched URLs. Files are
    checked against their kind first; GDAL reads with its network switched off."""
    import pyogrio

    secret = tmp_path / "secret.csv"
    secret.write_text("id,note\n1,API_KEY\n")
    vrt = (f'<OGRVRTDataSource><OGRVRTLayer name="secret"><SrcDataSource>{secret}'
           "</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>")  # fmt: skip
    for name in ("t.geojson", "t.json", "t.shp"):
        (tmp_path / name).write_text(vrt)
        if name.endswith(".shp"):
            for part in (".shx", ".dbf"):
                (tmp_path / f"t{part}").write_bytes(b"\0" * 100)
        with pytest.raises(InputError, match="holds XML"):
            geofile.read_geometry(tmp_path / name)
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as z:
        for part in (".shp", ".shx", ".dbf"):
            z.write(tmp_path / f"t{part}", f"t{part}")
    with pytest.raises(InputError, match=r"z.zip \(t.shp\) is named as a Shapefile but holds XML"):
        geofile.read_geometry(tmp_path / "z.zip")
    before = pyogrio.get_gdal_config_option("GDAL_HTTP_PROXY")
    with geofile._offline():
        assert pyogrio.get_gdal_config_option("GDAL_HTTP_PROXY") == "127.0.0.1:9"
    assert pyogrio.get_gdal_config_option("GDAL_HTTP_PROXY") == before


def test_join_table_by_name_takes_a_name_without_its_unit_word_one_way_only():
    geo = gpd.GeoDataFrame(
        {"name": ["江阴市", "宜兴市", "朝阳区", "锡山"]},
        geometry=[shapely.box(i, 0, i + 1, 1) for i in range(4)], index=list("abcd"),
        crs="EPSG:4326",
    )  # fmt: skip
    table = pd.DataFrame({"n": ["江阴", "宜兴县", "朝阳县", "锡山区", "江阴市"][:4],
                          "v": [1, 2, 3, 4]})  # fmt: skip
    _, report = geofile.join_table(table, geo, name_col="n")
    rows = report[report["row"].notna()].set_index("key")
    assert rows.loc["江阴", "id"] == "a" and rows.loc["锡山区", "id"] == "d"  # either side bare
    assert rows.loc["宜兴县", "status"] == "no such name"  # 县 for 市: another unit, perhaps
    assert rows.loc["朝阳县", "status"] == "no such name"


def test_join_table_by_name_keeps_the_digits_that_tell_her_units_apart():
    """A user's units named 网格1 ... 网格12 or 宜城街道2 (the trailing digits are names, not
    footnotes): each joins its own row. A footnote marker (江阴市★, 江阴市1) still joins
    where no other unit's name is the same without it; two rows on one unit are duplicates."""
    names = [f"网格{i}" for i in range(1, 13)] + ["宜城街道", "宜城街道2", "江阴市", "昆山市"]
    geo = gpd.GeoDataFrame(
        {"名称": names}, geometry=[shapely.box(i, 0, i + 1, 1) for i in range(len(names))],
        index=[f"G{i:02d}" for i in range(len(names))], crs="EPSG:4326",
    )  # fmt: skip
    keys = [*names[:14], "江阴市★", "昆山市（1）"]
    table = pd.DataFrame({"名称": keys, "v": range(len(keys))})
    joined, report = geofile.join_table(table, geo, name_col="名称")
    assert (report["status"] == "matched").all(), report[report["status"] != "matched"]
    assert joined.loc["G11", "v"] == 11 and joined.loc["G13", "v"] == 13  # 网格12, 宜城街道2
    assert joined.loc["G14", "v"] == 14 and joined.loc["G15", "v"] == 15  # the markers
    both = pd.DataFrame({"名称": ["江阴市", "江阴市★", "网格1"], "v": [1, 2, 3]})
    _, report = geofile.join_table(both, geo, name_col="名称")
    assert report["status"].tolist()[:3] == ["duplicate", "duplicate", "matched"]
    grid = table.iloc[:12]  # 网格1 ... 网格12 only: its name column found, not given
    found, report = geofile.join_table(grid, geo)
    assert (report["status"].iloc[:12] == "matched").all() and found.loc["G11", "v"] == 11
    other = pd.DataFrame({"名称": ["宜城街道3", "网格13", "昆山市1"], "v": [1, 2, 3]})
    _, report = geofile.join_table(other, geo, name_col="名称")  # other units: never joined
    assert report["status"].tolist()[:3] == ["no such name"] * 3


def test_a_rank_is_never_taken_for_names_or_ids(tmp_path):
    """排名 ends in 名 but is a rank: ids from it joined 江阴市's polygon to 张家港市's row."""
    geo = gpd.GeoDataFrame({"排名": [3, 1, 2], "县名": ["江阴市", "昆山市", "张家港市"]},
                           geometry=[shapely.box(120 + i / 10, 31, 120.1 + i / 10, 31.1)
                                     for i in range(3)], crs="EPSG:4326")  # fmt: skip
    geo.to_file(tmp_path / "rank.gpkg")
    read, _ = geofile.read_geometry(tmp_path / "rank.gpkg")
    assert read.index.name == "县名" and read.loc["江阴市", "排名"] == 3
    table = pd.DataFrame({"县名": ["江阴市", "昆山市", "张家港市"], "排名": [1, 2, 3],
                          "GDP": [10, 20, 30]})  # fmt: skip
    joined, _ = geofile.join_table(table, read)
    assert joined.loc["江阴市", "GDP"] == 10 and joined.loc["张家港市", "GDP"] == 30


def test_a_layer_whose_only_column_is_a_unique_name_gets_its_ids_from_it(tmp_path):
    """网格名 (…名) is a name column: unique, it gives the ids (it was "no column of unique
    ids" and a request for --id-col)."""
    geo = gpd.GeoDataFrame({"网格名": [f"网格{i}" for i in range(1, 13)]},
                           geometry=[shapely.box(118 + i / 10, 30, 118.1 + i / 10, 30.1)
                                     for i in range(12)], crs="EPSG:4326")  # fmt: skip
    geo.to_file(tmp_path / "grid.gpkg")
    read, _ = geofile.read_geometry(tmp_path / "grid.gpkg")
    assert read.index.tolist() == geo["网格名"].tolist()


def test_no_request_leaves_the_machine_while_a_file_is_read(tmp_path, monkeypatch):
    """A GeoJSON whose CRS is a URL made GDAL fetch it (3 requests), also with ``no_proxy``
    set (libcurl lets such hosts past the proxy); a VRT or GDAL pipeline hidden in a JSON
    file (``{<OGRVRTDataSource>``, ``"gdal_streamed_alg"``) read /etc/passwd. GeoJSON is
    opened by GDAL's GeoJSON driver alone, and nothing is fetched."""
    import http.server
    import threading

    hits: list[str] = []

    class Count(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        do_HEAD = do_GET  # noqa: N815 (the standard library's name)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Count)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    ring = [[118, 30], [119, 30], [119, 31], [118, 30]]
    linked = {"type": "FeatureCollection",
              "crs": {"type": "link", "properties": {"href": f"{url}/crs", "type": "proj4"}},
              "features": [{"type": "Feature", "properties": {"v": 1},
                            "geometry": {"type": "Polygon", "coordinates": [ring]}}]}  # fmt: skip
    (tmp_path / "linked.geojson").write_text(json.dumps(linked))
    (tmp_path / "vrt.geojson").write_text(
        f"{{<OGRVRTDataSource><OGRVRTLayer name='p'><SrcDataSource>/vsicurl/{url}/v"
        "</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>")  # fmt: skip
    pipeline = f"gdal vector pipeline ! read /vsicurl/{url}/a"
    (tmp_path / "alg.geojson").write_text(
        json.dumps({"type": "gdal_streamed_alg", "command_line": pipeline}))
    try:
        for name in ("linked.geojson", "vrt.geojson", "alg.geojson"):
            with contextlib.suppress(InputError):
                geofile.read_geometry(tmp_path / name)
    finally:
        server.shutdown()
        server.server_close()
    assert hits == []
    assert os.environ["no_proxy"] == "127.0.0.1,localhost"  # the user's setting, back
    with pytest.raises(InputError, match="cannot be opened as a GeoJSON"):
        geofile.read_geometry(tmp_path / "alg.geojson")
