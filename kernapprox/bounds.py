"""The papers' theorems as pure functions (algorithms.md §1.4, §2.6, §3.2–3.3, §5.2, §6, §9.3).

Every function cites the theorem it evaluates. Tags follow algorithms.md: **[P]** stated in the paper,
**[I]** constants tracked through the proof by us (derivation given in the docstring), **[M]** a
standard result stated from memory of the cited paper, **[S]** only the abstract is known — such
functions state what can be stated and no more.

Verification status of the constants the bounds rely on (a bound whose constant is not verified
against its source is an indicative curve, not a rigorous guarantee, and is documented as such):

=================================  ==========================================  ===========================
bound                              constant / form                             status
=================================  ==========================================  ===========================
Skyformer Thm 2, Lemma C.2         28/3, β, log(2N/δ)                          [P] Skyformer appendix C
``rls_nystrom_*``                  28/3 via Tropp 2015 Thm 7.3.1 (4·intdim)    [I] derived here; the O(·)
                                                                               form is Musco & Musco's
``skeinformer_prop1_bound``        η = 1 + sqrt((8/β) log(1/δ))                [P] Skeinformer Eq. (4)
``skeinformer_prop1_expected``     E‖·‖_F² ≤ ‖B‖_F²‖V‖_F²/(βd)                 [I] derived in its docstring
``skeinformer_lemma1_required_d``  (2/C²) log(2n/δ), β = sqrt(1/3)             [P] Skeinformer App. B
``rff_*``                          matrix Bernstein (Tropp 2015)               [I] derived (algorithms.md §9.3)
``drineas_mahoney_*``              64k/ε⁴ (Frobenius), 4/ε² (spectral), η      [M] NOT verified: the JMLR
                                                                               abstract confirms the form
                                                                               O(k/ε⁴) only — indicative
``rpcholesky_*``                   k ≥ r/ε + r log(1/(εη))                     [M] NOT verified against the
                                                                               theorem's text (CPAM 2025,
                                                                               Thm 2.3) — indicative
``krr_critical_radius``,           absolute constants not tracked              rates only, never a bound
``sketched_krr_rate``
=================================  ==========================================  ===========================

Spectral quantities of a PSD matrix K (N×N) are computed once by ``eigh`` in float64 (O(N³); these
are evaluation tools for N up to a few thousand, not production code paths):

* ridge leverage scores ``ℓ_i(λ) = [K(K + λI)⁻¹]_ii = Σ_k U_ik² σ_k/(σ_k + λ)``,
* statistical dimension ``d_stat(λ) = Σ_i ℓ_i(λ)``,
* uniform-sampling quality ``β(λ) = d_stat / (N max_i ℓ_i)`` (the best β of Skyformer Thm 2).
"""
from __future__ import annotations

import math

import numpy as np

from ._validation import (check_bool, check_choice, check_int, check_matrix, check_points, check_positive,
                          check_probability, check_psd_spectrum, check_real, check_same_dim, check_symmetric,
                          fail)
from ._validation import PSD_EIG_RTOL_MULTIPLE

__all__ = [
    "ridge_leverage_scores", "statistical_dimension", "leverage_beta", "stable_rank",
    "skyformer_completion", "skyformer_required_d", "skyformer_guaranteed_error", "skyformer_lemma_c2_required_d",
    "psd_sandwich", "rls_nystrom_required_d", "rls_nystrom_guaranteed_error",
    "drineas_mahoney_required_c", "drineas_mahoney_bound",
    "rff_spectral_bound", "rff_required_features",
    "skeinformer_column_probabilities", "amm_beta", "skeinformer_prop1_bound", "skeinformer_prop1_expected",
    "skeinformer_lemma1_constant", "skeinformer_lemma1_required_d", "SKEINFORMER_LEMMA1_BETA",
    "rpcholesky_required_k", "rpcholesky_expected_trace_bound", "rpcholesky_trace_bound",
    "krr_critical_radius", "sketched_krr_rate",
    "SKYFORMER_CONSTANT", "LEMMA_C2_CONSTANT",
]

EPS = float(np.finfo(np.float64).eps)
#: Lemma C.2 of the Skyformer appendix: d >= (28/3)(s/β) log(2N/δ) [P].
LEMMA_C2_CONSTANT = 28.0 / 3.0
#: Skyformer Thm 2 with s <= 2 d_stat: d >= (56/3)(d_stat/β) log(4n/δ) [I, algorithms.md §2.6].
SKYFORMER_CONSTANT = 56.0 / 3.0
#: β of Skeinformer Lemma 1 (pilot-sampled column norms within [½, 3/2] of the truth) [P].
SKEINFORMER_LEMMA1_BETA = math.sqrt(1.0 / 3.0)
#: Relative precision of the bisections (on log λ).
BISECTION_RTOL = 1e-10
#: Largest noise level of the KRR rates (the critical radius, about σ, is squared).
NOISE_STD_MAX = 1e150
#: Sizes and counts are Python ints below this (numpy's index type).
INT64_MAX = int(np.iinfo(np.int64).max)
#: Eigenvalues below this multiple of eps·max eigenvalue are treated as zero (PSD clipping).
PSD_CLIP_EPS_MULTIPLE = 10.0


# ---------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------
def _dense_square(K, func: str, name: str = "K") -> np.ndarray:
    """A dense float64 square matrix from an array, a KernelMatrix or a low-rank result."""
    if hasattr(K, "kernel") and hasattr(K, "dense") and not isinstance(K, np.ndarray):
        A = np.asarray(K.dense(), dtype=np.float64)
    elif hasattr(K, "to_dense") and not isinstance(K, np.ndarray):
        A = np.asarray(K.to_dense(), dtype=np.float64)
    else:
        A = check_matrix(K, func, name, ndim=2, dtype=np.float64)
    if A.shape[0] != A.shape[1]:
        raise fail(func, name, "be a square (PSD) matrix", f"shape {A.shape}")
    # the theorems are about symmetric PSD matrices: symmetry by the randomized test, the sign of the
    # spectrum where the bound decomposes it anyway (_Spectrum, _eig_desc)
    check_symmetric(A.__matmul__, A.shape[0], func, name)
    d = np.diagonal(A)
    if np.any(d < -PSD_EIG_RTOL_MULTIPLE * A.shape[0] * EPS * float(np.abs(d).max(initial=0.0))):
        raise fail(func, name, "be positive semi-definite", f"a negative diagonal entry {float(d.min()):.3g}")
    return A


