"""Every attention approximator on real MiniLM heads: loss, budget, exact fraction and time at n = 512, 4096.

For each input kind (pretrained all-MiniLM-L6-v2 and its BERT-initialised twin), text windows from
several sources of the offline corpus (:data:`kernapprox.datasets.pretrained.TEXT_SOURCES`; a source
shorter than the window is left out at that n and recorded), every layer and head (at the long n a
random subset of heads per window and layer, ``long_heads``), every method of :data:`METHODS` and every
budget d, the method runs through :func:`kernapprox.attention.approximate` (default options besides
those listed, default range safeguard) on one head's Q, K, V and is compared with the float64 exact
softmax attention ``R = D⁻¹AV``:

* relative spectral loss ``‖R − R̃‖₂ / ‖R‖₂`` (:func:`kernapprox.metrics.attention_output_loss`);
* ``n_evals / B(d)`` with ``B(d) = 2·n·d + d²`` (algorithms.md §13.1; NaN when the method's factors do
  not report ``n_evals``) and the exact fraction (``factors["exact_fraction"]``, NaN when not reported);
* wall time of the call divided by the wall time of ``attention.exact`` on the same head (float64);
  at n >= ``long_from`` each is the least of ``long_time_repeats`` calls (the loss is the first
  call's; the repeats draw from the same generator), at the short n one call each;
* the head's mean row entropy of ``P`` (nats; ``log n`` = uniform), for the entropy-vs-loss scatter.

A timing sweep runs every method at ``d = timing_d`` on one pretrained head for n in ``timing_ns``
and fits the growth exponent (slope of log time vs log n; exact attention ≈ 2).

Methods are looked up in the registry (:func:`kernapprox.attention.methods`) and probed on a tiny input;
a method that is not registered (or refuses its options) is skipped and listed in
``meta["missing_methods"]`` with the reason. Nothing here is hard-coded: every number comes from the run.

FULL: n ∈ {512, 4096}, d ∈ {16, 32, 64, 128, 256}; n = 512: 2 kinds × 3 windows (one per text source)
× 6 layers × 12 heads = 432 heads; n = 4096: 2 kinds × 2 windows (the two sources long enough) × 6
layers × 2 random heads = 48 heads; timing n ∈ {1024, 2048, 4096, 8192}. QUICK (the paper check's
size): d ∈ {16, 64, 128, 256} at n = 512 and {64, 128} at n = 4096; n = 512: 2 windows (gpl-3,
stdlib-docstrings) × layers {0, 2, 4} × heads {0, 6} = 12 heads per kind; n = 4096: one window
(stdlib-docstrings) × 3 layers × 1 random head; timing n ∈ {1024, 2048}.
"""
from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np

from . import _common as C

__all__ = ["Config", "FULL", "QUICK", "run", "plot", "summary", "caption_numbers"]

NAME = "real-attention"
TITLE = ("Attention approximations on real MiniLM heads (every layer and head): relative loss, budget, "
         "exact fraction and time vs exact attention")
PAPER = ("algorithms.md §13: clustered attention (Vyas et al., NeurIPS 2020), sparse + low-rank "
         "(Scatterbrain, NeurIPS 2021), HyperAttention (ICLR 2024), KDEformer (ICML 2023), Gaussian-form "
         "landmarks (§13.7) vs the seed methods")

#: label -> (registry name, options). The first seven are the seed methods, the rest the §13 methods
#: ("+ CV": the sampled part estimates only the deviations from a per-row baseline, ``control_variate``).
METHODS = {
    "Skyformer": ("skyformer", {"target": "softmax", "center_keys": True}),
    "Nystromformer": ("nystromformer", {}),
    "Performer": ("performer", {}),
    "Skeinformer": ("skeinformer", {}),
    "Informer": ("informer", {}),
    "V-Mean": ("vmean", {}),
    "Linformer": ("linformer", {}),
    "Clustered": ("clustered", {}),
    "Sparse+low-rank": ("sparse_lowrank", {}),
    "HyperAttention": ("hyperattention", {}),
    "KDEformer": ("kdeformer", {}),
    "HyperAttention + CV": ("hyperattention", {"control_variate": True}),
    "KDEformer + CV": ("kdeformer", {"control_variate": True}),
    "Skyformer, Gaussian k-means++": ("skyformer", {"target": "softmax", "center_keys": True,
                                                    "landmarks": "kmeanspp"}),
}
SEED_METHODS = ("Skyformer", "Nystromformer", "Performer", "Skeinformer", "Informer", "V-Mean", "Linformer")
NEW_METHODS = tuple(m for m in METHODS if m not in SEED_METHODS)
KINDS = ("pretrained", "initialized")


