"""Distance-based kernels at every offset and scale, against slow obvious references (scipy cdist).

Contract (kernels.py, ``kernapprox._numba.gaussian_block``): K(X, Y), K(X), ``diag``, row-wise pairs
(``KernelMatrix.diag`` of a rectangular matrix), ``KernelMatrix`` blocks and ``kernel_matvec`` are exact
under translation and finite at every finite input scale, float32 and float64, symmetric and
rectangular. "Exact" means: the exponent t of the Gaussian has error at most
``TAU·max(1, |t|) + (d + 3) u |t|`` (TAU = 2^-42 float64, 2^-13 float32) against the exact exponent of the
given inputs, so ``|K - K_ref| <= K_ref · that`` plus the rounding of ``exp`` in the output dtype.
The references run in float64 on the same input values (the data's own resolution).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

import kernapprox as ka
from kernapprox import _numba as nb

DTYPES = [np.float64, np.float32]
OFFSETS = [0.0, 1e3, 1e5, 1e6, 1e8]
SCALES = [1e-300, 1e-160, 1e-20, 1.0, 1e20, 1e160, 1e300]


def _gauss_ref(X, Y, h):
    """float64 Gaussian by direct differences, overflow-safe by an exact power-of-two prescale."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    k = int(np.frexp(max(np.abs(X).max(), np.abs(Y).max(), 1e-300))[1])
    D = cdist(np.ldexp(X, -k), np.ldexp(Y, -k), "sqeuclidean")         # exact scaling by 2^-k
    hm, eh = np.frexp(h)
    with np.errstate(over="ignore", under="ignore"):
        t = -0.5 * np.ldexp(D / (hm * hm), 2 * (k - int(eh)))
    return np.exp(t), t


def _gauss_tol(Kref, t, dtype, d):
    u_out = np.finfo(dtype).eps
    tau = nb.TAU[np.dtype(dtype)]
    with np.errstate(invalid="ignore"):
        rel = 2 * tau * np.maximum(1.0, np.abs(t)) + 4 * (d + 3) * 2.0 ** -53 * np.abs(t) + 4 * u_out
        tol = Kref * rel
    tol[Kref == 0] = 0.0
    return tol + 4 * np.finfo(dtype).tiny


def _check_gauss(K, X, Y, h, dtype):
    Kref, t = _gauss_ref(X, Y, h)
    assert K.dtype == dtype and np.all(np.isfinite(K))
    excess = np.abs(K.astype(np.float64) - Kref) - _gauss_tol(Kref, t, dtype, X.shape[1])
    assert excess.max() <= 0, f"worst excess {excess.max():.3g}"


