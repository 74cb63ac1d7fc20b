"""Every registered experiment runs end to end and writes its figure, data and provenance; shared plumbing.

The parametrisation comes from ``kernapprox.experiments.REGISTRY``, so experiments added by other
modules are covered automatically. The default run executes every experiment on a SMOKE configuration
(the QUICK one with the smallest sizes that still take every code path: every method, data set, input
kind and plot panel); the QUICK runs themselves (what ``kernapprox run all --quick`` does) are marked
``slow``.
"""
import dataclasses
import io
import json

import numpy as np
import pytest

from kernapprox import experiments
from kernapprox.experiments import _common as C

NAMES = experiments.names()


def test_registry_lists_the_attention_experiments_in_order():
    mine = ["skyformer-fig1", "skyformer-bound", "kernelized-target", "skeinformer-fig1",
            "skeinformer-ablation", "singular-values"]
    assert NAMES[:len(mine)] == mine
    with pytest.raises(ValueError, match="experiments.get: `name` must be one of"):
        experiments.get("no-such-experiment")


@pytest.mark.parametrize("name", NAMES)
def test_module_contract(name):
    mod = experiments.get(name)
    assert mod.NAME == name
    assert isinstance(mod.TITLE, str) and mod.TITLE and isinstance(mod.PAPER, str) and mod.PAPER
    assert dataclasses.is_dataclass(mod.Config) and mod.Config.__dataclass_params__.frozen
    assert isinstance(mod.FULL, mod.Config) and isinstance(mod.QUICK, mod.Config)
    assert mod.QUICK != mod.FULL
    assert callable(mod.run) and callable(mod.plot)


#: per experiment, the fields of its QUICK config replaced in the default (smoke) run: smallest sizes,
#: every method / data set / input kind kept (an experiment not listed runs its QUICK config)
SMOKE = {
    "skyformer-fig1": dict(ns=(64,), ds=(8, 16), windows=1, heads_per_window=1),
    "skyformer-bound": dict(n=32, ds=(8, 64), trials=2),
    "kernelized-target": dict(ns=(64,), ds=(8, 16), windows=1, heads_per_window=1),
    "skeinformer-fig1": dict(ns=(64,), ds=(8, 16), windows=1, heads_per_window=1),
    "skeinformer-ablation": dict(ns=(64,), ds=(8, 16), windows=1, heads_per_window=1),
    "singular-values": dict(n=48, layers=(0,), heads=2),
    "samplers": dict(n=48, n_digits=48, ks=(4, 8), trials=1),
    "rff-bootstrap": dict(n=48, s_values=(16, 32), s0=16, draws=8, boot_draws=2, B=4),
    "accumulation-krr": dict(n=80, ds=(8, 16), ms=(1, 2), trials=2),
    "nystrom-kpca": dict(datasets=("digits", "smile"), n_train=60, n_test=30, n_components=4, ms=(8, 16),
                         trials=1),
    "ff-kernel": dict(n=32, ms=(8, 16), trials=1, max_iter=5),
    "real-attention": dict(ns=(64, 128), ds=(4, 8), long_ds=(4,), long_from=128, layers=(0,), heads=(0,),
                           long_heads=1, texts=("gpl-3",), long_texts=("gpl-3",), timing_ns=(64, 128),
                           timing_d=8, timing_repeats=1),
}


def smoke_config(mod):
    return dataclasses.replace(mod.QUICK, **SMOKE.get(mod.NAME, {}))


def test_smoke_configs_name_real_fields_and_shrink_quick():
    for name, fields in SMOKE.items():
        mod = experiments.get(name)
        assert set(fields) <= {f.name for f in dataclasses.fields(mod.Config)}, name
        assert smoke_config(mod) != mod.QUICK


