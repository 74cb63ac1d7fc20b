"""Landmark samplers for Nyström approximation of PSD kernel matrices (design.md §5).

Every sampler takes a kernel matrix ``KM`` (a :class:`~kernapprox.matrix.KernelMatrix`, any object
following the kernel-matrix protocol, a dense PSD array or a low-rank result) and returns landmark
indices; :func:`sample_landmarks` dispatches by name. Kernel entries read are counted in
``KM.n_evals``, which is how the samplers' costs are compared.

======================  ============================================  ===================================
method                  distribution                                  kernel entries
======================  ============================================  ===================================
``uniform``             uniform (with or without replacement)         0
``diagonal``            ∝ K_ii                                        n
``column_norm``         ∝ ‖K[:, i]‖² (streamed)                        n² (tile by tile)
``leverage``            ∝ ridge leverage scores ℓ_i(λ) (exact)        n² (dense; evaluation only)
``recursive_rls``       ∝ approximate ℓ_i(λ) (Musco & Musco 2017)     ≈ n + O(n k)
``kmeanspp``            D² seeding in feature space                   n + n k
``greedy``              pivoted Cholesky, max residual diagonal       n + n k
``rpcholesky``          randomly pivoted Cholesky                     n + n k (+ b² per round, accel.)
======================  ============================================  ===================================

Also :func:`kmeans_centers` (Lloyd's k-means centres: landmark *points* for
``nystrom(KM, landmarks=...)``) and :func:`segment_means` (Nyströmformer's segment-mean landmarks
of a sequence).
"""
from __future__ import annotations

import inspect
import math

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from . import cholesky as _chol
from ._validation import (as_generator, check_bool, check_choice, check_int, check_matrix, check_options,
                          check_points, check_positive, check_psd_spectrum, check_symmetric, fail, warn)
from ._numba.reference import sqdist_numpy
from .lowrank import as_matrix_protocol, require_psd
from .matrix import default_tile_rows

__all__ = [
    "sample_landmarks", "METHODS", "uniform", "diagonal", "column_norm", "leverage", "recursive_rls",
    "kmeanspp", "greedy", "rpcholesky", "ridge_leverage_scores", "statistical_dimension", "column_norms_squared",
    "kmeans_centers", "segment_means", "KMEANS_MAX_ITER", "KMEANS_RTOL",
]

#: Lloyd iterations of :func:`kmeans_centers` at most.
KMEANS_MAX_ITER = 100
#: Upper bound on ``n_iter`` (Lloyd's objective decreases monotonically and converges in far fewer).
KMEANS_ITER_CAP = 10_000
#: Lloyd stops when the k-means objective decreases by less than this fraction.
KMEANS_RTOL = 1e-6
#: D² weights (k-means++) count as exhausted below this multiple of eps·tr K.
ZERO_TRACE_MULTIPLE = _chol.ZERO_TRACE_MULTIPLE


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def _prep(KM, k, func):
    """Landmark samplers serve PSD Nyström: they refuse exactly what :func:`kernapprox.nystrom`
    refuses (a non-square or non-PSD matrix, :func:`kernapprox.lowrank.require_psd`), and 1 <= k <= n."""
    KM = as_matrix_protocol(KM, func)
    require_psd(KM, func)
    n = KM.shape[0]
    k = check_int(k, func, "k", low=1, high=n)
    return KM, n, k


