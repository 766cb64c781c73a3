"""The whole stack as real processes for end-to-end tests: a Prefect server, a warm worker and the API.

Each runs in its own process group with its output in a log file under tmp, started and stopped
as `exportflow up` does it (deployments.supervisor); all of them (and their descendants, e.g. the
worker's forkserver and the flow runs forked from it) are killed at the end of the session, also
when a test fails. The worker can be killed (`kill -9`, its flow runs living on) and started again,
as a supervisor would. Nothing listens beyond 127.0.0.1, and no telemetry leaves the machine. The
Prefect server can be stopped and started again on the same port and database. Processes get a
clean environment: no PREFECT_* or EXPORTFLOW_* of the test process.
"""

import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    WorkerFilter,
    WorkerFilterLastHeartbeatTime,
)
from prefect.client.schemas.objects import FlowRun
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.prefect_server import CLIENT_ENVIRONMENT, prefect_server_command
from deployments.prefect_setup import set_up_prefect
from deployments.supervisor import Child, answers_ok, stop_tree
from flows.appdb import migrations
from flows.appdb.engine import make_engine, session_factory, transaction
from flows.appdb.identity import create_user, issue_api_token
from flows.demo_warehouse import generate_demo_data
from flows.orchestration.pool import WORK_POOL
from flows.pipeline.sources import Source, parse_source
from flows.settings import Settings
from flows.vocabulary import Role
from tests.network import LOOPBACK, free_port
from tests.processes import inherited_environment
from tests.summaries import Summary

BIN = Path(sys.executable).parent
START_TIMEOUT_SECONDS = 90.0
STOP_GRACE_SECONDS = 5.0
SCHEDULER_LOOP_SECONDS = 5
"""How often the server's scheduler makes runs of new or resumed schedules (Prefect's default: 60 s)."""
WORKER_NAME = "e2e-warm-worker"
WORKER_LIMIT = 3
"""The worker's concurrency cap (EXPORTFLOW_WORKER_LIMIT): flow runs it runs at once."""
BIG_WAREHOUSE_ROWS = 200_000
"""Sales rows of the big warehouse: a PDF of them renders for ~13 s, long enough to cancel or kill."""
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
        return _alive(psutil.Process(self.pid).children(recursive=True))

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
class Stack:
    """Everything the end-to-end tests talk to."""

    settings: Settings
    prefect: PrefectServer
    worker: Service
    api: Service
    api_url: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.api_url}/api/v1", timeout=30.0)

    def prefect_client(self) -> AbstractContextManager[SyncPrefectClient]:
        return prefect_client(self.prefect.api_url)

    def start_worker(self) -> None:
        """Start the worker again (after `worker.kill()`), as a supervisor would."""
        start_worker(self.worker, self.prefect.api_url, WORKER_NAME)

    def export_runs(self, parameter: str, value: str) -> list[FlowRun]:
        """Runs of the export deployment whose `parameter` is `value` (the first 200 of the deployment)."""
        with self.prefect_client() as client:
            deployment = client.read_deployment_by_name(self.settings.export_deployment)
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id])),
                limit=200,
            )
        return [
            run
            for run in runs
            if run.deployment_id == deployment.id and str(run.parameters.get(parameter)) == value
        ]

    def flow_run_processes(self, flow_run_id: str) -> list[psutil.Process]:
        """The worker's process running this flow run, if any: the pid the worker stored on the run in
        Prefect (`infrastructure_pid`), when that process lives under the worker (in its forkserver)."""
        with self.prefect_client() as client:
            pid = client.read_flow_run(uuid.UUID(flow_run_id)).infrastructure_pid
        if not pid:
            return []
        return [process for process in self.worker.descendants() if str(process.pid) == pid]

    def flow_run_pids(self) -> set[int]:
        """Pids of the flow-run processes running now: the live children of the worker's forkserver."""
        return {
            child.pid
            for process in self.worker.descendants()
            if _is_forkserver(process)
            for child in _live_children(process)
        }


@dataclass(frozen=True)
class StackUser:
    id: uuid.UUID
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


MakeStackUser = Callable[[Role], StackUser]
Timings = dict[str, float]
TIMINGS = Summary[float]("timings through the real stack", lambda name, seconds: f"{name}: {seconds:.2f} s")


@pytest.fixture(scope="session")
def timings(pytestconfig: pytest.Config) -> Timings:
    """Durations a test measured (name to seconds), printed in the terminal summary."""
    return TIMINGS.figures(pytestconfig)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    TIMINGS.write(terminalreporter, config)


