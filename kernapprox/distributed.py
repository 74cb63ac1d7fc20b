"""Kernel products, PSD Nyström, error metrics and block RPCholesky on Dask.

When n reaches tens of millions of points, K(X, landmarks) and streamed kernel products no longer fit
one machine. This module runs the single-machine pieces of kernapprox chunk by chunk on a Dask
cluster (``dask.array`` + ``dask.distributed``; any scheduler works, a ``LocalCluster`` included):

* kernel blocks are evaluated with the kernel's own (unvalidated, fast) ``kernel.block`` inside
  ``map_blocks`` / ``blockwise``, streamed products with :func:`kernapprox.matrix` 's tiled routine;
* the matrix is a :class:`DaskKernelMatrix`, a protocol object of :func:`kernapprox.as_matrix`
  (the same base as :class:`kernapprox.KernelMatrix`) whose entries and products are evaluated on
  the cluster; the verbs take the same arguments as the in-memory ones:
  ``nystrom(DKM, indices)``, ``rpcholesky(DKM, k)``, ``trace_error(DKM, approx)``,
  ``spectral_error(DKM, approx)`` (the forms ``verb(kernel, X, ...)`` are deprecated);
* the Nyström core is :func:`kernapprox._cores.psd_core`, computed once on the driver (k×k, float64,
  with the same eps as :func:`kernapprox.nystrom`) and applied per row chunk by the in-memory
  Nyström's own tiled application — distributed and in-memory factors agree to rounding;
* RPCholesky is the single-machine :func:`kernapprox.rpcholesky` on the DaskKernelMatrix;
* the spectral error is :func:`kernapprox.spectral_error` (block Lanczos) applied to
  :class:`DaskOperator` s — ``LinearOperator`` s whose products run as Dask computations.

Inputs
------
``X`` may be

* a ``dask.array.Array`` of shape (n, d) chunked **by rows**. An array chunked along the features is
  rechunked automatically to one feature chunk (``X.rechunk({1: -1})``: d is small, so this costs one
  pass and no extra memory beyond a row chunk). Unknown chunk sizes (NaN, e.g. after boolean
  masking) are refused with a clear error: call ``X.compute_chunk_sizes()`` first.
* a path (``str`` / ``os.PathLike``) to a ``.npy`` file. It is opened with
  ``np.load(mmap_mode="r")`` in each worker process (the file is never pickled: the reader object
  carries only the path, so the file must be visible to every worker, e.g. a shared file system)
  and wrapped by ``dask.array.from_array`` with row chunks of ``chunk_rows`` rows (default: a row
  chunk of kernel entries of about :data:`CHUNK_BYTES`).
* an ``np.memmap`` as returned by ``np.load(path, mmap_mode="r")``: read like the file (reopened by
  name and offset in the workers, never pickled). A *view* of a memory map is treated as an
  in-memory array.
* an in-memory ndarray (converted with ``da.from_array``; handy for small ``Y``/landmarks/tests).

float32 data stay float32 (kernel blocks and features); cores and error sums are float64. Integer
data become float64. Non-finite values are detected lazily, chunk by chunk, when the computation
runs (a ``ValueError`` naming the parameter), so validation never needs an extra pass over the data.

Memory: a Nyström task holds one row chunk of X (rows × d), its features (rows × r, r <= k) and
one tile of kernel entries (:meth:`kernapprox._cores.PSDCore.apply_tiled`); peak memory per worker is
therefore about ``chunk_rows × k × itemsize`` plus a tile per worker thread, whatever n is
(measured: ``benchmarks/bench_dask.py``). Dask's nanny pins BLAS/OpenMP to one thread per worker
thread but not numba: start workers with ``NUMBA_NUM_THREADS=1`` (``LocalCluster(...,
env={"NUMBA_NUM_THREADS": "1"})``) so that w worker threads use w cores.

Dask is an optional dependency: ``pip install "kernapprox[dask]"``. Importing this module works
without it; calling any function raises an ``ImportError`` that says what to install.

Examples
--------
>>> import numpy as np, kernapprox as ka
>>> from kernapprox import distributed as kd
>>> from dask.distributed import Client, LocalCluster
>>> with LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cluster, \\
...         Client(cluster):                                       # doctest: +SKIP
...     X = np.random.default_rng(0).normal(size=(10_000, 4))
...     DKM = kd.DaskKernelMatrix(ka.Gaussian(2.0), X, chunk_rows=2_000)
...     approx = kd.nystrom(DKM, np.arange(0, 10_000, 100))
...     F = approx.compute()                                       # ndarray (10000, r)
...     err = approx.trace_error(relative=True)
"""
from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any

import numpy as np
import scipy.sparse.linalg as spla

from . import lowrank as _lowrank
from ._operators import Matrix
from ._validation import deprecated_alias
from ._cores import PSD_CORES, PSDCore, psd_core
from ._validation import (all_finite, as_generator, check_bool, check_indices, check_int, check_kernel,
                          check_matrix, check_points, check_positive, check_rcond, check_same_dim, fail)
from .matrix import stream_matvec

__all__ = [
    "kernel_block", "kernel_matvec", "nystrom", "DaskNystrom", "trace_error", "spectral_error", "DaskKernelMatrix",
    "DaskOperator", "rpcholesky", "as_dask_points",
]

#: Target bytes of one row chunk of kernel entries (rows × k × 8) when ``chunk_rows`` is not given
#: and X is a file or an in-memory array: 32 MiB, i.e. 8192 rows for k = 512 landmarks.
CHUNK_BYTES = 32 * 1024 * 1024
#: Smallest automatic row chunk (tiny chunks only add scheduler overhead).
MIN_CHUNK_ROWS = 1024
#: Largest automatic row chunk: keeps enough tasks for the workers when the kernel block is narrow
#: (a product K(X, Y) V with few columns in V has (n / rows) × (m / rows) tasks).
MAX_CHUNK_ROWS = 65536
#: Default Lanczos block of :func:`spectral_error`: a distributed pass costs n² kernel entries (and
#: a scheduling round trip) whatever the number of vectors, so wide blocks mean fewer passes.
LANCZOS_BLOCK = 16

_INSTALL_HINT = ('kernapprox.distributed needs dask with dask.array and dask.distributed; install it '
                 'with: pip install "kernapprox[dask]"  (or: pip install "dask[array,distributed]")')


def _dask():
    """Import dask lazily (optional dependency) and return ``(dask, dask.array)``."""
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - exercised only without dask
        raise ImportError(_INSTALL_HINT) from exc
    return dask, da


def _is_dask_array(X) -> bool:
    try:
        import dask.array as da
    except ImportError:  # pragma: no cover
        return False
    return isinstance(X, da.Array)


# ------------------------------------------------------------------------------------------------
# inputs: dask arrays, .npy files, in-memory arrays
# ------------------------------------------------------------------------------------------------
class _NpyRows:
    """Array-like row reader of a ``.npy`` file for ``da.from_array``.

    Each read maps the file with ``np.load(path, mmap_mode="r")``, copies the requested rows and
    drops the mapping again, so file pages do not pile up in the worker's resident set (Dask's
    memory monitor counts mapped pages as worker memory). Pickles as the path only (a
    ``np.memmap`` would pickle its whole content).
    """

    def __init__(self, path: str, func: str, name: str):
        self.path = os.fspath(path)
        if not self.path.endswith(".npy"):
            raise fail(func, name, "be a dask array, an ndarray or a path to a .npy file", repr(self.path))
        if not os.path.isfile(self.path):
            raise fail(func, name, "name an existing .npy file", repr(self.path), FileNotFoundError)
        try:
            mm = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            raise fail(func, name, "be a .npy file of numbers (memory-mappable)", f"{self.path!r} ({exc})") from exc
        self.shape = tuple(mm.shape)
        self.dtype = mm.dtype
        self.ndim = mm.ndim
        del mm

    def __getitem__(self, key):
        mm = np.load(self.path, mmap_mode="r", allow_pickle=False)
        try:
            return np.array(mm[key])
        finally:
            del mm


