"""Seeded statistical comparisons of the attention approximators on the synthetic inputs of
algorithms.md §2.9/§8 (Skyformer Fig. 1 and Skeinformer Fig. 1 claims, qualitative)."""
import numpy as np
import pytest

import kernapprox as ka
from kernapprox.datasets import synthetic_qkv

att = ka.attention
DS = (16, 32, 64, 128, 256)
N = 512
SEEDS = range(5)


def _loss(R, T):
    return np.linalg.norm(R - T, 2)


@pytest.fixture(scope="module", params=["initialized", "pretrained"])
def sweep(request):
    """Spectral-norm losses ‖D⁻¹AV − R‖₂ for 5 seeded input draws (n = 512, p = 64)."""
    kind = request.param
    out = {"sky": [], "nyf": [], "inf": [], "skein": [], "vmean": []}
    for s in SEEDS:
        Q, K, V = synthetic_qkv(N, kind=kind, rng=1000 + s)
        T = att.exact(Q, K, V)
        out["sky"].append([_loss(att.skyformer(Q, K, V, d=d, rng=s, target="softmax"), T) for d in DS])
        out["nyf"].append(_loss(att.nystromformer(Q, K, V, d=DS[-1]), T))
        out["inf"].append(_loss(att.informer(Q, K, V, d=DS[-1], rng=s), T))
        out["skein"].append(_loss(att.skeinformer(Q, K, V, d=DS[-1], rng=s), T))
        out["vmean"].append(_loss(att.vmean(Q, K, V), T))
    return kind, {k: np.median(np.asarray(v), axis=0) for k, v in out.items()}


def test_skyformer_fig1_loss_decreases_with_d_and_beats_nystromformer_informer_at_256(sweep):
    """Skyformer Fig. 1 (qualitative): the SM-variant loss decreases over d ∈ {16, …, 256} and at
    d = 256 is below Nyströmformer's and Informer's (medians over 5 seeds).
    Failure probability: in a 20-seed pilot every single seed satisfied all three orderings (margins
    ≥ 30%), so the per-seed failure rate is < 0.14 (95% bound) and a median of 5 fails only if ≥ 3 seeds
    fail: probability < 3% (conservative; the bootstrap estimate was 0/2000)."""
    kind, med = sweep
    sky = med["sky"]
    assert np.all(np.diff(sky) < 0), (kind, sky)
    assert sky[-1] < med["nyf"], (kind, sky[-1], med["nyf"])
    assert sky[-1] < med["inf"], (kind, sky[-1], med["inf"])


def test_skeinformer_fig1_below_vmean_at_256(sweep):
    """Skeinformer Fig. 1: Skeinformer's loss is below the (d-independent) V-Mean loss at d = 256
    (observed ratios ≈ 0.5 initialized, ≈ 0.25 structured; failure probability < 1% by the same pilot)."""
    kind, med = sweep
    assert med["skein"] < 0.8 * med["vmean"], (kind, med["skein"], med["vmean"])


def test_skyformer_gaussian_target_relative_error_scale_family():
    """§10 (1): Q, K = 0.5·N(0,1), p = 64: Gaussian-kernel Skyformer with exact pinv reaches a few percent
    relative error on C V at d = 256 (observed ≈ 0.025–0.027 for the output; failure probability
    < 1e-3: a 2× deviation of a Nyström error at d ≫ d_stat is far in the tail of Thm 2's bound)."""
    errs = []
    for s in range(3):
        Q, K, V = synthetic_qkv(N, kind="scaled", scale=0.5, rng=s)
        T = att.exact(Q, K, V, kind="gaussian")
        errs.append(_loss(att.skyformer(Q, K, V, d=256, rng=s), T) / np.linalg.norm(T, 2))
    assert np.median(errs) < 0.06


def _offset_keys(seed, n=256, p=32, offset=6.0):
    """Q, K, V ~ N(0, 1) with a common key offset of norm ``offset·p^{1/4}`` (the large shared key mean
    of pretrained heads, which the softmax ignores but the SM augmentation does not)."""
    r = np.random.default_rng(seed)
    u = r.normal(size=p)
    u /= np.linalg.norm(u)
    return r.normal(size=(n, p)), r.normal(size=(n, p)) + offset * p ** 0.25 * u, r.normal(size=(n, p))


def test_skyformer_softmax_key_centring_fixes_shared_key_mean():
    """Skyformer-SM (§2.8) with a shared key mean: ``center_keys=True`` (default) is ≥ 2× more
    accurate than the raw augmentation at d = 64, improves from d = 16 to 64 and stays below ‖D⁻¹AV‖,
    with no clipped row sums (medians over 5 seeds). Failure probability: in a 20-seed pilot the
    ratio centred/raw was ≤ 0.22 and the relative loss ≤ 0.71 in every seed, and d = 64 beat d = 16
    in every seed; a median of 5 fails only if ≥ 3 seeds leave these ranges by 2× / 1.4×: < 1%."""
    ratio, rel, better, clipped = [], [], [], 0
    for s in range(5):
        Q, K, V = _offset_keys(s)
        T = att.exact(Q, K, V)
        with np.errstate(all="ignore"), __import__("warnings").catch_warnings():
            __import__("warnings").simplefilter("ignore")
            raw = _loss(att.skyformer(Q, K, V, d=64, rng=s, target="softmax", center_keys=False), T)
        c16 = _loss(att.skyformer(Q, K, V, d=16, rng=s, target="softmax"), T)
        c64, f = att.skyformer(Q, K, V, d=64, rng=s, target="softmax", return_factors=True)
        c64 = _loss(c64, T)
        clipped += f["den_clipped"]
        ratio.append(c64 / raw)
        rel.append(c64 / np.linalg.norm(T, 2))
        better.append(c64 < c16)
    assert np.median(ratio) < 0.5, ratio
    assert np.median(rel) < 1.0, rel
    assert np.mean(better) >= 0.6 and clipped == 0, (better, clipped)
