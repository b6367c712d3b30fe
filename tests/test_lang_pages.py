"""Issue 24: one language per page, pages for small screens, a quiet console.

Real pages: the report's rankings map (the bundled layer, Chinese by default), Columbus
(libpysal's example, English by default), each with ``lang`` overridden; the linked view;
a real ``geotool run`` of the bundled report (its console and its pages) and of Columbus.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import libpysal
import pandas as pd
import pytest

from geotool import autocorr, clusters, maps, weights
from geotool.maps._words import translate
from geotool.pipeline import STAGES
from geotool.report import figures, rankings
from geotool.report import study as report

from . import conftest
from .conftest import page_args as _args

VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
COLUMBUS = libpysal.examples.get_path("columbus.shp")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def info():
    return figures.unit_info(membership=clusters.membership("report2020"))


@pytest.fixture(scope="module")
def columbus():
    g = gpd.read_file(COLUMBUS)
    g.index = [f"c{i}" for i in range(len(g))]
    return g.set_crs("EPSG:4326", allow_override=True)  # a plane read as degrees: a city


def _columbus_map(g, **kw):
    values = pd.Series(g["CRIME"].to_numpy(), index=g.index, name="CRIME")
    return maps.choropleth(values, geo=g, title="Columbus: residential crime", **kw)


def _chrome(text):
    """A map page's UI strings: title, legend, layer, field, overlay names, search hint."""
    _, info, layers, options = _args(text)
    title = re.findall(r'class="geotool-title"[^>]*>(.*?)</div>', text)
    legend = re.findall(r"<summary>(.*?)</summary>", text)
    legend += re.findall(r'border:1px solid #999"></span>(.*?)</div>', text)
    fields = [f[0] for f in info["fields"]]
    lines = [x for line in info["lines"] for x in [line["label"], *line["parts"]]]
    names = [layer["name"] for layer in layers] + [o["name"] for o in options["overlays"]]
    words = [options["searchHint"], options["outlines"], *options["words"].values()]
    return [*title, *legend, *fields, *lines, *names, *words]


def _lang(text):
    return re.search(r"<html lang=\"([^\"]+)\">", text).group(1)


# ---------------------------------------------------------------- words


def test_the_run_s_map_words_come_in_one_language():
    assert translate("tier 梯队", "zh") == "梯队" and translate("tier 梯队", "en") == "tier"
    assert translate("东西梯次扩散 · East-west tier diffusion", "en") == "East-west tier diffusion"
    assert translate("tier 3", "zh") == "第 3 梯队"
    assert translate("LISA: industrial counties", "zh") == "LISA：工业百强县"
    # a data name keeps its words: a Chinese cluster's name on an English page
    assert translate("长江三角洲城市群", "en") == "长江三角洲城市群"
    assert translate("CRIME", "zh") == translate("CRIME", "en") == "CRIME"


# ---------------------------------------------------------------- the report's map


def test_a_map_of_china_is_chinese_by_default_and_english_when_asked(info):
    zh = maps.to_html(figures.rankings_map(info))
    assert _lang(zh) == "zh-CN"
    chrome = _chrome(zh)
    assert not [s for s in chrome if " / " in s]  # no "搜索 / search" pairs
    english = re.compile(r"(?<![\w-])(search|tier|rank|significance|outlines|region)(?![\w-])")
    assert not [s for s in chrome if english.search(s)], chrome
    assert _args(zh)[3]["searchHint"].startswith("搜索")
    en = maps.to_html(figures.rankings_map(info, lang="en"))
    assert _lang(en) == "en"
    # the rankings map's chrome has no data names: not one Chinese character in it
    assert not [s for s in _chrome(en) if CJK.search(s)], _chrome(en)
    assert "maritime boundary" in [o["name"] for o in _args(en)[3]["overlays"]]


