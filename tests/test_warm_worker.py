"""The warm worker (deployments/warm_worker.py) keeps what Prefect's process worker gives, through the
real stack (tests/prefect_stack.py, `exportflow worker` with a cap of 3 runs):

- kill -9 of one flow run's process: Prefect reports that run CRASHED, its row is settled, and the
  export running next to it in the same worker (and forkserver) completes; the worker lives on.
- the concurrency cap: of 4 exports started at once, at no moment do more than 3 run as processes
  under the worker, the fourth waits in Prefect (SCHEDULED) and takes the first slot that frees up.
- the global cap (EXPORTFLOW_MAX_RUNNING_EXPORTS, the work pool's concurrency limit) holds below the
  worker's own: at a limit of 1, two exports started at once run one after the other.

Cancelling goes through the API (POST /exports/{id}/cancel), as a user would.
"""

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import httpx
import pytest
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun, StateType
from sqlalchemy.orm import Session, sessionmaker

from deployments.prefect_setup import set_up_prefect
from flows.appdb.engine import make_engine, session_factory
from flows.appdb.models import DataExport
from flows.export import WRITE
from flows.vocabulary import ExportStatus, Role
from tests.app_rows import audit_of, row_of, wait_for_row
from tests.waiting import wait_for

if TYPE_CHECKING:
    from tests.prefect_stack import MakeStackUser, Stack, Timings
    from tests.stack_parts import StackUser

pytest_plugins = ["tests.prefect_stack"]
pytestmark = pytest.mark.slow

TIMEOUT_SECONDS = 45.0
"""The longest wait for one step: the stack's Prefect server on SQLite can stall for ~30 s in a burst."""
SALES_PDF = {"export_type": "sales", "format": "pdf"}
"""The big warehouse's 200k sales rows as a PDF: ~13 s of rendering, slow enough to kill or cancel."""
SALES_CSV = {"export_type": "sales", "format": "csv"}
"""The same rows as a CSV: a few seconds."""
SAMPLE_SECONDS = 0.05
"""How often the worker's flow-run processes are counted (psutil only, no request)."""
WAIT_AT_THE_CAP_SECONDS = 2.0
"""How long the fourth export is watched waiting: four of the worker's 0.5 s polls."""
T = TypeVar("T")


@pytest.fixture(scope="module")
def sessions(stack: "Stack") -> Iterator[sessionmaker[Session]]:
    engine = make_engine(stack.settings.database_url)
    yield session_factory(engine)
    engine.dispose()


class Exports:
    """Sales PDFs of one manager started and cancelled through the API."""

    def __init__(self, http: httpx.Client, user: "StackUser") -> None:
        self.http = http
        self.user = user
        self.started: list[uuid.UUID] = []

    def start(self, name: str, kind: dict[str, str] = SALES_PDF) -> uuid.UUID:
        body = {"export_name": f"{name} {uuid.uuid4().hex[:6]}", **kind}
        response = self.http.post("/exports", json=body, headers=self.user.headers)
        assert response.status_code == 201, response.text
        self.started.append(uuid.UUID(response.json()["data"]["id"]))
        return self.started[-1]

    def cancel(self, export_id: uuid.UUID) -> bool:
        """Cancel through the API; False when the export had already ended (409)."""
        response = self.http.post(f"/exports/{export_id}/cancel", headers=self.user.headers)
        assert response.status_code in (200, 409), response.text
        return response.status_code == 200


@pytest.fixture
def exports(stack: "Stack", make_stack_user: "MakeStackUser") -> Iterator[Exports]:
    """At the end every export still active is cancelled and the worker left running nothing, so no
    run of one test holds a slot of the next."""
    with stack.client() as http:
        made = Exports(http, make_stack_user(Role.MANAGER))
        yield made
        for export_id in made.started:
            made.cancel(export_id)
    wait_for("the worker running no flow run", lambda: not stack.flow_run_pids(), TIMEOUT_SECONDS)


def completed(row: DataExport) -> bool:
    return row.status == ExportStatus.COMPLETED


def rendering(row: DataExport) -> bool:
    return row.status == ExportStatus.PROCESSING and row.progress_percentage > WRITE.start + 5


