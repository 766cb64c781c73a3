"""Schedule rules: their fire times as Prefect computes them (DST, month ends, quarters, years, cron),
their validation, and the export row a scheduled run makes for itself, once."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prefect.client.schemas.schedules import CronSchedule, RRuleSchedule

from flows.errors import InvalidInputError
from flows.schedules.rules import (
    ScheduleRule,
    checked_rule,
    next_runs,
    prefect_schedule,
)
from flows.vocabulary import Frequency

BERLIN = ZoneInfo("Europe/Berlin")


def local(rule: ScheduleRule, count: int, start: datetime) -> list[str]:
    """The fire times as local wall-clock strings of the rule's timezone."""
    zone = ZoneInfo(rule.timezone)
    return [f"{at.astimezone(zone):%Y-%m-%d %H:%M %z}" for at in next_runs(checked_rule(rule), count, start)]


def test_daily_nine_in_berlin_stays_nine_local_through_both_2027_changes() -> None:
    rule = ScheduleRule(Frequency.DAILY, timezone="Europe/Berlin", time_of_day="09:00")

    spring = next_runs(rule, 4, datetime(2027, 3, 26, tzinfo=UTC))
    autumn = next_runs(rule, 4, datetime(2027, 10, 29, tzinfo=UTC))

    assert [f"{at:%m-%d %H:%M}" for at in spring] == [
        "03-26 08:00",
        "03-27 08:00",
        "03-28 07:00",
        "03-29 07:00",
    ]
    assert [f"{at:%m-%d %H:%M}" for at in autumn] == [
        "10-29 07:00",
        "10-30 07:00",
        "10-31 08:00",
        "11-01 08:00",
    ]
    assert {f"{at.astimezone(BERLIN):%H:%M}" for at in spring + autumn} == {"09:00"}
    assert all(at.tzinfo == UTC for at in spring)


def test_a_local_time_skipped_by_the_spring_change_fires_an_hour_later_that_day() -> None:
    rule = ScheduleRule(Frequency.DAILY, timezone="Europe/Berlin", time_of_day="02:30")

    assert local(rule, 3, datetime(2027, 3, 27, 12, tzinfo=UTC)) == [
        "2027-03-28 03:30 +0200",
        "2027-03-29 02:30 +0200",
        "2027-03-30 02:30 +0200",
    ]


def test_monthly_on_the_31st_fires_on_the_last_day_of_shorter_months() -> None:
    rule = checked_rule(ScheduleRule(Frequency.MONTHLY, time_of_day="06:15", day_of_month=31))

    assert isinstance(prefect_schedule(rule), RRuleSchedule)
    assert [f"{at:%Y-%m-%d %H:%M}" for at in next_runs(rule, 14, datetime(2027, 1, 1, tzinfo=UTC))] == [
        "2027-01-31 06:15",
        "2027-02-28 06:15",
        "2027-03-31 06:15",
        "2027-04-30 06:15",
        "2027-05-31 06:15",
        "2027-06-30 06:15",
        "2027-07-31 06:15",
        "2027-08-31 06:15",
        "2027-09-30 06:15",
        "2027-10-31 06:15",
        "2027-11-30 06:15",
        "2027-12-31 06:15",
        "2028-01-31 06:15",
        "2028-02-29 06:15",
    ]


def test_monthly_up_to_the_28th_is_a_plain_cron_in_the_schedules_timezone() -> None:
    rule = checked_rule(ScheduleRule(Frequency.MONTHLY, timezone="Europe/Berlin", day_of_month=5))

    schedule = prefect_schedule(rule)

    assert schedule == CronSchedule(cron="0 0 5 * *", timezone="Europe/Berlin")
    assert local(rule, 2, datetime(2027, 3, 6, tzinfo=UTC)) == [
        "2027-04-05 00:00 +0200",
        "2027-05-05 00:00 +0200",
    ]


