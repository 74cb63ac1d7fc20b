"""Benchmarks for PSD Nyström, RPCholesky and the landmark samplers (issue 3).

Three parts, each printing RATIOS measured in this one process (timings on a shared machine are
noisy: every timing is the minimum over ``--repeat`` runs):

1. ``sklearn``   uniform Nyström, Gaussian kernel (default n = 100000, d = 64, k = 2000): kernapprox
                 (landmarks → low-rank factor) vs ``sklearn.kernel_approximation.Nystroem(...)
                 .fit_transform`` with the same landmarks (``component_indices_``). Target: >= 3x
                 faster, same trace error to 1e-8 relative.
2. ``rpcholesky`` RPCholesky k = 1000 on n = 100000 vs uniform Nyström with the same k.
                 Target: wall time <= 2x.
3. ``table``     relative trace error tr(K − K̂)/tr(K) vs k ∈ {50, 100, 200, 400} for every sampler on
                 smile, spiral, outliers (n = 2000) and digits (n = 1797), median of 5 seeds
                 (a Markdown table, kept in the README).

Usage::

    python benchmarks/bench_nystrom.py [sklearn|rpcholesky|table|all] [--quick] [--repeat R]
"""
from __future__ import annotations

import argparse
import gc
import time
import warnings

import numpy as np

import kernapprox as ka
from kernapprox.datasets import clouds


def _timeit(f, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        out = None
        gc.collect()
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best, out


def _mixture(n, d, rng, n_clusters=50, within=0.5):
    """Gaussian mixture in R^d: well-conditioned landmark blocks at bandwidth sqrt(d)."""
    g = np.random.default_rng(rng)
    centers = g.normal(size=(n_clusters, d))
    lab = g.integers(n_clusters, size=n)
    return centers[lab] + within * g.normal(size=(n, d))


def bench_sklearn(n, d, k, repeat, seed=0):
    from sklearn.kernel_approximation import Nystroem

    X = _mixture(n, d, seed)
    bw = float(np.sqrt(d))
    gamma = 1.0 / (2.0 * bw * bw)
    KM = ka.KernelMatrix(ka.Gaussian(bw), X)

    def run_sklearn():
        nys = Nystroem(kernel="rbf", gamma=gamma, n_components=k, random_state=seed)
        Z = nys.fit_transform(X)
        return nys.component_indices_, Z

    t_sk, (idx, Z) = _timeit(run_sklearn, repeat)
    err_sk = n - float(np.einsum("ij,ij->", Z, Z))
    del Z
    gc.collect()
    t_ka, approx = _timeit(lambda: ka.nystrom(KM, idx), repeat)
    err_ka = float(KM.diag().sum()) - approx.trace()
    rel = abs(err_ka - err_sk) / abs(err_sk)
    print(f"[sklearn] uniform Nyström, Gaussian, n={n}, d={d}, k={k} (min of {repeat})")
    print(f"  sklearn Nystroem.fit_transform : {t_sk:8.2f} s   trace error {err_sk / n:.10f}·n")
    print(f"  kernapprox nystrom             : {t_ka:8.2f} s   trace error {err_ka / n:.10f}·n"
          f"   (core {approx.info['core']}, dropped {approx.info['dropped']})")
    print(f"  speed-up {t_sk / t_ka:.2f}x (target >= 3x);  relative trace-error difference {rel:.2e}"
          f" (target <= 1e-8)")
    return {"t_sklearn": t_sk, "t_kernapprox": t_ka, "speedup": t_sk / t_ka, "rel_diff": rel}


def bench_rpcholesky(n, d, k, repeat, seed=0, block_size=200):
    X = _mixture(n, d, seed)
    KM = ka.KernelMatrix(ka.Gaussian(float(np.sqrt(d))), X)
    rng = np.random.default_rng(seed)
    t_nys, A = _timeit(lambda: ka.nystrom(KM, rng.choice(n, k, replace=False)), repeat)
    e_nys = A.info["n_evals"]
    del A
    print(f"[rpcholesky] n={n}, d={d}, k={k} (min of {repeat}); ratios are wall(variant)/wall(uniform Nyström)")
    print(f"  uniform Nyström                     : {t_nys:8.2f} s  n_evals/n = {e_nys / n:7.1f}")
    out = {"t_nystrom": t_nys}
    for name, kw in [("accelerated", dict(accelerated=True, block_size=block_size)),
                     ("block", dict(block_size=block_size))]:
        t, B = _timeit(lambda: ka.rpcholesky(KM, k, rng=seed, **kw), repeat)
        print(f"  RPCholesky {name:<11s} (b={block_size:3d})   : {t:8.2f} s  n_evals/n = "
              f"{B.info['n_evals'] / n:7.1f}  ratio {t / t_nys:.2f} (target <= 2)  "
              f"rel. trace error {B.info['residual_trace'] / B.info['trace']:.4f}")
        out[name] = t / t_nys
        del B
    return out


TABLE_METHODS = ("uniform", "diagonal", "column_norm", "leverage", "recursive_rls", "kmeanspp",
                 "greedy", "rpcholesky")
TABLE_KS = (50, 100, 200, 400)


def accuracy_table(n=2000, seeds=5, ks=TABLE_KS, methods=TABLE_METHODS):
    """Relative trace error, median over seeds, for every (data set, sampler, k)."""
    rows = []
    for name in ("smile", "spiral", "outliers", "digits"):
        X = clouds.digits() if name == "digits" else clouds.CLOUDS[name](n, rng=2024)
        bw = clouds.SUGGESTED_BANDWIDTH[name]
        KM = ka.KernelMatrix(ka.Gaussian(bw), X)
        tr = float(KM.diag().sum())
        # one eigendecomposition per data set, shared by every "leverage" draw (same distribution)
        eig = np.linalg.eigh(KM.kernel(X)) if "leverage" in methods else None
        for m in methods:
            opts = {"eig": eig} if m == "leverage" else {}
            meds = []
            for k in ks:
                errs = []
                for s in range(seeds):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ka.KernapproxWarning)
                        idx = ka.sample_landmarks(KM, k, method=m, rng=s, **opts)
                        approx = ka.nystrom(KM, idx)
                    errs.append(max(tr - approx.trace(), 0.0) / tr)
                    if m == "greedy":        # deterministic
                        break
                meds.append(float(np.median(errs)))
            rows.append((name, X.shape[0], bw, m, meds))
    print(f"| data (n, bandwidth) | sampler | " + " | ".join(f"k={k}" for k in ks) + " |")
    print("|---|---|" + "---|" * len(ks))
    for name, nn, bw, m, meds in rows:
        print(f"| {name} ({nn}, {bw:g}) | {m} | " + " | ".join(f"{v:.2e}" for v in meds) + " |")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", nargs="?", default="all", choices=("sklearn", "rpcholesky", "table", "all"))
    p.add_argument("--quick", action="store_true", help="n = 20000 for the timing parts, 3 seeds for the table")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--n", type=int, default=None)
    args = p.parse_args(argv)
    n = args.n or (20000 if args.quick else 100000)
    if args.part in ("sklearn", "all"):
        bench_sklearn(n, 64, 2000, args.repeat)
    if args.part in ("rpcholesky", "all"):
        bench_rpcholesky(n, 64, 1000, args.repeat)
    if args.part in ("table", "all"):
        accuracy_table(seeds=3 if args.quick else 5)


if __name__ == "__main__":
    main()
