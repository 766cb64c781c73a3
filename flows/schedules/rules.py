"""Recurring exports: a schedule's rule as a Prefect schedule, its next fire times, and the export row a
scheduled flow run makes for itself.

A frequency becomes a cron expression where cron can say it (daily, weekly, a day of month up to
the 28th) and an RRULE where it cannot: "monthly on the 31st" is `BYMONTHDAY=31,-1;BYSETPOS=1`,
the 31st where the month has one and its last day where not. Both are evaluated in the
schedule's own IANA timezone, so 09:00 stays 09:00 local across daylight-saving changes. Fire
times are computed by Prefect's own server-side schedule code, the code its scheduler runs.
"""

import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prefect.client.schemas.schedules import CronSchedule, RRuleSchedule
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import transaction
from flows.appdb.models import DataExport, ExportSchedule, User
from flows.errors import InvalidInputError
from flows.exports.audit import SYSTEM, audit
from flows.exports.requests import ExportRequest, create_export
from flows.vocabulary import Frequency

RESOURCE = "export_schedules"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_NEXT_RUNS = 400
CRON_DAY_LIMIT = 28
"""Days of month every month has: up to here a cron expression, beyond it an RRULE."""
RRULE_ANCHOR = "DTSTART:20200101T000000"
"""The start Prefect's server gives an RRULE without one (read in the schedule's timezone); stated, so
the rule reads back from Prefect exactly as it was sent."""
_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DAY_OPTION = (Frequency.MONTHLY, Frequency.QUARTERLY, Frequency.YEARLY)
_MONTH_OPTION = (Frequency.QUARTERLY, Frequency.YEARLY)

PrefectSchedule = CronSchedule | RRuleSchedule


@dataclass(frozen=True)
class ScheduleRule:
    """When a schedule fires: a frequency with its options, or a cron expression, in a timezone."""

    frequency: Frequency
    timezone: str = "UTC"
    time_of_day: str = "00:00"
    cron_expression: str | None = None
    weekday: str | None = None
    day_of_month: int | None = None
    month: int | None = None

    @classmethod
    def of(cls, row: ExportSchedule) -> "ScheduleRule":
        return cls(
            frequency=Frequency(row.frequency),
            timezone=row.timezone,
            time_of_day=row.time_of_day,
            cron_expression=row.cron_expression,
            weekday=row.weekday,
            day_of_month=row.day_of_month,
            month=row.month,
        )

    def fields(self) -> dict[str, Any]:
        """The rule as the columns (and body fields) of a schedule."""
        return {
            "frequency": self.frequency.value,
            "timezone": self.timezone,
            "time_of_day": self.time_of_day,
            "cron_expression": self.cron_expression,
            "weekday": self.weekday,
            "day_of_month": self.day_of_month,
            "month": self.month,
        }


