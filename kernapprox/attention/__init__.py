"""Attention targets and approximators (design.md §2, §3; algorithms.md §2, §3, §5.3, §9).

Entry points
------------
``exact(Q, K, V, *, kind="softmax" | "gaussian" | "sigmoid", bias=None, key_padding_mask=None)``
    The exact targets, streamed over query tiles (never the whole n×m score matrix at once).
``approximate(Q, K, V, *, method, d=None, rng=None, return_factors=False, **options)``
    One approximator from the registry :data:`_METHODS` (``name -> (module, function)``, imported on
    first use): ``"skyformer"``, ``"nystromformer"``, ``"skeinformer"``, ``"informer"``,
    ``"linformer"``, ``"vmean"``, ``"s3"`` (``"performer"``, ``"rff"``, ``"linear"`` are registered by
    the random-features modules).
``draw_randomness(Q, K, V, *, method, d=None, rng=None, **options) -> dict``
    All the randomness ``approximate`` would draw, as named options. Passing them back makes the call
    deterministic — the contract GPU implementations and the oracle rely on::

        r = draw_randomness(Q, K, V, method="skyformer", d=64, rng=0)
        approximate(Q, K, V, method="skyformer", d=64, **r)   # == approximate(..., rng=0)

Shapes
------
``Q (..., n, p)``, ``K (..., m, p)``, ``V (..., m, pv)``; the leading (batch, head) axes must
broadcast. Queries and keys may have different lengths (cross-attention) wherever the method allows.

Method-function protocol (single head)
--------------------------------------
Each method is a public function ``fn(Q, K, V, *, d=None, rng=None, return_factors=False, **options)``
on 2-D arrays returning ``out (n, pv)`` or ``(out, factors: dict)``. It carries attributes:

* ``fn.draw(Q, K, V, *, d, rng, **options) -> dict`` — draws every random option that is not already
  given in ``options`` (data-dependent draws such as Skeinformer's column indices see the data); the
  method itself calls it, so ``fn(..., rng=r)`` ≡ ``fn(..., **fn.draw(..., rng=r))``.
* ``fn.per_item_options`` — ``{option name: ndim of one item's value}`` (or a function of the
  options returning it, e.g. Skyformer's ``indices`` are 2-D when ``accumulation > 1``). In batched calls an option
  whose array has ``ndim + len(batch_shape)`` dimensions and leading shape ``batch_shape`` is sliced per
  item; with exactly ``ndim`` dimensions it is shared by every item (same landmarks for all heads).
* optional ``fn.batch_prepare(Q, K, V, *, d, **options) -> dict`` — options computed once over the
  whole batch (the batch-global Newton–Schulz scale of ``init="global"``, Nyströmformer and Skyformer);
  the dispatcher first draws every item's randomness (with the item's generator, so results are
  unchanged) and hands it to ``batch_prepare`` in ``options``.

``approximate`` and ``draw_randomness`` accept ``key_padding_mask`` (``True`` = padded key): each item
then runs on its unpadded keys only, so landmarks / pilot rows / sampled columns are drawn among real
tokens and means use the real count, as in the authors' code.

Batched calls give item ``b`` (flat C order over the batch axes) the generator
``as_generator(rng).spawn(B)[b]``: independent, reproducible substreams per (batch, head). A 2-D call
uses ``as_generator(rng)`` itself, so ``approximate(Q, K, V, method=m, rng=r) == fn(Q, K, V, rng=r)``.

Common option names across methods: ``core=`` ("pinv", "eig", "ridge", "newton_schulz"),
``landmarks=`` (rule name), ``indices=`` (pre-drawn landmark indices; Skyformer: rows of the stacked
``[Q̂; K̂]``), ``gamma=``, ``n_iter=``, ``init=`` ("per_matrix" | "global").
"""
from __future__ import annotations

import importlib
import inspect

import numpy as np

from .._validation import as_generator, check_choice, fail, working_dtype
from . import _exact

__all__ = ["exact", "approximate", "draw_randomness", "methods", "get_method", "KINDS"]

