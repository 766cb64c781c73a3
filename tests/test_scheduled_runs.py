"""A schedule made through the API fires in Prefect (real server with its scheduler, real worker): the
run makes its own export row, exports, emails the schedule's recipients and moves the schedule on;
slots that pass while the schedule is paused are not made up when it is resumed."""

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import make_engine, session_factory
from flows.appdb.models import DataExport, ExportSchedule
from flows.vocabulary import Role
from tests.waiting import wait_for

if TYPE_CHECKING:
    from tests.prefect_stack import MakeStackUser, Stack, Timings

pytest_plugins = ["tests.prefect_stack"]
pytestmark = pytest.mark.slow

SCHEDULES = "/exports/schedules"
FIRE_TIMEOUT_SECONDS = 100.0
"""A cron firing every minute: up to 60 s to the slot, the scheduler's loop, the worker's poll and start."""
RECIPIENT = "scheduled-team@example.com"


@pytest.fixture(scope="module")
def sessions(stack: "Stack") -> Iterator[sessionmaker[Session]]:
    engine = make_engine(stack.settings.database_url)
    yield session_factory(engine)
    engine.dispose()


def exports_of(sessions: sessionmaker[Session], schedule_id: str) -> list[DataExport]:
    with sessions() as session:
        query = select(DataExport).where(DataExport.schedule_id == uuid.UUID(schedule_id))
        return list(session.scalars(query.order_by(DataExport.created_at)))


def call(
    http: httpx.Client, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> dict[str, Any]:
    response = http.request(method, path, headers=headers, **kwargs)
    assert response.status_code in (200, 201), response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def test_a_schedule_fires_exports_and_skips_slots_missed_while_paused(
    stack: "Stack", make_stack_user: "MakeStackUser", sessions: sessionmaker[Session], timings: "Timings"
) -> None:
    admin = make_stack_user(Role.ADMIN)
    body = {
        "schedule_name": "Every minute customers",
        "export_type": "customers",
        "format": "csv",
        "frequency": "daily",
        "cron_expression": "* * * * *",
        "timezone": "Pacific/Auckland",
        "recipients": [RECIPIENT],
    }
    with stack.client() as http:
        schedule = call(http, "POST", SCHEDULES, admin.headers, json=body)
        one = f"{SCHEDULES}/{schedule['id']}"
        assert schedule["prefect_synced"] is True
        try:
            (first,) = wait_for(
                "the first scheduled export row",
                lambda: exports_of(sessions, schedule["id"]),
                FIRE_TIMEOUT_SECONDS,
            )
            call(http, "POST", f"{one}/pause", admin.headers)
            paused_at = datetime.now(UTC)
            missed_slot = paused_at.replace(second=0, microsecond=0) + timedelta(minutes=1)
            time.sleep(max(0.0, (missed_slot - datetime.now(UTC)).total_seconds()) + 3)
            call(http, "POST", f"{one}/resume", admin.headers)
            resumed_at = datetime.now(UTC)
            completed = wait_for(
                "the scheduled export completed",
                lambda: [row for row in exports_of(sessions, schedule["id"]) if row.status == "completed"],
                60,
            )
            time.sleep(2 * 5 + 2)  # two scheduler loops after the resume
            runs = stack.export_runs("schedule_id", schedule["id"])
            made = exports_of(sessions, schedule["id"])
        finally:
            call(http, "DELETE", one, admin.headers)

    row = completed[0]
    assert row.id == first.id
    fired = [run for run in runs if run.id == row.flow_run_id]
    assert len(fired) == 1
    fired_at = fired[0].expected_start_time
    assert fired_at is not None
    assert fired[0].state_name == "Completed"
    assert fired[0].auto_scheduled is True
    local_date = fired_at.astimezone(ZoneInfo("Pacific/Auckland")).date()
    assert row.export_name == f"Every minute customers {local_date:%Y-%m-%d}"
    assert row.created_by == admin.id
    assert row.recipients == [RECIPIENT]
    assert row.record_count > 0
    assert row.notification_error is None
    assert row.completed_at is not None
    timings["scheduled run: slot to export completed"] = (row.completed_at - fired_at).total_seconds()
    with sessions() as session:
        assert session.get(ExportSchedule, uuid.UUID(schedule["id"])) is None  # deleted at the end
    mails = [message_from_bytes(path.read_bytes()) for path in stack.settings.outbox_dir.glob("*.eml")]
    assert any(mail["To"] == RECIPIENT and str(row.export_name) in str(mail["Subject"]) for mail in mails)
    # Nothing was exported for the slot that passed while the schedule was paused. Pausing removes the
    # schedule's runs still Scheduled in Prefect; a run the worker had already claimed (it takes runs due
    # within PREFECT_WORKER_PREFETCH_SECONDS, 10 s) still starts, finds its schedule paused and ends
    # Cancelled without an export row (README, "Scheduled exports"). Seen when the pause came late in
    # the minute on a loaded machine.
    while_paused = [
        run for run in runs if run.expected_start_time and paused_at < run.expected_start_time < resumed_at
    ]
    assert {run.expected_start_time for run in while_paused} <= {missed_slot}
    assert [run.state_name for run in while_paused] in ([], ["Cancelled"])
    exported = [run for run in runs if run.expected_start_time and run.expected_start_time < resumed_at]
    assert len(made) == len(exported) - len(while_paused)
    assert not {row.flow_run_id for row in made} & {run.id for run in while_paused}