def _check_outputs(mod, cfg, mode, tmp_path, monkeypatch, replot=True):
    name = mod.NAME
    paths = experiments.run_experiment(mod, cfg=cfg, seed=3, out_dir=tmp_path)
    for key in ("png", "pdf", "npz", "json"):
        assert (tmp_path / paths[key].split("/")[-1] if key in ("png", "pdf") else
                tmp_path / "data" / paths[key].split("/")[-1]).stat().st_size > 0
    assert (tmp_path / f"{name}.png").exists() and (tmp_path / "data" / f"{name}.npz").exists()
    prov = json.loads((tmp_path / "data" / f"{name}.json").read_text())
    assert prov["name"] == name and prov["seed"] == 3 and prov["mode"] == mode
    assert prov["config"] == json.loads(json.dumps(dataclasses.asdict(cfg), default=C._json_default))
    for pkg in ("python", "numpy", "scipy", "numba", "kernapprox"):
        assert prov["versions"][pkg]
    assert prov["git_sha"] and prov["wall_time_s"] >= 0
    assert isinstance(prov["inputs"], str) and prov["inputs"] and prov["inputs"] != "n/a"
    assert "n_evals" in prov
    # the data re-load into the run() shape (save_outputs drew the figure from this re-loaded data) and
    # re-plot without recomputation
    data = C.load_data(tmp_path, name)
    assert data["provenance"]["name"] == name
    if not replot:
        return
    monkeypatch.setattr(mod, "run", lambda *a, **k: pytest.fail("plot must not recompute"))
    before = (tmp_path / f"{name}.png").stat().st_mtime_ns
    experiments.replot(mod, tmp_path)
    assert (tmp_path / f"{name}.png").stat().st_mtime_ns >= before


