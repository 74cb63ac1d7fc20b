"""Clustered attention (Vyas, Katharopoulos, Fleuret, NeurIPS 2020) with an exact local band
(algorithms.md §13.2, §13.3), budgeted as §13.1.

Notation: n queries, m keys, head dimension p, budget d; ``Q̂ = Q/p^{1/4}``, ``K̂ = (K − k̄)/p^{1/4}``
with ``k̄`` the mean key (softmax attention is exactly invariant under translating every key, and
centring shortens the keys the scores are built from); ``P = softmax(Q̂K̂ᵀ)``, output ``R = PV``.

Formula
-------
1. **Clusters** (§13.2). The queries ``Q̂`` are clustered into C groups: k-means++ seeding (D²
   sampling, Arthur & Vassilvitskii, SODA 2007; the first seed uniform), assignment to the nearest
   seed, ``n_lloyd`` Lloyd steps, and centroids ``ĉ`` = the members' means.
2. **Centroid rows**: ``P^c = softmax(ĉ K̂ᵀ)`` for every centroid (C·m scores); the plain method
   gives every member i of cluster c the row ``P^c`` (Vyas et al. §3.2, Eq. (7)).
3. **Exact set** of query i (``T_i``): the ``top_k`` keys of its centroid's row (Vyas et al. §3.3,
   "improved clustered"), the first and last ``n_global`` keys, and the local band
   ``|j − ⌊i·m/n⌋| ≤ band`` (truncated at the ends of [0, m); §13.3). The scores ``s_ij = q̂_i·k̂_j``
   are computed exactly on ``T_i``.
4. **Combination.** Every key outside ``T_i`` keeps the centroid's weight. With
   ``rest="centroid"`` (Vyas et al. §3.3, Eq. (10)) the members' exact scores on ``T_i`` are
   renormalised to carry the centroid's mass there:
   ``R_i = m̂_i · softmax_{T_i}(s_i) V_{T_i} + Σ_{j∉T_i} P^c_j v_j``, ``m̂_i = Σ_{j∈T_i} P^c_j``.
   With ``rest="first_order"`` (default) the rest is instead scaled by a first-order estimate of the
   member's own unnormalised weight there: ``e^{s_ij} = e^{ĉ·k̂_j} e^{δ_i·k̂_j}`` with ``δ_i = q̂_i − ĉ``,
   and ``e^{δ_i·k̂_j} ≈ e^{δ_i·k̄_c}`` with ``k̄_c = Σ_j P^c_j k̂_j`` (one more score per query), so
   ``R_i = (Σ_{T_i} e^{s_ij} v_j + ρ_i Σ_{j∉T_i} P^c_j v_j) / (Σ_{T_i} e^{s_ij} + ρ_i (1 − m̂_i))``,
   ``ρ_i = exp(lse_c + δ_i·k̄_c)``, ``lse_c = log Σ_j e^{ĉ·k̂_j}``. Both are exact when ``T_i`` is
   every key, when every query is its own centroid (C = n), and with an all-covering band.
5. **Tilt** (``tilt = s``, first-order rest only). The factor ``e^{δ_i·(k̂_j − k̄_c)}`` dropped in
   step 4 is kept to second order along the top-s principal directions U (p × s) of the offsets
   ``δ_i`` (eigenvectors of ``Σ δδᵀ`` over an evenly strided sample of ``TILT_SAMPLE·s`` queries):
   with ``z_i = Uᵀδ_i``, ``t_cj = Uᵀ(k̂_j − k̄_c)`` and ``y = z_i·t_cj`` every key outside ``T_i`` gets
   the weight ``ρ_i P^c_j (1 + y + y²/2)`` (> 0 for every y). With ``u_i = z_i·Uᵀk̄_c`` and the key
   features ``f_j = [1, KU_j, KU_ja KU_jb (a <= b)]`` (``KU_j = Uᵀk̂_j``; F(s) = 1 + s + s(s+1)/2 of
   them), ``1 + y + y²/2 = g_i·f_j`` with query coefficients ``g_i = [1 − u_i + u_i²/2, (1 − u_i) z_i,
   z_ia z_ib (halved on the diagonal)]``, so the rest's sums ``Σ_{j∉T} P^c_j f(y_ij) [v_j, 1]`` are
   ``g_i · M_c`` with the per-cluster moments ``M_c = Σ_{j∉T_c} P^c_j f_j [v_j, 1]ᵀ`` (F(s) × (pv + 1),
   one tiled contraction for all clusters): m·s products ``Uᵀk̂_j`` and n·s products ``Uᵀδ_i``, not
   n·m. The moments' C·m·F(s)·(pv + 1) multiply-adds are capped at those of B(d) scores with their
   values (:func:`tilt_size`), so their time stays proportional to the budget.

The band and the final normalisation run in one jitted pass over the queries
(:func:`kernapprox._numba.bands.band_combine`).

Budget (§13.1)
--------------
One unit per query–key score or query–centroid distance computed: seeding and assignment n·C, each
Lloyd step n·C, centroid rows C·m, exact scores Σ_i |T_i| (every computed entry, overlaps between the
top-k set and the band included), plus n for ``rest="first_order"``, plus for the tilt m·s + n·s
projections, C·s for the centroids' means and p per sampled offset of the direction estimate.
Averaging (centroids, ``P^cV``,
``k̄_c``), sorting and top-k selection are free. The reference budget is ``B(d) = (n + m)·d + d²``
(= 2nd + d² when m = n: what Skyformer and Nyströmformer spend with d landmarks). The default options
(:func:`clustered_plan`) keep ``n_evals <= B(d)`` and at most ``min(2d, ⌊m/2⌋)`` exact scores per query.
``factors["n_evals"]`` and ``factors["exact_fraction"]`` (exact scores / (n·m)) report the spend.

No entry is chosen by looking at P: the exact sets come from the centroids' rows and from positions.
"""
from __future__ import annotations

