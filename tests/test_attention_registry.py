"""The registry of attention methods: AttentionMethod records, their declared schemas, register()."""
import inspect

import numpy as np
import pytest

import kernapprox as ka
from kernapprox.attention import AttentionMethod
from kernapprox.attention._protocol import v_choice

att = ka.attention


@pytest.fixture(autouse=True)
def _restore_registry(monkeypatch):
    """The user methods registered here are gone after each test (other tests list the methods)."""
    monkeypatch.setattr(att, "_REGISTERED", dict(att._REGISTERED))
    monkeypatch.setattr(att, "_BOUND", dict(att._BOUND))
    yield
    for name in ("user_first_key", "user_noisy", "user_choice"):
        att.__dict__.pop(name, None)


BUILTIN = ("informer", "linear", "linformer", "nystromformer", "performer", "rff", "s3", "skeinformer", "skyformer",
           "vmean")


def test_dir_shows_the_api_and_the_methods_only():
    names = set(dir(att))
    assert set(BUILTIN) | {"exact", "approximate", "draw_randomness", "methods", "get_method", "register"} <= names
    assert not names & {"np", "inspect", "fail", "importlib", "warnings", "functools"}
    assert set(BUILTIN) <= set(att.methods())


@pytest.mark.parametrize("name", BUILTIN)
def test_record_declares_exactly_what_the_formula_accepts(name):
    fn = att.get_method(name)
    rec = fn.method
    assert isinstance(rec, AttentionMethod) and rec.name == name
    assert fn.formula is fn.__wrapped__ is rec.formula and att.get_method(name) is getattr(att, name)
    kw = [k for k, p in inspect.signature(rec.formula).parameters.items()
          if p.kind is p.KEYWORD_ONLY and k not in ("d", "rng", "return_factors")]
    assert set(kw) == set(rec.options) and all(v is not None for v in rec.options.values())
    for hook, extra in ((rec.draw, {"d", "rng"}), (rec.batch_prepare, {"d"})):
        if hook is None:
            continue
        params = inspect.signature(hook).parameters
        assert not any(p.kind is p.VAR_KEYWORD for p in params.values()), f"{name}: a hook swallows keywords"
        assert set(list(params)[3:]) <= set(rec.options) | extra
    assert set(rec.aliases.values()) <= set(rec.options)
    assert not hasattr(rec.formula, "draw") and not hasattr(rec.formula, "per_item_options")


def _first_key(Q, K, V, *, d=None, rng=None, return_factors=False, weight=1.0):
    out = weight * np.repeat(V[:1], Q.shape[0], axis=0)
    return (out, {"n_evals": 0, "exact_fraction": 0.0}) if return_factors else out


def _shift(Q, K, V, *, d=None, rng=None, shift=None):
    return {"shift": np.random.default_rng(rng).normal(size=V.shape[1]) if shift is None else np.asarray(shift)}


def _noisy(Q, K, V, *, d=None, rng=None, return_factors=False, shift=None):
    s = _shift(Q, K, V, d=d, rng=rng, shift=shift)["shift"]
    out = np.repeat(V.mean(axis=0, keepdims=True), Q.shape[0], axis=0) + s
    return (out, {"n_evals": 0, "exact_fraction": 0.0}) if return_factors else out


def test_register_a_user_method_everywhere():
    rec = AttentionMethod("user_first_key", _first_key, lambda Q, K, V, *, d=None, rng=None: {},
                          options={"weight": lambda x, f, k: None}, target=lambda o: None)
    att.register(rec, replace=True)
    Q, K, V = np.random.default_rng(0).normal(size=(3, 2, 6, 4))
    out = att.approximate(Q, K, V, method="user_first_key", weight=2.0)
    np.testing.assert_array_equal(out[1], 2.0 * np.repeat(V[1, :1], 6, axis=0))
    assert "user_first_key" in att.methods() and "user_first_key" in dir(att)
    np.testing.assert_array_equal(att.user_first_key(Q[0], K[0], V[0]), out[0] / 2.0)
    with pytest.raises(TypeError, match="`shift` must be an option of method 'user_first_key'"):
        att.approximate(Q, K, V, method="user_first_key", shift=1.0)
    with pytest.raises(ValueError, match="have a new name"):
        att.register(rec)
    with pytest.raises(TypeError, match="`method` must be an AttentionMethod"):
        att.register(_first_key)


def test_user_method_randomness_and_per_item_options():
    rec = AttentionMethod("user_noisy", _noisy, _shift, options={"shift": None}, per_item_options={"shift": 1},
                          target=lambda o: None)
    att.register(rec, replace=True)
    Q, K, V = np.random.default_rng(0).normal(size=(3, 2, 6, 4))
    a = att.approximate(Q, K, V, method="user_noisy", rng=3)
    r = att.draw_randomness(Q, K, V, method="user_noisy", rng=3)
    assert r["shift"].shape == (2, 4)
    np.testing.assert_array_equal(a, att.approximate(Q, K, V, method="user_noisy", **r))


def test_choice_validator_of_a_record_names_the_option():
    rec = AttentionMethod("user_choice", _first_key, lambda Q, K, V, *, d=None, rng=None: {},
                          options={"weight": v_choice(1.0, 2.0)})
    att.register(rec, replace=True)
    Q, K, V = np.random.default_rng(0).normal(size=(3, 5, 2))
    with pytest.raises(ValueError, match="`weight` must be one of"):
        att.approximate(Q, K, V, method="user_choice", weight=3.0)


def test_oracle_resolves_options_through_the_record():
    rec = att.get_method("skyformer").method
    out = rec.resolve_options({"preset": "code"}, d=8, dtype=np.dtype(np.float32))
    assert out["core"] == "newton_schulz" and out["lam"] == 0.1 and out["init"] == "global" and "rcond" not in out
    out = rec.resolve_options({"target": "softmax"}, d=8, dtype=np.dtype(np.float32))
    assert out["core"] == "signed_eig" and out["rcond"] == 1e-8
    blocks = rec.core_factors(att.skyformer(*np.random.default_rng(0).normal(size=(3, 20, 4)), d=6, rng=0,
                                            return_factors=True)[1])
    assert set(blocks) == {"W", "W_pinv", "L", "T", "normalise_rows"}
    assert att.get_method("performer").method.core_factors is None
