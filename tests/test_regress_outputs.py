"""The regression's outputs through ``geotool regress``: web maps, index page, figures.

Columbus (libpysal's ``columbus.shp``, which has no CRS; CRIME ~ INC + HOVAL, queen
contiguity): the residuals on the pages are spreg's own, classed at 0, ±1 and ±2 standard
deviations; the index page links every file the command wrote.
"""

from __future__ import annotations

import contextlib
import html
import io
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pytest
import spreg
from libpysal import examples
from matplotlib.colors import to_rgb

from geotool import geofile, regress
from geotool._classify import bins
from geotool.cli import main
from geotool.maps import LISA_COLOURS, NOT_SIGNIFICANT, charts

from .conftest import page_args as _page_args

FORMULA = "CRIME ~ INC + HOVAL"
NAME = "<b>Tract {}</b> & co"  # markup in a user's names stays text


@pytest.fixture(scope="module")
def columbus():
    return gpd.read_file(examples.get_path("columbus.shp"))


@pytest.fixture(scope="module")
def shapefile(columbus, tmp_path_factory):
    """Columbus as a user's shapefile: no CRS (as the original), a name per tract."""
    assert columbus.crs is None
    path = tmp_path_factory.mktemp("shp") / "columbus.shp"
    with warnings.catch_warnings():  # "'crs' was not provided": as intended
        warnings.simplefilter("ignore", UserWarning)
        columbus.assign(tract=[NAME.format(i) for i in columbus["POLYID"]]).to_file(path)
    return path


def _regress(shapefile: Path, out: Path, *more: str) -> Path:
    argv = ["--quiet", "regress", str(shapefile), "--id-col", "POLYID", "--name-col", "tract",
            "--model", FORMULA, "--out", str(out), *more]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def ols_out(shapefile, tmp_path_factory):
    return _regress(shapefile, tmp_path_factory.mktemp("ols") / "out")


@pytest.fixture(scope="module")
def spreg_fits(columbus):
    """spreg's OLS and ML lag on queen weights, by POLYID (as strings, the pages' ids)."""
    w = libpysal.weights.Queen.from_dataframe(columbus, use_index=False, silence_warnings=True)
    w.transform = "r"
    y = columbus[["CRIME"]].to_numpy(float)
    x = columbus[["INC", "HOVAL"]].to_numpy(float)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        ols, lag = spreg.OLS(y, x), spreg.ML_Lag(y, x, w=w)
    ids = columbus["POLYID"].astype(str).to_numpy()
    return {"OLS": (ols, ids), "ML lag": (lag, ids), "w": w}


# ------------------------------------------------------------- reading a page back

CODES = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _column(col: dict, n: int) -> list:
    """A column of the page's unit table, one value (or None) per unit."""
    m = len(col["at"]) if "at" in col else n
    vals = list(col["v"][:m]) if not isinstance(col["v"], str) else list(col["v"])
    if col["k"] == "i":
        vals = [None if v in (".", None) else col["d"][CODES.find(v) if isinstance(v, str)
                                                        else v] for v in vals]  # fmt: skip
    if "at" not in col:
        return vals
    out = [None] * n
    for r, v in zip(col["at"], vals, strict=True):
        out[r] = v
    return out


def _page(path: Path) -> dict:
    """A map page's ids, names, tooltip fields ({label: values}), layers ({name: {id:
    colour}} and their neutral colour), legend labels and title."""
    text = path.read_text(encoding="utf-8")
    _, info, layers, _ = _page_args(text)
    ids = info["ids"]
    n = len(ids)
    fields = {label: _column(col, n) for label, col in info["fields"]}
    colours = {}
    for layer in layers:
        codes = layer["codes"]
        at = [CODES.find(c) if isinstance(codes, str) else c for c in codes]
        colours[html.unescape(layer["name"])] = {
            i: layer["palette"][c] for i, c in zip(ids, at, strict=True) if c is not None and c >= 0
        }
    legend = [html.unescape(t) for t in re.findall(r"</span>([^<]*)</div>", text)]
    title = re.search(r'class="geotool-title"[^>]*>([^<]*)<', text)
    return {"ids": ids, "names": _column(info["head"]["name"], n), "fields": fields,
            "layers": colours, "neutral": {html.unescape(x["name"]): x["neutral"] for x in layers},
            "legend": legend, "title": html.unescape(title.group(1)), "text": text}  # fmt: skip


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _significant_digits(text: str) -> int:
    return len(text.replace(",", "").replace("-", "").replace(".", "").lstrip("0").rstrip("0"))


