"""KernelMatrix: a lazy entry oracle for K(X, Y) with evaluation counts, and streamed kernel products.

Nothing here forms an n×m matrix unless asked (``dense``): products are computed tile by tile, so the
extra memory is O(tile · m) whatever n is (design.md §2, §4.5).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse.linalg as spla

from . import kernels as _kernels
from ._operators import Matrix
from ._tiling import tile_rows
from ._validation import (check_dense_cap, check_kernel, check_indices, check_int, check_matrix, check_points, check_same_dim, fail,
                          working_dtype)

__all__ = ["KernelMatrix", "kernel_matvec", "default_tile_rows"]

#: ``KernelMatrix.dense`` refuses matrices with more entries than this unless ``force=True``
#: (5e7 entries = 400 MB in float64).
DENSE_CAP_ENTRIES = 50_000_000


def default_tile_rows(m: int, itemsize: int = 8) -> int:
    """Rows per tile so that a (rows × m) tile of kernel entries is about
    :data:`kernapprox._tiling.TILE_BYTES`, clipped to [16, 4096].

    ``m`` >= 1 (columns of the tile), ``itemsize`` in [1, 64] (bytes per entry, numpy's itemsizes)."""
    m = check_int(m, "default_tile_rows", "m", low=1)
    itemsize = check_int(itemsize, "default_tile_rows", "itemsize", low=1, high=64)
    return tile_rows(m, itemsize, low=16, high=4096)


def _n_workers() -> int:
    """Worker threads for the numpy tile path: numba's thread count (set_num_threads / NUMBA_NUM_THREADS)."""
    try:
        import numba
        return max(1, int(numba.get_num_threads()))
    except Exception:  # pragma: no cover - numba unavailable
        return max(1, os.cpu_count() or 1)


def stream_matvec(kernel: _kernels.Kernel, X: np.ndarray, Y: np.ndarray, V: np.ndarray,
                  acc_dtype) -> np.ndarray:
    """``K(X, Y) @ V`` by row tiles (and column tiles when Y is long): the unvalidated fast path of
    :func:`kernel_matvec` (as ``Kernel.block`` is of ``Kernel.__call__``) for callers that checked
    their operands — X (n, d), Y (m, d) and V (m, r) C-contiguous arrays of one float dtype; the
    result (n, r) is accumulated in ``acc_dtype``.

    Gaussian / exponential: the fused numba path (:func:`kernapprox._numba.kernel_matvec_fast`). Other
    kernels (or wide V): numpy tiles; row panels are shared out to a few Python threads (numpy, BLAS and
    cdist release the GIL), each owning its rows of ``out``, so at most ``workers`` tiles exist at once.
    """
    from ._numba import kernel_matvec_fast
    out = kernel_matvec_fast(kernel, X, Y, V, acc_dtype)
    if out is not None:
        return out
    n, m = X.shape[0], Y.shape[0]
    acc_dtype = np.dtype(acc_dtype)
    out = np.zeros((n, V.shape[1]), dtype=acc_dtype)
    Va = V.astype(acc_dtype, copy=False)
    col_step = max(1, min(m, 8192))
    row_step = default_tile_rows(col_step, X.dtype.itemsize)

    def panel(i0: int) -> None:
        rows = slice(i0, min(n, i0 + row_step))
        for j0 in range(0, m, col_step):
            T = kernel.block(X[rows], Y[j0:j0 + col_step])
            out[rows] += T.astype(acc_dtype, copy=False) @ Va[j0:j0 + col_step]

    starts = range(0, n, row_step)
    workers = min(_n_workers(), len(starts))
    # Gaussian/exponential tiles already run numba-parallel inside block: no extra threads for them
    if workers <= 1 or isinstance(kernel, (_kernels.Gaussian, _kernels.Exponential)):
        for i0 in starts:
            panel(i0)
    else:
        with ThreadPoolExecutor(workers) as ex:
            list(ex.map(panel, starts))
    return out


def kernel_matvec(kernel, X, Y, V, *, accumulate: str | None = None) -> np.ndarray:
    """``K(X, Y) @ V`` computed in tiles, never forming K.

    Parameters
    ----------
    kernel : Kernel or str
    X : ndarray of shape (n, d)
    Y : ndarray of shape (m, d), or None for ``Y = X``
    V : ndarray of shape (m,) or (m, r)
    accumulate : {None, "float64"}
        With float32 inputs, ``"float64"`` accumulates the products in float64 (the result is float64).

    Returns
    -------
    ndarray of shape (n,) or (n, r)

    Notes
    -----
    Time O(n m (d + r)); kernel entries evaluated: n·m; extra memory O(tile · m) — one tile of rows
    of K at a time (tiles run in parallel when the numba fast path applies).
    """
    func = "kernel_matvec"
    kernel = check_kernel(kernel, func)
    X = check_points(X, func, "X")
    Y = X if Y is None else check_points(Y, func, "Y")
    check_same_dim(X, Y, func)
    V = check_matrix(V, func, "V", ndim=None)
    if V.ndim > 2:
        raise fail(func, "V", "be 1-D or 2-D", f"shape {V.shape}")
    if V.shape[0] != Y.shape[0]:
        raise ValueError(f"{func}: `V` must have one row per point of `Y`; got V.shape={V.shape} and Y.shape={Y.shape}")
    return _matvec_checked(kernel, X, Y, V, accumulate, func)


def _matvec_checked(kernel, A, B, V, accumulate, func: str) -> np.ndarray:
    """``K(A, B) @ V`` for validated points A, B and V (1-D or 2-D, one row per point of B): checks
    ``accumulate``, picks the working dtype, streams :func:`stream_matvec`, keeps V's shape."""
    if accumulate not in (None, "float64"):
        raise fail(func, "accumulate", "be None or 'float64'", repr(accumulate))
    dt = working_dtype(A, B, V)
    vec = V.ndim == 1
    V2 = np.ascontiguousarray(V.reshape(V.shape[0], -1).astype(dt, copy=False))
    acc = np.dtype(np.float64) if accumulate == "float64" else dt
    out = stream_matvec(kernel, A.astype(dt, copy=False), B.astype(dt, copy=False), V2, acc)
    return out[:, 0] if vec else out


class KernelMatrix(Matrix):
    """Lazy kernel matrix ``K[i, j] = kernel(x_i, y_j)`` (``Y = None``: the square matrix K(X, X)).

    A protocol object of :func:`kernapprox.as_matrix` (``as_matrix(KM) is KM``). Entries are
    evaluated only when asked, and ``n_evals`` counts every kernel entry evaluated so far (diagonal
    entries included), which is how the samplers prove their cost.

    Parameters
    ----------
    kernel : Kernel or str
    X : ndarray of shape (n, d)
    Y : ndarray of shape (m, d), optional

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    >>> KM.shape, KM.columns([0, 5]).shape, KM.n_evals
    ((100, 100), (100, 2), 200)
    """

    psd_declared = True

    def __init__(self, kernel, X, Y=None):
        func = "KernelMatrix"
        self.kernel = check_kernel(kernel, func)
        X = check_points(X, func, "X")
        if Y is not None:
            Y = check_points(Y, func, "Y")
            check_same_dim(X, Y, func)
            dt = working_dtype(X, Y)
            X, Y = X.astype(dt, copy=False), Y.astype(dt, copy=False)
        self.X = X
        self.Y = Y
        self.symmetric = Y is None

    # -- basic properties ------------------------------------------------------------------------
    @property
    def _Y(self) -> np.ndarray:
        return self.X if self.Y is None else self.Y

    @property
    def shape(self) -> tuple[int, int]:
        return (self.X.shape[0], self._Y.shape[0])

    @property
    def dtype(self) -> np.dtype:
        return self.X.dtype

    @property
    def psd(self) -> bool:
        """True when the matrix is PSD: a square K(X, X) of a PSD kernel (by construction)."""
        return self.symmetric and self.kernel.is_psd

    def __repr__(self) -> str:
        return f"KernelMatrix({self.kernel!r}, shape={self.shape}, dtype={self.dtype}, n_evals={self.n_evals})"

    # -- entries (unvalidated, uncounted: the public methods of Matrix validate and count) -------
    def _diag(self) -> np.ndarray:
        if self.symmetric:
            return self.kernel.diag_of(self.X)
        k = min(self.shape)
        return self.kernel.pairs(self.X[:k], self._Y[:k])

    def _columns(self, idx) -> np.ndarray:
        return self.kernel.block(self.X, self._Y[idx])

    def _rows(self, idx) -> np.ndarray:
        return self.kernel.block(self.X[idx], self._Y)

    def _block(self, I, J) -> np.ndarray:
        return self.kernel.block(self.X[I], self._Y[J])

    def _entries(self, I, J) -> np.ndarray:
        return self.kernel.pairs(self.X[I], self._Y[J])

    def _dense(self) -> np.ndarray:
        return self.kernel.block(self.X, self._Y)

    # -- products -------------------------------------------------------------------------------
    def _product(self, A, B, V, func: str, accumulate) -> np.ndarray:
        """``K(A, B) @ V`` for (A, B) = (X, Y) or (Y, X); validates V, counts n·m evaluations."""
        V = check_matrix(V, func, "V", ndim=None)
        if V.ndim > 2 or V.shape[0] != B.shape[0]:
            raise ValueError(f"{func}: `V` must have shape ({B.shape[0]},) or ({B.shape[0]}, r); "
                             f"got V.shape={V.shape}")
        out = _matvec_checked(self.kernel, A, B, V, accumulate, func)
        self.count(A.shape[0] * B.shape[0])
        return out

    def matvec(self, V, *, accumulate: str | None = None) -> np.ndarray:
        """``K @ V`` streamed in tiles (see :func:`kernel_matvec`); counts n·m evaluations."""
        return self._product(self.X, self._Y, V, "KernelMatrix.matvec", accumulate)

    def rmatvec(self, U, *, accumulate: str | None = None) -> np.ndarray:
        """``Kᵀ @ U`` (= K @ U for a symmetric matrix); counts n·m evaluations."""
        return self._product(self._Y, self.X, U, "KernelMatrix.rmatvec", accumulate)

    matmat = matvec
    rmatmat = rmatvec

    def _matmat(self, V):
        return _matvec_checked(self.kernel, self.X, self._Y, V, None, "KernelMatrix.matvec")

    def _rmatmat(self, U):
        return _matvec_checked(self.kernel, self._Y, self.X, U, None, "KernelMatrix.rmatvec")

    def __matmul__(self, V):
        return self.matvec(V)

    @property
    def T(self) -> "KernelMatrix":
        """The transpose K(Y, X) as a new lazy matrix (its own evaluation counter)."""
        if self.symmetric:
            return self
        return KernelMatrix(self.kernel, self._Y, self.X)

    def astype(self, dtype) -> "KernelMatrix":
        """The same kernel matrix on points converted to ``dtype`` (entries evaluated in it),
        sharing this matrix's evaluation counter."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        out = KernelMatrix.__new__(KernelMatrix)
        out.kernel, out.symmetric = self.kernel, self.symmetric
        out.X = self.X.astype(dtype)
        out.Y = None if self.Y is None else self.Y.astype(dtype)
        out.share_counter(self)
        return out

    def as_operator(self) -> spla.LinearOperator:
        """A :class:`scipy.sparse.linalg.LinearOperator` whose products stream through :meth:`matvec`."""
        dt = np.dtype(np.float64) if self.dtype == np.float64 else np.dtype(np.float32)
        return spla.LinearOperator(self.shape, matvec=self.matvec, rmatvec=self.rmatvec,
                                   matmat=self.matvec, rmatmat=self.rmatvec, dtype=dt)
