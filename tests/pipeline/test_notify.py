"""Notification emails through real SMTP servers on loopback (aiosmtpd, tests/fixtures_smtp.py: plain,
STARTTLS with login, implicit TLS with a self-signed certificate) and through the outbox folder.

Nothing is mocked: refusals are the servers' own replies (451, 554, 550), the refused connection is
a loopback port nobody listens on, and the timeout a listening socket that never greets.
"""

import dataclasses
import re
import socket
import ssl
import uuid
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import SecretStr

from flows.errors import InvalidInputError, TerminalError, TransientError
from flows.exports.lifecycle import ExportJob
from flows.exports.recipient_links import PATH_PREFIX, verify_recipient_link
from flows.pipeline.mailers import OutboxMailer, SmtpMailer, open_mailer
from flows.pipeline.notify import (
    export_failed_message,
    export_ready_message,
    ready_recipients,
    send_export_failed,
    send_export_ready,
)
from flows.pipeline.preview import Preview
from flows.settings import Settings
from flows.storage.store import StoredObject
from flows.vocabulary import ExportFormat, ExportType

if TYPE_CHECKING:
    from tests.fixtures_smtp import SmtpServer

pytest_plugins = ["tests.fixtures_smtp"]

EXPORT_ID = uuid.UUID("5c0ffee0-1234-4abc-8def-0123456789ab")
API = "https://exports.example.com"
PAGE_URL = f"{API}{PATH_PREFIX}"
LINK = re.compile(re.escape(PAGE_URL) + r"[A-Za-z0-9_.\-]+")
PREVIEW: Preview = {"columns": ["Region", "Revenue"], "rows": [["EMEA", "1,200.50"], ["APAC", "980.00"]]}
CSV = b"Region,Revenue\r\nEMEA,1200.50\r\nAPAC,980.00\r\n"
KEY = f"exports/sales/2026/01/{EXPORT_ID}/q1-sales_20260105-093000.csv"
STORED = StoredObject(KEY, len(CSV), "0" * 64, f"s3://exports-bucket/files/{KEY}")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, api_public_url=API, mail_from="Exportflow <exports@example.com>")


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "q1-sales_20260105-093000.csv"
    path.write_bytes(CSV)
    return path