#: name -> (module, function); modules are imported on first use.
_METHODS = {
    "skyformer": ("kernapprox.attention._skyformer", "skyformer"),
    "nystromformer": ("kernapprox.attention._nystromformer", "nystromformer"),
    "skeinformer": ("kernapprox.attention._skeinformer", "skeinformer"),
    "informer": ("kernapprox.attention._informer", "informer"),
    "linformer": ("kernapprox.attention._linformer", "linformer"),
    "vmean": ("kernapprox.attention._skeinformer", "vmean"),
    "s3": ("kernapprox.attention._s3", "s3"),
    "performer": ("kernapprox.attention._performer", "performer"),
    "rff": ("kernapprox.attention._random_features", "rff"),
    "linear": ("kernapprox.attention._random_features", "linear"),
}

KINDS = _exact.KINDS


def __getattr__(name: str):
    # the single-head method functions are reachable as kernapprox.attention.<name>
    if name in _METHODS:
        return get_method(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def methods() -> tuple[str, ...]:
    """Names of the registered approximators."""
    return tuple(sorted(_METHODS))


def get_method(name: str):
    """The single-head function registered under ``name``."""
    check_choice(name, tuple(sorted(_METHODS)), "attention.approximate", "method")
    mod, attr = _METHODS[name]
    fn = getattr(importlib.import_module(mod), attr)
    # bind the function as kernapprox.attention.<name>: importing a submodule of the same name would
    # otherwise leave the module object there (the reason our modules are named ``_<method>.py``)
    globals()[name] = fn
    return fn


# -- shapes and batching --------------------------------------------------------------------------
def _as_nd(A, func: str, name: str) -> np.ndarray:
    if not (hasattr(A, "__array__") or isinstance(A, (list, tuple, np.ndarray))):
        raise fail(func, name, "be an array-like of numbers", type(A).__name__, TypeError)
    A = np.asarray(A)
    if np.iscomplexobj(A) or A.dtype.kind not in "fiub":
        raise fail(func, name, "hold real numbers", f"dtype {A.dtype}", TypeError)
    if A.ndim < 2:
        raise fail(func, name, "have shape (..., rows, features) with at least 2 dimensions", f"shape {A.shape}")
    return A


def _split_batch(Q, K, V, func: str):
    """Validate (..., n, p), (..., m, p), (..., m, pv); broadcast the batch axes; return arrays + batch shape."""
    Q, K, V = _as_nd(Q, func, "Q"), _as_nd(K, func, "K"), _as_nd(V, func, "V")
    if Q.shape[-1] != K.shape[-1]:
        raise fail(func, "K", f"have the head dimension p = {Q.shape[-1]} of `Q` (last axis)",
                   f"Q.shape={Q.shape}, K.shape={K.shape}")
    if V.shape[-2] != K.shape[-2]:
        raise fail(func, "V", f"have one row per key (m = {K.shape[-2]})", f"K.shape={K.shape}, V.shape={V.shape}")
    try:
        batch = np.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2])
    except ValueError:
        raise fail(func, "Q, K, V", "have broadcastable leading (batch, head) axes",
                   f"Q.shape={Q.shape}, K.shape={K.shape}, V.shape={V.shape}") from None
    for name, A in (("Q", Q), ("K", K), ("V", V)):
        if A.size and not np.isfinite(A).all():
            raise fail(func, name, "hold only finite values (no NaN or inf)",
                       f"{int(A.size - np.count_nonzero(np.isfinite(A)))} non-finite entries")
    if Q.shape[-2] < 1 or K.shape[-2] < 1 or Q.shape[-1] < 1 or V.shape[-1] < 1:
        raise fail(func, "Q, K, V", "be non-empty", f"Q.shape={Q.shape}, K.shape={K.shape}, V.shape={V.shape}")
    dt = working_dtype(Q, K, V)
    Q = np.broadcast_to(Q.astype(dt, copy=False), batch + Q.shape[-2:])
    K = np.broadcast_to(K.astype(dt, copy=False), batch + K.shape[-2:])
    V = np.broadcast_to(V.astype(dt, copy=False), batch + V.shape[-2:])
    return Q, K, V, batch


