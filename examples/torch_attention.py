"""Compact PyTorch Skyformer, Nyströmformer and Performer checked against the kernapprox oracle.

Each function takes batched ``(batch, heads, n, p)`` tensors and the oracle's PRE-DRAWN randomness
(landmark indices, projection matrices), so its output can be compared with ``case.expected``::

    import kernapprox as ka, torch
    from torch_attention import run_case
    case = ka.oracle.case("skyformer", n=256, p=32, d=32, heads=4, variant="code", dtype="float32")
    out = run_case(case, device="cuda" if torch.cuda.is_available() else "cpu")
    ka.testing.assert_matches_oracle(out, case)      # torch tensors go in directly (CPU or CUDA)

Precision: every tensor stays in the input dtype except the d×d landmark core (and Nyströmformer's
landmarks), which are formed and inverted in float32 for the half types — the oracle's contract
(``kernapprox.oracle.ACCUMULATION_DTYPE``; ``torch.linalg`` has no half eigen-solvers anyway) — and in
the input dtype otherwise.

Run ``python examples/torch_attention.py`` for a table of oracle comparisons.

References: Chen et al., Skyformer, NeurIPS 2021 (Eq. 5, Lemma 3); Xiong et al., Nyströmformer,
AAAI 2021 (Eqs. 9–14); Choromanski et al., Performer, ICLR 2021 (Lemma 1).
"""
from __future__ import annotations

import math

import numpy as np

import torch

# Skyformer presets of kernapprox.attention._skyformer.PRESETS (paper vs authors' code)
SKYFORMER_PRESETS = {
    "paper": {"core": "pinv", "lam": None, "n_iter": 6},
    "code": {"core": "newton_schulz", "lam": 0.1, "n_iter": 6},
}


# ------------------------------------------------------------------------------------------------
# cores
# ------------------------------------------------------------------------------------------------
def newton_schulz(M, n_iter=6, *, init="per_matrix", scale=None):
    """Razavi iteration ``Z ← ¼ Z (13I − MZ(15I − MZ(7I − MZ)))`` from ``Z₀ = Mᵀ/scale`` (batched).

    ``scale`` (a number or a (batch, heads) tensor) overrides ``init``: ``"per_matrix"`` = each matrix's
    max column sum ‖M‖₁, ``"global"`` = the max over the whole batch (official Nyströmformer code)."""
    if scale is None:
        colsum = M.abs().sum(dim=-2).amax(dim=-1)                  # (..., )
        scale = colsum if init == "per_matrix" else colsum.max()
    scale = torch.as_tensor(scale, dtype=M.dtype, device=M.device)
    while scale.dim() < M.dim():
        scale = scale.unsqueeze(-1)
    Z = M.transpose(-1, -2) / scale
    eye = torch.eye(M.shape[-1], dtype=M.dtype, device=M.device)
    for _ in range(n_iter):
        MZ = M @ Z
        Z = 0.25 * Z @ (13 * eye - MZ @ (15 * eye - MZ @ (7 * eye - MZ)))
    return Z


def pinv(W, rcond):
    """Pseudo-inverse with relative cutoff ``rcond``: eigh for symmetric W (negative eigenvalues kept),
    SVD otherwise."""
    if torch.allclose(W, W.transpose(-1, -2)):
        lam, U = torch.linalg.eigh(0.5 * (W + W.transpose(-1, -2)))
        keep = lam.abs() > rcond * lam.abs().amax(dim=-1, keepdim=True)
        inv = torch.where(keep, 1.0 / torch.where(keep, lam, torch.ones_like(lam)), torch.zeros_like(lam))
        return (U * inv.unsqueeze(-2)) @ U.transpose(-1, -2)
    return torch.linalg.pinv(W, rtol=rcond)


def _core_dtype(dtype):
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


