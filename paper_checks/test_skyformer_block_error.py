"""Skyformer error transfer: the block error is at most the augmented (completion) error.

Claim (Skyformer, NeurIPS 2021, §4.2 below Eq. (6); algorithms.md §2.2 step 5):
``‖C − C̃‖ = ‖(I, 0)(C̄ − C̄̃)(0, I)ᵀ‖ ≤ ‖C̄ − C̄̃‖`` because the selectors have norm 1; and
``C̄ − C̄̃ ⪰ 0`` for the exact pseudo-inverse. Deterministic: must hold for every draw.

Reuses the ``skyformer-bound`` experiment.
"""
import numpy as np

SOURCE = "Skyformer (NeurIPS 2021) §4.2 Eqs. (4)-(6)"
#: relative rounding margin of two float64 spectral norms of ≤ 1024×1024 matrices
RTOL = 1e-9


def test_block_error_at_most_augmented_error(experiment, claim):
    c = claim("Skyformer §4.2: ||C - C~|| <= ||Cbar - Cbar~|| and Cbar~ <= Cbar", SOURCE)
    data = experiment("skyformer-bound")
    err, aug = data["err"], data["aug_err"]
    ncb = data["norm_Cbar"][:, None, None]
    c.measured(max_ratio_block_to_augmented=np.max(err / aug), min_eig_Cbar_minus_Cbar_tilde=data["sandwich_lower"].min())
    assert np.all(err <= aug + RTOL * ncb)
    assert np.all(data["sandwich_lower"] >= -RTOL)
