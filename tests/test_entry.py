"""One entry: every analysing command builds one Study and runs it through pipeline.run.

A spy replaces :func:`geotool.pipeline.run` and stops the command there (fast: nothing is
computed), recording the study and the stages it was given. A second pass lets small
runs through to check that the stages do the command's work.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from libpysal import examples

from geotool import pipeline
from geotool.cli import main
from geotool.study import Study

COLUMBUS = str(Path(examples.get_path("columbus.shp")))
USER = ["--id-col", "POLYID", "--value-col", "CRIME"]


class _ReachedError(Exception):
    """Raised by the spy: the command got to pipeline.run."""


@pytest.fixture
def spy(monkeypatch):
    calls = []

    def run(study, **options):
        calls.append((study, options))
        raise _ReachedError

    monkeypatch.setattr(pipeline, "run", run)
    return calls


#: Each command, and the stages it hands to pipeline.run (``None``: every study's).
COMMANDS = {
    "run_user": (["run", COLUMBUS, *USER], None),
    "run_report": (["run"], ["check-report", *(s.name for s in pipeline.STAGES)]),
    "check_report": (["check-report"], ["check-report"]),
    "autocorr": (["autocorr"], ["autocorr"]),
    "autocorr_user": (["autocorr", "--geometry", COLUMBUS, *USER], ["autocorr"]),
    "tiers": (["tiers"], ["tiers"]),
    "tiers_user": (["tiers", "--data", COLUMBUS, "--id-col", "POLYID", "--score", "CRIME"],
                   ["tiers"]),
    "clusters": (["clusters"], ["clusters"]),
    "map": (["map", "lisa"], ["map"]),
    "map_user": (["map", "--data", COLUMBUS, *USER], ["map"]),
    "match": (["match", COLUMBUS], ["match"]),
    "batch": (["batch", COLUMBUS, "--level", "province"], ["batch"]),
    "index": (["index", COLUMBUS, "--id-col", "POLYID", "--indicators", "INC,HOVAL,CRIME",
               "--direction", "CRIME:-"], None),
    "regress": (["regress", COLUMBUS, "--id-col", "POLYID", "--model", "CRIME ~ INC + HOVAL"],
                ["regression", "index"]),
}  # fmt: skip


def test_every_analysing_command_is_spied_on():
    from geotool import cli

    commands = {name.partition(" ")[0] for name, *_ in cli._SUBCOMMANDS} - {"boundaries"}
    assert commands == {name.split("_")[0].replace("check", "check-report") for name in COMMANDS}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_runs_one_study_through_the_pipeline(name, spy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default outputs land here, if any
    argv, stages = COMMANDS[name]
    out = ["--out", str(tmp_path / ("out.html" if name.startswith("map") else "out"))]
    if name.startswith(("check", "clusters")):
        out = []
    with pytest.raises(_ReachedError):
        main(["--debug", "--quiet", *argv, *out])
    assert len(spy) == 1  # one study, one run
    study, options = spy[0]
    assert isinstance(study, Study)
    given = options.get("stages", pipeline.STAGES)
    assert [s.name for s in given] == (stages or [s.name for s in pipeline.STAGES])
    user = name.endswith("_user") or name in ("match", "batch", "index", "regress")
    assert (study.recipe is None) == user


def test_the_stages_do_the_commands_work(tmp_path, monkeypatch, capsys):
    """Let small runs through: the command's tables come from its stage."""
    ran = []
    real = pipeline.run

    def passing(study, **options):
        ran.append([s.name for s in options.get("stages", pipeline.STAGES)])
        return real(study, **options)

    monkeypatch.setattr(pipeline, "run", passing)
    out = tmp_path / "ac"
    argv = ["--quiet", "autocorr", "--geometry", COLUMBUS, *USER, "--weights", "knn:4",
            "--permutations", "99", "--out", str(out), "--json"]  # fmt: skip
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert Path(payload["local_table"]) == out / "lisa_columbus_CRIME_knn4.csv"
    assert (out / "match_report.csv").exists()
    page = tmp_path / "m.html"
    assert main(["--quiet", "map", "--geometry", COLUMBUS, *USER, "--out", str(page)]) == 0
    assert page.stat().st_size > 10_000
    assert ran == [["autocorr"], ["map"]]


def test_batch_run_in_python_builds_one_study_through_the_pipeline(spy):
    """``geotool.batch.run`` is the CLI's batch stage on a Study of the table."""
    import pandas as pd

    from geotool import batch

    table = pd.DataFrame({"adcode": [110000, 120000], "x": [1.0, 2.0]})
    with pytest.raises(_ReachedError):
        batch.run(table, "province", permutations=99, seed=7, alpha=0.1)
    (study, options), = spy
    assert study.data is table and study.out is None
    assert (study.permutations, study.seed, study.alpha) == (99, 7, 0.1)
    assert [s.name for s in options["stages"]] == ["batch"]


def test_batch_run_in_python_and_the_cli_give_the_same_rows(tmp_path):
    """The API and ``geotool batch`` reach the same engine with the same study fields."""
    import pandas as pd

    from geotool import batch, boundaries

    units = boundaries.load("province")
    table = pd.DataFrame({"adcode": units.index, "x": units.geometry.bounds["minx"].to_numpy()})
    table.to_csv(tmp_path / "t.csv", index=False)
    api = batch.run(table, "province", permutations=99, seed=3, weights=["queen", "knn:4"])
    argv = ["--quiet", "batch", str(tmp_path / "t.csv"), "--level", "province", "--id-col",
            "adcode", "--permutations", "99", "--seed", "3", "--weights", "queen,knn:4",
            "--out", str(tmp_path / "b")]  # fmt: skip
    assert main(argv) == 0
    cli = pd.read_csv(tmp_path / "b" / "batch.csv")
    assert len(api) == len(cli) == 4 and (api["status"] == "ok").all()
    cols = ["value", "p_sim", "high_high", "low_low"]
    pd.testing.assert_frame_equal(
        api[cols].astype(float).reset_index(drop=True), cli[cols].astype(float), check_exact=True
    )
