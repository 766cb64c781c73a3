"""exportflow's schedules as schedules on the export deployment in Prefect, kept in step both ways.

Each schedule is one deployment schedule, slug `exportflow-<id>`, whose own parameters are
`{"schedule_id": "<id>"}`. Which side wins:

- existence: exportflow's database. A schedule missing in Prefect is created there; a Prefect
  schedule carrying a schedule_id whose row is gone is deleted.
- the rule (cron/RRULE, timezone) and parameters: exportflow's database (its frequency options
  cannot be read back from an edited cron); a change made in the Prefect UI is overwritten.
- paused or active: the side that changed last. A change made through exportflow's API is
  marked `prefect_synced = false` until Prefect has it, so it wins; on a schedule Prefect
  already had, a pause or resume made in the Prefect UI is taken into exportflow's database
  (and audited).

Every call is idempotent; when Prefect cannot be reached nothing is lost: the rows stay
unsynced and the next call applies them.
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.objects import DeploymentSchedule
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import transaction
from flows.appdb.models import ExportSchedule
from flows.errors import describe_error
from flows.exports.audit import audit
from flows.orchestration.flow_runs import UNREACHABLE, prefect_configured
from flows.schedules.rules import RESOURCE, PrefectSchedule, ScheduleRule, next_runs, prefect_schedule
from flows.settings import Settings

logger = logging.getLogger("exportflow.schedules")

SLUG_PREFIX = "exportflow-"


@dataclass
class SyncReport:
    """What one sync changed, by schedule id."""

    created: list[uuid.UUID] = field(default_factory=list)
    updated: list[uuid.UUID] = field(default_factory=list)
    deleted: list[uuid.UUID] = field(default_factory=list)
    paused_from_prefect: list[uuid.UUID] = field(default_factory=list)
    resumed_from_prefect: list[uuid.UUID] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line per change, for the CLI and the log."""
        return [
            f"{what} {schedule_id}"
            for what, ids in (
                ("created in Prefect", self.created),
                ("updated in Prefect", self.updated),
                ("deleted from Prefect", self.deleted),
                ("paused (as in Prefect)", self.paused_from_prefect),
                ("resumed (as in Prefect)", self.resumed_from_prefect),
            )
            for schedule_id in ids
        ]


@dataclass(frozen=True)
class _Wanted:
    """A schedule row as Prefect should have it, read in a short session before Prefect is called."""

    id: uuid.UUID
    schedule: PrefectSchedule
    active: bool
    synced: bool
    prefect_schedule_id: uuid.UUID | None
    updated_at: datetime

    @property
    def parameters(self) -> dict[str, str]:
        return {"schedule_id": str(self.id)}


def sync_schedules(
    sessions: sessionmaker[Session], settings: Settings, only: uuid.UUID | None = None
) -> SyncReport | None:
    """Bring Prefect and exportflow's schedules (all, or `only` one) in step; None if Prefect is down."""
    if not prefect_configured():
        return None
    try:
        with get_client(sync_client=True) as client:
            return _sync(client, sessions, settings, only)
    except UNREACHABLE as error:
        message = describe_error(error)
        # Loud only while a change waits for Prefect: the API's loop calls this every few seconds.
        level = logging.WARNING if _waiting(sessions, only) else logging.DEBUG
        logger.log(level, "schedules not synced with Prefect, trying again later: %s", message)
        return None


def _waiting(sessions: sessionmaker[Session], only: uuid.UUID | None) -> bool:
    """Whether a schedule change (of `only`, or of any) has not reached Prefect yet."""
    query = select(ExportSchedule.id).where(ExportSchedule.prefect_synced.is_(False))
    if only is not None:
        query = query.where(ExportSchedule.id == only)
    with sessions() as session:
        return session.scalar(query.limit(1)) is not None