def _choice(p: np.ndarray, k: int, replace: bool, rng: np.random.Generator, func: str) -> np.ndarray:
    """k indices with P(i) ∝ p_i (p >= 0). Without replacement (successive sampling) and fewer than
    k positive weights, all positive-weight indices are taken and the rest drawn uniformly from the
    zero-weight ones (they are interchangeable for the distribution), with a warning."""
    p = np.asarray(p, dtype=np.float64)
    p = np.where(np.isfinite(p) & (p > 0), p, 0.0)
    n = p.size
    tot = p.sum()
    if not tot > 0:
        warn(f"{func}: all sampling weights are zero; sampling uniformly")
        return rng.choice(n, size=k, replace=replace).astype(np.intp)
    if replace:
        return rng.choice(n, size=k, replace=True, p=p / tot).astype(np.intp)
    pos = np.flatnonzero(p)
    if pos.size < k:
        warn(f"{func}: only {pos.size} of the n={n} points have positive weight (< k={k}); the "
             f"remaining {k - pos.size} landmarks are drawn uniformly among the others")
        rest = rng.choice(np.flatnonzero(p == 0), size=k - pos.size, replace=False)
        return np.concatenate([rng.permutation(pos), rest]).astype(np.intp)
    return rng.choice(n, size=k, replace=False, p=p / tot).astype(np.intp)


def _dense(KM) -> np.ndarray:
    if isinstance(KM, np.ndarray):
        return KM
    n, m = KM.shape
    if hasattr(KM, "dense"):
        return np.asarray(KM.dense())
    return np.asarray(KM.block(np.arange(n), np.arange(m)))


# --------------------------------------------------------------------------------------------------
# samplers
# --------------------------------------------------------------------------------------------------
def uniform(KM, k, *, replace: bool = False, rng=None) -> np.ndarray:
    """k indices uniformly from [0, n) (without replacement by default). No kernel entries.

    Parameters
    ----------
    KM : kernel matrix (n, n)
    k : int, 1 <= k <= n
    replace : bool, default False
    rng : seed or Generator

    Returns
    -------
    ndarray of int of shape (k,)

    References
    ----------
    Williams & Seeger, NeurIPS 2000; Skyformer Def. 1 (algorithms.md §1.1).
    """
    func = "sample_landmarks(uniform)"
    KM, n, k = _prep(KM, k, func)
    replace = check_bool(replace, func, "replace")
    return as_generator(rng, func).choice(n, size=k, replace=replace).astype(np.intp)


def diagonal(KM, k, *, replace: bool = False, rng=None) -> np.ndarray:
    """k indices with probability ∝ K_ii (uniform for shift-invariant kernels). n kernel entries.

    References
    ----------
    Drineas & Mahoney, JMLR 2005 (diagonal-proportional sampling; algorithms.md §6 uses K_ii²).
    """
    func = "sample_landmarks(diagonal)"
    KM, n, k = _prep(KM, k, func)
    replace = check_bool(replace, func, "replace")
    return _choice(np.asarray(KM.diag(), dtype=np.float64), k, replace, as_generator(rng, func), func)


def column_norms_squared(KM) -> np.ndarray:
    """``‖K[:, j]‖²`` for every column, streamed over row tiles (n·m entries, O(tile·m) memory)."""
    KM = as_matrix_protocol(KM, "column_norms_squared")
    n, m = KM.shape
    out = np.zeros(m, dtype=np.float64)
    step = default_tile_rows(m)
    with np.errstate(over="ignore", invalid="ignore"):
        for i0 in range(0, n, step):
            T = np.asarray(KM.rows(np.arange(i0, min(n, i0 + step))), dtype=np.float64)
            out += np.einsum("ij,ij->j", T, T)
    if not np.all(np.isfinite(out)):
        raise fail("column_norms_squared", "KM", "have squared column norms representable in float64 "
                   "(entries below ~1e154)", "entries whose squares overflow")
    return out


def column_norm(KM, k, *, replace: bool = False, rng=None) -> np.ndarray:
    """k indices with probability ∝ the squared column norms ``‖K[:, i]‖²``, computed streamed.

    Notes
    -----
    n² kernel entries, evaluated tile by tile (memory O(tile · n)).

    References
    ----------
    Drineas, Kannan, Mahoney, "Fast Monte Carlo algorithms for matrices II", SICOMP 2006;
    Skeinformer (algorithms.md §3.2) uses the same column-norm probabilities.
    """
    func = "sample_landmarks(column_norm)"
    KM, n, k = _prep(KM, k, func)
    replace = check_bool(replace, func, "replace")
    return _choice(column_norms_squared(KM), k, replace, as_generator(rng, func), func)


