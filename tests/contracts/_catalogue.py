"""Catalogue of every public callable: a valid call, the kind of each argument, and a slow obvious
reference (dense numpy, float64) where one can be written.

Keys are ``module.qualname`` of the object, so a function re-exported under several names has one
entry. :func:`public_callables` enumerates ``__all__`` of ``kernapprox`` and of every submodule (and
of the dataset submodules): a new public callable without an entry here fails
``test_every_public_callable_has_a_catalogue_entry``.
"""
from __future__ import annotations

import importlib
import inspect

import numpy as np
from scipy.spatial.distance import cdist

import _engine as eng
import kernapprox as ka
from _engine import XK, Entry, P

R = np.random.default_rng(20240601)
X0 = R.normal(size=(12, 3))
Y0 = R.normal(size=(9, 3))
V0 = R.normal(size=(9, 2))
F0 = R.normal(size=(12, 4))
K0 = np.exp(-cdist(X0, X0, "sqeuclidean") / 2.0)          # Gaussian(1.0) Gram matrix, PSD
A0 = R.normal(size=(12, 12))
LR0 = R.normal(size=(14, 3)) @ R.normal(size=(3, 10))      # exactly rank 3
Qa, Ka_, Va = (0.5 * R.normal(size=(3, 16, 4)))
y0 = R.normal(size=12)
V12 = R.normal(size=(12, 2))


def F(x):
    return np.asarray(x, dtype=np.float64)


def c(x):
    return np.array(x, copy=True)


def kind_with(base: str, expect: dict) -> str:
    """A bad-input kind derived from ``base`` whose expectations ``expect`` (label -> refuse | valid |
    edge) differ: for an argument whose contract differs from the generic one of its kind (an
    elementwise function takes any shape; a comparison refuses a bool array; scikit-learn's
    ``random_state`` takes a RandomState)."""
    name = base + "|" + ",".join(f"{k}={v}" for k, v in sorted(expect.items()))
    base_mut = eng.MUTATORS[base]
    eng.MUTATORS[name] = lambda v, meta: [(lab, x, expect.get(lab, e)) for lab, x, e in base_mut(v, meta)]
    return name


#: an elementwise array function: any non-empty shape (1-D and 3-D are ordinary inputs)
ELEMENTWISE = kind_with("array", {"1-D": "valid", "3-D": "valid"})
#: an implementation's output compared with a golden case: a bool array is no output of an
#: attention kernel (a mask compared by mistake) and is refused naming the argument
OUTPUT = kind_with("array", {"bool": "refuse"})


# ------------------------------------------------------------------------------------------------
# slow obvious references
# ------------------------------------------------------------------------------------------------
def ref_gauss(X, Y, h=1.0):
    return np.exp(-cdist(F(X), F(Y), "sqeuclidean") / (2 * h * h))


def ref_kernel(name, params, X, Y):
    X, Y = F(X), F(Y)
    if name == "Gaussian":
        return ref_gauss(X, Y, params["bandwidth"])
    if name == "Laplacian":
        return np.exp(-cdist(X, Y, "cityblock") / params["bandwidth"])
    if name == "Matern":
        r = cdist(X, Y) / params["bandwidth"]
        nu = params["nu"]
        if nu == 0.5:
            return np.exp(-r)
        if nu == 1.5:
            return (1 + np.sqrt(3) * r) * np.exp(-np.sqrt(3) * r)
        return (1 + np.sqrt(5) * r + 5 * r * r / 3) * np.exp(-np.sqrt(5) * r)
    if name == "Polynomial":
        return (params["gamma"] * X @ Y.T + params["coef0"]) ** params["degree"]
    if name == "Linear":
        return X @ Y.T
    if name == "Sigmoid":
        return np.tanh(params["gamma"] * X @ Y.T + params["coef0"])
    if name == "Exponential":
        return np.exp(X @ Y.T / params["temperature"])
    raise KeyError(name)


#: every finite bfloat16 value (float64, ascending) and its 16-bit pattern
_BF_BITS = np.arange(2 ** 16, dtype=np.uint32)
with np.errstate(invalid="ignore"):                     # the NaN patterns (dropped below)
    _BF_VALS = (_BF_BITS << 16).view(np.float32).astype(np.float64)
_BF_KEEP = np.isfinite(_BF_VALS)
_BF_ORDER = np.argsort(_BF_VALS[_BF_KEEP], kind="stable")
_BF_VALS, _BF_BITS = _BF_VALS[_BF_KEEP][_BF_ORDER], _BF_BITS[_BF_KEEP][_BF_ORDER]


def ref_bfloat16(X):
    """Nearest bfloat16 by search over all 65536 patterns, ties to the even pattern; None outside
    the bfloat16 range (the call must refuse)."""
    x = F(X).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        return None
    i = np.clip(np.searchsorted(_BF_VALS, x), 1, _BF_VALS.size - 1)
    lo, hi = _BF_VALS[i - 1], _BF_VALS[i]
    dlo, dhi = x - lo, hi - x
    pick_hi = (dhi < dlo) | ((dhi == dlo) & (_BF_BITS[i] % 2 == 0))
    out = np.where(pick_hi, hi, lo)
    if np.any(np.abs(out) > (2 - 2 ** -7) * 2.0 ** 127) or np.any(x > _BF_VALS[-1]) or np.any(x < _BF_VALS[0]):
        return None
    return out.reshape(np.shape(F(X)))


def ref_bfloat16_bits(X):
    """The pattern of each value when it is exactly a bfloat16 value (positive zero for 0)."""
    x = F(X)
    j = np.searchsorted(_BF_VALS, x.ravel())
    j = np.clip(j, 0, _BF_VALS.size - 1)
    if not np.array_equal(_BF_VALS[j], x.ravel()):
        return None
    zero_bits = np.where(np.signbit(x.ravel()), 0x8000, 0)
    return np.where(x.ravel() == 0, zero_bits, _BF_BITS[j]).reshape(x.shape)


def ref_nystrom_dense(K, idx):
    K = F(K)
    C = K[:, idx]
    return C @ np.linalg.pinv(C[idx], rcond=1e-10) @ C.T


def ref_softmax_attention(Q, K, V):
    Q, K, V = F(Q), F(K), F(V)
    S = Q @ K.T / np.sqrt(Q.shape[-1])
    S = S - S.max(axis=1, keepdims=True)
    A = np.exp(S)
    return (A / A.sum(axis=1, keepdims=True)) @ V


def _nys_from_info(res, v, key="KM"):
    """Reference Nyström on the pivots/landmarks the result reports (randomness pre-drawn)."""
    K = v[key]
    Kd = K.dense(force=True) if hasattr(K, "dense") else F(K)
    return ref_nystrom_dense(Kd, np.asarray(res.info["indices"]))


# ------------------------------------------------------------------------------------------------
# entries
# ------------------------------------------------------------------------------------------------
E: dict[str, Entry] = {}


def add(key, **kw):
    E[key] = Entry(key=key, **kw)


def KMof(v):
    return v["KM"]


# kernels (ENGINE owns the numerics) ------------------------------------------------------------
_KPARAMS = {
    "Gaussian": ({"bandwidth": 1.0}, [P("bandwidth", "real")]),
    "Laplacian": ({"bandwidth": 1.5}, [P("bandwidth", "real")]),
    "Matern": ({"nu": 1.5, "bandwidth": 1.2}, [P("bandwidth", "real")]),
    "Polynomial": ({"degree": 2, "gamma": 0.5, "coef0": 1.0}, [P("degree", "int"), P("gamma", "real")]),
    "Linear": ({}, []),
    "Sigmoid": ({"gamma": 0.3, "coef0": -0.5}, [P("gamma", "real")]),
    "Exponential": ({"temperature": 2.0}, [P("temperature", "real")]),
}
for _name, (_params, _pp) in _KPARAMS.items():
    def _mk(name=_name, params=_params, pp=_pp):
        cls = getattr(ka, name)
        add(f"kernapprox.kernels.{name}",
            values=lambda: {**params, "X": c(X0), "Y": c(Y0)},
            call=lambda v: cls(**{k: v[k] for k in params}, **XK(v))(v["X"], v["Y"]),
            params=pp + [P("X", "points"), P("Y", "points", optional=True)],
            ref=lambda v: ref_kernel(name, v, v["X"], v["X"] if v["Y"] is None else v["Y"]), rtol=1e-9,
            group="kernels")
    _mk()
add("kernapprox.kernels.Kernel", values=None, call=None, note="abstract base class: the concrete kernels are entries",
    group="kernels")
add("kernapprox.kernels.get", values=lambda: {"name": "gaussian", "X": c(X0)},
    call=lambda v: ka.kernels.get(v["name"], bandwidth=1.0, **XK(v))(v["X"]),
    params=[P("name", "choice"), P("X", "points")], ref=lambda v: ref_gauss(v["X"], v["X"]), group="kernels")
add("kernapprox.kernels.available", values=lambda: {}, call=lambda v: len(ka.kernels.available(**XK(v))),
    group="kernels")