def test_own_data_is_english_by_default_with_the_area_s_outline(columbus):
    text = maps.to_html(_columbus_map(columbus))
    assert _lang(text) == "en"
    assert not CJK.search(text)  # no character of Chinese anywhere on the page
    context = _args(text)[3]["overlays"][0]
    assert context["name"] == "study area" and context["style"]["interactive"] is False
    # the outline is the union of the units: its bounds are theirs (to the simplification)
    lons, lats = zip(*(p for f in context["data"]["features"]
                       for line in _lines(f["geometry"]) for p in line), strict=True)
    assert [min(lons), min(lats), max(lons), max(lats)] == pytest.approx(
        list(columbus.total_bounds), abs=0.01)  # fmt: skip
    zh = maps.to_html(_columbus_map(columbus, lang="zh"))
    assert _lang(zh) == "zh-CN" and _args(zh)[3]["searchHint"] == "搜索地名"
    assert _args(zh)[3]["overlays"][0]["name"] == "研究区范围"


def test_points_get_no_context_outline(columbus):
    points = columbus.set_geometry(columbus.representative_point())
    text = maps.to_html(_columbus_map(points))
    assert [o["name"] for o in _args(text)[3]["overlays"]] == []


def test_verbose_shows_geotool_s_details_and_a_plain_command_does_not(capsys):
    from geotool.cli import main

    assert main(["--verbose", "boundaries", "info", "--json"]) == 0
    assert logging.getLogger("geotool").level == logging.DEBUG
    assert main(["boundaries", "info", "--json"]) == 0
    assert logging.getLogger("geotool").getEffectiveLevel() > logging.DEBUG
    capsys.readouterr()


def _lines(geometry):
    if geometry["type"] == "LineString":
        return [geometry["coordinates"]]
    return geometry["coordinates"]


def test_the_linked_view_speaks_the_page_s_language(columbus):
    w = weights.build(columbus, "queen")
    local = autocorr.local_stats(columbus["CRIME"], w, permutations=99, seed=1)
    en = maps.linked_lisa(local, columbus, title="CRIME")
    zh = maps.linked_lisa(local, columbus, title="CRIME", lang="zh")
    assert _lang(en) == "en" and _lang(zh) == "zh-CN"
    visible = re.sub(r"<script>.*?</script>|<style>.*?</style>", "", en, flags=re.S)
    assert not CJK.search(visible) and "Moran scatter" in visible
    data = re.search(r"geotoolLinked\((\{.*\})\)", en, flags=re.S)
    assert data is not None and not CJK.search(data.group(1))
    shown = re.sub(r"<script>.*?</script>|<style>.*?</style>", "", zh, flags=re.S)
    assert "Moran 散点图" in shown and "Moran scatter" not in shown


def test_every_page_has_the_viewport_tag(info, columbus):
    pages = [maps.to_html(figures.rankings_map(info)), maps.to_html(_columbus_map(columbus))]
    pages.append(maps.linked_lisa(
        autocorr.local_stats(columbus["CRIME"], weights.build(columbus, "queen"),
                             permutations=99, seed=1), columbus))  # fmt: skip
    for text in pages:
        assert text.count(VIEWPORT) == 1
        assert len(re.findall(r'<meta name="viewport"', text)) == 1  # folium's zoom lock gone


# ---------------------------------------------------------------- small screens

