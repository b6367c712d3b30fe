"""The user's study, not the report's: one study description, one pipeline.

A geometry file with its own values is a study of its own (GeoDa's Columbus I), no
China-only stage runs outside China, names survive into every table and page, and a
study file runs the same study as the flags.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from libpysal.examples import get_path

from geotool import boundaries, pipeline
from geotool._errors import InputError
from geotool.cli import main
from geotool.study import Study

COLUMBUS = Path(get_path("columbus.shp"))
#: Anselin's Columbus CRIME under queen contiguity: GeoDa's and esda's Moran's I.
COLUMBUS_I = 0.5001885571828611
#: Words and fields that belong to China's report, never to a study elsewhere.
CHINA_ONLY = ("km_to_coast", "km_to_core", "梯队", "未上榜", "城市群", "上海", "East-to-west")


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def _all_text(out: Path) -> str:
    """Every table, page and the summary of a run, as one text."""
    parts = [p.read_text(encoding="utf-8-sig") for p in out.rglob("*") if p.suffix in
             (".csv", ".json", ".html", ".geojson")]  # fmt: skip
    return "\n".join(parts)


@pytest.fixture(scope="module")
def columbus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("columbus")
    for part in COLUMBUS.parent.glob("columbus.*"):
        shutil.copy(part, folder / part.name)
    return folder / "columbus.shp"


@pytest.mark.parametrize("how", ["file", "data", "geometry"])
def test_columbus_shapefile_is_a_study_of_its_own(columbus, how, tmp_path, capsys):
    out = tmp_path / "out"
    given = {"file": [str(columbus)], "data": ["--data", str(columbus)],
             "geometry": ["--geometry", str(columbus)]}[how]  # fmt: skip
    code = main(["--quiet", "run", *given, "--value-col", "CRIME", "--out", str(out),
                 "--permutations", "99"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    summary = _summary(out)
    mi = summary["autocorrelation"]["crime"]["moran_i"]["queen"]
    assert mi["value"] == pytest.approx(COLUMBUS_I, abs=1e-9)
    assert summary["lang"] == "en"
    assert summary["stages"]["clusters"].startswith("skipped")
    assert summary["stages"]["autocorrelation"] == "ran"
    assert "clusters" not in summary
    text = _all_text(out)
    assert not [w for w in CHINA_ONLY if w in text]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in index and "Stages" in index
    assert "gradient" not in summary["tiers"]["crime"]  # no east-west claim in Ohio


def test_a_projected_geopackage_with_ids_and_names_shows_the_names(tmp_path, capsys):
    """Jiangsu's counties in UTM 50N with their own ids and names (乡镇名称-style)."""
    counties = boundaries.load("county")
    js = counties[counties["province"] == "江苏省"].head(40)
    gpkg = tmp_path / "jiangsu_utm.gpkg"
    frame = js[["name", "geometry"]].rename(columns={"name": "县名"}).to_crs("EPSG:32650")
    frame.insert(0, "编号", [f"J{i:03d}" for i in range(len(frame))])
    frame["产值"] = [float(i % 7) * 10 + i for i in range(len(frame))]
    frame.reset_index(drop=True).to_file(gpkg)
    out = tmp_path / "out"
    code = main(["--quiet", "run", str(gpkg), "--id-col", "编号", "--name-col", "县名",
                 "--value-col", "产值", "--out", str(out), "--permutations", "99",
                 "--title", "江苏产值", "--label", "产值=产值（亿元）"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    summary = _summary(out)
    assert summary["title"] == "江苏产值" and summary["lang"] == "zh"
    lisa = pd.read_csv(out / "tables" / "lisa_chanzhi.csv", encoding="utf-8-sig", dtype=str)
    assert set(lisa["name"]) == set(js["name"]) and set(lisa["adcode"]) == set(frame["编号"])
    for kind in ("values_chanzhi", "lisa", "tiers", "lisa_linked_chanzhi"):
        page = (out / "maps" / f"{kind}.html").read_text(encoding="utf-8")
        assert all(name in page for name in js["name"]), kind  # tooltips and search
    page = (out / "maps" / "values_chanzhi.html").read_text(encoding="utf-8")
    head = re.search(r'"head":\{"name":\{"k":"s","v":(\[.*?\])', page)
    assert json.loads(head[1]) == js["name"].tolist()  # the search index: names, not ids
    assert "产值（亿元）" in page
    assert summary["autocorrelation"]["chanzhi"]["label"] == "产值（亿元）"


def test_a_study_file_runs_the_same_study_as_the_flags(columbus, tmp_path, capsys):
    toml = tmp_path / "study.toml"
    toml.write_text(
        f'title = "Columbus crime"\n[data]\ndata = "{columbus.as_posix()}"\n'
        '[values]\nvalue_cols = ["CRIME"]\n[methods]\npermutations = 99\nseed = 7\n'
        '[output]\nout = "from_file"\n',
        encoding="utf-8",
    )
    assert main(["--quiet", "run", str(toml)]) == 0, capsys.readouterr().err
    flags = tmp_path / "from_flags"
    assert main(["--quiet", "run", str(columbus), "--value-col", "CRIME", "--seed", "7",
                 "--permutations", "99", "--title", "Columbus crime", "--out",
                 str(flags)]) == 0  # fmt: skip
    a, b = _summary(tmp_path / "from_file"), _summary(flags)
    assert a["title"] == b["title"] == "Columbus crime"
    assert a["autocorrelation"] == b["autocorrelation"]
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "from_file" / "tables" / "lisa_crime.csv"),
        pd.read_csv(flags / "tables" / "lisa_crime.csv"),
    )


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"data": "x.csv", "colour": "red"}, "not a study field"),
        ({"recipe": "report2020", "data": "x.csv"}, "drop data="),
        ({}, "needs data="),
        ({"data": "x.csv", "tiers": "report"}, "report's cut points"),
        ({"data": "x.csv", "lang": "fr"}, "lang='fr'"),
        ({"data": "x.csv", "bivariate": ["A:A"]}, "with itself"),
        ({"data": "x.csv", "labels": ["GDP"]}, "COLUMN=TEXT"),
        ({"data": "x.csv", "k": 1}, "k=1 must be"),
        ({"data": "x.csv", "name_col": ["nm"]}, "name_col= must be text"),
        ({"data": "x.csv", "cdn": "no"}, "cdn= must be true or false"),
        ({"data": "x.csv", "permutations": 99.0}, "permutations= must be a whole"),
    ],
)
def test_a_bad_study_is_refused_before_any_work(fields, fragment, tmp_path):
    with pytest.raises(InputError, match=re.escape(fragment)):
        if "colour" in fields:
            toml = tmp_path / "s.toml"
            toml.write_text('data = "x.csv"\ncolour = "red"\n', encoding="utf-8")
            Study.from_file(toml)
        else:
            Study(**fields)


