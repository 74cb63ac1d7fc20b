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

Options contract
----------------
``approximate``, ``draw_randomness``, the public single-head functions ``kernapprox.attention.<name>``
and their ``.draw`` check every keyword they accept on every call, whether or not the configuration
uses it: the method's schema (:func:`option_schema`, entries of :data:`OPTION_SCHEMA`) validates each
value (booleans must be bool, tolerances finite and in range, names from their list, pre-drawn
randomness finite numbers); unknown keywords raise ``TypeError`` naming them; ``rng`` is normalised
with the same check for every method, deterministic ones included; ``d`` must be an int >= 1 for every
method (also where it is ignored: V-Mean, linear), at most the method's bound (Skyformer n + m,
Nyströmformer min(n, m), column samplers and Linformer m, Informer the largest d with
``c⌈ln n⌉ <= n``) and within the available memory (a per-method estimate; the message names ``d`` and
the bytes). The bare formulas are ``get_method(name).__wrapped__``.

Range safeguard
---------------
An exact softmax-attention output row is a convex combination of the rows of V. Estimators with a
pseudo-inverse (Skyformer's softmax variant, Nyströmformer) can produce an estimated row mass
``Ã1 ≤ 0`` on sharp heads, and the quotient then leaves that hull by orders of magnitude (measured on
MiniLM: inf in float32, 1e139 in float64). ``approximate(..., safeguard=)`` (default ``"exact"``;
``"clip"`` for Linformer, whose output lies outside the hull by design) keeps every row inside the
natural range of the method's target (:func:`_exact.safeguard_rows`); ``safeguard="none"`` returns
the bare formula of the paper / the authors' code.

Common option names across methods: ``core=`` ("pinv", "eig", "ridge", "newton_schulz"),
``landmarks=`` (rule name), ``indices=`` (pre-drawn landmark indices; Skyformer: rows of the stacked
``[Q̂; K̂]``), ``gamma=``, ``n_iter=``, ``init=`` ("per_matrix" | "global").
"""
from __future__ import annotations

import functools
import importlib
import inspect

import numpy as np

from .._validation import (as_generator, check_bool, check_choice, check_int, check_memory, check_rcond, check_real,
                           fail, working_dtype)
from ..nystrom_general import ATTENTION_CORES, NS_MAX_ITER
from . import _exact
from ._common import check_qkv

__all__ = ["exact", "approximate", "draw_randomness", "methods", "get_method", "option_schema", "KINDS",
           "OPTION_SCHEMA", "SAFEGUARDS"]

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
SAFEGUARDS = _exact.SAFEGUARDS


def __getattr__(name: str):
    # the single-head method functions are reachable as kernapprox.attention.<name>
    if name in _METHODS:
        return get_method(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def methods() -> tuple[str, ...]:
    """Names of the registered approximators."""
    return tuple(sorted(_METHODS))


def get_method(name: str):
    """The single-head function registered under ``name``, with the options contract and the range
    safeguard of :func:`approximate` (see :func:`_checked`); ``fn.__wrapped__`` is the bare formula."""
    if not isinstance(name, str):
        raise fail("attention.approximate", "method", f"be one of {', '.join(map(repr, sorted(_METHODS)))}",
                   repr(name), TypeError)
    check_choice(name, tuple(sorted(_METHODS)), "attention.approximate", "method")
    fn = _BOUND.get(name)
    if fn is None:
        mod, attr = _METHODS[name]
        fn = _BOUND[name] = _checked(name, getattr(importlib.import_module(mod), attr))
    # bind the function as kernapprox.attention.<name>: importing a submodule of the same name would
    # otherwise leave the module object there (the reason our modules are named ``_<method>.py``)
    globals()[name] = fn
    return fn


_BOUND: dict = {}


def _raw(fn):
    """The bare single-head formula of a (checked) method function."""
    return getattr(fn, "__wrapped__", fn)


# -- the options contract ---------------------------------------------------------------------------
# Every keyword a method accepts is validated on every call, whether or not the current configuration
# uses it (a mistyped value never passes silently); unknown keywords raise TypeError naming them.
# ``OPTION_SCHEMA`` maps option name -> validator(value, func, name); a method's schema is the subset
# named by its signature (:func:`option_schema`). Methods still check what they use (shapes of
# pre-drawn arrays against n, m, p), so this table only has to state what a value may be at all.
def _v_bool(v, f, k):
    check_bool(v, f, k)


def _v_opt(check):
    def v(x, f, k):
        if x is not None:
            check(x, f, k)
    return v


def _v_choice(*choices):
    def v(x, f, k):
        check_choice(x, choices, f, k)
    return v


def _v_module_choice(method, const, fallback):
    """Choices read from the method's module (so they follow the module's own list)."""
    def v(x, f, k):
        mod = importlib.import_module(_METHODS[method][0])
        check_choice(x, tuple(getattr(mod, const, fallback)), f, k)
    return v


def _v_int(low=None, high=None):
    def v(x, f, k):
        check_int(x, f, k, low=low, high=high)
    return v


def _v_real(**bounds):
    def v(x, f, k):
        check_real(x, f, k, **bounds)
    return v


def _v_name(x, f, k):
    if not isinstance(x, str):
        raise fail(f, k, "be a name (str)", repr(x), TypeError)


def _v_array(x, f, k):
    """Pre-drawn randomness: a non-empty array-like of finite real numbers (shapes: the method)."""
    if isinstance(x, (str, bytes, bool, np.bool_)) or not (hasattr(x, "__array__") or
                                                          isinstance(x, (list, tuple, np.ndarray, int, float))):
        raise fail(f, k, "be an array of numbers", type(x).__name__, TypeError)
    a = np.asarray(x)
    if a.dtype.kind not in "iuf":
        raise fail(f, k, "hold real numbers", f"dtype {a.dtype}", TypeError)
    if a.size == 0:
        raise fail(f, k, "be non-empty", f"shape {a.shape}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise fail(f, k, "hold only finite values", f"{int(a.size - np.isfinite(a).sum())} non-finite entries")


def _v_signs(x, f, k):
    if isinstance(x, str):
        check_choice(x, ("rademacher", "ones"), f, k)
    else:
        _v_array(x, f, k)


def _v_rcond(x, f, k):
    check_rcond(x, f, k)


OPTION_SCHEMA = {
    # cores (Skyformer, Nyströmformer; :func:`kernapprox._cores.core_inverse`)
    "core": _v_opt(_v_choice(*ATTENTION_CORES)),
    "gamma": _v_opt(_v_real(low=0.0)),
    "n_iter": _v_opt(_v_int(1, NS_MAX_ITER)),
    "init": _v_opt(_v_choice("per_matrix", "global")),
    "ns_scale": _v_opt(_v_real(low=0.0, low_open=True)),
    "normalise": _v_bool,
    "rcond": _v_rcond,
    # Skyformer
    "target": _v_choice("gaussian", "softmax"),
    "preset": _v_choice("paper", "code"),
    "landmarks": _v_opt(_v_name),
    "indices": _v_opt(_v_array),
    "accumulation": _v_int(1, None),
    "signs": _v_opt(_v_signs),
    "center_keys": _v_bool,
    # Nyströmformer
    "padding": _v_module_choice("nystromformer", "PADDINGS", ("zeros", "uneven")),
    # Skeinformer
    "column_sampling": _v_choice("importance", "uniform"),
    "row_normalization": _v_choice("adaptive", "exact", "simple"),
    "pilot_reuse": _v_opt(_v_bool),
    "importance_weights": _v_bool,
    "pilot_indices": _v_opt(_v_array),
    "column_indices": _v_opt(_v_array),
    # Informer
    "n_top": _v_opt(_v_int(1, None)),
    "n_sample": _v_opt(_v_int(1, None)),
    "measure": _v_choice("sampled", "exact"),
    "mean_divisor": _v_choice("n", "sample"),
    "key_indices": _v_opt(_v_array),
    # Linformer
    "variant": _v_choice("linformer", "unreduced_jlt"),
    "projection": _v_opt(_v_array),
    # S3
    "part": _v_choice("column", "row", "both"),
    "n_features": _v_opt(_v_int(1, None)),
    "layer_norm": _v_bool,
    "feature_indices": _v_opt(_v_array),
    # random features (RFF, Performer)
    "paired": _v_bool,
    "orthogonal": _v_bool,
    "omega": _v_opt(_v_array),
    "phase": _v_opt(_v_array),
    "kind": _v_choice("positive", "hyperbolic", "trig"),
    "scaling": _v_choice(0, 1),
    "stabilize": _v_bool,
    "stabilizer": _v_opt(_v_module_choice("performer", "STABILIZERS", ())),
    "feature_eps": _v_opt(_v_real(low=0.0)),
    "key_max": _v_opt(_v_real()),
    "double_scaling": _v_bool,
}

#: per-method entries that differ from :data:`OPTION_SCHEMA` (Nyströmformer has no preset to resolve
#: ``core=None`` from)
METHOD_OPTION_SCHEMA = {"nystromformer": {"core": _v_choice(*ATTENTION_CORES)}}

#: keywords of the common signature, checked by :func:`_check_call` itself
_COMMON_KW = ("d", "rng", "return_factors")


def option_schema(method: str) -> dict:
    """``{option name: validator}`` of a registered method: every keyword-only option of its signature
    (besides ``d``, ``rng``, ``return_factors``) with its entry of :data:`OPTION_SCHEMA`."""
    fn = _raw(get_method(method))
    names = [k for k, p in inspect.signature(fn).parameters.items()
             if p.kind is p.KEYWORD_ONLY and k not in _COMMON_KW]
    own = METHOD_OPTION_SCHEMA.get(method, {})
    return {k: own.get(k, OPTION_SCHEMA.get(k)) for k in names}


def _check_options(fn, method: str, options: dict, func: str = "attention.approximate") -> None:
    """Unknown keywords raise TypeError naming them; every given option's value is validated."""
    schema = option_schema(method)
    unknown = sorted(k for k in options if k not in schema)
    if unknown:
        raise fail(func, ", ".join(unknown), f"be an option of method {method!r} ({', '.join(schema) or 'none'})",
                   "an unknown option", TypeError)
    for k, v in options.items():
        check = schema[k]
        if check is not None:
            check(v, func, k)


