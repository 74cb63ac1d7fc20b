"""Skyformer (Chen, Zeng, Ji, Yang, NeurIPS 2021): augmented Nyström for attention (algorithms.md §2).

``target="gaussian"`` approximates kernelized attention ``C V``, ``C = κ(Q̂, K̂)`` (§2.1, §2.7);
``target="softmax"`` is the Figure 1 variant: the raw scores ``A = SM(Q̂, K̂)`` through the same
augmentation (Lemma 1) and ``D̃ = diag(Ã1)`` (§2.8).

Paper vs authors' code (both reachable; ``preset`` picks a consistent set, explicit options win):

===============  ==============================  =================================================
option           ``preset="paper"`` (default)     ``preset="code"``
===============  ==============================  =================================================
``landmarks``    ``"uniform2n"`` (Def. 1, Thm 2)  ``"stratified"`` (d/2 query rows, d/2 key rows)
``core``         ``"pinv"`` (Eq. 5); SM: ``"signed_eig"````"newton_schulz"`` (Lemma 3 + Razavi)
                 with rcond 1e-8 (§2.8)
``lam``          —                                0.1
``n_iter``       —                                6 (a partial inverse, §2.4)
``signs``        ``"rademacher"`` (accumulation)  ``"ones"``
``init``         ``"per_matrix"``                 ``"global"`` (one Razavi scale for the whole batch,
                                                  as ``iterative_inv`` of the code)
===============  ==============================  =================================================

``preset="code"`` reproduces the authors' ``Skyformer.forward`` for unpadded sequences (mask of ones;
the code hard-codes the normaliser ``32^{-1/4}``, i.e. p = 32, where kernapprox uses ``p^{-1/4}``);
its padded path (zeroed rows kept in the stacked ``[Q; K]``) is not what ``key_padding_mask`` does.

Softmax target and key centring (``center_keys``, default True).
Softmax attention is exactly invariant under translating all keys, ``k_j → k_j − b``: every row of
``A = exp(Q̂K̂ᵀ)`` is multiplied by ``exp(−q̂_i·b)``, which cancels in ``D⁻¹A``. The augmentation is
not: it approximates the block ``A`` of ``Ā = SM([Q̂; K̂])``, and ``‖A − Ã‖ ≤ ‖Ā − Ā̃‖ ≤ ‖Ā‖``, where
``Ā`` carries the key self-similarities ``exp(‖k̂_j‖²)`` (Lemma 1). On pretrained MiniLM heads the
keys share a large mean: ``max ‖k̂‖² ≈ 40`` against a largest query–key logit ≈ 13, so ``‖Ā‖`` exceeds
``‖A‖`` by up to ~e²⁷ and the block read off the augmented Nyström is dominated by error. The common
shift c = max ‖x_L‖² is then set by long key landmarks, the diagonal ``exp(‖x_l‖² − c)`` of the core
spans ~1e-14..1, and the relative eigenvalue cutoff (1e-8) discards up to 47 of 64 landmarks (mostly
short query rows); up to 24 of n = 512 row sums ``D̃ = Ã1`` per head come out ``≤ 0`` and the clipped
rows explode to ~1e152 (measured on 8 MiniLM heads, n = 512, d = 64). The error is in the
augmentation, not in the core's rounding: rescaling or truncating the core does not remove it.
Centring the keys at their mean (``b = mean_j k_j``, the minimiser of ``Σ_j‖k_j − b‖²``) makes the
augmentation approximate the same attention with a far smaller ``‖Ā‖`` (same heads: ``max ‖x_L‖²``
41 → 24, no landmark below the cutoff, no non-positive row sum, loss decreasing in d).
``center_keys=False`` is the paper's formula applied to the raw keys. The Gaussian target is not
translation invariant: ``center_keys`` is ignored there.

Even with centred keys, sharp real heads (row entropy ≈ 0.2 nats, MiniLM layer 0) still give a few
rows with ``D̃_ii ≤ 0`` whose clipped quotient leaves the hull of V's rows by up to ~1e139; this
function returns that bare formula (and counts the clipped rows), and
:func:`kernapprox.attention.approximate` (also ``kernapprox.attention.skyformer``) applies the range
safeguard of :func:`kernapprox.attention._exact.safeguard_rows` by default: those rows are recomputed
exactly, rows slightly outside the hull are projected onto its box (``safeguard="none"``: the bare
formula).
"""
from __future__ import annotations

