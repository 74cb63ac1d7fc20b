"""PSD Nyström (kernapprox.nystrom): exact regimes, invariants, scikit-learn agreement, bad input."""
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

import kernapprox as ka

CORES = ["shifted_cholesky", "eig", "pinv"]


def _km(rng, n=200, bw=0.8, d=2, dtype=np.float64):
    X = rng.normal(size=(n, d)).astype(dtype)
    return ka.KernelMatrix(ka.Gaussian(bw), X), X


# ---------------------------------------------------------------------------------------------
# exact regimes
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("core", CORES)
def test_all_points_as_landmarks_reproduce_K(core, rng):
    """S = [n]: K W^† K = K (algorithms.md §1.2), up to the core's regularisation."""
    KM, X = _km(rng, n=120, bw=0.3)
    K = KM.kernel(X)
    A = ka.nystrom(KM, np.arange(120), core=core)
    np.testing.assert_allclose(A.to_dense(), K, atol=1e-7)


@pytest.mark.parametrize("core", CORES)
def test_landmark_rows_are_reproduced(core, rng):
    """K̂[S, :] = K[S, :] (interpolation on the landmark rows)."""
    KM, X = _km(rng)
    K = KM.kernel(X)
    S = rng.choice(200, 30, replace=False)
    A = ka.nystrom(KM, S, core=core)
    np.testing.assert_allclose(A.to_dense()[S], K[S], atol=1e-8)


@pytest.mark.parametrize("core", CORES)
def test_nystrom_of_nystrom_is_a_fixed_point(core, rng):
    """Nyström of K̂ with the same landmarks returns K̂ (K̂ has K̂[:, S] = K[:, S])."""
    KM, X = _km(rng)
    S = rng.choice(200, 25, replace=False)
    A = ka.nystrom(KM, S, core=core)
    B = ka.nystrom(ka.as_matrix(A), S, core=core)
    np.testing.assert_allclose(B.to_dense(), A.to_dense(), atol=1e-8)


def test_matches_the_pinv_formula(rng):
    KM, X = _km(rng, bw=0.3)             # well-conditioned W: every core is the exact inverse
    K = KM.kernel(X)
    S = rng.choice(200, 40, replace=False)
    ref = K[:, S] @ np.linalg.pinv(K[np.ix_(S, S)], hermitian=True) @ K[S]
    for core in CORES:
        np.testing.assert_allclose(ka.nystrom(KM, S, core=core).to_dense(), ref, atol=1e-8)


def test_ridge_core(rng):
    KM, X = _km(rng)
    K = KM.kernel(X)
    S = rng.choice(200, 20, replace=False)
    A = ka.nystrom(KM, S, core="ridge", lam=0.1)
    ref = K[:, S] @ np.linalg.inv(K[np.ix_(S, S)] + 0.1 * np.eye(20)) @ K[S]
    np.testing.assert_allclose(A.to_dense(), ref, atol=1e-10)
    assert A.info["core"] == "ridge" and A.info["lam"] == 0.1


def test_duplicated_landmarks_and_duplicated_points(rng):
    X = rng.normal(size=(100, 2))
    X = np.vstack([X, X[:20]])                       # 20 duplicated data points
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    K = KM.kernel(X)
    S = np.r_[np.arange(0, 30), np.arange(0, 10), np.arange(100, 110)]   # duplicated + twin landmarks
    A = ka.nystrom(KM, S)
    assert np.all(np.isfinite(A.F)) and A.rank == 30 and A.info["dropped"] == 20
    ref = ka.nystrom(KM, np.arange(30))
    np.testing.assert_allclose(A.to_dense(), ref.to_dense(), atol=1e-8)
    assert np.linalg.eigvalsh(K - A.to_dense()).min() >= -1e-9


def test_landmark_points(rng):
    KM, X = _km(rng)
    Z = rng.normal(size=(15, 2))
    k = ka.Gaussian(0.8)
    A = ka.nystrom(KM, points=Z)
    C = k(X, Z)
    ref = C @ np.linalg.pinv(k(Z), hermitian=True) @ C.T
    np.testing.assert_allclose(A.to_dense(), ref, atol=1e-8)
    assert A.info["indices"] is None and A.info["n_evals"] == 200 * 15 + 15 * 15
    # landmarks equal to data points give the index version
    S = np.array([3, 7, 11])
    np.testing.assert_allclose(ka.nystrom(KM, points=X[S]).to_dense(), ka.nystrom(KM, S).to_dense(),
                               atol=1e-12)
    C2 = ka.kmeans_centers(X, 10, rng=0)
    assert ka.nystrom(KM, points=C2).rank == 10


