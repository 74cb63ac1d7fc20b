"""Sparse + low-rank attention (Scatterbrain, NeurIPS 2021; algorithms.md §13.4): exact regimes, the
pure low-rank regime equals Skyformer's softmax variant, key translation invariance, randomness
replay, batching, dtypes, option errors, budget accounting (§13.1)."""
import warnings

import numpy as np
import pytest

import kernapprox as ka
from kernapprox.attention import _clustered as CL
from kernapprox.attention import _sparse_lowrank as SL

slr = SL.METHODS[0].formula
draw = SL.METHODS[0].draw


def _qkv(n=64, m=None, p=8, pv=5, seed=0, scale=1.0):
    m = n if m is None else m
    g = np.random.default_rng(seed)
    return scale * g.normal(size=(n, p)), scale * g.normal(size=(m, p)), g.normal(size=(m, pv))


@pytest.mark.parametrize("lowrank", ("nystrom", "favor"))
def test_scatterbrain_exact_when_the_support_covers_every_key(lowrank):
    Q, K, V = _qkv(60, m=70)
    R = ka.attention.exact(Q, K, V)
    out = slr(Q, K, V, lowrank=lowrank, k=6, n_clusters=3, top_k=70, band=None, n_global=0, rng=0)
    np.testing.assert_allclose(out, R, atol=1e-11)
    out = slr(Q, K, V, lowrank=lowrank, k=6, n_clusters=3, top_k=2, band=200, n_global=1, rng=0)
    np.testing.assert_allclose(out, R, atol=1e-11)


def test_without_sparse_part_it_is_skyformers_softmax_variant_with_the_same_landmarks():
    Q, K, V = _qkv(100, p=8, scale=0.5, seed=2)
    out, f = slr(Q, K, V, lowrank="nystrom", k=20, top_k=0, band=None, n_global=0, rng=3, return_factors=True)
    assert f["n_clusters"] == 0 and f["exact_scores"] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sky = ka.attention.approximate(Q, K, V, method="skyformer", target="softmax", indices=f["indices"],
                                       core="signed_eig", center_keys=True, safeguard="none")
    np.testing.assert_allclose(out, sky, rtol=1e-8, atol=1e-10)


def test_clusters_low_rank_is_clustered_attention_with_the_first_order_rest():
    Q, K, V = _qkv(90, seed=4, scale=2.0)
    out, f = slr(Q, K, V, d=12, lowrank="clusters", rng=1, return_factors=True)
    ref, g = CL.clustered(Q, K, V, d=12, rng=1, rest="first_order", return_factors=True)
    np.testing.assert_array_equal(out, ref)
    assert f["n_evals"] == g["n_evals"] and f["lowrank"] == "clusters"
    with pytest.raises(ValueError, match="`k`"):
        slr(Q, K, V, d=12, lowrank="clusters", k=5)


def test_auto_picks_pure_nystrom_on_smooth_heads_and_clusters_on_peaky_ones():
    for scale, used in ((0.3, "nystrom"), (2.0, "clusters")):
        Q, K, V = _qkv(120, p=16, seed=2, scale=scale)
        assert SL.regime(Q, K) == used
        out, f = slr(Q, K, V, d=16, rng=3, return_factors=True)
        assert f["lowrank"] == used and f["n_evals"] <= CL.budget(120, 120, 16)
        r = draw(Q, K, V, d=16, rng=3)
        assert set(r) == {"seeds", "indices"}                      # both regimes' draws: equal keys per item
        np.testing.assert_array_equal(out, slr(Q, K, V, d=16, **r))


def test_smooth_regime_spends_the_whole_budget_on_the_low_rank():
    Q, K, V = _qkv(256, p=16, scale=0.3, seed=1)                # logit scale ≈ 0.3 · 0.3 · 16 / 4 < 1.5
    assert SL.logit_scale(Q, K) < SL.SMOOTH_SCALE
    out, f = slr(Q, K, V, d=24, rng=0, return_factors=True)
    assert f["rank"] == 24 and f["exact_scores"] == 0 and f["n_evals"] == (256 + 256) * 24 + 24 * 24
    Q, K, V = _qkv(256, p=16, scale=2.0, seed=1)
    out, f = slr(Q, K, V, d=24, rng=0, return_factors=True)
    assert f["rank"] < 24 and f["exact_scores"] > 0


def test_output_invariant_under_translating_every_key():
    Q, K, V = _qkv(80, seed=3, scale=1.5)
    b = np.random.default_rng(9).normal(size=8) * 3
    for lowrank in SL.LOWRANKS:
        if lowrank == "auto":
            continue
        a = slr(Q, K, V, d=12, lowrank=lowrank, rng=2)
        c = slr(Q, K + b, V, d=12, lowrank=lowrank, rng=2)
        np.testing.assert_allclose(a, c, atol=1e-9)


@pytest.mark.parametrize("lowrank,landmarks", [("nystrom", "kmeanspp"), ("nystrom", "rpcholesky"),
                                               ("nystrom", "uniform2n"), ("favor", "kmeanspp")])
def test_draw_then_replay_equals_rng_call(lowrank, landmarks):
    Q, K, V = _qkv(90, seed=1, scale=1.5)
    assert SL.regime(Q, K) == "clusters"
    r = draw(Q, K, V, d=12, rng=7, lowrank=lowrank, landmarks=landmarks)
    assert set(r) == ({"seeds", "indices"} if lowrank == "nystrom" else {"seeds", "omega"})
    a = slr(Q, K, V, d=12, rng=7, lowrank=lowrank, landmarks=landmarks)
    np.testing.assert_array_equal(a, slr(Q, K, V, d=12, lowrank=lowrank, landmarks=landmarks, **r))


