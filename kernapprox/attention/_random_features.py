"""Random-Fourier-feature attention for the Gaussian target C V, and elu+1 linear attention.

* :func:`rff` — Skyformer's kernelized attention ``C V`` with ``C = κ(Q̂, K̂)``,
  ``κ(x, y) = exp(−‖x − y‖²/2)``, Q̂ = Q/p^¼, K̂ = K/p^¼ (algorithms.md §2.1), approximated by random
  Fourier features: ``C ≈ z(Q̂) z(K̂)ᵀ`` and the output ``z(Q̂) (z(K̂)ᵀ V)`` in O(n d p)
  (algorithms.md §9.3, last bullet). No row normalisation, exactly like the target.
* :func:`linear` — linear attention with ``φ(x) = elu(x) + 1`` (Katharopoulos et al. 2020):
  ``diag(φ(Q) φ(K)ᵀ 1)⁻¹ φ(Q) (φ(K)ᵀ V)``; deterministic (``d`` is ignored).
"""
from __future__ import annotations

import numpy as np

from .._tiling import row_tiles, tile_rows
from .._validation import as_generator, check_bool, check_matrix, fail
from ..features import FourierFeatures, draw_orthogonal
from ._common import check_d, check_d_matches, check_qkv, scaled
from ._protocol import AttentionMethod, v_array, v_bool, v_optional

__all__ = ["rff", "linear", "draw_rff", "elu_plus_one", "METHODS"]


# ------------------------------------------------------------------------------------------------
# rff
# ------------------------------------------------------------------------------------------------
def draw_rff(Q, K, V, *, d=None, rng=None, omega=None, phase=None, paired=False, orthogonal=False) -> dict:
    """The RFF attention's randomness: ``omega`` (d, p) N(0, I) rows and ``phase`` (d,) U[0, 2π)."""
    func = "rff"
    p = Q.shape[1]
    check_bool(paired, func, "paired")
    check_bool(orthogonal, func, "orthogonal")
    gen = as_generator(rng)
    if omega is None:
        d = check_d(d, func)
        omega = draw_orthogonal(d, p, scaling=0, rng=gen) if orthogonal else gen.standard_normal((d, p))
    omega = check_matrix(omega, func, "omega", ndim=2)
    if omega.shape[1] != p:
        raise fail(func, "omega", f"have shape (d, p = {p})", f"shape {omega.shape}")
    out = {"omega": omega}
    if not paired:
        if phase is None:
            phase = gen.uniform(0.0, 2.0 * np.pi, omega.shape[0])
        phase = check_matrix(phase, func, "phase", ndim=1)
        if phase.shape[0] != omega.shape[0]:
            raise fail(func, "phase", f"have one entry per row of `omega` ({omega.shape[0]})", f"shape {phase.shape}")
        out["phase"] = phase
    elif phase is not None:
        raise fail(func, "phase", "be None with paired=True (sin/cos features have no phase)", "an array")
    return out



#: cos of an argument a is evaluated with an absolute error ~ a·eps (the argument's own rounding): phases
#: above ``PHASE_DIGITS / eps(dtype)`` leave fewer than 3 correct digits in the features and are refused
PHASE_DIGITS = 2.0 ** -10


def _z(fmap: FourierFeatures, X, name="X"):
    """The features of :class:`kernapprox.features.FourierFeatures` (``√(2/d) cos(ω x + b)`` or
    ``√(1/d) [cos ωx, sin ωx]``) of the rows of X, after refusing inputs whose phases cos cannot
    resolve: the Cauchy–Schwarz bound ``max‖x‖·max‖ω‖`` of ``|ω·x|`` must stay below
    ``PHASE_DIGITS/eps(dtype)`` (``name``: the argument X comes from)."""
    big = float(np.sqrt(np.einsum("ij,ij->i", X, X).max(initial=0.0))) * \
        float(np.sqrt(np.einsum("ij,ij->i", fmap.omega, fmap.omega).max()))
    limit = PHASE_DIGITS / float(np.finfo(X.dtype).eps)
    if not big <= limit:
        raise fail("rff", name, f"have phases |ω·x/p^¼| <= max‖x/p^¼‖·max‖ω‖ <= {limit:.3g} in {X.dtype} (cos of a "
                   "larger argument has fewer than 3 correct digits: the features would be rounding noise)",
                   f"{big:.3g}")
    return fmap.transform(X)


