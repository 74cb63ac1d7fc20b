"""Performer / FAVOR+ attention (Choromanski et al., ICLR 2021; algorithms.md §9.2, §2.10).

Softmax attention ``D⁻¹ A V`` with ``A = exp(Q Kᵀ/√p) = SM(Q̂, K̂)`` (Q̂ = Q/p^¼, K̂ = K/p^¼) is
replaced by ``diag(φ(Q̂) φ(K̂)ᵀ 1)⁻¹ φ(Q̂) (φ(K̂)ᵀ V)`` with random features φ of the softmax kernel:

* ``kind="positive"`` (FAVOR+): ``φ(x) = exp(ωᵀx − ‖x‖²/2)/√d`` — positive, so the denominator is
  positive;
* ``kind="hyperbolic"``: ``exp(−‖x‖²/2)/√(2d) [exp(ωᵀx), exp(−ωᵀx)]`` — positive, lower variance;
* ``kind="trig"``: ``exp(‖x‖²/2)/√d [cos ωᵀx, sin ωᵀx]`` — unbiased but the denominator can be ≤ 0.

Options that separate the paper from the authors' / the Skyformer LRA code (all named, none hidden):

* ``orthogonal`` (default True) and ``scaling`` (0: χ_p row norms, keeps Gaussian marginals;
  1: √p row norms) — ``gaussian_orthogonal_random_matrix`` of the reference code;
* ``stabilize`` (default True): subtract the per-query-row max and the global key max from the
  exponents before ``exp``; these shifts cancel exactly in the row normalisation (for "trig" the
  query prefactor is dropped and the key prefactor shifted, which also cancels);
* ``feature_eps`` (default 0.0): the reference code adds ε = 1e-4 (:data:`REFERENCE_EPS`) to every
  feature after the stabilised ``exp`` — this does NOT cancel and biases the estimate;
* ``double_scaling`` (default False): the Skyformer/Skeinformer LRA code divides Q, K by p^¼ twice,
  so it approximates ``exp(q·k/p)`` instead of ``exp(q·k/√p)`` (algorithms.md §2.10, §12).

The randomness is the projection ``omega`` (d, p), drawn by :func:`draw` (also ``performer.draw``).
"""
from __future__ import annotations

import numpy as np

from .._validation import as_generator, check_choice, check_matrix, fail
from ..features import draw_orthogonal
from ._common import FACTOR_TILE_BYTES, check_d, check_d_matches, check_qkv, public_draw

__all__ = ["performer", "draw", "draw_omega", "REFERENCE_EPS", "default_features"]

_FUNC = "performer"

#: the ε the reference FAVOR+ code adds to every stabilised feature (``feature_eps=REFERENCE_EPS``)
REFERENCE_EPS = 1e-4


def default_features(p: int) -> int:
    """FAVOR+ default number of random features when none is given: ``int(p · ln p)`` (at least 1)."""
    return max(1, int(p * np.log(p)))


def draw_omega(p: int, d: int, *, orthogonal: bool = True, scaling: int = 0, rng=None) -> np.ndarray:
    """Projection matrix ω of shape (d, p): i.i.d. N(0, I_p) rows, or block-orthogonal rows with χ_p
    (``scaling=0``) or √p (``scaling=1``) norms (Performer §2.4, Thm 2)."""
    gen = as_generator(rng)
    if orthogonal:
        return draw_orthogonal(d, p, scaling=scaling, rng=gen)
    return gen.standard_normal((d, p))


def _draw(Q, K, V, *, d=None, rng=None, omega=None, orthogonal=True, scaling=0, **_):
    p = Q.shape[1]
    if omega is None:
        d = default_features(p) if d is None else check_d(d, _FUNC)
        check_choice(orthogonal, (True, False), _FUNC, "orthogonal")
        check_choice(scaling, (0, 1), _FUNC, "scaling")
        omega = draw_omega(p, d, orthogonal=orthogonal, scaling=scaling, rng=rng)
    omega = check_matrix(omega, _FUNC, "omega", ndim=2)
    if omega.shape[1] != p:
        raise fail(_FUNC, "omega", f"have shape (d, p = {p})", f"shape {omega.shape}")
    return {"omega": omega}


