"""Tests of the random-feature attention methods: performer, rff, linear."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

import kernapprox as ka
from kernapprox.attention._performer import REFERENCE_EPS, default_features, draw_omega
from kernapprox.attention._random_features import elu_plus_one
from kernapprox.features import SoftmaxFeatures


def _qkv(n=64, p=8, scale=0.5, seed=0):
    return np.random.default_rng(seed).normal(size=(3, n, p)) * scale


@pytest.mark.parametrize("kind", ["positive", "hyperbolic", "trig"])
def test_stabiliser_cancels_exactly(kind):
    Q, K, V = _qkv(scale=1.5)
    om = draw_omega(8, 32, rng=0)
    a = ka.attention.performer(Q, K, V, omega=om, kind=kind, stabilize=True)
    b = ka.attention.performer(Q, K, V, omega=om, kind=kind, stabilize=False)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)
    if kind != "trig":  # the reference code's ε does not cancel
        c = ka.attention.performer(Q, K, V, omega=om, kind=kind, feature_eps=REFERENCE_EPS)
        assert not np.allclose(a, c, rtol=1e-9, atol=0)


@pytest.mark.parametrize("kind", ["positive", "hyperbolic", "trig"])
def test_performer_uses_the_softmax_feature_maps_of_random_features(kind):
    """Unstabilised Performer = linear attention with SoftmaxFeatures for Exponential(√p) on Q, K."""
    Q, K, V = _qkv()
    om = draw_omega(8, 24, orthogonal=False, rng=1)
    fm = SoftmaxFeatures(om, kind=kind, input_scale=8 ** -0.25, norm_coef=0.5)
    fq, fk = fm.transform(Q), fm.transform(K)
    ref = (fq @ (fk.T @ V)) / (fq @ fk.sum(axis=0))[:, None]
    out, fac = ka.attention.performer(Q, K, V, omega=om, kind=kind, stabilize=False, return_factors=True)
    np.testing.assert_allclose(out, ref, rtol=1e-10)
    np.testing.assert_allclose(fac["phi_q"], fq, rtol=1e-12)


def test_double_scaling_quirk_is_performer_on_rescaled_inputs():
    Q, K, V = _qkv()
    om = draw_omega(8, 16, rng=2)
    c = 8 ** -0.25
    np.testing.assert_allclose(ka.attention.performer(Q, K, V, omega=om, double_scaling=True),
                               ka.attention.performer(c * Q, c * K, V, omega=om), rtol=1e-12)


@given(arrays(np.float64, (2, 12, 4), elements=st.floats(-30, 30)), st.sampled_from(["positive", "hyperbolic"]),
       st.booleans())
def test_positive_features_never_give_nonpositive_denominators(QK, kind, orthogonal):
    """Performer Lemma 1: positive / hyperbolic features are > 0, so every denominator is > 0 — also
    for large ‖q‖, ‖k‖ thanks to the stabiliser (without it exp would overflow/underflow)."""
    Q, K = QK
    V = np.ones((12, 2))
    out, fac = ka.attention.performer(Q, K, V, d=8, kind=kind, orthogonal=orthogonal, rng=0, return_factors=True)
    assert np.all(fac["denominator"] > 0) and np.all(np.isfinite(out))
    np.testing.assert_allclose(out, 1.0, rtol=1e-9)  # V = 1 ⇒ rows of the normalised weights sum to 1


def test_trig_denominators_can_be_nonpositive():
    """The trig estimator is unbiased but not positive (Performer §2.3): with large norms some
    denominators are ≤ 0 for a small number of features."""
    Q, K, V = _qkv(n=128, p=8, scale=2.0, seed=3)
    dens = np.concatenate([ka.attention.performer(Q, K, V, d=4, kind="trig", rng=t, return_factors=True)[1]
                           ["denominator"] for t in range(5)])
    assert np.any(dens <= 0)


def test_performer_error_decreases_with_features():
    """Spectral loss vs exact softmax attention, averaged over 5 draws: d = 512 beats d = 16 by a
    factor > 2. Measured: 0.58 ± 0.10 (sd over draws) at d = 16, 0.16 ± 0.03 at d = 512 (ratio 3.7;
    √32 ≈ 5.7 for a pure 1/√d law). The 5-draw means have standard errors ≈ 8 %, so failing needs
    a > 40 % joint fluctuation (> 4 standard errors): probability < 1e-4."""
    Q, K, V = _qkv(n=128, p=16, scale=0.5, seed=4)
    ex = ka.attention.exact(Q, K, V)

    def err(d):
        return np.mean([np.linalg.norm(ka.attention.approximate(Q, K, V, method="performer", d=d, rng=t) - ex, 2)
                        for t in range(5)])

    assert err(512) < err(16) / 2


def test_rff_attention_is_unbiased_for_gaussian_target():
    """E[z(Q̂) z(K̂)ᵀ V] = C V: |mean − CV| <= 4σ/√T entrywise (T = 300 draws, 12 checked entries
    → failure probability ≤ 12 · 6.3e-5 ≈ 8e-4 under a normal approximation)."""
    Q, K, V = _qkv(n=6, p=4, scale=1.0, seed=5)
    target = ka.attention.exact(Q, K, V, kind="gaussian")
    T = 300
    outs = np.stack([ka.attention.rff(Q, K, V, d=16, rng=t) for t in range(T)])
    err = outs.mean(axis=0) - target
    sd = outs.std(axis=0, ddof=1)
    assert np.all(np.abs(err[:3]) <= 4 * sd[:3] / np.sqrt(T))


@pytest.mark.parametrize("opts", [{}, {"paired": True}, {"orthogonal": True}])
def test_rff_converges_and_predrawn_randomness(opts):
    Q, K, V = _qkv(n=64, p=8, scale=1.0, seed=6)
    target = ka.attention.exact(Q, K, V, kind="gaussian")
    out = ka.attention.approximate(Q, K, V, method="rff", d=4096, rng=0, **opts)
    assert np.linalg.norm(out - target) / np.linalg.norm(target) < 0.1
    r = ka.attention.draw_randomness(Q, K, V, method="rff", d=32, rng=1, **opts)
    assert ("phase" in r) != bool(opts.get("paired"))
    np.testing.assert_array_equal(ka.attention.approximate(Q, K, V, method="rff", d=32, rng=1, **opts),
                                  ka.attention.approximate(Q, K, V, method="rff", d=32, **opts, **r))


def test_performer_predrawn_randomness_batched_and_float32():
    Q, K, V = _qkv()
    r = ka.attention.draw_randomness(Q, K, V, method="performer", d=16, rng=3)
    assert r["omega"].shape == (16, 8)
    np.testing.assert_array_equal(ka.attention.approximate(Q, K, V, method="performer", d=16, rng=3),
                                  ka.attention.approximate(Q, K, V, method="performer", d=16, **r))
    assert ka.attention.performer(Q, K, V, rng=0, return_factors=True)[1]["omega"].shape == (default_features(8), 8)
    Qb = np.random.default_rng(0).normal(size=(2, 3, 20, 8)).astype(np.float32)
    out = ka.attention.approximate(Qb, Qb, Qb, method="performer", d=8, rng=0)
    assert out.shape == (2, 3, 20, 8) and out.dtype == np.float32


def test_linear_attention_elu_plus_one_formula():
    Q, K, V = _qkv(n=20, p=4, scale=1.0, seed=7)
    fq, fk = elu_plus_one(Q), elu_plus_one(K)
    np.testing.assert_allclose(fq[Q > 0], Q[Q > 0] + 1)
    np.testing.assert_allclose(fq[Q <= 0], np.exp(Q[Q <= 0]))
    A = fq @ fk.T
    ref = (A / A.sum(axis=1, keepdims=True)) @ V
    np.testing.assert_allclose(ka.attention.approximate(Q, K, V, method="linear"), ref, rtol=1e-12)
    assert ka.attention.draw_randomness(Q, K, V, method="linear") == {}


def test_bad_input():
    Q, K, V = _qkv()
    with pytest.raises(ValueError, match="performer: `kind` must be one of"):
        ka.attention.performer(Q, K, V, kind="relu")
    with pytest.raises(ValueError, match=r"`omega` must have shape \(d, p = 8\)"):
        ka.attention.performer(Q, K, V, omega=np.ones((4, 7)))
    with pytest.raises(ValueError, match="`d` must equal"):
        ka.attention.performer(Q, K, V, d=5, omega=np.ones((4, 8)))
    with pytest.raises(ValueError, match="`feature_eps` must be"):
        ka.attention.performer(Q, K, V, d=4, feature_eps=-1.0)
    with pytest.raises(ValueError, match="`scaling` must be one of"):
        ka.attention.performer(Q, K, V, d=4, scaling=2)
    with pytest.raises(ValueError, match="rff: `d` must be given"):
        ka.attention.rff(Q, K, V)
    with pytest.raises(ValueError, match="`phase` must be None with paired=True"):
        ka.attention.rff(Q, K, V, d=4, paired=True, phase=np.zeros(4))
    with pytest.raises(ValueError, match="`phase` must have one entry per row"):
        ka.attention.rff(Q, K, V, omega=np.ones((4, 8)), phase=np.zeros(3))
    with pytest.raises(ValueError, match="`d` must be >= 1"):
        ka.attention.approximate(Q, K, V, method="rff", d=0)
    with pytest.raises(ValueError, match="head dimension"):
        ka.attention.performer(Q, K[:, :4], V, d=4)


@pytest.mark.parametrize("method", ["performer", "rff"])
def test_batched_predrawn_randomness_per_head(method):
    r = np.random.default_rng(1)
    Q, K, V = r.normal(size=(3, 2, 3, 16, 4)) * 0.5
    draws = ka.attention.draw_randomness(Q, K, V, method=method, d=8, rng=5)
    assert draws["omega"].shape == (2, 3, 8, 4)
    a = ka.attention.approximate(Q, K, V, method=method, d=8, rng=5)
    b = ka.attention.approximate(Q, K, V, method=method, d=8, **draws)
    np.testing.assert_array_equal(a, b)
    shared = ka.attention.approximate(Q, K, V, method=method, d=8, **{k: v[0, 0] for k, v in draws.items()})
    np.testing.assert_array_equal(shared[0, 0], a[0, 0])


def test_performer_stabilizer_options_are_validated_and_resolved():
    Q, K, V = _qkv(n=32)
    om = draw_omega(8, 16, rng=0)
    _, f = ka.attention.performer(Q, K, V, omega=om, return_factors=True)
    assert (f["stabilizer"], f["feature_eps"]) == ("exact", 0.0)
    _, f = ka.attention.performer(Q, K, V, omega=om, stabilize=False, return_factors=True)
    assert f["stabilizer"] == "none"
    for s, eps in (("skyformer", REFERENCE_EPS), ("performer_pytorch", REFERENCE_EPS), ("google_research", 1e-6)):
        _, f = ka.attention.performer(Q, K, V, omega=om, stabilizer=s, return_factors=True)
        assert f["feature_eps"] == eps
    with pytest.raises(ValueError, match="`stabilizer` must be one of"):
        ka.attention.performer(Q, K, V, omega=om, stabilizer="max")
    with pytest.raises(ValueError, match="`stabilizer` must be None or 'none' with stabilize=False"):
        ka.attention.performer(Q, K, V, omega=om, stabilize=False, stabilizer="exact")
    with pytest.raises(ValueError, match="`stabilizer` must be 'exact' or 'none' for kind='trig'"):
        ka.attention.performer(Q, K, V, omega=om, kind="trig", stabilizer="skyformer")
    with pytest.raises(ValueError, match="`key_max` must be None unless stabilizer='skyformer'"):
        ka.attention.performer(Q, K, V, omega=om, key_max=1.0)
    with pytest.raises(ValueError, match="`key_max` must be a finite number"):
        ka.attention.performer(Q, K, V, omega=om, stabilizer="skyformer", key_max=np.nan)
    with pytest.raises(ValueError, match=r"`feature_eps` must be a finite number in \[0, inf\)"):
        ka.attention.performer(Q, K, V, omega=om, feature_eps=np.inf)
    # an overflowing ‖x̂‖² is refused naming the argument it comes from
    for kind in ("positive", "hyperbolic", "trig"):
        for stab in (None, "none"):
            with pytest.raises(ValueError, match="`K` must have squared row norms .* representable"):
                ka.attention.performer(Q, K * 1e160, V, omega=om, kind=kind, stabilizer=stab)
            with pytest.raises(ValueError, match="`Q` must have squared row norms .* representable"):
                ka.attention.performer(Q * 1e160, K, V, omega=om, kind=kind, stabilizer=stab)
    with pytest.raises(ValueError, match="`Q` must have squared row norms .* representable"):
        ka.attention.performer(Q * 1e160, K, V, omega=om, stabilizer="skyformer")


def test_performer_skyformer_key_max_is_the_batch_maximum():
    """Batched ``stabilizer="skyformer"``: one key maximum over every item (the code's
    ``torch.max(data_dash)``); per item it equals the single-head call with that ``key_max``."""
    r = np.random.default_rng(2)
    Q, K, V = r.normal(size=(3, 2, 3, 24, 8))
    om = draw_omega(8, 16, rng=1)
    out = ka.attention.approximate(Q, K, V, method="performer", omega=om, stabilizer="skyformer")
    M = max(float(((K[b] * 8 ** -0.25) @ om.T).max()) for b in np.ndindex(2, 3))
    np.testing.assert_allclose(out[1, 2], ka.attention.performer(Q[1, 2], K[1, 2], V[1, 2], omega=om,
                                                                 stabilizer="skyformer", key_max=M), rtol=1e-13)
    per_head = ka.attention.performer(Q[1, 2], K[1, 2], V[1, 2], omega=om, stabilizer="skyformer")
    assert not np.allclose(out[1, 2], per_head, rtol=1e-9, atol=0)


@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_rff_refuses_phases_cos_cannot_resolve(dt):
    """cos(a) is evaluated with an absolute error ~ a·eps: phases above 2^-10/eps(dtype) would make the
    features rounding noise, so they are refused naming the argument; just below, the output is finite."""
    from kernapprox.attention._random_features import PHASE_DIGITS
    Q, K, V = np.random.default_rng(0).normal(size=(3, 16, 4)).astype(dt)
    limit = PHASE_DIGITS / np.finfo(dt).eps
    with pytest.raises(ValueError, match="`Q` must have phases"):
        ka.attention.approximate(Q * dt(1e3 * limit), K, V, method="rff", d=6, rng=0)
    with pytest.raises(ValueError, match="`K` must have phases"):
        ka.attention.approximate(Q, K * dt(1e3 * limit), V, method="rff", d=6, rng=0)
    out = ka.attention.approximate(Q * dt(1e-3 * limit), K, V, method="rff", d=6, rng=0)
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("opts", [{}, {"paired": True}])
def test_rff_streamed_output_equals_the_feature_matrix_formula(opts):
    g = np.random.default_rng(11)
    Q, K, V = 0.5 * g.normal(size=(3, 5000, 8))
    a = ka.attention.approximate(Q, K, V, method="rff", d=512, rng=0, **opts)      # row tiles of 2048 or 1024
    b, f = ka.attention.approximate(Q, K, V, method="rff", d=512, rng=0, return_factors=True, **opts)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a, f["z_q"] @ (f["z_k"].T @ V), rtol=1e-12, atol=1e-14)