import numpy as np

from .. import kernels as _kernels
from .._cores import NS_ITER_DEFAULT, core_inverse, lemma3_normalise
from .._validation import as_generator, check_choice, check_int, check_memory, fail
from ..nystrom_general import (ATTENTION_CORES, NS_MAX_ITER, SIGN_RULES, augmented_core, augmented_landmarks,
                               signed_core,
                               default_rcond, landmark_index_array, sketch_signs)
from ._common import check_d, check_qkv, clip_row_sums, factor_rows, kernel_row_tiles, scaled
from ._landmarks import gaussian_landmarks
from ._protocol import AttentionMethod, v_array, v_bool, v_choice, v_int, v_name, v_optional, v_rcond, v_real

__all__ = ["skyformer", "draw", "resolve_options", "PRESETS", "METHODS"]

PRESETS = {
    "paper": {"landmarks": "uniform2n", "core": "pinv", "lam": None, "n_iter": NS_ITER_DEFAULT,
              "signs": "rademacher"},
    "code": {"landmarks": "stratified", "core": "newton_schulz", "lam": 0.1, "n_iter": NS_ITER_DEFAULT,
             "signs": "ones"},
}
_FUNC = "skyformer"


def _resolve(preset, landmarks, core, lam, n_iter, signs, target):
    check_choice(preset, tuple(PRESETS), _FUNC, "preset")
    base = PRESETS[preset]
    landmarks = base["landmarks"] if landmarks is None else landmarks
    core = signed_core(core, _FUNC)
    if core is None:
        core = base["core"]
        if core == "pinv" and target == "softmax":
            core = "signed_eig"   # exp(X_L X_Lᵀ) is extremely ill-conditioned: relative cutoff 1e-8 (§2.8)
    lam = base["lam"] if lam is None else lam
    if lam is None and core == "newton_schulz":
        lam = 0.1             # the code's ridge (Lemma 3 needs λ > 0 for a strict bound)
    n_iter = base["n_iter"] if n_iter is None else n_iter
    signs = base["signs"] if signs is None else signs
    return landmarks, core, lam, n_iter, signs


def resolve_options(options: dict, *, d=None, dtype=None) -> dict:
    """The options with the preset resolved: ``core``, ``n_iter``, ``lam`` (when used) and ``init`` as
    :func:`skyformer` uses them; with ``d`` and ``dtype`` also the default ``rcond`` of an exact core."""
    out = dict(options)
    target = out.get("target", "gaussian")
    preset = out.get("preset", "paper")
    _, core, lam, n_iter, _ = _resolve(preset, out.get("landmarks"), out.get("core"), out.get("lam"),
                                       out.get("n_iter"), out.get("signs"), target)
    out["core"], out["n_iter"] = core, n_iter
    if lam is not None:
        out["lam"] = lam
    out["init"] = _resolve_init(preset, out.get("init"))
    if d is not None and dtype is not None and out.get("rcond") is None:
        rc = default_rcond(core, d, np.float64 if target == "softmax" else dtype, exponential=target == "softmax")
        if rc is not None:
            out["rcond"] = rc
    return out


#: preset -> Newton–Schulz initial scale (module table); an explicit ``init=`` wins
PRESET_INIT = {"paper": "per_matrix", "code": "global"}


def _resolve_init(preset, init):
    """``init`` of the preset unless given (validated by :func:`kernapprox._cores.core_inverse`)."""
    check_choice(preset, tuple(PRESETS), _FUNC, "preset")
    return PRESET_INIT[preset] if init is None else init


#: landmark rules that the softmax target runs on the Gaussian form of its kernel (algorithms.md §13.7)
GAUSSIAN_FORM_RULES = ("kmeanspp", "rpcholesky")


def _kernel(target):
    """κ of the target on the scaled points: unit Gaussian (``C``) or exponential (``A = SM``, Lemma 1)."""
    return _kernels.Gaussian(1.0) if target == "gaussian" else _kernels.Exponential(1.0)


def _keys(K, target, center_keys):
    """Keys the augmentation sees: centred at their mean for the softmax target (module docstring)."""
    if target != "softmax" or not center_keys:
        return K
    K64 = K.astype(np.float64, copy=False)
    return K64 - K64.mean(axis=0)


