"""The attention-method protocol: one small registered object per approximator.

A method is an :class:`AttentionMethod` instance, declared at the bottom of its module and listed
in the registry of :mod:`kernapprox.attention` (imported on first use). The dispatcher
(:func:`kernapprox.attention.approximate`, ``draw_randomness``, the oracle) talks to a method only
through these fields; nothing is patched onto functions and no caller branches on a method's name.
A module declares ``METHODS = (AttentionMethod(...), ...)``; :func:`kernapprox.attention.register`
adds a record at run time.

Fields
------
``name``
    Registry key (``"skyformer"``).
``formula(Q, K, V, *, d, rng, return_factors, **options)``
    The bare single-head formula on validated 2-D arrays of one dtype: returns ``out (n, pv)`` or
    ``(out, factors)``. It draws its randomness through ``draw``, so ``formula(..., rng=r)`` equals
    ``formula(..., **draw(..., rng=r))``. With ``return_factors`` the factors carry ``"n_evals"``
    (query–key scores, kernel entries and feature projections evaluated: landmark cores, pilot rows
    and exact rows included) and ``"exact_fraction"`` (share of the n·m entries of the attention
    matrix the output uses exactly: rows computed exactly, exact sparse entries with the exact
    normalisation; algorithms.md §13.1).
``draw(Q, K, V, *, d, rng, **options) -> dict``
    Every random option not already given, by name (data-dependent draws see the data). It receives
    only the options its signature names (no ``**kwargs``: nothing is swallowed).
``options``
    The declared option schema ``{name: validator or None}``: every keyword the method accepts
    besides ``d``, ``rng``, ``return_factors``; a validator is ``v(value, func, name)`` raising
    ``TypeError``/``ValueError`` (the ``v_*`` factories below). Unknown keywords are refused.
``per_item_options``
    ``{option: ndim of one item's value}`` (or a function of the options returning that dict) for
    pre-drawn arrays that batched calls slice per (batch, head) item.
``batch_prepare(Q, K, V, *, d, **options) -> dict`` or None
    Options computed once over the whole batch after every item's randomness is drawn (e.g. the
    batch-global Newton–Schulz scale); it receives the inputs (..., n, p) and only the options its
    signature names.
``target(options) -> "softmax" | "gaussian" | None``
    The exact target the method approximates with these options (None: no range to keep).
``default_safeguard``
    The range safeguard used when the caller does not choose one.
``d_bound(n, m, options) -> (largest d or None, why)`` and ``d_bytes(n, m, p, pv, d, options)``
    The size contract: the largest meaningful ``d`` and the working memory of one head.
``core_factors(factors) -> dict or None``
    For methods with a Nyström core: the blocks the oracle's tolerance model needs, read from the
    method's own factors: ``{"W": the core block inverted (d, d), "W_pinv": the inverse used,
    "L": left factor (n, d), "T": right factor (d, pv[+1]), "normalise_rows": bool}`` with output
    ``L W_pinv T`` (with ``normalise_rows`` the last column of T is the row mass and the output is
    the quotient); None when the factors have no single core (e.g. accumulated sketches).
``resolve_options(options, *, d=None, dtype=None) -> dict``
    The options with the method's defaults spelled out as it actually uses them (presets resolved,
    e.g. Skyformer's ``core``, ``lam``, ``n_iter``, ``init``; Performer's ``stabilizer``), for readers
    of a complete configuration (the oracle's cases, its stage count). With ``d`` and ``dtype`` a
    pseudo-inverse core's default cutoff ``rcond`` is spelled out too (the one the method uses on
    inputs of that dtype), unless given.
``check_sizes(n, m, p, pv, d, options, func)`` or None
    Extra size checks of the options against the inputs (e.g. Informer's ``n_top <= n``), raising
    with ``func`` as the caller.
``aliases``
    ``{deprecated option name: current name}``: the dispatcher renames them with a
    ``DeprecationWarning`` before validation.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import numpy as np

from .._validation import all_finite, check_bool, check_choice, check_int, check_rcond, check_real, fail

__all__ = ["AttentionMethod", "v_bool", "v_optional", "v_choice", "v_int", "v_auto_int", "v_real", "v_name", "v_array",
           "v_rcond"]


def _no_bound(n: int, m: int, options: dict):
    return None, ""


def _no_resolve(options: dict, *, d=None, dtype=None) -> dict:
    return dict(options)


def _default_bytes(n: int, m: int, p: int, pv: int, d: int, options: dict) -> int:
    return 8 * ((n + m) * d * 2 + d * (p + pv))


@dataclasses.dataclass(frozen=True, eq=False)
class AttentionMethod:
    """One registered attention approximator (see the module docstring for each field)."""

    name: str
    formula: Callable[..., Any]
    draw: Callable[..., dict]
    options: Mapping[str, Callable | None]
    per_item_options: Mapping[str, Any] | Callable[[dict], Mapping[str, Any]] = dataclasses.field(
        default_factory=dict)
    batch_prepare: Callable[..., dict] | None = None
    target: Callable[[dict], str | None] = lambda options: "softmax"
    default_safeguard: str = "exact"
    d_bound: Callable[[int, int, dict], tuple] = _no_bound
    d_bytes: Callable[..., int] = _default_bytes
    core_factors: Callable[[dict], dict | None] | None = None
    resolve_options: Callable[..., dict] = _no_resolve
    check_sizes: Callable[..., None] | None = None
    aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)
    summary: str = ""

    def item_option_dims(self, options: dict) -> dict:
        """``{option: ndim of one item's value}`` for these options."""
        spec = self.per_item_options
        spec = spec(options) if callable(spec) else spec
        return {k: (v(options) if callable(v) else v) for k, v in spec.items()}


# -- option validators: v(value, func, name) raises naming the argument ----------------------------
def v_bool(x, f, k):
    """A Python / numpy bool."""
    check_bool(x, f, k)


def v_optional(check):
    """``None`` or what ``check`` accepts."""
    def v(x, f, k):
        if x is not None:
            check(x, f, k)
    return v


def v_choice(*choices):
    """One of ``choices``."""
    def v(x, f, k):
        check_choice(x, choices, f, k)
    return v


def v_int(low=None, high=None):
    """An integer in ``[low, high]``."""
    def v(x, f, k):
        check_int(x, f, k, low=low, high=high)
    return v


def v_real(**bounds):
    """A finite real number within ``bounds`` (keywords of :func:`kernapprox._validation.check_real`)."""
    def v(x, f, k):
        check_real(x, f, k, **bounds)
    return v


def v_auto_int(low, none_ok=False):
    """``"auto"`` (the method's budget rule chooses), an integer ``>= low``, or ``None`` if ``none_ok``."""
    def v(x, f, k):
        if x is None and none_ok:
            return
        if isinstance(x, str):
            if x != "auto":
                raise fail(f, k, "be 'auto' or an integer", repr(x))
            return
        check_int(x, f, k, low=low)
    return v


def v_name(x, f, k):
    """A name (str); the method checks it against its own list."""
    if not isinstance(x, str):
        raise fail(f, k, "be a name (str)", repr(x), TypeError)


def v_array(x, f, k):
    """Pre-drawn randomness: a non-empty array-like of finite real numbers (shapes: the method)."""
    if isinstance(x, (str, bytes, bool, np.bool_)) or not (hasattr(x, "__array__") or
                                                          isinstance(x, (list, tuple, np.ndarray, int, float))):
        raise fail(f, k, "be an array of numbers", type(x).__name__, TypeError)
    a = np.asarray(x)
    if a.dtype.kind not in "iuf":
        raise fail(f, k, "hold real numbers", f"dtype {a.dtype}", TypeError)
    if a.size == 0:
        raise fail(f, k, "be non-empty", f"shape {a.shape}")
    if not all_finite(a):
        raise fail(f, k, "hold only finite values", f"{int(a.size - np.isfinite(a).sum())} non-finite entries")


def v_rcond(x, f, k):
    """A relative cut-off for a pseudo-inverse (``None`` = the default)."""
    check_rcond(x, f, k)
