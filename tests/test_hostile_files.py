"""Users' geometry and table files built to hurt: decompression bombs, coordinates
that are not numbers, attribute encodings and CRS labels that lie.

Every file is built in ``tmp_path`` from real bundled polygons (Jiangsu's 13
prefectures). A refusal must be exit status 2 with one line on stderr naming the file
and the fix (no traceback, no "internal error"); the Python API raises
:class:`~geotool._errors.InputError`. Bombs are built in a second (a deflate block of
1 MiB of zeros, flushed so it can be repeated: 3 GiB declared in 3 MB), and read in a
subprocess whose peak memory is measured.
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import subprocess
import sys
import warnings
import zipfile
import zlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from geotool import _limits, boundaries, datum, geofile
from geotool._errors import InputError
from geotool.cli import main
from geotool.io import read_table

ROOT = Path(__file__).resolve().parent.parent
GIB = 1024**3
MIB = 1024**2
ZIPPED = (".shp", ".shx", ".dbf", ".prj", ".cpg")


# ---------------------------------------------------------------------------- files


@pytest.fixture(scope="module")
def pref() -> gpd.GeoDataFrame:
    """Jiangsu's prefectures: code, name (南京市 ...), WGS84 polygons."""
    p = boundaries.load("prefecture")
    p = p[p["province"] == "江苏省"].reset_index()
    return gpd.GeoDataFrame(
        {"code": p["adcode"].astype(str), "name": p["prefecture"]},
        geometry=p.geometry.to_numpy(),
        crs=4326,
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory, pref) -> Path:
    """A folder with the table of values (own.csv) and a good Shapefile (good.*)."""
    d = tmp_path_factory.mktemp("hostile_files")
    values = np.random.default_rng(3).uniform(1, 9, len(pref))
    pd.DataFrame({"code": pref["code"], "value": values}).to_csv(d / "own.csv", index=False)
    pref.to_file(d / "good.shp", encoding="utf-8")
    return d


