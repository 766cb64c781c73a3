"""A recipient's way end to end, in real parts: the ready email received by an SMTP server (aiosmtpd),
the link in its HTML part opened by Debian's headless Chromium against the app served by uvicorn, the
page's DOM read from Chromium and a screenshot saved, then the page's download form submitted.

Chromium runs without scripts (the page allows none) and cannot click from the command line, so the
form is submitted as Chromium would submit it: a POST to the form's action, with a browser's headers.
"""

import hashlib
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.models import DataExport, ExportDownloadLog
from flows.exports.lifecycle import ExportJob
from flows.exports.requests import normalized_recipients
from flows.pipeline.notify import ready_recipients, send_export_ready
from flows.settings import Settings
from flows.storage.store import StoredObject, open_storage
from flows.vocabulary import ExportFormat, ExportType
from tests.api.conftest import Caller, MakeExport, uvicorn_serving
from tests.network import free_port

if TYPE_CHECKING:
    from tests.fixtures_smtp import SmtpServer

pytest_plugins = ["tests.fixtures_smtp"]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (see .ci/run)"),
]

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) exportflow-recipient-test"
CHROMIUM_SECONDS = 90


@pytest.fixture
def served(api_settings: Settings, smtp_server: "SmtpServer") -> Iterator[Settings]:
    """The app under uvicorn in a thread of this process; settings whose links point at it and whose
    mail goes to the test SMTP server."""
    port = free_port()
    settings = smtp_server.settings(api_settings, api_public_url=f"http://127.0.0.1:{port}")
    with uvicorn_serving(settings, port):
        yield settings


def chromium(tmp_path: Path, *arguments: str) -> str:
    profile = tmp_path / f"chromium-{uuid.uuid4().hex[:8]}"
    completed = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",  # root in the CI container
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--user-agent={BROWSER}",
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_SECONDS,
        check=True,
    )
    return completed.stdout


class Page(HTMLParser):
    """What the test reads from Chromium's DOM: the download form, the texts of elements with an id,
    and the cells of the preview table."""

    def __init__(self) -> None:
        super().__init__()
        self.form: dict[str, str | None] = {}
        self.cells: list[str] = []
        self.texts: dict[str, str] = {}
        self._in_id: str | None = None
        self._in_preview = False
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form" and attributes.get("id") == "download":
            self.form = attributes
        if tag == "table" and attributes.get("id") == "preview":
            self._in_preview = True
        if tag == "td" and self._in_preview:
            self._in_cell = True
            self.cells.append("")
        if attributes.get("id") in ("export-name", "error-title", "error-message"):
            self._in_id = attributes["id"]

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data
        if self._in_id:
            self.texts[self._in_id] = self.texts.get(self._in_id, "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in_cell = False
        if tag == "table":
            self._in_preview = False
        if tag in ("h1", "p"):
            self._in_id = None


def ready_email(
    settings: Settings, sessions: sessionmaker[Session], export_id: uuid.UUID, tmp_path: Path
) -> None:
    """The ready email of the export, sent as the flow's notify step sends it."""
    with sessions() as session:
        row = session.get_one(DataExport, export_id)
    assert row.storage_key
    assert row.checksum_sha256
    local = tmp_path / "attachment.csv"
    with open_storage(settings).open_read(row.storage_key) as stream:
        local.write_bytes(stream.read())
    job = ExportJob(
        id=row.id,
        name=row.export_name,
        export_type=ExportType(row.export_type),
        format=ExportFormat(row.format),
        columns=None,
        filters={},
        recipients=("ops@example.com",),
        options={},
        owner_email="owner@example.com",
        owner_name="Owner",
        started_at=datetime.now(UTC),
    )
    stored = StoredObject(row.storage_key, row.file_size, row.checksum_sha256, row.file_path or "")
    for recipient in ready_recipients(job):
        send_export_ready(
            settings,
            job,
            recipient,
            stored,
            local,
            rows=row.record_count,
            expires_at=row.expires_at,
            preview=row.preview,
        )


def html_part(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert isinstance(part, EmailMessage)
    content: str = part.get_content()
    return content


def test_a_recipient_opens_the_emailed_link_in_chromium_and_downloads_the_file(
    served: Settings,
    smtp_server: "SmtpServer",
    manager: Caller,
    make_export: MakeExport,
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    export_id = make_export(served, manager, name="Q1 sales <script>alert(1)</script>")
    ready_email(served, sessions, export_id, tmp_path)
    (received,) = smtp_server.received
    (link,) = set(re.findall(r'href="([^"]+)"', html_part(received.message)))
    assert link.startswith(f"{served.api_public_url}/d/")

    screenshot = tmp_path / "recipient-page.png"
    chromium(tmp_path, "--window-size=1280,1400", "--hide-scrollbars", f"--screenshot={screenshot}", link)
    dom = chromium(tmp_path, "--dump-dom", link)

    print(f"\nrecipient page screenshot: {screenshot}")
    png = screenshot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 20_000  # a rendered page with a table, not a blank one
    page = Page()
    page.feed(dom)
    assert page.texts["export-name"] == "Q1 sales <script>alert(1)</script>"  # shown as text
    assert "<script>alert" not in dom  # never markup
    with sessions() as session:
        row = session.get_one(DataExport, export_id)
    assert row.preview is not None
    assert page.cells[: len(row.preview["columns"])] == row.preview["rows"][0]
    assert len(page.cells) == 20 * len(row.preview["columns"])
    assert page.form["method"] == "post"
    action = page.form["action"]
    assert action is not None

    with httpx.Client(base_url=served.api_public_url) as browser:
        response = browser.post(action, headers={"User-Agent": BROWSER, "Referer": ""})

    assert response.status_code == 200, response.text
    assert hashlib.sha256(response.content).hexdigest() == row.checksum_sha256
    with sessions() as session:
        (logged,) = session.scalars(select(ExportDownloadLog).where(ExportDownloadLog.export_id == export_id))
    assert logged.recipient == normalized_recipients(["ops@example.com"])[0]
    assert logged.downloaded_by is None
    assert (logged.ip_address, logged.user_agent) == ("127.0.0.1", BROWSER)


def test_chromium_shows_a_tampered_link_as_a_403_page(
    served: Settings,
    manager: Caller,
    make_export: MakeExport,
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    export_id = make_export(served, manager)
    ready_email(served, sessions, export_id, tmp_path)

    dom = chromium(tmp_path, "--dump-dom", f"{served.api_public_url}/d/not-a-token-we-signed")

    page = Page()
    page.feed(dom)
    assert page.texts["error-title"] == "This link is not valid"
    assert "Error 403" in dom
    assert '"success"' not in dom
