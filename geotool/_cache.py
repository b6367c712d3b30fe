"""Caches keyed by the settings they read, in memory and (derived layers) on disk as data.

:func:`derived_cache` keeps results in ``settings.cache_dir``, named by a digest of the
call, geotool's version, the CRS settings and every data and code file's size and time.
The folder may be shared: entries are JSON, ``.npz`` or Parquet (never pickle: unpickling
runs code), read back against a declared layout (a *spec*), and signed with an HMAC-SHA256
(a ``.mac`` beside each) under a key only this user can read (``<user
config>/geotool/cache-key``, mode 0600). An entry that does not verify or match its spec,
or a Parquet entry decoding to over :data:`MAX_INFLATION` times its size, is a miss
(:class:`ForeignEntryError`), logged once; a key that cannot be used turns the disk cache
off, said once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import hmac
import io
import json
import logging
import math
import os
import secrets
import stat
import time
import typing
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import numpy as np
import pandas as pd
import platformdirs

from geotool import _atomic, _limits, settings
from geotool._log import log

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "JSON", "Array", "ForeignEntryError", "Frame", "Labels", "Record", "Sparse", "decode",
    "derived_cache", "encode", "settings_cache",
]  # fmt: skip

#: Largest entry read (bytes, also the largest total an .npz may expand to).
MAX_BYTES = 512 << 20
#: Largest number of rows a Parquet entry may declare.
MAX_ROWS = 20_000_000
#: A Parquet entry may decode to this many times its size (geotool's own: under 10)...
MAX_INFLATION = 50
#: ...or to this many bytes, whichever is more (and never more than :data:`MAX_BYTES`).
INFLATION_FLOOR = 16 << 20


class ForeignEntryError(ValueError):
    """A stored entry is not of the declared layout (foreign, corrupt or truncated)."""


@dataclass(frozen=True)
class Array:
    """A NumPy array of ``dtype`` and ``shape`` (``None`` for any length on that axis)."""

    dtype: str
    shape: tuple[int | None, ...]


@dataclass(frozen=True)
class Frame:
    """A DataFrame's ``columns`` (name -> dtype, in order) and ``index`` (name, dtype).

    Dtypes: ``"str"``, ``"int64"``, ``"float64"``, ``"bool"``, ``"geometry"`` (a
    GeoDataFrame), ``"object"`` (JSON cells); index dtype ``"range"``: a ``RangeIndex``.
    """

    columns: dict[str, str]
    index: tuple[str | None, str] = (None, "range")


@dataclass(frozen=True)
class Sparse:
    """A ``scipy.sparse.csr_matrix`` of ``dtype`` (square when ``square``)."""

    dtype: str = "float64"
    square: bool = True


@dataclass(frozen=True)
class Labels:
    """A ``pandas.Index`` of strings named ``name``."""

    name: str | None = None


@dataclass(frozen=True)
class Record:
    """An instance of dataclass ``cls`` built from ``fields`` (name -> spec)."""

    cls: type
    fields: dict[str, Any]


class _Json:
    """Any JSON value (objects with string keys, lists, strings, numbers, None)."""

    def __repr__(self) -> str:
        return "JSON"


JSON = _Json()


def check_spec(spec: Any) -> None:
    """Raise ``TypeError`` unless ``spec`` is a layout this module can store."""
    if isinstance(spec, Frame | Array | Sparse | Labels) or spec is JSON:
        return
    if isinstance(spec, Record) and not dataclasses.is_dataclass(spec.cls):
        raise TypeError(f"Record needs a dataclass, got {spec.cls!r}")
    if isinstance(spec, Record | tuple):
        for s in spec.fields.values() if isinstance(spec, Record) else spec:
            check_spec(s)
        return
    if spec in (str, int, float, bool):
        return
    origin, args = typing.get_origin(spec), typing.get_args(spec)
    if origin is dict and args[0] is str:
        return check_spec(args[1])
    if origin is list or (origin is tuple and args[1:] == (Ellipsis,)):
        return check_spec(args[0])
    raise TypeError(f"no stored form for {spec!r}")


def suffix(spec: Any) -> str:
    """The file suffix of entries of ``spec``: ``parquet``, ``npz`` or ``json``."""
    if isinstance(spec, Frame):
        return "parquet"
    return "npz" if _has_arrays(spec) else "json"


def _has_arrays(spec: Any) -> bool:
    if isinstance(spec, Array | Sparse):
        return True
    if isinstance(spec, Record | tuple):
        return any(map(_has_arrays, spec.fields.values() if isinstance(spec, Record) else spec))
    return any(_has_arrays(a) for a in typing.get_args(spec) if a is not Ellipsis)


def encode(spec: Any, value: Any) -> bytes:
    """``value`` as the bytes of an entry of ``spec`` (``TypeError`` if it does not fit)."""
    if isinstance(spec, Frame):
        return _frame_bytes(spec, value)
    arrays: list[np.ndarray] = []
    tree = json.dumps(_to_tree(spec, value, arrays), ensure_ascii=False, allow_nan=True)
    if not _has_arrays(spec):
        return tree.encode("utf-8")
    buffer = io.BytesIO()
    members: dict[str, Any] = {f"a{i}": a for i, a in enumerate(arrays)}
    members["tree"] = np.frombuffer(tree.encode("utf-8"), dtype=np.uint8)
    np.savez(buffer, **members)
    return buffer.getvalue()


def decode(spec: Any, data: bytes) -> Any:
    """The value held by ``data``, an entry of ``spec``; :class:`ForeignEntryError` if not."""
    try:
        if len(data) > MAX_BYTES:
            raise ForeignEntryError(f"{len(data)} bytes, more than any entry holds")
        if isinstance(spec, Frame):
            return _frame_from_bytes(spec, data)
        if not _has_arrays(spec):
            return _from_tree(spec, json.loads(data.decode("utf-8")), [])
        arrays, tree = _npz(data)
        return _from_tree(spec, tree, arrays)
    except ForeignEntryError:
        raise
    except Exception as exc:  # any parser's complaint about a file: not ours
        msg = f"unreadable ({type(exc).__name__}: {str(exc)[:120]})"
        raise ForeignEntryError(msg) from exc


def _npz(data: bytes) -> tuple[list[np.ndarray], Any]:
    """The arrays ``a0``, ``a1``... and the JSON tree of an ``.npz`` entry."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        if sum(i.file_size for i in infos) > MAX_BYTES:
            raise ForeignEntryError("its arrays would expand beyond any entry's size")
        names = {i.filename for i in infos}
    wanted = {"tree.npy"} | {f"a{i}.npy" for i in range(len(names) - 1)}
    if names != wanted:
        raise ForeignEntryError(f"members {sorted(names)[:6]} are not an entry's")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        tree_bytes = npz["tree"]
        if tree_bytes.dtype != np.uint8 or tree_bytes.ndim != 1:
            raise ForeignEntryError("its tree is not UTF-8 text")
        arrays = [npz[f"a{i}"] for i in range(len(names) - 1)]
    return arrays, json.loads(tree_bytes.tobytes().decode("utf-8"))


