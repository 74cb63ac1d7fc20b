"""Exact attention targets and the approximate/draw_randomness dispatcher (batching, substreams, options)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import expit, softmax

import kernapprox as ka
from kernapprox.attention import _common
from kernapprox.attention._informer import informer_max_d

att = ka.attention
OWN_METHODS = ("skyformer", "nystromformer", "skeinformer", "informer", "linformer", "vmean", "s3")


def _dense_ref(Q, K, V, kind, bias=0.0, mask=None):
    p = Q.shape[-1]
    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(p) + bias
    if kind == "softmax":
        if mask is not None:
            S = np.where(mask[..., None, :], -np.inf, S)
        return softmax(S, axis=-1) @ V
    if kind == "gaussian":
        d2 = ((Q[..., :, None, :] - K[..., None, :, :]) ** 2).sum(-1)
        C = np.exp(-d2 / (2 * np.sqrt(p)) + bias)
    else:
        C = expit(S)
    if mask is not None:
        C = np.where(mask[..., None, :], 0.0, C)
    return C @ V


@pytest.mark.parametrize("kind", ["softmax", "gaussian", "sigmoid"])
def test_exact_matches_dense_formula_batched_cross_attention(rng, kind):
    Q = rng.normal(size=(2, 3, 20, 8))
    K = rng.normal(size=(2, 3, 15, 8))
    V = rng.normal(size=(2, 3, 15, 5))
    bias = -np.log(15) if kind == "sigmoid" else 0.0
    out = att.exact(Q, K, V, kind=kind, bias=bias if kind == "sigmoid" else None)
    np.testing.assert_allclose(out, _dense_ref(Q, K, V, kind, bias), atol=1e-12)


def test_exact_gaussian_equals_normalised_softmax_scores(rng):
    """§2.1: C = D_Q^{-1/2} A D_K^{-1/2} with D_Q = exp(‖q‖²/√p)."""
    Q, K, V = rng.normal(size=(3, 12, 4))
    A = np.exp(Q @ K.T / 2)
    C = np.exp(-(Q ** 2).sum(1) / 4)[:, None] * A * np.exp(-(K ** 2).sum(1) / 4)[None, :]
    np.testing.assert_allclose(att.exact(Q, K, V, kind="gaussian"), C @ V, atol=1e-12)


def test_exact_key_padding_mask_and_bias_matrix(rng):
    Q, K, V = rng.normal(size=(3, 2, 10, 4))
    mask = np.zeros((2, 10), bool)
    mask[0, 7:] = True
    for kind in ("softmax", "gaussian", "sigmoid"):
        np.testing.assert_allclose(att.exact(Q, K, V, kind=kind, key_padding_mask=mask),
                                   _dense_ref(Q, K, V, kind, mask=mask), atol=1e-12)
    B = rng.normal(size=(10, 10))
    np.testing.assert_allclose(att.exact(Q, K, V, bias=B), _dense_ref(Q, K, V, "softmax", bias=B), atol=1e-12)


def test_exact_streams_in_tiles_and_is_stable_for_huge_logits(rng, monkeypatch):
    monkeypatch.setattr(_common, "SCORE_BUDGET", 64 * 8)      # force many small tiles
    Q, K, V = rng.normal(size=(3, 50, 4))
    np.testing.assert_allclose(att.exact(Q, K, V), _dense_ref(Q, K, V, "softmax"), atol=1e-12)
    out = att.exact(100 * Q, 100 * K, V)                      # logits ~ 1e4: row max subtracted
    assert np.isfinite(out).all()


def test_exact_float32_preserved(rng):
    Q, K, V = rng.normal(size=(3, 16, 4)).astype(np.float32)
    assert att.exact(Q, K, V).dtype == np.float32
    assert att.approximate(Q, K, V, method="skyformer", d=8, rng=0).dtype == np.float32


@pytest.mark.parametrize("method", OWN_METHODS)
def test_draw_randomness_makes_approximate_deterministic_batched(method):
    r = np.random.default_rng(3)
    Q, K, V = 0.5 * r.normal(size=(3, 2, 2, 40, 8))
    a = att.approximate(Q, K, V, method=method, d=8, rng=11)
    b = att.approximate(Q, K, V, method=method, d=8, rng=11)
    np.testing.assert_array_equal(a, b)
    draws = att.draw_randomness(Q, K, V, method=method, d=8, rng=11)
    np.testing.assert_array_equal(att.approximate(Q, K, V, method=method, d=8, **draws), a)
    for key, val in draws.items():
        assert val.shape[:2] == (2, 2), key


@pytest.mark.parametrize("method", ["skyformer", "skeinformer", "informer", "linformer", "s3"])
def test_batched_items_get_independent_reproducible_substreams(method):
    r = np.random.default_rng(4)
    Q1, K1, V1 = 0.5 * r.normal(size=(3, 40, 8))
    Q, K, V = (np.stack([a, a]) for a in (Q1, K1, V1))          # two identical heads
    out = att.approximate(Q, K, V, method=method, d=8, rng=5)
    assert not np.allclose(out[0], out[1])                       # different substreams
    child = np.random.default_rng(5).spawn(2)[1]
    fn = att.get_method(method)
    np.testing.assert_array_equal(out[1], fn(Q1, K1, V1, d=8, rng=child))
    # a 2-D call uses the generator itself
    np.testing.assert_array_equal(att.approximate(Q1, K1, V1, method=method, d=8, rng=5),
                                  fn(Q1, K1, V1, d=8, rng=5))


def test_shared_and_per_item_predrawn_options(rng):
    Q, K, V = 0.5 * rng.normal(size=(3, 3, 30, 4))
    idx = rng.integers(0, 60, size=10)
    out = att.approximate(Q, K, V, method="skyformer", indices=idx)       # shared by all heads
    for h in range(3):
        np.testing.assert_array_equal(out[h], att.skyformer(Q[h], K[h], V[h], indices=idx))
    per = rng.integers(0, 60, size=(3, 10))
    out = att.approximate(Q, K, V, method="skyformer", indices=per)
    np.testing.assert_array_equal(out[2], att.skyformer(Q[2], K[2], V[2], indices=per[2]))
    with pytest.raises(ValueError, match="indices"):
        att.approximate(Q, K, V, method="skyformer", indices=rng.integers(0, 60, size=(2, 10)))


def test_return_factors_batched_object_array(rng):
    Q, K, V = rng.normal(size=(3, 2, 20, 4))
    out, fac = att.approximate(Q, K, V, method="skyformer", d=6, rng=0, return_factors=True)
    assert out.shape == (2, 20, 4) and fac.shape == (2,)
    f = fac[1]
    Qh, Kh = Q[1] / 2 ** 0.5, K[1] / 2 ** 0.5
    np.testing.assert_allclose(out[1], f["CQ"] @ f["Winv"] @ (f["CK"].T @ V[1]), atol=1e-10)
    assert f["CQ"].shape == (20, 6)


@given(n=st.integers(1, 12), m=st.integers(1, 12), p=st.integers(1, 4), pv=st.integers(1, 3),
       batch=st.sampled_from([(), (2,), (1, 2)]))
def test_shapes_cross_attention_all_methods(n, m, p, pv, batch):
    r = np.random.default_rng(n * 100 + m)
    Q = r.normal(size=batch + (n, p))
    K = r.normal(size=batch + (m, p))
    V = r.normal(size=batch + (m, pv))
    for method in ("skyformer", "skeinformer", "informer", "linformer", "vmean", "s3", "nystromformer"):
        d = min(n, m) if method in ("nystromformer",) else min(m, 3)
        if method == "informer":                      # u = c⌈ln n⌉ active queries must not exceed n
            d = min(d, informer_max_d(n, m) or d)
        out = att.approximate(Q, K, V, method=method, d=d, rng=0)
        assert out.shape == batch + (n, pv)
        assert np.isfinite(out).all()


def test_registry_and_function_access():
    assert set(OWN_METHODS) <= set(att.methods())
    assert callable(att.skyformer) and att.skyformer is att.get_method("skyformer")
    for m in OWN_METHODS:
        fn = att.get_method(m)
        assert callable(fn.draw) and isinstance(fn.per_item_options, dict)


def test_bad_input(rng):
    Q, K, V = rng.normal(size=(3, 10, 4))
    with pytest.raises(ValueError, match="head dimension"):
        att.exact(Q, K[:, :3], V)
    with pytest.raises(ValueError, match="head dimension"):
        att.approximate(Q, K[:, :3], V, method="skyformer", d=4)
    with pytest.raises(ValueError, match="one row per key"):
        att.approximate(Q, K, V[:8], method="skyformer", d=4)
    with pytest.raises(ValueError, match="finite"):
        att.approximate(np.full_like(Q, np.nan), K, V, method="skyformer", d=4)
    with pytest.raises(ValueError, match="finite"):
        att.exact(Q, K, V * np.inf)
    with pytest.raises(ValueError, match="`d` must be >= 1"):
        att.approximate(Q, K, V, method="skyformer", d=0)
    with pytest.raises(ValueError, match="`d` must be given"):
        att.approximate(Q, K, V, method="skeinformer")
    with pytest.raises(ValueError, match="`method` must be one of"):
        att.approximate(Q, K, V, method="reformer", d=4)
    with pytest.raises(TypeError, match="`landmark` must be an option"):
        att.approximate(Q, K, V, method="skyformer", d=4, landmark="uniform2n")
    with pytest.raises(ValueError, match="`kind` must be one of"):
        att.exact(Q, K, V, kind="relu")
    with pytest.raises(ValueError, match="broadcastable leading"):
        att.exact(rng.normal(size=(2, 10, 4)), rng.normal(size=(3, 10, 4)), rng.normal(size=(3, 10, 4)))
    with pytest.raises(ValueError, match="at least one unpadded key"):
        att.exact(Q, K, V, key_padding_mask=np.ones(10, bool))
    with pytest.raises(TypeError, match="boolean"):
        att.exact(Q, K, V, key_padding_mask=np.ones(10))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        att.exact(Q[0], K, V)


@pytest.mark.parametrize("method", ["skyformer", "nystromformer", "skeinformer", "informer", "linformer",
                                    "vmean", "s3"])
def test_key_padding_mask_runs_each_item_on_its_real_keys(method, rng):
    Q, K, V = 0.5 * rng.normal(size=(3, 2, 24, 4))
    mask = np.zeros((2, 24), bool)
    mask[1, 18:] = True
    out = att.approximate(Q, K, V, method=method, d=6, rng=7, key_padding_mask=mask)
    child = np.random.default_rng(7).spawn(2)[1]
    ref = att.get_method(method)(Q[1], K[1, :18], V[1, :18], d=6, rng=child)
    np.testing.assert_array_equal(out[1], ref)
    # a large d exercises the exact regimes against the masked exact target
    if method in ("skeinformer", "s3"):
        full = att.approximate(Q, K, V, method=method, d=18, rng=0, key_padding_mask=mask)
        np.testing.assert_allclose(full[1], att.exact(Q, K, V, key_padding_mask=mask)[1], atol=1e-12)
    with pytest.raises(ValueError, match="at least one unpadded key"):
        att.approximate(Q, K, V, method=method, d=2, key_padding_mask=np.ones(24, bool))