#: Run in the page (inside an iframe of the phone's size: headless windows are at least
#: 500 px wide): the boxes of the title and the controls, and whether the data are in view.
PROBE = """<script>window.addEventListener('load', function () { setTimeout(function () {
 var res = {};
 function r(sel) { var e = document.querySelector(sel); if (!e) { return ''; }
   var x = e.getBoundingClientRect(); return [x.left, x.top, x.right, x.bottom].join(','); }
 ['.geotool-title', '.leaflet-control-layers', '.leaflet-control-zoom', '.geotool-search',
  '.geotool-legend'].forEach(function (s, i) {
   res[['title', 'layers', 'zoom', 'search', 'legend'][i]] = r(s); });
 res.vw = window.innerWidth + ',' + window.innerHeight;
 var m = null;
 Object.keys(window).forEach(function (k) {
   if (/^map_/.test(k) && window[k].getBounds) { m = window[k]; } });
 var all = null;
 m.eachLayer(function (l) { if (l instanceof L.GeoJSON && l.getBounds().isValid()) {
   var b = l.getBounds();
   all = all ? all.extend(b) : L.latLngBounds(b.getSouthWest(), b.getNorthEast()); } });
 res.fits = String(m.getBounds().pad(0.001).contains(all));
 parent.postMessage(res, '*');
}, 300); });</script>"""
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="{src}" style="border:0;width:390px;height:844px"></iframe>
<script>window.addEventListener('message', function (e) {{ Object.keys(e.data).forEach(
function (k) {{ document.body.setAttribute('data-probe-' + k, e.data[k]); }}); }});</script>
</body></html>"""


def _boxes(text, tmp_path):
    page = tmp_path / "page.html"
    page.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    frame = tmp_path / "frame.html"
    frame.write_text(FRAME.format(src=page.name), encoding="utf-8")
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--host-resolver-rules=MAP * ~NOTFOUND",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,1000",
         "--virtual-time-budget=20000", "--dump-dom", f"file://{frame}"],
        capture_output=True, text=True, timeout=180, check=True,
    ).stdout  # fmt: skip
    state = dict(re.findall(r'data-probe-([a-z]+)="([^"]*)"', dom))
    return state, {k: [float(x) for x in v.split(",")] for k, v in state.items()
                   if k not in ("vw", "fits") and v}  # fmt: skip


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium")
@pytest.mark.parametrize("which", ["report", "columbus"])
def test_at_390x844_the_controls_leave_the_title_clear(which, info, columbus, tmp_path):
    fmap = figures.rankings_map(info) if which == "report" else _columbus_map(columbus)
    state, box = _boxes(maps.to_html(fmap), tmp_path)
    assert state["vw"] == "390,844"
    title = box["title"]
    for control in ("layers", "zoom", "search", "legend"):
        assert not _overlap(title, box[control]), (control, box)
    assert box["layers"][2] - box["layers"][0] <= 60  # folded to its button
    assert box["legend"][3] - box["legend"][1] <= 80  # folded to its heading
    assert title[2] <= 390
    if which == "columbus":  # a city opens fitted to the view (China: on its ranked units)
        assert state["fits"] == "true"


# ---------------------------------------------------------------- the console


def test_a_weights_says_one_line_and_keeps_the_details_for_debug(caplog):
    caplog.set_level(logging.DEBUG, logger="geotool")
    w = weights.build(rankings.universe("industrial_counties"), "queen")
    rep = w.report["islands"]
    said = [r for r in caplog.records if r.levelno >= logging.INFO]
    detail = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert rep["count"] > 0 and len(said) == 1
    assert f"{rep['count']} without neighbours" in said[0].getMessage()
    assert len(detail) >= rep["count"]  # one per unit, at DEBUG (--verbose)
    assert weights.connectivity_line(w.report)[0] in said[0].getMessage()


def _shared(shared_run, name: str) -> Path:
    """A run of conftest's (``geotool run ... --permutations 99``), made once per session."""
    run = shared_run(name)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.out


@pytest.fixture(scope="module")
def plain_run(shared_run):
    """The report's run without ``--quiet`` (conftest's; 99 permutations: the console and
    the pages are the same at any count)."""
    run = shared_run("report_zh")
    assert run.returncode == 0, run.stderr[-2000:]
    return run.out, run


def test_a_plain_run_says_little_and_nothing_twice(plain_run):
    out, proc = plain_run
    lines = proc.stderr.strip().splitlines()
    stages = len(report.STAGES)
    assert len(lines) <= stages + 3, lines
    assert len(lines) == len(set(lines)), lines
    assert sum("wrote " in line and " files to " in line for line in lines) == 1
    islands = pd.read_csv(out / "tables" / "islands.csv", encoding="utf-8-sig")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    queen = summary["autocorrelation"]["industrial_counties"]["weights_report"]["islands"]
    rows = islands[(islands["weights"] == "queen") & (islands["units"] == 1861)]
    assert len(rows) == queen["count"] == 10  # the details are in the table, not the console
    assert sum("queen weights: 1,861 units" in line for line in lines) == 1
    assert len(STAGES) + 1 == stages


