"""One logging helper: the library logs, the CLI decides what to show."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

logger = logging.getLogger("geotool")

#: The lines already said in the current run (:func:`once`); None outside a run.
_SAID: ContextVar[set[tuple[int, str]] | None] = ContextVar("geotool_said", default=None)


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
