"""Skyformer Lemma 3: the normalised landmark matrix has its spectrum in (0, 1].

Claim (Skyformer, NeurIPS 2021, §4.4 Lemma 3, proof App. E; algorithms.md §2.5): for γ > 0,
``M = Sᵀ C̄ S`` and ``D_M = diag((M + γI)1)``, every eigenvalue of ``D_M^{-1/2}(M + γI)D_M^{-1/2}``
lies in (0, 1), so ``‖I − ·‖ < 1`` and the Razavi iteration converges. Numerically the top eigenvalue
can equal 1 to rounding (a landmark far from all others), so we check (0, 1] with a rounding margin.

Reuses the ``skyformer-bound`` experiment (γ = 0.1, the authors' code value, on every landmark draw).
"""
import numpy as np

SOURCE = "Skyformer (NeurIPS 2021) §4.4 Lemma 3, App. E"
#: rounding margin above 1 for the top eigenvalue of a d×d (d ≤ 512) symmetric eigendecomposition
TOP_MARGIN = 1e3 * np.finfo(np.float64).eps


def test_lemma3_spectrum_in_unit_interval(experiment, claim):
    c = claim("Skyformer Lemma 3: spectrum of D^-1/2 (M + gamma I) D^-1/2 in (0, 1]", SOURCE)
    data = experiment("skyformer-bound")
    lo, hi = data["lemma3_min"], data["lemma3_max"]
    c.measured(min_eig=lo.min(), max_eig_minus_1=hi.max() - 1.0, draws=lo.size)
    assert np.all(lo > 0)
    assert np.all(hi <= 1 + TOP_MARGIN)