def draw(Q, K, V, *, d=None, rng=None, target="gaussian", preset="paper", landmarks=None, indices=None,
         accumulation=1, signs=None, center_keys=True) -> dict:
    """Randomness of one Skyformer call: ``indices`` (and ``signs`` when accumulated with random signs)."""
    check_choice(target, ("gaussian", "softmax"), _FUNC, "target")
    landmarks, _, _, _, signs = _resolve(preset, landmarks, None, None, None, signs, target)
    accumulation = check_int(accumulation, _FUNC, "accumulation", low=1)
    gen = as_generator(rng)
    n, m = Q.shape[0], K.shape[0]
    out = {}
    if indices is None:
        # d landmarks among the n + m rows of the completion: more cannot add rank (Eqs. (4)-(5))
        d = check_d(d, _FUNC, high=n + m, what="landmarks are rows of the n + m stacked [Q̂; K̂]")
        if target == "softmax" and landmarks in GAUSSIAN_FORM_RULES and accumulation == 1:
            indices = gaussian_landmarks(Q, K, d, rule=landmarks, center_keys=center_keys, rng=gen)
        else:
            indices = augmented_landmarks(n, m, d, landmarks=landmarks, accumulation=accumulation, rng=gen,
                                          kernel=_kernel(target), Q=scaled(Q),
                                          K=scaled(_keys(K, target, center_keys)))
    out["indices"] = np.asarray(indices)
    if isinstance(signs, str):
        if signs == "rademacher" and accumulation > 1:
            out["signs"] = sketch_signs("rademacher", (accumulation, out["indices"].shape[-1]), gen, _FUNC)
    else:
        out["signs"] = np.asarray(signs)
    return out


