"""A panel on the page: libpysal's us_income (48 states x 81 years, 1929-2009) via the CLI.

One run (module fixture, 999 permutations) serves every test. References: esda's
``Moran`` per year, giddy's ``Spatial_Markov`` on the same data and weights (libpysal's
queen contiguity of the same polygons), the run's own yearly tier centres for the
mobility table's row counts.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from libpysal import examples
from libpysal.weights import Queen

from geotool.cli import main

YEARS = list(range(1929, 2010))
PERMUTATIONS = 999


@pytest.fixture(scope="module")
def us() -> dict[str, object]:
    """The states (in the table's order), their incomes (states x years) and queen weights."""
    wide = pd.read_csv(examples.get_path("usjoin.csv")).set_index("Name")
    states = gpd.read_file(examples.get_path("us48.shp")).set_index("STATE_NAME")
    states = states.loc[wide.index]
    w = Queen.from_dataframe(states, use_index=True)
    return {"wide": wide[[str(y) for y in YEARS]].astype(float), "states": states, "w": w}


@pytest.fixture(scope="module")
def run(tmp_path_factory, us) -> Path:
    """ONE ``geotool run`` of the whole panel (a long CSV and the polygons)."""
    where = tmp_path_factory.mktemp("panel")
    long = us["wide"].reset_index().melt(id_vars="Name", var_name="year", value_name="income")
    long.to_csv(where / "us_income.csv", index=False)
    states = us["states"].reset_index().set_crs("EPSG:4326", allow_override=True)
    states.to_file(where / "us48.gpkg")
    out = where / "out"
    code = main([
        "--quiet", "run", str(where / "us_income.csv"), "--geometry", str(where / "us48.gpkg"),
        "--id-col", "STATE_NAME", "--name-col", "Name", "--year-col", "year",
        "--value-col", "income", "--permutations", str(PERMUTATIONS), "--out", str(out),
    ])  # fmt: skip
    assert code == 0
    return out


def _table(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / "tables" / f"{name}.csv", encoding="utf-8-sig")


def _html_tables(page: str, cls: str) -> list[list[list[str]]]:
    """The tables of ``page`` with class ``cls``: rows of cell texts (header first)."""
    found = []
    for body in re.findall(rf"<table class='{cls}'>(.*?)</table>", page, flags=re.S):
        rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
        found.append([[html.unescape(c) for c in re.findall(r"<t[hd]>(.*?)</t[hd]>", r)]
                      for r in rows])  # fmt: skip
    return found


def _number(text: str) -> float:
    return float("nan") if text == "–" else float(text.replace(",", ""))


def test_one_long_mobility_table_instead_of_a_file_per_pair_of_years(run):
    tables = sorted(p.name for p in (run / "tables").iterdir())
    assert [t for t in tables if t.startswith("tiers_mobility")] == ["tiers_mobility_income.csv"]
    assert not [t for t in tables if re.search(r"_(19|20)\d\d", t)]  # no file per year
    mob = _table(run, "tiers_mobility_income")
    pairs = mob[["from_year", "to_year"]].drop_duplicates()
    steps = list(zip(YEARS[:-1], YEARS[1:], strict=True))
    assert list(pairs.itertuples(index=False, name=None)) == steps
    # every pair moves the 48 states; the row n is the from-tier's units that year ...
    assert (mob.groupby(["from_year", "to_year"])["count"].sum() == 48).all()
    rows = mob.groupby(["from_year", "from"])
    assert (rows["count"].sum() == rows["n"].first()).all()
    np.testing.assert_allclose(mob["probability"], mob["count"] / mob["n"].replace(0, np.nan))
    # ... as the run's yearly tier centres count them (ranked tiers; "out" is not a tier)
    centres = _table(run, "tiers_yearly_centres_income").set_index(["year", "tier"])["n"]
    ranked = rows["n"].first().reset_index()
    ranked = ranked[ranked["from"].astype(str) != "out"].astype({"from": int})
    ranked = ranked.set_index(["from_year", "from"])["n"].rename_axis(["year", "tier"])
    pd.testing.assert_series_equal(
        ranked[ranked > 0].sort_index(), centres.drop(2009, level="year").sort_index()
    )


def test_moran_by_year_equals_esda_and_is_charted(run, us):
    from esda.moran import Moran

    table = _table(run, "dynamics_moran_by_year_income").set_index("year")
    assert list(table.index) == YEARS and (table["permutations"] == PERMUTATIONS).all()
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    by_year = summary["dynamics"]["income"]["moran_by_year"]
    far = 0
    for year in YEARS:
        mi = Moran(us["wide"][str(year)].to_numpy(), us["w"], permutations=PERMUTATIONS)
        assert table.loc[year, "moran_i"] == pytest.approx(mi.I, abs=1e-12)
        assert by_year[str(year)]["value"] == pytest.approx(mi.I, abs=1e-12)
        assert table.loc[year, "expected"] == pytest.approx(mi.EI, abs=1e-15)
        far += abs(table.loc[year, "p_sim"] - mi.p_sim) > 0.02  # another random stream
    assert far <= 4
    png = run / "figures" / "moran_by_year_income.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (run / "index.html").read_text(encoding="utf-8")
    assert "src='figures/moran_by_year_income.png'" in page


def test_the_chart_draws_the_tables_numbers_and_names_its_years(run):
    from geotool.maps import charts

    table = _table(run, "dynamics_moran_by_year_income")
    fig = charts.moran_by_year_chart(table, "en", n=48, permutations=PERMUTATIONS)
    assert "1929–2009" in fig.axes[0].get_title(loc="left")
    filled, hollow = (c.get_offsets() for c in fig.axes[0].collections)
    drawn = pd.DataFrame(np.vstack([filled, hollow]), columns=["year", "i"]).sort_values("year")
    np.testing.assert_allclose(drawn["i"], table["moran_i"], rtol=1e-12)
    assert len(filled) == (table["p_sim"] <= 0.05).sum()


def test_spatial_markov_equals_giddy_and_the_index_shows_it_with_row_n(run, us):
    from giddy.markov import Spatial_Markov

    w = us["w"]
    w.transform = "r"
    sm = Spatial_Markov(us["wide"].to_numpy(), w, k=5, m=5, fixed=True)
    table = _table(run, "dynamics_spatial_markov_income")
    counts = table[[f"count_{j}" for j in range(1, 6)]].to_numpy()
    np.testing.assert_array_equal(counts, sm.T.reshape(25, 5))
    probs = table[[f"p_{j}" for j in range(1, 6)]].to_numpy()
    np.testing.assert_allclose(np.nan_to_num(probs), sm.P.reshape(25, 5), atol=1e-12)
    assert (table["n"] == counts.sum(axis=1)).all()
    tests = _table(run, "dynamics_tests_income").set_index(["chain", "statistic"])
    assert tests.loc[("spatial_markov", "Q"), "value"] == pytest.approx(sm.Q, rel=1e-10)
    assert tests.loc[("spatial_markov", "Q"), "dof"] == sm.dof_hom
    assert tests["meaning"].str.len().gt(60).all()  # every test row explained
    chi2 = tests.loc[("spatial_markov", "chi2")]
    assert "same statistic as Q" in chi2["meaning"] and chi2["value"] == pytest.approx(sm.Q)

    page = (run / "index.html").read_text(encoding="utf-8")
    shown = _html_tables(page, "num transitions")
    assert [t[0][:3] for t in shown] == [["lag class", "from", "n"], ["from", "n", "→ HH"]]
    for found, k, keys in ((shown[0], 5, 2), (shown[1], 4, 1)):
        cells = np.array([[_number(c) for c in r[keys:]] for r in found[1:]])
        n, cnt, p = cells[:, 0], cells[:, 1 : 1 + k], cells[:, 1 + k :]
        np.testing.assert_array_equal(n, cnt.sum(axis=1))  # n is the row's moves
        share = np.divide(cnt, n[:, None], out=np.zeros_like(cnt), where=n[:, None] > 0)
        np.testing.assert_allclose(np.nan_to_num(p), share, atol=6e-4)
    np.testing.assert_array_equal(
        np.array([[_number(c) for c in r[3:8]] for r in shown[0][1:]]), sm.T.reshape(25, 5)
    )
    lisa = _table(run, "dynamics_lisa_markov_income")
    assert lisa["n"].sum() == 48 * 80 and list(lisa["from"]) == ["HH", "LH", "LL", "HL"]


def test_every_map_title_states_its_year(run):
    pages = sorted((run / "maps").glob("*.html"))
    assert len(pages) >= 4
    for page in pages:
        text = page.read_text(encoding="utf-8")
        titles = re.findall(r"class=\"geotool-title\"[^>]*>([^<]*)<", text)
        titles += re.findall(r"<title>([^<]*)</title>", text)
        assert titles and all("2009" in t for t in titles), (page.name, titles)


def test_values_and_lisa_maps_have_a_layer_per_year_and_stay_small(run):
    values = (run / "maps" / "values_income.html").read_text(encoding="utf-8")
    lisa = (run / "maps" / "lisa.html").read_text(encoding="utf-8")
    for year in YEARS:
        assert f'"name":"income {year}"' in values
        assert f'"name":"LISA: income {year}"' in lisa
    assert "showing 2009" in values and "a layer each in the control" in lisa
    for page in (values, lisa):
        assert len(page.encode("utf-8")) < 3e6


def test_the_latest_years_tier_tables_say_their_year(run):
    """The tiers' composition, geography and vectors of a panel are its latest year's:
    each table has a ``year`` column saying so (they had none), the yearly centres and
    the mobility their own years."""
    last = max(YEARS)
    for name in ("tiers_geography_income", "tiers_vectors_income"):  # (no regions: no composition)
        frame = _table(run, name)
        assert frame["year"].tolist() == [last] * len(frame), name
    assert sorted(_table(run, "tiers_yearly_centres_income")["year"].unique())[-1] == last


def test_a_panels_label_names_it_in_sentences_and_tables(tmp_path, us):
    """``--label`` of a panel's variable: the dynamics' sentences and tables and the global
    and inequality tables name it so (they used the column: "income", or "X per Y")."""
    years = [str(y) for y in range(2005, 2010)]
    long = us["wide"][years].reset_index().melt(id_vars="Name", var_name="year",
                                                value_name="income")  # fmt: skip
    long.to_csv(tmp_path / "us.csv", index=False)
    states = us["states"].reset_index().set_crs("EPSG:4326", allow_override=True)
    states.to_file(tmp_path / "us48.gpkg")
    out = tmp_path / "out"
    assert main(["--quiet", "run", str(tmp_path / "us.csv"), "--geometry",
                 str(tmp_path / "us48.gpkg"), "--id-col", "STATE_NAME", "--name-col", "Name",
                 "--year-col", "year", "--value-col", "income", "--label",
                 "income=Per-capita income (USD)", "--permutations", "99",
                 "--out", str(out)]) == 0  # fmt: skip
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    dyn = summary["dynamics"]["income"]
    assert dyn["label"] == "Per-capita income (USD)"
    assert any("Per-capita income (USD)" in s for s in json.dumps(dyn["sentences"]).split('"'))
    assert _table(out, "global_income")["label"].eq("Per-capita income (USD)").all()
    assert _table(out, "inequality")["label"].eq("Per-capita income (USD)").all()
