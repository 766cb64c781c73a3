"""The export row a scheduled flow run makes for itself, once, from the schedule that fired."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import transaction
from flows.appdb.models import DataExport, ExportSchedule, User
from flows.exports.audit import SYSTEM, audit
from flows.exports.creation import Provenance, create_export
from flows.exports.requests import ExportRequest
from flows.schedules.rules import RESOURCE, ScheduleRule, next_run_after


@dataclass(frozen=True)
class ScheduledStart:
    """What a scheduled flow run is to do: run `export_id`, or nothing, for the reason given."""

    export_id: uuid.UUID | None
    skipped: str | None = None


def start_scheduled_export(
    sessions: sessionmaker[Session],
    schedule_id: uuid.UUID,
    flow_run_id: uuid.UUID | None,
    fired_at: datetime,
) -> ScheduledStart:
    """The export row of this scheduled flow run, made once: a re-entered run finds its row by its
    flow run id. A schedule deleted or paused in exportflow gets no export (and an audit entry).

    The row is named after the schedule and the local date it fired on, belongs to the schedule's
    creator and carries its type, format, columns, filters and recipients; the schedule's last_run
    becomes the time it fired for and its next_run the following fire time.
    """
    with transaction(sessions) as session:
        if flow_run_id is not None:
            existing = session.scalar(
                select(DataExport.id).where(
                    DataExport.flow_run_id == flow_run_id, DataExport.schedule_id == schedule_id
                )
            )
            if existing is not None:
                return ScheduledStart(existing)
        schedule = session.get(ExportSchedule, schedule_id, with_for_update=True)
        if schedule is None or not schedule.is_active:
            reason = (
                f"schedule {schedule_id} was deleted in exportflow"
                if schedule is None
                else f"schedule {schedule.schedule_name!r} is paused in exportflow"
            )
            details = {"flow_run_id": str(flow_run_id), "reason": reason}
            audit(session, "scheduled_run_skipped", schedule_id, details, resource=RESOURCE)
            return ScheduledStart(None, f"{reason}; nothing exported")
        row = _scheduled_row(session, schedule, flow_run_id, fired_at)
        return ScheduledStart(row.id)


def _scheduled_row(
    session: Session, schedule: ExportSchedule, flow_run_id: uuid.UUID | None, fired_at: datetime
) -> DataExport:
    local_date = fired_at.astimezone(ZoneInfo(schedule.timezone)).date()
    suffix = f" {local_date:%Y-%m-%d}"
    request = ExportRequest.again(schedule, schedule.schedule_name[: 255 - len(suffix)] + suffix)
    owner = session.get_one(User, schedule.created_by)
    provenance = Provenance(schedule_id=schedule.id, flow_run_id=flow_run_id, actor=SYSTEM)
    row = create_export(session, request, owner, provenance)
    schedule.last_run = fired_at
    schedule.next_run = next_run_after(ScheduleRule.of(schedule), fired_at)
    details = {"export_id": str(row.id), "flow_run_id": str(flow_run_id), "fired_at": fired_at.isoformat()}
    audit(session, "schedule_fired", schedule.id, details, resource=RESOURCE)
    return row


def export_of_run(sessions: sessionmaker[Session], flow_run_id: uuid.UUID) -> uuid.UUID | None:
    """The export row a flow run works on (a scheduled run's row is found by its flow run id)."""
    with sessions() as session:
        return session.scalar(select(DataExport.id).where(DataExport.flow_run_id == flow_run_id).limit(1))
