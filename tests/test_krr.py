"""Tests of kernapprox.krr: sketched KRR (Yang et al. 2017; Chen & Yang 2021) and Nyström KRR."""
import numpy as np
import pytest

import kernapprox as ka


def _problem(n=200, d=2, seed=0, heavy=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_t(2, size=(n, d)) if heavy else rng.normal(size=(n, d))
    f = np.sin(2 * X[:, 0]) + 0.5 * np.cos(X[:, -1])
    y = f + 0.1 * rng.normal(size=n)
    return X, f, y


def _exact(KM, y, lam):
    n = KM.shape[0]
    return np.linalg.solve(KM.dense() + n * lam * np.eye(n), y)


@pytest.mark.parametrize("lam", [1e-2, 1e-4])
def test_full_identity_sketch_equals_exact_krr(lam):
    X, _, y = _problem()
    Xt = np.random.default_rng(1).normal(size=(30, 2))
    k = ka.Gaussian(1.0)
    KM = ka.KernelMatrix(k, X)
    alpha = _exact(KM, y, lam)
    ref_fit, ref_pred = KM.dense() @ alpha, k(Xt, X) @ alpha
    n = len(y)
    for S in (np.eye(n), ka.make_sketch("subsample", n, n, replace=False, weighted=False, rng=0)):
        model = ka.sketched_krr(KM, y, lam, S)
        np.testing.assert_allclose(model.fitted, ref_fit, atol=1e-7)
        np.testing.assert_allclose(model.predict(Xt), ref_pred, atol=1e-6)
    # Nyström KRR with every point as a landmark is exact KRR too
    model = ka.nystrom_krr(KM, y, lam, np.arange(n))
    np.testing.assert_allclose(model.predict(Xt), ref_pred, atol=1e-6)


def test_nystrom_krr_equals_sketched_krr_with_the_same_selection():
    X, _, y = _problem(seed=2)
    KM = ka.KernelMatrix(ka.Gaussian(0.8), X)
    idx = np.random.default_rng(3).choice(len(y), 30, replace=False)
    S = np.zeros((len(y), 30))
    S[idx, np.arange(30)] = 1.7  # a positive column rescaling changes nothing (algorithms.md §1.2)
    a = ka.nystrom_krr(KM, y, 1e-3, idx)
    b = ka.sketched_krr(KM, y, 1e-3, S)
    np.testing.assert_allclose(a.fitted, b.fitted, atol=1e-8)
    Xt = X[:5] + 0.1
    np.testing.assert_allclose(a.predict(Xt), b.predict(Xt), atol=1e-8)


def test_sparse_sketch_evaluates_only_support_columns():
    X, _, y = _problem(n=300, seed=4)
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    S = ka.make_sketch("accumulated", 300, 20, m=3, rng=0)
    model = ka.sketched_krr(KM, y, 1e-3, S)
    r = len(S.support())
    assert r <= 60 and model.info["n_evals"] == 300 * r
    assert model.X_support.shape == (r, 2) and model.info["accumulation"] == 3


def test_every_sketch_kind_runs_and_multioutput():
    X, f, y = _problem(n=150, seed=5)
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    Y2 = np.stack([y, -y], axis=1)
    for kind in ka.sketch.KINDS:
        model = ka.sketched_krr(KM, Y2, 1e-3, kind, s=40, rng=1)
        assert model.fitted.shape == (150, 2) and model.predict(X[:4]).shape == (4, 2)
        np.testing.assert_allclose(model.fitted[:, 0], -model.fitted[:, 1], atol=1e-10)
        assert np.mean((model.fitted[:, 0] - f) ** 2) < 0.1  # a sensible fit (noise variance 0.01)


def test_accumulation_beats_plain_subsampling_on_high_coherence_design():
    """Chen & Yang 2021 (claim [S]): accumulating m sub-sampling sketches fixes the poor accuracy of
    uniform sub-sampling when a few points have high leverage, and a Gaussian sketch is better still.

    Design: 380 clustered points + 20 far outliers (each an isolated bump of the kernel: leverage ≈ 1);
    s = 30, in-sample squared error against exact KRR averaged over 8 sketches. Measured while writing
    the test: m = 1: 0.036 ± 0.007 (per-sketch sd), m = 8: 0.020 ± 0.007, Gaussian: 0.005 ± 0.002.
    The threshold 0.75·err(m=1) is ≈ 3 standard errors of the 8-sketch mean above err(m=8) → failure
    probability ≈ 1e-3 under a normal approximation (fixed seeds: deterministic).
    """
    rng = np.random.default_rng(6)
    n, n_out, s, lam = 400, 20, 30, 1e-4
    X = np.vstack([rng.normal(size=(n - n_out, 2)) * 0.5,
                   rng.normal(size=(n_out, 2)) * 0.1 + 6 * rng.normal(size=(n_out, 2))])
    y = np.sin(2 * X[:, 0]) + 0.5 * np.cos(X[:, 1]) + 0.1 * rng.normal(size=n)
    KM = ka.KernelMatrix(ka.Gaussian(0.7), X)
    ref = KM.dense() @ _exact(KM, y, lam)

    def err(kind, **o):
        return np.mean([np.mean((ka.sketched_krr(KM, y, lam, kind, s=s, rng=t, **o).fitted - ref) ** 2)
                        for t in range(8)])

    e1, e8, eg = err("accumulated", m=1), err("accumulated", m=8), err("gaussian")
    assert e8 < 0.75 * e1 and eg < e8, (e1, e8, eg)


def test_bad_input():
    X, _, y = _problem(n=50)
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    with pytest.raises(ValueError, match=r"sketched_krr: `y` must have shape \(50,\)"):
        ka.sketched_krr(KM, y[:40], 1e-3, "gaussian", s=5)
    with pytest.raises(ValueError, match="`lam` must be > 0"):
        ka.sketched_krr(KM, y, 0.0, "gaussian", s=5)
    with pytest.raises(ValueError, match="`s` must be given"):
        ka.sketched_krr(KM, y, 1e-3, "gaussian")
    with pytest.raises(ValueError, match="have n = 50 rows"):
        ka.sketched_krr(KM, y, 1e-3, np.eye(40))
    with pytest.raises(TypeError, match="`sketch` must be"):
        ka.sketched_krr(KM, y, 1e-3, 3)
    with pytest.raises(ValueError, match="square"):
        ka.sketched_krr(ka.KernelMatrix(ka.Gaussian(1.0), X, X[:10]), y, 1e-3, "gaussian", s=5)
    with pytest.raises(TypeError, match="KernelMatrix"):
        ka.nystrom_krr(np.eye(50), y, 1e-3, k=5)
    with pytest.raises(ValueError, match=r"`indices` must hold indices in \[0, 50\)"):
        ka.nystrom_krr(KM, y, 1e-3, [0, 50])
    with pytest.raises(ValueError, match="`k` must lie in"):
        ka.nystrom_krr(KM, y, 1e-3, k=51)
    model = ka.nystrom_krr(KM, y, 1e-3, k=5, rng=0)
    with pytest.raises(ValueError, match="have d = 2 columns"):
        model.predict(np.ones((3, 3)))
