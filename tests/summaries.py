"""Figures tests measure, kept for the end of the run and printed in the terminal summary (a plain
module: no fixtures, safe to import anywhere)."""

from collections.abc import Callable
from typing import Generic, TypeVar

import pytest

T = TypeVar("T")


class Summary(Generic[T]):
    """A section of the terminal summary: figures by name, each shown as one line."""

    def __init__(self, title: str, line: Callable[[str, T], str]) -> None:
        self.title = title
        self.line = line
        self.key = pytest.StashKey[dict[str, T]]()

    def figures(self, config: pytest.Config) -> dict[str, T]:
        """The figures of this run, for a test to add to."""
        return config.stash.setdefault(self.key, {})

    def write(self, terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
        """The section, when a test measured something (call from `pytest_terminal_summary`)."""
        figures = config.stash.get(self.key, {})
        if figures:
            terminalreporter.section(self.title)
            for name, figure in figures.items():
                terminalreporter.write_line(self.line(name, figure))
