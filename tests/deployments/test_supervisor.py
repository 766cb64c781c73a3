"""deployments/supervisor.py with real processes: a tree that ignores SIGTERM still goes, within the grace
period; waits end on exit, timeout or a stop request."""

import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from deployments.supervisor import Child, ChildFailed, StopRequested, Supervisor, stop_tree

STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                  "time.sleep(60)"], start_new_session=True)
print("ready", flush=True)
time.sleep(60)
"""
"""Ignores SIGTERM, as `prefect worker start` does, and leaves a grandchild in a session of its own."""


def python(tmp_path: Path, name: str, code: str) -> Child:
    return Child(name, [sys.executable, "-c", code], {}, tmp_path / f"{name}.log")


def test_a_tree_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    supervisor = Supervisor()
    child = supervisor.start(python(tmp_path, "stubborn", STUBBORN))
    supervisor.wait_ready(child, lambda: "ready" in child.log.read_text(), "ready", timeout=30)
    time.sleep(0.5)  # the grandchild is started before "ready"; give it time to set its handler
    family = [psutil.Process(child.pid), *psutil.Process(child.pid).children(recursive=True)]
    assert len(family) == 2
    reported: list[tuple[str, float]] = []
    supervisor.stop(lambda stopped, seconds: reported.append((stopped.name, seconds)), grace_seconds=1.0)
    assert [name for name, _ in reported] == ["stubborn"]
    assert 1.0 <= reported[0][1] < 5.0
    _, alive = psutil.wait_procs(family, timeout=1)
    assert alive == []
    assert child.exit_code() is not None


def test_a_child_that_exits_while_awaited_fails_with_its_log(tmp_path: Path) -> None:
    supervisor = Supervisor()
    child = supervisor.start(python(tmp_path, "quitter", "raise SystemExit(3)"))
    with pytest.raises(ChildFailed, match=r"quitter exited with 3 \(log: .*quitter.log\)"):
        supervisor.wait_ready(child, lambda: False, "ready", timeout=30)
    supervisor.stop()


def test_a_stop_request_ends_a_wait_at_once(tmp_path: Path) -> None:
    supervisor = Supervisor()
    child = supervisor.start(python(tmp_path, "sleeper", "import time; time.sleep(60)"))
    threading.Timer(0.3, supervisor.stopping.set).start()
    began = time.monotonic()
    with pytest.raises(StopRequested):
        supervisor.wait_ready(child, lambda: False, "ready", timeout=30)
    assert time.monotonic() - began < 2
    stop_tree(child, grace_seconds=1.0)
    assert child.exit_code() is not None


def test_a_one_shot_child_runs_to_its_end_and_its_failure_is_reported(tmp_path: Path) -> None:
    supervisor = Supervisor()
    supervisor.run_to_end(python(tmp_path, "fine", "print('done')"), timeout=30)
    assert supervisor.children == []
    with pytest.raises(ChildFailed, match="broken exited with 1"):
        supervisor.run_to_end(python(tmp_path, "broken", "raise SystemExit(1)"), timeout=30)
    with pytest.raises(ChildFailed, match="slow: no exit within 1 s"):
        supervisor.run_to_end(python(tmp_path, "slow", "import time; time.sleep(60)"), timeout=1)
    supervisor.stop()
