"""The app against its own OpenAPI document: schemathesis cases per operation, and the document's promises."""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session, sessionmaker

from api.app import API_PREFIX, create_app
from flows.appdb.engine import transaction
from flows.appdb.models import ExportTemplate, User
from flows.exports.creation import create_export
from flows.exports.requests import ExportRequest
from flows.settings import Settings
from flows.vocabulary import ExportStatus
from tests.api.conftest import Caller

CASES_PER_OPERATION = 25
# authorised by a signed token, not a bearer
SIGNED_LINK_ROUTES = {f"{API_PREFIX}/exports/{{export_id}}/file"}
ERROR_STATUSES = ("400", "401", "403", "404", "429", "500")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
STREAMED_MEDIA_TYPES = {"text/event-stream", "application/octet-stream"}


# schemathesis.pytest.from_fixture (a schema per test's app) fails on pytest 9 (it sets the removed
# `Function._nodeid`), so the operations come from the document of an app built here, at import (the
# document depends on no setting), and each case is sent to the test's own app, lifespan included.
DOCUMENT = create_app(Settings(jwt_secret="unused", signing_secret="unused")).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture
def asgi_app(api_settings: Settings) -> Iterator[FastAPI]:
    """The test's app; schemathesis starts its lifespan on its own event loop, stopped after the test."""
    yield create_app(api_settings)
    shutdown_lifespans()


CASE_SETTINGS = settings(
    max_examples=CASES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
ApiCase = schemathesis.Case[Any]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.parametrize()
@CASE_SETTINGS
def test_the_api_keeps_its_documented_contract(case: ApiCase, asgi_app: FastAPI, super_admin: Caller) -> None:
    """No 5xx; every status, content type and body is one the operation documents.

    The events route (Server-Sent Events) is included: schemathesis reads event streams, and a
    generated id is unknown, so it answers at once."""
    case.call_and_validate(app=asgi_app, headers=super_admin.headers, checks=CHECKS)


def _objects(sessions: sessionmaker[Session], owner: Caller) -> dict[str, str]:
    """A failed export (so its events stream ends at once) and a private template, both the owner's."""
    request = ExportRequest.validated({"export_name": "Contract", "export_type": "sales", "format": "csv"})
    with transaction(sessions) as session:
        user = session.get_one(User, owner.id)
        export = create_export(session, request, user)
        export.status = ExportStatus.FAILED
        export.error_message = "failed for the contract test"
        template = ExportTemplate(
            template_name="Contract",
            export_type="sales",
            format="csv",
            created_by=owner.id,
            columns=[],
            filters={},
        )
        session.add(template)
        session.flush()
        return {"export_id": str(export.id), "template_id": str(template.id)}


@schema.include(path_regex=r"\{(export_id|template_id)\}").parametrize()
@CASE_SETTINGS
def test_the_api_keeps_its_documented_contract_on_existing_objects(
    case: ApiCase,
    asgi_app: FastAPI,
    super_admin: Caller,
    sessions: sessionmaker[Session],
) -> None:
    """The same on an export and a template that exist (a generated id is almost never one)."""
    objects = _objects(sessions, super_admin)
    case.path_parameters = {
        name: objects.get(name, value) for name, value in (case.path_parameters or {}).items()
    }
    case.call_and_validate(app=asgi_app, headers=super_admin.headers, checks=CHECKS)


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield f"{method.upper()} {path}", path, operation


def _has_success_body(operation: dict[str, Any]) -> bool:
    """A 2xx response with a schema, or a stream (events, files) whose media type says what it is."""
    media = [
        (media_type, body)
        for status, response in operation["responses"].items()
        if status.startswith("2")
        for media_type, body in response.get("content", {}).items()
    ]
    return any(body.get("schema") or media_type in STREAMED_MEDIA_TYPES for media_type, body in media)


def test_the_document_declares_the_bearer_scheme() -> None:
    schemes = DOCUMENT["components"]["securitySchemes"]
    bearer = [
        scheme for scheme in schemes.values() if (scheme["type"], scheme.get("scheme")) == ("http", "bearer")
    ]
    assert len(bearer) == 1, schemes
    assert bearer[0].get("description")


def test_every_api_operation_requires_the_bearer_scheme() -> None:
    (name,) = DOCUMENT["components"]["securitySchemes"]
    operations = list(_operations(DOCUMENT))
    unsecured = [
        label
        for label, path, operation in operations
        if path.startswith(API_PREFIX)
        and path not in SIGNED_LINK_ROUTES
        and operation.get("security") != [{name: []}]
    ]
    assert unsecured == []
    assert len(operations) >= 10


def test_every_operation_documents_the_error_envelope_as_json() -> None:
    references: set[str] = set()
    missing = []
    for label, _, operation in _operations(DOCUMENT):
        for status in ERROR_STATUSES:
            content = operation["responses"].get(status, {}).get("content", {})
            reference = content.get("application/json", {}).get("schema", {}).get("$ref")
            if reference is None:
                missing.append(f"{label} {status}: {sorted(content)}")
            else:
                references.add(reference)
    assert missing == []
    (reference,) = references
    envelope = DOCUMENT["components"]["schemas"][reference.rsplit("/", 1)[1]]
    assert envelope["required"] == ["errors"]
    assert set(envelope["properties"]) == {"success", "errors", "request_id"}


def test_no_operation_documents_fastapis_422() -> None:
    """Request validation errors are 400s here, so FastAPI's default 422 must not be documented."""
    assert [label for label, _, operation in _operations(DOCUMENT) if "422" in operation["responses"]] == []


def test_every_operation_documents_its_success_body() -> None:
    assert [label for label, _, operation in _operations(DOCUMENT) if not _has_success_body(operation)] == []
