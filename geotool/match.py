"""Resolve what people type (province, prefecture, unit name, code) to adcodes.

Every input row comes out, with one of three statuses:

``matched``
    exactly one county-level unit of the bundled boundaries fits;
``ambiguous``
    several fit and the row lacks the context to choose (朝阳区 without 北京 or
    长春): the candidates are listed, nothing is guessed;
``unmatched``
    none fits (a typo, a unit that does not exist): the closest names are listed.

Names are normalised first: Unicode NFKC (full-width letters, digits and spaces become
half-width), all white space removed, markers such as ★ ☆ * ※ and footnote digits
dropped. Provinces and prefectures may be abbreviated (内蒙古, 巴音郭楞); the report's
省直管 / 省直辖 stands for a province-administered unit. Units renamed or
re-classified since (龙海市 350681 -> 龙海区 350604, 2021) resolve through
``geotool/data/crosswalk.csv``, and the method says so.

The gazetteer is the county layer's own attribute table
(:func:`geotool.boundaries.units`), so codes and polygons agree by construction.

Codes are read strictly: six digits (``320281``, ``320281.0`` from a spreadsheet,
full-width ``３２０２８１``), or a 12-digit statistical code whose last six digits are
zeros (``320281000000``, read as ``320281`` and said so). Anything else in a code cell
(``32a0281``, ``3202-81``, ``320281.9``, a township code) leaves the row unmatched with
a note; it is never repaired silently.

:func:`resolve` works on the distinct rows of a table (a panel repeats its units), so a
million rows take seconds; each distinct row is resolved by the same rules.
"""

from __future__ import annotations

import difflib
import re
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geotool import boundaries, settings
from geotool._cache import settings_cache
from geotool._errors import InputError, MatchError
from geotool._log import log
from geotool._text import listing, short

__all__ = [
    "COLUMN_ALIASES",
    "MATCH_COLUMNS",
    "detect_columns",
    "normalise",
    "resolve",
    "stem",
]

MATCH_COLUMNS = ["adcode", "match_status", "match_method", "match_candidates", "match_note"]

#: Column names recognised without being told, by role (compared after normalising).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("adcode", "code", "代码", "行政区划代码", "区划代码", "县代码"),
    "province": ("province", "省", "省份", "省(区、市)", "省（区、市）", "省区市", "省级"),
    "prefecture": ("prefecture", "city", "市", "地级市", "地市", "所属地市"),
    "name": (
        "name",
        "county",
        "unit",
        "县",
        "县(市)",
        "县（市）",
        "区县",
        "名称",
        "县区",
        "区",
        "地区",
        "地区名称",
    ),
}

_MARKERS = re.compile(r"[★☆*＊※●◆▲△○#＃†‡]|\(\d+\)|\[\d+\]|（\d+）|(?<=[\u4e00-\u9fff])\d+$")
# what every match of _MARKERS contains, or ends with (a decimal digit): a quick test
_MAY_HAVE_MARKERS = re.compile(r"[★☆*＊※●◆▲△○#＃†‡(\[（]")
_PROVINCE_ADMINISTERED = {"省直管", "省直辖", "省直辖县级行政区划", "省直辖县", "直管", "省管"}
_UNIT_SUFFIXES = ("自治县", "自治旗", "林区", "特区", "市", "县", "区", "旗")
_CODE = re.compile(r"([0-9]+)(?:\.0+)?")
_PROGRESS_AFTER_S = 2.0


def normalise(text: object) -> str:
    """Normalise a typed name: NFKC, no white space, no markers.

    Missing values (``None``, ``NaN``, ``pd.NA``, ``NaT``) become the empty string.

    Examples
    --------
    >>> normalise(" 江阴市★ ")
    '江阴市'
    >>> normalise("ｋｕｎｓｈａｎ　市")
    'kunshan市'

    """
    if text is None or (pd.api.types.is_scalar(text) and bool(pd.isna(text))):  # type: ignore[call-overload]
        return ""
    out = "".join(unicodedata.normalize("NFKC", str(text)).split())  # split: any white space
    if _MAY_HAVE_MARKERS.search(out) or out[-1:].isdecimal():
        out = _MARKERS.sub("", out)
    return out


