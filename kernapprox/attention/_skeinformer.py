"""Skeinformer (Chen, Zeng, Hakkani-Tur, Jin, Ji, Yang, NAACL 2022) and V-Mean (algorithms.md §3, §9.5).

Algorithm 1 exactly (§3.6): uniform pilot rows J (with replacement) → exact rows ``B_J`` → column
probabilities ``p̂_i ∝ ‖B_J^{(i)}‖ ‖V_(i)‖`` (Eq. 5) → d columns J' without replacement → adaptive row
normalisation with the geometric mean of the selected scores (Eq. 6) → pilot rows overwritten with the
exact ``B_J V`` (§4.3).

Ablation flags (paper Table 1 rows / the authors' ``SkeinAttention_ablation_*`` classes). Each flag on
its own reproduces the code class of its ablation: ``pilot_reuse=None`` (default) resolves to True
only for Algorithm 1 itself (importance columns, adaptive normalisation), because every ablation
class of the code skips the pilot reuse; an explicit ``pilot_reuse`` wins.

==============================  ===============================================================
flag (pilot reuse resolved)     meaning / code class reproduced
==============================  ===============================================================
``column_sampling="uniform"``   "w/o column sampling": J' uniform without replacement, no pilot
(False)                         (``SkeinAttention_ablation_uniform``)
``row_normalization="exact"``   "w/o row normalization": exact D (streamed, O(n m p)) times
(False)                         ``A[:, J'] V[J']`` (``SkeinAttention_ablation_no_normalization``)
``row_normalization="simple"``  "w/ simple row normalization": softmax over the selected columns
(False)                         (``SkeinAttention_ablation_simple_normalization``)
``pilot_reuse=False``           "w/o pilot sampling reutilization" (``..._ablation_nopilot``)
``importance_weights=True``     Prop. 1's estimator ``B S Sᵀ V``: J' i.i.d. WITH replacement from p̂
                                and weights ``1/(d p̂_i)`` (the code computes but does not use them);
                                only with ``row_normalization`` "exact" or "simple"
==============================  ===============================================================
"""
from __future__ import annotations

import numpy as np

from .._validation import as_generator, check_choice, check_indices, fail
from ..bounds import skeinformer_column_probabilities as column_probabilities
from ._common import check_d, factor_rows, check_qkv, gumbel_topk, logsumexp_rows, softmax_rows
from ._protocol import AttentionMethod, v_array, v_bool, v_choice, v_optional

__all__ = ["skeinformer", "vmean", "draw", "resolve_pilot_reuse", "METHODS"]

_FUNC = "skeinformer"


def _pilot_rows(Q, K, J):
    """Exact rows ``B_J = softmax(Q_J Kᵀ/√p)`` (d, m)."""
    S = Q[J] @ K.T
    S *= 1.0 / np.sqrt(Q.shape[1])
    return softmax_rows(S)


def _needs_pilot(column_sampling, pilot_reuse):
    return column_sampling == "importance" or pilot_reuse


def resolve_pilot_reuse(pilot_reuse, column_sampling, row_normalization) -> bool:
    """``pilot_reuse=None``: True for Algorithm 1 only (every ablation class of the code skips it)."""
    if pilot_reuse is None:
        return column_sampling == "importance" and row_normalization == "adaptive"
    check_choice(pilot_reuse, (True, False), _FUNC, "pilot_reuse")
    return bool(pilot_reuse)


def _check_flags(column_sampling, row_normalization, importance_weights):
    check_choice(column_sampling, ("importance", "uniform"), _FUNC, "column_sampling")
    check_choice(row_normalization, ("adaptive", "exact", "simple"), _FUNC, "row_normalization")
    if importance_weights and row_normalization == "adaptive":
        raise fail(_FUNC, "importance_weights", "be False with row_normalization='adaptive' (Alg. 1 is "
                   "unweighted; use 'exact' or 'simple' for Prop. 1's weighted estimator)", True)


