r"""The one way text from data enters a page: escaped for where it goes, then checked.

Every string of a page that came from a user's files (unit ids and names, column names,
file names, year labels, set names, titles) reaches the page through this module:

* as **HTML** text or attribute value: :func:`escape` (``<``, ``>``, ``&``, ``"`` and
  ``'`` as character references);
* as a **link** (``href``/``src``) to a file of the run: :func:`href` (percent-encoded,
  so that no name can become a ``javascript:`` or other scheme URL);
* as **data inside a** ``<script>``: :func:`script_json` (or :func:`script_json_text`
  for JSON already serialised, such as a cached TopoJSON), and :func:`script_call` to
  pass such data to a page's script. Outside its strings JSON has none of ``<``, ``>``,
  ``&``, U+2028 and U+2029, so each is written as its ``\uXXXX`` escape wherever it
  occurs: the value reads back the same, and no ``</script>`` or ``<!--`` can close or
  bend the script element.

:func:`check_page` then reads the finished page as a browser's tokenizer would and
refuses one in which anything could run that geotool did not write: an event-handler
attribute, a ``javascript:`` link, or a script or style element whose text could close it
early. A page that fails is a bug in geotool; it is never written.
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
    "JSONText",
    "check_page",
    "escape",
    "href",
    "script_call",
    "script_json",
    "script_json_text",
]

#: Characters of JSON text that a script element or a JavaScript parser could read as
#: more than a string's character, with the escapes that keep them plain characters.
_SCRIPT_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_SCRIPT_UNSAFE = re.compile("[<>&\u2028\u2029\ud800-\udfff]")
#: Lone surrogates (text no UTF-8 file holds, but a Python str can).
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONText(str):
    """JSON already serialised (e.g. a cached TopoJSON), for :func:`script_call`."""

    __slots__ = ()


def _missing(value: object) -> bool:
    """Missing values (``None``, ``pandas.NA``, NaN) are shown as nothing."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def escape(value: object) -> str:
    """Any value as HTML text or a quoted attribute value (missing values: ``""``).

    Parameters
    ----------
    value : object
        Shown as ``str`` shows it.

    Returns
    -------
    str
        With ``&``, ``<``, ``>``, ``"`` and ``'`` as character references (and a lone
        surrogate, which UTF-8 cannot write, as U+FFFD).

    """
    if _missing(value):
        return ""
    return html.escape(_SURROGATE.sub("\ufffd", str(value)), quote=True)


def href(path: str) -> str:
    """A link to a file of the run (relative ``path``), for an ``href`` or ``src`` attribute.

    The path is percent-encoded (``/`` kept), so a file name is always a relative URL
    of that file: ``:`` cannot start a scheme (``javascript:``), ``#`` and ``?`` do not
    cut the name, and the quotes of the attribute cannot be closed.
    """
    return escape(quote(str(path), safe="/"))


def script_json_text(text: str) -> str:
    r"""JSON text made safe to place inside a ``<script>`` element, value unchanged.

    Parameters
    ----------
    text : str
        Valid JSON.

    Returns
    -------
    str
        ``text`` with every ``<``, ``>``, ``&``, U+2028 and U+2029 (which valid JSON
        holds only inside strings) as its ``\uXXXX`` escape, as is a lone surrogate
        (which UTF-8 cannot write).

    """
    return _SCRIPT_UNSAFE.sub(
        lambda m: _SCRIPT_ESCAPES.get(m.group()) or f"\\u{ord(m.group()):04x}", text
    )


def script_json(data: Any) -> str:
    """``data`` as JSON text safe inside a ``<script>`` element.

    Non-ASCII text stays readable; values JSON cannot hold are written as ``str``
    shows them (non-finite floats as JavaScript's ``NaN`` and ``Infinity``).
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return script_json_text(text)


_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def script_call(function: str, *args: Any, names: tuple[str, ...] = ()) -> str:
    """A call of a page's script function with data: ``function(name..., data...);``.

    Parameters
    ----------
    function : str
        The function (a JavaScript identifier geotool defines).
    *args : object
        The data arguments: each through :func:`script_json`, or through
        :func:`script_json_text` when it is :class:`JSONText`.
    names : tuple of str
        Leading arguments that are JavaScript identifiers of the page (e.g. folium's map
        variable); refused unless they are plain identifiers.

    Returns
    -------
    str
        One line of JavaScript.

    """
    for name in (function, *names):
        if not _IDENTIFIER.fullmatch(name):
            msg = f"internal error: {name[:40]!r} is not a JavaScript identifier."
            raise ValueError(msg)
    data = [script_json_text(a) if isinstance(a, JSONText) else script_json(a) for a in args]
    return f"\n{function}({', '.join([*names, *data])});\n"


#: Attributes whose value is a URL a browser may follow or run.
_URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "xlink:href", "data"})
_SAFE_URL = re.compile(r"\s*(?:https?:|data:image/|#|[^:]*(?:[/?#]|$))", re.IGNORECASE)
#: Inside a script or style element: text that could end it or bend its tokenizer.
_RAW_TEXT_END = re.compile(r"<!--|</?(?:script|style)\b", re.IGNORECASE)


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
    """``text`` if nothing in it can run but geotool's own scripts; else raise.

    Parameters
    ----------
    text : str
        A finished HTML page.
    what : str
        The page, for the message.

    Returns
    -------
    str
        ``text``, unchanged.

    Raises
    ------
    AssertionError
        When an element carries an event-handler attribute or a script URL, or a
        script or style element holds text that could close it early: text from the
        data escaped its escaping, a bug in geotool.

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
