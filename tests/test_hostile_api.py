"""The public Python API and the CLI given hostile input (issue 22).

Every hostile call must either raise one of geotool's own errors (or a plain
``ValueError``/``TypeError``) whose message names the argument, or succeed with a correct
result: never a foreign exception (``KeyError``, ``IndexError``, shapely's
``GEOSException``, pyproj's ``CRSError``, ``RuntimeError``, ``ZeroDivisionError``,
``UnicodeEncodeError`` ...), and never a silent wrong answer. The units are the bundled
counties and prefectures of 江苏省.
"""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely

from geotool import autocorr, boundaries, clusters, geometry, maps, match, tiers, transform, weights
from geotool._errors import GeotoolError, InputError
from geotool.cli import main
from geotool.maps import figure

# ----------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def js() -> gpd.GeoDataFrame:
    """江苏省's county-level units (95), with their names and a WGS84 CRS."""
    units = boundaries.load()
    return units[units["province"] == "江苏省"][["name", "prefecture", "geometry"]].copy()


@pytest.fixture(scope="module")
def values(js) -> pd.Series:
    """A variable with a real east-west gradient: the units' longitude."""
    lon = js.geometry.representative_point().x
    return pd.Series(lon.to_numpy() * 10, index=js.index, name="东经")


@pytest.fixture(scope="module")
def w(js) -> weights.Weights:
    return weights.build(js, "queen")


def _with(gdf: gpd.GeoDataFrame, pos: int, geom: shapely.Geometry) -> gpd.GeoDataFrame:
    out = gdf.copy()
    out.iloc[pos, out.columns.get_loc("geometry")] = geom
    return out


def _nan_vertex(gdf):
    with np.errstate(invalid="ignore"):
        return _with(gdf, 3, shapely.Polygon([(120, 31), (120.1, np.nan), (120.2, 31.2)]))


def _inf_vertex(gdf):
    return _with(gdf, 0, shapely.Polygon([(120, 31), (np.inf, 31.1), (120.2, 31.2)]))


def _scaled(gdf, factor):
    out = gdf.copy()
    out["geometry"] = gdf.geometry.scale(factor, factor, origin=(0, 0))
    return out


def _shifted(gdf, dx):
    out = gdf.copy()
    out["geometry"] = gdf.geometry.translate(dx, 0)
    return out


def _complete(n: int, ids: pd.Index) -> weights.Weights:
    """Every unit neighbours every other, at weight 1."""
    mat = sp.csr_matrix(np.ones((n, n)) - np.eye(n))
    return weights.Weights(sparse=mat, spec="complete", ids=ids[:n])


# -------------------------------------------------------------- the hostile table

FOREIGN = (
    KeyError,
    IndexError,
    AttributeError,
    ZeroDivisionError,
    RuntimeError,
    UnicodeError,
    OverflowError,
    AssertionError,
)


def _expect_refusal(call, fragment: str) -> None:
    """``call`` raises geotool's error, or a plain ValueError/TypeError, naming ``fragment``."""
    with pytest.raises(Exception) as info:
        call()
    exc = info.value
    own = isinstance(exc, GeotoolError) or type(exc) in (ValueError, TypeError)
    assert own and not isinstance(exc, FOREIGN), (
        f"foreign exception {type(exc).__module__}.{type(exc).__name__}: {exc}"
    )
    assert fragment in str(exc), str(exc)
    assert "\n" not in str(exc) and len(str(exc)) < 600, str(exc)


