"""``geotool run --raster FILE.tif``: a grid's LISA through :func:`geotool.pipeline.run`.

:func:`prepare` reads the GeoTIFF and runs :func:`geotool.raster.lisa` (rook unless
``weights="queen"``; large grids in bands of rows, the same numbers); :data:`STAGES` write
the class and p-value GeoTIFFs, a PNG map of the classes and a CSV summary into the run's
output folder (one transaction, as every study's). Kept apart from :mod:`geotool.raster`,
which the pipeline does not know, so that neither imports the other in a circle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from geotool import pipeline, raster
from geotool._errors import InputError
from geotool.maps.figure import figure_bytes
from geotool.pipeline import Run, Stage
from geotool.study import Study

__all__ = ["STAGES", "GridAnalysis", "headline", "prepare", "run"]

#: Grids with more cells than this run in bands of rows (bounded memory, same numbers).
BAND_ABOVE_CELLS = 4_000_000
#: Cells per band of a large grid.
BAND_CELLS = 1_000_000


@dataclass
class GridAnalysis:
    """A grid's LISA result (:func:`geotool.raster.lisa`) and what the run reports of it."""

    title: str
    result: Any  # xarray.Dataset
    summary: dict[str, Any] = field(default_factory=dict)


def _contiguity(study: Study) -> str:
    spec = (study.weights or "rook").strip().lower()
    if spec not in ("rook", "queen"):
        msg = f"weights={study.weights!r}: a grid's cells take rook or queen weights; pass one."
        raise InputError(msg)
    return spec


def prepare(study: Study) -> GridAnalysis:
    """Read ``study.raster`` and run its LISA (bands of rows for grids over 4 M cells)."""
    import rasterio

    if study.raster is None:
        raise InputError("raster= is needed: the GeoTIFF whose cells to analyse.")
    try:
        with rasterio.open(study.raster) as src:
            rows, cols = src.height, src.width
    except (rasterio.errors.RasterioError, OSError) as exc:
        msg = f"raster={study.raster.name} cannot be read as a GeoTIFF ({str(exc)[:80]})."
        raise InputError(msg) from None
    chunks = max(1, BAND_CELLS // cols) if rows * cols > BAND_ABOVE_CELLS else None
    result = raster.lisa(
        study.raster, contiguity=_contiguity(study), permutations=study.permutations,
        seed=study.seed, alpha=study.alpha, adjust=study.adjust, sided=study.sided,
        chunks=chunks,
    )  # fmt: skip
    title = study.title or f"LISA of {study.raster.name}"
    counts = raster.class_counts(result).set_index("lisa_class")["cells"]
    summary = {
        "raster": str(study.raster), "rows": rows, "columns": cols, "chunks": chunks,
        **dict(result.attrs), "classes": {str(k): int(v) for k, v in counts.items()},
    }  # fmt: skip
    return GridAnalysis(title, result, summary)


def _tiffs(run: Run) -> None:
    for name in raster.TIFFS:
        run.write(f"{name}.tif", raster.tiff_bytes(run.analysis.result, name))


def _map(run: Run) -> None:
    fig = raster.class_figure(run.analysis.result, title=run.analysis.title)
    run.write("lisa_map.png", figure_bytes(fig, "png", dpi=min(run.study.dpi, 150)))


def _summary(run: Run) -> None:
    a = run.analysis
    counts = raster.class_counts(a.result)
    settings = pd.DataFrame(
        [(k, str(v)) for k, v in a.summary.items() if k != "classes"], columns=["item", "value"]
    )
    run.table("lisa_classes.csv", counts)
    run.table("lisa_settings.csv", settings)
    run.summary |= {"title": a.title, "grid": a.summary, "files": run.files}
    run.write("summary.json", json.dumps(run.summary, ensure_ascii=False, indent=1) + "\n")


#: The stages of a grid's run, in order.
STAGES: tuple[Stage, ...] = (
    Stage("grid tiffs", _tiffs),
    Stage("grid map", _map),
    Stage("grid summary", _summary),
)


def run(study: Study) -> dict[str, Any]:
    """Run a grid study (``study.raster``) into ``study.out``; the run's summary."""
    return pipeline.run(study, analysis=prepare, stages=STAGES, inputs=(study.raster,), index=False)


def headline(summary: dict[str, Any]) -> list[str]:
    """What a grid's run found, in a few lines."""
    grid = summary["grid"]
    classes = ", ".join(f"{k} {v:,}" for k, v in grid["classes"].items() if k != "nodata")
    return [
        f"{grid['raster']}: {grid['units']:,} cells with values of {grid['rows']} x "
        f"{grid['columns']} ({grid['contiguity']}); Moran's I {grid['moran_i']:.3f}",
        f"  LISA ({grid['lisa_rule']}): {classes}",
    ]
