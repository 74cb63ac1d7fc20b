"""Conformance with the authors' code: every variant named after a published implementation is checked
against a reference formula written here from that code's published description (one function per
code path, the same operations in the same order), with pre-drawn randomness, in float64 (to
:data:`TOL64` relative) and float32 (to :data:`TOL32`).

Sources transcribed (read, not copied): Skyformer ``src/models/attention_skyformer.py`` and its
Performer copy ``code/models/performer.py``; lucidrains performer-pytorch ``softmax_kernel``;
google-research ``performer/fast_attention`` ``softmax_kernel_transformation``; mlpen/Nystromformer
LRA ``attention_nystrom.py`` and ``ImageNet/T2T-ViT/models/token_nystromformer.py``; lucidrains
nystrom-attention ``NystromAttention.forward``; Skeinformer ``SkeinAttention`` and its
``SkeinAttention_ablation_*`` classes and ``Vmean``; Informer ``ProbAttention``; eepperly
Randomly-Pivoted-Cholesky ``cholesky_helper``.
"""
import numpy as np
import pytest

import kernapprox as ka
from kernapprox import attention as att

#: relative max-abs agreement required in float64 (the measured matches are ≤ 3e-15)
TOL64 = 3e-15
#: relative agreement in float32: the same formulas in float32 arithmetic (rounding-order effects,
#: amplified at most ~10x by the Newton–Schulz steps)
TOL32 = 2e-5
DTYPES = [np.float64, np.float32]


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _tol(dt):
    return TOL64 if dt == np.float64 else TOL32


def _qkv(shape, scale=0.7, seed=0, dt=np.float64):
    r = np.random.default_rng(seed)
    Q, K = scale * r.normal(size=shape), scale * r.normal(size=shape)
    V = r.normal(size=shape)
    return Q.astype(dt), K.astype(dt), V.astype(dt)


def _softmax(S):
    """torch.softmax along the last axis (max subtracted)."""
    S = S - S.max(axis=-1, keepdims=True)
    E = np.exp(S)
    return E / E.sum(axis=-1, keepdims=True)


# ------------------------------------------------------------------------------------------------
# Performer: softmax_kernel of each reference, then linear_attention
# ------------------------------------------------------------------------------------------------
def _ref_softmax_kernel(data, proj, *, is_query, eps, key_axes):
    """``ratio·(exp(data_dash − diag − max) + eps)`` with data (..., n, p), proj (f, p); key max over
    ``key_axes`` of data_dash (all axes: Skyformer copy; (-2, -1): performer-pytorch / google)."""
    dt = data.dtype
    normalizer = dt.type(data.shape[-1] ** -0.25)
    ratio = dt.type(proj.shape[0] ** -0.5)
    dash = np.einsum("...id,jd->...ij", normalizer * data, proj.astype(dt))
    diag = ((data ** 2).sum(-1) / dt.type(2.0) * normalizer ** 2)[..., None]
    if is_query:
        return ratio * (np.exp(dash - diag - dash.max(axis=-1, keepdims=True)) + dt.type(eps))
    return ratio * (np.exp(dash - diag - dash.max(axis=key_axes, keepdims=True)) + dt.type(eps))


def _ref_linear_attention(q, k, v):
    D_inv = 1.0 / np.einsum("...nd,...d->...n", q, k.sum(axis=-2))
    context = np.einsum("...nd,...ne->...de", k, v)
    return np.einsum("...de,...nd,...n->...ne", context, q, D_inv)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("stabilizer,eps,double", [("skyformer", 1e-4, True), ("skyformer", 1e-4, False),
                                                   ("performer_pytorch", 1e-4, False),
                                                   ("google_research", 1e-6, False)])
def test_performer_reference_stabilisers_batched(dt, stabilizer, eps, double):
    """One shared projection for a (2, 3) batch of heads; the Skyformer copy takes the key maximum over
    the whole tensor (``torch.max(data_dash)``), performer-pytorch / google-research per head."""
    Q, K, V = _qkv((2, 3, 40, 8), scale=1.2, seed=1, dt=dt)
    om = ka.attention.performer.draw(Q[0, 0], K[0, 0], V[0, 0], d=16, rng=2)["omega"]
    axes = None if stabilizer == "skyformer" else (-2, -1)
    c = dt(8 ** -0.25)
    Qi, Ki = (Q * c, K * c) if double else (Q, K)          # the Skyformer LRA wrapper divides first
    ref = _ref_linear_attention(_ref_softmax_kernel(Qi, om, is_query=True, eps=eps, key_axes=axes),
                                _ref_softmax_kernel(Ki, om, is_query=False, eps=eps, key_axes=axes), V)
    out = att.approximate(Q, K, V, method="performer", omega=om, stabilizer=stabilizer, double_scaling=double)
    assert out.dtype == dt
    assert _rel(out, ref) <= _tol(dt)


