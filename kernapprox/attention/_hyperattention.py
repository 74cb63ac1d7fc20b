"""HyperAttention (Han, Jayaram, Karbasi, Mirrokni, Woodruff, Zandieh, ICLR 2024; algorithms.md §13.5).

One head, softmax target ``R = D⁻¹AV`` with ``A = exp(Q̂K̂ᵀ)``, ``Q̂ = Q/p^¼``, ``K̂ = K/p^¼``; the keys
are centred first (softmax is invariant to a common key translation, and the angular hash of the
centred keys is not dominated by their common mean).

1. **sortLSH** (paper §2.1, Alg. 1 "sortLSH"): ``r`` random hyperplanes ``H (p, r)`` give every query and
   key the sign pattern of ``x H``; patterns are read as words of the reflected binary Gray code and
   points are sorted by the word's position in the Gray sequence (neighbouring buckets differ in one
   hyperplane), stably, so that ties keep the text order.
2. **Exact diagonal blocks**: the sorted queries are cut into ``T = ⌈n/b⌉`` blocks of ``b`` rows; block
   ``t`` attends exactly to the ``t``-th of ``T`` consecutive slices of the sorted keys
   (``[⌊t m/T⌋, ⌊(t+1) m/T⌋)``, b keys when ``n = m`` and ``b | n``).
3. **Sampled remainder** (paper Alg. 2, approximate matrix multiplication by column sampling): ``s``
   keys drawn uniformly without replacement (weight ``m/s``) or with probabilities ``∝ ‖v_j‖²`` and
   replacement (weight ``1/(s π_j)``); for query ``i`` the sampled keys of its own exact slice are
   dropped, so the sample estimates the off-block part ``Σ_{j∉slice(i)} A_ij [v_j, 1]`` without bias.
4. **One joint normalisation**: ``R_i = (N_i^exact + N_i^sampled) / (D_i^exact + D_i^sampled)`` with the
   row maximum over both parts subtracted.

With ``block_size >= n`` (one block holding every key) the output is exact softmax attention.
``control_variate=True`` (not in the paper) samples only the deviations of the off-slice entries from
a per-row baseline and adds the baseline's share exactly (:func:`sortlsh_attention`): on near-uniform
rows (initialised models) the loss drops about tenfold (measured on MiniLM heads, n = 512).

Budget (algorithms.md §13.1): ``n_evals`` counts every query–key score evaluated: the block scores
(``Σ_t |block_t| · |slice_t|``, ``n·b`` when ``n = m``) plus ``n·s`` sample scores (all of them, the
dropped own-slice ones included). Hashing and sorting are free while ``r <= ⌊log₂ max(n, m)⌋`` (the
§13.1 allowance); hyperplanes beyond it are charged ``(n + m)`` units each. ``exact_fraction`` is the
share of the ``n·m`` entries that enter the output exactly (the diagonal blocks). Defaults:
``b = min(d, ⌊n/2⌋)`` exact keys per query, ``s = min(d, m)``, so ``n_evals <= 2·n·d <= B(d) = 2nd + d²``
for self-attention and at most ``min(d, m/2)`` exact scores per query.
"""
from __future__ import annotations

import math

import numpy as np

from .._random import sample_proportional
from .._tiling import TILE_BYTES
from .._validation import as_generator, check_bool, check_choice, check_indices, check_int, fail
from ._protocol import AttentionMethod, v_array, v_bool, v_choice, v_int, v_optional

__all__ = ["METHODS", "hyperattention_formula", "gray_rank", "lsh_order", "free_hyperplanes", "sortlsh_attention",
           "check_hyperplanes", "default_hyperplanes", "d_bound", "SORTLSH_OPTIONS"]

_FUNC = "hyperattention"
SAMPLINGS = ("uniform", "value_norm")


def gray_rank(codes: np.ndarray) -> np.ndarray:
    """Position of each reflected-binary Gray word in the Gray sequence (Gray → binary conversion)."""
    b = np.array(codes, dtype=np.int64, copy=True)
    shift = b >> 1
    while shift.any():
        b ^= shift
        shift >>= 1
    return b


def lsh_order(X: np.ndarray, hyperplanes: np.ndarray) -> np.ndarray:
    """sortLSH permutation of the rows of ``X``: sign patterns of ``X H`` (bit k = hyperplane k), sorted
    by their Gray-code position, stably (ties keep the row order)."""
    bits = (X @ hyperplanes) > 0                                  # (n, r)
    codes = bits.astype(np.int64) @ (np.int64(1) << np.arange(bits.shape[1], dtype=np.int64))
    return np.argsort(gray_rank(codes), kind="stable").astype(np.intp)


