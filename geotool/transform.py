"""Transforms of variables before analysis: logarithms, z-scores, rates, smoothed rates.

Each function takes a Series on the units' index and returns a new one named by what was
done (``"log(GDP)"``, ``"z(GDP)"``, ``"GDP per POP"``, ``"cases per POP (EB-smoothed)"``;
in Chinese when a name is: ``"GDP（每万人口）"``),
with ``attrs["transform"]`` (``log``, ``log1p``, ``standardise``, ``rate``, ``eb``,
``spatial_eb``) and ``attrs["source"]``. :func:`apply` chains them over a table's columns.

Empirical-Bayes smoothing (Marshall 1991) shrinks each rate ``r_i = e_i / b_i`` toward a
reference rate ``m``: ``s_i = m + (r_i - m) * v / (v + m / b_i)``. Globally
(:func:`eb_rate`) ``m = sum e / sum b`` and ``v = sum b_i (r_i - m)^2 / sum b - m / mean(b)``;
spatially (:func:`spatial_eb_rate`) both over each unit's neighbourhood (itself and its
neighbours). A negative ``v`` is set to 0, as GeoDa does (esda's ``Empirical_Bayes``
keeps it); otherwise equal to ``esda.smoothing`` to 1e-12 (``tests/test_transform.py``).
The shrinkage compares the rates' spread with the Poisson noise of *counts*, so the
numerator must be counts of events (non-negative whole numbers): for an amount such as
GDP it would depend on the unit it is recorded in, and ``smooth=`` is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from geotool import _log
from geotool import _validate as check
from geotool._errors import InputError
from geotool._numbers import has_cjk
from geotool._text import listing, short
from geotool.weights import WeightsLike, as_weights

__all__ = ["SMOOTHERS", "TRANSFORMS", "apply", "eb_rate", "log", "rate", "spatial_eb_rate",
           "standardise"]  # fmt: skip

#: Transforms :func:`apply` accepts, and what each does.
TRANSFORMS = {
    "log": "natural logarithm (values must be > 0)",
    "log1p": "natural logarithm of 1 + value (values must be > -1; zeros allowed)",
    "standardise": "z-scores: (value - mean) / standard deviation (population, ddof=0)",
}
#: Rate smoothers :func:`apply` accepts (with ``per=``).
SMOOTHERS = {
    "eb": "global empirical Bayes (Marshall 1991)",
    "spatial_eb": "spatial empirical Bayes over each unit's neighbourhood (needs w=)",
}


def _name(values: pd.Series, what: str = "values") -> str:
    """The variable's name for labels; a non-Series is refused, naming ``what``."""
    if not isinstance(values, pd.Series):
        msg = f"{what}: expected a pandas Series on the units' index, got {type(values).__name__}."
        raise InputError(msg)
    return "value" if values.name is None else str(values.name)


def _labelled(values: np.ndarray, like: pd.Series, name: str, step: str, source: str) -> pd.Series:
    out = pd.Series(values, index=like.index, name=name, dtype="float64")
    out.attrs = {"transform": step, "source": source}
    return out


def _rows(index: pd.Index, mask: np.ndarray) -> str:
    """Up to five index labels where ``mask`` holds, for messages."""
    return listing([str(label) for label in index[mask]], limit=5)


def _refuse(what: str, bad: np.ndarray, index: pd.Index, problem: str, fix: str) -> None:
    """Refuse when ``bad`` holds anywhere: ``what: N value(s) are PROBLEM at ROWS; FIX``."""
    if bad.any():
        msg = f"{what}: {int(bad.sum()):,} value(s) are {problem} at {_rows(index, bad)}{fix}"
        raise InputError(msg)


