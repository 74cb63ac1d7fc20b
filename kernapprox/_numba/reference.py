"""Plain numpy references for the jitted kernels (the slow obvious formulas)."""
import numpy as np


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
    D = sqdist_numpy(X, Y)
    D *= -0.5 / (bandwidth * bandwidth)
    return np.exp(D, out=D)


def exponential_block_numpy(X, Y, temperature):
    G = X @ Y.T
    G *= 1.0 / temperature
    return np.exp(G, out=G)
