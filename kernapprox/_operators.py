"""One matrix protocol: :func:`as_matrix` and the :class:`Matrix` base (design.md §2).

Modelled on :func:`scipy.sparse.linalg.aslinearoperator`: every sampler, Nyström form, Cholesky
variant and error metric consumes a :class:`Matrix`, whatever the user handed in — a dense array, a
scipy sparse matrix, a :class:`scipy.sparse.linalg.LinearOperator`, a
:class:`~kernapprox.KernelMatrix`, a low-rank result (:class:`~kernapprox.PSDLowRank`,
:class:`~kernapprox.SymLowRank`, :class:`~kernapprox.LowRank`), a
:class:`~kernapprox.distributed.DaskKernelMatrix`, or any object with ``.shape``, ``.diag()``,
``.columns(indices)`` and ``.block(I, J)``.

The interface
-------------
``shape``, ``dtype``; entries ``diag()``, ``columns(indices)``, ``rows(indices)``, ``block(I, J)``
(the sub-matrix ``A[I][:, J]``), ``entries(I, J)`` (the pairs ``A[I[t], J[t]]``), ``dense()``;
products ``matvec`` / ``matmat`` and ``rmatvec`` / ``rmatmat`` (1-D or 2-D operands, optional
``accumulate="float64"``), ``@``, ``T``, ``as_operator()``, ``astype(dtype)``; declared structure
``symmetric`` and ``psd``; the evaluation counter ``n_evals`` with its public methods ``count(k)``
and ``reset()``.

Counting: ``n_evals`` is the number of entries read or evaluated so far — ``min(n, m)`` for the
diagonal, ``n·|indices|`` for columns, ``m·|indices|`` for rows, ``|I|·|J|`` for a block, ``n·m`` for
a product (whatever its number of vectors: one pass over the matrix) and for ``dense()``. For a
kernel matrix these are kernel evaluations, which is how the samplers prove their cost. A consumer
that evaluates entries on its own (e.g. Nyström with landmark points) reports them with
``count(k)``; nobody writes another object's counter.

Structure
---------
``symmetric`` is a bool; ``psd`` is True (declared, or PSD by construction: a square kernel matrix
of a PSD kernel, a :class:`PSDLowRank`, a :class:`SymLowRank` with λ >= 0), False (declared, or
refuted by a cheap necessary test) or None (unknown). Nothing is decided by a decomposition:

* symmetry of a dense or sparse square matrix: one O(n²) comparison ``max|A − Aᵀ| <=
  SYM_EPS_MULTIPLE · eps · max|A|`` (eps of the matrix dtype), row tile by row tile;
  a LinearOperator is symmetric only when declared (or when it carries ``symmetric = True``);
* PSD of an undeclared symmetric matrix: the necessary conditions ``A_ii >= 0`` and
  ``A_{i,i+1}² <= A_ii A_{i+1,i+1}`` (O(n) entries). Passing them leaves ``psd = None``: the matrix
  *may* be PSD and PSD consumers accept it (``is_psd`` is True), but PSD-ness is not verified —
  a consumer that decomposes a principal block anyway (:func:`kernapprox.nystrom` on its k×k
  landmark block) checks that block, and :func:`kernapprox.rpcholesky` refuses a negative diagonal.
  Declare ``psd=True`` to skip the checks, ``psd=False`` to refuse PSD methods.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ._tiling import eps_of, out_dtype, row_tiles
from ._validation import all_finite, check_bool, check_dense_cap, check_indices, check_matrix, deprecated_alias, fail

__all__ = ["Matrix", "as_matrix", "to_matrix", "require_psd", "DenseMatrix", "SparseMatrix", "OperatorMatrix",
           "LowRankMatrix", "DifferenceMatrix", "ProtocolMatrix"]

#: A dense / sparse square matrix counts as symmetric when max|A − Aᵀ| <= SYM_EPS_MULTIPLE·eps·max|A|.
SYM_EPS_MULTIPLE = 100.0
#: Relative tolerance of the cheap PSD tests (diagonal and 2×2 minors), at least 10·eps of the dtype.
PSD_RTOL = 1e3 * float(np.finfo(np.float64).eps)

_MINIMAL = ("shape", "diag", "columns", "block")


def _dense_cap() -> int:
    from . import matrix as _matrix           # the one setting, read at call time
    return _matrix.DENSE_CAP_ENTRIES


def _pick(indices, idx, func: str, name: str = "indices"):
    """``indices``, or the deprecated keyword ``idx``."""
    indices = deprecated_alias(func, "idx", idx, "indices", indices)
    if indices is None:
        raise fail(func, name, "be given (an array of indices)", None, TypeError)
    return indices


class _Counter:
    """A mutable count shared by a matrix and its dtype views (``astype``)."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