# matrix --------------------------------------------------------------------------------------------
add("kernapprox.matrix.KernelMatrix", values=lambda: {"kernel": ka.Gaussian(1.0), "X": c(X0), "Y": c(Y0)},
    call=lambda v: ka.KernelMatrix(v["kernel"], v["X"], v["Y"], **XK(v)).dense(),
    params=[P("kernel", "kernel"), P("X", "points"), P("Y", "points", optional=True)],
    ref=lambda v: ref_gauss(v["X"], v["X"] if v["Y"] is None else v["Y"]), group="kernels")
add("kernapprox.matrix.kernel_matvec",
    values=lambda: {"kernel": ka.Gaussian(1.0), "X": c(X0), "Y": c(Y0), "V": c(V0), "accumulate": None},
    call=lambda v: ka.kernel_matvec(v["kernel"], v["X"], v["Y"], v["V"], accumulate=v["accumulate"], **XK(v)),
    params=[P("kernel", "kernel"), P("X", "points"), P("Y", "points"), P("V", "array", meta={"1d_ok": True})],
    ref=lambda v: ref_gauss(v["X"], v["Y"]) @ F(v["V"]), group="kernels")
add("kernapprox.matrix.default_tile_rows", values=lambda: {"m": 100, "itemsize": 8},
    call=lambda v: ka.matrix.default_tile_rows(v["m"], v["itemsize"], **XK(v)),
    params=[P("m", "int", meta={"huge_ok": True}), P("itemsize", "int")],   # a huge m is a legitimate width
    group="kernels")

# lowrank -------------------------------------------------------------------------------------------
add("kernapprox.lowrank.PSDLowRank", values=lambda: {"F": c(F0)},
    call=lambda v: ka.PSDLowRank(v["F"], **XK(v)), params=[P("F", "array", meta={"empty_cols_ok": True})],
    ref=lambda v: F(v["F"]) @ F(v["F"]).T)
add("kernapprox.lowrank.SymLowRank", values=lambda: {"U": c(F0), "lam": np.array([1.0, -2.0, 0.5, 3.0])},
    call=lambda v: ka.SymLowRank(v["U"], v["lam"], **XK(v)),
    params=[P("U", "array", meta={"empty_cols_ok": True}), P("lam", "vector")],
    ref=lambda v: (F(v["U"]) * F(v["lam"])) @ F(v["U"]).T)
add("kernapprox.lowrank.LowRank", values=lambda: {"L": c(F0), "R": R.normal(size=(7, 4))},
    call=lambda v: ka.LowRank(v["L"], v["R"], **XK(v)),
    params=[P("L", "array", meta={"empty_cols_ok": True}), P("R", "array", meta={"empty_cols_ok": True})],
    ref=lambda v: F(v["L"]) @ F(v["R"]).T)
add("kernapprox.lowrank.MatrixOracle", values=lambda: {"A": c(K0), "is_psd": None},
    call=lambda v: ka.lowrank.MatrixOracle(v["A"], is_psd=v["is_psd"], **XK(v)).dense(),
    params=[P("A", "array"), P("is_psd", "bool", optional=True)], ref=lambda v: F(v["A"]))
add("kernapprox.lowrank.as_matrix_protocol", values=lambda: {"KM": c(K0), "func": "f"},
    call=lambda v: ka.lowrank.as_matrix_protocol(v["KM"], v["func"], **XK(v)).dense(),
    params=[P("KM", "matrix", meta={})], ref=lambda v: F(v["KM"]))
add("kernapprox.lowrank.require_psd", values=lambda: {"KM": ka.KernelMatrix(ka.Gaussian(1.0), X0)},
    call=lambda v: ka.lowrank.require_psd(v["KM"], "f", **XK(v)), params=[])
add("kernapprox._operators.as_matrix", values=lambda: {"A": c(K0), "symmetric": None, "psd": None},
    call=lambda v: ka.as_matrix(v["A"], symmetric=v["symmetric"], psd=v["psd"], **XK(v)).dense(force=True),
    params=[P("A", "array"), P("symmetric", "bool", optional=True), P("psd", "bool", optional=True)],
    ref=lambda v: F(v["A"]))

# sampling ------------------------------------------------------------------------------------------
_SAMPLERS = ["uniform", "diagonal", "column_norm", "leverage", "recursive_rls", "kmeanspp", "greedy_pivots",
             "rpcholesky_pivots"]


def _sampler_entry(name):
    f = getattr(ka.sampling, name)
    rnd = "rng" in inspect.signature(f).parameters
    params = [P("KM", "matrix", meta={"square": True, "symmetric": True, "psd": True}),
              P("k", "int", meta={"high": 12})]
    if rnd:
        params.append(P("rng", "rng"))

    def call(v):
        extra = {"rng": v["rng"]} if rnd else {}
        idx = f(v["KM"], v["k"], **extra, **XK(v))
        return idx

    def out(res, v):
        # the contract of a sampler: k distinct (or with-replacement) indices in range; compared
        # through the Nyström approximation they define (the slow reference below)
        K = F(v["KM"])
        return ref_nystrom_dense(K, np.unique(np.asarray(res)))

    add(f"kernapprox.sampling.{name}", values=lambda: {"KM": c(K0), "k": 4, "rng": 3},
        call=call, params=params, out=out, random=rnd,
        ref=None)


for _s in _SAMPLERS:
    _sampler_entry(_s)
add("kernapprox.sampling.sample_landmarks",
    values=lambda: {"KM": c(K0), "k": 4, "method": "rpcholesky", "rng": 3},
    call=lambda v: ka.sample_landmarks(v["KM"], v["k"], method=v["method"], rng=v["rng"], **XK(v)),
    params=[P("KM", "matrix", meta={"square": True, "symmetric": True, "psd": True}),
            P("k", "int", meta={"high": 12}), P("method", "choice"), P("rng", "rng")],
    out=lambda res, v: ref_nystrom_dense(F(v["KM"]), np.unique(res)), random=True)
# spectral (ridge_leverage_scores and statistical_dimension are also sampling.* and bounds.*: one object)
_SPEC = importlib.import_module("kernapprox.spectral")
_SPSD = P("K", "matrix", meta={"square": True, "symmetric": True, "psd": True})
add("kernapprox.spectral.ridge_leverage_scores", values=lambda: {"K": c(K0), "lam": 0.1},
    call=lambda v: _SPEC.ridge_leverage_scores(v["K"], v["lam"], **XK(v)),
    params=[_SPSD, P("lam", "real")], ref=lambda v: _rls(v["K"], v["lam"]), rtol=1e-6)
add("kernapprox.spectral.statistical_dimension", values=lambda: {"K": c(K0), "lam": 0.1},
    call=lambda v: _SPEC.statistical_dimension(v["K"], v["lam"], **XK(v)),
    params=[_SPSD, P("lam", "real")], ref=lambda v: _rls(v["K"], v["lam"]).sum(), rtol=1e-6)
add("kernapprox.spectral.leverage_beta", values=lambda: {"K": c(K0), "lam": 0.1},
    call=lambda v: _SPEC.leverage_beta(v["K"], v["lam"], **XK(v)), params=[_SPSD, P("lam", "real")], rtol=1e-6)
add("kernapprox.spectral.stable_rank", values=lambda: {"H": c(A0)},
    call=lambda v: _SPEC.stable_rank(v["H"], **XK(v)), params=[P("H", "array")],
    ref=lambda v: np.linalg.norm(F(v["H"])) ** 2 / np.linalg.norm(F(v["H"]), 2) ** 2, rtol=1e-6)
add("kernapprox.spectral.PSDSpectrum", values=None, call=None,
    note="spectrum record; PSDSpectrum.of validates (exercised through the functions above)")
add("kernapprox.sampling.column_norms_squared", values=lambda: {"KM": c(K0)},
    call=lambda v: ka.sampling.column_norms_squared(v["KM"], **XK(v)),
    params=[P("KM", "matrix", meta={})], ref=lambda v: (F(v["KM"]) ** 2).sum(axis=0))
add("kernapprox.sampling.kmeans_centers", values=lambda: {"X": c(X0), "k": 3, "n_iter": 20, "rng": 0},
    call=lambda v: ka.kmeans_centers(v["X"], v["k"], n_iter=v["n_iter"], rng=v["rng"], **XK(v)),
    params=[P("X", "points"), P("k", "int", meta={"high": 12}), P("n_iter", "int", meta={"low": 0}),
            P("rng", "rng")], random=True)
add("kernapprox.sampling.segment_means", values=lambda: {"X": c(X0), "k": 4},
    call=lambda v: ka.sampling.segment_means(v["X"], v["k"], **XK(v)),
    params=[P("X", "batched"), P("k", "int", meta={"high": 12})],
    ref=lambda v: F(v["X"]).reshape(4, 3, 3).mean(axis=1) if v["k"] == 4 and np.ndim(v["X"]) == 2 else None)

# cholesky / nystrom --------------------------------------------------------------------------------
_PSDKM = P("KM", "matrix", meta={"square": True, "symmetric": True, "psd": True})
add("kernapprox.cholesky.rpcholesky",
    values=lambda: {"KM": c(K0), "k": 5, "block_size": 1, "accelerated": False, "tol": None, "rng": 1},
    call=lambda v: ka.rpcholesky(v["KM"], v["k"], block_size=v["block_size"], accelerated=v["accelerated"],
                                 tol=v["tol"], rng=v["rng"], **XK(v)),
    params=[_PSDKM, P("k", "int", meta={"high": 12}), P("block_size", "int"), P("accelerated", "bool"),
            P("tol", "real", optional=True), P("rng", "rng")],
    out=lambda res, v: np.concatenate([as_dense(res).ravel(), _nys_from_info(res, v).ravel()]), random=True)
