"""Delivery over HTTP: rules and webhook URLs on exports and schedules, webhook attempts on an export's
details, and resending a completed export (real SMTP server, real HTTP receiver on loopback)."""

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import transaction
from flows.appdb.models import AuditLog, DataExport
from flows.settings import Settings
from tests.api.conftest import Caller, MakeExport
from tests.api.test_exports import SALES, create, error_of

if TYPE_CHECKING:
    from tests.fixtures_smtp import SmtpServer
    from tests.fixtures_webhooks import WebhookReceiver

pytest_plugins = ["tests.fixtures_smtp", "tests.fixtures_webhooks"]
SCHEDULES = "/api/v1/exports/schedules"
NIGHTLY = {
    "schedule_name": "Nightly",
    "export_type": "sales",
    "format": "csv",
    "frequency": "daily",
    "time_of_day": "06:00",
}


def test_an_export_keeps_its_rule_and_webhooks_and_shows_them_without_queries(
    client: TestClient, manager: Caller
) -> None:
    body = {**SALES, "deliver": "if_rows", "webhook_urls": ["https://8.8.8.8/hook?token=secret"]}
    data = create(client, manager, body)
    assert data["deliver"] == "if_rows"
    assert data["webhook_urls"] == ["https://8.8.8.8/hook"]
    assert data["delivery_skipped"] is None
    detail = client.get(f"/api/v1/exports/{data['id']}", headers=manager.headers).json()["data"]
    assert detail["webhook_deliveries"] == []
    assert create(client, manager)["deliver"] == "always"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"deliver": "sometimes"}, "deliver"),
        ({"webhook_urls": ["http://127.0.0.1:9000/hook"]}, "webhook_urls[0]"),
        ({"webhook_urls": ["https://8.8.8.8/", "http://localhost/x"]}, "webhook_urls[1]"),
        ({"webhook_urls": ["http://169.254.169.254/latest"]}, "webhook_urls[0]"),
        ({"webhook_urls": ["https://user:pw@8.8.8.8/"]}, "webhook_urls[0]"),
        ({"webhook_urls": ["file:///etc/passwd"]}, "webhook_urls[0]"),
        ({"webhook_urls": [f"https://8.8.8.{index}/" for index in range(6)]}, "webhook_urls"),
    ],
)
def test_a_bad_rule_or_webhook_url_is_a_400_naming_it(
    client: TestClient, manager: Caller, body: dict[str, Any], field: str
) -> None:
    for route in ("/api/v1/exports", "/api/v1/exports/execute"):
        response = client.post(route, json={**SALES, **body}, headers=manager.headers)
        assert response.status_code == 400, response.text
        assert error_of(response)["field"] == field
    by_type = client.post("/api/v1/exports/execute/sales", json=body, headers=manager.headers)
    assert by_type.status_code == 400
    assert error_of(by_type)["field"] == field


