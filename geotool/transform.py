"""Transforms of variables before analysis: logarithms, z-scores, rates, smoothed rates.

Every function takes pandas Series on the units' index and returns a new Series on the
same index (inputs are never changed) whose ``name`` says what was done, so titles and
tables can state it: ``"log(GDP)"``, ``"z(GDP)"``, ``"GDP per 人口"``,
``"GDP per 人口 (EB-smoothed)"``. ``attrs["transform"]`` holds the step's short name
(``"log"``, ``"log1p"``, ``"standardise"``, ``"rate"``, ``"eb"``, ``"spatial_eb"``) and
``attrs["source"]`` the original variable's name. :func:`apply` chains them over the
columns of a table, as a pipeline does per variable.

Empirical-Bayes smoothing of rates
----------------------------------
A rate over a small population (events per person in a county of 50,000) is noisy: its
variance is about ``m / b_i`` (rate ``m``, population ``b_i``). Empirical-Bayes
smoothing shrinks each raw rate ``r_i = e_i / b_i`` toward a reference rate ``m`` by
the share of its variation that is signal rather than noise (Marshall 1991)::

    s_i = m + (r_i - m) * v / (v + m / b_i)

* **Global** (:func:`eb_rate`, esda's ``Empirical_Bayes``): ``m = sum e / sum b`` and
  ``v = sum b_i (r_i - m)^2 / sum b - m / mean(b)`` (the variance of the rates between
  units, weighted by population, minus the part Poisson noise explains). When the rates
  vary less than noise alone would make them, ``v`` is negative: this module sets it to
  0 (every unit gets ``m``; Marshall's rule, and GeoDa's) and logs it, where esda's
  ``Empirical_Bayes`` keeps the negative value and returns weights outside [0, 1].
* **Spatial** (:func:`spatial_eb_rate`, esda's ``Spatial_Empirical_Bayes``): ``m`` and
  ``v`` are computed for each unit over its neighbourhood (the unit and its
  neighbours under binary weights): ``m_i = sum_N e / sum_N b``,
  ``v_i = sum_N b_j (r_j - m_i)^2 / sum_N b - m_i / (sum_N b / |N|)``, negative ``v_i``
  set to 0, as esda does.

Both are checked against ``esda.smoothing`` to 1e-12 in ``tests/test_transform.py``.

Only for counts of events over a population at risk (cases, births, firms per 10,000
people): the shrinkage weight compares the rates' spread with the Poisson noise
``m / b_i`` of *counts*, so for an amount (GDP, output value) it depends on the unit the
amount is recorded in: GDP in 千亿元 shrinks every unit to the overall rate (a flat
map), in 元 not at all. The numerator must therefore be non-negative whole numbers (a
refusal names ``smooth=`` otherwise: use ``per=`` alone for per-capita amounts), and
the population positive.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from geotool import _log
from geotool import _validate as check
from geotool._errors import InputError
from geotool._text import listing, short
from geotool.weights import WeightsLike, as_weights

__all__ = [
    "SMOOTHERS",
    "TRANSFORMS",
    "apply",
    "eb_rate",
    "log",
    "numeric_columns",
    "rate",
    "spatial_eb_rate",
    "standardise",
]

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


def log(values: pd.Series, *, log1p: bool = False) -> pd.Series:
    """Natural logarithm of a variable, named ``"log(NAME)"`` (``"log(1 + NAME)"``).

    Parameters
    ----------
    values : pandas.Series
        Numeric, finite, on the units' index; all ``> 0`` (``> -1`` with ``log1p``).
    log1p : bool, default False
        Take ``log(1 + value)`` instead, which keeps zeros (as 0). Choose it
        explicitly: it changes what the numbers mean (the relation is no longer
        proportional for small values).

    Returns
    -------
    pandas.Series
        float64, same index, ``attrs["transform"]`` ``"log"`` or ``"log1p"``.

    Raises
    ------
    InputError
        Values missing, not numeric, or zero/negative (naming up to five rows).

    Examples
    --------
    >>> log(pd.Series([1.0, np.e], index=["a", "b"], name="GDP")).round(6).to_dict()
    {'a': 0.0, 'b': 1.0}
    >>> log(pd.Series([0.0, 1.0], name="GDP"), log1p=True).name
    'log(1 + GDP)'

    """
    return _logarithm(values, log1p=log1p, switch="log1p=True")


def _logarithm(values: pd.Series, *, log1p: bool, switch: str) -> pd.Series:
    """:func:`log`, its advice naming ``switch`` (``log1p=True``, or apply's transform=)."""
    name = _name(values)
    x = check.finite_values(values, f"values ({short(name, 40)})").to_numpy()
    floor, what = (-1.0, "-1 or less") if log1p else (0.0, "zero or negative")
    bad = x <= floor
    if bad.any():
        fix = (
            "drop those rows or use a transform that allows them"
            if log1p
            else f"drop those rows, or pass {switch} for log(1 + value) if zeros are real"
        )
        msg = (
            f"values ({short(name, 40)}): {int(bad.sum()):,} value(s) are {what} at "
            f"{_rows(values.index, bad)}, which have no logarithm; {fix}."
        )
        raise InputError(msg)
    if log1p:
        return _labelled(np.log1p(x), values, f"log(1 + {name})", "log1p", name)
    return _labelled(np.log(x), values, f"log({name})", "log", name)


def standardise(values: pd.Series) -> pd.Series:
    """z-scores ``(value - mean) / std`` (population std, ``ddof=0``), named ``"z(NAME)"``.

    The same standardisation as the local statistics of :mod:`geotool.autocorr` and
    esda's (``numpy.std``), so a z-score table matches their ``z`` column.

    Parameters
    ----------
    values : pandas.Series
        Numeric, finite, not constant, on the units' index.

    Returns
    -------
    pandas.Series
        float64, same index, mean 0 and standard deviation 1.

    Raises
    ------
    InputError
        Values missing, not numeric, or all equal.

    Examples
    --------
    >>> standardise(pd.Series([1.0, 2.0, 3.0], name="GDP")).round(4).tolist()
    [-1.2247, 0.0, 1.2247]

    """
    name = _name(values)
    x = check.finite_values(values, f"values ({short(name, 40)})").to_numpy()
    sd = float(x.std())
    if not sd > 0:
        msg = (
            f"values ({short(name, 40)}): every value is {x[0]:g}, so there are no z-scores; "
            "choose a variable that varies."
        )
        raise InputError(msg)
    return _labelled((x - x.mean()) / sd, values, f"z({name})", "standardise", name)


def _require(needed: pd.Index, have: pd.Index, holder: str, of: str, fix: str) -> None:
    """Refuse when ``have`` lacks labels of ``needed`` (naming up to five of them)."""
    missing = needed.difference(have)
    if len(missing):
        msg = (
            f"{holder} has no value for {len(missing):,} unit(s) of {of} "
            f"({listing([str(m) for m in missing], limit=5)}); {fix}."
        )
        raise InputError(msg)


def _events_and_population(
    events: pd.Series, population: pd.Series, *, counts: str | None
) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Checked numerator and population on the numerator's index.

    ``counts`` names the smoother (``"eb"``, ``"spatial_eb"``) that needs the numerator
    to be counts of events (non-negative whole numbers); ``None`` for a plain rate.
    """
    if not isinstance(population, pd.Series) or not isinstance(events, pd.Series):
        msg = (
            "numerator and population must be pandas Series on the units' index, got "
            f"{type(events).__name__} and {type(population).__name__}."
        )
        raise InputError(msg)
    e_name, b_name = _name(events), _name(population)
    _require(
        events.index, population.index, f"population ({short(b_name, 40)})",
        f"{short(e_name, 40)}", "give a population for every unit",
    )  # fmt: skip
    if population.index.has_duplicates or events.index.has_duplicates:
        msg = "numerator and population must have one row per unit (duplicated index labels)."
        raise InputError(msg)
    e = check.finite_values(events, f"numerator ({short(e_name, 40)})").to_numpy()
    b = check.finite_values(
        population.reindex(events.index), f"population ({short(b_name, 40)})"
    ).to_numpy()
    bad = b <= 0
    if bad.any():
        msg = (
            f"population ({short(b_name, 40)}): {int(bad.sum()):,} value(s) are zero or "
            f"negative at {_rows(events.index, bad)}; a rate needs a positive population, "
            "so fix or drop those rows."
        )
        raise InputError(msg)
    if counts and (e < 0).any():
        neg = e < 0
        msg = (
            f"numerator ({short(e_name, 40)}): {int(neg.sum()):,} value(s) are negative at "
            f"{_rows(events.index, neg)}; empirical-Bayes smoothing needs counts of events, "
            "which cannot be negative, so fix them or leave out smooth= (no smoothing)."
        )
        raise InputError(msg)
    if counts and (e != np.round(e)).any():
        frac = e != np.round(e)
        msg = (
            f"smooth={counts!r} refused: empirical-Bayes smoothing is for counts of events "
            f"over a population at risk (e.g. cases per 10,000 people); {short(e_name, 40)} "
            f"is not a count ({int(frac.sum()):,} value(s) are not whole numbers, e.g. "
            f"{e[frac][0]:g} at {_rows(events.index, frac)}): drop smooth= or use per= alone."
        )
        raise InputError(msg)
    return e, b, e_name, b_name


def rate(numerator: pd.Series, population: pd.Series, *, scale: float = 1.0) -> pd.Series:
    """Per-capita rate ``scale * numerator / population``, named ``"NAME per POP"``.

    Parameters
    ----------
    numerator : pandas.Series
        Numeric, finite, on the units' index.
    population : pandas.Series
        Positive, finite, with a value for every unit of ``numerator``.
    scale : float, default 1
        Multiplier (e.g. 10,000 for a rate per 10,000 persons); named in the label
        when not 1 (``"GDP per 10,000 人口"``).

    Returns
    -------
    pandas.Series
        float64, on ``numerator``'s index.

    Raises
    ------
    InputError
        Missing or non-numeric values, a population missing, zero or negative.

    Examples
    --------
    >>> gdp = pd.Series([10.0, 30.0], index=["a", "b"], name="GDP")
    >>> pop = pd.Series([2.0, 3.0], index=["a", "b"], name="人口")
    >>> r = rate(gdp, pop)
    >>> r.name, r.tolist()
    ('GDP per 人口', [5.0, 10.0])

    """
    scale = _scale(scale)
    e, b, e_name, b_name = _events_and_population(numerator, population, counts=None)
    with np.errstate(over="ignore", under="ignore"):
        out = scale * (e / b)
    _scaled_ok(out, e, numerator.index, _rate_label(e_name, b_name, scale), scale)
    return _labelled(out, numerator, _rate_label(e_name, b_name, scale), "rate", e_name)


def _scaled_ok(
    out: np.ndarray, events: np.ndarray, index: pd.Index, label: str, scale: float
) -> None:
    """Refuse rates that ``scale`` pushed past float64 (inf) or below it (a non-zero 0).

    Checked after the multiplication, on the values the analysis will see: a rate of
    finite inputs is finite, but ``scale=1e308`` makes it infinite, and ``1e-320`` zero.
    """
    huge = ~np.isfinite(out) | (np.abs(out) > check.MAX_VALUE)
    lost = (out == 0) & (events != 0)
    if not (huge.any() or lost.any()):
        return
    bad = huge if huge.any() else lost
    what = "overflow (beyond 1e150)" if huge.any() else "underflow to 0"
    msg = (
        f"scale={scale:g}: {int(bad.sum()):,} value(s) of {short(label, 60)} {what} at "
        f"{_rows(index, bad)}; pass a scale that keeps rates readable (e.g. 10000 for "
        "per 10,000 persons)."
    )
    raise InputError(msg)


def _scale(scale: object) -> float:
    """A checked rate multiplier: a finite positive number."""
    ok = isinstance(scale, int | float | np.integer | np.floating) and not isinstance(scale, bool)
    if not ok or not np.isfinite(float(scale)) or float(scale) <= 0:  # type: ignore[arg-type]
        msg = f"scale={short(scale, 30)}: pass a positive number (e.g. 10000 for per 10,000)."
        raise InputError(msg)
    return float(scale)  # type: ignore[arg-type]


def _rate_label(e_name: str, b_name: str, scale: float) -> str:
    whole = float(scale).is_integer() and scale < 1e15  # 1e308 is not a 309-digit label
    per = f"{scale:,.0f} " if scale != 1 and whole else ""
    per = per or (f"{scale:g} " if scale != 1 else "")
    return f"{e_name} per {per}{b_name}"


def _shrink(rate_: np.ndarray, mean: np.ndarray, var: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Marshall's estimator ``m + (r - m) v / (v + m / b)``; ``m + 0`` where both are 0."""
    den = var + mean / b
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(den > 0, var / den, 0.0)
    return mean + (rate_ - mean) * weight


def eb_rate(events: pd.Series, population: pd.Series, *, scale: float = 1.0) -> pd.Series:
    """Global empirical-Bayes smoothed rate (Marshall 1991), as esda's ``Empirical_Bayes``.

    See the module docstring for the estimator; a negative between-unit variance is
    set to 0 (every unit gets the overall rate) and logged.

    Parameters
    ----------
    events : pandas.Series
        Counts of events (non-negative whole numbers), on the units' index.
    population : pandas.Series
        The population at risk: positive, finite, with a value for every unit of
        ``events``.
    scale : float, default 1
        Multiplier of the rate (e.g. 10,000).

    Returns
    -------
    pandas.Series
        float64, on ``events``' index, named ``"EVENTS per POP (EB-smoothed)"``.
        ``attrs``: ``transform="eb"``, ``source``, ``reference_rate`` (``m``, scaled)
        and ``variance`` (``v`` as estimated, before setting a negative one to 0).

    Raises
    ------
    InputError
        As :func:`rate`, and events that are not counts (negative or fractional).

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
    label = f"{_rate_label(e_name, b_name, scale)} (EB-smoothed)"
    with np.errstate(over="ignore", under="ignore"):
        scaled = scale * smoothed
    _scaled_ok(scaled, smoothed, events.index, label, scale)
    out = _labelled(scaled, events, label, "eb", e_name)
    out.attrs.update(reference_rate=float(m * scale), variance=v)
    return out


def spatial_eb_rate(
    events: pd.Series, population: pd.Series, w: WeightsLike, *, scale: float = 1.0
) -> pd.Series:
    """Spatial empirical-Bayes smoothed rate, as esda's ``Spatial_Empirical_Bayes``.

    Each unit's rate is shrunk toward the rate of its neighbourhood (itself and its
    neighbours; weights taken as binary), by the neighbourhood's between-unit variance
    (negative estimates set to 0). See the module docstring.

    Parameters
    ----------
    events : pandas.Series
        Counts of events (non-negative whole numbers), on the units' index, with a
        value for every unit of ``w``.
    population : pandas.Series
        Positive, finite, with a value for every unit of ``w``.
    w : Weights, libpysal.graph.Graph or libpysal.weights.W
        Weights over the units (:func:`geotool.weights.build`); non-zero weights count
        as neighbours.
    scale : float, default 1
        Multiplier of the rate.

    Returns
    -------
    pandas.Series
        float64, on the units of ``w`` in the order of ``events``' index, named
        ``"EVENTS per POP (spatial EB-smoothed, WEIGHTS)"``.

    Raises
    ------
    InputError
        As :func:`eb_rate`, and units of ``w`` without a value.

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
    label = f"{_rate_label(e_name, b_name, scale)} (spatial EB-smoothed, {weights.spec})"
    with np.errstate(over="ignore", under="ignore"):
        scaled = scale * smoothed
    _scaled_ok(scaled, smoothed, weights.ids, label, scale)
    out = pd.Series(scaled, index=weights.ids, name=label).reindex(order)
    out.index.name = events.index.name
    out.attrs = {"transform": "spatial_eb", "source": e_name}
    return out


