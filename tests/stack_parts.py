"""The parts of a whole exportflow stack for end-to-end tests and drills: services in process groups of their
own, the Prefect server among them, a worker started until it reports, the environment they get (a plain
module: no fixtures, safe to import anywhere, e.g. from tests/prefect_stack.py and tests/cluster.py)."""

import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import WorkerFilter, WorkerFilterLastHeartbeatTime
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.supervisor import Child, answers_ok, stop_tree
from flows.orchestration.pool import WORK_POOL
from flows.settings import Settings
from tests.network import LOOPBACK
from tests.processes import inherited_environment

BIN = Path(sys.executable).parent
START_TIMEOUT_SECONDS = 90.0
STOP_GRACE_SECONDS = 5.0
NO_TELEMETRY = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_UI_ENABLED": "false",
    "PREFECT_SERVER_UI_ENABLED": "false",
}


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without Prefect or exportflow settings, telemetry off, plus `extra`."""
    return {**inherited_environment(), **NO_TELEMETRY, **extra}


@dataclass
class Service(Child):
    """A long-running subprocess in a process group of its own, its output appended to `log`."""

    orphans: list[psutil.Process] = field(default_factory=list, repr=False)
    """Descendants left running by `kill`; `stop` ends them too."""

    def start(self) -> None:
        assert self.process is None, f"{self.name} is already running"
        super().start()

    def stop(self) -> None:
        """SIGKILL to the orphans of a `kill`, then the process tree stopped as `exportflow up` does."""
        orphans, self.orphans = self.orphans, []
        for orphan in orphans:
            with suppress(psutil.NoSuchProcess):
                orphan.kill()
        psutil.wait_procs(orphans, timeout=STOP_GRACE_SECONDS)
        stop_tree(self, STOP_GRACE_SECONDS)
        self.process = None

    def kill(self) -> None:
        """`kill -9` of the main process alone, as a crash would: its descendants live on, orphaned."""
        assert self.process is not None, f"{self.name} is not running"
        process, self.process = self.process, None
        self.orphans += psutil.Process(process.pid).children(recursive=True)
        process.kill()
        process.wait(timeout=STOP_GRACE_SECONDS)

    def descendants(self) -> list[psutil.Process]:
        """Every live process under this one (zombies left out)."""
        return alive(psutil.Process(self.pid).children(recursive=True))

    def wait_until(
        self, ready: Callable[[], bool], what: str, timeout: float = START_TIMEOUT_SECONDS
    ) -> None:
        """Poll `ready` until it holds; fail with the end of the log if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exit_code() is not None:
                pytest.fail(f"{self.name} exited with {self.exit_code()}:\n{self.log_tail()}")
            if ready():
                return
            time.sleep(0.2)
        pytest.fail(f"{self.name}: {what} not within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class PrefectServer:
    """The embedded Prefect server (as `exportflow up` runs it) on a fixed loopback port, its SQLite
    database under `home`."""

    service: Service
    port: int

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/api"

    def start(self) -> None:
        self.service.start()
        self.service.wait_until(lambda: answers_ok(f"{self.api_url}/health"), "the API answering")

    def stop(self) -> None:
        self.service.stop()


@contextmanager
def prefect_client(api_url: str) -> Iterator[SyncPrefectClient]:
    """A Prefect client of this process talking to `api_url` (whatever Prefect settings are active)."""
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        yield client


@dataclass(frozen=True)
class StackUser:
    id: uuid.UUID
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


STACK_SETTINGS = (
    "home",
    "database_url",
    "source_url",
    "api_public_url",
    "rate_limit_requests",
    "rate_limit_create_requests",
    "reconcile_interval_seconds",
    "heartbeat_lease_seconds",
)
"""The settings a stack's processes get from the test's Settings, as EXPORTFLOW_* variables."""


def exportflow_environment(settings: Settings, *names: str) -> dict[str, str]:
    """EXPORTFLOW_* variables giving a process the stack's settings and the fields `names` of `settings`."""
    return {f"EXPORTFLOW_{name.upper()}": str(getattr(settings, name)) for name in (*STACK_SETTINGS, *names)}


def start_worker(worker: Service, api_url: str, name: str) -> None:
    """Start the worker; ready once it has registered with Prefect (its first heartbeat, sent just
    before it warms its forkserver up and polls: runs created meanwhile wait for that poll).

    A fresh heartbeat, not the ONLINE status: a worker of the same name killed a moment ago is still
    ONLINE."""
    started = datetime.now(UTC)
    worker.start()
    worker.wait_until(lambda: _worker_beat_since(api_url, name, started), "the worker's first heartbeat")


def _worker_beat_since(api_url: str, name: str, since: datetime) -> bool:
    with prefect_client(api_url) as client:
        recent = WorkerFilter(last_heartbeat_time=WorkerFilterLastHeartbeatTime(after_=since))
        workers = client.read_workers_for_work_pool(WORK_POOL, worker_filter=recent)
    return any(worker.name == name for worker in workers)


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The processes that still run (a zombie has exited, its parent has not reaped it yet)."""
    alive = []
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
    return alive
