"""tools/screenshots.py: its checker passes a Columbus and a report run and fails broken copies."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import screenshots  # tools/ (on sys.path in conftest)
from screenshots import Violation, check_page, check_run

FAST = ["--figures", "png", "--permutations", "99", "--dpi", "50"]


@pytest.fixture(scope="module")
def columbus_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("columbus") / "run"
    return screenshots.run_study([screenshots.columbus(), "--value-col", "CRIME", *FAST], out)


@pytest.fixture(scope="module")
def report_run(shared_run) -> Path:
    """conftest's English report run, made by ``screenshots.run_study`` (png figures, marks)."""
    run = shared_run("report_en")
    assert run.returncode == 0, run.stderr[-2000:]
    return run.out


def _marks(run: Path) -> dict[str, dict]:
    return json.loads((run / screenshots.MARKS).read_text(encoding="utf-8"))


def test_columbus_run_breaks_no_rule(columbus_run: Path) -> None:
    pages = list(columbus_run.rglob("*.html"))
    maps = [m for m in _marks(columbus_run).values() if "scope" in m]
    assert len(pages) >= 3 and maps  # the rules had pages and maps to check
    assert {m["scope"] for m in maps} == {"outside"}
    assert all(m["inset_box"] is None for m in maps)
    assert check_run(columbus_run) == []


def test_report_run_breaks_no_rule(report_run: Path) -> None:
    marks = _marks(report_run)
    national = [m for m in marks.values() if m.get("scope") == "national"]
    assert national and all(m["inset_box"] is not None for m in national)
    assert len(list(report_run.rglob("*.html"))) >= 10
    assert check_run(report_run) == []


