"""Many analyses at once: variables x years x weights x statistics, serial or on dask.

A batch is a table of values (a prefecture panel of hundreds of indicators, say) and a
geometry; each *task* is one statistic of one variable in one year under one weights
spec, keyed ``variable|year|weights|statistic``. :func:`run` builds the weights once
per spec (and per set of units with values), runs the tasks serially (``client=None``)
or spreads them over a ``dask.distributed`` cluster, and returns one tidy row per task.

Reproducibility
---------------
Each task draws its permutations from its own seed, derived from the batch ``seed`` and
the task key with :class:`numpy.random.SeedSequence` (:func:`task_seed`). A task's
numbers therefore depend only on its inputs, its key and the batch seed: never on the
number of workers, on which worker ran it, or on the order tasks finished. The serial
run and a run on any cluster give identical statistics and p-values (the tests compare
them exactly).

Distribution
------------
With a ``distributed.Client``, the weights of each spec are scattered to every worker
once (``client.scatter(..., broadcast=True)``) and the tasks go out in chunks (about
four futures per worker thread: a task on a few hundred units takes milliseconds, as
long as the scheduler's overhead per future); results are collected as they complete
(``as_completed``), local tables written into the output folder as they arrive, and
progress logged. A local cluster's workers run numba's kernels on one thread each: the
parallelism is across workers (p-values do not depend on threads either way).
:func:`cluster` opens a ``LocalCluster`` on this machine (or connects to a scheduler)
and closes it cleanly. dask is an optional
dependency (``pip install 'geotool[scale]'``); serial runs need nothing more.

Limits
------
Checked before any work: a batch is estimated (:func:`estimate`: tasks, units,
permutations, bytes written) and refused over :data:`MAX_TASKS` tasks or
:data:`MAX_OUTPUT_GB` of output (``max_tasks=``, ``max_output_gb=``); a local cluster
starts at most two workers per CPU; a ``scheduler`` address is checked and probed
(:mod:`geotool._scheduler`) before dask is given it, within ``connect_timeout``.

Failures
--------
A task that raises does not stop the batch: its row has ``status="failed"`` and the
error (type and message) in ``error``, under its key. Nothing is dropped silently.

Very large geometries
---------------------
Weights from specs are built on the driver (:func:`geotool.weights.build`). For millions
of polygons (a national grid), :func:`contiguity` finds the neighbours with
``dask-geopandas`` instead (spatially partitioned, partitions joined only where their
bounds meet, on the cluster's workers) and its weights are passed to :func:`run` as
they are (``weights=[contiguity(grid, client=client)]``); the statistics in the tasks
work on sparse weights of any size.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from geotool import _scheduler, settings
from geotool import _validate as check
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
    "GLOBAL", "LOCAL", "MAX_OUTPUT_GB", "MAX_TASKS", "STATISTICS", "Estimate", "Task",
    "cluster", "contiguity", "estimate", "run", "task_seed", "tasks",
]  # fmt: skip

#: Global statistics a task can compute, and their row in :func:`geotool.autocorr.global_stats`.
GLOBAL = {"moran": "moran_i", "geary": "geary_c", "getis_ord_g": "getis_ord_g"}
#: Local statistics: a table per task (``local/<key>.csv``) and class counts in the row.
LOCAL = ("lisa", "gi_star")
#: Every statistic name :func:`run` accepts.
STATISTICS = (*GLOBAL, *LOCAL)

#: Columns of the table :func:`run` returns, in order.
COLUMNS = [
    "key", "variable", "year", "weights", "statistic", "status", "n", "value", "expected",
    "z_norm", "p_norm", "z_rand", "p_rand", "p_sim", "high_high", "low_low", "low_high",
    "high_low", "significant", "permutations", "seed", "local_file", "error", "seconds",
]  # fmt: skip


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
    """The seed of one task: the batch ``seed`` and the task ``key`` through SeedSequence.

    Parameters
    ----------
    seed : int
        The batch seed (0 to 2**32 - 1).
    key : str
        The task key (:attr:`Task.key`).

    Returns
    -------
    int
        A seed from 0 to 2**32 - 1, the same on every machine and for any worker count.

    Examples
    --------
    >>> task_seed(12345, "gdp|2020|queen|moran") == task_seed(12345, "gdp|2020|queen|moran")
    True
    >>> task_seed(12345, "gdp|2020|queen|moran") != task_seed(12345, "gdp|2021|queen|moran")
    True

    """
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    sequence = np.random.SeedSequence(check.seed(seed), spawn_key=tuple(words))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def tasks(
    variables: Sequence[str],
    years: Sequence[int | None],
    weights: Sequence[str],
    statistics: Sequence[str],
) -> list[Task]:
    """Every combination, variables outermost (the order of the returned table)."""
    return [
        Task(str(v), y, str(w), str(s))
        for v in variables
        for y in years
        for w in weights
        for s in statistics
    ]


def _run_task(
    task: Task, values: pd.Series, w: Weights, *, permutations: int, seed: int, alpha: float
) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """One task, on a worker or in this process: its row, and its local table if any.

    Never raises (except for interruptions): an error becomes the row's ``error``.
    """
    from geotool import autocorr

    start = time.perf_counter()
    row: dict[str, Any] = {
        "key": task.key, "variable": task.variable, "year": task.year,
        "weights": task.weights, "statistic": task.statistic, "n": len(values),
        "permutations": permutations, "seed": seed,
    }  # fmt: skip
    local = None
    try:
        if task.statistic in GLOBAL:
            table = autocorr.global_stats(values, w, permutations=permutations, seed=seed)
            hit = table[table["statistic"] == GLOBAL[task.statistic]]
            if hit.empty:
                msg = f"{task.statistic} is not defined for {task.variable} (negative values?)."
                raise InputError(msg)
            got = hit.iloc[0]
            for col in ("value", "expected", "z_norm", "p_norm", "z_rand", "p_rand", "p_sim"):
                row[col] = float(got[col])
            row["n"] = int(got["n"])
        else:
            gi = task.statistic == "gi_star"
            local = autocorr.local_stats(
                values, w, permutations=permutations, seed=seed, alpha=alpha, gi_star=gi
            )
            if gi:
                local = local.drop(columns=["Ii", "p_sim", "significant", "lisa_class"])
                sig = local["gi_star_significant"].to_numpy(bool)
                hot = sig & (local["gi_star_z"].to_numpy() > 0)
                row["high_high"], row["low_low"] = int(hot.sum()), int((sig & ~hot).sum())
                row["significant"] = int(sig.sum())
            else:
                counts = local["lisa_class"].value_counts()
                for name, col in (("High-High", "high_high"), ("Low-Low", "low_low"),
                                  ("Low-High", "low_high"), ("High-Low", "high_low")):  # fmt: skip
                    row[col] = int(counts.get(name, 0))
                row["significant"] = int(local["significant"].sum())
            row["n"] = len(local)
        row["status"] = "ok"
    except Exception as exc:  # a task's failure is reported in its row, never raised
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {exc}"
        local = None
    row["seconds"] = round(time.perf_counter() - start, 4)
    return row, local


def _normalise_geo(geo: gpd.GeoDataFrame | str) -> tuple[gpd.GeoDataFrame, str | None]:
    """The geometry (a bundled level or the user's), and the bundled level (or None)."""
    import geopandas as gpd

    from geotool import boundaries

    if isinstance(geo, str):
        if geo not in ("county", "prefecture", "province"):
            msg = (
                "geo must be a GeoDataFrame or 'county', 'prefecture' or 'province', "
                f"got {geo[:40]!r}."
            )
            raise InputError(msg)
        return boundaries.load(geo), geo  # type: ignore[arg-type]
    if not isinstance(geo, gpd.GeoDataFrame):
        msg = f"geo must be a GeoDataFrame or a bundled level name, got {type(geo).__name__}."
        raise InputError(msg)
    from geotool.geofile import to_id

    index = pd.Index([to_id(v) for v in geo.index], dtype=object)  # 110000.0 is 110000
    if index.hasnans or index.has_duplicates:
        msg = "geo's index must identify units uniquely (it holds duplicates or blanks)."
        raise InputError(msg)
    out = geo.copy()
    out.index = index.astype(str)
    return out, None


def _resolve_ids(ids: pd.Series, geo: gpd.GeoDataFrame, level: str | None) -> pd.Series:
    """Each row's unit in ``geo`` (its index).

    From codes, names the layer has, or names and codes :func:`geotool.match.resolve`
    knows at a bundled ``level`` (None: the user's own geometry, codes and its names).
    """
    from geotool.geofile import to_id

    labels = ids.index  # worked by position: a table's index may repeat (concatenated years)
    ids = ids.reset_index(drop=True)
    codes, distinct = pd.factorize(ids)  # a panel repeats its units: each is read once
    read = np.array([to_id(v) for v in distinct] + [None], dtype=object)
    text = pd.Series(read[codes], dtype="string")  # code -1 (missing) takes the last: None
    out = text.where(text.isin(geo.index))
    missing = out.isna() & text.notna()
    name_col = next((c for c in ("name", "prefecture", "province") if c in geo.columns), None)
    if missing.any() and name_col is not None:
        names = geo[name_col].astype(str)
        unique = names[~names.duplicated(keep=False)]
        by_name = pd.Series(unique.index, index=unique.to_numpy())
        out = out.fillna(text.map(by_name))
        missing = out.isna() & text.notna()
    if missing.any() and level is not None:  # short names, old names, typos: as run does
        from geotool.match import resolve

        left = pd.DataFrame({"unit": text[missing].astype(str)})
        found = resolve(left, name_col="unit", level=level)
        ok = (found["match_status"] == "matched") & found["adcode"].isin(geo.index)
        out.loc[found.index[ok]] = found.loc[ok, "adcode"].astype(str)
        if ok.any():
            log(
                f"batch: {int(ok.sum())} rows resolved through geotool.match at the {level} "
                f"level (e.g. {left['unit'][ok].iloc[0]} -> {found['adcode'][ok].iloc[0]})"
            )
    bad = out.isna()
    if bad.any():
        first = ids[bad].astype(str).unique()[:5].tolist()
        where = f"the bundled {level} layer" if level is not None else "geo"
        msg = (
            f"{int(bad.sum())} rows of table name no unit of {where} (first: "
            f"{', '.join(first)}); give its codes or names (`geotool match` shows how each "
            "row resolves), or leave those rows out."
        )
        raise InputError(msg)
    out.index = labels
    return out.astype(str)


def _check_names(statistics: Sequence[str], weights: Sequence[str | Weights]) -> None:
    from geotool.weights import parse_spec

    unknown = [s for s in statistics if s not in STATISTICS]
    if unknown or not statistics:
        msg = (
            f"statistics must name some of {', '.join(STATISTICS)}; got "
            f"{', '.join(map(str, unknown)) or 'none'}."
        )
        raise InputError(msg)
    _once(statistics, "statistics")
    if not weights:
        msg = "weights must name at least one spec (e.g. 'queen')."
        raise InputError(msg)
    names = [_spec_name(w) for w in weights]
    if len(set(names)) < len(names):
        msg = f"weights must have distinct names (their spec); got {', '.join(names)}."
        raise InputError(msg)
    for spec in weights:
        if isinstance(spec, str):
            parse_spec(spec)


def _once(names: Sequence[object], what: str) -> None:
    """Refuse a list that names something twice (its tasks would repeat, keys collide)."""
    seen = pd.Index([str(n) for n in names])
    if seen.has_duplicates:
        twice = short(str(seen[seen.duplicated()][0]), 40)
        msg = f"{what}= names {twice} twice; name each once."
        raise InputError(msg)


def _spec_name(w: str | Weights) -> str:
    """A weights spec's name in task keys: the spec, or a prebuilt Weights' ``spec``."""
    return w if isinstance(w, str) else str(w.spec)


def _panel(
    table: pd.DataFrame,
    id_col: str,
    year_col: str | None,
    variables: Sequence[str] | None,
    years: Sequence[int] | None,
) -> tuple[list[str], list[int | None]]:
    """The variables and years of the batch, checked against the table."""
    if not isinstance(table, pd.DataFrame):
        msg = f"table must be a pandas DataFrame, got {type(table).__name__}."
        raise InputError(msg)
    for name, col in (("id_col", id_col), ("year_col", year_col)):
        if col is not None and col not in table.columns:
            have = ", ".join(map(str, table.columns[:8]))
            msg = f"{name}={col!r} is not a column of table (it has {have} ...)."
            raise InputError(msg)
    keys = [c for c in (id_col, year_col) if c is not None]
    if variables is None:  # columns mostly of numbers (text tables too)
        variables = []
        for col in table.columns:
            if col in keys:
                continue
            given = int(table[col].notna().sum())
            numbers = int(pd.to_numeric(table[col], errors="coerce").notna().sum())
            if numbers and numbers >= given / 2:
                variables.append(str(col))
    variables = [str(v) for v in variables]
    _once(variables, "variables")
    absent = [v for v in variables if v not in table.columns]
    if absent or not variables:
        msg = (
            "variables must name numeric columns of table; "
            f"{'not columns: ' + ', '.join(absent[:5]) if absent else 'none found'}."
        )
        raise InputError(msg)
    if year_col is None:
        if years is not None:
            msg = "years needs year_col (the table's year column)."
            raise InputError(msg)
        return variables, [None]
    year = pd.to_numeric(table[year_col], errors="coerce")
    if year.isna().any() or not bool((year == year.round()).all()):
        first = table.loc[year.isna() | (year != year.round()), year_col].iloc[0]
        msg = f"year_col={year_col!r} must hold whole years in every row (found {first!r})."
        raise InputError(msg)
    present = sorted(int(y) for y in year.unique())
    chosen = present if years is None else [int(y) for y in years]
    _once(chosen, "years")
    lacking = sorted(set(chosen) - set(present))
    if lacking:
        msg = f"years {lacking[:5]} are not in table's {year_col!r} column (it has {present[:8]})."
        raise InputError(msg)
    return variables, list(chosen)


#: The most tasks one batch may have (``max_tasks`` of :func:`run`): at a few tens of
#: milliseconds a task, 50,000 tasks keep two CPUs busy for about half an hour.
MAX_TASKS = 50_000
#: The largest estimated output of one batch, in GB of 10**9 bytes (``max_output_gb``).
MAX_OUTPUT_GB = 2.0
#: Bytes of a row of a local table (CSV), measured on the county layer, rounded up.
_LOCAL_ROW_BYTES = {"lisa": 140, "gi_star": 170}
#: Bytes of a row of batch.csv, rounded up.
_ROW_BYTES = 300


@dataclass(frozen=True)
class Estimate:
    """The size of a batch before it runs: its tasks, their work, and its output.

    ``units`` is an upper bound of the units of a task (the rows of a year, at most
    the layer's units); ``output_bytes`` counts ``batch.csv`` and the local tables.
    """

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

    @property
    def work(self) -> int:
        """Unit-permutations over every task (tasks x units x (permutations + 1))."""
        return self.tasks * self.units * (self.permutations + 1)

    def describe(self) -> str:
        """One line: the tasks, their factors, the units, the output."""
        factors = " x ".join(
            f"{n:,} {word if n == 1 else plural}"
            for n, word, plural in (
                (self.variables, "variable", "variables"), (self.years, "year", "years"),
                (self.weights, "weights spec", "weights specs"),
                (self.statistics, "statistic", "statistics"),
            )
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
        """Refuse a batch over ``max_tasks`` tasks or ``max_output_gb`` GB of output.

        Raises
        ------
        InputError
            Over a limit, naming the parameters that narrow the batch.
        """
        if isinstance(max_tasks, bool) or not isinstance(max_tasks, int) or max_tasks < 1:
            msg = f"max_tasks={max_tasks!r}: give a whole number of tasks, 1 or more."
            raise InputError(msg)
        limit = float(max_output_gb) if isinstance(max_output_gb, int | float) else math.nan
        if isinstance(max_output_gb, bool) or not (math.isfinite(limit) and limit > 0):
            msg = f"max_output_gb={max_output_gb!r}: give a positive number of GB."
            raise InputError(msg)
        narrow = (
            "narrow it with variables= (or years=, weights=), or fewer statistics= (moran, "
            "geary and getis_ord_g write no per-unit table)"
        )
        if self.tasks > max_tasks:
            msg = (
                f"A batch of {self.describe()} is more than the limit of {max_tasks:,} tasks; "
                f"{narrow}, or raise max_tasks=."
            )
            raise InputError(msg)
        if self.output_bytes > limit * 1e9:
            msg = (
                f"A batch of {self.describe()} is more than the limit of {limit:g} GB; "
                f"{narrow}, or raise max_output_gb=."
            )
            raise InputError(msg)


def _estimate(
    table: pd.DataFrame,
    year_col: str | None,
    shape: tuple[int, int, int],
    statistics: Sequence[str],
    *,
    n_layer: int,
    permutations: int,
) -> Estimate:
    """The :class:`Estimate` of checked arguments; ``shape`` is (variables, years, weights)."""
    rows = len(table)
    if year_col is not None and rows:
        rows = int(table[year_col].value_counts().max())
    units = min(rows, n_layer)
    n_vars, n_years, n_weights = shape
    local = [s for s in statistics if s in LOCAL]
    tables = n_vars * n_years * n_weights * len(local)
    per_table = sum(_LOCAL_ROW_BYTES[s] for s in local) * units
    tasks = n_vars * n_years * n_weights * len(statistics)
    return Estimate(
        n_vars, n_years, n_weights, len(statistics), units, permutations, tables,
        (tasks + 1) * _ROW_BYTES + n_vars * n_years * n_weights * per_table,
    )  # fmt: skip


def estimate(
    table: pd.DataFrame,
    geo: gpd.GeoDataFrame | str = "county",
    *,
    id_col: str = "adcode",
    year_col: str | None = None,
    variables: Sequence[str] | None = None,
    years: Sequence[int] | None = None,
    weights: Sequence[str | Weights] = ("queen",),
    statistics: Sequence[str] = ("moran", "lisa"),
    permutations: int | None = None,
) -> Estimate:
    """The size of a batch :func:`run` would run, before any work (see its parameters).

    Returns
    -------
    Estimate
        Its tasks, units, work and output; ``.check()`` refuses it over the limits
        :data:`MAX_TASKS` and :data:`MAX_OUTPUT_GB`, as :func:`run` does.

    """
    weights, statistics = list(weights), list(statistics)
    _check_names(statistics, weights)
    variables, years_ = _panel(table, id_col, year_col, variables, years)
    layer, _ = _normalise_geo(geo)
    permutations = check.permutations(
        settings.permutations if permutations is None else permutations, n_units=len(layer)
    )
    shape = (len(variables), len(years_), len(weights))
    return _estimate(
        table, year_col, shape, statistics, n_layer=len(layer), permutations=permutations
    )


def run(
    table: pd.DataFrame,
    geo: gpd.GeoDataFrame | str = "county",
    *,
    id_col: str = "adcode",
    year_col: str | None = None,
    variables: Sequence[str] | None = None,
    years: Sequence[int] | None = None,
    weights: Sequence[str | Weights] = ("queen",),
    statistics: Sequence[str] = ("moran", "lisa"),
    permutations: int | None = None,
    seed: int | None = None,
    alpha: float = 0.05,
    islands: str = "nearest",
    client: Client | None = None,
    out: Path | str | None = None,
    inputs: Sequence[Path | str] = (),
    max_tasks: int = MAX_TASKS,
    max_output_gb: float = MAX_OUTPUT_GB,
) -> pd.DataFrame:
    """Run every task of a batch, serially or on a dask cluster; one row per task.

    Parameters
    ----------
    table : pandas.DataFrame
        Wide (one row per unit, a column per variable) or long (one row per unit and
        year, with ``year_col``). Units are geo's codes (its index), or names the layer
        knows (the bundled county layer also resolves names through
        :func:`geotool.match.resolve`).
    geo : geopandas.GeoDataFrame or {"county", "prefecture", "province"}
        The units' polygons (a unique index of codes), or a bundled layer.
    id_col : str
        The column of units.
    year_col : str, optional
        The year column of a long table.
    variables : sequence of str, optional
        Columns to analyse; default every numeric column but ``id_col`` and ``year_col``.
    years : sequence of int, optional
        Years to analyse; default every year of ``year_col``.
    weights : sequence of str or Weights
        Weights specs (:func:`geotool.weights.build`), each built once per set of units;
        or weights built beforehand (e.g. by :func:`contiguity` for a very large layer),
        named by their ``spec`` and used for every task as they are (a task whose
        values do not cover their units fails in its row).
    statistics : sequence of str
        Some of :data:`STATISTICS`: ``moran``, ``geary``, ``getis_ord_g`` (global) and
        ``lisa``, ``gi_star`` (local, a table per task).
    permutations : int, optional
        Per task; default :data:`geotool.settings.permutations`.
    seed : int, optional
        The batch seed (default :data:`geotool.settings.seed`); each task's own seed is
        :func:`task_seed` of it and the task key.
    alpha : float
        Significance level of the local classes.
    islands : {"nearest", "drop", "keep"}
        The island rule of :func:`geotool.weights.build`.
    client : distributed.Client, optional
        Run the tasks on this cluster (see :func:`cluster`); ``None`` runs them here,
        one after another, without dask.
    out : pathlib.Path or str, optional
        A folder written as one transaction (:class:`geotool._outdir.OutputFolder`):
        ``batch.csv`` (the returned table), ``local/<key>.csv`` per local task and
        ``left_out.csv`` (cells without a number, if any),
        written as tasks complete, published together at the end.
    inputs : sequence of pathlib.Path or str
        Files the batch read: never written over (see ``out``).
    max_tasks : int, default 50,000
        The most tasks accepted (:data:`MAX_TASKS`).
    max_output_gb : float, default 2
        The largest estimated output accepted, in GB (:data:`MAX_OUTPUT_GB`):
        ``batch.csv`` and a local table per local task (about 140 bytes a unit for
        ``lisa``, 170 for ``gi_star``). Both are checked before any work
        (:func:`estimate`), so that a table of thousands of columns, every one taken
        as a variable, is refused at once instead of writing for hours.

    Returns
    -------
    pandas.DataFrame
        One row per task, in task order (variables, years, weights, statistics):
        :data:`COLUMNS`. ``status`` is ``ok`` or ``failed`` (with ``error``); global
        tasks fill ``value`` to ``p_sim``, local tasks the class counts and
        ``local_file``. Units without a value in a task's variable and year are left out
        of that task (``n`` says how many units it used); every such cell (blank, not a
        number, infinite) is listed in ``attrs["left_out"]`` (row, unit, year,
        variable, value, reason), logged, and written to ``left_out.csv`` with ``out``.

    """
    from geotool import weights as weights_mod

    alpha = check.alpha(alpha)
    seed = check.seed(settings.seed if seed is None else seed)
    weights, statistics = list(weights), list(statistics)
    _check_names(statistics, weights)
    variables, years_ = _panel(table, id_col, year_col, variables, years)
    layer, level = _normalise_geo(geo)
    county = level == "county"
    permutations = check.permutations(
        settings.permutations if permutations is None else permutations, n_units=len(layer)
    )
    size = _estimate(
        table, year_col, (len(variables), len(years_), len(weights)), statistics,
        n_layer=len(layer), permutations=permutations,
    )  # fmt: skip
    size.check(max_tasks=max_tasks, max_output_gb=max_output_gb)
    log(f"batch: {size.describe()}")
    units = _resolve_ids(table[id_col], layer, level)
    year = pd.to_numeric(table[year_col]).astype("Int64") if year_col else None
    keys = [units] + ([year] if year is not None else [])
    dup = pd.DataFrame({f"k{i}": k.to_numpy() for i, k in enumerate(keys)}).duplicated()
    if dup.any():
        first = table.loc[dup.to_numpy(), id_col].iloc[0]
        what = "unit and year" if year_col else "unit"
        msg = f"table has {int(dup.sum())} rows repeating a {what} (first: {first}); keep one each."
        raise InputError(msg)

    # each task's values, and the unit sets they cover
    all_tasks = tasks(variables, years_, [_spec_name(w) for w in weights], statistics)
    values: dict[tuple[str, int | None], pd.Series] = {}
    left: list[pd.DataFrame] = []  # cells that are no number: listed, never dropped unheard
    for var in variables:
        column = pd.to_numeric(table[var], errors="coerce")
        text = int((column.isna() & table[var].notna()).sum())
        if text:
            first = table.loc[column.isna() & table[var].notna(), var].iloc[0]
            log(
                f"batch: {text} cells of {var} are not numbers (first: {str(first)[:40]!r}); "
                "their units are left out of its tasks",
                logging.WARNING,
            )
        unusable = ~np.isfinite(column.to_numpy(float))
        if unusable.any():
            raw = table[var][unusable]
            reason = np.where(column[unusable].isna(), "not a number", "not finite")
            left.append(
                pd.DataFrame(
                    {
                        "row": table.index[unusable],
                        "unit": units.to_numpy()[unusable],
                        "year": year[unusable].to_numpy() if year is not None else pd.NA,
                        "variable": var,
                        "value": raw.astype(str).where(raw.notna(), ""),
                        "reason": np.where(raw.isna(), "blank", reason),
                    }
                )
            )
        for yr in years_:
            rows = np.ones(len(table), bool) if year is None else np.asarray(year == yr, bool)
            series = pd.Series(column.to_numpy(float)[rows], index=units.to_numpy()[rows], name=var)
            values[var, yr] = series[np.isfinite(series.to_numpy())].sort_index()
    left_out = (
        pd.concat(left, ignore_index=True)
        if left
        else pd.DataFrame(columns=["row", "unit", "year", "variable", "value", "reason"])
    )
    if len(left_out):
        first = left_out.iloc[0]
        kinds = left_out["reason"].value_counts()
        log(
            f"batch: {len(left_out)} cells left out of their tasks ("
            + ", ".join(f"{n} {r}" for r, n in kinds.items())
            + f"; first: {first['unit']} {first['variable']}"
            + (f" {first['year']}" if year is not None else "")
            + ")"
            + ("; listed in left_out.csv" if out is not None else "; see result.attrs['left_out']"),
            logging.WARNING,
        )
    universes: dict[tuple[str, ...], int] = {}
    for series in values.values():
        universes.setdefault(tuple(series.index), len(universes))

    def build(spec: str, ids: tuple[str, ...]) -> Weights:
        if county:
            return weights_mod.build(pd.Index(ids, name="adcode"), spec, islands=islands)
        return weights_mod.build(layer.loc[list(ids)], spec, islands=islands)

    t0 = time.perf_counter()
    token = hashlib.sha256(f"{time.time_ns()}-{id(table)}".encode()).hexdigest()[:8]
    built: dict[tuple[str, int], Any] = {}
    for ids, u in universes.items():
        for spec in weights:
            if len(ids) < 3:
                continue  # tasks on fewer than three units fail in their own rows
            # prebuilt weights (e.g. contiguity()) serve as they are
            built[_spec_name(spec), u] = build(spec, ids) if isinstance(spec, str) else spec
    log(
        f"batch: {len(all_tasks)} tasks, {len(built)} weights built "
        f"({len(universes)} unit sets) in {time.perf_counter() - t0:.1f} s"
    )

    with contextlib.ExitStack() as stack:
        folder = None
        if out is not None:
            folder = stack.enter_context(OutputFolder(out, inputs=inputs, owner="geotool batch"))
        done = _execute(
            all_tasks, values=values, universes=universes, built=built,
            permutations=permutations, seed=seed, alpha=alpha, client=client, folder=folder,
            token=token,
        )  # fmt: skip
        result = pd.DataFrame(done, columns=COLUMNS)
        result["year"] = result["year"].astype("Int64")
        for col in ("n", "high_high", "low_low", "low_high", "high_low", "significant"):
            result[col] = result[col].astype("Int64")
        result.attrs["left_out"] = left_out
        if folder is not None:
            folder.write("batch.csv", to_csv_bytes(result, index=False))
            if len(left_out):
                folder.write("left_out.csv", to_csv_bytes(left_out, index=False))
    failed = result[result["status"] == "failed"]
    if len(failed):
        log(
            f"batch: {len(failed)} of {len(result)} tasks failed (first: {failed['key'].iloc[0]}: "
            f"{failed['error'].iloc[0]})",
            logging.WARNING,
        )
    return result


def _local_name(task: Task) -> str:
    return "local/" + check.safe_filename(task.key.replace("|", "_")) + ".csv"


def _execute(
    all_tasks: list[Task],
    *,
    values: dict[tuple[str, int | None], pd.Series],
    universes: dict[tuple[str, ...], int],
    built: dict[tuple[str, int], Any],
    permutations: int,
    seed: int,
    alpha: float,
    client: Client | None,
    folder: OutputFolder | None,
    token: str,
) -> list[dict[str, Any]]:
    """Run the tasks (here or on ``client``), write local tables as they arrive."""
    rows: dict[str, dict[str, Any]] = {}
    progress = _Progress(len(all_tasks))

    def collect(task: Task, row: dict[str, Any], local: pd.DataFrame | None) -> None:
        if local is not None and folder is not None:
            name = _local_name(task)
            folder.write(name, to_csv_bytes(local, index_label=local.index.name or "id"))
            row["local_file"] = name
        rows[task.key] = row
        progress(row["status"] == "failed")

    def failed(task: Task, n: int, error: str) -> dict[str, Any]:
        return {
            "key": task.key, "variable": task.variable, "year": task.year,
            "weights": task.weights, "statistic": task.statistic, "status": "failed",
            "n": n, "permutations": permutations, "seed": task_seed(seed, task.key),
            "seconds": 0.0, "error": error,
        }  # fmt: skip

    def runnable(lookup: dict[tuple[str, int], Any]) -> Iterator[tuple[Task, pd.Series, Any]]:
        """Each task with its values and weights; those without weights fail here."""
        for task in all_tasks:
            series = values[task.variable, task.year]
            w = lookup.get((task.weights, universes[tuple(series.index)]))
            if w is None:
                error = f"InputError: {len(series)} units with values; a statistic needs 3 or more."
                collect(task, failed(task, len(series), error), None)
            else:
                yield task, series, w

    if client is None:
        for task, series, w in runnable(built):
            row, local = _run_task(
                task, series, w, permutations=permutations, seed=task_seed(seed, task.key),
                alpha=alpha,
            )  # fmt: skip
            collect(task, row, local)
        return [rows[t.key] for t in all_tasks]

    from distributed import as_completed

    scattered = {k: client.scatter(w, broadcast=True) for k, w in built.items()}
    todo = list(runnable(scattered))
    threads = max(1, sum(client.nthreads().values()))
    size = _chunk_size(len(todo), threads)
    chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
    futures = {
        client.submit(
            _run_chunk, [(task, series, w, task_seed(seed, task.key)) for task, series, w in chunk],
            permutations=permutations, alpha=alpha,
            key=f"geotool-batch-{token}-{chunk[0][0].key}", pure=False,
        ): [task for task, _, _ in chunk]
        for chunk in chunks
    }  # fmt: skip
    try:
        for future in as_completed(list(futures), loop=client.loop):
            chunk_tasks = futures[future]
            try:
                results = future.result()
            except Exception as exc:  # a worker lost, a result that could not travel
                results = [
                    (failed(task, len(values[task.variable, task.year]),
                            f"{type(exc).__name__}: {exc}"), None)
                    for task in chunk_tasks
                ]  # fmt: skip
            for task, (row, local) in zip(chunk_tasks, results, strict=True):
                collect(task, row, local)
            future.release()
    finally:  # interrupted, or done: nothing of the batch stays on the cluster
        pending = [future for future in futures if not future.done()]
        if pending:
            client.cancel(pending)
        for w in scattered.values():
            w.release()
    return [rows[t.key] for t in all_tasks]


def _chunk_size(tasks: int, threads: int) -> int:
    """Tasks per future: about four futures per worker thread, at most 64 tasks each.

    One future per task costs the scheduler a few milliseconds, as much as a task on a
    few hundred units; chunks keep that overhead small while leaving enough futures to
    balance the load (a slow chunk, a slow worker) and report progress as they finish.
    """
    return max(1, min(64, -(-tasks // (4 * threads))))


def _run_chunk(
    items: list[tuple[Task, pd.Series, Weights, int]], *, permutations: int, alpha: float
) -> list[tuple[dict[str, Any], pd.DataFrame | None]]:
    """Several tasks on one worker, one after the other (:func:`_run_task` each)."""
    return [
        _run_task(task, series, w, permutations=permutations, seed=task_seed_, alpha=alpha)
        for task, series, w, task_seed_ in items
    ]


class _Progress:
    """Progress lines at most every two seconds, and a last one."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.start = self.last = time.perf_counter()

    def __call__(self, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        now = time.perf_counter()
        if now - self.last >= 2 or self.done == self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            left = (self.total - self.done) / rate if rate else math.inf
            log(
                f"batch: {self.done}/{self.total} tasks ({self.failed} failed), "
                f"{now - self.start:.1f} s, about {left:.0f} s left",
                progress=True,
            )


def contiguity(
    geo: gpd.GeoDataFrame,
    *,
    rook: bool = False,
    npartitions: int | None = None,
    client: Client | None = None,
) -> Weights:
    """Contiguity weights of a very large polygon layer, found partition by partition.

    The layer is split into spatially compact partitions (Hilbert order,
    ``dask_geopandas``'s ``spatial_shuffle``) and joined with itself (``sjoin``,
    ``intersects``): only partitions whose bounds meet are compared, so the work grows
    with the number of polygons, and runs on the workers of ``client`` (or dask's
    local threads). For a valid coverage (polygons that meet only along their
    borders), intersecting polygons are queen neighbours; ``rook=True`` keeps the pairs
    whose common boundary has a length. Units without neighbours keep none (as
    ``islands="keep"`` of :func:`geotool.weights.build`).

    Parameters
    ----------
    geo : geopandas.GeoDataFrame
        Polygons with a unique index (the weights' ids).
    rook : bool
        Rook (a shared edge) instead of queen (a shared point) contiguity.
    npartitions : int, optional
        Default: one per 50,000 polygons, at least 2.
    client : distributed.Client, optional
        Compute on this cluster.

    Returns
    -------
    Weights
        Binary weights, ``spec`` ``"queen-partitioned"`` or ``"rook-partitioned"``.

    """
    import dask_geopandas
    import geopandas as gpd
    import scipy.sparse as sp
    from libpysal.graph import Graph

    from geotool.weights import Weights

    if not isinstance(geo, gpd.GeoDataFrame) or geo.index.has_duplicates:
        msg = "geo must be a GeoDataFrame with a unique index (the units' ids)."
        raise InputError(msg)
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


#: Local clusters run numpy-heavy tasks in a thread of each worker process: fewer
#: wake-ups of the worker's event loop (profiler off, slower ticks and monitors) leave
#: the task thread the GIL, and glibc keeps its default trimming (dask's
#: ``MALLOC_TRIM_THRESHOLD_=65536`` makes every permutation block of a few MB a fresh
#: ``mmap``, with its page faults). Measured on this shared 2-core machine, a LISA task
#: on the prefecture layer took 0.06 s in a worker with dask's defaults, 0.03 s without
#: the trim setting, as in the driver (``benchmarks/bench_batch.py``).
_QUIET = {
    "distributed.nanny.pre-spawn-environ": {
        "OMP_NUM_THREADS": 1,
        "MKL_NUM_THREADS": 1,
        "OPENBLAS_NUM_THREADS": 1,
    },
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
    """A ``distributed.Client``: a ``LocalCluster`` here, or a running scheduler.

    Parameters
    ----------
    workers : int, optional
        Worker processes of the local cluster (one thread each); default the number of
        CPUs this process may use. At most two per CPU are started: more only queue
        for the same CPUs (each a process of its own, with its memory), so a larger
        number is lowered to that cap with a warning. Ignored with ``scheduler``.
    scheduler : str, optional
        A running scheduler: ``tcp://host:8786`` (or ``host:8786``), ``tls://``,
        ``ws://`` or ``wss://`` addresses, or the JSON file ``dask scheduler
        --scheduler-file FILE`` writes. Its workers must have geotool installed.
        Checked before dask is given it (:func:`geotool._scheduler.probe`): a port
        nothing listens on, or a service that is no dask scheduler (silent, HTTP, a
        proxy), is refused within ``connect_timeout`` seconds.
    connect_timeout : float, default 10
        Seconds the scheduler has to answer, and its first worker to be there.

    Yields
    ------
    distributed.Client
        Closed, with its local cluster, when the block ends.

    Raises
    ------
    InputError
        distributed is not installed, ``workers`` is below 1, or no dask scheduler with
        workers answers at ``scheduler``.

    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = (
            "A batch on a cluster needs dask's distributed package, which is not installed; "
            "install it with: pip install 'geotool[scale]' (or run serially, client=None)."
        )
        raise InputError(msg) from exc
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
        msg = f"connect_timeout={value!r}: give seconds from 0.1 to 600 (default 10)."
        raise InputError(msg)
    return float(value)


def _workers(workers: int | None) -> int:
    """Local worker processes: the CPUs by default, at most two per CPU."""
    cpus = _scheduler.usable_cpus()
    if workers is None:
        return cpus
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
        msg = f"workers={workers!r} is not a number of workers; give 1 or more (or run serially)."
        raise InputError(msg)
    cap = 2 * cpus
    if workers > cap:
        log(
            f"batch: {int(workers):,} workers asked for, but this process may use {cpus} "
            f"CPUs; starting {cap} (at most 2 per CPU: more would only queue for them)",
            logging.WARNING,
        )
        return cap
    return int(workers)


@contextlib.contextmanager
def _remote(client_type: type[Client], scheduler: str, timeout: float) -> Iterator[Client]:
    """A client of a running scheduler, checked first: it answers, and has a worker."""
    target = _scheduler.address(scheduler)
    _scheduler.probe(target, timeout=timeout)
    try:
        client = client_type(target, timeout=timeout, set_as_default=False)
    except (OSError, MemoryError, TimeoutError) as exc:  # gone between the probe and now
        msg = (
            f"scheduler={target!r}: no dask scheduler answered at {target} within "
            f"{timeout:g} s ({type(exc).__name__}); start one with `dask scheduler` or omit "
            "scheduler= to run on a local cluster."
        )
        raise InputError(msg) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            msg = (
                f"scheduler={target!r}: the scheduler has no workers (none came within "
                f"{timeout:g} s); start some with `dask worker {target}`, or omit scheduler= "
                "to run on a local cluster."
            )
            raise InputError(msg) from None
        yield client