def checked_rule(rule: ScheduleRule) -> ScheduleRule:
    """The rule with its options' defaults filled in; InvalidInputError names the first wrong field.

    An option that does not belong to the frequency (a weekday for a monthly schedule) is an error.
    """
    try:
        ZoneInfo(rule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError("timezone", f"unknown IANA timezone {rule.timezone!r}") from None
    if not _TIME_OF_DAY.match(rule.time_of_day):
        raise InvalidInputError("time_of_day", "must be HH:MM, 00:00 to 23:59")
    if rule.cron_expression is not None:
        _check_cron(rule.cron_expression, rule.timezone)
    weekly = rule.frequency is Frequency.WEEKLY
    _check_belongs("weekday", rule.weekday, weekly, "weekly")
    _check_belongs(
        "day_of_month", rule.day_of_month, rule.frequency in _DAY_OPTION, "monthly, quarterly, yearly"
    )
    _check_belongs("month", rule.month, rule.frequency in _MONTH_OPTION, "quarterly, yearly")
    if rule.weekday is not None and rule.weekday not in WEEKDAYS:
        raise InvalidInputError("weekday", f"must be one of {', '.join(WEEKDAYS)}")
    if rule.day_of_month is not None and not 1 <= rule.day_of_month <= 31:
        raise InvalidInputError(
            "day_of_month", "must be 1 to 31 (a day past a month's end means its last day)"
        )
    if rule.month is not None and not 1 <= rule.month <= 12:
        raise InvalidInputError("month", "must be 1 to 12")
    return replace(
        rule,
        weekday=rule.weekday or ("monday" if weekly else None),
        day_of_month=rule.day_of_month or (1 if rule.frequency in _DAY_OPTION else None),
        month=rule.month or (1 if rule.frequency in _MONTH_OPTION else None),
    )


def _check_belongs(field: str, value: object, belongs: bool, frequencies: str) -> None:
    if value is not None and not belongs:
        raise InvalidInputError(field, f"applies to {frequencies} schedules only")


def _check_cron(expression: str, timezone: str) -> None:
    if len(expression.split()) != 5:
        raise InvalidInputError("cron_expression", "must have 5 fields: minute hour day month weekday")
    try:
        CronSchedule(cron=expression, timezone=timezone)
    except ValidationError as error:
        message = error.errors()[0]["msg"].removeprefix("Value error, ")
        raise InvalidInputError("cron_expression", message) from None


def prefect_schedule(rule: ScheduleRule) -> PrefectSchedule:
    """The Prefect schedule that fires when the rule says (the rule is assumed checked)."""
    if rule.cron_expression:
        return CronSchedule(cron=rule.cron_expression, timezone=rule.timezone)
    hour, minute = (int(part) for part in rule.time_of_day.split(":"))
    day = rule.day_of_month or 1
    months = _months(rule)
    if rule.frequency is Frequency.DAILY:
        return CronSchedule(cron=f"{minute} {hour} * * *", timezone=rule.timezone)
    if rule.frequency is Frequency.WEEKLY:
        weekday = (WEEKDAYS.index(rule.weekday or "monday") + 1) % 7  # cron: 0 is Sunday
        return CronSchedule(cron=f"{minute} {hour} * * {weekday}", timezone=rule.timezone)
    if day <= CRON_DAY_LIMIT:
        cron_months = ",".join(str(month) for month in months) if months else "*"
        return CronSchedule(cron=f"{minute} {hour} {day} {cron_months} *", timezone=rule.timezone)
    by_month = f";BYMONTH={','.join(str(month) for month in months)}" if months else ""
    return RRuleSchedule(
        rrule=f"{RRULE_ANCHOR}\nFREQ=MONTHLY{by_month};BYMONTHDAY={day},-1;BYSETPOS=1;"
        f"BYHOUR={hour};BYMINUTE={minute};BYSECOND=0",
        timezone=rule.timezone,
    )


def _months(rule: ScheduleRule) -> list[int]:
    """The months a quarterly or yearly rule fires in; empty: every month."""
    first = rule.month or 1
    if rule.frequency is Frequency.QUARTERLY:
        return sorted((first - 1 + 3 * step) % 12 + 1 for step in range(4))
    if rule.frequency is Frequency.YEARLY:
        return [first]
    return []


def next_runs(rule: ScheduleRule, count: int, start: datetime | None = None) -> list[datetime]:
    """The next `count` fire times at or after `start` (default now), in UTC, as Prefect computes them."""
    from prefect.server.schemas import schedules as server

    schedule = prefect_schedule(rule)
    model = server.CronSchedule if isinstance(schedule, CronSchedule) else server.RRuleSchedule
    evaluated = model.model_validate(schedule.model_dump())
    # The generator Prefect's scheduler service itself draws scheduled runs from.
    dates = evaluated._get_dates_generator(n=count, start=start or datetime.now(UTC))
    return sorted(date.astimezone(UTC) for date in dates)


def next_run_after(rule: ScheduleRule, moment: datetime) -> datetime:
    """The first fire time strictly after `moment` and not in the past."""
    start = max(moment + timedelta(seconds=1), datetime.now(UTC))
    return next_runs(rule, 1, start)[0]


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
    request = ExportRequest.validated(
        {
            "export_name": schedule.schedule_name[: 255 - len(suffix)] + suffix,
            "export_type": schedule.export_type,
            "format": schedule.format,
            "columns": schedule.columns or None,
            "filters": schedule.filters,
            "recipients": schedule.recipients,
        }
    )
    owner = session.get_one(User, schedule.created_by)
    row = create_export(session, request, owner, schedule_id=schedule.id, actor=SYSTEM)
    row.flow_run_id = flow_run_id
    schedule.last_run = fired_at
    schedule.next_run = next_run_after(ScheduleRule.of(schedule), fired_at)
    details = {"export_id": str(row.id), "flow_run_id": str(flow_run_id), "fired_at": fired_at.isoformat()}
    audit(session, "schedule_fired", schedule.id, details, resource=RESOURCE)
    return row


def export_of_run(sessions: sessionmaker[Session], flow_run_id: uuid.UUID) -> uuid.UUID | None:
    """The export row a flow run works on (a scheduled run's row is found by its flow run id)."""
    with sessions() as session:
        return session.scalar(select(DataExport.id).where(DataExport.flow_run_id == flow_run_id).limit(1))