def _entry_eps(D) -> float:
    """Unit roundoff of the matrix entries: the rounding level a PSD check must allow (float32 kernel
    blocks carry float32 rounding even when the decomposition runs in float64)."""
    dt = D.dtype if np.issubdtype(D.dtype, np.floating) else np.dtype(np.float64)
    return float(np.finfo(dt).eps)


def _eigh_psd(KM_or_dense, func):
    """eigh of a PSD matrix (clipped at 0); refuses an eigenvalue below the rounding level."""
    D = _dense(KM_or_dense)
    A = np.asarray(D, dtype=np.float64)
    sig, U = np.linalg.eigh(0.5 * (A + A.T))
    check_psd_spectrum(sig, func, "KM", eps=_entry_eps(D))
    return np.maximum(sig, 0.0), U


def _rls_from_eig(sig, U, lam):
    return np.einsum("ik,k->i", U * U, sig / (sig + lam))


def ridge_leverage_scores(KM_or_dense, lam) -> np.ndarray:
    """Exact ridge leverage scores ``ℓ_i(λ) = [K (K + λI)⁻¹]_ii`` (algorithms.md §1.4).

    Parameters
    ----------
    KM_or_dense : kernel matrix (protocol object) or dense PSD ndarray of shape (n, n)
    lam : float > 0
        Ridge λ.

    Returns
    -------
    ndarray of shape (n,)
        ``0 <= ℓ_i <= 1``; their sum is the statistical dimension ``d_stat(λ)``.

    Notes
    -----
    One dense eigendecomposition: O(n³) time, O(n²) memory, n² kernel entries — for evaluation on
    moderate n (the dense cap of :meth:`KernelMatrix.dense` applies).

    References
    ----------
    Alaoui & Mahoney, NeurIPS 2015; Skyformer Thm 2 (algorithms.md §1.4): ``ℓ_i = Σ_k U_ik² σ_k/(σ_k+λ)``.
    """
    return _ridge_leverage_scores(KM_or_dense, lam, "ridge_leverage_scores")


def _ridge_leverage_scores(KM_or_dense, lam, func):
    lam = check_positive(lam, func, "lam")
    name = "KM_or_dense"
    if isinstance(KM_or_dense, (np.ndarray, list, tuple)):
        eps = _entry_eps(np.asarray(KM_or_dense))
        A = check_matrix(KM_or_dense, func, name, dtype=np.float64)
    else:
        D = _dense(as_matrix_protocol(KM_or_dense, func, name))
        eps = _entry_eps(D)
        A = np.asarray(D, dtype=np.float64)
    if A.shape[0] != A.shape[1]:
        raise fail(func, name, "be square", f"shape {A.shape}")
    check_symmetric(A.__matmul__, A.shape[0], func, name)
    sig, U = np.linalg.eigh(0.5 * (A + A.T))
    check_psd_spectrum(sig, func, name, eps=eps)
    sig = np.maximum(sig, 0.0)
    return np.clip(_rls_from_eig(sig, U, lam), 0.0, 1.0)


def statistical_dimension(KM_or_dense, lam) -> float:
    """``d_stat(λ) = tr(K (K + λI)⁻¹) = Σ_i ℓ_i(λ)`` (exact, dense; algorithms.md §1.4)."""
    return float(_ridge_leverage_scores(KM_or_dense, lam, "statistical_dimension").sum())


