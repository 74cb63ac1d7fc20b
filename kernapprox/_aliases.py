"""Deprecated keyword aliases of the verbs of the matrix layer (nystrom, metrics, kpca, krr, the Dask API).

:func:`deprecated_alias` has the signature and message of ``kernapprox._validation.deprecated_alias``;
the two are one function once both live in ``_validation``.
"""
from __future__ import annotations

import numbers
import os
import sys
import warnings

__all__ = ["deprecated_alias"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside the kernapprox package (the user's line)."""
    level, f = 1, sys._getframe(1)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PACKAGE_DIR):
        f = f.f_back
        level += 1
    return level


def deprecated_alias(func: str, old: str, old_value, new: str, new_value, *, new_default=None):
    """Resolve a keyword renamed to its glossary name.

    ``old_value`` is what the caller passed under the old name ``old`` (None: not passed),
    ``new_value`` what it passed under ``new`` (``new_default``: not passed). With the old name, a
    ``DeprecationWarning`` naming both keywords is emitted at the caller's line and the old value is
    returned; otherwise ``new_value``. Passing both names is a ``TypeError``.
    """
    if old_value is None:
        return new_value
    untouched = new_value is new_default or (
        isinstance(new_value, (numbers.Number, str)) and isinstance(new_default, (numbers.Number, str))
        and new_value == new_default)
    if not untouched:
        raise TypeError(f"{func}: got both `{new}` and its deprecated alias `{old}`; pass `{new}` only")
    warnings.warn(f"{func}: `{old}` is deprecated, use `{new}` (same meaning)", DeprecationWarning,
                  stacklevel=_caller_stacklevel())
    return old_value
