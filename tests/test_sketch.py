"""Tests of kernapprox.sketch: dot test, dense formulas, E[S Sᵀ] = I, JL, bad input."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy.linalg import hadamard

import kernapprox as ka
from kernapprox.sketch import SRHTSketch

KINDS = [("gaussian", {}), ("rademacher", {}), ("srht", {}), ("sparse_sign", {}), ("sparse_sign", {"zeta": 3}),
         ("countsketch", {}), ("subsample", {}), ("subsample", {"replace": False}),
         ("subsample", {"p": np.linspace(1, 3, 50)}), ("accumulated", {"m": 1}), ("accumulated", {"m": 5})]
IDS = [k + ("-" + "-".join(o) if o else "") for k, o in KINDS]


@pytest.mark.parametrize("kind,opts", KINDS, ids=IDS)
def test_dot_test_and_dense_formulas(rng, kind, opts):
    """⟨Sᵀ A, B⟩ = ⟨A, S B⟩, and every product equals the same product with ``S.to_dense()``."""
    n, s = 50, 12
    S = ka.make_sketch(kind, n, s, rng=1, **opts)
    assert S.shape == (n, s) and S.T.shape == (s, n)
    A, B, C = rng.normal(size=(n, 3)), rng.normal(size=(s, 3)), rng.normal(size=(4, n))
    lhs, rhs = np.sum((S.T @ A) * B), np.sum(A * (S @ B))
    assert abs(lhs - rhs) <= 1e-12 * (1 + abs(lhs))
    D = S.to_dense()
    assert D.shape == (n, s)
    np.testing.assert_allclose(S.T @ A, D.T @ A, atol=1e-12)
    np.testing.assert_allclose(S @ B, D @ B, atol=1e-12)
    np.testing.assert_allclose(C @ S, C @ D, atol=1e-12)
    np.testing.assert_allclose(B.T @ S.T, B.T @ D.T, atol=1e-12)
    np.testing.assert_allclose(S.T @ A[:, 0], D.T @ A[:, 0], atol=1e-12)  # vectors
    np.testing.assert_allclose(S.T.to_dense(), D.T)
    assert (S.T @ A.astype(np.float32)).dtype == np.float32


def test_srht_matches_dense_hadamard_formula(rng):
    n, s = 13, 6
    S = ka.make_sketch("srht", n, s, rng=2)
    N = 16
    H = hadamard(N) / np.sqrt(N)
    full = np.sqrt(N / s) * (np.diag(S.signs) @ H.T)[:, S.rows]  # S = √(N/s) D Hᵀ Pᵀ
    np.testing.assert_allclose(S.to_dense(), full[:n], atol=1e-13)
    with pytest.raises(ValueError, match="power-of-two"):
        SRHTSketch(np.ones(12), np.arange(3), 10)


def test_accumulated_structure_and_subsample_weights():
    n, s, m = 40, 10, 3
    S = ka.make_sketch("accumulated", n, s, m=m, rng=0).to_dense()
    unit = np.sqrt(n / (m * s))
    np.testing.assert_allclose(S / unit, np.round(S / unit), atol=1e-12)  # integer multiples
    assert np.all(np.abs(S / unit).sum(axis=0) <= m)
    p = np.arange(1, n + 1.0)
    Ssub = ka.make_sketch("subsample", n, s, p=p, rng=0)
    D = Ssub.to_dense()
    i = Ssub.indices
    np.testing.assert_allclose(D[i, np.arange(s)], 1 / np.sqrt(s * p[i] / p.sum()))
    plain = ka.make_sketch("subsample", n, s, weighted=False, replace=False, rng=0)
    assert not plain.identity_in_expectation and set(np.unique(plain.to_dense())) == {0.0, 1.0}


@pytest.mark.parametrize("kind,opts", KINDS, ids=IDS)
def test_identity_in_expectation(kind, opts):
    """E‖Sᵀx‖² = ‖x‖² (i.e. xᵀE[S Sᵀ]x = xᵀx) for a fixed x: |mean − ‖x‖²| <= 4 sd/√T.

    T = 400 independent sketches; normal approximation of the mean → failure probability 6e-5.
    (Non-uniform sub-sampling WITH replacement and uniform without replacement keep the identity.)
    """
    n, s, T = 50, 10, 400
    x = np.random.default_rng(5).normal(size=n)
    v = np.array([np.sum((ka.make_sketch(kind, n, s, rng=100 + t, **opts).T @ x) ** 2) for t in range(T)])
    assert abs(v.mean() - x @ x) <= 4 * v.std(ddof=1) / np.sqrt(T)


@pytest.mark.parametrize("kind,opts", KINDS, ids=IDS)
def test_johnson_lindenstrauss_norm_preservation(kind, opts):
    """s = 400 rows preserve squared norms of 20 (incoherent, Gaussian) vectors within ε = 0.5.

    The squared-norm ratio has sd ≈ √(2/s) ≈ 0.07 (≈ 0.1 for sub-sampling a Gaussian vector), so
    ε = 0.5 is ≥ 5 sd: failure probability < 1e-5 per vector, < 2e-4 for the 20 (union bound).
    """
    n, s = 1000, 400
    if "p" in opts:
        opts = {"p": np.linspace(1, 3, n)}
    X = np.random.default_rng(6).normal(size=(n, 20))
    S = ka.make_sketch(kind, n, s, rng=9, **opts)
    ratio = np.sum((S.T @ X) ** 2, axis=0) / np.sum(X ** 2, axis=0)
    assert np.all(np.abs(ratio - 1) <= 0.5), ratio


@given(st.sampled_from([k for k, _ in KINDS]), st.floats(-3, 3))
def test_linearity(kind, a):
    rng = np.random.default_rng(0)
    S = ka.make_sketch(kind, 30, 8, rng=1)
    A, B = rng.normal(size=(2, 30, 2))
    np.testing.assert_allclose(S.T @ (a * A + B), a * (S.T @ A) + S.T @ B, atol=1e-10)


def test_sparse_support():
    S = ka.make_sketch("subsample", 100, 5, replace=False, rng=0)
    np.testing.assert_array_equal(S.support(), np.sort(S.indices))
    assert ka.make_sketch("gaussian", 10, 3, rng=0).support() is None


def test_bad_input(rng):
    with pytest.raises(ValueError, match="make_sketch: `kind` must be one of"):
        ka.make_sketch("fft", 10, 3)
    with pytest.raises(ValueError, match="`s` must be >= 1"):
        ka.make_sketch("gaussian", 10, 0)
    with pytest.raises(ValueError, match="`n` must be >= 1"):
        ka.make_sketch("gaussian", -1, 3)
    with pytest.raises(ValueError, match="power of two"):
        ka.make_sketch("srht", 10, 17)
    with pytest.raises(ValueError, match="without replacement"):
        ka.make_sketch("subsample", 10, 11, replace=False)
    with pytest.raises(ValueError, match="`p` must be 10 non-negative"):
        ka.make_sketch("subsample", 10, 3, p=np.ones(9))
    with pytest.raises(ValueError, match="`zeta` must lie in"):
        ka.make_sketch("sparse_sign", 10, 3, zeta=4)
    with pytest.raises(TypeError, match="unexpected option"):
        ka.make_sketch("gaussian", 10, 3, m=2)
    S = ka.make_sketch("gaussian", 10, 3, rng=0)
    with pytest.raises(ValueError, match="have 10 rows"):
        S.T @ rng.normal(size=(9, 2))
    with pytest.raises(ValueError, match="have 3 rows"):
        S @ rng.normal(size=(4, 2))
    with pytest.raises(ValueError, match="finite"):
        S.T @ np.full((10, 2), np.inf)
