"""Value maps (issue 24): mapclassify's classes, readable numbers in legends and tooltips.

Every bound shown is read back and compared with mapclassify's; every count with a count
of the values; numbers are checked against direct computations written here.
"""

import html
import json
import math
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geotool import boundaries, maps
from geotool._classify import classes, parse_spec
from geotool._errors import InputError
from geotool._numbers import for_breaks, for_values, resolution, unit_of
from geotool.maps import static
from geotool.study import Study

from .conftest import page_args as _page_args

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

CODES = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: A number as a legend or tooltip shows it: 12,345.6, 4.48万, 1.2亿, -0.5.
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:万|亿)?")
LABEL = re.compile(r"^(\S+) – (\S+) \((\d+)\)$")


@pytest.fixture(scope="module")
def mapclassify():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mapclassify as mc
    return mc


@pytest.fixture(scope="module")
def columbus():
    import geopandas as gpd
    import libpysal

    gdf = gpd.read_file(libpysal.examples.get_path("columbus.shp"))
    return gdf.set_crs("EPSG:4326", allow_override=True)  # no CRS in the file; drawn as degrees


def _value(text):
    """A shown number back as a float (4.48万 -> 44800)."""
    scale = 1e4 if text.endswith("万") else 1e8 if text.endswith("亿") else 1
    return float(text.rstrip("万亿").replace(",", "")) * scale


def _significant(text):
    """Significant digits a shown number states (trailing zeros of a whole number not)."""
    return len(text.rstrip("万亿").lstrip("-").replace(",", "").replace(".", "").strip("0"))


def _check_label(label, lo, hi, n, values):
    """A legend label: its bounds within rounding of ``lo``/``hi``, its count ``n``."""
    assert "e+" not in label and "e-" not in label, label
    m = LABEL.match(label)
    assert m, label
    shown_lo, shown_hi, count = m.groups()
    assert int(count) == n, label
    digits = max(_significant(shown_lo), _significant(shown_hi))
    for shown, bound in ((shown_lo, lo), (shown_hi, hi)):
        assert NUMBER.fullmatch(shown), label
        # d significant digits, or the data's decimals when fewer: within half a last place
        place = 10.0 ** (math.floor(math.log10(abs(bound))) - digits + 1) if bound else 0
        place = max(place, 10.0 ** -resolution(values))
        assert abs(_value(shown) - bound) <= place / 2 + 1e-9 * abs(bound), (label, bound)
    return digits


def _dense(col, n):
    """A tooltip column as one value (or None) per unit, as the page reads it."""
    values = col["v"]
    if col["k"] == "i":
        codes = [CODES.find(c) if isinstance(c, str) else c for c in values]
        values = [None if c in (-1, None) else col["d"][c] for c in codes]
    if "at" not in col:
        return list(values)
    out = [None] * n
    for r, v in zip(col["at"], values, strict=True):
        out[r] = v
    return out


def _tooltip_column(text, label):
    """``{id: shown}`` of the tooltip row ``label`` of a map page."""
    info = _page_args(text)[1]
    ids = info["ids"]
    (col,) = [c for lab, c in info["fields"] if lab == label]
    return dict(zip(ids, _dense(col, len(ids)), strict=True))


def _legend(text):
    """The legend's title and labels of a map page."""
    box = re.search(r'class="geotool-legend".*?</details>', text, re.S).group(0)
    title = re.search(r"<summary>(.*?)</summary>", box).group(1)  # a folding legend
    labels = re.findall(r"</span>(.*?)</div>", box)
    return html.unescape(title), [html.unescape(lab) for lab in labels]


# ------------------------------------------------------------------ numbers


def test_units_come_from_the_label():
    assert unit_of("GDP(亿元)") == "亿元"
    assert unit_of("income (USD)") == "USD"
    assert unit_of("人口（万人）") == "万人"
    assert unit_of("CRIME") == ""


