"""Maps: rendered-HTML checks, and a real headless Chromium with the network blocked."""

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

import geotool.settings
from geotool import boundaries, clusters, maps, tiers
from geotool._errors import InputError
from geotool.report import figures, rankings

PAYLOAD = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def info():
    return figures.unit_info(membership=clusters.membership("report2020"))


@pytest.fixture
def hooks(monkeypatch):
    """Pages built while this is active carry the data-geotool-* test hooks."""
    monkeypatch.setattr(geotool.settings, "page_test_hooks", True)


def _page_args(text):
    """The JSON arguments of the page's ``geotoolPage(map, data, info, layers, options)`` call."""
    m = re.search(r"\ngeotoolPage\((\w+), ", text)
    decoder, pos, args = json.JSONDecoder(), m.end(), []
    for _ in range(4):
        value, pos = decoder.raw_decode(text, pos)
        args.append(value)
        pos += len(", ")
    return args


def _spec(text):
    """The layers spec JSON embedded in a page (the call's 4th argument)."""
    return _page_args(text)[2]


def _tier_shapes():
    table = rankings.tier_table("industrial_counties")
    pos = tiers.unit_positions(
        table["adcode"], coast=boundaries.coastline(), core=rankings.core_point()
    )
    return tiers.analyse(table, pos, permutations=99)["shapes"]


def test_rankings_map_offline_is_small_self_contained_and_complete(info, tmp_path):
    text = maps.to_html(figures.rankings_map(info, offline=True), tmp_path / "r.html")
    assert len(text.encode()) <= 3_000_000
    assert not re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="https?://', text)
    assert "L.Map" in text or "L.map" in text  # Leaflet inlined
    spec = _spec(text)
    assert len(spec) == 3
    assert spec[0]["colours"]["320281"] == figures.TIER_COLOURS[1]  # 江阴, tier 1
    assert "320281" not in spec[2]["colours"]  # not a district
    assert "Jiangyinshi" in text and "工业百强县 rank" in text
    assert (tmp_path / "r.html").stat().st_mode & 0o044  # readable by others


def test_online_map_loads_only_leaflet_and_the_tiles(info):
    text = maps.to_html(figures.rankings_map(info, basemap="positron"))
    urls = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', text)
    assert len(urls) == 2 and all("leaflet@1.9.3" in u for u in urls)
    assert "basemaps.cartocdn.com" in text and "jquery" not in text.lower()


def test_lisa_legend_keeps_every_class(info):
    local = pd.DataFrame({"lisa_class": ["High-High"], "p_sim": [0.01]}, index=["320281"])
    text = maps.to_html(figures.lisa_map({"x": local}, info))
    for cls in ("High-High", "Low-Low", "Low-High", "High-Low", "Not significant"):
        assert cls in text


def test_values_are_escaped_everywhere(tmp_path):
    table = pd.DataFrame({"note": [PAYLOAD, "a&b"]}, index=["320281", "320583"])
    values = pd.Series([1.0, 2.0], index=["320281", "320583"], name="v<script>")
    text = maps.to_html(
        maps.choropleth(
            values, scheme="equalinterval", k=2, table=table, fields={"note": "note"}, title=PAYLOAD
        )
    )
    assert PAYLOAD not in text and "<script>alert" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text  # title, as text
    assert "v&lt;script&gt;" in text  # legend title


def test_amap_basemap_shifts_the_polygons_to_gcj02():
    wgs = json.loads(maps._topology("wgs84"))
    gcj = json.loads(maps._topology("gcj02"))
    sx, sy = wgs["transform"]["scale"]
    a = np.cumsum(np.array(wgs["arcs"][0]), axis=0)[0] * [sx, sy]
    b = np.cumsum(np.array(gcj["arcs"][0]), axis=0)[0] * [sx, sy]
    shift_m = np.hypot((b - a)[0] * 111_000 * np.cos(np.radians(35)), (b - a)[1] * 111_000)
    assert 50 < shift_m < 900


def test_bad_map_options():
    with pytest.raises(InputError, match="basemap must be one of"):
        maps.unit_map([], basemap="google")
    with pytest.raises(InputError, match="cannot load tiles"):
        maps.unit_map([], basemap="osm", offline=True)
    with pytest.raises(InputError, match="numeric"):
        maps.choropleth(pd.Series(["a"], index=["320281"]))
    with pytest.raises(InputError, match="breaks"):
        maps.choropleth(pd.Series([1.0], index=["320281"]), scheme="user")
    with pytest.raises(InputError, match="k=1: need at least 2 classes"):
        maps.choropleth(pd.Series([1.0, 2.0], index=["320281", "320583"]), k=1)
    with pytest.raises(InputError, match="None of the 2 ids"):
        maps.choropleth(pd.Series([1.0, 2.0], index=["x1", "x2"]))
    with pytest.raises(InputError, match="1 distinct value"):
        maps.choropleth(pd.Series([1.0, 1.0], index=["320281", "320583"]))
    few = maps.choropleth(pd.Series([1.0, 2.0, 3.0], index=["320281", "320583", "320582"]))
    assert "3 – 3" in maps.to_html(few)  # k defaults to 5, or fewer when the data have fewer


