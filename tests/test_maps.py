"""Maps: rendered-HTML checks, and a real headless Chromium with the network blocked."""

import html
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
from geotool.maps import pages
from geotool.maps._words import translate
from geotool.report import figures, rankings

from .conftest import page_args as _page_args

PAYLOAD = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def info():
    return figures.unit_info(membership=clusters.membership("report2020"))


@pytest.fixture
def hooks(monkeypatch):
    """Pages built while this is active carry the data-geotool-* test hooks."""
    monkeypatch.setattr(geotool.settings, "page_test_hooks", True)


CODES = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _code(codes, j):
    return CODES.find(codes[j]) if isinstance(codes, str) else codes[j]


def _spec(text):
    """The layers spec of a page (the call's 4th argument), colours as {id: colour}."""
    args = _page_args(text)
    ids = args[1]["ids"]
    for layer in args[2]:
        codes = [_code(layer["codes"], r) for r in range(len(ids))]
        layer["colours"] = {
            i: layer["palette"][c]
            for i, c in zip(ids, codes, strict=True)
            if c is not None and c >= 0
        }
    return args[2]


def _dense(col, n):
    """A column of the page's unit table as one value (or None) per unit."""
    m = len(col["at"]) if "at" in col else n
    vals = [col["v"][j] for j in range(m)]
    if col["k"] == "i":
        vals = [
            None if _code(col["v"], j) in (None, -1) else col["d"][_code(col["v"], j)]
            for j in range(m)
        ]
    if "at" not in col:
        return vals
    out = [None] * n
    for r, v in zip(col["at"], vals, strict=True):
        out[r] = v
    return out


def _lines(text):
    """The page's compact tooltip lines: label, parts and {id: [value per part]}."""
    info = _page_args(text)[1]
    ids, out = info["ids"], []
    for line in info["lines"]:
        cols = [_dense(c, len(ids)) for c in line["cols"]]
        rows = {i: [c[r] for c in cols] for r, i in enumerate(ids) if line["has"][r] == "1"}
        out.append({"label": line["label"], "parts": line["parts"], "rows": rows})
    return out


def _tier_shapes():
    table = rankings.tier_table("industrial_counties")
    pos = tiers.unit_positions(
        table["adcode"], coast=boundaries.coastline(), core=rankings.core_point()
    )
    return tiers.analyse(table, pos, permutations=99)["shapes"]


def test_rankings_map_is_self_contained_by_default_and_complete(info, tmp_path):
    text = maps.to_html(figures.rankings_map(info), tmp_path / "r.html")
    assert len(text.encode()) <= 1_500_000
    assert not re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="https?://', text)
    assert "L.Map" in text or "L.map" in text  # Leaflet inlined
    spec = _spec(text)
    assert len(spec) == 3
    assert spec[0]["colours"]["320281"] == pages.TIER_COLOURS[1]  # 江阴, tier 1
    assert "320281" not in spec[2]["colours"]  # not a district
    assert "Jiangyinshi" in text and "工业百强县名次" in text  # a map of China: in Chinese
    assert (tmp_path / "r.html").stat().st_mode & 0o044  # readable by others


def test_cdn_map_loads_only_leaflet_and_the_tiles(info):
    text = maps.to_html(figures.rankings_map(info, basemap="positron", cdn=True))
    urls = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', text)
    assert len(urls) == 2 and all("leaflet@1.9.3" in u for u in urls)
    assert "basemaps.cartocdn.com" in text and "jquery" not in text.lower()


def test_self_contained_map_with_tiles_inlines_leaflet_and_keeps_the_tiles(info):
    text = maps.to_html(figures.rankings_map(info, basemap="osm"))
    assert not re.findall(r'<(?:script|link)[^>]+(?:src|href)="https?://', text)
    assert "tile.openstreetmap.org" in text  # tiles stay optional: the page notes a failure
    assert "tileerror" in text


def test_lisa_legend_keeps_every_class(info):
    local = pd.DataFrame({"lisa_class": ["High-High"], "p_sim": [0.01]}, index=["320281"])
    text = maps.to_html(pages.lisa_map({"x": local}, info, lang="en"))
    for cls in ("High-High", "Low-Low", "Low-High", "High-Low", "Not significant"):
        assert cls in text
    text = maps.to_html(pages.lisa_map({"x": local}, info))  # a map of China: in Chinese
    for cls in ("高-高", "低-低", "低-高", "高-低", "不显著"):
        assert cls in text


