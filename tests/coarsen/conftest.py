"""Fixtures of tests/coarsen: `tiered` (the tiered cpu target with its background compile held
at a gate). Reports how many generated programs each gradient property checked
(test_grad_properties records them with `record_property`; under pytest-xdist the counts travel
with the reports)."""
from __future__ import annotations

import threading

import pytest


@pytest.fixture
def tiered(monkeypatch, tmp_path):
    """Tiering on, a private cache, and a gate the background compile waits at."""
    from kernels import targets   # (imported by the tests that use it only)
    monkeypatch.setenv("COARSEN_TIERED", "1")
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(tmp_path))
    gate = threading.Event()
    compile_ = targets._NumbaFunction._compile

    def gated(self, args):
        assert gate.wait(120), "the test never opened the gate"
        compile_(self, args)
    monkeypatch.setattr(targets._NumbaFunction, "_compile", gated)
    yield gate
    gate.set()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    lines = []
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        if report.when != "call":
            continue
        for name, value in getattr(report, "user_properties", []):
            if str(name).startswith("generated programs: "):
                lines.append(f"{str(name).removeprefix('generated programs: ')}: {value}")
    if lines:
        terminalreporter.write_sep("-", "generated programs checked")
        for line in lines:
            terminalreporter.write_line(line)
