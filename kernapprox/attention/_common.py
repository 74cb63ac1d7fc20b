"""Shared helpers of the attention methods: validation of one head, tiles, the streamed score loop,
stable softmax. Method modules call these on 2-D (single-head) arrays; none validates its input.
"""
from __future__ import annotations

import numpy as np

from .._tiling import TILE_BYTES
from .._tiling import tile_rows as _budget_rows
from .._validation import check_int, check_points, fail, warn, working_dtype

__all__ = ["clip_row_sums", "check_qkv", "check_d", "check_d_matches", "score_rows", "score_tiles", "softmax_rows", "softmax_tiled",
           "logsumexp_rows", "scaled", "factor_rows", "kernel_row_tiles", "gumbel_topk", "SCORE_BUDGET",
           "FACTOR_BUDGET", "KERNEL_BUDGET", "DEN_FLOOR"]

#: Row-tile budgets of the attention loops, as multiples of the package budget
#: :data:`kernapprox._tiling.TILE_BYTES` (8 MiB). One buffer is reused for every tile of a loop, so a
#: call touches O(tile) fresh memory besides its output (fresh pages are slow on the target machines).
#:
#: * ``SCORE_BUDGET`` (2×, 16 MiB): exact (rows × m) score tiles (exact targets, log-sum-exp rows,
#:   Informer's measures);
#: * ``FACTOR_BUDGET`` (¼×, 2 MiB): (rows × d) tiles of a factor or of streamed softmax scores of the
#:   low-rank and sampling methods;
#: * ``KERNEL_BUDGET`` (1×, 8 MiB): tiles filled by a kernel block (:func:`kernel_row_tiles`), taller
#:   because each Gaussian / exponential block is one launch of the parallel numba kernel (a few ms of
#:   fixed cost on 2 cores; n = 16384, d = 256: 4 launches instead of 16, measured 0.08 s vs 0.26 s).
SCORE_BUDGET = 2 * TILE_BYTES
FACTOR_BUDGET = TILE_BYTES // 4
KERNEL_BUDGET = TILE_BYTES
#: no upper bound on the rows of a tile (the budget alone sizes it)
_NO_CAP = 1 << 62
#: Smallest positive denominator accepted in a row normalisation (smaller ones are clipped and counted).
DEN_FLOOR = float(np.finfo(np.float64).tiny) ** 0.5


def clip_row_sums(den: np.ndarray, func: str, what: str) -> tuple[np.ndarray, int]:
    """Estimated row masses with every entry ``<= DEN_FLOOR · max|den|`` raised to that floor, and
    the number of entries raised.

    Such rows (an estimate ``Ã1 <= 0`` on a sharp head) leave the hull of V's rows after the division;
    their count is reported in one warning naming ``func`` and the estimate ``what`` (the default range
    safeguard of :func:`kernapprox.attention.approximate` recomputes them exactly).
    """
    floor = DEN_FLOOR * max(float(np.abs(den).max()), DEN_FLOOR)
    bad = den <= floor
    nbad = int(bad.sum())
    if not nbad:
        return den, 0
    warn(f"{func}: {nbad} of {den.size} row sums of {what} were <= 0 (or tiny) and were clipped (outside the "
         "hull of V's rows; the default range safeguard of attention.approximate recomputes them)")
    return np.where(bad, floor, den), nbad


def factor_rows(width: int, itemsize: int, *, budget: int | None = None, low: int = 64) -> int:
    """Rows of a (rows × width) tile of about ``budget`` bytes (default :data:`FACTOR_BUDGET`), at least
    ``low``."""
    return _budget_rows(width, itemsize, budget=FACTOR_BUDGET if budget is None else budget, low=low,
                        high=_NO_CAP)


def kernel_row_tiles(kernel, A: np.ndarray, B: np.ndarray, transform=None):
    """Yield ``(i0, i1, T)`` with ``T = kernel(transform(A[i0:i1]), B)`` for consecutive row tiles of A.

    ``T`` (shape (i1 − i0, len(B)), dtype of A) is a view of ONE buffer of about
    :data:`KERNEL_BUDGET`, overwritten by the next tile: use it before advancing. The values are
    those of the corresponding rows of ``kernel(transform(A), B)`` computed at once (same kernel
    routine; ``transform`` must act row-wise, e.g. :func:`scaled`), up to the rounding of the
    kernel's tiling. Extra memory O(tile + |B|), whatever len(A).
    """
    n, m = A.shape[0], B.shape[0]
    step = min(max(n, 1), factor_rows(m, A.dtype.itemsize, budget=KERNEL_BUDGET))
    buf = np.empty((step, m), dtype=A.dtype)
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        Ai = A[i0:i1] if transform is None else transform(A[i0:i1])
        yield i0, i1, kernel.block_into(Ai, B, buf[:i1 - i0])


def score_rows(m: int, itemsize: int = 8) -> int:
    """Rows per tile so that a (rows × m) score tile is about :data:`SCORE_BUDGET` (8 … 8192 rows)."""
    return _budget_rows(m, itemsize, budget=SCORE_BUDGET, low=8, high=8192)


def score_tiles(Q: np.ndarray, K: np.ndarray, step: int, *, dtype=None):
    """Yield ``(i0, i1, S)`` with the raw scores ``S = Q[i0:i1] Kᵀ`` for row tiles of ``step`` rows.

    ``S`` is a view of ONE buffer (dtype ``dtype``, default that of ``Q Kᵀ``), overwritten by the next
    tile: the one streamed score loop of the attention methods (exact targets, streamed softmax,
    log-sum-exp rows, Informer's exact measure)."""
    n, m = Q.shape[0], K.shape[0]
    step = max(1, min(max(n, 1), int(step)))
    buf = np.empty((step, m), dtype=np.result_type(Q.dtype, K.dtype) if dtype is None else dtype)
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        yield i0, i1, np.matmul(Q[i0:i1], K.T, out=buf[:i1 - i0])


