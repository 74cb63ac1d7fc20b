"""Private jitted kernels (design.md §4.5). Public code calls only the dispatch functions here.

``gaussian_block`` / ``exponential_block`` compute dense kernel blocks and ``kernel_matvec_fast`` the
streamed product ``K(X, Y) @ V``; they route large problems to the tiled, multi-threaded numba kernels
of :mod:`kernapprox._numba.dense` and small ones to plain numpy (where thread start-up would dominate).
The plain numpy formulas in :mod:`kernapprox._numba.reference` are the references every jitted routine
is tested against.

Numba is imported only when a fast path first runs, so ``import kernapprox`` stays cheap; the number of
threads follows ``numba.set_num_threads`` / ``NUMBA_NUM_THREADS``.

Accuracy at every scale and offset (Gaussian): the squared distance ``||x||² + ||y||² − 2 x·y`` cancels
when the points are far from the origin (in float64 as in float32) and overflows or underflows for huge
or tiny coordinates. Both paths therefore centre X and Y by one common shift and scale them by one
power of two (:func:`distance_frame`), bound the expansion's rounding error entry by entry (a test per
tile, O(tile rows + columns)) and recompute by direct differences the entries whose bound is not at
rounding level (:func:`kernapprox._numba.dense.direct_exponent`). float32 blocks run GEMM, exponent and
``exp`` in float32 (full SIMD width); the error-control terms are float64.
"""
from __future__ import annotations

import importlib
import math
import threading
from contextlib import contextmanager

import numpy as np

from .._validation import pow2_exponent, working_dtype
from .reference import direct_exponent_numpy, exponential_block_numpy, gaussian_block_numpy, sqdist_numpy

__all__ = ["gaussian_block", "exponential_block", "kernel_matvec_fast", "distance_frame", "frame_points", "TAU",
           "gaussian_terms", "exponential_terms", "block_numpy",
           "direct_exponent_numpy", "gaussian_block_numpy",
           "exponential_block_numpy", "sqdist_numpy", "FAST_MIN_ENTRIES", "MATVEC_MAX_COLS", "PARALLEL_CHUNK",
           "have_numba", "SERIAL_BLAS_MNK", "STREAM_MIN_BYTES"]

#: Blocks with fewer entries than this are computed by plain numpy (thread start-up would dominate).
FAST_MIN_ENTRIES = 1 << 16
#: ``kernel_matvec_fast`` handles V with at most this many columns; wider V goes through the numpy tiles
#: (whose product GEMM is then the dominant cost and runs on BLAS's own threads).
MATVEC_MAX_COLS = 64

#: Blocks of at least this many bytes are written with non-temporal stores (:func:`dense.block_kernel`):
#: far larger than the caches, so caching the lines only costs a read of each before it is written.
STREAM_MIN_BYTES = 1 << 25

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


#: Blocks and products with at least this many tile multiply-adds (n·m·inner) hold the BLAS pools to
#: one thread while the parallel kernel runs (:func:`_serial_blas`) and use its larger tiles.
SERIAL_BLAS_MNK = 1 << 24

_BLAS = None


@contextmanager
def _serial_blas(on: bool):
    """With ``on``: every BLAS pool held to one thread (threadpoolctl) while the body runs, so that the
    tile GEMMs the numba threads call (scipy's BLAS) never start BLAS threads of their own, whatever
    the tile size; BLAS calls of other Python threads in that window run on one thread too. The
    controller is built once (~4 ms), after scipy's BLAS is loaded; a limit costs ~15 µs."""
    global _BLAS
    if not on:
        yield
        return
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController
        importlib.import_module("scipy.linalg.cython_blas")        # the BLAS numba's np.dot calls
        _BLAS = ThreadpoolController()
    with _BLAS.limit(limits=1, user_api="blas"):
        yield


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
    dt = working_dtype(X, Y)
    same = X is Y
    X = np.ascontiguousarray(X, dtype=dt)
    Y = X if same else np.ascontiguousarray(Y, dtype=dt)
    return X, Y, same


