"""Validators for the arguments and values users pass to geotool.

Each function takes what a user passed, returns it cleaned (the right type, resolved,
normalised) or raises :class:`~geotool._errors.InputError` with a one-line message
that names the parameter (``permutations=``, ``value_col=``), what was received and
the fix. They are meant for the edge of the library, before any work starts, so that
bad input fails at once, with a clear message, and never halfway through a run. User
text is quoted through :func:`geotool._text.short`, so no message echoes a huge value.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from geotool._errors import InputError
from geotool._text import short

__all__ = [
    "MAX_PERMUTATIONS",
    "MAX_VALUE",
    "MEMORY_LIMIT_BYTES",
    "alpha",
    "classes",
    "finite_values",
    "output_dir",
    "output_file",
    "permutations",
    "safe_filename",
    "seed",
    "share",
    "share_at_least",
    "year_labels",
]

MIN_PERMUTATIONS = 99
"""The fewest permutations that can give a pseudo p-value of 0.01: p >= 1 / (P + 1)."""
MAX_PERMUTATIONS = 99_999
"""The most permutations accepted; p-values resolve to 1e-5, beyond any publication need."""
MEMORY_LIMIT_BYTES = 4 * 2**30
"""Default ceiling (4 GiB) on the estimated working set of a permutation engine."""
MAX_VALUE = 1e150
"""Largest magnitude a value may have: squares (1e300) summed over units stay finite."""
MAX_SEED = 2**32 - 1
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
        msg = f"{name}={value}: pass a whole number, not a boolean."
        raise InputError(msg)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        return int(float(value))
    msg = f"{name}={_show(value)} ({type(value).__name__}): pass a whole number."
    raise InputError(msg)


def _real(value: object, name: str) -> float:
    """``value`` as a finite float: ints and floats, never bools, strings, NaN or inf."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        msg = f"{name}={_show(value)} ({type(value).__name__}): pass a number."
        raise InputError(msg)
    try:
        number = float(value)
    except (OverflowError, ValueError):
        msg = f"{name}={_show(value)}: too large; pass a finite number."
        raise InputError(msg) from None
    if not math.isfinite(number):
        msg = f"{name}={number}: pass a finite number."
        raise InputError(msg)
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
    """Check a number of permutations for pseudo p-values.

    ``0`` means analytical p-values only. Otherwise at least 99 permutations are
    needed, because the smallest pseudo p-value is ``1 / (permutations + 1)``, and at
    most ``cap``. The working set of the permutation engines is estimated as

        ``n_units * min(permutations, block) * 8`` bytes

    (one float64 value per unit and permutation held at once; ``block=None`` means
    all permutations at once, as :func:`geotool._perm.conditional_lags` holds them;
    the streamed engines pass their block size) and refused above ``memory_limit``.

    Parameters
    ----------
    value : object
        What the user passed.
    n_units : int
        Number of units the statistic runs over.
    name : str, default "permutations"
        The parameter's name, for messages.
    block : int, optional
        Permutations an engine holds at once; ``None``: all of them.
    cap : int, default 99,999
        The most permutations accepted.
    memory_limit : int, default 4 GiB
        The largest estimated working set accepted, in bytes.

    Returns
    -------
    int
        The number of permutations.

    Raises
    ------
    InputError
        Not a whole number, negative, 1 to 98, above ``cap``, or above the memory limit.

    Examples
    --------
    >>> permutations(999, n_units=1861)
    999
    >>> permutations(50, n_units=1861)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geotool._errors.InputError: permutations=50: fewer than 99 permutations cannot give p <= ...

    """
    count = _integer(value, name)
    if count < 0:
        msg = (
            f"{name}={_int_text(count)}: must not be negative; use 0 for analytical only or >= 99."
        )
        raise InputError(msg)
    if 0 < count < MIN_PERMUTATIONS:
        msg = (
            f"{name}={count}: fewer than 99 permutations cannot give p <= 0.01; "
            "use 0 for analytical only or >= 99."
        )
        raise InputError(msg)
    if count > cap:
        msg = (
            f"{name}={_int_text(count)}: more than the cap of {cap:,}; use {cap:,} or fewer "
            "(999 or 9,999 are usual)."
        )
        raise InputError(msg)
    held = count if block is None else min(count, max(1, int(block)))
    estimate = max(0, int(n_units)) * held * 8
    if estimate > memory_limit:
        msg = (
            f"{name}={count:,}: over {n_units:,} units the permutations would need about "
            f"{estimate / 2**30:.1f} GiB ({n_units:,} x {held:,} x 8 bytes), more than the "
            f"limit of {memory_limit / 2**30:.1f} GiB; use fewer permutations."
        )
        raise InputError(msg)
    return count


