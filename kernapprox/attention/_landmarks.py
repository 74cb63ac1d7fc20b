"""Landmarks for the Skyformer family selected on the Gaussian form of the softmax kernel
(algorithms.md §13.7).

The softmax kernel factors as ``exp(x·y) = e^{‖x‖²/2} G(x, y) e^{‖y‖²/2}`` with ``G(x, y) =
exp(−‖x − y‖²/2)`` the unit Gaussian kernel. Samplers that weigh rows by the diagonal of the matrix
(k-means++ D² sampling, randomly pivoted Cholesky) run on the exponential kernel see the diagonal
``e^{‖x‖²}``, which makes them pick the longest vectors; on G (unit diagonal) they pick rows that
cover the stacked points ``X = [Q̂; K̂]`` instead. Keys are centred first (softmax attention is
invariant to translating all keys), as in Skyformer's ``center_keys``.

The returned indices are rows of the stacked ``[Q̂; K̂]`` (queries 0..n−1, keys n..n+m−1), the format of
Skyformer's ``indices`` option. The D² distances ``2 − 2G(x_i, x_l)`` and RPCholesky's pivot columns
are the Gaussian kernel columns of the chosen landmarks, i.e. (after the diagonal scaling above) the
entries of the Nyström factor ``exp(X X_Lᵀ)`` itself; an implementation that keeps them spends no
extra kernel entries on the selection. ``n_evals`` reports the entries the selection evaluated.
"""
from __future__ import annotations

import numpy as np

from .. import kernels as _kernels
from .. import sampling as _sampling
from .._validation import as_generator, check_bool, check_choice, check_int
from ..matrix import KernelMatrix
from ._common import check_qkv, scaled

__all__ = ["gaussian_landmarks", "LANDMARK_RULES"]

_FUNC = "gaussian_landmarks"
#: selection rules on the Gaussian form: D² sampling, randomly pivoted Cholesky, uniform (reference)
LANDMARK_RULES = ("kmeanspp", "rpcholesky", "uniform")


def gaussian_landmarks(Q, K, d, *, rule: str = "kmeanspp", center_keys: bool = True, rng=None,
                       return_evals: bool = False):
    """``d`` landmark rows of the stacked ``[Q̂; K̂]`` chosen on the unit Gaussian kernel.

    Parameters
    ----------
    Q : ndarray of shape (n, p)
    K : ndarray of shape (m, p)
    d : int
        Number of landmarks, ``1 <= d <= n + m``.
    rule : {"kmeanspp", "rpcholesky", "uniform"}
        k-means++ seeding (D² sampling) in the feature space of G, randomly pivoted Cholesky on G
        (unit diagonal), or uniform without replacement.
    center_keys : bool
        Subtract the mean key first (Skyformer's softmax ``center_keys``).
    rng : None, int, SeedSequence or Generator
    return_evals : bool
        Also return the number of Gaussian kernel entries evaluated.

    Returns
    -------
    indices : ndarray of int of shape (d',), d' <= d
        Rows of ``[Q̂; K̂]`` (fewer than d only when fewer distinct rows exist, with a warning of the
        sampler); pass as ``skyformer(..., target="softmax", indices=indices)``.
    n_evals : int, only with ``return_evals``
        ``(n + m)·d`` for k-means++ (the diagonal and one column per landmark but the last), about
        ``(n + m)·(d + 1)`` for RPCholesky, 0 for uniform.

    Notes
    -----
    Time O((n + m) d p). The unit diagonal makes both samplers start uniformly and then favour rows
    far (in G's feature space) from the landmarks chosen so far.

    References
    ----------
    Arthur & Vassilvitskii, SODA 2007 (k-means++); Oglic & Gärtner, ICML 2017 (kernel k-means++
    landmarks); Chen, Epperly, Tropp, Webber, CPAM 2025, Thm 2.3 (RPCholesky); algorithms.md §13.7.

    Examples
    --------
    >>> import numpy as np
    >>> Q, K = np.random.default_rng(0).normal(size=(2, 100, 8))
    >>> gaussian_landmarks(Q, K, 16, rng=0).shape
    (16,)
    """
    Q, K, _ = check_qkv(Q, K, K, _FUNC)
    n, m = Q.shape[0], K.shape[0]
    d = check_int(d, _FUNC, "d", low=1, high=n + m)
    check_choice(rule, LANDMARK_RULES, _FUNC, "rule")
    center_keys = check_bool(center_keys, _FUNC, "center_keys")
    return_evals = check_bool(return_evals, _FUNC, "return_evals")
    gen = as_generator(rng, _FUNC)
    Q64 = np.asarray(Q, dtype=np.float64)
    K64 = np.asarray(K, dtype=np.float64)
    if center_keys:
        K64 = K64 - K64.mean(axis=0)
    X = np.concatenate([scaled(Q64), scaled(K64)], axis=0)
    if rule == "uniform":
        idx = gen.choice(n + m, size=d, replace=False).astype(np.intp)
        return (idx, 0) if return_evals else idx
    KM = KernelMatrix(_kernels.Gaussian(1.0), X)
    idx = _sampling.kmeanspp(KM, d, rng=gen) if rule == "kmeanspp" else _sampling.rpcholesky(KM, d, rng=gen)
    idx = np.asarray(idx, dtype=np.intp)
    return (idx, int(KM.n_evals)) if return_evals else idx
