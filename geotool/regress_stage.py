"""A study's regression stage: the model of ``model=``, its diagnostics, tables and maps.

One stage of :data:`geotool.pipeline.STAGES` (and the whole of ``geotool regress``): it
fits ``study.model`` (:func:`geotool.regress.fit`) and writes ``tables/regression_*.csv``,
the paper's table (``regression.md`` / ``.html`` / ``.tex``), figures and offline web
maps (``maps/regression_*.html``: residuals with their LISA classes, fitted values, a
GWR's local coefficients, non-significant units grey). OLS whose LM tests point to a lag
or error model is followed by that model. A panel's latest year is used, unless
``model_kind`` is a panel kind: then :func:`geotool.regress.panel` fits every year, pooled
OLS is followed by the fixed-effects model its tests pick and that by random effects when
Hausman does not reject them; ``regression_panel_dropped.csv`` lists the rows left out.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geotool import regress
from geotool._errors import InputError
from geotool._log import log
from geotool._version import __version__

__all__ = ["no_model", "regression_index", "regression_stage"]


def no_model(run: Any) -> str | None:
    """Why the regression stage does not apply (``None``: it runs)."""
    if run.study.model is None:
        return "no model was given (model=, e.g. 'y ~ x1 + log(x2)')"
    if run.analysis is None or run.analysis.rows is None:
        return "the bundled report ranks counties; a model needs a table of values"
    return None


def _with_attributes(run: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` joined by the units' own attributes they lack, numbers given as text as numbers.

    So a formula may use ``C(region)`` or ``area_km2`` of the bundled layers.
    """
    from geotool import boundaries

    a = run.analysis
    units = boundaries.load(a.level) if a.level in ("county", "prefecture", "province") else a.units
    if units is not None:
        attrs = pd.DataFrame(units).drop(columns="geometry")
        rows = rows.join(attrs[[c for c in attrs.columns if c not in rows.columns]])
    for col in rows.columns[rows.dtypes.map(pd.api.types.is_string_dtype).to_numpy()]:
        numbers = pd.to_numeric(rows[col], errors="coerce")
        if numbers.notna().sum() == rows[col].notna().sum():  # a CSV's numbers read as text
            rows[col] = numbers
    return rows


def _frame(run: Any) -> tuple[pd.DataFrame, str]:
    """The rows the model is fitted on (a panel's latest year) and what they are."""
    a = run.analysis
    rows = a.rows
    if a.year_col is None or rows[a.year_col].nunique() < 2:
        rows, which = rows[~rows.index.duplicated()], "cross-section"
    else:
        latest = rows[a.year_col].max()
        rows, which = rows[rows[a.year_col] == latest], f"{a.year_col} {latest} (the latest year)"
    from geotool.match import MATCH_COLUMNS  # the match's bookkeeping: no variable of hers

    rows = rows.drop(columns=[c for c in MATCH_COLUMNS if c != "adcode" and c in rows.columns])
    return _with_attributes(run, rows), which


def _geo(run: Any, ids: pd.Index) -> Any:
    """The units' polygons (own geometry, or the bundled layer of their level)."""
    from geotool import boundaries

    a = run.analysis
    return (a.units if a.units is not None else boundaries.load(a.level)).loc[ids]


def _fits(run: Any, frame: pd.DataFrame) -> list[regress.Fit]:
    """The study's model; after OLS, the model its LM tests point to."""
    study, a = run.study, run.analysis
    with _as_fields():
        ids = regress.usable(frame, study.model)
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

        geo = _geo(run, ids)
        data = gpd.GeoDataFrame(frame, geometry=geo.geometry.to_numpy(), crs=geo.crs)
    options = {"kind": kind, "method": study.model_method, "regimes": regimes,
               "robust": study.model_robust, "alpha": study.alpha, "seed": study.seed}  # fmt: skip
    with _as_fields():
        first = regress.fit(data, study.model, None if kind in ("gwr", "mgwr") else w, **options)
    fits = [first]
    chosen = _chosen(first.guide)
    if kind == "ols" and regimes is None and chosen is not None:
        try:  # the model OLS points to; OLS stands when it cannot be fitted (islands ...)
            with _as_fields():
                fits.append(regress.fit(frame, study.model, w, kind=chosen, seed=study.seed))
        except InputError as exc:
            why = str(exc).split(": ", 1)[-1]
            note = f"the {chosen} model the LM tests point to was not fitted: {why}"
            first.notes.append(note)
            log(note, logging.WARNING)
    return fits


