"""Sparse + low-rank attention (Scatterbrain: Chen, Dao, Winsor, Song, Rudra, Ré, NeurIPS 2021),
with the sparse support from query clusters and an exact band (algorithms.md §13.4), budgeted as §13.1.

Notation as :mod:`kernapprox.attention._clustered`: ``Q̂ = Q/p^{1/4}``, ``K̂`` the centred keys over
``p^{1/4}``, ``A = exp(Q̂K̂ᵀ)``, output ``R = D⁻¹AV`` with ``D = diag(A1)``.

Formula (Scatterbrain §3, Eq. (2)–(3))
--------------------------------------
``A ≈ S + L``: ``L = Φ_Q Φ_Kᵀ`` a rank-r estimate and ``S`` sparse on a support Ω,
``S_ij = A_ij − L_ij`` for (i, j) ∈ Ω (the exact score minus the low-rank estimate there), 0 elsewhere.
Numerator and row sums come from the same ``S + L``::

    num_i = Φ_Q[i] (Φ_Kᵀ V) + Σ_{j∈Ω_i} (A_ij − L_ij) v_j,   den_i = Φ_Q[i] (Φ_Kᵀ 1) + Σ_{j∈Ω_i} (A_ij − L_ij),
    R̃_i = num_i / den_i.

* ``lowrank="clusters"``: the rank-C estimate of clustered attention, ``L_ij = ρ_i P^{c(i)}_j`` (row i a
  multiple of its cluster's centroid row, ρ_i the first-order weight of
  :mod:`kernapprox.attention._clustered`); with Ω the clusters' exact sets, ``S + L`` is exactly
  :func:`kernapprox.attention._clustered.clustered` with ``rest="first_order"``, which computes it.
* ``lowrank="auto"`` (default): ``"nystrom"`` as a pure low rank (all of the budget, no sparse
  part) when the logit scale ``σ = median_i ‖q̂_i‖ · rms_j ‖k̂_j‖`` (:func:`logit_scale`) is below
  ``SMOOTH_SCALE`` = 1.5 — every row's logits then spread over a few units, the rows are close to
  uniform and the attention matrix is numerically low rank (MiniLM: σ ≈ 0.6–0.75 on every
  initialised head, ≥ 2.9 on every pretrained one) — and ``"clusters"`` otherwise. σ costs
  O((n + m) p) averaging and no score. The sparse options then configure the clusters; ``k`` /
  ``indices`` the smooth regime.
* ``lowrank="nystrom"``: the augmented Nyström factor of the softmax kernel on the centred
  keys (:func:`kernapprox.augmented_nystrom` with ``Exponential(1)``, core ``"signed_eig"``, Skyformer §2.8),
  landmarks chosen on the Gaussian form (:func:`kernapprox.attention._landmarks.gaussian_landmarks`,
  ``landmarks="kmeanspp"``) or uniformly (``"uniform2n"``).
* ``lowrank="favor"``: positive orthogonal random features (FAVOR+,
  :class:`kernapprox.features.SoftmaxFeatures`), the estimator of the Scatterbrain paper.
* Ω: for every query the ``top_k`` keys of its cluster's centroid row, the first/last ``n_global``
  keys and the band ``|j − ⌊i·m/n⌋| <= band`` (the exact sets of :func:`clustered`).

Rows with ``den_i <= 0`` (possible: L is not entrywise positive) are clipped to a tiny positive value
and counted (``factors["den_clipped"]``); :func:`kernapprox.attention.approximate` recomputes such
rows exactly by default (range safeguard).

Budget (§13.1): low rank ``(n + m) r + r²`` (Nyström; the Gaussian-form landmark selection evaluates
the same kernel columns and is reported separately as ``factors["selection_evals"]``) or ``(n + m) r``
(FAVOR+ projections); clusters n·C + C·m; exact scores on Ω; the low-rank entries on Ω at r/p units
each. The defaults (:func:`sparse_lowrank_plan`) keep ``n_evals <= B(d) = (n + m) d + d²`` with at most
``min(2d, ⌊m/2⌋)`` exact scores per query.
"""
from __future__ import annotations

import math

import numpy as np