def leverage(KM, k, *, lam: float | None = None, replace: bool = False, eig=None, rng=None) -> np.ndarray:
    """k indices with probability ∝ the exact ridge leverage scores ``ℓ_i(λ)``.

    Parameters
    ----------
    KM : kernel matrix (n, n) (dense eigendecomposition: moderate n only)
    k : int
    lam : float, optional
        Ridge λ. Default: ``λ = (1/k) Σ_{i>k} σ_i(K)``, the rank-k choice of Musco & Musco
        (2017, Thm 3), for which ``d_stat(λ) <= 2k``; floored at ``n·eps·σ_max`` (the accuracy of the
        computed eigenvalues) for matrices of numerical rank below k.
    replace : bool, default False
    eig : tuple (sigma, U), optional
        A precomputed eigendecomposition of K (``np.linalg.eigh``) for repeated sampling from one
        matrix; then no kernel entry is read.
    rng : seed or Generator

    Notes
    -----
    O(n³) time, n² kernel entries: an "oracle" sampler for evaluation (algorithms.md §6).

    References
    ----------
    Alaoui & Mahoney, "Fast randomized kernel ridge regression with statistical guarantees",
    NeurIPS 2015; Musco & Musco, "Recursive sampling for the Nyström method", NeurIPS 2017, Thm 3.
    """
    func = "sample_landmarks(leverage)"
    KM, n, k = _prep(KM, k, func)
    replace = check_bool(replace, func, "replace")
    gen = as_generator(rng, func)
    if lam is not None:
        lam = check_positive(lam, func, "lam")
    if eig is None:
        sig, U = _eigh_psd(KM, func)
    else:
        if not isinstance(eig, (tuple, list)) or len(eig) != 2:
            raise fail(func, "eig", "be a pair (sigma, U) from np.linalg.eigh", type(eig).__name__, TypeError)
        sig = np.maximum(check_matrix(eig[0], func, "eig", ndim=1, dtype=np.float64), 0.0)
        U = check_matrix(eig[1], func, "eig", ndim=2, dtype=np.float64)
        if sig.shape != (n,) or U.shape != (n, n):
            raise fail(func, "eig", f"be (sigma, U) of shapes ({n},) and ({n}, {n})",
                       f"shapes {sig.shape} and {U.shape}")
    if lam is None:
        # Musco & Musco's rank-k choice, floored at the accuracy of the eigenvalues (n·eps·σ_max):
        # below it the "tail" is rounding noise and every direction would look significant
        if not np.all(np.isfinite(sig)):
            raise fail(func, "KM", "have a finite spectrum (the default `lam` is computed from it)",
                       "non-finite eigenvalues")
        tail = float(np.sort(sig)[::-1][k:].sum())
        lam = max(tail / k, n * _chol._eps(KM) * float(sig.max()))
        if not lam > 0:
            raise fail(func, "KM", "be nonzero (the default `lam` is computed from its spectrum)",
                       "a zero matrix")
    else:
        lam = check_positive(lam, func, "lam")
    return _choice(_rls_from_eig(sig, U, lam), k, replace, gen, func)