class _Spectrum:
    """eigh of a PSD matrix, clipped at 0, with the squared eigenvectors kept for leverage scores."""

    def __init__(self, K: np.ndarray, func: str | None = None):
        lam, U = np.linalg.eigh(0.5 * (K + K.T))
        if func is not None:
            check_psd_spectrum(lam, func, "K")
        lam = lam[::-1]
        U = U[:, ::-1]
        top = max(float(lam[0]), 0.0)
        lam = np.where(lam > PSD_CLIP_EPS_MULTIPLE * EPS * top * K.shape[0], lam, 0.0)
        self.sigma = lam
        self.U2 = U * U
        self.N = K.shape[0]
        self.norm = top

    def scores(self, lam: float) -> np.ndarray:
        return self.U2 @ (self.sigma / (self.sigma + lam))

    def d_stat(self, lam: float) -> float:
        return float(np.sum(self.sigma / (self.sigma + lam)))

    def max_score(self, lam: float) -> float:
        return float(np.max(self.scores(lam)))


def _ceil_count(compute, func: str, name: str, value) -> int:
    """``ceil(compute())`` as a Python int, or ValueError naming ``name`` when the required count
    overflows (or is not finite) at this parameter value."""
    try:
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            x = float(compute())
    except (OverflowError, ZeroDivisionError, FloatingPointError):
        x = math.inf
    if not (math.isfinite(x) and x <= INT64_MAX):
        raise fail(func, name, "give a required count below 2^63 (the bound overflows at this value)", value)
    return int(math.ceil(x))


def _finite(x: float, func: str, name: str) -> float:
    """A computed bound that must be representable; ValueError naming the input that overflows it."""
    if not math.isfinite(x):
        raise fail(func, name, "give a bound representable in float64 (its value overflows)", f"{x}")
    return x


def _check_lambda(lam, func):
    return check_positive(lam, func, "lam")


def _bisect_lambda(cond, lo: float, hi: float) -> float:
    """Smallest λ in [lo, hi] with cond(λ) True, for cond monotone (False … True); bisection on log λ."""
    if cond(lo):
        return lo
    a, b = math.log(lo), math.log(hi)
    while b - a > BISECTION_RTOL:
        mid = 0.5 * (a + b)
        if cond(math.exp(mid)):
            b = mid
        else:
            a = mid
    return math.exp(b)


# ---------------------------------------------------------------------------------------------------
# leverage scores (algorithms.md §1.4)
# ---------------------------------------------------------------------------------------------------
def ridge_leverage_scores(K, lam: float) -> np.ndarray:
    """Ridge leverage scores ``ℓ_i(λ) = [K(K + λI)⁻¹]_ii`` of a PSD matrix.

    Parameters
    ----------
    K : array of shape (N, N), KernelMatrix or low-rank result
        PSD matrix (formed densely).
    lam : float > 0

    Returns
    -------
    ndarray of shape (N,), entries in [0, 1].

    Notes
    -----
    One ``eigh``: O(N³) time, O(N²) memory. ``ℓ_i = Σ_k U_ik² σ_k/(σ_k + λ)``.

    References
    ----------
    Skyformer (Chen et al., NeurIPS 2021) Thm 2; Musco & Musco, "Recursive sampling for the Nyström
    method", NeurIPS 2017, Def. 1. algorithms.md §1.4.
    """
    func = "ridge_leverage_scores"
    A = _dense_square(K, func)
    return np.clip(_Spectrum(A, func).scores(_check_lambda(lam, func)), 0.0, 1.0)


def statistical_dimension(K, lam: float) -> float:
    """Statistical (effective) dimension ``d_stat(λ) = tr(K(K + λI)⁻¹) = Σ_i ℓ_i(λ)``.

    References
    ----------
    Skyformer Thm 2 [P]; Musco & Musco 2017, Def. 1 ("effective dimension" d_eff^λ). algorithms.md §1.4.
    """
    func = "statistical_dimension"
    return _Spectrum(_dense_square(K, func), func).d_stat(_check_lambda(lam, func))


def leverage_beta(K, lam: float) -> float:
    """Best quality coefficient of uniform sampling, ``β = d_stat / (N max_i ℓ_i)`` ∈ (0, 1].

    Skyformer Thm 2 needs ``β <= d_stat/(N ℓ_i)`` for all i; this is the largest admissible β.

    References
    ----------
    Skyformer (Chen et al., NeurIPS 2021) Thm 2 [P]; algorithms.md §2.6.
    """
    func = "leverage_beta"
    S = _Spectrum(_dense_square(K, func), func)
    lam = _check_lambda(lam, func)
    top = S.max_score(lam)
    if not top > 0:
        raise fail(func, "K", "be nonzero (β divides by the largest leverage score)", "the zero matrix")
    return S.d_stat(lam) / (S.N * top)


def stable_rank(H) -> float:
    """Stable rank ``‖H‖_F² / ‖H‖₂²`` (Skyformer App. C, Lemma C.2)."""
    A = check_matrix(H, "stable_rank", "H", ndim=2, dtype=np.float64)
    mx = float(np.abs(A).max())
    if mx == 0:
        raise fail("stable_rank", "H", "be nonzero", "the zero matrix")
    s = np.linalg.svd(np.ldexp(A, -math.frexp(mx)[1]), compute_uv=False)   # exact power-of-two rescaling
    return float(np.sum(s ** 2) / s[0] ** 2)


# ---------------------------------------------------------------------------------------------------
# Skyformer Theorem 2 (algorithms.md §2.6)
# ---------------------------------------------------------------------------------------------------
def skyformer_completion(Q, K) -> tuple[np.ndarray, np.ndarray]:
    """The PSD completion ``C̄ = κ([Q̂; K̂])`` (N×N, N = n_q + n_k) and its block ``C = κ(Q̂, K̂)``.

    κ is the Gaussian kernel ``exp(−‖x − y‖²/2)`` on ``Q̂ = Q/p^¼``, ``K̂ = K/p^¼`` (Skyformer §4.1
    Eq. (3) and §4.2 Eq. (4)); equivalently ``Gaussian(bandwidth=p**0.25)`` on Q, K. float64.

    Returns
    -------
    Cbar : ndarray of shape (n_q + n_k, n_q + n_k)
    C : ndarray of shape (n_q, n_k), the upper-right block of Cbar.
    """
    func = "skyformer_completion"
    Q = check_points(Q, func, "Q", dtype=np.float64)
    K = check_points(K, func, "K", dtype=np.float64)
    check_same_dim(Q, K, func, "Q", "K")
    from .kernels import Gaussian
    p = Q.shape[1]
    X = np.vstack([Q, K]) / p ** 0.25
    Cbar = np.asarray(Gaussian(1.0).block(X, X), dtype=np.float64)
    if not np.all(np.isfinite(Cbar)):
        raise fail(func, "Q", "give finite kernel values together with `K` (coordinates at a scale where "
                   "the Gaussian kernel is representable)", "non-finite kernel entries")
    Cbar = 0.5 * (Cbar + Cbar.T)
    nq = Q.shape[0]
    return Cbar, Cbar[:nq, nq:]


