"""Synthetic per-head attention inputs Q, K, V (algorithms.md §2.9, §8) — clearly labelled proxies.

The papers' Figure 1 uses Q, K, V of BERT on Wikitext-2 (randomly initialised and pretrained), which are
not available offline; these generators are the documented substitutes:

* :func:`bert_init_qkv` — "initialized": LayerNorm-ed token states ``X ~ N(0, 1)^{n×width}`` (width 768)
  mapped by BERT-initialised projections ``W ~ N(0, 0.02²)`` (p = 64). Attention is nearly flat.
* :func:`structured_qkv` — "structured / pretrained-like": tokens from a small vocabulary with Zipf
  frequencies, low-rank token embeddings plus noise, LayerNorm; ``W_K`` correlated with ``W_Q`` and a
  larger scale, so that a token attends strongly to tokens like itself (peaky attention, fast spectral
  decay of the output).
* :func:`scaled_qkv` — the controllable family ``Q = s·G₁``, ``K = s·G₂``, ``V = G₃`` (G i.i.d. N(0, 1)):
  the scale s sets the Gaussian-kernel bandwidth regime (s = 0.5: Nyström works; s = 1: ``d_stat ≈ n``).
* :func:`synthetic_qkv` — one entry point by name (``kind="initialized" | "pretrained" | "scaled"``).

All return ``(Q, K, V)`` of shape (n, p) (or (heads, n, p) with ``heads=``) and draw only from ``rng``.
"""
from __future__ import annotations

import numpy as np

from .._validation import (as_generator, check_choice, check_int, check_positive, check_size_product, deprecated_alias,
                           fail)

__all__ = ["bert_init_qkv", "structured_qkv", "scaled_qkv", "synthetic_qkv", "QKV_KINDS"]

#: Names accepted by :func:`synthetic_qkv` (aliases map to the same generator).
QKV_KINDS = ("initialized", "pretrained", "structured", "bert_init", "scaled")
#: BERT's initializer standard deviation.
BERT_INIT_STD = 0.02
#: Variance floor of the parameter-free LayerNorm (BERT's ``layer_norm_eps``; torch's own default is 1e-5).
LN_EPS = 1e-12


def layer_norm(X, g=None, b=None, eps: float = LN_EPS):
    """LayerNorm over the last axis, ``(x − μ)/√(σ² + eps)``, then ``· g + b`` when the affine
    parameters are given (BERT's; the synthetic generators use the parameter-free form)."""
    X = X - X.mean(axis=-1, keepdims=True)
    X = X / np.sqrt((X * X).mean(axis=-1, keepdims=True) + eps)
    return X if g is None else X * g + b


def _check_sizes(func, heads, *products, dtype=np.float64):
    """Validate ``heads`` and ``dtype`` and refuse, before any draw, a request whose arrays (each a
    product of named sizes, times the number of heads) do not fit in the available memory."""
    h = 1 if heads is None else check_int(heads, func, "heads", low=1)
    try:
        dt = np.dtype(dtype) if isinstance(dtype, (type, np.dtype, str)) else None
    except TypeError:
        dt = None
    if dt not in (np.float32, np.float64):
        raise fail(func, "dtype", "be float32 or float64", dtype)
    for sizes, copies in products:
        check_size_product(func, sizes, copies=copies * h)


def _heads(fn, heads, rng, func="synthetic_qkv"):
    gen = as_generator(rng, func)
    if heads is None:
        return fn(gen)
    heads = check_int(heads, func, "heads", low=1)
    trip = [fn(g) for g in gen.spawn(heads)]
    return tuple(np.stack([t[i] for t in trip]) for i in range(3))


def _cast(dtype, *arrs):
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise fail("synthetic_qkv", "dtype", "be float32 or float64", dt)
    return tuple(a.astype(dt, copy=False) for a in arrs)


