"""A user's own data as a study: a table at any level, own polygons, several variables, panels.

:func:`load_user_table` reads a table (:func:`geotool.io.read_table`), resolves its rows
on the bundled units (:func:`geotool.match.resolve`) or joins them to the user's own
polygons (:func:`geotool.geofile.join_table`), reads a panel's years, checks the values
and writes every row's status to the match report (nothing is dropped silently).
:func:`user_analysis` turns it into the pipeline's :class:`~geotool.analysis.Analysis`:
a variable per value column (transformed if asked), tiers, clusters, bivariate pairs and
a panel's dynamics. The universe is the table's own units (in a panel's latest year).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geotool import _validate as check
from geotool import boundaries, tiers
from geotool._atomic import write_atomic
from geotool._csv import to_csv_bytes
from geotool._errors import InputError, MatchError
from geotool._log import log
from geotool._text import listing, rows_named, short
from geotool.analysis import Analysis, TierTable, Variable, in_china
from geotool.match import set_aside
from geotool.study import Study, is_geometry_file

__all__ = ["MAX_VARIABLES", "UserTable", "load", "load_user_table", "user_analysis"]

#: The most value columns one report analyses: each writes its own maps, tables and
#: figures (about 1.4 kB a unit: 4 MB on the county layer); more is ``geotool batch``'s.
MAX_VARIABLES = 50

#: What a run on each kind of units calls them.
#: A study's title by language: ``{source}``, ``{shown}`` (the variables' labels), ``{n}``
#: units of ``{level}``, ``{when}`` (a panel's latest year, or nothing).
_TITLES = {
    "en": ("{source}: {shown} ({n} {level}{when})", ", {year}",
           {"county": "county-level units", "prefecture": "prefecture-level units",
            "province": "provinces", "own": "units"}),
    "zh": ("{source}：{shown}（{n} 个{level}{when}）", "，{year} 年",
           {"county": "县级单元", "prefecture": "地级单元", "province": "省级单元", "own": "单元"}),
}  # fmt: skip


def _title(source: str, shown: str, *, n: int, level: str, year: int | None, lang: str) -> str:
    """The study's title in ``lang`` (the figures' source line, the pages' heads)."""
    form, when, levels = _TITLES.get(lang, _TITLES["en"])
    return form.format(source=source, shown=shown, n=n, level=levels.get(level, levels["own"]),
                       when=when.format(year=year) if year is not None else "")  # fmt: skip


@dataclass
class UserTable:
    """A user's table, read and accounted for.

    ``rows`` are the usable rows (``adcode``: a bundled code at ``level`` or the user's
    geometry's id; value columns as floats; the year as int), ``raw`` the table as
    read, ``report`` every row with its status (the match report). ``level`` is
    ``county``, ``prefecture``, ``province`` or ``own`` (``level_reason`` says why);
    ``units`` the units' polygons with ``name`` (``None`` for bundled counties);
    ``geometry_report`` the geometries repaired or dropped while reading a file;
    ``sources`` the file's columns the value columns were made from; ``composite`` the
    composite index the value column is (:func:`geotool.composite.build`), if one.
    """

    rows: pd.DataFrame
    raw: pd.DataFrame
    report: pd.DataFrame
    value_cols: list[str]
    year_col: str | None
    level: str
    level_reason: str
    units: gpd.GeoDataFrame | None
    geometry_report: pd.DataFrame | None = None
    sources: list[str] | None = None
    composite: dict[str, Any] | None = None

    def source_of(self) -> dict[str, str]:
        """Each value column by the column of the file it was made from."""
        return dict(zip(self.sources or self.value_cols, self.value_cols, strict=True))


def _numeric_columns(raw: pd.DataFrame, exclude: set[str]) -> list[str]:
    """Columns of mostly numbers (> 90 % of non-empty cells), codes and ids excluded."""
    out = []
    for c in raw.columns:
        if c in exclude or "代码" in c or "code" in c.lower() or c.lower() in ("id", "fid"):
            continue
        cells = raw[c].dropna()
        cells = cells.map(lambda v: v.strip() if isinstance(v, str) else v)
        if len(cells) and check.text_numbers(cells).notna().mean() > 0.9:
            out.append(c)
    return out


def _value_columns(
    raw: pd.DataFrame, value_cols: str | list[str] | None, *, all_numeric: bool,
    roles: dict[str, str], path: Path | str,
) -> list[str]:  # fmt: skip
    """The value columns: named (a list, or ``"A,B"``), every numeric one, or the only one.

    ``roles`` are the columns with another role (units, year, population), never values.
    """
    if isinstance(value_cols, str):
        value_cols = [c.strip() for c in value_cols.split(",") if c.strip()]
    if value_cols and all_numeric:
        msg = "Pass value_col= or all_numeric=True, not both: they choose the same columns."
        raise InputError(msg)
    if value_cols:
        missing = [c for c in value_cols if c not in raw.columns]
        if missing:
            named = f"value_col={missing[0]!r}" if len(missing) == 1 else f"value_col {missing}"
            raise InputError(
                f"{named} is not a column of {path}; its columns are {listing(raw.columns)} "
                "(several value columns: 'A,B')."
            )
        if len(set(value_cols)) != len(value_cols):
            msg = f"value_col= names a column twice ({listing(value_cols)}); name each once."
            raise InputError(msg)
        values = list(value_cols)
    else:
        values = _numeric_columns(raw, set(roles))
    if not values:
        others = [c for c in raw.columns if c not in roles]
        raise InputError(
            f"{path} has no column of numbers besides its units and years (other columns: "
            f"{listing(others)}); values must be numbers: add one, or name it with value_col= "
            "to see which cells are not."
        )
    years = [c for c in values if re.fullmatch(r"(?:19|20)\d\d\s*年?(?:度)?", str(c).strip())]
    if not value_cols and not all_numeric and len(years) > 1 and len(years) == len(values):
        raise InputError(
            f"The columns {listing(years)} look like the years of one variable (a wide "
            "table): reshape it to one row per unit and year, with a year column (Excel: "
            "unpivot; pandas: melt), and pass year_col=; or use all_numeric=True to analyse "
            "each year as its own variable."
        )
    if not value_cols and not all_numeric and len(values) > 1:
        raise InputError(
            f"Cannot tell which column holds the values (numeric columns: {listing(values)}); "
            "name them with value_col= (several: 'A,B'), or use all_numeric=True."
        )
    if len(values) > MAX_VARIABLES:
        chose = "all_numeric=True" if all_numeric else "value_col="
        raise InputError(
            f"{chose} chose {len(values):,} columns of {path}: a report of them would write "
            f"about {len(values) * len(raw) * 1.4e3 / 1e9:.2g} GB (maps, tables and figures "
            f"for each), and a report takes at most {MAX_VARIABLES}; name up to "
            f"{MAX_VARIABLES} with value_col= ('A,B'), or run `geotool batch` on the table "
            "for statistics of every column."
        )
    taken = [c for c in values if c in roles]
    if taken:
        raise InputError(
            f"value_col={taken[0]!r} is {roles[taken[0]]}, not a variable; name the value "
            f"column(s) instead (numeric columns: {listing(_numeric_columns(raw, set(roles)))})."
        )
    return values


