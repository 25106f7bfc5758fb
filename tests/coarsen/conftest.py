"""Reports how many generated programs each gradient property checked (test_grad_properties
records them with `record_property`; under pytest-xdist the counts travel with the reports)."""
from __future__ import annotations


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
