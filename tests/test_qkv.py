"""Synthetic Q, K, V generators (algorithms.md §2.9, §8)."""
import numpy as np
import pytest

import kernapprox as ka
from kernapprox.datasets import bert_init_qkv, scaled_qkv, structured_qkv, synthetic_qkv


def _max_attention(Q, K):
    S = Q @ K.T / np.sqrt(Q.shape[1])
    B = np.exp(S - S.max(1, keepdims=True))
    B /= B.sum(1, keepdims=True)
    return B.max(1).mean()


@pytest.mark.parametrize("kind", ["initialized", "pretrained", "scaled", "bert_init", "structured"])
def test_shapes_dtype_heads_and_determinism(kind):
    Q, K, V = synthetic_qkv(40, kind=kind, rng=0)
    assert Q.shape == K.shape == V.shape == (40, 64) and Q.dtype == np.float64
    Q2, _, _ = synthetic_qkv(40, kind=kind, rng=0)
    np.testing.assert_array_equal(Q, Q2)
    assert not np.allclose(Q, synthetic_qkv(40, kind=kind, rng=1)[0])
    Qh, Kh, Vh = synthetic_qkv(40, kind=kind, heads=3, dtype=np.float32, rng=0)
    assert Qh.shape == (3, 40, 64) and Qh.dtype == np.float32
    assert not np.allclose(Qh[0], Qh[1])                       # independent heads


def test_bert_init_statistics_and_flat_attention():
    """Entries of Q have variance width·std² = 768·0.02² ≈ 0.307 (estimate over 64·512 entries:
    relative s.e. ≈ 1%, so the 10% band fails with probability < 1e-6); attention is nearly flat."""
    Q, K, V = bert_init_qkv(512, rng=0)
    assert abs(Q.var() / (768 * 0.02 ** 2) - 1) < 0.1
    assert _max_attention(Q, K) < 5.0 / 512


def test_structured_is_peaky_and_low_rank():
    """The pretrained-like proxy concentrates attention (mean max weight > 0.1 at n = 512, observed
    ≈ 0.28) and its exact output has a fast-decaying spectrum with a cliff after the embedding rank 16
    (σ₁₇/σ₁ ≈ 0.04–0.07 and σ₁₇/σ₁₆ ≈ 0.4–0.5 over 6 seeds)."""
    Q, K, V = structured_qkv(512, rng=0)
    assert _max_attention(Q, K) > 0.1
    s = np.linalg.svd(ka.attention.exact(Q, K, V), compute_uv=False)
    assert s[16] / s[0] < 0.15 and s[16] < 0.7 * s[15]


def test_scaled_family():
    Q, K, V = scaled_qkv(300, p=16, scale=0.5, m=200, pv=5, rng=0)
    assert Q.shape == (300, 16) and K.shape == (200, 16) and V.shape == (200, 5)
    assert abs(Q.std() - 0.5) < 0.03 and abs(V.std() - 1) < 0.05


def test_bad_input():
    with pytest.raises(ValueError, match="`kind` must be one of"):
        synthetic_qkv(10, kind="bert")
    with pytest.raises(ValueError, match="`n` must be >= 1"):
        bert_init_qkv(0)
    with pytest.raises(ValueError, match="coupling"):
        structured_qkv(10, coupling=1.5)
    with pytest.raises(ValueError, match="`scale` must be > 0"):
        scaled_qkv(10, scale=-1.0)
    with pytest.raises(ValueError, match="dtype"):
        scaled_qkv(10, dtype=np.int64)
    with pytest.raises(TypeError, match="`p` must be an integer"):
        bert_init_qkv(10, p=2.5)


def test_structured_qkv_rank_is_a_deprecated_alias_of_k():
    from kernapprox.datasets import structured_qkv
    with pytest.warns(DeprecationWarning, match=r"^structured_qkv: `rank` is deprecated, use `k`"):
        old = structured_qkv(32, p=4, rank=5, rng=0)
    for a, b in zip(old, structured_qkv(32, p=4, k=5, rng=0)):
        np.testing.assert_array_equal(a, b)