#: Unit roundoff of the two working dtypes.
_UNIT = {np.dtype(np.float64): 2.0 ** -53, np.dtype(np.float32): 2.0 ** -24}
#: Accepted error of the Gaussian exponent t: |t̂ - t| <= TAU · max(1, |t|) (plus the (d+3)u of direct
#: differences); entries whose certified expansion bound exceeds it are recomputed by direct differences.
TAU = {np.dtype(np.float64): 2.0 ** -42, np.dtype(np.float32): 2.0 ** -13}
#: Exponents below -TMIN give kernel value 0 in the dtype (exp underflows, subnormals included).
_TMIN = {np.dtype(np.float64): 746.0, np.dtype(np.float32): 104.0}
#: Largest exponent scale used inside the fused formula (keeps alpha·S + bx + by finite).
_CMAX = {np.dtype(np.float64): 2.0 ** 900, np.dtype(np.float32): 2.0 ** 100}
_NO_ROWS = np.empty((0, 0))
_NO_NORMS = np.empty(0)


def distance_frame(X, Y, same, centre=True):
    """One common shift and one power-of-two scale for a pair of point clouds: ``(mu, e)``.

    ``mu`` (per coordinate, in the dtype of X and Y; 0 with ``centre=False``) is the centre of the joint
    bounding box and e the exponent with ``max |x - mu|, |y - mu| < 2^e`` (0 for all-zero data), both
    from the column minima and maxima: O((n + m) d), no temporary. Differences are translation
    invariant, so ``x - y = (x - mu) - (y - mu)`` up to the rounding of the subtraction (exact when x is
    within a factor 2 of mu, Sterbenz); :func:`frame_points` then gives points in (-1, 1) whose squared
    norms, inner products and distances neither overflow nor lose the data's resolution at any scale.
    """
    lo = X.min(axis=0) if same else np.minimum(X.min(axis=0), Y.min(axis=0))
    hi = X.max(axis=0) if same else np.maximum(X.max(axis=0), Y.max(axis=0))
    if centre:
        half = X.dtype.type(0.5)
        mu = half * lo + half * hi                 # no overflow at any finite scale
        with np.errstate(over="ignore"):
            amax = float(np.maximum(hi - mu, mu - lo).max())
    else:
        mu = None
        amax = float(np.maximum(hi, -lo).max())
    if not amax > 0:
        return mu, 0
    e = pow2_exponent(amax)
    if centre and amax > math.ldexp(1.0 - 2.0 ** -20, e):   # the rounding of x - mu may reach 2^e
        e += 1
    return mu, int(e)


def frame_points(A, mu, e, dtype):
    """``(A - mu) · 2^-e`` (scaling exact: a power of two) as a new C-contiguous array of ``dtype``."""
    Z = (A - mu) if mu is not None else A.copy()
    Z = np.ascontiguousarray(Z, dtype=dtype)
    info = np.finfo(dtype)
    if info.minexp + 1 < -e < info.maxexp - 1:     # 2^-e a normal number of the dtype: one multiply
        Z *= dtype.type(2.0 ** -e)
    elif e != 0:
        np.ldexp(Z, -e, out=Z)
    return Z


def _ldexp(x: float, k: int) -> float:
    """``x · 2^k`` for a Python float, inf on overflow, 0 on underflow (no exception)."""
    with np.errstate(over="ignore", under="ignore"):
        return float(np.ldexp(x, k))


