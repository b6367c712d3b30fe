"""Size limits on users' input files: decompression bombs and files too big to hold.

Every reader checks what it will hold against one limit (2 GiB; ``GEOTOOL_MAX_INPUT_BYTES``
or a reader's ``max_bytes=``): a file's size, a zip's declared and extracted sizes and
compression ratios, GeoParquet metadata, one feature per :data:`BYTES_PER_FEATURE` bytes,
and what a file expands to while it is streamed (:func:`check_expansion`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import struct
import zipfile
from pathlib import Path
from typing import Any

from geotool._errors import InputError
from geotool._text import short

__all__ = [
    "BYTES_PER_FEATURE", "DEFAULT_MAX_BYTES", "ENV", "MAX_RATIO", "check_expansion",
    "check_features", "check_parquet", "check_size", "check_zip", "extract", "human",
    "max_input_bytes", "parquet_bytes", "regular_file",
]  # fmt: skip

ENV = "GEOTOOL_MAX_INPUT_BYTES"  # bytes; "2GiB", "500MB" also read
DEFAULT_MAX_BYTES = 2 * 1024**3
MAX_RATIO = 500  # a zip member over 16 MiB that inflates more is a bomb
BYTES_PER_FEATURE = 256  # the most features a file may hold: one per this many bytes
_RATIO_FLOOR = 16 * 1024**2
_MAX_DIRECTORY = 16 * 1024**2  # a zip's central directory (~50 bytes a member) refused unparsed
# bytes a value of each Parquet physical type takes decoded (byte arrays: the offset)
_WIDTH = {"BOOLEAN": 1, "INT32": 4, "FLOAT": 4, "INT64": 8, "DOUBLE": 8, "INT96": 12}
_CHUNK = 1024**2
_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
          "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}  # fmt: skip


def human(size: float) -> str:
    """``size`` bytes for a message: ``3.0 GiB``, ``512 MiB``, ``900 bytes``."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}".replace(".0 ", " ")
    return f"{int(size):,} bytes"


def _parse(text: str) -> int | None:
    """Bytes from ``"2147483648"``, ``"2GiB"`` or ``"500 MB"``; ``None`` when unreadable."""
    body = text.strip().upper().replace(" ", "").replace("_", "")
    digits = body.rstrip("KMGTIB")
    unit = body[len(digits) :]
    try:
        value = float(digits)
    except ValueError:
        return None
    if unit not in _UNITS or not value > 0 or value == float("inf"):
        return None
    return int(value * _UNITS[unit])


