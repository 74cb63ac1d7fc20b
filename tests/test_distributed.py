"""Tests of kernapprox.distributed: Dask kernel products, Nyström, error metrics, RPCholesky.

Clusters: one ``dask.distributed`` LocalCluster with 2 thread workers and one with 2 worker
processes, each started once per module (a start costs 2–5 s). Every agreement test runs on both
through the ``client`` fixture; tolerances are float64 rounding (results must agree with the
single-machine path to ~1e-12 relative, and not depend on the chunking).
"""
from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
import time

import numpy as np
import pytest

pytest.importorskip("dask.array")
distributed = pytest.importorskip("dask.distributed")

import dask  # noqa: E402
import dask.array as da  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

import kernapprox as ka  # noqa: E402
from kernapprox import distributed as kd  # noqa: E402
from kernapprox._cores import psd_core  # noqa: E402

#: float64 agreement between the distributed and the in-memory path (different summation order only)
TIGHT = 1e3 * np.finfo(np.float64).eps      # ≈ 2.2e-13, relative to the result's scale
#: Nyström factors: rounding of the kernel entries (BLAS blocking differs with the chunk shape) is
#: amplified by the condition number of the core's Cholesky root (≈ 3e3 for these landmarks)
FACTOR_TOL = 1e5 * np.finfo(np.float64).eps   # ≈ 2.2e-11
#: float32 features against the float64 reference (kernel blocks and features stay float32)
F32_TOL = 1e3 * np.finfo(np.float32).eps    # ≈ 1.2e-4


def _cluster(processes: bool):
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=processes,
                                    dashboard_address=":0", silence_logs=logging.ERROR)


@pytest.fixture(scope="module")
def threads_client():
    with _cluster(False) as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def processes_client():
    with _cluster(True) as cluster, distributed.Client(cluster) as client:
        # worker imports and the numba fast paths' cache load (a 300×300 block), once per worker
        client.run(kd._kv_block, np.ones((300, 3)), np.ones((300, 3)), np.ones((300, 1)), ka.Gaussian(1.0), "<f8")
        yield client


@pytest.fixture(params=["threads", "processes"])
def client(request):
    c = request.getfixturevalue(f"{request.param}_client")
    with dask.config.set(scheduler=c):
        yield c


@pytest.fixture
def data():
    rng = np.random.default_rng(20261122)
    X = rng.normal(size=(1200, 3))
    Y = rng.normal(size=(700, 3)) + 0.5
    V = rng.normal(size=(700, 2))
    idx = rng.choice(1200, size=60, replace=False)
    return X, Y, V, idx


def _ref_factor(kernel, X, L, core="shifted_cholesky", **kw):
    """The single-machine pieces: F = psd_core(K(L, L)).apply(K(X, L)) (eps of the working dtype,
    as kernapprox.nystrom does)."""
    kw.setdefault("eps", float(np.finfo(X.dtype).eps))
    return psd_core(kernel(L, L), core, **kw).apply(kernel(X, L))


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), np.finfo(np.float64).tiny))


# ------------------------------------------------------------------------------------------------
# kernel_matvec
# ------------------------------------------------------------------------------------------------
def test_kernel_matvec_matches_in_memory(client, data):
    X, Y, V, _ = data
    k = ka.Gaussian(bandwidth=1.3)
    Xd = da.from_array(X, chunks=(300, 3))
    Yd = da.from_array(Y, chunks=(250, 3))
    out = kd.kernel_matvec(k, Xd, Yd, V)
    assert isinstance(out, da.Array) and out.shape == (1200, 2)
    assert out.chunks[0] == Xd.chunks[0]
    assert _rel(out.compute(), ka.kernel_matvec(k, X, Y, V)) < TIGHT
    # vector V, Y = None (square K(X, X)), V given as a dask array with other chunks
    v = V[:, 0].copy()
    Vx = np.resize(v, 1200)
    got = kd.kernel_matvec(k, Xd, None, da.from_array(Vx, chunks=500)).compute()
    assert got.shape == (1200,)
    assert _rel(got, ka.kernel_matvec(k, X, X, Vx)) < TIGHT


