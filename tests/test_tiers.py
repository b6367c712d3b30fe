import numpy as np
import pandas as pd
import pyproj
import pytest
from scipy import stats

from geotool import boundaries, tiers
from geotool._errors import InputError
from geotool.report import rankings
from geotool.report.check import region_change

from .test_cli import run_main


@pytest.fixture(scope="module")
def report():
    return rankings.tier_table("industrial_counties")


@pytest.fixture(scope="module")
def pos(report):
    """The report's positions: coast and core (黄浦区) distances included."""
    return tiers.unit_positions(
        report["adcode"], coast=boundaries.coastline(), core=rankings.core_point()
    )


def test_assign_ward_and_jenks_find_contiguous_tiers():
    scores = pd.Series([100, 98, 97, 60, 58, 55, 20, 18, 15, 14], dtype=float)
    for method in ("ward", "jenks"):
        t = tiers.assign(scores, method=method, k=3)
        assert t.tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3, 3]
    ranked = rankings.load("industrial_counties")
    t = tiers.assign(101.0 - ranked["rank"], method="ward", k=4)
    assert t.is_monotonic_increasing  # ranks are sorted, so tiers never go back
    assert t.nunique() == 4


@pytest.mark.parametrize(
    ("scores", "kwargs", "message"),
    [
        (pd.Series([1.0, np.nan, 3.0]), {}, r"value\(s\) are missing at 1"),
        (pd.Series([1.0, 1.0, 2.0]), {"k": 3}, "only 2 distinct values"),
        (pd.Series([1.0, 2.0, 3.0]), {"method": "kmeans", "k": 2}, "method must be"),
    ],
)
def test_assign_bad_input(scores, kwargs, message):
    with pytest.raises(InputError, match=message):
        tiers.assign(scores, **kwargs)


def test_composition_reproduces_the_report(report):
    comp = tiers.composition(report)
    assert comp.loc[1, ["east", "total"]].tolist() == [6, 6]
    assert comp.loc[2, "share_east"] == pytest.approx(0.8)
    both = comp.loc[[3, 4], ["east", "central", "west", "northeast"]].sum()
    assert both.tolist() == [41, 20, 7, 1]
    prov = tiers.composition(report, by="province")
    assert prov.loc[1, "江苏"] == 4
    for p in ("河南", "湖北", "安徽", "江西"):
        assert prov.loc[[1, 2], p].sum() == 0 and prov.loc[[3, 4], p].sum() > 0


def test_ellipse_and_median_on_known_points():
    line = np.array([[0.0, y] for y in range(-5, 6)])
    az, major, minor = tiers._ellipse(line)
    assert az == pytest.approx(0.0, abs=1e-9) or az == pytest.approx(180.0, abs=1e-9)
    assert major == pytest.approx(np.sqrt((np.arange(-5, 6) ** 2).mean()))
    assert minor == pytest.approx(0.0, abs=1e-9)
    diag = np.array([[t, t] for t in range(-5, 6)], dtype=float)
    assert tiers._ellipse(diag)[0] == pytest.approx(45.0)
    # the geometric median resists an outlier that drags the mean
    pts = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [100, 100]], dtype=float)
    med = tiers._geometric_median(pts)
    assert np.all(med < 2) and pts.mean(axis=0)[0] > 20


def _azimuth_from_pointpats(theta: float) -> float:
    """pointpats' angle: radians counterclockwise from east (+x), as shapely's rotate takes
    it (its docstring says "clockwise"); ours: degrees clockwise from north in [0, 180)."""
    return (90.0 - np.degrees(theta)) % 180.0


def test_pointpats_rotation_convention():
    from pointpats.centrography import ellipse

    t = np.arange(-5, 6, dtype=float)
    wobble = np.random.default_rng(0).normal(0, 0.3, len(t))
    for slope, azimuth in ((1.0, 45.0), (-0.5, 90 + np.degrees(np.arctan(0.5)))):
        pts = np.column_stack([t, slope * t + wobble])  # major axis towards the NE / ESE
        theta = ellipse(pts)[2]
        assert _azimuth_from_pointpats(theta) == pytest.approx(azimuth, abs=2)
        assert tiers._ellipse(pts, "corrected")[0] == pytest.approx(
            _azimuth_from_pointpats(theta), rel=1e-9
        )


