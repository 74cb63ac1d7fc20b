"""Landmark samplers (kernapprox.sampling): validity, costs, determinism, statistics, bad input."""
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

import kernapprox as ka
from kernapprox import sampling
from kernapprox.datasets import outliers

METHODS = list(sampling.METHODS)


def _km(rng, n=300, bw=0.5):
    X = rng.normal(size=(n, 2))
    return ka.KernelMatrix(ka.Gaussian(bw), X), X


@pytest.mark.parametrize("method", METHODS)
def test_every_sampler_returns_k_distinct_valid_indices(method, rng):
    KM, _ = _km(rng)
    idx = ka.sample_landmarks(KM, 25, method=method, rng=0)
    assert idx.dtype.kind == "i" and idx.shape == (25,)
    assert idx.min() >= 0 and idx.max() < 300 and np.unique(idx).size == 25
    A = ka.nystrom(KM, idx)
    assert A.rank == 25


@pytest.mark.parametrize("method", [m for m in METHODS if m != "greedy"])
def test_same_rng_same_indices_whatever_the_global_state(method, rng):
    KM, _ = _km(rng, n=200)
    np.random.seed(0)
    a = ka.sample_landmarks(KM, 15, method=method, rng=7)
    np.random.seed(99)
    np.random.rand(5)
    b = ka.sample_landmarks(KM, 15, method=method, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    c = ka.sample_landmarks(KM, 15, method=method, rng=8)
    assert not np.array_equal(a, c)


def test_evaluation_costs(rng):
    """Kernel entries read by each sampler (the column of the module docstring's table)."""
    n, k = 400, 20
    KM, _ = _km(rng, n=n)

    def cost(method, **kw):
        KM.reset()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ka.KernapproxWarning)
            ka.sample_landmarks(KM, k, method=method, rng=0, **kw)
        return KM.n_evals

    assert cost("uniform") == 0
    assert cost("diagonal") == n
    assert cost("column_norm") == n * n
    assert cost("leverage") == n * n
    assert cost("kmeanspp") == n + n * (k - 1)
    assert cost("greedy") == n * (k + 1)
    assert cost("rpcholesky") == n * (k + 1)
    assert n < cost("recursive_rls") < 12 * n * k        # O(n k), far below n² = 20 n k here


def test_uniform_with_replacement(rng):
    KM, _ = _km(rng, n=10)
    idx = ka.sample_landmarks(KM, 10, method="uniform", replace=True, rng=3)
    assert idx.size == 10 and np.unique(idx).size < 10       # P(no repeat) = 10!/10^10 ≈ 4e-4 … seed fixed


def test_ridge_leverage_scores_exact(rng):
    KM, X = _km(rng, n=80)
    K = KM.kernel(X)
    lam = 0.3
    ref = np.diag(K @ np.linalg.inv(K + lam * np.eye(80)))
    ls = sampling.ridge_leverage_scores(KM, lam)
    np.testing.assert_allclose(ls, ref, atol=1e-10)
    np.testing.assert_allclose(sampling.ridge_leverage_scores(K, lam), ref, atol=1e-10)
    assert np.all((ls >= 0) & (ls <= 1))
    assert sampling.statistical_dimension(K, lam) == pytest.approx(ref.sum())
    with pytest.raises(ValueError, match="`lam` must be > 0"):
        sampling.ridge_leverage_scores(K, 0.0)


def test_diagonal_and_column_norm_probabilities(rng):
    """Seeded frequency check: with replacement, P(i) ∝ K_ii (linear kernel, unequal norms).
    5000 draws over 4 cells; χ²(3) 99.99% quantile is 21.1 (failure probability 1e-4)."""
    X = np.array([[1.0], [2.0], [3.0], [0.5]])
    KM = ka.KernelMatrix(ka.Linear(), X)
    p = np.array([1, 4, 9, 0.25]) / 14.25
    idx = sampling.diagonal(KM, 4, replace=True, rng=0)
    assert idx.size == 4
    draws = np.concatenate([sampling.diagonal(KM, 4, replace=True, rng=s) for s in range(1250)])
    c = np.bincount(draws, minlength=4)
    assert np.sum((c - 5000 * p) ** 2 / (5000 * p)) < 21.1
    cn = sampling.column_norms_squared(KM)
    np.testing.assert_allclose(cn, np.sum((X @ X.T) ** 2, axis=0))


def test_zero_weights_fall_back_with_warning():
    X = np.vstack([np.zeros((5, 1)), np.ones((2, 1))])
    KM = ka.KernelMatrix(ka.Linear(), X)                 # only 2 points have K_ii > 0
    with pytest.warns(ka.KernapproxWarning, match="only 2 of the n=7 points have positive weight"):
        idx = sampling.diagonal(KM, 4, rng=0)
    assert set(idx[:2].tolist()) == {5, 6} and np.unique(idx).size == 4