@pytest.mark.parametrize(
    ("label", "lang", "value", "shown"),
    [
        ("income (USD)", None, 44763.75404530744, "44,764"),  # English: thousands grouped
        ("人口(人)", None, 44763.75404530744, "4.476万"),  # Chinese unit: 万
        ("人口(人)", None, 123456789.0, "1.235亿"),
        ("GDP(亿元)", None, 44763.75, "44,764"),  # 亿元 carries its magnitude: no 万 on it
        ("x", "en", 1234567.0, "1,234,567"),  # a whole number stays whole
        ("x", "en", 0.1 + 0.2, "0.3"),  # never more than the data's decimals
    ],
)
def test_tooltip_numbers(label, lang, value, shown):
    fmt = for_values([value], label=label, lang=lang)
    assert fmt(value) == shown
    assert _value(shown) == pytest.approx(value, rel=5e-4)


def test_resolution_is_the_datas_decimals(columbus):
    assert resolution([1.0, 2.0, 300.0]) == 0
    assert resolution([0.5, 1.25]) == 2
    # Columbus' INC is given to 3 decimals in the file (19.531 ...)
    decimals = max(len(f"{v}".split(".")[1].rstrip("0")) for v in columbus["INC"])
    assert resolution(columbus["INC"]) == decimals


def test_break_digits_tell_the_bounds_apart_and_stop_at_the_datas_resolution():
    fmt = for_breaks([1.0, 2.0, 3.0], [1.0, 1.5, 2.5, 3.0])
    assert fmt(1.5) == "2" and fmt(2.5) == "3"  # whole data: no decimal invented
    fmt = for_breaks([0.0, 1.0], [10001.0, 10002.0, 10003.0], lang="en")
    shown = [fmt(b) for b in (10001.0, 10002.0, 10003.0)]
    assert shown == ["10,001", "10,002", "10,003"]  # 5 digits needed, 3 would merge them


def test_parse_classes():
    assert parse_spec("quantiles:5") == ("quantiles", 5, None)
    assert parse_spec("jenks:4") == ("fisherjenks", 4, None)
    assert parse_spec("equal:3") == ("equalinterval", 3, None)
    assert parse_spec("breaks:1,10,100") == ("user", None, [1.0, 10.0, 100.0])
    for bad in ("jenk:5", "quantiles:1", "quantiles:x", "breaks:10,1", "breaks:a", "equal:99"):
        with pytest.raises(InputError, match="value_classes="):
            parse_spec(bad)


# --------------------------------------------- classes: mapclassify's, legends readable


@pytest.mark.parametrize("column", ["CRIME", "INC", "HOVAL"])
@pytest.mark.parametrize("spec", ["quantiles:5", "jenks:5", "equal:5", "breaks:20,40,60"])
def test_columbus_classes_are_mapclassifys(mapclassify, columbus, column, spec):
    y = columbus[column].astype(float)
    scheme, k, breaks = parse_spec(spec)
    out = classes(y, scheme=scheme, k=k, breaks=breaks, label=column)
    theirs = {
        "quantiles": lambda: mapclassify.Quantiles(y, k=k),
        "fisherjenks": lambda: mapclassify.FisherJenks(y, k=k),
        "equalinterval": lambda: mapclassify.EqualInterval(y, k=k),
        "user": lambda: mapclassify.UserDefined(y, breaks),
    }[scheme]()
    assert np.allclose(out.upper, theirs.bins)
    assert out.counts.tolist() == theirs.counts.tolist()
    assert out.codes.tolist() == theirs.yb.tolist()
    lows = [y.min(), *theirs.bins[:-1]]
    for label, lo, hi, n in zip(out.labels, lows, theirs.bins, theirs.counts, strict=True):
        _check_label(label, lo, hi, n, y)