draw = public_draw(_draw, _FUNC, "Draw Performer's projection ``omega`` (d, p) for one head (``d=None``: "
                   "``int(p ln p)``).")


def _features(X, omega, kind, *, query: bool, stabilize: bool, eps: float, shift=None, want_shift=False):
    """φ(X) for inputs already scaled (X = Q̂ or K̂), with the optional max-shift stabiliser.

    Keys share one shift (the max exponent over all keys): ``shift`` gives it when X is one tile of the
    keys; ``want_shift=True`` returns only the max exponent of X (what this call would subtract)."""
    dt = X.dtype
    d = omega.shape[0]
    P = X @ omega.T.astype(dt, copy=False)
    half = 0.5 * np.einsum("ij,ij->i", X, X)
    if kind == "trig":
        logpref = half.copy()
        if want_shift:
            return logpref.max()
        if stabilize:
            logpref = np.zeros_like(half) if query else logpref - (logpref.max() if shift is None else shift)
        pref = np.exp(logpref) / np.sqrt(d)
        return np.concatenate([np.cos(P), np.sin(P)], axis=1) * pref[:, None].astype(dt)
    L = P if kind == "positive" else np.concatenate([P, -P], axis=1)
    L -= half[:, None]
    if want_shift:
        return L.max()
    if stabilize:
        L -= (L.max(axis=1, keepdims=True) if query else (L.max() if shift is None else shift))
    np.exp(L, out=L)
    if eps:
        L += dt.type(eps)
    L *= dt.type(1.0 / np.sqrt(d if kind == "positive" else 2 * d))
    return L


