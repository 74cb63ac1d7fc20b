"""Greedy and randomly pivoted Cholesky (Chen, Epperly, Tropp, Webber 2024; Epperly, Tropp, Webber 2024)."""
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

import kernapprox as ka
from kernapprox.datasets import outliers

VARIANTS = [dict(), dict(block_size=8), dict(block_size=8, accelerated=True)]
IDS = ["simple", "block", "accelerated"]


def _km(rng, n=300, bw=0.5, d=2):
    X = rng.normal(size=(n, d))
    return ka.KernelMatrix(ka.Gaussian(bw), X), X


@pytest.mark.parametrize("kw", VARIANTS, ids=IDS)
def test_factor_matches_nystrom_of_its_pivots_and_residual_trace_is_exact(kw, rng):
    """Chen et al. 2024 §2: partial Cholesky with pivots S equals Nyström with landmarks S."""
    KM, X = _km(rng)
    A = ka.rpcholesky(KM, 40, rng=1, **kw)
    K = KM.kernel(X)
    S = A.info["indices"]
    assert A.rank == 40 == S.size == np.unique(S).size
    ref = K[:, S] @ np.linalg.solve(K[np.ix_(S, S)], K[S])
    np.testing.assert_allclose(A.to_dense(), ref, atol=1e-8)
    assert A.info["residual_trace"] == pytest.approx(np.trace(K) - A.trace(), rel=1e-9)
    assert np.linalg.eigvalsh(K - A.to_dense()).min() >= -1e-9


def test_simple_rpcholesky_reads_only_diagonal_and_k_columns(rng):
    """Kernel entries = n (diagonal) + n·k (pivot columns): (k + 1)·n exactly, proved by n_evals."""
    KM, _ = _km(rng, n=500)
    KM.reset()
    A = ka.rpcholesky(KM, 30, rng=0)
    assert KM.n_evals == A.info["n_evals"] == 31 * 500


def test_block_and_accelerated_evaluation_counts(rng):
    KM, _ = _km(rng, n=500)
    n, k, b = 500, 40, 10
    KM.reset()
    A = ka.rpcholesky(KM, k, block_size=b, rng=0)
    # block: every distinct sampled candidate costs a column; dropped ones are counted as skipped
    assert KM.n_evals == A.info["n_evals"] == n * (1 + k + A.info["skipped"])
    KM.reset()
    B = ka.rpcholesky(KM, k, block_size=b, accelerated=True, rng=0)
    extra = B.info["n_evals"] - n * (k + 1)
    assert extra > 0 and extra % (b * b) == 0        # only b×b candidate blocks beyond (k+1)·n
    assert extra // (b * b) <= 3 * k // b + 5          # a few rounds, not one per pivot


def test_greedy_picks_the_largest_residual_diagonal(rng):
    X = rng.normal(size=(50, 3))
    KM = ka.KernelMatrix(ka.Polynomial(degree=2, gamma=1.0, coef0=1.0), X)
    A = ka.greedy_cholesky(KM, 5)
    K = KM.kernel(X)
    assert A.info["indices"][0] == np.argmax(np.diag(K))
    d = np.diag(K).copy()
    F = A.F
    for j, s in enumerate(A.info["indices"]):
        assert s == np.argmax(d)
        d -= F[:, j] ** 2
    A2 = ka.greedy_cholesky(KM, 5)
    np.testing.assert_array_equal(A.info["indices"], A2.info["indices"])


@pytest.mark.parametrize("which", IDS + ["greedy"])
def test_exact_rank_r_stops_at_r_with_zero_error(which):
    """An exactly rank-r PSD matrix (linear kernel on r-dim points): stop at rank r, error 0, warn."""
    rng = np.random.default_rng(3)
    r = 5
    X = rng.normal(size=(200, r))
    KM = ka.KernelMatrix(ka.Linear(), X)
    with pytest.warns(ka.KernapproxWarning, match="stopped early at rank 5 < k=20"):
        if which == "greedy":
            A = ka.greedy_cholesky(KM, 20)
        else:
            A = ka.rpcholesky(KM, 20, rng=0, **VARIANTS[IDS.index(which)])
    assert A.rank == r and A.info["stopped"] == "exhausted"
    np.testing.assert_allclose(A.to_dense(), X @ X.T, atol=1e-10 * np.abs(X @ X.T).max())


@pytest.mark.parametrize("kw", VARIANTS + [None], ids=IDS + ["greedy"])
def test_tol_early_stop_warns_and_truncates(kw, rng):
    KM, X = _km(rng, n=300, bw=1.0)
    tol = 0.05 * 300
    with pytest.warns(ka.KernapproxWarning, match="fell below tol"):
        A = ka.greedy_cholesky(KM, 200, tol=tol) if kw is None else ka.rpcholesky(KM, 200, tol=tol, rng=0, **kw)
    assert A.rank < 200 and A.info["stopped"] == "tol"
    assert A.info["residual_trace"] < tol
    # minimal: without the last pivot the residual was still >= tol
    assert A.info["residual_trace"] + float(A.F[:, -1] @ A.F[:, -1]) >= tol


