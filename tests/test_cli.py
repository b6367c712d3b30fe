import json
import subprocess
import sys

from geotool.cli import main


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "geotool.cli", *args], capture_output=True, text=True, check=False
    )


def test_check_report_json_exit_zero(capsys):
    assert main(["--quiet", "check-report", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["ok"] is True and len(payload["figures"]) > 100


def test_match_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("value\n1\n", encoding="utf-8")
    proc = run_cli("match", str(bad), "--out", str(tmp_path / "r.csv"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("geotool: error: No unit-name")


def test_match_writes_every_row_and_fails_on_unmatched(tmp_path):
    data = tmp_path / "t.csv"
    data.write_bytes("省,县,值\n江苏,江阴市,1\n,朝阳区,2\n江苏,江阳市,3\n".encode("gbk"))
    report = tmp_path / "report.csv"
    proc = run_cli("match", str(data), "--out", str(report))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--max-unmatched" in proc.stderr
    text = report.read_text(encoding="utf-8-sig")
    assert text.count("\n") == 4  # header + every row
    assert "ambiguous" in text and "unmatched" in text
    ok = run_cli("match", str(data), "--out", str(report), "--max-unmatched", "0.7")
    assert ok.returncode == 0


def test_run_writes_summary(tmp_path):
    assert main(["--quiet", "run", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["check_report"]["ok"]
    assert summary["universe_sizes"]["industrial_counties"] == 1861
    assert (tmp_path / "tables" / "rankings.csv").exists()
    assert not list(tmp_path.rglob("*.tmp"))


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
    proc = run_cli("autocorr", "--weights", "hexagons", "--out", str(tmp_path))
    assert proc.returncode == 2 and "Unknown weights spec" in proc.stderr
    assert "Traceback" not in proc.stderr
    data = tmp_path / "mine.csv"
    data.write_text("县,值\n江阴市,1\n昆山市,abc\n张家港市,3\n", encoding="utf-8")
    proc = run_cli("autocorr", "--data", str(data), "--value-col", "值", "--out", str(tmp_path))
    assert (
        proc.returncode == 2 and "not numbers" in proc.stderr and "'abc' at line 3" in proc.stderr
    )
    data.write_text("县,值\n江阴市,1\n昆山市,2\n张家港市,3\n常熟市,3\n太仓市,5\n", encoding="utf-8")
    proc = run_cli(
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
    proc = run_cli("autocorr", "--data", str(data), "--value-col", "值", "--out", str(tmp_path))
    assert proc.returncode == 2 and "at least 3" in proc.stderr


def test_run_summary_has_autocorrelation_and_is_deterministic(tmp_path):
    assert main(["--quiet", "run", "--out", str(tmp_path), "--permutations", "99"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    mine = tmp_path / "mine.txt"
    mine.write_text("a file the run did not write", encoding="utf-8")
    again_dir = tmp_path / "again"
    assert main(["--quiet", "run", "--out", str(again_dir), "--permutations", "99"]) == 0
    again = json.loads((again_dir / "summary.json").read_text(encoding="utf-8"))
    summary.pop("timings_s"), again.pop("timings_s")
    assert summary == again  # same seed, same numbers
    assert main(["--quiet", "run", "--out", str(tmp_path), "--permutations", "99"]) == 0
    assert mine.exists()  # a run never deletes files it did not write
    auto = summary["autocorrelation"]
    assert set(auto["industrial_counties"]["moran_i"]) == {
        "queen",
        "rook",
        "knn:6",
        "distance:100km",
    }
    assert (tmp_path / "figures" / "moran_scatter_industrial_counties.png").stat().st_size > 10_000


def test_run_summary_agrees_with_check_report(tmp_path):
    from geotool import clusters
    from geotool.report import check_report, rankings

    assert (
        main(
            [
                "--quiet",
                "run",
                "--out",
                str(tmp_path),
                "--permutations",
                "99",
                "--weights",
                "knn:6",
                "--set",
                "plans",
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    table = check_report()
    assert summary["check_report"]["status_counts"] == table["status"].value_counts().to_dict()
    top = rankings.load("industrial_counties")
    counts = clusters.ranking_counts("report2020", top).set_index("cluster_id")["count"].to_dict()
    assert summary["clusters"]["report2020"]["counts"] == counts
    auto = summary["autocorrelation"]["industrial_counties"]
    assert auto["default_weights"] == "knn:6"
    assert "城市群" in (tmp_path / "maps" / "clusters.html").read_text(encoding="utf-8")


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
