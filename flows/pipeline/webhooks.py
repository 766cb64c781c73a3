"""Webhooks: an export's completion or failure POSTed as JSON to each of its webhook URLs, signed per
the Standard Webhooks spec, each attempt kept as a `webhook_deliveries` row.

Headers: `webhook-id` (one per message, the same on every attempt), `webhook-timestamp` (Unix seconds
of the attempt) and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed by
settings.webhook_secret: a `whsec_<base64>` secret is decoded, any other is used as its UTF-8 bytes.

An attempt is retried, after 1, 2, 4... seconds (at most MAX_BACKOFF_SECONDS), up to
settings.webhook_max_attempts, when it got a 5xx or a 429, or could not connect or timed out; any other
answer ends the message (2xx delivered, the rest failed). Redirects are not followed. The host is
resolved before each attempt and, unless settings.webhook_allow_private_targets, a private address
among its answers ends the message with a failed attempt; the request then goes to the addresses that
were resolved, in turn until one connects (the Host header and TLS server name stay the URL's), so a
second lookup cannot point it elsewhere; for the same reason no proxy from the environment is used.

Logs name a URL without its query string; bodies, signatures and links are never logged. Sending never
raises for the receiver's sake: callers get an outcome per URL.
"""

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook

from flows.appdb.engine import transaction
from flows.appdb.models import WebhookDelivery
from flows.exports.lifecycle import ExportJob
from flows.exports.recipient_links import recipient_claims, recipient_url
from flows.exports.webhook_urls import (
    IpAddress,
    PrivateTarget,
    addresses_of,
    display_url,
    public_addresses,
)
from flows.settings import Settings
from flows.storage.store import StoredObject
from flows.vocabulary import ExportStatus, WebhookEvent

logger = logging.getLogger(__name__)


class _WithoutQueries(logging.Filter):
    """httpx logs every request's URL at INFO: a receiver's query string (often its token) stays out."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(arg, httpx.URL) for arg in record.args):
            record.args = tuple(
                arg.copy_with(query=None) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


_HTTPX_LOGGER = logging.getLogger("httpx")
if not any(isinstance(existing, _WithoutQueries) for existing in _HTTPX_LOGGER.filters):
    _HTTPX_LOGGER.addFilter(_WithoutQueries())

MAX_BACKOFF_SECONDS = 30.0
ERROR_MAX_CHARS = 500
WEBHOOK_RECIPIENT = "webhook"
"""The recipient a webhook's signed download link names (its download log says so)."""


@dataclass(frozen=True)
class ExportFacts:
    """What a webhook message tells about its export."""

    export_id: uuid.UUID
    name: str
    export_type: str
    format: str
    status: str
    rows: int
    bytes: int
    sha256: str | None
    expires_at: datetime | None
    schedule_id: uuid.UUID | None = None
    error: str | None = None

    @classmethod
    def of(
        cls,
        job: ExportJob,
        status: ExportStatus,
        rows: int,
        stored: StoredObject | None,
        expires_at: datetime | None,
        *,
        error: str | None = None,
    ) -> "ExportFacts":
        """The facts of a run's export: its job, how it ended, and its stored file if any."""
        return cls(
            export_id=job.id,
            name=job.name,
            export_type=job.export_type.value,
            format=job.format.value,
            status=status.value,
            rows=rows,
            bytes=stored.size if stored else 0,
            sha256=stored.sha256 if stored else None,
            expires_at=expires_at,
            schedule_id=job.schedule_id,
            error=error,
        )


@dataclass(frozen=True)
class Outcome:
    """How one URL's message ended."""

    url: str
    """Without its query string."""
    succeeded: bool
    attempts: int
    status_code: int | None
    error: str | None


def message_body(settings: Settings, event: WebhookEvent, facts: ExportFacts) -> dict[str, Any]:
    """`{"type", "timestamp", "data"}`; a completed export's data carries a signed download link."""
    data: dict[str, Any] = {
        "export_id": str(facts.export_id),
        "export_name": facts.name,
        "export_type": facts.export_type,
        "format": facts.format,
        "status": facts.status,
        "rows": facts.rows,
        "bytes": facts.bytes,
        "sha256": facts.sha256,
        "expires_at": facts.expires_at.isoformat() if facts.expires_at else None,
        "schedule_id": str(facts.schedule_id) if facts.schedule_id else None,
    }
    if event is WebhookEvent.COMPLETED and facts.sha256:
        claims = recipient_claims(
            settings, facts.export_id, WEBHOOK_RECIPIENT, facts.sha256, facts.expires_at
        )
        data["download_url"] = recipient_url(settings, claims)
        data["download_url_expires_at"] = claims.valid_until.isoformat()
    else:
        data["error"] = facts.error
    return {"type": event.value, "timestamp": datetime.now(UTC).isoformat(), "data": data}


def signer(settings: Settings) -> Webhook:
    secret = settings.webhook_secret.get_secret_value()
    return Webhook(secret if secret.startswith("whsec_") else secret.encode())


