"""Kernel objects: small frozen parameter holders with one evaluation routine each.

``k(X, Y=None)`` returns the dense block ``K[i, j] = k(x_i, y_j)``, ``k.diag(X)`` its diagonal for
``Y = X``, and ``k.is_psd`` says whether the kernel is positive semi-definite on every point cloud.
float32 inputs give float32 blocks; anything else is computed in float64.

Notation (design.md §2): Gaussian ``exp(-||x-y||² / (2 bandwidth²))``; Exponential (the "softmax
kernel" SM of Skyformer Lemma 1) ``exp(x·y / temperature)``.

Each kernel has one scalar formula — a function of the inner product ``x·y`` or of the distance — that
both fast-path routines apply: ``block(X, Y)`` (all pairs) and ``pairs(X, Y)`` (row-wise ``k(x_i, y_i)``,
which gives ``diag``). Gaussian and Exponential blocks use the tiled numba fast paths of
:mod:`kernapprox._numba` for large blocks and the same formula in plain numpy otherwise. Laplacian and
Matérn blocks use direct differences (``scipy.spatial.distance.cdist``).

Scale and translation: distance-based kernels are exact under translation and finite at every finite
input scale, in float32 and float64. Gaussian blocks centre both point sets by one shift, scale them by
one power of two and recompute by direct differences every entry whose GEMM-expansion error bound is
not at rounding level (:func:`kernapprox._numba.gaussian_block`); row-wise pairs (``diag``, entries) and
the Matérn near-diagonal entries use the overflow-free direct distance of
:func:`kernapprox._numba.reference.direct_scaled_distance_numpy`. Bandwidths and temperatures must lie in
``[2^-500, 2^500]`` (about 3.1e-151 to 3.3e150), where the exponent coefficients ``1/(2h²)``, ``1/h`` and
``1/T`` and their scaled forms are representable; anything else is a ValueError naming the parameter.
"""
from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ._numba import distance_frame, frame_points
from ._numba.reference import direct_scaled_distance_numpy
from ._validation import (INT64_MAX, all_finite, check_choice, check_points, check_positive, check_same_dim, fail,
                          pow2_exponent, working_dtype)

#: Smallest and largest bandwidth / temperature accepted (powers of two: 2^-500 and 2^500).
SCALE_MIN = 2.0 ** -500
SCALE_MAX = 2.0 ** 500


def _check_scale(value, func: str, name: str) -> float:
    """A length scale (bandwidth, temperature): a real number in [SCALE_MIN, SCALE_MAX]."""
    v = check_positive(value, func, name)
    if not SCALE_MIN <= v <= SCALE_MAX:
        raise fail(func, name, "lie in [2^-500, 2^500] (about 3.05e-151 to 3.27e150), the range where the "
                   "kernel's coefficients are representable in float64", repr(v))
    return v

__all__ = [
    "Kernel", "Gaussian", "Laplacian", "Matern", "Polynomial", "Linear", "Sigmoid", "Exponential",
    "get", "available",
]


