"""Two stages of any user study: its composite index, and inequality and convergence.

Results are long tables with a ``variable`` column (and a ``year`` where there is one);
the findings' sentences go to ``summary.json`` and the index page.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from geotool import divergence
from geotool._errors import InputError
from geotool._log import log

__all__ = ["composite_stage", "divergence_stage", "no_divergence", "no_index"]


def no_divergence(run: Any) -> str | None:
    """Why the divergence stage does not apply (``None``: it runs)."""
    if run.analysis.rows is None:
        return "the bundled report ranks counties; no variable of values to decompose"
    return None


def no_index(run: Any) -> str | None:
    """Why the composite-index stage does not apply."""
    return None if run.analysis.composite else "no indicators were combined (indicators=)"


def _years(analysis: Any) -> list[int]:
    """The years of the study's rows (one for a cross-section; none without a year)."""
    if analysis.year_col is None:
        return []
    return sorted(int(y) for y in analysis.rows[analysis.year_col].unique())


def _values(a: Any, v: Any) -> tuple[Any, dict[str, Any]]:
    """A variable as :mod:`geotool.divergence` reads it, and the keywords naming its columns.

    One year: a Series named by its year (no keywords); a panel: the long frame.
    """
    years = _years(a)
    if len(years) < 2:
        return a.rows[v.variable].rename(years[0] if years else 0), {}
    long = {"id_col": "unit", "year_col": a.year_col, "value_col": v.variable}
    return a.rows[[a.year_col, v.variable]].reset_index(names="unit"), long


def divergence_stage(run: Any) -> str | None:
    """Inequality of every positive variable, and convergence over a panel, written.

    Returns why nothing was measured when every variable was set aside.
    """
    a = run.analysis
    groups, grouped_by = a.groups, a.grouped_by
    tables: dict[str, list[pd.DataFrame]] = {}
    out: dict[str, Any] = {"groups": grouped_by, "variables": {}}
    for v in a.variables:
        values = a.rows[v.variable]
        if (values <= 0).any():
            why = (
                f"{int((values <= 0).sum())} value(s) are zero or negative; Theil and logs "
                "need positive values (a level such as output per head, not a growth rate)"
            )
            out["variables"][v.key] = {"label": v.label, "skipped": why}
            log(f"divergence of {v.label}: skipped ({why})")
            continue
        try:
            found = _measures(run, v, groups)
        except InputError as exc:  # too few units, a panel without a balanced core ...
            out["variables"][v.key] = {"label": v.label, "skipped": str(exc)}
            log(f"divergence of {v.label}: skipped ({exc})")
            continue
        _charts(run, v, found, groups)
        for name, frame in found.items():
            tables.setdefault(name, []).append(frame.assign(variable=v.key, label=v.label))
        out["variables"][v.key] = {
            "label": v.label,
            **{f"{name}_finding": f.attrs.get("finding", "") for name, f in found.items()},
            "not_shown": [f.attrs.get("not_shown", "") for f in found.values()],
        }
    for name, parts in tables.items():
        frame = pd.concat(parts).reset_index()
        if not _years(a) and "year" in frame:  # no year column: one cross-section
            frame = frame.drop(columns="year")
        first = ["variable", "label", *[c for c in frame.columns if c not in ("variable", "label")]]
        run.table(f"tables/{name}.csv", frame[first])
    run.summary["divergence"] = out
    if not tables:  # every variable set aside: the stage did nothing
        reasons = [v["skipped"] for v in out["variables"].values() if "skipped" in v]
        return "every variable set aside (" + "; ".join(dict.fromkeys(reasons))[:200] + ")"
    return None


def _measures(run: Any, v: Any, groups: pd.Series | None) -> dict[str, pd.DataFrame]:
    """One variable's inequality (every year) and, for a panel, its convergence."""
    a, study = run.analysis, run.study
    ids = a.rows.index.unique()
    # inequality is of every unit: those --islands drop leaves out of a spatial statistic
    # stay here, without neighbours (spatial Gini: no pairs of theirs; Theil: all units)
    islands = "keep" if study.islands == "drop" else study.islands
    w = a.weights(ids, study.weights or "queen", islands)
    data, long = _values(a, v)
    if not long:  # one cross-section: inequality only
        one = divergence.inequality(data, groups, w=w, value_col=v.label, **run.perm)
        return {"inequality": one}
    found = {
        "inequality": divergence.inequality(data, groups, w=w, **long, **run.perm),
        "sigma_convergence": divergence.sigma_convergence(data, **long),
    }
    try:  # growth alike everywhere (a population that did not change): no β, no clubs
        found["beta_convergence"] = _betas(run, data, long, w, groups)
        found["clubs"] = divergence.clubs(data, by="lisa", w=w, alpha=study.alpha, **long,
                                          **run.perm)  # fmt: skip
    except InputError as exc:
        found["sigma_convergence"].attrs["not_shown"] += f" No β-convergence: {exc}"
    return found


