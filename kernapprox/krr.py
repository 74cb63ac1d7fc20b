"""Kernel ridge regression restricted to a sketch: ``α = S θ`` (sketched KRR) and Nyström KRR.

Exact KRR with the convention ``min_f (1/n) Σ (y_i − f(x_i))² + λ ‖f‖²_H`` has ``α = (K + nλ I)⁻¹ y``.
Sketched KRR (Yang, Pilanci & Wainwright 2017) restricts ``α = S θ`` with ``S ∈ R^{n×s}``:

    θ̂ = argmin_θ (1/n) ‖y − K S θ‖² + λ θᵀ Sᵀ K S θ  ⇔  (Sᵀ K² S + nλ Sᵀ K S) θ̂ = Sᵀ K y.

(algorithms.md §5.2 writes the loss with 1/(2n); that is this problem with ``lam`` replaced by 2λ.)
With ``S = I`` (or any invertible S) this is exact KRR; with S a column selection it is Nyström KRR;
with Chen & Yang's accumulated sub-sampling sketch (m terms) it interpolates between the two and a
Gaussian sketch, at the kernel-evaluation cost of sub-sampling: ``K S`` needs only the kernel
columns of the rows where S is nonzero (``S.support()``, at most s·m of them).

The system is solved in whitened coordinates ``θ = U Λ^{-1/2} β`` (``Sᵀ K S = U Λ Uᵀ``, eigenvalues
below ``EIG_CLIP·λ_max`` dropped), i.e. as ridge regression on the features ``Φ = K S U Λ^{-1/2}``
whose Gram matrix ``Φ Φᵀ`` is the Nyström approximation of K in the range of the sketch: a system
with smallest eigenvalue >= nλ, stable for singular ``Sᵀ K S`` (duplicated columns of a
sub-sampling sketch, numerically low-rank K).

References
----------
Yang, Pilanci, Wainwright, "Randomized sketches for kernels: fast and optimal nonparametric
regression", Ann. Statist. 2017, Eq. (4). Chen & Yang, "Accumulations of projections — a unified
framework for random sketches in kernel ridge regression", AISTATS 2021. Alaoui & Mahoney 2015;
Rudi, Camoriano, Rosasco 2015 (Nyström KRR). algorithms.md §5.2.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ._aliases import deprecated_alias
from ._cores import psd_core
from .kernels import Kernel
from .matrix import KernelMatrix
from ._validation import as_generator, check_choice, check_indices, check_int, check_matrix, check_points, check_positive, fail
from .sketch import KINDS as SKETCH_KINDS
from .sketch import Sketch, DenseSketch, make_sketch

__all__ = ["sketched_krr", "nystrom_krr", "KRRModel"]

#: relative threshold below which eigenvalues of Sᵀ K S are treated as zero (round-off level)
EIG_CLIP = 10.0 * float(np.finfo(np.float64).eps)


class KRRModel:
    """A fitted (sketched) KRR model ``f(x) = Σ_i α_i k(x, x_i)`` with sparse support.

    Attributes
    ----------
    kernel : Kernel
    X_support : ndarray of shape (r, d) — training points with nonzero coefficient.
    coef : ndarray of shape (r,) or (r, t) — α restricted to the support.
    theta : ndarray of shape (s,) or (s, t) — coefficients in the sketch space (α = S θ).
    fitted : ndarray of shape (n,) or (n, t) — in-sample predictions K S θ.
    info : dict — method, s, n_evals, support size.
    """

    def __init__(self, kernel: Kernel, X_support, coef, theta, fitted, info):
        self.kernel, self.X_support, self.coef = kernel, X_support, coef
        self.theta, self.fitted, self.info = theta, fitted, info

    def predict(self, X) -> np.ndarray:
        """Predictions at new points X (n_new, d): ``k(X, X_support) @ coef``; O(n_new r d)."""
        X = check_points(X, "KRRModel.predict", "X")
        if X.shape[1] != self.X_support.shape[1]:
            raise fail("KRRModel.predict", "X", f"have d = {self.X_support.shape[1]} columns", f"shape {X.shape}")
        from .matrix import kernel_matvec
        Xs = self.X_support.astype(X.dtype, copy=False)
        return kernel_matvec(self.kernel, X, Xs, self.coef.astype(X.dtype, copy=False), accumulate="float64")

    def __repr__(self):
        return f"KRRModel(method={self.info.get('method')!r}, s={self.info.get('s')}, support={len(self.X_support)})"


def _as_km(KM, func):
    if isinstance(KM, KernelMatrix):
        if not KM.symmetric:
            raise fail(func, "KM", "be a square KernelMatrix K(X, X)", f"shape {KM.shape}")
        return KM
    raise fail(func, "KM", "be a kernapprox.KernelMatrix", type(KM).__name__, TypeError)


def _check_y(y, n, func):
    y = check_matrix(y, func, "y", ndim=None, dtype=np.float64)
    if y.ndim > 2 or y.shape[0] != n:
        raise fail(func, "y", f"have shape ({n},) or ({n}, t)", f"shape {y.shape}")
    return y


def _solve(C: np.ndarray, W: np.ndarray, y: np.ndarray, nlam: float) -> np.ndarray:
    """θ of ``min ‖y − C θ‖² + nλ θᵀ W θ`` (W = Sᵀ K S PSD, C = K S) in whitened coordinates.

    With ``W = U Λ Uᵀ`` and the eigenvalues above ``EIG_CLIP·λ_max`` kept, ``θ = U Λ^{-1/2} β`` and
    ``Φ = C U Λ^{-1/2}`` (so that ``Φ Φᵀ`` is the Nyström approximation of K in the sketch's range),
    ``β = (ΦᵀΦ + nλ I)⁻¹ Φᵀ y`` — a ridge system with smallest eigenvalue >= nλ. Directions of W
    below the threshold are dropped (they change predictions by O(√(EIG_CLIP·λ_max)) only).
    """
    T = psd_core(W, "eig", rcond=EIG_CLIP, func="krr").R     # U Λ^{-1/2} over the kept eigenvalues
    Phi = C @ T
    yy = y.reshape(y.shape[0], -1)
    G = Phi.T @ Phi
    G[np.diag_indices_from(G)] += nlam
    beta = sla.solve(G, Phi.T @ yy, assume_a="pos")
    theta = T @ beta
    return theta if y.ndim == 2 else theta[:, 0]


def sketched_krr(KM, y, lam: float, sketch, *, s: int | None = None, rng=None, **options) -> KRRModel:
    """Kernel ridge regression with the coefficients restricted to a sketch, ``α = S θ``.

    Parameters
    ----------
    KM : KernelMatrix — the square training kernel matrix K(X, X), n×n.
    y : ndarray of shape (n,) or (n, t)
    lam : float — λ of ``(1/n)‖y − f‖² + λ‖f‖²_H`` (> 0).
    sketch : Sketch, ndarray of shape (n, s), or a kind name for :func:`kernapprox.make_sketch`
        (then ``s`` is required and ``rng`` / ``**options`` are passed on, e.g. ``m=`` for
        "accumulated").
    s : int, optional — sketch size when ``sketch`` is a kind name.
    rng : None, int or Generator — only used to draw a sketch by name.

    Returns
    -------
    KRRModel
        ``.predict(X_new)`` out of sample, ``.fitted`` in sample, ``.theta``, ``.info["n_evals"]``.

    Notes
    -----
    Kernel entries: n·r for a sparse sketch whose support has r rows (r <= s·m for the accumulated
    sketch, s for sub-sampling), n² streamed for a dense sketch (``K @ S`` through ``KM.matvec``).
    Time O(n r d + n r s + (n + s) s²); memory O(n (r + s)).

    References
    ----------
    Yang, Pilanci, Wainwright 2017, Eq. (4); Chen & Yang 2021; algorithms.md §5.2.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> X = np.random.default_rng(0).normal(size=(200, 2)); y = np.sin(X[:, 0])
    >>> KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    >>> model = ka.sketched_krr(KM, y, 1e-3, "accumulated", s=40, m=4, rng=0)
    >>> model.predict(X[:3]).shape
    (3,)
    """
    func = "sketched_krr"
    KM = _as_km(KM, func)
    n = KM.shape[0]
    y = _check_y(y, n, func)
    lam = check_positive(lam, func, "lam")
    gen = as_generator(rng, func)                     # validated whether or not a sketch is drawn
    if s is not None:
        s = check_int(s, func, "s", low=1, high=n)   # s >= n sketches nothing: solve the full problem
    if isinstance(sketch, str):
        check_choice(sketch, SKETCH_KINDS, func, "sketch")
        if s is None:
            raise fail(func, "s", "be given when `sketch` is a kind name", None)
        sketch = make_sketch(sketch, n, s, rng=gen, **options)
    elif options:
        raise TypeError(f"{func}: options {sorted(options)} are only accepted with a sketch kind name")
    if isinstance(sketch, np.ndarray):
        sketch = DenseSketch(sketch)
    if not isinstance(sketch, Sketch):
        raise fail(func, "sketch", "be a Sketch, an (n, s) array or a sketch kind name", type(sketch).__name__,
                   TypeError)
    if sketch.shape[0] != n:
        raise fail(func, "sketch", f"have n = {n} rows", f"shape {sketch.shape}")
    before = KM.n_evals
    sup = sketch.support()
    if sup is not None:
        Ssup = sketch.S[sup].toarray()                        # r × s (sparse sketches only have a support)
        Ksup = KM.columns(sup).astype(np.float64, copy=False)  # n × r kernel entries
        C = Ksup @ Ssup                                       # K S, n × s
        W = Ssup.T @ C[sup]                                   # Sᵀ K S = S_supᵀ K[sup, sup] S_sup
        X_support, to_coef = KM.X[sup], Ssup
    else:
        Sd = sketch.to_dense()
        C = np.asarray(KM.matvec(Sd, accumulate="float64"), dtype=np.float64)
        W = Sd.T @ C
        X_support, to_coef = KM.X, Sd
    theta = _solve(C, W, y, n * lam)
    fitted = C @ theta
    coef = to_coef @ theta
    info = {"method": "sketched_krr", "sketch": sketch.kind, "s": sketch.s, "lam": lam,
            "support": int(X_support.shape[0]), "n_evals": KM.n_evals - before}
    if hasattr(sketch, "m"):
        info["accumulation"] = sketch.m
    return KRRModel(KM.kernel, X_support, coef, theta, fitted, info)


def nystrom_krr(KM, y, lam: float, indices=None, *, k: int | None = None, rng=None, idx=None) -> KRRModel:
    """Nyström KRR: ``α`` supported on landmarks ``indices`` (sketched KRR with a column selection).

    Solves ``(K_{n,I}ᵀ K_{n,I} + nλ K_{I,I}) θ = K_{n,I}ᵀ y`` (Rudi et al. 2015, Eq. (7)).

    Parameters
    ----------
    KM : KernelMatrix (n×n)
    y : ndarray of shape (n,) or (n, t)
    lam : float > 0
    indices : int indices of the landmarks, or None to draw ``k`` uniformly without replacement.
    k : int, optional — number of uniform landmarks when ``indices`` is None.
    idx : deprecated alias of ``indices``.

    Notes
    -----
    n·|indices| kernel entries; O(n k² + k³) time.

    References
    ----------
    Rudi, Camoriano, Rosasco, "Less is more: Nyström computational regularization", NeurIPS 2015,
    Eq. (7); Alaoui & Mahoney 2015; algorithms.md §1.2, §5.2.
    """
    func = "nystrom_krr"
    idx_name = "indices" if idx is None else "idx"
    idx = deprecated_alias(func, "idx", idx, "indices", indices)
    KM = _as_km(KM, func)
    n = KM.shape[0]
    y = _check_y(y, n, func)
    lam = check_positive(lam, func, "lam")
    gen = as_generator(rng, func)                     # validated whether or not landmarks are drawn
    if k is not None:
        k = check_int(k, func, "k", low=1, high=n)
    if idx is None:
        if k is None:
            raise fail(func, "k", "be given when `indices` is None", None)
        idx = np.sort(gen.choice(n, size=k, replace=False))
    idx = check_indices(idx, n, func, idx_name)
    before = KM.n_evals
    C = KM.columns(idx).astype(np.float64, copy=False)
    theta = _solve(C, C[idx], y, n * lam)
    info = {"method": "nystrom_krr", "s": int(idx.size), "lam": lam, "support": int(idx.size),
            "n_evals": KM.n_evals - before, "indices": idx}
    return KRRModel(KM.kernel, KM.X[idx], theta, theta, C @ theta, info)
