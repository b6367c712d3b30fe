"""geotool.regress against spreg and mgwr themselves, and against published values.

Columbus (libpysal's bundled ``columbus.shp``; CRIME ~ INC + HOVAL, queen contiguity,
row-standardised) is the model of Anselin (1988) and of GeoDa's regression chapter; its
published values, quoted where they are checked:

- GeoDa's OLS report of this model: R² 0.552404, adjusted R² 0.532943, log likelihood
  -187.377, AIC 380.754, Schwarz 386.43, F 28.3856 (GeoDa's printout for "Data set:
  columbus", found by the code search of public repositories);
- R's ``lm`` on the same data: coefficients 68.6190, -1.5973, -0.2739 and R² 0.5524
  (https://homepage.ntu.edu.tw/~wenthung/R_Spatial/RLab_7.html);
- Moran's I of the OLS residuals 0.222 (z 2.84, p 0.005), queen, row-standardised
  (https://carlos-mendez.netlify.app/post/stata_sp_regression_cross_section);
- the ML spatial lag model's rho 0.423 (GeoDa; spreg's own report prints 0.42333), its
  log likelihood -182.674 and so the likelihood ratio test of rho = 0, 9.406 (GeoDa's
  "Likelihood Ratio Test", 1 df, p 0.0022).

The ML error model's lambda is 0.546753 with these weights: spreg's value is checked
against a direct maximisation of the concentrated log-likelihood written here (the 0.563
sometimes quoted does not maximise it for queen weights; 0.562 in the Stata tutorial
above comes with other LM values too, so other weights).
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

from geotool import regress
from geotool._errors import InputError
from geotool.weights import build

FORMULA = "CRIME ~ INC + HOVAL"


@pytest.fixture(scope="module")
def columbus():
    return gpd.read_file(examples.get_path("columbus.shp"))


@pytest.fixture(scope="module")
def queen(columbus):
    w = libpysal.weights.Queen.from_dataframe(columbus, use_index=False, silence_warnings=True)
    w.transform = "r"
    return w


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _spreg(columbus, queen, model, **options):
    y, x = columbus[["CRIME"]].to_numpy(), columbus[["INC", "HOVAL"]].to_numpy()
    with _quiet():
        if model in (spreg.OLS,) or model is spreg.GM_Lag:
            return model(y, x, w=queen, **options)
        return model(y, x, queen, **options)


# ------------------------------------------------------------------ OLS and GeoDa's report


def test_ols_equals_spreg_and_the_published_values(columbus, queen):
    fit = regress.fit(columbus, FORMULA, queen)
    ref = _spreg(columbus, queen, spreg.OLS, spat_diag=True, moran=True, white_test=True)
    c, d = fit.coefficients, fit.diagnostics["value"]
    np.testing.assert_allclose(c["estimate"], ref.betas.ravel(), atol=1e-6)
    np.testing.assert_allclose(c["std_err"], ref.std_err, atol=1e-6)
    assert c.attrs["statistic"] == "t"
    for name, value in {"r2": ref.r2, "adj_r2": ref.ar2, "log_likelihood": ref.logll,
                        "aic": ref.aic, "schwarz": ref.schwarz,
                        "moran_i_residuals": ref.moran_res[0], "lm_lag": ref.lm_lag[0],
                        "lm_error": ref.lm_error[0], "robust_lm_lag": ref.rlm_lag[0],
                        "robust_lm_error": ref.rlm_error[0], "lm_sarma": ref.lm_sarma[0],
                        "jarque_bera": ref.jarque_bera["jb"], "white": ref.white["wh"],
                        "breusch_pagan": ref.breusch_pagan["bp"]}.items():  # fmt: skip
        assert d[name] == pytest.approx(value, abs=1e-6), name
    assert fit.diagnostics.at["lm_error", "p"] == pytest.approx(ref.lm_error[1], abs=1e-9)
    assert fit.diagnostics.at["moran_i_residuals", "z"] == pytest.approx(ref.moran_res[1])
    # published: GeoDa's report, R's lm, the Stata tutorial (module docstring)
    assert d["r2"] == pytest.approx(0.552404, abs=5e-7)
    assert d["adj_r2"] == pytest.approx(0.532943, abs=5e-7)
    assert d["log_likelihood"] == pytest.approx(-187.377, abs=5e-4)
    assert d["aic"] == pytest.approx(380.754, abs=5e-4)
    assert d["schwarz"] == pytest.approx(386.43, abs=5e-3)
    assert d["f_stat"] == pytest.approx(28.3856, abs=5e-5)
    np.testing.assert_allclose(c["estimate"], [68.6190, -1.5973, -0.2739], atol=5e-5)
    assert d["moran_i_residuals"] == pytest.approx(0.222, abs=5e-4)
    assert fit.diagnostics.at["moran_i_residuals", "z"] == pytest.approx(2.84, abs=5e-3)
    # VIF of two regressors: 1 / (1 - r²) of INC on HOVAL, computed here
    r = np.corrcoef(columbus["INC"], columbus["HOVAL"])[0, 1]
    assert c.at["INC", "vif"] == pytest.approx(1 / (1 - r**2))
    # the rows used, on the input's index; residuals are observed - fitted
    assert fit.fitted.index.equals(columbus.index)
    np.testing.assert_allclose(fit.fitted["observed"] - fit.fitted["fitted"],
                               fit.fitted["residual"], atol=1e-9)  # fmt: skip


def test_the_guide_follows_anselins_rule(columbus, queen):
    guide = regress.fit(columbus, FORMULA, queen).guide
    # both LM tests significant, neither robust one at 0.05; robust LM-lag is the larger
    assert guide.startswith("Spatial lag model, with care")
    assert "robust-LM-lag 3.736" in guide

    def diag(lag, err, rlag, rerr):
        p = {"lm_lag": lag, "lm_error": err, "robust_lm_lag": rlag, "robust_lm_error": rerr}
        return pd.DataFrame({"value": dict.fromkeys(p, 1.0), "p": p})

    assert regress.decide(diag(0.2, 0.3, 0.5, 0.5)).startswith("Keep OLS")
    assert regress.decide(diag(0.2, 0.01, 0.5, 0.5)).startswith("Spatial error model:")
    assert regress.decide(diag(0.01, 0.01, 0.01, 0.4)).startswith("Spatial lag model:")
    assert regress.decide(diag(0.01, 0.01, 0.4, 0.01)).startswith("Spatial error model:")
    assert "Durbin" in regress.decide(diag(0.01, 0.01, 0.01, 0.01))
    assert regress.decide(pd.DataFrame({"value": [], "p": []})).startswith("No spatial")


# ------------------------------------------------------------------ ML lag and error


def test_ml_lag_and_error_equal_spreg(columbus, queen):
    lag = regress.fit(columbus, FORMULA, queen, kind="lag")
    ref = _spreg(columbus, queen, spreg.ML_Lag)
    assert lag.value("rho") == pytest.approx(float(ref.rho), abs=1e-6)
    assert lag.value("log_likelihood") == pytest.approx(ref.logll, abs=1e-6)
    np.testing.assert_allclose(lag.coefficients["estimate"], ref.betas.ravel(), atol=1e-6)
    assert lag.coefficients.index[-1] == "rho"
    assert lag.value("rho") == pytest.approx(0.423, abs=5e-4)  # GeoDa's published rho
    err = regress.fit(columbus, FORMULA, queen, kind="error")
    ref = _spreg(columbus, queen, spreg.ML_Error)
    assert err.value("lambda") == pytest.approx(float(ref.lam), abs=1e-6)
    assert err.value("log_likelihood") == pytest.approx(ref.logll, abs=1e-6)
    np.testing.assert_allclose(err.coefficients["estimate"], ref.betas.ravel(), atol=1e-6)


def test_ml_models_report_the_likelihood_ratio_test_of_their_spatial_parameter(
    columbus, queen
):
    from scipy.stats import chi2

    ols = regress.fit(columbus, FORMULA, queen)
    lag = regress.fit(columbus, FORMULA, queen, kind="lag")
    lr = lag.diagnostics.loc["likelihood_ratio"]
    assert lr["value"] == pytest.approx(2 * (-182.674 - -187.377), abs=2e-3)  # GeoDa's logLs
    assert lr["value"] == pytest.approx(9.4065, abs=1e-3) and lr["df"] == 1
    assert lr["p"] == pytest.approx(chi2.sf(lr["value"], 1), rel=1e-9)
    assert lr["p"] == pytest.approx(0.0022, abs=1e-4)
    for kind, null in (("error", ols), ("durbin", regress.fit(columbus, FORMULA, queen,
                                                               kind="slx"))):  # fmt: skip
        f = regress.fit(columbus, FORMULA, queen, kind=kind)
        want = 2 * (f.value("log_likelihood") - null.value("log_likelihood"))
        assert f.value("likelihood_ratio") == pytest.approx(want, rel=1e-9)
    assert "LR test" in regress.table([ols, lag])
    gm = regress.fit(columbus, FORMULA, queen, kind="lag", method="gm")  # no likelihood
    assert "likelihood_ratio" not in gm.diagnostics.index


def test_ml_error_lambda_maximises_the_likelihood(columbus, queen):
    """The concentrated log-likelihood of the error model, maximised on a fine grid here."""
    err = regress.fit(columbus, FORMULA, queen, kind="error")
    w = queen.full()[0]
    y = columbus["CRIME"].to_numpy()
    x = np.column_stack([np.ones(len(y)), columbus[["INC", "HOVAL"]].to_numpy()])
    n = len(y)

    def loglik(lam):
        a = np.eye(n) - lam * w
        ys, xs = a @ y, a @ x
        e = ys - xs @ np.linalg.lstsq(xs, ys, rcond=None)[0]
        s2 = e @ e / n
        return -n / 2 * np.log(2 * np.pi * s2) - n / 2 + np.linalg.slogdet(a)[1]

    grid = np.linspace(0.5, 0.6, 10001)
    best = grid[np.argmax([loglik(v) for v in grid])]
    assert err.value("lambda") == pytest.approx(best, abs=2e-5)
    assert err.value("log_likelihood") == pytest.approx(loglik(best), abs=1e-6)


# ------------------------------------------------------------------ every other kind


@pytest.mark.parametrize(("kind", "method", "robust", "model", "options"), [
    ("lag", "gm", "white", spreg.GM_Lag, {"robust": "white"}),
    ("error", "gm", None, spreg.GM_Error_Hom, {}),
    ("error", "gm", "het", spreg.GM_Error_Het, {}),
    ("slx", "ml", None, spreg.OLS, {"slx_lags": 1}),
    ("durbin", "ml", None, spreg.ML_Lag, {"slx_lags": 1}),
    ("durbin", "gm", None, spreg.GM_Lag, {"slx_lags": 1, "w_lags": 2}),
])  # fmt: skip
def test_every_spatial_kind_equals_spreg(  # noqa: PLR0917
    columbus, queen, kind, method, robust, model, options
):
    fit = regress.fit(columbus, FORMULA, queen, kind=kind, method=method, robust=robust)
    ref = _spreg(columbus, queen, model, **options)
    np.testing.assert_allclose(fit.coefficients["estimate"], ref.betas.ravel(), atol=1e-6)
    np.testing.assert_allclose(fit.coefficients["std_err"], ref.std_err, atol=1e-6)
    if kind in ("slx", "durbin"):
        assert {"W_INC", "W_HOVAL"} <= set(fit.coefficients.index)


def test_impacts_equal_spreg_and_have_inference(columbus, queen):
    lag = regress.fit(columbus, FORMULA, queen, kind="lag", seed=3)
    ref = _spreg(columbus, queen, spreg.ML_Lag, spat_impacts="full")
    adi, aii, ati = ref.sp_multipliers["full"]  # spreg's average direct/indirect/total
    imp = lag.impacts
    beta = ref.betas.ravel()[1:3]
    for effect, mult in (("total", ati), ("direct", adi), ("indirect", aii)):
        got = imp[imp["effect"] == effect].loc[["INC", "HOVAL"], "estimate"]
        np.testing.assert_allclose(got, mult * beta, rtol=1e-9)
    assert (imp["std_err"] > 0).all() and imp["p"].between(0, 1).all()
    again = regress.fit(columbus, FORMULA, queen, kind="lag", seed=3).impacts
    pd.testing.assert_frame_equal(imp, again)  # seeded draws: the same numbers
    durbin = regress.fit(columbus, FORMULA, queen, kind="durbin")
    sdm = _spreg(columbus, queen, spreg.ML_Lag, slx_lags=1, spat_impacts="full")
    _, _, ati = sdm.sp_multipliers["full"]
    b = sdm.betas.ravel()
    total = durbin.impacts[durbin.impacts["effect"] == "total"]["estimate"]
    # the Durbin model's rho is spreg's own ML optimum, found anew by each side: 3e-8 apart
    # with spreg 1.9.1 and scipy 1.17 (the estimates' own tolerance in the test above: 1e-6)
    np.testing.assert_allclose(total, ati * (b[1:3] + b[3:5]), rtol=1e-6)


def test_regimes_and_their_chow_tests_equal_spreg(columbus, queen):
    side = pd.Series(np.where(columbus["X"] > 40, "east", "west"), index=columbus.index)
    frame = columbus.assign(side=side)
    fit = regress.fit(frame, FORMULA, queen, regimes="side")
    with _quiet():
        ref = spreg.OLS_Regimes(columbus[["CRIME"]].to_numpy(), columbus[["INC", "HOVAL"]]
                                .to_numpy(), list(side), w=queen, regime_err_sep=False)  # fmt: skip
    np.testing.assert_allclose(fit.coefficients["estimate"], ref.betas.ravel(), atol=1e-6)
    assert set(fit.coefficients["regime"]) == {"east", "west"}
    assert fit.chow.at["joint", "wald"] == pytest.approx(ref.chow.joint[0], abs=1e-6)
    np.testing.assert_allclose(fit.chow.drop("joint")["wald"], ref.chow.regi[:, 0], atol=1e-6)
    lag = regress.fit(frame, FORMULA, queen, kind="lag", regimes=side)
    assert lag.chow is not None and "rho" in lag.coefficients.index


def test_formula_transforms_and_factors(columbus, queen):
    frame = columbus.assign(band=np.where(columbus["Y"] > 38, "north", "south"))
    fit = regress.fit(frame, "CRIME ~ log(INC) + np.sqrt(HOVAL) + C(band)", queen)
    x = np.column_stack([np.log(columbus["INC"]), np.sqrt(columbus["HOVAL"]),
                         (frame["band"] == "south").astype(float)])  # fmt: skip
    with _quiet():
        ref = spreg.OLS(columbus[["CRIME"]].to_numpy(), x)
    np.testing.assert_allclose(fit.coefficients["estimate"], ref.betas.ravel(), atol=1e-6)
    assert list(fit.coefficients.index) == ["CONSTANT", "log(INC)", "np.sqrt(HOVAL)",
                                            "C(band)[T.south]"]  # fmt: skip


def test_weights_geotool_builds_give_the_same_fit(columbus, queen):
    own = regress.fit(columbus, FORMULA, build(columbus, "queen"), kind="lag")
    ref = regress.fit(columbus, FORMULA, queen, kind="lag")
    assert own.value("rho") == pytest.approx(ref.value("rho"), abs=1e-9)
    graph = libpysal.graph.Graph.build_contiguity(columbus, rook=False)  # the new Graph API
    by_graph = regress.fit(columbus, FORMULA, graph, kind="lag")
    assert by_graph.value("rho") == pytest.approx(ref.value("rho"), abs=1e-9)


# ------------------------------------------------------------------ guards


def test_a_missing_value_drops_the_row_and_says_so(columbus, queen):
    frame = columbus.copy()
    frame.loc[5, "HOVAL"] = np.nan
    fit = regress.fit(frame, FORMULA, queen, kind="lag")
    assert 5 not in fit.fitted.index and len(fit.fitted) == 48
    assert fit.notes[0] == "1 row(s) with a missing value left out (HOVAL: 1): 5."
    keep = frame.index != 5
    sub = queen.sparse.toarray()[keep][:, keep]  # the weights among the rows kept, again
    w = libpysal.weights.full2W(sub)
    w.transform = "r"
    with _quiet():
        ref = spreg.ML_Lag(frame.loc[keep, ["CRIME"]].to_numpy(),
                           frame.loc[keep, ["INC", "HOVAL"]].to_numpy(), w)  # fmt: skip
    assert fit.value("rho") == pytest.approx(float(ref.rho), abs=1e-6)


@pytest.mark.parametrize(("change", "formula", "options", "message"), [
    (None, "CRIME ~ INC + I(2 * INC)", {}, "formula: I(2 * INC) is collinear"),
    (None, "CRIME ~ INC + ONE", {}, "formula: ONE is collinear"),
    ("head", FORMULA, {}, "frame: 4 usable rows for 3 parameters"),
    ("zero", "CRIME ~ INC + log(Z)", {}, "formula: log(Z) is not finite for unit 7"),
    (None, "CRIME ~ INC + NOPE", {}, "formula: 'NOPE' is not a column"),
    (None, "CRIME ~ INC + eval(INC)", {}, "formula: 'eval' is not a column or an allowed"),
    (None, "CRIME ~ INC + np.random.rand(49)", {}, "calls something other than"),
    (None, "CRIME", {}, "formula='CRIME' must read"),
    (None, "CRIME ~ INC - 1", {}, "always have an intercept"),
    (None, "CRIME ~ INC ＋ HOVAL", {}, "'＋' is full-width: type '+', or put a column name"),
    (None, "CRIME ~ INC HOVAL", {}, "Missing operator between `INC` and `HOVAL`; a column name "
                                    "with spaces goes in backticks"),
    (None, "CRIME ~ INC + log(HOVAL", {}, "Formula ended before quote context was closed"),
    (None, "CRIME ~ INC + C(ONE)", {}, "formula: C(ONE) has a single value (one level)"),
    (None, FORMULA, {"kind": "tobit"}, "kind='tobit' is not one of"),
    (None, FORMULA, {"kind": "lag", "method": "2sls"}, "method='2sls' is not one of"),
    (None, FORMULA, {"kind": "lag", "robust": "white"}, "robust='white' does not go with "
                                                        "kind='lag' and method='ml', which has "
                                                        "no robust option (use method='gm')"),
    (None, FORMULA, {"kind": "error", "method": "gm", "robust": "white"}, "robust='white' does "
     "not go with kind='error' and method='gm', which takes ['het']"),
    ("now", FORMULA, {"kind": "lag"}, "w: kind='lag' needs spatial weights"),
    (None, FORMULA, {"kind": "slx", "regimes": "X"}, "regimes= works with kind"),
    (None, FORMULA, {"regimes": "REGION"}, "regimes='REGION' is not a column"),
    (None, "CRIME ~ INC + BIG", {"regimes": "SIDE"}, "regimes: in regime 'west', BIG is collinear"),
])  # fmt: skip
def test_bad_input_is_one_line_naming_the_parameter(  # noqa: PLR0917
    columbus, queen, change, formula, options, message
):
    frame = columbus.assign(ONE=1.0, Z=np.where(columbus.index == 7, 0.0, 1.0 + columbus["INC"]),
                            SIDE=np.where(columbus["X"] > 40, "east", "west"))  # fmt: skip
    frame["BIG"] = np.where(frame["SIDE"] == "east", frame["HOVAL"], 1.0)  # constant in the west
    if change == "head":
        frame = frame.head(4)
    w = None if change == "now" else queen
    if change == "head":
        w = build(frame, "queen", islands="nearest")
    with pytest.raises(InputError) as caught:
        regress.fit(frame, formula, w, **options)
    text = str(caught.value)
    assert message in text and "\n" not in text and "\x1b" not in text  # no colour codes


def test_islands_refused_in_a_lag_model_and_said_in_ols(columbus):
    neighbours = {i: [j for j in (i - 1, i + 1) if 0 <= j < 49 and j != 10 and i != 10]
                  for i in range(49)}  # fmt: skip
    w = libpysal.weights.W(neighbours, silence_warnings=True)
    with pytest.raises(InputError, match=r"w: 1 unit\(s\) have no neighbours \(10\)") as caught:
        regress.fit(columbus, FORMULA, w, kind="lag")
    assert "islands='nearest:unbounded'" in str(caught.value)  # 'nearest' has a distance cap
    fit = regress.fit(columbus, FORMULA, w)
    assert any("without neighbours (10)" in note for note in fit.notes)


def test_near_collinearity_is_a_stated_warning(columbus, queen):
    noise = np.random.default_rng(1).normal(0, 1e-3, len(columbus))
    frame = columbus.assign(INC2=columbus["INC"] + noise)
    fit = regress.fit(frame, "CRIME ~ INC + INC2 + HOVAL", queen)
    assert any(note.startswith("condition number") for note in fit.notes)
    assert fit.coefficients.at["INC2", "vif"] > 1000
    # spreg skips White's test above a condition number of 30: said, not silently absent
    assert isinstance(fit.model.white, str) and "white" not in fit.diagnostics.index
    assert ("White's test not computed: Not computed due to multicollinearity (spreg skips it "
            "when the condition number exceeds 30).") in fit.notes  # fmt: skip


# ------------------------------------------------------------------ tables


def test_tables_in_every_format(columbus, queen):
    ols = regress.fit(columbus, FORMULA, queen)
    lag = regress.fit(columbus, FORMULA, queen, kind="lag")
    frame = regress.table_frame([ols, lag])
    assert list(frame.columns) == ["(1) OLS", "(2) ML lag"]
    assert frame.loc[("INC", "estimate"), "(1) OLS"] == "-1.597***"  # p < 0.01
    assert frame.loc[("HOVAL", "estimate"), "(1) OLS"] == "-0.274**"  # p = 0.011
    assert frame.loc[("HOVAL", "se"), "(1) OLS"] == "(0.103)"
    assert frame.loc[("rho", "estimate"), "(2) ML lag"] == "0.423***"
    assert frame.loc[("rho", "estimate"), "(1) OLS"] == ""
    assert frame.loc[("LM-lag", ""), "(1) OLS"] == "8.898***"
    t = regress.table_frame(ols, stat="t")
    assert t.loc[("INC", "t"), "(1) OLS"] == "(-4.780)"
    md = regress.table([ols, lag])
    assert "| INC | -1.597*** | -1.049*** |" in md and "standard errors in parentheses" in md
    tex = regress.table([ols, lag], "latex")
    assert r"\begin{tabular}{lcc}" in tex and r"Adj. R$^2$" in tex
    assert "W\\_INC" in regress.table(regress.fit(columbus, FORMULA, queen, kind="slx"), "latex")
    csv = regress.table(ols, "csv")
    assert csv.splitlines()[0] == ",(1) OLS" and "-1.597***" in csv
    bad = columbus.rename(columns={"INC": "<b>INC</b>"})
    page = regress.table(regress.fit(bad, "CRIME ~ `<b>INC</b>` + HOVAL", queen), "html")
    assert "&lt;b&gt;INC&lt;/b&gt;" in page and "<b>INC" not in page
    with pytest.raises(InputError, match="fmt='docx'"):
        regress.table(ols, "docx")


# ------------------------------------------------------------------ GWR and MGWR


@pytest.fixture(scope="module")
def baltim():
    return gpd.read_file(examples.get_path("baltim.shp"))


def test_gwr_bandwidth_and_local_coefficients_equal_mgwr(baltim):
    from mgwr.gwr import GWR
    from mgwr.sel_bw import Sel_BW

    fit = regress.fit(baltim, "PRICE ~ SQFT", kind="gwr")
    xy = baltim[["X", "Y"]].to_numpy(float)  # the points' own coordinates
    y, x = baltim[["PRICE"]].to_numpy(float), baltim[["SQFT"]].to_numpy(float)
    with _quiet():
        bw = Sel_BW(xy, y, x, n_jobs=1).search(criterion="AICc")
        ref = GWR(xy, y, x, bw, n_jobs=1).fit(lite=True)
    assert fit.value("bandwidth") == bw
    np.testing.assert_allclose(fit.local[["est_CONSTANT", "est_SQFT"]], ref.params, atol=1e-9)
    assert fit.local.index.equals(baltim.index)
    # significance at mgwr's corrected level: |t| above its critical value
    crit = fit.model.critical_tval()  # mgwr's own: 0.05 corrected for the number of tests
    assert crit > 1.96 + 0.3
    expected = np.abs(fit.local["t_SQFT"]) >= crit
    assert (fit.local["sig_SQFT"] == expected).all()
    assert fit.coefficients.at["SQFT", "bandwidth"] == bw


def test_gwr_of_a_mostly_constant_regressor_is_refused_by_name():
    """The bundled example's counts: 创新百强县 is 0 in 86% of prefectures, so some local
    regressions are singular; a one-line refusal naming it, not numpy's LinAlgError."""
    from geotool import boundaries
    from geotool.io import read_table
    from geotool.match import resolve

    from .conftest import ROOT

    table = read_table(ROOT / "examples" / "prefecture_top100_gbk.csv")
    found = resolve(table, name_col="城市", province_col="省份")
    found["创新百强县"] = pd.to_numeric(found["创新百强县"])
    found["工业百强县"] = pd.to_numeric(found["工业百强县"])
    counts = found[found["match_status"] == "matched"].groupby("adcode")[
        ["工业百强县", "创新百强县"]].sum()  # fmt: skip
    frame = boundaries.load("prefecture").join(counts, how="inner")
    share = (frame["创新百强县"] == 0).mean()
    assert share > 0.8
    with pytest.raises(InputError) as caught:
        regress.fit(frame, "工业百强县 ~ 创新百强县 + np.log(area_km2)", kind="gwr")
    text = str(caught.value)
    assert text.startswith("formula: GWR finds a local regression it cannot solve")
    assert f"most repeated: 创新百强县, {share:.0%} of units one value" in text
    assert "\n" not in text