def gaussian_terms(X, Y, same, bandwidth, kt=None):
    """Scaled operands and coefficients of the fused Gaussian formula (:func:`dense.block_kernel`).

    With ``z = (x - mu) 2^-e`` and ``c = (2^e / h)² / 2``: ``t = -||x-y||²/(2h²) = 2c z·w - c||z||² - c||w||²``.
    Returns ``(Z, W, alpha, bx, by, upper, zx, zy, refine, C, D, hm, eh)`` with ``bx``, ``by``, ``alpha``
    in the kernel-value dtype ``kt`` (default: the working dtype; the exponent is formed in it) and the
    float64 error-control terms.
    """
    wt = X.dtype
    kt = wt if kt is None else np.dtype(kt)
    mu, e = distance_frame(X, Y, same)
    Z = frame_points(X, mu, e, wt)
    W = Z if same else frame_points(Y, mu, e, wt)
    zx = np.einsum("ij,ij->i", Z, Z, dtype=np.float64)
    zy = zx if same else np.einsum("ij,ij->i", W, W, dtype=np.float64)
    hm, eh = math.frexp(float(bandwidth))
    q = 2 * (e - eh)
    cmag = min(_ldexp(0.5 / (hm * hm), q), _CMAX[kt])
    inv_c = min(_ldexp(2.0 * hm * hm, -q), 1e300)
    f = kt.type
    bx = (zx * -cmag).astype(kt)
    by = bx if same else (zy * -cmag).astype(kt)
    gam = (X.shape[1] + 8) * _UNIT[wt]
    refine = (gam, TAU[wt], inv_c, _TMIN[wt] * inv_c)
    # direct differences use the raw points (no shift rounding), promoted to float64 entry by entry
    return Z, W, f(2.0 * cmag), bx, by, f(0.0), zx, zy, refine, X, Y, hm, eh


def exponential_terms(X, Y, same, temperature, kt=None):
    """Scaled operands and coefficients of the fused exponential formula: ``t = (4^e/T) z·w``."""
    wt = X.dtype
    kt = wt if kt is None else np.dtype(kt)
    _, e = distance_frame(X, Y, same, centre=False)
    if e < 400 and 4.0 ** max(e, 0) * X.shape[1] < 1e-3 * float(np.finfo(wt).max):
        e = 0                                       # no inner product can overflow: unscaled operands
    Z = X if e == 0 else frame_points(X, None, e, wt)
    W = Y if e == 0 else (Z if same else frame_points(Y, None, e, wt))
    alpha = min(_ldexp(1.0 / float(temperature), 2 * e), _CMAX[kt])
    f = kt.type
    zeros_x = np.zeros(X.shape[0], dtype=kt)
    zeros_y = zeros_x if same else np.zeros(Y.shape[0], dtype=kt)
    return (Z, W, f(alpha), zeros_x, zeros_y, f(np.inf), _NO_NORMS, _NO_NORMS, (0.0, 0.0, 0.0, 0.0),
            _NO_ROWS, _NO_ROWS, 1.0, 0)


def block_numpy(terms, same, unit_diag):
    """The fused formula in plain numpy (small blocks, or no parallel slot free): the same exponent in
    the same dtype, ``np.exp``, the same direct-difference refinement, exact symmetry when ``same``."""
    Z, W, alpha, bx, by, upper, zx, zy, refine, C, D, hm, eh = terms
    S = Z @ W.T
    K = S * alpha
    K += bx[:, None] + by[None, :]
    np.minimum(K, upper, out=K)
    with np.errstate(over="ignore"):
        np.exp(K, out=K)
    gam, tau, inv_c, tmin_d = refine
    if gam > 0 and gam * (zx.max() + zy.max()) > tau * inv_c:
        step = 1024
        for i0 in range(0, K.shape[0], step):
            B = zx[i0:i0 + step, None] + zy[None, :]
            dd = B - 2.0 * S[i0:i0 + step].astype(np.float64)
            B *= gam
            I, J = np.nonzero((B > tau * np.maximum(inv_c, dd)) & (dd - B < tmin_d))
            if I.size:
                t = direct_exponent_numpy(C[i0 + I], D[J], hm, eh)
                K[i0 + I, J] = np.exp(t).astype(K.dtype)
    if same:                      # mirror the upper triangle (exact symmetry)
        il = np.tril_indices(K.shape[0], -1)
        K[il] = K.T[il]
        if unit_diag:
            np.fill_diagonal(K, 1.0)
    return K