# (id, call taking the fixtures, a fragment of the message: the argument it names)
HOSTILE = [
    # weights.build: geometry passed directly
    ("weights NaN vertex knn", lambda d: weights.build(_nan_vertex(d.js), "knn:4"), "non-finite"),
    ("weights NaN vertex queen", lambda d: weights.build(_nan_vertex(d.js), "queen"), "non-finite"),
    ("weights inf vertex", lambda d: weights.build(_inf_vertex(d.js), "knn:4"), "non-finite"),
    ("weights 1e300 coords", lambda d: weights.build(_scaled(d.js, 1e298), "knn:4"), "latitudes"),
    ("weights lon 500", lambda d: weights.build(_shifted(d.js, 380), "knn:4"), "longitudes"),
    ("weights lon 500 queen", lambda d: weights.build(_shifted(d.js, 380), "queen"), "longitudes"),
    (
        "weights projected 1e20",
        lambda d: weights.build(_scaled(d.js.to_crs(3857), 1e13), "knn:4"),
        "100,000 km",
    ),
    (
        "weights spec 10k digits",
        lambda d: weights.build(d.js, "knn:" + "9" * 10_000),
        "10,000-digit",
    ),
    (
        "weights spec huge band",
        lambda d: weights.build(d.js, "distance:" + "9" * 400 + "km"),
        "km or m",
    ),
    ("weights spec None", lambda d: weights.build(d.js, None), "Unknown weights spec"),
    ("weights knn too many", lambda d: weights.build(d.js, "knn:500"), "knn:94"),
    ("weights geo None", lambda d: weights.build(None, "queen"), "geo must be"),
    ("weights geo int", lambda d: weights.build(5, "queen"), "geo must be"),
    ("weights empty codes", lambda d: weights.build([], "queen"), "at least 3 units"),
    ("weights bad codes", lambda d: weights.build(["x", None, "1"], "queen"), "codes"),
    (
        "weights dup index",
        lambda d: weights.build(pd.concat([d.js, d.js.iloc[:1]]), "queen"),
        "duplicated",
    ),
    ("weights islands", lambda d: weights.build(d.js, "queen", islands=["x"]), "is not a rule"),
    (
        "weights bridge bool",
        lambda d: weights.build(d.js, "queen", max_bridge_km=True),
        "max_bridge_km",
    ),
    (
        "weights bridge nan",
        lambda d: weights.build(d.js, "queen", max_bridge_km=math.nan),
        "max_bridge_km",
    ),
    ("weights labels list", lambda d: weights.build(d.js, "queen", labels=["a"]), "labels must be"),
    (
        "weights labels column",
        lambda d: weights.build(d.js, "queen", labels="名称"),
        "labels='名称'",
    ),
    (
        "weights no CRS",
        lambda d: weights.build(d.js.set_crs(None, allow_override=True), "knn:4"),
        "no CRS",
    ),
    # geometry.positions
    ("positions NaN vertex", lambda d: geometry.positions(_nan_vertex(d.js)), "non-finite"),
    ("positions DataFrame", lambda d: geometry.positions(pd.DataFrame(d.js)), "GeoDataFrame"),
    ("positions crs junk", lambda d: geometry.positions(d.js, crs="EPSG:99999999"), "crs="),
    ("positions crs degrees", lambda d: geometry.positions(d.js, crs=4326), "not a projected"),
    (
        "positions empty geometry",
        lambda d: geometry.positions(_with(d.js, 1, shapely.Polygon())),
        "empty",
    ),
    # autocorr
    ("global values list", lambda d: autocorr.global_stats(list(d.x), d.w), "values must be"),
    (
        "global NaN value",
        lambda d: autocorr.global_stats(d.x.where(d.x.index != d.x.index[2]), d.w),
        "missing or infinite",
    ),
    (
        "global inf value",
        lambda d: autocorr.global_stats(d.x.replace(d.x.iloc[0], np.inf), d.w),
        "missing or infinite",
    ),
    ("global huge value", lambda d: autocorr.global_stats(d.x * 1e160, d.w), "too large"),
    (
        "global text values",
        lambda d: autocorr.global_stats(d.x.astype(str), d.w),
        "not numeric",
    ),
    (
        "global dup index",
        lambda d: autocorr.global_stats(pd.concat([d.x, d.x.iloc[:1]]), d.w),
        "duplicated",
    ),
    (
        "global other index",
        lambda d: autocorr.global_stats(d.x.set_axis(range(len(d.x))), d.w),
        "no value",
    ),
    ("global constant", lambda d: autocorr.global_stats(d.x * 0 + 3, d.w), "same value"),
    ("global w None", lambda d: autocorr.global_stats(d.x, None), "w must be"),
    (
        "global permutations -1",
        lambda d: autocorr.global_stats(d.x, d.w, permutations=-1),
        "permutations=",
    ),
    (
        "global permutations 5",
        lambda d: autocorr.global_stats(d.x, d.w, permutations=5),
        "permutations=5",
    ),
    (
        "global permutations str",
        lambda d: autocorr.global_stats(d.x, d.w, permutations="999"),
        "permutations=",
    ),
    ("global seed -1", lambda d: autocorr.global_stats(d.x, d.w, seed=-1), "seed="),
    ("global seed huge", lambda d: autocorr.global_stats(d.x, d.w, seed=2**80), "seed="),
    (
        "global other NaN",
        lambda d: autocorr.global_stats(d.x, d.w, other=d.x * np.nan),
        "other",
    ),
    ("local alpha 2", lambda d: autocorr.local_stats(d.x, d.w, alpha=2), "alpha="),
    ("local alpha nan", lambda d: autocorr.local_stats(d.x, d.w, alpha=math.nan), "alpha="),
    (
        "local adjust junk",
        lambda d: autocorr.local_stats(d.x, d.w, adjust="holm"),
        "adjust must be",
    ),
    (
        "local fdr contradiction",
        lambda d: autocorr.local_stats(d.x, d.w, adjust="bonferroni", fdr=True),
        "fdr=True",
    ),
    (
        "local 3 units",
        lambda d: autocorr.local_stats(d.x.iloc[:3], weights.build(d.js.iloc[:3], "knn:2")),
        "at least 4",
    ),
    # tiers
    (
        "assign inf",
        lambda d: tiers.assign(pd.Series([1, 2, np.inf, 4, 5.0])),
        "scores: 1 value(s) are infinite",
    ),
    (
        "assign NaN",
        lambda d: tiers.assign(pd.Series([1, 2, np.nan, 4, 5.0])),
        "scores: 1 value(s) are missing",
    ),
    ("assign list", lambda d: tiers.assign([1.0, 2, 3]), "scores: expected a pandas Series"),
    (
        "assign text",
        lambda d: tiers.assign(pd.Series(["高", "低", "中"])),
        "scores: 3 value(s) are not numbers",
    ),
    ("assign bool", lambda d: tiers.assign(pd.Series([True, False, True])), "booleans"),
    ("assign k 0", lambda d: tiers.assign(d.x, k=0), "k=0"),
    ("assign k huge", lambda d: tiers.assign(d.x, k=10**30), "k="),
    ("assign k float", lambda d: tiers.assign(d.x, k=2.5), "k=2.5"),
    ("assign method", lambda d: tiers.assign(d.x, method=None), "method must be"),
    ("assign empty", lambda d: tiers.assign(pd.Series([], dtype=float)), "no values"),
    (
        "from_scores unequal",
        lambda d: tiers.from_scores(["a", "b", "c"], [1.0, 2.0]),
        "units 3, scores 2",
    ),
    (
        "from_scores years unequal",
        lambda d: tiers.from_scores(list("abcd"), [1.0, 2, 3, 4], years=[1, 2]),
        "years 2",
    ),
    (
        "from_scores dup ids",
        lambda d: tiers.from_scores(list("aacde"), [1.0, 2, 3, 4, 5], k=2),
        "more than once",
    ),
    (
        "from_scores None id",
        lambda d: tiers.from_scores(["a", None, "c", "d"], [1.0, 2, 3, 4], k=2),
        "missing or blank",
    ),
    (
        "from_scores blank id",
        lambda d: tiers.from_scores(["a", " ", "c", "d"], [1.0, 2, 3, 4], k=2),
        "missing or blank",
    ),
    (
        "from_scores NaN id",
        lambda d: tiers.from_scores(["a", np.nan, "c", "d"], [1.0, 2, 3, 4], k=2),
        "missing or blank",
    ),
    (
        "from_scores NaN year",
        lambda d: tiers.from_scores(
            list("abcd"), [1.0, 2, 3, 4], years=[2020, None, 2020, 2020], k=2
        ),
        "years: 1 year(s)",
    ),
    (
        "from_scores inf",
        lambda d: tiers.from_scores(list("abcd"), [1.0, np.inf, 3, 4], k=2),
        "scores: 1 value(s) are infinite",
    ),
    (
        "from_scores str units",
        lambda d: tiers.from_scores("abcd", [1.0, 2, 3, 4]),
        "units must be a sequence",
    ),
    ("from_scores 2-d", lambda d: tiers.from_scores(np.zeros((2, 2)), [1.0, 2]), "one-dimensional"),
    ("unit_positions None", lambda d: tiers.unit_positions(None), "geo must be"),
    ("unit_positions NaN vertex", lambda d: tiers.unit_positions(_nan_vertex(d.js)), "non-finite"),
    ("unit_positions core NaN", lambda d: tiers.unit_positions(d.js, core=(np.nan, 30)), "core="),
    ("unit_positions core 3", lambda d: tiers.unit_positions(d.js, core=(1, 2, 3)), "core must be"),
    ("unit_positions core lat 95", lambda d: tiers.unit_positions(d.js, core=(120, 95)), "core="),
    (
        "unit_positions coast str",
        lambda d: tiers.unit_positions(d.js, coast="coast"),
        "coast must be",
    ),
    (
        "analyse no tier",
        lambda d: tiers.analyse(pd.DataFrame({"adcode": ["1"]}), pd.DataFrame()),
        "no column ['tier']",
    ),
    ("analyse table list", lambda d: tiers.analyse([1], pd.DataFrame()), "table must be"),
    (
        "analyse tier 0",
        lambda d: tiers.analyse(pd.DataFrame({"adcode": ["1", "2"], "tier": [0, 1]}), d.pos),
        "whole numbers from 1",
    ),
    (
        "analyse tier NaN",
        lambda d: tiers.analyse(pd.DataFrame({"adcode": ["1", "2"], "tier": [np.nan, 1]}), d.pos),
        "whole numbers from 1",
    ),
    (
        "analyse pos no x",
        lambda d: tiers.analyse(d.tier_table, d.pos.drop(columns="x")),
        "missing ['x']",
    ),
    (
        "analyse pos NaN",
        lambda d: tiers.analyse(d.tier_table, d.pos.assign(lon=np.nan)),
        "finite x, y",
    ),
    (
        "analyse dup units",
        lambda d: tiers.analyse(pd.concat([d.tier_table, d.tier_table.iloc[:1]]), d.pos),
        "repeats units",
    ),
    (
        "analyse year_col absent",
        lambda d: tiers.analyse(d.tier_table, d.pos, year_col="年份"),
        "year_col='年份'",
    ),
    ("analyse ellipse", lambda d: tiers.analyse(d.tier_table, d.pos, ellipse="round"), "ellipse"),
    # clusters.belts
    ("belts list", lambda d: clusters.belts([True], d.w), "selected must be"),
    ("belts NaN", lambda d: clusters.belts(pd.Series(np.nan, index=d.js.index), d.w), "True/False"),
    ("belts text", lambda d: clusters.belts(pd.Series("yes", index=d.js.index), d.w), "True/False"),
    (
        "belts dup",
        lambda d: clusters.belts(pd.Series(True, index=[*d.js.index, d.js.index[0]]), d.w),
        "duplicated",
    ),
    (
        "belts unknown unit",
        lambda d: clusters.belts(pd.Series(True, index=["999999"]), d.w),
        "not in the weights",
    ),
    (
        "belts order NaN",
        lambda d: clusters.belts(
            pd.Series(True, index=d.js.index), d.w, order=pd.Series(np.nan, index=d.js.index)
        ),
        "order has no finite rank",
    ),
    (
        "belts order list",
        lambda d: clusters.belts(pd.Series(True, index=d.js.index), d.w, order=[1]),
        "order must be",
    ),
    (
        "belts w None",
        lambda d: clusters.belts(pd.Series(True, index=d.js.index), None),
        "w must be",
    ),
    # maps
    (
        "choropleth NaN vertex",
        lambda d: maps.choropleth(d.x, geo=_nan_vertex(d.js)),
        "non-finite",
    ),
    (
        "choropleth lon 500",
        lambda d: maps.choropleth(d.x, geo=_shifted(d.js, 380)),
        "longitudes",
    ),
    (
        "choropleth inf breaks",
        lambda d: maps.choropleth(d.x, geo=d.js, scheme="user", breaks=[1, np.inf]),
        "breaks=",
    ),
    (
        "choropleth NaN breaks",
        lambda d: maps.choropleth(d.x, geo=d.js, scheme="user", breaks=[np.nan]),
        "breaks=",
    ),
    (
        "choropleth unsorted",
        lambda d: maps.choropleth(d.x, geo=d.js, scheme="user", breaks=[1200, 1190]),
        "increase strictly",
    ),
    (
        "choropleth duplicate",
        lambda d: maps.choropleth(d.x, geo=d.js, scheme="user", breaks=[1190, 1190, 1200]),
        "increase strictly",
    ),
    (
        "choropleth breaks text",
        lambda d: maps.choropleth(d.x, geo=d.js, scheme="user", breaks=["1", "2"]),
        "breaks=",
    ),
    (
        "choropleth breaks str",
        lambda d: maps.choropleth(d.x, geo=d.js, scheme="user", breaks="1,2"),
        "breaks=[",
    ),
    (
        "choropleth breaks empty",
        lambda d: maps.choropleth(d.x, geo=d.js, scheme="user", breaks=[]),
        "breaks is empty",
    ),
    (
        "choropleth breaks w/o user",
        lambda d: maps.choropleth(d.x, geo=d.js, breaks=[1, 2]),
        "scheme='user'",
    ),
    (
        "choropleth k with user",
        lambda d: maps.choropleth(d.x, geo=d.js, scheme="user", breaks=[1195], k=3),
        "k=",
    ),
    (
        "choropleth inf value",
        lambda d: maps.choropleth(d.x.replace(d.x.iloc[0], np.inf), geo=d.js),
        "infinite",
    ),
    (
        "choropleth dup index",
        lambda d: maps.choropleth(pd.concat([d.x, d.x.iloc[:1]]), geo=d.js),
        "duplicated",
    ),
    (
        "choropleth text",
        lambda d: maps.choropleth(d.x.astype(str), geo=d.js),
        "numeric pandas Series",
    ),
    (
        "choropleth no match",
        lambda d: maps.choropleth(d.x.set_axis(range(len(d.x))), geo=d.js),
        "None of the",
    ),
    (
        "choropleth scheme",
        lambda d: maps.choropleth(d.x, geo=d.js, scheme=["x"]),
        "scheme must be",
    ),
    ("choropleth cmap", lambda d: maps.choropleth(d.x, geo=d.js, cmap=["x"]), "cmap"),
    ("choropleth k 1", lambda d: maps.choropleth(d.x, geo=d.js, k=1), "k=1"),
    ("choropleth k 1000", lambda d: maps.choropleth(d.x, geo=d.js, k=1000), "k=1,000"),
    ("choropleth geo list", lambda d: maps.choropleth(d.x, geo=[1, 2]), "geo"),
    ("choropleth all NaN", lambda d: maps.choropleth(d.x * np.nan, geo=d.js), "None of the"),
    # match.resolve
    (
        "resolve surrogate name",
        lambda d: match.resolve(
            pd.DataFrame({"县": pd.Series(["\ud800", "江阴市"], dtype=object)})
        ),
        "name_col='县'",
    ),
    (
        "resolve surrogate inside",
        lambda d: match.resolve(
            pd.DataFrame({"县": pd.Series(["江阴\udcff市", "昆山市"], dtype=object)})
        ),
        "lone surrogate",
    ),
    (
        "resolve surrogate province",
        lambda d: match.resolve(
            pd.DataFrame({"省": pd.Series(["江苏\ud800"], dtype=object), "县": ["江阴市"]})
        ),
        "province_col='省'",
    ),
    (
        "resolve surrogate code",
        lambda d: match.resolve(pd.DataFrame({"代码": pd.Series(["3202\ud80081"], dtype=object)})),
        "code_col='代码'",
    ),
    ("resolve list", lambda d: match.resolve([["江阴市"]]), "DataFrame"),
    ("resolve empty", lambda d: match.resolve(pd.DataFrame({"县": []})), "no rows"),
    (
        "resolve level",
        lambda d: match.resolve(pd.DataFrame({"县": ["江阴市"]}), level="town"),
        "level=",
    ),
    (
        "resolve name_col absent",
        lambda d: match.resolve(pd.DataFrame({"县": ["江阴市"]}), name_col="名称"),
        "名称",
    ),
    ("resolve blank", lambda d: match.resolve(pd.DataFrame({"县": [None, ""]})), "blank"),
    # transform
    ("log zero", lambda d: transform.log(pd.Series([0.0, 1, 2], name="GDP")), "log1p=True"),
    ("log inf", lambda d: transform.log(pd.Series([np.inf, 1, 2], name="GDP")), "values (GDP)"),
    ("log list", lambda d: transform.log([1.0, 2.0]), "expected a pandas Series"),
    ("log1p -1", lambda d: transform.log(pd.Series([-1.0, 1.0]), log1p=True), "-1 or less"),
    (
        "standardise constant",
        lambda d: transform.standardise(pd.Series([2.0, 2.0], name="x")),
        "every value is 2",
    ),
    ("standardise empty", lambda d: transform.standardise(pd.Series([], dtype=float)), "no values"),
    (
        "rate scale 1e308",
        lambda d: transform.rate(pd.Series([5.0, 6.0]), pd.Series([1e-3, 2.0]), scale=1e308),
        "scale=1e+308",
    ),
    (
        "rate scale tiny",
        lambda d: transform.rate(pd.Series([5.0, 6.0]), pd.Series([1e3, 2.0]), scale=1e-323),
        "underflow",
    ),
    (
        "rate scale nan",
        lambda d: transform.rate(pd.Series([5.0]), pd.Series([1.0]), scale=math.nan),
        "scale=",
    ),
    (
        "rate scale bool",
        lambda d: transform.rate(pd.Series([5.0]), pd.Series([1.0]), scale=True),
        "scale=",
    ),
    (
        "rate population 0",
        lambda d: transform.rate(pd.Series([5.0, 6]), pd.Series([0.0, 2])),
        "population",
    ),
    (
        "rate mismatched index",
        lambda d: transform.rate(pd.Series([5.0], index=["a"]), pd.Series([1.0], index=["b"])),
        "no value for 1 unit",
    ),
    (
        "rate dup index",
        lambda d: transform.rate(
            pd.Series([5.0, 6], index=["a", "a"]), pd.Series([1.0, 2], index=["a", "a"])
        ),
        "duplicated",
    ),
    ("rate list", lambda d: transform.rate([5.0], [1.0]), "pandas Series"),
    (
        "eb scale 1e308",
        lambda d: transform.eb_rate(
            pd.Series([5.0, 60, 7]), pd.Series([10.0, 20, 30]), scale=1e308
        ),
        "scale=1e+308",
    ),
    (
        "eb negative",
        lambda d: transform.eb_rate(pd.Series([-5.0, 6]), pd.Series([10.0, 20])),
        "negative",
    ),
    (
        "apply unknown column",
        lambda d: transform.apply(pd.DataFrame({"a": [1.0]}), "b"),
        "not in the table",
    ),
    ("apply no columns", lambda d: transform.apply(pd.DataFrame({"a": [1.0]}), []), "none"),
    (
        "apply transform junk",
        lambda d: transform.apply(pd.DataFrame({"a": [1.0]}), "a", transform="sqrt"),
        "transform=",
    ),
    (
        "apply per itself",
        lambda d: transform.apply(pd.DataFrame({"a": [1.0, 2]}), "a", per="a"),
        "per='a'",
    ),
    (
        "apply log zeros",
        lambda d: transform.apply(pd.DataFrame({"a": [0.0, 2]}), "a", transform="log"),
        "transform='log1p'",
    ),
    (
        "apply scale overflow",
        lambda d: transform.apply(
            pd.DataFrame({"a": [1.0, 2], "p": [1e-5, 1]}), "a", per="p", scale=1e308
        ),
        "scale=",
    ),
    (
        "apply spatial_eb no w",
        lambda d: transform.apply(
            pd.DataFrame({"a": [1.0], "p": [2.0]}), "a", per="p", smooth="spatial_eb"
        ),
        "needs weights",
    ),
]