def rff(Q, K, V, *, d=None, rng=None, return_factors: bool = False, paired: bool = False,
        orthogonal: bool = False, omega=None, phase=None):
    """Random-Fourier-feature approximation of Skyformer's kernelized attention ``C V``.

    Parameters
    ----------
    Q : ndarray of shape (n, p)
    K : ndarray of shape (m, p)
    V : ndarray of shape (m, pv)
    d : int — number of random frequencies (inferred from ``omega``).
    rng : None, int, SeedSequence or Generator
    return_factors : bool — also return ``{"omega", "phase", "z_q" (n, f), "z_k" (m, f)}``.
    paired : bool — sin/cos pairs (2d features, no phase) instead of cos + random phase.
    orthogonal : bool — block-orthogonal frequencies with χ_p norms (ORF) instead of i.i.d.
    omega : ndarray of shape (d, p), optional — pre-drawn frequencies for the unit-bandwidth
        Gaussian on Q̂, K̂ (i.i.d. N(0, I_p) rows).
    phase : ndarray of shape (d,), optional — pre-drawn phases (not with ``paired``).

    Returns
    -------
    out : ndarray of shape (n, pv)
    factors : dict, only with ``return_factors=True``

    Notes
    -----
    Time O((n + m) d (p + pv)), memory O((n + m) d). Unbiased: E[out] = C V. The features are
    :class:`kernapprox.features.FourierFeatures` (its jitted cosine). ``cos(a)`` is evaluated with an
    absolute error ~ a·eps, so inputs whose phase bound ``max‖x̂‖·max‖ω‖`` exceeds
    ``2^-10/eps(dtype)`` (:data:`PHASE_DIGITS`; 4.4e12 in float64, 8.2e3 in float32) are refused
    naming ``Q`` or ``K``.

    References
    ----------
    Rahimi & Recht 2007; Chen et al. (Skyformer), NeurIPS 2021, §4.1 Eq. (3); algorithms.md §2.1, §9.3.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> Q, K, V = np.random.default_rng(0).normal(size=(3, 64, 8))
    >>> ka.attention.approximate(Q, K, V, method="rff", d=128, rng=0).shape
    (64, 8)
    """
    func = "rff"
    Q, K, V = check_qkv(Q, K, V, func)
    r = draw_rff(Q, K, V, d=d, rng=rng, omega=omega, phase=phase, paired=paired, orthogonal=orthogonal)
    om, ph = r["omega"], r.get("phase")
    if omega is not None:
        check_d_matches(d, om.shape[0], func, "omega", "rows")
    fmap = FourierFeatures(om, ph, kind="rff_sincos" if ph is None else ("orf" if orthogonal else "rff"))
    Qh, Kh = scaled(Q), scaled(K)
    if return_factors:
        zq = _z(fmap, Qh, "Q")
        zk = _z(fmap, Kh, "K")
        out = (zq @ (zk.T @ V)).astype(Q.dtype, copy=False)
        return out, {"omega": om, "phase": ph, "z_q": zq, "z_k": zk,
                     "n_evals": (Q.shape[0] + K.shape[0]) * om.shape[0], "exact_fraction": 0.0}
    # streamed over row tiles: Φ_Kᵀ V accumulated, then Φ_Q (Φ_Kᵀ V) tile by tile; no (n, d) feature matrix
    step = tile_rows(fmap.n_features, 8, n=max(Q.shape[0], K.shape[0]))
    acc = sum(_z(fmap, Kh[j0:j1], "K").T @ V[j0:j1] for j0, j1 in row_tiles(K.shape[0], step))
    out = np.empty((Q.shape[0], V.shape[1]), dtype=Q.dtype)
    for i0, i1 in row_tiles(Q.shape[0], step):
        out[i0:i1] = _z(fmap, Qh[i0:i1], "Q") @ acc
    return out


# ------------------------------------------------------------------------------------------------
# linear attention (elu + 1)
# ------------------------------------------------------------------------------------------------
def elu_plus_one(X: np.ndarray) -> np.ndarray:
    """``elu(x) + 1`` elementwise: ``x + 1`` for x > 0, ``exp(x)`` otherwise (always > 0)."""
    return np.where(X > 0, X + 1, np.exp(np.minimum(X, 0)))


def linear(Q, K, V, *, d=None, rng=None, return_factors: bool = False):
    """Linear attention with the ``elu + 1`` feature map (Katharopoulos et al. 2020), one head.

    ``out = diag(φ(Q) φ(K)ᵀ 1)⁻¹ φ(Q) (φ(K)ᵀ V)`` with ``φ = elu + 1`` applied to the raw Q, K
    (as in the paper; no random features, ``d`` and ``rng`` are ignored).

    Parameters
    ----------
    Q : ndarray of shape (n, p)
    K : ndarray of shape (m, p)
    V : ndarray of shape (m, pv)
    return_factors : bool — also return ``{"phi_q", "phi_k", "kv", "k_sum"}``.

    Returns
    -------
    out : ndarray of shape (n, pv)

    Notes
    -----
    Time O((n + m) p pv), memory O((n + m) p); the denominator is positive.

    References
    ----------
    Katharopoulos, Vyas, Pappas, Fleuret, "Transformers are RNNs", ICML 2020, Eq. (6)–(7);
    algorithms.md §9.7.
    """
    Q, K, V = check_qkv(Q, K, V, "linear")
    fq, fk = elu_plus_one(Q), elu_plus_one(K)
    kv = fk.T @ V
    k_sum = fk.sum(axis=0)
    out = ((fq @ kv) / (fq @ k_sum)[:, None]).astype(Q.dtype, copy=False)
    if return_factors:
        return out, {"phi_q": fq, "phi_k": fk, "kv": kv, "k_sum": k_sum, "n_evals": 0, "exact_fraction": 0.0}
    return out


def _draw_linear(Q, K, V, *, d=None, rng=None) -> dict:
    """Linear attention draws nothing."""
    return {}


_RF_BYTES = (lambda n, m, p, pv, d, o: 8 * ((n + m) * 2 * d * 2 + d * (p + pv)))

METHODS = (
    AttentionMethod(
        name="rff", formula=rff, draw=draw_rff,
        options={"paired": v_bool, "orthogonal": v_bool, "omega": v_optional(v_array),
                 "phase": v_optional(v_array)},
        per_item_options={"omega": 2, "phase": 1}, target=lambda o: "gaussian", d_bytes=_RF_BYTES,
        summary="random Fourier features of Skyformer's Gaussian kernel (Rahimi & Recht 2007)"),
    AttentionMethod(
        name="linear", formula=linear, draw=_draw_linear, options={}, d_bytes=lambda n, m, p, pv, d, o: 0,
        summary="elu + 1 linear attention (Katharopoulos et al. 2020)"),
)
