"""Tests of kernapprox.metrics: matrix-free spectral error (Lanczos bracket), Frobenius, trace errors."""
import math
import tracemalloc
import warnings

import numpy as np
import pytest
from scipy.sparse.linalg import LinearOperator
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from hypothesis import given, strategies as st

import kernapprox as ka
from kernapprox import metrics
from kernapprox.metrics import (ErrorEstimate, attention_output_loss, frobenius_error, relative_frobenius_error,
                                relative_spectral_error, relative_trace_error, spectral_error, spectral_norm,
                                trace_error)

TIGHT = 1e-10        # rounding slack when comparing certified bounds with a dense SVD


def _nystrom_factor(KM, idx):
    """PSD Nyström factor F (F Fᵀ = C W⁺ Cᵀ) computed directly with numpy (eig core)."""
    C = np.asarray(KM.columns(idx), dtype=np.float64)
    W = C[idx]
    lam, U = np.linalg.eigh(W)
    keep = lam > 1e-10 * lam.max()
    return C @ (U[:, keep] / np.sqrt(lam[keep]))


def _contains(err, truth, tol):
    assert err.lower <= truth * (1 + TIGHT) + 1e-300
    assert truth <= err.upper * (1 + TIGHT)
    assert abs(float(err) - truth) <= tol * truth + 1e-13


# --------------------------------------------------------------------------------------------------
# exact regime
# --------------------------------------------------------------------------------------------------
def test_exact_dense_matches_svd(rng):
    A = rng.normal(size=(40, 30))
    B = rng.normal(size=(40, 30))
    e = spectral_error(A, B)
    assert isinstance(e, ErrorEstimate) and isinstance(e, float)
    assert e.method == "exact"
    truth = np.linalg.norm(A - B, 2)
    assert float(e) == pytest.approx(truth, rel=1e-13)
    assert e.lower <= truth * (1 + TIGHT) and truth <= e.upper * (1 + TIGHT)


def test_exact_symmetric_uses_eigvalsh(rng):
    G = rng.normal(size=(50, 50))
    A = G + G.T
    e = spectral_error(A, method="exact")
    assert e.info["symmetric"]
    assert float(e) == pytest.approx(np.max(np.abs(np.linalg.eigvalsh(A))), rel=1e-13)


def test_auto_tall_skinny_is_exact(rng):
    A = rng.normal(size=(20000, 16))
    e = spectral_error(A, np.zeros_like(A))
    assert e.method == "exact"
    assert float(e) == pytest.approx(np.linalg.norm(A, 2), rel=1e-12)


def test_factored_lowrank_pairs_exact_at_any_n(rng):
    n = 30000
    F = rng.normal(size=(n, 6))
    G = rng.normal(size=(n, 4))
    A = ka.PSDLowRank(F)
    B = ka.LowRank(G, rng.normal(size=(n, 4)))
    S = ka.SymLowRank(G, np.array([1.0, -2.0, 0.5, 3.0]))
    small = slice(0, 300)
    for X, Y in [(A, B), (A, S), (S, None), (B, A)]:
        e = spectral_error(X, Y)
        assert e.method == "exact" and e.info["factored"]
        # same value from the Lanczos path (matrix-free)
        el = spectral_error(X, Y, method="lanczos", rng=0, tol=1e-10)
        assert float(el) == pytest.approx(float(e), rel=1e-8)
    # and against a dense computation on a sub-problem
    Xs = ka.PSDLowRank(F[small])
    Ys = ka.LowRank(G[small], G[small] * 2)
    assert float(spectral_error(Xs, Ys)) == pytest.approx(
        np.linalg.norm(Xs.to_dense() - Ys.to_dense(), 2), rel=1e-12)


