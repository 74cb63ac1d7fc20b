"""KernelMatrix (lazy pieces, products, operator, evaluation counts) and kernel_matvec (streamed)."""
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest
import scipy.sparse.linalg as spla
from hypothesis import given
from hypothesis import strategies as st

import kernapprox as ka
from kernapprox import matrix
from kernapprox._numba import FAST_MIN_ENTRIES, MATVEC_MAX_COLS

EPS64 = np.finfo(np.float64).eps
EPS32 = np.finfo(np.float32).eps

KERNELS = [ka.Gaussian(1.2), ka.Laplacian(2.0), ka.Matern(nu=1.5, bandwidth=1.0), ka.Polynomial(2, 0.5, 1.0),
           ka.Linear(), ka.Sigmoid(0.2, 0.1), ka.Exponential(3.0)]
IDS = [k.name for k in KERNELS]


@pytest.mark.parametrize("kernel", KERNELS, ids=IDS)
@pytest.mark.parametrize("square", [True, False])
def test_pieces_agree_with_dense(rng, kernel, square):
    X = rng.normal(size=(60, 4))
    Y = None if square else rng.normal(size=(45, 4))
    KM = ka.KernelMatrix(kernel, X, Y)
    K = kernel(X) if square else kernel(X, Y)
    n, m = K.shape
    assert KM.shape == (n, m) and KM.dtype == np.float64 and KM.symmetric == square
    assert KM.is_psd == (square and kernel.is_psd)
    I = np.array([3, 0, 17, 3])
    J = np.array([5, 44, 1])
    np.testing.assert_allclose(KM.columns(J), K[:, J], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(KM.rows(I), K[I], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(KM.block(I, J), K[np.ix_(I, J)], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(KM.diag(), np.diag(K)[:min(n, m)], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(KM.dense(), K, rtol=1e-13, atol=1e-15)
    assert KM.columns([7]).shape == (n, 1) and KM.rows(2).shape == (1, m)


@pytest.mark.parametrize("kernel", KERNELS, ids=IDS)
def test_matvec_rmatvec_matmul_and_operator(rng, kernel):
    X = rng.normal(size=(70, 3))
    Y = rng.normal(size=(50, 3))
    KM = ka.KernelMatrix(kernel, X, Y)
    K = kernel(X, Y)
    v = rng.normal(size=50)
    V = rng.normal(size=(50, 4))
    u = rng.normal(size=70)
    tol = dict(rtol=1e-12, atol=1e-12 * np.abs(K).max())
    np.testing.assert_allclose(KM.matvec(v), K @ v, **tol)
    np.testing.assert_allclose(KM @ V, K @ V, **tol)
    np.testing.assert_allclose(KM.rmatvec(u), K.T @ u, **tol)
    op = KM.as_operator()
    assert isinstance(op, spla.LinearOperator) and op.shape == (70, 50) and op.dtype == np.float64
    np.testing.assert_allclose(op @ v, K @ v, **tol)
    np.testing.assert_allclose(op.matmat(V), K @ V, **tol)
    np.testing.assert_allclose(op.rmatvec(u), K.T @ u, **tol)
    np.testing.assert_allclose(op.H @ u, K.T @ u, **tol)
    KT = KM.T
    assert KT.shape == (50, 70)
    np.testing.assert_allclose(KT.dense(), K.T, rtol=1e-13, atol=1e-15)


def test_operator_drives_scipy_eigsh(rng):
    X = rng.normal(size=(200, 3))
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    top = spla.eigsh(KM.as_operator(), k=3, which="LA", return_eigenvectors=False)
    ref = np.linalg.eigvalsh(KM.dense())[-3:]
    np.testing.assert_allclose(np.sort(top), ref, rtol=1e-8)


def test_n_evals_counts_and_reset(rng):
    X = rng.normal(size=(40, 2))
    Y = rng.normal(size=(30, 2))
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X, Y)
    assert KM.n_evals == 0
    KM.columns([1, 2, 3])
    assert KM.n_evals == 40 * 3
    KM.rows([0, 1])
    assert KM.n_evals == 120 + 2 * 30
    KM.block([0, 1, 2], [4, 5])
    assert KM.n_evals == 180 + 6
    KM.diag()
    assert KM.n_evals == 186 + 30
    KM.matvec(np.ones(30))
    assert KM.n_evals == 216 + 1200
    KM.rmatvec(np.ones((40, 2)))
    assert KM.n_evals == 1416 + 1200
    KM.dense()
    assert KM.n_evals == 2616 + 1200
    KM.reset()
    assert KM.n_evals == 0
    S = ka.KernelMatrix(ka.Gaussian(1.0), X)
    S.diag()
    assert S.n_evals == 40
    S.as_operator().matvec(np.ones(40))
    assert S.n_evals == 40 + 1600
    assert "n_evals=1640" in repr(S)


def test_dense_refuses_above_cap(rng, monkeypatch):
    monkeypatch.setattr(matrix, "DENSE_CAP_ENTRIES", 100)
    KM = ka.KernelMatrix(ka.Gaussian(1.0), rng.normal(size=(20, 2)))
    with pytest.raises(ValueError, match=r"KernelMatrix.dense: the matrix has 20×20 = 400 entries, above the cap of 100"):
        KM.dense()
    assert KM.n_evals == 0
    assert KM.dense(force=True).shape == (20, 20)


@pytest.mark.parametrize("kernel", [ka.Gaussian(1.2), ka.Exponential(6.0), ka.Laplacian(2.0)], ids=["gaussian", "exponential", "laplacian"])
def test_float32_pieces_and_accumulate(rng, kernel):
    X = rng.normal(size=(300, 5)).astype(np.float32)
    Y = rng.normal(size=(260, 5)).astype(np.float32)
    V = rng.normal(size=(260, 3)).astype(np.float32)
    KM = ka.KernelMatrix(kernel, X, Y)
    assert KM.dtype == np.float32
    for piece in (KM.columns([1, 2]), KM.rows([0]), KM.block([1], [2]), KM.diag(), KM.dense()):
        assert piece.dtype == np.float32
    ref = kernel(X.astype(np.float64), Y.astype(np.float64)) @ V.astype(np.float64)
    out32 = KM.matvec(V)
    out64 = KM.matvec(V, accumulate="float64")
    assert out32.dtype == np.float32 and out64.dtype == np.float64
    scale = np.abs(ref).max()
    assert np.abs(out32 - ref).max() <= 200 * EPS32 * scale
    assert np.abs(out64 - ref).max() <= 200 * EPS32 * scale
    assert KM.as_operator().dtype == np.float32


# ---- kernel_matvec -------------------------------------------------------------------------------
@pytest.mark.parametrize("kernel", KERNELS, ids=IDS)
@pytest.mark.parametrize("n,m", [(20, 15), (300, 270)])
def test_kernel_matvec_equals_dense(rng, kernel, n, m):
    X = rng.normal(size=(n, 3))
    Y = rng.normal(size=(m, 3))
    V = rng.normal(size=(m, 3))
    K = kernel(X, Y)
    out = ka.kernel_matvec(kernel, X, Y, V)
    np.testing.assert_allclose(out, K @ V, rtol=1e-11, atol=1e-12 * np.abs(K).sum(1).max())
    v = ka.kernel_matvec(kernel, X, Y, V[:, 0])
    assert v.shape == (n,)
    np.testing.assert_allclose(v, out[:, 0], rtol=1e-12, atol=1e-13 * np.abs(K).sum(1).max())


def test_kernel_matvec_y_none_by_name_and_wide_v(rng):
    X = rng.normal(size=(280, 4))
    K = ka.Gaussian(1.0)(X)
    W = rng.normal(size=(280, MATVEC_MAX_COLS + 6))           # beyond the fused path: numpy tiles
    np.testing.assert_allclose(ka.kernel_matvec("gaussian", X, None, W), K @ W, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(ka.kernel_matvec(ka.Gaussian(1.0), X, None, W[:, :5]), K @ W[:, :5], rtol=1e-11, atol=1e-11)


def test_kernel_matvec_mixed_dtypes_and_accumulate(rng):
    X = rng.normal(size=(300, 8)).astype(np.float32)
    V = rng.normal(size=(300, 2))
    assert ka.kernel_matvec(ka.Gaussian(2.0), X, X, V).dtype == np.float64          # float64 V promotes
    assert ka.kernel_matvec(ka.Gaussian(2.0), X, X, V.astype(np.float32)).dtype == np.float32
    out = ka.kernel_matvec(ka.Gaussian(2.0), X, X, V.astype(np.float32), accumulate="float64")
    assert out.dtype == np.float64


@given(st.integers(1, 30), st.integers(1, 30), st.integers(1, 4), st.floats(-3, 3), st.floats(-3, 3),
       st.sampled_from(KERNELS[:3] + [KERNELS[-1]]))
def test_kernel_matvec_is_linear(n, m, r, a, b, kernel):
    g = np.random.default_rng(n * 1000 + m)
    X, Y = g.normal(size=(n, 2)), g.normal(size=(m, 2))
    V, W = g.normal(size=(m, r)), g.normal(size=(m, r))
    lhs = ka.kernel_matvec(kernel, X, Y, a * V + b * W)
    rhs = a * ka.kernel_matvec(kernel, X, Y, V) + b * ka.kernel_matvec(kernel, X, Y, W)
    assert lhs.shape == (n, r)
    scale = (abs(a) + abs(b) + 1) * np.abs(kernel(X, Y)).sum(1).max() * (np.abs(V).max() + np.abs(W).max() + 1)
    np.testing.assert_allclose(lhs, rhs, rtol=0, atol=1e-12 * scale)


def test_numpy_tiled_path_memory_is_a_tile_not_the_matrix(rng):
    """Laplacian (no fused path): the numpy tiles' traced peak is far below the n×m matrix."""
    n = 3000
    X = rng.normal(size=(n, 3))
    V = rng.normal(size=(n, 2))
    tracemalloc.start()
    try:
        ka.kernel_matvec(ka.Laplacian(1.0), X, X, V)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.25 * n * n * 8


_RSS_SCRIPT = textwrap.dedent("""
    import re, sys, numpy as np, kernapprox as ka
    def status(key):
        return int(re.search(key + r":\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
    n = int(sys.argv[1])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 64)); Y = rng.normal(size=(n, 64)); V = rng.normal(size=(n, 16))
    ka.kernel_matvec(ka.Gaussian(8.0), X[:512], Y[:512], V[:512])          # compile / warm up
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")                                                         # reset VmHWM to VmRSS
    base = status("VmRSS")
    ka.kernel_matvec(ka.Gaussian(8.0), X, Y, V)
    grew = status("VmHWM") - base
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = status("VmRSS")
    ctrl = np.ones((n // 4, n)); ctrl[:] = 2.0
    print(grew, status("VmHWM") - base)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM / clear_refs are Linux-specific")
def test_fused_matvec_peak_rss_is_tiny():
    """Numba allocations are invisible to tracemalloc, so measure the process's peak RSS (VmHWM, reset
    through /proc/self/clear_refs after warm-up) in a fresh interpreter: the streamed product must stay
    below 5% of the dense n×m float64 matrix, while a control allocation of 25% of it is seen."""
    n = 8000
    res = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(n)], capture_output=True, text=True, timeout=300)
    if res.returncode != 0 and "clear_refs" in res.stderr:
        pytest.skip("cannot reset the peak RSS on this system")
    assert res.returncode == 0, res.stderr
    grew, ctrl = map(int, res.stdout.split())
    dense = n * n * 8
    assert ctrl >= 0.2 * dense                 # the measurement sees a matrix-sized allocation
    assert grew <= 0.05 * dense, grew


# ---- validation of the matrix API ----------------------------------------------------------------
def test_matrix_api_errors(rng):
    X = rng.normal(size=(10, 2))
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    with pytest.raises(ValueError, match=r"KernelMatrix.columns: `indices` must hold indices in \[0, 10\); got max 10"):
        KM.columns([0, 10])
    with pytest.raises(ValueError, match=r"KernelMatrix.rows: `indices` must hold indices in \[0, 10\); got min -1"):
        KM.rows([-1])
    with pytest.raises(ValueError, match=r"KernelMatrix.block: `J` must hold at least one index"):
        KM.block([0], [])
    with pytest.raises(TypeError, match=r"KernelMatrix.columns: `indices` must hold integers"):
        KM.columns([0.5])
    with pytest.raises(ValueError, match=r"KernelMatrix.matvec: `V` must have shape \(10,\) or \(10, r\); got V.shape=\(9,\)"):
        KM.matvec(np.ones(9))
    with pytest.raises(ValueError, match=r"KernelMatrix.matvec: `accumulate` must be None or 'float64'"):
        KM.matvec(np.ones(10), accumulate="float128")
    with pytest.raises(ValueError, match=r"KernelMatrix.matvec: `V` must hold only finite values"):
        KM.matvec(np.full(10, np.nan))
    with pytest.raises(TypeError, match=r"KernelMatrix: `kernel` must be a kernapprox Kernel or a kernel name; got int"):
        ka.KernelMatrix(3, X)
    with pytest.raises(ValueError, match=r"KernelMatrix: `kernel` must be a kernapprox Kernel or a kernel name \(.*'gaussian'.*\); got 'nope'"):
        ka.KernelMatrix("nope", X)
    with pytest.raises(ValueError, match=r"kernel_matvec: `kernel` must be .*; got 'nope'"):
        ka.kernel_matvec("nope", X, X, np.ones(10))
    with pytest.raises(ValueError, match=r"kernel_matvec: `V` must have one row per point of `Y`; got V.shape=\(4, 1\) and Y.shape=\(10, 2\)"):
        ka.kernel_matvec(ka.Gaussian(1.0), X, X, np.ones((4, 1)))
    with pytest.raises(ValueError, match=r"kernel_matvec: `V` must be 1-D or 2-D; got shape \(10, 1, 1\)"):
        ka.kernel_matvec(ka.Gaussian(1.0), X, X, np.ones((10, 1, 1)))
    with pytest.raises(ValueError, match=r"kernel_matvec: `accumulate` must be None or 'float64'; got 'float32'"):
        ka.kernel_matvec(ka.Gaussian(1.0), X, X, np.ones(10), accumulate="float32")
    with pytest.raises(TypeError, match=r"kernel_matvec: `V` must be real-valued"):
        ka.kernel_matvec(ka.Gaussian(1.0), X, X, np.ones(10, dtype=complex))


@pytest.mark.parametrize("kernel", [ka.Laplacian(2.0), ka.Polynomial(3, 0.2, 1.0)], ids=["laplacian", "polynomial"])
def test_numpy_tile_path_threads_over_row_panels(rng, kernel):
    """Several row panels shared out to worker threads: each owns its rows, result equals dense."""
    X = rng.normal(size=(2100, 3))
    Y = rng.normal(size=(1000, 3))
    V = rng.normal(size=(1000, 2))
    assert matrix.default_tile_rows(1000) < 2100 // 2                      # at least 3 panels
    K = kernel(X, Y)
    np.testing.assert_allclose(ka.kernel_matvec(kernel, X, Y, V), K @ V, rtol=1e-11, atol=1e-11 * np.abs(K).sum(1).max())
