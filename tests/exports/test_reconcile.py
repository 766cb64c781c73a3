"""The reconciler and the crash hook's decision (flows/exports/reconcile.py) on real app databases (SQLite and
PostgreSQL, a fresh one each per module) and a real Prefect API (the session's test harness, with
the work pool and export deployment set up). No worker runs here: the flow runs a decision starts
stay scheduled, and the "dead" runs are flow runs put in the state a dead one would be in.
"""

import contextvars
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.states import Crashed, Failed, Running
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import transaction
from flows.appdb.models import AuditLog, DataExport, ExportStatistic, User
from flows.errors import ExportCancelled
from flows.export import _on_crashed, export
from flows.exports.creation import create_export
from flows.exports.lifecycle import (
    RunResult,
    RunSuperseded,
    begin_export,
    complete_export,
    fail_export,
    record_heartbeat,
    record_progress,
)
from flows.exports.reconcile import Death, Outcome, reconcile, settle
from flows.exports.requests import ExportRequest
from flows.orchestration.flow_runs import run_key
from flows.pipeline.progress import Heartbeat
from flows.settings import Settings
from flows.storage.keys import TEMP_DIR, export_key
from flows.storage.store import open_storage
from flows.vocabulary import ExportStatus
from tests.exports.conftest import LEASE_SECONDS

pytestmark = pytest.mark.usefixtures("prefect_api")

SILENT_SECONDS = 75


def stored_export(sessions: sessionmaker[Session]) -> uuid.UUID:
    """A pending export of a fresh admin, as the API stores it."""
    with transaction(sessions) as session:
        owner = User(email=f"{uuid.uuid4().hex[:12]}@example.com", role="admin", first_name="Rec")
        session.add(owner)
        session.flush()
        request = ExportRequest.validated(
            {"export_name": "Reconciled", "export_type": "sales", "format": "pdf"}
        )
        return create_export(session, request, owner).id


def dead_run(client: SyncPrefectClient, export_id: uuid.UUID, state: State) -> FlowRun:
    """A flow run of the export deployment for this export, put in `state` (as a dead run leaves it)."""
    deployment = client.read_deployment_by_name("export/export")
    return client.create_flow_run_from_deployment(
        deployment.id, parameters={"export_id": str(export_id)}, state=state
    )


def running_export(
    sessions: sessionmaker[Session],
    client: SyncPrefectClient,
    *,
    state: State | None = None,
    attempt: int = 1,
    silent_for: float = SILENT_SECONDS,
    status: ExportStatus = ExportStatus.PROCESSING,
) -> tuple[uuid.UUID, uuid.UUID]:
    """An export on `attempt`, its flow run in `state` (running), its last heartbeat `silent_for` ago."""
    export_id = stored_export(sessions)
    run = dead_run(client, export_id, state or Running())
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        row = session.get_one(DataExport, export_id)
        row.status = status
        row.attempt = attempt
        row.flow_run_id = run.id
        if status == ExportStatus.PROCESSING:
            row.started_at = now - timedelta(seconds=silent_for + 5)
            row.heartbeat_at = now - timedelta(seconds=silent_for)
    return export_id, run.id


def row_of(sessions: sessionmaker[Session], export_id: uuid.UUID) -> DataExport:
    with sessions() as session:
        return session.get_one(DataExport, export_id)


def audit_of(sessions: sessionmaker[Session], export_id: uuid.UUID, action: str) -> list[AuditLog]:
    with sessions() as session:
        query = select(AuditLog).where(AuditLog.resource_id == str(export_id), AuditLog.action == action)
        return list(session.scalars(query))


def state_of(client: SyncPrefectClient, flow_run_id: uuid.UUID) -> StateType | None:
    state = client.read_flow_run(flow_run_id).state
    return state.type if state else None


def test_a_silent_export_gets_its_next_attempt_with_a_new_flow_run_and_key(
    sessions: sessionmaker[Session], settings: Settings, client: SyncPrefectClient
) -> None:
    export_id, old_run = running_export(sessions, client)

    report = reconcile(sessions, settings)

    (decision,) = [d for d in report.decisions if d.export_id == export_id]
    assert decision.outcome == Outcome.REATTEMPTED
    row = row_of(sessions, export_id)
    assert (row.status, row.attempt) == (ExportStatus.PENDING, 2)
    assert row.flow_run_id is not None
    assert row.flow_run_id == decision.next_flow_run_id != old_run
    new_run = client.read_flow_run(row.flow_run_id)
    assert new_run.idempotency_key == run_key(export_id, 2)
    assert new_run.parameters == {"export_id": str(export_id)}
    reason = f"no heartbeat for {SILENT_SECONDS} s; the worker running it is gone (attempt 1 of 3)"
    assert row.error_message == reason
    (entry,) = audit_of(sessions, export_id, "export_reattempted")
    assert entry.details["reason"] == reason
    assert entry.details["flow_run_id"] == str(old_run)
    assert (entry.details["attempt"], entry.details["next_attempt"]) == (1, 2)
    assert state_of(client, old_run) == StateType.CRASHED  # the Prefect UI does not lie either
    assert report.marked_crashed >= 1


