"""The whole stack as real processes for end-to-end tests: a Prefect server, a warm worker and the API.

Each runs in its own process group with its output in a log file under tmp, started and stopped
as `exportflow up` does it (deployments.supervisor); all of them (and their descendants, e.g. the
worker's forkserver and the flow runs forked from it) are killed at the end of the session, also
when a test fails. The worker can be killed (`kill -9`, its flow runs living on) and started again,
as a supervisor would. Nothing listens beyond 127.0.0.1, and no telemetry leaves the machine. The
Prefect server can be stopped and started again on the same port and database. Processes get a
clean environment: no PREFECT_* or EXPORTFLOW_* of the test process.
"""

import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
)
from prefect.client.schemas.objects import FlowRun

from deployments.prefect_server import CLIENT_ENVIRONMENT, prefect_server_command
from deployments.prefect_setup import set_up_prefect
from deployments.supervisor import answers_ok
from flows.appdb import migrations
from flows.appdb.engine import make_engine, session_factory, transaction
from flows.appdb.identity import create_user, issue_api_token
from flows.demo_warehouse import generate_demo_data
from flows.pipeline.sources import Source, parse_source
from flows.settings import Settings
from flows.vocabulary import Role
from tests.network import LOOPBACK, free_port
from tests.stack_parts import (
    BIN,
    PrefectServer,
    Service,
    StackUser,
    alive,
    clean_environment,
    exportflow_environment,
    prefect_client,
    start_worker,
)
from tests.summaries import Summary

SCHEDULER_LOOP_SECONDS = 5
"""How often the server's scheduler makes runs of new or resumed schedules (Prefect's default: 60 s)."""
WORKER_NAME = "e2e-warm-worker"
WORKER_LIMIT = 3
"""The worker's concurrency cap (EXPORTFLOW_WORKER_LIMIT): flow runs it runs at once."""
BIG_WAREHOUSE_ROWS = 200_000
"""Sales rows of the big warehouse: a PDF of them renders for ~13 s, long enough to cancel or kill."""


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


def _service(
    services: list[Service], root: Path, name: str, command: list[str], env: Mapping[str, str]
) -> Service:
    """A service running an executable of this virtualenv, registered for the teardown."""
    service = Service(
        name, [str(BIN / command[0]), *command[1:]], clean_environment(**env), root / f"{name}.log"
    )
    services.append(service)
    return service


def _is_forkserver(process: psutil.Process) -> bool:
    try:
        return any("multiprocessing.forkserver" in part for part in process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _live_children(process: psutil.Process) -> list[psutil.Process]:
    try:
        return alive(process.children())
    except psutil.NoSuchProcess:
        return []
