"""Random feature maps: ``Z = fm.transform(X)`` with ``Z Zᵀ ≈ K(X, X)`` (or ``Z_q Z_kᵀ ≈ SM(Q, K)``).

One entry point, :func:`random_features`, draws the random parameters for a kernel and returns a
feature-map object; every map can also be built from given parameters (so an oracle or a GPU
implementation can reuse exactly the same draw), and exposes the drawn arrays as attributes:

===============  =====================================  ==========================================
kind             kernels                                 map (x̃ = scaled input, see each class)
===============  =====================================  ==========================================
"rff"            Gaussian, Laplacian, Matern             √(2/m) cos(ωᵀx + b), b ~ U[0, 2π)
"rff_sincos"     Gaussian, Laplacian, Matern             √(1/m) [cos ωᵀx, sin ωᵀx]  (2m outputs)
"orf"            Gaussian, Matern (isotropic)            "rff" with block-orthogonal ω
"sorf"           Gaussian                                "rff" with ω = (√D/σ) H D₁ H D₂ H D₃
"qmc"            Gaussian, Laplacian, Matern             "rff" with ω = F⁻¹(Sobol / Halton points)
"positive"       Exponential, Gaussian                   FAVOR+ exp(ωᵀx̃ − c‖x̃‖²)/√m
"hyperbolic"     Exponential, Gaussian                   exp(−c‖x̃‖²)/√(2m) [exp(ωᵀx̃), exp(−ωᵀx̃)]
"trig"           Exponential, Gaussian                   exp((1−c)‖x̃‖²)/√m [cos ωᵀx̃, sin ωᵀx̃]
"tensorsketch"   Polynomial                              FFT of p CountSketches (Pham & Pagh 2013)
===============  =====================================  ==========================================

``m`` is always the number of random draws (frequencies ω, or the sketch width for TensorSketch);
``fm.n_features`` is the output width (2m for the paired kinds). Frequencies come from the kernel's
spectral density: Gaussian N(0, σ⁻² I); Laplacian (L1) i.i.d. Cauchy(0, 1/σ); Matérn ν: multivariate
Student-t with 2ν degrees of freedom and scale 1/ℓ.

References
----------
Rahimi & Recht, "Random features for large-scale kernel machines", NeurIPS 2007 (Claim 1, Eq. (2)).
Sutherland & Schneider, "On the error of random Fourier features", UAI 2015 (paired sin/cos).
Yu, Suresh, Choromanski, Holtmann-Rice, Kumar, "Orthogonal random features", NeurIPS 2016 (ORF Thm 1, SORF §4).
Avron, Sindhwani, Yang, Mahoney, "Quasi-Monte Carlo feature maps", JMLR 2016.
Choromanski et al., "Rethinking attention with Performers", ICLR 2021 (Lemma 1 positive / hyperbolic
features, Thm 2 orthogonal features). Pham & Pagh, "Fast and scalable polynomial kernels via explicit
feature maps", KDD 2013 (TensorSketch). algorithms.md §9.2, §9.3.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import special

from . import kernels as _kernels
from ._numba.fwht import cos_phase_inplace, next_pow2, sorf_project
from ._random import rademacher
from ._tiling import TILE_BYTES, tile_rows
from ._validation import (as_generator, check_choice, check_int, check_kernel, check_matrix, check_points,
                          check_size_product, fail)

__all__ = [
    "random_features", "FeatureMap", "FourierFeatures", "SORFFeatures", "SoftmaxFeatures",
    "TensorSketchFeatures", "draw_frequencies", "draw_orthogonal", "KINDS",
]

KINDS = ("rff", "rff_sincos", "orf", "sorf", "qmc", "positive", "hyperbolic", "trig", "tensorsketch")

#: a row tile of features is a quarter of the package budget :data:`kernapprox._tiling.TILE_BYTES`
#: (2 MiB: the projection of a tile is finished while it sits in cache)
FEATURE_TILE_FRACTION = 4
#: QMC points are kept inside [QMC_CLIP, 1 − QMC_CLIP] before the inverse CDF (a point exactly at 0
#: or 1 maps to ±inf); the probability of a scrambled point that close to the boundary is negligible.
QMC_CLIP = float(np.finfo(np.float64).eps)

_SHIFT_INV = (_kernels.Gaussian, _kernels.Laplacian, _kernels.Matern)
_ISOTROPIC = (_kernels.Gaussian, _kernels.Matern)
_SOFTMAX_OK = (_kernels.Exponential, _kernels.Gaussian)


def _tile_rows(width: int, itemsize: int) -> int:
    return tile_rows(width, itemsize, budget=TILE_BYTES // FEATURE_TILE_FRACTION)


# ------------------------------------------------------------------------------------------------
# base class
# ------------------------------------------------------------------------------------------------
class FeatureMap:
    """Base class: ``transform(X) -> Z`` of shape (n, n_features); ``Z_x Z_yᵀ`` estimates the kernel.

    Attributes common to all maps: ``kernel``, ``kind``, ``d_in``, ``m`` (number of random draws),
    ``n_features`` (output width), ``iid`` (True when the draws are independent, so the features are
    an average of i.i.d. rank-one terms and :func:`kernapprox.bootstrap_error_quantile` applies) and
    ``draw_index`` (n_features,): the draw each output column belongs to.
    """

    kind: str = ""
    iid: bool = True

    def __init__(self, kernel, d_in: int, m: int, n_features: int):
        self.kernel = kernel
        self.d_in = int(d_in)
        self.m = int(m)
        self.n_features = int(n_features)

    @property
    def draw_index(self) -> np.ndarray:
        return np.arange(self.n_features) % self.m

    #: names of the attributes holding the drawn randomness (see :meth:`parameters`)
    _param_names: tuple = ()

    def parameters(self) -> dict:
        """The drawn arrays by name (e.g. ``{"omega": ..., "phase": ...}``), to export to an oracle or a
        GPU implementation; the map's class rebuilds the same map from them."""
        return {k: getattr(self, k) for k in self._param_names if getattr(self, k) is not None}

    def _check_X(self, X, func: str) -> np.ndarray:
        X = check_points(X, func, "X")
        if X.shape[1] != self.d_in:
            raise fail(func, "X", f"have d_in = {self.d_in} columns", f"X.shape={X.shape}")
        return X

    def transform(self, X) -> np.ndarray:
        """Features of the rows of X.

        Parameters
        ----------
        X : ndarray of shape (n, d_in); float32 stays float32, anything else is float64.

        Returns
        -------
        Z : ndarray of shape (n, n_features)
        """
        X = self._check_X(X, f"{type(self).__name__}.transform")
        return self._transform(X)

    __call__ = transform

    def kernel_estimate(self, X, Y=None) -> np.ndarray:
        """Dense estimate ``Z(X) Z(Y)ᵀ`` of the kernel block (small inputs only; for tests and plots)."""
        Zx = self.transform(X)
        Zy = Zx if Y is None else self.transform(Y)
        return Zx @ Zy.T

    def _transform(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(kind={self.kind!r}, kernel={self.kernel!r}, d_in={self.d_in}, "
                f"m={self.m}, n_features={self.n_features})")


# ------------------------------------------------------------------------------------------------
# Fourier features (rff, rff_sincos, orf, qmc)
# ------------------------------------------------------------------------------------------------
class FourierFeatures(FeatureMap):
    """Random Fourier features ``√(2/m) cos(X ωᵀ + b)`` or paired ``√(1/m) [cos X ωᵀ, sin X ωᵀ]``.

    Parameters
    ----------
    omega : ndarray of shape (m, d_in)
        Frequencies, one per row (drawn from the spectral density of ``kernel``).
    phase : ndarray of shape (m,), optional
        Phases b ∈ [0, 2π). ``None`` gives the paired sin/cos map with 2m outputs.
    kernel : Kernel, optional
        The kernel the frequencies were drawn for (informative only).
    kind : str
        Label ("rff", "rff_sincos", "orf", "qmc"); ``iid`` is False for "orf" and "qmc".

    Notes
    -----
    ``transform`` costs O(n m d_in) for one GEMM written straight into the output plus O(n m)
    cosines computed in place (float64: the vectorised polynomial of :mod:`kernapprox._numba.fwht`,
    ≤ 2 ulp from ``numpy.cos``, range check replaced by the bound max‖x‖·max‖ω‖ + 2π). Memory: the
    (n, n_features) output (+ a row tile of about ``TILE_BYTES / 4`` for the paired map).

    References
    ----------
    Rahimi & Recht 2007, Eq. (2) and Claim 1; Sutherland & Schneider 2015 (paired map, Prop. 1).
    """

    _param_names = ("omega", "phase")

    def __init__(self, omega, phase=None, *, kernel=None, kind: str | None = None):
        func = "FourierFeatures"
        omega = check_matrix(omega, func, "omega", ndim=2, dtype=np.float64)
        m, d_in = omega.shape
        if phase is not None:
            phase = check_matrix(phase, func, "phase", ndim=1, dtype=np.float64)
            if phase.shape[0] != m:
                raise fail(func, "phase", f"have one entry per frequency (m = {m})", f"shape {phase.shape}")
        self.omega = np.ascontiguousarray(omega)
        self.phase = None if phase is None else np.ascontiguousarray(phase)
        self.paired = phase is None
        self.kind = kind or ("rff_sincos" if self.paired else "rff")
        self.iid = self.kind not in ("orf", "qmc")
        super().__init__(kernel, d_in, m, 2 * m if self.paired else m)
        self._omega_t = {np.dtype(np.float64): np.ascontiguousarray(self.omega.T)}
        self._omega_norm = float(np.sqrt(np.einsum("ij,ij->i", self.omega, self.omega).max()))

    def _wt(self, dt) -> np.ndarray:
        dt = np.dtype(dt)
        if dt not in self._omega_t:
            self._omega_t[dt] = np.ascontiguousarray(self.omega.T.astype(dt))
        return self._omega_t[dt]

    def _transform(self, X: np.ndarray) -> np.ndarray:
        dt = X.dtype
        Wt = self._wt(dt)
        n, m = X.shape[0], self.m
        # |x·ω + b| <= max‖x‖ max‖ω‖ + 2π: lets the cosine kernel skip its range check
        bound = float(np.sqrt(np.einsum("ij,ij->i", X, X).max(initial=0.0))) * self._omega_norm + 2 * np.pi
        out = np.empty((n, self.n_features), dtype=dt)
        if not self.paired:
            # one large GEMM (threaded BLAS is inefficient on many small calls), then one cosine pass
            np.matmul(X, Wt, out=out)
            cos_phase_inplace(out, self.phase.astype(dt, copy=False), np.sqrt(2.0 / m), bound)
            return out
        zero = np.zeros(m, dtype=dt)
        quarter = np.full(m, -0.5 * np.pi, dtype=dt)  # sin(x) = cos(x − π/2)
        scale = np.sqrt(1.0 / m)
        step = max(1024, _tile_rows(self.n_features, dt.itemsize))
        for i0 in range(0, n, step):
            i1 = min(n, i0 + step)
            P = X[i0:i1] @ Wt
            out[i0:i1, m:] = P
            cos_phase_inplace(out[i0:i1, m:], quarter, scale, bound)
            cos_phase_inplace(P, zero, scale, bound)
            out[i0:i1, :m] = P
        return out


class SORFFeatures(FeatureMap):
    """Structured orthogonal random features (SORF) for the Gaussian kernel.

    ``ω``-rows are the rows of ``W = (√D/σ) H D₁ H D₂ H D₃`` (H the normalised D×D Walsh–Hadamard
    matrix, D_i Rademacher diagonals, D = next power of two >= d_in, inputs zero-padded), one
    independent triple of diagonals per block of D features; features ``√(2/m) cos(X ωᵀ + b)``.

    Parameters
    ----------
    signs : ndarray of shape (n_blocks, 3, D) with entries ±1 — (D₁, D₂, D₃) of each block.
    phase : ndarray of shape (m,), or None for the paired sin/cos map.
    bandwidth : float — σ of the Gaussian kernel.
    d_in, m : int — input dimension (<= D) and number of features (<= n_blocks·D).

    Notes
    -----
    Never forms W: each block is three fast Walsh–Hadamard transforms, O(n m log D) time instead of
    O(n m d_in), O(D) extra memory per row (numba kernel :func:`kernapprox._numba.fwht.sorf_project`).
    SORF is slightly biased (Yu et al. 2016, Thm 4: bias O(1/√D)); ``omega`` gives the dense W for
    oracles.

    References
    ----------
    Yu et al., "Orthogonal random features", NeurIPS 2016, §4 and Thm 4; algorithms.md §9.3.
    """

    kind = "sorf"
    iid = False
    _param_names = ("signs", "phase")

    def __init__(self, signs, phase, *, bandwidth: float, d_in: int, m: int, kernel=None):
        func = "SORFFeatures"
        signs = check_matrix(signs, func, "signs", ndim=3, dtype=np.float64)
        D = signs.shape[2]
        if signs.shape[1] != 3 or D != next_pow2(D) or not np.all(np.abs(signs) == 1):
            raise fail(func, "signs", "have shape (n_blocks, 3, D), D a power of two, entries ±1",
                       f"shape {signs.shape}")
        d_in = check_int(d_in, func, "d_in", low=1, high=D)
        m = check_int(m, func, "m", low=1, high=signs.shape[0] * D)
        if phase is not None:
            phase = check_matrix(phase, func, "phase", ndim=1, dtype=np.float64)
            if phase.shape[0] != m:
                raise fail(func, "phase", f"have one entry per feature (m = {m})", f"shape {phase.shape}")
        self.signs = np.ascontiguousarray(signs)
        self.phase = phase
        self.paired = phase is None
        self.bandwidth = float(bandwidth)
        self.D = D
        super().__init__(kernel, d_in, m, 2 * m if self.paired else m)

    @property
    def scale(self) -> float:
        """(√D/σ) · D^{-3/2}: the factor that turns three unnormalised FWHTs into W."""
        return 1.0 / (self.D * self.bandwidth)

    def _project(self, X: np.ndarray) -> np.ndarray:
        """X Wᵀ, shape (n, m), in row tiles."""
        dt = X.dtype
        n = X.shape[0]
        nb = self.signs.shape[0]
        signs = self.signs.astype(dt, copy=False)
        out = np.empty((n, self.m), dtype=dt)
        step = _tile_rows(nb * self.D, dt.itemsize)
        buf = np.zeros((min(step, n), self.D), dtype=dt)
        full = np.empty((min(step, n), nb * self.D), dtype=dt)
        for i0 in range(0, n, step):
            i1 = min(n, i0 + step)
            b = buf[: i1 - i0]
            b[:, : self.d_in] = X[i0:i1]
            b[:, : self.d_in] *= dt.type(self.scale)
            f = full[: i1 - i0]
            sorf_project(b, signs, f)
            out[i0:i1] = f[:, : self.m]
        return out

    @property
    def omega(self) -> np.ndarray:
        """The dense frequency matrix W restricted to the input coordinates, shape (m, d_in)."""
        return self._project(np.eye(self.d_in)).T.copy()

    def _transform(self, X: np.ndarray) -> np.ndarray:
        P = self._project(X)
        dt = P.dtype
        # rows of W have norm √D/σ, so |x·ω + b| <= max‖x‖ √D/σ + 2π (skips the range-check pass)
        bound = float(np.sqrt(np.einsum("ij,ij->i", X, X).max(initial=0.0))) * np.sqrt(self.D) / self.bandwidth \
            + 2 * np.pi
        if not self.paired:
            cos_phase_inplace(P, self.phase.astype(dt, copy=False), np.sqrt(2.0 / self.m), bound)
            return P
        out = np.empty((P.shape[0], 2 * self.m), dtype=dt)
        out[:, self.m:] = P
        cos_phase_inplace(out[:, self.m:], np.full(self.m, -0.5 * np.pi, dtype=dt), np.sqrt(1.0 / self.m), bound)
        cos_phase_inplace(P, np.zeros(self.m, dtype=dt), np.sqrt(1.0 / self.m), bound)
        out[:, : self.m] = P
        return out


# ------------------------------------------------------------------------------------------------
# softmax-kernel features (positive, hyperbolic, trig)
# ------------------------------------------------------------------------------------------------
class SoftmaxFeatures(FeatureMap):
    """Random features for the softmax kernel ``SM(x, y) = exp(x·y)`` (and the Gaussian kernel).

    The input is first scaled, ``x̃ = x · input_scale`` (``1/√T`` for ``Exponential(T)``, ``1/σ`` for
    ``Gaussian(σ)``); with ``c = norm_coef`` (1/2 for the softmax kernel, 1 for the Gaussian):

    * "positive":   ``φ(x) = exp(ωᵀx̃ − c‖x̃‖²) / √m``                               (m outputs)
    * "hyperbolic": ``φ(x) = exp(−c‖x̃‖²)/√(2m) · [exp(ωᵀx̃), exp(−ωᵀx̃)]``           (2m outputs)
    * "trig":       ``φ(x) = exp((1−c)‖x̃‖²)/√m · [cos ωᵀx̃, sin ωᵀx̃]``              (2m outputs)

    All three are unbiased when ω ~ N(0, I); positive and hyperbolic features are positive, so a
    linear-attention denominator built from them is positive; the trig one may be ≤ 0.

    Parameters
    ----------
    omega : ndarray of shape (m, d_in) — projection matrix (i.i.d. N(0, I) rows, or orthogonal rows
        from :func:`draw_orthogonal`).
    kind : {"positive", "hyperbolic", "trig"}
    input_scale : float
    norm_coef : float — c above.

    Notes
    -----
    O(n m d_in) time. :meth:`log_features` returns the exponents before ``exp`` so that attention code
    can subtract a stabilising maximum (algorithms.md §9.2).

    References
    ----------
    Choromanski et al., ICLR 2021, Lemma 1 (positive and hyperbolic), Eq. (3)–(5) (trig), Thm 2
    (orthogonal ω); algorithms.md §9.2.
    """

    _param_names = ("omega",)

    def __init__(self, omega, *, kind: str = "positive", input_scale: float = 1.0, norm_coef: float = 0.5,
                 kernel=None, orthogonal: bool = False):
        func = "SoftmaxFeatures"
        check_choice(kind, ("positive", "hyperbolic", "trig"), func, "kind")
        omega = check_matrix(omega, func, "omega", ndim=2, dtype=np.float64)
        self.omega = np.ascontiguousarray(omega)
        self.kind = kind
        self.input_scale = float(input_scale)
        self.norm_coef = float(norm_coef)
        self.orthogonal = bool(orthogonal)
        self.iid = not orthogonal
        m, d_in = omega.shape
        super().__init__(kernel, d_in, m, m if kind == "positive" else 2 * m)

    def log_features(self, X: np.ndarray):
        """Exponent pieces ``(X̃ ωᵀ, ‖x̃‖²)`` of shape (n, m) and (n,), in X's dtype (unvalidated input)."""
        dt = X.dtype
        Xs = X if self.input_scale == 1.0 else X * dt.type(self.input_scale)
        return Xs @ self.omega.T.astype(dt, copy=False), np.einsum("ij,ij->i", Xs, Xs)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        P, sq = self.log_features(X)
        dt = P.dtype
        c = self.norm_coef
        if self.kind == "positive":
            P -= (c * sq)[:, None]
            np.exp(P, out=P)
            P *= dt.type(1.0 / np.sqrt(self.m))
            return P
        if self.kind == "hyperbolic":
            out = np.concatenate([P, -P], axis=1)
            out -= (c * sq)[:, None]
            np.exp(out, out=out)
            out *= dt.type(1.0 / np.sqrt(2 * self.m))
            return out
        pref = (np.exp((1.0 - c) * sq) / np.sqrt(self.m)).astype(dt)[:, None]
        return np.concatenate([np.cos(P) * pref, np.sin(P) * pref], axis=1)


# ------------------------------------------------------------------------------------------------
# TensorSketch (polynomial kernel)
# ------------------------------------------------------------------------------------------------
class TensorSketchFeatures(FeatureMap):
    """TensorSketch for ``(γ x·y + c₀)^p``: the circular convolution of p independent CountSketches.

    With ``x̃ = [√γ x, √c₀]`` (d_in + 1 coordinates) and CountSketches ``C_k x̃ ∈ R^m`` (hash
    ``h_k: [d_in+1] → [m]``, signs ``s_k``), ``TS(x) = IFFT(∏_k FFT(C_k x̃))``. It equals the
    CountSketch of the tensor power ``x̃^{⊗p}`` with hash ``Σ_k h_k(i_k) mod m`` and sign ``∏_k s_k(i_k)``,
    so ``E[TS(x)·TS(y)] = (x̃·ỹ)^p`` exactly.

    Parameters
    ----------
    hashes : int ndarray of shape (p, d_in + 1), values in [0, m)
    signs : ndarray of shape (p, d_in + 1), entries ±1
    m : int — sketch width (output features)
    gamma, coef0 : float — the polynomial kernel's parameters.

    Notes
    -----
    O(n (p d_in + p m log m)) time.

    References
    ----------
    Pham & Pagh, KDD 2013, §3 (Eq. (3) and Lemma 5 for the variance).
    """

    kind = "tensorsketch"
    _param_names = ("hashes", "signs")

    def __init__(self, hashes, signs, m: int, *, gamma: float = 1.0, coef0: float = 1.0, kernel=None):
        func = "TensorSketchFeatures"
        m = check_int(m, func, "m", low=1)
        hashes = np.asarray(hashes)
        signs = check_matrix(signs, func, "signs", ndim=2, dtype=np.float64)
        if hashes.ndim != 2 or hashes.shape != signs.shape or hashes.dtype.kind not in "iu" \
                or hashes.min() < 0 or hashes.max() >= m:
            raise fail(func, "hashes", f"be integers in [0, {m}) of the shape of `signs`",
                       f"shape {hashes.shape}, dtype {hashes.dtype}")
        self.hashes = hashes.astype(np.intp)
        self.signs = signs
        self.degree = hashes.shape[0]
        self.gamma = float(gamma)
        self.coef0 = float(coef0)
        super().__init__(kernel, hashes.shape[1] - 1, m, m)

    def _augment(self, X: np.ndarray) -> np.ndarray:
        return np.concatenate([np.sqrt(self.gamma) * X, np.full((X.shape[0], 1), np.sqrt(self.coef0), X.dtype)],
                              axis=1)

    def _countsketch(self, Xa: np.ndarray, k: int) -> np.ndarray:
        C = np.zeros((Xa.shape[0], self.m), dtype=np.float64)
        for j in range(Xa.shape[1]):  # d_in + 1 column scatters: O(n d_in)
            C[:, self.hashes[k, j]] += self.signs[k, j] * Xa[:, j]
        return C

    def _transform(self, X: np.ndarray) -> np.ndarray:
        Xa = self._augment(X.astype(np.float64))
        P = None
        for k in range(self.degree):
            F = np.fft.rfft(self._countsketch(Xa, k), axis=1)
            P = F if P is None else P * F
        return np.fft.irfft(P, n=self.m, axis=1).astype(X.dtype, copy=False)


# ------------------------------------------------------------------------------------------------
# drawing
# ------------------------------------------------------------------------------------------------
def draw_orthogonal(m: int, d: int, *, scaling: int = 0, rng=None, norms=None) -> np.ndarray:
    """Block-orthogonal Gaussian-like projection matrix of shape (m, d).

    Stack ⌈m/d⌉ independent d×d uniformly random orthogonal matrices (QR of a Gaussian matrix with
    the sign correction of Mezzadri 2007), keep the first m rows, and give the rows the norms of
    i.i.d. N(0, I_d) vectors (``scaling=0``: χ_d norms, marginals exactly Gaussian) or √d
    (``scaling=1``). ``norms`` (m,) overrides both (used for non-Gaussian isotropic densities).

    References
    ----------
    Yu et al. 2016 (ORF, Eq. (3)); Choromanski et al. 2021, §2.4 and Thm 2 (both scalings, as in the
    authors' ``gaussian_orthogonal_random_matrix``); algorithms.md §9.2.
    """
    func = "draw_orthogonal"
    m = check_int(m, func, "m", low=1)
    d = check_int(d, func, "d", low=1)
    if isinstance(scaling, (bool, np.bool_)):
        raise fail(func, "scaling", "be 0 (chi norms) or 1 (sqrt(d))", repr(scaling), TypeError)
    # ⌈m/d⌉ blocks of d×d (each a QR) and the (m, d) result
    check_size_product(func, {"m": max(m, d), "d": d}, copies=3)
    gen = as_generator(rng, func)
    if norms is not None:
        norms = check_matrix(norms, func, "norms", ndim=1, dtype=np.float64)
        if norms.shape != (m,):
            raise fail(func, "norms", f"have shape ({m},)", f"shape {norms.shape}")
    elif scaling not in (0, 1):
        raise fail("draw_orthogonal", "scaling", "be 0 (chi norms) or 1 (sqrt(d))", repr(scaling))
    blocks = []
    for _ in range(-(-m // d)):
        G = gen.standard_normal((d, d))
        Qm, R = np.linalg.qr(G)
        Qm *= np.sign(np.diag(R))[None, :]
        blocks.append(Qm.T)  # rows orthonormal
    W = np.concatenate(blocks, axis=0)[:m]
    if norms is None:
        if scaling == 0:
            norms = np.linalg.norm(gen.standard_normal((m, d)), axis=1)
        elif scaling == 1:
            norms = np.full(m, np.sqrt(d))
        else:
            raise fail("draw_orthogonal", "scaling", "be 0 (chi norms) or 1 (sqrt(d))", repr(scaling))
    return W * np.asarray(norms, dtype=np.float64)[:, None]


def draw_frequencies(kernel, d_in: int, m: int, *, rng=None) -> np.ndarray:
    """i.i.d. frequencies ω ~ spectral density of a shift-invariant kernel, shape (m, d_in).

    Gaussian(σ): N(0, σ⁻² I). Laplacian(σ) (L1): i.i.d. Cauchy(0, 1/σ) coordinates. Matérn(ν, ℓ):
    ``z/ℓ · √(2ν/g)`` with z ~ N(0, I), g ~ χ²_{2ν} (multivariate t, Rasmussen & Williams Eq. (4.15)).
    """
    func = "draw_frequencies"
    kernel = check_kernel(kernel, func)
    d_in = check_int(d_in, func, "d_in", low=1)
    m = check_int(m, func, "m", low=1)
    check_size_product(func, {"m": m, "d_in": d_in}, copies=2)
    gen = as_generator(rng, func)
    if isinstance(kernel, _kernels.Gaussian):
        return gen.standard_normal((m, d_in)) / kernel.bandwidth
    if isinstance(kernel, _kernels.Laplacian):
        return gen.standard_cauchy((m, d_in)) / kernel.bandwidth
    if isinstance(kernel, _kernels.Matern):
        dof = 2.0 * kernel.nu
        g = gen.chisquare(dof, size=m)
        return gen.standard_normal((m, d_in)) * np.sqrt(dof / g)[:, None] / kernel.bandwidth
    raise fail("draw_frequencies", "kernel", "be shift-invariant (Gaussian, Laplacian, Matern)", kernel.name)


def _qmc_frequencies(kernel, d_in, m, gen, sequence, scramble):
    from scipy.stats import qmc
    extra = 1 if isinstance(kernel, _kernels.Matern) else 0
    dim = d_in + extra
    engine = qmc.Sobol(dim, scramble=scramble, rng=gen) if sequence == "sobol" \
        else qmc.Halton(dim, scramble=scramble, rng=gen)
    with warnings.catch_warnings():
        # scipy warns that a Sobol sample size that is not a power of two loses balance properties;
        # we take the first m points of the sequence on purpose
        warnings.simplefilter("ignore", UserWarning)
        U = engine.random(m)
    np.clip(U, QMC_CLIP, 1.0 - QMC_CLIP, out=U)
    if isinstance(kernel, _kernels.Gaussian):
        return special.ndtri(U) / kernel.bandwidth
    if isinstance(kernel, _kernels.Laplacian):
        return np.tan(np.pi * (U - 0.5)) / kernel.bandwidth
    from scipy.stats import chi2
    dof = 2.0 * kernel.nu
    g = chi2.ppf(U[:, -1], dof)
    return special.ndtri(U[:, :d_in]) * np.sqrt(dof / g)[:, None] / kernel.bandwidth


def _kind_error(kind, kernel, fits):
    return fail("random_features", "kind", f"fit the kernel ({kind!r} needs one of {fits})",
                f"kernel {type(kernel).__name__}")


def random_features(kernel, d_in: int, m: int, *, kind: str = "rff", rng=None, **options) -> FeatureMap:
    """Draw a random feature map for ``kernel`` on inputs of dimension ``d_in``.

    Parameters
    ----------
    kernel : Kernel or str
    d_in : int — input dimension.
    m : int — number of random draws (frequencies; sketch width for "tensorsketch"). The output
        width ``fm.n_features`` is 2m for "rff_sincos", "hyperbolic", "trig" and m otherwise.
    kind : {"rff", "rff_sincos", "orf", "sorf", "qmc", "positive", "hyperbolic", "trig", "tensorsketch"}
    rng : None, int, SeedSequence or Generator
    **options
        "orf": ``scaling`` (0: radial norms of i.i.d. draws, default; 1: √d_in/σ, Gaussian only),
        ``paired`` (sin/cos instead of cos + phase). "sorf": ``paired``. "qmc": ``sequence``
        ("sobol" | "halton"), ``scramble`` (True), ``paired``.
        "positive" / "hyperbolic" / "trig": ``orthogonal`` (False), ``scaling`` (0 | 1).

    Returns
    -------
    FeatureMap
        ``fm.transform(X)`` gives Z of shape (n, fm.n_features) with ``E[Z Zᵀ] = K(X, X)`` (exact
        in expectation for "rff", "rff_sincos", "positive", "hyperbolic", "trig", "tensorsketch" and
        i.i.d. ω; ORF, SORF and QMC trade exact independence for lower variance).

    Raises
    ------
    ValueError for a kind that does not fit the kernel (e.g. "rff" for a non-shift-invariant
    kernel), m <= 0 or d_in <= 0; TypeError for a non-kernel.

    Notes
    -----
    Drawing costs O(m d_in) (O(⌈m/d⌉ d³) for the QR blocks of ORF); transforming n points costs
    O(n m d_in) (O(n m log d_in) for SORF).

    References
    ----------
    Rahimi & Recht 2007; Yu et al. 2016; Avron et al. 2016; Choromanski et al. 2021; Pham & Pagh 2013
    (details in the module docstring); algorithms.md §9.2, §9.3.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> X = np.random.default_rng(0).normal(size=(5, 3))
    >>> fm = ka.random_features(ka.Gaussian(2.0), 3, 4096, kind="rff", rng=0)
    >>> bool(np.abs(fm.transform(X) @ fm.transform(X).T - ka.Gaussian(2.0)(X)).max() < 0.1)
    True
    """
    func = "random_features"
    kernel = check_kernel(kernel, func)
    d_in = check_int(d_in, func, "d_in", low=1)
    m = check_int(m, func, "m", low=1)
    check_size_product(func, {"m": m, "d_in": d_in}, copies=2)     # frequencies (and SORF/QMC work arrays)
    check_choice(kind, KINDS, func, "kind")
    gen = as_generator(rng, func)

    def opt(name, default, choices=None):
        v = options.pop(name, default)
        if choices is not None:
            check_choice(v, choices, func, name)
        return v

    if kind in ("rff", "rff_sincos", "orf", "qmc", "sorf"):
        fits = ("Gaussian", "Matern") if kind == "orf" else ("Gaussian",) if kind == "sorf" \
            else ("Gaussian", "Laplacian", "Matern")
        if not isinstance(kernel, tuple(getattr(_kernels, f) for f in fits)):
            raise _kind_error(kind, kernel, fits)
        paired = kind == "rff_sincos" or opt("paired", False, (False, True))
        if kind in ("rff", "rff_sincos"):
            omega = draw_frequencies(kernel, d_in, m, rng=gen)
        elif kind == "orf":
            scaling = opt("scaling", 0, (0, 1))
            if scaling == 1 and not isinstance(kernel, _kernels.Gaussian):
                raise fail(func, "scaling", "be 0 for a non-Gaussian kernel", scaling)
            if scaling == 1:
                norms = np.full(m, np.sqrt(d_in) / kernel.bandwidth)
            else:  # radial part of i.i.d. draws from the (isotropic) spectral density
                norms = np.linalg.norm(draw_frequencies(kernel, d_in, m, rng=gen), axis=1)
            omega = draw_orthogonal(m, d_in, rng=gen, norms=norms)
        elif kind == "qmc":
            sequence = opt("sequence", "sobol", ("sobol", "halton"))
            scramble = opt("scramble", True, (True, False))
            omega = _qmc_frequencies(kernel, d_in, m, gen, sequence, scramble)
        else:  # sorf
            D = next_pow2(d_in)
            nb = -(-m // D)
            signs = rademacher(gen, (nb, 3, D))
            phase = None if paired else gen.uniform(0.0, 2.0 * np.pi, m)
            _no_options(options)
            return SORFFeatures(signs, phase, bandwidth=kernel.bandwidth, d_in=d_in, m=m, kernel=kernel)
        phase = None if paired else gen.uniform(0.0, 2.0 * np.pi, m)
        _no_options(options)
        label = kind if kind != "rff" or not paired else "rff_sincos"
        return FourierFeatures(omega, phase, kernel=kernel, kind=label)

    if kind in ("positive", "hyperbolic", "trig"):
        if not isinstance(kernel, _SOFTMAX_OK):
            raise _kind_error(kind, kernel, ("Exponential", "Gaussian"))
        orthogonal = opt("orthogonal", False, (False, True))
        scaling = opt("scaling", 0, (0, 1))
        _no_options(options)
        omega = draw_orthogonal(m, d_in, scaling=scaling, rng=gen) if orthogonal \
            else gen.standard_normal((m, d_in))
        if isinstance(kernel, _kernels.Exponential):
            scale, c = 1.0 / np.sqrt(kernel.temperature), 0.5
        else:
            scale, c = 1.0 / kernel.bandwidth, 1.0
        return SoftmaxFeatures(omega, kind=kind, input_scale=scale, norm_coef=c, kernel=kernel,
                               orthogonal=orthogonal)

    # tensorsketch
    if not isinstance(kernel, _kernels.Polynomial):
        raise _kind_error(kind, kernel, ("Polynomial",))
    _no_options(options)
    p = kernel.degree
    hashes = gen.integers(0, m, size=(p, d_in + 1))
    signs = rademacher(gen, (p, d_in + 1))
    return TensorSketchFeatures(hashes, signs, m, gamma=kernel.gamma, coef0=kernel.coef0, kernel=kernel)


def _no_options(options: dict) -> None:
    if options:
        raise TypeError(f"random_features: unexpected option(s) {sorted(options)} for this kind")