def _reds(colour: str) -> bool:
    r, _, b = to_rgb(colour)
    return r > b


# ------------------------------------------------------------------------ the tests


@pytest.mark.parametrize(("model", "slug"), [("OLS", "ols"), ("ML lag", "ml_lag")])
def test_residual_maps_are_spregs_residuals_diverging_at_zero(ols_out, spreg_fits, model, slug):
    fit, ids = spreg_fits[model]
    u = pd.Series(np.asarray(fit.u).ravel(), index=ids)
    page = _page(ols_out / f"maps/regression_residuals_{slug}.html")
    u = u.reindex(page["ids"])
    shown = page["fields"][f"residual ({model})"]
    assert all(_significant_digits(t) <= 4 for t in shown), shown[:5]  # no 44763.75404530744
    np.testing.assert_allclose([_number(t) for t in shown], u, rtol=5e-4)
    # colours: classes at 0, ±1 and ±2 standard deviations; red above 0, blue below
    sd = float(np.std(u, ddof=1))
    cls = np.searchsorted(sd * np.array([-2.0, -1, 0, 1, 2]), u.to_numpy(), side="left")
    colours = page["layers"][f"residual ({model})"]
    assert set(colours) == set(page["ids"])
    by_class = pd.Series([colours[i] for i in page["ids"]]).groupby(cls).unique()
    assert all(len(c) == 1 for c in by_class) and by_class.map(len).sum() == len(by_class)
    assert all(_reds(colours[i]) == (v > 0) for i, v in u.items())
    counts = [int(re.search(r"\((\d+)\)$", t).group(1)) for t in page["legend"][:6]]
    assert counts == np.bincount(cls, minlength=6).tolist()
    said = re.search(r"\(sd ([\d.,]+)\)", page["text"]).group(1)
    assert _number(said) == pytest.approx(sd, rel=5e-4)


def test_residual_lisa_layer_is_the_classes_of_the_residuals(ols_out, spreg_fits):
    fit, ids = spreg_fits["OLS"]
    page = _page(ols_out / "maps/regression_residuals_ols.html")
    table = pd.read_csv(ols_out / "tables/regression_fitted.csv", dtype={"id": str})
    classes = table[table["model"] == "OLS"].set_index("id")["residual_lisa"]
    layer = page["layers"]["LISA of the residuals (OLS)"]
    assert layer == {i: LISA_COLOURS[c] for i, c in classes.items()}
    assert page["fields"]["residual LISA (OLS)"] == classes.reindex(page["ids"]).tolist()
    # a cluster's quadrant is the residual's sign and its neighbours' (queen lag)
    w = spreg_fits["w"]
    u = np.asarray(fit.u).ravel()
    z = u - u.mean()
    lag = pd.Series(libpysal.weights.lag_spatial(w, z), index=ids)
    z = pd.Series(z, index=ids)
    significant = classes[classes != "Not significant"]
    assert len(significant) >= 3  # OLS residuals cluster (Moran's I 0.222, p 0.005)
    for i, c in significant.items():
        assert c == f"{'High' if z[i] > 0 else 'Low'}-{'High' if lag[i] > 0 else 'Low'}", i


def test_fitted_map_classes_fitted_and_observed_in_shared_quintiles(ols_out, spreg_fits):
    ols, ids = spreg_fits["OLS"]
    lag, _ = spreg_fits["ML lag"]
    page = _page(ols_out / "maps/regression_fitted.html")
    observed = np.asarray(ols.y).ravel()
    fitted = {"OLS": np.asarray(ols.predy).ravel(), "ML lag": np.asarray(lag.predy).ravel()}
    bounds = bins(np.concatenate([observed, *fitted.values()]), "quantiles", 5)[:-1]
    palette: dict[int, str] = {}
    for name, values in [*((f"fitted ({k})", v) for k, v in fitted.items()),
                         ("CRIME (observed)", observed)]:  # fmt: skip
        layer = page["layers"][name]
        for i, c in zip(ids, np.searchsorted(bounds, values, side="left"), strict=True):
            assert palette.setdefault(int(c), layer[i]) == layer[i], (name, i)
    assert len(set(palette.values())) == len(palette) == 5
    shown = page["fields"]["fitted (OLS)"]
    order = [list(ids).index(i) for i in page["ids"]]
    np.testing.assert_allclose([_number(t) for t in shown], fitted["OLS"][order], rtol=5e-4)