def test_the_last_attempt_that_dies_fails_the_export_with_what_happened(
    sessions: sessionmaker[Session], settings: Settings, client: SyncPrefectClient
) -> None:
    export_id, old_run = running_export(sessions, client, attempt=3)

    reconcile(sessions, settings)

    row = row_of(sessions, export_id)
    assert (row.status, row.attempt, row.flow_run_id) == (ExportStatus.FAILED, 3, old_run)
    assert row.error_message == (
        f"no heartbeat for {SILENT_SECONDS} s; the worker running it is gone (attempt 3 of 3); "
        "that was the last attempt: nothing was delivered, retry the export"
    )
    (entry,) = audit_of(sessions, export_id, "export_abandoned")
    assert entry.details["error"] == row.error_message
    assert (entry.details["flow_run_id"], entry.details["attempt"]) == (str(old_run), 3)
    with sessions() as session:
        (statistic,) = session.scalars(select(ExportStatistic).where(ExportStatistic.export_id == export_id))
    assert not statistic.success
    assert state_of(client, old_run) == StateType.CRASHED


def test_an_export_with_a_fresh_heartbeat_is_left_alone(
    sessions: sessionmaker[Session], settings: Settings, client: SyncPrefectClient
) -> None:
    export_id, run = running_export(sessions, client, silent_for=LEASE_SECONDS / 2)

    report = reconcile(sessions, settings)

    assert export_id not in {d.export_id for d in report.decisions}
    row = row_of(sessions, export_id)
    assert (row.status, row.attempt, row.flow_run_id) == (ExportStatus.PROCESSING, 1, run)
    assert state_of(client, run) == StateType.RUNNING


