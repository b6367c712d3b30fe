"""Cases found by trying geotool as its users do (session 6's user test), one regression each.

The panel: the bundled prefectures of 江苏, 浙江, 安徽 and 山东 (56 units), a value that rises
eastwards plus seeded noise, two years written "2019年" and "2020年" as Chinese tables write
them, one ``geotool run`` through the CLI (module fixture). References: esda's ``Moran`` on
libpysal's queen contiguity of the same polygons, with the joins ``tables/islands.csv`` lists.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import esda
import numpy as np
import pandas as pd
import pytest
from libpysal.weights import Queen, W

from geotool import boundaries
from geotool.cli import main

PROVINCES = ["江苏省", "浙江省", "安徽省", "山东省"]


@pytest.fixture(scope="module")
def panel(tmp_path_factory) -> dict[str, object]:
    """ONE run of a long prefecture panel; its folder, console text and the 2020 values."""
    where = tmp_path_factory.mktemp("user_panel")
    pref = boundaries.load("prefecture")
    pref = pref[pref["province"].isin(PROVINCES)]
    lon = pref.geometry.representative_point().x.to_numpy()
    rng = np.random.default_rng(5)
    rows = [
        pd.DataFrame({"城市": pref["prefecture"].to_numpy(), "年份": f"{year}年",
                      "产值": np.round((lon - 114) * 300 + shift + rng.normal(0, 99, len(lon)))})
        for year, shift in ((2019, 0.0), (2020, 50.0))
    ]  # fmt: skip
    table = pd.concat(rows, ignore_index=True)
    table.to_csv(where / "panel.csv", index=False, encoding="gbk")
    out, said = where / "out", io.StringIO()
    with contextlib.redirect_stderr(said):  # the run's console lines
        code = main(["run", "--data", str(where / "panel.csv"), "--year-col", "年份",
                     "--value-col", "产值", "--permutations", "99", "--out", str(out)])  # fmt: skip
    assert code == 0
    latest = table[table["年份"] == "2020年"].set_index("城市")["产值"]
    return {"out": out, "said": said.getvalue(), "pref": pref, "latest": latest}


def _table(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / "tables" / f"{name}.csv", encoding="utf-8-sig", dtype={"adcode": str})


def _queen_with_joins(pref, out: Path) -> W:
    """libpysal's queen weights of the polygons plus the joins the run reports."""
    queen = Queen.from_dataframe(pref, use_index=True, silence_warnings=True)
    links = {k: list(v) for k, v in queen.neighbors.items()}
    joins = _table(out, "islands")
    for _, row in joins[(joins["weights"] == "queen") & (joins["action"] == "joined")].iterrows():
        a, b = row["unit"].split()[0], row["nearest"].split()[0]
        links[a] = sorted(set(links[a]) | {b})
        links[b] = sorted(set(links[b]) | {a})
    return W(links, silence_warnings=True)


def test_a_panels_autocorrelation_tables_say_their_year(panel):
    """F3: global, LISA and local Geary tables of a panel carry the year they are of."""
    out = panel["out"]
    for name in ("global_chanzhi", "lisa_chanzhi", "local_geary_chanzhi"):
        years = _table(out, name)["year"]
        assert years.astype(str).eq("2020").all(), name
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["autocorrelation"]["chanzhi"]["year"] == "2020"


def test_the_headline_names_the_year_and_its_moran_is_esdas(panel):
    """F3: the console's line is the latest year's Moran's I, as esda computes it."""
    out, pref = panel["out"], panel["pref"]
    w = _queen_with_joins(pref, out)
    values = panel["latest"].reindex(pref.loc[w.id_order, "prefecture"]).to_numpy()
    expected = esda.Moran(values, w).I
    glob = _table(out, "global_chanzhi").set_index(["weights", "statistic"])
    assert glob.loc[("queen", "moran_i"), "value"] == pytest.approx(expected, abs=1e-12)
    assert f"产值 (2020): n 56, Moran's I {expected:.3f} (queen" in panel["said"]


def test_a_knn_larger_than_the_units_stops_before_any_stage(tmp_path, capsys):
    """study2.toml's ``weights = "knn:100000"`` failed after the tiers; now before them."""
    counties = boundaries.load("county")
    some = counties[counties["province"] == "江苏省"].head(12)
    table = pd.DataFrame({"code": some.index, "产值": np.arange(12.0) ** 2})
    table.to_csv(tmp_path / "t.csv", index=False)
    code = main(["run", "--data", str(tmp_path / "t.csv"), "--code-col", "code",
                 "--value-col", "产值", "--weights", "knn:100000", "--permutations", "99",
                 "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "--weights knn:100000 asks for 100000 neighbours of each of 12 units" in err
    assert "use at most knn:11" in err and "tiers:" not in err and "Traceback" not in err


def test_a_users_belts_are_the_components_of_class_1_not_the_whole_table(tmp_path):
    """F11: every unit of a user's table is "ranked", so the belt was all 95 counties."""
    import mapclassify
    from scipy.sparse.csgraph import connected_components

    counties = boundaries.load("county")
    js = counties[counties["province"] == "江苏省"]
    values = np.round(js["rep_lat"].to_numpy() * 100 + np.arange(len(js)) % 7, 1)
    pd.DataFrame({"code": js.index, "产值": values}).to_csv(tmp_path / "t.csv", index=False)
    code = main(["--quiet", "run", "--data", str(tmp_path / "t.csv"), "--code-col", "code",
                 "--value-col", "产值", "--tiers", "quantiles", "-k", "4",
                 "--permutations", "99", "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 0
    q = mapclassify.Quantiles(values, k=4)
    top = js[q.yb == q.yb.max()]  # class 1 = the highest quartile
    queen = Queen.from_dataframe(top, use_index=True, silence_warnings=True)
    _, labels = connected_components(queen.sparse, directed=False)
    expected = sorted(np.bincount(labels).tolist(), reverse=True)
    belts = _table(tmp_path / "o", "clusters_belts")
    assert sorted(belts["size"].tolist(), reverse=True) == expected
    assert belts["size"].sum() == len(top) < len(js)


def test_a_study_files_wrong_type_is_named_as_the_file_spells_it(tmp_path, capsys):
    """``permutations = "999"`` in a study file was reported as ``--permutations``."""
    (tmp_path / "t.csv").write_text("code,v\n320102,1\n320104,2\n", encoding="utf-8")
    (tmp_path / "s.toml").write_text(
        '[data]\ndata = "t.csv"\n[methods]\npermutations = "999"\n', encoding="utf-8"
    )
    code = main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "s.toml: 'permutations' must be a whole number, got '999'" in err
    assert "--permutations" not in err
