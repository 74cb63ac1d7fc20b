"""Spectral quantities of a symmetric PSD matrix (algorithms.md §1.4, §2.6).

For a PSD matrix K (N×N) with eigendecomposition ``K = U diag(σ) Uᵀ``:

* ridge leverage scores ``ℓ_i(λ) = [K(K + λI)⁻¹]_ii = Σ_j U_ij² σ_j/(σ_j + λ)``, each in [0, 1];
* statistical (effective) dimension ``d_stat(λ) = tr(K(K + λI)⁻¹) = Σ_i ℓ_i(λ) = Σ_j σ_j/(σ_j + λ)``;
* the quality coefficient of uniform sampling ``β(λ) = d_stat(λ) / (N max_i ℓ_i(λ))`` ∈ (0, 1];
* the stable rank ``‖H‖_F² / ‖H‖₂²`` of any matrix H.

Every quantity comes from one dense ``eigh`` in float64 (:class:`PSDSpectrum`): O(N³) time, O(N²)
memory — evaluation tools for N up to a few thousand, used by the leverage-score sampler
(:mod:`kernapprox.sampling`) and the theorem bounds (:mod:`kernapprox.bounds`).

Numerical convention: a computed eigenvalue carries an absolute error of order ``N · eps · σ₁``
(backward stability of the symmetric eigensolver). Eigenvalues are clipped at 0, and sums of them
(traces, tails ``Σ_{j>r} σ_j``) use these values; in the ratios ``σ_j/(σ_j + λ)`` an eigenvalue below
``10 · N · eps · σ₁`` (eps of float64, the working precision) counts as 0 — its ratio would be
rounding noise divided by λ, arbitrarily wrong once λ is below the noise. A matrix with an eigenvalue
below ``−100 · N · eps · max|σ|`` (eps of the entries' dtype: float32 entries carry float32 rounding)
is refused as not PSD.
"""
from __future__ import annotations

import math

import numpy as np

from ._aliases import renamed_keywords
from ._operators import to_matrix
from ._tiling import EPS, eps_of
from ._validation import check_matrix, check_positive, check_psd_spectrum, fail, pow2_exponent

__all__ = ["ridge_leverage_scores", "statistical_dimension", "leverage_beta", "stable_rank", "PSDSpectrum"]

#: Eigenvalues below ``ZERO_EIG_MULTIPLE · N · eps · σ₁`` are indistinguishable from zero.
ZERO_EIG_MULTIPLE = 10.0


def dense_psd(K, func: str, name: str = "K") -> tuple[np.ndarray, float]:
    """``(A, eps)``: ``K`` as a dense float64 array, square, symmetric and passing the cheap PSD
    tests of :func:`kernapprox.as_matrix`, and the unit roundoff of its entries' dtype.

    ``K`` is anything :func:`kernapprox.as_matrix` accepts (an array, a
    :class:`~kernapprox.KernelMatrix` — formed densely, its size cap applies —, a low-rank result, a
    sparse matrix, an operator); ``K.n_evals`` counts the N² entries read.
    """
    M = to_matrix(K, func, name)
    if M.shape[0] != M.shape[1]:
        raise fail(func, name, "be a square (PSD) matrix", f"shape {tuple(M.shape)}")
    if not M.symmetric:
        raise fail(func, name, "be symmetric", "a matrix with A ≠ Aᵀ beyond rounding")
    if M.psd is False:
        raise fail(func, name, "be positive semi-definite",
                   "a matrix failing the necessary tests (a negative diagonal entry or 2×2 minor)")
    return np.asarray(M.dense(), dtype=np.float64), eps_of(M.dtype)


class PSDSpectrum:
    """Eigenvalues (and squared eigenvectors) of a symmetric PSD matrix, and the quantities built on them.

    Parameters
    ----------
    sigma : ndarray of shape (N,)
        Eigenvalues in any order.
    U : ndarray of shape (N, N), optional
        The matching eigenvectors (columns); needed for the leverage scores.

    Attributes
    ----------
    sigma : ndarray of shape (N,), descending, clipped at 0
    resolved : ndarray of shape (N,), ``sigma`` with the eigenvalues below ``10 N eps σ₁`` set to 0
        (the ones the ratios σ/(σ + λ) use)
    U2 : ndarray of shape (N, N) or None, the squared eigenvectors in the order of ``sigma``
    N : int
    norm : float, ``σ₁ = ‖K‖₂`` (>= 0)
    diag, trace : the diagonal of K and its sum (set by :meth:`of`; None otherwise)

    Use :meth:`of` to decompose a matrix (validated, PSD-checked).
    """

    def __init__(self, sigma, U=None):
        sig = np.asarray(sigma, dtype=np.float64)
        order = np.argsort(sig)[::-1]
        sig = sig[order]
        self.N = int(sig.size)
        self.norm = max(float(sig[0]), 0.0) if sig.size else 0.0
        thr = ZERO_EIG_MULTIPLE * EPS * self.norm * self.N
        self.sigma = np.maximum(sig, 0.0)
        self.resolved = np.where(sig > thr, sig, 0.0)
        self.U2 = None if U is None else np.square(np.asarray(U, dtype=np.float64)[:, order])
        self.diag = self.trace = None

    @classmethod
    def of(cls, K, *, vectors: bool = True, func: str = "PSDSpectrum.of", name: str = "K") -> "PSDSpectrum":
        """Decompose ``K`` (see :func:`dense_psd` for what it may be); refuse it when not PSD beyond rounding.

        One ``eigh`` (``eigvalsh`` when ``vectors=False``) of ``(A + Aᵀ)/2`` in float64: O(N³).
        """
        A, eps = dense_psd(K, func, name)
        S = 0.5 * (A + A.T)
        if vectors:
            sig, U = np.linalg.eigh(S)
        else:
            sig, U = np.linalg.eigvalsh(S), None
        check_psd_spectrum(sig, func, name, eps=eps)
        out = cls(sig, U)
        out.diag = np.diagonal(A).copy()
        out.trace = float(np.trace(A))
        return out

    def weights(self, lam: float) -> np.ndarray:
        """``σ_j/(σ_j + λ)`` for every eigenvalue (descending; 0 for an unresolved one)."""
        return self.resolved / (self.resolved + lam)

    def scores(self, lam: float) -> np.ndarray:
        """Ridge leverage scores ``ℓ_i(λ) = Σ_j U_ij² σ_j/(σ_j + λ)``, clipped to [0, 1]."""
        if self.U2 is None:
            raise ValueError("PSDSpectrum.scores: the spectrum was computed without eigenvectors")
        return np.clip(self.U2 @ self.weights(lam), 0.0, 1.0)

    def d_stat(self, lam: float) -> float:
        """``d_stat(λ) = Σ_j σ_j/(σ_j + λ)``."""
        return float(np.sum(self.weights(lam)))

    def max_score(self, lam: float) -> float:
        """``max_i ℓ_i(λ)``."""
        return float(np.max(self.scores(lam)))

    def beta(self, lam: float) -> float:
        """``d_stat(λ) / (N max_i ℓ_i(λ))``; nan for the zero matrix."""
        top = self.max_score(lam)
        return self.d_stat(lam) / (self.N * top) if top > 0 else math.nan


