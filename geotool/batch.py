"""Many analyses at once: variables x years x weights x statistics, serial or on dask.

A task (one statistic of one variable, year and weights spec) is keyed
``variable|year|weights|statistic`` and seeded by :func:`task_seed`, so its numbers never
depend on the workers; a failed task is a row with ``status="failed"``, never a stopped batch.
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

    ``table`` is wide (a row per unit) or long (a row per unit and ``year_col``), its units
    geo's codes or names; ``geo`` a GeoDataFrame with a unique index or a bundled level.
    ``variables`` default to every numeric column, ``years`` to every year; ``weights`` are
    specs of :func:`geotool.weights.build` or prebuilt weights (:func:`contiguity`);
    ``statistics`` some of :data:`STATISTICS`. A task's seed is :func:`task_seed` of
    ``seed`` and its key. ``client`` runs the tasks on a cluster (:func:`cluster`); ``out``
    is a folder written as one transaction (``batch.csv``, ``local/<key>.csv``,
    ``left_out.csv``) that never overwrites ``inputs``; ``max_tasks`` and ``max_output_gb``
    are checked first (:meth:`Estimate.check`).

    Returns
    -------
    pandas.DataFrame
        A row per task in task order, :data:`COLUMNS`: ``status`` ``ok`` or ``failed``
        (with ``error``); unusable cells are listed in ``attrs["left_out"]``.

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
