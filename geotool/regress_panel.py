"""A study's panel regression: the model of a panel ``model_kind`` on every year at once.

The regression stage (:mod:`geotool.regress_stage`) hands a study over here when its
``model_kind`` is one of :data:`geotool.regress.PANEL_KINDS` (``pooled``, ``fe_lag``,
``fe_error``, ``re_lag``, ``re_error``) and its table has years (``year_col``). It fits
:func:`geotool.regress.panel` on the balanced panel; a pooled model whose panel LM tests
point to a lag or error model is followed by the fixed-effects one, and that by the
random-effects one when the Hausman test does not reject it, so the table walks from the
diagnostics to the chosen model. Writes the stage's tables (``tables/regression_*.csv``,
``regression_panel_dropped.csv`` with every row left out and why), the paper's table, and
maps of each unit's mean residual and of its residual in the latest year.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from geotool import regress
from geotool._errors import InputError
from geotool._log import log

__all__ = ["panel_stage"]

#: :func:`geotool.regress.panel`'s parameters in its messages, and the study's fields.
_FIELDS = (("formula:", "model:"), ("formula=", "model="), ("kind=", "model_kind="),
           ("id_col:", "data:"), ("frame:", "data:"), ("w:", "weights:"))  # fmt: skip


def _as_fields(message: str) -> str:
    """A message of :func:`geotool.regress.panel` naming the study's fields instead."""
    for param, name in _FIELDS:
        if message.startswith(param):
            return name + message[len(param) :]
    return message


def panel_frame(run: Any) -> tuple[pd.DataFrame, str, str]:
    """The study's long rows (one per unit and year), the id column's and the year's names.

    The units' own attributes the table lacks join them (``region`` on the bundled
    layers), so a formula may use ``C(region)``; numbers a CSV gave as text are numbers.
    """
    a = run.analysis
    kind = run.study.model_kind
    if a.year_col is None or a.rows[a.year_col].nunique() < 2:
        msg = (f"model_kind={kind!r} is a panel model: it needs a table with two years or "
               "more (year_col=); use 'ols', 'lag' or 'error' on a cross-section.")  # fmt: skip
        raise InputError(msg)
    from geotool import boundaries

    rows = a.rows
    bundled = a.level in ("county", "prefecture", "province")
    units = boundaries.load(a.level) if bundled else a.units
    if units is not None:
        attrs = pd.DataFrame(units).drop(columns="geometry")
        rows = rows.join(attrs[[c for c in attrs.columns if c not in rows.columns]])
    for col in rows.columns[rows.dtypes.map(pd.api.types.is_string_dtype).to_numpy()]:
        numbers = pd.to_numeric(rows[col], errors="coerce")
        if numbers.notna().sum() == rows[col].notna().sum():
            rows[col] = numbers
    id_col = "unit" if "unit" not in rows.columns else "unit_id"
    return rows.rename_axis(id_col).reset_index(), id_col, a.year_col


def _fits(run: Any, frame: pd.DataFrame, id_col: str, year_col: str) -> list[regress.Fit]:
    """The study's panel model; after pooled OLS, the model the LM and Hausman tests pick."""
    study = run.study
    units = pd.Index(frame[id_col].unique())
    w = run.analysis.weights(units, study.weights or "queen", study.islands)
    options = {"id_col": id_col, "year_col": year_col, "alpha": study.alpha}
    try:
        fits = [regress.panel(frame, study.model, w, kind=study.model_kind, **options)]
        chosen = _chosen(fits[0].guide)
        if study.model_kind == "pooled" and chosen is not None:
            fits.append(regress.panel(frame, study.model, w, kind=f"fe_{chosen}", **options))
            if "random effects: the Hausman test does not reject" in fits[-1].guide:
                fits.append(regress.panel(frame, study.model, w, kind=f"re_{chosen}",
                                          **options))  # fmt: skip
    except InputError as exc:  # the library's parameters, as the study's fields
        raise InputError(_as_fields(str(exc))) from None
    return fits


def _chosen(guide: str) -> str | None:
    """The model a guide sentence points to (``lag``, ``error``) or ``None``."""
    for kind in ("lag", "error"):
        if guide.startswith(f"Spatial {kind} model"):
            return kind
    return None