def test_kernel_block_matches_in_memory(client, data):
    X, Y, _, _ = data
    k = ka.Matern(nu=0.5, bandwidth=1.0)
    C = kd.kernel_block(k, da.from_array(X, chunks=(300, 3)), Y[:50])          # K(X, landmarks)
    assert isinstance(C, da.Array) and C.chunks == ((300,) * 4, (50,))
    assert _rel(C.compute(), k(X, Y[:50])) < TIGHT
    G = kd.kernel_block(k, X[:400], da.from_array(Y, chunks=(350, 3)), chunk_rows=150)
    assert G.chunks == ((150, 150, 100), (350, 350))
    assert _rel(G.compute(), k(X[:400], Y)) < TIGHT
    assert _rel(kd.kernel_block(k, X[:200]).compute(), k(X[:200])) < TIGHT


@pytest.mark.parametrize("kernel", [ka.Laplacian(2.0), ka.Matern(nu=1.5, bandwidth=1.0),
                                    ka.Polynomial(degree=2, gamma=0.5, coef0=1.0)])
def test_kernel_matvec_other_kernels(threads_client, data, kernel):
    X, Y, V, _ = data
    with dask.config.set(scheduler=threads_client):
        out = kd.kernel_matvec(kernel, X, Y, V, chunk_rows=256).compute()
    assert _rel(out, ka.kernel_matvec(kernel, X, Y, V)) < TIGHT


def test_kernel_matvec_chunk_size_independent(threads_client, data):
    X, Y, V, _ = data
    k = ka.Gaussian(bandwidth=0.8)
    with dask.config.set(scheduler=threads_client):
        outs = [kd.kernel_matvec(k, da.from_array(X, chunks=(cx, 3)), da.from_array(Y, chunks=(cy, 3)), V).compute()
                for cx, cy in [(97, 700), (1200, 61), (256, 256), (37, 700)]]
    for o in outs[1:]:
        assert _rel(o, outs[0]) < TIGHT


def test_kernel_matvec_float32(threads_client, data):
    X, Y, V, _ = data
    k = ka.Gaussian(bandwidth=1.0)
    X32, Y32, V32 = (a.astype(np.float32) for a in (X, Y, V))
    with dask.config.set(scheduler=threads_client):
        out32 = kd.kernel_matvec(k, X32, Y32, V32, chunk_rows=300).compute()
        out64 = kd.kernel_matvec(k, X32, Y32, V32, chunk_rows=300, accumulate="float64").compute()
    assert out32.dtype == np.float32 and out64.dtype == np.float64
    ref = ka.kernel_matvec(k, X, Y, V)
    assert _rel(out32, ref) < F32_TOL and _rel(out64, ref) < F32_TOL


# ------------------------------------------------------------------------------------------------
# Nyström
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("core,kw", [("shifted_cholesky", {}), ("eig", {}), ("pinv", {}),
                                     ("ridge", {"lam": 1e-3})])
def test_nystrom_matches_in_memory(threads_client, data, core, kw):
    X, _, _, idx = data
    k = ka.Gaussian(bandwidth=1.5)
    with dask.config.set(scheduler=threads_client):
        _check_nystrom_matches(k, X, idx, core, kw)


def test_nystrom_matches_in_memory_processes(processes_client, data):
    X, _, _, idx = data
    with dask.config.set(scheduler=processes_client):
        _check_nystrom_matches(ka.Gaussian(bandwidth=1.5), X, idx, "shifted_cholesky", {})