def log(values: pd.Series, *, log1p: bool = False) -> pd.Series:
    """Natural logarithm, named ``"log(NAME)"``; ``log(1 + value)`` with ``log1p``.

    Values must be finite and ``> 0`` (``> -1`` with ``log1p``, which keeps zeros but
    changes what the numbers mean); others are refused, naming up to five rows.

    Examples
    --------
    >>> log(pd.Series([1.0, np.e], index=["a", "b"], name="GDP")).round(6).to_dict()
    {'a': 0.0, 'b': 1.0}
    >>> log(pd.Series([0.0, 1.0], name="GDP"), log1p=True).name
    'log(1 + GDP)'

    """
    name = _name(values)
    x = check.finite_values(values, f"values ({short(name, 40)})").to_numpy()
    floor, what = (-1.0, "-1 or less") if log1p else (0.0, "zero or negative")
    fix = "drop those rows or use a transform that allows them" if log1p else (
        "drop those rows, or pass log1p=True for log(1 + value) if zeros are real")  # fmt: skip
    _refuse(f"values ({short(name, 40)})", x <= floor, values.index, what,
            f", which have no logarithm; {fix}.")  # fmt: skip
    if log1p:
        return _labelled(np.log1p(x), values, f"log(1 + {name})", "log1p", name)
    return _labelled(np.log(x), values, f"log({name})", "log", name)


def standardise(values: pd.Series) -> pd.Series:
    """z-scores ``(value - mean) / std`` (population std, ``ddof=0``), named ``"z(NAME)"``.

    As :mod:`geotool.autocorr` and esda standardise (``numpy.std``). Values must be
    finite and not all equal.

    Examples
    --------
    >>> standardise(pd.Series([1.0, 2.0, 3.0], name="GDP")).round(4).tolist()
    [-1.2247, 0.0, 1.2247]

    """
    name = _name(values)
    x = check.finite_values(values, f"values ({short(name, 40)})").to_numpy()
    sd = float(x.std())
    if not sd > 0:
        raise InputError(
            f"values ({short(name, 40)}): every value is {x[0]:g}, so there are no z-scores; "
            "choose a variable that varies."
        )
    return _labelled((x - x.mean()) / sd, values, f"z({name})", "standardise", name)


def _require(needed: pd.Index, have: pd.Index, holder: str, of: str, fix: str) -> None:
    """Refuse when ``have`` lacks labels of ``needed`` (naming up to five of them)."""
    missing = needed.difference(have)
    if len(missing):
        raise InputError(
            f"{holder} has no value for {len(missing):,} unit(s) of {of} "
            f"({listing([str(m) for m in missing], limit=5)}); {fix}."
        )


