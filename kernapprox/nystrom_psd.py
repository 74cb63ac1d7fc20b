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

from ._aliases import deprecated_alias
from ._cores import PSD_CORES, psd_core
from ._operators import require_psd, to_matrix
from ._tiling import eps_of, out_dtype
from ._validation import (check_choice, check_indices, check_points, check_positive, check_psd_spectrum,
                          check_rcond, fail)
from .lowrank import PSDLowRank
from .matrix import KernelMatrix

__all__ = ["nystrom"]


def _check_psd_block(W, eps: float, func: str) -> None:
    """The PSD claim of an undeclared matrix, checked where it is cheap: on the k×k landmark block
    (O(k³), the core's own cost); a principal submatrix of a PSD matrix is PSD."""
    W = np.asarray(W, dtype=np.float64)
    check_psd_spectrum(np.linalg.eigvalsh(0.5 * (W + W.T)), func, "KM", eps=eps)


def nystrom(KM, indices=None, *, points=None, core: str | None = None, rcond: float | None = None,
            lam: float | None = None, idx=None, landmarks=None, gamma: float | None = None) -> PSDLowRank:
    """Nyström approximation ``K̂ = K[:, S] W^† K[S, :] = F Fᵀ`` of a PSD kernel matrix.

    Parameters
    ----------
    KM : square matrix of :func:`kernapprox.as_matrix` (n, n)
        A :class:`KernelMatrix`, a dense PSD array, a PSDLowRank, a Dask kernel matrix, … — PSD
        declared or by construction, or not refuted by the cheap tests of :func:`kernapprox.as_matrix`
        (then the k×k landmark block is checked, the only part decomposed). ``.kernel`` and ``.X``
        are needed for ``points=``.
    indices : array of int of shape (k,), optional
        Landmark indices (duplicates allowed: they are dropped by the core).
    points : ndarray of shape (k, d), optional
        Landmark *points* instead of indices (e.g. :func:`kernapprox.kmeans_centers`):
        ``C = κ(X, Z)``, ``W = κ(Z, Z)``. Give exactly one of ``indices`` and ``points``.
    core : {"shifted_cholesky", "eig", "pinv", "ridge"}, default "shifted_cholesky"
        Core policy (:mod:`kernapprox._cores`): ``"shifted_cholesky"`` — pivoted Cholesky of
        ``W + νI``, ν = 10·eps·tr W, landmarks that rely on the shift (duplicates, numerically
        dependent points) dropped, applied as a triangular multiply by ``L⁻ᵀ``; ``"eig"`` — keep eigenvalues above
        ``rcond·λ_max`` (default 1e6·eps); ``"pinv"`` — Moore–Penrose (``rcond = k·eps``);
        ``"ridge"`` — ``(W + λI)⁻¹``.
    rcond : float, optional
        Eigenvalue cutoff of ``"eig"``/``"pinv"``.
    lam : float, optional
        Ridge λ of ``"ridge"`` (required there).
    idx, landmarks, gamma
        Deprecated aliases of ``indices``, ``points`` and ``lam``.

    Returns
    -------
    PSDLowRank
        F of shape (n, r), r <= k landmarks kept, in the matrix dtype (float32 kept; the core is
        float64). ``info``: ``indices`` (the given landmark indices, None for points),
        ``kept`` (landmarks actually used, positions into ``indices``/``points``), ``n_evals``,
        ``method`` ("nystrom"), ``core``, ``dropped`` (landmarks left out by the core), plus the
        core's parameters (``shift``, ``rcond`` or ``lam``).

    Raises
    ------
    ValueError
        For a non-PSD kernel/matrix (use :func:`kernapprox.indefinite_nystrom` or
        :func:`kernapprox.augmented_nystrom`), indices out of range, a non-square matrix, or not
        exactly one of ``indices`` / ``points``.

    Notes
    -----
    Time O(n k d + n k² + k³) for a kernel on d-dimensional points (the n k² is one triangular
    multiply by ``L⁻ᵀ`` per tile for the Cholesky-type cores — n·k² flops, half a GEMM — and a GEMM
    for ``"eig"``/``"pinv"``); memory O(n r) for F, into whose rows the float64 Cholesky-type cores
    write each kernel tile (other cases: one reused tile, :meth:`kernapprox._cores.PSDCore.apply_tiled`). Kernel entries:
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
    indices = deprecated_alias(func, "idx", idx, "indices", indices)
    lam_name = "lam" if gamma is None else "gamma"
    lam = deprecated_alias(func, "gamma", gamma, "lam", lam)
    if isinstance(landmarks, str):
        raise fail(func, "landmarks", "not be a rule name here: draw indices with "
                   "kernapprox.sample_landmarks(KM, k, method=...) and pass them as `indices`", repr(landmarks),
                   TypeError)
    points = deprecated_alias(func, "landmarks", landmarks, "points", points)
    KM = to_matrix(KM, func, "KM")
    n, m = KM.shape
    core = "shifted_cholesky" if core is None else core
    if core == "newton_schulz":
        raise fail(func, "core", "be a PSD core (one of " + ", ".join(repr(c) for c in PSD_CORES) +
                   "); the Newton–Schulz core gives no PSD factor — use kernapprox.augmented_nystrom",
                   repr(core))
    check_choice(core, PSD_CORES, func, "core")
    rcond = check_rcond(rcond, func)
    if lam is not None:
        lam = check_positive(lam, func, lam_name)
    require_psd(KM, func)
    if (indices is None) == (points is None):
        raise fail(func, "indices", "be given, or else `points` (exactly one of the two)",
                   "both" if indices is not None else "neither")
    out_dt, eps = out_dtype(KM), eps_of(KM)
    ev0 = KM.n_evals
    kernel, X = getattr(KM, "kernel", None), getattr(KM, "X", None)

    if points is not None:
        if kernel is None or X is None:
            raise fail(func, "points", "be used with a kernel matrix that has .kernel and .X",
                       f"{type(KM).__name__} without them")
        X = np.asarray(X)
        Z = check_points(points, func, "points")
        if Z.shape[1] != X.shape[1]:
            raise ValueError(f"{func}: `points` must have as many columns as the points X; got "
                             f"points.shape={Z.shape} and X.shape={X.shape}")
        Z = np.ascontiguousarray(Z, dtype=X.dtype)
        W = kernel.block(Z, Z)
        pc = psd_core(W, core, rcond=rcond, lam=lam, eps=eps, func=func)
        Zc = np.ascontiguousarray(Z[pc.cols])
        F = pc.apply_tiled(lambda i0, i1, T: kernel.block_into(X[i0:i1], Zc, T), n, X.dtype, out_dt)
        n_evals = Z.shape[0] ** 2 + n * Zc.shape[0]
        KM.count(n_evals)
        indices = None
    else:
        idx = check_indices(indices, n, func, "indices")
        if isinstance(KM, KernelMatrix):
            # landmark block first (k² entries), then only the kept columns, tile by tile
            Xs = KM.X[idx]
            W = KM.block(idx, idx)
            pc = psd_core(W, core, rcond=rcond, lam=lam, eps=eps, func=func)
            Zc = np.ascontiguousarray(Xs[pc.cols])
            F = pc.apply_tiled(lambda i0, i1, T: KM.kernel.block_into(KM.X[i0:i1], Zc, T), n, KM.X.dtype,
                               out_dt)
            KM.count(n * Zc.shape[0])
        else:
            C = np.asarray(KM.columns(idx))
            W = C[idx]
            if not KM.psd_declared:
                _check_psd_block(W, eps, func)
            pc = psd_core(W, core, rcond=rcond, lam=lam, eps=eps, func=func)
            F = pc.apply(C, out_dtype=out_dt)
        n_evals = KM.n_evals - ev0
        indices = idx
    info = {"indices": indices, "kept": np.sort(pc.cols), "n_evals": int(n_evals), "method": "nystrom",
            "core": core, "dropped": int(pc.meta.get("dropped", 0))}
    info.update({k: v for k, v in pc.meta.items() if k != "dropped"})
    return PSDLowRank(F, info)