def stem(name: str) -> str:
    """A unit name without its type suffix (市, 县, 区, 旗, 自治县, ...).

    The suffix stays when dropping it would leave a single character (城区 stays 城区),
    so the stem still names something. Compare normalised names
    (:func:`normalise`): the stem of 江阴市 is 江阴, which a table may write alone.

    Examples
    --------
    >>> stem("江阴市"), stem("准格尔旗"), stem("长阳土家族自治县"), stem("城区")
    ('江阴', '准格尔', '长阳土家族', '城区')

    """
    for suffix in _UNIT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


_stem = stem


@settings_cache(maxsize=1)
def _gazetteer() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    units = boundaries.units().reset_index()
    units["stem"] = units["name"].map(stem)
    provinces = pd.read_csv(settings.data_dir / "provinces.csv", dtype=str)
    crosswalk = pd.read_csv(
        settings.data_dir / "areacodes_crosswalk.csv", dtype=str, keep_default_na=False
    )
    return units, provinces, crosswalk


@dataclass(frozen=True)
class _Index:
    """Look-ups over the gazetteer, built once, so one row costs microseconds."""

    known: frozenset[str]
    name: dict[str, str]  # adcode -> unit name
    province: dict[str, str]  # adcode -> province code
    prefecture: dict[str, str]  # adcode -> prefecture code
    label: dict[str, str]  # adcode -> "code 省市名"
    by_name: dict[str, list[str]]  # unit name -> adcodes, in gazetteer order
    by_stem: dict[str, list[str]]  # stem -> adcodes
    provinces: list[tuple[str, str, str, str]]  # (code, name, short, English lower-case)
    prefectures: list[tuple[str, str, str, bool]]  # (prefecture code, name, province, 省直管)
    crosswalk: list[dict[str, str]]  # rows, in file order
    longest_name: int


@settings_cache(maxsize=1)
def _index() -> _Index:
    units, provinces, crosswalk = _gazetteer()
    by_name: dict[str, list[str]] = {}
    by_stem: dict[str, list[str]] = {}
    label: dict[str, str] = {}
    for r in (
        units[["adcode", "name", "stem", "prefecture", "province"]].astype(str).to_dict("records")
    ):
        by_name.setdefault(r["name"], []).append(r["adcode"])
        by_stem.setdefault(r["stem"], []).append(r["adcode"])
        pref = "" if r["prefecture"] == r["province"] else r["prefecture"]
        label[r["adcode"]] = f"{r['adcode']} {r['province']}{pref}{r['name']}"
    return _Index(
        known=frozenset(units["adcode"]),
        name=dict(zip(units["adcode"], units["name"], strict=True)),
        province=dict(zip(units["adcode"], units["province_code"], strict=True)),
        prefecture=dict(zip(units["adcode"], units["prefecture_code"], strict=True)),
        label=label,
        by_name=by_name,
        by_stem=by_stem,
        provinces=[
            (r["province_code"], r["province"], r["short"], r["province_en"].lower())
            for r in provinces[["province_code", "province", "short", "province_en"]]
            .astype(str)
            .to_dict("records")
        ],
        prefectures=list(
            units[["prefecture_code", "prefecture", "province_code", "province_administered"]]
            .drop_duplicates()
            .itertuples(index=False, name=None)
        ),
        crosswalk=[
            {str(k): str(v) for k, v in r.items()}
            for r in crosswalk[crosswalk["level"] == "county"].to_dict("records")
        ],
        longest_name=int(units["name"].str.len().max()),
    )