def test_ellipse_conventions_match_pointpats_on_the_report(report):
    from pointpats.centrography import ellipse

    pos = tiers.unit_positions(report["adcode"])
    corrected = tiers.geography(report, pos).set_index("tier")
    plain = tiers.geography(report, pos, ellipse="plain").set_index("tier")
    assert (corrected["ellipse_convention"] == "corrected").all()
    assert (plain["ellipse_convention"] == "plain").all()
    assert (corrected["ellipse_note"] == "").all()
    for tier, group in report.groupby("tier"):
        xy = pos.loc[group["adcode"], ["x", "y"]].to_numpy()
        major, minor, theta = ellipse(xy)
        row = corrected.loc[tier]
        assert row["ellipse_major_km"] == pytest.approx(major / 1000, rel=1e-9)
        assert row["ellipse_minor_km"] == pytest.approx(minor / 1000, rel=1e-9)
        assert row["ellipse_azimuth_deg"] == pytest.approx(_azimuth_from_pointpats(theta), rel=1e-9)
        n = len(group)
        factor = np.sqrt(2 * n / (n - 2))
        assert row["ellipse_major_km"] == pytest.approx(
            plain.loc[tier, "ellipse_major_km"] * factor
        )
        assert row["ellipse_azimuth_deg"] == plain.loc[tier, "ellipse_azimuth_deg"]
    # the plain ellipse keeps its values (tier 1: 295 / 42 km), the corrected one pointpats'
    assert plain.loc[1, ["ellipse_major_km", "ellipse_minor_km"]].round().tolist() == [295, 42]
    assert corrected.loc[1, ["ellipse_major_km", "ellipse_minor_km"]].round().tolist() == [511, 73]
    # the other centrography columns do not depend on the convention
    same = ["n", "mean_lon", "mean_lat", "median_lon", "standard_distance_km"]
    pd.testing.assert_frame_equal(corrected[same], plain[same])


def test_corrected_ellipse_of_two_units_is_nan_with_a_note(report, pos):
    small = report[report["tier"] == 1].copy()
    small["tier"] = [1, 1, 1, 2, 2, 3]  # groups of 3, 2 and 1 units
    geo = tiers.geography(small, pos).set_index("tier")
    assert np.isfinite(geo.loc[1, ["ellipse_major_km", "ellipse_minor_km"]].astype(float)).all()
    for t in (2, 3):
        assert (
            geo.loc[t, ["ellipse_azimuth_deg", "ellipse_major_km", "ellipse_minor_km"]].isna().all()
        )
        assert "at least 3 units" in geo.loc[t, "ellipse_note"]
    plain = tiers.geography(small, pos, ellipse="plain").set_index("tier")
    assert plain.loc[2, "ellipse_major_km"] > 0 and (plain["ellipse_note"] == "").all()
    shapes = tiers.shapes(geo.reset_index(), tiers.diffusion_vectors(geo.reset_index()))
    assert shapes["kind"].value_counts().to_dict() == {
        "mean_centre": 3, "ellipse": 1, "vector": 2, "step": 2}  # fmt: skip
    assert shapes.is_valid.all()
    with pytest.raises(InputError, match="ellipse must be"):
        tiers.geography(small, pos, ellipse="arcgis")


def test_analyse_threads_the_ellipse_convention(report, pos):
    res = {c: tiers.analyse(report, pos, permutations=0, ellipse=c) for c in ("plain", "corrected")}
    for c, r in res.items():
        assert (r["geography"]["ellipse_convention"] == c).all()
        ell = r["shapes"][r["shapes"]["kind"] == "ellipse"]
        assert (ell["ellipse_convention"] == c).all()
    area = {c: r["shapes"][r["shapes"]["kind"] == "ellipse"].to_crs(pos.attrs["crs"]).area
            for c, r in res.items()}  # fmt: skip
    ratio = area["corrected"].to_numpy() / area["plain"].to_numpy()
    n = res["plain"]["geography"]["n"].to_numpy()
    np.testing.assert_allclose(ratio, 2 * n / (n - 2), rtol=1e-6)
    with pytest.raises(InputError, match="ellipse must be"):
        tiers.analyse(report, pos, permutations=0, ellipse="sqrt2")