def draw(Q, K, V, *, d=None, rng=None, column_sampling="importance", row_normalization="adaptive",
         pilot_reuse=None, importance_weights=False, pilot_indices=None, column_indices=None) -> dict:
    """Randomness of one Skeinformer call: ``pilot_indices`` (d,) and ``column_indices`` (d,)."""
    return _draw_with_pilot(Q, K, V, d=d, rng=rng, column_sampling=column_sampling,
                            row_normalization=row_normalization, pilot_reuse=pilot_reuse,
                            importance_weights=importance_weights, pilot_indices=pilot_indices,
                            column_indices=column_indices)[0]


def _draw_with_pilot(Q, K, V, *, d, rng, column_sampling, row_normalization, pilot_reuse, importance_weights,
                     pilot_indices, column_indices):
    """:func:`draw` plus the pilot rows ``B_J`` and probabilities ``p̂`` when it computed them (else None),
    so that :func:`skeinformer` does not compute them twice."""
    _check_flags(column_sampling, row_normalization, importance_weights)
    pilot_reuse = resolve_pilot_reuse(pilot_reuse, column_sampling, row_normalization)
    n, m = Q.shape[0], K.shape[0]
    replace = bool(importance_weights)
    gen = as_generator(rng)
    if column_indices is not None and d is None:
        d = np.asarray(column_indices).size            # inferred (also when both arrays are given)
    d = check_d(d, _FUNC, high=None if replace else m,
                what="columns are sampled without replacement from the m keys")
    out = {}
    BJ = ph = None
    if _needs_pilot(column_sampling, pilot_reuse):
        if pilot_indices is None:
            pilot_indices = gen.integers(0, n, size=d)
        out["pilot_indices"] = check_indices(pilot_indices, n, _FUNC, "pilot_indices")
    if column_indices is None:
        if column_sampling == "uniform":
            column_indices = gen.choice(m, size=d, replace=replace)
        else:
            BJ = _pilot_rows(Q, K, out["pilot_indices"])
            ph = column_probabilities(BJ, V)
            if replace:
                column_indices = gen.choice(m, size=d, replace=True, p=ph)
            else:
                with np.errstate(divide="ignore"):
                    column_indices = gumbel_topk(np.log(ph), d, gen)
    out["column_indices"] = check_indices(column_indices, m, _FUNC, "column_indices")
    return out, BJ, ph


