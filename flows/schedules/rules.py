"""When a recurring export fires: a schedule's rule as a Prefect schedule, and its next fire times.

A frequency becomes a cron expression where cron can say it (daily, weekly, a day of month up to
the 28th) and an RRULE where it cannot: "monthly on the 31st" is `BYMONTHDAY=31,-1;BYSETPOS=1`,
the 31st where the month has one and its last day where not. Both are evaluated in the
schedule's own IANA timezone, so 09:00 stays 09:00 local across daylight-saving changes. Fire
times are computed by Prefect's own server-side schedule code, the code its scheduler runs.
"""

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prefect.client.schemas.schedules import CronSchedule, RRuleSchedule
from pydantic import ValidationError

from flows.appdb.models import ExportSchedule
from flows.errors import InvalidInputError
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
