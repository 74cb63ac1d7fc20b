"""Every attention approximator, default options, on every head of real all-MiniLM-L6-v2 inputs.

For each text window (several windows of two texts of the offline corpus, n = 512), each of the
pretrained model and its randomly initialised twin, each of the 6 layers × 12 heads, each input dtype
(float32, float64) and each d, every registered method runs through
:func:`kernapprox.attention.approximate` with its default options (Skyformer also with
``target="softmax"``). Reported per method: the worst head's relative spectral-norm loss
``‖R − R̃‖₂ / ‖R‖₂`` against the float64 exact target of the method (softmax ``D⁻¹AV``, or the
Gaussian ``CV`` for Skyformer's default target and RFF), the number of calls with a non-finite output,
the number of output rows outside the natural range of the target (for softmax: the per-column
box ``[min_j V_jk, max_j V_jk]`` widened by rounding), and how many rows the range safeguard of
``approximate`` recomputed exactly or clipped (its cost: m score evaluations per exact row).

Usage (about 10-20 minutes on one core for the full grid)::

    python benchmarks/attention_real_heads.py --out benchmarks/results/attention_real_heads.json
    python benchmarks/attention_real_heads.py --quick          # 1 window per text, d = 64 only

Run against another checkout (e.g. the code before a change) with ``PYTHONPATH=that/checkout``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np

import kernapprox as ka
from kernapprox.datasets import pretrained as P

#: (label, method, options, target) — default options of every method; Skyformer twice (both targets)
CASES = (
    ("skyformer", "skyformer", {}, "gaussian"),
    ("skyformer-softmax", "skyformer", {"target": "softmax"}, "softmax"),
    ("nystromformer", "nystromformer", {}, "softmax"),
    ("skeinformer", "skeinformer", {}, "softmax"),
    ("informer", "informer", {}, "softmax"),
    ("linformer", "linformer", {}, "softmax"),
    ("vmean", "vmean", {}, "softmax"),
    ("s3", "s3", {}, "softmax"),
    ("rff", "rff", {}, "gaussian"),
    ("linear", "linear", {}, "softmax"),
    ("performer", "performer", {}, "softmax"),
)
#: methods whose output does not depend on d (run once per head and dtype)
NO_D = ("vmean", "linear")


def _rel(out, ref):
    if not np.all(np.isfinite(out)):
        return float("inf")
    return float(np.linalg.norm(out.astype(np.float64) - ref, 2) / np.linalg.norm(ref, 2))


def _outside_rows(out, V, target, dtype):
    """Rows of ``out`` outside the target's natural range (softmax: the box of V, widened by rounding)."""
    if not np.all(np.isfinite(out)):
        return int(np.sum(~np.isfinite(out).all(axis=1)))
    V = V.astype(np.float64)
    if target == "softmax":
        lo, hi = V.min(axis=0), V.max(axis=0)
    else:       # Gaussian: 0 < C_ij <= 1, so each entry lies in m·[min(lo, 0), max(hi, 0)]
        m = V.shape[0]
        lo, hi = m * np.minimum(V.min(axis=0), 0), m * np.maximum(V.max(axis=0), 0)
    tol = 64 * np.finfo(dtype).eps * np.abs(V).max()
    o = out.astype(np.float64)
    return int(np.sum(((o < lo - tol) | (o > hi + tol)).any(axis=1)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--d", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--texts", nargs="+", default=["gpl-3", "stdlib-docstrings"])
    ap.add_argument("--windows", type=int, default=2, help="windows per text (evenly spaced starts)")
    ap.add_argument("--weights", nargs="+", default=["pretrained", "initialized"])
    ap.add_argument("--methods", nargs="+", default=[c[0] for c in CASES])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    if a.quick:
        a.windows, a.d = 1, [64]
    warnings.simplefilter("ignore")
    cases = [c for c in CASES if c[0] in a.methods]
    t0 = time.time()
    worst = {}          # label -> [loss, where]
    nonfinite = {c[0]: 0 for c in cases}
    outside = {c[0]: 0 for c in cases}
    calls = {c[0]: 0 for c in cases}
    exact_rows = {c[0]: 0 for c in cases}       # rows the safeguard recomputed exactly
    clipped = {c[0]: 0 for c in cases}          # rows the safeguard projected onto the range
    errors = {}
    twin = P.load_minilm("initialized", rng=a.seed)
    for weights in a.weights:
        model = P.load_minilm() if weights == "pretrained" else twin
        for text in a.texts:
            total = P._corpus_ids(text).size - model.n_text(a.n)
            starts = [int(s) for s in np.linspace(0, total, a.windows + 2)[1:-1]] if a.windows > 1 else [0]
            for start in starts:
                for layer in range(model.n_layers):
                    Qa, Ka, Va = P.pretrained_qkv(a.n, model=model, layer=layer, text=text, start=start)
                    for h in range(Qa.shape[0]):
                        Q, K, V = Qa[h], Ka[h], Va[h]
                        ref = {t: ka.attention.exact(Q, K, V, kind=t) for t in ("softmax", "gaussian")}
                        for dt in (np.float32, np.float64):
                            Qd, Kd, Vd = (x.astype(dt) for x in (Q, K, V))
                            for label, method, opts, target in cases:
                                for d in (a.d[:1] if label in NO_D else a.d):
                                    where = f"{weights}/{text}@{start}/L{layer}H{h}/{np.dtype(dt).name}/d={d}"
                                    try:
                                        out, fac = ka.attention.approximate(Qd, Kd, Vd, method=method,
                                                                            d=None if label in NO_D else d,
                                                                            rng=a.seed, return_factors=True,
                                                                            **opts)
                                    except Exception as exc:  # recorded, not hidden
                                        errors.setdefault(label, []).append(f"{where}: {exc!r}"[:300])
                                        continue
                                    calls[label] += 1
                                    sg = fac.get("safeguard") or {}
                                    exact_rows[label] += len(sg.get("exact_rows", ()))
                                    clipped[label] += sg.get("clipped_rows", 0)
                                    loss = _rel(out, ref[target])
                                    nonfinite[label] += int(not np.all(np.isfinite(out)))
                                    outside[label] += _outside_rows(out, Vd, target, dt)
                                    for key in (label, (label, np.dtype(dt).name)):
                                        if key not in worst or not loss <= worst[key][0]:
                                            worst[key] = [loss, where]
                    print(f"  {weights} {text}@{start} layer {layer} done ({time.time() - t0:.0f} s)",
                          file=sys.stderr, flush=True)
    try:
        sha = subprocess.run(["git", "-C", os.path.dirname(ka.__file__), "rev-parse", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
    except OSError:
        sha = ""
    res = {"git": sha, "kernapprox": ka.__file__, "n": a.n, "d": a.d, "texts": a.texts,
           "windows_per_text": a.windows, "weights": a.weights, "seconds": round(time.time() - t0, 1),
           "methods": {lab: {"worst_rel_spectral_loss": worst.get(lab, [None, None])[0],
                             "worst_head": worst.get(lab, [None, None])[1], "calls": calls[lab],
                             **{f"worst_rel_spectral_loss_{t}": worst.get((lab, t), [None])[0]
                                for t in ("float32", "float64")},
                             "nonfinite_outputs": nonfinite[lab], "rows_outside_range": outside[lab],
                             "safeguard_exact_rows": exact_rows[lab], "safeguard_clipped_rows": clipped[lab],
                             "rows_total": calls[lab] * a.n,
                             "errors": len(errors.get(lab, []))} for lab, *_ in cases},
           "error_examples": {k: v[:3] for k, v in errors.items()}}
    print(f"{'method':18s} {'worst f32':>10s} {'worst f64':>10s} {'non-finite':>10s} {'rows out':>9s} {'calls':>6s} "
          f"{'exact rows':>10s} {'clipped':>8s}  worst head")
    for lab, r in res["methods"].items():
        w32, w64 = r["worst_rel_spectral_loss_float32"], r["worst_rel_spectral_loss_float64"]
        fw32 = "-" if w32 is None else format(w32, "10.3g")
        fw64 = "-" if w64 is None else format(w64, "10.3g")
        print(f"{lab:18s} {fw32:>10} {fw64:>10} "
              f"{r['nonfinite_outputs']:10d} "
              f"{r['rows_outside_range']:9d} {r['calls']:6d} {r['safeguard_exact_rows']:10d} "
              f"{r['safeguard_clipped_rows']:8d}  {r['worst_head']}")
    if a.out:
        os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
        with open(a.out, "w") as fh:
            json.dump(res, fh, indent=1)
    return res


if __name__ == "__main__":
    main()