def _zeros_deflate(size: int) -> bytes:
    """A raw deflate stream of ``size`` zero bytes (a multiple of 1 MiB), built fast:
    one block, flushed so that it does not depend on what came before, repeated."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(MIB)) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(bytes(MIB)) + c.flush(zlib.Z_FULL_FLUSH)
    assert again == block  # so the stream is that block, size // MiB times
    return block * (size // MIB) + c.flush()


def _member(name: str, data: bytes) -> tuple[str, bytes, int, int]:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return name, c.compress(data) + c.flush(), len(data), zlib.crc32(data)


def _write_zip(path: Path, members: list[tuple[str, bytes, int, int]]) -> None:
    """A zip of deflated (name, stream, declared size, CRC) members, ZIP64 sizes."""
    out, central = bytearray(), bytearray()
    for name, stream, size, crc in members:
        raw = name.encode()
        extra = struct.pack("<HHQQ", 1, 16, size, len(stream))
        head = (0x04034B50, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(raw), len(extra))
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", *head) + raw + extra + stream
        entry = (0x02014B50, 45, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(raw),
                 len(extra), 0, 0, 0, 0, offset)  # fmt: skip
        central += struct.pack("<IHHHHHHIIIHHHHHII", *entry) + raw + extra
    end = (0x06054B50, 0, 0, len(members), len(members), len(central), len(out), 0)
    path.write_bytes(bytes(out) + bytes(central) + struct.pack("<IHHHHIIH", *end))


def _shapefile_zip(folder: Path, name: str, dbf: tuple[str, bytes, int, int]) -> Path:
    """The good Shapefile zipped, its .dbf replaced by ``dbf``."""
    parts = [_member(f"{name}/towns{s}", (folder / f"good{s}").read_bytes()) for s in
             (".shp", ".shx", ".prj", ".cpg")]  # fmt: skip
    path = folder / f"{name}.zip"
    _write_zip(path, [*parts, dbf])
    return path


@pytest.fixture(scope="module")
def bombs(folder, pref) -> dict[str, Path]:
    """Files that declare far more than they hold."""
    out = {}
    # 3 GiB of .dbf in 3 MB: over the limit by the zip's directory
    out["dbf3g"] = _shapefile_zip(
        folder, "bomb3g", ("bomb3g/towns.dbf", _zeros_deflate(3 * GIB), 3 * GIB, 0)
    )
    # 256 MiB in 260 KB: under the limit, but no data inflates 1,000 times
    out["ratio"] = _shapefile_zip(
        folder, "ratio", ("ratio/towns.dbf", _zeros_deflate(256 * MIB), 256 * MIB, 0)
    )
    # a directory that understates: 64 MiB behind a declared 4 KiB (CRC of nothing real)
    out["liar"] = _shapefile_zip(
        folder, "liar", ("liar/towns.dbf", _zeros_deflate(64 * MIB), 4096, 0)
    )
    # an .xlsx whose first sheet inflates to 3 GiB
    book = folder / "values.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["code", "value"])
    wb.save(book)
    with zipfile.ZipFile(book) as z:
        parts = [_member(i.filename, z.read(i)) for i in z.infolist()
                 if i.filename != "xl/worksheets/sheet1.xml"]  # fmt: skip
    sheet = ("xl/worksheets/sheet1.xml", _zeros_deflate(3 * GIB), 3 * GIB, 0)
    out["xlsx"] = folder / "bomb.xlsx"
    _write_zip(out["xlsx"], [*parts, sheet])
    # GeoParquet: one polygon's WKB stored once, referenced 400,000 times (~4 GiB decoded)
    good = folder / "good.parquet"
    pref.to_parquet(good)
    geo_meta = pq.read_schema(good).metadata[b"geo"]
    wkb = shapely.to_wkb(pref.geometry.iloc[0])
    n = 4 * GIB // len(wkb) + 1
    column = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype=np.int32)), pa.array([wkb], pa.binary())
    )
    table = pa.table({"geometry": column}).replace_schema_metadata({b"geo": geo_meta})
    out["parquet"] = folder / "bomb.parquet"
    pq.write_table(table, out["parquet"])
    # GeoParquet of 9 million rows of nothing (run-length encoded): over the feature cap
    table = pa.table({"code": np.zeros(9_000_000, dtype=np.int8)})
    out["rows"] = folder / "rows.parquet"
    pq.write_table(table.replace_schema_metadata({b"geo": geo_meta}), out["rows"])
    return out


def _run(argv: list, capsys) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def _one_line(rc: int, err: str) -> str:
    assert rc == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("geotool: error")]
    assert len(lines) == 1, err
    return lines[0]


def _cli(folder: Path, geometry: Path, *extra: str) -> list:
    out = folder / f"out_{geometry.stem}"
    return ["autocorr", "--data", folder / "own.csv", "--geometry", geometry, "--out", out, *extra]


# ---------------------------------------------------------------------------- bombs

_SCRIPT = """
import sys
from geotool import geofile
from geotool.io import read_table
for name in sys.argv[1:]:
    try:
        (read_table if name.endswith(".xlsx") else geofile.read_geometry)(name)
        print("READ", name)
    except ValueError as exc:
        print("REFUSED", str(exc))
"""


#: Runs a command and prints its peak memory (KiB). A child spawned straight from pytest
#: inherits pytest's own high-water mark across exec on Linux (vfork shares the memory
#: map until exec), so the measured command is started from this small launcher.
_LAUNCHER = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(done.stdout)
sys.stderr.write(done.stderr)
print("PEAK", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(done.returncode)
"""


def _measured(script: str, args: list[str], env: dict[str, str]) -> tuple[list[str], int]:
    """The output lines of ``python -c script args`` and its peak memory in KiB."""
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, sys.executable, "-c", script, *args],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    *lines, peak = done.stdout.splitlines()
    return lines, int(peak.split()[1])