def test_geography_and_diffusion_on_the_report(report, pos):
    geo = tiers.geography(report, pos)
    assert geo["tier"].tolist() == [1, 2, 3, 4] and geo["n"].tolist() == [6, 25, 31, 38]
    first = geo.iloc[0]
    assert 119 < first["mean_lon"] < 122 and 29 < first["mean_lat"] < 33  # 苏浙闽
    assert first["km_to_coast_mean"] < geo["km_to_coast_mean"].iloc[1:].min()
    vec = tiers.diffusion_vectors(geo)
    assert vec["to"].tolist() == [2, 3, 4]
    assert ((vec["bearing_deg"] > 270) & (vec["bearing_deg"] < 330)).all()  # west-north-west
    assert (vec["length_km"] > 200).all()
    shapes = tiers.shapes(geo, vec, crs=pos.attrs["crs"])
    assert shapes["kind"].value_counts().to_dict() == {
        "mean_centre": 4, "ellipse": 4, "vector": 3, "step": 3}  # fmt: skip
    assert shapes.is_valid.all() and shapes.crs.to_epsg() == 4326
    # the steps join the centres in order: tier t-1's centre to tier t's, geodesic km
    steps = tiers.diffusion_steps(geo)
    assert steps[["kind", "from", "to"]].to_numpy().tolist() == [["step", 1, 2], ["step", 2, 3],
                                                             ["step", 3, 4]]  # fmt: skip
    lon, lat = geo["mean_lon"].to_numpy(), geo["mean_lat"].to_numpy()
    az, _, m = pyproj.Geod(ellps="WGS84").inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
    np.testing.assert_allclose(steps["length_km"], m / 1000, rtol=1e-9)
    np.testing.assert_allclose(steps["bearing_deg"], np.mod(az, 360), atol=1e-9)
    assert steps.iloc[0].drop("kind").equals(vec.iloc[0].drop("kind"))  # 1 -> 2: both
    drawn = shapes[shapes["kind"] == "step"]
    ends = [(line.coords[0], line.coords[-1]) for line in drawn.geometry]
    assert ends == [((lon[i], lat[i]), (lon[i + 1], lat[i + 1])) for i in range(3)]
    assert drawn["length_km"].tolist() == steps["length_km"].tolist()


def test_gradient_statistics_match_scipy_and_support_the_claim(report, pos):
    grad = tiers.gradient(report, pos, permutations=999, seed=1).set_index(["order", "position"])
    pos = pos.loc[report["adcode"]]
    rho = stats.spearmanr(report["rank"], pos["lon"]).statistic
    tau = stats.kendalltau(report["rank"], pos["lon"]).statistic
    assert grad.loc[("rank", "lon"), "spearman_rho"] == pytest.approx(rho)
    assert grad.loc[("rank", "lon"), "kendall_tau_b"] == pytest.approx(tau)
    tau_tier = stats.kendalltau(report["tier"].astype(float), pos["km_to_coast"]).statistic
    assert grad.loc[("tier", "km_to_coast"), "kendall_tau_b"] == pytest.approx(tau_tier)
    assert grad["supports"].all()
    again = tiers.gradient(report, pos, permutations=999, seed=1)
    assert again["spearman_p"].tolist() == grad["spearman_p"].tolist()


def test_change_over_time_and_mobility(report, pos):
    later = report.copy()
    later["year"] = 2021
    rng = np.random.default_rng(0)
    later["tier"] = rng.permutation(later["tier"].to_numpy())
    both = pd.concat([report.assign(year=2020), later], ignore_index=True)
    centres = tiers.yearly_centres(both, pos)
    assert centres["shift_km"].notna().sum() == 4
    mob = tiers.mobility(both)["2020->2021"]
    assert mob.to_numpy().sum() == 100
    with pytest.raises(InputError, match="at least two years"):
        tiers.yearly_centres(report.assign(year=2020), pos)
    change = region_change("industrial_counties").set_index("region")
    assert change.loc["east", ["count_2019", "count_2020", "change"]].tolist() == [74, 67, -7]


def test_tiers_cli_user_data_errors(tmp_path):
    data = tmp_path / "t.csv"
    data.write_text("县,得分\n江阴市,9\n昆山市,\n张家港市,7\n", encoding="utf-8")
    proc = run_main("tiers", "--data", str(data), "--score", "得分", "--out", str(tmp_path))
    assert proc.returncode == 2 and "missing at line 3" in proc.stderr  # the empty cell, line 3
    data.write_text("县,得分\n江阴市,9\n昆山市,9\n张家港市,7\n", encoding="utf-8")
    proc = run_main(
        "tiers", "--data", str(data), "--score", "得分", "-k", "3", "--out", str(tmp_path)
    )
    assert proc.returncode == 2 and "distinct" in proc.stderr and "Traceback" not in proc.stderr


