"""Tests of kernapprox.ffkernel: feed-forward kernel feature maps and their offline fit."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

import kernapprox as ka
from kernapprox.ffkernel import (FFKINDS, FFKernelFeatureMap, _Objective, error_vs_features, ff_attention, fit_ffkernel,
                                init_heads)


def _qkv(n=64, p=8, seed=0):
    return np.random.default_rng(seed).normal(size=(3, n, p))


@pytest.mark.parametrize("kind", FFKINDS)
@pytest.mark.parametrize("target", ["attention", "kernel"])
def test_analytic_gradient_matches_finite_differences(kind, target):
    """Central differences (h = 1e-6, truncation O(h²) ≈ 1e-12, round-off ≈ 1e-10) on 15 random
    coordinates agree with the analytic gradient to 1e-6 relative — with the orthogonality penalty on."""
    Q, K, V = _qkv()
    fm = FFKernelFeatureMap(8, 12, kind=kind, k=3, rng=1)
    obj = _Objective(fm, Q, K, V, target, orth_penalty=0.5)
    rng = np.random.default_rng(2)
    th = fm.get_vector() + 0.1 * rng.normal(size=fm.get_vector().size)
    _, g = obj(th)
    idx = rng.choice(th.size, 15, replace=False)
    h = 1e-6
    num = []
    for j in idx:
        e = np.zeros_like(th)
        e[j] = h
        num.append((obj(th + e)[0] - obj(th - e)[0]) / (2 * h))
    np.testing.assert_allclose(num, g[idx], rtol=1e-6, atol=1e-6 * np.abs(g).max())


def _ref_ff_attention(Q, K, V, fm):
    """Slow obvious reference in the log domain: out_i = Σ_j w_ij V_j with
    log w_ij = logsumexp_f(log φ_f(q_i) + log φ_f(k_j)) normalised over j; log φ written directly
    (log softplus via logaddexp, or z + log1p(−e^z/2) below z = −30; log sigmoid = −logaddexp(0, −z))."""
    from scipy.special import logsumexp

    def logphi(X):
        P = fm.params
        Xs = X * fm.input_scale
        Z = Xs @ P["W"] + P["b"]
        # log softplus(z) = log(log1p(e^z)); for z < −30 log1p(e^z) = e^z (1 − e^z/2 + …)
        L = np.where(Z > -30, np.log(np.logaddexp(0.0, np.maximum(Z, -30))), Z + np.log1p(-0.5 * np.exp(np.minimum(Z, -30))))
        if fm.kind == "linear_softplus":
            return L
        Zg = Xs @ P["Wg"] + P["bg"] if fm.kind == "glu" else (Xs @ P["Wa"]) @ P["Wb"] + P["bg"]
        return L - np.logaddexp(0.0, -Zg)

    Lq = logphi(Q)
    Lq -= Lq.max(axis=1, keepdims=True)     # a constant per query row (cancels): keeps Lq + Lk accurate
    Lw = logsumexp(Lq[:, None, :] + logphi(K)[None, :, :], axis=2)
    W = np.exp(Lw - logsumexp(Lw, axis=1, keepdims=True))
    return W @ V


@pytest.mark.parametrize("kind", FFKINDS)
@pytest.mark.parametrize("shift, scale", [(0.0, 1.0), (1e8, 1.0), (-1e8, 1.0), (0.0, 300.0), (0.0, 1e100)])
def test_ff_attention_is_finite_and_exact_where_the_features_underflow(kind, shift, scale):
    """Far from the origin every softplus / sigmoid of a query underflows to 0 in the plain features
    (0/0 rows); the stabilised linear attention equals the log-domain reference and stays a convex
    combination of V's rows, at every scale; the fitted loss and its gradient stay finite."""
    Q, K, V = _qkv(n=16, p=4, seed=3)
    Q = Q * scale + shift
    fm = FFKernelFeatureMap(4, 6, kind=kind, k=2, rng=1)
    out = ff_attention(Q, K, V, fm)
    ref = _ref_ff_attention(Q, K, V, fm)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12 * np.abs(V).max())
    assert np.all(out <= V.max(axis=0) + 1e-12) and np.all(out >= V.min(axis=0) - 1e-12)
    loss, g = _Objective(fm, Q, K, V, "attention", 0.0)(fm.get_vector())
    assert np.isfinite(loss) and np.all(np.isfinite(g))


