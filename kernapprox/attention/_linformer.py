"""Linformer with a Johnson–Lindenstrauss projection (Wang et al. 2020; algorithms.md §9.4, §3.1).

``variant="linformer"``: ``softmax(Q (E K)ᵀ/√p) (E V)`` with one shared E = F (d×m, i.i.d.
N(0, 1/d)) — the untrained analogue of the LRA code's shared learned projection; the softmax of
sketched scores is NOT a sketch of ``D⁻¹AV``. ``variant="unreduced_jlt"``: the true sketch
``D⁻¹ A S Sᵀ V`` with ``S = Eᵀ`` (Skeinformer Table 1 "Linformer w/ unreduced JLT"; O(n m p),
streamed).
"""
from __future__ import annotations

import numpy as np

from .._validation import as_generator, check_choice, check_matrix, fail
from ._common import check_d, check_d_matches, check_qkv, public_draw, softmax_tiled

__all__ = ["linformer"]

_FUNC = "linformer"


def _draw(Q, K, V, *, d=None, rng=None, projection=None):
    """Randomness of one Linformer call: ``projection`` E of shape (d, m), i.i.d. N(0, 1/d)."""
    m = K.shape[0]
    if projection is None:
        d = check_d(d, _FUNC)
        projection = as_generator(rng).standard_normal((d, m)) / np.sqrt(d)
    E = check_matrix(projection, _FUNC, "projection", ndim=2)
    if E.shape[1] != m:
        raise fail(_FUNC, "projection", f"have shape (d, {m})", f"shape {E.shape}")
    return {"projection": E}


draw = public_draw(_draw, _FUNC, "Draw Linformer's JL projection for one head.")


def linformer(Q, K, V, *, d=None, rng=None, return_factors: bool = False, variant: str = "linformer",
              projection=None):
    """Linformer attention for one head with a JL projection E = F.

    Parameters
    ----------
    Q : ndarray of shape (n, p)
    K : ndarray of shape (m, p)
    V : ndarray of shape (m, pv)
    d : int
        Projected length k (inferred from ``projection``).
    rng : None, int, SeedSequence or Generator
    return_factors : bool
        Also return ``{"projection": E, "EK": (d, p), "EV": (d, pv)}``.
    variant : {"linformer", "unreduced_jlt"}
    projection : ndarray of shape (d, m), optional
        Pre-drawn E (default i.i.d. N(0, 1/d)).

    Returns
    -------
    out : ndarray of shape (n, pv)
    factors : dict, only with ``return_factors=True``

    Notes
    -----
    ``"linformer"``: time O(m d p + n d p), memory O(n d); ``"unreduced_jlt"``: O(n m p) time
    (streamed, tile memory).

    References
    ----------
    Wang et al., "Linformer: Self-Attention with Linear Complexity", arXiv 2006.04768 (2020), Eq. (7),
    Thm 2; Chen et al., NAACL 2022, §3.3.2 and Table 1.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> Q, K, V = np.random.default_rng(0).normal(size=(3, 64, 8))
    >>> ka.attention.linformer(Q, K, V, d=16, rng=0).shape
    (64, 8)
    """
    Q, K, V = check_qkv(Q, K, V, _FUNC)
    check_choice(variant, ("linformer", "unreduced_jlt"), _FUNC, "variant")
    E = _draw(Q, K, V, d=d, rng=rng, projection=projection)["projection"]
    if projection is not None:
        check_d_matches(d, E.shape[0], _FUNC, "projection", "rows")
    dt = Q.dtype
    Ec = E.astype(dt, copy=False)
    EV = Ec @ V
    if variant == "linformer":
        EK = Ec @ K
        out = softmax_tiled(Q, EK, EV)
    else:
        EK = None
        out = softmax_tiled(Q, K, Ec.T @ EV)
    out = out.astype(dt, copy=False)
    return (out, {"projection": E, "EK": EK, "EV": EV}) if return_factors else out


linformer.draw = draw
linformer.per_item_options = {"projection": 2}
