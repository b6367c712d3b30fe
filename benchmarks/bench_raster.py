"""Grid LISA (issue 27): a 3,000 x 3,200 grid (9.6 M cells, China at 1 km), 999 permutations.

Budgets: the whole grid in memory <= 30 s and <= 8 GB; the same GeoTIFF read lazily and
worked in bands of rows through dask (``chunks=``) <= 4 GB; the two give identical
numbers (sha256 of every output variable). Peers measured in the same run, each case in
its own process (time of the measured call; peak RSS of the process, from
``resource.getrusage``, with the peak before the call in brackets):

- weights: rook weights of the grid, ``raster.grid_weights`` against libpysal's raster
  weights, ``weights.raster.da2WSP`` on the whole grid (with ``--da2wsp``) and
  ``Graph.build_raster_contiguity`` on the smaller grid below (numba compiles excluded
  by a warm-up on a 20 x 20 grid);
- reading: ``raster.read_grid`` (masked float64) against ``rioxarray.open_rasterio(...,
  masked=True).load()``;
- local: LISA 999 on a smaller grid (``--esda-rows`` x ``--esda-rows * 16/15``) against
  ``esda.Moran_Local`` with numba on the same rook weights (its compile excluded).

The grid: a smooth field (box-filtered noise, so there are clusters) plus noise, 2% of the
cells nodata in scattered holes, written once as a GeoTIFF (Albers, 1 km) in a temporary
folder. Usage: python benchmarks/bench_raster.py [--rows 3000] [--chunk-rows 300]
[--esda-rows 300] [--da2wsp] [--timeout 900]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ALBERS = "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +datum=WGS84 +units=m +no_defs"

PRELUDE = r"""
import hashlib, json, resource, sys, time
import numpy as np
import rasterio, rioxarray, xarray  # imported before every measured call
PATH, ARGS = {path!r}, {args!r}


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(seconds, before, **extra):
    print(json.dumps({{"s": seconds, "mb": peak_mb(), "before_mb": before, **extra}}))
"""

CASES = {
    "ours whole": r"""
from geotool import raster, _kernels
_kernels.warm_up()
before = peak_mb()
t = time.perf_counter()
ds = raster.lisa(PATH, permutations=999, seed=27)
s = time.perf_counter() - t
digest = {k: hashlib.sha256(ds[k].to_numpy().tobytes()).hexdigest()[:16] for k in ds.data_vars}
counts = np.bincount(ds["lisa_class"].to_numpy().ravel(), minlength=256)[[0, 1, 2, 3, 4, 255]]
report(s, before, digest=digest, classes=counts.tolist(), moran_i=ds.attrs["moran_i"])
""",
    "ours dask": r"""
from geotool import raster, _kernels
_kernels.warm_up()
before = peak_mb()
t = time.perf_counter()
ds = raster.lisa(raster.read_grid(PATH, chunks=ARGS["chunk_rows"]), permutations=999,
                 seed=27, chunks=ARGS["chunk_rows"])
s = time.perf_counter() - t
digest = {k: hashlib.sha256(ds[k].to_numpy().tobytes()).hexdigest()[:16] for k in ds.data_vars}
report(s, before, digest=digest)
""",
    "grid_weights": r"""
from geotool import raster
raster.grid_weights(np.ones((3, 3), bool))  # warm-up: its compiled pass from numba's cache
before = peak_mb()
t = time.perf_counter()
valid = np.isfinite(raster.read_grid(PATH).to_numpy())
t = time.perf_counter()
w = raster.grid_weights(valid, "rook")
report(time.perf_counter() - t, before, links=int(w.sparse.nnz))
""",
    "grid_weights small": r"""