@pytest.mark.parametrize("kind", FFKINDS)
def test_attention_gradient_where_the_plain_features_underflow(kind):
    """Central differences agree with the analytic gradient of the attention target when most
    pre-activations are far below −745 (Q scaled by 300): the gradient through log φ."""
    Q, K, V = _qkv(n=16, p=4, seed=4)
    Q = 300 * Q
    fm = FFKernelFeatureMap(4, 6, kind=kind, k=2, rng=1)
    obj = _Objective(fm, Q, K, V, "attention", orth_penalty=0.0)
    rng = np.random.default_rng(5)
    th = fm.get_vector() + 0.01 * rng.normal(size=fm.get_vector().size)
    _, g = obj(th)
    h = 1e-7
    num = []
    for j in range(th.size):
        e = np.zeros_like(th)
        e[j] = h
        num.append((obj(th + e)[0] - obj(th - e)[0]) / (2 * h))
    np.testing.assert_allclose(num, g, rtol=1e-5, atol=1e-6 * np.abs(g).max())


@pytest.mark.parametrize("p_out", [4, 8, 12])
def test_orthogonal_init_and_penalty(p_out):
    fm = FFKernelFeatureMap(8, p_out, kind="glu", rng=0)
    W = fm.params["W"]
    Gm = W.T @ W if p_out <= 8 else W @ W.T
    np.testing.assert_allclose(Gm, np.eye(Gm.shape[0]), atol=1e-12)
    val, dW = fm.orth_penalty()
    assert val == pytest.approx(0, abs=1e-24) and np.abs(dW).max() < 1e-12
    fm.params["W"] = 2 * W
    assert fm.orth_penalty()[0] > 0


@given(arrays(np.float64, (6, 4), elements=st.floats(-50, 50)), st.sampled_from(FFKINDS))
def test_features_positive_and_attention_rows_are_convex_combinations(X, kind):
    """softplus > 0 and sigmoid > 0, so φ > 0 and each output row is a convex combination of V rows."""
    fm = FFKernelFeatureMap(4, 6, kind=kind, rng=0)
    assert np.all(fm.transform(X) > 0)
    V = np.random.default_rng(0).normal(size=(6, 2))
    out, fac = ff_attention(X, X, V, fm, return_factors=True)
    assert np.all(fac["denominator"] > 0)
    assert np.all(out <= V.max(axis=0) + 1e-9) and np.all(out >= V.min(axis=0) - 1e-9)


def test_fit_reduces_error_and_beats_performer_at_equal_feature_count():
    """Our offline experiment (not the paper's end-to-end training): fitting φ (GLU, p_out = 32) to one
    head's attention output lowers the training relative squared error from 0.78 at initialisation
    to 0.07 (measured), and on held-out queries (0.32) it stays below Performer's FAVOR+ with d = 32
    features (1.3-2.7 over 5 draws: Gaussian Q, K with ‖q‖ ≈ 4 make positive features
    high-variance). Deterministic seeds."""
    Q, K, V = _qkv(n=96, p=16, seed=3)
    res = fit_ffkernel(Q, K, V, p_out=32, kind="glu", orth_penalty=0.01, max_iter=60, rng=0)
    assert res.loss < 0.5 * res.initial_loss and res.loss < 0.2
    Qt = np.random.default_rng(9).normal(size=(96, 16))
    ex = ka.attention.exact(Qt, K, V)
    rel = lambda o: np.sum((o - ex) ** 2) / np.sum(ex ** 2)
    ff = rel(ff_attention(Qt, K, V, res.fm))
    perf = np.mean([rel(ka.attention.approximate(Qt, K, V, method="performer", d=32, rng=t)) for t in range(5)])
    assert ff < perf, (ff, perf)