class _Data:
    """The fixtures as attributes, for the table's lambdas."""

    def __init__(self, js, values, w):
        self.js, self.x, self.w = js, values, w
        codes = list(js.index[:12])
        self.pos = tiers.unit_positions(codes)
        self.tier_table = tiers.from_scores(codes, values.loc[codes], k=3)


@pytest.fixture(scope="module")
def data(js, values, w) -> _Data:
    return _Data(js, values, w)


@pytest.mark.parametrize(("call", "fragment"), [pytest.param(c, f, id=i) for i, c, f in HOSTILE])
def test_hostile_call_is_refused_naming_the_argument(call, fragment, data):
    _expect_refusal(lambda: call(data), fragment)


# ---------------------------------------------------- hostile but correct: succeed


def test_longitudes_0_to_360_give_the_same_weights(js):
    """A -180..180 layer and the same layer in the 0..360 convention: same neighbours."""
    east = weights.build(js, "knn:4")
    wrapped = weights.build(_shifted(js, 360 - 360), "knn:4")  # same, as a control
    assert (east.sparse != wrapped.sparse).nnz == 0
    far = js.copy()
    far["geometry"] = js.geometry.translate(-180, 0)  # 120 E -> -60: a UTM-sized extent
    plus = far.copy()
    plus["geometry"] = far.geometry.translate(360, 0)  # the same places as 300 E
    a, b = weights.build(far, "knn:4"), weights.build(plus, "knn:4")
    assert (a.sparse != b.sparse).nnz == 0
    pos = geometry.positions(plus)  # measured in a CRS centred on them, not refused
    assert np.isfinite(pos.xy).all() and "-60" in pos.crs_note


