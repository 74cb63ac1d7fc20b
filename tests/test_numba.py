"""Jitted kernels of kernapprox._numba against their plain numpy references (design.md §4.5).

Every jitted routine (exp64/exp32, block_kernel, matvec_kernel) and every dispatch function is compared
with the obvious numpy formula, in float64 and float32, on shapes that exercise partial tiles.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kernapprox as ka
from kernapprox import _numba as nb
from kernapprox._numba import dense
from kernapprox._numba.reference import (direct_exponent_numpy, exponential_block_numpy, exponential_matvec_numpy,
                                        gaussian_block_numpy, sqdist_numpy)
from scipy.spatial.distance import cdist

EPS64 = np.finfo(np.float64).eps
EPS32 = np.finfo(np.float32).eps
#: exp64 / exp32 are pinned to at most this many units in the last place from np.exp
EXP_MAX_ULP = 2


def _ulp_error(got, ref):
    ok = np.isfinite(ref) & (ref > np.finfo(ref.dtype).tiny)
    return (np.abs(got[ok].astype(np.float64) - ref[ok].astype(np.float64)) / np.spacing(ref[ok])).max()


# ---- exp ---------------------------------------------------------------------------------------
def test_exp64_within_2ulp_of_numpy_over_whole_range(rng):
    x = np.concatenate([np.linspace(-760.0, 720.0, 200_001), rng.normal(size=10_000) * 30,
                        [0.0, -0.0, 1e-300, -1e-300, 709.78, 709.79, -745.1, -740.0, -708.4]])
    got = x.copy()
    dense.exp_inplace(got)
    with np.errstate(over="ignore"):
        ref = np.exp(x)
    assert _ulp_error(got, ref) <= EXP_MAX_ULP
    assert np.array_equal(np.isinf(got), np.isinf(ref))            # overflow to +inf where numpy does
    big_ok = np.isfinite(ref) & (ref > 0)
    assert np.all(got[~big_ok & (x < 0)] <= np.finfo(np.float64).tiny)  # underflow: zero / subnormal
    assert got[x == 0.0][0] == 1.0


def test_exp32_within_2ulp_of_numpy_float32(rng):
    x = np.concatenate([np.linspace(-110.0, 95.0, 200_001), rng.normal(size=10_000) * 10, [0.0, 88.7, -87.3]])
    x = x.astype(np.float32)
    got = x.copy()
    dense.exp_inplace(got)
    assert got.dtype == np.float32
    with np.errstate(over="ignore"):
        ref = np.exp(x)
    assert _ulp_error(got, ref) <= EXP_MAX_ULP
    assert np.array_equal(np.isinf(got), np.isinf(ref))
    assert got[x == 0][0] == 1.0


def _ulps_incl_subnormal(got, ref):
    """|got - ref| in units of the spacing of ref in its own dtype (2^-1074 / 2^-149 for subnormals)."""
    ok = np.isfinite(ref)
    return np.abs(got[ok].astype(np.float64) - ref[ok].astype(np.float64)) / np.spacing(np.abs(ref[ok])).astype(np.float64)


def test_exp64_subnormal_range_and_special_values(rng):
    """Outputs in the subnormal range (x in [-745.13, -708.4]) within 1 unit of 2^-1074; NaN -> NaN,
    +inf -> inf, -inf -> 0, huge arguments saturate like np.exp. Measured max: 1 ulp (normal and
    subnormal outputs)."""
    x = np.concatenate([rng.uniform(-745.2, -708.0, 200_000), [-745.1332191019411, -745.1332191019412, -744.44,
                                                               -708.3964185322641, -708.39641853226408]])
    got = x.copy()
    dense.exp_inplace(got)
    ref = np.exp(x)
    assert _ulps_incl_subnormal(got, ref).max() <= 1
    sp = np.array([np.nan, np.inf, -np.inf, 1e308, -1e308, 5e-324, -5e-324])
    got = sp.copy()
    dense.exp_inplace(got)
    assert np.isnan(got[0]) and got[1] == np.inf and got[2] == 0 and got[3] == np.inf and got[4] == 0
    assert got[5] == 1.0 and got[6] == 1.0


def test_exp32_subnormal_range_and_special_values(rng):
    """float32: subnormal outputs (x in [-103.98, -87.3]) within 2 units of 2^-149; specials as numpy."""
    x = rng.uniform(-104.0, -87.0, 200_000).astype(np.float32)
    got = x.copy()
    dense.exp_inplace(got)
    ref = np.exp(x)
    assert _ulps_incl_subnormal(got, ref).max() <= EXP_MAX_ULP
    sp = np.array([np.nan, np.inf, -np.inf, 3e38, -3e38], dtype=np.float32)
    got = sp.copy()
    dense.exp_inplace(got)
    assert np.isnan(got[0]) and got[1] == np.inf and got[2] == 0 and got[3] == np.inf and got[4] == 0


def test_exp32_dense_sample_of_every_binade(rng):
    """float32 exp on 4M arguments spread uniformly over the bit patterns of [-104, 89] (every binade,
    including the tiny ones near 0): <= 2 ulp everywhere (measured max 2)."""
    b104 = int(np.float32(104.0).view(np.uint32))
    b89 = int(np.float32(89.0).view(np.uint32))
    neg = (rng.integers(0, b104 + 1, 2_000_000).astype(np.uint32) | np.uint32(0x80000000)).view(np.float32)
    pos = rng.integers(0, b89 + 1, 2_000_000).astype(np.uint32).view(np.float32)
    x = np.concatenate([neg, pos])
    x = x[(x >= -104) & (x <= 89)]
    got = x.copy()
    dense.exp_inplace(got)
    with np.errstate(over="ignore"):
        ref = np.exp(x)
    assert _ulps_incl_subnormal(got, ref).max() <= EXP_MAX_ULP
    assert np.array_equal(np.isinf(got), np.isinf(ref))


def test_polynomial_cosine_accuracy_over_its_whole_range(rng):
    """The vectorised fdlibm cosine of ``_numba.fwht`` against np.cos over |x| < COS_ARG_MAX: absolute
    error <= 1 ulp of 1 (measured max 1.0), i.e. <= 2 ulp relative where |cos x| > 1e-3; arguments
    beyond COS_ARG_MAX fall back to numpy exactly."""
    from kernapprox._numba.fwht import COS_ARG_MAX, cos_phase_inplace
    A = np.concatenate([np.linspace(-0.999 * COS_ARG_MAX, 0.999 * COS_ARG_MAX, 1_000_001),
                        rng.normal(size=100_000) * 10, np.arange(-50, 51) * (np.pi / 2)])[None, :]
    B = A.copy()
    cos_phase_inplace(B, np.zeros(A.shape[1]), 1.0)
    ref = np.cos(A[0])
    err = np.abs(B[0] - ref)
    assert err.max() <= np.spacing(1.0)
    big = np.abs(ref) > 1e-3
    assert (err[big] / np.spacing(np.abs(ref[big]))).max() <= 2
    C = np.array([[2 * COS_ARG_MAX, -3 * COS_ARG_MAX]])
    D = C.copy()
    cos_phase_inplace(D, np.zeros(2), 1.0)
    np.testing.assert_array_equal(D, np.cos(C))


# ---- block kernel --------------------------------------------------------------------------------
def _block_jit(terms, sym, unit_diag, tr, tc, stream=False, shift=0):
    """dense.block_kernel on the fused-formula terms of :func:`nb.gaussian_terms` / ``exponential_terms``,
    written with ordinary or non-temporal stores (``stream``) into an output that starts ``shift``
    elements past an allocation (rows that start off the 64-byte lines)."""
    Z, W, alpha, bx, by, upper, zx, zy, refine, C, D, hm, eh = terms
    n, m = Z.shape[0], W.shape[0]
    out = np.empty(n * m + shift, dtype=Z.dtype)[shift:].reshape(n, m)
    return dense.block_kernel(Z, W, bx, by, alpha, upper, sym, unit_diag, out, tr, tc, zx, zy, refine, C, D, hm, eh,
                              stream)


def _matvec_jit(terms, V, tr, tc):
    Z, W, alpha, bx, by, upper, zx, zy, refine, C, D, hm, eh = terms
    out = np.empty((Z.shape[0], V.shape[1]), dtype=V.dtype)
    return dense.matvec_kernel(Z, W, bx, by, alpha, upper, V, out, tr, tc, zx, zy, refine, C, D, hm, eh)


def _gauss_ref(X, Y, h):
    """The slow obvious reference: direct differences in float64 (scipy cdist)."""
    return np.exp(-cdist(X.astype(np.float64), Y.astype(np.float64), "sqeuclidean") / (2 * h * h))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n,m,d,tr,tc", [(23, 17, 3, 7, 5), (5, 40, 1, 8, 8), (31, 1, 6, 4, 64), (64, 64, 9, 64, 64),
                                         (20, 75, 4, 8, 37)])
@pytest.mark.parametrize("stream", [False, True])
def test_block_kernel_gaussian_matches_reference(rng, dtype, n, m, d, tr, tc, stream):
    X = rng.normal(size=(n, d)).astype(dtype)
    Y = rng.normal(size=(m, d)).astype(dtype)
    h = 1.7
    terms = nb.gaussian_terms(X, Y, False, h)
    K = _block_jit(terms, False, False, tr, tc, stream)
    assert K.dtype == dtype
    tol = 50 * EPS64 if dtype == np.float64 else 20 * EPS32
    np.testing.assert_allclose(K, _gauss_ref(X, Y, h), rtol=0, atol=tol)
    # the numpy path of the same formula (small blocks / no parallel slot) agrees to a few ulps
    np.testing.assert_allclose(K, nb.block_numpy(terms, False, False), rtol=0, atol=8 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n,d,t", [(23, 3, 5), (40, 2, 8), (9, 4, 16), (64, 5, 7)])
@pytest.mark.parametrize("stream", [False, True])
def test_block_kernel_symmetric_mirror_is_exact(rng, dtype, n, d, t, stream):
    """Upper triangle computed, lower mirrored: exactly symmetric, unit diagonal, equal to the full pass."""
    X = rng.normal(size=(n, d)).astype(dtype)
    terms = nb.gaussian_terms(X, X, True, 1.3)
    Ks = _block_jit(terms, True, True, t, t, stream, shift=3)
    Kf = _block_jit(terms, False, False, t, t)
    assert np.array_equal(Ks, Ks.T)
    assert np.all(np.diag(Ks) == 1)
    iu = np.triu_indices(n, 1)
    assert np.array_equal(Ks[iu], Kf[iu])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sym", [False, True])
@pytest.mark.parametrize("stream", [False, True])
def test_block_kernel_recomputes_ill_conditioned_entries(rng, dtype, sym, stream):
    """Two clusters 2c apart (h = 1; c = 1e8 float64, 3e3 float32): the GEMM expansion alone loses every
    digit inside a cluster (eps·||x||² ~ 1); the flagged entries are recomputed by direct differences,
    in the jitted and in the numpy path, and agree with cdist to rounding."""
    c = 1e8 if dtype == np.float64 else 3e3
    X = np.vstack([rng.normal(size=(30, 3)) - c, rng.normal(size=(30, 3)) + c]).astype(dtype)
    Y = X if sym else np.vstack([rng.normal(size=(20, 3)) - c, rng.normal(size=(25, 3)) + c]).astype(dtype)
    terms = nb.gaussian_terms(X, Y, sym, 1.0)
    ref = _gauss_ref(X, Y, 1.0)
    assert ref.max() > 0.5 and (ref[ref < 1] > 1e-3).any()               # non-trivial values inside clusters
    for K in (_block_jit(terms, sym, sym, 8, 8, stream), nb.block_numpy(terms, sym, sym)):
        assert np.abs(K - ref).max() <= 64 * np.finfo(dtype).eps
    naive = gaussian_block_numpy(X, Y, dtype(1.0))
    assert np.abs(naive - ref).max() > 0.1                               # what the recompute protects against


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_block_kernel_exponential_matches_reference(rng, dtype):
    X = rng.normal(size=(37, 8)).astype(dtype)
    Y = rng.normal(size=(29, 8)).astype(dtype)
    T = 2.5
    terms = nb.exponential_terms(X, Y, False, T)
    K = _block_jit(terms, False, False, 6, 7)
    ref = exponential_block_numpy(X.astype(np.float64), Y.astype(np.float64), T)
    rtol = 20 * EPS64 if dtype == np.float64 else 64 * EPS32
    np.testing.assert_allclose(K, ref, rtol=rtol)
    for tr, tc in ((6, 7), (6, 20), (37, 29)):  # non-temporal stores: the same values at every row alignment
        plain = _block_jit(terms, False, False, tr, tc)
        for shift in range(5):
            assert np.array_equal(_block_jit(terms, False, False, tr, tc, True, shift), plain)


@pytest.mark.parametrize("dtype,acc", [(np.float64, np.float64), (np.float32, np.float32), (np.float32, np.float64)])
def test_matvec_kernel_exponential_matches_dense_product(rng, dtype, acc):
    X = rng.normal(size=(33, 4)).astype(dtype)
    Y = rng.normal(size=(41, 4)).astype(dtype)
    V = rng.normal(size=(41, 2)).astype(acc)
    got = _matvec_jit(nb.exponential_terms(X, Y, False, 3.0, acc), V, 5, 9)
    ref = exponential_matvec_numpy(X.astype(np.float64), Y.astype(np.float64), V.astype(np.float64), 3.0)
    scale = np.abs(ref).max()
    tol = (100 * EPS64 if dtype == np.float64 else 100 * EPS32) * scale
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol)


@pytest.mark.parametrize("dtype,acc", [(np.float64, np.float64), (np.float32, np.float32), (np.float32, np.float64)])
@pytest.mark.parametrize("r", [1, 3, 16])
@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_matvec_kernel_matches_dense_product(rng, dtype, acc, r, offset):
    n, m, d = 45, 38, 5
    X = (rng.normal(size=(n, d)) + offset).astype(dtype)
    Y = (rng.normal(size=(m, d)) + offset).astype(dtype)
    V = rng.normal(size=(m, r)).astype(acc)
    got = _matvec_jit(nb.gaussian_terms(X, Y, False, 2.0, acc), V, 8, 6)
    ref = _gauss_ref(X, Y, 2.0) @ V.astype(np.float64)
    scale = np.abs(V).sum(axis=0).max()
    tol = (100 * EPS64 if acc == np.float64 and dtype == np.float64 else 100 * EPS32) * scale
    assert got.dtype == acc
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol)


# ---- direct differences ----------------------------------------------------------------------------
def test_direct_exponent_matches_numpy_and_cdist(rng):
    A = rng.normal(size=(200, 7)) * 3
    B = rng.normal(size=(200, 7)) * 3
    h = 1.9
    hm, eh = np.frexp(h)
    got = dense.direct_exponent_rows(A, B, float(hm), int(eh), np.empty(200))
    ref = -((A - B) ** 2).sum(axis=1) / (2 * h * h)
    np.testing.assert_allclose(got, ref, rtol=10 * 7 * EPS64)
    np.testing.assert_allclose(direct_exponent_numpy(A, B, float(hm), int(eh)), got, rtol=10 * 7 * EPS64)


@given(k=st.integers(-495, 495), seed=st.integers(0, 2 ** 31 - 1))
def test_direct_exponent_is_exactly_scale_invariant(k, seed):
    """Scaling points and bandwidth by 2^k changes nothing (the routine only does exact power-of-two
    arithmetic on top of the unit-scale computation) over the whole accepted bandwidth range
    [2^-500, 2^500]: no overflow, no underflow."""
    r = np.random.default_rng(seed)
    A = r.normal(size=(20, 4))
    B = A + r.normal(size=(20, 4)) * r.choice([1e-3, 1.0, 30.0])
    B[0] = A[0]
    h = float(r.uniform(0.5, 2.0))
    hm, eh = np.frexp(h)
    base = dense.direct_exponent_rows(A, B, float(hm), int(eh), np.empty(20))
    As, Bs = np.ldexp(A, k), np.ldexp(B, k)
    got = dense.direct_exponent_rows(As, Bs, float(hm), int(eh) + k, np.empty(20))
    assert np.all(np.isfinite(got)) and got[0] == 0.0
    np.testing.assert_array_equal(got, base)
    np.testing.assert_array_equal(direct_exponent_numpy(As, Bs, float(hm), int(eh) + k),
                                  direct_exponent_numpy(A, B, float(hm), int(eh)))


def test_direct_exponent_extremes():
    hm, eh = np.frexp(1.0)
    big = np.array([[1.5e308, 0.0]])
    out = dense.direct_exponent_rows(big, -big, float(hm), int(eh), np.empty(1))    # difference overflows
    assert out[0] == -np.inf
    assert direct_exponent_numpy(big, -big, float(hm), int(eh))[0] == -np.inf
    tiny = np.array([[5e-324, 0.0]])
    assert dense.direct_exponent_rows(tiny, tiny * 0, float(hm), int(eh), np.empty(1))[0] == 0.0
    f32 = np.array([[1e8, 3.0]], dtype=np.float32)          # float32 rows are differenced in float64
    g = np.array([[1e8 + 8, 3.0]], dtype=np.float32)
    assert dense.direct_exponent_rows(f32, g, float(hm), int(eh), np.empty(1))[0] == -0.5 * 64.0


# ---- dispatch ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gaussian_block_dispatch_large_matches_reference(rng, dtype):
    n, m, d = 300, 260, 16                 # n·m > FAST_MIN_ENTRIES: jitted path
    assert n * m >= nb.FAST_MIN_ENTRIES
    X = rng.normal(size=(n, d)).astype(dtype)
    Y = rng.normal(size=(m, d)).astype(dtype)
    K = nb.gaussian_block(X, Y, 3.0)
    ref = gaussian_block_numpy(X.astype(np.float64), Y.astype(np.float64), 3.0)
    assert K.dtype == dtype and K.shape == (n, m)
    np.testing.assert_allclose(K, ref, rtol=0, atol=50 * EPS64 if dtype == np.float64 else 10 * EPS32)
    Ks = nb.gaussian_block(X, X, 3.0)
    assert np.array_equal(Ks, Ks.T) and np.all(np.diag(Ks) == 1)


def test_blocks_beyond_stream_min_bytes_are_streamed_with_the_same_values(rng, monkeypatch):
    """A block of STREAM_MIN_BYTES or more goes out by non-temporal stores: the same values as ordinary
    stores, for K(X, Y) and K(X), Gaussian and exponential."""
    n = int(np.sqrt(nb.STREAM_MIN_BYTES / 8)) + 8
    X = rng.normal(size=(n, 5))
    Y = rng.normal(size=(n - 7, 5))
    assert X.shape[0] * Y.shape[0] * 8 >= nb.STREAM_MIN_BYTES
    calls = [lambda: nb.gaussian_block(X, Y, 1.3), lambda: nb.gaussian_block(X, X, 1.3),
             lambda: nb.exponential_block(X, Y, 2.0)]
    streamed = [f() for f in calls]
    monkeypatch.setattr(nb, "STREAM_MIN_BYTES", 1 << 62)
    for f, K in zip(calls, streamed):
        assert np.array_equal(f(), K)
    np.testing.assert_allclose(streamed[0][:200], gaussian_block_numpy(X[:200], Y, 1.3), rtol=0, atol=50 * EPS64)


def test_block_into_a_non_contiguous_out_gets_the_same_values(rng):
    X = rng.normal(size=(300, 4))
    big = np.zeros((300, 320))
    Y = X[:290]
    cases = ((lambda o: nb.gaussian_block(X, X, 1.3, out=o), nb.gaussian_block(X, X, 1.3)),
             (lambda o: nb.exponential_block(X, Y, 2.0, out=o[:, :290]), nb.exponential_block(X, Y, 2.0)))
    for f, K in cases:
        got = f(big[:, :300])
        assert np.array_equal(got, K) and np.shares_memory(got, big)


def test_float32_gaussian_far_from_origin_is_accurate(rng):
    """Centring by the common mean: float32 points at distance 1e3 from the origin keep 1e-5 accuracy.

    The naive float32 formula ||x||²+||y||²−2x·y loses everything there (||x||² ~ 6e7, eps·||x||² ~ 8).
    """
    X = (1000.0 + rng.normal(size=(400, 64))).astype(np.float32)
    Y = (1000.0 + rng.normal(size=(300, 64))).astype(np.float32)
    h = np.sqrt(64.0)
    ref = gaussian_block_numpy(X.astype(np.float64) - 1000, Y.astype(np.float64) - 1000, h)
    for K in (nb.gaussian_block(X, Y, h), nb.gaussian_block(X[:50], Y[:40], h)):   # jitted and numpy paths
        assert K.dtype == np.float32
        assert np.abs(K - ref[:K.shape[0], :K.shape[1]]).max() <= 1e-5
    naive = gaussian_block_numpy(X, Y, np.float32(h))
    assert np.abs(naive - ref).max() > 1e-3              # what the centring protects against


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exponential_block_dispatch_and_overflow(rng, dtype):
    X = rng.normal(size=(300, 4)).astype(dtype)
    Y = rng.normal(size=(250, 4)).astype(dtype)
    K = nb.exponential_block(X, Y, 0.7)
    ref = exponential_block_numpy(X.astype(np.float64), Y.astype(np.float64), 0.7)
    np.testing.assert_allclose(K, ref, rtol=20 * (EPS64 if dtype == np.float64 else EPS32))
    big = np.full((300, 1), 40.0, dtype=dtype)
    Kb = nb.exponential_block(big, big[:250], 0.5)      # exp(3200): +inf, like numpy
    assert np.all(np.isinf(Kb))


@pytest.mark.parametrize("kernel", [ka.Gaussian(1.5), ka.Exponential(4.0)])
@pytest.mark.parametrize("dtype,acc", [(np.float64, np.float64), (np.float32, np.float32), (np.float32, np.float64)])
def test_kernel_matvec_fast_matches_dense(rng, kernel, dtype, acc):
    X = rng.normal(size=(300, 6)).astype(dtype)
    Y = rng.normal(size=(280, 6)).astype(dtype)
    V = rng.normal(size=(280, 5)).astype(dtype)
    out = nb.kernel_matvec_fast(kernel, X, Y, V, acc)
    assert out is not None and out.dtype == acc
    ref = kernel.block(X.astype(np.float64), Y.astype(np.float64)) @ V.astype(np.float64)
    scale = np.abs(ref).max()
    tol = (200 * EPS64 if dtype == np.float64 else 200 * EPS32) * scale
    np.testing.assert_allclose(out, ref, rtol=0, atol=tol)


def test_kernel_matvec_fast_declines_where_no_fast_path(rng):
    X = rng.normal(size=(300, 3))
    V = rng.normal(size=(300, 2))
    assert nb.kernel_matvec_fast(ka.Laplacian(1.0), X, X, V, np.float64) is None
    assert nb.kernel_matvec_fast(ka.Gaussian(1.0), X[:10], X[:10], V[:10], np.float64) is None   # small
    wide = rng.normal(size=(300, nb.MATVEC_MAX_COLS + 1))
    assert nb.kernel_matvec_fast(ka.Gaussian(1.0), X, X, wide, np.float64) is None


def test_results_do_not_depend_on_thread_count(rng):
    """Tiles are independent and their GEMMs single-threaded: 1 thread and all threads agree bitwise."""
    import numba
    X = rng.normal(size=(400, 10))
    V = rng.normal(size=(400, 3))
    full = nb.gaussian_block(X, X, 2.0), nb.kernel_matvec_fast(ka.Gaussian(2.0), X, X, V, np.float64)
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        one = nb.gaussian_block(X, X, 2.0), nb.kernel_matvec_fast(ka.Gaussian(2.0), X, X, V, np.float64)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(full[0], one[0]) and np.array_equal(full[1], one[1])


@given(n=st.integers(1, 10 ** 6), m=st.integers(1, 10 ** 6), inner=st.integers(1, 5000))
def test_tile_shape_keeps_blas_serial_and_in_cache(n, m, inner):
    tr, tc = dense.tile_shape(n, m, inner)
    assert 1 <= tr <= n and 1 <= tc <= m
    assert tr * tc <= dense.TILE_ENTRIES
    if inner <= dense.BLAS_SERIAL_MNK:
        assert tr * tc * inner <= max(dense.BLAS_SERIAL_MNK, inner)


@given(n=st.integers(1, 10 ** 6), m=st.integers(1, 10 ** 6), inner=st.integers(1, 5000))
def test_tile_shape_with_serial_blas_stays_in_its_tile_budget(n, m, inner):
    tr, tc = dense.tile_shape(n, m, inner, serial_blas=True)
    assert 1 <= tr <= n and 1 <= tc <= m and tr * tc <= dense.SERIAL_TILE_ENTRIES


def test_large_blocks_hold_blas_to_one_thread_and_restore_it():
    from threadpoolctl import threadpool_info
    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    g = np.random.default_rng(9)
    X, Y, V = g.normal(size=(1100, 64)), g.normal(size=(1000, 64)), g.normal(size=(1000, 3))
    assert X.shape[0] * Y.shape[0] * 64 >= nb.SERIAL_BLAS_MNK
    K = nb.gaussian_block(X, Y, 6.0)
    np.testing.assert_allclose(K, gaussian_block_numpy(X, Y, 6.0), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(nb.kernel_matvec_fast(ka.Gaussian(6.0), X, Y, V, np.float64), K @ V,
                               rtol=1e-12, atol=1e-12)
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before


def test_sqdist_reference_is_nonnegative_and_exact_on_grid():
    X = np.arange(12, dtype=np.float64).reshape(6, 2)
    D = sqdist_numpy(X, X)
    ref = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    assert np.array_equal(D, ref) and D.min() >= 0


def test_concurrent_python_threads_are_safe_and_correct(rng):
    """Several Python threads (dask workers, thread pools) calling the fast paths at once: no crash under
    any numba threading layer (workqueue launches are serialised, the losers take the numpy path), and
    every thread gets the right answer."""
    from concurrent.futures import ThreadPoolExecutor
    X = rng.normal(size=(400, 8))
    Y = rng.normal(size=(350, 8))
    V = rng.normal(size=(350, 4))
    k = ka.Gaussian(2.0)
    refK = gaussian_block_numpy(X, Y, 2.0)
    refKV = refK @ V

    def work(i):
        if i % 2:
            return np.abs(nb.gaussian_block(X, Y, 2.0) - refK).max()
        return np.abs(ka.kernel_matvec(k, X, Y, V) - refKV).max() / np.abs(refKV).max()

    with ThreadPoolExecutor(4) as ex:
        errs = list(ex.map(work, range(16)))
    assert max(errs) < 1e-12


# ---- column ranges (the attention range safeguard) -------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_column_range_matches_numpy(rng, dtype, layout):
    from kernapprox._numba.reduce import column_range, column_range_numpy
    A = (rng.normal(size=(37, 10)) * 10.0 ** rng.integers(-3, 4, size=10)).astype(dtype)
    A = {"C": A, "F": np.asfortranarray(A), "strided": A[:, ::2]}[layout]
    p = A.shape[1]
    got, ref = [tuple(np.empty(p) for _ in range(3)) for _ in range(2)]
    column_range(A, *got)
    column_range_numpy(A, *ref)
    for g, r in zip(got, ref):
        assert np.array_equal(g, r)
    assert np.array_equal(got[0], A.min(axis=0).astype(np.float64)) and not np.isnan(got[2]).any()
    B = np.array(A)                                          # one non-finite entry per kind: its column is flagged
    B[3, 0], B[0, 1], B[-1, 2] = np.nan, np.inf, -np.inf
    column_range(B, *got)
    assert np.isnan(got[2][:3]).all() and not np.isnan(got[2][3:]).any()
    assert np.array_equal(got[0][3:], B[:, 3:].min(axis=0)) and np.array_equal(got[1][3:], B[:, 3:].max(axis=0))
