"""The command line: list, run, plot, check, demo, oracle, --version, usage errors (kernapprox.cli).

End-to-end runs use a shrunk QUICK config of one experiment (the experiments themselves are exercised by
tests/test_experiments.py); the full ``kernapprox check`` subprocess run is marked ``slow`` (the paper
checks run as paper_checks/ in the default suite).
"""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kernapprox import __version__, cli, experiments

ROOT = Path(__file__).resolve().parents[1]
#: the experiment the run / plot tests drive through the CLI, and its QUICK config shrunk for speed
EXPERIMENT = "skyformer-bound"
SMALL = dict(n=32, scales=(0.15, 1.0), ds=(8, 64), trials=2)


def _env():
    env = dict(os.environ, KERNAPPROX_QUIET="1", PYTHONPATH=str(ROOT))
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


@pytest.fixture
def small_quick(monkeypatch):
    """``kernapprox run EXPERIMENT --quick`` runs the shrunk config (still recorded as mode "quick")."""
    monkeypatch.setenv("KERNAPPROX_QUIET", "1")
    mod = experiments.get(EXPERIMENT)
    monkeypatch.setattr(mod, "QUICK", dataclasses.replace(mod.QUICK, **SMALL))
    return mod


def test_version_and_bare_command_prints_help_and_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out
    for argv in ([], ["oracle"]):
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        assert exc.value.code == cli.EXIT_USAGE
        err = capsys.readouterr().err
        assert err.startswith("usage: kernapprox") and "examples:" in err


def _all_parsers(parser, prefix=("kernapprox",)):
    import argparse
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _all_parsers(sub, prefix + (name,))


def test_every_command_has_help_with_examples():
    parsers = list(_all_parsers(cli.build_parser()))
    names = {" ".join(p) for p, _ in parsers}
    assert {"kernapprox run", "kernapprox check", "kernapprox demo", "kernapprox oracle export"} <= names
    for prefix, parser in parsers:
        text = parser.format_help()
        assert "examples:" in text, prefix
        examples = [ln.strip() for ln in text.split("examples:")[1].splitlines() if ln.strip()]
        # every example line is a command of this parser (or a continuation of one)
        assert examples and all(ln.startswith(" ".join(prefix[:2])) or ln.startswith("--") for ln in examples), prefix


