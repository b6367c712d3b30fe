"""Results kept on disk as data only: JSON, NumPy ``.npz`` and Parquet, never pickle.

The derived-layer cache may live in a folder others can write, and unpickling runs code:
entries are read back against a declared layout (a *spec*), never against what the file
says of itself. Anything that does not match, or a Parquet entry decoding to over
:data:`MAX_INFLATION` times its size (340 KB of one value can decode to 3 GiB), raises
:class:`ForeignEntryError` (a cache miss).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import typing
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from geotool import _limits, settings

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "JSON", "Array", "ForeignEntryError", "Frame", "Labels", "Record", "Sparse", "check_spec",
    "decode", "encode", "suffix",
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