#: :mod:`geotool.regress`'s parameters in its messages, and the study's fields.
_FIELDS = (("formula:", "model:"), ("formula=", "model="), ("regimes=", "model_regimes="),
           ("regimes:", "model_regimes:"), ("kind=", "model_kind="), ("method=", "model_method="),
           ("robust=", "model_robust="),
           ("id_col:", "data:"), ("frame:", "data:"), ("w:", "weights:"))  # fmt: skip


@contextlib.contextmanager
def _as_fields() -> Iterator[None]:
    """Re-raise :mod:`geotool.regress`'s :class:`InputError` naming the study's fields."""
    try:
        yield
    except InputError as exc:
        message = str(exc)
        param, name = next(((p, n) for p, n in _FIELDS if message.startswith(p)), ("", ""))
        message = name + message[len(param) :]
        for inner in (" kind=", " method="):  # "robust='white': kind='lag' with method='ml'"
            message = message.replace(inner, inner.replace(" ", " model_"))
        raise InputError(message) from None


def _chosen(guide: str) -> str | None:
    """The model a guide sentence points to (``lag``, ``error``) or ``None`` (keep OLS)."""
    return next((k for k in ("lag", "error") if guide.startswith(f"Spatial {k} model")), None)


def _write_tables(run: Any, fits: list[regress.Fit]) -> None:
    """Each fit's tidy frames as CSV (a ``model`` column), and the paper's table."""
    names = run.analysis.names()
    parts: dict[str, list[pd.DataFrame]] = {}
    for f in fits:
        fitted = f.fitted.reset_index(names="id" if f.fitted.index.nlevels == 1 else None)
        fitted.insert(1, "name", names.reindex(fitted.iloc[:, 0]).to_numpy())
        frames = {"coefficients": f.coefficients.reset_index(),
                  "diagnostics": f.diagnostics.reset_index(), "fitted": fitted}  # fmt: skip
        for key, extra in (("impacts", f.impacts), ("local", f.local), ("chow", f.chow)):
            if extra is not None:
                frames[key] = extra.reset_index(names="id" if key == "local" else None)
        for key, frame in frames.items():
            parts.setdefault(key, []).append(frame.assign(model=f.label))
    for key, pieces in parts.items():
        table = pd.concat(pieces, ignore_index=True)
        run.table(f"tables/regression_{key}.csv", table[["model", *table.columns[:-1]]])
    for ext, fmt in (("md", "markdown"), ("html", "html"), ("tex", "latex")):
        run.write(f"regression.{ext}", regress.table(fits, fmt))
        if any(f.impacts is not None for f in fits):  # lag, Durbin: the spillovers' table
            run.write(f"regression_impacts.{ext}", regress.impacts_table(fits, fmt))
    run.table("tables/regression_table.csv", regress.table_frame(fits).reset_index())


def _residual_lisa(run: Any, fit: regress.Fit) -> pd.DataFrame:
    """The local Moran of each unit's residual (clusters of under- or over-prediction)."""
    from geotool import autocorr

    study, a = run.study, run.analysis
    ids = fit.fitted.index
    w = a.weights(ids, study.weights or "queen", study.islands)
    return autocorr.local_stats(fit.fitted["residual"], w, gi_star=False, alpha=study.alpha,
                                sided=study.sided, **run.perm)  # fmt: skip


