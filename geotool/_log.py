"""One logging helper: the library logs, the CLI decides what to show."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

logger = logging.getLogger("geotool")


def log(message: str, level: int = logging.INFO, *, progress: bool = False) -> None:
    """Log on the ``geotool`` logger; ``progress=True`` lines the CLI shows on terminals only."""
    logger.log(level, message, extra={"progress": progress})


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
        record.msg, record.args = respell(record.getMessage()), None
        return True

    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler and handler.stream is sys.stderr:
            handler.addFilter(spell)
            if not sys.stderr.isatty():
                handler.addFilter(lambda record: not getattr(record, "progress", False))