# --------------------------------------------------------------------------------------------------
# matrix-free Lanczos matches dense SVD, bracket contains the truth
# --------------------------------------------------------------------------------------------------
KERNELS = [ka.Gaussian(1.0), ka.Laplacian(2.0), ka.Matern(nu=1.5, bandwidth=1.0),
           ka.Polynomial(degree=2, gamma=0.5, coef0=1.0), ka.Exponential(temperature=4.0)]


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name)
def test_lanczos_kernelmatrix_psd_nystrom_matches_dense(kernel, rng):
    X = rng.normal(size=(500, 3))
    KM = ka.KernelMatrix(kernel, X)
    P = ka.PSDLowRank(_nystrom_factor(KM, rng.choice(500, 8, replace=False)))
    truth = np.linalg.norm(KM.dense() - P.to_dense(), 2)
    e = spectral_error(KM, P, method="lanczos", rng=1)
    assert e.method == "lanczos" and e.info["converged"]
    assert e.matvecs == e.passes * e.info["block_size"] or e.matvecs <= e.passes * e.info["block_size"]
    _contains(e, truth, metrics.LANCZOS_TOL)


def test_lanczos_indefinite_symlowrank(rng):
    X = rng.normal(size=(400, 4)) * 0.3
    KM = ka.KernelMatrix(ka.Sigmoid(gamma=0.5, coef0=-0.2), X)
    idx = rng.choice(400, 20, replace=False)
    C = KM.columns(idx)
    lam, U = np.linalg.eigh(C[idx])
    keep = np.abs(lam) > 1e-10 * np.abs(lam).max()
    Uc = C @ U[:, keep]
    S = ka.SymLowRank(Uc, 1.0 / lam[keep])
    truth = np.linalg.norm(KM.dense() - S.to_dense(), 2)
    e = spectral_error(KM, S, method="lanczos", rng=2)
    assert e.info["symmetric"]
    _contains(e, truth, metrics.LANCZOS_TOL)


def test_lanczos_rectangular_kernel_and_lowrank(rng):
    X = rng.normal(size=(450, 3))
    Y = rng.normal(size=(300, 3))
    KR = ka.KernelMatrix(ka.Gaussian(1.2), X, Y)
    J = rng.choice(300, 20, replace=False)
    I = rng.choice(450, 20, replace=False)
    Cc, Rr = KR.columns(J), KR.rows(I)
    L = ka.LowRank(Cc, Rr.T @ np.linalg.pinv(KR.block(I, J)).T)       # skeleton CUR, L Rᵀ = C U R
    truth = np.linalg.norm(KR.dense() - L.to_dense(), 2)
    for A, B in [(KR, L), (KR.T, L.T)]:                                 # tall and wide
        e = spectral_error(A, B, method="lanczos", rng=3)
        assert not e.info["symmetric"]
        _contains(e, truth, metrics.LANCZOS_TOL)


def test_lanczos_linear_operators(rng):
    X = rng.normal(size=(350, 2))
    KM = ka.KernelMatrix(ka.Gaussian(0.7), X)
    P = ka.PSDLowRank(_nystrom_factor(KM, np.arange(0, 350, 10)))
    truth = np.linalg.norm(KM.dense() - P.to_dense(), 2)
    e = spectral_error(KM.as_operator(), P.as_operator(), method="lanczos", rng=4)
    assert not e.info["symmetric"]                      # unknown symmetry: the MᵀM route
    _contains(e, truth, metrics.LANCZOS_TOL)
    es = spectral_error(KM.as_operator(), P.as_operator(), method="lanczos", rng=4, symmetric=True)
    assert es.info["symmetric"] and es.passes < e.passes
    _contains(es, truth, metrics.LANCZOS_TOL)
    # a scipy sparse matrix and a plain aslinearoperator mix
    Sps = sp.random(350, 350, density=0.02, random_state=0, format="csr")
    truth2 = np.linalg.norm(Sps.toarray() - KM.dense(), 2)
    e2 = spectral_error(Sps, spla.aslinearoperator(KM.dense()), method="lanczos", rng=5)
    _contains(e2, truth2, metrics.LANCZOS_TOL)
    assert float(spectral_error(Sps, KM, method="exact")) == pytest.approx(truth2, rel=1e-12)


def test_operator_with_symmetric_attribute(rng):
    U, _ = np.linalg.qr(rng.normal(size=(300, 6)))
    G = rng.normal(size=(300, 300))
    A = (U * np.array([10.0, -8.0, 5.0, 3.0, 2.0, 1.0])) @ U.T + 1e-3 * (G + G.T)
    op = spla.aslinearoperator(A)
    op.symmetric = True
    e = spectral_error(op, method="lanczos", rng=0)
    assert e.info["symmetric"]
    _contains(e, np.max(np.abs(np.linalg.eigvalsh(A))), metrics.LANCZOS_TOL)


