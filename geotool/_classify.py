"""Classing a numeric column for a map (static, HTML) or tiers: classes, colours, legend.

mapclassify's classifiers (quantiles, equal intervals, user breaks, Fisher-Jenks) in
numpy, tested to give its class bounds: with numba installed, importing mapclassify
compiles its kernels without a cache, 17-22 s in every process that draws a map.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geotool import _validate as check
from geotool._errors import InputError
from geotool._text import short

SCHEMES = ("quantiles", "fisherjenks", "equalinterval", "user")
#: Above this many values, Fisher-Jenks runs on this many evenly spaced quantiles of them
#: (the exact method is O(k n^2)); bounds are then values of the sample, not of the data.
JENKS_MAX_VALUES = 4000
#: The most classes of a map or of tiers: a legend of more colours cannot be told apart,
#: and Fisher-Jenks grows with k (20 classes on 4,000 values: seconds; 2,000: an hour).
MAX_CLASSES = 20


def at_most(k: int, name: str = "k") -> int:
    """``k`` if at most :data:`MAX_CLASSES`, else an :class:`InputError` naming ``name``."""
    if k > MAX_CLASSES:
        raise InputError(
            f"{name}={k}: at most {MAX_CLASSES} classes (a legend of more colours cannot be "
            f"told apart); use {name}={MAX_CLASSES} or fewer."
        )
    return k


#: Class ends computed together in :func:`fisher_jenks` (a block's costs: 256 x n floats).
_JENKS_BLOCK = 256


def fisher_jenks(y: np.ndarray, k: int) -> np.ndarray:
    """Fisher-Jenks natural breaks: ``k`` class upper bounds minimising within-class squares.

    Fisher's exact dynamic programme in float64 (mapclassify's ``FisherJenks`` bounds,
    where its float32 sums do not miss the optimum); ties go to the earliest class start.
    Class ends are solved in blocks of :data:`_JENKS_BLOCK` (3x faster than one at a time,
    the same bounds to the bit).

    Examples
    --------
    >>> fisher_jenks(np.array([1.0, 2, 3, 10, 11, 12, 30]), 3).tolist()
    [3.0, 12.0, 30.0]

    """
    x = np.sort(np.asarray(y, dtype=float))
    if len(x) > JENKS_MAX_VALUES:
        x = np.quantile(x, np.linspace(0, 1, JENKS_MAX_VALUES))
    n = len(x)
    s1 = np.concatenate([[0.0], np.cumsum(x)])
    s2 = np.concatenate([[0.0], np.cumsum(x * x)])
    # best[c][b]: least within-class squares of x[:b] in c + 1 classes; start[c][b]: where
    # the last of those classes starts
    best = np.full((k, n + 1), np.inf)
    start = np.zeros((k, n + 1), dtype=np.int64)
    ends = np.arange(1, n + 1)
    best[0, 1:] = s2[1:] - s1[1:] ** 2 / ends
    for c in range(1, k):
        for first in range(c + 1, n + 1, _JENKS_BLOCK):  # a block of ends, every start < end
            end = np.arange(first, min(first + _JENKS_BLOCK, n + 1))
            e, a = end[:, None], np.arange(c, end[-1])[None, :]
            with np.errstate(divide="ignore", invalid="ignore"):
                cost = best[c - 1, a] + (s2[e] - s2[a]) - (s1[e] - s1[a]) ** 2 / (e - a)
            cost[a >= e] = np.inf
            i = np.argmin(cost, axis=1)  # the first minimum: the earliest start
            best[c, end], start[c, end] = cost[np.arange(len(end)), i], a[0, i]
    out = np.empty(k)
    b = n
    for c in range(k - 1, -1, -1):
        out[c] = x[b - 1]
        b = int(start[c, b]) if c else 0
    return out


def bins(
    y: np.ndarray, scheme: str, k: int | None = None, breaks: list[float] | None = None
) -> np.ndarray:
    """Class upper bounds of ``y`` under a scheme, as mapclassify computes them.

    Quantiles merge repeated bounds; ``user`` adds the maximum above the last break. A
    value equal to a bound belongs to its class.
    """
    y = np.asarray(y, dtype=float)
    if scheme == "user":
        out = np.sort(np.asarray(breaks, dtype=float))
        return np.append(out, y.max()) if y.max() > out[-1] else out
    if k is None:
        k = 5
    if scheme == "quantiles":
        pct = np.minimum(np.arange(1, k + 1) * (100.0 / k), 100.0)
        return np.unique(np.percentile(y, pct))
    if scheme == "equalinterval":
        lo, hi = float(y.min()), float(y.max())
        out = lo + (hi - lo) / k * np.arange(1, k + 1)
        out[-1] = hi
        return out
    if scheme == "fisherjenks":
        return fisher_jenks(y, k)
    raise InputError(f"scheme must be one of {list(SCHEMES)}, got {str(scheme)[:40]!r}.")


def user_breaks(breaks: object) -> list[float]:
    """Check ``breaks=``: finite numbers in strictly increasing order, at least one.

    Unsorted breaks are refused, not sorted: most are typing slips (``[10, 50, 20]``).
    """
    if breaks is None or isinstance(breaks, str | bytes) or not hasattr(breaks, "__iter__"):
        msg = f"scheme='user' needs breaks=[...] (class upper bounds), got {short(breaks, 40)}."
        raise InputError(msg)
    items = list(breaks)
    if not items:
        raise InputError("scheme='user' needs breaks=[...] (class upper bounds); breaks is empty.")
    if not all(isinstance(b, numbers.Real) and not isinstance(b, bool | np.bool_) for b in items):
        raise InputError(f"breaks={short(items, 60)}: every break must be a number.")
    out = [float(b) for b in items]
    if not np.isfinite(out).all():
        raise InputError(f"breaks={short(items, 60)}: every break must be finite (no NaN or inf).")
    if any(b >= c for b, c in zip(out[:-1], out[1:], strict=False)):
        raise InputError(
            f"breaks={short(items, 60)}: class upper bounds must increase strictly "
            f"(sorted, no repeats), e.g. {short(sorted(set(out)), 60)}."
        )
    return out


@dataclass(frozen=True)
class Classes:
    """A classed column: class upper bounds, counts, colours and readable labels.

    ``codes`` is the class of each finite value (on its index); ``missing`` counts the
    values that are not finite; ``labels`` read ``"lo – hi (n)"`` with as many
    significant digits as tell the bounds apart (:func:`geotool._numbers.for_breaks`).
    """

    upper: np.ndarray
    counts: np.ndarray
    colours: list[str]
    labels: list[str]
    codes: pd.Series
    missing: int
    scheme: str
    k: int

    @property
    def legend(self) -> dict[str, str]:
        """Label -> colour, lowest class first."""
        return dict(zip(self.labels, self.colours, strict=True))

    def colour_of(self) -> pd.Series:
        """``"#rrggbb"`` per finite value, on its index."""
        colours = np.asarray(self.colours, dtype=object)[self.codes.to_numpy()]
        return pd.Series(colours, index=self.codes.index, dtype=object)


def classes(
    values: pd.Series,
    *,
    scheme: str = "quantiles",
    k: int | None = None,
    breaks: list[float] | None = None,
    cmap: str = "YlOrRd",
    label: str = "",
    lang: str | None = None,
) -> Classes:
    """Class the finite values of ``values`` as :func:`classify` does, with counts and labels.

    ``label`` (``"GDP(亿元)"``) gives the unit that decides 万/亿; ``lang`` the language of
    the numbers (default: Chinese when the unit is).
    """
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    from geotool._numbers import for_breaks

    if not isinstance(cmap, str) or cmap not in colormaps:
        msg = f"cmap {str(cmap)[:40]!r} is not a matplotlib colormap (e.g. 'YlOrRd', 'viridis')."
        raise InputError(msg)
    finite = np.isfinite(values.to_numpy(dtype=float))
    v = values[finite].astype(float)
    k = _checked_k(v, values.name, scheme, k, breaks)
    upper = bins(v.to_numpy(), scheme, k, breaks)
    yb = np.searchsorted(upper, v.to_numpy(), side="left")
    counts = np.bincount(yb, minlength=len(upper))
    cm = colormaps[cmap].resampled(len(upper))
    colours = [to_hex(cm(i)) for i in range(len(upper))]
    lows = [float(v.min()), *upper[:-1]]
    fmt = for_breaks(v.to_numpy(), [lows[0], *upper], label=label, lang=lang)
    labels = [f"{fmt(lo)} – {fmt(hi)} ({n})" for lo, hi, n in zip(lows, upper, counts, strict=True)]
    codes = pd.Series(yb, index=v.index)
    return Classes(upper, counts, colours, labels, codes, int((~finite).sum()), scheme,
                   len(upper))  # fmt: skip


def _checked_k(
    v: pd.Series, name: object, scheme: object, k: int | None, breaks: list[float] | None
) -> int | None:
    """The number of classes, checked against the scheme and the distinct values."""
    if scheme == "user":
        user_breaks(breaks)
        if v.empty:
            raise InputError(f"values ({str(name)[:40]!r}) have no finite value to classify.")
        return k
    if not isinstance(scheme, str):
        raise InputError(f"scheme must be one of {list(SCHEMES)}, got {type(scheme).__name__}.")
    if scheme not in SCHEMES:
        raise InputError(f"scheme must be one of {list(SCHEMES)}, got {str(scheme)[:40]!r}.")
    distinct = int(v.nunique())
    if distinct < 2:
        raise InputError(
            f"values ({str(name)[:40]!r}) have {distinct} distinct value(s); "
            "a choropleth needs at least 2."
        )
    return min(5, distinct) if k is None else at_most(check.classes(k, n_distinct=distinct))


def classify(
    values: pd.Series,
    *,
    scheme: str = "quantiles",
    k: int | None = None,
    breaks: list[float] | None = None,
    cmap: str = "YlOrRd",
    label: str = "",
    lang: str | None = None,
) -> tuple[pd.Series, dict[str, str]]:
    """Colour of each finite value and the legend (label -> colour).

    ``scheme`` is one of :data:`SCHEMES` (``user`` takes ``breaks``, class upper bounds);
    ``k`` from 2 to the distinct values and :data:`MAX_CLASSES` (default 5 or fewer);
    ``cmap`` a matplotlib colormap; ``label`` and ``lang`` as :func:`classes`. Returns
    ``"#rrggbb"`` per finite value (on its index) and the legend, ``"lo – hi (n)"`` -> colour.
    """
    out = classes(values, scheme=scheme, k=k, breaks=breaks, cmap=cmap, label=label, lang=lang)
    return out.colour_of(), out.legend


#: How a map is classed: (scheme, k, breaks), as :func:`classes` takes them.
Spec = tuple[str, int | None, list[float] | None]
#: ``--classes`` names of the schemes (mapclassify's class names in the legend).
SPEC_NAMES = {"quantiles": "quantiles", "jenks": "fisherjenks", "equal": "equalinterval",
              "breaks": "user"}  # fmt: skip
_MAPCLASSIFY = {"quantiles": "Quantiles", "fisherjenks": "FisherJenks",
                "equalinterval": "EqualInterval", "user": "UserDefined"}  # fmt: skip
_WORDS = {
    "en": {"quantiles": "quantiles", "fisherjenks": "natural breaks (Jenks)",
           "equalinterval": "equal intervals", "user": "set breaks", "k": "{k} classes"},
    "zh": {"quantiles": "分位数", "fisherjenks": "自然断点（Jenks）", "equalinterval": "等间距",
           "user": "指定断点", "k": "{k} 类"},
}  # fmt: skip


def parse_spec(spec: str, name: str = "value_classes") -> Spec:
    """``quantiles:5``, ``jenks:5``, ``equal:5`` or ``breaks:1,10,100`` -> (scheme, k, breaks).

    ``name`` is the parameter named in the error; ``quantiles`` alone means 5 classes.
    """
    how, _, rest = str(spec).strip().partition(":")
    scheme = SPEC_NAMES.get(how.strip().lower())
    given = f"{name}={short(spec, 40)!r}:"
    if scheme is None:
        raise InputError(f"{given} give quantiles:5, jenks:5, equal:5 or breaks:1,10,100.")
    if scheme == "user":
        try:
            items = [float(b) for b in rest.split(",") if b.strip()]
        except ValueError:
            items = [float("nan")]
        if not items or not np.isfinite(items).all() or np.any(np.diff(items) <= 0):
            msg = f"{given} breaks are increasing numbers (upper bounds), e.g. breaks:1,10,100."
            raise InputError(msg)
        return scheme, None, items
    if not rest.strip():
        return scheme, 5, None
    if not rest.strip().isdigit() or not 2 <= int(rest) <= MAX_CLASSES:
        msg = f"{given} the class count is a whole number from 2 to {MAX_CLASSES}, e.g. {how}:5."
        raise InputError(msg)
    return scheme, int(rest), None


def describe(scheme: str, k: int, lang: str = "en") -> str:
    """The classification in words for a legend (``quantiles, 5 classes (mapclassify …)``)."""
    words, name = _WORDS["zh" if lang == "zh" else "en"], _MAPCLASSIFY[scheme]
    if lang == "zh":
        return f"{words[scheme]}，{words['k'].format(k=k)}（mapclassify {name}）"
    return f"{words[scheme]}, {words['k'].format(k=k)} (mapclassify {name})"


def default_spec(values: pd.Series) -> Spec:
    """How a variable is classed unless the study says (scheme, k, breaks).

    A class per value for at most 7 values (counts); natural breaks when one value is over
    a fifth of them (ties would merge quantiles); else quintiles.
    """
    v = values[np.isfinite(values.to_numpy(dtype=float))].astype(float)
    levels = np.sort(v.unique())
    if len(levels) <= 7:
        return "user", None, [float(x) for x in levels]
    if v.value_counts(normalize=True).iloc[0] > 0.2:
        return "fisherjenks", 5, None
    return "quantiles", 5, None


def spec_for(values: pd.Series, spec: Spec | None) -> Spec:
    """A study's classes for one variable (:func:`default_spec` when it names none).

    ``k`` is cut to the variable's distinct values: a study's ``jenks:5`` still maps a
    variable of 3 values.
    """
    if spec is None:
        return default_spec(values)
    scheme, k, breaks = spec
    if k is not None:
        distinct = int(values[np.isfinite(values.to_numpy(dtype=float))].nunique())
        k = max(2, min(k, distinct))
    return scheme, k, breaks
