"""kernapprox.spectral: one implementation of the spectral quantities, shared by sampling and bounds."""
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

import kernapprox as ka
from kernapprox import bounds, sampling, spectral

EPS = np.finfo(np.float64).eps


def _gauss(X, bw):
    D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    return np.exp(-D / (2 * bw * bw))


def _clip_at_zero_scores(K, lam):
    """Leverage scores from the eigenvalues clipped at 0 (no rounding-level zeroing)."""
    sig, U = np.linalg.eigh(0.5 * (K + K.T))
    sig = np.maximum(sig, 0.0)
    return np.clip((U * U) @ (sig / (sig + lam)), 0.0, 1.0)


def test_one_object_under_every_public_name():
    assert sampling.ridge_leverage_scores is bounds.ridge_leverage_scores is spectral.ridge_leverage_scores
    assert sampling.statistical_dimension is bounds.statistical_dimension is spectral.statistical_dimension
    assert bounds.leverage_beta is spectral.leverage_beta
    assert bounds.stable_rank is spectral.stable_rank


def test_tails_use_the_clipped_eigenvalues():
    """Sums of eigenvalues (tails, traces) keep rounding-level eigenvalues (clipped at 0): a tail at
    the noise level stays positive, as the trace error of any computed approximation does."""
    X = np.random.default_rng(0).normal(size=(80, 1))
    S = spectral.PSDSpectrum.of(_gauss(X, 3.0), vectors=False)
    assert np.all(S.sigma >= 0) and np.all(S.sigma[:-1] >= S.sigma[1:])
    assert np.any((S.sigma > 0) & (S.resolved == 0))           # some eigenvalues are below the accuracy
    assert S.trace == pytest.approx(80.0) and S.sigma.sum() == pytest.approx(80.0)


def test_scores_match_the_definition(rng):
    G = rng.normal(size=(30, 5))
    K = G @ G.T + 0.1 * np.eye(30)
    for lam in (1e-3, 0.7, 50.0):
        direct = np.diag(K @ np.linalg.inv(K + lam * np.eye(30)))
        np.testing.assert_allclose(spectral.ridge_leverage_scores(K, lam), direct, atol=1e-12)
        assert spectral.statistical_dimension(K, lam) == pytest.approx(direct.sum(), rel=1e-12)
    S = spectral.PSDSpectrum.of(K)
    assert S.beta(0.7) == pytest.approx(spectral.leverage_beta(K, 0.7), rel=1e-14)
    assert S.N == 30 and S.norm == pytest.approx(np.linalg.eigvalsh(K)[-1], rel=1e-13)
    np.testing.assert_allclose(S.diag, np.diag(K))


def test_the_clipping_rule_resolved(rng):
    """In the ratios σ/(σ + λ) eigenvalues below 10·N·eps·σ₁ (the eigensolver's accuracy) count as 0.

    Clipping them at 0 only (:func:`_clip_at_zero_scores`) changes each score by at most the largest
    weight such an eigenvalue could carry, ``t/(t + λ)`` with ``t = 10 N eps σ₁`` (the rows of U² sum to 1); on a
    matrix with no eigenvalue below t both rules agree to rounding.
    """
    # a spectrum far above the threshold: both rules agree
    G = rng.normal(size=(40, 40))
    K = G @ G.T + np.eye(40)
    for lam in (1e-8, 1e-2, 10.0):
        np.testing.assert_allclose(spectral.ridge_leverage_scores(K, lam), _clip_at_zero_scores(K, lam),
                                   rtol=0, atol=1e-12)
    # a numerically low-rank Gaussian kernel matrix: the difference stays within the stated bound
    X = rng.normal(size=(120, 2))
    K = _gauss(X, 2.0)
    sig_max = np.linalg.eigvalsh(K)[-1]
    t = spectral.ZERO_EIG_MULTIPLE * 120 * EPS * sig_max
    for lam in (1e-12, 1e-6, 1e-1):
        diff = np.abs(spectral.ridge_leverage_scores(K, lam) - _clip_at_zero_scores(K, lam))
        assert diff.max() <= t / (t + lam) + 1e-12