def test_bombs_are_refused_in_bounded_memory(bombs):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop(_limits.ENV, None)
    files = [bombs[k] for k in ("dbf3g", "ratio", "liar", "xlsx", "parquet", "rows")]
    lines, peak_kib = _measured(_SCRIPT, list(map(str, files)), env)
    assert peak_kib < 1024**2, f"peak {peak_kib / 1024:.0f} MiB"
    assert [line.split()[0] for line in lines] == ["REFUSED"] * len(files), lines
    dbf3g, ratio, liar, xlsx, parquet, rows = lines
    assert "bomb3g.zip declares (uncompressed) 3 GiB" in dbf3g and "limit of 2 GiB" in dbf3g
    assert "GEOTOOL_MAX_INPUT_BYTES" in dbf3g and "max_bytes=" in dbf3g
    assert "decompression bomb" in ratio and "towns.dbf" in ratio and "unzip it" in ratio
    assert "liar.zip is a corrupt zip" in liar
    assert "bomb.xlsx declares (uncompressed) 3 GiB" in xlsx
    assert "bomb.parquet decodes to 4 GiB" in parquet
    assert "rows.parquet holds 9,000,000 features" in rows


def test_bombs_on_the_command_line(bombs, folder, capsys):
    line = _one_line(*_run(_cli(folder, bombs["dbf3g"]), capsys))
    assert "bomb3g.zip" in line and "GEOTOOL_MAX_INPUT_BYTES" in line
    argv = ["autocorr", "--data", bombs["xlsx"], "--out", folder / "out_xlsx"]
    line = _one_line(*_run(argv, capsys))
    assert "bomb.xlsx declares (uncompressed) 3 GiB" in line


def test_the_limit_is_overridable_both_ways(folder, pref, monkeypatch, capsys):
    gpkg = folder / "limit.gpkg"
    pref.to_file(gpkg)
    size = gpkg.stat().st_size
    with pytest.raises(InputError, match=r"limit\.gpkg is .* over geotool's input limit of 1 KiB"):
        geofile.read_geometry(gpkg, max_bytes=1024)
    monkeypatch.setenv(_limits.ENV, "10KB")
    line = _one_line(*_run(_cli(folder, gpkg), capsys))
    assert "limit.gpkg is" in line and "GEOTOOL_MAX_INPUT_BYTES" in line
    with pytest.raises(
        InputError, match=r"own\.csv is \d+ bytes, over geotool's input limit of 100 bytes"
    ):  # a table too (a few hundred bytes)
        read_table(folder / "own.csv", max_bytes=100)
    assert len(geofile.read_geometry(gpkg, max_bytes=size)[0]) == 13  # the keyword wins
    monkeypatch.setenv(_limits.ENV, "1GiB")
    assert len(geofile.read_geometry(gpkg)[0]) == 13
    monkeypatch.setenv(_limits.ENV, "lots")
    with pytest.raises(InputError, match="GEOTOOL_MAX_INPUT_BYTES='lots' is not a size"):
        geofile.read_geometry(gpkg)
    with pytest.raises(InputError, match="max_bytes=-5 must be a positive"):
        geofile.read_geometry(gpkg, max_bytes=-5)


def test_a_plain_shapefile_counts_its_dbf(folder, monkeypatch):
    parts = sum((folder / f"good{s}").stat().st_size for s in ZIPPED)
    monkeypatch.setenv(_limits.ENV, str(parts - 1))
    with pytest.raises(InputError, match=r"good\.shp is \(with the files beside it\)"):
        geofile.read_geometry(folder / "good.shp")
    monkeypatch.setenv(_limits.ENV, str(parts))
    assert len(geofile.read_geometry(folder / "good.shp")[0]) == 13


def test_a_stray_cell_far_from_the_table_is_refused(folder, capsys):
    path = folder / "stray.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["code", "value"])
    wb.active.append(["320100", 1.5])
    wb.active["XFD1048576"] = "x"  # 5 KB on disk; 17 billion cells as a table
    wb.save(path)
    argv = ["autocorr", "--data", path, "--out", folder / "out_stray"]
    line = _one_line(*_run(argv, capsys))
    assert "stray.xlsx, sheet 'Sheet' reaches cell XFD1048576" in line
    assert "17,179,869,184 cells" in line and "Ctrl+End" in line
    del wb.active["XFD1048576"]
    wb.active["C1"] = "备注"  # a column more is fine
    wb.save(path)
    assert read_table(path).columns.tolist() == ["code", "value", "备注"]