def test_evaluation_count_and_info(rng):
    KM, _ = _km(rng, n=300)
    KM.reset()
    S = rng.choice(300, 20, replace=False)
    A = ka.nystrom(KM, S)
    assert KM.n_evals == A.info["n_evals"] == 300 * 20 + 20 * 20
    assert set(A.info) >= {"indices", "n_evals", "method", "core", "dropped"}
    assert A.info["method"] == "nystrom" and A.info["core"] == "shifted_cholesky"
    np.testing.assert_array_equal(A.info["indices"], S)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("core", CORES + ["ridge"])
@pytest.mark.parametrize("source", ["kernel_matrix", "landmark_points", "dense"])
def test_tiles_do_not_change_the_result(rng, monkeypatch, dtype, core, source):
    """Tile height is a memory knob only: one tile, and tiles of 7 rows, both agree with the slow
    obvious ``F = C[:, kept] R`` (R = L⁻ᵀ from ``?trtri`` or the eig root, in float64) to the rounding
    bound ``|ΔF| <= (2 k eps64 + 64 eps) |C| |R|`` (GEMM order; kernel entries rounded differently
    when the tiles differ, e.g. float32 centring), plus one rounding to float32, on the numba kernel path
    (n·k >= FAST_MIN_ENTRIES), written straight into F (float64 Cholesky-type cores) or through the
    reused tile buffers (float32, dense cores, in-memory columns)."""
    from scipy.linalg.lapack import dtrtri

    import kernapprox._cores as mod
    import kernapprox._tiling as tiling
    from kernapprox._cores import psd_core
    n, k = 1500, 60
    X = rng.normal(size=(n, 3)).astype(dtype)
    S = rng.choice(n, k, replace=False)
    kern = ka.Gaussian(1.5)
    KM = ka.KernelMatrix(kern, X)
    M = ka.as_matrix(KM.dense(), psd=True) if source == "dense" else KM
    Z = X[S] + dtype(0.05) if source == "landmark_points" else X[S]
    lam = 1e-3 if core == "ridge" else None
    kw = {"core": core, "lam": lam}
    kw.update({"points": Z} if source == "landmark_points" else {"indices": S})
    monkeypatch.setattr(tiling, "TILE_BYTES", 1 << 40)
    monkeypatch.setattr(mod, "APPLY_MAX_ROWS", 1 << 30)
    A = ka.nystrom(M, **kw)
    monkeypatch.setattr(mod, "APPLY_MIN_ROWS", 7)
    monkeypatch.setattr(mod, "APPLY_MAX_ROWS", 7)
    B = ka.nystrom(M, **kw)
    # the reference, from the same landmark block and core the function builds
    W = {"kernel_matrix": lambda: KM.block(S, S), "landmark_points": lambda: kern.block(Z, Z),
         "dense": lambda: M.columns(S)[S]}[source]()
    pc = psd_core(W, core, lam=lam, eps=float(np.finfo(dtype).eps))
    C = kern(X, Z[pc.cols]).astype(np.float64)
    R = pc.R if pc.L is None else dtrtri(np.asarray(pc.L, order="F"), lower=1)[0].T
    ref = C @ R
    eps = np.finfo(dtype).eps
    bound = (2 * k * np.finfo(np.float64).eps + 64 * eps) * (np.abs(C) @ np.abs(R)) + eps * np.abs(ref)
    for approx in (A, B):
        assert approx.F.dtype == dtype and approx.F.shape == ref.shape
        assert np.all(np.abs(approx.F.astype(np.float64) - ref) <= bound)


@pytest.mark.parametrize("name", ka.kernels.available())
@pytest.mark.parametrize("n", [30, 400])
def test_block_into_matches_block(rng, name, n):
    """``Kernel.block_into`` (the tile writer of nystrom) gives bit-identically the values of
    ``Kernel.block`` (small blocks: numpy path; 400×300: the tiled numba path), in the out buffer."""
    kern = ka.kernels.get(name)
    for dtype in (np.float64, np.float32):
        X = (0.3 * rng.normal(size=(n, 4))).astype(dtype)
        Y = (0.3 * rng.normal(size=(300, 4))).astype(dtype)
        out = np.full((n, 300), np.nan, dtype=dtype)
        got = kern.block_into(X, Y, out)
        assert got is out
        np.testing.assert_array_equal(out, kern.block(X, Y))