def bert_init_qkv(n: int, *, p: int = 64, width: int = 768, std: float = BERT_INIT_STD, heads=None,
                  dtype=np.float64, rng=None):
    """"Initialized-BERT-like" Q, K, V: ``X ~ N(0,1)^{n×width}``, ``W_Q, W_K, W_V ~ N(0, std²)^{width×p}``.

    Parameters
    ----------
    n : int
        Sequence length.
    p : int
        Head dimension.
    width : int
        Model width (768 for BERT-base).
    std : float
        Projection initialiser standard deviation (BERT: 0.02).
    heads : int, optional
        Number of independent heads (leading axis of the outputs).
    dtype : {float64, float32}
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    Q, K, V : ndarrays of shape (n, p) (or (heads, n, p))

    Notes
    -----
    Entries of Q, K have variance ``width·std²`` (0.31 for BERT-base): logits ``q·k/√p`` of std ≈ 0.3,
    i.e. nearly uniform attention. Cost O(n·width·p).

    References
    ----------
    algorithms.md §2.9 (offline substitute for Skyformer Fig. 1, "initialized" row).

    Examples
    --------
    >>> from kernapprox.datasets import bert_init_qkv
    >>> Q, K, V = bert_init_qkv(128, rng=0)
    >>> Q.shape
    (128, 64)
    """
    func = "bert_init_qkv"
    n = check_int(n, func, "n", low=1)
    p = check_int(p, func, "p", low=1)
    width = check_int(width, func, "width", low=1)
    std = check_positive(std, func, "std")
    _check_sizes(func, heads, ({"n": n, "width": width}, 2), ({"p": p, "width": width}, 3),
                 ({"n": n, "p": p}, 3), dtype=dtype)

    def one(gen):
        X = layer_norm(gen.standard_normal((n, width)))
        W = gen.standard_normal((3, width, p)) * std
        return _cast(dtype, X @ W[0], X @ W[1], X @ W[2])

    return _heads(one, heads, rng, func)


def structured_qkv(n: int, *, p: int = 64, width: int = 256, vocab: int = 64, k: int = 16,
                   zipf: float = 1.1, noise: float = 0.3, scale: float = 0.1, coupling: float = 0.8,
                   heads=None, dtype=np.float64, rng=None, rank: int | None = None):
    """"Structured / pretrained-like" Q, K, V with peaky attention (synthetic proxy, algorithms.md §2.9).

    Tokens ``t_i`` are drawn from ``vocab`` types with Zipf(``zipf``) frequencies; type embeddings are
    low-rank, ``E = G U/√k`` (G vocab×k, U k×width, N(0,1)); token states
    ``X = LayerNorm(E[t] + noise·N(0,1))``. Projections ``W_Q ~ N(0, scale²)``,
    ``W_K = coupling·W_Q + sqrt(1 − coupling²)·N(0, scale²)`` (correlated, so ``q_i·k_j`` is large
    when tokens i and j are alike) and ``W_V ~ N(0, scale²)``.

    Parameters
    ----------
    n : int
    p : int
    width, vocab, k : int
        Model width, vocabulary size, rank of the type embeddings.
    zipf : float
        Zipf exponent of the type frequencies (> 0).
    noise : float
        Per-token noise level (>= 0).
    scale : float
        Projection standard deviation (sets the peakiness: logits of std ≈ ``width·scale²·√p·coupling``).
    coupling : float
        Correlation in [0, 1] between ``W_K`` and ``W_Q``.
    heads : int, optional
    dtype : {float64, float32}
    rng : None, int, SeedSequence or Generator
    rank : int, optional
        Deprecated alias of ``k`` (DeprecationWarning).

    Returns
    -------
    Q, K, V : ndarrays of shape (n, p) (or (heads, n, p))

    Notes
    -----
    Cost O(n·width·p). The defaults give a mean maximal attention weight of roughly 0.1–0.3 at
    n = 512 (logits of std ≈ 6) and a fast-decaying output spectrum (a low-rank token matrix).

    References
    ----------
    algorithms.md §2.9, §8 (offline substitute for the "pretrained" row of Skyformer/Skeinformer Fig. 1).

    Examples
    --------
    >>> from kernapprox.datasets import structured_qkv
    >>> Q, K, V = structured_qkv(256, rng=0)
    >>> Q.shape, V.shape
    ((256, 64), (256, 64))
    """
    func = "structured_qkv"
    n = check_int(n, func, "n", low=1)
    p = check_int(p, func, "p", low=1)
    width = check_int(width, func, "width", low=1)
    vocab = check_int(vocab, func, "vocab", low=1)
    k = deprecated_alias(func, "rank", rank, "k", k, new_default=16)
    k = check_int(k, func, "rank" if rank is not None else "k", low=1)
    zipf = check_positive(zipf, func, "zipf")
    noise = check_positive(noise, func, "noise", allow_zero=True)
    scale = check_positive(scale, func, "scale")
    coupling = check_positive(coupling, func, "coupling", allow_zero=True)
    if coupling > 1:
        raise fail(func, "coupling", "lie in [0, 1]", coupling)
    _check_sizes(func, heads, ({"n": n, "width": width}, 2), ({"p": p, "width": width}, 3),
                 ({"vocab": vocab, "width": width}, 1), ({"n": n, "p": p}, 3), dtype=dtype)
    freq = 1.0 / np.arange(1, vocab + 1) ** zipf
    freq /= freq.sum()

    def one(gen):
        E = gen.standard_normal((vocab, k)) @ gen.standard_normal((k, width)) / np.sqrt(k)
        t = gen.choice(vocab, size=n, p=freq)
        X = layer_norm(E[t] + noise * gen.standard_normal((n, width)))
        WQ = gen.standard_normal((width, p)) * scale
        WK = coupling * WQ + np.sqrt(1.0 - coupling ** 2) * gen.standard_normal((width, p)) * scale
        WV = gen.standard_normal((width, p)) * scale
        return _cast(dtype, X @ WQ, X @ WK, X @ WV)

    return _heads(one, heads, rng, func)