from .. import features as _features
from .. import kernels as _kernels
from .._tiling import out_dtype
from .._validation import as_generator, check_choice, check_indices, check_int, fail
from ..nystrom_general import augmented_nystrom
from ._clustered import (band_apply, band_limit, band_products, band_windows, budget, centred_inputs, cluster_count,
                         cluster_queries, clustered_checked, exact_cap, exact_sets, kmeanspp_seeds)
from ._clustered import METHODS as _CLUSTERED
from ._common import check_d, check_qkv, clip_row_sums, scaled
from ._landmarks import gaussian_landmarks
from ._protocol import AttentionMethod, v_array, v_auto_int, v_choice, v_optional

__all__ = ["sparse_lowrank", "sparse_lowrank_plan", "logit_scale", "regime", "METHODS"]

_FUNC = "sparse_lowrank"
LOWRANKS = ("auto", "nystrom", "favor", "clusters")
LANDMARKS = ("kmeanspp", "rpcholesky", "uniform2n")
#: share of the budget B(d) the default plan gives the low-rank part
LOWRANK_SHARE = 0.5
#: below this logit scale (:func:`logit_scale`) the default plan is pure low rank
SMOOTH_SCALE = 1.5


def logit_scale(Q, K) -> float:
    """``σ = median_i ‖q̂_i‖ · rms_j ‖k̂_j‖`` (centred keys): by Cauchy–Schwarz a typical row's logits
    ``q̂_i·k̂_j`` spread over about ±σ (``‖q̂‖·‖k̂‖ = ‖q‖·‖k − k̄‖/√p``); O((n + m) p) averaging, no
    score evaluated."""
    q = np.median(np.sqrt(np.einsum("ij,ij->i", Q, Q, dtype=np.float64)))          # ‖q_i‖, no copy of Q
    Kc = K - K.mean(axis=0, dtype=np.float64)
    return float(q * np.sqrt(np.einsum("ij,ij->", Kc, Kc) / K.shape[0]) / np.sqrt(Q.shape[1]))


def _largest_rank(cost_cap: float, n: int, m: int, lowrank: str) -> int:
    r = 1
    while r + 1 <= n + m and (n + m) * (r + 1) + ((r + 1) ** 2 if lowrank == "nystrom" else 0) <= cost_cap:
        r += 1
    return r