def test_features_are_capped_by_the_limit(folder, pref, monkeypatch):
    points = pref.assign(geometry=pref.representative_point())
    many = pd.concat([points] * 200, ignore_index=True).assign(code=lambda d: d.index.astype(str))
    path = folder / "many.geojson"
    many.to_file(path)  # 2,600 points, about 100 bytes each in the file
    limit = path.stat().st_size + 10  # the file fits; 2,600 features do not (256 bytes each)
    with pytest.raises(InputError, match=r"many\.geojson holds 2,600 features or more"):
        geofile.read_geometry(path, max_bytes=limit)
    assert len(geofile.read_geometry(path, max_bytes=2600 * 256)[0]) == 2600


def test_geoparquet_declared_sizes_are_checked(folder, pref):
    padded = pref.assign(note="说明" * 20_000)  # 120 KB of text a row, stored once per row
    path = folder / "padded.parquet"
    padded.to_parquet(path, compression="zstd", use_dictionary=False)
    assert path.stat().st_size < 200_000  # small on disk, 1.5 MB uncompressed
    with pytest.raises(InputError, match=r"padded\.parquet declares \(uncompressed\) 1\.\d MiB"):
        geofile.read_geometry(path, max_bytes=1_000_000)
    geo, _ = geofile.read_geometry(path, max_bytes=2_000_000)
    assert geo.loc["320500", "note"] == "说明" * 20_000


def test_a_zip_listing_millions_of_files_is_refused_unread(folder):
    path = folder / "dir.zip"
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 200 * MIB, 0, 0)
    path.write_bytes(b"PK\x03\x04" + bytes(100) + end)
    with pytest.raises(InputError, match=r"dir\.zip lists 200 MiB of member names"):
        geofile.read_geometry(path)


def test_extraction_stops_where_the_bytes_pass_the_declared_size(tmp_path):
    class Archive:  # what a zip reader that trusts the stream would hand over
        def open(self, info):
            import io

            return io.BytesIO(bytes(3 * MIB))

    info = zipfile.ZipInfo("towns.dbf")
    info.file_size = MIB
    with pytest.raises(InputError, match="holds more than the 1 MiB its directory declares"):
        _limits.extract(Archive(), {"towns.dbf": info}, tmp_path, limit=GIB, where="x.zip",
                        parameter="max_bytes")  # fmt: skip
    info.file_size = 3 * MIB
    with pytest.raises(
        InputError, match=r"x\.zip inflates to more than 3 MiB, over geotool's input limit of 2 MiB"
    ):
        _limits.extract(Archive(), {"towns.dbf": info}, tmp_path, limit=2 * MIB,
                        where="x.zip", parameter="max_bytes")  # fmt: skip


def test_a_good_zip_still_reads_with_macos_junk_and_folders(folder, pref):
    path = folder / "good.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for s in ZIPPED:
            z.write(folder / f"good{s}", f"数据/苏南{s}")
        z.writestr("__MACOSX/数据/._苏南.shp", b"\0\5\26\7" * 10)
    geo, report = geofile.read_geometry(path)
    assert geo.index.tolist() == pref["code"].tolist() and report.empty
    assert geo.loc["320500", "name"] == "苏州市"
    assert geo.attrs["source"]["layer"] == "苏南"


# ---------------------------------------------------------------------------- not numbers


def _geojson_with(pref: gpd.GeoDataFrame, path: Path, rows: dict[int, str]) -> Path:
    """``pref`` as GeoJSON text, a vertex of each of ``rows`` (0-based) set to a token."""
    data = json.loads(pref.to_json())
    for row, token in rows.items():
        geom = data["features"][row]["geometry"]
        ring = geom["coordinates"][0] if geom["type"] == "Polygon" else geom["coordinates"][0][0]
        ring[3] = [f"@{token}@", ring[3][1]]
    text = json.dumps(data, ensure_ascii=False)
    for token in set(rows.values()):
        text = text.replace(f'"@{token}@"', token)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_coordinates_are_reported_not_a_crash(pref, folder, token, capsys):
    path = _geojson_with(pref, folder / f"nan_{token}.geojson", {2: token, 6: token})
    geo, report = geofile.read_geometry(path)
    assert len(geo) == 11 and not {"320300", "320700"} & set(geo.index)
    assert report[["row", "id"]].to_numpy().tolist() == [[3, "320300"], [7, "320700"]]
    assert set(report["issue"]) == {"NaN or infinite coordinates"}
    line = _one_line(*_run(_cli(folder, path), capsys))  # the table's rows say why
    assert "dropped (NaN or infinite coordinates)" in line


