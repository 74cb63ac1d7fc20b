"""scikit-learn estimators of kernapprox.sklearn: scikit-learn's own conformance checks, then the
numbers — each estimator agrees with the kernapprox function it wraps, exact regimes, float32."""
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import kernapprox as ka
from kernapprox import KernapproxWarning
from kernapprox.sklearn import (
    NystromTransformer,
    RandomFeaturesTransformer,
    RPCholeskyTransformer,
    SketchedKernelRidge,
)

ESTIMATORS = [
    NystromTransformer(n_components=8),
    NystromTransformer(n_components=8, sampler="rpcholesky", core="eig"),
    NystromTransformer(n_components=8, sampler="leverage", sampler_options={"lam": 1e-3}, core="pinv"),
    NystromTransformer(n_components=8, sampler="kmeanspp", core="ridge", lam=1e-6),
    NystromTransformer(n_components=8, sampler="recursive_rls"),
    NystromTransformer(n_components=8, sampler="kmeans", kernel="laplacian", kernel_params={"bandwidth": 2.0}),
    RPCholeskyTransformer(n_components=8),
    RPCholeskyTransformer(n_components=8, block_size=4, accelerated=True),
    *(RandomFeaturesTransformer(n_components=16, kind=kind) for kind in ("rff", "orf", "sorf", "qmc")),
    RandomFeaturesTransformer(n_components=16, kind="positive", kernel="exponential",
                              kernel_params={"temperature": 8.0}),
    SketchedKernelRidge(kernel_params={"bandwidth": 3.0}),
    SketchedKernelRidge(kernel_params={"bandwidth": 3.0}, sketch="gaussian", n_components=40),
]


def _suppress_clip_warning(check):
    def run(estimator):
        with warnings.catch_warnings():
            # the checks fit on 1–30 samples: n_components > n_samples is reduced with a warning (documented)
            warnings.filterwarnings("ignore", message=".*n_components.*> n_samples", category=KernapproxWarning)
            check(estimator)
    return run


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_conformance(estimator, check):
    _suppress_clip_warning(check)(estimator)


def test_import_kernapprox_does_not_import_sklearn_module():
    code = "import sys, kernapprox; print('kernapprox.sklearn' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
    assert ka.sklearn.NystromTransformer is NystromTransformer   # lazily reachable as an attribute