def seed(value: object, *, name: str = "seed") -> int:
    """Check a random seed: a whole number from 0 to 2**32 - 1.

    numpy's ``SeedSequence`` takes non-negative integers; the upper bound keeps seeds
    the 32-bit values other tools (R, GeoDa) can reproduce.

    Parameters
    ----------
    value : object
        What the user passed.
    name : str, default "seed"
        The parameter's name, for messages.

    Returns
    -------
    int

    Raises
    ------
    InputError
        Not a whole number, negative, or above 2**32 - 1.

    Examples
    --------
    >>> seed(12345)
    12345

    """
    number = _integer(value, name)
    if not 0 <= number <= MAX_SEED:
        msg = f"{name}={_int_text(number)}: use a whole number from 0 to {MAX_SEED:,} (2**32 - 1)."
        raise InputError(msg)
    return number


def alpha(value: object, *, name: str = "alpha") -> float:
    """Check a significance level: a finite number strictly between 0 and 1.

    Parameters
    ----------
    value : object
        What the user passed.
    name : str, default "alpha"
        The parameter's name, for messages.

    Returns
    -------
    float

    Raises
    ------
    InputError
        Not a number, NaN, infinite, or outside (0, 1).

    Examples
    --------
    >>> alpha(0.05)
    0.05

    """
    number = _real(value, name)
    if not 0 < number < 1:
        msg = f"{name}={number:g}: a significance level is between 0 and 1 (e.g. 0.05)."
        raise InputError(msg)
    return number


def share(value: object, name: str) -> float:
    """Check a share (such as ``max_unmatched``): a finite number from 0 to 1.

    NaN is refused: every comparison with NaN is false, so it would disable the check
    the share controls.

    Parameters
    ----------
    value : object
        What the user passed.
    name : str
        The parameter's name, for messages.

    Returns
    -------
    float

    Raises
    ------
    InputError
        Not a number, NaN, infinite, or outside [0, 1].

    Examples
    --------
    >>> share(0, "max_unmatched")
    0.0

    """
    number = _real(value, name)
    if not 0 <= number <= 1:
        msg = f"{name}={number:g}: a share is from 0 to 1 (e.g. 0.05 for 5 %)."
        raise InputError(msg)
    return number


