"""Boundaries budgets: size on disk, warm load time, build time, each beside a peer.

Usage: python benchmarks/bench_boundaries.py [--build]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def best_of(func, n=5):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", action="store_true", help="also time a full rebuild")
    args = parser.parse_args()

    import geopandas as gpd

    from geotool import boundaries, settings

    size = (Path(settings.boundaries_dir) / "county.parquet").stat().st_size
    print(f"county.parquet: {size / 1e6:.2f} MB (budget 8 MB)")

    path = Path(settings.boundaries_dir) / "county.parquet"
    load = lambda: boundaries._read.__wrapped__(path, 0.0)  # noqa: E731 - uncached read
    best, med = best_of(load)
    with tempfile.TemporaryDirectory() as tmp:
        geojson = Path(tmp) / "county.geojson"
        boundaries.load("county").to_file(geojson, driver="GeoJSON")
        peer_best, _ = best_of(lambda: gpd.read_file(geojson), n=3)
        gj_size = geojson.stat().st_size
    print(
        f"load county (uncached, warm OS cache): best {best:.3f} s, median {med:.3f} s "
        f"(budget 0.5 s)"
    )
    print(
        f"peer: same layer from GeoJSON ({gj_size / 1e6:.1f} MB) via pyogrio: best "
        f"{peer_best:.3f} s -> ratio {best / peer_best:.2f}"
    )
    cached, _ = best_of(lambda: boundaries.load("county"))
    print(f"load county (cached in process): {cached * 1000:.1f} ms")
    cold = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; t=time.perf_counter(); from geotool import boundaries; "
            "boundaries.load('county'); print(time.perf_counter()-t)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    print(f"fresh process, import + load: {float(cold.stdout):.3f} s")

    if args.build:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
        from build_boundaries import build, read_source

        t = time.perf_counter()
        read_source()
        peer = time.perf_counter() - t
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            meta = build(Path(tmp))
            total = time.perf_counter() - t
        print(f"build: {total:.1f} s (budget 90 s); stages {meta['timings_s']}")
        print(f"peer: reading the source alone {peer:.1f} s -> ratio {total / peer:.1f}")


if __name__ == "__main__":
    main()