def test_gauss_krueger_zone_eastings_are_plausible(js):
    """CGCS2000 3-degree Gauss-Krueger zone 40 (false easting 40,500 km) is accepted."""
    gk = js.to_crs(4528)
    assert gk.total_bounds[0] > 4e7
    assert weights.build(gk, "knn:4").report["units"] == len(js)


def test_tiers_from_scores_keeps_distinct_units_per_year(js, values):
    codes = list(js.index[:8])
    table = tiers.from_scores(
        codes * 2,
        np.r_[values.loc[codes], values.loc[codes] + 1],
        years=[2019] * 8 + [2020] * 8,
        k=2,
    )
    assert len(table) == 16 and set(table["year"]) == {2019, 2020}
    assert table.groupby("year")["tier"].min().tolist() == [1, 1]


def test_sorted_user_breaks_draw(js, values):
    fmap = maps.choropleth(values, geo=js, scheme="user", breaks=[1190.0, 1200.0, 1210.0])
    html = maps.to_html(fmap)
    assert "1190" in html and "东经" in html


def test_belts_of_zero_one_selection(js, w):
    """1/0 and True/False select the same units; belts are their connected groups."""
    chosen = pd.Series(0, index=js.index)
    chosen.iloc[:20] = 1
    as_int = clusters.belts(chosen, w)
    as_bool = clusters.belts(chosen.astype(bool), w)
    pd.testing.assert_frame_equal(as_int, as_bool)
    assert as_int["size"].sum() == 20