class _MemmapRows(_NpyRows):
    """Row reader of an ``np.memmap`` (e.g. ``np.load(path, mmap_mode="r")``): reopens the mapping
    by file name, offset, dtype, shape and order per read, so the array is never pickled."""

    def __init__(self, mm: np.memmap):
        self.path = os.fspath(mm.filename)
        self.offset = int(mm.offset)
        self.shape = tuple(mm.shape)
        self.dtype = mm.dtype
        self.ndim = mm.ndim
        self.order = "F" if (mm.flags.f_contiguous and not mm.flags.c_contiguous) else "C"

    def __getitem__(self, key):
        mm = np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=self.shape,
                       order=self.order)
        try:
            return np.array(mm[key])
        finally:
            del mm


def _whole_memmap(X) -> bool:
    """A memory map of a whole file region (not a view of one: a view's ``offset`` is its base's)."""
    import mmap
    return isinstance(X, np.memmap) and isinstance(X.base, mmap.mmap) and X.filename is not None


def _auto_rows(n: int, width: int, itemsize: int) -> int:
    rows = CHUNK_BYTES // max(1, width * max(itemsize, 8))
    return int(max(1, min(n, MAX_CHUNK_ROWS, max(MIN_CHUNK_ROWS, rows))))


def _finite_block(B, func: str, name: str):
    """Per-chunk lazy finiteness check (validation without an extra pass over the data)."""
    if not all_finite(B):
        bad = int(B.size - np.count_nonzero(np.isfinite(B)))
        raise fail(func, name, "hold only finite values (no NaN or inf)", f"{bad} non-finite entries in a row chunk")
    return B


def as_dask_points(X, func: str = "as_dask_points", name: str = "X", *, chunk_rows: int | None = None,
                   width: int | None = None):
    """Normalise a point cloud to a row-chunked dask array of shape (n, d).

    Parameters
    ----------
    X : dask.array.Array, str or os.PathLike (a ``.npy`` file), or array-like of shape (n, d)
    func, name : str
        Function and parameter names used in error messages.
    chunk_rows : int, optional
        Rows per chunk. For a file or an in-memory array the default gives a kernel block of about
        :data:`CHUNK_BYTES` (``width`` columns), clipped to [:data:`MIN_CHUNK_ROWS`,
        :data:`MAX_CHUNK_ROWS`]; a dask array keeps its row chunks unless this is given.
    width : int, optional
        Number of kernel columns a row chunk will be multiplied into (landmarks k, or the other side's
        chunk): sizes the automatic row chunk.

    Returns
    -------
    dask.array.Array of shape (n, d), float32 or float64, one chunk along the features.

    Notes
    -----
    A dask array chunked along the features is rechunked to a single feature chunk automatically
    (documented behaviour). Finiteness is checked lazily per chunk, when the graph runs.
    """
    _, da = _dask()
    if chunk_rows is not None:
        chunk_rows = check_int(chunk_rows, func, "chunk_rows", low=1)
    if isinstance(X, (str, os.PathLike)) or _whole_memmap(X):
        reader = _MemmapRows(X) if _whole_memmap(X) else _NpyRows(X, func, name)
        if reader.ndim != 2:
            raise fail(func, name, "be a 2-D array of shape (n, d)", f"shape {reader.shape} in {reader.path!r}")
        _check_dtype(reader.dtype, func, name)
        n, d = reader.shape
        if n < 1 or d < 1:
            raise fail(func, name, "have at least 1 row(s) and one column", f"shape {reader.shape}")
        rows = chunk_rows or _auto_rows(n, max(d, width or d), reader.dtype.itemsize)
        st = os.stat(reader.path)
        token = _tokenize(reader.path, st.st_size, st.st_mtime_ns, rows)
        A = da.from_array(reader, chunks=(rows, d), name=f"npy-{token}", asarray=False, fancy=False,
                          meta=np.empty((0, 0), dtype=reader.dtype))
    elif _is_dask_array(X):
        A = X
        _check_dtype(A.dtype, func, name)
        if A.ndim != 2:
            raise fail(func, name, "be a 2-D array of shape (n, d)", f"shape {A.shape}")
        if any(np.isnan(c) for c in A.chunks[0]) or any(np.isnan(c) for c in A.chunks[1]):
            raise fail(func, name, "have known chunk sizes (call X.compute_chunk_sizes() first)",
                       f"chunks {A.chunks}")
        if A.shape[0] < 1 or A.shape[1] < 1:
            raise fail(func, name, "have at least 1 row(s) and one column", f"shape {A.shape}")
        if len(A.chunks[1]) > 1:
            # documented: features are never split; d is small, so one feature chunk is cheap
            A = A.rechunk({1: -1})
        if chunk_rows is not None:
            A = A.rechunk({0: chunk_rows})
    elif isinstance(X, (np.ndarray, list, tuple)) or hasattr(X, "__array__"):
        Xa = check_points(X, func, name)
        rows = chunk_rows or _auto_rows(Xa.shape[0], max(Xa.shape[1], width or Xa.shape[1]), Xa.itemsize)
        return da.from_array(Xa, chunks=(rows, Xa.shape[1]))
    else:
        raise fail(func, name, "be a dask array, an ndarray or a path to a .npy file", type(X).__name__, TypeError)
    if A.dtype not in (np.float32, np.float64):
        A = A.astype(np.float64)
    return A.map_blocks(_finite_block, func, name, dtype=A.dtype)


def _tokenize(*args) -> str:
    dask, _ = _dask()
    return dask.base.tokenize(*args)


def _check_dtype(dtype, func, name):
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise fail(func, name, "be real-valued", f"dtype {dtype}", TypeError)
    if dtype.kind not in "fiub":
        raise fail(func, name, "hold real numbers", f"dtype {dtype}", TypeError)


def _common_float(*dtypes) -> np.dtype:
    return np.dtype(np.float32) if all(np.dtype(t) == np.float32 for t in dtypes) else np.dtype(np.float64)


def _owned(a) -> np.ndarray:
    """An aligned, writable, C-contiguous array that owns its data.

    Results that ``dask.distributed`` deserialises on the client can be views into the received
    byte buffer — not owning their data and not even 8-byte aligned — and BLAS wrappers silently
    copy such arrays (so in-place updates like ``dgemm(..., overwrite_c=1)`` would be lost). The
    in-memory contract of the kernel-matrix protocol is a normal ndarray: copy when needed.
    """
    return np.require(np.asarray(a), requirements=["C", "A", "W", "O"])


def _gather_rows(A, idx: np.ndarray) -> np.ndarray:
    """``A[idx]`` of a row-chunked dask array as an ndarray (sorted unique gather, then reorder)."""
    u, inv = np.unique(idx, return_inverse=True)
    return _owned(np.asarray(A[u].compute())[inv])


def _small_points(P, func: str, name: str) -> np.ndarray:
    """Landmarks / new points that live on the driver: validated ndarray (dask → computed)."""
    if _is_dask_array(P):
        P = P.compute()
    elif isinstance(P, (str, os.PathLike)):
        P = _NpyRows(P, func, name)[:]
    return check_points(P, func, name)