@pytest.mark.parametrize("argv, fragment", [
    (["run", "skyformer-bound", "--seed", "-1"], "argument --seed: must be an integer >= 0; got -1"),
    (["run", "skyformer-bound", "--seed", "1.5"], "argument --seed: must be an integer; got '1.5'"),
    (["run", "nope", "--quick"], "unknown experiment 'nope'"),
    (["plot", "nope"], "unknown experiment 'nope'"),
    (["demo", "--seed", "x"], "argument --seed: must be an integer"),
    (["oracle", "export", "--method", "skyformer", "--n", "0"], "argument --n: must be an integer >= 2; got 0"),
    (["oracle", "export", "--method", "skyformer", "--n", "16", "--d", "0"], "argument --d: must be an integer >= 1"),
    (["oracle", "export", "--method", "nope", "--n", "16"], "unknown method 'nope'"),
    (["oracle", "export", "--method", "skyformer", "--n", "16", "--variant", "nope"], "has no variant 'nope'"),
    (["oracle", "export", "--method", "skyformer", "--n", "16", "--dtype", "int8"], "argument --dtype: invalid choice"),
    (["check", "--quick", "--full"], "not allowed with argument"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_usage_errors_are_one_line_and_exit_2(argv, fragment, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv + (["--out", str(tmp_path)] if argv[0] == "oracle" else []))
    assert exc.value.code == cli.EXIT_USAGE
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kernapprox") and ": error: " in lines[0], captured.err
    assert fragment in lines[0]
    assert captured.out == "" and not list(tmp_path.iterdir())


def test_a_value_the_library_refuses_is_a_one_line_usage_error(monkeypatch, capsys, tmp_path):
    from kernapprox import oracle
    from kernapprox._validation import fail

    def refuse(*a, **k):
        raise fail("oracle.case", "d", "be <= n + m", 999)

    monkeypatch.setattr(oracle, "case", refuse)
    argv = ["oracle", "export", "--method", "skyformer", "--n", "16", "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == cli.EXIT_USAGE
    assert capsys.readouterr().err.strip() == ("kernapprox oracle export: error: oracle.case: `d` must be <= n + m; "
                                               "got 999 (see `kernapprox oracle export --help`)")
    monkeypatch.setenv(cli.TRACEBACK_ENV, "1")
    with pytest.raises(ValueError, match="`d` must be <= n"):
        cli.main(argv)


def test_a_failing_experiment_exits_1_without_traceback(small_quick, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(small_quick, "run", lambda *a, **k: 1 / 0)
    assert cli.main(["run", EXPERIMENT, "--quick", "--out", str(tmp_path)]) == cli.EXIT_FAIL
    out = capsys.readouterr().out
    assert f"{EXPERIMENT}: FAILED (ZeroDivisionError" in out and "1 experiment(s) failed" in out


def test_list_prints_one_name_at_the_start_of_each_line(capsys):
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == experiments.names()
    assert all("cannot import" not in ln for ln in lines)


def test_closed_stdout_is_not_an_error():
    """``kernapprox list | head -1``: the reader leaves; no traceback, exit 141 (128 + SIGPIPE)."""
    proc = subprocess.Popen([sys.executable, "-m", "kernapprox", "list"], cwd=ROOT, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == cli.EXIT_BROKEN_PIPE
    assert err == ""


def test_run_then_plot_without_recomputing(small_quick, tmp_path, capsys, monkeypatch):
    out = tmp_path / "o"
    assert cli.main(["run", EXPERIMENT, "--quick", "--seed", "4", "--out", str(out)]) == 0
    for ext in (".png", ".pdf"):
        assert (out / f"{EXPERIMENT}{ext}").stat().st_size > 0
    for ext in (".npz", ".json"):
        assert (out / "data" / f"{EXPERIMENT}{ext}").stat().st_size > 0
    prov = json.loads((out / "data" / f"{EXPERIMENT}.json").read_text())
    assert prov["seed"] == 4 and prov["mode"] == "quick" and prov["config"]["n"] == SMALL["n"]
    (out / f"{EXPERIMENT}.png").unlink()
    monkeypatch.setattr(small_quick, "run", lambda *a, **k: pytest.fail("plot must not recompute"))
    assert cli.main(["plot", EXPERIMENT, "--out", str(out)]) == 0
    assert (out / f"{EXPERIMENT}.png").exists()
    assert "re-plotted" in capsys.readouterr().out


def test_run_is_reproducible_for_a_seed(small_quick, tmp_path):
    for sub in ("a", "b"):
        assert cli.main(["run", EXPERIMENT, "--quick", "--seed", "11", "--out", str(tmp_path / sub)]) == 0
    za = np.load(tmp_path / "a" / "data" / f"{EXPERIMENT}.npz")
    zb = np.load(tmp_path / "b" / "data" / f"{EXPERIMENT}.npz")
    assert za.files and all(np.array_equal(za[k], zb[k]) for k in za.files)


def test_plot_without_data_fails_cleanly(tmp_path, capsys):
    assert cli.main(["plot", EXPERIMENT, "--out", str(tmp_path)]) == cli.EXIT_FAIL
    assert f"kernapprox run {EXPERIMENT}" in capsys.readouterr().err


@pytest.mark.slow
def test_check_prints_a_status_table_and_exit_code():
    """``kernapprox check --quick`` on two fast claims, end to end in a subprocess."""
    r = subprocess.run([sys.executable, "-m", "kernapprox", "check", "--quick", "-k", "lemma3 or block_error"],
                       cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "STATUS" in r.stdout and "PASS" in r.stdout and "Lemma 3" in r.stdout
    assert "2 PASS" in r.stdout


class _Rep:
    """A minimal pytest TestReport for the claim collector."""

    def __init__(self, nodeid, when, outcome, props=(), longrepr=None):
        self.nodeid, self.when, self.outcome = nodeid, when, outcome
        self.user_properties = list(props)
        self.longrepr = longrepr
        self.longreprtext = str(longrepr or "")


def test_check_table_wraps_long_claims_between_words(monkeypatch, capsys):
    """The table from fed reports (no pytest run): whole words only, status and detail on the first line,
    exit 1 when a claim FAILS."""
    import pytest as real_pytest
    long_claim = ("Accumulated sub-sampling (m > 1) beats plain sub-sampling (m = 1) for sketched KRR on "
                  "high-coherence, cluster-plus-outliers designs at every sketch size of the sweep")

    def fake_main(args, plugins):
        (col,) = plugins
        col.pytest_runtest_logreport(_Rep("p::a", "call", "passed", [("claim", long_claim), ("measured", "r=0.5")]))
        col.pytest_runtest_logreport(_Rep("p::b", "call", "failed", [("claim", "Short claim")], "E   assert 1 == 2"))
        return 1

    monkeypatch.setattr(real_pytest, "main", fake_main)
    assert cli.main(["check", "--quick"]) == cli.EXIT_FAIL
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.strip()]
    i = next(i for i, ln in enumerate(rows) if ln.startswith("PASS"))
    width = 15 + 1 + cli.CLAIM_WIDTH
    first, cont = rows[i], rows[i + 1]
    assert first.rstrip().endswith("r=0.5") and cont.startswith(" " * 16)
    pieces = [rows[i][16:width].strip()] + [ln[16:].strip() for ln in rows[i + 1:] if ln.startswith(" " * 16)]
    assert " ".join(pieces) == long_claim  # nothing cut, every break between words
    assert all(len(p) <= cli.CLAIM_WIDTH for p in pieces) and len(pieces) >= 2
    assert any(ln.startswith("FAIL") and "Short claim" in ln and "assert 1 == 2" in ln for ln in rows)
    assert "1 FAIL, 1 PASS" in out


def test_check_collector_statuses():
    """The table logic: FAIL for failures, NOT-REPRODUCED from the claim fixture, SKIP for skips."""
    col = cli._ClaimCollector()
    col.pytest_runtest_logreport(_Rep("a", "call", "passed", [("claim", "A")]))
    col.pytest_runtest_logreport(_Rep("b", "call", "passed", [("claim", "B"), ("claim_status", "NOT-REPRODUCED"),
                                                              ("reason", "why")]))
    col.pytest_runtest_logreport(_Rep("c", "call", "failed", [("claim", "C")], "E   assert 1 == 2"))
    col.pytest_runtest_logreport(_Rep("d", "setup", "skipped", [], ("f", 1, "Skipped: no extra")))
    st = {k: v["status"] for k, v in col.rows.items()}
    assert st == {"a": "PASS", "b": "NOT-REPRODUCED", "c": "FAIL", "d": "SKIP"}
    assert col.rows["c"]["reason"] == "assert 1 == 2" and col.rows["d"]["reason"] == "no extra"


def test_demo(monkeypatch, capsys):
    """The demo on a smaller cloud (the command's n = cli.DEMO_N takes a few seconds): errors in (0, 1),
    falling with k for both samplers."""
    monkeypatch.setattr(cli, "DEMO_N", 400)
    assert cli.main(["demo", "--seed", "1"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("k =")]
    errs = np.array([[float(w) for w in ln.split() if "e-" in w] for ln in lines])  # (k, [uniform, rpcholesky])
    assert errs.shape == (3, 2) and np.all((errs > 0) & (errs < 1))
    assert np.all(np.diff(errs, axis=0) < 0)
