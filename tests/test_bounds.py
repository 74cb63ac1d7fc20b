"""Tests of kernapprox.bounds: hand-computed tiny cases, monotonicity, empirical validity of the theorems."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy.stats import binom

import kernapprox as ka
from kernapprox import bounds as b


def _gauss(X, Y, bw):
    D = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    return np.exp(-D / (2 * bw * bw))


def _nystrom_F(Kbar, L, rcond=1e-14):
    """Exact-pinv PSD Nyström factor F (F Fᵀ = K[:, L] K[L, L]⁺ K[L, :]) from landmark list L.

    Nyström depends only on the column space, so duplicated landmarks are dropped (algorithms.md §1.2).
    """
    L = np.unique(L)
    lw, U = np.linalg.eigh(Kbar[np.ix_(L, L)])
    keep = lw > rcond * lw.max()
    return Kbar[:, L] @ (U[:, keep] / np.sqrt(lw[keep]))


# --------------------------------------------------------------------------------------------------
# leverage scores, statistical dimension, β (algorithms.md §1.4)
# --------------------------------------------------------------------------------------------------
def test_leverage_scores_hand_computed_diagonal():
    K = np.diag([3.0, 1.0, 0.0])
    np.testing.assert_allclose(b.ridge_leverage_scores(K, 1.0), [0.75, 0.5, 0.0], atol=1e-15)
    assert b.statistical_dimension(K, 1.0) == pytest.approx(1.25)
    assert b.leverage_beta(K, 1.0) == pytest.approx(1.25 / (3 * 0.75))


def test_leverage_scores_match_definition(rng):
    G = rng.normal(size=(30, 5))
    K = G @ G.T
    lam = 0.7
    direct = np.diag(K @ np.linalg.inv(K + lam * np.eye(30)))
    np.testing.assert_allclose(b.ridge_leverage_scores(K, lam), direct, atol=1e-12)
    assert b.statistical_dimension(K, lam) == pytest.approx(direct.sum(), rel=1e-12)
    # a KernelMatrix is accepted (formed densely)
    X = rng.normal(size=(40, 2))
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    np.testing.assert_allclose(b.ridge_leverage_scores(KM, 0.1), b.ridge_leverage_scores(KM.dense(), 0.1))


@given(seed=st.integers(0, 2**31 - 1), lam1=st.floats(1e-3, 10.0), factor=st.floats(1.01, 100.0))
def test_leverage_scores_invariants(seed, lam1, factor):
    g = np.random.default_rng(seed)
    G = g.normal(size=(12, 4))
    K = G @ G.T
    l1 = b.ridge_leverage_scores(K, lam1)
    l2 = b.ridge_leverage_scores(K, lam1 * factor)
    assert np.all((l1 >= 0) & (l1 <= 1))
    assert np.all(l2 <= l1 + 1e-12)                      # each score decreases in λ
    assert 0 < b.leverage_beta(K, lam1) <= 1 + 1e-12
    assert b.statistical_dimension(K, lam1 * factor) <= b.statistical_dimension(K, lam1) + 1e-12


# --------------------------------------------------------------------------------------------------
# Skyformer Theorem 2 (algorithms.md §2.6)
# --------------------------------------------------------------------------------------------------
def test_skyformer_completion_formula(rng):
    Q, K = rng.normal(size=(5, 16)), rng.normal(size=(7, 16))
    Cbar, C = b.skyformer_completion(Q, K)
    X = np.vstack([Q, K])
    np.testing.assert_allclose(Cbar, _gauss(X, X, 16 ** 0.25), atol=1e-14)
    np.testing.assert_allclose(C, np.exp(-((Q[:, None] - K[None]) ** 2).sum(-1) / (2 * 4.0)), atol=1e-14)


def test_skyformer_theorem2_tiny_case_by_hand():
    # n = 1, q = k = 0: C̄ = [[1, 1], [1, 1]] (eigenvalues 2, 0), ‖C‖ = 1.
    Q = K = np.zeros((1, 1))
    eps, delta = 0.5, 0.1
    # λ = 0.5, ℓ_i = ½·2/(2 + λ) = 0.4, d_stat = 0.8, β = d_stat/(N max ℓ) = 1
    d, det = b.skyformer_required_d(Q, K, eps, delta, return_details=True)
    assert det["lam"] == pytest.approx(0.5) and det["d_stat"] == pytest.approx(0.8)
    assert det["max_leverage"] == pytest.approx(0.4) and det["beta_best"] == pytest.approx(1.0)
    assert d == math.ceil(56 / 3 * 0.8 / 1.0 * math.log(4 * 1 / delta))
    # λ*(d): (56/3)·2·ℓ(λ)·log(4/δ) <= d with ℓ(λ) = 1/(2 + λ)  =>  λ* = (112/3) log(40)/d − 2
    lam = b.skyformer_guaranteed_error(Q, K, 50, delta)
    assert lam == pytest.approx(112 / 3 * math.log(40) / 50 - 2, rel=1e-8)
    assert b.skyformer_guaranteed_error(Q, K, 50, delta, relative=True) == pytest.approx(lam)   # ‖C‖ = 1
    # enough landmarks: any λ > 0 qualifies (rank-one C̄ is reproduced by one landmark)
    assert b.skyformer_guaranteed_error(Q, K, 200, delta) < 1e-8
    # too few: capped at ‖C̄‖ = 2 (deterministic bound), marked vacuous
    lam_small, det_small = b.skyformer_guaranteed_error(Q, K, 1, delta, return_details=True)
    assert lam_small == pytest.approx(2.0) and det_small["vacuous"]


def test_skyformer_required_d_matches_numpy_definition(rng):
    n, p = 20, 8
    Q, K = 0.5 * rng.normal(size=(n, p)), 0.5 * rng.normal(size=(n, p))
    X = np.vstack([Q, K]) / p ** 0.25
    Cbar = _gauss(X, X, 1.0)
    C = Cbar[:n, n:]
    eps, delta = 0.3, 0.05
    lam = eps * np.linalg.norm(C, 2)
    ell = np.diag(Cbar @ np.linalg.inv(Cbar + lam * np.eye(2 * n)))
    expected = math.ceil(56 / 3 * (ell.sum() / (ell.sum() / (2 * n * ell.max()))) * math.log(4 * n / delta))
    assert b.skyformer_required_d(Q, K, eps, delta) == expected
    # a smaller admissible β asks for more landmarks; the best β reproduces the default
    _, det = b.skyformer_required_d(Q, K, eps, delta, return_details=True)
    assert b.skyformer_required_d(Q, K, eps, delta, beta=det["beta_best"] / 2) >= 2 * expected - 1
    with pytest.raises(ValueError, match="`beta` must be <= the best admissible"):
        b.skyformer_required_d(Q, K, eps, delta, beta=min(1.0, 2 * det["beta_best"]))


def test_skyformer_bounds_monotone(rng):
    n, p = 30, 4
    Q, K = 0.3 * rng.normal(size=(n, p)), 0.3 * rng.normal(size=(n, p))
    ds = [b.skyformer_required_d(Q, K, e, 0.1) for e in (0.1, 0.3, 0.6, 0.9)]
    assert all(x >= y for x, y in zip(ds, ds[1:]))                         # larger ε: fewer landmarks
    dd = [b.skyformer_required_d(Q, K, 0.3, dl) for dl in (0.01, 0.1, 0.4)]
    assert all(x >= y for x, y in zip(dd, dd[1:]))                         # larger δ: fewer landmarks
    lams = [b.skyformer_guaranteed_error(Q, K, d, 0.1) for d in (10, 100, 300, 1000, 3000)]
    assert all(x >= y for x, y in zip(lams, lams[1:]))                     # more landmarks: smaller error
    assert b.skyformer_guaranteed_error(Q, K, 300, 0.01) >= b.skyformer_guaranteed_error(Q, K, 300, 0.3)
    # consistency: the required d at ε = λ*(d)/‖C‖ is (up to rounding of the bisection) at most d
    lam, det = b.skyformer_guaranteed_error(Q, K, 1000, 0.1, return_details=True)
    eps = lam / det["norm_C"]
    if eps < 1:
        assert b.skyformer_required_d(Q, K, eps * (1 + 1e-6), 0.1) <= 1000


def test_skyformer_theorem2_honoured_empirically():
    """Skyformer Thm 2: ‖C − C̃‖ <= λ*(d) in >= 1 − δ of trials (uniform over 2n, exact pinv)."""
    g = np.random.default_rng(2021)
    n, p, delta, trials = 100, 4, 0.1, 20
    Q, K = 0.1 * g.normal(size=(n, p)), 0.1 * g.normal(size=(n, p))
    Cbar, C = b.skyformer_completion(Q, K)
    normC = np.linalg.norm(C, 2)
    checked = 0
    for d in (150, 250):
        lam, det = b.skyformer_guaranteed_error(Q, K, d, delta, return_details=True)
        if not lam < normC:            # the test applies wherever the guarantee is below ‖C‖
            continue
        checked += 1
        violations = sandwich_fail = 0
        for _ in range(trials):
            L = g.integers(0, 2 * n, size=d)                   # d i.i.d. uniform rows of [Q̂; K̂]
            F = _nystrom_F(Cbar, L)
            violations += np.linalg.norm(C - F[:n] @ F[n:].T, 2) > lam
            lo, up = b.psd_sandwich(Cbar, F @ F.T, lam)         # C̄̃ ⪯ C̄ ⪯ C̄̃ + λI
            sandwich_fail += (lo < -1e-9 * det["norm_Cbar"]) or (up < -1e-9 * det["norm_Cbar"])
        # The theorem gives P(violation) <= δ per trial; the explicit constant is very conservative
        # (observed errors are ~1e-8 of λ*), so violations never occur. Were the theorem tight, the
        # chance of more than ⌊δ·T⌋ = 2 violations in 20 trials would be P(Bin(20, 0.1) > 2) ≈ 0.32;
        # we also assert the (much looser) 1e-3 binomial tail, which a valid bound fails w.p. <= 1e-3.
        assert violations <= delta * trials
        assert violations <= binom.ppf(1 - 1e-3, trials, delta)
        assert sandwich_fail <= delta * trials
    assert checked >= 1


# --------------------------------------------------------------------------------------------------
# Musco & Musco RLS Nyström, Drineas–Mahoney (algorithms.md §6)
# --------------------------------------------------------------------------------------------------
def test_rls_nystrom_required_d_formula_and_empirical(rng):
    X = rng.normal(size=(150, 2))
    Kd = _gauss(X, X, 1.0)
    lam, delta = 0.05 * np.linalg.norm(Kd, 2), 0.1
    d = b.rls_nystrom_required_d(Kd, lam, delta)
    sig = np.linalg.eigvalsh(Kd)[::-1]
    d_stat = float(np.sum(np.clip(sig, 0, None) / (np.clip(sig, 0, None) + lam)))
    s = d_stat * (sig[0] + lam) / sig[0]
    assert d == math.ceil(28 / 3 * s * math.log(4 * s / delta))
    assert b.rls_nystrom_required_d(Kd, lam, delta, dimension="ambient") == math.ceil(
        28 / 3 * s * math.log(2 * 150 / delta))
    # Seeded empirical check of K̃ ⪯ K ⪯ K̃ + λI with exact RLS sampling: the bound is conservative, so
    # no failure is expected; a valid bound fails `<= δT` with prob. <= P(Bin(10, .1) > 1) ≈ 0.26 if it
    # were tight — it is not (observed: 0 failures).
    p = b.ridge_leverage_scores(Kd, lam)
    p = p / p.sum()
    fails = 0
    for _ in range(10):
        L = rng.choice(150, size=d, p=p)
        F = _nystrom_F(Kd, L)
        lo, up = b.psd_sandwich(Kd, F @ F.T, lam)
        fails += (lo < -1e-9) or (up < -1e-9)
    assert fails <= 0.1 * 10
    lam_star = b.rls_nystrom_guaranteed_error(Kd, d, delta)
    assert lam_star <= lam * (1 + 1e-6)
    assert b.rls_nystrom_guaranteed_error(Kd, 10 * d, delta) <= lam_star


def test_drineas_mahoney_hand_computed(rng):
    eta = 1 + math.sqrt(8 * math.log(1 / 0.1))
    assert b.drineas_mahoney_required_c(5, 0.5) == math.ceil(64 * 5 / 0.5 ** 4)
    assert b.drineas_mahoney_required_c(5, 0.5, 0.1) == math.ceil(64 * 5 * eta ** 2 / 0.5 ** 4)
    assert b.drineas_mahoney_required_c(5, 0.5, norm="spectral") == math.ceil(4 / 0.25)
    K = np.diag([4.0, 2.0, 1.0])
    # spectral: ‖K − K_1‖ = 2, Σ K_ii² = 21, ε = sqrt(4/c)
    assert b.drineas_mahoney_bound(K, 1, 16, norm="spectral") == pytest.approx(2 + 0.5 * 21)
    # Frobenius: ‖K − K_1‖_F = sqrt(5), ε = (64/c)^¼
    assert b.drineas_mahoney_bound(K, 1, 64) == pytest.approx(math.sqrt(5) + 21)
    bs = [b.drineas_mahoney_bound(K, 1, c, 0.1) for c in (10, 100, 1000)]
    assert bs[0] > bs[1] > bs[2]


# --------------------------------------------------------------------------------------------------
# random features, matrix Bernstein (algorithms.md §9.3)
# --------------------------------------------------------------------------------------------------
def test_rff_bound_hand_computed_and_inverse():
    K = np.eye(4)
    R, s2, L = (2 * 4 + 1) / 100, 2 * 4 * 1 / 100, math.log(2 * 4 / 0.1)
    assert b.rff_spectral_bound(K, 100, 0.1) == pytest.approx(R / 3 * L + math.sqrt((R / 3 * L) ** 2 + 2 * s2 * L))
    Li = math.log(4 * 4 / 0.1)                               # intdim(I) = 4
    assert b.rff_spectral_bound(K, 100, 0.1, dimension="intrinsic") == pytest.approx(
        R / 3 * Li + math.sqrt((R / 3 * Li) ** 2 + 2 * s2 * Li))
    D = b.rff_required_features(K, 0.5, 0.1)
    assert b.rff_spectral_bound(K, D, 0.1) <= 0.5 * (1 + 1e-12)
    assert b.rff_spectral_bound(K, D - 1, 0.1) > 0.5


@given(D1=st.integers(1, 10_000), D2=st.integers(1, 10_000), d1=st.floats(1e-6, 0.99), d2=st.floats(1e-6, 0.99))
def test_rff_bound_monotone(D1, D2, d1, d2):
    K = np.diag([3.0, 1.0, 0.5])
    if D1 <= D2:
        assert b.rff_spectral_bound(K, D1, 0.1) >= b.rff_spectral_bound(K, D2, 0.1)
    if d1 <= d2:
        assert b.rff_spectral_bound(K, 100, d1) >= b.rff_spectral_bound(K, 100, d2)


def test_rff_bound_honoured_empirically(rng):
    # Seeded: P(‖K̃ − K‖ > bound) <= δ = 0.05 per draw by the theorem; 10 draws, allowed 0 failures:
    # a tight bound would fail this w.p. <= 1 − 0.95^10 ≈ 0.40, but it is loose (observed error ≈ 1/5 of it).
    X = rng.normal(size=(200, 3))
    kern = ka.Gaussian(1.5)
    K = kern(X)
    D = 300
    bound = b.rff_spectral_bound(K, D, 0.05)
    for _ in range(10):
        W = rng.normal(size=(3, D)) / 1.5
        phase = rng.uniform(0, 2 * np.pi, size=D)
        Z = math.sqrt(2.0 / D) * np.cos(X @ W + phase)
        assert np.linalg.norm(Z @ Z.T - K, 2) <= bound


# --------------------------------------------------------------------------------------------------
# Skeinformer Proposition 1 and Lemma 1 (algorithms.md §3.2, §3.3)
# --------------------------------------------------------------------------------------------------
def test_skeinformer_prop1_hand_computed():
    B, V = np.eye(2), np.eye(2)
    delta = math.exp(-1)
    eta = 1 + math.sqrt(8)
    assert b.skeinformer_prop1_bound(B, V, 4, delta) == pytest.approx(eta)              # η/√4·√2·√2
    assert b.skeinformer_prop1_bound(B, V, 4, delta, squared=True) == pytest.approx(eta ** 2)
    assert b.skeinformer_prop1_expected(B, V, 4) == pytest.approx(1.0)
    np.testing.assert_allclose(b.skeinformer_column_probabilities(B, V), [0.5, 0.5])
    assert b.amm_beta(np.array([0.25, 0.75]), B, V) == pytest.approx(0.5)


def test_skeinformer_prop1_honoured_empirically(rng):
    # softmax-like B (row-stochastic), V-aware optimal probabilities (β = 1). Seeded: the bound holds
    # w.p. >= 1 − δ = 0.9 per draw; 30 draws must violate it at most ⌊δT⌋ = 3 times; a tight bound would
    # fail that w.p. P(Bin(30, .1) > 3) ≈ 0.35, the DKM bound is loose (observed: no violation).
    n, p, d, delta = 100, 8, 20, 0.1
    A = np.exp(rng.normal(size=(n, n)))
    B = A / A.sum(1, keepdims=True)
    V = rng.normal(size=(n, p))
    probs = b.skeinformer_column_probabilities(B, V)
    bound = b.skeinformer_prop1_bound(B, V, d, delta)
    viol = 0
    for _ in range(30):
        J = rng.choice(n, size=d, p=probs)
        w = 1.0 / np.sqrt(d * probs[J])
        approx = (B[:, J] * w) @ (V[J] * w[:, None])
        viol += np.linalg.norm(B @ V - approx) > bound
    assert viol <= delta * 30
    assert b.skeinformer_prop1_bound(B, V, 2 * d, delta) < bound


def test_skeinformer_lemma1():
    assert b.skeinformer_lemma1_required_d(0.5, 10, 0.1) == math.ceil(2 / 0.25 * math.log(200))
    assert b.SKEINFORMER_LEMMA1_BETA == pytest.approx(1 / math.sqrt(3))
    B = np.full((4, 4), 0.25)
    assert b.skeinformer_lemma1_constant(B) == pytest.approx(4 * 0.0625 / 4)
    assert b.skeinformer_lemma1_required_d(0.1, 10, 0.01) > b.skeinformer_lemma1_required_d(0.1, 10, 0.1)


# --------------------------------------------------------------------------------------------------
# RPCholesky (Chen, Epperly, Tropp, Webber)
# --------------------------------------------------------------------------------------------------
def test_rpcholesky_required_k_hand_computed():
    assert b.rpcholesky_required_k(2, 0.5, 0.1) == math.ceil(2 / 0.5 + 2 * math.log(1 / 0.05))
    assert b.rpcholesky_required_k(3, 0.5, 0.0) == 3        # rank <= r: exact after r steps
    assert b.rpcholesky_required_k(0, 0.5, 0.3) == 0
    K = np.diag([5.0, 3.0, 1.0, 1.0])
    bound, k = b.rpcholesky_expected_trace_bound(K, 2, 0.5)
    assert bound == pytest.approx(1.5 * 2.0)
    assert k == b.rpcholesky_required_k(2, 0.5, 2.0 / 10.0)


def test_rpcholesky_trace_bound_monotone_and_valid(rng):
    X = rng.normal(size=(120, 2))
    K = _gauss(X, X, 1.0)
    sig = np.sort(np.linalg.eigvalsh(K))[::-1]
    bounds = [b.rpcholesky_trace_bound(K, k) for k in (1, 5, 10, 20, 40)]
    assert all(x >= y - 1e-12 for x, y in zip(bounds, bounds[1:]))
    for k, bd in zip((1, 5, 10, 20, 40), bounds):
        assert bd >= np.sum(sig[k:]) - 1e-9            # never below the best rank-k trace error
        assert bd <= np.trace(K) + 1e-9
    # Seeded empirical check of the expectation bound: the mean trace error of 30 RPCholesky runs
    # (simple sequential algorithm, written out here) lies far below the bound (observed ratio < 0.5);
    # the mean exceeds the expectation bound only through a large deviation (probability < 1e-3).
    k = 10
    errs = []
    for _ in range(30):
        d = np.diag(K).copy()
        F = np.zeros((120, k))
        for j in range(k):
            s = rng.choice(120, p=d / d.sum())
            g = K[:, s] - F[:, :j] @ F[s, :j]
            F[:, j] = g / math.sqrt(g[s])
            d = np.clip(d - F[:, j] ** 2, 0, None)
        errs.append(np.trace(K) - np.sum(F ** 2))
    assert np.mean(errs) <= b.rpcholesky_trace_bound(K, k)


# --------------------------------------------------------------------------------------------------
# KRR critical radius (Yang, Pilanci, Wainwright; Chen & Yang [S])
# --------------------------------------------------------------------------------------------------
def test_krr_critical_radius_solves_the_inequality(rng):
    X = rng.normal(size=(100, 1))
    K = _gauss(X, X, 0.5)
    sigma = 0.3
    dn, d_n = b.krr_critical_radius(K, sigma)
    mu = np.clip(np.sort(np.linalg.eigvalsh(K))[::-1], 0, None) / 100
    R = math.sqrt(np.sum(np.minimum(dn ** 2, mu)) / 100)
    assert R == pytest.approx(dn ** 2 / sigma, rel=1e-6)      # smallest solution: equality
    assert d_n == int(np.sum(mu > dn ** 2))
    out = b.sketched_krr_rate(K, sigma, d_n)
    assert out["sufficient"] and out["rate"] == pytest.approx(dn ** 2)
    assert not b.sketched_krr_rate(K, sigma, max(1, d_n - 1))["sufficient"] or d_n <= 1
    assert b.krr_critical_radius(K, 2 * sigma)[0] >= dn      # noisier: larger radius


# --------------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------------
def test_bad_inputs(rng):
    Q, K = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="`delta` must lie in"):
            b.skyformer_required_d(Q, K, 0.5, bad)
        with pytest.raises(ValueError, match="`delta` must lie in"):
            b.rff_spectral_bound(np.eye(3), 10, bad)
        with pytest.raises(ValueError, match="`delta` must lie in"):
            b.skeinformer_prop1_bound(np.eye(2), np.eye(2), 2, bad)
    with pytest.raises(ValueError, match="`delta` must lie in \\(0, 1/2\\)"):
        b.skyformer_guaranteed_error(Q, K, 10, 0.6)
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="`eps` must be > 0"):
            b.skyformer_required_d(Q, K, bad, 0.1)
        with pytest.raises(ValueError, match="`eps` must be > 0"):
            b.rff_required_features(np.eye(3), bad, 0.1)
        with pytest.raises(ValueError, match="`eps` must be > 0"):
            b.drineas_mahoney_required_c(3, bad)
    with pytest.raises(ValueError, match="`eps` must lie in \\(0, 1\\)"):
        b.skyformer_required_d(Q, K, 1.5, 0.1)
    with pytest.raises(ValueError, match="same number of columns"):
        b.skyformer_required_d(Q, rng.normal(size=(5, 3)), 0.5, 0.1)
    with pytest.raises(ValueError, match="`d` must be >= 1"):
        b.skyformer_guaranteed_error(Q, K, 0, 0.1)
    with pytest.raises(ValueError, match="one column per row"):
        b.skeinformer_prop1_bound(np.eye(3), np.eye(2), 2, 0.1)
    with pytest.raises(ValueError, match="square"):
        b.ridge_leverage_scores(np.ones((3, 4)), 1.0)
    with pytest.raises(ValueError, match="`lam` must be > 0"):
        b.statistical_dimension(np.eye(3), 0.0)
    with pytest.raises(ValueError, match="`beta` must lie in \\(0, 1\\]"):
        b.rls_nystrom_required_d(np.eye(3), 0.1, 0.1, beta=2.0)
    with pytest.raises(ValueError, match="`p` must be a probability vector"):
        b.amm_beta(np.array([0.5, 0.6]), np.eye(2), np.eye(2))
    with pytest.raises(ValueError, match="`eta` must lie in \\[0, 1\\]"):
        b.rpcholesky_required_k(2, 0.5, 1.5)


def test_rff_bound_intrinsic_rejects_zero_matrix():
    """intdim = tr K/‖K‖ is undefined for K = 0: a ValueError naming K, not a ZeroDivisionError."""
    with pytest.raises(ValueError, match="intrinsic"):
        b.rff_spectral_bound(np.zeros((4, 4)), 10, 0.1, dimension="intrinsic")
    assert b.rff_spectral_bound(np.zeros((4, 4)), 10, 0.1) > 0      # ambient: still the (trivial) bound


# --------------------------------------------------------------------------------------------------
# the λ equations: Brent's method reproduces the values of a bisection to 1e-10 in log λ
# --------------------------------------------------------------------------------------------------
#: Values of a bisection on log λ (upper end of a bracket narrowed to 1e-10) for the problem below.
BISECTION_VALUES = {
    ("krr", 0.05): 0.029268497434127263, ("krr", 0.3): 0.13017800413574918, ("krr", 2.0): 0.47558814914976427,
    ("sky", 10): 34.10720953242296, ("sky", 1000): 1.3013893006544353, ("sky", 5000): 3.4107209532422954e-15,
    ("rls", 5): 27.52772791848047, ("rls", 500): 0.8693469958137096, ("rls", 5000): 2.752772791848047e-15,
    ("rlsamb", 500): 11.37664023673997, ("rlsamb", 5000): 6.246769094552165e-06,
    ("rpc", 1): 59.999999999999986, ("rpc", 3): 48.645449496352924, ("rpc", 10): 22.16830787213281,
    ("rpc", 30): 6.358387632798581, ("rpc", 60): 0.0,
}


def test_root_finding_reproduces_the_bisection_values():
    g = np.random.default_rng(7)
    X = g.normal(size=(60, 2))
    K = _gauss(X, X, 1.0)
    Q, Kk = 0.3 * g.normal(size=(20, 4)), 0.3 * g.normal(size=(20, 4))
    got = {}
    for key in BISECTION_VALUES:
        kind, v = key
        if kind == "krr":
            got[key] = b.krr_critical_radius(K, v)[0]
        elif kind == "sky":
            got[key] = b.skyformer_guaranteed_error(Q, Kk, v, 0.1)
        elif kind == "rls":
            got[key] = b.rls_nystrom_guaranteed_error(K, v, 0.1)
        elif kind == "rlsamb":
            got[key] = b.rls_nystrom_guaranteed_error(K, v, 0.1, dimension="ambient", beta=0.5)
        else:
            got[key] = b.rpcholesky_trace_bound(K, v)
    for key, old in BISECTION_VALUES.items():
        assert got[key] == pytest.approx(old, rel=1e-9, abs=0.0), key


def test_root_is_on_the_feasible_side():
    """λ*(k) satisfies the condition it solves (the root is moved up by the tolerance)."""
    g = np.random.default_rng(1)
    X = g.normal(size=(50, 2))
    K = _gauss(X, X, 1.0)
    normK = np.linalg.norm(K, 2)
    for k in (400, 1000, 2000):
        lam = b.rls_nystrom_guaranteed_error(K, k, 0.1)
        assert 1e-15 * normK < lam < 0.99 * normK               # an interior root, not a bracket end
        assert b.rls_nystrom_required_d(K, lam, 0.1) <= k
        assert b.rls_nystrom_required_d(K, lam * (1 - 1e-8), 0.1) >= k


def test_deprecated_keyword_spellings():
    K = np.diag([4.0, 2.0, 1.0])
    with pytest.warns(DeprecationWarning, match="`c` is deprecated, use `n_columns`"):
        assert b.drineas_mahoney_bound(K, 1, c=16, norm="spectral") == b.drineas_mahoney_bound(
            K, 1, n_columns=16, norm="spectral")
    with pytest.warns(DeprecationWarning, match="`r` is deprecated, use `best_rank`"):
        assert b.rpcholesky_required_k(r=2, eps=0.5, eta=0.1) == b.rpcholesky_required_k(2, 0.5, 0.1)
    with pytest.warns(DeprecationWarning, match="`r` is deprecated"):
        assert b.rpcholesky_expected_trace_bound(K, r=1, eps=0.5) == b.rpcholesky_expected_trace_bound(K, 1, 0.5)
    with pytest.warns(DeprecationWarning, match="`d` is deprecated, use `k`"):
        assert b.rls_nystrom_guaranteed_error(K, d=50, delta=0.1) == b.rls_nystrom_guaranteed_error(K, 50, 0.1)
    with pytest.warns(DeprecationWarning, match="`c` is deprecated, use `col_norm_floor`"):
        assert b.skeinformer_lemma1_required_d(c=0.5, n=10, delta=0.1) == b.skeinformer_lemma1_required_d(0.5, 10, 0.1)
    with pytest.raises(TypeError, match="both `n_columns` and its deprecated alias `c`"):
        b.drineas_mahoney_bound(K, 1, 16, c=16)



def test_rpcholesky_trace_bound_at_full_rank():
    K = np.diag([3.0, 2.0, 1.0])
    assert b.rpcholesky_trace_bound(K, 3) == 0.0                # k = N steps are exact
    assert b.rpcholesky_trace_bound(K, 0) == pytest.approx(6.0)
    assert 0 < b.rpcholesky_trace_bound(K, 2) <= 6.0
