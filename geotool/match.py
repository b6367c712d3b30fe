"""Resolve what people type (province, prefecture, unit name, code) to adcodes.

Every input row comes out, with one of three statuses:

``matched``
    exactly one unit of the bundled boundaries fits;
``ambiguous``
    several fit and the row lacks the context to choose (朝阳区 without 北京 or
    长春), or the unit was split since (巢湖市, a prefecture until 2011): the
    candidates are listed, nothing is guessed;
``unmatched``
    none fits (a typo, a unit that does not exist): the closest names are listed,
    and a name of another level says so (苏州市 is a prefecture: use
    level='prefecture').

Tables are matched at one level: ``county`` (the county layer's units), ``prefecture``
or ``province`` (see :func:`gazetteer`: the four municipalities are prefecture-level
units under their province code, 110000; a province-administered county-level unit such
as 济源市 is one under its own code, 419001). ``level="auto"`` decides from the codes
(xx0000, xxxx00, others) or from the names (the level at which most of them are units);
the result's ``attrs`` record the level and why.

Names are normalised first: Unicode NFKC (full-width letters, digits and spaces become
half-width), all white space removed, markers such as ★ ☆ * ※ and footnote digits
dropped. Names may be shortened the way people do: county names without their suffix
(江阴 for 江阴市, :func:`stem`); prefectures and provinces without their type and
their ethnic groups (恩施, 恩施州, 延边, 新疆, 广西, :func:`core`), or by their
beginning when it fits one unit only (内蒙); the report's 省直管 / 省直辖 stands for a
province-administered unit. Units renamed, re-coded, merged or split since 1981 resolve
through ``geotool/data/areacodes_crosswalk.csv`` (the Ministry of Civil Affairs' code
history, built by ``tools/make_crosswalk.py``): old codes and old names, followed to
the bundled 2021 units (龙海市 350681 -> 龙海区 350604; 襄樊市 -> 襄阳市 420600; 海东地区
632100 -> 海东市 630200); the method says ``crosswalk`` and the note what changed and
when.

The gazetteer is the county layer's own attribute table
(:func:`geotool.boundaries.units`), so codes and polygons agree by construction; the
prefecture- and province-level units are derived from it, without reading polygons.

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
import functools
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
    "LEVELS",
    "MATCH_COLUMNS",
    "MUNICIPALITIES",
    "core",
    "detect_columns",
    "gazetteer",
    "normalise",
    "resolve",
    "stem",
]

MATCH_COLUMNS = ["adcode", "match_status", "match_method", "match_candidates", "match_note"]

#: Column names recognised without being told, by role (compared after normalising).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("adcode", "code", "代码", "行政区划代码", "区划代码", "县代码", "城市代码"),
    "province": ("province", "省", "省份", "省(区、市)", "省（区、市）", "省区市", "省级"),
    "prefecture": (
        "prefecture",
        "city",
        "城市",
        "市",
        "地级市",
        "地市",
        "所属地市",
        "地州市",
        "市州",
    ),
    "name": (
        "name",
        "county",
        "district",
        "unit",
        "县",
        "县市",
        "县(市)",
        "县（市）",
        "县(市、区)",
        "县（市、区）",
        "区县",
        "县区",
        "名称",
        "区",
        "地区",
        "地区名称",
    ),
    "year": ("year", "年份", "年度", "年"),
}

_MARKERS = re.compile(r"[★☆*＊※●◆▲△○#＃†‡]|\(\d+\)|\[\d+\]|（\d+）|(?<=[\u4e00-\u9fff])\d+$")
# what every match of _MARKERS contains, or ends with (a decimal digit): a quick test
_MAY_HAVE_MARKERS = re.compile(r"[★☆*＊※●◆▲△○#＃†‡(\[（]")
_PROVINCE_ADMINISTERED = {"省直管", "省直辖", "省直辖县级行政区划", "省直辖县", "直管", "省管"}
_UNIT_SUFFIXES = ("自治县", "自治旗", "林区", "特区", "市", "县", "区", "旗")
_CODE = re.compile(r"([0-9]+)(?:\.0+)?")
_YEAR = re.compile(r"((?:19|20)[0-9]{2})(?![0-9])")
_PROGRESS_AFTER_S = 2.0
_DETECT_NAMES = 500  # distinct names read to detect a table's level


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
    history_by_name: dict[str, list[dict[str, str]]]  # county records of the code history
    history_by_code: dict[str, list[dict[str, str]]]
    former_names: dict[str, set[str]]  # adcode -> the names its records had
    reused: dict[str, list[dict[str, str]]]  # a code of today that once meant another unit
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
    by_name_history: dict[str, list[dict[str, str]]] = {}
    by_code_history: dict[str, list[dict[str, str]]] = {}
    former: dict[str, set[str]] = {}
    for row in crosswalk[crosswalk["level"] == "county"].to_dict("records"):
        record = {str(k): str(v) for k, v in row.items()}
        by_name_history.setdefault(record["name"], []).append(record)
        by_code_history.setdefault(record["code"], []).append(record)
        former.setdefault(record["layer_codes"], set()).add(record["name"])
    known = frozenset(units["adcode"])
    return _Index(
        known=known,
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
        history_by_name=by_name_history,
        history_by_code=by_code_history,
        former_names=former,
        reused={
            code: [r for r in rows if r["layer_codes"] != code]
            for code, rows in by_code_history.items()
            if code in known and any(r["layer_codes"] != code for r in rows)
        },
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
    found = frozenset(code for code, name, _, _ in pool if name.startswith(text))
    if found:
        return found
    # 恩施州, 黔东南州, 襄樊市: as at the prefecture level, to the layer's codes
    units = _county_units()
    hits = _area_by_name("prefecture", text, provs)[1]
    return frozenset(units.loc[units["prefecture_unit"].isin(hits), "prefecture_code"])


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


def _year(text: str) -> int | None:
    """The year of a year cell (2019, 2019.0, 2019年, 2019-12-31), if it holds one."""
    found = _YEAR.match(text)
    return int(found.group(1)) if found else None


def _in_year(rows: list[dict[str, str]], year: str) -> list[dict[str, str]]:
    """The records of the code history in force in ``year`` (none without a year)."""
    y = _year(year)
    if y is None:
        return []
    return [r for r in rows if int(r["valid_from"]) <= y < int(r["valid_to"] or 9999)]


def _reused_note(code: str, rows: list[dict[str, str]]) -> str:
    then = "; ".join(f"{r['name']} in {r['valid_from']}-{int(r['valid_to']) - 1}" for r in rows[:3])
    return (
        f"{code} read as today's unit; the code meant {then}: for an older table, give "
        "its year column (year_col=)"
    )


def _code_cell(code_text: str, notes: list[str]) -> tuple[str | None, str, str]:
    """:func:`_read_code` of a code cell (blank: no code), its note added to ``notes``."""
    code, method, read_note = _read_code(code_text) if code_text else ("", "", "")
    if read_note:
        notes.append(read_note)
    return code, method, read_note


def _in_context(codes: Iterable[str], provs: frozenset[str], prefs: frozenset[str]) -> list[str]:
    idx = _index()
    return [
        c
        for c in codes
        if (not provs or idx.province[c] in provs) and (not prefs or idx.prefecture[c] in prefs)
    ]


def _resolve_one(
    name: str, prov_text: str, pref_text: str, code_text: str, year: str = ""
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
    code, method, read_note = _code_cell(code_text, notes)
    if code is None:
        return None, "unmatched", method, [], "; ".join(notes)
    if code:
        new = None
        if code in idx.known:  # today's unit, unless the year says the code meant another
            reused = idx.reused.get(code, [])
            moved = _in_year(reused, year)
            if not moved:
                new = code
                if reused and not name and not _year(year):
                    notes.append(_reused_note(code, reused))
        else:
            moved = idx.history_by_code.get(code, [])
        if new is None:
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
            unknown = f"unknown code {short(code)!r}"
            if code.endswith("00"):  # xx0000 and xxxx00 name provinces and prefectures
                kind = "province" if code.endswith("0000") else "prefecture"
                unknown += f" at the county level: a {kind} code (level='{kind}' for {kind}s)"
            return None, "unmatched", method, [], "; ".join([*notes, unknown])
        if name:
            unit_name = idx.name[new]
            old_names = idx.former_names.get(new, set())
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
    for method, find in (
        ("name", lambda: _in_context(idx.by_name.get(name, ()), provs, prefs)),
        ("crosswalk", lambda: _crosswalk_hits(name, pref_text, provs, prefs)),
        ("name-stem", lambda: _in_context(idx.by_stem.get(stem(name), ()), provs, prefs)),
    ):
        hits = sorted(set(find()))
        if method == "crosswalk" and hits:
            notes.extend(_latest_notes(_crosswalk_rows(name, pref_text, provs, prefs)))
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
    lost = _crosswalk_rows(name, pref_text, provs, prefs)
    if lost:  # a former unit the history cannot follow (和康县, created after 2021)
        return None, "unmatched", "crosswalk", [], "; ".join([*notes, *_latest_notes(lost)])
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


def _crosswalk_rows(
    name: str, pref_text: str, provs: frozenset[str], prefs: frozenset[str] = frozenset()
) -> list[dict[str, str]]:
    """County-level records of the code history named ``name`` that fit the context.

    The context may describe the unit as it was (广东 for 海口市 before 1988, 襄樊 for
    襄城区) or as it is today (海南, 襄阳): either fits. A prefecture context that was
    not recognised (``prefs`` empty) is ignored, as elsewhere.
    """
    idx = _index()
    fits = []
    for r in idx.history_by_name.get(name, []):
        targets = [c for c in r["layer_codes"].split(";") if c]
        if (
            provs
            and r["code"][:2] not in {p[:2] for p in provs}
            and not any(idx.province[c] in provs for c in targets)
        ):
            continue
        if (
            prefs
            and not (pref_text and r["prefecture"].startswith(pref_text))
            and not any(idx.prefecture[c] in prefs for c in targets)
        ):
            continue
        fits.append(r)
    return fits


def _crosswalk_hits(
    name: str, pref_text: str, provs: frozenset[str], prefs: frozenset[str] = frozenset()
) -> list[str]:
    rows = _crosswalk_rows(name, pref_text, provs, prefs)
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
        split = "; a split is not guessed: choose a candidate" if len(codes) > 1 else ""
        return (row["change"] or f"{old}: no successor recorded") + split
    if len(codes) == 1:
        new = f"{codes[0]} {names[0]}" if code_first else f"{names[0]} {codes[0]}"
        return f"{old} became {new} {when} ({row['change']})"
    if codes:
        return (
            f"{old} was split {when} among {len(codes)} units of today: the data cannot be "
            f"assigned to one without weights ({row['change']})"
        )
    return f"{old}: {row['change'] or 'no successor recorded'}"


# Prefecture- and province-level units: the gazetteers, abbreviations, the code history.

#: The levels :func:`resolve` matches at (``auto`` picks one from the table).
LEVELS = ("auto", "county", "prefecture", "province")
#: The four municipalities (直辖市), by province code.
MUNICIPALITIES = frozenset({"110000", "120000", "310000", "500000"})
# The 56 ethnic groups, as they appear in the names of autonomous areas (恩施土家族苗族
# 自治州, 新疆维吾尔自治区, 巴音郭楞蒙古自治州): one-character names only with 族.
_ETHNIC_GROUPS = [
    "汉",
    "蒙古",
    "回",
    "藏",
    "维吾尔",
    "苗",
    "彝",
    "壮",
    "布依",
    "朝鲜",
    "满",
    "侗",
    "瑶",
    "白",
    "土家",
    "哈尼",
    "哈萨克",
    "傣",
    "黎",
    "傈僳",
    "佤",
    "畲",
    "高山",
    "拉祜",
    "水",
    "东乡",
    "纳西",
    "景颇",
    "柯尔克孜",
    "土",
    "达斡尔",
    "仫佬",
    "羌",
    "布朗",
    "撒拉",
    "毛南",
    "仡佬",
    "锡伯",
    "阿昌",
    "普米",
    "塔吉克",
    "怒",
    "乌孜别克",
    "俄罗斯",
    "鄂温克",
    "德昂",
    "保安",
    "裕固",
    "京",
    "塔塔尔",
    "独龙",
    "鄂伦春",
    "赫哲",
    "门巴",
    "珞巴",
    "基诺",
]
_ETHNIC_TAIL = re.compile(
    "(?:"
    + "|".join(
        f"{g}族" if len(g) == 1 else f"{g}族?"
        for g in sorted(_ETHNIC_GROUPS, key=len, reverse=True)
    )
    + ")$"
)
_AREA_SUFFIXES = ("特别行政区", "自治区", "自治州", "地区", "盟", "省", "市")
# Words that end a county-level name: a bare abbreviation (内蒙, 大兴安岭) has none of them.
_COUNTY_ENDINGS = ("县", "区", "旗", "市")
_LEVEL_WORD = {
    "county": "a county-level unit",
    "prefecture": "a prefecture",
    "province": "a province",
}


def core(name: str) -> str:
    """A prefecture's or province's name without its type and its ethnic groups.

    One suffix (市, 省, 自治区, 自治州, 地区, 盟, 特别行政区) is dropped, then the ethnic
    groups that end the rest; never down to a single character (内蒙古 keeps 蒙古, 西藏
    its 藏). This is how people shorten these names, and what :func:`resolve` compares
    at the prefecture and province levels.

    Examples
    --------
    >>> core("恩施土家族苗族自治州"), core("新疆维吾尔自治区"), core("内蒙古自治区")
    ('恩施', '新疆', '内蒙古')
    >>> core("大兴安岭地区"), core("苏州市"), core("西藏自治区")
    ('大兴安岭', '苏州', '西藏')

    """
    out = name
    for suffix in _AREA_SUFFIXES:
        if out.endswith(suffix) and len(out) > len(suffix) + 1:
            out = out[: -len(suffix)]
            break
    while True:
        found = _ETHNIC_TAIL.search(out)
        if found is None or found.start() < 2:
            return out
        out = out[: found.start()]


def _keys(name: str) -> set[str]:
    """The forms a prefecture or province is typed in: 恩施土家族苗族自治州 -> 恩施, 恩施州."""
    keys = {name, core(name)}
    if name.endswith("自治州"):
        keys.add(core(name) + "州")
    return keys


@settings_cache(maxsize=1)
def _county_units() -> pd.DataFrame:
    units = boundaries.units()
    # a group of several province-administered units (429000: 仙桃, 潜江, ...) is no
    # unit: each member is one; a group of one (419000: 济源) is that unit
    size = units.groupby("prefecture_code")["name"].transform("size")
    grouped = units["province_administered"].astype(bool) & (size > 1)
    units["prefecture_unit"] = units["prefecture_code"].where(~grouped, units.index.to_series())
    return units


def gazetteer(level: str = "county") -> pd.DataFrame:
    """The units :func:`resolve` matches against at one level (no geometry).

    Parameters
    ----------
    level : {"county", "prefecture", "province"}
        The level.

    Returns
    -------
    pandas.DataFrame
        Indexed by six-digit code, with ``name``, ``province_code``, ``province`` and
        ``kind``. Prefecture-level units are the units of the bundled prefecture
        layer, under its codes: prefectures, 自治州, 地区 and 盟 (``prefecture``);
        the municipalities (``municipality``: 北京市 110100, ..., 重庆市 500100 and
        500200, its counties, reached by code only); and the province-administered
        county-level units (``administered``): 济源市 alone under 419000, as in the
        layer, while the members of a group of several (429000: 仙桃市, 潜江市, ...;
        469000; 659000) are units under their own county codes (429004), since the
        layer's group polygon is no one unit; take their polygons from the county
        layer. The county level adds ``prefecture_unit``: the prefecture-level unit
        each county belongs to, by which county polygons dissolve into these units.

    Examples
    --------
    >>> prefectures = gazetteer("prefecture")
    >>> prefectures.loc[["320500", "500100", "419000", "429004"], "kind"].tolist()
    ['prefecture', 'municipality', 'administered', 'administered']
    >>> gazetteer("county").loc[["500229", "429004"], "prefecture_unit"].tolist()
    ['500200', '429004']

    """
    if level not in boundaries.LEVELS:
        msg = f"level={short(level)!r} is not a level; use one of {boundaries.LEVELS}."
        raise InputError(msg)
    return _gazetteer_table(level).copy()


@settings_cache(maxsize=3)
def _gazetteer_table(level: str) -> pd.DataFrame:
    units = _county_units()
    if level == "county":
        table = units[["name", "province_code", "province", "prefecture_unit"]].copy()
        table.insert(3, "kind", units["unit_type"])
        return table
    if level == "province":
        provinces = pd.read_csv(settings.data_dir / "provinces.csv", dtype=str)
        table = provinces.set_index("province_code")[["province"]].rename(
            columns={"province": "name"}
        )
        table["province_code"] = table.index
        table["province"] = table["name"]
        table["kind"] = "province"
        table.index.name = "adcode"
        return table
    first = units.groupby("prefecture_unit", sort=False).head(1)
    kind = np.where(
        first["province_administered"].astype(bool),
        "administered",
        np.where(first["province_code"].isin(MUNICIPALITIES), "municipality", "prefecture"),
    )
    name = np.where(
        kind == "administered",
        first["name"],
        np.where(kind == "municipality", first["province"], first["prefecture"]),
    )  # (重庆's second code, 500200 for its counties, is named 重庆市 too)
    table = pd.DataFrame(
        {
            "name": name,
            "province_code": first["province_code"].to_numpy(),
            "province": first["province"].to_numpy(),
            "kind": kind,
        },
        index=pd.Index(first["prefecture_unit"].to_numpy(), name="adcode"),
    )
    return table.sort_index()


@dataclass(frozen=True)
class _AreaIndex:
    """Look-ups for one level above the county: names, typed forms, the code history."""

    level: str
    name: dict[str, str]  # code -> name
    province: dict[str, str]  # code -> province code
    label: dict[str, str]  # code -> "code 省名"
    by_name: dict[str, list[str]]
    by_key: dict[str, list[str]]  # a typed form (恩施, 恩施州, 内蒙古) -> codes
    layer_codes: dict[str, str]  # the layer's own codes (320500; 500200, 429000) -> units
    history: dict[str, list[dict[str, str]]]  # a former name or its form -> records
    history_by_code: dict[str, list[dict[str, str]]]


@settings_cache(maxsize=2)
def _area_index(level: str) -> _AreaIndex:
    table = _gazetteer_table(level)
    by_name: dict[str, list[str]] = {}
    by_key: dict[str, list[str]] = {}
    label: dict[str, str] = {}
    for code, r in zip(table.index, table.to_dict("records"), strict=True):
        if r["kind"] == "municipality" and not code.endswith("0100"):
            label[code] = f"{code} {r['name']} (its counties)"
            continue  # 重庆's 500200: by code only, 重庆市 is 500100
        by_name.setdefault(r["name"], []).append(code)
        for key in _keys(r["name"]):
            by_key.setdefault(key, []).append(code)
        where = "" if r["name"] == r["province"] or level == "province" else r["province"]
        label[code] = f"{code} {where}{r['name']}"
    if level == "province":
        provinces = pd.read_csv(settings.data_dir / "provinces.csv", dtype=str)
        for r in provinces.to_dict("records"):
            for key in (r["short"], r["province_en"].lower()):
                by_key.setdefault(key, []).append(r["province_code"])
        layer_codes = {code: code for code in table.index}
    else:  # a municipality's province code stands for its city (110000 -> 110100)
        layer_codes = {f"{p[:2]}0000": f"{p[:2]}0100" for p in MUNICIPALITIES}
        layer_codes.update({code: code for code in table.index})
    crosswalk = _gazetteer()[2]
    rows: list[dict[str, str]] = [
        {str(k): str(v) for k, v in r.items()}
        for r in crosswalk[crosswalk["level"] == level].to_dict("records")
    ]
    history: dict[str, list[dict[str, str]]] = {}
    history_by_code: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        for key in _keys(row["name"]):
            history.setdefault(key, []).append(row)
        history_by_code.setdefault(row["code"], []).append(row)
    return _AreaIndex(
        level=level,
        name=dict(zip(table.index, table["name"], strict=True)),
        province=dict(zip(table.index, table["province_code"], strict=True)),
        label=label,
        by_name={k: sorted(set(v)) for k, v in by_name.items()},
        by_key={k: sorted(set(v)) for k, v in by_key.items()},
        layer_codes=layer_codes,
        history=history,
        history_by_code=history_by_code,
    )


def _area_label(level: str, codes: Iterable[str]) -> str:
    labels = _area_index(level).label
    return "; ".join(labels[code] for code in sorted(codes))


def _history_codes(rows: list[dict[str, str]]) -> list[str]:
    return sorted({c for r in rows for c in r["layer_codes"].split(";") if c})


@settings_cache(maxsize=8192)
def _area_by_name(level: str, name: str, provs: frozenset[str]) -> tuple[str, list[str], list[str]]:
    """(method, hits, notes) for a name at the prefecture or province level."""
    idx = _area_index(level)

    def within(codes: Iterable[str]) -> list[str]:
        return sorted({c for c in codes if not provs or idx.province[c] in provs})

    def former(forms: Iterable[str]) -> list[dict[str, str]]:
        rows = [r for form in dict.fromkeys(forms) for r in idx.history.get(form, ())]
        return [r for r in rows if not provs or r["code"][:2] in {p[:2] for p in provs}]

    found = within(idx.by_name.get(name, ()))
    if found:
        return "name", found, []
    rows = [r for r in former([name]) if r["name"] == name]  # 海东地区: a former name
    if rows:
        return "crosswalk", _history_codes(rows), _latest_notes(rows)
    forms = [name, core(name), name.lower()]
    found = within(c for form in forms for c in idx.by_key.get(form, ()))
    if found:
        return "name-short", found, []
    rows = former(forms)
    if rows:
        return "crosswalk", _history_codes(rows), _latest_notes(rows)
    if len(name) >= 2 and not name.endswith(_COUNTY_ENDINGS):  # 内蒙 for 内蒙古
        found = within(
            code for key, codes in idx.by_key.items() if key.startswith(name) for code in codes
        )
        if found:
            return "name-prefix", found, []
    return "none", [], []


def _area_code(level: str, code: str) -> tuple[list[str], str, list[str]]:
    """(units, method suffix, notes) for a six-digit code at the prefecture or province level."""
    idx = _area_index(level)
    if code in idx.name:
        return [code], "", []
    if code in idx.layer_codes:
        unit = idx.layer_codes[code]
        return [unit], "", [f"{code} read as {idx.label[unit]}, the unit at this level"]
    if level == "prefecture" and code.endswith("9000"):  # 省直辖县级行政区划
        units = sorted(c for c in idx.name if c[:2] == code[:2] and c[2:4] == "90")
        if units:
            note = f"{code} groups the province-administered units {_area_label(level, units)}"
            return units, "", [note]
    rows = idx.history_by_code.get(code, [])
    if rows:
        return _history_codes(rows), "+crosswalk", _latest_notes(rows, code_first=True)
    return [], "", []


def _resolve_area(
    level: str, name: str, prov_text: str, code_text: str
) -> tuple[str | None, str, str, list[str], str]:
    """Return (adcode, status, method, candidates, note) for one row at ``level``.

    The rules at the prefecture and province levels, as :func:`_resolve_one`'s at the
    county level: a code decides (a name beside it must agree); then the exact name,
    the typed forms (:func:`core`, 恩施州), former names from the code history, and a
    bare abbreviation that begins one name (内蒙). Several hits are ambiguous.
    """
    idx = _area_index(level)
    provs = _province_codes(prov_text) if level == "prefecture" else frozenset()
    notes = []
    if level == "prefecture" and prov_text and not provs:
        notes.append(f"province {short(prov_text)!r} not recognised, ignored")
    code, method, _ = _code_cell(code_text, notes)
    if code is None:
        return None, "unmatched", method, [], "; ".join(notes)
    if code:
        units, suffix, more = _area_code(level, code)
        notes.extend(more)
        method += suffix
        if not units:
            if code in _index().known:
                notes.append(
                    f"{code} is a county-level unit's code ({_index().name[code]}): "
                    "use level='county'"
                )
            else:
                notes.append(f"unknown {level} code {short(code)!r}")
            return None, "unmatched", method, [], "; ".join(notes)
        if name:
            by_name = _area_by_name(level, name, provs)[1]
            if by_name and not set(by_name) & set(units):
                notes.append(
                    f"code {code} is {_area_label(level, units)}, but the name says {short(name)!r}"
                )
                return None, "ambiguous", "code≠name", sorted({*units, *by_name}), "; ".join(notes)
            units = sorted(set(units) & set(by_name)) or units
        if len(units) > 1:
            return None, "ambiguous", method, units, "; ".join(notes)
        return units[0], "matched", method, [], "; ".join(notes)
    if not name:
        return None, "unmatched", "none", [], "; ".join([*notes, "no name and no code"])
    method, hits, more = _area_by_name(level, name, provs)
    notes.extend(more)
    if method == "crosswalk" and not hits:  # a former unit the history cannot follow
        return None, "unmatched", method, [], "; ".join(notes)
    if len(hits) == 1:
        if idx.name[hits[0]] != name and method != "crosswalk":
            notes.append(f"{short(name)!r} read as {idx.name[hits[0]]}")
        if level == "prefecture" and hits[0] == "500100" and "500200" in idx.label:
            notes.append(f"the prefecture layer has 重庆市's counties apart: {idx.label['500200']}")
        return hits[0], "matched", method, [], "; ".join(notes)
    if hits:
        if method != "crosswalk":
            notes.append(f"{len(hits)} units fit {short(name)!r}; write the full name")
        return None, "ambiguous", method, hits, "; ".join(notes)
    names = list(idx.by_name)
    close = _close_matches(name, names, 3) or _close_matches(core(name), list(idx.by_key), 3)
    candidates = sorted({c for n in close for c in idx.by_name.get(n, idx.by_key.get(n, []))})
    notes.append(f"no {level} named {short(name)!r}")
    return None, "unmatched", "none", candidates, "; ".join(notes)


def _found_at(level: str, name: str) -> bool:
    """Whether ``name`` names a unit (or a former one) at ``level``, in any context."""
    if level == "county":
        idx = _index()
        return (
            name in idx.by_name
            or stem(name) in idx.by_stem
            or bool(_crosswalk_hits(name, "", frozenset()))
        )
    return bool(_area_by_name(level, name, frozenset())[1])


def _detect_level(names: list[str], codes: list[str], hint: str | None) -> tuple[str, str]:
    """The level of a table, and why, from its distinct names and codes."""
    six = [c for c in (_read_code(t)[0] for t in codes if t) if c and len(c) == 6]
    if six:
        votes = {
            "province": sum(c.endswith("0000") for c in six),
            "prefecture": sum(c.endswith("00") and not c.endswith("0000") for c in six),
        }
        votes["county"] = len(six) - votes["province"] - votes["prefecture"]
        level = max(("county", "prefecture", "province"), key=lambda lv: votes[lv])
        reason = (
            f"codes: {votes[level]:,} of {len(six):,} distinct codes are {level} codes "
            "(xx0000 province, xxxx00 prefecture, others county)"
        )
        return level, reason
    names = [n for n in names if n]
    first = "" if len(names) <= _DETECT_NAMES else "the first "
    names = names[:_DETECT_NAMES]  # plenty to tell the level; cheap on large tables
    order = ["county", "prefecture", "province"]
    counts = {lv: sum(_found_at(lv, n) for n in names) for lv in order}
    if hint in order:  # the column's header breaks ties (城市 -> prefecture)
        order.remove(hint)
        order.insert(0, hint)
    level = max(order, key=lambda lv: counts[lv])
    others = ", ".join(f"{lv} {counts[lv]:,}" for lv in order if lv != level)
    reason = (
        f"names: {counts[level]:,} of {first}{len(names):,} distinct names are {level}-level "
        "units "
        f"({others})"
    )
    return level, reason


def _elsewhere_note(level: str, name: str) -> str:
    """Say so when an unmatched name is a unit of another level."""
    if not name or _found_at(level, name):  # a unit of this level, out of context
        return ""
    for other in ("prefecture", "province", "county"):
        if other != level and _found_at(other, name):
            return f"{short(name)} is {_LEVEL_WORD[other]}: use level={other!r}"
    return ""


def detect_columns(
    table: pd.DataFrame,
    *,
    name_col: str | None = None,
    province_col: str | None = None,
    prefecture_col: str | None = None,
    code_col: str | None = None,
    year_col: str | None = None,
) -> dict[str, str | None]:
    """Find the name, province, prefecture, code and year columns of a user's table.

    Columns named explicitly win; the others are recognised by
    :data:`COLUMN_ALIASES` (case-insensitive, after :func:`normalise`). The unit names
    are in the finest-level column present: in a county table (县市, 地市, 省份) 县市
    holds the names and 地市 the prefecture they lie in; in a prefecture table (城市,
    省份), without a county column or a code column, 城市 holds the names; in a
    province table (省份 alone), 省份 does.

    Parameters
    ----------
    table : pandas.DataFrame
        The user's table (only its column names are read).
    name_col, province_col, prefecture_col, code_col, year_col : str, optional
        Column names that override the recognition.

    Returns
    -------
    dict of str to str or None
        ``{"name", "province", "prefecture", "code", "year"}`` to a column name, or
        ``None`` where the table has none.

    Raises
    ------
    InputError
        If the table has two columns of one name.
    MatchError
        If a named column is missing, if two columns could each hold the unit names
        (县 and 地区), or if neither a name nor a code column can be found.

    Examples
    --------
    >>> detect_columns(pd.DataFrame(columns=["县市", "地市", "省份", "年份", "GDP"]))
    {'name': '县市', 'province': '省份', 'prefecture': '地市', 'code': None, 'year': '年份'}
    >>> detect_columns(pd.DataFrame(columns=["城市", "省份", "GDP"]))["name"]
    '城市'

    """
    return _detect_columns(
        table,
        name_col=name_col,
        province_col=province_col,
        prefecture_col=prefecture_col,
        code_col=code_col,
        year_col=year_col,
    )[0]


def _detect_columns(
    table: pd.DataFrame,
    *,
    name_col: str | None,
    province_col: str | None,
    prefecture_col: str | None,
    code_col: str | None,
    year_col: str | None = None,
) -> tuple[dict[str, str | None], str | None]:
    """:func:`detect_columns`, and the level its name column's header suggests."""
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
        "year": year_col,
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
    taken = {c for c in given.values() if c}
    role_of = _alias_roles()
    by_role: dict[str, list[str]] = {role: [] for role in COLUMN_ALIASES}
    for col in table.columns:
        role = role_of.get(normalise(col).lower())
        if role is not None and col not in taken:
            by_role[role].append(col)
    for role in ("code", "year", "province", "prefecture"):
        if found[role] is None and by_role[role]:
            found[role] = by_role[role][0]
            taken.add(by_role[role][0])
    hint = _header_level(found["name"]) if found["name"] is not None else None
    if found["name"] is None:
        names = [c for c in by_role["name"] if c not in taken]
        if len(names) > 1:
            msg = (
                f"Columns {listing(names)} could each hold the unit names; pass the one that "
                "does as name_col= (and the context as prefecture_col=, province_col=)."
            )
            raise MatchError(msg)
        if names:
            found["name"], hint = names[0], _header_level(names[0])
        elif found["code"] is None:  # the finest column present holds the names
            for role in ("prefecture", "province"):
                if found[role] is not None and given[role] is None:
                    found["name"], found[role], hint = found[role], None, role
                    break
    if found["name"] is None and found["code"] is None:
        msg = (
            f"No unit-name or code column found among {listing(table.columns)}; "
            "name one with name_col= (or code_col=). Recognised names: "
            "县/县市/区县/名称/county, 城市/地市/地级市/city, 省份/省/province, 代码/adcode."
        )
        raise MatchError(msg)
    return found, hint


