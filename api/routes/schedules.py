"""Routes: scheduled exports, each a schedule on the export deployment in Prefect.

Every change is committed to the app database first and then applied to Prefect; when Prefect
cannot be reached the change is kept (the row says `prefect_synced: false`) and the API's
background loop applies it once Prefect answers (flows.schedules.prefect_sync).
"""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.access import check_may_export
from api.deps import OriginDep, Services, ServicesDep, SessionDep, require
from api.errors import not_found
from api.pagination import PageDep
from api.permissions import Permission
from api.schemas.common import ERROR_RESPONSES, Envelope, Page
from api.schemas.schedules import NextRun, NextRunsOut, ScheduleCreate, ScheduleOut, ScheduleUpdate
from flows.appdb.models import ExportSchedule, User
from flows.catalog.query import check_choices
from flows.exports.audit import Actor, audit
from flows.exports.requests import normalized_recipients, parse_model
from flows.exports.webhook_urls import check_public_targets, normalized_webhook_urls
from flows.schedules.prefect_sync import sync_schedules
from flows.schedules.rules import MAX_NEXT_RUNS, RESOURCE, ScheduleRule, checked_rule, next_runs
from flows.settings import Settings

router = APIRouter(tags=["schedules"], responses=ERROR_RESPONSES)

URL = "/exports/schedules"
ONE = "/exports/schedules/{schedule_id:uuid}"
RULE_OPTIONS = ("weekday", "day_of_month", "month")


@router.get(URL, response_model=Page[ScheduleOut], summary="List schedules")
def list_schedules(
    session: SessionDep,
    user: Annotated[User, require(Permission.SCHEDULES_READ)],
    page: PageDep,
    is_active: Annotated[bool | None, Query()] = None,
) -> Page[ScheduleOut]:
    """Every schedule (they are for admins only), newest first."""
    conditions = [] if is_active is None else [ExportSchedule.is_active.is_(is_active)]
    newest_first = ExportSchedule.created_at.desc(), ExportSchedule.id
    ordered = select(ExportSchedule).where(*conditions).order_by(*newest_first)
    rows, pagination = page.of(session, ordered)
    return Page[ScheduleOut](data=[ScheduleOut.model_validate(row) for row in rows], pagination=pagination)


@router.post(URL, status_code=201, response_model=Envelope[ScheduleOut], summary="Create a schedule")
def create_schedule(
    body: ScheduleCreate,
    services: ServicesDep,
    session: SessionDep,
    origin: OriginDep,
    user: Annotated[User, require(Permission.SCHEDULES_CREATE)],
) -> Envelope[ScheduleOut]:
    """Store the schedule and add it to the export deployment in Prefect (later, if Prefect is down)."""
    fields = _checked(body.model_dump(), user, services.settings)
    row = ExportSchedule(created_by=user.id, is_active=True, **fields)
    row.next_run = _next_run(row)
    session.add(row)
    session.flush()
    details = {"export_type": row.export_type, "frequency": row.frequency, "timezone": row.timezone}
    return _saved(services, session, row, "schedule_created", details, origin.actor(user))


@router.get(ONE, response_model=Envelope[ScheduleOut], summary="Read a schedule")
def read_schedule(
    schedule_id: uuid.UUID, session: SessionDep, user: Annotated[User, require(Permission.SCHEDULES_READ)]
) -> Envelope[ScheduleOut]:
    return Envelope(data=ScheduleOut.model_validate(_schedule(session, schedule_id)))


@router.put(ONE, response_model=Envelope[ScheduleOut], summary="Update a schedule")
def update_schedule(
    schedule_id: uuid.UUID,
    body: ScheduleUpdate,
    services: ServicesDep,
    session: SessionDep,
    origin: OriginDep,
    user: Annotated[User, require(Permission.SCHEDULES_UPDATE)],
) -> Envelope[ScheduleOut]:
    """Change any of the fields given; the schedule they make together is checked like a new one.

    Changing the frequency drops the old frequency's options (weekday, day_of_month, month) unless
    they are given again.
    """
    row = _schedule(session, schedule_id, lock=True)
    changes = body.model_dump(exclude_unset=True)
    current = _fields(row)
    if "frequency" in changes:
        current.update(dict.fromkeys(RULE_OPTIONS))
    fields = _checked({**current, **changes}, user, services.settings)
    for name, value in fields.items():
        setattr(row, name, value)
    row.next_run = _next_run(row)
    details = {"fields": sorted(changes)}
    return _saved(services, session, row, "schedule_updated", details, origin.actor(user))


@router.delete(ONE, response_model=Envelope[ScheduleOut], summary="Delete a schedule")
def delete_schedule(
    schedule_id: uuid.UUID,
    services: ServicesDep,
    session: SessionDep,
    origin: OriginDep,
    user: Annotated[User, require(Permission.SCHEDULES_DELETE)],
) -> Envelope[ScheduleOut]:
    """Remove the schedule here and in Prefect; exports it made are kept (their schedule_id set null)."""
    row = _schedule(session, schedule_id, lock=True)
    out = ScheduleOut.model_validate(row)
    details = {"schedule_name": row.schedule_name, "export_type": row.export_type}
    session.delete(row)
    audit(session, "schedule_deleted", row.id, details, actor=origin.actor(user), resource=RESOURCE)
    session.commit()
    sync_schedules(services.sessions, services.settings, only=schedule_id)
    return Envelope(data=out)


