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
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from collections.abc import Iterable

import pandas as pd

from geotool import boundaries, settings
from geotool._errors import MatchError

__all__ = ["COLUMN_ALIASES", "MATCH_COLUMNS", "detect_columns", "normalise", "resolve"]

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
_PROVINCE_ADMINISTERED = {"省直管", "省直辖", "省直辖县级行政区划", "省直辖县", "直管", "省管"}
_UNIT_SUFFIXES = ("自治县", "自治旗", "林区", "特区", "市", "县", "区", "旗")


def normalise(text: object) -> str:
    """Normalise a typed name: NFKC, no white space, no markers.

    Examples
    --------
    >>> normalise(" 江阴市★ ")
    '江阴市'
    >>> normalise("ｋｕｎｓｈａｎ　市")
    'kunshan市'

    """
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return ""
    out = unicodedata.normalize("NFKC", str(text))
    out = re.sub(r"\s+", "", out)
    return _MARKERS.sub("", out)


def _stem(name: str) -> str:
    for suffix in _UNIT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


@functools.lru_cache(maxsize=1)
def _gazetteer() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    units = boundaries.units().reset_index()
    units["stem"] = units["name"].map(_stem)
    provinces = pd.read_csv(settings.data_dir / "provinces.csv", dtype=str)
    crosswalk = pd.read_csv(settings.data_dir / "crosswalk.csv", dtype=str)
    return units, provinces, crosswalk


def _province_codes(text: str, provinces: pd.DataFrame) -> set[str]:
    if not text:
        return set()
    hit = provinces[
        (provinces["province"] == text)
        | (provinces["short"] == text)
        | provinces["province"].str.startswith(text)
        | (provinces["province_en"].str.lower() == text.lower())
    ]
    return set(hit["province_code"])


def _prefecture_codes(text: str, units: pd.DataFrame, provs: set[str]) -> set[str]:
    if not text:
        return set()
    pool = units if not provs else units[units["province_code"].isin(provs)]
    if text in _PROVINCE_ADMINISTERED:
        return set(pool.loc[pool["province_administered"], "prefecture_code"])
    pref = pool["prefecture"]
    hit = pool[(pref == text) | pref.str.startswith(text) | (pref == text + "市")]
    return set(hit["prefecture_code"])


def _label(units: pd.DataFrame, codes: Iterable[str]) -> str:
    rows = units.set_index("adcode").loc[sorted(codes)]
    labels = []
    for code, r in rows.iterrows():
        pref = "" if r["prefecture"] == r["province"] else r["prefecture"]
        labels.append(f"{code} {r['province']}{pref}{r['name']}")
    return "; ".join(labels)


def _closest(name: str, pool: pd.DataFrame, n: int = 3) -> list[str]:
    names = pool["name"].drop_duplicates().tolist()
    close = difflib.get_close_matches(name, names, n=n, cutoff=0.5)
    if not close:
        close = difflib.get_close_matches(_stem(name), pool["stem"].tolist(), n=n, cutoff=0.5)
        close = pool.loc[pool["stem"].isin(close), "name"].drop_duplicates().tolist()[:n]
    return pool.loc[pool["name"].isin(close), "adcode"].tolist()


def _resolve_one(
    name: str, prov_text: str, pref_text: str, code_text: str
) -> tuple[str | None, str, str, list[str], str]:
    """Return (adcode, status, method, candidates, note) for one row."""
    units, provinces, crosswalk = _gazetteer()
    known = set(units["adcode"])
    provs = _province_codes(prov_text, provinces)
    notes = []
    if prov_text and not provs:
        notes.append(f"province {prov_text!r} not recognised, ignored")
    prefs = _prefecture_codes(pref_text, units, provs)
    if pref_text and not prefs:
        notes.append(f"prefecture {pref_text!r} not recognised, ignored")

    # 1. A code, when given, decides; a name given beside it must agree.
    if code_text:
        code = code_text
        new = None
        if code in known:
            new, method = code, "code"
        elif code in set(crosswalk["old_code"]):
            row = crosswalk.set_index("old_code").loc[code]
            new, method = row["new_code"], "code+crosswalk"
            notes.append(
                f"{code} {row['old_name']} became {new} {row['new_name']} on "
                f"{row['effective']} ({row['change']})"
            )
        if new is None:
            return None, "unmatched", "code", [], "; ".join([*notes, f"unknown code {code!r}"])
        if name:
            unit_name = units.set_index("adcode").at[new, "name"]
            old_names = set(crosswalk.loc[crosswalk["new_code"] == new, "old_name"])
            if name not in {unit_name, *old_names} and _stem(name) != _stem(unit_name):
                by_name = set(units.loc[units["name"] == name, "adcode"])
                note = f"code {code} is {unit_name}, but the name says {name!r}"
                return None, "ambiguous", "code≠name", sorted({new, *by_name}), note
        return new, "matched", method, [], "; ".join(notes)

    if not name:
        return None, "unmatched", "none", [], "; ".join([*notes, "no name and no code"])

    pool = units
    if provs:
        pool = pool[pool["province_code"].isin(provs)]
    if prefs:
        pool = pool[pool["prefecture_code"].isin(prefs)]

    # 2. Exact name within the context; 3. the crosswalk of old names;
    # 4. the name without its suffix (江阴 for 江阴市).
    for method, found in (
        ("name", pool.loc[pool["name"] == name, "adcode"]),
        ("crosswalk", _crosswalk_hits(name, pref_text, provs, crosswalk)),
        ("name-stem", pool.loc[pool["stem"] == _stem(name), "adcode"]),
    ):
        hits = sorted(set(found))
        if len(hits) == 1:
            if method == "crosswalk":
                row = crosswalk[
                    (crosswalk["new_code"] == hits[0]) & (crosswalk["old_name"] == name)
                ].iloc[0]
                notes.append(
                    f"{row['old_name']} {row['old_code']} became {row['new_name']} "
                    f"{hits[0]} on {row['effective']} ({row['change']})"
                )
            return hits[0], "matched", method, [], "; ".join(notes)
        if len(hits) > 1:
            notes.append(f"{len(hits)} units named {name!r}; add the province or prefecture")
            return None, "ambiguous", method, hits, "; ".join(notes)
    # 5. Nothing: the same name elsewhere (context may be wrong), else close names.
    elsewhere = units.loc[units["name"] == name, "adcode"].tolist()
    if elsewhere:
        notes.append(f"{name!r} exists, but not in the given province/prefecture")
        return None, "unmatched", "none", elsewhere, "; ".join(notes)
    return (
        None,
        "unmatched",
        "none",
        _closest(name, pool if len(pool) else units),
        "; ".join([*notes, f"no unit named {name!r}"]),
    )


