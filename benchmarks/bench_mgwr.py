"""GWR and MGWR on Baltimore house prices: geotool.regress.fit beside mgwr itself.

Data: libpysal's ``baltim`` (211 house sales, Dubin 1992), ``PRICE ~ NROOM + SQFT``, the
points' own coordinates. Peer: mgwr called directly in the same process, as geotool calls
it (``Sel_BW`` by AICc, one process; MGWR on standardised variables), so the ratio is
geotool's overhead (formula, guards, tidy frames, corrected significance). Each is timed
as the best of ``--repeat`` runs after a warm-up fit (mgwr compiles its kernels with
numba on the first fit: 100 s of the first GWR under load), wall and CPU (the CPU ratio
is the one a shared machine does not blur; the load average is printed), the two taking
turns, after both libraries are imported; peak memory is tracemalloc's peak over one
more run of each (Python and numpy allocations), apart from the timings it would slow.

Budget (issue 25): the CPU ratio geotool / mgwr <= 1.10 for both; MGWR on baltim within
120 CPU seconds, GWR within 15 (CPU, not wall: at a load of 22 on 2 cores a GWR fit of
10 CPU seconds took 86 s of wall time).

Usage: python benchmarks/bench_mgwr.py [--repeat 2] [--formula "PRICE ~ NROOM + SQFT"]
[--kinds gwr,mgwr] [--no-memory]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

BUDGET_CPU_S = {"gwr": 15.0, "mgwr": 120.0}
BUDGET_RATIO = 1.10


def _mgwr(kind: str, xy: np.ndarray, y: np.ndarray, x: np.ndarray) -> Any:
    """mgwr called directly, as the peer: bandwidth(s) by AICc, then the fit."""
    from mgwr.gwr import GWR, MGWR
    from mgwr.sel_bw import Sel_BW

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if kind == "mgwr":
            y = (y - y.mean()) / y.std()
            x = (x - x.mean(axis=0)) / x.std(axis=0)
        selector = Sel_BW(xy, y, x, multi=kind == "mgwr", n_jobs=1)
        bw = selector.search(criterion="AICc")
        if kind == "mgwr":
            return MGWR(xy, y, x, selector, n_jobs=1).fit()
        return GWR(xy, y, x, float(bw), n_jobs=1).fit()


def _timed(calls: list[Callable[[], Any]], repeat: int) -> tuple[list[tuple[float, float]], list]:
    """The best (wall, CPU) seconds of each call over ``repeat`` turns, and their results."""
    best = [(float("inf"), float("inf"))] * len(calls)
    out: list[Any] = [None] * len(calls)
    for _ in range(repeat):
        for i, call in enumerate(calls):
            wall, cpu = time.perf_counter(), time.process_time()
            out[i] = call()
            now = (time.perf_counter() - wall, time.process_time() - cpu)
            best[i] = (min(best[i][0], now[0]), min(best[i][1], now[1]))
    return best, out


def _peak_mb(call: Callable[[], Any]) -> float:
    """tracemalloc's peak over one call, in MB."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--formula", default="PRICE ~ NROOM + SQFT")
    parser.add_argument("--kinds", default="gwr,mgwr", help="gwr, mgwr or both")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    args = parser.parse_args()

    import os

    import formulaic  # noqa: F401  (imported before the clocks start, as mgwr is)
    import geopandas as gpd
    import mgwr.gwr
    import mgwr.kernels
    import mgwr.sel_bw
    from libpysal import examples

    from geotool import regress

    baltim = gpd.read_file(examples.get_path("baltim.shp"))
    y_name, terms = (s.strip() for s in args.formula.split("~"))
    xy = baltim[["X", "Y"]].to_numpy(float)
    y = baltim[[y_name]].to_numpy(float)
    x = baltim[[t.strip() for t in terms.split("+")]].to_numpy(float)
    start = time.perf_counter()
    mgwr.kernels.local_cdist(xy[0], xy, False)  # mgwr's distances: numba compiles them once
    warm = time.perf_counter() - start
    print(f"baltim: {len(baltim)} houses, {args.formula}, best of {args.repeat}; "
          f"warm-up (numba compiles mgwr's local_cdist) {warm:.1f} s")  # fmt: skip
    ok = True
    for kind in args.kinds.split(","):
        load = os.getloadavg()[0]
        times, (fit, ref) = _timed(
            [lambda k=kind: regress.fit(baltim, args.formula, kind=k),
             lambda k=kind: _mgwr(k, xy, y, x)],
            args.repeat,
        )  # fmt: skip
        (t_ours, c_ours), (t_peer, c_peer) = times
        same = np.allclose(fit.local.filter(like="est_").to_numpy(), ref.params, atol=1e-8)
        bw = fit.coefficients["bandwidth"].to_numpy()
        ref_bw = np.atleast_1d(getattr(ref.model, "bws", None) if kind == "mgwr" else ref.model.bw)
        same = same and np.allclose(bw if kind == "mgwr" else bw[:1], ref_bw)
        m_ours = m_peer = float("nan")
        if not args.no_memory:
            m_ours = _peak_mb(lambda k=kind: regress.fit(baltim, args.formula, kind=k))
            m_peer = _peak_mb(lambda k=kind: _mgwr(k, xy, y, x))
        ratio = c_ours / c_peer
        within = c_ours <= BUDGET_CPU_S[kind] and ratio <= BUDGET_RATIO
        ok = ok and within and same
        print(
            f"{kind.upper():4s} geotool {t_ours:.2f} s (CPU {c_ours:.2f}), peak {m_ours:.1f} MB"
            f" | mgwr {t_peer:.2f} s (CPU {c_peer:.2f}), peak {m_peer:.1f} MB"
            f" | CPU ratio {ratio:.3f} (wall {t_ours / t_peer:.3f}) | load {load:.1f}"
            f" | bandwidth(s) {bw.tolist()}"
            f" | same estimates {same}"
            f" | budget {BUDGET_CPU_S[kind]:g} s CPU, ratio <= {BUDGET_RATIO}:"
            f" {'met' if within else 'NOT met'}"
        )
    print("all budgets met" if ok else "a budget NOT met (see above)")


if __name__ == "__main__":
    main()
