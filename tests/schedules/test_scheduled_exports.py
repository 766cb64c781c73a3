"""A scheduled flow run's own export row: made once, or not at all for a paused or deleted schedule."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import make_engine, session_factory, transaction
from flows.appdb.identity import create_user
from flows.appdb.models import AuditLog, DataExport, ExportSchedule
from flows.schedules.scheduled_exports import start_scheduled_export
from flows.vocabulary import Role

BERLIN = ZoneInfo("Europe/Berlin")


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