add("kernapprox.cholesky.greedy_cholesky", values=lambda: {"KM": c(K0), "k": 5, "tol": None},
    call=lambda v: ka.greedy_cholesky(v["KM"], v["k"], tol=v["tol"], **XK(v)),
    params=[_PSDKM, P("k", "int", meta={"high": 12}), P("tol", "real", optional=True)],
    out=lambda res, v: np.concatenate([as_dense(res).ravel(), _nys_from_info(res, v).ravel()]))
add("kernapprox.nystrom_psd.nystrom",
    values=lambda: {"KM": c(K0), "indices": np.array([0, 3, 5, 7]), "core": "eig", "rcond": None, "lam": None},
    call=lambda v: ka.nystrom(v["KM"], v["indices"], core=v["core"], rcond=v["rcond"], lam=v["lam"], **XK(v)),
    params=[_PSDKM, P("indices", "indices", meta={"n": 12}), P("core", "choice"), P("rcond", "real", optional=True),
            P("lam", "real", optional=True)],
    ref=lambda v: ref_nystrom_dense(v["KM"], np.asarray(v["indices"], dtype=int))
    if v["rcond"] is None and v["lam"] is None else None, rtol=1e-6)
add("kernapprox.nystrom_general.indefinite_nystrom",
    values=lambda: {"A": c(A0 + A0.T), "d": 5, "rng": 2, "rcond": None, "core": "signed_eig"},
    call=lambda v: ka.indefinite_nystrom(v["A"], v["d"], rng=v["rng"], rcond=v["rcond"], core=v["core"], **XK(v)),
    params=[P("A", "matrix", meta={"square": True, "symmetric": True}), P("d", "int", meta={"high": 12}),
            P("rng", "rng"), P("rcond", "real", optional=True), P("core", "choice")],
    out=lambda res, v: np.concatenate([as_dense(res).ravel(), ref_nystrom_dense(v["A"], res.info["indices"]).ravel()]),
    random=True)
add("kernapprox.nystrom_general.generalized_nystrom",
    values=lambda: {"A": c(LR0), "d": 4, "oversample": None, "sketch": "gaussian", "rcond": None, "rng": 0},
    call=lambda v: ka.generalized_nystrom(v["A"], v["d"], oversample=v["oversample"], sketch=v["sketch"],
                                          rcond=v["rcond"], rng=v["rng"], **XK(v)),
    params=[P("A", "array"), P("d", "int", meta={"high": 10}), P("oversample", "int", optional=True, meta={"low": 0}),
            P("sketch", "choice"), P("rcond", "real", optional=True), P("rng", "rng")],
    ref=lambda v: F(v["A"]) if v["rcond"] is None and v["d"] >= 3 and np.linalg.matrix_rank(F(v["A"])) <= 3 else None,
    rtol=1e-6, random=True)
add("kernapprox.nystrom_general.skeleton_cur",
    values=lambda: {"A": c(LR0), "rows": 5, "cols": 5, "rcond": None, "rng": 0},
    call=lambda v: ka.skeleton_cur(v["A"], v["rows"], v["cols"], rcond=v["rcond"], rng=v["rng"], **XK(v)),
    params=[P("A", "array"), P("rows", "int", meta={"high": 14, "indices_ok": True}),
            P("cols", "int", meta={"high": 10, "indices_ok": True}),
            P("rcond", "real", optional=True), P("rng", "rng")],
    ref=lambda v: F(v["A"]) if v["rcond"] is None and np.ndim(v["rows"]) == 0 and np.ndim(v["cols"]) == 0 and min(v["rows"], v["cols"]) >= 3
    and np.linalg.matrix_rank(F(v["A"])) <= 3 else None, rtol=1e-6, random=True)


def _aug_ref(res, v):
    X = np.vstack([F(v["Q"]), F(v["K"])])
    idx = np.asarray(res.info["indices"]).reshape(-1)
    XL = X[idx]
    W = ref_gauss(XL, XL)
    return ref_gauss(v["Q"], XL) @ np.linalg.pinv(W, rcond=1e-10) @ ref_gauss(XL, v["K"])


add("kernapprox.nystrom_general.augmented_nystrom",
    values=lambda: {"kernel": ka.Gaussian(1.0), "Q": c(Qa), "K": c(Ka_), "d": 6, "core": "pinv", "lam": None,
                    "n_iter": 6, "rcond": None, "accumulation": 1, "normalise": True, "init": "per_matrix",
                    "landmarks": "uniform2n", "rng": 0},
    call=lambda v: ka.augmented_nystrom(v["kernel"], v["Q"], v["K"], v["d"], core=v["core"], lam=v["lam"],
                                        n_iter=v["n_iter"], rcond=v["rcond"], accumulation=v["accumulation"],
                                        normalise=v["normalise"], init=v["init"], landmarks=v["landmarks"],
                                        rng=v["rng"], **XK(v)),
    params=[P("kernel", "kernel"), P("Q", "points"), P("K", "points"), P("d", "int"),
            P("core", "choice"), P("lam", "real", optional=True), P("n_iter", "int"),
            P("rcond", "real", optional=True), P("accumulation", "int"), P("normalise", "bool"),
            P("init", "choice"), P("landmarks", "choice"), P("rng", "rng")],
    out=lambda res, v: np.concatenate([as_dense(res).ravel(), _aug_ref(res, v).ravel()]), random=True)
add("kernapprox.nystrom_general.augmented_landmarks",
    values=lambda: {"n": 10, "m": 8, "d": 6, "landmarks": "uniform2n", "accumulation": 1, "rng": 0},
    call=lambda v: ka.nystrom_general.augmented_landmarks(v["n"], v["m"], v["d"], landmarks=v["landmarks"],
                                                          accumulation=v["accumulation"], rng=v["rng"], **XK(v)),
    params=[P("n", "int", meta={"huge_ok": True}), P("m", "int", meta={"huge_ok": True}),
            P("d", "int"), P("landmarks", "choice"), P("accumulation", "int"), P("rng", "rng")], random=True)


def as_dense(res):
    return np.asarray(res.to_dense(force=True), dtype=np.float64)


def _diff_pair(v, key_b="B"):
    B = v[key_b]
    Bd = None if B is None else (as_dense(B) if hasattr(B, "to_dense") else F(B))
    A = F(v["A"])
    return A if Bd is None else A - Bd


# metrics ---------------------------------------------------------------------------------------------
_B0 = ka.PSDLowRank(F0[:, :2] * 0.3)
add("kernapprox.metrics.spectral_error",
    values=lambda: {"A": c(K0), "B": _B0, "method": "auto", "rng": 0, "tol": 1e-4, "block_size": None,
                    "max_iter": 100, "symmetric": None, "fail_prob": 1e-3},
    call=lambda v: ka.spectral_error(v["A"], v["B"], method=v["method"], rng=v["rng"], tol=v["tol"],
                                     block_size=v["block_size"], max_iter=v["max_iter"], symmetric=v["symmetric"],
                                     fail_prob=v["fail_prob"], **XK(v)),
    params=[P("A", "matrix", meta={}), P("method", "choice"), P("rng", "rng"), P("tol", "real"),
            P("block_size", "int", optional=True, meta={"high": 12}), P("max_iter", "int", meta={"huge_ok": True}),
            P("symmetric", "bool", optional=True), P("fail_prob", "prob")],
    ref=lambda v: np.linalg.norm(_diff_pair(v), 2), rtol=1e-6)
add("kernapprox.metrics.spectral_norm", values=lambda: {"A": c(A0)},
    call=lambda v: ka.metrics.spectral_norm(v["A"], **XK(v)), params=[P("A", "matrix", meta={})],
    ref=lambda v: np.linalg.norm(F(v["A"]), 2), rtol=1e-9)
for _fn, _ref in (("frobenius_error", lambda D: np.linalg.norm(D)), ("trace_error", lambda D: np.trace(D))):
    def _mk(fn=_fn, refn=_ref):
        f = getattr(ka.metrics, fn)
        add(f"kernapprox.metrics.{fn}",
            values=lambda: {"A": c(K0), "B": _B0, "method": "exact", "n_samples": 64, "distribution": "rademacher",
                            "rng": 0, "fail_prob": 0.05},
            call=lambda v: f(v["A"], v["B"], method=v["method"], n_samples=v["n_samples"],
                             distribution=v["distribution"], rng=v["rng"], fail_prob=v["fail_prob"], **XK(v)),
            params=[P("A", "matrix", meta={"square": fn == "trace_error"}), P("method", "choice"),
                    P("n_samples", "int", meta={"low": 2}), P("distribution", "choice"), P("rng", "rng"),
                    P("fail_prob", "prob")],
            ref=lambda v: refn(_diff_pair(v)) if v["method"] == "exact" else None, rtol=1e-9)
    _mk()