def skyformer(Q, K, V, *, d=None, rng=None, return_factors: bool = False, target: str = "gaussian",
              preset: str = "paper", landmarks: str | None = None, indices=None, core: str | None = None,
              lam: float | None = None, n_iter: int | None = None, init: str | None = None,
              ns_scale=None, normalise: bool = True, rcond: float | None = None, accumulation: int = 1,
              signs=None, center_keys: bool = True):
    """Skyformer attention for one head: augmented Nyström of ``C = κ(Q̂, K̂)`` (or of ``A``) times V.

    Parameters
    ----------
    Q : ndarray of shape (n, p)
    K : ndarray of shape (m, p)
    V : ndarray of shape (m, pv)
    d : int
        Number of landmarks (with replacement, so any d >= 1 is allowed; inferred from ``indices``).
    rng : None, int, SeedSequence or Generator
        Used only for randomness not given (``indices``, ``signs``).
    return_factors : bool
        Also return ``{"CQ": (n, d), "W": (d, d), "Winv": (d, d), "CK": (m, d), "CKV": CKᵀV (d, pv),
        "k_sum": CKᵀ1 (SM target), "indices", "shift", "n_evals", "exact_fraction", …}`` with
        ``C̃ = CQ · Winv · CKᵀ``, W the core block inverted (SM target: ``Ã = e^{shift} CQ Winv CKᵀ`` on the keys actually
        used, i.e. centred ones when ``center_keys``; ``factors["key_shift"]`` is the subtracted
        (unscaled) mean, None otherwise).
    target : {"gaussian", "softmax"}
        ``"gaussian"``: output ``C̃ V`` (no row normalisation, §2.1); ``"softmax"``: ``D̃⁻¹ÃV`` with
        ``D̃ = diag(Ã1)``; non-positive denominators are clipped to ``DEN_FLOOR·max|D̃|`` and counted
        (``factors["den_clipped"]``, a warning).
    preset : {"paper", "code"}
        Defaults for ``landmarks``, ``core``, ``lam``, ``n_iter``, ``signs`` (module table).
    landmarks : {"uniform2n", "stratified"} or a sampler name of :func:`kernapprox.sample_landmarks`
        With ``target="softmax"`` (and ``accumulation=1``) the rules ``"kmeanspp"`` and ``"rpcholesky"``
        select on the Gaussian form of the softmax kernel, ``exp(x·y) = e^{‖x‖²/2} G(x, y) e^{‖y‖²/2}``
        (:func:`kernapprox.attention._landmarks.gaussian_landmarks`, algorithms.md §13.7): on the
        exponential kernel itself, whose diagonal is ``e^{‖x‖²}``, they would chase the longest rows.
    indices : ndarray of int of shape (d,) or (accumulation, d)
        Pre-drawn landmark rows of the stacked ``[Q̂; K̂]`` (values in [0, n + m)).
    core : {"pinv", "signed_eig", "ridge", "newton_schulz"}
        (``"eig"``: deprecated spelling of ``"signed_eig"``)
    lam, n_iter, init, ns_scale, normalise, rcond
        Core parameters (:func:`kernapprox._cores.core_inverse`; ``lam`` is its ridge, accepted as the
        deprecated alias ``gamma`` by the dispatcher); ``init="global"`` with batched
        inputs (through :func:`kernapprox.attention.approximate`) uses one Razavi scale for the whole
        batch, as the authors' code (computed by ``batch_prepare`` from every head's landmark core).
        ``init=None``: the preset's (``"per_matrix"`` for "paper", ``"global"`` for "code"). With a
        ``key_padding_mask`` the dispatcher runs the items separately, so the preset's "global"
        scale is then one per item (an explicit ``init="global"`` with a mask is refused).
    accumulation : int
        Chen & Yang accumulated sub-sampling (algorithms.md §1.1).
    signs : {"rademacher", "ones"} or ndarray of shape (accumulation, d)
    center_keys : bool
        Softmax target only: subtract the mean key before the augmentation (exact invariance of
        softmax attention; default True — see the module docstring for the diagnosis).
        ``False`` reproduces the paper's formula on the raw keys.

    Returns
    -------
    out : ndarray of shape (n, pv)
    factors : dict, only with ``return_factors=True``

    Notes
    -----
    Time O((n + m) d p + d³) (exact core) or O((n + m) d p + n_iter d³) (iterative); memory
    O((n + m) d) with ``return_factors``, else the output plus one tile per
    factor (streamed); kernel entries ``n_evals = (n + m) a d + (a d)²`` (a = accumulation), none
    computed exactly (``exact_fraction = 0``). Never forms n×m.
    Theorem 2 (exact pinv, uniform2n): ``‖C − C̃‖ ≤ ε‖C‖`` w.p. 1 − δ once
    ``d ≳ (d_stat/β) log(n/δ)``.

    References
    ----------
    Chen, Zeng, Ji, Yang, "Skyformer: Remodel Self-Attention with Gaussian Kernel and Nyström Method",
    NeurIPS 2021: Eq. (3), Eqs. (4)–(6), Lemma 1, Thm 2, Lemma 3, Fig. 1.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> Q, K, V = 0.5 * np.random.default_rng(0).normal(size=(3, 256, 16))
    >>> out = ka.attention.skyformer(Q, K, V, d=64, rng=0)
    >>> ref = ka.attention.exact(Q, K, V, kind="gaussian")
    >>> bool(np.linalg.norm(out - ref, 2) < 0.1 * np.linalg.norm(ref, 2))
    True
    """
    Q, K, V = check_qkv(Q, K, V, _FUNC)
    check_choice(target, ("gaussian", "softmax"), _FUNC, "target")
    landmarks_r, core_r, lam_r, n_iter_r, signs_r = _resolve(preset, landmarks, core, lam, n_iter, signs, target)
    accumulation = check_int(accumulation, _FUNC, "accumulation", low=1)
    n, m = Q.shape[0], K.shape[0]
    if indices is not None and d is not None:
        d = check_d(d, _FUNC)
    drawn = draw(Q, K, V, d=d, rng=rng, target=target, preset=preset, landmarks=landmarks,
                 indices=indices, accumulation=accumulation, signs=signs, center_keys=center_keys)
    idx2 = landmark_index_array(drawn["indices"], n + m, accumulation, _FUNC)
    if d is not None and idx2.shape[1] != d:
        raise fail(_FUNC, "d", f"equal the number of given indices ({idx2.shape[1]})", d)
    sg = drawn.get("signs")
    sg = np.ones(idx2.shape) if sg is None else sketch_signs(sg, idx2.shape, None, _FUNC)
    w = sg / np.sqrt(accumulation)
    Ku = _keys(K, target, center_keys)
    kern = _kernel(target)
    # without factors the output is streamed over row tiles (no n×d block is ever formed): for the
    # softmax target a first pass over the logit tiles finds the common shift (the max logit, §2.8)
    stream = not return_factors and accumulation == 1
    if stream:
        expo = target == "softmax"
        bd = np.float64 if expo else Q.dtype                         # the SM blocks are always float64
        t = 1.0 / kern.temperature if expo else 1.0
        i_l = idx2[0]
        onq = i_l < n
        XL = np.empty((i_l.size, Q.shape[1]), dtype=bd)              # landmark rows of [Q̂; K̂]
        XL[onq], XL[~onq] = scaled(Q[i_l[onq]]), scaled(Ku[i_l[~onq] - n])
        w0 = None if np.all(w == 1) else w[0]

        def tiles(A):
            if not expo:
                yield from kernel_row_tiles(kern, A, XL, scaled)
                return
            step = min(A.shape[0], factor_rows(XL.shape[0], 8))
            buf = np.empty((step, XL.shape[0]))
            for i0 in range(0, A.shape[0], step):
                i1 = min(A.shape[0], i0 + step)
                G = np.matmul(scaled(A[i0:i1]).astype(np.float64, copy=False), XL.T, out=buf[:i1 - i0])
                G *= t
                yield i0, i1, G

        shift = 0.0
        if expo:
            W = XL @ XL.T
            W *= t
            shift = max([float(W.max())] + [float(G.max()) for A in (Q, Ku) for _, _, G in tiles(A)])
            W -= shift
            np.exp(W, out=W)
        else:
            W = np.asarray(kern.block(XL, XL), dtype=np.float64)
        W = W if w0 is None else W * np.outer(w0, w0)

        def factor_tiles(A):
            """Row tiles of CQ / CK (exp(logit − shift) or the Gaussian block), weighted by w0."""
            for i0, i1, G in tiles(A):
                if expo:
                    G -= shift
                    np.exp(G, out=G)
                yield i0, i1, (G if w0 is None else G * w0.astype(G.dtype))
    else:
        blocks = augmented_core(kern, scaled(Q), scaled(Ku), idx2, sg)
        CQ, CK, W, shift = blocks.CQ, blocks.CK, blocks.W, blocks.shift
    if rcond is None:
        rcond = default_rcond(core_r, idx2.shape[1], np.float64 if target == "softmax" else Q.dtype,
                              exponential=target == "softmax")
    Winv = core_inverse(W, core_r, lam=lam_r, n_iter=n_iter_r, rcond=rcond, init=_resolve_init(preset, init),
                        normalise=normalise, ns_scale=ns_scale, func=_FUNC)
    dt = Q.dtype
    Wc = Winv.astype(dt, copy=False)
    if stream:
        # T = CKᵀV (and Σ_j CK[j] for the softmax target) summed over key tiles, then
        # out = CQ (Wc T) and den = CQ (Wc ksum) row tile by row tile
        T = ksum = 0
        for i0, i1, CKt in factor_tiles(Ku):
            T = T + CKt.T @ V[i0:i1]
            if expo:
                ksum = ksum + CKt.sum(axis=0)
        M = Wc @ T
        out = np.empty((n, V.shape[1]), dtype=M.dtype)
        den = np.empty(n, dtype=M.dtype) if expo else None
        mk = Wc @ ksum if expo else None
        for i0, i1, CQt in factor_tiles(Q):
            np.matmul(CQt, M, out=out[i0:i1])
            if expo:
                den[i0:i1] = CQt @ mk
    else:
        T = CK.T @ V                                                # (d, pv)
        out = CQ @ (Wc @ T)
    factors = None
    if target == "softmax":
        if not stream:
            ksum = CK.sum(axis=0)                                   # (d,)
            den = CQ @ (Wc @ ksum)                                  # (n,) ∝ Ã1
        den, nbad = clip_row_sums(den, "skyformer", "Ã")
        out = out / den[:, None].astype(dt, copy=False)
    if return_factors:
        factors = {"CQ": CQ, "W": W, "Winv": Winv, "CK": CK, "CKV": T,
                   "indices": idx2[0] if accumulation == 1 else idx2,
                   "signs": sg, "shift": shift, "core": core_r, "landmarks": landmarks_r if indices is None
                   else "given", "target": target, "n_evals": blocks.n_evals, "exact_fraction": 0.0,
                   "key_shift": K.mean(axis=0, dtype=np.float64) if Ku is not K else None}
        if target == "softmax":
            factors["den_clipped"] = nbad
            factors["k_sum"] = ksum
    out = out.astype(dt, copy=False)
    return (out, factors) if return_factors else out


