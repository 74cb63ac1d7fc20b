"""The contract-fuzzing engine: bad-input catalogue, one call with a time limit, outcome classification.

Each public entry point has a catalogue :class:`Entry` (``_catalogue.py``): a valid call built from a
dict of argument values, the kind of every argument, and — where one can be written — a slow, obvious
dense-numpy reference of the result. The engine replaces one argument at a time by an item of the
bad-input catalogue for its kind and classifies the outcome:

=====================  =============================================================================
``refused``            ValueError / TypeError raised by kernapprox whose message names the argument
``refused_other_arg``  … that names another argument the caller passed (e.g. an all-zero X makes the
                       requested ``n_components`` impossible: the message names ``n_components``)
``ok_reference``       finite result agreeing with the slow reference
``ok_float64``         (valid variant: dtype, memory order, list, rng kind, …) finite result agreeing
                       with the float64 / canonical call of the same entry (no separate reference)
``finite_unchecked``   edge input (offset, ×1e160, duplicates, …) accepted with a finite result, for an
                       entry that has no reference to check it against
---------------------  -----------------------------------------------------------------------------
``silent_wrong``       a result for an input that must be refused, a non-finite result, or a result
                       that disagrees with the reference / the float64 answer
``valid_refused``      a valid variant (dtype, memory order, list, rng kind) refused
``unnamed_error``      ValueError / TypeError from kernapprox that names no argument the caller passed
``internal_error``     any exception raised from inside numpy / scipy / numba / dask (a user mistake
                       that reached library internals)
``crash``              any other exception type (ZeroDivisionError, LinAlgError, IndexError, …)
``hang``               the call ran past ``CALL_TIMEOUT`` seconds
``oom``                MemoryError / numpy's "Unable to allocate"
=====================  =============================================================================

The first four are passes, the rest failures.
"""
from __future__ import annotations

import collections
import math
import os
import signal
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import kernapprox as ka

PASS = ("refused", "refused_other_arg", "ok_reference", "ok_float64", "finite_unchecked")
FAIL = ("silent_wrong", "valid_refused", "unnamed_error", "internal_error", "crash", "hang", "oom")

#: Seconds one call may take before it counts as a hang (the inputs are tiny: ~1 ms is typical).
CALL_TIMEOUT = 10.0
#: Relative tolerances against the float64 answer by working dtype of the variant.
RTOL = {"float64": 1e-9, "float32": 2e-3, "float16": 2e-2}
#: Absolute floor (relative to max |expected|, or 1) below which differences are ignored.
ATOL = {"float64": 1e-12, "float32": 1e-5, "float16": 1e-3}

_PKG = os.path.dirname(os.path.abspath(ka.__file__)) + os.sep
_THIRD_PARTY = ("numpy", "scipy", "numba", "dask", "distributed", "sklearn", "llvmlite", "pandas")

#: outcome counts of this session: (group, outcome) -> count; and the failures, for the report
COUNTS: collections.Counter = collections.Counter()
FAILURES: list = []


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


@dataclass
class P:
    """One argument of an entry: its name (as in the message) and kind (selects the bad inputs)."""
    name: str
    kind: str
    optional: bool = False          # None is a valid value
    meta: dict = field(default_factory=dict)


@dataclass
class Entry:
    key: str                                            # module.qualname of the public callable
    values: Callable[[], dict] | None                   # fresh valid argument values
    call: Callable[[dict], Any] | None                  # the call from the values
    params: list = field(default_factory=list)
    ref: Callable[[dict], Any] | None = None            # slow obvious reference (dense numpy, float64)
    out: Callable[[Any, dict], Any] | None = None       # result -> array to compare (default: generic)
    rtol: float = 1e-7                                  # agreement with the reference (float64 inputs)
    random: bool = False                                # takes rng: equal seeds give equal results
    note: str = ""                                      # why an entry has no call (container types)
    group: str = "core"                                 # owner group, for the report
    extra_kwarg: bool = True                            # try an unknown keyword
    verdicts: tuple = ()                                # exception types that are the entry's own verdict
    #                                                     (an assertion helper's AssertionError)