@pytest.fixture
def cloud():
    return ka.datasets.smile(400, rng=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sampler", ["uniform", "rpcholesky", "leverage", "greedy", "kmeanspp"])
def test_nystrom_features_equal_library_nystrom(cloud, sampler, dtype):
    """On the training points φ(X) φ(X)ᵀ is ka.nystrom on the same landmarks (same kernel entries)."""
    X = cloud.astype(dtype)
    nys = NystromTransformer(kernel_params={"bandwidth": 0.1}, n_components=30, sampler=sampler, random_state=3)
    Phi = nys.fit_transform(X)
    assert Phi.dtype == dtype and Phi.shape == (400, nys.get_feature_names_out().size)
    KM = ka.KernelMatrix(ka.Gaussian(0.1), X)
    ref = ka.nystrom(KM, nys.component_indices_)
    # same landmarks as the library's sampler with the same seed
    expect = np.unique(ka.sample_landmarks(KM, 30, method=sampler, rng=3))
    np.testing.assert_array_equal(nys.component_indices_, expect)
    tol = 50 * np.finfo(dtype).eps
    np.testing.assert_allclose(Phi @ Phi.T, ref.to_dense(), atol=tol * 400)


def test_all_points_as_landmarks_is_the_exact_kernel(cloud):
    """Exact regime: k = n landmarks ⇒ φ(x)·φ(y) = κ(x, y), also for points outside the training set."""
    X, Y = cloud[:60], cloud[60:90]
    k = ka.Gaussian(0.3)
    for est in (NystromTransformer(kernel=k, n_components=60, core="eig"),
                RPCholeskyTransformer(kernel=k, n_components=60, random_state=0)):
        est.fit(X)
        np.testing.assert_allclose(est.transform(Y) @ est.transform(X).T, k(Y, X), atol=1e-6)
        if isinstance(est, RPCholeskyTransformer):
            assert est.trace_error_ < 1e-8


def test_n_components_above_n_samples_warns_and_uses_all(cloud):
    with pytest.warns(KernapproxWarning, match="`n_components` = 50 > n_samples = 20; using all 20"):
        nys = NystromTransformer(n_components=50, random_state=0).fit(cloud[:20])
    assert nys.n_components_ == 20


def test_rpcholesky_transformer_matches_library_pivots_and_trace_error(cloud):
    KM = ka.KernelMatrix(ka.Gaussian(0.1), cloud)
    approx = ka.rpcholesky(KM, 40, block_size=10, rng=5)
    rpc = RPCholeskyTransformer(kernel_params={"bandwidth": 0.1}, n_components=40, block_size=10,
                                random_state=5).fit(cloud)
    np.testing.assert_array_equal(rpc.component_indices_, approx.info["indices"])
    exact = (KM.diag().sum() - approx.trace()) / KM.diag().sum()
    np.testing.assert_allclose(rpc.trace_error_, exact, rtol=1e-10)
    Phi = rpc.transform(cloud)   # the same Nyström approximation as RPCholesky's factor
    np.testing.assert_allclose(Phi @ Phi.T, approx.to_dense(), atol=1e-8)


@pytest.mark.parametrize("kind", ["rff", "orf", "sorf", "qmc", "rff_sincos"])
def test_random_features_equal_library_map(cloud, kind):
    fm = ka.random_features(ka.Gaussian(0.5), 2, 64, kind=kind, rng=11)
    est = RandomFeaturesTransformer(kernel_params={"bandwidth": 0.5}, n_components=64, kind=kind, random_state=11)
    np.testing.assert_array_equal(est.fit_transform(cloud), fm.transform(cloud))
    Z32 = est.transform(cloud.astype(np.float32))
    assert Z32.dtype == np.float32
    np.testing.assert_allclose(Z32, fm.transform(cloud), atol=1e-4)


def test_random_features_converge_to_kernel(cloud):
    """Seeded statistical check: RFF with m = 4096 has entrywise error O(1/√m) = 0.016; a max error over
    the 400² entries above 0.1 (six standard deviations) has probability < 1e-6."""
    est = RandomFeaturesTransformer(kernel_params={"bandwidth": 0.5}, n_components=4096, random_state=0)
    Z = est.fit_transform(cloud)
    assert np.abs(Z @ Z.T - ka.Gaussian(0.5)(cloud)).max() < 0.1


def test_sketched_krr_equals_library_and_fits(cloud):
    y = np.sin(3 * cloud[:, 0]) + cloud[:, 1]
    KM = ka.KernelMatrix(ka.Gaussian(0.2), cloud)
    model = ka.sketched_krr(KM, y, 1e-4, "accumulated", s=80, m=4, rng=2)
    est = SketchedKernelRidge(kernel_params={"bandwidth": 0.2}, lam=1e-4, n_components=80,
                              sketch_options={"m": 4}, random_state=2).fit(cloud, y)
    np.testing.assert_array_equal(est.predict(cloud[:50]), model.predict(cloud[:50]))
    assert est.score(cloud, y) > 0.99
    Y2 = np.column_stack([y, -2 * y])                                  # multi-output
    P = SketchedKernelRidge(kernel_params={"bandwidth": 0.2}, lam=1e-4, n_components=80,
                            random_state=2).fit(cloud, Y2).predict(cloud)
    np.testing.assert_allclose(P[:, 1], -2 * P[:, 0], rtol=1e-10, atol=1e-10)


def test_pipeline_grid_search_clone_pickle(cloud):
    y = (cloud[:, 1] > 0).astype(int)
    from sklearn.linear_model import RidgeClassifier
    pipe = make_pipeline(NystromTransformer(n_components=40, sampler="rpcholesky", random_state=0), RidgeClassifier())
    grid = GridSearchCV(pipe, {"nystromtransformer__kernel": [ka.Gaussian(0.1), ka.Gaussian(1.0)],
                               "nystromtransformer__core": ["shifted_cholesky", "eig"]}, cv=3)
    grid.fit(cloud, y)
    assert grid.best_score_ > 0.9
    fitted = grid.best_estimator_
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict(cloud), fitted.predict(cloud))
    c = clone(pipe)
    assert c.get_params()["nystromtransformer__sampler"] == "rpcholesky"


