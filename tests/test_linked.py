"""The linked LISA view: one offline page, scatter and maps linked by hover and brushing."""

import html
import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from libpysal.graph import Graph

import geotool.settings
from geotool import autocorr, maps, weights
from geotool._errors import InputError
from geotool.report import rankings
from tests.test_maps import PAYLOAD, browse, needs_browser


@pytest.fixture
def hooks(monkeypatch):
    monkeypatch.setattr(geotool.settings, "page_test_hooks", True)


@pytest.fixture(scope="module")
def districts():
    """LISA of the industrial districts (901 units of the bundled layer)."""
    v = rankings.variables("industrial_districts")
    w = weights.build(v.index, rankings.DEFAULT_WEIGHTS["industrial_districts"])
    return autocorr.local_stats(v["score"], w, permutations=99, seed=3, gi_star=False)


def _data(text):
    """The JSON argument of the page's ``geotoolLinked(...)`` call."""
    start = text.index("geotoolLinked({") + len("geotoolLinked(")
    return json.JSONDecoder().raw_decode(text, start)[0]


def _lattice(n=6):
    """An n x n lattice of 10 km squares (EPSG:3857) with a named unit per square."""
    cells = [
        shapely.box(i * 1e4, j * 1e4, (i + 1) * 1e4, (j + 1) * 1e4)
        for j in range(n)
        for i in range(n)
    ]
    ids = [f"u{k:02d}" for k in range(n * n)]
    geo = gpd.GeoDataFrame(
        {"name": [f"unit {k}" for k in range(n * n)]}, geometry=cells, index=ids, crs=3857
    )
    return geo


def _state_json(state, key):
    return json.loads(state[key].replace("&quot;", '"'))


def test_linked_page_is_self_contained_small_and_complete(districts):
    text = maps.linked_lisa(districts, title="districts")
    assert not re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="https?://', text)
    assert "https://" not in text  # not even a link: nothing from the network
    assert "<link" not in text and "leaflet" not in text.lower()
    assert len(text.encode()) < 700_000
    data = _data(text)
    data["stats"] = dict(data["stats"])  # [id, row] pairs
    assert set(data["stats"]) == set(districts.index)
    hh = districts.index[districts["lisa_class"] == "High-High"][0]
    row = data["stats"][hh]
    assert row[:2] == pytest.approx([districts.loc[hh, "z"], districts.loc[hh, "lag"]], abs=1e-4)
    assert data["classes"][row[2]][0] == "High-High"
    assert row[6] == maps.fmt_p(districts.loc[hh, "p_sim"])
    # Moran's I is the slope of the scatter's line (row-standardised weights)
    z, lag = districts["z"], districts["lag"]
    assert data["slope"] == pytest.approx(float((z * lag).sum() / (z**2).sum()))
    # the view is fitted to the tested units: every tested unit is drawn, not all of China
    drawn = {u[0] for u in data["units"]}
    assert set(districts.index) <= drawn and len(drawn) < 2875
    assert data["rule"] == "α = 0.05, no multiple-comparison correction, two-sided p"
    assert "no multiple-comparison correction" in text
    assert data["maritime"].count("M") == 10  # the ten dashes, in the South China Sea inset
    assert data["inset"] is not None


def test_linked_page_names_the_correction_it_was_given(districts):
    text = maps.linked_lisa(districts, alpha=0.01, adjust="fdr")
    assert _data(text)["rule"] == "α = 0.01, FDR correction (Benjamini-Hochberg), two-sided p"


def test_linked_page_refuses_what_it_cannot_draw(districts):
    with pytest.raises(InputError, match="local lacks the columns"):
        maps.linked_lisa(districts.drop(columns=["lag"]))
    with pytest.raises(InputError, match="None of local's"):
        maps.linked_lisa(districts.set_axis([f"x{i}" for i in range(len(districts))]))
    with pytest.raises(InputError, match="geo has no CRS"):
        maps.linked_lisa(districts, geo=_lattice().set_crs(None, allow_override=True))


def test_linked_page_of_a_users_polygons(tmp_path):
    geo = _lattice()
    values = pd.Series(np.arange(36, dtype=float) % 6, index=geo.index)  # columns of values
    local = autocorr.local_stats(
        values, Graph.build_contiguity(geo, rook=True), permutations=99, seed=1, gi_star=False
    )
    text = maps.linked_lisa(local, geo, title="lattice")
    data = _data(text)
    assert [u[0] for u in data["units"]] == list(geo.index)
    assert data["units"][7][2] == "unit 7"
    assert all(re.fullmatch(r"(M-?\d+ -?\d+l[-\d ]+z)+", u[1]) for u in data["units"])
    assert data["maritime"] == "" and data["inset"] is None