def _maps(run: Any, fits: list[regress.Fit], lisas: dict[str, pd.DataFrame]) -> None:
    """Figures of the models as the web maps show them.

    Each model's residuals (diverging at 0) and their LISA classes, the fitted values, a
    GWR's local coefficients (units not significant grey).

    Units without a CRS (a plane) are drawn unprojected as small multiples of quantile
    classes (:func:`_plane_maps`).
    """
    from geotool import boundaries
    from geotool.geofile import PLANE
    from geotool.maps import static
    from geotool.maps._words import section_words

    a, last = run.analysis, fits[-1]
    layer = a.units if a.units is not None else boundaries.load(a.level)
    if layer.crs is None or layer.attrs.get("source", {}).get("crs") == PLANE:
        return _plane_maps(run, fits)
    lang = run.study.language(a.china)
    w = section_words("regression", lang)
    for f in fits:
        name = _slug(f.label)
        run.figure(f"regression_residuals_{name}", _residual_figure(layer, f, w, lang))
        if f.label in lisas:
            fig = static.lisa_figure(lisas[f.label], label=w["residual"].format(model=f.label),
                                     permutations=run.perm.get("permutations"), lang=lang,
                                     units=layer, source="")  # fmt: skip
            run.figure(f"regression_residual_lisa_{name}", fig)
    fig = static.value_figure(last.fitted["fitted"], label=w["field_fitted"].format(
        model=last.label), lang=lang, units=layer, source="")  # fmt: skip
    run.figure("regression_fitted", fig)
    if last.local is not None:
        for j, term in enumerate(_terms(last.local)):
            run.figure(f"regression_local_{_slug(term)}", _local_figure(layer, last, j, term, w,
                                                                         lang=lang))  # fmt: skip
    return None


def _plane_maps(run: Any, fits: list[regress.Fit]) -> None:
    """Residuals and fitted values of the last model, a GWR's local coefficients: unprojected."""
    from geotool.maps import charts

    lang = run.study.language(run.analysis.china)
    last = fits[-1]
    units = _geo(run, last.fitted.index)
    zh = lang == "zh"
    labels = {"residual": "残差" if zh else "residual", "fitted": "拟合值" if zh else "fitted"}
    model = f"{last.label}{'：' if zh else ': '}{last.formula}"
    fig = charts.dimension_maps(units, last.fitted, ["residual", "fitted"], labels, lang,
                                cmap="RdBu_r", title=model)  # fmt: skip
    run.figure("regression_residuals", fig)
    if last.local is not None:
        cols = [c for c in last.local.columns if c.startswith("est_")]
        names = {c: c.removeprefix("est_") for c in cols}
        fig = charts.dimension_maps(units, last.local, cols, names, lang, cmap="RdBu_r",
                                    title=f"{model} ({'局部系数' if zh else 'local coefficients'})")
        run.figure("regression_local_coefficients", fig)


def _class_figure(layer: Any, colours: dict[str, str], legend: dict[str, str], lang: str,
                  **text: Any) -> Any:  # fmt: skip
    """The units of ``layer`` in the classes of ``colours`` (unit -> colour).

    ``legend``'s labels in its order; units without a class are "no data".
    """
    from geotool.maps.figure import to_figure

    label_of = {colour: label for label, colour in legend.items()}
    gdf = layer[[layer.geometry.name]].copy()
    gdf["cls"] = [label_of.get(colours.get(str(i), "")) for i in gdf.index]
    return to_figure(gdf, "cls", colours={label: c for label, c in legend.items()},
                     lang=lang, source="", **text)  # fmt: skip


def _residual_figure(layer: Any, f: regress.Fit, w: dict[str, str], lang: str) -> Any:
    """A model's residuals in classes at 0, ±1 and ±2 standard deviations (red: under)."""
    r = f.fitted["residual"]
    sd = float(r.std())
    colours, legend = _classed(r, [k * sd for k in _SIGMAS], "RdBu_r")
    return _class_figure(layer, colours, legend, lang,
                         title=w["residual_title"].format(model=f.label, formula=f.formula),
                         legend_title=w["residual"].format(model=f.label),
                         legend_note=w["residual_heading"].format(sd=_readable(sd)))  # fmt: skip


def _local_figure(layer: Any, fit: regress.Fit, j: int, term: str, w: dict[str, str], *,
                  lang: str) -> Any:  # fmt: skip
    """A GWR's local coefficient ``term``, diverging at 0, as the web map classes it.

    Units whose local t is within mgwr's corrected critical t are grey (counted apart).
    """
    from geotool.maps import NOT_SIGNIFICANT

    page = _local_page(fit, j, term, w)  # the web map's words and critical t
    local = fit.local
    assert local is not None
    est, sig = local[f"est_{term}"], local[f"sig_{term}"].to_numpy(dtype=bool)
    top = float(np.nanmax(np.abs(est.to_numpy(float)))) or 1.0
    colours, legend = _classed(est[sig], [k * top / 3 for k in (-2, -1, 0, 1, 2)], "RdBu_r")
    grey = next(k for k, v in page.legend.items() if v == NOT_SIGNIFICANT)
    grey = f"{grey} ({int((~sig).sum())})"
    colours |= {str(i): NOT_SIGNIFICANT for i in est.index[~sig]}
    return _class_figure(layer, colours, legend | {grey: NOT_SIGNIFICANT}, lang,
                         title=page.title, legend_title=page.heading)  # fmt: skip


