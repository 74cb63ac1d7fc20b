"""Validation at every public entry point (design.md §4.3): one message template
``func: `param` must constraint; got value``; ValueError for values/shapes, TypeError for types."""
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

import kernapprox as ka
from kernapprox import _validation as v
from kernapprox import kernels

GOOD = np.random.default_rng(0).normal(size=(6, 3))


# Every public entry point that takes point clouds, as (label, call(X, Y)) — the name in the message.
ENTRY_POINTS = [
    ("Gaussian", lambda X, Y: ka.Gaussian(1.0)(X, Y)),
    ("Exponential", lambda X, Y: ka.Exponential(1.0)(X, Y)),
    ("Matern", lambda X, Y: ka.Matern(1.5, 1.0)(X, Y)),
    ("Linear", lambda X, Y: ka.Linear()(X, Y)),
    ("KernelMatrix", lambda X, Y: ka.KernelMatrix(ka.Gaussian(1.0), X, Y)),
    ("kernel_matvec", lambda X, Y: ka.kernel_matvec(ka.Gaussian(1.0), X, Y, np.ones(np.shape(Y)[0] if np.ndim(Y) else 1))),
]
EP_IDS = [e[0] for e in ENTRY_POINTS]


def _bad(value):
    X = GOOD.copy()
    X[2, 1] = value
    return X


