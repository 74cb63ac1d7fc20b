"""Kernel PCA: exact, Nyström and random-feature versions, with held-out reconstruction error.

algorithms.md §5.1. All three estimate the top ℓ eigenfunctions of the (uncentred) empirical
covariance operator ``Σ̂ = (1/n) Σ_i φ(x_i) ⊗ φ(x_i)`` on the RKHS H of the kernel, and are
evaluated by the reconstruction error of held-out points

    ``R(x) = ‖(I − P_ℓ) φ(x)‖²_H = k(x, x) − Σ_{j<=ℓ} ⟨v_j, φ(x)⟩²``,

where ``v_1..v_ℓ`` are the orthonormal approximate eigenfunctions and P_ℓ the projector on their span.
Every result stores its subspace as ``v_j = Σ_b coef[b, j] φ(z_b)`` over basis points z_b (the data for
exact KPCA, the landmarks for Nyström KPCA), so ``⟨v_j, φ(x)⟩ = (k(x, Z) @ coef)_j``.

* :func:`exact_kpca` — eigen-decomposition of K/n (O(n³)).
* :func:`nystrom_kpca` — restrict to ``span{φ(z_1..z_m)}``: the generalised eigenproblem
  ``(1/n) K_mn K_nm α = μ K_mm α``, solved stably through a root of ``K_mm^†`` (a core policy of
  :mod:`kernapprox._cores`): O(n m² + m³), n·m kernel evaluations.
* :func:`rff_kpca` — PCA of random features z(x) (O(n D² + D³)); its eigenvectors are lifted to H
  through the training data to measure the reconstruction error in H.

Centring: the covariance is uncentred, as in Sterge & Sriperumbudur; centre in feature space
yourself if needed (the identity "all points as landmarks ⇒ exact" holds either way).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla

from . import kernels as _kernels
from ._aliases import deprecated_alias
from ._cores import EIG_RCOND, PSD_CORES, psd_core
from ._tiling import row_tiles, tile_rows
from ._validation import (as_generator, check_choice, check_indices, check_int, check_kernel, check_options,
                          check_points, check_positive, check_rcond, check_same_dim, check_size_product,
                          fail)

__all__ = ["KPCAResult", "exact_kpca", "nystrom_kpca", "rff_kpca", "kpca", "reconstruction_error"]

#: Eigenvalues of the (approximate) covariance at or below this multiple of the largest are not
#: components (they would give unnormalisable eigenfunctions).
COMPONENT_RCOND = EIG_RCOND


def _block(kernel, X, Z, func: str = "kpca"):
    B = np.asarray(kernel.block(X, Z), dtype=np.float64)
    if not np.all(np.isfinite(B)):
        raise fail(func, "X", "give finite kernel values (coordinates at a scale where the kernel is "
                   "representable)", f"{int(B.size - np.count_nonzero(np.isfinite(B)))} non-finite kernel entries")
    return B


@dataclass(frozen=True)
class KPCAResult:
    """Approximate kernel principal components (immutable).

    Attributes
    ----------
    method : str
        ``"exact"``, ``"nystrom"`` or ``"rff"``.
    kernel : Kernel
    eigenvalues : ndarray of shape (ℓ,)
        Top eigenvalues of the (approximate) empirical covariance operator, decreasing.
    basis_points : ndarray of shape (r, d)
        Points z_b whose feature vectors span the components.
    coef : ndarray of shape (r, ℓ)
        ``v_j = Σ_b coef[b, j] φ(z_b)``; the v_j are orthonormal in H.
    feature_map : object or None
        The random feature map (``rff`` only).
    feature_coef : ndarray of shape (D, ℓ) or None
        Eigenvectors of the feature covariance (``rff`` only): ``transform(X) = z(X) @ feature_coef``.
    info : dict
        ``n``, landmark ``indices``, ``n_evals`` (kernel entries evaluated), core policy, …
    """

    method: str
    kernel: _kernels.Kernel
    eigenvalues: np.ndarray
    basis_points: np.ndarray
    coef: np.ndarray
    feature_map: object = None
    feature_coef: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    @property
    def k(self) -> int:
        """ℓ, the number of components."""
        return int(self.eigenvalues.shape[0])

    n_components = k

    def _points(self, X, func):
        X = check_points(X, func, "X", dtype=np.float64)
        check_same_dim(X, self.basis_points, func, "X", "basis_points")
        return X

    def project(self, X) -> np.ndarray:
        """Coordinates ``⟨v_j, φ(x)⟩_H`` of new points, shape (n_test, ℓ) (k(X, Z) @ coef, tiled)."""
        X = self._points(X, "KPCAResult.project")
        out = np.empty((X.shape[0], self.k))
        step = tile_rows(self.basis_points.shape[0], 8, high=2048)
        for i0, i1 in row_tiles(X.shape[0], step):
            out[i0:i1] = _block(self.kernel, X[i0:i1], self.basis_points) @ self.coef
        return out

    def transform(self, X) -> np.ndarray:
        """Principal-component scores of new points, shape (n_test, ℓ).

        Exact / Nyström: the H coordinates (:meth:`project`). RFF: ``z(X) @ feature_coef`` (the
        scores of the feature-space PCA).
        """
        if self.method == "rff":
            X = self._points(X, "KPCAResult.transform")
            return np.asarray(self.feature_map.transform(X), dtype=np.float64) @ self.feature_coef
        return self.project(X)

    def reconstruction_error(self, X, *, per_point: bool = False, space: str = "rkhs"):
        """Held-out reconstruction error ``mean_x ‖(I − P_ℓ)φ(x)‖²_H = k(x, x) − ‖proj‖²``.

        Parameters
        ----------
        X : ndarray of shape (n_test, d)
        per_point : bool
            Return the (n_test,) vector instead of the mean.
        space : {"rkhs", "features"}
            ``"features"`` (rff only): the error in the random-feature space,
            ``‖z(x)‖² − ‖feature_coefᵀ z(x)‖²``.

        Notes
        -----
        Cost: n_test·r kernel evaluations (r basis points) and O(n_test·r·ℓ).
        """
        func = "KPCAResult.reconstruction_error"
        check_choice(space, ("rkhs", "features"), func, "space")
        if space == "features":
            if self.method != "rff":
                raise fail(func, "space", "be 'rkhs' unless the method is 'rff'", repr(space))
            X = self._points(X, func)
            Z = np.asarray(self.feature_map.transform(X), dtype=np.float64)
            P = Z @ self.feature_coef
            err = np.einsum("ij,ij->i", Z, Z) - np.einsum("ij,ij->i", P, P)
        else:
            P = self.project(X)
            X = self._points(X, func)
            diag = np.asarray(self.kernel.diag_of(X), dtype=np.float64)
            err = diag - np.einsum("ij,ij->i", P, P)
        err = np.maximum(err, 0.0)
        return err if per_point else float(np.mean(err))


def reconstruction_error(result: KPCAResult, X, *, per_point: bool = False, space: str = "rkhs"):
    """Function form of :meth:`KPCAResult.reconstruction_error`."""
    if not isinstance(result, KPCAResult):
        raise fail("reconstruction_error", "result", "be a KPCAResult", type(result).__name__, TypeError)
    return result.reconstruction_error(X, per_point=per_point, space=space)


def _top(mu, V, k, func, what):
    order = np.argsort(mu)[::-1]
    mu, V = mu[order], V[:, order]
    ok = mu > COMPONENT_RCOND * max(float(mu[0]), 0.0)
    avail = int(np.sum(ok))
    if k > avail:
        raise fail(func, "k", f"be <= {avail}, the number of nonzero eigenvalues of {what}", k)
    return mu[:k], V[:, :k]


def _required_k(func, k):
    if k is None:
        raise fail(func, "k", "be given (the number of components)", None, TypeError)
    return k


def exact_kpca(kernel, X, k: int | None = None, *, n_components: int | None = None) -> KPCAResult:
    """Exact (uncentred) kernel PCA from the eigen-decomposition of K/n.

    Parameters
    ----------
    kernel : Kernel or str
    X : ndarray of shape (n, d)
    k : int
        ℓ, the number of components: at most the number of nonzero eigenvalues of K.
    n_components : int
        Deprecated alias of ``k``.

    Returns
    -------
    KPCAResult
        ``coef = U_ℓ / sqrt(n λ_ℓ)`` so that ``v_j = Σ_i coef[i, j] φ(x_i)`` are orthonormal
        eigenfunctions of Σ̂ with eigenvalues λ_j (those of K/n).

    Notes
    -----
    O(n³) time, O(n²) memory, n² kernel evaluations.

    References
    ----------
    B. Schölkopf, A. Smola & K.-R. Müller, "Nonlinear component analysis as a kernel eigenvalue
    problem", Neural Computation 10(5), 1998, Eq. (14). algorithms.md §5.1.
    """
    func = "exact_kpca"
    k = _required_k(func, deprecated_alias(func, "n_components", n_components, "k", k))
    kernel = check_kernel(kernel, func)
    X = check_points(X, func, "X", dtype=np.float64)
    n = X.shape[0]
    k = check_int(k, func, "k", low=1, high=n)
    K = _block(kernel, X, X, func)
    lam, U = np.linalg.eigh(0.5 * (K + K.T) / n)
    lam, U = _top(lam, U, k, func, "K")
    coef = U / np.sqrt(n * lam)
    return KPCAResult("exact", kernel, lam, X, coef, info={"n": n, "n_evals": n * n})


def _landmarks(indices, points, X, rng, func):
    """Landmark points and their indices (None for points) from ``indices`` (a count m: m distinct
    uniform indices; or an index array) or ``points`` (exactly one of the two)."""
    n = X.shape[0]
    if (indices is None) == (points is None):
        raise fail(func, "indices", "be given (a count or an index array), or else `points` (exactly one "
                   "of the two)", "both" if indices is not None else "neither")
    if indices is not None and np.ndim(indices) == 2:
        warnings.warn(f"{func}: landmark points given as `indices` are deprecated; pass them as `points`",
                      DeprecationWarning, stacklevel=3)
        indices, points = None, indices
    if points is not None:
        Z = check_points(points, func, "points", dtype=np.float64)
        check_same_dim(X, Z, func, "X", "points")
        return Z, None
    if isinstance(indices, (int, np.integer)) and not isinstance(indices, bool):
        m = check_int(indices, func, "indices", low=1, high=n)
        idx = np.sort(as_generator(rng).choice(n, size=m, replace=False))
        return X[idx], idx
    idx = check_indices(indices, n, func, "indices")
    return X[idx], idx


def nystrom_kpca(kernel, X, k: int | None = None, indices=None, *, points=None, core: str = "eig",
                 rcond: float | None = None, lam: float | None = None, rng=None, n_components: int | None = None,
                 landmarks=None, gamma: float | None = None) -> KPCAResult:
    """Nyström kernel PCA: KPCA restricted to the span of the landmarks' feature vectors.

    Solves the generalised eigenproblem ``(1/n) K_mn K_nm α = μ K_mm α`` (algorithms.md §5.1) as
    ``eigh(Fᵀ F / n)`` with ``F = K_nm R`` and ``R Rᵀ ≈ K_mm^†`` (``R = U Λ^-½`` for the ``"eig"``
    core, ``L^-ᵀ`` for the Cholesky cores), i.e. the eigen-decomposition of
    ``K_mm^-½ K_mn K_nm K_mm^-½ / n``; then ``α = R B``.

    Parameters
    ----------
    kernel : Kernel or str
    X : ndarray of shape (n, d)
    k : int
        ℓ <= number of landmarks kept by the core.
    indices : int or 1-D index array
        An int m draws m distinct indices uniformly (``rng``); indices (e.g. from
        :func:`kernapprox.sample_landmarks`) select data points.
    points : ndarray of shape (m, d), optional
        Landmark points that need not be data points (e.g. k-means centres), instead of ``indices``.
    core : {"eig", "pinv", "shifted_cholesky", "ridge"}
        Root of the pseudo-inverse of K_mm (:func:`kernapprox._cores.psd_core`).
    rcond, lam : float, optional
        Passed to the core (``lam`` for ``"ridge"``).
    rng : None, int, Generator
    n_components, landmarks, gamma
        Deprecated aliases of ``k``, ``indices`` (or ``points`` for a 2-D array) and ``lam``.

    Returns
    -------
    KPCAResult
        ``eigenvalues`` μ, ``basis_points`` the kept landmarks, ``coef`` α; ``info`` has
        ``indices``, ``n_evals`` (n·m + m²) and the core policy.

    Notes
    -----
    With every data point as a landmark the landmark span contains all of Σ̂'s eigenfunctions, so
    Nyström KPCA equals exact KPCA (tested). Cost: O(n m² + m³) time, O(n m) memory, n·m + m²
    kernel evaluations.

    References
    ----------
    N. Sterge & B. K. Sriperumbudur, "Statistical optimality and computational efficiency of Nyström
    kernel PCA", JMLR 23(337), 2022 [S: abstract]; N. Sterge, B. Sriperumbudur, L. Rosasco &
    A. Rudi, "Gain with no pain: efficiency of kernel-PCA by Nyström sampling", AISTATS 2020 [S].
    Algorithm as in algorithms.md §5.1 [I/M].
    """
    func = "nystrom_kpca"
    k = _required_k(func, deprecated_alias(func, "n_components", n_components, "k", k))
    indices = deprecated_alias(func, "landmarks", landmarks, "indices", indices)
    lam_name = "lam" if gamma is None else "gamma"
    lam = deprecated_alias(func, "gamma", gamma, "lam", lam)
    kernel = check_kernel(kernel, func)
    X = check_points(X, func, "X", dtype=np.float64)
    check_choice(core, PSD_CORES, func, "core")
    rcond = check_rcond(rcond, func)
    if lam is not None:
        lam = check_positive(lam, func, lam_name)
    as_generator(rng, func)
    n = X.shape[0]
    Z, idx = _landmarks(indices, points, X, rng, func)
    m = Z.shape[0]
    k = check_int(k, func, "k", low=1, high=m)
    W = _block(kernel, Z, Z, func)
    Knm = _block(kernel, X, Z, func)
    pc = psd_core(W, core, rcond=rcond, lam=lam, func=func)
    F = pc.apply(Knm)                                   # (n, r)
    Cov = F.T @ F / n
    mu, B = np.linalg.eigh(0.5 * (Cov + Cov.T))
    mu, B = _top(mu, B, k, func, "the landmark covariance (too few independent landmarks)")
    # α = R B with R = L⁻ᵀ (Cholesky cores: a triangular solve, L⁻¹ never formed) or the dense R
    coef = sla.solve_triangular(pc.L, B, lower=True, trans="T") if pc.L is not None else pc.R @ B
    cols = np.asarray(pc.cols)
    info = {"n": n, "indices": None if idx is None else idx[cols], "n_landmarks": m, "core": core,
            "n_evals": n * m + m * m, "core_meta": dict(pc.meta)}
    return KPCAResult("nystrom", kernel, mu, Z[cols], coef, info=info)


def rff_kpca(kernel, X, k: int | None = None, n_features: int | None = None, *, kind: str = "rff", rng=None,
             feature_map=None, n_components: int | None = None, **options) -> KPCAResult:
    """Random-feature kernel PCA: PCA of ``z(x)`` with ``E[z(x)ᵀz(y)] = k(x, y)``.

    Parameters
    ----------
    kernel : Kernel or str
    X : ndarray of shape (n, d)
    k : int
        ℓ, the number of components.
    n_features : int
        m, the number of random draws passed to :func:`kernapprox.random_features`.
    n_components : int
        Deprecated alias of ``k``.
    kind : str
        Feature kind (``"rff"``, ``"orf"``, ``"rff_sincos"``, …; see ``random_features``).
    rng : None, int, Generator
    feature_map : object with ``transform(X)``, optional
        Use this feature map instead of drawing one (then ``n_features``/``kind`` are ignored).

    Returns
    -------
    KPCAResult
        ``transform`` gives the feature-space scores; ``reconstruction_error`` the error in H (or
        ``space="features"``).

    Notes
    -----
    The feature-space eigenvectors are lifted to H (needed for the reconstruction error in H):
    ``v_j ∝ Σ_i s_ij φ(x_i)`` with training scores ``s_j = Z b_j``, i.e. ``v_j = Σ̂ g_j/μ_j`` for the
    feature-space eigenfunction ``g_j = b_jᵀ z(·)``; the ℓ lifted vectors are orthonormalised in H.
    [I] our construction; it tends to exact KPCA as m → ∞.
    Cost: O(n m d) to transform, O(n D·min(n, D) + min(n, D)³) for the PCA (primal D×D or dual n×n
    eigenproblem, whichever is smaller); the lift costs n² kernel evaluations.

    References
    ----------
    B. Sriperumbudur & N. Sterge, "Approximate kernel PCA: computational versus statistical
    trade-off", Ann. Statist. 50(5), 2022 [S/M]; Rahimi & Recht 2007. algorithms.md §5.1, §9.3.
    """
    func = "rff_kpca"
    k = _required_k(func, deprecated_alias(func, "n_components", n_components, "k", k))
    kernel = check_kernel(kernel, func)
    X = check_points(X, func, "X", dtype=np.float64)
    n = X.shape[0]
    if feature_map is None:
        from .features import random_features
        n_features = check_int(n_features, func, "n_features", low=1)
        check_size_product(func, {"n_features": n_features, "n": n}, copies=2)   # the (n, n_features) features
        feature_map = random_features(kernel, X.shape[1], n_features,
                                      kind=kind, rng=rng, **options)
    elif not hasattr(feature_map, "transform"):
        raise fail(func, "feature_map", "have a transform(X) method", type(feature_map).__name__, TypeError)
    Zf = np.asarray(feature_map.transform(X), dtype=np.float64)
    if Zf.ndim != 2 or Zf.shape[0] != n:
        raise fail(func, "feature_map", f"map X to an array of shape ({n}, D)", f"shape {Zf.shape}")
    D = Zf.shape[1]
    k = check_int(k, func, "k", low=1, high=min(n, D))
    if D <= n:
        Cz = Zf.T @ Zf / n                        # primal: D×D feature covariance
        mu, Bz = np.linalg.eigh(0.5 * (Cz + Cz.T))
        mu, Bz = _top(mu, Bz, k, func, "the feature covariance")
    else:
        Gz = Zf @ Zf.T / n                        # dual: same nonzero spectrum, n×n
        mu, Uz = np.linalg.eigh(0.5 * (Gz + Gz.T))
        mu, Uz = _top(mu, Uz, k, func, "the feature covariance")
        Bz = Zf.T @ Uz / np.sqrt(n * mu)          # unit eigenvectors of ZᵀZ/n
    info = {"n": n, "n_features": D, "kind": kind, "n_evals": 0}
    S = Zf @ Bz                                   # training scores (n, ℓ)
    A = S / (n * mu)                              # v_j ∝ Σ_i A_ij φ(x_i)
    K = _block(kernel, X, X)
    G = A.T @ (K @ A)                             # Gram matrix of the lifted directions in H
    g, Vg = np.linalg.eigh(0.5 * (G + G.T))
    keep = g > COMPONENT_RCOND * max(float(g[-1]), 0.0)
    coef = A @ (Vg[:, keep] / np.sqrt(g[keep]))   # orthonormal basis of the lifted span
    info.update({"lifted": True, "n_evals": n * n})
    return KPCAResult("rff", kernel, mu, X, coef, feature_map, Bz, info=info)


def kpca(kernel, X, k: int | None = None, *, method: str = "nystrom", indices=None, points=None,
         n_features=None, rng=None, n_components: int | None = None, landmarks=None, **options) -> KPCAResult:
    """Dispatcher: ``method="exact" | "nystrom" (indices=... or points=...) | "rff" (n_features=...)``.

    ``n_components`` and ``landmarks`` are deprecated aliases of ``k`` and ``indices``; ``options``
    go to the method (``core``, ``rcond``, ``lam`` for Nyström; the feature options for rff)."""
    func = "kpca"
    k = _required_k(func, deprecated_alias(func, "n_components", n_components, "k", k))
    indices = deprecated_alias(func, "landmarks", landmarks, "indices", indices)
    check_choice(method, ("exact", "nystrom", "rff"), func, "method")
    gen = as_generator(rng, func)
    # every keyword is checked whichever method runs: one that the method does not use is refused
    # (method="rff" hands its options to random_features, which refuses unknown ones)
    if method != "rff":
        check_options(options, {"exact": (), "nystrom": ("core", "rcond", "lam", "gamma")}[method],
                      f"kpca(method={method!r})")
    # options of the other methods are validated too (a sweep may pass them all), never ignored unread
    if method != "nystrom" and (indices is not None or points is not None):
        n = check_points(X, func, "X").shape[0]
        if indices is not None and np.ndim(indices) == 0:
            check_int(indices, func, "indices", low=1, high=n)
        elif indices is not None and np.ndim(indices) == 1:
            check_indices(indices, n, func, "indices")
        else:
            check_points(indices if points is None else points, func, "points")
    if method != "rff" and n_features is not None:
        check_int(n_features, func, "n_features", low=1)
    rng = gen
    if method == "exact":
        return exact_kpca(kernel, X, k)
    if method == "nystrom":
        if indices is None and points is None:
            raise fail(func, "indices", "be given for method='nystrom' (or else `points`)", None)
        return nystrom_kpca(kernel, X, k, indices, points=points, rng=rng, **options)
    if n_features is None and options.get("feature_map") is None:
        raise fail(func, "n_features", "be given for method='rff'", None)
    return rff_kpca(kernel, X, k, n_features, rng=rng, **options)
