"""Attention targets and approximators (design.md §2, §3; algorithms.md §2, §3, §5.3, §9, §13.1).

Entry points
------------
``exact(Q, K, V, *, kind="softmax" | "gaussian" | "sigmoid", bias=None, key_padding_mask=None)``
    The exact targets, streamed over query tiles (never the whole n×m score matrix at once).
``approximate(Q, K, V, *, method, d=None, rng=None, return_factors=False, **options)``
    One approximator from the registry (:func:`methods`): ``"skyformer"``, ``"nystromformer"``,
    ``"skeinformer"``, ``"vmean"``, ``"informer"``, ``"linformer"``, ``"s3"``, ``"performer"``,
    ``"rff"``, ``"linear"``, and any method added with :func:`register`.
``draw_randomness(Q, K, V, *, method, d=None, rng=None, **options) -> dict``
    All the randomness ``approximate`` would draw, as named options. Passing them back makes the call
    deterministic — the contract GPU implementations and the oracle rely on::

        r = draw_randomness(Q, K, V, method="skyformer", d=64, rng=0)
        approximate(Q, K, V, method="skyformer", d=64, **r)   # == approximate(..., rng=0)
``get_method(name)`` (also ``kernapprox.attention.<name>``)
    The single-head method: ``fn(Q, K, V, *, d, rng, return_factors, safeguard, **options)`` with the
    options contract and the range safeguard below; ``fn.draw``; ``fn.method`` its record;
    ``fn.formula`` (``fn.__wrapped__``) the bare formula.

Shapes
------
``Q (..., n, p)``, ``K (..., m, p)``, ``V (..., m, pv)``; the leading (batch, head) axes must
broadcast. Queries and keys may have different lengths (cross-attention) wherever the method allows.

The registry
------------
A method is an :class:`~kernapprox.attention._protocol.AttentionMethod` record (its fields are
documented there): the bare single-head formula, its ``draw``, its declared option schema, the
per-item options of batched calls, an optional ``batch_prepare``, its target and default safeguard,
its ``d`` bound and memory estimate, and the hooks the oracle reads (``resolve_options``,
``core_factors``). Each method module exports ``METHODS`` (a tuple of records); the registry maps a
name to its module, imported on first use, and :func:`register` adds records at run time. The
dispatcher talks to methods through these fields only.

In batched calls an option listed in ``per_item_options`` whose array has ``ndim + len(batch_shape)``
dimensions and leading shape ``batch_shape`` is sliced per item; with exactly ``ndim`` dimensions it
is shared by every item (same landmarks for all heads). A method with ``batch_prepare`` gets options
computed once over the whole batch (the batch-global Newton–Schulz scale of ``init="global"``,
Nyströmformer and Skyformer): the dispatcher first draws every item's randomness (with the item's
generator, so results are unchanged) and hands it to ``batch_prepare``.

``approximate`` and ``draw_randomness`` accept ``key_padding_mask`` (``True`` = padded key): each item
then runs on its unpadded keys only, so landmarks / pilot rows / sampled columns are drawn among real
tokens and means use the real count, as in the authors' code.

Batched calls give item ``b`` (flat C order over the batch axes) the generator
``as_generator(rng).spawn(B)[b]``: independent, reproducible substreams per (batch, head). A 2-D call
uses ``as_generator(rng)`` itself, so ``approximate(Q, K, V, method=m, rng=r) == fn(Q, K, V, rng=r)``.

Options contract
----------------
``approximate``, ``draw_randomness``, the single-head methods and their ``.draw`` check every keyword
they accept on every call, whether or not the configuration uses it: the method's schema
(:func:`option_schema`) validates each value (booleans must be bool, tolerances finite and in range,
names from their list, pre-drawn randomness finite numbers); unknown keywords raise ``TypeError``
naming them; deprecated aliases (``gamma`` for the ridge ``lam``, S3's ``n_features`` for
``n_channels``) are renamed with a ``DeprecationWarning``; ``rng`` is normalised with the same check
for every method, deterministic ones included; ``d`` must be an int >= 1 for every method (also where
it is ignored: V-Mean, linear), at most the method's bound (Skyformer n + m, Nyströmformer min(n, m),
column samplers and Linformer m, Informer the largest d with ``c⌈ln n⌉ <= n``) and within the
available memory (a per-method estimate; the message names ``d`` and the bytes).

Budget
------
With ``return_factors`` each item's factors carry ``n_evals`` (query–key scores, kernel entries and
feature projections evaluated, the safeguard's exact rows included) and ``exact_fraction`` (share of
the n·m entries of the attention matrix the output uses exactly), algorithms.md §13.1.

Range safeguard
---------------
An exact softmax-attention output row is a convex combination of the rows of V. Estimators with a
pseudo-inverse (Skyformer's softmax variant, Nyströmformer) can produce an estimated row mass
``Ã1 ≤ 0`` on sharp heads, and the quotient then leaves that hull by orders of magnitude (measured on
MiniLM: inf in float32, 1e139 in float64). ``approximate(..., safeguard=)`` (default: the method's
``default_safeguard``, ``"exact"`` for most; ``"clip"`` for Linformer, whose output lies outside the
hull by design; ``"none"`` for V-Mean, whose rows are means of V's rows) keeps every row inside the
natural range of the method's target (:func:`_exact.safeguard_rows`); ``safeguard="none"`` returns
the bare formula of the paper / the authors' code. The exact rows it recomputes are added to
``n_evals``, and their share of the rows to ``exact_fraction`` (capped at 1; exact when the method
computed no exact entry on those rows).

Common option names across methods: ``core=`` ("pinv", "signed_eig", "ridge", "newton_schulz"),
``landmarks=`` (a landmark rule name), ``indices=`` (pre-drawn landmark indices; Skyformer: rows of
the stacked ``[Q̂; K̂]``), ``lam=`` (ridge), ``n_iter=``, ``init=`` ("per_matrix" | "global").
"""
from __future__ import annotations

