"""Private jitted kernels (design.md §4.5). Public code calls only the dispatch functions here.

``gaussian_block`` / ``exponential_block`` compute dense kernel blocks; the plain numpy formulas in
:mod:`kernapprox._numba.reference` are the references every jitted routine is tested against.
"""
from .reference import gaussian_block_numpy, exponential_block_numpy

__all__ = ["gaussian_block", "exponential_block", "kernel_matvec_fast", "gaussian_block_numpy", "exponential_block_numpy"]


def gaussian_block(X, Y, bandwidth):
    """K[i, j] = exp(-||x_i - y_j||² / (2 bandwidth²)); X, Y same dtype, C-contiguous."""
    return gaussian_block_numpy(X, Y, bandwidth)


def exponential_block(X, Y, temperature):
    """K[i, j] = exp(x_i·y_j / temperature)."""
    return exponential_block_numpy(X, Y, temperature)


def kernel_matvec_fast(kernel, X, Y, V, acc_dtype):
    """Fused, parallel K(X, Y) @ V for kernels with a jitted path; None means "use the numpy tiles"."""
    return None
