"""Command line: ``kernapprox list | run | plot | check | oracle | demo`` (argparse).

Sub-commands are registered by small functions below; experiments and the oracle are imported
only when their sub-command runs, so ``kernapprox --version`` stays fast.
"""
from __future__ import annotations

import argparse
import sys

from . import __version__


def _cmd_demo(args) -> int:
    """A small Nyström demo (runs without any optional dependency)."""
    import numpy as np

    import kernapprox as ka
    rng = np.random.default_rng(args.seed)
    X = rng.normal(size=(2000, 5))
    KM = ka.KernelMatrix(ka.Gaussian(bandwidth=2.0), X)
    K = KM.dense()
    for k in (10, 50, 200):
        idx = rng.choice(X.shape[0], k, replace=False)
        C = K[:, idx]
        W = K[np.ix_(idx, idx)]
        Kh = C @ np.linalg.pinv(W, hermitian=True) @ C.T
        err = np.linalg.norm(K - Kh, 2) / np.linalg.norm(K, 2)
        print(f"uniform Nyström k={k:4d}: relative spectral error {err:.3e}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kernapprox", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"kernapprox {__version__}")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("demo", help="a small Nyström demo")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)
    p = sub.add_parser("list", help="list the experiments (one name at the start of each line)")
    p.set_defaults(func=_cmd_list)
    return parser


def _cmd_list(args) -> int:
    try:
        from .experiments import REGISTRY
    except ImportError:
        return 0
    for name, mod in REGISTRY.items():
        print(f"{name}  {getattr(mod, 'TITLE', '')}".rstrip())
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