def test_float32_entries_are_judged_by_float32_rounding():
    X = np.random.default_rng(3).normal(size=(60, 2))
    K32 = ka.Gaussian(1.0)(X.astype(np.float32))
    assert K32.dtype == np.float32
    out = spectral.ridge_leverage_scores(K32, 0.1)          # eigenvalues ~ -1e-7 are float32 rounding
    K = ka.Gaussian(1.0)(X)
    np.testing.assert_allclose(out, np.diag(K @ np.linalg.inv(K + 0.1 * np.eye(60))), atol=1e-4)


def test_accepts_kernel_matrices_and_low_rank_results(rng):
    X = rng.normal(size=(40, 2))
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    np.testing.assert_allclose(spectral.ridge_leverage_scores(KM, 0.1),
                               spectral.ridge_leverage_scores(KM.dense(), 0.1), atol=1e-14)
    F = rng.normal(size=(20, 3))
    A = ka.PSDLowRank(F)
    assert spectral.statistical_dimension(A, 1.0) == pytest.approx(
        spectral.statistical_dimension(F @ F.T, 1.0), rel=1e-12)


def test_hand_computed_diagonal():
    K = np.diag([3.0, 1.0, 0.0])
    np.testing.assert_allclose(spectral.ridge_leverage_scores(K, 1.0), [0.75, 0.5, 0.0], atol=1e-15)
    assert spectral.statistical_dimension(K, 1.0) == pytest.approx(1.25)
    assert spectral.leverage_beta(K, 1.0) == pytest.approx(1.25 / (3 * 0.75))
    assert spectral.stable_rank(np.diag([2.0, 1.0])) == pytest.approx(1.25)


@given(seed=st.integers(0, 2**31 - 1), lam1=st.floats(1e-3, 10.0), factor=st.floats(1.01, 100.0))
def test_invariants(seed, lam1, factor):
    G = np.random.default_rng(seed).normal(size=(12, 4))
    K = G @ G.T
    l1 = spectral.ridge_leverage_scores(K, lam1)
    l2 = spectral.ridge_leverage_scores(K, lam1 * factor)
    assert np.all((l1 >= 0) & (l1 <= 1)) and np.all(l2 <= l1 + 1e-12)
    assert 0 < spectral.leverage_beta(K, lam1) <= 1 + 1e-12
    assert 1 - 1e-12 <= spectral.stable_rank(G) <= 4 + 1e-12


def test_old_keyword_spelling_warns_and_agrees():
    K = np.diag([2.0, 1.0])
    with pytest.warns(DeprecationWarning, match="`KM_or_dense` is deprecated, use `K`"):
        a = sampling.ridge_leverage_scores(KM_or_dense=K, lam=1.0)
    np.testing.assert_array_equal(a, spectral.ridge_leverage_scores(K, 1.0))
    with pytest.raises(TypeError, match="both `K` and its deprecated alias"):
        spectral.statistical_dimension(K, 1.0, KM_or_dense=K)


def test_bad_input():
    with pytest.raises(ValueError, match="ridge_leverage_scores: `K` must be a square"):
        spectral.ridge_leverage_scores(np.ones((3, 4)), 1.0)
    with pytest.raises(ValueError, match="`lam` must be > 0"):
        spectral.statistical_dimension(np.eye(3), 0.0)
    with pytest.raises(ValueError, match="`K` must be positive semi-definite"):
        spectral.ridge_leverage_scores(np.diag([1.0, -1.0]), 1.0)
    with pytest.raises(ValueError, match="`K` must be symmetric"):
        spectral.ridge_leverage_scores(np.array([[1.0, 0.9], [-0.9, 1.0]]), 1.0)
    with pytest.raises(ValueError, match="leverage_beta: `K` must be nonzero"):
        spectral.leverage_beta(np.zeros((3, 3)), 1.0)
    with pytest.raises(ValueError, match="stable_rank: `H` must be nonzero"):
        spectral.stable_rank(np.zeros((2, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spectral.ridge_leverage_scores(np.eye(3), 1.0)          # no warning on the plain path
