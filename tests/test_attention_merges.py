"""One implementation per formula: each former pair of call sites gives equal results (or the documented
difference): attention composes the core modules."""
import warnings

import numpy as np
import pytest

import kernapprox as ka
from kernapprox import bounds, features, nystrom_general, sampling
from kernapprox._random import rademacher
from kernapprox.attention import _common, _exact

att = ka.attention


def _qkv(n=48, m=40, p=8, seed=0):
    r = np.random.default_rng(seed)
    return 0.5 * r.normal(size=(n, p)), 0.5 * r.normal(size=(m, p)), r.normal(size=(m, p))


def test_performer_features_are_softmaxfeatures():
    """FAVOR+ (stabilizer "none": the paper's formula as is) equals features.SoftmaxFeatures on Q/p^¼, K/p^¼,
    bit for bit. Public defaults kept: performer ``orthogonal=True``, SoftmaxFeatures ``orthogonal=False``."""
    Q, K, V = _qkv()
    for kind in ("positive", "hyperbolic", "trig"):
        _, f = att.performer(Q, K, V, d=16, rng=0, kind=kind, stabilizer="none", return_factors=True)
        fm = features.SoftmaxFeatures(f["omega"], kind=kind)
        c = 8 ** -0.25
        np.testing.assert_array_equal(f["phi_q"], fm.transform(Q * c))
        np.testing.assert_array_equal(f["phi_k"], fm.transform(K * c))


def test_rff_features_are_fourierfeatures():
    """RFF attention's features are features.FourierFeatures (its jitted cosine); against numpy's cosine
    (the formula written out) they agree to a few ulp."""
    Q, K, V = _qkv()
    c = 8 ** -0.25
    for paired in (False, True):
        _, f = att.rff(Q, K, V, d=32, rng=0, paired=paired, return_factors=True)
        fm = features.FourierFeatures(f["omega"], f["phase"])
        np.testing.assert_array_equal(f["z_q"], fm.transform(Q * c))
        P = (Q * c) @ f["omega"].T
        ref = np.concatenate([np.cos(P), np.sin(P)], axis=1) / np.sqrt(32) if paired else \
            np.sqrt(2 / 32) * np.cos(P + f["phase"])
        np.testing.assert_allclose(f["z_q"], ref, rtol=0, atol=8 * np.finfo(np.float64).eps)


def test_augmented_core_is_shared_by_augmented_nystrom_and_skyformer():
    """Skyformer's factors and augmented_nystrom's factors come from the one augmented_core: equal blocks."""
    Q, K, V = _qkv()
    c = 8 ** -0.25
    _, f = att.skyformer(Q, K, V, d=12, rng=0, return_factors=True)
    blocks = nystrom_general.augmented_core(ka.Gaussian(1.0), Q * c, K * c, f["indices"][None, :])
    np.testing.assert_array_equal(f["CQ"], blocks.CQ)
    np.testing.assert_array_equal(f["CK"], blocks.CK)
    np.testing.assert_array_equal(f["W"], blocks.W)
    assert f["n_evals"] == blocks.n_evals
    B = ka.augmented_nystrom(ka.Gaussian(1.0), Q * c, K * c, indices=f["indices"], core="pinv")
    np.testing.assert_array_equal(B.R, blocks.CK)
    np.testing.assert_allclose(B.L, blocks.CQ @ f["Winv"], rtol=1e-12)


def test_batch_prepare_scale_uses_the_augmented_core():
    """The code preset's batch-global Newton–Schulz scale equals the largest per-head scale computed from
    augmented_core's W (Lemma-3 normalised), and approximate with it equals the single heads with it."""
    r = np.random.default_rng(2)
    Q, K, V = 0.5 * r.normal(size=(3, 2, 32, 8))
    fn = att.get_method("skyformer")
    draws = att.draw_randomness(Q, K, V, method="skyformer", d=8, rng=1, preset="code")
    scale = fn.batch_prepare(Q, K, V, d=8, preset="code", **draws)["ns_scale"]
    from kernapprox._cores import lemma3_normalise
    c = 8 ** -0.25
    ref = max(float(np.abs(lemma3_normalise(nystrom_general.augmented_core(
        ka.Gaussian(1.0), Q[b] * c, K[b] * c, draws["indices"][b][None, :]).W, 0.1)[0]).sum(axis=0).max())
        for b in range(2))
    assert scale == ref
    out = att.approximate(Q, K, V, method="skyformer", d=8, rng=1, preset="code")
    np.testing.assert_array_equal(out[1], fn(Q[1], K[1], V[1], d=8, preset="code", indices=draws["indices"][1],
                                             ns_scale=scale))


@pytest.mark.parametrize("padding", ["zeros", "uneven", "lucidrains", "lucidrains_masked", "t2t_vit"])
def test_nystromformer_landmarks_are_sampling_segment_means(padding):
    Q, K, V = _qkv(n=45, m=45)
    _, f = att.nystromformer(Q, K, V, d=8, padding=padding, return_factors=True)
    np.testing.assert_array_equal(f["Q_landmarks"], sampling.segment_means(Q * 8 ** -0.25, 8, padding=padding))