def test_a_wrapped_pair_of_codes_works(js):
    codes = tuple(js.index[:5])
    assert weights.build(codes, "knn:2").report["units"] == 5
    assert len(tiers.unit_positions(codes)) == 5


# ------------------------------------------------------------ degenerate inference


def test_complete_graph_global_statistics_are_untestable(values, caplog):
    """Every unit neighbours every other: I = E[I] for any data, variance 0, p undefined."""
    ids = values.index
    wc = _complete(12, ids)
    with caplog.at_level(logging.WARNING, logger="geotool"):
        g = autocorr.global_stats(values.loc[ids[:12]], wc, permutations=99, seed=1)
    g = g.set_index("statistic")
    assert g.loc["moran_i", "value"] == pytest.approx(-1 / 11)
    for stat in ("moran_i", "geary_c", "getis_ord_g"):
        row = g.loc[stat]
        assert math.isnan(row["p_norm"]) and math.isnan(row["p_sim"]), row
        assert "cannot be tested" in row["note"]
    assert math.isnan(g.loc["moran_i", "p_rand"])
    assert "cannot be tested" in caplog.text
    assert g.columns[-1] == "note"


def test_real_weights_give_no_note(values, w, caplog):
    with caplog.at_level(logging.WARNING, logger="geotool"):
        g = autocorr.global_stats(values, w, permutations=99, seed=1)
    assert (g["note"] == "").all()
    assert g["p_sim"].notna().all() and g["p_norm"].notna().all()
    assert g.set_index("statistic").loc["moran_i", "value"] > 0.5  # a real gradient
    assert "cannot be tested" not in caplog.text


