"""Quoting user text in messages: one line, bounded length.

A cell or column name can hold anything (a megabyte of text, newlines, terminal escapes,
right-to-left overrides); :func:`short` renders it short, on one line, visibly.
"""

from __future__ import annotations

import codecs
import unicodedata
from collections.abc import Iterable
from typing import Any

from geotool._errors import InputError

__all__ = ["codec", "listing", "rows_named", "short"]


def _visible(char: str) -> str:
    r"""``char`` itself, or an escape such as ``\n`` or ``\u202e`` where it is invisible."""
    if char in "\n\r\t":
        return repr(char)[1:-1]
    category = unicodedata.category(char)
    # C*: control, format (bidi, zero-width), surrogate, private, unassigned; Zl/Zp break lines
    if category[0] == "C" or category in ("Zl", "Zp"):
        code = ord(char)
        if code < 0x100:
            return f"\\x{code:02x}"
        return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return char


def short(text: object, limit: int = 60) -> str:
    r"""A one-line rendering of ``str(text)`` of at most about ``limit`` (>= 1) characters.

    Invisible characters are shown as escapes (``\n``, ``\x1b``, ``\u202e``); a longer
    rendering is cut with an ellipsis and the full length. Quote the result yourself.

    Examples
    --------
    >>> short("江阴市")
    '江阴市'
    >>> short("a\nb")
    'a\\nb'
    >>> short("x" * 1000, limit=10)
    'xxxxxxxxx… (1,000 characters)'

    """
    text = str(text)
    limit = max(1, int(limit))
    out: list[str] = []
    size = 0
    for char in text:
        piece = _visible(char)
        if size + len(piece) > limit:
            return f"{''.join(out)[: limit - 1]}… ({len(text):,} characters)"
        out.append(piece)
        size += len(piece)
    return "".join(out)


def listing(items: Iterable[object], limit: int = 20) -> str:
    """A list for a message: each item's repr, cut short, and at most ``limit`` of them.

    Examples
    --------
    >>> listing(["省", "县", 3])
    "['省', '县', 3]"
    >>> listing(range(30), limit=2)
    '[0, 1, ... (30 in all)]'

    """
    items = list(items)
    shown = [short(repr(x)) for x in items[:limit]]
    if len(items) > limit:
        shown.append(f"... ({len(items):,} in all)")
    return f"[{', '.join(shown)}]"


def codec(encoding: object, parameter: str = "encoding") -> str:
    """The text codec ``encoding=`` names (GBK and GB2312 as their superset GB18030).

    >>> codec("GBK"), codec("UTF8")
    ('gb18030', 'utf-8')
    """
    given, fix = f"{parameter}={short(repr(encoding))}", "or leave encoding out to detect it"
    if not isinstance(encoding, str) or not encoding.strip():
        raise InputError(f"{given} is not an encoding name; pass e.g. 'utf-8' or 'gbk', {fix}.")
    try:
        name = codecs.lookup(encoding.strip()).name
        "".encode(name)  # a bytes-to-bytes codec ('base64', 'rot13') is no text encoding
    except LookupError as exc:
        known = "a text" if "text encoding" in str(exc) else "a known text"
        raise InputError(f"{given} is not {known} encoding; use 'utf-8' or 'gbk', {fix}.") from None
    return "gb18030" if name in ("gbk", "gb2312") else name


def rows_named(index: Any, limit: int = 1) -> str:
    """``line 5`` / ``lines 5, 7`` for rows read from a file (``row ...`` otherwise).

    Rows are lines when ``index`` is named ``line`` (a table read by :mod:`geotool.io`).
    """
    word = "line" if getattr(index, "name", None) == "line" else "row"
    shown = ", ".join(short(v, 30) for v in index[:limit])
    more = f" ... ({len(index):,} in all)" if len(index) > limit else ""
    plural = "s" if limit > 1 and len(index) > 1 else ""
    return f"{word}{plural} {shown}{more}"
