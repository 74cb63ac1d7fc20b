"""Experiment ``accumulation-krr``: accumulated sub-sampling sketches for kernel ridge regression (Chen & Yang).

Sketched KRR (Yang, Pilanci & Wainwright form, :func:`kernapprox.sketched_krr`) restricts the coefficient
vector to ``α = S θ`` for a sketch S ∈ R^{n×d}. Chen & Yang's accumulated sketch sums m independent
rescaled sub-sampling matrices (:func:`kernapprox.make_sketch` ``"accumulated"``): m = 1 is plain
sub-sampling (Nyström-type), m → ∞ tends to a Gaussian sketch. The experiment sweeps the sketch size d for
m ∈ {1, 2, 4, 8} and the Gaussian sketch, and records the in-sample error ``‖K S θ̂ − f*‖²/n`` and the
wall time of sketch + fit and the kernel entries evaluated (``model.info["n_evals"]``), on two designs
with the same regression function f*:

* **high coherence**: x ~ Student t with ``df_heavy`` degrees of freedom (heavy tails: a few isolated
  points carry ridge leverage close to 1, so uniform sub-sampling misses them);
* **low coherence**: x ~ Uniform[−3, 3] (all leverage scores comparable).

The coherence of each design is reported as ``n · max_i ℓ_i(λ) / d_stat(λ)`` (ridge leverage scores of
K at the KRR regulariser, :func:`kernapprox.bounds.ridge_leverage_scores`); exact KRR is the reference.

Sizes (FULL): n = 2000, d ∈ {10, 20, 40, 80, 160}, 20 trials per point, Gaussian kernel (bandwidth 0.5),
f*(x) = sin(1.5 x) + 0.5 cos(0.7 x), noise sd 0.5, λ = 1e-3 in the library's convention
(1/n)‖y − f‖² + λ‖f‖²_H (:mod:`kernapprox.krr`).

References
----------
Y. Chen, Y. Yang, "Accumulations of projections — a unified framework for random sketches in kernel ridge
regression", AISTATS 2021 (arXiv 2103.04031), abstract claims (accumulation fixes sub-sampling under high
incoherence at little extra cost); Y. Yang, M. Pilanci, M. J. Wainwright, "Randomized sketches for kernels:
fast and optimal non-parametric regression", Ann. Statist. 2017, Eq. (7); algorithms.md §5.2.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

__all__ = ["Config", "FULL", "QUICK", "run", "plot"]

NAME = "accumulation-krr"
TITLE = "Sketched KRR: accumulated sub-sampling (m terms) vs Gaussian sketch, high- vs low-coherence design"
PAPER = "Chen & Yang (AISTATS 2021) m-sweep: accumulation vs sub-sampling vs Gaussian sketch (abstract claims)"

#: regression function and noise of both designs
NOISE_SD = 0.5
#: interval of the low-coherence (uniform) design
UNIFORM_HALF_WIDTH = 3.0


def f_star(x: np.ndarray) -> np.ndarray:
    """The regression function f*(x) = sin(1.5 x) + 0.5 cos(0.7 x) (x of shape (n, 1))."""
    return np.sin(1.5 * x[:, 0]) + 0.5 * np.cos(0.7 * x[:, 0])


@dataclass(frozen=True)
class Config:
    """Sizes of the m-sweep (see the module docstring)."""

    n: int = 2000
    ds: tuple = (10, 20, 40, 80, 160)
    ms: tuple = (1, 2, 4, 8)           # accumulation terms; the Gaussian sketch is always added
    trials: int = 20
    lam: float = 1e-3
    bandwidth: float = 0.5
    df_heavy: float = 1.5              # Student-t degrees of freedom of the high-coherence design
    designs: tuple = ("high coherence", "low coherence")


FULL = Config()
QUICK = Config(n=400, ds=(10, 40), ms=(1, 4), trials=4)


def design(name: str, cfg: Config, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw (X (n, 1), f*(X) (n,), y (n,)) for the named design."""
    if name == "high coherence":
        X = rng.standard_t(cfg.df_heavy, size=(cfg.n, 1))
    else:
        X = rng.uniform(-UNIFORM_HALF_WIDTH, UNIFORM_HALF_WIDTH, size=(cfg.n, 1))
    f = f_star(X)
    return X, f, f + NOISE_SD * rng.standard_normal(cfg.n)


def _fitted(model) -> np.ndarray:
    """In-sample fitted values ``K S θ̂`` of a :class:`kernapprox.krr.KRRModel`."""
    return np.asarray(model.fitted, dtype=np.float64)