def _batch_prepare(Q, K, V, *, target="gaussian", preset="paper", core=None, lam=None, init=None,
                   ns_scale=None, normalise=True, indices=None, signs=None, accumulation=1,
                   center_keys=True) -> dict:
    """The authors' code with ``init="global"``: one Razavi scale (max column sum of the normalised
    core) shared by the whole batch. Called by the dispatcher after every item's landmarks are drawn."""
    _, core_r, lam_r, _, _ = _resolve(preset, None, core, lam, None, None, target)
    if _resolve_init(preset, init) != "global" or ns_scale is not None or core_r != "newton_schulz":
        return {}
    batch = Q.shape[:-2]
    kern = _kernel(target)
    idx_all = np.asarray(indices)
    sg_all = None if signs is None or isinstance(signs, str) else np.asarray(signs)
    scale = 0.0
    for b in np.ndindex(*batch):
        n, m = Q[b].shape[0], K[b].shape[0]
        ib = idx_all[b] if idx_all.ndim > (1 if accumulation == 1 else 2) else idx_all
        idx2 = landmark_index_array(ib, n + m, accumulation, _FUNC)
        sg = None if sg_all is None else (sg_all[b] if sg_all.ndim > 2 else sg_all)
        W = augmented_core(kern, scaled(Q[b]), scaled(_keys(K[b], target, center_keys)), idx2, sg).W
        M = lemma3_normalise(W, lam_r)[0] if normalise else W + lam_r * np.eye(W.shape[0])
        scale = max(scale, float(np.abs(M).sum(axis=0).max()))
    return {"ns_scale": scale}


