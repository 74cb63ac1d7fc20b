"""The one matrix protocol (kernapprox.as_matrix): every input kind agrees entrywise with the dense
array, counts its entries, declares or cheaply detects its structure, and never decomposes."""
import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import kernapprox as ka
from kernapprox._operators import DifferenceMatrix, Matrix, ProtocolMatrix, to_matrix


def _psd(n, dtype, seed=0):
    X = np.random.default_rng(seed).normal(size=(n, 3)).astype(dtype)
    return X, ka.Gaussian(1.0)(X)


def _kinds(dtype):
    """(name, object, dense reference) for every input kind of as_matrix, square and symmetric."""
    n = 30
    X, K = _psd(n, dtype)
    F = np.random.default_rng(1).normal(size=(n, 4)).astype(dtype)
    U = np.random.default_rng(2).normal(size=(n, 3)).astype(dtype)
    lam = np.array([2.0, -1.0, 0.5])
    out = [
        ("dense", K, K),
        ("sparse", sp.csr_matrix(K), K),
        ("operator", spla.aslinearoperator(K), K),
        ("kernel", ka.KernelMatrix(ka.Gaussian(1.0), X), K),
        ("psdlowrank", ka.PSDLowRank(F), F @ F.T),
        ("symlowrank", ka.SymLowRank(U, lam), (U * lam.astype(dtype)) @ U.T),
        ("lowrank", ka.LowRank(F, U[:, :2] @ np.ones((2, 4), dtype=dtype)),
         F @ (U[:, :2] @ np.ones((2, 4), dtype=dtype)).T),
    ]
    return out


KINDS = ["dense", "sparse", "operator", "kernel", "psdlowrank", "symlowrank", "lowrank"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_agrees_with_the_dense_array_and_counts(kind, dtype):
    name, A, D = next(k for k in _kinds(dtype) if k[0] == kind)
    M = ka.as_matrix(A)
    assert isinstance(M, Matrix) and M.shape == D.shape
    assert M.dtype in (np.float32, np.float64)
    n, m = D.shape
    tol = 1e-10 if dtype == np.float64 else 2e-5
    scale = max(1.0, float(np.abs(D).max()))
    I, J = np.array([0, 7, 3]), np.array([5, 5, 29])
    checks = [
        (lambda: M.diag(), np.diag(D), min(n, m)),
        (lambda: M.columns(J), D[:, J], n * J.size),
        (lambda: M.rows(I), D[I], m * I.size),
        (lambda: M.block(I, J), D[np.ix_(I, J)], I.size * J.size),
        (lambda: M.entries(I, J), D[I, J], I.size),
        (lambda: M.dense(), D, n * m),
    ]
    V = np.random.default_rng(3).normal(size=(m, 2))
    checks += [
        (lambda: M.matmat(V), D @ V, n * m),
        (lambda: M.matvec(V[:, 0]), D @ V[:, 0], n * m),
        (lambda: M.rmatmat(V), D.T @ V, n * m),
        (lambda: M @ V, D @ V, n * m),
    ]
    for get, ref, cost in checks:
        before = M.n_evals
        got = np.asarray(get())
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, atol=tol * scale, rtol=tol)
        assert M.n_evals - before == cost
    M.reset()
    assert M.n_evals == 0
    M.count(5)
    assert M.n_evals == 5
    # float64 accumulation on request, and a float64 view sharing the counter
    assert M.matvec(V, accumulate="float64").dtype == np.float64
    M64 = M.astype(np.float64)
    before = M.n_evals
    np.testing.assert_allclose(M64.columns([1]), D[:, [1]], atol=tol * scale)
    assert M64.dtype == np.float64 and M.n_evals - before == n


def test_kernel_matrices_are_protocol_objects():
    X, _ = _psd(20, np.float64)
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    assert ka.as_matrix(KM) is KM and KM.psd is True and KM.symmetric and KM.psd_declared
    KR = ka.KernelMatrix(ka.Gaussian(1.0), X, X[:5])
    assert ka.as_matrix(KR) is KR and KR.psd is False and not KR.is_psd
    KS = ka.KernelMatrix(ka.Sigmoid(), X)
    assert KS.symmetric and KS.psd is False
    with pytest.raises(ValueError, match=r"as_matrix: `psd` must agree with the structure"):
        ka.as_matrix(KS, psd=True)
    assert ka.as_matrix(KM, psd=True) is KM


