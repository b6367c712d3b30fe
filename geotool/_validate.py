"""Validators for user arguments: a cleaned value, or a one-line :class:`InputError`.

Messages name the parameter, the value received (bounded by :func:`geotool._text.short`)
and the fix.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import numbers
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from decimal import ROUND_CEILING, Decimal, localcontext
from pathlib import Path

import numpy as np
import pandas as pd

from geotool._errors import InputError
from geotool._log import log
from geotool._text import short

__all__ = [
    "MAX_PERMUTATIONS", "MAX_VALUE", "MEMORY_LIMIT_BYTES", "alpha", "classes", "finite_values",
    "output_dir", "output_file", "permutations", "safe_filename", "seed", "share",
    "share_at_least", "year_labels",
]  # fmt: skip

MIN_PERMUTATIONS = 99  # the fewest that can give p = 0.01: p >= 1 / (P + 1)
MAX_PERMUTATIONS = 99_999
MEMORY_LIMIT_BYTES = 4 * 2**30
MAX_VALUE = 1e150  # squares (1e300) summed over units stay finite
MAX_SEED = 2**32 - 1
MAX_PROJECTED_METRES = 1e8  # 2.5 times the equator; Gauss-Krueger eastings reach 4.5e7
_SLACK_DEGREES = 1e-6  # rounding at the poles and the antimeridian
_FILENAME_BYTES = 120
_WINDOWS_RESERVED = re.compile(r"(?i)^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$")
_UNSAFE_CHARS = re.compile(r'[/\\<>:"|?*]')
_CN_DIGITS = str.maketrans("〇零一二三四五六七八九", "00123456789")
_YEAR = re.compile(r"[0-9]{1,4}(\.0*)?")
_MIN_YEAR, _MAX_YEAR = 1000, 9999


def _show(value: object) -> str:
    """``value`` as a message quotes it: repr-like, one line, bounded."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_):
        return _int_text(int(value))
    try:
        return short(repr(value) if isinstance(value, str) else value)
    except Exception:  # a value whose str() fails
        return f"<{type(value).__name__}>"


def _int_text(number: int) -> str:
    """``number`` with thousands separators; a huge one by its size (str() refuses those)."""
    if abs(number) < 10**18:
        return f"{number:,}"
    return f"{'-' if number < 0 else ''}(a {number.bit_length()}-bit number)"


def _integer(value: object, name: str) -> int:
    """``value`` as an int: ints and integral floats, never bools or strings."""
    if isinstance(value, bool | np.bool_):
        raise InputError(f"{name}={value}: pass a whole number, not a boolean.")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        return int(float(value))
    raise InputError(f"{name}={_show(value)} ({type(value).__name__}): pass a whole number.")


