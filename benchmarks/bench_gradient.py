"""The tier gradient test over all 2,875 county-level units, beside scipy in the same run.

Budget (issue 16): ``tiers.gradient`` (Spearman and Kendall between rank/tier and
longitude/distance to the coast, 999 permutations each) <= 0.5 s over 2,875 units.
Peer: ``scipy.stats.kendalltau`` (its O(n log n) path) on the same 999 relabellings of
one (order, position) pair, times the four pairs geotool tests.

Usage: python benchmarks/bench_gradient.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from bench_autocorr import best  # this folder is on the path when run as a script


def main() -> None:
    from scipy.stats import kendalltau

    from geotool import _kernels, boundaries, tiers
    from geotool.report import rankings

    _kernels.warm_up()
    units = boundaries.load("county")
    area = units["area_km2"].to_numpy()
    table = pd.DataFrame(
        {
            "adcode": units.index,
            "rank": pd.Series(-area).rank(method="min").to_numpy(),
            "tier": pd.qcut(area, 5, labels=False) + 1,
        }
    )
    pos = tiers.unit_positions(
        table["adcode"], coast=boundaries.coastline(), core=rankings.core_point()
    )
    tiers.gradient(table, pos, permutations=999, seed=1)
    t_ours = best(lambda: tiers.gradient(table, pos, permutations=999, seed=1), n=5)
    x = table["tier"].to_numpy(dtype=float)
    y = pos.loc[table["adcode"], "km_to_coast"].to_numpy()
    perms = np.argsort(np.random.default_rng(1).random((999, len(x))), axis=1)
    t_peer = best(lambda: [kendalltau(x, y[p]) for p in perms], n=1) * 4
    print(
        f"tiers.gradient, 2,875 units, 999 permutations, 4 pairs (Spearman + Kendall): "
        f"{t_ours:.3f} s (budget 0.5 s); scipy kendalltau alone on the same draws x 4 pairs "
        f"{t_peer:.2f} s -> ratio {t_ours / t_peer:.3f}"
    )


if __name__ == "__main__":
    main()
