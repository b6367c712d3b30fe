"""Issue 24: a one-page summary per run (``onepage.html``), printable to one A4 page.

Real runs through the CLI: the bundled report (Chinese), libpysal's Columbus (English),
and a Columbus copy whose value column and unit names carry markup (run in Chinese).
Numbers are read back from the page and compared with ``summary.json`` and with esda.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from html.parser import HTMLParser
from pathlib import Path

import esda
import geopandas as gpd
import libpysal
import numpy as np
import pytest
from PIL import Image

from geotool import pipeline

COLUMBUS = libpysal.examples.get_path("columbus.shp")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(pipeline.__file__).parents[1]
PAYLOAD = "<script>document.title='PWNED'</script>"
#: Every tag the page's own markup uses.
TAGS = ("html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "div", "figure", "img",
        "table", "tr", "th", "td", "ul", "li", "b", "footer")
CLASSES = ("High-High", "Low-Low", "Low-High", "High-Low", "Not significant")


def _geotool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", "from geotool.cli import entry; entry()", *args],
        capture_output=True, text=True, timeout=1500, cwd=cwd, env=env, check=False,
    )  # fmt: skip


def _run(tmp_path_factory, *args: str) -> Path:
    out = tmp_path_factory.mktemp("onepage") / "out"
    proc = _geotool("run", *args, "--permutations", "99", "--out", str(out), cwd=out.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def _shared(shared_run, name: str) -> Path:
    """A run of conftest's (``geotool run ... --permutations 99``), made once per session."""
    run = shared_run(name)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.out


@pytest.fixture(scope="module")
def report(shared_run):
    return _shared(shared_run, "report_zh")


@pytest.fixture(scope="module")
def columbus(shared_run):
    return _shared(shared_run, "columbus_en")  # COLUMBUS --value-col CRIME


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Columbus as a GeoPackage: markup in the file name, the value column and the names."""
    folder = tmp_path_factory.mktemp("hostile")
    g = gpd.read_file(COLUMBUS)
    g["NAME"] = [f"{PAYLOAD}{i}" for i in range(len(g))]
    g = g.rename(columns={"CRIME": f"CRIME{PAYLOAD}"})
    path = folder / "col<b>umbus.gpkg"
    with warnings.catch_warnings():  # no CRS, as the shapefile
        warnings.simplefilter("ignore", UserWarning)
        g[["POLYID", "NAME", f"CRIME{PAYLOAD}", "geometry"]].to_file(path)
    return _run(tmp_path_factory, str(path), "--value-col", f"CRIME{PAYLOAD}",
                "--name-col", "NAME", "--lang", "zh")  # fmt: skip


class _Page(HTMLParser):
    """The page's tags, table rows (cell texts), images and ``<html lang>``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.rows: list[list[str]] = []
        self.images: list[str] = []
        self.lang = ""
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "html":
            self.lang = attrs.get("lang", "")
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(attrs["src"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _page(out: Path) -> tuple[str, _Page]:
    text = (out / "onepage.html").read_text(encoding="utf-8")
    return text, _Page(text)


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def _numbers_match(out: Path) -> None:
    """Each variable's row reads as summary.json: n, Moran's I, p, weights, LISA counts."""
    _, page = _page(out)
    auto = {k: r for k, r in _summary(out)["autocorrelation"].items() if "moran_i" in r}
    rows = page.rows[1:]
    assert len(rows) == len(auto)
    for row, res in zip(rows, auto.values(), strict=True):
        spec = res["default_weights"]
        mi = res["moran_i"][spec]
        assert int(row[1]) == res["weights_report"]["units"]
        assert float(row[2]) == pytest.approx(mi["value"], abs=5e-4)
        assert row[3] == ("< 0.001" if mi["p_sim"] < 0.001 else f"{mi['p_sim']:.3f}")
        assert row[4] == spec
        counts = [int(c) for c in row[5:10]]
        assert counts == [res["lisa_counts"].get(c, 0) for c in CLASSES]
        assert sum(counts) == int(row[1])  # every unit in one class


def _pngs(page: _Page) -> list[Image.Image]:
    out = []
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        image = Image.open(io.BytesIO(data))
        image.load()
        assert image.format == "PNG" and image.width >= 600
        out.append(image.convert("RGB"))
    return out


def _has_colour(image: Image.Image, hex_colour: str, tol: int = 12) -> bool:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    pixels = np.asarray(image).reshape(-1, 3).astype(int)
    return bool((np.abs(pixels - rgb).max(axis=1) <= tol).sum() > 50)


def _printed_pages(out: Path, tmp_path: Path) -> int:
    pdf = tmp_path / "page.pdf"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}",
         "--no-pdf-header-footer", f"--print-to-pdf={pdf}", (out / "onepage.html").as_uri()],
        capture_output=True, timeout=300, check=True,
    )  # fmt: skip
    data = pdf.read_bytes()
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", data))


def test_the_report_s_page_is_chinese_linked_and_reads_as_its_summary(report):
    text, page = _page(report)
    index = (report / "index.html").read_text(encoding="utf-8")
    assert "href='onepage.html'" in index and "一页摘要" in index
    assert page.lang == "zh-CN" and "主要统计量" in text
    assert "onepage.html" in _summary(report)["files"]
    _numbers_match(report)
    assert "工业百强县（得分 = 101 − 名次）" in page.rows[1][0]  # the report's own label
    values, lisa = _pngs(page)
    from geotool.autocorr import LISA_CLASSES

    assert _has_colour(lisa, LISA_CLASSES["High-High"])  # the LISA map shows its clusters
    assert not _has_colour(values, LISA_CLASSES["High-High"], tol=4)
    assert "随机种子 12345，99 次置换" in text


def test_columbus_page_is_english_and_its_moran_is_esda_s(columbus):
    text, page = _page(columbus)
    assert page.lang == "en" and "Key statistics" in text
    assert not re.search(r"[\u3400-\u9fff]", re.sub(r"base64,[^'\"]+", "", text))
    _numbers_match(columbus)
    g = gpd.read_file(COLUMBUS)
    w = libpysal.weights.Queen.from_dataframe(g, use_index=False)
    w.transform = "r"
    expected = esda.Moran(g["CRIME"].to_numpy(), w, permutations=0).I
    assert float(page.rows[1][2]) == pytest.approx(expected, abs=5e-4)
    assert len(_pngs(page)) == 2
    assert "columbus.shp" in text and "Seed 12345, 99 permutations, weights queen" in text
    assert "href='onepage.html'" in (columbus / "index.html").read_text(encoding="utf-8")


def test_markup_in_a_user_s_names_stays_text(hostile):
    text, page = _page(hostile)
    assert page.lang == "zh-CN"
    assert set(page.tags) <= set(TAGS), set(page.tags) - set(TAGS)  # no "script"
    assert "<script" not in text and "col<b>umbus" not in text
    assert "&lt;script&gt;" in text and "col&lt;b&gt;umbus.gpkg" in text
    assert page.rows[1][0] == f"CRIME{PAYLOAD}"  # read back exactly, as text
    _numbers_match(hostile)


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium")
@pytest.mark.parametrize("which", ["report", "columbus", "hostile"])
def test_it_prints_to_exactly_one_a4_page(which, request, tmp_path):
    out = request.getfixturevalue(which)
    assert _printed_pages(out, tmp_path) == 1
