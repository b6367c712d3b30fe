"""Resolve what people type (province, prefecture, unit name, code) to adcodes.

Each row is ``matched``, ``ambiguous`` (candidates listed, nothing guessed), ``unmatched``
(closest names listed) or ``merged`` (a unit merged into another since: a part of today's,
which is its candidate), at one level (:func:`gazetteer`). Units renamed, re-coded, merged
or split since 1981 resolve through ``data/areacodes_crosswalk.csv``; malformed codes are
noted, never repaired silently.
"""

from __future__ import annotations

import difflib
import functools
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geotool import boundaries, settings
from geotool._cache import settings_cache
from geotool._errors import InputError, MatchError
from geotool._log import log
from geotool._text import listing, rows_named, short

__all__ = [
    "COLUMN_ALIASES", "LEVELS", "MATCH_COLUMNS", "MUNICIPALITIES", "TOTAL_ROW", "core",
    "detect_columns", "gazetteer", "is_total_row", "normalise", "resolve", "set_aside", "stem",
]  # fmt: skip

MATCH_COLUMNS = ["adcode", "match_status", "match_method", "match_candidates", "match_note"]
#: The levels :func:`resolve` matches at (``auto`` picks one from the table).
LEVELS = ("auto", "county", "prefecture", "province")
#: The four municipalities (直辖市), by province code.
MUNICIPALITIES = frozenset({"110000", "120000", "310000", "500000"})

#: Column names recognised without being told, by role (compared after normalising).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("adcode", "code", "代码", "行政区划代码", "区划代码", "县代码", "城市代码"),
    "province": ("province", "省", "省份", "省(区、市)", "省（区、市）", "省区市", "省级"),
    "prefecture": (
        "prefecture", "city", "城市", "市", "地级市", "地市", "所属地市", "地州市", "市州",
    ),
    "name": (
        "name", "county", "district", "unit", "县", "县市", "县(市)", "县（市）", "县(市、区)",
        "县（市、区）", "区县", "县区", "名称", "区", "地区", "地区名称",
    ),
    "year": ("year", "年份", "年度", "年"),
}  # fmt: skip

_MARKERS = re.compile(r"[★☆*＊※●◆▲△○#＃†‡]|\(\d+\)|\[\d+\]|（\d+）|(?<=[\u4e00-\u9fff])\d+$")
# what every match of _MARKERS contains, or ends with (a decimal digit): a quick test
_MAY_HAVE_MARKERS = re.compile(r"[★☆*＊※●◆▲△○#＃†‡(\[（]")
_PROVINCE_ADMINISTERED = {"省直管", "省直辖", "省直辖县级行政区划", "省直辖县", "直管", "省管"}
_UNIT_SUFFIXES = ("自治县", "自治旗", "林区", "特区", "市", "县", "区", "旗")
_CODE = re.compile(r"([0-9]+)(?:\.0+)?")
_YEAR = re.compile(r"((?:19|20)[0-9]{2})(?![0-9])")
_SURROGATE = re.compile("[\ud800-\udfff]")
_PROGRESS_AFTER_S = 2.0
_DETECT_NAMES = 500  # distinct names read to detect a table's level
# The 56 ethnic groups as they end the names of autonomous areas (恩施土家族苗族自治州).
_ETHNIC_GROUPS = [
    "汉", "蒙古", "回", "藏", "维吾尔", "苗", "彝", "壮", "布依", "朝鲜", "满", "侗", "瑶", "白",
    "土家", "哈尼", "哈萨克", "傣", "黎", "傈僳", "佤", "畲", "高山", "拉祜", "水", "东乡",
    "纳西", "景颇", "柯尔克孜", "土", "达斡尔", "仫佬", "羌", "布朗", "撒拉", "毛南", "仡佬",
    "锡伯", "阿昌", "普米", "塔吉克", "怒", "乌孜别克", "俄罗斯", "鄂温克", "德昂", "保安",
    "裕固", "京", "塔塔尔", "独龙", "鄂伦春", "赫哲", "门巴", "珞巴", "基诺",
]  # fmt: skip
# one-character names only with 族
_ETHNIC_TAIL = re.compile(
    "(?:" + "|".join(g + ("族" if len(g) == 1 else "族?") for g in _ETHNIC_GROUPS) + ")$"
)
_AREA_SUFFIXES = ("特别行政区", "自治区", "自治州", "地区", "盟", "省", "市")
# Words that end a county-level name: a bare abbreviation (内蒙, 大兴安岭) has none of them.
_COUNTY_ENDINGS = ("县", "区", "旗", "市")
_LEVEL_WORD = {"county": "a county-level unit", "prefecture": "a prefecture",
               "province": "a province"}  # fmt: skip

Result = tuple[str | None, str, str, list[str], str]  # adcode, status, method, candidates, note


def normalise(text: object, *, markers: bool = False) -> str:
    """Normalise a typed name: NFKC, no white space, no markers (★, footnote digits).

    Missing values become the empty string. ``markers=True`` keeps the markers: a
    user's own names may end in digits that tell them apart (网格12, 宜城街道2).

    >>> normalise(" 江阴市★ "), normalise("ｋｕｎｓｈａｎ　市"), normalise("网格12", markers=True)
    ('江阴市', 'kunshan市', '网格12')
    """
    if text is None or (pd.api.types.is_scalar(text) and bool(pd.isna(text))):  # type: ignore[call-overload]
        return ""
    out = "".join(unicodedata.normalize("NFKC", str(text)).split())  # split: any white space
    if not markers and (_MAY_HAVE_MARKERS.search(out) or out[-1:].isdecimal()):
        out = _MARKERS.sub("", out)
    return out


def stem(name: str) -> str:
    """A unit name without its type suffix (市, 县, 区, 旗, 自治县, ...), as tables write it.

    Never down to one character (城区 stays).

    >>> stem("江阴市"), stem("准格尔旗"), stem("长阳土家族自治县"), stem("城区")
    ('江阴', '准格尔', '长阳土家族', '城区')
    """
    return _unsuffixed(name, _UNIT_SUFFIXES)


def _unsuffixed(name: str, suffixes: tuple[str, ...]) -> str:
    """``name`` without the first of ``suffixes`` it ends with, never down to one character."""
    cut = (name[: -len(s)] for s in suffixes if name.endswith(s) and len(name) > len(s) + 1)
    return next(cut, name)