def flow_run(stack: "Stack", flow_run_id: uuid.UUID) -> FlowRun:
    with stack.prefect_client() as client:
        return client.read_flow_run(flow_run_id)


def flow_runs(stack: "Stack", run_ids: dict[uuid.UUID, uuid.UUID]) -> dict[uuid.UUID, FlowRun]:
    """Export id to its flow run, for export ids to flow run ids, read in one request."""
    wanted = FlowRunFilter(id=FlowRunFilterId(any_=[*run_ids.values()]))
    with stack.prefect_client() as client:
        found = client.read_flow_runs(flow_run_filter=wanted)
    by_id = {run.id: run for run in found}
    return {export_id: by_id[run_id] for export_id, run_id in run_ids.items()}


def wait_for_final_run(stack: "Stack", flow_run_id: uuid.UUID) -> FlowRun:
    return wait_for(
        lambda: f"flow run {flow_run_id} final (it is {flow_run(stack, flow_run_id).state_name})",
        lambda: _if(flow_run(stack, flow_run_id), lambda run: bool(run.state and run.state.is_final())),
        TIMEOUT_SECONDS,
    )


def test_kill_9_of_one_flow_run_crashes_that_run_alone(
    stack: "Stack", exports: Exports, sessions: sessionmaker[Session], timings: "Timings"
) -> None:
    worker_pid = stack.worker.pid
    victim = exports.start("Warm victim")
    sibling = exports.start("Warm sibling")
    dead_run = wait_for_row(sessions, victim, rendering, TIMEOUT_SECONDS).flow_run_id
    sibling_run = wait_for_row(sessions, sibling, rendering, TIMEOUT_SECONDS).flow_run_id
    assert dead_run is not None
    assert sibling_run is not None
    (victim_process,) = stack.flow_run_processes(str(dead_run))
    (sibling_process,) = stack.flow_run_processes(str(sibling_run))
    assert victim_process.ppid() == sibling_process.ppid()  # both forked by the worker's forkserver

    killed = time.monotonic()
    victim_process.kill()
    crashed = wait_for_final_run(stack, dead_run)
    timings["warm worker: kill -9 of a flow run -> CRASHED"] = time.monotonic() - killed
    settled = wait_for_row(
        sessions,
        victim,
        lambda row: row.flow_run_id != dead_run or row.status != ExportStatus.PROCESSING,
        TIMEOUT_SECONDS,
    )
    timings["warm worker: kill -9 of a flow run -> row settled"] = time.monotonic() - killed

    assert crashed.state_type == StateType.CRASHED
    assert sibling_process.is_running(), "the sibling's process died with the victim"
    assert flow_run(stack, sibling_run).state_type == StateType.RUNNING
    # The crash hook (run by the worker) or the reconciler gave the export another attempt.
    assert settled.attempt == 2, (settled.status, settled.error_message)
    (decision,) = audit_of(sessions, victim, "export_reattempted")
    assert decision.details["flow_run_id"] == str(dead_run)
    assert decision.details["reason"].startswith("the flow run crashed (attempt 1 of 3)")
    assert exports.cancel(victim)  # its second attempt is not this test's business

    done = wait_for_row(sessions, sibling, lambda row: row.status != ExportStatus.PROCESSING, TIMEOUT_SECONDS)
    assert done.status == ExportStatus.COMPLETED, done.error_message
    assert done.record_count == 200_000
    assert wait_for_final_run(stack, sibling_run).state_type == StateType.COMPLETED
    assert (stack.worker.pid, stack.worker.exit_code()) == (worker_pid, None)