def _events_and_population(
    events: pd.Series, population: pd.Series, *, counts: str | None
) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Checked numerator and population on the numerator's index.

    ``counts`` names the smoother (``"eb"``, ``"spatial_eb"``) that needs the numerator
    to be counts of events (non-negative whole numbers); ``None`` for a plain rate.
    """
    if not isinstance(population, pd.Series) or not isinstance(events, pd.Series):
        raise InputError(
            "numerator and population must be pandas Series on the units' index, got "
            f"{type(events).__name__} and {type(population).__name__}."
        )
    e_name, b_name = short(_name(events), 40), short(_name(population), 40)
    _require(events.index, population.index, f"population ({b_name})", e_name,
             "give a population for every unit")  # fmt: skip
    if population.index.has_duplicates or events.index.has_duplicates:
        msg = "numerator and population must have one row per unit (duplicated index labels)."
        raise InputError(msg)
    e = check.finite_values(events, f"numerator ({e_name})").to_numpy()
    pop = population.reindex(events.index)
    b = check.finite_values(pop, f"population ({b_name})").to_numpy()
    index = events.index
    _refuse(f"population ({b_name})", b <= 0, index, "zero or negative",
            "; a rate needs a positive population, so fix or drop those rows.")  # fmt: skip
    if counts:
        _refuse(f"numerator ({e_name})", e < 0, index, "negative",
                "; empirical-Bayes smoothing needs counts of events, which cannot be negative, "
                "so fix them or leave out smooth= (no smoothing).")  # fmt: skip
        frac = e != np.round(e)
        if frac.any():
            raise InputError(
                f"smooth={counts!r} refused: empirical-Bayes smoothing is for counts of events "
                f"over a population at risk (e.g. cases per 10,000 people); {e_name} "
                f"is not a count ({int(frac.sum()):,} value(s) are not whole numbers, e.g. "
                f"{e[frac][0]:g} at {_rows(index, frac)}): drop smooth= or use per= alone."
            )
    return e, b, _name(events), _name(population)


def rate(numerator: pd.Series, population: pd.Series, *, scale: float = 1.0) -> pd.Series:
    """Per-capita rate ``scale * numerator / population``, named ``"NAME per POP"``.

    ``population`` must be positive and finite for every unit of ``numerator``; a
    ``scale`` other than 1 (10,000: per 10,000 persons) is named in the label
    (``"GDP per 10,000 pop"``; with Chinese names ``"GDP（每万人口）"``, ``"GDP／人口"``).
    On ``numerator``'s index.

    Examples
    --------
    >>> gdp = pd.Series([10.0, 30.0], index=["a", "b"], name="GDP")
    >>> pop = pd.Series([2.0, 3.0], index=["a", "b"], name="人口")
    >>> r = rate(gdp, pop)
    >>> r.name, r.tolist()
    ('GDP／人口', [5.0, 10.0])

    """
    scale = _scale(scale)
    e, b, e_name, b_name = _events_and_population(numerator, population, counts=None)
    label = _rate_label(e_name, b_name, scale)
    with np.errstate(over="ignore", under="ignore"):
        ratio = e / b
    return _labelled(_scaled(ratio, e, numerator.index, label, scale), numerator, label,
                     "rate", e_name)  # fmt: skip


def _scaled(
    values: np.ndarray, before: np.ndarray, index: pd.Index, label: str, scale: float
) -> np.ndarray:
    """``scale * values``, refused where that passes float64 (inf) or underflows to 0.

    A rate of finite inputs is finite, but ``scale=1e308`` makes it infinite and
    ``1e-320`` zero: checked on the values the analysis will see.
    """
    with np.errstate(over="ignore", under="ignore"):
        out = scale * values
    huge = ~np.isfinite(out) | (np.abs(out) > check.MAX_VALUE)
    lost = (out == 0) & (before != 0)
    if huge.any() or lost.any():
        bad = huge if huge.any() else lost
        what = "overflow (beyond 1e150)" if huge.any() else "underflow to 0"
        raise InputError(
            f"scale={scale:g}: {int(bad.sum()):,} value(s) of {short(label, 60)} {what} at "
            f"{_rows(index, bad)}; pass a scale that keeps rates readable (e.g. 10000 for "
            "per 10,000 persons)."
        )
    return out


def _scale(scale: object) -> float:
    """A checked rate multiplier: a finite positive number."""
    ok = isinstance(scale, int | float | np.integer | np.floating) and not isinstance(scale, bool)
    if not ok or not np.isfinite(float(scale)) or float(scale) <= 0:  # type: ignore[arg-type]
        msg = f"scale={short(scale, 30)}: pass a positive number (e.g. 10000 for per 10,000)."
        raise InputError(msg)
    return float(scale)  # type: ignore[arg-type]


#: Multipliers a Chinese rate names in words (每万人口, not 每10,000人口).
_ZH_SCALES = {10: "十", 100: "百", 1000: "千", 10_000: "万", 100_000: "十万",
              1_000_000: "百万", 10_000_000: "千万", 100_000_000: "亿"}  # fmt: skip


def _rate_label(e_name: str, b_name: str, scale: float, smoothed: str = "") -> str:
    """``"GDP per 10,000 POP"``; in Chinese when a name is: ``"GDP（每万人口）"``.

    ``smoothed``: ``"eb"`` or ``"spatial:SPEC"``, said after the rate.
    """
    whole = float(scale).is_integer() and scale < 1e15  # 1e308 is not a 309-digit label
    digits = f"{scale:,.0f}" if whole else f"{scale:g}"
    spec = smoothed.removeprefix("spatial:")
    if has_cjk(e_name + b_name):
        how = {"": "", "eb": "经验贝叶斯平滑"}.get(smoothed, f"空间经验贝叶斯平滑，{spec}")
        if scale == 1:
            return f"{e_name}／{b_name}" + (f"（{how}）" if how else "")
        per = _ZH_SCALES.get(int(scale), digits) if whole else digits
        return f"{e_name}（每{per}{b_name}" + (f"，{how}）" if how else "）")
    how = {"": "", "eb": " (EB-smoothed)"}.get(smoothed, f" (spatial EB-smoothed, {spec})")
    return f"{e_name} per {'' if scale == 1 else digits + ' '}{b_name}{how}"


def _shrink(rate_: np.ndarray, mean: np.ndarray, var: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Marshall's estimator ``m + (r - m) v / (v + m / b)``; ``m + 0`` where both are 0."""
    den = var + mean / b
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(den > 0, var / den, 0.0)
    return mean + (rate_ - mean) * weight