import numpy as np

from .._numba.bands import band_combine, quadratic_features, shift_exp_rows, weighted_features
from .._numba.kmeans import centroid_means, kmeanspp_rows, seed_distances
from .._tiling import EPS, out_dtype, row_tiles, tile_buffer, tile_rows
from .._validation import as_generator, check_choice, check_indices, check_int, fail
from ._common import check_d, check_qkv, scaled
from ._protocol import AttentionMethod, v_array, v_auto_int, v_choice, v_optional

__all__ = ["clustered", "clustered_checked", "clustered_plan", "budget", "band_limit", "cluster_count", "exact_cap",
           "centred_inputs", "kmeanspp_seeds", "cluster_queries", "exact_sets", "METHODS"]

_FUNC = "clustered"
RESTS = ("first_order", "centroid")
#: the default plan's clusters cost about B(d)/CLUSTER_SHARE before Lloyd steps
CLUSTER_SHARE = 8
#: ... and at most CLUSTER_MAX in the sub-quadratic regime, budgets B(d) <= n·m/SUBQUADRATIC (where a
#: speed-up of SUBQUADRATIC over exact attention is possible at all): each cluster adds its own moment
#: contraction (m·F(s)·(pv + 1) multiply-adds), top-k selection and small products. Measured on 12
#: MiniLM heads at n = 4096, d = 128: 16 clusters median loss 0.121 at 17.8 ms a call, 8 clusters 0.132
#: at 12 ms (exact attention ~100 ms). Larger budgets keep every cluster they pay for (n = 4096,
#: d = 256: 33 clusters 0.091, 8 clusters 0.120; n = 512, d = 256: 40 clusters 0.026, 8 clusters 0.043)
CLUSTER_MAX = 8
SUBQUADRATIC = 8
#: squared distances below this multiple of eps·(‖x‖² + ‖y‖²) are rounding: set to 0
DIST_ROUNDING = 16
#: offsets δ per tilt direction in the estimate of the principal directions (a strided subsample)
TILT_SAMPLE = 16
#: the default plan's tilt takes at most this share of the budget left after the clusters
TILT_SHARE = 0.8
#: ... and the band at most this share of what the tilt leaves
BAND_SHARE = 0.75
#: widest band half-width of the default plans: a ±8 window keeps what ±16 gave on the MiniLM heads
#: (n = 512: the same median losses at every d) while a band score costs several times the time of a
#: top-k score (strided windows instead of one BLAS product per cluster)
BAND_MAX = 8
#: Lloyd steps of the default plan
N_LLOYD = 1
#: tilt directions of the default plan (at most; :func:`tilt_size`). With 8 clusters at d >= 128, 8
#: directions instead of 6 cost 1.6x the moments' multiply-adds for little accuracy (n = 4096, d = 128,
#: 12 MiniLM heads: median loss 0.129 vs 0.132, 6.5x vs 7.3x faster than exact; n = 512, d = 128, 72
#: heads: 0.044 vs 0.046)
TILT = 6
#: bytes of the moment contraction's key tile (kept in a core's cache: the product is memory-bound)
MOMENT_TILE_BYTES = 1 << 21


# -- budget ------------------------------------------------------------------------------------------
def budget(n: int, m: int, d: int) -> int:
    """The reference budget ``B(d) = (n + m)·d + d²`` (algorithms.md §13.1; 2nd + d² for m = n)."""
    return (n + m) * d + d * d