from geotool import raster
rows = ARGS["esda_rows"]
g = raster.read_grid(PATH).isel(y=slice(0, rows), x=slice(0, rows * 16 // 15))
valid = np.isfinite(g.to_numpy())
raster.grid_weights(np.ones((3, 3), bool))  # warm-up: its compiled pass from numba's cache
before = peak_mb()
t = time.perf_counter()
w = raster.grid_weights(valid, "rook")
report(time.perf_counter() - t, before, links=int(w.sparse.nnz))
""",
    "libpysal Graph": r"""
import rioxarray, warnings
from libpysal.graph import Graph
rows = ARGS["esda_rows"]
da = rioxarray.open_rasterio(PATH).isel(y=slice(0, rows), x=slice(0, rows * 16 // 15))
small = da.isel(y=slice(0, 20), x=slice(0, 20))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    Graph.build_raster_contiguity(small, rook=True)  # warm-up (numba)
    before = peak_mb()
    t = time.perf_counter()
    g = Graph.build_raster_contiguity(da, rook=True)
    report(time.perf_counter() - t, before, links=int(g.n_edges) * 2)
""",
    "libpysal da2WSP": r"""
import rioxarray, warnings
from libpysal.weights import raster as lpr
da = rioxarray.open_rasterio(PATH)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    lpr.da2WSP(da.isel(y=slice(0, 20), x=slice(0, 20)), "rook")  # warm-up (numba)
    before = peak_mb()
    t = time.perf_counter()
    w = lpr.da2WSP(da, "rook")
    report(time.perf_counter() - t, before, links=int(w.sparse.nnz))
""",
    "read_grid": r"""
from geotool import raster
before = peak_mb()
t = time.perf_counter()
g = raster.read_grid(PATH)
g.to_numpy()
report(time.perf_counter() - t, before, cells=int(np.isfinite(g.to_numpy()).sum()))
""",
    "rioxarray load": r"""
import rioxarray
before = peak_mb()
t = time.perf_counter()
da = rioxarray.open_rasterio(PATH, masked=True).load()
report(time.perf_counter() - t, before, cells=int(np.isfinite(da.to_numpy()).sum()))
""",
    "ours small": r"""
from geotool import raster, _kernels
_kernels.warm_up()
rows = ARGS["esda_rows"]
g = raster.read_grid(PATH).isel(y=slice(0, rows), x=slice(0, rows * 16 // 15))
before = peak_mb()
t = time.perf_counter()
ds = raster.lisa(g, permutations=999, seed=27)
s = time.perf_counter() - t
report(s, before, significant=int(ds["significant"].to_numpy().sum()))
""",
    "esda small": r"""
import esda, warnings
from geotool import raster
from libpysal.weights import WSP
rows = ARGS["esda_rows"]
g = raster.read_grid(PATH).isel(y=slice(0, rows), x=slice(0, rows * 16 // 15))
valid = np.isfinite(g.to_numpy())
w = WSP(raster.grid_weights(valid, "rook").sparse).to_W(silence_warnings=True)
w.transform = "r"
x = g.to_numpy()[valid]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    tiny = WSP(raster.grid_weights(np.ones((10, 10), bool), "rook").sparse).to_W()
    esda.Moran_Local(np.arange(100.0), tiny, permutations=99, seed=1)  # compile
    before = peak_mb()
    t = time.perf_counter()
    m = esda.Moran_Local(x, w, permutations=999, seed=27)
    s = time.perf_counter() - t
report(s, before, significant=int(((m.p_sim * 2).clip(max=1) <= 0.05).sum()))
""",
}


def _grid(path: Path, rows: int) -> None:
    """The benchmark grid, written as a GeoTIFF (float32, nodata -9999)."""
    import numpy as np
    import rasterio
    from affine import Affine
    from scipy.ndimage import uniform_filter

    cols = rows * 16 // 15
    rng = np.random.default_rng(27)
    smooth = uniform_filter(rng.normal(size=(rows, cols)), size=25) * 25
    values = (smooth + rng.normal(size=(rows, cols))).astype("float32")
    holes = uniform_filter(rng.random((rows, cols)), size=5) > 0.5 + 0.115
    values[holes] = -9999.0
    profile = {
        "driver": "GTiff", "height": rows, "width": cols, "count": 1, "dtype": "float32",
        "crs": ALBERS, "transform": Affine(1000, 0, -2_800_000, 0, -1000, 6_000_000),
        "nodata": -9999.0, "compress": "deflate", "tiled": True,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    print(f"grid {rows} x {cols} = {rows * cols:,} cells, {holes.mean():.1%} nodata -> {path}")


def _case(name: str, path: Path, args: dict, timeout: float) -> dict:
    code = PRELUDE.format(path=str(path), args=args) + CASES[name]
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"error": f"stopped at {timeout:.0f} s"}
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1][:200]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _line(name: str, r: dict, peer: dict | None = None) -> str:
    if "error" in r:
        return f"  {name:<16} {r['error']}"
    text = f"  {name:<16} {r['s']:8.2f} s  {r['mb']:7.0f} MB ({r['before_mb']:.0f})"
    if peer and "error" not in peer:
        text += f"   x{r['s'] / peer['s']:.1f} of geotool's time"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--chunk-rows", type=int, default=300)
    parser.add_argument("--esda-rows", type=int, default=300)
    parser.add_argument("--da2wsp", action="store_true")
    parser.add_argument("--timeout", type=float, default=900)
    opts = parser.parse_args()
    args = {"chunk_rows": opts.chunk_rows, "esda_rows": opts.esda_rows}
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} | {platform.processor() or ''}"
        f" {os.cpu_count()} cores, Python {platform.python_version()}; load {os.getloadavg()}"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grid.tif"
        _grid(path, opts.rows)
        names = [n for n in CASES if n != "libpysal da2WSP" or opts.da2wsp]
        for name in names:
            results[name] = _case(name, path, args, opts.timeout)
            print(f"  ... {name}: done, load {os.getloadavg()[0]:.1f}", flush=True)
    whole, dask = results["ours whole"], results["ours dask"]
    print("\nLISA 999 permutations, rook, whole grid vs bands of", opts.chunk_rows, "rows")
    print(_line("whole", whole))
    print(_line("dask bands", dask))
    same = "error" not in whole and whole.get("digest") == dask.get("digest")
    print(f"  identical outputs (sha256 of {len(whole.get('digest', {}))} variables): {same}")
    if "classes" in whole:
        print(
            f"  classes NS/HH/LL/LH/HL/nodata {whole['classes']}; Moran's I {whole['moran_i']:.4f}"
        )
    print("\nweights (rook), reading, and LISA against esda on a smaller grid")
    for ours, peers in (
        ("grid_weights", ("libpysal da2WSP",)),
        ("grid_weights small", ("libpysal Graph",)),
        ("read_grid", ("rioxarray load",)),
        ("ours small", ("esda small",)),
    ):
        links = results[ours].get("links")
        print(_line(ours, results[ours]) + (f"  ({links:,} links)" if links else ""))
        for peer in peers:
            if peer in results:
                print(_line(peer, results[peer], results[ours]))
    ok = [
        ("whole <= 30 s", "error" not in whole and whole["s"] <= 30),
        ("whole <= 8 GB", "error" not in whole and whole["mb"] <= 8 * 1024),
        ("dask <= 4 GB", "error" not in dask and dask["mb"] <= 4 * 1024),
        ("identical", same),
    ]
    print("\nbudgets: " + ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in ok))
    print(f"load average at the end {os.getloadavg()}")
    return 0 if all(v for _, v in ok) else 1


if __name__ == "__main__":
    sys.exit(main())