def _copy(run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


def _page(run: Path) -> Path:
    return sorted((run / "maps").glob("*.html"))[0]


def _rules(found: list[Violation]) -> set[str]:
    return {v.rule for v in found}


def test_page_without_viewport_is_found(columbus_run: Path, tmp_path: Path) -> None:
    run = _copy(columbus_run, tmp_path)
    page = _page(run)
    text = page.read_text(encoding="utf-8")
    broken = re.sub(r"<meta name=\"viewport\"[^>]*>", "", text)
    assert broken != text
    page.write_text(broken, encoding="utf-8")
    found = check_run(run)
    assert found == [Violation(page.relative_to(run).as_posix(), "viewport",
                               "no <meta name=viewport>")]  # fmt: skip


def test_english_page_declared_chinese_is_found(columbus_run: Path, tmp_path: Path) -> None:
    run = _copy(columbus_run, tmp_path)
    page = _page(run)
    text = page.read_text(encoding="utf-8")
    assert '<html lang="en">' in text
    page.write_text(text.replace('<html lang="en">', '<html lang="zh-CN">'), encoding="utf-8")
    assert _rules(check_run(run)) == {"lang"}


def test_raw_float_in_a_legend_is_found(columbus_run: Path, tmp_path: Path) -> None:
    run = _copy(columbus_run, tmp_path)
    page = next(p for p in sorted(run.rglob("*.html")) if 'class="geotool-legend' in
                p.read_text(encoding="utf-8"))  # fmt: skip
    text = page.read_text(encoding="utf-8")
    broken = re.sub(r'(class="geotool-legend[^"]*"[^>]*>)', r"\1<span>44763.75404530744</span>",
                    text, count=1)  # fmt: skip
    page.write_text(broken, encoding="utf-8")
    found = check_run(run)
    assert _rules(found) == {"raw-float"}
    assert "44763.75404530744" in found[0].example


def test_raw_float_in_tooltip_data_is_found(columbus_run: Path, tmp_path: Path) -> None:
    run = _copy(columbus_run, tmp_path)
    page = run / "maps" / next(p.name for p in sorted((run / "maps").glob("*.html"))
                               if "geotoolPage(" in p.read_text(encoding="utf-8"))  # fmt: skip
    text = page.read_text(encoding="utf-8")
    # a tooltip field shown as Python's repr of a float: k "f"
    broken, n = re.subn(r'"fields":\s*\[', '"fields":[["raw",{"k":"f","v":[44763.75404530744]}],',
                        text, count=1)  # fmt: skip
    assert n == 1
    page.write_text(broken, encoding="utf-8")
    assert _rules(check_run(run)) == {"raw-float"}


def test_panel_page_without_a_year_in_its_title_is_found(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text(
        '<!DOCTYPE html><html lang="en"><head><meta name="viewport" '
        'content="width=device-width"><title>Moran map of score</title></head>'
        "<body><p>Values of the prefectures</p></body></html>",
        encoding="utf-8",
    )
    assert check_page(page, "p.html", panel=False) == []
    assert _rules(check_page(page, "p.html", panel=True)) == {"year-in-title"}
    page.write_text(page.read_text().replace("of score", "of score, 2021"))
    assert check_page(page, "p.html", panel=True) == []


def test_broken_figure_marks_are_found(columbus_run: Path, report_run: Path,
                                       tmp_path: Path) -> None:  # fmt: skip
    run = _copy(columbus_run, tmp_path)
    marks = _marks(run)
    name = next(k for k, m in marks.items() if "scope" in m)
    marks[name]["inset_box"] = [0.7, 0.05, 0.25, 0.3]
    national = next(m for m in _marks(report_run).values() if m.get("scope") == "national")
    marks["shrunk"] = national | {"extent": [100.0, 20.0, 120.0, 40.0]}  # China is 73-135°E
    (run / screenshots.MARKS).write_text(json.dumps(marks), encoding="utf-8")
    found = check_run(run)
    assert [(v.file, v.rule) for v in found] == [
        (f"figures/{name}", "inset-outside-china"),
        ("figures/shrunk", "national-extent"),
    ]


def test_panel_figure_without_a_year_in_its_title_is_found(tmp_path: Path) -> None:
    marks = {"values_score": {"title": "score by prefecture"}, "lisa": {"title": "LISA, 2021"}}
    (tmp_path / screenshots.MARKS).write_text(json.dumps(marks), encoding="utf-8")
    assert check_run(tmp_path) == []  # not a panel: no summary naming its dynamics
    (tmp_path / "summary.json").write_text(json.dumps({"dynamics": {"score": {}}}))
    assert [(v.file, v.rule) for v in check_run(tmp_path)] == [
        ("figures/values_score", "year-in-title")
    ]


def test_china_land_box_holds_china() -> None:
    x0, y0, x1, y1 = screenshots.china_land_box()
    # Heilongjiang's Mohe reaches 53.5°N, Xinjiang 73.5°E, Fuyuan 135°E, Hainan 18.2°N
    assert 73 < x0 < 74 and 134 < x1 < 136 and 53 < y1 < 54 and 17.5 < y0 < 18.5


@pytest.mark.slow(
    reason="browser sweep of three full studies; the rules are covered by "
    "test_report_run_breaks_no_rule and test_columbus_run_breaks_no_rule"
)
def test_full_sweep(tmp_path: Path) -> None:
    status = screenshots.main(["--out", str(tmp_path), "--quick"])
    assert status == 0
    shots = list((tmp_path / "shots").rglob("*.png"))
    assert {p.parent.name for p in shots} == {"report", "panel", "columbus"}
    assert (tmp_path / "index.html").exists()


def test_panel_run_names_its_year_in_every_title(tmp_path: Path) -> None:
    args = screenshots.studies(tmp_path, quick=True)["panel"]  # the sweep's panel study
    run = screenshots.run_study(args, tmp_path / "run")
    titled = [m for m in _marks(run).values() if m.get("title")]
    assert len(titled) >= 5 and all("2021" in m["title"] for m in titled)
    assert check_run(run) == []