def _betas(
    run: Any, data: pd.DataFrame, long: dict[str, Any], w: Any, groups: pd.Series | None
) -> pd.DataFrame:
    """Absolute, spatial-lag and (with groups) conditional β-convergence, one table."""
    beta = divergence.beta_convergence(data, **long)
    spatial = divergence.spatial_beta_convergence(data, w, **long)
    models = [beta, spatial]
    finding = f"Absolute: {beta.attrs['finding']} Spatial lag (ML): {spatial.attrs['finding']}"
    if groups is not None:  # conditional on the groups: one dummy per group but the first
        ids = run.analysis.rows.index.unique()
        dummies = pd.get_dummies(groups.reindex(ids), prefix="group", drop_first=True, dtype=float)
        models.append(divergence.beta_convergence(data, dummies, **long))
        finding += f" Conditional on the groups: {models[2].attrs['finding']}"
    table = pd.concat(models).drop(columns=["finding", "not_shown"])
    table.attrs = beta.attrs | {"finding": finding}
    return table


def _charts(run: Any, v: Any, found: dict[str, pd.DataFrame], groups: pd.Series | None) -> None:
    """The charts of a variable's inequality and convergence (:mod:`geotool.maps.charts`)."""
    from geotool.maps import charts

    a = run.analysis
    lang = run.study.language(a.china)
    title = v.label
    run.figure(f"inequality_{v.key}", charts.inequality_chart(found["inequality"], lang,
                                                              title=title))  # fmt: skip
    data, long = _values(a, v)
    if groups is not None:
        table = divergence.theil_by_group(data, groups, **long)
        run.figure(f"theil_groups_{v.key}", charts.theil_group_chart(table, lang, label=title))
    if "sigma_convergence" in found:
        run.figure(f"sigma_{v.key}", charts.sigma_chart(found["sigma_convergence"], lang,
                                                        title=title))  # fmt: skip
    if "beta_convergence" not in found:
        return
    points = divergence.growth_points(data, **long)
    betas = found["beta_convergence"]
    absolute = betas.iloc[[0]].astype({"start": int, "end": int})
    absolute.attrs = dict(betas.attrs)  # the absolute model's coefficients
    run.figure(f"convergence_{v.key}",
               charts.convergence_chart(absolute, points, lang, groups=groups, title=title))


def _dimension_maps(run: Any, scores: pd.DataFrame, result: Any) -> None:
    """Small multiples of the index and each dimension (the latest year of a panel)."""
    from geotool import boundaries
    from geotool.maps import charts

    a = run.analysis
    latest = scores
    if a.year_col is not None:
        latest = scores[scores[a.year_col] == scores[a.year_col].max()]
    dims = [c for c in result.scores.columns if c not in ("score", "rank")]
    frame = latest.set_index("id")[["score", *dims]]
    units = a.units if a.units is not None else boundaries.load(a.level)
    lang = run.study.language(a.china)
    labels = {"score": "综合指数" if lang == "zh" else "composite index"}
    run.figure("index_dimensions", charts.dimension_maps(units, frame, ["score", *dims], labels,
                                                         lang))  # fmt: skip


def composite_stage(run: Any) -> None:
    """The composite index's weights, scores (with each dimension) and sensitivity."""
    a = run.analysis
    c = a.composite
    result, spread = c["result"], c["sensitivity"]
    rows = a.rows.reset_index(names="id")
    names = a.names()
    scores = pd.concat([rows[["id"]], c["indicators"], result.scores], axis=1)
    scores.insert(1, "name", names.reindex(scores["id"]).to_numpy())
    if a.year_col is not None:
        scores.insert(2, a.year_col, rows[a.year_col].to_numpy())
    run.table("tables/index_weights.csv", result.weights)
    run.table("tables/index_scores.csv", scores)
    ranks = spread.ranks.reset_index(drop=True).add_prefix("rank_")
    run.table("tables/index_sensitivity.csv", pd.concat([scores[["id", "name"]], ranks], axis=1))
    run.table("tables/index_sensitivity_spearman.csv", spread.spearman.reset_index(names="method"))
    who = scores.columns[: 3 if a.year_col is not None else 2]  # id, name (, year)
    moved = scores.loc[spread.changes.index, who].join(spread.changes)
    run.table("tables/index_tier_changes.csv", moved)
    diag = {k: v for k, v in result.diagnostics.items() if isinstance(v, str | int | float)}
    changed = len(spread.changes)
    _dimension_maps(run, scores, result)
    run.summary["composite_index"] = {
        "weights": dict(zip(result.weights["indicator"], result.weights["weight"], strict=True)),
        **diag,
        "finding": (
            f"Weights by {diag.get('method')}: "
            + ", ".join(f"{i} {w:.3f}" for i, w in zip(
                result.weights["indicator"], result.weights["weight"], strict=True))
            + f"; {changed} unit(s) change tier under another weighting "
            f"(Spearman between methods {spread.spearman.min().min():.4f} at least)."
        ),
    }  # fmt: skip