def test_a_number_json_cannot_hold_is_refused_where_it_is(pref, folder, capsys):
    path = _geojson_with(pref, folder / "overflow.geojson", {2: "1e999"})
    line = _one_line(*_run(_cli(folder, path), capsys))
    assert "overflow.geojson cannot be opened as a GeoJSON" in line and "character" in line


# ---------------------------------------------------------------------------- encodings


def test_a_cpg_that_says_utf8_over_gbk_falls_back_to_detection(pref, folder, caplog):
    path = folder / "gbk_lie.shp"
    pref.to_file(path, encoding="gbk")
    path.with_suffix(".cpg").write_text("UTF-8")
    geo, _ = geofile.read_geometry(path)
    assert geo["name"].tolist() == pref["name"].tolist()  # 南京市 ..., not mojibake
    assert geo.attrs["source"]["encoding"] == "gb18030 (detected; the .cpg's UTF-8 does not fit)"
    assert "its .cpg says UTF-8, but the attributes are not UTF-8 text" in caplog.text
    given, _ = geofile.read_geometry(path, encoding="gbk")
    assert given["name"].tolist() == pref["name"].tolist()


def test_invalid_utf8_in_a_geopackage_names_the_column(pref, folder, capsys):
    path = folder / "badtext.gpkg"
    pref.to_file(path, layer="units", SPATIAL_INDEX="NO")  # no triggers needing SpatiaLite
    with sqlite3.connect(path) as db:  # GBK bytes where GeoPackage text must be UTF-8
        db.execute("UPDATE units SET name = CAST(X'CBD5D6DDCAD0' AS TEXT) WHERE code = '320500'")
    with pytest.raises(InputError, match="column 'name' holds text that is not valid UTF-8"):
        geofile.read_geometry(path)
    line = _one_line(*_run(_cli(folder, path), capsys))
    assert "badtext.gpkg: column 'name'" in line and "save it again with UTF-8" in line


def test_bad_shapefile_text_names_the_encoding_flag(pref, folder, capsys):
    path = folder / "big5.shp"
    pref.to_file(path, encoding="gbk")
    path.with_suffix(".cpg").write_text("UTF-8")
    dbf = path.with_suffix(".dbf")
    data = dbf.read_bytes()
    dbf.write_bytes(data.replace("苏州".encode("gbk"), b"\xff\xfe\xff\xfe"))
    geo, _ = geofile.read_geometry(path)  # detected as GB18030: read, never a crash
    assert len(geo) == 13
    rc, err = _run([*_cli(folder, path), "--geometry-encoding", "utf-8"], capsys)
    line = _one_line(rc, err)
    assert "big5.shp: column 'name'" in line and "--geometry-encoding gbk" in line


@pytest.mark.parametrize("zipped", [False, True])
@pytest.mark.parametrize("missing", [".dbf", ".shx"])
def test_a_shapefile_without_its_dbf_or_shx_says_so(pref, folder, missing, zipped, capsys):
    stem = f"lack{missing[1:]}"
    pref.to_file(folder / f"{stem}.shp")
    (folder / f"{stem}{missing}").unlink()
    path = folder / f"{stem}.shp"
    if zipped:
        path = folder / f"{stem}.zip"
        with zipfile.ZipFile(path, "w") as z:
            for p in folder.glob(f"{stem}.*"):
                if p.suffix != ".zip":
                    z.write(p, p.name)
    with pytest.raises(InputError, match=rf"lacks {stem}\{missing}, the Shapefile's"):
        geofile.read_geometry(path)
    line = _one_line(*_run(_cli(folder, path), capsys))
    assert f"lacks {stem}{missing}" in line and "its columns are []" not in line


# ---------------------------------------------------------------------------- CRS lies