def _check_nystrom_matches(k, X, idx, core, kw):
    approx = kd.nystrom(k, da.from_array(X, chunks=(250, 3)), idx, core=core, **kw)
    assert isinstance(approx.F, da.Array) and approx.F.chunks[0] == (250, 250, 250, 250, 200)
    F = approx.compute()
    Fr = _ref_factor(k, X, X[idx], core, **kw)
    assert F.shape == Fr.shape and approx.rank == Fr.shape[1]
    assert _rel(F, Fr) < FACTOR_TOL
    lr = approx.to_lowrank()
    assert isinstance(lr, ka.PSDLowRank) and lr.info["core"] == core
    assert np.array_equal(lr.F, F)
    # dask.compute treats the result as a collection of F
    (F2,) = dask.compute(approx)
    assert np.array_equal(F2, F)


def test_nystrom_agrees_with_single_machine_nystrom(threads_client, data):
    """Against the in-memory kernapprox.nystrom: same K̂ = F Fᵀ."""
    nyst = pytest.importorskip("kernapprox.nystrom_psd")
    X, _, _, idx = data
    k = ka.Gaussian(bandwidth=1.5)
    ref = nyst.nystrom(ka.KernelMatrix(k, X), idx)
    with dask.config.set(scheduler=threads_client):
        F = kd.nystrom(k, X, idx, chunk_rows=333).compute()
    assert _rel(F @ F.T, ref.to_dense()) < FACTOR_TOL


def test_nystrom_landmark_points_and_transform(client, data):
    X, Y, _, _ = data
    k = ka.Matern(nu=2.5, bandwidth=1.2)
    L = Y[:40]                                   # landmarks that are not data points
    approx = kd.nystrom(k, da.from_array(X, chunks=(400, 3)), L, core="eig")
    F = approx.compute()
    assert _rel(F, _ref_factor(k, X, L, "eig")) < FACTOR_TOL
    # out-of-sample: in-memory points give an ndarray, equal to rows of F for points of X
    T = approx.transform(X[:50])
    assert isinstance(T, np.ndarray) and _rel(T, F[:50]) < FACTOR_TOL
    Td = approx.transform(da.from_array(Y, chunks=(100, 3)))
    assert isinstance(Td, da.Array)
    assert _rel(Td.compute(), _ref_factor(k, Y, L, "eig")) < FACTOR_TOL


def test_nystrom_chunk_size_independent(threads_client, data):
    X, _, _, idx = data
    k = ka.Gaussian(bandwidth=0.9)
    with dask.config.set(scheduler=threads_client):
        Fs = [kd.nystrom(k, da.from_array(X, chunks=(c, 3)), idx).compute() for c in (1200, 333, 64, 29)]
    for F in Fs[1:]:
        assert _rel(F, Fs[0]) < FACTOR_TOL


def test_nystrom_all_landmarks_is_exact(threads_client):
    """Exact regime: every point a landmark ⇒ F Fᵀ = K (shifted Cholesky keeps K̂ ⪯ K)."""
    X = np.random.default_rng(1).normal(size=(150, 2)) * 3.0
    k = ka.Gaussian(bandwidth=1.0)
    with dask.config.set(scheduler=threads_client):
        approx = kd.nystrom(k, X, np.arange(150), chunk_rows=40)
        F = approx.compute()
        K = k(X)
        assert np.max(np.abs(F @ F.T - K)) < 1e4 * np.finfo(np.float64).eps
        assert abs(approx.trace_error()) < 1e4 * np.finfo(np.float64).eps * 150
        assert kd.spectral_error(k, X, approx, method="exact").upper < 1e4 * np.finfo(np.float64).eps


def test_nystrom_float32_preserved(threads_client, data):
    X, _, _, idx = data
    k = ka.Gaussian(bandwidth=1.5)
    with dask.config.set(scheduler=threads_client):
        approx = kd.nystrom(k, X.astype(np.float32), idx, chunk_rows=300)
        F = approx.compute()
    assert F.dtype == np.float32 and approx.dtype == np.float32
    Fr = _ref_factor(k, X.astype(np.float32), X[idx].astype(np.float32))   # same float32 blocks, float64 core
    assert _rel(F, Fr) < F32_TOL
    # the in-memory Nyström on the same float32 matrix (same float32-eps core: same kept landmarks)
    nyst = pytest.importorskip("kernapprox.nystrom_psd")
    ref = nyst.nystrom(ka.KernelMatrix(k, X.astype(np.float32)), idx)
    assert ref.F.dtype == np.float32 and ref.rank == approx.rank
    assert _rel(F, ref.F) < F32_TOL


