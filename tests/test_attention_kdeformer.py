"""KDEformer (algorithms.md §13.6): exact regimes, the sampling distribution, draw/replay, dtypes,
options, budget, real heads. The bare formula ``METHODS[0].formula`` is called on 2-D arrays."""
import inspect

import numpy as np
import pytest

from kernapprox.attention import exact
from kernapprox.attention._kdeformer import METHODS
from kernapprox.bounds import skeinformer_column_probabilities

M = METHODS[0]
F = M.formula


def _qkv(n=96, m=None, p=8, pv=5, seed=0, scale=1.0):
    g = np.random.default_rng(seed)
    m = n if m is None else m
    return g.normal(size=(n, p)) * scale, g.normal(size=(m, p)) * scale, g.normal(size=(m, pv))


def _softmax_rows(Q, K):
    S = Q @ K.T / np.sqrt(Q.shape[1])
    S -= S.max(axis=1, keepdims=True)
    E = np.exp(S)
    return E / E.sum(axis=1, keepdims=True)


def test_record_declares_every_option_of_the_formula():
    assert M.name == "kdeformer"
    params = set(inspect.signature(F).parameters) - {"Q", "K", "V", "d", "rng", "return_factors"}
    assert params == set(M.options)
    assert M.item_option_dims({}) == {"hyperplanes": 2, "pilot_indices": 1, "sample_indices": 1}


@pytest.mark.parametrize("n,m", [(64, 64), (40, 70)])
def test_one_block_is_exact_attention(n, m):
    Q, K, V = _qkv(n, m)
    np.testing.assert_allclose(F(Q, K, V, d=8, rng=0, block_size=n), exact(Q, K, V), rtol=1e-12, atol=1e-12)


def test_every_row_a_pilot_row_is_exact():
    Q, K, V = _qkv(30)
    np.testing.assert_allclose(F(Q, K, V, d=4, rng=1, n_pilot=30), exact(Q, K, V), rtol=1e-12, atol=1e-12)


def test_pilot_rows_are_exact_and_probabilities_are_the_mixture():
    Q, K, V = _qkv(80)
    out, f = F(Q, K, V, d=16, rng=2, return_factors=True)
    J = f["pilot_indices"]
    np.testing.assert_allclose(out[J], exact(Q, K, V)[J], rtol=1e-12, atol=1e-12)
    PJ = _softmax_rows(Q[J], K)
    want = 0.9 * skeinformer_column_probabilities(PJ, V) + 0.1 / 80
    np.testing.assert_allclose(f["probabilities"], want, rtol=1e-10)
    assert abs(f["probabilities"].sum() - 1) < 1e-12 and f["probabilities"].min() >= 0.1 / 80 * (1 - 1e-12)


def test_invariant_to_translating_the_keys():
    Q, K, V = _qkv(80)
    np.testing.assert_allclose(F(Q, K, V, d=8, rng=5), F(Q, K - 2.0, V, d=8, rng=5), rtol=1e-10, atol=1e-10)


def test_rows_are_convex_combinations_of_v():
    Q, K, V = _qkv(120, scale=2.0)
    out = F(Q, K, V, d=8, rng=0)
    assert np.all(out <= V.max(axis=0) + 1e-12) and np.all(out >= V.min(axis=0) - 1e-12)


def test_draw_replay_equals_the_seeded_call():
    Q, K, V = _qkv(90)
    r = M.draw(Q, K, V, d=16, rng=11)
    assert set(r) == {"hyperplanes", "pilot_indices", "sample_indices"}
    assert r["pilot_indices"].shape == (4,) and r["sample_indices"].shape == (12,)
    assert np.array_equal(F(Q, K, V, d=16, rng=11), F(Q, K, V, d=16, **r))
    # pre-drawn pilot rows: the data-dependent samples are drawn from them
    r2 = M.draw(Q, K, V, d=16, rng=3, pilot_indices=r["pilot_indices"])
    assert np.array_equal(r2["pilot_indices"], r["pilot_indices"])
    assert np.array_equal(F(Q, K, V, d=16, rng=3, pilot_indices=r["pilot_indices"]), F(Q, K, V, d=16, **r2))


def test_float32_in_float32_out():
    Q, K, V = _qkv(100)
    a = F(Q, K, V, d=16, rng=0)
    b = F(*(x.astype(np.float32) for x in (Q, K, V)), d=16, rng=0)
    assert b.dtype == np.float32
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)


def test_n_evals_hand_count():
    Q, K, V = _qkv(64)
    _, f = F(Q, K, V, d=4, rng=0, return_factors=True, block_size=16, s=8, n_pilot=3, n_hyperplanes=3)
    assert f["n_evals"] == 64 * 16 + 64 * 8 + 3 * 64
    assert f["exact_fraction"] == (61 * 16 + 3 * 64) / 64 ** 2
    _, f = F(Q, K, V, d=4, rng=0, return_factors=True, block_size=16, s=0, n_pilot=1, n_hyperplanes=7)
    assert f["n_evals"] == 64 * 16 + 64 + 128 and f["sample_indices"] is None


@pytest.mark.parametrize("n,d", [(64, 1), (64, 4), (128, 16), (512, 16), (512, 64), (512, 256), (300, 100)])
def test_default_budget_within_B_and_exact_scores_capped(n, d):
    Q, K, V = _qkv(n)
    _, f = F(Q, K, V, d=d, rng=0, return_factors=True)
    assert f["n_evals"] <= 2 * n * d + d * d
    assert f["block_size"] <= min(2 * d, n / 2)


@pytest.mark.parametrize("kw,exc,msg", [
    (dict(block_size=0), ValueError, "block_size"),
    (dict(n_pilot=0), ValueError, "n_pilot"),
    (dict(n_pilot=41), ValueError, "n_pilot"),
    (dict(s=-1), ValueError, "`s`"),
    (dict(uniform_mix=1.5), ValueError, "uniform_mix"),
    (dict(uniform_mix="a"), TypeError, "uniform_mix"),
    (dict(pilot_indices=[1, 1]), ValueError, "distinct"),
    (dict(pilot_indices=[0, 40]), ValueError, "pilot_indices"),
    (dict(pilot_indices=[0, 1], n_pilot=3), ValueError, "pilot_indices"),
    (dict(sample_indices=[0, 40]), ValueError, "sample_indices"),
    (dict(hyperplanes=np.ones((2, 2))), ValueError, "hyperplanes"),
])
def test_bad_options_name_the_argument(kw, exc, msg):
    Q, K, V = _qkv(40)
    with pytest.raises(exc, match=msg):
        F(Q, K, V, d=8, rng=0, **kw)


def test_option_schema_refuses_bad_values():
    for name, bad in (("n_pilot", 0), ("uniform_mix", -0.1), ("pilot_indices", "x"), ("s", 1.5)):
        with pytest.raises((TypeError, ValueError)):
            M.options[name](bad, "kdeformer", name)


# the MiniLM hull test of the bare formula: tests/test_attention_hyperattention.py (both sortLSH methods)


def test_control_variate_is_exact_on_uniform_rows():
    Q, K, V = _qkv(60)
    Z = np.zeros_like(Q)
    np.testing.assert_allclose(F(Z, K, V, d=8, rng=3, control_variate=True), exact(Z, K, V), rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match="control_variate"):
        F(Q, K, V, d=8, rng=0, control_variate="yes")


def test_d_bound_is_the_number_of_keys():
    assert M.d_bound(100, 80, {})[0] == 80
    assert M.d_bytes(512, 512, 32, 32, 64, {}) < 64 * 1024 ** 2
