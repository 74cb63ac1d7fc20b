"""Kernel objects: small frozen parameter holders with one evaluation routine each.

``k(X, Y=None)`` returns the dense block ``K[i, j] = k(x_i, y_j)``, ``k.diag(X)`` its diagonal for
``Y = X``, and ``k.is_psd`` says whether the kernel is positive semi-definite on every point cloud.
float32 inputs give float32 blocks; anything else is computed in float64.

Notation (design.md §2): Gaussian ``exp(-||x-y||² / (2 bandwidth²))``; Exponential (the "softmax
kernel" SM of Skyformer Lemma 1) ``exp(x·y / temperature)``.

Blocks, diagonals and single entries all go through the same private ``_block`` routine, so a
kernel has exactly one implementation. Gaussian and Exponential blocks use the tiled numba fast
paths in :mod:`kernapprox._numba` when those are importable, and a plain numpy formula otherwise
(the numpy formula is also the reference the jitted code is tested against).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ._numba.reference import sqdist_numpy
from ._validation import check_choice, check_points, check_positive, check_same_dim, fail, working_dtype

__all__ = [
    "Kernel", "Gaussian", "Laplacian", "Matern", "Polynomial", "Linear", "Sigmoid", "Exponential",
    "get", "available", "sqdist_numpy",
]


def _dist_numpy(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    D = sqdist_numpy(X, Y)
    np.sqrt(D, out=D)
    return D


@dataclass(frozen=True)
class Kernel:
    """Base class. Subclasses implement ``_block(X, Y)`` on validated, same-dtype 2-D arrays."""

    name: ClassVar[str] = "kernel"
    is_psd: ClassVar[bool] = True
    is_shift_invariant: ClassVar[bool] = False

    # -- public, validated ---------------------------------------------------------------------
    def __call__(self, X, Y=None) -> np.ndarray:
        """Dense block K(X, Y) of shape (n, m); ``Y=None`` means ``Y = X``."""
        func = f"{type(self).__name__}"
        X = check_points(X, func, "X")
        if Y is None:
            return self._block(X, X)
        Y = check_points(Y, func, "Y")
        check_same_dim(X, Y, func)
        dt = working_dtype(X, Y)
        return self._block(X.astype(dt, copy=False), Y.astype(dt, copy=False))

    def diag(self, X) -> np.ndarray:
        """Diagonal ``k(x_i, x_i)`` of K(X, X), shape (n,), without forming the block."""
        X = check_points(X, f"{type(self).__name__}.diag", "X")
        return self._diag(X)

    def params(self) -> dict:
        """The kernel's parameters as a plain dict (for configs, provenance and the registry)."""
        return dataclasses.asdict(self)

    # -- private, unvalidated --------------------------------------------------------------------
    def _block(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _diag(self, X: np.ndarray) -> np.ndarray:
        """Generic diagonal: evaluate row by row in small tiles through ``_block``."""
        out = np.empty(X.shape[0], dtype=X.dtype)
        step = 256
        for s in range(0, X.shape[0], step):
            xs = X[s:s + step]
            out[s:s + step] = np.einsum("ii->i", self._block(xs, xs))
        return out


@dataclass(frozen=True)
class _ShiftInvariant(Kernel):
    is_shift_invariant: ClassVar[bool] = True
    bandwidth: float = 1.0

    def __post_init__(self):
        check_positive(self.bandwidth, type(self).__name__, "bandwidth")
        object.__setattr__(self, "bandwidth", float(self.bandwidth))

    def _diag(self, X: np.ndarray) -> np.ndarray:
        return np.ones(X.shape[0], dtype=X.dtype)


@dataclass(frozen=True)
class Gaussian(_ShiftInvariant):
    """Gaussian (RBF) kernel ``exp(-||x-y||² / (2 bandwidth²))``.

    Skyformer's kernel κ is ``Gaussian(bandwidth=1)`` applied to ``Q/p^{1/4}, K/p^{1/4}``
    (algorithms.md §2.1), equivalently ``Gaussian(bandwidth=p**0.25)`` on Q, K.
    Spectral density N(0, bandwidth⁻² I) (random Fourier features, algorithms.md §9.3).
    """

    name: ClassVar[str] = "gaussian"

    def _block(self, X, Y):
        from ._numba import gaussian_block
        return gaussian_block(X, Y, self.bandwidth)


@dataclass(frozen=True)
class Laplacian(_ShiftInvariant):
    """Laplacian kernel ``exp(-||x-y||₁ / bandwidth)`` (L1 distance, as scikit-learn's ``laplacian_kernel``
    with ``gamma = 1/bandwidth``). Spectral density: a product of Cauchy densities of scale 1/bandwidth.
    For the isotropic ``exp(-||x-y||₂/ℓ)`` use ``Matern(nu=0.5, bandwidth=ℓ)``.
    """

    name: ClassVar[str] = "laplacian"

    def _block(self, X, Y):
        from scipy.spatial.distance import cdist
        D = cdist(X, Y, "cityblock")
        D *= -1.0 / self.bandwidth
        np.exp(D, out=D)
        return D.astype(working_dtype(X, Y), copy=False)


_MATERN_NU = (0.5, 1.5, 2.5)


@dataclass(frozen=True)
class Matern(_ShiftInvariant):
    """Matérn kernel with ν ∈ {0.5, 1.5, 2.5} and length scale ``bandwidth`` ℓ (r = ||x-y||₂):

    * ν = 0.5: ``exp(-r/ℓ)``
    * ν = 1.5: ``(1 + √3 r/ℓ) exp(-√3 r/ℓ)``
    * ν = 2.5: ``(1 + √5 r/ℓ + 5r²/(3ℓ²)) exp(-√5 r/ℓ)``

    Same convention as scikit-learn's ``gaussian_process.kernels.Matern(length_scale=ℓ, nu=ν)``.
    Spectral density: multivariate Student-t with 2ν degrees of freedom, scale 1/ℓ.
    """

    name: ClassVar[str] = "matern"
    nu: float = 1.5

    def __post_init__(self):
        super().__post_init__()
        if self.nu not in _MATERN_NU:
            raise fail("Matern", "nu", "be one of 0.5, 1.5, 2.5", repr(self.nu))
        object.__setattr__(self, "nu", float(self.nu))

    def _block(self, X, Y):
        dt = working_dtype(X, Y)
        r = _dist_numpy(X.astype(np.float64), Y.astype(np.float64)) / self.bandwidth
        if self.nu == 0.5:
            K = np.exp(-r)
        elif self.nu == 1.5:
            s = np.sqrt(3.0) * r
            K = (1.0 + s) * np.exp(-s)
        else:
            s = np.sqrt(5.0) * r
            K = (1.0 + s + s * s / 3.0) * np.exp(-s)
        return K.astype(dt, copy=False)


@dataclass(frozen=True)
class Polynomial(Kernel):
    """Polynomial kernel ``(gamma x·y + coef0)^degree``; PSD for integer degree >= 1 and coef0 >= 0."""

    name: ClassVar[str] = "polynomial"
    degree: int = 3
    gamma: float = 1.0
    coef0: float = 1.0

    def __post_init__(self):
        if isinstance(self.degree, bool) or not float(self.degree).is_integer() or self.degree < 1:
            raise fail("Polynomial", "degree", "be an integer >= 1", repr(self.degree))
        object.__setattr__(self, "degree", int(self.degree))
        check_positive(self.gamma, "Polynomial", "gamma")
        check_positive(self.coef0, "Polynomial", "coef0", allow_zero=True)

    def _block(self, X, Y):
        G = X @ Y.T
        G *= self.gamma
        G += self.coef0
        return G ** self.degree

    def _diag(self, X):
        return (self.gamma * np.einsum("ij,ij->i", X, X) + self.coef0) ** self.degree


@dataclass(frozen=True)
class Linear(Kernel):
    """Linear kernel ``x·y``."""

    name: ClassVar[str] = "linear"

    def _block(self, X, Y):
        return X @ Y.T

    def _diag(self, X):
        return np.einsum("ij,ij->i", X, X)


@dataclass(frozen=True)
class Sigmoid(Kernel):
    """Sigmoid (tanh) kernel ``tanh(gamma x·y + coef0)``. Not PSD in general (``is_psd = False``):
    use the indefinite (``core="eig"``) Nyström forms, never the PSD-only cores."""

    name: ClassVar[str] = "sigmoid"
    is_psd: ClassVar[bool] = False
    gamma: float = 1.0
    coef0: float = 0.0

    def __post_init__(self):
        check_positive(self.gamma, "Sigmoid", "gamma")
        if not np.isfinite(self.coef0):
            raise fail("Sigmoid", "coef0", "be finite", self.coef0)

    def _block(self, X, Y):
        G = X @ Y.T
        G *= self.gamma
        G += self.coef0
        return np.tanh(G, out=G)

    def _diag(self, X):
        return np.tanh(self.gamma * np.einsum("ij,ij->i", X, X) + self.coef0)


@dataclass(frozen=True)
class Exponential(Kernel):
    """Exponential ("softmax") kernel ``exp(x·y / temperature)`` — SM of Skyformer Lemma 1, PSD.

    With ``temperature = sqrt(p)`` on raw Q, K this is the unnormalised attention score
    ``A = exp(QKᵀ/√p)``. Values overflow for large inner products: attention code works with
    shifted exponents (algorithms.md §2.8), not with this block directly.
    """

    name: ClassVar[str] = "exponential"
    temperature: float = 1.0

    def __post_init__(self):
        check_positive(self.temperature, "Exponential", "temperature")
        object.__setattr__(self, "temperature", float(self.temperature))

    def _block(self, X, Y):
        from ._numba import exponential_block
        return exponential_block(X, Y, self.temperature)

    def _diag(self, X):
        return np.exp(np.einsum("ij,ij->i", X, X) / self.temperature)


_REGISTRY: dict[str, type[Kernel]] = {
    cls.name: cls for cls in (Gaussian, Laplacian, Matern, Polynomial, Linear, Sigmoid, Exponential)
}
_ALIASES = {"rbf": "gaussian", "softmax": "exponential", "tanh": "sigmoid", "poly": "polynomial"}


def available() -> list[str]:
    """Names accepted by :func:`get` (aliases excluded)."""
    return sorted(_REGISTRY)


def get(name, **params) -> Kernel:
    """Build a kernel by name, e.g. ``get("gaussian", bandwidth=2)``; a Kernel passes through unchanged.

    Aliases: ``rbf`` → gaussian, ``softmax`` → exponential, ``tanh`` → sigmoid, ``poly`` → polynomial.
    """
    if isinstance(name, Kernel):
        if params:
            return dataclasses.replace(name, **params)
        return name
    if not isinstance(name, str):
        raise fail("kernels.get", "name", "be a kernel name or a Kernel", repr(name), TypeError)
    key = _ALIASES.get(name.lower(), name.lower())
    check_choice(key, available(), "kernels.get", "name")
    try:
        return _REGISTRY[key](**params)
    except TypeError as exc:
        fields = [f.name for f in dataclasses.fields(_REGISTRY[key])]
        raise TypeError(f"kernels.get: kernel {key!r} takes parameters {fields}; got {sorted(params)}") from exc