# ------------------------------------------------------------------------------------------------
# kernel products
# ------------------------------------------------------------------------------------------------
def _kv_block(Xc, Yc, Vc, kernel, acc):
    out = stream_matvec(kernel, np.ascontiguousarray(Xc), np.ascontiguousarray(Yc),
                        np.ascontiguousarray(Vc), np.dtype(acc))
    return out[:, None, :]


def kernel_matvec(kernel, X, Y, V, *, accumulate: str | None = None, chunk_rows: int | None = None):
    """``K(X, Y) @ V`` on a Dask cluster, both X and Y chunked by rows, never forming K.

    Each task evaluates one (X row chunk, Y row chunk) pair with the single-machine tiled product
    (:func:`kernapprox.kernel_matvec`'s routine); the partial products are summed over the Y chunks
    by a tree reduction.

    Parameters
    ----------
    kernel : Kernel or str
    X : dask array, .npy path or ndarray of shape (n, d)
    Y : dask array, .npy path or ndarray of shape (m, d), or None for ``Y = X``
    V : ndarray or dask array of shape (m,) or (m, r)
        Rechunked to Y's row chunks (one chunk along r).
    accumulate : {None, "float64"}
        With float32 inputs, ``"float64"`` accumulates in float64 (the result is float64).
    chunk_rows : int, optional
        Row chunk of X and Y when they are files/ndarrays (or to rechunk dask arrays).

    Returns
    -------
    dask.array.Array of shape (n,) or (n, r), rows chunked like X — call ``.compute()`` (or pass it
    to ``np.asarray``) for an ndarray.

    Notes
    -----
    Time O(n m (d + r)) kernel work spread over (#X chunks × #Y chunks) tasks; kernel entries
    evaluated: n·m; memory per task: one X chunk, one Y chunk, its V rows and one
    (rows_X × r) partial product (the kernel tile inside is bounded as in the single-machine path).

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> from kernapprox import distributed as kd
    >>> X = np.random.default_rng(0).normal(size=(3000, 3))
    >>> KV = kd.kernel_matvec(ka.Gaussian(1.0), X, None, np.ones(3000), chunk_rows=1000)
    >>> np.allclose(KV.compute(), ka.kernel_matvec(ka.Gaussian(1.0), X, X, np.ones(3000)))
    True
    """
    func = "distributed.kernel_matvec"
    _, da = _dask()
    kernel = check_kernel(kernel, func)
    if accumulate not in (None, "float64"):
        raise fail(func, "accumulate", "be None or 'float64'", repr(accumulate))
    vec, r = _v_shape(V, func)
    Xd = as_dask_points(X, func, "X", chunk_rows=chunk_rows, width=r)
    Yd = Xd if Y is None else as_dask_points(Y, func, "Y", chunk_rows=chunk_rows, width=r)
    check_same_dim(Xd, Yd, func)
    Vd = _as_dask_v(V, Yd, func)
    dt = _common_float(Xd.dtype, Yd.dtype, Vd.dtype)
    acc = np.dtype(np.float64) if accumulate == "float64" else dt
    Xd, Yd, Vd = (A.astype(dt) if A.dtype != dt else A for A in (Xd, Yd, Vd))
    with warnings.catch_warnings():
        # one partial product per (X chunk, Y chunk) pair is the point here, not a mistake
        warnings.filterwarnings("ignore", message="Increasing number of chunks")
        P = da.blockwise(_kv_block, "ijr", Xd, "ia", Yd, "ja", Vd, "jr", kernel=kernel, acc=acc.str,
                         adjust_chunks={"j": 1}, dtype=acc, concatenate=True,
                         meta=np.empty((0, 0, 0), dtype=acc))
    out = P.sum(axis=1, dtype=acc)
    return out[:, 0] if vec else out


def _pair_block(Xc, Yc, kernel, work_dtype):
    dt = np.dtype(work_dtype)
    return kernel.block(np.ascontiguousarray(Xc, dtype=dt), np.ascontiguousarray(Yc, dtype=dt))


def kernel_block(kernel, X, Y=None, *, chunk_rows: int | None = None):
    """The kernel block ``K(X, Y)`` as a lazy dask array (e.g. ``C = K(X, landmarks)``).

    Parameters
    ----------
    kernel : Kernel or str
    X : dask array, .npy path or ndarray of shape (n, d), chunked by rows
    Y : ndarray (one column chunk: landmarks), dask array or .npy path of shape (m, d); None: Y = X
    chunk_rows : int, optional
        Row chunk of X (file/ndarray). Default: a block row chunk of about :data:`CHUNK_BYTES`.

    Returns
    -------
    dask.array.Array of shape (n, m), chunks (X's row chunks, Y's row chunks), dtype float32 only
    if both are float32.

    Notes
    -----
    Kernel entries evaluated when computed: n·m, one task per (X chunk, Y chunk) pair through
    ``kernel.block``. Reduce it (``C.T @ C``, sums, …) or store it (``da.to_npy_stack``) rather than
    computing it whole: it is n×m.
    """
    func = "distributed.kernel_block"
    _, da = _dask()
    kernel = check_kernel(kernel, func)
    if Y is None:
        Xd = as_dask_points(X, func, "X", chunk_rows=chunk_rows)
        Yd = Xd
    else:
        if isinstance(Y, np.ndarray) or not (_is_dask_array(Y) or isinstance(Y, (str, os.PathLike))):
            Ya = check_points(Y, func, "Y")
            Yd = da.from_array(Ya, chunks=Ya.shape)
        else:
            Yd = as_dask_points(Y, func, "Y")
        Xd = as_dask_points(X, func, "X", chunk_rows=chunk_rows, width=max(c for c in Yd.chunks[0]))
    check_same_dim(Xd, Yd, func)
    dt = _common_float(Xd.dtype, Yd.dtype)
    return da.blockwise(_pair_block, "ij", Xd, "ia", Yd, "ja", kernel=kernel, work_dtype=dt.str,
                        dtype=dt, concatenate=True, meta=np.empty((0, 0), dtype=dt))


def _v_shape(V, func):
    shape = getattr(V, "shape", None)
    if shape is None:
        V = np.asarray(V)
        shape = V.shape
    if len(shape) not in (1, 2):
        raise fail(func, "V", "be 1-D or 2-D", f"shape {tuple(shape)}")
    return len(shape) == 1, (1 if len(shape) == 1 else int(shape[1]))


def _as_dask_v(V, Yd, func):
    _, da = _dask()
    if _is_dask_array(V):
        _check_dtype(V.dtype, func, "V")
        Vd = V if V.dtype in (np.float32, np.float64) else V.astype(np.float64)
        if any(np.isnan(c) for c in Vd.chunks[0]):
            raise fail(func, "V", "have known chunk sizes (call V.compute_chunk_sizes() first)", f"chunks {Vd.chunks}")
        Vd = Vd.map_blocks(_finite_block, func, "V", dtype=Vd.dtype)
    else:
        Vd = check_matrix(V, func, "V", ndim=None)
    if Vd.shape[0] != Yd.shape[0]:
        raise ValueError(f"{func}: `V` must have one row per point of `Y`; got V.shape={Vd.shape} "
                         f"and Y.shape={Yd.shape}")
    if Vd.ndim == 1:
        Vd = Vd.reshape(Vd.shape[0], 1)
    if isinstance(Vd, np.ndarray):
        return da.from_array(Vd, chunks=(Yd.chunks[0], Vd.shape[1]))
    return Vd.rechunk((Yd.chunks[0], Vd.shape[1]))


