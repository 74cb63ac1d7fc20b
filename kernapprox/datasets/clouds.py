"""Named point clouds for PSD kernel-approximation studies (design.md §5).

Each generator returns an ``(n, d)`` float64 array; randomness only through ``rng``. The suggested
Gaussian bandwidths (:data:`SUGGESTED_BANDWIDTH`) give kernel matrices whose spectra decay at very
different rates, which is what makes sampler comparisons informative:

* :func:`smile` — two dense "eyes" and a curved "mouth" in 2-D (clusters of different density);
* :func:`spiral` — a noisy 2-D spiral (a 1-D manifold; slowly decaying spectrum);
* :func:`outliers` — one dense cluster plus a few far, isolated points: every outlier is its own
  eigen-direction of the Gaussian kernel, so uniform sampling misses most of them (trace error ≈
  fraction of outliers missed) while adaptive samplers (RPCholesky, leverage scores) find them;
* :func:`digits` — scikit-learn's bundled 8×8 handwritten digits (1797 × 64, scaled to [0, 1]):
  a real data set available offline.
"""
from __future__ import annotations

import numpy as np

from .._validation import as_generator, check_int, check_positive, check_probability, check_size_product

__all__ = ["smile", "spiral", "outliers", "digits", "CLOUDS"]

#: Gaussian bandwidths used in the README accuracy table (and a good starting point).
SUGGESTED_BANDWIDTH = {"smile": 0.1, "spiral": 0.05, "outliers": 1.0, "digits": 2.0}


def smile(n: int = 2000, *, rng=None) -> np.ndarray:
    """A smiley face in 2-D: two small dense eyes (¼ of the points each) and a mouth arc (½).

    Parameters
    ----------
    n : int >= 4
    rng : seed or Generator

    Returns
    -------
    ndarray of shape (n, 2), float64
        Eyes: isotropic Gaussians (σ = 0.08) at (±0.6, 0.6); mouth: the lower arc of the circle of
        radius 1 around the origin (angles 200°…340°) with Gaussian noise σ = 0.04.
    """
    n = check_int(n, "smile", "n", low=4)
    g = as_generator(rng, "smile")
    check_size_product("smile", {"n": n, "d": 2}, copies=3)
    n_eye = n // 4
    n_mouth = n - 2 * n_eye
    left = g.normal(loc=(-0.6, 0.6), scale=0.08, size=(n_eye, 2))
    right = g.normal(loc=(0.6, 0.6), scale=0.08, size=(n_eye, 2))
    theta = g.uniform(np.deg2rad(200.0), np.deg2rad(340.0), size=n_mouth)
    mouth = np.column_stack([np.cos(theta), np.sin(theta)]) + g.normal(scale=0.04, size=(n_mouth, 2))
    X = np.vstack([left, right, mouth])
    return X[g.permutation(n)]


def spiral(n: int = 2000, *, turns: float = 3.0, noise: float = 0.02, rng=None) -> np.ndarray:
    """A noisy 2-D Archimedean spiral ``r = t, θ = 2π·turns·t``, t uniform on [0.05, 1].

    Parameters
    ----------
    n : int >= 1
    turns : float > 0, default 3
    noise : float >= 0, default 0.02
        Standard deviation of the isotropic Gaussian noise.
    rng : seed or Generator

    Returns
    -------
    ndarray of shape (n, 2), float64
    """
    n = check_int(n, "spiral", "n", low=1)
    turns = check_positive(turns, "spiral", "turns")
    noise = check_positive(noise, "spiral", "noise", allow_zero=True)
    g = as_generator(rng, "spiral")
    check_size_product("spiral", {"n": n, "d": 2}, copies=3)
    t = g.uniform(0.05, 1.0, size=n)
    th = 2.0 * np.pi * turns * t
    X = np.column_stack([t * np.cos(th), t * np.sin(th)])
    return X + noise * g.normal(size=(n, 2))


def outliers(n: int = 2000, *, frac: float = 0.025, d: int = 2, spread: float = 100.0,
             rng=None) -> np.ndarray:
    """One dense cluster plus far, isolated outliers — where uniform landmark sampling fails.

    Parameters
    ----------
    n : int >= 2
    frac : float in (0, 1), default 0.025
        Fraction of outliers (at least one).
    d : int >= 1, default 2
    spread : float > 0, default 100
        Outliers are uniform in the cube ``[-spread, spread]^d`` (the cluster: N(0, 0.1² I) at 0).
    rng : seed or Generator

    Returns
    -------
    ndarray of shape (n, d), float64
        Rows in random order.

    Notes
    -----
    With the Gaussian kernel of bandwidth 1 the cluster's kernel block has a few large eigenvalues and
    each outlier adds an eigenvalue ≈ 1: uniform sampling with k landmarks catches ≈ k·frac of the
    ``m = frac·n`` outliers and leaves a relative trace error ≈ frac·(1 − k/n).
    """
    func = "outliers"
    n = check_int(n, func, "n", low=2)
    frac = check_probability(frac, func, "frac")
    d = check_int(d, func, "d", low=1)
    spread = check_positive(spread, func, "spread")
    g = as_generator(rng, func)
    check_size_product(func, {"n": n, "d": d}, copies=3)
    m = max(1, int(round(frac * n)))
    cluster = g.normal(scale=0.1, size=(n - m, d))
    far = g.uniform(-spread, spread, size=(m, d))
    X = np.vstack([cluster, far])
    return X[g.permutation(n)]


def digits(n: int | None = None, *, rng=None) -> np.ndarray:
    """scikit-learn's bundled handwritten digits (offline), pixel values scaled to [0, 1].

    Parameters
    ----------
    n : int, optional
        Return a uniformly random subset of n of the 1797 images (without replacement).
    rng : seed or Generator
        Only used with ``n``.

    Returns
    -------
    ndarray of shape (1797, 64) or (n, 64), float64

    Notes
    -----
    Read with scikit-learn (a core dependency of kernapprox), which ships the file, so no download;
    E. Alpaydin, C. Kaynak, UCI "Optical Recognition of Handwritten Digits" (1998).
    """
    from sklearn.datasets import load_digits
    X = load_digits().data.astype(np.float64) / 16.0
    if n is None:
        return X
    n = check_int(n, "digits", "n", low=1, high=X.shape[0])
    return X[as_generator(rng, "digits").choice(X.shape[0], size=n, replace=False)]


#: name -> generator, for loops over data sets (``digits`` takes n as a subset size).
CLOUDS = {"smile": smile, "spiral": spiral, "outliers": outliers, "digits": digits}