def _bundled_units(level: str, ids: pd.Index) -> gpd.GeoDataFrame:
    """The bundled prefecture or province polygons of ``ids``, with ``name`` and region.

    A province-administered county-level city in a prefecture table (济源市 419001,
    仙桃市 429004) is a unit of its own there: its county polygon is used.
    """
    from geotool.match import gazetteer

    layer = boundaries.load(level)  # type: ignore[arg-type]
    names = gazetteer(level)["name"]  # 济源市 for the one-unit group 419000
    parts = [layer.loc[ids.intersection(layer.index)]]
    rest = ids.difference(layer.index)
    if len(rest):
        counties = boundaries.load("county")
        parts.append(counties.loc[rest.intersection(counties.index)])
    out = pd.concat(parts).reindex(ids)
    out["name"] = names.reindex(ids).to_numpy()
    keep = ["name", *[c for c in ("province", "region") if c in out.columns], "geometry"]
    return gpd.GeoDataFrame(out[keep], geometry="geometry", crs=layer.crs)


def load_user_table(
    path: Path | str | pd.DataFrame, report_path: Path | str | None, *,
    value_col: str | list[str] | None = None, all_numeric: bool = False,
    name_col: str | None = None, province_col: str | None = None,
    prefecture_col: str | None = None, code_col: str | None = None,
    year_col: str | None = None, encoding: str | None = None, sheet: str | int | None = None,
    level: str = "auto", geometry: gpd.GeoDataFrame | Path | str | None = None,
    id_col: str | None = None, datum: str | None = None, layer: str | None = None,
    per: str | None = None, max_unmatched: float = 0.0, report_on_failure_only: bool = False,
    crs: str | None = None, geometry_encoding: str | None = None,
    kept_as: str = "tables/match_report.csv",
) -> UserTable:  # fmt: skip
    """Read a user's table, resolve its rows, write the match report, check it.

    ``path``: a table (CSV in UTF-8/GBK or Excel, as :func:`geotool.io.read_table` reads
    it), a geometry file (attributes the table, features the units, as GeoDa opens one)
    or a DataFrame. Every row goes to ``report_path`` with its status before anything can
    fail (with ``report_on_failure_only``: only when the table is refused; the caller keeps
    it as ``kept_as`` in its output folder, which the log line names). Values are
    ``value_col`` (``"A,B"``), else the only numeric column, or every one (``all_numeric``);
    ``per`` a population column. Units are found by the ``*_col`` columns (recognised when
    not given) at ``level``, or joined by ``id_col`` or name to ``geometry`` (polygons, or
    a file :func:`geotool.geofile.read_geometry` reads with ``layer``, ``datum``, ``crs``,
    ``geometry_encoding``). Raises :class:`MatchError` when over ``max_unmatched`` (a
    share) of the rows are not matched or a unit appears twice (in a year),
    :class:`InputError` for a missing column, a bad year or values that are not finite.
    """
    table = path
    path = "the table (data=)" if isinstance(path, pd.DataFrame) else path  # in messages
    if report_path is not None:  # never written over the input table (or a device)
        inputs = [] if isinstance(table, pd.DataFrame) else [path]
        report_path = check.output_file(report_path, inputs=inputs, name="report_path")
    max_unmatched = check.share(max_unmatched, "max_unmatched")
    if geometry is not None and level != "auto":
        raise InputError(
            f"level={level!r} chooses bundled units, but geometry= gives your own polygons; "
            "drop level= (the table joins to the geometry by id or name)."
        )
    raw, geometry, id_col, geometry_report = _read_input(
        table, geometry, id_col=id_col, layer=layer, datum=datum, crs=crs, encoding=encoding,
        sheet=sheet, geometry_encoding=geometry_encoding,
    )  # fmt: skip
    units_given = {"name_col": name_col, "province_col": province_col,
                   "prefecture_col": prefecture_col, "code_col": code_col}  # fmt: skip
    roles, year_col = _roles(raw, path, units_given, own=geometry is not None, id_col=id_col,
                             year_col=year_col, per=per)  # fmt: skip
    values = _value_columns(raw, value_col, all_numeric=all_numeric, roles=roles, path=path)
    if geometry is None:
        resolved, level, reason, units = _resolve_bundled(raw, level=level, **units_given)
    else:
        table_id = id_col if id_col in raw.columns else None
        resolved, units = _join_own(
            raw, geometry, id_col=table_id, name_col=name_col, year_col=year_col,
            dropped=geometry_report,
        )  # fmt: skip
        if table_id is None and id_col is not None:
            log(f"the table has no column {id_col!r}: rows joined to the geometry by name")
        level, reason = "own", "the table joined to the geometry given"
    resolved = set_aside(resolved, raw, values, level)
    report = resolved.copy()

    def fail(msg: str, cls: type[InputError] = MatchError) -> None:
        """Write every row with its status to ``report_path``, then raise ``cls``."""
        if report_path is not None:
            write_atomic(Path(report_path), _report_csv(report))
            msg += f" Every row with its status: {report_path}."
        raise cls(msg)

    if not report_on_failure_only and report_path is not None:
        write_atomic(Path(report_path), _report_csv(report))
    missing = [c for c in ("province", "prefecture") if f"the {c} column" not in roles.values()]
    fix = "Fix those ids or names" if geometry is not None else "Fix those names" + (
        f" or add a {missing[0]} column" if missing else "")  # fmt: skip
    ok = _usable_rows(resolved, report, year_col=year_col, max_unmatched=max_unmatched,
                      fix=fix, fail=fail)  # fmt: skip
    for col, name in [*((c, "value_col") for c in values), *([(per, "per")] if per else [])]:
        try:
            ok[col] = check.finite_values(ok[col], f"{name}={col!r}")
        except InputError as exc:
            fail(str(exc), InputError)
    if units is not None:
        units = units.loc[pd.Index(ok["adcode"]).unique()]
    why = f" ({reason})" if level == "own" else ""  # match.resolve said why, a line above
    unused = len(raw) - len(ok)
    if unused and report_path is not None:  # a run's folder holds it in tables/
        where = f"{kept_as} in the output folder" if report_on_failure_only else report_path
        why += f"; the other {unused:,} row(s) are listed with their status in {where}"
    log(f"{len(ok)} rows of {len(raw)} matched at level {level}{why}")
    return UserTable(ok, raw, report, values, year_col, level, reason, units, geometry_report)


