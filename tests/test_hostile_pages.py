"""Script injection into the HTML pages (issue 22): text from a user's files stays text.

One set of hostile inputs puts a payload in every string a user controls: unit ids and
names of ``--geometry``, ``--name-col`` values, value, population and year column names,
the ``--data`` file's name, ``--title``, tooltip columns and their values, the
``--set`` file's name and its ``name:``. Every page kind is written from them once (a
module fixture): ``geotool run`` on own polygons and on the bundled counties (values,
LISA, tiers, clusters, linked views, index page with figures), ``geotool map`` with
``--geometry`` (by id and by name), on the bundled layer and ``geotool map clusters``,
and the library's :func:`geotool.maps.unit_map` with user layer names, legends,
overlays, tooltip lines and groups (polygons and points).

The pages are then read twice: by a pure-Python scan (always; no payload raw anywhere, no
script element that its data could close, the data reading back exactly) and in
headless Chromium with the network cut (skipped only where Chromium is absent): a payload
that ran would add an element with a ``pwn-`` id or change ``document.title``. A control
page built as the bug built them proves that this detector sees an injection.
"""

from __future__ import annotations

import concurrent.futures
import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geotool
from geotool import boundaries, maps
from geotool._html import check_page, escape, href, script_call, script_json
from geotool.cli import main
from geotool.maps import pages as report_figures

from .conftest import page_args as _page_args

#: Each payload would, if parsed as markup, add an element whose id starts ``pwn-`` and
#: set ``document.title`` to ``PWNED``.
PAYLOADS = {
    "script": "</script><img id=pwn-script src=x onerror=\"document.title='PWNED'\">",
    "svg": '"><svg id=pwn-svg onload="document.title=\'PWNED\'">',
    "style": "</style><img id=pwn-style src=x onerror=document.title='PWNED'>",
    "comment": "<!--<script id=pwn-comment>document.title='PWNED'</script>",
    "upper": "</SCRIPT ><iframe id=pwn-upper onload=document.title='PWNED'></iframe>",
    "lines": "line\u2028sep\u2029para</script\t><b id=pwn-lines>",
    "js": "javascript:document.title='PWNED'//<a id=pwn-js href=javascript:1>",
    "quotes": "a'b\"c\\d\\u003c\\\\</scr\\ipt>'\"><i id=pwn-quotes>",
    "entity": "&lt;b id=pwn-entity&gt;&amp;<u id=pwn-amp>",
    "template": "{{7*7}}{% raw %}<s id=pwn-template>",
}
#: Names for the columns (no comma: ``--value-col`` splits on commas).
SCRIPT_COL = PAYLOADS["script"]
SVG_COL = PAYLOADS["svg"]
STYLE_COL = PAYLOADS["style"]
PER_COL = "人口" + PAYLOADS["comment"]
YEAR_COL = "年份<i id=pwn-year>"
NOTE_COL = PAYLOADS["quotes"]
#: File names (no slash).
OWN_FILE = "\"><img id=pwn-file src=x onerror=document.title='PWNED'>.csv"
BUNDLED_FILE = "b'<svg id=pwn-bfile onload=document.title='PWNED'>.csv"
SET_FILE = "<b id=pwn-setfile>set.csv"
TITLE = "<h1 id=pwn-title>T</h1>\u2028</title><script>document.title='PWNED'</script>"
SET_NAME = "</script><img id=pwn-set src=x onerror=document.title='PWNED'>"

#: A payload's element as markup (escaped, it reads &lt;img id=pwn-, \u003cimg id=pwn- ...).
RAW_TAG = re.compile(r"<[a-zA-Z]+\s+id=pwn-")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _cycle(i: int) -> str:
    values = list(PAYLOADS.values())
    return values[i % len(values)]


