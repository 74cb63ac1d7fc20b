"""Exact attention targets for one head, streamed over query tiles (algorithms.md §2.1, §5.5, Notation)."""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from .._numba.reduce import column_range
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
    lo, hi, _ = column_range_of(V)
    return _box(lo, hi, V.shape[0], kind)


def _box(lo, hi, m: int, kind: str):
    """The box of :func:`output_range` from the column minima ``lo`` and maxima ``hi`` of V (m rows)."""
    if kind == "softmax":
        return lo, hi
    return m * np.minimum(lo, 0.0), m * np.maximum(hi, 0.0)


def column_range_of(A) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(lo, hi, finite)`` of a 2-D float array with n >= 1 rows: float64 column minima and maxima
    (exact) and whether every entry is finite (lo/hi unspecified where it is not), in one jitted pass
    over A (:func:`kernapprox._numba.reduce.column_range`)."""
    p = A.shape[1]
    lo, hi, bad = np.empty(p), np.empty(p), np.empty(p)
    column_range(A, lo, hi, bad)
    return lo, hi, not np.isnan(bad).any()


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
    if out.shape[0] == 0:
        return out, info
    vlo, vhi, _ = column_range_of(V)
    vmax = max(-float(vlo.min(initial=0.0)), float(vhi.max(initial=0.0)), float(np.finfo(np.float64).tiny))
    lo, hi = _box(vlo, vhi, V.shape[0], kind)
    tol = RANGE_EPS_MULTIPLE * float(np.finfo(out.dtype).eps) * vmax
    olo, ohi, finite = column_range_of(out)
    # every row inside the box: one pass over the output, no temporary
    if finite and np.all(olo >= lo - tol) and np.all(ohi <= hi + tol):
        return out, info
    with np.errstate(invalid="ignore", over="ignore"):
        o = out.astype(np.float64, copy=False)
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