def test_tolerance_controls_bracket_width(rng):
    X = rng.normal(size=(400, 3))
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    P = ka.PSDLowRank(_nystrom_factor(KM, np.arange(0, 400, 20)))
    loose = spectral_error(KM, P, method="lanczos", rng=0, tol=1e-1, block_size=2)
    tight = spectral_error(KM, P, method="lanczos", rng=0, tol=1e-9, block_size=2)
    assert tight.upper - tight.lower <= 1e-9 * tight.upper
    assert loose.matvecs <= tight.matvecs


def test_rounding_level_difference_stops_at_noise_floor(rng):
    X = rng.normal(size=(500, 3))
    KM = ka.KernelMatrix(ka.Polynomial(degree=2, gamma=0.5, coef0=1.0), X)   # rank 10
    P = ka.PSDLowRank(_nystrom_factor(KM, rng.choice(500, 25, replace=False)))  # exact up to rounding
    e = spectral_error(KM, P, method="lanczos", rng=1)
    assert e.info["at_noise_floor"] and e.passes <= 5
    assert float(e) <= 1e-9 * float(spectral_norm(KM, method="exact"))


def test_zero_difference_and_invariant_subspace(rng):
    X = rng.normal(size=(200, 2))
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    e0 = spectral_error(KM, KM, method="lanczos", rng=0)
    assert float(e0) == 0.0 and e0.upper == 0.0
    F = rng.normal(size=(200, 3))
    e = spectral_error(F @ F.T, method="lanczos", rng=1, block_size=4, tol=1e-12)
    assert e.upper - e.lower <= 1e-12 * e.upper       # rank 3 < block size: exact after two blocks
    assert e.passes <= 2
    assert float(e) == pytest.approx(np.linalg.norm(F, 2) ** 2, rel=1e-10)


def test_nonconvergence_warns(rng):
    A = np.diag(np.linspace(1.0, 1.0 + 1e-6, 300)) + 0.0
    A[0, 0] = 1.0 + 2e-6
    with pytest.warns(ka.KernapproxWarning, match="Lanczos stopped"):
        e = spectral_error(A, method="lanczos", rng=0, max_iter=1, block_size=1, tol=1e-14)
    assert e.lower <= 1.0 + 2e-6


def test_spectral_norm_alias_and_pickle(rng):
    import pickle
    A = rng.normal(size=(30, 30))
    e = spectral_norm(A)
    assert float(e) == pytest.approx(np.linalg.norm(A, 2))
    e2 = pickle.loads(pickle.dumps(e))
    assert float(e2) == float(e) and e2.lower == e.lower and e2.method == e.method
    assert "lower=" in repr(e) and e.bracket == (e.lower, e.upper)


# --------------------------------------------------------------------------------------------------
# invariants (hypothesis, deterministic profile)
# --------------------------------------------------------------------------------------------------
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 40), m=st.integers(2, 40),
       sym=st.booleans(), rank=st.integers(1, 6), block=st.integers(1, 4))
def test_bracket_contains_truth_property(seed, n, m, sym, rank, block):
    g = np.random.default_rng(seed)
    if sym:
        G = g.normal(size=(n, rank))
        A = (G * g.normal(size=rank)) @ G.T
    else:
        A = g.normal(size=(n, rank)) @ g.normal(size=(rank, m)) + 1e-3 * g.normal(size=(n, m))
    truth = np.linalg.norm(A, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ka.KernapproxWarning)
        e = spectral_error(A, method="lanczos", rng=seed, block_size=block, tol=1e-8)
    assert e.lower <= truth * (1 + 1e-9)
    assert truth <= e.upper * (1 + 1e-9)


@given(seed=st.integers(0, 2**31 - 1), c=st.floats(0.1, 10.0))
def test_symmetry_and_scaling_invariants(seed, c):
    g = np.random.default_rng(seed)
    A, B = g.normal(size=(25, 18)), g.normal(size=(25, 18))
    e1 = float(spectral_error(A, B))
    assert float(spectral_error(B, A)) == pytest.approx(e1, rel=1e-12)
    assert float(spectral_error(c * A, c * B)) == pytest.approx(c * e1, rel=1e-12)
    assert float(frobenius_error(c * A, c * B)) == pytest.approx(c * np.linalg.norm(A - B), rel=1e-12)


