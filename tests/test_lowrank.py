"""Low-rank result containers (kernapprox.lowrank) behind the matrix protocol (kernapprox.as_matrix)."""
import numpy as np
import pytest
import scipy.sparse.linalg as spla
from hypothesis import given, strategies as st

import kernapprox as ka
from kernapprox._operators import Matrix
from kernapprox.lowrank import LowRank, PSDLowRank, SymLowRank


def _results(rng, n=30, m=20, r=4):
    F = rng.normal(size=(n, r))
    U = rng.normal(size=(n, r))
    lam = np.array([3.0, -2.0, 1.0, -0.5])
    L, R = rng.normal(size=(n, r)), rng.normal(size=(m, r))
    return {
        "psd": (PSDLowRank(F, {"method": "t"}), F @ F.T),
        "sym": (SymLowRank(U, lam), (U * lam) @ U.T),
        "lr": (LowRank(L, R), L @ R.T),
    }


@pytest.mark.parametrize("kind", ["psd", "sym", "lr"])
def test_products_diag_trace_dense_match_dense(kind, rng):
    A, D = _results(rng)[kind]
    n, m = D.shape
    assert A.shape == D.shape and A.rank == 4 and A.dtype == np.float64
    v, V = rng.normal(size=m), rng.normal(size=(m, 3))
    u, U = rng.normal(size=n), rng.normal(size=(3, n))
    np.testing.assert_allclose(A @ v, D @ v, atol=1e-12)
    np.testing.assert_allclose(A @ V, D @ V, atol=1e-12)
    np.testing.assert_allclose(u @ A, u @ D, atol=1e-12)
    np.testing.assert_allclose(U @ A, U @ D, atol=1e-12)
    np.testing.assert_allclose(A.rmatvec(u), D.T @ u, atol=1e-12)
    np.testing.assert_allclose(A.T.to_dense(), D.T, atol=1e-12)
    np.testing.assert_allclose(A.to_dense(), D, atol=1e-12)
    np.testing.assert_allclose(A.diag(), np.diagonal(D)[:min(n, m)], atol=1e-12)
    op = A.as_operator()
    assert isinstance(op, spla.LinearOperator)
    np.testing.assert_allclose(op @ V, D @ V, atol=1e-12)
    np.testing.assert_allclose(op.rmatvec(u), D.T @ u, atol=1e-12)
    if n == m:
        assert A.trace() == pytest.approx(np.trace(D), abs=1e-10)
    else:
        with pytest.raises(ValueError, match="not square"):
            A.trace()


def test_eigh_and_svd_from_factors(rng):
    res = _results(rng)
    for key in ("psd", "sym"):
        A, D = res[key]
        lam, U = A.eigh()
        assert np.all(np.diff(lam) <= 1e-12)                      # decreasing
        np.testing.assert_allclose((U * lam) @ U.T, D, atol=1e-10)
        np.testing.assert_allclose(U.T @ U, np.eye(U.shape[1]), atol=1e-10)
    A, D = res["lr"]
    Us, s, Vt = A.svd()
    np.testing.assert_allclose((Us * s) @ Vt, D, atol=1e-10)
    np.testing.assert_allclose(s, np.linalg.svd(D, compute_uv=False)[:4], rtol=1e-10)


def test_immutable_and_info_read_only(rng):
    A, _ = _results(rng)["psd"]
    with pytest.raises(AttributeError):
        A.F = np.zeros((3, 1))
    with pytest.raises(ValueError):
        A.F[0, 0] = 1.0
    with pytest.raises(TypeError):
        A.info["method"] = "x"
    B = PSDLowRank(np.ones((3, 1)), {"indices": np.array([1])})
    with pytest.raises(ValueError):
        B.info["indices"][0] = 2


def test_bad_shapes_and_dense_cap(rng):
    with pytest.raises(ValueError, match="PSDLowRank: `F` must be a 2-D"):
        PSDLowRank(np.ones(3))
    with pytest.raises(ValueError, match="SymLowRank"):
        SymLowRank(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="LowRank"):
        LowRank(np.ones((3, 2)), np.ones((4, 3)))
    A = PSDLowRank(np.ones((4, 2)))
    with pytest.raises(ValueError, match="does not fit"):
        A @ np.ones(5)
    big = PSDLowRank(np.lib.stride_tricks.as_strided(np.zeros(1), shape=(10_000, 1), strides=(0, 0)))
    with pytest.raises(ValueError, match="above the cap"):
        big.to_dense()


def test_float32_factors_keep_dtype(rng):
    F = rng.normal(size=(10, 3)).astype(np.float32)
    A = PSDLowRank(F)
    assert A.dtype == np.float32 and (A @ np.ones(10, np.float32)).dtype == np.float32


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 25), r=st.integers(1, 6))
def test_psd_lowrank_invariants(seed, n, r):
    """diag/trace/eigenvalues agree with the dense matrix; F Fᵀ is PSD."""
    F = np.random.default_rng(seed).normal(size=(n, r))
    A = PSDLowRank(F)
    D = F @ F.T
    np.testing.assert_allclose(A.diag(), np.diag(D), rtol=1e-12, atol=1e-12)
    lam, _ = A.eigh()
    assert lam.min() >= 0
    np.testing.assert_allclose(np.sort(lam)[::-1][:min(n, r)],
                               np.sort(np.linalg.eigvalsh(D))[::-1][:min(n, r)], atol=1e-9 * (1 + lam.max()))


