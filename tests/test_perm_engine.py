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


def test_same_seed_same_p_values_in_one_part_and_in_three(monkeypatch):
    """The kernels' outer blocks split over 1 or 3 threads: the same numbers."""
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 1)
    one = _county_results()
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 3)  # uneven parts
    two = _county_results()
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


def _rook_grid(rows: int, cols: int) -> sp.csr_matrix:
    """Rook contiguity of a ``rows x cols`` grid of cells."""
    n = rows * cols
    r, c = np.divmod(np.arange(n), cols)
    src, dst = [], []
    for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        ok = (r + dr >= 0) & (r + dr < rows) & (c + dc >= 0) & (c + dc < cols)
        src.append(np.flatnonzero(ok))
        dst.append((r[ok] + dr) * cols + c[ok] + dc)
    src, dst = np.concatenate(src), np.concatenate(dst)
    return sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))


def test_a_10k_lattice_gives_the_numbers_of_the_engine_before_issue_27():
    """p-values (as counts) and classes of the engine at 2b9bd0b, before the sorted counting,
    the batched relabellings and the categorical classes; lags against scipy's product.
    Gi* takes LISA's draws since s7-local (its own test below), so the digest, of LISA,
    local Geary and the global p-values, is the one 115ce06 gives without Gi*."""
    import hashlib

    w = weights.Weights(sparse=_rook_grid(100, 100), spec="rook", ids=pd.RangeIndex(10_000))
    rng = np.random.default_rng(27)
    s = pd.Series(np.round(rng.random(10_000) * 50) + np.arange(10_000) // 100, name="v")
    local = autocorr.local_stats(s, w, permutations=999, seed=27)
    geary = autocorr.local_geary(s, w, permutations=999, seed=27)
    glob = autocorr.global_stats(s, w, permutations=999, seed=27)
    digest = hashlib.sha256()
    for p in (local["p_sim"], geary["p_sim"], glob["p_sim"]):
        digest.update(np.round(p.to_numpy() * 1000).astype(np.int64).tobytes())
    for col in (local["lisa_class"], local["quadrant"], geary["cluster"]):
        digest.update("|".join(col.astype(str)).encode())
    assert digest.hexdigest()[:16] == "69c2d166aa1fe16d"
    assert local["lisa_class"].value_counts().to_dict() == {
        "Not significant": 6289, "High-High": 1922, "Low-Low": 1772, "Low-High": 10,
        "High-Low": 7,
    }  # fmt: skip
    # the lag of z bit for bit as ``diags(1 / row sums) @ W`` (scipy's product) gives it
    sums = np.asarray(w.sparse.sum(axis=1)).ravel()
    wr = (sp.diags(1.0 / sums) @ w.sparse).tocsr()
    z = local["z"].to_numpy()
    np.testing.assert_array_equal(local["lag"].to_numpy(), wr @ z)
    np.testing.assert_array_equal(geary["lag"].to_numpy(), wr @ geary["z"].to_numpy())
    row_std = w.row_standardised()
    assert (row_std != wr).nnz == 0
    np.testing.assert_array_equal(row_std.indices, wr.indices)


@pytest.mark.parametrize("spec", ["queen", "kernel:triangular:knn:8"])
def test_gi_star_p_values_are_its_permutation_test_under_lisas_draws(spec):
    """Gi* (self included, binary and unequal weights) computed for every permutation of
    LISA's stream from :func:`conditional_lags` of the raw weights, then folded with
    ties counted: the p-values ``local_stats`` reads off LISA's counts."""
    from geotool import boundaries
    from geotool._perm import conditional_lags, folded_pvalue

    units = boundaries.load("prefecture")
    w = weights.build(units, spec)
    x = np.log(units["area_km2"].reindex(w.ids).to_numpy())
    local = autocorr.local_stats(pd.Series(x, index=w.ids), w, permutations=999, seed=4,
                                 sided="folded")  # fmt: skip
    raw = w.sparse
    own = np.ones(len(x)) if w.is_binary else raw.max(axis=1).toarray().ravel()
    total = (raw + sp.diags(own)).sum(axis=1).A.ravel()
    lags = conditional_lags(x, raw, 999, rng_for(4, "lisa"))
    sim = (lags + (own * x)[:, None]) / total[:, None] / x.sum()
    expected = folded_pvalue(local["gi_star"].to_numpy(), sim)
    got = local["gi_star_p_sim"].to_numpy()
    tested = np.isfinite(got)
    assert tested.sum() > 300
    np.testing.assert_allclose(got[tested], expected[tested], rtol=0, atol=1.5 / 1000)
    assert (got[tested] == expected[tested]).mean() > 0.99  # one count apart at most
    # and it differs from a second, independent set of draws (a real change of stream)
    other = folded_pvalue(local["gi_star"].to_numpy(),
                          (conditional_lags(x, raw, 999, rng_for(4, "gi_star"))
                           + (own * x)[:, None]) / total[:, None] / x.sum())  # fmt: skip
    assert (other[tested] != got[tested]).mean() > 0.5


def test_gi_star_with_a_negative_weight_draws_its_own_permutations():
    """LISA's counts serve Gi* only when every weight is positive (Gi* then rises with
    the row-standardised lag); one negative weight: Gi* draws its own stream."""
    from geotool._perm import conditional_pvalues

    w0 = weights.Weights(sparse=_rook_grid(20, 20), spec="rook", ids=pd.RangeIndex(400))
    x = np.random.default_rng(3).random(400) + np.arange(400) // 20 / 20
    signed = w0.sparse.copy()
    signed.data[5] = -1.0
    w = weights.Weights(sparse=signed, spec="signed", ids=pd.RangeIndex(400))
    local = autocorr.local_stats(pd.Series(x), w, permutations=199, seed=2, sided="folded")
    own = conditional_pvalues(x, signed, 199, rng_for(2, "gi_star"), np.ones(400))
    np.testing.assert_array_equal(local["gi_star_p_sim"].to_numpy(), own)
    positive = autocorr.local_stats(pd.Series(x), w0, permutations=199, seed=2, sided="folded")
    np.testing.assert_array_equal(positive["gi_star_p_sim"], positive["p_sim"])


@pytest.mark.parametrize("m", [1, 2, 3])
def test_conditional_counts_equal_a_count_over_every_permuted_lag(m):
    """The kernels' counts (a binary search over sorted sums, one pass, or many columns)
    against counting the lags of :func:`conditional_lags` under the same draws, in exact
    integer arithmetic: many ties, coefficients of each sign and 0, rows of equal and of
    unequal weights."""
    from geotool._perm import conditional_counts, conditional_lags

    rng = np.random.default_rng(5)
    n, perms = 400, 199
    k = rng.integers(1, 7, n)
    rows = np.repeat(np.arange(n), k)
    cols = np.concatenate([rng.choice(np.delete(np.arange(n), i), kk, replace=False)
                           for i, kk in enumerate(k)])  # fmt: skip
    uniform = rng.random(n) < 0.6
    data = np.where(uniform[rows], 2.0, rng.integers(1, 4, len(rows)).astype(float))
    w = sp.csr_matrix((data, (rows, cols)), shape=(n, n))
    values = rng.integers(0, 5, (n, m)).astype(float)
    coef = rng.integers(-2, 3, (n, m)).astype(float)
    lags = np.stack([conditional_lags(values[:, v], w, perms, rng_for(9, "c")) for v in range(m)])
    sim = np.einsum("iv,vip->ip", coef, lags)
    observed = np.where(rng.random(n) < 0.5, sim[:, 0], rng.integers(-20, 21, n))
    upper, lower = conditional_counts(
        values, w, perms, rng_for(9, "c"), observed=observed, tol=0.0, coef=coef
    )
    np.testing.assert_array_equal(upper, (sim >= observed[:, None]).sum(axis=1))
    np.testing.assert_array_equal(lower, (sim <= observed[:, None]).sum(axis=1))
    assert ((upper + lower) > perms).any()  # ties were counted both ways


def test_the_prefetching_shuffle_makes_the_swaps_of_the_plain_fisher_yates():
    """``_kernels._shuffle`` (state in registers, draws batched and prefetched) against a
    Fisher-Yates drawing each ``j`` with ``_kernels._below`` from the same state: the same
    relabellings in the same order, and the same state after them."""
    from numba import njit

    @njit
    def plain(y, s, passes):
        for _ in range(passes):
            for i in range(len(y) - 1, 0, -1):
                j = _kernels._below(s, i + 1)
                y[i], y[j] = y[j], y[i]

    @njit
    def batched(y, s, passes, ahead):
        js = np.empty(ahead, dtype=np.int64)
        for _ in range(passes):
            _kernels._shuffle(y, s, js)

    z = np.random.default_rng(7).standard_normal(5000)
    states = np.random.default_rng(8).integers(1, 2**63, (3, 4)).astype(np.uint64)
    for s, ahead in zip(states, (1, 7, 256), strict=True):  # batches dividing n - 1 or not
        a, b, sa, sb = z.copy(), z.copy(), s.copy(), s.copy()
        plain(a, sa, 3)
        batched(b, sb, 3, ahead)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(sa, sb)
        assert not np.array_equal(a, z)  # shuffled, and a permutation of z
        np.testing.assert_array_equal(np.sort(a), np.sort(z))


@numba.njit
def _shuffle_once(y: np.ndarray, s: np.ndarray) -> None:
    _kernels._shuffle(y, s, np.empty(256, dtype=np.int64))


@pytest.mark.parametrize(("by_row", "with_left"), [(True, False), (False, False), (True, True)])
def test_four_relabellings_in_one_pass_are_four_single_passes(by_row, with_left):
    """At 520 x 520 units the relabellings of a block are not held: four share a pass over
    the weights (``_form_four``), the rest one pass each. The kernel's 11 relabellings
    (a block of 8, one of 3) equal, bit for bit, ``_form_one`` on the same shuffles."""
    grid = _rook_grid(520, 520)
    n = grid.shape[0]
    rng = np.random.default_rng(6)
    z, deg = rng.standard_normal(n), rng.random(n)
    left = rng.standard_normal(n) if with_left else np.zeros(0)
    if by_row:  # one value per row, G's weights the same for every row
        data_r, data_b = rng.random(n), np.array([2.0])
    else:  # one per link
        data_r, data_b = rng.random(grid.nnz), rng.random(grid.nnz)
    states = np.random.default_rng(4).integers(1, 2**63, (2, 4)).astype(np.uint64)
    ip, ix = grid.indptr.astype(np.uint32), grid.indices.astype(np.uint32)
    got = np.zeros((3, 11))
    _kernels.global_quadratic_forms(
        z, left, states, 11, 8, ip, ix, data_r, data_b, deg, 0.3, by_row, got
    )
    expected = np.zeros((3, 11))
    for b, (first, last) in enumerate(((0, 8), (8, 11))):
        y, s = z.copy(), states[b].copy()
        for q in range(first, last):
            _shuffle_once(y, s)
            _kernels._form_one(y, left, ip, ix, data_r, data_b, deg, 0.3, by_row, expected[:, q])
    np.testing.assert_array_equal(got, expected)
    assert len(np.unique(got[0])) == 11


@pytest.mark.parametrize("side", [90, 520])  # relabellings held in blocks / a pass each
def test_the_global_kernels_row_paths_give_the_same_numbers(side):
    """One value for every row (length 1), one per row (length n) and one per link give the
    same three sums, bit for bit, where their arithmetic is the same (binary weights and no
    shift for the per-link path); and they equal numpy's on one relabelling of z."""
    grid = _rook_grid(side, side)
    n, nnz = grid.shape[0], grid.nnz
    z = np.random.default_rng(3).standard_normal(n)
    states = np.random.default_rng(4).integers(1, 2**63, (2, 4)).astype(np.uint64)
    deg = np.random.default_rng(5).random(n)
    ip, ix = grid.indptr.astype(np.uint32), grid.indices.astype(np.uint32)

    def forms(data_r, data_b, shift, by_row):
        out = np.zeros((3, 16))
        _kernels.global_quadratic_forms(
            z, np.zeros(0), states, 16, 8, ip, ix, data_r, data_b, deg, shift, by_row, out
        )
        return out

    one = forms(np.array([0.25]), np.array([3.0]), 0.3, True)
    np.testing.assert_array_equal(one, forms(np.full(n, 0.25), np.full(n, 3.0), 0.3, True))
    binary = forms(np.ones(1), np.ones(1), 0.0, True)
    np.testing.assert_array_equal(binary, forms(np.ones(nnz), np.ones(nnz), 0.0, False))
    assert len(np.unique(one[0])) == 16  # 16 different relabellings
    # a block of one relabelling: z shuffled once by the same stream, then numpy's sums
    out = np.zeros((3, 1))
    _kernels.global_quadratic_forms(
        z, np.zeros(0), states[:1], 1, 1, ip, ix, np.array([0.25]), np.array([3.0]), deg, 0.3,
        True, out,
    )  # fmt: skip
    y = z.copy()
    _shuffle_once(y, states[0].copy())
    expected = [y @ (0.25 * grid @ y), deg @ (y * y), (y + 0.3) @ (3.0 * grid @ (y + 0.3))]
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-9)
