"""geotool run --data: a user's own table, with the match report and clear errors."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from geotool.report import rankings

from .conftest import ROOT
from .test_cli import run_main

EXAMPLE = ROOT / "examples" / "innovation_scores_gbk.csv"


def _table():
    t = rankings.load("innovation_counties")
    return pd.DataFrame(
        {
            "省份": t["province"],
            "地级市": t["prefecture"],
            "县（市）": t["name"],
            "创新得分": 101 - t["rank"],
        }
    )


def test_gbk_table_with_misspelt_renamed_and_ambiguous_names(tmp_path):
    df = _table()
    original = df.copy()
    df.loc[1, "县（市）"] = "江阳市"  # misspelt 江阴市
    df.loc[5, ["省份", "地级市", "县（市）"]] = [None, None, "朝阳区"]  # ambiguous without context
    df.loc[7, ["省份", "地级市", "县（市）"]] = ["福建", "漳州市", "龙海市"]  # renamed in 2021
    data = tmp_path / "mine.csv"
    df.to_csv(data, index=False, encoding="gbk")
    out = tmp_path / "out"
    proc = run_main("run", "--data", str(data), "--out", str(out), "--permutations", "99")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "1 unmatched, 1 ambiguous" in last and "match_report.csv" in last
    # a failed run leaves the output folder alone; the error names where the report is
    failed_report = Path(re.search(r"(\S+match_report\.csv)", last)[1])
    assert not out.exists()
    report = pd.read_csv(failed_report, encoding="utf-8-sig", dtype=str)
    assert len(report) == 100  # every row, nothing dropped
    row = report.set_index("line")  # lines of the file: data row i is line i + 2
    assert row.loc["3", "match_status"] == "unmatched"
    assert "江阴市" in row.loc["3", "match_candidates"]
    assert row.loc["7", "match_status"] == "ambiguous"
    assert (row.loc["9", "adcode"], row.loc["9", "match_method"]) == ("350604", "crosswalk")
    # fixing the names lets the run finish
    df.loc[1, "县（市）"] = "江阴市"
    df.loc[5] = original.loc[5]
    df.to_csv(data, index=False, encoding="gbk")
    proc = run_main("run", "--data", str(data), "--out", str(out), "--permutations", "99",
                    "--quiet")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["input"]["encoding"] == "gb18030" and summary["match"] == {"matched": 100}
    auto = summary["autocorrelation"]
    assert list(auto) == ["chuangxindefen"]  # 创新得分 in pinyin: a file-name-safe key
    assert auto["chuangxindefen"]["default_weights"] == "queen"
    assert auto["chuangxindefen"]["moran_i"]["queen"]["value"] > 0.3
    for name in ("values_chuangxindefen", "lisa", "tiers", "clusters"):
        assert (out / "maps" / f"{name}.html").exists(), name
    assert (out / "index.html").exists()
    for name in ("global_chuangxindefen", "lisa_chuangxindefen"):
        assert (out / "tables" / f"{name}.csv").exists(), name
    report = pd.read_csv(out / "tables" / "match_report.csv", encoding="utf-8-sig", dtype=str)
    assert len(report) == 100 and (report["match_status"] == "matched").all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("duplicate", "more than once"),
        ("non_numeric", "not numbers (e.g. 'n.a.' at line 5)"),
        ("marked_missing", "are missing at line 5; fill them in"),  # n/a: missing, not text
    ],
)
def test_bad_user_tables(tmp_path, change, message):
    df = _table()
    if change == "duplicate":
        df.loc[4] = df.loc[0]
    else:
        df["创新得分"] = df["创新得分"].astype(object)
        df.loc[3, "创新得分"] = "n.a." if change == "non_numeric" else "n/a"
    data = tmp_path / "t.csv"
    df.to_csv(data, index=False, encoding="utf-8-sig")
    proc = run_main(
        "run", "--data", str(data), "--out", str(tmp_path / "o"), "--permutations", "99"
    )
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_empty_file_and_missing_value_column(tmp_path):
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    proc = run_main("run", "--data", str(empty), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "is empty" in proc.stderr
    proc = run_main(
        "run", "--data", str(EXAMPLE), "--value-col", "GDP", "--out", str(tmp_path / "o")
    )
    assert proc.returncode == 2 and "--value-col GDP is not a column" in proc.stderr


def test_excel_sheet_and_years(tmp_path):
    df = _table()
    later = df.copy()
    later["创新得分"] = later["创新得分"][::-1].to_numpy()
    both = pd.concat([df.assign(年份=2019), later.assign(年份=2020)], ignore_index=True)
    book = tmp_path / "scores.xlsx"
    with pd.ExcelWriter(book) as xw:
        pd.DataFrame({"x": [1]}).to_excel(xw, sheet_name="notes", index=False)
        both.to_excel(xw, sheet_name="scores", index=False)
    proc = run_main(
        "run",
        "--data",
        str(book),
        "--sheet",
        "scores",
        "--value-col",
        "创新得分",
        "--year-col",
        "年份",
        "--out",
        str(tmp_path / "o"),
        "--permutations",
        "99",
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text(encoding="utf-8"))
    assert summary["input"]["year_col"] == "年份"


def test_the_bundled_example_runs(tmp_path):
    proc = run_main("run", "--data", str(EXAMPLE), "--out", str(tmp_path), "--permutations", "99")
    assert proc.returncode == 0, proc.stderr
