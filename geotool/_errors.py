"""Exceptions raised by geotool: each subclasses a built-in, so ``except ValueError`` works."""

from __future__ import annotations


class GeotoolError(Exception):
    """Base class of geotool's own errors."""


class InputError(GeotoolError, ValueError):
    """A table, file or argument a user passed cannot be used as it is."""


class MatchError(InputError):
    """Rows could not be resolved to administrative codes."""


class DataError(GeotoolError, RuntimeError):
    """Bundled data is missing or inconsistent (a packaging or build problem)."""