# ------------------------------------------------------------------------------------------------
# PSD Nyström
# ------------------------------------------------------------------------------------------------
def _features_block(Xc, kernel, Lk, pc: PSDCore, dtype):
    """F_c = K(X_c, L_kept) R on one row chunk, by the in-memory Nyström's own tiled application.

    :meth:`kernapprox._cores.PSDCore.apply_tiled` evaluates the kernel block tile by tile and
    multiplies in place (float64: straight into the rows of F), so a task holds its F chunk plus at
    most one tile.
    """
    dt = np.dtype(dtype)
    Xc = np.ascontiguousarray(Xc, dtype=dt)
    return pc.apply_tiled(lambda i0, i1, T: kernel.block_into(Xc[i0:i1], Lk, T), Xc.shape[0], dt, dt)


def _nystrom_trace_block(Xc, kernel, Lk, pc, dtype):
    """Trace parts of one row chunk from its points: features computed and reduced in one task."""
    return _trace_parts(Xc, _features_block(Xc, kernel, Lk, pc, dtype), kernel)


def _is_persisted(A) -> bool:
    """True when A's graph holds only its own chunks (computed results, after ``persist``)."""
    return len(A.__dask_graph__()) == A.npartitions


def _trace_parts(Xc, Fc, kernel):
    """[Σ_i (k(x_i, x_i) − ||f_i||²), Σ_i k(x_i, x_i)] of one row chunk, in float64."""
    dg = np.asarray(kernel.diag_of(np.ascontiguousarray(Xc)), dtype=np.float64)
    fn = np.einsum("ij,ij->i", Fc, Fc, dtype=np.float64)      # float64 sums, no float64 copy of F
    return np.array([[np.sum(dg - fn), np.sum(dg)]])


@dataclasses.dataclass(frozen=True, eq=False)
class DaskNystrom:
    """PSD Nyström approximation ``K̂ = F Fᵀ`` whose factor F lives on the cluster.

    Returned by :func:`nystrom`. ``F`` is a dask array (n, r) chunked by rows like X; the small
    ``core`` (a :class:`kernapprox._cores.PSDCore`, float64) and the ``landmarks`` live on the driver.

    ``compute()`` returns the ndarray F, ``to_lowrank()`` the in-memory
    :class:`kernapprox.PSDLowRank`, ``persist()`` keeps F in cluster memory, ``transform(Xnew)``
    gives out-of-sample features, ``trace_error()`` the exact ``tr(K − K̂)``. The object is also a
    Dask collection (``dask.compute(approx)`` computes F).
    """

    kernel: Any
    X: Any                       # dask array (n, d), row chunks
    F: Any                       # dask array (n, r), same row chunks
    landmarks: np.ndarray        # (k, d) all landmark points given
    core: PSDCore                # core of W = K(landmarks, landmarks) (policy, kept columns, meta)
    info: dict
    _Lk: np.ndarray = dataclasses.field(repr=False, default=None)     # kept landmarks L[core.cols]

    @property
    def shape(self) -> tuple[int, int]:
        n = int(self.F.shape[0])
        return (n, n)

    @property
    def rank(self) -> int:
        return int(self.F.shape[1])

    @property
    def dtype(self) -> np.dtype:
        return self.F.dtype

    def __repr__(self) -> str:
        return (f"DaskNystrom(shape={self.shape}, rank={self.rank}, dtype={self.dtype}, "
                f"core={self.core.policy!r}, chunks={len(self.F.chunks[0])} row chunks)")

    # -- dask collection protocol (delegates to F) --------------------------------------------
    def __dask_graph__(self):
        return self.F.__dask_graph__()

    def __dask_keys__(self):
        return self.F.__dask_keys__()

    def __dask_layers__(self):
        return self.F.__dask_layers__()

    def __dask_tokenize__(self):
        return ("DaskNystrom", self.F.name)

    @property
    def __dask_optimize__(self):
        return self.F.__dask_optimize__

    @property
    def __dask_scheduler__(self):
        return self.F.__dask_scheduler__

    def __dask_postcompute__(self):
        return self.F.__dask_postcompute__()

    def __dask_postpersist__(self):
        func, args = self.F.__dask_postpersist__()

        def rebuild(dsk, *a, rename=None):
            return dataclasses.replace(self, F=func(dsk, *a, rename=rename))
        return rebuild, args

    # -- results -------------------------------------------------------------------------------
    def compute(self, *, scheduler=None) -> np.ndarray:
        """The factor F as an ndarray (n, r) (``scheduler``: as for ``dask.compute``; None: the current one)."""
        kw = {} if scheduler is None else {"scheduler": scheduler}
        return _owned(self.F.compute(**kw))

    def persist(self, *, scheduler=None) -> "DaskNystrom":
        """A copy whose F is computed and held in (cluster) memory."""
        kw = {} if scheduler is None else {"scheduler": scheduler}
        return dataclasses.replace(self, F=self.F.persist(**kw))

    def to_lowrank(self, *, scheduler=None) -> _lowrank.PSDLowRank:
        """The in-memory :class:`kernapprox.PSDLowRank` (computes F: n × r must fit the driver)."""
        return _lowrank.PSDLowRank(self.compute(scheduler=scheduler), self.info)

    def diag(self):
        """Diagonal of K̂, ``||f_i||²`` (dask array (n,))."""
        return (self.F.astype(np.float64) ** 2).sum(axis=1)

    def matvec(self, V):
        """``F (Fᵀ V)`` as a dask array; V (n,) or (n, s), ndarray or dask."""
        _, da = _dask()
        vec, _ = _v_shape(V, "DaskNystrom.matvec")
        Vd = _as_dask_v(V, self.F, "DaskNystrom.matvec")
        out = self.F @ (self.F.T @ Vd)
        return out[:, 0] if vec else out

    def transform(self, Xnew, *, chunk_rows: int | None = None):
        """Out-of-sample features ``K(Xnew, L_kept) R`` (rows of F for points of X).

        Parameters
        ----------
        Xnew : ndarray, dask array or .npy path of shape (n_new, d)

        Returns
        -------
        ndarray (n_new, r) for an in-memory ``Xnew`` (computed on the driver), else a dask array
        chunked by rows.
        """
        func = "DaskNystrom.transform"
        dt = np.dtype(self.F.dtype)
        if isinstance(Xnew, np.ndarray) or (not _is_dask_array(Xnew) and not isinstance(Xnew, (str, os.PathLike))):
            Xa = check_points(Xnew, func, "Xnew")
            check_same_dim(Xa, self.landmarks, func, "Xnew", "landmarks")
            dtn = _common_float(Xa.dtype, dt)
            return _features_block(Xa, self.kernel, self._Lk.astype(dtn, copy=False), self.core, dtn)
        Xd = as_dask_points(Xnew, func, "Xnew", chunk_rows=chunk_rows, width=self.landmarks.shape[0])
        check_same_dim(Xd, self.landmarks, func, "Xnew", "landmarks")
        return _nystrom_features(Xd, self.kernel, self._Lk, self.core, _common_float(Xd.dtype, dt))

    def trace_error(self, *, relative: bool = False) -> float:
        """Exact ``tr(K − K̂) = Σ_chunks Σ_i (k(x_i, x_i) − ||f_i||²)`` (float64); see :func:`trace_error`.

        Unless F was persisted, each task computes its F chunk and reduces it at once (the F chunk
        never leaves the task): one pass over X, memory per task as for computing F.
        """
        if _is_persisted(self.F):
            return _trace_error(self.kernel, self.X, self.F, relative)
        dask, da = _dask()
        dt = np.dtype(self.F.dtype)
        Ld = dask.delayed(np.ascontiguousarray(self._Lk, dtype=dt), pure=True, traverse=False)
        Rd = dask.delayed(self.core, pure=True, traverse=False)
        parts = self.X.map_blocks(_nystrom_trace_block, self.kernel, Ld, Rd, dt.str,
                                  chunks=((1,) * len(self.X.chunks[0]), (2,)), dtype=np.float64,
                                  meta=np.empty((0, 0), dtype=np.float64))
        return _finish_trace(parts, relative)


