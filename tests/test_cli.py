import contextlib
import io
import json
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from geotool.cli import main


def run_cli(*args):
    """``geotool ARGS`` in a new interpreter: for what is about the process itself."""
    return subprocess.run(
        [sys.executable, "-m", "geotool.cli", *args], capture_output=True, text=True, check=False
    )


def run_main(*args: str) -> subprocess.CompletedProcess:
    """``geotool ARGS`` in this process, seen as :func:`run_cli` sees it (exit status,
    stdout, stderr with the command's own log lines) without an interpreter's start."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers = []  # main's logging.basicConfig sets up stderr as the console does
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code
    finally:
        root.handlers = handlers
        root.setLevel(level)
    return subprocess.CompletedProcess(["geotool", *args], code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    """One ``geotool run`` of the report with options (99 permutations: the checks below
    are not about p-value resolution): its folder and summary, shared by the tests here."""
    out = tmp_path_factory.mktemp("report_run")
    args = ["--quiet", "run", "--out", str(out), "--permutations", "99",
            "--weights", "knn:6", "--set", "plans"]  # fmt: skip
    assert main(args) == 0
    return out, json.loads((out / "summary.json").read_text(encoding="utf-8")), args


def test_check_report_json_exit_zero(capsys):
    assert main(["--quiet", "check-report", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["ok"] is True and len(payload["figures"]) > 100


def test_match_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("value\n1\n", encoding="utf-8")
    proc = run_main("match", str(bad), "--out", str(tmp_path / "r.csv"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("geotool: error: No unit-name")


def test_match_writes_every_row_and_fails_on_unmatched(tmp_path):
    data = tmp_path / "t.csv"
    data.write_bytes("省,县,值\n江苏,江阴市,1\n,朝阳区,2\n江苏,江阳市,3\n".encode("gbk"))
    report = tmp_path / "report.csv"
    proc = run_main("match", str(data), "--out", str(report))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--max-unmatched" in proc.stderr
    text = report.read_text(encoding="utf-8-sig")
    assert text.count("\n") == 4  # header + every row
    assert "ambiguous" in text and "unmatched" in text
    ok = run_main("match", str(data), "--out", str(report), "--max-unmatched", "0.7")
    assert ok.returncode == 0


def test_match_sets_aside_the_rows_run_sets_aside(tmp_path):
    """A blank row, 合计 and a source note are no unit: ``geotool match`` marks them as
    ``run`` does (it called them unmatched and refused the table)."""
    data = tmp_path / "t.csv"
    data.write_text("县区,值\n江阴市,1\n宜兴市,2\n,\n合计,3\n资料来源：统计年鉴,\n")
    report = tmp_path / "report.csv"
    proc = run_main("match", str(data), "--out", str(report))
    assert proc.returncode == 0, proc.stderr
    statuses = pd.read_csv(report)["match_status"].tolist()
    assert statuses == ["matched", "matched", "blank", "total", "total"]


def test_run_writes_summary(report_run):
    out, summary, _ = report_run
    assert summary["check_report"]["ok"]
    assert summary["universe_sizes"]["industrial_counties"] == 1861
    assert (out / "tables" / "rankings.csv").exists()
    assert not list(out.rglob("*.tmp"))


def test_autocorr_cli_prints_statistics_and_writes_the_local_table(tmp_path, capsys):
    code = main(
        [
            "--quiet",
            "autocorr",
            "--ranking",
            "industrial_counties",
            "--permutations",
            "99",
            "--out",
            str(tmp_path),
            "--json",
        ]
    )
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    moran = next(r for r in payload["global"] if r["statistic"] == "moran_i")
    assert moran["value"] > 0.4 and moran["permutations"] == 99
    assert sum(payload["lisa_counts"].values()) == 1861
    assert (tmp_path / "lisa_industrial_counties_score_queen.csv").exists()


def test_autocorr_cli_bad_weights_and_user_data(tmp_path):
    proc = run_main("autocorr", "--weights", "hexagons", "--out", str(tmp_path))
    assert proc.returncode == 2 and "Unknown weights spec" in proc.stderr
    assert "Traceback" not in proc.stderr
    data = tmp_path / "mine.csv"
    data.write_text("县,值\n江阴市,1\n昆山市,abc\n张家港市,3\n", encoding="utf-8")
    proc = run_main("autocorr", "--data", str(data), "--value-col", "值", "--out", str(tmp_path))
    assert (
        proc.returncode == 2 and "not numbers" in proc.stderr and "'abc' at line 3" in proc.stderr
    )
    data.write_text("县,值\n江阴市,1\n昆山市,2\n张家港市,3\n常熟市,3\n太仓市,5\n", encoding="utf-8")
    proc = run_main(
        "autocorr",
        "--data",
        str(data),
        "--value-col",
        "值",
        "--permutations",
        "99",
        "--weights",
        "knn:2",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    assert "moran_i" in proc.stdout
    # fewer than 3 units is refused
    data.write_text("县,值\n江阴市,1\n昆山市,2\n", encoding="utf-8")
    proc = run_main("autocorr", "--data", str(data), "--value-col", "值", "--out", str(tmp_path))
    assert proc.returncode == 2 and "at least 3" in proc.stderr


def test_run_summary_has_autocorrelation_and_is_deterministic(report_run, tmp_path):
    out, summary, args = report_run
    again_dir = tmp_path / "again"
    shutil.copytree(out, again_dir)  # the published run, and a file the run did not write
    mine = again_dir / "mine.txt"
    mine.write_text("a file the run did not write", encoding="utf-8")
    before = (again_dir / "summary.json").stat().st_ino
    assert main([str(again_dir) if a == str(out) else a for a in args]) == 0
    assert (again_dir / "summary.json").stat().st_ino != before  # published anew
    again = json.loads((again_dir / "summary.json").read_text(encoding="utf-8"))
    first = {k: v for k, v in summary.items() if k != "timings_s"}
    assert first == {k: v for k, v in again.items() if k != "timings_s"}  # same seed, numbers
    assert mine.exists()  # a run never deletes files it did not write
    auto = summary["autocorrelation"]
    assert set(auto["industrial_counties"]["moran_i"]) == {
        "queen",
        "rook",
        "knn:6",
        "distance:100km",
    }
    assert (out / "figures" / "moran_scatter_industrial_counties.png").stat().st_size > 10_000


def test_run_summary_agrees_with_check_report(report_run):
    from geotool import clusters
    from geotool.report import check_report, rankings

    out, summary, _ = report_run
    table = check_report()
    assert summary["check_report"]["status_counts"] == table["status"].value_counts().to_dict()
    top = rankings.load("industrial_counties")
    counts = clusters.ranking_counts("report2020", top).set_index("cluster_id")["count"].to_dict()
    assert summary["clusters"]["report2020"]["counts"] == counts
    auto = summary["autocorrelation"]["industrial_counties"]
    assert auto["default_weights"] == "knn:6"
    assert "城市群" in (out / "maps" / "clusters.html").read_text(encoding="utf-8")


def test_the_console_command_flushes_everything_before_its_prompt_exit(tmp_path):
    """`geotool` leaves with os._exit (no slow teardown): output piped elsewhere is whole,
    and the exit status is main()'s."""
    proc = run_cli("check-report", "--json")
    assert proc.returncode == 0
    report = json.loads(proc.stdout)  # the whole document, not a truncated buffer
    assert report["ok"] is True and len(report["figures"]) > 100
    proc = run_cli("run", "--data", str(tmp_path / "none.csv"))
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("check the path.")
    assert "Traceback" not in proc.stderr