def test_quarterly_runs_every_third_month_from_the_given_month() -> None:
    mid = checked_rule(ScheduleRule(Frequency.QUARTERLY, day_of_month=15, month=2, time_of_day="07:00"))
    end = checked_rule(ScheduleRule(Frequency.QUARTERLY, day_of_month=31))
    start = datetime(2027, 1, 1, tzinfo=UTC)

    assert [f"{at:%Y-%m-%d %H:%M}" for at in next_runs(mid, 5, start)] == [
        "2027-02-15 07:00",
        "2027-05-15 07:00",
        "2027-08-15 07:00",
        "2027-11-15 07:00",
        "2028-02-15 07:00",
    ]
    assert [f"{at:%Y-%m-%d}" for at in next_runs(end, 4, start)] == [
        "2027-01-31",
        "2027-04-30",
        "2027-07-31",
        "2027-10-31",
    ]


def test_yearly_on_february_29th_fires_on_the_28th_in_common_years() -> None:
    rule = checked_rule(ScheduleRule(Frequency.YEARLY, month=2, day_of_month=29, time_of_day="12:00"))

    assert [f"{at:%Y-%m-%d %H:%M}" for at in next_runs(rule, 3, datetime(2027, 1, 1, tzinfo=UTC))] == [
        "2027-02-28 12:00",
        "2028-02-29 12:00",
        "2029-02-28 12:00",
    ]


def test_weekly_defaults_to_monday_and_takes_a_weekday() -> None:
    monday = checked_rule(ScheduleRule(Frequency.WEEKLY, time_of_day="08:00"))
    sunday = checked_rule(ScheduleRule(Frequency.WEEKLY, weekday="sunday", time_of_day="08:00"))
    start = datetime(2027, 6, 1, tzinfo=UTC)  # a Tuesday

    assert monday.weekday == "monday"
    assert [f"{at:%a %d}" for at in next_runs(monday, 2, start)] == ["Mon 07", "Mon 14"]
    assert [f"{at:%a %d}" for at in next_runs(sunday, 2, start)] == ["Sun 06", "Sun 13"]


def test_a_cron_expression_overrides_the_frequency() -> None:
    rule = checked_rule(
        ScheduleRule(
            Frequency.MONTHLY,
            timezone="America/New_York",
            cron_expression="30 6 * * 1-5",
            day_of_month=31,
        )
    )

    assert prefect_schedule(rule) == CronSchedule(cron="30 6 * * 1-5", timezone="America/New_York")
    assert local(rule, 3, datetime(2027, 6, 4, 12, tzinfo=UTC)) == [
        "2027-06-07 06:30 -0400",
        "2027-06-08 06:30 -0400",
        "2027-06-09 06:30 -0400",
    ]


def test_four_hundred_next_runs_are_computed_quickly() -> None:
    rule = checked_rule(ScheduleRule(Frequency.MONTHLY, timezone="Europe/Berlin", day_of_month=30))
    started = datetime.now(UTC)

    runs = next_runs(rule, 400)

    assert len(runs) == 400
    assert runs == sorted(set(runs))
    assert runs[0] >= started
    assert datetime.now(UTC) - started < timedelta(seconds=2)


@pytest.mark.parametrize(
    ("rule", "field", "message"),
    [
        (ScheduleRule(Frequency.DAILY, timezone="Mars/Olympus"), "timezone", "Mars/Olympus"),
        (ScheduleRule(Frequency.DAILY, time_of_day="24:00"), "time_of_day", "HH:MM"),
        (ScheduleRule(Frequency.DAILY, time_of_day="9:00"), "time_of_day", "HH:MM"),
        (ScheduleRule(Frequency.DAILY, cron_expression="0 9 * * * *"), "cron_expression", "5 fields"),
        (ScheduleRule(Frequency.DAILY, cron_expression="61 9 * * *"), "cron_expression", "cron"),
        (ScheduleRule(Frequency.MONTHLY, weekday="monday"), "weekday", "weekly"),
        (ScheduleRule(Frequency.WEEKLY, weekday="funday"), "weekday", "monday"),
        (ScheduleRule(Frequency.MONTHLY, day_of_month=32), "day_of_month", "1 to 31"),
        (ScheduleRule(Frequency.DAILY, day_of_month=3), "day_of_month", "monthly"),
        (ScheduleRule(Frequency.MONTHLY, month=3), "month", "quarterly, yearly"),
        (ScheduleRule(Frequency.YEARLY, month=13), "month", "1 to 12"),
    ],
)
def test_a_wrong_rule_is_refused_naming_its_field(rule: ScheduleRule, field: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        checked_rule(rule)

    assert raised.value.field == field
    assert message.lower() in raised.value.message.lower()