def test_a_bad_study_file_exits_2_with_one_line(tmp_path, capsys):
    toml = tmp_path / "s.toml"
    toml.write_text('data = "x.csv"\n[methods]\npermutation = 99\n', encoding="utf-8")
    assert main(["run", str(toml)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'permutation' is not a study field" in err[0]


def test_stages_say_why_they_did_not_run(columbus, tmp_path):
    study = Study(data=columbus, value_cols=("CRIME",), out=tmp_path / "o", permutations=99)
    summary = pipeline.run(study)
    assert summary["stages"]["dynamics"] == "skipped: one year: not a panel"
    assert summary["stages"]["bivariate"].startswith("skipped")
    assert set(summary["timings_s"]) == {k for k, v in summary["stages"].items() if v == "ran"}


def test_quantile_tiers_are_named_by_their_classification(columbus, tmp_path):
    out = tmp_path / "q"
    study = Study(data=columbus, value_cols=("CRIME",), tiers="quantiles", k=5, out=out,
                  permutations=99)  # fmt: skip
    summary = pipeline.run(study)
    assert summary["tiers"]["crime"]["tiers"] == "quantiles, k=5"
    geo = pd.read_csv(out / "tables" / "tiers_geography_crime.csv")
    assert geo["n"].tolist() == [10, 10, 9, 10, 10]  # 49 units in five equal-count classes
    page = (out / "maps" / "tiers.html").read_text(encoding="utf-8")
    assert "class (quantiles; 1 = highest)" in page and "梯队" not in page


def test_a_study_file_keeps_its_islands_and_sidedness(columbus, tmp_path, capsys):
    """Flags the user did not type never override the study file's fields."""
    toml = tmp_path / "s.toml"
    toml.write_text(
        f'data = "{columbus.as_posix()}"\nvalue_cols = ["CRIME"]\nislands = "drop"\n'
        f'sided = "folded"\npermutations = 99\nout = "o"\n',
        encoding="utf-8",
    )
    assert main(["--quiet", "run", str(toml)]) == 0, capsys.readouterr().err
    auto = _summary(tmp_path / "o")["autocorrelation"]["crime"]
    assert auto["p_sided"] == "folded" and auto["weights_report"]["islands"]["rule"] == "drop"


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--name-col", "名称"], "--name-col 名称 is not a column"),
        (["--label", "CRIMES=Crime"], "--label names ['CRIMES']"),
    ],
)
def test_a_typo_in_a_column_flag_is_refused(columbus, extra, fragment, tmp_path, capsys):
    code = main(["run", str(columbus), "--value-col", "CRIME", "--out", str(tmp_path / "o"),
                 "--permutations", "99", *extra])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and fragment in err[-1], err


