"""Tests for kernapprox.oracle: golden cases, tolerance model, mutations that must fail, export/load."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernapprox as ka
from kernapprox import oracle
from kernapprox.cli import main as cli_main

SMALL = dict(n=64, p=16, heads=2)


def _d(method):
    return None if method in oracle._NO_D else 8


ALL_VARIANTS = [(m, v) for m, vs in oracle.VARIANTS.items() for v in vs]


def _case(method, variant=None, dtype="float32", seed=0, **kw):
    args = {**SMALL, **kw}
    d = args.pop("d", _d(method))
    return oracle.case(method, d=d, variant=variant, dtype=dtype, seed=seed, **args)


def _library_run(c):
    """The library itself on the case's dtype inputs (float32 / float64 pipelines)."""
    if c.method == "exact":
        return ka.attention.exact(**c.inputs, **c.options)
    return ka.attention.approximate(**c.inputs, method=c.method, **c.options)


# -------------------------------------------------------------------------------------------------
# construction, names, determinism
# -------------------------------------------------------------------------------------------------
def test_case_exposes_the_contract_names():
    c = _case("skyformer", "code", batch=2)
    assert c.method == "skyformer" and c.variant == "code" and c.dtype == "float32" and c.seed == 0
    assert set(c.inputs) == {"Q", "K", "V"}
    for A in c.inputs.values():
        assert A.shape == (2, 2, 64, 16) and A.dtype == np.float32
    assert c.expected.shape == (2, 2, 64, 16) and c.expected.dtype == np.float64
    assert c.options["indices"].shape == (2, 2, 8)                  # pre-drawn per (batch, head)
    assert c.options["d"] == 8 and c.tolerance > 0
    # the documented call reproduces expected (from the dtype-rounded inputs, in float64)
    in64 = {k: v.astype(np.float64) for k, v in c.inputs.items()}
    out = ka.attention.approximate(**in64, method=c.method, **c.options)
    np.testing.assert_array_equal(out, c.expected)


@pytest.mark.parametrize("method,variant", [("skyformer", "paper"), ("skyformer", "code-global-init"),
                                            ("performer", "paper"), ("skeinformer", "paper"),
                                            ("informer", "code"), ("linformer", "paper"), ("rff", "cos-phase"),
                                            ("s3", "both")])
def test_same_seed_gives_bit_identical_cases(method, variant):
    a, b = _case(method, variant, seed=3), _case(method, variant, seed=3)
    for k in a.inputs:
        assert a.inputs[k].tobytes() == b.inputs[k].tobytes()
    assert a.expected.tobytes() == b.expected.tobytes()
    assert sorted(a.options) == sorted(b.options)
    for k, v in a.options.items():
        if isinstance(v, np.ndarray):
            assert v.dtype == b.options[k].dtype and v.tobytes() == b.options[k].tobytes()
        else:
            assert v == b.options[k]
    assert a.tolerance == b.tolerance
    c = _case(method, variant, seed=4)
    assert c.inputs["Q"].tobytes() != a.inputs["Q"].tobytes()


def test_all_randomness_is_pre_drawn():
    # reproducing expected with two different generators gives the same answer: nothing is drawn
    for method, variant in ALL_VARIANTS:
        c = _case(method, variant, dtype="float64")
        if method == "exact":
            continue
        for r in (0, 1):
            out = ka.attention.approximate(**c.inputs, method=method, rng=r, **c.options)
            np.testing.assert_array_equal(out, c.expected, err_msg=f"{method}/{variant} draws randomness")


def test_every_method_and_variant_is_covered():
    # the library's own methods (a test may have registered a user method)
    own = {m for m in ka.attention.methods()
           if ka.attention.get_method(m).formula.__module__.startswith("kernapprox.")}
    assert own <= set(oracle.VARIANTS)
    assert set(oracle.VARIANTS["exact"]) == set(ka.attention.KINDS)
    lv = oracle.list_variants()
    assert set(lv) == set(oracle.VARIANTS) and all(lv[m] for m in lv)
    assert list(oracle.list_variants("skyformer")) == ["skyformer"]
    cs = oracle.all_cases(n=32, p=8, d=4, heads=1)
    assert len(cs) == len(ALL_VARIANTS)
    assert {(c.method, c.variant) for c in cs} == set(ALL_VARIANTS)


