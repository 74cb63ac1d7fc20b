"""Nyströmformer (Xiong et al., AAAI 2021): segment-mean landmarks and an iterative pseudo-inverse
(algorithms.md §9.1). Deterministic: it draws no randomness.

Targets: ``target="softmax"`` (default, the paper) approximates ``softmax(Q̂K̂ᵀ)V``;
``target="gaussian"`` applies the same landmark construction to Skyformer's kernelized attention
``C V``, ``C = κ(Q̂, K̂)`` (algorithms.md §2.1): ``κ(Q̂, K̃) · core(κ(Q̃, K̃)) · κ(Q̃, K̂) V`` with no row
normalisation — the non-PSD (asymmetric-landmark) Nyström that Skyformer contrasts with (§2.2).
The Razavi initialisation ``Z₀ = Ãᵀ/‖Ã‖₁`` of the code relies on ``‖Ã‖_∞ = 1`` (row-stochastic Ã);
the kernel landmark block ``κ(Q̃, K̃)`` has row sums up to d, so that start diverges whenever
``σ_max² > 2‖W‖₁`` (observed on MiniLM inputs); for ``target="gaussian"`` the start is therefore the
paper's ``Z₀ = Wᵀ/(‖W‖₁‖W‖_∞)`` (Pan & Schreiber 1991: ``‖I − W Z₀‖ < 1`` on the range of W), which
for a row-stochastic Ã is the same number. Six steps from this start are a strong spectral filter
of the kernel block (a partial inverse); ``core="pinv"`` gives the exact pseudo-inverse.

Paper vs code: the paper writes the Razavi initialisation ``Z₀ = Ãᵀ/(‖Ã‖₁‖Ã‖_∞)``; the official code
divides by the max column sum taken over the WHOLE batch tensor (``init="global"``, one scalar for all
heads) — for a row-stochastic Ã both agree per matrix (``init="per_matrix"``, the default here).
``core="pinv"`` is the exact pseudo-inverse (the m = n exact regime; often worse in practice, §9.1).
Padding when d ∤ n: ``padding="zeros"`` pads the sequence in front with zero rows to a multiple of d
(segment means divide by the padded segment length, as the lucidrains/official implementations);
``padding="uneven"`` uses d nearly equal segments averaged over their real rows.
"""
from __future__ import annotations

import numpy as np

from .. import kernels as _kernels
from .._cores import NS_ITER_DEFAULT, core_inverse
from .._validation import check_choice, fail
from ..nystrom_general import default_rcond
from ._common import FACTOR_TILE_BYTES, check_d, check_qkv, kernel_row_tiles, scaled, softmax_rows, softmax_tiled

__all__ = ["nystromformer", "segment_means"]

_FUNC = "nystromformer"


