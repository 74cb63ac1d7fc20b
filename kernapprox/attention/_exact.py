"""Exact attention targets for one head, streamed over query tiles (algorithms.md §2.1, §5.5, Notation)."""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from ._common import score_rows, score_tiles, softmax_tiled

KINDS = ("softmax", "gaussian", "sigmoid")


def exact_2d(Q, K, V, kind: str, *, bias=None, keep=None) -> np.ndarray:
    """Exact output for one head (no validation). ``bias`` scalar or (n|1, m|1) array; ``keep`` (m,) bool.

    Memory: one (tile × m) block of scores at a time (:func:`kernapprox.attention._common.score_tiles`;
    the softmax target is :func:`~kernapprox.attention._common.softmax_tiled` with float64 row sums).
    """
    n, p = Q.shape
    m = K.shape[0]
    dt = Q.dtype
    inv = dt.type(1.0 / np.sqrt(p))
    if keep is not None and not keep.all():
        K, V = K[keep], V[keep]
        if bias is not None and np.ndim(bias) == 2 and np.shape(bias)[1] == m:
            bias = np.asarray(bias)[:, keep]
        m = K.shape[0]
    b = None if bias is None else np.asarray(bias, dtype=dt)
    step = score_rows(m, dt.itemsize)
    if kind == "softmax":
        return softmax_tiled(Q, K, V, scale=inv, bias=b, step=step, den_dtype=np.float64)
    if kind == "gaussian":
        qq = 0.5 * np.einsum("ij,ij->i", Q, Q)
        kk = 0.5 * np.einsum("ij,ij->i", K, K)
    out = np.empty((n, V.shape[1]), dtype=dt)
    for i0, i1, S in score_tiles(Q, K, step):
        if kind == "gaussian":
            S -= qq[i0:i1, None]
            S -= kk[None, :]
        S *= inv
        if b is not None:
            S += b[i0:i1] if (b.ndim == 2 and b.shape[0] == n) else b
        if kind == "gaussian":
            np.exp(S, out=S)
        else:
            expit(S, out=S)
        out[i0:i1] = S @ V
    return out


# -- the range safeguard of the approximators ------------------------------------------------------
#: Safeguard policies of :func:`kernapprox.attention.approximate` (see :func:`safeguard_rows`).
SAFEGUARDS = ("exact", "clip", "none")
#: Rounding allowance of the range check, in units of ``eps(dtype) · max|V|``: a convex combination
#: of m rows evaluated in floating point is within ~√m·eps·max|V| of the box (64 covers m ≤ 4096).
RANGE_EPS_MULTIPLE = 64.0


def output_range(V: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-column bounds ``(lo, hi)`` (float64, shape (pv,)) that every exact output row obeys.

    ``"softmax"``: a row of ``D⁻¹AV`` is a convex combination of the rows of V, so it lies in the
    convex hull of those rows and hence in the box ``[min_j V_jk, max_j V_jk]``. ``"gaussian"`` /
    ``"sigmoid"``: ``0 < C_ij ≤ 1``, so ``(CV)_ik`` lies in ``m·[min(min_j V_jk, 0), max(max_j V_jk, 0)]``.
    """
    V = np.asarray(V, dtype=np.float64)
    lo, hi = V.min(axis=0), V.max(axis=0)
    if kind == "softmax":
        return lo, hi
    m = V.shape[0]
    return m * np.minimum(lo, 0.0), m * np.maximum(hi, 0.0)


def safeguard_rows(out: np.ndarray, Q: np.ndarray, K: np.ndarray, V: np.ndarray, kind: str,
                   mode: str) -> tuple[np.ndarray, dict]:
    """Keep an approximate attention output inside the exact output's natural range, row by row.

    A row is *out of range* when it is not finite or leaves the box of :func:`output_range` by more
    than rounding (``RANGE_EPS_MULTIPLE · eps(dtype) · max|V|``). A row whose excess over the box is
    larger than the box's own width (or that is not finite) carries no usable information — for the
    softmax target it comes from an estimated row mass ``Ã1`` that is ≤ 0 or tiny, the failure of
    pseudo-inverse based estimators (Skyformer's SM variant, Nyströmformer) on sharp heads:

    * ``mode="exact"``: such rows are recomputed exactly (``exact_2d`` on those query rows, m score
      evaluations each); rows only slightly out of range are projected onto the box (clipped);
    * ``mode="clip"``: every out-of-range row is projected onto the box (non-finite rows are
      recomputed exactly, as clipping cannot repair them);
    * ``mode="none"``: the output is returned unchanged.

    Clipping a coordinate to an interval that contains the exact value never increases that
    coordinate's error, so the box projection never increases any entry's error (nor the Frobenius
    loss). The exact rows make the output the exact target on those rows.

    Returns ``(out, info)`` with ``info = {"exact_rows": ndarray of int, "clipped_rows": int,
    "n_evals": added score evaluations}``; ``out`` is modified in place when it is writeable.
    Cost: O(n·pv) for the check, plus O(m·(p + pv)) per exactly recomputed row.
    """
    info = {"exact_rows": np.zeros(0, dtype=np.intp), "clipped_rows": 0, "n_evals": 0}
    if mode == "none":
        return out, info
    lo, hi = output_range(V, kind)
    vmax = max(-float(np.min(V)), float(np.max(V)), float(np.finfo(np.float64).tiny))   # max|V|, no |V| temporary
    tol = RANGE_EPS_MULTIPLE * float(np.finfo(out.dtype).eps) * vmax
    with np.errstate(invalid="ignore", over="ignore"):
        o = out.astype(np.float64, copy=False)
        # every row inside the box (NaN fails both comparisons): two column reductions, no temporary
        if o.size and np.all(o.min(axis=0) >= lo - tol) and np.all(o.max(axis=0) <= hi + tol):
            return out, info
        excess = np.maximum(lo - o, o - hi)                          # > 0 outside the box
        finite = np.isfinite(o).all(axis=1)
        bad = ~finite | (excess > tol).any(axis=1)
        if not bad.any():
            return out, info
        gross = ~finite | (excess > (hi - lo) + tol).any(axis=1)
    redo = gross if mode == "exact" else ~finite
    clip = bad & ~redo
    if not out.flags.writeable:
        out = out.copy()
    if clip.any():
        out[clip] = np.clip(o[clip], lo, hi).astype(out.dtype, copy=False)
    rows = np.flatnonzero(redo)
    if rows.size:
        out[rows] = exact_2d(Q[rows], K, V, kind)
    info.update(exact_rows=rows, clipped_rows=int(clip.sum()), n_evals=int(rows.size) * K.shape[0])
    return out, info