def _nystrom_features(Xd, kernel, Lk, pc, dt):
    dask, _ = _dask()
    # the landmarks and the core enter the graph once (as keys), not once per task
    Ld = dask.delayed(np.ascontiguousarray(Lk, dtype=dt), pure=True, traverse=False)
    Rd = dask.delayed(pc, pure=True, traverse=False)
    Xd = Xd.astype(dt) if Xd.dtype != dt else Xd
    return Xd.map_blocks(_features_block, kernel, Ld, Rd, dt.str, chunks=(Xd.chunks[0], (pc.rank,)),
                         dtype=dt, meta=np.empty((0, 0), dtype=dt))


def nystrom(KM, indices=None, *args, points=None, core: str = "shifted_cholesky", rcond: float | None = None,
            lam: float | None = None, gamma: float | None = None, chunk_rows: int | None = None,
            landmarks=None) -> DaskNystrom:
    """PSD Nyström features ``F`` with ``F Fᵀ = C W^† Cᵀ`` for all n points, computed chunk-wise on Dask.

    Called as the in-memory :func:`kernapprox.nystrom`: ``nystrom(DKM, indices)`` or
    ``nystrom(DKM, points=Z)`` for a square :class:`DaskKernelMatrix` DKM. ``C = K(X, L)``,
    ``W = K(L, L)``; the core ``W^† ≈ R Rᵀ`` is :func:`kernapprox._cores.psd_core` (policy
    ``core``), computed once on the driver in float64; each row chunk of X then gives
    ``F_c = K(X_c, L_kept) R`` with the single-machine Nyström's own tiled application
    (:meth:`kernapprox._cores.PSDCore.apply_tiled`: same core, same eps, same kept landmarks), so
    distributed and in-memory factors agree to rounding and do not depend on the chunking.

    Parameters
    ----------
    KM : DaskKernelMatrix (n, n)
        K(X, X) of a PSD kernel; its row chunks are the tasks. (The form ``nystrom(kernel, X,
        landmarks)`` — X a dask array, .npy path or ndarray, landmarks indices or points — is
        deprecated.)
    indices : 1-D integer array (k,), optional
        Landmark indices into X (their rows are gathered from the cluster).
    points : ndarray of shape (k, d), optional
        Landmark points instead (may be a dask array or a .npy path). Exactly one of the two.
    core : {"shifted_cholesky", "eig", "pinv", "ridge"}
        Core stabilisation policy (design.md §4.4).
    rcond, lam : float, optional
        Eigenvalue cutoff of "eig"/"pinv"; ridge λ of "ridge" (``gamma``: deprecated alias).
    chunk_rows : int, optional
        Only with the deprecated form (a DaskKernelMatrix has its chunks): row chunk of X.

    Returns
    -------
    DaskNystrom
        ``.F`` dask array (n, r) chunked like X (r = k minus landmarks dropped by the core),
        ``.compute()`` → ndarray F, ``.transform(Xnew)``, ``.trace_error()``, ``.to_lowrank()``.

    Notes
    -----
    Time O(n k (d + r)) (kernel block + triangular multiply per chunk) plus O(k³) on the driver;
    kernel entries evaluated: n·r + k² (only kept landmark columns are evaluated for F; counted on
    DKM when F is built — it is lazy: nothing runs until it is computed, persisted or reduced);
    memory per task O(rows · (d + k + r)); driver memory O(k² + k d).

    References
    ----------
    Williams & Seeger (2001), "Using the Nyström method to speed up kernel machines";
    algorithms.md §1.2 (``B̃ = B[:, idx] pinv(B[idx, idx]) B[idx, :]``); Skyformer §3.2.
    """
    func = "distributed.nystrom"
    lam_name = "lam" if gamma is None else "gamma"
    lam = deprecated_alias(func, "gamma", gamma, "lam", lam)
    if isinstance(KM, DaskKernelMatrix):
        _new_form(func, args, chunk_rows)
        points = deprecated_alias(func, "landmarks", landmarks, "points", points)
        if not KM.symmetric:
            raise fail(func, "KM", "be a square DaskKernelMatrix K(X, X)", f"shape {KM.shape}")
        if (indices is None) == (points is None):
            raise fail(func, "indices", "be given, or else `points` (exactly one of the two)",
                       "both" if indices is not None else "neither")
        out = _nystrom(KM.kernel, KM.X, None, indices if points is None else points, core, rcond, lam,
                       lam_name, None, func)
        KM.count(out.info["n_evals"])
        return out
    # the deprecated form nystrom(kernel, X, landmarks)
    if len(args) > 1 or (not args and landmarks is None):
        raise fail(func, "KM", "be a DaskKernelMatrix (or, deprecated, the form nystrom(kernel, X, landmarks))",
                   type(KM).__name__, TypeError)
    _old_form(func, "nystrom(kernel, X, landmarks)", "nystrom(DaskKernelMatrix(kernel, X), indices)")
    lm = args[0] if args else landmarks
    return _nystrom(KM, None, indices, lm, core, rcond, lam, lam_name, chunk_rows, func)


def _new_form(func: str, args, chunk_rows) -> None:
    """The DaskKernelMatrix form takes no extra positionals and no ``chunk_rows`` (its own chunks)."""
    if args:
        raise TypeError(f"{func}: too many positional arguments for the DaskKernelMatrix form")
    if chunk_rows is not None:
        raise fail(func, "chunk_rows", "be None with a DaskKernelMatrix (it has its own row chunks)",
                   chunk_rows, TypeError)


def _old_form(func: str, old: str, new: str, stacklevel: int = 3) -> None:
    warnings.warn(f"{func}: the form {old} is deprecated; use {new}, as the in-memory verb",
                  DeprecationWarning, stacklevel=stacklevel)


def _error_operands(func: str, verb: str, KM, approx, args, chunk_rows):
    """``(kernel, X, approx)`` of ``verb(DKM, approx)`` (DKM square) or of the deprecated
    ``verb(kernel, X, approx)`` (which warns)."""
    if isinstance(KM, DaskKernelMatrix):
        _new_form(func, args, chunk_rows)
        if not KM.symmetric:
            raise fail(func, "KM", "be a square DaskKernelMatrix K(X, X)", f"shape {KM.shape}")
        return KM.kernel, KM.X, approx
    if len(args) != 1:
        raise fail(func, "KM", f"be a DaskKernelMatrix (or, deprecated, the form {verb}(kernel, X, approx))",
                   type(KM).__name__, TypeError)
    _old_form(func, f"{verb}(kernel, X, approx)", f"{verb}(DaskKernelMatrix(kernel, X), approx)", stacklevel=4)
    return KM, approx, args[0]