def test_the_report_s_pages_are_chinese_and_declared_so(plain_run):
    out, _ = plain_run
    pages = sorted((out / "maps").glob("*.html"))
    assert pages
    for page in [*pages, out / "index.html"]:
        text = page.read_text(encoding="utf-8")
        assert text.count(VIEWPORT) == 1, page.name
        assert _lang(text) == "zh-CN", page.name
        assert "搜索 / search" not in text and "tier 梯队" not in text
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "<h2>空间自相关</h2>" in index and "Spatial autocorrelation" not in index
    assert "<th>变量</th>" in index and 'lang="en"' not in index  # the tables said in Chinese


def test_the_index_names_city_clusters_in_the_page_s_language(plain_run, shared_run):
    zh = (plain_run[0] / "index.html").read_text(encoding="utf-8")
    en_run = shared_run("report_en")
    en = (en_run.out / "index.html").read_text(encoding="utf-8")
    for page, delta, outside in ((zh, "长江三角洲城市群", "不在城市群"),
                                 (en, "Yangtze River Delta", "outside")):  # fmt: skip
        table = page[page.index("report2020"):]
        table = table[: table.index("</table>")]
        assert f"<td>{delta}</td><td>40</td>" in table
        assert outside in table and "yangtze_delta" not in table


def test_columbus_runs_in_english_and_in_chinese_when_asked(shared_run):
    zh = _shared(shared_run, "columbus_model_zh")  # --value-col CRIME --model ... --lang zh
    assert list((zh / "maps").glob("*.html"))
    for page in (zh / "maps").glob("*.html"):
        assert _lang(page.read_text(encoding="utf-8")) == "zh-CN", page.name
    own = _shared(shared_run, "columbus_en")  # --value-col CRIME, no --lang
    assert list((own / "maps").glob("*.html"))
    for page in (own / "maps").glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert _lang(text) == "en" and not CJK.search(text), page.name


# ---------------------------------------------------------------- every page of four runs

#: English UI words of the run's pages (titles, legends, layers, fields, headings, table
#: headers): none may show on a Chinese page (data names aside: none of these is one).
EN_UI = re.compile(
    r"(?<![\w-])(search|tier|Tiers|significance|Significance|not tested|not significant|"
    r"Hot spot|Cold spot|significant joins|join counts|Bivariate|terciles|pseudo p|"
    r"local Geary|residual|fitted|observed|Regression|Web maps|Notes|Panel|Tests|page|"
    r"shows|size|variable|weights|statistic|status|explore|linked view|Maps|Figures|"
    r"Stages|Inputs|Matching|Universes|no value|co-location|unit\(s\)|units)(?![\w-])"
)
MODEL = "CRIME ~ INC + HOVAL"


@pytest.fixture(scope="module")
def four_runs(plain_run, shared_run):
    """The report (Chinese; ``--lang en``) and Columbus with a model (English; ``--lang zh``),
    conftest's runs: Columbus's model is ``MODEL``."""
    assert MODEL == conftest.MODEL
    runs = {("report", "zh"): plain_run[0]}
    for which, lang, name in [
        ("report", "en", "report_en"),
        ("columbus", "en", "columbus_model_en"),
        ("columbus", "zh", "columbus_model_zh"),
    ]:
        runs[which, lang] = _shared(shared_run, name)
    return runs


def _headings(text):
    """An index page's headings and table headers (its fixed words), tags stripped."""
    found = re.findall(r"<(h[1-4]|th)[^>]*>(.*?)</\1>", text, flags=re.S)
    return [re.sub(r"<small>.*?</small>|<[^>]+>", "", t, flags=re.S).strip() for _, t in found]


@pytest.mark.parametrize(("which", "lang"), [("report", "zh"), ("report", "en"),
                                             ("columbus", "en"), ("columbus", "zh")])
