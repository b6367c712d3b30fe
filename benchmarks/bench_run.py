"""Budget: `geotool run` on the bundled default <= 15 s wall from a cold start, 999 permutations.

Prints the wall time of three fresh runs (median), how the time divides between stages
(from summary.json), and, as the peer measured in the same run, the time a fresh process
takes just to import the stack the run stands on (pandas, geopandas, shapely, pyproj,
folium, matplotlib, networkx, scipy).

Usage: python benchmarks/bench_run.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PEER = (
    "import pandas, geopandas, shapely, pyproj, folium, matplotlib.pyplot, networkx, "
    "scipy.sparse, pyarrow.parquet"
)


def wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runs, stages = [], []
        for i in range(3):
            out = Path(tmp) / f"run{i}"
            runs.append(
                wall(["geotool", "--quiet", "run", "--out", str(out), "--permutations", "999"])
            )
            stages.append(json.loads((out / "summary.json").read_text())["timings_s"])
        peer = statistics.median(wall([sys.executable, "-c", PEER]) for _ in range(3))
    med = statistics.median(runs)
    print(
        f"geotool run (999 permutations), fresh process: median {med:.1f} s of "
        f"{[round(r, 1) for r in runs]} (budget 15 s)"
    )
    keys = stages[0].keys()
    print(
        "stages (median s): "
        + ", ".join(f"{k} {statistics.median(s[k] for s in stages):.2f}" for k in keys)
    )
    print(f"peer: importing the stack alone {peer:.2f} s -> run / peer {med / peer:.1f}")


if __name__ == "__main__":
    main()
