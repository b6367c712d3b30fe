"""One logging helper: the library logs, the CLI decides what to show."""

from __future__ import annotations

import logging

logger = logging.getLogger("geotool")


def log(message: str, level: int = logging.INFO, *, progress: bool = False) -> None:
    """Log on the ``geotool`` logger; ``progress=True`` lines the CLI shows on terminals only."""
    logger.log(level, message, extra={"progress": progress})