def test_every_page_of_a_run_speaks_the_study_s_language(four_runs, which, lang):
    out = four_runs[which, lang]
    pages = sorted((out / "maps").glob("*.html"))
    names = {p.name for p in pages}
    assert {"hotspots.html", "significance.html"} <= names, names
    if which == "columbus":
        assert "regression_fitted.html" in names, names
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert _lang(text) == ("zh-CN" if lang == "zh" else "en"), page.name
        if "\ngeotoolPage(" not in text:  # the linked views: tested above
            continue
        chrome = [s for s in _chrome(text) if s]
        assert not [s for s in chrome if " / " in s and CJK.search(s)], (page.name, chrome)
        if lang == "zh":
            assert not [s for s in chrome if EN_UI.search(s)], (page.name, chrome)
            assert any(CJK.search(s) for s in chrome), page.name
        else:  # the report's data names are English too: no Chinese in the chrome
            assert not [s for s in chrome if CJK.search(s)], (page.name, chrome)
    index = (out / "index.html").read_text(encoding="utf-8")
    assert _lang(index) == ("zh-CN" if lang == "zh" else "en")
    heads = _headings(index)
    if lang == "zh":
        assert not [h for h in heads if EN_UI.search(h)], heads
    else:
        assert not [h for h in heads if CJK.search(h)], heads
    if which == "columbus":  # the regression section is the run's language
        assert ("<h2>回归" if lang == "zh" else "<h2>Regression") in index


def _texts(fig):
    import matplotlib.text

    return [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip()]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_local_figures_speak_the_asked_language(columbus, lang):
    from geotool.maps import static

    w = weights.build(columbus, "queen")
    local = autocorr.local_stats(columbus["CRIME"], w, permutations=99, seed=1)
    gearys = {"crime": autocorr.local_geary(columbus["CRIME"], w, permutations=99, seed=1)}
    x = columbus["INC"].rename("INC")
    y = columbus["HOVAL"].rename("HOVAL")
    figs = dict(static.local_figures(locals_={"crime": local}, gearys=gearys, joins={},
                                     pairs={"p": (x, y)}, labels={"crime": "CRIME"},
                                     lang=lang, units=columbus))  # fmt: skip
    assert {"hotspots_crime", "bivariate_p"} <= set(figs)
    figs["values_crime"] = static.value_figure(columbus["CRIME"], label="CRIME", lang=lang,
                                               units=columbus)  # fmt: skip
    for name, fig in figs.items():
        texts = _texts(fig)
        if lang == "zh":
            assert not [t for t in texts if EN_UI.search(t)], (name, texts)
            assert any(CJK.search(t) for t in texts), (name, texts)
        else:
            assert not [t for t in texts if CJK.search(t)], (name, texts)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_moran_by_year_chart_speaks_the_asked_language(lang):
    from geotool.maps import charts

    frame = pd.DataFrame({"year": [2018, 2019, 2020], "moran_i": [0.2, 0.25, 0.3],
                          "p_sim": [0.01, 0.2, 0.001], "expected": -1 / 49})  # fmt: skip
    texts = _texts(charts.moran_by_year_chart(frame, lang, n=50, permutations=99))
    if lang == "zh":
        assert any(CJK.search(t) for t in texts)
        assert not [t for t in texts if EN_UI.search(t)], texts
    else:
        assert not [t for t in texts if CJK.search(t)], texts


def test_regression_and_panel_sections_follow_lang():
    from geotool.maps import pages

    summary = {"regression": {
        "model": "OLS", "rows": "all", "guide": "", "finding": "OLS of y ~ x: R² 0.5.",
        "notes": ["a note"], "web_maps": {"maps/regression_fitted.html": "fitted"},
        "files": ["maps/regression_fitted.html", "tables/regression.csv"],
        "table": {"header": ["", "OLS"], "rows": [["x", "1.0"]],
                  "note": "standard errors in parentheses; *** p<0.01, ** p<0.05, * p<0.1"},
    }}  # fmt: skip
    zh, en = pages.regression_section(summary, "zh"), pages.regression_section(summary)
    assert not [h for h in _headings(zh) if EN_UI.search(h)], _headings(zh)
    assert "括号内为标准误" in zh and "<p>OLS（y ~ x）：R² = 0.5。</p>" in zh
    assert not CJK.search(en) and "<h3>Web maps</h3>" in en
    page = pages.regression_page({"geotool_version": "0", **summary}, title="t", lang="zh")
    assert _lang(page.replace("'", '"')) == "zh-CN" and "由 geotool 0 生成" in page


