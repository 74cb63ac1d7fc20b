"""Experiment ``rff-bootstrap``: bootstrap error estimates for random Fourier features (Yao, Erichson & Lopes).

For a Gaussian kernel matrix K (n × n) and its RFF approximation ``K̃ = Z Zᵀ`` with s features
(``Z = kernapprox.random_features(kernel, d, s, kind="rff").transform(X)``, n × s), the error variable is
``ε_s = ρ(K̃, K)`` for the paper's two metrics: ``"inf"`` = ‖K − K̃‖_∞ (max absolute row sum) and ``"op"``
= |λ_max(K̃) − λ_max(K)|. For every s the experiment records

* the true (1 − α) quantile of ε_s over ``draws`` independent RFF draws;
* the bootstrap estimate q̂ (:func:`kernapprox.bootstrap.bootstrap_error_quantile`: resample the s
  features with replacement B times, pseudo-errors ρ(K̃*, K̃), empirical (1 − α) quantile) on the first
  ``boot_draws`` of those draws — mean ± sd over draws, as in the paper's figures;
* the coverage P(ε_s ≤ q̂): for each bootstrap draw r, the fraction of the *other* true draws whose error
  lies below q̂_r, averaged over r (nominal 1 − α);
* the 1/√s extrapolation ``q̂(s) = q̂(s₀)·√(s₀/s)`` from the pilot size s₀
  (:func:`kernapprox.bootstrap.extrapolate`), mean ± sd band.

Data: the S-curve (scikit-learn's ``make_s_curve`` construction, noise 0.1, points sorted by the curve
parameter t, re-implemented here to keep scikit-learn optional) and a Lorenz trajectory (Euler steps
dt = 0.01 from (0, 1, 1.05), σ = 10, ρ = 28, β = 8/3), as in the authors' ``genTestMatrix.py``. Kernel
bandwidth = ``bandwidth_factor`` × the median pairwise distance (the authors' fixed ``10γ`` bandwidth is
tied to their unnormalised data; documented deviation).

Sizes (FULL): n = 500, s ∈ {50, 100, 200, 400, 800}, pilot s₀ = 50, 150 draws for the true quantile,
bootstrap on 15 of them with B = 30, α = 0.1 (paper: n = 25000, 300 draws, s up to 6000 — reduced to fit
≤ 5 min on two cores: the "inf" metric streams the n × n difference once per draw and per replicate).

References
----------
J. Yao, N. B. Erichson, M. E. Lopes, "Error estimation for random Fourier features", AISTATS 2023
(arXiv 2302.11174), Algorithm 1 (bootstrap), the extrapolation rule, and the matrix-approximation
experiments; code ``jwyyy/bootstrappedRFF`` (``matrix approximation/bootstrap.py``); algorithms.md §5.4.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

__all__ = ["Config", "FULL", "QUICK", "run", "plot"]

NAME = "rff-bootstrap"
TITLE = "RFF error estimation: true (1-α) error quantile vs bootstrap estimates and 1/√s extrapolation"
PAPER = "Yao, Erichson & Lopes (AISTATS 2023) matrix-approximation experiments: bootstrap quantile vs truth, extrapolation"

#: Lorenz system constants and Euler step of the authors' data generator
LORENZ_SIGMA, LORENZ_RHO, LORENZ_BETA, LORENZ_DT = 10.0, 28.0, 8.0 / 3.0, 0.01
#: number of leading Lorenz steps discarded (transient)
LORENZ_BURN_IN = 100
#: S-curve noise level (scikit-learn make_s_curve(noise=0.1) as in the authors' code)
S_CURVE_NOISE = 0.1


@dataclass(frozen=True)
class Config:
    """Sizes of the bootstrap study (see the module docstring)."""

    datasets: tuple = ("s_curve", "lorenz")
    n: int = 500
    s_values: tuple = (50, 100, 200, 400, 800)
    s0: int = 50                       # pilot size of the extrapolation
    draws: int = 150                   # independent RFF draws per s (true quantile)
    boot_draws: int = 15               # draws on which the bootstrap is run
    B: int = 30                        # bootstrap replicates
    alpha: float = 0.1
    metrics: tuple = ("inf", "op")
    bandwidth_factor: float = 0.5      # bandwidth = factor × median pairwise distance


FULL = Config()
QUICK = Config(datasets=("s_curve",), n=150, s_values=(40, 80, 160), s0=40, draws=30, boot_draws=4, B=15)


def s_curve(n: int, rng) -> np.ndarray:
    """S-curve points (n, 3), sorted by the curve parameter (scikit-learn ``make_s_curve`` construction)."""
    t = 3.0 * np.pi * (rng.uniform(size=n) - 0.5)
    y = 2.0 * rng.uniform(size=n)
    X = np.column_stack([np.sin(t), y, np.sign(t) * (np.cos(t) - 1.0)])
    X += S_CURVE_NOISE * rng.standard_normal(size=(n, 3))
    return X[np.argsort(t)]


def lorenz(n: int) -> np.ndarray:
    """Lorenz trajectory (n, 3) by explicit Euler steps from (0, 1, 1.05) (deterministic)."""
    out = np.empty((n + LORENZ_BURN_IN, 3))
    x = np.array([0.0, 1.0, 1.05])
    for i in range(out.shape[0]):
        dx = np.array([LORENZ_SIGMA * (x[1] - x[0]), x[0] * (LORENZ_RHO - x[2]) - x[1],
                       x[0] * x[1] - LORENZ_BETA * x[2]])
        x = x + LORENZ_DT * dx
        out[i] = x
    return out[LORENZ_BURN_IN:]


def _true_error(Z, K, top_K, metric, approximation_error) -> float:
    """ε_s = ρ(Z Zᵀ, K); "op" as |σ₁(Z)² − λ₁(K)| (= the library's |‖ZZᵀ‖₂ − ‖K‖₂| without an n×n SVD)."""
    if metric == "op":
        G = Z.T @ Z if Z.shape[1] <= Z.shape[0] else Z @ Z.T     # same nonzero spectrum as Z Zᵀ
        top = float(sla.eigvalsh(G, subset_by_index=[G.shape[0] - 1, G.shape[0] - 1])[0])
        return abs(top - top_K)
    return approximation_error(Z, Z, K, metric)


def run(cfg: Config, seed: int = 0) -> dict:
    """Run the study; arrays indexed (dataset, metric, s[, draw])."""
    import kernapprox as ka
    from kernapprox.bootstrap import approximation_error, bootstrap_error_quantile, extrapolate
    from ._common import median_distance, progress, quantile, trial_rngs

    D, M, S = len(cfg.datasets), len(cfg.metrics), len(cfg.s_values)
    true_err = np.full((D, M, S, cfg.draws), np.nan)
    boot_q = np.full((D, M, S, cfg.boot_draws), np.nan)
    coverage = np.full((D, M, S), np.nan)
    bandwidths = []
    data_rng = trial_rngs(seed, 1, key=(99,))[0]
    for a, name in enumerate(cfg.datasets):
        X = s_curve(cfg.n, data_rng) if name == "s_curve" else lorenz(cfg.n)
        bw = cfg.bandwidth_factor * median_distance(X)
        bandwidths.append(bw)
        kern = ka.Gaussian(bandwidth=bw)
        K = kern(X)
        top_K = float(np.linalg.eigvalsh(K)[-1])
        for j, s in enumerate(progress(cfg.s_values, desc=f"rff-bootstrap {name}")):
            rngs = trial_rngs(seed, cfg.draws + cfg.boot_draws, key=(a, j))
            for t in range(cfg.draws):
                fm = ka.random_features(kern, X.shape[1], s, kind="rff", rng=rngs[t])
                Z = fm.transform(X).astype(np.float64, copy=False)
                for b, metric in enumerate(cfg.metrics):
                    true_err[a, b, j, t] = _true_error(Z, K, top_K, metric, approximation_error)
                if t < cfg.boot_draws:
                    for b, metric in enumerate(cfg.metrics):
                        boot_q[a, b, j, t] = float(bootstrap_error_quantile(
                            Z, metric=metric, alpha=cfg.alpha, B=cfg.B, rng=rngs[cfg.draws + t]))
            for b in range(M):
                others = [np.delete(true_err[a, b, j], r) for r in range(cfg.boot_draws)]
                coverage[a, b, j] = np.mean([np.mean(o <= q) for o, q in zip(others, boot_q[a, b, j])])
    q_true = quantile(true_err, 1.0 - cfg.alpha, axis=-1)
    j0 = list(cfg.s_values).index(cfg.s0)
    s_arr = np.asarray(cfg.s_values, dtype=float)
    extrap = np.stack([np.stack([np.stack([np.asarray(extrapolate(q, cfg.s0, s_arr), dtype=float)
                                           for q in boot_q[a, b, j0]]) for b in range(M)]) for a in range(D)])
    return {
        "true_error": true_err, "true_quantile": q_true, "bootstrap_quantile": boot_q,
        "coverage": coverage, "extrapolation": extrap, "s": s_arr, "bandwidth": np.asarray(bandwidths),
        "meta": {"datasets": list(cfg.datasets), "metrics": list(cfg.metrics), "alpha": cfg.alpha,
                 "s0": cfg.s0, "B": cfg.B, "n": cfg.n, "kernel": "gaussian", "feature_map": "rff",
                 "inputs": "synthetic S-curve / Lorenz trajectory (authors' generators)"},
    }


def plot(data: dict):
    """Rows: one per metric (error vs s, log–log) + coverage vs s; columns: data sets."""
    from matplotlib.ticker import NullFormatter

    from ._common import add_provenance, new_figure
    meta = data["meta"]
    names, metrics, s = meta["datasets"], meta["metrics"], data["s"]
    alpha = float(meta["alpha"])
    fig, axes = new_figure(len(metrics) + 1, len(names), width=4.0 * len(names) + 0.6,
                           height=2.8 * (len(metrics) + 1) + 0.6)
    for a, name in enumerate(names):
        for b, metric in enumerate(metrics):
            ax = axes[b, a]
            bq = data["bootstrap_quantile"][a, b]
            ax.plot(s, data["true_quantile"][a, b], "k-o", label=f"true {1 - alpha:.0%} quantile")
            ax.errorbar(s, bq.mean(-1), yerr=bq.std(-1), fmt="s--", color="tab:red", capsize=3,
                        label="bootstrap estimate (mean ± sd)")
            ex = data["extrapolation"][a, b]
            m, sd = ex.mean(0), ex.std(0)
            ax.plot(s, m, ":", color="tab:blue", label=f"extrapolated from s₀={meta['s0']}")
            ax.fill_between(s, m - sd, m + sd, color="tab:blue", alpha=0.15)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("number of random features s")
            ax.set_ylabel(f"error ('{metric}' metric)")
            ax.set_title(f"{name}: ‖·‖ = '{metric}'")
            ax.legend(fontsize=7)
        ax = axes[len(metrics), a]
        for b, metric in enumerate(metrics):
            ax.plot(s, data["coverage"][a, b], marker="o", label=f"'{metric}'")
        ax.axhline(1 - alpha, color="k", ls="--", lw=1, label=f"nominal {1 - alpha:.2f}")
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("number of random features s")
        ax.set_ylabel("coverage P(ε_s ≤ q̂)")
        ax.set_title(f"{name}: coverage of the bootstrap quantile")
        ax.legend(fontsize=7)
        for axx in axes[:, a]:
            axx.xaxis.set_minor_formatter(NullFormatter())
            axx.set_xticks(s, [str(int(v)) for v in s])
    fig.suptitle(f"RFF error estimation (Yao, Erichson & Lopes): true {1 - alpha:.0%} error quantile\n"
                 f"vs bootstrap estimates (B={meta['B']}) and 1/√s extrapolation, n={meta['n']}", fontsize=10)
    add_provenance(fig, data)
    return fig