def _lisa_local():
    from geotool import autocorr, weights

    v = rankings.variables("industrial_districts")
    w = weights.build(v.index, rankings.DEFAULT_WEIGHTS["industrial_districts"])
    return autocorr.local_stats(v["score"], w, permutations=99, seed=1, gi_star=False)


def test_lisa_map_tells_untested_from_not_significant_and_names_the_rule(info):
    local = _lisa_local()
    islet = local.index[0]
    local.loc[islet, "p_sim"] = np.nan  # e.g. a unit without neighbours: no test
    text = maps.to_html(pages.lisa_map({"districts": local}, info, lang="en"))
    lisa_layer = _spec(text)[0]
    assert islet not in lisa_layer["colours"] and islet not in _spec(text)[1]["colours"]
    assert lisa_layer["neutral"] == maps.NOT_TESTED != maps.NOT_SIGNIFICANT
    quiet = local.index[(local["lisa_class"] == "Not significant") & local["p_sim"].notna()][0]
    assert lisa_layer["colours"][quiet] == maps.NOT_SIGNIFICANT
    for untested in ("320500", "320200", "310101"):  # 苏州 (prefecture), 无锡, 上海 黄浦区
        assert untested not in lisa_layer["colours"]
    assert "not tested (outside the universe)" in text
    assert "α = 0.05, no multiple-comparison correction" in text
    # tooltips: class, value, local statistic and p-value of every tested unit
    line = _lines(text)[0]
    assert line["parts"] == ["", "value", "Ii", "p"]
    assert line["rows"][islet][0] == "not tested"
    hh = local.index[local["lisa_class"] == "High-High"][0]
    row = line["rows"][hh]
    assert row[0] == "High-High"
    assert float(row[2]) == pytest.approx(local.loc[hh, "Ii"], rel=1e-2)
    assert row[3] == maps.fmt_p(local.loc[hh, "p_sim"])
    assert set(line["rows"]) == set(local.index)


def test_national_maps_draw_the_maritime_line_and_open_on_all_of_china(info):
    text = maps.to_html(figures.rankings_map(info))
    options = _page_args(text)[3]
    (line,) = [o for o in options["overlays"] if "十段线" in o["name"]]
    assert len(line["data"]["features"][0]["geometry"]["coordinates"]) == 10  # ten dashes
    assert options["fit"] == "all" and options["bounds"] == [list(p) for p in maps.CHINA_VIEW]
    # asked to open on the coloured units, it does: no fixed view
    options = _page_args(maps.to_html(figures.rankings_map(info, fit="coloured")))[3]
    assert options["fit"] == "coloured" and options["bounds"] is None


def test_p_values_read_well():
    assert maps.fmt_p(0.0) == "< 0.001" and maps.fmt_p(1e-300) == "< 0.001"
    assert maps.fmt_p(0.001) == "0.001" and maps.fmt_p(0.0234) == "0.023"
    assert maps.fmt_p(0.5) == "0.50" and maps.fmt_p(float("nan")) == "–"


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


def test_template_syntax_in_values_is_text():
    """Values reach the page as they are: nothing is compiled as a Jinja template."""
    note = "{{ 7*7 }} {% raw %}"
    table = pd.DataFrame({"note": [note]}, index=["320281"])
    values = pd.Series([1.0], index=["320281"], name="v")
    fmap = maps.choropleth(
        values, scheme="user", breaks=[2.0], table=table, fields={"note": "note"}, title=note
    )
    text = maps.to_html(fmap)
    assert text.count(note) == 2  # the title, and the tooltip table's value


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
    with pytest.raises(InputError, match="cannot be combined with offline=True"):
        maps.unit_map([], cdn=True, offline=True)
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
    text = maps.to_html(few)  # k defaults to 5, or fewer when the data have fewer
    assert "quantiles, 3 classes" in text
    # bounds 1.667, 2.333, 3 shown at the data's resolution (whole numbers)
    assert all(f"{label}</div>" in text for label in ("1 – 2 (1)", "2 – 2 (1)", "2 – 3 (1)"))