# ---- translation: points far from the origin, offsets 1e3 … 1e8 --------------------------------------
def test_gaussian_far_from_origin():
    X = np.random.default_rng(0).normal(size=(40, 3))
    K = ka.Gaussian(1.0)(X + 1e8)
    ref = np.exp(-cdist(X + 1e8, X + 1e8, "sqeuclidean") / 2)
    assert abs(K[0, 1] - ref[0, 1]) <= 4e-15 and ref[0, 1] < 0.9
    _check_gauss(K, X + 1e8, X + 1e8, 1.0, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("n,m", [(40, 30), (300, 260)])           # numpy path and jitted path
def test_gaussian_blocks_exact_at_offsets(rng, dtype, offset, n, m):
    h = 1.3
    X = (rng.normal(size=(n, 4)) + offset).astype(dtype)
    Y = (rng.normal(size=(m, 4)) + offset).astype(dtype)
    k = ka.Gaussian(h)
    _check_gauss(k(X, Y), X, Y, h, dtype)
    Ks = k(X)
    _check_gauss(Ks, X, X, h, dtype)
    assert np.array_equal(Ks, Ks.T) and np.all(np.diag(Ks) == 1)
    KM = ka.KernelMatrix(k, X, Y)                                   # blocks and row-wise pairs
    _check_gauss(KM.block(np.arange(5), np.arange(7)), X[:5], Y[:7], h, dtype)
    d = KM.diag()
    Kd, _ = _gauss_ref(X[:m], Y[:m], h)
    np.testing.assert_allclose(d, np.diag(Kd), rtol=50 * np.finfo(dtype).eps, atol=np.finfo(dtype).tiny)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset", [0.0, 1e8])
def test_kernel_matvec_exact_at_offsets(rng, dtype, offset):
    h = 1.0
    X = (rng.normal(size=(300, 3)) + offset).astype(dtype)
    Y = (rng.normal(size=(280, 3)) + offset).astype(dtype)
    V = rng.normal(size=(280, 4)).astype(dtype)
    Kref, _ = _gauss_ref(X, Y, h)
    ref = Kref @ V.astype(np.float64)
    got = ka.kernel_matvec(ka.Gaussian(h), X, Y, V)
    tol = (2e-12 if dtype == np.float64 else 2e-3) * np.abs(V).sum(axis=0).max()
    assert np.abs(got - ref).max() <= tol


@pytest.mark.parametrize("dtype", DTYPES)
def test_far_apart_clusters_are_exact(rng, dtype):
    """Translation exactness is not only about one common offset: clusters far from each other and from
    the common centre (where any single shift leaves large norms) are exact too."""
    c = 1e8 if dtype == np.float64 else 1e3
    X = np.vstack([rng.normal(size=(150, 3)) + c, rng.normal(size=(150, 3)) - c, rng.normal(size=(30, 3))])
    X = X.astype(dtype)
    for K in (ka.Gaussian(1.0)(X), ka.Gaussian(1.0)(X[:200], X[100:])):
        Y = X if K.shape[1] == X.shape[0] else X[100:]
        Xr = X if K.shape[0] == X.shape[0] else X[:200]
        _check_gauss(K, Xr, Y, 1.0, dtype)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), offset_exp=st.integers(0, 8), d=st.integers(1, 9),
       log_h=st.floats(-1.0, 1.5), f32=st.booleans(), sym=st.booleans())
def test_gaussian_translation_property(seed, offset_exp, d, log_h, f32, sym):
    dtype = np.float32 if f32 else np.float64
    r = np.random.default_rng(seed)
    off = r.normal(size=d) * 10.0 ** offset_exp
    if f32:                                   # float32: keep the data's own resolution above 1e-3
        off = np.clip(off, -1e4, 1e4)
    X = (r.normal(size=(23, d)) + off).astype(dtype)
    Y = X if sym else (r.normal(size=(17, d)) + off).astype(dtype)
    h = float(10.0 ** log_h)
    K = ka.Gaussian(h)(X) if sym else ka.Gaussian(h)(X, Y)
    _check_gauss(K, X, Y, h, dtype)


# ---- scale: finite everywhere -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", SCALES)
def test_gaussian_finite_and_exact_at_every_scale(rng, dtype, scale):
    if dtype == np.float32 and not 1e-30 <= scale <= 1e30:
        pytest.skip("outside the float32 range")
    X = (rng.normal(size=(260, 3)) * scale).astype(dtype)
    Y = (rng.normal(size=(250, 3)) * scale).astype(dtype)
    for h in (1.0, float(min(max(scale, 2.0 ** -500), 2.0 ** 500))):   # unit and data-scale bandwidths
        k = ka.Gaussian(h)
        _check_gauss(k(X, Y), X, Y, h, dtype)
        _check_gauss(k(X[:40], Y[:30]), X[:40], Y[:30], h, dtype)
        Ks = k(X)
        _check_gauss(Ks, X, X, h, dtype)
        assert np.all(k.diag(X) == 1)


def test_blocks_at_huge_scale(rng):
    X = rng.normal(size=(40, 3))
    Y = rng.normal(size=(30, 3))
    K = ka.Gaussian(1.0)(X * 1e160)
    assert np.array_equal(K, np.eye(40))                         # true values: 0 off the diagonal, 1 on it
    M = ka.Matern(1.5, 1.0)(X * 1e160, Y)
    assert np.all(np.isfinite(M)) and np.all(M == 0)
    for nu in (0.5, 1.5, 2.5):
        assert np.array_equal(ka.Matern(nu, 1.0)(X * 1e160), np.eye(40))
    assert np.all(ka.Gaussian(1.0)(X * 1e-300, Y * 1e-300) == 1.0)


