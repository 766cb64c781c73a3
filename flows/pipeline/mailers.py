"""Mailers: deliver one built message, through SMTP in production or to an outbox folder of `.eml` files.

Mailers raise TransientError for what a retry may fix (4xx replies, lost connections, timeouts)
and TerminalError for the rest (5xx replies, refused recipients, TLS or login problems). They log
a message's id, never its content (which carries recipient links).
"""

import logging
import os
import smtplib
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Literal, Protocol

from pydantic import SecretStr

from flows.errors import TerminalError, TransientError
from flows.settings import Settings

logger = logging.getLogger(__name__)


class Mailer(Protocol):
    """Delivers one message to the recipients in its To header."""

    def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpMailer:
    """Sends through an SMTP server: plain, STARTTLS or implicit TLS; logs in when a username is set."""

    host: str
    port: int
    security: Literal["none", "starttls", "tls"]
    username: str
    password: SecretStr
    timeout: float
    ssl_context: ssl.SSLContext | None = None
    """Certificates to trust; None: the system's (tests pass one trusting their own CA)."""

    def send(self, message: EmailMessage) -> None:
        with _smtp_errors(f"{self.host}:{self.port}"):
            client = self._connect()
            try:
                refused = client.send_message(message)
            finally:
                # The message is delivered once DATA is accepted: a failing QUIT must not fail it.
                with suppress(smtplib.SMTPException, OSError):
                    client.quit()
                client.close()
        if refused:
            # Some recipients got the message: retrying would send it to them again.
            raise TerminalError(f"the mail server refused {_describe_refusals(refused)}")
        logger.info("sent %s through %s:%d", message["Message-ID"], self.host, self.port)

    def _connect(self) -> smtplib.SMTP:
        context = self.ssl_context or ssl.create_default_context()
        client = (
            smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            if self.security == "tls"
            else smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        )
        try:
            if self.security == "starttls":
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self.password.get_secret_value())
        except BaseException:
            client.close()
            raise
        return client


@dataclass(frozen=True)
class OutboxMailer:
    """Writes each message to `folder` as `<UTC timestamp>-<uuid>.eml`, atomically (no SMTP server)."""

    folder: Path

    def send(self, message: EmailMessage) -> None:
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}.eml"
        temporary = self.folder / f".{name}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with temporary.open("xb") as file:
                file.write(message.as_bytes())
                file.flush()
                os.fsync(file.fileno())
            temporary.replace(self.folder / name)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise TerminalError(f"could not write to the outbox {self.folder}: {error}") from error
        logger.info("wrote %s to the outbox as %s", message["Message-ID"], name)


def open_mailer(settings: Settings, *, ssl_context: ssl.SSLContext | None = None) -> Mailer:
    """SMTP when `settings.smtp_host` is set, otherwise the outbox folder."""
    if not settings.smtp_host:
        return OutboxMailer(settings.outbox_dir)
    return SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security,
        username=settings.smtp_username,
        password=settings.smtp_password,
        timeout=settings.smtp_timeout_seconds,
        ssl_context=ssl_context,
    )


def _describe_refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{address} ({code} {_text(reply)})" for address, (code, reply) in refused.items())


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


@contextmanager
def _smtp_errors(server: str) -> Iterator[None]:
    """Raise smtplib and socket errors from the block as TransientError or TerminalError."""
    try:
        yield
    except smtplib.SMTPRecipientsRefused as error:
        temporary = all(400 <= code < 500 for code, _ in error.recipients.values())
        kind = TransientError if temporary else TerminalError
        raise kind(f"mail server {server} refused {_describe_refusals(error.recipients)}") from error
    except smtplib.SMTPResponseException as error:
        kind = TransientError if 400 <= error.smtp_code < 500 else TerminalError
        raise kind(f"mail server {server} answered {error.smtp_code} {_text(error.smtp_error)}") from error
    except smtplib.SMTPServerDisconnected as error:
        raise TransientError(f"mail server {server} closed the connection: {error}") from error
    except smtplib.SMTPException as error:
        raise TerminalError(f"mail server {server}: {error}") from error
    except ssl.SSLCertVerificationError as error:
        raise TerminalError(f"mail server {server}: TLS certificate not trusted: {error}") from error
    except OSError as error:
        raise TransientError(f"mail server {server} unreachable: {error}") from error
