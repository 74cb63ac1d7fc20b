"""Shared fixtures of the paper checks (one pytest file per numbered claim of a paper).

* ``--full``: run the experiments' FULL configs instead of QUICK (``kernapprox check --full``).
* ``experiment(name)``: the experiment's ``run(cfg, seed)`` data, computed once per session and
  config (QUICK by default), seed :data:`CHECK_SEED`; reuse it instead of re-implementing anything.
* ``claim(text, source)``: records what a check is about and its status for ``kernapprox check``:

  - ``c.measured(**numbers)`` — the numbers the check actually measured (shown in the table);
  - ``c.band(name, value, lo, hi)`` — the claim's key number and the band the claim states; asserts
    ``lo <= value <= hi`` (a number outside its band FAILS the check);
  - ``c.not_reproduced(reason, name=(value, lo, hi), ...)`` — the claim does not hold on our data:
    the check passes as NOT-REPRODUCED only while every named number stays inside the band recorded
    for it (``paper_checks/README.md``), so a regression or a silent change still FAILS;
  - a test that passes without ``not_reproduced`` is a PASS; a failing assertion or an error is a
    FAIL (an unexpected result or a broken check).
"""
from __future__ import annotations

import pytest

#: root seed of every paper check (recorded; the checks are deterministic)
CHECK_SEED = 20240601


def pytest_addoption(parser):
    try:
        parser.addoption("--full", action="store_true", default=False,
                         help="paper checks: use the experiments' FULL configs (slow)")
    except ValueError:  # already registered (e.g. by a root conftest)
        pass


@pytest.fixture(scope="session")
def check_seed() -> int:
    """The root seed of the paper checks (:data:`CHECK_SEED`)."""
    return CHECK_SEED


@pytest.fixture(scope="session")
def full_mode(request) -> bool:
    return bool(request.config.getoption("--full", default=False))


_CACHE: dict = {}


@pytest.fixture(scope="session")
def experiment(full_mode):
    """``experiment(name, **overrides) -> data``: run the experiment once per session (QUICK or FULL)."""
    import dataclasses

    from kernapprox.experiments import get

    def _run(name: str, **overrides):
        mod = get(name)
        cfg = mod.FULL if full_mode else mod.QUICK
        if overrides:
            cfg = dataclasses.replace(cfg, **overrides)
        key = (name, cfg)
        if key not in _CACHE:
            _CACHE[key] = mod.run(cfg, CHECK_SEED)
        return _CACHE[key]

    return _run


class Claim:
    """Recorder of one paper claim's status (read by ``kernapprox check`` via user_properties)."""

    def __init__(self, node, text: str, source: str):
        self._node = node
        self.text, self.source = text, source
        self.status = "PASS"
        self._set("claim", text)
        self._set("source", source)

    def _set(self, key, value):
        props = self._node.user_properties
        props[:] = [(k, v) for k, v in props if k != key]
        props.append((key, value))

    def measured(self, **numbers):
        """Record the measured numbers (formatted compactly in the table)."""
        def fmt(v):
            try:
                return f"{float(v):.3g}"
            except (TypeError, ValueError):
                return str(v)
        self._set("measured", ", ".join(f"{k}={fmt(v)}" for k, v in numbers.items()))

    def band(self, name: str, value, lo: float, hi: float):
        """Assert that the key number ``name`` lies in the band [lo, hi] the check states."""
        v = float(value)
        self._set(f"band:{name}", f"{v:.4g} in [{lo:g}, {hi:g}]")
        assert lo <= v <= hi, f"{self.text}: {name} = {v:.4g} left the band [{lo:g}, {hi:g}]"

    def not_reproduced(self, reason: str, **bands):
        """Mark the claim NOT REPRODUCED on our data; ``bands``: ``name=(value, lo, hi)`` — the measured
        numbers must stay inside the recorded bands (at least one), else the check fails."""
        assert bands, "a NOT-REPRODUCED claim must assert its measured numbers inside recorded bands"
        for name, (value, lo, hi) in bands.items():
            self.band(name, value, lo, hi)
        self.status = "NOT-REPRODUCED"
        self._set("claim_status", self.status)
        self._set("reason", reason)


@pytest.fixture
def claim(request):
    """``claim(text, source) -> Claim``; see the module docstring."""
    def _make(text: str, source: str) -> Claim:
        return Claim(request.node, text, source)
    return _make