def _inputs(d: Path) -> dict[str, Path]:
    """The hostile files: own polygons and table, a table of bundled counties, two sets."""
    p = boundaries.load("prefecture")
    p = p[p["province"].isin(["江苏省", "浙江省"])]
    n = len(p)
    ids = [f"{_cycle(i)}#{i}" for i in range(n)]
    names = [f"{name}{_cycle(i + 3)}" for i, name in enumerate(p["prefecture"])]
    gpd.GeoDataFrame({"uid": ids, "name": names}, geometry=p.geometry.to_numpy(), crs=4326).to_file(
        d / "geo.gpkg", driver="GPKG"
    )
    rng = np.random.default_rng(22)
    rows = [
        {"uid": u, "nm": names[i], YEAR_COL: y, SCRIPT_COL: rng.uniform(1, 9),
         SVG_COL: rng.uniform(1, 9), NOTE_COL: _cycle(i + 5)}
        for y in (2019, 2020)
        for i, u in enumerate(ids)
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(d / OWN_FILE, index=False)
    units = boundaries.units()
    units = units[units["province"] == "浙江省"]
    pd.DataFrame(
        {
            "code": units.index,
            STYLE_COL: rng.uniform(1, 9, len(units)),
            PER_COL: rng.uniform(10, 90, len(units)),
            NOTE_COL: [_cycle(i) for i in range(len(units))],
        }
    ).to_csv(d / BUNDLED_FILE, index=False)
    (d / SET_FILE).write_text("definition\nyangtze_delta_2016\n", encoding="utf-8")
    (d / "set.yaml").write_text(
        f"name: {json.dumps(SET_NAME)}\ndefinitions: [yangtze_delta_2016]\n", encoding="utf-8"
    )
    return {"own": d / OWN_FILE, "geo": d / "geo.gpkg", "bundled": d / BUNDLED_FILE}


def _cli(argv: list[object]) -> None:
    rc = main([str(a) for a in argv])
    assert rc == 0, argv


def _library_pages(d: Path) -> list[Path]:
    """unit_map with payloads in every argument a library user fills (polygons, points)."""
    p = boundaries.load("prefecture")
    p = p[p["province"] == "江苏省"]
    ids = [f"{_cycle(i)}#{i}" for i in range(len(p))]
    geo = gpd.GeoDataFrame(geometry=p.geometry.to_numpy(), index=ids, crs=4326)
    table = pd.DataFrame({"label": [_cycle(i + 1) for i in range(len(ids))],
                          "note": [_cycle(i + 2) for i in range(len(ids))]}, index=ids)  # fmt: skip
    overlay = gpd.GeoDataFrame(
        {"label": [PAYLOADS["svg"], PAYLOADS["upper"]]},
        geometry=[shapely.Point(119, 32), shapely.Point(120, 33)],
        crs=4326,
    )
    common = {
        "table": table,
        "fields": {"note": PAYLOADS["quotes"]},
        "label_col": "label",
        "title": TITLE,
        "legend": {PAYLOADS["style"]: "#ff0000", PAYLOADS["entity"]: "rgb(0,0,255)"},
        "legend_title": PAYLOADS["comment"],
    }
    layers = [
        {"name": PAYLOADS["script"], "colours": dict.fromkeys(ids[::2], "#ff0000")},
        {"name": PAYLOADS["lines"], "colours": dict.fromkeys(ids[1::2], "#0000ff")},
    ]
    line = {
        "label": PAYLOADS["template"],
        "parts": ["", PAYLOADS["js"]],
        "classes": [PAYLOADS["svg"]],
        "rows": {i: [0, 1.5] for i in ids},
    }
    groups = pd.Series([_cycle(i % 3) for i in range(len(ids))], index=ids)
    polys = maps.unit_map(
        layers, geo=geo, groups=groups, overlays=[(PAYLOADS["quotes"], overlay, {})],
        lines=[line], **common,
    )  # fmt: skip
    points = maps.unit_map(layers, geo=geo.representative_point(), **common)
    out = [d / "lib_polygons.html", d / "lib_points.html"]
    maps.to_html(polys, out[0])
    maps.to_html(points, out[1])
    return out


def _index_with_figures(d: Path) -> Path:
    """The own run's landing page, with figures and links named by payloads.

    A run names its figure and page files by ASCII keys; the landing page must not rely
    on it: here every file name, caption and link is hostile (figures take ~2 s each, so
    the run itself writes none).
    """
    summary = json.loads((d / "run_own" / "summary.json").read_text(encoding="utf-8"))
    summary["files"] = []  # every Moran scatter shown, with its caption
    keys = [k for k, r in summary["autocorrelation"].items() if "moran_i" in r]
    names = [f"{PAYLOADS['js']}.png", f"{PAYLOADS['quotes']}.png", "javascript:alert(1)"]
    page = report_figures.index_page(
        summary,
        {f"{PAYLOADS['svg']}.html": 1000, f"{PAYLOADS['upper']}.html": 2000},
        title=TITLE,
        linked={k: f"{PAYLOADS['comment']}{k}.html" for k in keys},
        figures=["javascript:alert(1)", *(f"figures/{n}" for n in names)],
    )
    out = d / "index_figures.html"
    out.write_text(page, encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """The folder of the hostile inputs and of every page written from them."""
    return tmp_path_factory.mktemp("hostile-pages")


@pytest.fixture(scope="module")
def pages(root) -> dict[str, Path]:
    """Every page kind, written once from the hostile inputs (with the test hooks)."""
    d = root
    f = _inputs(d)
    hooks = geotool.settings.page_test_hooks
    geotool.settings.page_test_hooks = True
    try:
        own = ["--data", f["own"], "--geometry", f["geo"], "--year-col", YEAR_COL]
        _cli(["run", *own, "--id-col", "uid", "--all-numeric", "--out", d / "run_own",
              "--permutations", 99])  # fmt: skip
        bundled = ["--data", f["bundled"], "--code-col", "code"]
        _cli(["run", *bundled, "--value-col", STYLE_COL, "--per", PER_COL,
              "--set", d / SET_FILE, "--out", d / "run_bundled", "--permutations", 99])  # fmt: skip
        maps_dir = d / "maps"
        _cli(["map", *own, "--name-col", "nm", "--value-col", SCRIPT_COL, "--title", TITLE,
              "--out", maps_dir / "own_by_name.html"])  # fmt: skip
        _cli(["map", *own, "--id-col", "uid", "--value-col", SVG_COL,
              "--out", maps_dir / "own_by_id.html"])  # fmt: skip
        _cli(["map", *bundled, "--value-col", STYLE_COL, "--out", maps_dir / "bundled.html"])
        _cli(["map", "clusters", "--set", d / "set.yaml", "--out", maps_dir / "clusters.html"])
        lib = [*_library_pages(d), _index_with_figures(d)]
    finally:
        geotool.settings.page_test_hooks = hooks
    found = sorted(d.rglob("*.html"))
    return {str(p.relative_to(d)): p for p in found} | {p.name: p for p in lib}


def test_every_page_kind_was_written(pages):
    names = set(pages)
    for run in ("run_own", "run_bundled"):
        assert f"{run}/index.html" in names
        assert f"{run}/onepage.html" in names  # issue 24: the one-page summary
        for kind in ("lisa", "tiers"):
            assert f"{run}/maps/{kind}.html" in names
        assert any(n.startswith(f"{run}/maps/values_") for n in names)
        assert any(n.startswith(f"{run}/maps/lisa_linked_") for n in names)
    assert "run_bundled/maps/clusters.html" in names
    assert sum(n.startswith("run_own/maps/values_") for n in names) == 2  # both value columns
    assert {"maps/own_by_name.html", "maps/own_by_id.html", "maps/bundled.html",
            "maps/clusters.html", "lib_polygons.html", "lib_points.html"} <= names  # fmt: skip
    hooked = {n for n, p in pages.items() if '"testHooks":true' in p.read_text("utf-8")}
    hooked_expected = {n for n in names if "index" not in n and "onepage" not in n}  # no map
    assert hooked == hooked_expected  # the browser test reads them


# ---------------------------------------------------------------- pure Python scan
_SCRIPT_BODY = re.compile(r"<script\b[^>]*>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)


class _Links(HTMLParser):
    """The href/src values and the ids of a page's elements."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)
            if name == "id" and value:
                self.ids.append(value)
            if name.startswith("on"):
                self.handlers.append(f"<{tag} {name}>")


def test_no_payload_is_written_raw_into_any_page(pages):
    """Outside escaped form, no payload is anywhere: no tag, no handler, no script URL."""
    for name, path in pages.items():
        text = path.read_text(encoding="utf-8")
        for key, payload in PAYLOADS.items():
            if "<" in payload:
                assert payload not in text, (name, key)
        raw = RAW_TAG.search(text)
        assert raw is None, (name, text[max(0, raw.start() - 80) : raw.end() + 40])
        for body in _SCRIPT_BODY.findall(text):  # the page's own scripts only
            for bad in ("</script", "<script", "<!--", "\u2028", "\u2029"):
                assert bad not in body.lower(), (name, bad)
        links = _Links()
        links.feed(text)
        assert not [i for i in links.ids if "pwn" in i], name
        assert links.handlers == [], (name, links.handlers)
        for link in links.links:
            assert not re.match(r"\s*javascript:", link, re.IGNORECASE), (name, link)
        check_page(text, name)


def test_hostile_ids_and_names_read_back_exactly(pages, root):
    """Escaped, the page's data are still the user's strings, character for character."""
    geo = gpd.read_file(root / "geo.gpkg")
    ids, names = set(geo["uid"]), set(geo["name"])
    own = [n for n in pages if n.startswith("run_own/maps/") and "linked" not in n]
    for name in [*own, "maps/own_by_id.html"]:
        data, info, layers, _ = _page_args(pages[name].read_text(encoding="utf-8"))
        drawn = {g["properties"]["id"] for g in data["objects"]["units"]["geometries"]}
        assert drawn == ids and set(info["ids"]) == ids, name
        assert all("<" not in spec["name"] for spec in layers), name  # Leaflet: HTML
    info = _page_args(pages["maps/own_by_id.html"].read_text(encoding="utf-8"))[1]
    assert set(info["head"]["name"]["v"]) == names
    linked = next(n for n in pages if n.startswith("run_own/maps/lisa_linked_"))
    text = pages[linked].read_text(encoding="utf-8")
    start = text.rindex("\ngeotoolLinked(") + len("\ngeotoolLinked(")
    units = json.JSONDecoder().raw_decode(text, start)[0]["units"]
    assert {u[0] for u in units} == ids and {u[2] for u in units} == names
    points = _page_args(pages["lib_points.html"].read_text(encoding="utf-8"))[0]
    jiangsu = [f"{_cycle(i)}#{i}" for i in range(13)]  # its 13 prefectures
    assert [f["properties"]["id"] for f in points["features"]] == jiangsu


def test_index_page_shows_the_user_strings_as_text(pages):
    text = pages["run_own/index.html"].read_text(encoding="utf-8")
    assert escape(Path(OWN_FILE).stem) in text  # the study's title
    assert escape(SCRIPT_COL) in text and escape(SVG_COL) in text  # the variables
    text = pages["index_figures.html"].read_text(encoding="utf-8")
    assert f"<h1>{escape(TITLE)}</h1>" in text
    assert text.count("<figure><a href='figures/moran_scatter_") == 2  # with captions
    assert f"{escape(SCRIPT_COL)} (queen weights)" in text
    assert "<a href='javascript%3Aalert%281%29'>" in text  # a relative link, not a script
    links = _Links()
    links.feed(text)
    assert len(links.links) == 2 * 2 + 2 * 4 + 2 + 2 + 4  # scatters, figures, maps, linked
    assert not any(":" in link for link in links.links)


# ---------------------------------------------------------------- the escaping path
@pytest.mark.parametrize(
    "payload", [*PAYLOADS.values(), TITLE, "\\", "\\u2028", "'\"&<>", "lone \ud800 surrogate"]
)
def test_script_json_reads_back_and_cannot_close_a_script(payload):
    data = {payload: [payload, {"k": payload}], "n": 1.5}
    text = script_json(data)
    assert json.loads(text) == data
    assert not set(text) & set("<>&\u2028\u2029")
    text.encode("utf-8")  # writable
    assert html.unescape(escape(payload)) == payload.replace("\ud800", "\ufffd")
    call = script_call("f", data, names=("m",))
    assert call == f"\nf(m, {text});\n"


def test_script_call_takes_only_identifiers_as_names():
    with pytest.raises(ValueError, match="not a JavaScript identifier"):
        script_call("f", {}, names=("m);alert(1",))


@pytest.mark.parametrize(
    "path",
    ["javascript:alert(1)", " JavaScript:x", "data:text/html,<script>", "a'b\"c.png", "a#b?c"],
)
def test_links_to_run_files_stay_relative(path):
    link = html.unescape(href(path))
    assert ":" not in link and "'" not in link and '"' not in link
    assert "#" not in link and "?" not in link


@pytest.mark.parametrize(
    "bad",
    [
        "<p onclick=x>",
        "<a href='javascript:alert(1)'>",
        "<a href=' JaVa&#x53;cript:1'>",
        "<script>var a='<!--';</script>",
        "<style>a{}</style ><img src=x onerror=1>",
        "<script>x='<script>'</script>",
        '<iframe src="data:text/html,x"></iframe>',
        "<svg><a xlink:href='javascript:1'>x</a></svg>",
    ],
)
def test_check_page_refuses_what_could_run(bad):
    with pytest.raises(AssertionError, match="internal error: the page would let text"):
        check_page(f"<html><body>{bad}</body></html>")


def test_legend_colours_must_be_colours():
    with pytest.raises(ValueError, match="legend colours must be CSS colours"):
        maps.legend_html("t", {"a": "red;background:url(x)"})
    assert "background:#ff0000" in maps.legend_html("t", {"<b>": "#ff0000"})


# ---------------------------------------------------------------- real browser
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


class _Dom(HTMLParser):
    """Elements a payload would add (an id with ``pwn-``, an on* handler), and the title."""

    def __init__(self) -> None:
        super().__init__()
        self.injected: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if (name == "id" and value and "pwn-" in value) or name.startswith("on"):
                self.injected.append(f"<{tag} {name}={value!r}>")
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def _read(text: str) -> _Dom:
    dom = _Dom()
    dom.feed(text)
    return dom


def _browse(path: Path, profile: Path) -> str:
    """The DOM of ``path`` after its scripts ran, in headless Chromium, network cut."""
    flags = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}", "--virtual-time-budget=8000",
    ]  # fmt: skip
    run = subprocess.run(
        [*flags, "--dump-dom", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-500:]
    return run.stdout


def _problems(name: str, path: Path, dom_text: str) -> list[str]:
    """What the browser shows that the page did not ask for."""
    text = path.read_text(encoding="utf-8")
    source, dom = _read(text), _read(dom_text)
    out = [f"{name}: injected {e}" for e in dom.injected]
    if dom.title.strip() != source.title.strip():
        out.append(f"{name}: title {source.title[:60]!r} became {dom.title[:60]!r}")
    state = dict(re.findall(r'data-geotool-([a-z-]+)="([^"]*)"', dom_text))
    hooked = '"testHooks":true' in text  # map pages and linked views: they worked, on the data
    if hooked and (state.get("ready") != "1" or json.loads(html.unescape(state["errors"]))):
        out.append(f"{name}: page did not finish: {state}")
    return out


@needs_browser
def test_control_page_as_the_bug_wrote_it_is_caught(tmp_path):
    """The detector sees an injection: payloads as the TopoJSON carried them ran."""
    raw = json.dumps({"ids": list(PAYLOADS.values())}, ensure_ascii=False)
    page = tmp_path / "control.html"
    page.write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>"
        f"<script>var data = {raw};</script></body></html>",
        encoding="utf-8",
    )
    dom = _read(_browse(page, tmp_path / "profile"))
    assert dom.title == "PWNED"
    assert any("pwn-script" in e for e in dom.injected)


@pytest.mark.slow
@needs_browser
def test_no_payload_runs_in_any_page_in_a_real_browser(pages, tmp_path):
    """Every page, loaded offline: nothing injected, title unchanged, the page worked.

    Slow (19 pages in chromium). Covered by default by test_no_payload_is_written_raw_into_any_page
    (the same pages, every payload escaped), test_control_page_as_the_bug_wrote_it_is_caught
    and test_ids_that_name_object_machinery_draw_like_any_other (real browser).
    """

    def one(item: tuple[int, tuple[str, Path]]) -> list[str]:
        k, (name, path) = item
        return _problems(name, path, _browse(path, tmp_path / f"profile{k}"))

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:  # two browsers at once
        problems = [p for batch in pool.map(one, enumerate(pages.items())) for p in batch]
    assert len(pages) >= 19 and problems == []


#: Ids that name a JavaScript object's own machinery: as keys of a plain object they
#: return functions ("constructor") or replace its prototype ("__proto__").
PROTOTYPE_IDS = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf",
                 "__defineGetter__", "prototype", "isPrototypeOf"]  # fmt: skip


@needs_browser
def test_ids_that_name_object_machinery_draw_like_any_other(tmp_path, monkeypatch):
    """Every page of a run whose unit ids are "constructor", "__proto__" ... works."""
    monkeypatch.setattr(geotool.settings, "page_test_hooks", True)
    cells = [shapely.box(118 + 0.1 * (i % 4), 32 + 0.1 * (i // 4), 118.1 + 0.1 * (i % 4),
                         32.1 + 0.1 * (i // 4)) for i in range(16)]  # fmt: skip
    ids = PROTOTYPE_IDS + [f"u{i}" for i in range(8)]
    frame = gpd.GeoDataFrame(
        {"id": ids, "name": ids[::-1], "value": np.arange(16.0) % 5 + np.arange(16) / 10},
        geometry=cells, crs="EPSG:4326",
    )  # fmt: skip
    path = tmp_path / "grid.geojson"
    frame.to_file(path)
    out = tmp_path / "out"
    assert main(["--quiet", "run", str(path), "--id-col", "id", "--name-col", "name",
                 "--value-col", "value", "--permutations", "99", "--out", str(out)]) == 0
    found = []
    for k, page in enumerate(sorted((out / "maps").glob("*.html"))):
        dom = _browse(page, tmp_path / f"profile{k}")
        found += _problems(page.name, page, dom)
        assert '"testHooks":true' in page.read_text(encoding="utf-8"), page.name
    assert found == []
    lisa = pd.read_csv(out / "tables" / "lisa_value.csv", dtype=str, keep_default_na=False)
    assert set(lisa["adcode"]) == set(ids)