class Matrix:
    """Base of every protocol object: index validation, counting, products, structure.

    Subclasses set ``shape``, ``dtype``, ``symmetric``, ``psd`` (``_init_structure``) and implement
    the unvalidated, uncounted ``_diag()``, ``_columns(idx)``, ``_rows(idx)``, ``_block(I, J)``,
    ``_matmat(V)`` (V 2-D) and optionally ``_rmatmat(U)``, ``_entries(I, J)``, ``_dense()``.
    The public methods validate their arguments, count, and call them.
    """

    kernel = None                  # a kernel matrix sets its Kernel and points
    X = None
    dense_by_products = False      # True when entries are read through products (LinearOperator)
    symmetric = False
    psd = None
    psd_declared = False

    # -- counting -------------------------------------------------------------------------------
    @property
    def n_evals(self) -> int:
        """Entries read or evaluated so far (see the module docstring for what each call counts)."""
        c = self.__dict__.get("_evals")
        return 0 if c is None else c.value

    def count(self, k: int) -> None:
        """Add ``k`` entries evaluated on this matrix's behalf (e.g. by a consumer that evaluates
        a block itself) to ``n_evals``."""
        c = self.__dict__.get("_evals")
        if c is None:
            c = self.__dict__["_evals"] = _Counter()
        c.value += int(k)

    def _tally(self, k: int) -> None:
        """What the public entry and product methods count (a wrapper of a self-counting object
        counts nothing here)."""
        self.count(k)

    def reset(self) -> None:
        """Reset the evaluation counter ``n_evals`` to zero."""
        c = self.__dict__.get("_evals")
        if c is not None:
            c.value = 0

    def share_counter(self, base: "Matrix") -> None:
        """Count into ``base``'s counter (for views of ``base``: transposes, dtype views)."""
        base.count(0)
        self.__dict__["_evals"] = base.__dict__["_evals"]

    # -- structure ------------------------------------------------------------------------------
    @property
    def is_psd(self) -> bool:
        """True when PSD consumers may treat the matrix as PSD: declared / PSD by construction
        (``psd`` True) or not refuted by the cheap tests (``psd`` None)."""
        return self.psd is not False and self.shape[0] == self.shape[1]

    def _init_structure(self, symmetric, psd, detect_symmetric, *, cheap_psd: bool = True) -> None:
        """Set ``symmetric`` / ``psd`` / ``psd_declared`` from the declarations, else cheaply."""
        n, m = self.shape
        if symmetric is None:
            symmetric = False if n != m else bool(detect_symmetric())
        self.symmetric = bool(symmetric)
        self.psd_declared = psd is not None
        if psd is None and (n != m or not self.symmetric):
            psd = False
        elif psd is None and cheap_psd and not self._cheap_psd_ok():
            psd = False
        self.psd = psd

    def _cheap_psd_ok(self) -> bool:
        """Necessary PSD conditions in O(n) entries: diag >= 0 and A_{i,i+1}² <= A_ii A_{i+1,i+1}."""
        n = self.shape[0]
        d = np.asarray(self._diag(), dtype=np.float64)
        dmax = float(np.abs(d).max(initial=0.0))
        tol = max(PSD_RTOL, 10 * eps_of(self.dtype)) * dmax
        if np.any(d < -tol):
            return False
        if n > 1:
            i = np.arange(n - 1)
            off = np.asarray(self._entries(i, i + 1), dtype=np.float64)
            if np.any(np.abs(off) > np.sqrt(np.maximum(d[i], 0) * np.maximum(d[i + 1], 0)) + tol):
                return False
        return True

    # -- entries --------------------------------------------------------------------------------
    def diag(self) -> np.ndarray:
        """Diagonal ``A[i, i]``, i < min(n, m)."""
        self._tally(min(self.shape))
        return self._diag()

    def columns(self, indices=None, *, idx=None) -> np.ndarray:
        """Columns ``A[:, indices]``, shape (n, len(indices))."""
        func = f"{type(self).__name__}.columns"
        indices = check_indices(_pick(indices, idx, func), self.shape[1], func, "indices")
        self._tally(self.shape[0] * indices.size)
        return self._columns(indices)

    def rows(self, indices=None, *, idx=None) -> np.ndarray:
        """Rows ``A[indices, :]``, shape (len(indices), m)."""
        func = f"{type(self).__name__}.rows"
        indices = check_indices(_pick(indices, idx, func), self.shape[0], func, "indices")
        self._tally(self.shape[1] * indices.size)
        return self._rows(indices)

    def block(self, I, J) -> np.ndarray:
        """Sub-matrix ``A[I][:, J]``, shape (len(I), len(J))."""
        func = f"{type(self).__name__}.block"
        I = check_indices(I, self.shape[0], func, "I")
        J = check_indices(J, self.shape[1], func, "J")
        self._tally(I.size * J.size)
        return self._block(I, J)

    def entries(self, I, J) -> np.ndarray:
        """The entries ``A[I[t], J[t]]`` (I and J of equal length), shape (len(I),)."""
        func = f"{type(self).__name__}.entries"
        I = check_indices(I, self.shape[0], func, "I", allow_empty=True)
        J = check_indices(J, self.shape[1], func, "J", allow_empty=True)
        if I.shape != J.shape:
            raise ValueError(f"{func}: `I` and `J` must have the same length; got {I.size} and {J.size}")
        self._tally(I.size)
        return self._entries(I, J)

    def dense(self, *, force: bool = False) -> np.ndarray:
        """The whole matrix; refuses above ``kernapprox.matrix.DENSE_CAP_ENTRIES`` entries unless ``force=True``."""
        n, m = self.shape
        check_dense_cap(n, m, _dense_cap(), f"{type(self).__name__}.dense", force=force,
                        hint=", or use matvec/columns")
        self._tally(n * m)
        return self._dense()

    # defaults in terms of the others
    def _block(self, I, J):
        return self._rows(I)[:, J]

    def _entries(self, I, J):
        out = np.empty(I.size, dtype=self.dtype)
        for t in range(I.size):
            out[t] = self._block(I[t:t + 1], J[t:t + 1])[0, 0]
        return out

    def _dense(self):
        return self._rows(np.arange(self.shape[0]))

    # -- products -------------------------------------------------------------------------------
    def _operand(self, V, length: int, func: str):
        V = np.asarray(V)
        if V.ndim not in (1, 2) or V.shape[0] != length:
            raise ValueError(f"{func}: `V` must have shape ({length},) or ({length}, r); got V.shape={V.shape}")
        return V

    def _product(self, V, accumulate, func: str, transpose: bool):
        if accumulate not in (None, "float64"):
            raise fail(func, "accumulate", "be None or 'float64'", repr(accumulate))
        n, m = self.shape
        V = self._operand(V, n if transpose else m, func)
        vec = V.ndim == 1
        V2 = V.reshape(V.shape[0], -1)
        if accumulate == "float64":
            V2 = V2.astype(np.float64, copy=False)
        out = self._rmatmat(V2) if transpose else self._matmat(V2)
        if accumulate == "float64":
            out = np.asarray(out, dtype=np.float64)
        self._tally(n * m)
        return out[:, 0] if vec else out

    def matvec(self, V, *, accumulate: str | None = None) -> np.ndarray:
        """``A @ V`` for V of shape (m,) or (m, r); counts n·m entries (one pass)."""
        return self._product(V, accumulate, f"{type(self).__name__}.matvec", False)

    def rmatvec(self, U, *, accumulate: str | None = None) -> np.ndarray:
        """``Aᵀ @ U`` for U of shape (n,) or (n, r); counts n·m entries."""
        return self._product(U, accumulate, f"{type(self).__name__}.rmatvec", True)

    matmat = matvec
    rmatmat = rmatvec

    def _rmatmat(self, U):
        if self.symmetric:
            return self._matmat(U)
        raise NotImplementedError(f"{type(self).__name__}: no transposed product")

    def __matmul__(self, V):
        return self.matvec(V)

    @property
    def T(self) -> "Matrix":
        """The transpose (the matrix itself when symmetric)."""
        if self.symmetric:
            return self
        return _Transposed(self)

    def factors(self):
        """``(L, R)`` in float64 with ``A = L Rᵀ`` when the matrix is held as factors, else None."""
        return None

    def astype(self, dtype) -> "Matrix":
        """The same matrix with entries and products in ``dtype`` (float32 / float64), sharing this
        matrix's evaluation counter. Kernel matrices evaluate in ``dtype``; others convert."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        return _Cast(self, dtype)

    def as_operator(self) -> spla.LinearOperator:
        """A :class:`scipy.sparse.linalg.LinearOperator` whose products go through :meth:`matvec` (counted)."""
        op = spla.LinearOperator(self.shape, matvec=self.matvec, rmatvec=self.rmatvec, matmat=self.matvec,
                                 rmatmat=self.rmatvec, dtype=out_dtype(self.dtype))
        op.symmetric = self.symmetric
        return op

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype}, symmetric={self.symmetric}, "
                f"psd={self.psd}, n_evals={self.n_evals})")


class _View(Matrix):
    """A matrix derived from ``base`` that shares its evaluation counter."""

    def __init__(self, base: Matrix, shape, dtype):
        self.share_counter(base)
        self.base = base
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.kernel = base.kernel
        self.X = base.X


class _Transposed(_View):
    def __init__(self, base: Matrix):
        super().__init__(base, base.shape[::-1], base.dtype)
        self.symmetric = False
        self.psd = False
        self.psd_declared = base.psd_declared

    def _diag(self):
        return self.base._diag()

    def _columns(self, idx):
        return self.base._rows(idx).T

    def _rows(self, idx):
        return self.base._columns(idx).T

    def _block(self, I, J):
        return self.base._block(J, I).T

    def _entries(self, I, J):
        return self.base._entries(J, I)

    def _matmat(self, V):
        return self.base._rmatmat(V)

    def _rmatmat(self, U):
        return self.base._matmat(U)

    @property
    def T(self):
        return self.base


class _Cast(_View):
    """``base`` with every result converted to ``dtype``."""

    def __init__(self, base: Matrix, dtype):
        super().__init__(base, base.shape, dtype)
        self.symmetric, self.psd, self.psd_declared = base.symmetric, base.psd, base.psd_declared
        self.dense_by_products = base.dense_by_products

    def _c(self, a):
        return np.asarray(a, dtype=self.dtype)

    def _diag(self):
        return self._c(self.base._diag())

    def _columns(self, idx):
        return self._c(self.base._columns(idx))

    def _rows(self, idx):
        return self._c(self.base._rows(idx))

    def _block(self, I, J):
        return self._c(self.base._block(I, J))

    def _entries(self, I, J):
        return self._c(self.base._entries(I, J))

    def _dense(self):
        return self._c(self.base._dense())

    def matvec(self, V, *, accumulate: str | None = None):
        return self._c(self.base.matvec(V, accumulate=accumulate))      # counted by the base

    def rmatvec(self, U, *, accumulate: str | None = None):
        return self._c(self.base.rmatvec(U, accumulate=accumulate))

    matmat = matvec
    rmatmat = rmatvec

    def _matmat(self, V):
        return self._c(self.base._matmat(V))

    def _rmatmat(self, U):
        return self._c(self.base._rmatmat(U))

    def factors(self):
        return self.base.factors()


# ---------------------------------------------------------------------------------------------------
# implementations
# ---------------------------------------------------------------------------------------------------
#: Side of the square blocks compared by the dense symmetry test (a block and its mirror stay in cache).
_SYM_BLOCK = 512


def _dense_symmetric(A: np.ndarray) -> bool:
    """max|A − Aᵀ| <= SYM_EPS_MULTIPLE·eps·max|A|, in one pass over A: each block on or above the
    diagonal against its mirror (square blocks, so both stay in cache; one reused difference
    buffer, no n×n temporary)."""
    n = A.shape[0]
    b = min(n, _SYM_BLOCK)
    buf = np.empty((b, b), dtype=A.dtype)
    big = diff = 0.0
    for i0, i1 in row_tiles(n, b):
        for j0, j1 in row_tiles(n, b):
            if j0 < i0:
                continue
            U, L = A[i0:i1, j0:j1], A[j0:j1, i0:i1]
            big = max(big, float(U.max()), -float(U.min()), float(L.max()), -float(L.min()))
            D = buf[:i1 - i0, :j1 - j0]
            np.subtract(U, L.T, out=D)
            np.abs(D, out=D)
            diff = max(diff, float(D.max()))
    if not np.isfinite(big):
        return False
    return diff <= SYM_EPS_MULTIPLE * eps_of(A.dtype) * big


class DenseMatrix(Matrix):
    """A dense array (float32 / float64 kept; other real dtypes become float64) behind the protocol."""

    def __init__(self, A: np.ndarray, *, symmetric=None, psd=None):
        if A.dtype not in (np.float32, np.float64):
            A = A.astype(np.float64)
        self.A = A
        self.shape = A.shape
        self.dtype = A.dtype
        self._init_structure(symmetric, psd, lambda: _dense_symmetric(A))

    def _diag(self):
        return np.ascontiguousarray(np.diagonal(self.A)[:min(self.shape)])

    def _columns(self, idx):
        return self.A[:, idx]

    def _rows(self, idx):
        return self.A[idx]

    def _block(self, I, J):
        return self.A[np.ix_(I, J)]

    def _entries(self, I, J):
        return self.A[I, J]

    def _dense(self):
        return np.array(self.A)

    def _matmat(self, V):
        return self.A @ V

    def _rmatmat(self, U):
        return self.A.T @ U

    def astype(self, dtype):
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        out = DenseMatrix(self.A.astype(dtype), symmetric=self.symmetric, psd=self.psd)
        out.psd_declared = self.psd_declared
        out.share_counter(self)
        return out


class SparseMatrix(Matrix):
    """A scipy sparse matrix (held as CSR) behind the protocol."""

    def __init__(self, A, *, symmetric=None, psd=None):
        dt = A.dtype if A.dtype in (np.float32, np.float64) else np.float64
        self.A = sp.csr_matrix(A, dtype=dt)
        self.shape = tuple(self.A.shape)
        self.dtype = np.dtype(dt)
        self._init_structure(symmetric, psd, self._symmetric)

    def _symmetric(self) -> bool:
        D = self.A - self.A.T
        if D.nnz == 0:
            return True
        scale = float(abs(self.A).max()) if self.A.nnz else 0.0
        return float(abs(D).max()) <= SYM_EPS_MULTIPLE * eps_of(self.dtype) * scale

    def _diag(self):
        return self.A.diagonal()

    def _columns(self, idx):
        return self.A[:, idx].toarray()

    def _rows(self, idx):
        return self.A[idx].toarray()

    def _block(self, I, J):
        return self.A[I][:, J].toarray()

    def _entries(self, I, J):
        return np.asarray(self.A[I, J]).ravel().astype(self.dtype, copy=False)

    def _dense(self):
        return self.A.toarray()

    def _matmat(self, V):
        return np.asarray(self.A @ V)

    def _rmatmat(self, U):
        return np.asarray(self.A.T @ U)

    def astype(self, dtype):
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        out = SparseMatrix(self.A.astype(dtype), symmetric=self.symmetric, psd=self.psd)
        out.psd_declared = self.psd_declared
        out.share_counter(self)
        return out


#: Unit vectors per product when entries of a LinearOperator are read through products.
_PROBE_COLUMNS = 256


class OperatorMatrix(Matrix):
    """A :class:`scipy.sparse.linalg.LinearOperator` behind the protocol: entries are read through
    products with unit vectors (|indices| products for columns, transposed products for rows, n
    products in blocks for the diagonal). Symmetric only when declared (``symmetric=True`` here or
    a ``symmetric`` attribute on the operator)."""

    dense_by_products = True

    def __init__(self, op: spla.LinearOperator, *, symmetric=None, psd=None):
        self.op = op
        self.shape = tuple(int(s) for s in op.shape)
        self.dtype = out_dtype(op.dtype) if op.dtype is not None else np.dtype(np.float64)
        if symmetric is None:
            symmetric = bool(getattr(op, "symmetric", False)) and self.shape[0] == self.shape[1]
        self._init_structure(symmetric, psd, None, cheap_psd=False)

    def _unit(self, length, idx):
        E = np.zeros((length, idx.size))
        E[idx, np.arange(idx.size)] = 1.0
        return E

    def _matmat(self, V):
        return np.asarray(self.op.matmat(V)).reshape(self.shape[0], -1)

    def _rmatmat(self, U):
        if self.symmetric:
            return self._matmat(U)
        return np.asarray(self.op.rmatmat(U)).reshape(self.shape[1], -1)

    def _columns(self, idx):
        return self._matmat(self._unit(self.shape[1], idx))

    def _rows(self, idx):
        return self._rmatmat(self._unit(self.shape[0], idx)).T

    def _block(self, I, J):
        return self._columns(J)[I]

    def _entries(self, I, J):
        return np.array([self._columns(J[t:t + 1])[I[t], 0] for t in range(I.size)])

    def _diag(self):
        k = min(self.shape)
        out = np.empty(k)
        step = max(1, min(_PROBE_COLUMNS, k))
        for i0, i1 in row_tiles(k, step):
            idx = np.arange(i0, i1)
            out[i0:i1] = self._matmat(self._unit(self.shape[1], idx))[idx, np.arange(i1 - i0)]
        return out

    def _dense(self):
        n, m = self.shape
        if m <= n:
            return self._matmat(np.eye(m))
        return self._rmatmat(np.eye(n)).T

    def as_operator(self):
        return self.op


class LowRankMatrix(Matrix):
    """A low-rank result (``PSDLowRank`` F Fᵀ, ``SymLowRank`` U diag(λ) Uᵀ, ``LowRank`` L Rᵀ) behind
    the protocol: entries from the factors (O(r) work each), products through the result's own ``@``.

    ``dtype`` (default: the result's) is the dtype entries are computed in (from factors converted
    to it) and products are returned in."""

    def __init__(self, result, *, symmetric=None, psd=None, dtype=None):
        from .lowrank import LowRank, PSDLowRank, SymLowRank
        self.result = result
        self.shape = tuple(result.shape)
        self.dtype = np.dtype(result.dtype if dtype is None else dtype)
        dt = self.dtype
        if isinstance(result, PSDLowRank):
            F = np.asarray(result.F, dtype=dt)
            self._L, self._R = F, F
            struct_sym, struct_psd = True, True
        elif isinstance(result, SymLowRank):
            U = np.asarray(result.U, dtype=dt)
            lam = np.asarray(result.lam)
            self._L, self._R = U * lam.astype(dt), U
            struct_sym = True
            struct_psd = bool(lam.size == 0 or lam.min() >= -PSD_RTOL * np.abs(lam).max())
        elif isinstance(result, LowRank):
            self._L, self._R = np.asarray(result.L, dtype=dt), np.asarray(result.R, dtype=dt)
            struct_sym = (result.shape[0] == result.shape[1]
                          and (result.L is result.R or np.array_equal(result.L, result.R)))
            struct_psd = None if struct_sym else False
        else:
            raise TypeError(f"LowRankMatrix: not a low-rank result: {type(result).__name__}")
        if symmetric is None:
            symmetric = struct_sym
        declared = psd is not None
        if psd is None and struct_psd is not None:
            psd, declared = struct_psd, True
        self._init_structure(symmetric, psd, None)
        self.psd_declared = declared

    def _diag(self):
        k = min(self.shape)
        return np.einsum("ij,ij->i", self._L[:k], self._R[:k])

    def _columns(self, idx):
        return self._L @ self._R[idx].T

    def _rows(self, idx):
        return self._L[idx] @ self._R.T

    def _block(self, I, J):
        return self._L[I] @ self._R[J].T

    def _entries(self, I, J):
        return np.einsum("ij,ij->i", self._L[I], self._R[J])

    def _dense(self):
        return self._L @ self._R.T

    def _matmat(self, V):
        return np.asarray(self.result.matvec(V), dtype=self.dtype)

    def _rmatmat(self, U):
        return np.asarray(self.result.rmatvec(U), dtype=self.dtype)

    def factors(self):
        from .lowrank import LowRank, PSDLowRank
        o = self.result
        if isinstance(o, PSDLowRank):
            F = np.asarray(o.F, dtype=np.float64)
            return F, F
        if isinstance(o, LowRank):
            return np.asarray(o.L, dtype=np.float64), np.asarray(o.R, dtype=np.float64)
        U = np.asarray(o.U, dtype=np.float64)
        return U * o.lam, U

    def astype(self, dtype):
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        out = LowRankMatrix(self.result, symmetric=self.symmetric, psd=self.psd, dtype=dtype)
        out.psd_declared = self.psd_declared
        out.share_counter(self)
        return out


class ProtocolMatrix(Matrix):
    """An object that follows the protocol by duck typing (``.shape``, ``.diag()``,
    ``.columns(indices)``, ``.block(I, J)``; optionally ``.rows``, ``.matvec``, ``.rmatvec``,
    ``.dense``, ``.n_evals``, ``.is_psd``, ``.symmetric``, ``.kernel``, ``.X``) behind the
    :class:`Matrix` interface.

    The object counts its own entries when it has ``n_evals`` (read through, nothing is counted
    twice); entries a consumer reports with :meth:`count` are added to that."""

    def __init__(self, obj, *, symmetric=None, psd=None):
        self.obj = obj
        self.shape = tuple(int(s) for s in obj.shape)
        self.dtype = np.dtype(getattr(obj, "dtype", np.float64))
        self.kernel = getattr(obj, "kernel", None)
        self.X = getattr(obj, "X", None)
        if symmetric is None:
            symmetric = getattr(obj, "symmetric", None)
        if psd is None:
            psd = getattr(obj, "is_psd", None)
            if psd is None and self.kernel is not None:
                psd = bool(getattr(self.kernel, "is_psd", False))
            psd = None if psd is None else bool(psd)
        if symmetric is None:
            symmetric = self.shape[0] == self.shape[1] and psd is True
        self._init_structure(bool(symmetric), psd, None, cheap_psd=False)
        self.psd_declared = psd is not None

    @property
    def n_evals(self) -> int:
        own = Matrix.n_evals.fget(self)
        inner = getattr(self.obj, "n_evals", None)
        return own if inner is None else int(inner) + own

    def _tally(self, k: int) -> None:
        if getattr(self.obj, "n_evals", None) is None:
            self.count(k)

    def _all(self):
        return self.obj.block(np.arange(self.shape[0]), np.arange(self.shape[1]))

    def _diag(self):
        return self.obj.diag()

    def _columns(self, idx):
        return self.obj.columns(idx)

    def _rows(self, idx):
        return self.obj.rows(idx) if hasattr(self.obj, "rows") else self.obj.block(idx, np.arange(self.shape[1]))

    def _block(self, I, J):
        return self.obj.block(I, J)

    def _dense(self):
        return np.asarray(self.obj.dense(force=True) if hasattr(self.obj, "dense") else self._all())

    def _matmat(self, V):
        return self.obj.matvec(V) if hasattr(self.obj, "matvec") else np.asarray(self._all()) @ V

    def _rmatmat(self, U):
        if self.symmetric:
            return self._matmat(U)
        return self.obj.rmatvec(U) if hasattr(self.obj, "rmatvec") else np.asarray(self._all()).T @ U


class DifferenceMatrix(Matrix):
    """The operator ``A − B`` of two protocol objects of equal shape (B may be None: A itself).

    Symmetric when both are (or as declared). Every product ``(A − B) V`` is one product with A and
    one with B; :attr:`matvecs` (vectors) and :attr:`passes` (products) count them, :attr:`scale`
    tracks ``max ‖A q‖ + max ‖B q‖`` over the probe columns (a lower estimate of ‖A‖ + ‖B‖, the
    cancellation level of the difference). ``n_evals`` is the operands' total."""

    def __init__(self, A: Matrix, B: Matrix | None = None, *, symmetric=None, func: str = "DifferenceMatrix"):
        if B is not None and tuple(A.shape) != tuple(B.shape):
            raise ValueError(f"{func}: `A` and `B` must have the same shape; got A.shape={tuple(A.shape)} "
                             f"and B.shape={tuple(B.shape)}")
        self.A, self.B = A, B
        self.shape = tuple(A.shape)
        self.dtype = A.dtype if B is None else out_dtype(A.dtype, B.dtype)
        if symmetric is None:
            symmetric = A.symmetric and (B is None or B.symmetric)
        elif symmetric and self.shape[0] != self.shape[1]:
            raise fail(func, "symmetric", "be False or None for a rectangular operator", symmetric)
        self.symmetric = bool(symmetric)
        self.psd = None if self.symmetric else False
        self.matvecs = 0
        self.passes = 0
        self.scale = 0.0

    @property
    def n_evals(self) -> int:
        return self.A.n_evals + (0 if self.B is None else self.B.n_evals)

    def _both(self, name: str, *args):
        a = getattr(self.A, name)(*args)
        return a if self.B is None else a - getattr(self.B, name)(*args)

    def diag(self):
        return self._both("diag")

    def columns(self, indices=None, *, idx=None):
        return self._both("columns", _pick(indices, idx, "DifferenceMatrix.columns"))

    def rows(self, indices=None, *, idx=None):
        return self._both("rows", _pick(indices, idx, "DifferenceMatrix.rows"))

    def block(self, I, J):
        return self._both("block", I, J)

    def entries(self, I, J):
        return self._both("entries", I, J)

    def dense(self, *, force: bool = False):
        a = self.A.dense(force=force)
        return a if self.B is None else a - self.B.dense(force=force)

    def _track(self, PA, PB):
        sa = float(np.max(np.linalg.norm(PA, axis=0))) if PA.size else 0.0
        sb = float(np.max(np.linalg.norm(PB, axis=0))) if PB is not None and PB.size else 0.0
        self.scale = max(self.scale, sa + sb)

    def _product(self, V, accumulate, func, transpose):
        V = np.asarray(V)
        self.matvecs += int(V.shape[1]) if V.ndim == 2 else 1
        self.passes += 1
        name = "rmatvec" if transpose else "matvec"
        out = getattr(self.A, name)(V, accumulate=accumulate)
        other = None if self.B is None else getattr(self.B, name)(V, accumulate=accumulate)
        self._track(out.reshape(out.shape[0], -1), None if other is None else other.reshape(other.shape[0], -1))
        return out if other is None else out - other

    def factors(self):
        fa = self.A.factors()
        if fa is None or self.B is None:
            return fa
        fb = self.B.factors()
        if fb is None:
            return None
        return np.hstack([fa[0], -fb[0]]), np.hstack([fa[1], fb[1]])


