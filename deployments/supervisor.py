"""Child processes started, watched and stopped together, leaving nothing behind.

Each child runs in a session (and process group) of its own, so a Ctrl-C in the terminal reaches
only the supervisor, which then stops the children in the order it chooses. Stopping sends SIGTERM
to the child's whole group and to every descendant found (a descendant may have started a group of
its own), then SIGKILL to whatever is still alive after the grace period: a child that ignores its
first SIGTERM, as `prefect worker start` does, cannot hold the shutdown up.
"""

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil

STOP_GRACE_SECONDS = 6.0
READY_POLL_SECONDS = 0.25


class ChildFailed(RuntimeError):
    """A child exited when it should not have, or did not get ready in time."""


@dataclass
class Child:
    """A long-running subprocess whose output goes to `log`."""

    name: str
    command: Sequence[str]
    env: Mapping[str, str] = field(repr=False)
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(  # noqa: S603  # our own executables, no shell
                list(self.command),
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    def exit_code(self) -> int | None:
        """None while running."""
        return None if self.process is None else self.process.poll()

    def wait_ready(self, ready: Callable[[], bool], what: str, timeout: float) -> None:
        """Poll `ready` until it holds; ChildFailed if the child exits first or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.exit_code()
            if code is not None:
                raise ChildFailed(f"{self.name} exited with {code} (log: {self.log})")
            if ready():
                return
            time.sleep(READY_POLL_SECONDS)
        raise ChildFailed(f"{self.name}: {what} not within {timeout:.0f} s (log: {self.log})")


class Supervisor:
    """Starts children in order and stops them in reverse order, each with its whole process tree."""

    def __init__(self) -> None:
        self.children: list[Child] = []

    def start(self, child: Child) -> Child:
        self.children.append(child)
        child.start()
        return child

    def first_exited(self) -> Child | None:
        """A child that has exited, if any."""
        return next((child for child in self.children if child.exit_code() is not None), None)

    def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """Stop every child, last started first, each within `grace_seconds` (then SIGKILL)."""
        while self.children:
            stop_tree(self.children.pop(), grace_seconds)


def stop_tree(child: Child, grace_seconds: float) -> None:
    """SIGTERM the child's group and descendants, SIGKILL whatever outlives the grace period, reap."""
    if child.process is None:
        return
    try:
        family = [psutil.Process(child.pid), *psutil.Process(child.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    _signal_group(child.pid, signal.SIGTERM)
    for member in family:
        _signal(member, signal.SIGTERM)
    _, alive = psutil.wait_procs(family, timeout=grace_seconds)
    _signal_group(child.pid, signal.SIGKILL)
    for member in alive:
        _signal(member, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=grace_seconds)
    with suppress(subprocess.TimeoutExpired):
        child.process.wait(timeout=grace_seconds)


def _signal_group(pid: int, signum: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _signal(process: psutil.Process, signum: signal.Signals) -> None:
    with suppress(psutil.NoSuchProcess):
        process.send_signal(signum)
