"""The command line: list, run, plot, check, demo, --version (kernapprox.cli)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernapprox import __version__, cli, experiments

ROOT = Path(__file__).resolve().parents[1]


def _env():
    env = dict(os.environ, KERNAPPROX_QUIET="1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out
    assert cli.main([]) == 0
    assert "run" in capsys.readouterr().out


def test_list_prints_one_name_at_the_start_of_each_line(capsys):
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == experiments.names()
    assert all("cannot import" not in ln for ln in lines)


def test_run_then_plot_without_recomputing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KERNAPPROX_QUIET", "1")
    out = tmp_path / "o"
    assert cli.main(["run", "skyformer-bound", "--quick", "--seed", "4", "--out", str(out)]) == 0
    for rel in ("skyformer-bound.png", "skyformer-bound.pdf", "data/skyformer-bound.npz", "data/skyformer-bound.json"):
        assert (out / rel).stat().st_size > 0
    prov = json.loads((out / "data" / "skyformer-bound.json").read_text())
    assert prov["seed"] == 4 and prov["mode"] == "quick"
    (out / "skyformer-bound.png").unlink()
    mod = experiments.get("skyformer-bound")
    monkeypatch.setattr(mod, "run", lambda *a, **k: pytest.fail("plot must not recompute"))
    assert cli.main(["plot", "skyformer-bound", "--out", str(out)]) == 0
    assert (out / "skyformer-bound.png").exists()
    assert "re-plotted" in capsys.readouterr().out


def test_run_is_reproducible_for_a_seed(tmp_path, monkeypatch):
    import numpy as np
    monkeypatch.setenv("KERNAPPROX_QUIET", "1")
    for sub in ("a", "b"):
        assert cli.main(["run", "skyformer-bound", "--quick", "--seed", "11", "--out", str(tmp_path / sub)]) == 0
    za = np.load(tmp_path / "a" / "data" / "skyformer-bound.npz")
    zb = np.load(tmp_path / "b" / "data" / "skyformer-bound.npz")
    assert all(np.array_equal(za[k], zb[k]) for k in za.files)


def test_plot_without_data_fails_cleanly(tmp_path, capsys):
    assert cli.main(["plot", "skyformer-bound", "--out", str(tmp_path)]) == cli.EXIT_FAIL
    assert "kernapprox run skyformer-bound" in capsys.readouterr().err


def test_unknown_experiment():
    with pytest.raises(SystemExit, match="unknown experiment"):
        cli.main(["run", "nope", "--quick"])


def test_check_prints_a_status_table_and_exit_code():
    """``kernapprox check --quick`` on two fast claims (the full suite runs as paper_checks/ itself)."""
    r = subprocess.run([sys.executable, "-m", "kernapprox", "check", "--quick", "-k", "lemma3 or block_error"],
                       cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "STATUS" in r.stdout and "PASS" in r.stdout and "Lemma 3" in r.stdout
    assert "2 PASS" in r.stdout


def test_check_collector_statuses():
    """The table logic: FAIL for failures, NOT-REPRODUCED from the claim fixture, SKIP for skips."""
    class Rep:
        def __init__(self, nodeid, when, outcome, props=(), longrepr=None):
            self.nodeid, self.when, self.outcome = nodeid, when, outcome
            self.user_properties = list(props)
            self.longrepr = longrepr
            self.longreprtext = str(longrepr or "")

    col = cli._ClaimCollector()
    col.pytest_runtest_logreport(Rep("a", "call", "passed", [("claim", "A")]))
    col.pytest_runtest_logreport(Rep("b", "call", "passed", [("claim", "B"), ("claim_status", "NOT-REPRODUCED"),
                                                             ("reason", "why")]))
    col.pytest_runtest_logreport(Rep("c", "call", "failed", [("claim", "C")], "E   assert 1 == 2"))
    col.pytest_runtest_logreport(Rep("d", "setup", "skipped", [], ("f", 1, "Skipped: no extra")))
    st = {k: v["status"] for k, v in col.rows.items()}
    assert st == {"a": "PASS", "b": "NOT-REPRODUCED", "c": "FAIL", "d": "SKIP"}
    assert col.rows["c"]["reason"] == "assert 1 == 2" and col.rows["d"]["reason"] == "no extra"


@pytest.mark.slow
def test_demo(capsys):
    assert cli.main(["demo"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "relative spectral error" in ln]
    errs = [float(ln.split()[-1]) for ln in lines]
    assert len(errs) == 3 and all(0 < e < 1 for e in errs) and errs == sorted(errs, reverse=True)
