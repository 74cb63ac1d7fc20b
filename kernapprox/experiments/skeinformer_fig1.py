"""Skeinformer Figure 1: spectral-norm loss (log scale) of the softmax output vs d.

Regenerates Chen, Zeng, Hakkani-Tur, Jin, Ji, Yang, "Sketching as a Tool for Understanding and
Accelerating Self-attention for Long Sequences" (Skeinformer, NAACL 2022) §5 Fig. 1 (algorithms.md
§3.7): ``‖D⁻¹AV − R‖₂`` for Skeinformer (Alg. 1), V-Mean, Informer and Linformer (softmax of the
JL-sketched scores), plus "Linformer w/ unreduced JLT" ``D⁻¹A S Sᵀ V`` (the sketch the paper uses in
Table 1); panels n ∈ {1024, 4096} × {initialised, pretrained}; log-scale y, mean ± standard error.

The paper averages 768 trials; we use text windows × heads (FULL: 3 × 4 = 12 per panel) — the
standard errors in the figure say how much that matters. Inputs as in ``skyformer-fig1``.

FULL: n ∈ {1024, 4096}, d ∈ {8, …, 256}, 12 trials, ≈ 2–3 min on 2 cores. QUICK: n = 256, d ∈ {8, 32}.
"""
from __future__ import annotations

import dataclasses

from . import _common as C

__all__ = ["Config", "FULL", "QUICK", "run", "plot"]

NAME = "skeinformer-fig1"
TITLE = "Skeinformer Fig. 1: softmax-output spectral loss vs d, log scale (Skeinformer, V-Mean, Informer, Linformer)"
PAPER = "Skeinformer (Chen et al., NAACL 2022) §5 Figure 1"

METHODS = {
    "Skeinformer": ("skeinformer", {}),
    "V-Mean": ("vmean", {}),
    "Informer": ("informer", {}),
    "Linformer": ("linformer", {}),
    "Linformer (unreduced JLT)": ("linformer", {"variant": "unreduced_jlt"}),
}


@dataclasses.dataclass(frozen=True)
class Config:
    ns: tuple = (1024, 4096)
    ds: tuple = (8, 16, 32, 64, 128, 256)
    kinds: tuple = C.INPUT_KINDS
    methods: tuple = tuple(METHODS)
    windows: int = 3
    heads_per_window: int = 4
    inputs: str = "auto"


FULL = Config()
QUICK = Config(ns=(256,), ds=(8, 32), windows=1, heads_per_window=2)


def run(cfg: Config, seed) -> dict:
    return C.run_attention_config(NAME, METHODS, cfg, seed, target="softmax")


def plot(data):
    return C.plot_loss_grid(data, logy=True,
                            title="Skeinformer Fig. 1 analogue: ‖D⁻¹AV − R‖₂ vs d (log scale, mean ± s.e.)")