def test_float32_kept_core_in_float64(rng):
    KM32, X32 = _km(rng, dtype=np.float32)
    S = rng.choice(200, 20, replace=False)
    A = ka.nystrom(KM32, S)
    assert A.dtype == np.float32
    K = ka.Gaussian(0.8)(X32.astype(np.float64))
    assert np.linalg.eigvalsh(K - A.to_dense().astype(np.float64)).min() >= -1e-5
    B = ka.nystrom(ka.KernelMatrix(ka.Gaussian(0.8), X32.astype(np.float64)), S)
    tr = 200.0
    assert abs((tr - A.trace()) - (tr - B.trace())) <= 1e-3 * tr


def test_generic_protocol_object(rng):
    """Any object with the kernel-matrix protocol (e.g. a Dask-backed matrix) works via .columns."""
    KM, X = _km(rng)

    class Duck:
        def __init__(self, km):
            self.km, self.kernel, self.X = km, km.kernel, km.X
            self.shape, self.dtype, self.is_psd, self.n_evals = km.shape, km.dtype, True, 0

        def diag(self):
            return self.km.diag()

        def columns(self, idx):
            self.n_evals += self.shape[0] * len(idx)
            return self.km.columns(idx)

        def block(self, I, J):
            self.n_evals += len(I) * len(J)
            return self.km.block(I, J)

    D = Duck(KM)
    S = rng.choice(200, 20, replace=False)
    A = ka.nystrom(D, S)
    np.testing.assert_allclose(A.to_dense(), ka.nystrom(KM, S).to_dense(), atol=1e-10)
    assert A.info["n_evals"] == D.n_evals == 200 * 20
    np.testing.assert_allclose(ka.nystrom(D, points=X[:5]).to_dense(),
                               ka.nystrom(KM, np.arange(5)).to_dense(), atol=1e-12)
    # a dense PSD array is accepted too
    K = KM.kernel(X)
    np.testing.assert_allclose(ka.nystrom(K, S).to_dense(), A.to_dense(), atol=1e-10)


def test_agrees_with_sklearn_nystroem(rng):
    """Z Zᵀ of sklearn.kernel_approximation.Nystroem equals F Fᵀ on the same landmarks."""
    Nystroem = pytest.importorskip("sklearn.kernel_approximation").Nystroem
    X = rng.normal(size=(400, 5))
    bw = 2.0
    nys = Nystroem(kernel="rbf", gamma=1 / (2 * bw ** 2), n_components=60, random_state=0)
    Z = nys.fit_transform(X)
    A = ka.nystrom(ka.KernelMatrix(ka.Gaussian(bw), X), nys.component_indices_)
    np.testing.assert_allclose(A.to_dense(), Z @ Z.T, atol=1e-9)
    assert A.trace() == pytest.approx(np.sum(Z * Z), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# invariants (hypothesis)
# ---------------------------------------------------------------------------------------------
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(3, 40), k=st.integers(1, 15),
       core=st.sampled_from(CORES), dup=st.booleans())
