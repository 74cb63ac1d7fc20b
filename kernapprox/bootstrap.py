"""Bootstrap estimates of the error quantiles of "average of i.i.d. rank-one terms" approximations.

An approximation ``K̃ = Z Zᵀ = (1/s) Σ_j u_j u_jᵀ`` built from s i.i.d. draws (random Fourier
features, FAVOR+ positive features, sub-sampling / accumulated sketches ``K S Sᵀ K``…) has a random
error ``ε_s = ρ(K̃, K)``. Yao, Erichson & Lopes estimate its (1 − α) quantile from ONE draw: resample
the s draws with replacement (B times), compute the pseudo-errors ``ε* = ρ(K̃*, K̃)`` and take
their empirical (1 − α) quantile. Since ``ε_s`` scales like ``1/√s``, a pilot estimate at s₀
extrapolates as ``q̂(s) = q̂(s₀)·√(s₀/s)`` (:func:`extrapolate`).

Metrics ρ (``metric=``):

* ``"inf"``: matrix ∞-norm of the difference (max absolute row sum), as ``numpy.linalg.norm(·, inf)``
  in the authors' code;
* ``"max"``: entrywise max |K̃* − K̃|;
* ``"op"``: gap of the top singular values ``|σ₁(K̃*) − σ₁(K̃)|`` (the authors' "op" metric;
  ``|σ₁(Z*)² − σ₁(Z)²|`` for a symmetric K̃ = Z Zᵀ);
* ``"spectral"``: ``‖K̃* − K̃‖₂`` (operator norm of the difference, through a QR of the 2s-column
  factors, never an n×n matrix).

References
----------
Yao, Erichson, Lopes, "Error estimation for random Fourier features", AISTATS 2023 (Algorithm 1,
the extrapolation rule of §3); code ``jwyyy/bootstrappedRFF``; algorithms.md §5.4.
"""
from __future__ import annotations

import numpy as np

from ._tiling import row_tiles, tile_buffer, tile_rows
from ._validation import (as_generator, check_bool, check_choice, check_int, check_matrix, check_probability,
                          check_real, fail, warn)

__all__ = ["bootstrap_error_quantile", "extrapolate", "approximation_error", "METRICS"]

#: Upper bound on the number of bootstrap replicates B (the paper uses 30; quantile estimates need
#: hundreds at most, and each replicate costs O(n s) work).
BOOTSTRAP_MAX_B = 100_000

METRICS = ("inf", "max", "op", "spectral")

def _entrywise(Lq, Lk, Rq, Rk, metric: str) -> float:
    """ρ(Lq Lkᵀ, Rq Rkᵀ) for ρ in {inf, max}, streamed over row tiles of the n×n difference
    (tiles of ``kernapprox._tiling.TILE_BYTES``, two buffers reused for every tile)."""
    n, m = Lq.shape[0], Lk.shape[0]
    step = tile_rows(m, 8, low=16, high=m)
    dt = np.result_type(Lq, Lk, Rq, Rk)
    B1, B2 = tile_buffer(min(step, n), m, dt), tile_buffer(min(step, n), m, dt)
    best = 0.0
    for i0, i1 in row_tiles(n, step):
        D, E = B1[:i1 - i0], B2[:i1 - i0]
        np.matmul(Lq[i0:i1], Lk.T, out=D)
        np.matmul(Rq[i0:i1], Rk.T, out=E)
        np.subtract(D, E, out=D)
        np.abs(D, out=D)
        v = float(D.sum(axis=1).max()) if metric == "inf" else float(D.max())
        best = max(best, v)
    return best


def _weighted_top_sv(Rq, Rk, w) -> float:
    """σ₁(Rq diag(w) Rkᵀ): with Z = Q R (thin QR, Q orthonormal columns) this equals σ₁(Zq diag(w) Zkᵀ)."""
    return float(np.linalg.svd((Rq * w) @ Rk.T, compute_uv=False)[0])


