"""The permanent contract fuzz suite (issue "No silent wrong answers", deliverable 7).

Every public callable (enumerated from ``__all__``) has a catalogue entry (``_catalogue.py``); the walk
replaces one argument at a time by each item of the bad-input catalogue for its kind (``_engine.py``)
and requires each call to end in a ValueError/TypeError raised by kernapprox that names the argument,
or a finite result that agrees with a slow dense reference (or, for valid variants, with the float64
call). The outcome counts are printed in the terminal summary ("contract fuzz outcomes").
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import _engine as eng
from _catalogue import E, public_callables

RUNNABLE = sorted(k for k, e in E.items() if e.call is not None)


def test_every_public_callable_has_a_catalogue_entry():
    missing = sorted(set(public_callables()) - set(E))
    assert not missing, f"public callables without a contract catalogue entry: {missing}"
    for k, e in E.items():
        assert e.call is not None or e.note, f"{k}: an entry without a call must say why"


#: The default run walks half of each entry's bad inputs (alternating per entry, so every
#: kind of bad input is exercised somewhere); ``-m slow`` walks the whole catalogue.
DEFAULT_STRIDE = 2


@pytest.mark.parametrize("key", RUNNABLE)
def test_contract_walk_sampled(key):
    offset = sum(map(ord, key)) % DEFAULT_STRIDE
    fails = eng.walk(E[key], stride=DEFAULT_STRIDE, offset=offset)
    assert not fails, "\n".join(" | ".join(map(str, f)) for f in fails)


@pytest.mark.slow
@pytest.mark.parametrize("key", RUNNABLE)
def test_contract_walk_full(key):
    fails = eng.walk(E[key])
    assert not fails, "\n".join(" | ".join(map(str, f)) for f in fails)


# ---- property-based: random valid problems, random scales, equal seeds ---------------------------
_PROP_KEYS = [k for k in RUNNABLE if E[k].ref is not None and E[k].group in ("core", "kernels")]


@settings(max_examples=60)
@given(key=st.sampled_from(_PROP_KEYS), scale=st.sampled_from([1.0, 1e-3, 1e3, 1e-150, 1e150]),
       seed=st.integers(0, 2 ** 16))
def test_random_scaling_of_array_arguments(key, scale, seed):
    """Each array argument scaled by a random power: refused naming it, or finite and equal to the
    reference on the scaled data."""
    e = E[key]
    arrays = [p for p in e.params if p.kind in ("points", "array", "matrix", "vector")]
    if not arrays:
        return
    p = arrays[seed % len(arrays)]
    v = e.values()
    v[p.name] = np.asarray(v[p.name], dtype=np.float64) * scale
    outcome, detail = eng.classify(e, p.name, f"x{scale:g}", "edge", v)
    eng.record(e, p.name, f"hyp x{scale:g}", outcome, detail)
    assert outcome in eng.PASS, (key, p.name, scale, outcome, detail)


_RANDOM_KEYS = [k for k in RUNNABLE if E[k].random]


@settings(max_examples=40)
@given(key=st.sampled_from(_RANDOM_KEYS), seed=st.integers(0, 2 ** 32 - 1))
def test_equal_seeds_give_identical_results(key, seed):
    """rng=int, rng=Generator(int) and rng=SeedSequence(int) give bit-identical results, independent of
    the global numpy state."""
    e = E[key]
    outs = []
    for r in (seed, np.random.default_rng(seed), np.random.SeedSequence(seed)):
        v = e.values()
        v["rng"] = r
        np.random.seed(seed % 7)                # global state must not matter
        try:
            res = eng.call_with_limit(lambda: e.call(v))
        except (ValueError, TypeError) as exc:  # a valid call refused is itself a contract failure
            eng.record(e, "rng", "hyp seeds", "unnamed_error", str(exc)[:200])
            pytest.fail(f"{key}: valid rng refused: {exc}")
        outs.append(eng._result_array(e, res, v))
    same = all(np.array_equal(outs[0], o) for o in outs[1:])
    eng.record(e, "rng", "hyp seeds", "ok_float64" if same else "silent_wrong", "" if same else "seeds differ")
    assert same