def _core_factors(factors: dict):
    """The core blocks of one call's factors (:class:`~kernapprox.attention._protocol.AttentionMethod`)."""
    if np.ndim(factors["indices"]) != 1:            # accumulated sketches: no single core block
        return None
    softmax = factors["target"] == "softmax"
    T = np.concatenate([factors["CKV"], factors["k_sum"][:, None]], axis=1) if softmax else factors["CKV"]
    return {"W": factors["W"], "W_pinv": factors["Winv"], "L": factors["CQ"], "T": T, "normalise_rows": softmax}


def _d_bytes(n, m, p, pv, d, options):
    a = options.get("accumulation", 1)
    return 8 * ((n + m) * d * 3 + 4 * (a * d) ** 2 + d * (p + pv))


def _check_sizes(n, m, p, pv, d, options, func):
    a = options.get("accumulation", 1)
    if a != 1:
        dd = 1 if d is None else check_int(d, func, "d", low=1)
        check_memory(8 * ((n + m) * a * dd + 4 * (a * dd) ** 2), func, "accumulation", a)


def _v_signs(x, f, k):
    if isinstance(x, str):
        check_choice(x, SIGN_RULES, f, k)
    else:
        v_array(x, f, k)


METHODS = (AttentionMethod(
    name="skyformer", formula=skyformer, draw=draw,
    options={"target": v_choice("gaussian", "softmax"), "preset": v_choice(*PRESETS),
             "landmarks": v_optional(v_name), "indices": v_optional(v_array),
             "core": v_optional(v_choice(*ATTENTION_CORES, "eig")), "lam": v_optional(v_real(low=0.0)),
             "n_iter": v_optional(v_int(1, NS_MAX_ITER)), "init": v_optional(v_choice("per_matrix", "global")),
             "ns_scale": v_optional(v_real(low=0.0, low_open=True)), "normalise": v_bool, "rcond": v_rcond,
             "accumulation": v_int(1, None), "signs": v_optional(_v_signs), "center_keys": v_bool},
    aliases={"gamma": "lam"},
    per_item_options={"indices": lambda o: 1 if o.get("accumulation", 1) == 1 else 2, "signs": 2, "ns_scale": 0},
    batch_prepare=_batch_prepare,
    target=lambda o: o.get("target", "gaussian"),
    d_bound=lambda n, m, o: (n + m, "landmarks are rows of the n + m stacked [Q̂; K̂]; more cannot add rank"),
    d_bytes=_d_bytes, check_sizes=_check_sizes, core_factors=_core_factors, resolve_options=resolve_options,
    summary="augmented Nyström of the Gaussian kernel (or of SM) on the stacked [Q̂; K̂] (Chen et al. 2021)"),)