def _skyformer_setup(Q, K, delta, func):
    delta = check_probability(delta, func, "delta")
    if not delta < 0.5:
        raise fail(func, "delta", "lie in (0, 1/2) (Skyformer Thm 2 assumes δ < 1/2)", delta)
    Cbar, C = skyformer_completion(Q, K)
    S = _Spectrum(Cbar)
    normC = float(np.linalg.norm(C, 2))
    return delta, S, normC


def skyformer_lemma_c2_required_d(stable_rank_s: float, beta: float, N: int, delta: float) -> int:
    """Lemma C.2 of the Skyformer appendix: ``d >= (28/3)(s/β) log(2N/δ)`` uniform samples.

    For H (N×N) with orthogonal rows, stable rank s and ``β <= ‖H‖_F²/(N‖H^{(i)}‖²)``, uniform
    sub-sampling Π = √N·S with d columns gives ``‖HΠΠᵀHᵀ − HHᵀ‖ <= ½‖H‖²`` w.p. ≥ 1 − δ
    (matrix Bernstein with R = ‖H‖_F²/(dβ), σ² = ‖H‖_F²‖H‖²/(dβ)).

    References
    ----------
    Skyformer (Chen et al., NeurIPS 2021), App. C, Lemma C.2 [P]; algorithms.md §2.6.
    """
    func = "skyformer_lemma_c2_required_d"
    s = check_positive(stable_rank_s, func, "stable_rank_s")
    if s < 1:
        raise fail(func, "stable_rank_s", "be >= 1", s)
    beta = _check_beta(beta, func)
    N = check_int(N, func, "N", low=1)
    delta = check_probability(delta, func, "delta")
    return _ceil_count(lambda: LEMMA_C2_CONSTANT * (s / beta) * math.log(2 * N / delta), func, "beta", beta)


def _check_beta(beta, func):
    beta = check_positive(beta, func, "beta")
    if beta > 1:
        raise fail(func, "beta", "lie in (0, 1]", beta)
    return beta


def skyformer_required_d(Q, K, eps: float, delta: float, *, beta: float | None = None,
                         return_details: bool = False):
    """Landmarks sufficient for Skyformer's (ε, δ) spectral guarantee (Theorem 2, explicit constant).

    With ``λ = ε‖C‖``, ridge leverage scores ℓ_i(λ) and ``d_stat`` of the completion C̄ (N×N,
    N = 2n) and a quality coefficient ``β <= d_stat/(N ℓ_i)`` for all i, uniform sub-sampling of
    d rows of ``[Q̂; K̂]`` (with replacement) and the exact pseudo-inverse give, with probability
    ≥ 1 − δ, ``C̄̃ ⪯ C̄ ⪯ C̄̃ + λI`` and hence ``‖C − C̃‖₂ <= ε‖C‖`` as soon as

        ``d >= (56/3) · (d_stat/β) · log(4n/δ)``

    (for n_q ≠ n_k, ``log(2N/δ)``). With the best admissible ``β = d_stat/(N max_i ℓ_i)`` (the
    default) this is ``(112/3) · n · max_i ℓ_i(λ) · log(4n/δ)``.

    Parameters
    ----------
    Q, K : ndarray of shape (n, p)
        Queries and keys (raw; scaled by p^-¼ inside).
    eps : float in (0, 1)
    delta : float in (0, 1/2)
    beta : float in (0, best], optional
        Quality coefficient; defaults to the best admissible value.
    return_details : bool
        Also return a dict with ``lam``, ``norm_C``, ``norm_Cbar``, ``d_stat``, ``max_leverage``,
        ``beta``, ``beta_best``.

    Returns
    -------
    int (and the details dict)

    Notes
    -----
    Constant [I]: Lemma C.2 (d >= (28/3)(s/β)log(2N/δ)) applied to H = Ψᵀ, Ψ = UΣ^½(Σ+λI)^-½,
    whose stable rank is ``s = d_stat/‖Ψ‖² <= 2 d_stat`` because λ < ‖C̄‖ (algorithms.md §2.6).
    Cost: one ``eigh`` of the N×N completion, O(N³).

    References
    ----------
    Skyformer (Chen, Zeng, Ji, Yang, NeurIPS 2021) §4.3 Theorem 2, App. C Lemma C.2, App. D [P];
    adapted from Musco & Musco 2017, Lemma 9 and Thm 3.
    """
    func = "skyformer_required_d"
    eps = check_positive(eps, func, "eps")
    if not eps < 1:
        raise fail(func, "eps", "lie in (0, 1) (Skyformer Thm 2 assumes ε < 1)", eps)
    delta, S, normC = _skyformer_setup(Q, K, delta, func)
    if normC <= 0:
        raise fail(func, "Q", "give a nonzero kernel block C", "‖C‖ = 0")
    lam = eps * normC
    d_stat = S.d_stat(lam)
    lmax = S.max_score(lam)
    beta_best = d_stat / (S.N * lmax)
    if beta is None:
        beta = beta_best
    else:
        beta = _check_beta(beta, func)
        if beta > beta_best * (1 + 1e3 * EPS):
            raise fail(func, "beta", f"be <= the best admissible d_stat/(N max ℓ_i) = {beta_best:.6g}", beta)
    d = _ceil_count(lambda: SKYFORMER_CONSTANT * (d_stat / beta) * math.log(2 * S.N / delta), func, "beta", beta)
    if not check_bool(return_details, func, "return_details"):
        return d
    return d, {"lam": lam, "norm_C": normC, "norm_Cbar": S.norm, "d_stat": d_stat, "max_leverage": lmax,
               "beta": beta, "beta_best": beta_best, "N": S.N}


