"""geotool.maps.charts on us_income (48 states, 1929-2009) and the bundled prefectures.

Every drawn number is read back from the figure's artists and compared with the result
it came from or a direct computation. Warnings are errors (pytest's ``filterwarnings``),
so a Chinese label drawn without a glyph fails the test that draws it.
"""

from __future__ import annotations

import io
import re

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from libpysal import examples
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex
from matplotlib.text import Text
from PIL import Image

from geotool import boundaries, composite, settings
from geotool import divergence as dv
from geotool._errors import InputError
from geotool.maps import charts
from geotool.maps.figure import figure_bytes
from geotool.weights import build

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    """The charts never touch pyplot: no figure is left in its state."""
    yield
    assert plt.get_fignums() == []


@pytest.fixture(scope="module")
def states() -> gpd.GeoDataFrame:
    return gpd.read_file(examples.get_path("us48.shp")).set_index("STATE_NAME")


@pytest.fixture(scope="module")
def income() -> pd.DataFrame:
    table = pd.read_csv(examples.get_path("usjoin.csv")).set_index("Name")
    return table.drop(columns="STATE_FIPS")


@pytest.fixture(scope="module")
def regions(states) -> pd.Series:
    return states["SUB_REGION"]


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def _title_and_labels(fig) -> list[str]:
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [ax.get_title(loc="left"), ax.get_xlabel(), ax.get_ylabel()]
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()]
    return [t for t in out if t]


def _language(fig, lang: str, data: tuple[str, ...] = ()) -> None:
    """zh: every title, axis label and legend has Chinese (numbers, ``data``'s own group
    names aside); en: no text has."""
    if lang == "en":
        assert not [t for t in _texts(fig) if CJK.search(t)]
    else:
        words = [t for t in _title_and_labels(fig) if re.search(r"[A-Za-z]{4,}", t)
                 and not t.startswith(data)]  # fmt: skip
        assert all(CJK.search(t) for t in words), words


def _png(fig, dpi: int = 100) -> Image.Image:
    data = figure_bytes(fig, "png", dpi=dpi)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) < 1_500_000
    image = Image.open(io.BytesIO(data))
    image.verify()
    return image


def _significant(number: str) -> int:
    """Significant digits of a number as written ("0.0058": 2, "1200": 2, "1002.5": 5)."""
    return len(number.replace(".", "").lstrip("0").rstrip("0" if "." not in number else ""))


def _theil(y: np.ndarray) -> float:
    s = y / y.sum()
    return float((s * np.log(len(y) * s)).sum())


# ---------------------------------------------------------------- inequality
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_inequality_chart_draws_the_frame_s_columns(income, regions, lang):
    frame = dv.inequality(income, regions)
    fig = charts.inequality_chart(frame, lang)
    top, bottom = fig.axes
    (total,) = top.lines
    np.testing.assert_array_equal(total.get_xdata(), frame.index.to_numpy())
    np.testing.assert_array_equal(total.get_ydata(), frame["theil"].to_numpy())
    # the stacked areas: between from 0, within on top of it up to the total
    between, within = (c.get_paths()[0].vertices for c in top.collections)
    assert between[:, 1].max() == pytest.approx(frame["theil_between"].max())
    assert within[:, 1].max() == pytest.approx(frame["theil"].max())
    np.testing.assert_array_equal(bottom.lines[0].get_ydata(), frame["between_share"].to_numpy())
    assert bottom.yaxis.get_major_formatter()(0.5, 0).startswith("50")  # a share in %
    caption = fig.texts[-1].get_text()
    assert f"{frame['theil'].iloc[0]:.4f}" in caption
    assert f"{frame['theil'].iloc[-1]:.4f}" in caption
    _language(fig, lang)
    _png(fig)


def test_one_year_is_a_bar_of_each_part(income, regions):
    frame = dv.inequality(income, regions).loc[[2009]]
    fig = charts.inequality_chart(frame, "zh")
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx([frame["theil_between"].iloc[0], frame["theil_within"].iloc[0]])
    assert "2009" in fig.axes[0].get_title(loc="left")
    _language(fig, "zh")


def test_without_groups_theil_alone(income):
    frame = dv.inequality(income)
    fig = charts.inequality_chart(frame, "en")
    assert len(fig.axes) == 1
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), frame["theil"].to_numpy())


