"""Deprecated spellings of keywords and functions: one mechanism for every module.

A renamed keyword is resolved by :func:`kernapprox._validation.deprecated_alias` (called inside the
function) or declared with the decorator :func:`renamed_keywords`, which applies that same resolution
to each ``old=`` spelling; both warn with a :class:`DeprecationWarning` at the caller's line, and
passing both spellings is a TypeError. A renamed function keeps its old name as
:func:`deprecated_function`, a thin wrapper that warns and calls the new one.
"""
from __future__ import annotations

import functools
import inspect
import warnings

from ._validation import deprecated_alias

__all__ = ["renamed_keywords", "deprecated_function"]

_UNSET = object()


def renamed_keywords(func_name: str, **old_to_new: str):
    """Decorator: accept each ``old=`` keyword as the deprecated spelling of ``new=``.

    The wrapped function's signature (``inspect.signature`` follows ``__wrapped__``) shows only the
    new names.
    """
    def deco(f):
        params = list(inspect.signature(f).parameters)

        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            for old, new in old_to_new.items():
                if old in kwargs:
                    given = new in kwargs or params.index(new) < len(args)
                    kwargs[new] = deprecated_alias(func_name, old, kwargs.pop(old), new,
                                                   kwargs.get(new, 0) if given else _UNSET, new_default=_UNSET)
            return f(*args, **kwargs)
        return wrapper
    return deco


def deprecated_function(f, old_name: str, new_path: str):
    """A function ``old_name`` that warns (DeprecationWarning naming ``new_path``) and calls ``f``."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        warnings.warn(f"{old_name} is deprecated; use {new_path}", DeprecationWarning, stacklevel=2)
        return f(*args, **kwargs)
    wrapper.__name__ = wrapper.__qualname__ = old_name.rsplit(".", 1)[-1]
    wrapper.__doc__ = f"Deprecated spelling of :func:`{new_path}` (same arguments, same result)."
    return wrapper