def test_test_hooks_are_off_by_default(info):
    assert geotool.settings.page_test_hooks is False
    text = maps.to_html(figures.rankings_map(info, offline=True))
    assert _page_args(text)[3]["testHooks"] is False
    assert "data-geotool-early-error" not in text


# ---------------------------------------------------------------- real browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)


def browse(path, tmp_path, fragment="", screenshot=None):
    """Load a page in headless Chromium with the network blocked; return its data-* state."""
    assert CHROMIUM, "chromium is required in CI"
    flags = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
        "--virtual-time-budget=20000",
    ]
    url = f"file://{path}{fragment}"
    dom = subprocess.run(
        [*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    if screenshot:
        subprocess.run(
            [*flags, "--window-size=1200,900", f"--screenshot={screenshot}", url],
            capture_output=True,
            timeout=120,
            check=True,
        )
    state = dict(re.findall(r'data-geotool-([a-z-]+)="([^"]*)"', dom))
    return state, dom


@needs_browser
@pytest.mark.parametrize("kind", ["rankings", "lisa", "tiers", "clusters"])
def test_maps_work_in_a_real_browser_offline(kind, info, tmp_path, hooks):
    if kind == "lisa":
        local = pd.DataFrame({"lisa_class": ["High-High"], "p_sim": [0.01]}, index=["320281"])
        fmap = figures.lisa_map({"industrial counties": local}, info, offline=True)
    elif kind == "tiers":
        fmap = figures.tiers_map(info, _tier_shapes(), offline=True)
    elif kind == "clusters":
        fmap = figures.clusters_map(
            clusters.membership("report2020"), clusters.polygons("report2020"), info, offline=True
        )
    else:
        fmap = figures.rankings_map(info, offline=True)
    page = tmp_path / f"{kind}.html"
    maps.to_html(fmap, page)
    shot = tmp_path / f"{kind}.png"
    state, _ = browse(page, tmp_path, "#search=%E6%B1%9F%E9%98%B4%E5%B8%82", screenshot=shot)
    assert state.get("ready") == "1", state
    assert json.loads(state["errors"].replace("&quot;", '"')) == []
    assert "early-error" not in state
    assert state["polygons"] == "2875"  # every unit drawn
    assert state["found"] == "320281"  # the search finds 江阴市
    assert shot.stat().st_size > 20_000


@needs_browser
def test_escaped_values_run_nothing_in_the_browser(tmp_path, hooks):
    table = pd.DataFrame({"note": [PAYLOAD]}, index=["320281"])
    values = pd.Series([1.0], index=["320281"], name="v")
    page = tmp_path / "xss.html"
    maps.to_html(
        maps.choropleth(
            values,
            scheme="user",
            breaks=[2.0],
            table=table,
            fields={"note": "note"},
            title=PAYLOAD,
            offline=True,
        ),
        page,
    )
    state, dom = browse(page, tmp_path, "#search=jiangyin")
    assert state["found"] == "320281"
    # the open tooltip shows the payload as text; no <img> element was created from it
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert '<img src="x"' not in dom and "<img src=x" not in dom


@needs_browser
def test_cdn_map_with_assets_served_from_local_copies(info, tmp_path, hooks):
    import xstatic.pkg.leaflet as xl

    text = maps.to_html(figures.rankings_map(info))
    for url in re.findall(r'(?:src|href)="(https://cdn[^"]+leaflet\.(?:js|css))"', text):
        text = text.replace(url, f"file://{xl.BASE_DIR}/{url.rsplit('/', 1)[1]}")
    page = tmp_path / "cdn.html"
    page.write_text(text, encoding="utf-8")
    state, _ = browse(page, tmp_path)
    assert state.get("ready") == "1" and state["polygons"] == "2875"


def test_rankings_data_drive_the_map(info):
    ranked = rankings.load("industrial_counties")
    assert info["industrial_rank"].notna().sum() == 100
    assert info.loc[ranked["adcode"], "tier"].notna().all()


@needs_browser
def test_maps_written_by_the_main_job_work_offline(tmp_path, hooks):
    from geotool.report.pipeline import run

    out = tmp_path / "out"
    summary = run(None, out, seed=1, permutations=99, offline=True)
    assert set(summary["maps"]["files"]) == {
        "rankings.html",
        "lisa.html",
        "tiers.html",
        "clusters.html",
    }
    for name, size in summary["maps"]["files"].items():
        assert size <= 3_000_000, name
        state, _ = browse(out / "maps" / name, tmp_path, "#search=Jiangyin")
        assert state.get("ready") == "1" and state["polygons"] == "2875", name
        assert json.loads(state["errors"].replace("&quot;", '"')) == [], name
        assert state["found"] == "320281", name
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "maps/rankings.html" in index and "Moran" in index


@needs_browser
def test_default_pages_carry_no_test_hooks(info, tmp_path):
    page = tmp_path / "plain.html"
    maps.to_html(figures.rankings_map(info, offline=True), page)
    state, dom = browse(page, tmp_path, "#search=jiangyin")
    assert "ready" not in state and "polygons" not in state and "found" not in state, state
    assert "leaflet-control-layers" in dom  # the page script ran: its layer control is there
