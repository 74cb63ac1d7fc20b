"""Options, size and range contracts of every registered attention method (kernapprox.attention).

Every keyword a method accepts is validated on every call, whether or not the configuration uses it;
unknown keywords raise TypeError naming them; ``d`` and ``rng`` are validated for every method (also
where they are ignored); sizes are bounded by the inputs and by the available memory; valid variants
of the inputs (float32, lists, Fortran order, read-only) give the float64 answer; and the default
output of ``approximate`` stays inside the natural range of the exact target.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernapprox.attention as att
from kernapprox.attention import _exact

METHODS = att.methods()
N, M, P = 24, 20, 6


def _qkv(seed=0, n=N, m=M, p=P, s=0.5):
    r = np.random.default_rng(seed)
    return s * r.normal(size=(n, p)), s * r.normal(size=(m, p)), r.normal(size=(m, p))


#: a valid d for every method on (N, M) inputs
D = 4

# -- catalogue of bad values per option ------------------------------------------------------------
_BOOL_BAD = [1, 0, "True", "False", 1.0, np.float64(0.0)]
_CHOICE_BAD = ["abc", 3.5, True, object(), ["pinv"]]
_ARRAY_BAD = ["abc", object(), [np.nan, 1.0], [], True, [["a"]]]

BAD = {
    # booleans: numbers and strings are not bools
    **{k: _BOOL_BAD + [None] for k in ("normalise", "center_keys", "importance_weights", "layer_norm", "paired",
                                       "orthogonal", "stabilize", "double_scaling", "control_variate")},
    "pilot_reuse": _BOOL_BAD,                                   # None = resolved from the ablation flags
    # integers: strings, fractions, bools, out of range, absurd sizes
    "n_iter": ["abc", 2.5, True, -5, 0, 10 ** 12, np.nan],
    "accumulation": ["abc", 2.5, True, -1, 0, None, np.inf],
    "n_top": ["abc", 2.5, True, -1, 0],
    "n_sample": ["abc", 2.5, True, -1, 0],
    "n_channels": ["abc", 2.5, True, -1, 0],
    "n_clusters": ["abc", -1, 2.5, True, None],
    **{k: ["x", -1, 1.5, True] for k in ("n_lloyd", "top_k", "band", "tilt")},
    "n_global": ["x", -1, True],
    **{k: ["abc", 2.5, True, -1, 0] for k in ("block_size", "n_hyperplanes", "n_pilot")},
    "s": ["abc", 2.5, True, -1],
    "uniform_mix": ["abc", True, np.nan, np.inf, -0.1, 1.5],
    "k": ["x", 0, True],
    # tolerances and scales: finite and in range
    "lam": ["abc", True, np.nan, np.inf, -0.1],
    "ns_scale": ["abc", True, np.nan, np.inf, 0.0, -1.0],
    "rcond": ["abc", True, np.nan, np.inf, -1e-3, 1.0, 5.0],
    "feature_eps": ["abc", True, np.nan, np.inf, -1.0],
    "key_max": ["abc", True, np.nan, np.inf],
    # names from a fixed list
    **{k: _CHOICE_BAD + [None] for k in ("target", "preset", "padding", "column_sampling", "row_normalization",
                                         "measure", "mean_divisor", "variant", "part", "kind", "sampling")},
    "core": _CHOICE_BAD,                                        # Skyformer: None = the preset's core
    "stabilizer": _CHOICE_BAD,
    "init": ["abc", 3.5, True, object()],
    "scaling": [2, "0", True, 0.5, None],
    "landmarks": [3, True, object(), 2.5],
    "signs": ["abc", True, [np.nan], object()],
    **{k: ["x", 3, None] for k in ("rest", "lowrank")},
    # pre-drawn randomness
    **{k: _ARRAY_BAD for k in ("indices", "pilot_indices", "column_indices", "key_indices", "projection", "omega",
                               "phase", "feature_indices", "seeds", "hyperplanes", "sample_indices")},
}

#: per-method additions to the catalogue
BAD_EXTRA = {("nystromformer", "core"): [None], ("clustered", "n_clusters"): [0]}
_CASES = [(m, k, v) for m in METHODS for k in att.option_schema(m) for v in BAD[k] + BAD_EXTRA.get((m, k), [])]


def test_every_option_of_every_method_has_a_validator_and_a_bad_value_catalogue():
    for m in METHODS:
        for k, check in att.option_schema(m).items():
            assert check is not None, f"{m}: option {k!r} has no validator in its options schema"
            assert k in BAD, f"{m}: option {k!r} has no bad values in this test"


@pytest.mark.parametrize("method,name,value", _CASES, ids=[f"{m}-{k}-{i}" for i, (m, k, _) in enumerate(_CASES)])
def test_bad_value_of_any_option_raises_naming_it_even_when_unused(method, name, value):
    """The default configuration does not use most options: they are still checked."""
    Q, K, V = _qkv()
    for call in (lambda: att.approximate(Q, K, V, method=method, d=D, rng=0, **{name: value}),
                 lambda: att.get_method(method)(Q, K, V, d=D, rng=0, **{name: value}),
                 lambda: att.draw_randomness(Q, K, V, method=method, d=D, rng=0, **{name: value})):
        with pytest.raises((ValueError, TypeError)) as exc:
            call()
        assert f"`{name}`" in str(exc.value)


@pytest.mark.parametrize("method", METHODS)
def test_unknown_keywords_raise_typeerror_naming_them(method):
    Q, K, V = _qkv()
    fn = att.get_method(method)
    for call in (lambda: att.approximate(Q, K, V, method=method, d=D, rng=0, landmark="uniform2n"),
                 lambda: fn(Q, K, V, d=D, rng=0, landmark="uniform2n"),
                 lambda: fn.draw(Q, K, V, d=D, rng=0, landmark="uniform2n"),
                 lambda: att.draw_randomness(Q, K, V, method=method, d=D, landmark="uniform2n")):
        with pytest.raises(TypeError, match="`landmark` must be an option"):
            call()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("d", ["abc", 0, -5, 2.5, True, np.nan, [4]])
def test_d_is_validated_for_every_method_including_those_that_ignore_it(method, d):
    Q, K, V = _qkv()
    with pytest.raises((ValueError, TypeError), match="`d`"):
        att.approximate(Q, K, V, method=method, d=d, rng=0)


@pytest.mark.parametrize("method", METHODS)
def test_d_bounds_and_memory_estimate(method):
    """d above the method's bound (n + m for Skyformer, m for column samplers, min(n, m) for
    Nyströmformer, the largest d whose u ≤ n for Informer) or above the available memory raises a
    ValueError naming `d` (and the bytes for the memory check) — no hang, no numpy allocation error."""
    Q, K, V = _qkv()
    if method not in ("vmean", "linear"):                       # they ignore d (any int >= 1 is accepted)
        with pytest.raises(ValueError, match="`d` must") as exc:
            att.approximate(Q, K, V, method=method, d=10 ** 12, rng=0)
        if method in ("rff", "performer"):
            assert "bytes" in str(exc.value)
    bound = {"skyformer": N + M, "nystromformer": min(N, M), "skeinformer": M, "linformer": M, "s3": M}
    if method in bound:
        att.approximate(Q, K, V, method=method, d=bound[method], rng=0)
        with pytest.raises(ValueError, match=f"`d` must be <= {bound[method]}"):
            att.approximate(Q, K, V, method=method, d=bound[method] + 1, rng=0)


@pytest.mark.parametrize("method,name,high", [("informer", "n_top", N), ("informer", "n_sample", M),
                                              ("s3", "n_channels", P)])
def test_size_options_are_bounded_by_the_inputs_even_when_unused(method, name, high):
    Q, K, V = _qkv()
    att.approximate(Q, K, V, method=method, d=D, rng=0, **{name: high})
    with pytest.raises(ValueError, match=f"`{name}` must lie in \\[1, {high}\\]"):
        att.approximate(Q, K, V, method=method, d=D, rng=0, **{name: high + 1})


def test_accumulation_memory_is_estimated_before_anything_is_allocated():
    Q, K, V = _qkv()
    with pytest.raises(ValueError, match="`accumulation` must fit in the available memory"):
        att.approximate(Q, K, V, method="skyformer", d=D, rng=0, accumulation=10 ** 9)


def test_informer_raises_instead_of_clipping_d():
    from kernapprox.attention._informer import informer_max_d
    Q, K, V = _qkv(n=64, m=64)
    dmax = informer_max_d(64, 64)
    out, fac = att.informer(Q, K, V, d=dmax, rng=0, return_factors=True)
    assert fac["active"].size <= 64
    with pytest.raises(ValueError, match=f"`d` must be <= {dmax}"):
        att.informer(Q, K, V, d=dmax + 1, rng=0)
    # n_top given: u is n_top, d only sets the sampled-key count
    att.informer(Q, K, V, d=64, n_top=64, rng=0)


def test_newton_schulz_iterations_are_bounded():
    from kernapprox.nystrom_general import NS_MAX_ITER
    Q, K, V = _qkv()
    att.approximate(Q, K, V, method="nystromformer", d=D, n_iter=NS_MAX_ITER)
    for method in ("skyformer", "nystromformer"):
        with pytest.raises(ValueError, match="`n_iter`"):
            att.approximate(Q, K, V, method=method, d=D, rng=0, core="newton_schulz", n_iter=10 ** 12)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bad", ["abc", object(), 1.5, True, -1, np.random.RandomState(0)],
                         ids=["str", "object", "float", "bool", "negative", "RandomState"])
def test_rng_is_validated_the_same_way_on_every_path(method, bad):
    """Deterministic methods (Nyströmformer, V-Mean, linear) refuse a bad rng like the random ones."""
    Q, K, V = _qkv()
    with pytest.raises(TypeError, match="`rng`"):
        att.approximate(Q, K, V, method=method, d=D, rng=bad)
    with pytest.raises(TypeError, match="`rng`"):
        att.get_method(method)(Q, K, V, d=D, rng=bad)


#: performer's valid variants are tested in test_attention_rf.py (its module belongs to the FAVOR+ work)
_VARIANT_METHODS = [m for m in METHODS if m != "performer"]


@pytest.mark.parametrize("method", _VARIANT_METHODS)
def test_rng_kinds_give_the_same_stream(method):
    Q, K, V = _qkv()
    outs = [att.approximate(Q, K, V, method=method, d=D, rng=r) for r in
            (3, np.random.SeedSequence(3), np.random.default_rng(3), np.random.PCG64(3))]
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


@pytest.mark.parametrize("method", METHODS)
def test_bools_of_the_dispatcher_and_the_safeguard_are_checked(method):
    Q, K, V = _qkv()
    for kw in ({"return_factors": 1}, {"return_factors": "yes"}, {"safeguard": "abc"}, {"safeguard": True}):
        with pytest.raises((TypeError, ValueError), match=f"`{next(iter(kw))}`"):
            att.approximate(Q, K, V, method=method, d=D, rng=0, **kw)


# -- valid variants agree with the float64 answer ----------------------------------------------------


@pytest.mark.parametrize("method", _VARIANT_METHODS)
def test_valid_input_variants_give_the_float64_answer(method):
    Q, K, V = _qkv(seed=1)
    r = att.draw_randomness(Q, K, V, method=method, d=D, rng=5)
    d = D
    ref = att.approximate(Q, K, V, method=method, d=d, **r)
    # lists and read-only arrays: the same float64 computation
    np.testing.assert_array_equal(att.approximate(Q.tolist(), K.tolist(), V.tolist(), method=method, d=d, **r), ref)
    ro = [a.copy() for a in (Q, K, V)]
    for a in ro:
        a.flags.writeable = False
    np.testing.assert_array_equal(att.approximate(*ro, method=method, d=d, **r), ref)
    # Fortran order: the same values up to BLAS summation order
    F = [np.asfortranarray(a) for a in (Q, K, V)]
    np.testing.assert_allclose(att.approximate(*F, method=method, d=d, **r), ref, rtol=1e-10, atol=1e-12)
    # float32: float32 output within float32 accuracy (relative Frobenius, well-conditioned inputs)
    o32 = att.approximate(*(a.astype(np.float32) for a in (Q, K, V)), method=method, d=d, **r)
    assert o32.dtype == np.float32
    assert np.linalg.norm(o32 - ref) <= 1e-3 * np.linalg.norm(ref)
    # integer inputs are float64 data
    Qi, Ki, Vi = (np.round(4 * a).astype(np.int64) for a in (Q, K, V))
    np.testing.assert_array_equal(att.approximate(Qi, Ki, Vi, method=method, d=d, **r),
                                  att.approximate(Qi.astype(float), Ki.astype(float), Vi.astype(float),
                                                  method=method, d=d, **r))


# -- the range safeguard ------------------------------------------------------------------------------
def _sharp_head(seed=0, n=96, p=8, scale=4.0):
    """Queries aligned with a few long keys: row entropy near 0 (the failure mode of real heads)."""
    r = np.random.default_rng(seed)
    K = r.normal(size=(n, p)) + 3.0                              # a large common key mean
    Q = scale * r.normal(size=(n, p))
    V = r.normal(size=(n, p))
    return Q, K, V


def _outside(out, V, kind, dtype):
    lo, hi = _exact.output_range(V, kind)
    tol = _exact.RANGE_EPS_MULTIPLE * np.finfo(dtype).eps * np.abs(V).max()
    o = out.astype(np.float64)
    return int(np.sum(((o < lo - tol) | (o > hi + tol)).any(axis=1)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opts", [{"target": "softmax"}, {"target": "softmax", "center_keys": False},
                                  {"target": "softmax", "core": "pinv"}])
def test_skyformer_softmax_default_stays_in_the_hull_where_the_bare_formula_explodes(dtype, opts):
    Q, K, V = (a.astype(dtype) for a in _sharp_head())
    ex = att.exact(Q.astype(float), K.astype(float), V.astype(float))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")                          # the bare formula warns of clipped row sums
        bare = att.approximate(Q, K, V, method="skyformer", d=32, rng=0, safeguard="none", **opts)
    out, fac = att.approximate(Q, K, V, method="skyformer", d=32, rng=0, return_factors=True, **opts)
    assert np.isfinite(out).all() and _outside(out, V, "softmax", dtype) == 0
    # the safeguard never makes an entry worse than the bare formula
    err_bare = np.abs(np.nan_to_num(bare.astype(float), nan=np.inf) - ex)
    assert np.all(np.abs(out.astype(float) - ex) <= err_bare + 1e-5)
    sg = fac["safeguard"]
    assert sg["mode"] == "exact" and sg["n_evals"] == sg["exact_rows"].size * K.shape[0]
    np.testing.assert_allclose(out[sg["exact_rows"]], ex[sg["exact_rows"]], rtol=1e-4, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10 ** 6), scale=st.sampled_from([0.5, 2.0, 6.0]),
       method=st.sampled_from(["skyformer", "nystromformer", "skeinformer", "informer", "linformer", "vmean", "s3",
                               "linear"]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_softmax_outputs_never_leave_the_hull_of_v_by_more_than_rounding(seed, scale, method, dtype):
    """Invariant: a softmax-attention output row is a convex combination of V's rows; the default
    ``approximate`` keeps every row inside their box, at every scale of the scores."""
    Q, K, V = (a.astype(dtype) for a in _sharp_head(seed, n=48, scale=scale))
    opts = {"target": "softmax"} if method == "skyformer" else {}
    out = att.approximate(Q, K, V, method=method, d=8, rng=seed, **opts)
    assert np.isfinite(out).all()
    assert _outside(out, V, "softmax", dtype) == 0


def test_safeguard_none_is_the_bare_formula_and_clip_is_a_contraction():
    Q, K, V = _sharp_head(3)
    fn = att.get_method("skyformer").__wrapped__
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bare = fn(Q, K, V, d=32, rng=0, target="softmax")
        np.testing.assert_array_equal(att.approximate(Q, K, V, method="skyformer", d=32, rng=0, target="softmax",
                                                      safeguard="none"), bare)
        clip = att.approximate(Q, K, V, method="skyformer", d=32, rng=0, target="softmax", safeguard="clip")
    ex = att.exact(Q, K, V)
    fin = np.isfinite(bare).all(axis=1)
    assert np.all(np.abs(clip[fin] - ex[fin]) <= np.abs(bare[fin] - ex[fin]) + 1e-12)
    assert _outside(clip, V, "softmax", np.float64) == 0


def test_linformer_default_clips_and_reports():
    Q, K, V = _qkv(n=64, m=64, s=1.0)
    out, fac = att.approximate(Q, K, V, method="linformer", d=4, rng=0, return_factors=True)
    sg = fac["safeguard"]
    assert sg["mode"] == "clip" and sg["exact_rows"].size == 0
    assert _outside(out, V, "softmax", np.float64) == 0


@pytest.mark.parametrize("bad", ["no-such-method", 3, ["skyformer"], None])
def test_unknown_method_names_the_callers_argument(bad):
    """get_method refuses its own argument ``name``; approximate and draw_randomness their ``method``."""
    Q, K, V = np.random.default_rng(0).normal(size=(3, 8, 4))
    with pytest.raises((ValueError, TypeError), match=r"attention\.get_method: `name` must be one of '"):
        att.get_method(bad)
    for f in (att.approximate, att.draw_randomness):
        with pytest.raises((ValueError, TypeError), match=r"`method` must be one of '"):
            f(Q, K, V, method=bad, d=2, rng=0)
    with pytest.raises((ValueError, TypeError), match=r"option_schema: `method` must be one of '"):
        att.option_schema(bad)