def _block(X, Y, same, terms, unit_diag, out=None):
    """The block of the fused formula ``terms()`` gives: tiled numba kernel, or plain numpy for small
    blocks, without numba, or when no parallel slot is free; written into ``out`` when given (an
    ``out`` that is not C-contiguous receives a copy of the block)."""
    if out is not None and not out.flags.c_contiguous:
        out[...] = _block(X, Y, same, terms, unit_diag)
        return out
    n, m = X.shape[0], Y.shape[0]
    if n * m >= FAST_MIN_ENTRIES and have_numba():
        with _parallel_slot() as ok:
            if ok:
                tm = terms()
                if out is None:
                    out = np.empty((n, m), dtype=X.dtype)
                big = n * m * X.shape[1] >= SERIAL_BLAS_MNK
                tr, tc = _dense.tile_shape(n, m, X.shape[1], serial_blas=big)
                if same:
                    tc = tr = min(tr, tc)
                Z, W, alpha, bx, by, upper, zx, zy, refine, C, D, hm, eh = tm
                with _serial_blas(big):
                    return _dense.block_kernel(Z, W, bx, by, alpha, upper, same, unit_diag, out, tr, tc,
                                               zx, zy, refine, C, D, hm, eh, out.nbytes >= STREAM_MIN_BYTES)
    K = block_numpy(terms(), same, unit_diag)
    if out is None:
        return K
    out[...] = K
    return out


def gaussian_block(X, Y, bandwidth, out=None):
    """K[i, j] = exp(-||x_i - y_j||² / (2 bandwidth²)), shape (n, m), float32 iff X and Y are float32.

    ``Y is X`` gives the symmetric matrix (upper triangle computed and mirrored, unit diagonal exact).

    Accuracy at every finite scale and offset: the points are centred by one common shift and scaled by
    one power of two (:func:`distance_frame`); the GEMM expansion ``||z||² + ||w||² - 2 z·w`` carries a
    certified error bound ``(d + 8) u (||z||² + ||w||²)``, and every entry whose bound exceeds
    ``TAU · max(1, |t|)`` in the exponent t (and whose value is not certainly 0) is recomputed by direct
    differences (:func:`dense.direct_exponent`). So ``|t̂ - t| <= TAU·max(1, |t|) + (d + 3) u |t|``
    (TAU = 2^-42 float64, 2^-13 float32) against the exact exponent of the (centred) inputs.
    ``out`` (optional, C-contiguous (n, m) of that dtype) receives the block: same values, no new array.
    """
    X, Y, same = _pair(X, Y)
    return _block(X, Y, same, lambda: gaussian_terms(X, Y, same, bandwidth), same, out)


def exponential_block(X, Y, temperature, out=None):
    """K[i, j] = exp(x_i·y_j / temperature), shape (n, m), float32 iff X and Y are float32 (+inf where
    the value exceeds the dtype's range). The points are scaled by one power of two before the GEMM, so
    inner products never overflow (no inf - inf = NaN); float64 values equal the unscaled formula's.
    ``out`` as in :func:`gaussian_block`."""
    X, Y, same = _pair(X, Y)
    return _block(X, Y, same, lambda: exponential_terms(X, Y, same, temperature), False, out)


def kernel_matvec_fast(kernel, X, Y, V, acc_dtype):
    """Fused, parallel ``K(X, Y) @ V`` (V of shape (m, r)) for a kernel with a fused formula
    (``kernel.fused``: ``"gaussian"`` reads ``kernel.bandwidth``, ``"exponential"`` ``kernel.temperature``).

    Returns None when there is no fast path (other kernels, small problems, r > MATVEC_MAX_COLS, numba
    unavailable, another thread inside a parallel kernel under numba's workqueue layer): the caller then
    uses numpy tiles. The result has dtype ``acc_dtype``.
    """
    form = getattr(kernel, "fused", None)
    if form not in ("gaussian", "exponential"):
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
    if form == "gaussian":
        terms = gaussian_terms(X, Y, same, kernel.bandwidth, acc)
    else:
        terms = exponential_terms(X, Y, same, kernel.temperature, acc)
    Xw, Yw, alpha, bx, by, upper, zx, zy, refine, C, D, hm, eh = terms
    Va = np.ascontiguousarray(V, dtype=acc)
    out = np.empty((n, r), dtype=acc)
    big = n * m * max(X.shape[1], r) >= SERIAL_BLAS_MNK
    tr, tc = _dense.tile_shape(n, m, max(X.shape[1], r), serial_blas=big)
    with _parallel_slot() as ok:
        if ok:
            with _serial_blas(big):
                return _dense.matvec_kernel(Xw, Yw, bx, by, alpha, upper, Va, out, tr, tc,
                                            zx, zy, refine, C, D, hm, eh)
    return None