def test_tooltips_name_the_units_as_text(ols_out, columbus):
    page = _page(ols_out / "maps/regression_residuals_ols.html")
    assert page["names"] == [NAME.format(i) for i in page["ids"]]
    assert "<b>Tract" not in page["text"]  # data in the script, escaped, shown as text
    index = (ols_out / "index.html").read_text(encoding="utf-8")
    assert "<b>Tract" not in index


class _Cells(HTMLParser):
    """The text of each table row's cells, and every link, of an HTML text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.links: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("a", "img"):
            self.links += [v for k, v in attrs if k in ("href", "src")]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(text: str) -> _Cells:
    parser = _Cells()
    parser.feed(text)
    return parser


def test_index_shows_the_table_and_guide_and_links_every_file(ols_out, columbus, spreg_fits):
    index = (ols_out / "index.html").read_text(encoding="utf-8")
    page = _parse(index)
    table = _parse((ols_out / "regression.html").read_text(encoding="utf-8")).rows
    assert table[0][1:] == ["(1) OLS", "(2) ML lag"]
    start = page.rows.index(table[0])
    assert page.rows[start : start + len(table)] == table  # regression.html's cells
    frame = columbus.set_index(columbus["POLYID"].astype(str))
    w = libpysal.weights.Queen.from_dataframe(frame, use_index=True, silence_warnings=True)
    guide = regress.fit(frame, FORMULA, w).guide
    assert guide.startswith("Spatial lag model") and html.escape(guide) in index
    written = {
        str(p.relative_to(ols_out))
        for p in ols_out.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.name != "index.html"
    }
    assert {
        "regression.md",
        "regression.tex",
        "tables/regression_fitted.csv",
        "figures/regression_residuals.png",
        "maps/regression_residuals_ols.html",
        "maps/regression_residuals_ml_lag.html",
        "maps/regression_fitted.html",
    } <= written
    links = {unquote(link) for link in page.links}
    assert written <= links, written - links
    assert all((ols_out / link).is_file() for link in links), links


def test_figures_of_a_plane_without_crs_are_drawn_unprojected(ols_out, columbus):
    png = (ols_out / "figures/regression_residuals.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000
    scores = pd.DataFrame({"CRIME": columbus["CRIME"].to_numpy()}, index=columbus.index)
    fig = charts.dimension_maps(columbus, scores, ["CRIME"])  # no CRS at all
    assert fig.geotool["crs"] == "none (unprojected)"
    assert "No CRS: drawn unprojected" in fig.texts[-1].get_text()
    x0, y0, x1, y1 = columbus.total_bounds
    ax = fig.axes[0]
    assert ax.get_xlim() == pytest.approx((x0, x1)) and ax.get_ylim() == pytest.approx((y0, y1))
    units, _ = geofile.read_geometry(examples.get_path("columbus.shp"), id_col="POLYID")
    assert units.crs is not None  # placed on the globe for the web maps: still a plane
    scores.index = units.index
    fig = charts.dimension_maps(units, scores, ["CRIME"], lang="zh")
    assert fig.geotool["crs"] == "none (unprojected)" and "未作投影" in fig.texts[-1].get_text()


def test_gwr_writes_a_map_per_local_coefficient_greying_the_insignificant(columbus, tmp_path):
    gone = columbus["POLYID"].iloc[4]  # a unit without a value: drawn, uncoloured, said
    frame = columbus.assign(tract=[NAME.format(i) for i in columbus["POLYID"]])
    frame["HOVAL"] = frame["HOVAL"].where(frame["POLYID"] != gone)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        frame.to_file(tmp_path / "columbus.shp")
    out = _regress(tmp_path / "columbus.shp", tmp_path / "gwr", "--kind", "gwr")
    local = pd.read_csv(out / "tables/regression_local.csv", dtype={"id": str}).set_index("id")
    assert str(gone) not in local.index and len(local) == 48
    for term in ("CONSTANT", "INC", "HOVAL"):
        page = _page(out / f"maps/regression_local_{term.lower()}.html")
        crit = float(re.search(r"critical t ([\d.]+)\)", page["title"]).group(1))
        t = local[f"t_{term}"]
        assert (local[f"sig_{term}"] == (t.abs() > crit)).all()  # corrected critical t
        significant, every = page["layers"].values()
        assert set(significant) == set(local.index[local[f"sig_{term}"]])
        assert page["neutral"][f"{term}: significant units"] == NOT_SIGNIFICANT
        assert set(every) == set(local.index)
        assert all(_reds(every[i]) == (v > 0) for i, v in local[f"est_{term}"].items())
        assert f"not significant (|t| ≤ {crit:g}, corrected)" in page["legend"]
        shown = dict(zip(page["ids"], page["fields"][f"local {term}"], strict=True))
        assert shown.pop(str(gone)) is None and str(gone) in page["ids"]
        est = local[f"est_{term}"].reindex(list(shown))
        np.testing.assert_allclose([_number(s.split(" (")[0]) for s in shown.values()], est,
                                   rtol=5e-4)  # fmt: skip
        flagged = [s.endswith(", not significant)") for s in shown.values()]
        assert flagged == (~local[f"sig_{term}"].reindex(list(shown))).tolist()
        assert "not in the model (no value)" in page["legend"]
        assert page["names"][page["ids"].index(str(gone))] == NAME.format(gone)
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "maps/regression_local_inc.html" in index and "GWR" in index
    assert f"1 unit(s) with a missing value left out: {gone}" in html.unescape(index)


def test_a_runs_index_page_has_the_same_regression_section(ols_out, shapefile, tmp_path):
    from geotool import pipeline, regress_stage
    from geotool.maps import pages
    from geotool.study import Study

    study = Study(geometry=shapefile, id_col="POLYID", name_col="tract", model=FORMULA,
                  out=tmp_path / "run")  # fmt: skip
    stage = pipeline.Stage("regression", regress_stage.regression_stage)
    summary = pipeline.run(study, stages=(stage,), index=False)
    page = pages.index_page(summary, {}, title="Columbus", lang="en")
    section = pages.regression_section(summary)
    assert section.startswith("<h2>Regression") and section in page
    regress_page = (ols_out / "index.html").read_text(encoding="utf-8")
    assert section in regress_page  # geotool regress shows the same section
    links = {unquote(link) for link in _parse(section).links}
    assert set(summary["regression"]["files"]) <= links
    assert all((tmp_path / "run" / link).is_file() for link in links)


# ------------------------------------------------------------------ as a regional economist


@pytest.fixture(scope="module")
def chinese_columns(columbus, tmp_path_factory):
    """Columbus with the columns a Chinese table has: Chinese names, full-width brackets."""
    path = tmp_path_factory.mktemp("cn") / "columbus_cn.gpkg"
    frame = columbus.assign(**{"犯罪率": columbus["CRIME"], "收入（千美元）": columbus["INC"],
                               "常数": 1.0})  # fmt: skip
    with warnings.catch_warnings():  # "'crs' was not provided": as the original
        warnings.simplefilter("ignore", UserWarning)
        frame.to_file(path)
    return path


@pytest.mark.parametrize(("model", "message"), [
    ("犯罪 ~ INC + HOVAL", "--model: '犯罪' left of '~' is not a column of"),
    ("犯罪率 ~ INC + HOVL", "--model: 'HOVL' is not a column; the columns are"),
    ("犯罪率 ~ 收入（千美元） + HOVAL", "--model: cannot read '犯罪率 ~ 收入（千美元） + HOVAL': "
     "Unknown operator '（'; '（' is full-width: type '(', or put a column name holding it "
     "in backticks"),
    ("犯罪率 ~ INC + HOVAL + 常数", "--model: 常数 is collinear with the intercept"),
    ("犯罪率 ~ INC + lg(HOVAL)", "--model: 'lg' is not a column or an allowed function"),
])  # fmt: skip
def test_a_regional_economists_slips_are_one_line_errors_naming_model(
    chinese_columns, tmp_path, capsys, model, message
):
    argv = ["regress", str(chinese_columns), "--id-col", "POLYID", "--model", model,
            "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("geotool: error: " + message), last
    assert "Traceback" not in err and "\x1b" not in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*"))


def test_a_chinese_column_in_backticks_is_fitted_as_spreg_fits_it(chinese_columns, tmp_path,
                                                                   columbus):  # fmt: skip
    out = tmp_path / "cn"
    argv = ["--quiet", "regress", str(chinese_columns), "--id-col", "POLYID", "--model",
            "犯罪率 ~ `收入（千美元）` + HOVAL", "--out", str(out)]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    coef = pd.read_csv(out / "tables/regression_coefficients.csv")
    ols = coef[coef["model"] == "OLS"].set_index("term")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        ref = spreg.OLS(columbus[["CRIME"]].to_numpy(), columbus[["INC", "HOVAL"]].to_numpy())
    np.testing.assert_allclose(ols["estimate"], ref.betas.ravel(), atol=1e-6)
    assert list(ols.index) == ["CONSTANT", "收入（千美元）", "HOVAL"]
    assert "收入（千美元）" in (out / "regression.tex").read_text(encoding="utf-8")


def test_china_prefectures_ols_stands_and_figures_class_as_the_web_maps(tmp_path, capsys,
                                                                        monkeypatch):  # fmt: skip
    """The bundled GBK example: 三沙 has no neighbour within the default island rule, so
    the lag model the LM tests point to is refused; OLS stands, with a note. Its figures:
    residuals in classes at 0, ±1, ±2 sd, their LISA, fitted values (China's layer)."""
    from geotool.maps import figure

    from .conftest import ROOT

    drawn: list[tuple[pd.Series, dict]] = []
    real = figure.to_figure

    def spy(gdf, column=None, **options):
        drawn.append((gdf[column].copy(), options))
        return real(gdf, column, **options)

    monkeypatch.setattr(figure, "to_figure", spy)
    out = tmp_path / "pref"
    argv = ["regress", str(ROOT / "examples/prefecture_top100_gbk.csv"), "--model",
            "工业百强县 ~ 创新百强县 + log(area_km2) + C(region)", "--out", str(out)]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    err = capsys.readouterr().err
    assert ("note: the lag model the LM tests point to was not fitted: 1 unit(s) have no "
            "neighbours (460300)") in err  # fmt: skip
    diag = pd.read_csv(out / "tables/regression_diagnostics.csv")
    assert set(diag["model"]) == {"OLS"}
    fitted = pd.read_csv(out / "tables/regression_fitted.csv", dtype={"id": str})
    r = fitted.set_index("id")["residual"]
    sd = r.std()
    classes = np.searchsorted([k * sd for k in (-2, -1, 0, 1, 2)], r.to_numpy(), side="left")
    cls, options = drawn[0]  # the residuals' figure: the first drawn by to_figure itself
    assert options["legend_title"] == "残差（OLS）"
    shown = cls.dropna()
    assert set(shown.index.astype(str)) == set(r.index) and len(shown) == 338
    labels = list(options["colours"])
    counts = np.bincount(classes, minlength=len(labels))
    assert [int((shown == label).sum()) for label in labels] == counts.tolist()
    assert all(label.endswith(f"({n})") for label, n in zip(labels, counts, strict=True))
    assert labels[2].startswith(f"{-sd:.3g}"[:4]) and labels[3].startswith("0 – ")
    index = (out / "index.html").read_text(encoding="utf-8")
    for name in ("regression_residuals_ols", "regression_residual_lisa_ols",
                 "regression_fitted"):  # fmt: skip
        assert (out / f"figures/{name}.png").stat().st_size > 20_000
        assert f"figures/{name}.png" in index


def test_a_model_on_a_matched_table_lists_her_columns_not_the_match_s(tmp_path, capsys):
    """The columns a slip lists were the table's plus match_status, match_method ..."""
    from geotool import boundaries

    names = boundaries.load("county").query("province == '江苏省'")["name"]
    names = names[~names.duplicated(keep=False)].head(12)
    table = tmp_path / "t.csv"
    pd.DataFrame({"县": names, "产值": range(12), "人口": range(1, 13)}).to_csv(table, index=False)
    argv = ["run", "--data", str(table), "--value-col", "产值", "--permutations", "99",
            "--model", "产值 ~ 人囗", "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "'人囗' is not a column; the columns are" in last and "人口" in last
    assert "match_" not in last, last