def test_float32_in_float32_out_close_to_float64():
    Q, K, V = _qkv(80, seed=5, scale=1.5)
    o64 = slr(Q, K, V, d=16, rng=0)
    o32 = slr(*(a.astype(np.float32) for a in (Q, K, V)), d=16, rng=0)
    assert o32.dtype == np.float32 and o64.dtype == np.float64
    np.testing.assert_allclose(o32, o64, atol=1e-3)


def test_bad_options_raise_naming_the_argument():
    Q, K, V = _qkv(30)
    N = "nystrom"
    for kw, name, exc in ((dict(d=4, lowrank="performer"), "lowrank", ValueError),
                          (dict(d=4, landmarks="greedy"), "landmarks", ValueError),
                          (dict(d=4, k=0, lowrank=N), "k", ValueError),
                          (dict(d=4, k=61, lowrank=N), "k", ValueError),
                          (dict(d=4, top_k=3, n_clusters=0, lowrank=N), "n_clusters", ValueError),
                          (dict(d=4, band="x"), "band", ValueError),
                          (dict(d=4, indices=[0, 99], lowrank=N), "indices", ValueError),
                          (dict(d=4, lowrank="favor", omega=np.ones((4, 3))), "omega", ValueError),
                          (dict(k=3, lowrank=N), "d", ValueError)):
        with pytest.raises(exc, match=f"`{name}`"):
            slr(Q, K, V, rng=0, **kw)


def test_n_evals_hand_count():
    n = m = 40
    p = 8
    Q, K, V = _qkv(n, p=p, scale=1.5)
    out, f = slr(Q, K, V, lowrank="nystrom", k=4, n_clusters=3, top_k=5, band=None, n_global=0,
                 seeds=[0, 7, 21], indices=[1, 50, 60, 3], return_factors=True)
    exact = 5 * n
    low = (n + m) * 4 + 4 * 4
    assert f["exact_scores"] == exact
    assert f["n_evals"] == low + n * 3 + 3 * m + exact + int(np.ceil(exact * 4 / p))
    out, f = slr(Q, K, V, k=4, lowrank="favor", top_k=0, band=2, n_global=0, rng=0, return_factors=True)
    band = 5 * n - 6                                              # as in the clustered hand count
    assert f["exact_scores"] == band and f["n_evals"] == (n + m) * 4 + band + int(np.ceil(band * 4 / p))


@pytest.mark.parametrize("n,m,d,scale", [(512, 512, 16, 2.0), (512, 512, 64, 2.0), (512, 512, 256, 2.0),
                                         (300, 700, 32, 2.0), (1000, 1000, 8, 2.0), (512, 512, 64, 0.3)])
def test_default_options_stay_within_budget_and_exact_cap(n, m, d, scale):
    Q, K, V = _qkv(n, m=m, p=16, seed=n + d, scale=scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, f = slr(Q, K, V, d=d, rng=0, return_factors=True)
    assert f["n_evals"] <= CL.budget(n, m, d)
    assert f["exact_per_query"] <= CL.exact_cap(m, d)
    assert np.isfinite(out).all()


def test_batched_approximate_equals_per_item_calls_with_spawned_generators():
    g = np.random.default_rng(0)
    Q, K, V = 1.5 * g.normal(size=(3, 2, 2, 48, 8))
    out = ka.attention.approximate(Q, K, V, method="sparse_lowrank", d=8, rng=5, safeguard="none")
    gens = np.random.default_rng(5).spawn(4)
    for b, idx in enumerate(np.ndindex(2, 2)):
        np.testing.assert_array_equal(out[idx], slr(Q[idx], K[idx], V[idx], d=8, rng=gens[b]))
    r = ka.attention.draw_randomness(Q, K, V, method="sparse_lowrank", d=8, rng=5)
    np.testing.assert_array_equal(ka.attention.approximate(Q, K, V, method="sparse_lowrank", d=8,
                                                           safeguard="none", **r), out)


def test_minilm_heads_finite():
    P = pytest.importorskip("kernapprox.datasets.pretrained")
    if not P.models_available():
        pytest.skip("MiniLM model files not installed")
    Qa, Ka, Va = P.pretrained_qkv(256, layer=1, head=[0, 5], text="gpl-3", start=0)
    for Q, K, V in zip(Qa, Ka, Va):
        R = ka.attention.exact(Q, K, V)
        for dt in (np.float32, np.float64):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out, f = slr(*(a.astype(dt) for a in (Q, K, V)), d=32, rng=0, return_factors=True)
            assert out.dtype == dt and np.isfinite(out).all() and f["n_evals"] <= CL.budget(256, 256, 32)
            assert np.linalg.norm(out - R, 2) / np.linalg.norm(R, 2) < 1.0


def test_rank_is_the_deprecated_spelling_of_k():
    Q, K, V = np.random.default_rng(8).normal(size=(3, 40, 6))
    a = ka.attention.approximate(Q, K, V, method="sparse_lowrank", d=8, lowrank="nystrom", k=5, rng=0)
    with pytest.warns(DeprecationWarning, match="rank"):
        b = ka.attention.approximate(Q, K, V, method="sparse_lowrank", d=8, lowrank="nystrom", rank=5, rng=0)
    np.testing.assert_array_equal(a, b)
