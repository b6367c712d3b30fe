"""A study's regression stage: the model of ``model=``, its diagnostics, tables and maps.

One stage of :data:`geotool.pipeline.STAGES` (and the whole of ``geotool regress``): it
fits ``study.model`` (:func:`geotool.regress.fit`) on the study's rows and weights and
writes ``tables/regression_*.csv``, ``regression.md`` / ``.html`` / ``.tex`` (the table
as a paper shows it) and figures: residuals and fitted values mapped, with the residuals'
LISA classes, and a GWR's local coefficients as small multiples. An OLS model whose LM
tests point to a lag or error model (Anselin's rule) is followed by that model, so the
table walks from the diagnostics to the chosen model. A panel's latest year is used.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from geotool import regress
from geotool._errors import InputError
from geotool._log import log

__all__ = ["no_model", "regression_stage"]


def no_model(run: Any) -> str | None:
    """Why the regression stage does not apply (``None``: it runs)."""
    if run.study.model is None:
        return "no model was given (model=, e.g. 'y ~ x1 + log(x2)')"
    if run.analysis is None or run.analysis.rows is None:
        return "the bundled report ranks counties; a model needs a table of values"
    return None


def _frame(run: Any) -> tuple[pd.DataFrame, str]:
    """The rows the model is fitted on (a panel's latest year) and what they are.

    The units' own attributes the table lacks join them (``region``, ``province``,
    ``area_km2`` on the bundled layers), so a formula may use ``C(region)``.
    """
    a = run.analysis
    rows = a.rows
    if a.year_col is None or rows[a.year_col].nunique() < 2:
        rows, which = rows[~rows.index.duplicated()], "cross-section"
    else:
        latest = rows[a.year_col].max()
        rows, which = rows[rows[a.year_col] == latest], f"{a.year_col} {latest} (the latest year)"
    from geotool import boundaries

    bundled = a.level in ("county", "prefecture", "province")
    units = boundaries.load(a.level) if bundled else a.units
    attrs = pd.DataFrame(units).drop(columns="geometry")
    extra = [c for c in attrs.columns if c not in rows.columns]
    rows = rows.join(attrs[extra])
    for col in rows.columns[rows.dtypes.map(pd.api.types.is_string_dtype).to_numpy()]:
        numbers = pd.to_numeric(rows[col], errors="coerce")
        if numbers.notna().sum() == rows[col].notna().sum():  # a CSV's numbers read as text
            rows[col] = numbers
    return rows, which


def _geo(run: Any, ids: pd.Index) -> Any:
    """The units' polygons (own geometry, or the bundled layer of their level)."""
    from geotool import boundaries

    a = run.analysis
    units = a.units if a.units is not None else boundaries.load(a.level)
    return units.loc[ids]


def _fits(run: Any, frame: pd.DataFrame) -> list[regress.Fit]:
    """The study's model; after OLS, the model its LM tests point to."""
    study, a = run.study, run.analysis
    try:
        ids = regress.usable(frame, study.model)
    except InputError as exc:
        raise InputError(_as_fields(str(exc))) from None
    if len(ids) < len(frame):
        left = [str(i) for i in frame.index.difference(ids)]
        run.summary.setdefault("regression_notes", []).append(
            f"{len(left)} unit(s) with a missing value left out: {', '.join(left[:8])}"
            + (" ..." if len(left) > 8 else "")
        )
    frame = frame.loc[ids]
    w = a.weights(ids, study.weights or "queen", study.islands)
    regimes: Any = study.model_regimes
    if regimes == "groups":
        if a.groups is None:
            msg = "model_regimes='groups' needs the study's groups (groups=, or units in China)."
            raise InputError(msg)
        regimes = a.groups
    kind = study.model_kind
    data: Any = frame
    if kind in ("gwr", "mgwr"):
        import geopandas as gpd

        data = gpd.GeoDataFrame(frame, geometry=_geo(run, ids).geometry.to_numpy(),
                                crs=_geo(run, ids).crs)  # fmt: skip
    options = {"kind": kind, "method": study.model_method, "regimes": regimes,
               "alpha": study.alpha, "seed": study.seed}  # fmt: skip
    try:
        first = regress.fit(data, study.model, None if kind in ("gwr", "mgwr") else w, **options)
    except InputError as exc:  # the library's parameters, as the study's fields
        raise InputError(_as_fields(str(exc))) from None
    fits = [first]
    chosen = _chosen(first.guide)
    if kind == "ols" and regimes is None and chosen is not None:
        fits.append(regress.fit(frame, study.model, w, kind=chosen, seed=study.seed))
    return fits


#: :func:`geotool.regress.fit`'s parameters in its messages, and the study's fields.
_FIELDS = (("formula:", "model:"), ("formula=", "model="), ("regimes=", "model_regimes="),
           ("regimes:", "model_regimes:"), ("kind=", "model_kind="), ("method=", "model_method="),
           ("frame:", "data:"), ("w:", "weights:"))  # fmt: skip


def _as_fields(message: str) -> str:
    """A message of :func:`geotool.regress.fit` naming the study's fields instead."""
    for param, name in _FIELDS:
        if message.startswith(param):
            return name + message[len(param) :]
    return message


def _chosen(guide: str) -> str | None:
    """The model a guide sentence points to (``lag``, ``error``) or ``None`` (keep OLS)."""
    for kind in ("lag", "error"):
        if guide.startswith(f"Spatial {kind} model"):
            return kind
    return None