#: Residual classes' bounds, in standard deviations of the residuals (0 splits the signs).
_SIGMAS = (-2.0, -1.0, 0.0, 1.0, 2.0)


def _readable(value: float, digits: int = 4) -> str:
    """A number as a reader takes it: ``digits`` significant digits, thousands separated.

    No exponent and no float noise (``44763.75404530744`` reads ``44,764``); ``"–"`` when
    missing.
    """
    v = float(value)
    if not np.isfinite(v):
        return "–"
    if v == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(v))))
    text = f"{v:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _classed(
    values: pd.Series, bounds: list[float], cmap: str, *, counted: bool = True
) -> tuple[dict[str, str], dict[str, str]]:
    """Colours of the classes ``bounds`` split, and the legend (label -> colour).

    A value equal to a bound belongs to the class below it; labels read ``"lo – hi (n)"``
    with readable bounds (``counted=False``: no count, for a legend shared by layers).
    """
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    v = values[np.isfinite(values.to_numpy(dtype=float))].astype(float)
    cls = np.searchsorted(np.asarray(bounds), v.to_numpy(), side="left")
    cm = colormaps[cmap].resampled(len(bounds) + 1)
    colours = [to_hex(cm(i)) for i in range(len(bounds) + 1)]
    text = [_readable(b, 3) for b in bounds]
    names = [f"≤ {text[0]}", *(f"{a} – {b}" for a, b in zip(text[:-1], text[1:], strict=True)),
             f"> {text[-1]}"]  # fmt: skip
    counts = np.bincount(cls, minlength=len(colours))
    legend = {(f"{n} ({c})" if counted else n): colours[i]
              for i, (n, c) in enumerate(zip(names, counts, strict=True))}  # fmt: skip
    return {str(i): colours[c] for i, c in zip(v.index, cls, strict=True)}, legend


def _slug(text: str) -> str:
    """``text`` as a piece of a file name: letters, digits and underscores."""
    return re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower() or "term"


def _web_units(run: Any) -> Any:
    """The units a web map draws: the study's own, else its bundled level's.

    ``None`` for bundled counties (the page's own layer). Units without a model value
    are drawn uncoloured.
    """
    from geotool import boundaries

    a = run.analysis
    if a.units is None and a.level == "county":
        return None
    return a.units if a.units is not None else boundaries.load(a.level)


def _tooltips(
    run: Any, fits: list[regress.Fit], units: Any, w: dict[str, str]
) -> tuple[pd.DataFrame, dict]:
    """Each unit's name and the models' values as readable text; the tooltips' labels."""
    first = fits[0]
    ids = first.fitted.index
    table = pd.DataFrame({"observed": first.fitted["observed"].map(_readable)}, index=ids)
    fields = {"observed": w["observed"].format(y=first.y)}
    for f in fits:
        for col in ("fitted", "residual", "residual_lisa"):
            if col in f.fitted:
                key = f"{col} ({f.label})"
                values = f.fitted[col].reindex(ids)
                table[key] = values if col == "residual_lisa" else values.map(_readable)
                fields[key] = w[f"field_{col}"].format(model=f.label)
    last = fits[-1]
    if last.local is not None:
        for j, term in enumerate(_terms(last.local)):
            est, t = last.local[f"est_{term}"], last.local[f"t_{term}"]
            sig = last.local[f"sig_{term}"].to_numpy(dtype=bool)
            table[f"local_{j}"] = [
                f"{_readable(e)} (t {_readable(v, 3)}{'' if ok else w['not_sig']})"
                for e, v, ok in zip(est, t, sig, strict=True)
            ]
            fields[f"local_{j}"] = w["field_local"].format(term=term)
    if units is not None:  # every unit drawn, named; values where the model has them
        table = table.reindex(units.index)
    names = units["name"] if units is not None and "name" in units else run.analysis.names()
    table.insert(0, "name", names.reindex(table.index).to_numpy())
    table.index = table.index.astype(str)
    return table, fields