def _nystrom(kernel, Xd, X, landmarks, core, rcond, lam, lam_name, chunk_rows, func) -> DaskNystrom:
    """The Nyström features of K(X, X) on Dask points ``Xd`` (or X, any accepted form, made Dask
    here) with landmark indices (1-D) or points (2-D) ``landmarks``."""
    kernel = check_kernel(kernel, func)
    if not kernel.is_psd:
        raise fail(func, "kernel", "be positive semi-definite (kernel.is_psd) for the PSD Nyström cores",
                   kernel.name)
    if core not in PSD_CORES:
        raise fail(func, "core", "be one of " + ", ".join(repr(c) for c in PSD_CORES), repr(core))
    rcond = check_rcond(rcond, func)
    if lam is not None:
        lam = check_positive(lam, func, lam_name)
    lm = landmarks if (_is_dask_array(landmarks) or isinstance(landmarks, (str, os.PathLike))) \
        else np.asarray(landmarks)
    k_hint = int(lm.shape[0]) if getattr(lm, "ndim", 0) >= 1 else 1
    if Xd is None:
        Xd = as_dask_points(X, func, "X", chunk_rows=chunk_rows, width=k_hint)
    n = int(Xd.shape[0])
    indices = None
    if isinstance(lm, np.ndarray) and lm.ndim == 1:
        indices = check_indices(lm, n, func, "indices" if X is None else "landmarks")
        if X is not None and (isinstance(X, (str, os.PathLike)) or _whole_memmap(X)):
            # k rows straight from the memory map on the driver (no pass over the file)
            u, inv = np.unique(indices, return_inverse=True)
            L = check_points(np.asarray(X[u])[inv] if _whole_memmap(X) else _NpyRows(X, func, "X")[u][inv],
                             func, "X")
        else:
            L = _gather_rows(Xd, indices)
    else:
        name = "points" if X is None else "landmarks"
        L = _small_points(lm, func, name)
        check_same_dim(Xd, L, func, "X", name)
    dt = _common_float(Xd.dtype, L.dtype)
    L = np.ascontiguousarray(L, dtype=dt)
    W = kernel.block(L, L)
    # the same core as the in-memory kernapprox.nystrom (float64, eps of the working dtype)
    if not np.all(np.isfinite(W)):
        raise fail(func, "points" if X is None and indices is None else "landmarks",
                   "give finite kernel values (coordinates at a scale where the kernel "
                   "is representable)", "non-finite kernel entries")
    pc = psd_core(W, core, rcond=rcond, lam=lam, eps=float(np.finfo(dt).eps), func=func)
    Lk = np.ascontiguousarray(L[pc.cols])        # only the kept landmark columns are evaluated
    F = _nystrom_features(Xd, kernel, Lk, pc, dt)
    info = {"indices": indices, "kept": np.sort(pc.cols), "n_evals": n * int(Lk.shape[0]) + int(L.shape[0]) ** 2,
            "method": "nystrom", "core": core, "dropped": int(pc.meta.get("dropped", 0)),
            "distributed": True}
    info.update({key: v for key, v in pc.meta.items() if key != "dropped"})
    return DaskNystrom(kernel=kernel, X=Xd.astype(dt) if Xd.dtype != dt else Xd, F=F, landmarks=L,
                       core=pc, info=info, _Lk=Lk)


# ------------------------------------------------------------------------------------------------
# error metrics
# ------------------------------------------------------------------------------------------------
def _trace_error(kernel, Xd, Fd, relative: bool) -> float:
    _, da = _dask()
    if Fd.shape[0] != Xd.shape[0]:
        raise ValueError(f"trace_error: the factor has {Fd.shape[0]} rows but X has {Xd.shape[0]} points")
    Fd = Fd.rechunk((Xd.chunks[0], Fd.shape[1]))
    parts = da.blockwise(_trace_parts, "ij", Xd, "ia", Fd, "ib", kernel=kernel, adjust_chunks={"i": 1},
                         new_axes={"j": 2}, dtype=np.float64, concatenate=True,
                         meta=np.empty((0, 0), dtype=np.float64))
    return _finish_trace(parts, relative)


def _finish_trace(parts, relative: bool) -> float:
    err, tr = parts.sum(axis=0).compute()
    err = float(err)
    if relative:
        return err / float(tr) if tr > 0 else float("nan")
    return err


def trace_error(KM, approx=None, *args, relative: bool = False, chunk_rows: int | None = None) -> float:
    """Exact trace error ``tr(K − F Fᵀ) = Σ_chunks Σ_i (k(x_i, x_i) − ||f_i||²)`` of a PSD approximation.

    Called as the in-memory :func:`kernapprox.trace_error`: ``trace_error(DKM, approx)``.

    Parameters
    ----------
    KM : DaskKernelMatrix (n, n)
        K(X, X). (The form ``trace_error(kernel, X, approx)`` is deprecated; ``chunk_rows`` goes
        with it.)
    approx : DaskNystrom, PSDLowRank, or the factor F (dask array or ndarray of shape (n, r))
    relative : bool
        Divide by ``tr(K)``.

    Returns
    -------
    float
        ``tr(K − K̂)`` (>= 0 up to rounding for Nyström, since ``K̂ ⪯ K``), or its relative value.

    Notes
    -----
    One pass over X and F; kernel entries evaluated: n (the diagonal); sums in float64.
    The trace error is the nuclear-norm error ``||K − K̂||_*`` because ``K − K̂ ⪰ 0``
    (algorithms.md §1.2; Chen, Epperly, Tropp, Webber, "Randomly pivoted Cholesky", CPAM 2025, §2).
    """
    func = "distributed.trace_error"
    _, da = _dask()
    kernel, X, approx = _error_operands(func, "trace_error", KM, approx, args, chunk_rows)
    Xd = X if isinstance(KM, DaskKernelMatrix) else None
    kernel = check_kernel(kernel, func)
    relative = check_bool(relative, func, "relative")
    if isinstance(approx, DaskNystrom):
        F = approx.F
    elif isinstance(approx, _lowrank.PSDLowRank):
        F = approx.F
    elif _is_dask_array(approx) or isinstance(approx, np.ndarray):
        F = approx
        if F.ndim != 2:
            raise fail(func, "approx", "be a factor of shape (n, r)", f"shape {F.shape}")
    else:
        raise fail(func, "approx", "be a DaskNystrom, a PSDLowRank or a factor F (n, r)",
                   type(approx).__name__, TypeError)
    if Xd is None:
        Xd = as_dask_points(X, func, "X", chunk_rows=chunk_rows, width=int(F.shape[1]))
    if isinstance(F, np.ndarray):
        F = da.from_array(F, chunks=(Xd.chunks[0], F.shape[1]))
    out = _trace_error(kernel, Xd, F, relative)
    if isinstance(KM, DaskKernelMatrix):
        KM.count(KM.shape[0])
    return out


class DaskOperator(spla.LinearOperator):
    """A symmetric :class:`scipy.sparse.linalg.LinearOperator` whose every product is one Dask computation.

    ``lazy_product(V)`` maps a float64 ndarray (n, b) to a dask array (n, b); ``symmetric = True``
    tells :func:`kernapprox.spectral_error` to run symmetric (one product per block) Lanczos.
    ``on_product(b)`` is called after each product with the block width (evaluation counts).
    """

    symmetric = True

    def __init__(self, shape, lazy_product, *, on_product=None):
        self._lazy_product = lazy_product
        self._on_product = on_product
        super().__init__(dtype=np.dtype(np.float64), shape=tuple(int(s) for s in shape))

    def _matmat(self, V):
        V = np.ascontiguousarray(np.asarray(V, dtype=np.float64).reshape(self.shape[1], -1))
        out = _owned(np.asarray(self._lazy_product(V).compute(), dtype=np.float64))
        if self._on_product is not None:
            self._on_product(V.shape[1])
        return out.reshape(self.shape[0], V.shape[1])

    def _matvec(self, v):
        return self._matmat(np.asarray(v).reshape(-1, 1))[:, 0]

    _rmatvec = _matvec
    _rmatmat = _matmat

    def _adjoint(self):
        return self


