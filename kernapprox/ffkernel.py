"""Trainable feed-forward kernel (Yorsh & Kovalenko 2022) — a numpy re-creation, fitted offline.

**What this is.** Yorsh & Kovalenko replace the random features of Performer-style linear attention by
a small trainable feed-forward network φ, applied per head to the queries and the keys,
``κ(q, k) ≈ φ(q)ᵀ φ(k)``, with a positive output nonlinearity (softplus), optional GLU gating and an
orthogonality regulariser, and train it END-TO-END with the transformer on Long Range Arena.
This module is **not** that training: it re-creates the feature-map architectures in numpy and
**fits φ offline** on given Q, K (, V) samples of one head by minimising, with analytic gradients and
scipy's L-BFGS,

* ``target="kernel"``:    ``‖φ(Q̂) φ(K̂)ᵀ − exp(Q̂ K̂ᵀ)‖_F² / ‖exp(Q̂ K̂ᵀ)‖_F²`` (the softmax kernel), or
* ``target="attention"``: ``‖LinAttn_φ(Q, K, V) − softmax(QKᵀ/√p) V‖_F² / ‖softmax(QKᵀ/√p) V‖_F²``,

plus ``orth_penalty · mean((G − I)²)`` with G the smaller Gram matrix of the main weight W. The
result is an "approximation error vs feature count p_out" that can be compared with Performer and
RFF on the same data — our own experiment, not a result of the paper.

Architectures (``kind``), x̂ = x · input_scale (default p^{-1/4}, so ``q̂·k̂ = q·k/√p``):

* ``"linear_softplus"``: ``φ(x) = softplus(x̂ W + b)`` (``HeadWiseFF`` with softplus);
* ``"glu"``:            ``φ(x) = softplus(x̂ W + b) ⊙ sigmoid(x̂ W_g + b_g)`` (``GatedOrthoKernel``);
* ``"lowrank_glu"``:    ``φ(x) = softplus(x̂ W + b) ⊙ sigmoid(x̂ W_a W_b + b_g)``, W_a p×k, W_b k×p_out,
  k = p/4 by default (``AMGOLU``).

W is orthogonally initialised (rows or columns orthonormal), W_g / W_a / W_b He-normal; biases 0.
The same φ is applied to queries and keys (as in the author's code). Per-head use: one map per head
(:func:`init_heads`, :func:`ff_attention` accepts a list of maps and (H, n, p) inputs).

References
----------
Yorsh & Kovalenko, "Linear Self-Attention Approximation via Trainable Feedforward Kernel",
ICANN 2022, arXiv 2211.04076 (abstract); the first author's code ``vladyorsh/lra_efficient_transformers``
``lra/layers.py`` (``HeadWiseFF``, ``GatedOrthoKernel``, ``AMGOLU``, ``LKAAttention``) — architecture
details come from that later code, not from the paper text (algorithms.md §4).
Katharopoulos et al., ICML 2020 (linear attention, Eq. (6)).
"""
from __future__ import annotations

import numpy as np
from scipy import optimize, special

from ._validation import (all_finite, as_generator, check_bool, check_choice, check_int, check_points, check_positive,
                          check_size_product, deprecated_alias, fail)

__all__ = ["FFKernelFeatureMap", "ff_attention", "fit_ffkernel", "init_heads", "error_vs_features", "FFKINDS",
           "FitResult"]

#: Upper bound on L-BFGS iterations of :func:`fit_ffkernel` (the fits converge in tens to hundreds).
MAX_ITER = 100_000
#: Upper bounds on the trials of :func:`error_vs_features` and the heads of :func:`init_heads`.
MAX_TRIALS = 10_000
MAX_HEADS = 100_000

FFKINDS = ("linear_softplus", "glu", "lowrank_glu")

#: gradient-norm tolerance of L-BFGS (relative losses are O(1), so this is a tight stop)
GTOL = 1e-8


def _softplus(z):
    return np.logaddexp(0.0, z)


