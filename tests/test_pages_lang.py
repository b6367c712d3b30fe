"""Issue 24: a run's pages in one language, national pages opening on China, tier steps.

Real runs of the bundled report (``--lang zh``, its default, and ``--lang en``): the
visible text of ``index.html`` and of every ``maps/*.html`` (the HTML's text and the
words the page script shows: titles, legends, layers, overlays and their labels, tooltip
fields and lines, the search hint) is in the run's language, data names aside. Their map
pages open on all of China; a user's study stays fitted to its units. The tiers page
gives the steps t-1 -> t of the vectors table, which are ``pyproj.Geod.inv``'s.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pyproj
import pytest

from geotool import boundaries, maps
from geotool.maps import static

from .conftest import page_args as _args

#: Three lowercase English words in a row: a sentence or a phrase, never a Chinese word.
ENGLISH = re.compile(r"(?<![\w.@/-])[a-z]+(?:[ ,;:'’()-]+[a-z]+){2,}(?![\w.@/-])")
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
COLUMBUS = libpysal.examples.get_path("columbus.shp")


@pytest.fixture(scope="module")
def runs(shared_run):
    """The bundled report run in Chinese (its default) and in English (conftest's runs)."""
    out = {}
    for lang in ("zh", "en"):
        run = shared_run(f"report_{lang}")
        assert run.returncode == 0, run.stderr[-2000:]
        out[lang] = run.out
    return out


def visible(text: str) -> list[str]:
    """The strings a reader sees on a page: its HTML text, and what its script shows."""
    out = []
    if (args := _args(text)) is not None:
        _, info, layers, options = args
        out += [f[0] for f in info["fields"]]
        for line in info["lines"]:
            out += [line["label"], *line["parts"]]
            out += [str(d) for c in line["cols"] if c.get("k") == "i" for d in c["d"]]
        out += [layer["name"] for layer in layers]
        for o in options["overlays"]:
            out += [o["name"], *(f["properties"].get("label", "") for f in o["data"]["features"])]
        out += [options["searchHint"], options["outlines"], *options["words"].values()]
    body = re.sub(r"<script.*?</script>|<style.*?</style>", "", text, flags=re.S)
    out += re.sub(r"<[^>]+>", "\n", body).split("\n")
    return [s for s in (html.unescape(x).strip() for x in out) if s]


@pytest.fixture(scope="module")
def names():
    """Data names a page may show in either language: the bundled units' names."""
    units = boundaries.units()
    return sorted(set(units["name"]) | set(units["province"]) | set(units["prefecture"]),
                  key=len, reverse=True)  # fmt: skip


def _pages(out: Path, least: int = 12) -> list[Path]:
    pages = [out / "index.html", out / "onepage.html", *sorted((out / "maps").glob("*.html"))]
    assert len(pages) >= least, pages
    return pages


def test_the_report_in_chinese_shows_no_english_sentence(runs):
    for page in _pages(runs["zh"]):
        text = page.read_text(encoding="utf-8")
        shown = visible(text)
        bad = [s for s in shown if ENGLISH.search(s)]
        assert not bad, (page.name, bad[:5])
        assert sum(bool(CJK.search(s)) for s in shown) >= 3, page.name
        assert "<html lang=\"zh-CN\">" in text or "<html lang='zh-CN'>" in text, page.name
    index = (runs["zh"] / "index.html").read_text(encoding="utf-8")
    assert 'lang="en"' not in index  # nothing left English to mark
    assert "“由东向西”的判断在 5% 水平上成立" in index  # the tiers' verdict, said in Chinese
    assert "已跳过：未给出模型" in index and "<td>已运行</td>" in index


def test_the_report_in_english_shows_no_chinese_outside_names(runs, names):
    for page in _pages(runs["en"]):
        text = page.read_text(encoding="utf-8")
        bad = []
        for shown in visible(text):
            rest = shown
            for name in names:
                rest = rest.replace(name, "")
            if CJK.search(rest):
                bad.append(shown)
        assert not bad, (page.name, bad[:5])
        assert '<html lang="en">' in text or "<html lang='en'>" in text, page.name
    index = (runs["en"] / "index.html").read_text(encoding="utf-8")
    assert "East-to-west claim supported" in index and "report deciles (Table 6)" in index


def test_a_user_s_study_in_chinese_says_its_findings_and_model_in_chinese(shared_run):
    """Columbus (libpysal) with a model, ``--lang zh``: the findings, the regression's
    guide and finding, the tiers' centres and the user's classes are said in Chinese."""
    run = shared_run("columbus_model_zh")  # CRIME ~ INC + HOVAL, 99 permutations
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.out
    for page in _pages(out, least=8):
        shown = visible(page.read_text(encoding="utf-8"))
        bad = [s for s in shown if ENGLISH.search(s) or "class (" in s]
        assert not bad, (page.name, bad[:5])
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "<h2>发现</h2>" in index and "空间滞后模型" in index and 'lang="en"' not in index
    assert "各梯队平均中心相对第 1 梯队：第 2 梯队" in index
    tiers_page = (out / "maps" / "tiers.html").read_text(encoding="utf-8")
    assert "类别（ward；1 = 最高）" in tiers_page and "第 1 类 → 第 2 类" in tiers_page


def test_the_checks_catch_what_they_look_for():
    """The checks above would fail on an English sentence or a Chinese word."""
    page = "<p>Tiers: the mean centres joined in order</p><p>梯队</p>"
    assert [s for s in visible(page) if ENGLISH.search(s)] == [
        "Tiers: the mean centres joined in order"]  # fmt: skip
    assert [s for s in visible(page) if CJK.search(s)] == ["梯队"]
    assert not ENGLISH.search("lisa_linked_industrial_counties.html")  # a file name
    assert not ENGLISH.search("Moran's I")


# ---------------------------------------------------------------- the view a page opens on


def _bounds(text: str) -> list | None:
    args = _args(text)
    assert args is not None
    return args[3]["bounds"]


def _covers_china(bounds: list) -> bool:
    (south, west), (north, east) = bounds
    return west <= 73 and east >= 135 and south <= 18 and north >= 53.5


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_report_s_national_pages_open_on_all_of_china(runs, lang):
    maps_dir = runs[lang] / "maps"
    pages = {p.name: p.read_text(encoding="utf-8") for p in maps_dir.glob("*.html")}
    for name in ("lisa.html", "joins.html", "clusters.html", "tiers.html", "rankings.html",
                 "hotspots.html", "significance.html"):  # fmt: skip
        bounds = _bounds(pages[name])
        assert bounds is not None and _covers_china(bounds), (name, bounds)
    # the view is China's land with a margin: every province's mainland part lies inside
    land = boundaries.load("province").explode(index_parts=False).geometry
    box = land.bounds  # a part in the South China Sea's box: an island there
    sea = ((box["miny"] + box["maxy"]) / 2 < 17.5) & ((box["minx"] + box["maxx"]) / 2).between(
        105, 123.5)  # fmt: skip
    west, south, east, north = land[~sea].total_bounds
    (s, w), (n, e) = _bounds(pages["lisa.html"])
    assert w < west and e > east and s < south and n > north
    assert max(west - w, e - east, south - s, n - north) < 1.5  # not far wider than China


def test_a_user_s_study_opens_on_its_own_units():
    g = gpd.read_file(COLUMBUS).set_crs("EPSG:4326", allow_override=True)
    values = pd.Series(g["CRIME"].to_numpy(), index=g.index, name="CRIME")
    assert _bounds(maps.to_html(maps.choropleth(values, geo=g))) is None
    counties = boundaries.load("county")
    js = counties[counties["province"].str.startswith("江苏")]  # part of China: its units
    assert len(js) > 50
    page = maps.to_html(maps.unit_map([{"name": "x", "colours": {}}], geo=js[["geometry"]]))
    assert _bounds(page) is None and _args(page)[3]["fit"] == "coloured"
    provinces = boundaries.load("province")  # a user's layer of all China: a national page
    page = maps.to_html(maps.unit_map([{"name": "x", "colours": {}}], geo=provinces))
    assert _covers_china(_bounds(page))


# ---------------------------------------------------------------- tier steps


def _tier_tables(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    tables = out / "tables"
    vectors = pd.read_csv(tables / "tiers_vectors_industrial_counties.csv", encoding="utf-8-sig")
    geo = pd.read_csv(tables / "tiers_geography_industrial_counties.csv", encoding="utf-8-sig")
    return vectors, geo.set_index("tier")


def _rows(vectors: pd.DataFrame, kind: str) -> list[tuple[str, str, str, str]]:
    part = vectors[vectors["kind"] == kind]
    return [(str(a), str(b), f"{km:.0f}" if km >= 10 else f"{km:.2f}", f"{deg:.0f}")
            for a, b, km, deg in part[["from", "to", "length_km", "bearing_deg"]].itertuples(
                index=False)]  # fmt: skip


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_tiers_page_gives_the_steps_of_the_vectors_table(runs, lang):
    vectors, geo = _tier_tables(runs[lang])
    steps = vectors[vectors["kind"] == "step"]
    assert steps[["from", "to"]].to_numpy().tolist() == [[1, 2], [2, 3], [3, 4]]
    geod = pyproj.Geod(ellps="WGS84")  # the steps join the centres tables/ writes, in order
    az, _, m = geod.inv(geo.loc[steps["from"], "mean_lon"].to_numpy(),
                        geo.loc[steps["from"], "mean_lat"].to_numpy(),
                        geo.loc[steps["to"], "mean_lon"].to_numpy(),
                        geo.loc[steps["to"], "mean_lat"].to_numpy())  # fmt: skip
    np.testing.assert_allclose(steps["length_km"], m / 1000, rtol=1e-9)
    np.testing.assert_allclose(steps["bearing_deg"], np.mod(az, 360), atol=1e-6)
    page = html.unescape((runs[lang] / "maps" / "tiers.html").read_text(encoding="utf-8"))
    table = re.search(r'<table class="geotool-vector-table">(.*?)</table>', page, re.S).group(1)
    rows = re.findall(r"<tr><td>(\d+) → (\d+)</td><td>([\d.]+)</td><td>(\d+)°</td></tr>", table)
    assert rows == _rows(vectors, "step") + _rows(vectors, "from_first")
    step = "第 {a} 梯队 → 第 {b} 梯队：{km} km，方位 {deg}°" if lang == "zh" else (
        "step tier {a} → tier {b}: {km} km, bearing {deg}°")  # fmt: skip
    legend = re.findall(r'border:1px solid #999"></span>(.*?)</div>', page)
    for a, b, km, deg in _rows(vectors, "step"):
        assert step.format(a=a, b=b, km=km, deg=deg) in legend, legend
    # the line of the centres in order: one segment per step, from centre to centre
    (line,) = [o for o in _args(page)[3]["overlays"] if o["style"].get("color") == "#1f4e9c"]
    ends = [f["geometry"]["coordinates"] for f in line["data"]["features"]]
    want = [[[geo.loc[a, "mean_lon"], geo.loc[a, "mean_lat"]],
             [geo.loc[b, "mean_lon"], geo.loc[b, "mean_lat"]]]
            for a, b in steps[["from", "to"]].itertuples(index=False)]  # fmt: skip
    np.testing.assert_allclose(np.asarray(ends, float), np.asarray(want, float), atol=1e-9)


def test_the_figure_lists_the_steps_then_the_vectors(runs):
    vectors, _ = _tier_tables(runs["en"])
    shapes = gpd.read_file(runs["en"] / "tables" / "tiers_shapes_industrial_counties.geojson")
    lines = static.vector_lines(shapes, "V", "{a}>{b} {km} {deg:.0f}", steps="S")
    want = ["S", *(f"{a}>{b} {km} {deg}" for a, b, km, deg in _rows(vectors, "step")),
            "V", *(f"{a}>{b} {km} {deg}" for a, b, km, deg in _rows(vectors, "from_first"))]
    assert lines == want
    overlays = static._tier_overlays(shapes, static._T["en"])
    (path,) = [o for o in overlays if o.label == "mean centres joined in tier order (steps)"]
    assert len(path.data) == 3 and path.style["arrow"] is True
