"""Skyformer Figure 1: spectral-norm loss of the softmax-attention output vs the number of features d.

Regenerates Chen, Zeng, Ji, Yang, "Skyformer" (NeurIPS 2021) §4.5 Fig. 1 (algorithms.md §2.9): for
sequence lengths n ∈ {512, 1024, 2048, 4096} (columns) and randomly initialised / pretrained inputs
(rows), the loss ``‖D⁻¹AV − R‖₂`` of Skyformer (softmax variant, §2.8), Nyströmformer, Performer and
Informer vs d ∈ {16, …, 256}; mean ± standard error over trials (text windows × attention heads).

Inputs: real per-head Q, K, V of all-MiniLM-L6-v2 (p = 32, layer 2) on offline English text when the
``models`` extra is installed, else the synthetic proxy (the figure says which). The paper used
bert-base (p = 64) on Wikitext-2.

FULL: 4 n × 5 d × 4 methods × 2 kinds × 8 trials (2 windows × 4 heads); ≈ 2–4 min on 2 cores.
QUICK: n ∈ {256, 512}, d ∈ {16, 64}, 2 trials.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from . import _common as C

NAME = "skyformer-fig1"
TITLE = "Skyformer Fig. 1: softmax-output spectral loss vs d (Skyformer, Nyströmformer, Performer, Informer)"
PAPER = "Skyformer (Chen et al., NeurIPS 2021) §4.5 Figure 1"

#: method label -> (registry name, options); Skyformer is the Fig. 1 softmax variant (§2.8)
METHODS = {
    "Skyformer": ("skyformer", {"target": "softmax"}),
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
QUICK = Config(ns=(256, 512), ds=(16, 64), windows=1, heads_per_window=2)


def available_methods(methods) -> list:
    """The labels whose registry entry can be imported now (others are reported as missing)."""
    from .. import attention
    ok = []
    for label in methods:
        try:
            attention.get_method(METHODS[label][0])
            ok.append(label)
        except (ImportError, ValueError, AttributeError):
            pass
    return ok


def run(cfg: Config, seed) -> dict:
    from .. import attention
    from ..metrics import attention_output_loss
    methods = available_methods(cfg.methods)
    T = cfg.windows * cfg.heads_per_window
    err = np.full((len(cfg.kinds), len(cfg.ns), len(methods), len(cfg.ds), T), np.nan)
    ref = np.full((len(cfg.kinds), len(cfg.ns), T), np.nan)
    labels = []
    for a, kind in enumerate(cfg.kinds):
        src = C.AttentionInputs(kind, source=cfg.inputs, rng=C.trial_rngs(seed, 1, key=(a, 999))[0])
        labels.append(src.label)
        for b, n in enumerate(cfg.ns):
            rngs = C.trial_rngs(seed, cfg.windows, key=(a, b))
            steps = [(w, r) for w, r in enumerate(rngs)]
            for w, r in C.progress(steps, desc=f"{NAME} {kind} n={n}"):
                for h, (Q, K, V) in enumerate(src.sample(n, cfg.heads_per_window, r)):
                    t = w * cfg.heads_per_window + h
                    exact = attention.exact(Q, K, V, kind="softmax")
                    ref[a, b, t] = np.linalg.norm(exact, 2)
                    for c, label in enumerate(methods):
                        method, opts = METHODS[label]
                        for e, d in enumerate(cfg.ds):
                            R = attention.approximate(Q, K, V, method=method, d=d, rng=r, **opts)
                            err[a, b, c, e, t] = attention_output_loss(exact, R)
    return {
        "err": err, "exact_norm": ref, "ns": np.array(cfg.ns), "ds": np.array(cfg.ds),
        "methods": np.array(methods), "kinds": np.array(cfg.kinds),
        "meta": {"inputs": " | ".join(f"{k}: {lab}" for k, lab in zip(cfg.kinds, labels)),
                 "missing_methods": [m for m in cfg.methods if m not in methods],
                 "metric": "spectral norm ||D^-1 A V - R||_2", "trials": T},
    }


def plot(data):
    err, ns, ds = data["err"], data["ns"], data["ds"]
    methods, kinds = list(data["methods"]), list(data["kinds"])
    fig, axes = C.new_figure(len(kinds), len(ns), width=3.0 * len(ns) + 0.5, height=2.5 * len(kinds) + 0.8)
    for a, kind in enumerate(kinds):
        for b, n in enumerate(ns):
            ax = axes[a, b]
            for c, label in enumerate(methods):
                mean, se = C.mean_se(err[a, b, c], axis=-1)
                C.plot_curve(ax, ds, mean, se, label=label, index=c)
            ax.set_title(f"{kind}, n = {int(n)}")
            ax.set_xlabel("number of features d")
            if b == 0:
                ax.set_ylabel("spectral norm loss")
            ax.set_xticks(ds, [str(int(d)) for d in ds])
            ax.set_ylim(bottom=0)
    axes[0, 0].legend(loc="best")
    fig.suptitle("Skyformer Fig. 1 analogue: ‖D⁻¹AV − R‖₂ vs d (mean ± s.e.)", fontsize=10)
    C.add_provenance(fig, data)
    return fig
