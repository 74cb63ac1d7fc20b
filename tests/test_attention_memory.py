"""No approximator forms an n×n matrix: peak traced memory (tracemalloc sees numpy buffers) of one call
stays far below one n×n float64 matrix."""
import tracemalloc

import numpy as np
import pytest

import kernapprox as ka

CASES = [
    ("skyformer", {}), ("skyformer", {"target": "softmax"}), ("skyformer", {"preset": "code"}),
    ("skyformer", {"accumulation": 2}), ("nystromformer", {}), ("skeinformer", {}),
    ("skeinformer", {"row_normalization": "exact"}), ("informer", {}), ("informer", {"measure": "exact"}),
    ("linformer", {}), ("linformer", {"variant": "unreduced_jlt"}), ("vmean", {}), ("s3", {}),
]


def _peak(fn):
    tracemalloc.start()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, peak


#: variants with an exact O(n m p) streamed part (slow at large n)
QUADRATIC = {("skeinformer", "row_normalization"), ("informer", "measure"), ("linformer", "variant")}


def _check(n, fraction, p=64, d=256, quadratic=True):
    r = np.random.default_rng(0)
    Q, K, V = 0.5 * r.normal(size=(3, n, p))
    nn = n * n * 8
    for method, opts in CASES:
        if not quadratic and any((method, k) in QUADRATIC for k in opts):
            continue
        out, peak = _peak(lambda: ka.attention.approximate(Q, K, V, method=method, d=d, rng=0, **opts))
        assert out.shape == (n, p)
        assert peak < fraction * nn, (method, opts, peak / 2**20)
    if quadratic:
        _, peak = _peak(lambda: ka.attention.exact(Q, K, V))
        assert peak < fraction * nn


def test_memory_linear_in_n_at_8192():
    """n = 8192, p = 64, d = 256: every linear-cost method's peak extra memory < 1/4 of one n×n float64
    (512 MiB); observed ≤ ≈ 60 MiB."""
    _check(8192, 0.25, quadratic=False)


@pytest.mark.slow
def test_memory_at_16384_well_under_one_nxn_matrix():
    """The long-sequence setting: n = 16384, p = 64, d = 256, all variants (streamed exact parts included):
    peak < 1/8 of one n×n float64 (2 GiB); observed ≤ ≈ 115 MiB."""
    _check(16384, 0.125)


#: (method, options) whose output without factors is streamed over row tiles of the kernel factors
#: (attention._common.kernel_row_tiles), while return_factors=True forms the whole factors
STREAMED = [("skyformer", {}), ("skyformer", {"preset": "code"}), ("skyformer", {"core": "ridge", "lam": 0.1}),
            ("skyformer", {"target": "softmax"}), ("skyformer", {"target": "softmax", "center_keys": False}),
            ("nystromformer", {}), ("nystromformer", {"target": "gaussian"}),
            ("nystromformer", {"core": "pinv"})]
