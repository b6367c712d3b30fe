"""Cost of writing a run as a transaction (geotool._outdir) instead of file by file.

A run shaped like ``geotool run``'s output (45 files, about 12 MB: 4 maps of 2.5 MB,
20 figures of 80 kB, 21 tables of 20 kB) is written over a previous run, into a folder
that also holds 100 files of the user's. Prints the median of 11 repetitions of

* the peer: the same files written straight into the folder with ``write_atomic``;
* writing them into the staging folder (``OutputFolder.write``);
* publishing (``__exit__``: manifest, linking the user's files in, two renames), the part
  of it spent hashing the files for the manifest, and the two renames themselves.

Usage: python benchmarks/bench_outdir.py
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from geotool import _outdir
from geotool._atomic import write_atomic
from geotool._outdir import OutputFolder

FILES = (
    [(f"maps/map{i}.html", 2_500_000) for i in range(4)]
    + [(f"figures/fig{i}.png", 80_000) for i in range(20)]
    + [(f"tables/table{i}.csv", 20_000) for i in range(21)]
)
DATA = {rel: os.urandom(size) for rel, size in FILES}


STEPS: dict[str, float] = {}


def one(out: Path) -> tuple[float, float, float, float, float]:
    _outdir._publish_hook = lambda step: STEPS.__setitem__(step, time.perf_counter())
    t0 = time.perf_counter()
    for rel, data in DATA.items():
        write_atomic(out.parent / "peer" / rel, data)
    t1 = time.perf_counter()
    folder = OutputFolder(out).__enter__()
    t2 = time.perf_counter()
    for rel, data in DATA.items():
        folder.write(rel, data)
    t3 = time.perf_counter()
    hashing = sum(_time_hash(p) for p in folder.staging.rglob("*") if p.is_file())
    t4 = time.perf_counter()
    folder.__exit__(None, None, None)
    t5 = time.perf_counter()
    commit = STEPS["published"] - STEPS["carried"]
    return t1 - t0, t3 - t2, t5 - t4, hashing, commit


def _time_hash(path: Path) -> float:
    t = time.perf_counter()
    _outdir._sha256(path)
    return time.perf_counter() - t


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        for i in range(50):
            for sub in ("", "tables/"):
                (out / sub).mkdir(parents=True, exist_ok=True)
                (out / f"{sub}user{i}.txt").write_text("mine")
        times = [one(out) for _ in range(11)]
        peer, write, publish, hashing, commit = (
            statistics.median(t) for t in zip(*times, strict=True)
        )
        print(
            f"straight into the folder {peer * 1000:6.1f} ms | into staging "
            f"{write * 1000:6.1f} ms | publish {publish * 1000:6.1f} ms "
            f"(hashing {hashing * 1000:5.1f} ms, the two renames {commit * 1e6:.0f} us)"
        )


if __name__ == "__main__":
    main()