def core(name: str) -> str:
    """A prefecture's or province's name as people shorten it: no type, no ethnic groups.

    Never down to one character (西藏 keeps 藏).

    >>> core("恩施土家族苗族自治州"), core("新疆维吾尔自治区"), core("内蒙古自治区")
    ('恩施', '新疆', '内蒙古')
    >>> core("大兴安岭地区"), core("苏州市"), core("西藏自治区")
    ('大兴安岭', '苏州', '西藏')
    """
    out = _unsuffixed(name, _AREA_SUFFIXES)
    while True:
        found = _ETHNIC_TAIL.search(out)
        if found is None or found.start() < 2:
            return out
        out = out[: found.start()]


def _keys(name: str) -> set[str]:
    """The forms a prefecture or province is typed in: 恩施土家族苗族自治州 -> 恩施, 恩施州."""
    return {name, core(name), *([core(name) + "州"] if name.endswith("自治州") else [])}


def _targets(record: dict[str, str]) -> list[str]:
    """The units of today a record of the code history leads to."""
    return list(filter(None, record["layer_codes"].split(";")))


def _history_codes(rows: list[dict[str, str]]) -> list[str]:
    return sorted({c for r in rows for c in _targets(r)})


def _merged(rows: list[dict[str, str]]) -> bool:
    """Whether the code history took these units into a larger one (``extent`` merged)."""
    return any(r.get("extent") == "merged" for r in rows)


#: A former unit merged with others into a unit of today: a part, not the whole.
MERGED = "merged"
_PART_NOTE = (
    "merged with other units into that one: this row is a part of it, not the whole, and is "
    "not used (add the parts up into today's unit where the variable adds up, or give "
    "today's units)"
)


def _part(target: str, method: str, notes: list[str]) -> Result:
    """A row naming a unit merged away: set aside, today's unit its candidate."""
    return _out(None, MERGED, method, [target], [*notes, _PART_NOTE])


def _grouped(records: Iterable[dict[str, str]], *keys: str) -> list[dict[str, list]]:
    """Records grouped by each of ``keys`` (one dict per key), in their order."""
    out: list[dict[str, list]] = [{} for _ in keys]
    for record in records:
        for by, key in zip(out, keys, strict=True):
            by.setdefault(record[key], []).append(record)
    return out


@settings_cache(maxsize=1)
def _gazetteer() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    units = boundaries.units().reset_index()
    units["stem"] = units["name"].map(stem)
    provinces = pd.read_csv(settings.data_dir / "provinces.csv", dtype=str)
    crosswalk = pd.read_csv(
        settings.data_dir / "areacodes_crosswalk.csv", dtype=str, keep_default_na=False
    )
    return units, provinces, crosswalk


def _history(level: str) -> list[dict[str, str]]:
    """The records of the code history at ``level``."""
    crosswalk = _gazetteer()[2]
    return crosswalk[crosswalk["level"] == level].to_dict("records")  # type: ignore[return-value]


@dataclass(frozen=True)
class _Index:
    """Look-ups over the county gazetteer, built once, so one row costs microseconds."""

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
    units, provinces, _ = _gazetteer()
    codes = units["adcode"].astype(str)
    pref = units["prefecture"].where(units["prefecture"] != units["province"], "")
    by_name, by_code = _grouped(_history("county"), "name", "code")
    known = frozenset(units["adcode"])
    former: dict[str, set[str]] = {}
    for r in (r for rows in by_name.values() for r in rows):
        former.setdefault(r["layer_codes"], set()).add(r["name"])
    province_rows = provinces[["province_code", "province", "short", "province_en"]].astype(str)
    prefecture_cols = ["prefecture_code", "prefecture", "province_code", "province_administered"]

    def column(col: str) -> dict[str, str]:
        return dict(zip(units["adcode"], units[col], strict=True))

    def groups(col: str) -> dict[str, list[str]]:
        return {str(k): v.tolist() for k, v in units.groupby(col, sort=False)["adcode"]}

    return _Index(
        known=known, name=column("name"), province=column("province_code"),
        prefecture=column("prefecture_code"),
        label=dict(zip(codes, codes + " " + units["province"] + pref + units["name"], strict=True)),
        by_name=groups("name"), by_stem=groups("stem"),
        provinces=[(c, n, sn, en.lower()) for c, n, sn, en in province_rows.to_numpy()],
        prefectures=list(units[prefecture_cols].drop_duplicates().itertuples(False, None)),
        history_by_name=by_name, history_by_code=by_code, former_names=former,
        reused={code: [r for r in rows if r["layer_codes"] != code]
                for code, rows in by_code.items()
                if code in known and any(r["layer_codes"] != code for r in rows)},
        longest_name=int(units["name"].str.len().max()),
    )  # fmt: skip


@settings_cache(maxsize=4096)
def _province_codes(text: str) -> frozenset[str]:
    if not text:
        return frozenset()
    lower = text.lower()
    return frozenset(code for code, name, abbr, english in _index().provinces
                     if name.startswith(text) or abbr == text or english == lower)  # fmt: skip


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


def _area_label(level: str, codes: Iterable[str]) -> str:
    labels = _index().label if level == "county" else _area_index(level).label
    return "; ".join(labels[code] for code in sorted(codes))


def _close_matches(word: str, options: list[str], n: int) -> list[str]:
    # difflib's ratio is at most 2*len(b)/(len(a)+len(b)): below the 0.5 cutoff for
    # every option once ``word`` is over three times the longest (a pasted paragraph),
    # so skip difflib there rather than index a huge word.
    if len(word) > 3 * _index().longest_name:
        return []
    near = _could_be_close(word, tuple(options), _CUTOFF)
    return difflib.get_close_matches(word, near, n=n, cutoff=_CUTOFF)


#: difflib's ratio from which a name is listed as a candidate.
_CUTOFF = 0.5


def _could_be_close(word: str, options: tuple[str, ...], cutoff: float) -> list[str]:
    """The ``options`` whose ratio to ``word`` can reach ``cutoff``: the others never could.

    difflib's ratio is ``2 M / (len(a) + len(b))`` with ``M`` at most the characters the
    two share; the shared count is bounded here for all options at once (a sparse product
    of character counts) and difflib compares only those left: the same answers, 20x
    faster on 2,800 county names (5,000 unmatched names took 34 s).
    """
    if len(options) < 200:
        return list(options)
    counts, chars, lengths = _char_counts(options)
    mine = np.zeros(counts.shape[1])
    for c, k in Counter(word).items():
        if c in chars:
            mine[chars[c]] = k
    shared = counts @ mine  # >= the characters shared, counted with multiplicity
    keep = 2 * shared >= cutoff * (lengths + len(word))
    return [options[i] for i in np.flatnonzero(keep)]