def job(**changes: object) -> ExportJob:
    base = ExportJob(
        id=EXPORT_ID,
        name="Q1 sales",
        export_type=ExportType.SALES,
        format=ExportFormat.CSV,
        columns=None,
        filters={},
        recipients=("ops@example.com", "Lead@Example.com"),
        options={},
        owner_email="zoe@example.com",
        owner_name="Zoë Owner",
        started_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    content: str = part.get_content()
    return content


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert isinstance(part, EmailMessage)
    content: str = part.get_content()
    return content


def attachments_of(message: EmailMessage) -> list[EmailMessage]:
    return list(message.iter_attachments())


def send_ready(settings: Settings, export: ExportJob, csv_file: Path, **facts: object) -> None:
    """What the flow's notify step does: one message to each recipient."""
    for recipient in ready_recipients(export):
        send_export_ready(settings, export, recipient, STORED, csv_file, **facts)  # type: ignore[arg-type]


def test_each_recipient_gets_a_message_of_their_own_with_their_link_facts_and_attachment(
    smtp_server: "SmtpServer", settings: Settings, csv_file: Path
) -> None:
    smtp_settings = smtp_server.settings(settings)
    send_ready(
        smtp_settings, job(), csv_file, rows=2, expires_at=datetime(2099, 1, 12, tzinfo=UTC), preview=PREVIEW
    )

    first, second = smtp_server.received
    assert [first.rcpt_tos, second.rcpt_tos] == [["ops@example.com"], ["Lead@example.com"]]
    for received, address in ((first, "ops@example.com"), (second, "Lead@example.com")):
        message = received.message
        assert received.mail_from == "exports@example.com"
        assert message["To"] == address
        assert message["From"] == "Exportflow <exports@example.com>"
        assert message["Subject"] == "Export ready: Q1 sales"
        assert message["Auto-Submitted"] == "auto-generated"
        assert message.get_content_type() == "multipart/mixed"
        (alternative,) = [part for part in message.iter_parts() if part.is_multipart()]
        assert alternative.get_content_type() == "multipart/alternative"
        assert [part.get_content_type() for part in alternative.iter_parts()] == ["text/plain", "text/html"]
        body, html = body_of(message), html_of(message)
        for fact in ('"Q1 sales"', "sales", "csv", "Rows:    2", f"{len(CSV)} bytes", "2099-01-12 00:00 UTC"):
            assert fact in body
        for fact in ("Q1 sales", "<td", "2099-01-12 00:00 UTC", f"{len(CSV)} bytes", "First 2 of 2 rows"):
            assert fact in html
        assert (
            '<td style="border:1px solid #d8dee4;padding:4px 8px;white-space:nowrap;">1,200.50</td>' in html
        )
        (link,) = set(LINK.findall(body))
        assert set(LINK.findall(html)) == {link}
        claims = verify_recipient_link(smtp_settings, link.removeprefix(PAGE_URL))
        assert (claims.export_id, claims.recipient, claims.checksum_sha256) == (EXPORT_ID, address, "0" * 64)
        assert "/api/v1/" not in body + html
        raw = message.as_string()
        assert "s3://" not in raw
        assert "exports-bucket" not in raw
        (attachment,) = attachments_of(message)
        assert attachment.get_filename() == csv_file.name
        assert attachment.get_content_type() == "text/csv"
        assert attachment.get_content_charset() == "utf-8"
        assert attachment.get_payload(decode=True) == CSV
        assert "The file is attached to this email." in body
    assert LINK.findall(body_of(first.message)) != LINK.findall(body_of(second.message))


def test_the_html_escapes_every_value_and_shows_at_most_the_preview_rows(
    smtp_server: "SmtpServer", settings: Settings, csv_file: Path
) -> None:
    hostile = "<script>alert('x')</script>"
    preview: Preview = {
        "columns": ["Name <b>", "Note"],
        "rows": [[f"row {index}", hostile if index == 0 else "&amp;"] for index in range(30)],
    }
    few_rows = smtp_server.settings(settings, email_preview_rows=5)

    send_ready(
        few_rows, job(name=f"Q1 {hostile}", recipients=("ops@example.com",)), csv_file, preview=preview
    )

    html = html_of(smtp_server.received[0].message)
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "Name &lt;b&gt;" in html
    assert "&amp;amp;" in html
    assert [f">row {index}<" in html for index in range(6)] == [True] * 5 + [False]
    assert "First 5 rows" in html


def test_a_file_over_the_limit_is_linked_and_said_to_be_too_large(
    smtp_server: "SmtpServer", settings: Settings, csv_file: Path
) -> None:
    small_limit = smtp_server.settings(settings, email_attachment_max_bytes=len(CSV) - 1)

    send_ready(small_limit, job(recipients=("ops@example.com",)), csv_file, preview=PREVIEW)

    (received,) = smtp_server.received
    assert attachments_of(received.message) == []
    body, html = body_of(received.message), html_of(received.message)
    assert LINK.search(body)
    sentence = f"The file ({len(CSV)} bytes) is too large to attach (the limit is {len(CSV) - 1} bytes)"
    assert sentence in " ".join(body.split())
    assert sentence in html
    assert received.message.get_content_type() == "multipart/alternative"


def test_an_export_without_recipients_sends_nothing(
    smtp_server: "SmtpServer", settings: Settings, csv_file: Path
) -> None:
    send_ready(smtp_server.settings(settings), job(recipients=()), csv_file)

    assert smtp_server.received == []


def test_failure_email_tells_the_owner_what_to_fix(smtp_server: "SmtpServer", settings: Settings) -> None:
    send_export_failed(
        smtp_server.settings(settings), job(), "filters.colour: unknown filter; allowed: region"
    )

    (received,) = smtp_server.received
    assert received.rcpt_tos == ["zoe@example.com"]
    message = received.message
    assert message["To"] == "Zoë Owner <zoe@example.com>"
    assert message["Subject"] == "Export failed: Q1 sales"
    body = body_of(message)
    assert "filters.colour: unknown filter; allowed: region" in body
    assert str(EXPORT_ID) in body
    assert attachments_of(message) == []


def test_the_outbox_holds_one_parseable_eml_file_per_message(settings: Settings, csv_file: Path) -> None:
    mailer = open_mailer(settings)
    assert mailer == OutboxMailer(settings.outbox_dir)

    send_ready(settings, job(recipients=("ops@example.com",)), csv_file)
    send_export_failed(settings, job(), "the warehouse is unreachable")

    files = sorted(settings.outbox_dir.iterdir())
    assert [re.fullmatch(r"\d{8}T\d{12}Z-[0-9a-f]{32}\.eml", path.name) is not None for path in files] == [
        True,
        True,
    ]
    ready, failed = (BytesParser(policy=policy.default).parsebytes(path.read_bytes()) for path in files)
    assert isinstance(ready, EmailMessage)
    assert isinstance(failed, EmailMessage)
    assert ready["Subject"] == "Export ready: Q1 sales"
    assert LINK.search(body_of(ready))
    assert [part.get_payload(decode=True) for part in attachments_of(ready)] == [CSV]
    assert failed["To"] == "Zoë Owner <zoe@example.com>"


@pytest.mark.parametrize(
    "recipient",
    [
        "ops@example.com\r\nBcc: evil@example.com",
        "ops@example.com\nBcc: evil@example.com",
        "Ops <ops@example.com>",
    ],
)
def test_a_recipient_that_could_inject_headers_is_refused(
    smtp_server: "SmtpServer", settings: Settings, csv_file: Path, recipient: str
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        send_ready(smtp_server.settings(settings), job(recipients=("a@example.com", recipient)), csv_file)

    assert refused.value.field == "recipients[1]"
    assert smtp_server.received == []


def test_line_breaks_in_names_cannot_add_headers(smtp_server: "SmtpServer", settings: Settings) -> None:
    injected = "\r\nBcc: evil@example.com\r\nX-Injected: yes"
    smtp_settings = smtp_server.settings(settings)

    send_export_failed(
        smtp_settings, job(name=f"Q1{injected}", owner_name=f"Zoë{injected}"), f"bad{injected}"
    )

    (received,) = smtp_server.received
    assert received.rcpt_tos == ["zoe@example.com"]
    message = received.message
    assert message["Bcc"] is None
    assert message["X-Injected"] is None
    assert message["Subject"] == "Export failed: Q1 Bcc: evil@example.com X-Injected: yes"
    assert message["To"] == '"Zoë Bcc: evil@example.com X-Injected: yes" <zoe@example.com>'


def test_subjects_and_names_are_cut_to_a_bounded_length(settings: Settings, csv_file: Path) -> None:
    message = export_ready_message(settings, job(name="Quarterly " * 50), "ops@example.com", STORED, csv_file)

    assert len(message["Subject"]) <= 120
    assert message["Subject"].endswith("…")


@pytest.mark.parametrize(
    ("reply", "error"),
    [("451 4.3.0 Try again later", TransientError), ("554 5.6.0 Message content rejected", TerminalError)],
)
def test_a_refused_message_is_transient_on_4xx_and_terminal_on_5xx(
    smtp_server: "SmtpServer", settings: Settings, reply: str, error: type[Exception]
) -> None:
    smtp_server.handler.data_reply = reply

    with pytest.raises(error, match=reply.split()[0]) as raised:
        send_export_failed(smtp_server.settings(settings), job(), "boom")

    assert type(raised.value) is error


@pytest.mark.parametrize(
    ("reply", "error"),
    [("450 4.2.1 Mailbox busy", TransientError), ("550 5.1.1 No such user", TerminalError)],
)
def test_every_recipient_refused(
    smtp_server: "SmtpServer", settings: Settings, csv_file: Path, reply: str, error: type[Exception]
) -> None:
    smtp_server.handler.rcpt_replies = {"ops@example.com": reply}

    with pytest.raises(error, match=r"ops@example\.com") as raised:
        send_export_ready(smtp_server.settings(settings), job(), "ops@example.com", STORED, csv_file)

    assert type(raised.value) is error


def test_some_recipients_refused_is_terminal_so_the_others_get_no_duplicate(
    smtp_server: "SmtpServer", settings: Settings, csv_file: Path
) -> None:
    """A message to several addresses (the mailer allows it; notifications send one per recipient)."""
    smtp_server.handler.rcpt_replies = {"Lead@example.com": "450 4.2.1 Mailbox busy"}
    message = export_failed_message(settings, job(), "boom")
    del message["To"]
    message["To"] = "ops@example.com, Lead@example.com"

    with pytest.raises(TerminalError, match=r"Lead@example.com \(450"):
        open_mailer(smtp_server.settings(settings)).send(message)

    (received,) = smtp_server.received
    assert received.rcpt_tos == ["ops@example.com"]


def test_connection_refused_is_transient(settings: Settings, unused_port: int) -> None:
    nobody = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": unused_port})

    with pytest.raises(TransientError, match="unreachable"):
        send_export_failed(nobody, job(), "boom")


def test_a_server_that_never_answers_times_out_as_transient(settings: Settings) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        mute = settings.model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_timeout_seconds": 0.3}
        )

        with pytest.raises(TransientError):
            send_export_failed(mute, job(), "boom")


@pytest.mark.parametrize("server_fixture", ["smtp_starttls_server", "smtp_tls_server"])
def test_tls_with_login_delivers(
    request: pytest.FixtureRequest, settings: Settings, smtp_client_tls: ssl.SSLContext, server_fixture: str
) -> None:
    server: SmtpServer = request.getfixturevalue(server_fixture)
    mailer = open_mailer(server.settings(settings), ssl_context=smtp_client_tls)
    assert isinstance(mailer, SmtpMailer)

    send_export_failed(settings, job(), "boom", mailer=mailer)

    (received,) = server.received
    assert received.authenticated
    assert received.rcpt_tos == ["zoe@example.com"]


@pytest.mark.parametrize("server_fixture", ["smtp_starttls_server", "smtp_tls_server"])
def test_a_wrong_password_is_terminal_and_never_shown(
    request: pytest.FixtureRequest,
    settings: Settings,
    smtp_client_tls: ssl.SSLContext,
    server_fixture: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server: SmtpServer = request.getfixturevalue(server_fixture)
    wrong = server.settings(settings, smtp_password=SecretStr("wrong-password-never-shown"))

    with pytest.raises(TerminalError, match="535") as raised:
        send_export_failed(settings, job(), "boom", mailer=open_mailer(wrong, ssl_context=smtp_client_tls))

    assert "wrong-password-never-shown" not in str(raised.value) + caplog.text
    assert server.received == []


def test_an_untrusted_certificate_is_terminal(smtp_tls_server: "SmtpServer", settings: Settings) -> None:
    """Without the test CA, the system's trust store refuses the server's self-signed certificate."""
    with pytest.raises(TerminalError, match="certificate"):
        send_export_failed(smtp_tls_server.settings(settings), job(), "boom")
