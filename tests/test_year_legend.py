"""Issue 24: a panel's values map gives each year's class bounds, and switches them.

libpysal's us_income (48 states) for 1929, 1930 and 2009 on its us48 polygons. The
bounds are mapclassify's ``Quantiles`` of each year, computed here; Chromium (network
cut) switches the 1930 layer on and the legend then reads 1930's bounds.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess

import geopandas as gpd
import mapclassify
import pandas as pd
import pytest
from libpysal import examples

from geotool import maps
from geotool.maps import pages

from .conftest import page_args

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
YEARS = [1929, 1930, 2009]


@pytest.fixture(scope="module")
def wide() -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    table = pd.read_csv(examples.get_path("usjoin.csv")).set_index("Name")
    table = table[[str(y) for y in YEARS]].set_axis(YEARS, axis=1).astype(float)
    states = gpd.read_file(examples.get_path("us48.shp")).set_index("STATE_NAME")
    return table, states.loc[table.index].set_crs("EPSG:4326", allow_override=True)


def _bounds(label: str) -> list[float]:
    """The numbers of a legend item "1930: 202 – 342 (10)": low, high, count."""
    return [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", label)[1:]]


def test_each_year_s_layer_carries_that_year_s_quantile_bounds(wide):
    table, states = wide
    text = maps.to_html(pages.year_values_map(table, label="income", geo=states))
    _, _, layers, _ = page_args(text)
    assert [layer["name"] for layer in layers] == [f"income {y}" for y in reversed(YEARS)]
    for layer, year in zip(layers, reversed(YEARS), strict=True):
        q = mapclassify.Quantiles(table[year].to_numpy(), k=5)
        found = [_bounds(label) for label, _ in layer["legend"]]
        assert [f[2] for f in found] == list(q.counts)
        highs = [f[1] for f in found]
        assert highs == pytest.approx(q.bins, rel=0.01)  # three significant digits
        assert all(label.startswith(f"{year}: ") for label, _ in layer["legend"])
    # the page's legend at load is the shown (latest) year's
    assert "2009: 29,300 – 32,400 (10)" in html.unescape(text)


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium")
def test_switching_a_year_on_shows_its_bounds(wide, tmp_path):
    table, states = wide
    text = maps.to_html(pages.year_values_map(table, label="income", geo=states))
    click = ("<script>window.addEventListener('load', function () {"
             "document.querySelectorAll('.leaflet-control-layers-overlays input')[1].click();"
             "});</script></body>")  # fmt: skip, the second layer: 1930
    page = tmp_path / "years.html"
    page.write_text(text.replace("</body>", click), encoding="utf-8")
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--proxy-server=127.0.0.1:9",
           "--virtual-time-budget=4000", "--dump-dom", page.resolve().as_uri()]  # fmt: skip
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False).stdout
    legend = re.search(r'class="geotool-legend".*?</details>', dom, flags=re.S)
    assert legend is not None, dom[-500:]
    items = [html.unescape(s) for s in re.findall(r"</span>([^<]+)</div>", legend.group())]
    q = mapclassify.Quantiles(table[1930].to_numpy(), k=5)
    assert len(items) == 5 and all(i.startswith("1930: ") for i in items), items
    assert [_bounds(i)[1] for i in items] == pytest.approx(q.bins, rel=0.01)
