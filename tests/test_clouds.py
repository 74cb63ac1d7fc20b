"""Named point clouds (kernapprox.datasets.clouds)."""
import numpy as np
import pytest

import kernapprox as ka
from kernapprox.datasets import clouds


@pytest.mark.parametrize("name", ["smile", "spiral", "outliers"])
def test_shapes_determinism_and_rng(name):
    f = clouds.CLOUDS[name]
    X = f(500, rng=0)
    assert X.shape == (500, 2) and X.dtype == np.float64 and np.all(np.isfinite(X))
    np.random.seed(0)
    np.testing.assert_array_equal(X, f(500, rng=np.random.default_rng(0)))
    assert not np.array_equal(X, f(500, rng=1))
    assert getattr(ka.datasets, name) is f


def test_smile_structure():
    X = clouds.smile(4000, rng=0)
    eyes = X[:, 1] > 0.1                                       # eyes at y = 0.6 ± 0.08, mouth y < -0.2
    assert abs(eyes.mean() - 0.5) < 0.01                       # two eyes of n/4 each
    left = eyes & (X[:, 0] < 0)
    np.testing.assert_allclose(X[left].mean(axis=0), [-0.6, 0.6], atol=0.02)
    mouth = X[~eyes]
    np.testing.assert_allclose(np.linalg.norm(mouth, axis=1).mean(), 1.0, atol=0.02)
    assert np.all(mouth[:, 1] < 0)


def test_spiral_radius_grows_with_angle():
    X = clouds.spiral(1000, noise=0.0, rng=0)
    r = np.linalg.norm(X, axis=1)
    assert 0.05 - 1e-12 <= r.min() and r.max() <= 1 + 1e-12


def test_outliers_fraction_and_isolation():
    X = clouds.outliers(2000, frac=0.025, d=3, rng=0)
    assert X.shape == (2000, 3)
    far = np.linalg.norm(X, axis=1) > 2
    assert far.sum() == 50
    D = np.linalg.norm(X[far][:, None] - X[far][None], axis=2) + np.eye(50) * 1e9
    assert D.min() > 3                                         # isolated: Gaussian(1) entries < e^{-4.5}


def test_outliers_defeat_uniform_sampling():
    """The documented behaviour: uniform Nyström's relative trace error ≈ frac (1 − k/n)."""
    X = clouds.outliers(2000, rng=3)
    KM = ka.KernelMatrix(ka.Gaussian(clouds.SUGGESTED_BANDWIDTH["outliers"]), X)
    errs = [(2000 - ka.nystrom(KM, ka.sample_landmarks(KM, 100, rng=s)).trace()) / 2000 for s in range(3)]
    assert 0.015 < np.median(errs) < 0.03


def test_digits():
    X = clouds.digits()
    assert X.shape == (1797, 64) and X.min() == 0 and X.max() == 1
    Y = clouds.digits(100, rng=0)
    assert Y.shape == (100, 64)
    np.testing.assert_array_equal(Y, clouds.digits(100, rng=0))
    assert set(map(bytes, Y)) <= set(map(bytes, X))
    assert set(clouds.SUGGESTED_BANDWIDTH) == set(clouds.CLOUDS)


def test_bad_input():
    with pytest.raises(ValueError, match="smile: `n` must be >= 4"):
        clouds.smile(2)
    with pytest.raises(TypeError, match="spiral: `n` must be an integer"):
        clouds.spiral(10.5)
    with pytest.raises(ValueError, match="`noise` must be >= 0"):
        clouds.spiral(10, noise=-1.0)
    with pytest.raises(ValueError, match="outliers: `frac` must lie in the open interval"):
        clouds.outliers(10, frac=1.5)
    with pytest.raises(TypeError, match="outliers: `frac` must be a real number"):
        clouds.outliers(10, frac="0.1")
    assert clouds.outliers(10, frac=np.float32(0.2), rng=0).shape == (10, 2)   # numpy scalars accepted
    with pytest.raises(ValueError, match=r"digits: `n` must lie in \[1, 1797\]"):
        clouds.digits(5000)


def test_datasets_namespace_re_exports_exactly_its_submodules_public_names():
    import importlib
    subs = ("clouds", "qkv", "pretrained")
    names = {n for s in subs for n in importlib.import_module(f"kernapprox.datasets.{s}").__all__}
    assert set(ka.datasets.__all__) == names
    assert set(dir(ka.datasets)) == names | set(subs)
    assert ka.datasets.smile is importlib.import_module("kernapprox.datasets.clouds").smile
