"""Benchmarks for PSD Nyström, RPCholesky and the landmark samplers: floor / anchor / kernapprox.

Each timed case prints three kinds of rows measured in this one process, interleaved, minimum over
``--repeat`` runs (:mod:`_harness`; the floor's elementwise passes run on every core): the floor, the anchor(s), kernapprox, and the ratios
kernapprox/floor and anchor/kernapprox.

1. ``sklearn``   uniform Nyström features, Gaussian kernel, n = 50000, d = 64, k = 1000 (``--full``:
                 n = 100000, k = 2000).
                 floor  : ``C = X Zᵀ`` (GEMM into a fresh n×k array), ``exp(C, out=C)``, one in-place
                          ``?trmm`` by a k×k triangular factor, plus the k×k core (block, Cholesky,
                          ``?trtri``) — the kernel block and the triangular apply every Nyström
                          factor needs;
                 anchor : ``sklearn.kernel_approximation.Nystroem(...).fit_transform`` (same landmarks:
                          the same ``random_state``; kernapprox gets its ``component_indices_``);
                 kernapprox: ``ka.nystrom(KernelMatrix, idx)`` → the n×r factor F (F Fᵀ = K̂, the
                          same object as scikit-learn's features). Also prints the relative difference
                          of the two trace errors (same landmarks, same K̂ up to the core).
2. ``rpcholesky`` RPCholesky (block and accelerated), k = 500, n = 50000 (``--full``: k = 1000,
                 n = 100000). floor: as above for the same n, k; anchor: kernapprox uniform Nyström
                 with the same k (RPCholesky must also pick its pivots adaptively).
3. ``table``     (accuracy, not timed) relative trace error tr(K − K̂)/tr(K) vs k ∈ {50, 100, 200,
                 400} for every sampler on smile, spiral, outliers (n = 2000) and digits (n = 1797),
                 median of 5 seeds (a Markdown table, kept in the README).
4. ``first-call`` the first full-size ``ka.nystrom`` call of a fresh process (after a small call that
                 loads the compiled kernels) vs the steady state (min of 3 later calls), one
                 subprocess per repeat.

Usage::

    python benchmarks/bench_nystrom.py [sklearn|rpcholesky|table|first-call|timing|all] [--full]
                                       [--repeat R] [--n N]

``timing`` (the default) runs parts 1 and 2 (about 1–2 minutes on a quiet 2-core machine).
"""
from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import time
import warnings

import numpy as np
from scipy.linalg.blas import dtrmm
from scipy.linalg.lapack import dtrtri

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernapprox as ka  # noqa: E402
from _harness import inplace, interleaved, machine_line, print_case  # noqa: E402
from kernapprox.datasets import clouds  # noqa: E402


def _mixture(n, d, rng, n_clusters=50, within=0.5):
    """Gaussian mixture in R^d: well-conditioned landmark blocks at bandwidth sqrt(d)."""
    g = np.random.default_rng(rng)
    centers = g.normal(size=(n_clusters, d))
    lab = g.integers(n_clusters, size=n)
    return centers[lab] + within * g.normal(size=(n, d))


def nystrom_floor(X, Z, gamma):
    """The unavoidable work of a Nyström factor: k×k core, n×k kernel block, one triangular apply."""
    k = Z.shape[0]
    zz = np.einsum("ij,ij->i", Z, Z)
    W = Z @ Z.T
    W *= 2 * gamma
    W -= gamma * zz[:, None]
    W -= gamma * zz[None, :]
    np.exp(W, out=W)
    W.flat[::k + 1] += 10 * np.finfo(np.float64).eps * k
    Linv = dtrtri(np.linalg.cholesky(W), lower=1)[0]
    C = X @ Z.T
    inplace(np.exp, C)
    dtrmm(1.0, Linv, C.T, lower=1, overwrite_b=1)
    return C


def bench_sklearn(n, d, k, repeat, seed=0):
    from sklearn.kernel_approximation import Nystroem

    X = _mixture(n, d, seed)
    bw = float(np.sqrt(d))
    gamma = 1.0 / (2.0 * bw * bw)
    KM = ka.KernelMatrix(ka.Gaussian(bw), X)
    # the landmarks scikit-learn picks with this random_state (its fit draws a permutation first)
    idx = Nystroem(kernel="rbf", gamma=gamma, n_components=k, random_state=seed).fit(X[:, :1]).component_indices_
    Z = X[idx]
    ka.nystrom(ka.KernelMatrix(ka.Gaussian(bw), X[:4000]), np.arange(0, 4000, 20))   # load the kernels
    sk = lambda: Nystroem(kernel="rbf", gamma=gamma, n_components=k, random_state=seed).fit_transform(X)
    t = interleaved({"floor (GEMM + exp + trmm)": lambda: nystrom_floor(X, Z, gamma),
                     "sklearn Nystroem.fit_transform": sk,
                     "ka.nystrom": lambda: ka.nystrom(KM, idx)}, repeat)
    Zs = sk()
    err_sk = n - float(np.einsum("ij,ij->", Zs, Zs))
    del Zs
    gc.collect()
    approx = ka.nystrom(KM, idx)
    err_ka = float(KM.diag().sum()) - approx.trace()
    rel = abs(err_ka - err_sk) / abs(err_sk)
    r = print_case(f"nystrom: uniform, Gaussian, n={n}, d={d}, k={k}, float64", t, "floor (GEMM + exp + trmm)",
                   ["sklearn Nystroem.fit_transform"], "ka.nystrom",
                   note="(targets: kernapprox/floor <= 1.2)")
    print(f"  trace error /n: sklearn {err_sk / n:.10f}, kernapprox {err_ka / n:.10f} (core "
          f"{approx.info['core']}, dropped {approx.info['dropped']}); relative difference {rel:.2e}")
    return r


