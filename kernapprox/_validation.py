"""The one place where user input is checked and normalised (design.md §4.3).

Every public entry point calls these helpers once, at the boundary. Messages follow one template::

    <func>: `<param>` must <constraint>; got <value>

``ValueError`` for values and shapes, ``TypeError`` for types. No ``assert`` for user input, no
silent clipping.
"""
from __future__ import annotations

import math
import numbers
import os
import sys
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
    "check_real",
    "check_rcond",
    "check_options",
    "check_memory",
    "available_memory",
    "check_symmetric",
    "symmetry_gap",
    "check_kernel",
    "check_size_product",
    "check_psd_spectrum",
    "deprecated_alias",
    "fail",
    "pow2_exponent",
    "warn",
    "working_dtype",
]


class KernapproxWarning(UserWarning):
    """Base class of every warning the library emits."""


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that makes :func:`warnings.warn`, called from :func:`warn`, report the first
    frame outside the kernapprox package (the user's line), however deep the library call chain."""
    level, f = 1, sys._getframe(1)          # f: the frame of ``warn``
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PACKAGE_DIR):
        f = f.f_back
        level += 1
    return level


def warn(message: str, *, stacklevel: int | None = None) -> None:
    """Emit a :class:`KernapproxWarning` attributed to the caller's line.

    The warning points at the first stack frame outside the kernapprox package, whatever the depth of
    the library call chain; ``stacklevel`` is accepted and ignored (the level is computed).
    """
    warnings.warn(message, KernapproxWarning, stacklevel=_caller_stacklevel())


def fail(func: str, param: str, constraint: str, value, exc=ValueError):
    """Build the library's one error message: ``func: `param` must constraint; got value``."""
    return exc(f"{func}: `{param}` must {constraint}; got {value}")