import importlib
import inspect

import numpy as np

from .._validation import deprecated_alias
from .._validation import (all_finite, as_generator, check_bool, check_choice, check_int, check_memory, fail,
                           working_dtype)
from . import _exact
from ._common import check_qkv
from ._protocol import AttentionMethod

__all__ = ["exact", "approximate", "draw_randomness", "methods", "get_method", "register", "option_schema",
           "KINDS", "SAFEGUARDS"]

#: name -> module exporting ``METHODS`` (a tuple of :class:`AttentionMethod`); imported on first use.
_MODULES = {
    "skyformer": "kernapprox.attention._skyformer",
    "nystromformer": "kernapprox.attention._nystromformer",
    "skeinformer": "kernapprox.attention._skeinformer",
    "vmean": "kernapprox.attention._skeinformer",
    "informer": "kernapprox.attention._informer",
    "linformer": "kernapprox.attention._linformer",
    "s3": "kernapprox.attention._s3",
    "performer": "kernapprox.attention._performer",
    "rff": "kernapprox.attention._random_features",
    "linear": "kernapprox.attention._random_features",
    "clustered": "kernapprox.attention._clustered",
    "sparse_lowrank": "kernapprox.attention._sparse_lowrank",
    "hyperattention": "kernapprox.attention._hyperattention",
    "kdeformer": "kernapprox.attention._kdeformer",
}
#: name -> AttentionMethod, filled on first use (and by :func:`register`)
_REGISTERED: dict = {}
#: name -> the checked callable of :func:`get_method`
_BOUND: dict = {}

KINDS = _exact.KINDS
SAFEGUARDS = _exact.SAFEGUARDS


def __getattr__(name: str):
    # the checked single-head methods are reachable as kernapprox.attention.<name>
    if name in _MODULES or name in _REGISTERED:
        return get_method(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(__all__) | set(methods()) | {"AttentionMethod"})


def methods() -> tuple[str, ...]:
    """Names of the registered approximators."""
    return tuple(sorted(set(_MODULES) | set(_REGISTERED)))


def register(method: AttentionMethod, *, replace: bool = False) -> None:
    """Add an approximator to the registry: afterwards ``approximate(..., method=method.name)``,
    ``draw_randomness``, :func:`get_method` and ``kernapprox.attention.<name>`` use it, with the
    options contract of its ``options`` schema and the range safeguard of its ``target``.

    Parameters
    ----------
    method : AttentionMethod
        The method record (:mod:`kernapprox.attention._protocol`).
    replace : bool
        Allow replacing a method of the same name (default: refused).

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> from kernapprox.attention import AttentionMethod
    >>> def first_key(Q, K, V, *, d=None, rng=None, return_factors=False):
    ...     out = np.repeat(V[:1], Q.shape[0], axis=0)
    ...     return (out, {"n_evals": 0, "exact_fraction": 0.0}) if return_factors else out
    >>> ka.attention.register(AttentionMethod("user_first_key", first_key,
    ...                                       lambda Q, K, V, *, d=None, rng=None: {}, options={}), replace=True)
    >>> ka.attention.approximate(np.ones((3, 2)), np.ones((4, 2)), np.eye(4)[:, :2], method="user_first_key")[0]
    array([1., 0.])
    """
    func = "attention.register"
    if not isinstance(method, AttentionMethod):
        raise fail(func, "method", "be an AttentionMethod", type(method).__name__, TypeError)
    check_bool(replace, func, "replace")
    if not isinstance(method.name, str) or not method.name.isidentifier():
        raise fail(func, "method", "have a name that is a Python identifier", repr(method.name))
    if not replace and method.name in methods():
        raise fail(func, "method", f"have a new name (use replace=True to replace {method.name!r})",
                   repr(method.name))
    _REGISTERED[method.name] = method
    _BOUND.pop(method.name, None)
    globals().pop(method.name, None)


