"""PSDCore.apply gathers the kept columns tile by tile (no whole copy): same F, bit for bit, as the
factor applied to an explicit copy ``C[:, cols]``, for every layout and dtype of C."""
import numpy as np
import pytest

from kernapprox._cores import psd_core


@pytest.mark.parametrize("core", ["shifted_cholesky", "eig"])
@pytest.mark.parametrize("layout", ["C", "F", "int", "float32"])
def test_apply_gather_equals_explicit_copy(core, layout):
    g = np.random.default_rng(0)
    n, k = 9000, 40                          # several tiles (and gather sub-blocks) of rows
    X = g.normal(size=(n, 3))
    idx = g.choice(n, k, replace=False)
    C = np.exp(-0.5 * ((X[:, None, :] - X[idx][None, :, :]) ** 2).sum(-1))
    C[:, 5] = C[:, 3]                         # a duplicate landmark: the shifted Cholesky drops one
    W = C[idx]
    W[:, 5] = W[:, 3]
    W[5] = W[3]
    pc = psd_core(W, core, eps=np.finfo(float).eps, func="test")
    if layout == "F":
        C = np.asfortranarray(C)
    elif layout == "int":
        C = np.round(C * 100).astype(np.int64)
    elif layout == "float32":
        C = C.astype(np.float32)
    if core == "shifted_cholesky":                # pivoted: a permutation without the duplicate
        assert not np.array_equal(pc.cols, np.arange(k))
    in_dt = C.dtype if C.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    Ck = C[:, pc.cols]

    def fill(i0, i1, T):
        T[...] = Ck[i0:i1]
        return T
    ref = pc.apply_tiled(fill, n, in_dt, np.float64)
    np.testing.assert_array_equal(pc.apply(C), ref)
