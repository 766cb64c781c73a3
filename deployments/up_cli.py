"""`exportflow up`: the whole service on one machine, as supervised child processes.

In order: the app database migrated, the demo warehouse generated if absent, a first super_admin
on an empty instance; then a Prefect server on SQLite under HOME/prefect (unless
EXPORTFLOW_PREFECT_API_URL names one), the work pool, queues and deployments, a warm worker, and
the API (which also runs the reconciler and the schedule sync). Ctrl-C or SIGTERM stops them all in
reverse order (worker, API, Prefect server), each within the supervisor's grace period. Children log
to HOME/logs/<name>.log.
"""

import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Annotated

import httpx
import typer

from deployments.cli_support import EXIT_FAILURE, console, errors, load_settings
from deployments.prefect_server import CLIENT_ENVIRONMENT, prefect_server_command
from deployments.supervisor import Child, ChildFailed, StopRequested, Supervisor, answers_ok
from flows.orchestration.pool import WORK_POOL
from flows.orchestration.prefect_config import configure_prefect
from flows.settings import Settings

BOOTSTRAP_EMAIL = "admin@example.com"
BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"
PREFECT_START_TIMEOUT_SECONDS = 120.0
"""A first start migrates Prefect's own database."""
CHILD_START_TIMEOUT_SECONDS = 60.0
SCHEDULER_LOOP_SECONDS = 10
"""How soon the embedded Prefect server makes the runs of a new or resumed schedule (its default: 60)."""
WATCH_SECONDS = 0.5


def up(
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="API port (default EXPORTFLOW_API_PORT).", show_default=False),
    ] = None,
    prefect_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Prefect server port (default EXPORTFLOW_PREFECT_PORT).",
            show_default=False,
        ),
    ] = None,
    demo_rows: Annotated[
        int, typer.Option(help="Sales rows of the demo warehouse, when it has to be generated.")
    ] = 100_000,
    serve: Annotated[
        bool, typer.Option(help="Start the services when prepared; --no-serve: prepare only.")
    ] = True,
) -> None:
    """Prepare the embedded defaults and run Prefect, a worker and the API until Ctrl-C or SIGTERM."""
    settings = load_settings()
    os.environ.setdefault("PREFECT_HOME", str(settings.home / "prefect"))
    configure_prefect(settings)  # telemetry off for every child (and PREFECT_API_URL when one is set)
    token = _prepare(settings, demo_rows)
    if not serve:
        if token:
            _print_token(token)
        return
    api_port = port or settings.api_port
    if "api_public_url" not in settings.model_fields_set:
        settings = settings.model_copy(update={"api_public_url": f"http://{LOOPBACK}:{api_port}"})
    code = _run(settings, api_port, prefect_port or settings.prefect_port, token)
    if code:
        raise typer.Exit(code)


def _prepare(settings: Settings, demo_rows: int) -> str | None:
    """Migrate, generate the demo warehouse if absent; the first super_admin's token on an empty instance."""
    from flows.appdb import migrations
    from flows.demo_warehouse import generate_demo_data, warehouse_is_populated
    from flows.pipeline.sources import parse_source

    migrations.upgrade(settings.database_url)
    console.print(f"app database ready: {settings.masked()['database_url']}")
    source = parse_source(settings.source_url)
    if not warehouse_is_populated(source):
        report = generate_demo_data(source, rows=demo_rows)
        console.print(f"demo warehouse generated in {report.seconds:.1f} s")
    console.print(f"warehouse ready: {settings.masked()['source_url']}")
    return _bootstrap_super_admin()


def _bootstrap_super_admin() -> str | None:
    """On an instance without users, create the first super_admin; its API token (else None)."""
    from sqlalchemy import func, select

    from flows.appdb.engine import app_sessions, transaction
    from flows.appdb.identity import create_user, issue_api_token
    from flows.appdb.models import User
    from flows.vocabulary import Role

    with transaction(app_sessions()) as session:
        if session.scalar(select(func.count()).select_from(User)):
            return None
        user = create_user(session, BOOTSTRAP_EMAIL, Role.SUPER_ADMIN, first_name="Admin")
        _, token = issue_api_token(session, user, "bootstrap")
    return token


def _print_token(token: str) -> None:
    console.print(f"first user {BOOTSTRAP_EMAIL} (super_admin); its API token, shown only now:")
    console.print(token, soft_wrap=True)


def _run(settings: Settings, api_port: int, prefect_port: int, token: str | None) -> int:
    """Start every child, watch them until a signal or an unexpected exit, stop them all; the exit code."""
    supervisor = Supervisor()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        supervisor.stopping.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        _start(supervisor, settings, api_port, prefect_port, token)
        while not supervisor.stopping.wait(WATCH_SECONDS):
            if (exited := supervisor.first_exited()) is not None:
                errors.print(f"{exited.name} exited with {exited.exit_code()}; see {exited.log}. Stopping.")
                code = EXIT_FAILURE
                break
    except StopRequested:
        pass
    except ChildFailed as failure:
        errors.print(f"[red]{failure}[/red]")
        code = EXIT_FAILURE
    console.print("stopping ...")
    supervisor.stop(lambda child, seconds: console.print(f"{child.name} stopped in {seconds:.1f} s"))
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    console.print("stopped")
    return code