def deprecated_alias(func: str, old: str, old_value, new: str, new_value, *, new_default=None):
    """Resolve a keyword renamed to its glossary name (ARCHITECTURE.md "Vocabulary").

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


def pow2_exponent(A) -> int:
    """The exponent e of the power of two with ``max|A| < 2^e`` (``math.frexp``'s exponent), 0 for an
    empty or all-zero ``A`` and where the maximum is not finite.

    Scaling by ``2^-e`` is exact (no rounding, the mantissas are kept) and brings the entries into
    (-1, 1): the one rescaling rule of the overflow-free inner products, distances and symmetry tests.
    """
    A = np.asarray(A)
    if A.size == 0:
        return 0
    mx = float(np.max(np.abs(A)))
    if not 0.0 < mx < math.inf:
        return 0
    return math.frexp(mx)[1]


#: Largest integer any size, count or iteration number may take (numpy's index type).
INT64_MAX = int(np.iinfo(np.int64).max)

_RNG_KINDS = "None, an int seed >= 0, a SeedSequence, a BitGenerator or a np.random.Generator"


def as_generator(rng, func: str | None = None) -> np.random.Generator:
    """Normalise ``rng`` (None, int >= 0, SeedSequence, BitGenerator or Generator) to a Generator.

    A Generator is returned as is (so the caller's stream advances); anything else goes through
    :func:`numpy.random.default_rng`. The global ``np.random`` state is never used. Deterministic
    code paths call it too, so that ``rng`` is validated the same way on every path. Refused with a
    ``TypeError`` naming ``rng``: the legacy ``RandomState``, bools, floats, strings, negative seeds
    and anything else ``default_rng`` does not take.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    where = func if func is not None else "as_generator"
    if isinstance(rng, np.random.RandomState):
        raise fail(where, "rng", "be " + _RNG_KINDS + " (the legacy np.random.RandomState is not accepted)",
                   "a RandomState", TypeError)
    if isinstance(rng, (bool, np.bool_, float, np.floating, str, bytes)):
        raise fail(where, "rng", "be " + _RNG_KINDS, repr(rng), TypeError)
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as exc:
        raise fail(where, "rng", "be " + _RNG_KINDS, _short(rng), TypeError) from exc


def _short(value) -> str:
    r = repr(value)
    return r if len(r) <= 60 else r[:57] + "..."


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
    if not all_finite(A):
        bad = int(np.size(A) - np.count_nonzero(np.isfinite(A)))
        raise fail(func, name, "hold only finite values (no NaN or inf)", f"{bad} non-finite entries")
    return np.ascontiguousarray(A)


def all_finite(A: np.ndarray) -> bool:
    """True when every entry of the real array ``A`` is finite.

    One streaming reduction (a sum: NaN and ±inf propagate into it) instead of an n-entry boolean
    temporary; only when the sum is not finite — a non-finite entry, or finite entries whose sum
    overflows — is the exact elementwise test run.
    """
    if A.dtype.kind not in "fc":
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        s = np.add.reduce(A, axis=None)
    return bool(np.isfinite(s)) or bool(np.isfinite(A).all())


def check_matrix(A, func: str, name: str, *, ndim: int | None = 2, dtype=None) -> np.ndarray:
    """Validate a real, finite array of the given number of dimensions (None: any >= 1)."""
    B = _as_float_array(A, func, name, dtype)
    if ndim is not None and B.ndim != ndim:
        raise fail(func, name, f"be a {ndim}-D array", f"shape {B.shape}")
    if B.ndim == 0 or B.size == 0:
        raise fail(func, name, "be non-empty", f"shape {B.shape}")
    if not all_finite(B):
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
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise fail(func, name, "be a real number", _short(value), TypeError)
    v = float(value)
    ok = np.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        raise fail(func, name, "be >= 0" if allow_zero else "be > 0", v)
    return v


def check_probability(value, func: str, name: str) -> float:
    """A number strictly inside (0, 1)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise fail(func, name, "be a real number in (0, 1)", _short(value), TypeError)
    v = float(value)
    if not (0.0 < v < 1.0):
        raise fail(func, name, "lie in the open interval (0, 1)", v)
    return v


def check_int(value, func: str, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """An integer in [low, high] (either bound optional). ``k > n`` raises, never clips."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
            value = int(value)
        else:
            raise fail(func, name, "be an integer", _short(value), TypeError)
    v = int(value)
    if high is None and v > INT64_MAX:          # no size, count or seed of the library exceeds int64
        high = INT64_MAX
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
        raise fail(func, name, "be a bool", _short(value), TypeError)
    return bool(value)


def check_choice(value, choices, func: str, name: str) -> str:
    """One of a fixed set of names; the message lists the known ones."""
    try:
        bool_choices = any(isinstance(c_, (bool, np.bool_)) for c_ in choices)
        ok = (not isinstance(value, np.ndarray) and
              (bool_choices or not isinstance(value, (bool, np.bool_))) and value in choices)
        if ok and bool_choices:                 # 1 == True: a bool choice takes only a bool
            ok = isinstance(value, (bool, np.bool_)) == any(
                isinstance(c_, (bool, np.bool_)) and c_ == value for c_ in choices)
    except TypeError:               # unhashable against a set / dict of choices
        ok = False
    if not ok:
        known = ", ".join(repr(c) for c in choices)
        same_kind = any(isinstance(value, str) == isinstance(c, str) for c in choices)
        raise fail(func, name, f"be one of {known}", _short(value), ValueError if same_kind else TypeError)
    return value


def check_dense_cap(n: int, m: int, cap: int, func: str, *, force: bool, hint: str = "") -> None:
    """Refuse to form an n×m dense matrix above ``cap`` entries unless ``force`` (one message for all)."""
    if n * m > cap and not force:
        raise ValueError(f"{func}: the matrix has {n}×{m} = {n * m} entries, above the cap of {cap}; "
                         f"pass force=True to form it anyway{hint}")


def check_real(value, func: str, name: str, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number (not a bool) in the interval [low, high]; ``low_open`` / ``high_open``
    exclude the end points. Either bound may be None (unbounded)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise fail(func, name, "be a real number", _short(value), TypeError)
    v = float(value)
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    interval = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
    ok = np.isfinite(v)
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v < high if high_open else v <= high
    if not ok:
        raise fail(func, name, f"be a finite number in {interval}", v)
    return v


def check_rcond(rcond, func: str, name: str = "rcond") -> float | None:
    """A relative eigen/singular-value cutoff: None (the method's default) or a finite number in
    [0, 1) (a cutoff of 1 or more would drop every eigenvalue and return a zero approximation)."""
    if rcond is None:
        return None
    return check_real(rcond, func, name, low=0.0, high=1.0, high_open=True)


def check_options(options: dict, allowed, func: str) -> None:
    """Unknown keyword arguments raise ``TypeError`` naming them (a mistyped option never passes
    silently); ``allowed`` lists the accepted names."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise TypeError(f"{func}: got unexpected keyword argument(s) {', '.join(repr(u) for u in unknown)}; "
                        f"the accepted options are: {known}")


def available_memory() -> int:
    """Bytes of memory available to a new allocation (``MemAvailable`` of /proc/meminfo, else the free
    physical pages); a large number where neither is known."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 62


def _fmt_bytes(b: int) -> str:
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= size:
            return f"{b / size:.3g} {unit}"
    return f"{b} B"


#: Requests of at most this many bytes are accepted without reading the available memory (a read of
#: /proc/meminfo costs ~0.1 ms, a noticeable share of a small attention call).
CHECK_MEMORY_FLOOR = 64 << 20


def check_memory(nbytes, func: str, name: str, value) -> None:
    """Refuse a request whose estimated working memory ``nbytes`` (an exact Python int: no overflow)
    exceeds the memory available now, naming the parameter ``name`` (given as ``value``) that asks
    for it and the bytes it would need. One helper for every size parameter of the library; requests
    up to ``CHECK_MEMORY_FLOOR`` pass without a look at the available memory."""
    need = int(nbytes)
    if need <= CHECK_MEMORY_FLOOR:
        return
    have = available_memory()
    if need > have:
        raise fail(func, name, f"fit in the available memory ({_fmt_bytes(have)}); this request needs "
                   f"about {_fmt_bytes(need)} ({need} bytes)", _short(value))


#: Relative tolerance (in units of eps · sqrt(n)) of the randomized symmetry test.
SYMMETRY_TOL_MULTIPLE = 100.0
#: Probe pairs of the randomized symmetry test (a seeded stream, independent of the user's ``rng``).
SYMMETRY_PROBES = 2


def symmetry_gap(matvec, n: int, *, eps: float | None = None, scale=None) -> tuple[bool, float]:
    """Randomized symmetry test of an n×n operator given by ``matvec(V) -> A V``, in O(n²) work for a
    dense matrix (one product with an (n, 2·SYMMETRY_PROBES) block), never a decomposition.

    For Gaussian u, v the statistic ``uᵀ(A v) − vᵀ(A u) = uᵀ(A − Aᵀ)v`` has mean 0 and standard
    deviation ``‖A − Aᵀ‖_F``; it is compared with ``SYMMETRY_TOL_MULTIPLE · eps · sqrt(n) · scale ·
    ‖u‖ ‖v‖`` where ``scale`` estimates ‖A‖ (a number, or a callable read after the product;
    default: the largest ‖A w‖/‖w‖ over the probes). A matrix that is symmetric up to rounding
    passes; an asymmetry above the tolerance is missed only when SYMMETRY_PROBES independent Gaussian
    bilinear forms all fall near 0. The probes come from a fixed seed, so the test is deterministic
    and leaves the user's generator alone. Returns ``(symmetric, relative gap)``.
    """
    eps = float(np.finfo(np.float64).eps) if eps is None else float(eps)
    g = np.random.default_rng(0x5EED)
    P = g.standard_normal((n, 2 * SYMMETRY_PROBES))
    U, Vv = P[:, :SYMMETRY_PROBES], P[:, SYMMETRY_PROBES:]
    with np.errstate(over="ignore", invalid="ignore"):
        AW = np.asarray(matvec(P), dtype=np.float64).reshape(n, -1)
        if callable(scale):
            scale = float(scale())
        # the test is linear in A: work at unit scale (exact power-of-two rescaling), so that neither
        # the products' norms nor the bilinear forms overflow or underflow
        e = pow2_exponent(AW)
        AW = np.ldexp(AW, -e)
        AU, AV = AW[:, :SYMMETRY_PROBES], AW[:, SYMMETRY_PROBES:]
        if scale is None:
            scale = float(np.max(np.linalg.norm(AW, axis=0) / np.linalg.norm(P, axis=0)))
        else:
            scale = math.ldexp(scale, -e) if math.isfinite(scale) else scale
        nu, nv = np.linalg.norm(U, axis=0), np.linalg.norm(Vv, axis=0)
        gap = np.abs(np.einsum("ij,ij->j", U, AV) - np.einsum("ij,ij->j", Vv, AU))
        tol = SYMMETRY_TOL_MULTIPLE * eps * np.sqrt(n) * scale * nu * nv
        rel = float(np.max(gap / np.maximum(scale * nu * nv, np.finfo(np.float64).tiny)))
    if not np.isfinite(scale):          # entries so large that the products overflow: test rescaled
        return True, 0.0
    return bool(np.all(gap <= tol)), rel


def check_symmetric(matvec, n: int, func: str, name: str, *, eps: float | None = None,
                    scale=None) -> None:
    """Refuse a matrix that fails the randomized symmetry test of :func:`symmetry_gap`."""
    ok, rel = symmetry_gap(matvec, n, eps=eps, scale=scale)
    if not ok:
        raise fail(func, name, "be symmetric", f"a matrix with relative asymmetry ~{rel:.2g} "
                   "(randomized test uᵀAv vs vᵀAu)")


def check_kernel(kernel, func: str, name: str = "kernel"):
    """A :class:`kernapprox.kernels.Kernel`, or a kernel name resolved by :func:`kernapprox.kernels.get`;
    an unknown name or another type is refused naming ``name`` (not ``kernels.get``'s own argument)."""
    from . import kernels as _kernels          # kernels imports this module: resolve at call time
    if isinstance(kernel, _kernels.Kernel):
        return kernel
    if isinstance(kernel, str):
        try:
            return _kernels.get(kernel)
        except ValueError:
            known = ", ".join(repr(k) for k in _kernels.available())
            raise fail(func, name, f"be a kernapprox Kernel or a kernel name ({known})", repr(kernel)) from None
    raise fail(func, name, "be a kernapprox Kernel or a kernel name", type(kernel).__name__, TypeError)


def check_size_product(func: str, sizes: dict, *, itemsize: int = 8, copies: int = 1) -> None:
    """Memory check of an array whose size is the product of named sizes (e.g. ``{"m": m, "d_in": d}``):
    refused naming the largest factor when ``copies · itemsize · Π sizes`` exceeds the available memory."""
    total = copies * itemsize
    for v in sizes.values():
        total *= int(v)
    name = max(sizes, key=lambda k: int(sizes[k]))
    check_memory(total, func, name, sizes[name])


#: A symmetric matrix counts as PSD when λ_min >= −PSD_EIG_RTOL_MULTIPLE · n · eps · max|λ|.
PSD_EIG_RTOL_MULTIPLE = 100.0


def check_psd_spectrum(lam, func: str, name: str, *, eps: float | None = None) -> None:
    """Refuse a matrix whose computed eigenvalues ``lam`` (of an n×n symmetric matrix) show it is not
    PSD beyond rounding: for routines that decompose the matrix anyway (exact leverage scores, the
    bounds, the landmark block of an undeclared matrix) — never a decomposition made only to check."""
    lam = np.asarray(lam, dtype=np.float64)
    if lam.size == 0:
        return
    eps = float(np.finfo(np.float64).eps) if eps is None else float(eps)
    top = float(np.abs(lam).max())
    low = float(lam.min())
    if low < -PSD_EIG_RTOL_MULTIPLE * lam.size * eps * top:
        raise fail(func, name, "be positive semi-definite", f"a matrix with eigenvalue {low:.3g} (max |λ| {top:.3g})")
