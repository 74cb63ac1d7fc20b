"""Kernel-block and streamed-product benchmarks against the floor and the anchors (run by hand).

    python benchmarks/bench_kernels.py                    # n = m = 8000, d = 64, 7 repeats
    python benchmarks/bench_kernels.py --quick            # small sizes, a smoke run
    python benchmarks/bench_kernels.py --only block --n 8000 --repeat 9

Every case prints three rows, measured in one process, interleaved, minimum of ``--repeat`` runs:

* **floor** — the unavoidable work written as plainly as possible in numpy, same dtype: one GEMM into a
  fresh array (``Xs @ Ys.T`` on points prescaled outside the timing so that the product is the
  exponent's inner-product term; numpy calls SYRK for ``Xs @ Xs.T``), then ``np.exp`` in place;
* **anchor** — what a user would otherwise call: scikit-learn ``rbf_kernel`` (Gaussian), the dense numpy
  formula ``np.exp(X @ Y.T / T)`` (exponential), the dense numpy formula ``exp(...) @ V`` (products);
* **kernapprox** — ``ka.Gaussian(h)(X, Y)``, ``ka.Gaussian(h)(X)``, ``ka.Exponential(T)(...)``,
  ``ka.kernel_matvec``;

with the ratios kernapprox/floor (targets: <= 1.15 float64, <= 1.3 float32 for the blocks) and
anchor/kernapprox, for the wall time (min) and for the process CPU time (min; all threads — the stabler
figure when the machine is shared). Accuracy: max abs deviation of the first 1000 rows from a float64
direct-difference reference (``scipy.spatial.distance.cdist``) on the same input values.

Products (``kernel_matvec``, n = m = 1.5 n_block, V with 16 columns): the floor is the same dense work
into a pre-touched buffer; memory is measured in a fresh interpreter per method (numba's allocations are
invisible to ``tracemalloc``): peak RSS rise (Linux VmHWM after a reset through ``/proc/self/clear_refs``,
else VmRSS sampled every ms) and the traced numpy peak beside it.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import machine_line  # noqa: E402


def _interleaved(fns: dict, repeat: int) -> dict:
    """Run every function ``repeat`` times, interleaved (one warm-up round first).

    Returns {name: (min wall, median wall, min CPU)} in seconds; CPU is the process CPU time (all
    threads), a measure of work that a shared, overloaded machine disturbs much less than wall time.
    """
    for f in fns.values():
        del_me = f()
        del del_me
    times = {k: [] for k in fns}
    cpus = {k: [] for k in fns}
    for _ in range(repeat):
        for k, f in fns.items():
            c0 = time.process_time()
            t0 = time.perf_counter()
            r = f()
            times[k].append(time.perf_counter() - t0)
            cpus[k].append(time.process_time() - c0)
            del r
    return {k: (min(v), statistics.median(v), min(cpus[k])) for k, v in times.items()}


HEADER = (f"  {'case':<34s} {'row':<10s} {'wall min':>9s} {'median':>8s} {'CPU min':>8s}   "
          f"{'ka/floor':>8s} {'anchor/ka':>9s}   {'ka/floor':>8s} {'anchor/ka':>9s}  note")
TABLE = []      # (case, floor, anchor, kernapprox, wall ratios, cpu ratios) for the summary


def _case(case: str, res: dict, note: str = "", target: float | None = None) -> None:
    fl, an, ka_ = res["floor"], res["anchor"], res["kernapprox"]
    rw, aw = ka_[0] / fl[0], an[0] / ka_[0]
    rc, ac = ka_[2] / fl[2], an[2] / ka_[2]
    for name, t in (("floor", fl), ("anchor", an), ("kernapprox", ka_)):
        extra = ""
        if name == "kernapprox":
            extra = (f"{rw:8.2f}x {aw:8.2f}x   {rc:8.2f}x {ac:8.2f}x  {note}"
                     + ("" if target is None else f"  target ka/floor <= {target}: "
                        f"{'MET' if rw <= target else 'NOT MET'} (wall), {'MET' if rc <= target else 'NOT MET'} (CPU)"))
        print(f"  {case:<34s} {name:<10s} {t[0]:9.4f} {t[1]:8.4f} {t[2]:8.4f}   {extra}")
    TABLE.append((case, fl[0], an[0], ka_[0], rw, aw, rc, ac))


def bench_block(n: int, d: int, repeat: int) -> None:
    from scipy.spatial.distance import cdist
    from sklearn.metrics.pairwise import rbf_kernel

    import kernapprox as ka
    h = float(np.sqrt(d))
    T = float(np.sqrt(d))
    gamma = 0.5 / h ** 2
    rng = np.random.default_rng(0)
    X64 = rng.normal(size=(n, d))
    Y64 = rng.normal(size=(n, d))
    print(f"\n[1] kernel blocks n = m = {n}, d = {d}: Gaussian bandwidth {h:g}, exponential temperature {T:g}")
    print(HEADER.replace("ka/floor anchor/ka   ka/floor", "ka/floor anchor/ka   CPU: ka/f"))
    for dt, target in ((np.float64, 1.15), (np.float32, 1.3)):
        X, Y = X64.astype(dt), Y64.astype(dt)
        name = np.dtype(dt).name
        for kname, kern, scale in (("gaussian", ka.Gaussian(h), 1.0 / h), ("exponential", ka.Exponential(T), T ** -0.5)):
            kern(X[:300], Y[:300])                                  # JIT warm-up
            kern(X[:300])
            Xs, Ys = (X * dt(scale)).astype(dt), (Y * dt(scale)).astype(dt)
            if kname == "gaussian":
                anchors = (lambda: rbf_kernel(X, Y, gamma=gamma), lambda: rbf_kernel(X, gamma=gamma))
                ref = lambda A, B: np.exp(-cdist(A, B, "sqeuclidean") * gamma)
            else:
                anchors = (lambda: np.exp(X @ Y.T / dt(T)), lambda: np.exp(X @ X.T / dt(T)))
                ref = lambda A, B: np.exp(A @ B.T / T)          # relative deviation reported
            r = min(n, 1000)
            for shape, fl, an, kf, B in (
                    ("K(X, Y)", lambda: _exp_inplace(Xs @ Ys.T), anchors[0], lambda: kern(X, Y), Y),
                    ("K(X)", lambda: _exp_inplace(Xs @ Xs.T), anchors[1], lambda: kern(X), X)):
                K = kf()
                R = ref(X[:r].astype(np.float64), B.astype(np.float64))
                dev = float((np.abs(K[:r] - R) / (1.0 if kname == "gaussian" else R)).max())
                del K, R
                res = _interleaved({"floor": fl, "anchor": an, "kernapprox": kf}, repeat)
                _case(f"{kname} {shape} {name}", res, f"max {'abs' if kname == 'gaussian' else 'rel'} dev {dev:.1e}", target)


def _exp_inplace(G):
    return np.exp(G, out=G)


_MEM_CHILD = r"""
import re, sys, threading, time, tracemalloc, numpy as np, kernapprox as ka
from kernapprox._numba.reference import gaussian_block_numpy
method, n, d, r = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
h = float(np.sqrt(d))
rng = np.random.default_rng(0)
X = rng.normal(size=(n, d)); Y = rng.normal(size=(n, d)); V = rng.normal(size=(n, r))
def run(X, Y, V):
    if method == "kernapprox":
        return ka.kernel_matvec(ka.Gaussian(h), X, Y, V)
    return gaussian_block_numpy(X, Y, h) @ V