@dataclasses.dataclass(frozen=True)
class Config:
    ns: tuple = (512, 4096)
    ds: tuple = (16, 32, 64, 128, 256)
    long_ds: tuple = (16, 32, 64, 128, 256)   # budgets at n >= long_from
    long_from: int = 1024
    kinds: tuple = KINDS
    texts: tuple = ("gpl-3", "python-license", "stdlib-docstrings")
    long_texts: tuple = ("gpl-3", "stdlib-docstrings")
    layers: tuple = (0, 1, 2, 3, 4, 5)
    heads: tuple = tuple(range(12))
    long_heads: int = 2                       # random heads per (window, layer) at n >= long_from
    methods: tuple = tuple(METHODS)
    timing_ns: tuple = (1024, 2048, 4096, 8192)
    timing_d: int = 64
    timing_repeats: int = 3
    long_time_repeats: int = 3                # calls timed per head, method and d at n >= long_from (the least)
    inputs: str = "auto"                      # "auto" | "model" | "synthetic"


FULL = Config()
QUICK = Config(ds=(16, 64, 128, 256), long_ds=(64, 128), texts=("gpl-3", "stdlib-docstrings"),
               long_texts=("stdlib-docstrings",), layers=(0, 2, 4), heads=(0, 6), long_heads=1,
               timing_ns=(1024, 2048), timing_repeats=1)


def budget(n: int, d: int) -> int:
    """The reference budget ``B(d) = 2·n·d + d²`` (algorithms.md §13.1)."""
    return 2 * int(n) * int(d) + int(d) ** 2


# --------------------------------------------------------------------------------------------------
# methods: registry lookup, probe, one call
# --------------------------------------------------------------------------------------------------
def call(spec, Q, K, V, d, rng):
    """Run ``spec = (registry name, options)`` through ``attention.approximate`` with factors; returns
    ``(R, n_evals or None, exact_fraction or None, seconds)``."""
    from .. import attention
    name, opts = spec
    t0 = time.perf_counter()
    R, fac = attention.approximate(Q, K, V, method=name, d=int(d), rng=rng, return_factors=True, **opts)
    dt = time.perf_counter() - t0
    fac = fac if isinstance(fac, dict) else {}
    ne, ef = fac.get("n_evals"), fac.get("exact_fraction")
    return R, (None if ne is None else float(ne)), (None if ef is None else float(ef)), dt


def probe(spec) -> str | None:
    """None when the method runs on a tiny input, else why not (not registered, options refused)."""
    from .. import attention
    name = spec[0]
    if name not in attention.methods():
        return "not registered"
    rng = np.random.default_rng(0)
    Q, K, V = rng.normal(size=(3, 16, 4))
    try:
        call(spec, Q, K, V, 4, rng)
    except (TypeError, ValueError, ImportError) as exc:
        return f"{type(exc).__name__}: {str(exc)[:160]}"
    return None