def test_rectangular_and_transposed():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 4))
    M = ka.as_matrix(A)
    assert not M.symmetric and M.psd is False and not M.is_psd
    T = M.T
    np.testing.assert_array_equal(T.columns([1, 2]), A.T[:, [1, 2]])
    np.testing.assert_array_equal(T.rows([3]), A.T[[3]])
    np.testing.assert_allclose(T.matvec(np.ones(6)), A.T @ np.ones(6))
    assert T.T is M and M.n_evals == 4 * 2 + 6 + 6 * 4      # the transpose counts into M
    np.testing.assert_allclose(ka.as_matrix(sp.csr_matrix(A)).rmatvec(np.ones(6)), A.T @ np.ones(6))
    np.testing.assert_allclose(ka.as_matrix(spla.aslinearoperator(A)).rows([2, 5]), A[[2, 5]])


def test_structure_declared_or_detected_cheaply():
    rng = np.random.default_rng(0)
    X, K = _psd(40, np.float64)
    A = rng.normal(size=(40, 40))
    assert ka.as_matrix(K).symmetric and ka.as_matrix(K).psd is None        # not refuted, not verified
    assert ka.as_matrix(K, psd=True).psd is True and ka.as_matrix(K, psd=True).psd_declared
    assert ka.as_matrix(K, psd=False).psd is False
    assert not ka.as_matrix(A).symmetric and ka.as_matrix(A).psd is False
    assert ka.as_matrix(A, symmetric=True).symmetric                           # a declaration is trusted
    assert ka.as_matrix(A + A.T).symmetric and ka.as_matrix(A + A.T).psd is False   # a negative diagonal entry
    # rounding-level asymmetry is symmetric, float32 at its own eps
    K32 = K.astype(np.float32)
    K32n = K32 + np.triu(np.full_like(K32, 1e-7), 1)
    assert ka.as_matrix(K32n).symmetric and not ka.as_matrix(K + np.triu(np.full_like(K, 1e-7), 1)).symmetric
    assert ka.as_matrix(sp.csr_matrix(K)).symmetric and not ka.as_matrix(sp.csr_matrix(A)).symmetric
    op = spla.aslinearoperator(K)
    assert not ka.as_matrix(op).symmetric and ka.as_matrix(op, symmetric=True).symmetric
    assert ka.as_matrix(ka.PSDLowRank(np.ones((5, 1)))).psd is True
    assert ka.as_matrix(ka.SymLowRank(np.ones((5, 1)), [-1.0])).psd is False
    with pytest.raises(ValueError, match=r"as_matrix: `psd` must not be True for a matrix declared non-symmetric"):
        ka.as_matrix(K, symmetric=False, psd=True)


@pytest.mark.parametrize("bad, exc, msg", [
    ("K", TypeError, r"as_matrix: `A` must be a KernelMatrix .*; got str"),
    (np.ones(3), ValueError, r"as_matrix: `A` must"),
    (np.array([[1.0, np.nan]]), ValueError, r"as_matrix: `A` must hold only finite values"),
    (sp.csr_matrix(np.array([[1.0, np.inf]])), ValueError, r"as_matrix: `A` must hold only finite values"),
    (np.ones((2, 2)) + 1j, TypeError, r"as_matrix: `A` must be real-valued"),
])
def test_bad_inputs_name_the_argument(bad, exc, msg):
    with pytest.raises(exc, match=msg):
        ka.as_matrix(bad)


def test_bad_keywords_and_indices_name_the_argument():
    M = ka.as_matrix(np.eye(3))
    with pytest.raises(TypeError, match=r"as_matrix: `symmetric` must be a bool; got 'yes'"):
        ka.as_matrix(np.eye(3), symmetric="yes")
    with pytest.raises(TypeError, match="unexpected keyword"):
        ka.as_matrix(np.eye(3), is_psd=True)
    with pytest.raises(ValueError, match=r"DenseMatrix.columns: `indices` must hold indices in \[0, 3\); got max 3"):
        M.columns([3])
    with pytest.raises(ValueError, match=r"DenseMatrix.matvec: `V` must have shape \(3,\) or \(3, r\)"):
        M.matvec(np.ones(4))
    with pytest.raises(ValueError, match=r"DenseMatrix.entries: `I` and `J` must have the same length"):
        M.entries([0, 1], [0])
    with pytest.warns(DeprecationWarning, match="`idx` is deprecated"):
        np.testing.assert_array_equal(M.columns(idx=[1]), np.eye(3)[:, [1]])
    with pytest.raises(ValueError, match=r"nystrom: `KM` must"):
        to_matrix(np.ones(2), "nystrom", "KM")