def test_performer_stabilisers_differ_only_through_eps():
    """Without ε the reference shifts cancel like the exact one; with their ε they do not (the bias
    measured in the performer module docstring), so each stabiliser is a distinct, named variant."""
    Q, K, V = _qkv((64, 8), scale=1.5, seed=3)
    om = ka.attention.performer.draw(Q, K, V, d=32, rng=0)["omega"]
    exact = att.performer(Q, K, V, omega=om)
    for s in ("skyformer", "performer_pytorch", "google_research"):
        assert _rel(att.performer(Q, K, V, omega=om, stabilizer=s, feature_eps=0.0), exact) < 1e-12
        assert _rel(att.performer(Q, K, V, omega=om, stabilizer=s), exact) > 1e-9


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 300.0, 1e4, 1e8])
def test_performer_default_is_finite_and_in_the_hull_of_v_at_every_scale(dt, scale):
    """The reproducer of the NaN report (Q, K × 300 gave 240 NaN entries) and larger scales: the default
    output is finite and every row a convex combination of rows of V (the safeguard)."""
    r = np.random.default_rng(0)
    Q, K, V = r.normal(size=(3, 256, 16))
    out = att.approximate((Q * scale).astype(dt), (K * scale).astype(dt), V.astype(dt), method="performer",
                          d=32, rng=0)
    assert np.all(np.isfinite(out))
    slack = 10 * np.finfo(dt).eps * np.abs(V).max()
    assert np.all(out <= V.max(axis=0) + slack) and np.all(out >= V.min(axis=0) - slack)


# ------------------------------------------------------------------------------------------------
# Nyströmformer
# ------------------------------------------------------------------------------------------------
def _ref_iterative_inv(K, n_iter=6, init="original"):
    """mlpen ``iterative_inv``: V = Kᵀ / max column sum (over the whole tensor for "original")."""
    I = np.eye(K.shape[-1], dtype=K.dtype)
    col = K.sum(axis=-2)
    V = (1 / col.max() if init == "original" else 1 / col.max(axis=-1)[..., None, None]) * np.swapaxes(K, -1, -2)
    for _ in range(n_iter):
        KV = K @ V
        V = (0.25 * V) @ (13 * I - KV @ (15 * I - KV @ (7 * I - KV)))
    return V


