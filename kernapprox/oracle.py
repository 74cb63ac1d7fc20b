"""Golden cases for GPU attention kernels: fixed inputs, pre-drawn randomness, float64 answers.

Users: authors of CUDA / Triton / JAX / PyTorch kernels of Skyformer, Nyströmformer, Performer,
Skeinformer, … who need to know whether their kernel computes the right thing. The attention papers
and their repositories disagree on landmark rules, pseudo-inverse policy and initialisation,
stabilisers and scaling, and redraw randomness in every forward pass; a :class:`Case` fixes all of it.

A case holds

* ``inputs`` — ``{"Q", "K", "V"}`` of shape ``(batch, heads, n, p)`` in the requested dtype
  (``"float64"``, ``"float32"``, ``"float16"``; ``"bfloat16"`` is stored as **float32 arrays whose
  values are exactly representable in bfloat16** — numpy has no bfloat16; ``torch.from_numpy(Q)
  .to(torch.bfloat16)`` is exact, and :func:`bfloat16_bits` gives the uint16 bit patterns);
* ``options`` — every option of the method, including ``d`` and ALL randomness pre-drawn per
  (batch, head) (landmark / pilot / column indices, projection and feature matrices) and derived
  batch-wide scalars (the global Newton–Schulz scale ``ns_scale``), so that::

      kernapprox.attention.approximate(**case.inputs, method=case.method, **case.options)

  reproduces ``case.expected`` — bit for bit with float64 (or float16) inputs, within ``case.tolerance``
  with float32 / bfloat16 inputs, on which the library runs its own float32 pipeline (exact targets,
  ``method="exact"``: ``attention.exact(**case.inputs, **case.options)``; :meth:`Case.reference` does
  the float64 call);
* ``expected`` — float64, computed by the library from the dtype-rounded inputs (cast to float64);
* ``tolerance`` — an absolute bound on ``max |actual − expected|`` for an implementation working in
  ``dtype`` (model below).

Tolerance model
---------------
Let u be the unit roundoff of the dtype (:data:`UNIT_ROUNDOFF`: 2⁻⁵³, 2⁻²⁴, 2⁻¹¹, 2⁻⁸) and u_acc
that of the accumulation dtype (:data:`ACCUMULATION_DTYPE`: float32 for the half types — tensor
cores and torch accumulate half-precision matmuls and reductions in float32). A kernel that is
backward stable in ``dtype`` computes the exact answer for inputs and intermediates perturbed by
relative O(u). We measure, instead of guessing, how the float64 pipeline of the library amplifies
such a perturbation:

``E_in = max over N_PROBES probes of max |f(Q∘(1+uξ_Q), K∘(1+uξ_K), V∘(1+uξ_V)) − expected|``,

ξ independent random signs, the pre-drawn randomness held fixed and derived batch scalars
(``ns_scale``) recomputed. E_in contains every conditioning effect of the computation — the
exponential's amplification of the logits, the row normalisations, and the conditioning of the core
(a perturbation of the inputs perturbs the landmark block W, and the output moves by about
‖W⁻¹‖·‖ΔW‖: ‖W‖‖W⁻¹‖ enters here; it is also recorded as ``tolerance_detail["core_condition"]``).
Intermediate roundings are modelled as S further perturbations of the same size (S sequential
stages: 3 for a feature / kernel pipeline, plus 4 matrix products per Newton–Schulz step, plus 1 for
a direct inverse; independent rounding errors add in quadrature, √S), and accumulation over the
longest reduction L = max(n, m, p, d) as √L·(u_acc/u) such perturbations (the probabilistic
rounding-error bound of Higham & Mary 2019). The final rounding of the output adds u·max|expected|::

    tolerance = TOL_SAFETY · ((√S + √L · u_acc/u) · E_in + E_core + E_factors + u · max|expected|)

The landmark core W (Skyformer, Nyströmformer) is small (d×d): kernels form and invert it in the
accumulation dtype (float32 for half inputs — the contract the torch example follows; the pinned
pseudo-inverse cutoff ``rcond`` is ``d·eps`` of that dtype). Its own rounding (relative u_acc per
entry) is not induced by the inputs (Nyströmformer's segment-mean logits are small, so input
perturbations barely move Ã) and is amplified by the conditioning of the core. It is measured the same
way: E_core = max over N_PROBES random-sign perturbations ΔW = u_acc·W∘Ξ of the first-order output change
``L W_inv ΔW W_inv T`` (``L`` = CQ or F, ``T`` = CKᵀV or BV; the row normalisation is differentiated
for the softmax target) — the first-order perturbation of an inverse (Higham §7.1), which is bounded
by u_acc·κ·‖L W_inv‖‖T‖ with κ = ‖W‖₂‖W_inv‖₂ (recorded as ``tolerance_detail["core_condition"]``).
Likewise E_factors: the stored outer factors L and T rounded in ``dtype`` (relative u, random signs),
``ΔL W_inv T + L W_inv ΔT`` — with a large ‖W_inv‖ these roundings are amplified rather than averaged.
When u·κ > ILL_POSED_AMPLIFICATION the case is flagged ``tolerance_detail["ill_posed"]``: that core
cannot be resolved in this dtype.

TOL_SAFETY = 4 covers the gap between probe signs and worst-case signs. The model is first order:
where the computation is discontinuous (Informer's top-u query selection, pseudo-inverse cutoffs)
a rounding error can flip a decision; ``tolerance_detail`` records the relevant margins
(``informer_margin``) so a failure there can be recognised.

References
----------
Higham & Mary, "A new approach to probabilistic rounding error analysis", SIAM J. Sci. Comput. 2019
(√L accumulation term); Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., §3.1
(γ_L bounds of inner products); Chen et al., Skyformer, NeurIPS 2021, Eq. (5), Lemma 3; Xiong et al.,
Nyströmformer, AAAI 2021, Eq. (9); Choromanski et al., Performer, ICLR 2021, Lemma 1.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import numpy as np

from ._random import rademacher
from ._validation import as_generator, check_choice, check_int, check_matrix, check_size_product, fail

__all__ = ["Case", "OracleReport", "case", "cases", "all_cases", "export", "load", "compare",
           "list_variants", "VARIANTS", "DTYPES", "bfloat16_round", "bfloat16_bits", "tolerance_model"]

#: Version of the exported file layout (npz keys + JSON manifest); :func:`load` refuses other versions.
SCHEMA_VERSION = 1
_SCHEMA_NAME = "kernapprox.oracle"

DTYPES = ("float64", "float32", "float16", "bfloat16")
#: unit roundoff u = eps/2 of each storage dtype
UNIT_ROUNDOFF = {"float64": 2.0 ** -53, "float32": 2.0 ** -24, "float16": 2.0 ** -11, "bfloat16": 2.0 ** -8}
#: dtype in which reductions / matrix products accumulate (tensor-core convention for half types)
ACCUMULATION_DTYPE = {"float64": "float64", "float32": "float32", "float16": "float32", "bfloat16": "float32"}
#: safety factor between the probed first-order sensitivity and the tolerance (module docstring)
TOL_SAFETY = 4.0
#: number of random-sign input perturbations used to measure the sensitivity E_in
N_PROBES = 3
#: Q, K = INPUT_SCALE·N(0, 1), V = N(0, 1) (the ``scaled_qkv`` family, algorithms.md §8)
INPUT_SCALE = 0.5
#: u·κ above which a core is flagged ill-posed for the dtype (relative output change of order 10%)
ILL_POSED_AMPLIFICATION = 0.1
#: base number of rounding stages of a pipeline (logits / features, products, normalisation)
BASE_STAGES = 3
#: matrix products per Newton–Schulz (Razavi) step
NS_PRODUCTS_PER_STEP = 4


# -------------------------------------------------------------------------------------------------
# variants
# -------------------------------------------------------------------------------------------------
def _neg_log_m(n):
    return -math.log(n)


#: method -> variant -> (options, description). The first variant of each method is its default.
#: Values that are callables take the sequence length n (e.g. the sigmoid bias −log m).
VARIANTS: dict[str, dict[str, tuple[dict, str]]] = {
    "exact": {
        "softmax": ({"kind": "softmax"}, "softmax(QKᵀ/√p) V"),
        "gaussian": ({"kind": "gaussian"}, "Skyformer's kernelized attention C V, C = κ(Q/p^¼, K/p^¼)"),
        "sigmoid": ({"kind": "sigmoid", "bias": _neg_log_m}, "σ(QKᵀ/√p − log m) V (Yan et al. 2025)"),
    },
    "skyformer": {
        "paper": ({"preset": "paper"}, "uniform2n landmarks (Def. 1), exact pinv core (Eq. 5)"),
        "code": ({"preset": "code"}, "stratified landmarks, Lemma-3 normalised W + 0.1 I, 6 Razavi "
                                     "steps, one Razavi scale for the whole batch (authors' code)"),
        "code-global-init": ({"preset": "code", "init": "global"},
                             "the same as 'code' (init='global' spelled out)"),
        "code-per-matrix-init": ({"preset": "code", "init": "per_matrix"},
                                 "as 'code' with one Razavi scale per head (not the authors' code)"),
        "paper-eig": ({"preset": "paper", "core": "signed_eig"},
                      "uniform2n, signed eigen-cutoff core (rcond 1e6·eps)"),
        "softmax": ({"preset": "paper", "target": "softmax"},
                    "Fig. 1 variant: raw scores SM(Q̂, K̂) through the augmentation, D̃⁻¹ÃV, eig core"),
    },
    "nystromformer": {
        "paper": ({"core": "newton_schulz", "init": "per_matrix"},
                  "segment means, 6 Razavi steps, Z₀ = Ãᵀ/‖Ã‖₁ per matrix (paper)"),
        "code": ({"core": "newton_schulz", "preset": "code"},
                 "Z₀ scale = max column sum over the whole batch (official LRA code)"),
        "pinv": ({"core": "pinv"}, "exact pseudo-inverse of Ã"),
        "uneven-padding": ({"padding": "uneven"}, "nearly equal segments round(i n/d) (kernapprox's own layout)"),
        "lucidrains-padding": ({"padding": "lucidrains", "preset": "code"},
                               "lucidrains nystrom-attention without mask: front zero rows kept in the key softmax"),
        "lucidrains-masked-padding": ({"padding": "lucidrains_masked", "preset": "code"},
                                      "lucidrains nystrom-attention with a mask of the real rows"),
        "t2t-vit-padding": ({"padding": "t2t_vit"},
                            "mlpen T2T-ViT token_nystromformer: segments of ⌊n/d⌋ then ⌊n/d⌋ + 1 rows"),
    },
    "performer": {
        "paper": ({"kind": "positive", "orthogonal": True, "scaling": 0, "stabilizer": "exact", "feature_eps": 0.0},
                  "FAVOR+ positive features, orthogonal χ_p-norm projections, exact stabiliser"),
        "code": ({"kind": "positive", "orthogonal": True, "scaling": 0, "stabilizer": "performer_pytorch"},
                 "performer-pytorch FastAttention: shift by max ωᵀx̂ (per query row / per head of keys), "
                 "then ε = 1e-4 added to every feature"),
        "google-research": ({"kind": "positive", "orthogonal": True, "scaling": 0, "stabilizer": "google_research"},
                            "google-research fast_attention: as 'code' with ε = 1e-6"),
        "lra-double-scaling": ({"kind": "positive", "stabilizer": "skyformer", "double_scaling": True},
                               "Skyformer LRA code: Q, K divided by p^¼ twice (exp(q·k/p)), key max over the "
                               "whole batch, ε = 1e-4"),
        "sqrt-p-norms": ({"kind": "positive", "orthogonal": True, "scaling": 1},
                         "orthogonal projections with √p row norms"),
        "iid": ({"kind": "positive", "orthogonal": False}, "i.i.d. Gaussian projections"),
        "hyperbolic": ({"kind": "hyperbolic"}, "hyperbolic positive features [exp(ωᵀx), exp(−ωᵀx)]"),
        "trig": ({"kind": "trig"}, "trigonometric features (denominator may be ≤ 0)"),
    },
    "skeinformer": {
        "paper": ({}, "Algorithm 1: pilot rows, importance columns, adaptive row normalisation, pilot reuse"),
        "uniform-columns": ({"column_sampling": "uniform", "pilot_reuse": False},
                            "ablation 'w/o column sampling' (code class)"),
        "simple-row-norm": ({"row_normalization": "simple"},
                            "softmax over the selected columns, no pilot reuse (code class)"),
        "exact-row-norm": ({"row_normalization": "exact"}, "exact D (streamed), no pilot reuse (code class)"),
        "no-pilot-reuse": ({"pilot_reuse": False}, "pilot rows not overwritten with exact B_J V"),
        "importance-weights": ({"row_normalization": "exact", "importance_weights": True},
                               "Prop. 1 estimator B S Sᵀ V with weights 1/(d p̂)"),
    },
    "informer": {
        "code": ({"measure": "sampled", "mean_divisor": "n"}, "sampled sparsity measure, sum / n (code quirk)"),
        "sample-divisor": ({"measure": "sampled", "mean_divisor": "sample"}, "sampled measure, sum / U"),
        "exact-measure": ({"measure": "exact"}, "exact max-mean measure"),
    },
    "linformer": {
        "paper": ({"variant": "linformer"}, "E K, E V with i.i.d. N(0, 1/d) E (E = F)"),
        "unreduced-jlt": ({"variant": "unreduced_jlt"}, "softmax(Q (EK)ᵀ)… unreduced JLT (Skeinformer §3.3.2)"),
    },
    "vmean": {"default": ({}, "every row the mean of V")},
    "s3": {
        "column": ({"part": "column"}, "skeleton column attention"),
        "row": ({"part": "row"}, "skeleton row attention"),
        "both": ({"part": "both", "layer_norm": True}, "column + row, layer-normalised"),
    },
    "rff": {
        "cos-phase": ({"paired": False, "orthogonal": False}, "√(2/d) cos(ωᵀx + b) features"),
        "paired": ({"paired": True, "orthogonal": False}, "sin/cos pairs"),
        "orthogonal": ({"paired": False, "orthogonal": True}, "block-orthogonal frequencies (ORF)"),
    },
    "linear": {"default": ({}, "elu(x) + 1 features (Katharopoulos et al. 2020)")},
    "clustered": {
        "default": ({}, "k-means++ query clusters, exact top-k keys + band, first-order rest "
                        "(algorithms.md §13.2-13.3)"),
        "paper": ({"rest": "centroid", "band": None, "n_global": 0},
                  "improved clustered attention: exact top-k keys, the centroid row for the rest (Vyas et al. 2020)"),
    },
    "sparse_lowrank": {
        "default": ({}, "exact minus low rank on a clustered + banded support plus a low rank (Scatterbrain)"),
        "favor": ({"lowrank": "favor"}, "the same with a FAVOR+ low rank (the paper's choice)"),
    },
    "hyperattention": {
        "default": ({}, "sortLSH exact diagonal blocks + uniformly sampled keys (Han et al., ICLR 2024)"),
        "control-variate": ({"control_variate": True}, "the same, sampling only each row's deviation from a "
                                                       "geometric-mean baseline"),
    },
    "kdeformer": {
        "default": ({}, "sortLSH heavy blocks + keys importance-sampled by pilot-row column norms × ‖v‖ "
                        "(Zandieh et al., ICML 2023)"),
    },
}

#: methods whose cases take no ``d`` (exact attention and the d-free approximators)
NO_D = {"exact", "vmean", "linear"}
#: options computed from the inputs over the whole batch (recomputed in the sensitivity probes)
_DERIVED = ("ns_scale", "key_max")


def list_variants(method: str | None = None) -> dict:
    """Methods and their named variants: ``{method: {variant: description}}`` (one method if given)."""
    if method is not None:
        check_choice(method, tuple(VARIANTS), "oracle.list_variants", "method")
        return {method: {v: desc for v, (_, desc) in VARIANTS[method].items()}}
    return {m: {v: desc for v, (_, desc) in vs.items()} for m, vs in VARIANTS.items()}


# -------------------------------------------------------------------------------------------------
# bfloat16 helpers
# -------------------------------------------------------------------------------------------------
#: Largest finite bfloat16, (2 − 2⁻⁷)·2¹²⁷.
BFLOAT16_MAX = (2.0 - 2.0 ** -7) * 2.0 ** 127


def bfloat16_round(X) -> np.ndarray:
    """Round each entry of a real, finite, non-empty array (any shape) to the nearest bfloat16, ties to
    even, returned as float32 values (exactly representable).

    The rounding is done once, from the input's own precision (float64 inputs are not rounded to
    float32 first, which would round twice): with ``|x| = m·2^e`` (1 ≤ m < 2, e ≥ −126, the bfloat16
    subnormal range sharing the spacing of e = −126) the bfloat16 spacing is ``2^(e−7)`` and the result
    is ``round_half_even(x / 2^(e−7)) · 2^(e−7)`` (exact in float64: scaling by a power of two).
    Values beyond :data:`BFLOAT16_MAX` after rounding (overflow to ±inf) are refused naming ``X``.
    """
    func = "oracle.bfloat16_round"
    A = check_matrix(X, func, "X", ndim=None)
    x = A.astype(np.float64)
    _, E = np.frexp(x)                                  # x = f·2^E, 0.5 <= |f| < 1 (E = 0 for x = 0)
    ulp = np.ldexp(1.0, np.maximum(E - 1, -126) - 7)
    r = np.round(x / ulp) * ulp
    if np.any(np.abs(r) > BFLOAT16_MAX):
        raise fail(func, "X", f"hold values that round into the bfloat16 range (|x| <= {BFLOAT16_MAX:.6g})",
                   f"max |x| = {float(np.abs(x).max()):.6g}")
    return r.astype(np.float32)


def bfloat16_bits(X) -> np.ndarray:
    """uint16 bit patterns of real, finite values that are exactly bfloat16 (e.g. ``case.inputs`` of a
    bfloat16 case): the upper half of each float32 word. Any non-empty shape."""
    func = "oracle.bfloat16_bits"
    A = check_matrix(X, func, "X", ndim=None)
    x = np.ascontiguousarray(A, dtype=np.float32)
    if np.any(x.astype(A.dtype) != A) or np.any(x.view(np.uint32) & 0xFFFF):
        raise fail(func, "X", "hold values exactly representable in bfloat16",
                   "values with non-zero low mantissa bits")
    return (x.view(np.uint32) >> 16).astype(np.uint16)


def _round_to(X: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bfloat16":
        return bfloat16_round(X)
    return X.astype(dtype)


# -------------------------------------------------------------------------------------------------
# the case object
# -------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class Case:
    """One golden case (see the module docstring). Build with :func:`case`; arrays are read-only."""
    method: str
    variant: str
    inputs: dict
    options: dict
    expected: np.ndarray
    dtype: str
    tolerance: float
    seed: int
    n: int
    p: int
    d: int | None
    batch: int
    heads: int
    tolerance_detail: dict = dataclasses.field(default_factory=dict)
    library_version: str = ""

    @property
    def name(self) -> str:
        """A file-name friendly identifier."""
        dpart = "" if self.d is None else f"-d{self.d}"
        return (f"{self.method}-{self.variant}-{self.dtype}-n{self.n}-p{self.p}{dpart}"
                f"-b{self.batch}h{self.heads}-s{self.seed}")

    def reference(self, inputs: dict | None = None, options: dict | None = None) -> np.ndarray:
        """Recompute the float64 answer through the library (``inputs``/``options`` override the case's)."""
        inp = self.inputs if inputs is None else inputs
        opts = self.options if options is None else options
        return _pipeline(self.method, {k: np.asarray(v, dtype=np.float64) for k, v in inp.items()}, opts)

    def __repr__(self) -> str:
        return (f"Case({self.name}, tolerance={self.tolerance:.3g}, options={sorted(self.options)})")


def _pipeline(method: str, inputs: dict, options: dict) -> np.ndarray:
    from . import attention
    Q, K, V = inputs["Q"], inputs["K"], inputs["V"]
    if method == "exact":
        return np.asarray(attention.exact(Q, K, V, **options), dtype=np.float64)
    return np.asarray(attention.approximate(Q, K, V, method=method, **options), dtype=np.float64)


def _method(method: str):
    """The registered method record (:class:`kernapprox.attention.AttentionMethod`)."""
    from . import attention
    return attention.get_method(method).method


def _resolved_core(method: str, options: dict):
    """(core, n_iter) actually used by the method with these options ((None, 0) without a Nyström core)."""
    rec = None if method == "exact" else _method(method)
    if rec is None or rec.core_factors is None:
        return None, 0
    out = rec.resolve_options(options)
    return out.get("core"), out.get("n_iter", 0)


def _explicit_defaults(method: str, opts: dict, d, dtype: str) -> dict:
    """Every scalar option of the method spelled out (signature defaults, then the method's own
    ``resolve_options``: presets resolved, e.g. Skyformer's ``core``, ``lam``, ``n_iter``), so a GPU
    author reads the complete configuration from the case. The pseudo-inverse cutoff ``rcond`` is pinned
    for this dtype, so that float64 and low-precision runs cut the same spectrum: the method's default
    for the core dtype (:data:`ACCUMULATION_DTYPE`: the d×d core of a half-precision kernel is formed
    and inverted in float32)."""
    import inspect

    from . import attention
    fn = attention.get_method(method)
    out = dict(opts)
    for name, prm in inspect.signature(fn.formula).parameters.items():
        if prm.kind is prm.KEYWORD_ONLY and name not in ("d", "rng", "return_factors") and name not in out \
                and prm.default is not None and isinstance(prm.default, (bool, int, float, str)):
            out[name] = prm.default
    return fn.method.resolve_options(out, d=d, dtype=np.dtype(ACCUMULATION_DTYPE[dtype]))


def _stages(method: str, options: dict) -> int:
    core, n_iter = _resolved_core(method, options)
    s = BASE_STAGES
    if core == "newton_schulz":
        s += NS_PRODUCTS_PER_STEP * int(n_iter)
    elif core is not None:
        s += 1
    return s


def _core_terms(method: str, facs, u: float, u_store: float, gen) -> tuple[float | None, float, float]:
    """(κ, E_core, E_factors): max over items of κ = ‖W‖₂‖W_inv‖₂ of the landmark core actually
    inverted; the measured first-order output change when the core W is rounded (relative ``u`` per
    entry, random signs, N_PROBES probes): ``ΔW_inv ≈ −W_inv ΔW W_inv`` propagated through the method's
    outer products (and its row normalisation for the softmax target); and the change when the stored
    outer factors L (CQ or F, n×d) and T (CKᵀV or BV, d×pv) are rounded (relative ``u_store``):
    ``ΔL W_inv T + L W_inv ΔT`` — through a large ‖W_inv‖ these roundings do not cancel. ``facs``:
    the method's factors per item (the blocks come from its ``core_factors`` hook)."""
    rec = None if facs is None else _method(method)
    if rec is None or rec.core_factors is None:
        return None, 0.0, 0.0
    kappa, e_core, e_fac = 0.0, 0.0, 0.0
    for idx in np.ndindex(*facs.shape):
        blocks = rec.core_factors(facs[idx])
        if blocks is None:                        # e.g. accumulated sketches: no single core block to perturb
            return None, 0.0, 0.0
        W, Winv, L, T = blocks["W"], blocks["W_pinv"], blocks["L"], blocks["T"]
        normalise_rows = blocks["normalise_rows"]
        kappa = max(kappa, float(np.linalg.norm(W, 2) * np.linalg.norm(Winv, 2)))
        LW, WT = L @ Winv, Winv @ T
        base = LW @ T
        for _ in range(N_PROBES):
            dW = u * W * rademacher(gen, W.shape)
            d_core = -(LW @ (dW @ WT))
            dL = u_store * L * rademacher(gen, L.shape)
            dT = u_store * T * rademacher(gen, T.shape)
            d_fac = dL @ WT + LW @ dT
            for d_out, which in ((d_core, "core"), (d_fac, "fac")):
                if normalise_rows:
                    num, den = base[:, :-1], base[:, -1:]
                    d_out = (d_out[:, :-1] - num / den * d_out[:, -1:]) / den
                if which == "core":
                    e_core = max(e_core, float(np.max(np.abs(d_out))))
                else:
                    e_fac = max(e_fac, float(np.max(np.abs(d_out))))
    return kappa, e_core, e_fac


def tolerance_model(method: str, inputs64: dict, options: dict, expected: np.ndarray, dtype: str, *,
                    rng=None) -> tuple[float, dict]:
    """The tolerance of the module docstring and its terms (``tolerance_detail``).

    Parameters
    ----------
    method : str
    inputs64 : dict of ndarray of shape (batch, heads, n, p), float64 (the dtype-rounded inputs)
    options : dict — the case options (pre-drawn randomness included)
    expected : ndarray of shape (batch, heads, n, pv)
    dtype : {"float64", "float32", "float16", "bfloat16"}
    rng : generator for the probe signs

    Returns
    -------
    tolerance : float
    detail : dict with ``E_in``, ``stages``, ``reduction_length``, ``u``, ``u_acc``, ``core_condition``, …

    Notes
    -----
    Cost: N_PROBES + 1 extra float64 pipeline runs (the last one returns the factors: the core condition
    number and terms, the selection margin).
    """
    gen = as_generator(rng)
    u = UNIT_ROUNDOFF[dtype]
    u_acc = UNIT_ROUNDOFF[ACCUMULATION_DTYPE[dtype]]
    probe_opts = {k: v for k, v in options.items() if k not in _DERIVED}
    e_in = 0.0
    for _ in range(N_PROBES):
        pert = {k: v * (1.0 + u * rademacher(gen, v.shape)) for k, v in inputs64.items()}
        out = _pipeline(method, pert, probe_opts)
        e_in = max(e_in, float(np.max(np.abs(out - expected))))
    n, p = inputs64["Q"].shape[-2:]
    m = inputs64["K"].shape[-2]
    d = options.get("d") or 0
    L = int(max(n, m, p, d))
    S = _stages(method, options)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    facs = None
    if method != "exact":
        from . import attention
        _, facs = attention.approximate(inputs64["Q"], inputs64["K"], inputs64["V"], method=method,
                                        return_factors=True, **options)
    kappa, e_core, e_fac = _core_terms(method, facs, u_acc, u, gen)
    tol = TOL_SAFETY * ((math.sqrt(S) + math.sqrt(L) * u_acc / u) * e_in + e_core + e_fac + u * scale)
    detail = {"E_in": e_in, "E_core": e_core, "E_factors": e_fac, "stages": S, "reduction_length": L, "u": u, "u_acc": u_acc,
              "output_scale": scale, "safety": TOL_SAFETY, "n_probes": N_PROBES, "core_condition": kappa,
              "ill_posed": bool(kappa is not None and u * kappa > ILL_POSED_AMPLIFICATION)}
    margin = None if facs is None else _selection_margin(facs)
    if margin is not None:
        detail["informer_margin"] = margin
    return tol, detail


def _selection_margin(facs) -> float | None:
    """For methods whose factors report a ranking ``measure`` (n,) and the ``active`` rows chosen by it
    (Informer's top-u queries): the smallest gap (over items) between the u-th and (u+1)-th largest
    measure — a rounding error larger than this can change the active set. None for other methods."""
    if not all("measure" in facs[idx] and "active" in facs[idx] for idx in np.ndindex(*facs.shape)):
        return None
    gap = math.inf
    for idx in np.ndindex(*facs.shape):
        f = facs[idx]
        meas = np.sort(np.asarray(f["measure"]))[::-1]
        u = len(f["active"])
        if u < meas.size:
            gap = min(gap, float(meas[u - 1] - meas[u]))
    return gap


# -------------------------------------------------------------------------------------------------
# building cases
# -------------------------------------------------------------------------------------------------
def case(method: str, *, n: int, p: int, d: int | None = None, batch: int = 1, heads: int = 1,
         variant: str | None = None, dtype: str = "float32", seed: int = 0, **options) -> Case:
    """Build one golden case.

    Parameters
    ----------
    method : str
        ``"exact"`` or an approximator of :func:`kernapprox.attention.methods` (:func:`list_variants`).
    n, p : int
        Sequence length (queries = keys = n) and head dimension (values have width p too).
    d : int, optional
        Landmarks / features / sampled columns (not used by ``exact``, ``vmean``, ``linear``).
    batch, heads : int
        Leading axes of the inputs: ``(batch, heads, n, p)``.
    variant : str, optional
        A named variant of the method (paper vs authors' code); default its first variant.
    dtype : {"float32", "float64", "float16", "bfloat16"}
        Storage dtype of the inputs (bfloat16: float32 arrays holding bfloat16 values).
    seed : int
        Inputs and randomness derive from ``np.random.SeedSequence(seed)``: same seed, bit-identical case.
    **options
        Extra method options; they override the variant's.

    Returns
    -------
    Case

    Notes
    -----
    Cost: 1 + N_PROBES + 1 float64 runs of the method (expected, sensitivity probes, core condition).

    Examples
    --------
    >>> import kernapprox as ka
    >>> c = ka.oracle.case("skyformer", n=64, p=16, d=8, heads=2, variant="code", seed=0)
    >>> c.inputs["Q"].shape, c.expected.shape, c.options["indices"].shape
    ((1, 2, 64, 16), (1, 2, 64, 16), (1, 2, 8))
    >>> out = ka.attention.approximate(**c.inputs, method=c.method, **c.options)   # the float32 library
    >>> ka.oracle.compare(out, c).passed
    True
    """
    func = "oracle.case"
    from . import __version__
    from . import attention
    check_choice(method, tuple(VARIANTS), func, "method")
    variant = next(iter(VARIANTS[method])) if variant is None else variant
    check_choice(variant, tuple(VARIANTS[method]), func, "variant")
    check_choice(dtype, DTYPES, func, "dtype")
    n = check_int(n, func, "n", low=2)
    p = check_int(p, func, "p", low=1)
    batch = check_int(batch, func, "batch", low=1)
    heads = check_int(heads, func, "heads", low=1)
    seed = check_int(seed, func, "seed", low=0)
    if method in NO_D:
        if d is not None:
            raise fail(func, "d", f"be None for method {method!r} (it has no landmarks / features)", d)
    else:
        d = check_int(d, func, "d", low=1)
    # inputs (raw, rounded, float64: 3 arrays each), expected and the probes' outputs, before any draw
    check_size_product(func, {"batch": batch, "heads": heads, "n": n, "p": p}, copies=16)
    if method == "exact":
        check_size_product(func, {"batch": batch, "heads": heads, "n": n, "n_keys": n}, copies=2)
    base, _ = VARIANTS[method][variant]
    opts = {k: (v(n) if callable(v) else v) for k, v in base.items()}
    opts.update(options)
    if d is not None:
        opts["d"] = d

    ss = np.random.SeedSequence(seed)
    s_in, s_draw, s_probe = ss.spawn(3)
    g = np.random.default_rng(s_in)
    shape = (batch, heads, n, p)
    raw = {"Q": INPUT_SCALE * g.standard_normal(shape), "K": INPUT_SCALE * g.standard_normal(shape),
           "V": g.standard_normal(shape)}
    inputs = {k: _round_to(v, dtype) for k, v in raw.items()}
    in64 = {k: v.astype(np.float64) for k, v in inputs.items()}

    if method != "exact":
        opts = _explicit_defaults(method, opts, d, dtype)
        drawn = attention.draw_randomness(in64["Q"], in64["K"], in64["V"], method=method, rng=s_draw, **opts)
        opts.update({k: np.asarray(v) for k, v in drawn.items()})
        opts.update(attention.get_method(method).batch_prepare(in64["Q"], in64["K"], in64["V"], **opts))
    expected = _pipeline(method, in64, opts)
    tol, detail = tolerance_model(method, in64, opts, expected, dtype, rng=s_probe)
    for v in list(inputs.values()) + [expected] + [v for v in opts.values() if isinstance(v, np.ndarray)]:
        v.flags.writeable = False
    return Case(method=method, variant=variant, inputs=inputs, options=opts, expected=expected, dtype=dtype,
                tolerance=tol, seed=seed, n=n, p=p, d=d, batch=batch, heads=heads, tolerance_detail=detail,
                library_version=__version__)


def cases(methods=None, *, n: int = 64, p: int = 16, d: int = 8, batch: int = 1, heads: int = 2,
          dtype: str = "float32", seed: int = 0, variants: str = "all") -> list[Case]:
    """Cases for several methods: every named variant (``variants="all"``) or only the default ones
    (``"default"``). ``methods=None``: every method including ``"exact"``. ``d`` is dropped for
    methods without landmarks."""
    check_choice(variants, ("all", "default"), "oracle.cases", "variants")
    n = check_int(n, "oracle.cases", "n", low=2)
    p = check_int(p, "oracle.cases", "p", low=1)
    batch = check_int(batch, "oracle.cases", "batch", low=1)
    heads = check_int(heads, "oracle.cases", "heads", low=1)
    d = check_int(d, "oracle.cases", "d", low=1)        # validated even when every method drops it
    # the methods with landmarks / features hold (batch, heads, n, d) arrays
    check_size_product("oracle.cases", {"batch": batch, "heads": heads, "n": n, "d": d}, copies=4)
    methods = tuple(VARIANTS) if methods is None else ((methods,) if isinstance(methods, str) else tuple(methods))
    out = []
    for m in methods:
        check_choice(m, tuple(VARIANTS), "oracle.cases", "methods")
        names = list(VARIANTS[m]) if variants == "all" else [next(iter(VARIANTS[m]))]
        for v in names:
            out.append(case(m, n=n, p=p, d=None if m in NO_D else d, batch=batch, heads=heads, variant=v,
                            dtype=dtype, seed=seed))
    return out


def all_cases(*, n: int = 64, p: int = 16, d: int = 8, batch: int = 1, heads: int = 2, dtype: str = "float32",
              seed: int = 0) -> list[Case]:
    """Every method and every named variant (:func:`cases` with ``methods=None, variants="all"``)."""
    return cases(None, n=n, p=p, d=d, batch=batch, heads=heads, dtype=dtype, seed=seed, variants="all")


# -------------------------------------------------------------------------------------------------
# export / load
# -------------------------------------------------------------------------------------------------
def _json_scalar(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if v is None or isinstance(v, str):
        return v
    raise TypeError(f"oracle.export: option value of type {type(v).__name__} is not serialisable")


def _paths(path) -> tuple[Path, Path]:
    path = Path(path)
    if path.suffix in (".npz", ".json"):
        path = path.with_suffix("")
    return path.with_suffix(".npz"), path.with_suffix(".json")


def export(case_or_cases, path) -> Path:
    """Write cases to ``<path>.npz`` (arrays) and ``<path>.json`` (manifest, schema :data:`SCHEMA_VERSION`).

    The manifest records, per case, method, variant, dtype, seed, n, p, d, batch, heads, tolerance and
    its terms, scalar options, and the shape / dtype of every array (inputs, array options, expected),
    plus the library version and the npz's SHA-256. Returns the manifest path.

    Examples
    --------
    >>> import tempfile, pathlib, kernapprox as ka
    >>> c = ka.oracle.case("performer", n=32, p=8, d=8, dtype="bfloat16")
    >>> path = ka.oracle.export(c, pathlib.Path(tempfile.mkdtemp()) / "perf")
    >>> back = ka.oracle.load(path)
    >>> back.name == c.name and bool((back.expected == c.expected).all())
    True
    """
    from . import __version__
    single = isinstance(case_or_cases, Case)
    cs = [case_or_cases] if single else list(case_or_cases)
    if not cs or not all(isinstance(c, Case) for c in cs):
        raise fail("oracle.export", "case_or_cases", "be a Case or a non-empty sequence of Case",
                   type(case_or_cases).__name__, TypeError)
    npz_path, json_path = _paths(path)
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    arrays, entries = {}, []
    for i, c in enumerate(cs):
        cid = f"c{i}"
        scal, arr_meta, in_meta = {}, {}, {}
        for k, v in c.options.items():
            if isinstance(v, np.ndarray):
                arrays[f"{cid}/options/{k}"] = v
                arr_meta[k] = {"shape": list(v.shape), "dtype": str(v.dtype)}
            else:
                scal[k] = _json_scalar(v)
        for k, v in c.inputs.items():
            arrays[f"{cid}/inputs/{k}"] = v
            in_meta[k] = {"shape": list(v.shape), "dtype": str(v.dtype),
                          "storage": "bfloat16 values as float32" if c.dtype == "bfloat16" else c.dtype}
        arrays[f"{cid}/expected"] = c.expected
        entries.append({"id": cid, "method": c.method, "variant": c.variant, "dtype": c.dtype, "seed": c.seed,
                        "n": c.n, "p": c.p, "d": c.d, "batch": c.batch, "heads": c.heads,
                        "tolerance": float(c.tolerance),
                        "tolerance_detail": {k: _json_scalar(v) for k, v in c.tolerance_detail.items()},
                        "options": scal, "array_options": arr_meta, "inputs": in_meta,
                        "expected": {"shape": list(c.expected.shape), "dtype": "float64"},
                        "library_version": c.library_version})
    with open(npz_path, "wb") as fh:
        np.savez(fh, **arrays)
    digest = hashlib.sha256(npz_path.read_bytes()).hexdigest()
    manifest = {"schema": _SCHEMA_NAME, "schema_version": SCHEMA_VERSION, "library_version": __version__,
                "npz": npz_path.name, "npz_sha256": digest, "container": "case" if single else "list",
                "tolerance_model": "TOL_SAFETY·((√S + √L·u_acc/u)·E_in + E_core + E_factors + u·max|expected|), "
                                   "kernapprox.oracle",
                "cases": entries}
    json_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    return json_path


def load(path):
    """Read cases written by :func:`export` (``path``: the .json, the .npz or their common stem).

    Returns a :class:`Case` when a single case was exported, else a list. Raises ``ValueError`` when the
    manifest's schema version differs from :data:`SCHEMA_VERSION` or the npz does not match its hash.
    """
    func = "oracle.load"
    npz_path, json_path = _paths(path)
    if not json_path.exists():
        raise fail(func, "path", "name an exported case file (its .json manifest must exist)", str(json_path))
    man = json.loads(json_path.read_text())
    if man.get("schema") != _SCHEMA_NAME:
        raise fail(func, "path", f"hold a {_SCHEMA_NAME} manifest", f"schema {man.get('schema')!r}")
    ver = man.get("schema_version")
    if ver != SCHEMA_VERSION:
        raise fail(func, "path", f"hold schema version {SCHEMA_VERSION} (this kernapprox reads only that; "
                   f"re-export the cases with kernapprox {man.get('library_version', '?')} or install a "
                   f"matching version)", f"schema version {ver!r}")
    npz_path = json_path.with_name(man["npz"])
    if hashlib.sha256(npz_path.read_bytes()).hexdigest() != man["npz_sha256"]:
        raise fail(func, "path", "point to an npz matching its manifest (SHA-256)", str(npz_path))
    out = []
    with np.load(npz_path, allow_pickle=False) as z:
        for e in man["cases"]:
            cid = e["id"]
            opts = dict(e["options"])
            for k in e["array_options"]:
                opts[k] = z[f"{cid}/options/{k}"]
            inputs = {k: z[f"{cid}/inputs/{k}"] for k in e["inputs"]}
            expected = z[f"{cid}/expected"]
            for v in list(inputs.values()) + [expected] + [v for v in opts.values() if isinstance(v, np.ndarray)]:
                v.flags.writeable = False
            out.append(Case(method=e["method"], variant=e["variant"], inputs=inputs, options=opts,
                            expected=expected, dtype=e["dtype"], tolerance=float(e["tolerance"]), seed=e["seed"],
                            n=e["n"], p=e["p"], d=e["d"], batch=e["batch"], heads=e["heads"],
                            tolerance_detail=dict(e["tolerance_detail"]), library_version=e["library_version"]))
    return out[0] if man.get("container") == "case" else out


# -------------------------------------------------------------------------------------------------
# comparison
# -------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class OracleReport:
    """Result of :func:`compare`. ``bool(report)`` is ``report.passed``."""
    method: str
    variant: str
    dtype: str
    passed: bool
    max_abs_error: float
    max_rel_error: float
    tolerance: float
    worst: tuple
    n_nonfinite: int
    source: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        b, h, r, c = self.worst
        verdict = "PASS" if self.passed else "FAIL"
        msg = (f"{verdict} oracle {self.method}/{self.variant} ({self.dtype}, from {self.source}): "
               f"max |actual - expected| = {self.max_abs_error:.3e} (relative to max|expected|: "
               f"{self.max_rel_error:.3e}) {'<=' if self.passed else '>'} tolerance {self.tolerance:.3e}; "
               f"worst at (batch, head, row) = ({b}, {h}, {r}), column {c}")
        if self.n_nonfinite:
            msg += f"; {self.n_nonfinite} non-finite entries"
        return msg


def _to_numpy(actual) -> tuple[np.ndarray, str]:
    """Host float64 copy of an array from numpy, torch (CPU/CUDA), CuPy, JAX or anything with
    ``__dlpack__`` / ``__array__``; framework modules are never imported (detected by type module)."""
    if isinstance(actual, np.ndarray):
        return actual, "numpy"
    mod = type(actual).__module__.split(".")[0]
    if mod == "torch":
        t = actual.detach().cpu()
        if str(t.dtype) in ("torch.bfloat16", "torch.float16"):
            t = t.float()
        return t.numpy(), "torch"
    if mod == "cupy":
        return actual.get(), "cupy"
    if hasattr(actual, "__array__"):
        return np.asarray(actual), mod
    if hasattr(actual, "__dlpack__"):
        return np.from_dlpack(actual), mod
    if isinstance(actual, (list, tuple)):
        return np.asarray(actual), "list"
    raise fail("oracle.compare", "actual", "be an array (numpy, torch, JAX, CuPy, DLPack or __array__)",
               type(actual).__name__, TypeError)


def compare(actual, case: Case) -> OracleReport:
    """Compare an implementation's output with a case.

    Parameters
    ----------
    actual : array-like of shape (batch, heads, n, pv)
        numpy, torch (CPU or CUDA), JAX, CuPy, or anything exposing DLPack or ``__array__``; moved to
        the host and to float64 (``(n, pv)`` is accepted when batch = heads = 1).
    case : Case

    Returns
    -------
    OracleReport
        ``max_abs_error``, ``max_rel_error`` (max abs error / max|expected|), ``worst`` =
        (batch, head, row, column) of the largest error, ``passed`` (finite and max abs error <=
        ``case.tolerance``).

    Notes
    -----
    Cost O(batch·heads·n·pv). A torch tensor is moved with ``.detach().cpu()`` (half types via
    ``.float()``), a CuPy array with ``.get()``; torch / JAX / CuPy are never imported here.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> c = ka.oracle.case("nystromformer", n=64, p=8, d=8, heads=2, seed=0)
    >>> r = ka.oracle.compare(c.expected.astype(np.float32), c)
    >>> r.passed, r.source
    (True, 'numpy')
    >>> bad = c.expected.copy(); bad[0, 1, 7, 0] += 1e-3
    >>> r = ka.oracle.compare(bad, c); r.passed, r.worst
    (False, (0, 1, 7, 0))
    """
    func = "oracle.compare"
    if not isinstance(case, Case):
        raise fail(func, "case", "be a kernapprox.oracle.Case", type(case).__name__, TypeError)
    A, source = _to_numpy(actual)
    if A.dtype.kind not in "fiu":
        raise fail(func, "actual", "hold real numbers", f"dtype {A.dtype}", TypeError)
    E = case.expected
    if A.shape != E.shape:
        if A.shape == E.shape[2:] and E.shape[0] * E.shape[1] == 1:
            A = A.reshape(E.shape)
        else:
            raise fail(func, "actual", f"have shape {E.shape} (the case's expected output)", f"shape {A.shape}")
    A = A.astype(np.float64)
    err = np.abs(A - E)
    bad = ~np.isfinite(err)
    nbad = int(bad.sum())
    err = np.where(bad, np.inf, err)
    flat = int(np.argmax(err)) if err.size else 0
    worst = tuple(int(i) for i in np.unravel_index(flat, E.shape)) if err.size else (0, 0, 0, 0)
    mx = float(err.max()) if err.size else 0.0
    scale = float(np.abs(E).max()) if E.size else 0.0
    rel = mx / scale if scale > 0 else (0.0 if mx == 0 else math.inf)
    passed = nbad == 0 and mx <= case.tolerance
    return OracleReport(method=case.method, variant=case.variant, dtype=case.dtype, passed=bool(passed),
                        max_abs_error=mx, max_rel_error=rel, tolerance=float(case.tolerance), worst=worst,
                        n_nonfinite=nbad, source=source)