def status(key):
    return int(re.search(key + r":\s+(\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
run(X[:600], Y[:600], V[:600])                     # JIT cache load / warm-up
base = status("VmRSS")
try:                                               # reset the kernel's peak-RSS mark (VmHWM) to VmRSS
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    how = "VmHWM"
except OSError:                                    # fallback: sample VmRSS every millisecond
    how = "sampled"
peak = [base]
stop = threading.Event()
def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], status("VmRSS")); time.sleep(0.001)
th = threading.Thread(target=sample, daemon=True); th.start()
tracemalloc.start()
t0 = time.perf_counter()
out = run(X, Y, V)
t = time.perf_counter() - t0
traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
stop.set(); th.join()
top = status("VmHWM") if how == "VmHWM" else peak[0]
print(max(top, peak[0]) - base, traced, t, how)
"""


def _mem(method: str, n: int, d: int, r: int):
    res = subprocess.run([sys.executable, "-c", _MEM_CHILD, method, str(n), str(d), str(r)],
                         capture_output=True, text=True, check=True)
    rss, traced, t, how = res.stdout.split()
    return int(rss), int(traced), float(t), how


def bench_matvec(n: int, d: int, r: int, repeat: int) -> None:
    import kernapprox as ka
    from kernapprox._numba.reference import gaussian_block_numpy
    h = float(np.sqrt(d))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    Y = rng.normal(size=(n, d))
    V = rng.normal(size=(n, r))
    k = ka.Gaussian(h)
    ka.kernel_matvec(k, X[:600], Y[:600], V[:600])
    print(f"\n[2] kernel_matvec Gaussian n = m = {n}, d = {d}, V with {r} columns")
    print(HEADER)
    ours = ka.kernel_matvec(k, X, Y, V)
    dense = gaussian_block_numpy(X, Y, h) @ V
    rel = float(np.abs(ours - dense).max() / np.abs(dense).max())
    del dense
    Xs, Ys = X / h, Y / h
    buf = np.ones((n, n))                                     # pre-touched: the floor pays no first touch

    def floor():
        np.matmul(Xs, Ys.T, out=buf)
        np.exp(buf, out=buf)
        return buf @ V

    res = _interleaved({"floor": floor, "anchor": lambda: gaussian_block_numpy(X, Y, h) @ V,
                        "kernapprox": lambda: ka.kernel_matvec(k, X, Y, V)}, repeat)
    del buf
    dense_bytes = n * n * 8
    mem = {m: _mem(m, n, d, r) for m in ("dense", "kernapprox")}
    _case(f"kernel_matvec {n}x{n} r={r} float64", res, f"max rel dev {rel:.1e}")
    for name, m in (("anchor (dense numpy)", "dense"), ("kernapprox", "kernapprox")):
        rss, traced, _, how = mem[m]
        print(f"    memory {name:<22s} peak RSS +{rss / 2**20:8.1f} MiB ({100 * rss / dense_bytes:5.1f}% of the dense "
              f"matrix), traced {traced / 2**20:8.1f} MiB [{how}]")


def _summary() -> None:
    print("\nsummary (wall-time minima in s; ratios wall | CPU):")
    print("| case | floor | anchor | kernapprox | ka/floor | anchor/ka | ka/floor (CPU) | anchor/ka (CPU) |")
    print("|---|---|---|---|---|---|---|---|")
    for case, fl, an, k, rw, aw, rc, ac in TABLE:
        print(f"| {case} | {fl:.3f} | {an:.3f} | {k:.3f} | {rw:.2f} | {aw:.2f} | {rc:.2f} | {ac:.2f} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--n", type=int, default=8000, help="block size n = m (products: 1.5 n)")
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--only", choices=("block", "matvec"), default=None)
    a = p.parse_args(argv)
    nb = 1500 if a.quick else a.n
    nm = int(1.5 * nb)
    print("command: python benchmarks/bench_kernels.py " + " ".join(sys.argv[1:] if argv is None else argv))
    print(machine_line())
    if a.only in (None, "block"):
        bench_block(nb, a.d, a.repeat)
    if a.only in (None, "matvec"):
        bench_matvec(nm, a.d, 16, max(1, min(a.repeat, 3)))
    _summary()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"\nload average at end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (min of {a.repeat} interleaved runs, one process)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