#: below this argument ``log softplus(z) = z + log(log1p(e^z)/e^z)`` is taken as ``z − e^z/2`` (error O(e^{2z}))
_LOGSP_CUT = -30.0


def _log_softplus(z):
    """``log softplus(z)``, finite for every finite z (softplus itself underflows to 0 below z ≈ −745)."""
    zc = np.maximum(z, _LOGSP_CUT)
    return np.where(z > _LOGSP_CUT, np.log(np.logaddexp(0.0, zc)), z - 0.5 * np.exp(np.minimum(z, _LOGSP_CUT)))


def _dlog_softplus(z):
    """``d log softplus(z)/dz = expit(z)/softplus(z)`` (→ 1 − e^z/2 for z → −∞)."""
    zc = np.maximum(z, _LOGSP_CUT)
    return np.where(z > _LOGSP_CUT, special.expit(zc) / np.logaddexp(0.0, zc),
                    1.0 - 0.5 * np.exp(np.minimum(z, _LOGSP_CUT)))


class FFKernelFeatureMap:
    """Feed-forward feature map φ: R^p → R^{p_out}_{>0} for linear attention (one head).

    Parameters
    ----------
    p : int — input (head) dimension.
    p_out : int — number of features.
    kind : {"linear_softplus", "glu", "lowrank_glu"}
    k : int, optional — rank of the low-rank gate (default max(1, p // 4)).
    input_scale : float, optional — x̂ = x · input_scale (default p^{-1/4}).
    rng : None, int or Generator — initialisation.
    params : dict, optional — given parameters (``W``, ``b``, and ``Wg``/``bg`` or ``Wa``/``Wb``/``bg``)
        instead of a random initialisation.
    rank : int, optional — deprecated alias of ``k`` (DeprecationWarning).

    Notes
    -----
    ``transform`` costs O(n p p_out) (+ O(n k (p + p_out)) for the low-rank gate).
    """

    def __init__(self, p: int, p_out: int, *, kind: str = "linear_softplus", k: int | None = None,
                 input_scale: float | None = None, rng=None, params: dict | None = None, rank: int | None = None):
        func = "FFKernelFeatureMap"
        self.p = check_int(p, func, "p", low=1)
        self.p_out = check_int(p_out, func, "p_out", low=1)
        check_size_product(func, {"p": self.p, "p_out": self.p_out}, copies=3)    # W (and Wg), orthogonalised
        self.kind = check_choice(kind, FFKINDS, func, "kind")
        k = deprecated_alias(func, "rank", rank, "k", k)
        self.k = check_int(k if k is not None else max(1, p // 4), func, "rank" if rank is not None else "k", low=1)
        self.input_scale = float(p ** -0.25) if input_scale is None else check_positive(input_scale, func,
                                                                                       "input_scale")
        shapes = self.param_shapes()
        gen = as_generator(rng, func)
        if params is None:
            params = {"W": _orthogonal(p, p_out, gen), "b": np.zeros(p_out)}
            if kind == "glu":
                params["Wg"] = gen.standard_normal((p, p_out)) * np.sqrt(2.0 / p)
            elif kind == "lowrank_glu":
                params["Wa"] = gen.standard_normal((p, self.k)) * np.sqrt(2.0 / p)
                params["Wb"] = gen.standard_normal((self.k, p_out)) * np.sqrt(2.0 / self.k)
            if kind != "linear_softplus":
                params["bg"] = np.zeros(p_out)
        if set(params) != set(shapes):
            raise fail(func, "params", f"have exactly the keys {sorted(shapes)}", sorted(params))
        self.params = {}
        for key, shp in shapes.items():
            a = np.asarray(params[key], dtype=np.float64)
            if a.shape != shp or not all_finite(a):
                raise fail(func, "params", f"hold a finite {key!r} of shape {shp}", f"shape {a.shape}")
            self.params[key] = a.copy()

    @property
    def rank(self) -> int:
        """The rank ``k`` of the low-rank gate (the attribute's former name)."""
        return self.k

    # -- parameter vector ----------------------------------------------------------------------
    def param_shapes(self) -> dict:
        s = {"W": (self.p, self.p_out), "b": (self.p_out,)}
        if self.kind == "glu":
            s["Wg"] = (self.p, self.p_out)
        elif self.kind == "lowrank_glu":
            s["Wa"] = (self.p, self.k)
            s["Wb"] = (self.k, self.p_out)
        if self.kind != "linear_softplus":
            s["bg"] = (self.p_out,)
        return s

    def get_vector(self) -> np.ndarray:
        return np.concatenate([self.params[k].ravel() for k in self.param_shapes()])

    def set_vector(self, theta: np.ndarray) -> None:
        o = 0
        for k, shp in self.param_shapes().items():
            size = int(np.prod(shp))
            self.params[k] = np.asarray(theta[o:o + size], dtype=np.float64).reshape(shp).copy()
            o += size

    def copy(self) -> "FFKernelFeatureMap":
        return FFKernelFeatureMap(self.p, self.p_out, kind=self.kind, k=self.k,
                                  input_scale=self.input_scale, params=self.params)

    # -- forward / backward --------------------------------------------------------------------
    def _preactivations(self, X: np.ndarray):
        """``(Xs, Z, Zg, H)``: scaled input, softplus pre-activation, gate pre-activation (None for
        ``linear_softplus``) and the low-rank hidden layer (None unless ``kind="lowrank_glu"``)."""
        P = self.params
        Xs = X * self.input_scale
        Z = Xs @ P["W"] + P["b"]
        if self.kind == "linear_softplus":
            return Xs, Z, None, None
        if self.kind == "glu":
            return Xs, Z, Xs @ P["Wg"] + P["bg"], None
        H = Xs @ P["Wa"]
        return Xs, Z, H @ P["Wb"] + P["bg"], H

    def _forward(self, X: np.ndarray):
        """φ(X) and the cache needed by :meth:`_backward` (X unvalidated, float64)."""
        Xs, Z, Zg, H = self._preactivations(X)
        sp = _softplus(Z)
        if Zg is None:
            return sp, (Xs, Z, sp, None, None)
        g = special.expit(Zg)
        return sp * g, (Xs, Z, sp, g, H)

    def _log_forward(self, X: np.ndarray):
        """``log φ(X)`` (finite for every finite pre-activation, where φ itself may underflow to 0) and
        the cache of :meth:`_log_backward`."""
        Xs, Z, Zg, H = self._preactivations(X)
        L = _log_softplus(Z)
        if Zg is None:
            return L, (Xs, Z, None, None, None)
        L = L - np.logaddexp(0.0, -Zg)                          # + log sigmoid(Zg)
        return L, (Xs, Z, None, special.expit(Zg), H)

    def _log_backward(self, dlogphi: np.ndarray, cache) -> dict:
        """Gradients of a loss w.r.t. the parameters, given dLoss/d(log φ)."""
        Xs, Z, _, g, H = cache
        dZ = dlogphi * _dlog_softplus(Z)
        return self._grads(dZ, None if g is None else dlogphi * (1.0 - g), cache)

    def _backward(self, dphi: np.ndarray, cache) -> dict:
        """Gradients of a loss w.r.t. the parameters, given dLoss/dφ."""
        Xs, Z, sp, g, H = cache
        if g is None:
            return self._grads(dphi * special.expit(Z), None, cache)
        return self._grads(dphi * g * special.expit(Z), dphi * sp * g * (1.0 - g), cache)

    def _grads(self, dZ, dZg, cache) -> dict:
        """Parameter gradients from dLoss/dZ and dLoss/dZ_g (the pre-activations)."""
        Xs, Z, sp, g, H = cache
        P = self.params
        grads = {}
        if dZg is not None:
            grads["bg"] = dZg.sum(axis=0)
            if self.kind == "glu":
                grads["Wg"] = Xs.T @ dZg
            else:
                grads["Wb"] = H.T @ dZg
                grads["Wa"] = Xs.T @ (dZg @ P["Wb"].T)
        grads["W"] = Xs.T @ dZ
        grads["b"] = dZ.sum(axis=0)
        return grads

    def orth_penalty(self) -> tuple[float, np.ndarray]:
        """``mean((G − I)²)`` with G = WᵀW (p_out <= p) or W Wᵀ, and its gradient w.r.t. W."""
        W = self.params["W"]
        tall = self.p_out <= self.p
        G = W.T @ W if tall else W @ W.T
        E = G - np.eye(G.shape[0])
        val = float(np.mean(E * E))
        dG = 2.0 * E / E.size
        dW = 2.0 * (W @ dG) if tall else 2.0 * (dG @ W)
        return val, dW

    def transform(self, X) -> np.ndarray:
        """φ(X) of shape (n, p_out) (positive), X of shape (n, p)."""
        X = check_points(X, "FFKernelFeatureMap.transform", "X")
        if X.shape[1] != self.p:
            raise fail("FFKernelFeatureMap.transform", "X", f"have p = {self.p} columns", f"shape {X.shape}")
        return self._forward(X.astype(np.float64, copy=False))[0].astype(X.dtype, copy=False)

    __call__ = transform

    def __repr__(self):
        return f"FFKernelFeatureMap(p={self.p}, p_out={self.p_out}, kind={self.kind!r})"


def _orthogonal(p: int, p_out: int, gen) -> np.ndarray:
    """(p, p_out) matrix with orthonormal columns (p_out <= p) or rows (p_out > p)."""
    G = gen.standard_normal((max(p, p_out), min(p, p_out)))
    Qm, R = np.linalg.qr(G)
    Qm *= np.sign(np.diag(R))[None, :]
    return Qm if p >= p_out else Qm.T


def init_heads(H: int, p: int, p_out: int, *, kind: str = "linear_softplus", k: int | None = None,
               input_scale: float | None = None, rng=None) -> list:
    """One independently initialised :class:`FFKernelFeatureMap` per head (``kind``, ``k`` and
    ``input_scale`` as there; head h draws from the h-th child of ``rng``)."""
    H = check_int(H, "init_heads", "H", low=1, high=MAX_HEADS)
    gens = as_generator(rng, "init_heads").spawn(H)
    return [FFKernelFeatureMap(p, p_out, kind=kind, k=k, input_scale=input_scale, rng=g) for g in gens]


def _linattn(Fq, Fk, V):
    kv = Fk.T @ V
    s = Fk.sum(axis=0)
    N = Fq @ kv
    den = Fq @ s
    return N / den[:, None], (kv, s, N, den)


def _stabilised_features(Lq, Lk):
    """φ(Q), φ(K) from their logarithms, up to factors that cancel in linear attention: each feature's
    key maximum c_f is moved to the query side (``φ_k,f e^{−c_f}``, ``φ_q,f e^{c_f}``), then each query
    row is divided by its largest entry. Every column of the key features and every query row then
    holds an entry 1, so the denominator is ≥ 1 and the output a convex combination of rows of V at
    every input scale (the plain features underflow to 0 for pre-activations below ≈ −745, and the
    quotient becomes 0/0)."""
    c = Lk.max(axis=0)
    Lq = Lq + c
    return np.exp(Lq - Lq.max(axis=1, keepdims=True)), np.exp(Lk - c)


def ff_attention(Q, K, V, fm, *, return_factors: bool = False):
    """Linear attention with a feed-forward feature map φ: ``diag(φ(Q)φ(K)ᵀ1)⁻¹ φ(Q)(φ(K)ᵀV)``.

    Parameters
    ----------
    Q : ndarray of shape (n, p) or (H, n, p)
    K : ndarray of shape (m, p) or (H, m, p)
    V : ndarray of shape (m, pv) or (H, m, pv)
    fm : FFKernelFeatureMap, or a list of H maps for (H, ·, ·) inputs (one per head).

    Returns
    -------
    out : ndarray of shape (n, pv) or (H, n, pv)

    Notes
    -----
    O((n + m) p p_out + (n + m) p_out pv) per head; the denominator is positive (softplus > 0).

    References
    ----------
    Katharopoulos et al. 2020, Eq. (6); Yorsh & Kovalenko 2022 (``LKAAttention``); algorithms.md §4.
    """
    return_factors = check_bool(return_factors, "ff_attention", "return_factors")
    if isinstance(fm, (list, tuple)):
        Q, K, V = np.asarray(Q), np.asarray(K), np.asarray(V)
        if Q.ndim != 3 or len(fm) != Q.shape[0]:
            raise fail("ff_attention", "fm", "be one map per head for (H, n, p) inputs",
                       f"{len(fm)} maps, Q.shape={Q.shape}")
        res = [ff_attention(Q[h], K[h], V[h], fm[h], return_factors=return_factors) for h in range(len(fm))]
        if return_factors:
            return np.stack([r[0] for r in res]), [r[1] for r in res]
        return np.stack(res)
    from .attention._common import check_qkv
    Q, K, V = check_qkv(Q, K, V, "ff_attention")
    if not isinstance(fm, FFKernelFeatureMap):
        raise fail("ff_attention", "fm", "be an FFKernelFeatureMap", type(fm).__name__, TypeError)
    if Q.shape[1] != fm.p:
        raise fail("ff_attention", "Q", f"have p = {fm.p} columns (the map's input dimension)", f"shape {Q.shape}")
    Q64, K64, V64 = (X.astype(np.float64, copy=False) for X in (Q, K, V))
    Fq, Fk = _stabilised_features(fm._log_forward(Q64)[0], fm._log_forward(K64)[0])
    out = _linattn(Fq, Fk, V64)[0].astype(Q.dtype, copy=False)
    if return_factors:
        Fq, Fk = fm._forward(Q64)[0], fm._forward(K64)[0]
        _, (kv, s, _, den) = _linattn(Fq, Fk, V64)
        return out, {"phi_q": Fq, "phi_k": Fk, "kv": kv, "k_sum": s, "denominator": den}
    return out


class FitResult:
    """Outcome of :func:`fit_ffkernel`: ``fm`` (fitted map), ``loss`` (final data loss, relative),
    ``initial_loss``, ``n_iter``, ``success``, ``message``."""

    def __init__(self, fm, loss, initial_loss, n_iter, success, message):
        self.fm, self.loss, self.initial_loss = fm, loss, initial_loss
        self.n_iter, self.success, self.message = n_iter, success, message

    def __repr__(self):
        return (f"FitResult(kind={self.fm.kind!r}, p_out={self.fm.p_out}, loss={self.loss:.4g}, "
                f"initial_loss={self.initial_loss:.4g}, n_iter={self.n_iter})")


class _Objective:
    """Relative data loss + orthogonality penalty and its analytic gradient, for a parameter vector."""

    def __init__(self, fm, Q, K, V, target, orth_penalty):
        self.fm, self.Q, self.K, self.V = fm, Q, K, V
        self.target, self.lam = target, orth_penalty
        s = fm.input_scale
        if target == "kernel":
            self.T = np.exp((Q * s) @ (K * s).T)  # SM(Q̂, K̂) = exp(q·k/√p) for the default scale
        else:
            from .attention import exact
            self.T = exact(Q, K, V)               # softmax(Q Kᵀ/√p) V, streamed
        self.norm2 = float(np.sum(self.T ** 2))

    def data_loss(self, fm=None) -> float:
        fm = fm or self.fm
        if self.target == "kernel":
            R = fm._forward(self.Q)[0] @ fm._forward(self.K)[0].T - self.T
        else:
            Fq, Fk = _stabilised_features(fm._log_forward(self.Q)[0], fm._log_forward(self.K)[0])
            R = _linattn(Fq, Fk, self.V)[0] - self.T
        return float(np.sum(R * R)) / self.norm2

    def __call__(self, theta):
        fm = self.fm
        fm.set_vector(theta)
        if self.target == "kernel":
            Fq, cq = fm._forward(self.Q)
            Fk, ck = fm._forward(self.K)
        else:
            # linear attention is invariant under the shifts of _stabilised_features, so the gradient
            # w.r.t. log φ is (dL/dF) ⊙ F at the shifted features
            Lq, cq = fm._log_forward(self.Q)
            Lk, ck = fm._log_forward(self.K)
            Fq, Fk = _stabilised_features(Lq, Lk)
        if self.target == "kernel":
            R = Fq @ Fk.T - self.T
            loss = float(np.sum(R * R)) / self.norm2
            dFq = (2.0 / self.norm2) * (R @ Fk)
            dFk = (2.0 / self.norm2) * (R.T @ Fq)
        else:
            O, (kv, s, N, den) = _linattn(Fq, Fk, self.V)
            R = O - self.T
            loss = float(np.sum(R * R)) / self.norm2
            G = (2.0 / self.norm2) * R                      # dL/dO
            dN = G / den[:, None]                           # O = N / den
            dden = -np.einsum("ij,ij->i", G, O) / den       # dL/dden
            dFq = dN @ kv.T + dden[:, None] * s[None, :]
            dkv = Fq.T @ dN                                 # kv = Fkᵀ V
            ds = Fq.T @ dden                                # s = Fkᵀ 1
            dFk = self.V @ dkv.T + ds[None, :]
        if self.target == "kernel":
            gq, gk = fm._backward(dFq, cq), fm._backward(dFk, ck)
        else:
            gq, gk = fm._log_backward(dFq * Fq, cq), fm._log_backward(dFk * Fk, ck)
        grads = {k: gq[k] + gk[k] for k in gq}
        if self.lam > 0:
            pen, dW = fm.orth_penalty()
            loss += self.lam * pen
            grads["W"] = grads["W"] + self.lam * dW
        return loss, np.concatenate([grads[k].ravel() for k in fm.param_shapes()])


def fit_ffkernel(Q, K, V=None, *, p_out: int, kind: str = "linear_softplus", target: str = "attention",
                 orth_penalty: float = 0.0, max_iter: int = 200, rng=None, init=None, k: int | None = None,
                 input_scale: float | None = None) -> FitResult:
    """Fit a feed-forward feature map φ offline to one head's Q, K (, V) samples with L-BFGS.

    Parameters
    ----------
    Q : ndarray of shape (n, p)
    K : ndarray of shape (m, p)
    V : ndarray of shape (m, pv) — required for ``target="attention"``.
    p_out : int — number of features.
    kind : {"linear_softplus", "glu", "lowrank_glu"}
    target : {"attention", "kernel"} — see the module docstring (both relative squared errors).
    orth_penalty : float >= 0 — weight λ_orth of ``mean((G − I)²)``.
    max_iter : int — L-BFGS iterations.
    rng : None, int or Generator — initialisation (ignored when ``init`` is given).
    init : FFKernelFeatureMap, optional — start from this map (copied).
    k, input_scale : optional — of the initial :class:`FFKernelFeatureMap` (ignored with ``init``).

    Returns
    -------
    FitResult — ``.fm`` the fitted map, ``.loss`` / ``.initial_loss`` the relative data losses
    (without the penalty).

    Notes
    -----
    One loss + gradient evaluation costs O(n m p_out) for the kernel target (the n×m residual) and
    O((n + m) p_out (p + pv) + n m p) once for the attention target; memory O(n m) for the fixed
    target. Analytic gradients (checked against finite differences in ``tests/test_ffkernel.py``).
    This is an offline fit of the architecture, not the end-to-end training of the paper.

    References
    ----------
    Yorsh & Kovalenko 2022 (architecture, orthogonality regulariser); Nocedal & Wright, L-BFGS;
    algorithms.md §4 ("library proposal").
    """
    func = "fit_ffkernel"
    check_choice(target, ("attention", "kernel"), func, "target")
    Q = check_points(Q, func, "Q", dtype=np.float64)
    K = check_points(K, func, "K", dtype=np.float64)
    if K.shape[1] != Q.shape[1]:
        raise fail(func, "K", f"have p = {Q.shape[1]} columns", f"shape {K.shape}")
    if target == "attention":
        if V is None:
            raise fail(func, "V", "be given for target='attention'", None)
        V = check_points(V, func, "V", dtype=np.float64)
        if V.shape[0] != K.shape[0]:
            raise fail(func, "V", f"have one row per key ({K.shape[0]})", f"shape {V.shape}")
    orth_penalty = check_positive(orth_penalty, func, "orth_penalty", allow_zero=True)
    max_iter = check_int(max_iter, func, "max_iter", low=1, high=MAX_ITER)
    if init is not None:
        if not isinstance(init, FFKernelFeatureMap):
            raise fail(func, "init", "be an FFKernelFeatureMap", type(init).__name__, TypeError)
        fm = init.copy()
    else:
        fm = FFKernelFeatureMap(Q.shape[1], p_out, kind=kind, k=k, input_scale=input_scale, rng=rng)
    obj = _Objective(fm, Q, K, V, target, orth_penalty)
    initial = obj.data_loss()
    res = optimize.minimize(obj, fm.get_vector(), jac=True, method="L-BFGS-B",
                            options={"maxiter": max_iter, "gtol": GTOL})
    fm.set_vector(res.x)
    return FitResult(fm, obj.data_loss(), initial, int(res.nit), bool(res.success), str(res.message))


def error_vs_features(Q, K, V, counts, *, Q_test=None, kind: str = "glu", orth_penalty: float = 0.0,
                      max_iter: int = 100, trials: int = 3, rng=None) -> dict:
    """Relative attention-output error vs feature count: fitted FF kernel against Performer features.

    For each count c: the FF map with ``p_out = c`` fitted (``target="attention"``) on (Q, K, V),
    and FAVOR+ positive / trig features with ``d = c`` (orthogonal, stabilised; averaged over
    ``trials`` draws), all evaluated as ``‖out − softmax(Q_t Kᵀ/√p) V‖_F² / ‖softmax(·) V‖_F²`` on the
    queries ``Q_test`` (default: the training queries). Our own offline experiment (algorithms.md §4).

    Returns
    -------
    dict with ``counts`` (c,), ``ffkernel`` (c,), ``ffkernel_train`` (c,), ``performer_positive`` (c,),
    ``performer_trig`` (c,).
    """
    from .attention import approximate, exact
    func = "error_vs_features"
    counts = [check_int(c, func, "counts", low=1) for c in np.atleast_1d(counts)]
    trials = check_int(trials, func, "trials", low=1, high=MAX_TRIALS)
    max_iter = check_int(max_iter, func, "max_iter", low=1, high=MAX_ITER)
    Q = check_points(Q, func, "Q", dtype=np.float64)
    Qt = Q if Q_test is None else check_points(Q_test, func, "Q_test", dtype=np.float64)
    gen = as_generator(rng, func)
    ex = exact(Qt, K, V)
    nrm = float(np.sum(ex ** 2))

    def rel(o):
        return float(np.sum((o - ex) ** 2)) / nrm

    out = {k: [] for k in ("ffkernel", "ffkernel_train", "performer_positive", "performer_trig")}
    for c in counts:
        res = fit_ffkernel(Q, K, V, p_out=c, kind=kind, orth_penalty=orth_penalty, max_iter=max_iter, rng=gen)
        out["ffkernel"].append(rel(ff_attention(Qt, K, V, res.fm)))
        out["ffkernel_train"].append(res.loss)
        for fk in ("positive", "trig"):
            out["performer_" + fk].append(np.mean([rel(approximate(Qt, K, V, method="performer", d=c, kind=fk,
                                                                   rng=gen)) for _ in range(trials)]))
    return {"counts": np.array(counts), **{k: np.array(v) for k, v in out.items()}}