def scaled_qkv(n: int, *, p: int = 64, scale: float = 0.5, m: int | None = None, pv: int | None = None,
               heads=None, dtype=np.float64, rng=None):
    """The scale family ``Q = s·G₁``, ``K = s·G₂``, ``V = G₃`` with i.i.d. N(0, 1) matrices (algorithms.md §8).

    Parameters
    ----------
    n : int
        Queries.
    p : int
        Head dimension.
    scale : float
        s: with p = 64, s = 0.5 gives a Gaussian kernel C whose Nyström error reaches ≈ 2% at d = 256;
        s = 1 gives a near-diagonal C (``d_stat ≈ n``, Nyström fails; algorithms.md §10).
    m : int, optional
        Keys (default n; cross-attention otherwise).
    pv : int, optional
        Value width (default p).
    heads : int, optional
    dtype : {float64, float32}
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    Q : ndarray of shape (n, p); K : (m, p); V : (m, pv) (leading ``heads`` axis if given)

    Examples
    --------
    >>> from kernapprox.datasets import scaled_qkv
    >>> Q, K, V = scaled_qkv(100, p=8, scale=0.5, m=80, rng=0)
    >>> Q.shape, K.shape, V.shape
    ((100, 8), (80, 8), (80, 8))
    """
    func = "scaled_qkv"
    n = check_int(n, func, "n", low=1)
    p = check_int(p, func, "p", low=1)
    m = n if m is None else check_int(m, func, "m", low=1)
    pv = p if pv is None else check_int(pv, func, "pv", low=1)
    s = check_positive(scale, func, "scale")
    _check_sizes(func, heads, ({"n": n, "p": p}, 1), ({"m": m, "p": p}, 1), ({"m": m, "pv": pv}, 1),
                 dtype=dtype)

    def one(gen):
        return _cast(dtype, s * gen.standard_normal((n, p)), s * gen.standard_normal((m, p)),
                     gen.standard_normal((m, pv)))

    return _heads(one, heads, rng, func)


def synthetic_qkv(n: int, *, kind: str = "initialized", heads=None, dtype=np.float64, rng=None, **options):
    """Synthetic Q, K, V by regime name.

    Parameters
    ----------
    n : int
    kind : {"initialized", "bert_init", "pretrained", "structured", "scaled"}
        ``"initialized"``/``"bert_init"`` → :func:`bert_init_qkv`; ``"pretrained"``/``"structured"`` →
        :func:`structured_qkv` (a pretrained-LIKE proxy, not real pretrained weights);
        ``"scaled"`` → :func:`scaled_qkv`.
    heads : int, optional
    dtype : {float64, float32}
    rng : None, int, SeedSequence or Generator
    **options
        Keywords of the chosen generator (e.g. ``p=``, ``scale=``); one it does not take is a TypeError.

    Returns
    -------
    Q, K, V : ndarrays

    Examples
    --------
    >>> from kernapprox.datasets import synthetic_qkv
    >>> [a.shape for a in synthetic_qkv(64, kind="pretrained", heads=2, rng=0)]
    [(2, 64, 64), (2, 64, 64), (2, 64, 64)]
    """
    check_choice(kind, QKV_KINDS, "synthetic_qkv", "kind")
    fn = {"initialized": bert_init_qkv, "bert_init": bert_init_qkv, "pretrained": structured_qkv,
          "structured": structured_qkv, "scaled": scaled_qkv}[kind]
    return fn(n, heads=heads, dtype=dtype, rng=rng, **options)
