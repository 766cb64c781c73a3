"""Which pending exports get a flow run: the admitted ones (flows/exports/admission.py), oldest first.

`dispatch_owner` admits one user's waiting exports into their free slots and starts that user's
admitted exports that have no flow run yet. It runs as soon as a slot frees: when an export's flow
run ends it (flows/export.py), when the API cancels or deletes one, when the reconciler gives up on
one. A create admits in its own transaction (flows/exports/creation.py) and then calls
`start_admitted` for its owner. `dispatch_pending`, in every pass of the reconciler, does it for every
user with waiting exports and starts the admitted exports stored (or given another attempt) while
Prefect was down: no export is lost, nor left waiting behind a slot that freed unnoticed.
"""

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import transaction
from flows.appdb.models import DataExport
from flows.exports.admission import WAITING, admit
from flows.orchestration.flow_runs import RunRequest, prefect_configured, start_export_run
from flows.settings import Settings
from flows.vocabulary import ExportPriority, ExportStatus

BATCH = 100
"""Owners admitted for, and exports started, per pass of the reconciler."""


def dispatch_owner(sessions: sessionmaker[Session], settings: Settings, owner_id: uuid.UUID) -> int:
    """Admit the owner's waiting exports into their free slots, then start the owner's admitted exports
    without a flow run; returns how many started."""
    with transaction(sessions) as session:
        admit(session, owner_id, settings.user_max_running_exports)
    return len(start_admitted(sessions, settings, owner_id))


def dispatch_pending(sessions: sessionmaker[Session], settings: Settings) -> int:
    """Admit every owner's waiting exports into their free slots, then start the admitted exports
    without a flow run; returns how many started."""
    if not prefect_configured():
        return 0
    with sessions() as session:
        owners = session.scalars(select(DataExport.created_by).where(*WAITING).distinct().limit(BATCH)).all()
    for owner_id in owners:
        with transaction(sessions) as session:
            admit(session, owner_id, settings.user_max_running_exports)
    return len(start_admitted(sessions, settings))


def start_admitted(
    sessions: sessionmaker[Session], settings: Settings, owner_id: uuid.UUID | None = None
) -> dict[uuid.UUID, uuid.UUID]:
    """Start the flow runs of admitted pending exports that have none (of one owner, or of everyone),
    oldest first; returns the runs started by export. Stops at the first Prefect does not start: the
    others stay admitted, for the reconciler to start."""
    query = (
        select(DataExport.id, DataExport.attempt, DataExport.priority)
        .where(
            DataExport.status == ExportStatus.PENDING,
            DataExport.admitted_at.is_not(None),
            DataExport.flow_run_id.is_(None),
            DataExport.deleted_at.is_(None),
        )
        .order_by(DataExport.created_at, DataExport.id)
        .limit(BATCH)
    )
    if owner_id is not None:
        query = query.where(DataExport.created_by == owner_id)
    with sessions() as session:
        admitted = session.execute(query).all()
    started: dict[uuid.UUID, uuid.UUID] = {}
    for export_id, attempt, priority in admitted:
        run = start_export_run(sessions, settings, RunRequest(export_id, attempt, ExportPriority(priority)))
        if run is None:
            break
        started[export_id] = run
    return started
