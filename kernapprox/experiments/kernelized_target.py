"""Kernelized attention target C V: Skyformer vs random Fourier features vs Nyströmformer.

Skyformer's own target (Chen, Zeng, Ji, Yang, NeurIPS 2021, §4.1 Eq. (3); algorithms.md §2.1, §2.7,
§9.3): ``C V`` with ``C = κ(Q̂, K̂)``, ``C_ij = exp(−‖q_i − k_j‖²/(2√p))`` (no row normalisation). We
plot the relative spectral loss ``‖CV − R‖₂ / ‖CV‖₂`` vs d for

* Skyformer, paper setting (uniform landmarks over the 2n stacked rows, exact pinv — Thm 2) and the
  authors' code setting (stratified landmarks, γ = 0.1, Lemma 3 + 6 Razavi iterations);
* random features for the Gaussian kernel, ``C ≈ z(Q̂)ᵀ z(K̂)``: RFF, ORF and SORF (method ``"rff"``);
* the Nyströmformer construction applied to κ (segment-mean landmarks of Q̂ and K̂, 6 Razavi
  iterations from the paper's start ``Wᵀ/(‖W‖₁‖W‖_∞)``, or the exact pseudo-inverse, of
  ``W = κ(Q̃, K̃)``: the non-PSD Nyström the paper contrasts with) — the library's
  ``nystromformer(..., target="gaussian")``.

Inputs as in ``skyformer-fig1`` (MiniLM initialised / pretrained, else the synthetic proxy).

FULL: n ∈ {1024, 4096}, d ∈ {16, …, 256}, 8 trials per panel (≈ 1–2 min). QUICK: n = 256, d ∈ {16, 64}.
"""
from __future__ import annotations

import dataclasses

from . import _common as C

__all__ = ["Config", "FULL", "QUICK", "run", "plot"]

NAME = "kernelized-target"
TITLE = "Kernelized attention C V: Skyformer (paper / code) vs RFF / ORF / SORF vs Nystromformer-on-kernel"
PAPER = "Skyformer (Chen et al., NeurIPS 2021) §4.1 Eq. (3), §4.2-4.4; RFF baselines (Rahimi & Recht 2007, Yu et al. 2016)"


def rff_sorf(Q, K, V, *, d, rng=None):
    """RFF attention with structured orthogonal frequencies (SORF, Yu et al. 2016 §4): the frequencies
    and phases of ``random_features(Gaussian(1), p, d, kind="sorf")`` passed to the ``"rff"`` method."""
    from .. import attention
    from ..features import random_features
    from ..kernels import Gaussian
    fm = random_features(Gaussian(1.0), Q.shape[1], d, kind="sorf", rng=rng)
    return attention.approximate(Q, K, V, method="rff", omega=fm.omega, phase=fm.phase,
                                 safeguard="none")


METHODS = {
    "Skyformer (paper: uniform 2n, pinv)": ("skyformer", {"target": "gaussian", "preset": "paper"}),
    "Skyformer (code: stratified, NS γ=0.1)": ("skyformer", {"target": "gaussian", "preset": "code"}),
    "RFF": ("rff", {}),
    "ORF": ("rff", {"orthogonal": True}),
    "SORF": rff_sorf,
    "Nystromformer on κ (6 Razavi)": ("nystromformer", {"target": "gaussian"}),
    "Nystromformer on κ (pinv)": ("nystromformer", {"target": "gaussian", "core": "pinv"}),
}


@dataclasses.dataclass(frozen=True)
class Config:
    ns: tuple = (1024, 4096)
    ds: tuple = (16, 32, 64, 128, 256)
    kinds: tuple = C.INPUT_KINDS
    methods: tuple = tuple(METHODS)
    windows: int = 2
    heads_per_window: int = 4
    inputs: str = "auto"


FULL = Config()
QUICK = Config(ns=(256,), ds=(16, 64), windows=1, heads_per_window=2)


def run(cfg: Config, seed) -> dict:
    return C.run_attention_config(NAME, METHODS, cfg, seed, target="gaussian", relative=True)


def plot(data):
    return C.plot_loss_grid(data, logy=True, cycle=True, ylabel="relative spectral loss ‖CV − R‖/‖CV‖",
                            title="Kernelized attention target C V: relative spectral loss vs d (mean ± s.e.)")
