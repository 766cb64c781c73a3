"""Download links and the file route, on local storage and on S3 (a moto server), without Prefect.

Completed exports are made the way a run makes them: the row (create_export), begin_export, the
sales rows staged from the session's warehouse and rendered by the real renderer, the file
uploaded by the real storage, then complete_export.
"""

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.routes.downloads import content_disposition
from flows.appdb.engine import transaction
from flows.appdb.models import AuditLog, ExportDownloadLog, User
from flows.exports.creation import create_export
from flows.exports.lifecycle import fail_export
from flows.exports.requests import ExportRequest
from flows.settings import Settings
from flows.vocabulary import ExportFormat, ExportStatus, ExportType, Role
from tests.api.conftest import Caller, MakeCaller, MakeExport
from tests.api.stored_exports import change_row, row_of

pytest_plugins = ["tests.fixtures_s3"]


def download_records(sessions: Any, export_id: uuid.UUID) -> tuple[ExportDownloadLog, AuditLog]:
    """The one download-log row and the one audit row that a granted download writes."""
    with sessions() as session:
        logged = session.scalars(
            select(ExportDownloadLog).where(ExportDownloadLog.export_id == export_id)
        ).one()
        audited = session.scalars(
            select(AuditLog).where(
                AuditLog.resource_id == str(export_id), AuditLog.action == "export_downloaded"
            )
        ).one()
    return logged, audited


def download(client: TestClient, caller: Caller, export_id: uuid.UUID, **headers: str) -> httpx.Response:
    response: httpx.Response = client.get(
        f"/api/v1/exports/{export_id}/download", headers={**caller.headers, **headers}
    )
    return response


def link_of(client: TestClient, caller: Caller, export_id: uuid.UUID) -> str:
    response = download(client, caller, export_id)
    assert response.status_code == 200, response.text
    url: str = response.json()["data"]["download_url"]
    return url


def fetch(client: TestClient, url: str) -> httpx.Response:
    """GET a download link as a browser would: no bearer token; S3 links go to the S3 server."""
    if "/api/v1/exports/" in url:
        response: httpx.Response = client.get(url)
        return response
    return httpx.get(url)


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body["success"] is False
    first: dict[str, Any] = body["errors"][0]
    return first