def test_nystrom_from_npy_file(client, data, tmp_path):
    X, _, _, idx = data
    k = ka.Gaussian(bandwidth=1.5)
    path = tmp_path / "points.npy"
    np.save(path, X)
    approx = kd.nystrom(k, str(path), idx, chunk_rows=256)
    assert approx.F.chunks[0][0] == 256
    assert _rel(approx.compute(), _ref_factor(k, X, X[idx])) < FACTOR_TOL
    # os.PathLike works; the reader pickles as its path, not as the file's content
    Xd = kd.as_dask_points(path, chunk_rows=100)
    reader = kd._NpyRows(path, "t", "X")
    assert len(pickle.dumps(reader)) < 1000 < X.nbytes
    assert np.array_equal(pickle.loads(pickle.dumps(reader))[10:20], X[10:20])
    assert np.array_equal(Xd.compute(), X)
    # an np.memmap (np.load(mmap_mode="r")) is read like the file, reopened by name in the workers
    mm = np.load(path, mmap_mode="r")
    Xm = kd.as_dask_points(mm, chunk_rows=100)
    assert np.array_equal(Xm.compute(), X)
    assert len(pickle.dumps(kd._MemmapRows(mm))) < 1000
    assert _rel(kd.nystrom(k, mm, idx, chunk_rows=256).compute(), _ref_factor(k, X, X[idx])) < FACTOR_TOL
    # Fortran-ordered data with a header offset
    np.save(tmp_path / "fortran.npy", np.asfortranarray(X[:50]))
    assert np.array_equal(kd.as_dask_points(np.load(tmp_path / "fortran.npy", mmap_mode="r")).compute(), X[:50])
    # integer files become float64
    np.save(tmp_path / "ints.npy", np.arange(12).reshape(6, 2))
    assert kd.as_dask_points(str(tmp_path / "ints.npy")).dtype == np.float64


def test_nystrom_default_chunks_bounded(tmp_path):
    """A file gets row chunks whose kernel block rows × k × 8 is about CHUNK_BYTES."""
    X = np.zeros((50_000, 2))
    np.save(tmp_path / "big.npy", X)
    Xd = kd.as_dask_points(str(tmp_path / "big.npy"), width=512)
    rows = Xd.chunks[0][0]
    assert rows * 512 * 8 <= kd.CHUNK_BYTES and rows >= kd.MIN_CHUNK_ROWS


