"""Experiment ``nystrom-kpca``: Nyström kernel PCA vs exact KPCA vs random-feature KPCA (Sterge & Sriperumbudur).

All three estimate the top ℓ eigenfunctions of the empirical covariance operator on the RKHS
(:mod:`kernapprox.kpca`, uncentred as in the paper) from ``n_train`` points and are scored by the mean
held-out reconstruction error ``E_x ‖(I − P_ℓ) k(·, x)‖²_H`` on ``n_test`` other points:

* exact KPCA (:func:`kernapprox.kpca.exact_kpca`) — the reference, O(n³);
* Nyström KPCA with m uniformly sampled landmarks (:func:`kernapprox.kpca.nystrom_kpca`) — the method of
  the paper — and, as a library extra, with m RPCholesky pivots as landmarks (:func:`kernapprox.rpcholesky`);
* random-feature KPCA with m random Fourier features (:func:`kernapprox.kpca.rff_kpca`), the competitor
  the paper compares against at equal m.

The claim (JMLR 2022 abstract) is that Nyström KPCA attains the statistical accuracy of exact KPCA with m
much smaller than n (m of the order of an effective dimension times log factors), and that it beats the
random-feature approximation. The figure shows the held-out error vs m and the excess over exact KPCA.

Sizes (FULL): digits (scikit-learn, 1797 × 64: 1200 train / 597 test) and the ``smile`` cloud (n = 1800:
1200 / 600), Gaussian kernel with bandwidth = ``bandwidth_factor`` × median pairwise distance, ℓ = 10,
m ∈ {10, 20, 40, 80, 160, 320, 640}, 10 trials (landmarks / features re-drawn; the split is fixed).

References
----------
B. Sterge, B. K. Sriperumbudur, "Statistical optimality and computational efficiency of Nyström kernel
PCA", JMLR 23(337), 2022 (abstract); B. Sterge, V. Srinivasan, B. K. Sriperumbudur, "Gain with no pain:
efficiency of kernel-PCA by Nyström sampling", AISTATS 2020 (abstract); algorithms.md §5.1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Config", "FULL", "QUICK", "run", "plot"]

NAME = "nystrom-kpca"
TITLE = "Kernel PCA: held-out reconstruction error vs m — Nyström vs exact vs random-feature KPCA"
PAPER = "Sterge & Sriperumbudur (JMLR 2022; AISTATS 2020): Nyström KPCA matches exact KPCA with m ≪ n, beats RF-KPCA"

#: approximate KPCA variants, in plotting order
METHODS = ("nystrom (uniform)", "nystrom (rpcholesky)", "random features (rff)")
#: points on which the median pairwise distance (bandwidth heuristic) is computed
MEDIAN_POINTS = 500


@dataclass(frozen=True)
class Config:
    """Sizes of the KPCA comparison (see the module docstring)."""

    datasets: tuple = ("digits", "smile")
    n_train: int = 1200
    n_test: int = 600                  # digits: capped at 1797 − n_train
    n_components: int = 10
    ms: tuple = (10, 20, 40, 80, 160, 320, 640)
    trials: int = 10
    bandwidth_factor: float = 1.0


FULL = Config()
QUICK = Config(datasets=("digits",), n_train=300, n_test=200, ms=(10, 25, 75), trials=2)


def _load(name: str, n: int, rng) -> np.ndarray:
    """n points of the named data set in random order (digits: at most its 1797 images)."""
    from ..datasets import clouds
    if name == "digits":
        return clouds.digits(min(n, 1797), rng=rng)
    return getattr(clouds, name)(n, rng=rng)[rng.permutation(n)]


def _fit(method: str, kern, X, ell: int, m: int, rng):
    import kernapprox as ka
    from kernapprox import kpca
    if method == "nystrom (uniform)":
        return kpca.nystrom_kpca(kern, X, ell, m, rng=rng)
    if method == "nystrom (rpcholesky)":
        idx = ka.rpcholesky(ka.KernelMatrix(kern, X), m, rng=rng).info["indices"]
        return kpca.nystrom_kpca(kern, X, ell, np.asarray(idx))
    return kpca.rff_kpca(kern, X, ell, m, kind="rff", rng=rng)


def run(cfg: Config, seed: int = 0) -> dict:
    """Run the comparison; ``error`` has shape (datasets, methods, ms, trials)."""
    import kernapprox as ka
    from kernapprox import kpca
    from ._common import median_distance, progress, trial_rngs

    D, M, J, T = len(cfg.datasets), len(METHODS), len(cfg.ms), cfg.trials
    err = np.full((D, M, J, T), np.nan)
    exact = np.full(D, np.nan)
    trace_test = np.full(D, np.nan)
    sizes, bandwidths = [], []
    data_rngs = trial_rngs(seed, D, key=(0,))
    for a, name in enumerate(cfg.datasets):
        X = _load(name, cfg.n_train + cfg.n_test, data_rngs[a])
        n_test = min(cfg.n_test, X.shape[0] - cfg.n_train)
        Xtr, Xte = X[:cfg.n_train], X[cfg.n_train:cfg.n_train + n_test]
        bw = cfg.bandwidth_factor * median_distance(Xtr, MEDIAN_POINTS)
        kern = ka.Gaussian(bandwidth=bw)
        sizes.append((cfg.n_train, n_test))
        bandwidths.append(bw)
        exact[a] = kpca.exact_kpca(kern, Xtr, cfg.n_components).reconstruction_error(Xte)
        trace_test[a] = float(np.mean(kern.diag(Xte)))
        rngs = trial_rngs(seed, M * J * T, key=(1, a))
        grid = [(b, j, t) for b in range(M) for j in range(J) for t in range(T)]
        for b, j, t in progress(grid, desc=f"nystrom-kpca {name}"):
            m = cfg.ms[j]
            if m > cfg.n_train or m < cfg.n_components:
                continue
            res = _fit(METHODS[b], kern, Xtr, cfg.n_components, m, rngs[(b * J + j) * T + t])
            err[a, b, j, t] = res.reconstruction_error(Xte)
    return {
        "error": err, "exact_error": exact, "mean_k_xx": trace_test, "ms": np.asarray(cfg.ms),
        "sizes": np.asarray(sizes), "bandwidth": np.asarray(bandwidths),
        "meta": {"datasets": list(cfg.datasets), "methods": list(METHODS), "n_components": cfg.n_components,
                 "kernel": "gaussian", "centred": False,
                 "inputs": "scikit-learn digits (real) and the smile point cloud (synthetic)"},
    }


def plot(data: dict):
    """Top row: held-out reconstruction error vs m; bottom row: excess over exact KPCA (log scale)."""
    from ._common import add_provenance, mean_se, new_figure
    meta = data["meta"]
    names, methods, ms = meta["datasets"], meta["methods"], data["ms"]
    fig, axes = new_figure(2, len(names), width=4.4 * len(names) + 0.6, height=6.6)
    colors = ["tab:blue", "tab:purple", "tab:green"]
    for a, name in enumerate(names):
        ex = float(data["exact_error"][a])
        for b, method in enumerate(methods):
            m, se = mean_se(data["error"][a, b])
            kw = dict(color=colors[b % 3], marker="os^"[b % 3], capsize=2, label=method)
            axes[0, a].errorbar(ms, m, yerr=se, **kw)
            excess = np.maximum(data["error"][a, b] - ex, 1e-12)
            em, ese = mean_se(excess)
            axes[1, a].errorbar(ms, em, yerr=ese, **kw)
        axes[0, a].axhline(ex, color="black", ls="--", label="exact KPCA")
        n_tr, n_te = (int(v) for v in data["sizes"][a])
        axes[0, a].set_title(f"{name}: ℓ = {meta['n_components']}, n_train = {n_tr}, n_test = {n_te}")
        axes[0, a].set_ylabel("held-out reconstruction error E‖(I−P_ℓ)φ(x)‖²_H")
        axes[1, a].set_ylabel("excess over exact KPCA")
        for r in range(2):
            axes[r, a].set_xscale("log", base=2)
            axes[r, a].set_xlabel("landmarks / random features m")
        axes[0, a].set_yscale("log")
        axes[1, a].set_yscale("log")
        axes[0, a].legend(fontsize=7)
    fig.suptitle("Kernel PCA, held-out reconstruction error vs m:\nNyström vs exact vs random-feature KPCA "
                 "(Sterge & Sriperumbudur)", fontsize=10)
    add_provenance(fig, data)
    return fig