# ---------------------------------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------------------------------
@renamed_keywords("ridge_leverage_scores", KM_or_dense="K")
def ridge_leverage_scores(K, lam: float) -> np.ndarray:
    """Ridge leverage scores ``ℓ_i(λ) = [K(K + λI)⁻¹]_ii`` of a PSD matrix.

    Parameters
    ----------
    K : ndarray of shape (N, N), KernelMatrix, kernel-matrix protocol object or low-rank result
        PSD matrix (formed densely).
    lam : float > 0
        Ridge λ.

    Returns
    -------
    ndarray of shape (N,)
        ``0 <= ℓ_i <= 1``; their sum is :func:`statistical_dimension`.

    Notes
    -----
    One ``eigh``: O(N³) time, O(N²) memory, N² kernel entries. ``ℓ_i = Σ_j U_ij² σ_j/(σ_j + λ)``
    with the eigenvalue convention of the module docstring. The keyword ``KM_or_dense`` is a
    deprecated spelling of ``K``.

    References
    ----------
    Alaoui & Mahoney, "Fast randomized kernel ridge regression with statistical guarantees",
    NeurIPS 2015; Musco & Musco, "Recursive sampling for the Nyström method", NeurIPS 2017, Def. 1;
    Skyformer (Chen et al., NeurIPS 2021) Thm 2. algorithms.md §1.4.

    Examples
    --------
    >>> import numpy as np
    >>> from kernapprox.spectral import ridge_leverage_scores
    >>> ridge_leverage_scores(np.diag([3.0, 1.0, 0.0]), 1.0)
    array([0.75, 0.5 , 0.  ])
    """
    func = "ridge_leverage_scores"
    S = PSDSpectrum.of(K, func=func)
    return S.scores(check_positive(lam, func, "lam"))


@renamed_keywords("statistical_dimension", KM_or_dense="K")
def statistical_dimension(K, lam: float) -> float:
    """Statistical (effective) dimension ``d_stat(λ) = tr(K(K + λI)⁻¹) = Σ_j σ_j/(σ_j + λ)``.

    Parameters as :func:`ridge_leverage_scores` (``KM_or_dense`` a deprecated spelling of ``K``);
    one ``eigvalsh`` (O(N³)).

    References
    ----------
    Musco & Musco, NeurIPS 2017, Def. 1 (effective dimension ``d_eff^λ``); Skyformer Thm 2.
    algorithms.md §1.4.
    """
    func = "statistical_dimension"
    S = PSDSpectrum.of(K, vectors=False, func=func)
    return S.d_stat(check_positive(lam, func, "lam"))


def leverage_beta(K, lam: float) -> float:
    """Best quality coefficient of uniform sampling, ``β = d_stat / (N max_i ℓ_i)`` ∈ (0, 1].

    Skyformer Thm 2 needs ``β <= d_stat/(N ℓ_i)`` for all i; this is the largest admissible β.

    References
    ----------
    Skyformer (Chen, Zeng, Ji, Yang, NeurIPS 2021) Thm 2; algorithms.md §2.6.
    """
    func = "leverage_beta"
    S = PSDSpectrum.of(K, func=func)
    lam = check_positive(lam, func, "lam")
    if not S.max_score(lam) > 0:
        raise fail(func, "K", "be nonzero (β divides by the largest leverage score)", "the zero matrix")
    return S.beta(lam)


def stable_rank(H) -> float:
    """Stable rank ``‖H‖_F² / ‖H‖₂²`` of any matrix H (1 <= value <= rank H).

    H is rescaled by a power of two first (exact), so no singular value overflows.

    References
    ----------
    Skyformer (Chen et al., NeurIPS 2021), App. C, Lemma C.2.
    """
    A = check_matrix(H, "stable_rank", "H", ndim=2, dtype=np.float64)
    mx = float(np.abs(A).max())
    if mx == 0:
        raise fail("stable_rank", "H", "be nonzero", "the zero matrix")
    s = np.linalg.svd(np.ldexp(A, -pow2_exponent(A)), compute_uv=False)
    return float(np.sum(s ** 2) / s[0] ** 2)
