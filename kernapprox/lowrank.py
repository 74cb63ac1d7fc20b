"""Immutable low-rank results (design.md §2): never dense n×n unless ``to_dense`` is asked for.

* :class:`PSDLowRank` — ``K̂ = F Fᵀ`` (PSD Nyström, RPCholesky, random features).
* :class:`SymLowRank` — ``K̂ = U diag(λ) Uᵀ`` with λ possibly negative (indefinite Nyström).
* :class:`LowRank` — ``K̂ = L Rᵀ`` (rectangular / asymmetric: augmented Skyformer Nyström, CUR).

All share ``.shape``, ``.rank``, ``.dtype``, ``@`` (vectors and matrices, both sides), ``.T``,
``.diag()``, ``.trace()``, ``.to_dense()``, ``.as_operator()``, ``.info`` (a read-only mapping with
landmark indices, kernel entries evaluated, method, core policy, …). The symmetric ones have
``.eigh()`` (eigenvalues in decreasing order, computed from the factors in O(n r²)).
"""
from __future__ import annotations

from types import MappingProxyType

import numpy as np
import scipy.sparse.linalg as spla

from . import matrix as _matrix
from ._validation import all_finite, check_bool, check_dense_cap, check_indices, check_matrix, fail, symmetry_gap

__all__ = ["PSDLowRank", "SymLowRank", "LowRank", "MatrixOracle", "as_matrix_protocol", "require_psd"]

# ``to_dense`` / ``MatrixOracle.dense`` share KernelMatrix's cap, read at call time:
# ``kernapprox.matrix.DENSE_CAP_ENTRIES`` is the one setting.


def _frozen(a) -> np.ndarray:
    """A read-only view (no copy: factors can be large)."""
    v = np.asarray(a).view()
    v.setflags(write=False)
    return v


def _factor(A, func: str, name: str) -> np.ndarray:
    """A factor: real, finite, 2-D, non-empty rows (zero columns allowed: a rank-0 result); float32
    and float64 kept, other real dtypes become float64."""
    if isinstance(A, np.ndarray) and A.dtype in (np.float32, np.float64) and A.ndim == 2 and A.shape[0] > 0:
        if not all_finite(A):
            raise fail(func, name, "hold only finite values (no NaN or inf)",
                       f"{int(A.size - np.count_nonzero(np.isfinite(A)))} non-finite entries")
        return A
    if isinstance(A, np.ndarray) and A.ndim == 2 and A.shape[1] == 0 and A.shape[0] > 0:
        return A.astype(np.float64) if A.dtype not in (np.float32, np.float64) else A
    return check_matrix(A, func, name, ndim=2, dtype=None if getattr(A, "dtype", None) in (np.float32,)
                        else np.float64)


def _info(info) -> MappingProxyType:
    d = {} if info is None else dict(info)
    for k, v in d.items():
        if isinstance(v, np.ndarray):
            d[k] = _frozen(v)
    return MappingProxyType(d)