def test_the_owner_downloads_the_file_that_matches_its_checksum(
    make_client: Callable[[Settings], TestClient],
    storage_settings: Settings,
    manager: Caller,
    make_export: MakeExport,
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(storage_settings)
    export_id = make_export(storage_settings, manager)
    row = row_of(sessions, export_id)

    before = datetime.now(UTC)
    response = download(client, manager, export_id, **{"User-Agent": "download-test/1.0"})

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["checksum_sha256"] == row.checksum_sha256
    assert data["file_size"] == row.file_size > 0
    assert data["file_name"].startswith("Q1 sales_")
    assert data["file_name"].endswith(".csv")
    expires_at = datetime.fromisoformat(data["expires_at"])
    assert before + timedelta(seconds=295) <= expires_at <= datetime.now(UTC) + timedelta(seconds=300)
    if storage_settings.storage_url.startswith("s3://"):
        assert data["download_url"].startswith(storage_settings.s3_endpoint_url)
    else:
        assert data["download_url"].startswith(
            f"http://127.0.0.1:8000/api/v1/exports/{export_id}/file?token="
        )

    fetched = fetch(make_client(storage_settings), data["download_url"])

    assert fetched.status_code == 200, fetched.text
    assert hashlib.sha256(fetched.content).hexdigest() == row.checksum_sha256
    assert fetched.headers["content-type"] == "text/csv; charset=utf-8"
    assert int(fetched.headers["content-length"]) == row.file_size
    assert fetched.headers["content-disposition"] == content_disposition(data["file_name"])
    logged, audited = download_records(sessions, export_id)
    assert (logged.downloaded_by, logged.ip_address, logged.user_agent) == (
        manager.id,
        "testclient",
        "download-test/1.0",
    )
    assert (audited.user_id, audited.ip_address, audited.user_agent) == (
        manager.id,
        "testclient",
        "download-test/1.0",
    )
    assert data["download_url"] not in str(audited.details)
    secret = data["download_url"].split("?", 1)[1]
    # httpx is this test's own HTTP client (a browser, in real life); every other logger is the server's.
    server_records = [record for record in caplog.records if record.name != "httpx"]
    logged_text = "\n".join(f"{record.name} {record.getMessage()}" for record in server_records)
    assert any(record.name == "flows.storage.store" for record in server_records)  # logging was captured
    assert secret not in logged_text
    assert data["download_url"] not in logged_text


def test_another_manager_gets_a_404_and_an_admin_may_download(
    client: TestClient,
    api_settings: Settings,
    manager: Caller,
    make_caller: MakeCaller,
    admin: Caller,
    make_export: MakeExport,
) -> None:
    export_id = make_export(api_settings, manager)

    foreign = download(client, make_caller(Role.MANAGER), export_id)
    by_admin = download(client, admin, export_id)

    assert foreign.status_code == 404
    assert error_of(foreign)["code"] == "not_found"
    assert by_admin.status_code == 200
    assert fetch(client, by_admin.json()["data"]["download_url"]).status_code == 200


def test_an_unfinished_or_failed_export_is_a_409(
    client: TestClient, api_settings: Settings, manager: Caller, sessions: sessionmaker[Session]
) -> None:
    request = ExportRequest.validated({"export_name": "waiting", "export_type": "sales", "format": "csv"})
    with transaction(sessions) as session:
        pending = create_export(session, request, session.get_one(User, manager.id)).id
        failed = create_export(session, request, session.get_one(User, manager.id)).id
    fail_export(sessions, failed, "the warehouse was down")

    for export_id, status in ((pending, "pending"), (failed, "failed")):
        response = download(client, manager, export_id)
        assert response.status_code == 409
        assert error_of(response)["message"] == (
            f"export is {status}; only completed exports can be downloaded"
        )


@pytest.mark.parametrize("how", ["past expires_at", "status expired"])
def test_an_expired_export_is_gone_for_links_old_and_new(
    client: TestClient,
    api_settings: Settings,
    manager: Caller,
    make_export: MakeExport,
    sessions: sessionmaker[Session],
    how: str,
) -> None:
    export_id = make_export(api_settings, manager)
    link = link_of(client, manager, export_id)
    if how == "status expired":
        change_row(sessions, export_id, status=ExportStatus.EXPIRED.value)
    else:
        change_row(sessions, export_id, expires_at=datetime.now(UTC) - timedelta(seconds=1))

    assert download(client, manager, export_id).status_code == 410
    assert error_of(fetch(client, link))["code"] == "gone"
    assert fetch(client, link).status_code == 410


def test_a_deleted_export_is_a_404_for_links_old_and_new(
    client: TestClient, api_settings: Settings, manager: Caller, make_export: MakeExport
) -> None:
    export_id = make_export(api_settings, manager)
    link = link_of(client, manager, export_id)

    assert client.delete(f"/api/v1/exports/{export_id}", headers=manager.headers).status_code == 200

    assert download(client, manager, export_id).status_code == 404
    assert fetch(client, link).status_code == 404


def test_a_tampered_token_or_one_for_another_export_is_a_403(
    client: TestClient, api_settings: Settings, manager: Caller, make_export: MakeExport
) -> None:
    first = make_export(api_settings, manager)
    second = make_export(api_settings, manager)
    link = link_of(client, manager, first)
    base, token = link.split("?token=")
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    signature = token.rpartition(".")[2]
    other_payload = link_of(client, manager, second).split("?token=")[1].rpartition(".")[0]

    cases = {
        "flipped character": f"{base}?token={flipped}",
        "other payload, this signature": f"{base}?token={other_payload}.{signature}",
        "another export's link": f"{base.replace(str(first), str(second))}?token={token}",
        "garbage": f"{base}?token=not-a-token",
    }
    for case, url in cases.items():
        response = fetch(client, url)
        assert response.status_code == 403, case
        assert error_of(response)["field"] == "token", case
    assert fetch(client, link).status_code == 200


def test_an_expired_link_is_a_410(
    client: TestClient,
    api_settings: Settings,
    manager: Caller,
    make_export: MakeExport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    export_id = make_export(api_settings, manager)
    issued = int(time.time()) - api_settings.download_url_ttl_seconds - 2
    with monkeypatch.context() as patch:  # itsdangerous dates the token it signs an instant ago
        patch.setattr(TimestampSigner, "get_timestamp", lambda _signer: issued)
        old_link = link_of(client, manager, export_id)

    response = fetch(client, old_link)

    assert response.status_code == 410
    assert error_of(response)["message"] == "this download link has expired; ask for a new one"
    assert fetch(client, link_of(client, manager, export_id)).status_code == 200


def test_a_link_dies_with_its_users_account_or_access(
    client: TestClient,
    api_settings: Settings,
    manager: Caller,
    admin: Caller,
    make_export: MakeExport,
    sessions: sessionmaker[Session],
) -> None:
    export_id = make_export(api_settings, manager)
    owners_link = link_of(client, manager, export_id)
    admins_link = link_of(client, admin, export_id)

    with transaction(sessions) as session:
        session.get_one(User, manager.id).is_active = False
        session.get_one(User, admin.id).role = Role.MANAGER.value

    deactivated = fetch(client, owners_link)
    demoted = fetch(client, admins_link)

    assert deactivated.status_code == 403
    assert error_of(deactivated)["message"] == "the account this link was made for is deactivated"
    assert demoted.status_code == 404


def test_a_link_dies_when_the_role_may_no_longer_export_the_type(
    make_client: Callable[[Settings], TestClient],
    api_settings: Settings,
    manager: Caller,
    make_export: MakeExport,
) -> None:
    export_id = make_export(api_settings, manager)
    link = link_of(make_client(api_settings), manager, export_id)
    sales_now_sensitive = api_settings.model_copy(update={"sensitive_export_types": [ExportType.SALES]})
    client = make_client(sales_now_sensitive)

    refused = download(client, manager, export_id)

    assert refused.status_code == 403
    assert error_of(refused)["field"] == "export_type"
    assert fetch(client, link).status_code == 403


def test_a_link_to_a_replaced_file_is_gone(
    client: TestClient,
    api_settings: Settings,
    manager: Caller,
    make_export: MakeExport,
    sessions: sessionmaker[Session],
) -> None:
    export_id = make_export(api_settings, manager)
    link = link_of(client, manager, export_id)
    change_row(sessions, export_id, checksum_sha256="0" * 64)

    response = fetch(client, link)

    assert response.status_code == 410
    assert "changed after this link was made" in error_of(response)["message"]


def test_a_link_never_outlives_the_export(
    make_client: Callable[[Settings], TestClient],
    storage_settings: Settings,
    manager: Caller,
    make_export: MakeExport,
    sessions: sessionmaker[Session],
) -> None:
    client = make_client(storage_settings)
    export_id = make_export(storage_settings, manager)
    export_expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=60)
    change_row(sessions, export_id, expires_at=export_expires)

    data = download(client, manager, export_id).json()["data"]

    assert datetime.fromisoformat(data["expires_at"]) == export_expires
    if storage_settings.storage_url.startswith("s3://"):
        query = parse_qs(urlsplit(data["download_url"]).query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]  # SigV4: SigV2 is refused by newer regions
        assert 57 <= int(query["X-Amz-Expires"][0]) <= 60


@pytest.mark.parametrize(
    ("export_format", "options", "media_type", "check"),
    [
        (ExportFormat.EXCEL, {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK"),
        (ExportFormat.PDF, {}, "application/pdf", b"%PDF"),
        (ExportFormat.JSON, {}, "application/json", b"["),
        (ExportFormat.JSON, {"json_lines": True}, "application/x-ndjson", b'{"order_number"'),
        (ExportFormat.PARQUET, {}, "application/vnd.apache.parquet", b"PAR1"),
    ],
    ids=["excel", "pdf", "json", "ndjson", "parquet"],
)
def test_each_format_is_served_with_its_media_type(
    make_client: Callable[[Settings], TestClient],
    storage_settings: Settings,
    manager: Caller,
    make_export: MakeExport,
    export_format: ExportFormat,
    options: dict[str, Any],
    media_type: str,
    check: bytes,
) -> None:
    client = make_client(storage_settings)
    export_id = make_export(storage_settings, manager, export_format=export_format, options=options)

    fetched = fetch(client, link_of(client, manager, export_id))

    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == media_type
    assert fetched.content.startswith(check)


def test_a_name_with_accents_quotes_and_line_breaks_downloads_under_a_safe_name(
    make_client: Callable[[Settings], TestClient],
    storage_settings: Settings,
    manager: Caller,
    make_export: MakeExport,
    sessions: sessionmaker[Session],
) -> None:
    client = make_client(storage_settings)
    export_id = make_export(storage_settings, manager, name='Zoë\'s "Q1" rapport')
    # Names with line breaks or paths cannot be created through the API; a row might still hold one.
    change_row(sessions, export_id, export_name='Zoë\'s "Q1"\r\nSet-Cookie: x=1/../..\\etc\u202e.exe')
    stamped = row_of(sessions, export_id).storage_key.rpartition("_")[2]  # type: ignore[union-attr]

    data = download(client, manager, export_id).json()["data"]
    fetched = fetch(client, data["download_url"])

    assert data["file_name"] == f"Zoë's _Q1_ Set-Cookie_ x=1_.._.._etc.exe_{stamped}"
    disposition = fetched.headers["content-disposition"]
    assert disposition == (
        'attachment; filename="Zoe_s _Q1_ Set-Cookie_ x_1_.._.._etc.exe_'
        f"{stamped}\"; filename*=UTF-8''Zo%C3%AB%27s%20_Q1_%20Set-Cookie_%20x%3D1_.._.._etc.exe_{stamped}"
    )
    assert "set-cookie" not in fetched.headers


@pytest.mark.parametrize(
    "name",
    [
        'a"b\r\nc.csv',
        "../../etc/passwd",
        "..\\..\\boot.ini",
        ".hidden",
        "\u202etxt.exe",
        "日本語のレポート.xlsx",
        '"',
        "",
    ],
)
def test_content_disposition_lets_no_quote_break_or_path_through(name: str) -> None:
    header = content_disposition(name)

    header.encode("ascii")  # a header value of plain ASCII
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    encoded = header.split("filename*=UTF-8''", 1)[1]
    for shown in (fallback, unquote(encoded)):
        assert shown
        assert not any(character in shown for character in '"/\\\r\n\u202e')
        assert not shown.startswith(".")
    assert header.count('"') == 2
    assert header.startswith("attachment; ")


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "expected"),
    [
        ([], "203.0.113.7", "198.51.100.9", "203.0.113.7"),
        (["10.0.0.0/8"], "10.0.0.5", "198.51.100.9, 10.0.0.7", "198.51.100.9"),
        (["10.0.0.0/8"], "192.0.2.1", "198.51.100.9", "192.0.2.1"),
    ],
    ids=["direct peer", "trusted proxy", "untrusted proxy"],
)
def test_the_download_log_has_the_clients_real_address(
    api_settings: Settings,
    manager: Caller,
    make_export: MakeExport,
    sessions: sessionmaker[Session],
    trusted: list[str],
    peer: str,
    forwarded: str,
    expected: str,
) -> None:
    settings = api_settings.model_copy(update={"trusted_proxies": trusted})
    export_id = make_export(settings, manager)
    with TestClient(create_app(settings), client=(peer, 40000)) as client:
        response = download(
            client, manager, export_id, **{"X-Forwarded-For": forwarded, "User-Agent": "ua/9"}
        )
    assert response.status_code == 200

    logged, audited = download_records(sessions, export_id)
    assert (logged.ip_address, logged.user_agent) == (expected, "ua/9")
    assert (audited.ip_address, audited.user_agent) == (expected, "ua/9")
