"""Webhook sending against a real HTTP receiver on loopback: signatures, retries, timeouts, refusals, and
the attempts kept in the app database (SQLite: the sender's SQL is plain inserts)."""

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook

from flows.appdb.engine import make_engine, session_factory, transaction
from flows.appdb.models import User, WebhookDelivery
from flows.exports.creation import create_export
from flows.exports.recipient_links import verify_recipient_link
from flows.exports.requests import ExportRequest
from flows.pipeline.webhooks import ExportFacts, send_webhooks
from flows.settings import Settings
from flows.vocabulary import WebhookEvent
from tests.network import free_port

if TYPE_CHECKING:
    from tests.fixtures_webhooks import WebhookReceiver

pytest_plugins = ["tests.fixtures_webhooks"]

SECRET = "whsec_" + base64.b64encode(b"a test secret of 32 bytes, here!").decode()


@pytest.fixture
def sessions(sqlite_database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(sqlite_database_url)
    yield session_factory(engine)
    engine.dispose()


def settings_for(tmp_path: Path, url: str, **changes: object) -> Settings:
    fields: dict[str, object] = {
        "home": tmp_path / "home",
        "database_url": url,
        "webhook_secret": SECRET,
        "webhook_allow_private_targets": True,
        "webhook_max_attempts": 3,
        "webhook_timeout_seconds": 2.0,
    }
    return Settings.model_validate(fields | changes)


def facts(sessions: sessionmaker[Session]) -> ExportFacts:
    request = ExportRequest.validated({"export_name": "Hooked", "export_type": "sales", "format": "csv"})
    with transaction(sessions) as session:
        owner = User(email=f"{uuid.uuid4().hex[:12]}@example.com", role="admin", first_name="Ada")
        session.add(owner)
        session.flush()
        export_id = create_export(session, request, owner).id
    return ExportFacts(export_id, "Hooked", "sales", "csv", "completed", 12, 345, "ab" * 32, None)


def attempts_of(sessions: sessionmaker[Session], export_id: uuid.UUID) -> list[WebhookDelivery]:
    with sessions() as session:
        query = select(WebhookDelivery).where(WebhookDelivery.export_id == export_id)
        return list(session.scalars(query.order_by(WebhookDelivery.attempt)))


def test_a_completed_event_is_signed_per_standard_webhooks_and_links_the_file(
    tmp_path: Path,
    sqlite_database_url: str,
    sessions: sessionmaker[Session],
    webhook_receiver: "WebhookReceiver",
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(tmp_path, sqlite_database_url)
    sent = facts(sessions)
    with caplog.at_level(logging.DEBUG):
        (outcome,) = send_webhooks(
            settings, sessions, [webhook_receiver.url("/hook?token=s3cret")], WebhookEvent.COMPLETED, sent
        )
    assert "HTTP Request: POST" in caplog.text  # httpx's own line, without the query
    assert "s3cret" not in caplog.text
    assert "v1," not in caplog.text
    assert outcome.succeeded
    assert outcome.attempts == 1
    assert outcome.status_code == 200
    assert outcome.url == webhook_receiver.url("/hook")

    (request,) = webhook_receiver.received
    assert request.path == "/hook?token=s3cret"
    assert request.headers["host"] == f"127.0.0.1:{webhook_receiver.port}"
    payload = Webhook(SECRET).verify(request.body, request.headers)  # the reference implementation
    # ... and by hand, as the README shows it
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = (
        f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.body
    )
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert request.headers["webhook-signature"] == f"v1,{expected}"
    assert request.headers["webhook-id"].startswith("msg_")

    assert payload["type"] == "export.completed"
    data = payload["data"]
    assert data["export_id"] == str(sent.export_id)
    assert (data["status"], data["rows"], data["bytes"], data["sha256"]) == ("completed", 12, 345, "ab" * 32)
    token = data["download_url"].rsplit("/d/", 1)[1]
    claims = verify_recipient_link(settings, token)
    assert (claims.export_id, claims.recipient, claims.checksum_sha256) == (
        sent.export_id,
        "webhook",
        "ab" * 32,
    )

    (attempt,) = attempts_of(sessions, sent.export_id)
    assert (attempt.event, attempt.attempt, attempt.status_code, attempt.succeeded) == (
        "export.completed",
        1,
        200,
        True,
    )
    assert attempt.url == webhook_receiver.url("/hook")
    assert attempt.message_id == request.headers["webhook-id"]


def test_a_raw_secret_signs_with_its_own_bytes(
    tmp_path: Path,
    sqlite_database_url: str,
    sessions: sessionmaker[Session],
    webhook_receiver: "WebhookReceiver",
) -> None:
    settings = settings_for(tmp_path, sqlite_database_url, webhook_secret="plain text secret")
    send_webhooks(settings, sessions, [webhook_receiver.url()], WebhookEvent.COMPLETED, facts(sessions))
    (request,) = webhook_receiver.received
    Webhook(b"plain text secret").verify(request.body, request.headers)


@pytest.mark.slow
def test_a_5xx_and_a_429_are_retried_with_backoff_under_the_same_message_id(
    tmp_path: Path,
    sqlite_database_url: str,
    sessions: sessionmaker[Session],
    webhook_receiver: "WebhookReceiver",
) -> None:
    settings = settings_for(tmp_path, sqlite_database_url)
    webhook_receiver.answers = [500, 429]
    sent = facts(sessions)
    (outcome,) = send_webhooks(settings, sessions, [webhook_receiver.url()], WebhookEvent.COMPLETED, sent)
    assert outcome.succeeded
    assert outcome.attempts == 3

    first, second, third = webhook_receiver.received
    assert {first.headers["webhook-id"], second.headers["webhook-id"]} == {third.headers["webhook-id"]}
    assert second.at - first.at >= 0.9  # backoff 1 s, then 2 s
    assert third.at - second.at >= 1.9
    recorded = attempts_of(sessions, sent.export_id)
    assert [(row.attempt, row.status_code, row.succeeded) for row in recorded] == [
        (1, 500, False),
        (2, 429, False),
        (3, 200, True),
    ]
    assert recorded[0].error == "HTTP 500"


def test_a_name_is_sent_to_an_address_it_resolves_to_with_its_own_host_header(
    tmp_path: Path,
    sqlite_database_url: str,
    sessions: sessionmaker[Session],
    webhook_receiver: "WebhookReceiver",
) -> None:
    """localhost may resolve to ::1 first, where nothing listens: the next address is tried."""
    settings = settings_for(tmp_path, sqlite_database_url)
    url = f"http://localhost:{webhook_receiver.port}/in"
    (outcome,) = send_webhooks(settings, sessions, [url], WebhookEvent.COMPLETED, facts(sessions))
    assert outcome.succeeded
    (request,) = webhook_receiver.received
    assert request.headers["host"] == f"localhost:{webhook_receiver.port}"


def test_another_4xx_is_not_retried(
    tmp_path: Path,
    sqlite_database_url: str,
    sessions: sessionmaker[Session],
    webhook_receiver: "WebhookReceiver",
) -> None:
    settings = settings_for(tmp_path, sqlite_database_url)
    webhook_receiver.answers = [404]
    sent = facts(sessions)
    (outcome,) = send_webhooks(settings, sessions, [webhook_receiver.url()], WebhookEvent.FAILED, sent)
    assert not outcome.succeeded
    assert outcome.attempts == 1
    assert outcome.status_code == 404
    assert len(webhook_receiver.received) == 1
    (attempt,) = attempts_of(sessions, sent.export_id)
    assert (attempt.event, attempt.succeeded, attempt.error) == ("export.failed", False, "HTTP 404")
    assert "download_url" not in json.loads(webhook_receiver.received[0].body)["data"]


@pytest.mark.slow
def test_a_receiver_that_hangs_times_out_and_every_attempt_is_recorded(
    tmp_path: Path,
    sqlite_database_url: str,
    sessions: sessionmaker[Session],
    webhook_receiver: "WebhookReceiver",
) -> None:
    settings = settings_for(
        tmp_path, sqlite_database_url, webhook_timeout_seconds=0.5, webhook_max_attempts=2
    )
    webhook_receiver.answers = [-1, -1]
    webhook_receiver.hang_seconds = 2.0
    sent = facts(sessions)
    started = time.monotonic()
    (outcome,) = send_webhooks(settings, sessions, [webhook_receiver.url()], WebhookEvent.COMPLETED, sent)
    assert time.monotonic() - started < 4
    assert not outcome.succeeded
    assert outcome.attempts == 2
    assert outcome.error is not None
    assert outcome.error.startswith("timed out after 0.5 s")
    recorded = attempts_of(sessions, sent.export_id)
    assert [(row.attempt, row.status_code, row.succeeded) for row in recorded] == [
        (1, None, False),
        (2, None, False),
    ]


def test_a_connection_refused_is_retried_and_recorded(
    tmp_path: Path,
    sqlite_database_url: str,
    sessions: sessionmaker[Session],
    webhook_receiver: "WebhookReceiver",
) -> None:
    settings = settings_for(tmp_path, sqlite_database_url, webhook_max_attempts=2)
    sent = facts(sessions)
    (outcome,) = send_webhooks(
        settings, sessions, [f"http://127.0.0.1:{free_port()}/x"], WebhookEvent.COMPLETED, sent
    )
    assert not outcome.succeeded
    assert outcome.attempts == 2
    assert outcome.error is not None
    assert outcome.error.startswith("ConnectError")


def test_a_private_target_is_refused_at_send_time_with_a_recorded_attempt(
    tmp_path: Path,
    sqlite_database_url: str,
    sessions: sessionmaker[Session],
    webhook_receiver: "WebhookReceiver",
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A URL accepted earlier (a name that pointed elsewhere then) is checked again when sent."""
    settings = settings_for(tmp_path, sqlite_database_url, webhook_allow_private_targets=False)
    sent = facts(sessions)
    url = f"http://localhost:{webhook_receiver.port}/hook?token=s3cret"
    with caplog.at_level(logging.INFO, logger="flows.pipeline.webhooks"):
        (outcome,) = send_webhooks(settings, sessions, [url], WebhookEvent.COMPLETED, sent)
    assert not outcome.succeeded
    assert outcome.attempts == 1
    assert outcome.error is not None
    assert "loopback" in outcome.error
    assert webhook_receiver.received == []
    (attempt,) = attempts_of(sessions, sent.export_id)
    assert attempt.error is not None
    assert attempt.error.startswith("refused: localhost is a loopback address")
    assert attempt.url == f"http://localhost:{webhook_receiver.port}/hook"
    assert caplog.records
    assert "s3cret" not in caplog.text
