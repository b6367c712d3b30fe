"""Caches keyed by the settings they read, in memory and (derived layers) on disk.

:func:`derived_cache` keeps results in ``settings.cache_dir``, named by a digest of the
call, geotool's version, the CRS settings and every data and code file's size and time.
The folder may be shared: entries are data only (:mod:`geotool._store`) and signed with an
HMAC-SHA256 (a ``.mac`` beside each) under a key only this user can read
(``<user config>/geotool/cache-key``, mode 0600). Anything that does not verify is a miss,
logged once; a key that cannot be used turns the disk cache off, said once.
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

import platformdirs

from geotool import _atomic, _store, settings
from geotool._log import log
from geotool._store import JSON, Array, Frame, Labels, Record, Sparse

__all__ = [
    "JSON", "Array", "Frame", "Labels", "Record", "Sparse", "derived_cache", "settings_cache",
]  # fmt: skip

P = ParamSpec("P")
R = TypeVar("R")
_PACKAGE = Path(__file__).resolve().parent
_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def settings_cache(maxsize: int = 8) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """An ``lru_cache`` (arguments hashable, by position) keyed also by the data folders.

    ``wrapper.cache_clear()`` empties the cache.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.lru_cache(maxsize=maxsize)
        def inner(key: tuple[str, str], *args: Any) -> R:
            return fn(*args)  # type: ignore[call-arg]

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if kwargs:
                raise TypeError(f"{fn.__name__} is cached: pass its arguments by position.")
            return inner((str(settings.data_dir), str(settings.boundaries_dir)), *args)

        wrapper.cache_clear = inner.cache_clear  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _fingerprint() -> str:
    """A digest of everything a derived layer may depend on (see the module docstring)."""
    crs = (settings.default_crs, settings.equal_area_crs)
    return _fingerprint_of(str(settings.data_dir), str(settings.boundaries_dir), crs)


@functools.lru_cache(maxsize=8)
def _fingerprint_of(data_dir: str, boundaries_dir: str, crs: tuple[str, str]) -> str:
    """:func:`_fingerprint`, once per process and settings."""
    from geotool._version import __version__

    parts: list[object] = [__version__, crs]
    for folder, pattern in ((data_dir, "**/*"), (boundaries_dir, "*"), (_PACKAGE, "**/*.py")):
        files = []
        for path in sorted(Path(folder).glob(pattern)):
            with contextlib.suppress(OSError):
                st = path.stat()
                if path.is_file():
                    files.append((str(path.relative_to(folder)), st.st_size, st.st_mtime_ns))
        parts += [str(folder), files]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _read_private(path: Path, size: int) -> tuple[bytes, os.stat_result]:
    """At most ``size`` bytes of the regular file ``path`` (never a link, FIFO or device)."""
    with os.fdopen(os.open(path, _FLAGS | getattr(os, "O_CLOEXEC", 0)), "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise _store.ForeignEntryError("not a regular file")
        if st.st_size > size:
            raise _store.ForeignEntryError("larger than any entry")
        return fh.read(size + 1), st


def _read_key(path: Path) -> bytes:
    """The key in ``path``; ``ValueError`` unless it is 32 bytes only its owner can read."""
    key, st = _read_private(path, 1024)
    if os.name == "posix" and (st.st_uid != os.getuid() or st.st_mode & 0o077):
        raise ValueError("not yours alone: it must be owned by you and mode 0600")
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
    path = platformdirs.user_config_path("geotool") / "cache-key"
    if not path.is_absolute():  # no home folder
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
    key = None if folder is None else _secret()
    if key is None:
        return None
    name = f"{fn.__module__}.{fn.__qualname__}"
    call = hashlib.sha256(repr((name, args)).encode()).hexdigest()[:16]
    key_id = hashlib.sha256(b"geotool cache key id\0" + key).hexdigest()
    where = (str(_PACKAGE), str(settings.data_dir), str(settings.boundaries_dir), key_id)
    install = hashlib.sha256(repr(where).encode()).hexdigest()[:8]
    stem = f"{name}.{call}.{install}.{_fingerprint()[:24]}"
    return Path(folder) / "derived" / f"{stem}.{_store.suffix(spec)}"  # type: ignore[arg-type]


def _mac_path(path: Path) -> Path:
    return path.with_name(path.name + ".mac")


def _digest(path: Path, data: bytes) -> bytes:
    """The keyed digest of the entry ``data`` named ``path`` (hex, as its ``.mac`` holds)."""
    key = _secret()
    if key is None:
        raise _store.ForeignEntryError("no cache key")
    return hmac.new(key, path.name.encode() + b"\0" + data, hashlib.sha256).hexdigest().encode()


_warned: set[str] = set()


def _entry_bytes(path: Path) -> bytes:
    """The bytes of the entry ``path`` once its keyed digest verifies, else raise.

    Entry and digest are replaced one after the other: a digest that does not verify is
    read again once, a moment later, before the entry is refused.
    """
    for attempt in range(2):
        data = _read_private(path, _store.MAX_BYTES)[0]
        try:
            mac = _read_private(_mac_path(path), 256)[0]
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
    try:
        data = _store.encode(spec, value)
    except TypeError as exc:  # a result the declared layout does not describe: a bug
        log(f"not caching {path.name}: {exc}", logging.DEBUG)
        return
    with contextlib.suppress(OSError, _store.ForeignEntryError):  # read-only, full: no cache
        mac = _digest(path, data)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic.write_atomic(path, data)  # looked up at the call: tests replace it
        _atomic.write_atomic(_mac_path(path), mac)
        same_call = ".".join(path.name.split(".")[:-2])  # all fingerprints and formats
        for old in path.parent.glob(same_call + ".*"):
            if old not in (path, _mac_path(path)) and not old.name.startswith("."):
                old.unlink(missing_ok=True)  # older data, code or format


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

    For pure functions of the bundled data whose arguments have a stable ``repr``; callers
    must not change what they get. ``wrapper.cache_file(*args)`` is the file of
    ``wrapper(*args)`` (``None`` without a cache folder). ``returns`` is the layout of the
    results (:mod:`geotool._store`), default the return annotation (``str``, ``int``,
    ``float``, ``bool``, ``list``, ``dict[str, ...]`` and tuples).
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
