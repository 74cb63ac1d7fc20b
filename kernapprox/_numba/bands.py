"""Jitted final pass of clustered attention: the exact local band and the row normalisation, fused.

Private (design.md §4.5): loops over contiguous arrays, preallocated output, no validation,
``cache=True``, no ``fastmath`` except the reassociated sums (:func:`kernapprox._numba.dense.row_dots`,
``_axpy_rows``). :func:`band_combine_numpy` is the plain numpy reference it is tested against
(``tests/test_attention_clustered.py``).

``band_combine`` finishes every output row i of :func:`kernapprox.attention.clustered` (algorithms.md
§13.2–13.3; the module docstring of :mod:`kernapprox.attention._clustered`, steps 4–5) from

* the exact part on the cluster's set T_c, unnormalised with the row shift ``a_i``: ``num_i =
  Σ_{T} e^{s_ij − a_i} v_j``, ``den_i = Σ_{T} e^{s_ij − a_i}`` (``a_i = −inf``: no exact key);
* the band ``|j − ⌊i·m/n⌋| <= w`` (truncated at the ends of [0, m); ``w < 0``: no band) minus the
  keys of T_c, marked by ``Pm[c, j] < 0`` (``Pm`` holds the centroid weights ``P^c_j`` elsewhere);
* the rest ``restV_i ≈ Σ_{j∉T} P^c_j f(y_ij) v_j`` and its mass ``rmass_i`` (f = 1 without a tilt),
  with the tilt ``f(y) = 1 + y + y²/2``, ``y_ij = z_i·KU_j − u_i`` on the band keys (s = 0: none).

Per row: the band scores ``s_ij = q̂_i·k̂_j`` and weights ``P^c_j f(y_ij)``, the new shift ``a'`` =
max(a_i, band scores) (T's sums are rescaled by ``e^{a_i − a'}``), then

* ``first`` (first-order rest, ρ_i = e^{logr_i − a'}):
  ``R_i = (num_i + Σ_band (e^{s−a'} − ρ_i P^c f) v + ρ_i restV_i) / (den_i + Σ_band e^{s−a'} +
  ρ_i max(rmass_i − Σ_band P^c f, 0))``;
* otherwise (Vyas et al. Eq. (10)): with ``m̂_i = 1 − rmass_i + Σ_band P^c_j`` and ``D_i = den_i +
  Σ_band e^{s−a'}``, ``R_i = (m̂_i/D_i)(num_i + Σ_band e^{s−a'} v) − Σ_band P^c_j v_j + restV_i``
  (``m̂_i/D_i = 0`` when ``D_i = 0``).

Cost O(n·(2w + 1)·(p + s + pv)) with no temporary beyond three (2w + 1) buffers; the dot products
are reassociated (vectorised), the exponentials are :func:`kernapprox._numba.dense.exp64` (<= 2 ulp).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .dense import exp64, row_dots

__all__ = ["band_combine", "band_combine_numpy"]


@njit(cache=True, fastmath={"reassoc", "contract"})
def _axpy_rows(coef, V, lo, k0, k1, acc):
    """``acc = Σ_{k0<=k<k1} coef[k] V[lo + k]`` (reassociated)."""
    pv = V.shape[1]
    for t in range(pv):
        acc[t] = 0.0
    for k in range(k0, k1):
        c = coef[k]
        for t in range(pv):
            acc[t] += c * V[lo + k, t]


@njit(cache=True)
def band_combine(Qh, Kh, V, labels, Pm, z, KU, u, w, a, num, den, logr, restV, rmass, first, out):
    n = Qh.shape[0]
    m = Kh.shape[0]
    pv = V.shape[1]
    s = z.shape[1]
    W = 2 * w + 1 if w >= 0 else 0
    sc = np.empty(max(W, 1))
    pb = np.empty(max(W, 1))
    ev = np.empty(max(W, 1))
    acc = np.empty(pv)
    for i in range(n):
        c = labels[i]
        lo = (i * m) // n - w
        k0 = max(0, -lo)
        k1 = max(k0, min(W, m - lo))
        amax = a[i]
        row_dots(Qh, i, Kh, lo, k0, k1, sc)
        if s > 0:
            row_dots(z, i, KU, lo, k0, k1, pb)
            for k in range(k0, k1):
                y = pb[k] - u[i]
                pb[k] = 1.0 + y + 0.5 * y * y
        else:
            for k in range(k0, k1):
                pb[k] = 1.0
        for k in range(k0, k1):
            wt = Pm[c, lo + k]
            if wt < 0.0:                                     # a key of T_c: counted there
                sc[k] = -np.inf
                pb[k] = 0.0
            else:
                pb[k] *= wt
                amax = max(amax, sc[k])
        if amax == -np.inf:
            amax = 0.0
        for k in range(k0, k1):
            ev[k] = exp64(sc[k] - amax)
        r = exp64(a[i] - amax) if a[i] > -np.inf else 0.0
        rho = exp64(logr[i] - amax) if first else 0.0
        esum = 0.0
        pbs = 0.0
        for k in range(k0, k1):
            esum += ev[k]
            pbs += pb[k]
        if first:
            for k in range(k0, k1):
                sc[k] = ev[k] - rho * pb[k]
            _axpy_rows(sc, V, lo, k0, k1, acc)
            dd = den[i] * r + esum + rho * max(rmass[i] - pbs, 0.0)
            for t in range(pv):
                out[i, t] = (num[i, t] * r + acc[t] + rho * restV[i, t]) / dd
        else:
            dd = den[i] * r + esum
            scale = ((1.0 - rmass[i]) + pbs) / dd if dd > 0.0 else 0.0
            for k in range(k0, k1):
                sc[k] = scale * ev[k] - pb[k]
            _axpy_rows(sc, V, lo, k0, k1, acc)
            for t in range(pv):
                out[i, t] = scale * num[i, t] * r + acc[t] + restV[i, t]


def band_combine_numpy(Qh, Kh, V, labels, Pm, z, KU, u, w, a, num, den, logr, restV, rmass, first, out):
    """Reference of :func:`band_combine` in plain numpy (dense (n, 2w + 1) band arrays)."""
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