def approximation_error(Zq, Zk, K, metric: str) -> float:
    """ρ(Zq Zkᵀ, K) against a dense reference K (n_q, n_k); used to compute true errors in tests/experiments."""
    func = "approximation_error"
    check_choice(metric, METRICS, func, "metric")
    Zq = check_matrix(Zq, func, "Zq", ndim=2, dtype=np.float64)
    Zk = check_matrix(Zk, func, "Zk", ndim=2, dtype=np.float64)
    K = check_matrix(K, func, "K", ndim=2, dtype=np.float64)
    if Zq.shape[1] != Zk.shape[1]:
        raise fail(func, "Zk", f"have {Zq.shape[1]} columns like `Zq`", f"shape {Zk.shape}")
    if K.shape != (Zq.shape[0], Zk.shape[0]):
        raise fail(func, "K", f"have shape ({Zq.shape[0]}, {Zk.shape[0]})", f"shape {K.shape}")
    D = Zq @ Zk.T - K
    if metric == "inf":
        return float(np.abs(D).sum(axis=1).max())
    if metric == "max":
        return float(np.abs(D).max())
    if metric == "spectral":
        return float(np.linalg.norm(D, 2))
    return abs(float(np.linalg.norm(Zq @ Zk.T, 2)) - float(np.linalg.norm(K, 2)))