def test_complete_graph_local_statistics_are_untestable(values, caplog):
    ids = values.index
    wc = _complete(12, ids)
    with caplog.at_level(logging.WARNING, logger="geotool"):
        local = autocorr.local_stats(values.loc[ids[:12]], wc, permutations=99, seed=1)
    assert local["p_sim"].isna().all() and local["gi_star_p_sim"].isna().all()
    assert not local["significant"].any()
    assert "12 of 12 units neighbour every other unit" in local.attrs["degenerate_note"]
    assert "neighbour every other unit" in caplog.text


def test_one_hub_unit_is_untestable_the_others_are_not(values, w):
    """A unit linked to all others (a hub) has no permutation distribution; the rest do."""
    n = len(w.ids)
    mat = w.sparse.tolil()
    mat[0, :] = 1.0
    mat[:, 0] = 1.0
    mat[0, 0] = 0.0
    hub = weights.Weights(sparse=mat.tocsr(), spec="queen+hub", ids=w.ids)
    local = autocorr.local_stats(values, hub, permutations=99, seed=1)
    assert math.isnan(local["p_sim"].iloc[0])
    assert local["p_sim"].iloc[1:].notna().all()
    assert "1 of 95 units" in local.attrs["degenerate_note"] and n == 95


# ---------------------------------------------------------------------------- CLI


