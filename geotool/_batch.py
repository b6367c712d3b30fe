"""The engine of :mod:`geotool.batch` (tasks, seeds, failures and limits: see there)."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from geotool import _scheduler, settings
from geotool import _validate as check
from geotool._atomic import write_atomic
from geotool._csv import to_csv_bytes
from geotool._errors import InputError
from geotool._log import log
from geotool._outdir import OutputFolder
from geotool._text import short

if TYPE_CHECKING:
    import geopandas as gpd
    from distributed import Client

    from geotool.weights import Weights

__all__ = [
    "GLOBAL", "LOCAL", "MAX_OUTPUT_GB", "MAX_TASKS", "STATISTICS", "Estimate", "Options",
    "Task", "cluster", "contiguity", "estimate", "execute", "task_seed", "tasks",
]  # fmt: skip

#: Global statistics a task can compute, and their row in :func:`geotool.autocorr.global_stats`.
GLOBAL = {"moran": "moran_i", "geary": "geary_c", "getis_ord_g": "getis_ord_g"}
#: Local statistics: a table per task (``local/<key>.csv``) and class counts in the row.
LOCAL = ("lisa", "gi_star")
#: Every statistic name :func:`execute` accepts.
STATISTICS = (*GLOBAL, *LOCAL)
#: The most tasks one batch may have: 50,000 keep two CPUs busy for about half an hour.
MAX_TASKS = 50_000
#: The largest estimated output of one batch, in GB of 10**9 bytes (``max_output_gb``).
MAX_OUTPUT_GB = 2.0
#: Bytes of a row of a local table (measured on the county layer) and of batch.csv.
_LOCAL_ROW_BYTES = {"lisa": 140, "gi_star": 170}
_ROW_BYTES = 300

#: Columns of the table :func:`execute` returns, in order.
COLUMNS = [
    "key", "variable", "year", "weights", "statistic", "status", "n", "value", "expected",
    "z_norm", "p_norm", "z_rand", "p_rand", "p_sim", "high_high", "low_low", "low_high",
    "high_low", "significant", "permutations", "seed", "local_file", "error", "seconds",
]  # fmt: skip
_CLASSES = {"High-High": "high_high", "Low-Low": "low_low", "Low-High": "low_high",
            "High-Low": "high_low"}  # fmt: skip
_COUNTS = ["n", *_CLASSES.values(), "significant"]


@dataclass(frozen=True)
class Task:
    """One analysis of a batch: a statistic of one variable, one year, one weights spec."""

    variable: str
    year: int | None
    weights: str
    statistic: str

    @property
    def key(self) -> str:
        """``variable|year|weights|statistic`` (``-`` for no year): unique in a batch."""
        year = "-" if self.year is None else str(self.year)
        return f"{self.variable}|{year}|{self.weights}|{self.statistic}"


def task_seed(seed: int, key: str) -> int:
    """The seed (0 to 2**32 - 1) of task ``key`` of a batch seeded ``seed`` (SeedSequence).

    >>> task_seed(12345, "gdp|2020|queen|moran") == task_seed(12345, "gdp|2020|queen|moran")
    True
    >>> task_seed(12345, "gdp|2020|queen|moran") != task_seed(12345, "gdp|2021|queen|moran")
    True
    """
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    sequence = np.random.SeedSequence(check.seed(seed), spawn_key=tuple(words))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def tasks(variables: Sequence[str], years: Sequence[int | None], weights: Sequence[str],
          statistics: Sequence[str]) -> list[Task]:  # fmt: skip
    """Every combination, variables outermost (the order of the returned table)."""
    combos = itertools.product(variables, years, weights, statistics)
    return [Task(str(v), y, str(w), str(s)) for v, y, w, s in combos]


def _row(task: Task, n: int, permutations: int, seed: int, **more: Any) -> dict[str, Any]:
    return {"key": task.key, **asdict(task), "n": n, "permutations": permutations, "seed": seed,
            **more}  # fmt: skip


def _global_task(task: Task, values: pd.Series, w: Weights, row: dict[str, Any]) -> None:
    from geotool import autocorr

    perms, seed = row["permutations"], row["seed"]
    table = autocorr.global_stats(values, w, permutations=perms, seed=seed)
    hit = table[table["statistic"] == GLOBAL[task.statistic]]
    if hit.empty:
        raise InputError(f"{task.statistic} is not defined for {task.variable} (negative values?).")
    got = hit.iloc[0]
    for col in ("value", "expected", "z_norm", "p_norm", "z_rand", "p_rand", "p_sim"):
        row[col] = float(got[col])
    row["n"] = int(got["n"])


def _local_task(
    task: Task, values: pd.Series, w: Weights, row: dict[str, Any], alpha: float
) -> pd.DataFrame:
    from geotool import autocorr

    gi = task.statistic == "gi_star"
    local = autocorr.local_stats(
        values, w, permutations=row["permutations"], seed=row["seed"], alpha=alpha, gi_star=gi
    )
    if gi:
        local = local.drop(columns=["Ii", "p_sim", "significant", "lisa_class"])
        sig = local["gi_star_significant"].to_numpy(bool)
        hot = sig & (local["gi_star_z"].to_numpy() > 0)
        row["high_high"], row["low_low"] = int(hot.sum()), int((sig & ~hot).sum())
        row["significant"] = int(sig.sum())
    else:
        counts = local["lisa_class"].value_counts()
        for name, col in _CLASSES.items():
            row[col] = int(counts.get(name, 0))
        row["significant"] = int(local["significant"].sum())
    row["n"] = len(local)
    return local


def _run_task(
    task: Task, values: pd.Series, w: Weights, *, permutations: int, seed: int, alpha: float
) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """One task, on a worker or here: its row, and its local table if any.

    Never raises (except for interruptions): an error becomes the row's ``error``.
    """
    start = time.perf_counter()
    row = _row(task, len(values), permutations, seed)
    local = None
    try:
        if task.statistic in GLOBAL:
            _global_task(task, values, w, row)
        else:
            local = _local_task(task, values, w, row, alpha)
        row["status"] = "ok"
    except Exception as exc:  # a task's failure is reported in its row, never raised
        row["status"], row["error"] = "failed", f"{type(exc).__name__}: {exc}"
    row["seconds"] = round(time.perf_counter() - start, 4)
    return row, local


def _normalise_geo(geo: gpd.GeoDataFrame | str) -> tuple[gpd.GeoDataFrame, str | None]:
    """The geometry (a bundled level or the user's), and the bundled level (or None)."""
    import geopandas as gpd

    from geotool import boundaries
    from geotool.geofile import to_id

    if isinstance(geo, str):
        if geo not in boundaries.LEVELS:
            levels = "'county', 'prefecture' or 'province'"
            raise InputError(f"geo must be a GeoDataFrame or {levels}, got {geo[:40]!r}.")
        return boundaries.load(geo), geo  # type: ignore[arg-type]
    if not isinstance(geo, gpd.GeoDataFrame):
        msg = f"geo must be a GeoDataFrame or a bundled level name, got {type(geo).__name__}."
        raise InputError(msg)
    index = pd.Index(geo.index.map(to_id), dtype=object)  # 110000.0 is 110000
    if index.hasnans or index.has_duplicates:
        msg = "geo's index must identify units uniquely (it holds duplicates or blanks)."
        raise InputError(msg)
    return geo.set_axis(index.astype(str)), None


def _without_totals(table: pd.DataFrame, id_col: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The table without its blank, total and note rows (合计, 注：…), and those rows.

    They are no units: said, and written to ``set_aside.csv`` in the output. (A missing
    ``id_col`` is left for the plan to name.)
    """
    from geotool.match import is_total_row

    if id_col not in table.columns:
        return table, table.iloc[:0]
    cells = table[id_col]
    blank = cells.map(lambda v: pd.isna(v) or (isinstance(v, str) and not v.strip()))
    total = cells.map(is_total_row)
    aside = (blank | total).to_numpy()
    if aside.any():
        rows = ", ".join(str(r) for r in table.index[aside][:3])
        more = f" ... ({int(aside.sum()):,} in all)" if aside.sum() > 3 else ""
        log(f"batch: {int(aside.sum())} blank, total or note row(s) set aside (rows {rows}{more}"
            "; listed in set_aside.csv)")  # fmt: skip
    return table[~aside], table[aside]


def _resolve_ids(
    ids: pd.Series, geo: gpd.GeoDataFrame, level: str | None,
    context: pd.DataFrame | None = None, report: Path | str | None = None,
) -> pd.Series:  # fmt: skip
    """Each row's unit in ``geo``: by code, by a name unique in the layer, by resolve().

    At a bundled ``level``, :func:`geotool.match.resolve` finds short, old or typo'd names,
    with the province and prefecture columns of ``context`` (the table) where it has them
    (鼓楼区 of 南京市, not of 福州市). Rows left without a unit are refused, and written with
    their reasons to ``report``'s ``.match_report.csv`` when an output is given.
    """
    from geotool.geofile import to_id
    from geotool.match import resolve

    labels, ids = ids.index, ids.reset_index(drop=True)  # by position: an index may repeat
    codes, distinct = pd.factorize(ids)  # a panel repeats its units: each is read once
    read = pd.Series([*map(to_id, distinct), None], dtype="string")
    text = read.iloc[codes].reset_index(drop=True)  # code -1 (missing) takes the last: None
    out = text.where(text.isin(geo.index))
    name_col = next((c for c in ("name", "prefecture", "province") if c in geo.columns), None)
    if name_col is not None:
        names = geo[name_col].astype(str)
        unique = names[~names.duplicated(keep=False)]
        out = out.fillna(text.map(pd.Series(unique.index, index=unique.to_numpy())))
    missing = out.isna() & text.notna()
    why = pd.Series("no such code or name", index=out.index, dtype=object)
    why[text.isna()] = "no code or name"
    if missing.any() and level is not None:  # short names, old names, typos: as run does
        left = _with_context(text[missing].astype(str), context, str(ids.name))
        found = resolve(left, name_col="unit", level=level)
        ok = (found["match_status"] == "matched") & found["adcode"].isin(geo.index)
        out.loc[found.index[ok]] = found.loc[ok, "adcode"].astype(str)
        why.loc[found.index] = (found["match_status"].astype(str) + ": " + found["match_note"]
                                .fillna("").astype(str) + " " + found["match_candidates"]
                                .fillna("").astype(str)).str.strip(" :")  # fmt: skip
        if ok.any():
            log(
                f"batch: {int(ok.sum())} rows resolved through geotool.match at the {level} "
                f"level (e.g. {left['unit'][ok].iloc[0]} -> {found['adcode'][ok].iloc[0]})"
            )
    bad = out.isna()
    if bad.any():
        first = [str(v) if pd.notna(v) else "(blank)" for v in pd.unique(ids[bad])[:5]]
        where = f"the bundled {level} layer" if level is not None else "geo"
        written = _refused_rows(ids, labels, bad, why, report)
        raise InputError(
            f"{int(bad.sum())} rows of the table have no unit of {where} (first: "
            f"{', '.join(first)}; {written}); give their codes, or their province and "
            "prefecture columns (`geotool match` shows how each row resolves), or leave "
            "those rows out."
        )
    return out.set_axis(labels).astype(str)


def _with_context(units: pd.Series, context: pd.DataFrame | None, id_col: str) -> pd.DataFrame:
    """The names to resolve, beside the table's province and prefecture columns (by row).

    Those columns are the ones :func:`geotool.match.detect_columns` finds beside ``id_col``.
    """
    from geotool.match import MatchError, detect_columns

    left = pd.DataFrame({"unit": units})
    if context is None:
        return left
    try:
        found = detect_columns(context, name_col=id_col)
    except MatchError:  # no usable context: the names alone
        return left
    rows = context.reset_index(drop=True).loc[units.index]
    for role in ("province", "prefecture"):
        if found[role] is not None:
            left[role] = rows[found[role]].astype(object).to_numpy()
    return left


def _refused_rows(ids: pd.Series, labels: pd.Index, bad: pd.Series, why: pd.Series,
                  report: Path | str | None) -> str:  # fmt: skip
    """Write the refused rows and why (beside the output); say where, or why nowhere."""
    if report is None:
        return "geotool.match.resolve lists each row's candidates"
    path = Path(str(report).rstrip("/") + ".match_report.csv")
    frame = pd.DataFrame({"row": labels[bad.to_numpy()], "key": ids[bad].to_numpy(),
                          "reason": why[bad].to_numpy()})  # fmt: skip
    write_atomic(path, to_csv_bytes(frame, index=False))
    return f"every one, and why, in {path}"


def _check_names(statistics: Sequence[str], weights: Sequence[str | Weights]) -> None:
    from geotool.weights import parse_spec

    unknown = [s for s in statistics if s not in STATISTICS]
    if unknown or not statistics:
        raise InputError(
            f"statistics must name some of {', '.join(STATISTICS)}; got "
            f"{', '.join(map(str, unknown)) or 'none'}."
        )
    _once(statistics, "statistics")
    if not weights:
        raise InputError("weights must name at least one spec (e.g. 'queen').")
    names = [_spec_name(w) for w in weights]
    if len(set(names)) < len(names):
        raise InputError(f"weights must have distinct names (their spec); got {', '.join(names)}.")
    for spec in weights:
        if isinstance(spec, str):
            parse_spec(spec)


def _once(names: Sequence[object], what: str) -> None:
    """Refuse a list that names something twice (its tasks would repeat, keys collide)."""
    seen = pd.Index([str(n) for n in names])
    if seen.has_duplicates:
        twice = short(str(seen[seen.duplicated()][0]), 40)
        raise InputError(f"{what}= names {twice} twice; name each once.")


def _spec_name(w: str | Weights) -> str:
    """A weights spec's name in task keys: the spec, or a prebuilt Weights' ``spec``."""
    return w if isinstance(w, str) else str(w.spec)


def _variables(table: pd.DataFrame, keys: list[str], variables: Sequence[str] | None) -> list[str]:
    """The variables of the batch: those given, else the columns mostly of numbers."""
    if variables is None:
        variables = []
        for col in table.columns.drop(keys):
            given = int(table[col].notna().sum())
            numbers = int(pd.to_numeric(table[col], errors="coerce").notna().sum())
            if numbers and numbers >= given / 2:
                variables.append(str(col))
    variables = [str(v) for v in variables]
    _once(variables, "variables")
    absent = [v for v in variables if v not in table.columns]
    if absent or not variables:
        raise InputError(
            "variables must name numeric columns of table; "
            f"{'not columns: ' + ', '.join(absent[:5]) if absent else 'none found'}."
        )
    return variables


def _panel(
    table: pd.DataFrame, id_col: str, year_col: str | None, variables: Sequence[str] | None,
    years: Sequence[int] | None,
) -> tuple[list[str], list[int | None]]:  # fmt: skip
    """The variables and years of the batch, checked against the table."""
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"table must be a pandas DataFrame, got {type(table).__name__}.")
    for name, col in (("id_col", id_col), ("year_col", year_col)):
        if col is not None and col not in table.columns:
            have = ", ".join(map(str, table.columns[:8]))
            raise InputError(f"{name}={col!r} is not a column of table (it has {have} ...).")
    names = _variables(table, [c for c in (id_col, year_col) if c is not None], variables)
    if year_col is None:
        if years is not None:
            raise InputError("years needs year_col (the table's year column).")
        return names, [None]
    year = pd.to_numeric(table[year_col], errors="coerce")
    if year.isna().any() or not bool((year == year.round()).all()):
        first = table.loc[year.isna() | (year != year.round()), year_col].iloc[0]
        raise InputError(
            f"year_col={year_col!r} must hold whole years in every row (found {first!r})."
        )
    present = sorted(int(y) for y in year.unique())
    chosen = present if years is None else [int(y) for y in years]
    _once(chosen, "years")
    lacking = sorted(set(chosen) - set(present))
    if lacking:
        raise InputError(
            f"years {lacking[:5]} are not in table's {year_col!r} column (it has {present[:8]})."
        )
    return names, list(chosen)


@dataclass(frozen=True)
class Estimate:
    """The size of a batch before it runs (``output_bytes``: batch.csv and local tables)."""

    variables: int
    years: int
    weights: int
    statistics: int
    units: int
    permutations: int
    local_tables: int
    output_bytes: int

    @property
    def tasks(self) -> int:
        """Every task: variables x years x weights x statistics."""
        return self.variables * self.years * self.weights * self.statistics

    def describe(self) -> str:
        """One line: the tasks, their factors, the units, the output."""
        factors = " x ".join(
            f"{n:,} {word}{'s' if n != 1 else ''}"
            for n, word in ((self.variables, "variable"), (self.years, "year"),
                            (self.weights, "weights spec"), (self.statistics, "statistic"))
        )  # fmt: skip
        size = next(
            f"{self.output_bytes / scale:.3g} {unit}"
            for scale, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1, "bytes"))
            if self.output_bytes >= scale or unit == "bytes"
        )
        return (
            f"{self.tasks:,} tasks ({factors}) on up to {self.units:,} units with "
            f"{self.permutations:,} permutations; about {size} to write "
            f"({self.local_tables:,} local tables)"
        )

    def check(self, *, max_tasks: int = MAX_TASKS, max_output_gb: float = MAX_OUTPUT_GB) -> None:
        """Refuse (:class:`InputError`) a batch over ``max_tasks`` or ``max_output_gb`` GB."""
        if isinstance(max_tasks, bool) or not isinstance(max_tasks, int) or max_tasks < 1:
            raise InputError(f"max_tasks={max_tasks!r}: give a whole number of tasks, 1 or more.")
        limit = float(max_output_gb) if isinstance(max_output_gb, int | float) else math.nan
        if isinstance(max_output_gb, bool) or not (math.isfinite(limit) and limit > 0):
            raise InputError(f"max_output_gb={max_output_gb!r}: give a positive number of GB.")
        narrow = (
            "narrow it with variables= (or years=, weights=), or fewer statistics= (moran, "
            "geary and getis_ord_g write no per-unit table)"
        )
        over = f"A batch of {self.describe()} is more than the limit of"
        if self.tasks > max_tasks:
            raise InputError(f"{over} {max_tasks:,} tasks; {narrow}, or raise max_tasks=.")
        if self.output_bytes > limit * 1e9:
            raise InputError(f"{over} {limit:g} GB; {narrow}, or raise max_output_gb=.")


@dataclass(frozen=True, kw_only=True)
class Options:
    """A batch's choices besides its table and layer: :func:`geotool.batch.run`'s others."""

    id_col: str = "adcode"
    year_col: str | None = None
    variables: Sequence[str] | None = None
    years: Sequence[int] | None = None
    weights: Sequence[str | Weights] = ("queen",)
    statistics: Sequence[str] = ("moran", "lisa")
    permutations: int | None = None
    seed: int | None = None
    alpha: float = 0.05
    islands: str = "nearest"
    client: Client | None = None
    out: Path | str | None = None
    inputs: Sequence[Path | str] = ()
    max_tasks: int = MAX_TASKS
    max_output_gb: float = MAX_OUTPUT_GB


@dataclass
class _Plan:
    """A batch's checked arguments: its variables, years, layer and size."""

    variables: list[str]
    years: list[int | None]
    layer: gpd.GeoDataFrame
    level: str | None
    size: Estimate


def _plan(table: pd.DataFrame, geo: gpd.GeoDataFrame | str, o: Options) -> _Plan:
    """Check the arguments of :func:`estimate` and :func:`execute` and estimate the batch."""
    statistics = list(o.statistics)
    _check_names(statistics, list(o.weights))
    names, chosen = _panel(table, o.id_col, o.year_col, o.variables, o.years)
    layer, level = _normalise_geo(geo)
    perms = settings.permutations if o.permutations is None else o.permutations
    perms = check.permutations(perms, n_units=len(layer))
    rows = len(table)
    if o.year_col is not None and rows:
        rows = int(table[o.year_col].value_counts().max())
    units = min(rows, len(layer))
    local = [s for s in statistics if s in LOCAL]
    specs = len(names) * len(chosen) * len(o.weights)
    per_table = sum(_LOCAL_ROW_BYTES[s] for s in local) * units
    written = (specs * len(statistics) + 1) * _ROW_BYTES + specs * per_table
    size = Estimate(len(names), len(chosen), len(o.weights), len(statistics), units, perms,
                    specs * len(local), written)  # fmt: skip
    return _Plan(names, chosen, layer, level, size)


def estimate(
    table: pd.DataFrame, geo: gpd.GeoDataFrame | str = "county", options: Options | None = None,
    **given: Any,
) -> Estimate:  # fmt: skip
    """The size of the batch :func:`execute` would run, before any work.

    ``options`` (or ``given``, the fields of :class:`Options`) as :func:`geotool.batch.run`'s;
    ``.check()`` of the result refuses it over the limits, as :func:`execute` does.
    """
    return _plan(table, geo, replace(options or Options(), **given)).size


def execute(table: pd.DataFrame, geo: gpd.GeoDataFrame | str, o: Options) -> pd.DataFrame:
    """Every task of a batch, serially or on ``o.client``; :func:`geotool.batch.run`'s engine."""
    alpha = check.alpha(o.alpha)
    seed = check.seed(settings.seed if o.seed is None else o.seed)
    table, aside = _without_totals(table, o.id_col)
    plan = _plan(table, geo, o)
    plan.size.check(max_tasks=o.max_tasks, max_output_gb=o.max_output_gb)
    log(f"batch: {plan.size.describe()}")
    units = _resolve_ids(table[o.id_col], plan.layer, plan.level, table, o.out)
    year = pd.to_numeric(table[o.year_col]).astype("Int64") if o.year_col else None
    _refuse_repeats(table[o.id_col], units, year)
    values, left_out = _values(table, plan, units, year, o.out is not None)
    names = [_spec_name(w) for w in o.weights]
    all_tasks = tasks(plan.variables, plan.years, names, list(o.statistics))
    batch = _Batch(values, plan.size.permutations, seed, alpha)
    batch.build(plan, list(o.weights), o.islands)
    with contextlib.ExitStack() as stack:
        if o.out is not None:
            folder = OutputFolder(o.out, inputs=o.inputs, owner="geotool batch")
            batch.folder = stack.enter_context(folder)
        result = pd.DataFrame(batch.execute(all_tasks, o.client), columns=COLUMNS)
        result = result.astype(dict.fromkeys(["year", *_COUNTS], "Int64"))
        result.attrs["left_out"], result.attrs["set_aside"] = left_out, aside
        if batch.folder is not None:
            batch.folder.write("batch.csv", to_csv_bytes(result, index=False))
            if len(aside):
                batch.folder.write("set_aside.csv", to_csv_bytes(aside, index_label="row"))
            if len(left_out):
                batch.folder.write("left_out.csv", to_csv_bytes(left_out, index=False))
    failed = result[result["status"] == "failed"]
    if len(failed):
        first = f"{failed['key'].iloc[0]}: {failed['error'].iloc[0]}"
        log(f"batch: {len(failed)} of {len(result)} tasks failed (first: {first})", logging.WARNING)
    return result


def _refuse_repeats(ids: pd.Series, units: pd.Series, year: pd.Series | None) -> None:
    """Refuse a table with two rows for one unit (and year)."""
    keys = {"unit": units.to_numpy()} | ({} if year is None else {"y": year.to_numpy()})
    dup = pd.DataFrame(keys).duplicated().to_numpy()
    if dup.any():
        what = "unit" if year is None else "unit and year"
        raise InputError(
            f"table has {int(dup.sum())} rows repeating a {what} (first: {ids[dup].iloc[0]}); "
            "keep one each."
        )


def _left_out(
    table: pd.DataFrame, var: str, units: pd.Series, year: pd.Series | None
) -> tuple[pd.Series, pd.DataFrame]:
    """The cells of ``var`` that are no finite number (row, unit, year, value, reason)."""
    column = pd.to_numeric(table[var], errors="coerce")
    text = column.isna() & table[var].notna()
    if text.any():
        log(
            f"batch: {int(text.sum())} cells of {var} are not numbers (first: "
            f"{str(table.loc[text, var].iloc[0])[:40]!r}); their units are left out of its tasks",
            logging.WARNING,
        )
    unusable = ~np.isfinite(column.to_numpy(float))
    raw = table[var][unusable]
    reason = np.where(column[unusable].isna(), "not a number", "not finite")
    return column, pd.DataFrame({
        "row": table.index[unusable], "unit": units.to_numpy()[unusable],
        "year": year[unusable].to_numpy() if year is not None else pd.NA, "variable": var,
        "value": raw.astype(str).where(raw.notna(), ""),
        "reason": np.where(raw.isna(), "blank", reason),
    })  # fmt: skip


def _values(
    table: pd.DataFrame, plan: _Plan, units: pd.Series, year: pd.Series | None, to_file: bool
) -> tuple[dict[tuple[str, int | None], pd.Series], pd.DataFrame]:
    """Each task's values (by variable and year), and the cells left out (logged)."""
    values: dict[tuple[str, int | None], pd.Series] = {}
    left = []
    for var in plan.variables:
        column, unusable = _left_out(table, var, units, year)
        if len(unusable):
            left.append(unusable)
        for yr in plan.years:
            rows = np.ones(len(table), bool) if year is None else np.asarray(year == yr, bool)
            series = pd.Series(column.to_numpy(float)[rows], index=units.to_numpy()[rows], name=var)
            values[var, yr] = series[np.isfinite(series.to_numpy())].sort_index()
    columns = ["row", "unit", "year", "variable", "value", "reason"]
    left_out = pd.concat(left, ignore_index=True) if left else pd.DataFrame(columns=columns)
    if len(left_out):
        first = left_out.iloc[0]
        kinds = ", ".join(f"{n} {r}" for r, n in left_out["reason"].value_counts().items())
        when = f" {first['year']}" if year is not None else ""
        where = "listed in left_out.csv" if to_file else "see result.attrs['left_out']"
        log(
            f"batch: {len(left_out)} cells left out of their tasks ({kinds}; first: "
            f"{first['unit']} {first['variable']}{when}); {where}",
            logging.WARNING,
        )
    return values, left_out


@dataclass
class _Batch:
    """The tasks' values and weights, run here or on a cluster, their rows collected."""

    values: dict[tuple[str, int | None], pd.Series]
    permutations: int
    seed: int
    alpha: float
    folder: OutputFolder | None = None
    universes: dict[tuple[str, ...], int] = field(default_factory=dict)
    built: dict[tuple[str, int], Any] = field(default_factory=dict)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: _Progress = field(init=False)

    def build(self, plan: _Plan, weights: list[str | Weights], islands: str) -> None:
        """The weights of each spec for each set of units with values (3 or more)."""
        from geotool import weights as weights_mod

        t0 = time.perf_counter()
        for series in self.values.values():
            self.universes.setdefault(tuple(series.index), len(self.universes))
        for ids, u in self.universes.items():
            if len(ids) < 3:
                continue  # tasks on fewer than three units fail in their own rows
            county = plan.level == "county"
            units = pd.Index(ids, name="adcode") if county else plan.layer.loc[list(ids)]
            for spec in weights:
                if isinstance(spec, str):
                    self.built[spec, u] = weights_mod.build(units, spec, islands=islands)
                else:  # prebuilt weights serve as they are
                    self.built[_spec_name(spec), u] = spec
        log(
            f"batch: {plan.size.tasks} tasks, {len(self.built)} weights built "
            f"({len(self.universes)} unit sets) in {time.perf_counter() - t0:.1f} s"
        )

    def failed(self, task: Task, error: str) -> dict[str, Any]:
        n = len(self.values[task.variable, task.year])
        seed = task_seed(self.seed, task.key)
        return _row(task, n, self.permutations, seed, status="failed", seconds=0.0, error=error)

    def collect(self, task: Task, row: dict[str, Any], local: pd.DataFrame | None) -> None:
        if local is not None and self.folder is not None:
            name = "local/" + check.safe_filename(task.key.replace("|", "_")) + ".csv"
            self.folder.write(name, to_csv_bytes(local, index_label=local.index.name or "id"))
            row["local_file"] = name
        self.rows[task.key] = row
        self.progress(row["status"] == "failed")

    def runnable(
        self, all_tasks: list[Task], lookup: dict[tuple[str, int], Any]
    ) -> Iterator[tuple[Task, pd.Series, Any, int]]:
        """Each task with its values, weights and seed; those without weights fail here."""
        for task in all_tasks:
            series = self.values[task.variable, task.year]
            w = lookup.get((task.weights, self.universes[tuple(series.index)]))
            if w is None:
                error = f"InputError: {len(series)} units with values; a statistic needs 3 or more."
                self.collect(task, self.failed(task, error), None)
            else:
                yield task, series, w, task_seed(self.seed, task.key)

    def execute(self, all_tasks: list[Task], client: Client | None) -> list[dict[str, Any]]:
        """Run the tasks (here or on ``client``), writing local tables as they arrive."""
        self.progress = _Progress(len(all_tasks))
        if client is None:
            for task, series, w, seed in self.runnable(all_tasks, self.built):
                self.collect(task, *_run_task(
                    task, series, w, permutations=self.permutations, seed=seed, alpha=self.alpha
                ))  # fmt: skip
        else:
            self._on_cluster(all_tasks, client)
        return [self.rows[t.key] for t in all_tasks]

    def _on_cluster(self, all_tasks: list[Task], client: Client) -> None:
        from distributed import as_completed

        scattered = {k: client.scatter(w, broadcast=True) for k, w in self.built.items()}
        todo = list(self.runnable(all_tasks, scattered))
        size = _chunk_size(len(todo), max(1, sum(client.nthreads().values())))
        token = hashlib.sha256(f"{time.time_ns()}-{id(self)}".encode()).hexdigest()[:8]
        futures = {
            client.submit(
                _run_chunk, todo[i : i + size], self.permutations, self.alpha,
                key=f"geotool-batch-{token}-{todo[i][0].key}", pure=False,
            ): [item[0] for item in todo[i : i + size]]
            for i in range(0, len(todo), size)
        }  # fmt: skip
        try:
            for future in as_completed(list(futures), loop=client.loop):
                try:
                    results = future.result()
                except Exception as exc:  # a worker lost, a result that could not travel
                    error = f"{type(exc).__name__}: {exc}"
                    results = [(self.failed(task, error), None) for task in futures[future]]
                for task, (row, local) in zip(futures[future], results, strict=True):
                    self.collect(task, row, local)
                future.release()
        finally:  # interrupted, or done: nothing of the batch stays on the cluster
            pending = [future for future in futures if not future.done()]
            if pending:
                client.cancel(pending)
            for w in scattered.values():
                w.release()


def _chunk_size(tasks: int, threads: int) -> int:
    """Tasks per future (a few ms of scheduler each): ~4 per worker thread, at most 64."""
    return max(1, min(64, -(-tasks // (4 * threads))))


def _run_chunk(
    items: list[tuple[Task, pd.Series, Weights, int]], permutations: int, alpha: float
) -> list[tuple[dict[str, Any], pd.DataFrame | None]]:
    """Several tasks on one worker, one after the other (:func:`_run_task` each)."""
    return [
        _run_task(task, series, w, permutations=permutations, seed=seed, alpha=alpha)
        for task, series, w, seed in items
    ]


class _Progress:
    """Progress lines at most every two seconds, and a last one."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.start = self.last = time.perf_counter()

    def __call__(self, failed: bool) -> None:
        self.done, self.failed, now = self.done + 1, self.failed + failed, time.perf_counter()
        if now - self.last >= 2 or self.done == self.total:
            self.last, took = now, now - self.start
            left = (self.total - self.done) * took / self.done
            log(f"batch: {self.done}/{self.total} tasks ({self.failed} failed), {took:.1f} s, "
                f"about {left:.0f} s left", progress=True)  # fmt: skip


def contiguity(
    geo: gpd.GeoDataFrame,
    *,
    rook: bool = False,
    npartitions: int | None = None,
    client: Client | None = None,
) -> Weights:
    """Queen (or ``rook``) weights of a very large polygon layer, partition by partition.

    dask-geopandas' ``spatial_shuffle`` partitions (default one per 50,000 polygons) are
    joined with themselves on ``client`` or local threads; binary weights on geo's index.
    """
    import dask_geopandas
    import geopandas as gpd
    import scipy.sparse as sp
    from libpysal.graph import Graph

    from geotool.weights import Weights

    if not isinstance(geo, gpd.GeoDataFrame) or geo.index.has_duplicates:
        raise InputError("geo must be a GeoDataFrame with a unique index (the units' ids).")
    n = len(geo)
    parts = npartitions or max(2, n // 50_000)
    frame = gpd.GeoDataFrame({"_i": np.arange(n)}, geometry=geo.geometry.to_numpy(), crs=geo.crs)
    shuffled = dask_geopandas.from_geopandas(frame, npartitions=parts).spatial_shuffle()
    joined = dask_geopandas.sjoin(shuffled, shuffled, predicate="intersects")
    pairs = joined[["_i_left", "_i_right"]]
    found = client.compute(pairs).result() if client is not None else pairs.compute()
    i, j = found["_i_left"].to_numpy(), found["_i_right"].to_numpy()
    i, j = i[i < j], j[i < j]
    if rook:
        geoms = geo.geometry.to_numpy()
        edge = shapely.length(shapely.intersection(geoms[i], geoms[j])) > 0
        i, j = i[edge], j[edge]
    ones = np.ones(2 * len(i))
    matrix = sp.csr_matrix((ones, (np.r_[i, j], np.r_[j, i])), shape=(n, n))
    spec = f"{'rook' if rook else 'queen'}-partitioned"
    return Weights.from_graph(Graph.from_sparse(matrix, ids=geo.index), spec=spec)


#: Local workers run one numpy-heavy task thread each: fewer event-loop wake-ups, and
#: glibc's default malloc trimming (dask's made a LISA task on the prefectures take 0.06 s
#: instead of 0.03 s; ``benchmarks/bench_batch.py``).
_QUIET = {
    "distributed.nanny.pre-spawn-environ": dict.fromkeys(
        ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"), 1
    ),
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",
}


@contextlib.contextmanager
def cluster(
    workers: int | None = None,
    *,
    scheduler: str | None = None,
    connect_timeout: float = _scheduler.CONNECT_TIMEOUT,
) -> Iterator[Client]:
    """A ``distributed.Client`` of a ``LocalCluster`` here, or of a running scheduler.

    ``workers``: local processes (default the usable CPUs, at most two per CPU);
    ``scheduler``: an address or scheduler file, refused within ``connect_timeout`` seconds
    when no dask scheduler answers. Both are closed when the block ends.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError(
            "A batch on a cluster needs dask's distributed package, which is not installed; "
            "install it with: pip install 'geotool[scale]' (or run serially, client=None)."
        ) from exc
    if scheduler is not None:
        with _remote(Client, scheduler, _timeout(connect_timeout)) as client:
            yield client
        return
    import dask

    with (
        dask.config.set(_QUIET),
        LocalCluster(
            n_workers=_workers(workers), threads_per_worker=1, processes=True,
            host="127.0.0.1", dashboard_address=":0", silence_logs=logging.ERROR,
            env={"NUMBA_NUM_THREADS": "1"},  # parallel across workers, not within them
        ) as local,
        Client(local, set_as_default=False) as client,
    ):  # fmt: skip
        yield client


def _timeout(value: object) -> float:
    """A connection timeout in seconds: a number from 0.1 to 600."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.1 <= value <= 600:
        raise InputError(f"connect_timeout={value!r}: give seconds from 0.1 to 600 (default 10).")
    return float(value)


def _workers(workers: int | None) -> int:
    """Local worker processes: the CPUs by default, at most two per CPU."""
    cpus = _scheduler.usable_cpus()
    if workers is None:
        return cpus
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
        raise InputError(
            f"workers={workers!r} is not a number of workers; give 1 or more (or run serially)."
        )
    if workers > 2 * cpus:
        log(
            f"batch: {int(workers):,} workers asked for, but this process may use {cpus} "
            f"CPUs; starting {2 * cpus} (at most 2 per CPU: more would only queue for them)",
            logging.WARNING,
        )
        return 2 * cpus
    return int(workers)


@contextlib.contextmanager
def _remote(client_type: type[Client], scheduler: str, timeout: float) -> Iterator[Client]:
    """A client of a running scheduler, checked first: it answers, and has a worker."""
    target = _scheduler.address(scheduler)
    _scheduler.probe(target, timeout=timeout)
    local = "scheduler= to run on a local cluster."
    try:
        client = client_type(target, timeout=timeout, set_as_default=False)
    except (OSError, MemoryError, TimeoutError) as exc:  # gone between the probe and now
        raise InputError(
            f"scheduler={target!r}: no dask scheduler answered at {target} within "
            f"{timeout:g} s ({type(exc).__name__}); start one with `dask scheduler` or omit "
            + local
        ) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise InputError(
                f"scheduler={target!r}: the scheduler has no workers (none came within "
                f"{timeout:g} s); start some with `dask worker {target}`, or omit " + local
            ) from None
        yield client
