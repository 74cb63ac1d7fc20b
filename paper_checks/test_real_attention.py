"""Real attention: the §13 methods beat the seed methods at equal accounted budget.

Claim (the targets set for the §13 methods; algorithms.md §13, §13.8): on real MiniLM heads, at n = 512, the best new
method (clustered, sparse + low-rank, HyperAttention, KDEformer, Skyformer with Gaussian-form
landmarks) has a median relative spectral loss ``‖R − R̃‖₂/‖R‖₂`` at most 0.7x the best seed method's
(Skyformer with centred keys, Nyströmformer, Performer, Skeinformer, Informer, V-Mean, Linformer) at
every d ∈ {16, 64, 128, 256} on pretrained heads, and at most 1.1x on initialised heads; at n = 4096
and d ∈ {64, 128} a new method that runs at least 8x faster than exact float64 attention has at most
0.8x the best seed method's median loss. Every new method stays within the budget B(d) = 2nd + d².

Operationalised on ``real-attention`` (QUICK: n ∈ {512, 4096}; 2 windows × layers {0, 2, 4} × heads
{0, 6} per kind at n = 512, one random head per layer at 4096; ``--full``: every layer and head).
Key numbers: ``ratio_512_pretrained``, ``ratio_512_initialized`` (max over d of best-new / best-seed
median loss), ``ratio_4096`` (the same at n = 4096, d ∈ {64, 128}), ``speedup_4096`` (min over those d
of exact time / time of the new method with the lowest loss there, medians over heads) and
``max_evals_over_budget`` (every call of the four §13 methods with default options). The loss ratios are deterministic; the
speed-up is a wall-clock measurement (one BLAS thread recommended) and gets a wide band. The check needs
the new methods in the registry; on a tree where none of them is registered it is skipped.
"""
import numpy as np
import pytest

from kernapprox import attention
from kernapprox.experiments.real_attention import METHODS, NEW_METHODS, summary

SOURCE = ("algorithms.md §13 (HyperAttention ICLR 2024, KDEformer ICML 2023, clustered NeurIPS 2020, "
          "Scatterbrain NeurIPS 2021)")

#: the §13 methods with their default options, whose n_evals must stay within B(d); the Skyformer
#: variant's count includes the rows the default range safeguard recomputes exactly (m scores each),
#: which the claim does not cap
BUDGETED = ("Clustered", "Sparse+low-rank", "HyperAttention", "KDEformer")

#: the targets of the claim
TARGET_512 = {"pretrained": 0.7, "initialized": 1.1}
TARGET_4096 = 0.8
SPEEDUP = 8.0
D_512 = (16, 64, 128, 256)
D_4096 = (64, 128)


def _best(sm, labels, ds, fast=None):
    """Per d in ``ds``: the smallest median loss over ``labels`` (restricted to ``fast`` time ratios)."""
    out = []
    for d in ds:
        vals = []
        for lab in labels:
            v = sm[lab]
            j = list(np.atleast_1d(v["d"])).index(d)
            if fast is not None and not (v["time_ratio"][j] <= 1.0 / fast):
                continue
            vals.append(v["median"][j])
        out.append(np.nanmin(vals) if vals else np.inf)
    return np.array(out, dtype=float)