for _fn, _ref in (("relative_spectral_error", lambda A, D: np.linalg.norm(D, 2) / np.linalg.norm(A, 2)),
                  ("relative_frobenius_error", lambda A, D: np.linalg.norm(D) / np.linalg.norm(A)),
                  ("relative_trace_error", lambda A, D: np.trace(D) / np.trace(A))):
    def _mk(fn=_fn, refn=_ref):
        f = getattr(ka.metrics, fn)
        add(f"kernapprox.metrics.{fn}", values=lambda: {"A": c(K0), "B": _B0, "rng": 0},
            call=lambda v: f(v["A"], v["B"], rng=v["rng"], **XK(v)),
            params=[P("A", "matrix", meta={"square": True}), P("rng", "rng")],
            ref=lambda v: refn(F(v["A"]), _diff_pair(v)), rtol=1e-6)
    _mk()
add("kernapprox.metrics.attention_output_loss",
    values=lambda: {"exact": c(Va), "approx": c(Va) * 1.1, "norm": "spectral", "relative": False},
    call=lambda v: ka.metrics.attention_output_loss(v["exact"], v["approx"], norm=v["norm"], relative=v["relative"],
                                                    **XK(v)),
    params=[P("exact", "array"), P("approx", "array"), P("norm", "choice"), P("relative", "bool")],
    ref=lambda v: np.linalg.norm(F(v["exact"]) - F(v["approx"]), 2) if v["norm"] == "spectral" and not v["relative"]
    and np.ndim(v["exact"]) == 2 else None, rtol=1e-9)
add("kernapprox.metrics.ErrorEstimate", values=lambda: {"value": 1.5, "lower": 1.0, "upper": 2.0},
    call=lambda v: ka.metrics.ErrorEstimate(v["value"], v["lower"], v["upper"], **XK(v)),
    params=[P("value", "real", meta={"signed": True}),
            P("lower", "real", optional=True, meta={"signed": True, "inf_ok": True}),
            P("upper", "real", optional=True, meta={"signed": True, "inf_ok": True})], ref=lambda v: float(v["value"]))

# features / sketch ------------------------------------------------------------------------------------
add("kernapprox.features.random_features",
    values=lambda: {"kernel": ka.Gaussian(1.0), "d_in": 3, "m": 64, "kind": "rff", "rng": 0, "X": c(X0)},
    call=lambda v: ka.random_features(v["kernel"], v["d_in"], v["m"], kind=v["kind"], rng=v["rng"],
                                      **XK(v)).transform(v["X"]),
    params=[P("kernel", "kernel"), P("d_in", "int"), P("m", "int"), P("kind", "choice"), P("rng", "rng"),
            P("X", "points")], random=True)
add("kernapprox.features.draw_frequencies",
    values=lambda: {"kernel": ka.Gaussian(1.0), "d_in": 3, "m": 16, "rng": 0},
    call=lambda v: ka.features.draw_frequencies(v["kernel"], v["d_in"], v["m"], rng=v["rng"], **XK(v)),
    params=[P("kernel", "kernel"), P("d_in", "int"), P("m", "int"), P("rng", "rng")], random=True)
add("kernapprox.features.draw_orthogonal", values=lambda: {"m": 8, "d": 4, "scaling": 0, "rng": 0},
    call=lambda v: ka.features.draw_orthogonal(v["m"], v["d"], scaling=v["scaling"], rng=v["rng"], **XK(v)),
    params=[P("m", "int"), P("d", "int"), P("scaling", "int", meta={"low": 0}), P("rng", "rng")], random=True)
for _cls in ("FeatureMap", "FourierFeatures", "SORFFeatures", "SoftmaxFeatures", "TensorSketchFeatures"):
    add(f"kernapprox.features.{_cls}", values=None, call=None,
        note="feature-map container built by random_features (whose arguments are fuzzed)")
add("kernapprox.sketch.make_sketch", values=lambda: {"kind": "gaussian", "n": 12, "s": 5, "rng": 0, "A": c(A0)},
    call=lambda v: ka.make_sketch(v["kind"], v["n"], v["s"], rng=v["rng"], **XK(v)).to_dense(),
    params=[P("kind", "choice"), P("n", "int"), P("s", "int"), P("rng", "rng")], random=True)
for _cls in ("Sketch", "DenseSketch", "SparseSketch", "SRHTSketch"):
    add(f"kernapprox.sketch.{_cls}", values=None, call=None, note="sketch container built by make_sketch")

# krr / kpca / bootstrap -------------------------------------------------------------------------------
_KMX = lambda: ka.KernelMatrix(ka.Gaussian(1.0), c(X0))  # noqa: E731


def _krr_ref(v):
    K = ref_gauss(X0, X0)
    n = K.shape[0]
    return K @ np.linalg.solve(K + n * v["lam"] * np.eye(n), F(v["y"]))


add("kernapprox.krr.nystrom_krr",
    values=lambda: {"KM": _KMX(), "y": c(y0), "lam": 0.1, "indices": np.arange(12), "rng": 0},
    call=lambda v: ka.nystrom_krr(v["KM"], v["y"], v["lam"], v["indices"], rng=v["rng"], **XK(v)).predict(X0),
    params=[P("y", "vector"), P("lam", "real"), P("indices", "indices", meta={"n": 12}), P("rng", "rng")],
    ref=lambda v: _krr_ref(v) if np.ndim(v["indices"]) == 1
    and np.unique(np.asarray(v["indices"]).astype(int)).size == 12 else None, rtol=1e-5)
add("kernapprox.krr.sketched_krr",
    values=lambda: {"KM": _KMX(), "y": c(y0), "lam": 0.1, "sketch": "gaussian", "s": 6, "rng": 0},
    call=lambda v: ka.sketched_krr(v["KM"], v["y"], v["lam"], v["sketch"], s=v["s"], rng=v["rng"], **XK(v)).predict(X0),
    params=[P("y", "vector"), P("lam", "real"), P("sketch", "choice"), P("s", "int", meta={"high": 12}),
            P("rng", "rng")], random=True)
add("kernapprox.krr.KRRModel", values=None, call=None, note="result of nystrom_krr / sketched_krr")
add("kernapprox.kpca.exact_kpca", values=lambda: {"kernel": ka.Gaussian(1.0), "X": c(X0), "k": 3},
    call=lambda v: ka.kpca.exact_kpca(v["kernel"], v["X"], v["k"], **XK(v)).eigenvalues,
    params=[P("kernel", "kernel"), P("X", "points"), P("k", "int", meta={"high": 12})])
add("kernapprox.kpca.nystrom_kpca",
    values=lambda: {"kernel": ka.Gaussian(1.0), "X": c(X0), "k": 2, "indices": 5, "core": "eig",
                    "rcond": None, "lam": None, "rng": 0},
    call=lambda v: ka.kpca.nystrom_kpca(v["kernel"], v["X"], v["k"], v["indices"], core=v["core"],
                                        rcond=v["rcond"], lam=v["lam"], rng=v["rng"], **XK(v)).eigenvalues,
    params=[P("kernel", "kernel"), P("X", "points"), P("k", "int", meta={"high": 5}),
            P("indices", "int", meta={"high": 12}), P("core", "choice"), P("rcond", "real", optional=True),
            P("lam", "real", optional=True), P("rng", "rng")], random=True)
add("kernapprox.kpca.rff_kpca",
    values=lambda: {"kernel": ka.Gaussian(1.0), "X": c(X0), "k": 2, "n_features": 32, "kind": "rff", "rng": 0},
    call=lambda v: ka.kpca.rff_kpca(v["kernel"], v["X"], v["k"], v["n_features"], kind=v["kind"],
                                    rng=v["rng"], **XK(v)).eigenvalues,
    params=[P("kernel", "kernel"), P("X", "points"), P("k", "int"), P("n_features", "int"),
            P("kind", "choice"), P("rng", "rng")], random=True)
add("kernapprox.kpca.kpca",
    values=lambda: {"kernel": ka.Gaussian(1.0), "X": c(X0), "k": 2, "method": "exact", "rng": 0},
    call=lambda v: ka.kpca.kpca(v["kernel"], v["X"], v["k"], method=v["method"], rng=v["rng"],
                                **XK(v)).eigenvalues,
    params=[P("kernel", "kernel"), P("X", "points"), P("k", "int", meta={"high": 12}),
            P("method", "choice"), P("rng", "rng")], random=True)
add("kernapprox.kpca.reconstruction_error",
    values=lambda: {"result": ka.kpca.exact_kpca(ka.Gaussian(1.0), X0, 3), "X": c(X0)},
    call=lambda v: ka.kpca.reconstruction_error(v["result"], v["X"], **XK(v)), params=[P("X", "points")])
add("kernapprox.kpca.KPCAResult", values=None, call=None, note="result of the kpca functions")
_Z0 = np.abs(R.normal(size=(12, 20))) / np.sqrt(20)
add("kernapprox.bootstrap.bootstrap_error_quantile",
    values=lambda: {"Z": c(_Z0), "metric": "inf", "alpha": 0.1, "B": 8, "rng": 0, "return_samples": False},
    call=lambda v: ka.bootstrap_error_quantile(v["Z"], v["metric"], v["alpha"], v["B"], rng=v["rng"],
                                               return_samples=v["return_samples"], **XK(v)),
    params=[P("Z", "array"), P("metric", "choice"), P("alpha", "prob"), P("B", "int"), P("rng", "rng"),
            P("return_samples", "bool")], random=True)
