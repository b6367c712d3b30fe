"""The one way text from data enters a page: escaped for where it goes, then checked.

Text from users' files enters as HTML (:func:`escape`), as a percent-encoded link
(:func:`href`, never a ``javascript:`` URL) or as script data (:func:`script_json`,
:func:`script_call`); :func:`check_page` reads the finished page as a browser's tokenizer
would and refuses one in which anything could run that geotool did not write.
"""

from __future__ import annotations

import html
import json
import math
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pandas as pd

__all__ = [
    "JSONText", "check_page", "escape", "href", "is_missing", "script_call", "script_json",
    "script_json_text"
]  # fmt: skip

#: What a script element or a JavaScript parser could read as more than a string's character.
_SCRIPT_UNSAFE = re.compile("[<>&\u2028\u2029\ud800-\udfff]")
#: Lone surrogates (text no UTF-8 file holds, but a Python str can).
_SURROGATE = re.compile("[\ud800-\udfff]")
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
#: Attributes whose value is a URL a browser may follow or run.
_URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "xlink:href", "data"})
_SAFE_URL = re.compile(r"\s*(?:https?:|data:image/|#|[^:]*(?:[/?#]|$))", re.IGNORECASE)
#: Inside a script or style element: text that could end it or bend its tokenizer.
_RAW_TEXT_END = re.compile(r"<!--|</?(?:script|style)\b", re.IGNORECASE)


class JSONText(str):
    """JSON already serialised (e.g. a cached TopoJSON), for :func:`script_call`."""

    __slots__ = ()


def is_missing(value: object) -> bool:
    """Missing values (``None``, ``pandas.NA``, NaN) are shown as nothing."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def escape(value: object) -> str:
    """Any value as HTML text or attribute value: ``&<>"'`` escaped, missing ``""``."""
    if is_missing(value):
        return ""
    return html.escape(_SURROGATE.sub("\ufffd", str(value)), quote=True)


def href(path: str) -> str:
    """A link to a run's file, percent-encoded: no scheme, no cut at ``#``, no quote."""
    return escape(quote(str(path), safe="/"))


def script_json_text(text: str) -> str:
    r"""Valid JSON ``text`` safe in a ``<script>``: ``<>&``, U+2028/9, surrogates as ``\uXXXX``."""
    return _SCRIPT_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def script_json(data: Any) -> str:
    """``data`` as JSON safe in a ``<script>``: non-ASCII readable, other values as ``str``."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return script_json_text(text)


def script_call(function: str, *args: Any, names: tuple[str, ...] = ()) -> str:
    """One line of JavaScript: ``function(name..., data...);``.

    Each of ``args`` goes through :func:`script_json` (:class:`JSONText` through
    :func:`script_json_text`); ``names`` are identifiers of the page (e.g. folium's map
    variable), refused unless they are plain identifiers, as is ``function``.
    """
    for name in (function, *names):
        if not _IDENTIFIER.fullmatch(name):
            msg = f"internal error: {name[:40]!r} is not a JavaScript identifier."
            raise ValueError(msg)
    data = [script_json_text(a) if isinstance(a, JSONText) else script_json(a) for a in args]
    return f"\n{function}({', '.join([*names, *data])});\n"


class _Audit(HTMLParser):
    """Reads a page as a browser's tokenizer does; collects what could run unasked."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._raw: str | None = None  # the script or style element being read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            elif name in _URL_ATTRIBUTES and value and not _SAFE_URL.match(value):
                self.problems.append(f"<{tag} {name}={value[:40]!r}>")
        if tag in ("script", "style"):
            self._raw = tag

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._raw = None

    def handle_endtag(self, tag: str) -> None:
        self._raw = None

    def handle_data(self, data: str) -> None:
        if self._raw is not None and (m := _RAW_TEXT_END.search(data)):
            self.problems.append(f"{m.group()!r} inside <{self._raw}>")


def check_page(text: str, what: str = "page") -> str:
    """``text`` unchanged if nothing in it can run but geotool's own scripts.

    AssertionError (a geotool bug) for an event handler, a script URL, or script or style
    text that could close its element early; ``what`` names the page.
    """
    audit = _Audit()
    audit.feed(text)
    audit.close()
    if audit.problems:
        msg = (
            f"internal error: the {what} would let text from the data run in the browser "
            f"({'; '.join(audit.problems[:3])}); it was not written. Please report this."
        )
        raise AssertionError(msg)
    return text
