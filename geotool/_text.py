"""Small text helpers shared by modules that echo what users typed."""

from __future__ import annotations

from collections.abc import Iterable

#: How many characters of a user's text a message or note repeats at the most.
SHORT = 60


def short(text: object, limit: int = SHORT) -> str:
    """``text`` as a string of at most about ``limit`` characters.

    Longer text is cut, with an ellipsis and its full length, so that a huge cell
    (a 20 MiB paste) is never echoed whole in a message, a log line or a note.

    Examples
    --------
    >>> short("江阴市")
    '江阴市'
    >>> short("x" * 100, limit=5)
    'xxxxx… (100 characters)'

    """
    out = str(text)
    if len(out) <= limit:
        return out
    return f"{out[:limit]}… ({len(out):,} characters)"


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
