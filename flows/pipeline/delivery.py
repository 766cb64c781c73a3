"""Whether a completed export is delivered (mailed and sent to its webhooks), by the rule the export
names.

`always` delivers; `if_rows` delivers an export with at least one row; `if_changed` delivers when the
rows' content checksum differs from the schedule's `last_delivered_checksum` (an export without a
schedule has nothing to compare with and is delivered, as with `always`). An export not delivered says
why on its row (`delivery_skipped`) and in the audit log. Every delivery of a scheduled export records
its checksum on the schedule, whatever the rule, so switching a schedule to `if_changed` compares with
what was last sent. Deciding and recording happen under a lock on the schedule: two runs of one
schedule never both deliver the same rows.

The checksum (flows/pipeline/row_checksum.py) is taken while the rows stream to the renderer: the same
rows give the same checksum however they were batched, whenever the file was made.
"""

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import transaction
from flows.appdb.models import DataExport, ExportSchedule
from flows.exports.audit import audit
from flows.exports.lifecycle import ExportJob
from flows.pipeline.notify import ready_recipients
from flows.pipeline.owed_mail import owe
from flows.vocabulary import Delivery


@dataclass(frozen=True)
class Decision:
    deliver: bool
    skipped: str | None = None
    """Why not, when not."""


def decide(deliver: Delivery, rows: int, checksum: str | None, last_delivered: str | None) -> Decision:
    """The rule applied to one completed export (pure: no database)."""
    if deliver is Delivery.IF_ROWS and rows == 0:
        return Decision(False, "no rows: deliver is if_rows")
    if deliver is Delivery.IF_CHANGED and checksum is not None and checksum == last_delivered:
        return Decision(
            False, "rows unchanged since the schedule's last delivered export: deliver is if_changed"
        )
    return Decision(True)


def decide_delivery(
    sessions: sessionmaker[Session], job: ExportJob, rows: int, checksum: str | None
) -> Decision:
    """Decide for a completed export; record a skip on its row and in the audit log, or, for a delivery,
    its recipients as owed their email (flows/pipeline/owed_mail.py) and its checksum on its schedule."""
    with transaction(sessions) as session:
        schedule = (
            session.get(ExportSchedule, job.schedule_id, with_for_update=True) if job.schedule_id else None
        )
        last = schedule.last_delivered_checksum if schedule is not None else None
        decision = decide(job.deliver, rows, checksum, last)
        if not decision.deliver:
            _record_skip(session, job.id, decision.skipped or "")
            return decision
        owe(session.get_one(DataExport, job.id), ready_recipients(job))
        if schedule is not None and checksum is not None:
            schedule.last_delivered_checksum = checksum
        return decision


def _record_skip(session: Session, export_id: uuid.UUID, reason: str) -> None:
    row = session.get_one(DataExport, export_id)
    row.delivery_skipped = reason
    audit(session, "export_delivery_skipped", row.id, {"reason": reason, "deliver": row.deliver})
