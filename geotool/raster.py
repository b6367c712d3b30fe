"""Local spatial autocorrelation on grids (GeoTIFF, xarray, numpy): the cells are the units.

A 1 km grid of China has about 9.6 million cells; polygon contiguity for them is the wrong
tool. Here rook or queen weights come from the grid's shape and its mask of valid cells
(nodata and NaN), row-standardised as the polygon path does, and the local Moran (LISA)
runs on geotool's own engine (:mod:`geotool._perm`): the same classes and p-values as
:func:`geotool.autocorr.local_stats` on polygons made from the same cells.

Chunks (``chunks=``): conditional permutation draws a cell's neighbours from every other
cell of the study, so the values vector stays whole (8 bytes a cell); what is chunked is
the per-cell work and its outputs, in bands of whole rows (read lazily through dask),
each with a halo of one row for the neighbours across its edges. A band's cells are one
run of consecutive units; with the units before it that share its counting blocks
(:func:`geotool._perm.lead_in`) and the whole study's draws, every cell's numbers equal
those of the whole-grid run bit for bit.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numba as nb
import numpy as np
import pandas as pd
import scipy.sparse as sp

from geotool import _limits, settings
from geotool import _validate as check
from geotool._errors import InputError
from geotool._log import log
from geotool._perm import (
    HELD_PERMUTATIONS,
    TIE_RTOL,
    at_mean_p,
    conditional_counts,
    lead_in,
    rng_for,
    tie_rule_p,
    two_sided_p,
)
from geotool._text import short
from geotool.autocorr import LISA_CLASSES, adjustment, sidedness, significance
from geotool.weights import Weights

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

__all__ = [
    "CLASS_CODES",
    "NODATA_CLASS",
    "TIFFS",
    "class_counts",
    "class_figure",
    "grid_weights",
    "lisa",
    "read_grid",
    "tiff_bytes",
    "write_tiffs",
]

#: The LISA classes as the class raster codes them (``lisa_class``, ``quadrant``).
CLASS_CODES = {"Not significant": 0, "High-High": 1, "Low-Low": 2, "Low-High": 3, "High-Low": 4}
#: The class raster's code of cells without a value.
NODATA_CLASS = 255
#: Neighbour offsets ``(row, column)``, in the order of the neighbours' cell numbers.
_OFFSETS = {
    "rook": ((-1, 0), (0, -1), (0, 1), (1, 0)),
    "queen": ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)),
}
#: Cells per band when ``chunks="auto"``.
_AUTO_BAND_CELLS = 1_000_000


def _xarray() -> Any:
    """xarray, with rioxarray's ``.rio`` accessor (CRS, transform, nodata) registered."""
    import rioxarray  # noqa: F401
    import xarray as xr

    return xr


def _contiguity(contiguity: str) -> tuple[tuple[int, int], ...]:
    if contiguity not in _OFFSETS:
        msg = f"contiguity must be 'rook' or 'queen', got {short(repr(contiguity), 40)}."
        raise InputError(msg)
    return _OFFSETS[contiguity]


def _check_cells(shape: Any, where: str) -> None:
    """Refuse a grid whose cells (8 bytes each, again for each result) exceed the input limit.

    A sparse or compressed file of kilobytes may hold billions of cells.
    """
    cells = int(np.prod(tuple(shape), dtype=np.int64))
    _limits.check_size(cells * 8, _limits.max_input_bytes(), where, f"holds {cells:,} cells:",
                       "")  # fmt: skip