# -- size contracts ---------------------------------------------------------------------------------
def _d_bound(method: str, n: int, m: int, options: dict):
    """``(largest d, why)`` for the method on n queries and m keys, or ``(None, "")`` if unbounded."""
    if method == "skyformer":
        return n + m, "landmarks are rows of the n + m stacked [Q̂; K̂]; more cannot add rank"
    if method == "nystromformer":
        return min(n, m), "one landmark per segment of the shorter sequence"
    if method == "skeinformer" and not options.get("importance_weights", False):
        return m, "columns are sampled without replacement from the m keys"
    if method == "informer" and options.get("n_top") is None:
        from ._informer import informer_max_d
        return informer_max_d(n, m), "u = c⌈ln n⌉ active queries, c = ⌈d / ln m⌉, must not exceed n"
    if method in ("linformer", "s3"):
        return m, "it projects / samples the m keys"
    return None, ""


def _d_bytes(method: str, n: int, m: int, p: int, pv: int, d: int, options: dict) -> int:
    """Working memory (bytes, float64) of one head of the method with d landmarks / features."""
    if method == "skyformer":
        a = check_int(options.get("accumulation", 1), "attention.approximate", "accumulation", low=1)
        return 8 * ((n + m) * d * 3 + 4 * (a * d) ** 2 + d * (p + pv))
    if method == "nystromformer":
        return 8 * ((n + m) * d + 6 * d * d + d * (p + pv))
    if method in ("rff", "performer"):
        return 8 * ((n + m) * 2 * d * 2 + d * (p + pv))
    if method in ("vmean", "linear"):
        return 0
    return 8 * ((n + m) * d * 2 + d * (p + pv))


