"""Skyformer Figure 1: spectral-norm loss of the softmax-attention output vs the number of features d.

Regenerates Chen, Zeng, Ji, Yang, "Skyformer" (NeurIPS 2021) §4.5 Fig. 1 (algorithms.md §2.9): for
sequence lengths n ∈ {512, 1024, 2048, 4096} (columns) and randomly initialised / pretrained inputs
(rows), the loss ``‖D⁻¹AV − R‖₂`` of Skyformer (softmax variant, §2.8), Nyströmformer, Performer and
Informer vs d ∈ {16, …, 256}; mean ± standard error over trials (text windows × attention heads).
Skyformer is drawn twice: with centred keys (the library default; softmax attention is invariant
under a common key translation, the SM augmentation is not — see ``kernapprox.attention._skyformer``)
and as the paper's formula on the raw keys, whose pretrained-input trials include clipped
non-positive row sums of Ã (losses ~1e152).

Inputs: real per-head Q, K, V of all-MiniLM-L6-v2 (p = 32, layer 2) on offline English text when the
``models`` extra is installed, else the synthetic proxy (the figure says which). The paper used
bert-base (p = 64) on Wikitext-2.

FULL: 4 n × 5 d × 5 methods × 2 kinds × 8 trials (2 windows × 4 heads); ≈ 2–5 min on 2 cores.
QUICK: n ∈ {256, 512}, d ∈ {16, 64}, 2 trials.
"""
from __future__ import annotations

import dataclasses

from . import _common as C

__all__ = ["Config", "FULL", "QUICK", "run", "plot"]

NAME = "skyformer-fig1"
TITLE = "Skyformer Fig. 1: softmax-output spectral loss vs d (Skyformer, Nyströmformer, Performer, Informer)"
PAPER = "Skyformer (Chen et al., NeurIPS 2021) §4.5 Figure 1"

#: method label -> (registry name, options); Skyformer is the Fig. 1 softmax variant (§2.8), with the
#: keys centred (``center_keys=True``, the library default: softmax is invariant to translating all keys,
#: and centring them at their mean shrinks the key self-similarities of the augmented matrix of Lemma 1)
#: and, for comparison, the paper's formula on the raw keys (``center_keys=False``)
METHODS = {
    "Skyformer": ("skyformer", {"target": "softmax"}),
    "Skyformer, raw keys": ("skyformer", {"target": "softmax", "center_keys": False}),
    "Nystromformer": ("nystromformer", {}),
    "Performer": ("performer", {}),
    "Informer": ("informer", {}),
}


@dataclasses.dataclass(frozen=True)
class Config:
    ns: tuple = (512, 1024, 2048, 4096)
    ds: tuple = (16, 32, 64, 128, 256)
    kinds: tuple = C.INPUT_KINDS
    methods: tuple = tuple(METHODS)
    windows: int = 2          # text windows (or synthetic draws) per (kind, n)
    heads_per_window: int = 4  # attention heads per window; trials = windows × heads_per_window
    inputs: str = "auto"      # "auto" | "model" | "synthetic"


FULL = Config()
QUICK = Config(ns=(128, 256), ds=(16, 64), windows=1, heads_per_window=2)


def run(cfg: Config, seed) -> dict:
    return C.run_attention_config(NAME, METHODS, cfg, seed, target="softmax")


def plot(data):
    return C.plot_loss_grid(data, title="Skyformer Fig. 1 analogue: ‖D⁻¹AV − R‖₂ vs d (mean ± s.e.)")
