"""Scale: geotool against esda, esda+numba, pygeoda and libpysal, in one run.

Cases, each in a fresh subprocess (time of the measured call, and the process's peak
resident memory from ``resource.getrusage``, set-up included, with the peak before the
measured call in brackets):

- weights: rook contiguity (queen for the county layer) from polygons: geotool
  (``weights.build``), libpysal (``Graph.build_contiguity``), pygeoda (``rook_weights``);
- global: Moran's I, Geary's C and General G with ``--permutations`` (geotool computes
  the three in one call; esda takes three calls, also timed for Moran alone);
- local: LISA (local Moran) with ``--permutations``: geotool, esda ``Moran_Local`` with
  numba (its compiled kernels) and without (numba hidden from esda: its numpy path),
  pygeoda ``local_moran``;
- local+ (issue 27): LISA with Gi* and local Geary, as a run computes them: geotool
  (``local_stats`` and ``local_geary``), esda+numba (``Moran_Local``, ``G_Local(star=True)``,
  ``Geary_Local``).

Layers: the county layer (2,875 units, bundled weights) and regular lattices of 10^4,
10^5 and 10^6 square cells (rook). Compilation is excluded: every process first runs
its tool once on a 10 x 10 lattice (geotool loads its cached kernels; esda compiles its
numba kernels, which it does not cache). geotool uses numba's default thread count
(every core); esda runs with its default ``n_jobs=1``; pygeoda with its default.

A peer whose estimated time (its time at the size below, scaled by the number of
units) exceeds ``--timeout`` is skipped with a note, and any case is stopped at it.
``--repeat N`` times the call N times in its process and keeps the best (the machine is
shared); the load average is printed with every row, and with ``--cpu`` the CPU
seconds of the timed call (all its threads: on a loaded machine the wall time is
mostly waiting).

``--base DIR`` adds ``geotool@base``, geotool's cases run from another checkout (its
``PYTHONPATH``, its own numba cache under the temporary folder, no bytecode written there),
just before this checkout's in every row: before and after in the same minutes; ``--rounds
N`` runs every row N times.

Usage: python benchmarks/bench_scale.py [--quick] [--permutations 999] [--timeout 600]
[--kinds weights,global,local,local+] [--sizes county,10000,100000,1000000] [--repeat 1]
[--tools geotool,esda+numba] [--cpu] [--base DIR] [--rounds 1]
(``--quick``: the county layer and the 10^4 lattice only).
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

SHAPES = {10_000: (100, 100), 100_000: (250, 400), 1_000_000: (1000, 1000)}

SETUP = r"""
import json, resource, sys, time
if {hide_numba}:
    sys.modules["numba"] = None  # esda falls back to its numpy path
import numpy as np
import pandas as pd

LAYER, P, TMP, REPEAT = {layer!r}, {permutations}, {tmp!r}, {repeat}


def lattice_sparse(rows, cols):
    import scipy.sparse as sp
    n = rows * cols
    r, c = np.divmod(np.arange(n), cols)
    src, dst = [], []
    for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        ok = (r + dr >= 0) & (r + dr < rows) & (c + dc >= 0) & (c + dc < cols)
        src.append(np.flatnonzero(ok))
        dst.append((r[ok] + dr) * cols + c[ok] + dc)
    src, dst = np.concatenate(src), np.concatenate(dst)
    return sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))


def lattice_polygons(rows, cols):
    import geopandas as gpd
    import shapely
    r, c = np.divmod(np.arange(rows * cols), cols)
    return gpd.GeoDataFrame(geometry=shapely.box(c, r, c + 1, r + 1), crs="EPSG:3857")


def layer_weights(layer):
    # geotool Weights over the layer: the bundled queen weights, or a rook lattice
    from geotool import boundaries, weights
    if layer == "county":
        units = boundaries.load("county")
        w = weights.build(units.index, "queen")
        values = np.log(units["area_km2"].reindex(w.ids).to_numpy())
        return w, values
    rows, cols = layer
    n = rows * cols
    w = weights.Weights(sparse=lattice_sparse(rows, cols), spec="rook", ids=pd.RangeIndex(n))
    rng = np.random.default_rng(0)
    values = rng.random(n) + np.arange(n) // cols / rows  # a north-south trend, positive
    return w, values


