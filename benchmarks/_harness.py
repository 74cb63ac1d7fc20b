"""Shared timing and reporting for the benchmarks: floor / anchor / kernapprox rows, measured in one
process, interleaved, minimum over repeats.

Every case has three kinds of rows:

* **floor** — the unavoidable BLAS / exp / memory work of the case written as plainly as possible
  (a GEMM into a fresh array, an in-place ``exp``, a triangular multiply, …). It is the speed of
  light of this machine for the case, not a competing implementation; its result is not required to
  be the right answer, only to cost what the right answer must cost.
* **anchor** — what a user would otherwise run (scikit-learn, dense numpy, or the exact method).
* **kernapprox** — the library call.

The runs are interleaved (floor, anchors, kernapprox, floor, …) so that all rows see the same machine
load, and each row reports the minimum over the repeats. The ratios printed are kernapprox/floor
(>= 1; close to 1 is done) and anchor/kernapprox (the speed-up over the anchor).

Not a library module: imported by the scripts of this folder only (they add this folder to sys.path
when run as ``python benchmarks/bench_x.py``).
"""
from __future__ import annotations

import gc
import os
import platform
import time

import numpy as np

__all__ = ["interleaved", "print_case", "machine_line", "load", "inplace"]

_POOL = None


def inplace(ufunc, A: np.ndarray) -> np.ndarray:
    """``ufunc(A, out=A)`` on row blocks shared out to one thread per CPU (numpy releases the GIL):
    the floor's elementwise pass at the machine's full width, as the GEMM next to it. Returns A."""
    global _POOL
    workers = os.cpu_count() or 1
    if workers == 1 or A.ndim != 2 or A.shape[0] < 2 * workers:
        return ufunc(A, out=A)
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor
        _POOL = ThreadPoolExecutor(workers)
    step = -(-A.shape[0] // (4 * workers))
    list(_POOL.map(lambda i: ufunc(A[i:i + step], out=A[i:i + step]), range(0, A.shape[0], step)))
    return A


def load() -> float:
    """1-minute load average (nan where unavailable)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def machine_line() -> str:
    """One line: CPU model and count, BLAS (threadpoolctl), numba threads, load average."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:  # pragma: no cover - non-Linux
        pass
    blas = "?"
    try:
        from threadpoolctl import threadpool_info
        blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, "
                         f"{i.get('num_threads')} threads)" for i in threadpool_info() if i.get("user_api") == "blas")
    except ImportError:  # pragma: no cover
        pass
    try:
        import numba
        nb = numba.get_num_threads()
    except ImportError:  # pragma: no cover
        nb = "-"
    return (f"# machine: {cpu}, {os.cpu_count()} CPUs; BLAS: {blas}; numba threads {nb}; numpy {np.__version__}; "
            f"load {load():.1f}")


def interleaved(fns: dict, repeat: int) -> dict:
    """Run every callable of ``fns`` (name -> fn()) once per round, ``repeat`` rounds; return the
    minimum wall time of each (seconds) and the load average seen (``"_load"``: min, max)."""
    best = {k: np.inf for k in fns}
    loads = []
    for _ in range(repeat):
        for k, fn in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            out = fn()
            best[k] = min(best[k], time.perf_counter() - t0)
            del out
            loads.append(load())
    best["_load"] = (min(loads), max(loads)) if loads else (float("nan"),) * 2
    return best


def print_case(title: str, t: dict, floor: str, anchors: list[str], ka: str, note: str = "") -> dict:
    """Print the three kinds of rows of one case and its ratios; returns the ratios."""
    lo, hi = t["_load"]
    print(f"[{title}]  min of interleaved repeats; load {lo:.1f}-{hi:.1f}")
    tk = t[ka]
    print(f"  {'floor':10s} {floor:44s} {t[floor]:9.3f} s")
    for a in anchors:
        print(f"  {'anchor':10s} {a:44s} {t[a]:9.3f} s")
    print(f"  {'kernapprox':10s} {ka:44s} {tk:9.3f} s")
    r = {"kernapprox/floor": tk / t[floor]}
    line = f"  ratios: kernapprox/floor {tk / t[floor]:.2f}"
    for a in anchors:
        r[f"{a}/kernapprox"] = t[a] / tk
        line += f";  {a}/kernapprox {t[a] / tk:.2f}x"
    print(line + (f"   {note}" if note else ""))
    return r
