"""Budget (issue 24): `geotool run --figures png,svg,pdf` <= 2x the plain run; light files.

Runs the bundled report plainly and with ``--figures png,svg,pdf`` in alternating pairs
(plain, figures, plain, figures ...; pairing keeps the ratio meaningful while a shared
machine's speed drifts), each in a fresh process. Prints each pair's wall and CPU
(user + system, the forked figure worker included) seconds, the median ratio
figures/plain of both, the load average, and the largest SVG and PDF the figure runs
wrote. Exits 1 when the median wall ratio is over 2,
an SVG is over 2 MB or a PDF over 1.5 MB.

``--map``: only the CPU seconds of one county map, drawn and written in each format, in
this process (where a figure's time goes).

Usage: python benchmarks/bench_print.py [--pairs N] [--dpi DPI] [--warmup N] [--map]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SVG_LIMIT = 2_000_000
PDF_LIMIT = 1_500_000
RATIO_LIMIT = 2.0


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system, children) seconds of a command that must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def largest(folder: Path, ext: str) -> tuple[int, str]:
    """The largest file of ``ext`` under ``folder``/figures: its size and name."""
    files = [(p.stat().st_size, p.name) for p in (folder / "figures").glob(f"*.{ext}")]
    return max(files) if files else (0, "-")


def one_map(dpi: int, repeat: int = 4) -> None:
    """CPU seconds of one county map (a value map): drawing, then each format.

    In this process, after a first map (caches, fonts); the best of ``repeat``.
    """
    import numpy as np
    import pandas as pd

    from geotool import boundaries
    from geotool.maps import static
    from geotool.maps.figure import figure_files

    units = boundaries.load("county")
    values = pd.Series(np.random.default_rng(0).lognormal(size=len(units)), index=units.index)

    def draw() -> Any:
        return static.value_figure(values, label="x", lang="zh")

    figure_files(draw(), ("png", "svg", "pdf"), dpi=dpi)
    best: dict[str, float] = {}
    for _ in range(repeat):
        t = time.process_time()
        fig = draw()
        lap = {"draw": time.process_time() - t}
        for fmt in ("png", "svg", "pdf"):
            t = time.process_time()
            figure_files(fig, (fmt,), dpi=dpi)
            lap[fmt] = time.process_time() - t
        best = {k: min(v, best.get(k, v)) for k, v in lap.items()}
    cells = ", ".join(f"{k} {v:.2f}" for k, v in best.items())
    print(f"one county map, {dpi} dpi, CPU s (best of {repeat}): {cells}; "
          f"total {sum(best.values()):.2f}")  # fmt: skip


def main() -> int:
    """Time the pairs, print the table and the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--dpi", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=1, help="plain runs not counted")
    parser.add_argument("--map", action="store_true", help="only time one county map")
    args = parser.parse_args()
    if args.map:
        one_map(args.dpi)
        return 0
    geotool = [sys.executable, "-m", "geotool.cli", "--quiet", "run"]
    walls, cpus = [], []
    with tempfile.TemporaryDirectory(prefix="bench_print_") as tmp:
        plain, figs = Path(tmp) / "plain", Path(tmp) / "figures"
        for _ in range(args.warmup):  # caches, numba, fonts
            timed([*geotool, "--out", str(plain)])
        print(f"{'pair':>4} {'plain s':>9} {'figures s':>10} {'wall x':>7} {'plain cpu':>10} "
              f"{'figures cpu':>12} {'cpu x':>6}  load")  # fmt: skip
        for i in range(args.pairs):
            w0, c0 = timed([*geotool, "--out", str(plain)])
            w1, c1 = timed([*geotool, "--out", str(figs), "--figures", "png,svg,pdf",
                            "--dpi", str(args.dpi)])  # fmt: skip
            walls.append(w1 / w0)
            cpus.append(c1 / c0)
            load = " ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"{i + 1:>4} {w0:>9.1f} {w1:>10.1f} {w1 / w0:>7.2f} {c0:>10.1f} {c1:>12.1f} "
                  f"{c1 / c0:>6.2f}  {load}")  # fmt: skip
        svg, pdf = largest(figs, "svg"), largest(figs, "pdf")
        n = len(list((figs / "figures").glob("*.svg")))
    ratio = statistics.median(walls)
    print(f"median ratio figures/plain: wall {ratio:.2f} (budget {RATIO_LIMIT}), "
          f"cpu {statistics.median(cpus):.2f}")  # fmt: skip
    print(f"{n} figures; largest SVG {svg[0] / 1e6:.2f} MB ({svg[1]}), "
          f"largest PDF {pdf[0] / 1e6:.2f} MB ({pdf[1]})")  # fmt: skip
    over = [
        *(["wall ratio"] if ratio > RATIO_LIMIT else []),
        *(["SVG size"] if svg[0] > SVG_LIMIT else []),
        *(["PDF size"] if pdf[0] > PDF_LIMIT else []),
    ]
    print("over budget: " + ", ".join(over) if over else "within budget")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
