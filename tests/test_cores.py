"""PSD core policies (kernapprox._cores.psd_core, sym_core): exact regimes, duplicates, bad input."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import kernapprox as ka
from kernapprox._cores import (EIG_RCOND, SHIFT_DROP_MULTIPLE, SHIFT_EPS_MULTIPLE, psd_core, sym_core)


def _gauss_block(rng, k=25, dup=0, bw=1.0):
    Z = rng.normal(size=(k, 3))
    if dup:
        Z = np.vstack([Z, Z[:dup]])
    return ka.Gaussian(bw)(Z)


def _root(W, core, **kw):
    pc = psd_core(W, core, **kw)
    C = np.eye(W.shape[0])               # F = C[:, cols] R  with C = I  gives R padded: W^† ≈ F Fᵀ
    F = pc.apply(C)
    return pc, F @ F.T


@pytest.mark.parametrize("core", ["shifted_cholesky", "eig", "pinv"])
def test_well_conditioned_core_is_the_inverse(core, rng):
    A = rng.normal(size=(20, 20))
    W = A @ A.T + 20 * np.eye(20)
    pc, Winv = _root(W, core)
    assert pc.rank == 20 and pc.meta["dropped"] == 0
    np.testing.assert_allclose(Winv, np.linalg.inv(W), rtol=1e-9, atol=1e-12)


def test_ridge_core_is_the_ridge_inverse(rng):
    W = _gauss_block(rng)
    pc, Winv = _root(W, "ridge", lam=0.1)
    np.testing.assert_allclose(Winv, np.linalg.inv(W + 0.1 * np.eye(W.shape[0])), rtol=1e-9)
    with pytest.raises(ValueError, match="`lam` must be given"):
        psd_core(W, "ridge")
    with pytest.raises(ValueError, match="`lam` must be > 0"):
        psd_core(W, "ridge", lam=-1.0)


def test_shifted_cholesky_drops_every_exact_duplicate():
    """An exact duplicate leaves a pivot ≈ 2ν ± rounding: the 4ν cut always drops it (a 2ν cut
    would keep it about half the time)."""
    rng = np.random.default_rng(7)
    for _ in range(100):
        W = _gauss_block(rng, k=30, dup=10)
        pc = psd_core(W)
        assert pc.meta["dropped"] == 10 and pc.rank == 30
        assert len(set(pc.cols.tolist())) == 30
    assert SHIFT_DROP_MULTIPLE > 2


def test_shifted_cholesky_is_dominated_by_pinv(rng):
    """(W_S + νI)⁻¹ on the kept set gives C W_S⁻¹ Cᵀ minus a PSD term: F Fᵀ ⪯ C W^† Cᵀ."""
    X = rng.normal(size=(60, 2))
    K = ka.Gaussian(0.3)(X)
    idx = np.r_[np.arange(0, 60, 3), [0, 3]]
    C, W = K[:, idx], K[np.ix_(idx, idx)]
    pc = psd_core(W)
    F = pc.apply(C)
    ref = C @ np.linalg.pinv(W, hermitian=True) @ C.T
    tol = 1e3 * np.finfo(float).eps * np.linalg.cond(W) * np.linalg.norm(C, 2) ** 2
    assert np.linalg.eigvalsh(ref - F @ F.T).min() >= -tol
    assert np.linalg.eigvalsh(K - F @ F.T).min() >= -1e-10
    assert pc.meta["shift"] == pytest.approx(SHIFT_EPS_MULTIPLE * np.finfo(float).eps * np.trace(W))


def test_shift_follows_data_eps():
    W = np.eye(4)
    assert psd_core(W, eps=np.finfo(np.float32).eps).meta["shift"] == pytest.approx(
        SHIFT_EPS_MULTIPLE * np.finfo(np.float32).eps * 4)


def test_eig_core_drops_small_and_negative_eigenvalues(rng):
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    lam = np.array([5.0, 2.0, 1.0, 1e-14, -1e-13, -3.0])
    W = (Q * lam) @ Q.T
    pc = psd_core(W, "eig")
    assert pc.rank == 3 and pc.meta["dropped"] == 3 and pc.meta["negative_dropped"] == 1   # only -3 is significantly < 0
    assert pc.meta["rcond"] == EIG_RCOND
    U, inv, meta = sym_core(W)
    assert U.shape[1] == 4 and meta["negative_kept"] == 1     # -3 kept, the ±1e-13 ones dropped
    np.testing.assert_allclose(np.sort(inv), np.sort(1 / lam[[0, 1, 2, 5]]))


def test_bad_input():
    with pytest.raises(ValueError, match="`core` must be one of"):
        psd_core(np.eye(3), "newton_schulz")
    with pytest.raises(ValueError, match="positive trace"):
        psd_core(np.zeros((3, 3)))


@given(seed=st.integers(0, 2**31 - 1), k=st.integers(2, 30), dup=st.integers(0, 5),
       core=st.sampled_from(["shifted_cholesky", "eig", "pinv"]))
def test_core_root_never_exceeds_pinv_on_the_range(seed, k, dup, core):
    """For every PSD core, W F Fᵀ W ⪯ W (Nyström of W by itself never overshoots W)."""
    rng = np.random.default_rng(seed)
    W = _gauss_block(rng, k=k, dup=min(dup, k), bw=rng.uniform(0.3, 3.0))
    pc = psd_core(W, core)
    F = pc.apply(W)
    E = W - F @ F.T
    assert np.linalg.eigvalsh(0.5 * (E + E.T)).min() >= -1e-8 * np.linalg.norm(W, 2)