def skyformer_guaranteed_error(Q, K, d: int, delta: float, *, relative: bool = False,
                               return_details: bool = False):
    """Spectral error Skyformer's Theorem 2 guarantees with d landmarks: ``λ*(d)``.

    ``λ*(d) = min{λ : (56/3) · N · max_i ℓ_i(λ) · log(2N/δ) <= d}`` (N = 2n, so the log is
    log(4n/δ)), found by bisection on log λ (each ℓ_i decreases in λ). With probability ≥ 1 − δ
    over d uniform landmarks from the 2n rows of [Q̂; K̂] and the exact pseudo-inverse,
    ``‖C − C̃‖₂ <= λ*(d)``.

    The result is capped at ``‖C̄‖``: since ``0 ⪯ C̄ − C̄̃ ⪯ C̄`` always, ``‖C − C̃‖ <= ‖C̄‖``
    deterministically, so larger λ says nothing (``details["vacuous"]`` is then True). The theorem's
    own statement (ε < 1) covers λ* < ‖C‖; ``relative=True`` returns ``λ*/‖C‖`` (that ε).

    Parameters
    ----------
    Q, K : ndarray of shape (n, p)
    d : int >= 1
    delta : float in (0, 1/2)
    relative : bool
    return_details : bool
        Also return ``lam``, ``norm_C``, ``norm_Cbar``, ``d_stat``, ``max_leverage``, ``beta``,
        ``vacuous`` (λ* >= ‖C‖), ``required_d`` (at λ*).

    Returns
    -------
    float (and the details dict)

    References
    ----------
    Skyformer (Chen et al., NeurIPS 2021) Theorem 2 with the explicit constant of App. C/D
    (algorithms.md §2.6 step 3).
    """
    func = "skyformer_guaranteed_error"
    d = check_int(d, func, "d", low=1)
    delta, S, normC = _skyformer_setup(Q, K, delta, func)
    if S.norm <= 0:
        raise fail(func, "Q", "give a nonzero completion C̄", "‖C̄‖ = 0")
    L = math.log(2 * S.N / delta)

    def ok(lam):
        return SKYFORMER_CONSTANT * S.N * S.max_score(lam) * L <= d

    hi = S.norm
    lo = S.norm * 1e-16
    lam = _bisect_lambda(ok, lo, hi) if ok(hi) else hi
    lam = min(lam, hi)
    val = lam / normC if check_bool(relative, func, "relative") else lam
    if not check_bool(return_details, func, "return_details"):
        return val
    return val, {"lam": lam, "norm_C": normC, "norm_Cbar": S.norm, "d_stat": S.d_stat(lam),
                 "max_leverage": S.max_score(lam), "beta": S.d_stat(lam) / (S.N * S.max_score(lam)),
                 "vacuous": bool(lam >= normC), "N": S.N}


def psd_sandwich(K, K_tilde, lam: float) -> tuple[float, float]:
    """How well ``K̃ ⪯ K ⪯ K̃ + λI`` holds: ``(λ_min(K − K̃), λ_min(K̃ + λI − K))``.

    Both numbers are >= 0 (up to rounding) exactly when the Loewner sandwich of Skyformer Thm 2 /
    Musco & Musco 2017 Thm 3 holds; the sandwich implies ``‖K − K̃‖₂ <= λ``. Dense, O(N³).
    """
    func = "psd_sandwich"
    A = _dense_square(K, func, "K")
    B = _dense_square(K_tilde, func, "K_tilde")
    if A.shape != B.shape:
        raise ValueError(f"{func}: `K` and `K_tilde` must have the same shape; got {A.shape} and {B.shape}")
    lam = check_positive(lam, func, "lam", allow_zero=True)
    D = A - B
    D = 0.5 * (D + D.T)
    lo = float(np.linalg.eigvalsh(D)[0])
    up = float(np.linalg.eigvalsh(lam * np.eye(A.shape[0]) - D)[0])
    return lo, up


# ---------------------------------------------------------------------------------------------------
# Musco & Musco ridge-leverage-score Nyström (algorithms.md §6)
# ---------------------------------------------------------------------------------------------------
def _rls_condition(S: _Spectrum, lam: float, beta: float, delta: float, dimension: str) -> float:
    d_stat = S.d_stat(lam)
    s = d_stat * (S.norm + lam) / S.norm     # stable rank of Ψ: ‖Ψ‖² = σ₁/(σ₁+λ)
    s = max(s, 1.0)
    log_arg = 2 * S.N / delta if dimension == "ambient" else 4 * s / delta
    return LEMMA_C2_CONSTANT * (s / beta) * math.log(log_arg)


def rls_nystrom_required_d(K, lam: float, delta: float, *, beta: float = 1.0,
                           dimension: str = "intrinsic", return_details: bool = False):
    """Columns sufficient for ``K̃ ⪯ K ⪯ K̃ + λI`` (so ``‖K − K̃‖₂ <= λ``) with ridge-leverage sampling.

    d columns drawn i.i.d. with probabilities ``p_i >= β ℓ_i(λ)/d_stat(λ)`` (β = 1: exact ridge
    leverage scores; approximate scores within a factor c give β = 1/c), Nyström with the exact
    pseudo-inverse: with probability ≥ 1 − δ the sandwich holds as soon as

        ``d >= (28/3) (s/β) log(4s/δ)``  (``dimension="intrinsic"``)  or
        ``d >= (28/3) (s/β) log(2N/δ)``  (``dimension="ambient"``),

    where ``s = d_stat(λ)(σ₁ + λ)/σ₁ <= 2 d_stat(λ)`` for λ <= ‖K‖ — i.e. ``O(d_stat log(d_stat/δ))``.

    Notes
    -----
    [I] Constants tracked by us: the proof of Skyformer Thm 2 / Lemma C.2 with importance weights
    (R = ‖Ψ‖_F²/(dβ) still holds), and the intrinsic-dimension matrix Bernstein inequality (Tropp
    2015, Thm 7.3.1: 4·intdim instead of N; intdim = s; its side condition t >= σ + R/3 holds for
    every δ < 1 at this d). Musco & Musco state the O(·) form. Cost: one eigh, O(N³).

    References
    ----------
    C. Musco & C. Musco, "Recursive sampling for the Nyström method", NeurIPS 2017, Lemma 6/9 and
    Theorem 3 (O(d_eff log(d_eff/δ)) samples) [M]; J. Tropp, "An introduction to matrix concentration
    inequalities", 2015, Thm 7.3.1. algorithms.md §6.
    """
    func = "rls_nystrom_required_d"
    A = _dense_square(K, func)
    lam = _check_lambda(lam, func)
    delta = check_probability(delta, func, "delta")
    beta = _check_beta(beta, func)
    check_choice(dimension, ("intrinsic", "ambient"), func, "dimension")
    S = _Spectrum(A, func)
    if S.norm <= 0:
        raise fail(func, "K", "be nonzero", "the zero matrix")
    d = _ceil_count(lambda: _rls_condition(S, lam, beta, delta, dimension), func, "lam", lam)
    if not check_bool(return_details, func, "return_details"):
        return d
    return d, {"d_stat": S.d_stat(lam), "norm_K": S.norm, "beta": beta}