def _item_options(fn, options: dict, batch: tuple, idx: tuple, func: str) -> dict:
    """Slice the per-item options whose leading dims equal the batch shape."""
    spec = getattr(fn, "per_item_options", {})
    out = dict(options)
    for name, nd in spec.items():
        val = options.get(name)
        if val is None or not batch or isinstance(val, str):
            continue
        if callable(nd):
            nd = nd(options)
        a = np.asarray(val)
        if a.ndim == nd + len(batch):
            if a.shape[:len(batch)] != batch:
                raise fail(func, name, f"have leading shape {batch} (one value per batch item) or be shared "
                           f"({nd}-D)", f"shape {a.shape}")
            out[name] = a[idx]
        elif a.ndim != nd:
            raise fail(func, name, f"be {nd}-D (shared by all items) or {nd + len(batch)}-D with leading "
                       f"shape {batch}", f"shape {a.shape}")
    return out


def _check_options(fn, method: str, options: dict) -> None:
    sig = inspect.signature(fn)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    known = [k for k, p in sig.parameters.items() if p.kind is p.KEYWORD_ONLY]
    for k in options:
        if k not in known:
            raise fail("attention.approximate", k, f"be an option of method {method!r} "
                       f"({', '.join(x for x in known if x not in ('d', 'rng', 'return_factors'))})",
                       "an unknown option", TypeError)


def _children(rng, B: int):
    root = as_generator(rng)
    return root.spawn(B)


def approximate(Q, K, V, *, method: str, d=None, rng=None, return_factors: bool = False, key_padding_mask=None,
                **options):
    """Approximate attention output with a registered method, batched over leading axes.

    Parameters
    ----------
    Q : ndarray of shape (..., n, p)
    K : ndarray of shape (..., m, p)
    V : ndarray of shape (..., m, pv)
    method : str
        A name in :func:`methods` (``"skyformer"``, ``"nystromformer"``, ``"skeinformer"``,
        ``"informer"``, ``"linformer"``, ``"vmean"``, ``"s3"``, …).
    d : int, optional
        Number of landmarks / features / sampled columns (ignored by ``"vmean"``).
    rng : None, int, SeedSequence or Generator
        Used only for randomness not given through ``options``; batched inputs get one spawned child
        generator per item (see the module docstring).
    return_factors : bool
        Also return the method's factors (a dict; for batched input an object array of dicts with the
        batch shape).
    key_padding_mask : bool ndarray of shape (..., m), optional
        ``True`` marks padded keys (``torch.nn.MultiheadAttention`` convention). Each item runs on its
        unpadded keys only (as the authors' code: landmarks, pilot and sampled columns among real
        tokens, means and ``m − d`` over the real count); pre-drawn key-side indices then refer to
        the unpadded keys in order. Queries are not masked (compare with ``exact(...,
        key_padding_mask=...)`` on the real query rows).
    **options
        Method options (``core=``, ``landmarks=``, ``indices=``, ``gamma=``, ``n_iter=``, ``init=``, …),
        including pre-drawn randomness, per item (leading batch axes) or shared.

    Returns
    -------
    out : ndarray of shape (..., n, pv), dtype float32 if all inputs are float32 else float64
    factors : dict or object ndarray, only with ``return_factors=True``

    Notes
    -----
    Cost: the method's single-head cost times the number of (batch, head) items. No method forms an
    n×m matrix; exact parts (pilot rows, Informer's active rows, "unreduced" variants) are streamed.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> Q, K, V = np.random.default_rng(0).normal(size=(3, 2, 128, 16)) * 0.5
    >>> ka.attention.approximate(Q, K, V, method="skyformer", d=32, rng=0).shape
    (2, 128, 16)
    """
    func = "attention.approximate"
    fn = get_method(method)
    _check_options(fn, method, options)
    Q, K, V, batch = _split_batch(Q, K, V, func)
    km = _check_mask(key_padding_mask, batch, K.shape[-2], func)
    if not batch:
        Kb, Vb = _keys(K, V, km, ())
        return fn(Q, Kb, Vb, d=d, rng=rng, return_factors=return_factors, **options)
    B = int(np.prod(batch))
    gens = _children(rng, B)
    prep = getattr(fn, "batch_prepare", None)
    if prep is not None:
        if km is not None and options.get("init") == "global":
            raise fail(func, "init", "be 'per_matrix' together with `key_padding_mask`", "'global'")
        if km is None:
            # draw every item's randomness first (with its own substream: identical to drawing inside
            # the method), so batch-wide quantities may depend on it (Skyformer's global Razavi scale)
            options = {**options, **_stacked_draws(fn, Q, K, V, batch, d, gens, options, func)}
            options = {**options, **prep(Q, K, V, d=d, **options)}
    out = np.empty(batch + (Q.shape[-2], V.shape[-1]), dtype=Q.dtype)
    facs = np.empty(batch, dtype=object) if return_factors else None
    for b, idx in enumerate(np.ndindex(*batch)):
        opts = _item_options(fn, options, batch, idx, func)
        Kb, Vb = _keys(K, V, km, idx)
        res = fn(Q[idx], Kb, Vb, d=d, rng=gens[b], return_factors=return_factors, **opts)
        if return_factors:
            out[idx], facs[idx] = res
        else:
            out[idx] = res
    return (out, facs) if return_factors else out


