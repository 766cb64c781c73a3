"""Creating an export: the one service behind the API's create, execute and retry routes, a schedule's
run and `exportflow export run`.

`create_export` stores the pending row and its audit entries in the caller's transaction (a
scheduled run does so inside its own transaction, already running: its row is admitted as it is made,
see flows/exports/admission.py); `submit_export` also admits the owner's waiting exports in their
order, commits, and starts the admitted ones, the new row only if it got a slot and no older export of
its owner waits. Prefect being down leaves the rows pending for the dispatcher.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from flows.appdb.models import DataExport, User
from flows.errors import ExportflowError
from flows.exports.admission import admit
from flows.exports.audit import Actor, audit
from flows.exports.requests import ExportRequest
from flows.orchestration.dispatch import start_admitted
from flows.settings import Settings
from flows.vocabulary import Delivery, ExportPriority


@dataclass(frozen=True)
class Provenance:
    """How an export came to be, besides its request and owner.

    `actor` is who asked, when not the owner themselves (an admin retrying, a schedule firing);
    `flow_run_id` is set when the export is made by the flow run that will run it (it is admitted at
    once: it is already running).
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
        admitted_at=datetime.now(UTC) if made.flow_run_id is not None else None,
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
    """Store the export, admit the owner's waiting exports (it among them) into their free slots,
    commit, and start the admitted ones (Prefect being down leaves them pending).

    The row comes back as committed, pending, with its flow run's id if it got one here: the run may
    already be under way (or done) by the time the caller answers, and the status read tells that,
    not the create. Without a free slot it waits, pending and unrefused, until an earlier export of
    its owner ends. Raises IdempotencyKeyTaken when another request stored the same key meanwhile.
    """
    try:
        row = create_export(session, request, owner, provenance)  # flushes: a taken key fails here
        admit(session, owner.id, settings.user_max_running_exports)
        session.refresh(row)  # every column as stored, read before the commit ends the transaction
        session.commit()
    except IntegrityError:
        session.rollback()
        if provenance is not None and provenance.idempotency_key is not None:
            raise IdempotencyKeyTaken(provenance.idempotency_key) from None
        raise
    started = start_admitted(sessions, settings, owner.id).get(row.id)
    if started is not None and row.flow_run_id is None:
        set_committed_value(row, "flow_run_id", started)  # stored by start_export_run already
    return row