# ---------------------------------------------------------------------------------------------------
# the normaliser
# ---------------------------------------------------------------------------------------------------
def _declared(value, func: str, name: str):
    return None if value is None else check_bool(value, func, name)


def to_matrix(A, func: str, name: str = "A", *, symmetric=None, psd=None) -> Matrix:
    """:func:`as_matrix` for the library's own verbs: errors name ``func`` and the argument ``name``."""
    symmetric = _declared(symmetric, func, "symmetric")
    psd = _declared(psd, func, "psd")
    if isinstance(A, Matrix):
        if symmetric is None and psd is None:
            return A
        if (symmetric is None or symmetric == A.symmetric) and (psd is None or psd == A.psd):
            return A
        raise fail(func, "psd" if psd is not None else "symmetric",
                   f"agree with the structure of the {type(A).__name__} (symmetric={A.symmetric}, "
                   f"psd={A.psd}); it is a declaration for arrays and operators", psd if psd is not None
                   else symmetric)
    if symmetric is False and psd:
        raise fail(func, "psd", "not be True for a matrix declared non-symmetric", psd)
    from .lowrank import LowRank, PSDLowRank, SymLowRank
    if isinstance(A, (PSDLowRank, SymLowRank, LowRank)):
        return LowRankMatrix(A, symmetric=symmetric, psd=psd)
    if sp.issparse(A):
        if A.ndim != 2 or A.shape[0] < 1 or A.shape[1] < 1:
            raise fail(func, name, "be a non-empty 2-D matrix", f"shape {A.shape}")
        if A.dtype.kind not in "fiub":
            raise fail(func, name, "be real-valued", f"dtype {A.dtype}", TypeError)
        M = SparseMatrix(A, symmetric=symmetric, psd=psd)
        if not all_finite(M.A.data):
            raise fail(func, name, "hold only finite values (no NaN or inf)", "non-finite entries")
        return M
    if isinstance(A, spla.LinearOperator):
        if len(A.shape) != 2 or A.shape[0] < 1 or A.shape[1] < 1:
            raise fail(func, name, "be a non-empty 2-D operator", f"shape {A.shape}")
        return OperatorMatrix(A, symmetric=symmetric, psd=psd)
    if not isinstance(A, np.ndarray) and all(hasattr(A, a) for a in _MINIMAL):
        return ProtocolMatrix(A, symmetric=symmetric, psd=psd)
    if isinstance(A, (np.ndarray, list, tuple)) or hasattr(A, "__array__"):
        D = check_matrix(A, func, name, ndim=2)
        if D.shape[0] < 1 or D.shape[1] < 1:
            raise fail(func, name, "be a non-empty 2-D matrix", f"shape {D.shape}")
        return DenseMatrix(D, symmetric=symmetric, psd=psd)
    raise fail(func, name, "be a KernelMatrix (or an object with .shape, .diag(), .columns(indices), "
               ".block(I, J)), an ndarray, a sparse matrix, a LinearOperator or a low-rank result",
               type(A).__name__, TypeError)