@pytest.mark.slow
def test_mgwr_runs_on_baltimore(baltim):
    fit = regress.fit(baltim, "PRICE ~ NROOM + SQFT", kind="mgwr")
    bws = fit.coefficients["bandwidth"]
    assert len(bws) == 3 and (bws >= 2).all() and (bws <= len(baltim)).all()
    assert fit.local.filter(like="est_").shape == (len(baltim), 3)
    assert 0 < fit.value("r2") < 1


# ------------------------------------------------------------------ through the CLI


def test_geotool_regress_equals_spreg(columbus, queen, tmp_path, capsys):
    from geotool.cli import main

    path = examples.get_path("columbus.shp")
    argv = ["--quiet", "regress", path, "--id-col", "POLYID", "--model", FORMULA]
    assert main([*argv, "--out", str(tmp_path / "ols")]) == 0
    assert "| INC | -1.597*** |" in capsys.readouterr().out
    diag = pd.read_csv(tmp_path / "ols/tables/regression_diagnostics.csv", index_col="statistic")
    ols = diag[diag["model"] == "OLS"]
    ref = _spreg(columbus, queen, spreg.OLS, spat_diag=True, moran=True)
    for name, value in {"r2": ref.r2, "lm_lag": ref.lm_lag[0], "lm_error": ref.lm_error[0],
                        "robust_lm_lag": ref.rlm_lag[0], "robust_lm_error": ref.rlm_error[0],
                        "moran_i_residuals": ref.moran_res[0]}.items():  # fmt: skip
        assert ols.at[name, "value"] == pytest.approx(value, abs=1e-6), name
    coef = pd.read_csv(tmp_path / "ols/tables/regression_coefficients.csv")
    np.testing.assert_allclose(coef[coef["model"] == "OLS"]["estimate"], ref.betas.ravel(),
                               atol=1e-6)  # fmt: skip
    # the published values (module docstring), through the command line too
    assert ols.at["r2", "value"] == pytest.approx(0.552404, abs=5e-7)
    assert ols.at["moran_i_residuals", "value"] == pytest.approx(0.222, abs=5e-4)
    # the LM tests point to the lag model: it follows OLS in the same table
    lag = diag[diag["model"] == "ML lag"]
    ml = _spreg(columbus, queen, spreg.ML_Lag)
    assert lag.at["rho", "value"] == pytest.approx(float(ml.rho), abs=1e-6)
    assert lag.at["log_likelihood", "value"] == pytest.approx(ml.logll, abs=1e-6)
    assert lag.at["rho", "value"] == pytest.approx(0.423, abs=5e-4)  # GeoDa's published rho
    assert "(2) ML lag" in (tmp_path / "ols/regression.md").read_text(encoding="utf-8")
    assert main([*argv, "--kind", "error", "--out", str(tmp_path / "err")]) == 0
    diag = pd.read_csv(tmp_path / "err/tables/regression_diagnostics.csv", index_col="statistic")
    ml = _spreg(columbus, queen, spreg.ML_Error)
    assert diag.at["lambda", "value"] == pytest.approx(float(ml.lam), abs=1e-6)
    assert diag.at["log_likelihood", "value"] == pytest.approx(ml.logll, abs=1e-6)
    fitted = pd.read_csv(tmp_path / "err/tables/regression_fitted.csv")
    assert len(fitted) == 49 and set(fitted["residual_lisa"].dropna()) <= {
        "High-High", "Low-Low", "High-Low", "Low-High", "Not significant"}  # fmt: skip