def run(cfg: Config, seed: int = 0) -> dict:
    """Run the sweep; arrays indexed (design, sketch, d, trial); sketches = m values then "gaussian"."""
    import kernapprox as ka
    from kernapprox.bounds import ridge_leverage_scores
    from ._common import progress, trial_rngs

    sketches = [f"m={m}" for m in cfg.ms] + ["gaussian"]
    G, S, J, T = len(cfg.designs), len(sketches), len(cfg.ds), cfg.trials
    err = np.full((G, S, J, T), np.nan)
    secs = np.full((G, S, J, T), np.nan)
    evals = np.full((G, S, J, T), np.nan)
    exact_err = np.full(G, np.nan)
    coherence = np.full(G, np.nan)
    d_stat = np.full(G, np.nan)
    data_rngs = trial_rngs(seed, G, key=(0,))
    kern = ka.Gaussian(bandwidth=cfg.bandwidth)
    for g, name in enumerate(cfg.designs):
        X, f, y = design(name, cfg, data_rngs[g])
        KM = ka.KernelMatrix(kern, X)
        lev = ridge_leverage_scores(KM.dense(), cfg.n * cfg.lam)
        d_stat[g] = float(np.sum(lev))
        coherence[g] = cfg.n * float(np.max(lev)) / d_stat[g]
        # all n columns, no weights: an invertible sketch, so sketched KRR is exact KRR
        ident = ka.make_sketch("subsample", cfg.n, cfg.n, replace=False, weighted=False, rng=0)
        exact_err[g] = float(np.mean((_fitted(ka.sketched_krr(KM, y, cfg.lam, ident)) - f) ** 2))
        rngs = trial_rngs(seed, S * J * T, key=(1, g))
        grid = [(s, j, t) for s in range(S) for j in range(J) for t in range(T)]
        for s, j, t in progress(grid, desc=f"accumulation-krr {name}"):
            d, rng = cfg.ds[j], rngs[(s * J + j) * T + t]
            t0 = time.perf_counter()
            if sketches[s] == "gaussian":
                sk = ka.make_sketch("gaussian", cfg.n, d, rng=rng)
            else:
                sk = ka.make_sketch("accumulated", cfg.n, d, m=cfg.ms[s], rng=rng)
            model = ka.sketched_krr(KM, y, cfg.lam, sk)
            secs[g, s, j, t] = time.perf_counter() - t0
            evals[g, s, j, t] = model.info["n_evals"]
            fit = _fitted(model)
            err[g, s, j, t] = float(np.mean((fit - f) ** 2))
    return {
        "error": err, "seconds": secs, "n_evals": evals, "exact_error": exact_err, "coherence": coherence,
        "d_stat": d_stat,
        "ds": np.asarray(cfg.ds),
        "meta": {"designs": list(cfg.designs), "sketches": sketches, "n": cfg.n, "lam": cfg.lam,
                 "bandwidth": cfg.bandwidth, "df_heavy": cfg.df_heavy, "n_evals": int(np.nansum(evals)),
                 "inputs": "synthetic 1-D designs (Student-t / uniform), f*(x) = sin(1.5x) + 0.5cos(0.7x)"},
    }


def plot(data: dict):
    """Top row: in-sample error vs d per design; bottom row: wall time vs d."""
    from ._common import add_provenance, mean_se, new_figure
    meta = data["meta"]
    designs, sketches, ds = meta["designs"], meta["sketches"], data["ds"]
    fig, axes = new_figure(2, len(designs), width=4.2 * len(designs) + 0.6, height=6.4)
    for g, name in enumerate(designs):
        for s, label in enumerate(sketches):
            st = {"color": "black" if label == "gaussian" else f"C{s}",
                  "ls": "--" if label == "gaussian" else "-", "marker": "o"}
            m, se = mean_se(data["error"][g, s])
            axes[0, g].errorbar(ds, m, yerr=se, capsize=2, label=label, **st)
            tm = np.median(data["seconds"][g, s], axis=-1)
            axes[1, g].plot(ds, tm * 1e3, label=label, **st)
        axes[0, g].axhline(data["exact_error"][g], color="gray", ls=":", label="exact KRR")
        axes[0, g].set_title(f"{name}: n·max ℓ/d_stat = {data['coherence'][g]:.1f}, "
                             f"d_stat = {data['d_stat'][g]:.0f}")
        for r in range(2):
            axes[r, g].set_xscale("log", base=2)
            axes[r, g].set_yscale("log")
            axes[r, g].set_xlabel("sketch size d")
        axes[0, g].set_ylabel("in-sample error ‖K S θ̂ − f*‖²/n")
        axes[1, g].set_ylabel("sketch + fit wall time (ms, median)")
        axes[0, g].legend(fontsize=7)
    fig.suptitle(f"{TITLE} (n={meta['n']}, λ={meta['lam']:g})", fontsize=10)
    add_provenance(fig, data)
    return fig
