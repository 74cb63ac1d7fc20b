"""Sterge & Sriperumbudur (JMLR 2022): Nyström KPCA outperforms the random-feature approximation of KPCA.

Source: B. Sterge, B. K. Sriperumbudur, "Statistical optimality and computational efficiency of Nyström
kernel PCA", JMLR 23(337), 2022, abstract [S: "...outperforms the random feature approximation to KPCA"];
algorithms.md §5.1. Measured with the ``nystrom-kpca`` experiment: held-out reconstruction error in the
RKHS at equal m (landmarks vs random Fourier features).

Decision rule (fixed in advance): at every m of the sweep, the mean held-out error of Nyström KPCA
(uniform landmarks) is at most that of RF-KPCA with m features.

Caveat on what RF-KPCA means here: the reconstruction error lives in the RKHS, so the feature-space
eigenvectors are lifted to H through all n training points (:func:`kernapprox.kpca.rff_kpca`,
our construction [I]) — the lifted subspace lies in the span of the n training features, not of m
points, which favours RF-KPCA at small m. The abstract does not say how the paper compares the two.
"""
import numpy as np


def test_nystrom_kpca_beats_rf_kpca_at_equal_m(experiment, claim):
    c = claim("Nyström KPCA has lower held-out reconstruction error than random-feature KPCA at equal m",
              "Sterge & Sriperumbudur, JMLR 23(337) 2022, abstract [S]")
    data = experiment("nystrom-kpca")
    meta = data["meta"]
    b_ny = meta["methods"].index("nystrom (uniform)")
    b_rf = meta["methods"].index("random features (rff)")
    ny = np.nanmean(data["error"][:, b_ny], axis=-1)                 # (dataset, m)
    rf = np.nanmean(data["error"][:, b_rf], axis=-1)
    assert np.all(np.isfinite(ny)) and np.all(np.isfinite(rf)), "broken check: non-finite KPCA errors"
    ratio = ny / rf
    ms = np.asarray(data["ms"])
    c.measured(**{f"ny_over_rf_{name}": f"{np.round(ratio[a], 3).tolist()}"
                  for a, name in enumerate(meta["datasets"])}, m=f"{ms.tolist()}")
    if not np.all(ratio <= 1.0):
        lose = ms[np.any(ratio > 1.0, axis=0)].tolist()
        # recorded band (QUICK: ratios 1.466, 1.123, 0.986 at m = 10, 25, 75): RF-KPCA wins at small m
        # by less than 2x and Nyström catches up at the largest m
        c.not_reproduced(f"Nyström/RF error ratio > 1 at m = {lose} (ratios {np.round(ratio, 3).tolist()}); "
                         "our RF-KPCA is lifted to H through all n training points (n² kernel entries), "
                         "so at small m it is not an equal-cost competitor",
                         max_ratio=(ratio.max(), 1.0, 2.0), ratio_at_max_m=(ratio[:, -1].max(), 0.8, 1.1))
