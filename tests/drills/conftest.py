"""What the drills report: each fault drill's counts, printed in the terminal summary."""

import pytest

from tests.summaries import Summary

FaultCounts = dict[str, dict[str, int]]
FAULT_COUNTS = Summary[dict[str, int]]("fault drills", lambda fault, counts: f"{fault}: {counts}")


@pytest.fixture
def fault_counts(pytestconfig: pytest.Config) -> FaultCounts:
    """Counts a fault drill measured (fault name to counts), printed in the terminal summary."""
    return FAULT_COUNTS.figures(pytestconfig)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    FAULT_COUNTS.write(terminalreporter, config)