# ------------------------------------------------------------------------------------------------
# the bad-input catalogue, by kind
# ------------------------------------------------------------------------------------------------
def _strided(X):
    W = np.zeros(tuple(2 * d for d in X.shape), dtype=X.dtype)
    sl = tuple(slice(None, None, 2) for _ in X.shape)
    W[sl] = X
    return W[sl]


def _readonly(X):
    Y = np.array(X)
    Y.setflags(write=False)
    return Y


def _with(X, value):
    Y = np.array(X, dtype=np.result_type(X, type(value)) if not isinstance(value, complex) else complex)
    Y.flat[min(3, Y.size - 1)] = value
    return Y


def array_mutations(X, kind: str, meta=None):
    """(label, value, expectation) for an array argument. expectation: refuse | valid | edge."""
    X = np.asarray(X, dtype=np.float64)
    # a comparison/report function may take non-finite values and report them (its verdict)
    nonfinite = "edge" if (meta or {}).get("nonfinite_ok") else "refuse"
    out = [
        ("nan", _with(X, np.nan), nonfinite), ("inf", _with(X, np.inf), nonfinite),
        ("-inf", _with(X, -np.inf), nonfinite),
        ("complex", X.astype(complex) + 1j, "refuse"),
        ("strings", np.full(X.shape, "a"), "refuse"),
        ("object", np.array(X, dtype=object), "edge"),
        ("dict", {"a": 1}, "refuse"), ("None", None, "edge" if (meta or {}).get("optional") else "refuse"),
        ("float32", X.astype(np.float32), "edge" if (meta or {}).get("exact_sum") else "valid"), ("float16", X.astype(np.float16), "edge" if (meta or {}).get("exact_sum") else "valid"),
        ("list", X.tolist(), "valid"), ("fortran", np.asfortranarray(X), "valid"),
        ("strided", _strided(X), "valid"), ("readonly", _readonly(X), "valid"),
        ("int", np.round(X * 3).astype(np.int64), "edge" if (meta or {}).get("exact_sum") else "valid"),
        ("bool", X > 0, "edge" if (meta or {}).get("exact_sum") else "valid"),
        ("zeros", np.zeros_like(X), "edge"),
        ("x1e160", X * 1e160, "edge"), ("x1e-300", X * 1e-300, "edge"),
        ("+1e8", X + 1e8, "edge"), ("-1e8", X - 1e8, "edge"),
    ]
    if X.ndim == 2:
        D = X.copy()
        D[1] = D[0]
        out += [("duplicate_rows", D, "edge"),
                ("empty_rows", X[:0], "refuse"), ("1-D", X[:, 0] if kind != "vector" else X,
                                                   "edge" if (meta or {}).get("1d_ok") else "refuse"
                                                   if kind != "vector" else "valid"),
                ("3-D", X[None], "edge" if kind == "batched" else "refuse"), ("scalar", np.float64(1.0), "refuse")]
        if X.shape[1] > 1:
            out += [("empty_cols", X[:, :0], "edge" if (meta or {}).get("empty_cols_ok") else "refuse")]
    else:
        out += [("empty", X[:0], "refuse"), ("2-D", np.stack([X, X]), "refuse"),
                ("scalar", np.float64(1.0), "refuse")]
    return out


def index_mutations(idx, meta):
    """Index arrays: integral floats and lists are valid; out of range, negative, non-integral, bool,
    NaN, 2-D and empty are refused; duplicates and a single scalar index are edge inputs."""
    idx = np.asarray(idx)
    n = meta.get("n", int(idx.max()) + 1)
    return [("float_integral", idx.astype(np.float64), "valid"), ("list", idx.tolist(), "valid"),
            ("int32", idx.astype(np.int32), "valid"), ("readonly", _readonly(idx), "valid"),
            ("out_of_range", np.append(idx[:-1], n), "refuse"), ("negative", np.append(idx[:-1], -1), "refuse"),
            ("non_integral", idx + 0.5, "refuse"), ("bool", np.ones(idx.size, bool), "refuse"),
            ("nan", np.append(idx[:-1].astype(float), np.nan), "refuse"), ("2-D", idx[None, :], "refuse"),
            ("empty", idx[:0], "refuse"), ("strings", idx.astype(str), "refuse"), ("None", None, "refuse"),
            ("duplicates", np.append(idx, idx[:1]), "edge"), ("scalar", int(idx[0]), "edge"),
            ("huge_index", np.append(idx[:-1], 2 ** 70), "refuse")]