def segment_means(X: np.ndarray, d: int, padding: str = "zeros") -> np.ndarray:
    """Means of d contiguous segments of the rows of X (n, p) -> (d, p) (Nyströmformer landmarks)."""
    n = X.shape[0]
    if n % d == 0:
        return X.reshape(d, n // d, X.shape[1]).mean(axis=1)
    if padding == "zeros":
        L = -(-n // d)
        pad = L * d - n
        Xp = np.concatenate([np.zeros((pad, X.shape[1]), dtype=X.dtype), X], axis=0)
        return Xp.reshape(d, L, X.shape[1]).sum(axis=1) / X.dtype.type(L)
    bounds = np.linspace(0, n, d + 1).round().astype(int)
    return np.add.reduceat(X, bounds[:-1], axis=0) / np.diff(bounds)[:, None].astype(X.dtype)


_TARGETS = ("softmax", "gaussian")


def _landmark_core(Q, K, d, padding, target="softmax"):
    Qh, Kh = scaled(Q), scaled(K)
    Qt, Kt = segment_means(Qh, d, padding), segment_means(Kh, d, padding)
    if target == "gaussian":
        return Qh, Kh, Qt, Kt, _GAUSS._block(Qt, Kt)
    return Qh, Kh, Qt, Kt, softmax_rows(Qt @ Kt.T)


#: κ of algorithms.md §2.1 on the scaled points (bandwidth 1 after the p^{-1/4} scaling)
_GAUSS = _kernels.Gaussian(1.0)


def _paper_scale(W: np.ndarray) -> float:
    """The paper's Razavi scale ``‖W‖₁‖W‖_∞`` (max column sum × max row sum)."""
    A = np.abs(W)
    return float(A.sum(axis=0).max() * A.sum(axis=1).max())


def nystromformer(Q, K, V, *, d=None, rng=None, return_factors: bool = False, core: str = "newton_schulz",
                  n_iter: int = NS_ITER_DEFAULT, init: str = "per_matrix", ns_scale=None, gamma=None,
                  rcond=None, padding: str = "zeros", target: str = "softmax"):
    """Nyströmformer attention for one head: ``softmax(Q̂K̃ᵀ) · Ã⁺ · softmax(Q̃K̂ᵀ) V``.

    With ``target="gaussian"``: ``κ(Q̂, K̃) · W⁺ · κ(Q̃, K̂) V``, ``W = κ(Q̃, K̃)`` (approximates
    kernelized attention ``C V``, algorithms.md §2.1; no row normalisation).

    Parameters
    ----------
    Q : ndarray of shape (n, p)
    K : ndarray of shape (m, p)
    V : ndarray of shape (m, pv)
    d : int
        Number of landmarks (segments), 1 <= d <= min(n, m).
    rng : ignored (deterministic method; accepted for the common signature)
    return_factors : bool
        Also return ``{"F": (n, d), "A_pinv": (d, d), "BV": (d, pv), "Q_landmarks", "K_landmarks",
        "target", "n_evals"}`` (``n_evals``: kernel / score entries evaluated, ``(n + m) d + d²``).
    core : {"newton_schulz", "pinv", "eig", "ridge"}
        ``"newton_schulz"``: ``n_iter`` Razavi steps on Ã (on W for the Gaussian target) without
        Lemma-3 normalisation (code); ``"pinv"``: exact pseudo-inverse (SVD; reproduces the exact
        target when d = n = m).
    n_iter : int
        6 in the code (partial inverse).
    init : {"per_matrix", "global"}
        Razavi initial scale; ``"global"`` (code) shares one scalar over a batch (``ns_scale``).
        Softmax target: ``Z₀ = Ãᵀ/‖Ã‖₁`` (code; equals the paper's ``‖Ã‖₁‖Ã‖_∞`` for row-stochastic
        Ã). Gaussian target: ``Z₀ = Wᵀ/(‖W‖₁‖W‖_∞)`` (paper; module docstring).
    ns_scale : float, optional
        Explicit initial scale ``Z₀ = Ãᵀ/ns_scale``.
    gamma : float, optional
        Ridge for ``core="ridge"``.
    rcond : float, optional
    padding : {"zeros", "uneven"}
        Landmark segments when d does not divide the sequence length (module docstring).
    target : {"softmax", "gaussian"}
        ``"softmax"``: softmax attention (the paper); ``"gaussian"``: Skyformer's kernelized
        attention ``C V`` with κ (module docstring).

    Returns
    -------
    out : ndarray of shape (n, pv)
    factors : dict, only with ``return_factors=True``

    Notes
    -----
    Time O((n + m) d p + n_iter d³ + d² pv); memory O((n + m) d) with ``return_factors``, else the
    output plus O(d²) and one tile (streamed); (n + m) d + d² kernel (score) entries.

    References
    ----------
    Xiong et al., "Nyströmformer: A Nyström-Based Algorithm for Approximating Self-Attention",
    AAAI 2021, §3 Eqs. (9)–(14); Razavi et al. 2014.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> Q, K, V = np.random.default_rng(0).normal(size=(3, 64, 8))
    >>> out = ka.attention.nystromformer(Q, K, V, d=64, core="pinv")
    >>> bool(np.allclose(out, ka.attention.exact(Q, K, V)))
    True
    >>> out = ka.attention.nystromformer(0.5 * Q, 0.5 * K, V, d=64, core="pinv", target="gaussian")
    >>> bool(np.allclose(out, ka.attention.exact(0.5 * Q, 0.5 * K, V, kind="gaussian")))
    True
    """
    Q, K, V = check_qkv(Q, K, V, _FUNC)
    n, m = Q.shape[0], K.shape[0]
    d = check_d(d, _FUNC, high=min(n, m), what="one landmark per segment of the shorter sequence")
    check_choice(padding, ("zeros", "uneven"), _FUNC, "padding")
    check_choice(core, ("newton_schulz", "pinv", "eig", "ridge"), _FUNC, "core")
    check_choice(target, _TARGETS, _FUNC, "target")
    Qh, Kh, Qt, Kt, At = _landmark_core(Q, K, d, padding, target)
    if rcond is None:
        rcond = default_rcond(core, d, Q.dtype)
    if target == "gaussian" and core == "newton_schulz" and ns_scale is None and init == "per_matrix":
        ns_scale = _paper_scale(At)
    Ainv = core_inverse(At, core, gamma=gamma, n_iter=n_iter, rcond=rcond, init=init, normalise=False,
                        ns_scale=ns_scale, func=_FUNC)
    dt = Q.dtype
    if not return_factors:
        # streamed: no (n, d) or (d, m) block is formed; row tiles of F times Ã⁺ B V
        if target == "gaussian":
            BV = np.zeros((d, V.shape[1]), dtype=np.result_type(dt, V.dtype))
            for i0, i1, T in kernel_row_tiles(_GAUSS, Kh, Qt):
                BV += T.T @ V[i0:i1]
        else:
            BV = softmax_tiled(Qt, Kh, V, scale=1.0)
        M = Ainv.astype(dt, copy=False) @ BV
        out = np.empty((n, V.shape[1]), dtype=M.dtype)
        if target == "gaussian":
            for i0, i1, T in kernel_row_tiles(_GAUSS, Qh, Kt):
                np.matmul(T, M, out=out[i0:i1])
        else:
            step = max(64, FACTOR_TILE_BYTES // max(1, d * Qh.dtype.itemsize))
            for i0 in range(0, n, step):
                np.matmul(softmax_rows(Qh[i0:i0 + step] @ Kt.T), M, out=out[i0:i0 + step])
        return out.astype(dt, copy=False)
    if target == "gaussian":
        F = _GAUSS._block(Qh, Kt)                                    # (n, d)
        BV = _GAUSS._block(Qt, Kh) @ V                               # (d, pv)
    else:
        F = softmax_rows(Qh @ Kt.T)                                 # (n, d)
        BV = softmax_rows(Qt @ Kh.T) @ V                            # (d, pv); (d, m) block is O(dm)
    out = (F @ (Ainv.astype(dt, copy=False) @ BV)).astype(dt, copy=False)
    if return_factors:
        return out, {"F": F, "A_pinv": Ainv, "BV": BV, "Q_landmarks": Qt, "K_landmarks": Kt, "core": core,
                     "target": target, "n_evals": (n + m) * d + d * d}
    return out


def _draw(Q, K, V, *, d=None, rng=None, **options) -> dict:
    """Nyströmformer is deterministic: no randomness to draw."""
    return {}


def _batch_prepare(Q, K, V, *, d=None, core="newton_schulz", init="per_matrix", ns_scale=None,
                   padding="zeros", target="softmax", **options) -> dict:
    """The code's ``init="global"``: one Razavi scale (max column sum of Ã over the whole batch; for the
    Gaussian target the largest ``‖W‖₁‖W‖_∞`` of the batch)."""
    if core != "newton_schulz" or init != "global" or ns_scale is not None:
        return {}
    n, m = Q.shape[-2], K.shape[-2]
    d = check_d(d, _FUNC, high=min(n, m), what="one landmark per segment of the shorter sequence")
    scale = 0.0
    for idx in np.ndindex(*Q.shape[:-2]):
        At = _landmark_core(Q[idx], K[idx], d, padding, target)[-1]
        scale = max(scale, _paper_scale(At) if target == "gaussian" else float(np.abs(At).sum(axis=0).max()))
    if not scale > 0:
        raise fail(_FUNC, "Q", "give a non-zero landmark matrix", scale)
    return {"ns_scale": scale}


nystromformer.draw = _draw
nystromformer.per_item_options = {"ns_scale": 0}
nystromformer.batch_prepare = _batch_prepare