def eb_rate(events: pd.Series, population: pd.Series, *, scale: float = 1.0) -> pd.Series:
    """Global empirical-Bayes smoothed rate (Marshall 1991), as esda's ``Empirical_Bayes``.

    ``events`` are counts (non-negative whole numbers); ``population`` is positive for
    each unit. A negative between-unit variance is set to 0 (every unit gets the
    overall rate) and logged. Named ``"EVENTS per POP (EB-smoothed)"``; ``attrs`` add
    ``reference_rate`` (``m``, scaled) and ``variance`` (``v`` as estimated).

    Examples
    --------
    >>> e = pd.Series([1.0, 40.0, 30.0, 2.0], name="cases")
    >>> b = pd.Series([100.0, 400.0, 1000.0, 50.0], name="pop")
    >>> eb_rate(e, b).round(4).tolist()
    [0.0229, 0.0938, 0.0309, 0.0437]

    """
    scale = _scale(scale)
    e, b, e_name, b_name = _events_and_population(events, population, counts="eb")
    m = e.sum() / b.sum()
    r = e / b
    v = float((b * (r - m) ** 2).sum() / b.sum() - m / b.mean())
    if v < 0:
        _log.log(
            f"EB smoothing of {short(e_name, 40)}: the rates vary less than chance alone "
            f"would make them (variance estimate {v:.3g} < 0), so every unit gets the overall "
            f"rate {m * scale:.4g}.",
            logging.WARNING,
        )
    smoothed = _shrink(r, np.full_like(r, m), np.full_like(r, max(v, 0.0)), b)
    label = _rate_label(e_name, b_name, scale, "eb")
    out = _labelled(_scaled(smoothed, smoothed, events.index, label, scale), events, label,
                    "eb", e_name)  # fmt: skip
    out.attrs.update(reference_rate=float(m * scale), variance=v)
    return out


def spatial_eb_rate(
    events: pd.Series, population: pd.Series, w: WeightsLike, *, scale: float = 1.0
) -> pd.Series:
    """Spatial empirical-Bayes smoothed rate, as esda's ``Spatial_Empirical_Bayes``.

    Each rate is shrunk toward its neighbourhood's (itself and its neighbours under ``w``
    taken as binary). ``events`` and ``population`` need a value for every unit of
    ``w`` (:func:`geotool.weights.build`), checked as for :func:`eb_rate`. Returns the
    units of ``w`` in ``events``' order, named
    ``"EVENTS per POP (spatial EB-smoothed, WEIGHTS)"``.
    """
    scale = _scale(scale)
    weights = as_weights(w)
    _require(
        weights.ids, events.index, f"events ({short(_name(events), 40)})", "the weights",
        "give a value for every unit of w, or build w on the table's units",
    )  # fmt: skip
    order = events.index[events.index.isin(weights.ids)]
    e, b, e_name, b_name = _events_and_population(
        events.reindex(weights.ids), population, counts="spatial_eb"
    )
    hood = weights.binary()
    hood.setdiag(1.0)  # each unit is in its own neighbourhood
    hood = hood.tocsr()
    size = np.diff(hood.indptr).astype(float)
    b_sum = hood @ b
    m = (hood @ e) / b_sum
    r = e / b
    # sum_{j in N(i)} b_j (r_j - m_i)^2 = sum b r^2 - 2 m_i sum b r + m_i^2 sum b
    v = (hood @ (b * r**2) - 2 * m * (hood @ (b * r)) + m**2 * b_sum) / b_sum - m / (b_sum / size)
    smoothed = _shrink(r, m, np.maximum(v, 0.0), b)
    label = _rate_label(e_name, b_name, scale, f"spatial:{weights.spec}")
    scaled = _scaled(smoothed, smoothed, weights.ids, label, scale)
    out = pd.Series(scaled, index=weights.ids, name=label).reindex(order)
    out.index.name = events.index.name
    out.attrs = {"transform": "spatial_eb", "source": e_name}
    return out