def report(seconds, setup_peak, cpu=float("nan")):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({{"seconds": seconds, "peak_mb": peak, "setup_mb": setup_peak / 1024,
                      "cpu": cpu}}))
"""

CODE = {
    # ---------------------------------------------------------------- weights
    ("weights", "geotool"): r"""
from geotool import boundaries, weights
if LAYER == "county":
    ids = boundaries.load("county").index
    weights.build(ids, "queen")  # warm the data files
    run = lambda: weights.build(ids, "queen")
else:
    weights.build(lattice_polygons(10, 10), "rook")
    geo = lattice_polygons(*LAYER)
    run = lambda: weights.build(geo, "rook")
""",
    ("weights", "libpysal"): r"""
from libpysal.graph import Graph
from geotool import boundaries
Graph.build_contiguity(lattice_polygons(10, 10), rook=True)
if LAYER == "county":
    geo = boundaries.load("county").reset_index()
    run = lambda: Graph.build_contiguity(geo, rook=False)
else:
    geo = lattice_polygons(*LAYER)
    run = lambda: Graph.build_contiguity(geo, rook=True)
""",
    ("weights", "pygeoda"): r"""
import pygeoda
from geotool import boundaries
pygeoda.rook_weights(pygeoda.open(lattice_polygons(10, 10)))
if LAYER == "county":
    gd = pygeoda.open(boundaries.load("county").reset_index()[["geometry"]])
    run = lambda: pygeoda.queen_weights(gd)
else:
    gd = pygeoda.open(lattice_polygons(*LAYER))
    run = lambda: pygeoda.rook_weights(gd)
""",
    # ---------------------------------------------------------------- global
    ("global", "geotool"): r"""
from geotool import _kernels, autocorr
_kernels.warm_up()
w, values = layer_weights(LAYER)
s = pd.Series(values, index=w.ids)
small = layer_weights((10, 10))[0]
autocorr.global_stats(pd.Series(np.arange(100.0)), small, permutations=99, seed=1)
run = lambda: autocorr.global_stats(s, w, permutations=P, seed=1)
""",
    ("global", "esda I, C, G"): r"""
import esda
from libpysal.graph import Graph
ws = Graph.from_sparse(lattice_sparse(10, 10))
esda.Moran(np.arange(100.0), ws, permutations=99)
w, values = layer_weights(LAYER)
g = Graph.from_sparse(w.sparse)
def run():
    esda.Moran(values, g, permutations=P)
    esda.Geary(values, g, permutations=P)
    esda.G(values, g, permutations=P)
""",
    ("global", "esda Moran only"): r"""
import esda
from libpysal.graph import Graph
esda.Moran(np.arange(100.0), Graph.from_sparse(lattice_sparse(10, 10)), permutations=99)
w, values = layer_weights(LAYER)
g = Graph.from_sparse(w.sparse)
run = lambda: esda.Moran(values, g, permutations=P)
""",
    # ------------------------------------------------- local+ (issue 27)
    ("local+", "geotool"): r"""
from geotool import _kernels, autocorr, weights
_kernels.warm_up()
small, s100 = layer_weights((10, 10))[0], pd.Series(np.arange(100.0))
autocorr.local_stats(s100, small, permutations=99, seed=1)
autocorr.local_geary(s100, small, permutations=99, seed=1)
w, values = layer_weights(LAYER)
s = pd.Series(values, index=w.ids)
def run():  # new weights each call: what they cache (row-standardised) is made in the call
    fresh = weights.Weights(sparse=w.sparse, spec=w.spec, ids=w.ids)
    autocorr.local_stats(s, fresh, permutations=P, seed=1)
    autocorr.local_geary(s, fresh, permutations=P, seed=1)
""",
    ("local+", "esda+numba"): r"""