def _terms(local: pd.DataFrame) -> list[str]:
    """The terms of a GWR's local frame (``est_<term>`` columns), in order."""
    return [c.removeprefix("est_") for c in local.columns if c.startswith("est_")]


@dataclass
class _Page:
    """A web map of the regression: colour layers, legend (and its heading), title."""

    layers: list[dict[str, Any]]
    legend: dict[str, str]
    heading: str
    title: str
    shows: str  # what the index page says it shows
def _residual_page(f: regress.Fit, w: dict[str, str]) -> _Page:
    """A model's residuals, diverging at 0, and their LISA classes as a second layer.

    Classes at 0, ±1 and ±2 standard deviations; red where the model under-predicts.
    """
    from geotool.maps import LISA_COLOURS, NOT_TESTED

    r = f.fitted["residual"]
    sd = float(r.std())
    colours, legend = _classed(r, [k * sd for k in _SIGMAS], "RdBu_r")
    layers = [{"name": w["residual"].format(model=f.label), "colours": colours}]
    shows = w["residual_shows"].format(model=f.label)
    if "residual_lisa" in f.fitted:
        lisa = f.fitted["residual_lisa"].dropna()
        layers.append({"name": w["residual_lisa"].format(model=f.label), "neutral": NOT_TESTED,
                       "colours": {str(i): LISA_COLOURS[c] for i, c in lisa.items()
                                   if c in LISA_COLOURS}})  # fmt: skip
        legend |= {f"LISA: {k}": v for k, v in LISA_COLOURS.items()}
        shows += w["with_lisa"]
    heading = w["residual_heading"].format(sd=_readable(sd))
    return _Page(layers, legend, heading,
                 w["residual_title"].format(model=f.label, formula=f.formula), shows)


def _fitted_page(fits: list[regress.Fit], w: dict[str, str]) -> _Page:
    """The models' fitted values and the observed ones, in shared quintiles."""
    from geotool._classify import bins

    first = fits[0]
    pooled = np.concatenate([first.fitted["observed"].to_numpy(float),
                             *(f.fitted["fitted"].to_numpy(float) for f in fits)])  # fmt: skip
    bounds = list(bins(pooled[np.isfinite(pooled)], "quantiles", 5)[:-1])
    layers: list[dict[str, Any]] = []
    legend: dict[str, str] = {}
    for f in fits:
        colours, legend = _classed(f.fitted["fitted"], bounds, "YlOrRd", counted=False)
        layers.append({"name": w["field_fitted"].format(model=f.label), "colours": colours})
    colours, _ = _classed(first.fitted["observed"], bounds, "YlOrRd", counted=False)
    layers.append({"name": w["observed"].format(y=first.y), "colours": colours})
    return _Page(layers, legend, w["fitted_heading"].format(y=first.y),
                 w["fitted_title"].format(formula=first.formula), w["fitted_shows"])


def _local_page(fit: regress.Fit, j: int, term: str, w: dict[str, str]) -> _Page:
    """A GWR's local coefficient ``term`` (the ``j``-th), diverging at 0.

    Units whose local t is within mgwr's corrected critical t are grey on the first
    layer, coloured on the second.
    """
    from geotool.maps import NOT_SIGNIFICANT

    local = fit.local
    assert local is not None
    est, sig = local[f"est_{term}"], local[f"sig_{term}"].astype(bool)
    crits = local.attrs.get("critical_t") or [float("nan")]
    crit = _readable(float(crits[j] if len(crits) > 1 else crits[0]), 3)
    top = float(np.nanmax(np.abs(est.to_numpy(float)))) or 1.0
    colours, legend = _classed(est, [k * top / 3 for k in (-2, -1, 0, 1, 2)], "RdBu_r")
    keep = {str(i) for i in sig.index[sig.to_numpy()]}
    scale = w["standardised"] if fit.kind == "mgwr" else ""  # as mgwr fits it
    legend[w["local_not_sig"].format(crit=crit)] = NOT_SIGNIFICANT
    layers = [{"name": w["local_sig"].format(term=term), "neutral": NOT_SIGNIFICANT,
               "colours": {i: c for i, c in colours.items() if i in keep}},
              {"name": w["local_every"].format(term=term), "colours": colours}]  # fmt: skip
    return _Page(
        layers, legend, w["local_heading"].format(term=term, model=fit.label, scale=scale),
        w["local_title"].format(term=term, n=len(keep), of=len(sig), crit=crit),
        w["local_shows"].format(term=term, model=fit.label),
    )  # fmt: skip


