"""Map classes: geotool's classifiers give mapclassify's bounds (without importing it)."""

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from geotool._classify import bins, classify, fisher_jenks


def _ssq(bounds, x):
    cls = np.searchsorted(bounds, x, side="left")
    return sum(((x[cls == c] - x[cls == c].mean()) ** 2).sum() for c in range(len(bounds)))


@pytest.fixture(scope="module")
def mapclassify():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mapclassify as mc
    return mc


@pytest.mark.parametrize("n", [40, 700, 2875])
def test_the_bounds_are_mapclassifys(mapclassify, n):
    rng = np.random.default_rng(n)
    y = rng.lognormal(0, 1, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.allclose(bins(y, "quantiles", 5), mapclassify.Quantiles(y, k=5).bins)
        assert np.allclose(bins(y, "equalinterval", 6), mapclassify.EqualInterval(y, k=6).bins)
        assert np.allclose(bins(y, "user", breaks=[1, 2]), mapclassify.UserDefined(y, [1, 2]).bins)
        theirs = mapclassify.FisherJenks(y, k=5).bins
    ours = fisher_jenks(y, 5)
    # the same natural breaks, or (float32 sums in mapclassify) a better optimum
    x = np.sort(y)
    assert np.allclose(ours, theirs) or _ssq(ours, x) < _ssq(theirs, x)


def test_ties_merge_quantile_classes_and_counts_get_one_class_per_value(mapclassify):
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 5, 9.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert bins(y, "quantiles", 5).tolist() == mapclassify.Quantiles(y, k=5).bins.tolist()
    colours, legend = classify(pd.Series(y), scheme="user", breaks=[0, 1, 2, 3, 5, 9])
    assert len(legend) == 6 and colours.nunique() == 6


def test_jenks_tiers_split_at_the_gaps():
    y = np.array([1.0, 1.2, 1.1, 5.0, 5.3, 9.9, 10.0])
    assert fisher_jenks(y, 3).tolist() == [1.2, 5.3, 10.0]


def test_drawing_a_choropleth_does_not_import_mapclassify():
    code = (
        "import sys, pandas as pd\n"
        "from geotool import maps\n"
        "v = pd.Series([1.0, 2, 3, 4, 5, 6], index=['320281','320282','320583','320585',"
        "'320582','320581'], name='x')\n"
        "maps.choropleth(v, scheme='fisherjenks', k=3)\n"
        "assert 'mapclassify' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
