"""Every paper check can fail: perturbing its experiment's key number makes it raise AssertionError.

Each case calls the check's test function with the session's real experiment data (the shared
``experiment`` fixture, computed once) deep-copied and one key number perturbed, and a recorder
that keeps no state; the check must fail. 15 of 15 checks are covered (``CASES`` below; the
Proposition-1 check draws its own trials, so its bound function is scaled instead).
"""
from __future__ import annotations

import copy
import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location("paper_checks_conftest", Path(__file__).with_name("conftest.py"))
_conf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conf)
Claim = _conf.Claim


class _Node:
    def __init__(self):
        self.user_properties = []


def _claim(text, source):
    return Claim(_Node(), text, source)


def _idx(data, key, name):
    return list(data[key] if key in data else data["meta"][key]).index(name)


def _scale_method(key, methods_key, name, factor, axis=1):
    def f(data):
        i = _idx(data, methods_key, name)
        a = np.array(data[key], dtype=float)
        sl = [slice(None)] * a.ndim
        sl[axis] = i
        a[tuple(sl)] *= factor
        data[key] = a
    return f


def _scale(key, factor):
    def f(data):
        data[key] = np.asarray(data[key], dtype=float) * factor
    return f


def _skyformer_reverse_d(data):
    i = list(data["methods"]).index("Skyformer")
    a = np.array(data["err"], dtype=float)
    a[:, :, i] = a[:, :, i, ::-1] * 3.0           # loss grows with d
    data["err"] = a


def _rpcholesky_as_uniform_times_two(data):
    """RPCholesky's trace errors replaced by twice uniform's: the claimed ordering is reversed whatever
    the magnitudes (a fixed scale factor cannot reverse a gap of ten orders of magnitude)."""
    m = list(data["meta"]["methods"])
    rp, un = m.index("rpcholesky"), m.index("uniform")
    a = np.array(data["trace_error"], dtype=float)
    a[:, rp] = 2.0 * a[:, un]
    data["trace_error"] = a


def _real_attention_new_times_three(data):
    """The §13 methods' losses tripled in every sweep: the loss ratios leave their recorded bands."""
    from kernapprox.experiments.real_attention import NEW_METHODS
    methods = [str(m) for m in np.atleast_1d(data["methods"])]
    cols = [c for c, m in enumerate(methods) if m in NEW_METHODS]
    for sweep in data["sweeps"].values():
        a = np.array(sweep["err"], dtype=float)
        a[:, cols] *= 3.0
        sweep["err"] = a


def _lemma3(data):
    data["lemma3_max"] = np.asarray(data["lemma3_max"]) + 0.5


def _accumulation(data):
    sk = data["meta"]["sketches"]
    s_m = max((i for i, s in enumerate(sk) if s.startswith("m=")), key=lambda i: int(sk[i][2:]))
    a = np.array(data["error"], dtype=float)
    a[:, s_m] *= 100.0
    data["error"] = a


#: module -> (experiment name, perturbation of its data)
CASES = {
    "test_accumulation_coherence": ("accumulation-krr", _accumulation),
    "test_ffkernel_vs_performer": ("ff-kernel", _scale_method("output_error", "methods",
                                                              "FF kernel (fit: attention)", 100.0)),
    "test_kpca_beats_random_features": ("nystrom-kpca", _scale_method("error", "methods", "nystrom (uniform)",
                                                                      100.0)),
    "test_kpca_nystrom_matches_exact": ("nystrom-kpca", _scale_method("error", "methods", "nystrom (uniform)",
                                                                      2.0)),
    "test_rff_bootstrap_coverage": ("rff-bootstrap", _scale("bootstrap_quantile", 3.0)),
    "test_rff_bootstrap_extrapolation": ("rff-bootstrap", _scale("extrapolation", 3.0)),
    "test_samplers_rpcholesky_guarantee": ("samplers", _scale_method("trace_error", "methods", "rpcholesky", 100.0)),
    "test_samplers_rpcholesky_outliers": ("samplers", _rpcholesky_as_uniform_times_two),
    "test_skeinformer_fig1": ("skeinformer-fig1", _scale_method("err", "methods", "Skeinformer", 100.0, axis=2)),
    "test_skyformer_block_error": ("skyformer-bound", _scale("err", 100.0)),
    "test_skyformer_fig1": ("skyformer-fig1", _skyformer_reverse_d),
    "test_skyformer_lemma3": ("skyformer-bound", _lemma3),
    "test_skyformer_thm2": ("skyformer-bound", _scale("err", 1e6)),
    "test_real_attention": ("real-attention", _real_attention_new_times_three),
}


def _test_function(mod):
    return next(getattr(mod, n) for n in dir(mod) if n.startswith("test_"))


#: checks whose experiment is too long for the default run (marked ``slow`` there as well)
SLOW = {"test_real_attention"}


@pytest.mark.parametrize("module", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m
                                    for m in sorted(CASES)])
def test_perturbed_key_number_fails_the_check(module, experiment):
    name, perturb = CASES[module]
    mod = importlib.import_module(module)
    fn = _test_function(mod)
    fn(experiment, _claim)                                   # unperturbed: passes (PASS or recorded band)

    def perturbed(exp_name, **overrides):
        data = copy.deepcopy(experiment(exp_name, **overrides))
        if exp_name == name:
            perturb(data)
        return data

    with pytest.raises(AssertionError):
        fn(perturbed, _claim)


def test_perturbed_prop1_bound_fails_the_check(monkeypatch, check_seed):
    mod = importlib.import_module("test_skeinformer_prop1")
    few = mod.trial_rngs
    monkeypatch.setattr(mod, "trial_rngs", lambda seed, trials, key=(): few(seed, min(trials, 4), key=key))
    bound = mod.skeinformer_prop1_bound
    monkeypatch.setattr(mod, "skeinformer_prop1_bound", lambda *a, **k: bound(*a, **k) * 1e-3)
    with pytest.raises(AssertionError):
        mod.test_prop1_bound_holds(False, check_seed, _claim)