def test_the_worker_runs_at_most_its_limit_of_flow_runs_at_once(
    stack: "Stack", exports: Exports, sessions: sessionmaker[Session], timings: "Timings"
) -> None:
    cap = int(stack.worker.env["EXPORTFLOW_WORKER_LIMIT"])
    with _sampling(stack) as counts:
        started = [exports.start(f"Warm cap {n}") for n in range(cap + 1)]
        run_ids = {export_id: _run_of(sessions, export_id) for export_id in started}

        def running_at_the_cap() -> list[uuid.UUID] | None:
            if cap not in counts:
                return None
            runs = flow_runs(stack, run_ids)
            running = [export_id for export_id, run in runs.items() if run.state_type == StateType.RUNNING]
            return running if len(running) == cap else None

        running = wait_for(f"{cap} runs running", running_at_the_cap, TIMEOUT_SECONDS)
        time.sleep(WAIT_AT_THE_CAP_SECONDS)  # the worker polls meanwhile: the fourth run must wait
        runs = flow_runs(stack, run_ids)
        (waiting,) = [export_id for export_id in started if export_id not in running]
        assert (runs[waiting].state_type, runs[waiting].infrastructure_pid) == (StateType.SCHEDULED, None)
        assert {runs[export_id].state_type for export_id in running} == {StateType.RUNNING}
        pids = {runs[export_id].infrastructure_pid for export_id in running}
        assert pids == {str(pid) for pid in stack.flow_run_pids()}

        freed = time.monotonic()
        assert exports.cancel(running[0])
        wait_for("the waiting run running", lambda: _running(stack, run_ids[waiting]), TIMEOUT_SECONDS)
        timings["warm worker: a slot freed by cancel -> the waiting run started"] = time.monotonic() - freed
        for export_id in started:
            exports.cancel(export_id)
        final = [wait_for_final_run(stack, run_id) for run_id in run_ids.values()]
        wait_for("no flow-run process", lambda: not stack.flow_run_pids(), TIMEOUT_SECONDS)

    assert max(counts) == cap, f"{len(counts)} samples"
    assert {run.state_type for run in final} <= {StateType.CANCELLED, StateType.COMPLETED}
    rows = [row_of(sessions, export_id) for export_id in started]
    assert {row.status for row in rows} <= {ExportStatus.CANCELLED, ExportStatus.COMPLETED}
    assert [row.attempt for row in rows] == [1] * len(rows)


def test_the_pools_concurrency_limit_runs_no_more_exports_at_once(
    stack: "Stack", exports: Exports, sessions: sessionmaker[Session]
) -> None:
    """Prefect frees the pool's slot when a run's state is final, which the run's process reaches a little
    before it exits: the runs' own start and end times in Prefect tell whether they overlapped."""
    with stack.prefect_client() as client:
        set_up_prefect(client, stack.settings.model_copy(update={"max_running_exports": 1}))
    try:
        started = [exports.start(f"Pool cap {n}", SALES_CSV) for n in range(2)]
        for export_id in started:
            wait_for_row(sessions, export_id, completed, TIMEOUT_SECONDS)
        runs = [wait_for_final_run(stack, _run_of(sessions, export_id)) for export_id in started]
    finally:
        with stack.prefect_client() as client:
            set_up_prefect(client, stack.settings)

    first, second = sorted(runs, key=lambda run: run.start_time or datetime.max.replace(tzinfo=UTC))
    assert first.end_time is not None
    assert second.start_time is not None
    assert first.end_time <= second.start_time, "the two runs ran at once"


@contextmanager
def _sampling(stack: "Stack") -> Iterator[list[int]]:
    """The number of the worker's flow-run processes, sampled every SAMPLE_SECONDS in a thread."""
    counts: list[int] = []
    stopped = threading.Event()

    def sample() -> None:
        while not stopped.wait(SAMPLE_SECONDS):
            counts.append(len(stack.flow_run_pids()))

    sampler = threading.Thread(target=sample, name="flow-run-sampler", daemon=True)
    sampler.start()
    try:
        yield counts
    finally:
        stopped.set()
        sampler.join()


def _running(stack: "Stack", flow_run_id: uuid.UUID) -> bool:
    """Prefect has the run RUNNING and it has a process under the worker."""
    return flow_run(stack, flow_run_id).state_type == StateType.RUNNING and bool(
        stack.flow_run_processes(str(flow_run_id))
    )


def _run_of(sessions: sessionmaker[Session], export_id: uuid.UUID) -> uuid.UUID:
    def run() -> uuid.UUID | None:
        return row_of(sessions, export_id).flow_run_id

    return wait_for(f"export {export_id} dispatched", run, TIMEOUT_SECONDS)


def _if(value: T, done: Callable[[T], bool]) -> T | None:
    return value if done(value) else None
