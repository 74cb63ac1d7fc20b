"""KDEformer (Zandieh, Han, Daliri, Karbasi, ICML 2023; algorithms.md §13.6).

One head, softmax target ``R = D⁻¹AV`` (``A = exp(Q̂K̂ᵀ)``, keys centred, as in
:mod:`kernapprox.attention._hyperattention`):

1. **Heavy part** as in HyperAttention: sortLSH (angular hyperplanes, Gray-code order) and exact
   diagonal blocks of the sorted order.
2. **Column-norm estimate** (the paper's KDE step): ``n_pilot`` query rows drawn uniformly without
   replacement give the exact rows ``P_J = softmax(Q̂_J K̂ᵀ)``; the column norms of ``P`` are estimated
   by ``‖P_J^{(j)}‖`` and the sampling probabilities are ``π_j ∝ ‖P_J^{(j)}‖ ‖v_j‖`` (the importance
   distribution of the paper's Alg. 1 / Thm 3.2, as Skeinformer's Eq. (5)), mixed with the uniform
   distribution, ``π ← (1 − α) π + α/m`` (``uniform_mix = α``), so that no key has probability 0.
3. **Importance sampling**: ``s`` keys i.i.d. from ``π`` with weights ``1/(s π_j)``; as in HyperAttention
   each query drops the samples of its own exact slice; numerator and denominator come from the same
   sample and are normalised jointly with the exact blocks.
4. The pilot rows, computed exactly anyway, are returned exactly (``out[J] = P_J V``).

``control_variate=True`` (not in the paper): the sample estimates only the deviations from a per-row
baseline, whose share is added exactly (see ``sortlsh_attention`` in the HyperAttention module).

Budget (algorithms.md §13.1): ``n_evals`` = block scores + ``n·s`` sample scores + ``n_pilot·m`` pilot
scores (+ charged hyperplanes beyond ``⌊log₂ max(n, m)⌋``, none by default); hashing and sorting are
free. ``exact_fraction`` counts the exact block entries of the non-pilot rows plus the ``m`` entries
of every pilot row. Defaults: ``b = min(d, ⌊n/2⌋)``, ``n_pilot = max(1, ⌊d/4⌋)``,
``s = max(0, d − ⌈n_pilot·m/n⌉)``, so ``n_evals <= 2·n·d <= B(d)`` for self-attention, with at most
``min(d, m/2)`` exact scores per query except the ``n_pilot`` pilot rows (exact rows, as Skeinformer's).
"""
from __future__ import annotations

import numpy as np

from .._random import sample_proportional
from ..bounds import skeinformer_column_probabilities as column_probabilities
from .._validation import as_generator, check_bool, check_indices, check_int, check_real, fail
from ._common import softmax_rows
from ._hyperattention import (SORTLSH_OPTIONS, check_hyperplanes, default_hyperplanes, free_hyperplanes,
                              sortlsh_attention)
from ._protocol import AttentionMethod, v_array, v_int, v_optional, v_real

__all__ = ["METHODS", "kdeformer_formula", "d_bound"]

_FUNC = "kdeformer"
#: default weight of the uniform distribution in the sampling mixture
UNIFORM_MIX = 0.1


