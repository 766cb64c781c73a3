"""Notification emails: an export is ready (with a link to the API, the file attached when small), or
it failed (with the reason). Messages are built with `email.message.EmailMessage` and handed to a
`Mailer`: SMTP in production, an outbox folder of `.eml` files by default.

Nothing a user typed reaches a header unsanitised: addresses are validated with email-validator
(CR, LF and display names refused), names and subjects are cut to one line of bounded length.
Mailers raise TransientError for what a retry may fix (4xx replies, lost connections, timeouts)
and TerminalError for the rest (5xx replies, refused recipients, TLS or login problems).
"""

import logging
import os
import re
import smtplib
import ssl
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Literal, Protocol

from pydantic import SecretStr

from flows.errors import ConfigurationError, TerminalError, TransientError
from flows.exports.lifecycle import ExportJob
from flows.exports.requests import normalized_recipients
from flows.render import renderer_for
from flows.settings import Settings
from flows.storage.store import StoredObject

logger = logging.getLogger(__name__)

NAME_MAX_CHARS = 80
SUBJECT_MAX_CHARS = 120
ERROR_MAX_CHARS = 2000
BODY_WIDTH = 76
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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


def send_export_ready(
    settings: Settings,
    job: ExportJob,
    stored: StoredObject,
    file_path: Path,
    *,
    rows: int | None = None,
    expires_at: datetime | None = None,
    mailer: Mailer | None = None,
) -> None:
    """Email the export's recipients that its file is ready; an export without recipients sends nothing."""
    if job.recipients:
        message = export_ready_message(settings, job, stored, file_path, rows=rows, expires_at=expires_at)
        (mailer or open_mailer(settings)).send(message)


def send_export_failed(
    settings: Settings, job: ExportJob, error: str, *, mailer: Mailer | None = None
) -> None:
    """Email the export's owner why it failed."""
    (mailer or open_mailer(settings)).send(export_failed_message(settings, job, error))


def export_ready_message(
    settings: Settings,
    job: ExportJob,
    stored: StoredObject,
    file_path: Path,
    *,
    rows: int | None = None,
    expires_at: datetime | None = None,
) -> EmailMessage:
    """The "your export is ready" message to the job's recipients; the file is attached when it is at
    most `settings.email_attachment_max_bytes`."""
    name = one_line(job.name, NAME_MAX_CHARS)
    file_name = Path(stored.key).name
    attach = stored.size <= settings.email_attachment_max_bytes
    facts = [
        ("Type", job.export_type.value),
        ("Format", job.format.value),
        ("Rows", f"{rows:,}" if rows is not None else None),
        ("Size", human_size(stored.size)),
        ("File", file_name),
        ("Expires", f"{expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else None),
    ]
    body = [
        f'Your export "{name}" is ready.',
        "",
        *(f"  {label + ':':<9}{value}" for label, value in facts if value is not None),
        "",
        "Download it (you will be asked to sign in):",
        download_url(settings, job.id),
        "",
        "The file is attached to this email."
        if attach
        else f"The file is larger than {human_size(settings.email_attachment_max_bytes)}, so it is "
        "not attached; use the link above.",
    ]
    recipients = normalized_recipients(list(job.recipients))
    message = _message(settings, [Address(addr_spec=address) for address in recipients])
    message["Subject"] = one_line(f"Export ready: {name}", SUBJECT_MAX_CHARS)
    _set_text(message, body)
    if attach:
        maintype, subtype, parameters = _content_type(job)
        message.add_attachment(
            file_path.read_bytes(), maintype=maintype, subtype=subtype, filename=file_name, params=parameters
        )
    return message


def export_failed_message(settings: Settings, job: ExportJob, error: str) -> EmailMessage:
    """The "your export failed" message to the job's owner, with the reason to act on."""
    name = one_line(job.name, NAME_MAX_CHARS)
    reason = one_line(error, ERROR_MAX_CHARS) or "unknown error"
    body = [
        f'Your export "{name}" ({job.export_type.value}, {job.format.value}) failed:',
        "",
        f"    {reason}",
        "",
        "Nothing was delivered. If the message points at something you chose (a filter, a column), "
        "change it; then start the export again from the Exports page.",
        "",
        f"Export id: {job.id}",
    ]
    (owner,) = normalized_recipients([job.owner_email])
    owner_name = one_line(job.owner_name, NAME_MAX_CHARS)
    message = _message(settings, [Address(display_name=owner_name, addr_spec=owner)])
    message["Subject"] = one_line(f"Export failed: {name}", SUBJECT_MAX_CHARS)
    _set_text(message, body)
    return message


def download_url(settings: Settings, export_id: uuid.UUID) -> str:
    """The API endpoint that checks access and streams the file (never a storage URL)."""
    return f"{settings.api_public_url.rstrip('/')}/api/v1/exports/{export_id}/download"


def one_line(text: str, limit: int) -> str:
    """`text` safe for a header: control characters and line breaks become single spaces, and a text
    longer than `limit` characters is cut, with an ellipsis."""
    cleaned = " ".join(_CONTROL_CHARACTERS.sub(" ", text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def human_size(size: int) -> str:
    """1536 → "1.5 KB" (units of 1024)."""
    if size < 1024:
        return f"{size} bytes"
    exponent = min((size.bit_length() - 1) // 10, 3)
    return f"{size / 1024**exponent:.1f} {('KB', 'MB', 'GB')[exponent - 1]}"


def _message(settings: Settings, to: list[Address]) -> EmailMessage:
    """A message from `settings.mail_from` to `to`, with the headers every notification carries."""
    display_name, address = parseaddr(settings.mail_from)
    try:
        sender = Address(display_name=one_line(display_name, NAME_MAX_CHARS), addr_spec=address)
    except (ValueError, IndexError) as error:
        raise ConfigurationError(f"EXPORTFLOW_MAIL_FROM is not an email address: {error}") from error
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=sender.domain or None)
    message["Auto-Submitted"] = "auto-generated"
    return message


def _set_text(message: EmailMessage, paragraphs: list[str]) -> None:
    """The plain-text body, each paragraph wrapped at BODY_WIDTH columns (words and links never split).
    Non-ASCII text goes as 8bit (as Django sends it), so lines and links stay whole in the raw message."""
    text = "\n".join(_wrap(paragraph) for paragraph in paragraphs) + "\n\n-- \nexportflow\n"
    message.set_content(text, cte="7bit" if text.isascii() else "8bit")


def _wrap(paragraph: str) -> str:
    """Wrapped lines, each indented like the paragraph's first."""
    indent = paragraph[: len(paragraph) - len(paragraph.lstrip(" "))]
    lines = textwrap.wrap(
        paragraph, BODY_WIDTH, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )
    return "\n".join(lines)


def _content_type(job: ExportJob) -> tuple[str, str, dict[str, str]]:
    """The attachment's media type, from the renderer of the export's format ("text/csv; charset=utf-8")."""
    media_type, *parameters = (part.strip() for part in renderer_for(job.format).MEDIA_TYPE.split(";"))
    maintype, subtype = media_type.split("/")
    return maintype, subtype, dict(parameter.split("=", 1) for parameter in parameters)


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
