"""S3Attention's column (skeleton) and row attention (Wang et al., arXiv 2408.08567, §3;
algorithms.md §5.3), without the learned parts (smoother, learnable layer norms).

* column attention ``V̂₁ = softmax(Q K[P₁]ᵀ/√p) V[P₁]`` over ``d`` uniformly chosen key/value rows;
* row attention ``V̂₂ = V P₂ · softmax(P₂ᵀ Kᵀ Q/√n)`` over ``s₂`` chosen feature channels (needs
  self-attention shapes: m = n and pv = p);
* ``part="both"``: ``LN(V̂₁) + LN(V̂₂)`` with a parameter-free per-row standardisation (``layer_norm``).
"""
from __future__ import annotations

import numpy as np

from .._validation import as_generator, check_choice, check_indices, check_int, fail
from ._common import check_d, check_qkv, softmax_rows, softmax_tiled
from ._protocol import AttentionMethod, v_array, v_bool, v_choice, v_int, v_optional

__all__ = ["s3", "draw", "METHODS"]

_FUNC = "s3"
#: Variance floor of the parameter-free layer norm (as torch.nn.LayerNorm's default eps).
LN_EPS = 1e-5


def _layer_norm(X):
    mu = X.mean(axis=1, keepdims=True)
    var = X.var(axis=1, keepdims=True)
    return (X - mu) / np.sqrt(var + LN_EPS)


def draw(Q, K, V, *, d=None, rng=None, part="column", n_channels=None, column_indices=None,
         feature_indices=None) -> dict:
    """Randomness of one S3 call: ``column_indices`` (d,) and ``feature_indices`` (s₂,)."""
    check_choice(part, ("column", "row", "both"), _FUNC, "part")
    gen = as_generator(rng)
    m, pv = K.shape[0], V.shape[1]
    out = {}
    if part in ("column", "both"):
        if column_indices is None:
            d = check_d(d, _FUNC, high=m, what="key rows are chosen without replacement")
            column_indices = np.sort(gen.choice(m, size=d, replace=False))
        out["column_indices"] = check_indices(column_indices, m, _FUNC, "column_indices")
    if part in ("row", "both"):
        if feature_indices is None:
            s2 = min(pv, check_d(d, _FUNC)) if n_channels is None else \
                check_int(n_channels, _FUNC, "n_channels", low=1, high=pv)
            feature_indices = np.sort(gen.choice(pv, size=s2, replace=False))
        out["feature_indices"] = check_indices(feature_indices, pv, _FUNC, "feature_indices")
    return out



def s3(Q, K, V, *, d=None, rng=None, return_factors: bool = False, part: str = "column", n_channels=None,
       layer_norm: bool = True, column_indices=None, feature_indices=None):
    """S3 column/row attention for one head.

    Parameters
    ----------
    Q : ndarray of shape (n, p)
    K : ndarray of shape (m, p)
    V : ndarray of shape (m, pv)
    d : int
        Number of key/value rows s₁ of the column attention (d <= m, without replacement).
    rng : None, int, SeedSequence or Generator
    return_factors : bool
        Also return ``{"column_indices", "feature_indices", "column": V̂₁, "row": V̂₂, "n_evals",
        "exact_fraction"}``: ``n_evals`` = n·d scores of the column part plus s₂·p of the row part.
    part : {"column", "row", "both"}
    n_channels : int, optional
        s₂ channels of V used by the row attention (default min(d, pv); deprecated alias
        ``n_features``, accepted by the dispatcher).
    layer_norm : bool
        ``part="both"``: standardise each part per row before summing (True) or add them raw.
    column_indices : ndarray of int of shape (d,), optional
    feature_indices : ndarray of int of shape (s₂,), optional

    Returns
    -------
    out : ndarray of shape (n, pv)
    factors : dict, only with ``return_factors=True``

    Notes
    -----
    Column part O(n d p), row part O(n p s₂); memory O(n d). With d = m the column part is exact
    softmax attention.

    References
    ----------
    Wang, Zhou, Zhu, Liu, Yuan, Yao, Yin, Jin, Cai, "S3Attention", arXiv 2408.08567, §3 (skeleton
    attention, Prop. 1).

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> Q, K, V = np.random.default_rng(0).normal(size=(3, 64, 8))
    >>> bool(np.allclose(ka.attention.s3(Q, K, V, d=64, rng=0), ka.attention.exact(Q, K, V)))
    True
    """
    Q, K, V = check_qkv(Q, K, V, _FUNC)
    check_choice(part, ("column", "row", "both"), _FUNC, "part")
    n, m = Q.shape[0], K.shape[0]
    if part != "column" and (m != n or V.shape[1] != Q.shape[1]):
        raise fail(_FUNC, "part", "be 'column' unless m = n and pv = p (row attention mixes channels)",
                   repr(part))
    r = draw(Q, K, V, d=d, rng=rng, part=part, n_channels=n_channels, column_indices=column_indices,
             feature_indices=feature_indices)
    dt = Q.dtype
    V1 = V2 = None
    if "column_indices" in r:
        J = r["column_indices"]
        V1 = softmax_tiled(Q, K[J], V[J])
    if "feature_indices" in r:
        P = r["feature_indices"]
        S = softmax_rows(K[:, P].T @ Q / np.sqrt(n))                 # softmax(P₂ᵀ Kᵀ Q/√n), (s₂, p)
        V2 = V[:, P] @ S                                             # (n, p)
    if part == "column":
        out = V1
    elif part == "row":
        out = V2
    else:
        out = _layer_norm(V1) + _layer_norm(V2) if layer_norm else V1 + V2
    out = np.asarray(out).astype(dt, copy=False)
    if return_factors:
        n_evals = (0 if V1 is None else n * r["column_indices"].size) + \
            (0 if V2 is None else r["feature_indices"].size * Q.shape[1])
        return out, {**r, "column": V1, "row": V2, "n_evals": n_evals, "exact_fraction": 0.0}
    return out


def _check_sizes(n, m, p, pv, d, options, func):
    if options.get("n_channels") is not None:
        check_int(options["n_channels"], func, "n_channels", low=1, high=pv)


METHODS = (AttentionMethod(
    name="s3", formula=s3, draw=draw,
    options={"part": v_choice("column", "row", "both"), "n_channels": v_optional(v_int(1, None)),
             "layer_norm": v_bool, "column_indices": v_optional(v_array), "feature_indices": v_optional(v_array)},
    aliases={"n_features": "n_channels"},
    per_item_options={"column_indices": 1, "feature_indices": 1},
    # row / both parts mix channels: no range to keep
    target=lambda o: "softmax" if o.get("part", "column") == "column" else None,
    d_bound=lambda n, m, o: (m, "it samples the m keys"),
    check_sizes=_check_sizes,
    summary="skeleton column (and row) attention over sampled keys / channels (Wang et al. 2024)"),)
