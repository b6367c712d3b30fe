"""The compiled permutation engine: thread-independent, streaming, exact Kendall sums."""

from __future__ import annotations

import tracemalloc

import numba
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from geotool import _kernels, autocorr, weights
from geotool._perm import rank_correlations, rng_for
from geotool.report import rankings


def _county_results() -> dict[str, np.ndarray]:
    v = rankings.variables("industrial_counties")
    w = weights.build(v.index, "queen")
    local = autocorr.local_stats(v["score"], w, permutations=999, seed=3)
    geary = autocorr.local_geary(v["score"], w, permutations=999, seed=3)
    both = v[["score"]].assign(log_score=np.log1p(v["score"]))
    geary_mv = autocorr.local_geary(both, w, permutations=999, seed=3)
    joins = autocorr.local_join_counts(v["member"], w, permutations=999, seed=3)
    glob = autocorr.global_stats(v["score"], w, permutations=999, seed=3)
    jc = autocorr.join_counts(v["member"], w, permutations=999, seed=3)
    x = v["score"].to_numpy()
    tau = rank_correlations(x, np.arange(len(x)) % 7, 999, rng_for(3, "t"))
    return {
        "lisa": local["p_sim"].to_numpy(),
        "gi_star": local["gi_star_p_sim"].to_numpy(),
        "geary": geary["p_sim"].to_numpy(),
        "geary_mv": geary_mv["p_sim"].to_numpy(),
        "joins": joins["p_sim"].to_numpy(dtype=float),
        "global": glob["p_sim"].to_numpy(),
        "join_counts": jc["p_sim"].to_numpy(),
        "kendall": np.array([tau["kendall_p"], tau["spearman_p"]]),
    }


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one core: nothing to compare")
def test_same_seed_same_p_values_with_one_and_two_threads():
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _county_results()
        numba.set_num_threads(2)
        two = _county_results()
    finally:
        numba.set_num_threads(before)
    for name in one:
        np.testing.assert_array_equal(one[name], two[name], err_msg=name)
    assert (one["lisa"] < 0.05).any() and (one["global"] < 0.01).all()


def _lattice(side: int) -> weights.Weights:
    n = side * side
    r, c = np.divmod(np.arange(n), side)
    src, dst = [], []
    for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        ok = (r + dr >= 0) & (r + dr < side) & (c + dc >= 0) & (c + dc < side)
        src.append(np.flatnonzero(ok))
        dst.append((r[ok] + dr) * side + c[ok] + dc)
    mat = sp.csr_matrix(
        (np.ones(sum(map(len, src))), (np.concatenate(src), np.concatenate(dst))), shape=(n, n)
    )
    return weights.Weights(sparse=mat, spec="rook", ids=pd.RangeIndex(n))


def test_global_statistics_never_hold_every_relabelling():
    """999 relabellings of 10,000 units would be 80 MB at once; the engine streams them."""
    w = _lattice(100)
    values = pd.Series(np.random.default_rng(0).random(10_000), index=w.ids)
    autocorr.global_stats(values, w, permutations=99, seed=1)  # kernels loaded
    tracemalloc.start()
    out = autocorr.global_stats(values, w, permutations=999, seed=1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20e6, peak
    # the streamed permutation p-values agree with the one-sided analytical ones
    out = out.set_index("statistic")
    for name in ("moran_i", "geary_c"):
        assert abs(out.loc[name, "p_sim"] - out.loc[name, "p_rand"] / 2) < 0.01


def test_global_permutation_distribution_matches_the_analytical_moments():
    """Streamed relabellings: Moran's I has the randomisation mean and variance."""
    w = _lattice(30)
    z = np.random.default_rng(1).standard_normal(900)
    from geotool._perm import permuted_statistics

    wr = w.row_standardised()
    quad = permuted_statistics(z - z.mean(), wr, 4000, rng_for(2, "m"))[0]
    sim = quad / ((z - z.mean()) @ (z - z.mean())) * 900 / wr.sum()
    row = autocorr.global_stats(pd.Series(z, index=w.ids), w, permutations=0).iloc[0]
    assert abs(sim.mean() - row["expected"]) < 4 * sim.std() / np.sqrt(4000)
    assert abs(sim.var() / row["variance_rand"] - 1) < 0.1


@pytest.mark.parametrize("ties", [True, False])
def test_kendall_sums_equal_the_pairwise_count(ties):
    rng = np.random.default_rng(4)
    n = 200
    x = rng.integers(0, 5, n).astype(float) if ties else rng.random(n)
    y = rng.integers(0, 9, n).astype(float) if ties else rng.random(n)
    perms = np.argsort(rng.random((20, n)), axis=1)
    by_x = np.argsort(x, kind="stable")
    x_group = np.unique(x[by_x], return_inverse=True)[1].astype(np.int64)
    levels, y_rank = np.unique(y, return_inverse=True)
    got = _kernels.kendall_sums(x_group, y_rank.astype(np.int64) + 1, len(levels), perms[:, by_x])
    sx = np.sign(x[:, None] - x[None, :])
    for q in range(20):
        yp = y[perms[q]]
        assert 2 * got[q] == (sx * np.sign(yp[:, None] - yp[None, :])).sum()


def test_block_streams_are_numpys_spawned_seed_sequences():
    """The engine's stream states equal ``SeedSequence(entropy).spawn(blocks)``'s words,
    for entropies of any word length (small ints, zeros, 63-bit ints) and block counts."""
    from geotool._perm import _spawned_states

    draw = np.random.default_rng(20201126)
    cases = [[0, 0, 0, 0], [1, 2, 3, 4], [2**63 - 1] * 4, [0, 2**32, 2**32 - 1, 5]]
    cases += [[int(v) for v in draw.integers(0, 2**63, size=4)] for _ in range(40)]
    cases += [[int(v) for v in draw.integers(0, 2**31, size=4)] for _ in range(10)]
    for i, entropy in enumerate(cases):
        blocks = (1, 2, 125, 1250)[i % 4]
        expected = np.array(
            [c.generate_state(4, np.uint64) for c in np.random.SeedSequence(entropy).spawn(blocks)]
        ).reshape(blocks, 4)
        np.testing.assert_array_equal(_spawned_states(entropy, blocks), expected)