# --------------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------------
class _Inputs:
    """Windows of one input kind: per-layer (h, n, p) Q, K, V from the model, or the synthetic proxy."""

    def __init__(self, kind, source, rng):
        if source == "auto":
            source = "model" if C.models_available() else "synthetic"
        self.kind, self.source = kind, source
        self._tokens = {}
        if source == "model":
            from ..datasets import pretrained as P
            self.P = P
            self.model = P.load_minilm(kind, rng=rng)
            self.label = f"{kind} {P.MODEL_NAME} (p=32), offline English text"
        else:
            self.label = f"synthetic proxy ({kind}-like)"

    def fits(self, text: str, n: int) -> bool:
        """Whether ``text`` holds a window of ``n`` rows."""
        if self.source != "model":
            return True
        if text not in self._tokens:
            info = self.P.pretrained_qkv(1, model=self.model, layer=0, text=text, start=0, return_info=True)[3]
            self._tokens[text] = int(info["corpus_tokens"])
        return self.model.n_text(n) <= self._tokens[text]

    def window(self, text: str, n: int, layers, rng):
        """``{layer: (Q, K, V)}`` of shape (h, n, p) for one window of ``text`` (start drawn from rng)."""
        if self.source != "model":
            from ..datasets import qkv as S
            out = {}
            for L in layers:
                heads = [S.synthetic_qkv(n, kind=self.kind, rng=rng) for _ in range(12)]
                out[L] = tuple(np.stack([h[i] for h in heads]) for i in range(3))
            return out, None
        self.fits(text, n)
        start = int(rng.integers(0, self._tokens[text] - self.model.n_text(n) + 1))
        out = {L: self.P.pretrained_qkv(n, model=self.model, layer=L, text=text, start=start) for L in layers}
        return out, start


def _row_entropy(Q, K, V):
    """Mean row entropy of ``P = softmax(QKᵀ/√p)`` (nats), streamed over query tiles."""
    from .._tiling import row_tiles, tile_rows
    n, m = Q.shape[0], K.shape[0]
    rows = tile_rows(m, 8, n=n)
    H = 0.0
    for i0, i1 in row_tiles(n, rows):
        S = Q[i0:i1] @ K.T
        S *= 1.0 / np.sqrt(Q.shape[1])
        S -= S.max(axis=1, keepdims=True)
        E = np.exp(S)
        z = E.sum(axis=1)
        H += float(np.sum(np.log(z) - np.einsum("ij,ij->i", E, S) / z))
    return H / n


# --------------------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------------------
def _sweep(cfg, seed, labels, specs, n, ds, long):
    from .. import attention
    from ..metrics import attention_output_loss
    texts = cfg.long_texts if long else cfg.texts
    per_kind = []
    windows_used = []
    for a, kind in enumerate(cfg.kinds):
        src = _Inputs(kind, cfg.inputs, C.trial_rngs(seed, 1, key=(a, 999))[0])
        rows = []
        for w, text in enumerate(texts):
            if not src.fits(text, n):
                windows_used.append(f"{kind}: {text} too short for n={n} (left out)")
                continue
            r = C.trial_rngs(seed, 1, key=(a, int(n), w))[0]
            qkv, start = src.window(text, n, cfg.layers, r)
            windows_used.append(f"{kind}: {text} start {start}")
            for L in cfg.layers:
                Qa, Ka, Va = qkv[L]
                heads = cfg.heads if not long else tuple(sorted(r.choice(Qa.shape[0], cfg.long_heads, replace=False)))
                for h in heads:
                    rows.append((text, L, int(h), Qa[h], Ka[h], Va[h]))
        per_kind.append((src.label, rows))
    T = max(len(rows) for _, rows in per_kind)
    shape = (len(cfg.kinds), len(labels), len(ds), T)
    err, evals, frac, tratio = (np.full(shape, np.nan) for _ in range(4))
    entropy = np.full((len(cfg.kinds), T), np.nan)
    texact = np.full((len(cfg.kinds), T), np.nan)
    where = np.full((len(cfg.kinds), T, 2), -1, dtype=np.int64)  # (layer, head)
    refused = {}
    for a, (label, rows) in enumerate(per_kind):
        for t, (text, L, h, Q, K, V) in enumerate(C.progress(rows, desc=f"{NAME} {cfg.kinds[a]} n={n}")):
            where[a, t] = (L, h)
            reps = cfg.long_time_repeats if long else 1
            texact[a, t] = np.inf
            for _ in range(reps):
                t0 = time.perf_counter()
                R = attention.exact(Q, K, V)
                texact[a, t] = min(texact[a, t], time.perf_counter() - t0)
            entropy[a, t] = _row_entropy(Q, K, V)
            for c, lab in enumerate(labels):
                # one generator per (kind, n, head, method, d), keyed by the method's place in METHODS:
                # a method's draws do not depend on which other methods are registered
                gens = C.trial_rngs(seed, len(ds), key=(a, int(n), 1, t, list(METHODS).index(lab)))
                for e, d in enumerate(ds):
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), \
                            warnings.catch_warnings():
                        warnings.simplefilter("ignore")         # clipped row sums etc.: in the loss
                        try:
                            Rt, ne, ef, sec = call(specs[lab], Q, K, V, d, gens[e])
                            for _ in range(reps - 1):           # timing only: the loss is the first call's
                                sec = min(sec, call(specs[lab], Q, K, V, d, gens[e])[3])
                        except ValueError as exc:           # e.g. d above the method's bound at this n
                            refused.setdefault(f"{lab} d={int(d)} n={int(n)}", str(exc)[:120])
                            continue
                    if np.all(np.isfinite(Rt)):
                        err[a, c, e, t] = attention_output_loss(R, Rt, relative=True)
                    evals[a, c, e, t] = np.nan if ne is None else ne / budget(n, d)
                    frac[a, c, e, t] = np.nan if ef is None else ef
                    tratio[a, c, e, t] = sec / texact[a, t]
    return {"err": err, "evals_over_budget": evals, "exact_fraction": frac, "time_ratio": tratio,
            "entropy": entropy, "exact_seconds": texact, "layer_head": where, "ds": np.array(ds),
            "trials": np.array([len(rows) for _, rows in per_kind])}, [lab for lab, _ in per_kind], \
        windows_used, refused