#: size options bounded by the inputs: name -> (bound from (n, m, p, pv), what it counts)
_SIZE_OPTIONS = {"n_top": (lambda n, m, p, pv: n, "active queries among the n queries"),
                 "n_sample": (lambda n, m, p, pv: m, "sampled keys per query among the m keys"),
                 "n_features": (lambda n, m, p, pv: pv, "feature channels among the pv columns of V")}


def _check_call(method, n, m, p, pv, d, rng, return_factors, safeguard, options, func):
    """The whole options contract of one call (every path, every keyword): names and values of the
    options, ``d`` (an int >= 1 below the method's bound and within the available memory, also where
    the method ignores it), ``rng`` (validated even by deterministic methods), bools, ``safeguard``."""
    _check_options(None, method, options, func)
    as_generator(rng, func)
    check_bool(return_factors, func, "return_factors")
    if safeguard is not None:
        check_choice(safeguard, _exact.SAFEGUARDS, func, "safeguard")
    for name, (bound, what) in _SIZE_OPTIONS.items():
        if options.get(name) is not None:
            check_int(options[name], func, name, low=1, high=bound(n, m, p, pv))
    if options.get("accumulation", 1) != 1:
        a = options["accumulation"]
        dd = 1 if d is None else check_int(d, func, "d", low=1)
        check_memory(8 * ((n + m) * a * dd + 4 * (a * dd) ** 2), func, "accumulation", a)
    if d is not None:
        d = check_int(d, func, "d", low=1)
        high, why = _d_bound(method, n, m, options)
        if high is not None and d > high:
            raise fail(func, "d", f"be <= {high} ({why})", d)
        check_memory(_d_bytes(method, n, m, p, pv, d, options), func, "d", d)


