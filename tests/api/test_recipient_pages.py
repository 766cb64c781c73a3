"""The recipient page and its download (`/d/{token}`), through the app with TestClient, on local storage
and S3 (moto), on both app databases. Exports are made the way a run makes them (tests/api/conftest.py).

Every outcome is an HTML page: the file for a good link, 410 when the export or its file is gone,
403 for a token we did not sign; never the JSON envelope, never a 500.
"""

import hashlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.models import AuditLog, ExportDownloadLog
from flows.exports.recipient_links import RecipientClaims, recipient_claims, sign_recipient_link
from flows.settings import Settings
from flows.storage.store import open_storage
from tests.api.conftest import Caller, MakeExport
from tests.api.stored_exports import change_row, row_of

pytest_plugins = ["tests.fixtures_s3", "tests.fixtures_smtp"]  # the latter for `unused_port`

RECIPIENT = "ops@example.com"
BROWSER = "Mozilla/5.0 (recipient test)"


def token_for(
    settings: Settings, sessions: sessionmaker[Session], export_id: uuid.UUID, recipient: str = RECIPIENT
) -> str:
    """The token the ready email would carry for `recipient`."""
    row = row_of(sessions, export_id)
    assert row.checksum_sha256 is not None
    claims = recipient_claims(settings, export_id, recipient, row.checksum_sha256, row.expires_at)
    return sign_recipient_link(settings, claims)


def download_logs(sessions: sessionmaker[Session], export_id: uuid.UUID) -> list[ExportDownloadLog]:
    with sessions() as session:
        return list(
            session.scalars(select(ExportDownloadLog).where(ExportDownloadLog.export_id == export_id))
        )


def download_audits(sessions: sessionmaker[Session], export_id: uuid.UUID) -> list[AuditLog]:
    with sessions() as session:
        return list(
            session.scalars(
                select(AuditLog).where(
                    AuditLog.resource_id == str(export_id), AuditLog.action == "export_downloaded"
                )
            )
        )