add("kernapprox.bootstrap.extrapolate", values=lambda: {"q": 0.5, "s0": 10, "s": 40},
    call=lambda v: ka.bootstrap.extrapolate(v["q"], v["s0"], v["s"], **XK(v)),
    params=[P("q", "real"), P("s0", "real"), P("s", "real", meta={"array_ok": True})], ref=lambda v: v["q"] * np.sqrt(v["s0"] / v["s"])
    if all(isinstance(v[k], (int, float)) for k in ("q", "s0", "s")) else None)
add("kernapprox.bootstrap.approximation_error",
    values=lambda: {"Zq": c(_Z0), "Zk": c(_Z0), "K": c(K0), "metric": "max"},
    call=lambda v: ka.bootstrap.approximation_error(v["Zq"], v["Zk"], v["K"], v["metric"], **XK(v)),
    params=[P("Zq", "array"), P("Zk", "array"), P("K", "array"), P("metric", "choice")],
    ref=lambda v: np.abs(F(v["Zq"]) @ F(v["Zk"]).T - F(v["K"])).max() if v["metric"] == "max" else None)

# bounds ---------------------------------------------------------------------------------------------
_PSD = P("K", "matrix", meta={"square": True, "symmetric": True, "psd": True})


def _rls(K, lam):
    K = F(K)
    return np.diag(K @ np.linalg.inv(K + lam * np.eye(len(K))))


_BOUNDS = {
    "skyformer_completion": (lambda: {"Q": c(Qa), "K": c(Ka_)}, ["Q", "K"], [P("Q", "points"), P("K", "points")], None),
    "skyformer_required_d": (lambda: {"Q": c(Qa), "K": c(Ka_), "eps": 0.5, "delta": 0.1}, ["Q", "K", "eps", "delta"],
                             [P("Q", "points"), P("K", "points"), P("eps", "real"), P("delta", "prob")], None),
    "skyformer_guaranteed_error": (lambda: {"Q": c(Qa), "K": c(Ka_), "d": 8, "delta": 0.1}, ["Q", "K", "d", "delta"],
                                   [P("Q", "points"), P("K", "points"), P("d", "int", meta={"huge_ok": True}), P("delta", "prob")], None),
    "skyformer_lemma_c2_required_d": (lambda: {"stable_rank_s": 3.0, "beta": 1.0, "N": 32, "delta": 0.1},
                                      ["stable_rank_s", "beta", "N", "delta"],
                                      [P("stable_rank_s", "real"), P("beta", "real"), P("N", "int", meta={"huge_ok": True}),
                                       P("delta", "prob")], None),
    "psd_sandwich": (lambda: {"K": c(K0), "K_tilde": c(K0) * 0.9, "lam": 0.1}, ["K", "K_tilde", "lam"],
                     [_PSD, P("K_tilde", "matrix", meta={"square": True, "symmetric": True}), P("lam", "real")], None),
    "rls_nystrom_required_d": (lambda: {"K": c(K0), "lam": 0.1, "delta": 0.1}, ["K", "lam", "delta"],
                               [_PSD, P("lam", "real"), P("delta", "prob")], None),
    "rls_nystrom_guaranteed_error": (lambda: {"K": c(K0), "k": 8, "delta": 0.1}, ["K", "k", "delta"],
                                     [_PSD, P("k", "int", meta={"huge_ok": True}), P("delta", "prob")], None),
    "drineas_mahoney_required_c": (lambda: {"k": 3, "eps": 0.5, "delta": 0.1}, ["k", "eps", "delta"],
                                   [P("k", "int", meta={"huge_ok": True, "low": 0}), P("eps", "real"),
                                    P("delta", "prob", optional=True)], None),
    "drineas_mahoney_bound": (lambda: {"K": c(K0), "k": 3, "n_columns": 6, "delta": 0.1}, ["K", "k", "n_columns", "delta"],
                              [_PSD, P("k", "int", meta={"high": 12, "low": 0}), P("n_columns", "int", meta={"huge_ok": True}),
                               P("delta", "prob", optional=True)], None),
    "rff_spectral_bound": (lambda: {"K": c(K0), "n_features": 100, "delta": 0.1}, ["K", "n_features", "delta"],
                           [_PSD, P("n_features", "int", meta={"huge_ok": True}), P("delta", "prob")], None),
    "rff_required_features": (lambda: {"K": c(K0), "eps": 0.5, "delta": 0.1}, ["K", "eps", "delta"],
                              [_PSD, P("eps", "real"), P("delta", "prob")], None),
    "skeinformer_column_probabilities": (lambda: {"B": c(A0), "V": V12}, ["B", "V"],
                                         [P("B", "array"), P("V", "array")], None),
    "amm_beta": (lambda: {"p": np.full(12, 1 / 12), "B": c(A0), "V": V12}, ["p", "B", "V"],
                 [P("p", "vector", meta={"exact_sum": True}), P("B", "array"), P("V", "array")], None),
    "skeinformer_prop1_bound": (lambda: {"B": c(A0), "V": V12, "d": 4, "delta": 0.1},
                                ["B", "V", "d", "delta"], [P("B", "array"), P("V", "array"), P("d", "int", meta={"huge_ok": True}),
                                                           P("delta", "prob")], None),
    "skeinformer_prop1_expected": (lambda: {"B": c(A0), "V": V12, "d": 4}, ["B", "V", "d"],
                                   [P("B", "array"), P("V", "array"), P("d", "int", meta={"huge_ok": True})], None),
    "skeinformer_lemma1_constant": (lambda: {"B": np.abs(c(A0))}, ["B"], [P("B", "array")], None),
    "skeinformer_lemma1_required_d": (lambda: {"col_norm_floor": 2.0, "n": 64, "delta": 0.1}, ["col_norm_floor", "n", "delta"],
                                      [P("col_norm_floor", "real"), P("n", "int", meta={"huge_ok": True}), P("delta", "prob")], None),
    "rpcholesky_required_k": (lambda: {"best_rank": 3, "eps": 0.5, "eta": 0.1}, ["best_rank", "eps", "eta"],
                              [P("best_rank", "int", meta={"low": 0, "huge_ok": True}), P("eps", "real"),
                               P("eta", "real")], None),
    "rpcholesky_expected_trace_bound": (lambda: {"K": c(K0), "best_rank": 3, "eps": 0.5}, ["K", "best_rank", "eps"],
                                        [_PSD, P("best_rank", "int", meta={"high": 12, "low": 0}), P("eps", "real")], None),
    "rpcholesky_trace_bound": (lambda: {"K": c(K0), "k": 4}, ["K", "k"],
                               [_PSD, P("k", "int", meta={"high": 12, "low": 0})], None),
    "krr_critical_radius": (lambda: {"K": c(K0), "noise_std": 0.1}, ["K", "noise_std"],
                            [_PSD, P("noise_std", "real")], None),
    "sketched_krr_rate": (lambda: {"K": c(K0), "noise_std": 0.1, "s": 6}, ["K", "noise_std", "s"],
                          [_PSD, P("noise_std", "real"), P("s", "int", meta={"high": 12})], None),
}
for _fn, (_vals, _order, _params, _ref) in _BOUNDS.items():
    def _mk(fn=_fn, vals=_vals, order=_order, params=_params, refn=_ref):
        f = getattr(ka.bounds, fn)
        add(f"kernapprox.bounds.{fn}", values=vals, call=lambda v: f(*[v[k] for k in order], **XK(v)),
            params=params, ref=refn, rtol=1e-6)
    _mk()


# attention (ATTNSAFE owns it) -------------------------------------------------------------------------
def _att_vals(method):
    return lambda: {"Q": c(Qa), "K": c(Ka_), "V": c(Va), "method": method, "d": 6, "rng": 0}


def _phi_ratio(fq, fk, V):
    """Linear attention with explicit features: diag(φ_q φ_kᵀ 1)⁻¹ φ_q φ_kᵀ V, dense."""
    A = fq @ fk.T
    return (A @ V) / A.sum(axis=1, keepdims=True)


def _ref_vmean(Q, K, V, r):
    return np.broadcast_to(V.mean(axis=0), (Q.shape[0], V.shape[1]))


def _ref_linear(Q, K, V, r):
    elu1 = lambda X: np.where(X > 0, X + 1.0, np.exp(np.minimum(X, 0.0)))   # noqa: E731
    return _phi_ratio(elu1(Q), elu1(K), V)


def _ref_linformer(Q, K, V, r):
    E = F(r["projection"])
    return ref_softmax_attention(Q, E @ K, E @ V)


def _ref_performer(Q, K, V, r):
    """FAVOR+ positive features φ(x) = exp(ω x̂ − ‖x̂‖²/2)/√d in the log domain: the row weights
    w_ij ∝ Σ_f exp(ω_f q̂_i + ω_f k̂_j − ‖k̂_j‖²/2) (‖q̂_i‖² cancels), with each row's largest ω q̂ and
    ‖k̂_0‖² subtracted first ((‖k̂_j‖² − ‖k̂_0‖²) = (k̂_j − k̂_0)·(k̂_j + k̂_0), no cancellation)."""
    from scipy.special import logsumexp
    om = F(r["omega"])
    c = Q.shape[1] ** -0.25
    Qh, Kh = c * Q, c * K
    A = Qh @ om.T
    A -= A.max(axis=1, keepdims=True)
    nk = 0.5 * np.sum((Kh - Kh[0]) * (Kh + Kh[0]), axis=1)
    Lw = logsumexp(A[:, None, :] + (Kh @ om.T)[None, :, :], axis=2) - nk[None, :]
    return np.exp(Lw - logsumexp(Lw, axis=1, keepdims=True)) @ V


