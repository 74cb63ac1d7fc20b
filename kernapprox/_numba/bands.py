"""Jitted kernels of clustered attention (:mod:`kernapprox.attention._clustered`): the exact local band
and the row normalisation fused (``band_combine``), the exact part's shifted exponentials
(``shift_exp_rows``), and the tilt's quadratic features and weighted key tiles (``quadratic_features``,
``weighted_features``).

Private (design.md §4.5): loops over contiguous arrays, preallocated output, no validation,
``cache=True``, no ``fastmath`` except FMA contraction and the reassociated sums (``_sum``,
``_axpy_rows``, :func:`kernapprox._numba.dense.row_dots`). Each kernel has a plain numpy reference
here (``*_numpy``) that it is tested against (``tests/test_attention_clustered.py``).

``band_combine`` finishes every output row i of :func:`kernapprox.attention.clustered` (algorithms.md
§13.2–13.3; the module docstring of :mod:`kernapprox.attention._clustered`, steps 4–5) from

* the exact part on the cluster's set T_c, unnormalised with the row shift ``a_i``: ``num_i =
  Σ_{T} e^{s_ij − a_i} v_j``, ``den_i = Σ_{T} e^{s_ij − a_i}`` (``a_i = −inf``: no exact key);
* the band ``|j − ⌊i·m/n⌋| <= w`` (truncated at the ends of [0, m); ``w < 0``: no band) minus the
  keys of T_c, marked by ``Pm[c, j] < 0`` (``Pm`` holds the centroid weights ``P^c_j`` elsewhere);
* the rest ``restV_i ≈ Σ_{j∉T} P^c_j f(y_ij) v_j`` and its mass ``rmass_i`` (f = 1 without a tilt),
  with the tilt ``f(y) = 1 + y + y²/2``, ``y_ij = z_i·KU_j − u_i`` on the band keys (s = 0: none).

The per-query arrays (``z, u, a, num, den, logr, restV, rmass``) are in the caller's cluster order:
query i reads row ``pos[i]``; ``Qh``, ``labels`` and ``out`` are in query order.

Per row: the band scores ``s_ij = q̂_i·k̂_j`` and weights ``P^c_j f(y_ij)``, the new shift ``a'`` =
max(a_i, band scores) (T's sums are rescaled by ``e^{a_i − a'}``), then

* ``first`` (first-order rest, ρ_i = e^{logr_i − a'}):
  ``R_i = (num_i + Σ_band (e^{s−a'} − ρ_i P^c f) v + ρ_i restV_i) / (den_i + Σ_band e^{s−a'} +
  ρ_i max(rmass_i − Σ_band P^c f, 0))``;
* otherwise (Vyas et al. Eq. (10)): with ``m̂_i = 1 − rmass_i + Σ_band P^c_j`` and ``D_i = den_i +
  Σ_band e^{s−a'}``, ``R_i = (m̂_i/D_i)(num_i + Σ_band e^{s−a'} v) − Σ_band P^c_j v_j + restV_i``
  (``m̂_i/D_i = 0`` when ``D_i = 0``).

Cost O(n·(2w + 1)·(p + s + pv)) with no temporary beyond two (2w + 1) buffers and the transposed
``KU`` (s × m, so the tilt's window products are s contiguous axpys); the score dot products are
reassociated (vectorised), the exponentials are :func:`kernapprox._numba.dense.exp64` (<= 2 ulp).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .dense import exp64, row_dots

__all__ = ["band_combine", "band_combine_numpy", "shift_exp_rows", "shift_exp_rows_numpy", "weighted_features",
           "weighted_features_numpy", "quadratic_features", "quadratic_features_numpy"]


@njit(cache=True, fastmath={"reassoc", "contract"})
def _sum(x):
    """``Σ_k x[k]`` (reassociated)."""
    acc = 0.0
    for k in range(x.shape[0]):
        acc += x[k]
    return acc


@njit(cache=True, fastmath={"reassoc", "contract"})
def _axpy_rows(coef, V, acc):
    """``acc = Σ_k coef[k] V[k]`` over the rows of V (reassociated)."""
    pv = V.shape[1]
    for t in range(pv):
        acc[t] = 0.0
    for k in range(coef.shape[0]):
        c = coef[k]
        for t in range(pv):
            acc[t] += c * V[k, t]


@njit(cache=True)
def quadratic_features(Z, c0, c1, half, out):
    """``out[i] = [c0_i, c1_i z_i, z_ia z_ib (a <= b, np.triu_indices order; × half when a = b)]``:
    1 + s + s(s + 1)/2 columns, the tilt's key features (c0 = c1 = 1, half = 1) and query
    coefficients (clustered attention, step 5)."""
    s = Z.shape[1]
    for i in range(Z.shape[0]):
        out[i, 0] = c0[i]
        for a in range(s):
            out[i, 1 + a] = c1[i] * Z[i, a]
        col = 1 + s
        for a in range(s):
            za = Z[i, a]
            out[i, col] = half * za * za
            for b in range(a + 1, s):
                out[i, col + b - a] = za * Z[i, b]
            col += s - a


def quadratic_features_numpy(Z, c0, c1, half, out):
    """Reference of :func:`quadratic_features`."""
    s = Z.shape[1]
    iu, ju = np.triu_indices(s)
    out[:, 0] = c0
    out[:, 1:1 + s] = c1[:, None] * Z
    out[:, 1 + s:] = Z[:, iu] * Z[:, ju] * np.where(iu == ju, half, 1.0)


@njit(cache=True)
def weighted_features(Wr, F, j0, out):
    """``out[j, c, a] = Wr[c, j0 + j] · F[j0 + j, a]`` for j < len(out): one key tile of the tilt's
    moment contraction (vectorised over a)."""
    for j in range(out.shape[0]):
        for c in range(Wr.shape[0]):
            wt = Wr[c, j0 + j]
            for a in range(F.shape[1]):
                out[j, c, a] = wt * F[j0 + j, a]


def weighted_features_numpy(Wr, F, j0, out):
    """Reference of :func:`weighted_features`."""
    t = out.shape[0]
    np.multiply(Wr[:, j0:j0 + t].T[:, :, None], F[j0:j0 + t, None, :], out=out)


@njit(cache=True)
def _row_max(E, i, start):
    """``max(start, max_k E[i, k])`` (four running maxima: independent compares)."""
    K = E.shape[1]
    m0 = m1 = m2 = m3 = start
    k = 0
    while k + 4 <= K:
        m0 = max(m0, E[i, k])
        m1 = max(m1, E[i, k + 1])
        m2 = max(m2, E[i, k + 2])
        m3 = max(m3, E[i, k + 3])
        k += 4
    while k < K:
        m0 = max(m0, E[i, k])
        k += 1
    return max(max(m0, m1), max(m2, m3))


@njit(cache=True, fastmath={"contract"})
def shift_exp_rows(E, a, den):
    """The exact part's weights, in place: ``a_i ← max(a_i, max_k E[i, k])``, ``E[i, k] ← exp(E[i, k] − a_i)``,
    ``den_i ← Σ_k E[i, k]`` (one pass per row; every exponential <= 1)."""
    for i in range(E.shape[0]):
        ai = _row_max(E, i, a[i])
        a[i] = ai
        for k in range(E.shape[1]):
            E[i, k] = exp64(E[i, k] - ai)
        den[i] = _sum(E[i])


def shift_exp_rows_numpy(E, a, den):
    """Reference of :func:`shift_exp_rows`."""
    a[:] = np.maximum(a, E.max(axis=1, initial=-np.inf))
    E -= a[:, None]
    np.exp(E, out=E)
    den[:] = E.sum(axis=1)


@njit(cache=True, fastmath={"contract"})
def band_combine(Qh, Kh, V, labels, pos, Pm, z, KU, u, w, a, num, den, logr, restV, rmass, first, out):
    n = Qh.shape[0]
    m = Kh.shape[0]
    pv = V.shape[1]
    s = z.shape[1]
    W = 2 * w + 1 if w >= 0 else 0
    scb = np.empty(max(W, 1))
    pbb = np.empty(max(W, 1))
    acc = np.empty(pv)
    KUt = np.empty((s, m))
    for j in range(m):
        for t in range(s):
            KUt[t, j] = KU[j, t]
    for i in range(n):
        c = labels[i]
        q = pos[i]
        lo = (i * m) // n - w
        k0 = max(0, -lo)
        k1 = max(k0, min(W, m - lo))
        j0, j1 = lo + k0, lo + k1                            # the window's keys; below, views from 0
        L = k1 - k0                                          # (loops over range(L) vectorise)
        row_dots(Qh, i, Kh, lo, k0, k1, scb)
        sc = scb[k0:k1]
        pb = pbb[k0:k1]
        u0 = -u[q] if s > 0 else 0.0
        for k in range(L):
            pb[k] = u0
        for t in range(s):                                   # y = z_i·KU_j − u_i: s axpys along the window
            zt = z[q, t]
            row = KUt[t, j0:j1]
            for k in range(L):
                pb[k] += zt * row[k]
        amax = a[q]
        pmc = Pm[c, j0:j1]
        for k in range(L):                                   # keys of T_c (Pm < 0) are counted there
            wt = pmc[k]
            keep = wt >= 0.0
            y = pb[k]
            sc[k] = sc[k] if keep else -np.inf
            pb[k] = (1.0 + y + 0.5 * y * y) * wt if keep else 0.0
            amax = max(amax, sc[k])
        if amax == -np.inf:
            amax = 0.0
        for k in range(L):
            sc[k] = exp64(sc[k] - amax)
        esum = _sum(sc)
        pbs = _sum(pb)
        r = exp64(a[q] - amax) if a[q] > -np.inf else 0.0
        if first:
            rho = exp64(logr[q] - amax)
            for k in range(L):
                sc[k] -= rho * pb[k]
            _axpy_rows(sc, V[j0:j1], acc)
            dd = den[q] * r + esum + rho * max(rmass[q] - pbs, 0.0)
            for t in range(pv):
                out[i, t] = (num[q, t] * r + acc[t] + rho * restV[q, t]) / dd
        else:
            dd = den[q] * r + esum
            scale = ((1.0 - rmass[q]) + pbs) / dd if dd > 0.0 else 0.0
            for k in range(L):
                sc[k] = scale * sc[k] - pb[k]
            _axpy_rows(sc, V[j0:j1], acc)
            for t in range(pv):
                out[i, t] = scale * num[q, t] * r + acc[t] + restV[q, t]


def band_combine_numpy(Qh, Kh, V, labels, pos, Pm, z, KU, u, w, a, num, den, logr, restV, rmass, first, out):
    """Reference of :func:`band_combine` in plain numpy (dense (n, 2w + 1) band arrays)."""
    z, u, a, num, den, logr, restV, rmass = (x[pos] for x in (z, u, a, num, den, logr, restV, rmass))
    n, m = Qh.shape[0], Kh.shape[0]
    W = 2 * w + 1 if w >= 0 else 0
    raw = ((np.arange(n) * m) // n - w)[:, None] + np.arange(W)[None, :]
    keys = np.clip(raw, 0, m - 1)
    use = (raw >= 0) & (raw < m) & (Pm[labels[:, None], keys] >= 0.0)
    S = np.where(use, np.einsum("ip,iwp->iw", Qh, Kh[keys]), -np.inf)
    pB = np.where(use, Pm[labels[:, None], keys], 0.0)
    if z.shape[1]:
        y = np.einsum("is,iws->iw", z, KU[keys]) - u[:, None]
        pB = pB * (1.0 + y + 0.5 * y * y)
    amax = np.maximum(a, S.max(axis=1, initial=-np.inf))
    amax = np.where(np.isfinite(amax), amax, 0.0)
    r = np.where(np.isfinite(a), np.exp(np.minimum(a - amax, 0.0)), 0.0)
    E = np.where(use, np.exp(S - amax[:, None]), 0.0)
    Vk = V[keys]
    if first:
        rho = np.exp(logr - amax)
        D = den * r + E.sum(axis=1) + rho * np.maximum(rmass - pB.sum(axis=1), 0.0)
        N = num * r[:, None] + np.einsum("iw,iwv->iv", E - rho[:, None] * pB, Vk) + rho[:, None] * restV
        out[:] = N / D[:, None]
    else:
        D = den * r + E.sum(axis=1)
        scale = np.where(D > 0, (1.0 - rmass + pB.sum(axis=1)) / np.where(D > 0, D, 1.0), 0.0)
        out[:] = (scale[:, None] * (num * r[:, None] + np.einsum("iw,iwv->iv", E, Vk))
                  - np.einsum("iw,iwv->iv", pB, Vk) + restV)