def numeric_columns(table: pd.DataFrame, *, exclude: Sequence[str] = ()) -> list[str]:
    """The columns of ``table`` that can be analysed as variables, in table order.

    Numeric columns (booleans and constants left out: they have no spatial pattern to
    measure), except those named in ``exclude`` (ids, years, the population column of
    ``per``). The ones left out for being boolean or constant are logged.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per unit.
    exclude : sequence of str, optional
        Column names never to return.

    Returns
    -------
    list of str

    Examples
    --------
    >>> t = pd.DataFrame({"adcode": ["1", "2"], "year": [2020, 2020], "GDP": [1.0, 2.0],
    ...                   "flag": [True, False], "k": [3, 3]})
    >>> numeric_columns(t, exclude=["year"])
    ['GDP']

    """
    if not isinstance(table, pd.DataFrame):
        msg = f"table must be a pandas DataFrame, got {type(table).__name__}."
        raise InputError(msg)
    skip = {str(c) for c in exclude}
    out, left = [], []
    for col in table.columns:
        kind = table[col].dtype
        if str(col) in skip or not pd.api.types.is_numeric_dtype(kind):
            continue
        if pd.api.types.is_bool_dtype(kind) or table[col].nunique(dropna=True) < 2:
            left.append(str(col))
            continue
        out.append(col)
    if left:
        _log.log(f"Numeric columns left out (boolean or constant): {listing(left, limit=8)}.")
    return out