def bench_rpcholesky(n, d, k, repeat, seed=0, block_size=200):
    X = _mixture(n, d, seed)
    bw = float(np.sqrt(d))
    KM = ka.KernelMatrix(ka.Gaussian(bw), X)
    idx = np.random.default_rng(seed).choice(n, k, replace=False)
    Z = X[idx]
    ka.rpcholesky(ka.KernelMatrix(ka.Gaussian(bw), X[:4000]), 50, block_size=25, rng=0)   # load the kernels
    ka.rpcholesky(ka.KernelMatrix(ka.Gaussian(bw), X[:4000]), 50, block_size=25, accelerated=True, rng=0)
    fns = {"floor (GEMM + exp + trmm)": lambda: nystrom_floor(X, Z, 1.0 / (2 * bw * bw)),
           "ka.nystrom (uniform)": lambda: ka.nystrom(KM, idx)}
    for name, kw in [("accelerated", dict(accelerated=True, block_size=block_size)),
                     ("block", dict(block_size=block_size))]:
        fns[f"ka.rpcholesky {name} (b={block_size})"] = (lambda kw=kw: ka.rpcholesky(KM, k, rng=seed, **kw))
    t = interleaved(fns, repeat)
    out = {}
    for name in ("accelerated", "block"):
        lab = f"ka.rpcholesky {name} (b={block_size})"
        out[name] = print_case(f"rpcholesky {name}: Gaussian, n={n}, d={d}, k={k}", t, "floor (GEMM + exp + trmm)",
                               ["ka.nystrom (uniform)"], lab, note="(target: uniform/rpcholesky >= 0.5)")
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


_CHILD = r"""
import sys, time, numpy as np, kernapprox as ka
sys.path.insert(0, {here!r})
from bench_nystrom import _mixture, nystrom_floor
n, d, k = {n}, {d}, {k}
X = _mixture(n, d, 0)
KM = ka.KernelMatrix(ka.Gaussian(float(np.sqrt(d))), X)
idx = np.random.default_rng(0).choice(n, k, replace=False)
if {floor}:
    f = lambda: nystrom_floor(X, X[idx], 0.5 / d)
    nystrom_floor(X[:4000], X[idx[:200]], 0.5 / d)
else:
    f = lambda: ka.nystrom(KM, idx)
    ka.nystrom(ka.KernelMatrix(ka.Gaussian(8.0), X[:4000]), np.arange(0, 4000, 20))
ts = []
for _ in range(4):
    t = time.perf_counter(); F = f(); ts.append(time.perf_counter() - t); del F
print(ts[0], min(ts[1:]))
"""


def first_call(n, d, k, repeat):
    """First full-size call of a fresh process vs the steady state, one subprocess per repeat, for
    kernapprox and for the floor (whose n×k output is fresh memory on a first call too)."""
    here = os.path.dirname(os.path.abspath(__file__))
    res = {}
    for _ in range(repeat):
        for fl in (True, False):
            out = subprocess.run([sys.executable, "-c", _CHILD.format(here=here, n=n, d=d, k=k, floor=fl)],
                                 capture_output=True, text=True, check=True)
            f, st = map(float, out.stdout.split()[-2:])
            res.setdefault(fl, []).append((f, st))
    print(f"[first-call] n={n}, d={d}, k={k}: first full-size call of a fresh process (after a small call) vs "
          f"steady state (min of 3 later calls); min over {repeat} fresh processes; load {os.getloadavg()[0]:.1f}")
    for fl, name in ((True, "floor (GEMM + exp + trmm)"), (False, "ka.nystrom")):
        f, st = min(x[0] for x in res[fl]), min(x[1] for x in res[fl])
        print(f"  {name:28s} first {f:7.3f} s  steady {st:7.3f} s  ratio {f / st:.2f}")
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", nargs="?", default="timing",
                   choices=("sklearn", "rpcholesky", "table", "first-call", "timing", "all"))
    p.add_argument("--full", action="store_true", help="n = 100000, k = 2000 (rpcholesky k = 1000)")
    p.add_argument("--quick", action="store_true", help="n = 20000 for the timing parts, 3 seeds for the table")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--n", type=int, default=None)
    args = p.parse_args(argv)
    n = args.n or (100000 if args.full else 20000 if args.quick else 50000)
    k = 2000 if args.full else 1000
    print(machine_line())
    if args.part in ("sklearn", "timing", "all"):
        bench_sklearn(n, 64, k, args.repeat)
    if args.part in ("rpcholesky", "timing", "all"):
        bench_rpcholesky(n, 64, k // 2, args.repeat)
    if args.part in ("first-call", "all"):
        first_call(n, 64, k, args.repeat)
    if args.part in ("table", "all"):
        accuracy_table(seeds=3 if args.quick else 5)


if __name__ == "__main__":
    main()