@functools.lru_cache(maxsize=8)
def _char_counts(options: tuple[str, ...]) -> tuple[Any, dict[str, int], np.ndarray]:
    """Each option's count of each character (sparse), the characters' columns, lengths."""
    import scipy.sparse as sp

    chars: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for i, option in enumerate(options):
        for c, k in Counter(option).items():
            rows.append(i)
            cols.append(chars.setdefault(c, len(chars)))
            vals.append(k)
    counts = sp.csr_matrix((vals, (rows, cols)), shape=(len(options), max(len(chars), 1)))
    return counts, chars, np.array([len(o) for o in options], dtype=float)


@settings_cache(maxsize=1024)
def _pool(provs: frozenset[str], prefs: frozenset[str]) -> tuple[tuple[str, str, str], ...]:
    """(adcode, name, stem) of the units within the context (all, if none), in order."""
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
    """(code, method, note) of a normalised code cell: code ``""`` for none, ``None`` if bad."""
    found = _CODE.fullmatch(text)
    if found is None:
        if not re.search(r"\d", text):  # any digit, Arabic-Indic too
            return "", "", f"code cell {short(text)!r} holds no digits, ignored"
        return None, "code", (
            f"malformed code {short(text)!r}: a county code is six digits (320281); "
            "correct it, or leave the cell blank to match by name")  # fmt: skip
    digits = found.group(1)
    if len(digits) == 12:
        if digits.endswith("000000"):
            return digits[:6], "code12", f"12-digit statistical code {digits} read as {digits[:6]}"
        return None, "code12", (
            f"{digits} is a 12-digit township/village code, not a county's; its first six "
            f"digits ({digits[:6]}) are the county code")  # fmt: skip
    return digits, "code", ""


def _in_year(rows: list[dict[str, str]], year: str) -> list[dict[str, str]]:
    """The records of the code history in force in ``year`` (2019, 2019年; none without)."""
    found = _YEAR.match(year)
    y = int(found.group(1)) if found else 0
    return [r for r in rows if found and int(r["valid_from"]) <= y < int(r["valid_to"] or 9999)]


def _in_context(codes: Iterable[str], provs: frozenset[str], prefs: frozenset[str]) -> list[str]:
    idx = _index()
    return [c for c in codes if (not provs or idx.province[c] in provs)
            and (not prefs or idx.prefecture[c] in prefs)]  # fmt: skip


def _out(code: str | None, status: str, method: str, candidates: list[str], notes: list[str]
         ) -> Result:  # fmt: skip
    return code, status, method, candidates, "; ".join(notes)


def _county_by_code(
    code: str, method: str, read_note: str, *, name: str, year: str, notes: list[str]
) -> Result:
    """A county row with a code: today's unit, or the code history's (by year)."""
    idx = _index()
    reused = idx.reused.get(code, [])  # today's unit, unless the year says the code meant another
    moved = _in_year(reused, year) if code in idx.known else idx.history_by_code.get(code, [])
    new = code if code in idx.known and not moved else None
    if new and reused and not name and not _YEAR.match(year):
        then = "; ".join(
            f"{r['name']} in {r['valid_from']}-{int(r['valid_to']) - 1}" for r in reused[:3]
        )
        notes.append(
            f"{code} read as today's unit; the code meant {then}: for an older table, "
            "give its year column (year_col=)"
        )
    if new is None:
        targets = _history_codes(moved)
        if moved:
            method = f"{method}+crosswalk"
            notes.extend(_latest_notes(moved, code_first=True))
        if len(targets) > 1 or (moved and not targets):
            return _out(None, "ambiguous" if targets else "unmatched", method, targets, notes)
        new = targets[0] if targets else None
    if new is None:
        unknown = f"unknown code {short(code)!r}"
        if code.endswith("00"):  # xx0000 and xxxx00 name provinces and prefectures
            kind = "province" if code.endswith("0000") else "prefecture"
            unknown += f" at the county level: a {kind} code (level='{kind}' for {kind}s)"
        return _out(None, "unmatched", method, [], [*notes, unknown])
    unit_name = idx.name[new]
    known_names = {unit_name, *idx.former_names.get(new, set())}
    if name and name not in known_names and stem(name) != stem(unit_name):
        note = f"code {code} is {unit_name}, but the name says {short(name)!r}"
        note = f"{read_note}; {note}" if read_note else note
        return None, "ambiguous", "code≠name", sorted({new, *idx.by_name.get(name, ())}), note
    if new != code and _merged(moved):
        return _part(new, method, notes)
    return _out(new, "matched", method, [], notes)


def _county_by_name(
    name: str, pref_text: str, provs: frozenset[str], prefs: frozenset[str], notes: list[str]
) -> Result:
    """A county row by name: exact, the crosswalk of old names, the stem (江阴 for 江阴市)."""
    idx = _index()
    if name in _DISTRICTS_TOGETHER and not (pref_text or prefs):
        return _out(None, "unmatched", "none", [], [*notes, _districts_note(name)])
    history = _crosswalk_rows(name, pref_text, provs, prefs)
    for method, find in (
        ("name", lambda: _in_context(idx.by_name.get(name, ()), provs, prefs)),
        ("crosswalk", lambda: _history_codes(history)),
        ("name-stem", lambda: _in_context(idx.by_stem.get(stem(name), ()), provs, prefs)),
    ):
        hits = sorted(set(find()))
        if method == "crosswalk" and hits:
            notes.extend(_latest_notes(history))
            if len(hits) > 1:
                return _out(None, "ambiguous", method, hits, notes)
            if _merged(history):
                return _part(hits[0], method, notes)
        if len(hits) == 1:
            return _out(hits[0], "matched", method, [], notes)
        if len(hits) > 1:
            notes.append(f"{len(hits)} units named {short(name)!r}; add the province or prefecture")
            return _out(None, "ambiguous", method, hits, notes)
    # Nothing: the same name elsewhere (context may be wrong), else close names.
    elsewhere = idx.by_name.get(name, [])
    if elsewhere:
        notes.append(f"{short(name)!r} exists, but not in the given province/prefecture")
        return _out(None, "unmatched", "none", list(elsewhere), notes)
    if history:  # a former unit the history cannot follow (和康县, created after 2021)
        return _out(None, "unmatched", "crosswalk", [], [*notes, *_latest_notes(history)])
    if name in _DISTRICTS_TOGETHER:  # 市区 of a city given beside it (无锡市, 市区)
        city = f"{pref_text.removesuffix('市')}市区" if pref_text else name
        return _out(None, "unmatched", "none", [], [*notes, _districts_note(city)])
    formerly = _history_codes(_crosswalk_rows(name))
    if formerly:
        notes.append(
            f"{short(name)!r} is a former name of {_area_label('county', formerly)}, "
            "not in the given province/prefecture"
        )
        return _out(None, "unmatched", "none", formerly, notes)
    closest = _closest(name, _pool(provs, prefs))
    if name.endswith(_DISTRICTS_TOGETHER) and _a_city(name):
        return _out(None, "unmatched", "none", [], [*notes, _districts_note(name)])
    return _out(None, "unmatched", "none", closest, [*notes, f"no unit named {short(name)!r}"])