def _timing(cfg, seed, labels, specs):
    from .. import attention
    src = _Inputs("pretrained", cfg.inputs, C.trial_rngs(seed, 1, key=(0, 999))[0])
    text = cfg.long_texts[-1] if cfg.long_texts else cfg.texts[-1]
    ns = [n for n in cfg.timing_ns if src.fits(text, n)]
    sec = np.full((len(labels) + 1, len(ns)), np.nan)       # last row: exact
    for b, n in enumerate(C.progress(ns, desc=f"{NAME} timing")):
        r = C.trial_rngs(seed, 1, key=(7, int(n)))[0]
        qkv, _ = src.window(text, n, (cfg.layers[len(cfg.layers) // 2],), r)
        Qa, Ka, Va = next(iter(qkv.values()))
        Q, K, V = Qa[0], Ka[0], Va[0]
        for c, lab in enumerate(labels + ["exact"]):
            best = np.inf
            for _ in range(cfg.timing_repeats):
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        if lab == "exact":
                            attention.exact(Q, K, V)
                        else:
                            call(specs[lab], Q, K, V, cfg.timing_d, r)
                    except ValueError:                        # d above the method's bound at this n
                        break
                best = min(best, time.perf_counter() - t0)
            sec[c, b] = best if np.isfinite(best) else np.nan
    slope = np.full(len(labels) + 1, np.nan)
    if len(ns) >= 2:
        x = np.log(np.asarray(ns, dtype=float))
        for c in range(len(labels) + 1):
            ok = np.isfinite(sec[c])
            if ok.sum() >= 2:
                slope[c] = float(np.polyfit(x[ok], np.log(sec[c][ok]), 1)[0])
    return {"ns": np.array(ns), "seconds": sec, "exponent": slope, "labels": np.array(labels + ["exact"])}


def run(cfg: Config, seed) -> dict:
    missing = {}
    labels = []
    for lab in cfg.methods:
        why = probe(METHODS[lab])
        if why is None:
            labels.append(lab)
        else:
            missing[lab] = why
    specs = {lab: METHODS[lab] for lab in labels}
    out, inputs, windows, refused = {}, None, [], {}
    for n in cfg.ns:
        long = n >= cfg.long_from
        res, inputs, win, ref = _sweep(cfg, seed, labels, specs, n, cfg.long_ds if long else cfg.ds, long)
        refused.update(ref)
        out[f"n{int(n)}"] = res
        windows += [f"n={n} {w}" for w in win]
    data = {"ns": np.array(cfg.ns), "methods": np.array(labels), "kinds": np.array(cfg.kinds),
            "seed_methods": np.array([m for m in labels if m in SEED_METHODS]),
            "new_methods": np.array([m for m in labels if m in NEW_METHODS]), "sweeps": out,
            "timing": _timing(cfg, seed, labels, specs)}
    data["meta"] = {
        "inputs": " | ".join(inputs),
        "missing_methods": missing,
        "refused_calls": refused,
        "windows": windows,
        "metric": "relative spectral loss ||R - R~||_2 / ||R||_2 vs float64 exact softmax attention",
        "budget": "B(d) = 2 n d + d^2 (algorithms.md 13.1)",
        "timing_d": cfg.timing_d,
        "n_evals": {},
    }
    return data


# --------------------------------------------------------------------------------------------------
# summary and plot
# --------------------------------------------------------------------------------------------------
def summary(data, n: int, kind: str = "pretrained") -> dict:
    """Per method label: ``{"d": ds, "median", "p90", "evals", "exact_fraction", "time_ratio"}`` (medians
    over heads, the 90th percentile of the loss) at sequence length ``n`` for ``kind`` inputs."""
    s = data["sweeps"][f"n{int(n)}"]
    a = list(np.atleast_1d(data["kinds"])).index(kind)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for c, lab in enumerate(np.atleast_1d(data["methods"])):
            e = s["err"][a, c]
            out[str(lab)] = {"d": np.atleast_1d(s["ds"]), "median": np.nanmedian(e, axis=-1),
                             "p90": np.nanquantile(e, 0.9, axis=-1),
                             "evals": np.nanmedian(s["evals_over_budget"][a, c], axis=-1),
                             "exact_fraction": np.nanmedian(s["exact_fraction"][a, c], axis=-1),
                             "time_ratio": np.nanmedian(s["time_ratio"][a, c], axis=-1)}
    return out


def table(data, n: int, kind: str = "pretrained") -> str:
    """Markdown table: median / p90 loss per method and d (plus budget, exact fraction, time ratio)."""
    sm = summary(data, n, kind)
    ds = next(iter(sm.values()))["d"] if sm else []
    head = "| method | " + " | ".join(f"d = {int(d)}" for d in ds) + " | n_evals/B(d) | exact frac. | time/exact |"
    lines = [head, "|---" * (len(ds) + 4) + "|"]
    def span(x, fmt):
        x = x[np.isfinite(x)]
        return "n/a" if x.size == 0 else f"{x.min():{fmt}}–{x.max():{fmt}}"
    for lab, v in sm.items():
        cells = [f"{m:.3f} / {p:.3f}" for m, p in zip(v["median"], v["p90"])]
        lines.append(f"| {lab} | " + " | ".join(cells) + f" | {span(v['evals'], '.2f')} | "
                     f"{span(v['exact_fraction'], '.2f')} | {span(v['time_ratio'], '.2g')} |")
    return "\n".join(lines)


def plot(data):
    ns = [int(n) for n in np.atleast_1d(data["ns"])]
    kinds = [str(k) for k in np.atleast_1d(data["kinds"])]
    methods = [str(m) for m in np.atleast_1d(data["methods"])]
    seeds = set(str(m) for m in np.atleast_1d(data.get("seed_methods", [])))
    ncols = len(ns) * len(kinds)
    fig, axes = C.new_figure(3, max(ncols, 2), width=3.3 * max(ncols, 2) + 2.4, height=8.6)
    col = 0
    for n in ns:
        for kind in kinds:
            sm = summary(data, n, kind)
            ax = axes[0, col]
            for c, lab in enumerate(methods):
                v = sm[lab]
                st = C.method_style(lab, c)
                ls = "-" if lab not in seeds else ":"
                ax.plot(v["d"], v["median"], ls=ls, label=lab, color=f"C{c % 10}", marker=st["marker"])
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{kind}, n = {n}: median rel. loss")
            ax.set_xlabel("budget d")
            ax2 = axes[1, col]
            for c, lab in enumerate(methods):
                v = sm[lab]
                ax2.plot(v["d"], v["time_ratio"], ls="-" if lab not in seeds else ":", color=f"C{c % 10}",
                         marker=C.method_style(lab, c)["marker"])
            ax2.set_xscale("log", base=2)
            ax2.set_yscale("log")
            ax2.axhline(1.0, color="k", lw=0.8)
            ax2.set_title(f"{kind}, n = {n}: time / exact (median)")
            ax2.set_xlabel("budget d")
            col += 1
    # row 3: entropy vs loss scatter (n = first, pretrained + initialised, d = middle), timing sweep
    s = data["sweeps"][f"n{ns[0]}"]
    ds = np.atleast_1d(s["ds"])
    e = len(ds) // 2
    ax = axes[2, 0]
    for c, lab in enumerate(methods):
        x = s["entropy"].reshape(-1)
        y = s["err"][:, c, e].reshape(-1)
        ax.scatter(x, y, s=4, color=f"C{c % 10}", alpha=0.5)
    ax.set_yscale("log")
    ax.set_xlabel("head's mean row entropy of P (nats)")
    ax.set_title(f"n = {ns[0]}, d = {int(ds[e])}: loss per head")
    ax = axes[2, 1]
    tm = data["timing"]
    tl = [str(x) for x in np.atleast_1d(tm["labels"])]
    for c, lab in enumerate(tl):
        color = "k" if lab == "exact" else f"C{c % 10}"
        ax.plot(np.atleast_1d(tm["ns"]), np.atleast_1d(tm["seconds"][c]), color=color, marker="o",
                label=f"{lab} ({float(np.atleast_1d(tm['exponent'])[c]):.2f})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("n")
    ax.set_ylabel("seconds")
    ax.set_title(f"time at d = {data['meta'].get('timing_d', '')} (growth exponent)")
    ax.legend(fontsize=5, ncol=2)
    for j in range(2, axes.shape[1]):
        axes[2, j].axis("off")
    handles, labs = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labs, loc="outside right center")
    meta = data.get("meta", {})
    notes = ["dotted: seed methods"]
    if meta.get("missing_methods"):
        notes.append("skipped (not registered / refused): " + ", ".join(meta["missing_methods"]))
    fig.suptitle(TITLE, fontsize=10)
    C.add_provenance(fig, data, extra="; ".join(notes))
    return fig


def caption_numbers(data) -> dict:
    """The numbers figures/README.md quotes for this figure, as strings computed from the data: per n
    and input kind the method with the lowest median loss at the smallest and the largest d, and the
    growth exponents of the timing sweep."""
    out = {}
    for n in np.atleast_1d(data["ns"]):
        for kind in np.atleast_1d(data["kinds"]):
            sm = summary(data, int(n), str(kind))
            if not sm:
                continue
            ds = next(iter(sm.values()))["d"]
            for j in (0, len(ds) - 1):
                lab = min(sm, key=lambda k: np.inf if not np.isfinite(sm[k]["median"][j]) else sm[k]["median"][j])
                out[f"best_{int(n)}_{kind}_{int(ds[j])}"] = (f"n = {int(n)}, {kind}, d = {int(ds[j])}: {lab} "
                                                            f"{sm[lab]['median'][j]:.3g}")
    tm = data["timing"]
    labels = [str(x) for x in np.atleast_1d(tm["labels"])]
    ex = np.atleast_1d(tm["exponent"])
    if "exact" in labels and np.isfinite(ex).any():
        e = ex[labels.index("exact")]
        others = np.array([x for lab, x in zip(labels, ex) if lab != "exact" and np.isfinite(x)])
        out["exponent"] = (f"growth exponent exact {e:.2f}, approximations {others.min():.2f}–{others.max():.2f}"
                           if others.size else f"growth exponent exact {e:.2f}")
    return out
