"""Polling helpers shared by the tests (a plain module: no fixtures, safe to import anywhere)."""

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_for(
    what: str | Callable[[], str], found: Callable[[], T | None], timeout: float, poll_seconds: float = 0.2
) -> T:
    """Poll `found` until it gives something true; fail saying `what` (called then, if a callable)."""
    deadline = time.monotonic() + timeout
    while True:
        value = found()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what if isinstance(what, str) else what()}: not within {timeout:.0f} s")
        time.sleep(poll_seconds)
