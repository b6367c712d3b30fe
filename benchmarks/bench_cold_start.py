"""The compiled kernels are compiled once per machine, not once per process.

Copies the package to a temporary folder and times, in two fresh processes one after
the other, ``import geotool._kernels`` + ``warm_up()`` (every kernel's first call) and
reports how many kernels each process compiled (numba's ``stats.cache_misses``):

- in-tree: the cache is written next to the modules (an editable install, or a
  writable site-packages);
- user cache: ``NUMBA_CACHE_DIR`` set (what numba also falls back to, in the user's
  cache folder, when the package folder is read-only).

The first process compiles (tens of seconds), the second only loads.

Usage: python benchmarks/bench_cold_start.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE = r"""
import json, time
t = time.perf_counter()
from geotool import _kernels
_kernels.warm_up()
seconds = time.perf_counter() - t
kernels = [_kernels._conditional_incremental, _kernels._conditional_direct,
           _kernels._global_quadratic_forms, _kernels._kendall_sums, _kernels._rank_sums]
compiled = sum(len(k.stats.cache_misses) for k in kernels)
loaded = sum(sum(k.stats.cache_hits.values()) for k in kernels)
print(json.dumps({"seconds": seconds, "compiled": compiled, "loaded": loaded}))
"""


def probe(root: Path, env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env, "PYTHONPATH": str(root)},
        cwd=root,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    package = Path(__file__).resolve().parent.parent / "geotool"
    with tempfile.TemporaryDirectory() as tmp:
        for label, env in (
            ("in-tree (editable install)", {}),
            ("user cache (NUMBA_CACHE_DIR)", {"NUMBA_CACHE_DIR": str(Path(tmp) / "cache")}),
        ):
            root = Path(tmp) / label.split()[0]
            shutil.copytree(package, root / "geotool", ignore=shutil.ignore_patterns("__pycache__"))
            for run in ("first process", "second process"):
                res = probe(root, env)
                print(
                    f"{label}, {run}: import + first call of every kernel "
                    f"{res['seconds']:.2f} s, {res['compiled']} compiled, {res['loaded']} "
                    "loaded from the cache"
                )


if __name__ == "__main__":
    main()