def test_segment_means_default_layout_and_batches():
    """The default "floor" layout is unchanged; the padded layouts work on batches like single sequences."""
    X = np.random.default_rng(0).normal(size=(2, 3, 45, 4))
    for padding in ("floor", "zeros", "uneven", "lucidrains_masked", "t2t_vit"):
        S = sampling.segment_means(X, 8, padding=padding)
        np.testing.assert_allclose(S[1, 2], sampling.segment_means(X[1, 2], 8, padding=padding), rtol=1e-15)
    with pytest.raises(ValueError, match="`padding` must be one of"):
        sampling.segment_means(X[0, 0], 8, padding="front")


def test_skeinformer_column_probabilities_are_the_amm_probabilities():
    """Skeinformer samples with bounds.skeinformer_column_probabilities (Eq. 5) on its pilot rows; the
    zero case (BV = 0, e.g. V = 0) is the uniform distribution."""
    Q, K, V = _qkv()
    _, f = att.skeinformer(Q, K, V, d=8, rng=0, return_factors=True)
    S = Q[f["pilot_indices"]] @ K.T / np.sqrt(8)
    B = np.exp(S - S.max(axis=1, keepdims=True))
    B /= B.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(f["probabilities"], bounds.skeinformer_column_probabilities(B, V), rtol=1e-12)
    np.testing.assert_array_equal(bounds.skeinformer_column_probabilities(B, 0 * V), np.full(40, 1 / 40))
    out = att.skeinformer(Q, K, 0 * V, d=8, rng=0)
    assert np.all(out == 0)


def test_one_softmax_loop_for_the_exact_target_and_the_streamed_softmax():
    """exact(kind="softmax") is softmax_tiled with float64 row sums and the score budget; Informer's exact
    rows and Linformer's unreduced sketch go through the same loop."""
    Q, K, V = _qkv()
    ref = _exact.exact_2d(Q, K, V, "softmax")
    np.testing.assert_array_equal(ref, _common.softmax_tiled(Q, K, V, scale=np.float64(1 / np.sqrt(8)),
                                                             step=_common.score_rows(40), den_dtype=np.float64))
    np.testing.assert_allclose(att.exact(Q, K, V), _common.softmax_tiled(Q, K, V), rtol=1e-14)
    out, f = att.informer(Q, K, V, d=8, rng=0, return_factors=True)
    np.testing.assert_allclose(out[f["active"]], ref[f["active"]], rtol=1e-13)


def test_rademacher_stream_is_the_former_sign_draws():
    """sketch_signs / the oracle probes / SORF and TensorSketch signs draw through _random.rademacher: the
    same stream as gen.choice([-1, 1]) at the former sites, so seeded outputs are unchanged."""
    g1, g2 = np.random.default_rng(7), np.random.default_rng(7)
    np.testing.assert_array_equal(nystrom_general.sketch_signs("rademacher", (3, 5), g1, "f"),
                                  g2.choice(np.array([-1.0, 1.0]), size=(3, 5)))
    np.testing.assert_array_equal(rademacher(np.random.default_rng(1), (4, 4)),
                                  np.random.default_rng(1).choice(np.array([-1.0, 1.0]), size=(4, 4)))
    fm = features.random_features("gaussian", 3, 8, kind="sorf", rng=3)
    np.testing.assert_array_equal(fm.signs, np.random.default_rng(3).choice(np.array([-1.0, 1.0]),
                                                                              size=fm.signs.shape))


def test_tiles_come_from_the_package_budget():
    from kernapprox import _tiling
    assert _common.SCORE_BUDGET == 2 * _tiling.TILE_BYTES
    assert _common.FACTOR_BUDGET * 4 == _tiling.TILE_BYTES == _common.KERNEL_BUDGET
    assert _common.score_rows(1024) == 2048 and _common.factor_rows(256, 8) == 1024


def test_deprecated_aliases_mean_the_same():
    Q, K, V = _qkv()
    with pytest.warns(DeprecationWarning, match="`gamma` is deprecated, use `lam`"):
        a = att.approximate(Q, K, V, method="skyformer", d=8, rng=0, core="ridge", gamma=0.3)
    np.testing.assert_array_equal(a, att.approximate(Q, K, V, method="skyformer", d=8, rng=0, core="ridge", lam=0.3))
    with pytest.warns(DeprecationWarning, match="`n_features` is deprecated, use `n_channels`"):
        b = att.s3(Q[:40], K, V, d=8, rng=0, part="both", n_features=4)
    np.testing.assert_array_equal(b, att.s3(Q[:40], K, V, d=8, rng=0, part="both", n_channels=4))
    with pytest.warns(DeprecationWarning, match="`gamma` is deprecated"):
        B = ka.augmented_nystrom(ka.Gaussian(1.0), Q, K, 8, core="ridge", gamma=0.3, rng=0)
    np.testing.assert_array_equal(B.L, ka.augmented_nystrom(ka.Gaussian(1.0), Q, K, 8, core="ridge", lam=0.3,
                                                            rng=0).L)
    with pytest.raises(TypeError, match="got both `lam` and its deprecated alias `gamma`"):
        att.approximate(Q, K, V, method="nystromformer", d=8, gamma=0.1, lam=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        att.approximate(Q, K, V, method="skyformer", d=8, rng=0, lam=0.3, core="ridge")