def free_hyperplanes(n: int, m: int) -> int:
    """Hyperplanes per point hashed for free (algorithms.md §13.1): ``max(1, ⌊log₂ max(n, m)⌋)``."""
    return max(1, int(math.floor(math.log2(max(n, m, 2)))))


def default_hyperplanes(n: int, m: int, block_size: int) -> int:
    """Default number of hyperplanes: ``⌈log₂ T⌉ + 1`` for ``T = ⌈n/b⌉`` blocks (about two buckets per
    block), within the free allowance :func:`free_hyperplanes`."""
    T = -(-n // block_size)
    return int(min(free_hyperplanes(n, m), max(1, math.ceil(math.log2(max(T, 1))) + 1)))


def check_hyperplanes(H, p: int, r: int | None, func: str) -> np.ndarray:
    """Pre-drawn hyperplanes: shape (p, r) (``r`` = ``n_hyperplanes`` when given), finite reals."""
    H = np.asarray(H)
    if H.ndim != 2 or H.shape[0] != p or H.shape[1] < 1:
        raise fail(func, "hyperplanes", f"have shape (p, r) = ({p}, r >= 1)", f"shape {H.shape}")
    if r is not None and H.shape[1] != r:
        raise fail(func, "hyperplanes", f"have n_hyperplanes = {r} columns", f"shape {H.shape}")
    if H.dtype.kind not in "iuf" or not np.all(np.isfinite(H)):
        raise fail(func, "hyperplanes", "hold finite real numbers", f"dtype {H.dtype}")
    return H


def _slices(n: int, m: int, b: int):
    """Query blocks (sorted positions ``[t b, (t+1) b)``) and key slices ``[lo_t, hi_t)`` (non-empty)."""
    T = -(-n // b)
    t = np.arange(T + 1, dtype=np.int64)
    bounds = (t * m) // T
    lo = bounds[:-1]
    hi = np.maximum(bounds[1:], np.minimum(lo + 1, m))
    lo = np.minimum(lo, hi - 1)
    return T, lo, hi


def sortlsh_attention(Qh, Kh, V, *, block_size: int, hyperplanes, sample_indices=None, sample_weights=None,
                      control_variate: bool = False):
    """The shared engine of HyperAttention and KDEformer on scaled inputs (module docstring, steps 1–4).

    Parameters
    ----------
    Qh, Kh : (n, p), (m, p) scaled queries and (centred) keys; V : (m, pv)
    block_size : int — sorted queries per exact block
    hyperplanes : (p, r) — the sortLSH hyperplanes
    sample_indices : (s,) int or None — sampled keys (None: no sampled part)
    sample_weights : (s,) — the importance weight of each sample
    control_variate : bool
        Estimate only the deviation of the sampled off-slice entries from a per-row baseline ``g_i``
        (the geometric mean of the row's sampled off-slice entries, Skeinformer's adaptive row
        normalisation), and add the baseline's exact share ``g_i Σ_{j∉slice(i)} [v_j, 1]`` (an
        O(m·pv) sum over V, free under §13.1): ``Σ_j w_j (A_ij − g_i)[v_j, 1] + g_i Σ_{j∉slice}[v_j, 1]``.
        Unbiased for a fixed baseline; near-uniform rows are then estimated almost exactly.

    Returns
    -------
    out : (n, pv); info : dict with ``query_order``, ``key_order``, ``exact_scores`` (block scores
    evaluated), ``exact_per_query`` (n,) (keys in each query's exact slice), ``sample_scores``.
    """
    n, m = Qh.shape[0], Kh.shape[0]
    dt = Qh.dtype
    b = int(min(block_size, n))
    qperm = lsh_order(Qh, hyperplanes)
    kperm = lsh_order(Kh, hyperplanes)
    T, lo, hi = _slices(n, m, b)
    w = int((hi - lo).max())
    block_of = np.repeat(np.arange(T), b)[:n]                     # block of each sorted query position
    have = sample_indices is not None and np.size(sample_indices) > 0
    if have:
        J = np.asarray(sample_indices, dtype=np.intp)
        kinv = np.empty(m, dtype=np.intp)
        kinv[kperm] = np.arange(m)
        jpos = kinv[J]                                            # sorted position of each sampled key
        KJ, VJ = Kh[J], V[J]
        wts = np.asarray(sample_weights, dtype=dt)
        if control_variate:
            cs = np.zeros((m + 1, V.shape[1]), dtype=np.float64)   # prefix sums of the sorted V
            np.cumsum(V[kperm], axis=0, out=cs[1:])
    out = np.empty((n, V.shape[1]), dtype=np.result_type(dt, V.dtype))
    # query blocks in chunks (the (blocks, b, w) scores and (rows, s) samples of a chunk stay within
    # about TILE_BYTES); padded gathers: (tc, b) sorted query rows, (tc, w) sorted key rows, pads -inf
    tc = max(1, min(T, TILE_BYTES // (8 * b * (w + (np.size(sample_indices) if have else 0)))))
    for t0 in range(0, T, tc):
        t1 = min(T, t0 + tc)
        r0, r1 = t0 * b, min(n, t1 * b)
        qpos = np.arange(t0 * b, t1 * b).reshape(t1 - t0, b)
        kpos = lo[t0:t1, None] + np.arange(w)[None, :]
        kvalid = kpos < hi[t0:t1, None]
        qi = qperm[np.minimum(qpos, n - 1)]
        ki = kperm[np.minimum(kpos, m - 1)]
        S = np.matmul(Qh[qi], np.swapaxes(Kh[ki], 1, 2))          # (tc, b, w) exact block scores
        S[~np.broadcast_to(kvalid[:, None, :], S.shape)] = -np.inf
        cpad = S.max(axis=2).reshape(-1)                          # row maxima of the blocks (pads too)
        c = cpad[:r1 - r0]
        bo = block_of[r0:r1]
        if have:
            S2 = Qh[qperm[r0:r1]] @ KJ.T                          # (rows, s), sorted query order
            own = (jpos[None, :] >= lo[bo][:, None]) & (jpos[None, :] < hi[bo][:, None])
            S2[own] = -np.inf                                     # the own slice is counted exactly
            c = np.maximum(c, S2.max(axis=1))
        cpad[:r1 - r0] = c
        S -= cpad.reshape(t1 - t0, b)[:, :, None]
        E = np.exp(S, out=S)
        num = np.matmul(E, V[ki]).reshape((t1 - t0) * b, V.shape[1])[:r1 - r0]
        den = E.sum(axis=2).reshape(-1)[:r1 - r0]
        if have:
            S2 -= c[:, None]
            if control_variate:
                valid = ~own
                cnt = valid.sum(axis=1)
                with np.errstate(invalid="ignore"):
                    gl = np.where(cnt > 0, np.where(valid, S2, 0.0).sum(axis=1) / np.maximum(cnt, 1), -np.inf)
            E2 = np.exp(S2, out=S2)
            E2 *= wts[None, :]
            if control_variate:
                # off-slice key counts and V sums per query, from the prefix sums of sorted V
                lo_q, hi_q = lo[bo], hi[bo]
                v_off = (cs[m] - (cs[hi_q] - cs[lo_q])).astype(dt)
                k_off = (m - (hi_q - lo_q)).astype(dt)
                g = np.exp(gl).astype(dt)                         # baseline e^{mean log a - c}
                wv = (valid * wts[None, :]).sum(axis=1)           # Σ of the valid samples' weights
                est = E2.sum(axis=1)
                excess = wv - k_off                               # keep the estimated row mass > 0
                cap = np.where(excess > 0, 0.5 * est / np.where(excess > 0, excess, 1), np.inf)
                g = np.minimum(g, cap).astype(dt)
                E2 -= (g[:, None] * wts[None, :]) * valid
                num = num + E2 @ VJ + g[:, None] * v_off
                den = den + E2.sum(axis=1) + g * k_off
            else:
                num = num + E2 @ VJ
                den = den + E2.sum(axis=1)
        out[qperm[r0:r1]] = num / den[:, None]
    per_query = np.empty(n, dtype=np.int64)
    per_query[qperm] = (hi - lo)[block_of]
    info = {"query_order": qperm, "key_order": kperm, "exact_scores": int(per_query.sum()),
            "exact_per_query": per_query, "sample_scores": int(n * (np.size(sample_indices) if have else 0))}
    return out, info


# -- HyperAttention ---------------------------------------------------------------------------------
def _sizes(n, m, d, block_size, s, n_hyperplanes, func):
    d = check_int(d, func, "d", low=1) if d is not None else None
    if block_size is None:
        if d is None:
            raise fail(func, "d", "be given (or both `block_size` and `s`)", None)
        block_size = max(1, min(d, n // 2))
    block_size = check_int(block_size, func, "block_size", low=1)
    if s is None:
        if d is None:
            raise fail(func, "d", "be given (or both `block_size` and `s`)", None)
        s = min(d, m)
    s = check_int(s, func, "s", low=0)
    if n_hyperplanes is None:
        n_hyperplanes = default_hyperplanes(n, m, min(block_size, n))
    n_hyperplanes = check_int(n_hyperplanes, func, "n_hyperplanes", low=1, high=62)
    return d, block_size, s, n_hyperplanes


def _draw(Q, K, V, *, d=None, rng=None, block_size=None, n_hyperplanes=None, s=None, sampling="uniform",
          hyperplanes=None, sample_indices=None):
    """HyperAttention's randomness for one head: ``hyperplanes`` (p, r) then ``sample_indices`` (s,)."""
    func = _FUNC + ".draw"
    n, m, p = Q.shape[0], K.shape[0], Q.shape[1]
    check_choice(sampling, SAMPLINGS, func, "sampling")
    if sample_indices is not None and s is None:
        s = int(np.size(sample_indices))
    if hyperplanes is not None and n_hyperplanes is None:
        n_hyperplanes = int(np.shape(hyperplanes)[-1])
    d, block_size, s, r = _sizes(n, m, d, block_size, s, n_hyperplanes, func)
    gen = as_generator(rng, func)
    out = {}
    if hyperplanes is None:
        hyperplanes = gen.standard_normal((p, r))
    out["hyperplanes"] = check_hyperplanes(hyperplanes, p, r, func)
    if s > 0:
        if sample_indices is None:
            if sampling == "uniform":
                if s > m:
                    raise fail(func, "s", f"be <= m = {m} with sampling='uniform' (without replacement)", s)
                sample_indices = gen.choice(m, size=s, replace=False)
            else:
                sample_indices = _value_norm_draw(V, s, gen)
        out["sample_indices"] = _check_samples(sample_indices, m, s, sampling, func)
    return out


def _value_norm_probs(V):
    """``π_j ∝ ‖v_j‖²`` (uniform when V = 0): the AMM sampling distribution of the paper's Alg. 2."""
    r = np.einsum("ij,ij->i", V, V, dtype=np.float64)
    t = r.sum()
    return r / t if t > 0 else np.full(V.shape[0], 1.0 / V.shape[0])


def _value_norm_draw(V, s, gen):
    return sample_proportional(_value_norm_probs(V), s, gen)


def _check_samples(J, m, s, sampling, func):
    J = check_indices(J, m, func, "sample_indices")
    if J.size != s:
        raise fail(func, "sample_indices", f"hold s = {s} indices", J.size)
    if sampling == "uniform" and np.unique(J).size != J.size:
        raise fail(func, "sample_indices", "be distinct with sampling='uniform' (without replacement)", "duplicates")
    return J


def _charged_hyperplanes(n, m, r):
    return (n + m) * max(0, r - free_hyperplanes(n, m))


def hyperattention_formula(Q, K, V, *, d=None, rng=None, return_factors: bool = False, block_size=None,
                           n_hyperplanes=None, s=None, sampling: str = "uniform", control_variate: bool = False,
                           hyperplanes=None, sample_indices=None):
    """HyperAttention for one head (module docstring; Han et al., ICLR 2024, Algs. 1–3).

    Parameters
    ----------
    Q : ndarray (n, p); K : ndarray (m, p); V : ndarray (m, pv) — one dtype (float32 or float64)
    d : int — budget: default ``block_size = min(d, ⌊n/2⌋)``, ``s = min(d, m)``
    rng : None, int, SeedSequence or Generator
    return_factors : bool
        Also return ``{"n_evals", "exact_fraction", "hyperplanes", "sample_indices", "query_order",
        "key_order", "block_size", "s", "n_hyperplanes"}``.
    block_size : int, optional — sorted queries per exact block (``>= n``: exact attention)
    n_hyperplanes : int, optional — sortLSH hyperplanes (default :func:`default_hyperplanes`)
    s : int, optional — sampled keys (0: the diagonal blocks only)
    sampling : {"uniform", "value_norm"}
        Uniform without replacement (weight m/s) or ``π_j ∝ ‖v_j‖²`` with replacement (weight 1/(sπ_j)).
    control_variate : bool
        Sample only the deviations from a per-row baseline (:func:`sortlsh_attention`); False (default)
        is the paper's estimator.
    hyperplanes : ndarray (p, r), optional — pre-drawn (``draw``)
    sample_indices : ndarray of int (s,), optional — pre-drawn sampled keys

    Returns
    -------
    out : ndarray (n, pv); factors : dict, only with ``return_factors``

    Notes
    -----
    Time O(n (b + s) (p + pv) + (n + m) p r); memory O(n (b + s)). ``rng`` draws through ``draw``, so
    ``formula(..., rng=r) == formula(..., **draw(..., rng=r))``.

    References
    ----------
    Han, Jayaram, Karbasi, Mirrokni, Woodruff, Zandieh, "HyperAttention: Long-context Attention in
    Near-Linear Time", ICLR 2024, Alg. 1 (sortLSH), Alg. 2 (AMM), Alg. 3 (block-diagonal + sampled).
    """
    func = _FUNC
    n, m = Q.shape[0], K.shape[0]
    r = _draw(Q, K, V, d=d, rng=rng, block_size=block_size, n_hyperplanes=n_hyperplanes, s=s, sampling=sampling,
              hyperplanes=hyperplanes, sample_indices=sample_indices)
    H = r["hyperplanes"]
    if s is None and sample_indices is not None:
        s = int(np.size(sample_indices))
    _, b, s, nh = _sizes(n, m, d, block_size, s, H.shape[1], func)
    J = r.get("sample_indices")
    dt = Q.dtype
    scale = dt.type(1.0 / Q.shape[1] ** 0.25)
    Qh = Q * scale
    Kh = (K - K.mean(axis=0, dtype=np.float64).astype(dt)) * scale
    wts = None
    if J is not None:
        if sampling == "uniform":
            wts = np.full(J.size, m / J.size)
        else:
            wts = 1.0 / (J.size * _value_norm_probs(V)[J])
    out, info = sortlsh_attention(Qh, Kh, V, block_size=b, hyperplanes=H.astype(dt, copy=False),
                                  sample_indices=J, sample_weights=wts,
                                  control_variate=check_bool(control_variate, func, "control_variate"))
    out = out.astype(dt, copy=False)
    if not return_factors:
        return out
    n_evals = info["exact_scores"] + info["sample_scores"] + _charged_hyperplanes(n, m, nh)
    return out, {"n_evals": int(n_evals), "exact_fraction": info["exact_scores"] / (n * m),
                 "hyperplanes": H, "sample_indices": J, "query_order": info["query_order"],
                 "key_order": info["key_order"], "block_size": b, "s": s, "n_hyperplanes": nh}


def _d_bytes(n, m, p, pv, d, options):
    b = options.get("block_size") or max(1, min(d, n // 2))
    s = options.get("s") if options.get("s") is not None else min(d, m)
    width = -(-min(b, n) * m // max(n, 1)) + 1                   # keys of one exact slice
    return 8 * (2 * n * (width + s) + (n + m) * (p + pv) + n * pv)


def d_bound(n: int, m: int, options: dict):
    """The largest meaningful budget: ``d = m`` (the default sample ``s = min(d, m)`` and blocks
    ``min(d, ⌊n/2⌋)`` stop growing there)."""
    return m, "the sampled keys and the exact blocks stop growing at d = m keys"


def _per_item(options):
    return {"hyperplanes": 2, "sample_indices": 1}


#: the options of the sortLSH engine (:func:`sortlsh_attention`) that HyperAttention and KDEformer share
SORTLSH_OPTIONS = {
    "block_size": v_optional(v_int(1)),
    "n_hyperplanes": v_optional(v_int(1, 62)),
    "s": v_optional(v_int(0)),
    "control_variate": v_bool,
    "hyperplanes": v_optional(v_array),
    "sample_indices": v_optional(v_array),
}
OPTIONS = {**SORTLSH_OPTIONS, "sampling": v_choice(*SAMPLINGS)}

METHODS = (
    AttentionMethod(
        name="hyperattention",
        formula=hyperattention_formula,
        draw=_draw,
        options=OPTIONS,
        per_item_options=_per_item,
        target=lambda options: "softmax",
        default_safeguard="exact",
        d_bytes=_d_bytes,
        d_bound=d_bound,
        summary="sortLSH (angular, Gray-code order) exact diagonal blocks + sampled keys, one joint "
                "normalisation (Han et al., ICLR 2024)",
    ),
)
