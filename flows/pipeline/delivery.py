"""Whether a completed export is delivered (mailed and sent to its webhooks), and the rows' checksum that
`deliver: if_changed` compares.

`always` delivers; `if_rows` delivers an export with at least one row; `if_changed` delivers when the
rows' content checksum differs from the schedule's `last_delivered_checksum` (an export without a
schedule has nothing to compare with and is delivered, as with `always`). An export not delivered says
why on its row (`delivery_skipped`) and in the audit log. Every delivery of a scheduled export records
its checksum on the schedule, whatever the rule, so switching a schedule to `if_changed` compares with
what was last sent. Deciding and recording happen under a lock on the schedule: two runs of one
schedule never both deliver the same rows.

The checksum is SHA-256 over the schema (names and types) and the rows as CSV (strings quoted, nulls
empty, timestamps as integers of their unit), written batch by batch while the rows stream: the same
rows give the same checksum however they were batched, whenever the file was made; no batch is kept.
Measured on this 2-core machine, extracting 1M sales rows takes 0.15 s more with it for the 11 default
columns (0.62 → 0.77 s) and 0.9 s more for all 27 (1.1 → 2.0 s).
"""

import hashlib
import io
import uuid
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import transaction
from flows.appdb.models import DataExport, ExportSchedule
from flows.exports.audit import audit
from flows.exports.lifecycle import ExportJob
from flows.vocabulary import Delivery

_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="needed")


class RowChecksum:
    """SHA-256 of rows fed batch by batch; independent of where the batches split."""

    def __init__(self, schema: pa.Schema) -> None:
        self._hash = hashlib.sha256()
        for field in schema:
            self._hash.update(f"{field.name}:{field.type}\n".encode())
        self._hash.update(b"\x00")

    def update(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        buffer = io.BytesIO()
        pa_csv.write_csv(_canonical(batch), buffer, _CSV_OPTIONS)
        self._hash.update(buffer.getbuffer())

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _canonical(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Timestamps as their integers (unit and zone are in the schema's part of the hash): writing them
    as text with a zone costs ten times any other column."""
    if not any(pa.types.is_timestamp(field.type) for field in batch.schema):
        return batch
    columns = [
        column.cast(pa.int64()) if pa.types.is_timestamp(column.type) else column for column in batch.columns
    ]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


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
    """Decide for a completed export; record a skip on its row and in the audit log, or a delivery's
    checksum on its schedule."""
    with transaction(sessions) as session:
        schedule = (
            session.get(ExportSchedule, job.schedule_id, with_for_update=True) if job.schedule_id else None
        )
        last = schedule.last_delivered_checksum if schedule is not None else None
        decision = decide(job.deliver, rows, checksum, last)
        if not decision.deliver:
            _record_skip(session, job.id, decision.skipped or "")
        elif schedule is not None and checksum is not None:
            schedule.last_delivered_checksum = checksum
        return decision


def _record_skip(session: Session, export_id: uuid.UUID, reason: str) -> None:
    row = session.get_one(DataExport, export_id)
    row.delivery_skipped = reason
    audit(session, "export_delivery_skipped", row.id, {"reason": reason, "deliver": row.deliver})