def _ref_rff(Q, K, V, r):
    om, ph = F(r["omega"]), F(r["phase"])
    c = Q.shape[1] ** -0.25
    Pq, Pk = (c * Q) @ om.T + ph, (c * K) @ om.T + ph
    if max(np.abs(Pq).max(), np.abs(Pk).max()) > 1e5:
        return None     # cos(a) carries an absolute error ~ a·eps in any evaluation: not checkable to 1e-9
    return np.sqrt(2.0 / om.shape[0]) ** 2 * np.cos(Pq) @ (np.cos(Pk).T @ V)


def _ref_s3(Q, K, V, r):
    P = np.asarray(r["column_indices"])
    return ref_softmax_attention(Q, K[P], V[P])


def _ref_informer(Q, K, V, r):
    """ProbSparse (non-causal, the code's M̄ = max − sum / m over the sampled keys): the u queries with
    the largest M̄ get exact softmax rows, the others mean(V)."""
    from kernapprox.attention._informer import informer_sizes
    n, m = Q.shape[0], K.shape[0]
    u, _ = informer_sizes(n, m, int(r["d"]))
    S = np.einsum("ip,iup->iu", Q, K[np.asarray(r["key_indices"])])
    M = S.max(axis=1) - S.sum(axis=1) / m
    out = np.broadcast_to(V.mean(axis=0), (n, V.shape[1])).copy()
    top = np.argsort(-M, kind="stable")[:u]
    out[top] = ref_softmax_attention(Q[top], K, V)
    return out


def _ref_skeinformer(Q, K, V, r):
    """Skeinformer Algorithm 1 (Chen et al., NAACL 2022; the authors' ``SkeinAttention``), each row's
    largest score subtracted: non-pilot rows ``(A_S V_S + a_i (Σ V − Σ V_S)) / (A_S 1 + a_i (m − d))``
    with the model column ``a_i = exp(mean_{j∈S} s_ij)``; the pilot rows J are exact softmax rows."""
    J, S = np.asarray(r["pilot_indices"]), np.asarray(r["column_indices"])
    sc = (Q @ K[S].T) / np.sqrt(Q.shape[1])
    mx = sc.max(axis=1, keepdims=True)
    A = np.exp(sc - mx)
    a = np.exp(sc.mean(axis=1, keepdims=True) - mx)
    out = (A @ V[S] + a * (V.sum(axis=0) - V[S].sum(axis=0))) / (A.sum(axis=1, keepdims=True) + a * (K.shape[0] - S.size))
    out[J] = ref_softmax_attention(Q[J], K, V)
    return out


#: slow dense formulas of the methods (randomness pre-drawn by draw_randomness with the same rng), each
#: followed by the method's default range safeguard (kernapprox.attention._exact.safeguard_rows, tested
#: on its own in tests/test_attention_contracts.py): Linformer "clip", the others "exact"
_ATT_REFS = {"vmean": _ref_vmean, "linear": _ref_linear, "linformer": _ref_linformer, "performer": _ref_performer,
             "rff": _ref_rff, "s3": _ref_s3, "informer": _ref_informer, "skeinformer": _ref_skeinformer}


def _att_ref(method):
    formula = _ATT_REFS.get(method)
    if formula is None:
        return None

    def ref(v):
        from kernapprox.attention import _exact
        rec = ka.attention.get_method(method).method
        if isinstance(v["rng"], (np.random.Generator, np.random.SeedSequence)):
            return None                          # consumed by the call: compared with the int-seed call
        Q, K, V = F(v["Q"]), F(v["K"]), F(v["V"])
        r = ka.attention.draw_randomness(Q, K, V, method=method, d=v["d"], rng=v["rng"])
        batch = np.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2])
        out = np.empty(batch + (Q.shape[-2], V.shape[-1]))
        for idx in np.ndindex(*batch):
            q, k, vv = (np.broadcast_to(X, batch + X.shape[-2:])[idx] for X in (Q, K, V))
            with np.errstate(all="ignore"):
                o = formula(q, k, vv, {"d": v["d"], **{key: val[idx] for key, val in r.items()}})
            if o is None:
                return None
            o = np.array(o, dtype=np.float64)
            out[idx] = _exact.safeguard_rows(o, q, k, vv, rec.target({}), rec.default_safeguard)[0]
        return out
    return ref


_D_IGNORED = ("vmean", "linear")
for _m in ka.attention.methods():
    def _mk(m=_m):
        add(f"kernapprox.attention.approximate[{m}]", values=_att_vals(m), ref=_att_ref(m), rtol=1e-9,
            call=lambda v: ka.attention.approximate(v["Q"], v["K"], v["V"], method=v["method"], d=v["d"], rng=v["rng"],
                                                    **XK(v)),
            params=[P("Q", "batched"), P("K", "batched"), P("V", "batched"),
                    # V-Mean and linear attention ignore d (validated as an int >= 1 all the same): no bound
                    # derives from the inputs and no memory depends on it, so a huge d is legitimate
                    P("d", "int", meta={"huge_ok": True} if m in _D_IGNORED else {}), P("rng", "rng")],
            random=True, group="attention")
    _mk()
add("kernapprox.attention.approximate", values=_att_vals("skyformer"),
    call=lambda v: ka.attention.approximate(v["Q"], v["K"], v["V"], method=v["method"], d=v["d"], rng=v["rng"], **XK(v)),
    params=[P("method", "choice")], random=True, group="attention")
add("kernapprox.attention.exact", values=lambda: {"Q": c(Qa), "K": c(Ka_), "V": c(Va), "kind": "softmax"},
    call=lambda v: ka.attention.exact(v["Q"], v["K"], v["V"], kind=v["kind"], **XK(v)),
    params=[P("Q", "batched"), P("K", "batched"), P("V", "batched"), P("kind", "choice")],
    ref=lambda v: ref_softmax_attention(v["Q"], v["K"], v["V"]) if v["kind"] == "softmax" and np.ndim(v["Q"]) == 2
    else None, rtol=1e-9, group="attention")
add("kernapprox.attention.draw_randomness", values=_att_vals("skyformer"),
    call=lambda v: ka.attention.draw_randomness(v["Q"], v["K"], v["V"], method=v["method"], d=v["d"], rng=v["rng"],
                                                **XK(v)),
    params=[P("Q", "batched"), P("d", "int"), P("method", "choice"), P("rng", "rng")], random=True, group="attention")
add("kernapprox.attention.methods", values=lambda: {}, call=lambda v: len(ka.attention.methods(**XK(v))),
    group="attention")
add("kernapprox.attention.option_schema", values=lambda: {"method": "skyformer"},
    call=lambda v: len(ka.attention.option_schema(v["method"], **XK(v))), params=[P("method", "choice")],
    ref=lambda v: len([k for k, p in __import__("inspect").signature(ka.attention.get_method(v["method"]).__wrapped__)
                       .parameters.items() if p.kind is p.KEYWORD_ONLY and k not in ("d", "rng", "return_factors")]),
    rtol=0.0, group="attention")
# registering a method's own record again (replace=True) leaves the registry as it was
add("kernapprox.attention.register",
    values=lambda: {"method": ka.attention.get_method("vmean").method, "replace": True},
    call=lambda v: (ka.attention.register(v["method"], replace=v["replace"], **XK(v)), 0)[1],
    params=[P("replace", "bool")], group="attention")
add("kernapprox.attention.get_method", values=lambda: {"name": "skyformer"},
    call=lambda v: (ka.attention.get_method(v["name"], **XK(v)), 0)[1], params=[P("name", "choice")],
    group="attention")

# ffkernel ------------------------------------------------------------------------------------------------
add("kernapprox.ffkernel.FFKernelFeatureMap",
    values=lambda: {"p": 4, "p_out": 8, "kind": "linear_softplus", "rng": 0, "X": c(Qa)},
    call=lambda v: ka.ffkernel.FFKernelFeatureMap(v["p"], v["p_out"], kind=v["kind"], rng=v["rng"],
                                                  **XK(v))(v["X"]) if callable(
        ka.ffkernel.FFKernelFeatureMap(4, 8, rng=0)) else ka.ffkernel.FFKernelFeatureMap(
        v["p"], v["p_out"], kind=v["kind"], rng=v["rng"], **XK(v)).transform(v["X"]),
    params=[P("p", "int"), P("p_out", "int"), P("kind", "choice"), P("rng", "rng"), P("X", "points")], random=True)
add("kernapprox.ffkernel.ff_attention",
    values=lambda: {"Q": c(Qa), "K": c(Ka_), "V": c(Va), "fm": ka.ffkernel.FFKernelFeatureMap(4, 8, rng=0),
                    "return_factors": False},
    call=lambda v: ka.ffkernel.ff_attention(v["Q"], v["K"], v["V"], v["fm"], return_factors=v["return_factors"],
                                            **XK(v)),
    params=[P("Q", "points"), P("K", "points"), P("V", "points"), P("return_factors", "bool")])
