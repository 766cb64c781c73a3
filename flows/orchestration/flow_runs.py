"""Export rows and their Prefect flow runs: start one per attempt, read its state, cancel it, and
correct a row that Prefect knows has ended.

Starting is idempotent: the flow run's idempotency key is `export:<export id>:<attempt>`, so two
dispatchers racing for one row get the same run back. When Prefect cannot be reached, the row stays
`pending` without a flow run and the dispatcher (flows/orchestration/dispatch.py) starts it later: no
export is lost.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment
from prefect.exceptions import PrefectException
from prefect.settings import get_current_settings
from prefect.states import Cancelled, Cancelling, Crashed
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import transaction
from flows.appdb.models import DataExport
from flows.errors import describe_error
from flows.exports.audit import audit
from flows.exports.lifecycle import cancel_export, fail_export
from flows.orchestration.pool import WORK_QUEUES
from flows.settings import Settings
from flows.vocabulary import ExportPriority

logger = logging.getLogger("exportflow.runs")

UNREACHABLE = (httpx.HTTPError, PrefectException, OSError)
ENDED_BADLY = frozenset({StateType.FAILED, StateType.CRASHED, StateType.CANCELLED})
NOT_STARTED = frozenset({StateType.SCHEDULED, StateType.PENDING, StateType.PAUSED})
READ_BATCH = 200
"""Flow runs read per request (the Prefect server's default page limit)."""


@dataclass(frozen=True)
class RunState:
    """A flow run's state as Prefect reports it."""

    flow_run_id: uuid.UUID
    type: StateType
    name: str
    message: str | None


def run_key(export_id: uuid.UUID, attempt: int) -> str:
    """The idempotency key of an export's flow run: one per attempt (Prefect keys live forever)."""
    return f"export:{export_id}:{attempt}"


def prefect_configured() -> bool:
    """Whether a Prefect API URL is set; without one Prefect would start a throwaway server."""
    return bool(get_current_settings().api.url)


@dataclass(frozen=True)
class RunRequest:
    """What starting an attempt's flow run needs to know of its export."""

    export_id: uuid.UUID
    attempt: int
    priority: ExportPriority

    @property
    def key(self) -> str:
        return run_key(self.export_id, self.attempt)

    @property
    def queue(self) -> str:
        return WORK_QUEUES[self.priority]


def start_export_run(
    sessions: sessionmaker[Session], settings: Settings, run: RunRequest
) -> uuid.UUID | None:
    """Start the flow run of a pending export's attempt and store its id; None when Prefect is unreachable.

    The attempt's idempotency key makes a second start (a racing dispatcher) return the same run;
    a row that already has a flow run keeps it.
    """
    if not prefect_configured():
        logger.warning("export %s stays pending: no Prefect API URL is configured", run.export_id)
        return None
    try:
        flow_run: FlowRun = run_deployment(  # type: ignore[assignment]  # sync call, not the coroutine
            settings.export_deployment,
            parameters={"export_id": str(run.export_id)},
            timeout=0,
            idempotency_key=run.key,
            work_queue_name=run.queue,
            as_subflow=False,
        )
    except UNREACHABLE as error:
        reason = describe_error(error)
        logger.warning("export %s stays pending, Prefect did not start it: %s", run.export_id, reason)
        return None
    with transaction(sessions) as session:
        stored = session.execute(
            update(DataExport)
            .where(DataExport.id == run.export_id, DataExport.flow_run_id.is_(None))
            .values(flow_run_id=flow_run.id)
        )
        if stored.rowcount == 1:  # type: ignore[attr-defined]
            details = {"flow_run_id": str(flow_run.id), "queue": run.queue}
            audit(session, "export_dispatched", run.export_id, details)
    return flow_run.id


def is_active(state: RunState | None) -> bool:
    """Whether Prefect shows the run as not ended yet (scheduled, pending, running, paused...)."""
    return state is not None and state.type not in ENDED_BADLY and state.type != StateType.COMPLETED


def read_run_state(flow_run_id: uuid.UUID) -> RunState | None:
    """The run's current state, or None when Prefect cannot tell (unreachable, unknown run)."""
    return (read_run_states([flow_run_id]) or {}).get(flow_run_id)


def read_run_states(flow_run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RunState] | None:
    """The current states of these runs in one request (unknown runs left out); None when Prefect
    cannot be reached."""
    if not prefect_configured():
        return None
    if not flow_run_ids:
        return {}
    ids = list(flow_run_ids)
    try:
        with get_client(sync_client=True) as client:
            runs = [
                run
                for start in range(0, len(ids), READ_BATCH)
                for run in client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids[start : start + READ_BATCH])),
                    limit=READ_BATCH,
                )
            ]
    except UNREACHABLE as error:
        logger.warning("could not read %d flow run(s): %s", len(flow_run_ids), describe_error(error))
        return None
    return {
        run.id: RunState(run.id, run.state.type, run.state.name or run.state.type.value, run.state.message)
        for run in runs
        if run.state is not None
    }


def mark_crashed(flow_run_id: uuid.UUID, message: str) -> bool:
    """Set a run Prefect still reports active to CRASHED, so its UI does not lie; False if that failed."""
    try:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(flow_run_id, Crashed(message=message), force=True)
    except UNREACHABLE as error:
        logger.warning("could not mark flow run %s crashed: %s", flow_run_id, describe_error(error))
        return False
    return True


def cancel_run(flow_run_id: uuid.UUID) -> bool:
    """Ask Prefect to cancel a run: one not started yet ends at once, a running one is told to stop."""
    if not prefect_configured():
        return False
    try:
        with get_client(sync_client=True) as client:
            current = client.read_flow_run(flow_run_id).state
            if current is not None and current.is_final():
                return False
            started = current is None or current.type not in NOT_STARTED
            client.set_flow_run_state(flow_run_id, Cancelling() if started else Cancelled(), force=True)
    except UNREACHABLE as error:
        logger.warning("could not cancel flow run %s: %s", flow_run_id, describe_error(error))
        return False
    return True


def correct_from_prefect(sessions: sessionmaker[Session], export_id: uuid.UUID, state: RunState) -> bool:
    """End an active row still on this run when Prefect reports the run failed or cancelled; True if it
    changed. A crashed run is the crash hook's and the reconciler's (flows/exports/reconcile.py): it may get
    another attempt."""
    detail = f": {state.message}" if state.message else ""
    if state.type == StateType.CANCELLED:
        reason = f"the flow run was cancelled in Prefect{detail}"
        return cancel_export(sessions, export_id, reason, run=state.flow_run_id)
    if state.type == StateType.FAILED:
        reason = f"the flow run ended {state.name} in Prefect{detail}"
        return fail_export(sessions, export_id, reason, run=state.flow_run_id)
    return False