def draw_randomness(Q, K, V, *, method: str, d=None, rng=None, key_padding_mask=None, **options) -> dict:
    """All randomness ``approximate(Q, K, V, method=method, d=d, rng=rng, **options)`` draws, by name.

    Returns a dict of arrays (leading batch axes for batched inputs) to pass back as options; then
    ``approximate`` is deterministic and equal to the call with ``rng``. Options already given are
    returned unchanged (sliced per item and re-stacked for batched inputs).

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> Q, K, V = np.random.default_rng(0).normal(size=(3, 64, 8))
    >>> r = ka.attention.draw_randomness(Q, K, V, method="skyformer", d=16, rng=1)
    >>> sorted(r)
    ['indices']
    >>> a = ka.attention.approximate(Q, K, V, method="skyformer", d=16, rng=1)
    >>> np.array_equal(a, ka.attention.approximate(Q, K, V, method="skyformer", d=16, **r))
    True
    """
    func = "attention.draw_randomness"
    fn = get_method(method)
    _check_options(fn, method, options)
    draw = getattr(fn, "draw", None)
    if draw is None:
        raise fail(func, "method", "name a method that exposes a `draw` function", repr(method))
    Q, K, V, batch = _split_batch(Q, K, V, func)
    km = _check_mask(key_padding_mask, batch, K.shape[-2], func)
    if not batch:
        Kb, Vb = _keys(K, V, km, ())
        return draw(Q, Kb, Vb, d=d, rng=as_generator(rng), **options)
    return _stacked_draws(fn, Q, K, V, batch, d, _children(rng, int(np.prod(batch))), options, func, km)


def _check_mask(key_padding_mask, batch, m, func):
    if key_padding_mask is None:
        return None
    km = np.asarray(key_padding_mask)
    if km.dtype != bool:
        raise fail(func, "key_padding_mask", "be a boolean array (True = padded key)", f"dtype {km.dtype}", TypeError)
    try:
        km = np.broadcast_to(km, batch + (m,))
    except ValueError:
        raise fail(func, "key_padding_mask", f"broadcast to {batch + (m,)}", f"shape {km.shape}") from None
    if np.any(km.all(axis=-1)):
        raise fail(func, "key_padding_mask", "leave at least one unpadded key in every sequence",
                   "a sequence with all keys padded")
    return km


def _keys(K, V, km, idx):
    if km is None:
        return K[idx], V[idx]
    keep = ~km[idx]
    return K[idx][keep], V[idx][keep]


