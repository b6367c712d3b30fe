"""Classing a numeric column for a map: mapclassify classes, colours and legend labels.

One engine for the static maps (:mod:`geotool.maps.figure`) and, when its owner moves it
here, the HTML choropleth (:func:`geotool.maps.choropleth` classes the same way).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from geotool import _validate as check
from geotool._errors import InputError

SCHEMES = ("quantiles", "fisherjenks", "equalinterval", "user")


def classify(
    values: pd.Series,
    *,
    scheme: str = "quantiles",
    k: int | None = None,
    breaks: list[float] | None = None,
    cmap: str = "YlOrRd",
) -> tuple[pd.Series, dict[str, str]]:
    """Colour of each finite value and the legend (label -> colour).

    Parameters
    ----------
    values : pandas.Series
        Numeric; non-finite values are left out of the result.
    scheme : {"quantiles", "fisherjenks", "equalinterval", "user"}
        mapclassify classifier; ``user`` takes ``breaks`` (class upper bounds).
    k : int, optional
        Number of classes (not for ``user``), from 2 to the number of distinct values;
        default 5, or the number of distinct values when there are fewer.
    breaks : list of float, optional
        Class upper bounds, for ``scheme="user"``.
    cmap : str
        A matplotlib colormap name.

    Returns
    -------
    tuple of (pandas.Series, dict)
        ``"#rrggbb"`` per finite value (on its index), and ``"lo – hi (n)"`` -> colour.

    """
    import mapclassify
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if cmap not in colormaps:
        msg = f"cmap {str(cmap)[:40]!r} is not a matplotlib colormap (e.g. 'YlOrRd', 'viridis')."
        raise InputError(msg)
    v = values[np.isfinite(values.to_numpy(dtype=float))].astype(float)
    classifiers = {
        "quantiles": mapclassify.Quantiles,
        "fisherjenks": mapclassify.FisherJenks,
        "equalinterval": mapclassify.EqualInterval,
    }
    distinct = int(v.nunique())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Numba not installed")
        if scheme == "user":
            if not breaks:
                msg = "scheme='user' needs breaks=[...] (class upper bounds)."
                raise InputError(msg)
            cls = mapclassify.UserDefined(v.to_numpy(), bins=list(breaks))
        elif scheme in classifiers:
            if distinct < 2:
                msg = (
                    f"values ({str(values.name)[:40]!r}) have {distinct} distinct value(s); "
                    "a choropleth needs at least 2."
                )
                raise InputError(msg)
            k = min(5, distinct) if k is None else check.classes(k, n_distinct=distinct)
            cls = classifiers[scheme](v.to_numpy(), k=int(k))
        else:
            msg = f"scheme must be one of {list(SCHEMES)}, got {str(scheme)[:40]!r}."
            raise InputError(msg)
    cm = colormaps[cmap].resampled(len(cls.bins))
    colours = [to_hex(cm(i)) for i in range(len(cls.bins))]
    lows = [float(v.min()), *cls.bins[:-1]]
    legend = {
        f"{lo:.4g} – {hi:.4g} ({n})": colours[i]
        for i, (lo, hi, n) in enumerate(zip(lows, cls.bins, cls.counts, strict=True))
    }
    return pd.Series([colours[c] for c in cls.yb], index=v.index, dtype=object), legend
