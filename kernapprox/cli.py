"""Command line: ``kernapprox list | run | plot | check | oracle | demo`` (argparse).

Sub-commands are registered by small functions below; experiments and the oracle are imported
only when their sub-command runs, so ``kernapprox --version`` stays fast.

Main job::

    kernapprox run all --quick            # every experiment, QUICK config, into ./out
    kernapprox run skyformer-fig1 --out figures      # FULL config (the committed figures)
    kernapprox plot skyformer-fig1 --out figures     # re-draw from figures/data/ without recomputing
    kernapprox check --quick              # paper claims: PASS / FAIL / NOT-REPRODUCED table
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

from . import __version__

#: exit status of ``kernapprox check`` when a claim FAILS or the checks cannot run
EXIT_FAIL = 1


def _cmd_demo(args) -> int:
    """A small Nyström demo (runs without any optional dependency)."""
    import numpy as np

    import kernapprox as ka
    rng = np.random.default_rng(args.seed)
    X = rng.normal(size=(2000, 5))
    KM = ka.KernelMatrix(ka.Gaussian(bandwidth=2.0), X)
    K = KM.dense()
    norm_K = np.linalg.norm(K, 2)
    for k in (10, 50, 200):
        idx = rng.choice(X.shape[0], k, replace=False)
        approx = ka.nystrom(KM, idx, core="pinv")  # K[:, S] W^† K[S, :], the library's Nyström
        err = np.linalg.norm(K - approx.to_dense(), 2) / norm_K
        print(f"uniform Nyström k={k:4d}: relative spectral error {err:.3e}")
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
        raise SystemExit(f"kernapprox: unknown experiment {name!r}; `kernapprox list` shows the names")
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
        except Exception as exc:
            if len(names) == 1:
                raise
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
    print(f"{'STATUS':<15} {'CLAIM':<66} MEASURED / REASON")
    counts = {}
    for nodeid, row in rows.items():
        st = row["status"] or "FAIL"
        counts[st] = counts.get(st, 0) + 1
        claim = row["claim"] or nodeid.split("::")[-1]
        detail = row["measured"]
        if row["reason"]:
            detail = f"{detail}  ({row['reason']})" if detail else row["reason"]
        print(f"{st:<15} {claim[:66]:<66} {detail}")
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
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kernapprox", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"kernapprox {__version__}")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("demo", help="a small Nyström demo")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("list", help="list the experiments (one name at the start of each line)")
    p.add_argument("-v", "--verbose", action="store_true", help="also show the paper figure / theorem")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("run", help="run an experiment (or all) and write png/pdf + data/NAME.npz/.json")
    p.add_argument("name", help="experiment name (see `kernapprox list`) or 'all'")
    p.add_argument("--quick", action="store_true", help="small QUICK config (seconds) instead of FULL")
    p.add_argument("--seed", type=int, default=0, help="root seed; per-trial generators are spawned from it")
    p.add_argument("--out", default="out", help="output folder (default ./out)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("plot", help="re-draw a figure from its saved data (no recomputation)")
    p.add_argument("name", help="experiment name or 'all'")
    p.add_argument("--out", default="out", help="folder holding data/NAME.npz (default ./out)")
    p.set_defaults(func=_cmd_plot)

    p = sub.add_parser("check", help="run the paper checks and print a PASS / FAIL / NOT-REPRODUCED table")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="QUICK experiment configs (default)")
    g.add_argument("--full", action="store_true", help="FULL experiment configs (minutes)")
    p.add_argument("-k", default=None, help="only checks matching this pytest -k expression")
    p.set_defaults(func=_cmd_check)

    # hook for the oracle sub-command (kernapprox/oracle_cli.py, written by the oracle issue)
    if importlib.util.find_spec("kernapprox.oracle_cli") is not None:
        from .oracle_cli import _add_oracle_parser
        _add_oracle_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
