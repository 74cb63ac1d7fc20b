"""Chen, Epperly, Tropp & Webber (RPCholesky): on data with far outliers, uniform landmark sampling misses
the outliers, while randomly pivoted Cholesky, which samples pivots ∝ the residual diagonal, picks them
up and attains a much smaller trace error tr(K − K̂) at the same k.

Source: Y. Chen, E. N. Epperly, J. A. Tropp, R. J. Webber, "Randomly pivoted Cholesky: practical
approximation of a kernel matrix with few entry evaluations", CPAM 2025 (arXiv 2207.06503), §4 and the
outlier example discussed there; the claim tested: RPCholesky's trace error is lower than uniform's
on outliers. Measured with the ``samplers`` experiment (data set ``outliers``).

Decision rule (fixed in advance): at every k of the sweep, the median relative trace error over trials of
RPCholesky (simple) is <= that of uniform sampling. Failure probability of the QUICK configuration: the
outliers (2.5% of the points) are each a separate near-orthogonal direction of K; uniform sampling of
k = 10 landmarks out of 200 misses a given outlier with probability ≈ 0.95, RPCholesky picks them with
probability ∝ their residual diagonal (≈ 1 each vs the cluster's ≈ 0 after a few steps) — a reversal
of the medians has probability far below 1%.
"""
import numpy as np


def test_rpcholesky_beats_uniform_on_outliers(experiment, claim):
    c = claim("RPCholesky's trace error is <= uniform sampling's on a cluster-plus-outliers data set",
              "Chen, Epperly, Tropp & Webber, CPAM 2025 (arXiv 2207.06503), §4")
    data = experiment("samplers")
    meta = data["meta"]
    a = meta["datasets"].index("outliers")
    rp, un = meta["methods"].index("rpcholesky"), meta["methods"].index("uniform")
    med = np.nanmedian(data["trace_error"][a], axis=-1)              # (method, k)
    assert np.all(np.isfinite(med[[rp, un]])), "broken check: non-finite trace errors"
    ratio = med[rp] / med[un]
    c.measured(k=f"{np.asarray(data['ks']).tolist()}", rpcholesky=f"{np.round(med[rp], 4).tolist()}",
               uniform=f"{np.round(med[un], 4).tolist()}", max_ratio=ratio.max())
    c.band("max_ratio_rpcholesky_over_uniform", ratio.max(), 0.0, 1.0)
