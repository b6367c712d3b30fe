"""Caches keyed by the settings they read, in memory and (derived layers) on disk.

:mod:`geotool.settings` promises that values are read at call time. A plain
``functools.lru_cache`` on a function that reads ``settings.data_dir`` would keep the
first folder's data for the rest of the process; :func:`settings_cache` adds the folders
(and the files' modification times are the callers' business) to the cache key, so
changing ``geotool.settings.data_dir`` or ``boundaries_dir`` means what it says.

:func:`derived_cache` is for derived layers of the bundled data (the cluster polygons,
the linked view's paths): results that depend on nothing but the bundled files and
geotool's code, cost a second to compute and are the same in every run. It keeps them
in memory and also on disk in ``settings.cache_dir``, like numba's compiled kernels, so
a fresh process reads them instead of computing them again. The disk key is a digest
of the function, its arguments, geotool's version, the CRS settings and the size and
modification time of every file in ``data_dir``, ``boundaries_dir`` and the package's
own modules: editing any of them is a cache miss, never a stale result. An unreadable,
corrupt or unwritable cache is a miss too (computed as if there were no cache). A new
result replaces the same call's older ones of the same install (package and data
folders); two installs side by side (two virtual environments) keep their own.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from geotool import settings

__all__ = ["derived_cache", "settings_cache"]

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


_PACKAGE = Path(__file__).resolve().parent


def _stats(folder: Path, pattern: str) -> list[tuple[str, int, int]]:
    """Relative name, size and modification time (ns) of the files under ``folder``."""
    out = []
    for path in sorted(folder.glob(pattern)):
        try:
            st = path.stat()
        except OSError:
            continue
        if path.is_file():
            out.append((str(path.relative_to(folder)), st.st_size, st.st_mtime_ns))
    return out


def _fingerprint() -> str:
    """A digest of everything a derived layer may depend on (see the module docstring)."""
    return _fingerprint_of(
        str(settings.data_dir),
        str(settings.boundaries_dir),
        (settings.default_crs, settings.equal_area_crs),
    )


@functools.lru_cache(maxsize=8)
def _fingerprint_of(data_dir: str, boundaries_dir: str, crs: tuple[str, str]) -> str:
    """:func:`_fingerprint`, once per process and settings (like :func:`settings_cache`)."""
    from geotool._version import __version__

    parts: list[object] = [__version__, crs]
    for folder, pattern in (
        (Path(data_dir), "**/*"),
        (Path(boundaries_dir), "*"),
        (_PACKAGE, "**/*.py"),
    ):
        parts += [str(folder), _stats(folder, pattern)]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _disk_path(fn: Callable[..., Any], args: tuple[Any, ...]) -> Path | None:
    """Where ``fn(*args)`` is kept on disk, or ``None`` when there is no cache folder."""
    folder = settings.cache_dir
    if folder is None:
        return None
    name = f"{fn.__module__}.{fn.__qualname__}"
    call = hashlib.sha256(repr((name, args)).encode()).hexdigest()[:16]
    where = (str(_PACKAGE), str(settings.data_dir), str(settings.boundaries_dir))
    install = hashlib.sha256(repr(where).encode()).hexdigest()[:8]
    return Path(folder) / "derived" / f"{name}.{call}.{install}.{_fingerprint()[:24]}.pickle"


def _read(path: Path) -> tuple[bool, object]:
    try:
        with path.open("rb") as fh:
            return True, pickle.load(fh)
    except FileNotFoundError:
        return False, None
    except Exception:  # a corrupt or foreign file is a miss, recomputed and replaced
        return False, None


def _write(path: Path, value: Any) -> None:
    from geotool._atomic import write_atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        for old in path.parent.glob(path.name.rsplit(".", 2)[0] + ".*.pickle"):
            if old != path:  # the same call of the same install, under older data or code
                old.unlink(missing_ok=True)
    except OSError:  # a read-only home, a full disk: run without the cache
        pass


def derived_cache(maxsize: int = 8) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """:func:`settings_cache` backed by a file per result in ``settings.cache_dir``.

    For pure functions of the bundled data whose arguments have a stable ``repr``
    (strings, numbers, tuples of them) and whose results pickle. Callers must not
    change what they get (return copies from a public wrapper).
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        def on_disk(*args: Any) -> R:
            path = _disk_path(fn, args)
            if path is not None:
                hit, value = _read(path)
                if hit:
                    return value  # type: ignore[return-value]
            value = fn(*args)  # type: ignore[call-arg]
            if path is not None:
                _write(path, value)
            return value

        on_disk.__name__ = fn.__name__
        cached = settings_cache(maxsize)(on_disk)
        return functools.wraps(fn)(cached)  # type: ignore[return-value]

    return decorate