def _fail(spec: Any, got: object) -> ForeignEntryError:
    return ForeignEntryError(f"expected {spec!r}, found {type(got).__name__}")


def _to_tree(spec: Any, value: Any, arrays: list[np.ndarray]) -> Any:
    """JSON for ``value`` of ``spec``; arrays go to ``arrays`` (their index in the tree)."""
    try:
        return _from_tree(spec, value, arrays, encoding=True)
    except ForeignEntryError as exc:
        raise TypeError(f"cannot store the value: {exc}") from exc


def _from_tree(spec: Any, tree: Any, arrays: list[np.ndarray], *, encoding: bool = False) -> Any:
    """The value of ``spec`` held by JSON ``tree`` (or, ``encoding``, ``tree``'s JSON form)."""
    if isinstance(spec, Array | Sparse | Labels | Record):
        return _special(spec, tree, arrays, encoding)
    if spec is JSON:
        return _json_value(tree)
    if spec in (str, int, float, bool):
        if type(tree) is not spec:
            raise _fail(spec, tree)
        return tree
    if isinstance(spec, tuple):
        if not isinstance(tree, tuple if encoding else list) or len(tree) != len(spec):
            raise _fail(spec, tree)
        pairs = zip(spec, tree, strict=True)
        items = [_from_tree(s, t, arrays, encoding=encoding) for s, t in pairs]
        return items if encoding else tuple(items)
    origin, args = typing.get_origin(spec), typing.get_args(spec)
    if origin is dict and args[0] is str:
        if not isinstance(tree, dict) or not all(isinstance(k, str) for k in tree):
            raise _fail(spec, tree)
        return {k: _from_tree(args[1], v, arrays, encoding=encoding) for k, v in tree.items()}
    if origin in (list, tuple) and (origin is list or args[1:] == (Ellipsis,)):
        if not isinstance(tree, origin if encoding else list):
            raise _fail(spec, tree)
        items = [_from_tree(args[0], t, arrays, encoding=encoding) for t in tree]
        return items if encoding or origin is list else tuple(items)
    raise TypeError(f"no stored form for {spec!r}")