def _write_tables(run: Any, fits: list[regress.Fit], names: pd.Series) -> None:
    """Each fit's tidy frames as CSV (a ``model`` column), and the paper's table."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for f in fits:
        fitted = f.fitted.copy()
        fitted.insert(0, "name", names.reindex(fitted.index).to_numpy())
        frames = {"coefficients": f.coefficients.reset_index(),
                  "diagnostics": f.diagnostics.reset_index(),
                  "fitted": fitted.reset_index(names="id")}  # fmt: skip
        for key, extra in (("impacts", f.impacts), ("local", f.local), ("chow", f.chow)):
            if extra is not None:
                frames[key] = extra.reset_index(names="id" if key == "local" else None)
        for key, frame in frames.items():
            parts.setdefault(key, []).append(frame.assign(model=f.label))
    for key, pieces in parts.items():
        table = pd.concat(pieces, ignore_index=True)
        run.table(f"tables/regression_{key}.csv", table[["model", *table.columns[:-1]]])
    run.write("regression.md", regress.table(fits, "markdown"))
    run.write("regression.html", regress.table(fits, "html"))
    run.write("regression.tex", regress.table(fits, "latex"))
    run.table("tables/regression_table.csv", regress.table_frame(fits).reset_index())


def _residual_lisa(run: Any, fit: regress.Fit) -> pd.Series:
    """The LISA class of each unit's residual (clusters of under- or over-prediction)."""
    from geotool import autocorr

    study, a = run.study, run.analysis
    ids = fit.fitted.index
    w = a.weights(ids, study.weights or "queen", study.islands)
    local = autocorr.local_stats(fit.fitted["residual"], w, gi_star=False, alpha=study.alpha,
                                 sided=study.sided, **run.perm)  # fmt: skip
    return local["lisa_class"].reindex(ids)


def _draw(run: Any, name: str, fig: Any) -> None:
    """A figure of the run, as PNG (shown on the index page) and the study's formats."""
    from geotool.maps.figure import figure_bytes

    for ext in dict.fromkeys(("png", *run.study.figures)):
        run.write(f"figures/{name}.{ext}", figure_bytes(fig, ext, dpi=run.study.dpi))


def _maps(run: Any, fits: list[regress.Fit]) -> None:
    """Residuals and fitted values of the last model; a GWR's local coefficients."""
    from geotool.maps import charts

    lang = run.study.language(run.analysis.china)
    last = fits[-1]
    units = _geo(run, last.fitted.index)
    zh = lang == "zh"
    labels = {"residual": "残差" if zh else "residual", "fitted": "拟合值" if zh else "fitted"}
    fig = charts.dimension_maps(units, last.fitted, ["residual", "fitted"], labels, lang,
                                cmap="RdBu_r")  # fmt: skip
    _draw(run, "regression_residuals", fig)
    if last.local is not None:
        cols = [c for c in last.local.columns if c.startswith("est_")]
        names = {c: c.removeprefix("est_") for c in cols}
        fig = charts.dimension_maps(units, last.local, cols, names, lang, cmap="RdBu_r")
        _draw(run, "regression_local_coefficients", fig)


def regression_stage(run: Any) -> None:
    """Fit the study's model, write its tables and maps, and summarise what it found."""
    if run.study.model_kind in regress.PANEL_KINDS:  # every year at once: regress_panel
        from geotool import regress_panel

        return regress_panel.panel_stage(run)
    frame, which = _frame(run)
    log(f"regression: {run.study.model} ({run.study.model_kind}, {which}) ...")
    fits = _fits(run, frame)
    names = run.analysis.names()
    last = fits[-1]
    if last.kind not in ("gwr", "mgwr"):
        last.fitted["residual_lisa"] = _residual_lisa(run, last)
    _write_tables(run, fits, names)
    from pyproj.exceptions import CRSError

    try:
        _maps(run, fits)
        drawn = "figures/regression_*.png"
    except (InputError, CRSError) as exc:  # units charts cannot project (near the equator)
        drawn = f"no maps: {exc}"
        log(f"regression: maps of residuals not drawn ({exc})", logging.WARNING)
    first = fits[0]
    run.summary["regression"] = {
        "model": run.study.model, "rows": which,
        "models": [f.label for f in fits],
        "guide": first.guide,
        "notes": run.summary.pop("regression_notes", []) + [n for f in fits for n in f.notes],
        "coefficients": {f.label: f.coefficients.reset_index().to_dict("records")
                         for f in fits},
        "diagnostics": {f.label: f.diagnostics["value"].to_dict() for f in fits},
        "finding": _finding(fits),
        "maps": drawn,
    }  # fmt: skip


def _finding(fits: list[regress.Fit]) -> str:
    """The stage's finding in a sentence or two, for the index page and the headline."""
    first, last = fits[0], fits[-1]
    text = f"{first.label} of {first.formula}: "
    if first.kind in ("gwr", "mgwr"):
        return text + (f"bandwidth {first.value('bandwidth'):g}, R² {first.value('r2'):.3f}, "
                       f"AICc {first.value('aicc'):.1f}.")  # fmt: skip
    if first.kind in ("ols", "slx"):
        text += f"R² {first.value('r2'):.3f}. "
    if first.guide:
        text += first.guide + " "
    for name in ("rho", "lambda"):
        if name in last.coefficients.index and "regime" not in last.coefficients:
            c = last.coefficients.loc[name]
            who = f"{last.label}: " if last is not first else ""
            text += f"{who}{name} {c['estimate']:.3f} (p {c['p']:.4f})."
    return text.strip()
