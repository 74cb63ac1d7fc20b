"""Plain numpy references for the jitted kernels (the slow obvious formulas).

Each routine of :mod:`kernapprox._numba.dense` is tested against these (``tests/test_numba.py``):

=============================  =========================================================
jitted                         reference
=============================  =========================================================
``exp64`` / ``exp32``          ``np.exp`` (float64 / float32), within 2 ulp
``direct_exponent``            :func:`direct_exponent_numpy`
``block_kernel`` (Gaussian)    :func:`gaussian_block_numpy`, and ``exp(-cdist(X, Y, "sqeuclidean") / 2h²)``
``block_kernel`` (exponential) :func:`exponential_block_numpy`
``matvec_kernel``              :func:`gaussian_matvec_numpy`, :func:`exponential_matvec_numpy`
=============================  =========================================================
"""
import numpy as np

__all__ = ["sqdist_numpy", "direct_exponent_numpy", "direct_scaled_distance_numpy", "gaussian_block_numpy", "exponential_block_numpy", "gaussian_matvec_numpy",
           "exponential_matvec_numpy"]


def sqdist_numpy(X, Y):
    """Squared Euclidean distances ``||x_i - y_j||²`` by the GEMM expansion, clipped at 0."""
    xx = np.einsum("ij,ij->i", X, X)
    yy = np.einsum("ij,ij->i", Y, Y)
    D = X @ Y.T
    D *= -2
    D += xx[:, None]
    D += yy[None, :]
    np.maximum(D, 0, out=D)
    return D


def direct_scaled_distance_numpy(A, B, bandwidth, p=2):
    """Row-wise ``||a_i - b_i||_p / bandwidth`` (p = 1 or 2) by direct differences, as ``(s, R)`` with the
    distance over the bandwidth equal to ``s^(1/p) · R``; overflow- and underflow-free at every scale.

    With ``a = max_k |a_ik - b_ik| = am·2^ea`` (frexp) and ``h = hm·2^eh``: ``s = Σ_k |Δ_k 2^-ea|^p`` lies
    in [2^-p, d] and ``R = ldexp(1/hm, ea - eh)`` (exact power-of-two arithmetic; inf when the ratio
    exceeds the float64 range, where the kernel value 0 is exact). Rows with ``a == 0`` give ``s = 0``;
    differences below 2^-1000 are treated as 0 (with bandwidth >= 2^-500 they change the value by less
    than 2^-500 relative). float64, O(n d).
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        D = A - B
        a = np.abs(D).max(axis=1) if D.shape[1] else np.zeros(D.shape[0])
        am, ea = np.frexp(a)
        tiny = ea < -1000
        big = ~np.isfinite(a)
        ea = np.where(tiny | big, 0, ea)
        D *= np.ldexp(1.0, -ea)[:, None]
        s = np.einsum("ij,ij->i", D, D) if p == 2 else np.abs(D).sum(axis=1)
        hm, eh = np.frexp(float(bandwidth))
        R = np.ldexp(1.0 / hm, ea - eh)
        s[tiny] = 0.0
        R[tiny] = 0.0
        s[big] = 1.0
        R[big] = np.inf
    return s, R


def direct_exponent_numpy(A, B, hm, eh):
    """Row-wise Gaussian exponent ``-||a_i - b_i||² / (2 h²)`` with ``h = hm·2^eh`` by direct differences
    (reference of :func:`kernapprox._numba.dense.direct_exponent`): ``-inf`` where it underflows every
    dtype, 0 for coincident rows. Relative error <= (d + 3) u."""
    s, R = direct_scaled_distance_numpy(A, B, np.ldexp(hm, eh))
    with np.errstate(over="ignore", invalid="ignore"):
        t = -0.5 * s * (R * R)
    t[s == 0] = 0.0
    return t


def gaussian_block_numpy(X, Y, bandwidth):
    """``exp(-||x_i - y_j||² / (2 bandwidth²))``, shape (n, m), dtype of X and Y (dense, in place)."""
    D = sqdist_numpy(X, Y)
    D *= -0.5 / (bandwidth * bandwidth)
    return np.exp(D, out=D)


def exponential_block_numpy(X, Y, temperature):
    """``exp(x_i·y_j / temperature)``, shape (n, m) (inf where it overflows)."""
    G = X @ Y.T
    G *= 1.0 / temperature
    return np.exp(G, out=G)


def gaussian_matvec_numpy(X, Y, V, bandwidth):
    """Dense ``K(X, Y) @ V`` for the Gaussian kernel: forms the whole n×m block (the memory anchor)."""
    return gaussian_block_numpy(X, Y, bandwidth) @ V


def exponential_matvec_numpy(X, Y, V, temperature):
    """Dense ``K(X, Y) @ V`` for the exponential kernel."""
    return exponential_block_numpy(X, Y, temperature) @ V
