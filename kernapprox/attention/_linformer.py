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
from ._common import check_d, check_d_matches, check_qkv, softmax_tiled
from ._protocol import AttentionMethod, v_array, v_choice, v_optional

__all__ = ["linformer", "draw", "METHODS"]

_FUNC = "linformer"


def draw(Q, K, V, *, d=None, rng=None, projection=None) -> dict:
    """Randomness of one Linformer call: ``projection`` E of shape (d, m), i.i.d. N(0, 1/d)."""
    m = K.shape[0]
    if projection is None:
        d = check_d(d, _FUNC)
        projection = as_generator(rng).standard_normal((d, m)) / np.sqrt(d)
    E = check_matrix(projection, _FUNC, "projection", ndim=2)
    if E.shape[1] != m:
        raise fail(_FUNC, "projection", f"have shape (d, {m})", f"shape {E.shape}")
    return {"projection": E}



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
        Also return ``{"projection": E, "EK": (d, p), "EV": (d, pv), "n_evals", "exact_fraction"}``:
        ``n_evals`` = d·m projection coefficients applied to the keys plus the n·d scores against
        the projected keys (``"unreduced_jlt"``: the n·m exact scores); no entry of ``D⁻¹A`` is
        used exactly (``exact_fraction = 0``).
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
    E = draw(Q, K, V, d=d, rng=rng, projection=projection)["projection"]
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
    if not return_factors:
        return out
    n, m, k = Q.shape[0], K.shape[0], E.shape[0]
    n_evals = k * m + (n * k if variant == "linformer" else n * m)
    return out, {"projection": E, "EK": EK, "EV": EV, "n_evals": n_evals, "exact_fraction": 0.0}


METHODS = (AttentionMethod(
    name="linformer", formula=linformer, draw=draw,
    options={"variant": v_choice("linformer", "unreduced_jlt"), "projection": v_optional(v_array)},
    per_item_options={"projection": 2},
    # its output is a convex combination of the rows of E V, outside the box of V by design:
    # recomputing those rows exactly would turn it into exact attention, so it only clips
    default_safeguard="clip",
    d_bound=lambda n, m, o: (m, "it projects the m keys"),
    summary="softmax over Johnson–Lindenstrauss projected keys and values (Wang et al. 2020)"),)