import warnings
warnings.simplefilter("ignore")
import esda
import numba  # noqa: F401 (esda's conditional randomisation compiles with it)
from libpysal.graph import Graph
def tools(x, g):
    esda.Moran_Local(x, g, permutations=P, seed=1)
    esda.G_Local(x, g, star=True, permutations=P, seed=1)
    esda.Geary_Local(connectivity=g, permutations=P, seed=1).fit(x)
tools(np.arange(100.0), Graph.from_sparse(lattice_sparse(10, 10)))
w, values = layer_weights(LAYER)
g = Graph.from_sparse(w.sparse)
run = lambda: tools(values, g)
""",
    # ---------------------------------------------------------------- local
    ("local", "geotool"): r"""
from geotool import _kernels, autocorr
_kernels.warm_up()
small = layer_weights((10, 10))[0]
autocorr.local_stats(pd.Series(np.arange(100.0)), small, permutations=99, seed=1,
                     gi_star=False)
w, values = layer_weights(LAYER)
s = pd.Series(values, index=w.ids)
run = lambda: autocorr.local_stats(s, w, permutations=P, seed=1, gi_star=False)
""",
    ("local", "esda+numba"): r"""
import esda
import numba  # noqa: F401 (esda's conditional randomisation compiles with it)
from libpysal.graph import Graph
esda.Moran_Local(np.arange(100.0), Graph.from_sparse(lattice_sparse(10, 10)),
                 permutations=99, seed=1)
w, values = layer_weights(LAYER)
g = Graph.from_sparse(w.sparse)
run = lambda: esda.Moran_Local(values, g, permutations=P, seed=1)
""",
    ("local", "esda (numpy)"): r"""
import esda
from libpysal.graph import Graph
esda.Moran_Local(np.arange(100.0), Graph.from_sparse(lattice_sparse(10, 10)),
                 permutations=99, seed=1)
w, values = layer_weights(LAYER)
g = Graph.from_sparse(w.sparse)
run = lambda: esda.Moran_Local(values, g, permutations=P, seed=1)
""",
    ("local", "pygeoda"): r"""
import pygeoda
small = layer_weights((10, 10))[0]
small.to_gal(TMP + "/small.gal")
pygeoda.local_moran(pygeoda.read_gal(TMP + "/small.gal", [str(i) for i in small.ids]),
                    list(np.arange(100.0)), permutations=99, seed=1)
w, values = layer_weights(LAYER)
w.to_gal(TMP + "/w.gal")
gw = pygeoda.read_gal(TMP + "/w.gal", [str(i) for i in w.ids])
x = list(values)
run = lambda: pygeoda.local_moran(gw, x, permutations=P, seed=1)
""",
}

TIMED = r"""
setup_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
best, best_cpu = float("inf"), float("nan")
for _ in range(REPEAT):
    t, c = time.perf_counter(), time.process_time()
    run()
    if time.perf_counter() - t < best:  # the CPU seconds (every thread) of the best call
        best, best_cpu = time.perf_counter() - t, time.process_time() - c