@pytest.mark.parametrize("func,call", ENTRY_POINTS, ids=EP_IDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("which", ["X", "Y"])
def test_nonfinite_data_names_the_argument(func, call, bad, which):
    args = (_bad(bad), GOOD) if which == "X" else (GOOD, _bad(bad))
    with pytest.raises(ValueError, match=rf"^{func}: `{which}` must hold only finite values \(no NaN or inf\); got 1 non-finite entries$"):
        call(*args)


@pytest.mark.parametrize("func,call", ENTRY_POINTS, ids=EP_IDS)
def test_mismatched_feature_dimensions_show_both_shapes(func, call):
    with pytest.raises(ValueError, match=rf"^{func}: `X` and `Y` must have the same number of columns \(features\); "
                                         r"got X.shape=\(6, 3\) and Y.shape=\(4, 2\)$"):
        call(GOOD, np.ones((4, 2)))


@pytest.mark.parametrize("func,call", ENTRY_POINTS, ids=EP_IDS)
@pytest.mark.parametrize("which", ["X", "Y"])
def test_complex_data_is_a_type_error(func, call, which):
    C = GOOD.astype(complex)
    args = (C, GOOD) if which == "X" else (GOOD, C)
    with pytest.raises(TypeError, match=rf"^{func}: `{which}` must be real-valued; got dtype complex128$"):
        call(*args)


@pytest.mark.parametrize("func,call", ENTRY_POINTS, ids=EP_IDS)
@pytest.mark.parametrize("bad,shape", [(np.ones(5), r"\(5,\)"), (np.ones((0, 3)), r"\(0, 3\)"), (np.ones((4, 0)), r"\(4, 0\)"),
                                       (np.ones((2, 2, 3)), r"\(2, 2, 3\)"), (np.float64(1.0), r"\(\)")])
def test_empty_or_not_2d_data(func, call, bad, shape):
    with pytest.raises(ValueError, match=rf"^{func}: `X` must (be a 2-D array of shape \(n, d\)|have at least 1 row\(s\) and one column); got shape {shape}$"):
        call(bad, GOOD)


@pytest.mark.parametrize("func,call", ENTRY_POINTS, ids=EP_IDS)
def test_non_numeric_data_is_a_type_error(func, call):
    with pytest.raises(TypeError, match=rf"^{func}: `X` must hold real numbers; got dtype <U1$"):
        call(np.array([["a", "b", "c"]]), GOOD)
    with pytest.raises(TypeError, match=rf"^{func}: `X` must be an array-like of numbers; got"):
        call({"a": 1}, GOOD)


def test_diag_entry_point_validates():
    with pytest.raises(ValueError, match=r"^Gaussian.diag: `X` must hold only finite values"):
        ka.Gaussian(1.0).diag(_bad(np.nan))
    with pytest.raises(ValueError, match=r"^Polynomial.diag: `X` must be a 2-D array"):
        ka.Polynomial().diag(np.ones(3))


@pytest.mark.parametrize("make,msg", [
    (lambda: ka.Gaussian(0), "Gaussian: `bandwidth` must be > 0; got 0.0"),
    (lambda: ka.Gaussian(-0.5), "Gaussian: `bandwidth` must be > 0; got -0.5"),
    (lambda: ka.Laplacian(-1), "Laplacian: `bandwidth` must be > 0; got -1.0"),
    (lambda: ka.Matern(nu=0.5, bandwidth=0), "Matern: `bandwidth` must be > 0; got 0.0"),
    (lambda: ka.Exponential(0), "Exponential: `temperature` must be > 0; got 0.0"),
    (lambda: ka.Exponential(-2), "Exponential: `temperature` must be > 0; got -2.0"),
    (lambda: kernels.get("gaussian", bandwidth=-1), "Gaussian: `bandwidth` must be > 0; got -1.0"),
    (lambda: kernels.get("softmax", temperature=0), "Exponential: `temperature` must be > 0; got 0.0"),
])
def test_nonpositive_bandwidth_and_temperature(make, msg):
    with pytest.raises(ValueError) as exc:
        make()
    assert str(exc.value) == msg


def test_bandwidth_of_wrong_type():
    with pytest.raises(TypeError, match=r"^Gaussian: `bandwidth` must be a real number; got '2'$"):
        ka.Gaussian("2")
    with pytest.raises(TypeError, match=r"^Exponential: `temperature` must be a real number; got True$"):
        ka.Exponential(True)


def test_unknown_kernel_name_lists_known_ones():
    with pytest.raises(ValueError) as exc:
        kernels.get("gaussain")
    known = ", ".join(repr(k) for k in kernels.available())
    assert str(exc.value) == f"kernels.get: `name` must be one of {known}; got 'gaussain'"


@pytest.mark.parametrize("func, call", [("KernelMatrix", lambda: ka.KernelMatrix("gaussain", GOOD)),
                                        ("kernel_matvec", lambda: ka.kernel_matvec("gaussain", GOOD, GOOD, np.ones(6)))])
def test_unknown_kernel_name_names_the_callers_kernel_argument(func, call):
    with pytest.raises(ValueError) as exc:
        call()
    msg = str(exc.value)
    assert msg.startswith(f"{func}: `kernel` must be") and msg.endswith("got 'gaussain'")
    assert all(repr(k) in msg for k in kernels.available())


# ---- the helpers themselves ---------------------------------------------------------------------
def test_fail_template_and_types():
    e = v.fail("f", "p", "be > 0", -1)
    assert isinstance(e, ValueError) and str(e) == "f: `p` must be > 0; got -1"
    assert isinstance(v.fail("f", "p", "c", 1, TypeError), TypeError)


def test_check_points_normalises():
    assert v.check_points([[1, 2], [3, 4]], "f").dtype == np.float64
    assert v.check_points(np.ones((2, 2), np.float32), "f").dtype == np.float32
    assert v.check_points(np.ones((2, 2), np.float16), "f").dtype == np.float64
    assert v.check_points(np.ones((2, 2), bool), "f").dtype == np.float64
    F = np.asfortranarray(np.ones((3, 2)))
    assert v.check_points(F, "f").flags.c_contiguous
    assert v.check_points(np.ones(3), "f", allow_1d=True).shape == (3, 1)
    assert v.check_points(np.ones((3, 2)), "f", dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError, match=r"f: `X` must have at least 2 row\(s\) and one column; got shape \(1, 2\)"):
        v.check_points(np.ones((1, 2)), "f", min_rows=2)


def test_check_matrix():
    assert v.check_matrix(np.ones(3), "f", "V", ndim=None).shape == (3,)
    with pytest.raises(ValueError, match=r"f: `V` must be a 2-D array; got shape \(3,\)"):
        v.check_matrix(np.ones(3), "f", "V")
    with pytest.raises(ValueError, match=r"f: `V` must be non-empty; got shape \(0, 2\)"):
        v.check_matrix(np.ones((0, 2)), "f", "V")
    with pytest.raises(ValueError, match=r"f: `V` must hold only finite values \(no NaN or inf\); got 2 non-finite entries"):
        v.check_matrix(np.array([[np.nan, np.inf]]), "f", "V")


def test_check_scalars():
    assert v.check_positive(2, "f", "a") == 2.0
    assert v.check_positive(0, "f", "a", allow_zero=True) == 0.0
    with pytest.raises(ValueError, match=r"f: `a` must be >= 0; got -1.0"):
        v.check_positive(-1, "f", "a", allow_zero=True)
    with pytest.raises(TypeError, match=r"f: `a` must be a real number; got True"):
        v.check_positive(True, "f", "a")
    assert v.check_probability(0.1, "f", "delta") == 0.1
    for bad in (0, 1, 1.5):
        with pytest.raises(ValueError, match=r"f: `delta` must lie in the open interval \(0, 1\)"):
            v.check_probability(bad, "f", "delta")
    assert v.check_int(3, "f", "k", low=1, high=5) == 3
    assert v.check_int(4.0, "f", "k") == 4
    assert v.check_int(np.int32(2), "f", "k") == 2
    with pytest.raises(ValueError, match=r"f: `k` must lie in \[1, 5\]; got 6"):
        v.check_int(6, "f", "k", low=1, high=5)
    with pytest.raises(ValueError, match=r"f: `k` must be >= 1; got 0"):
        v.check_int(0, "f", "k", low=1)
    with pytest.raises(TypeError, match=r"f: `k` must be an integer; got 2.5"):
        v.check_int(2.5, "f", "k")
    with pytest.raises(TypeError, match=r"f: `k` must be an integer; got True"):
        v.check_int(True, "f", "k")
    assert v.check_bool(np.bool_(True), "f", "b") is True and v.check_bool(False, "f", "b") is False
    for bad in (1, 0, "yes", None):
        with pytest.raises(TypeError, match=r"f: `b` must be a bool; got"):
            v.check_bool(bad, "f", "b")


def test_check_indices_and_choice():
    assert v.check_indices([2, 0, 2], 3, "f").dtype == np.intp
    assert v.check_indices(1, 3, "f").shape == (1,)
    assert v.check_indices([1.0, 2.0], 3, "f").tolist() == [1, 2]
    assert v.check_indices([], 3, "f", allow_empty=True).size == 0
    with pytest.raises(ValueError, match=r"f: `idx` must hold indices in \[0, 3\); got max 3"):
        v.check_indices([0, 3], 3, "f")
    with pytest.raises(ValueError, match=r"f: `idx` must hold indices in \[0, 3\); got min -1"):
        v.check_indices([-1], 3, "f")
    with pytest.raises(ValueError, match=r"f: `idx` must be a 1-D array of indices; got shape \(1, 2\)"):
        v.check_indices([[0, 1]], 3, "f")
    with pytest.raises(TypeError, match=r"f: `idx` must hold integers; got dtype bool"):
        v.check_indices([True, False], 3, "f")
    assert v.check_choice("eig", ("eig", "pinv"), "f", "core") == "eig"
    with pytest.raises(ValueError, match=r"f: `core` must be one of 'eig', 'pinv'; got 'chol'"):
        v.check_choice("chol", ("eig", "pinv"), "f", "core")


def test_as_generator_and_working_dtype():
    g = np.random.default_rng(1)
    assert v.as_generator(g) is g
    assert v.as_generator(5).integers(100) == np.random.default_rng(5).integers(100)
    assert isinstance(v.as_generator(None), np.random.Generator)
    assert isinstance(v.as_generator(np.random.SeedSequence(3)), np.random.Generator)
    with pytest.raises(TypeError, match="RandomState"):
        v.as_generator(np.random.RandomState(0))
    for bad in ("seed", 1.5, True, -3, object()):
        with pytest.raises(TypeError, match=r"^f: `rng` must be None, an int seed"):
            v.as_generator(bad, "f")
    f32, f64 = np.ones(2, np.float32), np.ones(2)
    assert v.working_dtype(f32, f32) == np.float32
    assert v.working_dtype(f32, f64) == np.float64
    assert v.working_dtype(f32, None) == np.float32


def test_warn_uses_the_library_category():
    def public():
        v.warn("careful")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        public()
    assert rec[0].category is ka.KernapproxWarning and issubclass(ka.KernapproxWarning, UserWarning)
    assert rec[0].filename == __file__          # stacklevel points at the caller of the public function


def test_cli_version():
    out = subprocess.run([sys.executable, "-m", "kernapprox", "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == f"kernapprox {ka.__version__}"
    exe = shutil.which("kernapprox")
    if exe is not None:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and ka.__version__ in out.stdout


# ---- the shared contract helpers ----------------------------------------------------------------
def test_check_real_and_rcond():
    assert v.check_real(0.5, "f", "t", low=0, high=1) == 0.5
    for bad, exc in [(np.nan, ValueError), (np.inf, ValueError), (True, TypeError), ("abc", TypeError),
                     (1j, TypeError), (None, TypeError), ([1.0], TypeError)]:
        with pytest.raises(exc, match=r"^f: `t` must be"):
            v.check_real(bad, "f", "t", low=0, high=1)
    with pytest.raises(ValueError, match=r"^f: `t` must be a finite number in \(0, 1\]; got 0.0$"):
        v.check_real(0.0, "f", "t", low=0, high=1, low_open=True)
    assert v.check_rcond(None, "f") is None and v.check_rcond(1e-8, "f") == 1e-8
    for bad in (np.nan, np.inf, -1e-3, 1.0, 2.0):
        with pytest.raises(ValueError, match=r"^f: `rcond` must be a finite number in \[0, 1\)"):
            v.check_rcond(bad, "f")
    with pytest.raises(TypeError, match=r"^f: `rcond` must be a real number; got True$"):
        v.check_rcond(True, "f")


def test_check_options_memory_and_int_cap():
    v.check_options({"a": 1}, ["a", "b"], "f")
    with pytest.raises(TypeError, match=r"^f: got unexpected keyword argument\(s\) 'c', 'd'; the accepted options are: a, b$"):
        v.check_options({"a": 1, "c": 2, "d": 3}, ["a", "b"], "f")
    v.check_memory(1024, "f", "k", 3)
    with pytest.raises(ValueError, match=r"^f: `k` must fit in the available memory \(.*\); this request needs about "
                                         r"8 EiB|^f: `k` must fit in the available memory"):
        v.check_memory(2 ** 63, "f", "k", 10 ** 12)
    with pytest.raises(ValueError, match=r"^f: `m` must fit in the available memory"):
        v.check_size_product("f", {"m": 10 ** 12, "d": 3})
    with pytest.raises(ValueError, match=r"^f: `k` must be <= 9223372036854775807; got 1180591620717411303424$"):
        v.check_int(2 ** 70, "f", "k")
    for bad in (np.nan, np.inf, 2.5, "3", np.bool_(True)):
        with pytest.raises(TypeError, match=r"^f: `k` must be an integer"):
            v.check_int(bad, "f", "k")


def test_check_symmetric_is_randomized_and_cheap():
    r = np.random.default_rng(0)
    A = r.normal(size=(50, 50))
    S = A + A.T
    v.check_symmetric(S.__matmul__, 50, "f", "A")
    v.check_symmetric((S * 1e-200).__matmul__, 50, "f", "A")          # scale-invariant
    assert v.symmetry_gap(S.__matmul__, 50)[0]
    E = S.copy()
    E[3, 7] += 1e-6 * np.abs(S).max()                                   # tiny, but far above rounding
    with pytest.raises(ValueError, match=r"^f: `A` must be symmetric; got a matrix with relative asymmetry"):
        v.check_symmetric(E.__matmul__, 50, "f", "A")
    calls = []

    def mv(W):
        calls.append(W.shape)
        return S @ W
    v.check_symmetric(mv, 50, "f", "A")
    assert calls == [(50, 2 * v.SYMMETRY_PROBES)]                       # one block product, nothing else


def test_check_kernel_names_the_callers_argument():
    assert isinstance(v.check_kernel("rbf", "f"), ka.Gaussian)
    with pytest.raises(ValueError, match=r"^f: `kernel` must be a kernapprox Kernel or a kernel name \(.*\); got 'gaussain'$"):
        v.check_kernel("gaussain", "f")
    with pytest.raises(TypeError, match=r"^f: `kernel` must be a kernapprox Kernel or a kernel name; got int$"):
        v.check_kernel(3, "f")


def test_warn_points_at_the_first_frame_outside_the_package():
    """However deep the library chain, the warning is attributed to the caller's line."""
    X = np.zeros((10, 2))
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ka.sample_landmarks(KM, 3, method="greedy")          # sampling -> cholesky -> _validation.warn
    assert rec and {w.filename for w in rec} == {__file__}


@pytest.mark.parametrize("scale", [0.0, 1e-300, 3e-8, 0.75, 1.0, 2.0, 1e5, 1.7e308])
def test_pow2_exponent_is_the_frexp_rule_of_its_three_former_sites(scale):
    """One rescaling rule: the exponents the kernels' overflow-free inner product, the distance frame of
    the numba paths and the randomized symmetry test each computed by their own frexp expression."""
    import math
    A = scale * np.random.default_rng(0).uniform(-1, 1, size=(7, 3))
    e = v.pow2_exponent(A)
    assert e == (int(np.frexp(np.abs(A).max())[1]) if A.size else 0)                 # kernels._scaled_dot
    mx = float(np.max(np.abs(A)))
    assert e == (math.frexp(mx)[1] if 0.0 < mx < np.inf else 0)                      # symmetry_gap
    if mx > 0:
        m, e_old = math.frexp(mx)                                                    # distance_frame
        assert e == e_old and (m > 1.0 - 2.0 ** -20) == (mx > math.ldexp(1.0 - 2.0 ** -20, e))
        assert np.all(np.abs(np.ldexp(A, -e)) < 1.0)
    assert v.pow2_exponent(np.empty((0, 3))) == 0 and v.pow2_exponent(np.array([np.inf])) == 0


def test_deprecated_alias_warns_at_the_callers_line_and_refuses_both_names():
    with pytest.warns(DeprecationWarning, match=r"^f: `rank` is deprecated, use `k` \(same meaning\)$") as rec:
        assert v.deprecated_alias("f", "rank", 5, "k", None) == 5
    assert rec[0].filename == __file__
    assert v.deprecated_alias("f", "rank", None, "k", 7) == 7
    with pytest.warns(DeprecationWarning):
        assert v.deprecated_alias("f", "rank", 3, "k", 16, new_default=16) == 3
    with pytest.raises(TypeError, match=r"^f: got both `k` and its deprecated alias `rank`; pass `k` only$"):
        v.deprecated_alias("f", "rank", 3, "k", 4, new_default=16)