def share_at_least(count: int, total: int) -> str:
    """The share ``count / total`` as text, rounded up at two significant digits.

    For advice such as "allow them with max_unmatched=...": following it must work,
    so the text is never below the share (57 of 1,000,000 is ``0.000057``, never
    ``0.00``), and short enough to type.

    Examples
    --------
    >>> share_at_least(57, 1_000_000), share_at_least(1, 3), share_at_least(5, 100)
    ('0.000057', '0.34', '0.05')

    """
    if total <= 0 or count <= 0:
        return "0"
    if count >= total:
        return "1"
    decimals = 2
    while count * 10**decimals < total * 10:  # two significant digits
        decimals += 1
    scaled = -(-count * 10**decimals // total)  # the ceiling, in integers: exact
    digits = str(scaled).rjust(decimals + 1, "0")
    text = f"{digits[:-decimals]}.{digits[-decimals:]}".rstrip("0").rstrip(".")
    return text


def classes(k: object, *, n_distinct: int, name: str = "k", minimum: int = 2) -> int:
    """Check a number of classes (map classes, tiers) against the data.

    Parameters
    ----------
    k : object
        What the user passed.
    n_distinct : int
        Number of distinct values in the data to classify.
    name : str, default "k"
        The parameter's name, for messages.
    minimum : int, default 2
        The fewest classes that make sense (1 where a single class is allowed).

    Returns
    -------
    int

    Raises
    ------
    InputError
        Not a whole number, fewer than ``minimum``, or more than ``n_distinct``.

    Examples
    --------
    >>> classes(5, n_distinct=100)
    5
    >>> classes(0, n_distinct=100)
    Traceback (most recent call last):
    ...
    geotool._errors.InputError: k=0: need at least 2 classes.

    """
    count = _integer(k, name)
    if count < minimum:
        plural = "es" if minimum > 1 else ""
        msg = f"{name}={_int_text(count)}: need at least {minimum} class{plural}."
        raise InputError(msg)
    if n_distinct < minimum:
        msg = (
            f"{name}={_int_text(count)}: the data have {n_distinct} distinct value(s), too few to "
            f"form {minimum} classes."
        )
        raise InputError(msg)
    if count > n_distinct:
        msg = (
            f"{name}={_int_text(count)}: the data have only {n_distinct} distinct values, "
            f"so at most {n_distinct} classes; use {name}={n_distinct} or fewer."
        )
        raise InputError(msg)
    return count


def _labels(index: pd.Index) -> str:
    """Up to 5 labels; ``line 5, 7`` for rows read from a file (index name ``line``)."""
    shown = ", ".join(short(label, 30) for label in index[:5])
    if index.name == "line":  # geotool.io.read_table: the lines of the file
        shown = ("lines " if len(index) > 1 else "line ") + shown
    return shown + (f" and {len(index) - 5:,} more" if len(index) > 5 else "")


def finite_values(series: pd.Series, name: str) -> pd.Series:
    """Check the values of a variable: numbers, finite, of a magnitude sums can hold.

    Numeric columns are taken as they are; text cells (as tables are read) are
    converted, and any that is not a number is refused. Missing values (NaN, ``None``),
    ``inf`` and ``-inf`` are refused, naming up to 5 index labels, and so are
    magnitudes above 1e150, whose squares summed over the units could overflow.

    Parameters
    ----------
    series : pandas.Series
        The values, indexed by unit.
    name : str
        The parameter or column's name, for messages (e.g. ``"value_col='score'"``).

    Returns
    -------
    pandas.Series
        The values as float64, same index.

    Raises
    ------
    InputError
        Empty, not numbers, missing, infinite or too large values.

    Examples
    --------
    >>> finite_values(pd.Series(["1", "2.5"], index=["a", "b"]), "value_col").tolist()
    [1.0, 2.5]

    """
    if not isinstance(series, pd.Series):
        msg = f"{name}: expected a pandas Series, got {type(series).__name__}."
        raise InputError(msg)
    if series.empty:
        msg = f"{name}: there are no values."
        raise InputError(msg)
    kind = series.dtype
    if pd.api.types.is_bool_dtype(kind) or (
        pd.api.types.is_numeric_dtype(kind) and not pd.api.types.is_complex_dtype(kind)
    ):
        numbers_ = series.astype("float64")
    elif pd.api.types.is_object_dtype(kind) or pd.api.types.is_string_dtype(kind):
        text = series.map(lambda v: v.strip() if isinstance(v, str) else v)
        try:
            numbers_ = pd.to_numeric(text, errors="coerce").astype("float64")
        except (TypeError, ValueError, OverflowError) as exc:
            msg = f"{name}: the values cannot be read as numbers ({short(exc)})."
            raise InputError(msg) from None
        bad = numbers_.isna() & series.notna() & (text != "")
        if bad.any():
            first = series[bad].iloc[0]
            grouped = text[bad].str.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?").all()
            fix = (  # 1,234 as Excel shows it: thousands separators
                "remove the thousands separators (1,234 -> 1234)"
                if grouped
                else "fix or remove them"
            )
            msg = (
                f"{name}: {int(bad.sum()):,} value(s) are not numbers (e.g. '{short(first, 30)}' "
                f"at {_labels(series.index[bad.to_numpy()])}); {fix}."
            )
            raise InputError(msg)
    else:
        msg = f"{name}: values of type {short(kind, 30)} are not numbers; pass a numeric column."
        raise InputError(msg)
    values = numbers_.to_numpy()
    missing = np.isnan(values)
    if missing.any():
        msg = (
            f"{name}: {int(missing.sum()):,} value(s) are missing at "
            f"{_labels(series.index[missing])}; fill them in or drop those rows."
        )
        raise InputError(msg)
    infinite = np.isinf(values)
    if infinite.any():
        msg = (
            f"{name}: {int(infinite.sum()):,} value(s) are infinite at "
            f"{_labels(series.index[infinite])}; fix or drop them."
        )
        raise InputError(msg)
    huge = np.abs(values) > MAX_VALUE
    if huge.any():
        msg = (
            f"{name}: value(s) as large as {np.abs(values).max():.3g} at "
            f"{_labels(series.index[huge])} would overflow sums of squares; rescale the "
            "variable (divide by a power of ten) so magnitudes stay below 1e150."
        )
        raise InputError(msg)
    return pd.Series(values, index=series.index, name=series.name)


def geometries(series: object, name: str = "geo") -> None:
    """Refuse geometries no position or neighbour can be computed from, naming them by index.

    Refused: anything but a GeoSeries (or GeoDataFrame: its geometry column); missing or
    empty geometries (a unit without a shape has no position and no neighbours);
    non-finite vertices (NaN or infinite coordinates, which GEOS and PROJ turn into
    errors or silent garbage); and coordinates outside any plausible range for the CRS:
    longitudes outside -180 to 360 degrees (0-360 is a common convention) or latitudes
    outside -90 to 90 in a geographic CRS, and more than 100,000 km from the origin
    (:data:`MAX_PROJECTED_METRES`; zone-prefixed Gauss-Krueger eastings reach 45,000 km)
    in a projected one. Without a CRS only finiteness is
    checked (:func:`geotool.geometry.analysis_crs` refuses such data where distances
    are needed).

    Parameters
    ----------
    series : geopandas.GeoSeries
        The geometries.
    name : str, default "geo"
        The parameter's name, for messages.

    Raises
    ------
    InputError
        As above.

    """
    import geopandas as gpd

    if isinstance(series, gpd.GeoDataFrame):
        series = series.geometry
    if not isinstance(series, gpd.GeoSeries):
        msg = (
            f"{name}: expected a geopandas GeoDataFrame or GeoSeries, got "
            f"{type(series).__name__}; read your polygons with geotool.geofile.read_geometry."
        )
        raise InputError(msg)
    bad = series.isna() | series.is_empty
    if bad.any():
        shown = [str(v)[:40] for v in series.index[bad.to_numpy()][:5]]
        msg = (
            f"{int(bad.sum())} of {name}'s geometries are missing or empty (index {shown}); "
            "drop those units or repair their geometry first."
        )
        raise InputError(msg)
    _coordinates(series, name)


MAX_PROJECTED_METRES = 1e8
"""Largest distance from a projected CRS's origin accepted (2.5 times the equator)."""
_SLACK_DEGREES = 1e-6  # rounding at the poles and the antimeridian


def _coordinates(series: pd.Series, name: str) -> None:
    """Refuse non-finite vertices, and vertices outside the plausible range of the CRS."""
    import pyproj
    import shapely

    xy, where = shapely.get_coordinates(series.to_numpy(), return_index=True)
    finite = np.isfinite(xy).all(axis=1)
    problem = "non-finite (NaN or infinite) coordinates"
    fix = "repair or drop those units"
    if finite.all() and series.crs is not None:
        crs = pyproj.CRS.from_user_input(series.crs)
        if crs.is_geographic:
            x, y = xy[:, 0], xy[:, 1]
            slack = _SLACK_DEGREES
            finite = (x >= -180 - slack) & (x <= 360 + slack) & (np.abs(y) <= 90 + slack)
            problem = "longitudes outside -180 to 360 or latitudes outside -90 to 90 degrees"
            fix = (
                "check that x is the longitude and y the latitude, and that the CRS "
                f"({short(crs.name, 40)}) is the one the coordinates are in"
            )
        else:
            factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
            finite = np.hypot(xy[:, 0], xy[:, 1]) * (factor or 1.0) <= MAX_PROJECTED_METRES
            problem = "coordinates more than 100,000 km from the origin of a projected CRS"
            fix = f"check that the CRS ({short(crs.name, 40)}) is the one the coordinates are in"
    if finite.all():
        return
    units = np.unique(where[~finite])
    shown = [str(v)[:40] for v in series.index[units][:5]]
    example = xy[~finite][0]
    msg = (
        f"{len(units):,} of {name}'s geometries have {problem} (index {shown}, e.g. "
        f"({example[0]:.6g}, {example[1]:.6g})); {fix}."
    )
    raise InputError(msg)


def _year(cell: object) -> tuple[int | None, str]:
    """``(year, "")`` for a cell that holds a year, else ``(None, reason)``."""
    if cell is None or (isinstance(cell, float | np.floating) and math.isnan(cell)):
        return None, "empty"
    if cell is pd.NA or cell is pd.NaT:
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
    """Normalise year cells to ints, and set aside the cells that are not years.

    ``"2020"``, ``"2020年"``, ``2020.0``, ``" 2020 "``, ``"２０２０"`` (full-width) and
    ``"二〇二〇年"`` all become ``2020``. Empty cells and cells that do not hold a
    four-digit year (``"2020.5"``, ``"FY2020"``, ``"2019-2020"``, ``20``) are not
    dropped silently: they are returned as rejected rows, with the reason, for the
    caller to report or refuse.

    Parameters
    ----------
    series : pandas.Series
        The year column, indexed by row.
    name : str
        The column's name, for the rejected rows.

    Returns
    -------
    years : pandas.Series
        ``int64`` years of the accepted rows, with their index labels.
    rejected : pandas.DataFrame
        One row per rejected cell, same index labels, columns ``name`` (the cell as
        given) and ``reason``.

    Examples
    --------
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


def _resolved(out: object, name: str) -> Path:
    if not isinstance(out, str | os.PathLike) or not str(out).strip():
        msg = f"{name}={_show(out)}: pass a path (str or pathlib.Path)."
        raise InputError(msg)
    try:
        return Path(out).expanduser().resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        msg = f"{name}={_show(str(out))} is not a usable path ({short(exc)})."
        raise InputError(msg) from None


def _same_file(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def _refuse_inputs(path: Path, inputs: Iterable[object], name: str) -> None:
    for item in inputs:
        if item is None:
            continue
        source = Path(item).expanduser().resolve()  # type: ignore[arg-type]
        if _same_file(path, source):
            msg = (
                f"{name}={short(path, 120)} is the input file {short(source, 120)}; writing "
                "there would overwrite your data; choose another output path."
            )
            raise InputError(msg)


def _probe_writable(path: Path, name: str) -> None:
    """Create and delete a file in the nearest existing folder of ``path``."""
    folder = path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        msg = (
            f"{name}={short(path, 120)}: {short(folder, 120)} on its path is a file, not a "
            "folder; choose another output path."
        )
        raise InputError(msg)
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".geotool-probe-")
    except OSError as exc:
        msg = (
            f"{name}={short(path, 120)}: {short(folder, 120)} is not writable "
            f"({short(exc.strerror or exc)}); choose a folder you can write to."
        )
        raise InputError(msg) from None
    os.close(fd)
    Path(probe).unlink(missing_ok=True)


def output_file(out: object, *, inputs: Iterable[object] = (), name: str = "out") -> Path:
    """Check a path a file will be written to; return it resolved.

    Refused: a path that resolves to one of ``inputs`` (it would overwrite the user's
    data; hard and symbolic links included), an existing folder, an existing device,
    pipe or socket (a rename would replace it), and a location that
    cannot be written (tested by creating and deleting a file in the nearest existing
    folder on the path, so permissions, read-only mounts and full quotas all count).

    Parameters
    ----------
    out : str or os.PathLike
        The output path the user gave.
    inputs : iterable of str or os.PathLike, optional
        The files the run reads (``None`` entries are skipped).
    name : str, default "out"
        The parameter's name, for messages.

    Returns
    -------
    pathlib.Path
        The resolved path.

    Raises
    ------
    InputError
        As above.

    """
    if isinstance(out, str | os.PathLike) and str(out).endswith(("/", os.sep)):
        msg = (
            f"{name}={_show(str(out))} ends with a separator, so it names a folder; give a "
            "file path (e.g. maps/map.html)."
        )
        raise InputError(msg)
    path = _resolved(out, name)
    _refuse_inputs(path, inputs, name)
    if path.is_dir():
        msg = (
            f"{name}={short(path, 120)} is an existing folder; give a file path, such as "
            f"{short(path / 'result.csv', 120)}."
        )
        raise InputError(msg)
    if path.exists() and not path.is_file():  # a device, FIFO or socket: never replace it
        msg = (
            f"{name}={short(path, 120)} exists and is not a regular file (a device, pipe or "
            "socket); give the path of a file to write."
        )
        raise InputError(msg)
    _probe_writable(path.parent, name)
    return path


def output_dir(out: object, *, inputs: Iterable[object] = (), name: str = "out") -> Path:
    """Check a folder outputs will be written into; return it resolved.

    Refused: a path that resolves to one of ``inputs``, an existing file (a folder is
    expected), and a location that cannot be written (tested as by
    :func:`output_file`). The folder need not exist yet.

    Parameters
    ----------
    out : str or os.PathLike
        The output folder the user gave.
    inputs : iterable of str or os.PathLike, optional
        The files the run reads (``None`` entries are skipped).
    name : str, default "out"
        The parameter's name, for messages.

    Returns
    -------
    pathlib.Path
        The resolved folder.

    Raises
    ------
    InputError
        As above.

    """
    path = _resolved(out, name)
    _refuse_inputs(path, inputs, name)
    if path.exists() and not path.is_dir():
        msg = (
            f"{name}={short(path, 120)} is an existing file; give a folder path (outputs "
            "are several files), e.g. a new folder name."
        )
        raise InputError(msg)
    _probe_writable(path, name)
    return path


def safe_filename(text: object, *, limit: int = _FILENAME_BYTES) -> str:
    """A file-name component made from user text (a column name, a value).

    Path separators, characters Windows forbids (``<>:"|?*``), control and format
    characters become ``_``; runs of dots become one; leading dots, spaces and
    underscores and trailing dots and spaces go; Windows device names (``CON``,
    ``NUL``, ``COM1`` ...) get a ``_`` prefix. The result is cut to ``limit`` bytes of
    UTF-8 (file systems count bytes; a Chinese character takes 3), with a short hash of
    the whole text appended when cut, so that long names that share a beginning stay
    distinct. Never empty (``"unnamed"``), never ``.`` or ``..``, never a path.

    Parameters
    ----------
    text : object
        The user text; converted with :class:`str`.
    limit : int, default 120
        Most bytes of UTF-8 in the result (at least 16).

    Returns
    -------
    str

    Examples
    --------
    >>> safe_filename("x/../../../ESCAPED")
    'x_._._._ESCAPED'
    >>> safe_filename("创新指数")
    '创新指数'
    >>> safe_filename("..")
    'unnamed'

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