def apply(
    table: pd.DataFrame,
    columns: str | Sequence[str],
    *,
    transform: str | None = None,
    per: str | None = None,
    smooth: str | None = None,
    w: WeightsLike | None = None,
    scale: float = 1.0,
) -> pd.DataFrame:
    """The variables of ``columns``, each as a rate and/or transformed, labelled.

    For each column: with ``per`` a rate per that column (raw, or smoothed by ``smooth``);
    then ``transform``. The result's columns are the labels (``"log(GDP per 人口)"``),
    in the order of ``columns``; ``attrs["labels"]`` maps each column to its label and
    ``attrs["steps"]`` lists what was done, for reports.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per unit.
    columns : str or sequence of str
        The variables (numeric columns of ``table``).
    transform : {"log", "log1p", "standardise"}, optional
        Applied last (see :data:`TRANSFORMS`).
    per : str, optional
        A population column: the variables become rates per it.
    smooth : {"eb", "spatial_eb"}, optional
        Smooth the rates (needs ``per``; ``"spatial_eb"`` needs ``w``); only for
        columns of counts of events (module docstring): refused for amounts such as GDP.
    w : Weights, libpysal.graph.Graph or libpysal.weights.W, optional
        Weights for ``smooth="spatial_eb"``.
    scale : float, default 1
        Multiplier of the rates.

    Returns
    -------
    pandas.DataFrame
        On ``table``'s index (for ``"spatial_eb"``, the units of ``w``).

    Raises
    ------
    InputError
        Unknown columns, options or combinations, and the errors of each step.

    Examples
    --------
    >>> t = pd.DataFrame({"GDP": [10.0, 30.0], "人口": [2.0, 3.0]}, index=["a", "b"])
    >>> apply(t, "GDP", per="人口", transform="log").round(4)
       log(GDP per 人口)
    a           1.6094
    b           2.3026

    """
    cols = [columns] if isinstance(columns, str) else list(columns)
    if not isinstance(table, pd.DataFrame):
        msg = f"table must be a pandas DataFrame, got {type(table).__name__}."
        raise InputError(msg)
    unknown = [c for c in [*cols, *([per] if per is not None else [])] if c not in table.columns]
    if unknown or not cols:
        msg = (
            f"columns={short(cols, 60)}, per={short(per, 30)!r}: "
            + (f"{listing([str(u) for u in unknown])} not in the table" if unknown else "none")
            + f"; the table has {listing([str(c) for c in table.columns], limit=8)}."
        )
        raise InputError(msg)
    if transform is not None and transform not in TRANSFORMS:
        msg = f"transform={short(transform, 30)!r}: use one of {', '.join(TRANSFORMS)} or None."
        raise InputError(msg)
    if smooth is not None and smooth not in SMOOTHERS:
        msg = f"smooth={short(smooth, 30)!r}: use one of {', '.join(SMOOTHERS)} or None."
        raise InputError(msg)
    if smooth is not None and per is None:
        msg = (
            f"smooth={smooth!r} smooths rates, but no population was given; pass per= (the "
            "population column) or drop smooth=."
        )
        raise InputError(msg)
    if smooth == "spatial_eb" and w is None:
        msg = "smooth='spatial_eb' needs weights: pass w= (e.g. geotool.weights.build(...))."
        raise InputError(msg)
    if per is not None and per in cols:
        msg = (
            f"per={per!r} is also among columns; a variable per itself is 1 everywhere: "
            "take it out of columns=."
        )
        raise InputError(msg)
    out: dict[str, pd.Series] = {}
    labels: dict[str, str] = {}
    steps: list[str] = []
    for col in cols:
        series = table[col]
        if per is not None:
            pop = table[per]
            if smooth == "eb":
                series = eb_rate(series, pop, scale=scale)
            elif smooth == "spatial_eb":
                series = spatial_eb_rate(series, pop, w, scale=scale)
            else:
                series = rate(series, pop, scale=scale)
        if transform == "standardise":
            series = standardise(series)
        elif transform in ("log", "log1p"):
            series = _logarithm(series, log1p=transform == "log1p", switch="transform='log1p'")
        labels[col] = str(series.name)
        out[str(series.name)] = series
    if per is not None:
        steps.append(f"per {per}" + (f" ({SMOOTHERS[smooth]})" if smooth else ""))
    if transform is not None:
        steps.append(TRANSFORMS[transform])
    frame = pd.DataFrame(out)
    if smooth != "spatial_eb":
        frame.index = table.index
    frame.attrs = {"labels": labels, "steps": steps}
    return frame
