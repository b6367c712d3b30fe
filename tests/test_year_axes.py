"""Issue 24: a panel's charts mark whole years (no "2019.25"), and say years as years.

Three years of libpysal's us_income (48 states): Moran's I by year (esda's, via
:func:`dynamics.moran_by_year`), σ- and β-convergence and inequality by year, drawn by
:mod:`geotool.maps.charts`; each tick of a year axis is a whole year within the panel's.
"""

from __future__ import annotations

import geopandas as gpd
import matplotlib.pyplot as plt
import pandas as pd
import pytest
from libpysal import examples
from libpysal.weights import Queen

from geotool import divergence, dynamics
from geotool.maps import charts

YEARS = [2007, 2008, 2009]


@pytest.fixture(scope="module")
def panel() -> tuple[dynamics.Panel, Queen]:
    wide = pd.read_csv(examples.get_path("usjoin.csv")).set_index("Name")
    wide = wide[[str(y) for y in YEARS]].set_axis(YEARS, axis=1).astype(float)
    states = gpd.read_file(examples.get_path("us48.shp")).set_index("STATE_NAME").loc[wide.index]
    return dynamics.panel(wide), Queen.from_dataframe(states, use_index=True)


def _year_ticks(fig) -> list[float]:
    ticks = []
    for ax in fig.axes:
        if ax.get_xlabel() in ("year", "年份"):
            lo, hi = ax.get_xlim()
            ticks += [t for t in ax.get_xticks() if lo <= t <= hi]
    plt.close(fig)
    return ticks


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_year_axes_tick_whole_years(panel, lang):
    p, w = panel
    by_year = dynamics.moran_by_year(p, w, permutations=99, seed=1).reset_index()
    figures = [
        charts.moran_by_year_chart(by_year, lang, n=48, permutations=99),
        charts.sigma_chart(divergence.sigma_convergence(p), lang),
        charts.inequality_chart(divergence.inequality(p), lang),
    ]
    for fig in figures:
        ticks = _year_ticks(fig)
        assert ticks and all(t == int(t) for t in ticks), ticks
        assert set(ticks) <= set(YEARS)


def test_the_convergence_chart_says_years_as_years(panel):
    p, _ = panel
    result = divergence.beta_convergence(p).drop(columns=["finding", "not_shown"])  # as
    fig = charts.convergence_chart(result, divergence.growth_points(p))  # geotool.regional
    ax = fig.axes[0]
    labels = " ".join([ax.get_xlabel(), ax.get_ylabel(), ax.get_title()])
    plt.close(fig)
    assert "2007" in labels and "2007.0" not in labels and "2009.0" not in labels