def send_webhooks(
    settings: Settings,
    sessions: sessionmaker[Session],
    urls: Sequence[str],
    event: WebhookEvent,
    facts: ExportFacts,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Outcome]:
    """Send the event to every URL (one after the other), each with its retries; never raises for a
    receiver's failure."""
    if not urls:
        return []
    body = json.dumps(message_body(settings, event, facts), separators=(",", ":")).encode()
    sender = _Sender(settings, sessions, signer(settings), sleep)
    # No HTTP(S)_PROXY from the environment: a proxy would resolve the host itself, past the check.
    client = httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False, trust_env=False)
    with client:
        return [sender.send(client, url, event, facts.export_id, body) for url in urls]


@dataclass(frozen=True)
class _Attempt:
    status_code: int | None
    error: str | None
    succeeded: bool
    retry: bool


@dataclass(frozen=True)
class _Sender:
    settings: Settings
    sessions: sessionmaker[Session]
    webhook: Webhook
    sleep: Callable[[float], None]

    def send(
        self, client: httpx.Client, url: str, event: WebhookEvent, export_id: uuid.UUID, body: bytes
    ) -> Outcome:
        message_id = f"msg_{uuid.uuid4().hex}"
        shown = display_url(url)
        attempts = self.settings.webhook_max_attempts
        result = _Attempt(None, "not attempted", False, False)
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            result = self._attempt(client, url, message_id, body)
            duration_ms = int((time.monotonic() - started) * 1000)
            self._record(export_id, message_id, event, shown, attempt, result, duration_ms)
            logger.info(
                "export %s: webhook %s to %s, attempt %d of %d: %s",
                export_id,
                event.value,
                shown,
                attempt,
                attempts,
                "delivered" if result.succeeded else (result.error or f"HTTP {result.status_code}"),
            )
            if result.succeeded or not result.retry or attempt == attempts:
                return Outcome(shown, result.succeeded, attempt, result.status_code, result.error)
            self.sleep(min(2.0 ** (attempt - 1), MAX_BACKOFF_SECONDS))
        return Outcome(shown, result.succeeded, attempts, result.status_code, result.error)

    def _attempt(self, client: httpx.Client, url: str, message_id: str, body: bytes) -> _Attempt:
        parts = urlsplit(url)
        try:
            addresses = self._addresses(url)
        except PrivateTarget as refused:
            return _Attempt(None, f"refused: {refused}", False, False)
        except OSError as error:
            return _Attempt(
                None, f"could not resolve {parts.hostname}: {error}"[:ERROR_MAX_CHARS], False, True
            )
        timestamp = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "user-agent": "exportflow-webhooks",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": self.webhook.sign(message_id, timestamp, body.decode()),
        }
        headers["host"] = parts.netloc  # the request goes to an address: its host is still the URL's
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" and parts.hostname else {}
        try:
            response = _post_to_first_that_answers(client, url, addresses, body, headers, extensions)
        except httpx.TimeoutException as error:
            return _Attempt(
                None, f"timed out after {self.settings.webhook_timeout_seconds:g} s ({error})", False, True
            )
        except httpx.TransportError as error:
            return _Attempt(None, f"{type(error).__name__}: {error}"[:ERROR_MAX_CHARS], False, True)
        code = response.status_code
        if 200 <= code < 300:
            return _Attempt(code, None, True, False)
        return _Attempt(code, f"HTTP {code}", False, code >= 500 or code == 429)

    def _addresses(self, url: str) -> list[IpAddress]:
        """The addresses the host resolves to, every one checked unless private targets are allowed."""
        if self.settings.webhook_allow_private_targets:
            addresses = addresses_of(url)
        else:
            addresses = public_addresses(url)
        if not addresses:
            raise OSError("no address")
        return addresses

    def _record(
        self,
        export_id: uuid.UUID,
        message_id: str,
        event: WebhookEvent,
        shown: str,
        attempt: int,
        result: _Attempt,
        duration_ms: int,
    ) -> None:
        with transaction(self.sessions) as session:
            session.add(
                WebhookDelivery(
                    export_id=export_id,
                    message_id=message_id,
                    event=event.value,
                    url=shown,
                    attempt=attempt,
                    status_code=result.status_code,
                    error=result.error,
                    succeeded=result.succeeded,
                    duration_ms=duration_ms,
                )
            )


def _post_to_first_that_answers(
    client: httpx.Client,
    url: str,
    addresses: list[IpAddress],
    body: bytes,
    headers: dict[str, str],
    extensions: dict[str, str],
) -> httpx.Response:
    """POST to each address in turn until one accepts the connection (as a resolver's caller would)."""
    for index, address in enumerate(addresses):
        try:
            return client.post(_pinned(url, address), content=body, headers=headers, extensions=extensions)
        except httpx.ConnectError:
            if index == len(addresses) - 1:
                raise
    raise httpx.ConnectError("no address")


def _pinned(url: str, address: IpAddress) -> str:
    """The URL with its host replaced by the checked address."""
    parts = urlsplit(url)
    host = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
