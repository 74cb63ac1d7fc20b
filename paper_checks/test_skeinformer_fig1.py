"""Skeinformer Figure 1: Skeinformer has a lower output error than Informer and Linformer.

Claim (Skeinformer, Chen et al., NAACL 2022, §5 and Fig. 1; algorithms.md §3.7): on Q, K, V of an
initialised and a pretrained model, the spectral-norm loss ``‖D⁻¹AV − R‖₂`` of Skeinformer is below
that of Informer and of Linformer for every number of features d (Linformer ≈ 10–100, Informer just
below V-Mean, Skeinformer lowest).

Operationalised: the mean loss of Skeinformer < Informer's and < Linformer's at every (panel, d).
Reuses ``skeinformer-fig1``.
"""
import numpy as np

from kernapprox.experiments._common import mean_se

SOURCE = "Skeinformer (NAACL 2022) §5 Figure 1"


def test_skeinformer_beats_informer_and_linformer(experiment, claim):
    c = claim("Skeinformer Fig. 1: Skeinformer < Informer and < Linformer at every d", SOURCE)
    data = experiment("skeinformer-fig1")
    methods = list(data["methods"])
    m, _ = mean_se(data["err"], axis=-1)                       # (kinds, ns, methods, ds)
    sk = m[:, :, methods.index("Skeinformer")]
    assert np.all(np.isfinite(sk)) and np.all(sk > 0)
    measured, notes = {}, []
    for other in ("Informer", "Linformer"):
        if other not in methods:
            notes.append(f"{other} unavailable")
            continue
        o = m[:, :, methods.index(other)]
        win = sk < o
        measured[f"vs_{other}"] = f"{int(win.sum())}/{win.size} points, mean ratio {np.mean(sk / o):.2f}"
        if not win.all():
            notes.append(f"Skeinformer >= {other} at {int((~win).sum())} of {win.size} (panel, d) points")
    c.measured(**measured)
    assert "vs_Informer" in measured and "vs_Linformer" in measured, "Informer or Linformer not evaluated"
    r_inf = sk / m[:, :, methods.index("Informer")]
    r_lin = sk / m[:, :, methods.index("Linformer")]
    c.band("max_ratio_vs_Linformer", r_lin.max(), 0.0, 1.0)              # reproduced everywhere
    if notes:
        # recorded band (QUICK: 3/4 points, mean ratio 0.96): Skeinformer ties Informer to within 10 %
        c.not_reproduced("; ".join(notes), mean_ratio_vs_Informer=(r_inf.mean(), 0.8, 1.05),
                         max_ratio_vs_Informer=(r_inf.max(), 1.0, 1.1))