@pytest.mark.parametrize("est, match, exc", [
    (NystromTransformer(sampler="nope"), "NystromTransformer.fit: `sampler` must be one of", ValueError),
    (NystromTransformer(core="ridge"), "NystromTransformer.fit: `lam` must be given for core='ridge'", ValueError),
    (NystromTransformer(core="qr"), "`core` must be one of", ValueError),
    (NystromTransformer(rcond=-1.0, core="eig"), "`rcond` must be > 0", ValueError),
    (NystromTransformer(kernel="sigmoid"), "`kernel` must be positive semi-definite", ValueError),
    (NystromTransformer(kernel="nope"), "NystromTransformer.fit: `kernel` must be a kernapprox Kernel or a kernel name \\(.*'gaussian'", ValueError),
    (NystromTransformer(kernel=3), "`kernel` must be a kernapprox Kernel or a kernel name", TypeError),
    (NystromTransformer(kernel_params=[1]), "`kernel_params` must be a dict or None", TypeError),
    (NystromTransformer(kernel_params={"width": 1.0}), "`kernel_params` must hold parameters of", TypeError),
    (NystromTransformer(sampler_options={"foo": 1}), "foo", TypeError),
    (NystromTransformer(n_components=0), "`n_components` must be >= 1", ValueError),
    (NystromTransformer(n_components=2.5), "`n_components` must be an integer", TypeError),
    (NystromTransformer(random_state="x"), "`random_state` must be None, an int", TypeError),
    (RPCholeskyTransformer(block_size=0), "block_size", ValueError),
    (RandomFeaturesTransformer(kind="nope"), "RandomFeaturesTransformer.fit: `kind` must be one of", ValueError),
    (RandomFeaturesTransformer(kernel="polynomial"), "rff", ValueError),
    (RandomFeaturesTransformer(feature_options=3), "`feature_options` must be a dict or None", TypeError),
    (SketchedKernelRidge(lam=0.0), "SketchedKernelRidge.fit: `lam` must be > 0", ValueError),
    (SketchedKernelRidge(sketch="nope"), "`sketch` must be one of", ValueError),
    (SketchedKernelRidge(sketch_options={"m": 0}), "`m`", ValueError),
])
def test_bad_parameters_raise_naming_them(cloud, est, match, exc):
    y = cloud[:, 0]
    with pytest.raises(exc, match=match):
        est.fit(cloud, y)


def test_random_state_conventions(cloud):
    a = NystromTransformer(n_components=20, random_state=np.random.RandomState(0)).fit(cloud)
    b = NystromTransformer(n_components=20, random_state=np.random.RandomState(0)).fit(cloud)
    np.testing.assert_array_equal(a.component_indices_, b.component_indices_)   # legacy RandomState: one seed
    g = np.random.default_rng(4)
    c = NystromTransformer(n_components=20, random_state=g).fit(cloud)
    np.testing.assert_array_equal(c.component_indices_,
                                  np.unique(ka.sample_landmarks(ka.KernelMatrix(ka.Gaussian(1.0), cloud), 20,
                                                                rng=np.random.default_rng(4))))


def test_example_pipeline_runs(monkeypatch, capsys):
    """examples/sklearn_pipeline.py at smoke size: every method is tuned and scored on held-out digits."""
    from pathlib import Path
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    from examples.sklearn_pipeline import main
    results = main(["--k", "30", "--seeds", "1", "--bandwidths", "2.0"])
    assert len(results) == 3
    for rows in results.values():
        acc, wall, best = rows[0]
        assert 0.85 < acc <= 1.0 and wall > 0 and best   # 10 classes: chance is 0.1
    assert "RPCholeskyTransformer" in capsys.readouterr().out


def test_docstring_examples():
    import doctest

    import kernapprox.sklearn as mod
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 4 and result.failed == 0


def test_nystrom_transformer_gamma_is_a_deprecated_alias_of_lam():
    X = np.random.default_rng(0).normal(size=(60, 3))
    new = NystromTransformer(n_components=10, core="ridge", lam=1e-3, random_state=0).fit(X)
    with pytest.warns(DeprecationWarning, match=r"^NystromTransformer.fit: `gamma` is deprecated, use `lam`"):
        old = NystromTransformer(n_components=10, core="ridge", gamma=1e-3, random_state=0).fit(X)
    np.testing.assert_array_equal(old.transform(X), new.transform(X))
    with pytest.raises(ValueError, match=r"^NystromTransformer.fit: `gamma` must be > 0"):
        NystromTransformer(core="ridge", gamma=-1.0).fit(X)
