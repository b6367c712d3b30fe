"""Screenshots of every page and figure of three studies, and a checker of their rules.

Developer tool (not in the package). ``python tools/screenshots.py --out DIR [--quick]``
runs the bundled report, an illustrative prefecture panel (3 years, synthetic values built
from ``examples/prefecture_top100_gbk.csv``) and Columbus (libpysal's example, outside
China), screenshots every HTML page with headless Chromium at 1400x1000 and 390x844 with
the network cut, collects the figures, writes a contact sheet (``DIR/index.html``) and
checks every run folder with :func:`check_run`:

- ``lang``: the ``<html lang>`` attribute matches the language of the page's text;
- ``viewport``: a ``<meta name="viewport">`` on every page;
- ``year-in-title``: a panel's pages and figures name a year in their titles;
- ``raw-float``: no float with 6+ decimal digits or e+ notation in legends and tooltips;
- ``inset-outside-china``: no South China Sea inset on a figure of units outside China;
- ``national-extent``: a national map's window holds all of China's land.

Figures' checks read ``fig.geotool`` (what :func:`geotool.maps.figure.to_figure` drew),
recorded into ``figure_marks.json`` of the run folder by :func:`run_study`, which runs
``geotool run`` in this process with a hook on the report's figures.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((1400, 1000), (390, 844))
MARKS = "figure_marks.json"
# a float as Python's repr prints it: 6+ decimal digits after the fraction's leading zeros
# (0.000738 is a rounded p-value, 44763.75404530744 is raw), or e+ notation (1.59e-05 is a
# rounded p-value)
RAW_FLOAT = re.compile(r"(?<![\w.])-?\d+\.0*[1-9]\d{5,}|(?<![\w.])-?\d+(?:\.\d+)?e\+\d+\b")
YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")
CJK = re.compile(r"[\u3400-\u9fff]")
LATIN = re.compile(r"[A-Za-z]+")


class Violation(NamedTuple):
    """One broken rule: the file (relative to the run folder), the rule, an example."""

    file: str
    rule: str
    example: str


# ---------------------------------------------------------------- pages


class _Page(HTMLParser):
    """A page's lang attribute, viewport, title, its text in its own language, legends."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang: str | None = None
        self.viewport = False
        self.title = ""
        self.heading = ""  # a map page's title on the map (class geotool-title)
        self.text: list[str] = []
        self.legends: list[str] = []
        self._stack: list[tuple[str, bool, bool, bool]] = []  # tag, other lang, legend, title
        self._in: dict[str, int] = {"script": 0, "style": 0, "title": 0}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
            return
        if tag == "meta" and (a.get("name") or "").lower() == "viewport":
            self.viewport = True
        if tag in self._in:
            self._in[tag] += 1
        if tag in {"meta", "br", "img", "input", "link", "hr", "wbr", "source", "col"}:
            return
        other = bool(a.get("lang")) and a.get("lang") != self.lang
        legend = "legend" in (a.get("class") or "").split() or "geotool-legend" in (
            a.get("class") or ""
        )
        heading = "geotool-title" in (a.get("class") or "").split()
        self._stack.append((tag, other, legend, heading))

    def handle_endtag(self, tag: str) -> None:
        if self._in.get(tag):
            self._in[tag] -= 1
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if self._in["title"]:
            self.title += data
        if self._in["script"] or self._in["style"]:
            return
        if any(legend for _, _, legend, _ in self._stack):
            self.legends.append(data)
        if any(heading for *_, heading in self._stack):
            self.heading += data
        if not any(other for _, other, _, _ in self._stack):
            self.text.append(data)


def text_language(text: str) -> str:
    """Return "zh" when Chinese characters are at least a fifth of the words, else "en"."""
    cjk = len(CJK.findall(text))
    words = len(LATIN.findall(text))
    return "zh" if cjk and cjk >= 0.2 * (cjk + words) else "en"


