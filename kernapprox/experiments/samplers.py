"""Experiment ``samplers``: every PSD landmark sampler on four point clouds.

Relative trace error ``tr(K − K̂)/tr(K)`` and relative spectral error ``‖K − K̂‖₂/‖K‖₂`` of the
Nyström approximation K̂ against the number of landmarks k and against the number of kernel entries
each method evaluated (``KernelMatrix.n_evals``: the sampler's own evaluations plus the Nyström
columns), for uniform, diagonal, column-norm, exact ridge-leverage, recursive-RLS, k-means++ and greedy
landmarks (each followed by :func:`kernapprox.nystrom`) and for randomly pivoted Cholesky (simple, block
and accelerated; :func:`kernapprox.rpcholesky`), on ``smile``, ``spiral``, ``outliers`` and ``digits``
(:mod:`kernapprox.datasets.clouds`). The dashed line on the trace panels is the RPCholesky expected
trace-error guarantee of Chen, Epperly, Tropp & Webber, minimised over the comparison rank r
(:func:`kernapprox.bounds.rpcholesky_trace_bound` where available).

Sizes (FULL): n = 1000 points per synthetic cloud, 1000 of the 1797 scikit-learn digits (uniform
subsample), k ∈ {10, 20, 40, 80, 160, 320}, 5 trials (child generators of the root seed); Gaussian kernel
with the fixed per-data-set bandwidths of :data:`kernapprox.datasets.clouds.SUGGESTED_BANDWIDTH`
(smile 0.1, spiral 0.05, outliers 1, digits 2) — the one rule shared with the README's sampler table
(``benchmarks/bench_nystrom.py``), so the figure and the table describe the same kernels. The bandwidth
decides the outcome on ``outliers``: with bandwidth 1 every far point is its own eigen-direction, which
leverage scores, greedy and RPCholesky find and uniform sampling misses.
Spectral errors by the matrix-free Lanczos of :func:`kernapprox.spectral_error` (its certified lower
bound and upper estimate agree to its default tolerance); the exact ridge-leverage sampler costs one
O(n³) eigendecomposition per call, which is what limits n.

References
----------
Y. Chen, E. N. Epperly, J. A. Tropp, R. J. Webber, "Randomly pivoted Cholesky: practical approximation
of a kernel matrix with few entry evaluations", CPAM 2025 (arXiv 2207.06503), Alg. 1–2, Thm 2.3 and the
smile/spiral/outlier experiments of §4; E. N. Epperly, J. A. Tropp, R. J. Webber, "Embrace rejection:
kernel matrix approximation by accelerated randomly pivoted Cholesky" (2024); C. Musco, C. Musco,
"Recursive sampling for the Nyström method", NeurIPS 2017; design.md §5.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["Config", "FULL", "QUICK", "run", "plot"]

NAME = "samplers"
TITLE = "PSD landmark samplers: relative trace / spectral error vs k and vs kernel entries evaluated"
PAPER = ("Chen, Epperly, Tropp & Webber (RPCholesky) §4 figures (smile, spiral, outliers) and Thm 2.3 "
         "expected trace-error guarantee; design.md §5 sampler comparison")

#: every sampler of the comparison, in plotting order
METHODS = ("uniform", "diagonal", "column_norm", "leverage", "recursive_rls", "kmeanspp", "greedy",
           "rpcholesky", "rpcholesky_block", "rpcholesky_accel")
#: block size of the block RPCholesky variant
BLOCK_SIZE = 10


@dataclass(frozen=True)
class Config:
    """Sizes of the sampler comparison (see the module docstring)."""

    datasets: tuple = ("smile", "spiral", "outliers", "digits")
    n: int = 1000                      # points per synthetic cloud
    n_digits: int = 1000               # 0: all 1797 digits, else a uniform subsample of that size
    ks: tuple = (10, 20, 40, 80, 160, 320)
    methods: tuple = METHODS
    trials: int = 5
    # Gaussian bandwidth per data set: datasets.clouds.SUGGESTED_BANDWIDTH (as the README table)
    bandwidths: tuple = (("smile", 0.1), ("spiral", 0.05), ("outliers", 1.0), ("digits", 2.0))


FULL = Config()
QUICK = Config(n=200, n_digits=200, ks=(10, 40), trials=2)


def _load(name: str, cfg: Config, rng):
    from ..datasets import clouds
    if name == "digits":
        return clouds.digits(cfg.n_digits or None, rng=rng)
    return getattr(clouds, name)(cfg.n, rng=rng)


def _approximate(KM, method: str, k: int, rng):
    """One approximation by ``method`` with k landmarks; returns the PSDLowRank result."""
    import kernapprox as ka
    if method == "rpcholesky":
        return ka.rpcholesky(KM, k, rng=rng)
    if method == "rpcholesky_block":
        return ka.rpcholesky(KM, k, block_size=BLOCK_SIZE, rng=rng)
    if method == "rpcholesky_accel":
        return ka.rpcholesky(KM, k, accelerated=True, rng=rng)
    if method == "greedy":
        return ka.greedy_cholesky(KM, k)
    idx = ka.sample_landmarks(KM, k, method=method, rng=rng)
    return ka.nystrom(KM, idx)


def _bandwidth(cfg: Config, name: str) -> float:
    """Gaussian bandwidth of data set ``name``: ``cfg.bandwidths``, else the suggested one of the clouds."""
    from ..datasets.clouds import SUGGESTED_BANDWIDTH
    bws = dict(cfg.bandwidths)
    if name in bws:
        return float(bws[name])
    if name in SUGGESTED_BANDWIDTH:
        return float(SUGGESTED_BANDWIDTH[name])
    raise ValueError(f"samplers.run: `cfg.bandwidths` must give a bandwidth for {name!r}; got {cfg.bandwidths!r}")


def _trace_bound(K: np.ndarray, k: int) -> float:
    """RPCholesky expected relative trace-error guarantee at k columns (Chen et al. Thm 2.3, min over r)."""
    from ..bounds import rpcholesky_trace_bound
    return float(rpcholesky_trace_bound(K, k)) / float(np.trace(K))


def run(cfg: Config, seed: int = 0) -> dict:
    """Run the comparison; arrays of shape (datasets, methods, ks, trials)."""
    import kernapprox as ka
    from ._common import progress, trial_rngs

    D, M, J, T = len(cfg.datasets), len(cfg.methods), len(cfg.ks), cfg.trials
    trace_err = np.full((D, M, J, T), np.nan)
    spec_err = np.full((D, M, J, T), np.nan)
    n_evals = np.full((D, M, J, T), np.nan)
    seconds = np.full((D, M, J, T), np.nan)
    rank = np.full((D, M, J, T), np.nan)
    bound = np.full((D, J), np.nan)
    sizes, bandwidths = [], []
    rngs = trial_rngs(seed, D + D * M * J * T)      # D data generators, then one per trial
    data_rngs, trials = rngs[:D], rngs[D:]
    for a, name in enumerate(cfg.datasets):
        X = _load(name, cfg, data_rngs[a])
        bw = _bandwidth(cfg, name)
        kern = ka.Gaussian(bandwidth=bw)
        K = kern(X)
        trK, normK = float(np.trace(K)), float(np.linalg.eigvalsh(K)[-1])
        sizes.append(X.shape[0])
        bandwidths.append(bw)
        for j, k in enumerate(cfg.ks):
            bound[a, j] = _trace_bound(K, k)
        grid = [(b, j, t) for b in range(M) for j in range(J) for t in range(T)]
        for b, j, t in progress(grid, desc=f"samplers {name}"):
            method, k = cfg.methods[b], cfg.ks[j]
            KM = ka.KernelMatrix(kern, X)
            rng = trials[((a * M + b) * J + j) * T + t]
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                # Cholesky methods stop early (with a warning) once the residual is numerically zero:
                # expected for smooth kernels at large k; the returned rank is recorded instead
                warnings.filterwarnings("ignore", message=".*stopped early.*", category=ka.KernapproxWarning)
                approx = _approximate(KM, method, k, rng)
            seconds[a, b, j, t] = time.perf_counter() - t0
            rank[a, b, j, t] = approx.rank
            n_evals[a, b, j, t] = KM.n_evals
            trace_err[a, b, j, t] = (trK - float(approx.trace())) / trK
            spec_err[a, b, j, t] = float(ka.spectral_error(K, approx, method="lanczos", rng=rng)) / normK
    return {
        "trace_error": trace_err, "spectral_error": spec_err, "n_evals": n_evals, "seconds": seconds, "rank": rank,
        "rpcholesky_bound": bound, "ks": np.asarray(cfg.ks), "n_points": np.asarray(sizes),
        "bandwidth": np.asarray(bandwidths),
        "meta": {"datasets": list(cfg.datasets), "methods": list(cfg.methods), "kernel": "gaussian",
                 "inputs": "point clouds smile/spiral/outliers (synthetic) and scikit-learn digits (real)",
                 "block_size": BLOCK_SIZE, "n_evals": int(np.nansum(n_evals))},
    }


def plot(data: dict):
    """3 × len(datasets) panels: trace error vs k, spectral error vs k, trace error vs entries evaluated."""
    from matplotlib.ticker import NullFormatter

    from ._common import add_provenance, new_figure
    meta = data["meta"]
    names, methods, ks = meta["datasets"], meta["methods"], data["ks"]
    fig, axes = new_figure(3, len(names), width=3.3 * len(names) + 1.6, height=9.0)
    colors = dict(zip(METHODS, [f"C{i}" for i in range(len(METHODS))]))
    styles = {m: ("-" if m.startswith("rpcholesky") else "--") for m in METHODS}
    for a, name in enumerate(names):
        for b, m in enumerate(methods):
            tr = np.nanmedian(data["trace_error"][a, b], axis=-1)
            sp = np.nanmedian(data["spectral_error"][a, b], axis=-1)
            ev = np.nanmedian(data["n_evals"][a, b], axis=-1)
            kw = dict(color=colors.get(m), ls=styles.get(m, "-"), marker="o", ms=3, label=m)
            axes[0, a].loglog(ks, np.maximum(tr, 1e-16), **kw)
            axes[1, a].loglog(ks, np.maximum(sp, 1e-16), **kw)
            axes[2, a].loglog(ev, np.maximum(tr, 1e-16), **kw)
        bnd = data["rpcholesky_bound"][a]
        if np.any(np.isfinite(bnd)):
            axes[0, a].loglog(ks, bnd, "k:", lw=1.5, label="RPCholesky E-bound")
        axes[0, a].set_title(f"{name} (n={int(data['n_points'][a])}, bandwidth {float(data['bandwidth'][a]):g})")
        axes[0, a].set_xlabel("landmarks k")
        axes[1, a].set_xlabel("landmarks k")
        axes[2, a].set_xlabel("kernel entries evaluated")
        for r in range(3):
            axes[r, a].xaxis.set_minor_formatter(NullFormatter())
    axes[0, 0].set_ylabel("relative trace error")
    axes[1, 0].set_ylabel("relative spectral error")
    axes[2, 0].set_ylabel("relative trace error")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", ncol=1, fontsize=8, frameon=False)
    fig.suptitle(f"{TITLE}\n(median over {data['trace_error'].shape[-1]} trials; Gaussian kernel, bandwidth in "
                 "each panel title: datasets.clouds.SUGGESTED_BANDWIDTH)", fontsize=10)
    add_provenance(fig, data)
    return fig