def as_matrix(A, *, symmetric: bool | None = None, psd: bool | None = None) -> Matrix:
    """One matrix protocol for every input kind, as :func:`scipy.sparse.linalg.aslinearoperator`.

    Parameters
    ----------
    A : ndarray (n, m), scipy sparse matrix, LinearOperator, KernelMatrix, DaskKernelMatrix,
        PSDLowRank / SymLowRank / LowRank, or an object with ``.shape``, ``.diag()``,
        ``.columns(indices)``, ``.block(I, J)``
    symmetric : bool, optional
        Declared symmetry (trusted). Default: detected cheaply — one O(n²) comparison for a dense or
        sparse matrix, by construction for kernel matrices and low-rank results; a LinearOperator is
        non-symmetric unless it carries ``symmetric = True``.
    psd : bool, optional
        Declared positive semi-definiteness (trusted). Default: by construction where the type tells
        (kernel matrices of PSD kernels, ``PSDLowRank``, ``SymLowRank`` by the signs of λ), else
        ``None`` ("unknown") after the cheap necessary tests (diag >= 0, 2×2 minors next to the
        diagonal) passed, or False when one failed. Never decided by a decomposition.

    Returns
    -------
    Matrix
        ``A`` itself when it already is one (a :class:`~kernapprox.KernelMatrix` is); a declaration
        that contradicts its structure raises.

    Notes
    -----
    Wrapping costs O(1) for kernel matrices, low-rank results and operators, and O(n·m) for dense and
    sparse square matrices (the symmetry comparison; O(n) more for the PSD tests); no entry is
    counted. See :mod:`kernapprox._operators` for the interface and the counting rules.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> K = ka.Gaussian(1.0)(np.random.default_rng(0).normal(size=(50, 2)))
    >>> M = ka.as_matrix(K)
    >>> M.symmetric, M.psd, M.columns([0, 3]).shape, M.n_evals
    (True, None, (50, 2), 100)
    >>> ka.as_matrix(K, psd=True).psd
    True
    """
    return to_matrix(A, "as_matrix", "A", symmetric=symmetric, psd=psd)


def require_psd(M: Matrix, func: str, name: str = "KM") -> None:
    """The structure every PSD consumer (Nyström, the landmark samplers, Cholesky) requires of a
    protocol object: square, and ``psd`` not False (declared, PSD by construction, or not refuted by
    the cheap tests — see :func:`as_matrix`). Never a decomposition."""
    if M.shape[0] != M.shape[1]:
        raise fail(func, name, "be a square (PSD) kernel matrix K(X, X)", f"shape {tuple(M.shape)}")
    if M.psd is False:
        what = getattr(M.kernel, "name", None) or type(M).__name__
        raise fail(func, name, "be positive semi-definite (use kernapprox.indefinite_nystrom or "
                   "kernapprox.augmented_nystrom for non-PSD kernels)", f"a non-PSD matrix ({what}, is_psd=False)")
