"""Skeinformer ablations: the contribution of each component of Algorithm 1 to the output error.

The paper's ablation rows (Skeinformer NAACL 2022, Table 1 — reported there as LRA accuracy) measured
here directly as the spectral-norm loss ``‖D⁻¹AV − R‖₂`` vs d (algorithms.md §3.4–§3.6), with the
library's ablation flags of ``attention.skeinformer``:

* Skeinformer (Alg. 1: pilot sampling, V-aware column sampling, adaptive row normalisation, pilot reuse);
* w/o column sampling (``column_sampling="uniform", pilot_reuse=False`` — the code's ablation class);
* w/o row normalization (``row_normalization="exact"``: exact D times ``A[:, J'] V[J']``, unweighted as
  in the code) and the Prop. 1 estimator ``B S Sᵀ V`` (``importance_weights=True``);
* w/ simple row normalization (``row_normalization="simple"``, softmax over the selected columns);
* w/o pilot sampling reutilization (``pilot_reuse=False``);
* V-Mean (the d → 0 limit).

FULL: n = 2048, d ∈ {8, …, 256}, 8 trials per input kind (≈ 1–2 min). QUICK: n = 256, d ∈ {8, 32}.
"""
from __future__ import annotations

import dataclasses

from . import _common as C

__all__ = ["Config", "FULL", "QUICK", "run", "plot"]

NAME = "skeinformer-ablation"
TITLE = "Skeinformer ablations: output spectral loss vs d for each component of Alg. 1"
PAPER = "Skeinformer (Chen et al., NAACL 2022) Table 1 ablation rows, §4.1-§4.3"

METHODS = {
    "Skeinformer": ("skeinformer", {}),
    "w/o column sampling": ("skeinformer", {"column_sampling": "uniform", "pilot_reuse": False}),
    "w/o row normalization": ("skeinformer", {"row_normalization": "exact"}),
    "Prop. 1 estimator (weighted, exact D)": ("skeinformer", {"row_normalization": "exact",
                                                              "importance_weights": True}),
    "simple row normalization": ("skeinformer", {"row_normalization": "simple"}),
    "w/o pilot reutilization": ("skeinformer", {"pilot_reuse": False}),
    "V-Mean": ("vmean", {}),
}


@dataclasses.dataclass(frozen=True)
class Config:
    ns: tuple = (2048,)
    ds: tuple = (8, 16, 32, 64, 128, 256)
    kinds: tuple = C.INPUT_KINDS
    methods: tuple = tuple(METHODS)
    windows: int = 2
    heads_per_window: int = 4
    inputs: str = "auto"


FULL = Config()
QUICK = Config(ns=(256,), ds=(8, 32), windows=1, heads_per_window=2)


def run(cfg: Config, seed) -> dict:
    return C.run_attention_config(NAME, METHODS, cfg, seed, target="softmax")


def plot(data):
    return C.plot_loss_grid(data, logy=True, cycle=True, title="Skeinformer ablations: ‖D⁻¹AV − R‖₂ vs d (log scale)")
