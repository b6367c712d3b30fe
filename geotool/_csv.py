r"""CSV files that are safe to open in a spreadsheet (no formula injection).

Text cells, headers and index labels starting with ``= + - @``, a tab, a CR or a NUL get a
leading ``'`` (OWASP *CSV Injection*; ASVS 5.0 1.2.10) unless they are one plain decimal
number, a number with significance stars (``-1.597***``, a regression table's) or a lone
sign (``-``): none of these can call a function or a link. Rows end in CR LF (RFC 4180),
so a cell holding a lone CR is quoted.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

__all__ = ["FORMULA_PREFIXES", "neutralise", "to_csv_bytes"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\x00")
"""First characters that make a spreadsheet read a cell as a formula."""

_PLAIN_NUMBER = re.compile(r"[+-]|[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\*{0,3}")


def neutralise(value: Any) -> Any:
    """``value`` made safe for a spreadsheet cell (only :class:`str` values change).

    >>> neutralise("=1+1"), neutralise("-1+1"), neutralise("-1.5**"), neutralise(-2)
    ("'=1+1", "'-1+1", '-1.5**', -2)
    """
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_PREFIXES)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def _label(value: Any) -> Any:
    """A column or index label made safe (each level of a tuple label)."""
    return tuple(map(neutralise, value)) if isinstance(value, tuple) else neutralise(value)


def _safe_column(column: pd.Series) -> pd.Series:
    kind = column.dtype
    if isinstance(kind, pd.CategoricalDtype):
        column = column.astype(object)
    elif not (pd.api.types.is_object_dtype(kind) or pd.api.types.is_string_dtype(kind)):
        return column  # numbers, booleans, dates: no text to neutralise
    values = column.to_numpy(dtype=object)
    first = FORMULA_PREFIXES
    hits = [i for i, v in enumerate(values) if isinstance(v, str) and v.startswith(first)]
    if not hits:  # the common case, found without a call per cell
        return column
    out = values.copy()
    out[hits] = [neutralise(out[i]) for i in hits]
    return pd.Series(out, index=column.index, name=column.name, dtype=object)


def to_csv_bytes(frame: pd.DataFrame, **kwargs: Any) -> bytes:
    r"""``frame`` as CSV bytes (UTF-8 with a byte-order mark, for Excel), formulas neutralised.

    ``kwargs`` go to :meth:`pandas.DataFrame.to_csv` (not ``path_or_buf``, ``encoding`` or
    ``lineterminator``); ``index`` defaults to ``False`` (``True`` with ``index_label``).

    >>> to_csv_bytes(pd.DataFrame({"name": ["=cmd|' /C calc'!A0"], "v": [-1.5]}))
    b"\xef\xbb\xbfname,v\r\n'=cmd|' /C calc'!A0,-1.5\r\n"
    """
    kwargs.setdefault("index", "index_label" in kwargs)
    kwargs.setdefault("lineterminator", "\r\n")  # quotes every cell holding CR or LF
    safe = frame.copy(deep=False)
    for position in range(safe.shape[1]):
        safe.isetitem(position, _safe_column(safe.iloc[:, position]))  # type: ignore[arg-type]
    safe.columns = safe.columns.map(_label)
    if kwargs["index"] is not False:
        names = [_label(n) for n in safe.index.names]
        if isinstance(safe.index, pd.MultiIndex):
            safe.index = pd.MultiIndex.from_tuples([_label(t) for t in safe.index], names=names)
        else:
            safe.index = pd.Index([_label(v) for v in safe.index], name=names[0])
    for name in ("header", "index_label"):
        given = kwargs.get(name)
        if isinstance(given, str):
            kwargs[name] = neutralise(given)
        elif isinstance(given, list | tuple):
            kwargs[name] = [_label(v) for v in given]
    return safe.to_csv(**kwargs).encode("utf-8-sig")
