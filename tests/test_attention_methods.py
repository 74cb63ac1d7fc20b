"""Attention approximators: exact regimes, invariants, paper-vs-code options, bad input
(Skyformer §2, Skeinformer §3, Nyströmformer §9.1, Linformer §9.4, V-Mean §9.5, Informer §9.6, S3 §5.3)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kernapprox as ka
from kernapprox._cores import core_inverse

att = ka.attention


def _qkv(seed=0, n=48, m=None, p=8, pv=None, s=0.6):
    r = np.random.default_rng(seed)
    m = n if m is None else m
    pv = p if pv is None else pv
    return s * r.normal(size=(n, p)), s * r.normal(size=(m, p)), r.normal(size=(m, pv))


def _rel(a, b):
    return np.linalg.norm(a - b, 2) / np.linalg.norm(b, 2)


# -- exact regimes -------------------------------------------------------------------------------------
def test_skyformer_gaussian_all_2n_landmarks_exact_pinv_reproduces_CV():
    Q, K, V = _qkv(n=40, m=30)
    out = att.skyformer(Q, K, V, indices=np.arange(70), core="pinv")
    assert _rel(out, att.exact(Q, K, V, kind="gaussian")) < 1e-7


def test_skyformer_softmax_fig1_variant_all_landmarks_reproduces_softmax():
    Q, K, V = _qkv(n=40, m=30)
    out, f = att.skyformer(Q, K, V, indices=np.arange(70), target="softmax", return_factors=True)
    assert f["core"] == "signed_eig" and f["den_clipped"] == 0
    assert _rel(out, att.exact(Q, K, V)) < 1e-7


def test_nystromformer_m_equals_n_reproduces_softmax_attention():
    Q, K, V = _qkv(n=32)
    np.testing.assert_allclose(att.nystromformer(Q, K, V, d=32, core="pinv"), att.exact(Q, K, V), atol=1e-9)
    # the Razavi iteration run to convergence also reproduces it; the default 6 steps do not
    conv = att.nystromformer(Q, K, V, d=32, n_iter=40)
    assert _rel(conv, att.exact(Q, K, V)) < 1e-8


def test_skeinformer_d_equals_n_returns_exact_softmax_attention():
    Q, K, V = _qkv(n=40)
    ex = att.exact(Q, K, V)
    for reuse in (True, False):
        np.testing.assert_allclose(att.skeinformer(Q, K, V, d=40, rng=1, pilot_reuse=reuse), ex, atol=1e-12)
    np.testing.assert_allclose(att.skeinformer(Q, K, V, d=40, rng=1, row_normalization="exact"), ex, atol=1e-12)
    np.testing.assert_allclose(att.skeinformer(Q, K, V, d=40, rng=1, column_sampling="uniform"), ex, atol=1e-12)


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 30), s=st.floats(0.0, 3.0))
def test_vmean_is_the_d_to_0_limit_of_skeinformer(seed, n, s):
    """§3.4: with one sampled column the adaptive row normaliser fills every other entry with that same
    score, so the output is exactly (1/n) 1 1ᵀ V (d → 0 limit = V-Mean)."""
    Q, K, V = _qkv(seed, n=n, s=s)
    out = att.skeinformer(Q, K, V, d=1, rng=seed, pilot_reuse=False)
    np.testing.assert_allclose(out, att.vmean(Q, K, V), atol=1e-10)
    np.testing.assert_allclose(att.vmean(Q, K, V), np.tile(V.mean(0), (n, 1)))


def test_informer_all_queries_active_is_exact_and_inactive_rows_are_vmean():
    Q, K, V = _qkv(n=40)
    np.testing.assert_allclose(att.informer(Q, K, V, n_top=40, rng=0), att.exact(Q, K, V), atol=1e-12)
    out, f = att.informer(Q, K, V, d=8, rng=0, return_factors=True)
    act = f["active"]
    rest = np.setdiff1d(np.arange(40), act)
    np.testing.assert_allclose(out[act], att.exact(Q, K, V)[act], atol=1e-12)
    np.testing.assert_allclose(out[rest], np.tile(V.mean(0), (rest.size, 1)), atol=1e-12)


def test_informer_exact_measure_and_code_sizes():
    Q, K, V = _qkv(n=64)
    out, f = att.informer(Q, K, V, d=8, measure="exact", return_factors=True)
    S = Q @ K.T / np.sqrt(8)
    M = S.max(1) - S.mean(1)
    u = f["active"].size
    assert set(f["active"]) == set(np.argsort(-M)[:u])
    u, U = ka.attention._informer.informer_sizes(1024, 1024, 256)
    assert 256 <= u <= 256 + 7 and u == U            # c = ⌈d/ln n⌉: u ≈ d (§9.6)


def test_linformer_identity_projection_and_unreduced_jlt():
    Q, K, V = _qkv(n=30)
    ex = att.exact(Q, K, V)
    for variant in ("linformer", "unreduced_jlt"):
        np.testing.assert_allclose(att.linformer(Q, K, V, projection=np.eye(30), variant=variant), ex, atol=1e-12)
    E = np.random.default_rng(0).normal(size=(7, 30)) / np.sqrt(7)
    S = np.exp(Q @ K.T / np.sqrt(8))
    ref = (S @ E.T @ (E @ V)) / S.sum(1, keepdims=True)                     # D⁻¹ A S Sᵀ V, S = Eᵀ
    # the bare formulas (safeguard="none": a JL sketch leaves the hull of V's rows by design)
    np.testing.assert_allclose(att.linformer(Q, K, V, projection=E, variant="unreduced_jlt", safeguard="none"), ref,
                               atol=1e-10)
    EK, EV = E @ K, E @ V
    T = np.exp(Q @ EK.T / np.sqrt(8))
    np.testing.assert_allclose(att.linformer(Q, K, V, projection=E, safeguard="none"),
                               (T / T.sum(1, keepdims=True)) @ EV, atol=1e-10)


def test_s3_column_all_rows_exact_row_part_formula():
    Q, K, V = _qkv(n=30)
    np.testing.assert_allclose(att.s3(Q, K, V, d=30, rng=0), att.exact(Q, K, V), atol=1e-12)
    P = np.array([1, 4, 6])
    S = K[:, P].T @ Q / np.sqrt(30)
    S = np.exp(S - S.max(1, keepdims=True))
    S /= S.sum(1, keepdims=True)
    np.testing.assert_allclose(att.s3(Q, K, V, part="row", feature_indices=P), V[:, P] @ S, atol=1e-12)
    both = att.s3(Q, K, V, d=5, part="both", rng=0)
    assert both.shape == (30, 8)
    np.testing.assert_allclose(both.mean(1), 0, atol=1e-10)      # sum of two per-row standardised parts


# -- invariants ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("method,opts", [
    ("skyformer", {"target": "softmax"}), ("skeinformer", {}), ("skeinformer", {"row_normalization": "simple"}),
    ("skeinformer", {"column_sampling": "uniform", "pilot_reuse": False}), ("informer", {}),
    ("s3", {}), ("vmean", {}), ("nystromformer", {"core": "pinv"})])
def test_row_normalised_methods_preserve_constant_values(method, opts):
    """Rows of a normalised attention sum to one: a constant V is returned unchanged (not Linformer: its
    projected values E V mix rows with Gaussian weights, §3.1)."""
    Q, K, _ = _qkv(n=40)
    V = np.full((40, 3), 2.5)
    out = att.approximate(Q, K, V, method=method, d=10, rng=0, **opts)
    np.testing.assert_allclose(out, 2.5, rtol=1e-8)


def test_skeinformer_pilot_rows_are_exact_rows():
    Q, K, V = _qkv(n=50)
    out, f = att.skeinformer(Q, K, V, d=6, rng=0, return_factors=True)
    J = f["pilot_indices"]
    np.testing.assert_allclose(out[J], att.exact(Q, K, V)[J], atol=1e-12)
    p = f["probabilities"]
    assert p.shape == (50,) and np.isclose(p.sum(), 1) and np.all(p >= 0)
    assert np.unique(f["column_indices"]).size == 6


def test_skeinformer_computes_pilot_rows_once_and_factors_match_a_fresh_computation(monkeypatch):
    Q, K, V = _qkv(n=50)
    from kernapprox.attention import _skeinformer as sk
    calls = []
    real = sk._pilot_rows
    monkeypatch.setattr(sk, "_pilot_rows", lambda *a: calls.append(1) or real(*a))
    out, f = att.skeinformer(Q, K, V, d=6, rng=0, return_factors=True)
    assert len(calls) == 1                                           # the draw's B_J is reused
    np.testing.assert_array_equal(f["probabilities"],
                                  sk.column_probabilities(real(Q, K, f["pilot_indices"]), V))
    r = att.draw_randomness(Q, K, V, method="skeinformer", d=6, rng=0)
    assert sorted(r) == ["column_indices", "pilot_indices"]
    np.testing.assert_array_equal(att.skeinformer(Q, K, V, d=6, **r), out)


@pytest.mark.parametrize("method, name, shape", [("linformer", "projection", (5, 48)),
                                                 ("performer", "omega", (5, 8)), ("rff", "omega", (5, 8))])
def test_explicit_d_must_match_predrawn_randomness(method, name, shape):
    Q, K, V = _qkv()
    given = np.random.default_rng(0).normal(size=shape) / 3
    att.get_method(method)(Q, K, V, d=5, **{name: given})
    with pytest.raises(ValueError, match=rf"`d` must equal the number of rows of `{name}` \(5\)"):
        att.get_method(method)(Q, K, V, d=6, **{name: given})


def test_skeinformer_column_probabilities_eq5():
    Q, K, V = _qkv(n=20)
    J = np.array([0, 3, 3, 7])
    B = np.exp(Q @ K.T / np.sqrt(8))
    B /= B.sum(1, keepdims=True)
    r = np.sqrt((B[J] ** 2).sum(0)) * np.linalg.norm(V, axis=1)
    np.testing.assert_allclose(ka.attention._skeinformer.column_probabilities(B[J], V), r / r.sum())


def test_skeinformer_prop1_weighted_estimator_is_unbiased_given_the_pilot():
    """Prop. 1 / Def. 3.1: with i.i.d. columns from p̂ and weights 1/(d p̂_i), E[B S Sᵀ V | pilot] = B V.
    The mean of T = 400 estimates has E‖mean − BV‖²_F = σ²/T; by Markov's inequality the bound
    100·σ̂²/T fails with probability ≈ 1% (σ̂² estimated from the same draws)."""
    Q, K, V = _qkv(n=60, s=0.8)
    ex = att.exact(Q, K, V)
    J = np.arange(0, 60, 6)
    gen = np.random.default_rng(7)
    est = np.stack([att.skeinformer(Q, K, V, d=10, rng=gen, pilot_indices=J, importance_weights=True,
                                    row_normalization="exact", pilot_reuse=False) for _ in range(400)])
    sq = ((est - ex) ** 2).sum(axis=(1, 2))
    err = ((est.mean(0) - ex) ** 2).sum()
    assert err <= 100 * sq.mean() / 400
    assert err < 0.1 * np.median(sq)


def test_skyformer_gaussian_matches_augmented_nystrom_and_code_preset_core():
    Q, K, V = _qkv(n=40, m=30)
    idx = np.random.default_rng(0).integers(0, 70, size=12)
    Qh, Kh = Q / 8 ** 0.25, K / 8 ** 0.25
    B = ka.augmented_nystrom(ka.Gaussian(1.0), Qh, Kh, indices=idx)
    np.testing.assert_allclose(att.skyformer(Q, K, V, indices=idx), B @ V, atol=1e-9)
    out, f = att.skyformer(Q, K, V, indices=idx, preset="code", return_factors=True)
    W = ka.Gaussian(1.0)(np.vstack([Qh, Kh])[idx])
    np.testing.assert_allclose(f["Winv"], core_inverse(W, "newton_schulz", lam=0.1, n_iter=6))
    assert f["core"] == "newton_schulz"
    _, f = att.skyformer(Q, K, V, d=12, rng=0, preset="code", return_factors=True)
    assert np.all(f["indices"][:6] < 40) and np.all(f["indices"][6:] >= 40)     # stratified
    acc = att.skyformer(Q, K, V, d=12, rng=0, accumulation=3)
    assert acc.shape == (40, 8)


def test_nystromformer_segment_means_padding_options():
    from kernapprox.sampling import segment_means
    X = np.arange(10.0)[:, None]
    np.testing.assert_allclose(segment_means(X, 5), [[0.5], [2.5], [4.5], [6.5], [8.5]])
    # zeros padding in front: [0,0,0,1 | 2,3,4,5 | 6,7,8,9] / 4
    np.testing.assert_allclose(segment_means(X, 3, padding="zeros"), [[1 / 4], [14 / 4], [30 / 4]])
    np.testing.assert_allclose(segment_means(X, 3, padding="uneven"), [[1.0], [4.5], [8.0]])
    Q, K, V = _qkv(n=50)
    assert not np.allclose(att.nystromformer(Q, K, V, d=8), att.nystromformer(Q, K, V, d=8, padding="uneven"))


def test_nystromformer_global_init_batch():
    r = np.random.default_rng(0)
    Q, K, V = 0.6 * r.normal(size=(3, 3, 32, 8))
    out = att.approximate(Q, K, V, method="nystromformer", d=8, init="global")
    per = att.approximate(Q, K, V, method="nystromformer", d=8)
    assert out.shape == per.shape and not np.allclose(out, per)
    from kernapprox.attention._nystromformer import landmark_core
    scale = max(np.abs(landmark_core(Q[h], K[h], 8, "zeros")[-1]).sum(0).max() for h in range(3))
    np.testing.assert_allclose(out[1], att.nystromformer(Q[1], K[1], V[1], d=8, ns_scale=scale))


# -- bad input ----------------------------------------------------------------------------------------
def test_bad_input_d_bounds_and_options():
    Q, K, V = _qkv(n=20, m=15)
    with pytest.raises(ValueError, match="`d` must be <= 15"):
        att.nystromformer(Q, K, V, d=16)
    with pytest.raises(ValueError, match="`d` must be <= 15"):
        att.skeinformer(Q, K, V, d=16)
    with pytest.raises(ValueError, match="`d` must be <= 15"):
        att.s3(Q, K, V, d=16)
    att.skyformer(Q, K, V, d=35, rng=0)                      # with replacement: n < d <= n + m is allowed
    for lm in ("uniform2n", "stratified", "rpcholesky"):      # more than n + m rows cannot add rank
        with pytest.raises(ValueError, match="`d` must be <= 35"):
            att.skyformer(Q, K, V, d=36, landmarks=lm)
    with pytest.raises(ValueError, match="`d` must be >= 1"):
        att.informer(Q, K, V, d=-1)
    with pytest.raises(ValueError, match="`part` must be 'column'"):
        att.s3(Q, K, V, d=3, part="row")
    with pytest.raises(ValueError, match="importance_weights"):
        att.skeinformer(Q, K, V, d=3, importance_weights=True)
    with pytest.raises(ValueError, match="`target` must be one of"):
        att.skyformer(Q, K, V, d=3, target="relu")
    with pytest.raises(ValueError, match="`preset` must be one of"):
        att.skyformer(Q, K, V, d=3, preset="fast")
    with pytest.raises(ValueError, match="`projection` must have shape"):
        att.linformer(Q, K, V, projection=np.eye(20))
    with pytest.raises(ValueError, match="`column_indices` must be distinct"):
        att.skeinformer(Q, K, V, d=2, column_indices=[1, 1], pilot_indices=[0, 1])
    with pytest.raises(ValueError, match="`key_indices`"):
        att.informer(Q, K, V, d=3, key_indices=np.zeros((5, 2), int))
    with pytest.raises(ValueError, match="finite"):
        att.skyformer(Q, K, V * np.nan, d=3)
    with pytest.raises(ValueError, match="one row per key"):
        att.skeinformer(Q, K, V[:3], d=3)


def test_skyformer_code_global_init_shares_one_razavi_scale_over_the_batch():
    """Authors' code ("original" init): Z₀ = N/max column sum over ALL heads' normalised cores."""
    from kernapprox._cores import lemma3_normalise
    r = np.random.default_rng(1)
    Q, K, V = 0.5 * r.normal(size=(3, 2, 3, 30, 8))
    opts = dict(preset="code", init="global")
    out = att.approximate(Q, K, V, method="skyformer", d=8, rng=2, **opts)
    idx = att.draw_randomness(Q, K, V, method="skyformer", d=8, rng=2, **opts)["indices"]
    scale = 0.0
    for b in np.ndindex(2, 3):
        X = np.vstack([Q[b], K[b]]) / 8 ** 0.25
        N = lemma3_normalise(ka.Gaussian(1.0)(X[idx[b]]), 0.1)[0]
        scale = max(scale, np.abs(N).sum(0).max())
    np.testing.assert_allclose(out[1, 2], att.skyformer(Q[1, 2], K[1, 2], V[1, 2], indices=idx[1, 2],
                                                        preset="code", ns_scale=scale), atol=1e-12)
    # preset="code" implies init="global" (the code's iterative_inv); an explicit init wins
    np.testing.assert_array_equal(att.approximate(Q, K, V, method="skyformer", d=8, rng=2, preset="code"), out)
    per = att.approximate(Q, K, V, method="skyformer", d=8, rng=2, preset="code", init="per_matrix")
    assert not np.allclose(out, per)


@pytest.mark.parametrize("method,opts", [
    ("skyformer", {}), ("skyformer", {"target": "softmax"}), ("skyformer", {"preset": "code"}),
    ("nystromformer", {}), ("skeinformer", {}), ("informer", {}), ("linformer", {}), ("s3", {})])
def test_float32_inputs_give_float32_outputs_close_to_float64(method, opts):
    """float32 is preserved; the small cores run in float64 and pseudo-inverse cutoffs respect the
    float32 precision of the landmark blocks, so the output matches the float64 run to ≈ 1e-4."""
    from kernapprox.datasets import structured_qkv
    Q, K, V = structured_qkv(256, rng=3)
    o64 = att.approximate(Q, K, V, method=method, d=64, rng=1, **opts)
    o32 = att.approximate(*(a.astype(np.float32) for a in (Q, K, V)), method=method, d=64, rng=1, **opts)
    assert o32.dtype == np.float32
    assert np.linalg.norm(o32 - o64) <= 1e-3 * np.linalg.norm(o64)


def test_skyformer_psd_sampler_landmarks_on_the_augmented_matrix():
    pytest.importorskip("kernapprox.sampling")
    from kernapprox.datasets import scaled_qkv
    Q, K, V = scaled_qkv(200, p=16, scale=0.5, rng=0)
    T = att.exact(Q, K, V, kind="gaussian")
    out, f = att.skyformer(Q, K, V, d=40, landmarks="rpcholesky", rng=0, return_factors=True)
    assert f["indices"].shape == (40,) and f["landmarks"] == "rpcholesky"
    uni = att.skyformer(Q, K, V, d=40, rng=0)
    # RPCholesky adapts to the kernel: not worse than uniform landmarks by more than a small factor
    assert _rel(out, T) < 2 * _rel(uni, T) + 1e-3


# -- Nyströmformer Gaussian target; Skyformer-SM key centring -------------------------------------------
def test_nystromformer_gaussian_target_m_equals_n_pinv_reproduces_CV():
    """§2.1 + §9.1: with one landmark per token (d = n = m) the segment means are the points, so
    κ(Q̂, K̂) κ(Q̂, K̂)⁺ κ(Q̂, K̂) V = C V (exact regime); no row normalisation."""
    Q, K, V = _qkv(n=32, s=0.5)
    out, f = att.nystromformer(Q, K, V, d=32, core="pinv", target="gaussian", return_factors=True)
    assert _rel(out, att.exact(Q, K, V, kind="gaussian")) < 1e-8
    assert f["target"] == "gaussian" and f["n_evals"] == 64 * 32 + 32 * 32
    # the same through the dispatcher, batched
    Qb, Kb, Vb = (np.stack([a, 2 * a]) for a in (Q, K, V))
    ob = att.approximate(Qb, Kb, Vb, method="nystromformer", d=32, core="pinv", target="gaussian")
    np.testing.assert_allclose(ob[0], out, rtol=1e-12, atol=1e-12)


def test_nystromformer_gaussian_target_is_not_row_normalised_and_differs_from_softmax():
    Q, K, V = _qkv(n=64, s=0.5)
    g = att.nystromformer(Q, K, np.ones((64, 1)), d=8, core="pinv", target="gaussian")
    s = att.nystromformer(Q, K, np.ones((64, 1)), d=8, core="pinv")
    np.testing.assert_allclose(s, 1.0, atol=1e-10)             # softmax rows sum to one
    assert np.abs(g - 1.0).max() > 0.1                          # C 1 is not 1
    ex = att.exact(Q, K, np.ones((64, 1)), kind="gaussian")
    assert _rel(g, ex) < 0.5


def test_nystromformer_gaussian_razavi_paper_start_converges_where_colsum_start_diverges():
    """Module docstring: for W = κ(Q̃, K̃) (row sums ≈ d, not 1) the code's start Wᵀ/‖W‖₁ leaves
    ‖I − W Z₀‖ > 1 and the iteration diverges; the paper's Wᵀ/(‖W‖₁‖W‖_∞) converges to W⁻¹."""
    Q, K, V = _qkv(n=64, s=0.15)                                # κ entries ≈ 1: ‖W‖_∞ ≈ d
    _, _, _, _, W = __import__("kernapprox.attention._nystromformer", fromlist=["x"]).landmark_core(
        Q, K, 8, "zeros", "gaussian")
    assert np.abs(W).sum(axis=1).max() > 4
    with np.errstate(all="ignore"):
        bad = att.nystromformer(Q, K, V, d=8, target="gaussian", n_iter=30, ns_scale=np.abs(W).sum(axis=0).max(),
                                safeguard="none")
    assert not np.all(np.isfinite(bad)) or np.abs(bad).max() > 1e6
    conv = att.nystromformer(Q, K, V, d=8, target="gaussian", n_iter=60)
    ref = att.nystromformer(Q, K, V, d=8, target="gaussian", core="pinv", rcond=1e-15)
    assert np.all(np.isfinite(att.nystromformer(Q, K, V, d=8, target="gaussian")))
    assert _rel(conv, ref) < 1e-6