@settings_cache(maxsize=4096)
def _province_codes(text: str) -> frozenset[str]:
    if not text:
        return frozenset()
    lower = text.lower()
    return frozenset(
        code
        for code, name, short_name, english in _index().provinces
        if name.startswith(text) or short_name == text or english == lower
    )


@settings_cache(maxsize=4096)
def _prefecture_codes(text: str, provs: frozenset[str]) -> frozenset[str]:
    if not text:
        return frozenset()
    pool = [p for p in _index().prefectures if not provs or p[2] in provs]
    if text in _PROVINCE_ADMINISTERED:
        return frozenset(code for code, _, _, administered in pool if administered)
    # (the name itself, an abbreviation, the name without 市: all begin the name)
    return frozenset(code for code, name, _, _ in pool if name.startswith(text))


def _label(codes: Iterable[str]) -> str:
    labels = _index().label
    return "; ".join(labels[code] for code in sorted(codes))


def _close_matches(word: str, options: list[str], n: int) -> list[str]:
    # difflib's ratio is at most 2*len(b)/(len(a)+len(b)): below the 0.5 cutoff for
    # every option once ``word`` is over three times the longest (a pasted paragraph),
    # so skip difflib there rather than index a huge word.
    if len(word) > 3 * _index().longest_name:
        return []
    return difflib.get_close_matches(word, options, n=n, cutoff=0.5)


@settings_cache(maxsize=1024)
def _pool(provs: frozenset[str], prefs: frozenset[str]) -> tuple[tuple[str, str, str], ...]:
    """(adcode, name, stem) of the units within the context, in gazetteer order.

    The whole gazetteer when the context leaves none.
    """
    units = _gazetteer()[0]
    rows = tuple(units[["adcode", "name", "stem"]].itertuples(index=False, name=None))
    keep = set(_in_context([r[0] for r in rows], provs, prefs))
    pool = tuple(r for r in rows if r[0] in keep)
    return pool or rows


def _closest(name: str, pool: tuple[tuple[str, str, str], ...], n: int = 3) -> list[str]:
    names = list(dict.fromkeys(r[1] for r in pool))
    close = _close_matches(name, names, n)
    if not close:
        stems = set(_close_matches(stem(name), [r[2] for r in pool], n))
        close = list(dict.fromkeys(r[1] for r in pool if r[2] in stems))[:n]
    return [r[0] for r in pool if r[1] in close]


def _read_code(text: str) -> tuple[str | None, str, str]:
    """Read a normalised code cell: (code, method, note).

    ``code`` is ``""`` when the cell holds no code at all (match by name) and ``None``
    when it holds something that is not a county's code (the row stays unmatched).
    """
    found = _CODE.fullmatch(text)
    if found is None:
        if not re.search(r"\d", text):  # any digit, Arabic-Indic too
            return "", "", f"code cell {short(text)!r} holds no digits, ignored"
        note = (
            f"malformed code {short(text)!r}: a county code is six digits (320281); "
            "correct it, or leave the cell blank to match by name"
        )
        return None, "code", note
    digits = found.group(1)
    if len(digits) == 12:
        if digits.endswith("000000"):
            return digits[:6], "code12", f"12-digit statistical code {digits} read as {digits[:6]}"
        note = (
            f"{digits} is a 12-digit township/village code, not a county's; its first six "
            f"digits ({digits[:6]}) are the county code"
        )
        return None, "code12", note
    return digits, "code", ""


def _in_context(codes: Iterable[str], provs: frozenset[str], prefs: frozenset[str]) -> list[str]:
    idx = _index()
    return [
        c
        for c in codes
        if (not provs or idx.province[c] in provs) and (not prefs or idx.prefecture[c] in prefs)
    ]