def recursive_rls(KM, k, *, lam: float | None = None, rng=None) -> np.ndarray:
    """Recursive ridge-leverage-score sampling (Musco & Musco 2017, "RecursiveNyström").

    The points are halved recursively (a uniformly random nested sequence of subsets); at each level
    the landmarks of the coarser level give approximate ridge leverage scores of the finer one,

        ``ℓ̃_i = (K_ii − K_{i,S} (K_{S,S} + λ W⁻²)⁻¹ K_{S,i}) / λ``  (W: importance weights of S),

    and each point is kept independently with probability ``min(1, log(k) · ℓ̃_i)``. At the top level
    exactly k landmarks are drawn without replacement ∝ ℓ̃_i.

    Parameters
    ----------
    KM : kernel matrix (n, n)
    k : int
    lam : float, optional
        Fixed ridge λ at every level. Default: adaptive, ``λ = (tr(W S̃ W) − Σ_{j<=k'} σ_j(W S̃ W))/k'``
        with ``k' = ⌈k / (4 log k)⌉`` (Musco & Musco 2017, Alg. 3 / §5 practical variant).
    rng : seed or Generator

    Returns
    -------
    ndarray of int of shape (k,)

    Notes
    -----
    ``⌈log₂(n/k)⌉`` levels; kernel entries n (diagonal) + Σ_levels n_l · |S_l| = O(n k) (|S_l| ≈ k
    in expectation); time O(n k² + levels·k³).

    References
    ----------
    C. Musco, C. Musco, "Recursive sampling for the Nyström method", NeurIPS 2017, Alg. 2–3, Thm 3.
    """
    func = "sample_landmarks(recursive_rls)"
    KM, n, k = _prep(KM, k, func)
    if lam is not None:
        lam = check_positive(lam, func, "lam")
    rng = as_generator(rng, func)
    d = np.asarray(KM.diag(), dtype=np.float64)
    if k == n:
        return rng.permutation(n).astype(np.intp)
    ovs = max(1.0, math.log(k))
    kk = max(1, math.ceil(k / (4.0 * ovs)))
    n_levels = max(0, math.ceil(math.log2(n / k)))
    perm = rng.permutation(n)
    sizes = [n]
    for _ in range(n_levels):
        sizes.append(math.ceil(sizes[-1] / 2))
    sample = np.arange(sizes[-1])             # positions in perm of the current landmarks
    weights = np.ones(sample.size)
    lam_floor = ZERO_TRACE_MULTIPLE * _chol._eps(KM) * float(d.max() if d.size else 1.0)
    for level in reversed(range(n_levels + 1)):
        cur = perm[:sizes[level]]
        if level == n_levels:                 # base level: a uniform sample (handled by `sample`)
            continue
        S = perm[sample]
        KS = np.asarray(KM.block(cur, S), dtype=np.float64)        # (n_l, |S|)
        SKS = KS[sample]
        if lam is not None:
            lam_l = lam
        elif kk >= S.size:
            lam_l = lam_floor
        else:
            M = SKS * weights[:, None] * weights[None, :]
            top = sla.eigvalsh(0.5 * (M + M.T), subset_by_index=[S.size - kk, S.size - 1])
            lam_l = (float(np.sum(np.diag(SKS) * weights ** 2)) - float(top.sum())) / kk
        lam_l = max(lam_l, lam_floor)
        A = 0.5 * (SKS + SKS.T) + np.diag(lam_l / weights ** 2)
        try:
            B = sla.cho_solve(sla.cho_factor(A, lower=True), KS.T)
        except np.linalg.LinAlgError:
            B = np.linalg.lstsq(A, KS.T, rcond=None)[0]
        ls = np.maximum(d[cur] - np.einsum("ij,ji->i", KS, B), 0.0) / lam_l
        if level > 0:
            p = np.minimum(1.0, ovs * ls)
            sample = np.flatnonzero(rng.random(cur.size) < p)
            if sample.size == 0:
                sample = rng.choice(cur.size, size=min(k, cur.size), replace=False)
                p = np.full(cur.size, sample.size / cur.size)
            weights = 1.0 / np.sqrt(p[sample])
        else:
            sel = _choice(np.minimum(1.0, ls), k, False, rng, func)
            return perm[sel].astype(np.intp)
    # n_levels == 0 (n <= k handled above; here n/k <= 1 cannot happen) — fall back to uniform
    return rng.choice(n, size=k, replace=False).astype(np.intp)   # pragma: no cover


def kmeanspp(KM, k, *, rng=None) -> np.ndarray:
    """k-means++ (D²) seeding in the kernel's feature space.

    The first landmark is uniform; each next one is drawn with probability ∝
    ``D(i)² = min_{j ∈ S} ‖φ(x_i) − φ(x_j)‖² = min_j (K_ii + K_jj − 2 K_ij)``.

    Returns
    -------
    ndarray of int of shape (r,), r <= k
        Fewer than k (with a :class:`KernapproxWarning`) only when all remaining distances are
        numerically zero (fewer than k distinct points in feature space).

    Notes
    -----
    Kernel entries n + n·(k − 1) (the diagonal and one column per landmark but the last); time O(n k).

    References
    ----------
    D. Arthur, S. Vassilvitskii, "k-means++: the advantages of careful seeding", SODA 2007;
    Oglic & Gärtner, "Nyström method with kernel K-means++ samples as landmarks", ICML 2017.
    """
    func = "sample_landmarks(kmeanspp)"
    KM, n, k = _prep(KM, k, func)
    rng = as_generator(rng, func)
    d0 = np.asarray(KM.diag(), dtype=np.float64)
    zero = ZERO_TRACE_MULTIPLE * _chol._eps(KM) * float(d0.sum())
    chosen = [int(rng.integers(n))]
    D = np.full(n, np.inf)
    while len(chosen) < k:
        s = chosen[-1]
        col = np.asarray(KM.columns([s]), dtype=np.float64)[:, 0]
        np.minimum(D, np.maximum(d0 + d0[s] - 2.0 * col, 0.0), out=D)
        D[chosen] = 0.0
        if not D.sum() > zero:
            warn(f"{func}: only {len(chosen)} landmarks: all other points are at (numerically) zero "
                 f"feature-space distance from them")
            break
        chosen.append(int(_chol._sample_prop(D, 1, rng)[0]))
    return np.asarray(chosen, dtype=np.intp)


