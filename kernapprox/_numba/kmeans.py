"""Jitted k-means++ seeding (D² sampling) and centroid means on the rows of a matrix.

Private (design.md §4.5): loops over contiguous arrays, preallocated outputs, no validation,
``cache=True``, no ``fastmath``; the dot products of a seed with every row are one BLAS matrix-vector
product (``np.dot``, as the numpy reference's ``X @ X[s]``). Each routine has a plain numpy reference
here that it is tested against (``tests/test_attention_clustered.py``).

* ``kmeanspp_rows(X, sq, first, u, rounding, D)``: Arthur & Vassilvitskii (SODA 2007, §2.2) on the rows
  of X (``sq`` their squared norms): seed 0 is ``first``; seed t draws the row i with probability ∝
  the squared distance to the nearest seed so far, by inverse-CDF search of the running sums with the
  uniform ``u[t − 1]`` (``numpy.searchsorted(cumsum, u·total, "right")``, the draw of
  :func:`kernapprox._random.sample_proportional`). Column t of ``D`` (n, C) receives the squared
  distances to seed t, ``‖x‖² + ‖y‖² − 2x·y`` with values at most ``rounding·(‖x‖² + ‖y‖²)`` set
  to 0 (cancellation: duplicate rows). Stops when every remaining distance is 0; returns the seeds
  drawn (their number is the columns of D filled).
* ``centroid_means(X, labels, counts, cent)``: ``cent[c]`` ← the mean of the rows labelled c (rows
  with ``counts[c] = 0`` are left as they are).
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["kmeanspp_rows", "kmeanspp_rows_numpy", "seed_distances", "centroid_means", "centroid_means_numpy"]


@njit(cache=True)
def _column(X, sq, s, rounding, D, t, dots):
    np.dot(X, X[s], dots)                                   # one BLAS matrix-vector product
    for i in range(X.shape[0]):
        v = sq[i] + sq[s] - 2.0 * dots[i]
        D[i, t] = 0.0 if v <= rounding * (sq[i] + sq[s]) else v


@njit(cache=True)
def kmeanspp_rows(X, sq, first, u, rounding, D):
    n = X.shape[0]
    C = D.shape[1]
    seeds = np.empty(C, dtype=np.int64)
    seeds[0] = first
    dots = np.empty(n)
    _column(X, sq, first, rounding, D, 0, dots)
    near = D[:, 0].copy()
    k = 1
    while k < C:
        near[seeds[k - 1]] = 0.0
        total = 0.0
        for i in range(n):
            total += near[i]
        if not total > 0.0:
            break
        target = u[k - 1] * total
        acc = 0.0
        pick = n - 1
        for i in range(n):
            acc += near[i]
            if acc > target:
                pick = i
                break
        seeds[k] = pick
        _column(X, sq, pick, rounding, D, k, dots)
        for i in range(n):
            if D[i, k] < near[i]:
                near[i] = D[i, k]
        k += 1
    return seeds[:k]


def kmeanspp_rows_numpy(X, sq, first, u, rounding, D):
    """Reference of :func:`kmeanspp_rows` (numpy cumulative sums and ``searchsorted``)."""
    def column(s):
        col = sq + sq[s] - 2.0 * (X @ X[s])
        col[col <= rounding * (sq + sq[s])] = 0.0
        return col
    seeds = [int(first)]
    D[:, 0] = column(first)
    near = D[:, 0].copy()
    while len(seeds) < D.shape[1]:
        near[seeds[-1]] = 0.0
        c = np.cumsum(near)
        if not c[-1] > 0.0:
            break
        seeds.append(int(min(np.searchsorted(c, u[len(seeds) - 1] * c[-1], side="right"), X.shape[0] - 1)))
        D[:, len(seeds) - 1] = column(seeds[-1])
        np.minimum(near, D[:, len(seeds) - 1], out=near)
    return np.asarray(seeds, dtype=np.int64)


@njit(cache=True)
def centroid_means(X, labels, counts, cent):
    C, p = cent.shape
    acc = np.zeros((C, p))
    for i in range(X.shape[0]):
        c = labels[i]
        for t in range(p):
            acc[c, t] += X[i, t]
    for c in range(C):
        if counts[c] > 0:
            for t in range(p):
                cent[c, t] = acc[c, t] / counts[c]


def centroid_means_numpy(X, labels, counts, cent):
    """Reference of :func:`centroid_means`."""
    full = counts > 0
    sums = np.zeros_like(cent)
    np.add.at(sums, labels, X)
    cent[full] = sums[full] / counts[full, None]


@njit(cache=True)
def seed_distances(X, sq, seeds, rounding, D):
    """Column t of D ← the squared distances to row ``seeds[t]``, as :func:`kmeanspp_rows` computes them
    (equal bits: replaying given seeds assigns the rows as the seeding did)."""
    dots = np.empty(X.shape[0])
    for t in range(seeds.shape[0]):
        _column(X, sq, seeds[t], rounding, D, t, dots)