# ------------------------------------------------------------------------------------------------
# Skyformer (kernelized / Gaussian target)
# ------------------------------------------------------------------------------------------------
def gaussian_block(A, B):
    """``exp(−‖a_i − b_j‖²/2)`` for batched rows of A (…, n, p) and B (…, m, p)."""
    sq = (A * A).sum(-1, keepdim=True) * 0.5 + (B * B).sum(-1).unsqueeze(-2) * 0.5 - A @ B.transpose(-1, -2)
    return torch.exp(-sq.clamp_min(0))


def skyformer(Q, K, V, *, indices, core="pinv", lam=None, n_iter=6, init="per_matrix", ns_scale=None,
              normalise=True, rcond=None):
    """Skyformer ``C̃ V = κ(Q̂, X_L) W⁻¹ κ(X_L, K̂) V`` with landmarks X_L = rows ``indices`` of [Q̂; K̂].

    indices : LongTensor of shape (batch, heads, d) (or (d,) shared), values in [0, n + m).
    core : "pinv" (Eq. 5) or "newton_schulz" (Lemma-3 normalised ``W + λI``, ``n_iter`` Razavi steps).
    """
    p = Q.shape[-1]
    c = p ** -0.25
    Qh, Kh = Q * c, K * c
    X = torch.cat([Qh, Kh], dim=-2)                                  # (B, H, n + m, p)
    idx = torch.as_tensor(indices, device=Q.device).long()
    idx = idx.expand(*X.shape[:-2], idx.shape[-1])
    XL = torch.gather(X, -2, idx.unsqueeze(-1).expand(*idx.shape, p))  # (B, H, d, p)
    CQ, CK = gaussian_block(Qh, XL), gaussian_block(Kh, XL)
    cd = _core_dtype(Q.dtype)
    W = gaussian_block(XL.to(cd), XL.to(cd))                          # the d×d core in float32 for half types
    if core == "pinv":
        Winv = pinv(W, rcond if rcond is not None else W.shape[-1] * torch.finfo(cd).eps)
    elif core == "newton_schulz":
        g = 0.0 if lam is None else float(lam)
        Wg = W + g * torch.eye(W.shape[-1], dtype=cd, device=W.device)
        if normalise:                                                # Skyformer Lemma 3
            s = Wg.sum(-1).rsqrt()
            N = s.unsqueeze(-1) * Wg * s.unsqueeze(-2)
            Winv = s.unsqueeze(-1) * newton_schulz(N, n_iter, init=init, scale=ns_scale) * s.unsqueeze(-2)
        else:
            Winv = newton_schulz(Wg, n_iter, init=init, scale=ns_scale)
    else:
        raise ValueError(f"skyformer: core {core!r} is not implemented in this example")
    return CQ @ (Winv.to(Q.dtype) @ (CK.transpose(-1, -2) @ V))


