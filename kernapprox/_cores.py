"""Core (small d×d matrix) policies shared by every Nyström-type method (design.md §4.4).

The Nyström approximation ``C W^† Cᵀ`` needs a stabilised (pseudo-)inverse of the landmark block W.
The policy is always a named option, never a hidden constant:

``"shifted_cholesky"`` (PSD default)
    Pivoted Cholesky (LAPACK ``?pstrf``) of ``W + νI`` with ``ν = SHIFT_EPS_MULTIPLE · eps · tr(W)``
    (tr W >= ‖W‖₂ for PSD W; eps of the data dtype), stopped when the next pivot is at the level of the
    shift (``<= SHIFT_DROP_MULTIPLE · ν``; an exact duplicate leaves a pivot ≈ 2ν): landmarks whose
    only support is the shift (duplicates, numerically dependent points) are dropped. Because
    ``(W_S + νI)⁻¹ ⪯ W_S⁻¹`` the result still satisfies ``K̂ ⪯ K``.
``"eig"``
    ``W = U Λ Uᵀ``; keep ``|λ| > rcond · max|λ|`` (default ``rcond = EIG_RCOND``).
``"pinv"``
    Moore–Penrose pseudo-inverse: ``eig`` with numpy's cutoff ``rcond = k · eps``.
``"ridge"``
    ``(W + λI)⁻¹`` through Cholesky (``psd_core``'s λ must be given; ``core_inverse`` calls it γ).
``"newton_schulz"``
    The Razavi et al. (2014) iteration used by Nyströmformer/Skyformer (algorithms.md §1.3), with
    optional Lemma-3 normalisation (Skyformer §4.4, algorithms.md §2.5). Not for PSD factor results.

All cores are computed in float64 whatever the data dtype.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
from scipy.linalg.blas import dtrmm
from scipy.linalg.lapack import dtrtri

from . import _tiling
from ._tiling import EPS, row_tiles, tile_buffer, tile_rows
from ._validation import check_choice, check_int, check_positive, fail

__all__ = [
    "PSD_CORES", "CORES", "EPS", "EIG_RCOND", "SHIFT_EPS_MULTIPLE", "SHIFT_DROP_MULTIPLE", "PSDCore", "psd_core", "sym_core",
    "newton_schulz_inverse", "lemma3_normalise", "core_inverse",
]

#: Relative eigenvalue cutoff of the ``"eig"`` core: 1e6·eps ≈ 2.2e-10.
EIG_RCOND = 1e6 * EPS
#: Shift of the ``"shifted_cholesky"`` core in units of eps·tr(W).
SHIFT_EPS_MULTIPLE = 10.0
#: ``"shifted_cholesky"`` drops pivots ``<= SHIFT_DROP_MULTIPLE · ν``: an exactly duplicated landmark
#: leaves a residual pivot ν(2 + ν)/(1 + ν) ≈ 2ν (± rounding), a pivot of a point in the numerical span
#: of the others is ν(1 + ‖a‖²) for its coefficient vector a.
SHIFT_DROP_MULTIPLE = 4.0
#: Rows per tile of :meth:`PSDCore.apply_tiled` (tiles written into F itself: APPLY_MAX_ROWS; tiles
#: through a buffer: within ``_tiling.TILE_BYTES``, clipped to this range — at least 2048 rows, as
#: each tile pays a parallel kernel-block launch and a ?trmm call: measured 1.1–1.4x faster than
#: 512-row tiles at n = 50000, k = 1000, float32).
APPLY_MIN_ROWS, APPLY_MAX_ROWS = 2048, 8192
#: Default number of Newton–Schulz iterations (the value in the Nyströmformer/Skyformer code).
NS_ITER_DEFAULT = 6

PSD_CORES = ("shifted_cholesky", "eig", "pinv", "ridge")
CORES = PSD_CORES + ("newton_schulz",)


@dataclass(frozen=True)
class PSDCore:
    """``W_cols^† ≈ R Rᵀ`` on the kept landmark columns ``cols``; ``F = C[:, cols] @ R``.

    Exactly one of ``R`` and ``L`` is set: the Cholesky-type cores store the lower factor L with
    ``R = L⁻ᵀ`` (applied as a triangular multiply by ``L⁻¹``), ``"eig"``/``"pinv"`` a dense R.
    """

    cols: np.ndarray
    R: np.ndarray | None          # (k_kept, r) dense root, or None when `L` is used
    L: np.ndarray | None          # lower Cholesky factor: R = L^{-T}
    policy: str
    meta: dict = field(default_factory=dict)

    @property
    def rank(self) -> int:
        return int(self.L.shape[0] if self.L is not None else self.R.shape[1])

    def apply(self, C, *, out_dtype=np.float64) -> np.ndarray:
        """``F = C[:, cols] @ R`` for landmark columns C (n, k) in memory (:meth:`apply_tiled`).

        The kept columns are gathered tile by tile into the tile (or F's rows), never as a whole
        (n, len(cols)) copy: besides C the call touches F, at most one tile buffer and, for C not
        C-contiguous (``A[:, idx]`` of numpy is a transposed view), one gather temporary of about
        ``kernapprox._tiling.TILE_BYTES``."""
        C = np.asarray(C)
        cols = self.cols
        whole = cols.size == C.shape[1] and np.array_equal(cols, np.arange(C.shape[1]))
        in_dtype = C.dtype if C.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        direct = C.flags.c_contiguous and C.dtype == in_dtype
        sub = tile_rows(cols.size, C.dtype.itemsize)

        def fill(i0: int, i1: int, T: np.ndarray) -> np.ndarray:
            if whole:
                T[...] = C[i0:i1]
            elif direct:
                np.take(C[i0:i1], cols, axis=1, out=T, mode="wrap")   # cols are in range: no buffered copy
            else:
                for s0, s1 in row_tiles(i1 - i0, sub):
                    T[s0:s1] = C[i0 + s0:i0 + s1][:, cols]
            return T
        return self.apply_tiled(fill, C.shape[0], in_dtype, out_dtype)

    def apply_tiled(self, fill, n: int, in_dtype, out_dtype) -> np.ndarray:
        """``F = C[:, cols] R`` (n, rank) for C given tile by tile: ``fill(i0, i1, T)`` writes the rows
        ``C[i0:i1, cols]`` (t × len(cols), dtype ``in_dtype``) into the C-contiguous array T it is
        handed and returns it (e.g. ``kernel.block_into(X[i0:i1], Z, T)``).

        Cholesky-type cores: ``R = L⁻ᵀ`` is formed once (``?trtri``, O(r³/3)) and applied per tile
        with a triangular multiply (``?trmm``, n·r² flops: half a GEMM; ≈ 1.7x faster than ``?trsm``
        with OpenBLAS on tall tiles). In float64 every tile is written straight into the rows of F and
        F is multiplied in place once at the end (one ``?trmm``: the kernel blocks' threads and BLAS's
        never alternate), so F is the only n-sized memory touched; other dtypes / dense cores use one
        tile buffer (and one float64 product buffer) allocated once and reused for every tile. Direct
        tiles hold :data:`APPLY_MAX_ROWS` rows (F's own rows: tall tiles amortise the kernel-block
        launches), buffered ones :data:`APPLY_MIN_ROWS`–:data:`APPLY_MAX_ROWS` rows within
        ``kernapprox._tiling.TILE_BYTES``.
        Each row of F is the same row of C times the same factor whatever the tile height.
        Time O(n·c·r) besides ``fill``; extra memory at most one tile buffer.
        """
        r = self.rank
        c = int(self.cols.size)
        in_dtype, out_dtype = np.dtype(in_dtype), np.dtype(out_dtype)
        F = np.empty((n, r), dtype=out_dtype)
        Linv = None
        if self.L is not None:
            Linv, info = dtrtri(np.asarray(self.L, dtype=np.float64, order="F"), lower=1)
            if info != 0:  # pragma: no cover - pivoted Cholesky factors have a positive diagonal
                raise np.linalg.LinAlgError(f"nystrom: triangular inverse failed (info={info})")
            Linv = np.asfortranarray(Linv)
        R = None if self.R is None else np.asarray(self.R, dtype=np.float64)
        direct = Linv is not None and out_dtype == np.float64 and in_dtype == np.float64
        # the direct path's tiles are rows of F itself (no temporaries): as tall as allowed
        step = max(1, min(n, APPLY_MAX_ROWS)) if direct else \
            tile_rows(r, 8, budget=_tiling.TILE_BYTES, low=APPLY_MIN_ROWS, high=APPLY_MAX_ROWS, n=n)
        Tbuf = None if direct else tile_buffer(step, c, in_dtype)
        Pbuf = None if (direct or (Linv is None and out_dtype == np.float64)) else tile_buffer(step, r, np.float64)
        for i0, i1 in row_tiles(n, step):
            t = i1 - i0
            if direct:
                fill(i0, i1, F[i0:i1])
                continue
            T = fill(i0, i1, Tbuf[:t])
            if Linv is not None:
                Fi = Pbuf[:t]
                Fi[...] = T
                dtrmm(1.0, Linv, Fi.T, lower=1, overwrite_b=1)
                F[i0:i1] = Fi
            elif Pbuf is None:
                np.matmul(T.astype(np.float64, copy=False), R, out=F[i0:i1])
            else:
                F[i0:i1] = np.matmul(T.astype(np.float64, copy=False), R, out=Pbuf[:t])
        if direct:
            # F = C L⁻ᵀ  <=>  Fᵀ = L⁻¹ Cᵀ ; Fᵀ is a Fortran view of F: one multiply in place, after every
            # block (kernel blocks and BLAS do not alternate: neither pool's threads wait for the other's)
            dtrmm(1.0, Linv, F.T, lower=1, overwrite_b=1)
        return F


def _sym(W: np.ndarray) -> np.ndarray:
    W = np.asarray(W, dtype=np.float64)
    return 0.5 * (W + np.swapaxes(W, -1, -2))


def _eigh(W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``eigh`` of the symmetrised W (batched over leading axes) and ``max|λ|`` per matrix (shape
    (..., 1), 0 for an empty W): the one eigenvalue cutoff every ``eig``/``pinv`` core measures against."""
    lam, U = np.linalg.eigh(_sym(W))
    return lam, U, np.abs(lam).max(axis=-1, keepdims=True, initial=0.0)


def psd_core(W, core: str = "shifted_cholesky", *, rcond: float | None = None,
             lam: float | None = None, eps: float | None = None, func: str = "nystrom") -> PSDCore:
    """Stabilised root of the pseudo-inverse of a PSD landmark block W (k×k), in float64.

    Parameters
    ----------
    W : ndarray of shape (k, k)
        Landmark block ``K[S, S]`` (symmetrised here).
    core : {"shifted_cholesky", "eig", "pinv", "ridge"}
        Policy (module docstring).
    rcond : float, optional
        Relative eigenvalue cutoff of ``"eig"``/``"pinv"`` (defaults ``EIG_RCOND`` / ``k·eps``).
    lam : float, optional
        Ridge λ of ``"ridge"`` (required there): the core ``(W + λI)⁻¹``.
    eps : float, optional
        Unit roundoff of the data the block was computed in (``np.finfo(dtype).eps``); sets the shift
        of ``"shifted_cholesky"``. Default: float64.

    Returns
    -------
    PSDCore
        ``F = C[:, core.cols] @ L⁻ᵀ`` (or ``@ R``) satisfies ``F Fᵀ ⪯ C W^† Cᵀ ⪯ K``, with
        ``meta["dropped"]`` landmarks left out.

    Notes
    -----
    O(k³) time (``?pstrf`` / ``eigh``), O(k²) memory.

    References
    ----------
    Chen, Epperly, Tropp, Webber, "Randomly pivoted Cholesky", CPAM 2025, §2 (the shifted
    Cholesky core of their Nyström code); Higham, "Cholesky factorization", WIREs 2009 (?pstrf).
    """
    check_choice(core, PSD_CORES, func, "core")
    W = _sym(W)
    k = W.shape[0]
    if core == "shifted_cholesky":
        tr = float(np.trace(W))
        if not tr > 0:
            raise fail(func, "W", "have a positive trace (all landmark diagonal entries are 0)", tr)
        nu = SHIFT_EPS_MULTIPLE * (EPS if eps is None else float(eps)) * tr
        Wn = W + nu * np.eye(k)
        c, piv, r, info = sla.lapack.dpstrf(Wn, lower=1, tol=-1.0)
        piv = piv - 1
        pivots = np.diag(c)[:r] ** 2
        # pivots at the level of the shift come only from ν (and rounding): keep the prefix above it
        small = pivots <= SHIFT_DROP_MULTIPLE * nu
        r = int(np.argmax(small)) if small.any() else int(r)
        r = max(r, 1)
        cols = piv[:r].astype(np.intp)
        L = np.ascontiguousarray(np.tril(c[:r, :r]))
        return PSDCore(cols=cols, R=None, L=L, policy=core, meta={"shift": nu, "dropped": k - r})
    if core == "ridge":
        if lam is None:
            raise fail(func, "lam", "be given (> 0) for core='ridge'", None)
        lam = check_positive(lam, func, "lam")
        L = sla.cholesky(W + lam * np.eye(k), lower=True, check_finite=False)
        return PSDCore(cols=np.arange(k), R=None, L=L, policy=core, meta={"lam": lam, "dropped": 0})
    # eig / pinv
    lam, U, lam_max = _eigh(W)
    if rcond is None:
        rcond = EIG_RCOND if core == "eig" else k * EPS
    keep = lam > rcond * lam_max
    neg = int(np.sum(lam < -rcond * lam_max))
    R = U[:, keep] / np.sqrt(lam[keep])
    return PSDCore(cols=np.arange(k), R=R, L=None, policy=core,
                   meta={"rcond": rcond, "dropped": int(k - keep.sum()), "negative_dropped": neg})


def sym_core(W, *, rcond: float | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Indefinite ``eig`` core: ``W^† ≈ U diag(1/λ) Uᵀ`` keeping ``|λ| > rcond·max|λ|`` (λ may be < 0)."""
    lam, U, lam_max = _eigh(W)
    rcond = EIG_RCOND if rcond is None else rcond
    keep = np.abs(lam) > rcond * lam_max
    return U[:, keep], 1.0 / lam[keep], {"rcond": rcond, "dropped": int(lam.size - keep.sum()),
                                         "negative_kept": int(np.sum(lam[keep] < 0))}


def lemma3_normalise(M, lam: float):
    """Skyformer Lemma 3 normalisation (algorithms.md §2.5), batched over leading axes.

    ``W_γ = M + γI``, ``D = diag(W_γ 1)`` (row sums), ``N = D^{-1/2} W_γ D^{-1/2}``.

    Parameters
    ----------
    M : ndarray of shape (..., d, d)
        Symmetric; entrywise non-negative for the lemma (Gaussian-kernel landmark block ``SᵀC̄S``).
    lam : float
        Ridge γ >= 0 (the authors' code uses 0.1).

    Returns
    -------
    N : ndarray of shape (..., d, d)
    s : ndarray of shape (..., d)
        ``diag(D)^{-1/2}``, so that ``(M + γI)⁻¹ = s[:, None] · N⁻¹ · s[None, :]``.

    Notes
    -----
    For PSD, entrywise non-negative M and γ > 0 every eigenvalue of N lies in (0, 1] (the top one can
    equal 1 to rounding), hence ``‖I − N‖ < 1`` and the Razavi iteration on N converges. Cost O(d²).

    References
    ----------
    Chen et al., "Skyformer", NeurIPS 2021, §4.4 Lemma 3 (proof App. E).
    """
    M = np.asarray(M, dtype=np.float64)
    d = M.shape[-1]
    Wg = M + float(lam) * np.eye(d)
    rs = Wg.sum(axis=-1)
    if np.any(rs <= 0):
        raise fail("lemma3_normalise", "M", "have positive row sums of M + γI (entrywise non-negative M)",
                   f"min row sum {float(rs.min()):.3g}")
    s = 1.0 / np.sqrt(rs)
    N = s[..., :, None] * Wg * s[..., None, :]
    return N, s


def newton_schulz_inverse(M, n_iter: int = NS_ITER_DEFAULT, *, init: str = "per_matrix",
                          scale=None) -> np.ndarray:
    """Razavi et al. (2014) iterative inverse used by Nyströmformer and Skyformer (algorithms.md §1.3).

    ``Z₀ = Mᵀ / max_j Σ_i |M_ij|`` (max column sum = ‖M‖₁), then ``n_iter`` times
    ``Z ← ¼ Z (13I − MZ(15I − MZ(7I − MZ)))`` (a 7th-order hyper-power step: the residual
    ``E = I − MZ`` maps to ``E⁷``-type terms, so convergence is very fast once ``‖E‖ < 1``).

    Parameters
    ----------
    M : ndarray of shape (..., d, d)
    n_iter : int
        6 in the authors' code: a *partial* inverse when M has small eigenvalues (λ_min(N) ≈ 1e-3
        leaves ``‖I − MZ₆‖ ≈ 1``); ≈ 15–30 iterations converge to ``M⁻¹`` for invertible M.
    init : {"per_matrix", "global"}
        ``"per_matrix"``: one scale per d×d matrix; ``"global"``: one scalar, the max column sum over
        the whole batch (the "original" option of the official torch code).
    scale : float or ndarray of shape (...), optional
        Explicit ``Z₀ = Mᵀ/scale`` (overrides ``init``; used to share a batch-global scale between
        separately processed heads).

    Returns
    -------
    ndarray of shape (..., d, d), float64

    Notes
    -----
    Cost O(n_iter · 4 d³) per matrix. Convergence needs ``‖I − M Z₀‖ < 1``: true for row-stochastic
    M (Nyströmformer, ``‖M‖_∞ = 1``) and for Lemma-3-normalised M (Skyformer); for a general M pass the
    paper's ``scale = ‖M‖₁‖M‖_∞``.

    References
    ----------
    Razavi et al., "A new iterative method for finding approximate inverses of complex matrices",
    Abstract and Applied Analysis 2014; Xiong et al., "Nyströmformer", AAAI 2021, §3 Eq. (9);
    Chen et al., "Skyformer", NeurIPS 2021, §4.4.
    """
    func = "newton_schulz_inverse"
    M = np.asarray(M, dtype=np.float64)
    check_choice(init, ("per_matrix", "global"), func, "init")
    n_iter = check_int(n_iter, func, "n_iter", low=0)
    if scale is None:
        colsum = np.abs(M).sum(axis=-2)                        # (..., d) column sums
        scale = colsum.max(axis=-1) if init == "per_matrix" else colsum.max()
    scale = np.asarray(scale, dtype=np.float64)
    if np.any(~np.isfinite(scale)) or np.any(scale <= 0):
        raise fail(func, "scale", "be finite and > 0 (M must not be zero)", scale)
    Z = np.swapaxes(M, -1, -2) / scale[..., None, None]
    d = M.shape[-1]
    I = np.eye(d)
    for _ in range(n_iter):
        MZ = M @ Z
        Z = 0.25 * Z @ (13 * I - MZ @ (15 * I - MZ @ (7 * I - MZ)))
    return Z


#: Relative asymmetry below which ``core_inverse`` treats W as symmetric (eigh instead of SVD).
SYM_RTOL = 1e3 * EPS


def core_inverse(W, core: str, *, lam: float | None = None, n_iter: int = NS_ITER_DEFAULT,
                 rcond: float | None = None, init: str = "per_matrix", normalise: bool = True,
                 ns_scale=None, func: str = "core_inverse") -> np.ndarray:
    """An explicit d×d (batched: (..., d, d)) approximation of W^† for asymmetric uses (attention).

    Parameters
    ----------
    W : ndarray of shape (..., d, d)
    core : {"pinv", "signed_eig", "ridge", "newton_schulz"}
        ``"pinv"``: Moore–Penrose pseudo-inverse, relative cutoff ``rcond`` (default ``d·eps``);
        ``"signed_eig"``: the same with cutoff ``EIG_RCOND`` (negative eigenvalues of a symmetric W are
        kept, inverted with their sign; the PSD core ``"eig"`` of :func:`psd_core` drops them instead); symmetric W use ``eigh``, asymmetric W (Nyströmformer's
        ``softmax(Q̃K̃ᵀ)``) an SVD. ``"ridge"``: ``(W + γI)⁻¹``. ``"newton_schulz"``: with
        ``normalise=True`` the Skyformer code path (Lemma-3 normalisation of ``W + γI`` then ``n_iter``
        Razavi steps, algorithms.md §2.4); with ``normalise=False`` the plain iteration on ``W + γI``
        (γ = 0 allowed: Nyströmformer).
    lam : float, optional
        Ridge γ (required for ``"ridge"``; default 0 for ``"newton_schulz"``).
    n_iter, init, ns_scale
        Passed to :func:`newton_schulz_inverse` (``ns_scale`` is its ``scale``).
    rcond : float, optional
    normalise : bool

    Returns
    -------
    ndarray of shape (..., d, d), float64

    References
    ----------
    Chen et al., "Skyformer", NeurIPS 2021, Eq. (5), §4.4 Lemma 3; Xiong et al., "Nyströmformer",
    AAAI 2021, §3.
    """
    check_choice(core, ("pinv", "signed_eig", "ridge", "newton_schulz"), func, "core")
    W = np.asarray(W, dtype=np.float64)
    d = W.shape[-1]
    if core in ("pinv", "signed_eig"):
        rc = (d * EPS if core == "pinv" else EIG_RCOND) if rcond is None else float(rcond)
        Wt = np.swapaxes(W, -1, -2)
        wmax = float(np.abs(W).max()) if W.size else 0.0
        if np.abs(W - Wt).max(initial=0.0) <= SYM_RTOL * wmax:
            lam, U, amax = _eigh(W)
            keep = np.abs(lam) > rc * amax
            inv = np.where(keep, 1.0 / np.where(keep, lam, 1.0), 0.0)
            return (U * inv[..., None, :]) @ np.swapaxes(U, -1, -2)
        return np.linalg.pinv(W, rcond=rc)     # `rcond` (not numpy>=2's `rtol`): numpy>=1.24 supported
    g = 0.0 if lam is None else float(lam)
    if core == "ridge":
        if lam is None:
            raise fail(func, "lam", "be given for core='ridge'", None)
        check_positive(g, func, "lam")
        return np.linalg.inv(W + g * np.eye(d))
    check_positive(g, func, "lam", allow_zero=True)
    if normalise:
        N, s = lemma3_normalise(W, g)
        Ninv = newton_schulz_inverse(N, n_iter, init=init, scale=ns_scale)
        return s[..., :, None] * Ninv * s[..., None, :]
    return newton_schulz_inverse(W + g * np.eye(d), n_iter, init=init, scale=ns_scale)
