"""Pivoted partial Cholesky of PSD kernel matrices: greedy and randomly pivoted (RPCholesky).

Every variant reads only the diagonal and the pivot columns of K (plus, for the accelerated variant,
small candidate blocks), and returns ``K̂ = F Fᵀ`` as a :class:`~kernapprox.lowrank.PSDLowRank` whose
``info`` holds the pivots (``"indices"``), the kernel entries evaluated (``"n_evals"``) and the exact
residual trace ``tr(K − K̂)`` (``"residual_trace"``), which these algorithms get for free.

Variants (Chen, Epperly, Tropp, Webber, CPAM 2025; Epperly, Tropp, Webber 2024):

* simple RPCholesky (``block_size=1``): pivot i with probability ∝ the residual diagonal;
* block RPCholesky (``block_size=b``): b pivots drawn i.i.d. ∝ the residual diagonal per round,
  folded in with a stabilised (shifted pivoted) Cholesky of the b×b residual block;
* accelerated RPCholesky (``accelerated=True``): b candidates drawn ∝ the residual diagonal, then
  accepted by rejection sampling on the b×b residual block — the same distribution as simple
  RPCholesky, with the cost structure (matrix–matrix products) of the block variant;
* greedy pivoted Cholesky (:func:`greedy_cholesky`): pivot ``argmax`` of the residual diagonal.

The factor is computed in float64 and returned in the working dtype of the matrix (float32 kept).
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import lapack
from scipy.linalg.blas import dgemm, dtrmm, dtrsm

from ._validation import as_generator, check_bool, check_choice, check_int, check_memory, check_positive, fail, warn
from ._operators import require_psd, to_matrix
from ._random import sample_proportional
from ._tiling import eps_of, out_dtype
from .lowrank import PSDLowRank

__all__ = ["rpcholesky", "greedy_cholesky"]

#: The residual is "numerically zero" (the matrix is exhausted: stop, warn) once
#: ``tr(K − K̂) <= ZERO_TRACE_MULTIPLE · eps · tr(K)`` (eps of the matrix dtype).
ZERO_TRACE_MULTIPLE = 100.0
#: A pivot whose recomputed residual is ``<= ZERO_PIVOT_MULTIPLE · eps · K_ii`` lies in the numerical
#: span of the previous pivots: it is skipped (its column was read and is counted in n_evals).
ZERO_PIVOT_MULTIPLE = 1000.0


# Kept for ``kernapprox.sampling`` until it calls ``kernapprox._tiling.eps_of`` and
# ``kernapprox._random.sample_proportional`` itself.
_eps = eps_of
_sample_prop = sample_proportional


def _check_common(KM, k, tol, func):
    KM = to_matrix(KM, func, "KM")
    require_psd(KM, func)
    n = KM.shape[0]
    k = check_int(k, func, "k", low=1, high=n)
    check_memory(8 * k * n, func, "k", k)              # the factor Fᵀ (k, n), float64
    if tol is not None:
        tol = check_positive(tol, func, "tol", allow_zero=True)
    return KM, n, k, tol


def _col64(KM, idx) -> np.ndarray:
    """Columns K[:, idx] as a C-contiguous, aligned, writeable float64 array (n, len(idx)).

    The residual update and the triangular multiply then work in place through BLAS (f2py would
    silently copy a read-only or unaligned operand, e.g. a deserialised buffer, and drop the result).
    """
    return np.require(KM.columns(np.asarray(idx, dtype=np.intp)), dtype=np.float64,
                      requirements=["C", "A", "W", "O"])


def _solve_lower(L: np.ndarray, G: np.ndarray) -> np.ndarray:
    """``L⁻¹ Gᵀ`` (t, n) for lower-triangular L (t, t) and C-contiguous G (n, t), overwriting G.

    The small inverse is formed once (``?trtri``) and applied with ``?trmm`` (faster than ``?trsm``
    on tall operands with OpenBLAS; L is a well-conditioned pivoted Cholesky factor).
    """
    Linv, info = lapack.dtrtri(np.asarray(L, dtype=np.float64, order="F"), lower=1)
    if info != 0:  # pragma: no cover - pivots are > 0 by construction
        return dtrsm(1.0, np.asfortranarray(L), G.T, lower=1, overwrite_b=1)
    return dtrmm(1.0, np.asfortranarray(Linv), G.T, lower=1, overwrite_b=1)


def _prefix_for_tol(res: float, gains: np.ndarray, tol: float | None) -> int:
    """Smallest prefix of new columns (with trace gains ``gains``) bringing ``res`` below ``tol``."""
    if tol is None:
        return gains.size
    below = res - np.cumsum(gains) < tol
    return int(np.argmax(below)) + 1 if below.any() else gains.size


class _State:
    """Factor Fᵀ (k, n) in float64, residual diagonal, pivots and the stopping logic."""

    def __init__(self, KM, k, tol, func):
        self.KM, self.k, self.tol, self.func = KM, k, tol, func
        self.ev0 = KM.n_evals
        d0 = np.array(KM.diag(), dtype=np.float64)
        if np.any(d0 < 0):
            raise fail(func, "KM", "have a non-negative diagonal (PSD)", f"min diagonal {d0.min():.3g}")
        self.d0 = d0
        self.d = d0.copy()
        self.tr0 = float(d0.sum())
        self.Ft = np.empty((k, d0.size), dtype=np.float64)     # rows written before they are read
        self.piv: list[int] = []
        self.r = 0
        self.skipped = 0
        self.eps = eps_of(KM)
        self.zero = ZERO_TRACE_MULTIPLE * self.eps * self.tr0
        self.stopped = None

    @property
    def res(self) -> float:
        return float(self.d.sum())

    def should_stop(self) -> bool:
        if self.r >= self.k:
            return True
        res = self.res
        if self.tol is not None and res < self.tol:
            self.stopped = "tol"
            return True
        if res <= self.zero or not np.any(self.d > 0):
            self.stopped = "exhausted"
            return True
        return False

    def residual_columns(self, idx) -> np.ndarray:
        """``(K − F Fᵀ)[:, idx]``, shape (n, len(idx)), float64 (one GEMM accumulated in place)."""
        G = _col64(self.KM, idx)
        if self.r:
            Fr = self.Ft[:self.r]
            # Gᵀ ← Gᵀ − F[idx]ᵀ… i.e. Gᵀ (b, n) −= Fr[:, idx]ᵀ Fr, with Gᵀ a Fortran view of G
            dgemm(-1.0, np.asfortranarray(Fr[:, idx].T), Fr.T, beta=1.0, c=G.T, trans_b=1, overwrite_c=1)
        return G

    def append(self, Fnew_t: np.ndarray, piv) -> None:
        """Append rows of Fᵀ (t, n) for pivots ``piv`` and update the residual diagonal."""
        t = Fnew_t.shape[0]
        if t == 0:
            return
        self.Ft[self.r:self.r + t] = Fnew_t
        self.d -= np.einsum("ij,ij->j", Fnew_t, Fnew_t)
        np.maximum(self.d, 0.0, out=self.d)
        piv = np.asarray(piv, dtype=np.intp)
        self.d[piv] = 0.0
        self.piv.extend(int(p) for p in piv)
        self.r += t

    def result(self, method: str, extra: dict | None = None) -> PSDLowRank:
        res = self.res
        if self.stopped is not None and self.r < self.k:
            why = (f"the residual trace {res:.3g} fell below tol={self.tol:g}" if self.stopped == "tol"
                   else f"the residual trace {res:.3g} is numerically zero "
                        f"(<= {ZERO_TRACE_MULTIPLE:g}·eps·tr K; the matrix has numerical rank {self.r})")
            warn(f"{self.func}: stopped early at rank {self.r} < k={self.k}: {why}")
        F = self.Ft[:self.r].T
        out_dt = out_dtype(self.KM)
        if F.dtype != out_dt:
            F = F.astype(out_dt)
        info = {"indices": np.asarray(self.piv, dtype=np.intp),
                "n_evals": self.KM.n_evals - self.ev0,
                "method": method, "core": "cholesky", "trace": self.tr0, "residual_trace": res,
                "stopped": self.stopped, "skipped": self.skipped}
        if extra:
            info.update(extra)
        return PSDLowRank(F, info)


def _sequential(st: _State, pick) -> None:
    """One pivot per step (simple RPCholesky / greedy): a column, a GEMV, a rank-one update."""
    while not st.should_stop():
        s = int(pick(st.d))
        g = st.residual_columns([s])[:, 0]
        gs = g[s]
        if not gs > ZERO_PIVOT_MULTIPLE * st.eps * st.d0[s]:
            st.d[s] = 0.0            # numerically in the span of the pivots: skip, never divide by ~0
            st.skipped += 1
            continue
        f = g / np.sqrt(gs)
        st.append(f[None, :], [s])


def _draw_block(st: _State, b: int, rng):
    """One round's pivots: min(b, k − r) i.i.d. draws ∝ the residual diagonal, distinct and with a
    positive residual, their residual columns G (n, |S|) and the symmetrised residual block H = G[S]."""
    S = np.unique(sample_proportional(st.d, min(b, st.k - st.r), rng))
    S = S[st.d[S] > 0]
    G = st.residual_columns(S)
    return S, G, 0.5 * (G[S] + G[S].T)


def _block(st: _State, b: int, rng) -> None:
    """Block RPCholesky: b i.i.d. pivots ∝ residual diagonal per round, stabilised block Cholesky."""
    while not st.should_stop():
        S, G, H = _draw_block(st, b, rng)
        # rank-revealing (unshifted) pivoted Cholesky of the residual block: pivots at the rounding
        # level of the original entries (numerically in the span of the pivots so far) are dropped
        thr = ZERO_PIVOT_MULTIPLE * st.eps * float(st.d0[S].max())
        c, pv, q, _ = lapack.dpstrf(H, lower=1, tol=thr)
        q = int(np.sum(np.diag(c)[:q] ** 2 > thr))      # ?pstrf tests its first pivot against 0 only
        cols = (pv[:q] - 1).astype(np.intp)
        L = np.tril(c[:q, :q])
        st.skipped += S.size - q
        if q == 0:
            st.d[S] = 0.0
            continue
        Xt = _solve_lower(L, np.ascontiguousarray(G[:, cols]))   # L⁻¹ Gcᵀ = Fnewᵀ (t, n)
        gains = np.einsum("ij,ij->i", Xt, Xt)
        t = _prefix_for_tol(st.res, gains, st.tol)
        if t == 0:
            st.d[S] = 0.0
            continue
        st.append(Xt[:t], S[cols[:t]])


#: diagonal shift of the reference block step, ``chol(C + REFERENCE_BLOCK_SHIFT·eps·I)``
#: (eepperly/Randomly-Pivoted-Cholesky ``block_cholesky_helper``), here relative to the largest pivot
#: diagonal so that it is scale-free (the same number for unit-diagonal kernels)
REFERENCE_BLOCK_SHIFT = 100.0


def _block_keep(st: _State, b: int, rng) -> None:
    """Block RPCholesky as the reference code: every distinct drawn pivot is kept and counted toward k,
    numerically dependent ones included; the residual block is factored by a shifted Cholesky."""
    while not st.should_stop():
        S, G, H = _draw_block(st, b, rng)
        shift = REFERENCE_BLOCK_SHIFT * st.eps * float(st.d0[S].max())
        L = np.linalg.cholesky(H + shift * np.eye(S.size))
        Xt = _solve_lower(L, np.ascontiguousarray(G))
        gains = np.einsum("ij,ij->i", Xt, Xt)
        t = _prefix_for_tol(st.res, gains, st.tol)
        st.append(Xt[:t], S[:t])


def _accelerated(st: _State, b: int, rng) -> None:
    """Accelerated RPCholesky (Epperly, Tropp, Webber 2024, Alg. 2): rejection sampling on b×b blocks."""
    KM = st.KM
    while not st.should_stop():
        S = sample_proportional(st.d, b, rng)                   # b i.i.d. candidates ∝ d (duplicates allowed)
        dS = st.d[S].copy()                              # proposal densities (unnormalised)
        H = np.asarray(KM.block(S, S), dtype=np.float64).copy()
        if st.r:
            FS = st.Ft[:st.r, S]
            H -= FS.T @ FS
        u = rng.random(b)
        acc: list[int] = []
        hs: list[np.ndarray] = []
        need = st.k - st.r
        for j in range(b):
            hjj = H[j, j]
            if not hjj > ZERO_PIVOT_MULTIPLE * st.eps * st.d0[S[j]]:
                st.d[S[j]] = 0.0     # numerically in the span (d had drifted): never propose it again
                continue
            # accept candidate j with probability (current residual) / (proposal) = H_jj / d_j
            if u[j] * dS[j] < hjj:
                h = H[:, j] / np.sqrt(hjj)
                H -= np.outer(h, h)
                acc.append(j)
                hs.append(h)
                if len(acc) == need:
                    break
        if not acc:
            continue
        acc_a = np.asarray(acc, dtype=np.intp)
        T = S[acc_a]
        L = np.ascontiguousarray(np.stack(hs, axis=1)[acc_a])     # lower triangular (t, t)
        G = st.residual_columns(T)                                 # (n, t)
        Xt = _solve_lower(L, G)
        gains = np.einsum("ij,ij->i", Xt, Xt)
        t = _prefix_for_tol(st.res, gains, st.tol)
        st.append(Xt[:t], T[:t])


def rpcholesky(KM, k, *, block_size: int = 1, accelerated: bool = False, tol: float | None = None,
               dependent_pivots: str = "drop", rng=None) -> PSDLowRank:
    """Randomly pivoted Cholesky: a rank-k Nyström approximation ``K̂ = F Fᵀ`` with adaptive pivots.

    Each pivot s is drawn with probability ``d_s / Σ d`` where ``d = diag(K − K̂)`` is the current
    residual diagonal; the pivot column of the residual is then folded into F. Only the diagonal and
    the k pivot columns of K are evaluated.

    Parameters
    ----------
    KM : KernelMatrix or kernel-matrix protocol object (or a dense PSD array / PSDLowRank), shape (n, n)
    k : int
        Target rank, ``1 <= k <= n``.
    block_size : int, default 1
        ``1``: simple RPCholesky (one column per step). ``b > 1`` without ``accelerated``: block
        RPCholesky, b pivots drawn i.i.d. per round (duplicates merged, numerically dependent ones
        dropped), so the final rank can be reached in ``≈ k/b`` rounds of matrix–matrix work. With
        ``accelerated=True``: the number of candidates per round (≈ 50–200 is a good range).
    accelerated : bool, default False
        Rejection-sampling ("embrace rejection") variant: exact simple-RPCholesky distribution at
        block cost. Costs ``b²`` extra entries per round for the candidate block.
    tol : float, optional
        Stop as soon as the residual trace ``tr(K − K̂) < tol`` (a :class:`KernapproxWarning` and a
        rank below k). The run also stops, with a warning, when the residual trace is numerically
        zero (``<= ZERO_TRACE_MULTIPLE · eps · tr K``): the matrix has numerical rank < k.
    dependent_pivots : {"drop", "keep"}, default "drop"
        Block RPCholesky only (``block_size > 1``, not accelerated). ``"drop"``: a rank-revealing
        pivoted Cholesky of each round's residual block drops the pivots that are numerically in
        the span of the others (residual ≤ ZERO_PIVOT_MULTIPLE·eps·K_ii); they are NOT counted
        toward k, so more rounds run and the rank k is reached with independent pivots.
        ``"keep"``: the reference code's behaviour (Chen et al., eepperly/Randomly-Pivoted-Cholesky
        ``block_cholesky_helper``): every distinct drawn pivot is kept and counted toward k, and
        the block is factored as ``chol(C + 100·eps·max K_SS·I)``. The two differ in law only on
        (numerically) rank-deficient matrices: with "keep" a dependent pivot adds a column of
        rounding size and uses up one of the k slots; with "drop" the returned rank is the number
        of independent pivots (and ``info["skipped"]`` counts the dropped ones).
    rng : None, int, Generator, …
        Randomness (normalised by :func:`numpy.random.default_rng`).

    Returns
    -------
    PSDLowRank
        F of shape (n, r), r <= k, in the matrix dtype; ``info``: ``indices`` (pivots, in order),
        ``n_evals`` (kernel entries read), ``method`` (``"rpcholesky"``, ``"block_rpcholesky"`` or
        ``"accelerated_rpcholesky"``), ``core`` ("cholesky"), ``trace`` (tr K),
        ``residual_trace`` (tr(K − K̂), exact up to rounding), ``stopped`` (None, "tol",
        "exhausted"), ``skipped`` (pivots dropped as numerically dependent), ``block_size``.

    Notes
    -----
    Time O(n k² + k·(cost of a column)); memory O(n k). Kernel entries: n (diagonal) + n·k (pivot
    columns) + n per skipped pivot; the accelerated variant adds ``b²`` per round. The simple
    variant is a sequence of k matrix–vector products (memory-bound for large n·k); use
    ``block_size`` ≈ 100 with ``accelerated=True`` (or block RPCholesky) for large problems.

    ``K − K̂`` is PSD and ``E tr(K − K̂) <= (1 + ε) tr(K − ⟦K⟧_r)`` once
    ``k >= r/ε + r log(1/(ε η))`` with η the relative tail ``tr(K − ⟦K⟧_r)/tr K``
    (Chen, Epperly, Tropp & Webber, CPAM 2025, Thm 2.3).

    References
    ----------
    Y. Chen, E. N. Epperly, J. A. Tropp, R. J. Webber, "Randomly pivoted Cholesky: Practical
    approximation of a kernel matrix with few entry evaluations", CPAM 2025 (arXiv 2207.06503),
    Alg. 1 (simple), Alg. 2 (block), Thm 2.3. E. N. Epperly, J. A. Tropp, R. J. Webber, "Embrace
    rejection: Kernel matrix approximation by accelerated randomly pivoted Cholesky", 2024
    (arXiv 2410.03969), Alg. 2–3.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> X = np.random.default_rng(0).normal(size=(500, 2))
    >>> KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    >>> approx = ka.rpcholesky(KM, 40, rng=0)
    >>> approx.rank, approx.info["n_evals"] == 41 * 500
    (40, True)
    """
    func = "rpcholesky"
    rng = as_generator(rng, func)
    KM, n, k, tol = _check_common(KM, k, tol, func)
    b = check_int(block_size, func, "block_size", low=1)   # draws with replacement: b > n is valid
    check_memory(8 * n * b + 8 * b * b, func, "block_size", b)   # one block of candidate columns
    accelerated = check_bool(accelerated, func, "accelerated")
    dependent_pivots = check_choice(dependent_pivots, ("drop", "keep"), func, "dependent_pivots")
    st = _State(KM, k, tol, func)
    if accelerated:
        _accelerated(st, b, rng)
        method = "accelerated_rpcholesky"
    elif b > 1:
        (_block_keep if dependent_pivots == "keep" else _block)(st, b, rng)
        method = "block_rpcholesky"
    else:
        _sequential(st, lambda d: sample_proportional(d, 1, rng)[0])
        method = "rpcholesky"
    return st.result(method, {"block_size": b, "dependent_pivots": dependent_pivots})


def greedy_cholesky(KM, k, *, tol: float | None = None) -> PSDLowRank:
    """Greedy pivoted partial Cholesky: the pivot is the largest residual diagonal entry.

    Parameters
    ----------
    KM : KernelMatrix or kernel-matrix protocol object (or a dense PSD array / PSDLowRank), shape (n, n)
    k : int
        Target rank, ``1 <= k <= n``.
    tol : float, optional
        Stop (with a :class:`KernapproxWarning`) once the residual trace is below ``tol``; also stops
        when it is numerically zero (numerical rank < k).

    Returns
    -------
    PSDLowRank
        As :func:`rpcholesky`, with ``info["method"] == "greedy_cholesky"``.

    Notes
    -----
    Deterministic; ties broken by the smallest index. Time O(n k²), memory O(n k), kernel entries
    n + n·k. Fast when the spectrum decays quickly and the data are homogeneous; known to be fooled
    by outliers (it spends pivots on them) — RPCholesky is the robust alternative.

    References
    ----------
    Chen, Epperly, Tropp, Webber, CPAM 2025, §2.2 ("greedy pivoting"); Harbrecht, Peters, Schneider,
    "On the low-rank approximation by the pivoted Cholesky decomposition", APNUM 2012.
    """
    func = "greedy_cholesky"
    KM, n, k, tol = _check_common(KM, k, tol, func)
    st = _State(KM, k, tol, func)
    _sequential(st, np.argmax)
    return st.result("greedy_cholesky")