def test_files_that_never_end_are_refused(tmp_path, capsys):
    """A study file or geometry file that is a device or a pipe: one line, no hang."""
    import os

    zero = tmp_path / "zero.toml"
    zero.symlink_to("/dev/zero")
    fifo = tmp_path / "fifo.geojson"
    os.mkfifo(fifo)
    for argv in (["run", str(zero)], ["run", str(fifo), "--out", str(tmp_path / "o")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "not a regular file" in err[0], err


def test_polygons_already_read_need_a_table(columbus):
    import geopandas as gpd

    frame = gpd.read_file(columbus).set_crs("EPSG:3857")
    with pytest.raises(InputError, match="needs data="):
        Study(geometry=frame, value_cols=("CRIME",))


def test_the_geometry_is_no_name(columbus, tmp_path, capsys):
    code = main(["run", str(columbus), "--value-col", "CRIME", "--name-col", "geometry",
                 "--out", str(tmp_path / "o"), "--permutations", "99"])  # fmt: skip
    assert code == 2 and "is the geometry" in capsys.readouterr().err


def test_a_table_already_read_runs_the_same_study_as_its_file(tmp_path):
    """``Study(data=frame)`` (Python, notebooks) is the file's study, the frame untouched."""
    from geotool.io import read_table

    path = Path(__file__).parents[1] / "examples" / "prefecture_top100_gbk.csv"
    frame = read_table(path)
    before = frame.copy()
    common = {"value_cols": ("工业百强县",), "level": "prefecture", "permutations": 99}
    stages = tuple(s for s in pipeline.STAGES if s.name in ("inputs", "autocorrelation"))
    by_file = pipeline.run(Study(data=path, out=tmp_path / "f", **common), stages=stages,
                           index=False)
    by_frame = pipeline.run(Study(data=frame, out=tmp_path / "t", **common), stages=stages,
                           index=False)
    pd.testing.assert_frame_equal(frame, before)
    def tables(run: str) -> list[str]:
        found = (tmp_path / run / "tables").glob("*.csv")
        return sorted(p.name for p in found if p.name != "match_report.csv")

    names = tables("f")
    assert names == tables("t")
    assert "global_gongyebaiqiangxian.csv" in names and "lisa_gongyebaiqiangxian.csv" in names
    for name in names:
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "f" / "tables" / name),
                                      pd.read_csv(tmp_path / "t" / "tables" / name))  # fmt: skip
    assert by_frame["stages"] == by_file["stages"]
    assert pipeline.prepare(Study(data=frame, out=None, **common)).title.startswith("数据表：")