def _row_tiles(n: int, f: int, itemsize: int):
    """(i0, i1) row ranges whose (rows × f) feature tiles are about FACTOR_TILE_BYTES."""
    step = int(max(64, FACTOR_TILE_BYTES // max(1, f * itemsize)))
    return [(i0, min(n, i0 + step)) for i0 in range(0, n, step)]


def performer(Q, K, V, *, d=None, rng=None, return_factors: bool = False, kind: str = "positive",
              orthogonal: bool = True, scaling: int = 0, stabilize: bool = True, feature_eps: float = 0.0,
              double_scaling: bool = False, omega=None):
    """FAVOR+ (Performer) attention for one head, approximating ``softmax(QKᵀ/√p) V``.

    Parameters
    ----------
    Q : ndarray of shape (n, p)
    K : ndarray of shape (m, p)
    V : ndarray of shape (m, pv)
    d : int, optional
        Number of random projections (features); default ``int(p ln p)``; inferred from ``omega``.
    rng : None, int, SeedSequence or Generator
    return_factors : bool
        Also return ``{"omega", "phi_q" (n, f), "phi_k" (m, f), "kv" (f, pv), "k_sum" (f,),
        "denominator" (n,)}`` (f = d, or 2d for hyperbolic / trig).
    kind : {"positive", "hyperbolic", "trig"}
    orthogonal : bool — block-orthogonal projections (default) or i.i.d. Gaussian.
    scaling : {0, 1} — row norms of orthogonal projections: χ_p draws (0) or √p (1).
    stabilize : bool — max-shift of the exponents (cancels exactly in the normalisation).
    feature_eps : float >= 0 — added to every positive / hyperbolic feature after the stabilised
        ``exp`` (1e-4 = :data:`REFERENCE_EPS` reproduces the reference code; does not cancel);
        ignored for "trig".
    double_scaling : bool — divide Q, K by p^¼ twice (Skyformer LRA code quirk → ``exp(q·k/p)``).
    omega : ndarray of shape (d, p), optional — pre-drawn projections (see :func:`draw`).

    Returns
    -------
    out : ndarray of shape (n, pv)
    factors : dict, only with ``return_factors=True``

    Notes
    -----
    Time O((n + m) d p + (n + m) d pv); memory O((n + m) d) with ``return_factors``, else the output
    plus one feature tile (streamed; the keys in two passes, the first finding their common shift).
    Unbiased numerator and denominator (for ``feature_eps=0``); the ratio is consistent, not unbiased.

    References
    ----------
    Choromanski et al., "Rethinking Attention with Performers", ICLR 2021, Lemma 1 (positive and
    hyperbolic features), Thm 2 (orthogonal features), §2.4; algorithms.md §9.2, §2.10.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> Q, K, V = np.random.default_rng(0).normal(size=(3, 64, 8)) * 0.5
    >>> ka.attention.approximate(Q, K, V, method="performer", d=32, rng=0).shape
    (64, 8)
    """
    Q, K, V = check_qkv(Q, K, V, _FUNC)
    check_choice(kind, ("positive", "hyperbolic", "trig"), _FUNC, "kind")
    check_choice(stabilize, (True, False), _FUNC, "stabilize")
    check_choice(double_scaling, (True, False), _FUNC, "double_scaling")
    if not np.isfinite(feature_eps) or feature_eps < 0:
        raise fail(_FUNC, "feature_eps", "be a finite number >= 0", feature_eps)
    om = _draw(Q, K, V, d=d, rng=rng, omega=omega, orthogonal=orthogonal, scaling=scaling)["omega"]
    if omega is not None:
        check_d_matches(d, om.shape[0], _FUNC, "omega", "rows")
    p = Q.shape[1]
    dt = Q.dtype
    c = dt.type(p ** (-0.5 if double_scaling else -0.25))
    if not return_factors:
        # streamed: feature tiles of about FACTOR_TILE_BYTES, never the (n, f) / (m, f) feature matrices;
        # the keys' common shift (the max exponent) is found in a first pass over the key tiles
        f = om.shape[0] * (1 if kind == "positive" else 2)
        kt = _row_tiles(K.shape[0], f, dt.itemsize)
        shift = max(_features(K[a:b] * c, om, kind, query=False, stabilize=stabilize, eps=feature_eps,
                              want_shift=True) for a, b in kt) if stabilize else None
        kv = k_sum = 0
        for a, b in kt:
            phi = _features(K[a:b] * c, om, kind, query=False, stabilize=stabilize, eps=feature_eps, shift=shift)
            kv = kv + phi.T @ V[a:b]
            k_sum = k_sum + phi.sum(axis=0)
        out = np.empty((Q.shape[0], V.shape[1]), dtype=np.result_type(dt, V.dtype))
        for a, b in _row_tiles(Q.shape[0], f, dt.itemsize):
            phi = _features(Q[a:b] * c, om, kind, query=True, stabilize=stabilize, eps=feature_eps)
            np.matmul(phi, kv, out=out[a:b])
            out[a:b] /= (phi @ k_sum)[:, None]
        return out.astype(dt, copy=False)
    Qs, Ks = Q * c, K * c
    phi_q = _features(Qs, om, kind, query=True, stabilize=stabilize, eps=feature_eps)
    phi_k = _features(Ks, om, kind, query=False, stabilize=stabilize, eps=feature_eps)
    kv = phi_k.T @ V
    k_sum = phi_k.sum(axis=0)
    den = phi_q @ k_sum
    out = (phi_q @ kv) / den[:, None]
    out = out.astype(dt, copy=False)
    if return_factors:
        return out, {"omega": om, "phi_q": phi_q, "phi_k": phi_k, "kv": kv, "k_sum": k_sum, "denominator": den}
    return out


performer.draw = draw
performer.per_item_options = {"omega": 2}