def _resolve_one(
    name: str, prov_text: str, pref_text: str, code_text: str
) -> tuple[str | None, str, str, list[str], str]:
    """Return (adcode, status, method, candidates, note) for one row.

    The rules of matching live here and only here; the arguments are cells already
    passed through :func:`normalise`. :func:`resolve` calls it once per distinct row.
    """
    idx = _index()
    provs = _province_codes(prov_text)
    notes = []
    if prov_text and not provs:
        notes.append(f"province {short(prov_text)!r} not recognised, ignored")
    prefs = _prefecture_codes(pref_text, provs)
    if pref_text and not prefs:
        notes.append(f"prefecture {short(pref_text)!r} not recognised, ignored")

    # 1. A code, when given, decides; a name given beside it must agree.
    code, method, read_note = _read_code(code_text) if code_text else ("", "", "")
    if read_note:
        notes.append(read_note)
    if code is None:
        return None, "unmatched", method, [], "; ".join(notes)
    if code:
        new = None
        if code in idx.known:
            new = code
        else:
            moved = [r for r in idx.crosswalk if r["code"] == code]
            targets = sorted({c for r in moved for c in r["layer_codes"].split(";") if c})
            if moved:
                method = f"{method}+crosswalk"
                notes.extend(_latest_notes(moved, code_first=True))
            if len(targets) == 1:
                new = targets[0]
            elif targets:
                return None, "ambiguous", method, targets, "; ".join(notes)
            elif moved:
                return None, "unmatched", method, [], "; ".join(notes)
        if new is None:
            return (
                None,
                "unmatched",
                method,
                [],
                "; ".join([*notes, f"unknown code {short(code)!r}"]),
            )
        if name:
            unit_name = idx.name[new]
            old_names = {r["name"] for r in idx.crosswalk if r["layer_codes"] == new}
            if name not in {unit_name, *old_names} and stem(name) != stem(unit_name):
                by_name = set(idx.by_name.get(name, ()))
                note = f"code {code} is {unit_name}, but the name says {short(name)!r}"
                note = f"{read_note}; {note}" if read_note else note
                return None, "ambiguous", "code≠name", sorted({new, *by_name}), note
        return new, "matched", method, [], "; ".join(notes)

    if not name:
        return None, "unmatched", "none", [], "; ".join([*notes, "no name and no code"])

    # 2. Exact name within the context; 3. the crosswalk of old names;
    # 4. the name without its suffix (江阴 for 江阴市).
    for method, found in (
        ("name", _in_context(idx.by_name.get(name, ()), provs, prefs)),
        ("crosswalk", _in_context(_crosswalk_hits(name, pref_text, provs), provs, prefs)),
        ("name-stem", _in_context(idx.by_stem.get(stem(name), ()), provs, prefs)),
    ):
        hits = sorted(set(found))
        if method == "crosswalk" and hits:
            notes.extend(_latest_notes(_crosswalk_rows(name, pref_text, provs)))
            if len(hits) > 1:
                return None, "ambiguous", method, hits, "; ".join(notes)
        if len(hits) == 1:
            return hits[0], "matched", method, [], "; ".join(notes)
        if len(hits) > 1:
            notes.append(f"{len(hits)} units named {short(name)!r}; add the province or prefecture")
            return None, "ambiguous", method, hits, "; ".join(notes)
    # 5. Nothing: the same name elsewhere (context may be wrong), else close names.
    elsewhere = idx.by_name.get(name, [])
    if elsewhere:
        notes.append(f"{short(name)!r} exists, but not in the given province/prefecture")
        return None, "unmatched", "none", list(elsewhere), "; ".join(notes)
    formerly = sorted(set(_crosswalk_hits(name, "", frozenset())))
    if formerly:
        notes.append(
            f"{short(name)!r} is a former name of {_label(formerly)}, "
            "not in the given province/prefecture"
        )
        return None, "unmatched", "none", formerly, "; ".join(notes)
    return (
        None,
        "unmatched",
        "none",
        _closest(name, _pool(provs, prefs)),
        "; ".join([*notes, f"no unit named {short(name)!r}"]),
    )


