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
own modules: editing any of them is a cache miss, never a stale result. A new result
replaces the same call's older ones of the same install (package and data folders);
two installs side by side (two virtual environments) keep their own.

The cache folder may be writable by others (a shared ``GEOTOOL_CACHE_DIR``), so what
it holds is data, never code: entries are JSON, ``.npz`` (no pickled objects) or
Parquet (:mod:`geotool._store`), read back against the layout the function declares
(``returns=``) and never unpickled. An entry that is not of that layout (a foreign
file, a pickle, random bytes, a truncated file, another table) is a miss: logged once
as a warning, computed as if there were no cache and replaced when the folder can be
written. An unreadable or unwritable cache folder is a miss too.

Data is not enough: a well-formed entry can still lie (no rows, a code not in the
bundled layer, infinite distances) and lead the code that trusts it astray. Rather
than a content check per cached function (each an incomplete list of what may be
wrong, to keep in step with the function), every entry carries a keyed digest: an
HMAC-SHA256 of its name and bytes, in a ``.mac`` file beside it, under a secret key
of 32 random bytes in the user's own config folder (``$XDG_CONFIG_HOME/geotool/
cache-key``, else ``~/.config/geotool/cache-key``; created on first use, mode 0600).
An entry is read only when its digest verifies, before its bytes are parsed: so any
change (a mutated table, a planted file, a file written with someone else's key) is
a miss, whatever it holds, and only entries this user's geotool wrote are trusted.
The layout checks stay (a second line; a bug's result that does not fit). The key's
digest is part of an entry's name, so users sharing a cache folder keep their own
entries instead of replacing each other's. A key that cannot be used (unreadable,
not the owner's, readable by others, not 32 bytes, a read-only config folder) turns
the disk cache off, said once in the log.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import logging
import os
import secrets
import stat
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from geotool import _store, settings
from geotool._log import log
from geotool._store import JSON, Array, Frame, Labels, Record, Sparse

__all__ = [
    "JSON",
    "Array",
    "Frame",
    "Labels",
    "Record",
    "Sparse",
    "derived_cache",
    "settings_cache",
]

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


def _key_file() -> Path:
    """Where the cache's secret key is kept (see the module docstring)."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "geotool" / "cache-key"


def _open_private(path: Path, size: int) -> bytes:
    """At most ``size`` bytes of the regular file ``path`` (never a link, FIFO or device)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _store.ForeignEntryError("not a regular file")
        if st.st_size > size:
            raise _store.ForeignEntryError("larger than any entry")
        return fh.read(size + 1)


def _read_key(path: Path) -> bytes:
    """The key in ``path``; ``ValueError`` unless it is 32 bytes only its owner can read."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
        if os.name == "posix" and (st.st_uid != os.getuid() or st.st_mode & 0o077):
            raise ValueError("not yours alone: it must be owned by you and mode 0600")
        key = fh.read(64)
    if len(key) != 32:
        raise ValueError(f"{len(key)} bytes, not the 32 of a key geotool made")
    return key


def _make_key(path: Path) -> bytes:
    """The key in ``path``, made (32 random bytes, mode 0600) if there is none yet."""
    try:
        return _read_key(path)
    except (FileNotFoundError, NotADirectoryError):
        pass  # none yet: make one
    except OSError as exc:  # a key there, but not one to trust: said as a warning
        raise ValueError(exc.strerror or str(exc)) from exc
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
        with contextlib.suppress(FileExistsError):  # never replaces: two processes agree
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key(path)


_keys: dict[str, bytes | None] = {}


def _secret() -> bytes | None:
    """The user's cache key, or ``None`` (the disk cache is off; logged once)."""
    try:
        path = _key_file()
    except RuntimeError:  # no home folder
        return None
    if str(path) not in _keys:
        try:
            _keys[str(path)] = _make_key(path)
        except (OSError, ValueError) as exc:
            _keys[str(path)] = None
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            level = logging.INFO if isinstance(exc, OSError) else logging.WARNING  # not made
            log(f"the derived-layer cache is off: its key {path} cannot be used ({reason})", level)
    return _keys[str(path)]


def _disk_path(fn: Callable[..., Any], args: tuple[Any, ...], spec: Any) -> Path | None:
    """Where ``fn(*args)`` is kept on disk, or ``None`` when there is no cache folder."""
    folder = settings.cache_dir
    if folder is None:
        return None
    key = _secret()
    if key is None:
        return None
    name = f"{fn.__module__}.{fn.__qualname__}"
    call = hashlib.sha256(repr((name, args)).encode()).hexdigest()[:16]
    key_id = hashlib.sha256(b"geotool cache key id\0" + key).hexdigest()
    where = (str(_PACKAGE), str(settings.data_dir), str(settings.boundaries_dir), key_id)
    install = hashlib.sha256(repr(where).encode()).hexdigest()[:8]
    stem = f"{name}.{call}.{install}.{_fingerprint()[:24]}"
    return Path(folder) / "derived" / f"{stem}.{_store.suffix(spec)}"


def _mac_path(path: Path) -> Path:
    return path.with_name(path.name + ".mac")


def _digest(path: Path, data: bytes) -> bytes:
    """The keyed digest of the entry ``data`` named ``path`` (hex, as its ``.mac`` holds)."""
    key = _secret()
    if key is None:
        raise _store.ForeignEntryError("no cache key")
    message = path.name.encode() + b"\0" + data
    return hmac.new(key, message, hashlib.sha256).hexdigest().encode()


_warned: set[str] = set()


def _entry_bytes(path: Path) -> bytes:
    """The bytes of the entry ``path`` once its keyed digest verifies, else raise.

    Entry and digest are two files, replaced one after the other: a digest that does
    not verify is read again once, a moment later, before the entry is refused.
    """
    for attempt in range(2):
        data = _open_private(path, _store.MAX_BYTES)
        try:
            mac = _open_private(_mac_path(path), 256)
        except FileNotFoundError:
            mac = b""
        if hmac.compare_digest(mac.strip(), _digest(path, data)):
            return data
        if attempt == 0:
            time.sleep(0.05)
    raise _store.ForeignEntryError(
        "its keyed digest does not verify: it was not written by your geotool, or changed since"
    )


def _read(path: Path, spec: Any) -> tuple[bool, object]:
    """``(True, value)`` for an entry of ``spec`` at ``path``; ``(False, None)`` otherwise."""
    try:
        return True, _store.decode(spec, _entry_bytes(path))
    except (FileNotFoundError, NotADirectoryError):
        return False, None
    except (OSError, _store.ForeignEntryError) as exc:  # never trusted: a miss, recomputed
        if str(path) not in _warned:
            _warned.add(str(path))
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            log(f"ignored the cache entry {path} ({reason}); computing it", logging.WARNING)
        return False, None


def _write(path: Path, spec: Any, value: Any) -> None:
    from geotool._atomic import write_atomic

    try:
        data = _store.encode(spec, value)
    except TypeError as exc:  # a result the declared layout does not describe: a bug
        log(f"not caching {path.name}: {exc}", logging.DEBUG)
        return
    try:
        mac = _digest(path, data)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
        write_atomic(_mac_path(path), mac)
        same_call = ".".join(path.name.split(".")[:-2])  # all fingerprints and formats
        for old in path.parent.glob(same_call + ".*"):
            if old not in (path, _mac_path(path)) and not old.name.startswith("."):
                old.unlink(missing_ok=True)  # older data, code or format
    except (OSError, _store.ForeignEntryError):  # a read-only home, a full disk: no cache
        pass


def _returns(fn: Callable[..., Any], given: Any) -> Any:
    """The layout of ``fn``'s results: ``given``, else its plain return annotation."""
    if given is not None:
        return given
    hint = typing.get_type_hints(fn).get("return")
    try:
        _store.check_spec(hint)
    except TypeError as exc:
        msg = f"{fn.__qualname__}: {exc}; declare the layout of its results with returns="
        raise TypeError(msg) from None
    return hint


def derived_cache(
    maxsize: int = 8, *, returns: Any = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """:func:`settings_cache` backed by a file per result in ``settings.cache_dir``.

    For pure functions of the bundled data whose arguments have a stable ``repr``
    (strings, numbers, tuples of them). Callers must not change what they get (return
    copies from a public wrapper). ``wrapper.cache_file(*args)`` is the file that holds
    (or would hold) ``wrapper(*args)``, ``None`` without a cache folder.

    Parameters
    ----------
    maxsize : int
        Results kept in memory.
    returns : optional
        The layout of the results (see :mod:`geotool._store`: ``Frame``, ``Array``,
        ``Record``...); default the return annotation, which must then be made of
        ``str``, ``int``, ``float``, ``bool``, ``list``, ``dict[str, ...]`` and tuples.

    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        layout: list[Any] = []  # resolved at the first call (annotations are strings)

        def cache_file(*args: Any) -> Path | None:
            if not layout:
                layout.append(_returns(fn, returns))
            return _disk_path(fn, args, layout[0])

        def on_disk(*args: Any) -> R:
            path = cache_file(*args)
            if path is not None:
                hit, value = _read(path, layout[0])
                if hit:
                    return value  # type: ignore[return-value]
            value = fn(*args)  # type: ignore[call-arg]
            if path is not None:
                _write(path, layout[0], value)
            return value

        on_disk.__name__ = fn.__name__
        cached = settings_cache(maxsize)(on_disk)
        cached.cache_file = cache_file  # type: ignore[attr-defined]
        return functools.wraps(fn)(cached)  # type: ignore[return-value]

    return decorate
