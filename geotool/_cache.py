"""Caches keyed by the settings they read.

:mod:`geotool.settings` promises that values are read at call time. A plain
``functools.lru_cache`` on a function that reads ``settings.data_dir`` would keep the
first folder's data for the rest of the process; :func:`settings_cache` adds the folders
(and the files' modification times are the callers' business) to the cache key, so
changing ``geotool.settings.data_dir`` or ``boundaries_dir`` means what it says.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from geotool import settings

__all__ = ["settings_cache"]

P = ParamSpec("P")
R = TypeVar("R")


def _key() -> tuple[str, str]:
    return str(settings.data_dir), str(settings.boundaries_dir)


def settings_cache(maxsize: int = 8) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """An ``lru_cache`` whose key includes the data and boundaries folders.

    The wrapped function's arguments must be hashable. ``wrapper.cache_clear()``
    empties the cache.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.lru_cache(maxsize=maxsize)
        def inner(key: tuple[str, str], *args: Any) -> R:
            return fn(*args)  # type: ignore[call-arg]

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if kwargs:
                msg = f"{fn.__name__} is cached: pass its arguments by position."
                raise TypeError(msg)
            return inner(_key(), *args)

        wrapper.cache_clear = inner.cache_clear  # type: ignore[attr-defined]
        return wrapper

    return decorate