def test_nystromformer_gaussian_global_init_batch_uses_largest_paper_scale():
    r = np.random.default_rng(3)
    Q, K, V = 0.5 * r.normal(size=(3, 2, 64, 8))
    out = att.approximate(Q, K, V, method="nystromformer", d=8, init="global", target="gaussian")
    from kernapprox.attention._nystromformer import landmark_core, _paper_scale
    scale = max(_paper_scale(landmark_core(Q[i], K[i], 8, "zeros", "gaussian")[-1]) for i in range(2))
    np.testing.assert_allclose(out[1], att.nystromformer(Q[1], K[1], V[1], d=8, ns_scale=scale, target="gaussian"))


def test_nystromformer_bad_target_raises():
    Q, K, V = _qkv(n=16)
    with pytest.raises(ValueError, match="nystromformer: `target` must"):
        att.nystromformer(Q, K, V, d=4, target="kernel")


@given(seed=st.integers(0, 2**32 - 1), shift=st.floats(-3.0, 3.0))
def test_skyformer_softmax_centred_keys_invariant_to_key_translation(seed, shift):
    """Softmax attention is invariant under k_j → k_j + b; with ``center_keys`` (default) the
    Skyformer-SM output is too (same landmark indices), because it only sees k_j − mean(k)."""
    Q, K, V = _qkv(seed % 1000, n=24, m=20)
    b = shift * np.random.default_rng(seed).normal(size=K.shape[1])
    idx = np.random.default_rng(seed).integers(0, 44, 12)
    o1 = att.skyformer(Q, K, V, indices=idx, target="softmax")
    o2 = att.skyformer(Q, K + b, V, indices=idx, target="softmax")
    np.testing.assert_allclose(o2, o1, rtol=1e-7, atol=1e-7 * np.abs(o1).max())