#: Yearbooks' rows of a city's districts together (无锡市区): not one county-level unit.
_DISTRICTS_TOGETHER = ("市区", "市辖区")


def _city_of(name: str) -> str:
    """无锡 of 无锡市区 (or of 无锡市市辖区)."""
    return name.removesuffix("市辖区").removesuffix("市区").removesuffix("市")


def _a_city(name: str) -> bool:
    """Whether ``name`` (无锡市区) starts with a prefecture-level city's name (无锡市)."""
    city = _city_of(name)
    return bool(city) and any(p[1] in (city, f"{city}市") for p in _index().prefectures)


def _districts_note(name: str) -> str:
    city = _city_of(name)
    whose = f"{short(city)}市's" if city else "a city's"
    return (
        f"{short(name)!r} is {whose} districts together, not one county-level unit: "
        "sum its districts' rows, or read the table at the prefecture level (level='prefecture')"
        + ("" if city else "; or name the city (无锡市区)")
    )


def _crosswalk_rows(
    name: str, pref_text: str = "", provs: frozenset[str] = frozenset(),
    prefs: frozenset[str] = frozenset(),
) -> list[dict[str, str]]:  # fmt: skip
    """County-level records of the code history named ``name`` that fit the context.

    The context may describe the unit as it was (广东 for 海口市 before 1988) or as it is.
    """
    idx = _index()

    def fits(r: dict[str, str]) -> bool:
        then = r["code"][:2] in {p[:2] for p in provs}
        if provs and not then and not any(idx.province[c] in provs for c in _targets(r)):
            return False
        then = bool(pref_text) and r["prefecture"].startswith(pref_text)
        return not prefs or then or any(idx.prefecture[c] in prefs for c in _targets(r))

    return [r for r in idx.history_by_name.get(name, []) if fits(r)]


def _latest_notes(rows: list[dict[str, str]], *, code_first: bool = False) -> list[str]:
    """One note per distinct outcome, the latest record's (records share names, codes)."""
    latest: dict[str, dict[str, str]] = {}
    for r in sorted(rows, key=lambda r: r["valid_to"] or "9999"):
        latest[r["layer_codes"]] = r
    return [_history_note(r, code_first=code_first) for r in latest.values()]