def _write_tables(run: Any, fits: list[regress.Fit], id_col: str, year_col: str) -> None:
    """Each fit's tidy frames as CSV (a ``model`` column), the dropped rows, the paper's table."""
    names = run.analysis.names()
    parts: dict[str, list[pd.DataFrame]] = {}
    for f in fits:
        fitted = f.fitted.reset_index()
        fitted.insert(1, "name", names.reindex(fitted[id_col]).to_numpy())
        frames = {"coefficients": f.coefficients.reset_index(),
                  "diagnostics": f.diagnostics.reset_index(), "fitted": fitted}  # fmt: skip
        for key, frame in frames.items():
            parts.setdefault(key, []).append(frame.assign(model=f.label))
    for key, pieces in parts.items():
        table = pd.concat(pieces, ignore_index=True)
        run.table(f"tables/regression_{key}.csv", table[["model", *table.columns[:-1]]])
    dropped = fits[0].dropped  # regress.panel always says what it left out
    if dropped is None:
        dropped = pd.DataFrame(columns=[id_col, year_col, "reason"])
    run.table("tables/regression_panel_dropped.csv",
              dropped[[id_col, year_col, "reason"]].reset_index(drop=True))  # fmt: skip
    run.write("regression.md", regress.table(fits, "markdown"))
    run.write("regression.html", regress.table(fits, "html"))
    run.write("regression.tex", regress.table(fits, "latex"))
    run.table("tables/regression_table.csv", regress.table_frame(fits).reset_index())


def _maps(run: Any, fit: regress.Fit, id_col: str, year_col: str) -> None:
    """Each unit's mean residual over the years, and its residual in the latest year.

    With fixed effects a unit's mean residual is 0 by construction: the first year's is shown.
    """
    from geotool import boundaries
    from geotool.maps import charts
    from geotool.maps.figure import figure_bytes

    a = run.analysis
    resid = fit.fitted.reset_index().pivot_table("residual", id_col, year_col)
    first, latest = resid.columns.min(), resid.columns.max()
    fixed = fit.kind.startswith("fe_")
    values = pd.DataFrame({"mean": resid[first] if fixed else resid.mean(axis=1),
                           "latest": resid[latest]})  # fmt: skip
    units = (a.units if a.units is not None else boundaries.load(a.level)).loc[values.index]
    zh = run.study.language(a.china) == "zh"
    mean = (
        (f"{first} 残差" if zh else f"residual {first}")
        if fixed
        else ("平均残差" if zh else "mean residual")
    )
    labels = {"mean": mean,
              "latest": f"{latest} 残差" if zh else f"residual {latest}"}  # fmt: skip
    fig = charts.dimension_maps(units, values, ["mean", "latest"], labels,
                                "zh" if zh else "en", cmap="RdBu_r")  # fmt: skip
    for ext in dict.fromkeys(("png", *run.study.figures)):
        run.write(f"figures/regression_residuals.{ext}",
                  figure_bytes(fig, ext, dpi=run.study.dpi))  # fmt: skip


def panel_stage(run: Any) -> None:
    """Fit the study's panel model, write its tables and maps, and summarise what it found."""
    frame, id_col, year_col = panel_frame(run)
    study = run.study
    log(f"regression: {study.model} ({study.model_kind}, panel by {year_col}) ...")
    fits = _fits(run, frame, id_col, year_col)
    _write_tables(run, fits, id_col, year_col)
    from pyproj.exceptions import CRSError

    try:
        _maps(run, fits[-1], id_col, year_col)
        drawn = "figures/regression_residuals.png"
    except (InputError, CRSError) as exc:  # units charts cannot project
        drawn = f"no maps: {exc}"
        log(f"regression: maps of residuals not drawn ({exc})", logging.WARNING)
    first, last = fits[0], fits[-1]
    n_units = last.fitted.index.get_level_values(0).nunique()
    n_years = last.fitted.index.get_level_values(1).nunique()
    which = f"panel: {n_units} units x {n_years} years ({year_col})"
    text = f"{first.label} of {first.formula} ({which}): {first.guide}"
    for name in ("rho", "lambda"):
        if name in last.coefficients.index:
            c = last.coefficients.loc[name]
            text += f" {last.label}: {name} {c['estimate']:.3f} (p {c['p']:.4f})."
    run.summary["regression"] = {
        "model": study.model, "rows": which, "models": [f.label for f in fits],
        "guide": first.guide, "notes": [n for f in fits for n in f.notes],
        "coefficients": {f.label: f.coefficients.reset_index().to_dict("records")
                         for f in fits},
        "diagnostics": {f.label: f.diagnostics["value"].to_dict() for f in fits},
        "dropped_rows": len(first.dropped) if first.dropped is not None else 0,
        "finding": text.strip(), "maps": drawn,
    }  # fmt: skip