class _Base:
    """Shared behaviour; subclasses define ``shape``, ``rank``, ``dtype``, ``_mv``, ``_rmv``."""

    __array_priority__ = 1000  # so that ndarray @ result dispatches to __rmatmul__

    def __setattr__(self, name, value):
        if getattr(self, "_sealed", False):
            raise AttributeError(f"{type(self).__name__} is immutable")
        object.__setattr__(self, name, value)

    def _seal(self):
        object.__setattr__(self, "_sealed", True)

    # products ------------------------------------------------------------------------------
    def _check_rhs(self, V, side: str):
        V = np.asarray(V)
        need = self.shape[1] if side == "right" else self.shape[0]
        axis_len = V.shape[0] if side == "right" else V.shape[-1]
        if V.ndim not in (1, 2) or axis_len != need:
            raise ValueError(f"{type(self).__name__} @: operand of shape {V.shape} does not fit a "
                             f"matrix of shape {self.shape}")
        return V

    def matvec(self, V) -> np.ndarray:
        """``K̂ @ V`` for V of shape (m,) or (m, r)."""
        return self._mv(self._check_rhs(V, "right"))

    def rmatvec(self, U) -> np.ndarray:
        """``K̂ᵀ @ U`` for U of shape (n,) or (n, r)."""
        U = np.asarray(U)
        if U.ndim not in (1, 2) or U.shape[0] != self.shape[0]:
            raise ValueError(f"{type(self).__name__}.rmatvec: operand of shape {U.shape} does not fit "
                             f"a matrix of shape {self.shape}")
        return self._rmv(U)

    def __matmul__(self, V):
        if isinstance(V, _Base):
            return NotImplemented
        return self.matvec(V)

    def __rmatmul__(self, U):
        U = self._check_rhs(U, "left")
        if U.ndim == 1:
            return self._rmv(U)
        return self._rmv(U.T).T

    def to_dense(self, *, force: bool = False) -> np.ndarray:
        """The dense matrix; refuses above ``matrix.DENSE_CAP_ENTRIES`` entries unless ``force=True``,
        and refuses (naming the factors) when its entries overflow the float range."""
        n, m = self.shape
        check_dense_cap(n, m, _matrix.DENSE_CAP_ENTRIES, f"{type(self).__name__}.to_dense", force=force)
        with np.errstate(over="ignore", invalid="ignore"):
            D = self._dense()
        if not np.all(np.isfinite(D)):
            raise fail(f"{type(self).__name__}.to_dense", self._FACTORS,
                       f"have products representable in {np.dtype(self.dtype).name}", "entries that overflow")
        return D

    def as_operator(self) -> spla.LinearOperator:
        """A :class:`scipy.sparse.linalg.LinearOperator` applying the factors (never dense)."""
        return spla.LinearOperator(self.shape, matvec=self._mv, rmatvec=self._rmv, matmat=self._mv,
                                   rmatmat=self._rmv, dtype=self.dtype)

    def trace(self) -> float:
        """Trace (square results only), from the factors."""
        if self.shape[0] != self.shape[1]:
            raise ValueError(f"{type(self).__name__}.trace: the matrix is not square; shape {self.shape}")
        return float(np.sum(self.diag(), dtype=np.float64))

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape}, rank={self.rank}, dtype={self.dtype}, method={self.info.get('method')!r})"


class PSDLowRank(_Base):
    """``K̂ = F Fᵀ`` with F of shape (n, r): a PSD approximation of a PSD matrix.

    Parameters
    ----------
    F : ndarray of shape (n, r)
    info : mapping, optional
        Provenance: ``indices`` (landmarks/pivots), ``n_evals``, ``method``, ``core``, …
    """

    _FACTORS = "F"

    def __init__(self, F, info=None):
        F = _factor(F, "PSDLowRank", "F")
        self.F = _frozen(F)
        self.info = _info(info)
        self._seal()

    shape = property(lambda self: (self.F.shape[0], self.F.shape[0]))
    rank = property(lambda self: int(self.F.shape[1]))
    dtype = property(lambda self: self.F.dtype)

    @property
    def T(self):
        return self

    def _mv(self, V):
        return self.F @ (self.F.T @ V)

    _rmv = _mv

    def diag(self) -> np.ndarray:
        return np.einsum("ij,ij->i", self.F, self.F)

    def _dense(self):
        return self.F @ self.F.T

    def eigh(self) -> tuple[np.ndarray, np.ndarray]:
        """The r leading eigenpairs ``(λ, U)`` of F Fᵀ (λ decreasing; the other n − r eigenvalues are 0,
        and some of the r are 0 too when F is rank-deficient), via a thin SVD of F (float64)."""
        U, s, _ = np.linalg.svd(np.asarray(self.F, dtype=np.float64), full_matrices=False)
        return s ** 2, U