def test_execute_by_type_takes_the_rule_and_webhooks(client: TestClient, manager: Caller) -> None:
    response = client.post(
        "/api/v1/exports/execute/sales",
        json={"deliver": "if_changed", "webhook_urls": ["https://8.8.8.8/h"]},
        headers=manager.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["data"]["deliver"] == "if_changed"
    assert response.json()["data"]["webhook_urls"] == ["https://8.8.8.8/h"]


def test_a_schedule_keeps_its_rule_and_webhooks_and_refuses_private_targets(
    client: TestClient, admin: Caller
) -> None:
    refused = client.post(
        SCHEDULES, json={**NIGHTLY, "webhook_urls": ["http://10.0.0.5/in"]}, headers=admin.headers
    )
    assert refused.status_code == 400
    assert error_of(refused)["field"] == "webhook_urls[0]"

    made = client.post(
        SCHEDULES,
        json={**NIGHTLY, "deliver": "if_changed", "webhook_urls": ["https://8.8.8.8/in?k=1"]},
        headers=admin.headers,
    )
    assert made.status_code == 201, made.text
    schedule = made.json()["data"]
    assert (schedule["deliver"], schedule["webhook_urls"]) == ("if_changed", ["https://8.8.8.8/in"])
    assert schedule["last_delivered_checksum"] is None

    one = f"{SCHEDULES}/{schedule['id']}"
    changed = client.put(one, json={"deliver": "if_rows"}, headers=admin.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["deliver"] == "if_rows"
    assert changed.json()["data"]["webhook_urls"] == ["https://8.8.8.8/in"]
    bad = client.put(one, json={"webhook_urls": ["http://[::1]/x"]}, headers=admin.headers)
    assert bad.status_code == 400
    assert error_of(bad)["field"] == "webhook_urls[0]"


@pytest.fixture
def delivery_settings(
    api_settings: Settings, smtp_server: "SmtpServer", make_client: Callable[[Settings], TestClient]
) -> Settings:
    return smtp_server.settings(api_settings, webhook_allow_private_targets=True, webhook_max_attempts=2)


def with_delivery(sessions: sessionmaker[Session], export_id: uuid.UUID, **values: Any) -> None:
    with transaction(sessions) as session:
        session.execute(update(DataExport).where(DataExport.id == export_id).values(**values))


def test_resend_mails_and_posts_a_completed_export_again_and_shows_the_attempts(
    make_client: Callable[[Settings], TestClient],
    delivery_settings: Settings,
    make_export: MakeExport,
    manager: Caller,
    sessions: sessionmaker[Session],
    smtp_server: "SmtpServer",
    webhook_receiver: "WebhookReceiver",
) -> None:
    client = make_client(delivery_settings)
    export_id = make_export(delivery_settings, manager)
    webhook_receiver.answers = [500]  # the first attempt fails, the retry succeeds
    hooks = [webhook_receiver.url("/in?token=abc")]
    with_delivery(
        sessions, export_id, recipients=["ops@example.com"], webhook_urls=hooks, deliver="if_changed"
    )

    response = client.post(f"/api/v1/exports/{export_id}/resend", headers=manager.headers)

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["emailed"] == ["ops@example.com"]
    assert data["email_error"] is None
    assert data["webhooks"] == [
        {
            "url": webhook_receiver.url("/in"),
            "succeeded": True,
            "attempts": 2,
            "status_code": 200,
            "error": None,
        }
    ]
    (mail,) = smtp_server.received
    assert mail.rcpt_tos == ["ops@example.com"]
    assert mail.message["Subject"].startswith("Export ready")
    attachments = list(mail.message.iter_attachments())
    assert len(attachments) == 1
    assert json.loads(webhook_receiver.received[-1].body)["data"]["export_id"] == str(export_id)

    detail = client.get(f"/api/v1/exports/{export_id}", headers=manager.headers).json()["data"]
    attempts = [
        (item["attempt"], item["status_code"], item["succeeded"]) for item in detail["webhook_deliveries"]
    ]
    assert attempts == [(1, 500, False), (2, 200, True)]
    assert {item["url"] for item in detail["webhook_deliveries"]} == {webhook_receiver.url("/in")}
    assert detail["webhook_deliveries"][0]["event"] == "export.completed"
    with sessions() as session:
        entry = session.scalars(
            select(AuditLog).where(AuditLog.resource_id == str(export_id), AuditLog.action == "export_resent")
        ).one()
    assert entry.user_id == manager.id


def test_a_resend_whose_mail_is_refused_says_so_and_is_not_an_error(
    make_client: Callable[[Settings], TestClient],
    delivery_settings: Settings,
    make_export: MakeExport,
    manager: Caller,
    sessions: sessionmaker[Session],
    smtp_server: "SmtpServer",
) -> None:
    client = make_client(delivery_settings)
    export_id = make_export(delivery_settings, manager)
    with_delivery(sessions, export_id, recipients=["ops@example.com"])
    smtp_server.handler.data_reply = "554 no thanks"
    response = client.post(f"/api/v1/exports/{export_id}/resend", headers=manager.headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["emailed"] == []
    assert "554" in response.json()["data"]["email_error"]
    with sessions() as session:
        assert session.get_one(DataExport, export_id).notification_error is not None


def test_resend_refuses_what_it_cannot_send(
    client: TestClient,
    api_settings: Settings,
    make_export: MakeExport,
    manager: Caller,
    make_caller: Callable[..., Caller],
    sessions: sessionmaker[Session],
) -> None:
    pending = create(client, manager)
    response = client.post(f"/api/v1/exports/{pending['id']}/resend", headers=manager.headers)
    assert response.status_code == 409
    assert error_of(response)["message"].startswith("export is pending")

    expired = make_export(api_settings, manager)
    with_delivery(sessions, expired, expires_at=datetime.now(UTC) - timedelta(minutes=1))
    assert client.post(f"/api/v1/exports/{expired}/resend", headers=manager.headers).status_code == 410
    with_delivery(sessions, expired, status="expired")
    assert client.post(f"/api/v1/exports/{expired}/resend", headers=manager.headers).status_code == 410

    other = make_export(api_settings, manager)
    someone_else = make_caller(manager.role)
    assert client.post(f"/api/v1/exports/{other}/resend", headers=someone_else.headers).status_code == 404
    with_delivery(sessions, other, deleted_at=datetime.now(UTC))
    assert client.post(f"/api/v1/exports/{other}/resend", headers=manager.headers).status_code == 404
