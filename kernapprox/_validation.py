"""The one place where user input is checked and normalised (design.md §4.3).

Every public entry point calls these helpers once, at the boundary. Messages follow one template::

    <func>: `<param>` must <constraint>; got <value>

``ValueError`` for values and shapes, ``TypeError`` for types. No ``assert`` for user input, no
silent clipping.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

__all__ = [
    "KernapproxWarning",
    "as_generator",
    "check_points",
    "check_same_dim",
    "check_positive",
    "check_int",
    "check_indices",
    "check_choice",
    "check_bool",
    "check_probability",
    "check_matrix",
    "check_dense_cap",
    "fail",
    "warn",
    "working_dtype",
]


class KernapproxWarning(UserWarning):
    """Base class of every warning the library emits."""


def warn(message: str, *, stacklevel: int = 3) -> None:
    """Emit a :class:`KernapproxWarning` (default stacklevel points at the caller of the public function)."""
    warnings.warn(message, KernapproxWarning, stacklevel=stacklevel)


def fail(func: str, param: str, constraint: str, value, exc=ValueError):
    """Build the library's one error message: ``func: `param` must constraint; got value``."""
    return exc(f"{func}: `{param}` must {constraint}; got {value}")


def as_generator(rng) -> np.random.Generator:
    """Normalise ``rng`` (None, int, SeedSequence, BitGenerator or Generator) to a Generator.

    A Generator is returned as is (so the caller's stream advances); anything else goes through
    :func:`numpy.random.default_rng`. The global ``np.random`` state is never used.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.RandomState):
        raise TypeError("rng: legacy np.random.RandomState is not accepted; pass a seed or a np.random.Generator")
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"rng: must be None, an int seed, a SeedSequence or a np.random.Generator; got {rng!r}") from exc


def working_dtype(*arrays) -> np.dtype:
    """float32 if every array is float32, else float64 (the library's two working dtypes)."""
    for a in arrays:
        if a is not None and np.asarray(a).dtype != np.float32:
            return np.dtype(np.float64)
    return np.dtype(np.float32)


def _as_float_array(X, func: str, name: str, dtype=None) -> np.ndarray:
    if hasattr(X, "__array__") or isinstance(X, (list, tuple, np.ndarray)):
        A = np.asarray(X)
    else:
        raise fail(func, name, "be an array-like of numbers", type(X).__name__, TypeError)
    if np.iscomplexobj(A):
        raise fail(func, name, "be real-valued", f"dtype {A.dtype}", TypeError)
    if A.dtype.kind not in "fiub":
        raise fail(func, name, "hold real numbers", f"dtype {A.dtype}", TypeError)
    if dtype is not None:
        A = A.astype(dtype, copy=False)
    elif A.dtype not in (np.float32, np.float64):
        A = A.astype(np.float64)
    return A


def check_points(X, func: str, name: str = "X", *, dtype=None, allow_1d: bool = False,
                 min_rows: int = 1) -> np.ndarray:
    """Validate a point cloud: 2-D (n, d), real, finite, n >= min_rows, d >= 1.

    float32 stays float32, float64 stays float64, integers/bools become float64; ``dtype`` forces one.
    Returns a C-contiguous array (a view when possible).
    """
    A = _as_float_array(X, func, name, dtype)
    if A.ndim == 1 and allow_1d:
        A = A[:, None]
    if A.ndim != 2:
        raise fail(func, name, "be a 2-D array of shape (n, d)", f"shape {A.shape}")
    if A.shape[0] < min_rows or A.shape[1] < 1:
        raise fail(func, name, f"have at least {min_rows} row(s) and one column", f"shape {A.shape}")
    if not np.isfinite(A).all():
        bad = int(np.size(A) - np.count_nonzero(np.isfinite(A)))
        raise fail(func, name, "hold only finite values (no NaN or inf)", f"{bad} non-finite entries")
    return np.ascontiguousarray(A)


def check_matrix(A, func: str, name: str, *, ndim: int | None = 2, dtype=None) -> np.ndarray:
    """Validate a real, finite array of the given number of dimensions (None: any >= 1)."""
    B = _as_float_array(A, func, name, dtype)
    if ndim is not None and B.ndim != ndim:
        raise fail(func, name, f"be a {ndim}-D array", f"shape {B.shape}")
    if B.ndim == 0 or B.size == 0:
        raise fail(func, name, "be non-empty", f"shape {B.shape}")
    if not np.isfinite(B).all():
        raise fail(func, name, "hold only finite values (no NaN or inf)",
                   f"{int(B.size - np.count_nonzero(np.isfinite(B)))} non-finite entries")
    return B


def check_same_dim(X: np.ndarray, Y: np.ndarray, func: str, xname: str = "X", yname: str = "Y") -> None:
    """Feature dimensions must agree; the message shows both shapes."""
    if X.shape[-1] != Y.shape[-1]:
        raise ValueError(
            f"{func}: `{xname}` and `{yname}` must have the same number of columns (features); "
            f"got {xname}.shape={X.shape} and {yname}.shape={Y.shape}")


def check_positive(value, func: str, name: str, *, allow_zero: bool = False) -> float:
    """A finite real number > 0 (>= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(func, name, "be a real number", repr(value), TypeError)
    v = float(value)
    ok = np.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        raise fail(func, name, "be >= 0" if allow_zero else "be > 0", v)
    return v


def check_probability(value, func: str, name: str) -> float:
    """A number strictly inside (0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(func, name, "be a real number in (0, 1)", repr(value), TypeError)
    v = float(value)
    if not (0.0 < v < 1.0):
        raise fail(func, name, "lie in the open interval (0, 1)", v)
    return v


def check_int(value, func: str, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """An integer in [low, high] (either bound optional). ``k > n`` raises, never clips."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and float(value).is_integer():
            value = int(value)
        else:
            raise fail(func, name, "be an integer", repr(value), TypeError)
    v = int(value)
    if low is not None and v < low:
        raise fail(func, name, f"be >= {low}" if high is None else f"lie in [{low}, {high}]", v)
    if high is not None and v > high:
        raise fail(func, name, f"be <= {high}" if low is None else f"lie in [{low}, {high}]", v)
    return v


def check_indices(idx, n: int, func: str, name: str = "idx", *, allow_empty: bool = False) -> np.ndarray:
    """1-D integer indices in [0, n) (negative indices are refused, not wrapped)."""
    a = np.asarray(idx)
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1:
        raise fail(func, name, "be a 1-D array of indices", f"shape {a.shape}")
    if a.size == 0:
        if allow_empty:
            return a.astype(np.intp)
        raise fail(func, name, "hold at least one index", "an empty array")
    if a.dtype.kind not in "iu":
        if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
            a = a.astype(np.intp)
        else:
            raise fail(func, name, "hold integers", f"dtype {a.dtype}", TypeError)
    lo, hi = int(a.min()), int(a.max())
    if lo < 0:
        raise fail(func, name, f"hold indices in [0, {n})", f"min {lo}")
    if hi >= n:
        raise fail(func, name, f"hold indices in [0, {n})", f"max {hi}")
    return a.astype(np.intp, copy=False)


def check_bool(value, func: str, name: str) -> bool:
    """A Python or numpy bool (no truthy ints, strings or None)."""
    if not isinstance(value, (bool, np.bool_)):
        raise fail(func, name, "be a bool", repr(value), TypeError)
    return bool(value)


def check_choice(value, choices, func: str, name: str) -> str:
    """One of a fixed set of names; the message lists the known ones."""
    if value not in choices:
        known = ", ".join(repr(c) for c in choices)
        raise fail(func, name, f"be one of {known}", repr(value))
    return value


def check_dense_cap(n: int, m: int, cap: int, func: str, *, force: bool, hint: str = "") -> None:
    """Refuse to form an n×m dense matrix above ``cap`` entries unless ``force`` (one message for all)."""
    if n * m > cap and not force:
        raise ValueError(f"{func}: the matrix has {n}×{m} = {n * m} entries, above the cap of {cap}; "
                         f"pass force=True to form it anyway{hint}")