def matrix_mutations(A, meta):
    """Operands that carry structure: rectangular / non-symmetric / non-PSD where that is claimed."""
    A = np.asarray(A, dtype=np.float64)
    out = array_mutations(A, "matrix", meta)
    r = np.random.default_rng(7)
    n = A.shape[0]
    if meta.get("square"):
        out.append(("rectangular", A[:, :-1], "refuse"))
    if meta.get("symmetric"):
        out.append(("non_symmetric", A + 0.1 * np.abs(A).max() * r.normal(size=A.shape), "refuse"))
    if meta.get("psd"):
        out.append(("non_psd", A - 2 * np.abs(A).max() * np.eye(n), "refuse"))
        Sym = r.normal(size=A.shape)
        out.append(("indefinite_posdiag", Sym + Sym.T + 0.0, "refuse"))
    return out


def int_mutations(v, meta):
    """``meta``: low (default 1), high (an upper bound derived from the inputs), huge_ok (a pure
    formula in which a huge value is legitimate), indices_ok (a list is a list of indices)."""
    hi = meta.get("high")
    was_none = v is None
    v = 2 if v is None else v
    huge = "edge" if meta.get("huge_ok") else "refuse"
    out = [("zero", 0, "refuse" if meta.get("low", 1) >= 1 else "edge"),
           ("negative", -1, "refuse" if meta.get("low", 1) >= 0 else "edge"),
           ("float_2.5", 2.5, "refuse"), ("string", "3", "refuse"), ("bool", True, "refuse"),
           ("nan", float("nan"), "refuse"), ("inf", float("inf"), "refuse"), ("complex", 1j, "refuse"),
           ("huge", 10 ** 12, huge), ("huger", 2 ** 70, "refuse"),
           ("np_int", np.int64(v), "edge" if was_none else "valid"),
           ("list", [v], "edge" if meta.get("indices_ok") else "refuse")]
    if meta.get("optional"):
        out.append(("None", None, "edge"))
    if hi is not None:
        out.append(("above_bound", hi + 1, "refuse"))
        out.append(("at_bound", hi, "edge"))
    return out


def real_mutations(v, meta):
    was_none = v is None
    v = 0.5 if v is None else v             # an optional argument left at None: mutate around 0.5
    inf = "edge" if meta.get("inf_ok") else "refuse"
    out = [("nan", float("nan"), "refuse"), ("inf", float("inf"), inf), ("-inf", -float("inf"), inf),
           ("string", "abc", "refuse"), ("bool", True, "refuse"), ("complex", 1j, "refuse"),
           ("list", [v], "edge" if meta.get("array_ok") else "refuse"),
           ("np_float", np.float64(v), "edge" if was_none else "valid"),
           ("negative", -abs(v) - 1.0, "refuse" if not meta.get("signed") else "edge"),
           ("zero", 0.0, "edge"), ("tiny", 1e-300, "edge"), ("huge", 1e300, "edge")]
    if not meta.get("optional"):
        out.append(("None", None, "refuse"))
    return out


def prob_mutations(v, meta):
    return [("zero", 0.0, "refuse"), ("one", 1.0, "refuse"), ("negative", -0.5, "refuse"),
            ("nan", float("nan"), "refuse"), ("string", "0.1", "refuse"), ("bool", True, "refuse"),
            ("tiny", 1e-300, "edge"), ("np_float", np.float64(v), "valid")]


def bool_mutations(v, meta):
    return [("string_False", "False", "refuse"), ("int_1", 1, "refuse"), ("int_0", 0, "refuse"),
            ("None", None, "refuse" if not meta.get("optional") else "edge"), ("string_yes", "yes", "refuse"),
            ("np_bool", np.bool_(v), "valid")]