def test_skyformer_softmax_center_keys_false_is_the_raw_augmentation():
    """``center_keys=False`` is the paper's formula: blocks of exp(X X̂ᵀ) on the raw keys."""
    Q, K, V = _qkv(n=24, m=20)
    idx = np.arange(0, 44, 3)
    o, f = att.skyformer(Q, K, V, indices=idx, target="softmax", center_keys=False, return_factors=True)
    Qh, Kh = Q / 8 ** 0.25, K / 8 ** 0.25
    XL = np.concatenate([Qh, Kh])[idx]
    np.testing.assert_allclose(f["CK"] * np.exp(f["shift"]), np.exp(Kh @ XL.T), rtol=1e-12)
    assert f["key_shift"] is None
    A = f["CQ"] @ f["Winv"] @ f["CK"].T
    np.testing.assert_allclose(o, (A @ V) / A.sum(axis=1, keepdims=True), rtol=1e-9)
    oc, fc = att.skyformer(Q, K, V, indices=idx, target="softmax", return_factors=True)
    np.testing.assert_allclose(fc["key_shift"], K.mean(axis=0))
    Khc = Kh - Kh.mean(axis=0)                                  # the augmentation sees centred keys
    XLc = np.concatenate([Qh, Khc])[idx]
    np.testing.assert_allclose(fc["CK"] * np.exp(fc["shift"]), np.exp(Khc @ XLc.T), rtol=1e-12)
    assert fc["n_evals"] == 44 * 15 + 15 ** 2