def _ref_nystrom_lra(Q, K, V, d):
    """mlpen LRA ``NystromAttention.forward`` (mask of ones, seq_len divisible by d)."""
    c = np.sqrt(np.sqrt(Q.shape[-1]))
    Q, K = Q / c, K / c
    *b, n, p = Q.shape
    Ql = Q.reshape(*b, d, n // d, p).mean(axis=-2)
    Kl = K.reshape(*b, d, n // d, p).mean(axis=-2)
    k1 = _softmax(Q @ np.swapaxes(Kl, -1, -2))
    k2 = _softmax(Ql @ np.swapaxes(Kl, -1, -2))
    k3 = _softmax(Ql @ np.swapaxes(K, -1, -2))
    return (k1 @ _ref_iterative_inv(k2)) @ (k3 @ V)


@pytest.mark.parametrize("dt", DTYPES)
def test_nystromformer_lra_code_preset_code_batched(dt):
    Q, K, V = _qkv((2, 2, 48, 8), seed=4, dt=dt)
    ref = _ref_nystrom_lra(Q, K, V, 8)
    out = att.approximate(Q, K, V, method="nystromformer", d=8, preset="code")
    assert _rel(out, ref) <= _tol(dt)
    # preset="code" is the batch-global scale; per matrix differs on this batch
    assert _rel(att.approximate(Q, K, V, method="nystromformer", d=8, preset="code", init="per_matrix"), ref) > 1e-7


def _ref_lucidrains(Q, K, V, d, mask, iters=6, eps=1e-8):
    """lucidrains ``NystromAttention.forward`` on q, k, v of shape (h, n, p) (one batch item, no
    residual conv, identity projections): front zero padding, optional mask of the real rows."""
    h, n, p = Q.shape
    rem = n % d
    pad = d - rem if rem else 0
    z = np.zeros((h, pad, p), dtype=Q.dtype)
    q, k, v = (np.concatenate([z, X], axis=1) for X in (Q, K, V))
    msk = np.concatenate([np.zeros(pad, bool), np.ones(n, bool)]) if mask else None
    if mask:
        q, k, v = (t * msk[None, :, None] for t in (q, k, v))
    q = q * Q.dtype.type(p ** -0.5)
    N = n + pad
    ll = -(-n // d)
    ql = q.reshape(h, N // ll, ll, p).sum(axis=2)
    kl = k.reshape(h, N // ll, ll, p).sum(axis=2)
    divisor = ll
    if mask:
        ml_sum = msk.reshape(N // ll, ll).sum(axis=1)
        divisor = ml_sum[:, None] + eps
        ml = ml_sum > 0
    ql, kl = ql / divisor, kl / divisor
    sim1 = q @ np.swapaxes(kl, -1, -2)
    sim2 = ql @ np.swapaxes(kl, -1, -2)
    sim3 = ql @ np.swapaxes(k, -1, -2)
    if mask:
        mv = -np.finfo(Q.dtype).max
        sim1 = np.where(msk[:, None] & ml[None, :], sim1, mv)
        sim2 = np.where(ml[:, None] & ml[None, :], sim2, mv)
        sim3 = np.where(ml[:, None] & msk[None, :], sim3, mv)
    a1, a2, a3 = _softmax(sim1), _softmax(sim2), _softmax(sim3)
    x = a2
    z_ = np.swapaxes(x, -1, -2) / (np.abs(x).sum(-1).max() * np.abs(x).sum(-2).max())
    I = np.eye(x.shape[-1], dtype=x.dtype)
    for _ in range(iters):
        xz = x @ z_
        z_ = 0.25 * z_ @ (13 * I - (xz @ (15 * I - (xz @ (7 * I - xz)))))
    out = (a1 @ z_) @ (a3 @ v)
    return out[:, -n:]


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("n,d", [(45, 8), (10, 8), (48, 8)])
@pytest.mark.parametrize("masked", [False, True])
def test_nystromformer_lucidrains_padding(dt, n, d, masked):
    """(45, 8): 3 padded rows; (10, 8): L = 2, 6 padded rows, 3 landmarks of padding only (masked);
    (48, 8): no padding (the masked divisor still carries the code's +1e-8)."""
    Q, K, V = _qkv((2, n, 8), seed=5, dt=dt)
    ref = _ref_lucidrains(Q, K, V, d, masked)
    out = att.approximate(Q, K, V, method="nystromformer", d=d, preset="code",
                          padding="lucidrains_masked" if masked else "lucidrains")
    assert _rel(out, ref) <= (1e-14 if dt == np.float64 else TOL32)


def _ref_t2t(Q, K, V, d):
    """mlpen ``ImageNet/T2T-ViT/models/token_nystromformer.py`` ``NysAttention.forward`` (init "exact")."""
    h, N, p = Q.shape
    q = Q / np.sqrt(p)
    k = K
    segs = N // d
    if N % d == 0:
        kl = k.reshape(h, d, N // d, p).mean(axis=-2)
        ql = q.reshape(h, d, N // d, p).mean(axis=-2)
    else:
        nk = (segs + 1) * d - N
        kl = np.concatenate([k[:, :nk * segs].reshape(h, nk, segs, p).mean(-2),
                             k[:, nk * segs:].reshape(h, d - nk, segs + 1, p).mean(-2)], axis=1)
        ql = np.concatenate([q[:, :nk * segs].reshape(h, nk, segs, p).mean(-2),
                             q[:, nk * segs:].reshape(h, d - nk, segs + 1, p).mean(-2)], axis=1)
    k1 = _softmax(q @ np.swapaxes(kl, -1, -2))
    k2 = _softmax(ql @ np.swapaxes(kl, -1, -2))
    k3 = _softmax(ql @ np.swapaxes(k, -1, -2))
    return (k1 @ _ref_iterative_inv(k2[None], init="exact")[0]) @ (k3 @ V)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("n", [45, 50, 48])
def test_nystromformer_t2t_vit_uneven_segments(dt, n):
    Q, K, V = _qkv((2, n, 8), seed=6, dt=dt)
    ref = _ref_t2t(Q, K, V, 8)
    out = att.approximate(Q, K, V, method="nystromformer", d=8, padding="t2t_vit")
    assert _rel(out, ref) <= (1e-14 if dt == np.float64 else TOL32)


# ------------------------------------------------------------------------------------------------
# Skyformer preset="code"
# ------------------------------------------------------------------------------------------------
def _ref_skyformer(Q, K, V, S):
    """Skyformer ``Skyformer.forward`` (mask of ones, accumulation 1, random_sign ones, kernel_RS_RBF)
    with pre-drawn landmark rows S (..., d) of the stacked [q; k]; iterative_inv "original" (global).
    The code hard-codes ``data_normalizer = 32 ** -0.25`` (its LRA head dimension): p = 32 here."""
    assert Q.shape[-1] == 32
    c = 32 ** -0.25
    q, k = Q * c, K * c
    n = q.shape[-2]
    X = np.concatenate([q, k], axis=-2)
    XS = np.take_along_axis(X, S[..., None], axis=-2)

    def rbf(A, B):
        return np.exp(A @ np.swapaxes(B, -1, -2) - (A * A).sum(-1)[..., :, None] * 0.5
                      - (B * B).sum(-1)[..., None, :] * 0.5)
    AS = rbf(X, XS)
    Qf, Kf = AS[..., :n, :], AS[..., n:, :]
    STAS = np.take_along_axis(AS, S[..., None], axis=-2) + 0.1 * np.eye(S.shape[-1])
    Dinv = np.sqrt(1 / STAS.sum(-1))
    STAS = Dinv[..., :, None] * STAS * Dinv[..., None, :]
    inv = _ref_iterative_inv(STAS)
    Kf = (Kf * Dinv[..., None, :]) @ inv
    Kf = Kf * Dinv[..., None, :]
    return Qf @ (np.swapaxes(Kf, -1, -2) @ V)


@pytest.mark.parametrize("dt", DTYPES)
def test_skyformer_code_preset_per_head_and_batched(dt):
    Q, K, V = _qkv((2, 3, 40, 32), scale=0.6, seed=7, dt=dt)
    S = att.draw_randomness(Q, K, V, method="skyformer", d=12, rng=3, preset="code")["indices"]
    out = att.approximate(Q, K, V, method="skyformer", preset="code", indices=S)
    assert _rel(out, _ref_skyformer(Q.astype(np.float64), K.astype(np.float64), V.astype(np.float64), S)) \
        <= _tol(dt)
    one = att.skyformer(Q[1, 2], K[1, 2], V[1, 2], preset="code", indices=S[1, 2])   # one head
    assert _rel(one, _ref_skyformer(Q[1, 2:3].astype(np.float64), K[1, 2:3].astype(np.float64),
                                    V[1, 2:3].astype(np.float64), S[1, 2:3])[0]) <= _tol(dt)
    assert np.all(S[..., :6] < 40) and np.all(S[..., 6:] >= 40)          # stratified: d/2 queries, d/2 keys


# ------------------------------------------------------------------------------------------------
# Skeinformer Algorithm 1, its ablation classes, V-Mean
# ------------------------------------------------------------------------------------------------
def _ref_skein(Q, K, V, J, S1, variant):
    """``SkeinAttention`` / ``SkeinAttention_ablation_*`` forward for one head (mask of ones) with
    pre-drawn pilot rows J and columns S1."""
    p = Q.shape[-1]
    c = p ** -0.25
    q, k, v = Q * c, K * c, V
    n = q.shape[0]
    d = S1.size
    qK1 = q @ k[S1].T
    if variant == "simple":
        return _softmax(qK1) @ v[S1]
    if variant == "exact":
        D = np.exp(q @ k.T).sum(-1)
        return (np.exp(qK1) @ v[S1]) / D[:, None]
    AS1 = np.exp(qK1)
    model_column = np.exp(qK1.mean(-1))
    D1 = AS1.sum(-1) + model_column * (n - d)
    out = (AS1 @ v[S1] + model_column[:, None] * (v.sum(0) - v[S1].sum(0))[None, :]) / D1[:, None]
    if variant == "alg1":
        ATS0 = np.exp(k @ q[J].T)                     # (n, d): pilot rows as columns
        out[J] = (ATS0 / ATS0.sum(0)).T @ v           # pilot reuse: exact B_J V
    return out


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("variant,opts", [("alg1", {}), ("uniform", {"column_sampling": "uniform"}),
                                          ("simple", {"row_normalization": "simple"}),
                                          ("exact", {"row_normalization": "exact"}),
                                          ("nopilot", {"pilot_reuse": False})])
def test_skeinformer_algorithm1_and_each_ablation_flag_alone(dt, variant, opts):
    Q, K, V = _qkv((64, 8), seed=8, dt=dt)
    r = att.draw_randomness(Q, K, V, method="skeinformer", d=16, rng=5, **opts)
    J = r.get("pilot_indices")
    if variant == "uniform":
        assert J is None                              # the code's uniform class draws no pilot
    out = att.skeinformer(Q, K, V, **opts, **r)        # d inferred from the two index arrays
    ref = _ref_skein(Q.astype(np.float64), K.astype(np.float64), V.astype(np.float64), J,
                     r["column_indices"], variant)
    assert _rel(out, ref) <= _tol(dt)


@pytest.mark.parametrize("dt", DTYPES)
def test_vmean(dt):
    Q, K, V = _qkv((2, 30, 4), seed=9, dt=dt)
    ref = np.broadcast_to(V.astype(np.float64).mean(axis=-2, keepdims=True), V.shape)
    assert _rel(att.approximate(Q, K, V, method="vmean"), ref) <= _tol(dt)


# ------------------------------------------------------------------------------------------------
# Informer (mean_divisor="n") and Linformer
# ------------------------------------------------------------------------------------------------
def _ref_informer(Q, K, V, index_sample, u):
    """``ProbAttention`` (non-causal): M = max − sum/L_K over the sampled keys, top-u queries get exact
    softmax rows, the others the mean of V."""
    L_K = K.shape[0]
    QKs = np.einsum("ip,iup->iu", Q, K[index_sample])
    M = QKs.max(-1) - QKs.sum(-1) / L_K
    top = np.argsort(-M, kind="stable")[:u]
    out = np.broadcast_to(V.mean(axis=0), (Q.shape[0], V.shape[1])).copy()
    out[top] = _softmax(Q[top] @ K.T / np.sqrt(Q.shape[1])) @ V
    return out


@pytest.mark.parametrize("dt", DTYPES)
def test_informer_code_mean_divisor_n(dt):
    Q, K, V = _qkv((60, 8), seed=10, dt=dt)
    r = att.draw_randomness(Q, K, V, method="informer", d=12, rng=1)
    out = att.informer(Q, K, V, d=12, mean_divisor="n", **r)
    u, _ = att._informer.informer_sizes(60, 60, 12) if hasattr(att, "_informer") else \
        __import__("kernapprox.attention._informer", fromlist=["x"]).informer_sizes(60, 60, 12)
    ref = _ref_informer(*(X.astype(np.float64) for X in (Q, K, V)), r["key_indices"], u)
    assert _rel(out, ref) <= _tol(dt)


@pytest.mark.parametrize("dt", DTYPES)
def test_linformer_shared_projection(dt):
    Q, K, V = _qkv((50, 8), seed=11, dt=dt)
    E = att.draw_randomness(Q, K, V, method="linformer", d=10, rng=2)["projection"]
    Q64, K64, V64 = (X.astype(np.float64) for X in (Q, K, V))
    ref = _softmax(Q64 @ (E @ K64).T / np.sqrt(8)) @ (E @ V64)
    # the authors' formula is the bare output (safeguard="none"); E V mixes rows of V, so it leaves the
    # box of V's columns by design
    assert _rel(att.linformer(Q, K, V, projection=E, safeguard="none"), ref) <= _tol(dt)
    lo, hi = V64.min(axis=0), V64.max(axis=0)
    assert np.any((ref < lo) | (ref > hi))
    # the default safeguard ("clip") projects every out-of-range row onto that box (and only those)
    assert _rel(att.linformer(Q, K, V, projection=E), np.clip(ref, lo, hi)) <= _tol(dt)


# ------------------------------------------------------------------------------------------------
# RPCholesky pivots
# ------------------------------------------------------------------------------------------------
def _ref_rpcholesky(A, k, u):
    """``cholesky_helper(A, k, 'rp')`` with the pivot draws replaced by inverse-CDF draws from the
    pre-drawn uniforms u (the law of ``rng.choice(n, p=diags/sum(diags))``)."""
    n = A.shape[0]
    diags = np.diag(A).copy()
    F = np.zeros((k, n))
    idx = []
    for i in range(k):
        c = np.cumsum(diags)
        s = min(int(np.searchsorted(c, u[i] * c[-1], side="right")), n - 1)
        idx.append(s)
        F[i] = (A[s] - F[:i, s] @ F[:i]) / np.sqrt(diags[s])
        diags = np.clip(diags - F[i] ** 2, 0, None)
    return np.array(idx), F.T


@pytest.mark.parametrize("dt", DTYPES)
def test_rpcholesky_pivot_sequence_and_factor(dt):
    X = np.random.default_rng(12).normal(size=(150, 3)).astype(dt)
    KM = ka.KernelMatrix(ka.Gaussian(1.5), X)
    a = ka.rpcholesky(KM, 25, rng=4)
    u = np.random.default_rng(4).random(25)           # the uniforms rpcholesky draws, one per pivot
    idx, F = _ref_rpcholesky(KM.dense().astype(np.float64), 25, u)
    np.testing.assert_array_equal(a.info["indices"], idx)
    assert _rel(a.to_dense(), F @ F.T) <= (1e-12 if dt == np.float64 else 1e-5)