def test_test_hooks_are_off_by_default(info):
    assert geotool.settings.page_test_hooks is False
    text = maps.to_html(figures.rankings_map(info))
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
    if screenshot:  # the same load: headless Chromium dumps the DOM, then takes the shot
        flags += ["--window-size=1200,900", f"--screenshot={screenshot}"]
    dom = subprocess.run(
        [*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    state = dict(re.findall(r'data-geotool-([a-z-]+)="([^"]*)"', dom))
    return state, dom


@needs_browser
@pytest.mark.parametrize("kind", ["rankings", "lisa", "tiers", "clusters"])
def test_maps_work_in_a_real_browser_offline(kind, info, tmp_path, hooks):
    if kind == "lisa":
        local = pd.DataFrame({"lisa_class": ["High-High"], "p_sim": [0.01]}, index=["320281"])
        fmap = pages.lisa_map({"industrial counties": local}, info, lang="en")
    elif kind == "tiers":
        fmap = pages.tiers_map(info, _tier_shapes())
    elif kind == "clusters":
        fmap = pages.clusters_map(
            clusters.membership("report2020"), clusters.polygons("report2020"), info
        )
    else:
        fmap = figures.rankings_map(info)
    page = tmp_path / f"{kind}.html"
    maps.to_html(fmap, page)
    shot = tmp_path / f"{kind}.png"
    state, dom = browse(page, tmp_path, "#search=%E6%B1%9F%E9%98%B4%E5%B8%82", screenshot=shot)
    assert state.get("ready") == "1", state
    if kind == "lisa":  # the open tooltip gives the unit's LISA class, value, Ii and p
        assert "LISA industrial counties: High-High · value – · Ii – · p 0.010" in dom
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
        ),
        page,
    )
    state, dom = browse(page, tmp_path, "#search=jiangyin")
    assert state["found"] == "320281"
    # the open tooltip shows the payload as text; no <img> element was created from it
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert '<img src="x"' not in dom and "<img src=x" not in dom


@needs_browser
def test_tooltips_read_values_as_numbers_read(tmp_path, hooks):
    """Integers as ``str`` shows them; floats to 4 significant digits (integer part whole,
    the column's decimals at most), thousands grouped, never in e notation (issue 24)."""
    floats = [1e-05, 3.0, 0.1 + 0.2, -2.5e16, 123456.789, 0.0001]
    ids = [str(i) for i in boundaries.units().index[:6]]
    table = pd.DataFrame(
        {
            "f": floats,
            "n": pd.array([1, None, 3, 4, 5, 6], dtype="Int64"),
            "t": [PAYLOAD, "a", "a", None, "b", "a"],
            "b": [True, False, True, True, True, True],
        },
        index=ids,
    )
    values = pd.Series(1.0, index=ids, name="v")
    line = {
        "label": "L",
        "parts": ["", "x", "p"],
        "formats": [None, "g4", "p"],
        "rows": {ids[0]: ["k", 12345.678, 0.0004], ids[1]: ["k", float("nan"), 0.125]},
    }
    fmap = maps.choropleth(
        values, scheme="user", breaks=[2.0], table=table,
        fields={c: c for c in table.columns}, lines=[line],
    )  # fmt: skip
    page = tmp_path / "tips.html"
    text = maps.to_html(fmap, page)
    probe = (
        "<script>window.addEventListener('load',function(){setTimeout(function(){var o={};"
        f"{json.dumps(ids)}.forEach(function(i){{o[i]=window.geotoolTooltip(i).textContent;}});"
        "document.body.setAttribute('data-geotool-tips',JSON.stringify(o));},50);});</script>"
    )
    page.write_text(text.replace("</body>", probe + "</body>"), encoding="utf-8")
    state, dom = browse(page, tmp_path)
    tips = json.loads(html.unescape(state["tips"]))
    # the column is given to 5 decimals (1e-05): no value shows more
    shown = ["0.00001", "3", "0.3", "-25,000,000,000,000,000", "123,457", "0.0001"]
    for i, f, text in zip(ids, floats, shown, strict=True):
        assert re.search(r"f: (.*?)(?:n: |t: |b: |$)", tips[i]).group(1) == text, (tips[i], f)
    assert "n: 1" in tips[ids[0]] and "n:" not in tips[ids[1]]
    assert f"t: {PAYLOAD}" in tips[ids[0]] and "t:" not in tips[ids[3]]
    assert "b: True" in tips[ids[0]] and "b: False" in tips[ids[1]]
    assert "L: k · x 12,346 · p < 0.001" in tips[ids[0]]
    assert f"L: k · x – · p {maps.fmt_p(0.125)}" in tips[ids[1]]
    assert "L:" not in tips[ids[2]]
    assert "<img" not in dom.replace("&lt;img", "")


