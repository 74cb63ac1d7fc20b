"""The real-attention experiment: its grid, its plumbing (numbers come from the calls), skipped methods,
summary table and re-plot from saved data. Tiny configs only (the QUICK run is the paper check's)."""
import dataclasses

import numpy as np
import pytest

from kernapprox import attention
from kernapprox.experiments import _common as C
from kernapprox.experiments import real_attention as RA

TINY = dataclasses.replace(RA.QUICK, ns=(64, 128), ds=(4, 8), long_ds=(4,), long_from=128, layers=(0,),
                           heads=(0, 1), long_heads=1, texts=("gpl-3",), long_texts=("gpl-3",),
                           timing_ns=(64, 128), timing_repeats=1, methods=("V-Mean", "Skeinformer"))


def test_full_grid_is_the_stated_one():
    F = RA.FULL
    assert set(F.ns) >= {512, 4096} and set(F.ds) == {16, 32, 64, 128, 256} and set(F.long_ds) == set(F.ds)
    assert set(F.kinds) == {"pretrained", "initialized"}
    assert F.layers == tuple(range(6)) and F.heads == tuple(range(12))
    assert len(F.texts) >= 3 and len(F.long_texts) >= 2
    assert set(F.methods) == set(RA.METHODS) and set(RA.SEED_METHODS) | set(RA.NEW_METHODS) == set(RA.METHODS)
    assert RA.METHODS["Skyformer"] == ("skyformer", {"target": "softmax", "center_keys": True})
    Q = RA.QUICK
    assert Q != F and {512, 4096} <= set(Q.ns) and {16, 64, 128, 256} <= set(Q.ds) and {64, 128} <= set(Q.long_ds)
    assert RA.budget(512, 64) == 2 * 512 * 64 + 64 ** 2


def test_probe_reports_unregistered_and_refused_methods():
    assert RA.probe(("vmean", {})) is None
    assert RA.probe(("no_such_method_xyz", {})) == "not registered"
    why = RA.probe(("skeinformer", {"no_such_option": 1}))
    assert why is not None and why.startswith("TypeError")


@pytest.fixture(scope="module")
def fake_data():
    """A tiny run with every method call replaced by ``R̃ = 1.1 R`` and n_evals = B(d)/2: the recorded
    numbers must be exactly those (nothing computed elsewhere or hard-coded)."""
    mp = pytest.MonkeyPatch()

    def fake_call(spec, Q, K, V, d, rng):
        R = attention.exact(Q, K, V)
        return 1.1 * R, RA.budget(Q.shape[0], d) / 2, 0.25, 1e-3
    mp.setattr(RA, "call", fake_call)
    mp.setattr(RA, "probe", lambda spec: None if spec[0] != "skeinformer" else "not registered")
    try:
        data = RA.run(TINY, 5)
    finally:
        mp.undo()
    return data


def test_numbers_come_from_the_calls(fake_data):
    d = fake_data
    assert list(d["methods"]) == ["V-Mean"] and d["meta"]["missing_methods"] == {"Skeinformer": "not registered"}
    for n in (64, 128):
        s = d["sweeps"][f"n{n}"]
        err = s["err"]
        assert err.shape[:3] == (2, 1, 2 if n == 64 else 1)
        np.testing.assert_allclose(err[np.isfinite(err)], 0.1, rtol=1e-10)
        assert np.all(s["evals_over_budget"][np.isfinite(s["evals_over_budget"])] == 0.5)
        assert np.all(s["exact_fraction"][np.isfinite(s["exact_fraction"])] == 0.25)
        assert np.all((s["entropy"] > 0) & (s["entropy"] <= np.log(n) + 1e-9))
    assert list(d["sweeps"]["n64"]["trials"]) == [2, 2]           # 1 window × 1 layer × 2 heads per kind
    assert list(d["sweeps"]["n128"]["trials"]) == [1, 1]          # long n: long_heads = 1 per layer
    assert d["timing"]["seconds"].shape == (2, 2) and np.all(np.isfinite(d["timing"]["exponent"]))


def test_summary_and_table(fake_data):
    sm = RA.summary(fake_data, 64)
    assert set(sm) == {"V-Mean"}
    np.testing.assert_allclose(sm["V-Mean"]["median"], 0.1)
    np.testing.assert_allclose(sm["V-Mean"]["evals"], 0.5)
    tab = RA.table(fake_data, 64, "initialized")
    assert "| V-Mean | 0.100 / 0.100 | 0.100 / 0.100 | 0.50–0.50 | 0.25–0.25 |" in tab


def test_short_texts_are_left_out_at_long_n():
    src = RA._Inputs("pretrained", "auto", np.random.default_rng(0))
    if src.source != "model":
        pytest.skip("needs the MiniLM model")
    assert not src.fits("python-license", 4096) and src.fits("stdlib-docstrings", 4096)


def test_real_tiny_run_saves_and_replots(tmp_path, monkeypatch):
    monkeypatch.setenv(C.QUIET_ENV, "1")
    cfg = dataclasses.replace(TINY, ns=(64,), kinds=("pretrained",), heads=(0,))
    paths = C.run_experiment(RA, cfg=cfg, seed=2, out_dir=tmp_path)
    data = C.load_data(tmp_path, RA.NAME)
    s = data["sweeps"]["n64"]
    assert np.all(np.isfinite(s["err"])) and np.all(s["err"] >= 0)
    assert paths["png"].endswith("real-attention.png")
    C.replot(RA, tmp_path)


def test_caption_numbers_follow_the_data(fake_data):
    import copy
    q = RA.caption_numbers(fake_data)
    assert q["best_64_pretrained_4"] == "n = 64, pretrained, d = 4: V-Mean 0.1"
    assert q["exponent"].startswith("growth exponent exact ")
    d = copy.deepcopy(fake_data)
    d["sweeps"]["n64"]["err"] = d["sweeps"]["n64"]["err"] * 2
    assert RA.caption_numbers(d)["best_64_pretrained_4"] == "n = 64, pretrained, d = 4: V-Mean 0.2"


def test_a_refused_budget_is_recorded_not_fatal():
    cfg = dataclasses.replace(TINY, ns=(64,), ds=(4, 64), kinds=("pretrained",), heads=(0,), methods=("Informer",),
                              timing_ns=(64, 128), timing_d=64)
    d = RA.run(cfg, 1)
    err = d["sweeps"]["n64"]["err"]
    assert np.isfinite(err[0, 0, 0]).all() and np.isnan(err[0, 0, 1]).all()
    assert any(k.startswith("Informer d=64") for k in d["meta"]["refused_calls"])
    assert np.isnan(d["timing"]["seconds"][0, 0]) and np.isfinite(d["timing"]["seconds"][1]).all()


def test_a_methods_numbers_do_not_depend_on_the_other_methods():
    cfg = dataclasses.replace(TINY, ns=(64,), kinds=("pretrained",), timing_ns=(), methods=("Performer", "Skeinformer"))
    both = RA.run(cfg, 4)
    alone = RA.run(dataclasses.replace(cfg, methods=("Skeinformer",)), 4)
    np.testing.assert_array_equal(both["sweeps"]["n64"]["err"][:, 1], alone["sweeps"]["n64"]["err"][:, 0])
