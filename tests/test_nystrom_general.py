"""Tests of kernapprox.nystrom_general and the attention cores of kernapprox._cores
(Skyformer §4.2 Eqs. (4)–(6), Lemma 3, Razavi iteration; generalized Nyström; skeleton CUR)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kernapprox as ka
from kernapprox._cores import EPS, core_inverse, lemma3_normalise, newton_schulz_inverse

GAUSS = ka.Gaussian(1.0)


def _qk(rng, n=60, m=50, p=6, s=0.4):
    return s * rng.normal(size=(n, p)), s * rng.normal(size=(m, p))


def _augmented_dense(kernel, Q, K, idx):
    """Dense C̄ and its Nyström C̄̃ with exact pinv on landmark rows idx (reference, small n only)."""
    X = np.vstack([Q, K])
    Cbar = kernel(X)
    W = Cbar[np.ix_(idx, idx)]
    Cbar_t = Cbar[:, idx] @ np.linalg.pinv(W, rtol=len(idx) * EPS, hermitian=True) @ Cbar[idx, :]
    return Cbar, Cbar_t


# -- exact regimes ----------------------------------------------------------------------------------
def test_skyformer_eq5_all_2n_landmarks_exact_pinv_reproduces_C(rng):
    Q, K = _qk(rng)
    B = ka.augmented_nystrom(GAUSS, Q, K, indices=np.arange(110), core="pinv")
    C = GAUSS(Q, K)
    assert B.shape == (60, 50) and B.rank == 110
    assert np.linalg.norm(B.to_dense() - C, 2) <= 1e-7 * np.linalg.norm(C, 2)
    assert B.info["n_evals"] == 110 * 110 + 110 * 110


def test_lemma1_softmax_kernel_all_landmarks_reproduces_scores(rng):
    Q, K = _qk(rng, s=0.5)
    E = ka.Exponential(1.0)
    B = ka.augmented_nystrom(E, Q, K, indices=np.arange(110), core="pinv")
    A = E(Q, K)
    assert np.linalg.norm(B.to_dense() - A, 2) <= 1e-7 * np.linalg.norm(A, 2)
    assert B.info["shift"] > 0          # blocks computed with one common exponent shift (§2.8)


def test_augmented_block_equals_offdiagonal_block_of_augmented_nystrom(rng):
    Q, K = _qk(rng)
    idx = rng.integers(0, 110, size=25)
    B = ka.augmented_nystrom(GAUSS, Q, K, indices=idx)
    _, Cbar_t = _augmented_dense(GAUSS, Q, K, idx)
    np.testing.assert_allclose(B.to_dense(), Cbar_t[:60, 60:], atol=1e-8)


def test_accumulated_sketch_matches_dense_sketch_formula(rng):
    """Chen & Yang accumulation: B̃ = (I,0) B̄S (SᵀB̄S)^† SᵀB̄ (0,I)ᵀ with S built densely."""
    Q, K = _qk(rng, n=30, m=25)
    a, d = 3, 12
    idx = rng.integers(0, 55, size=(a, d))
    sg = rng.choice([-1.0, 1.0], size=(a, d))
    B = ka.augmented_nystrom(GAUSS, Q, K, indices=idx, signs=sg, accumulation=a, core="pinv")
    S = np.zeros((55, d))
    for i in range(a):
        for k in range(d):
            S[idx[i, k], k] += sg[i, k] / np.sqrt(a)
    Cbar = GAUSS(np.vstack([Q, K]))
    ref = Cbar @ S @ np.linalg.pinv(S.T @ Cbar @ S, rtol=d * EPS, hermitian=True) @ S.T @ Cbar
    np.testing.assert_allclose(B.to_dense(), ref[:30, 30:], atol=1e-8)


def test_stratified_landmarks_half_queries_half_keys():
    idx = ka.nystrom_general.augmented_landmarks(100, 80, 33, landmarks="stratified", rng=0)
    assert idx.shape == (33,)
    assert np.all(idx[:17] < 100) and np.all((idx[17:] >= 100) & (idx[17:] < 180))


def test_uniform2n_landmarks_cover_both_halves():
    idx = ka.nystrom_general.augmented_landmarks(100, 100, 4000, landmarks="uniform2n", rng=0)
    frac = np.mean(idx < 100)
    # Binomial(4000, 1/2): |frac - 1/2| > 0.05 has probability < 1e-9
    assert abs(frac - 0.5) < 0.05


def test_sampler_landmarks_on_augmented_matrix(rng):
    pytest.importorskip("kernapprox.sampling")
    Q, K = _qk(rng)
    B = ka.augmented_nystrom(GAUSS, Q, K, 20, landmarks="rpcholesky", rng=0)
    assert B.info["indices"].shape == (20,)
    C = GAUSS(Q, K)
    assert np.linalg.norm(B.to_dense() - C, 2) < np.linalg.norm(C, 2)


# -- invariants ---------------------------------------------------------------------------------------
@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 40), s=st.floats(0.2, 1.0))
def test_skyformer_eq6_block_error_below_augmented_error_and_psd_residual(seed, d, s):
    """‖C − C̃‖ ≤ ‖C̄ − C̄̃‖ (selector norms 1) and C̄ − C̄̃ ⪰ 0 (App. D), exact pinv, any landmarks."""
    r = np.random.default_rng(seed)
    Q, K = _qk(r, n=30, m=24, p=4, s=s)
    idx = r.integers(0, 54, size=d)
    B = ka.augmented_nystrom(GAUSS, Q, K, indices=idx, core="pinv")
    Cbar, Cbar_t = _augmented_dense(GAUSS, Q, K, idx)
    tol = 1e-8 * np.linalg.norm(Cbar, 2)
    err_block = np.linalg.norm(GAUSS(Q, K) - B.to_dense(), 2)
    err_aug = np.linalg.norm(Cbar - Cbar_t, 2)
    assert err_block <= err_aug + tol
    assert np.linalg.eigvalsh(Cbar - 0.5 * (Cbar_t + Cbar_t.T)).min() >= -tol


@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 60), gamma=st.floats(1e-3, 1.0),
       s=st.floats(0.1, 2.0))
def test_skyformer_lemma3_normalised_core_spectrum_in_0_1(seed, d, gamma, s):
    """Lemma 3: eigenvalues of D_M^{-1/2}(M + γI)D_M^{-1/2} lie in (0, 1] (1 reachable to rounding)."""
    r = np.random.default_rng(seed)
    X = s * r.normal(size=(d, 5))
    N, sc = lemma3_normalise(GAUSS(X), gamma)
    lam = np.linalg.eigvalsh(N)
    assert lam.min() > 0
    assert lam.max() <= 1 + 1e3 * EPS
    Wg = GAUSS(X) + gamma * np.eye(d)
    np.testing.assert_allclose(sc[:, None] * np.linalg.inv(N) * sc[None, :], np.linalg.inv(Wg), rtol=1e-6,
                               atol=1e-8 * np.abs(np.linalg.inv(Wg)).max())


def _gauss_landmark_block(n=256, p=64, d=128, seed=0):
    r = np.random.default_rng(seed)
    X = 0.3 * r.normal(size=(2 * n, p)) / p ** 0.25
    idx = r.integers(0, 2 * n, size=d)
    return GAUSS(X[idx])


def test_razavi_iteration_converges_in_30_steps_and_6_is_partial():
    """§1.3/§2.4: on the Lemma-3-normalised Gaussian core with γ = 0.1 (the code's path) 6 Razavi steps
    are a partial inverse when N has small eigenvalues, while ≈ 30 converge to N⁻¹."""
    W = _gauss_landmark_block()
    N, _ = lemma3_normalise(W, 1e-3)
    I = np.eye(N.shape[0])
    res6 = np.linalg.norm(I - N @ newton_schulz_inverse(N, 6), 2)
    Z30 = newton_schulz_inverse(N, 30)
    assert res6 > 1e-2                         # documented: partial inverse at the code default
    assert np.linalg.norm(I - N @ Z30, 2) < 1e-8
    np.testing.assert_allclose(Z30, np.linalg.inv(N), rtol=1e-6, atol=1e-6 * np.abs(np.linalg.inv(N)).max())


def test_razavi_global_init_and_explicit_scale():
    r = np.random.default_rng(1)
    # row-stochastic matrices (Nyströmformer's softmax core): ‖M‖_∞ = 1, so ‖M‖₁ is the paper's scale
    M = np.stack([np.eye(4) * (1 + i) + 0.1 * r.random((4, 4)) for i in range(3)])
    M /= M.sum(axis=-1, keepdims=True)
    Zg = newton_schulz_inverse(M, 25, init="global")
    np.testing.assert_allclose(Zg, np.linalg.inv(M), rtol=1e-8)
    colmax = np.abs(M).sum(axis=-2).max()
    np.testing.assert_array_equal(newton_schulz_inverse(M, 3, init="global"),
                                  newton_schulz_inverse(M, 3, scale=colmax))
    assert not np.allclose(newton_schulz_inverse(M, 1, init="global"), newton_schulz_inverse(M, 1))


def test_core_inverse_asymmetric_pinv_is_moore_penrose():
    r = np.random.default_rng(2)
    A = r.random((6, 6))
    A[:, -1] = A[:, 0]                                 # singular and asymmetric
    np.testing.assert_allclose(core_inverse(A, "pinv"), np.linalg.pinv(A), atol=1e-10)
    S = A + A.T
    np.testing.assert_allclose(core_inverse(S, "pinv"), np.linalg.pinv(S, hermitian=True), atol=1e-8)


def test_core_inverse_ridge_and_newton_schulz_code_path():
    W = _gauss_landmark_block(n=64, d=32)
    ridge = core_inverse(W, "ridge", lam=0.1)
    np.testing.assert_allclose(ridge, np.linalg.inv(W + 0.1 * np.eye(32)))
    ns = core_inverse(W, "newton_schulz", lam=0.1, n_iter=40)
    np.testing.assert_allclose(ns, ridge, rtol=1e-6, atol=1e-8 * np.abs(ridge).max())


# -- indefinite, generalized, CUR ------------------------------------------------------------------
def test_indefinite_nystrom_sigmoid_all_landmarks_exact_and_negative_eigs_kept(rng):
    X = rng.normal(size=(40, 3))
    KM = ka.KernelMatrix(ka.Sigmoid(0.7, -0.5), X)
    S = ka.indefinite_nystrom(KM, indices=np.arange(40))
    assert S.info["negative_kept"] > 0
    np.testing.assert_allclose(S.to_dense(), KM.dense(), atol=1e-8)


@given(seed=st.integers(0, 2**32 - 1), r=st.integers(1, 6))
def test_indefinite_nystrom_exact_on_low_rank_indefinite(seed, r):
    g = np.random.default_rng(seed)
    U = np.linalg.qr(g.normal(size=(30, r)))[0]
    lam = g.choice([-1.0, 1.0], size=r) * g.uniform(0.5, 2.0, size=r)
    A = (U * lam) @ U.T
    S = ka.indefinite_nystrom(A, indices=np.arange(30))
    np.testing.assert_allclose(S.to_dense(), A, atol=1e-8)
    np.testing.assert_allclose(S.to_dense(), S.to_dense().T, atol=1e-12)


def test_generalized_nystrom_exact_on_low_rank_and_streams_kernel_matrix(rng):
    A = rng.normal(size=(70, 4)) @ rng.normal(size=(4, 50))
    for sk in ("gaussian", "subsample"):
        G = ka.generalized_nystrom(A, 6, sketch=sk, rng=1)
        np.testing.assert_allclose(G.to_dense(), A, atol=1e-8)
    Q, K = _qk(rng)
    KM = ka.KernelMatrix(GAUSS, Q, K)
    X, Y = rng.normal(size=(50, 10)), rng.normal(size=(60, 15))
    G1 = ka.generalized_nystrom(KM, 10, right=X, left=Y)
    G2 = ka.generalized_nystrom(KM.dense(), 10, right=X, left=Y)
    np.testing.assert_allclose(G1.to_dense(), G2.to_dense(), atol=1e-10)
    assert G1.info["n_evals"] == 2 * 60 * 50


def test_skeleton_cur_exact_on_low_rank_and_formula(rng):
    A = rng.normal(size=(40, 3)) @ rng.normal(size=(3, 30))
    np.testing.assert_allclose(ka.skeleton_cur(A, 5, 5, rng=0).to_dense(), A, atol=1e-8)
    Q, K = _qk(rng)
    KM = ka.KernelMatrix(GAUSS, Q, K)
    I, J = np.array([1, 5, 9, 20]), np.array([0, 3, 7])
    Cm = ka.skeleton_cur(KM, I, J)
    D = KM.dense()
    ref = D[:, J] @ np.linalg.pinv(D[np.ix_(I, J)]) @ D[I, :]
    np.testing.assert_allclose(Cm.to_dense(), ref, atol=1e-8)
    assert Cm.info["n_evals"] == 60 * 3 + 50 * 4


def test_float32_preserved(rng):
    Q, K = (a.astype(np.float32) for a in _qk(rng))
    assert ka.augmented_nystrom(GAUSS, Q, K, 10, rng=0).dtype == np.float32


# -- statistics -------------------------------------------------------------------------------------------
def test_skyformer_thm2_error_decreases_with_d_in_the_good_bandwidth_regime():
    """Scale family s = 0.5, p = 64 (§8, §10): relative error ‖C − C̃‖/‖C‖ at d = 128 is below that at
    d = 16 in every one of 5 seeded trials (observed ratio ≈ 0.15; a violation needs a > 6× deviation,
    probability well below 1e-6 by the concentration in Thm 2)."""
    from kernapprox.datasets import scaled_qkv
    for seed in range(5):
        Q, K, _ = scaled_qkv(300, p=64, scale=0.5, rng=seed)
        Qh, Kh = Q / 64 ** 0.25, K / 64 ** 0.25
        C = GAUSS(Qh, Kh)
        e = [np.linalg.norm(C - ka.augmented_nystrom(GAUSS, Qh, Kh, d, rng=seed).to_dense(), 2)
             for d in (16, 128)]
        assert e[1] < 0.5 * e[0]


# -- bad input ----------------------------------------------------------------------------------------
def test_bad_input(rng):
    Q, K = _qk(rng)
    with pytest.raises(ValueError, match="PSD kernel"):
        ka.augmented_nystrom(ka.Sigmoid(), Q, K, 5)
    with pytest.raises(ValueError, match="same number of columns"):
        ka.augmented_nystrom(GAUSS, Q, K[:, :3], 5)
    with pytest.raises(ValueError, match=r"indices in \[0, 110\)"):
        ka.augmented_nystrom(GAUSS, Q, K, indices=[0, 110])
    with pytest.raises(ValueError, match=r"`d` must be >= 1; got 0"):
        ka.augmented_nystrom(GAUSS, Q, K, 0)
    with pytest.raises(ValueError, match=r"^augmented_nystrom: `d` must lie in \[1, 110\]; got 111$"):
        ka.augmented_nystrom(GAUSS, Q, K, 111, landmarks="rpcholesky")
    with pytest.raises(ValueError, match=r"^augmented_nystrom: `d` must fit in the available memory"):
        ka.augmented_nystrom(GAUSS, Q, K, 10 ** 12)
    with pytest.raises(ValueError, match="finite"):
        ka.augmented_nystrom(GAUSS, np.full_like(Q, np.nan), K, 5)
    with pytest.raises(ValueError, match="accumulation"):
        ka.augmented_nystrom(GAUSS, Q, K, indices=np.zeros((2, 3), int), accumulation=3)
    with pytest.raises(ValueError, match="core"):
        ka.augmented_nystrom(GAUSS, Q, K, 5, core="magic")
    with pytest.raises(ValueError, match="`d` must lie in"):
        ka.indefinite_nystrom(ka.KernelMatrix(GAUSS, Q), 61)
    with pytest.raises(ValueError, match="square"):
        ka.indefinite_nystrom(rng.normal(size=(4, 5)), 2)
    with pytest.raises(ValueError, match="`d` must lie in"):
        ka.generalized_nystrom(rng.normal(size=(10, 5)), 6)
    with pytest.raises(TypeError, match="`A` must be a KernelMatrix"):
        ka.skeleton_cur("x", 1, 1)


def test_options_contract(rng):
    """Every keyword is validated whichever core or path runs; symmetry claims are checked."""
    Q, K = _qk(rng)
    for kw, exc, msg in [(dict(lam="abc"), TypeError, "`lam` must be a real number"),
                         (dict(gamma="abc"), TypeError, "`gamma` must be a real number"),
                         (dict(n_iter=-5), ValueError, "`n_iter` must lie in"),
                         (dict(n_iter=10 ** 12), ValueError, "`n_iter` must lie in"),
                         (dict(normalise="yes"), TypeError, "`normalise` must be a bool"),
                         (dict(init="magic"), ValueError, "`init` must be one of"),
                         (dict(rcond=np.nan), ValueError, "`rcond` must be a finite number in"),
                         (dict(rng="abc"), TypeError, "`rng` must be None")]:
        with pytest.raises(exc, match=r"^augmented_nystrom: " + msg.replace("(", r"\(")):
            ka.augmented_nystrom(GAUSS, Q, K, 5, core="pinv", **kw)
    A = rng.normal(size=(30, 30))
    for bad in (np.nan, np.inf, True, "abc", -1.0, 1.0):
        exc = TypeError if isinstance(bad, (bool, str)) else ValueError
        with pytest.raises(exc, match=r"^indefinite_nystrom: `rcond` must"):
            ka.indefinite_nystrom(A + A.T, 5, rcond=bad, rng=0)
        with pytest.raises(exc, match=r"^skeleton_cur: `rcond` must"):
            ka.skeleton_cur(A, 5, 5, rcond=bad, rng=0)
        with pytest.raises(exc, match=r"^generalized_nystrom: `rcond` must"):
            ka.generalized_nystrom(A, 5, rcond=bad, rng=0)
    # deterministic paths validate rng too
    with pytest.raises(TypeError, match=r"^skeleton_cur: `rng` must be None"):
        ka.skeleton_cur(A, [0, 1], [0, 1], rng=object())
    # a non-symmetric matrix is refused by the indefinite (symmetric) Nyström, a symmetric one is not
    with pytest.raises(ValueError, match=r"^indefinite_nystrom: `A` must be symmetric"):
        ka.indefinite_nystrom(A, 5, rng=0)
    S = A + A.T
    full = ka.indefinite_nystrom(S, indices=np.arange(30)).to_dense()
    assert np.abs(full - S).max() < 1e-10 * np.abs(S).max()
    with pytest.raises(ValueError, match=r"^generalized_nystrom: `oversample` must lie in \[0, 25\]"):
        ka.generalized_nystrom(A, 5, oversample=26, rng=0)


def test_signed_eig_core_and_its_deprecated_spelling():
    """The indefinite forms' core that keeps negative eigenvalues is ``"signed_eig"`` (``ka.nystrom``'s
    ``"eig"`` is the PSD part); ``"eig"`` there still works, warns, and gives the same result."""
    X = np.random.default_rng(0).normal(size=(60, 3))
    A = ka.KernelMatrix(ka.Sigmoid(0.5, -1.0), X)
    new = ka.indefinite_nystrom(A, indices=np.arange(0, 60, 3), core="signed_eig")
    with pytest.warns(DeprecationWarning, match="`core='eig'` is deprecated, use `core='signed_eig'`"):
        old = ka.indefinite_nystrom(A, indices=np.arange(0, 60, 3), core="eig")
    np.testing.assert_array_equal(new.U, old.U)
    np.testing.assert_array_equal(new.lam, old.lam)
    Q, K, V = np.random.default_rng(1).normal(size=(3, 40, 4))
    a = ka.attention.approximate(Q, K, V, method="skyformer", target="softmax", d=8, rng=0, core="signed_eig")
    with pytest.warns(DeprecationWarning, match="signed_eig"):
        b = ka.attention.approximate(Q, K, V, method="skyformer", target="softmax", d=8, rng=0, core="eig")
    np.testing.assert_array_equal(a, b)
