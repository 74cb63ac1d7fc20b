"""Private jitted kernels (design.md §4.5). Public code calls only the dispatch functions here.

``gaussian_block`` / ``exponential_block`` compute dense kernel blocks and ``kernel_matvec_fast`` the
streamed product ``K(X, Y) @ V``; they route large problems to the tiled, multi-threaded numba kernels
of :mod:`kernapprox._numba.dense` and small ones to plain numpy (where thread start-up would dominate).
The plain numpy formulas in :mod:`kernapprox._numba.reference` are the references every jitted routine
is tested against.

Numba is imported only when a fast path first runs, so ``import kernapprox`` stays cheap; the number of
threads follows ``numba.set_num_threads`` / ``NUMBA_NUM_THREADS``.

float32 accuracy (Gaussian): the squared distance ``||x||² + ||y||² − 2 x·y`` cancels badly in float32
when the points are far from the origin. Both paths therefore centre X and Y by their common mean
(distances are translation invariant), take norms in float64 and form the exponent in float64; only the
inner-product GEMM and the final ``exp`` run in float32.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np

from .reference import exponential_block_numpy, gaussian_block_numpy, sqdist_numpy

__all__ = ["gaussian_block", "exponential_block", "kernel_matvec_fast", "gaussian_block_numpy",
           "exponential_block_numpy", "sqdist_numpy", "FAST_MIN_ENTRIES", "MATVEC_MAX_COLS", "PARALLEL_CHUNK",
           "have_numba"]

#: Blocks with fewer entries than this are computed by plain numpy (thread start-up would dominate).
FAST_MIN_ENTRIES = 1 << 16
#: ``kernel_matvec_fast`` handles V with at most this many columns; wider V goes through the numpy tiles
#: (whose product GEMM is then the dominant cost and runs on BLAS's own threads).
MATVEC_MAX_COLS = 64

#: Row-tile tasks handed to a numba thread at a time (dynamic scheduling; 0 would split statically).
PARALLEL_CHUNK = 2

_dense = None


def have_numba() -> bool:
    """True when the numba fast paths are importable (numba installed and working)."""
    global _dense
    if _dense is None:
        try:
            from . import dense as _d
            _dense = _d
        except Exception:  # pragma: no cover - numba missing or broken: numpy fallbacks only
            _dense = False
    return _dense is not False


_LOCK = threading.Lock()
_CONCURRENT_OK = None   # whether numba's threading layer accepts concurrent launches; None = not known yet


@contextmanager
def _parallel_slot():
    """Yield True when this thread may launch a numba-parallel kernel now, False when it must not.

    numba's ``workqueue`` threading layer aborts the process if two Python threads launch parallel
    kernels at once (dask threads, thread pools); ``omp`` / ``tbb`` do not. Until the layer is known,
    and when it is ``workqueue``, one launch at a time: a second concurrent caller gets False and uses
    the numpy path instead of waiting. Row tiles are handed out PARALLEL_CHUNK at a time (dynamic
    scheduling: robust when the cores are shared).
    """
    global _CONCURRENT_OK
    import numba
    if _CONCURRENT_OK:
        with numba.parallel_chunksize(PARALLEL_CHUNK):
            yield True
        return
    if not _LOCK.acquire(blocking=False):
        yield False
        return
    try:
        with numba.parallel_chunksize(PARALLEL_CHUNK):
            yield True
    finally:
        if _CONCURRENT_OK is None:
            try:
                _CONCURRENT_OK = numba.threading_layer() != "workqueue"
            except ValueError:       # no parallel kernel has run yet
                pass
        _LOCK.release()


def _pair(X, Y):
    """Common working dtype (float32 only if both are float32) and C-contiguous copies/views."""
    dt = np.float32 if (X.dtype == np.float32 and Y.dtype == np.float32) else np.float64
    same = X is Y
    X = np.ascontiguousarray(X, dtype=dt)
    Y = X if same else np.ascontiguousarray(Y, dtype=dt)
    return X, Y, same


def _centre(X, Y, same):
    """Centre X and Y by their common mean (float64 mean, result in the input dtype)."""
    n, m = X.shape[0], Y.shape[0]
    mu = X.mean(axis=0, dtype=np.float64) if same else (
        (X.sum(axis=0, dtype=np.float64) + Y.sum(axis=0, dtype=np.float64)) / (n + m))
    Xc = (X - mu).astype(X.dtype, copy=False)
    Yc = Xc if same else (Y - mu).astype(Y.dtype, copy=False)
    return Xc, Yc


def _sqnorms(A):
    return np.einsum("ij,ij->i", A, A, dtype=np.float64)


def _gaussian_terms(X, Y, same, bandwidth):
    """(X', Y', alpha, bx, by, upper) of the fused formula for the Gaussian kernel."""
    if X.dtype == np.float32:
        X, Y = _centre(X, Y, same)
    c = -0.5 / (float(bandwidth) * float(bandwidth))
    xx = _sqnorms(X)
    yy = xx if same else _sqnorms(Y)
    return X, Y, -2.0 * c, c * xx, (c * xx if same else c * yy), 0.0


def _exponential_terms(X, Y, temperature):
    """(X, Y, alpha, bx, by, upper) of the fused formula for the exponential kernel."""
    return X, Y, 1.0 / float(temperature), np.zeros(X.shape[0]), np.zeros(Y.shape[0]), np.inf


def _gaussian_numpy(X, Y, same, bandwidth):
    """Small or fallback Gaussian block: plain numpy, same float32 strategy, exact symmetry."""
    n = X.shape[0]
    if X.dtype == np.float32:
        Xc, Yc = _centre(X, Y, same)
        X64 = Xc.astype(np.float64)
        K = gaussian_block_numpy(X64, X64 if same else Yc.astype(np.float64), bandwidth).astype(np.float32)
    else:
        K = gaussian_block_numpy(X, X if same else Y, bandwidth)
    if same:                      # mirror the upper triangle (exact symmetry), unit diagonal
        il = np.tril_indices(n, -1)
        K[il] = K.T[il]
        np.fill_diagonal(K, 1.0)
    return K


def _block_fast(X, Y, same, terms, unit_diag, out=None):
    """The tiled numba block for the fused formula ``terms()`` gives (written into ``out`` when given),
    or None when numpy must do it (small block, numba unavailable, or no parallel slot free)."""
    n, m = X.shape[0], Y.shape[0]
    if n * m >= FAST_MIN_ENTRIES and have_numba():
        with _parallel_slot() as ok:
            if ok:
                Xw, Yw, alpha, bx, by, upper = terms()
                if out is None:
                    out = np.empty((n, m), dtype=X.dtype)
                tr, tc = _dense.tile_shape(n, m, X.shape[1])
                if same:
                    tc = tr = min(tr, tc)
                return _dense.block_kernel(Xw, Yw, bx, by, alpha, upper, same, unit_diag, out, tr, tc)
    return None


def _into(K, out):
    """``K`` itself, or ``out`` filled with it (the numpy fallbacks of the ``out=`` forms)."""
    if out is None or K is out:
        return K
    out[...] = K
    return out


def gaussian_block(X, Y, bandwidth, out=None):
    """K[i, j] = exp(-||x_i - y_j||² / (2 bandwidth²)), shape (n, m), float32 iff X and Y are float32.

    ``Y is X`` gives the symmetric matrix (upper triangle computed and mirrored, unit diagonal exact).
    ``out`` (optional, C-contiguous (n, m) of that dtype) receives the block: same values, no new array.
    """
    X, Y, same = _pair(X, Y)
    K = _block_fast(X, Y, same, lambda: _gaussian_terms(X, Y, same, bandwidth), same, out)
    return _into(K if K is not None else _gaussian_numpy(X, Y, same, bandwidth), out)


def exponential_block(X, Y, temperature, out=None):
    """K[i, j] = exp(x_i·y_j / temperature), shape (n, m), float32 iff X and Y are float32 (may be inf).

    ``out`` as in :func:`gaussian_block`."""
    X, Y, same = _pair(X, Y)
    K = _block_fast(X, Y, same, lambda: _exponential_terms(X, Y, temperature), False, out)
    if K is not None:
        return K
    with np.errstate(over="ignore"):
        return _into(exponential_block_numpy(X, Y, temperature), out)


def kernel_matvec_fast(kernel, X, Y, V, acc_dtype):
    """Fused, parallel ``K(X, Y) @ V`` (V of shape (m, r)) for the Gaussian and Exponential kernels.

    Returns None when there is no fast path (other kernels, small problems, r > MATVEC_MAX_COLS, numba
    unavailable, another thread inside a parallel kernel under numba's workqueue layer): the caller then
    uses numpy tiles. The result has dtype ``acc_dtype``.
    """
    from ..kernels import Exponential, Gaussian  # local: kernels imports this package
    if type(kernel) not in (Gaussian, Exponential):
        return None
    n, m = X.shape[0], Y.shape[0]
    r = V.shape[1]
    if n * m < FAST_MIN_ENTRIES or r > MATVEC_MAX_COLS or not have_numba():
        return None
    X, Y, same = _pair(X, Y)
    acc = np.dtype(acc_dtype)
    if acc not in (np.float32, np.float64):
        return None
    if X.dtype == np.float64:
        acc = np.dtype(np.float64)
    if type(kernel) is Gaussian:
        Xw, Yw, alpha, bx, by, upper = _gaussian_terms(X, Y, same, kernel.bandwidth)
    else:
        Xw, Yw, alpha, bx, by, upper = _exponential_terms(X, Y, kernel.temperature)
    Va = np.ascontiguousarray(V, dtype=acc)
    out = np.empty((n, r), dtype=acc)
    tr, tc = _dense.tile_shape(n, m, max(X.shape[1], r))
    with _parallel_slot() as ok:
        if ok:
            return _dense.matvec_kernel(Xw, Yw, bx, by, alpha, upper, Va, out, tr, tc)
    return None