def _call_args(page: str, function: str) -> list[Any]:
    """The JSON arguments of ``function(...)`` calls in a page's scripts (after a map var)."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    for m in re.finditer(rf"\n\s*{function}\((?:map_\w+,\s*)?", page):
        at, args = m.end(), []
        while True:
            try:
                value, at = decoder.raw_decode(page, at)
            except json.JSONDecodeError:
                break
            args.append(value)
            sep = re.match(r"\s*,\s*", page[at:])
            if not sep:
                break
            at += sep.end()
        found.append(args)
    return found


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):  # not a layer's palette codes (one character a unit)
        for k, v in value.items():
            if k != "codes":
                yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _tooltip_texts(info: dict[str, Any]) -> Iterator[str]:
    """The texts a geotool map page's tooltips show, as its ``val()`` formats them."""
    cols = [c for c in info.get("head", {}).values() if isinstance(c, dict)]
    cols += [f[1] for f in info.get("fields", []) if isinstance(f[1], dict)]
    cols += [c for line in info.get("lines", []) for c in line.get("cols", [])]
    for col in cols:
        values = col.get("v")
        if col.get("k") == "i":
            yield from (str(d) for d in col.get("d", []))
        elif isinstance(values, list):
            for v in values:
                if isinstance(v, float) and col.get("k") == "g":
                    yield format(v, f".{int(col.get('d', 3))}g")
                elif v is not None:
                    yield repr(v) if isinstance(v, float) else str(v)
    yield from (str(f[0]) for f in info.get("fields", []))


def check_page(path: Path, rel: str, *, panel: bool = False) -> list[Violation]:
    """The rules' violations on one HTML page (module docstring)."""
    page = path.read_text(encoding="utf-8")
    p = _Page()
    p.feed(page)
    out: list[Violation] = []
    said = (p.lang or "").split("-")[0].lower()
    shown = text_language(" ".join(p.text))
    if said != shown:
        out.append(Violation(rel, "lang", f"lang={p.lang!r}, text is {shown}"))
    if not p.viewport:
        out.append(Violation(rel, "viewport", "no <meta name=viewport>"))
    title = p.title or p.heading  # folium's map pages have no <title>: their on-map title
    if panel and not YEAR.search(title):
        out.append(Violation(rel, "year-in-title", f"title {title.strip()[:80]!r}"))
    texts = [("legend", t) for t in p.legends]
    for args in _call_args(page, "geotoolPage"):
        if len(args) > 1 and isinstance(args[1], dict):
            texts += [("tooltip", t) for t in _tooltip_texts(args[1])]
        texts += [("layer", t) for a in args[2:3] for t in _strings(a)]
    for args in _call_args(page, "geotoolLinked"):
        texts += [("linked data", t) for a in args for t in _strings(a)]
    for where, t in texts:
        if m := RAW_FLOAT.search(html.unescape(t)):
            out.append(Violation(rel, "raw-float", f"{where}: {m.group()} in {t[:60]!r}"))
            break
    return out


# ---------------------------------------------------------------- figures


def china_land_box() -> tuple[float, float, float, float]:
    """Degrees of China's land north of 18°N (Hainan); the sea islands are the inset's."""
    import shapely

    from geotool import boundaries

    parts = shapely.get_parts(boundaries.load("province").to_crs(4326).geometry.to_numpy())
    ys = shapely.get_coordinates(shapely.centroid(parts))[:, 1]
    x0, y0, x1, y1 = shapely.total_bounds(parts[ys > 18.0])
    return float(x0), float(y0), float(x1), float(y1)


def check_figures(folder: Path, *, panel: bool = False) -> list[Violation]:
    """The figures' rules, from ``figure_marks.json`` (``fig.geotool`` of each map)."""
    marks_file = folder / MARKS
    if not marks_file.exists():
        return []
    marks: dict[str, dict[str, Any]] = json.loads(marks_file.read_text(encoding="utf-8"))
    out: list[Violation] = []
    box = None
    for name, m in marks.items():
        rel = f"figures/{name}"
        if panel and m.get("title") and not YEAR.search(m["title"]):
            out.append(Violation(rel, "year-in-title", f"title {m['title'][:80]!r}"))
        if m.get("scope") == "outside" and m.get("inset_box") is not None:
            out.append(Violation(rel, "inset-outside-china", f"inset_box {m['inset_box']}"))
        if m.get("scope") == "national":
            box = box or china_land_box()
            x0, y0, x1, y1 = m["extent"]
            tol = 0.05
            if x0 > box[0] + tol or y0 > box[1] + tol or x1 < box[2] - tol or y1 < box[3] - tol:
                out.append(Violation(rel, "national-extent",
                                     f"extent {np.round(m['extent'], 2).tolist()} < China "
                                     f"{np.round(box, 2).tolist()}"))  # fmt: skip
    return out