@functools.cache
def _alias_roles() -> dict[str, str]:
    """Each alias of :data:`COLUMN_ALIASES`, normalised and lower-case, to its role."""
    return {normalise(a).lower(): role for role, aliases in COLUMN_ALIASES.items() for a in aliases}


def _header_level(column: object) -> str | None:
    """The level a name column's header says (城市 -> prefecture), if any."""
    role = _alias_roles().get(normalise(column).lower())
    generic = {"name", "unit", "名称", "地区", "地区名称"}
    if role == "name" and normalise(column).lower() not in generic:
        return "county"
    return role if role in ("prefecture", "province") else None


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


_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_surrogates(column: pd.Series, texts: list[str], name: str) -> None:
    r"""Refuse a column holding lone surrogates: no file can hold them (nor the match report).

    Decoded files never hold one; a Python string can (``"\ud800"``, or bytes decoded
    with ``errors="surrogateescape"``). Only the distinct texts are searched.
    """
    if not any(_SURROGATE.search(t) for t in texts):
        return
    cells = column.map(lambda v: isinstance(v, str) and bool(_SURROGATE.search(v)))
    rows = column.index[cells.to_numpy(dtype=bool)]
    msg = (
        f"{name}={short(str(column.name))!r}: {len(rows):,} cell(s) hold a lone surrogate "
        f"(e.g. '{short(column[rows[0]], 40)}' at row {short(rows[0])}), a broken character "
        "no file can hold; decode the text with its real encoding, or fix those cells."
    )
    raise InputError(_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", msg))


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
    year_col: str | None = None,
    level: str = "auto",
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
    name_col, province_col, prefecture_col, code_col, year_col : str, optional
        Column names; those not given are recognised by common names
        (:func:`detect_columns`: 县/县市/区县/名称/county, 城市/地市/地级市/city,
        省/省份/province, adcode/代码/行政区划代码, 年份/年度/year). The year is
        used for the county codes that once meant another unit (130107 was
        井陉矿区 in 1983-1988, part of 井陉县 130121 since; today it is a new
        井陉矿区): a row of 1985 resolves to the unit of 1985.
    level : {"auto", "county", "prefecture", "province"}
        The level of the table's units. ``"auto"`` (default) decides from the codes
        when there are any (xx0000 province, xxxx00 prefecture, else county), else
        from the names (the level at which most distinct names are units; the name
        column's header breaks ties: 城市 suggests prefecture).
        Prefecture-level units are those of :func:`gazetteer`: the four
        municipalities are one unit each (``110000``), and a province-administered
        county-level unit (济源市) is matched under its own code (``419001``).

    Returns
    -------
    pandas.DataFrame
        A copy of ``table`` (same index, same row order, every row) with
        :data:`MATCH_COLUMNS` appended: ``adcode`` (the code at the level,
        ``<NA>`` unless matched), ``match_status`` (matched / ambiguous /
        unmatched), ``match_method`` (code, code12, name, name-short, name-prefix,
        crosswalk, name-stem, ...), ``match_candidates`` ("code name; ..." for
        ambiguous and unmatched rows) and ``match_note``. A malformed code
        (``32a0281``) or a township's 12-digit code leaves its row unmatched, with a
        note; an unmatched name that is a unit of another level says so (苏州市 is a
        prefecture: use level='prefecture'). ``attrs["level"]`` holds the level and
        ``attrs["level_reason"]`` why (also logged).

    Raises
    ------
    InputError
        If the table has two columns of one name, no name and no code in any row, or
        ``level`` is not a level.
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
    if level not in LEVELS:
        msg = f"level={short(level)!r} is not a level; use one of {LEVELS}."
        raise InputError(msg)
    cols, hint = _detect_columns(
        table,
        name_col=name_col,
        province_col=province_col,
        prefecture_col=prefecture_col,
        code_col=code_col,
        year_col=year_col,
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
            raw = [v for v in pd.unique(table[col].to_numpy(dtype=object)) if isinstance(v, str)]
            _refuse_surrogates(table[col], raw, f"{role}_col")  # before anything encodes them
            parts.append(_distinct_normalised(table[col]))
    named = dict(zip(roles, parts, strict=True))
    if named["name"][1] == [""] and named["code"][1] == [""]:
        shown = " and ".join(repr(short(cols[r])) for r in ("name", "code") if cols[r] is not None)
        msg = (
            f"Nothing to resolve: column {shown} is blank in all {rows:,} rows; pass the "
            "column that holds the unit names as name_col= (or the codes as code_col=)."
        )
        raise InputError(msg)

    if level == "auto":
        level, reason = _detect_level(named["name"][1], named["code"][1], hint)
    else:
        reason = "given"
    log(f"match: resolving at the {level} level ({reason})")

    # The year matters only for county codes that once meant another unit (130107):
    # elsewhere it is blanked, so a panel's years do not multiply its distinct rows.
    code_codes, code_texts = named["code"]
    reused = _index().reused
    dated = np.array([bool(t) and _read_code(t)[0] in reused for t in code_texts])
    if cols["year"] is not None and level == "county" and dated.any():
        year_codes, year_texts = _distinct_normalised(table[cols["year"]])
        year_codes = np.where(dated[code_codes], year_codes, len(year_texts))
        parts.append((year_codes, [*year_texts, ""]))
    else:
        parts.append((np.zeros(rows, dtype=np.intp), [""]))

    # One key per distinct row: combine the five columns' codes pairwise.
    key = np.zeros(rows, dtype=np.int64)
    for codes, texts in parts:
        key, _ = pd.factorize(key * len(texts) + codes)
    first = np.unique(key, return_index=True)[1]
    weight = np.cumsum(np.bincount(key, minlength=len(first)))

    results = []
    for i, row in enumerate(first):
        name, prov, pref, code, year = (
            part_texts[part_codes[row]] for part_codes, part_texts in parts
        )
        results.append(_resolve_at(level, name, prov, pref, code, year=year))
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
    labels = _label if level == "county" else functools.partial(_area_label, level)
    out["match_candidates"] = spread([labels(r[3]) if r[3] else "" for r in results])
    out["match_note"] = spread([r[4] for r in results])
    out.attrs["level"] = level
    out.attrs["level_reason"] = reason
    progress.done()
    return out


def _resolve_at(
    level: str, name: str, prov: str, pref: str, code: str, *, year: str = ""
) -> tuple[str | None, str, str, list[str], str]:
    """One distinct row at ``level``; an unmatched name of another level says so."""
    if level == "county":
        result = _resolve_one(name, prov, pref, code, year)
    else:  # the finest column present names the unit
        name = name or (pref if level == "prefecture" else prov)
        result = _resolve_area(level, name, prov, code)
    if result[1] == "unmatched" and name and not code:
        elsewhere = _elsewhere_note(level, name)
        if elsewhere:
            return (*result[:4], "; ".join(n for n in (result[4], elsewhere) if n))
    return result


def duplicates(resolved: pd.DataFrame) -> pd.DataFrame:
    """Rows of a resolved table whose adcode is shared with another row."""
    matched = resolved[resolved["match_status"] == "matched"]
    return matched[matched["adcode"].duplicated(keep=False)]


def require_unique(resolved: pd.DataFrame) -> None:
    """Raise :class:`MatchError` if two rows resolved to the same unit."""
    dup = duplicates(resolved)
    if len(dup):
        codes = sorted(dup["adcode"].unique())
        word = "lines" if dup.index.name == "line" else "rows"  # read_table: file lines
        shown = "; ".join(
            f"{code}: {word} {listing(dup.index[(dup['adcode'] == code).to_numpy()], limit=10)}"
            for code in codes[:5]
        )
        more = f"; {len(codes) - 5:,} more" if len(codes) > 5 else ""
        msg = (
            f"{len(codes):,} unit(s) appear more than once ({shown}{more}); keep one row per "
            "unit (or aggregate them) and run again."
        )
        raise MatchError(msg)
