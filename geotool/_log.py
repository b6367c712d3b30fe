"""One logging helper: the library logs, the CLI decides what to show."""

from __future__ import annotations

import logging

logger = logging.getLogger("geotool")


def log(message: str, level: int = logging.INFO) -> None:
    """Log ``message`` on the ``geotool`` logger at ``level``."""
    logger.log(level, message)
