"""Exact attention targets for one head, streamed over query tiles (algorithms.md §2.1, §5.5, Notation)."""
from __future__ import annotations

import numpy as np
from scipy.special import expit

from ._common import tile_rows

KINDS = ("softmax", "gaussian", "sigmoid")


def exact_2d(Q, K, V, kind: str, *, bias=None, keep=None) -> np.ndarray:
    """Exact output for one head (no validation). ``bias`` scalar or (n|1, m|1) array; ``keep`` (m,) bool.

    Memory: one (tile × m) block of scores at a time.
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
    if kind == "gaussian":
        qq = 0.5 * np.einsum("ij,ij->i", Q, Q)
        kk = 0.5 * np.einsum("ij,ij->i", K, K)
    out = np.empty((n, V.shape[1]), dtype=dt)
    step = tile_rows(m, dt.itemsize)
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        S = Q[i0:i1] @ K.T
        if kind == "gaussian":
            S -= qq[i0:i1, None]
            S -= kk[None, :]
        S *= inv
        if b is not None:
            S += b[i0:i1] if (b.ndim == 2 and b.shape[0] == n) else b
        if kind == "softmax":
            S -= S.max(axis=1, keepdims=True)
            np.exp(S, out=S)
            out[i0:i1] = (S @ V) / S.sum(axis=1, dtype=np.float64)[:, None].astype(dt)
        elif kind == "gaussian":
            np.exp(S, out=S)
            out[i0:i1] = S @ V
        else:
            expit(S, out=S)
            out[i0:i1] = S @ V
    return out
