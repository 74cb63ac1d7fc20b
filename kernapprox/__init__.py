"""kernapprox — kernel-matrix approximators with provable error metrics.

Nyström for PSD kernels and for the non-PSD query–key matrices of attention (Skyformer's augmented
Nyström), landmark samplers (RPCholesky, ridge leverage scores, k-means++, …), random features and
sketches, error metrics that need no n×n matrix, the papers' theorems as bound functions, experiments
that regenerate the papers' figures, and a float64 reference oracle for GPU attention kernels.

Notation glossary (used in every docstring; algorithms.md "Notation")
----------------------------------------------------------------------
n       number of points / sequence length        p   head dimension (attention)
d       input dimension, or number of landmarks / sampled columns where a paper says so
k       rank / number of landmarks of a PSD Nyström approximation
m       number of random features                 s   sketch size
λ       ridge / analysis parameter                δ   failure probability, ε relative error
Q, K, V query, key, value matrices (n, p); Q̂ = Q/p^¼, K̂ = K/p^¼
A = exp(QKᵀ/√p), D = diag(A1), softmax attention D⁻¹AV; C = κ(Q̂, K̂) (Skyformer's kernelized attention)

Public names are imported lazily (``import kernapprox`` stays cheap); see ``__all__``.
"""
from __future__ import annotations

import importlib

from ._validation import KernapproxWarning
from .kernels import Exponential, Gaussian, Kernel, Laplacian, Linear, Matern, Polynomial, Sigmoid
from .lowrank import LowRank, PSDLowRank, SymLowRank
from .matrix import KernelMatrix, kernel_matvec

__version__ = "0.1.0"

# name -> (module, attribute); resolved on first access
_LAZY = {
    "as_matrix": ("kernapprox._operators", "as_matrix"),
    "nystrom": ("kernapprox.nystrom_psd", "nystrom"),
    "sample_landmarks": ("kernapprox.sampling", "sample_landmarks"),
    "kmeans_centers": ("kernapprox.sampling", "kmeans_centers"),
    "rpcholesky": ("kernapprox.cholesky", "rpcholesky"),
    "greedy_cholesky": ("kernapprox.cholesky", "greedy_cholesky"),
    "augmented_nystrom": ("kernapprox.nystrom_general", "augmented_nystrom"),
    "indefinite_nystrom": ("kernapprox.nystrom_general", "indefinite_nystrom"),
    "generalized_nystrom": ("kernapprox.nystrom_general", "generalized_nystrom"),
    "skeleton_cur": ("kernapprox.nystrom_general", "skeleton_cur"),
    "spectral_error": ("kernapprox.metrics", "spectral_error"),
    "frobenius_error": ("kernapprox.metrics", "frobenius_error"),
    "trace_error": ("kernapprox.metrics", "trace_error"),
    "random_features": ("kernapprox.features", "random_features"),
    "make_sketch": ("kernapprox.sketch", "make_sketch"),
    "sketched_krr": ("kernapprox.krr", "sketched_krr"),
    "nystrom_krr": ("kernapprox.krr", "nystrom_krr"),
    "bootstrap_error_quantile": ("kernapprox.bootstrap", "bootstrap_error_quantile"),
}
_SUBMODULES = (
    "attention", "bounds", "bootstrap", "cholesky", "datasets", "distributed", "experiments", "features",
    "ffkernel",
    "kernels", "kpca", "krr", "lowrank", "matrix", "metrics", "nystrom_general", "nystrom_psd", "oracle",
    "sampling", "sketch", "sklearn", "testing",
)

__all__ = [
    "__version__", "KernapproxWarning",
    "Kernel", "Gaussian", "Laplacian", "Matern", "Polynomial", "Linear", "Sigmoid", "Exponential",
    "KernelMatrix", "kernel_matvec", "PSDLowRank", "SymLowRank", "LowRank",
    *_LAZY, *_SUBMODULES,
]


def __getattr__(name: str):
    if name in _LAZY:
        mod, attr = _LAZY[name]
        value = getattr(importlib.import_module(mod), attr)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"kernapprox.{name}")
    raise AttributeError(f"module 'kernapprox' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
