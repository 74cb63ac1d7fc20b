"""Prints the outcome counts of the contract fuzz suite at the end of the session."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))


def pytest_terminal_summary(terminalreporter):
    mod = sys.modules.get("_engine")
    if mod is None:
        return
    lines = mod.summary_lines()
    if lines:
        terminalreporter.section("contract fuzz outcomes")
        for line in lines:
            terminalreporter.write_line(line)
