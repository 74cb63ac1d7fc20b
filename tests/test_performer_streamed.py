"""The streamed Performer (no factors) equals the factor path (full feature matrices) up to rounding,
for every feature kind and stabiliser, over several row tiles; V-Mean's default safeguard."""
import numpy as np
import pytest

import kernapprox as ka
from kernapprox.attention import performer

CASES = [("positive", s) for s in ("exact", "none", "skyformer", "performer_pytorch", "google_research")] + \
        [(k, s) for k in ("hyperbolic", "trig") for s in ("exact", "none")]


@pytest.mark.parametrize("kind,stab", CASES)
@pytest.mark.parametrize("double_scaling", [False, True])
@pytest.mark.parametrize("eps", [None, 1e-3])
def test_streamed_equals_factor_path(kind, stab, double_scaling, eps):
    g = np.random.default_rng(1)
    n, m = 9000, 7000                       # several (rows × 2d) tiles of FACTOR_BUDGET on each side
    Q, K = g.normal(size=(n, 16)), g.normal(size=(m, 16))
    V = g.normal(size=(m, 5))
    kw = dict(kind=kind, stabilizer=stab, stabilize=stab != "none", double_scaling=double_scaling,
              feature_eps=eps, d=32, rng=0)
    out = performer(Q, K, V, **kw)
    ref = performer(Q, K, V, return_factors=True, **kw)[0]
    # trig: the denominator φ(q)ᵀΣφ(k) cancels (sin/cos of both signs), rounding is amplified by it
    tol = 1e-8 if kind == "trig" else 1e-12
    np.testing.assert_allclose(out, ref, rtol=0, atol=tol * np.abs(ref).max())


def test_streamed_key_max_and_float32():
    g = np.random.default_rng(2)
    Q, K, V = g.normal(size=(3, 600, 8))
    kw = dict(stabilizer="skyformer", key_max=3.0, d=16, rng=0)
    np.testing.assert_allclose(performer(Q, K, V, **kw), performer(Q, K, V, return_factors=True, **kw)[0],
                               rtol=1e-13, atol=1e-13)
    Q32, K32, V32 = (x.astype(np.float32) for x in (Q, K, V))
    out = performer(Q32, K32, V32, d=16, rng=0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, performer(Q32, K32, V32, d=16, rng=0, return_factors=True)[0],
                               rtol=0, atol=1e-5)


def test_streamed_large_scale_stays_convex():
    g = np.random.default_rng(3)
    Q, K, V = g.normal(size=(3, 3000, 8)) * 1e4
    out = performer(Q, K, V, d=16, rng=0)
    assert np.all(np.isfinite(out))
    assert np.all(out >= V.min(axis=0) - 1e-9 * np.abs(V).max())
    assert np.all(out <= V.max(axis=0) + 1e-9 * np.abs(V).max())


def test_vmean_default_safeguard_is_none_and_output_unchanged():
    g = np.random.default_rng(4)
    Q, K, V = g.normal(size=(3, 50, 4))
    out, fac = ka.attention.approximate(Q, K, V, method="vmean", d=4, return_factors=True)
    assert fac["safeguard"]["mode"] == "none"
    np.testing.assert_array_equal(out, ka.attention.approximate(Q, K, V, method="vmean", d=4, safeguard="exact"))
