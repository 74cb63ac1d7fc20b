"""Command line: ``kernapprox list | run | plot | check | oracle | demo`` (argparse).

Sub-commands are registered by small functions below; experiments and the oracle are imported
only when their sub-command runs, so ``kernapprox --version`` stays fast.

Main job::

    kernapprox run all --quick            # every experiment, QUICK config, into ./out
    kernapprox run skyformer-fig1 --out figures      # FULL config (the committed figures)
    kernapprox plot skyformer-fig1 --out figures     # re-draw from figures/data/ without recomputing
    kernapprox check --quick              # paper claims: PASS / FAIL / NOT-REPRODUCED table

Exit status: 0 success; 1 an experiment or a paper check failed (:data:`EXIT_FAIL`); 2 a usage
error — a bad argument, an unknown name, or a value the library refuses — reported on one line of
stderr without a traceback (:data:`EXIT_USAGE`, argparse's convention); 141 (128 + SIGPIPE) when the
reader of stdout goes away early (``kernapprox list | head -1``). ``KERNAPPROX_TRACEBACK=1`` shows the
traceback of a refused value instead of the one-line message.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

from . import __version__

__all__ = ["main", "build_parser", "add_command", "UsageError", "examples", "int_at_least", "positive_int",
           "seed_type"]

#: exit status of ``kernapprox check`` when a claim FAILS or the checks cannot run
EXIT_FAIL = 1
#: exit status of a usage error (argparse's own convention)
EXIT_USAGE = 2
#: exit status when stdout is closed by its reader (128 + SIGPIPE, what a shell reports for a killed writer)
EXIT_BROKEN_PIPE = 141
#: environment variable: "1" re-raises refused values with their traceback (debugging)
TRACEBACK_ENV = "KERNAPPROX_TRACEBACK"


class UsageError(Exception):
    """A command-line value that cannot be used; :func:`main` prints it on one line and exits 2."""


# --------------------------------------------------------------------------------------------------
# argument types (argparse turns ArgumentTypeError into "argument --x: ...", exit 2)
# --------------------------------------------------------------------------------------------------
def int_at_least(low: int):
    """An argparse ``type`` accepting a base-10 integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer; got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}; got {value}")
        return value

    parse.__name__ = f"int>={low}"
    return parse


