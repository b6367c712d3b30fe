"""Many analyses at once: variables x years x weights x statistics, serial or on dask.

A *task* is one statistic of one variable in one year under one weights spec, keyed
``variable|year|weights|statistic``, seeded by :func:`task_seed` (its numbers never depend
on the workers). A failed task is a row with ``status="failed"``; it never stops the batch.
A batch over :data:`MAX_TASKS` tasks or :data:`MAX_OUTPUT_GB` of output is refused first.

:func:`run` builds a :class:`geotool.study.Study` of the table and runs it through
:func:`geotool.pipeline.run`, as ``geotool batch`` does; the engine is private.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from geotool import pipeline, settings
from geotool._batch import (
    COLUMNS,
    GLOBAL,
    LOCAL,
    MAX_OUTPUT_GB,
    MAX_TASKS,
    STATISTICS,
    Estimate,
    Options,
    Task,
    cluster,
    contiguity,
    estimate,
    task_seed,
    tasks,
)  # fmt: skip
from geotool.study import Study

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    from distributed import Client

    from geotool.weights import Weights

__all__ = [
    "COLUMNS", "GLOBAL", "LOCAL", "MAX_OUTPUT_GB", "MAX_TASKS", "STATISTICS", "Estimate", "Options",
    "Task",
    "cluster", "contiguity", "estimate", "run", "task_seed", "tasks",
]  # fmt: skip


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
        Wide (a row per unit) or long (a row per unit and year, with ``year_col``); units
        are geo's codes or names (bundled layers also through :func:`geotool.match.resolve`).
    geo : geopandas.GeoDataFrame or {"county", "prefecture", "province"}
        The units' polygons (a unique index of codes), or a bundled layer.
    id_col, year_col, variables, years
        The unit and year columns; default every numeric other column, every year.
    weights : sequence of str or Weights
        Specs of :func:`geotool.weights.build` (built once per set of units), or prebuilt
        weights (e.g. :func:`contiguity`) named by their ``spec``.
    statistics : sequence of str
        Some of :data:`STATISTICS` (``lisa`` and ``gi_star`` write a table per task).
    permutations, seed, alpha, islands
        As in :mod:`geotool.settings` and :func:`geotool.weights.build`; a task's seed is
        :func:`task_seed` of ``seed`` and its key.
    client : distributed.Client, optional
        Run the tasks on this cluster (see :func:`cluster`); ``None`` runs them here.
    out, inputs
        A folder written as one transaction (``batch.csv``, ``local/<key>.csv``,
        ``left_out.csv``), and files it must never write over.
    max_tasks, max_output_gb : int, float
        Limits checked before any work (:meth:`Estimate.check`).

    Returns
    -------
    pandas.DataFrame
        A row per task in task order, :data:`COLUMNS`: ``status`` ``ok`` or ``failed``
        (with ``error``); cells without a finite number are left out of their task and
        listed in ``attrs["left_out"]`` (and ``left_out.csv``).

    """
    study = Study(
        data=table, id_col=id_col, year_col=year_col, alpha=alpha, islands=islands, out=None,
        permutations=settings.permutations if permutations is None else permutations,
        seed=settings.seed if seed is None else seed,
    )  # fmt: skip
    options = Options(
        id_col=id_col, year_col=year_col, variables=variables, years=years, weights=weights,
        statistics=statistics, permutations=study.permutations, seed=study.seed, alpha=alpha,
        islands=islands, client=client, out=out, inputs=inputs, max_tasks=max_tasks,
        max_output_gb=max_output_gb,
    )  # fmt: skip
    stage = pipeline.Stage("batch", partial(pipeline.batch_tasks, geo=geo, options=options))
    summary = pipeline.run(study, analysis=None, stages=(stage,), owner="geotool batch",
                           index=False)  # fmt: skip
    result: pd.DataFrame = summary["result"]
    return result