def _history_note(row: dict[str, str], *, code_first: bool = False) -> str:
    """What became of one record of the code history, in one clause."""
    codes, names = _targets(row), row["layer_names"].split(";")
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

    Indexed by code: ``name``, ``province_code``, ``province``, ``kind`` (``prefecture``,
    ``municipality``: 重庆市 500200 is its counties, by code only; ``administered``: 济源市
    419000, each member of a group of several under its county code) and, at the county
    level, ``prefecture_unit``.

    >>> gazetteer("prefecture").loc[["320500", "500100", "419000", "429004"], "kind"].tolist()
    ['prefecture', 'municipality', 'administered', 'administered']
    >>> gazetteer("county").loc[["500229", "429004"], "prefecture_unit"].tolist()
    ['500200', '429004']
    """
    if level not in boundaries.LEVELS:
        raise InputError(f"level={short(level)!r} is not a level; use one of {boundaries.LEVELS}.")
    return _gazetteer_table(level).copy()


@settings_cache(maxsize=3)
def _gazetteer_table(level: str) -> pd.DataFrame:
    units = _county_units()
    if level == "county":
        table = units[["name", "province_code", "province", "prefecture_unit"]].copy()
        table.insert(3, "kind", units["unit_type"])
        return table
    if level == "province":
        provinces = _gazetteer()[1]
        table = pd.DataFrame({"name": provinces["province"].to_numpy()},
                             index=pd.Index(provinces["province_code"], name="adcode"))  # fmt: skip
        return table.assign(province_code=table.index, province=table["name"], kind="province")
    first = units.groupby("prefecture_unit", sort=False).head(1)
    administered = first["province_administered"].astype(bool)
    municipality = first["province_code"].isin(MUNICIPALITIES)
    kind = np.where(administered, "administered",
                    np.where(municipality, "municipality", "prefecture"))  # fmt: skip
    # (重庆's second code, 500200 for its counties, is named 重庆市 too)
    name = np.where(administered, first["name"],
                    np.where(municipality, first["province"], first["prefecture"]))  # fmt: skip
    table = pd.DataFrame(
        {"name": name, "province_code": first["province_code"].to_numpy(),
         "province": first["province"].to_numpy(), "kind": kind},
        index=pd.Index(first["prefecture_unit"].to_numpy(), name="adcode"),
    )  # fmt: skip
    return table.sort_index()


@dataclass(frozen=True)
class _AreaIndex:
    """Look-ups for one level above the county: names, typed forms, the code history."""

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
    layer_codes = {code: code for code in table.index}
    if level == "province":
        for r in _gazetteer()[1].to_dict("records"):
            for key in (r["short"], r["province_en"].lower()):
                by_key.setdefault(key, []).append(r["province_code"])
    else:  # a municipality's province code stands for its city (110000 -> 110100)
        layer_codes |= {f"{p[:2]}0000": f"{p[:2]}0100" for p in MUNICIPALITIES}
    history: dict[str, list[dict[str, str]]] = {}
    for row in (rows := _history(level)):
        for key in _keys(row["name"]):
            history.setdefault(key, []).append(row)
    return _AreaIndex(
        name=dict(zip(table.index, table["name"], strict=True)), label=label,
        province=dict(zip(table.index, table["province_code"], strict=True)),
        by_name={k: sorted(set(v)) for k, v in by_name.items()},
        by_key={k: sorted(set(v)) for k, v in by_key.items()}, layer_codes=layer_codes,
        history=history, history_by_code=_grouped(rows, "code")[0],
    )  # fmt: skip


@settings_cache(maxsize=8192)
def _area_by_name(
    level: str, name: str, provs: frozenset[str]
) -> tuple[str, list[str], list[str], bool]:
    """(method, hits, notes, merged) for a name at the prefecture or province level.

    The exact name, a former name, the typed forms (:func:`core`, 恩施州), a former name's
    forms, an abbreviation that begins one name (内蒙).
    """
    idx = _area_index(level)

    def within(codes: Iterable[str]) -> list[str]:
        return sorted({c for c in codes if not provs or idx.province[c] in provs})

    def former(forms: Iterable[str]) -> list[dict[str, str]]:
        rows = [r for form in dict.fromkeys(forms) for r in idx.history.get(form, ())]
        return [r for r in rows if not provs or r["code"][:2] in {p[:2] for p in provs}]

    found = within(idx.by_name.get(name, ()))
    if found:
        return "name", found, [], False
    rows = [r for r in former([name]) if r["name"] == name]  # 海东地区: a former name
    if rows:
        return "crosswalk", _history_codes(rows), _latest_notes(rows), _merged(rows)
    forms = [name, core(name), name.lower()]
    found = within(c for form in forms for c in idx.by_key.get(form, ()))
    if found:
        return "name-short", found, [], False
    rows = former(forms)
    if rows:
        return "crosswalk", _history_codes(rows), _latest_notes(rows), _merged(rows)
    if len(name) >= 2 and not name.endswith(_COUNTY_ENDINGS):  # 内蒙 for 内蒙古
        found = within(
            code for key, codes in idx.by_key.items() if key.startswith(name) for code in codes
        )
        if found:
            return "name-prefix", found, [], False
    return "none", [], [], False


def _area_code(level: str, code: str) -> tuple[list[str], str, list[str], bool]:
    """(units, method suffix, notes, merged) for a six-digit code above the county level."""
    idx = _area_index(level)
    if code in idx.name:
        return [code], "", [], False
    if code in idx.layer_codes:
        unit = idx.layer_codes[code]
        return [unit], "", [f"{code} read as {idx.label[unit]}, the unit at this level"], False
    if level == "prefecture" and code.endswith("9000"):  # 省直辖县级行政区划
        units = sorted(c for c in idx.name if c[:2] == code[:2] and c[2:4] == "90")
        if units:
            note = f"{code} groups the province-administered units {_area_label(level, units)}"
            return units, "", [note], False
    rows = idx.history_by_code.get(code, [])
    if rows:
        notes = _latest_notes(rows, code_first=True)
        return _history_codes(rows), "+crosswalk", notes, _merged(rows)
    return [], "", [], False


def _area_by_name_row(level: str, name: str, provs: frozenset[str], notes: list[str]) -> Result:
    """A row by name above the county level (:func:`_area_by_name`); several hits: ambiguous."""
    idx = _area_index(level)
    method, hits, more, merged = _area_by_name(level, name, provs)
    notes.extend(more)
    if method == "crosswalk" and not hits:  # a former unit the history cannot follow
        return _out(None, "unmatched", method, [], notes)
    if len(hits) == 1 and merged:
        return _part(hits[0], method, notes)
    if len(hits) == 1:
        if idx.name[hits[0]] != name and method != "crosswalk":
            notes.append(f"{short(name)!r} read as {idx.name[hits[0]]}")
        if level == "prefecture" and hits[0] == "500100" and "500200" in idx.label:
            notes.append(f"the prefecture layer has 重庆市's counties apart: {idx.label['500200']}")
        return _out(hits[0], "matched", method, [], notes)
    if hits:
        if method != "crosswalk":
            notes.append(f"{len(hits)} units fit {short(name)!r}; write the full name")
        return _out(None, "ambiguous", method, hits, notes)
    close = _close_matches(name, list(idx.by_name), 3)
    close = close or _close_matches(core(name), list(idx.by_key), 3)
    candidates = sorted({c for n in close for c in idx.by_name.get(n, idx.by_key.get(n, []))})
    notes.append(f"no {level} named {short(name)!r}")
    return _out(None, "unmatched", "none", candidates, notes)


def _area_by_code_row(
    level: str, code: str, method: str, *, name: str, provs: frozenset[str], notes: list[str]
) -> Result:
    """A row with a code above the county level; a name beside it must agree."""
    units, suffix, more, merged = _area_code(level, code)
    notes.extend(more)
    method += suffix
    if not units:
        if code in _index().known:
            county = _index().name[code]
            notes.append(f"{code} is a county-level unit's code ({county}): use level='county'")
        else:
            notes.append(f"unknown {level} code {short(code)!r}")
        return _out(None, "unmatched", method, [], notes)
    if name:
        by_name = _area_by_name(level, name, provs)[1]
        if by_name and not set(by_name) & set(units):
            shown = _area_label(level, units)
            notes.append(f"code {code} is {shown}, but the name says {short(name)!r}")
            return _out(None, "ambiguous", "code≠name", sorted({*units, *by_name}), notes)
        units = sorted(set(units) & set(by_name)) or units
    if len(units) > 1:
        return _out(None, "ambiguous", method, units, notes)
    if merged:
        return _part(units[0], method, notes)
    return _out(units[0], "matched", method, [], notes)


def _found_at(level: str, name: str) -> bool:
    """Whether ``name`` names a unit (or a former one) at ``level``, in any context."""
    if level == "county":
        idx = _index()
        former = _history_codes(_crosswalk_rows(name))
        return name in idx.by_name or stem(name) in idx.by_stem or bool(former)
    return bool(_area_by_name(level, name, frozenset())[1])


def _detect_level(names: list[str], codes: list[str], hint: str | None) -> tuple[str, str]:
    """The level of a table, and why, from its distinct names and codes."""
    six = [c for c in (_read_code(t)[0] for t in codes if t) if c and len(c) == 6]
    if six:
        kinds = ["province" if c.endswith("0000") else "prefecture" if c.endswith("00")
                 else "county" for c in six]  # fmt: skip
        level = max(("county", "prefecture", "province"), key=kinds.count)
        return level, (
            f"codes: {kinds.count(level):,} of {len(six):,} distinct codes are {level} codes "
            "(xx0000 province, xxxx00 prefecture, others county)"
        )
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
    return level, (
        f"names: {counts[level]:,} of {first}{len(names):,} distinct names are {level}-level "
        f"units ({others})"
    )


def _elsewhere_note(level: str, name: str) -> str:
    """Say so when an unmatched name is a unit of another level."""
    if not name or _found_at(level, name):  # a unit of this level, out of context
        return ""
    for other in ("prefecture", "province", "county"):
        if other != level and _found_at(other, name):
            return f"{short(name)} is {_LEVEL_WORD[other]}: use level={other!r}"
    return ""


def detect_columns(
    table: pd.DataFrame, *, name_col: str | None = None, province_col: str | None = None,
    prefecture_col: str | None = None, code_col: str | None = None, year_col: str | None = None,
) -> dict[str, str | None]:  # fmt: skip
    """Find the name, province, prefecture, code and year columns of a user's table.

    Columns named win, others are recognised by :data:`COLUMN_ALIASES`; the names are in
    the finest-level column present. Each role's column or ``None``; :class:`MatchError`
    for a named column missing, two possible name columns, or neither names nor codes.

    >>> detect_columns(pd.DataFrame(columns=["县市", "地市", "省份", "年份", "GDP"]))
    {'name': '县市', 'province': '省份', 'prefecture': '地市', 'code': None, 'year': '年份'}
    >>> detect_columns(pd.DataFrame(columns=["城市", "省份", "GDP"]))["name"]
    '城市'
    """
    given = {"name": name_col, "province": province_col, "prefecture": prefecture_col,
             "code": code_col, "year": year_col}  # fmt: skip
    return _detect_columns(table, given)[0]


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


def _detect_columns(
    table: pd.DataFrame, given: dict[str, str | None]
) -> tuple[dict[str, str | None], str | None]:
    """:func:`detect_columns`, and the level the name header says."""
    duplicated = table.columns[table.columns.duplicated()].unique()
    if len(duplicated):
        raise InputError(
            f"The table has more than one column named {listing(duplicated)}; "
            "rename them so that each column name is unique."
        )
    missing = [f"{r}_col={short(c)!r}" for r, c in given.items() if c and c not in table.columns]
    if missing:
        raise MatchError(
            f"Column(s) {', '.join(missing)} not in the table; its columns are "
            f"{listing(table.columns)}. Pass existing column names."
        )
    found: dict[str, str | None] = dict(given)
    taken = {c for c in given.values() if c}
    by_role: dict[str, list[str]] = {role: [] for role in COLUMN_ALIASES}
    for col in table.columns:
        role = _alias_roles().get(normalise(col).lower())
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
            raise MatchError(
                f"Columns {listing(names)} could each hold the unit names; pass the one that "
                "does as name_col= (and the context as prefecture_col=, province_col=)."
            )
        if names:
            found["name"], hint = names[0], _header_level(names[0])
        elif found["code"] is None:  # the finest column present (given or not) holds the names
            role = next((r for r in ("prefecture", "province") if found[r] is not None), None)
            if role is not None:
                found["name"], found[role], hint = found[role], None, role
    if found["name"] is None and found["code"] is None:
        raise MatchError(
            f"No unit-name or code column found among {listing(table.columns)}; "
            "name one with name_col= (or code_col=). Recognised names: "
            "县/县市/区县/名称/county, 城市/地市/地级市/city, 省份/省/province, 代码/adcode."
        )
    return found, hint


def _factorize(column: pd.Series) -> tuple[np.ndarray, list[object]]:
    """Codes (``-1`` for missing) and distinct values of a column.

    Unlike plain ``pd.factorize``, never merges ``1``, ``1.0`` and ``True``, or ``-0.0``.
    """
    values = column.to_numpy()
    kind = values.dtype.kind
    if kind == "f":  # by bit pattern: -0.0 is not 0.0, as text
        codes, uniques = pd.factorize(values.view(f"i{values.dtype.itemsize}"))
        return codes, uniques.view(values.dtype).tolist()
    if kind in "iub" or (kind == "O" and pd.api.types.infer_dtype(values) in ("string", "empty")):
        codes, uniques = pd.factorize(values)
        return codes, uniques.tolist()
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


def _refuse_surrogates(column: pd.Series, name: str) -> None:
    """Refuse a column holding lone surrogates (a Python string can, a file cannot)."""
    texts = [v for v in pd.unique(column.to_numpy(dtype=object)) if isinstance(v, str)]
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
    """Log how far a long resolve has got, every two seconds after the first two."""

    def __init__(self, rows: int) -> None:
        self.rows, self.said, self.start = rows, False, time.perf_counter()
        self.due = self.start + _PROGRESS_AFTER_S

    def __call__(self, what: Callable[[], str]) -> None:
        now = time.perf_counter()
        if now >= self.due:
            log(f"match: {what()} ({now - self.start:.0f} s)", progress=True)
            self.due, self.said = now + _PROGRESS_AFTER_S, True

    def done(self) -> None:
        if self.said:
            took = time.perf_counter() - self.start
            log(f"match: resolved all {self.rows:,} rows in {took:.1f} s")


def resolve(
    table: pd.DataFrame, *, name_col: str | None = None, province_col: str | None = None,
    prefecture_col: str | None = None, code_col: str | None = None, year_col: str | None = None,
    level: str = "auto",
) -> pd.DataFrame:  # fmt: skip
    """Resolve each row of ``table`` to a six-digit adcode.

    Columns not given are recognised by name (:func:`detect_columns`); ``year_col`` serves
    county codes that once meant another unit (130107). ``level="auto"`` decides from the
    codes (xx0000 province, xxxx00 prefecture), else where most names are units (the name
    header breaks ties). Each distinct row is resolved once.

    Returns a copy of ``table`` with :data:`MATCH_COLUMNS` (``adcode`` ``<NA>`` unless
    ``match_status`` is matched; candidates as "code name; ...") and ``attrs["level"]``,
    ``attrs["level_reason"]``. Raises :class:`MatchError` or :class:`InputError`.

    >>> rows = pd.DataFrame({"省": ["福建", "吉林", None], "县": ["龙海市", "朝阳区", "朝阳区"]})
    >>> resolve(rows)[["adcode", "match_status", "match_method"]].to_numpy().tolist()
    [['350604', 'matched', 'crosswalk'], ['220104', 'matched', 'name'], [<NA>, 'ambiguous', 'name']]

    """
    if not isinstance(table, pd.DataFrame):
        raise MatchError(f"resolve() takes a pandas DataFrame, got {short(type(table).__name__)}.")
    if len(table.index) == 0:
        raise MatchError("The table has no rows; nothing to resolve. Check the file and its sheet.")
    if level not in LEVELS:
        raise InputError(f"level={short(level)!r} is not a level; use one of {LEVELS}.")
    given = {"name": name_col, "province": province_col, "prefecture": prefecture_col,
             "code": code_col, "year": year_col}  # fmt: skip
    cols, hint = _detect_columns(table, given)
    progress = _Progress(len(table))
    parts = _column_parts(table, cols, progress)
    auto = level == "auto"
    level, reason = _detect_level(parts[0][1], parts[3][1], hint) if auto else (level, "given")
    log(f"match: resolving at the {level} level ({reason})")
    parts.append(_year_part(table, cols["year"], level, parts[3]))
    # One key per distinct row: combine the five columns' codes pairwise.
    key = np.zeros(len(table), dtype=np.int64)
    for codes, texts in parts:
        key, _ = pd.factorize(key * len(texts) + codes)
    first = np.unique(key, return_index=True)[1]
    weight = np.cumsum(np.bincount(key, minlength=len(first)))
    results = []
    for i, row in enumerate(first):
        name, prov, pref, code, year = (texts[codes[row]] for codes, texts in parts)
        results.append(_resolve_at(level, name, prov, pref, code, year=year))
        progress(lambda i=i: (  # type: ignore[misc]
            f"resolved {weight[i]:,} of {len(table):,} rows ({i + 1:,} of {len(first):,} distinct)"
        ))  # fmt: skip
    results = _note_merged_partners(results, level)
    out = table.rename(columns={c: f"{c}_input" for c in MATCH_COLUMNS if c in table.columns})
    adcodes, status, method, candidates, notes = zip(*results, strict=True)
    labels = [_area_label(level, c) if c else "" for c in candidates]
    for col, values in zip(MATCH_COLUMNS, (adcodes, status, method, labels, notes), strict=True):
        out[col] = np.array(values, dtype=object)[key]
    out["adcode"] = out["adcode"].astype("string")
    out.attrs.update(level=level, level_reason=reason)
    progress.done()
    return out


def _note_merged_partners(results: list[Result], level: str) -> list[Result]:
    """A note on rows matched to a unit that other rows of the table were merged into.

    The table may predate the merger (港闸区 beside 崇川区): such a row is then the former,
    smaller unit of that name. Only noted: in a panel, the later years are today's unit.
    """
    parts = {r[3][0] for r in results if r[1] == MERGED and r[3]}
    if not parts:
        return results
    note = ("other rows of the table were merged into this unit: where this row predates "
            "the merger, it is the former, smaller unit of the name")  # fmt: skip
    return [
        (code, status, method, cands, "; ".join(filter(None, [text, note])))
        if status == "matched" and code in parts else (code, status, method, cands, text)
        for code, status, method, cands, text in results
    ]


def _column_parts(
    table: pd.DataFrame, cols: dict[str, str | None], progress: _Progress
) -> list[tuple[np.ndarray, list[str]]]:
    """Codes into the distinct texts of the name, province, prefecture and code columns."""
    parts: list[tuple[np.ndarray, list[str]]] = []
    for role in ("name", "province", "prefecture", "code"):
        col = cols[role]
        progress(lambda role=role: f"reading the {role} column")  # type: ignore[misc]
        if col is None:
            parts.append((np.zeros(len(table), dtype=np.intp), [""]))
        else:
            _refuse_surrogates(table[col], f"{role}_col")  # before anything encodes them
            parts.append(_distinct_normalised(table[col]))
    if parts[0][1] == [""] and parts[3][1] == [""]:
        shown = " and ".join(repr(short(cols[r])) for r in ("name", "code") if cols[r] is not None)
        raise InputError(
            f"Nothing to resolve: column {shown} is blank in all {len(table):,} rows; pass the "
            "column that holds the unit names as name_col= (or the codes as code_col=)."
        )
    return parts


def _year_part(
    table: pd.DataFrame, year_col: str | None, level: str, code: tuple[np.ndarray, list[str]]
) -> tuple[np.ndarray, list[str]]:
    """The year column's part for county codes once meant another unit (130107), else blank."""
    code_codes, code_texts = code
    reused = _index().reused
    dated = np.array([bool(t) and _read_code(t)[0] in reused for t in code_texts])
    if year_col is None or level != "county" or not dated.any():
        return np.zeros(len(table), dtype=np.intp), [""]
    year_codes, year_texts = _distinct_normalised(table[year_col])
    return np.where(dated[code_codes], year_codes, len(year_texts)), [*year_texts, ""]


