"""Speed of the attention approximators against exact softmax attention (issue 4, item 5).

Times one head (p = 64, d = 256) at n ∈ {1024, 4096, 16384}; prints per method the best-of-``repeat``
wall time, the speed-up over exact softmax attention measured in the same process, and the fitted
exponent b of time ∝ n^b (least squares on log–log over all n, and between the two largest n: at
small n the fixed O(d³) core cost flattens the curve). Exact attention is O(n²p) (b ≈ 2); the
approximators should have b ≈ 1 and the Nyström-type ones a ≥ 10× speed-up at n = 16384.

Timings on a shared machine are noisy: each number is the minimum over ``repeat`` runs, and only the
ratios within one run are meaningful. BLAS threads matter: under heavy load set
``OPENBLAS_NUM_THREADS=1``.

    python benchmarks/bench_attention.py [--quick] [--repeat 3] [--ns 1024 4096 16384] [--d 256]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import kernapprox as ka

METHODS = [
    ("skyformer (gaussian, paper)", "skyformer", {}),
    ("skyformer (softmax, paper)", "skyformer", {"target": "softmax"}),
    ("skyformer (gaussian, code)", "skyformer", {"preset": "code"}),
    ("nystromformer", "nystromformer", {}),
    ("skeinformer", "skeinformer", {}),
    ("informer", "informer", {}),
    ("linformer", "linformer", {}),
    ("s3 (column)", "s3", {}),
    ("vmean", "vmean", {}),
    ("performer", "performer", {}),
    ("rff", "rff", {}),
]
NYSTROM_TYPE = ("skyformer (gaussian, paper)", "skyformer (softmax, paper)", "skyformer (gaussian, code)",
                "nystromformer")


def best_time(fn, repeat: int) -> float:
    t = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ns", type=int, nargs="+", default=[1024, 4096, 16384])
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--p", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="n ∈ {512, 1024, 2048}, one repeat")
    a = ap.parse_args(argv)
    ns = [512, 1024, 2048] if a.quick else a.ns
    repeat = 1 if a.quick else a.repeat
    methods = METHODS
    rng = np.random.default_rng(0)
    times = {"exact softmax": []}
    times.update({lab: [] for lab, _, _ in methods})
    for n in ns:
        Q, K, V = 0.5 * rng.normal(size=(3, n, a.p))
        ka.attention.approximate(Q[:64], K[:64], V[:64], method="skyformer", d=8, rng=0)   # warm-up
        times["exact softmax"].append(best_time(lambda: ka.attention.exact(Q, K, V), repeat))
        for lab, m, opts in methods:
            times[lab].append(best_time(
                lambda: ka.attention.approximate(Q, K, V, method=m, d=a.d, rng=0, **opts), repeat))
    print(f"attention benchmark: p = {a.p}, d = {a.d}, best of {repeat} (wall seconds); "
          f"speed-up = exact / method in the same run")
    head = f"{'method':30s}" + "".join(f"{'n=' + str(n):>11s}" for n in ns) + \
        "".join(f"{'x@' + str(n):>10s}" for n in ns) + f"{'exponent':>10s}{'last two':>10s}"
    print(head)
    logn = np.log(np.asarray(ns, float))
    for lab, ts in times.items():
        ts = np.asarray(ts)
        slope = np.polyfit(logn, np.log(ts), 1)[0] if len(ns) > 1 else np.nan
        last = np.log(ts[-1] / ts[-2]) / (logn[-1] - logn[-2]) if len(ns) > 1 else np.nan
        sp = np.asarray(times["exact softmax"]) / ts
        print(f"{lab:30s}" + "".join(f"{t:11.4f}" for t in ts) + "".join(f"{s:10.1f}" for s in sp) +
              f"{slope:10.2f}{last:10.2f}")
    big = len(ns) - 1
    worst = min(times["exact softmax"][big] / times[lab][big] for lab in NYSTROM_TYPE if lab in times)
    print(f"min speed-up of the Nyström-type methods at n = {ns[big]}: {worst:.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()