def test_theil_by_group_is_the_direct_decomposition(income, regions):
    table = dv.theil_by_group(income, regions)
    whole = dv.inequality(income, regions)
    for year in (1929, 1970, 2009):
        y = income[str(year)].to_numpy(float)
        part = table.loc[year]
        for group, row in part.iterrows():
            yg = y[(regions.reindex(income.index) == group).to_numpy()]
            assert row["n_units"] == len(yg)
            assert row["value_share"] == pytest.approx(yg.sum() / y.sum(), rel=1e-12)
            assert row["theil_within_g"] == pytest.approx(_theil(yg), rel=1e-9)
            assert row["contribution"] == pytest.approx(yg.sum() / y.sum() * _theil(yg), rel=1e-9)
        assert part["contribution"].sum() == pytest.approx(whole.loc[year, "theil_within"], 1e-9)
        assert part["share_of_within"].sum() == pytest.approx(1)
    assert table.index.names == ["year", "group"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_group_chart_bars_are_the_table_s(income, regions, lang):
    table = dv.theil_by_group(income, regions)
    fig = charts.theil_group_chart(table, lang, year=1929)
    left, right = fig.axes
    part = table.loc[1929]
    assert [p.get_width() for p in left.patches] == pytest.approx(part["contribution"].tolist())
    widths = [p.get_width() for p in right.patches]
    assert widths == pytest.approx([*part["value_share"], *part["unit_share"]])
    assert [t.get_text() for t in left.get_yticklabels()] == part.index.tolist()
    _language(fig, lang)
    with pytest.raises(InputError, match="year=1900"):
        charts.theil_group_chart(table, lang, year=1900)


def test_china_regions_are_translated():
    assert charts.group_label("东部", "en") == "East"
    assert charts.group_label("northeast", "zh") == "东北"
    assert charts.group_label("West", "zh") == "西部"
    assert charts.group_label("Mtn", "zh") == "Mtn"


# ---------------------------------------------------------------- sigma
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_sigma_chart_draws_sigma_and_states_the_test(income, lang):
    frame = dv.sigma_convergence(income, start=1940, end=2000)
    fig = charts.sigma_chart(frame, lang)
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), frame["sigma"].to_numpy())
    marked = ax.collections[0].get_offsets()
    np.testing.assert_array_equal(marked[:, 0], [1940, 2000])
    np.testing.assert_allclose(marked[:, 1], frame.loc[[1940, 2000], "sigma"])
    caption = fig.texts[-1].get_text()
    if lang == "en":
        assert caption == frame.attrs["finding"]
    else:
        assert "缩小" in caption and f"{frame.attrs['test']['t2']:.2f}" in caption
    _language(fig, lang)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_variables_label_leads_the_title_and_the_years_stay(income, regions, lang):
    """A study's charts are titled by its variable, still saying which years they show."""
    first, last = int(income.columns[0]), int(income.columns[-1])
    ineq = charts.inequality_chart(dv.inequality(income, regions), lang, title="人均收入")
    sigma = charts.sigma_chart(dv.sigma_convergence(income), lang, title="人均收入")
    for fig in (ineq, sigma):
        title = fig.axes[0].get_title(loc="left")
        assert title.startswith("人均收入"), title
        assert str(first) in title and str(last) in title, title
    points = dv.growth_points(income)
    fig = charts.convergence_chart(dv.beta_convergence(income), points, lang, title="人均收入")
    title = fig.axes[0].get_title(loc="left")
    assert title.startswith("人均收入") and str(points.attrs["end"]) in title, title


# ---------------------------------------------------------------- beta
def test_growth_points_are_the_regression_s(income):
    points = dv.growth_points(income, start=1950, end=2000)
    y0, y1 = np.log(income["1950"].to_numpy(float)), np.log(income["2000"].to_numpy(float))
    np.testing.assert_allclose(points["log_initial"], y0, rtol=0, atol=0)
    np.testing.assert_allclose(points["growth"], (y1 - y0) / 50, rtol=1e-15)
    assert points.index.equals(income.index)
    beta = dv.beta_convergence(income, start=1950, end=2000)["beta"].iloc[0]
    assert np.polyfit(points["log_initial"], points["growth"], 1)[0] == pytest.approx(beta, 1e-10)
    assert (points.attrs["start"], points.attrs["end"]) == (1950, 2000)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_convergence_chart_points_line_and_legend(income, states, lang):
    result = dv.beta_convergence(income)
    points = dv.growth_points(income)
    groups = states["SUB_REGION"]
    fig = charts.convergence_chart(result, points, lang, groups=groups)
    ax = fig.axes[0]
    xy = np.concatenate([c.get_offsets() for c in ax.collections])
    assert len(xy) == 48
    assert sorted(map(tuple, xy)) == sorted(
        zip(points["log_initial"], points["growth"], strict=True)
    )
    (line,) = ax.lines
    x, y = line.get_xdata(), line.get_ydata()
    row = result.iloc[0]
    assert (y[-1] - y[0]) / (x[-1] - x[0]) == pytest.approx(row["beta"], rel=1e-9)
    const = result.attrs["coefficients"]["const"]["coef"]
    assert y[0] == pytest.approx(const + row["beta"] * x[0], rel=1e-12)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    counts = [int(re.search(r"\((\d+)\)$", t).group(1)) for t in labels[:-1]]
    assert counts == groups.value_counts().sort_index().tolist()
    assert f"{row['beta']:.4f}" in labels[-1]
    caption = fig.texts[-1].get_text()
    assert f"{row['speed']:.2%}" in caption and f"{row['half_life']:.0f}" in caption
    assert f"{row['r2']:.3f}" in caption
    _language(fig, lang, tuple(groups.unique()))
    _png(fig)