def rls_nystrom_guaranteed_error(K, d: int, delta: float, *, beta: float = 1.0,
                                 dimension: str = "intrinsic") -> float:
    """Smallest λ guaranteed by :func:`rls_nystrom_required_d` with d leverage-sampled columns.

    ``λ*(d) = min{λ : (28/3)(s(λ)/β) log(·) <= d}`` by bisection (s(λ) decreases in λ), capped at
    ``‖K‖`` (``0 ⪯ K − K̃ ⪯ K`` always). With probability ≥ 1 − δ, ``‖K − K̃‖₂ <= λ*(d)``.

    References
    ----------
    Musco & Musco, NeurIPS 2017, Theorem 3 [M]; constants [I] as in :func:`rls_nystrom_required_d`.
    """
    func = "rls_nystrom_guaranteed_error"
    A = _dense_square(K, func)
    d = check_int(d, func, "d", low=1)
    delta = check_probability(delta, func, "delta")
    beta = _check_beta(beta, func)
    check_choice(dimension, ("intrinsic", "ambient"), func, "dimension")
    S = _Spectrum(A, func)
    if S.norm <= 0:
        return 0.0

    def ok(lam):
        return _rls_condition(S, lam, beta, delta, dimension) <= d

    hi = S.norm
    return min(_bisect_lambda(ok, hi * 1e-16, hi) if ok(hi) else hi, hi)


# ---------------------------------------------------------------------------------------------------
# Drineas & Mahoney 2005 (algorithms.md §6)
# ---------------------------------------------------------------------------------------------------
def _dm_eta(delta):
    return 1.0 if delta is None else 1.0 + math.sqrt(8.0 * math.log(1.0 / delta))


def drineas_mahoney_required_c(k: int, eps: float, delta: float | None = None, *,
                               norm: str = "frobenius") -> int:
    """Columns for the Drineas–Mahoney Nyström bound ``‖G − C W_k⁺ Cᵀ‖_ξ <= ‖G − G_k‖_ξ + ε Σ_i G_ii²``.

    Columns drawn i.i.d. with ``p_i = G_ii² / Σ_j G_jj²`` (uniform for the Gaussian kernel),
    rank-k truncation of the intersection W:

    * Frobenius: ``c >= 64k/ε⁴`` (in expectation), ``c >= 64kη²/ε⁴`` (w.p. ≥ 1 − δ);
    * spectral: ``c >= 4/ε²`` (expectation), ``c >= 4η²/ε²`` (w.p. ≥ 1 − δ);

    with ``η = 1 + sqrt(8 log(1/δ))``. ``delta=None`` gives the in-expectation version.

    References
    ----------
    P. Drineas & M. W. Mahoney, "On the Nyström method for approximating a Gram matrix for improved
    kernel-based learning", JMLR 6, 2005, Theorem 3 [M]. The form (``O(k/ε⁴)`` columns, both norms,
    in expectation and with high probability) is verified against the paper's abstract; the constants
    64 and 4 are not: an indicative requirement, not a rigorous one.
    algorithms.md §6.
    """
    func = "drineas_mahoney_required_c"
    k = check_int(k, func, "k", low=0)
    eps = check_positive(eps, func, "eps")
    if delta is not None:
        delta = check_probability(delta, func, "delta")
    check_choice(norm, ("frobenius", "spectral"), func, "norm")
    eta2 = _dm_eta(delta) ** 2
    return _ceil_count(lambda: 64.0 * max(k, 1) * eta2 / eps ** 4 if norm == "frobenius" else 4.0 * eta2 / eps ** 2,
                       func, "eps", eps)


def drineas_mahoney_bound(K, k: int, c: int, delta: float | None = None, *, norm: str = "frobenius") -> float:
    """The Drineas–Mahoney error bound for c sampled columns: ``‖G − G_k‖_ξ + ε(c) Σ_i G_ii²``.

    ``ε(c)`` inverts :func:`drineas_mahoney_required_c` (Frobenius ``(64kη²/c)^¼``, spectral
    ``(4η²/c)^½``). Holds in expectation (``delta=None``) or w.p. ≥ 1 − δ.

    References
    ----------
    Drineas & Mahoney, JMLR 2005, Theorem 3 [M]; constants not verified (see
    :func:`drineas_mahoney_required_c`): an indicative curve, not a rigorous bound. algorithms.md §6.
    """
    func = "drineas_mahoney_bound"
    A = _dense_square(K, func)
    k = check_int(k, func, "k", low=0, high=A.shape[0])
    c = check_int(c, func, "c", low=1)
    if delta is not None:
        delta = check_probability(delta, func, "delta")
    check_choice(norm, ("frobenius", "spectral"), func, "norm")
    eta2 = _dm_eta(delta) ** 2
    sig = np.clip(np.linalg.eigvalsh(0.5 * (A + A.T))[::-1], 0.0, None)
    if norm == "frobenius":
        tail = float(np.sqrt(np.sum(sig[k:] ** 2)))
        eps = (64.0 * max(k, 1) * eta2 / c) ** 0.25
    else:
        tail = float(sig[k]) if k < sig.size else 0.0
        eps = math.sqrt(4.0 * eta2 / c)
    with np.errstate(over="ignore"):
        return _finite(tail + eps * float(np.sum(np.diag(A) ** 2)), func, "K")


# ---------------------------------------------------------------------------------------------------
# random features: matrix Bernstein (algorithms.md §9.3)
# ---------------------------------------------------------------------------------------------------
def _norm_trace(K, func):
    A = _dense_square(K, func)
    sig = np.linalg.eigvalsh(0.5 * (A + A.T))
    return A.shape[0], max(float(sig[-1]), 0.0), float(np.trace(A))


def _rff_log(n, normK, trK, delta, dimension, func):
    if dimension == "ambient":
        return math.log(2 * n / delta)
    if normK <= 0:
        raise fail(func, "K", "be nonzero for dimension='intrinsic' (intdim = tr K/‖K‖)", "the zero matrix")
    intdim = trK / normK
    return math.log(4 * intdim / delta)


