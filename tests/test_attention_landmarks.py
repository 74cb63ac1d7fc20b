"""Landmark selection on the Gaussian form of the softmax kernel (algorithms.md §13.7)."""
import warnings

import numpy as np
import pytest

import kernapprox as ka
from kernapprox.attention._landmarks import LANDMARK_RULES, gaussian_landmarks


def _qk(n=120, m=None, p=8, seed=0, scale=1.0):
    m = n if m is None else m
    g = np.random.default_rng(seed)
    return scale * g.normal(size=(n, p)), scale * g.normal(size=(m, p))


@pytest.mark.parametrize("rule", LANDMARK_RULES)
def test_indices_are_distinct_rows_of_the_stack_with_their_evaluation_count(rule):
    Q, K = _qk(100, m=70)
    idx, ev = gaussian_landmarks(Q, K, 20, rule=rule, rng=0, return_evals=True)
    assert idx.shape == (20,) and idx.dtype == np.intp
    assert np.unique(idx).size == 20 and idx.min() >= 0 and idx.max() < 170
    if rule == "kmeanspp":
        assert ev == 170 * 20                    # the diagonal and one column per landmark but the last
    elif rule == "uniform":
        assert ev == 0
    else:
        assert 170 * 20 <= ev <= 170 * 21
    np.testing.assert_array_equal(idx, gaussian_landmarks(Q, K, 20, rule=rule, rng=0))


@pytest.mark.parametrize("rule", ("kmeanspp", "rpcholesky"))
def test_selection_invariant_under_translating_the_keys(rule):
    Q, K = _qk(80, seed=2)
    b = np.full(8, 3.0)
    np.testing.assert_array_equal(gaussian_landmarks(Q, K, 16, rule=rule, rng=4),
                                  gaussian_landmarks(Q, K + b, 16, rule=rule, rng=4))


def test_gaussian_form_does_not_chase_the_longest_vectors():
    # a few very long keys: RPCholesky on the exponential kernel (diagonal e^{‖x‖²}) takes them first;
    # on G (unit diagonal) the first pivot is uniform and long keys are not preferred
    Q, K = _qk(200, p=8, seed=5, scale=0.5)
    K[:5] *= 8.0
    long_rows = set(range(200, 205))
    X = np.concatenate([Q / 8 ** 0.25, (K - K.mean(0)) / 8 ** 0.25])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # it stops early: the long rows dominate the trace
        expo = ka.sample_landmarks(ka.KernelMatrix(ka.Exponential(1.0), X), 5, method="rpcholesky", rng=0)
    assert set(expo.tolist()) <= long_rows
    hits = [len(long_rows & set(gaussian_landmarks(Q, K, 5, rule="rpcholesky", rng=s).tolist())) for s in range(5)]
    assert max(hits) < 5


def test_bad_arguments_raise_naming_them():
    Q, K = _qk(20)
    with pytest.raises(ValueError, match="`rule`"):
        gaussian_landmarks(Q, K, 4, rule="greedy")
    with pytest.raises(ValueError, match="`d`"):
        gaussian_landmarks(Q, K, 41)
    with pytest.raises(TypeError, match="`center_keys`"):
        gaussian_landmarks(Q, K, 4, center_keys="yes")


def test_skyformer_with_gaussian_kmeanspp_landmarks_on_minilm_heads():
    P = pytest.importorskip("kernapprox.datasets.pretrained")
    if not P.models_available():
        pytest.skip("MiniLM model files not installed")
    Qa, Ka, Va = P.pretrained_qkv(256, layer=2, head=[1, 4], text="gpl-3", start=0)
    for Q, K, V in zip(Qa, Ka, Va):
        idx = gaussian_landmarks(Q, K, 32, rng=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = ka.attention.approximate(Q, K, V, method="skyformer", target="softmax", indices=idx)
        R = ka.attention.exact(Q, K, V)
        assert np.isfinite(out).all() and np.linalg.norm(out - R, 2) / np.linalg.norm(R, 2) < 1.0
