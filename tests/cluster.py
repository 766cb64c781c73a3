"""exportflow as production runs it, on one machine, for the scale and fault drills (benchmarks/scale.py,
tests/drills/). A plain module: no fixtures, usable from a test and from a drill command alike.

- the Prefect server on PostgreSQL (a database of its own on the machine's server);
- the app database on PostgreSQL: the machine's server, or a cluster the drill owns (`OwnedPostgres`,
  made with initdb in a scratch folder on a port of its own), which can be restarted with
  `-m immediate` without touching anybody else's databases;
- the source data in a PostgreSQL warehouse of demo data;
- S3 storage (moto in server mode, in this process) reached through a `FaultProxy`, and SMTP (aiosmtpd, in
  this process) that records every message;
- API replicas sharing their rate limits in Redis, each running the reconciler;
- warm workers, added, killed (`kill -9` of a worker with its forkserver and flow runs, as when its
  machine dies) and started again one at a time.

Every database it makes is dropped by `close`, every process stopped, every port on loopback.
"""

import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg
import s3fs
from aiosmtpd.controller import Controller
from moto.server import ThreadedMotoServer
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
from prefect.client.schemas.objects import FlowRun, StateType
from psycopg import sql
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from deployments.prefect_server import CLIENT_ENVIRONMENT, prefect_server_command
from deployments.prefect_setup import set_up_prefect
from deployments.supervisor import answers_ok
from flows.appdb import migrations
from flows.appdb.engine import make_engine, session_factory, transaction
from flows.appdb.identity import create_user, issue_api_token
from flows.appdb.models import DataExport, ExportStatistic
from flows.demo_warehouse import generate_demo_data
from flows.pipeline.sources import parse_source
from flows.settings import Settings
from flows.storage.keys import TEMP_DIR
from flows.storage.store import open_storage
from flows.vocabulary import ExportStatus, Role
from tests.fault_proxy import FaultProxy
from tests.network import LOOPBACK, free_port
from tests.smtp_recording import RecordingHandler
from tests.stack_parts import (
    BIN,
    PrefectServer,
    Service,
    StackUser,
    clean_environment,
    exportflow_environment,
    prefect_client,
    start_worker,
)

MACHINE_POSTGRES = os.environ.get(
    "EXPORTFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = "redis://127.0.0.1:6379/14"
"""Rate-limit buckets are per user, and every drill makes users of its own: they share nothing."""
AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "AKIADUMMYKEYFORDRILLS",
    "AWS_SECRET_ACCESS_KEY": "dummy-secret-that-must-never-be-logged",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}
CLUSTER_SETTINGS = ("storage_url", "s3_endpoint_url", "smtp_host", "smtp_port", "redis_url", "worker_limit")
"""Settings the cluster's processes get besides the test stack's (tests/prefect_stack.py)."""
FINAL_STATUSES = (ExportStatus.COMPLETED, ExportStatus.FAILED, ExportStatus.CANCELLED)


def _admin(url: str, statement: sql.Composed) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement)


def _database_url(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


@dataclass
class OwnedPostgres:
    """A PostgreSQL cluster of the drill's own: initdb in a new folder of the system's temporary folder
    (one the `postgres` system user can reach), trust auth, listening on loopback only; `stop` removes it.

    Run as the `postgres` system user when this process is root (PostgreSQL refuses to run as root)."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="exportflow-postgres-")))
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        """The server's output (never a pipe of ours: the server outlives pg_ctl)."""
        return self.root / "server.log"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/postgres"

    def create(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "--auth=trust", "--username=postgres", "--no-sync", "-D", str(self.data))
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses={LOOPBACK} -k {self.root} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def restart_immediately(self) -> None:
        """`pg_ctl restart -m immediate`: every connection cut, no checkpoint, crash recovery at start."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", "immediate", "-w", "restart")

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        with suppress(RuntimeError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *arguments: str) -> None:
        command = [str(_postgres_bin() / program), *arguments]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root, check=False)
        if done.returncode:
            raise RuntimeError(f"{program} exited with {done.returncode}: {done.stderr or done.stdout}")


def _postgres_bin() -> Path:
    """The newest installed PostgreSQL's server programs (Debian keeps them out of PATH)."""
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda path: int(path.parent.name))
    if not installed:
        raise RuntimeError("no PostgreSQL server programs under /usr/lib/postgresql")
    return installed[-1]


@dataclass
class Mail:
    """The SMTP server of the cluster, in this process, recording every message it accepts."""

    handler: RecordingHandler = field(default_factory=RecordingHandler)
    port: int = field(default_factory=free_port)

    def start(self) -> Controller:
        controller = Controller(self.handler, hostname=LOOPBACK, port=self.port)
        controller.start()
        return controller

    def ready_messages(self) -> Counter[str]:
        """'Export ready' messages received, counted by the export name in their subject."""
        return Counter(
            str(received.message["Subject"]).removeprefix("Export ready: ")
            for received in list(self.handler.received)
            if str(received.message["Subject"]).startswith("Export ready: ")
        )