def rff_spectral_bound(K, n_features: int, delta: float, *, feature_sq_norm: float = 2.0,
                       dimension: str = "ambient") -> float:
    """Matrix-Bernstein bound on ``‖K̃ − K‖₂`` for D random Fourier features, w.p. ≥ 1 − δ.

    With ``K̃ = (1/D) Σ_j u_j u_jᵀ``, ``u_j = (√2 cos(ω_jᵀx_i + b_j))_i`` (``‖u‖² <= c n``,
    c = ``feature_sq_norm`` = 2 for the cosine features of a kernel with k(x, x) = 1):
    ``R = (c n + ‖K‖)/D``, ``σ² = c n ‖K‖/D`` and

        ``‖K̃ − K‖ <= (R/3)L + sqrt((R/3)²L² + 2σ²L)``,  ``L = log(2n/δ)``

    (``dimension="intrinsic"``: ``L = log(4 intdim(K)/δ)``, intdim = tr K/‖K‖ — valid whenever the
    bound exceeds σ + R/3, which holds for every non-trivial value).

    Parameters
    ----------
    K : array (n, n), KernelMatrix or low-rank result
        The exact kernel matrix (only n, ‖K‖ and tr K are used).
    n_features : int
        D.
    delta : float in (0, 1)

    References
    ----------
    Rahimi & Recht, NeurIPS 2007 (features); J. Tropp, "An introduction to matrix concentration
    inequalities", 2015, Thm 6.1.1 and §7.3 (intrinsic dimension) — derivation [I], algorithms.md §9.3.
    """
    func = "rff_spectral_bound"
    D = check_int(n_features, func, "n_features", low=1)
    delta = check_probability(delta, func, "delta")
    c = check_positive(feature_sq_norm, func, "feature_sq_norm")
    check_choice(dimension, ("ambient", "intrinsic"), func, "dimension")
    n, normK, trK = _norm_trace(K, func)
    L = _rff_log(n, normK, trK, delta, dimension, func)
    R = (c * n + normK) / D
    sigma2 = c * n * normK / D
    with np.errstate(over="ignore"):
        a = np.float64(R / 3 * L)
        return _finite(float(a + np.sqrt(a * a + 2 * sigma2 * L)), func, "K")


def rff_required_features(K, eps: float, delta: float, *, feature_sq_norm: float = 2.0,
                          dimension: str = "ambient") -> int:
    """Smallest D with :func:`rff_spectral_bound` ``<= ε‖K‖``.

    Solving ``t²/2 = L(σ² + Rt/3)`` for D at ``t = ε‖K‖``: ``D = 2L(c n‖K‖ + (c n + ‖K‖)t/3)/t²``.

    References
    ----------
    As :func:`rff_spectral_bound` (algorithms.md §9.3).
    """
    func = "rff_required_features"
    eps = check_positive(eps, func, "eps")
    delta = check_probability(delta, func, "delta")
    c = check_positive(feature_sq_norm, func, "feature_sq_norm")
    check_choice(dimension, ("ambient", "intrinsic"), func, "dimension")
    n, normK, trK = _norm_trace(K, func)
    if normK <= 0:
        raise fail(func, "K", "be nonzero", "the zero matrix")
    L = _rff_log(n, normK, trK, delta, dimension, func)
    # 2L(c n ‖K‖ + (c n + ‖K‖) t/3)/t² with t = ε‖K‖, divided through by ‖K‖² (scale-free)
    return _ceil_count(lambda: 2 * L * (c * n / normK + (c * n / normK + 1.0) * eps / 3) / eps ** 2,
                       func, "eps", eps)


# ---------------------------------------------------------------------------------------------------
# Skeinformer Proposition 1 and Lemma 1 (algorithms.md §3.2, §3.3)
# ---------------------------------------------------------------------------------------------------
def _check_BV(B, V, func):
    B = check_matrix(B, func, "B", ndim=2, dtype=np.float64)
    V = check_matrix(V, func, "V", ndim=2, dtype=np.float64)
    if B.shape[1] != V.shape[0]:
        raise ValueError(f"{func}: `B` must have one column per row of `V`; got B.shape={B.shape} and V.shape={V.shape}")
    return B, V


def skeinformer_column_probabilities(B, V) -> np.ndarray:
    """Optimal AMM column probabilities ``p_i ∝ ‖B^{(i)}‖₂ ‖V_{(i)}‖₂`` (β = 1 in Proposition 1).

    The column sampler of :func:`kernapprox.attention.skeinformer` (Eq. (5), with B the pilot rows
    ``B_J``). When every weight is zero (BV = 0: every sampled estimator is exact) the uniform
    distribution ``1/m`` is returned.

    References
    ----------
    Skeinformer (Chen et al., NAACL 2022) §4.1 Eq. (5) [P]; Drineas, Kannan & Mahoney, SIAM J. Comput.
    36(1), 2006, Lemma 4. algorithms.md §3.2.
    """
    B, V = _check_BV(B, V, "skeinformer_column_probabilities")
    # p is scale-free: B and V are rescaled by powers of two first (exact), so no norm overflows
    B = np.ldexp(B, -math.frexp(float(np.abs(B).max()) or 1.0)[1])
    V = np.ldexp(V, -math.frexp(float(np.abs(V).max()) or 1.0)[1])
    w = np.linalg.norm(B, axis=0) * np.linalg.norm(V, axis=1)
    tot = float(np.sum(w))
    if tot == 0:
        return np.full(w.shape, 1.0 / w.size)
    return w / tot


def amm_beta(p, B, V) -> float:
    """Quality coefficient β of probabilities p for the product BV (Skeinformer Eq. (3)).

    ``β = min_i p_i Σ_j ‖B^{(j)}‖‖V_{(j)}‖ / (‖B^{(i)}‖‖V_{(i)}‖)`` over columns with nonzero weight
    (clipped to 1).

    References
    ----------
    Skeinformer (Chen et al., NAACL 2022) Proposition 1, Eq. (3) [P].
    """
    func = "amm_beta"
    B, V = _check_BV(B, V, func)
    p = check_matrix(p, func, "p", ndim=1, dtype=np.float64)
    if p.shape[0] != B.shape[1] or np.any(p < 0) or not math.isclose(float(p.sum()), 1.0, rel_tol=1e-9):
        raise fail(func, "p", f"be a probability vector of length {B.shape[1]}", f"shape {p.shape}, sum {p.sum():.6g}")
    opt = skeinformer_column_probabilities(B, V)
    nz = opt > 0
    return float(min(1.0, np.min(p[nz] / opt[nz])))


