"""Tests of kernapprox.bootstrap (Yao, Erichson & Lopes 2023)."""
import numpy as np
import pytest

import kernapprox as ka
from kernapprox._validation import KernapproxWarning
from kernapprox.bootstrap import _weighted_top_sv, approximation_error, bootstrap_error_quantile, extrapolate


def test_bootstrap_quantile_covers_true_quantile_at_nominal_rate():
    """Yao et al. 2023, Algorithm 1: P(ε_s <= q̂) ≈ 1 − α for the RFF kernel-matrix error.

    T = 150 independent RFF draws (n = 60 points, s = 64 features, metric "max", α = 0.1, B = 30),
    each with its own bootstrap. Observed coverage ≈ 0.83-0.88 (the bootstrap is slightly
    optimistic at small s). The bracket [0.70, 0.98] is > 3.5 binomial sd (0.03) from 0.84 on the
    low side → failure probability < 3e-4 under the normal approximation (fixed seeds).
    """
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    k = ka.Gaussian(1.5)
    K = k(X)
    T, hits, errs, qs = 150, 0, [], []
    for t in range(T):
        Z = ka.random_features(k, 3, 64, kind="rff", rng=t).transform(X)
        e = approximation_error(Z, Z, K, "max")
        q = ka.bootstrap_error_quantile(Z, "max", 0.1, 30, rng=10_000 + t)
        hits += e <= q
        errs.append(e)
        qs.append(q)
    assert 0.70 <= hits / T <= 0.98, hits / T
    # the mean bootstrap estimate is close to the true 0.9-quantile of the error
    assert 0.75 <= np.mean(qs) / np.quantile(errs, 0.9) <= 1.25


def test_extrapolation_rule_predicts_quantile_at_larger_s():
    """q̂(s) = q̂(s₀)·√(s₀/s): a pilot at s₀ = 32 predicts the true 0.9-quantile at s = 128 within 30 %
    (averaged over 10 pilots; the 1/√s law is exact for the error scale, only the bootstrap and
    the 60-draw true quantile add noise, each < 10 %)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 2))
    k = ka.Gaussian(1.0)
    K = k(X)
    true128 = np.quantile([approximation_error(*(2 * [ka.random_features(k, 2, 128, rng=t).transform(X)]), K, "inf")
                           for t in range(60)], 0.9)
    pilots = [extrapolate(ka.bootstrap_error_quantile(ka.random_features(k, 2, 32, rng=100 + t), "inf", X=X,
                                                      rng=t), 32, 128) for t in range(10)]
    assert 0.7 <= np.mean(pilots) / true128 <= 1.3


def test_extrapolate_formula_and_validation():
    assert extrapolate(2.0, 100, 400) == pytest.approx(1.0)
    np.testing.assert_allclose(extrapolate(1.0, 4, [1, 4, 16]), [2.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="extrapolate"):
        extrapolate(1.0, 0, 10)


def test_factor_metrics_match_dense_formulas(rng):
    A, B = rng.normal(size=(2, 30, 5))
    w = rng.integers(0, 3, size=5).astype(float) - 1.0
    Ra, Rb = np.linalg.qr(A, mode="r"), np.linalg.qr(B, mode="r")
    assert _weighted_top_sv(Ra, Rb, w) == pytest.approx(np.linalg.norm((A * w) @ B.T, 2), rel=1e-10)
    assert _weighted_top_sv(Ra, Ra, np.ones(5)) == pytest.approx(np.linalg.norm(A @ A.T, 2), rel=1e-10)
    K = rng.normal(size=(30, 30))
    assert approximation_error(A, B, K, "inf") == pytest.approx(np.linalg.norm(A @ B.T - K, np.inf))
    assert approximation_error(A, B, K, "max") == pytest.approx(np.abs(A @ B.T - K).max())


@pytest.mark.parametrize("metric", ["inf", "max", "op", "spectral"])
def test_all_metrics_pairs_and_groups(rng, metric):
    X = rng.normal(size=(40, 3)) * 0.5
    fm = ka.random_features(ka.Exponential(3.0), 3, 32, kind="hyperbolic", rng=0)
    q, samples = ka.bootstrap_error_quantile(fm, metric, X=X, Y=X[:20], B=10, rng=1, return_samples=True)
    assert samples.shape == (10,) and np.all(samples >= 0) and q == pytest.approx(np.quantile(samples, 0.9))
    Z = fm.transform(X)
    q2 = ka.bootstrap_error_quantile((Z, Z[:20]), metric, B=10, rng=1, groups=fm.draw_index)
    assert q2 == pytest.approx(q)
    # two groups of 32 columns: the bootstrap resamples whole groups
    two = np.repeat([0, 1], 32)
    assert ka.bootstrap_error_quantile(Z, metric, B=5, groups=two, rng=0) >= 0


def test_non_iid_features_warn_and_bad_input(rng):
    X = rng.normal(size=(10, 4))
    with pytest.warns(KernapproxWarning, match="not i.i.d."):
        ka.bootstrap_error_quantile(ka.random_features(ka.Gaussian(), 4, 8, kind="orf", rng=0), X=X, B=3, rng=0)
    Z = rng.normal(size=(10, 8))
    with pytest.raises(ValueError, match="`metric` must be one of"):
        ka.bootstrap_error_quantile(Z, "fro")
    with pytest.raises(ValueError, match=r"`alpha` must lie in the open interval"):
        ka.bootstrap_error_quantile(Z, alpha=1.0)
    with pytest.raises(ValueError, match=r"`B` must lie in \[2, 100000\]"):
        ka.bootstrap_error_quantile(Z, B=1)
    with pytest.raises(ValueError, match="same number of columns"):
        ka.bootstrap_error_quantile((Z, Z[:, :5]))
    with pytest.raises(ValueError, match="`groups` must be an integer array"):
        ka.bootstrap_error_quantile(Z, groups=np.arange(5))
    with pytest.raises(ValueError, match="at least two independent draws"):
        ka.bootstrap_error_quantile(Z, groups=np.zeros(8, int))
    with pytest.raises(TypeError, match="`X` must be None"):
        ka.bootstrap_error_quantile(Z, X=X)
    with pytest.raises(ValueError, match="`X` must be given"):
        ka.bootstrap_error_quantile(ka.random_features(ka.Gaussian(), 4, 8, rng=0))


def test_factor_replicates_equal_the_resampled_dense_errors(rng):
    """The O(s³)-per-replicate path for "op"/"spectral" equals the dense resample formula (same rng)."""
    Zq, Zk = rng.normal(size=(2, 40, 12)) / np.sqrt(12)
    for metric in ("op", "spectral"):
        _, got = bootstrap_error_quantile((Zq, Zk), metric, B=8, rng=3, return_samples=True)
        gen = np.random.default_rng(3)
        base = Zq @ Zk.T
        for b in range(8):
            cols = gen.integers(0, 12, size=12)
            rep = Zq[:, cols] @ Zk[:, cols].T
            want = (abs(np.linalg.norm(rep, 2) - np.linalg.norm(base, 2)) if metric == "op"
                    else np.linalg.norm(rep - base, 2))
            assert got[b] == pytest.approx(want, rel=1e-9, abs=1e-12)