@dataclass
class Tally:
    """How a set of exports ended, and everything that happened more or less than once."""

    exports: int
    statuses: Counter[str]
    attempts: Counter[int]
    """Exports by the attempt that ended them."""
    flow_runs: Counter[str]
    """Their flow runs, by final state type."""
    without_one_completed_run: dict[str, list[str]]
    """Completed exports with no completed flow run, or more than one: their runs' states and messages."""
    without_one_statistics_row: list[str]
    without_one_email: list[str]
    """Completed exports whose recipients did not get one ready email each."""
    stray_objects: list[str]
    """Stored files under an export's folder that are not its final file, and upload temporaries."""

    @property
    def stuck(self) -> int:
        return self.statuses[ExportStatus.PENDING] + self.statuses[ExportStatus.PROCESSING]

    @property
    def lost(self) -> int:
        """Exports that did not complete."""
        return self.exports - self.statuses[ExportStatus.COMPLETED]

    def counts(self) -> dict[str, int]:
        return {
            "exports": self.exports,
            "completed": self.statuses[ExportStatus.COMPLETED],
            "lost": self.lost,
            "stuck": self.stuck,
            "reattempted": sum(count for attempt, count in self.attempts.items() if attempt > 1),
            "crashed_runs": self.flow_runs[StateType.CRASHED.value],
            "duplicate_or_missing_runs": len(self.without_one_completed_run),
            "duplicate_or_missing_statistics": len(self.without_one_statistics_row),
            "duplicate_or_missing_emails": len(self.without_one_email),
            "stray_objects": len(self.stray_objects),
        }

    def problems(self) -> dict[str, object]:
        """Everything that is not exactly once, by name; empty when all is well."""
        found: dict[str, object] = {
            "not completed": {
                status: count for status, count in self.statuses.items() if status != "completed"
            },
            "not one completed flow run": self.without_one_completed_run,
            "not one statistics row": self.without_one_statistics_row,
            "not one email": self.without_one_email,
            "stray objects": self.stray_objects,
        }
        return {name: value for name, value in found.items() if value}