def test_variants_differ_where_paper_and_code_differ():
    pairs = [("skyformer", "paper", "code"), ("nystromformer", "paper", "pinv"), ("performer", "paper", "code"),
             ("performer", "paper", "lra-double-scaling"), ("informer", "code", "sample-divisor"),
             ("skeinformer", "paper", "no-pilot-reuse")]
    for m, a, b in pairs:
        ca, cb = _case(m, a), _case(m, b)
        assert np.abs(ca.expected - cb.expected).max() > 10 * max(ca.tolerance, cb.tolerance), (m, a, b)


# -------------------------------------------------------------------------------------------------
# tolerance: tight enough for real bugs, loose enough for a correct low-precision pipeline
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method,variant", ALL_VARIANTS)
def test_library_float32_pipeline_passes_its_own_case(method, variant):
    # the library's float32 pipeline is an independent low-precision implementation of the same math
    c = _case(method, variant, dtype="float32")
    r = oracle.compare(_library_run(c), c)
    assert r.passed, str(r)
    c64 = _case(method, variant, dtype="float64")
    assert oracle.compare(_library_run(c64), c64).max_abs_error == 0.0


def test_tolerance_grows_with_the_unit_roundoff():
    tols = [_case("skyformer", "code", dtype=dt).tolerance for dt in oracle.DTYPES]
    assert tols == sorted(tols)
    assert tols[1] / tols[0] > 1e6


def test_tolerance_detail_records_the_model_terms():
    c = _case("nystromformer", "pinv")
    det = c.tolerance_detail
    for key in ("E_in", "E_core", "E_factors", "stages", "reduction_length", "u", "u_acc", "core_condition", "ill_posed"):
        assert key in det
    assert det["core_condition"] >= 1.0 and det["E_core"] > 0 and det["stages"] == oracle.BASE_STAGES + 1
    u = det["u"]
    recomputed = oracle.TOL_SAFETY * ((det["stages"] ** 0.5 + det["reduction_length"] ** 0.5 * det["u_acc"] / u)
                                      * det["E_in"] + det["E_core"] + det["E_factors"] + u * det["output_scale"])
    assert c.tolerance == pytest.approx(recomputed, rel=1e-12)
    ns = _case("skyformer", "code").tolerance_detail
    assert ns["stages"] == oracle.BASE_STAGES + oracle.NS_PRODUCTS_PER_STEP * 6
    assert "informer_margin" in _case("informer").tolerance_detail


@pytest.mark.parametrize("variant", ["softmax", "paper"])
def test_core_condition_is_that_of_the_block_the_method_inverted(variant):
    # the landmark rows of the augmented blocks [CQ; CK] ARE the core W the method inverted (unit signs);
    # the softmax target centres the keys first, so a W rebuilt from the raw keys would be another matrix
    c = _case("skyformer", variant)
    Q, K, V = (np.asarray(c.inputs[k], dtype=np.float64) for k in "QKV")
    _, facs = ka.attention.approximate(Q, K, V, method="skyformer", return_factors=True, **c.options)
    kappa = 0.0
    for f in facs.ravel():
        W = np.concatenate([f["CQ"], f["CK"]])[np.asarray(f["indices"])]
        kappa = max(kappa, np.linalg.norm(W, 2) * np.linalg.norm(f["Winv"], 2))
    assert c.tolerance_detail["core_condition"] == pytest.approx(kappa, rel=1e-8)


def test_ill_conditioned_core_is_flagged_in_half_precision():
    # Nyströmformer's exact pinv of a softmax landmark matrix (κ ≈ 1e4) cannot be resolved from bfloat16
    # inputs (u = 2^-8): flagged, and the tolerance is of the order of the output itself
    c = _case("nystromformer", "pinv", dtype="bfloat16")
    det = c.tolerance_detail
    assert det["ill_posed"] == (det["u"] * det["core_condition"] > oracle.ILL_POSED_AMPLIFICATION)
    assert det["ill_posed"] and c.tolerance > 0.1 * det["output_scale"]
    # the pinned cutoff is d·eps of the core dtype (float32 for half inputs)
    assert c.options["rcond"] == pytest.approx(8 * 2 * oracle.UNIT_ROUNDOFF["float32"])
    assert not _case("nystromformer", "pinv", dtype="float32").tolerance_detail["ill_posed"]
    assert not _case("nystromformer", "paper", dtype="float32").tolerance_detail["ill_posed"]