@pytest.fixture(scope="session")
def make_stack_user(stack: Stack) -> Iterator[MakeStackUser]:
    """Creates an active user of a role with an API token, straight in the stack's app database."""
    engine = make_engine(stack.settings.database_url)

    def make(role: Role) -> StackUser:
        with transaction(session_factory(engine)) as session:
            email = f"{role.value}-{uuid.uuid4().hex[:10]}@example.com"
            user = create_user(session, email, role, first_name="E2E")
            _, token = issue_api_token(session, user, "e2e")
            return StackUser(user.id, user.email, token)

    yield make
    engine.dispose()


@pytest.fixture(scope="session")
def big_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Source:
    """A DuckDB warehouse whose sales PDF takes long enough to be cancelled or killed mid-run."""
    source = parse_source(str(tmp_path_factory.mktemp("stack-warehouse") / "warehouse.duckdb"))
    generate_demo_data(source, rows=BIG_WAREHOUSE_ROWS)
    return source


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, big_warehouse: Source) -> Iterator[Stack]:
    """A Prefect server, the work pool and export deployment on it, a worker, and `exportflow api` (its
    background service included), sharing one SQLite app database, the big DuckDB warehouse and
    storage under one HOME."""
    root = tmp_path_factory.mktemp("stack")
    home = root / "home"
    api_port = free_port()
    api_url = f"http://{LOOPBACK}:{api_port}"
    settings = Settings(
        api_public_url=api_url,
        home=home,
        database_url=f"sqlite:///{root / 'app.db'}",
        source_url=str(big_warehouse.duckdb_path),
        rate_limit_requests=100_000,
        rate_limit_create_requests=100_000,
        reconcile_interval_seconds=2,
        heartbeat_lease_seconds=10,
    )
    migrations.upgrade(settings.database_url)
    exportflow_env = exportflow_environment(settings)
    services: list[Service] = []
    try:
        port = free_port()
        command = prefect_server_command(LOOPBACK, port)
        server_env = {
            "PREFECT_HOME": str(root / "prefect-server"),
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": str(SCHEDULER_LOOP_SECONDS),
        }
        server = _service(services, root, "prefect-server", command, server_env)
        prefect = PrefectServer(server, port)
        prefect.start()
        settings = settings.model_copy(update={"prefect_api_url": prefect.api_url})
        with prefect_client(prefect.api_url) as client:
            set_up_prefect(client, settings)
        prefect_env = {
            **CLIENT_ENVIRONMENT,
            "PREFECT_API_URL": prefect.api_url,
            "EXPORTFLOW_PREFECT_API_URL": prefect.api_url,
        }
        worker = _service(
            services,
            root,
            "worker",
            ["exportflow", "worker", "--name", WORKER_NAME],
            {
                **exportflow_env,
                **prefect_env,
                "PREFECT_HOME": str(root / "prefect-worker"),
                "EXPORTFLOW_WORKER_POLL_SECONDS": "0.5",
                "EXPORTFLOW_WORKER_LIMIT": str(WORKER_LIMIT),
                "PREFECT_WORKER_HEARTBEAT_SECONDS": "5",
            },
        )
        start_worker(worker, prefect.api_url, WORKER_NAME)
        api = _service(
            services,
            root,
            "api",
            ["exportflow", "api", "--host", LOOPBACK, "--port", str(api_port)],
            {**exportflow_env, **prefect_env, "PREFECT_HOME": str(root / "prefect-api")},
        )
        api.start()
        api.wait_until(lambda: answers_ok(f"{api_url}/health"), "the API answering")
        yield Stack(settings, prefect, worker, api, api_url)
    finally:
        for service in reversed(services):
            service.stop()


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


def _service(
    services: list[Service], root: Path, name: str, command: list[str], env: Mapping[str, str]
) -> Service:
    """A service running an executable of this virtualenv, registered for the teardown."""
    service = Service(
        name, [str(BIN / command[0]), *command[1:]], clean_environment(**env), root / f"{name}.log"
    )
    services.append(service)
    return service


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


def _is_forkserver(process: psutil.Process) -> bool:
    try:
        return any("multiprocessing.forkserver" in part for part in process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _live_children(process: psutil.Process) -> list[psutil.Process]:
    try:
        return _alive(process.children())
    except psutil.NoSuchProcess:
        return []


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The processes that still run (a zombie has exited, its parent has not reaped it yet)."""
    alive = []
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
    return alive
