"""``kernapprox oracle export …`` and ``kernapprox oracle list`` (registered by :mod:`kernapprox.cli`).

Examples::

    kernapprox oracle list
    kernapprox oracle export --method skyformer --n 4096 --p 64 --d 256 --batch 2 --heads 4 \\
        --dtype float16 --out cases/                     # the default variant
    kernapprox oracle export --method skyformer --variant all --n 512 --p 64 --d 64 --out cases/
"""
from __future__ import annotations

from pathlib import Path


from .cli import UsageError, examples, int_at_least, positive_int, seed_type

__all__ = ["add_oracle_parser"]


def _cmd_oracle_list(args) -> int:
    from .oracle import list_variants
    for method, variants in list_variants().items():
        for i, (variant, desc) in enumerate(variants.items()):
            mark = "*" if i == 0 else " "
            print(f"{method:<14} {variant:<20}{mark} {desc}")
    print("\n* default variant of the method")
    return 0


def _cmd_oracle_export(args) -> int:
    from .oracle import NO_D, VARIANTS, case, export
    methods = list(VARIANTS) if args.method == "all" else [args.method]
    out = Path(args.out)
    for method in methods:
        if method not in VARIANTS:
            raise UsageError(f"unknown method {method!r} (see `kernapprox oracle list`)")
        if args.variant == "all":
            variants = list(VARIANTS[method])
        elif args.variant is None:
            variants = [next(iter(VARIANTS[method]))]
        else:
            variants = [args.variant]
        for variant in variants:
            if variant not in VARIANTS[method]:
                raise UsageError(f"method {method!r} has no variant {variant!r} ({', '.join(VARIANTS[method])})")
            d = None if method in NO_D else args.d
            c = case(method, n=args.n, p=args.p, d=d, batch=args.batch, heads=args.heads, variant=variant,
                     dtype=args.dtype, seed=args.seed)
            path = export(c, out / c.name)
            scale = c.tolerance_detail["output_scale"]
            rel = f"{c.tolerance / scale:.1e}" if scale > 0 else "n/a"
            print(f"{path}  tolerance {c.tolerance:.3e}  ({rel} of max|expected|)")
    return 0


def add_oracle_parser(sub) -> None:
    """Add ``oracle export`` and ``oracle list`` to the ``kernapprox`` sub-command parser ``sub``."""
    from .cli import add_command
    from .oracle import DTYPES
    p = add_command(sub, "oracle", "golden cases for GPU attention kernels (export / list)",
             examples("kernapprox oracle list",
                      "kernapprox oracle export --method skyformer --n 512 --p 64 --d 64 --out cases/",
                      "kernapprox oracle export --help         # all options"))
    osub = p.add_subparsers(dest="oracle_command", metavar="SUBCOMMAND")
    q = add_command(osub, "list", "list the methods and their named variants (* marks the default)",
             examples("kernapprox oracle list"))
    q.set_defaults(func=_cmd_oracle_list)
    q = add_command(osub, "export", "write cases (.npz + .json manifest) into a folder",
             examples("kernapprox oracle export --method skyformer --n 4096 --p 64 --d 256 --batch 2 --heads 4 \\",
                      "    --dtype float16 --out cases/                      # the default variant",
                      "kernapprox oracle export --method skyformer --variant all --n 512 --p 64 --d 64 --out cases/",
                      "kernapprox oracle export --method all --n 64 --p 16 --d 8 --out cases/   # every method"))
    q.add_argument("--method", required=True, help="method name, 'exact', or 'all' (see `kernapprox oracle list`)")
    q.add_argument("--variant", default=None, help="variant name or 'all' (default: the method's default)")
    q.add_argument("--n", type=int_at_least(2), required=True, help="sequence length (>= 2)")
    q.add_argument("--p", type=positive_int, default=64, help="head dimension (default 64)")
    q.add_argument("--d", type=positive_int, default=64, help="landmarks / features / columns (default 64)")
    q.add_argument("--batch", type=positive_int, default=1, help="leading batch axis (default 1)")
    q.add_argument("--heads", type=positive_int, default=1, help="heads axis (default 1)")
    q.add_argument("--dtype", default="float32", choices=DTYPES, help="storage dtype of the inputs")
    q.add_argument("--seed", type=seed_type, default=0, help="seed of inputs and randomness (>= 0)")
    q.add_argument("--out", default="cases", help="output folder (default ./cases)")
    q.set_defaults(func=_cmd_oracle_export)
