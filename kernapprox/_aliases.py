"""Deprecated spellings of keywords and functions (one mechanism for every module).

A renamed keyword keeps working: :func:`renamed_keywords` maps the old spelling to the new one with
a :class:`DeprecationWarning`; passing both is a TypeError. A renamed function keeps its old name as
:func:`deprecated_alias`, a thin wrapper that warns and calls the new one.
"""
from __future__ import annotations

import functools
import inspect
import warnings

__all__ = ["renamed_keywords", "deprecated_alias"]


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
                    if new in kwargs or params.index(new) < len(args):
                        raise TypeError(f"{func_name}: got both `{new}` and its deprecated spelling `{old}`")
                    warnings.warn(f"{func_name}: `{old}` is deprecated; use `{new}`", DeprecationWarning,
                                  stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            return f(*args, **kwargs)
        return wrapper
    return deco


def deprecated_alias(f, old_name: str, new_path: str):
    """A function ``old_name`` that warns (DeprecationWarning naming ``new_path``) and calls ``f``."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        warnings.warn(f"{old_name} is deprecated; use {new_path}", DeprecationWarning, stacklevel=2)
        return f(*args, **kwargs)
    wrapper.__name__ = wrapper.__qualname__ = old_name.rsplit(".", 1)[-1]
    wrapper.__doc__ = f"Deprecated spelling of :func:`{new_path}` (same arguments, same result)."
    return wrapper
