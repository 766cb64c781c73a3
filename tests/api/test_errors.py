"""The error contract: every failure is the envelope with the right status, and a 500 gives nothing away."""

import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from flows.appdb import migrations
from flows.appdb.engine import make_engine, session_factory, transaction
from flows.appdb.identity import create_user, issue_api_token
from flows.settings import Settings
from flows.vocabulary import Role
from tests.api.conftest import Caller
from tests.conftest import POSTGRES_ADMIN_URL

EXPORTS = "/api/v1/exports"
REQUEST_ID = "X-Request-ID"
ID_FIELDS = ("id", "export_id")
VALID_EXPORT = {"export_name": "Sales", "export_type": "sales", "format": "csv"}


def assert_envelope(response: Any, status: int, code: str, field: str | None) -> dict[str, Any]:
    """The response is the error envelope with one error of this code naming this field."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert [(item["field"], item["code"]) for item in body["errors"]] == [(field, code)], body
    assert body["errors"][0]["message"]
    assert response.headers[REQUEST_ID]
    return body


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing-here", "/api/v1/exports/1/2/3/4", "/nothing", "/api/v2/exports"]
)
def test_an_unknown_route_is_a_404_envelope(client: TestClient, super_admin: Caller, path: str) -> None:
    response = client.get(path, headers=super_admin.headers)

    body = assert_envelope(response, 404, "not_found", None)
    assert "request_id" not in body


def test_an_unknown_route_is_404_without_credentials_too(client: TestClient) -> None:
    assert_envelope(client.get("/api/v1/nothing-here"), 404, "not_found", None)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", EXPORTS, "GET, POST"),
        ("PUT", f"{EXPORTS}/execute", "POST"),
        ("PATCH", f"{EXPORTS}/{uuid.UUID(int=1)}", "GET, DELETE"),
    ],
)
def test_a_wrong_method_is_a_405_envelope(
    client: TestClient, super_admin: Caller, method: str, path: str, allowed: str
) -> None:
    response = client.request(method, path, headers=super_admin.headers)

    assert_envelope(response, 405, "method_not_allowed", None)
    assert method not in response.headers["Allow"]
    assert set(response.headers["Allow"].split(", ")) <= set(allowed.split(", "))


@pytest.mark.parametrize(
    "content",
    [b'{"export_name": ', b"{'export_name': 'single quotes'}", b"not json at all", b'{"a": 1}}', b"\xff\xfe"],
    ids=["truncated", "single quotes", "words", "trailing brace", "not utf-8"],
)
def test_a_malformed_json_body_is_a_400_naming_the_body(
    client: TestClient, super_admin: Caller, content: bytes
) -> None:
    headers = {**super_admin.headers, "Content-Type": "application/json"}

    response = client.post(EXPORTS, content=content, headers=headers)

    assert_envelope(response, 400, "validation_error", "body")


@pytest.mark.parametrize(
    "content", [b"[]", b'"a string"', b"42", b"null"], ids=["array", "string", "number", "null"]
)
def test_a_json_body_that_is_not_an_object_is_a_400_naming_the_body(
    client: TestClient, super_admin: Caller, content: bytes
) -> None:
    headers = {**super_admin.headers, "Content-Type": "application/json"}

    response = client.post(EXPORTS, content=content, headers=headers)

    assert_envelope(response, 400, "validation_error", "body")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**VALID_EXPORT, "nonsense": 1}, "nonsense"),
        ({**VALID_EXPORT, "createdBy": str(uuid.uuid4())}, "createdBy"),
        ({**VALID_EXPORT, "status": "completed"}, "status"),
        ({**VALID_EXPORT, "options": {"header": "names", "colour": "red"}}, "options.colour"),
    ],
    ids=["nonsense", "camel case", "status", "nested in options"],
)
def test_an_unknown_body_field_is_a_400_naming_it(
    client: TestClient, super_admin: Caller, body: dict[str, Any], field: str
) -> None:
    response = client.post(EXPORTS, json=body, headers=super_admin.headers)

    body_out = assert_envelope(response, 400, "validation_error", field)
    assert body_out["errors"][0]["message"] == "unknown field"


@pytest.fixture
def doomed_database(make_postgres_database: Callable[[str], str]) -> str:
    """A migrated PostgreSQL app database of its own, for a test to drop while the app is running."""
    url = make_postgres_database(f"doomed_{uuid.uuid4().hex[:8]}")
    migrations.upgrade(url)
    return url


BREAKAGES = {
    # A table gone: a bug or a botched migration, which no retry mends.
    "table dropped": ("DROP TABLE data_exports CASCADE", 500, "internal_error"),
    # The database gone (as when its server restarts): an outage, which a retry can outlast.
    "database dropped": ("DROP DATABASE {name} WITH (FORCE)", 503, "unavailable"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_real_server_error_is_a_5xx_envelope_with_the_logged_request_id(
    api_settings: Settings,
    doomed_database: str,
    make_client: Callable[[Settings], TestClient],
    caplog: pytest.LogCaptureFixture,
    breakage: str,
) -> None:
    """The app database breaks under a running app: the caller learns nothing about it but a request id,
    which the log line (with the traceback) carries too; an outage is a 503 that says when to retry."""
    statement, status, code = BREAKAGES[breakage]
    engine = make_engine(doomed_database)
    with transaction(session_factory(engine)) as session:
        _, token = issue_api_token(session, create_user(session, "doomed@example.com", Role.SUPER_ADMIN))
    engine.dispose()
    client = make_client(api_settings.model_copy(update={"database_url": doomed_database}))
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(EXPORTS, headers=headers).status_code == 200
    name = doomed_database.rsplit("/", 1)[1]
    target = POSTGRES_ADMIN_URL if "DATABASE" in statement else doomed_database
    with psycopg.connect(target, autocommit=True) as admin:
        admin.execute(statement.format(name=f'"{name}"'))

    with caplog.at_level(logging.ERROR, logger="exportflow.api"):
        response = client.get(EXPORTS, headers=headers)

    body = assert_envelope(response, status, code, None)
    request_id = response.headers[REQUEST_ID]
    assert body["request_id"] == request_id
    assert response.headers.get("Retry-After") == ("2" if status == 503 else None)
    leaks = re.compile(
        r"psycopg|sqlalchemy|operational|select|database|exportflow_test|/|\\|traceback|line \d", re.I
    )
    assert not leaks.search(response.text.replace(request_id, "")), response.text
    logged = [record for record in caplog.records if request_id in record.getMessage()]
    assert len(logged) == 1
    assert logged[0].levelno == logging.ERROR
    assert logged[0].exc_info is not None


def test_every_response_carries_a_request_id(client: TestClient, super_admin: Caller) -> None:
    ids = {client.get(EXPORTS, headers=super_admin.headers).headers[REQUEST_ID] for _ in range(3)}
    ids.add(client.get(EXPORTS).headers[REQUEST_ID])

    assert len(ids) == 4
    assert all(re.fullmatch(r"[0-9a-f]{16}", value) for value in ids)


def test_a_4xx_envelope_has_no_request_id_in_the_body(client: TestClient, super_admin: Caller) -> None:
    response = client.get(f"{EXPORTS}/{uuid.uuid4()}", headers=super_admin.headers)

    body = assert_envelope(response, 404, "not_found", "id")
    assert "request_id" not in body


def _id_route_methods(openapi: dict[str, Any]) -> list[str]:
    return sorted(method.upper() for method in openapi["paths"][f"{EXPORTS}/{{export_id}}"])


def _fixed_segments(openapi: dict[str, Any]) -> set[str]:
    """The first segments after /exports/ that are words, not parameters: types, templates, status, ..."""
    prefix = f"{EXPORTS}/"
    return {
        path.removeprefix(prefix).split("/")[0]
        for path in openapi["paths"]
        if path.startswith(prefix) and not path.removeprefix(prefix).startswith("{")
    }


def test_fixed_paths_are_never_taken_for_an_export_id(client: TestClient, super_admin: Caller) -> None:
    """GET/DELETE /exports/<word> reach the word's own route, or none (404/405): never the id routes."""
    openapi = client.get("/openapi.json").json()
    segments = _fixed_segments(openapi)
    assert {"execute", "status"} <= segments
    for segment in sorted(segments):
        path = f"{EXPORTS}/{segment}"
        own_methods = {method.upper() for method in openapi["paths"].get(path, {})}
        for method in _id_route_methods(openapi):
            response = client.request(method, path, headers=super_admin.headers)
            if method in own_methods:
                assert response.status_code == 200, (method, path, response.text)
                continue
            expected = 405 if own_methods else 404
            code = "method_not_allowed" if own_methods else "not_found"
            assert_envelope(response, expected, code, None)
        for action in ("cancel", "retry", "events"):
            response = client.request(
                "GET" if action == "events" else "POST", f"{path}/{action}", headers=super_admin.headers
            )
            assert response.status_code in (400, 404, 405), (path, action, response.text)
            assert response.json()["errors"][0]["field"] not in ID_FIELDS, (path, action, response.text)


@pytest.mark.parametrize(
    "raw_id",
    ["not-a-uuid", "12345", "00000000-0000-0000-0000-00000000000g", "%27%20OR%20%271%27%3D%271", "%00"],
)
def test_a_non_uuid_id_matches_no_route(client: TestClient, super_admin: Caller, raw_id: str) -> None:
    for path in (f"{EXPORTS}/{raw_id}", f"{EXPORTS}/status/{raw_id}", f"{EXPORTS}/{raw_id}/events"):
        assert_envelope(client.get(path, headers=super_admin.headers), 404, "not_found", None)
    assert_envelope(client.delete(f"{EXPORTS}/{raw_id}", headers=super_admin.headers), 404, "not_found", None)


def test_an_unknown_uuid_reaches_the_id_route_and_is_a_404_naming_the_id(
    client: TestClient, super_admin: Caller
) -> None:
    for path in (f"{EXPORTS}/{uuid.uuid4()}", f"{EXPORTS}/status/{uuid.uuid4()}"):
        assert_envelope(client.get(path, headers=super_admin.headers), 404, "not_found", "id")