@dataclass(frozen=True)
class Kernel:
    """Base class of the kernels.

    Two layers, as scipy's ``LinearOperator.matvec`` / ``_matvec``: ``__call__`` and ``diag`` validate
    their input; ``block``, ``block_into``, ``pairs`` and ``diag_of`` are the unvalidated fast path
    that the rest of the package calls on arrays it has already checked (2-D, finite, one float
    dtype, same number of columns). Subclasses implement ``block`` and ``pairs``.
    """

    name: ClassVar[str] = "kernel"
    is_psd: ClassVar[bool] = True
    is_shift_invariant: ClassVar[bool] = False
    #: The fused formula of :mod:`kernapprox._numba` that computes this kernel's blocks and streamed
    #: products (``"gaussian"``: parameter ``bandwidth``; ``"exponential"``: ``temperature``), or None.
    fused: ClassVar[str | None] = None

    # -- public, validated ---------------------------------------------------------------------
    def __call__(self, X, Y=None) -> np.ndarray:
        """Dense block ``K[i, j] = k(x_i, y_j)``.

        Parameters
        ----------
        X : array_like of shape (n, d)
        Y : array_like of shape (m, d), optional
            ``None`` means ``Y = X`` (the symmetric matrix; Gaussian and exponential blocks then compute
            the upper triangle only and mirror it, so the result is exactly symmetric).

        Returns
        -------
        ndarray of shape (n, m)
            float32 when X (and Y) are float32, else float64.

        Notes
        -----
        Time O(n m d), memory: the output only (Gaussian and exponential blocks are tiled; see
        :mod:`kernapprox._numba`). Kernel entries evaluated: n·m.
        """
        func = f"{type(self).__name__}"
        X = check_points(X, func, "X")
        if Y is None:
            return self.block(X, X)
        Y = check_points(Y, func, "Y")
        check_same_dim(X, Y, func)
        dt = working_dtype(X, Y)
        return self.block(X.astype(dt, copy=False), Y.astype(dt, copy=False))

    def diag(self, X) -> np.ndarray:
        """Diagonal ``k(x_i, x_i)`` of K(X, X), shape (n,), in O(n d) without forming the block.

        Equal to ``np.diag(k(X))`` (exactly for shift-invariant kernels, whose diagonal is 1).
        """
        X = check_points(X, f"{type(self).__name__}.diag", "X")
        return self.diag_of(X)

    def params(self) -> dict:
        """The kernel's parameters as a plain dict (for configs, provenance and the registry)."""
        return dataclasses.asdict(self)

    # -- unvalidated fast path (inputs already checked by the caller) --------------------------------
    def block(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Dense block ``K(X, Y)`` of validated, same-dtype 2-D arrays (dtype of X)."""
        raise NotImplementedError

    def block_into(self, X: np.ndarray, Y: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out[...] = K(X, Y)`` (``out`` C-contiguous, shape (n, m), dtype of X); returns ``out``.

        Lets tiled callers reuse one buffer (or write straight into their result rows); the Gaussian and
        exponential kernels write into ``out`` without a temporary, the others copy their block.
        """
        out[...] = self.block(X, Y)
        return out

    def diag_of(self, X: np.ndarray) -> np.ndarray:
        """Diagonal ``k(x_i, x_i)``: the pairwise routine with Y = X."""
        return self.pairs(X, X)

    def pairs(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Row-wise values ``k(x_i, y_i)``, shape (n,), for X, Y of the same shape (no n×n work).

        Generic fallback (small diagonal blocks); every concrete kernel overrides it with the same
        scalar formula its ``block`` uses.
        """
        dt = working_dtype(X, Y)
        out = np.empty(X.shape[0], dtype=dt)
        step = 256
        for s in range(0, X.shape[0], step):
            out[s:s + step] = np.einsum("ii->i", self.block(X[s:s + step], Y[s:s + step]))
        return out


def _rowdot(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``x_i · y_i`` for every row, in the working dtype of X and Y."""
    dt = working_dtype(X, Y)
    return np.einsum("ij,ij->i", X.astype(dt, copy=False), Y.astype(dt, copy=False))


def _row_distance_over(X: np.ndarray, Y: np.ndarray, h: float, p: int = 2) -> np.ndarray:
    """``||x_i - y_i||_p / h`` for every row, by direct differences, float64, overflow-free (inf only where
    the ratio exceeds the float64 range)."""
    s, R = direct_scaled_distance_numpy(X, Y, h, p)
    with np.errstate(over="ignore", invalid="ignore"):
        r = (np.sqrt(s) if p == 2 else s) * R
    r[s == 0] = 0.0
    return r


@dataclass(frozen=True)
class _ShiftInvariant(Kernel):
    is_shift_invariant: ClassVar[bool] = True
    bandwidth: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "bandwidth", _check_scale(self.bandwidth, type(self).__name__, "bandwidth"))

    def diag_of(self, X: np.ndarray) -> np.ndarray:
        return np.ones(X.shape[0], dtype=X.dtype)


@dataclass(frozen=True)
class Gaussian(_ShiftInvariant):
    """Gaussian (RBF) kernel ``exp(-||x-y||² / (2 bandwidth²))``.

    Skyformer's kernel κ is ``Gaussian(bandwidth=1)`` applied to ``Q/p^{1/4}, K/p^{1/4}``
    (algorithms.md §2.1), equivalently ``Gaussian(bandwidth=p**0.25)`` on Q, K.
    Spectral density N(0, bandwidth⁻² I) (random Fourier features, algorithms.md §9.3).
    """

    name: ClassVar[str] = "gaussian"
    fused: ClassVar[str | None] = "gaussian"

    def block(self, X, Y):
        from ._numba import gaussian_block
        return gaussian_block(X, Y, self.bandwidth)

    def block_into(self, X, Y, out):
        from ._numba import gaussian_block
        return gaussian_block(X, Y, self.bandwidth, out=out)

    def pairs(self, X, Y):
        s, R = direct_scaled_distance_numpy(X, Y, self.bandwidth)
        with np.errstate(over="ignore", invalid="ignore"):
            t = -0.5 * s * (R * R)
        t[s == 0] = 0.0
        return np.exp(t).astype(working_dtype(X, Y), copy=False)


@dataclass(frozen=True)
class Laplacian(_ShiftInvariant):
    """Laplacian kernel ``exp(-||x-y||₁ / bandwidth)`` (L1 distance, as scikit-learn's ``laplacian_kernel``
    with ``gamma = 1/bandwidth``). Spectral density: a product of Cauchy densities of scale 1/bandwidth.
    For the isotropic ``exp(-||x-y||₂/ℓ)`` use ``Matern(nu=0.5, bandwidth=ℓ)``.
    """

    name: ClassVar[str] = "laplacian"

    def block(self, X, Y):
        # direct differences: translation exact; the L1 sum overflows only where the value is exactly 0
        from scipy.spatial.distance import cdist
        D = cdist(X.astype(np.float64, copy=False), Y.astype(np.float64, copy=False), "cityblock")
        D *= -1.0 / self.bandwidth
        np.exp(D, out=D)
        return D.astype(working_dtype(X, Y), copy=False)

    def pairs(self, X, Y):
        return np.exp(-_row_distance_over(X, Y, self.bandwidth, 1)).astype(working_dtype(X, Y), copy=False)


_MATERN_NU = (0.5, 1.5, 2.5)


@dataclass(frozen=True)
class Matern(Kernel):
    """Matérn kernel with ν ∈ {0.5, 1.5, 2.5} and length scale ``bandwidth`` ℓ (r = ||x-y||₂):

    * ν = 0.5: ``exp(-r/ℓ)``
    * ν = 1.5: ``(1 + √3 r/ℓ) exp(-√3 r/ℓ)``
    * ν = 2.5: ``(1 + √5 r/ℓ + 5r²/(3ℓ²)) exp(-√5 r/ℓ)``

    Same convention as scikit-learn's ``gaussian_process.kernels.Matern(length_scale=ℓ, nu=ν)``.
    Spectral density: multivariate Student-t with 2ν degrees of freedom, scale 1/ℓ.
    """

    name: ClassVar[str] = "matern"
    is_shift_invariant: ClassVar[bool] = True
    nu: float = 1.5          # fields in the documented order Matern(nu, bandwidth)
    bandwidth: float = 1.0

    def __post_init__(self):
        if isinstance(self.nu, bool) or self.nu not in _MATERN_NU:
            raise fail("Matern", "nu", "be one of 0.5, 1.5, 2.5", repr(self.nu))
        object.__setattr__(self, "nu", float(self.nu))
        object.__setattr__(self, "bandwidth", _check_scale(self.bandwidth, "Matern", "bandwidth"))

    def diag_of(self, X: np.ndarray) -> np.ndarray:
        return np.ones(X.shape[0], dtype=X.dtype)

    def _from_ratio(self, r: np.ndarray) -> np.ndarray:
        """The Matérn profile as a function of r = ||x - y||₂ / ℓ (float64, in place where possible).

        Ratios above 1000 (value 0 in float64 for every ν, also for r = inf) are clipped there, so the
        polynomial factor never meets an inf (no inf·0 = NaN)."""
        np.minimum(r, 1000.0, out=r)
        if self.nu == 0.5:
            return np.exp(-r, out=r)
        if self.nu == 1.5:
            s = r
            s *= np.sqrt(3.0)
            return (1.0 + s) * np.exp(-s)
        s = r
        s *= np.sqrt(5.0)
        return (1.0 + s + s * s / 3.0) * np.exp(-s)

    def block(self, X, Y):
        # direct differences (cdist), not the GEMM expansion: for ν = 0.5 the profile has a kink at
        # r = 0, so sqrt of the expansion's rounding noise (~√eps) would show up in the values.
        # The points are scaled by one power of two 2^-e (exact) so squares neither overflow nor
        # underflow; r/ℓ = ldexp(r_s/ℓm, e - eℓ) with ℓ = ℓm 2^eℓ. Entries whose scaled distance is below
        # 2^-400 (coincident or nearly coincident points: squares of such differences lose bits) are
        # recomputed by the direct row-wise distance.
        from scipy.spatial.distance import cdist
        same = X is Y
        X64 = X.astype(np.float64, copy=False)
        Y64 = X64 if same else Y.astype(np.float64, copy=False)
        _, e = distance_frame(X64, Y64, same, centre=False)
        Z = frame_points(X64, None, e, np.dtype(np.float64))
        r = cdist(Z, Z if same else frame_points(Y64, None, e, np.dtype(np.float64)), "euclidean")
        I, J = np.nonzero(r < 2.0 ** -400)
        hm, eh = np.frexp(self.bandwidth)
        r *= 1.0 / hm
        with np.errstate(over="ignore", under="ignore"):
            np.ldexp(r, int(e - eh), out=r)
        if I.size:
            r[I, J] = _row_distance_over(X64[I], Y64[J], self.bandwidth)
        return self._from_ratio(r).astype(working_dtype(X, Y), copy=False)

    def pairs(self, X, Y):
        return self._from_ratio(_row_distance_over(X, Y, self.bandwidth)).astype(working_dtype(X, Y), copy=False)


def _int_power(G: np.ndarray, p: int) -> np.ndarray:
    """``G ** p`` for an integer p >= 1 by binary powering (in-place multiplies: faster than ``pow`` and
    at most 2 log2(p) roundings); consumes G."""
    if p == 1:
        return G
    result = None
    base = G
    while True:
        if p & 1:
            result = base.copy() if result is None else np.multiply(result, base, out=result)
        p >>= 1
        if not p:
            return result
        base = np.multiply(base, base, out=base)


def _scaled_dot(G: np.ndarray, X: np.ndarray, Y: np.ndarray, pairs: bool) -> np.ndarray:
    """``X Yᵀ`` (or the row-wise ``x_i·y_i``) given its plain evaluation ``G``: where ``G`` holds an inf
    or a NaN (an intermediate sum overflowed), recomputed on the power-of-two scaled points
    ``2^-a X``, ``2^-b Y`` (exact scalings; every partial sum finite) and scaled back by ``2^(a+b)``,
    so an entry is ±inf only when its true value lies beyond the dtype's range."""
    if all_finite(G):
        return G
    a, b = pow2_exponent(X), pow2_exponent(Y)
    Xs, Ys = np.ldexp(X, -a).astype(X.dtype, copy=False), np.ldexp(Y, -b).astype(Y.dtype, copy=False)
    Gs = np.einsum("ij,ij->i", Xs, Ys) if pairs else Xs @ Ys.T
    with np.errstate(over="ignore"):
        return np.ldexp(Gs, a + b).astype(G.dtype, copy=False)


def _dot(X, Y, pairs: bool) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        G = _rowdot(X, Y) if pairs else X @ Y.T
    return _scaled_dot(G, X, Y, pairs)


def _require_finite(K: np.ndarray, func: str, constraint: str, *, hint: str = "scale the points down") -> np.ndarray:
    """Refuse (naming ``X``) a block whose true entries lie beyond the dtype's range:
    ``func: `X` must <constraint> within the <dtype> range (<hint>); got <count> overflowing entries``."""
    if all_finite(K):
        return K
    bad = int(np.size(K) - np.count_nonzero(np.isfinite(K)))
    raise fail(func, "X", f"{constraint} within the {K.dtype} range ({hint})", f"{bad} overflowing entries")


@dataclass(frozen=True)
class Polynomial(Kernel):
    """Polynomial kernel ``(gamma x·y + coef0)^degree``; PSD for integer degree >= 1 and coef0 >= 0.

    A block whose true entries overflow the dtype (large points or a large degree) is refused with a
    ValueError naming ``X`` (and the degree); the inner products are overflow-free (power-of-two scaled
    where a plain sum overflows)."""

    name: ClassVar[str] = "polynomial"
    degree: int = 3
    gamma: float = 1.0
    coef0: float = 1.0

    def __post_init__(self):
        deg = self.degree
        if isinstance(deg, bool) or not isinstance(deg, numbers.Real) or (
                not isinstance(deg, numbers.Integral) and not (np.isfinite(deg) and float(deg).is_integer())) \
                or deg < 1 or deg > INT64_MAX:
            raise fail("Polynomial", "degree", "be an integer >= 1", repr(deg))
        object.__setattr__(self, "degree", int(deg))
        object.__setattr__(self, "gamma", check_positive(self.gamma, "Polynomial", "gamma"))
        object.__setattr__(self, "coef0", check_positive(self.coef0, "Polynomial", "coef0", allow_zero=True))

    def _from_dot(self, G):
        with np.errstate(over="ignore", invalid="ignore"):
            G *= self.gamma
            G += self.coef0
            K = _int_power(G, self.degree)
        return _require_finite(K, "Polynomial", f"keep (gamma x·y + coef0) ** degree (degree = {self.degree})")

    def block(self, X, Y):
        return self._from_dot(_dot(X, Y, False))

    def pairs(self, X, Y):
        return self._from_dot(_dot(X, Y, True))


@dataclass(frozen=True)
class Linear(Kernel):
    """Linear kernel ``x·y``."""

    name: ClassVar[str] = "linear"

    def block(self, X, Y):
        return _require_finite(_dot(X, Y, False), "Linear", "keep every x·y")

    def pairs(self, X, Y):
        return _require_finite(_dot(X, Y, True), "Linear", "keep every x·y")


@dataclass(frozen=True)
class Sigmoid(Kernel):
    """Sigmoid (tanh) kernel ``tanh(gamma x·y + coef0)``. Not PSD in general (``is_psd = False``):
    use the indefinite (``core="signed_eig"``) Nyström forms, never the PSD-only cores."""

    name: ClassVar[str] = "sigmoid"
    is_psd: ClassVar[bool] = False
    gamma: float = 1.0
    coef0: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "gamma", check_positive(self.gamma, "Sigmoid", "gamma"))
        c = self.coef0
        if isinstance(c, bool) or not isinstance(c, numbers.Real):
            raise fail("Sigmoid", "coef0", "be a real number", repr(c), TypeError)
        if not np.isfinite(c):
            raise fail("Sigmoid", "coef0", "be finite", repr(c))
        object.__setattr__(self, "coef0", float(c))

    def _from_dot(self, G):
        # an overflowing gamma·x·y is ±inf, whose tanh (±1) is the value to working precision
        with np.errstate(over="ignore"):
            G *= self.gamma
            G += self.coef0
        return np.tanh(G, out=G)

    def block(self, X, Y):
        return self._from_dot(_dot(X, Y, False))

    def pairs(self, X, Y):
        return self._from_dot(_dot(X, Y, True))