def test_kmeanspp_stops_on_duplicates():
    X = np.repeat(np.arange(3.0)[:, None], 4, axis=0)      # 3 distinct points, 12 rows
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    with pytest.warns(ka.KernapproxWarning, match="only 3 landmarks"):
        idx = ka.sample_landmarks(KM, 5, method="kmeanspp", rng=0)
    assert sorted(X[idx, 0].tolist()) == [0.0, 1.0, 2.0]


def test_adaptive_samplers_find_the_outliers():
    """Statistical: 25 isolated outliers among 1000 points, k = 60, median over 3 seeds. Uniform
    sampling finds 1.5 outliers on average: the median reaches 10 only if two of three draws do, with
    probability 3·P(≥ 10)² < 1e-12 (hypergeometric tail P(≥ 10) = 4.6e-7). Each outlier is an isolated
    direction of K (residual diagonal ≈ 1 until it is picked), which the adaptive samplers (recursive
    RLS, RPCholesky, k-means++) weight heavily: with these seeds they find 22–25; the test asks for 20."""
    X = outliers(1000, rng=1)                     # 25 outliers
    far = np.linalg.norm(X, axis=1) > 2
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    hits = {}
    for m in ("uniform", "recursive_rls", "rpcholesky", "kmeanspp"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ka.KernapproxWarning)
            hits[m] = np.median([far[ka.sample_landmarks(KM, 60, method=m, rng=s)].sum() for s in range(3)])
    assert hits["uniform"] < 10
    for m in ("recursive_rls", "rpcholesky", "kmeanspp"):
        assert hits[m] >= 20, (m, hits)


def test_recursive_rls_tracks_exact_leverage_error(rng):
    """RLS sampling should be about as good as exact leverage sampling (within a factor 2 on the
    trace error, medians of 3 seeds; both are far below uniform on this clustered cloud)."""
    X = outliers(400, rng=2)
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    tr = 400.0

    eig = np.linalg.eigh(KM.kernel(X))                  # one eigendecomposition for the 3 draws

    def err(m):
        es = []
        for s in range(3):
            opts = {"eig": eig} if m == "leverage" else {}
            es.append(tr - ka.nystrom(KM, ka.sample_landmarks(KM, 30, method=m, rng=s, **opts)).trace())
        return np.median(es) / tr

    e_lev, e_rls, e_uni = err("leverage"), err("recursive_rls"), err("uniform")
    assert e_rls <= 2 * e_lev + 1e-3 and e_lev < e_uni


def test_kmeans_centers_recovers_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10.0]])
    X = np.vstack([c + 0.1 * rng.normal(size=(50, 2)) for c in centres])
    C = ka.kmeans_centers(X, 4, rng=1)
    d = np.linalg.norm(C[:, None] - centres[None], axis=2)
    assert np.all(d.min(axis=0) < 0.1)
    C32 = ka.kmeans_centers(X.astype(np.float32), 4, rng=1)
    assert C32.dtype == np.float32 and C32.shape == (4, 2)
    np.testing.assert_array_equal(ka.kmeans_centers(X, 4, rng=5), ka.kmeans_centers(X, 4, rng=5))


def test_segment_means():
    X = np.arange(24.0).reshape(12, 2)
    np.testing.assert_allclose(sampling.segment_means(X, 3), X.reshape(3, 4, 2).mean(axis=1))
    S = sampling.segment_means(X, 5)                 # 12 = 2+2+3+2+3 rows by ⌊j n/k⌋
    starts = (np.arange(5) * 12) // 5
    ends = np.append(starts[1:], 12)
    np.testing.assert_allclose(S, [X[a:b].mean(axis=0) for a, b in zip(starts, ends)])
    B = np.random.default_rng(0).normal(size=(2, 3, 16, 4)).astype(np.float32)
    out = sampling.segment_means(B, 4)
    assert out.shape == (2, 3, 4, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out[1, 2, 0], B[1, 2, :4].mean(axis=0), rtol=1e-6)
    with pytest.raises(ValueError, match=r"`k` must lie in \[1, 12\]"):
        sampling.segment_means(X, 13)


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 40), k=st.integers(1, 40),
       method=st.sampled_from(["uniform", "diagonal", "column_norm", "leverage", "recursive_rls"]))
def test_permutation_of_points_keeps_samplers_valid(seed, n, k, method):
    """For any point cloud and k <= n the exact-k samplers return k distinct indices in range."""
    k = min(k, n)
    X = np.random.default_rng(seed).normal(size=(n, 2))
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ka.KernapproxWarning)
        idx = ka.sample_landmarks(KM, k, method=method, rng=seed)
    assert idx.size == k and np.unique(idx).size == k and 0 <= idx.min() and idx.max() < n