def test_geotool_regress_robust_errors_equal_spreg(columbus, queen, tmp_path, capsys):
    import dataclasses

    from geotool.cli import main
    from geotool.study import Study

    field = next(f for f in dataclasses.fields(Study) if f.name == "model_robust")
    assert field.metadata["choices"] == regress.ROBUST  # the CLI's choices are regress's
    path = examples.get_path("columbus.shp")
    argv = ["--quiet", "regress", path, "--id-col", "POLYID", "--model", FORMULA, "--kind",
            "error", "--method", "gm"]  # fmt: skip
    assert main([*argv, "--robust", "het", "--out", str(tmp_path / "het")]) == 0
    coef = pd.read_csv(tmp_path / "het/tables/regression_coefficients.csv")
    ref = _spreg(columbus, queen, spreg.GM_Error_Het)
    np.testing.assert_allclose(coef["estimate"], ref.betas.ravel(), atol=1e-6)
    np.testing.assert_allclose(coef["std_err"], ref.std_err, atol=1e-6)
    hom = _spreg(columbus, queen, spreg.GM_Error_Hom)
    assert not np.allclose(coef["std_err"], hom.std_err, atol=1e-4)  # not the default's
    capsys.readouterr()
    assert main([*argv, "--robust", "white", "--out", str(tmp_path / "white")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == ("geotool: error: --robust white does not go with --kind error and --method "
                   "gm, which takes ['het'].")  # fmt: skip


def test_geotool_regress_regimes_of_an_error_model_equal_spreg(columbus, queen, tmp_path,
                                                                capsys):  # fmt: skip
    """Columbus's core and periphery (CP) as regimes of the ML error model, with Chow tests."""
    from geotool.cli import main

    path = examples.get_path("columbus.shp")
    argv = ["regress", path, "--id-col", "POLYID", "--model", FORMULA, "--kind", "error",
            "--regimes", "CP", "--out", str(tmp_path / "reg")]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    with _quiet():
        ref = spreg.ML_Error_Regimes(columbus[["CRIME"]].to_numpy(), columbus[["INC", "HOVAL"]]
                                     .to_numpy(), list(columbus["CP"].astype(int).astype(str)),
                                     w=queen)  # fmt: skip
    coef = pd.read_csv(tmp_path / "reg/tables/regression_coefficients.csv")
    np.testing.assert_allclose(coef["estimate"], ref.betas.ravel(), atol=1e-5)
    assert set(coef["regime"].astype(str)) >= {"0", "1"}
    chow = pd.read_csv(tmp_path / "reg/tables/regression_chow.csv").set_index("term")
    assert chow.at["joint", "wald"] == pytest.approx(float(ref.chow.joint[0]), abs=1e-5)
    err = capsys.readouterr().err
    wald = f"{float(ref.chow.joint[0]):.3f}"
    assert f"Chow test of equal coefficients across the regimes: Wald {wald}" in err


def test_geotool_regress_refuses_a_bad_model_by_its_flag(tmp_path, capsys):
    from geotool.cli import main

    path = examples.get_path("columbus.shp")
    argv = ["regress", path, "--id-col", "POLYID", "--out", str(tmp_path / "out")]
    assert main([*argv, "--model", "CRIME ~ INC + NOPE"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("geotool: error: --model: 'NOPE' is not a column")
    assert main([*argv, "--model", FORMULA, "--regimes", "nope"]) == 2
    assert "--regimes nope is not a column" in capsys.readouterr().err  # as every flag
    assert not list((tmp_path / "out").rglob("*"))  # a refused run publishes no file


# ------------------------------------------------------------------ panels


@pytest.fixture(scope="module")
def us_panel():
    """US states' log income per head 2001-2009 on the year before (libpysal's us_income)."""
    states = gpd.read_file(examples.get_path("us48.shp")).set_index("STATE_NAME")
    income = pd.read_csv(examples.get_path("usjoin.csv")).set_index("Name")
    years = [str(y) for y in range(2000, 2010)]
    long = pd.concat([
        pd.DataFrame({"state": income.index, "year": int(b), "income": np.log(income[b]),
                      "prev": np.log(income[a])})
        for a, b in zip(years[:-1], years[1:], strict=True)
    ], ignore_index=True)  # fmt: skip
    return states, income, years, long


def test_panel_fixed_effects_equal_spreg(us_panel):
    states, income, years, long = us_panel
    w = build(states, "queen")
    lw = libpysal.weights.Queen.from_dataframe(states, use_index=True, silence_warnings=True)
    lw.transform = "r"
    wide = income.reindex(lw.id_order)  # spreg's wide form: a column per year
    y = np.log(wide[years[1:]].to_numpy())
    x = np.log(wide[years[:-1]].to_numpy())
    with _quiet():
        fe = spreg.Panel_FE_Lag(y, x, lw)
        re_ = spreg.Panel_RE_Lag(y, x, lw)
        hausman = spreg.panel_Hausman(fe, re_)
        fe_err = spreg.Panel_FE_Error(y, x, lw)
    lag = regress.panel(long, "income ~ prev", w, id_col="state", year_col="year")
    np.testing.assert_allclose(lag.coefficients["estimate"], fe.betas.ravel(), atol=1e-6)
    assert lag.value("rho") == pytest.approx(float(fe.rho), abs=1e-6)
    assert lag.value("hausman") == pytest.approx(float(hausman[0]), rel=1e-6)
    assert lag.fitted.index.names == ["state", "year"] and len(lag.fitted) == 48 * 9
    err = regress.panel(long, "income ~ prev", w, id_col="state", year_col="year",
                        kind="fe_error")  # fmt: skip
    assert err.value("lambda") == pytest.approx(float(fe_err.lam), abs=1e-6)
    assert "lambda" in err.coefficients.index


def test_pooled_panel_has_year_effects_and_balances_the_panel(us_panel):
    _, _, _, long = us_panel
    gappy = long.drop(long.index[(long["state"] == "Ohio") & (long["year"] == 2005)])
    fit = regress.panel(gappy, "income ~ prev", id_col="state", year_col="year", kind="pooled")
    assert any("1 unit(s) not in every year left out: Ohio" in n for n in fit.notes)
    used = long[long["state"] != "Ohio"]
    x = pd.concat([used[["prev"]], pd.get_dummies(used["year"], drop_first=True, dtype=float)],
                  axis=1)  # fmt: skip
    with _quiet():
        ref = spreg.OLS(used[["income"]].to_numpy(), x.to_numpy())
    np.testing.assert_allclose(fit.coefficients["estimate"], ref.betas.ravel(), atol=1e-8)
    assert "year_2009" in fit.coefficients.index
    with pytest.raises(InputError, match="id_col: unit Ohio appears twice in year 2002"):
        twice = pd.concat([long, long[(long["state"] == "Ohio") & (long["year"] == 2002)]])
        regress.panel(twice, "income ~ prev", id_col="state", year_col="year", kind="pooled")
    with pytest.raises(InputError, match="w: kind='fe_lag' needs spatial weights"):
        regress.panel(long, "income ~ prev", id_col="state", year_col="year")


def test_impacts_table_for_a_paper(columbus, queen):
    fits = [regress.fit(columbus, FORMULA, queen), regress.fit(columbus, FORMULA, queen,
                                                                kind="lag")]  # fmt: skip
    imp = fits[1].impacts
    md = regress.impacts_table(fits)
    head = md.splitlines()[0]
    assert head == "|  | (2) ML lag: direct | (2) ML lag: indirect | (2) ML lag: total |"
    row = imp[imp["effect"] == "indirect"].loc["INC"]
    stars = "***" if row["p"] < 0.01 else "**" if row["p"] < 0.05 else "*" if row["p"] < 0.1 else ""
    inc = next(line for line in md.splitlines() if line.startswith("| INC |"))
    assert inc.split(" | ")[2] == f"{row['estimate']:.3f}{stars}"
    below = md.splitlines()[md.splitlines().index(inc) + 1]
    assert below.split(" | ")[2] == f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    assert "1000 draws" in md
    assert r"\begin{tabular}{lccc}" in regress.impacts_table(fits, "latex")
    with pytest.raises(InputError, match="fits: none has impacts"):
        regress.impacts_table(fits[0])


def _near_unit_root(seed: int = 5):
    """A smooth surface on a 12 x 12 lattice: y's rho near 1 (0.945), and its weights."""
    import geopandas as gpd
    import shapely

    from geotool import weights

    side = 12
    cells = [shapely.box(i, j, i + 1, j + 1) for i in range(side) for j in range(side)]
    i, j = np.divmod(np.arange(side * side), side)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=side * side)
    smooth = np.sin(i / 3.0) + np.cos(j / 3.0)
    frame = gpd.GeoDataFrame({"y": 2 * smooth + 0.5 * x + rng.normal(0, 0.6, side * side),
                              "x": x}, geometry=cells)  # fmt: skip
    return frame, weights.build(frame, "queen")


def test_impact_inference_near_rhos_bound_is_stable_and_agrees_with_itself():
    """rho near 1: unbounded normal draws put rho past 1, where 1/(1 - rho) explodes (s.e.
    168,197 for a total effect in a user's run, p 0.998 for a direct effect whose
    coefficient had p 0.026); truncated draws alone still left the draws' standard
    deviation to the draw nearest 1 (5,844 to 8.8 over six seeds). The draws stay inside
    rho's range, and s.e., p and the 95 % interval are the draws' quantiles': stable
    across seeds, and the stars (p) agree with the parentheses (s.e.)."""
    frame, w = _near_unit_root()
    fits = [regress.fit(frame, "y ~ x", w, kind="lag", seed=seed) for seed in range(4)]
    assert fits[0].coefficients.loc["rho", "estimate"] > 0.9
    assert all(f.impacts.attrs["discarded"] > 0 for f in fits)
    for effect in ("direct", "total"):
        rows = [f.impacts[f.impacts["effect"] == effect].loc["x"] for f in fits]
        se = np.array([r["std_err"] for r in rows])
        assert se.max() < 1.5 * se.min(), (effect, se)  # the draws' SD: 40.6 to 0.14
        for r in rows:  # the interval and p are the draws': 0 outside it, p below 0.05
            assert r["ci_low"] < r["estimate"] < r["ci_high"]
            assert (r["ci_low"] > 0 or r["ci_high"] < 0) == (r["p"] < 0.05), r
    direct = fits[0].impacts[fits[0].impacts["effect"] == "direct"].loc["x"]
    assert fits[0].coefficients.loc["x", "p"] < 0.01 and direct["p"] < 0.01 and direct["ci_low"] > 0
    assert "rho inside its range" in regress.impacts_table(fits[0])


def test_a_rho_outside_its_range_has_no_impacts():
    """GM lag does not bound rho (1.97 on this lattice): (I - rho W) has no inverse, so no
    impacts, said in the table's attrs (it gave a total of -0.51 with an interval
    excluding it)."""
    frame, w = _near_unit_root()
    fit = regress.fit(frame, "y ~ x", w, kind="lag", method="gm", seed=0)
    rho = fit.coefficients.loc["rho", "estimate"]
    if rho < 1:
        pytest.skip(f"GM's rho is {rho:.3f} here, inside its range")
    assert fit.impacts[["estimate", "std_err", "p", "ci_low"]].isna().all().all()
    assert "outside its stationary range" in fit.impacts.attrs["note"]


def test_the_regression_table_names_each_models_dependent_variable(columbus, queen):
    """A paper's table says what is explained: its first row, in every format and in
    tables/regression_table.csv (a user's table never named it)."""
    fits = [regress.fit(columbus, FORMULA, queen), regress.fit(columbus, FORMULA, queen,
                                                                kind="lag")]  # fmt: skip
    frame = regress.table_frame(fits)
    assert frame.index[0] == ("dependent variable", "")
    assert frame.iloc[0].tolist() == ["CRIME", "CRIME"]
    assert regress.table(fits).splitlines()[2] == "| dependent variable | CRIME | CRIME |"
    from geotool.maps import pages

    summary = {"regression": {"model": "OLS", "rows": "all", "finding": "",
                              "table": regress.table_cells(fits)}}  # fmt: skip
    assert "<td>因变量</td>" in pages.regression_section(summary, "zh")


@pytest.mark.parametrize(("formula", "message"), [
    ("{__import__('os').system('touch PWNED') or CRIME} ~ INC", "more than arithmetic"),
    ("{open('PWNED', 'w').write('x') or CRIME} ~ INC", "more than arithmetic"),
    ("CRIME ~ INC + {__import__('os').system('touch PWNED') or HOVAL}", "more than arithmetic"),
    ("CRIME ~ INC + {HOVAL + 0*9**9**9}", "a power is of a column"),
    ("CRIME ~ INC + {[0]*10**12}", "computes with text"),
    ("CRIME ~ INC + {HOVAL + len([0]*999999999999)}", "not a column or an allowed function"),
    ("CRIME ~ INC + {'a'*10**5}", "computes with text"),
    ("CRIME ~ INC + {'a'*100000}", "computes with text"),
    ("CRIME ~ INC + {HOVAL.__class__}", "calls something other than"),
    ("CRIME ~ INC + {HOVAL ** 'a'}", "computes with text"),
    ("CRIME ~ INC + {HOVAL ** (1 + 1j)}", "a power is of a column"),
    ("CRIME ~ (INC + HOVAL + X + Y + AREA + PERIMETER + NSA + NSB + EW + CP)**5",
     "more than 200 terms"),
    ("CRIME ~ (INC + HOVAL + X + Y + AREA + PERIMETER + NSA + NSB + EW + CP + THOUS + NEIGNO"
     " + OPEN + PLUMB + DISCBD)**3", "more than 200 terms"),
    ("CRIME ~ " + ":".join(["(" + " + ".join(["INC", "HOVAL", "X", "Y", "AREA", "NSA", "NSB",
                                             "EW", "CP", "OPEN"]) + ")"] * 6),
     "more than 200 terms"),  # a million terms: refused before formulaic expands them
    ("CRIME ~ poly(INC, 20000)", "a polynomial's degree is from 1 to 10"),
    ("CRIME ~ poly(INC, degree=3000000)", "a polynomial's degree is from 1 to 10"),
    ("CRIME ~ C(NEIG):C(POLYID):C(AREA):C(PERIMETER):C(HOVAL)",
     "more than 200 columns from 49 rows"),  # 49**5: minutes and gigabytes in formulaic
    ("CRIME ~ poly(INC, 10):poly(HOVAL, 10):poly(X, 10):poly(Y, 10)",
     "more than 200 columns"),  # 10**4 columns (10**6 with two more: 83 s, 4.5 GB)
    ("CRIME ~ INC | HOVAL", "parts separated by '|'"),
])  # fmt: skip
def test_a_formula_never_runs_code_nor_grows_without_bound(columbus, tmp_path, monkeypatch,
                                                           formula, message):  # fmt: skip
    import time

    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    with pytest.raises(InputError) as caught:
        regress.fit(columbus, formula)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "PWNED").exists()
    assert time.perf_counter() - start < 5  # refused before anything is expanded


def test_text_columns_quoted_are_counted_as_categories(columbus):
    """Q('t1'):Q('t2'):Q('t3') on three text columns of 49 values: 117,649 columns built
    (18 s, 821 MB) before the fit refused them; counted and refused first."""
    frame = columbus.assign(**{f"t{i}": columbus["POLYID"].map(lambda v, i=i: f"{i}-{v}")
                               for i in (1, 2, 3)})  # fmt: skip
    with pytest.raises(InputError, match="more than 200 columns from 49 rows"):
        regress.fit(frame, "CRIME ~ Q('t1'):Q('t2'):Q('t3')")


@pytest.mark.parametrize("formula", [
    "CRIME ~ I((INC - 1)**4)", "CRIME ~ {(INC + 1)**4}", "CRIME ~ {INC**-1}",
    "CRIME ~ I(INC**(-2)) + HOVAL", "CRIME ~ (INC + HOVAL + X + Y + AREA + NSA)**3",
    "CRIME ~ poly(INC, 3)", "log(CRIME) ~ np.sqrt(INC) + C(EW)",
])  # fmt: skip
def test_the_formula_check_lets_ordinary_models_through(columbus, formula):
    assert regress.fit(columbus, formula).coefficients.shape[0] >= 2


def test_a_markdown_table_keeps_names_as_text(columbus, queen):
    frame = columbus.rename(columns={"INC": "<img src=x onerror=alert(1)>", "HOVAL": "R&D|x"})
    fit = regress.fit(frame, "CRIME ~ `<img src=x onerror=alert(1)>` + `R&D|x`", queen)
    import re

    md = regress.table(fit, "markdown")
    assert not re.search(r"(?<!\\)<img", md) and r"\<img src=x onerror=alert(1)\>" in md
    assert r"R\&D\|x" in md