def test_lonlat_labelled_utm_is_refused_naming_the_fix(pref, folder, capsys):
    path = folder / "lie_utm.gpkg"
    pref.set_crs(32650, allow_override=True).to_file(path)
    line = _one_line(*_run(_cli(folder, path), capsys))
    assert "lie_utm.gpkg says its CRS is 'WGS 84 / UTM zone 50N'" in line
    assert "look like longitude/latitude" in line and "pass --crs EPSG:4326" in line
    geo, _ = geofile.read_geometry(path, crs="EPSG:4326")  # the override reads it right
    assert np.allclose(geo.total_bounds, pref.total_bounds)
    with pytest.raises(InputError, match="crs='WGS 84 / UTM zone 50N' was given"):
        geofile.read_geometry(folder / "good.shp", crs="EPSG:32650")


def test_metres_labelled_lonlat_is_refused(pref, folder, capsys):
    for crs in (3857, 32650, 4528):  # web mercator, UTM, Gauss-Krüger with its zone prefix
        path = folder / f"metres_{crs}.geojson"
        frame = pref.to_crs(crs).set_crs(4326, allow_override=True)
        frame.to_file(path)
        line = _one_line(*_run(_cli(folder, path), capsys))
        assert f"metres_{crs}.geojson says its CRS is 'WGS 84'" in line
        assert "are not degrees" in line and "--crs" in line


def test_a_wrong_projected_label_is_refused_by_its_area_of_use(pref, folder, capsys):
    path = folder / "gk_wrong.gpkg"  # zone-prefixed Gauss-Krüger eastings, labelled unprefixed
    pref.to_crs(4528).set_crs(4549, allow_override=True).to_file(path)
    line = _one_line(*_run(_cli(folder, path), capsys))
    assert "gk_wrong.gpkg says its CRS is 'CGCS2000 / 3-degree Gauss-Kruger CM 120E'" in line
    assert "the file's CRS is likely wrong: pass --crs with the CRS" in line
    geo, _ = geofile.read_geometry(path, crs="EPSG:4528")
    assert np.allclose(geo.total_bounds, pref.total_bounds, atol=1e-6)


def _geojson_crs(pref: gpd.GeoDataFrame, path: Path, name: str, at_end: bool = False) -> Path:
    data = json.loads(pref.to_json())
    member = {"type": "name", "properties": {"name": name}}
    data = {**data, "crs": member} if at_end else {"type": data.pop("type"), "crs": member, **data}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("urn:ogc:def:crs:EPSG::99999", id="unknown-code"),
        pytest.param("+proj=utm +zone=50 <b>x</b>", id="proj-markup"),
        pytest.param("<script>alert(1)</script>", id="script"),
        pytest.param("+proj=longlat +datum=WGS84 +no_defs\n<img src=x>", id="proj-newline-markup"),
    ],
)
@pytest.mark.parametrize("at_end", [False, True])
def test_a_geojson_crs_pyproj_cannot_read_is_refused(pref, folder, name, at_end, capsys):
    stem = f"crs_{zlib.crc32(name.encode())}_{at_end}"
    path = _geojson_crs(pref, folder / f"{stem}.geojson", name, at_end)
    line = _one_line(*_run(_cli(folder, path), capsys))
    assert 'its "crs" member names the CRS' in line and "which is not a CRS pyproj knows" in line
    assert "\n" not in line and "--crs EPSG:4326" in line
    geo, _ = geofile.read_geometry(path, crs="EPSG:4326")  # crs= overrides the bad label
    assert len(geo) == 13


def test_a_geojson_crs_that_is_right_is_honoured(pref, folder):
    utm = pref.to_crs(32650)
    path = _geojson_crs(utm, folder / "utm_ok.geojson", "urn:ogc:def:crs:EPSG::32650")
    geo, _ = geofile.read_geometry(path)
    assert np.allclose(geo.total_bounds, pref.total_bounds, atol=1e-6)
    assert geo.attrs["source"]["crs"] == "WGS 84 / UTM zone 50N"


def test_a_prj_pyproj_cannot_read_is_refused(pref, folder, capsys):
    path = folder / "badprj.shp"
    pref.to_file(path)
    path.with_suffix(".prj").write_text("<html><body>PROJCS nonsense</body></html>")
    line = _one_line(*_run(_cli(folder, path), capsys))
    assert "badprj.shp: its .prj names the CRS" in line and "not a CRS pyproj knows" in line
    geo, _ = geofile.read_geometry(path, crs="EPSG:4326")
    assert len(geo) == 13