def skeinformer(Q, K, V, *, d=None, rng=None, return_factors: bool = False, column_sampling: str = "importance",
                row_normalization: str = "adaptive", pilot_reuse: bool | None = None, importance_weights: bool = False,
                pilot_indices=None, column_indices=None):
    """Skeinformer attention for one head (Algorithm 1 of Chen et al. 2022, with ablation flags).

    Parameters
    ----------
    Q : ndarray of shape (n, p)
    K : ndarray of shape (m, p)
    V : ndarray of shape (m, pv)
    d : int
        Number of pilot rows and of sampled columns (d <= m unless ``importance_weights``); inferred
        from ``column_indices`` when given.
    rng : None, int, SeedSequence or Generator
    return_factors : bool
        Also return ``{"pilot_indices", "column_indices", "probabilities", "row_sums", "weights",
        "n_evals", "exact_fraction"}``: ``n_evals`` counts the pilot scores ``|J|·m``, the selected
        scores ``n·d`` and, for ``row_normalization="exact"``, the n·m scores of the exact D;
        ``exact_fraction`` is the share of the n·m entries of ``D⁻¹A`` the output uses exactly (the
        pilot rows written back; with the exact D also the unweighted selected entries).
    column_sampling : {"importance", "uniform"}
    row_normalization : {"adaptive", "exact", "simple"}
    pilot_reuse : bool or None
        None: True for Algorithm 1, False for every ablation (the code's classes); see the module table.
    importance_weights : bool
        See the module table.
    pilot_indices : ndarray of int of shape (d,), optional
        Pre-drawn pilot rows (uniform with replacement on [0, n)).
    column_indices : ndarray of int of shape (d,), optional
        Pre-drawn columns (keys) J'.

    Returns
    -------
    out : ndarray of shape (n, pv)
    factors : dict, only with ``return_factors=True``

    Notes
    -----
    Time O((n + m) d p) (plus O(n m p) streamed for ``row_normalization="exact"``); memory O((n + m) d)
    (adaptive / simple normalisation: the output plus one (tile, d) score tile).
    With d = m (all columns) and the adaptive normalisation the output is exactly ``D⁻¹AV``; with d = 1
    and no pilot reuse it is exactly V-Mean (the d → 0 limit, §3.4).

    References
    ----------
    Chen, Zeng, Hakkani-Tur, Jin, Ji, Yang, "Sketching as a Tool for Understanding and Accelerating
    Self-attention for Long Sequences", NAACL 2022: Alg. 1, Prop. 1, Lemma 1, Eqs. (5)–(6), §4.3.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> Q, K, V = np.random.default_rng(0).normal(size=(3, 32, 8))
    >>> out = ka.attention.skeinformer(Q, K, V, d=32, rng=0)
    >>> bool(np.allclose(out, ka.attention.exact(Q, K, V)))
    True
    """
    Q, K, V = check_qkv(Q, K, V, _FUNC)
    n, m = Q.shape[0], K.shape[0]
    dt = Q.dtype
    pilot_reuse = resolve_pilot_reuse(pilot_reuse, column_sampling, row_normalization)
    r, BJ, ph = _draw_with_pilot(Q, K, V, d=d, rng=rng, column_sampling=column_sampling,
                                 row_normalization=row_normalization, pilot_reuse=pilot_reuse,
                                 importance_weights=importance_weights, pilot_indices=pilot_indices,
                                 column_indices=column_indices)
    Jc = r["column_indices"]
    dcols = Jc.size
    if pilot_indices is not None and np.asarray(pilot_indices).size != (dcols if d is None else d):
        raise fail(_FUNC, "pilot_indices", f"hold d = {dcols if d is None else d} indices",
                   np.asarray(pilot_indices).size)
    if column_indices is not None and d is not None and dcols != d:
        raise fail(_FUNC, "column_indices", f"hold d = {d} indices", dcols)
    if not importance_weights and np.unique(Jc).size != dcols:
        raise fail(_FUNC, "column_indices", "be distinct (sampled without replacement)", "duplicates")
    J = r.get("pilot_indices")
    if BJ is None and J is not None:
        BJ = _pilot_rows(Q, K, J)
    if importance_weights and column_sampling != "importance":
        ph = np.full(m, 1.0 / m)
    elif ph is None and BJ is not None and (importance_weights or return_factors):
        ph = column_probabilities(BJ, V)
    w = None
    if importance_weights:
        w = 1.0 / (dcols * ph[Jc])                                   # Def. 3.1 weights 1/(d p̂_i)
    VJ = V[Jc]
    if row_normalization == "exact":
        S = Q @ K[Jc].T                                              # (n, d) selected scores
        S *= 1.0 / np.sqrt(Q.shape[1])
        lse = logsumexp_rows(Q, K)                                   # exact log D, streamed
        E = np.exp(S - lse[:, None].astype(dt))
        if w is not None:
            E *= w.astype(dt)
        out = E @ VJ
        rows = np.exp(lse)
    else:
        # row-local: streamed over query tiles of about FACTOR_BUDGET bytes (no (n, d) score block)
        KJt = K[Jc].T
        out = np.empty((n, V.shape[1]), dtype=np.result_type(dt, V.dtype))
        rows = np.empty(n, dtype=dt)
        if row_normalization != "simple":
            mask = np.ones(m, dtype=bool)
            mask[Jc] = False
            vrest = V[mask].sum(axis=0)                              # rows of V not in J'
        step = factor_rows(dcols, dt.itemsize)
        for i0 in range(0, n, step):
            i1 = min(n, i0 + step)
            S = Q[i0:i1] @ KJt                                       # (tile, d) selected scores
            S *= 1.0 / np.sqrt(Q.shape[1])
            if row_normalization == "simple":
                S -= S.max(axis=1, keepdims=True)
                E = np.exp(S, out=S)
                if w is not None:
                    E *= w.astype(dt)
                rows[i0:i1] = E.sum(axis=1)
                out[i0:i1] = (E @ VJ) / rows[i0:i1, None]
            else:
                gl = S.mean(axis=1)                                  # log of the geometric mean g_i
                c = S.max(axis=1)
                S -= c[:, None]
                E = np.exp(S, out=S)                                 # a_ij e^{-c_i}
                g = np.exp(gl - c)                                   # g_i e^{-c_i}
                rows[i0:i1] = E.sum(axis=1) + (m - dcols) * g
                out[i0:i1] = (E @ VJ + g[:, None] * vrest[None, :]) / rows[i0:i1, None]
    if pilot_reuse and J is not None:
        out[J] = BJ @ V
    out = out.astype(dt, copy=False)
    if return_factors:
        n_pilot = 0 if J is None else J.size
        exact_rows = np.unique(J).size if (pilot_reuse and J is not None) else 0
        exact_cols = np.unique(Jc).size if (row_normalization == "exact" and w is None) else 0
        n_evals = n_pilot * m + n * dcols + (n * m if row_normalization == "exact" else 0)
        exact = exact_rows * m + (n - exact_rows) * exact_cols
        return out, {"pilot_indices": J, "column_indices": Jc, "probabilities": ph, "row_sums": rows,
                     "weights": w, "n_evals": n_evals, "exact_fraction": exact / (n * m)}
    return out