def spectral_error(KM, approx=None, *args, relative: bool = False, method: str = "lanczos", rng=None,
                   chunk_rows: int | None = None, **options):
    """Spectral-norm error ``‖K − K̂‖₂`` with K = K(X, X), through distributed kernel products.

    K is wrapped as a :class:`DaskOperator` (a ``LinearOperator`` whose products ``K V`` run as one
    Dask computation each, :func:`kernel_matvec` with both sides chunked, accumulated in float64);
    a :class:`DaskNystrom` approximation likewise (``F (Fᵀ V)`` on the cluster); an in-memory
    low-rank result is used as is. The norm itself is the single-machine matrix-free estimator
    :func:`kernapprox.spectral_error` (block Lanczos with a certified lower bound and an upper
    estimate), which only ever sees products.

    Called as the in-memory :func:`kernapprox.spectral_error`: ``spectral_error(DKM, approx)``.

    Parameters
    ----------
    KM : DaskKernelMatrix (n, n)
        K(X, X). (The form ``spectral_error(kernel, X, approx)`` — X a dask array, .npy path,
        ndarray, or None for the ``X`` of a DaskNystrom — is deprecated; ``chunk_rows`` goes with it.)
    approx : DaskNystrom, PSDLowRank / SymLowRank (in memory), or None (then ``‖K‖₂``)
    relative : bool
        ``‖K − K̂‖₂ / ‖K‖₂`` (:func:`kernapprox.metrics.relative_spectral_error`: a second Lanczos run).
    method : {"lanczos", "auto", "exact"}
        Passed on. The default is matrix-free; ``"exact"`` (and ``"auto"`` for at most 10⁶ entries)
        forms the n×n matrix on the driver from n distributed products — small problems only.
    rng : None, int, SeedSequence or Generator
        Start block of the Lanczos iteration.
    **options
        ``tol``, ``block_size`` (default :data:`LANCZOS_BLOCK` = 16 here), ``max_iter``,
        ``delta`` of :func:`kernapprox.spectral_error`.

    Returns
    -------
    kernapprox.metrics.ErrorEstimate
        A float (the certified lower bound for Lanczos) with ``.lower``, ``.upper``, ``.passes``,
        ``.matvecs``, ``.info``.

    Notes
    -----
    Each block product costs n² kernel entries spread over (#chunks)² tasks, plus O(n r b) for K̂;
    the number of passes is reported in the result (typically 10–40 for a 1e-4 bracket).

    References
    ----------
    Golub & Van Loan, *Matrix Computations* (4th ed.), §10.1 (block Lanczos); Kuczyński &
    Woźniakowski (1992), SIMAX 13(4), Thm 4.2 (random start) — as in :func:`kernapprox.spectral_error`.
    """
    func = "distributed.spectral_error"
    from . import metrics as _metrics
    kernel, X, approx = _error_operands(func, "spectral_error", KM, approx, args, chunk_rows)
    kernel = check_kernel(kernel, func)
    gen = as_generator(rng, func)
    if isinstance(KM, DaskKernelMatrix):
        if approx is not None and not isinstance(approx, (DaskNystrom, _lowrank.PSDLowRank, _lowrank.SymLowRank)):
            raise fail(func, "approx", "be a DaskNystrom, a PSDLowRank/SymLowRank or None",
                       type(approx).__name__, TypeError)
        Xd = KM.X
    elif isinstance(approx, DaskNystrom):
        Xd = approx.X if X is None else as_dask_points(X, func, "X", chunk_rows=chunk_rows)
    else:
        if approx is not None and not isinstance(approx, (_lowrank.PSDLowRank, _lowrank.SymLowRank)):
            raise fail(func, "approx", "be a DaskNystrom, a PSDLowRank/SymLowRank or None",
                       type(approx).__name__, TypeError)
        if X is None:
            raise fail(func, "X", "be given (it may be None only with a DaskNystrom approx)", None, TypeError)
        Xd = as_dask_points(X, func, "X", chunk_rows=chunk_rows)
    n = int(Xd.shape[0])
    if approx is not None and tuple(approx.shape) != (n, n):
        raise ValueError(f"{func}: `approx` has shape {tuple(approx.shape)} but K(X, X) has shape {(n, n)}")
    A = KM.as_operator() if isinstance(KM, DaskKernelMatrix) else \
        DaskOperator((n, n), lambda V: kernel_matvec(kernel, Xd, None, V, accumulate="float64"))
    B = DaskOperator((n, n), approx.matvec) if isinstance(approx, DaskNystrom) else approx
    options.setdefault("block_size", min(LANCZOS_BLOCK, n))
    # K(X, X) and the Nyström operator are symmetric by construction: DaskOperator declares it (a
    # declaration, not a user claim checked with extra passes over the data)
    if relative:
        if B is None:
            raise fail(func, "approx", "be given with relative=True", None, TypeError)
        return _metrics.relative_spectral_error(A, B, method=method, rng=gen, **options)
    return _metrics.spectral_error(A, B, method=method, rng=gen, **options)


# ------------------------------------------------------------------------------------------------
# kernel-matrix protocol on Dask, and RPCholesky
# ------------------------------------------------------------------------------------------------
def _block_fn(Xc, kernel, P, dtype):
    return kernel.block(np.ascontiguousarray(Xc, dtype=np.dtype(dtype)), P)


def _diag_fn(Xc, kernel):
    return kernel.diag_of(np.ascontiguousarray(Xc))