# ------------------------------------------------------------------------------------------------
# error metrics
# ------------------------------------------------------------------------------------------------
def test_trace_error_exact(client, data):
    X, _, _, idx = data
    k = ka.Gaussian(bandwidth=1.5)
    approx = kd.nystrom(k, da.from_array(X, chunks=(300, 3)), idx)
    Fr = _ref_factor(k, X, X[idx])
    exact = float(np.trace(k(X)) - np.sum(Fr * Fr))
    got = approx.trace_error()
    assert abs(got - exact) <= TIGHT * np.trace(k(X))
    assert abs(approx.trace_error(relative=True) - exact / 1200) <= TIGHT
    # persisted F: reduced from the held chunks instead of recomputed (same number)
    assert abs(approx.persist().trace_error() - exact) <= TIGHT * 1200
    # module function with an in-memory factor / PSDLowRank, other chunking
    assert abs(kd.trace_error(k, X, Fr, chunk_rows=77) - exact) <= TIGHT * 1200
    assert abs(kd.trace_error(k, X, ka.PSDLowRank(Fr)) - exact) <= TIGHT * 1200


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_land=st.integers(1, 40), chunk=st.integers(5, 200))
def test_trace_error_nonnegative_and_monotone(seed, n_land, chunk):
    """Invariant K̂ ⪯ K (algorithms.md §1.2): tr(K − K̂) >= 0, and adding landmarks never increases it."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 2))
    idx = rng.permutation(200)[:n_land + 5]
    k = ka.Gaussian(bandwidth=1.0)
    with dask.config.set(scheduler="sync"):
        e_small = kd.nystrom(k, X, idx[:n_land], chunk_rows=chunk).trace_error()
        e_big = kd.nystrom(k, X, idx, chunk_rows=chunk).trace_error()
    slack = 1e3 * np.finfo(np.float64).eps * 200
    assert e_small >= -slack and e_big >= -slack
    assert e_big <= e_small + slack


def test_spectral_error_matches_dense(client, data):
    X, _, _, idx = data
    X = X[:400]
    k = ka.Gaussian(bandwidth=1.5)
    approx = kd.nystrom(k, da.from_array(X, chunks=(128, 3)), idx[idx < 400][:20])
    F = approx.compute()
    K = k(X)
    exact = np.linalg.norm(K - F @ F.T, 2)
    # matrix-free block Lanczos through distributed products: a certified bracket around the truth
    err = kd.spectral_error(k, None, approx, rng=2, tol=1e-9)
    assert err.method == "lanczos" and err.passes >= 1
    assert err.lower <= exact * (1 + TIGHT) and exact <= err.upper * (1 + TIGHT)
    assert abs(float(err) - exact) <= 1e-8 * exact


def test_spectral_error_relative_exact_path(threads_client, data):
    """In-memory approximation, relative error, the exact (dense-from-distributed-products) path."""
    X, _, _, idx = data
    X = X[:300]
    k = ka.Gaussian(bandwidth=1.5)
    F = _ref_factor(k, X, X[idx[idx < 300][:15]])
    K = k(X)
    exact = np.linalg.norm(K - F @ F.T, 2) / np.linalg.norm(K, 2)
    with dask.config.set(scheduler=threads_client):
        rel = kd.spectral_error(k, X, ka.PSDLowRank(F), relative=True, method="exact", rng=1, chunk_rows=100)
    assert abs(float(rel) - exact) <= 1e-10 * exact


def test_spectral_error_power_iteration_check(threads_client, data):
    """Independent check of the distributed operators: plain power iteration on E = K − K̂ (E ⪰ 0
    for Nyström, so ‖E^t v‖ ratios increase to ‖E‖₂ from below)."""
    X, _, _, idx = data
    X = X[:300]
    k = ka.Gaussian(bandwidth=1.0)
    with dask.config.set(scheduler="sync"):          # checks the operators, not the cluster
        approx = kd.nystrom(k, X, idx[idx < 300][:10], chunk_rows=150).persist()
        Kop = kd.DaskKernelMatrix(k, X, chunk_rows=150).as_operator()
        Aop = kd.DaskOperator((300, 300), approx.matvec)
        v = np.random.default_rng(3).standard_normal(300)
        for _ in range(40):
            w = Kop @ v - Aop @ v
            lam = float(np.linalg.norm(w))
            v = w / lam
    with dask.config.set(scheduler=threads_client):
        got = kd.spectral_error(k, X, approx, rng=3, tol=1e-8)
    assert lam <= got.upper * (1 + 1e-10)
    assert lam >= 0.99 * float(got)


# ------------------------------------------------------------------------------------------------
# kernel-matrix protocol and RPCholesky
# ------------------------------------------------------------------------------------------------
def test_dask_kernel_matrix_protocol(client, data):
    X, Y, V, _ = data
    k = ka.Gaussian(bandwidth=1.1)
    KM = kd.DaskKernelMatrix(k, da.from_array(X, chunks=(300, 3)))
    ref = ka.KernelMatrix(k, X)
    assert KM.shape == ref.shape and KM.dtype == ref.dtype and KM.is_psd and KM.symmetric
    idx = np.array([5, 1100, 5, 0])
    C = KM.columns(idx)
    # a normal in-memory array (distributed results can be unaligned views of the received buffer,
    # which BLAS wrappers copy silently: in-place updates by protocol users would be lost)
    assert C.flags.aligned and C.flags.writeable and C.flags.c_contiguous and C.flags.owndata
    assert _rel(C, ref.columns(idx)) < TIGHT
    assert _rel(KM.rows(idx), ref.rows(idx)) < TIGHT
    assert _rel(KM.block([1, 2], idx), ref.block([1, 2], idx)) < TIGHT
    assert _rel(KM.diag(), ref.diag()) < TIGHT
    w = np.resize(V[:, 0], 1200)
    assert _rel(KM @ w, ref @ w) < TIGHT
    assert KM.n_evals == 1200 * 4 * 2 + 8 + 1200 + 1200 ** 2
    KR = kd.DaskKernelMatrix(k, X, Y, chunk_rows=200)
    refR = ka.KernelMatrix(k, X, Y)
    assert KR.shape == (1200, 700) and not KR.is_psd
    assert _rel(KR.columns([3, 9]), refR.columns([3, 9])) < TIGHT
    assert _rel(KR.rmatvec(np.ones(1200)), refR.rmatvec(np.ones(1200))) < TIGHT
    assert _rel(KR.diag(), refR.diag()) < TIGHT


def test_metrics_use_dask_kernel_matrix_operator(data, monkeypatch):
    """ka.spectral_error / frobenius_error / trace_error on a DaskKernelMatrix run through its
    operator, rows and diagonal: X is never converted to one driver-side array."""
    X, _, _, idx = data
    X = X[:300]
    k = ka.Gaussian(bandwidth=1.0)
    F = _ref_factor(k, X, X[idx[idx < 300][:12]])
    B = ka.PSDLowRank(F)
    ref = ka.KernelMatrix(k, X)
    want = {"spec": ka.spectral_error(ref, B, method="exact"), "frob": ka.frobenius_error(ref, B),
            "trace": ka.trace_error(ref, B)}
    KM = kd.DaskKernelMatrix(k, X, chunk_rows=100)

    def refuse(self, *args, **kwargs):
        raise AssertionError("the whole dask array X was pulled to the driver")

    monkeypatch.setattr(da.Array, "__array__", refuse)
    with dask.config.set(scheduler="sync"):
        got = {"spec": ka.spectral_error(KM, B, method="exact"), "frob": ka.frobenius_error(KM, B),
               "trace": ka.trace_error(KM, B)}
        lz = ka.spectral_error(KM, B, method="lanczos", rng=0, tol=1e-8)
    for key in want:
        assert abs(float(got[key]) - float(want[key])) <= 1e-10 * abs(float(want[key])), key
    assert lz.lower <= float(want["spec"]) * (1 + 1e-10) and float(want["spec"]) <= lz.upper * (1 + 1e-10)
    assert KM.n_evals > 0


def test_rpcholesky_distributed_columns(client, data):
    cholesky = pytest.importorskip("kernapprox.cholesky")
    X, _, _, _ = data
    k = ka.Gaussian(bandwidth=1.0)
    ref = cholesky.rpcholesky(ka.KernelMatrix(k, X), 40, block_size=10, rng=7)
    got = kd.rpcholesky(k, da.from_array(X, chunks=(300, 3)), 40, block_size=10, rng=7)
    # same pre-drawn randomness (same seed) and columns equal to rounding ⇒ the same pivots
    if "indices" in ref.info:
        assert np.array_equal(np.asarray(got.info["indices"]), np.asarray(ref.info["indices"]))
    assert _rel(got.F @ got.F.T, ref.F @ ref.F.T) < 1e-10


def test_verbs_take_the_in_memory_arguments(threads_client, data):
    """ka.distributed.nystrom(DKM, indices) like ka.nystrom(KM, indices) (and rpcholesky, trace_error,
    spectral_error); the forms verb(kernel, X, ...) still work, with a DeprecationWarning, and give
    the same results; a DaskKernelMatrix counts the entries the verbs evaluate."""
    X, _, _, idx = data
    k = ka.Gaussian(bandwidth=1.5)
    Xd = da.from_array(X, chunks=(300, 3))
    with dask.config.set(scheduler=threads_client):
        DKM = kd.DaskKernelMatrix(k, Xd)
        new = kd.nystrom(DKM, idx)
        assert DKM.n_evals == new.info["n_evals"] == 1200 * new.rank + 60 * 60
        with pytest.warns(DeprecationWarning, match=r"the form nystrom\(kernel, X, landmarks\) is deprecated"):
            old = kd.nystrom(k, Xd, idx)
        np.testing.assert_array_equal(new.compute(), old.compute())
        ref = ka.nystrom(ka.KernelMatrix(k, X), idx)
        assert _rel(new.compute(), ref.F) < FACTOR_TOL
        pts = kd.nystrom(DKM, points=X[idx])
        assert _rel(pts.compute(), ref.F) < FACTOR_TOL
        B = ka.PSDLowRank(new.compute())
        t_new = kd.trace_error(DKM, B)
        with pytest.warns(DeprecationWarning, match="trace_error"):
            t_old = kd.trace_error(k, Xd, B)
        assert t_new == t_old
        s_new = kd.spectral_error(DKM, new, rng=0)
        with pytest.warns(DeprecationWarning, match="spectral_error"):
            s_old = kd.spectral_error(k, Xd, new, rng=0)
        assert float(s_new) == float(s_old)
        r_new = kd.rpcholesky(kd.DaskKernelMatrix(k, Xd), 20, block_size=10, rng=7)
        with pytest.warns(DeprecationWarning, match="rpcholesky"):
            r_old = kd.rpcholesky(k, Xd, 20, block_size=10, rng=7)
        np.testing.assert_array_equal(r_new.F, r_old.F)
    with pytest.raises(TypeError, match=r"distributed.nystrom: `chunk_rows` must be None with a DaskKernelMatrix"):
        kd.nystrom(DKM, idx, chunk_rows=10)
    with pytest.raises(ValueError, match=r"distributed.nystrom: `indices` must be given, or else `points`"):
        kd.nystrom(DKM)
    with pytest.warns(DeprecationWarning, match="`gamma` is deprecated, use `lam`"):
        kd.nystrom(DKM, idx, core="ridge", gamma=1e-3)


# ------------------------------------------------------------------------------------------------
# validation, chunking, optional dependency
# ------------------------------------------------------------------------------------------------
def test_feature_chunks_are_rechunked(threads_client, data):
    """Documented: X chunked along features is rechunked to one feature chunk (no error, same result)."""
    X, Y, V, idx = data
    k = ka.Gaussian(bandwidth=1.5)
    Xbad = da.from_array(X, chunks=(300, 1))
    assert kd.as_dask_points(Xbad).chunks[1] == (3,)
    with dask.config.set(scheduler=threads_client):
        assert _rel(kd.nystrom(k, Xbad, idx).compute(), _ref_factor(k, X, X[idx])) < FACTOR_TOL
        out = kd.kernel_matvec(k, Xbad, da.from_array(Y, chunks=(100, 2)), V).compute()
    assert _rel(out, ka.kernel_matvec(k, X, Y, V)) < TIGHT


def test_bad_inputs_raise_clear_errors(tmp_path, data):
    X, Y, V, idx = data
    k = ka.Gaussian(1.0)
    Xd = da.from_array(X, chunks=(300, 3))
    with pytest.raises(ValueError, match="known chunk sizes"):
        kd.nystrom(k, Xd[Xd[:, 0] > 0], idx[:3])
    with pytest.raises(ValueError, match=r"distributed.nystrom: `X` must be a 2-D array"):
        kd.nystrom(k, da.ones(10, chunks=5), [0])
    with pytest.raises(TypeError, match="real-valued"):
        kd.kernel_matvec(k, Xd.astype(complex), None, np.ones(1200))
    with pytest.raises(ValueError, match=r"`landmarks` must hold indices in \[0, 1200\)"):
        kd.nystrom(k, Xd, [0, 1200])
    with pytest.raises(ValueError, match="same number of columns"):
        kd.nystrom(k, Xd, Y[:, :2])
    with pytest.raises(ValueError, match="one row per point of `Y`"):
        kd.kernel_matvec(k, Xd, Y, V[:10])
    with pytest.raises(ValueError, match="positive semi-definite"):
        kd.nystrom(ka.Sigmoid(), Xd, [0, 1])
    with pytest.raises(ValueError, match="`core` must be one of"):
        kd.nystrom(k, Xd, [0, 1], core="newton_schulz")
    with pytest.raises(ValueError, match="`chunk_rows` must be >= 1"):
        kd.nystrom(k, Xd, [0, 1], chunk_rows=0)
    with pytest.raises(ValueError, match=r"\.npy file"):
        kd.nystrom(k, str(tmp_path / "points.csv"), [0])
    with pytest.raises(FileNotFoundError, match="existing .npy file"):
        kd.nystrom(k, str(tmp_path / "missing.npy"), [0])
    with pytest.raises(TypeError, match="dask array, an ndarray or a path"):
        kd.nystrom(k, object(), [0])
    # non-finite values are found lazily, chunk by chunk, when the graph runs
    Xn = X.copy()
    Xn[777, 1] = np.nan
    approx = kd.nystrom(k, da.from_array(Xn, chunks=(300, 3)), idx[idx < 600])
    with pytest.raises(ValueError, match="`X` must hold only finite values"):
        approx.compute(scheduler="sync")


def test_missing_dask_gives_install_hint(monkeypatch):
    for name in ("dask", "dask.array"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"kernapprox\[dask\]"):
        kd.kernel_matvec(ka.Gaussian(1.0), np.ones((3, 2)), None, np.ones(3))


# ------------------------------------------------------------------------------------------------
# fault tolerance (keep last: it kills a worker of the shared process cluster)
# ------------------------------------------------------------------------------------------------
def test_worker_killed_mid_computation(processes_client):
    """SIGKILL one worker process while a kernel product runs: Dask recomputes the lost tasks on
    the surviving / restarted worker and the result equals the in-memory one."""
    client = processes_client
    rng = np.random.default_rng(5)
    k = ka.Gaussian(bandwidth=1.0)
    killed = False
    for n in (4000, 8000, 16000):            # grow the job if it finished before the kill (fast machine)
        X = rng.normal(size=(n, 3))
        V = rng.normal(size=(n, 2))
        out = kd.kernel_matvec(k, da.from_array(X, chunks=(n // 10, 3)), None, V)   # 10 × 10 block tasks
        fut = client.compute(out)
        pids = client.run(os.getpid)
        # wait until the computation is under way: some results are held in worker memory
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not fut.done():
            if sum(len(v) for v in client.has_what().values()) >= 10:
                break
            time.sleep(0.005)
        if not fut.done():
            os.kill(pids[sorted(pids)[0]], signal.SIGKILL)
            killed = True
        got = fut.result(timeout=120)
        assert _rel(got, ka.kernel_matvec(k, X, X, V)) < TIGHT
        if killed:
            break
    assert killed, "every computation finished before a worker could be killed"


def test_dask_kernel_matrix_dense_cap(monkeypatch):
    """DaskKernelMatrix.dense refuses above the library's dense cap with the shared message."""
    import kernapprox.matrix as kmatrix
    monkeypatch.setattr(kmatrix, "DENSE_CAP_ENTRIES", 100)
    KM = kd.DaskKernelMatrix(ka.Gaussian(1.0), np.zeros((20, 2)), chunk_rows=10)
    with dask.config.set(scheduler="sync"):
        with pytest.raises(ValueError, match=r"DaskKernelMatrix.dense: the matrix has 20×20 = 400 entries, "
                                             r"above the cap of 100"):
            KM.dense()
        assert KM.dense(force=True).shape == (20, 20)