@pytest.fixture(scope="module")
def us_income():
    """libpysal's us_income: 48 states' per-capita income, 1929-2009, and their polygons."""
    states = gpd.read_file(libpysal.examples.get_path("us48.shp")).set_index("STATE_NAME")
    states = states.set_crs("EPSG:4326", allow_override=True)  # a lon/lat file without .prj
    table = pd.read_csv(libpysal.examples.get_path("usjoin.csv")).set_index("Name")
    return states, table.drop(columns="STATE_FIPS").reindex(states.index)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_panel_s_year_layers_speak_the_page_s_language(us_income, lang):
    from geotool.maps import pages

    states, income = us_income
    wide = income[["2000", "2005", "2009"]]
    fmap = pages.year_values_map(wide, label="income", study_title="US", geo=states[["geometry"]],
                                 lang=lang)  # fmt: skip
    text = maps.to_html(fmap)
    chrome = [s for s in _chrome(text) if s]
    assert _lang(text) == ("zh-CN" if lang == "zh" else "en")
    assert [layer["name"] for layer in _args(text)[2]] == ["income 2009", "income 2005",
                                                           "income 2000"]  # fmt: skip
    if lang == "zh":
        assert not [s for s in chrome if EN_UI.search(s) or "class" in s], chrome
        assert any("2000–2009 年" in s for s in chrome), chrome
    else:
        assert not [s for s in chrome if CJK.search(s)], chrome


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_divergence_charts_speak_the_asked_language(us_income, lang):
    from geotool import divergence
    from geotool.maps import charts

    states, income = us_income
    ineq = divergence.inequality(income[["1990", "2000", "2009"]], states["SUB_REGION"])
    texts = _texts(charts.inequality_chart(ineq, lang, title="income"))
    if lang == "zh":
        assert any(CJK.search(t) for t in texts)
        assert not [t for t in texts if EN_UI.search(t) or "Theil" in t], texts
    else:
        assert not [t for t in texts if CJK.search(t)], texts


def test_every_word_table_has_both_languages():
    """A word asked in one language exists in the other (a missing one is a KeyError in a run).

    ``[static]`` keeps Chinese-only tables of its own (rule words, labels), English by default.
    """
    import tomllib

    import geotool.maps

    words = tomllib.loads((Path(geotool.maps.__file__).parent / "words.toml").read_text("utf-8"))
    pairs = {k: v for k, v in words.items() if isinstance(v, dict) and {"zh", "en"} <= set(v)}
    assert len(pairs) >= 8
    for section, both in pairs.items():
        if section != "static":
            assert set(both["zh"]) == set(both["en"]), section


def test_panel_charts_name_their_variable_first_in_the_title():
    """The Moran-by-year and within-group Theil charts said which years but not which
    variable (a paper with two variables had two identical titles)."""
    from geotool.maps import charts

    frame = pd.DataFrame({"year": [2018, 2019, 2020], "moran_i": [0.2, 0.25, 0.3],
                          "p_sim": [0.01, 0.2, 0.001], "expected": -1 / 49})  # fmt: skip
    fig = charts.moran_by_year_chart(frame, "zh", n=50, permutations=99, label="人均 GDP")
    assert fig.axes[0].get_title(loc="left").startswith("人均 GDP：2018–2020 年")
    index = pd.MultiIndex.from_product([[2020], ["东部", "西部"]])
    table = pd.DataFrame({"contribution": [0.1, 0.05], "value_share": [0.6, 0.4],
                          "unit_share": [0.5, 0.5]}, index=index)  # fmt: skip
    fig = charts.theil_group_chart(table, "en", label="GDP per person")
    assert fig._suptitle.get_text().startswith("GDP per person: Within-group Theil")