def greedy(KM, k, *, tol: float | None = None) -> np.ndarray:
    """Pivots of greedy pivoted Cholesky (:func:`kernapprox.greedy_cholesky`); deterministic.

    Fewer than k (with a warning) when the residual trace falls below ``tol`` or numerically zero.
    """
    return np.asarray(_chol.greedy_cholesky(KM, k, tol=tol).info["indices"], dtype=np.intp)


def rpcholesky(KM, k, *, block_size: int = 1, accelerated: bool = False, tol: float | None = None,
               rng=None) -> np.ndarray:
    """Pivots of randomly pivoted Cholesky (:func:`kernapprox.rpcholesky`).

    Fewer than k (with a warning) when the residual trace falls below ``tol`` or numerically zero.
    Note that :func:`kernapprox.rpcholesky` already returns the Nyström approximation for these
    pivots (``nystrom(KM, pivots)`` recomputes it).
    """
    return np.asarray(_chol.rpcholesky(KM, k, block_size=block_size, accelerated=accelerated, tol=tol,
                                       rng=rng).info["indices"], dtype=np.intp)


#: name -> sampler; every one is ``f(KM, k, **options)``.
METHODS = {
    "uniform": uniform, "diagonal": diagonal, "column_norm": column_norm, "leverage": leverage,
    "recursive_rls": recursive_rls, "kmeanspp": kmeanspp, "greedy": greedy, "rpcholesky": rpcholesky,
}
_RANDOM = {"uniform", "diagonal", "column_norm", "leverage", "recursive_rls", "kmeanspp", "rpcholesky"}


def sample_landmarks(KM, k, *, method: str = "uniform", rng=None, **options) -> np.ndarray:
    """Landmark indices for Nyström approximation, by a named sampler.

    Parameters
    ----------
    KM : KernelMatrix or kernel-matrix protocol object of shape (n, n) (or a dense PSD array)
    k : int
        Number of landmarks, ``1 <= k <= n``.
    method : str, default "uniform"
        One of ``"uniform"`` (option ``replace=False``), ``"diagonal"``, ``"column_norm"``
        (option ``replace``), ``"leverage"`` (options ``lam``, ``replace``), ``"recursive_rls"``
        (option ``lam``), ``"kmeanspp"``, ``"greedy"`` (option ``tol``), ``"rpcholesky"`` (options
        ``block_size``, ``accelerated``, ``tol``).
    rng : None, int, Generator, …
        Randomness (ignored by ``"greedy"``).
    **options
        Passed to the sampler (see :data:`METHODS` and each function's docstring).

    Returns
    -------
    ndarray of int of shape (k,)
        Landmark indices into [0, n); ``"greedy"``, ``"rpcholesky"`` and ``"kmeanspp"`` return fewer
        (with a :class:`KernapproxWarning`) when the matrix has numerical rank < k.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> X = np.random.default_rng(0).normal(size=(400, 2))
    >>> KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    >>> idx = ka.sample_landmarks(KM, 20, method="rpcholesky", rng=0)
    >>> ka.nystrom(KM, idx).rank
    20
    """
    check_choice(method, tuple(METHODS), "sample_landmarks", "method")
    f = METHODS[method]
    gen = as_generator(rng, "sample_landmarks")          # validated on every path, deterministic ones too
    allowed = [p for p in inspect.signature(f).parameters if p not in ("KM", "k", "rng")]
    check_options(options, allowed, f"sample_landmarks(method={method!r})")
    if method in _RANDOM:
        return f(KM, k, rng=gen, **options)
    return f(KM, k, **options)


