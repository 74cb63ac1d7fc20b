"""Informer ProbSparse attention (Zhou et al., AAAI 2021), non-causal (algorithms.md §9.6, §3.1).

Each query gets ``U`` random keys (with replacement); the sparsity measure ``M̄_i = max_j s_ij −
Σ_j s_ij / n`` over those keys (the original code divides the sampled sum by the full key count n — a
quirk, ``mean_divisor="n"``; ``"sample"`` divides by U) ranks the queries; the top ``u`` rows get exact
``softmax(q_i Kᵀ/√p) V``, all other rows get ``mean(V)``. ``measure="exact"`` uses the exact
max-mean measure over all keys (streamed, O(n m p)). Sizes (code): ``u = c⌈ln n⌉``, ``U = c⌈ln m⌉``
with the factor ``c = ⌈d / ln m⌉`` chosen so that u ≈ d (the "number of features" in plots);
``n_top`` / ``n_sample`` override them.
"""
from __future__ import annotations

import math

import numpy as np

from .._validation import as_generator, check_choice, check_int, fail
from ._common import SCORE_BUDGET, check_d, check_qkv, factor_rows, score_rows, score_tiles, softmax_tiled
from ._protocol import AttentionMethod, v_array, v_choice, v_int, v_optional

__all__ = ["informer", "draw", "informer_sizes", "informer_max_d", "METHODS"]

_FUNC = "informer"