def _sizes(n, m, d, block_size, n_pilot, s, n_hyperplanes, uniform_mix, func):
    if d is not None:
        d = check_int(d, func, "d", low=1)
    need = [k for k, v in (("block_size", block_size), ("n_pilot", n_pilot), ("s", s)) if v is None]
    if need and d is None:
        raise fail(func, "d", "be given (or all of `block_size`, `n_pilot`, `s`)", None)
    if block_size is None:
        block_size = max(1, min(d, n // 2))
    block_size = check_int(block_size, func, "block_size", low=1)
    if n_pilot is None:
        n_pilot = max(1, min(n, d // 4))
    n_pilot = check_int(n_pilot, func, "n_pilot", low=1, high=n)
    if s is None:
        s = max(0, d - (-(-n_pilot * m // n)))
    s = check_int(s, func, "s", low=0)
    if n_hyperplanes is None:
        n_hyperplanes = default_hyperplanes(n, m, min(block_size, n))
    n_hyperplanes = check_int(n_hyperplanes, func, "n_hyperplanes", low=1, high=62)
    uniform_mix = check_real(uniform_mix, func, "uniform_mix", low=0.0, high=1.0)
    return block_size, n_pilot, s, n_hyperplanes, uniform_mix


def _scaled(Q, K):
    dt = Q.dtype
    scale = dt.type(1.0 / Q.shape[1] ** 0.25)
    return Q * scale, (K - K.mean(axis=0, dtype=np.float64).astype(dt)) * scale


def _pilot(Qh, Kh, J):
    """Exact pilot rows ``P_J = softmax(Q̂_J K̂ᵀ)`` (n_pilot, m)."""
    return softmax_rows(Qh[J] @ Kh.T)


def _probabilities(PJ, V, uniform_mix):
    pi = column_probabilities(PJ, V)
    return (1.0 - uniform_mix) * pi + uniform_mix / pi.size


def _draw_with_pilot(Q, K, V, *, d=None, rng=None, block_size=None, n_hyperplanes=None, n_pilot=None, s=None,
                     uniform_mix=UNIFORM_MIX, hyperplanes=None, pilot_indices=None, sample_indices=None):
    """:func:`_draw` plus ``(Q̂, K̂, P_J, π)`` when computed (so the formula does not repeat them)."""
    func = _FUNC + ".draw"
    n, m, p = Q.shape[0], K.shape[0], Q.shape[1]
    if pilot_indices is not None and n_pilot is None:
        n_pilot = int(np.size(pilot_indices))
    if sample_indices is not None and s is None:
        s = int(np.size(sample_indices))
    if hyperplanes is not None and n_hyperplanes is None:
        n_hyperplanes = int(np.shape(hyperplanes)[-1])
    b, n_pilot, s, r, mix = _sizes(n, m, d, block_size, n_pilot, s, n_hyperplanes, uniform_mix, func)
    gen = as_generator(rng, func)
    out = {}
    if hyperplanes is None:
        hyperplanes = gen.standard_normal((p, r))
    out["hyperplanes"] = check_hyperplanes(hyperplanes, p, r, func)
    if pilot_indices is None:
        pilot_indices = gen.choice(n, size=n_pilot, replace=False)
    J = check_indices(pilot_indices, n, func, "pilot_indices")
    if J.size != n_pilot:
        raise fail(func, "pilot_indices", f"hold n_pilot = {n_pilot} indices", J.size)
    if np.unique(J).size != J.size:
        raise fail(func, "pilot_indices", "be distinct (drawn without replacement)", "duplicates")
    out["pilot_indices"] = J
    cache = None
    if s > 0:
        if sample_indices is None:
            Qh, Kh = _scaled(Q, K)
            PJ = _pilot(Qh, Kh, J)
            pi = _probabilities(PJ, V, mix)
            cache = (Qh, Kh, PJ, pi)
            sample_indices = sample_proportional(pi, s, gen)
        S = check_indices(sample_indices, m, func, "sample_indices")
        if S.size != s:
            raise fail(func, "sample_indices", f"hold s = {s} indices", S.size)
        out["sample_indices"] = S
    return out, cache


def _draw(Q, K, V, *, d=None, rng=None, block_size=None, n_hyperplanes=None, n_pilot=None, s=None,
          uniform_mix=UNIFORM_MIX, hyperplanes=None, pilot_indices=None, sample_indices=None):
    """KDEformer's randomness for one head: ``hyperplanes`` (p, r), ``pilot_indices`` (n_pilot,), then
    the data-dependent ``sample_indices`` (s,)."""
    return _draw_with_pilot(Q, K, V, d=d, rng=rng, block_size=block_size, n_hyperplanes=n_hyperplanes,
                            n_pilot=n_pilot, s=s, uniform_mix=uniform_mix, hyperplanes=hyperplanes,
                            pilot_indices=pilot_indices, sample_indices=sample_indices)[0]


def kdeformer_formula(Q, K, V, *, d=None, rng=None, return_factors: bool = False, block_size=None,
                      n_hyperplanes=None, n_pilot=None, s=None, uniform_mix=UNIFORM_MIX, control_variate: bool = False,
                      hyperplanes=None, pilot_indices=None, sample_indices=None):
    """KDEformer for one head (module docstring; Zandieh et al., ICML 2023).

    Parameters
    ----------
    Q : ndarray (n, p); K : ndarray (m, p); V : ndarray (m, pv) — one dtype (float32 or float64)
    d : int — budget (defaults in the module docstring)
    rng : None, int, SeedSequence or Generator
    return_factors : bool
        Also return ``{"n_evals", "exact_fraction", "hyperplanes", "pilot_indices", "sample_indices",
        "probabilities", "block_size", "n_pilot", "s", "n_hyperplanes"}``.
    block_size : int, optional — sorted queries per exact block (``>= n``: exact attention)
    n_hyperplanes : int, optional — sortLSH hyperplanes
    n_pilot : int, optional — exact pilot rows of the column-norm estimate (1 <= n_pilot <= n)
    s : int, optional — importance-sampled keys (0: blocks and pilot rows only)
    uniform_mix : float in [0, 1] — weight of the uniform distribution in the sampling mixture
    control_variate : bool
        Sample only the deviations from a per-row baseline
        (:func:`kernapprox.attention._hyperattention.sortlsh_attention`); False (default) is the paper's
        estimator.
    hyperplanes, pilot_indices, sample_indices : optional pre-drawn randomness (``draw``)

    Returns
    -------
    out : ndarray (n, pv); factors : dict, only with ``return_factors``

    Notes
    -----
    Time O(n (b + s) (p + pv) + n_pilot m p); memory O(n (b + s) + n_pilot m).

    References
    ----------
    Zandieh, Han, Daliri, Karbasi, "KDEformer: Accelerating Transformers via Kernel Density
    Estimation", ICML 2023: Alg. 1 (importance sampling by estimated column norms), Thm 3.2, §4 (the
    sortLSH heavy part shared with HyperAttention).
    """
    func = _FUNC
    n, m = Q.shape[0], K.shape[0]
    r, cache = _draw_with_pilot(Q, K, V, d=d, rng=rng, block_size=block_size, n_hyperplanes=n_hyperplanes,
                                n_pilot=n_pilot, s=s, uniform_mix=uniform_mix, hyperplanes=hyperplanes,
                                pilot_indices=pilot_indices, sample_indices=sample_indices)
    H, J, S = r["hyperplanes"], r["pilot_indices"], r.get("sample_indices")
    b, n_pilot, s, nh, mix = _sizes(n, m, d, block_size, J.size, 0 if S is None else S.size, H.shape[1],
                                    uniform_mix, func)
    dt = Q.dtype
    if cache is None:
        Qh, Kh = _scaled(Q, K)
        PJ = _pilot(Qh, Kh, J)
        pi = _probabilities(PJ, V, mix)
    else:
        Qh, Kh, PJ, pi = cache
    wts = None if S is None else 1.0 / (S.size * pi[S])
    out, info = sortlsh_attention(Qh, Kh, V, block_size=b, hyperplanes=H.astype(dt, copy=False),
                                  sample_indices=S, sample_weights=wts,
                                  control_variate=check_bool(control_variate, func, "control_variate"))
    out[J] = PJ @ V
    out = out.astype(dt, copy=False)
    if not return_factors:
        return out
    per_q = info["exact_per_query"].copy()
    per_q[J] = m
    n_evals = info["exact_scores"] + info["sample_scores"] + n_pilot * m + (n + m) * max(0, nh - free_hyperplanes(n, m))
    return out, {"n_evals": int(n_evals), "exact_fraction": float(per_q.sum()) / (n * m), "hyperplanes": H,
                 "pilot_indices": J, "sample_indices": S, "probabilities": pi, "block_size": b,
                 "n_pilot": n_pilot, "s": s, "n_hyperplanes": nh}


def _d_bytes(n, m, p, pv, d, options):
    b = options.get("block_size") or max(1, min(d, n // 2))
    pilot = options.get("n_pilot") or max(1, min(n, d // 4))
    s = options.get("s") if options.get("s") is not None else d
    width = -(-min(b, n) * m // max(n, 1)) + 1
    return 8 * (2 * n * (width + s) + 2 * pilot * m + (n + m) * (p + pv) + n * pv)


def d_bound(n: int, m: int, options: dict):
    """The largest meaningful budget: ``d = m`` keys (as HyperAttention's)."""
    return m, "the sampled keys and the exact blocks stop growing at d = m keys"


OPTIONS = {**SORTLSH_OPTIONS, "n_pilot": v_optional(v_int(1)), "uniform_mix": v_real(low=0.0, high=1.0),
           "pilot_indices": v_optional(v_array)}

METHODS = (
    AttentionMethod(
        name="kdeformer",
        formula=kdeformer_formula,
        draw=_draw,
        options=OPTIONS,
        per_item_options={"hyperplanes": 2, "pilot_indices": 1, "sample_indices": 1},
        target=lambda options: "softmax",
        default_safeguard="exact",
        d_bytes=_d_bytes,
        d_bound=d_bound,
        summary="sortLSH exact diagonal blocks + keys importance-sampled by pilot-row column norms × ‖v_j‖ "
                "(Zandieh et al., ICML 2023)",
    ),
)
