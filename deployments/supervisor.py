"""Child processes started, watched and stopped together, leaving nothing behind.

Each child runs in a session (and process group) of its own, so a Ctrl-C in the terminal reaches
only the supervisor, which then stops the children in the order it chooses. Stopping sends SIGTERM
to the child's whole group and to every descendant found (a descendant may have started a group of
its own), then SIGKILL to whatever is still alive after the grace period: a child that ignores its
first SIGTERM, as `prefect worker start` does, cannot hold the shutdown up.

A supervisor that dies without stopping them (kill -9) takes its children along: each is started with
Linux's parent-death signal (PR_SET_PDEATHSIG) set to SIGTERM, so the kernel asks it to stop as soon
as the supervisor is gone.
"""

import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

STOP_GRACE_SECONDS = 6.0
READY_POLL_SECONDS = 0.25
PR_SET_PDEATHSIG = 1
"""From <linux/prctl.h>."""
_LIBC = ctypes.CDLL(None, use_errno=True)
"""Loaded here, not in a forked child, where loading a library could wait on a lock another thread held."""


class ChildFailed(RuntimeError):
    """A child exited when it should not have, or did not get ready in time."""


class StopRequested(Exception):
    """The supervisor was asked to stop while it waited for a child."""


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
                preexec_fn=_dies_with(os.getpid()),  # one prctl call, nothing else
            )

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    def exit_code(self) -> int | None:
        """None while running."""
        return None if self.process is None else self.process.poll()


class Supervisor:
    """Starts children in order and stops them in reverse order, each with its whole process tree."""

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.stopping = threading.Event()
        """Set (e.g. from a signal handler) to cut every wait short with StopRequested."""

    def start(self, child: Child) -> Child:
        self.children.append(child)
        child.start()
        return child

    def wait_ready(self, child: Child, ready: Callable[[], bool], what: str, timeout: float) -> None:
        """Poll `ready` until it holds; ChildFailed if the child exits first or time runs out."""
        self._wait(child, lambda: child.exit_code() is not None or ready(), f"{what} not", timeout)
        if child.exit_code() is not None:
            raise ChildFailed(f"{child.name} exited with {child.exit_code()} (log: {child.log})")

    def run_to_end(self, child: Child, timeout: float) -> None:
        """Run a one-shot child to its end; ChildFailed unless it exits with 0 in time."""
        self.start(child)
        self._wait(child, lambda: child.exit_code() is not None, "no exit", timeout)
        self.children.remove(child)
        if child.exit_code():
            raise ChildFailed(f"{child.name} exited with {child.exit_code()} (log: {child.log})")

    def _wait(self, child: Child, until: Callable[[], bool], failure: str, timeout: float) -> None:
        """Poll `until`; StopRequested as soon as `stopping` is set, ChildFailed past the timeout."""
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                raise ChildFailed(f"{child.name}: {failure} within {timeout:.0f} s (log: {child.log})")
            if self.stopping.wait(READY_POLL_SECONDS):
                raise StopRequested

    def first_exited(self) -> Child | None:
        """A child that has exited, if any."""
        return next((child for child in self.children if child.exit_code() is not None), None)

    def stop(
        self, report: Callable[[Child, float], None] | None = None, grace_seconds: float = STOP_GRACE_SECONDS
    ) -> None:
        """Stop every child, last started first, each within `grace_seconds` (then SIGKILL); `report`
        hears each child and the seconds its stop took."""
        while self.children:
            child = self.children.pop()
            began = time.monotonic()
            stop_tree(child, grace_seconds)
            if report is not None:
                report(child, time.monotonic() - began)


def _dies_with(supervisor: int) -> Callable[[], None]:
    """What a child runs between fork and exec: SIGTERM once `supervisor` is gone (and at once if it
    already went before the child could ask)."""

    def ask_for_sigterm() -> None:
        if _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != supervisor:
            os.kill(os.getpid(), signal.SIGTERM)

    return ask_for_sigterm


def answers_ok(url: str) -> bool:
    """Whether a GET of `url` answers 200 within 2 s: a child's readiness check."""
    try:
        return httpx.get(url, timeout=2.0).status_code == httpx.codes.OK
    except httpx.HTTPError:
        return False


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