#: the names of the three factors of CQ (W⁺ (CKᵀ V)) in each method's factors dict
FACTOR_NAMES = {"skyformer": ("CQ", "Winv", "CK"), "nystromformer": ("F", "A_pinv", None)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method, opts", STREAMED)
def test_streamed_output_matches_the_whole_factors(monkeypatch, method, opts, dtype):
    """Tiling is a memory knob only: the streamed output (here with 64-row tiles, many per call) equals
    the output formed from the whole factors (``return_factors=True``) to the rounding bound of the
    product ``CQ (W⁺ (CKᵀ V))``: ``(m + 2d) eps · max |CQ| |W⁺| |CK|ᵀ |V|`` (sums regrouped by tile),
    float32 and float64."""
    import kernapprox.attention._common as common
    r = np.random.default_rng(3)
    Q, K, V = (0.5 * r.normal(size=(3, 700, 16))).astype(dtype)
    ref, f = ka.attention.approximate(Q, K, V, method=method, d=96, rng=1, return_factors=True, **opts)
    import importlib
    mod = importlib.import_module(f"kernapprox.attention._{method}")
    for m in (common, mod):
        for name in ("FACTOR_BUDGET", "KERNEL_BUDGET"):
            if hasattr(m, name):
                monkeypatch.setattr(m, name, 64 * 96 * np.dtype(dtype).itemsize)            # 64-row tiles
    out = ka.attention.approximate(Q, K, V, method=method, d=96, rng=1, **opts)
    assert out.dtype == ref.dtype == dtype and out.shape == ref.shape
    left, core, right = FACTOR_NAMES[method]
    # Nyströmformer's factors hold B V (d, pv) itself: |B||V| <= max|V| for a row-stochastic / Gaussian B
    BV = np.abs(f["CK"]).T @ np.abs(V.astype(np.float64)) if right else np.abs(V).max() * np.ones(f["BV"].shape)
    scale = np.abs(f[left]) @ (np.abs(f[core]) @ BV)
    bound = (Q.shape[0] + 2 * 96) * np.finfo(dtype).eps * scale.max()
    if opts.get("target") == "softmax":
        # out = num / den with den = CQ W⁺ CKᵀ1: both regrouped, relative to the row's denominator
        den = np.abs(f["CQ"] @ (f["Winv"] @ f["CK"].sum(axis=0)))
        sden = np.abs(f["CQ"]) @ (np.abs(f["Winv"]) @ np.abs(f["CK"]).sum(axis=0))
        eps_b = (Q.shape[0] + 2 * 96) * np.finfo(np.float64).eps
        bound = (eps_b * (scale + np.abs(ref) * sden[:, None]) / den[:, None]).max() + \
            4 * np.finfo(dtype).eps * np.abs(ref).max()
    dev = np.abs(out.astype(np.float64) - ref).max()
    assert dev <= bound, (dev, bound)


def test_kernel_row_tiles_cover_the_block(monkeypatch):
    """kernel_row_tiles: consecutive tiles, in one reused buffer, whose rows are those of the whole block."""
    import kernapprox.attention._common as common
    monkeypatch.setattr(common, "KERNEL_BUDGET", 100 * 30 * 8)
    r = np.random.default_rng(4)
    A, B = r.normal(size=(1000, 5)), r.normal(size=(30, 5))
    kern = ka.Gaussian(1.3)
    ref = kern(common.scaled(A), B)
    stops, bufs = [0], set()
    for i0, i1, T in common.kernel_row_tiles(kern, A, B, common.scaled):
        assert i0 == stops[-1] and T.shape == (i1 - i0, 30)
        np.testing.assert_allclose(T, ref[i0:i1], rtol=0, atol=16 * np.finfo(np.float64).eps)
        stops.append(i1)
        bufs.add(T.__array_interface__["data"][0])
    assert stops[-1] == 1000 and len(stops) > 5 and len(bufs) == 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("opts", [{}, {"row_normalization": "simple"},
                                  {"row_normalization": "simple", "importance_weights": True}])
def test_skeinformer_query_tiles_do_not_change_the_output(monkeypatch, opts, dtype):
    """Skeinformer's row-local normalisations run over query tiles: 64-row tiles and one tile agree to
    the rounding of the d-term score and output products (each row's arithmetic is otherwise the same)."""
    import kernapprox.attention._common as common
    r = np.random.default_rng(5)
    Q, K, V = (0.5 * r.normal(size=(3, 900, 16))).astype(dtype)
    monkeypatch.setattr(common, "FACTOR_BUDGET", 1 << 40)
    ref = ka.attention.approximate(Q, K, V, method="skeinformer", d=80, rng=2, **opts)
    monkeypatch.setattr(common, "FACTOR_BUDGET", 64 * 80 * np.dtype(dtype).itemsize)
    out = ka.attention.approximate(Q, K, V, method="skeinformer", d=80, rng=2, **opts)
    assert out.dtype == ref.dtype == dtype
    np.testing.assert_allclose(out, ref, rtol=0, atol=4 * 80 * np.finfo(dtype).eps * np.abs(ref).max())