def _one_error(rc: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("geotool: error")]
    assert rc == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def prefectures(tmp_path_factory):
    """A table and a geometry file of 江苏省's prefectures, both with a ``name`` column."""
    folder = tmp_path_factory.mktemp("h22api")
    p = boundaries.load("prefecture")
    p = p[p["province"] == "江苏省"]
    table = pd.DataFrame(
        {
            "name": p["prefecture"].to_numpy(),
            "code": p.index.to_numpy(),
            "GDP": np.arange(len(p)) * 10.0 + 5,
            "人口": np.arange(len(p)) + 1.0,
        }
    )
    table.to_csv(folder / "t.csv", index=False)
    geo = p[["prefecture", "geometry"]].rename(columns={"prefecture": "name"})
    geo.reset_index(names="code").to_file(folder / "g.gpkg")
    zero = table.copy()
    zero.loc[0, "GDP"] = 0
    zero.to_csv(folder / "zero.csv", index=False)
    return folder


def test_map_with_a_name_column_in_both_table_and_geometry(prefectures, capsys):
    f = prefectures
    out = f / "m.html"
    argv = ["-q", "map", "--data", f / "t.csv", "--geometry", f / "g.gpkg", "--id-col", "code",
            "--value-col", "GDP", "--out", out]  # fmt: skip
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == 0, err
    html = out.read_text(encoding="utf-8")
    assert "苏州市" in html and "internal error" not in err


def test_scale_overflow_is_refused_after_the_rates(prefectures, capsys):
    f = prefectures
    argv = ["-q", "run", "--data", f / "t.csv", "--value-col", "GDP", "--per", "人口",
            "--scale", "1e308", "--out", f / "r1"]  # fmt: skip
    line = _one_error(main([str(a) for a in argv]), capsys.readouterr().err)
    assert "--scale 1e+308" in line and "overflow" in line
    assert "000,000,000" not in line  # the scale is not spelt out in 309 digits


def test_log_of_zeros_advises_the_flag(prefectures, capsys):
    f = prefectures
    argv = ["-q", "run", "--data", f / "zero.csv", "--value-col", "GDP", "--transform", "log",
            "--out", f / "r3"]  # fmt: skip
    line = _one_error(main([str(a) for a in argv]), capsys.readouterr().err)
    assert "--transform log1p" in line and "log1p=True" not in line and "transform=" not in line
    assert "320100" in line  # the unit (南京市) whose value is zero


