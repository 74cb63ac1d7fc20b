"""Skyformer Theorem 2 regenerated numerically: empirical ‖C − C̃‖ vs the guaranteed error λ*(d).

Chen, Zeng, Ji, Yang, "Skyformer" (NeurIPS 2021) §4.3 Theorem 2 (proof App. C–D; algorithms.md
§2.6): with d uniform landmarks from the 2n rows of ``[Q̂; K̂]`` and the exact pseudo-inverse, with
probability ≥ 1 − δ the Loewner sandwich ``C̄̃ ⪯ C̄ ⪯ C̄̃ + λI`` holds and hence ``‖C − C̃‖ ≤ λ``,
provided ``d ≥ (56/3)(d_stat/β) log(4n/δ)``. Inverting that condition gives the guaranteed error
``λ*(d)`` (:func:`kernapprox.bounds.skyformer_guaranteed_error`).

For each input scale s (``Q = s·G₁, K = s·G₂``, the scale family of algorithms.md §8, p = 64: s sets
the kernel's bandwidth regime) one (Q, K) is fixed and ``trials`` landmark draws are made per d. We
record the block error ``‖C − C̃‖₂`` (mean, (1−δ)-quantile), the augmented error ``‖C̄ − C̄̃‖₂``
(which bounds it), ``λ*(d)``, ``d_stat(λ*(d))``, whether λ*(d) is vacuous (≥ ‖C‖), the frequency of
the sandwich at λ = λ*(d) and at λ = the observed (1−δ)-quantile of ``‖C̄ − C̄̃‖``, and the spectrum of
the Lemma-3-normalised landmark block (γ = 0.1) for the Lemma 3 check.

FULL: n = 384 (2n = 768), s ∈ {0.15, 0.5, 1.0}, d ∈ {16, …, 512}, 20 trials, δ = 0.1 (≈ 2 min).
QUICK: n = 96, s ∈ {0.15, 1.0}, d ∈ {16, 256} (d > 2n is allowed: landmarks are drawn with
replacement; at s = 0.15, d = 256 the guarantee is non-vacuous), 5 trials.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from . import _common as C

__all__ = ["Config", "FULL", "QUICK", "run", "plot"]

NAME = "skyformer-bound"
TITLE = "Skyformer Thm 2: empirical ||C - C~|| vs guaranteed error lambda*(d), Loewner sandwich frequency"
PAPER = "Skyformer (Chen et al., NeurIPS 2021) §4.3 Theorem 2, App. C Lemma C.2, §4.4 Lemma 3"

#: eigenvalues of C̄ − C̄̃ (and of C̄̃ + λI − C̄) above −SANDWICH_RTOL·‖C̄‖ count as ≥ 0 (float64 rounding
#: of a 2n×2n eigendecomposition plus the pinv cutoff is ≲ 1e-12·‖C̄‖; 1e-9 leaves ample margin)
SANDWICH_RTOL = 1e-9
#: the authors' code's ridge in the Lemma-3 normalisation
LEMMA3_GAMMA = 0.1


@dataclasses.dataclass(frozen=True)
class Config:
    n: int = 384
    p: int = 64
    scales: tuple = (0.15, 0.5, 1.0)
    ds: tuple = (16, 32, 64, 128, 256, 512)
    trials: int = 20
    delta: float = 0.1


FULL = Config()
QUICK = Config(n=96, scales=(0.15, 1.0), ds=(16, 256), trials=5)


def run(cfg: Config, seed) -> dict:
    from .. import augmented_nystrom
    from .._cores import lemma3_normalise
    from ..bounds import skyformer_completion, skyformer_guaranteed_error
    from ..datasets.qkv import scaled_qkv
    from ..kernels import Gaussian
    S_, D_ = len(cfg.scales), len(cfg.ds)
    shape = (S_, D_, cfg.trials)
    err, aug, lo, hi = (np.full(shape, np.nan) for _ in range(4))
    l3min, l3max = np.full(shape, np.nan), np.full(shape, np.nan)
    lam, dstat, vac = (np.full((S_, D_), np.nan) for _ in range(3))
    normC, normCbar = np.zeros(S_), np.zeros(S_)
    kern = Gaussian(1.0)
    n_evals = 0
    for a, s in enumerate(cfg.scales):
        gen = C.trial_rngs(seed, 1, key=(a, 999))[0]
        Q, K, _ = scaled_qkv(cfg.n, p=cfg.p, scale=s, rng=gen)
        Qh, Kh = Q / cfg.p ** 0.25, K / cfg.p ** 0.25
        X = np.vstack([Qh, Kh])
        Cbar, Cm = skyformer_completion(Q, K)
        normC[a] = np.linalg.norm(Cm, 2)
        normCbar[a] = np.linalg.eigvalsh(Cbar)[-1]
        for e, d in enumerate(cfg.ds):
            lam[a, e], det = skyformer_guaranteed_error(Q, K, d, cfg.delta, return_details=True)
            dstat[a, e], vac[a, e] = det["d_stat"], det["vacuous"]
            for t, r in enumerate(C.progress(C.trial_rngs(seed, cfg.trials, key=(a, e)),
                                             desc=f"{NAME} s={s} d={d}")):
                # C̃: Skyformer's block (Eq. 6), theorem setting: uniform over 2n rows, exact pinv
                Ct = augmented_nystrom(kern, Qh, Kh, d, landmarks="uniform2n", core="pinv", rng=r)
                idx = np.asarray(Ct.info["indices"])
                n_evals += int(Ct.info.get("n_evals", 0))
                err[a, e, t] = np.linalg.norm(Cm - Ct.to_dense(), 2)
                # C̄̃ with the same landmarks: the augmented construction on (X, X) reads off the full
                # 2n×2n Nyström approximation (indices < 2n pick rows of the first copy of X)
                Cbt = augmented_nystrom(kern, X, X, indices=idx, core="pinv").to_dense()
                ev = np.linalg.eigvalsh(0.5 * ((Cbar - Cbt) + (Cbar - Cbt).T))
                lo[a, e, t] = ev[0] / normCbar[a]            # λ_min(C̄ − C̄̃)/‖C̄‖ (≥ 0 ⇔ C̄̃ ⪯ C̄)
                aug[a, e, t] = ev[-1]                        # ‖C̄ − C̄̃‖ (the difference is PSD)
                hi[a, e, t] = (lam[a, e] - ev[-1]) / normCbar[a]  # λ_min(C̄̃ + λ*I − C̄)/‖C̄‖
                M = kern.block(X[idx], X[idx])
                Nn, _ = lemma3_normalise(M, LEMMA3_GAMMA)
                w = np.linalg.eigvalsh(0.5 * (Nn + Nn.T))
                l3min[a, e, t], l3max[a, e, t] = w[0], w[-1]
    sandwich = (lo >= -SANDWICH_RTOL) & (hi >= -SANDWICH_RTOL)
    q = C.quantile(aug, 1 - cfg.delta, axis=-1)  # (scales, ds)
    sandwich_q = (lo >= -SANDWICH_RTOL) & ((q[..., None] - aug) / normCbar[:, None, None] >= -SANDWICH_RTOL)
    return {
        "scales": np.array(cfg.scales), "ds": np.array(cfg.ds), "err": err, "aug_err": aug,
        "lam_star": lam, "d_stat": dstat, "vacuous": vac.astype(bool), "norm_C": normC, "norm_Cbar": normCbar,
        "sandwich_lower": lo, "sandwich_upper": hi, "sandwich": sandwich, "sandwich_at_quantile": sandwich_q,
        "lemma3_min": l3min, "lemma3_max": l3max, "delta": cfg.delta,
        "meta": {"inputs": f"synthetic scale family Q = s*G1, K = s*G2 (p = {cfg.p}, n = {cfg.n})",
                 "n_evals": n_evals, "sandwich_rtol": SANDWICH_RTOL, "lemma3_gamma": LEMMA3_GAMMA,
                 "landmarks": "uniform over the 2n stacked rows (with replacement), exact pinv"},
    }


def plot(data):
    scales, ds, delta = data["scales"], data["ds"], float(data["delta"])
    fig, axes = C.new_figure(2, len(scales), width=3.3 * len(scales) + 2.8, height=6.0)
    for a, s in enumerate(scales):
        ax = axes[0, a]
        mean, se = C.mean_se(data["err"][a], axis=-1)
        C.plot_curve(ax, ds, mean, se, label="‖C − C̃‖ mean", color="tab:red", marker="o", logy=True)
        ax.plot(ds, C.quantile(data["err"][a], 1 - delta, axis=-1), "--", color="tab:red", marker="v",
                label=f"‖C − C̃‖ {1 - delta:.0%} quantile")
        ax.plot(ds, C.quantile(data["aug_err"][a], 1 - delta, axis=-1), ":", color="tab:orange", marker="^",
                label=f"‖C̄ − C̄̃‖ {1 - delta:.0%} quantile")
        lam = data["lam_star"][a]
        vac = data["vacuous"][a]
        ax.plot(ds, lam, "-", color="black", marker="s", label="Thm 2 guaranteed λ*(d)")
        if vac.any():
            ax.plot(ds[vac], lam[vac], "s", color="white", markeredgecolor="black", label="λ* vacuous (≥ ‖C‖)")
        ax.axhline(float(data["norm_C"][a]), color="0.5", lw=1, ls="-.", label="‖C‖")
        ax.set_title(f"scale s = {s:g}")
        ax.set_xlabel("landmarks d")
        ax.set_xticks(ds, [str(int(d)) for d in ds])
        if a == 0:
            ax.set_ylabel("spectral error")
        ax2 = axes[1, a]
        freq = data["sandwich"][a].mean(axis=-1)
        freq_q = data["sandwich_at_quantile"][a].mean(axis=-1)
        ax2.plot(ds, freq, "o-", color="tab:blue", label="sandwich at λ = λ*(d)")
        ax2.plot(ds, freq_q, "s--", color="tab:cyan", label=f"sandwich at λ = {1 - delta:.0%} q. of ‖C̄ − C̄̃‖")
        ax2.axhline(1 - delta, color="black", lw=1, ls=":", label="1 − δ")
        ax2.set_xscale("log", base=2)
        ax2.set_xticks(ds, [str(int(d)) for d in ds])
        ax2.set_ylim(-0.05, 1.05)
        ax2.set_xlabel("landmarks d")
        if a == 0:
            ax2.set_ylabel("frequency of C̄̃ ⪯ C̄ ⪯ C̄̃ + λI")
        tw = ax2.twinx()
        tw.plot(ds, data["d_stat"][a], "d-", color="tab:green", label="d_stat(λ*(d))")
        tw.set_yscale("log")
        if a == len(scales) - 1:
            tw.set_ylabel("d_stat(λ*(d))", color="tab:green")
        tw.tick_params(axis="y", colors="tab:green")
        tw.grid(False)
    h1, l1 = axes[0, 0].get_legend_handles_labels()
    h2, l2 = axes[1, 0].get_legend_handles_labels()
    h3, l3 = tw.get_legend_handles_labels()
    fig.legend(h1 + h2 + h3, l1 + l2 + l3, loc="outside right center")
    fig.suptitle(f"Skyformer Theorem 2 (δ = {delta:g}): empirical error vs guaranteed λ*(d);\n"
                 "frequency of the Loewner sandwich and d_stat(λ*(d))", fontsize=10)
    C.add_provenance(fig, data)
    return fig