def sparse_lowrank_plan(n: int, m: int, d: int, p: int, lowrank: str = "nystrom", scale: float | None = None) -> dict:
    """Default options of :func:`sparse_lowrank` for n queries, m keys, head dim p and budget d.

    * Smooth regime (``scale`` = :func:`logit_scale` below ``SMOOTH_SCALE``: every row's logits lie
      within a few units, the rows are nearly uniform and the attention matrix is numerically low
      rank): the whole budget goes to the low rank, ``r = d`` for Nyström (cost (n + m)d + d²), no
      sparse part.
    * Otherwise: rank r, the largest with low-rank cost ``(n + m) r + r²`` (Nyström; ``(n + m) r``
      FAVOR+) at most ``LOWRANK_SHARE · B(d)``; C clusters with ``C (n + m)`` at most a quarter of
      the rest (:func:`kernapprox.attention._clustered.cluster_count`: at most 8 in the
      sub-quadratic regime); band ``w =`` :func:`kernapprox.attention._clustered.band_limit` when
      m = n and its 2w + 1 scores per query fit in half the per-query cap and in the rest; first/last key; ``top_k`` the
      remaining budget per query, each exact entry costing ``1 + r/p`` (score and low-rank entry),
      capped by :func:`kernapprox.attention._clustered.exact_cap`.
    """
    B = budget(n, m, d)
    if scale is not None and scale < SMOOTH_SCALE:
        return {"rank": _largest_rank(B, n, m, lowrank), "n_clusters": 0, "top_k": 0, "band": None,
                "n_global": 0}
    r = _largest_rank(LOWRANK_SHARE * B, n, m, lowrank)
    rest = B - (n + m) * r - (r * r if lowrank == "nystrom" else 0)
    C = cluster_count(rest / 4, n, m, d)
    rest -= C * (n + m)
    per = 1.0 + r / p
    cap = exact_cap(m, d)
    e = int(rest // (n * per))                      # exact entries per query the rest pays for
    g = 1 if m >= 8 and e >= 2 else 0
    band = band_limit(d) if n == m else None
    nb = 0 if band is None else 2 * band + 1
    if band is not None and (nb > cap // 2 or nb + 2 * g > e):
        band, nb = None, 0
    top_k = int(max(0, min(m, cap - nb - 2 * g, e - nb - 2 * g)))
    return {"rank": r, "n_clusters": C if top_k > 0 else 0, "top_k": top_k, "band": band, "n_global": g}


def _auto(value, name, low):
    if isinstance(value, str):
        if value != "auto":
            raise fail(_FUNC, name, "be 'auto' or an integer", repr(value))
        return None
    return check_int(value, _FUNC, name, low=low)


def _options(n, m, p, d, lowrank, k, n_clusters, top_k, band, n_global, seeds, indices, omega, scale):
    vals = {"rank": _auto(k, "k", 1), "n_clusters": _auto(n_clusters, "n_clusters", 0),
            "top_k": _auto(top_k, "top_k", 0), "n_global": _auto(n_global, "n_global", 0)}
    vals["band"] = -1 if band is None else _auto(band, "band", 0)
    if seeds is not None and vals["n_clusters"] is None:
        vals["n_clusters"] = int(np.asarray(seeds).size)
    given = indices if lowrank == "nystrom" else omega
    if given is not None and vals["rank"] is None:
        vals["rank"] = int(np.asarray(given).shape[0])
    if vals["top_k"] == 0 and vals["n_clusters"] is None:
        vals["n_clusters"] = 0                      # no top keys: no clusters to pay for
    missing = [k for k, v in vals.items() if v is None]
    if missing:
        if d is None:
            raise fail(_FUNC, "d", f"be given to choose {', '.join(missing)} (or give them all)", None)
        plan = sparse_lowrank_plan(n, m, d, p, lowrank, scale)
        for k in missing:
            vals[k] = -1 if (k == "band" and plan[k] is None) else plan[k]
    if vals["n_clusters"] > n:
        raise fail(_FUNC, "n_clusters", f"be <= the number of queries n = {n}", vals["n_clusters"])
    if lowrank == "nystrom" and vals["rank"] > n + m:
        raise fail(_FUNC, "k", f"be <= n + m = {n + m} (landmarks are rows of [Q̂; K̂])", vals["rank"])
    vals["top_k"] = min(vals["top_k"], m)
    if vals["top_k"] > 0 and vals["n_clusters"] < 1:
        raise fail(_FUNC, "n_clusters", "be >= 1 when top_k > 0 (the top keys are the clusters')", vals["n_clusters"])
    return vals


def regime(Q, K, lowrank: str = "auto", scale: float | None = None) -> str:
    """The low rank ``lowrank="auto"`` uses: ``"nystrom"`` (pure low rank) when :func:`logit_scale`
    (``scale`` when given) is below ``SMOOTH_SCALE``, else ``"clusters"``."""
    if lowrank != "auto":
        return lowrank
    return "nystrom" if (logit_scale(Q, K) if scale is None else scale) < SMOOTH_SCALE else "clusters"


def _draw(Q, K, V, *, d=None, rng=None, lowrank="auto", landmarks="kmeanspp", k="auto", n_clusters="auto",
          top_k="auto", band="auto", n_global="auto", seeds=None, indices=None, omega=None) -> dict:
    """The randomness of one call: query ``seeds`` and landmark ``indices`` (Nyström) or ``omega``
    (FAVOR+); ``lowrank="auto"`` draws both regimes' randomness (seeds and indices, from two spawned
    streams) so that every item of a batch has the same keys."""
    check_choice(lowrank, LOWRANKS, _FUNC, "lowrank")
    check_choice(landmarks, LANDMARKS, _FUNC, "landmarks")
    if lowrank == "clusters":
        return _CLUSTERED[0].draw(Q, K, V, d=d, rng=rng, n_clusters=n_clusters, seeds=seeds)
    if lowrank == "auto":
        g_low, g_cl = as_generator(rng, _FUNC).spawn(2)
        out = _draw_lr(Q, K, V, d=d, rng=g_low, lowrank="nystrom", landmarks=landmarks, k=k, top_k=0,
                       band=None, n_global=0, indices=indices, scale=0.0)
        out.update(_CLUSTERED[0].draw(Q, K, V, d=d, rng=g_cl, n_clusters=n_clusters, seeds=seeds))
        return out
    return _draw_lr(Q, K, V, d=d, rng=rng, lowrank=lowrank, landmarks=landmarks, k=k, n_clusters=n_clusters,
                    top_k=top_k, band=band, n_global=n_global, seeds=seeds, indices=indices, omega=omega)


def _draw_lr(Q, K, V, *, d=None, rng=None, lowrank="nystrom", landmarks="kmeanspp", k="auto", n_clusters="auto",
             top_k="auto", band="auto", n_global="auto", seeds=None, indices=None, omega=None, scale=None) -> dict:
    """The Nyström / FAVOR+ draws (``scale``: the logit scale the plan sees; 0 forces the smooth plan)."""
    if d is not None:
        d = check_d(d, _FUNC)
    n, m, p = Q.shape[0], K.shape[0], Q.shape[1]
    o = _options(n, m, p, d, lowrank, k, n_clusters, top_k, band, n_global, seeds, indices, omega,
                 logit_scale(Q, K) if scale is None else scale)
    gen = as_generator(rng, _FUNC)
    out = {}
    if seeds is None and o["top_k"] > 0:
        seeds = kmeanspp_seeds(scaled(np.asarray(Q, dtype=np.float64)), o["n_clusters"], gen)
    if seeds is not None:
        out["seeds"] = np.asarray(seeds)
    if lowrank == "nystrom":
        if indices is None:
            if landmarks == "uniform2n":
                indices = gen.integers(0, n + m, size=o["rank"]).astype(np.intp)
            else:
                indices = gaussian_landmarks(Q, K, o["rank"], rule=landmarks, rng=gen)
        out["indices"] = np.asarray(indices)
    else:
        if omega is None:
            omega = _features.draw_orthogonal(o["rank"], p, rng=gen)
        out["omega"] = np.asarray(omega, dtype=np.float64)
    return out


def _lowrank_factors(Qh, Kh, lowrank, drawn, rank):
    """``(Φ_Q, Φ_K, units, selection_evals)`` with ``Φ_Q Φ_Kᵀ ≈ exp(Q̂K̂ᵀ)``."""
    n, m, p = Qh.shape[0], Kh.shape[0], Qh.shape[1]
    if lowrank == "nystrom":
        idx = check_indices(drawn["indices"], n + m, _FUNC, "indices")
        LR = augmented_nystrom(_kernels.Exponential(1.0), Qh, Kh, indices=idx, core="signed_eig")
        return np.asarray(LR.L, dtype=np.float64), np.asarray(LR.R, dtype=np.float64), int(LR.info["n_evals"])
    omega = np.asarray(drawn["omega"], dtype=np.float64)
    if omega.ndim != 2 or omega.shape[1] != p:
        raise fail(_FUNC, "omega", f"have shape (k, p = {p})", f"shape {omega.shape}")
    fm = _features.SoftmaxFeatures(omega, kind="positive")
    PQ, sqQ = fm.log_features(Qh)
    PK, sqK = fm.log_features(Kh)
    PQ -= 0.5 * sqQ[:, None]
    PK -= 0.5 * sqK[:, None]
    # one shift per side (cancels in D⁻¹; the exact scores carry the same factor back below)
    cq, ck = float(PQ.max()), float(PK.max())
    FQ = np.exp(PQ - cq) / math.sqrt(omega.shape[0])
    FK = np.exp(PK - ck)
    if cq + ck >= 700:
        raise fail(_FUNC, "Q, K", "have FAVOR+ exponents below the float64 range (≈ 709)", f"max {cq + ck:.4g}")
    return FQ * math.exp(cq + ck), FK, (n + m) * omega.shape[0]


def sparse_lowrank(Q, K, V, *, d=None, rng=None, return_factors: bool = False, lowrank: str = "auto",
                   landmarks: str = "kmeanspp", k="auto", n_clusters="auto", top_k="auto", band="auto",
                   n_global="auto", seeds=None, indices=None, omega=None):
    """Scatterbrain-style sparse + low-rank softmax attention for one head (module docstring).

    Parameters
    ----------
    Q : ndarray of shape (n, p)
    K : ndarray of shape (m, p)
    V : ndarray of shape (m, pv)
    d : int
        Budget ``B(d) = (n + m)d + d²`` for the default options (:func:`sparse_lowrank_plan`).
    rng : None, int, SeedSequence or Generator
    return_factors : bool
        Also return ``{"PhiQ", "PhiK", "labels", "exact_sets", "band", "rank", "n_evals",
        "exact_fraction", "exact_per_query", "den_clipped", "selection_evals", "budget", ...}``.
    lowrank : {"auto", "nystrom", "favor", "clusters"}
        The low-rank part (module docstring); ``"auto"`` chooses by the logit scale.
    landmarks : {"kmeanspp", "rpcholesky", "uniform2n"}
        Nyström landmark rule (Gaussian-form k-means++ / RPCholesky, or i.i.d. uniform rows).
    k, n_clusters, top_k, band, n_global : int or "auto"
        Rank r of L (landmarks of the Nyström factor, FAVOR+ features); the sparse support (as
        :func:`clustered`; ``band=None``: no band).
    seeds, indices, omega : ndarray, optional
        Pre-drawn randomness: k-means++ query seeds (C,), landmark rows of ``[Q̂; K̂]`` (r,), FAVOR+
        projections (r, p).

    Returns
    -------
    out : ndarray of shape (n, pv), the dtype of the inputs (computed in float64)
    factors : dict, only with ``return_factors=True``

    Notes
    -----
    Time O((n + m) r p + r³ + n C p + C m p + |Ω| (p + r + pv)); memory O((n + m) r + C m).
    Exact when Ω covers every key (``top_k = m`` or an all-covering band).

    References
    ----------
    B. Chen, T. Dao, E. Winsor, Z. Song, A. Rudra, C. Ré, "Scatterbrain: Unifying Sparse and Low-rank
    Attention Approximation", NeurIPS 2021, §3 (Eq. (2)–(3)); Skyformer (Chen et al., NeurIPS 2021)
    §4.2, Eqs. (4)–(6); Choromanski et al., ICLR 2021 (FAVOR+).

    Examples
    --------
    >>> import numpy as np
    >>> Q, K, V = np.random.default_rng(0).normal(size=(3, 256, 16))
    >>> out, f = sparse_lowrank(Q, K, V, d=32, rng=0, return_factors=True)
    >>> out.shape, f["n_evals"] <= f["budget"]
    ((256, 16), True)
    """
    Q, K, V = check_qkv(Q, K, V, _FUNC)
    dt = out_dtype(Q, K, V)
    if d is not None:
        d = check_d(d, _FUNC)
    check_choice(lowrank, LOWRANKS, _FUNC, "lowrank")
    check_choice(landmarks, LANDMARKS, _FUNC, "landmarks")
    n, m, p = Q.shape[0], K.shape[0], Q.shape[1]
    scale = logit_scale(Q, K)
    used = regime(Q, K, lowrank, scale)
    if lowrank == "auto":
        g_low, g_cl = as_generator(rng, _FUNC).spawn(2)
        rng = g_low if used == "nystrom" else g_cl
    if used == "clusters":
        for name, val in (("k", k), ("indices", indices), ("omega", omega)):
            if lowrank == "clusters" and val is not None and not isinstance(val, str):
                raise fail(_FUNC, name, "be left unset with lowrank='clusters' (its rank is the clusters')",
                           "a value")
        res = clustered_checked(Q, K, V, d=d, rng=rng, return_factors=return_factors, n_clusters=n_clusters,
                                top_k=top_k, band=band, n_global=n_global, rest="first_order", seeds=seeds)
        if not return_factors:
            return res
        out, f = res
        f.update({"lowrank": "clusters", "rank": f["n_clusters"], "logit_scale": scale, "den_clipped": 0,
                  "selection_evals": 0})
        return out, f
    if lowrank == "auto":                           # the smooth regime: pure low rank
        top_k, band, n_global, scale = 0, None, 0, 0.0
    o = _options(n, m, p, d, used, k, n_clusters, top_k, band, n_global, seeds, indices, omega, scale)
    lowrank = used
    drawn = _draw_lr(Q, K, V, d=d, rng=rng, lowrank=lowrank, landmarks=landmarks, k=o["rank"],
                  n_clusters=o["n_clusters"], top_k=o["top_k"], band=None if o["band"] < 0 else o["band"],
                  n_global=o["n_global"], seeds=seeds, indices=indices, omega=omega, scale=scale)
    Qh, Kh, V64 = centred_inputs(Q, K, V)
    FQ, FK, units = _lowrank_factors(Qh, Kh, lowrank, drawn, o["rank"])
    r = FQ.shape[1]
    if o["top_k"] > 0:
        sd = check_indices(drawn["seeds"], n, _FUNC, "seeds")
        if seeds is not None and n_clusters != "auto" and sd.size != o["n_clusters"]:
            raise fail(_FUNC, "n_clusters", f"equal the number of given seeds ({sd.size})", o["n_clusters"])
        labels, cent, u = cluster_queries(Qh, sd, 0)
        units += u
        lc = cent @ Kh.T
        units += lc.size
        sets = exact_sets(lc, o["top_k"], o["n_global"], m)
    else:
        sd, cent = None, np.zeros((1, p))
        labels = np.zeros(n, dtype=np.intp)
        sets = exact_sets(np.zeros((1, m)), 0, o["n_global"], m)
    C = len(sets)
    num = FQ @ (FK.T @ V64)
    den = FQ @ FK.sum(axis=0)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(C + 1))
    n_exact = 0
    for c in range(C):
        rows = order[bounds[c]:bounds[c + 1]]
        T = sets[c]
        if rows.size == 0 or T.size == 0:
            continue
        Sx = np.exp(Qh[rows] @ Kh[T].T)
        Sx -= FQ[rows] @ FK[T].T                                    # S = A − L on Ω
        num[rows] += Sx @ V64[T]
        den[rows] += Sx.sum(axis=1)
        n_exact += rows.size * T.size
    largest = max(t.size for t in sets)
    if o["band"] >= 0:
        keys, valid, computed = band_windows(n, m, o["band"])
        Sb = np.exp(band_products(Qh, Kh, o["band"]))
        Sb -= band_products(FQ, FK, o["band"])
        inT = np.zeros((C, m), dtype=bool)
        for c in range(C):
            inT[c, sets[c]] = True
        Sb[~(valid & ~inT[labels[:, None], keys])] = 0.0
        num += band_apply(Sb, V64, o["band"])
        den += Sb.sum(axis=1)
        n_exact += computed
        largest += keys.shape[1]
    units += n_exact + int(math.ceil(n_exact * r / p))
    den, nbad = clip_row_sums(den, _FUNC, "S + L")
    out = (num / den[:, None]).astype(dt, copy=False)
    if not return_factors:
        return out
    factors = {"PhiQ": FQ, "PhiK": FK, "labels": labels, "centroids": cent, "seeds": sd, "exact_sets": sets,
               "band": None if o["band"] < 0 else o["band"], "rank": r, "n_clusters": 0 if sd is None else C,
               "top_k": o["top_k"],
               "n_global": o["n_global"], "lowrank": lowrank, "n_evals": int(units), "exact_scores": int(n_exact),
               "exact_fraction": n_exact / (n * m), "exact_per_query": int(largest), "den_clipped": nbad,
               "selection_evals": (n + m) * r if lowrank == "nystrom" and indices is None and
               landmarks != "uniform2n" else 0,
               "budget": None if d is None else budget(n, m, d), "key_shift": K.mean(axis=0, dtype=np.float64),
               "logit_scale": logit_scale(Q, K)}
    if lowrank == "nystrom":
        factors["indices"] = drawn["indices"]
    else:
        factors["omega"] = drawn["omega"]
    return out, factors


METHODS = (AttentionMethod(
    name="sparse_lowrank", formula=sparse_lowrank, draw=_draw,
    options={"lowrank": v_choice(*LOWRANKS), "landmarks": v_choice(*LANDMARKS), "k": v_auto_int(1),
             "n_clusters": v_auto_int(0), "top_k": v_auto_int(0), "band": v_auto_int(0, none_ok=True),
             "n_global": v_auto_int(0), "seeds": v_optional(v_array), "indices": v_optional(v_array),
             "omega": v_optional(v_array)},
    per_item_options={"seeds": 1, "indices": 1, "omega": 2},
    aliases={"rank": "k"},
    summary="Scatterbrain: exact minus low-rank on a clustered + banded support, plus a Nyström / FAVOR+ low rank"),)