def _real(value: object, name: str) -> float:
    """``value`` as a finite float: ints and floats, never bools, strings, NaN or inf."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise InputError(f"{name}={_show(value)} ({type(value).__name__}): pass a number.")
    try:
        number = float(value)
    except (OverflowError, ValueError):
        raise InputError(f"{name}={_show(value)}: too large; pass a finite number.") from None
    if not math.isfinite(number):
        raise InputError(f"{name}={number}: pass a finite number.")
    return number


def permutations(
    value: object,
    *,
    n_units: int,
    name: str = "permutations",
    block: int | None = None,
    cap: int = MAX_PERMUTATIONS,
    memory_limit: int = MEMORY_LIMIT_BYTES,
) -> int:
    """Check a number of permutations: 0 (analytical p-values only), or 99 to ``cap``.

    ``n_units * min(permutations, block) * 8`` bytes must stay under ``memory_limit``.

    >>> permutations(999, n_units=1861)
    999
    """
    count = _integer(value, name)
    if count < 0:
        raise InputError(
            f"{name}={_int_text(count)}: must not be negative; use 0 for analytical only or >= 99."
        )
    if 0 < count < MIN_PERMUTATIONS:
        raise InputError(
            f"{name}={count}: fewer than 99 permutations cannot give p <= 0.01; "
            "use 0 for analytical only or >= 99."
        )
    if count > cap:
        raise InputError(
            f"{name}={_int_text(count)}: more than the cap of {cap:,}; use {cap:,} or fewer "
            "(999 or 9,999 are usual)."
        )
    held = count if block is None else min(count, max(1, int(block)))
    estimate = max(0, int(n_units)) * held * 8
    if estimate > memory_limit:
        raise InputError(
            f"{name}={count:,}: over {n_units:,} units the permutations would need about "
            f"{estimate / 2**30:.1f} GiB ({n_units:,} x {held:,} x 8 bytes), more than the "
            f"limit of {memory_limit / 2**30:.1f} GiB; use fewer permutations."
        )
    return count


def seed(value: object, *, name: str = "seed") -> int:
    """Check a random seed: a whole number from 0 to 2**32 - 1 (R and GeoDa reproduce it)."""
    number = _integer(value, name)
    if not 0 <= number <= MAX_SEED:
        raise InputError(
            f"{name}={_int_text(number)}: use a whole number from 0 to {MAX_SEED:,} (2**32 - 1)."
        )
    return number


def alpha(value: object, *, name: str = "alpha") -> float:
    """Check a significance level: a finite number strictly between 0 and 1."""
    number = _real(value, name)
    if not 0 < number < 1:
        raise InputError(f"{name}={number:g}: a significance level is between 0 and 1 (e.g. 0.05).")
    return number


def share(value: object, name: str) -> float:
    """Check a share (such as ``max_unmatched``): a finite number from 0 to 1, never NaN."""
    number = _real(value, name)
    if not 0 <= number <= 1:
        raise InputError(f"{name}={number:g}: a share is from 0 to 1 (e.g. 0.05 for 5 %).")
    return number


def share_at_least(count: int, total: int) -> str:
    """``count / total`` as text rounded up at two digits: advice to allow it works.

    >>> share_at_least(57, 1_000_000), share_at_least(1, 3), share_at_least(5, 100)
    ('0.000057', '0.34', '0.05')
    """
    if total <= 0 or count <= 0:
        return "0"
    if count >= total:
        return "1"
    with localcontext(prec=2, rounding=ROUND_CEILING):  # exact: decimal division rounds once
        return f"{(Decimal(count) / total).normalize():f}"


def classes(k: object, *, n_distinct: int, name: str = "k", minimum: int = 2) -> int:
    """Check a number of classes: at least ``minimum``, at most ``n_distinct`` values.

    >>> classes(5, n_distinct=100)
    5
    """
    count = _integer(k, name)
    if count < minimum:
        plural = "es" if minimum > 1 else ""
        raise InputError(f"{name}={_int_text(count)}: need at least {minimum} class{plural}.")
    if n_distinct < minimum:
        raise InputError(
            f"{name}={_int_text(count)}: the data have {n_distinct} distinct value(s), too few to "
            f"form {minimum} classes."
        )
    if count > n_distinct:
        raise InputError(
            f"{name}={_int_text(count)}: the data have only {n_distinct} distinct values, "
            f"so at most {n_distinct} classes; use {name}={n_distinct} or fewer."
        )
    return count


def _labels(index: pd.Index) -> str:
    """Up to 5 labels; ``line 5, 7`` for rows read from a file (index name ``line``)."""
    shown = ", ".join(short(label, 30) for label in index[:5])
    if index.name == "line":  # geotool.io.read_table: the lines of the file
        shown = ("lines " if len(index) > 1 else "line ") + shown
    return shown + (f" and {len(index) - 5:,} more" if len(index) > 5 else "")


def _as_numbers(series: pd.Series, name: str) -> pd.Series:
    """Numeric columns as float64; text cells converted, any that is not a number refused."""
    kind = series.dtype
    if pd.api.types.is_bool_dtype(kind) or (
        pd.api.types.is_numeric_dtype(kind) and not pd.api.types.is_complex_dtype(kind)
    ):
        return series.astype("float64")
    if not (pd.api.types.is_object_dtype(kind) or pd.api.types.is_string_dtype(kind)):
        raise InputError(
            f"{name}: values of type {short(kind, 30)} are not numbers; pass a numeric column."
        )
    text = series.map(lambda v: v.strip() if isinstance(v, str) else v)
    try:
        converted = text_numbers(text)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"{name}: the values cannot be read as numbers ({short(exc)}).") from None
    marked = text.map(lambda v: isinstance(v, str) and v.lower() in MISSING_MARKS)
    if marked.any():
        shown = ", ".join(repr(v) for v in pd.unique(text[marked])[:3])
        log(f"{name}: {int(marked.sum()):,} cell(s) marked as missing ({shown}) read as "
            f"missing at {_labels(series.index[marked.to_numpy()])}")  # fmt: skip
    bad = converted.isna() & series.notna() & (text != "") & ~marked
    if bad.any():
        first, at = short(series[bad].iloc[0], 30), _labels(series.index[bad.to_numpy()])
        raise InputError(
            f"{name}: {int(bad.sum()):,} value(s) are not numbers (e.g. '{first}' at {at}); "
            "fix or remove them (numbers read: 1234.5, 1,234.5, -3.2, 8.5%; missing: a blank, "
            "— or 缺)."
        )
    return converted


#: Cells that say a value is missing, as yearbooks and spreadsheets write it (lower case).
MISSING_MARKS = frozenset({
    "—", "——", "–", "-", "--", "…", "……", "...", "缺", "无", "空", "暂无", "不详", "缺失",
    "na", "n/a", "#n/a", "null", "none", "nan", "/", "／", "－", "ー",
})  # fmt: skip


#: A number as Excel writes it with thousands separators: 1,234 or -12,345.67.
_GROUPED = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"


def text_numbers(text: pd.Series) -> pd.Series:
    """Cells as float64 (NaN where not a number); Excel's ``1,234.5`` reads as 1234.5.

    Only the strict grouping (1-3 digits, then groups of three) is read: ``1.234,5`` and
    ``12,34`` stay not-numbers rather than being guessed.
    """
    converted = pd.to_numeric(text, errors="coerce").astype("float64").to_numpy(copy=True)
    cells = text.to_numpy(dtype=object)
    for i in np.flatnonzero(np.isnan(converted)):
        cell = cells[i]
        if isinstance(cell, str) and not cell.isascii():  # ３０３０．２ typed full-width
            cell = cell.translate(_FULL_WIDTH_NUMBER).strip()
        if isinstance(cell, str):  # 8.5% (as written), 1 200 (spaced thousands)
            cell = re.sub(r"(?<=\d) (?=\d{3}\b)", "", cell.removesuffix("%").rstrip())
            with contextlib.suppress(ValueError):
                converted[i] = float(cell) if re.fullmatch(_PLAIN, cell) else np.nan
        if isinstance(cell, str) and np.isnan(converted[i]) and re.fullmatch(_GROUPED, cell):
            converted[i] = float(cell.replace(",", ""))
    return pd.Series(converted, index=text.index, name=text.name)


#: Full-width digits, sign, point and comma (a Chinese input method's) as ASCII.
_FULL_WIDTH_NUMBER = str.maketrans("０１２３４５６７８９．，－＋　％−\u2009\u202f\u00a0",
                                   "0123456789.,-+ %-   ")
#: A plain decimal number (after full-width characters are read as ASCII).
_PLAIN = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"


def finite_values(series: pd.Series, name: str) -> pd.Series:
    """Check a variable's values: numbers (text converted), present, finite, below 1e150.

    >>> finite_values(pd.Series(["1", "2.5"], index=["a", "b"]), "value_col").tolist()
    [1.0, 2.5]
    """
    if not isinstance(series, pd.Series):
        raise InputError(f"{name}: expected a pandas Series, got {type(series).__name__}.")
    if series.empty:
        raise InputError(f"{name}: there are no values.")
    values = _as_numbers(series, name).to_numpy()
    for bad, what in (
        (np.isnan(values), "are missing at {}; fill them in or drop those rows"),
        (np.isinf(values), "are infinite at {}; fix or drop them"),
    ):
        if bad.any():
            where = _labels(series.index[bad])
            raise InputError(f"{name}: {int(bad.sum()):,} value(s) {what.format(where)}.")
    huge = np.abs(values) > MAX_VALUE
    if huge.any():
        raise InputError(
            f"{name}: value(s) as large as {np.abs(values).max():.3g} at "
            f"{_labels(series.index[huge])} would overflow sums of squares; rescale the "
            "variable (divide by a power of ten) so magnitudes stay below 1e150."
        )
    return pd.Series(values, index=series.index, name=series.name)


def geometries(series: object, name: str = "geo") -> None:
    """Refuse geometries no position or neighbour can be computed from, naming them by index.

    That is: not a GeoSeries or GeoDataFrame; missing, empty or non-finite geometries; in a
    geographic CRS positions off the globe, in a projected one over 1e8 m from the origin.
    """
    import geopandas as gpd
    import pyproj
    import shapely

    if isinstance(series, gpd.GeoDataFrame):
        series = series.geometry
    if not isinstance(series, gpd.GeoSeries):
        raise InputError(
            f"{name}: expected a geopandas GeoDataFrame or GeoSeries, got "
            f"{type(series).__name__}; read your polygons with geotool.geofile.read_geometry."
        )
    bad = series.isna() | series.is_empty
    if bad.any():
        shown = [str(v)[:40] for v in series.index[bad.to_numpy()][:5]]
        raise InputError(
            f"{int(bad.sum())} of {name}'s geometries are missing or empty (index {shown}); "
            "drop those units or repair their geometry first."
        )
    xy, where = shapely.get_coordinates(series.to_numpy(), return_index=True)
    finite = np.isfinite(xy).all(axis=1)
    problem = "non-finite (NaN or infinite) coordinates"
    fix = "repair or drop those units"
    if finite.all() and series.crs is not None:
        crs = pyproj.CRS.from_user_input(series.crs)
        fix = f"the CRS ({short(crs.name, 40)}) is the one the coordinates are in"
        if crs.is_geographic:
            x, y, slack = xy[:, 0], xy[:, 1], _SLACK_DEGREES
            finite = (x >= -180 - slack) & (x <= 360 + slack) & (np.abs(y) <= 90 + slack)
            problem = "longitudes outside -180 to 360 or latitudes outside -90 to 90 degrees"
            fix = f"check that x is the longitude and y the latitude, and that {fix}"
        else:
            factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
            finite = np.hypot(xy[:, 0], xy[:, 1]) * (factor or 1.0) <= MAX_PROJECTED_METRES
            problem = "coordinates more than 100,000 km from the origin of a projected CRS"
            fix = f"check that {fix}"
    if finite.all():
        return
    units = np.unique(where[~finite])
    shown = [str(v)[:40] for v in series.index[units][:5]]
    example = xy[~finite][0]
    raise InputError(
        f"{len(units):,} of {name}'s geometries have {problem} (index {shown}, e.g. "
        f"({example[0]:.6g}, {example[1]:.6g})); {fix}."
    )


def _year(cell: object) -> tuple[int | None, str]:
    """``(year, "")`` for a cell that holds a year, else ``(None, reason)``."""
    if cell is None or cell is pd.NA or cell is pd.NaT:
        return None, "empty"
    if isinstance(cell, float | np.floating) and math.isnan(cell):
        return None, "empty"
    if isinstance(cell, bool | np.bool_):
        return None, f"not a year: {cell}"
    if isinstance(cell, numbers.Integral):
        number = int(cell)
    elif isinstance(cell, numbers.Real):
        if not math.isfinite(cell) or not float(cell).is_integer():
            return None, f"not a whole year: {short(cell, 30)}"
        number = int(float(cell))
    else:
        text = unicodedata.normalize("NFKC", str(cell)).strip().translate(_CN_DIGITS)
        text = text.removesuffix("年").strip()
        if not text:
            return None, "empty"
        if not _YEAR.fullmatch(text):
            return None, f"not a year: '{short(cell, 30)}'"
        number = int(float(text))
    if not _MIN_YEAR <= number <= _MAX_YEAR:
        return None, f"not a four-digit year: {short(cell, 30)}"
    return number, ""


def year_labels(series: pd.Series, name: str) -> tuple[pd.Series, pd.DataFrame]:
    """Year cells as ints, and the rejected cells (columns ``name`` and ``reason``).

    ``"2020"``, ``"2020年"``, ``2020.0``, ``"２０２０"`` and ``"二〇二〇年"`` are 2020.

    >>> years, rejected = year_labels(pd.Series(["2020年", " 2019 ", "", "FY21"]), "year")
    >>> years.tolist(), rejected["reason"].tolist()
    ([2020, 2019], ['empty', "not a year: 'FY21'"])
    """
    parsed = [_year(cell) for cell in series]
    ok = np.array([year is not None for year, _ in parsed], dtype=bool)
    years = pd.Series(
        [year for year, _ in parsed if year is not None],
        index=series.index[ok],
        name=series.name,
        dtype="int64",
    )
    column = name if name != "reason" else "value"
    rejected = pd.DataFrame(
        {column: series[~ok].to_numpy(), "reason": [why for year, why in parsed if year is None]},
        index=series.index[~ok],
    )
    return years, rejected


def _resolved(out: object, name: str, inputs: Iterable[object]) -> Path:
    """``out`` resolved; refused when it is not a path or is one of ``inputs``."""
    if not isinstance(out, str | os.PathLike) or not str(out).strip():
        raise InputError(f"{name}={_show(out)}: pass a path (str or pathlib.Path).")
    try:
        path = Path(out).expanduser().resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise InputError(f"{name}={_show(str(out))} is not a usable path ({short(exc)}).") from None
    for item in inputs:
        if item is None:
            continue
        source = Path(item).expanduser().resolve()  # type: ignore[arg-type]
        try:
            same = path == source or (path.exists() and source.exists() and path.samefile(source))
        except OSError:
            same = False
        if same:
            raise InputError(
                f"{name}={short(path, 120)} is the input file {short(source, 120)}; writing "
                "there would overwrite your data; choose another output path."
            )
    return path


def _probe_writable(path: Path, name: str) -> None:
    """Create and delete a file in the nearest existing folder of ``path``."""
    folder = path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(
            f"{name}={short(path, 120)}: {short(folder, 120)} on its path is a file, not a "
            "folder; choose another output path."
        )
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".geotool-probe-")
    except OSError as exc:
        raise InputError(
            f"{name}={short(path, 120)}: {short(folder, 120)} is not writable "
            f"({short(exc.strerror or exc)}); choose a folder you can write to."
        ) from None
    os.close(fd)
    Path(probe).unlink(missing_ok=True)


def output_file(out: object, *, inputs: Iterable[object] = (), name: str = "out") -> Path:
    """Check a path a file will be written to; return it resolved.

    Refused: one of ``inputs`` (links included), a folder, a device, pipe or socket, and a
    location where a probe file cannot be created.
    """
    if isinstance(out, str | os.PathLike) and str(out).endswith(("/", os.sep)):
        raise InputError(
            f"{name}={_show(str(out))} ends with a separator, so it names a folder; give a "
            "file path (e.g. maps/map.html)."
        )
    path = _resolved(out, name, inputs)  # an input, through links too: said as such
    given = os.path.abspath(os.path.expanduser(out)) if isinstance(out, str | os.PathLike) else ""
    if given and os.path.islink(given):  # replacing it would replace its target
        raise InputError(
            f"{name}={short(given, 120)} is a symbolic link; geotool does not write through "
            "links (another user's could name any of your files): remove it or give another path."
        )
    if path.is_dir():
        raise InputError(
            f"{name}={short(path, 120)} is an existing folder; give a file path, such as "
            f"{short(path / 'result.csv', 120)}."
        )
    if path.exists() and not path.is_file():  # a device, FIFO or socket: never replace it
        raise InputError(
            f"{name}={short(path, 120)} exists and is not a regular file (a device, pipe or "
            "socket); give the path of a file to write."
        )
    _probe_writable(path.parent, name)
    return path


def output_dir(out: object, *, inputs: Iterable[object] = (), name: str = "out") -> Path:
    """Check a folder to write into (it need not exist): not an input, a file, or unwritable."""
    path = _resolved(out, name, inputs)
    if path.exists() and not path.is_dir():
        raise InputError(
            f"{name}={short(path, 120)} is an existing file; give a folder path (outputs "
            "are several files), e.g. a new folder name."
        )
    if path.is_dir() and os.path.ismount(path):  # the root, /tmp, a disk: never replaced
        raise InputError(
            f"{name}={short(path, 120)} is a mount point (a whole disk or the root); give a "
            f"new folder inside it, e.g. {name}={short(path / 'geotool_out', 120)}."
        )
    _probe_writable(path, name)
    return path


def safe_filename(text: object, *, limit: int = _FILENAME_BYTES) -> str:
    """A file-name component made from user text: never empty, ``.``, ``..`` or a path.

    Separators, characters Windows forbids and control characters become ``_``; Windows
    device names get a ``_`` prefix; cut at ``limit`` UTF-8 bytes with a hash of the text.

    >>> safe_filename("x/../../../ESCAPED"), safe_filename("创新指数"), safe_filename("..")
    ('x_._._._ESCAPED', '创新指数', 'unnamed')
    """
    raw = unicodedata.normalize("NFC", str(text))
    chars = ["_" if unicodedata.category(c)[0] == "C" or c in "\u2028\u2029" else c for c in raw]
    name = _UNSAFE_CHARS.sub("_", "".join(chars))
    name = re.sub(r"\.{2,}", ".", name)
    name = re.sub(r"_{2,}", "_", name)
    name = name.lstrip(" ._").rstrip(" .")
    if _WINDOWS_RESERVED.match(name):
        name = "_" + name
    limit = max(16, int(limit))
    if len(name.encode("utf-8")) > limit:
        digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        cut = name.encode("utf-8")[: limit - 9].decode("utf-8", "ignore").rstrip(" .")
        name = f"{cut}-{digest}"
    return name or "unnamed"