class SymLowRank(_Base):
    """``K̂ = U diag(λ) Uᵀ`` with U (n, r) and real λ (r,) that may be negative (indefinite Nyström)."""

    _FACTORS = "U"

    def __init__(self, U, lam, info=None):
        U = _factor(U, "SymLowRank", "U")
        lam = (check_matrix(lam, "SymLowRank", "lam", ndim=1, dtype=np.float64) if np.size(lam)
               else np.zeros(0))                                   # rank 0: the zero approximation
        if U.ndim != 2 or lam.ndim != 1 or lam.shape[0] != U.shape[1]:
            raise ValueError(f"SymLowRank: need U of shape (n, r) and lam of shape (r,); got {U.shape} and {lam.shape}")
        self.U = _frozen(U)
        self.lam = _frozen(lam)
        self.info = _info(info)
        self._seal()

    shape = property(lambda self: (self.U.shape[0], self.U.shape[0]))
    rank = property(lambda self: int(self.U.shape[1]))
    dtype = property(lambda self: self.U.dtype)

    @property
    def T(self):
        return self

    def _mv(self, V):
        t = self.U.T @ V
        t = (self.lam * t.T).T if t.ndim == 2 else self.lam * t
        return self.U @ t.astype(self.U.dtype, copy=False)

    _rmv = _mv

    def diag(self) -> np.ndarray:
        return np.einsum("ij,j,ij->i", self.U, self.lam.astype(self.U.dtype), self.U)

    def _dense(self):
        return (self.U * self.lam.astype(self.U.dtype)) @ self.U.T

    def eigh(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenpairs ``(λ, V)`` of U diag(λ) Uᵀ (decreasing), via QR of U and a small eigh (float64)."""
        Qm, Rm = np.linalg.qr(np.asarray(self.U, dtype=np.float64))
        mu, W = np.linalg.eigh((Rm * self.lam) @ Rm.T)
        order = np.argsort(mu)[::-1]
        return mu[order], Qm @ W[:, order]


class LowRank(_Base):
    """``K̂ = L Rᵀ`` with L (n, r) and R (m, r): a rectangular or asymmetric low-rank matrix."""

    _FACTORS = "L"

    def __init__(self, L, R, info=None):
        L, R = _factor(L, "LowRank", "L"), _factor(R, "LowRank", "R")
        if L.ndim != 2 or R.ndim != 2 or L.shape[1] != R.shape[1]:
            raise ValueError(f"LowRank: need L (n, r) and R (m, r) with the same r; got {L.shape} and {R.shape}")
        self.L = _frozen(L)
        self.R = _frozen(R)
        self.info = _info(info)
        self._seal()

    shape = property(lambda self: (self.L.shape[0], self.R.shape[0]))
    rank = property(lambda self: int(self.L.shape[1]))
    dtype = property(lambda self: np.result_type(self.L.dtype, self.R.dtype))

    @property
    def T(self):
        return LowRank(self.R, self.L, self.info)

    def _mv(self, V):
        return self.L @ (self.R.T @ V)

    def _rmv(self, U):
        return self.R @ (self.L.T @ U)

    def diag(self) -> np.ndarray:
        k = min(self.shape)
        return np.einsum("ij,ij->i", self.L[:k], self.R[:k])

    def _dense(self):
        return self.L @ self.R.T

    def svd(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Thin SVD ``(U, s, Vᵀ)`` of L Rᵀ from the factors in O((n+m) r²) (float64)."""
        Ql, Rl = np.linalg.qr(np.asarray(self.L, dtype=np.float64))
        Qr, Rr = np.linalg.qr(np.asarray(self.R, dtype=np.float64))
        u, s, vt = np.linalg.svd(Rl @ Rr.T)
        return Ql @ u, s, vt @ Qr.T


class MatrixOracle:
    """An explicit matrix (dense array or low-rank result) behind the kernel-matrix protocol.

    Lets every sampler, :func:`kernapprox.nystrom` and :func:`kernapprox.rpcholesky` run on a matrix
    that is not a kernel matrix — e.g. Nyström of a Nyström result, or a user's Gram matrix. Entries
    are read (not re-evaluated) and counted in ``n_evals`` exactly as :class:`KernelMatrix` does.

    Parameters
    ----------
    A : ndarray of shape (n, m), or PSDLowRank / SymLowRank / LowRank
    is_psd : bool, optional
        Whether A is PSD: a declaration, trusted (declared structure wins). Default: decided by
        cheap checks, never a decomposition — True for a :class:`PSDLowRank`; for a
        :class:`SymLowRank` from the signs of its λ (O(r)); for anything else square: symmetric by
        the randomized test of :func:`kernapprox._validation.symmetry_gap` (O(n²) for a dense
        array, O(n r) for factors), a non-negative diagonal, and Cauchy–Schwarz
        ``A_ij² <= A_ii A_jj`` on the entries next to the diagonal. Those are necessary
        conditions only; consumers that need PSD (:func:`kernapprox.nystrom`) also check the small
        landmark block they read (``psd_declared`` is False then).

    Notes
    -----
    ``kernel`` and ``X`` are None: landmarks given as points need a real kernel matrix.
    """

    #: relative tolerance of the automatic PSD decision (diagonal and 2×2 minors)
    PSD_RTOL = 1e3 * float(np.finfo(np.float64).eps)

    def __init__(self, A, *, is_psd: bool | None = None):
        if is_psd is not None:
            is_psd = check_bool(is_psd, "MatrixOracle", "is_psd")
        if isinstance(A, _Base):
            self._A = A
            self._dense_A = None
        else:
            self._A = None
            self._dense_A = check_matrix(A, "MatrixOracle", "A")
        self.kernel = None
        self.X = None
        self.n_evals = 0
        n, m = self.shape
        eps = float(np.finfo(self.dtype if self.dtype in (np.float32, np.float64) else np.float64).eps)
        if n != m:
            self.symmetric = False
        elif isinstance(A, (PSDLowRank, SymLowRank)):
            self.symmetric = True
        else:
            mv = self._dense_A.__matmul__ if self._dense_A is not None else self._A.matvec
            self.symmetric = symmetry_gap(mv, n, eps=eps)[0]
        self.psd_declared = is_psd is not None or isinstance(A, (PSDLowRank, SymLowRank))
        if is_psd is None:
            if isinstance(A, PSDLowRank):
                is_psd = True
            elif isinstance(A, SymLowRank):
                lam = np.asarray(A.lam)
                is_psd = bool(lam.size == 0 or lam.min() >= -self.PSD_RTOL * np.abs(lam).max())
            elif not self.symmetric:
                is_psd = False
            else:
                is_psd = self._cheap_psd(eps)
        self.is_psd = bool(is_psd)

    def _cheap_psd(self, eps: float) -> bool:
        """Necessary PSD conditions in O(n) entries: diag >= 0 and A_{i,i+1}² <= A_ii A_{i+1,i+1}."""
        n = self.shape[0]
        d = np.asarray(np.diagonal(self._dense_A) if self._dense_A is not None else self._A.diag(),
                       dtype=np.float64)
        dmax = float(np.abs(d).max(initial=0.0))
        tol = max(self.PSD_RTOL, 10 * eps) * dmax
        if np.any(d < -tol):
            return False
        if n > 1:
            i = np.arange(n - 1)
            off = np.asarray(self._pairs(i, i + 1), dtype=np.float64)
            if np.any(np.abs(off) > np.sqrt(np.maximum(d[i], 0) * np.maximum(d[i + 1], 0)) + tol):
                return False
        return True

    def _pairs(self, I, J) -> np.ndarray:
        """Entries A[I[t], J[t]] (no counting)."""
        if self._dense_A is not None:
            return self._dense_A[I, J]
        A = self._A
        if isinstance(A, LowRank):
            return np.einsum("ij,ij->i", A.L[I], A.R[J])
        return np.array([self._get([i], [j])[0, 0] for i, j in zip(I, J)])

    def _full(self):
        return self._dense_A if self._dense_A is not None else self._A._dense()

    @property
    def shape(self) -> tuple[int, int]:
        return self._dense_A.shape if self._dense_A is not None else self._A.shape

    @property
    def dtype(self):
        return self._dense_A.dtype if self._dense_A is not None else self._A.dtype

    def reset(self) -> None:
        self.n_evals = 0

    def _get(self, I, J) -> np.ndarray:
        if self._dense_A is not None:
            return self._dense_A[np.ix_(I, J)]
        A = self._A
        if isinstance(A, PSDLowRank):
            return A.F[I] @ A.F[J].T
        if isinstance(A, SymLowRank):
            return (A.U[I] * A.lam.astype(A.U.dtype)) @ A.U[J].T
        return A.L[I] @ A.R[J].T

    def diag(self) -> np.ndarray:
        k = min(self.shape)
        self.n_evals += k
        if self._dense_A is not None:
            return np.ascontiguousarray(np.diagonal(self._dense_A)[:k])
        return np.asarray(self._A.diag())[:k]

    def columns(self, idx) -> np.ndarray:
        idx = check_indices(idx, self.shape[1], "MatrixOracle.columns", "idx")
        self.n_evals += self.shape[0] * idx.size
        return self._get(np.arange(self.shape[0]), idx)

    def rows(self, idx) -> np.ndarray:
        idx = check_indices(idx, self.shape[0], "MatrixOracle.rows", "idx")
        self.n_evals += self.shape[1] * idx.size
        return self._get(idx, np.arange(self.shape[1]))

    def block(self, I, J) -> np.ndarray:
        I = check_indices(I, self.shape[0], "MatrixOracle.block", "I")
        J = check_indices(J, self.shape[1], "MatrixOracle.block", "J")
        self.n_evals += I.size * J.size
        return self._get(I, J)

    def dense(self, *, force: bool = False) -> np.ndarray:
        n, m = self.shape
        check_dense_cap(n, m, _matrix.DENSE_CAP_ENTRIES, "MatrixOracle.dense", force=force)
        self.n_evals += n * m
        return np.array(self._full())

    def matvec(self, V) -> np.ndarray:
        self.n_evals += self.shape[0] * self.shape[1]
        return self._A.matvec(V) if self._A is not None else self._dense_A @ np.asarray(V)

    def __repr__(self):
        return f"MatrixOracle(shape={self.shape}, is_psd={self.is_psd}, n_evals={self.n_evals})"


_PROTOCOL = ("shape", "diag", "columns", "block")


def as_matrix_protocol(KM, func: str, name: str = "KM"):
    """``KM`` itself when it follows the kernel-matrix protocol (``.shape``, ``.diag()``,
    ``.columns(idx)``, ``.block(I, J)``, …); a :class:`MatrixOracle` around a dense array or a
    low-rank result; TypeError otherwise."""
    if all(hasattr(KM, a) for a in _PROTOCOL):
        return KM
    if isinstance(KM, _Base):
        return MatrixOracle(KM)
    if isinstance(KM, (np.ndarray, list, tuple)) or hasattr(KM, "__array__"):
        return MatrixOracle(check_matrix(KM, func, name, ndim=2))
    raise fail(func, name, "be a KernelMatrix (or an object with .shape, .diag(), .columns(idx), "
               ".block(I, J)), a dense array or a low-rank result", type(KM).__name__, TypeError)


def require_psd(KM, func: str) -> None:
    """The structure every PSD consumer (Nyström, the landmark samplers, Cholesky) requires of a
    protocol object, checked the same way everywhere: square, and PSD by its ``is_psd`` (or its
    ``kernel.is_psd``) — declared or cheaply decided (:class:`MatrixOracle`), never decomposed."""
    n, m = KM.shape
    if n != m:
        raise fail(func, "KM", "be a square (PSD) kernel matrix K(X, X)", f"shape {KM.shape}")
    v = getattr(KM, "is_psd", None)
    if v is None:
        v = getattr(getattr(KM, "kernel", None), "is_psd", False)
    if not v:
        name = getattr(getattr(KM, "kernel", None), "name", None) or type(KM).__name__
        raise fail(func, "KM", "be positive semi-definite (use kernapprox.indefinite_nystrom or "
                   "kernapprox.augmented_nystrom for non-PSD kernels)", f"a non-PSD matrix ({name}, is_psd=False)")