def test_a_geodataframe_as_data_is_refused_by_name():
    units = boundaries.load("province")
    with pytest.raises(InputError, match=r"^data= is a GeoDataFrame: pass its polygons as geo"):
        Study(data=units)


def test_the_fields_choices_are_their_owners():
    """A field's choices (the CLI's too) are those the module that uses them accepts."""
    import dataclasses

    from geotool import composite, datum, regress, transform

    choices = {f.name: f.metadata.get("choices") for f in dataclasses.fields(Study)}
    assert set(choices["index_method"]) == set(composite.METHODS)
    assert choices["normalise"] == composite.NORMALISATIONS
    assert choices["aggregate"] == composite.AGGREGATIONS
    assert choices["model_kind"] == (*regress.KINDS, *regress.PANEL_KINDS)
    assert choices["model_method"] == regress.METHODS
    assert choices["datum"] == datum.DATUMS
    assert set(choices["transform"]) <= set(transform.TRANSFORMS)
    assert set(choices["smooth"]) == set(transform.SMOOTHERS)
    with pytest.raises(InputError, match=re.escape("model_kind='probit' is not one of")):
        Study(data="x.csv", model="y ~ x", model_kind="probit")


@pytest.mark.parametrize("dpi", [29, 1201, 2400])
def test_dpi_is_refused_by_the_one_range_the_figures_draw(dpi):
    """The study's check and the figures' agree: 30 to 1200 (they said 2-2400 and 30-1200)."""
    with pytest.raises(InputError, match=r"^dpi=\d+ must be a whole number from 30 to 1200\.$"):
        Study(dpi=dpi)


def test_the_index_heads_each_variables_tiers_with_its_label(tmp_path):
    """Her label (--label COL=TEXT), not the variable's file key (a pinyin slug for Chinese)."""
    import libpysal

    from geotool import pipeline

    out = tmp_path / "o"
    columbus = libpysal.examples.get_path("columbus.shp")
    pipeline.run(Study(data=columbus, value_cols=("CRIME",), labels={"CRIME": "犯罪率 (per 1,000)"},
                       permutations=0, out=out))  # fmt: skip
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "<h3>犯罪率 (per 1,000) <small>" in index
    assert "<h3>crime <small>" not in index


def test_a_dimension_naming_no_indicator_is_refused_by_name():
    data = get_path("columbus.shp")
    with pytest.raises(InputError, match=r"dimensions: 'a' lists 'b=CRIME', which is not one"):
        Study(data=data, indicators=("CRIME", "INC"), dimensions="a=b=CRIME")
    with pytest.raises(InputError, match=r"'x' lists 'HOVAL'"):
        Study(data=data, indicators=("CRIME", "INC"), dimensions={"x": ["HOVAL"]})
    ok = Study(data=data, indicators=("CRIME", "INC"), dimensions="a=CRIME;b=INC")
    assert ok.dimensions == {"a": ("CRIME",), "b": ("INC",)}


def test_a_study_file_s_bad_value_is_named_by_its_key(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text(f'data = "{get_path("columbus.shp")}"\nlang = "fr"\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"^s\.toml: key 'lang' = 'fr' is not one of"):
        Study.from_file(toml)
    toml.write_text(f'data = "{get_path("columbus.shp")}"\nalpha = 2\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"^s\.toml: key 'alpha' = 2: a significance level"):
        Study.from_file(toml)


def test_a_study_file_in_gbk_or_missing_says_what_to_do(tmp_path):
    """Saved from Notepad in GBK it said "'utf-8' codec can't decode byte 0xd2"; a path to
    nothing said "is not a regular file"."""
    gbk = tmp_path / "study.toml"
    gbk.write_bytes('title = "江苏各县"\n[data]\ndata = "t.csv"\n'.encode("gbk"))
    with pytest.raises(InputError, match=r"not UTF-8 text \(saved as GBK\?\); save it as UTF-8"):
        Study.from_file(gbk)
    with pytest.raises(InputError, match=r"There is no study file at .*nothing.toml; check"):
        Study.from_file(tmp_path / "nothing.toml")