def vmean(Q, K, V, *, d=None, rng=None, return_factors: bool = False):
    """V-Mean baseline: every output row is the mean of the rows of V, ``(1/m) 1 1ᵀ V``.

    Parameters
    ----------
    Q : ndarray of shape (n, p)
    K : ndarray of shape (m, p)
    V : ndarray of shape (m, pv)
    d, rng : ignored (accepted for the common signature; the error does not depend on d)

    Returns
    -------
    out : ndarray of shape (n, pv)

    Notes
    -----
    O(m pv). The d → 0 limit of Skeinformer's adaptive row normalisation (exactly equal at d = 1
    without pilot reuse).

    References
    ----------
    Chen et al., NAACL 2022 (Skeinformer), §4.2 and Table 1 ("V-Mean").

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> Q, K, V = np.random.default_rng(0).normal(size=(3, 4, 2))
    >>> bool(np.allclose(ka.attention.vmean(Q, K, V), V.mean(axis=0)))
    True
    """
    Q, K, V = check_qkv(Q, K, V, "vmean")
    mu = V.mean(axis=0, dtype=np.float64).astype(V.dtype)
    out = np.broadcast_to(mu, (Q.shape[0], V.shape[1])).copy()
    return (out, {"mean": mu, "n_evals": 0, "exact_fraction": 0.0}) if return_factors else out


def _no_draw(Q, K, V, *, d=None, rng=None) -> dict:
    """V-Mean draws nothing."""
    return {}


METHODS = (
    AttentionMethod(
        name="skeinformer", formula=skeinformer, draw=draw,
        options={"column_sampling": v_choice("importance", "uniform"),
                 "row_normalization": v_choice("adaptive", "exact", "simple"), "pilot_reuse": v_optional(v_bool),
                 "importance_weights": v_bool, "pilot_indices": v_optional(v_array),
                 "column_indices": v_optional(v_array)},
        per_item_options={"pilot_indices": 1, "column_indices": 1},
        d_bound=lambda n, m, o: ((None, "") if o.get("importance_weights", False) else
                                 (m, "columns are sampled without replacement from the m keys")),
        summary="pilot-sampled column importance with adaptive row normalisation (Chen et al. 2022)"),
    AttentionMethod(
        name="vmean", formula=vmean, draw=_no_draw, options={},
        # every row is the mean of V's rows, inside the softmax range box by construction: the default
        # range check would only add three n×pv temporaries (4x the output's memory) to a call that
        # writes the output and nothing else; safeguard="exact"/"clip" still run it on request
        default_safeguard="none",
        d_bytes=lambda n, m, p, pv, d, o: 0, summary="every row the mean of V"),
)
