"""Singular values of exact attention outputs (Skyformer appendix Figure A2 analogue).

Skyformer (Chen, Zeng, Ji, Yang, NeurIPS 2021) App. Fig. A2 plots the singular values (index 0..64,
log scale) of the attention OUTPUT of a trained vanilla transformer and observes a fast decay —
the motivation for low-rank approximations of the output (algorithms.md §2.9 "Appendix"). Here: the
normalised singular values ``σ_i/σ_0`` of the exact softmax output ``BV = D⁻¹AV`` and of the exact
kernelized output ``CV`` for each encoder layer of all-MiniLM-L6-v2 (pretrained and randomly
initialised; median and inter-quartile range over the 12 heads), on one window of offline English
text. Without the ``models`` extra the synthetic proxy is used (one curve per input kind).

FULL: n = 1024, layers 0–5, 12 heads (≈ 30 s). QUICK: n = 128, layers {0, 2}, 4 heads.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from . import _common as C

__all__ = ["Config", "FULL", "QUICK", "run", "plot"]

NAME = "singular-values"
TITLE = "Singular values of exact attention outputs BV and CV per layer (Skyformer App. Fig. A2 analogue)"
PAPER = "Skyformer (Chen et al., NeurIPS 2021) Appendix Figure A2"
TARGETS = ("softmax", "gaussian")
_TARGET_LABEL = {"softmax": "softmax output BV = D⁻¹AV", "gaussian": "kernelized output CV"}


@dataclasses.dataclass(frozen=True)
class Config:
    n: int = 1024
    layers: tuple = (0, 1, 2, 3, 4, 5)
    kinds: tuple = C.INPUT_KINDS
    heads: int = 12
    inputs: str = "auto"


FULL = Config()
QUICK = Config(n=128, layers=(0, 2), heads=4)


def run(cfg: Config, seed) -> dict:
    from .. import attention
    sv = None
    labels = []
    layers_used = list(cfg.layers)
    for a, kind in enumerate(cfg.kinds):
        init_rng = C.trial_rngs(seed, 1, key=(a, 999))[0]
        for b, layer in enumerate(C.progress(cfg.layers, desc=f"{NAME} {kind}")):
            src = C.AttentionInputs(kind, source=cfg.inputs, layer=layer,
                                    rng=np.random.default_rng(init_rng.bit_generator.seed_seq))
            if b == 0:
                labels.append(src.label.replace(f"layer {layer}", "layers " + ",".join(map(str, cfg.layers))))
            r = C.trial_rngs(seed, 1, key=(a, b))[0]
            if src.source == "synthetic":  # no layers: every "layer" is an independent synthetic draw
                layers_used = ["synthetic"] * len(cfg.layers)
            for h, (Q, K, V) in enumerate(src.sample(cfg.n, cfg.heads, r)):
                for c, target in enumerate(TARGETS):
                    s = np.linalg.svd(attention.exact(Q, K, V, kind=target), compute_uv=False)
                    if sv is None:
                        sv = np.full((len(cfg.kinds), len(cfg.layers), len(TARGETS), cfg.heads, s.size), np.nan)
                    sv[a, b, c, h] = s
    return {"sv": sv, "kinds": np.array(cfg.kinds), "layers": np.array([str(x) for x in layers_used]),
            "targets": np.array(TARGETS), "n": cfg.n,
            "meta": {"inputs": " | ".join(f"{k}: {lab}" for k, lab in zip(cfg.kinds, labels)),
                     "statistic": "median and inter-quartile range over heads of sigma_i / sigma_0"}}


def plot(data):
    sv, kinds, layers, targets = data["sv"], list(data["kinds"]), list(data["layers"]), list(data["targets"])
    fig, axes = C.new_figure(len(targets), len(kinds), width=3.4 * len(kinds) + 1.8, height=5.4)
    cmap = __import__("matplotlib").colormaps["viridis"]
    for c, target in enumerate(targets):
        for a, kind in enumerate(kinds):
            ax = axes[c, a]
            for b, layer in enumerate(layers):
                rel = sv[a, b, c] / sv[a, b, c, :, :1]
                med = np.nanmedian(rel, axis=0)
                q1, q3 = np.nanpercentile(rel, [25, 75], axis=0)
                idx = np.arange(med.size)
                col = cmap(b / max(1, len(layers) - 1))
                lab = f"layer {layer}" if layer != "synthetic" else f"draw {b}"
                ax.plot(idx, med, color=col, label=lab)
                ax.fill_between(idx, q1, q3, color=col, alpha=0.15, lw=0)
            ax.set_yscale("log")
            ax.set_title(f"{kind}: {_TARGET_LABEL.get(str(target), target)}")
            ax.set_xlabel("singular value index i")
            if a == 0:
                ax.set_ylabel("σ_i / σ_0")
    h, lab = axes[0, 0].get_legend_handles_labels()
    fig.legend(h, lab, loc="outside right center")
    fig.suptitle(f"Singular values of exact attention outputs (n = {int(data['n'])}; median, IQR over heads)",
                 fontsize=10)
    C.add_provenance(fig, data)
    return fig