def _fails(c, **changed):
    r = oracle.compare(c.reference(options={**c.options, **changed}), c)
    return not r.passed and r.max_abs_error > 3 * c.tolerance


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("variant", ["paper", "code"])
def test_mutation_one_landmark_index_fails(dtype, variant):
    c = _case("skyformer", variant, dtype=dtype, batch=2)
    idx = np.array(c.options["indices"])
    idx[1, 0, 3] = (idx[1, 0, 3] + 1) % (2 * c.n)
    assert _fails(c, indices=idx)
    assert oracle.compare(c.reference(), c).passed                 # the unmutated reference passes


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mutation_dropping_lemma3_normalisation_fails(dtype):
    assert _fails(_case("skyformer", "code", dtype=dtype), normalise=False)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mutation_global_instead_of_per_matrix_ns_init_fails(dtype):
    # one Razavi scale for the whole batch instead of one per head (2 × 2 heads). The effect is the spread
    # of the heads' ‖M‖₁ after 6 steps: with n = 128, d = 16 it is > 10 tolerances (it can be tiny when all
    # heads happen to share the scale, e.g. n = 64, d = 8, batch = 2 gives only 1.4 tolerances)
    assert _fails(_case("skyformer", "code-per-matrix-init", dtype=dtype, batch=2, n=128, d=16), init="global")
    assert _fails(_case("nystromformer", "paper", dtype=dtype, batch=2), init="global")
    # and the reverse: the code variant (global) compared with a per-matrix implementation
    c = _case("nystromformer", "code", dtype=dtype, batch=2)
    opts = {k: v for k, v in c.options.items() if k != "ns_scale"}
    r = oracle.compare(c.reference(options={**opts, "init": "per_matrix"}), c)
    assert not r.passed


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_mutation_swapped_performer_scaling_fails(dtype):
    c = _case("performer", "paper", dtype=dtype)
    assert _fails(c, double_scaling=True)                            # Q, K / p^(1/2) instead of / p^(1/4)
    om = np.array(c.options["omega"])
    om_sqrt_p = om / np.linalg.norm(om, axis=-1, keepdims=True) * np.sqrt(c.p)
    assert _fails(c, omega=om_sqrt_p)                                # √p row norms instead of χ_p draws
    c2 = _case("performer", "lra-double-scaling", dtype=dtype)
    assert _fails(c2, double_scaling=False)


def test_mutation_reference_eps_quirk_fails():
    assert _fails(_case("performer", "paper"), feature_eps=1e-4)


@settings(max_examples=8)
@given(n=st.integers(8, 48), p=st.integers(2, 12), d=st.integers(1, 8), heads=st.integers(1, 3),
       method=st.sampled_from(["skyformer", "nystromformer", "performer", "exact"]))
def test_invariant_reference_reproduces_expected_and_float32_passes(n, p, d, heads, method):
    d = min(d, n) if method != "exact" else None
    c = oracle.case(method, n=n, p=p, d=d, heads=heads, dtype="float32", seed=n)
    np.testing.assert_array_equal(c.reference(), c.expected)
    assert np.isfinite(c.tolerance) and c.tolerance > 0
    assert oracle.compare(_library_run(c), c).passed


# -------------------------------------------------------------------------------------------------
# dtypes
# -------------------------------------------------------------------------------------------------
def test_bfloat16_inputs_are_exact_bfloat16_values():
    c = _case("performer", dtype="bfloat16")
    for A in c.inputs.values():
        assert A.dtype == np.float32
        bits = oracle.bfloat16_bits(A)                                # raises if not exactly bfloat16
        back = (bits.astype(np.uint32) << 16).view(np.float32)
        np.testing.assert_array_equal(back, A)
    x = np.array([1.0, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -7 + 2 ** -9, -3.14159, 1e-3], dtype=np.float32)
    r = oracle.bfloat16_round(x)
    np.testing.assert_array_equal(r[:3], [1.0, 1.0, 1 + 2 ** -6])    # ties to even
    assert r[3] == np.float32(1 + 2 ** -7)
    assert np.all(np.abs(r - x) <= 2 ** -8 * np.abs(x))
    with pytest.raises(ValueError, match="bfloat16"):
        oracle.bfloat16_bits(np.array([1 + 2 ** -20], dtype=np.float32))


def test_float16_case_stores_float16_inputs():
    c = _case("nystromformer", dtype="float16")
    assert all(A.dtype == np.float16 for A in c.inputs.values())
    np.testing.assert_array_equal(c.reference(), c.expected)