def _web_pages(fits: list[regress.Fit], w: dict[str, str]) -> dict[str, _Page]:
    """The regression's web maps by file name under ``maps/``, in ``w``'s language."""
    pages = {f"regression_residuals_{_slug(f.label)}.html": _residual_page(f, w) for f in fits}
    pages["regression_fitted.html"] = _fitted_page(fits, w)
    last = fits[-1]
    if last.local is not None:
        for j, term in enumerate(_terms(last.local)):
            name = f"regression_local_{_slug(term)}.html"
            pages[name if name not in pages else f"{name[:-5]}_{j}.html"] = _local_page(
                last, j, term, w
            )
    return pages


def _web_maps(run: Any, fits: list[regress.Fit]) -> dict[str, str]:
    """Write the web maps (:func:`_web_pages`); {file: what it shows}."""
    from geotool.maps import NEUTRAL, to_html, unit_map
    from geotool.maps._words import section_words

    units, study = _web_units(run), run.study
    opts: dict[str, Any] = {"cdn": study.cdn, "basemap": study.basemap, "fit": "coloured",
                            "lang": study.language(run.analysis.china)}  # fmt: skip
    if units is not None:
        opts |= {"geo": units[["geometry"]], "label_col": "name"}
    w = section_words("regression", opts["lang"])
    table, fields = _tooltips(run, fits, units, w)
    outside = units is None or len(units.index.difference(fits[0].fitted.index)) > 0
    written = {}
    for name, page in _web_pages(fits, w).items():
        legend = page.legend | ({w["no_value"]: NEUTRAL} if outside else {})
        fmap = unit_map(page.layers, table=table, fields=fields, legend=legend,
                        legend_title=page.heading, title=page.title, **opts)  # fmt: skip
        run.write(f"maps/{name}", to_html(fmap))
        written[f"maps/{name}"] = page.shows
    return written


def regression_stage(run: Any) -> None:
    """Fit the study's model, write its tables and maps, and summarise what it found."""
    if run.study.model_kind in regress.PANEL_KINDS:  # every year at once
        return _panel_stage(run)
    start = len(run.files)
    frame, which = _frame(run)
    log(f"regression: {run.study.model} ({run.study.model_kind}, {which}) ...")
    fits = _fits(run, frame)
    lisas = {}
    for f in fits:
        if f.kind not in ("gwr", "mgwr"):
            lisas[f.label] = _residual_lisa(run, f)
            f.fitted["residual_lisa"] = lisas[f.label]["lisa_class"].reindex(f.fitted.index)
    _write_tables(run, fits)
    from pyproj.exceptions import CRSError

    try:
        _maps(run, fits, lisas)
        drawn = "figures/regression_*.png"
    except (InputError, CRSError) as exc:  # units charts cannot project
        drawn = f"no maps: {exc}"
        log(f"regression: maps of residuals not drawn ({exc})", logging.WARNING)
    try:
        web = _web_maps(run, fits)
    except InputError as exc:  # units a web map cannot draw
        web = {}
        log(f"regression: web maps not written ({exc})", logging.WARNING)
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
        "web_maps": web,
        "table": regress.table_cells(fits),
        "files": run.files[start:],
    }  # fmt: skip


def regression_index(run: Any) -> None:
    """``index.html`` of ``geotool regress``: the regression section on its own page."""
    from geotool.maps import pages

    if "regression" not in run.summary:  # the stage did not apply (its reason is logged)
        return
    a = run.analysis
    summary = {"geotool_version": __version__, **run.summary}
    page = pages.regression_page(summary, title=a.title, lang=run.study.language(a.china))
    run.write("index.html", page)


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
    if first.chow is not None:  # regimes: are the coefficients the same in every regime?
        wald, p = first.chow.loc["joint", ["wald", "p"]].to_numpy(dtype=float).tolist()
        text += (f"Chow test of equal coefficients across the regimes: Wald {wald:.3f} "
                 f"(p {p:.4f}). ")  # fmt: skip
    for name in ("rho", "lambda"):
        if name in last.coefficients.index and "regime" not in last.coefficients:
            c = last.coefficients.loc[name]
            who = f"{last.label}: " if last is not first else ""
            text += f"{who}{name} {c['estimate']:.3f} (p {c['p']:.4f})."
    return text.strip()