def test_a_chinese_legend_writes_wan_where_the_unit_allows(mapclassify):
    pref = boundaries.load("prefecture")
    area = pref["area_km2"]
    theirs = mapclassify.Quantiles(area, k=5)
    out = classes(area, label="面积(平方公里)")  # no magnitude in the unit: 万 allowed
    for label, lo, hi, n in zip(out.labels, [area.min(), *theirs.bins[:-1]], theirs.bins,
                                theirs.counts, strict=True):  # fmt: skip
        digits = _check_label(label, lo, hi, n, area)
        assert digits <= 6
        for shown, bound in zip(LABEL.match(label).groups()[:2], (lo, hi), strict=True):
            assert shown.endswith("万") == (bound >= 1e4), label
            assert "," not in shown.rstrip("万"), label
    scaled = classes(area, label="面积(万平方公里)")  # 万 in the unit: no 万 on the numbers
    assert not any("万" in lab for lab in scaled.labels)
    english = classes(area, label="area (km2)")
    assert any("," in lab for lab in english.labels)
    assert not any("万" in lab for lab in english.labels)


def test_the_choropleth_legend_states_scheme_counts_and_no_data(columbus):
    geo = columbus.set_index(columbus["POLYID"].astype(str))
    inc = geo["INC"].rename("income (USD 1,000)")
    inc.iloc[[3, 7]] = np.nan
    text = maps.to_html(maps.choropleth(inc, geo=geo, scheme="fisherjenks", k=4))
    title, labels = _legend(text)
    assert title == (
        "income (USD 1,000) · natural breaks (Jenks), 4 classes (mapclassify FisherJenks)"
    )
    assert labels[-1] == "no data (2)"
    counts = [int(LABEL.match(lab).group(3)) for lab in labels[:-1]]
    assert sum(counts) == inc.notna().sum() and len(counts) == 4


def test_tooltips_show_readable_numbers(columbus):
    geo = columbus.set_index(columbus["POLYID"].astype(str))
    table = pd.DataFrame({"hoval": geo["HOVAL"], "big": geo["HOVAL"] * 1234.5678}, index=geo.index)
    fields = {"hoval": "house value (USD 1,000)", "big": "价值(元)"}
    text = maps.to_html(maps.choropleth(geo["CRIME"], geo=geo, table=table, fields=fields))
    hoval = _tooltip_column(text, fields["hoval"])
    big = _tooltip_column(text, fields["big"])
    for unit in geo.index:
        v, b = float(table.at[unit, "hoval"]), float(table.at[unit, "big"])
        shown = hoval[unit]
        assert "e+" not in shown and repr(b) not in text
        # 4 significant digits, never more decimals than the data: within half a last place
        decimals = resolution(table["hoval"])
        place = max(10.0 ** (math.floor(math.log10(abs(v))) - 3), 10.0**-decimals)
        assert abs(_value(shown) - v) <= place / 2 + 1e-9, (shown, v)
        assert big[unit].endswith("万") == (b >= 1e4)
        assert _value(big[unit]) == pytest.approx(b, rel=5e-4)


def test_value_figure_legend(columbus):
    geo = columbus.set_index(columbus["POLYID"].astype(str))
    crime = geo["CRIME"].copy()
    crime.iloc[0] = np.nan
    fig = static.value_figure(crime, label="CRIME", spec=("quantiles", 4, None), lang="en",
                              units=geo, source="columbus")  # fmt: skip
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    texts += [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts]
    texts += [t.get_text() for t in fig.texts]
    for leg in fig.legends:
        texts += [t.get_text() for t in leg.texts]
    out = classes(crime, scheme="quantiles", k=4, label="CRIME")
    joined = "\n".join(texts)
    for label in out.labels:
        assert label in joined
    assert "no data (1)" in joined and "quantiles, 4 classes (mapclassify Quantiles)" in joined
    assert not re.search(r"\d\.\d{7,}|e\+", joined)


# ----------------------------------------------------------------- whole runs


def test_a_bad_classes_flag_is_one_line_and_exit_2(tmp_path):
    cmd = [sys.executable, "-m", "geotool.cli", "run", "--classes", "jenk:5", "--out",
           str(tmp_path)]  # fmt: skip
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "geotool: error: --classes 'jenk:5': give quantiles:5, jenks:5, equal:5 or "
        "breaks:1,10,100."
    ]
    with pytest.raises(InputError, match="value_classes='breaks:3,1'"):
        Study(recipe="report2020", value_classes="breaks:3,1")