def test_residual_is_psd(seed, n, k, core, dup):
    """K − K̂ ⪰ 0 (algorithms.md §1.2: B − B̃ = B^{1/2}(I − P)B^{1/2})."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    KM = ka.KernelMatrix(ka.Gaussian(rng.uniform(0.2, 3.0)), X)
    S = rng.choice(n, min(k, n), replace=dup)
    A = ka.nystrom(KM, S, core=core)
    E = KM.kernel(X) - A.to_dense()
    assert np.linalg.eigvalsh(E).min() >= -1e-8 * max(1.0, np.linalg.norm(E, 2))


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(5, 40), k1=st.integers(1, 10), k2=st.integers(0, 10))
def test_trace_error_does_not_increase_when_landmarks_grow(seed, n, k1, k2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    KM = ka.KernelMatrix(ka.Gaussian(rng.uniform(0.3, 2.0)), X)
    perm = rng.permutation(n)
    S1 = perm[:min(k1, n)]
    S2 = perm[:min(k1 + k2, n)]
    tr = float(KM.diag().sum())
    e1 = tr - ka.nystrom(KM, S1).trace()
    e2 = tr - ka.nystrom(KM, S2).trace()
    assert e2 <= e1 + 1e-9 * tr


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(3, 30), k=st.integers(1, 10))
def test_permutation_equivariance(seed, n, k):
    """Permuting the points (and the landmark indices with them) permutes K̂."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    S = rng.choice(n, min(k, n), replace=False)
    p = rng.permutation(n)
    inv = np.argsort(p)
    A = ka.nystrom(ka.KernelMatrix(ka.Gaussian(1.0), X), S).to_dense()
    B = ka.nystrom(ka.KernelMatrix(ka.Gaussian(1.0), X[p]), inv[S]).to_dense()
    np.testing.assert_allclose(B, A[np.ix_(p, p)], atol=1e-9)


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
def test_bad_input(rng):
    KM, X = _km(rng, n=50)
    with pytest.raises(ValueError, match=r"nystrom: `indices` must hold indices in \[0, 50\); got max 50"):
        ka.nystrom(KM, [0, 50])
    with pytest.raises(ValueError, match="got min -1"):
        ka.nystrom(KM, [-1, 2])
    with pytest.raises(ValueError, match="exactly one of the two"):
        ka.nystrom(KM)
    with pytest.raises(ValueError, match="exactly one of the two"):
        ka.nystrom(KM, [1], points=X[:2])
    with pytest.raises(ValueError, match=r"^nystrom: `KM` must be positive semi-definite .*; got a non-PSD matrix \(sigmoid, is_psd=False\)$"):
        ka.nystrom(ka.KernelMatrix(ka.Sigmoid(), X), [1, 2])
    with pytest.raises(ValueError, match=r"^nystrom: `KM` must be positive semi-definite"):
        ka.nystrom(ka.KernelMatrix(ka.Sigmoid(), X), [1, 2], core="eig")
    with pytest.raises(ValueError, match="`core` must be a PSD core"):
        ka.nystrom(KM, [1, 2], core="newton_schulz")
    with pytest.raises(ValueError, match="`core` must be one of"):
        ka.nystrom(KM, [1, 2], core="magic")
    with pytest.raises(ValueError, match="`lam` must be given"):
        ka.nystrom(KM, [1, 2], core="ridge")
    with pytest.raises(ValueError, match="square"):
        ka.nystrom(ka.KernelMatrix(ka.Gaussian(1.0), X, X[:10]), [1, 2])
    with pytest.raises(ValueError, match="`points` must have as many columns"):
        ka.nystrom(KM, points=np.ones((3, 5)))
    with pytest.raises(ValueError, match="finite"):
        ka.nystrom(KM, points=np.array([[np.nan, 0.0]]))
    with pytest.raises(TypeError, match="`indices` must hold integers"):
        ka.nystrom(KM, [0.5, 1.0])
    with pytest.raises(ValueError, match="not PSD|positive semi-definite"):
        ka.nystrom(-KM.kernel(X), [1, 2])


@pytest.mark.parametrize("core", ["eig", "pinv", "shifted_cholesky"])
def test_cutoffs_are_validated_on_every_core(rng, core):
    """rcond/lam are checked whichever core runs (NaN, inf or True never turn into a zero result)."""
    KM, X = _km(rng, n=40)
    for bad, exc in [(np.nan, ValueError), (np.inf, ValueError), (True, TypeError), ("abc", TypeError),
                     (1.0, ValueError), (-1e-3, ValueError)]:
        with pytest.raises(exc, match=r"^nystrom: `rcond` must be"):
            ka.nystrom(KM, np.arange(8), core=core, rcond=bad)
    for bad, exc in [(np.nan, ValueError), (0.0, ValueError), (True, TypeError), ("abc", TypeError)]:
        with pytest.raises(exc, match=r"^nystrom: `lam` must be"):
            ka.nystrom(KM, np.arange(8), core=core, lam=bad)


def test_deprecated_keywords_still_work(rng):
    """idx -> indices, landmarks -> points, gamma -> lam: same results, a DeprecationWarning each;
    `landmarks` is a rule name elsewhere, so a string is refused here."""
    KM, X = _km(rng, n=60)
    S = np.arange(0, 60, 6)
    ref = ka.nystrom(KM, S, core="ridge", lam=0.1)
    with pytest.warns(DeprecationWarning, match="`idx` is deprecated, use `indices`"):
        A = ka.nystrom(KM, idx=S, core="ridge", lam=0.1)
    with pytest.warns(DeprecationWarning, match="`gamma` is deprecated, use `lam`"):
        B = ka.nystrom(KM, S, core="ridge", gamma=0.1)
    with pytest.warns(DeprecationWarning, match="`landmarks` is deprecated, use `points`"):
        C = ka.nystrom(KM, landmarks=X[S])
    np.testing.assert_array_equal(A.F, ref.F)
    np.testing.assert_array_equal(B.F, ref.F)
    np.testing.assert_array_equal(C.F, ka.nystrom(KM, points=X[S]).F)
    with pytest.raises(TypeError, match="got both `lam` and its deprecated alias `gamma`"):
        ka.nystrom(KM, S, core="ridge", lam=0.1, gamma=0.1)
    with pytest.raises(TypeError, match=r"nystrom: `landmarks` must not be a rule name here"):
        ka.nystrom(KM, landmarks="uniform")
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match=r"^nystrom: `gamma` must be"):
        ka.nystrom(KM, S, core="ridge", gamma=-1.0)