def test_low_rank_and_dense_behind_the_protocol_count_entries(rng):
    F = rng.normal(size=(12, 3))
    D = F @ F.T
    for A in (D, PSDLowRank(F)):
        O = ka.as_matrix(A)
        assert O.is_psd and O.shape == (12, 12) and O.symmetric
        np.testing.assert_allclose(O.columns([1, 4]), D[:, [1, 4]], atol=1e-12)
        np.testing.assert_allclose(O.rows([2]), D[[2]], atol=1e-12)
        np.testing.assert_allclose(O.block([0, 3], [5]), D[np.ix_([0, 3], [5])], atol=1e-12)
        np.testing.assert_allclose(O.diag(), np.diag(D), atol=1e-12)
        assert O.n_evals == 12 * 2 + 12 + 2 + 12
        np.testing.assert_allclose(O.dense(), D, atol=1e-12)
    assert ka.as_matrix(-D).is_psd is False
    assert ka.as_matrix(rng.normal(size=(4, 5))).is_psd is False
    with pytest.raises(ValueError, match="indices in"):
        ka.as_matrix(D).columns([12])


def test_deprecated_adapters_are_as_matrix(rng):
    import kernapprox.lowrank as lr
    KM = ka.KernelMatrix(ka.Gaussian(1.0), rng.normal(size=(5, 2)))
    with pytest.warns(DeprecationWarning, match="as_matrix"):
        assert lr.as_matrix_protocol(KM, "f") is KM
    with pytest.warns(DeprecationWarning, match="as_matrix"):
        assert isinstance(lr.as_matrix_protocol(np.eye(3), "f"), Matrix)
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="f: `KM` must be a KernelMatrix"):
        lr.as_matrix_protocol("nope", "f")
    with pytest.warns(DeprecationWarning, match="as_matrix"):
        M = lr.MatrixOracle(np.eye(3), is_psd=True)
    assert M.psd is True and M.psd_declared
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match=r"^MatrixOracle: `is_psd` must be a bool; got 'yes'$"):
        lr.MatrixOracle(np.eye(3), is_psd="yes")


def test_dense_cap_is_the_kernel_matrix_setting(monkeypatch):
    """to_dense and the protocol's dense obey kernapprox.matrix.DENSE_CAP_ENTRIES (one setting, one message)."""
    from kernapprox import matrix
    monkeypatch.setattr(matrix, "DENSE_CAP_ENTRIES", 10)
    A = PSDLowRank(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"PSDLowRank.to_dense: the matrix has 4×4 = 16 entries, above the cap of 10"):
        A.to_dense()
    assert A.to_dense(force=True).shape == (4, 4)
    M = ka.as_matrix(np.eye(4))
    with pytest.raises(ValueError, match=r"DenseMatrix.dense: the matrix has 4×4 = 16 entries, above the cap of 10"):
        M.dense()
    assert M.n_evals == 0 and np.array_equal(M.dense(force=True), np.eye(4))


def test_as_matrix_decides_structure_without_a_decomposition(monkeypatch):
    """Symmetry by one O(n²) comparison, PSD by necessary O(n) checks; declared structure wins."""
    import kernapprox.lowrank as lr

    def boom(*a, **k):
        raise AssertionError("as_matrix must not decompose the matrix")
    r = np.random.default_rng(0)
    F = r.normal(size=(60, 5))
    K = F @ F.T
    A = r.normal(size=(60, 60))
    for name in ("eigvalsh", "eigh", "svd"):
        monkeypatch.setattr(np.linalg, name, boom)
    assert ka.as_matrix(K).is_psd and ka.as_matrix(K).symmetric and ka.as_matrix(K).psd is None
    assert not ka.as_matrix(A).symmetric and not ka.as_matrix(A).is_psd
    assert not ka.as_matrix(-K).is_psd                       # negative diagonal
    assert not ka.as_matrix(np.array([[1.0, 2.0], [2.0, 1.0]])).is_psd   # 2×2 minor
    assert ka.as_matrix(A + A.T, psd=True).is_psd            # a declaration is trusted
    assert not ka.as_matrix(K).psd_declared and ka.as_matrix(K, psd=True).psd_declared
    assert not ka.as_matrix(lr.SymLowRank(F, -np.ones(5))).is_psd
    with pytest.raises(TypeError, match=r"^as_matrix: `psd` must be a bool; got 'yes'$"):
        ka.as_matrix(K, psd="yes")


def test_undeclared_indefinite_matrix_is_refused_by_nystrom():
    import kernapprox as ka
    r = np.random.default_rng(1)
    U, _ = np.linalg.qr(r.normal(size=(40, 40)))
    S = (U * np.linspace(-0.5, 1.0, 40)) @ U.T + 2 * np.eye(40)    # symmetric, diag > 0 ...
    S -= 1.9 * np.outer(U[:, 0], U[:, 0])                           # ... one clearly negative eigenvalue
    assert np.linalg.eigvalsh(S)[0] < -0.1
    with pytest.raises(ValueError, match=r"^nystrom: `KM` must be positive semi-definite"):
        ka.nystrom(S, np.arange(40))