class DaskKernelMatrix(Matrix):
    """Lazy K(X, Y) on a Dask cluster: a protocol object of :func:`kernapprox.as_matrix`, like
    :class:`~kernapprox.KernelMatrix` (the same :class:`kernapprox._operators.Matrix` base: index
    checks, counting, ``block``/``entries``/``dense`` defaults).

    ``.shape``, ``.dtype``, ``.psd``, ``.symmetric``, ``.kernel``, ``.X`` (a dask array),
    ``.diag()``, ``.columns(indices)``, ``.rows(indices)``, ``.block(I, J)``, ``.matvec(V)``,
    ``.rmatvec(U)``, ``@``, ``.as_operator()``, ``.n_evals``, ``.count(k)``, ``.reset()``. Every
    method returns an in-memory ndarray (the protocol's contract): columns are evaluated chunk-wise
    on the cluster — ``K(X_c, Y[indices])`` per row chunk — and gathered on the driver, so
    single-machine algorithms written against the protocol (:func:`kernapprox.rpcholesky`,
    :func:`kernapprox.nystrom`, samplers, metrics) run unchanged with distributed evaluations.

    Parameters
    ----------
    kernel : Kernel or str
    X : dask array, .npy path or ndarray of shape (n, d)
    Y : same kinds, shape (m, d), optional (None: the square K(X, X))
    chunk_rows : int, optional
    persist : bool
        ``X.persist()`` (and Y) first, so repeated column evaluations do not re-read the file.
        Needs a distributed client (else the points are loaded into the driver's memory).

    Notes
    -----
    ``columns(indices)`` costs n·|indices| kernel entries on the cluster plus a gather of |indices|
    points; driver memory O(n·|indices|) for the returned columns (as for :class:`KernelMatrix`).
    """

    psd_declared = True

    def __init__(self, kernel, X, Y=None, *, chunk_rows: int | None = None, persist: bool = False):
        func = "DaskKernelMatrix"
        self.kernel = check_kernel(kernel, func)
        Xd = as_dask_points(X, func, "X", chunk_rows=chunk_rows)
        Yd = None
        if Y is not None:
            Yd = as_dask_points(Y, func, "Y", chunk_rows=chunk_rows)
            check_same_dim(Xd, Yd, func)
        dt = _common_float(Xd.dtype, Xd.dtype if Yd is None else Yd.dtype)
        Xd = Xd.astype(dt) if Xd.dtype != dt else Xd
        if Yd is not None and Yd.dtype != dt:
            Yd = Yd.astype(dt)
        if persist:
            Xd = Xd.persist()
            Yd = None if Yd is None else Yd.persist()
        self.X = Xd
        self.Y = Yd
        self.symmetric = Yd is None

    @property
    def _Y(self):
        return self.X if self.Y is None else self.Y

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.X.shape[0]), int(self._Y.shape[0]))

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.X.dtype)

    @property
    def psd(self) -> bool:
        """True for a square K(X, X) of a PSD kernel (by construction)."""
        return self.symmetric and self.kernel.is_psd

    def __repr__(self) -> str:
        return (f"DaskKernelMatrix({self.kernel!r}, shape={self.shape}, dtype={self.dtype}, "
                f"row_chunks={len(self.X.chunks[0])}, n_evals={self.n_evals})")

    # -- entries (unvalidated, uncounted: Matrix's public methods validate and count) -----------
    def _diag(self) -> np.ndarray:
        if self.symmetric:
            return _owned(self.X.map_blocks(_diag_fn, self.kernel, drop_axis=1, dtype=self.dtype,
                                            meta=np.empty((0,), dtype=self.dtype)).compute())
        k = min(self.shape)
        # k(x_i, y_i) row-wise (as KernelMatrix.diag), not the diagonals of 512×512 blocks
        return _owned(self.kernel.pairs(self.X[:k].compute(), self._Y[:k].compute()))

    def _columns_lazy(self, A, P):
        dask, _ = _dask()
        Pd = dask.delayed(np.ascontiguousarray(P, dtype=self.dtype), pure=True, traverse=False)
        return A.map_blocks(_block_fn, self.kernel, Pd, self.dtype.str, chunks=(A.chunks[0], (P.shape[0],)),
                            dtype=self.dtype, meta=np.empty((0, 0), dtype=self.dtype))

    def _columns(self, idx) -> np.ndarray:
        """Gathered points ``Y[indices]``, then one task per row chunk of X."""
        return _owned(self._columns_lazy(self.X, _gather_rows(self._Y, idx)).compute())

    def _rows(self, idx) -> np.ndarray:
        return _owned(np.asarray(self._columns_lazy(self._Y, _gather_rows(self.X, idx)).compute()).T)

    def _block(self, I, J) -> np.ndarray:
        """Both index sets gathered; evaluated on the driver."""
        return self.kernel.block(_gather_rows(self.X, I), _gather_rows(self._Y, J))

    def _entries(self, I, J) -> np.ndarray:
        return self.kernel.pairs(_gather_rows(self.X, I), _gather_rows(self._Y, J))

    def _dense(self) -> np.ndarray:
        return self._columns(np.arange(self.shape[1]))

    # -- products -------------------------------------------------------------------------------
    def _matvec_lazy(self, V, accumulate=None):
        return kernel_matvec(self.kernel, self.X, None if self.symmetric else self._Y, V, accumulate=accumulate)

    def matvec(self, V, *, accumulate: str | None = None) -> np.ndarray:
        """``K @ V`` (ndarray) through :func:`kernel_matvec` on the cluster; counts n·m entries."""
        out = _owned(self._matvec_lazy(V, accumulate).compute())
        self.count(self.shape[0] * self.shape[1])
        return out

    def rmatvec(self, U, *, accumulate: str | None = None) -> np.ndarray:
        """``Kᵀ @ U`` (ndarray); counts n·m entries."""
        if self.symmetric:
            return self.matvec(U, accumulate=accumulate)
        out = _owned(kernel_matvec(self.kernel, self._Y, self.X, U, accumulate=accumulate).compute())
        self.count(self.shape[0] * self.shape[1])
        return out

    matmat = matvec
    rmatmat = rmatvec

    def _matmat(self, V):
        return _owned(self._matvec_lazy(V).compute())

    def _rmatmat(self, U):
        return _owned(kernel_matvec(self.kernel, self._Y, self.X, U).compute())

    def __matmul__(self, V):
        return self.matvec(V)

    @property
    def T(self) -> "DaskKernelMatrix":
        """The transpose K(Y, X) (its own evaluation counter)."""
        if self.symmetric:
            return self
        out = DaskKernelMatrix.__new__(DaskKernelMatrix)
        out.kernel, out.X, out.Y, out.symmetric = self.kernel, self._Y, self.X, False
        return out

    def as_operator(self) -> spla.LinearOperator:
        """A LinearOperator whose products run as Dask computations (a symmetric
        :class:`DaskOperator`, float64 accumulation, for the square matrix)."""
        if self.symmetric:
            n = self.shape[0]
            return DaskOperator(self.shape, lambda V: self._matvec_lazy(V, "float64"),
                                on_product=lambda b: self.count(n * n))
        dt = np.dtype(np.float64) if self.dtype == np.float64 else np.dtype(np.float32)
        return spla.LinearOperator(self.shape, matvec=self.matvec, rmatvec=self.rmatvec,
                                   matmat=self.matvec, rmatmat=self.rmatvec, dtype=dt)


def rpcholesky(KM, k=None, *args, block_size: int = 1, accelerated: bool = False, tol: float | None = None,
               dependent_pivots: str = "drop", rng=None, chunk_rows: int | None = None, persist: bool = False):
    """Block randomly pivoted Cholesky with distributed column evaluations.

    Called as the in-memory verb: ``rpcholesky(DKM, k, block_size=b, rng=...)`` — it *is*
    :func:`kernapprox.rpcholesky` on a :class:`DaskKernelMatrix`: the sampling logic runs on the
    driver and every column block ``K(X, X[pivots])`` is evaluated chunk-wise on the cluster.

    Parameters
    ----------
    KM : DaskKernelMatrix (n, n)
        (The form ``rpcholesky(kernel, X, k)`` is deprecated; ``chunk_rows`` and ``persist`` go
        with it — set them on the DaskKernelMatrix.)
    k : int
        Rank (number of pivots).
    block_size : int
        Pivots drawn per round (one distributed column evaluation per round: prefer blocks of
        tens to hundreds on a cluster, where each round has a scheduling latency).
    accelerated, tol, dependent_pivots, rng
        As in :func:`kernapprox.rpcholesky`.

    Returns
    -------
    Whatever :func:`kernapprox.rpcholesky` returns (a :class:`kernapprox.PSDLowRank`, F in driver
    memory: n × k must fit the driver).

    Notes
    -----
    Kernel entries evaluated: n (diagonal) + n·k (columns), all on the cluster; driver time
    O(n k²) for the Cholesky updates.

    References
    ----------
    Chen, Epperly, Tropp, Webber, "Randomly pivoted Cholesky: practical approximation of a kernel
    matrix with few entry evaluations", CPAM 2025, Algorithm 2 (block RPCholesky).
    """
    func = "distributed.rpcholesky"
    from .cholesky import rpcholesky as _rpcholesky
    if isinstance(KM, DaskKernelMatrix):
        _new_form(func, args, chunk_rows)
        if persist:
            raise fail(func, "persist", "be False with a DaskKernelMatrix (pass persist= when building it)",
                       persist, TypeError)
        return _rpcholesky(KM, k, block_size=block_size, accelerated=accelerated, tol=tol,
                           dependent_pivots=dependent_pivots, rng=rng)
    if len(args) != 1:
        raise fail(func, "KM", "be a DaskKernelMatrix (or, deprecated, the form rpcholesky(kernel, X, k))",
                   type(KM).__name__, TypeError)
    _old_form(func, "rpcholesky(kernel, X, k)", "rpcholesky(DaskKernelMatrix(kernel, X), k)")
    DKM = DaskKernelMatrix(KM, k, chunk_rows=chunk_rows, persist=persist)
    return _rpcholesky(DKM, args[0], block_size=block_size, accelerated=accelerated, tol=tol,
                       dependent_pivots=dependent_pivots, rng=rng)
