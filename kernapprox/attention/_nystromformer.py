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
(mlpen/Nystromformer LRA ``attention_nystrom.py``, copied in the Skyformer repo) divides by the max
column sum taken over the WHOLE batch tensor (``init="global"``, one scalar for all heads) — for a
row-stochastic Ã both agree per matrix (``init="per_matrix"``). ``preset="code"`` selects
``init="global"``, ``preset="paper"`` (default) ``"per_matrix"``; an explicit ``init`` wins (with a
``key_padding_mask`` the items run separately and the preset's "global" scale is one per item).
lucidrains' nystrom-attention also uses one batch scale, ``max row sum · max column sum`` (the row
sums are 1 to rounding). ``core="pinv"`` is the exact pseudo-inverse (the m = n exact regime; often
worse in practice, §9.1).

Padded batches: ``preset="code"`` reproduces the LRA code for unpadded sequences (mask of ones). Its
padded path (rows zeroed before the segment means, padded keys masked with −1e9 in
``softmax(Q̃K̂ᵀ)`` only) is not reproduced by ``approximate(..., key_padding_mask=...)``, which drops
the padded keys everywhere; "lucidrains_masked" reproduces lucidrains' masked path for front padding.

Landmark segments when d ∤ n (``padding``; with d | n every layout is the plain segment mean,
except "lucidrains_masked", whose divisor carries the code's ``+ 1e-8``):

=======================  ==========================================================================
``padding``              layout (n rows, L = ⌈n/d⌉, pad = dL − n)
=======================  ==========================================================================
``"lucidrains"``         lucidrains ``NystromAttention(x)`` without a mask: the sequence is padded
                         in front with pad zero rows of Q, K, V; landmark = segment sum / L; the
                         zero keys STAY in the softmax over keys (each adds ``exp(0)`` to the
                         row sums of ``softmax(Q̃K̂ᵀ)``); the real rows' outputs are returned.
``"lucidrains_masked"``  lucidrains ``NystromAttention(x, mask=real rows)``: the front padding is
                         masked: landmark = segment sum / (real rows in it + 1e-8); a landmark of
                         padding only is masked (weight 0 in the rows of real queries and
                         landmarks; its own rows of Ã and of ``softmax(Q̃K̂ᵀ)`` are uniform, as
                         torch's softmax of an all ``−finfo.max`` row); padded keys are excluded.
``"t2t_vit"``            mlpen/Nystromformer ``ImageNet/T2T-ViT/models/token_nystromformer.py``:
                         s = ⌊n/d⌋; the first ``(s + 1)d − n`` segments have s rows, the others
                         s + 1; no padding.
``"zeros"`` (default)    kernapprox's own (reproduces no published code): landmarks as
                         "lucidrains" (front zeros, divided by L) but the softmax over keys uses
                         the real keys only.
``"uneven"``             kernapprox's own: d segments with boundaries ``round(i n / d)``.
=======================  ==========================================================================
"""
from __future__ import annotations

import numpy as np

from .. import kernels as _kernels
from .._cores import NS_ITER_DEFAULT, core_inverse
from .._validation import check_choice, fail
from ..nystrom_general import ATTENTION_CORES, NS_MAX_ITER, default_rcond, signed_core
from ..sampling import segment_means
from ._common import check_d, check_qkv, factor_rows, kernel_row_tiles, scaled, softmax_rows, softmax_tiled
from ._protocol import AttentionMethod, v_choice, v_int, v_optional, v_rcond, v_real

__all__ = ["nystromformer", "landmark_core", "METHODS"]

_FUNC = "nystromformer"

PADDINGS = ("zeros", "uneven", "lucidrains", "lucidrains_masked", "t2t_vit")
#: preset -> Razavi initial scale (module docstring); an explicit ``init`` wins
PRESET_INIT = {"paper": "per_matrix", "code": "global"}


def _pad_rows(n: int, d: int) -> tuple[int, int]:
    """(L, pad): segment length ⌈n/d⌉ and number of front zero rows of the padded layouts."""
    L = -(-n // d)
    return L, L * d - n


def _real_landmarks(n: int, d: int) -> np.ndarray:
    """"lucidrains_masked": which of the d padded segments hold at least one real row."""
    L, pad = _pad_rows(n, d)
    return np.arange(1, d + 1) * L > pad


def _masked_softmax(S: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """torch ``softmax(S.masked_fill(~(rows ⊗ cols), −finfo.max))``: masked entries get weight 0 in
    the rows with an unmasked entry; rows without one are uniform over all columns."""
    keep = rows[:, None] & cols[None, :]
    S = np.where(keep, S, -np.inf)
    full = keep.any(axis=1)
    S[~full] = 0.0
    return softmax_rows(S)


_TARGETS = ("softmax", "gaussian")


def landmark_core(Q, K, d, padding="zeros", target="softmax"):
    """``(Q̂, K̂, Q̃, K̃, W)`` of one head: the scaled inputs, their segment-mean landmarks
    (:func:`kernapprox.sampling.segment_means` with the ``padding`` layout) and the landmark block W
    the method inverts (``softmax(Q̃K̃ᵀ)``, masked for "lucidrains_masked"; ``κ(Q̃, K̃)`` for the
    Gaussian target)."""
    Qh, Kh = scaled(Q), scaled(K)
    Qt, Kt = segment_means(Qh, d, padding=padding), segment_means(Kh, d, padding=padding)
    if target == "gaussian":
        return Qh, Kh, Qt, Kt, _GAUSS.block(Qt, Kt)
    if padding == "lucidrains_masked":
        return Qh, Kh, Qt, Kt, _masked_softmax(Qt @ Kt.T, _real_landmarks(Q.shape[0], d),
                                               _real_landmarks(K.shape[0], d))
    return Qh, Kh, Qt, Kt, softmax_rows(Qt @ Kt.T)


def _key_side(Qt, Kh, V, d, padding, n):
    """``softmax(Q̃K̂ᵀ) V`` (d, pv) over the keys of the layout (zero keys kept for "lucidrains"; n is
    the query length, whose padding decides which query landmarks are masked)."""
    m = Kh.shape[0]
    if padding == "lucidrains" and m % d:
        pad = _pad_rows(m, d)[1]
        Kp = np.concatenate([np.zeros((pad, Kh.shape[1]), dtype=Kh.dtype), Kh], axis=0)
        Vp = np.concatenate([np.zeros((pad, V.shape[1]), dtype=V.dtype), V], axis=0)
        return softmax_rows(Qt @ Kp.T) @ Vp
    if padding == "lucidrains_masked":
        L, pad = _pad_rows(m, d)
        real = _real_landmarks(n, d)
        B = softmax_rows(Qt @ Kh.T)
        if not real.all():          # a query landmark of padding only: its row is uniform over all dL keys
            B[~real] = 1.0 / (L * d)
        return B @ V
    return softmax_rows(Qt @ Kh.T) @ V


#: κ of algorithms.md §2.1 on the scaled points (bandwidth 1 after the p^{-1/4} scaling)
_GAUSS = _kernels.Gaussian(1.0)


def _paper_scale(W: np.ndarray) -> float:
    """The paper's Razavi scale ``‖W‖₁‖W‖_∞`` (max column sum × max row sum)."""
    A = np.abs(W)
    return float(A.sum(axis=0).max() * A.sum(axis=1).max())


def nystromformer(Q, K, V, *, d=None, rng=None, return_factors: bool = False, core: str = "newton_schulz",
                  n_iter: int = NS_ITER_DEFAULT, init: str | None = None, ns_scale=None, lam=None,
                  rcond=None, padding: str = "zeros", target: str = "softmax", preset: str = "paper"):
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
        Also return ``{"F": (n, d), "W": (d, d), "A_pinv": (d, d), "BV": (d, pv), "Q_landmarks",
        "K_landmarks", "target", "n_evals", "exact_fraction"}`` (``n_evals``: kernel / score entries
        evaluated, ``(n + m) d + d²``; none exact).
    core : {"newton_schulz", "pinv", "signed_eig", "ridge"}
        (``"eig"``: deprecated spelling of ``"signed_eig"``)
        ``"newton_schulz"``: ``n_iter`` Razavi steps on Ã (on W for the Gaussian target) without
        Lemma-3 normalisation (code); ``"pinv"``: exact pseudo-inverse (SVD; reproduces the exact
        target when d = n = m).
    n_iter : int
        6 in the code (partial inverse).
    init : {None, "per_matrix", "global"}
        Razavi initial scale; ``"global"`` (code) shares one scalar over a batch (``ns_scale``);
        None: the preset's (``"per_matrix"`` for "paper", ``"global"`` for "code").
        Softmax target: ``Z₀ = Ãᵀ/‖Ã‖₁`` (code; equals the paper's ``‖Ã‖₁‖Ã‖_∞`` for row-stochastic
        Ã). Gaussian target: ``Z₀ = Wᵀ/(‖W‖₁‖W‖_∞)`` (paper; module docstring).
    ns_scale : float, optional
        Explicit initial scale ``Z₀ = Ãᵀ/ns_scale``.
    lam : float, optional
        Ridge for ``core="ridge"`` (deprecated alias ``gamma``, accepted by the dispatcher).
    rcond : float, optional
    padding : {"zeros", "uneven", "lucidrains", "lucidrains_masked", "t2t_vit"}
        Landmark layout when d does not divide the sequence length, each named after the
        implementation it reproduces (module docstring table); "lucidrains*" need the softmax target.
    target : {"softmax", "gaussian"}
        ``"softmax"``: softmax attention (the paper); ``"gaussian"``: Skyformer's kernelized
        attention ``C V`` with κ (module docstring).
    preset : {"paper", "code"}
        Default of ``init`` (module docstring).

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
    check_choice(padding, PADDINGS, _FUNC, "padding")
    core = signed_core(core, _FUNC)
    check_choice(core, ("newton_schulz", "pinv", "signed_eig", "ridge"), _FUNC, "core")
    check_choice(target, _TARGETS, _FUNC, "target")
    init = _resolve_init(preset, init)
    if target == "gaussian" and padding.startswith("lucidrains"):
        raise fail(_FUNC, "padding", "be 'zeros', 'uneven' or 't2t_vit' with target='gaussian' (the lucidrains "
                   "layouts are defined by its softmax code)", repr(padding))
    Qh, Kh, Qt, Kt, At = landmark_core(Q, K, d, padding, target)
    if rcond is None:
        rcond = default_rcond(core, d, Q.dtype)
    if target == "gaussian" and core == "newton_schulz" and ns_scale is None and init == "per_matrix":
        ns_scale = _paper_scale(At)
    Ainv = core_inverse(At, core, lam=lam, n_iter=n_iter, rcond=rcond, init=init, normalise=False,
                        ns_scale=ns_scale, func=_FUNC)
    dt = Q.dtype
    if not return_factors and (target == "gaussian" or padding not in ("lucidrains", "lucidrains_masked")):
        # streamed: no (n, d) or (d, m) block is formed; row tiles of F times Ã⁺ B V (the lucidrains
        # layouts pad or mask the key side and go through the whole blocks below)
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
            step = factor_rows(d, Qh.dtype.itemsize)
            for i0 in range(0, n, step):
                np.matmul(softmax_rows(Qh[i0:i0 + step] @ Kt.T), M, out=out[i0:i0 + step])
        return out.astype(dt, copy=False)
    if target == "gaussian":
        F = _GAUSS.block(Qh, Kt)                                    # (n, d)
        BV = _GAUSS.block(Qt, Kh) @ V                               # (d, pv)
    else:
        if padding == "lucidrains_masked":
            F = _masked_softmax(Qh @ Kt.T, np.ones(n, dtype=bool), _real_landmarks(m, d))
        else:
            F = softmax_rows(Qh @ Kt.T)                             # (n, d)
        BV = _key_side(Qt, Kh, V, d, padding, n)                    # (d, pv); (d, m) block is O(dm)
    out = (F @ (Ainv.astype(dt, copy=False) @ BV)).astype(dt, copy=False)
    if return_factors:
        return out, {"F": F, "W": At, "A_pinv": Ainv, "BV": BV, "Q_landmarks": Qt, "K_landmarks": Kt,
                     "core": core, "target": target, "n_evals": (n + m) * d + d * d, "exact_fraction": 0.0}
    return out


def draw(Q, K, V, *, d=None, rng=None) -> dict:
    """Nyströmformer is deterministic: no randomness to draw."""
    return {}


def _resolve_init(preset, init):
    check_choice(preset, tuple(PRESET_INIT), _FUNC, "preset")
    return PRESET_INIT[preset] if init is None else init


def _batch_prepare(Q, K, V, *, d=None, core="newton_schulz", init=None, ns_scale=None, padding="zeros",
                   target="softmax", preset="paper") -> dict:
    """The code's ``init="global"``: one Razavi scale (max column sum of Ã over the whole batch; for the
    Gaussian target the largest ``‖W‖₁‖W‖_∞`` of the batch)."""
    if core != "newton_schulz" or _resolve_init(preset, init) != "global" or ns_scale is not None:
        return {}
    n, m = Q.shape[-2], K.shape[-2]
    d = check_d(d, _FUNC, high=min(n, m), what="one landmark per segment of the shorter sequence")
    scale = 0.0
    for idx in np.ndindex(*Q.shape[:-2]):
        At = landmark_core(Q[idx], K[idx], d, padding, target)[-1]
        scale = max(scale, _paper_scale(At) if target == "gaussian" else float(np.abs(At).sum(axis=0).max()))
    if not scale > 0:
        raise fail(_FUNC, "Q", "give a non-zero landmark matrix", scale)
    return {"ns_scale": scale}


def resolve_options(options: dict, *, d=None, dtype=None) -> dict:
    """The options with every default spelled out (``core``, ``n_iter``, ``init`` of the preset, …; with
    ``d`` and ``dtype`` also the default ``rcond`` of an exact core)."""
    out = {"core": "newton_schulz", "n_iter": NS_ITER_DEFAULT, "padding": "zeros", "target": "softmax",
           "preset": "paper", **options}
    out["init"] = _resolve_init(out["preset"], out.get("init"))
    if d is not None and dtype is not None and out.get("rcond") is None:
        rc = default_rcond(out["core"], d, dtype)
        if rc is not None:
            out["rcond"] = rc
    return out


METHODS = (AttentionMethod(
    name="nystromformer", formula=nystromformer, draw=draw,
    options={"core": v_choice(*ATTENTION_CORES, "eig"), "n_iter": v_optional(v_int(1, NS_MAX_ITER)),
             "init": v_optional(v_choice("per_matrix", "global")),
             "ns_scale": v_optional(v_real(low=0.0, low_open=True)), "lam": v_optional(v_real(low=0.0)),
             "rcond": v_rcond, "padding": v_choice(*PADDINGS), "target": v_choice(*_TARGETS),
             "preset": v_choice(*PRESET_INIT)},
    aliases={"gamma": "lam"},
    per_item_options={"ns_scale": 0},
    batch_prepare=_batch_prepare,
    target=lambda o: o.get("target", "softmax"),
    d_bound=lambda n, m, o: (min(n, m), "one landmark per segment of the shorter sequence"),
    d_bytes=lambda n, m, p, pv, d, o: 8 * ((n + m) * d + 6 * d * d + d * (p + pv)),
    core_factors=lambda f: {"W": f["W"], "W_pinv": f["A_pinv"], "L": f["F"], "T": f["BV"],
                            "normalise_rows": False},
    resolve_options=resolve_options,
    summary="segment-mean landmarks and an iterative pseudo-inverse (Xiong et al. 2021)"),)
