"""One logging helper: the library logs, the CLI decides what to show."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

logger = logging.getLogger("geotool")

#: The lines already said in the current run (:func:`once`); None outside a run.
_SAID: ContextVar[set[tuple[int, str]] | None] = ContextVar("geotool_said", default=None)


#: C0 and C1 control characters but line feed and tab: what a terminal would act on.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    r"""``text`` with terminal controls shown as escapes, not acted on (names come from files).

    >>> printable("CR\x1b]0;title\x07IME\tok")
    'CR\\x1b]0;title\\x07IME\tok'
    """
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def log(message: str, level: int = logging.INFO, *, progress: bool = False) -> None:
    """Log on the ``geotool`` logger; ``progress=True`` lines the CLI shows on terminals only.

    Inside :func:`once` a line already said in the run is not said again.
    """
    said = _SAID.get()
    if said is not None:
        if (level, message) in said:
            return
        said.add((level, message))
    logger.log(level, message, extra={"progress": progress})


@contextmanager
def once() -> Iterator[None]:
    """Within the block, each distinct log line is said once (a run's stages repeat some)."""
    token = _SAID.set(set())
    try:
        yield
    finally:
        _SAID.reset(token)


def console(*, quiet: bool, verbose: bool, respell: Callable[[str], str]) -> None:
    """Log lines on stderr as ``geotool: ...``, each through ``respell`` (the CLI's flags).

    ``quiet``: warnings only; ``verbose``: geotool's details too (not every library's).
    Progress lines are dropped where nobody watches a terminal. Only the plain stderr
    handler made here is filtered, never a host's (pytest, an app).
    """
    logging.basicConfig(format="geotool: %(message)s",
                        level=logging.WARNING if quiet else logging.INFO)  # fmt: skip
    logger.setLevel(logging.DEBUG if verbose and not quiet else logging.NOTSET)

    def spell(record: logging.LogRecord) -> bool:
        record.msg, record.args = printable(respell(record.getMessage())), None
        return True

    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler and handler.stream is sys.stderr:
            handler.addFilter(spell)
            if not sys.stderr.isatty():
                handler.addFilter(lambda record: not getattr(record, "progress", False))