@needs_browser
def test_cdn_map_with_assets_served_from_local_copies(info, tmp_path, hooks):
    import xstatic.pkg.leaflet as xl

    text = maps.to_html(figures.rankings_map(info, cdn=True))
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
def test_every_page_of_a_plain_run_draws_with_the_network_cut(tmp_path, shared_run):
    """A plain run (no option): every page self-contained, drawn, no script error."""
    run = shared_run("report_zh")  # with the pages' test hooks (conftest.SHARED_ENV)
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.out
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    keys = ("industrial_counties", "innovation_counties", "industrial_districts")
    linked = {f"lisa_linked_{k}.html" for k in keys}
    values = {f"values_{k}.html" for k in keys}  # issue 24: a value map per variable
    assert set(summary["maps"]["files"]) == {
        "rankings.html", "lisa.html", "tiers.html", "clusters.html", *linked, *values,
        "hotspots.html", "significance.html", "bivariate.html", "joins.html",  # issue 24
    }  # fmt: skip
    for name, size in summary["maps"]["files"].items():
        text = (out / "maps" / name).read_text(encoding="utf-8")
        assert not re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="https?://', text), name
        if name in linked:
            assert size <= 1_000_000, name
            state, _ = browse(out / "maps" / name, tmp_path)
            universe = len(rankings.universe(name[len("lisa_linked_") : -len(".html")]))
            assert state["points"] == state["tested"] == str(universe), name
            assert int(state["paths"]) >= universe, name
        else:
            assert size <= 1_500_000, name  # issue 16: a national map page <= 1.5 MB
            state, dom = browse(out / "maps" / name, tmp_path, "#search=Jiangyin")
            assert state["polygons"] == "2875", name
            assert state["found"] == "320281", name
            # the open tooltip of 江阴市, built in the page from the units' table
            tip = re.search(r'class="leaflet-tooltip[^"]*"[^>]*>(.*?)</div></div>', dom).group(1)
            assert "<b>江阴市</b> Jiangyinshi<br>江苏省 无锡市 · 320281" in tip, name
            assert "工业百强县名次: 1<br>" in tip and "梯队: 1<br>" in tip, name  # in Chinese
            lisa = pd.read_csv(out / "tables/lisa_industrial_counties.csv", dtype={"adcode": str})
            jy = lisa.set_index("adcode").loc["320281"]
            assert f"LISA (工业得分): {jy['lisa_class']}" in tip, name
            if name == "lisa.html":  # class, value, Ii and p of each variable
                cls = translate(jy["lisa_class"], "zh")
                assert (
                    f"LISA 工业百强县: {cls} · 值 {jy['value']:.4g} · "
                    f"Ii {jy['Ii']:.3g} · p {maps.fmt_p(jy['p_sim'])}"
                ) in tip
        assert state.get("ready") == "1", name
        assert json.loads(state["errors"].replace("&quot;", '"')) == [], name
        assert "early-error" not in state, name
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "maps/rankings.html" in index and "Moran" in index
    for name in linked:
        assert f"maps/{name}" in index


@needs_browser
def test_unreachable_tiles_are_noted_and_the_data_still_drawn(info, tmp_path, hooks):
    page = tmp_path / "tiles.html"
    maps.to_html(figures.rankings_map(info, basemap="positron"), page)
    state, dom = browse(page, tmp_path)
    assert state["polygons"] == "2875"
    assert state.get("tile-error") == "1"
    assert "Basemap tiles could not load" in dom


@needs_browser
def test_default_pages_carry_no_test_hooks(info, tmp_path):
    page = tmp_path / "plain.html"
    maps.to_html(figures.rankings_map(info), page)
    state, dom = browse(page, tmp_path, "#search=jiangyin")
    assert "ready" not in state and "polygons" not in state and "found" not in state, state
    assert "leaflet-control-layers" in dom  # the page script ran: its layer control is there