def skeinformer_prop1_bound(B, V, d: int, delta: float, *, beta: float = 1.0, squared: bool = False) -> float:
    """Skeinformer Proposition 1: ``‖BV − BSSᵀV‖_F <= (η/√(βd)) ‖B‖_F ‖V‖_F`` w.p. ≥ 1 − δ.

    S is a d-column sub-sampling matrix with probabilities satisfying Eq. (3) with coefficient β;
    ``η = 1 + sqrt((8/β) log(1/δ))``. ``squared=True`` returns Eq. (4) as stated (the squared norm).

    References
    ----------
    Skeinformer (Chen, Zeng, Hakkani-Tur, Jin, Ji, Yang, NAACL 2022) §4.1 Proposition 1, Eq. (4) [P];
    adapted from Drineas, Kannan & Mahoney 2006, Thm 1. algorithms.md §3.2.
    """
    func = "skeinformer_prop1_bound"
    B, V = _check_BV(B, V, func)
    d = check_int(d, func, "d", low=1)
    delta = check_probability(delta, func, "delta")
    beta = _check_beta(beta, func)
    eta = 1.0 + math.sqrt(8.0 / beta * math.log(1.0 / delta))
    with np.errstate(over="ignore"):
        sq = eta ** 2 / (beta * d) * float(np.sum(B * B)) * float(np.sum(V * V))
    return _finite(sq if check_bool(squared, func, "squared") else math.sqrt(sq), func, "B")


def skeinformer_prop1_expected(B, V, d: int, *, beta: float = 1.0, squared: bool = True) -> float:
    """In-expectation form: ``E‖BV − BSSᵀV‖_F² <= ‖B‖_F²‖V‖_F²/(βd)``.

    Derivation [I]: with d i.i.d. columns i_t drawn with probabilities p and ``BSSᵀV =
    (1/d) Σ_t B^{(i_t)} V_{(i_t)}/p_{i_t}``, each term is unbiased, so
    ``E‖BV − BSSᵀV‖_F² = (1/d)(Σ_i ‖B^{(i)}‖²‖V_{(i)}‖²/p_i − ‖BV‖_F²)``; with
    ``p_i >= β‖B^{(i)}‖‖V_{(i)}‖/Σ_j‖B^{(j)}‖‖V_{(j)}‖`` the sum is at most
    ``(Σ_i‖B^{(i)}‖‖V_{(i)}‖)²/β <= ‖B‖_F²‖V‖_F²/β`` (Cauchy–Schwarz).

    References
    ----------
    Drineas, Kannan & Mahoney, SIAM J. Comput. 2006, Thm 1 (as quoted in Skeinformer §4.1); the
    constant is derived above.
    """
    func = "skeinformer_prop1_expected"
    B, V = _check_BV(B, V, func)
    d = check_int(d, func, "d", low=1)
    beta = _check_beta(beta, func)
    with np.errstate(over="ignore"):
        sq = float(np.sum(B * B)) * float(np.sum(V * V)) / (beta * d)
    return _finite(sq if check_bool(squared, func, "squared") else math.sqrt(sq), func, "B")


def skeinformer_lemma1_constant(B) -> float:
    """``C = min_i ‖B^{(i)}‖²/n``, the column-norm floor assumed by Skeinformer Lemma 1 (B is n×n)."""
    B = check_matrix(B, "skeinformer_lemma1_constant", "B", ndim=2, dtype=np.float64)
    with np.errstate(over="ignore"):
        return _finite(float(np.min(np.sum(B * B, axis=0)) / B.shape[0]), "skeinformer_lemma1_constant", "B")


def skeinformer_lemma1_required_d(c: float, n: int, delta: float) -> int:
    """Pilot rows for Skeinformer Lemma 1: ``d >= (2/C²) log(2n/δ)``.

    With ``‖B^{(i)}‖²/n >= C`` for all i (entries of B in [0, 1], e.g. a row-stochastic softmax
    matrix), d pilot rows drawn uniformly with replacement give estimated probabilities (Eq. (5))
    that satisfy Eq. (3) with ``β = sqrt(1/3)`` (:data:`SKEINFORMER_LEMMA1_BETA`) w.p. ≥ 1 − δ.

    References
    ----------
    Skeinformer (Chen et al., NAACL 2022) §4.1 Lemma 1, App. B [P]. algorithms.md §3.3.
    """
    func = "skeinformer_lemma1_required_d"
    c = check_positive(c, func, "c")
    n = check_int(n, func, "n", low=1)
    delta = check_probability(delta, func, "delta")
    if not delta < 0.5:
        raise fail(func, "delta", "lie in (0, 1/2) (Skeinformer Lemma 1 assumes δ < 1/2)", delta)
    return _ceil_count(lambda: 2.0 / c ** 2 * math.log(2 * n / delta), func, "c", c)


# ---------------------------------------------------------------------------------------------------
# RPCholesky (Chen, Epperly, Tropp, Webber)
# ---------------------------------------------------------------------------------------------------
def _eig_desc(K, func):
    A = _dense_square(K, func)
    lam = np.linalg.eigvalsh(0.5 * (A + A.T))
    check_psd_spectrum(lam, func, "K")
    return np.clip(lam[::-1], 0.0, None)


def rpcholesky_required_k(r: int, eps: float, eta: float) -> int:
    """Columns for the RPCholesky guarantee: ``k >= r/ε + r log(1/(εη))``.

    Then ``E tr(K − K̂) <= (1 + ε) tr(K − [[K]]_r)``, where ``η = tr(K − [[K]]_r)/tr(K)`` is the
    relative trace error of the best rank-r approximation [[K]]_r. ``eta = 0`` (rank <= r): RPCholesky
    is exact after r steps, returns r.

    References
    ----------
    Y. Chen, E. N. Epperly, J. A. Tropp & R. J. Webber, "Randomly pivoted Cholesky: practical
    approximation of a kernel matrix with few entry evaluations", CPAM 2025 (arXiv 2207.06503),
    Theorem 2.3 (main error bound) [M]: the statement is not verified against the theorem's text, so
    the requirement is indicative, not a rigorous guarantee (module docstring table).
    """
    func = "rpcholesky_required_k"
    r = check_int(r, func, "r", low=0)
    eps = check_positive(eps, func, "eps")
    eta = check_positive(eta, func, "eta", allow_zero=True)
    if eta > 1:
        raise fail(func, "eta", "lie in [0, 1]", eta)
    if r == 0:
        return 0
    if eta == 0:
        return r
    return _ceil_count(lambda: r / eps + r * max(math.log(1.0 / (eps * eta)), 0.0), func, "eps", eps)


