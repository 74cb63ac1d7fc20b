"""Nyström forms beyond the PSD case: augmented (Skyformer), indefinite, generalized, skeleton/CUR.

* :func:`augmented_nystrom` — the non-PSD off-diagonal block ``φ(Q, K)`` of a PSD kernel φ through
  Nyström on the PSD completion ``φ([Q; K], [Q; K])`` (Skyformer §4.2, Eqs. (4)–(6); algorithms.md §2.2).
* :func:`indefinite_nystrom` — ``C W^† Cᵀ`` with an indefinite ``eig`` core (sigmoid/tanh kernels).
* :func:`generalized_nystrom` — ``A X (Yᵀ A X)^† Yᵀ A`` from two sketches (Nakatsukasa 2020) for any
  rectangular matrix.
* :func:`skeleton_cur` — ``A[:, J] A[I, J]^† A[I, :]`` from chosen rows and columns (S3 Prop. 1).

All results are factor containers (:mod:`kernapprox.lowrank`); nothing of size n×m is formed.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from . import kernels as _kernels
from ._validation import deprecated_alias
from ._cores import EIG_RCOND, EPS, NS_ITER_DEFAULT, core_inverse, sym_core
from ._operators import to_matrix
from ._random import rademacher
from ._validation import (as_generator, check_bool, check_choice, check_indices, check_int, check_matrix,
                          check_memory, check_points, check_positive, check_rcond, check_same_dim,
                          fail, working_dtype)
from .lowrank import LowRank, SymLowRank
from .matrix import KernelMatrix

__all__ = ["augmented_nystrom", "indefinite_nystrom", "generalized_nystrom", "skeleton_cur",
           "augmented_landmarks", "AUGMENTED_RULES", "ATTENTION_CORES"]

#: Landmark rules of the augmented Nyström that need no kernel evaluations.
AUGMENTED_RULES = ("uniform2n", "stratified")
#: Core policies of the asymmetric (attention) Nyström forms (see :func:`kernapprox._cores.core_inverse`).
ATTENTION_CORES = ("pinv", "signed_eig", "ridge", "newton_schulz")


def signed_core(core, func: str):
    """The core name of the indefinite (signed) forms: ``"eig"`` is accepted as the deprecated spelling
    of ``"signed_eig"`` (the PSD forms' ``"eig"`` drops negative eigenvalues, these keep them), with a
    DeprecationWarning at the caller's line; any other value is returned unchanged (validated later)."""
    if isinstance(core, str) and core == "eig":
        deprecated_alias(func, "core='eig'", "eig", "core='signed_eig'", None)
        return "signed_eig"
    return core
#: Default relative eigenvalue cutoff of the SM (exponential-kernel) core, algorithms.md §2.8.
SM_RCOND = 1e-8


#: Upper bound on ``n_iter`` of the Newton–Schulz core: the iteration converges quadratically once
#: ‖I − W Z‖ < 1 (from the Lemma-3 start), so a few tens of steps reach float64 accuracy for any
#: condition number below 1/eps; more are refused rather than run for hours.
NS_MAX_ITER = 200


def _check_core_options(func, core, cores, *, lam, gamma, n_iter, init, normalise, rcond):
    """Every core option is validated whichever core runs (an unused option is still a typo); ``gamma``
    is the deprecated alias of the ridge ``lam``."""
    check_choice(core, cores, func, "core")
    if gamma is not None:
        check_positive(gamma, func, "gamma", allow_zero=True)
    lam = deprecated_alias(func, "gamma", gamma, "lam", lam)
    if lam is not None:
        lam = check_positive(lam, func, "lam", allow_zero=True)
    n_iter = check_int(n_iter, func, "n_iter", low=1, high=NS_MAX_ITER)
    check_choice(init, ("per_matrix", "global"), func, "init")
    normalise = check_bool(normalise, func, "normalise")
    return lam, n_iter, normalise, check_rcond(rcond, func)


def default_rcond(core: str, d: int, dtype, *, exponential: bool = False):
    """Relative pseudo-inverse cutoff used when ``rcond`` is not given: ``d·eps`` (``"pinv"``),
    ``EIG_RCOND`` (``"signed_eig"``; ``SM_RCOND`` for the exponential kernel), and never below
    ``d·eps(dtype)`` — float32 landmark blocks carry ~1e-7 relative errors that an exact float64
    pseudo-inverse would amplify without bound. None for the other cores."""
    if core not in ("pinv", "signed_eig"):
        return None
    base = d * EPS if core == "pinv" else (SM_RCOND if exponential else EIG_RCOND)
    return max(base, d * float(np.finfo(np.dtype(dtype)).eps))


# -------------------------------------------------------------------------------------------------
# landmarks of the augmented matrix
# -------------------------------------------------------------------------------------------------
def augmented_landmarks(n: int, m: int, d: int, *, landmarks: str = "uniform2n", accumulation: int = 1,
                        rng=None, kernel=None, Q=None, K=None, rule=None) -> np.ndarray:
    """Draw landmark indices into the ``n + m`` stacked rows ``[Q; K]``.

    Parameters
    ----------
    n, m : int
        Number of query rows and key rows (n = m for self-attention: the paper's 2n rows).
    d : int
        Number of landmarks (sketch columns).
    landmarks : str
        The rule: ``"uniform2n"`` — d i.i.d. uniform draws from all n + m rows, with replacement (Skyformer
        Def. 1, the setting of Theorem 2); ``"stratified"`` — ⌈d/2⌉ uniform query rows and ⌊d/2⌋ uniform
        key rows, with replacement (the authors' code, ``uniform_sketching``); any other name is passed
        to :func:`kernapprox.sample_landmarks` on the (n+m)×(n+m) augmented :class:`KernelMatrix`
        (needs ``kernel``, ``Q``, ``K``; ``accumulation`` must be 1).
    accumulation : int
        Number of stacked sub-sampling draws per sketch column (Chen & Yang 2021; algorithms.md §1.1).
    rule : str, optional
        Deprecated spelling of ``landmarks``.

    Returns
    -------
    ndarray of int of shape (d,) if ``accumulation == 1`` else (accumulation, d)
    """
    func = "augmented_landmarks"
    rule = deprecated_alias(func, "rule", rule, "landmarks", landmarks, new_default="uniform2n")
    gen = as_generator(rng, func)
    n = check_int(n, func, "n", low=1)
    m = check_int(m, func, "m", low=1)
    N = n + m
    d = check_int(d, func, "d", low=1)           # i.i.d. draws: d > n + m is a valid (if wasteful) sample
    accumulation = check_int(accumulation, func, "accumulation", low=1)
    from .sampling import METHODS as _SAMPLERS
    check_choice(rule, AUGMENTED_RULES + tuple(_SAMPLERS), func, "landmarks")
    check_memory(8 * accumulation * d, func, "d", d)
    if rule not in AUGMENTED_RULES and (Q is None or K is None):
        raise fail(func, "Q", f"be given (with `K` and `kernel`) for the data-dependent rule {rule!r}", None)
    if rule == "uniform2n":
        idx = gen.integers(0, N, size=(accumulation, d))
    elif rule == "stratified":
        dq = (d + 1) // 2
        iq = gen.integers(0, n, size=(accumulation, dq))
        ik = n + gen.integers(0, m, size=(accumulation, d - dq))
        idx = np.concatenate([iq, ik], axis=1)
    else:
        if accumulation != 1:
            raise fail(func, "landmarks", f"be one of {AUGMENTED_RULES} when accumulation > 1", repr(rule))
        if kernel is None:
            raise fail(func, "kernel", f"be given for the data-dependent landmark rule {rule!r}", None)
        from . import sample_landmarks
        X = np.concatenate([Q, K], axis=0)
        KM = KernelMatrix(kernel, X)
        res = sample_landmarks(KM, d, method=rule, rng=gen)
        idx = np.asarray(getattr(res, "indices", res), dtype=np.intp).reshape(1, -1)
    idx = idx.astype(np.intp)
    return idx[0] if accumulation == 1 else idx


# -------------------------------------------------------------------------------------------------
# augmented (Skyformer) Nyström
# -------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class AugmentedCore:
    """The sketched blocks of the augmented Nyström (Skyformer Eqs. (4)–(6)) for a sketch S given by
    landmark ``indices`` (a, d) into the stacked rows ``[Q; K]`` and ``signs`` (a, d):

    ``CQ = φ(Q, X)S`` (n, d), ``CK = φ(K, X)S`` (m, d), ``W = SᵀφS`` (d, d, float64), with
    ``S = Σ_i r_i e_{J_i}/√a`` per column. For the exponential kernel every block is
    ``exp(logit − shift)`` in float64 with one common ``shift`` (the max logit, algorithms.md §2.8),
    so the sketched blocks of φ itself are ``e^{shift}`` times these; ``shift = 0`` otherwise.
    ``n_evals``: kernel entries evaluated, ``(n + m)·a·d + (a·d)²``.
    """

    CQ: np.ndarray
    CK: np.ndarray
    W: np.ndarray
    shift: float
    indices: np.ndarray
    signs: np.ndarray
    n_evals: int


def augmented_core(kernel, Q, K, indices, signs=None) -> AugmentedCore:
    """The sketched blocks of the augmented Nyström on validated points (no checks; see
    :class:`AugmentedCore`).

    ``indices`` (a, d) are rows of ``[Q; K]`` (:func:`landmark_index_array`); ``signs`` (a, d) of ±1
    (default all ones). Accumulated sketches (a > 1) are summed one draw at a time: memory
    O((n + m) d + (a d)²). Used by :func:`augmented_nystrom`, ``kernapprox.attention.skyformer`` (its
    factors and its batch-global Newton–Schulz scale) and, through those factors, the oracle.
    """
    idx2 = np.asarray(indices).reshape(-1, np.shape(indices)[-1])
    sg = np.ones(idx2.shape) if signs is None else np.asarray(signs, dtype=np.float64).reshape(idx2.shape)
    a, d = idx2.shape
    w = sg / np.sqrt(a)
    expo = isinstance(kernel, _kernels.Exponential)
    if expo:
        # the SM core is extremely ill-conditioned: its blocks are always computed in float64
        Q, K = Q.astype(np.float64, copy=False), K.astype(np.float64, copy=False)
    X = np.concatenate([Q, K], axis=0)
    XL = X[idx2.reshape(-1)]
    t = 1.0 / kernel.temperature if expo else 1.0

    def logits(A, B):
        G = A @ B.T
        G *= t
        return G

    def block(A, B, shift, G=None):
        if not expo:
            return kernel.block(A, B)
        G = logits(A, B) if G is None else G
        G -= shift
        return np.exp(G, out=G)

    shift = 0.0
    GQ = GK = GW = None
    if expo:
        # the common shift is the max logit; with one draw (a = 1) the logit blocks are kept and
        # exponentiated in place instead of being formed a second time
        GW = logits(XL, XL)
        shift = float(GW.max())
        if a == 1:
            GQ, GK = logits(Q, XL), logits(K, XL)
            shift = max(shift, float(GQ.max()), float(GK.max()))
        else:
            for i in range(a):
                Xi = XL[i * d:(i + 1) * d]
                shift = max(shift, float(logits(Q, Xi).max()), float(logits(K, Xi).max()))
    Wf = np.asarray(block(XL, XL, shift, GW), dtype=np.float64)
    n_evals = (Q.shape[0] + K.shape[0]) * idx2.size + idx2.size ** 2
    if a == 1:
        CQ, CK = block(Q, XL, shift, GQ), block(K, XL, shift, GK)
        if not np.all(w == 1):
            w0 = w[0]
            CQ, CK, Wf = CQ * w0.astype(Q.dtype), CK * w0.astype(K.dtype), Wf * np.outer(w0, w0)
        return AugmentedCore(CQ, CK, Wf, shift, idx2, sg, n_evals)
    CQ = np.zeros((Q.shape[0], d), dtype=Q.dtype)
    CK = np.zeros((K.shape[0], d), dtype=K.dtype)
    for i in range(a):
        Xi = XL[i * d:(i + 1) * d]
        wi = w[i].astype(Q.dtype)
        CQ += block(Q, Xi, shift) * wi
        CK += block(K, Xi, shift) * wi
    W4 = (Wf * np.outer(w.reshape(-1), w.reshape(-1))).reshape(a, d, a, d)
    return AugmentedCore(CQ, CK, W4.sum(axis=(0, 2)), shift, idx2, sg, n_evals)


def landmark_index_array(indices, N: int, accumulation: int, func: str, name: str = "indices") -> np.ndarray:
    """Validated landmark indices into N stacked rows as an (accumulation, d) array (1-D input: one row)."""
    a = np.asarray(indices)
    if a.ndim == 1:
        a2 = check_indices(a, N, func, name)[None, :]
    elif a.ndim == 2:
        a2 = check_indices(a.reshape(-1), N, func, name).reshape(a.shape)
    else:
        raise fail(func, name, "be 1-D (d,) or 2-D (accumulation, d)", f"shape {a.shape}")
    if a2.shape[0] != accumulation:
        raise fail(func, name, f"have {accumulation} row(s) (accumulation)", f"shape {a.shape}")
    return a2


#: sign rules of the accumulated sketch
SIGN_RULES = ("rademacher", "ones")


def sketch_signs(signs, shape, gen, func: str) -> np.ndarray:
    """The ±1 signs ``r_ik`` of an accumulated sketch of ``shape`` (accumulation, d): a rule name
    (``"rademacher"``: :func:`kernapprox._random.rademacher` when accumulation > 1, ones otherwise;
    ``"ones"``) or a given ±1 array (checked)."""
    if isinstance(signs, str):
        check_choice(signs, SIGN_RULES, func, "signs")
        if signs == "ones" or shape[0] == 1:
            return np.ones(shape)
        return rademacher(gen, shape)
    s = np.asarray(signs, dtype=np.float64)
    if s.shape != shape or not np.all(np.abs(s) == 1):
        raise fail(func, "signs", f"be ±1 of shape {shape}", f"shape {s.shape}")
    return s


def augmented_nystrom(kernel, Q, K, d=None, *, indices=None, landmarks: str = "uniform2n",
                      core: str = "pinv", lam: float | None = None, n_iter: int = NS_ITER_DEFAULT,
                      init: str = "per_matrix", normalise: bool = True, rcond: float | None = None,
                      accumulation: int = 1, signs="rademacher", rng=None, gamma: float | None = None) -> LowRank:
    """Augmented Nyström approximation of the non-PSD block ``B = φ(Q, K)`` of a PSD kernel φ.

    Stacks ``X = [Q; K]`` ((n+m)×p), forms the PSD completion ``B̄ = φ(X, X)`` implicitly, applies
    Nyström with a sub-sampling sketch S, and reads off the upper-right block (Skyformer Eqs. (4)–(6))::

        B̃ = φ(Q, X_L) · W^† · φ(X_L, K),   W = φ(X_L, X_L),   X_L = X[indices]

    Parameters
    ----------
    kernel : Kernel
        A PSD kernel (``kernel.is_psd``): ``Gaussian(1.0)`` on ``Q/p^¼, K/p^¼`` gives Skyformer's C;
        ``Exponential(1.0)`` on the same points gives the raw softmax scores ``A`` (Lemma 1; blocks are
        computed with one common exponent shift, algorithms.md §2.8).
    Q : ndarray of shape (n, p)
    K : ndarray of shape (m, p)
    d : int, optional
        Number of landmarks (sketch columns); inferred from ``indices`` when those are given.
    indices : ndarray of int of shape (d,) or (accumulation, d), optional
        Pre-drawn landmark rows of ``X`` (values in [0, n + m)); ``rng`` is then unused (except for
        ``signs``).
    landmarks : str
        ``"uniform2n"`` (theorem), ``"stratified"`` (authors' code) or a PSD sampler name of
        :func:`kernapprox.sample_landmarks` run on the augmented matrix (e.g. ``"rpcholesky"``).
    core : {"pinv", "signed_eig", "ridge", "newton_schulz"}
        ``"pinv"``: exact pseudo-inverse (theorem; cutoff ``d·eps``, ``d·eps32`` for float32 data);
        ``"signed_eig"`` (deprecated spelling ``"eig"``): eigenvalue cutoff ``rcond`` (default 1e-8 for
        the exponential kernel, else
        ``EIG_RCOND``; see :func:`default_rcond`); ``"ridge"``: ``(W + λI)⁻¹``;
        ``"newton_schulz"``: Lemma-3 normalisation of ``W + λI`` then ``n_iter`` Razavi steps (the
        authors' code: ``lam=0.1, n_iter=6``).
    lam, n_iter, init, normalise, rcond
        Core parameters (see :func:`kernapprox._cores.core_inverse`). ``lam`` (the ridge) defaults to
        0.1 for ``"newton_schulz"`` (code value); it is applied to the (shifted, for SM) landmark block.
    accumulation : int
        Chen & Yang accumulated sub-sampling: sketch column k is ``Σ_i r_ik e_{J_ik} / √accumulation``
        (unit weights at ``accumulation = 1``, as in the code; Nyström is invariant to the scale).
    signs : {"rademacher", "ones"} or ndarray of shape (accumulation, d)
        The ``r_ik`` (the authors' code uses ``"ones"``).
    rng : None, int, SeedSequence or Generator
    gamma : float, optional
        Deprecated alias of ``lam`` (DeprecationWarning).

    Returns
    -------
    LowRank
        ``B̃ = L Rᵀ`` with ``L = φ(Q, X_L) W^†`` (n×d) and ``R = φ(K, X_L)`` (m×d); ``info`` holds
        ``indices``, ``signs``, ``n_evals``, ``core``, ``landmarks``, ``shift``.

    Notes
    -----
    Time O((n + m) a d p + (a d)² p + d³) (a = accumulation); kernel entries (n + m) a d + (a d)²;
    memory O((n + m) a d). Error transfer: ``‖B − B̃‖ ≤ ‖B̄ − B̄̃‖`` (selector matrices have norm 1), and
    ``B̄ − B̄̃ ⪰ 0`` for the exact pseudo-inverse.

    References
    ----------
    Chen, Zeng, Ji, Yang, "Skyformer", NeurIPS 2021: §4.2 Eqs. (4)–(6), Def. 1, Thm 2, Lemma 3.
    Chen & Yang, "Accumulations of projections", AISTATS 2021.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> rng = np.random.default_rng(0)
    >>> Q, K = 0.3 * rng.normal(size=(2, 200, 8))
    >>> B = ka.augmented_nystrom(ka.Gaussian(1.0), Q, K, 40, rng=0)
    >>> B.shape, B.rank
    ((200, 200), 40)
    """
    func = "augmented_nystrom"
    if not isinstance(kernel, _kernels.Kernel):
        raise fail(func, "kernel", "be a kernapprox Kernel", type(kernel).__name__, TypeError)
    if not kernel.is_psd:
        raise fail(func, "kernel", "be a PSD kernel (use indefinite_nystrom for non-PSD kernels)", kernel.name)
    Q = check_points(Q, func, "Q")
    K = check_points(K, func, "K")
    check_same_dim(Q, K, func, "Q", "K")
    dt = working_dtype(Q, K)
    Q, K = Q.astype(dt, copy=False), K.astype(dt, copy=False)
    core = signed_core(core, func)
    lam, n_iter, normalise, rcond = _check_core_options(func, core, ATTENTION_CORES, lam=lam, gamma=gamma,
                                                          n_iter=n_iter, init=init, normalise=normalise,
                                                          rcond=rcond)
    accumulation = check_int(accumulation, func, "accumulation", low=1)
    from .sampling import METHODS as _SAMPLERS
    check_choice(landmarks, AUGMENTED_RULES + tuple(_SAMPLERS), func, "landmarks")
    n, m = Q.shape[0], K.shape[0]
    N = n + m
    gen = as_generator(rng, func)
    if indices is None:
        if d is None:
            raise fail(func, "d", "be given when `indices` is not", None)
        # Landmarks drawn without replacement (a sampler name) are at most the n + m rows. The i.i.d.
        # rules (Def. 1 "uniform2n", "stratified") draw with replacement: d > n + m is Theorem 2's
        # sample-size regime (the skyformer_bound experiment uses it); duplicates add no rank and the
        # pseudo-inverse core drops them, so d is bounded there by memory only (checked below).
        d = check_int(d, func, "d", low=1, high=None if landmarks in AUGMENTED_RULES else N)
        ad = accumulation * d
        check_memory(8 * (2 * ad * (N + ad)), func, "accumulation" if accumulation > 1 else "d",
                     accumulation if accumulation > 1 else d)
        idx2 = augmented_landmarks(n, m, d, landmarks=landmarks, accumulation=accumulation, rng=gen,
                                   kernel=kernel, Q=Q, K=K).reshape(accumulation, -1)
    else:
        idx2 = landmark_index_array(indices, N, accumulation, func)
        if d is not None and check_int(d, func, "d", low=1, high=N) != idx2.shape[1]:
            raise fail(func, "d", f"equal the number of given indices ({idx2.shape[1]})", d)
    d = idx2.shape[1]
    sg = sketch_signs(signs, idx2.shape, gen, func)
    core_blocks = augmented_core(kernel, Q, K, idx2, sg)
    CQ, CK, W, shift = core_blocks.CQ, core_blocks.CK, core_blocks.W, core_blocks.shift
    if not (np.all(np.isfinite(W)) and np.all(np.isfinite(CQ)) and np.all(np.isfinite(CK))):
        raise fail(func, "Q", "give finite kernel values together with `K` (coordinates at a scale where "
                   "the kernel is representable)", "non-finite kernel entries")
    if core == "newton_schulz" and lam is None:
        lam = 0.1
    if rcond is None:
        expo = isinstance(kernel, _kernels.Exponential)
        rcond = default_rcond(core, d, np.float64 if expo else dt, exponential=expo)
    Winv = core_inverse(W, core, lam=lam, n_iter=n_iter, rcond=rcond, init=init, normalise=normalise,
                        func=func)
    L = np.asarray(CQ, dtype=np.float64) @ Winv
    if shift != 0.0:
        scale = np.exp(shift)
        if not np.isfinite(scale):
            raise fail(func, "Q, K", "have inner products below the float64 exponent range (≈ 709) "
                       "for the exponential kernel", f"max logit {shift:.4g}")
        L *= scale
    info = {"method": "augmented_nystrom", "indices": idx2[0] if accumulation == 1 else idx2,
            "signs": sg, "accumulation": accumulation, "landmarks": landmarks if indices is None else "given",
            "core": core, "lam": lam, "n_iter": n_iter if core == "newton_schulz" else None,
            "shift": shift, "kernel": kernel.name,
            "n_evals": core_blocks.n_evals}
    return LowRank(L.astype(dt, copy=False), np.asarray(CK).astype(dt, copy=False), info)


def _choose(count_or_idx, N: int, gen, func: str, name: str) -> np.ndarray:
    if np.ndim(count_or_idx) == 0 and not isinstance(count_or_idx, (bool, np.bool_)):
        # a scalar is a count (an integral float included; 2.5 or "3" raise), never a single index
        k = check_int(count_or_idx, func, name, low=1, high=N)
        return np.sort(gen.choice(N, size=k, replace=False)).astype(np.intp)
    return check_indices(count_or_idx, N, func, name)


def _pinv(M: np.ndarray, rcond: float) -> np.ndarray:
    """Float64 pseudo-inverse with relative cutoff ``rcond`` (callers pass :func:`default_rcond`'s)."""
    return np.linalg.pinv(np.asarray(M, dtype=np.float64), rtol=rcond)


def indefinite_nystrom(A, d=None, *, indices=None, core: str = "signed_eig", rcond: float | None = None,
                       rng=None) -> SymLowRank:
    """Nyström ``K̂ = C W^† Cᵀ`` of a symmetric, possibly indefinite matrix with a signed eig core.

    Parameters
    ----------
    A : KernelMatrix (square, symmetric) or ndarray of shape (n, n)
        E.g. ``KernelMatrix(Sigmoid(gamma, coef0), X)`` (tanh kernel, not PSD).
    d : int, optional
        Number of landmarks, drawn uniformly without replacement (ignored if ``indices`` is given).
    indices : ndarray of int of shape (d,), optional
    core : {"signed_eig", "pinv"}
        ``"signed_eig"`` (deprecated spelling ``"eig"``): keep eigenvalues of W with
        ``|λ| > rcond·max|λ|`` (default ``EIG_RCOND``), negative
        ones included; ``"pinv"``: the same with numpy's cutoff ``d·eps``.
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    SymLowRank
        ``U diag(λ) Uᵀ`` with ``U = C U_W`` (n×r), ``λ = 1/λ_W`` (signed); ``info`` holds ``indices``,
        ``n_evals``, ``negative_kept``.

    Notes
    -----
    Time O(n d p + d³); kernel entries n·d; memory O(n d). No Loewner guarantee (K̂ ⪯ K fails for
    indefinite K); with all n landmarks and an invertible K the result is exact.

    References
    ----------
    Williams & Seeger 2001; for indefinite kernels see Gisbrecht & Schleif 2015 and
    algorithms.md §5.5 (sigmoid attention is not PSD).

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> ka.indefinite_nystrom(ka.KernelMatrix(ka.Sigmoid(0.5, -1.0), X), 20, rng=0).rank <= 20
    True
    """
    func = "indefinite_nystrom"
    M = to_matrix(A, func, "A")
    if M.shape[0] != M.shape[1]:
        raise fail(func, "A", "be square (symmetric)", f"shape {M.shape}")
    if not M.symmetric:
        raise fail(func, "A", "be symmetric", f"a non-symmetric {type(M).__name__}")
    core = signed_core(core, func)
    check_choice(core, ("signed_eig", "pinv"), func, "core")
    rcond = check_rcond(rcond, func)
    n = M.shape[0]
    gen = as_generator(rng, func)
    if indices is None:
        if d is None:
            raise fail(func, "d", "be given when `indices` is not", None)
        idx = _choose(check_int(d, func, "d", low=1, high=n), n, gen, func, "d")
    else:
        idx = check_indices(indices, n, func, "indices")
    C = np.asarray(M.columns(idx))
    W = C[idx]
    if rcond is None:
        rcond = default_rcond(core, idx.size, C.dtype)
    U_w, lam_inv, meta = sym_core(W, rcond=rcond)
    U = (np.asarray(C, dtype=np.float64) @ U_w).astype(C.dtype, copy=False)
    info = {"method": "indefinite_nystrom", "indices": idx, "core": core, "n_evals": n * idx.size, **meta}
    return SymLowRank(U, lam_inv, info)


def generalized_nystrom(A, d=None, *, oversample: int | None = None, sketch: str = "gaussian",
                        right=None, left=None, rcond: float | None = None, rng=None) -> LowRank:
    """Generalized Nyström ``Â = (A X)(Yᵀ A X)^†(Yᵀ A)`` of a rectangular matrix from two sketches.

    Parameters
    ----------
    A : KernelMatrix (any, e.g. K(Q, K) of a non-symmetric pair) or ndarray of shape (n, m)
    d : int
        Rank (columns of the right sketch X, m×d).
    oversample : int, optional
        ℓ extra columns of the left sketch Y (n×(d+ℓ)); default ⌈d/2⌉ (Nakatsukasa's recommendation).
    sketch : {"gaussian", "subsample"}
        ``"gaussian"``: i.i.d. N(0, 1) sketches (products are streamed: n·m kernel entries);
        ``"subsample"``: X, Y select d columns / d+ℓ rows uniformly without replacement (then
        ``Â`` is a CUR approximation costing (n + m)(d+ℓ) entries).
    right, left : ndarray, optional
        Pre-drawn sketches: for ``"gaussian"`` matrices of shape (m, d) and (n, d+ℓ); for
        ``"subsample"`` index arrays of columns and rows.
    rcond : float, optional
        Relative cutoff of the pseudo-inverse of the (d+ℓ)×d core (default ``(d+ℓ)·eps``, eps of the
        matrix's dtype: float32 data gets ``(d+ℓ)·eps32``, :func:`default_rcond`).
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    LowRank
        ``L = A X`` (n×d), ``R = ((YᵀAX)^† YᵀA)ᵀ`` (m×d).

    Notes
    -----
    Time O(n m d) for Gaussian sketches of a KernelMatrix (two streamed products), O((n + m) d p) for
    sub-sampling; memory O((n + m) d). Exact when rank(A) ≤ d (with probability 1 for Gaussian sketches).

    References
    ----------
    Nakatsukasa, "Fast and stable randomized low-rank matrix approximation", arXiv 2009.11392 (2020),
    Eq. (1.2); Clarkson & Woodruff 2009.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> r = np.random.default_rng(0)
    >>> A = r.normal(size=(60, 5)) @ r.normal(size=(5, 40))
    >>> G = ka.generalized_nystrom(A, 5, rng=0)
    >>> bool(np.allclose(G.to_dense(), A))
    True
    """
    func = "generalized_nystrom"
    M = to_matrix(A, func, "A")
    n, m = M.shape
    check_choice(sketch, ("gaussian", "subsample"), func, "sketch")
    gen = as_generator(rng, func)
    rcond = check_rcond(rcond, func)
    if d is None:
        if right is None:
            raise fail(func, "d", "be given when `right` is not", None)
        d = np.asarray(right).shape[-1] if sketch == "gaussian" else np.asarray(right).size
    d = check_int(d, func, "d", low=1, high=min(n, m))
    ell = (d + 1) // 2 if oversample is None else check_int(oversample, func, "oversample", low=0, high=n - d)
    s = min(n, d + ell)
    n0 = int(getattr(M, "n_evals", 0))
    if sketch == "gaussian":
        if right is None:
            right = gen.standard_normal((m, d))
        X = check_matrix(right, func, "right", ndim=2)
        if X.shape != (m, d):
            raise fail(func, "right", f"have shape ({m}, {d})", f"shape {X.shape}")
        if left is None:
            left = gen.standard_normal((n, s))
        Y = check_matrix(left, func, "left", ndim=2)
        if Y.shape[0] != n:
            raise fail(func, "left", f"have {n} rows", f"shape {Y.shape}")
        AX = np.asarray(M.matvec(X.astype(M.dtype, copy=False)), dtype=np.float64)
        YA = np.asarray(M.rmatvec(Y.astype(M.dtype, copy=False)), dtype=np.float64).T   # (s, m)
        YAX = Y.T.astype(np.float64) @ AX
        info = {"sketch": "gaussian"}
    else:
        J = _choose(d, m, gen, func, "d") if right is None else check_indices(right, m, func, "right")
        I = _choose(s, n, gen, func, "oversample") if left is None else check_indices(left, n, func, "left")
        AX = np.asarray(M.columns(J), dtype=np.float64)
        YA = np.asarray(M.rows(I), dtype=np.float64)
        YAX = AX[I]
        info = {"sketch": "subsample", "col_indices": J, "row_indices": I}
    rc = default_rcond("pinv", YAX.shape[0], M.dtype) if rcond is None else rcond
    R = (_pinv(YAX, rc) @ YA).T
    info.update(method="generalized_nystrom", n_evals=int(getattr(M, "n_evals", 0)) - n0, rcond=rc)
    dt = M.dtype
    return LowRank(AX.astype(dt, copy=False), R.astype(dt, copy=False), info)


def skeleton_cur(A, rows, cols, *, rcond: float | None = None, rng=None) -> LowRank:
    """Skeleton (CUR) approximation ``Â = A[:, J] · A[I, J]^† · A[I, :]``.

    Parameters
    ----------
    A : KernelMatrix or ndarray of shape (n, m)
    rows : int or ndarray of int
        Row indices I, or their number (then drawn uniformly without replacement).
    cols : int or ndarray of int
        Column indices J, or their number.
    rcond : float, optional
        Relative cutoff of the pseudo-inverse of the intersection ``A[I, J]`` (default
        ``max(|I|, |J|)·eps``, eps of the matrix's dtype; S3 Prop. 1 uses the exact pseudo-inverse).
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    LowRank
        ``L = A[:, J] A[I, J]^†`` (n×|I|), ``R = A[I, :]ᵀ`` (m×|I|); ``info`` with ``rows``, ``cols``,
        ``n_evals``.

    Notes
    -----
    Kernel entries (n|J| + m|I|) (the intersection is read from the columns); time
    O((n + m)·(|I| + |J|)·p + |I||J| min(|I|,|J|)); exact when rank A[I, J] = rank A.

    References
    ----------
    Wang et al., "S3Attention", arXiv 2408.08567, §3 Prop. 1; Chiu & Demanet, "Sublinear randomized
    algorithms for skeleton decompositions", SIMAX 2013.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> r = np.random.default_rng(0)
    >>> A = r.normal(size=(50, 3)) @ r.normal(size=(3, 30))
    >>> bool(np.allclose(ka.skeleton_cur(A, 6, 6, rng=0).to_dense(), A))
    True
    """
    func = "skeleton_cur"
    M = to_matrix(A, func, "A")
    n, m = M.shape
    gen = as_generator(rng, func)
    rcond = check_rcond(rcond, func)
    I = _choose(rows, n, gen, func, "rows")
    J = _choose(cols, m, gen, func, "cols")
    n0 = int(getattr(M, "n_evals", 0))
    C = np.asarray(M.columns(J), dtype=np.float64)
    Rr = np.asarray(M.rows(I), dtype=np.float64)
    U = C[I]
    rc = default_rcond("pinv", max(U.shape), M.dtype) if rcond is None else rcond
    L = C @ _pinv(U, rc)
    info = {"method": "skeleton_cur", "rows": I, "cols": J, "rcond": rc,
            "n_evals": int(getattr(M, "n_evals", 0)) - n0}
    dt = M.dtype
    return LowRank(L.astype(dt, copy=False), Rr.T.astype(dt, copy=False), info)