def _matern_ref(X, Y, nu, h):
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    k = int(np.frexp(max(np.abs(X).max(), np.abs(Y).max(), 1e-300))[1])
    r = cdist(np.ldexp(X, -k), np.ldexp(Y, -k))
    hm, eh = np.frexp(h)
    with np.errstate(over="ignore", under="ignore"):
        s = np.minimum(np.ldexp(r / hm, k - int(eh)), 1e3)
    if nu == 0.5:
        return np.exp(-s)
    if nu == 1.5:
        return (1 + np.sqrt(3) * s) * np.exp(-np.sqrt(3) * s)
    return (1 + np.sqrt(5) * s + 5 * s * s / 3) * np.exp(-np.sqrt(5) * s)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nu", [0.5, 1.5, 2.5])
@pytest.mark.parametrize("scale,offset", [(1.0, 1e8), (1e160, 0.0), (1e-300, 0.0), (1e300, 0.0)])
def test_matern_finite_and_exact(rng, dtype, nu, scale, offset):
    if dtype == np.float32 and not 1e-30 <= scale <= 1e30:
        pytest.skip("outside the float32 range")
    if dtype == np.float32 and offset > 1e4:
        offset = 1e3
    X = (rng.normal(size=(30, 3)) * scale + offset).astype(dtype)
    Y = (rng.normal(size=(20, 3)) * scale + offset).astype(dtype)
    h = float(min(max(scale, 2.0 ** -500), 2.0 ** 500))
    k = ka.Matern(nu, h)
    tol = 64 * np.finfo(dtype).eps
    for K, A, B in ((k(X, Y), X, Y), (k(X), X, X)):
        assert K.dtype == dtype and np.all(np.isfinite(K))
        assert np.abs(K - _matern_ref(A, B, nu, h)).max() <= tol
    np.testing.assert_allclose(ka.KernelMatrix(k, X, Y).diag(), np.diag(_matern_ref(X[:20], Y, nu, h)), rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale,offset", [(1.0, 1e8), (1e160, 0.0), (1e-300, 0.0), (1e300, 0.0)])
def test_laplacian_finite_and_exact(rng, dtype, scale, offset):
    if dtype == np.float32 and (not 1e-30 <= scale <= 1e30 or offset > 1e4):
        pytest.skip("outside the float32 range / resolution")
    X = (rng.normal(size=(30, 3)) * scale + offset).astype(dtype)
    Y = (rng.normal(size=(20, 3)) * scale + offset).astype(dtype)
    h = float(min(max(scale, 2.0 ** -500), 2.0 ** 500))
    k = ka.Laplacian(h)
    with np.errstate(over="ignore"):
        ref = np.exp(-cdist(X.astype(np.float64), Y.astype(np.float64), "cityblock") / h)
    K = k(X, Y)
    assert np.all(np.isfinite(K)) and np.abs(K - ref).max() <= 64 * np.finfo(dtype).eps
    assert np.abs(ka.KernelMatrix(k, X, Y).diag() - np.diag(ref[:, :20][:20])).max() <= 64 * np.finfo(dtype).eps


def test_exponential_scaled_inner_products_never_nan(rng):
    """x·y with huge entries: the GEMM on 2^-e-scaled points never forms inf - inf (no NaN), and the public
    kernel refuses inputs whose inner products are not determined by their rounding."""
    X = np.array([[1e160, 1e160], [1e160, -1e160], [0.0, 0.0]])
    B = nb.exponential_block(X, X, 1.0)
    assert not np.isnan(B).any()
    with pytest.raises(ValueError, match=r"^Exponential: `X` must keep max‖x‖·max‖y‖ / temperature <= .*; got a bound above 1.8e308$"):
        ka.Exponential(1.0)(X[1:], X[:1])
    Y = rng.normal(size=(30, 3)) * 1e75                            # huge but well-determined: exact
    K = ka.Exponential(1e150)(Y, Y[:7])
    np.testing.assert_allclose(K, np.exp((Y / 1e75) @ (Y[:7] / 1e75).T), rtol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
def test_exponential_overflow_is_a_clear_error(rng, dtype):
    X = (rng.normal(size=(20, 3)) * 30).astype(dtype)
    with pytest.raises(ValueError, match=r"^Exponential: `X` must keep x·y / temperature <= .* overflowing entries$"):
        ka.Exponential(1.0)(X)
    with pytest.raises(ValueError, match=r"^Exponential.diag: `X` must keep"):
        ka.Exponential(1.0).diag(X)
    K = ka.Exponential(1e4)(X)                                    # representable: returned as is
    np.testing.assert_allclose(K, np.exp(X.astype(np.float64) @ X.T.astype(np.float64) / 1e4),
                               rtol=64 * np.finfo(dtype).eps)


def test_overflow_refusals_share_one_message_template(rng):
    """Exponential, Linear and Polynomial refuse an overflowing block through one helper: the message
    names X, the constraint, the dtype's range, a hint and the count of overflowing entries."""
    tail = r" within the float64 range \((?P<hint>[^)]*)\); got (?P<n>\d+) overflowing entries$"
    X = rng.normal(size=(20, 3)) * 30
    cases = [(lambda: ka.Exponential(1.0)(X), r"^Exponential: `X` must keep x·y / temperature <= 709.78 for "
              r"every pair, so that exp\(x·y / temperature\) stays", "scale the points or raise the temperature"),
             (lambda: ka.Linear()(np.full((2, 2), 1e200)), r"^Linear: `X` must keep every x·y", "scale the points down"),
             (lambda: ka.Polynomial(degree=200)(X), r"^Polynomial: `X` must keep \(gamma x·y \+ coef0\) \*\* degree "
              r"\(degree = 200\)", "scale the points down")]
    import re
    for call, head, hint in cases:
        with pytest.raises(ValueError) as info:
            call()
        m = re.match(head + tail, str(info.value))
        assert m and m["hint"] == hint and int(m["n"]) > 0, str(info.value)


# ---- parameter limits ---------------------------------------------------------------------------------
@pytest.mark.parametrize("make,name", [(ka.Gaussian, "Gaussian"), (ka.Laplacian, "Laplacian"),
                                       (lambda v: ka.Matern(1.5, v), "Matern"), (ka.Exponential, "Exponential")])
@pytest.mark.parametrize("value", [1e-170, 1e-152, 1e151, 1e300])
def test_scale_parameters_outside_the_representable_range_are_refused(make, name, value):
    param = "temperature" if name == "Exponential" else "bandwidth"
    with pytest.raises(ValueError, match=rf"^{name}: `{param}` must lie in \[2\^-500, 2\^500\]"):
        make(value)


@pytest.mark.parametrize("make", [ka.Gaussian, ka.Laplacian, lambda v: ka.Matern(0.5, v), ka.Exponential])
@pytest.mark.parametrize("value", [2.0 ** -500, 2.0 ** 500])
def test_scale_parameters_at_the_limits_work(rng, make, value):
    X = rng.normal(size=(12, 2)) * (np.sqrt(value) if make is ka.Exponential else value)
    K = make(value)(X)
    assert np.all(np.isfinite(K)) and K.shape == (12, 12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_data_at_the_largest_finite_values(dtype):
    """Coordinates at ±0.95 of the dtype's largest value: differences overflow, distances do not; pairs
    that differ only in a small coordinate keep their exact value (exp(-1/2), exp(-1) for Matérn 1/2)."""
    big = 0.95 * float(np.finfo(dtype).max)
    X = np.array([[big, 0.0], [-big, 1.0], [big, 1.0]], dtype=dtype)
    K = ka.Gaussian(1.0)(X)
    expect = np.array([[1, 0, np.exp(-0.5)], [0, 1, 0], [np.exp(-0.5), 0, 1]])
    np.testing.assert_allclose(K, expect, rtol=4 * np.finfo(dtype).eps, atol=0)
    np.testing.assert_allclose(ka.Gaussian(1.0)(X, X[::-1]), expect[:, ::-1], rtol=4 * np.finfo(dtype).eps, atol=0)
    M = ka.Matern(0.5, 1.0)(X)
    np.testing.assert_allclose(M, np.where(expect == np.exp(-0.5), np.exp(-1.0), expect), rtol=4 * np.finfo(dtype).eps)