def test_a_crs_argument_with_markup_is_refused(folder):
    with pytest.raises(InputError, match="crs='\\+proj=utm \\+zone=50 <b>x</b>' is not a CRS"):
        geofile.read_geometry(folder / "good.shp", crs="+proj=utm +zone=50 <b>x</b>")


@pytest.mark.parametrize("kind", ["zip", "geojson_utm"])
def test_gcj02_files_still_come_back_to_wgs84(pref, folder, kind):
    gcj = pref.assign(geometry=datum.transform_geometries(pref.geometry.to_numpy(), to="gcj02"))
    if kind == "zip":
        gcj.to_file(folder / "gcj.shp", encoding="utf-8")
        path = folder / "gcj.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for s in ZIPPED:
                z.write(folder / f"gcj{s}", f"gcj{s}")
    else:
        path = folder / "gcj_utm.geojson"
        gcj.to_crs(32650).to_file(path)
    geo, report = geofile.read_geometry(path, datum="gcj02")
    assert report.empty and geo.index.tolist() == pref["code"].tolist()
    back = shapely.get_coordinates(geo.geometry.to_numpy())
    assert np.abs(back - shapely.get_coordinates(pref.geometry.to_numpy())).max() < 1e-6


# ------------------------------------------------------------ what a workbook expands to

_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
        '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
        '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.'
        'xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
        'sharedStrings+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
        'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.'
        'org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/>'
        "</sheets></workbook>"
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
        'schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target='
        '"worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.'
        'org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
        "</Relationships>"
    ),
}
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def _hand_xlsx(path: Path, strings: list[str], rows: str, head: str = "") -> Path:
    """A workbook: shared ``strings`` (XML ``<si>`` bodies) after "code" and "name", a
    header row of those two (and the cells ``head``) and the XML ``rows``, each part
    under the 16 MiB zip floor."""
    sst = f'<?xml version="1.0" encoding="UTF-8"?><sst {_NS}>'
    sst += "<si><t>code</t></si><si><t>name</t></si>" + "".join(strings) + "</sst>"
    head = f'<row><c t="s"><v>0</v></c><c t="s"><v>1</v></c>{head}</row>'
    sheet = f'<?xml version="1.0" encoding="UTF-8"?><worksheet {_NS}><sheetData>{head}'
    sheet += rows + "</sheetData></worksheet>"
    assert len(sheet) < 16 * MIB
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, text in _XLSX_PARTS.items():
            z.writestr(name, text)
        z.writestr("xl/sharedStrings.xml", sst)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    return path


@pytest.fixture(scope="module")
def cell_bombs(folder) -> dict[str, Path]:
    """Workbooks of tens of KB whose cells hold hundreds of MB (1.2 GB for the first)."""
    town = "南京市江宁区" * 300  # 1,800 characters, in every cell
    shared = '<row><c t="s"><v>2</v></c><c t="s"><v>2</v></c></row>'
    numbers = "<row><c><v>320100</v></c><c><v>320100</v></c></row>"
    return {
        "shared": _hand_xlsx(
            folder / "shared.xlsx", [f"<si><t>{'x' * 2000}</t></si>"], shared * 300_000
        ),
        "rich": _hand_xlsx(
            folder / "rich.xlsx",
            [f"<si><r><t>{town}</t></r><r><t>{town}</t></r></si>"],
            shared * 200_000,
        ),
        "numbers": _hand_xlsx(folder / "numbers.xlsx", [], numbers * 300_000),
    }


_READ = """
import sys
from geotool.io import read_table
for name in sys.argv[1:]:
    try:
        read_table(name)
        print("READ", name)
    except Exception as exc:
        print("REFUSED", type(exc).__name__, str(exc))
"""