def test_error_vs_features_curve():
    Q, K, V = _qkv(n=48, p=8, seed=5)
    r = error_vs_features(Q, K, V, [4, 16], max_iter=30, trials=2, rng=0)
    assert r["counts"].tolist() == [4, 16]
    for key in ("ffkernel", "ffkernel_train", "performer_positive", "performer_trig"):
        assert r[key].shape == (2,) and np.all(r[key] >= 0)
    assert r["ffkernel_train"][1] < r["ffkernel_train"][0]  # more features fit better (same data)


def test_kernel_target_fit_and_init_from_map():
    Q, K, _ = _qkv(n=48, p=8, seed=4)
    Q, K = 0.5 * Q, 0.5 * K
    res = fit_ffkernel(Q, K, p_out=16, target="kernel", max_iter=40, rng=0)
    assert res.loss < res.initial_loss
    again = fit_ffkernel(Q, K, p_out=16, target="kernel", max_iter=5, init=res.fm)
    assert again.initial_loss == pytest.approx(res.loss)


def test_per_head_maps(rng):
    fms = init_heads(3, 8, 10, kind="lowrank_glu", rng=0)
    Q, K, V = rng.normal(size=(3, 3, 20, 8))
    out = ff_attention(Q, K, V, fms)
    assert out.shape == (3, 20, 8)
    np.testing.assert_allclose(out[1], ff_attention(Q[1], K[1], V[1], fms[1]))
    assert not np.allclose(fms[0].params["W"], fms[1].params["W"])


def test_given_params_and_float32(rng):
    fm = FFKernelFeatureMap(4, 5, kind="lowrank_glu", k=2, rng=0)
    again = FFKernelFeatureMap(4, 5, kind="lowrank_glu", k=2, params=fm.params)
    X = rng.normal(size=(3, 4))
    np.testing.assert_array_equal(again.transform(X), fm.transform(X))
    assert fm.transform(X.astype(np.float32)).dtype == np.float32


def test_rank_is_a_deprecated_alias_of_k(rng):
    with pytest.warns(DeprecationWarning, match=r"^FFKernelFeatureMap: `rank` is deprecated, use `k`"):
        old = FFKernelFeatureMap(4, 5, kind="lowrank_glu", rank=2, rng=0)
    new = FFKernelFeatureMap(4, 5, kind="lowrank_glu", k=2, rng=0)
    assert old.k == new.k == old.rank == 2
    X = rng.normal(size=(3, 4))
    np.testing.assert_array_equal(old.transform(X), new.transform(X))
    with pytest.raises(TypeError, match="got both `k` and its deprecated alias `rank`"):
        FFKernelFeatureMap(4, 5, kind="lowrank_glu", k=3, rank=2)
    assert [f.k for f in init_heads(2, 8, 10, kind="lowrank_glu", k=3, rng=0)] == [3, 3]


def test_bad_input(rng):
    with pytest.raises(ValueError, match="`kind` must be one of"):
        FFKernelFeatureMap(4, 5, kind="relu")
    with pytest.raises(ValueError, match="`p_out` must be >= 1"):
        FFKernelFeatureMap(4, 0)
    with pytest.raises(ValueError, match="`params` must have exactly the keys"):
        FFKernelFeatureMap(4, 5, params={"W": np.eye(4, 5)})
    with pytest.raises(ValueError, match="shape"):
        FFKernelFeatureMap(4, 5, params={"W": np.eye(4), "b": np.zeros(5)})
    fm = FFKernelFeatureMap(4, 5, rng=0)
    with pytest.raises(ValueError, match="have p = 4 columns"):
        fm.transform(rng.normal(size=(3, 5)))
    Q = rng.normal(size=(10, 4))
    with pytest.raises(ValueError, match="`V` must be given"):
        fit_ffkernel(Q, Q, p_out=3)
    with pytest.raises(ValueError, match="`orth_penalty` must be >= 0"):
        fit_ffkernel(Q, Q, Q, p_out=3, orth_penalty=-1.0)
    with pytest.raises(TypeError, match="FFKernelFeatureMap"):
        ff_attention(Q, Q, Q, object())
    with pytest.raises(ValueError, match="one map per head"):
        ff_attention(rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 4)), [fm])
