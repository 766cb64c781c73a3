"""Schedule rules: their fire times as Prefect computes them (DST, month ends, quarters, years, cron),
their validation, and the export row a scheduled run makes for itself, once."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prefect.client.schemas.schedules import CronSchedule, RRuleSchedule
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import make_engine, session_factory, transaction
from flows.appdb.identity import create_user
from flows.appdb.models import AuditLog, DataExport, ExportSchedule
from flows.errors import InvalidInputError
from flows.schedules.rules import (
    ScheduleRule,
    checked_rule,
    next_runs,
    prefect_schedule,
    start_scheduled_export,
)
from flows.vocabulary import Frequency, Role

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


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield session_factory(engine)
    engine.dispose()


def make_schedule(sessions: sessionmaker[Session], **fields: object) -> ExportSchedule:
    with transaction(sessions) as session:
        owner = create_user(session, f"owner-{uuid.uuid4().hex[:8]}@example.com", Role.ADMIN)
        row = ExportSchedule(
            schedule_name="Nightly customers",
            export_type="customers",
            format="csv",
            frequency="daily",
            timezone="Europe/Berlin",
            time_of_day="01:00",
            next_run=datetime(2027, 3, 28, 0, tzinfo=UTC),
            recipients=["ops@example.com"],
            filters={},
            columns=["customer_id", "email"],
            created_by=owner.id,
            **fields,
        )
        session.add(row)
    return row


def exports_of(sessions: sessionmaker[Session], schedule_id: uuid.UUID) -> list[DataExport]:
    with sessions() as session:
        return list(session.scalars(select(DataExport).where(DataExport.schedule_id == schedule_id)))


def test_a_scheduled_run_makes_its_export_row_once_per_flow_run(sessions: sessionmaker[Session]) -> None:
    schedule = make_schedule(sessions)
    flow_run_id = uuid.uuid4()
    fired_at = datetime(2027, 3, 27, 23, 0, tzinfo=UTC)  # 01:00 on the 28th in Berlin

    first = start_scheduled_export(sessions, schedule.id, flow_run_id, fired_at)
    again = start_scheduled_export(sessions, schedule.id, flow_run_id, fired_at)
    other = start_scheduled_export(sessions, schedule.id, uuid.uuid4(), fired_at + timedelta(days=1))

    assert first.export_id is not None
    assert first.skipped is None
    assert again.export_id == first.export_id
    assert other.export_id not in (None, first.export_id)
    rows = {row.id: row for row in exports_of(sessions, schedule.id)}
    assert set(rows) == {first.export_id, other.export_id}
    row = rows[first.export_id]
    assert row.export_name == "Nightly customers 2027-03-28"
    assert row.created_by == schedule.created_by
    assert row.flow_run_id == flow_run_id
    assert (row.status, row.export_type, row.format) == ("pending", "customers", "csv")
    assert (row.recipients, row.columns) == (["ops@example.com"], ["customer_id", "email"])
    with sessions() as session:
        stored = session.get_one(ExportSchedule, schedule.id)
        fired = session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.action == "schedule_fired", AuditLog.resource_id == str(schedule.id))
        )
    assert stored.last_run == fired_at + timedelta(days=1)
    assert stored.next_run > datetime.now(UTC)
    assert f"{stored.next_run.astimezone(BERLIN):%H:%M}" == "01:00"
    assert fired == 2


@pytest.mark.parametrize("gone", ["paused", "deleted"])
def test_a_schedule_paused_or_deleted_here_exports_nothing_when_it_fires(
    sessions: sessionmaker[Session], gone: str
) -> None:
    schedule = make_schedule(sessions, is_active=gone != "paused")
    if gone == "deleted":
        with transaction(sessions) as session:
            session.delete(session.get_one(ExportSchedule, schedule.id))

    started = start_scheduled_export(sessions, schedule.id, uuid.uuid4(), datetime.now(UTC))

    assert started.export_id is None
    assert started.skipped is not None
    assert f"{gone} in exportflow" in started.skipped
    assert exports_of(sessions, schedule.id) == []
    with sessions() as session:
        skipped = session.scalars(
            select(AuditLog).where(
                AuditLog.action == "scheduled_run_skipped", AuditLog.resource_id == str(schedule.id)
            )
        ).all()
    assert len(skipped) == 1
    assert skipped[0].resource == "export_schedules"