def test_tiers_cli_outside_china_has_no_china_only_fields_and_keeps_a_planes_xy(
    tmp_path, monkeypatch
):
    import json

    monkeypatch.chdir(tmp_path)  # the match report goes beside the default output
    import libpysal

    columbus = libpysal.examples.get_path("columbus.shp")  # no CRS: a plane
    us48 = libpysal.examples.get_path("us48.shp")  # lon/lat without a .prj
    runs = ((["--data", columbus, "--score", "CRIME"], "x"),
            (["--data", us48, "--crs", "EPSG:4326", "--score", "AREA"], "lon"))
    for argv, xy in runs:
        proc = run_main("tiers", *argv, "--permutations", "99", "--json")
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert "gradient" not in result and "East-to-west" not in result["verdict"]
        geo = pd.DataFrame(result["geography"])
        assert f"mean_{xy}" in geo.columns and not geo.filter(like="coast").columns.size
        assert not geo.filter(like="core").columns.size
    assert geo["mean_lon"].between(-125, -66).all()  # us48: degrees, as the file's


def test_tiers_cli_on_the_report_and_on_a_multi_year_table(tmp_path):
    proc = run_main("tiers", "--permutations", "199", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "East-to-west claim supported" in proc.stdout
    top = rankings.load("industrial_counties")
    rows = []
    for year, shift in ((2019, 0), (2020, 3)):
        for _, r in top.iterrows():
            rows.append(
                {
                    "年份": year,
                    "省": r["province"],
                    "县": r["name"],
                    "得分": 200 - r["rank"] + (shift if r["region"] != "east" else 0),
                }
            )
    data = tmp_path / "years.csv"
    pd.DataFrame(rows).to_csv(data, index=False, encoding="gb18030")
    proc = run_main(
        "tiers",
        "--data",
        str(data),
        "--score",
        "得分",
        "--year-col",
        "年份",
        "--method",
        "jenks",
        "--permutations",
        "99",
        "--json",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    import json

    payload = json.loads(proc.stdout)
    assert len(payload["yearly_centres"]) == 8 and "2019->2020" in payload["mobility"]


def test_a_run_writes_the_steps_between_the_centres_it_writes(shared_run):
    """A user's study (Columbus, tiers of CRIME; conftest's run): tables/tiers_vectors_*.csv
    has each step t-1 -> t, whose km and bearing are pyproj.Geod.inv's between the centres
    that tables/tiers_geography_*.csv gives; the vectors from class 1 are kept beside them.
    Columbus has no CRS: the centres are in the file's own x and y (they were longitudes
    and latitudes of where the plane was placed, near 3° E on the equator)."""
    import geopandas as gpd
    from libpysal import examples

    from geotool.geofile import plane_crs
    run = shared_run("columbus_en")  # geotool run columbus.shp --value-col CRIME
    assert run.returncode == 0, run.stderr[-2000:]
    tables = run.out / "tables"
    (vpath,) = tables.glob("tiers_vectors_*.csv")
    (gpath,) = tables.glob("tiers_geography_*.csv")
    vectors = pd.read_csv(vpath, encoding="utf-8-sig")
    geo = pd.read_csv(gpath, encoding="utf-8-sig").sort_values("tier").set_index("tier")
    steps = vectors[vectors["kind"] == "step"]
    k = len(geo)
    assert k >= 3 and steps[["from", "to"]].to_numpy().tolist() == [[t, t + 1] for t in range(1, k)]
    bounds = gpd.read_file(examples.get_path("columbus.shp")).total_bounds
    assert not [c for c in [*geo.columns, *vectors.columns] if "lon" in c or "lat" in c]
    assert geo["mean_x"].between(bounds[0], bounds[2]).all()
    assert geo["mean_y"].between(bounds[1], bounds[3]).all()
    placed = pyproj.Transformer.from_crs(plane_crs(bounds), "EPSG:4326", always_xy=True)
    lon, lat = placed.transform(geo["mean_x"].to_numpy(), geo["mean_y"].to_numpy())
    geo = geo.assign(mean_lon=lon, mean_lat=lat)
    geod = pyproj.Geod(ellps="WGS84")
    for a, b, km, deg in steps[["from", "to", "length_km", "bearing_deg"]].itertuples(
            index=False):  # fmt: skip
        az, _, m = geod.inv(geo.loc[a, "mean_lon"], geo.loc[a, "mean_lat"],
                            geo.loc[b, "mean_lon"], geo.loc[b, "mean_lat"])  # fmt: skip
        assert km == pytest.approx(m / 1000, rel=1e-6) and km > 0
        assert deg == pytest.approx(az % 360, abs=1e-6)
    first = vectors[vectors["kind"] == "from_first"]
    assert first["from"].eq(1).all() and first["to"].tolist() == list(range(2, k + 1))