seed_type = int_at_least(0)
positive_int = int_at_least(1)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep the examples of an epilog as written; wrap the argument help as usual."""


class Parser(argparse.ArgumentParser):
    """argparse parser whose usage errors are one line: ``PROG: error: MESSAGE (see `PROG --help`)``, exit 2.

    Sub-command parsers inherit the class (``add_subparsers`` uses the parent's type)."""

    def error(self, message):
        hint = "" if "`kernapprox" in message else f" (see `{self.prog} --help`)"
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{hint}\n")


def examples(*lines: str) -> str:
    """An ``examples:`` epilog for ``--help`` (one command per line, ``# comment`` aligned)."""
    return "examples:\n" + "\n".join(f"  {ln}" for ln in lines)


#: size of the demo's point cloud (n points in 5 dimensions)
DEMO_N = 800


def _cmd_demo(args) -> int:
    """Uniform Nyström vs RPCholesky on a lazy Gaussian kernel matrix (no optional dependency).

    The relative spectral error ``‖K − K̂‖₂ / ‖K‖₂`` is measured matrix-free (block Lanczos forced with
    ``method="lanczos"``, :func:`kernapprox.spectral_error`; at this size ``"auto"`` would form the dense
    difference): K is never formed. Cost: a few streamed passes over the n² kernel entries per error,
    about a second of CPU for n = :data:`DEMO_N` (1000 would be 2.5×, since the cost grows as n²).
    """
    import numpy as np

    import kernapprox as ka
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    X = rng.normal(size=(DEMO_N, 5))
    KM = ka.KernelMatrix(ka.Gaussian(bandwidth=2.0), X)
    norm_K = float(ka.spectral_error(KM, method="lanczos", rng=args.seed))
    print(f"Gaussian kernel (bandwidth 2) on {DEMO_N} points in 5-D; relative spectral error ||K - K^||_2 / ||K||_2")
    for k in (10, 50, 200):
        idx = ka.sample_landmarks(KM, k, method="uniform", rng=rng)
        uniform = ka.nystrom(KM, idx, core="pinv")  # K[:, S] W^+ K[S, :], the library's Nyström
        rpc = ka.rpcholesky(KM, k, rng=rng)
        e_u = float(ka.spectral_error(KM, uniform, method="lanczos", rng=args.seed)) / norm_K
        e_r = float(ka.spectral_error(KM, rpc, method="lanczos", rng=args.seed)) / norm_K
        print(f"k = {k:4d}: uniform Nyström {e_u:.3e}   RPCholesky {e_r:.3e}")
    print(f"({time.perf_counter() - t0:.1f} s; K itself was never formed)")
    return 0


# --------------------------------------------------------------------------------------------------
# list / run / plot
# --------------------------------------------------------------------------------------------------
def _registry():
    from .experiments import REGISTRY
    return REGISTRY


def _cmd_list(args) -> int:
    from .experiments import get
    for name in _registry():
        try:
            mod = get(name)
            title = getattr(mod, "TITLE", "")
            paper = getattr(mod, "PAPER", "")
            line = f"{name}  {title}" + (f"  [{paper}]" if paper and args.verbose else "")
        except Exception as exc:  # a broken module must not hide the others
            line = f"{name}  (cannot import: {type(exc).__name__}: {exc})"
        print(line.rstrip())
    return 0


def _resolve_names(name: str) -> list:
    reg = _registry()
    if name == "all":
        return list(reg)
    if name not in reg:
        raise UsageError(f"unknown experiment {name!r} (`kernapprox list` shows the names)")
    return [name]


def _cmd_run(args) -> int:
    from .experiments import get, run_experiment
    names = _resolve_names(args.name)
    failed = []
    for name in names:
        mode = "quick" if args.quick else "full"
        print(f"[kernapprox] running {name} ({mode}, seed {args.seed}) ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            paths = run_experiment(get(name), quick=args.quick, seed=args.seed, out_dir=args.out)
        except Exception as exc:  # one broken experiment must not stop `run all`; exit 1, not a usage error
            if os.environ.get(TRACEBACK_ENV, "") == "1":
                import traceback
                traceback.print_exc()
            failed.append(name)
            print(f"{name}: FAILED ({type(exc).__name__}: {exc})")
            continue
        print(f"{name}: wrote {paths['png']} (+ .pdf, data/{name}.npz, data/{name}.json) "
              f"in {time.perf_counter() - t0:.1f} s")
    if failed:
        print(f"{len(failed)} experiment(s) failed: {', '.join(failed)}")
        return EXIT_FAIL
    return 0


def _cmd_plot(args) -> int:
    from .experiments import get, replot
    status = 0
    for name in _resolve_names(args.name):
        try:
            paths = replot(get(name), out_dir=args.out)
        except FileNotFoundError as exc:
            print(str(exc), file=sys.stderr)
            status = EXIT_FAIL
            continue
        print(f"{name}: re-plotted {paths['png']} from {Path(args.out) / 'data' / (name + '.npz')}")
    return status


# --------------------------------------------------------------------------------------------------
# check
# --------------------------------------------------------------------------------------------------
def _paper_checks_dir() -> Path | None:
    here = Path(__file__).resolve().parents[1] / "paper_checks"
    if here.is_dir():
        return here
    cwd = Path.cwd() / "paper_checks"
    return cwd if cwd.is_dir() else None


#: file of the tests that perturb each experiment's key number and expect its check to fail
_CAN_FAIL_FILE = "test_checks_can_fail.py"


class _ClaimCollector:
    """pytest plugin: one row per paper-check test with its claim status (see paper_checks/conftest.py)."""

    def __init__(self):
        self.rows = {}

    def pytest_runtest_logreport(self, report):
        props = dict(report.user_properties)
        row = self.rows.setdefault(report.nodeid, {"status": None, "claim": props.get("claim", ""),
                                                   "source": props.get("source", ""), "measured": "",
                                                   "reason": ""})
        for key in ("claim", "source", "measured", "reason"):
            if props.get(key):
                row[key] = props[key]
        if report.when == "call" or report.outcome in ("failed", "skipped"):
            if report.outcome == "failed":
                row["status"] = "FAIL"
                if not row["reason"]:
                    row["reason"] = _short_failure(report)
            elif report.outcome == "skipped":
                if row["status"] is None:
                    row["status"] = "SKIP"
                    row["reason"] = row["reason"] or _skip_reason(report)
            elif report.when == "call":
                row["status"] = props.get("claim_status", "PASS")

    def pytest_collectreport(self, report):
        if report.failed:
            self.rows[report.nodeid or "collection"] = {"status": "FAIL", "claim": "collection error",
                                                        "source": "", "measured": "",
                                                        "reason": _short_failure(report)}


def _short_failure(report) -> str:
    text = str(getattr(report, "longreprtext", "") or report.longrepr or "")
    lines = [ln for ln in text.splitlines() if ln.startswith("E ")]
    return (lines[0][1:].strip() if lines else text.strip().splitlines()[-1] if text.strip() else "error")[:200]


def _skip_reason(report) -> str:
    lr = report.longrepr
    if isinstance(lr, tuple) and len(lr) == 3:
        return str(lr[2]).replace("Skipped: ", "")
    return str(lr or "")


#: width of the CLAIM column of the ``kernapprox check`` table; longer claims wrap at word boundaries
CLAIM_WIDTH = 66


def _wrap_claim(text: str) -> list:
    """``text`` in lines of at most :data:`CLAIM_WIDTH` characters, broken between words only."""
    import textwrap
    return textwrap.wrap(" ".join(text.split()), CLAIM_WIDTH, break_long_words=False, break_on_hyphens=False) or [""]


def _cmd_check(args) -> int:
    try:
        import pytest
    except ImportError:
        print("kernapprox check needs pytest (pip install 'kernapprox[test]')", file=sys.stderr)
        return EXIT_FAIL
    folder = _paper_checks_dir()
    if folder is None:
        print("kernapprox check: the paper_checks/ folder was not found (run from a source checkout)",
              file=sys.stderr)
        return EXIT_FAIL
    pargs = [str(folder), "-q", "-p", "no:cacheprovider", "--no-header", "-rN", "--tb=short",
             "-o", "addopts=", "--rootdir", str(folder.parent)]
    pargs += ["--full", "-m", ""] if args.full else ["-m", "not slow"]
    if args.k:
        pargs += ["-k", args.k]
    collector = _ClaimCollector()
    t0 = time.perf_counter()
    code = pytest.main(pargs, plugins=[collector])
    # the demonstrations that every check can fail (paper_checks/test_checks_can_fail.py) are not claims:
    # they are summarised in one line instead of the table
    demos = {k: v for k, v in collector.rows.items() if _CAN_FAIL_FILE in k}
    rows = {k: v for k, v in collector.rows.items() if _CAN_FAIL_FILE not in k}
    print()
    print(f"{'STATUS':<15} {'CLAIM':<{CLAIM_WIDTH}} MEASURED / REASON")
    counts = {}
    for nodeid, row in rows.items():
        st = row["status"] or "FAIL"
        counts[st] = counts.get(st, 0) + 1
        claim = row["claim"] or nodeid.split("::")[-1]
        detail = row["measured"]
        if row["reason"]:
            detail = f"{detail}  ({row['reason']})" if detail else row["reason"]
        for i, part in enumerate(_wrap_claim(claim)):  # whole words; continuation lines under the claim
            print(f"{st if i == 0 else '':<15} {part:<{CLAIM_WIDTH}} {detail if i == 0 else ''}".rstrip())
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    print(f"\n{summary or 'no checks collected'} in {time.perf_counter() - t0:.1f} s "
          f"({'FULL' if args.full else 'QUICK'} configs)")
    demo_fail = [k.split("::")[-1] for k, v in demos.items() if (v["status"] or "FAIL") == "FAIL"]
    if demos:
        print(f"checks shown to fail on a perturbed key number: {len(demos) - len(demo_fail)} of {len(demos)}"
              + (f" (not shown: {', '.join(demo_fail)})" if demo_fail else ""))
    if not rows or counts.get("FAIL") or demo_fail or code not in (0, 5):
        return EXIT_FAIL
    return 0


# --------------------------------------------------------------------------------------------------
def add_command(sub, name: str, help: str, epilog: str) -> argparse.ArgumentParser:
    """A sub-command parser with a help line, the same text as description, and an examples epilog
    (``sub``: the object ``add_subparsers`` returned). Commands defined in other modules (the oracle's)
    register themselves with it."""
    p = sub.add_parser(name, help=help, description=help[:1].upper() + help[1:] + ".", epilog=epilog,
                       formatter_class=_Formatter)
    p.set_defaults(parser=p)  # the parser that reports this command's refused values
    return p




def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="kernapprox", formatter_class=_Formatter,
        description="kernapprox: regenerate the papers' figures, check their claims, export oracle cases.",
        epilog=examples("kernapprox list                         # the experiments",
                        "kernapprox run all --quick              # every figure, small configs, into ./out",
                        "kernapprox check --quick                # the paper-claim table",
                        "kernapprox demo                         # Nyström vs RPCholesky in a few seconds",
                        "kernapprox COMMAND --help               # options and examples of one command"))
    parser.add_argument("--version", action="version", version=f"kernapprox {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = add_command(sub, "demo", "a small Nyström demo: uniform landmarks vs RPCholesky, errors measured matrix-free",
             examples("kernapprox demo", "kernapprox demo --seed 3"))
    p.add_argument("--seed", type=seed_type, default=0, help="seed of the points and the landmarks (>= 0)")
    p.set_defaults(func=_cmd_demo)

    p = add_command(sub, "list", "list the experiments (one name at the start of each line)",
             examples("kernapprox list", "kernapprox list -v                      # with the paper figure / theorem"))
    p.add_argument("-v", "--verbose", action="store_true", help="also show the paper figure / theorem")
    p.set_defaults(func=_cmd_list)

    p = add_command(sub, "run", "run an experiment (or all) and write png/pdf + data/NAME.npz/.json",
             examples("kernapprox run all --quick              # every experiment, QUICK config, into ./out",
                      "kernapprox run samplers --quick --seed 1",
                      "kernapprox run skyformer-fig1 --out figures   # FULL config, as committed in figures/"))
    p.add_argument("name", help="experiment name (see `kernapprox list`) or 'all'")
    p.add_argument("--quick", action="store_true", help="small QUICK config (seconds) instead of FULL")
    p.add_argument("--seed", type=seed_type, default=0,
                   help="root seed (>= 0); per-trial generators are spawned from it")
    p.add_argument("--out", default="out", help="output folder (default ./out)")
    p.set_defaults(func=_cmd_run)

    p = add_command(sub, "plot", "re-draw a figure from its saved data (no recomputation)",
             examples("kernapprox plot skyformer-fig1 --out figures", "kernapprox plot all --out out"))
    p.add_argument("name", help="experiment name or 'all'")
    p.add_argument("--out", default="out", help="folder holding data/NAME.npz (default ./out)")
    p.set_defaults(func=_cmd_plot)

    p = add_command(sub, "check", "run the paper checks and print a PASS / FAIL / NOT-REPRODUCED table",
             examples("kernapprox check --quick", "kernapprox check --quick -k skyformer      # only matching checks",
                      "kernapprox check --full                 # FULL experiment configs (minutes)"))
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="QUICK experiment configs (default)")
    g.add_argument("--full", action="store_true", help="FULL experiment configs (minutes)")
    p.add_argument("-k", default=None, help="only checks matching this pytest -k expression")
    p.set_defaults(func=_cmd_check)

    # the oracle sub-commands live beside the oracle (kernapprox/oracle_cli.py)
    if importlib.util.find_spec("kernapprox.oracle_cli") is not None:
        from .oracle_cli import add_oracle_parser
        add_oracle_parser(sub)
    return parser