def _resolve_at(
    level: str, name: str, prov: str, pref: str, code: str, *, year: str = ""
) -> Result:
    """(adcode, status, method, candidates, note) of one distinct normalised row.

    A code decides (a name beside it must agree), else the name within its context.
    """
    if level != "county":  # the finest column present names the unit
        name = name or (pref if level == "prefecture" else prov)
    notes: list[str] = []
    provs = _province_codes(prov) if level != "province" else frozenset()
    if prov and not provs and level != "province":
        notes.append(f"province {short(prov)!r} not recognised, ignored")
    prefs = _prefecture_codes(pref, provs) if level == "county" else frozenset()
    if pref and not prefs and level == "county":
        notes.append(f"prefecture {short(pref)!r} not recognised, ignored")
    number, method, read_note = _read_code(code) if code else ("", "", "")
    notes.extend(filter(None, [read_note]))
    if number is None:
        result = _out(None, "unmatched", method, [], notes)
    elif number and level == "county":
        result = _county_by_code(number, method, read_note, name=name, year=year, notes=notes)
    elif number:
        result = _area_by_code_row(level, number, method, name=name, provs=provs, notes=notes)
    elif not name:
        result = _out(None, "unmatched", "none", [], [*notes, "no name and no code"])
    elif level == "county":
        result = _county_by_name(name, pref, provs, prefs, notes)
    else:
        result = _area_by_name_row(level, name, provs, notes)
    if result[1] == "unmatched" and name and not code and level != "province":
        result = _prefixed(level, name, pref, provs, prefs) or result
    if result[1] == "unmatched" and name and not code:
        elsewhere = _elsewhere_note(level, name)
        if elsewhere:
            return (*result[:4], "; ".join(n for n in (result[4], elsewhere) if n))
    return result


