"""Reading users' tables: CSV in any of the encodings Chinese spreadsheets produce, or Excel.

Excel on a Chinese-locale Windows saves "CSV" in GBK; newer tools write UTF-8, with or
without a byte-order mark. :func:`read_table` tries UTF-8 (BOM or not) and then
GB18030, a superset of GBK and GB2312 that also covers rarer characters of place
names (埇桥区, 鄠邑区), unless the encoding is given.
"""

from __future__ import annotations

import csv
import io as _io
from pathlib import Path

import pandas as pd

from geotool._errors import InputError

__all__ = ["read_table"]

_ENCODINGS = ("utf-8-sig", "gb18030")


def _decode(raw: bytes, path: Path, encoding: str | None) -> tuple[str, str]:
    if encoding:
        try:
            return raw.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            msg = f"{path} cannot be read as {encoding!r} ({exc}); try --encoding gb18030 or utf-8."
            raise InputError(msg) from None
    for enc in _ENCODINGS:
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            continue
    msg = f"{path} is neither UTF-8 nor GBK/GB18030 text; save it as UTF-8 CSV or pass --encoding."
    raise InputError(msg)


def read_table(
    path: str | Path, *, encoding: str | None = None, sheet: str | int | None = None
) -> pd.DataFrame:
    """Read a CSV or Excel file as strings, keeping every row.

    Parameters
    ----------
    path : str or pathlib.Path
        ``.csv``/``.txt``/``.tsv`` or ``.xlsx``.
    encoding : str, optional
        Force a text encoding; detected (UTF-8 with or without BOM, then GB18030)
        when omitted.
    sheet : str or int, optional
        Excel sheet name or position (default: the first).

    Returns
    -------
    pandas.DataFrame
        All cells as strings (empty cells as ``<NA>``); ``attrs["encoding"]`` says
        what was used.

    Raises
    ------
    InputError
        Missing or empty file, undecodable text, unknown sheet, unsupported type.

    """
    path = Path(path)
    if not path.is_file():
        msg = f"No file at {path}; check the path."
        raise InputError(msg)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        try:
            frame = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, dtype=str)
        except ValueError as exc:
            msg = f"{path}: {exc}. Pass --sheet with an existing sheet name or number."
            raise InputError(msg) from None
        used = "xlsx"
    elif suffix in (".csv", ".txt", ".tsv", ""):
        raw = path.read_bytes()
        if not raw.strip():
            msg = f"{path} is empty; it needs a header row and at least one data row."
            raise InputError(msg)
        text, used = _decode(raw, path, encoding)
        try:
            sep = "\t" if suffix == ".tsv" else csv.Sniffer().sniff(text[:4096], ",;\t").delimiter
        except csv.Error:
            sep = ","
        frame = pd.read_csv(
            _io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""]
        )
    else:
        msg = f"{path}: unsupported file type {suffix!r}; use .csv or .xlsx."
        raise InputError(msg)
    if frame.empty:
        msg = f"{path} has a header but no data rows."
        raise InputError(msg)
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.attrs["encoding"] = used
    return frame