def _sync(
    client: SyncPrefectClient, sessions: sessionmaker[Session], settings: Settings, only: uuid.UUID | None
) -> SyncReport:
    deployment_id = client.read_deployment_by_name(settings.export_deployment).id
    remote = {
        schedule_id: schedule
        for schedule in client.read_deployment_schedules(deployment_id)
        if (schedule_id := _schedule_id(schedule)) is not None and (only is None or schedule_id == only)
    }
    wanted = _wanted(sessions, only)
    report = SyncReport()
    for schedule_id, schedule in remote.items():
        if schedule_id not in wanted:
            client.delete_deployment_schedule(deployment_id, schedule.id)
            report.deleted.append(schedule_id)
    for row in wanted.values():
        existing = remote.get(row.id)
        if existing is None:
            (created,) = client.create_deployment_schedules(
                deployment_id,
                [
                    DeploymentScheduleCreate(
                        schedule=row.schedule,
                        active=row.active,
                        parameters=row.parameters,
                        slug=f"{SLUG_PREFIX}{row.id}",
                    )
                ],
            )
            _mark_synced(sessions, row, created.id)
            report.created.append(row.id)
            continue
        active = row.active
        if row.synced and existing.active != row.active:
            active = existing.active
            _take_activity_from_prefect(sessions, row.id, active, report)
        if (
            existing.schedule != row.schedule
            or existing.parameters != row.parameters
            or existing.active != active
        ):
            client.update_deployment_schedule(
                deployment_id, existing.id, active=active, schedule=row.schedule, parameters=row.parameters
            )
            report.updated.append(row.id)
        if not row.synced or row.prefect_schedule_id != existing.id:
            _mark_synced(sessions, row, existing.id)
    for line in report.lines():
        logger.info("schedule sync: %s", line)
    return report


def _schedule_id(schedule: DeploymentSchedule) -> uuid.UUID | None:
    """The exportflow schedule a Prefect schedule stands for, if it is one of ours: by its parameter, or
    by its slug when its parameters were lost (Prefect 3.9 resets them to {} on any PATCH that does not
    repeat them, e.g. a pause in the UI)."""
    value = schedule.parameters.get("schedule_id")
    if value is None and schedule.slug and schedule.slug.startswith(SLUG_PREFIX):
        value = schedule.slug.removeprefix(SLUG_PREFIX)
    try:
        return uuid.UUID(str(value)) if value is not None else None
    except ValueError:
        return None


def _wanted(sessions: sessionmaker[Session], only: uuid.UUID | None) -> dict[uuid.UUID, _Wanted]:
    query = select(ExportSchedule)
    if only is not None:
        query = query.where(ExportSchedule.id == only)
    with sessions() as session:
        return {
            row.id: _Wanted(
                id=row.id,
                schedule=prefect_schedule(ScheduleRule.of(row)),
                active=row.is_active,
                synced=row.prefect_synced,
                prefect_schedule_id=row.prefect_schedule_id,
                updated_at=row.updated_at,
            )
            for row in session.scalars(query)
        }


def _mark_synced(sessions: sessionmaker[Session], row: _Wanted, prefect_schedule_id: uuid.UUID) -> None:
    """Record that Prefect has this version of the row; a row changed meanwhile stays unsynced."""
    with transaction(sessions) as session:
        session.execute(
            update(ExportSchedule)
            .where(ExportSchedule.id == row.id, ExportSchedule.updated_at == row.updated_at)
            .values(prefect_synced=True, prefect_schedule_id=prefect_schedule_id, updated_at=row.updated_at)
        )


def _take_activity_from_prefect(
    sessions: sessionmaker[Session], schedule_id: uuid.UUID, active: bool, report: SyncReport
) -> None:
    """A pause or resume made in the Prefect UI becomes the row's, with an audit entry."""
    with transaction(sessions) as session:
        row = session.get(ExportSchedule, schedule_id, with_for_update=True)
        if row is None or not row.prefect_synced or row.is_active == active:
            return
        row.is_active = active
        if active:
            row.next_run = next_runs(ScheduleRule.of(row), 1, datetime.now(UTC))[0]
        action = "schedule_resumed" if active else "schedule_paused"
        audit(session, action, row.id, {"source": "prefect"}, resource=RESOURCE)
    (report.resumed_from_prefect if active else report.paused_from_prefect).append(schedule_id)