def assert_page(response: httpx.Response, status: int, *texts: str) -> str:
    """An HTML page (never the JSON envelope) with `status`, the pages' headers and `texts`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    html = response.text
    assert html.startswith("<!DOCTYPE html>")
    assert '"success"' not in html
    for text in texts:
        assert text in html
    return html


def test_a_recipient_sees_the_page_and_downloads_the_file_logged_as_theirs(
    make_client: Callable[[Settings], TestClient],
    storage_settings: Settings,
    manager: Caller,
    make_export: MakeExport,
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(storage_settings)
    export_id = make_export(storage_settings, manager, name="Q1 sales")
    token = token_for(storage_settings, sessions, export_id)
    row = row_of(sessions, export_id)
    assert row.preview is not None
    caplog.set_level(logging.DEBUG)

    shown = client.get(f"/d/{token}", headers={"User-Agent": BROWSER})
    html = assert_page(shown, 200, "Q1 sales", f"{row.record_count:,}", RECIPIENT, "Download the file")
    assert f'action="/d/{token}/file"' in html
    assert 'method="post"' in html
    assert f"First 20 of {row.record_count:,} rows" in html
    assert html.count("<tr><td>") == 20
    assert row.preview["rows"][0][0] in html
    assert download_logs(sessions, export_id) == []  # opening the page is not a download

    downloaded = client.post(f"/d/{token}/file", headers={"User-Agent": BROWSER})

    assert downloaded.status_code == 200, downloaded.text
    assert hashlib.sha256(downloaded.content).hexdigest() == row.checksum_sha256
    assert downloaded.headers["content-type"] == "text/csv; charset=utf-8"
    assert downloaded.headers["content-disposition"].startswith('attachment; filename="Q1 sales_')
    (logged,) = download_logs(sessions, export_id)
    assert (logged.recipient, logged.downloaded_by, logged.user_agent) == (RECIPIENT, None, BROWSER)
    assert logged.ip_address == "testclient"
    (audited,) = download_audits(sessions, export_id)
    assert audited.user_id is None
    assert audited.details["recipient"] == RECIPIENT
    assert (audited.ip_address, audited.user_agent) == ("testclient", BROWSER)
    server_lines = [
        record.getMessage() for record in caplog.records if record.name != "httpx"
    ]  # the test's own
    assert server_lines
    assert not [line for line in server_lines if token in line]


def test_an_expired_export_is_a_410_page(
    client: TestClient, api_settings: Settings, manager: Caller, make_export: MakeExport, sessions: Any
) -> None:
    export_id = make_export(api_settings, manager)
    token = token_for(api_settings, sessions, export_id)
    change_row(sessions, export_id, expires_at=datetime.now(UTC) - timedelta(minutes=1))

    assert_page(client.get(f"/d/{token}"), 410, "has expired")
    assert_page(client.post(f"/d/{token}/file"), 410, "has expired")
    change_row(sessions, export_id, expires_at=None, status="expired")
    assert_page(client.post(f"/d/{token}/file"), 410, "has expired")
    assert download_logs(sessions, export_id) == []


def test_a_deleted_export_is_a_410_page(
    client: TestClient, api_settings: Settings, manager: Caller, make_export: MakeExport, sessions: Any
) -> None:
    export_id = make_export(api_settings, manager)
    token = token_for(api_settings, sessions, export_id)

    assert client.delete(f"/api/v1/exports/{export_id}", headers=manager.headers).status_code == 200

    assert_page(client.get(f"/d/{token}"), 410, "has been deleted")
    assert_page(client.post(f"/d/{token}/file"), 410, "has been deleted")
    assert download_logs(sessions, export_id) == []


def test_a_link_to_a_file_that_a_new_run_replaced_is_a_410_page(
    client: TestClient, api_settings: Settings, manager: Caller, make_export: MakeExport, sessions: Any
) -> None:
    export_id = make_export(api_settings, manager)
    token = token_for(api_settings, sessions, export_id)
    change_row(sessions, export_id, checksum_sha256="0" * 64)

    assert_page(client.get(f"/d/{token}"), 410, "run again since this link was sent")
    assert_page(client.post(f"/d/{token}/file"), 410, "run again since this link was sent")
    assert download_logs(sessions, export_id) == []


def test_a_file_missing_from_storage_is_a_410_page(
    client: TestClient, api_settings: Settings, manager: Caller, make_export: MakeExport, sessions: Any
) -> None:
    export_id = make_export(api_settings, manager)
    token = token_for(api_settings, sessions, export_id)
    key = row_of(sessions, export_id).storage_key
    assert key is not None
    open_storage(api_settings).delete(key)

    assert_page(client.post(f"/d/{token}/file"), 410, "no longer stored")
    assert download_logs(sessions, export_id) == []


def test_storage_out_of_reach_is_a_503_page_not_a_500(
    make_client: Callable[[Settings], TestClient],
    api_settings: Settings,
    manager: Caller,
    make_export: MakeExport,
    sessions: Any,
    unused_port: int,
    aws_credentials: dict[str, str],
) -> None:
    export_id = make_export(api_settings, manager)
    token = token_for(api_settings, sessions, export_id)
    unreachable = api_settings.model_copy(
        update={"storage_url": "s3://nowhere/files", "s3_endpoint_url": f"http://127.0.0.1:{unused_port}"}
    )

    assert_page(make_client(unreachable).post(f"/d/{token}/file"), 503, "Try again in a few minutes")
    assert download_logs(sessions, export_id) == []


def test_a_tampered_or_foreign_token_is_a_403_page_and_an_old_one_a_410(
    client: TestClient, api_settings: Settings, manager: Caller, make_export: MakeExport, sessions: Any
) -> None:
    export_id = make_export(api_settings, manager)
    token = token_for(api_settings, sessions, export_id)
    head, _, signature = token.rpartition(".")
    tampered = f"{head}.{signature[::-1]}"
    other_key = api_settings.model_copy(
        update={"signing_secret": SecretStr("another-secret-of-enough-length-0123")}
    )
    foreign = token_for(other_key, sessions, export_id)
    row = row_of(sessions, export_id)
    assert row.checksum_sha256 is not None
    old = sign_recipient_link(
        api_settings,
        RecipientClaims(
            export_id=export_id,
            recipient=RECIPIENT,
            checksum_sha256=row.checksum_sha256,
            valid_until=datetime.now(UTC) - timedelta(seconds=1),
        ),
    )

    for bad in (tampered, foreign, "not-a-token", "x" * 5000):
        assert_page(client.get(f"/d/{bad}"), 403, "This link is not valid")
        assert_page(client.post(f"/d/{bad}/file"), 403, "This link is not valid")
    assert_page(client.get(f"/d/{old}"), 410, "This link has expired")
    assert_page(client.post(f"/d/{old}/file"), 410, "This link has expired")
    assert download_logs(sessions, export_id) == []


def test_other_paths_and_methods_under_d_are_html_pages_too(
    client: TestClient, api_settings: Settings, manager: Caller, make_export: MakeExport, sessions: Any
) -> None:
    token = token_for(api_settings, sessions, make_export(api_settings, manager))

    assert_page(client.get(f"/d/{token}/file"), 405, "use the download button")
    assert_page(client.get(f"/d/{token}/elsewhere"), 404, "Page not found")
    assert_page(client.delete(f"/d/{token}"), 405)
    assert "/d/{token}" not in client.get("/openapi.json").text


def test_the_page_escapes_the_name_and_the_preview(
    client: TestClient, api_settings: Settings, manager: Caller, make_export: MakeExport, sessions: Any
) -> None:
    hostile = "<script>alert('x')</script>"
    export_id = make_export(api_settings, manager, name=f"Q1 {hostile}")
    change_row(sessions, export_id, preview={"columns": ["<b>Region</b>"], "rows": [[hostile], ["&amp;"]]})
    token = token_for(api_settings, sessions, export_id)

    html = assert_page(client.get(f"/d/{token}"), 200)

    assert "<script" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&lt;b&gt;Region&lt;/b&gt;" in html
    assert "&amp;amp;" in html


def test_downloads_through_a_link_spend_the_links_download_budget(
    make_client: Callable[[Settings], TestClient],
    api_settings: Settings,
    manager: Caller,
    make_export: MakeExport,
    sessions: sessionmaker[Session],
) -> None:
    settings = api_settings.model_copy(update={"download_rate_limit_requests": 2})
    client = make_client(settings)
    export_id = make_export(settings, manager, name="budgeted")
    token, other = (
        token_for(settings, sessions, export_id),
        token_for(settings, sessions, export_id, "b@corp.local"),
    )

    assert [client.post(f"/d/{token}/file").status_code for _ in range(2)] == [200, 200]
    limited = client.post(f"/d/{token}/file")
    assert_page(limited, 429, "Too many downloads")
    assert int(limited.headers["Retry-After"]) > 0
    assert client.get(f"/d/{token}").status_code == 200  # the page itself is not a download
    assert client.post(f"/d/{other}/file").status_code == 200  # another recipient's link has its own
    assert len(download_logs(sessions, export_id)) == 3