def _open(source: Any, band: int, chunks: int | None) -> xr.DataArray:
    """``source`` as a DataArray (a GeoTIFF's band read lazily when ``chunks``)."""
    import rioxarray
    from rasterio.errors import RasterioError

    xr = _xarray()

    if isinstance(source, xr.DataArray):
        da = source
    elif isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            msg = f"grid: {short(str(path))} is not a file; pass a GeoTIFF (.tif)."
            raise InputError(msg)
        try:
            opened = rioxarray.open_rasterio(path, masked=True, chunks=chunks and {"y": chunks})
        except (RasterioError, OSError, ValueError) as exc:
            msg = (
                f"grid: {short(path.name)} is not a raster GDAL can read "
                f"({short(str(exc), 80)}); pass a GeoTIFF (.tif)."
            )
            raise InputError(msg) from None
        if not isinstance(opened, xr.DataArray):
            msg = f"grid: {short(path.name)} holds several datasets; pass a single GeoTIFF."
            raise InputError(msg)
        if chunks is None:  # read whole: its cells meet the input limit (read_grid's check)
            _check_cells(opened.shape[-2:], f"grid {short(path.name)}")
        da = opened
    else:
        msg = (
            f"grid must be a GeoTIFF path, an xarray.DataArray or a numpy array with "
            f"transform=, got {type(source).__name__}."
        )
        raise InputError(msg)
    if da.ndim == 3 and "band" in da.dims:
        if not 1 <= band <= da.sizes["band"]:
            msg = f"band={band} is not a band of the grid (it has {da.sizes['band']}); pick one."
            raise InputError(msg)
        da = da.isel(band=band - 1, drop=True)
    if da.ndim != 2:
        msg = f"grid must be 2-D (rows, columns), got dimensions {da.dims}; select one band."
        raise InputError(msg)
    return da


def _from_numpy(array: np.ndarray, transform: Any, crs: Any) -> xr.DataArray:
    """A numpy grid as a DataArray with cell-centre coordinates from ``transform``."""
    from affine import Affine

    xr = _xarray()
    if array.ndim != 2:
        msg = f"grid must be a 2-D array (rows, columns), got shape {array.shape}."
        raise InputError(msg)
    try:
        aff = transform if isinstance(transform, Affine) else Affine(*list(transform)[:6])
    except (TypeError, ValueError):
        msg = "transform= must be an affine.Affine or its six numbers (a, b, c, d, e, f)."
        raise InputError(msg) from None
    rows, cols = array.shape
    if aff.b or aff.d:
        raise InputError("transform= is rotated; pass a north-up grid (b = d = 0).")
    x = aff.c + aff.a * (np.arange(cols) + 0.5)
    y = aff.f + aff.e * (np.arange(rows) + 0.5)
    return _georeferenced(xr.DataArray(array, dims=("y", "x"), coords={"y": y, "x": x}), aff, crs)