def _crosswalk_hits(
    name: str, pref_text: str, provs: set[str], crosswalk: pd.DataFrame
) -> list[str]:
    rows = crosswalk[crosswalk["old_name"] == name]
    if provs:
        rows = rows[rows["new_code"].str[:2].isin({p[:2] for p in provs})]
    if pref_text and len(rows) > 1:
        rows = rows[rows["old_prefecture"].str.startswith(pref_text)]
    return rows["new_code"].tolist()


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
    :data:`COLUMN_ALIASES`. Raises :class:`MatchError` when a named column is
    missing or when neither a name nor a code column can be found.
    """
    given = {
        "name": name_col,
        "province": province_col,
        "prefecture": prefecture_col,
        "code": code_col,
    }
    missing = [c for c in given.values() if c is not None and c not in table.columns]
    if missing:
        msg = (
            f"Column(s) {missing} not in the table; its columns are "
            f"{list(map(str, table.columns))}. Pass existing column names."
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
            f"No unit-name or code column found among {list(map(str, table.columns))}; "
            "name one with --name-col (or name_col=) or --code-col."
        )
        raise MatchError(msg)
    return found


def resolve(
    table: pd.DataFrame,
    *,
    name_col: str | None = None,
    province_col: str | None = None,
    prefecture_col: str | None = None,
    code_col: str | None = None,
) -> pd.DataFrame:
    """Resolve each row of ``table`` to a six-digit adcode.

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
        (code, name, crosswalk, name-stem, ...), ``match_candidates``
        ("code name; ..." for ambiguous and unmatched rows) and ``match_note``.

    Raises
    ------
    MatchError
        If the table is empty or has no usable column.

    Examples
    --------
    >>> rows = pd.DataFrame({"省": ["福建", "吉林", None], "县": ["龙海市", "朝阳区", "朝阳区"]})
    >>> resolve(rows)[["adcode", "match_status", "match_method"]].to_numpy().tolist()
    [['350604', 'matched', 'crosswalk'], ['220104', 'matched', 'name'], [<NA>, 'ambiguous', 'name']]

    """
    if not isinstance(table, pd.DataFrame):
        msg = f"resolve() takes a pandas DataFrame, got {type(table).__name__}."
        raise MatchError(msg)
    if table.empty:
        msg = "The table has no rows; nothing to resolve. Check the file and its sheet."
        raise MatchError(msg)
    cols = detect_columns(
        table,
        name_col=name_col,
        province_col=province_col,
        prefecture_col=prefecture_col,
        code_col=code_col,
    )
    units = _gazetteer()[0]

    def column(role: str) -> list[str]:
        col = cols[role]
        if not col:
            return [""] * len(table)
        if role == "code":
            return [re.sub(r"\D", "", normalise(v).split(".")[0]) for v in table[col]]
        return [normalise(v) for v in table[col]]

    results = [
        _resolve_one(n, p, f, c)
        for n, p, f, c in zip(
            column("name"), column("province"), column("prefecture"), column("code"), strict=True
        )
    ]
    out = table.rename(columns={c: f"{c}_input" for c in MATCH_COLUMNS if c in table.columns})
    out["adcode"] = pd.array([r[0] for r in results], dtype="string")
    out["match_status"] = [r[1] for r in results]
    out["match_method"] = [r[2] for r in results]
    out["match_candidates"] = [_label(units, r[3]) if r[3] else "" for r in results]
    out["match_note"] = [r[4] for r in results]
    return out


def duplicates(resolved: pd.DataFrame) -> pd.DataFrame:
    """Rows of a resolved table whose adcode is shared with another row."""
    matched = resolved[resolved["match_status"] == "matched"]
    return matched[matched["adcode"].duplicated(keep=False)]


def require_unique(resolved: pd.DataFrame) -> None:
    """Raise :class:`MatchError` if two rows resolved to the same unit."""
    dup = duplicates(resolved)
    if len(dup):
        pairs = dup.groupby("adcode").apply(lambda g: list(g.index), include_groups=False)
        listing = "; ".join(f"{code}: rows {rows}" for code, rows in pairs.items())
        msg = (
            f"{len(pairs)} unit(s) appear more than once ({listing}); keep one row per "
            "unit (or aggregate them) and run again."
        )
        raise MatchError(msg)
