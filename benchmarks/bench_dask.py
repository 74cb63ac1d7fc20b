"""Benchmark: Nyström features on Dask from a memory-mapped .npy.

Target workload: n = 5,000,000 points, d = 16, k = 512 uniform landmarks, Gaussian kernel, features
``F = K(X, L) R`` for all n points computed on a ``dask.distributed`` LocalCluster from a ``.npy``
file opened with ``np.load(mmap_mode="r")`` in the workers, consumed by a one-pass reduction (the
exact trace error Σ_i k(x_i, x_i) − ||f_i||², which forces every feature row to be computed but
keeps nothing n-sized anywhere).

What is measured (printed as RATIOS measured in this one process; timings are the minimum over
``--repeat`` runs because the machine may be shared). Three kinds of rows per worker count, as every
benchmark of this folder (:mod:`_harness`), all as seconds for the n points:

* floor: the same pass written plainly, in this process, BLAS 1 thread, per chunk of the memory map:
  ``G = X_c Lᵀ`` (GEMM into a fresh array), in-place ``exp``, in-place ``?trmm`` by L⁻¹, the row norms
  (measured on ``--anchor-n`` points and scaled to n; one core, so w workers ideally reach floor/w);
* anchor: the library's per-chunk routine in a plain Python loop (no Dask), BLAS and numba 1 thread;
* kernapprox: ``kernapprox.distributed`` on a LocalCluster of w workers;

* throughput (points / s) with 1 worker and with 2 workers (processes, 1 thread each: BLAS pinned
  to 1 thread by the nanny, numba by NUMBA_NUM_THREADS=1), against an in-process anchor: the same
  per-chunk routine run in a plain Python loop over the memory-mapped file with BLAS (threadpoolctl)
  and numba limited to 1 thread;
* peak memory per worker: the peak anonymous resident memory (``RssAnon`` of /proc/self/status,
  sampled every 10 ms by a probe thread in each worker; file pages of the memory map excluded) minus
  its value before the run, next to the per-task working set predicted from the chunk size
  (F chunk rows × k × 8 + the X chunk; kernel tiles are written into F), which does not depend on n.

Usage::

    python benchmarks/bench_dask.py [--n 200000] [--d 16] [--k 512] [--chunk-rows R]
                                    [--workers 1,2] [--repeat 2] [--dir DIR] [--keep]

The default n is small (200,000) so that the script is quick on a shared machine; the target size
is ``--n 5000000`` (a 640 MB float64 file; expect minutes on 1–2 cores).
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import tempfile
import time

import numpy as np
from scipy.linalg.blas import dtrmm
from scipy.linalg.lapack import dtrtri

import kernapprox as ka
from kernapprox import distributed as kd

#: Rows written per step when the input file is generated (bounded memory while writing).
WRITE_ROWS = 1_000_000


def make_points(path: str, n: int, d: int, seed: int) -> None:
    """A Gaussian mixture in R^d written block by block into a memory-mapped .npy."""
    g = np.random.default_rng(seed)
    centers = g.normal(size=(64, d))
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, d))
    for s in range(0, n, WRITE_ROWS):
        e = min(n, s + WRITE_ROWS)
        lab = g.integers(64, size=e - s)
        out[s:e] = centers[lab] + 0.5 * g.normal(size=(e - s, d))
    out.flush()
    del out


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _rss_now() -> int:
    """Anonymous resident memory (bytes): heap and arrays, not file pages mapped by np.load."""
    return _status_kib("RssAnon") * 1024


#: Sampling period of the per-worker peak-memory probe (seconds).
PROBE_PERIOD = 0.01


def _start_probe(dask_worker=None) -> None:
    """Start a daemon thread in this worker process recording the peak of RssAnon (state kept on
    the worker object: functions sent by ``client.run`` do not share module globals)."""
    import threading
    state = {"peak": _rss_now(), "stop": threading.Event()}
    dask_worker._kernapprox_probe = state

    def loop():
        while not state["stop"].is_set():
            state["peak"] = max(state["peak"], _rss_now())
            state["stop"].wait(PROBE_PERIOD)
    threading.Thread(target=loop, daemon=True).start()


def _stop_probe(dask_worker=None) -> int:
    state = dask_worker._kernapprox_probe
    state["stop"].set()
    return max(state["peak"], _rss_now())


def _warm_up() -> None:
    from kernapprox._cores import psd_core
    Z = np.random.default_rng(0).normal(size=(600, 4))
    k = ka.Gaussian(1.0)
    kd._nystrom_trace_block(Z, k, Z[:200], psd_core(k.block(Z[:200], Z[:200])), "<f8")


def anchor(path, kernel, idx, chunk_rows, n_anchor):
    """In-process loop over the memory-mapped file with the same per-chunk routine, BLAS 1 thread."""
    from threadpoolctl import threadpool_limits
    from kernapprox._cores import psd_core
    X = np.load(path, mmap_mode="r")
    L = np.ascontiguousarray(X[np.sort(idx)])
    pc = psd_core(kernel.block(L, L), "shifted_cholesky", eps=float(np.finfo(np.float64).eps))
    Lk = np.ascontiguousarray(L[pc.cols])
    err = 0.0
    try:
        import numba
        numba_threads = numba.get_num_threads()
        numba.set_num_threads(1)
    except ImportError:  # pragma: no cover
        numba, numba_threads = None, None
    with threadpool_limits(1):
        kd._nystrom_trace_block(np.array(X[:512]), kernel, Lk, pc, "<f8")    # warm-up (numba cache load)
        t = time.perf_counter()
        for s in range(0, n_anchor, chunk_rows):
            Xc = np.array(X[s:min(n_anchor, s + chunk_rows)])
            err += float(kd._nystrom_trace_block(Xc, kernel, Lk, pc, "<f8")[0, 0])
        dt = time.perf_counter() - t
    if numba is not None:
        numba.set_num_threads(numba_threads)
    return dt, err


def floor(path, kernel, idx, chunk_rows, n_floor):
    """Plain per-chunk GEMM + exp + trmm + row norms over the memory map, BLAS 1 thread (the floor)."""
    from threadpoolctl import threadpool_limits
    X = np.load(path, mmap_mode="r")
    L = np.ascontiguousarray(X[np.sort(idx)])
    W = kernel(L)
    W.flat[::W.shape[0] + 1] += 10 * np.finfo(np.float64).eps * W.shape[0]
    Linv = dtrtri(np.linalg.cholesky(W), lower=1)[0]
    s = 0.0
    with threadpool_limits(1):
        t = time.perf_counter()
        for i in range(0, n_floor, chunk_rows):
            Xc = np.array(X[i:min(n_floor, i + chunk_rows)])
            G = Xc @ L.T
            np.exp(G, out=G)
            dtrmm(1.0, Linv, G.T, lower=1, overwrite_b=1)
            s += float(np.einsum("ij,ij->", G, G))
        dt = time.perf_counter() - t
    return dt, s


def run_cluster(path, kernel, idx, chunk_rows, workers, repeat):
    from dask.distributed import Client, LocalCluster
    # one thread per worker for everything: Dask's nanny pins OpenMP/MKL/OpenBLAS to 1 thread, and
    # NUMBA_NUM_THREADS=1 pins the numba kernel blocks, so w workers use w cores
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.CRITICAL, memory_limit=0,
                      env={"NUMBA_NUM_THREADS": "1"}) as cluster, Client(cluster) as client:
        # warm-up: import the library and run one tiny feature block in every worker, so that the
        # resident-set growth measured below is the computation's, not the imports'
        client.run(_warm_up)
        base = client.run(_rss_now)
        client.run(_start_probe)
        best, setup, err = np.inf, np.inf, None
        for _ in range(repeat):
            gc.collect()
            t0 = time.perf_counter()
            approx = kd.nystrom(kd.DaskKernelMatrix(kernel, path, chunk_rows=chunk_rows), idx)  # gather + core
            t1 = time.perf_counter()
            err = approx.trace_error()                                      # the pass over all n points
            t2 = time.perf_counter()
            setup, best = min(setup, t1 - t0), min(best, t2 - t1)
        peak = client.run(_stop_probe)
        nchunks = len(approx.F.chunks[0])
        rank = approx.rank
    extra = {w: peak[w] - base[w] for w in peak}
    return best, setup, err, extra, {w: peak[w] for w in peak}, nchunks, rank


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--k", type=int, default=512)
    ap.add_argument("--bandwidth", type=float, default=4.0)
    ap.add_argument("--chunk-rows", type=int, default=None,
                    help="rows per chunk (default: kernapprox.distributed.CHUNK_BYTES / (8 k))")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--anchor-n", type=int, default=200_000, help="points of the in-process anchor run")
    ap.add_argument("--dir", default=None, help="directory of the .npy file (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the generated .npy")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    chunk_rows = a.chunk_rows or max(kd.MIN_CHUNK_ROWS, kd.CHUNK_BYTES // (8 * a.k))
    d = tempfile.mkdtemp(prefix="bench_dask_", dir=a.dir)
    path = os.path.join(d, f"points_{a.n}x{a.d}.npy")
    t = time.perf_counter()
    make_points(path, a.n, a.d, a.seed)
    print(f"# wrote {path}: {a.n}×{a.d} float64 ({a.n * a.d * 8 / 2**20:.0f} MiB) in {time.perf_counter() - t:.1f}s")
    kernel = ka.Gaussian(bandwidth=a.bandwidth)
    idx = np.random.default_rng(a.seed + 1).choice(a.n, size=a.k, replace=False)
    print(f"# Nyström features n={a.n} d={a.d} k={a.k}, chunk_rows={chunk_rows}, Gaussian(bandwidth={a.bandwidth}); "
          f"times: min over {a.repeat} run(s); cpus={os.cpu_count()}, load={os.getloadavg()[0]:.1f}")
    # float64: nystrom_psd writes each kernel tile straight into the rows of the F chunk (no tile buffer)
    task_bytes = chunk_rows * (a.k + a.d) * 8
    print(f"# predicted working set per task: chunk_rows×(k+d)×8 (F chunk, X chunk; kernel tiles are written "
          f"into F) = {task_bytes / 2**20:.1f} MiB (independent of n)")

    results = {"n": a.n, "d": a.d, "k": a.k, "chunk_rows": chunk_rows, "task_bytes": task_bytes, "runs": {}}
    na = min(a.n, a.anchor_n)
    thr1 = None
    for w in [int(x) for x in a.workers.split(",")]:
        # the anchor is re-measured right before each cluster run: the ratio compares like with like
        # on a machine whose load changes
        tf = min(floor(path, kernel, idx, chunk_rows, na)[0] for _ in range(a.repeat))
        ta = min(anchor(path, kernel, idx, chunk_rows, na)[0] for _ in range(a.repeat))
        thr_anchor = na / ta
        print(f"floor (plain GEMM + exp + trmm per chunk, 1 BLAS thread, n={na}): {tf:.2f}s  {na / tf:,.0f} points/s")
        print(f"anchor (in-process loop, 1 BLAS + 1 numba thread, n={na}): {ta:.2f}s  {thr_anchor:,.0f} points/s "
              f"(load {os.getloadavg()[0]:.1f})")
        results.setdefault("anchor", {})[w] = {"n": na, "seconds": ta, "points_per_s": thr_anchor}
        secs, setup, err, extra, peak, nchunks, rank = run_cluster(path, kernel, idx, chunk_rows, w, a.repeat)
        thr = a.n / secs
        thr1 = thr if w == 1 else thr1
        rel = err / a.n  # Gaussian kernel: tr K = n
        ex = " ".join(f"{v / 2**20:.0f}" for v in extra.values())
        pk = " ".join(f"{v / 2**20:.0f}" for v in peak.values())
        ratio = f", vs 1 worker: {thr / thr1:.2f}x" if (thr1 and w != 1) else ""
        print(f"  rows for n = {a.n} (s): floor {tf * a.n / na:.2f} (1 core), anchor {ta * a.n / na:.2f}, "
              f"kernapprox dask {w} worker(s) {secs:.2f};  kernapprox/floor {secs / (tf * a.n / na):.2f} "
              f"(ideal 1/{w}), anchor/kernapprox {(ta * a.n / na) / secs:.2f}x")
        results.setdefault("floor", {})[w] = {"n": na, "seconds": tf}
        print(f"dask {w} worker(s): features pass {secs:.2f}s  {thr:,.0f} points/s  (vs anchor: "
              f"{thr / thr_anchor:.2f}x{ratio}); setup (landmarks + core) {setup:.2f}s; "
              f"{nchunks} chunks, rank {rank}, relative trace error {rel:.3e}; "
              f"peak anon. RSS per worker [MiB]: {pk} (growth during the run: {ex})")
        results["runs"][w] = {"seconds": secs, "setup_seconds": setup, "points_per_s": thr, "rel_trace_error": rel,
                              "peak_rss": peak, "rss_growth": extra, "chunks": nchunks, "rank": rank}
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(results, fh, indent=1, default=str)
    if not a.keep:
        os.remove(path)
        os.rmdir(d)
    return results


if __name__ == "__main__":
    main()