# ----------------------------------------------------------------------- panels


def _panel_frame(run: Any) -> tuple[pd.DataFrame, str, str]:
    """The study's long rows (one per unit and year), the id column's and the year's names."""
    a = run.analysis
    if a.year_col is None or a.rows[a.year_col].nunique() < 2:
        msg = (f"model_kind={run.study.model_kind!r} is a panel model: it needs a table with two "
               "years or more (year_col=); use 'ols', 'lag' or 'error' on a cross-section.")
        raise InputError(msg)
    rows = _with_attributes(run, a.rows)
    id_col = "unit" if "unit" not in rows.columns else "unit_id"
    return rows.rename_axis(id_col).reset_index(), id_col, a.year_col


def _panel_fits(run: Any, frame: pd.DataFrame, id_col: str, year_col: str) -> list[regress.Fit]:
    """The study's panel model; after pooled OLS, the model the LM and Hausman tests pick."""
    study = run.study
    w = run.analysis.weights(pd.Index(frame[id_col].unique()), study.weights or "queen",
                             study.islands)  # fmt: skip
    options = {"id_col": id_col, "year_col": year_col, "alpha": study.alpha}
    with _as_fields():
        fits = [regress.panel(frame, study.model, w, kind=study.model_kind, **options)]
        chosen = _chosen(fits[0].guide)
        if study.model_kind == "pooled" and chosen is not None:
            fits.append(regress.panel(frame, study.model, w, kind=f"fe_{chosen}", **options))
            if "random effects: the Hausman test does not reject" in fits[-1].guide:
                fits.append(regress.panel(frame, study.model, w, kind=f"re_{chosen}", **options))
    return fits


def _panel_maps(run: Any, fit: regress.Fit, id_col: str, year_col: str) -> None:
    """Each unit's mean residual over the years, and its residual in the latest year.

    With fixed effects a unit's mean residual is 0 by construction: the first year's is shown.
    """
    from geotool.maps import charts

    a = run.analysis
    resid = fit.fitted.reset_index().pivot_table("residual", id_col, year_col)
    first, latest = resid.columns.min(), resid.columns.max()
    fixed = fit.kind.startswith("fe_")
    values = pd.DataFrame({"mean": resid[first] if fixed else resid.mean(axis=1),
                           "latest": resid[latest]})  # fmt: skip
    zh = run.study.language(a.china) == "zh"
    if fixed:
        mean = f"{first} 残差" if zh else f"residual {first}"
    else:
        mean = "平均残差" if zh else "mean residual"
    labels = {"mean": mean, "latest": f"{latest} 残差" if zh else f"residual {latest}"}
    title = f"{fit.label}{'：' if zh else ': '}{fit.formula}"
    fig = charts.dimension_maps(_geo(run, values.index), values, ["mean", "latest"], labels,
                                "zh" if zh else "en", cmap="RdBu_r", title=title)  # fmt: skip
    run.figure("regression_residuals", fig)


def _panel_stage(run: Any) -> None:
    """Fit the study's panel model, write its tables and maps, and summarise what it found."""
    frame, id_col, year_col = _panel_frame(run)
    study = run.study
    log(f"regression: {study.model} ({study.model_kind}, panel by {year_col}) ...")
    fits = _panel_fits(run, frame, id_col, year_col)
    _write_tables(run, fits)
    dropped = fits[0].dropped  # regress.panel always says what it left out
    if dropped is None:
        dropped = pd.DataFrame(columns=[id_col, year_col, "reason"])
    run.table("tables/regression_panel_dropped.csv",
              dropped[[id_col, year_col, "reason"]].reset_index(drop=True))  # fmt: skip
    from pyproj.exceptions import CRSError

    try:
        _panel_maps(run, fits[-1], id_col, year_col)
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