def test_a_spatial_model_s_line_has_its_slope_through_the_means(income, states):
    w = build(states, "queen")
    result = dv.spatial_beta_convergence(income, w, model="error")
    points = dv.growth_points(income)
    fig = charts.convergence_chart(result, points, "en")
    x, y = fig.axes[0].lines[0].get_data()
    beta = result["beta"].iloc[0]
    assert (y[-1] - y[0]) / (x[-1] - x[0]) == pytest.approx(beta, rel=1e-9)
    mx, my = points["log_initial"].mean(), points["growth"].mean()
    assert np.interp(mx, x, y) == pytest.approx(my, rel=1e-9)
    assert "pseudo R²" in fig.texts[-1].get_text()


def test_points_of_another_period_are_refused(income):
    with pytest.raises(InputError, match=r"points: .*same panel, start and end"):
        charts.convergence_chart(dv.beta_convergence(income), dv.growth_points(income, end=1990))


# ---------------------------------------------------------------- small multiples
@pytest.fixture(scope="module")
def prefectures() -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The bundled prefectures, and an index of the 2020 report's counts in each."""
    units = boundaries.load("prefecture")
    county = boundaries.load("county")
    ranked = pd.read_csv(settings.data_dir / "rankings_2020.csv", dtype={"adcode": str})
    ranked["prefecture"] = ranked["adcode"].map(county["prefecture_code"])
    counts = pd.crosstab(ranked["prefecture"], ranked["ranking"]).reindex(units.index).fillna(0)
    table = counts.join(units[["area_km2", "n_units"]])
    dims = {"industry": ["industrial_counties", "industrial_districts"],
            "innovation": ["innovation_counties"], "size": ["area_km2", "n_units"]}  # fmt: skip
    index = composite.build(table, [c for cols in dims.values() for c in cols], dimensions=dims)
    return units, index.scores


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_dimension_maps_one_map_per_column_with_rounded_quantile_classes(prefectures, lang):
    units, scores = prefectures
    columns = ["score", "industry", "innovation", "size"]
    labels = {"score": "综合得分" if lang == "zh" else "Composite score"}
    fig = charts.dimension_maps(units, scores, columns, labels, lang)
    assert len(fig.axes) == len(columns)
    assert [ax.get_title(loc="left") for ax in fig.axes] == [labels["score"], *columns[1:]]
    for ax, col in zip(fig.axes, columns, strict=True):
        breaks = fig.geotool["breaks"][col]
        assert breaks == charts.class_breaks(scores[col], 5)
        for b in breaks:  # 2 significant digits unless 2 would merge two breaks
            assert float(f"{b:.3g}") == b
        # each unit's fill is its class's colour, and the legend counts the classes
        values = scores[col].reindex(units.index).to_numpy()
        cls = np.searchsorted(breaks, values, side="left")
        units_coll = [c for c in ax.collections if isinstance(c, PathCollection)][1]
        fills = [to_hex(c) for c in units_coll.get_facecolors()]
        by_class = pd.Series(fills).groupby(cls).nunique()
        assert (by_class == 1).all() and len(set(fills)) == len(by_class)
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert [int(re.search(r"\((\d+)\)$", t).group(1)) for t in legend] == np.bincount(
            cls
        ).tolist()
        written = [n for t in legend for n in re.findall(r"\d+(?:\.\d+)?(?= |$| –)", t)]
        assert written and all(_significant(n) <= 3 for n in written), written
    assert "+proj=aea" in fig.geotool["crs"] and "+lat_1=25" in fig.geotool["crs"]
    assert ("边界" if lang == "zh" else "Boundaries") in fig.texts[-1].get_text()
    _language(fig, lang, tuple(columns))
    image = _png(fig, dpi=100)
    assert image.size[0] == 750