def _lattice_page(tmp_path, title=PAYLOAD, names=None):
    geo = _lattice()
    if names is not None:
        geo["name"] = names
    values = pd.Series((np.arange(36) // 6 + np.arange(36) % 6).astype(float), index=geo.index)
    local = autocorr.local_stats(
        values, Graph.build_contiguity(geo, rook=True), permutations=99, seed=1, gi_star=False
    )
    page = tmp_path / "linked.html"
    page.write_text(maps.linked_lisa(local, geo, title=title), encoding="utf-8")
    return page, local


@needs_browser
def test_hovering_a_scatter_point_highlights_its_unit_on_both_maps(districts, tmp_path, hooks):
    page = tmp_path / "linked.html"
    page.write_text(maps.linked_lisa(districts, title="districts"), encoding="utf-8")
    unit = districts.index[districts["lisa_class"] == "High-High"][0]
    state, _ = browse(page, tmp_path, f"#hover={unit}")
    assert state["ready"] == "1" and _state_json(state, "errors") == []
    assert state["points"] == state["tested"] == str(len(districts))
    assert state["hover"] == unit
    stroke, width, _ = state["hover-style"].split("|")
    assert (stroke, width) == ("rgb(0, 0, 0)", "2.5px")  # on the cluster map
    assert state["significance-style"].split("|")[:2] == ["rgb(0, 0, 0)", "2.5px"]  # significance
    assert state["other-style"].split("|")[:2] != ["rgb(0, 0, 0)", "2.5px"]  # others not
    from geotool import boundaries

    name = boundaries.units().loc[unit, "name"]
    info = html.unescape(state["info"])
    assert name in info and f"p {maps.fmt_p(districts.loc[unit, 'p_sim'])}" in info


@needs_browser
def test_hovering_a_unit_highlights_its_scatter_point(districts, tmp_path, hooks):
    page = tmp_path / "linked.html"
    page.write_text(maps.linked_lisa(districts), encoding="utf-8")
    unit = districts.index[districts["lisa_class"] == "Low-High"][0]
    state, _ = browse(page, tmp_path, f"#maphover={unit}")
    assert state["hover"] == unit
    assert state["point-style"].split("|")[:2] == ["rgb(0, 0, 0)", "2.5px"]
    assert state["significance-style"].split("|")[:2] == ["rgb(0, 0, 0)", "2.5px"]


@needs_browser
def test_brushing_the_scatter_selects_exactly_the_units_inside(tmp_path, hooks):
    page, local = _lattice_page(tmp_path)
    z0, z1, l0, l1 = 0.05, 9.0, 0.05, 9.0  # the High-High quadrant, away from any point
    inside = local[(local["z"].between(z0, z1)) & (local["lag"].between(l0, l1))].index
    assert 0 < len(inside) < len(local)
    state, dom = browse(page, tmp_path, f"#brush={z0},{l0},{z1},{l1}")
    assert _state_json(state, "errors") == [] and "early-error" not in state
    assert state["selected"].split(",") == sorted(inside)
    # selected units stay opaque on the maps, the others fade
    assert state["selected-style"].split("|")[2] == "1"
    assert float(state["unselected-style"].split("|")[2]) < 0.5
    # the title is text, never markup
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom and "<img src=" not in dom


@needs_browser
def test_unit_names_reach_the_page_as_text(tmp_path, hooks):
    names = [PAYLOAD] * 36
    page, local = _lattice_page(tmp_path, title="t", names=names)
    state, dom = browse(page, tmp_path, f"#hover={local.index[0]}")
    assert state["hover"] == local.index[0]
    assert "<img src=" not in dom and html.unescape(state["info"]).startswith(PAYLOAD)


def _summary():
    return {
        "geotool_version": "0.1",
        "seed": 1,
        "permutations": 999,
        "check_report": {"ok": True, "status_counts": {"match": 143, "report inconsistent": 4}},
        "match": {"matched": 140, "ambiguous": 2},
        "autocorrelation": {
            "a_b": {
                "label": "A <b>",
                "default_weights": "queen",
                "moran_i": {"queen": {"value": 0.53561, "p_norm": 0.0, "p_sim": 0.001}},
                "lisa_counts": {"High-High": 55, "Not significant": 1767},
                "adjust": "fdr",
            },
            "bivariate_x": {"value": 0.5441, "p_sim": 0.001},
        },
    }


def test_index_page_reads_well():
    from geotool.maps import pages as figures

    page = figures.index_page(
        _summary(),
        {"lisa.html": 2_900_000, "lisa_linked_a_b.html": 520_000},
        title="T",
        linked={"a_b": "lisa_linked_a_b.html"},
        figures=["figures/tiers_map.png"],
    )
    assert "{" not in page.split("</style>")[1]  # no dict printed anywhere
    assert "<td>0.536</td>" in page and "<td>&lt; 0.001</td>" in page  # never "0"
    assert "<td>0.001</td>" in page and "<td>1,767</td>" in page
    assert "<td>match</td><td>143</td>" in page and "<td>ambiguous</td><td>2</td>" in page
    assert "href='maps/lisa_linked_a_b.html'" in page
    assert "α = 0.05, FDR correction (Benjamini-Hochberg)" in page
    assert "A &lt;b&gt;" in page and "A <b>" not in page
    assert "<img src='figures/moran_scatter_a_b.png' width='520'" in page
    assert "<a href='figures/tiers_map.png'><img src='figures/tiers_map.png'" in page
    empty = figures.index_page(_summary(), {}, title="T")
    assert "No static figures in this run." in empty


def test_cli_cdn_flag_writes_a_page_that_loads_leaflet_from_the_network(tmp_path):
    from geotool.cli import main

    out = tmp_path / "m.html"
    assert main(["map", "rankings", "--cdn", "--out", str(out)]) == 0
    cdn = out.read_text(encoding="utf-8")
    assert re.findall(r'<script src="https://[^"]+leaflet', cdn)
    assert main(["map", "rankings", "--out", str(out)]) == 0
    plain = out.read_text(encoding="utf-8")
    assert not re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="https?://', plain)


@needs_browser
def test_a_cdn_page_offline_says_why_it_is_empty(tmp_path):
    from geotool.report import figures

    page = tmp_path / "cdn.html"
    maps.to_html(figures.rankings_map(figures.unit_info(), cdn=True), page)
    _, dom = browse(page, tmp_path)
    assert "Leaflet could not load from its CDN" in dom
    # the map itself did not draw (Leaflet marks its container when it does)
    assert not re.search(r'class="[^"]*folium-map[^"]*leaflet-container', dom)