def bootstrap_error_quantile(Z, metric: str = "inf", alpha: float = 0.1, B: int = 30, *, X=None, Y=None,
                             groups=None, rng=None, return_samples: bool = False):
    """Bootstrap estimate of the (1 − α) quantile of ``ρ(K̃, K)`` from one draw of features.

    Parameters
    ----------
    Z : ndarray of shape (n, s), a pair ``(Zq, Zk)`` of shapes (n_q, s), (n_k, s), or a FeatureMap
        The approximation is ``K̃ = Z Zᵀ`` (or ``Zq Zkᵀ``) with every column (or every group of
        columns, see ``groups``) one i.i.d. draw, scaled so that K̃ is their average. A FeatureMap
        (e.g. from :func:`kernapprox.random_features`) is transformed on ``X`` (and ``Y``) and its
        ``draw_index`` is used as ``groups``.
    metric : {"inf", "max", "op", "spectral"}
    alpha : float in (0, 1) — the estimated quantile is the (1 − α) one.
    B : int >= 2 — number of bootstrap replicates (the paper uses B = 30).
    X, Y : arrays, only with a FeatureMap ``Z``.
    groups : int ndarray of shape (s,), optional — column j belongs to draw ``groups[j]`` (paired
        sin/cos or hyperbolic features put two columns in one draw); draws are resampled as units.
    rng : None, int or Generator
    return_samples : bool — also return the B pseudo-errors.

    Returns
    -------
    q : float — estimate of the (1 − α) quantile of ε_s.
    samples : ndarray of shape (B,), only with ``return_samples=True``.

    Notes
    -----
    A replicate draws g of the g draws with replacement (each draw's columns together), so
    ``K̃* = (1/g) Σ_t r_t u_t u_tᵀ`` with multinomial counts r_t; the columns of Z already carry the
    1/√g scaling. Cost per replicate: O(n² s) for "inf" / "max" (streamed
    in row tiles); for "op" and "spectral" one thin QR of Z (O(n s²)) up front, then O(s³) per replicate.
    Only valid for i.i.d. draws: a FeatureMap with ``iid = False`` (ORF, SORF, QMC) triggers a warning.

    References
    ----------
    Yao, Erichson, Lopes, AISTATS 2023, Algorithm 1; algorithms.md §5.4.
    """
    func = "bootstrap_error_quantile"
    from .features import FeatureMap
    if isinstance(Z, FeatureMap):
        if X is None:
            raise fail(func, "X", "be given when `Z` is a feature map", None)
        if not Z.iid:
            warn(f"{func}: the {Z.kind!r} features are not i.i.d. draws; the bootstrap assumes they are")
        groups = Z.draw_index if groups is None else groups
        Zq = Z.transform(X).astype(np.float64, copy=False)
        Zk = Zq if Y is None else Z.transform(Y).astype(np.float64, copy=False)
    else:
        if X is not None or Y is not None:
            raise fail(func, "X", "be None unless `Z` is a feature map", "an array", TypeError)
        if isinstance(Z, tuple) or (isinstance(Z, list) and len(Z) == 2 and np.ndim(Z[0]) == 2):
            if len(Z) != 2:
                raise fail(func, "Z", "be an array or a pair (Zq, Zk)", f"a sequence of length {len(Z)}")
            Zq = check_matrix(Z[0], func, "Zq", ndim=2, dtype=np.float64)
            Zk = check_matrix(Z[1], func, "Zk", ndim=2, dtype=np.float64)
            if Zq.shape[1] != Zk.shape[1]:
                raise fail(func, "Z", "hold two factors with the same number of columns",
                           f"shapes {Zq.shape}, {Zk.shape}")
        else:
            Zq = check_matrix(Z, func, "Z", ndim=2, dtype=np.float64)
            Zk = Zq
    check_choice(metric, METRICS, func, "metric")
    alpha = check_probability(alpha, func, "alpha")
    B = check_int(B, func, "B", low=2, high=BOOTSTRAP_MAX_B)
    return_samples = check_bool(return_samples, func, "return_samples")
    s = Zq.shape[1]
    if groups is None:
        groups = np.arange(s)
    groups = np.asarray(groups)
    if groups.shape != (s,) or groups.dtype.kind not in "iu":
        raise fail(func, "groups", f"be an integer array of shape ({s},)", f"shape {groups.shape}")
    labels, inv = np.unique(groups, return_inverse=True)
    g = labels.size
    if g < 2:
        raise fail(func, "Z", "hold at least two independent draws", g)
    members = [np.flatnonzero(inv == t) for t in range(g)]
    gen = as_generator(rng, func)
    sym = Zk is Zq
    if metric in ("op", "spectral"):
        # A resample with multiplicities c_j gives Zq diag(c) Zkᵀ, so with thin QR factors Z = Q R computed
        # once, every replicate costs one SVD of an s×s matrix instead of O(n s²) work:
        #   op:       |σ₁(Rq diag(c) Rkᵀ) − σ₁(Rq Rkᵀ)|,   spectral: σ₁(Rq diag(c − 1) Rkᵀ).
        Rq = np.linalg.qr(Zq, mode="r")
        Rk = Rq if sym else np.linalg.qr(Zk, mode="r")
        base_sv = _weighted_top_sv(Rq, Rk, np.ones(s)) if metric == "op" else None
    samples = np.empty(B)
    for b in range(B):
        pick = gen.integers(0, g, size=g)
        cols = np.concatenate([members[t] for t in pick])
        # a resample keeps the number of draws, so the 1/√s column scaling of Z stays right
        if metric in ("inf", "max"):
            Aq = Zq[:, cols]
            Ak = Aq if sym else Zk[:, cols]
            samples[b] = _entrywise(Aq, Ak, Zq, Zk, metric)
            continue
        counts = np.bincount(cols, minlength=s).astype(float)
        if metric == "op":
            samples[b] = abs(_weighted_top_sv(Rq, Rk, counts) - base_sv)
        else:
            samples[b] = _weighted_top_sv(Rq, Rk, counts - 1.0)
    q = float(np.quantile(samples, 1.0 - alpha))
    return (q, samples) if return_samples else q


def extrapolate(q, s0, s):
    """Extrapolate a quantile estimate from s₀ draws to s draws: ``q·√(s₀/s)`` (Yao et al. 2023, §3).

    Parameters
    ----------
    q : float — (1 − α) quantile estimate at s₀ draws.
    s0 : int > 0 — pilot number of draws.
    s : int or array of ints > 0 — target numbers of draws.

    Returns
    -------
    float or ndarray (shape of ``s``)
    """
    func = "extrapolate"
    q = check_real(q, func, "q", low=0.0)
    s0 = check_real(s0, func, "s0", low=0.0, low_open=True)
    if np.ndim(s) == 0:
        s_arr = np.float64(check_real(s, func, "s", low=0.0, low_open=True))
    else:
        s_arr = check_matrix(s, func, "s", ndim=None, dtype=np.float64)
        if np.any(s_arr <= 0):
            raise fail(func, "s", "hold numbers > 0", f"min {float(s_arr.min()):g}")
    out = q * np.sqrt(float(s0) / s_arr)
    return float(out) if out.ndim == 0 else out
