"""The export row through a run: started, beating, completed, failed or cancelled, with its audit trail.

Every transition is one transaction that also writes what the audit trail needs (statistics row,
audit log entry). Transitions out of `processing` are guarded by the row's current status, so a
late writer (a crash hook after the flow already failed the row, a cancel racing completion)
never overwrites a final state; a run's own writes are also guarded by its flow run id, so an
attempt the reconciler gave up on can never overwrite the attempt that replaced it.
"""

import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import transaction
from flows.appdb.models import DataExport, ExportStatistic, User
from flows.errors import ExportCancelled, TerminalError
from flows.exports.audit import SYSTEM, Actor, audit
from flows.exports.policy import may_export
from flows.settings import Settings
from flows.vocabulary import Delivery, ExportFormat, ExportStatus, ExportType, Role

ACTIVE_STATUSES = (ExportStatus.PENDING, ExportStatus.PROCESSING)


@dataclass(frozen=True)
class ExportJob:
    """What a run needs to know about its export, read once when it starts."""

    id: uuid.UUID
    name: str
    export_type: ExportType
    format: ExportFormat
    columns: tuple[str, ...] | None
    filters: dict[str, Any]
    recipients: tuple[str, ...]
    options: dict[str, Any]
    owner_email: str
    owner_name: str
    started_at: datetime
    flow_run_id: uuid.UUID | None = None
    deliver: Delivery = Delivery.ALWAYS
    webhook_urls: tuple[str, ...] = ()
    schedule_id: uuid.UUID | None = None


@dataclass(frozen=True)
class RunResult:
    """What a successful run produced, as recorded on the row."""

    record_count: int
    file_size: int
    checksum_sha256: str
    storage_key: str
    file_path: str
    content_checksum: str | None = None
    """SHA-256 of the rows themselves, stable across runs over the same data."""
    preview: dict[str, Any] | None = None
    """The first rows as text: {"columns": [...], "rows": [[...]]}."""


def begin_export(
    sessions: sessionmaker[Session], export_id: uuid.UUID, flow_run_id: uuid.UUID | None, settings: Settings
) -> ExportJob:
    """Mark the export `processing` for this flow run and return what the run needs.

    Refuses (TerminalError) an export that does not exist, is finished, belongs to an inactive
    user or to a role that may not export its type; one another flow run has raises RunSuperseded,
    a cancelled one ExportCancelled.
    """
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        row = session.get(DataExport, export_id, with_for_update=True)
        if row is None or row.deleted_at is not None:
            raise TerminalError(f"export {export_id} does not exist")
        if row.status == ExportStatus.CANCELLED:
            raise ExportCancelled(f"export {export_id} was cancelled before it started")
        if row.flow_run_id not in (None, flow_run_id):
            raise RunSuperseded(f"export {export_id} is already being run by flow run {row.flow_run_id}")
        if row.status not in ACTIVE_STATUSES:
            raise TerminalError(f"export {export_id} is already {row.status}; retry it to run it again")
        owner = session.get_one(User, row.created_by)
        if not owner.is_active:
            raise TerminalError(f"the owner of export {export_id} ({owner.email}) is deactivated")
        export_type = ExportType(row.export_type)
        if not may_export(Role(owner.role), export_type, settings):
            raise TerminalError(f"role {owner.role} may not export {export_type} data")
        row.status = ExportStatus.PROCESSING
        row.admitted_at = row.admitted_at or now  # running, it holds a slot however it was started
        row.started_at = now
        row.heartbeat_at = now
        row.flow_run_id = flow_run_id
        row.progress_percentage = 0
        row.error_message = None
        audit(session, "export_started", row.id, {"flow_run_id": str(flow_run_id), "attempt": row.attempt})
        return export_job(row, owner, now)


class RunSuperseded(TerminalError):
    """The row is no longer this flow run's to write: it ended, or a newer attempt has it."""