# --------------------------------------------------------------------------------------------------
# landmark points
# --------------------------------------------------------------------------------------------------
def _assign(X, C):
    """Nearest centre of every row of X (labels) and its squared distance, tile by tile."""
    n = X.shape[0]
    labels = np.empty(n, dtype=np.intp)
    dmin = np.empty(n)
    step = default_tile_rows(C.shape[0])
    for i0 in range(0, n, step):
        D = sqdist_numpy(X[i0:i0 + step], C)
        labels[i0:i0 + step] = np.argmin(D, axis=1)
        dmin[i0:i0 + step] = D[np.arange(D.shape[0]), labels[i0:i0 + step]]
    return labels, dmin


def kmeans_centers(X, k, *, n_iter: int = KMEANS_MAX_ITER, rng=None) -> np.ndarray:
    """Lloyd's k-means centres (Euclidean), seeded by k-means++: landmark points for Nyström.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    k : int, 1 <= k <= n
    n_iter : int, default KMEANS_MAX_ITER
        Maximum Lloyd iterations (stops earlier when the objective decreases by less than
        ``KMEANS_RTOL`` relatively, or the assignment is unchanged).
    rng : seed or Generator

    Returns
    -------
    ndarray of shape (k, d), in the dtype of X (float32 kept)
        Use as ``kernapprox.nystrom(KM, landmarks=centers)``.

    Notes
    -----
    Time O(n k d) per iteration, memory O(tile·k); empty clusters are re-seeded with the point
    farthest from its centre.

    References
    ----------
    S. Lloyd, IEEE Trans. Inf. Theory 1982; Arthur & Vassilvitskii, SODA 2007 (seeding);
    K. Zhang, I. Tsang, J. Kwok, "Improved Nyström low-rank approximation and error analysis",
    ICML 2008 (k-means centres as Nyström landmarks).
    """
    func = "kmeans_centers"
    X = check_points(X, func, "X")
    n = X.shape[0]
    k = check_int(k, func, "k", low=1, high=n)
    n_iter = check_int(n_iter, func, "n_iter", low=0, high=KMEANS_ITER_CAP)
    rng = as_generator(rng, func)
    X64 = np.asarray(X, dtype=np.float64)
    xx = np.einsum("ij,ij->i", X64, X64)
    # k-means++ seeding (Euclidean D²)
    centers = [int(rng.integers(n))]
    D = np.maximum(xx + xx[centers[0]] - 2.0 * X64 @ X64[centers[0]], 0.0)
    for _ in range(1, k):
        if not D.sum() > 0:
            rest = np.setdiff1d(np.arange(n), centers)
            centers.extend(rng.choice(rest, size=k - len(centers), replace=False).tolist())
            break
        c = int(_chol._sample_prop(D, 1, rng)[0])
        centers.append(c)
        np.minimum(D, np.maximum(xx + xx[c] - 2.0 * X64 @ X64[c], 0.0), out=D)
    C = X64[np.asarray(centers)].copy()
    prev = np.inf
    labels = None
    for _ in range(n_iter):
        new_labels, dmin = _assign(X64, C)
        obj = float(dmin.sum())
        if labels is not None and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        M = sp.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(k, n))
        counts = np.asarray(M.sum(axis=1)).ravel()
        sums = M @ X64
        nonempty = counts > 0
        C[nonempty] = sums[nonempty] / counts[nonempty, None]
        if not nonempty.all():
            far = np.argsort(dmin)[::-1][: int((~nonempty).sum())]
            C[~nonempty] = X64[far]
        if prev - obj <= KMEANS_RTOL * max(obj, np.finfo(np.float64).tiny):
            break
        prev = obj
    return C.astype(X.dtype, copy=False)


