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

import warnings
from types import MappingProxyType

import numpy as np
import scipy.sparse.linalg as spla

from . import matrix as _matrix
from ._operators import require_psd, to_matrix
from ._validation import all_finite, check_bool, check_dense_cap, check_matrix, fail

__all__ = ["PSDLowRank", "SymLowRank", "LowRank"]

# ``to_dense`` shares KernelMatrix's cap, read at call time:
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


def MatrixOracle(A, *, is_psd: bool | None = None):
    """Deprecated alias: ``kernapprox.as_matrix(A, psd=is_psd)`` (a dense array or low-rank result
    behind the one matrix protocol, :mod:`kernapprox._operators`)."""
    warnings.warn("kernapprox.lowrank.MatrixOracle is deprecated; use kernapprox.as_matrix(A, psd=...)",
                  DeprecationWarning, stacklevel=2)
    if is_psd is not None:
        is_psd = check_bool(is_psd, "MatrixOracle", "is_psd")
    return to_matrix(A, "MatrixOracle", "A", psd=is_psd)


def as_matrix_protocol(KM, func: str, name: str = "KM"):
    """Deprecated alias of :func:`kernapprox._operators.to_matrix` (``kernapprox.as_matrix`` with the
    caller's name in error messages)."""
    warnings.warn("kernapprox.lowrank.as_matrix_protocol is deprecated; use kernapprox.as_matrix",
                  DeprecationWarning, stacklevel=2)
    return to_matrix(KM, func, name)