def max_input_bytes(given: object = None, parameter: str = "max_bytes") -> int:
    """The limit: ``given`` (a reader's ``max_bytes=``), else the environment's, else 2 GiB."""
    if given is not None:
        if not (isinstance(given, int) and not isinstance(given, bool) and given > 0):
            raise InputError(f"{parameter}={given!r} must be a positive whole number of bytes.")
        return given
    text = os.environ.get(ENV, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    value = _parse(text)
    if value is None:
        raise InputError(
            f"The environment variable {ENV}={text[:40]!r} is not a size; set e.g. {ENV}=4GiB."
        )
    return value


def _override(parameter: str) -> str:
    python = f"; in Python, {parameter}=" if parameter else ""
    return f"set the environment variable {ENV} higher (e.g. {ENV}=8GiB{python})"


def regular_file(path: object, what: str, suffixes: tuple[str, ...] = ()) -> Path:
    """``path`` as a Path to a regular file (a device or pipe never ends), else refused.

    The message names ``path=``; a folder's files with ``suffixes`` are listed in it.
    """
    where = f"path={short(str(path), 120)!r}"
    try:
        path = Path(path)  # type: ignore[arg-type]
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(f"No file at {where}; check the path.") from None
    except PermissionError:
        msg = f"{where} cannot be reached: permission denied on a folder of its path."
        raise InputError(msg) from None
    except (OSError, ValueError, TypeError) as exc:  # name too long, NUL in the path, ...
        raise InputError(f"{where} is not a usable path ({short(exc)}); check the path.") from None
    if stat.S_ISDIR(mode):
        held = sorted(p.name for p in path.iterdir() if p.suffix.lower() in suffixes)[:5]
        hint = f" (it holds {', '.join(map(repr, held))})" if held else ""
        raise InputError(f"{where} is a folder{hint}; pass the path of {what}.")
    if not stat.S_ISREG(mode):
        raise InputError(f"{where} is not a regular file (a pipe, socket or device); pass {what}.")
    return path


def check_size(size: int, limit: int, where: str, what: str, parameter: str) -> None:
    """Refuse ``size`` bytes over ``limit``; ``what`` says what they are ("is", "declares")."""
    if size > limit:
        raise InputError(
            f"{where} {what} {human(size)}, over geotool's input limit of {human(limit)}; if "
            f"the file is genuine, {_override(parameter)}."
        )


def check_features(count: int, limit: int, where: str, parameter: str) -> int:
    """Refuse more than ``limit // BYTES_PER_FEATURE`` features; return that cap."""
    cap = max(1, limit // BYTES_PER_FEATURE)
    if count > cap:
        raise InputError(
            f"{where} holds {count:,} features or more, over geotool's limit of {cap:,} "
            f"(one per {BYTES_PER_FEATURE} bytes of the {human(limit)} input limit); if "
            f"the file is genuine, {_override(parameter)}."
        )
    return cap


def check_expansion(
    expanded: int, stored: int, limit: int, *, where: str, what: str, fix: str
) -> None:
    """Refuse ``expanded`` bytes read so far out of a file of ``stored`` bytes.

    Over ``limit`` is too big; over :data:`MAX_RATIO` times the file once past 16 MiB is
    a bomb. ``fix`` says what to do with a genuine file. Cheap enough to call per row.
    """
    if expanded <= _RATIO_FLOOR or expanded <= MAX_RATIO * stored:
        check_size(expanded, limit, where, f"{what} more than", "max_bytes")
        return
    raise InputError(
        f"{where} looks like a decompression bomb: it {what} more than {human(expanded)}, "
        f"over {MAX_RATIO} times the file's {human(stored)} (real data expands "
        f"under {MAX_RATIO} times; the input limit, {ENV} or max_bytes=, is "
        f"{human(limit)}); {fix}."
    )


def check_zip(
    members: list[zipfile.ZipInfo], limit: int, where: str, parameter: str, fix: str
) -> None:
    """Refuse members whose declared sizes pass ``limit``, or that inflate absurdly."""
    total = sum(m.file_size for m in members)
    check_size(total, limit, where, "declares (uncompressed)", parameter)
    for m in members:
        ratio = m.file_size / max(m.compress_size, 1)
        if m.file_size > _RATIO_FLOOR and ratio > MAX_RATIO:
            raise InputError(
                f"{where} looks like a decompression bomb: {m.filename[-60:]!r} inflates "
                f"{ratio:,.0f} times ({human(m.compress_size)} to {human(m.file_size)}; "
                f"real data inflates under {MAX_RATIO} times); {fix}."
            )


def extract(
    archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], folder: Path, *,
    limit: int, where: str, parameter: str,
) -> None:  # fmt: skip
    """Extract ``members`` (name: member) in chunks, stopping at ``limit`` bytes in all.

    Refused first when ``folder``'s disk has not the space their declared sizes need.
    """
    needed = sum(i.file_size for i in members.values())
    with contextlib.suppress(OSError):  # the free space unknown: try
        if shutil.disk_usage(folder).free <= needed:
            raise InputError(
                f"{where} needs {human(needed)} of temporary space to unzip, more than "
                f"{short(folder.parent)} has free; free space, or set TMPDIR to a folder on "
                "a larger disk."
            )
    written = 0
    for name, info in members.items():
        with archive.open(info) as src, (folder / name).open("wb") as dst:
            size = 0
            while chunk := src.read(_CHUNK):
                size += len(chunk)
                written += len(chunk)
                if size > info.file_size:
                    raise InputError(
                        f"{where} is corrupt or hostile: {info.filename[-60:]!r} holds more "
                        f"than the {human(info.file_size)} its directory declares; re-create "
                        "the zip from the original files."
                    )
                check_size(written, limit, where, "inflates to more than", parameter)
                dst.write(chunk)


def check_zip_directory(path: Path, where: str) -> None:
    """Refuse a zip whose directory alone (its list of members) is too big to parse.

    Its size is read from the zip's end record (ZIP64 too).
    """
    with path.open("rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - 65_557))  # the end record, and a comment
        tail = f.read()
        at, size = tail.rfind(b"PK\x05\x06"), 0
        if at >= 0 and len(tail) >= at + 22:
            size = struct.unpack("<I", tail[at + 12 : at + 16])[0]
        if size == 0xFFFFFFFF and at >= 20 and tail[at - 20 : at - 16] == b"PK\x06\x07":
            f.seek(struct.unpack("<Q", tail[at - 12 : at - 4])[0])  # the ZIP64 end record
            record = f.read(56)
            ok = len(record) == 56 and record[:4] == b"PK\x06\x06"
            size = struct.unpack("<Q", record[40:48])[0] if ok else 0
    if size > _MAX_DIRECTORY:
        raise InputError(
            f"{where} lists {human(size)} of member names (hundreds of thousands of files), "
            f"over geotool's limit of {human(_MAX_DIRECTORY)}; zip only the files to read."
        )


def _decoded_bytes(source: Any, columns: list[str]) -> int:
    """Bytes the dictionary-encoded byte-array ``columns`` take decoded, read compactly."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(source, columns=columns, read_dictionary=columns)
    total = 0
    for column in table.columns:
        for chunk in column.chunks:
            if isinstance(chunk, pa.DictionaryArray):
                lengths = pc.binary_length(chunk.dictionary)
                total += int(pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0)
            else:
                total += chunk.nbytes
    return total


def parquet_bytes(source: Any, limit: int) -> tuple[int, int]:
    """Bytes a Parquet file (a path or a binary file object) declares and decodes to.

    A column chunk counts its uncompressed size, or its values times their width when
    more; a dictionary-encoded byte-array column that could decode past ``limit`` is
    read as dictionary and indices (small) and its decoded size added.
    """
    import pyarrow.parquet as pq

    meta: Any = pq.ParquetFile(source).metadata
    declared, risky = 0, set()
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            col = group.column(c)
            size = col.total_uncompressed_size
            declared += max(size, col.num_values * _WIDTH.get(col.physical_type, 4))
            dictionary = col.physical_type == "BYTE_ARRAY" and col.has_dictionary_page
            if dictionary and col.num_values * size > limit and "." not in col.path_in_schema:
                risky.add(col.path_in_schema)
    if declared > limit or not risky:
        return declared, declared
    return declared, declared + _decoded_bytes(source, sorted(risky))


#: The most columns geotool reads from a table or a geometry file's attributes.
MAX_COLUMNS = 10_000


def check_columns(columns: int, where: str) -> None:
    """Refuse a table or layer of more than :data:`MAX_COLUMNS` columns (fields)."""
    if columns > MAX_COLUMNS:
        raise InputError(
            f"{where} has {columns:,} columns, over the {MAX_COLUMNS:,} geotool reads: give "
            "a table with a row per unit (and year) and a column per variable; keep only the "
            "columns you need."
        )


def check_parquet(path: Path, limit: int, where: str, parameter: str) -> int:
    """Refuse a Parquet file that declares or decodes past ``limit``; return the feature cap."""
    import pyarrow.parquet as pq

    meta: Any = pq.ParquetFile(path).metadata
    check_columns(int(meta.num_columns), where)
    cap = check_features(meta.num_rows, limit, where, parameter)
    declared, decoded = parquet_bytes(path, limit)
    check_size(declared, limit, where, "declares (uncompressed)", parameter)
    check_size(decoded, limit, where, "decodes to", parameter)
    return cap
