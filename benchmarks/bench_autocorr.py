"""Autocorrelation budgets, each beside GeoDa's engine (pygeoda) measured in the same run.

Budgets (issue: spatial autocorrelation):
- LISA with 9,999 permutations over all 2,875 county-level units <= 1 s;
- weights for 2,875 units <= 0.5 s;
- the whole autocorrelation stage for the three rankings, in a fresh process, <= 5 s
  (geotool's compiled kernels loaded from numba's on-disk cache, compiled once per
  machine: see bench_cold_start.py).

Usage: python benchmarks/bench_autocorr.py
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def best(func, n=3):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return min(times)


def write_gal(w, path: Path) -> None:
    w.to_gal(path)


def fresh(code: str) -> float:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


# The autocorrelation stage of ``geotool run`` (geotool.pipeline), from the public
# core: global statistics under every sensitivity spec, LISA/Gi* and join counts under the
# default weights, for the three rankings, and the bivariate Moran's I.
STAGE = """
import time; t = time.perf_counter()
from geotool import autocorr, weights
from geotool.report import rankings
for name, spec in rankings.DEFAULT_WEIGHTS.items():
    v = rankings.variables(name)
    autocorr.sensitivity(v["score"], v.index, specs=rankings.SENSITIVITY_SPECS,
                         permutations=999, seed=1)
    w = weights.build(v.index, spec)
    autocorr.local_stats(v["score"], w, permutations=999, seed=1)
    autocorr.join_counts(v["member"], w, permutations=999, seed=1)
counties = rankings.variables("industrial_counties")
other = rankings.variables("innovation_counties", universe=counties.index)["score"]
w = weights.build(counties.index, rankings.DEFAULT_WEIGHTS["industrial_counties"])
autocorr.global_stats(counties["score"], w, permutations=999, seed=1, other=other)
print(time.perf_counter() - t)
"""

PEER_STAGE = """
import time; t = time.perf_counter()
import pygeoda, numpy as np
from geotool.report import rankings
for name, gal in {gals!r}.items():
    v = rankings.variables(name)
    ids = [str(i) for i in v.index]
    w = pygeoda.read_gal(gal, ids)
    pygeoda.local_moran(w, list(v["score"].to_numpy()), permutations=999, seed=1)
    pygeoda.local_gstar(w, list(v["score"].to_numpy()), permutations=999, seed=1)
print(time.perf_counter() - t)
"""


def main() -> None:
    import pygeoda

    from geotool import autocorr, boundaries, weights
    from geotool.report import rankings

    print(f"numba installed: {importlib.util.find_spec('numba') is not None}")
    units = boundaries.load("county")
    ids = units.index
    values = np.log(units["area_km2"]).rename("log_area")

    weights.build(ids, "queen")  # warm caches (data files, imports)
    t_w = best(lambda: weights.build(ids, "queen"), n=5)
    from libpysal.graph import Graph

    t_w_peer = best(lambda: Graph.build_contiguity(units.reset_index(), rook=False), n=1)
    print(
        f"queen weights, 2,875 units: {t_w:.3f} s (budget 0.5 s); libpysal from geometry "
        f"{t_w_peer:.2f} s -> ratio {t_w / t_w_peer:.3f}"
    )

    w = weights.build(ids, "queen")
    with tempfile.TemporaryDirectory() as tmp:
        gal = Path(tmp) / "q.gal"
        write_gal(w, gal)
        gw = pygeoda.read_gal(str(gal), [str(i) for i in w.ids])
        x = list(values.reindex(w.ids).to_numpy())
        t_l = best(
            lambda: autocorr.local_stats(values, w, permutations=9999, seed=1, gi_star=False)
        )
        t_l_peer = best(lambda: pygeoda.local_moran(gw, x, permutations=9999, seed=1))
        print(
            f"LISA, 9,999 permutations, 2,875 units: {t_l:.3f} s (budget 1 s); GeoDa "
            f"{t_l_peer:.3f} s -> ratio {t_l / t_l_peer:.2f}"
        )
        t_g = best(lambda: autocorr.local_stats(values, w, permutations=9999, seed=1))
        t_g_peer = best(lambda: pygeoda.local_gstar(gw, x, permutations=9999, seed=1))
        print(
            f"LISA + Gi*: {t_g:.3f} s; GeoDa LISA + Gi* {t_l_peer + t_g_peer:.3f} s -> ratio "
            f"{t_g / (t_l_peer + t_g_peer):.2f}"
        )

        gals = {}
        for name, spec in rankings.DEFAULT_WEIGHTS.items():
            v = rankings.variables(name)
            wr = weights.build(v.index, spec)
            path = Path(tmp) / f"{name}.gal"
            write_gal(wr, path)
            gals[name] = str(path)
        ours = min(fresh(STAGE) for _ in range(3))
        peer = min(fresh(PEER_STAGE.format(gals=gals)) for _ in range(3))
        print(
            f"whole stage, fresh process (imports included), 999 permutations: {ours:.2f} s "
            f"(budget 5 s)"
        )
        print(
            f"peer, fresh process: GeoDa LISA + Gi* on the three rankings (no global "
            f"statistics, no sensitivity): {peer:.2f} s -> ratio {ours / peer:.2f}"
        )


if __name__ == "__main__":
    main()