def segment_means(X, k, *, padding: str = "floor") -> np.ndarray:
    """Nyströmformer landmarks: means of k contiguous segments of a sequence.

    Parameters
    ----------
    X : ndarray of shape (..., n, p)
        A sequence (or a batch of sequences) of n vectors.
    k : int, 1 <= k <= n
        Number of segments. When k divides n the segments have length n/k (the Nyströmformer
        definition) for every ``padding`` except ``"lucidrains_masked"`` (whose divisor carries the
        code's ``+ 1e-8``).
    padding : {"floor", "uneven", "zeros", "lucidrains", "lucidrains_masked", "t2t_vit"}
        The layout when k does not divide n (L = ⌈n/k⌉, pad = kL − n):

        * ``"floor"`` (default): segment j covers rows ``⌊j n/k⌋ … ⌊(j+1) n/k⌋ − 1``;
        * ``"uneven"``: boundaries ``round(j n/k)``;
        * ``"zeros"`` / ``"lucidrains"``: pad zero rows in front, every segment sum divided by L
          (lucidrains ``nystrom-attention`` without a mask);
        * ``"lucidrains_masked"``: the same front padding, each segment sum divided by its count of
          real rows + 1e-8 (lucidrains with a mask of the real rows);
        * ``"t2t_vit"``: s = ⌊n/k⌋; the first ``(s + 1)k − n`` segments have s rows, the others
          s + 1 (mlpen/Nystromformer T2T-ViT ``token_nystromformer``).

    Returns
    -------
    ndarray of shape (..., k, p), in the dtype of X (float32 kept)

    Notes
    -----
    O(n p) time; no randomness.

    References
    ----------
    Y. Xiong et al., "Nyströmformer", AAAI 2021, §3 ("segment-means"); algorithms.md §9.1.
    """
    func = "segment_means"
    X = check_matrix(X, func, "X", ndim=None)
    if X.ndim < 2:
        raise fail(func, "X", "have shape (..., n, p)", f"shape {X.shape}")
    check_choice(padding, ("floor", "uneven", "zeros", "lucidrains", "lucidrains_masked", "t2t_vit"), func,
                 "padding")
    n = X.shape[-2]
    k = check_int(k, func, "k", low=1, high=n)
    lead, p = X.shape[:-2], X.shape[-1]
    L = -(-n // k)
    pad = L * k - n
    if padding == "lucidrains_masked":
        Xp = np.concatenate([np.zeros(lead + (pad, p), dtype=X.dtype), X], axis=-2)
        count = np.clip(np.arange(1, k + 1) * L - pad, 0, L).astype(X.dtype)
        return Xp.reshape(*lead, k, L, p).sum(axis=-2) / (count[:, None] + X.dtype.type(1e-8))
    if n % k == 0:
        return X.reshape(*lead, k, n // k, p).mean(axis=-2)
    if padding in ("zeros", "lucidrains"):
        Xp = np.concatenate([np.zeros(lead + (pad, p), dtype=X.dtype), X], axis=-2)
        return Xp.reshape(*lead, k, L, p).sum(axis=-2) / X.dtype.type(L)
    if padding == "t2t_vit":
        s = n // k
        nk = (s + 1) * k - n
        first = X[..., :nk * s, :].reshape(*lead, nk, s, p).mean(axis=-2)
        last = X[..., nk * s:, :].reshape(*lead, k - nk, s + 1, p).mean(axis=-2)
        return np.concatenate([first, last], axis=-2)
    if padding == "uneven":
        bounds = np.linspace(0, n, k + 1).round().astype(int)
        return np.add.reduceat(X, bounds[:-1], axis=-2) / np.diff(bounds)[:, None].astype(X.dtype)
    starts = (np.arange(k) * n) // k
    counts = np.diff(np.append(starts, n))
    sums = np.add.reduceat(X, starts, axis=-2)
    return (sums / counts[:, None]).astype(X.dtype, copy=False)