#: The longest province or prefecture name (克孜勒苏柯尔克孜自治州: 11), with room.
_LONGEST_AREA = 16


def _leading(name: str, find: Callable[[str], frozenset[str]]) -> tuple[str, frozenset[str]]:
    """The rest of ``name`` after its longest head that ``find`` knows (both 2+ characters)."""
    for cut in range(min(len(name) - 2, _LONGEST_AREA), 1, -1):
        codes = find(name[:cut])
        if codes:
            return name[cut:], codes
    return name, frozenset()


def _prefixed(
    level: str, name: str, pref: str, provs: frozenset[str], prefs: frozenset[str]
) -> Result | None:
    """A name written after its province and/or prefecture, matched as the rest within them.

    江苏省无锡市江阴市, 无锡市江阴市, 江苏江阴: ``None`` unless the rest matches.
    """
    if len(name) > 3 * _LONGEST_AREA:
        return None
    rest, in_provs = _leading(name, _province_codes)
    provs = in_provs or provs
    if level == "county":
        rest, in_prefs = _leading(rest, lambda head: _prefecture_codes(head, provs))
        prefs = in_prefs or prefs
    if rest == name:
        return None
    notes = [f"{short(name)!r} read as {short(name[: len(name) - len(rest)])!r} + {rest!r}"]
    if level == "county":
        found = _county_by_name(rest, pref, provs, prefs, notes)
    else:
        found = _area_by_name_row(level, rest, provs, notes)
    return found if found[1] == "matched" else None


