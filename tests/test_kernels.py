"""Kernels: exact agreement with slow references, symmetry, diagonal, PSD-ness, dtypes, registry."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial.distance import cdist

import kernapprox as ka
from kernapprox import kernels
from kernapprox._numba import FAST_MIN_ENTRIES

EPS64 = np.finfo(np.float64).eps
EPS32 = np.finfo(np.float32).eps


# ---- slow scalar references (pure Python loops over pairs) ------------------------------------
def _scalar(kernel, x, y):
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    dot = math.fsum(a * b for a, b in zip(x, y))
    sq = math.fsum((a - b) ** 2 for a, b in zip(x, y))
    l1 = math.fsum(abs(a - b) for a, b in zip(x, y))
    if isinstance(kernel, ka.Gaussian):
        return math.exp(-sq / (2 * kernel.bandwidth ** 2))
    if isinstance(kernel, ka.Laplacian):
        return math.exp(-l1 / kernel.bandwidth)
    if isinstance(kernel, ka.Matern):
        r = math.sqrt(sq) / kernel.bandwidth
        if kernel.nu == 0.5:
            return math.exp(-r)
        if kernel.nu == 1.5:
            return (1 + math.sqrt(3) * r) * math.exp(-math.sqrt(3) * r)
        return (1 + math.sqrt(5) * r + 5 * r * r / 3) * math.exp(-math.sqrt(5) * r)
    if isinstance(kernel, ka.Polynomial):
        return (kernel.gamma * dot + kernel.coef0) ** kernel.degree
    if isinstance(kernel, ka.Linear):
        return dot
    if isinstance(kernel, ka.Sigmoid):
        return math.tanh(kernel.gamma * dot + kernel.coef0)
    if isinstance(kernel, ka.Exponential):
        return math.exp(dot / kernel.temperature)
    raise AssertionError(kernel)


def _loop_block(kernel, X, Y):
    return np.array([[_scalar(kernel, x, y) for y in Y] for x in X])


ALL_KERNELS = [
    ka.Gaussian(bandwidth=1.3), ka.Laplacian(bandwidth=2.0), ka.Matern(nu=0.5, bandwidth=1.1),
    ka.Matern(nu=1.5, bandwidth=0.9), ka.Matern(nu=2.5, bandwidth=1.7), ka.Polynomial(degree=3, gamma=0.4, coef0=1.0),
    ka.Linear(), ka.Sigmoid(gamma=0.3, coef0=-0.2), ka.Exponential(temperature=3.0),
]
IDS = [f"{k.name}-{i}" for i, k in enumerate(ALL_KERNELS)]


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=IDS)
def test_block_equals_scalar_loop_reference(rng, kernel):
    X = rng.normal(size=(13, 4))
    Y = rng.normal(size=(9, 4))
    K = kernel(X, Y)
    ref = _loop_block(kernel, X, Y)
    assert K.shape == (13, 9) and K.dtype == np.float64
    np.testing.assert_allclose(K, ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=IDS)
def test_block_equals_reference_above_fast_threshold(rng, kernel):
    """Large blocks (numba path for Gaussian/Exponential) agree with cdist/GEMM formulas."""
    n, m, d = 320, 230, 5
    assert n * m >= FAST_MIN_ENTRIES
    X = rng.normal(size=(n, d))
    Y = rng.normal(size=(m, d))
    K = kernel(X, Y)
    if isinstance(kernel, ka.Gaussian):
        ref = np.exp(-cdist(X, Y, "sqeuclidean") / (2 * kernel.bandwidth ** 2))
    elif isinstance(kernel, ka.Laplacian):
        ref = np.exp(-cdist(X, Y, "cityblock") / kernel.bandwidth)
    elif isinstance(kernel, ka.Matern):
        from sklearn.gaussian_process.kernels import Matern as SkMatern
        ref = SkMatern(length_scale=kernel.bandwidth, nu=kernel.nu)(X, Y)
    else:
        ref = _loop_block(kernel, X[:40], Y[:30])
        K = K[:40, :30]
    np.testing.assert_allclose(K, ref, rtol=1e-12, atol=1e-13)


def test_sklearn_pairwise_anchors(rng):
    from sklearn.metrics import pairwise as skp
    X = rng.normal(size=(50, 6))
    Y = rng.normal(size=(40, 6))
    np.testing.assert_allclose(ka.Gaussian(2.0)(X, Y), skp.rbf_kernel(X, Y, gamma=1 / 8), rtol=1e-13)
    np.testing.assert_allclose(ka.Laplacian(2.0)(X, Y), skp.laplacian_kernel(X, Y, gamma=0.5), rtol=1e-13)
    np.testing.assert_allclose(ka.Polynomial(2, 0.5, 1.0)(X, Y), skp.polynomial_kernel(X, Y, 2, 0.5, 1.0), rtol=1e-13)
    np.testing.assert_allclose(ka.Linear()(X, Y), skp.linear_kernel(X, Y), rtol=1e-13)
    np.testing.assert_allclose(ka.Sigmoid(0.1, 0.3)(X, Y), skp.sigmoid_kernel(X, Y, 0.1, 0.3), rtol=1e-13)


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=IDS)
@pytest.mark.parametrize("n", [40, 300])
def test_symmetric_block_is_exactly_symmetric_and_diag_matches(rng, kernel, n):
    X = rng.normal(size=(n, 3))
    K = kernel(X)
    assert np.array_equal(K, K.T)
    dg = kernel.diag(X)
    assert dg.shape == (n,)
    if kernel.is_shift_invariant:
        assert np.array_equal(dg, np.diag(K)) and np.all(dg == 1)
    else:
        np.testing.assert_allclose(dg, np.diag(K), rtol=1e-13)


@pytest.mark.parametrize("kernel", [k for k in ALL_KERNELS if k.is_psd], ids=[i for i, k in zip(IDS, ALL_KERNELS) if k.is_psd])
@pytest.mark.parametrize("cloud", ["normal", "clustered", "duplicates"])
def test_psd_kernels_have_nonnegative_spectrum(rng, kernel, cloud):
    X = rng.normal(size=(150, 3))
    if cloud == "clustered":
        X = X * 0.05 + rng.integers(0, 3, size=(150, 1))
    elif cloud == "duplicates":
        X[75:] = X[:75]
    if isinstance(kernel, ka.Exponential):
        X *= 0.5                                         # keep exp(x·y/T) moderate
    K = kernel(X)
    lam = np.linalg.eigvalsh(K)
    tol = 100 * K.shape[0] * EPS64 * np.abs(lam).max()
    assert lam.min() >= -tol


def test_sigmoid_is_flagged_non_psd_and_is_indefinite(rng):
    k = ka.Sigmoid(gamma=1.0, coef0=-1.0)
    assert k.is_psd is False
    X = rng.normal(size=(60, 3))
    lam = np.linalg.eigvalsh(k(X))
    assert lam.min() < -1e-3


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=IDS)
def test_dtypes_float32_preserved_ints_promoted(rng, kernel):
    X = rng.normal(size=(30, 3))
    Y = rng.normal(size=(20, 3))
    K32 = kernel(X.astype(np.float32), Y.astype(np.float32))
    assert K32.dtype == np.float32
    assert kernel.diag(X.astype(np.float32)).dtype == np.float32
    ref = kernel(X.astype(np.float32).astype(np.float64), Y.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(K32, ref, rtol=50 * EPS32, atol=50 * EPS32 * np.abs(ref).max())
    assert kernel(X.astype(np.float32), Y).dtype == np.float64             # mixed -> float64
    assert kernel(np.arange(6).reshape(3, 2)).dtype == np.float64           # ints -> float64


def test_float32_large_gaussian_block_accuracy(rng):
    """float32 Gaussian blocks within 1e-5 of the float64 reference (design.md §4.2 accuracy target)."""
    X = rng.normal(size=(600, 64)).astype(np.float32)
    Y = rng.normal(size=(500, 64)).astype(np.float32)
    K = ka.Gaussian(8.0)(X, Y)
    ref = np.exp(-cdist(X.astype(np.float64), Y.astype(np.float64), "sqeuclidean") / 128)
    assert np.abs(K - ref).max() <= 1e-5
    K64 = ka.Gaussian(8.0)(X.astype(np.float64), Y.astype(np.float64))
    assert np.abs(K64 - ref).max() <= 1e-12


# ---- hypothesis invariants --------------------------------------------------------------------------
_clouds = st.integers(1, 12).flatmap(lambda d: st.tuples(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 15), st.just(d)), elements=st.floats(-5, 5)),
    hnp.arrays(np.float64, st.tuples(st.integers(1, 15), st.just(d)), elements=st.floats(-5, 5))))


@given(_clouds, st.sampled_from(ALL_KERNELS))
def test_shapes_transpose_and_ranges(XY, kernel):
    X, Y = XY
    K = kernel(X, Y)
    assert K.shape == (X.shape[0], Y.shape[0])
    np.testing.assert_allclose(kernel(Y, X), K.T, rtol=1e-12, atol=1e-300)
    if kernel.is_shift_invariant:
        assert np.all((K >= 0) & (K <= 1))
    if isinstance(kernel, ka.Sigmoid):
        assert np.all(np.abs(K) <= 1)


@given(_clouds, st.floats(-100, 100), st.sampled_from([k for k in ALL_KERNELS if k.is_shift_invariant]))
def test_shift_invariant_kernels_are_translation_invariant(XY, shift, kernel):
    X, Y = XY
    np.testing.assert_allclose(kernel(X + shift, Y + shift), kernel(X, Y), rtol=1e-9, atol=1e-9)


@given(_clouds, st.integers(0, 2 ** 31))
def test_gaussian_rotation_invariant(XY, seed):
    X, Y = XY
    d = X.shape[1]
    Q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    k = ka.Gaussian(2.0)
    np.testing.assert_allclose(k(X @ Q, Y @ Q), k(X, Y), rtol=1e-9, atol=1e-12)


# ---- parameters and registry -------------------------------------------------------------------------
def test_registry_names_aliases_and_roundtrip():
    assert kernels.available() == sorted(["gaussian", "laplacian", "matern", "polynomial", "linear", "sigmoid", "exponential"])
    assert kernels.get("gaussian", bandwidth=2) == ka.Gaussian(2.0)
    assert kernels.get("RBF", bandwidth=2) == ka.Gaussian(2.0)
    assert kernels.get("softmax", temperature=8) == ka.Exponential(8.0)
    assert kernels.get("tanh") == ka.Sigmoid()
    assert kernels.get("poly", degree=2) == ka.Polynomial(degree=2)
    for k in ALL_KERNELS:
        assert kernels.get(k.name, **k.params()) == k
        assert kernels.get(k) is k
    assert kernels.get(ka.Gaussian(1.0), bandwidth=3.0) == ka.Gaussian(3.0)


def test_registry_errors():
    with pytest.raises(ValueError, match=r"kernels.get: `name` must be one of .*'gaussian'.*'sigmoid'.*; got 'foo'"):
        kernels.get("foo")
    with pytest.raises(TypeError, match="takes parameters"):
        kernels.get("gaussian", temperature=1.0)
    with pytest.raises(TypeError, match="kernel name or a Kernel"):
        kernels.get(3)


def test_matern_positional_order_is_nu_then_bandwidth():
    k = ka.Matern(2.5, 0.7)
    assert k.nu == 2.5 and k.bandwidth == 0.7 and k.is_shift_invariant


@pytest.mark.parametrize("make,match", [
    (lambda: ka.Gaussian(0.0), r"Gaussian: `bandwidth` must be > 0; got 0.0"),
    (lambda: ka.Gaussian(-1), r"Gaussian: `bandwidth` must be > 0; got -1.0"),
    (lambda: ka.Laplacian(float("nan")), r"Laplacian: `bandwidth` must be > 0; got nan"),
    (lambda: ka.Matern(nu=1.5, bandwidth=-2.0), r"Matern: `bandwidth` must be > 0; got -2.0"),
    (lambda: ka.Matern(nu=1.0), r"Matern: `nu` must be one of 0.5, 1.5, 2.5; got 1.0"),
    (lambda: ka.Exponential(0), r"Exponential: `temperature` must be > 0; got 0.0"),
    (lambda: ka.Exponential(float("inf")), r"Exponential: `temperature` must be > 0; got inf"),
    (lambda: ka.Polynomial(degree=0), r"Polynomial: `degree` must be an integer >= 1; got 0"),
    (lambda: ka.Polynomial(degree=2.5), r"Polynomial: `degree` must be an integer >= 1; got 2.5"),
    (lambda: ka.Polynomial(gamma=0), r"Polynomial: `gamma` must be > 0"),
    (lambda: ka.Polynomial(coef0=-1), r"Polynomial: `coef0` must be >= 0"),
    (lambda: ka.Sigmoid(coef0=float("nan")), r"Sigmoid: `coef0` must be finite"),
])
def test_parameter_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("make", [lambda: ka.Gaussian("1"), lambda: ka.Exponential(None),
                                  lambda: ka.Polynomial(degree="2"), lambda: ka.Sigmoid(coef0="x")])
def test_parameter_type_errors(make):
    with pytest.raises((TypeError, ValueError), match=r"must be"):
        make()


def test_kernels_are_frozen_and_hashable():
    k = ka.Gaussian(1.0)
    with pytest.raises(Exception):
        k.bandwidth = 2.0
    assert len({ka.Gaussian(1.0), ka.Gaussian(1.0), ka.Gaussian(2.0)}) == 2