def _crosswalk_rows(name: str, pref_text: str, provs: frozenset[str]) -> list[dict[str, str]]:
    """County-level records of the code history named ``name``, within the context."""
    rows = [r for r in _index().crosswalk if r["name"] == name]
    if provs:
        rows = [r for r in rows if r["code"][:2] in {p[:2] for p in provs}]
    if pref_text and len(rows) > 1:
        rows = [r for r in rows if r["prefecture"].startswith(pref_text)] or rows
    return rows


def _crosswalk_hits(name: str, pref_text: str, provs: frozenset[str]) -> list[str]:
    rows = _crosswalk_rows(name, pref_text, provs)
    return [c for r in rows for c in r["layer_codes"].split(";") if c]


def _latest_notes(rows: list[dict[str, str]], *, code_first: bool = False) -> list[str]:
    """One note per distinct outcome, the latest record's.

    Several records of the code history may share a name or a code over the years.
    """
    latest: dict[str, dict[str, str]] = {}
    for r in sorted(rows, key=lambda r: r["valid_to"] or "9999"):
        latest[r["layer_codes"]] = r
    return [_history_note(r, code_first=code_first) for r in latest.values()]


def _history_note(row: dict[str, str], *, code_first: bool = False) -> str:
    """What became of one record of the code history, in one clause."""
    codes = [c for c in row["layer_codes"].split(";") if c]
    names = row["layer_names"].split(";")
    when = f"on {row['effective']}" if "-" in row["effective"] else f"in {row['effective']}"
    old = f"{row['code']} {row['name']}" if code_first else f"{row['name']} {row['code']}"
    if "-" not in row["effective"]:  # from the code history: the change says it all
        return row["change"] or f"{old}: no successor recorded"
    if len(codes) == 1:
        new = f"{codes[0]} {names[0]}" if code_first else f"{names[0]} {codes[0]}"
        return f"{old} became {new} {when} ({row['change']})"
    if codes:
        return (
            f"{old} was split {when} among {len(codes)} units of today: the data cannot be "
            f"assigned to one without weights ({row['change']})"
        )
    return f"{old}: {row['change'] or 'no successor recorded'}"


def detect_columns(
    table: pd.DataFrame,
    *,
    name_col: str | None = None,
    province_col: str | None = None,
    prefecture_col: str | None = None,
    code_col: str | None = None,
) -> dict[str, str | None]:
    """Find the name, province, prefecture and code columns of a user's table.

    Columns named explicitly win; the others are recognised by
    :data:`COLUMN_ALIASES`. Raises :class:`~geotool._errors.InputError` when the
    table has two columns of one name, and :class:`MatchError` when a named column
    is missing or when neither a name nor a code column can be found.
    """
    duplicated = table.columns[table.columns.duplicated()].unique()
    if len(duplicated):
        msg = (
            f"The table has more than one column named {listing(duplicated)}; "
            "rename them so that each column name is unique."
        )
        raise InputError(msg)
    given = {
        "name": name_col,
        "province": province_col,
        "prefecture": prefecture_col,
        "code": code_col,
    }
    missing = [
        f"{role}_col={short(c)!r}"
        for role, c in given.items()
        if c is not None and c not in table.columns
    ]
    if missing:
        msg = (
            f"Column(s) {', '.join(missing)} not in the table; its columns are "
            f"{listing(table.columns)}. Pass existing column names."
        )
        raise MatchError(msg)
    found: dict[str, str | None] = dict(given)
    by_norm = {normalise(c).lower(): c for c in table.columns}
    taken = {c for c in given.values() if c}
    for role in ("code", "name", "province", "prefecture"):
        if found[role] is None:
            for alias in COLUMN_ALIASES[role]:
                col = by_norm.get(normalise(alias).lower())
                if col is not None and col not in taken:
                    found[role] = col
                    taken.add(col)
                    break
    if found["name"] is None and found["code"] is None:
        msg = (
            f"No unit-name or code column found among {listing(table.columns)}; "
            "name one with name_col= (or code_col=)."
        )
        raise MatchError(msg)
    return found