def _roles(
    raw: pd.DataFrame, path: Path | str, units_given: dict[str, str | None], *, own: bool,
    id_col: str | None, year_col: str | None, per: str | None,
) -> tuple[dict[str, str], str | None]:  # fmt: skip
    """The columns with a role (units, year, population) by what they are; the year column."""
    for given, name in ((year_col, "year_col"), (per, "per")):
        if given is not None and given not in raw.columns:
            raise InputError(
                f"{name}={given!r} is not a column of {path}; its columns are "
                f"{listing(raw.columns)}."
            )
    if own:
        name_col = units_given["name_col"]
        roles = {c: f"the {role} column" for role, c in (("id", id_col), ("name", name_col)) if c}
    else:
        from geotool.match import detect_columns

        found = detect_columns(raw, **units_given)
        year_col = year_col or found.get("year")
        roles = {c: f"the {role} column" for role, c in found.items() if c}
    roles_given = (("year", "year_col", year_col), ("population", "per", per))
    roles |= {c: f"the {what} column ({name}=)" for what, name, c in roles_given if c}
    return roles, year_col


def _read_input(
    path: Path | str | pd.DataFrame, geometry: gpd.GeoDataFrame | Path | str | None, *,
    id_col: str | None, sheet: str | int | None, encoding: str | None,
    geometry_encoding: str | None,
    **options: Any,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame | None, str | None, pd.DataFrame | None]:  # fmt: skip
    """(table, own geometry, its id column, its repairs), each read from its file.

    A table already read (``path`` a DataFrame) is copied, never changed. A geometry file
    as ``path`` is the table (its attributes) and the geometry; ``options`` (layer, datum,
    crs) are :func:`geotool.geofile.read_geometry`'s.
    """
    from geotool.io import read_table

    if isinstance(path, pd.DataFrame):
        raw = path.copy()
    elif is_geometry_file(Path(path)):
        from geotool.geofile import read_geometry

        if geometry is not None:
            raise InputError(
                f"{Path(path).name} is a geometry file: its features are the units and its "
                "attributes the values; drop geometry= (or pass a table as data=)."
            )
        geo, report = read_geometry(
            path, numbered=True, id_col=id_col, encoding=geometry_encoding or encoding, **options
        )
        id_name = str(geo.index.name)
        raw = pd.DataFrame(geo.drop(columns=geo.geometry.name)).reset_index(names=id_name)
        raw.attrs["encoding"] = geo.attrs.get("source", {}).get("encoding")
        return raw, geo, id_name, report
    else:
        raw = read_table(path, encoding=encoding, sheet=sheet)
    if not isinstance(geometry, str | Path):
        return raw, geometry, id_col, None
    from geotool.geofile import read_geometry

    try:
        geo, report = read_geometry(geometry, id_col=id_col, encoding=geometry_encoding, **options)
    except InputError as exc:  # its encoding= is this function's geometry_encoding=
        raise InputError(str(exc).replace("encoding=", "geometry_encoding=")) from None
    return raw, geo, id_col, report


def _usable_rows(
    resolved: pd.DataFrame, report: pd.DataFrame, *, year_col: str | None,
    max_unmatched: float, fix: str, fail: Any,
) -> pd.DataFrame:  # fmt: skip
    """The matched rows, their years read (``year_used`` of ``report``).

    Refused through ``fail`` when too many rows are not matched (``fix`` says what the
    user can do), a year cell is not a year, or a unit appears twice (in a year).
    """
    bad = resolved[~resolved["match_status"].isin(["matched", "blank", "total"])]
    if len(bad) / len(resolved) > max_unmatched:
        first = bad.iloc[0]
        n = bad["match_status"].value_counts()
        counts = ", ".join(f"{n[s]} {s}" for s in ("unmatched", "ambiguous", "merged") if s in n)
        why = str(first["match_note"] or first["match_candidates"])[:160]
        fail(
            f"{len(bad)} of {len(resolved)} rows are not matched ({counts}; first: "
            f"{rows_named(bad.index)} {first['match_status']}: {why}). {fix}, or allow them with "
            f"max_unmatched={check.share_at_least(len(bad), len(resolved))}."
        )
    ok = resolved[resolved["match_status"] == "matched"].copy()
    if year_col:
        years, rejected = check.year_labels(ok[year_col], "year_col")
        report["year_used"] = pd.Series(years, dtype="Int64").reindex(report.index)
        if len(rejected):
            rows = rejected.index[:8]
            report.loc[rejected.index, "match_note"] = rejected["reason"].astype(str)
            fail(
                f"year_col={year_col!r} has cells that are not a year on {rows_named(rows, 8)} "
                f"(e.g. {short(ok.loc[rows[0], year_col])}); write years as 2020 or 2020年, "
                "or remove those rows.",
                InputError,
            )
        ok[year_col] = years.reindex(ok.index).astype(int)
    from geotool.match import require_unique

    try:
        require_unique(ok, year_col)
    except MatchError as exc:
        fail(str(exc))
    return ok