add("kernapprox.ffkernel.fit_ffkernel",
    values=lambda: {"Q": c(Qa), "K": c(Ka_), "V": c(Va), "p_out": 6, "max_iter": 3, "orth_penalty": 0.0, "rng": 0},
    call=lambda v: ka.ffkernel.fit_ffkernel(v["Q"], v["K"], v["V"], p_out=v["p_out"], max_iter=v["max_iter"],
                                            orth_penalty=v["orth_penalty"], rng=v["rng"], **XK(v)).loss,
    params=[P("Q", "points"), P("p_out", "int"), P("max_iter", "int"), P("orth_penalty", "real"), P("rng", "rng")],
    random=True)
add("kernapprox.ffkernel.init_heads", values=lambda: {"H": 2, "p": 4, "p_out": 6, "rng": 0},
    call=lambda v: len(ka.ffkernel.init_heads(v["H"], v["p"], v["p_out"], rng=v["rng"], **XK(v))),
    params=[P("H", "int"), P("p", "int"), P("p_out", "int"), P("rng", "rng")])
add("kernapprox.ffkernel.error_vs_features",
    values=lambda: {"Q": c(Qa), "K": c(Ka_), "V": c(Va), "counts": [4], "max_iter": 2, "trials": 1, "rng": 0},
    call=lambda v: ka.ffkernel.error_vs_features(v["Q"], v["K"], v["V"], v["counts"], max_iter=v["max_iter"],
                                                 trials=v["trials"], rng=v["rng"], **XK(v)),
    params=[P("Q", "points"), P("max_iter", "int"), P("trials", "int"), P("rng", "rng")], random=True)
add("kernapprox.ffkernel.FitResult", values=None, call=None, note="result of fit_ffkernel")

# distributed (dask) ------------------------------------------------------------------------------------
_D = "kernapprox.distributed."
add(_D + "kernel_block", values=lambda: {"kernel": ka.Gaussian(1.0), "X": c(X0), "Y": c(Y0), "chunk_rows": 5},
    call=lambda v: np.asarray(ka.distributed.kernel_block(v["kernel"], v["X"], v["Y"], chunk_rows=v["chunk_rows"],
                                                          **XK(v)).compute()),
    params=[P("X", "points"), P("chunk_rows", "int", optional=True, meta={"huge_ok": True})],
    ref=lambda v: ref_gauss(v["X"], v["Y"]),
    group="distributed")
add(_D + "kernel_matvec", values=lambda: {"kernel": ka.Gaussian(1.0), "X": c(X0), "Y": c(Y0), "V": c(V0)},
    call=lambda v: np.asarray(ka.distributed.kernel_matvec(v["kernel"], v["X"], v["Y"], v["V"], **XK(v))),
    params=[P("V", "array", meta={"1d_ok": True})], ref=lambda v: ref_gauss(v["X"], v["Y"]) @ F(v["V"]),
    group="distributed")
add(_D + "nystrom", values=lambda: {"kernel": ka.Gaussian(1.0), "X": c(X0), "landmarks": c(X0[:4]), "core": "eig",
                                    "rcond": None},
    call=lambda v: ka.distributed.nystrom(v["kernel"], v["X"], v["landmarks"], core=v["core"], rcond=v["rcond"],
                                          **XK(v)),
    out=lambda res, v: np.asarray(res.F.compute() if hasattr(res.F, "compute") else res.F) @
    np.asarray(res.F.compute() if hasattr(res.F, "compute") else res.F).T,
    params=[P("landmarks", "points"), P("rcond", "real", optional=True)],
    ref=lambda v: None if v["rcond"] is not None else ref_gauss(X0, F(v["landmarks"])) @ np.linalg.pinv(ref_gauss(F(v["landmarks"]), F(v["landmarks"])),
                                                                    rcond=1e-10) @ ref_gauss(F(v["landmarks"]), X0),
    rtol=1e-6, group="distributed")
add(_D + "trace_error", values=lambda: {"kernel": ka.Gaussian(1.0), "X": c(X0), "approx": _B0, "relative": False},
    call=lambda v: ka.distributed.trace_error(v["kernel"], v["X"], v["approx"], relative=v["relative"], **XK(v)),
    params=[P("relative", "bool")], ref=lambda v: np.trace(K0 - as_dense(_B0)), group="distributed")
add(_D + "spectral_error", values=lambda: {"kernel": ka.Gaussian(1.0), "X": c(X0), "approx": _B0, "rng": 0},
    call=lambda v: ka.distributed.spectral_error(v["kernel"], v["X"], v["approx"], rng=v["rng"], **XK(v)),
    params=[P("rng", "rng")], ref=lambda v: np.linalg.norm(K0 - as_dense(_B0), 2), rtol=1e-3, group="distributed")
add(_D + "DaskKernelMatrix", values=lambda: {"kernel": ka.Gaussian(1.0), "X": c(X0)},
    call=lambda v: ka.distributed.DaskKernelMatrix(v["kernel"], v["X"], **XK(v)).diag(),
    params=[P("X", "points")], ref=lambda v: np.ones(len(v["X"])), group="distributed")
add(_D + "rpcholesky", values=lambda: {"kernel": ka.Gaussian(1.0), "X": c(X0), "k": 4, "rng": 0},
    call=lambda v: ka.distributed.rpcholesky(v["kernel"], v["X"], v["k"], rng=v["rng"], **XK(v)),
    out=lambda res, v: np.asarray(res.info["indices"]), params=[P("k", "int", meta={"high": 12}), P("rng", "rng")],
    group="distributed")
add(_D + "as_dask_points", values=lambda: {"X": c(X0)},
    call=lambda v: np.asarray(ka.distributed.as_dask_points(v["X"], **XK(v)).compute()),
    params=[P("X", "points")], ref=lambda v: F(v["X"]), group="distributed")
add(_D + "DaskNystrom", values=None, call=None, note="result of distributed.nystrom", group="distributed")
add(_D + "DaskOperator", values=None, call=None, note="operator returned by DaskKernelMatrix.as_operator",
    group="distributed")

# oracle / testing / experiments / datasets --------------------------------------------------------------
add("kernapprox.oracle.case", values=lambda: {"method": "skyformer", "n": 16, "p": 4, "d": 4, "seed": 0},
    call=lambda v: ka.oracle.case(v["method"], n=v["n"], p=v["p"], d=v["d"], seed=v["seed"], **XK(v)).expected,
    params=[P("method", "choice"), P("n", "int"), P("p", "int"), P("d", "int"),
            P("seed", "int", meta={"low": 0, "huge_ok": True})],   # any int64 seed is a valid SeedSequence seed
    group="oracle")
add("kernapprox.oracle.cases", values=lambda: {"methods": ["vmean"], "n": 16, "p": 4, "d": 4},
    call=lambda v: len(ka.oracle.cases(v["methods"], n=v["n"], p=v["p"], d=v["d"], **XK(v))),
    params=[P("n", "int"), P("p", "int"), P("d", "int")], group="oracle")
add("kernapprox.oracle.all_cases", values=lambda: {"n": 16, "p": 4, "d": 4},
    call=lambda v: len(ka.oracle.all_cases(n=v["n"], p=v["p"], d=v["d"], heads=1, **XK(v))),
    params=[P("n", "int")], group="oracle", extra_kwarg=True)
add("kernapprox.oracle.compare", values=lambda: {"case": ka.oracle.case("vmean", n=16, p=4),
                                                 "actual": ka.oracle.case("vmean", n=16, p=4).expected},
    call=lambda v: float(ka.oracle.compare(v["actual"], v["case"], **XK(v)).passed),
    params=[P("actual", OUTPUT, meta={"nonfinite_ok": True})], group="oracle")
add("kernapprox.oracle.export", values=None, call=None, note="file output: covered by tests/test_oracle.py",
    group="oracle")
add("kernapprox.oracle.load", values=None, call=None, note="file input: covered by tests/test_oracle.py",
    group="oracle")
add("kernapprox.oracle.list_variants", values=lambda: {"method": "skyformer"},
    call=lambda v: len(ka.oracle.list_variants(v["method"], **XK(v))), params=[P("method", "choice", optional=True)],
    group="oracle")
add("kernapprox.oracle.bfloat16_round", values=lambda: {"X": c(X0)},
    call=lambda v: ka.oracle.bfloat16_round(v["X"], **XK(v)), params=[P("X", ELEMENTWISE)],
    ref=lambda v: ref_bfloat16(v["X"]), rtol=0.0, group="oracle")
add("kernapprox.oracle.bfloat16_bits", values=lambda: {"X": ka.oracle.bfloat16_round(X0)},
    call=lambda v: ka.oracle.bfloat16_bits(v["X"], **XK(v)), params=[P("X", ELEMENTWISE)],
    ref=lambda v: ref_bfloat16_bits(v["X"]), rtol=0.0, group="oracle")
add("kernapprox.oracle.tolerance_model", values=None, call=None,
    note="internal tolerance model of oracle.case (fuzzed through case)", group="oracle")