def ratios(data):
    """The key numbers of the claim from the experiment's data (see the module docstring)."""
    methods = [str(m) for m in np.atleast_1d(data["methods"])]
    new = [m for m in methods if m in NEW_METHODS]
    seed = [m for m in methods if m not in NEW_METHODS]
    out = {}
    for kind in ("pretrained", "initialized"):
        sm = summary(data, 512, kind)
        out[f"ratio_512_{kind}"] = float(np.max(_best(sm, new, D_512) / _best(sm, seed, D_512)))
    sm = summary(data, 4096, "pretrained")
    out["ratio_4096"] = float(np.max(_best(sm, new, D_4096) / _best(sm, seed, D_4096)))
    speed = []
    for d in D_4096:
        j = {lab: list(np.atleast_1d(sm[lab]["d"])).index(d) for lab in new}
        lab = min(new, key=lambda k: sm[k]["median"][j[k]])
        speed.append(1.0 / sm[lab]["time_ratio"][j[lab]])
    out["speedup_4096"] = float(np.min(speed))
    ev = []
    for n in (512, 4096):
        s = data["sweeps"][f"n{n}"]
        for c, m in enumerate(methods):
            if m in BUDGETED:
                ev.append(np.nanmax(s["evals_over_budget"][:, c]))
    out["max_evals_over_budget"] = float(np.nanmax(ev))
    return out, new, seed


@pytest.mark.slow   # its QUICK experiment (~40 s on 2 cores) exceeds the default run's budget
def test_new_methods_beat_the_seeds_on_real_heads(experiment, claim):
    registered = [lab for lab in NEW_METHODS if METHODS[lab][0] in attention.methods()]
    if not registered:
        pytest.skip("none of the §13 methods is registered in kernapprox.attention on this tree")
    c = claim("Real attention: best §13 method <= 0.7x / 1.1x the best seed (n = 512), <= 0.8x and >= 8x faster "
              "than exact (n = 4096)", SOURCE)
    data = experiment("real-attention")
    r, new, seed = ratios(data)
    missing = data["meta"].get("missing_methods", {})
    assert set(registered) <= set(new), f"registered §13 methods missing from the data: {missing}"
    c.measured(new_methods=", ".join(new), missing=", ".join(missing) or "none", **r)
    c.band("max_evals_over_budget", r["max_evals_over_budget"], 0.0, 1.0)
    holds = (r["ratio_512_pretrained"] <= TARGET_512["pretrained"] and
             r["ratio_512_initialized"] <= TARGET_512["initialized"] and r["ratio_4096"] <= TARGET_4096 and
             r["speedup_4096"] >= SPEEDUP)
    if holds:
        c.band("ratio_512_pretrained", r["ratio_512_pretrained"], 0.0, TARGET_512["pretrained"])
        c.band("ratio_512_initialized", r["ratio_512_initialized"], 0.0, TARGET_512["initialized"])
        c.band("ratio_4096", r["ratio_4096"], 0.0, TARGET_4096)
        c.band("speedup_4096", r["speedup_4096"], SPEEDUP, np.inf)
        return
    failed = [k for k, ok in (("ratio_512_pretrained", r["ratio_512_pretrained"] <= TARGET_512["pretrained"]),
                              ("ratio_512_initialized", r["ratio_512_initialized"] <= TARGET_512["initialized"]),
                              ("ratio_4096", r["ratio_4096"] <= TARGET_4096),
                              ("speedup_4096", r["speedup_4096"] >= SPEEDUP)) if not ok]
    c.not_reproduced("the best §13 method misses " + ", ".join(f"{k} = {r[k]:.3g}" for k in failed),
                     **{k: (r[k], *RECORDED[k]) for k in RECORDED})


#: recorded NOT-REPRODUCED bands (QUICK, seed 20240601, every §13 method registered; paper_checks/README.md),
#: used when a run misses a target (the speed-up is a wall-clock number near its target of 8): measured
#: ratio_512_pretrained 0.604 (d = 16: clustered vs Nyströmformer), ratio_512_initialized 0.986, ratio_4096
#: 0.546, speedup_4096 8.4 (d = 128, clustered; 11.2x at d = 64; 8.1x, 9.0x in runs before), one BLAS thread,
#: 2-core machine (the check then PASSES); loss ratios ±25 %, the speed-up within [1, 100]
RECORDED = {
    "ratio_512_pretrained": (0.45, 0.76),
    "ratio_512_initialized": (0.74, 1.23),
    "ratio_4096": (0.41, 0.68),
    "speedup_4096": (1.0, 100.0),
}
