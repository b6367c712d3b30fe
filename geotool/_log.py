"""One logging helper: the library logs, the CLI decides what to show."""

from __future__ import annotations

import logging

logger = logging.getLogger("geotool")


def log(message: str, level: int = logging.INFO, *, progress: bool = False) -> None:
    """Log ``message`` on the ``geotool`` logger at ``level``.

    ``progress=True`` marks a progress line of long work (``record.progress``): the CLI
    shows those only on a terminal.
    """
    logger.log(level, message, extra={"progress": progress})