def _report_csv(report: pd.DataFrame) -> bytes:
    """The match report as CSV, its rows numbered by ``line`` (of the file) or ``row``."""
    return to_csv_bytes(report.reset_index(names=_label(report.index)))


def _label(index: pd.Index) -> str:
    """What a table's rows are numbered by: ``line`` (of the file, from 1), else ``row``."""
    return "line" if index.name == "line" else "row"


def _resolve_bundled(
    raw: pd.DataFrame, *, level: str, **columns: str | None
) -> tuple[pd.DataFrame, str, str, gpd.GeoDataFrame | None]:
    """Resolve rows against the bundled layer of their level (``auto``: detected)."""
    from geotool.match import resolve

    resolved = resolve(raw, level=level, **columns)
    level = str(resolved.attrs.get("level", level))
    reason = str(resolved.attrs.get("level_reason", "as given"))
    ids = pd.Index(resolved.loc[resolved["match_status"] == "matched", "adcode"]).unique()
    units = None if level == "county" else _bundled_units(level, ids)
    return resolved, level, reason, units


def _join_own(
    raw: pd.DataFrame, geometry: gpd.GeoDataFrame, *, id_col: str | None,
    name_col: str | None, year_col: str | None, dropped: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:  # fmt: skip
    """Join rows to the user's geometry; the report in :func:`resolve`'s columns.

    ``dropped`` is :func:`geotool.geofile.read_geometry`'s report: a row whose id is a
    feature dropped there (no geometry, beyond repair) is told so, not "no such id".
    """
    from geotool.geofile import join_table

    by_name = name_col if id_col is None else None  # with ids, names are for people only
    same = by_name if by_name is not None and by_name in geometry.columns else None
    _, report = join_table(raw, geometry, id_col=id_col, name_col=by_name, year_col=year_col,
                           geo_name_col=same)  # the geometry's column of that name, if any
    rows = report[report["row"].notna()].copy()
    rows.index = raw.index[rows["row"].astype(int).to_numpy() - 1]  # join_table counts from 1
    out = raw.copy()
    matched = rows["status"] == "matched"
    found = matched.reindex(out.index, fill_value=False).to_numpy()
    out["adcode"] = rows["id"].where(matched).astype(object).reindex(out.index)
    out["match_status"] = np.where(found, "matched", "unmatched")
    out["match_method"], out["match_candidates"] = np.where(found, "id", ""), ""
    out["match_note"] = rows["status"].where(~matched, "").reindex(out.index).fillna("")
    # ids that differ from the geometry's only by leading zeros (Excel drops them)
    padded = {str(i).lstrip("0"): str(i) for i in geometry.index if str(i).isdigit()}
    why: dict[str, str] = {}
    if dropped is not None and len(dropped):
        gone = dropped[dropped["action"].astype(str).str.startswith("dropped")]
        why = dict(zip(gone["id"].astype(str), gone["issue"].astype(str), strict=True))
    for i in out.index[(out["match_note"] == "no such id").to_numpy()]:
        key = str(rows.loc[i, "key"]).removesuffix(".0") if i in rows.index else ""
        if key.isdigit() and padded.get(key.lstrip("0"), key) != key:
            out.loc[i, "match_note"] = (
                f"no such id; the geometry has {padded[key.lstrip('0')]!r} (leading zeros "
                "lost? keep ids as text)"
            )
        elif key in why:
            out.loc[i, "match_note"] = (
                f"its feature in the geometry file was dropped ({why[key]}); repair it there"
            )
    units = geometry.copy()
    units["name"] = _unit_names(units, out, name_col)
    return out, units


def _unit_names(units: gpd.GeoDataFrame, rows: pd.DataFrame, name_col: str | None) -> pd.Series:
    """The names people read: ``name_col`` (the geometry's, else the table's), else the ids.

    Without ``name_col``, the geometry's column named like names (``名称``, ``STATE_NAME``:
    :func:`geotool.geofile.name_column`) is used, and said.
    """
    from geotool.geofile import name_column

    if name_col is not None and name_col == units.geometry.name:
        raise InputError(f"name_col={short(name_col)!r} is the geometry; name a column of names.")
    if name_col is not None and name_col in units.columns:
        return units[name_col].astype(str)
    if name_col is not None and name_col in rows.columns:
        joined = rows[rows["match_status"] == "matched"].drop_duplicates("adcode", keep="last")
        names = joined.set_index("adcode")[name_col].astype(str)
        return names.reindex(units.index).fillna(pd.Series(units.index, index=units.index))
    if name_col is not None:
        columns = listing([*units.columns.drop(units.geometry.name), *rows.columns], 30)
        raise InputError(
            f"name_col={short(name_col)!r} is not a column of the geometry or the table: {columns}."
        )
    found = name_column(units)
    if found is not None and units[found].notna().any():
        log(f"the units' names are in column {found!r} of the geometry (pass name_col=)")
        return units[found].astype(str)
    return pd.Series(units.index.astype(str), index=units.index)


def _key(column: str, taken: set[str]) -> str:
    """A file-name-safe key for a value column: ASCII, Chinese in pinyin (企业数 -> qiyeshu)."""
    from pypinyin import lazy_pinyin

    spelt = "".join(lazy_pinyin(column))
    ascii_ = "".join(c if c.isalnum() and c.isascii() else "_" for c in spelt)
    ascii_ = "_".join(part for part in ascii_.split("_") if part)
    key = ascii_.lower()[:40] or f"v{len(taken) + 1}"
    while key in taken:
        key = f"{key}_{len(taken) + 1}"
    taken.add(key)
    return key


def load(study: Study, report_path: Path | str | None, **options: Any) -> UserTable:
    """The study's table read and accounted for (:func:`load_user_table` on its fields).

    ``geometry`` alone is read as the table too (its attributes hold the values).
    """
    path = study.data if study.data is not None else study.geometry
    assert path is not None
    # the study's fields named as the parameters
    same = ("all_numeric", "name_col", "province_col", "prefecture_col", "code_col", "year_col",
            "encoding", "sheet", "level", "id_col", "datum", "layer", "per", "crs",
            "geometry_encoding", "max_unmatched")  # fmt: skip
    try:
        return load_user_table(
            path, report_path, value_col=list(study.indicators or study.value_cols) or None,
            geometry=study.geometry if study.data is not None else None,
            **{name: getattr(study, name) for name in same}, **options,
        )  # fmt: skip
    except InputError as exc:  # the model's y (the study's variable) is not a column
        y = (study.model or "").split("~", 1)[0].strip().strip("`")
        text = str(exc)
        if study.indicators and text.startswith("value_col"):  # the index's indicators
            said = text.removeprefix("value_col").replace(" (several value columns: 'A,B')", "")
            raise InputError("indicators" + said) from None
        if not y or not text.startswith(f"value_col={y!r} is not a column "):
            raise
        rest = text.split(" is not a column ", 1)[1].partition(" (several value columns")[0]
        msg = f"model: {y!r} left of '~' is not a column {rest.rstrip('.')}."
        raise InputError(msg) from None


def _study_table(study: Study) -> UserTable:
    """The study's table, transformed as asked (``scale`` needs ``per``), of polygons.

    A refused table's rows go beside ``study.out``: the previous run's output stays.
    """
    if study.per is None and study.scale != 1.0:
        raise InputError(
            f"scale={study.scale!r} states rates (per 10,000 ...), but no population column "
            "was given; pass per= (the population column), or drop scale=."
        )
    report = Path(str(study.out).rstrip("/") + ".match_report.csv")
    t = load(study, report, report_on_failure_only=True)
    if study.transform is not None or study.per is not None or study.smooth is not None:
        t = _transformed(
            t, transform=study.transform, per=study.per, smooth=study.smooth,
            scale=study.scale, weights=study.weights or "queen",
        )  # fmt: skip
    if study.indicators:
        t = _indexed(t, study)
    if t.units is not None and not t.units.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        kinds = sorted(set(t.units.geom_type.dropna()))
        raise InputError(
            f"geometry= holds {', '.join(kinds)}, and a run draws polygons; pass a file of "
            "polygons, or test points with geotool autocorr and knn weights (knn:6)."
        )
    return t


def user_analysis(study: Study) -> Analysis:
    """A user's study prepared: its values over its own units, for the same pipeline.

    One variable per value column (transformed if asked), tiers per variable named by
    their classification (never the report's 梯队), city clusters for bundled counties
    and prefectures only, bivariate pairs, and for a panel (two years or more) the
    dynamics of :mod:`geotool.dynamics`. Rows that cannot be used are written to
    ``tables/match_report.csv`` (and, when the table is refused, beside ``study.out``
    as ``<out>.match_report.csv``).
    """
    t = _study_table(study)
    ok, year_col = t.rows, t.year_col
    if year_col and ok[year_col].nunique() < 2:
        log(f"{year_col}: one year ({int(ok[year_col].iloc[0])}): analysed as a cross-section")
        year_col = None
    latest = ok if not year_col else ok[ok[year_col] == ok[year_col].max()]
    _require_units(ok, latest, year_col)
    china = t.units is None or t.level != "own" or in_china(t.units)
    taken: set[str] = set()
    keys = {col: _key(src, taken) for src, col in t.source_of().items()}
    labels = _labels(t, study)
    variables, tier_tables, tier_word = _variables_and_tiers(t, study, latest, year_col, keys)
    for v in variables:
        v.label = labels.get(v.variable, v.label)
    rows = ok.set_index("adcode")
    groups, grouped_by = _groups(rows, study.groups, bundled=china and t.level != "own",
                                 level=t.level, cluster_set=study.cluster_set,
                                 lang=study.language(china))  # fmt: skip
    label, lang = study.source, study.language(china)
    given = study.data if study.data is not None else study.geometry
    if lang == "zh" and not isinstance(given, Path):
        label = "数据表"  # a table given as a frame (study.source: "table")
    shown = ("、" if lang == "zh" else ", ").join(labels[c] for c in t.value_cols)
    year = int(latest[year_col].iloc[0]) if year_col else None
    about = _title(label, shown, n=len(latest), level=t.level, year=year, lang=lang)
    title = study.title or about
    info_values = latest.set_index("adcode")[t.value_cols]
    if t.units is not None and "name" not in info_values.columns:
        info_values.insert(0, "name", t.units["name"].reindex(info_values.index).to_numpy())
    tables = {"match_report": t.report.reset_index(names=_label(t.report.index))}
    if t.geometry_report is not None and len(t.geometry_report):
        tables["geometry_report"] = t.geometry_report
    return Analysis(
        title=title, about=about, variables=variables, tier_tables=tier_tables,
        cluster_table=_cluster_table(t, latest),
        cluster_level="prefecture" if t.level == "prefecture" else "county",
        values_map=lambda info, opts: {},  # the pipeline draws a value map per variable
        info_values=info_values, bivariate=_bivariate_keys(study, t, keys), tables=tables,
        units=t.units, level=t.level, china=china, tier_word=tier_word,
        extra=partial(_dynamics, t, keys, study) if year_col else None, rows=rows,
        groups=groups, grouped_by=grouped_by, year_col=t.year_col, composite=t.composite,
        summary=_input_summary(t, study.data if isinstance(study.data, Path) else "table", latest),
        lisa_legend=f"局部 Moran（{shown}）" if lang == "zh" else f"Local Moran ({shown})",
        marked_name=(f"{label}：按{labels[t.value_cols[0]]}排名的单元" if lang == "zh"
                     else f"{label} units by rank of {labels[t.value_cols[0]]}"),
    )  # fmt: skip


def _labels(t: UserTable, study: Study) -> dict[str, str]:
    """Each value column's readable label, by the file's column it was made from.

    A transformed variable keeps its transform's name, with the labels given for its column
    and for the population (``--label 产值=工业产值（亿元）``: "工业产值（亿元）／人口", not
    "工业产值（亿元）" for a rate); a composite index names its method.
    """
    unknown = [c for c in study.labels if c not in t.raw.columns and c not in t.value_cols]
    if unknown:  # a typo would be silent
        raise InputError(
            f"labels= names {listing(unknown)}, which are not columns of the table; its "
            f"columns are {listing(list(t.raw.columns), 30)}."
        )
    own = f"composite index ({study.index_method} weights)" if t.composite else None
    out = {}
    for src, col in t.source_of().items():
        if own is not None or col == src:
            out[col] = study.labels.get(src, own or col)
            continue
        label = col.replace(src, study.labels[src], 1) if src in study.labels else col
        per = study.per
        if per is not None and per in study.labels and per in label:  # the rate's divisor
            at = label.rfind(per)
            label = label[:at] + study.labels[per] + label[at + len(per):]
        out[col] = label
    return out


def _groups(
    rows: pd.DataFrame, groups: str | None, *, bundled: bool, level: str, cluster_set: str,
    lang: str = "zh",
) -> tuple[pd.Series | None, str]:
    """The units' groups for the Theil decomposition (on their ids), and what they are.

    ``groups``: ``region`` (东部/中部/西部/东北, the default on China's bundled layers),
    ``province``, ``cluster`` (the primary city cluster of ``cluster_set``), or a column
    of the table (one group per unit); ``None`` elsewhere: no decomposition. Regions are
    named in ``lang`` (east/central/west/northeast in English).
    """
    ids = rows.index.unique()
    if groups is None and not bundled:
        return None, "none (pass groups=, a column of the table, to decompose)"
    if groups in (None, *CHINA_GROUPS) and not bundled:
        raise InputError(
            f"groups={groups!r} reads China's administrative codes, and these units are "
            f"the file's own ({level}); pass a column of the table instead."
        )
    if groups in (None, "region"):
        from geotool.divergence import china_regions

        found = china_regions(ids, lang="en" if lang == "en" else "zh")
        if groups is None and found.nunique() < 2:  # the default, not asked for: no split
            return None, f"none (every unit is in {found.iloc[0]}; pass groups= to decompose)"
        words = "east/central/west/northeast" if lang == "en" else "东部/中部/西部/东北"
        return _two_groups(found, groups or "region"), f"region ({words}, by province)"
    if groups == "cluster":
        if level not in ("county", "prefecture"):
            raise InputError(
                "groups='cluster': city clusters are defined on counties and prefectures, "
                f"not {level} units; pass region or province."
            )
        from geotool.clusters import membership

        primary = membership(cluster_set, level=level)["primary_zh"].replace("", np.nan)
        found = primary.reindex(ids).fillna("城市群外").rename("cluster")
        return _two_groups(found, groups), f"city cluster ({cluster_set}; 城市群外: none)"
    if groups == "province":
        names = boundaries.units()["name"]
        codes = pd.Series(ids.str[:2] + "0000", index=ids)
        return _two_groups(codes.map(names).fillna(codes).rename("province"), groups), groups
    if groups not in rows.columns:
        columns = [c for c in rows.columns if not str(c).startswith("match_")]
        raise InputError(
            f"groups={short(groups)!r} is not a column of the table (nor region or province); "
            f"its columns are {listing(columns, 20)}."
        )
    per_unit = rows[groups].astype(str).groupby(level=0)
    counts = per_unit.nunique()
    if (counts > 1).any():
        twice = listing([str(u) for u in counts.index[counts > 1]], 5)
        msg = f"groups={short(groups)!r}: units {twice} are in more than one group; keep one each."
        raise InputError(msg)
    return _two_groups(per_unit.first().rename(groups), groups), groups


def _two_groups(found: pd.Series, groups: str) -> pd.Series:
    """The groups, refused when every unit is in one (nothing to decompose)."""
    if found.nunique() < 2:
        raise InputError(
            f"groups={short(groups)!r} puts every unit in one group ({short(str(found.iloc[0]))}); "
            "a between/within decomposition needs two or more: choose another grouping."
        )
    return found


def _cluster_table(t: UserTable, latest: pd.DataFrame) -> pd.DataFrame | None:
    """The units by rank of the first variable, for city clusters (bundled units only)."""
    if t.level not in ("county", "prefecture"):
        return None
    names = _unit_column(t, "name")
    assert names is not None
    ranked = latest.assign(rank=latest[t.value_cols[0]].rank(ascending=False, method="min"))
    return pd.DataFrame({"adcode": ranked["adcode"].to_numpy(),
                         "name": names.reindex(ranked["adcode"]).to_numpy(),
                         "rank": ranked["rank"].to_numpy()})  # fmt: skip


def _variables_and_tiers(
    t: UserTable, study: Study, latest: pd.DataFrame, year_col: str | None, keys: dict[str, str]
) -> tuple[list[Variable], dict[str, TierTable], str]:
    """A variable and a tier table per value column; what the tiers are called."""
    ok = t.rows
    region, province, names = (_unit_column(t, c) for c in ("region", "province", "name"))
    variables, tier_tables = [], {}
    method = study.tiers
    for col in t.value_cols:
        series = pd.Series(
            latest[col].to_numpy(float), index=pd.Index(latest["adcode"], name="adcode"), name=col
        )
        years = ok[year_col] if year_col else None
        per_year = ok.groupby(years)[col].nunique() if year_col else None
        distinct = per_year.min() if per_year is not None else ok[col].nunique()
        k = int(min(study.k, distinct))
        if k < 2:
            where = f" in {year_col} {per_year.idxmin()}" if per_year is not None else ""
            raise InputError(
                f"value_col={col!r} has a single distinct value{where}; tiers and spatial "
                "statistics need variation (drop that column" + (" or year)." if where else ").")
            )
        variables.append(
            Variable(keys[col], col, series, study.weights or "queen", variable=col,
                     high_means=f"{col} as given: higher values are read as stronger")
        )  # fmt: skip
        table = tiers.from_scores(ok["adcode"], ok[col], years=years, method=method, k=k)
        for column, values in (("region", region), ("province", province), ("name", names)):
            if values is not None:
                table[column] = values.reindex(table["adcode"]).to_numpy()
        tier_tables[keys[col]] = TierTable(
            table, f"{method}, k={k}" + (" per year" if year_col else ""),
            year_col="year" if year_col else None,
        )  # fmt: skip
    return variables, tier_tables, f"class ({method}; 1 = highest)"


def _bivariate_keys(study: Study, t: UserTable, keys: dict[str, str]) -> list[tuple[str, str]]:
    """The study's bivariate pairs as variable keys (a column's source name works too)."""
    pairs = []
    by_source = t.source_of()
    for first_col, second_col in study.bivariate:
        a, b = by_source.get(first_col, first_col), by_source.get(second_col, second_col)
        unknown = [c for c in (a, b) if c not in keys]
        if unknown:
            raise InputError(
                f"bivariate names {listing(unknown)}, which are not value columns "
                f"({listing(t.value_cols)}); pair two of those."
            )
        pairs.append((keys[a], keys[b]))
    return pairs


def _input_summary(t: UserTable, path: Path | str, latest: pd.DataFrame) -> dict[str, Any]:
    about = {"file": str(path), "encoding": t.raw.attrs.get("encoding"), "rows": len(t.raw),
             "value_cols": t.value_cols, "year_col": t.year_col, "level": t.level,
             "level_reason": t.level_reason, "units": len(latest),
             "transform": t.raw.attrs.get("geotool_steps", [])}  # fmt: skip
    return {"input": about, "match": t.report["match_status"].value_counts().to_dict(),
            "match_methods": t.rows["match_method"].value_counts().to_dict()}  # fmt: skip


def _require_units(ok: pd.DataFrame, latest: pd.DataFrame, year_col: str | None) -> None:
    """Refuse too few units for the statistics: in the latest year, and in every year."""
    need = 4  # the variances of Moran's I and Geary's C are undefined below
    if len(latest) < need:
        when = f" in the latest year ({int(latest[year_col].iloc[0])})" if year_col else ""
        raise InputError(
            f"The table has {len(latest)} matched unit(s){when}; spatial statistics need at "
            f"least {need}: add units (include those that scored 0)."
        )
    if year_col:
        years = ok.groupby("adcode")[year_col].nunique()
        full = int((years == ok[year_col].nunique()).sum())
        if full < need:
            raise InputError(
                f"Only {full} of {len(years)} units have a row in every year of "
                f"year_col={year_col!r}; the panel analyses need at least {need}: fill in the "
                "missing years, or keep one year."
            )


def _unit_column(t: UserTable, column: str) -> pd.Series | None:
    """A column of the units' attributes (region, province), by id, when known."""
    if t.units is None:
        return boundaries.units()[column]
    return t.units[column] if column in t.units.columns else None


def _weights(t: UserTable, ids: pd.Index, spec: str) -> Any:
    """Weights between these units: from their polygons (named), or bundled codes."""
    from geotool.weights import build

    return build(ids, spec) if t.units is None else build(t.units.loc[ids], spec, labels="name")


def _transformed(
    t: UserTable, *, transform: str | None, per: str | None, smooth: str | None, scale: float,
    weights: str,
) -> UserTable:  # fmt: skip
    """The table with its value columns replaced by their rates / transforms, per year.

    Each year is transformed on its own (a z-score or an EB reference rate is a
    cross-section's); the new columns are named by their labels ("log(GDP／人口)").
    """
    from geotool import transform as tf

    rows = t.rows
    years = [None] if not t.year_col else sorted(rows[t.year_col].unique())
    parts, labels, steps = [], {}, []
    for year in years:
        part = (rows if year is None else rows[rows[t.year_col] == year]).set_index("adcode")
        w = _weights(t, part.index, weights) if smooth == "spatial_eb" else None
        out = tf.apply(
            part, t.value_cols, transform=transform, per=per, smooth=smooth, w=w, scale=scale
        )
        labels, steps = out.attrs["labels"], out.attrs["steps"]
        keep = part.drop(columns=t.value_cols).reindex(out.index)
        parts.append(out.join(keep).reset_index(names="adcode"))
    new = pd.concat(parts, ignore_index=True)
    raw = t.raw.copy()
    raw.attrs["geotool_steps"] = list(steps)
    log("variables: " + "; ".join(f"{a} -> {b}" for a, b in labels.items()))
    return replace(t, rows=new, raw=raw, value_cols=[labels[c] for c in t.value_cols],
                   sources=list(t.value_cols))  # fmt: skip


#: Groups that come from China's bundled codes (a column of the table otherwise).
CHINA_GROUPS = ("region", "province", "cluster")

#: The column a composite index is written to (``composite_index`` if the table has one).
INDEX_COLUMN = "index"


def _indexed(t: UserTable, study: Study) -> UserTable:
    """The table with its indicators combined into one composite index (the variable).

    The weights are estimated on every row at once (all years of a panel), so scores of
    different years are on one scale; ranks are within each year. The index's weights,
    scores and sensitivity go to the table's ``composite``.
    """
    from geotool import composite

    column = INDEX_COLUMN if INDEX_COLUMN not in t.raw.columns else "composite_index"
    inverse = t.source_of()  # the file's column -> the value column it became
    options: dict[str, Any] = {
        "direction": {inverse[k]: v for k, v in study.direction.items()},
        "dimensions": {d: [inverse[c] for c in cols] for d, cols in study.dimensions.items()}
        or None,
        "normalise": study.normalise, "aggregate": study.aggregate,
        "ahp": _ahp_matrix(study.ahp),
    }  # fmt: skip
    rows = t.rows.reset_index(drop=True)
    built = composite.build(rows, t.value_cols, method=study.index_method, **options)
    scores = built.scores
    if t.year_col:
        scores["rank"] = scores.groupby(rows[t.year_col])["score"].transform(composite.rank)
    methods = [m for m in composite.METHODS if m != "ahp" or options["ahp"] is not None]
    spread = composite.sensitivity(rows, t.value_cols, methods=methods, k=study.k, **options)
    new = rows.drop(columns=t.value_cols).assign(**{column: scores["score"]})
    about = {"result": built, "sensitivity": spread, "indicators": rows[t.value_cols]}
    log(f"composite index ({study.index_method}) of {listing(t.value_cols, 10)}")
    return replace(t, rows=new, value_cols=[column], sources=[column], composite=about)


def _ahp_matrix(ahp: Any) -> Any:
    """A pairwise matrix as given, or read from a CSV (fractions such as 1/3 allowed).

    The CSV's first row names the items weighed; a first column may name them too.
    """
    if not isinstance(ahp, Path):
        return ahp
    if not ahp.is_file() or ahp.stat().st_size > 1 << 16:
        msg = f"ahp={short(str(ahp))} is not a file of at most 64 KiB; pass the matrix's CSV."
        raise InputError(msg)
    try:
        text = ahp.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        text = ahp.read_bytes().decode("gb18030", errors="replace")
    cells = [[c.strip() for c in line.split(",")] for line in text.splitlines() if line.strip()]
    header, body = cells[0] if cells else [], cells[1:]
    if body and len(header) == len(body) + 1 and all(len(r) == len(header) for r in body):
        body, header = [r[1:] for r in body], header[1:]  # a first column of labels
    try:
        values = [[_judgement(c) for c in row] for row in body]
    except (ValueError, ZeroDivisionError):
        raise InputError(
            f"ahp={short(ahp.name)}: every judgement must be a number or a fraction such as "
            "1/3 (a header row names the items); fix the cells that are not."
        ) from None
    return pd.DataFrame(values, index=header[: len(values)], columns=header or None)


#: An AHP judgement as typed: a positive decimal, or a fraction of two (1/3, 1/2.5).
_JUDGEMENT = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9})?(?:/[0-9]{1,9}(?:\.[0-9]{1,9})?)?")