def _stacked_draws(fn, Q, K, V, batch, d, gens, options, func, km=None) -> dict:
    """Per-item ``fn.draw`` with the items' generators, stacked with leading batch axes."""
    items = []
    for b, idx in enumerate(np.ndindex(*batch)):
        opts = _item_options(fn, options, batch, idx, func)
        Kb, Vb = _keys(K, V, km, idx)
        items.append(fn.draw(Q[idx], Kb, Vb, d=d, rng=gens[b], **opts))
    out = {}
    for key in items[0]:
        vals = [np.asarray(it[key]) for it in items]
        if any(v.shape != vals[0].shape for v in vals):
            raise ValueError(f"{func}: option {key!r} has different shapes across batch items "
                             f"({vals[0].shape} vs others; e.g. padded sequences of different lengths): "
                             f"draw per item instead")
        out[key] = np.stack(vals).reshape(batch + vals[0].shape)
    return out


def exact(Q, K, V, *, kind: str = "softmax", bias=None, key_padding_mask=None):
    """Exact attention output, streamed over query tiles.

    Parameters
    ----------
    Q : ndarray of shape (..., n, p)
    K : ndarray of shape (..., m, p)
    V : ndarray of shape (..., m, pv)
    kind : {"softmax", "gaussian", "sigmoid"}
        ``"softmax"``: ``D⁻¹AV`` with ``A = exp(QKᵀ/√p)``, ``D = diag(A1)`` (row max subtracted).
        ``"gaussian"``: Skyformer's kernelized attention ``CV``, ``C = κ(Q/p^¼, K/p^¼)``,
        ``C_ij = exp(−‖q_i − k_j‖²/(2√p))``, no row normalisation (algorithms.md §2.1).
        ``"sigmoid"``: ``σ(QKᵀ/√p + b) V`` elementwise, no normalisation (algorithms.md §5.5).
    bias : float or ndarray broadcastable to (..., n, m), optional
        Added to the logits (``QKᵀ/√p``, or the Gaussian log-kernel) before the nonlinearity. For
        sigmoid attention ``b ≈ −log m`` is the usual choice (Yan et al. 2025); default 0.
    key_padding_mask : bool ndarray of shape (..., m), optional
        ``True`` marks PADDED keys that are ignored (the ``torch.nn.MultiheadAttention`` convention).
        Every sequence must keep at least one key.

    Returns
    -------
    ndarray of shape (..., n, pv)

    Notes
    -----
    Time O(n m (p + pv)) per item; extra memory one (tile × m) score block (about 16 MiB).

    References
    ----------
    Chen et al., "Skyformer", NeurIPS 2021, §4.1 Eq. (3); Vaswani et al. 2017; Yan et al. 2025 (sigmoid).

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> Q, K, V = np.random.default_rng(0).normal(size=(3, 5, 4))
    >>> ka.attention.exact(Q, K, V).shape
    (5, 4)
    """
    func = "attention.exact"
    check_choice(kind, KINDS, func, "kind")
    Q, K, V, batch = _split_batch(Q, K, V, func)
    n, m = Q.shape[-2], K.shape[-2]
    if bias is not None:
        b = np.asarray(bias)
        if b.dtype.kind not in "fiub" or not np.isfinite(b).all():
            raise fail(func, "bias", "be a finite real number or array", repr(bias) if b.ndim == 0 else f"shape {b.shape}")
        try:
            np.broadcast_shapes(b.shape, batch + (n, m))
        except ValueError:
            raise fail(func, "bias", f"broadcast to {batch + (n, m)}", f"shape {b.shape}") from None
        if b.ndim > len(batch) + 2:
            raise fail(func, "bias", f"have at most {len(batch) + 2} dimensions", f"shape {b.shape}")
        if b.ndim > 2:
            b = np.broadcast_to(b, batch + b.shape[-2:])
    km = _check_mask(key_padding_mask, batch, m, func)
    out = np.empty(batch + (n, V.shape[-1]), dtype=Q.dtype)
    for idx in np.ndindex(*batch):
        bi = None
        if bias is not None:
            bi = b[idx] if (b.ndim > 2) else b
        keep = None if km is None else ~km[idx]
        out[idx] = _exact.exact_2d(Q[idx], K[idx], V[idx], kind, bias=bi, keep=keep)
    return out