def rng_mutations(v, meta):
    return [("string", "abc", "refuse"), ("float", 1.5, "refuse"), ("bool", True, "refuse"),
            ("object", object(), "refuse"), ("RandomState", np.random.RandomState(0), "refuse"),
            ("negative", -1, "refuse"), ("generator", np.random.default_rng(v), "valid"),
            ("seedsequence", np.random.SeedSequence(v), "valid")]


def choice_mutations(v, meta):
    return [("unknown", "no-such-option", "refuse"), ("int", 3, "refuse"), ("list", [v], "refuse"),
            # a different-case spelling: refused, or accepted as the same option (case-insensitive names)
            ("upper", str(v).upper() if str(v).upper() != v else v + "x", "edge")]


def kernel_mutations(v, meta):
    return [("typo", "gaussain", "refuse"), ("int", 3, "refuse"), ("None", None, "refuse"),
            ("object", object(), "refuse")]


MUTATORS = {"points": lambda v, m: array_mutations(v, "points", m),
            "array": lambda v, m: array_mutations(v, "array", m),
            "batched": lambda v, m: array_mutations(v, "batched", m),
            "vector": lambda v, m: array_mutations(v, "vector", m), "matrix": lambda v, m: matrix_mutations(v, m),
            "indices": index_mutations, "int": int_mutations, "real": real_mutations, "prob": prob_mutations, "bool": bool_mutations,
            "rng": rng_mutations, "choice": choice_mutations, "kernel": kernel_mutations}


# ------------------------------------------------------------------------------------------------
# results as arrays
# ------------------------------------------------------------------------------------------------
def as_array(res):
    """A float64 array view of a result (low-rank results densified, containers flattened)."""
    from kernapprox.lowrank import _Base
    if res is None:
        return np.zeros(0)
    if isinstance(res, _Base):
        return np.asarray(res.to_dense(force=True), dtype=np.float64)
    if isinstance(res, (bool, np.bool_)):
        return np.array([float(res)])
    if isinstance(res, (int, float, np.number)):
        return np.array([float(res)])
    if isinstance(res, np.ndarray):
        if res.dtype.kind in "fiub":
            return np.asarray(res, dtype=np.float64)
        if res.dtype.kind == "c":
            return np.array([np.nan])            # a complex result is never right
        return np.zeros(0)
    if hasattr(res, "dense") and hasattr(res, "kernel"):
        return np.asarray(res.dense(force=True), dtype=np.float64)
    if isinstance(res, (tuple, list)):
        parts = [as_array(r).ravel() for r in res]
        return np.concatenate(parts) if parts else np.zeros(0)
    if isinstance(res, dict):
        parts = [as_array(res[k]).ravel() for k in sorted(res, key=str)
                 if isinstance(res[k], (np.ndarray, float, int, np.number, tuple, list))]
        return np.concatenate(parts) if parts else np.zeros(0)
    return np.zeros(0)


def _raised_inside_third_party(exc) -> str | None:
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return None
    last = os.path.abspath(tb[-1].filename)
    if last.startswith(_PKG):
        return None
    parts = last.split(os.sep)
    for lib in _THIRD_PARTY:
        if lib in parts and "site-packages" in last:
            return f"{lib} ({os.path.basename(last)}:{tb[-1].lineno})"
    return None


def _names_param(msg: str, name: str) -> bool:
    names = [name] + ([] if "." not in name else [name.split(".")[-1]])
    return any(f"`{n}`" in msg or f"'{n}'" in msg or f" {n} " in f" {msg} " or f"{n}=" in msg
               or f"{n}." in msg for n in names)