def test_float32_matrix_gives_float32_factor(rng):
    X = rng.normal(size=(200, 2)).astype(np.float32)
    A = ka.rpcholesky(ka.KernelMatrix(ka.Gaussian(1.0), X), 20, rng=0)
    assert A.dtype == np.float32
    K = ka.Gaussian(1.0)(X.astype(np.float64))
    assert np.linalg.eigvalsh(K - A.to_dense().astype(np.float64)).min() >= -1e-4


def test_same_rng_same_pivots_whatever_the_global_state(rng):
    KM, _ = _km(rng)
    for kw in VARIANTS:
        np.random.seed(1)
        a = ka.rpcholesky(KM, 25, rng=123, **kw).info["indices"]
        np.random.seed(2)
        _ = np.random.rand(10)
        b = ka.rpcholesky(KM, 25, rng=np.random.default_rng(123), **kw).info["indices"]
        np.testing.assert_array_equal(a, b)


def test_accelerated_has_the_simple_rpcholesky_distribution():
    """Epperly, Tropp, Webber 2024, Thm 2.1: rejection sampling gives exactly the sequential RPCholesky
    law. Chi-square test on the ordered first two pivots of a 5×5 PSD matrix (20 cells, 4000 runs):
    the 99.99% quantile of χ²(19) is 52.4, so this test fails with probability 1e-4 when correct."""
    rng = np.random.default_rng(11)
    G = rng.normal(size=(5, 3))
    K = G @ G.T + np.diag([0.1, 0.5, 1.0, 2.0, 0.2])
    d = np.diag(K)
    exact = np.zeros((5, 5))
    for i in range(5):
        r = d - K[:, i] ** 2 / K[i, i]
        r[i] = 0
        exact[i] = d[i] / d.sum() * r / r.sum()
    runs = 4000
    counts = np.zeros((5, 5))
    gen = np.random.default_rng(2024)
    for _ in range(runs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            piv = ka.rpcholesky(K, 2, block_size=3, accelerated=True, rng=gen).info["indices"]
        counts[piv[0], piv[1]] += 1
    mask = ~np.eye(5, dtype=bool)
    expected = runs * exact[mask]
    chi2 = float(np.sum((counts[mask] - expected) ** 2 / expected))
    assert chi2 < 52.4


def test_rpcholesky_beats_uniform_on_outliers():
    """Statistical (Chen et al. 2024 §5 'outliers'): 50 far outliers among n = 2000 points, k = 100.
    Uniform Nyström catches ~2.5 outliers and leaves ≈ 47/2000 ≈ 2.3% relative trace error; RPCholesky
    picks outliers as soon as the cluster is resolved (residual diagonal ≈ 1 each vs a tiny cluster
    residual). Median over 5 seeds: the comparison fails only if ≥ 3 uniform runs draw ≥ 25 of the 50
    outliers (hypergeometric tail < 1e-15 each) or ≥ 3 RPCholesky runs leave > 1% error (would need it
    to miss > 20 outliers of residual ≈ 1 with 100 pivots: probability < 1e-9). Failure prob. < 1e-9."""
    X = outliers(2000, rng=5)
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    tr = 2000.0
    e_rpc, e_uni = [], []
    for s in range(5):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ka.KernapproxWarning)
            e_rpc.append(ka.rpcholesky(KM, 100, block_size=20, accelerated=True, rng=s).info["residual_trace"] / tr)
        idx = ka.sample_landmarks(KM, 100, method="uniform", rng=s)
        e_uni.append((tr - ka.nystrom(KM, idx).trace()) / tr)
    assert np.median(e_rpc) < 0.01 < 0.015 < np.median(e_uni)


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(3, 40), k=st.integers(1, 12),
       which=st.sampled_from(IDS + ["greedy"]))
def test_residual_is_psd_and_trace_is_exact(seed, n, k, which):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    KM = ka.KernelMatrix(ka.Gaussian(rng.uniform(0.2, 2.0)), X)
    k = min(k, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ka.KernapproxWarning)
        A = ka.greedy_cholesky(KM, k) if which == "greedy" else \
            ka.rpcholesky(KM, k, rng=seed, **VARIANTS[IDS.index(which)])
    K = KM.kernel(X)
    E = K - A.to_dense()
    assert np.linalg.eigvalsh(E).min() >= -1e-9 * max(1.0, np.linalg.norm(K, 2))
    assert A.info["residual_trace"] == pytest.approx(np.trace(E), abs=1e-9 * n)
    assert A.rank <= k and np.unique(A.info["indices"]).size == A.rank


