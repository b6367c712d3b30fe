"""A batch on the prefecture layer: serial, and on local dask clusters of 1 and 2 workers.

The panel: 345 prefecture-level units, ``--variables`` (20) synthetic indicators over 3
years, weights ``queen`` and ``knn:6``, statistics ``moran`` and ``lisa``, 999
permutations: 240 tasks by default. Each mode runs ``--repeat`` times, interleaved
(serial, 1 worker, 2 workers, serial, ...) because the machine is shared; printed are
the medians of the batch itself (weights included, cluster start-up excluded), the
start-up of each cluster, and the ratio of each mode to the serial run of the same
round. The numbers of every mode are checked to be identical to the serial ones.

Usage: python benchmarks/bench_batch.py [--variables 20] [--permutations 999] [--repeat 2]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings

import numpy as np
import pandas as pd

from geotool import batch, boundaries


def panel(n_variables: int) -> pd.DataFrame:
    units = boundaries.load("prefecture")
    lat = units.geometry.representative_point().y.to_numpy()
    rng = np.random.default_rng(0)
    frames = []
    for year in (2018, 2019, 2020):
        frame = pd.DataFrame({"adcode": units.index.to_numpy(), "year": year})
        for v in range(n_variables):
            frame[f"x{v:02d}"] = lat * rng.uniform(0, 0.2) + rng.normal(size=len(units))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variables", type=int, default=20)
    parser.add_argument("--permutations", type=int, default=999)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    logging.getLogger("distributed").setLevel(logging.ERROR)
    table = panel(args.variables)
    options = {
        "year_col": "year",
        "weights": ("queen", "knn:6"),
        "statistics": ("moran", "lisa"),
        "permutations": args.permutations,
        "seed": 12345,
    }
    times: dict[str, list[float]] = {"serial": [], "1 worker": [], "2 workers": []}
    startup: dict[str, list[float]] = {"1 worker": [], "2 workers": []}
    ratios: dict[str, list[float]] = {"1 worker": [], "2 workers": []}
    reference = None
    for _ in range(args.repeat):
        t = time.perf_counter()
        serial = batch.run(table, "prefecture", **options)
        times["serial"].append(time.perf_counter() - t)
        if reference is None:
            reference = serial.drop(columns="seconds")
        for name, n in (("1 worker", 1), ("2 workers", 2)):
            t = time.perf_counter()
            with batch.cluster(n) as client:
                client.wait_for_workers(n)
                up = time.perf_counter()
                result = batch.run(table, "prefecture", client=client, **options)
                done = time.perf_counter()
            startup[name].append(up - t)
            times[name].append(done - up)
            ratios[name].append((done - up) / times["serial"][-1])
            pd.testing.assert_frame_equal(result.drop(columns="seconds"), reference)
    tasks = len(reference)
    print(
        f"{tasks} tasks ({args.variables} variables x 3 years x 2 weights x 2 statistics), "
        f"{args.permutations} permutations, 345 units; medians of {args.repeat}"
    )
    for name, values in times.items():
        line = f"{name:10s} batch {statistics.median(values):6.1f} s"
        if name in startup:
            line += (
                f"  (cluster start {statistics.median(startup[name]):4.1f} s; "
                f"ratio to serial {statistics.median(ratios[name]):.2f})"
            )
        print(line)
    print("numbers identical to the serial run in every mode: yes")


if __name__ == "__main__":
    warnings.simplefilter("default")
    main()