def call_with_limit(fn, timeout=CALL_TIMEOUT):
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with np.errstate(all="ignore"):
                return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _close(got, exp, rtol, atol_rel):
    if got.shape != exp.shape:
        if got.size == exp.size:
            got = got.reshape(exp.shape)
        else:
            return False, f"shape {got.shape} vs {exp.shape}"
    if exp.size == 0:
        return True, ""
    if not np.all(np.isfinite(exp)):
        return bool(np.array_equal(got, exp, equal_nan=True)), "non-finite reference"
    scale = float(np.max(np.abs(exp)))
    err = float(np.max(np.abs(got - exp)))
    tol = rtol * scale + atol_rel * max(scale, np.finfo(np.float64).tiny)
    return err <= tol or err == 0.0, f"max error {err:.3g} vs tolerance {tol:.3g} (scale {scale:.3g})"


def _dtype_of(value) -> str:
    dt = getattr(value, "dtype", None)
    return "float32" if dt == np.float32 else "float16" if dt == np.float16 else "float64"


def classify(entry: Entry, param: str, label: str, expectation: str, values: dict, baseline=None):
    """Run one call; return (outcome, detail)."""
    try:
        res = call_with_limit(lambda: entry.call(values))
    except _Hang:
        return "hang", f"> {CALL_TIMEOUT:g} s"
    except MemoryError as exc:
        return "oom", f"MemoryError: {exc}"
    except entry.verdicts:
        return "refused", ""
    except (ValueError, TypeError) as exc:
        where = _raised_inside_third_party(exc)
        msg = str(exc)
        if "Unable to allocate" in msg:
            return "oom", msg[:120]
        if where is not None:
            return "internal_error", f"{type(exc).__name__} from {where}: {msg[:160]}"
        if expectation == "valid":
            return "valid_refused", f"{msg[:200]}"
        if _names_param(msg, param):
            return "refused", ""
        if any(_names_param(msg, k) for k in values if k != param and not k.startswith("__")) and \
                not msg.startswith(("MatrixOracle:", "kernels.get:")):
            return "refused_other_arg", ""
        return "unnamed_error", f"{type(exc).__name__}: {msg[:200]}"
    except Exception as exc:  # noqa: BLE001 - every other exception type is a contract failure
        if "Unable to allocate" in str(exc) or isinstance(exc, MemoryError):
            return "oom", str(exc)[:120]
        where = _raised_inside_third_party(exc)
        kind = "internal_error" if where is not None else "crash"
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        return kind, f"{type(exc).__name__} at {where or os.path.basename(tb.filename)}:{tb.lineno}: {str(exc)[:160]}"
    if expectation == "refuse":
        return "silent_wrong", "accepted an input that must be refused"
    try:
        got = entry.out(res, values) if entry.out is not None else as_array(res)
    except (ValueError, TypeError) as exc:
        # a result object that refuses an unrepresentable dense form (e.g. F Fᵀ overflowing), naming
        # the argument, is a refusal
        if expectation != "valid" and _raised_inside_third_party(exc) is None and _names_param(str(exc), param):
            return "refused", ""
        return "crash", f"result unusable: {type(exc).__name__}: {exc}"[:200]
    except Exception as exc:  # noqa: BLE001
        return "crash", f"result unusable: {type(exc).__name__}: {exc}"[:200]
    got = np.asarray(got, dtype=np.float64) if not np.iscomplexobj(got) else np.array([np.nan])
    if not np.all(np.isfinite(got)):
        return "silent_wrong", f"{int(np.size(got) - np.count_nonzero(np.isfinite(got)))} non-finite outputs"
    if entry.ref is not None:
        try:
            exp = call_with_limit(lambda: entry.ref(values), timeout=60)
        except Exception as exc:  # noqa: BLE001 - the reference cannot say: fall back below
            exp = None
            ref_note = f"reference failed: {type(exc).__name__}"
        if exp is not None:
            exp = np.asarray(exp, dtype=np.float64)
            dt = _dtype_of(values.get(param)) if expectation == "valid" else "float64"
            rtol = max(entry.rtol, RTOL[dt])
            ok, why = _close(got, exp, rtol, ATOL[dt])
            if ok:
                return "ok_reference", ""
            if np.all(np.isfinite(exp)):
                return "silent_wrong", f"disagrees with the reference: {why}"
    if expectation == "valid" and baseline is not None:
        dt = _dtype_of(values.get(param))
        ok, why = _close(got, baseline, RTOL[dt], ATOL[dt])
        return ("ok_float64", "") if ok else ("silent_wrong", f"disagrees with the float64 call: {why}")
    return "finite_unchecked", ""