def rpcholesky_expected_trace_bound(K, r: int, eps: float) -> tuple[float, int]:
    """``((1 + ε) tr(K − [[K]]_r), k)``: the expected trace error RPCholesky guarantees and the k needed.

    References
    ----------
    Chen, Epperly, Tropp & Webber (CPAM 2025, arXiv 2207.06503), Theorem 2.3 [M].
    """
    func = "rpcholesky_expected_trace_bound"
    sig = _eig_desc(K, func)
    r = check_int(r, func, "r", low=0, high=sig.size)
    eps = check_positive(eps, func, "eps")
    tr = float(np.sum(sig))
    tail = float(np.sum(sig[r:]))
    eta = tail / tr if tr > 0 else 0.0
    return (1 + eps) * tail, rpcholesky_required_k(r, eps, eta)


def rpcholesky_trace_bound(K, k: int) -> float:
    """Best expected trace error guaranteed for k RPCholesky steps: ``min_r (1 + ε_r) tr(K − [[K]]_r)``.

    For each r <= k, ``ε_r`` is the smallest ε with ``r/ε + r log(1/(εη_r)) <= k`` (bisection; the
    left side decreases in ε); the result is also capped at ``tr K`` (trivially ``tr(K − K̂) <= tr K``).
    Compare with :func:`kernapprox.metrics.trace_error` averaged over runs.

    References
    ----------
    Chen, Epperly, Tropp & Webber (CPAM 2025, arXiv 2207.06503), Theorem 2.3 [M].
    """
    func = "rpcholesky_trace_bound"
    sig = _eig_desc(K, func)
    k = check_int(k, func, "k", low=0, high=sig.size)
    tr = float(np.sum(sig))
    best = tr
    tails = np.concatenate([np.cumsum(sig[::-1])[::-1], [0.0]])   # tails[r] = Σ_{i>=r} σ_i
    for r in range(1, min(k, sig.size) + 1):
        tail = float(tails[r])
        if tail <= 0:          # rank <= r <= k: r steps are exact
            return 0.0
        eta = tail / tr

        def f(e, r=r, eta=eta):
            return r / e + r * math.log(1.0 / (e * eta))

        lo, hi = 1e-12, 1.0
        while f(hi) > k:
            hi *= 2.0
            if hi > 1e12:
                break
        if f(hi) > k:
            continue
        for _ in range(200):
            mid = math.sqrt(lo * hi)
            if f(mid) <= k:
                hi = mid
            else:
                lo = mid
            if hi / lo < 1 + 1e-12:
                break
        best = min(best, (1 + hi) * tail)
    return best


# ---------------------------------------------------------------------------------------------------
# sketched / accumulated KRR (algorithms.md §5.2)
# ---------------------------------------------------------------------------------------------------
def krr_critical_radius(K, noise_std: float) -> tuple[float, int]:
    """Critical radius δ_n and statistical dimension d_n of kernel ridge regression.

    With ``μ_1 >= … >= μ_n`` the eigenvalues of K/n and the kernel complexity
    ``R(δ) = sqrt((1/n) Σ_j min(δ², μ_j))``, δ_n is the smallest δ > 0 with ``R(δ) <= δ²/σ``
    (σ = ``noise_std``); ``d_n = min{j : μ_j <= δ_n²}`` (number of eigenvalues above δ_n²).
    R(δ)/δ is non-increasing, so δ_n is found by bisection.

    Returns
    -------
    (delta_n, d_n)

    References
    ----------
    Y. Yang, M. Pilanci & M. J. Wainwright, "Randomized sketches for kernels: fast and optimal
    nonparametric regression", Ann. Statist. 45(3), 2017, Eq. (9)–(10) and §2 [M]. algorithms.md §5.2.
    """
    func = "krr_critical_radius"
    # δ_n is about σ and is squared: σ up to 1e150 keeps every quantity representable
    sigma = check_real(noise_std, func, "noise_std", low=0.0, low_open=True, high=NOISE_STD_MAX)
    sig = _eig_desc(K, func)
    n = sig.size
    mu = sig / n

    def ok(delta):
        return math.sqrt(float(np.sum(np.minimum(delta * delta, mu))) / n) <= delta * delta / sigma

    hi = max(1.0, math.sqrt(float(mu[0])) if mu[0] > 0 else 1.0, sigma)
    while not ok(hi):
        hi *= 2.0
    lo = hi * 1e-12
    delta_n = _bisect_lambda(ok, lo, hi)
    d_n = int(np.sum(mu > delta_n ** 2))
    return delta_n, d_n


def sketched_krr_rate(K, noise_std: float, s: int) -> dict:
    """What can be stated about sketched / accumulated-sketch KRR with sketch size s.

    Returns a dict with ``critical_radius`` δ_n, ``rate`` δ_n² (the minimax in-sample prediction
    error ``‖f̂ − f*‖_n²`` of exact KRR, up to constants), ``statistical_dimension`` d_n and
    ``sufficient`` (``s >= d_n``).

    Notes
    -----
    * Yang, Pilanci & Wainwright (2017), Thm 2 [M]: a Gaussian sketch with ``s >= c·d_n`` (an ROS
      sketch with extra log factors) keeps the rate: ``‖f̂_s − f*‖_n² <= c_u δ_n²`` with probability
      ≥ 1 − c₁e^{−c₂ n δ_n²}; the absolute constants c, c_u, c₁, c₂ are not tracked, so
      ``sufficient`` means "of the order that suffices", not a certificate.
    * Chen & Yang (AISTATS 2021) [S: abstract only]: the accumulation of m sub-sampling sketches
      achieves the same rate as the Gaussian sketch at the same s when m is large enough relative to
      an incoherence measure of K (≈ max leverage); plain sub-sampling (m = 1) can fail when that
      incoherence is high. No explicit m is stated here because the paper's text was not available.

    References
    ----------
    Yang, Pilanci & Wainwright, Ann. Statist. 2017 [M]; X. Chen & Y. Yang, "Accumulations of
    projections — a unified framework for random sketches in kernel ridge regression", AISTATS 2021
    (arXiv 2103.04031) [S]. algorithms.md §5.2.
    """
    func = "sketched_krr_rate"
    s = check_int(s, func, "s", low=1, high=_dense_square(K, func).shape[0])
    delta_n, d_n = krr_critical_radius(K, noise_std)
    return {"critical_radius": delta_n, "rate": delta_n ** 2, "statistical_dimension": d_n,
            "sufficient": bool(s >= d_n), "tags": {"gaussian_sketch": "M", "accumulation": "S"}}