def test_workbooks_whose_cells_expand_are_refused_in_bounded_memory(cell_bombs):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(_limits.ENV, None)
    names = [str(cell_bombs[k]) for k in ("shared", "rich", "numbers")]
    assert all(os.path.getsize(n) < 100_000 for n in names)
    lines, peak = _measured(_READ, names, env)
    assert peak < 512 * 1024, peak  # KiB: not the 6.7 GB of the attack
    assert len(lines) == 3, lines
    for name, line in zip(names, lines, strict=True):
        assert line.startswith("REFUSED InputError"), line
        assert f"{name}, sheet 'S' looks like a decompression bomb" in line
        assert "GEOTOOL_MAX_INPUT_BYTES" in line and "save it as CSV UTF-8" in line


def test_a_cell_bomb_on_the_command_line_is_one_line(cell_bombs, folder, capsys):
    argv = ["match", cell_bombs["shared"], "--out", folder / "out_shared"]
    line = _one_line(*_run(argv, capsys))
    assert "shared.xlsx, sheet 'S' looks like a decompression bomb" in line
    assert "over 500 times the file's" in line and "limit" in line
    assert not (folder / "out_shared").exists()


def test_a_genuine_workbook_of_repeated_names_reads_and_counts_against_the_limit(folder, pref):
    """80,000 rows of Jiangsu's codes and names and a repeated note, as Excel stores them
    (shared strings, cell references): 22 MB of cell text, 25 times the file."""
    note = "江苏省统计局二〇二〇年公报" * 8
    n = len(pref)
    strings = [f"<si><t>{t}</t></si>" for t in [*pref["code"], *pref["name"], note, "备注"]]
    rows = "".join(
        f'<row r="{r}"><c r="A{r}" t="s"><v>{2 + r % n}</v></c><c r="B{r}" t="s"><v>'
        f'{2 + n + r % n}</v></c><c r="C{r}" t="s"><v>{2 * n + 2}</v></c></row>'
        for r in range(2, 80_002)
    )
    path = _hand_xlsx(folder / "repeated.xlsx", strings, rows, f'<c t="s"><v>{2 * n + 3}</v></c>')
    assert 20 * path.stat().st_size < 22 * MIB < 500 * path.stat().st_size
    frame = read_table(path)
    assert len(frame) == 80_000 and frame.columns.tolist() == ["code", "name", "备注"]
    first = frame.iloc[0]
    assert (first["code"], first["name"]) == (pref["code"].iloc[2], pref["name"].iloc[2])
    assert (frame["备注"] == note).all()
    with zipfile.ZipFile(path) as z:
        parts = sum(i.file_size for i in z.infolist())
    with pytest.raises(InputError, match=r"repeated\.xlsx, sheet 'S' holds cell text of "
                       r"more than .* over geotool's input limit"):  # fmt: skip
        read_table(path, max_bytes=parts + 1)  # the parts fit; what they expand to does not


def test_a_geometry_file_of_too_many_columns_is_refused_before_it_is_read(tmp_path):
    """CSV tables stop at 10,000 columns; a GeoJSON or GeoParquet of 50,000 fields ran 95 s
    (200,000: over 120 s). Their fields are counted from the metadata first."""
    import time

    props = {f"f{i}": i for i in range(_limits.MAX_COLUMNS + 1)}
    feature = {"type": "Feature", "properties": props,
               "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}
    path = tmp_path / "wide.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    frame = gpd.GeoDataFrame(pd.DataFrame([props]), geometry=[shapely.box(0, 0, 1, 1)],
                             crs="EPSG:4326")  # fmt: skip
    frame.to_parquet(tmp_path / "wide.parquet")
    for name in ("wide.geojson", "wide.parquet"):
        start = time.perf_counter()
        with pytest.raises(InputError, match=r"has 10,00[12] columns, over the 10,000"):
            geofile.read_geometry(tmp_path / name)
        assert time.perf_counter() - start < 10


def test_a_file_whose_every_geometry_is_missing_says_so(tmp_path):
    """Every geometry null: an internal error (a CRS placed at NaN) became this one line."""
    frame = gpd.GeoDataFrame({"POLYID": [1, 2, 3], "v": [1.0, 2.0, 3.0]},
                             geometry=gpd.GeoSeries([None, None, None]))  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no CRS: the point
        frame.to_file(tmp_path / "null.gpkg")
    with pytest.raises(InputError, match=r"None of the 3 rows of null.gpkg has a geometry"):
        geofile.read_geometry(tmp_path / "null.gpkg", id_col="POLYID")