@dataclass(frozen=True)
class Exponential(Kernel):
    """Exponential ("softmax") kernel ``exp(x·y / temperature)`` — SM of Skyformer Lemma 1, PSD.

    With ``temperature = sqrt(p)`` on raw Q, K this is the unnormalised attention score
    ``A = exp(QKᵀ/√p)``. Values overflow for large inner products: attention code works with
    shifted exponents (algorithms.md §2.8), not with this block directly.
    """

    name: ClassVar[str] = "exponential"
    fused: ClassVar[str | None] = "exponential"
    temperature: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "temperature", _check_scale(self.temperature, "Exponential", "temperature"))

    def __call__(self, X, Y=None) -> np.ndarray:
        """Dense block ``K[i, j] = exp(x_i·y_j / temperature)`` (see :meth:`Kernel.__call__`).

        Raises ValueError naming X when an entry exceeds the dtype's range (exp overflows): the block is
        then not representable (attention code works with shifted exponents instead), and when
        ``max‖x‖ max‖y‖ / T`` is so large that the rounding of the inner products alone (``(d + 2) u ‖x‖‖y‖``)
        can move an exponent by more than 0.5. The checks are a Cauchy–Schwarz bound (O((n + m) d)) and,
        only when that bound exceeds the range, one pass over the result.
        """
        K = super().__call__(X, Y)
        bound = self._log_bound(X, Y)
        if bound < np.log(np.finfo(K.dtype).max):
            return K
        gam = (np.shape(X)[1] + 2) * np.finfo(K.dtype).eps / 2
        if bound * gam > 0.5:
            raise fail("Exponential", "X", f"keep max‖x‖·max‖y‖ / temperature <= {0.5 / gam:.3g} (beyond it the "
                       f"rounding of x·y in {K.dtype} alone can change exp(x·y / temperature) by a factor > e^0.5)",
                       f"{bound:.3g}" if np.isfinite(bound) else "a bound above 1.8e308")
        return self._exp_in_range(K, "Exponential")

    def diag(self, X) -> np.ndarray:
        """Diagonal ``exp(||x_i||² / temperature)``; ValueError naming X where it overflows."""
        return self._exp_in_range(super().diag(X), "Exponential.diag")

    def _log_bound(self, X, Y) -> float:
        """Upper bound of ``x·y / T`` over all pairs (Cauchy–Schwarz): float64 squared row norms of the
        points as they are when their largest entry is within 2^±400 (no copy), else of the points
        scaled by one power of two (no overflow at any scale)."""
        f64 = np.dtype(np.float64)
        same = Y is None or Y is X
        X = np.asarray(X)
        X = X if X.dtype in (np.float32, np.float64) else X.astype(f64)
        Y = X if same else np.asarray(Y)
        Y = Y if Y.dtype in (np.float32, np.float64) else Y.astype(f64)
        _, e = distance_frame(X, Y, same, centre=False)
        if abs(e) < 400:
            nx = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=f64).max(initial=0.0))
            ny = nx if same else np.sqrt(np.einsum("ij,ij->i", Y, Y, dtype=f64).max(initial=0.0))
            with np.errstate(over="ignore"):
                return float(nx * ny / self.temperature) * (1 + 1e-6)
        X = X.astype(f64, copy=False)
        Y = X if same else Y.astype(f64, copy=False)
        Z = frame_points(X, None, e, f64)
        nx = np.sqrt(np.einsum("ij,ij->i", Z, Z).max())
        if Y is not X:
            Z = frame_points(Y, None, e, f64)
        ny = nx if Y is X else np.sqrt(np.einsum("ij,ij->i", Z, Z).max())
        with np.errstate(over="ignore"):
            return float(nx * ny * np.ldexp(1.0 / self.temperature, 2 * e)) * (1 + 1e-6)

    @staticmethod
    def _exp_in_range(K, func):
        """``K`` itself when no entry overflowed: x·y / T <= log(max of the dtype) for every pair."""
        lim = float(np.log(np.finfo(K.dtype).max))
        return _require_finite(K, func, f"keep x·y / temperature <= {lim:.2f} for every pair, so that "
                               "exp(x·y / temperature) stays", hint="scale the points or raise the temperature")

    def block(self, X, Y):
        from ._numba import exponential_block
        return exponential_block(X, Y, self.temperature)

    def block_into(self, X, Y, out):
        from ._numba import exponential_block
        return exponential_block(X, Y, self.temperature, out=out)

    def pairs(self, X, Y):
        # x·x / T by scaled inner products: 2^-e x (exact) keeps the row sums finite at every scale
        f64 = np.dtype(np.float64)
        X64 = X.astype(f64, copy=False)
        Y64 = X64 if X is Y else Y.astype(f64, copy=False)
        _, e = distance_frame(X64, Y64, X is Y, centre=False)
        Z = frame_points(X64, None, e, f64)
        G = np.einsum("ij,ij->i", Z, Z if X is Y else frame_points(Y64, None, e, f64))
        with np.errstate(over="ignore"):
            G *= np.ldexp(1.0 / self.temperature, 2 * e)
            return np.exp(G, out=G).astype(working_dtype(X, Y), copy=False)


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
