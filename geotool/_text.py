"""Quoting user text in messages: one line, bounded length.

A cell or a column name from a user's file can hold anything: a megabyte of text,
newlines, terminal escape sequences, right-to-left overrides. :func:`short` turns
any of it into a short, single-line, visible rendering, so that an error message
stays one line and never echoes a huge or hostile value whole.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

__all__ = ["listing", "short"]

_ELLIPSIS = "…"


def _visible(char: str) -> str:
    r"""``char`` itself, or an escape such as ``\n`` or ``\u202e`` where it is invisible."""
    if char in "\n\r\t":
        return repr(char)[1:-1]
    category = unicodedata.category(char)
    # Cc control, Cf format (bidi overrides, zero-width), Cs surrogate, Co private use,
    # Cn unassigned, Zl/Zp line and paragraph separators (they break the line).
    if category[0] == "C" or category in ("Zl", "Zp"):
        code = ord(char)
        if code < 0x100:
            return f"\\x{code:02x}"
        return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return char


def short(text: object, limit: int = 60) -> str:
    r"""A one-line rendering of ``text`` of at most about ``limit`` characters.

    Control, format and line-separator characters are shown as escapes (``\n``,
    ``\x1b``, ``\u202e``); a longer rendering is cut with an ellipsis and followed by
    the full length of ``text``. Quote the result yourself where a message needs it.

    Parameters
    ----------
    text : object
        Anything; it is converted with :class:`str`.
    limit : int, default 60
        The most characters of ``text`` (as rendered) to show; at least 1.

    Returns
    -------
    str
        The rendering.

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
            kept = "".join(out)[: limit - 1]
            return f"{kept}{_ELLIPSIS} ({len(text):,} characters)"
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