def record(entry: Entry, param: str, label: str, outcome: str, detail: str):
    COUNTS[(entry.group, outcome)] += 1
    if outcome in FAIL:
        FAILURES.append((entry.group, entry.key, param, label, outcome, detail))


def walk(entry: Entry, *, max_calls: int | None = None, stride: int = 1, offset: int = 0) -> list:
    """Every (argument, bad input) of the entry, plus an unknown keyword; returns the failures.

    ``stride``/``offset``: take only the bad inputs whose running index is ``offset`` mod ``stride``
    (the default run takes every other bad input; the slow run takes all of them)."""
    fails = []
    base_vals = entry.values()
    outcome, detail = classify(entry, "<valid call>", "valid", "valid", base_vals)
    if outcome not in ("ok_reference", "finite_unchecked", "ok_float64"):
        record(entry, "<valid call>", "baseline", outcome, detail)
        fails.append(("<valid call>", "baseline", outcome, detail))
        return fails
    record(entry, "<valid call>", "baseline", outcome, detail)
    v0 = entry.values()
    baseline = _result_array(entry, call_with_limit(lambda: entry.call(v0)), v0)
    calls = 0
    for p in entry.params:
        v0 = base_vals[p.name]
        muts = MUTATORS[p.kind](v0, {**p.meta, "optional": p.optional})
        for j, (label, bad, expectation) in enumerate(muts):
            if max_calls is not None and calls >= max_calls:
                break
            if (j + offset) % stride:
                continue
            vals = entry.values()
            vals[p.name] = bad
            base = None
            if expectation == "valid":
                base = baseline
                if p.kind in ("points", "array", "vector", "matrix") and label not in ("fortran", "strided", "readonly"):
                    # the float64 answer for the same numbers (float16 / int / bool / list change the values)
                    v64 = entry.values()
                    v64[p.name] = np.asarray(bad, dtype=np.float64)
                    try:
                        base = _result_array(entry, call_with_limit(lambda: entry.call(v64)), v64)
                    except Exception:  # noqa: BLE001 - the float64 call is itself classified elsewhere
                        base = None
            outcome, detail = classify(entry, p.name, label, expectation, vals, baseline=base)
            record(entry, p.name, label, outcome, detail)
            calls += 1
            if outcome in FAIL:
                fails.append((p.name, label, outcome, detail))
    if entry.extra_kwarg:
        vals = entry.values()
        vals["__extra__"] = 1
        outcome, detail = classify(entry, "not_an_option", "unknown keyword", "refuse", vals)
        record(entry, "not_an_option", "unknown keyword", outcome, detail)
        if outcome in FAIL:
            fails.append(("not_an_option", "unknown keyword", outcome, detail))
    return fails


def _result_array(entry, res, values):
    return np.asarray(entry.out(res, values) if entry.out is not None else as_array(res), dtype=np.float64)


def XK(values: dict) -> dict:
    """The unknown keyword, when the walk asks for it."""
    return {"not_an_option": values["__extra__"]} if "__extra__" in values else {}


def summary_lines() -> list[str]:
    if not COUNTS:
        return []
    groups = sorted({g for g, _ in COUNTS})
    cols = PASS + FAIL
    lines = ["contract fuzz outcomes (calls): " + ", ".join(f"{o}={sum(COUNTS[(g, o)] for g in groups)}"
                                                            for o in cols),
             f"  total calls: {sum(COUNTS.values())}"]
    for g in groups:
        lines.append(f"  [{g}] " + ", ".join(f"{o}={COUNTS[(g, o)]}" for o in cols if COUNTS[(g, o)]))
    if FAILURES:
        lines.append(f"  failures ({len(FAILURES)}):")
        for f in FAILURES[:400]:
            lines.append("    " + " | ".join(str(x) for x in f))
    return lines


def is_finite_number(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