def _start(
    supervisor: Supervisor, settings: Settings, api_port: int, prefect_port: int, token: str | None
) -> None:
    began = time.monotonic()
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    prefect_api = settings.prefect_api_url or f"http://{LOOPBACK}:{prefect_port}/api"
    own_server = not settings.prefect_api_url
    # The embedded server's 503s name short waits, so its clients may retry more often than five times.
    environment = {
        **(CLIENT_ENVIRONMENT if own_server else {}),
        **os.environ,
        "EXPORTFLOW_HOME": str(settings.home),
        "EXPORTFLOW_PREFECT_API_URL": prefect_api,
        "EXPORTFLOW_API_PORT": str(api_port),
        "EXPORTFLOW_API_PUBLIC_URL": settings.api_public_url,
    }
    server = None
    if own_server:
        server = supervisor.start(prefect_server(prefect_port, os.environ, logs / "prefect-server.log"))
        console.print(f"starting the Prefect server, the API and a worker (logs: {logs}) ...")
    # The API starts at once: until Prefect answers it keeps new exports pending (its reconciler starts them).
    api_url = f"http://{settings.api_host}:{api_port}"
    api = supervisor.start(
        Child("api", [str(BIN / "exportflow"), "api", "--port", str(api_port)], environment, logs / "api.log")
    )
    if server is not None:
        supervisor.wait_ready(
            server, lambda: answers_ok(f"{prefect_api}/health"), "its API", PREFECT_START_TIMEOUT_SECONDS
        )
        console.print(f"Prefect server ready ({_since(began)})")
    worker_name = f"up-{os.getpid()}"
    worker = supervisor.start(
        Child(
            "worker",
            [str(BIN / "exportflow"), "worker", "--name", worker_name],
            environment,
            logs / "worker.log",
        )
    )
    deploy = Child("deploy", [str(BIN / "exportflow"), "deploy"], environment, logs / "deploy.log")
    supervisor.run_to_end(deploy, CHILD_START_TIMEOUT_SECONDS)
    console.print(f"work pool and deployments ready ({_since(began)})")
    supervisor.wait_ready(
        worker,
        lambda: _worker_online(prefect_api, worker_name),
        "online in Prefect",
        CHILD_START_TIMEOUT_SECONDS,
    )
    console.print(f"worker online ({_since(began)})")
    supervisor.wait_ready(
        api, lambda: answers_ok(f"{api_url}/health"), "its /health", CHILD_START_TIMEOUT_SECONDS
    )
    console.print(f"API answering ({_since(began)})")
    _print_banner(api_url, prefect_api.removesuffix("/api"), logs, token)


def prefect_server(port: int, environment: Mapping[str, str], log: Path) -> Child:
    """The embedded Prefect server (deployments/prefect_server.py) on loopback, UI on; new schedules get
    runs within SCHEDULER_LOOP_SECONDS."""
    return Child(
        "prefect-server",
        prefect_server_command(LOOPBACK, port),
        {**environment, "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": str(SCHEDULER_LOOP_SECONDS)},
        log,
    )


def _worker_online(prefect_api: str, name: str) -> bool:
    """Whether the worker of this name has reported to Prefect (its REST API, to keep Prefect out of here)."""
    try:
        answer = httpx.post(f"{prefect_api}/work_pools/{WORK_POOL}/workers/filter", json={}, timeout=2.0)
    except httpx.HTTPError:
        return False
    workers = answer.json() if answer.status_code == httpx.codes.OK else []
    return any(worker.get("name") == name and worker.get("status") == "ONLINE" for worker in workers)


def _since(began: float) -> str:
    return f"{time.monotonic() - began:.1f} s"


def _print_banner(api_url: str, prefect_url: str, logs: Path, token: str | None) -> None:
    console.print("\nexportflow is up.")
    console.print(f"API docs:   {api_url}/docs", soft_wrap=True)
    console.print(f"Prefect UI: {prefect_url}", soft_wrap=True)
    console.print(f"logs:       {logs}", soft_wrap=True)
    if token:
        _print_token(token)
    else:
        console.print(
            "use an API token you already have, or make one: "
            f"exportflow tokens create --email {BOOTSTRAP_EMAIL}",
            soft_wrap=True,
        )
    shown = token or "$TOKEN"
    console.print("create an export:")
    body = '{"export_name": "demo", "export_type": "sales", "format": "csv"}'
    console.print(
        f"curl -H 'Authorization: Bearer {shown}' -H 'Content-Type: application/json' "
        f"-d '{body}' {api_url}/api/v1/exports",
        soft_wrap=True,
        markup=False,
    )
    console.print("Ctrl-C stops everything.")
