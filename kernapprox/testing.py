"""Public test helpers: oracle assertions, adjoint (dot) tests, named tolerances per dtype.

``assert_matches_oracle(actual, case)``
    pytest-friendly wrapper of :func:`kernapprox.oracle.compare` (numpy, torch CPU/CUDA, JAX, CuPy,
    DLPack, ``__array__``; frameworks are never imported unless the input is theirs).
``dottest(op, *, rng=None)``
    ``⟨A x, y⟩ = ⟨x, Aᵀ y⟩`` for any linear operator with ``@`` and ``.T``, or ``matvec``/``rmatvec``.
``tol_for(dtype)``
    The named relative / absolute tolerances for a dtype (float64, float32, float16, bfloat16).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._validation import as_generator, check_int, fail
from .oracle import UNIT_ROUNDOFF  # unit roundoff u = eps/2 per dtype name (one table, re-exported)

__all__ = ["assert_matches_oracle", "dottest", "tol_for", "Tolerance"]

#: rtol = RTOL_MULTIPLE · u · √L: a handful of roundings, each ≤ u, accumulated over a length-L reduction
RTOL_MULTIPLE = 16.0
#: atol = ATOL_MULTIPLE · u · √L (in units of the data scale, i.e. for O(1) data)
ATOL_MULTIPLE = 4.0
#: adjoint-test tolerance: |⟨Ax, y⟩ − ⟨x, Aᵀy⟩| ≤ DOTTEST_MULTIPLE · u · √(n + m) · ‖A x‖‖y‖ (+ ‖x‖‖Aᵀy‖)
DOTTEST_MULTIPLE = 64.0


class Tolerance(NamedTuple):
    """``rtol`` and ``atol`` for ``np.testing.assert_allclose(actual, desired, rtol=, atol=)``."""
    rtol: float
    atol: float


def _dtype_name(dtype) -> str:
    if isinstance(dtype, str) and dtype in UNIT_ROUNDOFF:
        return dtype
    name = str(getattr(dtype, "name", dtype)).replace("torch.", "")
    if name in UNIT_ROUNDOFF:
        return name
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in UNIT_ROUNDOFF:
        raise fail("tol_for", "dtype", f"be one of {tuple(UNIT_ROUNDOFF)}", repr(dtype), TypeError)
    return name


def tol_for(dtype, *, length: int = 1) -> Tolerance:
    """Named tolerances for a dtype.

    Parameters
    ----------
    dtype : str, numpy dtype or torch dtype
        ``"float64"``, ``"float32"``, ``"float16"``, ``"bfloat16"`` (or the corresponding dtype objects).
    length : int
        Longest reduction (inner-product length) of the computation compared; the tolerance grows
        like √length (probabilistic rounding-error bound, Higham & Mary 2019).

    Returns
    -------
    Tolerance
        ``rtol = RTOL_MULTIPLE·u·√length``, ``atol = ATOL_MULTIPLE·u·√length``.

    Examples
    --------
    >>> from kernapprox.testing import tol_for
    >>> tol_for("float32").rtol < tol_for("float16").rtol < tol_for("bfloat16").rtol
    True
    """
    u = UNIT_ROUNDOFF[_dtype_name(dtype)]
    L = check_int(length, "tol_for", "length", low=1)
    g = math.sqrt(L)
    return Tolerance(rtol=RTOL_MULTIPLE * u * g, atol=ATOL_MULTIPLE * u * g)


def assert_matches_oracle(actual, case):
    """Assert that an implementation's output matches an oracle case within ``case.tolerance``.

    Parameters
    ----------
    actual : array of shape (batch, heads, n, pv)
        numpy, torch (CPU or CUDA), JAX, CuPy, or anything with DLPack / ``__array__``.
    case : kernapprox.oracle.Case

    Returns
    -------
    kernapprox.oracle.OracleReport
        (on success; max abs / relative error and the worst (batch, head, row)).

    Raises
    ------
    AssertionError
        With the report (errors, tolerance, worst position) when over tolerance or non-finite.

    Examples
    --------
    >>> import kernapprox as ka
    >>> from kernapprox.testing import assert_matches_oracle
    >>> c = ka.oracle.case("performer", n=32, p=8, d=8, seed=1)
    >>> assert_matches_oracle(c.expected, c).passed
    True
    """
    from .oracle import compare
    report = compare(actual, case)
    if not report.passed:
        detail = case.tolerance_detail
        extra = ""
        if detail.get("ill_posed"):
            extra = (f" (note: the core's condition number {detail.get('core_condition'):.3g} makes this case "
                     f"ill-posed in {case.dtype})")
        raise AssertionError(str(report) + extra)
    return report


def _apply(op, V, transpose: bool):
    if transpose:
        if hasattr(op, "rmatvec"):
            return op.rmatvec(V)
        return op.T @ V
    if hasattr(op, "matvec"):
        return op.matvec(V)
    return op @ V


#: Largest ``n_trials`` of :func:`dottest`.
DOTTEST_MAX_TRIALS = 10_000


def dottest(op, *, rng=None, n_trials: int = 3, rtol: float | None = None) -> float:
    """Adjoint ("dot") test of a linear operator: ``⟨A x, y⟩ = ⟨x, Aᵀ y⟩`` for random x, y.

    Parameters
    ----------
    op : linear operator of shape (m, n)
        Anything with ``.shape`` and either ``matvec``/``rmatvec`` (scipy ``LinearOperator``,
        :class:`kernapprox.KernelMatrix`, low-rank results) or ``@`` and ``.T`` (dense arrays).
    rng : None, int, SeedSequence or Generator
    n_trials : int in [1, DOTTEST_MAX_TRIALS]
        Independent (x, y) pairs; the worst one is reported. A wrong transpose fails every trial
        with probability one, so a few suffice; the cap (10⁴) refuses a count that would only make
        the test run for hours.
    rtol : float, optional
        Default ``DOTTEST_MULTIPLE · u · √(m + n)`` with u the unit roundoff of ``op.dtype`` (float64
        if it has none).

    Returns
    -------
    float
        The largest ``|⟨Ax, y⟩ − ⟨x, Aᵀy⟩| / (‖Ax‖‖y‖ + ‖x‖‖Aᵀy‖)`` over the trials.

    Raises
    ------
    AssertionError
        When it exceeds ``rtol`` (the operator's transpose is not its adjoint).

    Notes
    -----
    Cost: 2·n_trials operator applications. The relative residual of an exact pair in floating point
    is of order u·√(m + n) (two accumulated inner products); a wrong transpose gives O(1).

    References
    ----------
    Claerbout, "Earth Soundings Analysis: Processing versus Inversion" (1992), §5 (the dot-product test).

    Examples
    --------
    >>> import numpy as np
    >>> from kernapprox.testing import dottest
    >>> A = np.random.default_rng(0).normal(size=(5, 3))
    >>> dottest(A, rng=0) < 1e-14
    True
    """
    func = "dottest"
    shape = getattr(op, "shape", None)
    if shape is None or len(shape) != 2:
        raise fail(func, "op", "have a 2-D `.shape` (a linear operator)", type(op).__name__, TypeError)
    if not (hasattr(op, "matvec") or hasattr(op, "__matmul__") or hasattr(op, "dot")):
        raise fail(func, "op", "support `matvec`/`rmatvec` or `@` and `.T`", type(op).__name__, TypeError)
    n_trials = check_int(n_trials, func, "n_trials", low=1, high=DOTTEST_MAX_TRIALS)
    m, n = int(shape[0]), int(shape[1])
    gen = as_generator(rng, func)
    dt = getattr(op, "dtype", np.float64)
    try:
        u = UNIT_ROUNDOFF[_dtype_name(dt)]
    except TypeError:
        u = UNIT_ROUNDOFF["float64"]
    tol = DOTTEST_MULTIPLE * u * math.sqrt(m + n) if rtol is None else float(rtol)
    worst = 0.0
    for _ in range(n_trials):
        x = gen.standard_normal(n)
        y = gen.standard_normal(m)
        Ax = np.asarray(_apply(op, x, False), dtype=np.float64).reshape(-1)
        ATy = np.asarray(_apply(op, y, True), dtype=np.float64).reshape(-1)
        if Ax.shape != (m,) or ATy.shape != (n,):
            raise AssertionError(f"dottest: A x has shape {Ax.shape} (want ({m},)) and Aᵀ y has shape "
                                 f"{ATy.shape} (want ({n},))")
        lhs, rhs = float(Ax @ y), float(x @ ATy)
        scale = np.linalg.norm(Ax) * np.linalg.norm(y) + np.linalg.norm(x) * np.linalg.norm(ATy)
        r = abs(lhs - rhs) / scale if scale > 0 else abs(lhs - rhs)
        worst = max(worst, float(r))
    if not worst <= tol:
        raise AssertionError(f"dottest: <A x, y> and <x, A^T y> differ by {worst:.3e} relative (tolerance "
                             f"{tol:.3e}): the transpose / rmatvec is not the adjoint of the operator")
    return worst