@pytest.mark.parametrize("name", NAMES)
def test_smoke_run_writes_files_with_provenance(name, tmp_path, monkeypatch):
    monkeypatch.setenv(C.QUIET_ENV, "1")
    mod = experiments.get(name)
    # re-plotting is the same plot call on the same re-loaded data (covered by the QUICK runs and test_cli)
    _check_outputs(mod, smoke_config(mod), "custom", tmp_path, monkeypatch, replot=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_quick_run_writes_files_with_provenance(name, tmp_path, monkeypatch):
    monkeypatch.setenv(C.QUIET_ENV, "1")
    mod = experiments.get(name)
    _check_outputs(mod, mod.QUICK, "quick", tmp_path, monkeypatch)


def test_trial_rngs_reproducible_independent_and_keyed():
    a = [g.random() for g in C.trial_rngs(5, 4)]
    b = [g.random() for g in C.trial_rngs(5, 6)][:4]
    assert a == b  # the first trials do not depend on how many are drawn
    assert len(set(a)) == 4
    c = [g.random() for g in C.trial_rngs(5, 4, key=(1,))]
    assert not set(a) & set(c)
    assert C.root_seed(7) == 7 and isinstance(C.root_seed(None), int)
    with pytest.raises(TypeError):
        C.root_seed(1.5)


def test_progress_silent_without_tty_and_when_quiet(monkeypatch):
    buf = io.StringIO()
    assert list(C.progress(range(3), "x", stream=buf)) == [0, 1, 2]
    assert buf.getvalue() == ""  # StringIO is not a terminal

    class TTY(io.StringIO):
        def isatty(self):
            return True

    tty = TTY()
    monkeypatch.delenv(C.QUIET_ENV, raising=False)
    assert list(C.progress(range(3), "bar", stream=tty)) == [0, 1, 2]
    assert "bar" in tty.getvalue() and "3/3" in tty.getvalue()
    frames = [f.strip() for f in tty.getvalue().replace("\n", "\r").split("\r") if f.strip()]
    # no rate before the first item: "eta ?"; a number from the first finished item on; never NaN
    assert frames[0].endswith("0/3 0.0s eta ?")
    assert frames[1].startswith("bar [########") and " 1/3 " in frames[1] and "eta ?" not in frames[1]
    assert all("nan" not in f and "eta" in f for f in frames)
    assert frames[-1].endswith("eta 0.0s")
    monkeypatch.setenv(C.QUIET_ENV, "1")
    tty2 = TTY()
    list(C.progress(range(3), "bar", stream=tty2))
    assert tty2.getvalue() == ""


def test_footer_names_the_commit_and_a_modified_tree():
    for sha, shown in (("0123456789abcdef" * 2 + "01234567", "kernapprox 01234567)"),
                       ("0123456789abcdef" * 2 + "01234567+dirty", "kernapprox 01234567+dirty)")):
        fig, _ = C.new_figure(1, 1)
        C.add_provenance(fig, {"meta": {"inputs": "x"}, "provenance": {"name": "toy", "mode": "full", "seed": 0,
                                                                      "git_sha": sha}})
        assert shown in fig._supxlabel.get_text().replace("\n", " ")


def test_progress_duration_format():
    assert [C._fmt_duration(x) for x in (0.04, 59.94, 60.4, 125, 3599.4, 3600, 7384)] == \
        ["0.0s", "59.9s", "1m00s", "2m05s", "59m59s", "1h00m", "2h03m"]


def test_save_load_round_trip_nested(tmp_path):
    class M:
        NAME, TITLE, PAPER = "toy", "toy", "none"

        @staticmethod
        def plot(data):
            fig, ax = C.new_figure(1, 1)
            C.plot_curve(ax[0, 0], data["x"] + 1, data["res"]["a"], label="Skyformer")
            C.add_provenance(fig, data)
            return fig

    data = {"x": np.arange(3), "res": {"a": np.array([1.0, 2.0, 3.0]), "b": 1.5}, "names": np.array(["u", "v"]),
            "meta": {"inputs": "synthetic proxy", "n_evals": {"a": 3, "b": 4}}}
    C.save_outputs(M, data, {"n": 3}, 1, tmp_path, 0.5)
    back = C.load_data(tmp_path, "toy")
    assert np.array_equal(back["x"], data["x"]) and back["res"]["b"] == 1.5
    assert list(back["names"]) == ["u", "v"] and back["meta"]["inputs"] == "synthetic proxy"
    assert back["provenance"]["n_evals"] == 7 and back["provenance"]["mode"] == "custom"
    with pytest.raises(FileNotFoundError, match="run `kernapprox run missing"):
        C.load_data(tmp_path, "missing")
    with pytest.raises(TypeError, match="object arrays"):
        C.save_outputs(M, {"x": np.array([object()])}, {}, 1, tmp_path, 0.0)


def test_mean_se_and_quantile():
    m, se = C.mean_se(np.array([[1.0, 2.0, 3.0], [np.nan, np.nan, np.nan]]))
    assert m[0] == 2.0 and np.isclose(se[0], 1 / np.sqrt(3)) and np.isnan(m[1])
    assert C.quantile(np.arange(10.0), 0.9) == 9.0  # "higher" order statistic: conservative


def test_median_distance_matches_pdist_and_subsamples():
    from scipy.spatial.distance import pdist
    X = np.random.default_rng(3).normal(size=(60, 4))
    assert C.median_distance(X) == pytest.approx(np.median(pdist(X)), rel=1e-6)
    assert C.median_distance(X, 25) == pytest.approx(np.median(pdist(X[:25])), rel=1e-6)
    assert C.median_distance(X, 1000) == C.median_distance(X)


def test_synthetic_inputs_fallback():
    src = C.AttentionInputs("pretrained", source="synthetic")
    assert src.source == "synthetic" and "synthetic proxy" in src.label
    trip = src.sample(64, 2, np.random.default_rng(0))
    assert len(trip) == 2 and trip[0][0].shape[0] == 64
    with pytest.raises(ValueError, match="`kind` must be one of"):
        C.AttentionInputs("trained")


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

_leaf = arrays(np.float64, st.tuples(st.integers(0, 3), st.integers(1, 3)),
               elements=st.floats(-1e6, 1e6, allow_nan=False))


@given(st.dictionaries(st.text("abcxyz_", min_size=1, max_size=4),
                       st.one_of(_leaf, st.dictionaries(st.text("pq", min_size=1, max_size=2), _leaf, max_size=2)),
                       min_size=1, max_size=4))
def test_flatten_unflatten_round_trip(d):
    back = C._unflatten(C._flatten(d))
    for k, v in d.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                assert np.array_equal(back[k][k2], v2)
        else:
            assert np.array_equal(back[k], v)
