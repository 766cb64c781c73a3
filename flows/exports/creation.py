"""Creating an export: the one service behind the API's create, execute and retry routes, a schedule's
run and `exportflow export run`.

`create_export` stores the pending row and its audit entries in the caller's transaction (a
scheduled run does so inside its own transaction, already running); `submit_export` also commits
it and starts its flow run, which leaves the row pending for the dispatcher when Prefect is down.
"""

import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from flows.appdb.models import DataExport, User
from flows.errors import ExportflowError
from flows.exports.audit import Actor, audit
from flows.exports.requests import ExportRequest
from flows.orchestration.flow_runs import RunRequest, start_export_run
from flows.settings import Settings
from flows.vocabulary import Delivery, ExportPriority


@dataclass(frozen=True)
class Provenance:
    """How an export came to be, besides its request and owner.

    `actor` is who asked, when not the owner themselves (an admin retrying, a schedule firing);
    `flow_run_id` is set when the export is made by the flow run that will run it.
    """

    priority: ExportPriority = ExportPriority.NORMAL
    retry_of: uuid.UUID | None = None
    schedule_id: uuid.UUID | None = None
    flow_run_id: uuid.UUID | None = None
    idempotency_key: str | None = None
    idempotency_fingerprint: str | None = None
    actor: Actor | None = None


class IdempotencyKeyTaken(ExportflowError):
    """Another request stored an export under the same Idempotency-Key first."""


def create_export(
    session: Session, request: ExportRequest, owner: User, provenance: Provenance | None = None
) -> DataExport:
    """Store a pending export row for `owner`, with its audit entries (the caller commits)."""
    made = provenance or Provenance()
    row = DataExport(
        export_name=request.export_name,
        export_type=request.export_type.value,
        format=request.format.value,
        columns=request.columns or [],
        filters=request.filters,
        recipients=request.recipients,
        options=request.options.model_dump(by_alias=True, exclude_defaults=True),
        deliver=request.deliver.value,
        webhook_urls=request.webhook_urls,
        created_by=owner.id,
        priority=made.priority.value,
        retry_of=made.retry_of,
        schedule_id=made.schedule_id,
        flow_run_id=made.flow_run_id,
        idempotency_key=made.idempotency_key,
        idempotency_fingerprint=made.idempotency_fingerprint,
    )
    session.add(row)
    session.flush()
    actor = made.actor or Actor(owner.id)
    details = {"export_type": row.export_type, "format": row.format, "priority": row.priority}
    if request.deliver is not Delivery.ALWAYS:
        details["deliver"] = request.deliver.value
    if made.retry_of is not None:
        details["retry_of"] = str(made.retry_of)
    audit(session, "export_created", row.id, details, actor=actor)
    if made.retry_of is not None:
        audit(session, "export_retried", made.retry_of, {"retry_id": str(row.id)}, actor=actor)
    return row


def submit_export(
    session: Session,
    sessions: sessionmaker[Session],
    settings: Settings,
    request: ExportRequest,
    owner: User,
    provenance: Provenance | None = None,
) -> DataExport:
    """Store the export, commit, and start its flow run (Prefect being down leaves it pending).

    The row comes back as committed, pending, with its flow run's id: the run may already be under
    way (or done) by the time the caller answers, and the status read tells that, not the create.
    Raises IdempotencyKeyTaken when another request stored the same key meanwhile.
    """
    try:
        row = create_export(session, request, owner, provenance)  # flushes: a taken key fails here
        session.refresh(row)  # every column as stored, read before the commit ends the transaction
        session.commit()
    except IntegrityError:
        session.rollback()
        if provenance is not None and provenance.idempotency_key is not None:
            raise IdempotencyKeyTaken(provenance.idempotency_key) from None
        raise
    started = start_export_run(sessions, settings, RunRequest.of(row))
    if started is not None and row.flow_run_id is None:
        set_committed_value(row, "flow_run_id", started)  # stored by start_export_run already
    return row