def check_qkv(Q, K, V, func: str):
    """Validate one head: Q (n, p), K (m, p), V (m, pv), finite, real; returns arrays of one working dtype."""
    Q = check_points(Q, func, "Q")
    K = check_points(K, func, "K")
    V = check_points(V, func, "V")
    if Q.shape[1] != K.shape[1]:
        raise fail(func, "K", f"have the head dimension p = {Q.shape[1]} of `Q`", f"K.shape={K.shape}")
    if V.shape[0] != K.shape[0]:
        raise fail(func, "V", f"have one row per key (m = {K.shape[0]} rows)", f"V.shape={V.shape}")
    dt = working_dtype(Q, K, V)
    return Q.astype(dt, copy=False), K.astype(dt, copy=False), V.astype(dt, copy=False)


def check_d(d, func: str, *, high: int | None = None, what: str = "", name: str = "d") -> int:
    """``d`` an integer >= 1 (and <= ``high`` when given, with ``what`` explaining the bound)."""
    if d is None:
        raise fail(func, name, "be given (number of landmarks / features / sampled columns)", None)
    d = check_int(d, func, name, low=1)
    if high is not None and d > high:
        raise fail(func, name, f"be <= {high}{' (' + what + ')' if what else ''}", d)
    return d


def check_d_matches(d, given: int, func: str, name: str, what: str) -> None:
    """With pre-drawn randomness of ``given`` rows/items, an explicit ``d`` must agree with it."""
    if d is not None and check_d(d, func) != given:
        raise fail(func, "d", f"equal the number of {what} of `{name}` ({given})", d)


def scaled(X: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``X / p^{1/4}`` (the data normaliser Q̂, K̂ of algorithms.md, Notation); into ``out`` when given
    (``out=X``: in place)."""
    return np.multiply(X, 1.0 / X.shape[1] ** 0.25, out=out)


def softmax_rows(S: np.ndarray) -> np.ndarray:
    """Row softmax of a small score block, IN PLACE (row max subtracted); returns ``S``."""
    S -= S.max(axis=1, keepdims=True)
    np.exp(S, out=S)
    S /= S.sum(axis=1, keepdims=True)
    return S


def softmax_tiled(Q: np.ndarray, K: np.ndarray, V: np.ndarray, *, scale: float | None = None, rows=None,
                  bias=None, step: int | None = None, den_dtype=None) -> np.ndarray:
    """Exact ``softmax(Q Kᵀ·scale + bias) V`` (row softmax), streamed over query tiles, row max subtracted.

    ``rows`` (optional indices) restricts the computation to those query rows; ``bias`` (scalar or
    (n|1, m|1)) is added to the scaled logits; ``step``: rows per tile (default a tile of about
    :data:`FACTOR_BUDGET`, at least 32 rows); ``den_dtype``: accumulation dtype of the row sums
    (default the scores'). Extra memory: one score tile, reused for every tile, and the output.
    """
    if scale is None:
        scale = 1.0 / np.sqrt(Q.shape[1])
    Qr = Q if rows is None else Q[rows]
    n, m = Qr.shape[0], K.shape[0]
    out = np.empty((n, V.shape[1]), dtype=np.result_type(Q.dtype, V.dtype))
    if step is None:
        step = factor_rows(m, Q.dtype.itemsize, low=32)
    b = None if bias is None else np.asarray(bias)
    per_row = b is not None and b.ndim == 2 and b.shape[0] == n
    for i0, i1, S in score_tiles(Qr, K, step):
        S *= scale
        if b is not None:
            S += b[i0:i1] if per_row else b
        S -= S.max(axis=1, keepdims=True)
        np.exp(S, out=S)
        den = S.sum(axis=1, dtype=den_dtype)
        if den_dtype is not None:
            den = den.astype(out.dtype, copy=False)
        o = np.matmul(S, V, out=out[i0:i1]) if out.dtype == np.result_type(S.dtype, V.dtype) else None
        if o is None:
            out[i0:i1] = S @ V
        out[i0:i1] /= den[:, None]
    return out


def logsumexp_rows(Q: np.ndarray, K: np.ndarray, *, scale: float | None = None) -> np.ndarray:
    """``log Σ_j exp(q_i·k_j·scale)`` for every query row, streamed (float64 result, O(tile·m) memory)."""
    if scale is None:
        scale = 1.0 / np.sqrt(Q.shape[1])
    out = np.empty(Q.shape[0], dtype=np.float64)
    for i0, i1, S in score_tiles(Q, K, score_rows(K.shape[0], Q.dtype.itemsize)):
        S *= scale
        mx = S.max(axis=1, keepdims=True)
        S -= mx
        np.exp(S, out=S)
        out[i0:i1] = np.log(S.sum(axis=1, dtype=np.float64)) + mx[:, 0]
    return out


def gumbel_topk(logp: np.ndarray, k: int, gen) -> np.ndarray:
    """k indices drawn WITHOUT replacement with probabilities ∝ exp(logp) (successive sampling, as
    ``torch.multinomial(replacement=False)``), by the Gumbel-top-k trick; zero-probability entries
    (logp = -inf) come last."""
    g = logp - np.log(-np.log(gen.random(logp.shape[0])))
    return np.argsort(-g, kind="stable")[:k].astype(np.intp)
