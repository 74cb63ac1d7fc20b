"""Experiments that regenerate the papers' figures (design.md §4.7; algorithms.md §2.9, §3.7, §5, §8).

``REGISTRY`` maps each experiment NAME to its module path, in the order ``kernapprox list`` prints
them; modules are imported only by :func:`get`. Each module defines ``NAME``, ``TITLE``, ``PAPER``,
a frozen ``Config`` with ``FULL`` and ``QUICK`` instances, ``run(cfg, seed) -> dict`` and
``plot(data) -> Figure`` (see :mod:`kernapprox.experiments._common`).

A name of the presentation order whose module is absent is left out of ``REGISTRY``; a module of
this package that is not in that order is added at the end (name = module name with ``_`` → ``-``).

Examples
--------
>>> from kernapprox import experiments
>>> "skyformer-fig1" in experiments.REGISTRY
True
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from types import ModuleType

from ._common import load_data, replot, run_experiment  # noqa: F401  (cheap: numpy only)

__all__ = ["get", "names", "run_experiment", "replot", "load_data"]

# NAME -> module path, in presentation order (Skyformer, Skeinformer, then the PSD / RF / KRR / KPCA ones)
_PLANNED = {
    "skyformer-fig1": "kernapprox.experiments.skyformer_fig1",
    "skyformer-bound": "kernapprox.experiments.skyformer_bound",
    "kernelized-target": "kernapprox.experiments.kernelized_target",
    "skeinformer-fig1": "kernapprox.experiments.skeinformer_fig1",
    "skeinformer-ablation": "kernapprox.experiments.skeinformer_ablation",
    "singular-values": "kernapprox.experiments.singular_values",
    "samplers": "kernapprox.experiments.samplers",
    "rff-bootstrap": "kernapprox.experiments.rff_bootstrap",
    "accumulation-krr": "kernapprox.experiments.accumulation_krr",
    "nystrom-kpca": "kernapprox.experiments.nystrom_kpca",
    "ff-kernel": "kernapprox.experiments.ff_kernel",
    "real-attention": "kernapprox.experiments.real_attention",
}


def _exists(path: str) -> bool:
    try:
        return importlib.util.find_spec(path) is not None
    except (ImportError, ValueError):
        return False


def _build_registry() -> dict:
    reg = {name: path for name, path in _PLANNED.items() if _exists(path)}
    known = set(reg.values())
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        path = f"{__name__}.{info.name}"
        if path not in known and path not in _PLANNED.values():
            reg[info.name.replace("_", "-")] = path
    return reg


REGISTRY: dict = _build_registry()


def names() -> list:
    """Registered experiment names, in presentation order."""
    return list(REGISTRY)


def get(name: str) -> ModuleType:
    """Import and return the experiment module registered under ``name``."""
    if not isinstance(name, str):
        raise TypeError(f"experiments.get: `name` must be a string, one of {sorted(REGISTRY)}; "
                        f"got {type(name).__name__}")
    if name not in REGISTRY:
        raise ValueError(f"experiments.get: `name` must be one of {sorted(REGISTRY)}; got {name!r}")
    return importlib.import_module(REGISTRY[name])
