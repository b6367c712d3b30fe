"""Every budget of issue 16 in one command, one report: what ``benchmarks/README.md`` quotes.

Runs, one after the other (each prints its own peers and ratios, measured in the same
minutes):

1. ``bench_scale.py``: weights, global statistics (I, C, G) and LISA, geotool against
   libpysal, esda (with and without numba) and pygeoda, at 2,875 units and on lattices of
   10^4, 10^5 and 10^6 cells: time and peak memory;
2. ``bench_gradient.py``: the tier gradient test against scipy;
3. ``bench_run.py``: ``geotool run`` cold, its stages, the import floor, the map pages'
   sizes;
4. ``bench_batch.py``: a batch serially and on local dask clusters of 1 and 2 workers;
5. ``bench_cold_start.py``: the kernels compile in the first process on a machine and
   load from numba's cache in the next (with ``--quick``: skipped, it compiles twice);
6. ``bench_maps.py``: a national page's size and load time in headless Chromium (skipped
   with a note where Debian's ``chromium`` is not installed).

Usage: python benchmarks/bench_all.py [--quick] [--timeout 600]
(``--quick``: the scale cases at 2,875 and 10^4 units only, one round of each of the
others; the full report takes about 30 minutes on a quiet 2-core machine.)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def section(title: str, script: str, args: list[str]) -> int:
    """Run one benchmark script, its output passed through; its exit status."""
    print(f"\n## {title}: python benchmarks/{script} {' '.join(args)}".rstrip(), flush=True)
    t = time.perf_counter()
    status = subprocess.run([sys.executable, str(HERE / script), *args], check=False).returncode
    print(f"({script}: {time.perf_counter() - t:.0f} s, exit {status})", flush=True)
    return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--timeout", default="600", help="seconds per scale case")
    args = parser.parse_args()
    quick = ["--quick"] if args.quick else []
    statuses = [
        section("Scale", "bench_scale.py", [*quick, "--timeout", args.timeout]),
        section("Gradient test", "bench_gradient.py", []),
        section("geotool run", "bench_run.py", ["--runs", "3" if args.quick else "5"]),
        section("Batch on dask", "bench_batch.py", ["--repeat", "1" if args.quick else "2"]),
    ]
    if not args.quick:
        statuses.append(section("First process and the next", "bench_cold_start.py", []))
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        statuses.append(section("Map pages in a browser", "bench_maps.py", []))
    else:
        print("\n## Map pages in a browser: skipped (no chromium on this machine)")
    sys.exit(max(statuses))


if __name__ == "__main__":
    main()