def record_progress(
    sessions: sessionmaker[Session], export_id: uuid.UUID, percent: int, flow_run_id: uuid.UUID | None
) -> None:
    """Store progress and a fresh heartbeat for this flow run; raise ExportCancelled if the row was
    cancelled, RunSuperseded if it ended otherwise or a newer attempt has it."""
    if _beat(sessions, export_id, flow_run_id, progress_percentage=percent):
        return
    with sessions() as session:
        row = session.get_one(DataExport, export_id)
    if row.status == ExportStatus.CANCELLED:
        raise ExportCancelled(f"export {export_id} was cancelled")
    if row.flow_run_id != flow_run_id:
        raise RunSuperseded(f"export {export_id} went on to attempt {row.attempt}: stopping this run")
    raise RunSuperseded(f"export {export_id} is {row.status}, not processing: stopping this run")


def record_heartbeat(
    sessions: sessionmaker[Session], export_id: uuid.UUID, flow_run_id: uuid.UUID | None
) -> bool:
    """Refresh the heartbeat of a row this flow run is processing, or has completed and still owes
    recipients their email (flows/pipeline/owed_mail.py); False if there is nothing left to beat for."""
    mailing = and_(DataExport.status == ExportStatus.COMPLETED, DataExport.owed_recipients.is_not(None))
    return _beat(sessions, export_id, flow_run_id, or_(DataExport.status == ExportStatus.PROCESSING, mailing))


def _beat(
    sessions: sessionmaker[Session],
    export_id: uuid.UUID,
    flow_run_id: uuid.UUID | None,
    working: ColumnElement[bool] = DataExport.status == ExportStatus.PROCESSING,
    **values: object,
) -> bool:
    with transaction(sessions) as session:
        updated = session.execute(
            update(DataExport)
            .where(DataExport.id == export_id, working, DataExport.flow_run_id == flow_run_id)
            .values(heartbeat_at=datetime.now(UTC), **values)
        )
        return bool(updated.rowcount == 1)  # type: ignore[attr-defined]


def export_job(row: DataExport, owner: User, started_at: datetime) -> ExportJob:
    """What a run (or a resend) needs to know about an export row and its owner."""
    return ExportJob(
        id=row.id,
        name=row.export_name,
        export_type=ExportType(row.export_type),
        format=ExportFormat(row.format),
        columns=tuple(row.columns) if row.columns else None,
        filters=dict(row.filters),
        recipients=tuple(row.recipients),
        options=dict(row.options),
        owner_email=owner.email,
        owner_name=f"{owner.first_name} {owner.last_name}".strip(),
        started_at=started_at,
        flow_run_id=row.flow_run_id,
        deliver=Delivery(row.deliver),
        webhook_urls=tuple(row.webhook_urls),
        schedule_id=row.schedule_id,
    )


def complete_export(
    sessions: sessionmaker[Session], job: ExportJob, result: RunResult, settings: Settings
) -> datetime:
    """Mark the export completed with its file, write its statistics; return when it expires.

    Raises ExportCancelled when the row was cancelled meanwhile, RunSuperseded when it ended
    otherwise or a newer attempt has it (the caller removes the file either way).
    """
    now = datetime.now(UTC)
    expires_at = now + timedelta(days=settings.retention_days)
    with transaction(sessions) as session:
        row = _locked_active_row(session, job.id, job.flow_run_id)
        row.status = ExportStatus.COMPLETED
        row.record_count = result.record_count
        row.file_size = result.file_size
        row.checksum_sha256 = result.checksum_sha256
        row.storage_key = result.storage_key
        row.file_path = result.file_path
        row.content_checksum = result.content_checksum
        row.preview = result.preview
        row.progress_percentage = 100
        row.completed_at = now
        row.heartbeat_at = now
        row.expires_at = expires_at
        _statistics(session, row, success=True, error=None)
        audit(session, "export_completed", row.id, {"rows": result.record_count, "bytes": result.file_size})
    return expires_at