def _check_value_pages(out, variables, mapclassify, spec, *, lang_zh=False):
    """Each variable's page and figure: mapclassify's bounds and counts in its legend."""
    for key, values in variables.items():
        text = (out / "maps" / f"values_{key}.html").read_text(encoding="utf-8")
        title, labels = _legend(text)
        y = values.dropna().astype(float)
        scheme, k, breaks = spec
        with warnings.catch_warnings():  # ties (the report's zeros) merge quantile classes
            warnings.simplefilter("ignore")
            if scheme == "user":
                theirs = mapclassify.UserDefined(y, breaks)
            else:
                theirs = {"quantiles": mapclassify.Quantiles,
                          "fisherjenks": mapclassify.FisherJenks}[scheme](y, k=k)  # fmt: skip
        assert f"mapclassify {type(theirs).__name__}" in title
        shown = [lab for lab in labels if LABEL.match(lab)]
        assert len(shown) == len(theirs.bins)
        for label, lo, hi, n in zip(shown, [y.min(), *theirs.bins[:-1]], theirs.bins,
                                    theirs.counts, strict=True):  # fmt: skip
            _check_label(label, lo, hi, n, y)
        missing = int(values.isna().sum())
        assert (f"no data ({missing})" in labels) == bool(missing)
        assert (out / "figures" / f"values_{key}.png").stat().st_size > 10_000


def test_the_bundled_report_draws_a_value_map_per_variable(shared_run, mapclassify):
    from geotool.report import study as report

    run = shared_run("report_en")  # --figures png --dpi 40 --classes quantiles:4 --lang en
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.out
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    analysis = report.analysis(report.study(out=None))
    variables = {v.key: v.data for v in analysis.variables}
    assert {f"values_{k}.html" for k in variables} <= set(summary["maps"]["files"])
    _check_value_pages(out, variables, mapclassify, ("quantiles", 4, None))
    # the tooltips show the score as a whole number, the legend's title its scheme
    text = (out / "maps" / "values_industrial_counties.html").read_text(encoding="utf-8")
    tips = _tooltip_column(text, "industrial counties")
    score = variables["industrial_counties"]
    assert tips["320281"] == f"{score['320281']:,.0f}" == "100"


def test_a_gbk_prefecture_table_draws_its_value_maps(shared_run, mapclassify):
    from geotool import pipeline

    run = shared_run("prefecture_gbk")  # --all-numeric --classes breaks:0,1,3 --figures png
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.out
    analysis = pipeline.prepare(Study(data=EXAMPLES / "prefecture_top100_gbk.csv",
                                      all_numeric=True, out=None))  # fmt: skip
    variables = {v.key: v.data.reindex(analysis.units.index) for v in analysis.variables}
    _check_value_pages(out, variables, mapclassify, ("user", None, [0.0, 1.0, 3.0]))


def test_a_chinese_table_with_a_unit_reads_wan_in_its_legend(tmp_path):
    """A prefecture table of areas labelled 面积(平方公里): 万 on the page and the figure."""
    from geotool import pipeline

    pref = boundaries.load("prefecture")
    pref = pref[~pref["prefecture"].str.contains("直辖")]  # groups, not one prefecture
    table = pd.DataFrame({"代码": pref.index, "面积(平方公里)": pref["area_km2"].round(1)})
    path = tmp_path / "area.csv"
    table.to_csv(path, index=False, encoding="gbk")
    out = tmp_path / "a"
    pipeline.run(Study(data=path, out=out, permutations=99, value_cols=("面积(平方公里)",),
                       code_col="代码", value_classes="quantiles:5", lang="zh"))  # fmt: skip
    (page,) = (out / "maps").glob("values_*.html")
    title, labels = _legend(page.read_text(encoding="utf-8"))
    assert title.startswith("面积(平方公里) · 分位数，5 类（mapclassify Quantiles）")
    big = [lab for lab in labels if LABEL.match(lab)][-1]
    assert big.count("万") == 2, big