def _judgement(cell: str) -> float:
    """One AHP cell's value: ``ValueError`` unless :data:`_JUDGEMENT`, x/0 ``ZeroDivisionError``.

    Not ``Fraction``: an exact 1e999999999 takes hours.
    """
    if not _JUDGEMENT.fullmatch(cell):
        raise ValueError(cell)
    num, _, den = cell.partition("/")
    return float(num) / float(den or 1)


def _dynamics(
    t: UserTable, keys: dict[str, str], study: Study, write: Any, *, seed: int, permutations: int
) -> dict[str, Any]:
    """Every panel analysis of each variable (:func:`geotool.dynamics.analyse`), written.

    The pipeline's ``dynamics`` stage (``extra``) of a panel.
    """
    from geotool import dynamics

    weights, k = study.weights or "queen", study.markov_k
    log(f"panel dynamics of {len(t.value_cols)} variable(s) ...")
    out: dict[str, Any] = {}
    labels = _labels(t, study)
    for col in t.value_cols:
        key = keys[col]
        # the sentences and tables name the variable by her label (--label, --per's rate)
        label = labels.get(col, col)
        label = col if label in ("adcode", t.year_col) else label
        rows = t.rows[["adcode", t.year_col, col]].rename(columns={col: label})
        p = dynamics.panel(rows, id_col="adcode", year_col=t.year_col, value_col=label)
        w = _weights(t, pd.Index(p.wide.index), weights)
        # no more quantile classes than a year has distinct values (a 4-unit panel: 4)
        classes = int(min(k, p.wide.nunique().min()))
        res = dynamics.analyse(p, w, k=max(classes, 2), permutations=permutations, seed=seed)

        tables = dynamics.report_tables(res)  # one long table per kind of result
        for name, frame in tables.items():
            write(f"tables/dynamics_{name}_{key}.csv", to_csv_bytes(frame))
        if len(res["dropped"]):
            write(f"tables/dynamics_dropped_{key}.csv", to_csv_bytes(res["dropped"].reset_index()))
        by_year = res["moran_by_year"]
        moran = {int(r.year): {"value": float(r.moran_i), "p_sim": float(r.p_sim),
                               "expected": float(r.expected)}
                 for r in by_year.itertuples()}  # fmt: skip
        out[key] = {
            "label": label, "years": [int(y) for y in p.years], "units": len(p.wide),
            "dropped": len(res["dropped"]), "moran_by_year": moran,
            "permutations": int(by_year["permutations"].iloc[0]),
            "spatial_markov_tests": res["spatial_markov"]["tests"].to_dict(orient="records"),
            "tests": tables["tests"].to_dict(orient="records"),
            "transitions": {c: tables[c].to_dict(orient="records")
                            for c in ("markov", "spatial_markov", "lisa_markov")},
            "k": int(res["spatial_markov"]["k"]), "sentences": res["sentences"],
        }  # fmt: skip
    return {"dynamics": out}
