"""Nyström approximation of a PSD kernel matrix: ``K̂ = C W^† Cᵀ = F Fᵀ`` (algorithms.md §1.2).

``C = K[:, S]`` (n×k) holds the landmark columns and ``W = K[S, S]`` (k×k) the landmark block. The
pseudo-inverse is replaced by a named, stabilised core policy (:mod:`kernapprox._cores`):
``"shifted_cholesky"`` (default), ``"eig"``, ``"pinv"``, ``"ridge"``. The result is the factor
``F = C R`` with ``R Rᵀ ≈ W^†``, computed tile by tile (a kernel tile, then a triangular multiply into
the output rows), so the only n-sized memory is F itself.

The module is ``nystrom_psd`` (not ``nystrom``) so that it does not shadow the function
``kernapprox.nystrom``.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg.blas import dtrmm
from scipy.linalg.lapack import dtrtri

from ._cores import PSD_CORES, psd_core
from ._validation import (check_choice, check_indices, check_points, check_positive, check_psd_spectrum,
                          check_rcond, fail)
from ._operators import require_psd, to_matrix
from ._tiling import eps_of, out_dtype
from .lowrank import PSDLowRank
from .matrix import KernelMatrix

__all__ = ["nystrom", "TILE_BYTES"]

#: Target size of one (rows × k) tile of the landmark columns, in bytes (tall tiles keep ?trmm efficient).
TILE_BYTES = 64 * 1024 * 1024
#: Bounds on the rows per tile (the triangular multiply is one BLAS-3 call per tile).
MIN_TILE_ROWS, MAX_TILE_ROWS = 512, 8192


def _tile_rows(k: int) -> int:
    return int(max(MIN_TILE_ROWS, min(MAX_TILE_ROWS, TILE_BYTES // max(1, 8 * k))))


def _copy_rows(C: np.ndarray):
    """``fill`` of :func:`_apply_tiled` for landmark columns already in memory."""
    def fill(i0: int, i1: int, T: np.ndarray) -> np.ndarray:
        T[...] = C[i0:i1]
        return T
    return fill


def _check_psd_block(W, eps: float, func: str) -> None:
    """The PSD claim of an undeclared matrix, checked where it is cheap: on the k×k landmark block
    (O(k³), the core's own cost); a principal submatrix of a PSD matrix is PSD."""
    W = np.asarray(W, dtype=np.float64)
    check_psd_spectrum(np.linalg.eigvalsh(0.5 * (W + W.T)), func, "KM", eps=eps)


def _apply_tiled(fill, n: int, c: int, core, in_dtype, out_dtype) -> np.ndarray:
    """F = C[:, cols] R for C given tile by tile by ``fill(i0, i1, T)``, which writes the rows
    ``C[i0:i1, cols]`` (t × c, dtype ``in_dtype``) into the C-contiguous array T it is handed.

    Cholesky-type cores: ``R = L⁻ᵀ`` is formed once (``?trtri``, O(r³/3)) and applied per tile with a
    triangular multiply (``?trmm``, n·r² flops: half a GEMM; measured ≈ 1.7x faster than ``?trsm``
    with OpenBLAS on tall tiles). In float64 the kernel tile is written straight into the rows of F and
    multiplied there in place, so F is the only n-sized memory ever touched; other dtypes / dense cores
    use one tile buffer (and one float64 product buffer) allocated once and reused for every tile —
    fresh pages are slow on the target machines, so no per-tile temporaries. The tiles run serially;
    BLAS and the kernel block use the threads. Each row of F is the same kernel row times the same
    triangular factor whatever the tile height (``tests/test_nystrom_psd.py`` checks tilings agree).
    """
    r = core.rank
    F = np.empty((n, r), dtype=out_dtype)
    step = min(n, _tile_rows(r))
    Linv = None
    if core.L is not None:
        Linv, info = dtrtri(np.asarray(core.L, dtype=np.float64, order="F"), lower=1)
        if info != 0:  # pragma: no cover - pivoted Cholesky factors have a positive diagonal
            raise np.linalg.LinAlgError(f"nystrom: triangular inverse failed (info={info})")
        Linv = np.asfortranarray(Linv)
    R = None if core.R is None else np.asarray(core.R, dtype=np.float64)
    direct = Linv is not None and out_dtype == np.float64 and in_dtype == np.float64
    Tbuf = None if direct else np.empty((step, c), dtype=in_dtype)
    Pbuf = None if (direct or (Linv is None and out_dtype == np.float64)) else np.empty((step, r))
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        t = i1 - i0
        if direct:
            # F_i = C_i L⁻ᵀ  <=>  F_iᵀ = L⁻¹ C_iᵀ ; F_iᵀ is a Fortran view of the rows: multiplied in place
            Fi = fill(i0, i1, F[i0:i1])
            dtrmm(1.0, Linv, Fi.T, lower=1, overwrite_b=1)
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
    return F


def nystrom(KM, idx=None, *, landmarks=None, core: str | None = None, rcond: float | None = None,
            gamma: float | None = None) -> PSDLowRank:
    """Nyström approximation ``K̂ = K[:, S] W^† K[S, :] = F Fᵀ`` of a PSD kernel matrix.

    Parameters
    ----------
    KM : KernelMatrix or kernel-matrix protocol object of shape (n, n), or a dense PSD array / PSDLowRank
        Any object with ``.shape``, ``.diag()``, ``.columns(idx)``, ``.block(I, J)``, ``.n_evals``,
        ``.is_psd`` (or ``.kernel.is_psd``); ``.kernel`` and ``.X`` are needed for ``landmarks=``.
    idx : array of int of shape (k,), optional
        Landmark indices (duplicates allowed: they are dropped by the core).
    landmarks : ndarray of shape (k, d), optional
        Landmark *points* instead of indices (e.g. :func:`kernapprox.kmeans_centers`):
        ``C = κ(X, Z)``, ``W = κ(Z, Z)``. Give exactly one of ``idx`` and ``landmarks``.
    core : {"shifted_cholesky", "eig", "pinv", "ridge"}, default "shifted_cholesky"
        Core policy (:mod:`kernapprox._cores`): ``"shifted_cholesky"`` — pivoted Cholesky of
        ``W + νI``, ν = 10·eps·tr W, landmarks that rely on the shift (duplicates, numerically
        dependent points) dropped, applied as a triangular multiply by ``L⁻ᵀ``; ``"eig"`` — keep eigenvalues above
        ``rcond·λ_max`` (default 1e6·eps); ``"pinv"`` — Moore–Penrose (``rcond = k·eps``);
        ``"ridge"`` — ``(W + γI)⁻¹``.
    rcond : float, optional
        Eigenvalue cutoff of ``"eig"``/``"pinv"``.
    gamma : float, optional
        Ridge γ of ``"ridge"`` (required there).

    Returns
    -------
    PSDLowRank
        F of shape (n, r), r <= k landmarks kept, in the matrix dtype (float32 kept; the core is
        float64). ``info``: ``indices`` (the given landmark indices, None for points),
        ``kept`` (landmarks actually used, positions into ``idx``/``landmarks``), ``n_evals``,
        ``method`` ("nystrom"), ``core``, ``dropped`` (landmarks left out by the core), plus the
        core's parameters (``shift``, ``rcond`` or ``gamma``).

    Raises
    ------
    ValueError
        For a non-PSD kernel/matrix (use :func:`kernapprox.indefinite_nystrom` or
        :func:`kernapprox.augmented_nystrom`), indices out of range, a non-square matrix, or not
        exactly one of ``idx`` / ``landmarks``.

    Notes
    -----
    Time O(n k d + n k² + k³) for a kernel on d-dimensional points (the n k² is one triangular
    multiply by ``L⁻ᵀ`` per tile for the Cholesky-type cores — n·k² flops, half a GEMM — and a GEMM
    for ``"eig"``/``"pinv"``); memory O(n r) for F, into whose rows the float64 Cholesky-type cores
    write each kernel tile (other cases: one reused tile of ``TILE_BYTES``). Kernel entries:
    ``n·r + k²`` for a :class:`KernelMatrix` (the landmark block, then only the kept columns, tile by
    tile); ``n·k`` for another protocol object (its ``columns(idx)``,
    from which W is read). ``K − K̂`` is PSD for every core except ``"ridge"`` whose ``K̂`` is
    smaller still; the trace error ``tr(K − K̂) = Σ diag(K) − approx.trace()`` is exact.

    References
    ----------
    C. Williams, M. Seeger, "Using the Nyström method to speed up kernel machines", NeurIPS 2000;
    Skyformer (Chen et al., NeurIPS 2021) §3.2 (algorithms.md §1.2); Chen, Epperly, Tropp, Webber,
    "Randomly pivoted Cholesky", CPAM 2025, §2.1 (stabilised Nyström via a shifted Cholesky core).

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> X = np.random.default_rng(0).normal(size=(300, 2))
    >>> KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    >>> approx = ka.nystrom(KM, np.arange(0, 300, 10))
    >>> approx.rank, approx.info["core"]
    (30, 'shifted_cholesky')
    """
    func = "nystrom"
    KM = to_matrix(KM, func, "KM")
    n, m = KM.shape
    core = "shifted_cholesky" if core is None else core
    if core == "newton_schulz":
        raise fail(func, "core", "be a PSD core (one of " + ", ".join(repr(c) for c in PSD_CORES) +
                   "); the Newton–Schulz core gives no PSD factor — use kernapprox.augmented_nystrom",
                   repr(core))
    check_choice(core, PSD_CORES, func, "core")
    rcond = check_rcond(rcond, func)
    if gamma is not None:
        gamma = check_positive(gamma, func, "gamma")
    require_psd(KM, func)
    if (idx is None) == (landmarks is None):
        raise fail(func, "idx", "be given, or else `landmarks` (exactly one of the two)",
                   "both" if idx is not None else "neither")
    out_dt, eps = out_dtype(KM), eps_of(KM)
    ev0 = KM.n_evals
    kernel, X = getattr(KM, "kernel", None), getattr(KM, "X", None)

    if landmarks is not None:
        if kernel is None or X is None:
            raise fail(func, "landmarks", "be used with a kernel matrix that has .kernel and .X",
                       f"{type(KM).__name__} without them")
        X = np.asarray(X)
        Z = check_points(landmarks, func, "landmarks")
        if Z.shape[1] != X.shape[1]:
            raise ValueError(f"{func}: `landmarks` must have as many columns as the points X; got "
                             f"landmarks.shape={Z.shape} and X.shape={X.shape}")
        Z = np.ascontiguousarray(Z, dtype=X.dtype)
        W = kernel.block(Z, Z)
        pc = psd_core(W, core, rcond=rcond, gamma=gamma, eps=eps, func=func)
        Zc = np.ascontiguousarray(Z[pc.cols])
        F = _apply_tiled(lambda i0, i1, T: kernel.block_into(X[i0:i1], Zc, T), n, Zc.shape[0], pc,
                         X.dtype, out_dt)
        n_evals = Z.shape[0] ** 2 + n * Zc.shape[0]
        KM.count(n_evals)
        indices = None
    else:
        idx = check_indices(idx, n, func, "idx")
        if isinstance(KM, KernelMatrix):
            # landmark block first (k² entries), then only the kept columns, tile by tile
            Xs = KM.X[idx]
            W = KM.block(idx, idx)
            pc = psd_core(W, core, rcond=rcond, gamma=gamma, eps=eps, func=func)
            Zc = np.ascontiguousarray(Xs[pc.cols])
            F = _apply_tiled(lambda i0, i1, T: KM.kernel.block_into(KM.X[i0:i1], Zc, T), n, Zc.shape[0],
                             pc, KM.X.dtype, out_dt)
            KM.count(n * Zc.shape[0])
        else:
            C = np.asarray(KM.columns(idx))
            W = C[idx]
            if not KM.psd_declared:
                _check_psd_block(W, eps, func)
            pc = psd_core(W, core, rcond=rcond, gamma=gamma, eps=eps, func=func)
            Cc = np.ascontiguousarray(C[:, pc.cols])
            del C
            F = _apply_tiled(_copy_rows(Cc), n, Cc.shape[1], pc, Cc.dtype, out_dt)
        n_evals = KM.n_evals - ev0
        indices = idx
    info = {"indices": indices, "kept": np.sort(pc.cols), "n_evals": int(n_evals), "method": "nystrom",
            "core": core, "dropped": int(pc.meta.get("dropped", 0))}
    info.update({k: v for k, v in pc.meta.items() if k != "dropped"})
    return PSDLowRank(F, info)