def _record(name, func: str, param: str) -> AttentionMethod:
    """The :class:`AttentionMethod` registered under ``name`` (its module imported on first use)."""
    if not isinstance(name, str):
        raise fail(func, param, f"be one of {', '.join(map(repr, methods()))}", repr(name), TypeError)
    check_choice(name, methods(), func, param)
    rec = _REGISTERED.get(name)
    if rec is None:
        for r in importlib.import_module(_MODULES[name]).METHODS:
            _REGISTERED.setdefault(r.name, r)
        rec = _REGISTERED[name]
    return rec


def get_method(name: str) -> "CheckedMethod":
    """The single-head method registered under ``name``: a callable ``fn(Q, K, V, *, d, rng,
    return_factors, safeguard, **options)`` with the options contract and the range safeguard of
    :func:`approximate`; ``fn.draw`` draws its randomness, ``fn.method`` is the
    :class:`AttentionMethod` record, ``fn.formula`` (also ``fn.__wrapped__``) the bare formula."""
    fn = _BOUND.get(name) if isinstance(name, str) else None
    if fn is None:
        fn = _BOUND[name] = CheckedMethod(_record(name, "attention.get_method", "name"))
    # bind as kernapprox.attention.<name> (a submodule of the same name would otherwise shadow it)
    globals()[name] = fn
    return fn


class CheckedMethod:
    """A registered method as a public single-head function (see :func:`get_method`)."""

    def __init__(self, method: AttentionMethod):
        self.method = method
        self.formula = self.__wrapped__ = method.formula
        self.__name__ = self.__qualname__ = method.name
        self.__doc__ = method.formula.__doc__
        self.per_item_options = method.per_item_options

    def __repr__(self) -> str:
        return f"<attention method {self.method.name!r}>"

    def __call__(self, Q, K, V, *, d=None, rng=None, return_factors: bool = False, safeguard: str | None = None,
                 **options):
        rec = self.method
        Q, K, V = check_qkv(Q, K, V, rec.name)
        options = _check_call(rec, Q.shape[0], K.shape[0], Q.shape[1], V.shape[1], d, rng, return_factors,
                              safeguard, options, rec.name)
        res = rec.formula(Q, K, V, d=d, rng=rng, return_factors=return_factors, **options)
        return _guard(rec, res, Q, K, V, options, safeguard, return_factors)

    def draw(self, Q, K, V, *, d=None, rng=None, **options) -> dict:
        """The randomness of one call, by name (see :func:`draw_randomness`)."""
        rec = self.method
        func = f"{rec.name}.draw"
        Q, K, V = check_qkv(Q, K, V, rec.name)
        options = _check_call(rec, Q.shape[0], K.shape[0], Q.shape[1], V.shape[1], d, rng, False, None, options,
                              func)
        return rec.draw(Q, K, V, d=d, rng=rng, **_accepted(rec.draw, options))

    def batch_prepare(self, Q, K, V, *, d=None, **options) -> dict:
        """The batch-wide options ``approximate`` derives on batched inputs (e.g. the global
        Newton–Schulz scale ``ns_scale``) from the inputs (..., n, p) and the drawn randomness in
        ``options``; ``{}`` for methods without such options."""
        prep = self.method.batch_prepare
        if prep is None:
            return {}
        Q, K, V, _ = _split_batch(Q, K, V, f"{self.method.name}.batch_prepare")
        return prep(Q, K, V, **_accepted(prep, {"d": d, **_renamed(self.method, options, self.method.name)}))


# -- the options contract ---------------------------------------------------------------------------
# Every keyword a method accepts is validated on every call, whether or not the current configuration
# uses it (a mistyped value never passes silently); unknown keywords raise TypeError naming them. A
# method's schema is its record's ``options`` mapping (name -> validator(value, func, name)); methods
# still check what they use (shapes of pre-drawn arrays against n, m, p).
def option_schema(method: str) -> dict:
    """``{option name: validator}`` of a registered method: every keyword it accepts besides ``d``,
    ``rng``, ``return_factors`` (its record's ``options``; the deprecated aliases of its record's
    ``aliases`` are accepted too and validated as the option they name)."""
    return dict(_record(method, "attention.option_schema", "method").options)


