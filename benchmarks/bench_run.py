"""Budget: `geotool run` on the bundled default <= 5 s from a cold start, 999 permutations.

Prints, for three fresh runs (median), each leaving as the ``geotool`` command does
(without freeing its heap: ``cli.entry``): the wall time, the CPU time of the process (user +
system, what a loaded shared machine distorts least) and the CPU time of each stage (the
run's ``timings_s`` laps taken on the process clock instead of the wall clock), and, as the
peer measured in the same run, the import floor: a fresh process importing the stack the
run stands on (geopandas, libpysal, esda, folium). Runs and peers alternate.

Also prints the size of every map page the last run wrote (issue 16: <= 1.5 MB).

``--first``: issue 27's first run, in a new pair of caches each time (``NUMBA_CACHE_DIR``,
``GEOTOOL_CACHE_DIR``): the run that compiles the kernels and builds the derived layers,
then the next run in the same caches (budget: first <= 1.3x the next).

Usage: python benchmarks/bench_run.py [--runs N] [--first]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PEER = "import geopandas, libpysal, esda, folium"

#: A fresh process running ``geotool run`` with the stage laps on the process clock, and
#: leaving as the ``geotool`` command does (``cli.entry``: flush, then ``os._exit``).
RUN = """
import gc, json, os, sys, time, types
t0 = time.process_time()
import geotool.pipeline as pipeline
pipeline.time = types.SimpleNamespace(perf_counter=time.process_time)
from geotool import cli
gc.set_threshold(*cli.GC_THRESHOLDS)  # as the command (cli.entry) runs
imported = time.process_time() - t0
code = cli.main(["--quiet", "run", "--out", sys.argv[1], "--permutations", "999"])
summary = json.loads(open(sys.argv[1] + "/summary.json").read())
print(json.dumps({"import": round(imported, 2), **summary["timings_s"]}))
print(json.dumps(summary["maps"]["files"]))
sys.stdout.flush()
os._exit(code)
"""


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall and CPU (user + system) seconds of a command, and its standard output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out


def first_runs(runs: int) -> None:
    """Issue 27: a run with empty numba and geotool caches against the next one (<= 1.3x)."""
    pairs = []
    for i in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            env = os.environ | {"NUMBA_CACHE_DIR": f"{tmp}/numba", "GEOTOOL_CACHE_DIR": f"{tmp}/gt"}
            first = timed([sys.executable, "-c", RUN, f"{tmp}/first"], env)[:2]
            warm = timed([sys.executable, "-c", RUN, f"{tmp}/warm"], env)[:2]
            pairs.append((first, warm))
            print(f"  pair {i + 1}: first {first[0]:.1f} s (CPU {first[1]:.1f}), "
                  f"then {warm[0]:.1f} s (CPU {warm[1]:.1f}); load {os.getloadavg()[0]:.1f}")
    first_wall = statistics.median(p[0][0] for p in pairs)
    warm_wall = statistics.median(p[1][0] for p in pairs)
    print(f"first run (empty numba and geotool caches): median wall {first_wall:.1f} s; the "
          f"next run {warm_wall:.1f} s -> first / next {first_wall / warm_wall:.2f} (budget 1.3)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--first", action="store_true",
                        help="the first run on a machine (empty caches) against the next")
    args = parser.parse_args()
    if args.first:
        first_runs(args.runs)
        return
    runs, stages, peers = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            out = Path(tmp) / f"run{i}"
            wall, cpu, text = timed([sys.executable, "-c", RUN, str(out)])
            runs.append((wall, cpu))
            lines = text.strip().splitlines()
            stages.append(json.loads(lines[-2]))
            pages = json.loads(lines[-1])
            peers.append(timed([sys.executable, "-c", PEER])[:2])
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    peer_wall = statistics.median(p[0] for p in peers)
    peer_cpu = statistics.median(p[1] for p in peers)
    print(
        f"geotool run (999 permutations), fresh process: median wall {wall:.1f} s, "
        f"CPU {cpu:.1f} s of {[round(r[1], 1) for r in runs]} (budget 5 s on a quiet machine)"
    )
    print(
        "CPU per stage (median s): "
        + ", ".join(f"{k} {statistics.median(s[k] for s in stages):.2f}" for k in stages[0])
    )
    print(
        f"peer: importing {PEER[7:]} alone: wall {peer_wall:.2f} s, CPU {peer_cpu:.2f} s "
        f"-> run / peer: wall {wall / peer_wall:.2f}, CPU {cpu / peer_cpu:.2f} (budget 2)"
    )
    print(
        "map pages (MB, budget 1.5 for a national page): "
        + ", ".join(f"{name} {size / 1e6:.2f}" for name, size in pages.items())
    )


if __name__ == "__main__":
    main()