def read_grid(
    source: Any,
    *,
    transform: Any = None,
    crs: Any = None,
    nodata: float | None = None,
    band: int = 1,
    aggregate: int | None = None,
    chunks: int | None = None,
) -> xr.DataArray:
    """A grid as a float64 DataArray ``(y, x)``: nodata and NaN masked (NaN), CRS and transform.

    Parameters
    ----------
    source : path, xarray.DataArray or numpy.ndarray
        A GeoTIFF, a DataArray (its ``rio`` CRS, transform and nodata are kept), or a 2-D
        array with ``transform`` and optionally ``crs``.
    transform, crs : optional
        A numpy grid's ``affine.Affine`` (or its six numbers) and CRS (e.g. ``"EPSG:3857"``).
    nodata : float, optional
        A value that means "no data", besides the source's own and NaN.
    band : int
        The band of a multi-band source (from 1).
    aggregate : int, optional
        Average ``k x k`` blocks of cells first (nodata-aware mean; a block without any
        value stays nodata; rows and columns that do not fill a block are dropped).
    chunks : int, optional
        Read lazily (dask) in bands of this many rows.

    """
    from affine import Affine

    xr = _xarray()
    if isinstance(source, np.ndarray):
        if transform is None:
            raise InputError("transform= is needed with a numpy grid (an affine.Affine).")
        source = _from_numpy(source, transform, crs)
    da = _open(source, band, chunks)
    if da.dtype.kind not in "biuf":
        msg = f"grid holds {da.dtype} values, not numbers; pass a numeric raster."
        raise InputError(msg)
    if da.size < 4 or min(da.shape) < 1:
        msg = f"grid has {da.shape[0]} x {da.shape[1]} cells; LISA needs at least 4 with values."
        raise InputError(msg)
    aff, grid_crs = da.rio.transform(), da.rio.crs
    fill = [v for v in (da.rio.nodata, da.rio.encoded_nodata, nodata) if v is not None]
    values = da.astype(np.float64)
    for v in fill:
        if not (isinstance(v, float) and math.isnan(v)):
            values = values.where(values != v)
    values = values.where(np.isfinite(values))
    if aggregate is not None:
        if isinstance(aggregate, bool) or not isinstance(aggregate, int) or aggregate < 1:
            raise InputError(f"aggregate must be a whole number of cells >= 1, got {aggregate!r}.")
        if aggregate > min(da.shape) // 2:
            msg = f"aggregate={aggregate} leaves fewer than 2 x 2 cells of the {da.shape} grid."
            raise InputError(msg)
        ydim, xdim = values.dims
        if chunks is not None:  # read in bands: the grid analysed meets the input limit
            _check_cells((da.shape[0] // aggregate, da.shape[1] // aggregate), "grid (aggregated)")
        values = values.coarsen({ydim: aggregate, xdim: aggregate}, boundary="trim").mean()
        aff = aff * Affine.scale(aggregate)
    elif chunks is not None:  # read in bands, analysed whole
        _check_cells(da.shape, "grid")
    values = xr.DataArray(
        values.data, dims=("y", "x"), coords={"y": values[values.dims[0]].to_numpy(),
                                                "x": values[values.dims[1]].to_numpy()},
        name=da.name or "value",
    )  # fmt: skip
    return _georeferenced(values, aff, grid_crs).rio.write_nodata(
        np.nan, encoded=False, inplace=True
    )


def _georeferenced(obj: Any, transform: Any, crs: Any) -> Any:
    """``obj`` (a DataArray or Dataset) with ``transform`` and ``crs``, in place (no copy)."""
    obj.rio.write_transform(transform, inplace=True)
    if crs is not None:
        obj.rio.write_crs(crs, inplace=True)
    return obj


def grid_weights(valid: np.ndarray, contiguity: str = "rook") -> Weights:
    """Binary rook or queen weights between the valid cells of a grid, from its shape alone.

    ``valid``: ``(rows, columns)`` booleans (``False``: nodata, no unit). Units are the
    valid cells in row-major order; ids their flat cell number (``row * columns +
    column``). Equal to libpysal's ``lat2W`` (full grid) and ``da2W`` (masked), built
    here because ``da2WSP``, as fast once compiled, compiles for about 13 s in every fresh
    process and builds whole grids only, where a band of rows is built alone here.
    """
    valid = np.asarray(valid, dtype=bool)
    cells = _Cells.of(valid, _contiguity(contiguity))
    binary = cells.rows(np.arange(cells.n, dtype=np.int64))
    ids = pd.Index(cells.flat, name="cell")
    return Weights(sparse=binary, spec=contiguity, ids=ids, report={"units": cells.n})


@dataclass
class _Cells:
    """The units of a grid: valid cells, their numbers, neighbours' counts (all global)."""

    shape: tuple[int, int]
    offsets: tuple[tuple[int, int], ...]
    rank: np.ndarray  # (rows + 2, cols + 2): a valid cell's unit number, else -1 (a frame)
    flat: np.ndarray  # (n,) each unit's flat cell number
    card: np.ndarray  # (n,) int8: each unit's number of neighbours

    @classmethod
    def of(cls, valid: np.ndarray, offsets: tuple[tuple[int, int], ...]) -> _Cells:
        """The units of the ``valid`` cells under ``offsets`` (rook or queen)."""
        rows, cols = valid.shape
        padded = np.pad(valid, 1)
        count = np.zeros(valid.shape, dtype=np.int8)
        for dr, dc in offsets:
            count += padded[1 + dr : 1 + dr + rows, 1 + dc : 1 + dc + cols]
        n = int(valid.sum())
        rank = np.full(padded.shape, -1, dtype=np.int32 if n < 2**31 else np.int64)
        rank[padded] = np.arange(n)
        return cls((rows, cols), offsets, rank, np.flatnonzero(valid), count[valid])

    @property
    def n(self) -> int:
        return len(self.flat)

    def rows(self, units: np.ndarray) -> sp.csr_matrix:
        """Binary weights rows of ``units`` (ascending) over all units: ``(len(units), n)``.

        Compiled (:func:`_neighbour_rows`): numpy's gathers and masks over ``(n, 8)``
        arrays took 3.8 s and 1 GB more for 9.6 M cells.
        """
        kind = np.int32 if self.n < 2**31 and 8 * len(units) < 2**31 else np.int64
        indptr = np.zeros(len(units) + 1, dtype=kind)
        np.cumsum(self.card[units], out=indptr[1:])
        indices = np.empty(int(indptr[-1]), dtype=kind)
        dr, dc = (np.array(v, dtype=np.int64) for v in zip(*self.offsets, strict=True))
        _neighbour_rows(self.rank.ravel(), self.flat, np.asarray(units, dtype=np.int64),
                        self.shape[1], dr, dc, indptr, indices)  # fmt: skip
        data = np.ones(len(indices))
        return sp.csr_matrix((data, indices, indptr), shape=(len(units), self.n))


@nb.njit(cache=True)
def _neighbour_rows(  # noqa: PLR0917 (numba: positional only)
    rank: np.ndarray,
    flat: np.ndarray,
    units: np.ndarray,
    cols: int,
    dr: np.ndarray,
    dc: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
) -> None:
    """Each unit's neighbours' numbers, in offset order (ascending), into ``indices``.

    ``rank``: the framed grid of unit numbers (-1 outside and at nodata), raveled.
    """
    width = cols + 2
    for t in range(len(units)):
        cell = flat[units[t]]
        row = cell // cols
        centre = (row + 1) * width + (cell - row * cols) + 1
        e = indptr[t]
        for j in range(len(dr)):
            v = rank[centre + dr[j] * width + dc[j]]
            if v >= 0:
                indices[e] = v
                e += 1


def _standardised(binary: sp.csr_matrix) -> sp.csr_matrix:
    """Row-standardised: ``1 / k`` for each of a row's ``k`` links (as Weights does)."""
    card = np.diff(binary.indptr)
    scale = np.divide(1.0, card, out=np.zeros(len(card)), where=card != 0)
    return sp.csr_matrix((np.repeat(scale, card), binary.indices, binary.indptr), binary.shape)


def _row_sum_max(card: np.ndarray) -> float:
    """The largest row sum of row-standardised weights, summed as scipy sums a row."""
    best = 0.0
    for k in np.unique(card):
        total = 0.0
        for _ in range(int(k)):
            total += 1.0 / k
        best = max(best, total)
    return best


@dataclass
class _Study:
    """What every part of a grid's run shares: units, values, draws, tie tolerances."""

    cells: _Cells
    x: np.ndarray
    z: np.ndarray
    permutations: int
    seed: int
    gi_star: bool

    @property
    def kmax(self) -> int:
        return int(self.cells.card.max(initial=0))

    def pvalues(self, w: sp.csr_matrix, units: np.ndarray) -> np.ndarray:
        """Folded permutation p of the row-standardised lag of ``z`` for ``units`` (a run).

        As :func:`geotool._perm.lag_pvalues` (stream "lisa"): no neighbours NaN; the
        lead-in units' rows are counted and dropped.
        """
        values, first = self.z, int(units[0])
        extra = lead_in(self.cells.card, first) if first else np.zeros(0, dtype=np.int64)
        if len(extra):
            w = sp.vstack([_standardised(self.cells.rows(extra)), w]).tocsr()
        rows = np.concatenate([extra, units])
        tol = TIE_RTOL * (np.abs(values).max() * _row_sum_max(self.cells.card) + 1)
        upper, lower = conditional_counts(
            values, w, self.permutations, rng_for(self.seed, "lisa"), observed=w @ values,
            tol=tol, rows=rows, draw_width=self.kmax,
        )  # fmt: skip
        p = tie_rule_p(upper, lower, self.permutations)[len(extra) :]
        card = self.cells.card[units]
        return np.where((card == 0) | (card == self.cells.n - 1), np.nan, p)


    def part(self, units: np.ndarray) -> dict[str, np.ndarray]:
        """Lag, local Moran, folded p (and Gi*) of a run of consecutive ``units``."""
        if not len(units):
            keys = ["lag", "Ii", "p_folded"] + (["gi_star_z", "gi_star_p_folded"] * self.gi_star)
            return {key: np.zeros(0) for key in keys}
        binary = self.cells.rows(units)
        wr = _standardised(binary)
        z_u = self.z[units]
        lag = wr @ self.z
        out = {"lag": lag, "Ii": (self.cells.n - 1) * z_u * lag / (self.z @ self.z)}
        p_lag = np.full(len(units), np.nan)
        if self.permutations:
            p_lag = self.pvalues(wr, units)
        out["p_folded"] = at_mean_p(p_lag, z_u)
        if self.gi_star:
            out |= self._gi_star(binary, units, p_lag)
        return out

    def _gi_star(
        self, binary: sp.csr_matrix, units: np.ndarray, p_lag: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Gi* z (each cell in its own neighbourhood, weight 1: esda's rule) and folded p.

        The p of LISA's lag (``p_lag``): Gi* rises with it, so the same draws give its
        test (:func:`geotool.autocorr.local_stats`).
        """
        x, n = self.x, self.cells.n
        k = np.diff(binary.indptr).astype(float)
        wi = k + 1.0
        xbar = x.mean()
        s = math.sqrt(max((x**2).mean() - xbar**2, 0.0))
        spread = np.sqrt(np.maximum((n * wi - wi**2) / (n - 1), 0.0))
        spread[k == 0] = 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(spread > 0, (binary @ x + x[units] - xbar * wi) / (s * spread), np.nan)
        return {"gi_star_z": z, "gi_star_p_folded": p_lag}


def _bands(rows: int, chunks: int | None) -> list[tuple[int, int]]:
    """Row ranges of the parts: one for the whole grid, else bands of ``chunks`` rows."""
    if chunks is None:
        return [(0, rows)]
    if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks < 1:
        raise InputError(f"chunks must be a number of grid rows >= 1, got {chunks!r}.")
    return [(r, min(r + chunks, rows)) for r in range(0, rows, chunks)]


def _valid_values(values: xr.DataArray, bands: list[tuple[int, int]]) -> tuple[np.ndarray, ...]:
    """The mask of cells with values and those values in row-major order, band by band."""
    valid = np.zeros(values.shape, dtype=bool)
    parts = []
    for r0, r1 in bands:  # a dask-backed grid is read one band at a time
        block = np.asarray(values.data[r0:r1], dtype=np.float64)
        valid[r0:r1] = np.isfinite(block)
        parts.append(block[valid[r0:r1]])
    return valid, np.concatenate(parts)


def _checked(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The cells' values, checked as the polygon path checks a variable."""
    if len(x) < 4:
        msg = (
            f"grid: {len(x)} of its {shape[0]} x {shape[1]} cells have values (the rest are "
            "nodata); LISA needs at least 4: pass a grid with data."
        )
        raise InputError(msg)
    if np.ptp(x) == 0:
        msg = f"grid: every cell with a value holds {x[0]:g}; spatial autocorrelation is undefined."
        raise InputError(msg)
    if np.abs(x).max() > 1e150:
        raise InputError("grid: values over 1e150 cannot be squared; rescale the grid.")
    return x


def _parts(study: _Study, bands: list[tuple[int, int]], dask: bool) -> dict[str, np.ndarray]:
    """Every unit's outputs, part by part (through dask, one band at a time, when chunked)."""
    cells = study.cells
    rows, cols = cells.shape
    starts = np.searchsorted(cells.flat, [r0 * cols for r0, _ in bands] + [rows * cols])

    def one(i: int) -> dict[str, np.ndarray]:
        return study.part(np.arange(starts[i], starts[i + 1], dtype=np.int64))

    if not dask:
        return one(0)
    import dask as dk

    # numba's kernels use both cores already: one band at a time keeps memory bounded
    done = dk.compute(*[dk.delayed(one)(i) for i in range(len(bands))], scheduler="synchronous")
    return {key: np.concatenate([d[key] for d in done]) for key in done[0]}


def _codes(z: np.ndarray, lag: np.ndarray) -> np.ndarray:
    """Quadrant codes (:data:`CLASS_CODES`) of standardised values and their lags."""
    return np.select(
        [(z > 0) & (lag > 0), (z < 0) & (lag < 0), (z < 0) & (lag > 0), (z > 0) & (lag < 0)],
        [1, 2, 3, 4],
        default=0,
    ).astype(np.uint8)


def lisa(
    grid: Any,
    *,
    contiguity: str = "rook",
    permutations: int | None = None,
    seed: int | None = None,
    alpha: float = 0.05,
    adjust: str | None = None,
    sided: str = "two-sided",
    gi_star: bool = False,
    chunks: int | None = None,
) -> xr.Dataset:
    """Local Moran (LISA) of every cell of a grid, on the grid: classes, p-values, lags.

    Parameters
    ----------
    grid : path, xarray.DataArray or numpy.ndarray
        What :func:`read_grid` takes (read with its defaults), or what it returns.
    contiguity : {"rook", "queen"}
        Neighbours: the 4 cells sharing an edge, or the 8 sharing an edge or a corner.
    permutations, seed : int, optional
        Conditional permutations (defaults from :mod:`geotool.settings`).
    alpha, adjust, sided
        As :func:`geotool.autocorr.local_stats`: the significance rule over the cells.
    gi_star : bool
        Also Getis-Ord Gi* (its z, and its p: LISA's counts, the same draws; no extra time).
    chunks : int, optional
        Work in bands of this many rows (read lazily, through dask), in bounded memory:
        the same numbers as the whole grid at once (module docstring).

    Returns
    -------
    xarray.Dataset
        On the grid's ``y, x`` (its CRS and transform): ``value, lag, Ii, p_sim``
        (float64, NaN where nodata), ``quadrant`` and ``lisa_class`` (uint8,
        :data:`CLASS_CODES`, :data:`NODATA_CLASS` where nodata), ``significant``
        (bool), with ``gi_star``: ``gi_star_z, gi_star_p_sim``. ``attrs``: the rule
        (``lisa_rule``, ``alpha``, ``adjust``, ``p_sided``, ``adjust_note``),
        ``contiguity``, ``permutations``, ``seed``, ``units`` (cells with values),
        ``nodata_cells``, ``isolated_cells`` (no neighbour: not tested), ``moran_i``.

    """
    alpha, adjust, sided = check.alpha(alpha), adjustment(adjust), sidedness(sided)
    offsets = _contiguity(contiguity)
    values = grid if _is_read(grid) else read_grid(grid, chunks=chunks)
    bands = _bands(values.shape[0], chunks)
    valid, x = _valid_values(values, bands)
    x = _checked(x, values.shape)
    n = len(x)
    perms = check.permutations(
        settings.permutations if permutations is None else permutations,
        n_units=n, block=HELD_PERMUTATIONS,
    )  # fmt: skip
    seed = check.seed(settings.seed if seed is None else seed)
    cells = _Cells.of(valid, offsets)
    z = (x - x.mean()) / x.std()
    study = _Study(cells, x, z, perms, seed, bool(gi_star))
    log(f"LISA of {n:,} cells ({contiguity}, {perms} permutations, {len(bands)} part(s))")
    out = _parts(study, bands, chunks is not None)
    rule = {"alpha": alpha, "adjust": adjust, "sided": sided, "permutations": perms}
    ds = _dataset(study, out, values, rule)
    ds.attrs.update(contiguity=contiguity, seed=seed, nodata_cells=int(valid.size - n))
    return ds


def _dataset(
    study: _Study, out: dict[str, np.ndarray], values: xr.DataArray, rule: dict[str, Any]
) -> xr.Dataset:
    """The per-unit results on the grid, classed under ``rule`` (alpha, adjust, sided)."""
    cells, z, sided = study.cells, study.z, rule["sided"]
    p = two_sided_p(out["p_folded"]) if sided == "two-sided" else out["p_folded"]
    sig, words, note = significance(p, **rule)
    quadrant = _codes(z, out["lag"])
    fields: dict[str, tuple[np.ndarray, Any]] = {
        "value": (study.x, np.nan), "lag": (out["lag"], np.nan), "Ii": (out["Ii"], np.nan),
        "p_sim": (p, np.nan), "quadrant": (quadrant, NODATA_CLASS),
        "lisa_class": (np.where(sig, quadrant, 0).astype(np.uint8), NODATA_CLASS),
        "significant": (sig, False),
    }  # fmt: skip
    if study.gi_star:
        gp = out["gi_star_p_folded"]
        gp = two_sided_p(gp) if sided == "two-sided" else gp
        fields |= {"gi_star_z": (out["gi_star_z"], np.nan), "gi_star_p_sim": (gp, np.nan)}
    has = cells.card > 0
    if not has.all():
        log(
            f"{int((~has).sum()):,} cells with values have no neighbour with a value "
            "(nodata all around): their lag is 0 and they get no local test.",
            logging.WARNING,
        )
    ds = _xarray().Dataset(
        {name: (("y", "x"), _on_grid(v, fill, cells)) for name, (v, fill) in fields.items()},
        coords={"y": values["y"].to_numpy(), "x": values["x"].to_numpy()},
    )
    ds.attrs.update(
        permutations=rule["permutations"], alpha=rule["alpha"], adjust=rule["adjust"],
        p_sided=sided, lisa_rule=words, adjust_note=note, units=cells.n,
        isolated_cells=int((~has).sum()),
        moran_i=float(has.sum() and cells.n / has.sum() * (z @ out["lag"]) / (z @ z)),
    )  # fmt: skip
    return _georeferenced(ds, values.rio.transform(), values.rio.crs)


def _is_read(grid: Any) -> bool:
    """Whether ``grid`` is what :func:`read_grid` returns (float64 ``y, x``, NaN nodata)."""
    xr = _xarray()
    return (
        isinstance(grid, xr.DataArray) and grid.dims == ("y", "x") and grid.dtype == np.float64
        and grid.rio.nodata is not None and np.isnan(grid.rio.nodata)
    )  # fmt: skip


def _on_grid(units: np.ndarray, fill: Any, cells: _Cells) -> np.ndarray:
    """A per-unit array spread on the grid, ``fill`` where there is no unit."""
    out = np.full(cells.shape[0] * cells.shape[1], fill, dtype=np.asarray(units).dtype)
    out[cells.flat] = units
    return out.reshape(cells.shape)


#: The GeoTIFFs :func:`write_tiffs` writes: variable, data type, nodata.
TIFFS = {"lisa_class": ("uint8", NODATA_CLASS), "p_sim": ("float32", np.nan)}


def tiff_bytes(result: xr.Dataset, name: str = "lisa_class") -> bytes:
    """One variable of :func:`lisa`'s result as a GeoTIFF (its CRS and transform).

    Classes and quadrants: uint8 with a colour table (GeoDa's colours, nodata 255);
    anything else float32 with NaN as nodata. Deflate-compressed, tiled when large.
    """
    from rasterio.io import MemoryFile

    if name not in result:
        raise InputError(f"name={short(repr(name), 40)} is not a variable of the result.")
    classes = name in ("lisa_class", "quadrant")
    dtype, nodata = ("uint8", NODATA_CLASS) if classes else ("float32", np.nan)
    array = np.asarray(result[name].to_numpy(), dtype=dtype)
    rows, cols = array.shape
    profile: dict[str, Any] = {
        "driver": "GTiff", "height": rows, "width": cols, "count": 1, "dtype": dtype,
        "crs": result.rio.crs, "transform": result.rio.transform(), "nodata": nodata,
        "compress": "deflate",
    }  # fmt: skip
    if min(rows, cols) >= 512:
        profile |= {"tiled": True, "blockxsize": 256, "blockysize": 256}
    with MemoryFile() as memory:
        with memory.open(**profile) as dst:
            if classes:  # before the pixels: GDAL sets the palette interpretation then
                colours = {code: _rgba(LISA_CLASSES[label]) for label, code in CLASS_CODES.items()}
                dst.write_colormap(1, colours | {NODATA_CLASS: (255, 255, 255, 0)})
            dst.write(array, 1)
        return memory.read()


def _rgba(colour: str) -> tuple[int, int, int, int]:
    """``"#rrggbb"`` as an opaque RGBA tuple."""
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), 255)


def write_tiffs(result: xr.Dataset, folder: str | Path) -> list[Path]:
    """Write the class and p-value GeoTIFFs (:data:`TIFFS`) of :func:`lisa` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TIFFS:
        path = folder / f"{name}.tif"
        path.write_bytes(tiff_bytes(result, name))
        written.append(path)
    return written


def class_counts(result: xr.Dataset) -> pd.DataFrame:
    """Cells of each LISA class (``lisa_class``), and of nodata, with their shares."""
    codes = np.bincount(result["lisa_class"].to_numpy().ravel(), minlength=NODATA_CLASS + 1)
    rows = [(label, int(codes[code])) for label, code in CLASS_CODES.items()]
    frame = pd.DataFrame(rows, columns=["lisa_class", "cells"])
    frame["share"] = frame["cells"] / max(int(frame["cells"].sum()), 1)
    return pd.concat(
        [frame, pd.DataFrame([{"lisa_class": "nodata", "cells": int(codes[NODATA_CLASS])}])],
        ignore_index=True,
    )


def class_figure(result: xr.Dataset, *, title: str = "") -> Figure:
    """A map of the LISA classes of :func:`lisa`'s result (geotool's figure style)."""
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from geotool.maps.figure import style

    classes = np.ma.masked_equal(result["lisa_class"].to_numpy(), NODATA_CLASS)
    rows, cols = classes.shape
    left, bottom, right, top = result.rio.bounds()
    counts = class_counts(result).set_index("lisa_class")["cells"]
    with style():
        fig = Figure(figsize=(7.0, min(max(7.0 * rows / cols, 3.0), 10.0) + 0.8))
        ax = fig.subplots()
        cmap = ListedColormap([LISA_CLASSES[label] for label in CLASS_CODES])
        ax.imshow(classes, cmap=cmap, norm=BoundaryNorm(np.arange(-0.5, 5.0), cmap.N),
                  extent=(left, right, bottom, top), interpolation="nearest")  # fmt: skip
        handles = [Patch(color=LISA_CLASSES[label], label=f"{label} ({counts[label]:,})")
                   for label in CLASS_CODES]  # fmt: skip
        ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.9)
        ax.set_title(title or f"LISA clusters: {result.attrs.get('lisa_rule', '')}", fontsize=10)
        ax.tick_params(labelsize=7)
        fig.tight_layout()
    return fig