# -- the range safeguard ----------------------------------------------------------------------------
#: methods whose default safeguard is not ``"exact"``: Linformer's output is a convex combination of
#: the rows of E V (random combinations of V), outside the box of V by design; recomputing those rows
#: exactly would turn it into exact attention, so its default only projects onto the box.
DEFAULT_SAFEGUARD = {"linformer": "clip"}


def target_kind(method: str, options: dict):
    """The exact target a method approximates with these options (``"softmax"``, ``"gaussian"``), or
    None when its output has no range to keep (S3 row / both parts mix channels)."""
    if method == "skyformer":
        return options.get("target", "gaussian")
    if method == "nystromformer":
        return options.get("target", "softmax")
    if method == "rff":
        return "gaussian"
    if method == "s3" and options.get("part", "column") != "column":
        return None
    return "softmax"


def _guard(method, res, Q, K, V, options, safeguard, return_factors):
    """Apply :func:`kernapprox.attention._exact.safeguard_rows` to one head's result."""
    kind = target_kind(method, options)
    mode = DEFAULT_SAFEGUARD.get(method, "exact") if safeguard is None else safeguard
    out, fac = res if return_factors else (res, None)
    if kind is not None:
        out, info = _exact.safeguard_rows(out, Q, K, V, kind, mode)
    else:
        info = {"exact_rows": np.zeros(0, dtype=np.intp), "clipped_rows": 0, "n_evals": 0}
    if not return_factors:
        return out
    fac = dict(fac)
    fac["safeguard"] = {"mode": mode if kind is not None else "none", "target": kind, **info}
    if "n_evals" in fac and info["n_evals"]:
        fac["n_evals"] = fac["n_evals"] + info["n_evals"]
    return out, fac