def band_limit(d: int) -> int:
    """Widest band half-width of the default plans: ``clip(⌊d/4⌋, 2, BAND_MAX)``."""
    return int(min(BAND_MAX, max(2, d // 4)))


def cluster_count(units: float, n: int, m: int, d: int) -> int:
    """Clusters that ``units`` budget units pay for at n + m units each (seeding and assignment n, the
    centroid row m): ``clip(⌊units/(n + m)⌋, 1, n)``, at most ``CLUSTER_MAX`` when
    ``B(d) <= n·m/SUBQUADRATIC`` (the default plans of both clustered methods)."""
    C = int(min(n, max(1, units // (n + m))))
    if budget(n, m, d) * SUBQUADRATIC <= n * m:
        C = min(C, CLUSTER_MAX)
    return C


def exact_cap(m: int, d: int) -> int:
    """At most ``min(2d, ⌊m/2⌋)`` exact scores per query (at least 1), so a "sparse" method stays sparse."""
    return max(1, min(2 * d, m // 2))


def clustered_plan(n: int, m: int, d: int, p: int | None = None) -> dict:
    """Default options of :func:`clustered` for n queries, m keys, head dimension p and budget d (the
    documented rule).

    In this order, each from what the earlier ones leave of ``B(d)``:

    * C clusters with ``C·(n + m) <= B(d)/CLUSTER_SHARE`` (seeding + assignment n·C and centroid
      rows C·m), C = :func:`cluster_count` of ``B/CLUSTER_SHARE``, and ``N_LLOYD`` Lloyd step(s)
      (C = 1 is the mean query: m units, no distance, no Lloyd step); n units for the first-order
      correction;
    * tilt ``s`` = :func:`tilt_size` directions (its moments' multiply-adds stay within those of
      B(d) scores), fewer while its :func:`tilt_units` exceed ``TILT_SHARE`` of what is left;
    * band: the widest ``w <=`` :func:`band_limit`, w >= 2, whose 2w + 1 scores per query take at
      most half the per-query cap and ``BAND_SHARE`` of what is left (only when m = n);
    * first/last ``n_global = 1`` key (the [CLS]/[SEP] positions of BERT-style inputs) if they take
      at most half of what is left;
    * ``top_k`` = what is left per query, capped so that every query's exact set stays within
      :func:`exact_cap`.

    Returns ``{"n_clusters", "n_lloyd", "top_k", "band", "n_global", "tilt"}``.
    """
    B = budget(n, m, d)
    cap = exact_cap(m, d)
    C = cluster_count(B / CLUSTER_SHARE, n, m, d)
    L = N_LLOYD if C > 1 else 0
    left = B - (C * ((1 + L) * n + m) if C > 1 else m) - n      # clusters (one: the mean query), ρ_i
    pp = p if p is not None else 64
    s = tilt_size(n, m, d, C, pp)
    while s > 0 and tilt_units(n, m, C, s, pp) > TILT_SHARE * left:
        s -= 1
    left -= tilt_units(n, m, C, s, pp)
    band = None
    if n == m:                                                    # widest w <= band_limit(d) that fits
        for w in range(band_limit(d), 1, -1):
            if 2 * w + 1 <= cap // 2 and n * (2 * w + 1) <= BAND_SHARE * left:
                band = w
                break
    nb = 0 if band is None else 2 * band + 1                    # scores per query of the band
    left -= n * nb
    g = 1 if m >= 8 and n * 2 <= left // 2 else 0
    left -= n * 2 * g
    top_k = int(max(0, min(m, cap - nb - 2 * g, left // n)))
    return {"n_clusters": C, "n_lloyd": L, "top_k": top_k, "band": band, "n_global": g, "tilt": s}


# -- building blocks (shared with the sparse + low-rank method) -------------------------------------------
def centred_inputs(Q, K, V):
    """``(Q̂, K̂, V)`` in float64: ``Q̂ = Q/p^{1/4}``, ``K̂ = (K − mean key)/p^{1/4}`` (softmax is invariant
    to translating the keys)."""
    Q = np.asarray(Q, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    Kh = K - K.mean(axis=0)
    return scaled(Q), scaled(Kh, out=Kh), np.asarray(V, dtype=np.float64)


def _seed_distances(X, seeds):
    """(n, C) squared distances of the rows of X to the rows ``seeds`` (the seeding's own routine)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    D = np.empty((X.shape[0], len(seeds)))
    seed_distances(X, np.einsum("ij,ij->i", X, X), np.asarray(seeds, dtype=np.int64), DIST_ROUNDING * EPS, D)
    return D


def kmeanspp_seeds(X, C: int, gen, *, return_distances: bool = False):
    """k-means++ seeding (D² sampling) of C rows of X: the first uniform, each next with probability
    ∝ the squared distance to the nearest seed so far (Arthur & Vassilvitskii, SODA 2007, §2.2;
    :func:`kernapprox._numba.kmeans.kmeanspp_rows`, with ``gen.integers(n)`` for the first seed and
    ``gen.random(C − 1)`` for the others).

    Stops early (fewer seeds) when every remaining distance is zero (fewer distinct rows than C).
    With ``return_distances`` also returns the (n, C') squared distances to the seeds (n·C' units).
    """
    n = X.shape[0]
    first = int(gen.integers(n))
    if C == 1:                                                      # one cluster: nothing to measure
        seeds = np.array([first], dtype=np.intp)
        return (seeds, None) if return_distances else seeds
    u = gen.random(C - 1)
    X = np.ascontiguousarray(X, dtype=np.float64)
    D = np.empty((n, C))
    seeds = kmeanspp_rows(X, np.einsum("ij,ij->i", X, X), first, u, DIST_ROUNDING * EPS, D).astype(np.intp)
    return (seeds, D[:, :seeds.size]) if return_distances else seeds


def cluster_queries(X, seeds, n_lloyd: int, distances=None):
    """Assign the rows of X to the nearest seed, run ``n_lloyd`` Lloyd steps, return ``(labels,
    centroids, units)``: centroids are the members' means (a seed's own row for an empty cluster)
    and ``units`` the n·C·(1 + n_lloyd) distances computed (none for a single cluster)."""
    n = X.shape[0]
    if len(seeds) == 1:                                             # one cluster: the mean query, no distance
        return np.zeros(n, dtype=np.intp), X.mean(axis=0, keepdims=True), 0
    X = np.ascontiguousarray(X, dtype=np.float64)
    if distances is None:
        distances = _seed_distances(X, seeds)
    C = distances.shape[1]
    labels = np.argmin(distances, axis=1)
    cent = X[seeds].copy()
    units = n * C
    for _ in range(n_lloyd):
        centroid_means(X, labels, np.bincount(labels, minlength=C), cent)
        Dm = X @ cent.T
        Dm *= -2.0
        Dm += np.einsum("ij,ij->i", cent, cent)
        labels = np.argmin(Dm, axis=1)
        units += n * C
    centroid_means(X, labels, np.bincount(labels, minlength=C), cent)
    return labels, cent, units


def exact_sets(lc, top_k: int, n_global: int, m: int):
    """Per-cluster exact key sets: the ``top_k`` largest entries of each centroid row ``lc`` (C, m)
    together with the first and last ``n_global`` keys; returns a list of sorted index arrays."""
    C = lc.shape[0]
    k = int(min(top_k, m))
    g = min(n_global, m)
    glob = np.arange(m, dtype=np.intp) if 2 * g >= m else np.r_[np.arange(g), np.arange(m - g, m)].astype(np.intp)
    if k == 0:
        return [glob] * C
    if k == m:
        return [np.arange(m, dtype=np.intp)] * C
    top = np.argpartition(lc, m - k, axis=1)[:, m - k:]
    if glob.size == 0:
        return list(np.sort(top, axis=1).astype(np.intp))
    mask = np.zeros((C, m), dtype=bool)
    np.put_along_axis(mask, top, True, axis=1)
    mask[:, glob] = True
    return [np.flatnonzero(row) for row in mask]


def band_windows(n: int, m: int, w: int):
    """Keys of the exact band ``|j − ⌊i·m/n⌋| <= w`` (truncated at the ends of [0, m)).

    Returns ``(keys, valid, computed)``: ``keys`` (n, 2w + 1) the key ``⌊i·m/n⌋ − w + k`` at window
    position k (clipped into [0, m), so it can index), ``valid`` (n, 2w + 1) whether that position is
    a real key, and ``computed`` the number of real query–key scores (at most 2w + 1 per query)."""
    W = 2 * w + 1
    raw = ((np.arange(n, dtype=np.int64) * m) // n - w)[:, None] + np.arange(W)[None, :]
    valid = (raw >= 0) & (raw < m)
    return np.clip(raw, 0, m - 1), valid, band_count(n, m, w)


def band_count(n: int, m: int, w: int) -> int:
    """``Σ_i |{j in [0, m): |j − ⌊i·m/n⌋| <= w}|``, the band's scores (O(n), no (n, 2w + 1) array)."""
    ctr = (np.arange(n, dtype=np.int64) * m) // n
    return int((np.minimum(ctr + w, m - 1) - np.maximum(ctr - w, 0) + 1).sum())


def _windows(X, n: int, w: int, rows=slice(None)):
    """(len(rows), q, 2w + 1) array whose [i, :, k] is ``X[⌊i·m/n⌋ − w + k]`` (zero outside [0, m)):
    a strided view of the zero-padded X when n = m, a gathered copy of the rows' windows otherwise."""
    m, q = X.shape
    Xp = np.zeros((m + 2 * w, q))
    Xp[w:w + m] = X
    view = np.lib.stride_tricks.sliding_window_view(Xp, 2 * w + 1, axis=0)       # (m, q, W)
    return view[rows] if n == m else view[((np.arange(n, dtype=np.int64) * m) // n)[rows]]


def _band_tiles(n: int, w: int):
    """Query tiles bounding the gathered windows (n != m) to about TILE_BYTES."""
    return [slice(i0, i1) for i0, i1 in row_tiles(n, tile_rows(2 * w + 1, 32, n=n))]


def band_products(A, B, w: int):
    """``S[i, k] = a_i · b_{key(i, k)}`` on the band of :func:`band_windows` (0 where the key is
    outside [0, m); mask with ``valid``): (n, 2w + 1), one length-q product per band entry."""
    n = A.shape[0]
    if n == B.shape[0]:
        return np.matmul(A[:, None, :], _windows(B, n, w))[:, 0]
    S = np.empty((n, 2 * w + 1))
    for t in _band_tiles(n, w):
        S[t] = np.matmul(A[t, None, :], _windows(B, n, w, t))[:, 0]
    return S


def band_apply(E, X, w: int):
    """``Σ_k E[i, k] X[key(i, k)]`` over the band of :func:`band_windows`: (n, q)."""
    n = E.shape[0]
    if n == X.shape[0]:
        return np.matmul(E[:, None, :], _windows(X, n, w).transpose(0, 2, 1))[:, 0]
    out = np.empty((n, X.shape[1]))
    for t in _band_tiles(n, w):
        out[t] = np.matmul(E[t, None, :], _windows(X, n, w, t).transpose(0, 2, 1))[:, 0]
    return out


# -- the method ----------------------------------------------------------------------------------------
def _check_opt_int(value, name, low, high=None):
    if isinstance(value, str):
        if value != "auto":
            raise fail(_FUNC, name, "be 'auto' or an integer", repr(value))
        return None
    return check_int(value, _FUNC, name, low=low, high=high)


def _options(n, m, d, n_clusters, n_lloyd, top_k, band, n_global, seeds, tilt="auto", p=None):
    """Resolve the named options against :func:`clustered_plan` (explicit values win)."""
    plan = clustered_plan(n, m, d, p) if d is not None else None
    vals = {}
    for name, v, low in (("n_clusters", n_clusters, 1), ("n_lloyd", n_lloyd, 0), ("top_k", top_k, 0),
                         ("n_global", n_global, 0), ("tilt", tilt, 0)):
        vals[name] = _check_opt_int(v, name, low)
    if band is None:
        vals["band"] = -1
    else:
        b = _check_opt_int(band, "band", 0)
        vals["band"] = None if b is None else b
    if seeds is not None and vals["n_clusters"] is None:
        vals["n_clusters"] = int(np.asarray(seeds).size)
    if vals["tilt"] is None and plan is None:
        vals["tilt"] = 0                                            # no budget given: no tilt
    missing = [k for k, v in vals.items() if v is None]
    if missing and plan is None:
        raise fail(_FUNC, "d", f"be given to choose {', '.join(missing)} (or give them all)", None)
    for k in missing:
        vals[k] = plan[k] if not (k == "band" and plan[k] is None) else -1
    if vals["n_clusters"] > n:
        raise fail(_FUNC, "n_clusters", f"be <= the number of queries n = {n}", vals["n_clusters"])
    vals["top_k"] = min(vals["top_k"], m)
    return vals


def _draw(Q, K, V, *, d=None, rng=None, n_clusters="auto", n_lloyd="auto", top_k="auto", band="auto",
          n_global="auto", rest="first_order", tilt="auto", seeds=None) -> dict:
    """The randomness of one call: the k-means++ seeds (query indices), drawn on the data."""
    if seeds is not None:
        return {"seeds": np.asarray(seeds)}
    if d is not None:
        d = check_d(d, _FUNC)
    n, m = Q.shape[0], K.shape[0]
    C = _check_opt_int(n_clusters, "n_clusters", 1)
    if C is None:
        C = _options(n, m, d, n_clusters, n_lloyd, top_k, band, n_global, None, p=Q.shape[1])["n_clusters"]
    elif C > n:
        raise fail(_FUNC, "n_clusters", f"be <= the number of queries n = {n}", C)
    Qh = scaled(np.asarray(Q, dtype=np.float64))
    return {"seeds": kmeanspp_seeds(Qh, C, as_generator(rng, _FUNC))}


def tilt_size(n: int, m: int, d: int, C: int, p: int, pv: int | None = None) -> int:
    """Largest tilt ``s <= min(TILT, p)`` whose moment contraction (module docstring, step 5) costs at
    most the multiply-adds of ``B(d)`` scores with their values: ``C·m·F(s)·(pv + 1) <= B(d)·(p + pv)``,
    ``F(s)`` = :func:`tilt_features`. Keeps the time of the averaging (free in §13.1 units)
    proportional to the budget."""
    pv = p if pv is None else pv
    s = int(min(TILT, p))
    while s > 0 and C * m * tilt_features(s) * (pv + 1) > budget(n, m, d) * (p + pv):
        s -= 1
    return s


def tilt_units(n: int, m: int, C: int, s: int, p: int) -> int:
    """Budget units of an s-direction tilt: the projections ``K̂U`` (m·s) and ``δU`` (n·s), the
    centroids' ``k̄_c U`` (C·s) and p per offset in the direction estimate (at most ``TILT_SAMPLE·s``)."""
    return (m + n + C + TILT_SAMPLE * p) * s if s else 0


def tilt_features(s: int) -> int:
    """``F(s) = 1 + s + s(s + 1)/2``: the moments ``[1, t_a, t_a t_b (a <= b)]`` of the tilt."""
    return 1 + s + s * (s + 1) // 2


def _rest_moments(Wr, V, KU):
    """``M[c] = Σ_j Wr[c, j] f_j [v_j, 1]`` for the key features ``f_j = [1, KU_j, KU_ja KU_jb (a <= b)]``
    (``KU`` None: ``f_j = [1]``): (C, F, pv + 1). The values' part by key tiles of one (pv × t)·(t × C·F)
    product, the mass part ``Σ_j Wr[c, j] f_j`` as ``Wr F`` (pv rows, not pv + 1: the product's row
    blocks stay whole)."""
    C, m = Wr.shape
    pv = V.shape[1]
    if KU is None:
        M = np.empty((C, 1, pv + 1))
        np.matmul(Wr, V, out=M[:, 0, :pv])
        M[:, 0, pv] = Wr.sum(axis=1)
        return M
    nf = tilt_features(KU.shape[1])
    F = np.empty((m, nf))
    ones = np.ones(m)
    quadratic_features(KU, ones, ones, 1.0, F)
    Mv = np.zeros((pv, C * nf))
    t = tile_rows(C * nf, budget=MOMENT_TILE_BYTES, n=m)
    X = tile_buffer(t, C * nf, np.float64).reshape(t, C, nf)
    for j0, j1 in row_tiles(m, t):
        x = X[:j1 - j0]
        weighted_features(Wr, F, j0, x)
        Mv += V[j0:j1].T @ x.reshape(j1 - j0, C * nf)
    M = np.empty((C, nf, pv + 1))
    M[:, :, :pv] = Mv.reshape(pv, C, nf).transpose(1, 2, 0)
    M[:, :, pv] = Wr @ F
    return M


def _combine(Qh, Kh, V, labels, cent, lc, sets, band, rest, out, tilt=0):
    """Rows of the output from the centroid logits ``lc`` (C, m) and the exact sets (module docstring,
    steps 4–5); returns the number of exact scores computed, the largest exact set of a query and the
    tilt's units.

    The queries are taken in cluster order (``order``; every per-query array below is in that
    order, ``pos`` maps a query back to its place). The rest ``Σ_{j∉T_c} P^c_j f(y_ij) [v_j, 1]`` of
    every member of cluster c is ``g_i · M[c]`` with the query coefficients ``g_i`` of step 5
    (:func:`kernapprox._numba.bands.quadratic_features`) and the per-cluster moments ``M[c]`` of
    :func:`_rest_moments` (f = 1 without a tilt); one product per cluster for the members' exact
    scores on T_c and their weighted values; the band and the normalisation in one pass
    (:func:`kernapprox._numba.bands.band_combine`). The per-row shift ``a_i`` (the largest exponent
    of the row) keeps every exponential <= 1."""
    n, m, pv = Qh.shape[0], Kh.shape[0], V.shape[1]
    C = cent.shape[0]
    lse = lc.max(axis=1)
    Pc = lc - lse[:, None]
    np.exp(Pc, out=Pc)
    Z = Pc.sum(axis=1)
    Pc /= Z[:, None]
    lse += np.log(Z)
    first = rest == "first_order"
    Wr = Pc.copy()                                                  # the centroid weights outside T_c
    for c in range(C):
        Wr[c, sets[c]] = 0.0
    t_units = 0
    s = int(min(tilt, Qh.shape[1])) if first else 0
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(C + 1))
    pos = np.empty(n, dtype=np.intp)
    pos[order] = np.arange(n)
    ls = labels[order]
    Qs = Qh[order]
    if first:
        kbar = Pc @ Kh                                              # (C, p)
        logr = np.empty(n)                                          # lse_c + δ_i·k̄_c, δ_i = q̂_i − ĉ
        for c in range(C):
            np.matmul(Qs[bounds[c]:bounds[c + 1]], kbar[c], out=logr[bounds[c]:bounds[c + 1]])
        logr += (lse - np.einsum("cp,cp->c", cent, kbar))[ls]
        a = logr.copy()
    else:
        a = np.full(n, -np.inf)
    if s:
        # second-order tilt of the rest along the top-s principal directions U of δ (step 5):
        # y_ij = z_i·(KU_j − bc_c) with z = δU, KU = K̂U, bc = k̄_c U
        at = np.arange(0, n, max(1, n // (TILT_SAMPLE * s)))[:TILT_SAMPLE * s]
        sub = Qh[at] - cent[labels[at]]                             # the offsets of an evenly strided sample
        top = float(np.max(np.abs(sub), initial=0.0))
        if not (np.isfinite(top) and top > 0.0):                   # every offset 0 (or overflowed): no tilt
            s = 0
    if s:
        sub = sub / top                                             # scale-free: Σ δδᵀ cannot overflow
        U = np.linalg.eigh(sub.T @ sub)[1][:, ::-1][:, :s]        # (p, s)
        KU = Kh @ U
        z = Qs @ U                                                  # δ_i U
        z -= (cent @ U)[ls]
        u = np.einsum("is,is->i", z, (kbar @ U)[ls])
        t_units = m * s + n * s + sub.shape[0] * Qh.shape[1] + C * s
        M = _rest_moments(Wr, V, KU)
        G = np.empty((n, M.shape[1]))
        quadratic_features(z, 1.0 - u + 0.5 * u * u, 1.0 - u, 0.5, G)
        restV = np.empty((n, pv + 1))
        for c in range(C):
            np.matmul(G[bounds[c]:bounds[c + 1]], M[c], out=restV[bounds[c]:bounds[c + 1]])
    else:
        M = _rest_moments(Wr, V, None)
        restV = M[ls, 0]
        z, KU, u = np.zeros((n, 0)), np.zeros((m, 0)), np.zeros(n)
    n_exact = 0
    largest = max(t.size for t in sets)
    num, den = np.zeros((n, pv)), np.zeros(n)
    buf = np.empty(int(np.diff(bounds).max()) * largest)
    for c in range(C):                                              # exact scores on T_c
        b0, b1 = bounds[c], bounds[c + 1]
        T = sets[c]
        if b1 == b0 or T.size == 0:
            continue
        E = np.matmul(Qs[b0:b1], Kh[T].T, out=buf[:(b1 - b0) * T.size].reshape(b1 - b0, T.size))
        shift_exp_rows(E, a[b0:b1], den[b0:b1])
        np.matmul(E, V[T], out=num[b0:b1])
        n_exact += (b1 - b0) * T.size
    w = int(band)                                                   # -1: no band
    if w >= 0:
        n_exact += band_count(n, m, w)
        largest += 2 * w + 1
    Pm = Pc                                                         # -1 marks the keys of T_c
    for c in range(C):
        Pm[c, sets[c]] = -1.0
    band_combine(Qh, Kh, np.ascontiguousarray(V), labels.astype(np.intp), pos, Pm, z, np.ascontiguousarray(KU), u,
                 w, a, num, den, logr if first else a, restV[:, :pv], np.ascontiguousarray(restV[:, pv]), first, out)
    return n_exact, int(largest), t_units


def clustered(Q, K, V, *, d=None, rng=None, return_factors: bool = False, n_clusters="auto", n_lloyd="auto",
              top_k="auto", band="auto", n_global="auto", rest: str = "first_order", tilt="auto", seeds=None):
    """Clustered attention with exact top-k keys per cluster and an exact local band, one head.

    Parameters
    ----------
    Q : ndarray of shape (n, p)
    K : ndarray of shape (m, p)
    V : ndarray of shape (m, pv)
    d : int
        Budget: the defaults spend at most ``B(d) = (n + m)d + d²`` units (module docstring) with at
        most ``min(2d, ⌊m/2⌋)`` exact scores per query (:func:`clustered_plan`).
    rng : None, int, SeedSequence or Generator
        Draws the k-means++ seeds when ``seeds`` is not given.
    return_factors : bool
        Also return ``{"labels", "centroids", "seeds", "exact_sets", "band", "n_evals",
        "exact_fraction", "exact_per_query", "budget", ...}``.
    n_clusters, n_lloyd, top_k, band, n_global : int or "auto"
        Number of query clusters C; Lloyd steps after the seeding; exact keys per cluster (0: the
        plain clustered method); half-width w of the exact band ``|j − ⌊i·m/n⌋| <= w`` (None: no
        band); first and last keys computed exactly for every query. ``"auto"``: from ``d`` by
        :func:`clustered_plan`.
    rest : {"first_order", "centroid"}
        Weight of the keys outside the exact set (module docstring, step 4): Vyas et al.'s mass
        matching (``"centroid"``) or a first-order estimate of the member's own weight.
    tilt : int or "auto"
        Directions of the second-order tilt of the rest (step 5; first-order rest only, 0: none).
    seeds : ndarray of int of shape (C,), optional
        Pre-drawn k-means++ seeds (query indices), from :func:`draw <kernapprox.attention.draw_randomness>`.

    Returns
    -------
    out : ndarray of shape (n, pv), the dtype of the inputs (float32 stays float32; computed in float64)
    factors : dict, only with ``return_factors=True``

    Notes
    -----
    Time O(n C (1 + n_lloyd) p + C m (p + pv) + Σ_i |T_i| (p + pv) + C m F(s) (pv + 1)) (the last term:
    the tilt's moments, F(s) = 1 + s + s(s + 1)/2); memory O(C m + n (pv + F(s)) + the largest cluster
    × |T|). Cross-attention (n != m): the band follows the diagonal ``j ≈ i·m/n`` (by default
    it is used only when m = n).

    References
    ----------
    A. Vyas, A. Katharopoulos, F. Fleuret, "Fast Transformers with Clustered Attention", NeurIPS 2020,
    §3.2 (Eq. (7)), §3.3 (Eq. (10)); Arthur & Vassilvitskii, SODA 2007 (k-means++);
    Beltagy, Peters, Cohan, "Longformer", 2020 (local window).

    Examples
    --------
    >>> import numpy as np
    >>> Q, K, V = np.random.default_rng(0).normal(size=(3, 256, 16))
    >>> out, f = clustered(Q, K, V, d=32, rng=0, return_factors=True)
    >>> out.shape, f["n_evals"] <= f["budget"]
    ((256, 16), True)
    """
    Q, K, V = check_qkv(Q, K, V, _FUNC)
    return clustered_checked(Q, K, V, d=d, rng=rng, return_factors=return_factors, n_clusters=n_clusters,
                             n_lloyd=n_lloyd, top_k=top_k, band=band, n_global=n_global, rest=rest, tilt=tilt,
                             seeds=seeds)


def clustered_checked(Q, K, V, *, d=None, rng=None, return_factors: bool = False, n_clusters="auto", n_lloyd="auto",
                      top_k="auto", band="auto", n_global="auto", rest: str = "first_order", tilt="auto", seeds=None):
    """:func:`clustered` on a head that already passed :func:`kernapprox.attention._common.check_qkv`
    (finite, real, one working dtype; the options are validated here), so that a caller that has
    validated the inputs does not read them once more."""
    dt = out_dtype(Q, K, V)
    if d is not None:
        d = check_d(d, _FUNC)
    check_choice(rest, RESTS, _FUNC, "rest")
    n, m = Q.shape[0], K.shape[0]
    opts = _options(n, m, d, n_clusters, n_lloyd, top_k, band, n_global, seeds, tilt, p=Q.shape[1])
    Qh, Kh, V64 = centred_inputs(Q, K, V)
    gen = as_generator(rng, _FUNC)
    if seeds is None:
        sd, dist = kmeanspp_seeds(Qh, opts["n_clusters"], gen, return_distances=True)
    else:
        sd, dist = check_indices(seeds, n, _FUNC, "seeds"), None
        if sd.size != opts["n_clusters"]:
            raise fail(_FUNC, "n_clusters", f"equal the number of given seeds ({sd.size})", opts["n_clusters"])
    labels, cent, units = cluster_queries(Qh, sd, opts["n_lloyd"], dist)
    C = cent.shape[0]
    lc = cent @ Kh.T                                                # (C, m) centroid logits
    units += C * m
    sets = exact_sets(lc, opts["top_k"], opts["n_global"], m)
    out = np.empty((n, V.shape[1]), dtype=np.float64)
    tilt_s = opts["tilt"] if rest == "first_order" else 0
    n_exact, largest, tilt_units = _combine(Qh, Kh, V64, labels, cent, lc, sets, opts["band"], rest, out, tilt_s)
    units += n_exact + tilt_units + (n if rest == "first_order" else 0)
    out = out.astype(dt, copy=False)
    if not return_factors:
        return out
    factors = {"labels": labels, "centroids": cent, "seeds": sd, "exact_sets": sets,
               "band": None if opts["band"] < 0 else opts["band"], "n_clusters": C, "n_lloyd": opts["n_lloyd"],
               "top_k": opts["top_k"], "n_global": opts["n_global"], "rest": rest, "tilt": tilt_s,
               "n_evals": int(units),
               "exact_scores": int(n_exact), "exact_fraction": n_exact / (n * m), "exact_per_query": int(largest),
               "budget": None if d is None else budget(n, m, d), "key_shift": K.mean(axis=0, dtype=np.float64)}
    return out, factors


METHODS = (AttentionMethod(
    name="clustered", formula=clustered, draw=_draw,
    options={"n_clusters": v_auto_int(1), "n_lloyd": v_auto_int(0), "top_k": v_auto_int(0),
             "band": v_auto_int(0, none_ok=True), "n_global": v_auto_int(0), "rest": v_choice(*RESTS),
             "tilt": v_auto_int(0), "seeds": v_optional(v_array)},
    per_item_options={"seeds": 1},
    summary="clustered queries (k-means++), exact top-k keys per cluster and a local band (Vyas et al. 2020)"),)