def test_figure_formats_are_case_insensitive(prefectures, capsys):
    assert figure.validate(["PNG", " Svg", "png"]) == ("png", "svg")
    f = prefectures
    argv = ["-q", "run", "--data", f / "t.csv", "--value-col", "GDP", "--figures", "PNG,GIF",
            "--out", f / "r2"]  # fmt: skip
    line = _one_error(main([str(a) for a in argv]), capsys.readouterr().err)
    assert "--figures gif is not a figure format" in line and "PNG" not in line


def test_match_names_lines_of_the_file_and_advice_that_works(tmp_path, capsys):
    """One unmatched row among 2,875: the advice is a share that lets it through."""
    units = boundaries.units()
    table = pd.DataFrame({"省": units["province"], "市": units["prefecture"], "县": units["name"]})
    table = pd.concat([table, pd.DataFrame({"省": ["江苏省"], "市": [""], "县": ["不存在县"]})])
    text = table.to_csv(index=False, lineterminator="\n")
    head, rest = text.split("\n", 1)
    data = tmp_path / "all.csv"
    data.write_text(head + "\n\n" + rest, encoding="utf-8")  # a blank line after the header
    out = tmp_path / "report.csv"
    rc = main(["-q", "match", str(data), "--out", str(out)])
    line = _one_error(rc, capsys.readouterr().err)
    last_line = len(table) + 2  # header, blank line, then the rows
    assert f"first: line {last_line}," in line, line
    advice = line.split("--max-unmatched ")[1].split(".", 1)
    share = float(advice[0] + "." + advice[1].split()[0].rstrip("."))
    assert 1 / len(table) <= share < 2 / len(table)  # enough digits: 0.00035, not 0.00
    report = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    assert report["line"].iloc[0] == "3" and report["line"].iloc[-1] == str(last_line)
    rc = main(["-q", "match", str(data), "--out", str(out), "--max-unmatched", str(share)])
    assert rc == 0, capsys.readouterr().err


def test_row_numbers_are_lines_of_the_file(tmp_path, capsys):
    """A value that is not a number, on line 6 of a file with blank and multi-line rows."""
    data = tmp_path / "t.csv"
    data.write_text(
        '县,值,备注\n江阴市,1,"两行\n备注"\n\n昆山市,2,\n张家港市,abc,\n常熟市,4,\n太仓市,5,\n',
        encoding="utf-8",
    )
    rc = main(["-q", "autocorr", "--data", str(data), "--value-col", "值", "--out", str(tmp_path)])
    line = _one_error(rc, capsys.readouterr().err)
    assert "'abc' at line 6" in line, line


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["autocorr", "--weights", "knn:" + "9" * 5000], "5,000-digit"),
        (["autocorr", "--weights", "distance:1e9km"], "Unknown weights spec"),
        (["match", "MISSING.csv", "--max-unmatched", "nan"], "--max-unmatched nan"),
    ],
    ids=["knn 5000 digits", "distance exponent", "max-unmatched nan"],
)
def test_cli_hostile_options(argv, fragment, tmp_path, capsys):
    rc = main(["-q", *argv, "--out", str(tmp_path / "o.csv" if argv[0] == "match" else tmp_path)])
    line = _one_error(rc, capsys.readouterr().err)
    assert fragment in line, line


# ------------------------------------------------------------------ second trial


@pytest.mark.parametrize(
    "given", ["tcp://[::1", "[::1:8786", "tcp://127.0.0.1:8786]", "tcp://[zz]:8786"]
)
def test_a_malformed_scheduler_address_is_refused_by_name(given):
    from geotool._scheduler import address

    with pytest.raises(InputError, match=r"scheduler=.*not an address"):
        address(given)


def test_complex_values_are_not_real_numbers():
    p = boundaries.load("prefecture")
    p = p[p["province"] == "江苏省"]
    w = weights.build(p, "queen")
    values = pd.Series(np.arange(len(p)) + 1j, index=p.index)
    with pytest.raises(InputError, match=r"values: .* not real numbers"):
        autocorr.local_stats(values, w, permutations=99)


def test_a_crs_of_another_planet_is_one_line(tmp_path, capsys):
    grid = gpd.GeoDataFrame(
        {"id": [f"c{i}" for i in range(9)], "v": np.arange(9.0)},
        geometry=[shapely.box(i % 3, i // 3, i % 3 + 1, i // 3 + 1) for i in range(9)],
        crs="IAU_2015:49900",  # Mars
    )
    path = tmp_path / "mars.gpkg"
    grid.to_file(path)
    code = main(["autocorr", "--data", str(path), "--id-col", "id", "--permutations", "99",
                 "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cannot be converted" in err[0], err


def test_messages_quote_the_users_text_as_it_is():
    from geotool.cli import _as_flags

    said = "year_col='yr' has cells that are not a year on line 3 (e.g. 'page title=x')"
    assert _as_flags(said) == (
        "--year-col yr has cells that are not a year on line 3 (e.g. 'page title=x')"
    )