def test_skyformer_center_keys_ignored_for_gaussian_target():
    Q, K, V = _qkv(n=24, m=20)
    idx = np.arange(0, 44, 3)
    np.testing.assert_array_equal(att.skyformer(Q, K, V, indices=idx),
                                  att.skyformer(Q, K, V, indices=idx, center_keys=False))


def test_experiment_sweep_records_n_evals_of_the_methods_that_report_them():
    """The shared attention sweep sums ``factors["n_evals"]`` ((n + m)d + d² for one Skyformer /
    Nyströmformer call, (n + m)d feature projections for Performer) per label."""
    from kernapprox.experiments._common import _apply, attention_loss_sweep
    Q, K, V = _qkv(n=40, m=40)
    R, evals = _apply(("skyformer", {"target": "softmax"}), Q, K, V, 8, np.random.default_rng(1))
    np.testing.assert_array_equal(R, att.approximate(Q, K, V, method="skyformer", d=8,
                                                     rng=np.random.default_rng(1), target="softmax"))
    assert evals == 80 * 8 + 64
    assert _apply(("performer", {}), Q, K, V, 8, np.random.default_rng(1))[1] == 80 * 8
    data = attention_loss_sweep("t", {"N": ("nystromformer", {}), "P": ("performer", {})}, kinds=("initialized",),
                                ns=(40,), ds=(4, 8), windows=1, heads_per_window=1, inputs="synthetic", seed=0)
    assert data["meta"]["n_evals"] == {"N": 80 * 4 + 16 + 80 * 8 + 64, "P": 80 * 4 + 80 * 8}


