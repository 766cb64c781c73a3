"""Per-user admission: at most EXPORTFLOW_USER_MAX_RUNNING_EXPORTS exports of one user under way at once;
the others wait in `pending` and are admitted in the order they were made. None is refused.

An export is admitted (its `admitted_at` set) when it gets one of its owner's slots, and holds the slot
for as long as it is pending or processing, through every attempt: the count is by admission, not by
flow run, so it stays right while Prefect is down (admitted exports wait for their flow run) and when
the reconciler gives an export another attempt. Only admitted exports get a flow run
(flows/orchestration/dispatch.py). A cancelled or deleted export that waited never held a slot.

`admit` runs in one transaction that first locks the owner's `users` row (PostgreSQL: FOR NO KEY
UPDATE, which leaves the inserts of the owner's new exports alone; on SQLite every transaction of the
app begins IMMEDIATE, holding the database's write lock), then counts the slots held and admits the
oldest waiting exports into the free ones. API replicas and reconcilers admitting for one owner at
once so take turns, and never admit more than the cap.

Two kinds of export hold a slot without waiting for one: a schedule's export, made by its flow run
(already running; flows/exports/creation.py admits it as it is made), and any export that begins
running without having been admitted (`exportflow export run` runs its export in-process), which
`begin_export` admits as it starts. They count toward the owner's slots, so the owner's waiting
exports wait for them too.
"""

import uuid
from datetime import UTC, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.models import DataExport, User
from flows.exports.audit import audit
from flows.vocabulary import ExportStatus

HOLDING = (
    DataExport.admitted_at.is_not(None),
    DataExport.status.in_((ExportStatus.PENDING, ExportStatus.PROCESSING)),
)
"""An export that holds one of its owner's slots."""
WAITING = (
    DataExport.status == ExportStatus.PENDING,
    DataExport.admitted_at.is_(None),
    DataExport.deleted_at.is_(None),
)
"""An export that waits for one of its owner's slots."""


def admit(session: Session, owner_id: uuid.UUID, slots: int) -> list[uuid.UUID]:
    """Admit the owner's oldest waiting exports into the free ones of their `slots`, in the caller's
    transaction (the caller commits); returns the ids admitted, oldest first."""
    session.execute(select(User.id).where(User.id == owner_id).with_for_update(key_share=True))
    held = session.scalar(select(func.count()).where(DataExport.created_by == owner_id, *HOLDING)) or 0
    if held >= slots:
        return []
    admitted = session.scalars(
        select(DataExport)
        .where(DataExport.created_by == owner_id, *WAITING)
        .order_by(DataExport.created_at, DataExport.id)
        .limit(slots - held)
        .with_for_update()
    ).all()
    now = datetime.now(UTC)
    for slot, row in enumerate(admitted, start=held + 1):
        row.admitted_at = now
        audit(session, "export_admitted", row.id, {"slot": slot, "slots": slots})
    session.flush()
    return [row.id for row in admitted]


def queue_position(sessions: sessionmaker[Session], row: DataExport) -> int | None:
    """Where a waiting export stands in its owner's queue (1: it is admitted next); None when it is
    not waiting for a slot."""
    if not _waits(row):
        return None
    ahead = or_(
        DataExport.created_at < row.created_at,
        and_(DataExport.created_at == row.created_at, DataExport.id < row.id),
    )
    with sessions() as session:
        count = session.scalar(
            select(func.count()).where(DataExport.created_by == row.created_by, *WAITING, ahead)
        )
    return (count or 0) + 1


def _waits(row: DataExport) -> bool:
    return row.status == ExportStatus.PENDING and row.admitted_at is None and row.deleted_at is None