add("kernapprox.oracle.Case", values=None, call=None, note="result of oracle.case", group="oracle")
add("kernapprox.oracle.OracleReport", values=None, call=None, note="result of oracle.compare", group="oracle")
add("kernapprox.testing.assert_matches_oracle", values=lambda: {"case": ka.oracle.case("vmean", n=16, p=4),
                                                                "actual": ka.oracle.case("vmean", n=16, p=4).expected},
    call=lambda v: ka.testing.assert_matches_oracle(v["actual"], v["case"], **XK(v)), params=[P("actual", OUTPUT)],
    group="oracle", verdicts=(AssertionError,))
add("kernapprox.testing.dottest", values=lambda: {"op": ka.PSDLowRank(F0).as_operator(), "rng": 0, "n_trials": 3},
    call=lambda v: ka.testing.dottest(v["op"], rng=v["rng"], n_trials=v["n_trials"], **XK(v)),
    params=[P("rng", "rng"), P("n_trials", "int")], group="oracle")
add("kernapprox.testing.tol_for", values=lambda: {"dtype": np.float32, "length": 10},
    call=lambda v: tuple(ka.testing.tol_for(v["dtype"], length=v["length"], **XK(v))),
    params=[P("length", "int", meta={"huge_ok": True})], group="oracle")   # a formula in √length
add("kernapprox.testing.Tolerance", values=None, call=None, note="result of tol_for", group="oracle")
add("kernapprox.experiments.get", values=lambda: {"name": "samplers"},
    call=lambda v: (ka.experiments.get(v["name"], **XK(v)), 0)[1], params=[P("name", "choice")], group="experiments")
add("kernapprox.experiments.names", values=lambda: {}, call=lambda v: len(ka.experiments.names(**XK(v))),
    group="experiments")
for _fn in ("run_experiment", "replot", "load_data"):
    add(f"kernapprox.experiments._common.{_fn}", values=None, call=None,
        note="runs a whole experiment / reads files: covered by tests/test_experiments.py and the CLI tests",
        group="experiments")
for _fn in ("smile", "spiral", "outliers"):
    def _mk(fn=_fn):
        f = getattr(ka.datasets, fn)
        add(f"kernapprox.datasets.clouds.{fn}", values=lambda: {"n": 50, "rng": 0},
            call=lambda v: f(v["n"], rng=v["rng"], **XK(v)), params=[P("n", "int"), P("rng", "rng")], random=True,
            group="datasets")
    _mk()
add("kernapprox.datasets.clouds.digits", values=lambda: {"n": 40, "rng": 0},
    call=lambda v: ka.datasets.digits(v["n"], rng=v["rng"], **XK(v)), params=[P("n", "int", optional=True),
                                                                             P("rng", "rng")], group="datasets")
for _fn in ("bert_init_qkv", "structured_qkv", "scaled_qkv"):
    def _mk(fn=_fn):
        f = getattr(ka.datasets, fn)
        add(f"kernapprox.datasets.qkv.{fn}", values=lambda: {"n": 16, "p": 4, "rng": 0},
            call=lambda v: f(v["n"], p=v["p"], rng=v["rng"], **XK(v)), params=[P("n", "int"), P("p", "int"),
                                                                               P("rng", "rng")],
            random=True, group="datasets")
    _mk()
add("kernapprox.datasets.qkv.synthetic_qkv", values=lambda: {"n": 16, "kind": "initialized", "rng": 0},
    call=lambda v: ka.datasets.synthetic_qkv(v["n"], kind=v["kind"], rng=v["rng"], **XK(v)),
    params=[P("n", "int"), P("kind", "choice"), P("rng", "rng")], random=True, group="datasets")


def public_callables() -> dict[str, object]:
    """``module.qualname`` -> object for every callable in ``__all__`` of kernapprox, of its submodules,
    and of the dataset submodules (methods registered in attention are entries too)."""
    mods = [ka] + [importlib.import_module(f"kernapprox.{m}") for m in ka._SUBMODULES if m != "datasets"]
    mods += [importlib.import_module(f"kernapprox.datasets.{m}") for m in ("clouds", "qkv", "pretrained")]
    out = {}
    for mod in mods:
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if inspect.ismodule(obj) or not callable(obj):
                continue
            key = f"{getattr(obj, '__module__', mod.__name__)}.{getattr(obj, '__qualname__', name)}"
            out[key] = obj
    return out


# pretrained (a model is loaded once and cached by the loader) -------------------------------------------
_PT = "kernapprox.datasets.pretrained."
add(_PT + "pretrained_qkv", values=lambda: {"n": 16, "layer": 1, "head": 0, "weights": "pretrained", "rng": 0,
                                           "return_info": False},
    call=lambda v: ka.datasets.pretrained.pretrained_qkv(v["n"], layer=v["layer"], head=v["head"],
                                                         weights=v["weights"], rng=v["rng"],
                                                         return_info=v["return_info"], **XK(v)),
    params=[P("n", "int"), P("layer", "int", meta={"low": 0, "high": 5}),
            P("head", "int", optional=True, meta={"low": 0, "high": 11, "indices_ok": True}),  # int or sequence
            P("weights", "choice"), P("rng", "rng"), P("return_info", "bool")], group="datasets")
add(_PT + "load_minilm", values=lambda: {"weights": "pretrained", "rng": 0},
    call=lambda v: (ka.datasets.pretrained.load_minilm(v["weights"], rng=v["rng"], **XK(v)), 0)[1],
    params=[P("weights", "choice"), P("rng", "rng")], group="datasets")
add(_PT + "text_corpus", values=lambda: {"source": "auto"},
    call=lambda v: (ka.datasets.pretrained.text_corpus(v["source"], **XK(v)), 0)[1], params=[P("source", "choice")],
    group="datasets")
add(_PT + "models_available", values=lambda: {}, call=lambda v: ka.datasets.pretrained.models_available(**XK(v)),
    group="datasets")
add(_PT + "model_dir", values=lambda: {}, call=lambda v: (ka.datasets.pretrained.model_dir(**XK(v)), 0)[1],
    group="datasets")
add(_PT + "MiniLM", values=None, call=None, note="model object returned by load_minilm", group="datasets")
add(_PT + "TextCorpus", values=None, call=None, note="corpus object returned by text_corpus", group="datasets")
add("kernapprox._validation.KernapproxWarning", values=None, call=None, note="warning category (no arguments)")


# scikit-learn estimators: the hyper-parameters are stored by the constructor and validated in ``fit``
# (scikit-learn's convention); X and y go through scikit-learn's own ``validate_data`` and the estimator
# conformance (``check_estimator``) of tests/test_sklearn.py, so the walk covers the hyper-parameters.
_SK = "kernapprox.sklearn."
#: ``random_state``: scikit-learn's kinds (None, int, Generator, the legacy RandomState); a SeedSequence
#: may be accepted or refused naming it
RANDOM_STATE = kind_with("rng", {"RandomState": "edge", "seedsequence": "edge"})   # a RandomState seeds
#                                                                                    another stream
_XS = X0 * 2.0
_yS = y0


def _sk_entry(cls_name, hyper, params, *, method="transform"):
    def call(v):
        est = getattr(ka.sklearn, cls_name)(**{k: v[k] for k in hyper}, **XK(v))
        if method == "predict":
            return est.fit(v["X"], v["y"]).predict(v["X"])
        return est.fit(v["X"]).transform(v["X"])

    add(_SK + cls_name, values=lambda: {**hyper, "X": c(_XS), "y": c(_yS)}, call=call, params=params,
        group="sklearn")


_sk_entry("NystromTransformer",
          {"kernel": "gaussian", "kernel_params": {"bandwidth": 2.0}, "n_components": 5, "sampler": "uniform",
           "sampler_options": None, "core": "shifted_cholesky", "rcond": None, "lam": None, "random_state": 0},
          [P("kernel", "kernel"), P("n_components", "int", meta={"huge_ok": True}), P("sampler", "choice"),
           P("core", "choice"), P("rcond", "real", optional=True), P("lam", "real", optional=True),
           P("random_state", RANDOM_STATE)])
_sk_entry("RPCholeskyTransformer",
          {"kernel": "gaussian", "kernel_params": {"bandwidth": 2.0}, "n_components": 5, "block_size": 1,
           "accelerated": False, "tol": None, "random_state": 0},
          [P("kernel", "kernel"), P("n_components", "int", meta={"huge_ok": True}), P("block_size", "int"),
           P("accelerated", "bool"), P("tol", "real", optional=True), P("random_state", RANDOM_STATE)])
_sk_entry("RandomFeaturesTransformer",
          {"kernel": "gaussian", "kernel_params": {"bandwidth": 2.0}, "n_components": 8, "kind": "rff",
           "feature_options": None, "random_state": 0},
          [P("kernel", "kernel"), P("n_components", "int"), P("kind", "choice"),
           P("random_state", RANDOM_STATE)])
_sk_entry("SketchedKernelRidge",
          {"kernel": "gaussian", "kernel_params": {"bandwidth": 2.0}, "lam": 1e-2, "sketch": "accumulated",
           "n_components": 5, "sketch_options": None, "random_state": 0},
          [P("kernel", "kernel"), P("lam", "real"), P("sketch", "choice"),
           P("n_components", "int", meta={"huge_ok": True}), P("random_state", RANDOM_STATE)], method="predict")