# -------------------------------------------------------------------------------------------------
# export / load
# -------------------------------------------------------------------------------------------------
def _assert_same_case(a, b):
    for f in ("method", "variant", "dtype", "seed", "n", "p", "d", "batch", "heads", "tolerance",
              "library_version"):
        assert getattr(a, f) == getattr(b, f), f
    assert a.tolerance_detail == b.tolerance_detail
    for k in a.inputs:
        assert a.inputs[k].dtype == b.inputs[k].dtype and a.inputs[k].tobytes() == b.inputs[k].tobytes()
    assert a.expected.tobytes() == b.expected.tobytes()
    assert sorted(a.options) == sorted(b.options)
    for k, v in a.options.items():
        if isinstance(v, np.ndarray):
            assert v.dtype == b.options[k].dtype and v.shape == b.options[k].shape
            assert v.tobytes() == b.options[k].tobytes()
        else:
            assert type(v) is type(b.options[k]) and v == b.options[k], k


def test_export_load_round_trip_is_exact(tmp_path):
    cs = [_case("skyformer", "code-global-init", batch=2), _case("exact", "sigmoid", dtype="float64"),
          _case("performer", "code", dtype="bfloat16"), _case("nystromformer", "uneven-padding", dtype="float16"),
          _case("informer", "exact-measure")]
    path = oracle.export(cs, tmp_path / "golden")
    assert path.suffix == ".json" and (tmp_path / "golden.npz").exists()
    back = oracle.load(tmp_path / "golden.npz")
    assert isinstance(back, list) and len(back) == len(cs)
    for a, b in zip(cs, back):
        _assert_same_case(a, b)
        assert oracle.compare(b.reference(), b).max_abs_error == 0.0
    man = json.loads(path.read_text())
    assert man["schema_version"] == oracle.SCHEMA_VERSION and man["library_version"] == ka.__version__
    e = man["cases"][0]
    assert e["method"] == "skyformer" and e["array_options"]["indices"]["shape"] == [2, 2, 8]
    assert man["cases"][2]["inputs"]["Q"]["storage"] == "bfloat16 values as float32"
    single = oracle.load(oracle.export(cs[0], tmp_path / "one.npz"))
    _assert_same_case(cs[0], single)


def test_load_checks_the_schema_version(tmp_path):
    path = oracle.export(_case("vmean"), tmp_path / "c")
    man = json.loads(path.read_text())
    man["schema_version"] = oracle.SCHEMA_VERSION + 1
    path.write_text(json.dumps(man))
    with pytest.raises(ValueError, match=r"oracle.load: `path` must hold schema version 1.*got schema version 2"):
        oracle.load(path)
    man["schema_version"] = oracle.SCHEMA_VERSION
    man["schema"] = "something-else"
    path.write_text(json.dumps(man))
    with pytest.raises(ValueError, match="manifest"):
        oracle.load(path)
    with pytest.raises(ValueError, match="must name an exported case file"):
        oracle.load(tmp_path / "missing.json")


def test_load_detects_a_modified_npz(tmp_path):
    path = oracle.export(_case("vmean"), tmp_path / "c")
    c = _case("linear")
    np.savez(tmp_path / "c.npz", x=c.expected)
    with pytest.raises(ValueError, match="SHA-256"):
        oracle.load(path)


# -------------------------------------------------------------------------------------------------
# compare
# -------------------------------------------------------------------------------------------------
def test_compare_reports_errors_and_the_worst_position():
    c = _case("skeinformer", batch=2)
    out = c.expected.copy()
    out[1, 0, 17, 3] += 1.0
    r = oracle.compare(out, c)
    assert not r.passed and not bool(r)
    assert r.worst == (1, 0, 17, 3)
    assert r.max_abs_error == pytest.approx(1.0)
    assert r.max_rel_error == pytest.approx(1.0 / np.abs(c.expected).max())
    assert "FAIL" in str(r) and "(batch, head, row) = (1, 0, 17)" in str(r)
    out[1, 0, 17, 3] = np.nan
    r = oracle.compare(out, c)
    assert not r.passed and r.n_nonfinite == 1 and r.worst == (1, 0, 17, 3)
    assert oracle.compare(c.expected.astype(np.float32), c).passed


def test_compare_input_forms():
    c = _case("linear", heads=1)

    class ArrayOnly:
        def __init__(self, a):
            self.a = a

        def __array__(self, dtype=None, copy=None):
            return self.a

    class DLPackOnly:
        def __init__(self, a):
            self.a = a

        def __dlpack__(self, **kw):
            return self.a.__dlpack__(**kw)

        def __dlpack_device__(self):
            return self.a.__dlpack_device__()

    assert oracle.compare(ArrayOnly(c.expected), c).source == "test_oracle"
    assert oracle.compare(DLPackOnly(c.expected), c).passed
    assert oracle.compare(c.expected[0, 0], c).passed               # (n, pv) when batch = heads = 1
    assert oracle.compare(c.expected.tolist(), c).passed
    with pytest.raises(ValueError, match="must have shape"):
        oracle.compare(c.expected[..., :3], c)
    with pytest.raises(TypeError, match="must be an array"):
        oracle.compare(object(), c)
    with pytest.raises(TypeError, match="Case"):
        oracle.compare(c.expected, "not a case")


