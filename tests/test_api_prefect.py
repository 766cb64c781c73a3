"""The API end to end, through a real Prefect server and the warm worker (tests/prefect_stack.py).

Every export here is created over HTTP, picked up by the worker from the work pool, run by the
export flow in its own process and followed through GET /exports/status. The measured timings
are printed in the terminal summary.
"""

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.states import Crashed
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import make_engine, session_factory, transaction
from flows.appdb.models import DataExport, User
from flows.export import WRITE
from flows.orchestration.pool import WORK_POOL
from flows.storage.store import open_storage
from flows.vocabulary import Role

if TYPE_CHECKING:
    from tests.prefect_stack import MakeStackUser, Stack, Timings
    from tests.stack_parts import StackUser

pytest_plugins = ["tests.prefect_stack"]
pytestmark = pytest.mark.slow

RUN_TIMEOUT_SECONDS = 60.0
RESTART_TIMEOUT_SECONDS = 45.0
"""From the Prefect server answering again to the export completed: dispatch, worker poll, run."""
CUSTOMERS_CSV = {"export_name": "E2E customers", "export_type": "customers", "format": "csv"}
LONG_PDF = {"export_name": "E2E long sales PDF", "export_type": "sales", "format": "pdf"}


@pytest.fixture(scope="module")
def sessions(stack: "Stack") -> Iterator[sessionmaker[Session]]:
    engine = make_engine(stack.settings.database_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def http(stack: "Stack") -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


@pytest.fixture
def manager(make_stack_user: "MakeStackUser") -> "StackUser":
    return make_stack_user(Role.MANAGER)


def post(
    http: httpx.Client, user: "StackUser", path: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    return http.post(path, json=body, headers=user.headers)


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def status_of(http: httpx.Client, user: "StackUser", export_id: str) -> dict[str, Any]:
    response = http.get(f"/exports/status/{export_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def wait_for_status(
    http: httpx.Client,
    user: "StackUser",
    export_id: str,
    done: Callable[[dict[str, Any]], bool],
    timeout: float = RUN_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Poll GET /exports/status until `done` holds; fail showing the last answer otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        status = status_of(http, user, export_id)
        if done(status):
            return status
        if time.monotonic() > deadline:
            pytest.fail(f"export {export_id} not there within {timeout:.0f} s; last status: {status}")
        time.sleep(0.25)


def completed(status: dict[str, Any]) -> bool:
    return bool(status["status"] == "completed" and status["prefect_state"] == "Completed")


def rendering(status: dict[str, Any]) -> bool:
    """Mid-run: past extracting, rendering the file."""
    return bool(status["status"] == "processing" and status["progress_percentage"] > WRITE.start)


def flow_run(stack: "Stack", flow_run_id: str) -> FlowRun:
    with stack.prefect_client() as client:
        return client.read_flow_run(uuid.UUID(flow_run_id))


def wait_for_run(stack: "Stack", flow_run_id: str, timeout: float = RUN_TIMEOUT_SECONDS) -> FlowRun:
    """Wait until Prefect has the run in a final state."""
    deadline = time.monotonic() + timeout
    while True:
        run = flow_run(stack, flow_run_id)
        if run.state is not None and run.state.is_final():
            return run
        if time.monotonic() > deadline:
            pytest.fail(f"flow run {flow_run_id} still {run.state_name} after {timeout:.0f} s")
        time.sleep(0.25)


def stored_files_of(stack: "Stack", export_id: str) -> list[str]:
    """Keys in storage (final or temporary) that belong to this export."""
    return [key for key in open_storage(stack.settings).list_keys() if export_id in key]


def staged_files_of(stack: "Stack", export_id: str) -> list[Path]:
    """Work files of this export's runs left in the staging folder."""
    return [path for path in (stack.settings.staging_dir / export_id).rglob("*") if path.is_file()]


def test_an_export_runs_to_completion_and_its_file_matches_its_checksum(
    stack: "Stack",
    http: httpx.Client,
    manager: "StackUser",
    sessions: sessionmaker[Session],
    timings: "Timings",
) -> None:
    started = time.monotonic()
    response = post(http, manager, "/exports", CUSTOMERS_CSV)
    timings["POST /exports"] = time.monotonic() - started
    export = created(response)
    assert export["status"] == "pending"
    assert export["flow_run_id"] is not None

    final = wait_for_status(http, manager, export["id"], completed)
    timings["create -> completed (csv, 20k rows)"] = time.monotonic() - started

    assert final["record_count"] == 20_000
    assert final["flow_run_id"] == export["flow_run_id"]
    run = flow_run(stack, export["flow_run_id"])
    assert (run.work_pool_name, run.work_queue_name) == (WORK_POOL, "normal")
    row = http.get(f"/exports/{export['id']}", headers=manager.headers).json()["data"]
    link = http.get(f"/exports/{export['id']}/download", headers=manager.headers)
    assert link.status_code == 200, link.text
    assert link.json()["data"]["checksum_sha256"] == row["checksum_sha256"]
    downloaded = httpx.get(link.json()["data"]["download_url"], timeout=30.0)  # the link is the credential
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.headers["content-type"].startswith("text/csv")
    assert len(downloaded.content) == row["file_size"]
    assert hashlib.sha256(downloaded.content).hexdigest() == row["checksum_sha256"]
    with open_storage(stack.settings).open_read(_storage_key(sessions, export["id"])) as stored:
        assert stored.read() == downloaded.content


def test_execute_runs_on_the_high_priority_queue(
    stack: "Stack", http: httpx.Client, manager: "StackUser"
) -> None:
    export = created(post(http, manager, "/exports/execute", CUSTOMERS_CSV))

    assert export["priority"] == "high"
    assert flow_run(stack, export["flow_run_id"]).work_queue_name == "high"
    assert completed(wait_for_status(http, manager, export["id"], completed))


def test_cancelling_a_running_export_stops_its_run_and_leaves_no_file(
    stack: "Stack", http: httpx.Client, manager: "StackUser", timings: "Timings"
) -> None:
    export = created(post(http, manager, "/exports", LONG_PDF))
    running = wait_for_status(http, manager, export["id"], rendering)
    assert running["prefect_state"] == "Running"

    started = time.monotonic()
    response = post(http, manager, f"/exports/{export['id']}/cancel")
    timings["POST cancel"] = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == "cancelled"

    run = wait_for_run(stack, export["flow_run_id"])
    timings["cancel -> Prefect run final"] = time.monotonic() - started
    assert run.state_type == StateType.CANCELLED
    final = status_of(http, manager, export["id"])
    assert final["status"] == "cancelled"
    assert final["prefect_state"] == "Cancelled"
    assert final["error_message"] == f"cancelled by {manager.email}"
    assert final["progress_percentage"] < 100
    assert stored_files_of(stack, export["id"]) == []
    assert staged_files_of(stack, export["id"]) == []
    assert post(http, manager, f"/exports/{export['id']}/cancel").status_code == 409


def test_a_failed_export_is_retried_once_its_cause_is_fixed(
    stack: "Stack",
    http: httpx.Client,
    manager: "StackUser",
    make_stack_user: "MakeStackUser",
    sessions: sessionmaker[Session],
) -> None:
    with _queue_paused(stack, "normal"):
        export = created(post(http, manager, "/exports", CUSTOMERS_CSV))
        _set_active(sessions, manager.id, active=False)
    admin = make_stack_user(Role.ADMIN)

    failed = wait_for_status(http, admin, export["id"], lambda s: s["status"] == "failed")
    assert failed["error_message"] == f"the owner of export {export['id']} ({manager.email}) is deactivated"
    assert wait_for_run(stack, export["flow_run_id"]).state_type == StateType.FAILED

    _set_active(sessions, manager.id, active=True)
    retried = created(post(http, manager, f"/exports/{export['id']}/retry"))
    assert retried["retry_of"] == export["id"]
    assert retried["id"] != export["id"]
    assert retried["flow_run_id"] not in (None, export["flow_run_id"])
    final = wait_for_status(http, manager, retried["id"], completed)
    assert final["record_count"] == 20_000
    assert status_of(http, manager, export["id"])["status"] == "failed"


def test_an_export_created_while_prefect_is_down_runs_once_prefect_is_back(
    stack: "Stack", http: httpx.Client, manager: "StackUser", timings: "Timings"
) -> None:
    stack.prefect.stop()
    try:
        started = time.monotonic()
        response = post(http, manager, "/exports", CUSTOMERS_CSV)
        timings["POST /exports with Prefect down"] = time.monotonic() - started
        export = created(response)
        assert export["status"] == "pending"
        assert export["flow_run_id"] is None
        assert timings["POST /exports with Prefect down"] < 5.0
        time.sleep(2)  # the dispatcher tries (and fails) a couple of times meanwhile
        assert status_of(http, manager, export["id"])["flow_run_id"] is None
    finally:
        restarting = time.monotonic()
        stack.prefect.start()
    restarted = time.monotonic()
    timings["Prefect server restart (until healthy)"] = restarted - restarting

    final = wait_for_status(http, manager, export["id"], completed, timeout=RESTART_TIMEOUT_SECONDS)
    timings["Prefect restarted -> completed"] = time.monotonic() - restarted
    assert final["flow_run_id"] is not None
    runs = stack.export_runs("export_id", export["id"])
    assert [str(run.id) for run in runs] == [final["flow_run_id"]]
    assert runs[0].idempotency_key == f"export:{export['id']}:1"


def test_a_run_prefect_reports_crashed_while_its_process_lives_gets_another_attempt(
    stack: "Stack", http: httpx.Client, manager: "StackUser", sessions: sessionmaker[Session]
) -> None:
    export = created(post(http, manager, "/exports", LONG_PDF))
    wait_for_status(http, manager, export["id"], rendering)
    first_run = export["flow_run_id"]

    with stack.prefect_client() as client:
        client.set_flow_run_state(uuid.UUID(first_run), Crashed(message="infrastructure lost"), force=True)
    _wait_until_gone(stack, first_run)  # the first attempt stops at its next progress write
    final = wait_for_status(http, manager, export["id"], completed)

    assert final["flow_run_id"] != first_run
    assert final["record_count"] == 200_000
    with sessions() as session:
        row = session.get_one(DataExport, uuid.UUID(export["id"]))
    assert row.attempt == 2
    assert stored_files_of(stack, export["id"]) == [row.storage_key]
    assert staged_files_of(stack, export["id"]) == []


def _storage_key(sessions: sessionmaker[Session], export_id: str) -> str:
    with sessions() as session:
        key = session.get_one(DataExport, uuid.UUID(export_id)).storage_key
    assert key is not None
    return key


def _set_active(sessions: sessionmaker[Session], user_id: uuid.UUID, *, active: bool) -> None:
    with transaction(sessions) as session:
        session.execute(update(User).where(User.id == user_id).values(is_active=active))


@contextmanager
def _queue_paused(stack: "Stack", name: str) -> Iterator[None]:
    """Pause a work queue of the pool for the block (its runs wait), resume it after."""
    with stack.prefect_client() as client:
        queue = client.read_work_queue_by_name(name, work_pool_name=WORK_POOL)
        client.update_work_queue(queue.id, is_paused=True)
        try:
            yield
        finally:
            client.update_work_queue(queue.id, is_paused=False)


def _wait_until_gone(stack: "Stack", flow_run_id: str, timeout: float = RUN_TIMEOUT_SECONDS) -> None:
    """Wait until no process of the worker runs this flow run any more."""
    deadline = time.monotonic() + timeout
    while stack.flow_run_processes(flow_run_id):
        if time.monotonic() > deadline:
            pytest.fail(f"flow run {flow_run_id} still has a process after {timeout:.0f} s")
        time.sleep(0.25)