def test_class_breaks_merge_ties_and_keep_digits_where_needed():
    ties = np.r_[np.zeros(85), np.arange(1, 16)]  # 85 % zeros: four quantiles are 0
    assert charts.class_breaks(ties, 5) == [0.0]
    near = 1000 + np.arange(100) / 10  # 2 significant digits would merge them all
    assert charts.class_breaks(near, 4) == [1002.0, 1005.0, 1007.0]  # 4 digits
    assert charts.class_breaks(np.ones(5)) == []


def test_us_maps_get_an_albers_conic_or_keep_a_projected_crs(income, states):
    table = income.assign(growth=income["2009"] / income["1929"])
    dims = {"level": ["1929", "2009"], "growth": ["growth"]}
    scores = composite.build(table, ["1929", "2009", "growth"], dimensions=dims).scores
    fig = charts.dimension_maps(states.set_crs("EPSG:4326"), scores, ["score", "level"])
    crs = fig.geotool["crs"]
    assert "+proj=aea +lat_1=29 +lat_2=45 +lat_0=37 +lon_0=-96" in crs
    assert "Boundaries" not in fig.texts[-1].get_text()
    albers = states.set_crs("EPSG:4326").to_crs("ESRI:102003")
    fig = charts.dimension_maps(albers.drop(index="Texas"), scores, ["growth"], lang="zh")
    assert fig.geotool["crs"] == str(albers.crs)
    assert fig.geotool["unplaced"] == ["Texas"]
    assert "1 个" in fig.texts[-1].get_text()


def test_dimension_maps_title_sits_above_the_maps_and_legends_stay_legible(income, states):
    scores = income.assign(growth=income["2009"] / income["1929"])
    fig = charts.dimension_maps(states.set_crs("EPSG:4326"), scores, ["1929", "growth"],
                                title="ML lag: growth ~ 1929")  # fmt: skip
    title = fig.texts[0]
    assert title.get_text() == "ML lag: growth ~ 1929"
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    top_of_maps = max(ax.get_tightbbox(renderer).y1 for ax in fig.axes)
    assert title.get_window_extent(renderer).y0 >= top_of_maps  # above every map's own title
    for ax in fig.axes:  # a light ground under each legend: legible over the units
        frame = ax.get_legend().get_frame()
        assert frame.get_visible() and frame.get_alpha() >= 0.8
        assert to_hex(frame.get_facecolor(), keep_alpha=False) == "#ffffff"
    untitled = charts.dimension_maps(states.set_crs("EPSG:4326"), scores, ["1929", "growth"])
    assert untitled.get_figheight() == pytest.approx(fig.get_figheight() - 0.3)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda f, s, u: charts.inequality_chart(f, "fr"), "lang='fr'"),
        (lambda f, s, u: charts.inequality_chart(s, "en"), "frame: pass divergence.inequality"),
        (lambda f, s, u: charts.sigma_chart(f, "en"), "frame: pass divergence.sigma"),
        (lambda f, s, u: charts.dimension_maps(u, s, ["nope"]), r"columns: \['nope'\]"),
        (lambda f, s, u: charts.dimension_maps(u, s, ["score"], k=1), "k=1"),
        (
            lambda f, s, u: charts.dimension_maps(u.drop(columns="geometry"), s, ["score"]),
            "units must be a GeoDataFrame",
        ),
        (lambda f, s, u: charts.dimension_maps(u.iloc[:0], s, ["score"]), "units: no geometry"),
    ],
)
def test_bad_input_is_refused_by_parameter(income, regions, prefectures, call, words):
    units, scores = prefectures
    with pytest.raises(InputError, match=words):
        call(dv.inequality(income, regions), scores, units)


def test_a_share_axis_labels_each_tick_with_its_own_percent():
    """Ticks 2.5 % apart were labelled 0 %, 2 %, 5 %, 8 %, 10 % (rounded to whole
    percents): every label now reads its tick's value."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from geotool.maps import charts

    fig = Figure(figsize=(4, 2))  # a panel's height: ticks 2.5 % apart
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    years = np.arange(2010, 2021)
    charts._share_axis(ax, years, pd.Series(np.linspace(0.02, 0.09, len(years))),
                       charts._words("en"))  # fmt: skip
    fig.canvas.draw()
    ticks = ax.get_yticks()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "2.5%" in labels and "7.5%" in labels, labels
    np.testing.assert_allclose([float(s.rstrip("%")) for s in labels], ticks * 100, atol=1e-9)