def test_nystromformer_padding_and_preset_options():
    Q, K, V = _qkv(n=45)
    for padding in ("zeros", "uneven", "lucidrains", "lucidrains_masked", "t2t_vit"):
        assert np.all(np.isfinite(att.nystromformer(Q, K, V, d=8, padding=padding)))
    with pytest.raises(ValueError, match="`padding` must be one of"):
        att.nystromformer(Q, K, V, d=8, padding="front")
    with pytest.raises(ValueError, match="`padding` must be 'zeros', 'uneven' or 't2t_vit' with target='gaussian'"):
        att.nystromformer(Q, K, V, d=8, padding="lucidrains", target="gaussian")
    with pytest.raises(ValueError, match="`preset` must be one of"):
        att.nystromformer(Q, K, V, d=8, preset="fast")
    from kernapprox.sampling import segment_means
    X = np.arange(10.0)[:, None]
    # T2T-ViT layout: ⌊10/3⌋ = 3; the first (3+1)·3 − 10 = 2 segments have 3 rows, the last one 4
    np.testing.assert_allclose(segment_means(X, 3, padding="t2t_vit"), [[1.0], [4.0], [7.5]])
    # lucidrains masked: front padding [0, 0 | 0, 1, 2, 3 ...] with L = 4: real counts 2, 4, 4
    np.testing.assert_allclose(segment_means(X, 3, padding="lucidrains_masked"), [[1 / (2 + 1e-8)], [14 / (4 + 1e-8)],
                                                                          [30 / (4 + 1e-8)]])


def test_skeinformer_ablation_flags_resolve_pilot_reuse_and_infer_d():
    from kernapprox.attention._skeinformer import resolve_pilot_reuse
    assert resolve_pilot_reuse(None, "importance", "adaptive") is True
    for cs, rn in (("uniform", "adaptive"), ("importance", "simple"), ("importance", "exact")):
        assert resolve_pilot_reuse(None, cs, rn) is False
    assert resolve_pilot_reuse(True, "importance", "simple") is True
    Q, K, V = _qkv(n=40)
    r = att.draw_randomness(Q, K, V, method="skeinformer", d=8, rng=0)
    out = att.skeinformer(Q, K, V, **r)                      # d inferred from both index arrays
    np.testing.assert_array_equal(out, att.skeinformer(Q, K, V, d=8, rng=0))
    with pytest.raises(ValueError, match="`pilot_indices` must hold d = 8 indices"):
        att.skeinformer(Q, K, V, pilot_indices=r["pilot_indices"][:5], column_indices=r["column_indices"])
    # the options contract: a flag must be a bool (or None = resolved from the ablation flags)
    with pytest.raises(TypeError, match="`pilot_reuse` must be a bool"):
        att.skeinformer(Q, K, V, d=4, rng=0, pilot_reuse="yes")
