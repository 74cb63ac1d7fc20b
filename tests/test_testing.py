"""Tests for kernapprox.testing: tol_for, dottest, assert_matches_oracle."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla
from hypothesis import given, settings
from hypothesis import strategies as st

import kernapprox as ka
from kernapprox import oracle
from kernapprox.testing import (DOTTEST_MULTIPLE, RTOL_MULTIPLE, UNIT_ROUNDOFF, Tolerance, assert_matches_oracle,
                                dottest, tol_for)


# -------------------------------------------------------------------------------------------------
# tol_for
# -------------------------------------------------------------------------------------------------
def test_tol_for_is_ordered_by_precision_and_grows_like_sqrt_length():
    names = ["float64", "float32", "float16", "bfloat16"]
    rt = [tol_for(n).rtol for n in names]
    assert rt == sorted(rt) and len(set(rt)) == 4
    t = tol_for("float32")
    assert isinstance(t, Tolerance) and t.rtol == RTOL_MULTIPLE * 2.0 ** -24
    assert tol_for("float32", length=100).rtol == pytest.approx(10 * t.rtol)
    assert tol_for(np.float32) == t == tol_for(np.dtype("float32"))
    assert tol_for("bfloat16").rtol == RTOL_MULTIPLE * UNIT_ROUNDOFF["bfloat16"]


def test_tol_for_bad_input():
    with pytest.raises(TypeError, match="tol_for: `dtype` must be one of"):
        tol_for("int32")
    with pytest.raises(ValueError, match="`length`"):
        tol_for("float32", length=0)


def test_tol_for_accepts_torch_dtypes():
    torch = pytest.importorskip("torch")
    assert tol_for(torch.bfloat16) == tol_for("bfloat16")
    assert tol_for(torch.float16) == tol_for("float16")


def test_tol_for_covers_a_float32_matmul(rng):
    # a float32 product of length L = 256 stays within tol_for(float32, length=L) of float64
    A, B = rng.normal(size=(64, 256)), rng.normal(size=(256, 32))
    exact = A @ B
    got = (A.astype(np.float32) @ B.astype(np.float32)).astype(np.float64)
    t = tol_for("float32", length=256)
    scale = np.abs(A) @ np.abs(B)
    assert np.all(np.abs(got - exact) <= t.rtol * scale + t.atol)


# -------------------------------------------------------------------------------------------------
# dottest
# -------------------------------------------------------------------------------------------------
def test_dottest_passes_for_correct_operators(rng):
    X = rng.normal(size=(60, 3))
    KM = ka.KernelMatrix(ka.Gaussian(1.0), X, X[:25])                 # rectangular, matvec/rmatvec
    assert dottest(KM, rng=0) < DOTTEST_MULTIPLE * 2.0 ** -53 * np.sqrt(85)
    assert dottest(KM.as_operator(), rng=1) < 1e-13
    assert dottest(rng.normal(size=(7, 4)), rng=2) < 1e-13           # dense: @ and .T
    F = ka.nystrom(ka.KernelMatrix(ka.Gaussian(1.0), X), np.arange(10))
    assert dottest(F, rng=3) < 1e-13
    A32 = rng.normal(size=(30, 20)).astype(np.float32)
    assert dottest(A32, rng=4) <= DOTTEST_MULTIPLE * 2.0 ** -24 * np.sqrt(50)


def test_dottest_catches_a_wrong_adjoint(rng):
    A = rng.normal(size=(12, 9))
    bad = spla.LinearOperator(A.shape, matvec=lambda x: A @ x, rmatvec=lambda y: 1.01 * (A.T @ y))
    with pytest.raises(AssertionError, match="not the adjoint"):
        dottest(bad, rng=0)
    S = rng.normal(size=(8, 8))
    not_transposed = spla.LinearOperator(S.shape, matvec=lambda x: S @ x, rmatvec=lambda y: S @ y)
    with pytest.raises(AssertionError, match="not the adjoint"):
        dottest(not_transposed, rng=0)
    class WrongShape:
        shape = (5, 4)

        def matvec(self, x):
            return np.zeros(5)

        def rmatvec(self, y):
            return np.zeros(3)

    with pytest.raises(AssertionError, match="shape"):
        dottest(WrongShape(), rng=0)


def test_dottest_bad_input():
    with pytest.raises(TypeError, match="dottest: `op` must have a 2-D"):
        dottest(object())
    with pytest.raises(ValueError, match="n_trials"):
        dottest(np.eye(3), n_trials=0)


@settings(max_examples=15)
@given(m=st.integers(1, 20), n=st.integers(1, 20), seed=st.integers(0, 2 ** 16))
def test_dottest_invariant_for_random_dense_and_lowrank(m, n, seed):
    g = np.random.default_rng(seed)
    A = g.normal(size=(m, n))
    assert dottest(A, rng=seed) < 1e-13
    L, R = g.normal(size=(m, 2)), g.normal(size=(n, 2))
    assert dottest(ka.LowRank(L, R), rng=seed) < 1e-13


# -------------------------------------------------------------------------------------------------
# assert_matches_oracle
# -------------------------------------------------------------------------------------------------
def test_assert_matches_oracle_passes_and_fails_with_a_clear_message():
    c = oracle.case("skyformer", n=64, p=16, d=8, heads=2, variant="code")
    r = assert_matches_oracle(ka.attention.approximate(**c.inputs, method=c.method, **c.options), c)
    assert r.passed and r.max_abs_error <= c.tolerance
    wrong = c.reference(options={**c.options, "normalise": False})
    with pytest.raises(AssertionError, match=r"FAIL oracle skyformer/code .*worst at \(batch, head, row\)"):
        assert_matches_oracle(wrong, c)


def test_assert_matches_oracle_mentions_an_ill_posed_core():
    c = oracle.case("nystromformer", n=64, p=16, d=8, variant="pinv", dtype="bfloat16")
    assert c.tolerance_detail["ill_posed"]
    with pytest.raises(AssertionError, match="ill-posed in bfloat16"):
        assert_matches_oracle(c.expected + 10 * c.tolerance, c)