def test_duck_typed_objects_count_themselves():
    X, K = _psd(25, np.float64)
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)

    class Duck:
        shape, dtype, is_psd = KM.shape, KM.dtype, True

        def __init__(self):
            self.n_evals = 0

        def diag(self):
            return KM.diag()

        def columns(self, idx):
            self.n_evals += 25 * len(idx)
            return KM.columns(idx)

        def block(self, I, J):
            self.n_evals += len(I) * len(J)
            return KM.block(I, J)

    d = Duck()
    M = ka.as_matrix(d)
    assert isinstance(M, ProtocolMatrix) and M.psd is True and M.symmetric
    np.testing.assert_allclose(M.columns([1, 2]), K[:, [1, 2]])
    np.testing.assert_allclose(M.rows([4]), K[[4]])
    np.testing.assert_allclose(M.matvec(np.ones(25)), K @ np.ones(25), atol=1e-12)
    assert M.n_evals == d.n_evals == 50 + 25 + 625
    M.count(3)                                     # reported by a consumer: added, the duck's own count kept
    assert M.n_evals == d.n_evals + 3


def test_difference_is_a_protocol_object():
    rng = np.random.default_rng(0)
    X, K = _psd(30, np.float64)
    F = rng.normal(size=(30, 2))
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    D = DifferenceMatrix(KM, ka.as_matrix(ka.PSDLowRank(F)))
    R = K - F @ F.T
    assert D.symmetric and D.shape == (30, 30)
    np.testing.assert_allclose(D.columns([3]), R[:, [3]], atol=1e-12)
    np.testing.assert_allclose(D.rows([0, 29]), R[[0, 29]], atol=1e-12)
    np.testing.assert_allclose(D.diag(), np.diag(R), atol=1e-12)
    np.testing.assert_allclose(D.matmat(np.eye(30)[:, :4]), R[:, :4], atol=1e-12)
    assert D.matvecs == 4 and D.passes == 1 and D.scale > 0
    assert D.n_evals == KM.n_evals + D.B.n_evals == 2 * (30 + 30 * 2 + 30 + 30 * 30)
    assert D.factors() is None and DifferenceMatrix(ka.as_matrix(ka.PSDLowRank(F))).factors() is not None


@pytest.fixture
def no_decompositions(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a decomposition of the whole matrix was computed")
    big = 1000

    def guarded(orig):
        def f(a, *args, **kw):
            if np.shape(a)[0] >= big:
                boom()
            return orig(a, *args, **kw)
        return f
    for mod, names in ((np.linalg, ("eigvalsh", "eigh", "svd", "cholesky")),
                       (scipy.linalg, ("eigvalsh", "eigh", "svd", "cholesky"))):
        for name in names:
            monkeypatch.setattr(mod, name, guarded(getattr(mod, name)))


@pytest.mark.slow
def test_dense_psd_consumers_never_decompose_the_whole_matrix(no_decompositions):
    """A 3000×3000 dense array through rpcholesky / nystrom: O(n²) checks only (no O(n³) eigvalsh)."""
    import time
    X, K = _psd(3000, np.float64)
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    t0 = time.perf_counter()
    A = ka.rpcholesky(K, 20, rng=0)
    t_dense = time.perf_counter() - t0
    B = ka.rpcholesky(KM, 20, rng=0)
    np.testing.assert_allclose(A.F, B.F, atol=1e-10)
    S = np.random.default_rng(0).choice(3000, 20, replace=False)
    np.testing.assert_allclose(ka.nystrom(K, S).F, ka.nystrom(KM, S).F, atol=1e-10)
    assert t_dense < 5.0                               # an eigvalsh of 3000×3000 alone takes tens of seconds here