def require_unique(resolved: pd.DataFrame, year_col: str | None = None) -> None:
    """Raise :class:`MatchError` if two rows resolved to the same unit (in a ``year_col`` year)."""
    keys = ["adcode", year_col] if year_col else ["adcode"]
    matched = resolved[resolved["match_status"] == "matched"]
    dup = matched[matched.duplicated(keys, keep=False)]
    if len(dup):
        groups = [(k, g.index) for k, g in dup.groupby(keys)]
        word = "lines" if dup.index.name == "line" else "rows"  # read_table: file lines
        shown = "; ".join(
            f"{' in '.join(map(str, k))}: {word} {', '.join(map(str, rows[:10]))}"
            + (f" ... ({len(rows):,} in all)" if len(rows) > 10 else "")
            for k, rows in groups[:5]
        )
        more = f"; {len(groups) - 5:,} more" if len(groups) > 5 else ""
        raise MatchError(
            f"{len(groups):,} unit(s) appear more than once ({shown}{more}); keep one row per "
            f"unit{' and year' if year_col else ''} (or aggregate them) and run again."
        )


#: A row that sums the others, as statistical yearbooks and Excel sheets end (合计, 全省,
#: 无锡市合计, 其中：县级市), or a note under the table (注：..., 资料来源：...); read with
#: its spaces removed (合　计).
TOTAL_ROW = re.compile(
    r"(?:(?:全省|全市|全国|全区|全县)(?:合计|总计)?|\w{0,12}?(?:合计|总计|小计|共计)"
    r"|(?:grand)?total|sum)[:：]?|(?:其中|注|备注|说明|资料来源|数据来源)[:：].*",
    re.I | re.S,
)


def is_total_row(cell: object) -> bool:
    """Whether a cell reads as a total or a note (:data:`TOTAL_ROW`), its spaces ignored."""
    return isinstance(cell, str) and bool(TOTAL_ROW.fullmatch("".join(cell.split())))


def set_aside(
    resolved: pd.DataFrame, raw: pd.DataFrame, values: list[str], level: str = "own"
) -> pd.DataFrame:
    """Unmatched rows that are blank, or a total (合计, 全省 …), marked so: never analysed.

    They stay in the match report with status ``blank`` or ``total`` and do not count
    against ``max_unmatched``; a total row is not a unit, a blank row holds nothing. A row
    naming the province (or prefecture) that holds every matched unit is its total too
    (江苏省 above its 13 cities, as yearbooks print them).
    """
    out = resolved.copy()
    unmatched = out["match_status"] != "matched"
    cells = raw.loc[unmatched].map(lambda v: v.strip() if isinstance(v, str) else v)
    is_blank = cells.map(lambda v: v == "" or bool(pd.isna(v))).all(axis=1)
    labels = cells.drop(columns=[c for c in values if c in cells.columns])
    is_total = labels.map(is_total_row).any(axis=1)
    is_total |= _holder_rows(labels, _holding(out, level))
    for status, rows in (("blank", is_blank[is_blank].index),
                         ("total", is_total[is_total & ~is_blank].index)):  # fmt: skip
        what = {"blank": "blank", "total": "total or note"}[status]
        out.loc[rows, ["match_status", "match_note"]] = [status, f"a {what} row: set aside"]
        out.loc[rows, "match_candidates"] = ""  # not a unit: no unit is its candidate
        if len(rows):
            log(f"{len(rows)} {what} row(s) set aside ({rows_named(rows, 3)}), listed in the "
                "match report")
    return out


def _holder_rows(labels: pd.DataFrame, holders: set[str]) -> pd.Series:
    """Rows whose unit columns name only ``holders`` (江苏省, and 江苏省 as its province).

    The unit columns are the name, province and prefecture ones (:func:`detect_columns`);
    a growth rate or a year beside them is not a name.
    """
    if not holders or labels.empty:
        return pd.Series(False, index=labels.index)
    try:
        found = detect_columns(labels)
        roles = [found[r] for r in ("name", "province", "prefecture") if found.get(r)]
    except (MatchError, InputError):
        roles = list(labels.columns)
    cells = labels[[c for c in roles if c in labels.columns]].map(
        lambda v: normalise(v) if isinstance(v, str) and v.strip() else None
    )
    present = cells.notna()
    return (present.any(axis=1) & (cells.isin(holders) | ~present).all(axis=1)).astype(bool)


def _holding(resolved: pd.DataFrame, level: str) -> set[str]:
    """Names of the province (and, for counties, the prefecture) holding every matched unit.

    By code: a province's code begins with the two digits of every unit in it, a
    prefecture's with the four. Empty outside the bundled levels or when the units lie in
    more than one.
    """
    above = {"prefecture": (("province", 2),), "county": (("province", 2), ("prefecture", 4))}
    codes = resolved.loc[resolved["match_status"] == "matched", "adcode"].dropna().astype(str)
    names: set[str] = set()
    for coarser, digits in above.get(level, ()) if len(codes) else ():
        heads = set(codes.str[:digits])
        if len(heads) == 1:
            table = gazetteer(coarser)
            held = table.loc[table.index.astype(str).str[:digits] == heads.pop(), "name"]
            names |= {n for name in held for n in (name, stem(name), core(name))}
    return names