@dataclass
class Cluster:
    """The processes and services of one drill; `open_cluster` makes one and takes it down."""

    root: Path
    settings: Settings
    prefect: PrefectServer
    environment: dict[str, str]
    s3_proxy: FaultProxy
    mail: Mail
    sessions: sessionmaker[Session]
    app_postgres: OwnedPostgres | None = None
    apis: list[Service] = field(default_factory=list)
    workers: dict[str, Service] = field(default_factory=dict)

    @property
    def api_urls(self) -> list[str]:
        return [f"http://{LOOPBACK}:{service.command[-1]}/api/v1" for service in self.apis]

    def restart_app_postgres(self) -> None:
        """Restart the app database's own cluster at once (`-m immediate`)."""
        assert self.app_postgres is not None, "the cluster's app database is on the machine's server"
        self.app_postgres.restart_immediately()

    def start_api(self) -> Service:
        """One more API replica (with its reconciler), ready once it answers /health."""
        port = free_port()
        api = self._service(
            f"api-{len(self.apis) + 1}", ["exportflow", "api", "--host", LOOPBACK, "--port", str(port)]
        )
        api.start()
        api.wait_until(lambda: answers_ok(f"http://{LOOPBACK}:{port}/health"), "the API answering")
        self.apis.append(api)
        return api

    def add_worker(self) -> str:
        """One more warm worker on the pool; returns its name once it has reported to Prefect."""
        name = f"drill-worker-{len(self.workers) + 1}"
        worker = self._service(name, ["exportflow", "worker", "--name", name])
        self.workers[name] = worker
        start_worker(worker, self.prefect.api_url, name)
        return name

    def restart_worker(self, name: str) -> None:
        """Start a killed worker again under its name, as a process manager would."""
        self.workers[name].process = None
        start_worker(self.workers[name], self.prefect.api_url, name)

    def kill_worker_machine(self, name: str) -> int:
        """`kill -9` of the worker, its forkserver and every flow run it runs, at once (its machine died);
        returns how many processes were killed."""
        worker = self.workers[name]
        family = [psutil.Process(worker.pid), *worker.descendants()]
        for process in family:
            with suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(family, timeout=5)
        assert worker.process is not None
        worker.process.wait(timeout=5)
        return len(family)

    def worker_running(self, flow_run_id: uuid.UUID) -> str | None:
        """The name of the worker whose process tree runs this flow run now, if any."""
        with prefect_client(self.prefect.api_url) as client:
            pid = client.read_flow_run(flow_run_id).infrastructure_pid
        if not pid:
            return None
        for name, worker in self.workers.items():
            if worker.exit_code() is None and any(str(child.pid) == pid for child in worker.descendants()):
                return name
        return None

    def make_users(self, count: int, role: Role = Role.MANAGER) -> list[StackUser]:
        made = []
        with transaction(self.sessions) as session:
            for _ in range(count):
                user = create_user(session, f"drill-{uuid.uuid4().hex[:10]}@example.com", role)
                _, token = issue_api_token(session, user, "drill")
                made.append(StackUser(user.id, user.email, token))
        return made

    def wait_until_final(self, export_ids: list[uuid.UUID], timeout: float) -> float:
        """Wait until every export is completed, failed or cancelled (or time runs out); returns the
        seconds waited."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            with self.sessions() as session:
                active = session.scalar(
                    select(func.count())
                    .select_from(DataExport)
                    .where(DataExport.id.in_(export_ids), DataExport.status.not_in(FINAL_STATUSES))
                )
            if not active:
                break
            time.sleep(0.5)
        return time.monotonic() - began

    def tally(self, export_ids: list[uuid.UUID], settle_seconds: float = 15.0) -> Tally:
        """Count how the exports ended, their flow runs, statistics rows, emails and stored files.

        The last exports' flow runs may still be finishing, and their ready emails on their way, when
        their rows complete: both are waited for up to `settle_seconds`."""
        with self.sessions() as session:
            rows = list(session.scalars(select(DataExport).where(DataExport.id.in_(export_ids))))
            statistics = Counter(
                session.scalars(
                    select(ExportStatistic.export_id).where(ExportStatistic.export_id.in_(export_ids))
                )
            )
        completed = [row for row in rows if row.status == ExportStatus.COMPLETED]
        deadline = time.monotonic() + settle_seconds
        while True:
            runs = self._export_runs({str(export_id) for export_id in export_ids})
            finishing = any(
                run.state is None or not run.state.is_final() for ran in runs.values() for run in ran
            )
            emails = self.mail.ready_messages()
            missing = [row for row in completed if emails[row.export_name] != len(row.recipients)]
            if not (finishing or missing) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        return Tally(
            exports=len(export_ids),
            statuses=Counter(str(row.status) for row in rows),
            attempts=Counter(row.attempt for row in rows),
            flow_runs=Counter(run.state.type.value for ran in runs.values() for run in ran if run.state),
            without_one_completed_run={
                str(row.id): [
                    f"{run.state.name}: {run.state.message}" for run in runs[str(row.id)] if run.state
                ]
                for row in completed
                if sum(run.state is not None and run.state.is_completed() for run in runs[str(row.id)]) != 1
            },
            without_one_statistics_row=[str(row.id) for row in rows if statistics[row.id] != 1],
            without_one_email=[str(row.id) for row in missing],
            stray_objects=self._stray_objects(rows),
        )

    def _export_runs(self, export_ids: set[str]) -> dict[str, list[FlowRun]]:
        """Every flow run of the export deployment, by its export_id parameter, for these exports."""
        found: dict[str, list[FlowRun]] = defaultdict(list)
        with prefect_client(self.prefect.api_url) as client:
            deployment = client.read_deployment_by_name(self.settings.export_deployment)
            only_exports = FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]))
            offset = 0
            while page := client.read_flow_runs(flow_run_filter=only_exports, limit=200, offset=offset):
                for run in page:
                    export_id = str(run.parameters.get("export_id"))
                    if export_id in export_ids:
                        found[export_id].append(run)
                offset += len(page)
        return found

    def _stray_objects(self, rows: list[DataExport]) -> list[str]:
        storage = open_storage(self.settings)
        ids = {str(row.id): row for row in rows}
        stray = [
            key
            for key in storage.list_keys("exports")
            if (row := ids.get(key.split("/")[-2])) is not None and key != row.storage_key
        ]
        names = {row.storage_key.rsplit("/", 1)[-1] for row in rows if row.storage_key}
        return stray + [
            item.key
            for item in storage.list_objects(TEMP_DIR)
            if any(item.key.endswith(f"-{name}.part") for name in names)
        ]

    def _service(self, name: str, command: list[str]) -> Service:
        return Service(
            name,
            [str(BIN / command[0]), *command[1:]],
            clean_environment(**self.environment),
            self.root / f"{name}.log",
        )

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far by each part: the Prefect server, the API replicas, the workers (with
        their forkservers and flow runs, ended ones included) and the whole machine."""
        parts = {
            "prefect server": [self.prefect.service],
            "API replicas": self.apis,
            "workers and flow runs": list(self.workers.values()),
        }
        used = {
            name: sum(_tree_cpu_seconds(service) for service in services) for name, services in parts.items()
        }
        machine = psutil.cpu_times()
        return {**used, "machine": machine.user + machine.system + machine.nice}

    def stop(self) -> None:
        for service in [*self.workers.values(), *self.apis]:
            service.stop()


