"""Reading users' tables: CSV in the encodings Chinese spreadsheets produce, or Excel.

Encodings tried: UTF-16 (with its BOM), UTF-8, then GB18030 (GBK's superset, with rare
place-name characters such as 埇). Failures name the file, the line or cell, and the fix.
"""

from __future__ import annotations

import codecs
import csv
import io as _io
import numbers
import re
import zipfile
from contextlib import suppress
from itertools import islice
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from geotool import _limits
from geotool._errors import InputError
from geotool._log import log
from geotool._text import codec, short

__all__ = ["read_table"]

_ENCODINGS = ("utf-8-sig", "gb18030")
_ZIP_MAGIC = b"PK\x03\x04"  # .xlsx (and every zip archive)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and password-protected .xlsx
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_TEXT_SUFFIXES = (".csv", ".txt", ".tsv", "")
_EXCEL_SUFFIXES = (".xlsx", ".xlsm")
_DELIMITERS = (",", "\t", ";")
_SNIFF_ROWS = 50
#: The most columns read: a table of units by variables (a wide panel of 100 years of 50
#: variables has 5,000); every numeric column is examined, so a 10^6-column line took hours.
MAX_COLUMNS = _limits.MAX_COLUMNS
_BYTES_PER_CELL = 16  # a sheet may span one cell per this many bytes of the input limit
_CELL_COST = 56  # bytes a filled cell costs read (a Python str's header and its pointer)
_NUMBER_TEXT = 24  # the longest text of a number or date read as text
#: A cell that is a number as tables write them (signs, separators, %, brackets).
_NUMBER = re.compile(r"[-+（(]?[\d,，.．]+[%％）)]?")
_TITLE_ROWS = 5  # the most rows above a header read as titles
# C0 and C1 control characters other than tab, newline, carriage return, form feed and
# vertical tab: text never holds many; decoded binary data does.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
csv.field_size_limit(2**31 - 1)  # a cell as long as the input limit allows, as pandas reads
_RESAVE = "open it in Excel and save it as .xlsx or as CSV UTF-8"
_FIX_ENCODING = "pass encoding='gb18030' (GBK) or 'utf-8', or leave encoding out to detect it"


def _read_bytes(path: object, limit: int) -> bytes:
    """The file's bytes (at most ``limit``), or an :class:`InputError` saying why not."""
    path = _limits.regular_file(path, "a .csv or .xlsx file", (".csv", ".xlsx", ".txt", ".tsv"))
    where = short(path, 120)
    _limits.check_size(path.stat().st_size, limit, where, "is", "max_bytes")
    try:
        return path.read_bytes()
    except PermissionError:
        msg = f"{where} cannot be read: permission denied; make it readable (chmod +r) or copy it."
        raise InputError(msg) from None
    except OSError as exc:
        msg = f"{where} cannot be read ({short(exc.strerror or exc)}); check the file."
        raise InputError(msg) from None


def _looks_like_text(raw: bytes) -> bool:
    head = raw[:4096]
    if head.startswith(_UTF16_BOMS):
        return True
    if b"\x00" in head:
        return False
    for enc in _ENCODINGS:
        try:
            text = head.decode(enc)
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # not just a character cut at the sample's end
                continue
            text = head[: exc.start].decode(enc)
        return len(_CONTROL.findall(text)) <= len(text) // 100
    return False


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _decode(raw: bytes, where: str, encoding: object) -> tuple[str, str]:
    """``raw`` as text: in ``encoding=``, else UTF-16 by its BOM, UTF-8, or GB18030."""
    if encoding is not None:
        tried = [{"utf-8": "utf-8-sig"}.get(name := codec(encoding), name)]
    elif raw.startswith(_UTF16_BOMS):
        tried = ["utf-16"]
    elif b"\x00" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\x00")) + 1
        raise InputError(
            f"{where} holds NUL bytes (first on line {line}): it looks like a binary file, not "
            "CSV text; export the table as CSV UTF-8 or .xlsx."
        )
    else:
        tried = list(_ENCODINGS)
    bad = []
    for enc in tried:
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError as exc:
            bad.append(exc.start)
    at, line = bad[0], raw.count(b"\n", 0, bad[0]) + 1
    if encoding is not None:
        fix = next(
            (f"it reads as {label}: pass encoding={label}, or leave encoding out"
             for other, label in (("utf-8-sig", "'utf-8'"), ("gb18030", "'gb18030' (GBK)"))
             if other != tried[0] and _decodes(raw, other)),
            _FIX_ENCODING,
        )  # fmt: skip
        raise InputError(
            f"{where} is not valid {encoding} text: byte 0x{raw[at]:02x} on line {line} "
            f"(offset {at:,}) cannot be decoded; {fix}."
        )
    if tried == ["utf-16"]:
        msg = f"{where} starts like UTF-16 text but is not valid UTF-16; save it as CSV UTF-8."
        raise InputError(msg)
    raise InputError(
        f"{where} is neither UTF-8 nor GB18030 (GBK) text (byte 0x{raw[at]:02x} "
        f"on line {line} is invalid); save it as CSV UTF-8, or pass encoding= with its encoding."
    )