def _check_options(
    table: pd.DataFrame, cols: list[str], *, transform: str | None, per: str | None,
    smooth: str | None, w: WeightsLike | None,
) -> None:  # fmt: skip
    """Refuse unknown columns, options and combinations of :func:`apply`."""
    unknown = [c for c in [*cols, *([per] if per is not None else [])] if c not in table.columns]
    problem = None
    if unknown or not cols:
        problem = (
            f"columns={short(cols, 60)}, per={short(per, 30)!r}: "
            + (f"{listing([str(u) for u in unknown])} not in the table" if unknown else "none")
            + f"; the table has {listing([str(c) for c in table.columns], limit=8)}."
        )
    elif transform is not None and transform not in TRANSFORMS:
        problem = f"transform={short(transform, 30)!r}: use one of {', '.join(TRANSFORMS)} or None."
    elif smooth is not None and smooth not in SMOOTHERS:
        problem = f"smooth={short(smooth, 30)!r}: use one of {', '.join(SMOOTHERS)} or None."
    elif smooth is not None and per is None:
        problem = (
            f"smooth={smooth!r} smooths rates, but no population was given; pass per= (the "
            "population column) or drop smooth=."
        )
    elif smooth == "spatial_eb" and w is None:
        problem = "smooth='spatial_eb' needs weights: pass w= (e.g. geotool.weights.build(...))."
    elif per is not None and per in cols:
        problem = (
            f"per={per!r} is also among columns; a variable per itself is 1 everywhere: "
            "take it out of columns=."
        )
    if problem:
        raise InputError(problem)


def apply(
    table: pd.DataFrame, columns: str | Sequence[str], *, transform: str | None = None,
    per: str | None = None, smooth: str | None = None, w: WeightsLike | None = None,
    scale: float = 1.0,
) -> pd.DataFrame:  # fmt: skip
    """The variables of ``columns`` (numeric columns of ``table``), as rates, transformed.

    With ``per`` (a population column) each becomes a rate per it, times ``scale``,
    smoothed by ``smooth`` (:data:`SMOOTHERS`; ``"spatial_eb"`` over the weights ``w``;
    only for counts of events, refused for amounts such as GDP); then ``transform``
    (:data:`TRANSFORMS`). The result's columns are their labels (``"log(GDP／人口)"``)
    on ``table``'s index (``spatial_eb``: the units of ``w``); ``attrs["labels"]`` maps
    each column to its label and ``attrs["steps"]`` says what was done.

    Examples
    --------
    >>> t = pd.DataFrame({"GDP": [10.0, 30.0], "人口": [2.0, 3.0]}, index=["a", "b"])
    >>> apply(t, "GDP", per="人口", transform="log").round(4)
       log(GDP／人口)
    a       1.6094
    b       2.3026

    """
    cols = [columns] if isinstance(columns, str) else list(columns)
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"table must be a pandas DataFrame, got {type(table).__name__}.")
    _check_options(table, cols, transform=transform, per=per, smooth=smooth, w=w)
    out: dict[str, pd.Series] = {}
    labels: dict[str, str] = {}
    for col in cols:
        series = table[col]
        if per is not None and smooth == "eb":
            series = eb_rate(series, table[per], scale=scale)
        elif per is not None and smooth == "spatial_eb":
            series = spatial_eb_rate(series, table[per], w, scale=scale)
        elif per is not None:
            series = rate(series, table[per], scale=scale)
        if transform == "standardise":
            series = standardise(series)
        elif transform in ("log", "log1p"):
            try:
                series = log(series, log1p=transform == "log1p")
            except InputError as exc:  # its advice in apply's words
                raise InputError(str(exc).replace("log1p=True", "transform='log1p'")) from None
        labels[col] = str(series.name)
        out[str(series.name)] = series
    steps = [] if per is None else [f"per {per}" + (f" ({SMOOTHERS[smooth]})" if smooth else "")]
    steps += [TRANSFORMS[transform]] if transform is not None else []
    frame = pd.DataFrame(out)
    if smooth != "spatial_eb":
        frame.index = table.index
    frame.attrs = {"labels": labels, "steps": steps}
    return frame
