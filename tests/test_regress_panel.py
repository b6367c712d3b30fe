"""geotool.regress.panel against spreg's panel models and tests called directly.

The panel: libpysal's us_income (48 US states, income per head 2000-2009), the growth of
log income (in percent) on last year's log income (a convergence regression), queen
contiguity, row-standardised. On these data spreg's four spatial panel models all have an
estimate (on log levels, its random-effects error model meets a singular variance).
"""

from __future__ import annotations

import contextlib
import io
import warnings

import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pytest
import spreg
from libpysal import examples
from spreg import diagnostics_panel as dp

from geotool import regress
from geotool._errors import InputError
from geotool.weights import build

FORMULA = "growth ~ level"
YEARS = list(range(2000, 2010))


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def states():
    return gpd.read_file(examples.get_path("us48.shp")).set_index("STATE_NAME")


@pytest.fixture(scope="module")
def wide(states):
    """spreg's wide form: a row per state in the weights' order, a column per year."""
    income = pd.read_csv(examples.get_path("usjoin.csv")).set_index("Name")
    logs = np.log(income[[str(y) for y in YEARS]].astype(float))
    return logs.reindex(states.index)


@pytest.fixture(scope="module")
def long(wide):
    """One row per state and year (2001-2009), shuffled: the order must not matter."""
    frame = pd.concat([
        pd.DataFrame({"state": wide.index, "year": b, "growth": 100 * (wide[str(b)] - wide[str(a)]),
                      "level": wide[str(a)]})
        for a, b in zip(YEARS[:-1], YEARS[1:], strict=True)
    ], ignore_index=True)  # fmt: skip
    return frame.sample(frac=1, random_state=0)


@pytest.fixture(scope="module")
def lw(states):
    w = libpysal.weights.Queen.from_dataframe(states, use_index=True, silence_warnings=True)
    w.transform = "r"
    return w


@pytest.fixture(scope="module")
def arrays(wide):
    values = wide.to_numpy()
    return 100 * np.diff(values, axis=1), values[:, :-1]


@pytest.mark.parametrize("kind", ["fe_lag", "fe_error", "re_lag", "re_error"])
def test_spatial_panels_and_hausman_equal_spreg(kind, states, long, lw, arrays):
    y, x = arrays
    effects, what = kind.split("_")
    pair = {"lag": (spreg.Panel_FE_Lag, spreg.Panel_RE_Lag),
            "error": (spreg.Panel_FE_Error, spreg.Panel_RE_Error)}[what]  # fmt: skip
    with _quiet():
        fe, re_ = (model(y, x, lw) for model in pair)
        hausman = spreg.panel_Hausman(fe, re_, sp_lag=what == "lag")
    ref = fe if effects == "fe" else re_
    fit = regress.panel(long, FORMULA, build(states, "queen"), id_col="state", year_col="year",
                        kind=kind)  # fmt: skip
    np.testing.assert_allclose(fit.coefficients["estimate"], np.ravel(ref.betas), atol=1e-6)
    spatial = "rho" if what == "lag" else "lambda"
    assert fit.value(spatial) == pytest.approx(float(np.ravel(getattr(ref, spatial[:3]))[0]),
                                               abs=1e-6)  # fmt: skip
    assert spatial in fit.coefficients.index
    assert fit.value("hausman") == pytest.approx(float(hausman[0]), abs=1e-6)
    assert fit.diagnostics.at["hausman", "p"] == pytest.approx(float(hausman[1]), abs=1e-6)
    assert fit.diagnostics.at["hausman", "df"] == re_.k  # spreg's degrees of freedom
    assert fit.value("log_likelihood") == pytest.approx(float(ref.logll), abs=1e-6)
    assert fit.fitted.index.names == ["state", "year"] and len(fit.fitted) == 48 * 9
    # fitted values on (state, year), whatever order the rows came in
    first = fit.fitted.loc[(lw.id_order[5], 2001), "fitted"]
    assert first == pytest.approx(float(np.ravel(ref.predy)[5]), abs=1e-8)


def test_panel_lm_tests_equal_spreg_and_decide(states, long, lw, arrays):
    y, x = arrays
    with _quiet():
        ref = {"lm_lag": dp.panel_LMlag(y, x, lw), "lm_error": dp.panel_LMerror(y, x, lw),
               "robust_lm_lag": dp.panel_rLMlag(y, x, lw),
               "robust_lm_error": dp.panel_rLMerror(y, x, lw)}  # fmt: skip
    fit = regress.panel(long, FORMULA, build(states, "queen"), id_col="state", year_col="year",
                        kind="fe_lag")  # fmt: skip
    for name, (stat, p) in ref.items():
        assert fit.value(name) == pytest.approx(float(stat), rel=1e-6), name
        assert fit.diagnostics.at[name, "p"] == pytest.approx(float(p), abs=1e-9), name
    assert fit.guide.startswith(regress.decide(fit.diagnostics))
    h, hp = fit.value("hausman"), fit.diagnostics.at["hausman", "p"]
    word = "fixed effects" if hp < 0.05 else "random effects"
    assert f"Of the panel models, {word}" in fit.guide and f"({h:.3f}, p {hp:.4f})" in fit.guide


