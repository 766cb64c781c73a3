"""The ready emails a completed export still owes, so that a run dying while it mails its recipients loses
none of them.

When the export's delivery is decided (flows/pipeline/delivery.py), its recipients are recorded as owed;
each is struck off once its message is sent, and the rest when the run has tried them all. While any are
owed the run keeps the row's heartbeat fresh (`lifecycle.record_heartbeat`). A completed row that still
owes recipients and whose heartbeat is older than the lease was left by a dead run: one reconciler claims
it (a guarded refresh of the heartbeat, so any number may run), sends each owed recipient their message
from the stored file (as a resend does), striking each off, marks the dead flow run crashed in Prefect if
it still shows it running, and audits `export_owed_mail_sent`.

A message the SMTP server accepted just before the run died, and not yet struck off, is sent twice: the
window is the one UPDATE after the server's answer. The export's webhooks, which come after the emails,
are not sent for a run that died before them.
"""

import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import transaction
from flows.appdb.models import DataExport
from flows.exports.audit import audit
from flows.exports.lifecycle import record_notification_error
from flows.orchestration.flow_runs import is_active, mark_crashed, read_run_state
from flows.pipeline.resend import email_recipients, stored_delivery
from flows.settings import Settings
from flows.storage.store import open_storage
from flows.vocabulary import ExportStatus

logger = logging.getLogger("exportflow.owed_mail")

ROWS_PER_PASS = 50


def owe(row: DataExport, recipients: list[str]) -> None:
    """Record, in the caller's transaction, that these recipients are owed the export's ready email."""
    row.owed_recipients = list(recipients) or None


def strike_off(
    sessions: sessionmaker[Session], export_id: uuid.UUID, recipient: str, run: uuid.UUID | None
) -> None:
    """`recipient` got their message from the run `run`: no longer owed. Logged, never raised: the message
    is sent, and failing here would send it again."""
    try:
        with transaction(sessions) as session:
            row = session.get_one(DataExport, export_id, with_for_update=True)
            if row.flow_run_id != run or not row.owed_recipients:
                return
            row.owed_recipients = [owed for owed in row.owed_recipients if owed != recipient] or None
            row.heartbeat_at = datetime.now(UTC)
    except Exception as error:
        logger.warning(
            "export %s: %s was mailed but is still recorded as owed: %s", export_id, recipient, error
        )


def settle(sessions: sessionmaker[Session], export_id: uuid.UUID, run: uuid.UUID | None) -> None:
    """The run `run` tried every recipient (a failure is on the row): none is owed any more."""
    with transaction(sessions) as session:
        session.execute(
            update(DataExport)
            .where(DataExport.id == export_id, DataExport.flow_run_id == run)
            .values(owed_recipients=None)
        )


def mail_what_dead_runs_owe(
    sessions: sessionmaker[Session], settings: Settings, stale_before: datetime
) -> int:
    """Send the emails that completed exports owe and whose runs stopped beating before `stale_before`;
    returns how many exports this reconciler mailed for."""
    with sessions() as session:
        owing = session.scalars(
            select(DataExport.id)
            .where(
                DataExport.status == ExportStatus.COMPLETED,
                DataExport.owed_recipients.is_not(None),
                DataExport.heartbeat_at < stale_before,
                DataExport.deleted_at.is_(None),
            )
            .limit(ROWS_PER_PASS)
        ).all()
    return sum(_mail_for(sessions, settings, export_id, stale_before) for export_id in owing)


def _mail_for(
    sessions: sessionmaker[Session], settings: Settings, export_id: uuid.UUID, stale_before: datetime
) -> bool:
    """Claim the row (only if its heartbeat is still stale), then mail whom it owes; False if another
    reconciler had it."""
    with transaction(sessions) as session:
        claimed = session.execute(
            update(DataExport)
            .where(DataExport.id == export_id, DataExport.heartbeat_at < stale_before)
            .values(heartbeat_at=datetime.now(UTC))
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return False
        row = session.get_one(DataExport, export_id)
        delivery = stored_delivery(session, row)
        owed = replace(delivery, job=replace(delivery.job, recipients=tuple(row.owed_recipients or ())))
        dead_run = row.flow_run_id
    if dead_run and is_active(read_run_state(dead_run)):
        mark_crashed(dead_run, "exportflow's reconciler: the run stopped while mailing its recipients")
    emailed, error = email_recipients(
        settings,
        open_storage(settings),
        owed,
        sent=lambda recipient: strike_off(sessions, export_id, recipient, dead_run),
    )
    settle(sessions, export_id, dead_run)
    if error is not None:
        record_notification_error(sessions, export_id, error)
    with transaction(sessions) as session:
        details = {"emailed": emailed, "error": error, "flow_run_id": str(dead_run)}
        audit(session, "export_owed_mail_sent", export_id, details)
    logger.warning(
        "export %s: its run died owing %d email(s); sent %d",
        export_id,
        len(owed.job.recipients),
        len(emailed),
    )
    return True