def test_two_reconcilers_at_once_decide_once(
    sessions: sessionmaker[Session], settings: Settings, client: SyncPrefectClient
) -> None:
    export_id, _ = running_export(sessions, client)
    barrier = threading.Barrier(2)
    decided: list[int] = []

    def reconciler() -> None:
        barrier.wait()
        report = reconcile(sessions, settings)
        decided.append(sum(d.export_id == export_id for d in report.decisions))

    # Each thread in a copy of this one's context: Prefect's test-harness settings live in a context
    # variable, and a new thread would otherwise fall back to the process's global Prefect settings.
    threads = [threading.Thread(target=contextvars.copy_context().run, args=(reconciler,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(decided) == [0, 1]
    assert len(audit_of(sessions, export_id, "export_reattempted")) == 1
    assert row_of(sessions, export_id).attempt == 2
    assert len(audit_of(sessions, export_id, "export_dispatched")) == 1


def test_the_old_attempt_can_no_longer_write_once_the_next_one_has_the_row(
    sessions: sessionmaker[Session], settings: Settings, client: SyncPrefectClient
) -> None:
    export_id = stored_export(sessions)
    old_run = dead_run(client, export_id, Running()).id
    job = begin_export(sessions, export_id, old_run, settings)
    assert settle(sessions, settings, export_id, Death.crashed(old_run, "killed")) is not None
    new_run = row_of(sessions, export_id).flow_run_id
    assert new_run not in (None, old_run)

    with pytest.raises(RunSuperseded, match="went on to attempt 2"):
        record_progress(sessions, export_id, 50, old_run)
    assert not record_heartbeat(sessions, export_id, old_run)
    with pytest.raises(RunSuperseded):
        complete_export(sessions, job, RunResult(1, 1, "0" * 64, "k", "k"), settings)
    assert not fail_export(sessions, export_id, "the old attempt failed", run=old_run)

    assert begin_export(sessions, export_id, new_run, settings).flow_run_id == new_run
    record_progress(sessions, export_id, 30, new_run)
    with pytest.raises(RunSuperseded, match="went on to attempt 2"):
        record_progress(sessions, export_id, 60, old_run)
    row = row_of(sessions, export_id)
    assert (row.status, row.progress_percentage, row.flow_run_id) == (ExportStatus.PROCESSING, 30, new_run)


def test_the_crash_hook_starts_the_next_attempt_and_removes_what_the_dead_one_left(
    sessions: sessionmaker[Session],
    settings: Settings,
    client: SyncPrefectClient,
    monkeypatch: pytest.MonkeyPatch,
    fresh_home: Path,
) -> None:
    export_id, old_run = running_export(sessions, client, silent_for=1)
    row = row_of(sessions, export_id)
    assert row.started_at is not None
    work = settings.staging_dir / str(export_id) / uuid.uuid4().hex
    work.mkdir(parents=True)
    (work / "staged.arrow").write_bytes(b"rows")
    (work / "reconciled_20260101-120000.pdf").write_bytes(b"%PDF half")
    storage = open_storage(settings)
    promoted = export_key("sales", row.started_at, export_id, "reconciled_20260101-120000.pdf")
    storage.upload(work / "reconciled_20260101-120000.pdf", promoted, "application/pdf")
    temporary = Path(storage.root) / TEMP_DIR / f"{uuid.uuid4().hex}-reconciled_20260101-120000.pdf.part"
    temporary.write_bytes(b"%PDF ha")
    other_temporary = Path(storage.root) / TEMP_DIR / f"{uuid.uuid4().hex}-another_20260101-120000.pdf.part"
    other_temporary.write_bytes(b"someone else's upload")

    _use_settings(monkeypatch, settings)
    crashed = client.read_flow_run(old_run)
    _on_crashed(
        export, crashed, Crashed(message="Flow run infrastructure exited with non-zero status code -9.")
    )

    row = row_of(sessions, export_id)
    assert (row.status, row.attempt) == (ExportStatus.PENDING, 2)
    assert row.error_message == (
        "the flow run crashed (attempt 1 of 3): Flow run infrastructure exited with non-zero status code -9"
    )
    assert row.flow_run_id not in (None, old_run)
    assert not work.exists()
    assert not storage.exists(promoted)
    assert not temporary.exists()
    assert other_temporary.exists()
    (entry,) = audit_of(sessions, export_id, "export_reattempted")
    assert entry.details["leftovers"] == {"work_folders": 1, "stored_keys": [promoted], "temporaries": 1}

    _on_crashed(export, crashed, Crashed())  # a late second call: the row has moved on
    assert row_of(sessions, export_id).attempt == 2


def test_prefect_verdicts_on_pending_and_processing_exports(
    sessions: sessionmaker[Session], settings: Settings, client: SyncPrefectClient
) -> None:
    crashed_before_start, _ = running_export(
        sessions, client, state=Crashed(message="no such module"), status=ExportStatus.PENDING
    )
    failed, _ = running_export(sessions, client, state=Failed(message="the warehouse refused"), silent_for=1)
    never_dispatched = stored_export(sessions)

    report = reconcile(sessions, settings)

    assert row_of(sessions, crashed_before_start).attempt == 2
    assert row_of(sessions, crashed_before_start).status == ExportStatus.PENDING
    row = row_of(sessions, failed)
    assert (row.status, row.attempt) == (ExportStatus.FAILED, 1)
    assert row.error_message == "the flow run ended Failed in Prefect: the warehouse refused"
    assert row_of(sessions, never_dispatched).flow_run_id is not None
    assert report.corrected >= 1
    assert report.dispatched >= 1


def test_the_heartbeat_beats_until_the_row_is_no_longer_its_run(
    sessions: sessionmaker[Session], settings: Settings, client: SyncPrefectClient
) -> None:
    export_id, run = running_export(sessions, client)
    beats: list[bool] = []

    def beat() -> bool:
        beats.append(record_heartbeat(sessions, export_id, run))
        return beats[-1]

    heartbeat = Heartbeat(beat, interval=0.05)
    heartbeat.start()
    try:
        _wait_until(lambda: len(beats) >= 2)
        heartbeat_at = row_of(sessions, export_id).heartbeat_at
        assert heartbeat_at is not None
        assert datetime.now(UTC) - heartbeat_at < timedelta(seconds=5)
        with transaction(sessions) as session:
            session.get_one(DataExport, export_id).flow_run_id = uuid.uuid4()
        _wait_until(lambda: beats[-1] is False)
        count = len(beats)
        time.sleep(0.3)
        assert len(beats) == count  # it stopped by itself
    finally:
        heartbeat.stop()


def test_a_cancelled_row_stops_the_old_attempt_as_cancelled(
    sessions: sessionmaker[Session], settings: Settings, client: SyncPrefectClient
) -> None:
    export_id = stored_export(sessions)
    run = dead_run(client, export_id, Running()).id
    begin_export(sessions, export_id, run, settings)
    with transaction(sessions) as session:
        session.get_one(DataExport, export_id).status = ExportStatus.CANCELLED
    with pytest.raises(ExportCancelled):
        record_progress(sessions, export_id, 10, run)
    assert settle(sessions, settings, export_id, Death.crashed(run, None)) is None
    assert row_of(sessions, export_id).status == ExportStatus.CANCELLED


def _use_settings(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The crash hook reads the process settings and sessions: point them at this module's (the
    `fresh_home` fixture reads them anew after the test)."""
    from flows.appdb.engine import reset_app_sessions
    from flows.settings import get_settings

    monkeypatch.setenv("EXPORTFLOW_HOME", str(settings.home))
    monkeypatch.setenv("EXPORTFLOW_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    reset_app_sessions()


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