def _json_value(tree: Any, depth: int = 0) -> Any:
    """``tree`` if it is plain JSON (string keys; no other types), else raise."""
    if depth > 50:
        raise ForeignEntryError("nested too deeply")
    if tree is None or type(tree) in (str, int, float, bool):
        return tree
    if type(tree) is list:
        return [_json_value(t, depth + 1) for t in tree]
    if type(tree) is dict and all(type(k) is str for k in tree):
        return {k: _json_value(v, depth + 1) for k, v in tree.items()}
    raise _fail("JSON", tree)


def _array(spec: Array, value: object) -> np.ndarray:
    """``value`` if it is an array of ``spec``'s dtype and shape, else raise."""
    if not isinstance(value, np.ndarray) or value.dtype != np.dtype(spec.dtype):
        raise _fail(spec, value)
    pairs = zip(value.shape, spec.shape, strict=False)
    if value.ndim != len(spec.shape) or any(w is not None and h != w for h, w in pairs):
        raise ForeignEntryError(f"expected {spec!r}, found shape {value.shape}")
    return value


def _special(spec: Any, tree: Any, arrays: list[np.ndarray], encoding: bool) -> Any:
    """Arrays, sparse matrices, labels and records (see the module docstring)."""
    if isinstance(spec, Array):
        if encoding:
            arrays.append(_array(spec, tree))
            return len(arrays) - 1
        if type(tree) is not int or not 0 <= tree < len(arrays):
            raise _fail(spec, tree)
        return _array(spec, arrays[tree])
    if isinstance(spec, Labels):
        return _labels(spec, tree, encoding)
    if isinstance(spec, Sparse):
        return _sparse(spec, tree, arrays, encoding)
    if encoding:
        if type(tree) is not spec.cls:
            raise _fail(spec, tree)
        parts = {name: getattr(tree, name) for name in spec.fields}
        return {k: _from_tree(s, parts[k], arrays, encoding=True) for k, s in spec.fields.items()}
    if not isinstance(tree, dict) or set(tree) != set(spec.fields):
        raise _fail(spec, tree)
    parts = {k: _from_tree(s, tree[k], arrays) for k, s in spec.fields.items()}
    init = {f.name for f in dataclasses.fields(spec.cls) if f.init}
    return spec.cls(**{k: v for k, v in parts.items() if k in init})


def _labels(spec: Labels, tree: Any, encoding: bool) -> Any:
    if encoding:
        if not isinstance(tree, pd.Index) or tree.name != spec.name:
            raise _fail(spec, tree)
        values = tree.tolist()
        if not all(type(v) is str for v in values):
            raise ForeignEntryError("labels must be strings")
        return values
    if not isinstance(tree, list) or not all(type(v) is str for v in tree):
        raise _fail(spec, tree)
    return pd.Index(tree, dtype="str", name=spec.name)


def _sparse(spec: Sparse, tree: Any, arrays: list[np.ndarray], encoding: bool) -> Any:
    import scipy.sparse as sp

    parts = (Array(spec.dtype, (None,)), Array("int32", (None,)), Array("int32", (None,)))
    if encoding:
        if not isinstance(tree, sp.csr_matrix | sp.csr_array):
            raise _fail(spec, tree)
        stored = (tree.data, tree.indices.astype(np.int32), tree.indptr.astype(np.int32))
        return [_from_tree(parts, stored, arrays, encoding=True), list(tree.shape)]
    if not isinstance(tree, list) or len(tree) != 2:
        raise _fail(spec, tree)
    data, indices, indptr = _from_tree(parts, tree[0], arrays)
    shape = _from_tree((int, int), tree[1], arrays)
    if min(shape) < 0 or (spec.square and shape[0] != shape[1]) or math.prod(shape) > 1 << 62:
        raise ForeignEntryError(f"a matrix of shape {shape} is not of {spec!r}")
    matrix = sp.csr_matrix((data, indices, indptr), shape=shape)
    matrix.check_format(full_check=True)  # ValueError for inconsistent arrays
    return matrix