def test_bad_input(rng):
    KM, X = _km(rng, n=20)
    for f in (lambda **kw: ka.rpcholesky(KM, rng=0, **kw), lambda **kw: ka.greedy_cholesky(KM, **kw)):
        with pytest.raises(ValueError, match=r"`k` must lie in \[1, 20\]; got 21"):
            f(k=21)
        with pytest.raises(ValueError, match="`k` must lie in"):
            f(k=0)
        with pytest.raises(TypeError, match="`k` must be an integer"):
            f(k=2.5)
        with pytest.raises(ValueError, match="`tol` must be >= 0"):
            f(k=3, tol=-1.0)
    with pytest.raises(ValueError, match="`block_size` must be >= 1"):
        ka.rpcholesky(KM, 3, block_size=0)
    with pytest.raises(ValueError, match="positive semi-definite"):
        ka.rpcholesky(ka.KernelMatrix(ka.Sigmoid(), X), 3)
    with pytest.raises(ValueError, match="square"):
        ka.rpcholesky(ka.KernelMatrix(ka.Gaussian(1.0), X, X[:5]), 3)
    with pytest.raises(TypeError, match="`KM` must be a KernelMatrix"):
        ka.rpcholesky("K", 3)


def test_read_only_columns_from_a_protocol_object(rng):
    """In-place BLAS must not silently drop results when the protocol hands out read-only arrays."""
    KM, X = _km(rng, n=200)

    class ReadOnly:
        def __init__(self, km):
            self.km, self.shape, self.dtype, self.is_psd, self.n_evals = km, km.shape, km.dtype, True, 0

        def _ro(self, a):
            a = np.array(a)
            a.setflags(write=False)
            return a

        def diag(self):
            return self._ro(self.km.diag())

        def columns(self, idx):
            return self._ro(self.km.columns(idx))

        def block(self, I, J):
            return self._ro(self.km.block(I, J))

    K = KM.kernel(X)
    for kw in VARIANTS:
        A = ka.rpcholesky(ReadOnly(KM), 20, rng=0, **kw)
        assert A.info["residual_trace"] == pytest.approx(np.trace(K) - A.trace(), rel=1e-9)
        assert np.linalg.eigvalsh(K - A.to_dense()).min() >= -1e-9


def test_block_rpcholesky_dependent_pivots_keep_is_the_reference_law_on_rank_deficient_data():
    """Block RPCholesky on a matrix of numerical rank 20 (20 distinct points, each repeated 15
    times): "drop" returns exactly the 20 independent pivots; "keep" (the reference code) counts
    dependent pivots toward k, so it returns more pivots than the numerical rank. On full-rank data
    both give the same factor for the same draws (no pivot is dependent)."""
    import warnings
    X = np.random.default_rng(0).normal(size=(20, 2))
    KM = ka.KernelMatrix(ka.Gaussian(1.0), np.vstack([X] * 15))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        drop = ka.rpcholesky(KM, 40, block_size=10, rng=0)
        keep = ka.rpcholesky(KM, 40, block_size=10, dependent_pivots="keep", rng=0)
    assert drop.rank == 20 and drop.info["skipped"] > 0
    assert keep.rank > 20 and keep.info["skipped"] == 0 and keep.info["dependent_pivots"] == "keep"
    K = KM.dense()
    for a in (drop, keep):                       # both are valid Nyström approximations (K − K̂ ⪰ 0)
        assert np.linalg.eigvalsh(K - a.to_dense()).min() > -1e-8
    Y = np.random.default_rng(1).normal(size=(200, 3))
    KY = ka.KernelMatrix(ka.Gaussian(1.0), Y)
    a = ka.rpcholesky(KY, 30, block_size=10, rng=3)
    b = ka.rpcholesky(KY, 30, block_size=10, dependent_pivots="keep", rng=3)
    np.testing.assert_array_equal(np.sort(a.info["indices"]), np.sort(b.info["indices"]))   # same draws
    np.testing.assert_allclose(a.to_dense(), b.to_dense(), atol=1e-9)
    with pytest.raises(ValueError, match="`dependent_pivots` must be"):
        ka.rpcholesky(KY, 3, block_size=2, dependent_pivots="yes")


def test_early_stop_warning_points_at_the_callers_line():
    X = np.zeros((10, 2))                     # rank one: stops at rank 1 < k
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    for call in (lambda: ka.rpcholesky(KM, 3, rng=0), lambda: ka.greedy_cholesky(KM, 3),
                 lambda: ka.sample_landmarks(KM, 3, method="rpcholesky", rng=0)):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            call()
        assert rec and all(w.filename == __file__ for w in rec), [w.filename for w in rec]