def _renamed(rec: AttentionMethod, options: dict, func: str) -> dict:
    """Options with the method's deprecated aliases renamed (:func:`kernapprox._aliases.deprecated_alias`:
    DeprecationWarning; both names given: TypeError)."""
    if not any(k in options for k in rec.aliases):
        return options
    out = dict(options)
    for old, new in rec.aliases.items():
        if old in out:
            out[new] = deprecated_alias(func, old, out.pop(old), new, out.get(new))
    return out


def _check_options(rec: AttentionMethod, options: dict, func: str) -> dict:
    """Unknown keywords raise TypeError naming them; every given option's value is validated (a deprecated
    alias as the option it names, under its own name). Returns the options with aliases renamed."""
    unknown = sorted(k for k in options if k not in rec.options and k not in rec.aliases)
    if unknown:
        raise fail(func, ", ".join(unknown),
                   f"be an option of method {rec.name!r} ({', '.join(rec.options) or 'none'})",
                   "an unknown option", TypeError)
    for k, v in options.items():
        check = rec.options[rec.aliases.get(k, k)]
        if check is not None:
            check(v, func, k)
    return _renamed(rec, options, func)


def _check_call(rec: AttentionMethod, n, m, p, pv, d, rng, return_factors, safeguard, options, func) -> dict:
    """The whole options contract of one call (every path, every keyword): names and values of the
    options, ``d`` (an int >= 1 below the method's bound and within the available memory, also where
    the method ignores it), ``rng`` (validated even by deterministic methods), bools, ``safeguard``.
    Returns the options with deprecated aliases renamed."""
    options = _check_options(rec, options, func)
    as_generator(rng, func)
    check_bool(return_factors, func, "return_factors")
    if safeguard is not None:
        check_choice(safeguard, _exact.SAFEGUARDS, func, "safeguard")
    if rec.check_sizes is not None:
        rec.check_sizes(n, m, p, pv, d, options, func)
    if d is not None:
        d = check_int(d, func, "d", low=1)
        high, why = rec.d_bound(n, m, options)
        if high is not None and d > high:
            raise fail(func, "d", f"be <= {high} ({why})", d)
        check_memory(rec.d_bytes(n, m, p, pv, d, options), func, "d", d)
    return options


# -- the range safeguard ----------------------------------------------------------------------------
def _guard(rec: AttentionMethod, res, Q, K, V, options, safeguard, return_factors):
    """Apply :func:`kernapprox.attention._exact.safeguard_rows` to one head's result; the exact rows it
    recomputes are added to ``n_evals`` and ``exact_fraction``."""
    kind = rec.target(options)
    mode = rec.default_safeguard if safeguard is None else safeguard
    out, fac = res if return_factors else (res, None)
    if kind is not None:
        out, info = _exact.safeguard_rows(out, Q, K, V, kind, mode)
    else:
        info = {"exact_rows": np.zeros(0, dtype=np.intp), "clipped_rows": 0, "n_evals": 0}
    if not return_factors:
        return out
    fac = dict(fac)
    fac["safeguard"] = {"mode": mode if kind is not None else "none", "target": kind, **info}
    if info["n_evals"]:
        fac["n_evals"] = fac.get("n_evals", 0) + info["n_evals"]
        n = Q.shape[0]
        rows = info["exact_rows"]
        # rows recomputed exactly: all m entries of each are exact
        fac["exact_fraction"] = min(1.0, fac.get("exact_fraction", 0.0) + rows.size / n)
    return out, fac


def _accepted(fn, options: dict) -> dict:
    """The options a hook's signature names (the protocol hands ``draw`` / ``batch_prepare`` only those)."""
    params = inspect.signature(fn).parameters
    return {k: v for k, v in options.items() if k in params}



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
        if A.size and not all_finite(A):
            raise fail(func, name, "hold only finite values (no NaN or inf)",
                       f"{int(A.size - np.count_nonzero(np.isfinite(A)))} non-finite entries")
    if Q.shape[-2] < 1 or K.shape[-2] < 1 or Q.shape[-1] < 1 or V.shape[-1] < 1:
        raise fail(func, "Q, K, V", "be non-empty", f"Q.shape={Q.shape}, K.shape={K.shape}, V.shape={V.shape}")
    dt = working_dtype(Q, K, V)
    Q = np.broadcast_to(Q.astype(dt, copy=False), batch + Q.shape[-2:])
    K = np.broadcast_to(K.astype(dt, copy=False), batch + K.shape[-2:])
    V = np.broadcast_to(V.astype(dt, copy=False), batch + V.shape[-2:])
    return Q, K, V, batch