# -- frames: Parquet, its own pandas metadata neither written nor read ------------------
_INDEX = "__index__"
_ARROW = {  # the Arrow type stored for each dtype (objects: JSON text; geometry: WKB)
    "str": "string", "object": "string", "int64": "int64", "float64": "float64",
    "bool": "bool", "geometry": "binary",
}  # fmt: skip


def _layout(spec: Frame) -> list[tuple[str, str]]:
    """(stored name, dtype) of every stored column: the index first unless a range."""
    dtype = spec.index[1]
    index = [] if dtype == "range" else [(_INDEX, dtype)]
    return index + list(spec.columns.items())


def _check_frame(spec: Frame, value: Any) -> None:
    import geopandas as gpd
    import pyproj

    geo = "geometry" in spec.columns.values()
    if type(value) is not (gpd.GeoDataFrame if geo else pd.DataFrame):
        raise TypeError(f"expected a {'Geo' if geo else ''}DataFrame, got {type(value).__name__}")
    have = {str(k): str(v) for k, v in value.dtypes.items()}
    if list(value.columns) != list(spec.columns) or have != spec.columns:
        raise TypeError(f"columns {have} are not the declared {spec.columns}")
    name, dtype = spec.index
    index = value.index
    if dtype == "range":
        if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
            raise TypeError("expected the default RangeIndex")
    elif index.name != name or str(index.dtype) != dtype:
        raise TypeError(f"index {index.name} ({index.dtype}) is not the declared {spec.index}")
    if geo and value.crs != pyproj.CRS.from_user_input(settings.default_crs):
        raise TypeError(f"CRS {value.crs} is not settings.default_crs")


def _column_out(values: Any, dtype: str) -> pa.Array:
    """One column's values as the Arrow array stored for ``dtype``."""
    import pyarrow as pa

    if dtype == "geometry":
        import shapely

        return pa.array(shapely.to_wkb(np.asarray(values, dtype=object)), type=pa.binary())
    if dtype == "object":
        cells = []
        for v in values:
            text = json.dumps(v, ensure_ascii=False, allow_nan=True)
            decode(JSON, text.encode("utf-8"))  # plain JSON only (no numpy scalars)
            cells.append(text)
        return pa.array(cells, type=pa.string())
    if dtype == "str":
        strings = [None if pd.isna(v) else v for v in values]
        return pa.array(strings, type=pa.string())
    return pa.array(np.asarray(values), type=pa.type_for_alias(_ARROW[dtype]))