def test_compare_never_imports_frameworks_for_numpy_input():
    code = ("import sys, kernapprox.oracle as o; c = o.case('performer', n=16, p=4, d=4); "
            "assert o.compare(c.expected, c).passed; "
            "bad = [m for m in ('torch', 'jax', 'cupy') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_compare_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    c = _case("nystromformer", "paper")
    t = torch.tensor(c.expected, dtype=torch.float32, requires_grad=True)
    r = oracle.compare(t * 1.0, c)                                  # a non-leaf tensor with grad
    assert r.passed and r.source == "torch"
    t16 = torch.from_numpy(c.expected.copy()).to(torch.bfloat16)
    r = oracle.compare(t16, _case("nystromformer", "paper", dtype="bfloat16"))
    assert r.source == "torch"
    wrong = torch.from_numpy(c.expected.copy())
    wrong[0, 1, 5, 2] += 0.5
    r = oracle.compare(wrong, c)
    assert not r.passed and r.worst == (0, 1, 5, 2)
    cb = _case("skyformer", "paper", dtype="bfloat16")
    assert torch.equal(torch.from_numpy(cb.inputs["Q"].copy()).to(torch.bfloat16).float(),
                       torch.from_numpy(cb.inputs["Q"].copy()))       # exact bfloat16 values


# -------------------------------------------------------------------------------------------------
# validation and CLI
# -------------------------------------------------------------------------------------------------
def test_case_validation_messages():
    with pytest.raises(ValueError, match="oracle.case: `method` must"):
        oracle.case("nope", n=8, p=2, d=2)
    with pytest.raises(ValueError, match="`variant` must"):
        oracle.case("skyformer", n=8, p=2, d=2, variant="nope")
    with pytest.raises(ValueError, match="`dtype` must"):
        oracle.case("skyformer", n=8, p=2, d=2, dtype="int8")
    with pytest.raises(ValueError, match="`d` must be None"):
        oracle.case("exact", n=8, p=2, d=2)
    with pytest.raises((ValueError, TypeError), match="`d`"):
        oracle.case("skyformer", n=8, p=2)
    with pytest.raises(TypeError, match="case_or_cases"):
        oracle.export([], "x")


def test_cli_oracle_export_and_list(tmp_path, capsys):
    assert cli_main(["oracle", "list"]) == 0
    out = capsys.readouterr().out
    assert "skyformer" in out and "code-global-init" in out and "performer" in out
    assert cli_main(["oracle", "export", "--method", "skyformer", "--n", "32", "--p", "8", "--d", "4",
                     "--batch", "2", "--heads", "2", "--dtype", "float16", "--out", str(tmp_path)]) == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["skyformer-paper-float16-n32-p8-d4-b2h2-s0.json", "skyformer-paper-float16-n32-p8-d4-b2h2-s0.npz"]
    c = oracle.load(tmp_path / files[0])
    assert c.dtype == "float16" and c.inputs["Q"].shape == (2, 2, 32, 8)
    assert cli_main(["oracle", "export", "--method", "performer", "--variant", "all", "--n", "16", "--p", "4",
                     "--d", "4", "--out", str(tmp_path / "perf")]) == 0
    assert len(list((tmp_path / "perf").glob("*.json"))) == len(oracle.VARIANTS["performer"])
    with pytest.raises(SystemExit):
        cli_main(["oracle", "export", "--method", "skyformer", "--variant", "nope", "--n", "16", "--out",
                  str(tmp_path)])


def test_cases_written_with_the_ridge_as_gamma_keep_loading(tmp_path):
    """Case files store the ridge as ``lam``; files holding the former key ``gamma`` load and reproduce
    their expected output (the deprecated alias, with a DeprecationWarning)."""
    c = _case("skyformer", "code")
    assert c.options["lam"] == 0.1 and "gamma" not in c.options
    path = oracle.export(c, tmp_path / "old")
    man = json.loads(path.read_text())
    man["cases"][0]["options"]["gamma"] = man["cases"][0]["options"].pop("lam")
    path.write_text(json.dumps(man))
    back = oracle.load(path)
    assert back.options["gamma"] == 0.1
    with pytest.warns(DeprecationWarning, match="`gamma` is deprecated"):
        assert oracle.compare(back.reference(), back).max_abs_error == 0.0