def test_an_empty_output_path_is_refused_not_taken_for_the_current_folder(tmp_path):
    """``--out ""`` was ``Path("")``, the current folder: a run wrote its tables there."""
    for command in (["run"], ["batch", "table.csv"], ["map"]):
        proc = subprocess.run(
            [sys.executable, "-m", "geotool.cli", *command, "--out", ""],
            capture_output=True, text=True, cwd=tmp_path, check=False,
        )  # fmt: skip
        assert proc.returncode == 2
        assert "argument --out: an empty path names nothing" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_panel_map_says_which_year_it_shows(tmp_path):
    """A long table maps its latest year: the title says so."""
    rows = [("苏州市", y, v) for y, v in ((2019, 1.0), (2020, 2.0))]
    rows += [("无锡市", y, v) for y, v in ((2019, 3.0), (2020, 5.0))]
    rows += [("常州市", y, v) for y, v in ((2019, 4.0), (2020, 6.0))]
    table = tmp_path / "panel.csv"
    table.write_text(
        "城市,年份,GDP\n" + "".join(f"{n},{y},{v}\n" for n, y, v in rows), encoding="utf-8"
    )
    out = tmp_path / "map.html"
    assert main(["--quiet", "map", "--data", str(table), "--year-col", "年份",
                 "--value-col", "GDP", "--out", str(out)]) == 0  # fmt: skip
    assert "panel: GDP (2020)" in out.read_text(encoding="utf-8")