@router.post(ONE + "/pause", response_model=Envelope[ScheduleOut], summary="Pause a schedule")
def pause_schedule(
    schedule_id: uuid.UUID,
    services: ServicesDep,
    session: SessionDep,
    origin: OriginDep,
    user: Annotated[User, require(Permission.SCHEDULES_UPDATE)],
) -> Envelope[ScheduleOut]:
    """Stop firing (Prefect drops the runs it had scheduled); pausing a paused schedule changes nothing."""
    return _set_active(services, session, origin.actor(user), schedule_id, active=False)


@router.post(ONE + "/resume", response_model=Envelope[ScheduleOut], summary="Resume a schedule")
def resume_schedule(
    schedule_id: uuid.UUID,
    services: ServicesDep,
    session: SessionDep,
    origin: OriginDep,
    user: Annotated[User, require(Permission.SCHEDULES_UPDATE)],
) -> Envelope[ScheduleOut]:
    """Fire again from the next slot after now: slots missed while paused are not made up."""
    return _set_active(services, session, origin.actor(user), schedule_id, active=True)


@router.get(ONE + "/next-runs", response_model=Envelope[NextRunsOut], summary="Next fire times")
def schedule_next_runs(
    schedule_id: uuid.UUID,
    session: SessionDep,
    user: Annotated[User, require(Permission.SCHEDULES_READ)],
    count: Annotated[int, Query(ge=1, le=MAX_NEXT_RUNS)] = 10,
) -> Envelope[NextRunsOut]:
    """The next `count` times the schedule fires from now, in UTC and in its own timezone."""
    row = _schedule(session, schedule_id)
    zone = ZoneInfo(row.timezone)
    runs = [NextRun(utc=at, local=at.astimezone(zone)) for at in next_runs(ScheduleRule.of(row), count)]
    return Envelope(
        data=NextRunsOut(schedule_id=row.id, timezone=row.timezone, is_active=row.is_active, runs=runs)
    )


def _set_active(
    services: Services, session: Session, actor: Actor, schedule_id: uuid.UUID, *, active: bool
) -> Envelope[ScheduleOut]:
    row = _schedule(session, schedule_id, lock=True)
    if row.is_active == active:
        return Envelope(data=ScheduleOut.model_validate(row))
    row.is_active = active
    if active:
        row.next_run = _next_run(row)
    action = "schedule_resumed" if active else "schedule_paused"
    return _saved(services, session, row, action, {}, actor)


def _saved(
    services: Services,
    session: Session,
    row: ExportSchedule,
    action: str,
    details: dict[str, Any],
    actor: Actor,
) -> Envelope[ScheduleOut]:
    """Audit and commit the change, then apply it to Prefect (kept for later when Prefect is down)."""
    row.prefect_synced = False
    audit(session, action, row.id, details, actor=actor, resource=RESOURCE)
    session.commit()
    sync_schedules(services.sessions, services.settings, only=row.id)
    session.refresh(row)
    return Envelope(data=ScheduleOut.model_validate(row))


def _schedule(session: Session, schedule_id: uuid.UUID, *, lock: bool = False) -> ExportSchedule:
    row = session.get(ExportSchedule, schedule_id, with_for_update=lock)
    if row is None:
        raise not_found("schedule")
    return row


def _checked(data: dict[str, Any], user: User, settings: Settings) -> dict[str, Any]:
    """The columns of a whole schedule from `data`: its fields, the caller's right to its type, its columns
    and filters against the catalog, its recipients and its rule; InvalidInputError names the field."""
    schedule = parse_model(ScheduleCreate, data)
    check_may_export(user, schedule.export_type, settings)
    check_choices(schedule.export_type, columns=schedule.columns, filters=schedule.filters)
    webhook_urls = normalized_webhook_urls(schedule.webhook_urls)
    check_public_targets(webhook_urls, allow_private=settings.webhook_allow_private_targets)
    rule = checked_rule(
        ScheduleRule(
            frequency=schedule.frequency,
            timezone=schedule.timezone,
            time_of_day=schedule.time_of_day,
            cron_expression=schedule.cron_expression,
            weekday=schedule.weekday,
            day_of_month=schedule.day_of_month,
            month=schedule.month,
        )
    )
    return {
        "schedule_name": schedule.schedule_name,
        "export_type": schedule.export_type.value,
        "format": schedule.format.value,
        "recipients": normalized_recipients(schedule.recipients),
        "filters": schedule.filters,
        "columns": schedule.columns or [],
        "deliver": schedule.deliver.value,
        "webhook_urls": webhook_urls,
        **rule.fields(),
    }


def _fields(row: ExportSchedule) -> dict[str, Any]:
    """A stored schedule as the fields of a body."""
    return {
        "schedule_name": row.schedule_name,
        "export_type": row.export_type,
        "format": row.format,
        "recipients": row.recipients,
        "filters": row.filters,
        "columns": row.columns or None,
        "deliver": row.deliver,
        "webhook_urls": row.webhook_urls,
        **ScheduleRule.of(row).fields(),
    }


def _next_run(row: ExportSchedule) -> datetime:
    """When the schedule fires next from now (a paused one: once resumed, if not later)."""
    (first,) = next_runs(ScheduleRule.of(row), 1, datetime.now(UTC))
    return first