def test_bad_input(rng):
    KM, X = _km(rng, n=20)
    for m in METHODS:
        with pytest.raises(ValueError, match=r"`k` must lie in \[1, 20\]; got 21"):
            ka.sample_landmarks(KM, 21, method=m)
        with pytest.raises(ValueError, match=r"`k` must lie in \[1, 20\]; got 0"):
            ka.sample_landmarks(KM, 0, method=m)
    with pytest.raises(ValueError, match="`method` must be one of"):
        ka.sample_landmarks(KM, 3, method="psychic")
    with pytest.raises(TypeError, match="`replace` must be a bool"):
        ka.sample_landmarks(KM, 3, method="uniform", replace="yes")
    with pytest.raises(TypeError, match="unexpected keyword"):
        ka.sample_landmarks(KM, 3, method="diagonal", lam=1.0)
    with pytest.raises(ValueError, match="`lam` must be > 0"):
        ka.sample_landmarks(KM, 3, method="leverage", lam=-1.0)
    with pytest.raises(TypeError, match="rng"):
        ka.sample_landmarks(KM, 3, rng="seed")
    with pytest.raises(ValueError, match="square"):
        ka.sample_landmarks(ka.KernelMatrix(ka.Gaussian(1.0), X, X[:5]), 3, method="diagonal")
    with pytest.raises(ValueError, match="kmeans_centers: `k` must lie in"):
        ka.kmeans_centers(X, 30)
    with pytest.raises(ValueError, match="finite"):
        ka.kmeans_centers(np.array([[np.inf, 1.0]]), 1)


def test_leverage_with_precomputed_eig_reads_no_entries(rng):
    KM, X = _km(rng, n=60)
    eig = np.linalg.eigh(KM.kernel(X))
    KM.reset()
    a = sampling.leverage(KM, 10, eig=eig, rng=4)
    assert KM.n_evals == 0
    np.testing.assert_array_equal(a, sampling.leverage(KM, 10, rng=4))
    with pytest.raises(ValueError, match="`eig` must be"):
        sampling.leverage(KM, 10, eig=(eig[0][:5], eig[1]))


@pytest.mark.parametrize("method", sorted(ka.sampling.METHODS))
def test_samplers_refuse_what_nystrom_refuses(method):
    r = np.random.default_rng(0)
    X = r.normal(size=(30, 2))
    bad = [(r.normal(size=(30, 20)), "square"),                                # rectangular
           (ka.KernelMatrix(ka.Sigmoid(), X), "positive semi-definite"),       # non-PSD kernel
           (r.normal(size=(30, 30)), "positive semi-definite")]                # non-symmetric
    for A, what in bad:
        with pytest.raises(ValueError, match=rf"`KM` must be .*{what}"):
            ka.sample_landmarks(A, 5, method=method, rng=0)
        with pytest.raises(ValueError, match=rf"`KM` must be .*{what}"):
            ka.nystrom(A, np.arange(5))


def test_sample_landmarks_validates_rng_and_options_on_every_path():
    KM = ka.KernelMatrix(ka.Gaussian(1.0), np.random.default_rng(0).normal(size=(30, 2)))
    with pytest.raises(TypeError, match=r"^sample_landmarks: `rng` must be None"):
        ka.sample_landmarks(KM, 5, method="greedy", rng="abc")
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) 'replce'"):
        ka.sample_landmarks(KM, 5, method="uniform", replce=True)
    with pytest.raises(TypeError, match=r"`replace` must be a bool; got 'False'"):
        ka.sample_landmarks(KM, 5, method="diagonal", replace="False")


def test_pivot_samplers_and_their_deprecated_names(rng):
    """The index-returning Cholesky samplers are ``*_pivots``; the old names warn and agree."""
    KM, _ = _km(rng, n=80)
    a = sampling.rpcholesky_pivots(KM, 10, rng=3)
    np.testing.assert_array_equal(a, ka.rpcholesky(KM, 10, rng=3).info["indices"])
    np.testing.assert_array_equal(a, ka.sample_landmarks(KM, 10, method="rpcholesky", rng=3))
    with pytest.warns(DeprecationWarning, match="sampling.rpcholesky is deprecated"):
        np.testing.assert_array_equal(sampling.rpcholesky(KM, 10, rng=3), a)
    g = sampling.greedy_pivots(KM, 10)
    np.testing.assert_array_equal(g, ka.sample_landmarks(KM, 10, method="greedy"))
    with pytest.warns(DeprecationWarning, match="sampling.greedy is deprecated"):
        np.testing.assert_array_equal(sampling.greedy(KM, 10), g)
    assert "rpcholesky" not in sampling.__all__ and "rpcholesky_pivots" in sampling.__all__


def test_leverage_sampler_weights_are_the_spectral_scores(rng):
    """With replacement and a given λ, the leverage sampler draws ∝ spectral.ridge_leverage_scores:
    5000 draws over 5 points; χ²(4) 99.99% quantile is 23.5 (failure probability 1e-4)."""
    X = np.array([[0.0], [0.1], [0.2], [3.0], [6.0]])
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    p = ka.spectral.ridge_leverage_scores(KM, 0.05)
    p = p / p.sum()
    draws = np.concatenate([sampling.leverage(KM, 5, lam=0.05, replace=True, rng=s) for s in range(1000)])
    c = np.bincount(draws, minlength=5)
    assert np.sum((c - 5000 * p) ** 2 / (5000 * p)) < 23.5