def fail_export(
    sessions: sessionmaker[Session], export_id: uuid.UUID, message: str, *, run: uuid.UUID | None = None
) -> bool:
    """Mark a pending or processing export failed with a message; False if it had already ended
    (or, with `run`, if another flow run has it)."""
    return _end(sessions, export_id, ExportStatus.FAILED, message, run=run)


def cancel_export(
    sessions: sessionmaker[Session],
    export_id: uuid.UUID,
    reason: str,
    *,
    actor: Actor = SYSTEM,
    run: uuid.UUID | None = None,
) -> bool:
    """Mark a pending or processing export cancelled; False if it had already ended (or, with `run`,
    if another flow run has it).

    A row the API already marked cancelled still gets its statistics and audit entry.
    """
    return _end(sessions, export_id, ExportStatus.CANCELLED, reason, actor, run=run)


def record_notification_error(
    sessions: sessionmaker[Session], export_id: uuid.UUID, message: str, *, append: bool = False
) -> None:
    """Keep on the row (and in the audit log) that its email (or, with `append`, after what the row
    already says, a webhook) could not be sent."""
    with transaction(sessions) as session:
        row = session.get_one(DataExport, export_id)
        earlier = row.notification_error if append else None
        row.notification_error = f"{earlier}; {message}" if earlier else message
        audit(session, "export_notification_failed", row.id, {"error": message})


def _end(
    sessions: sessionmaker[Session],
    export_id: uuid.UUID,
    status: ExportStatus,
    message: str,
    actor: Actor = SYSTEM,
    *,
    run: uuid.UUID | None,
) -> bool:
    with transaction(sessions) as session:
        row = session.get(DataExport, export_id, with_for_update=True)
        if row is None or (run is not None and row.flow_run_id != run):
            return False
        already_cancelled = status == ExportStatus.CANCELLED and row.status == ExportStatus.CANCELLED
        if row.status not in ACTIVE_STATUSES and not already_cancelled:
            return False
        if already_cancelled and _has_statistics(session, export_id):
            return False
        details = {"flow_run_id": str(run)} if run else None
        end_row(session, row, status, message, actor=actor, details=details)
        return True


def end_row(
    session: Session,
    row: DataExport,
    status: ExportStatus,
    message: str,
    *,
    actor: Actor = SYSTEM,
    action: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """End a locked active row in the caller's transaction: status, message, statistics and an audit
    entry (`export_<status>` unless `action` names the decision, with `details` added)."""
    now = datetime.now(UTC)
    row.status = status
    row.error_message = message
    row.completed_at = now
    row.heartbeat_at = now
    _statistics(session, row, success=False, error=message)
    audit(session, action or f"export_{status}", row.id, {"error": message, **(details or {})}, actor=actor)


def _locked_active_row(session: Session, export_id: uuid.UUID, flow_run_id: uuid.UUID | None) -> DataExport:
    row = session.get_one(DataExport, export_id, with_for_update=True)
    if row.status == ExportStatus.CANCELLED:
        raise ExportCancelled(f"export {export_id} was cancelled")
    if row.status != ExportStatus.PROCESSING:
        raise RunSuperseded(f"export {export_id} is {row.status}, not processing")
    if flow_run_id is not None and row.flow_run_id != flow_run_id:
        raise RunSuperseded(f"export {export_id} went on to attempt {row.attempt}: stopping this run")
    return row


def _has_statistics(session: Session, export_id: uuid.UUID) -> bool:
    found = session.scalar(select(ExportStatistic.id).where(ExportStatistic.export_id == export_id).limit(1))
    return found is not None


def _statistics(session: Session, row: DataExport, *, success: bool, error: str | None) -> None:
    started = row.started_at or row.created_at
    duration = datetime.now(UTC) - started
    session.add(
        ExportStatistic(
            export_id=row.id,
            duration_ms=int(duration.total_seconds() * 1000),
            file_size=row.file_size if success else 0,
            record_count=row.record_count if success else 0,
            success=success,
            error_message=error,
            worker_node=socket.gethostname()[:100],
        )
    )
