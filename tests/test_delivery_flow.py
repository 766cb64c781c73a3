"""Delivery rules and webhooks through the export flow under a real Prefect API (the session's test
harness), a real DuckDB warehouse, the outbox folder for email and a real HTTP receiver on loopback."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from flows.appdb.engine import app_sessions, transaction
from flows.appdb.models import DataExport, ExportSchedule, User, WebhookDelivery
from flows.demo_warehouse import generate_demo_data
from flows.export import export
from flows.pipeline.sources import duckdb_connection, parse_source
from flows.schedules.scheduled_exports import start_scheduled_export
from tests.test_export_flow import audit_actions, outbox_messages, row_of, submit

if TYPE_CHECKING:
    from tests.fixtures_webhooks import WebhookReceiver

pytest_plugins = ["tests.fixtures_webhooks"]
pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.slow]


@pytest.fixture
def hooks_env(exportflow_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Webhooks may reach the loopback receiver; one attempt each."""
    monkeypatch.setenv("EXPORTFLOW_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
    monkeypatch.setenv("EXPORTFLOW_WEBHOOK_MAX_ATTEMPTS", "2")
    return exportflow_env


def deliveries_of(export_id: uuid.UUID) -> list[WebhookDelivery]:
    with app_sessions()() as session:
        return list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.export_id == export_id)))


def test_a_completed_export_is_mailed_and_posted_to_its_webhooks(
    hooks_env: Path, webhook_receiver: "WebhookReceiver"
) -> None:
    export_id = submit(recipients=["ops@example.com"], webhook_urls=[webhook_receiver.url("/in?k=1")])
    assert export(export_id, return_state=True).is_completed()
    row = row_of(export_id)
    assert row.delivery_skipped is None
    assert row.content_checksum is None  # neither scheduled nor if_changed: nothing compares one
    assert len(outbox_messages(hooks_env)) == 1
    (request,) = webhook_receiver.received
    payload = json.loads(request.body)
    assert payload["type"] == "export.completed"
    assert payload["data"]["rows"] == row.record_count
    assert payload["data"]["sha256"] == row.checksum_sha256
    (attempt,) = deliveries_of(export_id)
    assert attempt.succeeded


def test_a_failed_export_posts_export_failed(hooks_env: Path, webhook_receiver: "WebhookReceiver") -> None:
    export_id = submit(webhook_urls=[webhook_receiver.url()], raw={"columns": ["no_such_column"]})
    assert export(export_id, return_state=True).is_failed()
    (request,) = webhook_receiver.received
    payload = json.loads(request.body)
    assert payload["type"] == "export.failed"
    assert payload["data"]["status"] == "failed"
    assert payload["data"]["error"]
    assert "download_url" not in payload["data"]


def test_a_webhook_that_keeps_failing_does_not_fail_the_export(
    hooks_env: Path, webhook_receiver: "WebhookReceiver"
) -> None:
    webhook_receiver.answers = [503, 503]
    export_id = submit(webhook_urls=[webhook_receiver.url()])
    assert export(export_id, return_state=True).is_completed()
    row = row_of(export_id)
    assert row.status == "completed"
    assert row.notification_error is not None
    assert "HTTP 503" in row.notification_error
    assert [attempt.succeeded for attempt in deliveries_of(export_id)] == [False, False]


def test_if_rows_delivers_nothing_for_no_rows_and_says_so(
    hooks_env: Path, webhook_receiver: "WebhookReceiver"
) -> None:
    export_id = submit(
        deliver="if_rows",
        recipients=["ops@example.com"],
        webhook_urls=[webhook_receiver.url()],
        filters={"order_number": "NO-SUCH-ORDER"},
    )
    assert export(export_id, return_state=True).is_completed()
    row = row_of(export_id)
    assert row.record_count == 0
    assert row.delivery_skipped == "no rows: deliver is if_rows"
    assert outbox_messages(hooks_env) == []
    assert webhook_receiver.received == []
    assert deliveries_of(export_id) == []
    assert "export_delivery_skipped" in audit_actions(export_id)


@pytest.fixture
def own_warehouse(hooks_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A small warehouse of this test's own, so it may change the data."""
    path = tmp_path / "own.duckdb"
    generate_demo_data(parse_source(str(path)), rows=300)
    monkeypatch.setenv("EXPORTFLOW_SOURCE_URL", str(path))
    return path


def schedule(**fields: Any) -> uuid.UUID:
    with transaction(app_sessions()) as session:
        owner = User(email=f"{uuid.uuid4().hex[:12]}@example.com", role="admin", first_name="Sam")
        session.add(owner)
        session.flush()
        row = ExportSchedule(
            schedule_name="Nightly sales",
            export_type="sales",
            format="csv",
            frequency="daily",
            timezone="UTC",
            time_of_day="06:00",
            next_run=datetime.now(UTC) + timedelta(days=1),
            created_by=owner.id,
            **fields,
        )
        session.add(row)
        session.flush()
        return row.id


def scheduled_run(schedule_id: uuid.UUID) -> DataExport:
    """What a schedule's flow run does: make its row, then run the export."""
    started = start_scheduled_export(app_sessions(), schedule_id, None, datetime.now(UTC))
    assert started.export_id is not None
    assert export(started.export_id, return_state=True).is_completed()
    return row_of(started.export_id)


def test_if_changed_delivers_a_schedules_rows_only_when_they_changed(
    own_warehouse: Path, hooks_env: Path, webhook_receiver: "WebhookReceiver"
) -> None:
    schedule_id = schedule(
        deliver="if_changed", recipients=["ops@example.com"], webhook_urls=[webhook_receiver.url()]
    )
    first = scheduled_run(schedule_id)
    assert first.deliver == "if_changed"
    assert first.webhook_urls == [webhook_receiver.url()]
    assert first.delivery_skipped is None
    assert len(outbox_messages(hooks_env)) == 1
    assert len(webhook_receiver.received) == 1

    second = scheduled_run(schedule_id)  # same rows, another file (another timestamp in its name)
    assert second.checksum_sha256 is not None
    assert second.content_checksum == first.content_checksum
    assert second.delivery_skipped is not None
    assert "unchanged" in second.delivery_skipped
    assert len(outbox_messages(hooks_env)) == 1
    assert len(webhook_receiver.received) == 1
    assert "export_delivery_skipped" in audit_actions(second.id)

    with duckdb_connection(parse_source(str(own_warehouse)), read_only=False) as connection:
        connection.execute(
            "UPDATE sales SET quantity = quantity + 1 WHERE sale_id = (SELECT min(sale_id) FROM sales)"
        )
    third = scheduled_run(schedule_id)
    assert third.content_checksum != first.content_checksum
    assert third.delivery_skipped is None
    assert len(outbox_messages(hooks_env)) == 2
    assert len(webhook_receiver.received) == 2
    with app_sessions()() as session:
        assert session.get_one(ExportSchedule, schedule_id).last_delivered_checksum == third.content_checksum
