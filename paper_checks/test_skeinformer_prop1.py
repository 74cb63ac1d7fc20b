"""Skeinformer Proposition 1 holds in at least 1 − δ of the trials.

Claim (Skeinformer, Chen et al., NAACL 2022, §4.1 Proposition 1, adapted from Drineas, Kannan &
Mahoney 2006 Thm 1; algorithms.md §3.2): if the column probabilities satisfy
``p_i ≥ β ‖B^{(i)}‖‖V_{(i)}‖ / Σ_j ‖B^{(j)}‖‖V_{(j)}‖`` then with probability ≥ 1 − δ
``‖BV − BSSᵀV‖_F ≤ (η/√(βd)) ‖B‖_F ‖V‖_F``, ``η = 1 + sqrt((8/β) log(1/δ))``.

Estimator: the library's Skeinformer with Prop. 1's weighted sampling (``importance_weights=True``,
``row_normalization="exact"``, ``pilot_reuse=False``: exactly ``B S Sᵀ V`` with the pilot
probabilities p̂); β is the quality coefficient of the drawn p̂ (:func:`kernapprox.bounds.amm_beta`),
the bound :func:`kernapprox.bounds.skeinformer_prop1_bound`. Inputs: the experiments' attention inputs
(pretrained MiniLM when installed, else the synthetic proxy).
"""
import numpy as np

from kernapprox import attention
from kernapprox.attention._common import softmax_rows
from kernapprox.bounds import amm_beta, skeinformer_prop1_bound
from kernapprox.experiments._common import AttentionInputs, trial_rngs

SOURCE = "Skeinformer (NAACL 2022) §4.1 Proposition 1"
DELTA = 0.1


def _softmax_matrix(Q, K):
    return softmax_rows(Q @ K.T / np.sqrt(Q.shape[1]))


def test_prop1_bound_holds(full_mode, check_seed, claim):
    c = claim(f"Skeinformer Prop. 1: Frobenius AMM bound holds in >= 1-delta (delta={DELTA}) of trials", SOURCE)
    n, trials, ds = (1024, 100, (16, 64, 256)) if full_mode else (256, 30, (16, 64))
    src = AttentionInputs("pretrained", rng=trial_rngs(check_seed, 1, key=(7,))[0])
    viol, ratios, betas = [], [], []
    for e, d in enumerate(ds):
        for t, r in enumerate(trial_rngs(check_seed, trials, key=(e,))):
            Q, K, V = src.sample(n, 1, r)[0]
            B = _softmax_matrix(Q, K)          # the target's B = D⁻¹A (test-only dense reference)
            R, f = attention.skeinformer(Q, K, V, d=d, rng=r, importance_weights=True, row_normalization="exact",
                                         pilot_reuse=False, return_factors=True)
            beta = amm_beta(f["probabilities"], B, V)
            err = np.linalg.norm(B @ V - R)
            bound = skeinformer_prop1_bound(B, V, d, DELTA, beta=beta)
            viol.append(err > bound)
            ratios.append(err / bound)
            betas.append(beta)
    freq = 1 - np.mean(viol)
    # If Prop. 1 held with equality, the violation count over T trials is Binomial(T, δ); the check
    # allows 3 standard deviations (failure probability ≲ 0.3 %).
    T = len(viol)
    c.measured(freq_within_bound=freq, max_err_over_bound=max(ratios), median_beta=np.median(betas), trials=T)
    assert np.all(np.isfinite(ratios))
    assert freq >= 1 - DELTA - 3 * np.sqrt(DELTA * (1 - DELTA) / T)