# ------------------------------------------------------------------------------------------------
# Nyströmformer
# ------------------------------------------------------------------------------------------------
def segment_means(X, d, padding="zeros"):
    """Means of d contiguous row segments (…, n, p) → (…, d, p); front zero-padding when d ∤ n."""
    n = X.shape[-2]
    if n % d == 0:
        return X.reshape(*X.shape[:-2], d, n // d, X.shape[-1]).mean(-2)
    if padding == "zeros":
        L = -(-n // d)
        pad = torch.zeros(*X.shape[:-2], L * d - n, X.shape[-1], dtype=X.dtype, device=X.device)
        return torch.cat([pad, X], -2).reshape(*X.shape[:-2], d, L, X.shape[-1]).sum(-2) / L
    bounds = [round(i * n / d) for i in range(d + 1)]
    return torch.stack([X[..., a:b, :].mean(-2) for a, b in zip(bounds[:-1], bounds[1:])], dim=-2)


def nystromformer(Q, K, V, *, d, core="newton_schulz", n_iter=6, init="per_matrix", ns_scale=None, rcond=None,
                  padding="zeros"):
    """Nyströmformer ``softmax(Q̂K̃ᵀ) Ã⁺ softmax(Q̃K̂ᵀ) V`` with segment-mean landmarks."""
    c = Q.shape[-1] ** -0.25
    Qh, Kh = Q * c, K * c
    cd = _core_dtype(Q.dtype)
    Qt, Kt = segment_means(Qh.to(cd), d, padding), segment_means(Kh.to(cd), d, padding)   # landmarks in float32
    At = torch.softmax(Qt @ Kt.transpose(-1, -2), dim=-1)            # the d×d core in float32 for half types
    Qt, Kt = Qt.to(Q.dtype), Kt.to(Q.dtype)
    if core == "newton_schulz":
        Ainv = newton_schulz(At, n_iter, init=init, scale=ns_scale)
    elif core == "pinv":
        Ainv = pinv(At, rcond if rcond is not None else d * torch.finfo(cd).eps)
    else:
        raise ValueError(f"nystromformer: core {core!r} is not implemented in this example")
    F = torch.softmax(Qh @ Kt.transpose(-1, -2), dim=-1)
    BV = torch.softmax(Qt @ Kh.transpose(-1, -2), dim=-1) @ V
    return F @ (Ainv.to(Q.dtype) @ BV)


# ------------------------------------------------------------------------------------------------
# Performer (FAVOR+)
# ------------------------------------------------------------------------------------------------
def _features(X, omega, kind, *, query, stabilize, eps):
    d = omega.shape[-2]
    P = X @ omega.transpose(-1, -2)
    half = 0.5 * (X * X).sum(-1)
    if kind == "trig":
        logpref = half
        if stabilize:
            logpref = torch.zeros_like(half) if query else half - half.amax(-1, keepdim=True)
        pref = torch.exp(logpref) / math.sqrt(d)
        return torch.cat([torch.cos(P), torch.sin(P)], -1) * pref.unsqueeze(-1)
    L = P if kind == "positive" else torch.cat([P, -P], -1)
    L = L - half.unsqueeze(-1)
    if stabilize:
        L = L - (L.amax(-1, keepdim=True) if query else L.amax((-2, -1), keepdim=True))
    L = torch.exp(L)
    if eps:
        L = L + eps
    return L / math.sqrt(d if kind == "positive" else 2 * d)


def _reference_features(X, omega, c, *, query, eps, key_max=None):
    """The reference codes' softmax_kernel: ratio·(exp((c·X)ωᵀ − ΣX²/2·c² − M) + ε)."""
    dash = (c * X) @ omega.transpose(-1, -2)
    diag = ((X * X).sum(-1) / 2.0 * c * c).unsqueeze(-1)
    M = dash.amax(-1, keepdim=True) if query else (dash.amax((-2, -1), keepdim=True) if key_max is None
                                                   else key_max)
    return omega.shape[-2] ** -0.5 * (torch.exp(dash - diag - M) + eps)


def performer(Q, K, V, *, omega, kind="positive", stabilize=True, feature_eps=0.0, double_scaling=False,
              stabilizer="exact", key_max=None):
    """FAVOR+ ``diag(φ(Q̂)φ(K̂)ᵀ1)⁻¹ φ(Q̂)(φ(K̂)ᵀV)`` with pre-drawn projections ``omega`` (…, d, p)."""
    p = Q.shape[-1]
    c = p ** (-0.5 if double_scaling else -0.25)
    om = torch.as_tensor(omega, device=Q.device).to(Q.dtype)
    if stabilizer in ("skyformer", "performer_pytorch", "google_research"):
        c4 = p ** -0.25
        Q0, K0 = (Q * c4, K * c4) if double_scaling else (Q, K)
        phi_q = _reference_features(Q0, om, c4, query=True, eps=feature_eps)
        phi_k = _reference_features(K0, om, c4, query=False, eps=feature_eps, key_max=key_max)
    else:
        phi_q = _features(Q * c, om, kind, query=True, stabilize=stabilizer != "none" and stabilize,
                          eps=feature_eps)
        phi_k = _features(K * c, om, kind, query=False, stabilize=stabilizer != "none" and stabilize,
                          eps=feature_eps)
    num = phi_q @ (phi_k.transpose(-1, -2) @ V)
    den = phi_q @ phi_k.sum(-2).unsqueeze(-1)
    return num / den


# ------------------------------------------------------------------------------------------------
# oracle cases → these functions
# ------------------------------------------------------------------------------------------------
TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
                "bfloat16": torch.bfloat16}


def case_inputs(case, device="cpu"):
    """The case's Q, K, V as torch tensors of the case dtype (bfloat16 values convert exactly)."""
    dt = TORCH_DTYPES[case.dtype]
    return [torch.from_numpy(case.inputs[k].copy()).to(device=device, dtype=dt) for k in ("Q", "K", "V")]


def run_case(case, device="cpu"):
    """Run the torch implementation of ``case.method`` with the case's options; returns a tensor."""
    Q, K, V = case_inputs(case, device)
    o = dict(case.options)

    def t(x):
        return torch.as_tensor(np.array(x), device=device)

    if case.method == "skyformer":
        if o.get("target", "gaussian") != "gaussian" or o.get("accumulation", 1) != 1:
            raise NotImplementedError("this example implements the Gaussian target without accumulation")
        pre = SKYFORMER_PRESETS[o.get("preset", "paper")]
        core = o.get("core") or pre["core"]
        core = "pinv" if core in ("eig", "signed_eig") else core   # same eigen-cutoff inverse; rcond pinned
        lam = o.get("lam", o.get("gamma", pre["lam"]))       # the ridge λ (a case file names it lam or gamma)
        if lam is None and core == "newton_schulz":
            lam = 0.1
        ns = o.get("ns_scale")
        return skyformer(Q, K, V, indices=t(o["indices"]), core=core, lam=lam,
                         n_iter=o.get("n_iter") or pre["n_iter"], init=o.get("init", "per_matrix"),
                         ns_scale=None if ns is None else float(ns), normalise=o.get("normalise", True),
                         rcond=o.get("rcond"))
    if case.method == "nystromformer":
        if o.get("target", "softmax") != "softmax":
            raise NotImplementedError("this example implements Nyströmformer's softmax target only")
        ns = o.get("ns_scale")
        return nystromformer(Q, K, V, d=o["d"], core=o.get("core", "newton_schulz"), n_iter=o.get("n_iter", 6),
                             init=o.get("init", "per_matrix"), ns_scale=None if ns is None else float(ns),
                             rcond=o.get("rcond"), padding=o.get("padding", "zeros"))
    if case.method == "performer":
        return performer(Q, K, V, omega=t(o["omega"]), kind=o.get("kind", "positive"),
                         stabilize=o.get("stabilize", True), feature_eps=o.get("feature_eps", 0.0),
                         double_scaling=o.get("double_scaling", False), stabilizer=o.get("stabilizer", "exact"),
                         key_max=None if o.get("key_max") is None else float(o["key_max"]))
    raise NotImplementedError(f"no torch implementation of {case.method!r} in this example")


#: (method, variant) pairs this example implements
SUPPORTED = [("skyformer", "paper"), ("skyformer", "code"), ("skyformer", "code-global-init"),
             ("skyformer", "paper-eig"), ("nystromformer", "paper"), ("nystromformer", "code"),
             ("nystromformer", "pinv"), ("nystromformer", "uneven-padding"), ("performer", "paper"),
             ("performer", "code"), ("performer", "lra-double-scaling"), ("performer", "sqrt-p-norms"),
             ("performer", "iid"), ("performer", "hyperbolic"), ("performer", "trig")]


def main():  # pragma: no cover - a demo
    import kernapprox as ka
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtypes = ["float64", "float32"] + (["float16", "bfloat16"] if device == "cuda" else [])
    for dtype in dtypes:
        for method, variant in SUPPORTED:
            case = ka.oracle.case(method, n=256, p=32, d=32, batch=2, heads=2, variant=variant, dtype=dtype)
            print(ka.oracle.compare(run_case(case, device), case))


if __name__ == "__main__":  # pragma: no cover
    main()