# --------------------------------------------------------------------------------------------------
# memory and size: matrix-free above the threshold
# --------------------------------------------------------------------------------------------------
def test_kernel_lanczos_memory_far_below_dense(rng):
    n = 4000
    X = rng.normal(size=(n, 3))
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    P = ka.PSDLowRank(_nystrom_factor(KM, rng.choice(n, 40, replace=False)))
    tracemalloc.start()
    try:
        e = spectral_error(KM, P, rng=0, tol=1e-3)             # auto -> lanczos (n² > EXACT_MAX_ENTRIES)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.method == "lanczos"
    assert peak < 0.25 * n * n * 8          # the dense n×n float64 matrix would be 128 MB
    assert e.lower <= e.upper


def test_operator_lanczos_at_n30000_memory(rng):
    """Matrix-free at n = 30000 on operators (a LinearOperator without symmetry info and a result)."""
    n = 30000
    F = rng.normal(size=(n, 8)) / math.sqrt(n)
    D = rng.uniform(0.5, 1.0, size=n)
    D[0] = 2.0                               # a spectral gap at the top
    op = spla.LinearOperator((n, n), matvec=lambda v: D * v.ravel() + F @ (F.T @ v.ravel()),
                             matmat=lambda V: D[:, None] * V + F @ (F.T @ V),
                             rmatmat=lambda V: D[:, None] * V + F @ (F.T @ V), dtype=np.float64)
    tracemalloc.start()
    try:
        e = spectral_error(op, ka.PSDLowRank(F), rng=0, tol=1e-6)   # = ‖diag(D)‖ = max D
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.method == "lanczos"
    assert peak < 0.01 * n * n * 8          # far below the 7.2 GB of one n×n matrix
    assert e.lower <= D.max() * (1 + TIGHT)
    assert float(e) == pytest.approx(D.max(), rel=1e-3)


