"""Error metrics that never form an n×n matrix (design.md §1, algorithms.md §8).

* :func:`spectral_error` — ``‖A − B‖₂`` with a certified lower bound and an a-posteriori upper
  estimate: exact (SVD / ``eigvalsh``) for small operands, matrix-free block Lanczos above a size
  threshold (streamed kernel products: memory O((n + m)·s) for a Krylov basis of s vectors).
* :func:`frobenius_error` — ``‖A − B‖_F`` exactly (streamed row tiles of A minus the tiles of B) or by
  Hutchinson's estimator.
* :func:`trace_error` — ``tr(A − B)`` (for PSD A and B ⪯ A the nuclear norm of A − B), exact or
  Hutchinson.
* relative versions, and :func:`attention_output_loss` for the (n, p) outputs of attention methods.

Operands ``A`` and ``B`` are anything :func:`kernapprox.as_matrix` accepts — dense arrays, scipy
sparse matrices, :class:`KernelMatrix`, :class:`kernapprox.distributed.DaskKernelMatrix` (its products,
rows and diagonal run where its points live), the low-rank results of :mod:`kernapprox.lowrank`,
:class:`scipy.sparse.linalg.LinearOperator` s, duck-typed protocol objects. The error operator
``A − B`` is a :class:`kernapprox._operators.DifferenceMatrix` of float64 views of the two (a float32
kernel matrix is evaluated in float64, a float32 low-rank result expanded from float64 factors): all
arithmetic is float64. Kernel entries evaluated are counted on the operands (``n_evals``).

Every metric returns an :class:`ErrorEstimate`: a ``float`` that also carries ``.lower``, ``.upper``,
``.matvecs`` (matrix–vector products with A − B, counted per vector), ``.passes`` (block products, i.e.
passes over the operands) and ``.method``.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import scipy.linalg as sla
from scipy.special import ndtri

from ._operators import DifferenceMatrix, to_matrix
from ._random import rademacher
from ._tiling import EPS, row_tiles, tile_rows
from ._validation import (as_generator, check_bool, check_choice, check_int, check_matrix, check_memory,
                          check_probability, check_real, deprecated_alias, fail, pow2_exponent, symmetry_gap, warn)

__all__ = [
    "ErrorEstimate", "SpectralError", "spectral_error", "spectral_norm", "frobenius_error", "trace_error",
    "relative_spectral_error", "relative_frobenius_error", "relative_trace_error", "attention_output_loss",
]

#: ``method="auto"`` computes exactly when the difference has at most this many entries (1000×1000).
EXACT_MAX_ENTRIES = 1_000_000
#: ... or when its short side is at most this long (tall-skinny: the SVD costs O(n·m·min(n, m)))
EXACT_SMALL_SIDE = 128
#: ... and it has at most this many entries (the dense difference is formed).
EXACT_SMALL_SIDE_MAX_ENTRIES = 20_000_000
#: Relative half-width of the bracket reported by the exact path (backward error of SVD / eigvalsh,
#: in units of max(n, m)·eps).
EXACT_RTOL_EPS_MULTIPLE = 10.0
#: Default target of the Lanczos bracket: stop when (upper − lower) <= LANCZOS_TOL · upper.
LANCZOS_TOL = 1e-4
#: Default block size of the block Lanczos iteration.
LANCZOS_BLOCK = 4
#: Default block size when an operand is a kernel matrix: one pass costs n·m kernel evaluations
#: whatever the number of vectors, so wide blocks (fewer passes) are nearly free.
LANCZOS_BLOCK_KERNEL = 16
#: Default maximal number of Krylov blocks.
LANCZOS_MAX_ITER = 100
#: New Krylov directions whose norm after re-orthogonalisation falls below this multiple of eps times
#: the current norm estimate are deflated (the Krylov space became invariant).
DEFLATION_EPS_MULTIPLE = 1e3
#: Lanczos also stops when the bracket is below this rounding floor, in units of
#: sqrt(max(n, m))·eps·(‖A‖ + ‖B‖) (estimated from the products): ‖A − B‖ cannot be resolved further.
NOISE_EPS_MULTIPLE = 10.0
#: Failure probability of the Kuczyński–Woźniakowski probabilistic upper bound ``.upper_prob``.
KW_FAIL_PROB = 1e-3
#: Constant of Kuczyński & Woźniakowski, SIAM J. Matrix Anal. Appl. 13(4), 1992, Thm 4.2 (Lanczos):
#: P(failure) <= KW_CONSTANT·sqrt(N)·exp(−(2k−1)√ε). Verified: the √N·e^{−(2k−1)√ε} form (the paper's
#: abstract and its report version CUCS-465-89). NOT verified against the theorem's text: the value
#: 1.648 (≈ √e; the value also quoted by later work, e.g. Urschel 2021); hence ``upper_prob`` is
#: documented as a probabilistic bound that rests on this unverified constant, not as a rigorous one.
KW_CONSTANT = 1.648
#: Default failure probability δ of the Hutchinson CLT brackets (level 1 − δ).
HUTCHINSON_DELTA = 0.05
#: Default number of probe vectors of the Hutchinson estimators.
HUTCHINSON_SAMPLES = 64
#: Upper bound on ``n_samples`` is ``max(N, HUTCHINSON_MIN_CAP)`` (N = the probed dimension): N products
#: with unit vectors already give the exact value, so more probes than that buy nothing.
HUTCHINSON_MIN_CAP = 1024
#: Probe vectors are applied in blocks of at most this many columns.
PROBE_BLOCK = 32


# ---------------------------------------------------------------------------------------------------
# result type
# ---------------------------------------------------------------------------------------------------
class ErrorEstimate(float):
    """A float (the estimate) that also carries how it was obtained.

    Attributes
    ----------
    lower : float
        Certified lower bound (up to floating-point rounding).
    upper : float
        Upper estimate (see the computing function for what it guarantees).
    matvecs : int
        Products of the error operator with single vectors (a block of b vectors counts b).
    passes : int
        Block products, i.e. passes over the operands (what dominates the cost of a kernel matrix).
    method : str
        ``"exact"``, ``"lanczos"`` or ``"hutchinson"``.
    info : dict
        Method-specific details (e.g. ``upper_prob``, ``converged``, ``stderr``).
    """

    def __new__(cls, value, lower=None, upper=None, matvecs=0, passes=0, method="exact", info=None):
        value = check_real(value, "ErrorEstimate", "value")
        for name, b in (("lower", lower), ("upper", upper)):
            # a bracket end may be infinite (an unbounded side), never NaN or a non-number
            if b is not None and (isinstance(b, (bool, np.bool_)) or not isinstance(b, numbers.Real)
                                  or math.isnan(b)):
                raise fail("ErrorEstimate", name, "be None or a real number (±inf allowed)", repr(b),
                           TypeError if not isinstance(b, numbers.Real) or isinstance(b, (bool, np.bool_))
                           else ValueError)
        obj = float.__new__(cls, value)
        obj.lower = float(value) if lower is None else float(lower)
        obj.upper = float(value) if upper is None else float(upper)
        obj.matvecs = int(matvecs)
        obj.passes = int(passes)
        obj.method = str(method)
        obj.info = {} if info is None else dict(info)
        return obj

    def __reduce__(self):
        return (type(self), (float(self), self.lower, self.upper, self.matvecs, self.passes, self.method,
                             self.info))

    @property
    def bracket(self) -> tuple[float, float]:
        """``(lower, upper)``."""
        return (self.lower, self.upper)

    @property
    def value(self) -> float:
        """The estimate as a plain float."""
        return float(self)

    def __repr__(self):
        return (f"{type(self).__name__}({float(self)!r}, lower={self.lower!r}, upper={self.upper!r}, "
                f"matvecs={self.matvecs}, method={self.method!r})")


#: Alias: the result of :func:`spectral_error`.
SpectralError = ErrorEstimate


# ---------------------------------------------------------------------------------------------------
# operands: the one matrix protocol, in float64
# ---------------------------------------------------------------------------------------------------
def _difference(A, B, func: str, symmetric=None) -> DifferenceMatrix:
    """The error operator ``A − B`` (B may be None) over float64 views of the operands
    (:func:`kernapprox._operators.to_matrix`; a float32 kernel matrix is evaluated in float64)."""
    MA = to_matrix(A, func, "A").astype(np.float64)
    MB = None if B is None else to_matrix(B, func, "B").astype(np.float64)
    return DifferenceMatrix(MA, MB, symmetric=symmetric, func=func)


def _mm(M: DifferenceMatrix, V: np.ndarray) -> np.ndarray:
    """``(A − B) V`` for V float64 (N, b), float64 (n, b), counted in M.matvecs / M.passes."""
    return M.matmat(V, accumulate="float64").reshape(M.shape[0], -1)


def _rmm(M: DifferenceMatrix, U: np.ndarray) -> np.ndarray:
    return M.rmatmat(U, accumulate="float64").reshape(M.shape[1], -1)


# ---------------------------------------------------------------------------------------------------
# spectral norm
# ---------------------------------------------------------------------------------------------------
def _orthonormalise(Z: np.ndarray, basis: np.ndarray | None, scale: float) -> np.ndarray:
    """Orthonormal columns spanning Z minus its projection on ``basis`` (CGS2); deflated columns dropped."""
    if basis is not None and basis.shape[1]:
        for _ in range(2):
            Z = Z - basis @ (basis.T @ Z)
    if Z.shape[1] == 0:
        return Z
    Qz, Rz, _ = sla.qr(Z, mode="economic", pivoting=True)
    d = np.abs(np.diag(Rz))
    keep = d > DEFLATION_EPS_MULTIPLE * EPS * max(scale, d[0] if d.size else 0.0)
    Qz = Qz[:, keep]
    if basis is not None and basis.shape[1] and Qz.shape[1]:
        Qz = Qz - basis @ (basis.T @ Qz)  # one more pass against rounding
        Qz, _ = np.linalg.qr(Qz)
    return Qz


def _kw_upper(lower: float, N: int, k: int, delta: float) -> float:
    """Kuczyński–Woźniakowski probabilistic upper bound for σ_max given the Krylov estimate ``lower``.

    For PSD P (N×N) and a Krylov space of dimension k + 1 from a uniformly random start vector,
    P(θ < (1 − ε) λ_max(P)) <= KW_CONSTANT·√N·exp(−(2k − 1)√ε). Solving for ε at probability
    ``delta`` gives λ_max(P) <= θ / (1 − ε), i.e. σ_max <= lower / √(1 − ε).
    """
    if k < 1 or lower <= 0:
        return math.inf if lower > 0 else 0.0
    root_eps = math.log(KW_CONSTANT * math.sqrt(N) / delta) / (2 * k - 1)
    eps = root_eps ** 2
    return lower / math.sqrt(1.0 - eps) if eps < 1.0 else math.inf


class _Buffer:
    """Column buffer with geometric growth (avoids re-copying the Krylov basis every block)."""

    def __init__(self, rows: int):
        self.data = np.empty((rows, 0))
        self.k = 0

    def append(self, B: np.ndarray) -> None:
        need = self.k + B.shape[1]
        if need > self.data.shape[1]:
            new = np.empty((self.data.shape[0], max(need, 2 * self.data.shape[1], 8)))
            new[:, :self.k] = self.data[:, :self.k]
            self.data = new
        self.data[:, self.k:need] = B
        self.k = need

    @property
    def view(self) -> np.ndarray:
        return self.data[:, :self.k]


class _Gram:
    """Symmetric small matrix grown by one block row/column at a time."""

    def __init__(self):
        self.M = np.zeros((0, 0))

    def add(self, col: np.ndarray) -> None:
        """``col`` = (old + new) × new block: the new columns of the matrix."""
        s_old = self.M.shape[0]
        s = col.shape[0]
        M = np.zeros((s, s))
        M[:s_old, :s_old] = self.M
        M[:, s_old:] = col
        M[s_old:, :] = col.T
        self.M = 0.5 * (M + M.T)


def _lanczos(M: DifferenceMatrix, *, rng, tol, block_size, max_iter, delta):
    """Block Lanczos (full re-orthogonalisation) for ‖M‖₂; returns (value, lower, upper, info).

    Symmetric M: Krylov space of M, Rayleigh–Ritz on T = Qᵀ(MQ). General M: Krylov space of
    P = MᵀM on the short side, T = (MQ)ᵀ(MQ). The small matrices are grown block by block, so one
    block costs O(N·s·b) besides the products (s = basis size, b = block size).
    """
    n, m = M.shape
    def mm(V):
        return _mm(M, V)

    def rmm(U):
        return _rmm(M, U)
    if M.symmetric:
        N = n
        fwd, bwd = mm, None
    else:
        # Krylov space of P = MᵀM on the short side (MMᵀ when the operator is wide)
        wide = m > n
        N = min(n, m)
        fwd, bwd = (rmm, mm) if wide else (mm, rmm)
    b = min(block_size, N)
    Q = _orthonormalise(rng.standard_normal((N, b)), None, 1.0)
    basis = _Buffer(N)
    images = _Buffer(N)             # symmetric: M Q ; general: P Q = Mᵀ(MQ)
    T = _Gram()                     # Qᵀ M Q (symmetric) or (MQ)ᵀ(MQ) (general)
    G = _Gram()                     # (MQ)ᵀ(MQ) (symmetric only)
    fimages = None if M.symmetric else _Buffer(m if wide else n)
    lower = upper = 0.0
    converged = invariant = at_noise = False
    top_vec = None
    it = 0
    while True:
        it += 1
        basis.append(Q)
        if M.symmetric:
            MQ = fwd(Q)
            images.append(MQ)
            T.add(basis.view.T @ MQ)
            G.add(images.view.T @ MQ)
        else:
            Z = fwd(Q)
            fimages.append(Z)
            images.append(bwd(Z))
            T.add(fimages.view.T @ Z)
        theta, W = np.linalg.eigh(T.M)
        Qv, Iv = basis.view, images.view
        if M.symmetric:
            i = int(np.argmax(np.abs(theta)))
            top_vec = Qv @ W[:, i]
            r_top = float(np.linalg.norm(Iv @ W[:, i] - theta[i] * top_vec))
            # residual norms of the other Ritz pairs from the small matrices: ‖r‖² = wᵀGw − θ²
            rn = np.sqrt(np.maximum(np.einsum("ij,ij->j", W, G.M @ W) - theta ** 2, 0.0))
            rn[i] = r_top
            est_upper = float(np.max(np.abs(theta) + rn))     # every |θ_i| + ‖r_i‖ (conservative)
            lower = math.sqrt(max(float(np.linalg.eigvalsh(G.M)[-1]), 0.0))
        else:
            i = int(np.argmax(theta))
            top_vec = Qv @ W[:, i]
            r = float(np.linalg.norm(Iv @ W[:, i] - theta[i] * top_vec))
            est_upper = math.sqrt(max(float(theta[i]), 0.0) + r)
            lower = math.sqrt(max(float(theta[i]), 0.0))
        upper = max(lower, est_upper)
        # converged: the residual estimate is consistent with the certified bound and close to it,
        # or the whole bracket is at the rounding level of the products
        noise = NOISE_EPS_MULTIPLE * math.sqrt(max(n, m)) * EPS * M.scale
        if upper == 0.0 or (est_upper >= lower * (1 - tol) and upper - lower <= tol * upper):
            converged = True
            break
        if upper <= noise:
            converged = at_noise = True
            break
        if it >= max_iter or basis.k >= N:
            invariant = basis.k >= N
            converged = invariant
            break
        Q = _orthonormalise(Iv[:, -Q.shape[1]:], Qv, upper if M.symmetric else upper ** 2)
        if Q.shape[1] == 0:
            invariant = converged = True
            break
    if invariant:
        upper = lower  # the Krylov space is invariant: the Ritz values are eigenvalues
    if not converged:
        warn(f"spectral_error: Lanczos stopped after {it} blocks with the bracket [{lower:.6g}, {upper:.6g}] "
             f"wider than tol={tol:g}; raise max_iter or block_size")
    # Krylov dimension (in powers of P = M² or MᵀM) reached from the first start vector
    k_power = (it - 1) // 2 if M.symmetric else it - 1
    info = {"converged": converged, "invariant": invariant, "at_noise_floor": at_noise, "blocks": it,
            "block_size": b, "krylov_dim": int(basis.k), "symmetric": M.symmetric,
            "upper_prob": upper if invariant else _kw_upper(lower, N, k_power, delta),
            "upper_prob_delta": delta, "vector": top_vec}
    return lower, lower, upper, info


def _exact_spectral(M: DifferenceMatrix):
    D = np.asarray(M.dense(force=True), dtype=np.float64)
    n, m = D.shape
    if M.symmetric:
        D = 0.5 * (D + D.T)
        lam = np.linalg.eigvalsh(D)
        val = float(max(abs(lam[0]), abs(lam[-1])))
    else:
        val = float(np.linalg.svd(D, compute_uv=False)[0]) if D.size else 0.0
    rho = EXACT_RTOL_EPS_MULTIPLE * max(n, m) * EPS
    return val, val * (1 - rho), val * (1 + rho)


def _factored_spectral(M: DifferenceMatrix):
    """‖A − B‖₂ for low-rank A, B from their factors: thin QRs and a small SVD, O((n + m) r²)."""
    La, Ra = M.factors()
    _, R1 = np.linalg.qr(La)
    _, R2 = np.linalg.qr(Ra)
    val = float(np.linalg.svd(R1 @ R2.T, compute_uv=False)[0])
    rho = EXACT_RTOL_EPS_MULTIPLE * max(M.shape) * EPS
    return val, val * (1 - rho), val * (1 + rho)


def _verify_symmetric(M: DifferenceMatrix, func: str) -> None:
    """``symmetric=True`` is a claim about A − B: checked by the randomized test of
    :func:`kernapprox._validation.symmetry_gap` (one block product with A and with B, no
    decomposition); the tolerance scales with ‖A‖ + ‖B‖ (the cancellation level of A − B)."""
    if M.shape[0] != M.shape[1]:
        raise fail(func, "symmetric", "be False or None for a rectangular operator", True)
    scale = {}

    def mv(V):
        PA = M.A.matmat(V, accumulate="float64")
        PB = None if M.B is None else M.B.matmat(V, accumulate="float64")
        cn = np.linalg.norm(V, axis=0)
        scale["s"] = float(np.max(np.linalg.norm(PA, axis=0) / cn)) + (
            0.0 if PB is None else float(np.max(np.linalg.norm(PB, axis=0) / cn)))
        return PA if PB is None else PA - PB

    ok, rel = symmetry_gap(mv, M.shape[0], scale=lambda: scale["s"])
    if not ok:
        raise fail(func, "symmetric", "be False or None: A − B is not symmetric (randomized test uᵀMv vs "
                   f"vᵀMu, relative asymmetry ~{rel:.2g})", True)


def _auto_exact(shape) -> bool:
    n, m = shape
    entries = n * m
    return entries <= EXACT_MAX_ENTRIES or (min(n, m) <= EXACT_SMALL_SIDE and entries <= EXACT_SMALL_SIDE_MAX_ENTRIES)


def spectral_error(A, B=None, *, method: str = "auto", rng=None, tol: float = LANCZOS_TOL,
                   block_size: int | None = None, max_iter: int = LANCZOS_MAX_ITER,
                   symmetric: bool | None = None, delta: float = KW_FAIL_PROB,
                   fail_prob: float | None = None) -> ErrorEstimate:
    """Spectral-norm error ``‖A − B‖₂`` without forming A − B when it is large.

    Parameters
    ----------
    A : array (n, m), sparse matrix, KernelMatrix, PSDLowRank / SymLowRank / LowRank or LinearOperator
        The reference (e.g. the kernel matrix).
    B : same kinds as A, optional
        The approximation; ``None`` gives ``‖A‖₂``.
    method : {"auto", "exact", "lanczos"}
        ``"exact"`` forms the dense difference and uses ``eigvalsh`` (symmetric) or the SVD — except
        when both operands are low-rank results, where it works on the factors (thin QRs and an SVD
        of size r_A + r_B, O((n + m) r²), any n); ``"lanczos"`` is matrix-free; ``"auto"`` takes the
        factored exact path for two low-rank operands and is otherwise exact when the difference has at most
        ``EXACT_MAX_ENTRIES`` entries, or a short side <= ``EXACT_SMALL_SIDE`` (tall-skinny, e.g.
        attention outputs) and at most ``EXACT_SMALL_SIDE_MAX_ENTRIES`` entries, Lanczos otherwise.
    rng : None, int, Generator, optional
        Start block of the Lanczos iteration.
    tol : float
        Lanczos stops when ``upper − lower <= tol · upper``.
    block_size : int, optional
        Vectors per Krylov block (one pass over A and B per block); default ``LANCZOS_BLOCK_KERNEL``
        (16) when an operand is a kernel matrix, ``LANCZOS_BLOCK`` (4) otherwise.
    max_iter : int
        Maximal number of Krylov blocks.
    symmetric : bool, optional
        Override the detected symmetry of A − B (dense operands are tested, kernel matrices and
        PSD/Sym low-rank results are symmetric by construction; LinearOperators count as
        non-symmetric unless they carry ``symmetric=True``).
    delta : float in (0, 1)
        Failure probability of the probabilistic upper bound ``info["upper_prob"]``.
    fail_prob : float, optional
        Deprecated alias of ``delta``.

    Returns
    -------
    ErrorEstimate
        ``float(result)`` is the estimate (the certified lower bound for Lanczos); ``.lower``,
        ``.upper``, ``.matvecs``, ``.passes``, ``.method`` and ``.info``.

    Notes
    -----
    **The bracket.** Lanczos builds an orthonormal Krylov basis Q (s columns, s = block_size ×
    blocks) and keeps the images MQ, so the Rayleigh–Ritz step costs no extra product.

    * *lower* = ``σ_max(MQ) = max_{v ∈ range Q, ‖v‖=1} ‖Mv‖`` — the norm of M applied to an actual
      unit vector (the Rayleigh quotient of MᵀM at the returned vector), hence ``lower <= ‖M‖₂`` for
      certain (up to rounding of the float64 products).
    * *upper* = a-posteriori residual estimate. Symmetric M (one streamed product per block): for the
      Ritz pair (θ, v) of largest |θ| and residual r = Mv − θv, some eigenvalue of M lies in
      [θ − ‖r‖, θ + ‖r‖], so ``upper = |θ| + ‖r‖``. General M: the same on P = MᵀM (on the short
      side), ``upper = sqrt(θ + ‖r‖)``, two products per block. The estimate bounds ‖M‖₂ whenever
      the top Ritz value approximates the top eigenvalue (not a lower one) — true with overwhelming
      probability for a Gaussian start block, not certified. When the Krylov space becomes invariant
      the Ritz values are exact and ``upper = lower``. When the whole bracket lies below the rounding
      floor ``10·sqrt(max(n, m))·eps·(‖A‖ + ‖B‖)`` the iteration stops (``info["at_noise_floor"]``):
      A and B agree to working precision.
    * ``info["upper_prob"]``: a *probabilistic* upper bound, ``‖M‖ <= upper_prob`` with
      probability ≥ 1 − delta over the start block, in exact arithmetic (Kuczyński & Woźniakowski
      1992, Thm 4.2, applied to the first start vector); looser than *upper*. Not certified: the
      form of the bound is checked against the source, its constant :data:`KW_CONSTANT` is not (see
      there), and rounding in the Krylov recurrence is not accounted for.

    The exact path reports ``lower = v(1 − ρ)``, ``upper = v(1 + ρ)`` with
    ``ρ = 10·max(n, m)·eps`` (backward error of the dense eigen/singular value solver).
    Cancellation: ‖A − B‖ is computed from products with A and B, so its absolute accuracy is about
    eps·(‖A‖ + ‖B‖), whatever the method.

    Cost: exact O(n·m·min(n, m)) time and the dense difference in memory; Lanczos ``passes``
    products with A and B (each streamed: for a KernelMatrix n·m kernel evaluations and
    O(tile·m) memory) plus O(max(n, m)·s²) work, memory O(max(n, m)·s) — far below n×m.

    References
    ----------
    Golub & Van Loan, *Matrix Computations* (4th ed.), §10.1 (Lanczos, residual bound Thm 8.1.15 /
    Kahan–Parlett–Jiang); J. Kuczyński & H. Woźniakowski, "Estimating the largest eigenvalue by the
    power and Lanczos algorithms with a random start", SIMAX 13(4), 1992, Thm 4.2. algorithms.md §8.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> X = np.random.default_rng(0).normal(size=(300, 2))
    >>> KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    >>> F = KM.columns(np.arange(20)) @ np.linalg.cholesky(np.linalg.inv(KM.block(np.arange(20), np.arange(20))))
    >>> err = ka.spectral_error(KM, ka.PSDLowRank(F), method="lanczos", rng=0)
    >>> bool(err.lower <= float(err) <= err.upper)
    True
    """
    func = "spectral_error"
    check_choice(method, ("auto", "exact", "lanczos"), func, "method")
    gen = as_generator(rng, func)
    tol = check_real(tol, func, "tol", low=0.0, high=1.0, low_open=True)
    max_iter = check_int(max_iter, func, "max_iter", low=1)
    delta_name = "delta" if fail_prob is None else "fail_prob"
    delta = deprecated_alias(func, "fail_prob", fail_prob, "delta", delta, new_default=KW_FAIL_PROB)
    delta = check_probability(delta, func, delta_name)
    if symmetric is not None:
        symmetric = check_bool(symmetric, func, "symmetric")
    M = _difference(A, B, func, symmetric)
    if symmetric:
        _verify_symmetric(M, func)
    n, m = M.shape
    N = n if M.symmetric else min(n, m)                  # dimension of the Krylov space
    if block_size is None:
        kernel_operand = M.A.kernel is not None or (M.B is not None and M.B.kernel is not None)
        block_size = min(N, LANCZOS_BLOCK_KERNEL if kernel_operand else LANCZOS_BLOCK)
    block_size = check_int(block_size, func, "block_size", low=1, high=N)
    factored = M.factors() is not None
    if method == "auto":
        method = "exact" if factored or _auto_exact(M.shape) else "lanczos"
    if method == "exact" and factored:
        val, lo, up = _factored_spectral(M)
        return ErrorEstimate(val, lo, up, matvecs=0, passes=0, method="exact",
                             info={"symmetric": M.symmetric, "factored": True})
    if method == "exact":
        check_memory(8 * 2 * n * m, func, "method", method)
        val, lo, up = _exact_spectral(M)
        return ErrorEstimate(val, lo, up, matvecs=min(n, m) if M.A.dense_by_products else 0, passes=1,
                             method="exact", info={"symmetric": M.symmetric})
    # memory of the Krylov basis and its images (at most N columns: the space is then invariant)
    cols = min(N, block_size * max_iter)
    check_memory(8 * 3 * max(n, m) * cols + 8 * 2 * cols * cols, func, "max_iter", max_iter)
    val, lo, up, info = _lanczos(M, rng=gen, tol=tol, block_size=block_size, max_iter=max_iter,
                                 delta=delta)
    return ErrorEstimate(val, lo, up, matvecs=M.matvecs, passes=M.passes, method="lanczos", info=info)


def spectral_norm(A, *, method: str = "auto", rng=None, tol: float = LANCZOS_TOL, block_size: int | None = None,
                  max_iter: int = LANCZOS_MAX_ITER, symmetric: bool | None = None,
                  delta: float = KW_FAIL_PROB, fail_prob: float | None = None) -> ErrorEstimate:
    """``‖A‖₂`` (same options and result as :func:`spectral_error` with ``B=None``)."""
    delta = deprecated_alias("spectral_norm", "fail_prob", fail_prob, "delta", delta, new_default=KW_FAIL_PROB)
    return spectral_error(A, None, method=method, rng=rng, tol=tol, block_size=block_size, max_iter=max_iter,
                          symmetric=symmetric, delta=delta)


# ---------------------------------------------------------------------------------------------------
# Frobenius norm and trace
# ---------------------------------------------------------------------------------------------------
def _probe(gen, N, s, distribution):
    if distribution == "rademacher":
        return rademacher(gen, (N, s))
    return gen.standard_normal((N, s))


def _clt_bracket(samples: np.ndarray, delta: float):
    s = samples.size
    mean = float(np.mean(samples))
    stderr = float(np.std(samples, ddof=1) / math.sqrt(s)) if s > 1 else math.inf
    z = float(ndtri(1.0 - delta / 2.0))
    return mean, stderr, mean - z * stderr, mean + z * stderr


def _check_estimator_options(func, method, distribution, n_samples, delta, delta_name, rng):
    """Shared checks of the exact / Hutchinson options of ``frobenius_error`` and ``trace_error``
    (all of them, whichever method runs); ``delta_name`` is the keyword the caller used."""
    check_choice(method, ("exact", "hutchinson"), func, "method")
    check_choice(distribution, ("rademacher", "gaussian"), func, "distribution")
    return (check_int(n_samples, func, "n_samples", low=2),
            check_probability(delta, func, delta_name), as_generator(rng, func))


def _check_n_samples(n_samples: int, N: int, func: str) -> None:
    """At most ``max(N, HUTCHINSON_MIN_CAP)`` probes (N unit-vector products give the exact value)."""
    check_int(n_samples, func, "n_samples", low=2, high=max(N, HUTCHINSON_MIN_CAP))


def _pow2_exponent(T: np.ndarray) -> int:
    """0 when the squares of T's entries neither overflow nor underflow, else the power-of-two
    exponent e with max|T|·2⁻ᵉ ≈ 1 (scaling by 2⁻ᵉ is exact: the sums of squares are unchanged in
    relative terms, and bit-identical in the safe range)."""
    mx = float(np.max(np.abs(T))) if T.size else 0.0
    if mx == 0.0 or _SAFE_LOW <= mx <= _SAFE_HIGH:
        return 0
    return pow2_exponent(T)


# entries in [2^-450, 2^450] can be squared and summed (up to 2^100 terms) in float64 without
# overflow or underflow to zero
_SAFE_LOW, _SAFE_HIGH = 2.0 ** -450, 2.0 ** 450


class _ScaledSum:
    """Σ sᵢ·4^{eᵢ} kept as ``total · 4^e`` (LAPACK ``?nrm2``-style scaling with powers of two)."""

    def __init__(self):
        self.total, self.e = 0.0, None

    def add(self, ssq: float, e: int) -> None:
        if self.e is None:
            self.total, self.e = ssq, e
        elif e > self.e:
            self.total = math.ldexp(self.total, 2 * (self.e - e)) + ssq
            self.e = e
        else:
            self.total += math.ldexp(ssq, 2 * (e - self.e))

    def sqrt(self) -> float:
        return math.ldexp(math.sqrt(self.total), self.e or 0)


def frobenius_error(A, B=None, *, method: str = "exact", n_samples: int = HUTCHINSON_SAMPLES,
                    distribution: str = "rademacher", rng=None, delta: float = HUTCHINSON_DELTA,
                    fail_prob: float | None = None) -> ErrorEstimate:
    """Frobenius-norm error ``‖A − B‖_F``, streamed (exact) or estimated (Hutchinson).

    Parameters
    ----------
    A, B : operands as in :func:`spectral_error` (B optional: ``‖A‖_F``)
    method : {"exact", "hutchinson"}
        ``"exact"`` sums the squares of row tiles of A − B (a tile of A minus the same tile of B;
        never more than one tile in memory). ``"hutchinson"`` estimates ``‖M‖_F² = E‖Mω‖²`` from
        ``n_samples`` probe vectors ω.
    n_samples : int
        Probe vectors of the Hutchinson estimator.
    distribution : {"rademacher", "gaussian"}
        Probe distribution (both give E[ωωᵀ] = I).
    rng : None, int, Generator
    delta : float in (0, 1)
        The Hutchinson bracket is the normal-approximation (CLT) interval of level 1 − delta on
        ‖M‖_F², then square-rooted — approximate, not certified.
    fail_prob : float, optional
        Deprecated alias of ``delta``.

    Returns
    -------
    ErrorEstimate
        exact: ``lower = upper = value`` up to a rounding margin; hutchinson: the CLT bracket and
        ``info["stderr"]`` (standard error of the squared estimate).

    Notes
    -----
    Exact: time O(n·m) entries of A and B (for a KernelMatrix n·m kernel evaluations, for a
    rank-r result O(n·m·r)), memory O(tile·m). For a LinearOperator the row tiles cost one
    transposed product per tile. Hutchinson: ``n_samples`` products with A − B; the variance of one
    Rademacher sample is ``2(‖MᵀM‖_F² − Σ_i (MᵀM)_ii²)``.

    References
    ----------
    M. F. Hutchinson, "A stochastic estimator of the trace of the influence matrix for Laplacian
    smoothing splines", Comm. Stat. Simul. Comput. 18(3), 1989 (applied to tr(MᵀM) = ‖M‖_F²).
    """
    func = "frobenius_error"
    delta_name = "delta" if fail_prob is None else "fail_prob"
    delta = deprecated_alias(func, "fail_prob", fail_prob, "delta", delta, new_default=HUTCHINSON_DELTA)
    n_samples, delta, gen = _check_estimator_options(func, method, distribution, n_samples, delta, delta_name, rng)
    M = _difference(A, B, func)
    n, m = M.shape
    _check_n_samples(n_samples, m, func)
    if method == "exact":
        acc = _ScaledSum()
        step = tile_rows(m, 8, low=1, high=4096)
        tiles = 0
        for i0, i1 in row_tiles(n, step):
            T = np.asarray(M.rows(np.arange(i0, i1)), dtype=np.float64)
            e = _pow2_exponent(T)
            Ts = T if e == 0 else np.ldexp(T, -e)
            acc.add(float(np.einsum("ij,ij->", Ts, Ts)), e)
            tiles += 1
        val = acc.sqrt()
        rho = EXACT_RTOL_EPS_MULTIPLE * max(n, m) * EPS
        return ErrorEstimate(val, val * (1 - rho), val * (1 + rho), matvecs=0, passes=tiles, method="exact")
    blocks = []
    for s0 in range(0, n_samples, PROBE_BLOCK):
        s = min(PROBE_BLOCK, n_samples - s0)
        W = _probe(gen, m, s, distribution)
        MW = _mm(M, W)
        e = _pow2_exponent(MW)
        MWs = MW if e == 0 else np.ldexp(MW, -e)
        blocks.append((np.einsum("ij,ij->j", MWs, MWs), e))
    # squared norms in units of 4^e_max (a power of two: exact; bit-identical when no scaling is needed)
    e_max = max(e for _, e in blocks)
    x = np.concatenate([b if e == e_max else np.ldexp(b, 2 * (e - e_max)) for b, e in blocks])
    mean, stderr, lo, up = _clt_bracket(x, delta)

    def root(v):
        return math.ldexp(math.sqrt(max(v, 0.0)), e_max)
    with np.errstate(over="ignore"):         # ‖M‖_F² itself may exceed the float64 range: inf
        sq_stderr, sq_mean = float(np.ldexp(stderr, 2 * e_max)), float(np.ldexp(mean, 2 * e_max))
    return ErrorEstimate(root(mean), root(lo), root(up),
                         matvecs=M.matvecs, passes=M.passes, method="hutchinson",
                         info={"stderr": sq_stderr, "squared_estimate": sq_mean, "n_samples": n_samples,
                               "distribution": distribution, "delta": delta})


def trace_error(A, B=None, *, method: str = "exact", n_samples: int = HUTCHINSON_SAMPLES,
                distribution: str = "rademacher", rng=None, delta: float = HUTCHINSON_DELTA,
                fail_prob: float | None = None) -> ErrorEstimate:
    """Trace error ``tr(A − B)`` of square operands.

    For PSD A and a Nyström-type approximation B ⪯ A (PSD Nyström, RPCholesky) this is the
    nuclear-norm error ``‖A − B‖_*``, the quantity of the RPCholesky guarantees
    (:func:`kernapprox.bounds.rpcholesky_trace_bound`).

    Parameters
    ----------
    A, B : square operands as in :func:`spectral_error` (B optional: ``tr(A)``)
    method : {"exact", "hutchinson"}
        ``"exact"`` uses the diagonals (a KernelMatrix evaluates n entries, a low-rank result
        O(n·r) work; a LinearOperator needs n products with unit vectors, in blocks);
        ``"hutchinson"`` averages ``ωᵀ(A − B)ω`` over ``n_samples`` probes.
    n_samples, distribution, rng, delta, fail_prob
        As in :func:`frobenius_error` (the Hutchinson bracket is a CLT interval, approximate).

    Returns
    -------
    ErrorEstimate

    References
    ----------
    Hutchinson (1989); Chen, Epperly, Tropp & Webber, "Randomly pivoted Cholesky", CPAM 2025
    (arXiv 2207.06503) — trace error as the natural RPCholesky metric.
    """
    func = "trace_error"
    delta_name = "delta" if fail_prob is None else "fail_prob"
    delta = deprecated_alias(func, "fail_prob", fail_prob, "delta", delta, new_default=HUTCHINSON_DELTA)
    n_samples, delta, gen = _check_estimator_options(func, method, distribution, n_samples, delta, delta_name, rng)
    M = _difference(A, B, func)
    n, m = M.shape
    if n != m:
        raise fail(func, "A", "be square", f"shape {M.shape}")
    _check_n_samples(n_samples, n, func)
    if method == "exact":
        d = np.asarray(M.diag(), dtype=np.float64)
        val = float(np.sum(d))
        margin = EXACT_RTOL_EPS_MULTIPLE * n * EPS * float(np.sum(np.abs(d)))
        return ErrorEstimate(val, val - margin, val + margin, matvecs=M.matvecs, passes=M.passes,
                             method="exact")
    samples = []
    for s0 in range(0, n_samples, PROBE_BLOCK):
        s = min(PROBE_BLOCK, n_samples - s0)
        W = _probe(gen, n, s, distribution)
        samples.append(np.einsum("ij,ij->j", W, _mm(M, W)))
    mean, stderr, lo, up = _clt_bracket(np.concatenate(samples), delta)
    return ErrorEstimate(mean, lo, up, matvecs=M.matvecs, passes=M.passes, method="hutchinson",
                         info={"stderr": stderr, "n_samples": n_samples, "distribution": distribution,
                               "delta": delta})


# ---------------------------------------------------------------------------------------------------
# relative versions
# ---------------------------------------------------------------------------------------------------
def _ratio(err: ErrorEstimate, ref: ErrorEstimate, func: str) -> ErrorEstimate:
    if float(ref) == 0.0:
        raise fail(func, "A", "be nonzero (the relative error divides by its norm)", 0.0)
    lo = err.lower / ref.upper if ref.upper > 0 else 0.0
    up = err.upper / ref.lower if ref.lower > 0 else math.inf
    info = {"absolute": err, "reference": ref}
    return ErrorEstimate(float(err) / float(ref), lo, up, matvecs=err.matvecs + ref.matvecs,
                         passes=err.passes + ref.passes, method=err.method, info=info)


def relative_spectral_error(A, B, *, method: str = "auto", rng=None, tol: float = LANCZOS_TOL,
                            block_size: int | None = None, max_iter: int = LANCZOS_MAX_ITER,
                            symmetric: bool | None = None, delta: float = KW_FAIL_PROB,
                            fail_prob: float | None = None) -> ErrorEstimate:
    """``‖A − B‖₂ / ‖A‖₂`` with the bracket ``[lower_err/upper_A, upper_err/lower_A]``.

    Keyword arguments are those of :func:`spectral_error` (applied to both norms; ``fail_prob`` a
    deprecated alias of ``delta``).
    """
    func = "relative_spectral_error"
    if B is None:
        raise fail(func, "B", "be given", None, TypeError)
    delta = deprecated_alias(func, "fail_prob", fail_prob, "delta", delta, new_default=KW_FAIL_PROB)
    gen = as_generator(rng, func)
    kw = {"method": method, "tol": tol, "block_size": block_size, "max_iter": max_iter, "symmetric": symmetric,
          "delta": delta}
    err = spectral_error(A, B, rng=gen, **kw)
    ref = spectral_error(A, None, rng=gen, **kw)
    return _ratio(err, ref, func)


def relative_frobenius_error(A, B, *, method: str = "exact", n_samples: int = HUTCHINSON_SAMPLES,
                             distribution: str = "rademacher", rng=None, delta: float = HUTCHINSON_DELTA,
                             fail_prob: float | None = None) -> ErrorEstimate:
    """``‖A − B‖_F / ‖A‖_F`` (keywords of :func:`frobenius_error`)."""
    func = "relative_frobenius_error"
    if B is None:
        raise fail(func, "B", "be given", None, TypeError)
    delta = deprecated_alias(func, "fail_prob", fail_prob, "delta", delta, new_default=HUTCHINSON_DELTA)
    gen = as_generator(rng, func)
    kw = {"method": method, "n_samples": n_samples, "distribution": distribution, "delta": delta}
    return _ratio(frobenius_error(A, B, rng=gen, **kw), frobenius_error(A, None, rng=gen, **kw), func)


def relative_trace_error(A, B, *, method: str = "exact", n_samples: int = HUTCHINSON_SAMPLES,
                         distribution: str = "rademacher", rng=None, delta: float = HUTCHINSON_DELTA,
                         fail_prob: float | None = None) -> ErrorEstimate:
    """``tr(A − B) / tr(A)`` (keywords of :func:`trace_error`); for PSD A, B ⪯ A the relative nuclear error."""
    func = "relative_trace_error"
    if B is None:
        raise fail(func, "B", "be given", None, TypeError)
    delta = deprecated_alias(func, "fail_prob", fail_prob, "delta", delta, new_default=HUTCHINSON_DELTA)
    gen = as_generator(rng, func)
    kw = {"method": method, "n_samples": n_samples, "distribution": distribution, "delta": delta}
    err = trace_error(A, B, rng=gen, **kw)
    ref = trace_error(A, None, rng=gen, **kw)
    if float(ref) <= 0:
        raise fail(func, "A", "have a positive trace", float(ref))
    return _ratio(err, ref, func)


# ---------------------------------------------------------------------------------------------------
# attention outputs
# ---------------------------------------------------------------------------------------------------
_LOSS_NORMS = ("spectral", "frobenius", "max")


def attention_output_loss(exact, approx, *, norm: str = "spectral", relative: bool = False):
    """Loss between an exact attention output and an approximation (algorithms.md §8, "spectral norm loss").

    Parameters
    ----------
    exact, approx : ndarray of shape (n, p) or (..., n, p)
        Outputs of :func:`kernapprox.attention.exact` and of an approximation.
    norm : {"spectral", "frobenius", "max"}
        ``‖exact − approx‖₂`` (largest singular value of each n×p matrix; dense SVD, O(n p²)),
        Frobenius, or the largest absolute entry.
    relative : bool
        Divide by the same norm of ``exact``.

    Returns
    -------
    float for (n, p) inputs, ndarray of shape ``(...)`` for batched inputs (float64).

    References
    ----------
    Skyformer (Chen et al., NeurIPS 2021) Fig. 1 and Skeinformer (Chen et al., NAACL 2022) Fig. 1:
    the spectral norm of the output difference.
    """
    func = "attention_output_loss"
    check_choice(norm, _LOSS_NORMS, func, "norm")
    relative = check_bool(relative, func, "relative")
    E = check_matrix(exact, func, "exact", ndim=None, dtype=np.float64)
    R = check_matrix(approx, func, "approx", ndim=None, dtype=np.float64)
    if E.ndim < 2:
        raise fail(func, "exact", "have shape (n, p) or (..., n, p)", f"shape {E.shape}")
    if E.shape != R.shape:
        raise ValueError(f"{func}: `exact` and `approx` must have the same shape; got {E.shape} and {R.shape}")

    def _norm(X):
        if norm == "spectral":
            return np.linalg.norm(X, ord=2, axis=(-2, -1))
        if norm == "frobenius":
            return np.sqrt(np.einsum("...ij,...ij->...", X, X))
        return np.max(np.abs(X), axis=(-2, -1))

    loss = _norm(E - R)
    if relative:
        ref = _norm(E)
        if np.any(ref == 0):
            raise fail(func, "exact", "have nonzero norm for a relative loss", "a zero output")
        loss = loss / ref
    return float(loss) if np.ndim(loss) == 0 else np.asarray(loss)