def check_run(folder: str | Path) -> list[Violation]:
    """Every rule on every page (``*.html``) and recorded figure of a run folder."""
    folder = Path(folder)
    summary_file = folder / "summary.json"
    summary = json.loads(summary_file.read_text("utf-8")) if summary_file.exists() else {}
    panel = bool(summary.get("dynamics")) or bool(summary.get("years"))
    out: list[Violation] = []
    for path in sorted(folder.rglob("*.html")):
        out += check_page(path, path.relative_to(folder).as_posix(), panel=panel)
    return out + check_figures(folder, panel=panel)


# ---------------------------------------------------------------- runs


@contextlib.contextmanager
def recording(marks: dict[str, Any]) -> Iterator[None]:
    """Record ``fig.geotool`` of each of the report's figures into ``marks`` by name.

    Figures are drawn in this process (a run shares them with a forked one otherwise).
    """
    from geotool import settings
    from geotool.maps import static

    original, forking = static.report_figures, settings.background

    def report_figures(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for name, fig in original(*args, **kwargs):
            top = [t.get_text() for t in fig.texts if t.get_position()[1] >= 0.95]
            marks[name] = {"title": " ".join(top)}  # to_figure's title: top left, y 0.975
            drawn = getattr(fig, "geotool", None)
            if drawn is not None:
                marks[name] |= {
                    "scope": drawn.get("scope"),
                    "extent": [float(v) for v in drawn["extent"]],
                    "inset_box": None if drawn.get("inset_box") is None
                    else [float(v) for v in drawn["inset_box"]],
                }  # fmt: skip
            yield name, fig

    static.report_figures, settings.background = report_figures, False
    try:
        yield
    finally:
        static.report_figures, settings.background = original, forking


def run_study(argv: list[str], out: Path) -> Path:
    """``geotool run ARGV --out OUT`` in this process, its figures' marks recorded."""
    from geotool import cli

    marks: dict[str, Any] = {}
    with recording(marks):
        status = cli.main(["run", *argv, "--out", str(out), "--quiet"])
    if status:
        raise SystemExit(f"geotool run {' '.join(argv)} failed with status {status}")
    (out / MARKS).write_text(json.dumps(marks, indent=1), encoding="utf-8")
    return out


def write_panel(path: Path) -> Path:
    """An ILLUSTRATIVE long-form prefecture panel, 2019-2021 (synthetic, seeded values).

    ``score`` = 20 + 8 x the prefecture's top-100 counts (examples/prefecture_top100_gbk.csv)
    + gamma noise, growing ~4% a year with 5% noise: plausible shape, not real data.
    """
    table = pd.read_csv(ROOT / "examples/prefecture_top100_gbk.csv", encoding="gbk")
    rng = np.random.default_rng(2020)
    base = 20 + 8 * table.iloc[:, 2:].sum(axis=1).to_numpy() + rng.gamma(2.0, 4.0, len(table))
    years = []
    for k, year in enumerate((2019, 2020, 2021)):
        score = base * 1.04**k * rng.normal(1.0, 0.05, len(table))
        years.append(table.iloc[:, :2].assign(year=year, score=score.round(2)))
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(years).to_csv(path, index=False, encoding="utf-8")
    return path


def columbus() -> str:
    """Path of libpysal's bundled Columbus shapefile."""
    from libpysal import examples

    return str(examples.get_path("columbus.shp"))


def studies(out: Path, *, quick: bool) -> dict[str, list[str]]:
    """The three studies' ``geotool run`` arguments, by name."""
    fast = ["--permutations", "99", "--dpi", "72"] if quick else ["--dpi", "150"]
    panel = write_panel(out / "inputs" / "panel_illustrative.csv")
    return {
        "report": ["--figures", "png", *fast],
        "panel": [
            "--data", str(panel), "--value-col", "score", "--year-col", "year",
            "--province-col", "省份", "--name-col", "城市", "--figures", "png", *fast,
        ],
        "columbus": [columbus(), "--value-col", "CRIME", "--figures", "png", *fast],
    }  # fmt: skip


# ---------------------------------------------------------------- screenshots


def chromium() -> str:
    """The Chromium command on this machine."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    raise SystemExit("no chromium on PATH")


def screenshot(page: Path, png: Path, size: tuple[int, int]) -> bool:
    """``page`` at ``size`` into ``png`` by headless Chromium, the network cut."""
    cmd = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--hide-scrollbars",
        "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=4000",
        f"--window-size={size[0]},{size[1]}", f"--screenshot={png}", page.resolve().as_uri(),
    ]  # fmt: skip
    png.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return False
    return png.exists() and png.stat().st_size > 0


def shoot_run(run: Path, shots: Path, *, quick: bool) -> list[Path]:
    """Screenshots of a run's pages (in --quick: the index and two maps) at both sizes."""
    pages = sorted(run.rglob("*.html"))
    if quick:
        pages = pages[:3]
    made = []
    for page in pages:
        stem = page.relative_to(run).as_posix().replace("/", "__").removesuffix(".html")
        for w, h in SIZES:
            png = shots / f"{stem}_{w}x{h}.png"
            if screenshot(page, png, (w, h)):
                made.append(png)
            else:
                print(f"screenshot failed: {page} at {w}x{h}", file=sys.stderr)
    return made


def contact_sheet(out: Path, images: dict[str, list[Path]], found: list[Violation]) -> Path:
    """``out/index.html``: every image by study, and the checker's findings."""
    parts = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>geotool screenshots</title><style>img{max-width:360px;max-height:300px;"
             "border:1px solid #ccc;margin:4px}figure{display:inline-block;margin:4px}"
             "figcaption{font:11px sans-serif;max-width:360px;word-break:break-all}</style>"
             "</head><body><h1>geotool screenshots</h1>"]  # fmt: skip
    parts.append(f"<h2>Checker: {len(found)} violation(s)</h2><ul>")
    parts += [f"<li>{html.escape(' | '.join(v))}</li>" for v in found]
    parts.append("</ul>")
    for study, files in images.items():
        parts.append(f"<h2>{html.escape(study)} ({len(files)})</h2>")
        for f in files:
            rel = html.escape(f.relative_to(out).as_posix())
            parts.append(f'<figure><a href="{rel}"><img src="{rel}" loading="lazy"></a>'
                         f"<figcaption>{rel}</figcaption></figure>")  # fmt: skip
    parts.append("</body></html>")
    sheet = out / "index.html"
    sheet.write_text("\n".join(parts), encoding="utf-8")
    return sheet


def main(argv: list[str] | None = None) -> int:
    """Run the three studies, screenshot and check them; status 1 on any violation."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "screenshots")
    parser.add_argument("--quick", action="store_true",
                        help="99 permutations, 72 dpi, three pages a run")  # fmt: skip
    parser.add_argument("--only", action="append", choices=("report", "panel", "columbus"),
                        help="run only these studies (repeatable)")  # fmt: skip
    args = parser.parse_args(argv)
    out: Path = args.out
    images: dict[str, list[Path]] = {}
    found: list[Violation] = []
    for name, run_args in studies(out, quick=args.quick).items():
        t0, run = time.perf_counter(), out / "runs" / name
        if args.only and name not in args.only:  # an earlier sweep's run, if any, as it is
            if not run.exists():
                continue
            shots = sorted((out / "shots" / name).glob("*.png"))
        else:
            run = run_study(run_args, run)
            shots = shoot_run(run, out / "shots" / name, quick=args.quick)
        figures = sorted((run / "figures").glob("*.png"))
        images[name] = shots + figures
        problems = check_run(run)
        found += [v._replace(file=f"{name}/{v.file}") for v in problems]
        print(f"{name}: {len(shots)} screenshots, {len(figures)} figures, "
              f"{len(problems)} violation(s), {time.perf_counter() - t0:.0f} s")  # fmt: skip
    for v in found:
        print(" | ".join(v))
    print(f"contact sheet: {contact_sheet(out, images, found)}")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