@pytest.mark.slow
def test_kernel_lanczos_n30000(rng):
    """Gaussian KernelMatrix at n = 30000 against an RPCholesky-quality Nyström (streamed products)."""
    n = 30000
    X = rng.normal(size=(n, 3))
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    P = ka.PSDLowRank(_nystrom_factor(KM, rng.choice(n, 100, replace=False)))
    tracemalloc.start()
    try:
        e = spectral_error(KM, P, rng=0, tol=1e-3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.method == "lanczos" and e.info["converged"]
    assert peak < 0.02 * n * n * 8
    # certified lower bound: the Rayleigh quotient of an explicit unit vector
    v = e.info["vector"]
    assert e.lower >= np.linalg.norm(KM.matvec(v) - P.matvec(v)) * (1 - 1e-8)


# --------------------------------------------------------------------------------------------------
# Frobenius and trace
# --------------------------------------------------------------------------------------------------
def _operands(rng):
    X = rng.normal(size=(300, 2))
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    F = _nystrom_factor(KM, np.arange(0, 300, 15))
    G = rng.normal(size=(300, 3)) * 0.1
    return KM, [ka.PSDLowRank(F), ka.SymLowRank(G, np.array([1.0, -1.0, 2.0])), ka.LowRank(F, F * 0.9),
                F @ F.T, spla.aslinearoperator(F @ F.T)]


def test_frobenius_exact_streamed_all_kinds(rng):
    KM, Bs = _operands(rng)
    K = KM.dense()
    for B in Bs:
        Bd = B if isinstance(B, np.ndarray) else (B.to_dense() if hasattr(B, "to_dense") else B @ np.eye(300))
        e = frobenius_error(KM, B)
        assert e.method == "exact"
        assert float(e) == pytest.approx(np.linalg.norm(K - Bd), rel=1e-12)
    assert float(frobenius_error(KM)) == pytest.approx(np.linalg.norm(K), rel=1e-12)


def test_trace_exact_all_kinds(rng):
    KM, Bs = _operands(rng)
    K = KM.dense()
    for B in Bs:
        Bd = B if isinstance(B, np.ndarray) else (B.to_dense() if hasattr(B, "to_dense") else B @ np.eye(300))
        assert float(trace_error(KM, B)) == pytest.approx(np.trace(K - Bd), rel=1e-11, abs=1e-11)


def test_hutchinson_brackets(rng):
    # Seeded statistical check: the CLT interval at delta = 1e-3 misses the truth with probability
    # ≈ 1e-3 per estimate (normal approximation with 400 probes); two estimates -> ≈ 2e-3.
    KM, Bs = _operands(rng)
    K = KM.dense()
    Bd = Bs[0].to_dense()
    f = frobenius_error(KM, Bs[0], method="hutchinson", n_samples=400, rng=0, delta=1e-3)
    t = trace_error(KM, Bs[0], method="hutchinson", n_samples=400, rng=1, delta=1e-3)
    assert f.lower <= np.linalg.norm(K - Bd) <= f.upper
    assert t.lower <= np.trace(K - Bd) <= t.upper
    assert f.matvecs == 400 and f.method == "hutchinson"


def test_relative_versions(rng):
    KM, Bs = _operands(rng)
    K = KM.dense()
    Bd = Bs[0].to_dense()
    r = relative_spectral_error(KM, Bs[0])
    assert float(r) == pytest.approx(np.linalg.norm(K - Bd, 2) / np.linalg.norm(K, 2), rel=1e-10)
    assert r.lower <= float(r) <= r.upper
    assert float(relative_frobenius_error(KM, Bs[0])) == pytest.approx(np.linalg.norm(K - Bd) / np.linalg.norm(K))
    assert float(relative_trace_error(KM, Bs[0])) == pytest.approx(np.trace(K - Bd) / np.trace(K))
    rl = relative_spectral_error(KM, Bs[0], method="lanczos", rng=0)
    assert rl.lower <= float(r) * (1 + 1e-9) and float(r) <= rl.upper * (1 + 1e-9)


# --------------------------------------------------------------------------------------------------
# attention output losses
# --------------------------------------------------------------------------------------------------
def test_attention_output_loss(rng):
    E = rng.normal(size=(3, 2, 64, 8))
    R = E + 0.1 * rng.normal(size=E.shape)
    L = attention_output_loss(E, R)
    assert L.shape == (3, 2)
    assert L[1, 0] == pytest.approx(np.linalg.norm(E[1, 0] - R[1, 0], 2))
    assert attention_output_loss(E[0, 0], R[0, 0]) == pytest.approx(L[0, 0])
    rel = attention_output_loss(E, R, relative=True)
    assert rel[2, 1] == pytest.approx(L[2, 1] / np.linalg.norm(E[2, 1], 2))
    assert attention_output_loss(E[0, 0], R[0, 0], norm="frobenius") == pytest.approx(np.linalg.norm(E[0, 0] - R[0, 0]))
    assert attention_output_loss(E[0, 0], R[0, 0], norm="max") == pytest.approx(np.abs(E[0, 0] - R[0, 0]).max())
    assert isinstance(attention_output_loss(E[0, 0], E[0, 0]), float)


# --------------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------------
def test_bad_inputs(rng):
    A = rng.normal(size=(10, 10))
    with pytest.raises(ValueError, match="spectral_error: `A` and `B` must have the same shape"):
        spectral_error(A, rng.normal(size=(10, 9)))
    with pytest.raises(ValueError, match="same shape"):
        frobenius_error(A, rng.normal(size=(9, 10)))
    with pytest.raises(ValueError, match="`method` must be one of"):
        spectral_error(A, method="power")
    with pytest.raises(ValueError, match=r"`tol` must be a finite number in \(0, 1\]"):
        spectral_error(A, tol=0.0)
    with pytest.raises(ValueError, match="`delta` must lie in the open interval"):
        spectral_error(A, delta=1.5)
    with pytest.warns(DeprecationWarning, match="`fail_prob` is deprecated, use `delta`"), \
            pytest.raises(ValueError, match="`fail_prob` must lie in the open interval"):
        spectral_error(A, fail_prob=1.5)
    with pytest.raises(ValueError, match="non-finite|finite"):
        spectral_error(np.full((3, 3), np.nan))
    with pytest.raises(TypeError, match="spectral_error: `A`"):
        spectral_error("not a matrix")
    with pytest.raises(ValueError, match="trace_error: `A` must be square"):
        trace_error(rng.normal(size=(4, 5)))
    with pytest.raises(ValueError, match="`symmetric` must be False or None"):
        spectral_error(rng.normal(size=(4, 5)), symmetric=True)
    with pytest.raises(ValueError, match="same shape"):
        attention_output_loss(rng.normal(size=(4, 5)), rng.normal(size=(4, 6)))
    with pytest.raises(ValueError, match="`norm` must be one of"):
        attention_output_loss(A, A, norm="nuclear")
    with pytest.raises(ValueError, match="relative_spectral_error: `A` must be nonzero"):
        relative_spectral_error(np.zeros((3, 3)), np.ones((3, 3)))


def test_flags_and_options_are_validated_on_every_path(rng):
    A = rng.normal(size=(12, 12))              # not symmetric
    with pytest.raises(TypeError, match=r"^spectral_error: `symmetric` must be a bool; got 'False'$"):
        spectral_error(A, symmetric="False")
    # a symmetry claim is checked (randomized test), on the exact path too
    with pytest.raises(ValueError, match=r"^spectral_error: `symmetric` must be False or None: A − B is not symmetric"):
        spectral_error(A, symmetric=True, method="exact")
    S = A + A.T
    assert float(spectral_error(S, symmetric=True)) == pytest.approx(np.linalg.norm(S, 2), rel=1e-12)
    for bad in ("abc", 1.5, np.random.RandomState(0), object()):
        for f in (lambda r: spectral_error(A, rng=r), lambda r: frobenius_error(A, rng=r),
                  lambda r: trace_error(A, rng=r)):
            with pytest.raises(TypeError, match=r"`rng` must be None, an int seed"):
                f(bad)
    with pytest.raises(ValueError, match=r"^frobenius_error: `n_samples` must lie in \[2, 1024\]; got 1000000000000$"):
        frobenius_error(A, method="hutchinson", n_samples=10 ** 12)
    with pytest.raises(ValueError, match=r"^spectral_error: `block_size` must lie in \[1, 12\]; got 13$"):
        spectral_error(A, method="lanczos", block_size=13)
    with pytest.raises(ValueError, match=r"^spectral_error: `max_iter` must fit in the available memory"):
        spectral_error(LinearOperator((10 ** 7, 10 ** 7), matvec=lambda v: v, dtype=float), method="lanczos",
                       max_iter=10 ** 12)


@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e-320])
def test_frobenius_scales_safely(rng, scale):
    K = rng.normal(size=(30, 20))
    ref = np.linalg.norm(K) * scale            # numpy's norm rescales (LAPACK ?nrm2 style)
    ref_exact = np.linalg.norm(K)
    got = frobenius_error(K * scale, 0 * K)
    assert np.isfinite(float(got))
    if scale >= 1e-300:                        # subnormal inputs lose digits before we see them
        assert float(got) == pytest.approx(ref, rel=1e-12)
        h = frobenius_error(K * scale, method="hutchinson", n_samples=200, rng=0)
        h1 = frobenius_error(K, method="hutchinson", n_samples=200, rng=0)
        assert float(h) == pytest.approx(float(h1) * scale, rel=1e-12)
    assert float(frobenius_error(K, 0 * K)) == pytest.approx(ref_exact, rel=1e-14)


def test_fail_prob_is_a_deprecated_alias_of_delta():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    B = ka.nystrom(KM, np.arange(0, 80, 8))
    for f, kw in ((spectral_error, {"method": "lanczos"}), (frobenius_error, {"method": "hutchinson"}),
                  (trace_error, {"method": "hutchinson"})):
        ref = f(KM, B, rng=3, delta=0.01, **kw)
        with pytest.warns(DeprecationWarning, match="`fail_prob` is deprecated, use `delta`"):
            old = f(KM, B, rng=3, fail_prob=0.01, **kw)
        assert (float(old), old.lower, old.upper) == (float(ref), ref.lower, ref.upper)
        with pytest.raises(TypeError, match="got both `delta` and its deprecated alias `fail_prob`"):
            f(KM, B, rng=3, fail_prob=0.01, delta=0.02, **kw)