def _accepted(fn, options: dict) -> dict:
    """The options a function's signature takes (all of them if it has ``**kwargs``)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return options
    return {k: v for k, v in options.items() if k in params}


def _checked(method: str, raw):
    """The public single-head function: the options contract, the bare formula, the safeguard; its
    ``draw`` checks the same contract and hands the draw function only the options it takes."""
    @functools.wraps(raw)
    def fn(Q, K, V, *, d=None, rng=None, return_factors=False, safeguard=None, **options):
        Q, K, V = check_qkv(Q, K, V, method)
        _check_call(method, Q.shape[0], K.shape[0], Q.shape[1], V.shape[1], d, rng, return_factors, safeguard,
                    options, method)
        res = raw(Q, K, V, d=d, rng=rng, return_factors=return_factors, **options)
        return _guard(method, res, Q, K, V, options, safeguard, return_factors)

    raw_draw = raw.draw

    def draw(Q, K, V, *, d=None, rng=None, **options):
        Q, K, V = check_qkv(Q, K, V, method)
        _check_call(method, Q.shape[0], K.shape[0], Q.shape[1], V.shape[1], d, rng, False, None, options,
                    f"{method}.draw")
        return raw_draw(Q, K, V, d=d, rng=rng, **_accepted(raw_draw, options))

    functools.update_wrapper(draw, raw_draw)
    fn.draw = draw
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


def _children(rng, B: int):
    root = as_generator(rng, "attention.approximate")
    return root.spawn(B)


def approximate(Q, K, V, *, method: str, d=None, rng=None, return_factors: bool = False, key_padding_mask=None,
                safeguard: str | None = None, **options):
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
    safeguard : {"exact", "clip", "none"}, optional
        Keeps every output row inside the natural range of the method's exact target (the convex
        hull of V's rows for softmax attention; :func:`kernapprox.attention._exact.safeguard_rows`):
        ``"exact"`` (default, except Linformer) recomputes rows that are non-finite or far outside
        the range (e.g. from a non-positive estimated row mass ``Ã1``) exactly and clips rows that
        are slightly outside; ``"clip"`` (Linformer's default) projects every out-of-range row onto
        the box; ``"none"`` returns the bare formula (the paper's / authors' code output). With
        ``return_factors`` each item's factors carry ``"safeguard"`` (rows recomputed, rows clipped,
        score evaluations added to ``n_evals``).
    **options
        Method options (``core=``, ``landmarks=``, ``indices=``, ``gamma=``, ``n_iter=``, ``init=``, …),
        including pre-drawn randomness, per item (leading batch axes) or shared. Every option is
        validated (:data:`OPTION_SCHEMA`) whether or not the configuration uses it; unknown names
        raise ``TypeError``; ``d`` is bounded per method (e.g. d <= n + m for Skyformer) and by the
        available memory.

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
    fn = _raw(get_method(method))
    Q, K, V, batch = _split_batch(Q, K, V, func)
    _check_call(method, Q.shape[-2], K.shape[-2], Q.shape[-1], V.shape[-1], d, rng, return_factors, safeguard,
                options, func)
    km = _check_mask(key_padding_mask, batch, K.shape[-2], func)
    if not batch:
        Kb, Vb = _keys(K, V, km, ())
        res = fn(Q, Kb, Vb, d=d, rng=rng, return_factors=return_factors, **options)
        return _guard(method, res, Q, Kb, Vb, options, safeguard, return_factors)
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
        res = _guard(method, res, Q[idx], Kb, Vb, opts, safeguard, return_factors)
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
    fn = _raw(get_method(method))
    Q, K, V, batch = _split_batch(Q, K, V, func)
    _check_call(method, Q.shape[-2], K.shape[-2], Q.shape[-1], V.shape[-1], d, rng, False, None, options, func)
    km = _check_mask(key_padding_mask, batch, K.shape[-2], func)
    if not batch:
        Kb, Vb = _keys(K, V, km, ())
        return fn.draw(Q, Kb, Vb, d=d, rng=as_generator(rng, func), **_accepted(fn.draw, options))
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
        items.append(fn.draw(Q[idx], Kb, Vb, d=d, rng=gens[b], **_accepted(fn.draw, opts)))
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
