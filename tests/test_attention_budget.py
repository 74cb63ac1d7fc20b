"""Budget accounting (algorithms.md §13.1): with ``return_factors=True`` every method reports
``n_evals`` (query–key scores / kernel entries / feature projections evaluated) and ``exact_fraction``
(share of the n·m entries of the attention matrix its output uses exactly), checked against hand counts."""
import numpy as np
import pytest

import kernapprox as ka
from kernapprox.attention._informer import informer_sizes

att = ka.attention
N, M, P, D = 40, 32, 8, 8


def _qkv(n=N, m=M, seed=0):
    r = np.random.default_rng(seed)
    return 0.5 * r.normal(size=(n, P)), 0.5 * r.normal(size=(m, P)), r.normal(size=(m, P))


def _factors(method, n=N, m=M, d=D, **opts):
    Q, K, V = _qkv(n, m)
    return att.approximate(Q, K, V, method=method, d=d, rng=0, return_factors=True, safeguard="none", **opts)[1]


@pytest.mark.parametrize("method, opts, count", [
    ("skyformer", {}, (N + M) * D + D * D),                         # landmark columns + the core
    ("skyformer", {"target": "softmax"}, (N + M) * D + D * D),
    ("skyformer", {"accumulation": 2}, (N + M) * 2 * D + (2 * D) ** 2),
    ("nystromformer", {}, (N + M) * D + D * D),                     # segment-mean landmarks + the core
    ("nystromformer", {"target": "gaussian"}, (N + M) * D + D * D),
    ("skeinformer", {"column_sampling": "uniform", "pilot_reuse": False}, N * D),    # selected scores only
    ("skeinformer", {"row_normalization": "exact"}, D * M + N * D + N * M),            # pilot + selected + exact D
    ("linformer", {}, D * M + N * D),                               # E applied to the keys + projected scores
    ("linformer", {"variant": "unreduced_jlt"}, D * M + N * M),
    ("s3", {}, N * D),
    ("performer", {}, (N + M) * D),                                 # one projection ω·x per point and row of ω
    ("performer", {"kind": "hyperbolic"}, (N + M) * D),
    ("rff", {}, (N + M) * D),
    ("vmean", {}, 0),
    ("linear", {}, 0),
])
def test_n_evals_is_the_hand_count(method, opts, count):
    f = _factors(method, **opts)
    assert f["n_evals"] == count


def test_no_exact_entries_for_the_low_rank_and_feature_methods():
    for method, opts in [("skyformer", {}), ("nystromformer", {}), ("linformer", {}), ("s3", {}), ("performer", {}),
                         ("rff", {}), ("vmean", {}), ("linear", {})]:
        assert _factors(method, **opts)["exact_fraction"] == 0.0, method


def test_skeinformer_counts_pilot_rows_and_their_exact_reuse():
    f = _factors("skeinformer")                          # Algorithm 1: pilot rows written back exactly
    J = f["pilot_indices"]
    assert f["n_evals"] == J.size * M + N * D
    assert f["exact_fraction"] == np.unique(J).size * M / (N * M)
    f = _factors("skeinformer", row_normalization="exact")   # exact D: the selected entries of D⁻¹A are exact
    assert f["exact_fraction"] == np.unique(f["column_indices"]).size / M
    f = _factors("skeinformer", row_normalization="exact", importance_weights=True)    # weighted: not exact
    assert f["exact_fraction"] == 0.0


@pytest.mark.parametrize("measure", ["sampled", "exact"])
def test_informer_counts_the_measure_and_the_active_rows(measure):
    f = _factors("informer", measure=measure)
    u, U = informer_sizes(N, M, D)
    assert f["active"].size == u
    assert f["n_evals"] == (N * U if measure == "sampled" else N * M) + u * M
    assert f["exact_fraction"] == u / N


def test_s3_both_parts_count_the_row_attention():
    f = _factors("s3", n=N, m=N, part="both")
    assert f["n_evals"] == N * D + min(P, D) * P


def test_safeguard_adds_its_exact_rows_to_the_budget():
    """Rows recomputed exactly by the range safeguard cost m scores each and are exact."""
    r = np.random.default_rng(3)
    Q, K, V = 4.0 * r.normal(size=(96, 16)), 4.0 * r.normal(size=(96, 16)), r.normal(size=(96, 8))
    with np.errstate(all="ignore"), pytest.warns(ka.KernapproxWarning):
        _, bare = att.approximate(Q, K, V, method="skyformer", d=32, rng=0, target="softmax", center_keys=False,
                                  safeguard="none", return_factors=True)
        _, f = att.approximate(Q, K, V, method="skyformer", d=32, rng=0, target="softmax", center_keys=False,
                               return_factors=True)
    rows = f["safeguard"]["exact_rows"]
    assert rows.size > 0
    assert f["n_evals"] == bare["n_evals"] + rows.size * K.shape[0]
    assert f["exact_fraction"] == rows.size / Q.shape[0]


def test_batched_factors_carry_the_count_per_item():
    r = np.random.default_rng(1)
    Q, K, V = 0.5 * r.normal(size=(3, 2, N, P))
    _, facs = att.approximate(Q, K, V, method="nystromformer", d=D, return_factors=True)
    assert all(facs[b]["n_evals"] == 2 * N * D + D * D for b in range(2))