def _item_options(rec: AttentionMethod, options: dict, batch: tuple, idx: tuple, func: str) -> dict:
    """Slice the per-item options whose leading dims equal the batch shape."""
    out = dict(options)
    for name, nd in rec.item_option_dims(options).items():
        val = options.get(name)
        if val is None or not batch or isinstance(val, str):
            continue
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
        ``"exact"`` (default, except Linformer and V-Mean) recomputes rows that are non-finite or far outside
        the range (e.g. from a non-positive estimated row mass ``Ã1``) exactly and clips rows that
        are slightly outside; ``"clip"`` (Linformer's default) projects every out-of-range row onto
        the box; ``"none"`` returns the bare formula (the paper's / authors' code output). With
        ``return_factors`` each item's factors carry ``"safeguard"`` (rows recomputed, rows clipped,
        score evaluations added to ``n_evals``).
    **options
        Method options (``core=``, ``landmarks=``, ``indices=``, ``lam=``, ``n_iter=``, ``init=``, …),
        including pre-drawn randomness, per item (leading batch axes) or shared. Every option is
        validated (:func:`option_schema`) whether or not the configuration uses it; unknown names
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
    rec = _record(method, func, "method")
    fn = rec.formula
    Q, K, V, batch = _split_batch(Q, K, V, func)
    options = _check_call(rec, Q.shape[-2], K.shape[-2], Q.shape[-1], V.shape[-1], d, rng, return_factors,
                          safeguard, options, func)
    km = _check_mask(key_padding_mask, batch, K.shape[-2], func)
    if not batch:
        Kb, Vb = _keys(K, V, km, ())
        res = fn(Q, Kb, Vb, d=d, rng=rng, return_factors=return_factors, **options)
        return _guard(rec, res, Q, Kb, Vb, options, safeguard, return_factors)
    B = int(np.prod(batch))
    gens = _children(rng, B)
    prep = rec.batch_prepare
    if prep is not None:
        if km is not None and options.get("init") == "global":
            raise fail(func, "init", "be 'per_matrix' together with `key_padding_mask`", "'global'")
        if km is None:
            # draw every item's randomness first (with its own substream: identical to drawing inside
            # the method), so batch-wide quantities may depend on it (Skyformer's global Razavi scale)
            options = {**options, **_stacked_draws(rec, Q, K, V, batch, d, gens, options, func)}
            options = {**options, **prep(Q, K, V, **_accepted(prep, {"d": d, **options}))}
    out = np.empty(batch + (Q.shape[-2], V.shape[-1]), dtype=Q.dtype)
    facs = np.empty(batch, dtype=object) if return_factors else None
    for b, idx in enumerate(np.ndindex(*batch)):
        opts = _item_options(rec, options, batch, idx, func)
        Kb, Vb = _keys(K, V, km, idx)
        res = fn(Q[idx], Kb, Vb, d=d, rng=gens[b], return_factors=return_factors, **opts)
        res = _guard(rec, res, Q[idx], Kb, Vb, opts, safeguard, return_factors)
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
    rec = _record(method, func, "method")
    Q, K, V, batch = _split_batch(Q, K, V, func)
    options = _check_call(rec, Q.shape[-2], K.shape[-2], Q.shape[-1], V.shape[-1], d, rng, False, None, options,
                          func)
    km = _check_mask(key_padding_mask, batch, K.shape[-2], func)
    if not batch:
        Kb, Vb = _keys(K, V, km, ())
        return rec.draw(Q, Kb, Vb, d=d, rng=as_generator(rng, func), **_accepted(rec.draw, options))
    return _stacked_draws(rec, Q, K, V, batch, d, _children(rng, int(np.prod(batch))), options, func, km)


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


def _stacked_draws(rec, Q, K, V, batch, d, gens, options, func, km=None) -> dict:
    """Per-item ``rec.draw`` with the items' generators, stacked with leading batch axes."""
    items = []
    for b, idx in enumerate(np.ndindex(*batch)):
        opts = _item_options(rec, options, batch, idx, func)
        Kb, Vb = _keys(K, V, km, idx)
        items.append(rec.draw(Q[idx], Kb, Vb, d=d, rng=gens[b], **_accepted(rec.draw, opts)))
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
        if b.dtype.kind not in "fiub" or not all_finite(b):
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