def _frame_bytes(spec: Frame, value: Any) -> bytes:
    """``value`` (checked against ``spec``, ``TypeError`` if it differs) as Parquet bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _check_frame(spec, value)
    arrays, names = [], []
    for stored, dtype in _layout(spec):
        values = value.index if stored == _INDEX else value[stored]
        try:
            arrays.append(_column_out(values, dtype))
        except (ValueError, TypeError, pa.ArrowException) as exc:
            raise TypeError(f"cannot store column {stored!r} as {dtype}: {exc}") from exc
        names.append(stored)
    meta = {"format": "geotool-frame/1", "crs": settings.default_crs}
    table = pa.Table.from_arrays(arrays, names=names)
    table = table.replace_schema_metadata({b"geotool": json.dumps(meta).encode()})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _column_in(column: pa.ChunkedArray, dtype: str, name: str) -> Any:
    """The values of a stored column of ``dtype`` (checked), for a pandas column."""
    import pyarrow as pa

    if column.type != pa.type_for_alias(_ARROW[dtype]):
        raise ForeignEntryError(f"column {name!r} is {column.type}, not {dtype}")
    if dtype not in ("str", "geometry") and column.null_count:
        raise ForeignEntryError(f"column {name!r} has missing values")
    if dtype == "geometry":
        import shapely

        return shapely.from_wkb(column.to_numpy(zero_copy_only=False))
    if dtype == "object":  # one parse: the cells joined as one JSON list
        cells = decode(JSON, ("[" + ",".join(column.to_pylist()) + "]").encode("utf-8"))
        if len(cells) != len(column):
            raise ForeignEntryError(f"column {name!r} holds cells that are not one JSON value")
        return cells
    if dtype == "str":
        return pd.array(column.to_numpy(zero_copy_only=False), dtype="str")
    return column.to_numpy()


def _frame_from_bytes(spec: Frame, data: bytes) -> Any:
    """The frame of ``spec`` held by Parquet ``data``; :class:`ForeignEntryError` if not."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(io.BytesIO(data))
    if parquet.metadata.num_rows > MAX_ROWS:
        raise ForeignEntryError(f"{parquet.metadata.num_rows} rows, more than any entry holds")
    allowed = min(MAX_BYTES, max(INFLATION_FLOOR, MAX_INFLATION * len(data)))
    declared, decoded = _limits.parquet_bytes(io.BytesIO(data), allowed)
    if max(declared, decoded) > allowed:  # a dictionary or run-length bomb
        raise ForeignEntryError(
            f"it decodes to {_limits.human(max(declared, decoded))}, more than geotool "
            f"writes in {_limits.human(len(data))} (at most {_limits.human(allowed)})"
        )
    table = parquet.read(use_pandas_metadata=False)
    layout = _layout(spec)
    if table.column_names != [stored for stored, _ in layout]:
        raise ForeignEntryError(f"columns {table.column_names[:12]} are not the declared ones")
    meta = json.loads((table.schema.metadata or {}).get(b"geotool", b"{}"))
    if not isinstance(meta, dict) or meta.get("format") != "geotool-frame/1":
        raise ForeignEntryError("not a geotool frame")
    columns = {stored: _column_in(table.column(stored), dtype, stored) for stored, dtype in layout}
    name, dtype = spec.index
    if dtype == "range":
        index: pd.Index = pd.RangeIndex(table.num_rows)
    else:
        index = pd.Index(columns.pop(_INDEX), dtype=dtype, name=name)
    typed = {k: None if t == "geometry" else t for k, t in spec.columns.items()}
    frame = pd.DataFrame(
        {k: pd.Series(v, index=index, dtype=typed[k]) for k, v in columns.items()}, index=index
    )
    if "geometry" not in spec.columns.values():
        return frame
    import geopandas as gpd

    if meta.get("crs") != settings.default_crs:
        raise ForeignEntryError(f"CRS {str(meta.get('crs'))[:60]!r} is not settings.default_crs")
    geometry = next(k for k, v in spec.columns.items() if v == "geometry")
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=settings.default_crs)


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
            raise ForeignEntryError("not a regular file")
        if st.st_size > size:
            raise ForeignEntryError("larger than any entry")
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
    return Path(folder) / "derived" / f"{stem}.{suffix(spec)}"  # type: ignore[arg-type]


def _mac_path(path: Path) -> Path:
    return path.with_name(path.name + ".mac")


def _digest(path: Path, data: bytes) -> bytes:
    """The keyed digest of the entry ``data`` named ``path`` (hex, as its ``.mac`` holds)."""
    key = _secret()
    if key is None:
        raise ForeignEntryError("no cache key")
    return hmac.new(key, path.name.encode() + b"\0" + data, hashlib.sha256).hexdigest().encode()


_warned: set[str] = set()


def _entry_bytes(path: Path) -> bytes:
    """The bytes of the entry ``path`` once its keyed digest verifies, else raise.

    Entry and digest are replaced one after the other: a digest that does not verify is
    read again once, a moment later, before the entry is refused.
    """
    for attempt in range(2):
        data = _read_private(path, MAX_BYTES)[0]
        try:
            mac = _read_private(_mac_path(path), 256)[0]
        except FileNotFoundError:
            mac = b""
        if hmac.compare_digest(mac.strip(), _digest(path, data)):
            return data
        if attempt == 0:
            time.sleep(0.05)
    raise ForeignEntryError(
        "its keyed digest does not verify: it was not written by your geotool, or changed since"
    )


def _read(path: Path, spec: Any) -> tuple[bool, object]:
    """``(True, value)`` for an entry of ``spec`` at ``path``; ``(False, None)`` otherwise."""
    try:
        return True, decode(spec, _entry_bytes(path))
    except (FileNotFoundError, NotADirectoryError):
        return False, None
    except (OSError, ForeignEntryError) as exc:  # never trusted: a miss, recomputed
        if str(path) not in _warned:
            _warned.add(str(path))
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            log(f"ignored the cache entry {path} ({reason}); computing it", logging.WARNING)
        return False, None


def _write(path: Path, spec: Any, value: Any) -> None:
    try:
        data = encode(spec, value)
    except TypeError as exc:  # a result the declared layout does not describe: a bug
        log(f"not caching {path.name}: {exc}", logging.DEBUG)
        return
    with contextlib.suppress(OSError, ForeignEntryError):  # read-only, full: no cache
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
        check_spec(hint)
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
    results (the specs above), default the return annotation (``str``, ``int``,
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
