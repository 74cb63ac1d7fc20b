"""Plain numpy references for the jitted kernels (the slow obvious formulas).

Each routine of :mod:`kernapprox._numba.dense` is tested against these (``tests/test_numba.py``):

=============================  =========================================================
jitted                         reference
=============================  =========================================================
``exp64`` / ``exp32``          ``np.exp`` (float64 / float32), within 2 ulp
``block_kernel`` (Gaussian)    :func:`gaussian_block_numpy`
``block_kernel`` (exponential) :func:`exponential_block_numpy`
``matvec_kernel``              :func:`gaussian_matvec_numpy`, :func:`exponential_matvec_numpy`
=============================  =========================================================
"""
import numpy as np

__all__ = ["sqdist_numpy", "gaussian_block_numpy", "exponential_block_numpy", "gaussian_matvec_numpy",
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