def test_a_panel_run_says_each_console_line_once(tmp_path):
    """Stages that share weights (autocorrelation, dynamics) say each finding once."""
    import screenshots  # tools/ (on sys.path in conftest)

    args = " ".join(screenshots.studies(tmp_path, quick=True)["panel"])
    proc = run_main("run", *args.replace("--figures png", "").split(), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == len(set(lines)), [x for x in lines if lines.count(x) > 1]
    said = [x for x in lines if "have no neighbour among its units" in x]
    assert len(said) == 1 and "--islands nearest" in said[0] and "islands=" not in said[0]
    assert sum("queen weights: 367 units" in x for x in lines) == 1


def test_a_users_table_run_says_each_finding_once_across_log_and_recap(shared_run):
    """The match's reason and a skipped stage's reason: once in all the run prints."""
    run = shared_run("prefecture_gbk")  # 省份 and 城市 named, --all-numeric
    assert run.returncode == 0, run.stderr
    said = run.stderr + run.stdout
    assert said.count("distinct names are prefecture-level units") == 1, said
    assert said.count("367 rows of 367 matched at level prefecture") == 1, said
    for column in ("工业百强县", "工业百强区", "创新百强县"):  # counts: Theil needs positive values
        assert said.count(f"divergence of {column}: skipped") == 1, said
    assert said.count("value(s) are zero or negative") == 3, said  # not again in the recap


def test_every_study_field_with_an_option_is_a_flag_of_run():
    """``geotool run --help`` lists each study field's option, spelt and typed as the field."""
    import dataclasses

    from geotool.cli import _parser
    from geotool.study import Study

    proc = run_main("run", "--help")
    flags = {
        f.metadata.get("flag") or f.name.replace("_", "-")
        for f in dataclasses.fields(Study) if f.metadata.get("help")
    }  # fmt: skip
    assert len(flags) > 50
    for flag in flags:
        assert re.search(rf"(?<![\w-])-{{1,2}}{re.escape(flag)}(?![\w-])", proc.stdout), flag
    args = _parser().parse_args(["run", "--sided", "two", "--permutations", "99", "-k", "5",
                                 "--label", "A=a", "--label", "B=b", "--cdn"])  # fmt: skip
    assert (args.sided, args.permutations, args.k, args.labels, args.cdn) == (
        "two-sided", 99, 5, ["A=a", "B=b"], True)
    assert args.seed is None  # untyped: a study file's own stays


@pytest.mark.parametrize(
    ("argv", "said", "unsaid"),
    [  # a command's own spelling of a study field, in its one-line error
        (["index", "--indicators", "INC,HOVAL", "--method", "ahp"], "--method ahp needs --ahp",
         "index_method"),
        (["regress", "--model", "CRIME ~ INC", "--kind", "lag", "--regimes", "groups"],
         "--regimes groups needs the study's groups (--groups", "model_regimes"),
        (["run", "--model", "y x"], "--model 'y x' must read", "model="),
        (["tiers", "--score", "NOPE"], "--score NOPE is not a column", "value_col"),
        (["autocorr", "--value-col", "CRIME", "--bivariate", "innovation_counties"],
         "--bivariate innovation_counties is a ranking of the report's counties, and --data",
         "data="),
    ],
)
def test_errors_name_the_commands_own_flags(argv, said, unsaid, tmp_path):
    from libpysal import examples

    columbus = examples.get_path("columbus.shp")
    command, *rest = argv
    data = ["--data", columbus] if command in ("tiers", "autocorr") else [columbus]
    proc = run_main(command, *data, "--id-col", "POLYID", "--out", str(tmp_path / "o"),
                    "--permutations", "99", *rest)  # fmt: skip
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and said in err[-1] and unsaid not in err[-1], err


def test_a_stage_line_keeps_its_name_and_an_error_names_its_flag():
    from geotool.cli import _as_flags

    line = "tiers: composition, geography, diffusion, gradient ..."
    assert _as_flags(line) == line  # the stage's progress line, not the --tiers flag
    said = _as_flags("model: 'y x' must read 'y ~ x1 + x2'", error=True)
    assert said.startswith("--model: 'y x'")
    users = "a column <img onerror=document.title=x> is not one; pass title= or value_col=."
    assert _as_flags(users) == (
        "a column <img onerror=document.title=x> is not one; pass --title or --value-col."
    )  # the user's text (document.title=) stays as written


def test_terminal_controls_in_a_users_column_name_are_printed_as_escapes(tmp_path):
    """A header holding ESC ] 0 ; ... BEL (a window title) or a screen clear is shown, not run."""
    table = pd.read_csv(Path(__file__).parents[1] / "examples" / "prefecture_top100_gbk.csv",
                        encoding="gbk")  # fmt: skip
    column = "工业\x1b]0;PWNED\x07\x1b[2J百强县"
    table.rename(columns={"工业百强县": column}).to_csv(tmp_path / "t.csv", index=False)
    proc = run_cli("autocorr", "--data", str(tmp_path / "t.csv"), "--value-col", column,
                   "--permutations", "0", "--out", str(tmp_path / "o"))  # fmt: skip
    said = proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in said and "\x07" not in said
    assert "工业\\x1b]0;PWNED\\x07\\x1b[2J百强县" in said


def test_out_naming_the_current_folder_or_a_parent_is_refused(tmp_path):
    """Publishing renames the folder aside: a shell (or a notebook) working in it would lose it."""
    here = tmp_path / "work"
    here.mkdir()
    (here / "notes.txt").write_text("mine", encoding="utf-8")
    for given in (str(here), "../work", str(tmp_path), "."):
        proc = subprocess.run(
            [sys.executable, "-m", "geotool.cli", "run", "--out", given, "--permutations", "0"],
            cwd=here, capture_output=True, text=True, check=False,
        )  # fmt: skip
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, (given, lines)
        assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in here.iterdir()) == ["notes.txt"]
    assert (here / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_a_run_says_how_many_rows_it_set_aside_and_where_they_are(tmp_path):
    """Rows not used are never dropped in silence: the console names their count and file."""
    table = pd.read_csv(Path(__file__).parents[1] / "examples" / "prefecture_top100_gbk.csv",
                        encoding="gbk")  # fmt: skip
    table.loc[:2, "城市"] = ["不存在市", "乱码市", "无此地"]
    table.to_csv(tmp_path / "t.csv", index=False, encoding="gbk")
    out = tmp_path / "o"
    proc = run_main("autocorr", "--data", str(tmp_path / "t.csv"), "--value-col", "工业百强县",
                    "--max-unmatched", "0.1", "--permutations", "0", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert ("364 rows of 367 matched at level prefecture; the other 3 row(s) are listed with "
            "their status in match_report.csv in the output folder") in proc.stderr
    report = pd.read_csv(out / "match_report.csv", encoding="utf-8-sig")
    assert (report["match_status"] != "matched").sum() == 3


def test_autocorr_on_a_panel_says_the_year_it_analyses_in_console_and_tables(tmp_path):
    import screenshots  # tools/ (on sys.path in conftest): a 2019-2021 prefecture panel

    panel = screenshots.write_panel(tmp_path / "panel.csv")
    out = tmp_path / "o"
    proc = run_main("autocorr", "--data", str(panel), "--value-col", "score",
                    "--permutations", "0", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "panel: score (2021), " in proc.stdout
    (table,) = out.glob("lisa_*.csv")
    lisa = pd.read_csv(table, encoding="utf-8-sig", dtype={"adcode": str})
    assert (lisa["year"] == 2021).all()
    latest = pd.read_csv(panel).query("year == 2021")["score"]  # every prefecture once a year
    assert sorted(lisa["value"]) == pytest.approx(sorted(latest))
