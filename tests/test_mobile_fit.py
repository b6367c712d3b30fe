"""Issue 24: a map page stays fitted to its data when the window changes size.

Headless Chromium lays a page out at least 500 px wide and shrinks it to 390 px only for
the screenshot, as a phone turned or a window sized after opening does. A page fitted
once at load then cut Inner Mongolia's counties (the bundled layer) at both sides; the
page fits again until the reader moves the map. Checked on the pixels: the coloured
units' bounding box is inside the 390 x 844 screenshot, with a margin.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geotool import boundaries, maps

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                                reason="no chromium")  # fmt: skip


def _shot(page: Path, png: Path, size: tuple[int, int]) -> np.ndarray:
    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--hide-scrollbars", "--proxy-server=127.0.0.1:9",
        "--virtual-time-budget=4000", f"--window-size={size[0]},{size[1]}",
        f"--screenshot={png}", page.resolve().as_uri(),
    ]  # fmt: skip
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    return np.asarray(Image.open(png).convert("RGB")).astype(int)


def _coloured_box(img: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the map's coloured pixels (YlOrRd: saturated)."""
    coloured = (img.max(axis=2) - img.min(axis=2)) > 40  # the chrome is white, grey, black
    coloured[:160] = False  # the zoom, title, search and full-screen controls
    coloured[-90:] = False  # the legend, the scale and Leaflet's flag
    rows, cols = np.nonzero(coloured)
    return int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    counties = boundaries.load("county")
    geo = counties[counties["province"] == "内蒙古自治区"]  # 2,400 km from west to east
    fmap = maps.choropleth(geo["area_km2"], geo=geo, title="area", lang="en")
    path = tmp_path_factory.mktemp("fit") / "crime.html"
    maps.to_html(fmap, path)
    return path


def test_a_page_shrunk_after_loading_still_shows_all_its_units(page, tmp_path):
    img = _shot(page, tmp_path / "phone.png", (390, 844))
    assert img.shape[:2] == (844, 390)
    left, _, right, _ = _coloured_box(img)
    assert left >= 8 and right <= 390 - 8, (left, right)  # no unit cut at either side
    assert right - left >= 390 * 0.7  # and fitted, not a small blob


def test_the_wide_page_fills_its_window_too(page, tmp_path):
    img = _shot(page, tmp_path / "wide.png", (1400, 1000))
    left, top, right, bottom = _coloured_box(img)
    assert bottom - top >= (1000 - 250) * 0.7 and left > 0 and right < 1400


def _dom(page: Path, width: int) -> str:
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--proxy-server=127.0.0.1:9",
           "--virtual-time-budget=3000", f"--window-size={width},900", "--dump-dom",
           page.resolve().as_uri()]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False).stdout


def test_the_tiers_steps_table_folds_on_a_phone(shared_run):
    """Columbus's tiers page (conftest's run of CRIME): the steps table is open on a wide
    screen, folded on a phone (as the legend), so that it does not cover the map and its
    scale."""
    run = shared_run("columbus_en")
    assert run.returncode == 0, run.stderr[-2000:]
    page = run.out / "maps" / "tiers.html"
    folded = re.compile(r'<div class="geotool-vectors"[^>]*><details( open="")?>')
    wide, phone = folded.search(_dom(page, 1400)), folded.search(_dom(page, 390))
    assert wide is not None and phone is not None
    assert wide.group(1) and not phone.group(1)