def _tree_cpu_seconds(service: Service) -> float:
    """CPU seconds of a running service's process and its live descendants, with their reaped children."""
    if service.exit_code() is not None or service.process is None:
        return 0.0
    total = 0.0
    for process in [psutil.Process(service.pid), *service.descendants()]:
        with suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


@contextmanager
def _scratch_database(admin_url: str, purpose: str) -> Iterator[str]:
    """A new database on the server of `admin_url`, dropped on exit; yields its URL."""
    name = f"exportflow_drill_{uuid.uuid4().hex[:8]}_{purpose}"
    _admin(admin_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _database_url(admin_url, name)
    finally:
        _admin(admin_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def open_cluster(
    root: Path,
    *,
    app_postgres: OwnedPostgres | None = None,
    warehouse_rows: int = 2_000,
    worker_limit: int = 4,
    lease_seconds: int = 10,
    rate_limit_requests: int = Settings.model_fields["rate_limit_requests"].default,
) -> Iterator[Cluster]:
    """Make the cluster's databases, services and Prefect server (no API, no worker yet: `start_api`,
    `add_worker`); take everything down on exit. The app database is on `app_postgres` when given (made
    here, stopped on exit), else on the machine's server."""
    with ExitStack() as stack:
        prefect_database = stack.enter_context(_scratch_database(MACHINE_POSTGRES, "prefect"))
        if app_postgres is not None:
            app_postgres.create()
            stack.callback(app_postgres.stop)
        app_admin_url = app_postgres.admin_url if app_postgres else MACHINE_POSTGRES
        app_database = stack.enter_context(_scratch_database(app_admin_url, "app"))
        warehouse = stack.enter_context(_scratch_database(MACHINE_POSTGRES, "warehouse"))
        generate_demo_data(parse_source(warehouse), rows=warehouse_rows)
        migrations.upgrade(app_database)

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
        moto = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        host, port = moto.get_host_and_port()
        s3_proxy = FaultProxy((host, port))
        stack.callback(s3_proxy.close)
        stack.enter_context(_environment(AWS_ENVIRONMENT))  # this process reads the bucket too (tally)
        bucket = f"drill-{uuid.uuid4().hex[:8]}"
        s3fs.S3FileSystem(endpoint_url=f"http://{host}:{port}", skip_instance_cache=True).mkdir(bucket)
        mail = Mail()
        stack.callback(mail.start().stop)

        prefect_port = free_port()
        prefect_service = Service(
            "prefect-server",
            prefect_server_command(LOOPBACK, prefect_port),
            clean_environment(
                PREFECT_HOME=str(root / "prefect-server"),
                PREFECT_SERVER_DATABASE_CONNECTION_URL=prefect_database.replace(
                    "postgresql://", "postgresql+asyncpg://"
                ),
            ),
            root / "prefect-server.log",
        )
        prefect = PrefectServer(prefect_service, prefect_port)
        stack.callback(prefect.stop)
        prefect.start()

        settings = Settings(
            home=root / "home",
            database_url=app_database,
            source_url=warehouse,
            storage_url=f"s3://{bucket}/files",
            s3_endpoint_url=s3_proxy.endpoint,
            smtp_host=LOOPBACK,
            smtp_port=mail.port,
            redis_url=REDIS_URL,
            api_public_url=f"http://{LOOPBACK}:8000",
            rate_limit_requests=rate_limit_requests,
            rate_limit_create_requests=10_000,
            reconcile_interval_seconds=2,
            heartbeat_lease_seconds=lease_seconds,
            worker_limit=worker_limit,
            prefect_api_url=prefect.api_url,
        )
        with prefect_client(prefect.api_url) as client:
            set_up_prefect(client, settings)
        engine = make_engine(app_database)
        stack.callback(engine.dispose)
        cluster = Cluster(
            root,
            settings,
            prefect,
            {
                **exportflow_environment(settings, *CLUSTER_SETTINGS),
                **CLIENT_ENVIRONMENT,
                **AWS_ENVIRONMENT,
                "PREFECT_API_URL": prefect.api_url,
                "EXPORTFLOW_PREFECT_API_URL": prefect.api_url,
                "EXPORTFLOW_WORKER_POLL_SECONDS": "0.5",
                "PREFECT_WORKER_HEARTBEAT_SECONDS": "5",
            },
            s3_proxy,
            mail,
            session_factory(engine),
            app_postgres,
        )
        stack.callback(cluster.stop)
        yield cluster


@contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