report(best, setup_peak, best_cpu)
"""


BASE = "geotool@base"
#: This checkout: every case but the base runs in it (and so imports its geotool).
HERE = Path(__file__).resolve().parents[1]


def _base_env(base: str) -> dict[str, str]:
    """The environment of a case run from the checkout ``base`` (nothing written there)."""
    cache = Path(tempfile.gettempdir()) / f"geotool-bench-base-numba-{os.getuid()}"
    return os.environ | {
        "PYTHONPATH": str(Path(base).resolve()),
        "NUMBA_CACHE_DIR": str(cache),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def run_case(
    kind: str, tool: str, layer, permutations: int, timeout: float, *, repeat: int = 1,
    base: str = "",
) -> dict:  # fmt: skip
    ours = tool in ("geotool", BASE)
    with tempfile.TemporaryDirectory() as tmp:
        code = SETUP.format(
            layer=layer,
            permutations=permutations,
            tmp=tmp,
            hide_numba=tool == "esda (numpy)",
            repeat=repeat if ours else 1,
        )
        code += CODE[kind, "geotool" if ours else tool] + TIMED
        try:
            proc = subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env=_base_env(base) if tool == BASE else None,
                # ``python -c`` imports from its working folder before PYTHONPATH
                cwd=Path(base).resolve() if tool == BASE else HERE,
            )
        except subprocess.TimeoutExpired:
            return {"note": f"stopped at {timeout:.0f} s"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"note": f"failed: {last[:120]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="county layer and 10^4 only")
    parser.add_argument("--permutations", type=int, default=999)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per case")
    parser.add_argument("--kinds", default="weights,global,local,local+")
    parser.add_argument("--sizes", default="", help="e.g. 100000,1000000 (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="geotool's calls; best kept")
    parser.add_argument("--tools", default="", help="e.g. geotool,esda+numba (default: all)")
    parser.add_argument(
        "--cpu", action="store_true", help="also the CPU seconds of the call (every thread)"
    )
    parser.add_argument("--base", default="", help="checkout of the engine before, run alike")
    parser.add_argument("--rounds", type=int, default=1, help="runs of every row")
    args = parser.parse_args()
    from importlib.metadata import version

    # No heavy import here: a child's peak RSS starts at its parent's (Linux keeps
    # ru_maxrss across fork and exec), so this process stays small.
    sizes = ["county", 10_000] if args.quick else ["county", 10_000, 100_000, 1_000_000]
    if args.sizes:
        sizes = [v if v == "county" else int(v) for v in args.sizes.split(",")]
    print(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "|", machine())
    print("load average (1, 5, 15 min): " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
    print(
        f"esda {version('esda')}, numba {version('numba')}, pygeoda {version('pygeoda')}, "
        f"{args.permutations} permutations; time of the call (s), peak RSS of the process "
        "(MB; before the call in brackets)"
    )
    for kind in args.kinds.split(","):
        tools = [t for k, t in CODE if k == kind and (not args.tools or t in args.tools.split(","))]
        if args.base and "geotool" in tools:
            tools.insert(tools.index("geotool"), BASE)  # before, then after
        print(f"\n{kind}")
        print(f"{'units':>10} " + " ".join(f"{t:>24}" for t in tools))
        last: dict[str, tuple[int, float]] = {}
        for size in [v for v in sizes for _ in range(args.rounds)]:
            n = 2875 if size == "county" else size
            layer = "county" if size == "county" else SHAPES[size]
            cells = []
            ours = None
            for tool in tools:
                prev = last.get(tool)
                estimate = prev[1] * n / prev[0] if prev else 0.0
                if estimate > args.timeout:
                    cells.append(f"skipped (~{estimate:.0f} s)")
                    continue
                res = run_case(
                    kind, tool, layer, args.permutations, args.timeout, repeat=args.repeat,
                    base=args.base,
                )
                if "seconds" not in res:
                    cells.append(res["note"])
                    last[tool] = (n, float("inf"))
                    continue
                last[tool] = (n, res["seconds"])
                ratio = ""
                if tool == "geotool":
                    ours = res["seconds"]
                    base_n, before = last.get(BASE, (0, 0.0)) if args.base else (0, 0.0)
                    before = before if base_n == n else 0.0  # a skipped base: no ratio
                    ratio = f" x{before / ours:.2f}" if before and before < float("inf") else ""
                elif ours:
                    ratio = f" x{res['seconds'] / ours:.1f}"
                cpu = f" cpu {res['cpu']:.2f}s" if args.cpu else ""
                cells.append(
                    f"{res['seconds']:.2f}s{cpu} {res['peak_mb']:.0f}({res['setup_mb']:.0f})MB"
                    f"{ratio}"
                )
            label = "2,875 cty" if size == "county" else f"{n:,}"
            load = f"  (load {os.getloadavg()[0]:.1f})"
            print(f"{label:>10} " + " ".join(f"{c:>24}" for c in cells) + load, flush=True)
    print(
        f"\nxN: the peer's time over geotool's (N > 1: geotool faster; on geotool's cell with "
        f"--base, the time before over the time after); geotool's time the best of "
        f"{args.repeat} calls in its process, the peers' one call."
    )


if __name__ == "__main__":
    main()