def test_pooled_panel_white_errors_and_dropped_rows_table(states, long):
    gappy = long.drop(long.index[(long["state"] == "Ohio") & (long["year"] == 2005)])
    gappy = gappy.copy()
    texas = gappy.index[(gappy["state"] == "Texas") & (gappy["year"] == 2003)]
    gappy.loc[texas, "level"] = np.nan
    fit = regress.panel(gappy, FORMULA, build(states, "queen"), id_col="state",
                        year_col="year", kind="pooled")  # fmt: skip
    # every row of Ohio and Texas is in the table, each with its reason; none is silent
    dropped = fit.dropped
    assert set(dropped["state"]) == {"Ohio", "Texas"} and len(dropped) == 8 + 9
    assert dropped.loc[texas[0], "reason"] == "a missing value"
    assert (dropped.loc[dropped["state"] == "Ohio", "reason"] == "unit in 8 of 9 years").all()
    assert len(fit.fitted) + len(dropped) == len(gappy)
    assert any("2 unit(s) not in every year left out: Ohio, Texas" in n for n in fit.notes)
    used = long[~long["state"].isin(["Ohio", "Texas"])]
    x = pd.concat([used[["level"]], pd.get_dummies(used["year"], drop_first=True, dtype=float)],
                  axis=1)  # fmt: skip
    with _quiet():
        ref = spreg.OLS(used[["growth"]].to_numpy(), x.to_numpy(), robust="white")
    # the rows' order differs (by year with weights): the estimates do not
    np.testing.assert_allclose(fit.coefficients["estimate"], np.ravel(ref.betas), atol=1e-8)
    np.testing.assert_allclose(fit.coefficients["std_err"], np.ravel(ref.std_err), atol=1e-8)
    assert fit.method == "white" and any("White's" in n for n in fit.notes)


def test_panel_refusals_name_the_parameter(states, long):
    w = build(states, "queen")
    with pytest.raises(InputError, match=r"^kind='nope' is not one of"):
        regress.panel(long, FORMULA, w, id_col="state", year_col="year", kind="nope")
    with pytest.raises(InputError, match=r"^year_col='yr' is not a column"):
        regress.panel(long, FORMULA, w, id_col="state", year_col="yr")
    one = long[long["year"] == 2005]
    with pytest.raises(InputError, match=r"^year_col: a panel needs two years or more"):
        regress.panel(one, FORMULA, w, id_col="state", year_col="year")


# ------------------------------------------------------------------ through the CLI


def test_geotool_regress_panel_walks_to_the_chosen_model(states, long, wide, tmp_path, capsys):
    from geotool.cli import main

    gappy = long.drop(long.index[(long["state"] == "Ohio") & (long["year"] == 2005)])
    data = tmp_path / "panel.csv"
    gappy.rename(columns={"state": "STATE_NAME"}).to_csv(data, index=False)
    argv = ["--quiet", "regress", str(data), "--geometry", examples.get_path("us48.shp"),
            "--crs", "EPSG:4326", "--id-col", "STATE_NAME", "--year-col", "year",
            "--model", FORMULA, "--kind", "pooled", "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(argv) == 0
    out = tmp_path / "o"
    dropped = pd.read_csv(out / "tables/regression_panel_dropped.csv")
    assert len(dropped) == 8 and set(dropped["unit"]) == {"Ohio"}
    assert set(dropped["reason"]) == {"unit in 8 of 9 years"}
    diag = pd.read_csv(out / "tables/regression_diagnostics.csv", index_col="statistic")
    coef = pd.read_csv(out / "tables/regression_coefficients.csv")
    # spreg on the balanced panel (Ohio left out), the weights among the 47 states
    rest = states.drop(index="Ohio")
    lw = libpysal.weights.Queen.from_dataframe(rest, use_index=True, silence_warnings=True)
    lw.transform = "r"
    values = wide.reindex(lw.id_order).to_numpy()
    y, x = 100 * np.diff(values, axis=1), values[:, :-1]
    with _quiet():
        lm_error = dp.panel_LMerror(y, x, lw)
        fe = spreg.Panel_FE_Error(y, x, lw)
    pooled = diag[diag["model"] == "pooled OLS"]
    assert pooled.at["lm_error", "value"] == pytest.approx(float(lm_error[0]), rel=1e-6)
    # the robust LM tests point to the error model: its fixed-effects fit follows
    said = capsys.readouterr()
    assert (
        "regression: pooled OLS of growth ~ level (panel: 47 units x 9 years (year)): "
        "Spatial error model" in said.out + said.err
    )
    fe_rows = coef[coef["model"] == "FE error"].set_index("term")
    np.testing.assert_allclose(fe_rows["estimate"], np.ravel(fe.betas), atol=1e-6)
    assert "(2) FE error" in (out / "regression.md").read_text(encoding="utf-8")
    fitted = pd.read_csv(out / "tables/regression_fitted.csv")
    assert len(fitted[fitted["model"] == "FE error"]) == 47 * 9
    assert (out / "figures/regression_residuals.png").stat().st_size > 10_000


def test_a_panel_kind_on_a_cross_section_is_refused_by_its_flag(tmp_path, capsys):
    from geotool.cli import main

    argv = [
        "--quiet",
        "regress",
        examples.get_path("columbus.shp"),
        "--id-col",
        "POLYID",
        "--model",
        "CRIME ~ INC",
        "--kind",
        "fe_lag",
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("geotool: error: --kind fe_lag is a panel model: it needs a table")


def test_panel_lm_tests_left_out_above_the_memory_limit_and_said(states, long, monkeypatch):
    monkeypatch.setattr(regress, "_PANEL_LM_ROWS", 400)  # 432 rows: spreg's 432 x 432 matrix
    fit = regress.panel(long, FORMULA, build(states, "queen"), id_col="state", year_col="year",
                        kind="fe_lag")  # fmt: skip
    assert "lm_lag" not in fit.diagnostics.index and "hausman" in fit.diagnostics.index
    assert any(n.startswith("panel LM tests left out: spreg's build a dense 432 x 432") for n in
               fit.notes)  # fmt: skip
