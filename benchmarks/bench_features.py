"""Benchmark: random Fourier features (RFF, SORF) — floor / anchor / kernapprox, and the SORF scaling in d.

Run:  python benchmarks/bench_features.py [--full] [--repeat R] [--skip-sorf | --only-sorf]

1. RFF map, n = 40000 (``--full``: 100000), d = 64, m = 2048, float64. Rows (one process,
   interleaved, min of ``--repeat``; :mod:`_harness`):
   floor  : ``G = X Ωᵀ`` (GEMM into a fresh n×m array) and an in-place ``cos`` (row blocks on every core) — the work any dense
            m-feature cosine map must do;
   anchor : ``sklearn.kernel_approximation.RBFSampler(gamma=1/(2σ²), n_components=m).fit_transform(X)``;
   kernapprox: ``ka.random_features(Gaussian(σ), d, m, kind="rff").transform(X)``.
   Both maps draw ω ~ N(0, σ⁻² I), b ~ U[0, 2π) and output √(2/m) cos(Xωᵀ + b): the "same
   distribution" check compares the mean and the variance of the kernel-estimate errors of the two
   maps on a 200-point subset over 20 seeds each.
2. SORF vs dense RFF for d = 64, 256, 1024 at n = 8000 (``--full``: 20000), m = 2048. Rows:
   floor  : one ``cos`` pass writing a fresh n×m array (the O(n m) part no structured projection
            avoids; the projection itself is O(n m log d) for SORF);
   anchor : the dense RFF transform (kernapprox, a GEMM of O(n m d));
   kernapprox: the SORF transform. The projection-only times (X ωᵀ GEMM vs three FWHTs per block)
   are printed per n m d and per n m log₂ d so the growth in d of each is visible.

Times are minima over interleaved repeats measured in this process (the machine may be shared:
ratios, not absolute times, are what this prints for comparison).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernapprox as ka  # noqa: E402
from _harness import inplace, interleaved, machine_line, print_case  # noqa: E402


def tmin(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        del out
    return best


def rff_floor(X, Wt):
    G = X @ Wt
    return inplace(np.cos, G)


def bench_rff(n, d, m, repeat):
    from sklearn.kernel_approximation import RBFSampler
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    sigma = np.sqrt(d)
    gamma = 1.0 / (2 * sigma ** 2)
    fm = ka.random_features(ka.Gaussian(sigma), d, m, kind="rff", rng=0)
    fm.transform(X[:100])  # compile the numba kernels outside the timing
    Wt = rng.normal(size=(d, m)) / sigma
    t = interleaved({"floor (GEMM + cos)": lambda: rff_floor(X, Wt),
                     "sklearn RBFSampler.fit_transform":
                         lambda: RBFSampler(gamma=gamma, n_components=m, random_state=0).fit_transform(X),
                     "ka rff transform": lambda: fm.transform(X)}, repeat)
    print_case(f"rff: n={n}, d={d}, m={m}, float64", t, "floor (GEMM + cos)",
               ["sklearn RBFSampler.fit_transform"], "ka rff transform", note="(target: sklearn/kernapprox >= 1.5)")

    # same distribution: kernel-estimate errors on a subset, 20 seeds per map
    Xs = X[:200]
    K = ka.Gaussian(sigma)(Xs)
    iu = np.triu_indices(200, 1)
    e_ka, e_sk = [], []
    for s in range(20):
        Z = ka.random_features(ka.Gaussian(sigma), d, m, kind="rff", rng=s).transform(Xs)
        e_ka.append((Z @ Z.T - K)[iu])
        Z = RBFSampler(gamma=gamma, n_components=m, random_state=s).fit(Xs).transform(Xs)
        e_sk.append((Z @ Z.T - K)[iu])
    e_ka, e_sk = np.array(e_ka), np.array(e_sk)
    # per-entry variance of √(2/m)cos features: (1 + k(2Δ)/2 − k(Δ)²)/m, k(2Δ) = k(Δ)⁴ (Gaussian)
    k = K[iu]
    theory = np.mean((1 + k ** 4 / 2 - k ** 2) / m)
    for name, e in (("kernapprox", e_ka), ("sklearn   ", e_sk)):
        se = e.mean(axis=1).std(ddof=1) / np.sqrt(e.shape[0])  # errors of one draw are correlated
        print(f"  kernel-estimate error, {name}: mean {e.mean():+.2e} (± {se:.1e} s.e. over 20 draws)"
              f"  var {e.var():.3e}")
    print(f"  theory var (1 + k⁴/2 − k²)/m averaged over pairs: {theory:.3e}; "
          f"variance ratio kernapprox/sklearn {e_ka.var() / e_sk.var():.3f}")


def bench_sorf(n, m, dims, repeat):
    rng = np.random.default_rng(1)
    rows = []
    for d in dims:
        X = rng.normal(size=(n, d))
        k = ka.Gaussian(np.sqrt(d))
        rff = ka.random_features(k, d, m, kind="rff", rng=0)
        sorf = ka.random_features(k, d, m, kind="sorf", rng=0)
        sorf.transform(X[:10])
        rff.transform(X[:10])
        x0 = X[:, :1]
        b = rng.uniform(0, 2 * np.pi, size=m)
        t = interleaved({"floor (cos pass, fresh n×m)": lambda: inplace(np.cos, x0 + b),
                         "ka rff transform (dense)": lambda: rff.transform(X),
                         "ka sorf transform": lambda: sorf.transform(X)}, repeat)
        print_case(f"sorf: n={n}, d={d}, m={m}, float64", t, "floor (cos pass, fresh n×m)",
                   ["ka rff transform (dense)"], "ka sorf transform")
        Wt = rff._wt(np.float64)
        rows.append((d, tmin(lambda: X @ Wt, repeat), tmin(lambda: sorf._project(X), repeat)))
    print(f"  projection only: {'d':>5} {'rff X ωᵀ s':>11} {'sorf FWHT s':>12} {'rff/(nmd) ns':>13} "
          f"{'sorf/(nm log2 d) ns':>20}")
    for d, t_rp, t_p in rows:
        print(f"                   {d:5d} {t_rp:11.3f} {t_p:12.3f} {1e9 * t_rp / (n * m * d):13.4f} "
              f"{1e9 * t_p / (n * m * np.log2(d)):20.4f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="n = 100000 (SORF part: n = 20000)")
    ap.add_argument("--quick", action="store_true", help="n = 10000 (SORF part: n = 2000)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-sorf", action="store_true")
    ap.add_argument("--only-sorf", action="store_true")
    a = ap.parse_args(argv)
    n = 100_000 if a.full else 10_000 if a.quick else 40_000
    print(machine_line())
    if not a.only_sorf:
        bench_rff(n, 64, 2048, a.repeat)
    if not a.skip_sorf:
        bench_sorf(n // 5, 2048, (64, 256, 1024), a.repeat)


if __name__ == "__main__":
    main()