def informer_max_d(n: int, m: int) -> int | None:
    """Largest d whose active-query count ``u = c⌈ln n⌉`` (``c = ⌈d / ln m⌉``) does not exceed n
    (None: any d, when ``⌈ln n⌉ = 0``, i.e. n = 1, where u = 1)."""
    per = math.ceil(math.log(n))
    if per == 0:
        return None
    return max(1, int(math.floor((n // per) * max(math.log(m), 1.0))))


def informer_sizes(n: int, m: int, d: int, *, n_top=None, n_sample=None) -> tuple[int, int]:
    """``(u, U)``: number of active queries and of sampled keys per query (the code's formulas).

    ``u = c⌈ln n⌉`` with ``c = ⌈d / ln m⌉``: a d that would make u exceed n raises (no silent clipping
    of d; :func:`informer_max_d`). ``U = min(c⌈ln m⌉, m)`` as the code (keys are sampled with
    replacement, so the cap only saves work).
    """
    c = max(1, math.ceil(d / max(math.log(m), 1.0)))
    if n_top is None:
        u = max(1, c * math.ceil(math.log(n)))
        if u > n:
            raise fail(_FUNC, "d", f"be <= {informer_max_d(n, m)} (u = c⌈ln n⌉ active queries, c = ⌈d / ln m⌉, "
                       f"must not exceed n = {n}; or give n_top)", d)
    else:
        u = check_int(n_top, _FUNC, "n_top", low=1, high=n)
    U = min(m, max(1, c * math.ceil(math.log(m)))) if n_sample is None else \
        check_int(n_sample, _FUNC, "n_sample", low=1, high=m)
    return u, U


def _measure_sampled(Q, K, key_indices, divisor):
    n, U = key_indices.shape
    out = np.empty(n, dtype=np.float64)
    step = factor_rows(U * Q.shape[1], Q.dtype.itemsize, budget=SCORE_BUDGET, low=1)
    for i0 in range(0, n, step):
        Ks = K[key_indices[i0:i0 + step]]                            # (t, U, p)
        s = np.einsum("tp,tup->tu", Q[i0:i0 + step], Ks)
        out[i0:i0 + step] = s.max(axis=1) - s.sum(axis=1, dtype=np.float64) / divisor
    return out


def _measure_exact(Q, K):
    n, m = Q.shape[0], K.shape[0]
    mean_term = Q @ K.mean(axis=0, dtype=np.float64).astype(Q.dtype)
    mx = np.empty(n, dtype=np.float64)
    for i0, i1, S in score_tiles(Q, K, score_rows(m, Q.dtype.itemsize)):
        mx[i0:i1] = S.max(axis=1)
    return mx - mean_term


def draw(Q, K, V, *, d=None, rng=None, n_top=None, n_sample=None, measure="sampled", key_indices=None):
    """Randomness of one Informer call: ``key_indices`` (n, U) (none for ``measure="exact"``)."""
    check_choice(measure, ("sampled", "exact"), _FUNC, "measure")
    if measure == "exact":
        return {}
    n, m = Q.shape[0], K.shape[0]
    if key_indices is None:
        if d is None and n_top is not None:
            d = n_top                                                # "number of features" = u
        d = check_d(d, _FUNC) if n_sample is None else d
        _, U = informer_sizes(n, m, d if d is not None else 1, n_top=n_top, n_sample=n_sample)
        key_indices = as_generator(rng).integers(0, m, size=(n, U))
    ki = np.asarray(key_indices)
    if ki.ndim != 2 or ki.shape[0] != n or ki.dtype.kind not in "iu":
        raise fail(_FUNC, "key_indices", f"be an integer array of shape ({n}, U)", f"shape {ki.shape}")
    if ki.size and (ki.min() < 0 or ki.max() >= m):
        raise fail(_FUNC, "key_indices", f"hold indices in [0, {m})", f"range [{ki.min()}, {ki.max()}]")
    return {"key_indices": ki.astype(np.intp, copy=False)}



def informer(Q, K, V, *, d=None, rng=None, return_factors: bool = False, n_top=None, n_sample=None,
             measure: str = "sampled", mean_divisor: str = "n", key_indices=None):
    """Informer ProbSparse attention for one head (non-causal).

    Parameters
    ----------
    Q : ndarray of shape (n, p)
    K : ndarray of shape (m, p)
    V : ndarray of shape (m, pv)
    d : int
        "Number of features": sets the factor ``c = ⌈d/ln m⌉`` (u ≈ d active queries); defaults to
        ``n_top`` when that is given.
    rng : None, int, SeedSequence or Generator
    return_factors : bool
        Also return ``{"active": (u,) query rows, "measure": (n,), "key_indices", "n_evals",
        "exact_fraction"}``: ``n_evals`` = n·U sampled scores (n·m for ``measure="exact"``) + u·m
        scores of the active rows; those u rows are exact (``exact_fraction = u/n``).
    n_top, n_sample : int, optional
        Override u (active queries) and U (sampled keys per query).
    measure : {"sampled", "exact"}
    mean_divisor : {"n", "sample"}
        Divisor of the sampled sum in M̄ (``"n"``: the original code's quirk).
    key_indices : ndarray of int of shape (n, U), optional
        Pre-drawn sampled keys.

    Returns
    -------
    out : ndarray of shape (n, pv)
    factors : dict, only with ``return_factors=True``

    Notes
    -----
    Time O(n U p + u m p) (``measure="exact"``: O(n m p) streamed); memory O(n U + tile).

    References
    ----------
    Zhou et al., "Informer: Beyond Efficient Transformer for Long Sequence Time-Series Forecasting",
    AAAI 2021, §3.1 Def. 1, Lemma 1 (max-mean measure); Chen et al., NAACL 2022, §3.3.1.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> Q, K, V = np.random.default_rng(0).normal(size=(3, 64, 8))
    >>> out = ka.attention.informer(Q, K, V, d=64, n_top=64, rng=0)
    >>> bool(np.allclose(out, ka.attention.exact(Q, K, V)))
    True
    """
    Q, K, V = check_qkv(Q, K, V, _FUNC)
    check_choice(mean_divisor, ("n", "sample"), _FUNC, "mean_divisor")
    n, m = Q.shape[0], K.shape[0]
    if d is None and n_top is not None:
        d = n_top
    d = check_d(d, _FUNC)
    u, _ = informer_sizes(n, m, d, n_top=n_top, n_sample=n_sample)
    r = draw(Q, K, V, d=d, rng=rng, n_top=n_top, n_sample=n_sample, measure=measure, key_indices=key_indices)
    if measure == "exact":
        M = _measure_exact(Q, K)
    else:
        ki = r["key_indices"]
        M = _measure_sampled(Q, K, ki, m if mean_divisor == "n" else ki.shape[1])
    active = np.sort(np.argsort(-M, kind="stable")[:u])
    out = np.empty((n, V.shape[1]), dtype=Q.dtype)
    out[:] = V.mean(axis=0, dtype=np.float64).astype(Q.dtype)
    out[active] = softmax_tiled(Q, K, V, rows=active)
    if return_factors:
        n_measure = n * m if measure == "exact" else r["key_indices"].size
        return out, {"active": active, "measure": M, "key_indices": r.get("key_indices"),
                     "n_evals": n_measure + active.size * m, "exact_fraction": active.size / n}
    return out


def _d_bound(n, m, options):
    if options.get("n_top") is not None:
        return None, ""
    return informer_max_d(n, m), "u = c⌈ln n⌉ active queries, c = ⌈d / ln m⌉, must not exceed n"


def _check_sizes(n, m, p, pv, d, options, func):
    if options.get("n_top") is not None:
        check_int(options["n_top"], func, "n_top", low=1, high=n)
    if options.get("n_sample") is not None:
        check_int(options["n_sample"], func, "n_sample", low=1, high=m)


METHODS = (AttentionMethod(
    name="informer", formula=informer, draw=draw,
    options={"n_top": v_optional(v_int(1, None)), "n_sample": v_optional(v_int(1, None)),
             "measure": v_choice("sampled", "exact"), "mean_divisor": v_choice("n", "sample"),
             "key_indices": v_optional(v_array)},
    per_item_options={"key_indices": 2}, d_bound=_d_bound, check_sizes=_check_sizes,
    summary="ProbSparse: exact rows for the queries with the largest sampled max-mean measure (Zhou et al. 2021)"),)