def _check_text(text: str, where: str, used: str) -> None:
    """Refuse decoded text that is really binary data (NULs, many control characters)."""
    controls = _CONTROL.findall(text[:1_000_000])
    sample = min(len(text), 1_000_000)
    if "\x00" in text or len(controls) > max(2, sample // 100):
        raise InputError(
            f"{where} does not look like text in {used} ({len(controls):,} control characters): "
            f"it may be a binary file; export the table as CSV UTF-8 or .xlsx, or {_FIX_ENCODING}."
        )


def _field_counts(text: str, sep: str) -> list[int]:
    """Fields per non-blank record over the first rows, as :mod:`csv` splits them."""
    try:
        rows = islice(csv.reader(_io.StringIO(text), delimiter=sep), _SNIFF_ROWS)
        return [len(r) for r in rows if r]
    except csv.Error:  # a field over the csv module's size limit, ...
        return []


def _delimiter(text: str, suffix: str) -> str:
    r"""``\t`` for ``.tsv``, else the first of ``, \t ;`` that splits the rows evenly.

    (The header into 2+ fields, no row of the first 50 into more; else the same below
    title rows of one field; else the header most.)
    """
    if suffix == ".tsv":
        return "\t"
    counts = {sep: _field_counts(text, sep) for sep in _DELIMITERS}
    for found in (counts, {sep: _below_titles(c) for sep, c in counts.items()}):
        for sep, rows in found.items():
            if rows and rows[0] > 1 and max(rows) == rows[0]:
                return sep
    return max(_DELIMITERS, key=lambda sep: counts[sep][0] if counts[sep] else 0)


def _below_titles(counts: list[int]) -> list[int]:
    """Fields per record from the first with 2 or more (rows of one field above: titles)."""
    first = next((i for i, n in enumerate(counts[: _TITLE_ROWS + 1]) if n > 1), 0)
    return counts[first:]


def _filled(row: list[Any]) -> list[str]:
    """The row's non-blank cells, stripped."""
    cells = (str(v).strip() for v in row if v is not None and not pd.isna(v))
    return [c for c in cells if c]


def _title_rows(rows: list[list[Any]]) -> int:
    """How many rows above the header are a table's title (one cell filled, none after).

    An Excel sheet saved as CSV often starts with its title ("2020年各县工业产值", perhaps
    with "单位：亿元" beside it) above the header. A title row is read so only over a
    header of distinct names (years allowed after the first: 城市, 2019, 2020) with a row
    holding numbers below it, and when its text is no header word itself (地区 over rows
    of text is a one-column header). At most :data:`_TITLE_ROWS`.
    """
    titles = 0
    while titles < min(_TITLE_ROWS, len(rows) - 2) and _a_title(_filled(rows[titles])):
        titles += 1
    if not titles or titles >= len(rows) - 1:
        return 0
    header = _filled(rows[titles])
    names = [v for v in header[1:] if not _YEAR_NAME.fullmatch(v)]
    distinct = len(set(header)) == len(header) and len(header) >= 2
    if not distinct or any(_NUMBER.fullmatch(v) for v in [header[0], *names]):
        return 0
    data = [v for row in rows[titles + 1 : titles + 6] for v in _filled(row)]
    return titles if any(_NUMBER.fullmatch(v) for v in data) else 0


#: A header cell that is a year (a wide table of years: 城市, 2019, 2020).
_YEAR_NAME = re.compile(r"(?:19|20)\d\d年?")
#: Words that head a table's first column: a row of one of them is a header, not a title.
_HEADER_WORDS = frozenset({"地区", "县名", "县市", "县区", "区县", "城市", "地市", "名称", "单位",
                           "省份", "省", "市", "县", "name", "region", "county", "city",
                           "province", "id", "code", "代码", "编码"})  # fmt: skip


def _a_title(cells: list[str]) -> bool:
    """A row of one filled cell (not a header word), or of it and a unit note (单位：亿元)."""
    notes = [c for c in cells[1:] if c.startswith(("单位", "计量单位", "unit", "Unit"))]
    return (1 <= len(cells) <= 2 and len(notes) == len(cells) - 1
            and cells[0].lower() not in _HEADER_WORDS) or not cells  # fmt: skip


def _without_titles(rows: list[list[Any]], lines: Any, where: str, unit: str = "line") -> int:
    """The title rows above the header (:func:`_title_rows`), said; how many to skip."""
    titles = _title_rows(rows)
    said = "; ".join(repr(short(c[0], 40)) for c in map(_filled, rows[:titles]) if c)
    if said:  # (blank rows above the header, as Excel keeps them, go unsaid)
        at = ", ".join(str(x) for x in lines[:titles])
        log(f"{where}: {unit} {at} above the header is the table's title ({said}), not data; "
            f"the header is {unit} {lines[titles]}.")  # fmt: skip
    return titles


def _parse_csv(text: str, where: str, sep: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Records as :mod:`csv` splits them (blank lines skipped), and the line each starts on.

    Read with :mod:`csv` rather than pandas: it tells each record's line, and is the
    reference the property tests compare with.
    """
    reader = csv.reader(_io.StringIO(text, newline=""), delimiter=sep)
    rows: list[list[str | None]] = []
    starts, line, first = [], 0, 1
    try:
        for row in reader:
            first = line + 1
            if not rows and len(row) > MAX_COLUMNS:
                _too_wide(where, len(row))
            if row and (len(row) > 1 or row[0].strip(" \t")):
                rows.append([v or None for v in row])
                starts.append(first)
            line = reader.line_num
    except csv.Error as exc:  # a field over the csv module's size limit
        msg = f"{where} cannot be parsed as CSV ({short(exc)}); export it again as CSV UTF-8."
        raise InputError(msg) from None
    if not rows:
        msg = f"{where} has no rows; it needs a header row and at least one data row."
        raise InputError(msg)
    titles = _without_titles(rows, starts, where)
    rows, starts = rows[titles:], starts[titles:]
    _check_records(rows, starts, where, sep)
    _check_closed(text, first, where, sep)
    return pd.DataFrame(rows, dtype=object), np.asarray(starts)


def _too_wide(where: str, columns: int) -> NoReturn:
    """Refuse a table of more than :data:`MAX_COLUMNS` columns."""
    raise InputError(
        f"{where} has {columns:,} columns, over the {MAX_COLUMNS:,} geotool reads: give a table "
        "with a row per unit (and year) and a column per variable; keep only the columns "
        "you need, or transpose it."
    )


def _check_records(rows: list[list[str | None]], starts: list[int], where: str, sep: str) -> None:
    """Refuse a record with more fields than the header."""
    name = {",": "comma", "\t": "tab", ";": "semicolon"}[sep]
    expected = len(rows[0])
    extra = next((i for i, row in enumerate(rows) if len(row) > expected), None)
    if extra is not None and expected == 1:  # a title over rows of data, no header
        raise InputError(
            f"{where}, line {starts[extra]}: {len(rows[extra])} fields under a first line of "
            f"one ({short(rows[0][0], 40)!r}); if that is the table's title, write the "
            "header (a name for each column) on the line below it."
        )
    if extra is not None:
        raise InputError(
            f"{where}, line {starts[extra]}: {len(rows[extra])} fields where the header has "
            f"{expected} ({name}-separated); a value probably holds a {name}: put that value "
            'in double quotes ("...") or remove the extra separator.'
        )


def _check_closed(text: str, line: int, where: str, sep: str) -> None:
    """Refuse a quote left open: the last record (from ``line``) read again, strictly."""
    at = len(text)
    for _ in range(text.count("\n") - line + 2):  # the record's start, found from the end
        at = text.rfind("\n", 0, at)
    try:
        list(csv.reader(_io.StringIO(text[at + 1 :], newline=""), delimiter=sep, strict=True))
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise InputError(
                f'{where}, line {line}: a double quote (") opens a value that is never '
                'closed; close it, or double a quote that is part of the value ("").'
            ) from None


def _pick_sheet(sheet: object, names: list[str], where: str) -> str:
    """The name of the sheet ``sheet=`` selects: a name, or a position (0 is the first)."""
    if sheet is None:
        return names[0]
    if isinstance(sheet, bool) or not isinstance(sheet, str | numbers.Integral):
        raise InputError(
            f"sheet={short(repr(sheet))} ({type(sheet).__name__}): pass a sheet name (str) or "
            "a position (int, 0 is the first)."
        )
    text = sheet.strip() if isinstance(sheet, str) else ""
    folded = [n for n in names if text and n.strip().casefold() == text.casefold()]
    found = [n for n in (sheet, text) if n and n in names] or (folded if len(folded) == 1 else [])
    digits = text.isascii() and text.isdigit()  # a position, as a command line passes it
    at = int(text) if digits else int(sheet) if isinstance(sheet, numbers.Integral) else -1
    if found or 0 <= at < len(names):
        return str(found[0]) if found else names[at]
    shown = ", ".join(f"'{short(n, 40)}'" for n in names[:12])
    shown += f" and {len(names) - 12} more" if len(names) > 12 else ""
    sheets = f"{len(names)} sheet(s) ({shown}); pass a sheet name or a position from 0"
    sheets += f" to {len(names) - 1}"
    if not isinstance(sheet, str):
        raise InputError(f"sheet={short(sheet)}: {where} has {sheets}.")
    if not digits:
        msg = f"sheet='{short(sheet)}': {where} has no such sheet; its sheets are {shown}."
        raise InputError(msg)
    msg = f"sheet='{short(sheet)}': {where} has no sheet of that name, and only {sheets}."
    raise InputError(msg)


def _check_extent(ws: Any, where: str, limit: int, stored: int) -> None:
    """Refuse a sheet whose range (a stray cell at XFD1048576) or text is too big, streaming it."""
    from openpyxl.utils import get_column_letter

    cap = max(1, limit // _BYTES_PER_CELL)
    ws.reset_dimensions()  # the declared dimensions may lie; the cells do not
    rows = cols = expanded = 0
    fix = "if it is genuine, save it as CSV UTF-8"
    for number, row in enumerate(ws.iter_rows(values_only=True), start=1):
        filled = [i for i, v in enumerate(row, start=1) if v is not None and v != ""]
        if not filled:
            continue
        expanded += sum(len(v) if type(v) is str else _NUMBER_TEXT for v in row if v is not None)
        expanded += _CELL_COST * len(filled)
        what = "holds cell text of"
        _limits.check_expansion(expanded, stored, limit, where=where, what=what, fix=fix)
        rows, cols = number, max(cols, filled[-1])  # a sheet has at most 16,384 columns
        if rows * cols > cap:
            far = f"{get_column_letter(cols)}{rows}"
            raise InputError(
                f"{where} reaches cell {far}: a table of {rows:,} rows by {cols:,} columns "
                f"({rows * cols:,} cells), over geotool's limit of {cap:,} cells (one per "
                f"{_BYTES_PER_CELL} bytes of the {_limits.human(limit)} input limit); delete "
                "what lies far from the table (Ctrl+End finds it) or save it as CSV UTF-8."
            )


def _read_excel(raw: bytes, where: str, sheet: object, limit: int) -> pd.DataFrame:
    """A sheet's cells, its parts' declared sizes checked first (a broken zip: openpyxl's say)."""
    members: list[zipfile.ZipInfo] = []
    with suppress(zipfile.BadZipFile, ValueError, EOFError), zipfile.ZipFile(_io.BytesIO(raw)) as z:
        members = [m for m in z.infolist() if not m.is_dir()]
    fix = "open it in Excel and save it as CSV UTF-8, or split it"
    _limits.check_zip(members, limit, where, "max_bytes", fix)  # InputError is a ValueError
    try:
        book = pd.ExcelFile(_io.BytesIO(raw), engine="openpyxl")
    except Exception as exc:  # openpyxl raises KeyError, BadZipFile, XML errors, ...
        raise InputError(
            f"{where} cannot be opened as an Excel workbook ({type(exc).__name__}: "
            f"{short(exc)}); open it in Excel and save it again as .xlsx or as CSV UTF-8."
        ) from None
    with book:
        names = [str(n) for n in book.sheet_names]
        if not names:
            msg = f"{where} has no sheets; save a workbook with the table on its first sheet."
            raise InputError(msg)
        name = _pick_sheet(sheet, names, where)
        try:
            _check_extent(book.book[name], f"{where}, sheet '{short(name)}'", limit, len(raw))
            frame = book.parse(name, header=None, dtype=str)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(
                f"{where}, sheet '{short(name)}' cannot be read ({type(exc).__name__}: "
                f"{short(exc)}); open it in Excel and save it again as .xlsx or as CSV UTF-8."
            ) from None
    if frame.empty:
        msg = f"{where}: sheet '{short(name)}' is empty; put the table (header first) on it."
        raise InputError(msg)
    return frame


def _kind(raw: bytes, path: Path) -> str:
    """``"excel"`` or ``"text"``: what to read ``raw`` as, by name and content."""
    where, suffix = short(path, 120), path.suffix.lower()
    zipped, ole = raw.startswith(_ZIP_MAGIC), raw.startswith(_OLE_MAGIC)
    excel = suffix in (*_EXCEL_SUFFIXES, ".xls")
    if excel and zipped:
        return "excel"  # an .xlsx, even if named .xls
    if not excel and suffix not in _TEXT_SUFFIXES:
        raise InputError(
            f"{where}: unsupported file type '{short(suffix, 20)}'; use .csv (.txt, .tsv) or .xlsx."
        )
    if not (excel or zipped or ole):
        return "text"
    text = _looks_like_text(raw)
    not_xlsx = f"{where} is not an Excel workbook (it lacks the zip signature of {suffix} files)"
    old = f"{where} is an old-format Excel workbook (.xls)"
    problem = (
        f"{where} is named .xls but its content looks like text/CSV; rename it to .csv"
        if suffix == ".xls" and text and not ole
        else f"{old}, which geotool does not read; {_RESAVE}" if suffix == ".xls"
        else f"{where} is not an .xlsx workbook but an old-format one (an .xls renamed, or a "
        "password-protected workbook); open it in Excel, remove any password, and save it as "
        ".xlsx or as CSV UTF-8" if excel and ole
        else f"{not_xlsx}: its content looks like text/CSV; rename it to .csv" if excel and text
        else f"{not_xlsx} nor text; {_RESAVE}" if excel
        else f"{where} is an Excel workbook (or another zip archive), not text; rename it to "
        ".xlsx, or save it from Excel as CSV UTF-8" if zipped
        else f"{old}, not text; {_RESAVE}"
    )  # fmt: skip
    raise InputError(f"{problem}.")


def _with_header(frame: pd.DataFrame, where: str, lines: np.ndarray) -> pd.DataFrame:
    """Make the first row the header, index the rest by ``lines``; refuse bad names."""
    if len(frame) < 2:
        raise InputError(f"{where} has a header but no data rows.")
    names = ["" if pd.isna(v) else str(v).strip() for v in frame.iloc[0]]
    data = frame.iloc[1:].reset_index(drop=True)
    data.index = pd.Index(np.asarray(lines)[1:], name="line")
    data.columns = pd.RangeIndex(data.shape[1])
    keep = [i for i, n in enumerate(names) if n or data[i].notna().any()]
    unnamed = [i for i in keep if not names[i]]
    if unnamed:
        first = int(np.flatnonzero(data[unnamed[0]].notna().to_numpy())[0])
        value = short(data.iloc[first, unnamed[0]], 30)
        cols = ", ".join(str(i + 1) for i in unnamed[:5]) + (" ..." if len(unnamed) > 5 else "")
        raise InputError(
            f"{where}: column(s) {cols} hold values (e.g. '{value}' on line {data.index[first]}) "
            "but have no name in the header row; write a name for each in the first row."
        )
    if not keep:
        raise InputError(f"{where} has no named columns; its first row must be the header.")
    data = data[keep]
    data.columns = [names[i] for i in keep]
    seen: dict[str, list[int]] = {}
    for i in keep:
        seen.setdefault(names[i], []).append(i + 1)
    repeated = [(n, cols) for n, cols in seen.items() if len(cols) > 1]
    if repeated:
        listed = "; ".join(
            f"'{short(n, 30)}' (columns {', '.join(map(str, cols))})" for n, cols in repeated[:5]
        )
        raise InputError(
            f"{where}: the header repeats column names: {listed}; "
            "give each column a different name."
        )
    return data


def read_table(
    path: str | Path,
    *,
    encoding: str | None = None,
    sheet: str | int | None = None,
    max_bytes: int | None = None,
) -> pd.DataFrame:
    r"""Read a CSV or Excel file as strings, keeping every row.

    The type, told by the name, is checked against the content. The first row is the
    header: names stripped, unique and non-blank (a column with neither name nor values
    is dropped). Blank lines are skipped.

    Parameters
    ----------
    path : str or pathlib.Path
        ``.csv``/``.txt``/``.tsv`` (or no suffix) or ``.xlsx``/``.xlsm``.
    encoding : str, optional
        Force a text encoding (``'gbk'`` is read as ``'gb18030'``); default: detected.
    sheet : str or int, optional
        Excel sheet name or position (0 is the first; ``"1"`` too, unless a sheet has that
        name). Default: the first sheet.
    max_bytes : int, optional
        The most bytes the file may hold (an .xlsx: uncompressed); default: the
        environment variable ``GEOTOOL_MAX_INPUT_BYTES``, else 2 GiB.

    Returns
    -------
    pandas.DataFrame
        Cells as strings (empty ones missing) indexed by the line (or Excel row) each row
        starts on (index name ``"line"``); ``attrs["encoding"]`` (``"xlsx"`` for Excel).

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "t.csv").write_bytes("县, 值\n江阴市,1\n".encode("gbk"))
    >>> table = read_table(folder / "t.csv")
    >>> table.columns.tolist(), table.attrs["encoding"]
    (['县', '值'], 'gb18030')
    >>> _ = (folder / "bad.csv").write_text("a,b\n1,2\n3,4,5\n")
    >>> read_table(folder / "bad.csv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geotool._errors.InputError: ...bad.csv, line 3: 3 fields where the header has 2 ...
    """
    path = Path(path)
    where = short(path, 120)
    limit = _limits.max_input_bytes(max_bytes, "max_bytes")
    raw = _read_bytes(path, limit)
    if not raw.strip():
        raise InputError(f"{where} is empty; it needs a header row and at least one data row.")
    if _kind(raw, path) == "excel":
        frame, used = _read_excel(raw, where, sheet, limit), "xlsx"
        lines = np.asarray(frame.index) + 1  # the sheet's rows: blank ones are kept as rows
        head = frame.head(_TITLE_ROWS + 2).to_numpy().tolist()
        titles = _without_titles(head, lines, where, unit="row")
        frame, lines = frame.iloc[titles:], lines[titles:]
    else:
        if sheet is not None:
            raise InputError(
                f"sheet={short(str(sheet))!r} applies to Excel workbooks, and {where} is a text "
                "(CSV) file; leave sheet out."
            )
        text, used = _decode(raw, where, encoding)
        _check_text(text, where, used)
        # One line ending: pandas' parser drops an empty row after a lone CR.
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if not text.strip():
            raise InputError(f"{where} is empty; it needs a header row and at least one data row.")
        sep = _delimiter(text, path.suffix.lower())
        frame, lines = _parse_csv(text, where, sep)
    frame = _with_header(frame, where, lines)
    frame.attrs["encoding"] = used
    return frame
