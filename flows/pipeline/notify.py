"""Notification emails: an export is ready, or it failed (with the reason). Messages are built with
`email.message.EmailMessage` and handed to a `Mailer` (flows/pipeline/mailers.py).

The ready email goes to each recipient as a message of its own, since each carries that recipient's
signed link (flows/exports/recipient_links.py) to the export's page: a plain-text and an HTML part
(multipart/alternative: the facts, the first rows, the link), and the file attached when it is at most
settings.email_attachment_max_bytes. The HTML comes from Jinja2 templates with autoescape on, so no
value (a name, a cell of the preview) is ever markup. Links are secrets: nothing here logs them.

Nothing a user typed reaches a header unsanitised: addresses are validated with email-validator
(CR, LF and display names refused), names and subjects are cut to one line of bounded length.
"""

import re
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from flows.errors import ConfigurationError
from flows.exports.lifecycle import ExportJob
from flows.exports.recipient_links import recipient_claims, recipient_url
from flows.exports.requests import normalized_recipients
from flows.html_templates import html_templates
from flows.pipeline.mailers import Mailer, open_mailer
from flows.pipeline.preview import Preview
from flows.render import renderer_for
from flows.settings import Settings
from flows.storage.store import StoredObject

NAME_MAX_CHARS = 80
SUBJECT_MAX_CHARS = 120
ERROR_MAX_CHARS = 2000
BODY_WIDTH = 76
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def ready_recipients(job: ExportJob) -> list[str]:
    """The export's recipients, validated and normalised: one ready message goes to each."""
    return normalized_recipients(list(job.recipients))


def send_to_each(job: ExportJob, send: Callable[[str], None]) -> tuple[list[str], list[str]]:
    """Call `send` for each of `ready_recipients(job)`, one message each: a recipient whose message
    fails neither stops nor repeats the others'. Who was reached, and "address: error" for the rest."""
    reached: list[str] = []
    failures: list[str] = []
    for recipient in ready_recipients(job):
        try:
            send(recipient)
        except Exception as error:
            failures.append(f"{recipient}: {str(error) or type(error).__name__}")
        else:
            reached.append(recipient)
    return reached, failures


def send_export_ready(
    settings: Settings,
    job: ExportJob,
    recipient: str,
    stored: StoredObject,
    file_path: Path,
    *,
    rows: int | None = None,
    expires_at: datetime | None = None,
    preview: Preview | None = None,
    mailer: Mailer | None = None,
) -> None:
    """Email one recipient (one of `ready_recipients(job)`) that the export's file is ready."""
    message = export_ready_message(
        settings, job, recipient, stored, file_path, rows=rows, expires_at=expires_at, preview=preview
    )
    (mailer or open_mailer(settings)).send(message)


def send_export_failed(
    settings: Settings, job: ExportJob, error: str, *, mailer: Mailer | None = None
) -> None:
    """Email the export's owner why it failed."""
    (mailer or open_mailer(settings)).send(export_failed_message(settings, job, error))


def export_ready_message(
    settings: Settings,
    job: ExportJob,
    recipient: str,
    stored: StoredObject,
    file_path: Path,
    *,
    rows: int | None = None,
    expires_at: datetime | None = None,
    preview: Preview | None = None,
) -> EmailMessage:
    """The "your export is ready" message to `recipient`: facts, the first rows, the recipient's own
    link, and the file attached when it is at most `settings.email_attachment_max_bytes`."""
    (address,) = normalized_recipients([recipient])
    name = one_line(job.name, NAME_MAX_CHARS)
    file_name = Path(stored.key).name
    attach = stored.size <= settings.email_attachment_max_bytes
    claims = recipient_claims(settings, job.id, address, stored.sha256, expires_at)
    link = recipient_url(settings, claims)
    facts = [
        (label, value)
        for label, value in [
            ("Type", job.export_type.value),
            ("Format", job.format.value),
            ("Rows", f"{rows:,}" if rows is not None else None),
            ("Size", human_size(stored.size)),
            ("File", file_name),
            ("Expires", f"{expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else None),
        ]
        if value is not None
    ]
    attachment_note = (
        "The file is attached to this email."
        if attach
        else f"The file ({human_size(stored.size)}) is too large to attach (the limit is "
        f"{human_size(settings.email_attachment_max_bytes)}); download it from the link."
    )
    link_note = f"The link is for {address} only and works until {claims.valid_until:%Y-%m-%d %H:%M} UTC."
    body = [
        f'Your export "{name}" is ready.',
        "",
        *(f"  {label + ':':<9}{value}" for label, value in facts),
        "",
        "See its first rows and download it (no sign-in needed):",
        link,
        link_note,
        "",
        attachment_note,
    ]
    message = _message(settings, [Address(addr_spec=address)])
    message["Subject"] = one_line(f"Export ready: {name}", SUBJECT_MAX_CHARS)
    _set_text(message, body)
    html = (
        html_templates("flows.pipeline")
        .get_template("export_ready.html")
        .render(
            name=name,
            facts=facts,
            preview=_shown_preview(preview, settings.email_preview_rows),
            total_rows=rows,
            link=link,
            link_note=link_note,
            attachment_note=attachment_note,
        )
    )
    message.add_alternative(html, subtype="html", cte="quoted-printable")
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


def _shown_preview(preview: Preview | None, rows: int) -> dict[str, Any] | None:
    """The stored preview cut to `rows` rows; None when there is nothing to show."""
    if not preview or not preview.get("columns") or rows <= 0:
        return None
    return {
        "columns": list(preview["columns"]),
        "rows": [list(row) for row in preview.get("rows", [])[:rows]],
    }
