"""Yao, Erichson & Lopes (AISTATS 2023): since ε_s scales like 1/√s, a bootstrap estimate at a pilot size
s₀ extrapolates to larger s as q̂(s) = q̂(s₀)·√(s₀/s), which enables choosing s adaptively.

Source: J. Yao, N. B. Erichson, M. E. Lopes, "Error estimation for random Fourier features", AISTATS 2023,
extrapolation rule (§3) and the extrapolation curves of the experiments; algorithms.md §5.4.
Measured with the ``rff-bootstrap`` experiment.

Decision rule (fixed in advance): at the largest s of the sweep (≥ 4 s₀), the mean extrapolated estimate
is within 35% of the true (1 − α) quantile for every metric and data set.
"""
import numpy as np

REL_TOL = 0.35


def test_extrapolation_from_pilot(experiment, claim):
    c = claim("Bootstrap estimate at a pilot s0 extrapolated as q(s0)·sqrt(s0/s) predicts the true error "
              "quantile at larger s",
              "Yao, Erichson & Lopes, AISTATS 2023, §3 extrapolation rule")
    data = experiment("rff-bootstrap")
    s = np.asarray(data["s"])
    s0 = float(data["meta"]["s0"])
    assert s[-1] >= 4 * s0, "broken check: the sweep does not reach 4 s0"
    pred = data["extrapolation"][..., -1].mean(axis=-1)     # (dataset, metric) at the largest s
    true = data["true_quantile"][..., -1]
    rel = np.abs(pred - true) / true
    c.measured(s0=s0, s_max=s[-1], max_rel_gap=rel.max(), mean_rel_gap=rel.mean())
    c.band("max_rel_gap", rel.max(), 0.0, REL_TOL)