def _factorize(column: pd.Series) -> tuple[np.ndarray, list[object]]:
    """Codes (``-1`` for missing) and distinct values of a column.

    Two cells share a code only when :func:`normalise` cannot tell them apart: pandas
    alone would merge ``1``, ``1.0`` and ``True``, or ``0.0`` and ``-0.0``.
    """
    values = column.to_numpy()
    kind = values.dtype.kind
    if kind in "iub":
        codes, uniques = pd.factorize(values)
        return codes, uniques.tolist()
    if kind == "f":  # by bit pattern: -0.0 is not 0.0, as text
        codes, uniques = pd.factorize(values.view(f"i{values.dtype.itemsize}"))
        return codes, uniques.view(values.dtype).tolist()
    if kind == "O" and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        codes, uniques = pd.factorize(values)
        return codes, list(uniques)
    cells = list(column)  # the cells as a row-by-row reader sees them
    keys = np.array([f"{id(type(v))}\0{v}" for v in cells], dtype=object)
    codes, _ = pd.factorize(keys)
    first = np.unique(codes, return_index=True)[1]
    return codes, [cells[i] for i in first]


def _distinct_normalised(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes into the distinct normalised texts of a column, and those texts."""
    codes, uniques = _factorize(column)
    texts = [normalise(v) for v in uniques]
    texts.append("")  # for missing cells, code -1
    merged, distinct = pd.factorize(np.array(texts, dtype=object))
    return merged[codes], [str(t) for t in distinct]


class _Progress:
    """Log how far a long resolve has got: nothing for the first two seconds."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.start = time.perf_counter()
        self.due = self.start + _PROGRESS_AFTER_S
        self.said = False

    def __call__(self, what: Callable[[], str]) -> None:
        now = time.perf_counter()
        if now >= self.due:
            log(f"match: {what()} ({now - self.start:.0f} s)", progress=True)
            self.due = now + _PROGRESS_AFTER_S
            self.said = True

    def done(self) -> None:
        if self.said:
            took = time.perf_counter() - self.start
            log(f"match: resolved all {self.rows:,} rows in {took:.1f} s")


def resolve(
    table: pd.DataFrame,
    *,
    name_col: str | None = None,
    province_col: str | None = None,
    prefecture_col: str | None = None,
    code_col: str | None = None,
) -> pd.DataFrame:
    """Resolve each row of ``table`` to a six-digit adcode.

    Each distinct (province, prefecture, name, code) row is resolved once, so a
    panel of a million rows over a few thousand units takes seconds. When the work
    takes longer than two seconds, progress is logged on the ``geotool`` logger
    (INFO); nothing is printed.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows with any of a unit name, province, prefecture or code column.
    name_col, province_col, prefecture_col, code_col : str, optional
        Column names; those not given are recognised by common names
        (:data:`COLUMN_ALIASES`: 县/区县/名称/name, 省/省份/province,
        市/地级市/prefecture, adcode/代码/行政区划代码).

    Returns
    -------
    pandas.DataFrame
        A copy of ``table`` (same index, same row order, every row) with
        :data:`MATCH_COLUMNS` appended: ``adcode`` (``<NA>`` unless matched),
        ``match_status`` (matched / ambiguous / unmatched), ``match_method``
        (code, code12, name, crosswalk, name-stem, ...), ``match_candidates``
        ("code name; ..." for ambiguous and unmatched rows) and ``match_note``.
        A malformed code (``32a0281``) or a township's 12-digit code leaves its row
        unmatched, with a note.

    Raises
    ------
    InputError
        If the table has two columns of one name, or no name and no code in any row.
    MatchError
        If the table is empty or has no usable column (a subclass of InputError).

    Examples
    --------
    >>> rows = pd.DataFrame({"省": ["福建", "吉林", None], "县": ["龙海市", "朝阳区", "朝阳区"]})
    >>> resolve(rows)[["adcode", "match_status", "match_method"]].to_numpy().tolist()
    [['350604', 'matched', 'crosswalk'], ['220104', 'matched', 'name'], [<NA>, 'ambiguous', 'name']]

    """
    if not isinstance(table, pd.DataFrame):
        msg = f"resolve() takes a pandas DataFrame, got {short(type(table).__name__)}."
        raise MatchError(msg)
    if len(table.index) == 0:
        msg = "The table has no rows; nothing to resolve. Check the file and its sheet."
        raise MatchError(msg)
    cols = detect_columns(
        table,
        name_col=name_col,
        province_col=province_col,
        prefecture_col=prefecture_col,
        code_col=code_col,
    )
    rows = len(table)
    progress = _Progress(rows)
    roles = ("name", "province", "prefecture", "code")
    parts: list[tuple[np.ndarray, list[str]]] = []
    for role in roles:
        col = cols[role]
        progress(lambda role=role: f"reading the {role} column")  # type: ignore[misc]
        if col is None:
            parts.append((np.zeros(rows, dtype=np.intp), [""]))
        else:
            parts.append(_distinct_normalised(table[col]))
    named = dict(zip(roles, parts, strict=True))
    if named["name"][1] == [""] and named["code"][1] == [""]:
        shown = " and ".join(repr(short(cols[r])) for r in ("name", "code") if cols[r] is not None)
        msg = (
            f"Nothing to resolve: column {shown} is blank in all {rows:,} rows; pass the "
            "column that holds the unit names as name_col= (or the codes as code_col=)."
        )
        raise InputError(msg)

    # One key per distinct row: combine the four columns' codes pairwise.
    key = np.zeros(rows, dtype=np.int64)
    for codes, texts in parts:
        key, _ = pd.factorize(key * len(texts) + codes)
    first = np.unique(key, return_index=True)[1]
    weight = np.cumsum(np.bincount(key, minlength=len(first)))

    results = []
    for i, row in enumerate(first):
        texts = [part_texts[part_codes[row]] for part_codes, part_texts in parts]
        results.append(_resolve_one(*texts))
        progress(
            lambda i=i: (  # type: ignore[misc]
                f"resolved {weight[i]:,} of {rows:,} rows ({i + 1:,} of {len(first):,} distinct)"
            )
        )

    def spread(values: list[object]) -> np.ndarray:
        return np.array(values, dtype=object)[key]

    out = table.rename(columns={c: f"{c}_input" for c in MATCH_COLUMNS if c in table.columns})
    out["adcode"] = pd.array(spread([r[0] for r in results]), dtype="string")
    out["match_status"] = spread([r[1] for r in results])
    out["match_method"] = spread([r[2] for r in results])
    out["match_candidates"] = spread([_label(r[3]) if r[3] else "" for r in results])
    out["match_note"] = spread([r[4] for r in results])
    progress.done()
    return out


def duplicates(resolved: pd.DataFrame) -> pd.DataFrame:
    """Rows of a resolved table whose adcode is shared with another row."""
    matched = resolved[resolved["match_status"] == "matched"]
    return matched[matched["adcode"].duplicated(keep=False)]


def require_unique(resolved: pd.DataFrame) -> None:
    """Raise :class:`MatchError` if two rows resolved to the same unit."""
    dup = duplicates(resolved)
    if len(dup):
        codes = sorted(dup["adcode"].unique())
        shown = "; ".join(
            f"{code}: rows {listing(dup.index[(dup['adcode'] == code).to_numpy()], limit=10)}"
            for code in codes[:5]
        )
        more = f"; {len(codes) - 5:,} more" if len(codes) > 5 else ""
        msg = (
            f"{len(codes):,} unit(s) appear more than once ({shown}{more}); keep one row per "
            "unit (or aggregate them) and run again."
        )
        raise MatchError(msg)