def _run(parser: argparse.ArgumentParser, argv) -> int:
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):  # bare `kernapprox` (or `kernapprox oracle`): the help, as a usage error
        getattr(args, "parser", parser).print_help(sys.stderr)
        raise SystemExit(EXIT_USAGE)
    where = getattr(args, "parser", parser)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        where.error(str(exc))
    except (ValueError, TypeError) as exc:
        # the library refuses a value with one message naming the argument (kernapprox._validation.fail)
        if os.environ.get(TRACEBACK_ENV, "") == "1":
            raise
        where.error(str(exc))


def main(argv=None) -> int:
    """Entry point of the ``kernapprox`` command: returns the exit status of a command that ran (0, or
    :data:`EXIT_FAIL`, or :data:`EXIT_BROKEN_PIPE`); a usage error prints one line on stderr and raises
    ``SystemExit(2)`` (argparse's convention, also for values refused after parsing); a bare command
    prints its help on stderr and raises ``SystemExit(2)``."""
    parser = build_parser()
    try:
        status = _run(parser, argv)
        sys.stdout.flush()  # a closed pipe shows up here for short outputs
        return status
    except BrokenPipeError:
        # the reader left (`kernapprox list | head -1`): no traceback, and no second error when Python
        # flushes stdout at exit (point it at devnull)
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (captured)
            pass
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
