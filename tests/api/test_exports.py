"""The export routes without Prefect: rows, validation, visibility, idempotency, cancel, retry, events.

No Prefect API is configured here, so every export stays `pending` with no flow run: exactly the
state the API promises when Prefect is unreachable. Runs through Prefect are in test_api_prefect.py.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from flows.appdb.engine import transaction
from flows.appdb.models import AuditLog, DataExport, ExportTemplate
from flows.catalog.definitions import get_definition
from flows.exports.lifecycle import fail_export
from flows.vocabulary import ExportType
from tests.api.conftest import Caller

SALES = {"export_name": "Q3 sales", "export_type": "sales", "format": "csv"}


def create(
    client: TestClient,
    caller: Caller,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    response = client.post(
        "/api/v1/exports", json=body or SALES, headers={**caller.headers, **(headers or {})}
    )
    assert response.status_code == 201, response.text
    return response.json()["data"]


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert body["success"] is False
    assert len(body["errors"]) >= 1
    first: dict[str, Any] = body["errors"][0]
    return first


def test_create_stores_a_pending_row_with_its_audit_entry(
    client: TestClient, manager: Caller, sessions: Any
) -> None:
    response = client.post(
        "/api/v1/exports",
        json={
            **SALES,
            "columns": ["order_number", "total_amount"],
            "recipients": ["a@Example.COM", "a@example.com", "ana@Corp.Local", "ops@localhost"],
        },
        headers={**manager.headers, "User-Agent": "pytest-agent/1"},
    )

    assert response.status_code == 201
    data = response.json()["data"]
    assert response.headers["Location"] == f"/api/v1/exports/{data['id']}"
    assert data["status"] == "pending"
    assert data["priority"] == "normal"
    assert data["flow_run_id"] is None
    assert data["columns"] == ["order_number", "total_amount"]
    assert data["recipients"] == ["a@example.com", "ana@corp.local", "ops@localhost"]
    assert data["creator"]["email"] == manager.email
    with sessions() as session:
        entry = session.scalars(
            select(AuditLog).where(AuditLog.resource_id == data["id"], AuditLog.action == "export_created")
        ).one()
    assert entry.user_id == manager.id
    assert entry.user_agent == "pytest-agent/1"
    assert entry.ip_address


def test_the_create_answer_is_the_row_as_created_when_its_run_began_before_the_answer(
    client: TestClient, manager: Caller, sessions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No Prefect here: the run's start stands in for one that Prefect started, and that got as far as
    # marking the row processing, before the route answered (seen with a fast worker).
    run_id = uuid.uuid4()

    def start_and_begin(run_sessions: Any, _settings: Any, run: Any) -> uuid.UUID:
        with transaction(run_sessions) as session:
            session.execute(
                update(DataExport)
                .where(DataExport.id == run.export_id)
                .values(flow_run_id=run_id, status="processing", progress_percentage=3)
            )
        return run_id

    monkeypatch.setattr("flows.orchestration.dispatch.start_export_run", start_and_begin)
    data = create(client, manager)

    assert (data["status"], data["progress_percentage"], data["flow_run_id"]) == ("pending", 0, str(run_id))
    status = client.get(f"/api/v1/exports/status/{data['id']}", headers=manager.headers).json()["data"]
    assert status["status"] == "processing"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**SALES, "export_name": ""}, "export_name"),
        ({**SALES, "export_name": "x" * 256}, "export_name"),
        ({**SALES, "export_type": "secrets"}, "export_type"),
        ({**SALES, "format": "xml"}, "format"),
        ({**SALES, "columns": ["order_number", "password"]}, "columns[1]"),
        ({**SALES, "filters": {"no_such_filter": 1}}, "filters.no_such_filter"),
        ({**SALES, "recipients": ["not an address"]}, "recipients[0]"),
        ({**SALES, "recipients": ["ana@corp.local", "bob@nowhere.invalid"]}, "recipients[1]"),
        ({**SALES, "recipients": ["ana@corp.local\nBcc: eve@evil.test"]}, "recipients[0]"),
        ({**SALES, "recipients": [f"user{index}@example.com" for index in range(21)]}, "recipients"),
        ({**SALES, "unknown": True}, "unknown"),
        ({"export_type": "sales", "format": "csv"}, "export_name"),
    ],
)
def test_a_bad_request_is_a_400_naming_its_field(
    client: TestClient, manager: Caller, body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/exports", json=body, headers=manager.headers)

    assert response.status_code == 400, response.text
    assert error_of(response)["field"] == field
    assert error_of(response)["code"] == "validation_error"


def test_a_manager_may_not_export_a_sensitive_type(
    client: TestClient, manager: Caller, admin: Caller
) -> None:
    body = {**SALES, "export_type": "payroll"}

    refused = client.post("/api/v1/exports", json=body, headers=manager.headers)

    assert refused.status_code == 403
    assert error_of(refused)["field"] == "export_type"
    assert client.post("/api/v1/exports", json=body, headers=admin.headers).status_code == 201


def test_managers_see_their_own_exports_and_admins_everyones(
    client: TestClient, manager: Caller, make_caller: Any, admin: Caller
) -> None:
    mine = create(client, manager)
    other = make_caller(manager.role)
    theirs = create(client, other)

    listed = client.get("/api/v1/exports?limit=100", headers=manager.headers).json()
    assert [row["id"] for row in listed["data"]] == [mine["id"]]
    assert listed["pagination"] == {"page": 1, "limit": 100, "total": 1, "pages": 1}
    assert client.get(f"/api/v1/exports/{theirs['id']}", headers=manager.headers).status_code == 404
    assert client.get(f"/api/v1/exports/status/{theirs['id']}", headers=manager.headers).status_code == 404
    assert client.post(f"/api/v1/exports/{theirs['id']}/cancel", headers=manager.headers).status_code == 404

    by_other = client.get(f"/api/v1/exports?created_by={other.id}", headers=admin.headers).json()
    assert [row["id"] for row in by_other["data"]] == [theirs["id"]]
    refused = client.get(f"/api/v1/exports?created_by={other.id}", headers=manager.headers)
    assert refused.status_code == 403
    assert error_of(refused)["field"] == "created_by"


def test_list_filters_sorts_and_pages(client: TestClient, manager: Caller) -> None:
    for name, export_format in [("b", "csv"), ("a", "json"), ("c", "csv")]:
        create(client, manager, {**SALES, "export_name": name, "format": export_format})
    headers = manager.headers

    by_name = client.get("/api/v1/exports?sort_by=export_name&sort_order=asc&limit=2", headers=headers).json()
    assert [row["export_name"] for row in by_name["data"]] == ["a", "b"]
    assert by_name["pagination"] == {"page": 1, "limit": 2, "total": 3, "pages": 2}
    second = client.get("/api/v1/exports?sort_by=export_name&sort_order=asc&limit=2&page=2", headers=headers)
    assert [row["export_name"] for row in second.json()["data"]] == ["c"]
    csv_only = client.get("/api/v1/exports?format=csv", headers=headers).json()
    assert sorted(row["export_name"] for row in csv_only["data"]) == ["b", "c"]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert client.get(f"/api/v1/exports?date_from={tomorrow}", headers=headers).json()["data"] == []
    assert len(client.get(f"/api/v1/exports?date_to={tomorrow}", headers=headers).json()["data"]) == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=101", "limit"),
        ("page=0", "page"),
        ("sort_by=password", "sort_by"),
        ("sort_order=sideways", "sort_order"),
        ("status=done", "status"),
        ("date_from=yesterday", "date_from"),
        ("date_to=2026-01-01T10:00:00", "date_to"),
        ("created_by=42", "created_by"),
    ],
)
def test_bad_list_parameters_are_400s_naming_them(
    client: TestClient, manager: Caller, query: str, field: str
) -> None:
    response = client.get(f"/api/v1/exports?{query}", headers=manager.headers)

    assert response.status_code == 400
    assert error_of(response)["field"] == field


def test_fixed_paths_are_never_taken_for_an_id(client: TestClient, manager: Caller) -> None:
    assert client.get("/api/v1/exports/not-a-uuid", headers=manager.headers).status_code == 404
    assert client.get("/api/v1/exports/status/not-a-uuid", headers=manager.headers).status_code == 404
    assert client.get(f"/api/v1/exports/{uuid.uuid4()}", headers=manager.headers).status_code == 404


def test_read_with_details_includes_the_run_statistics(
    client: TestClient, manager: Caller, sessions: Any
) -> None:
    export = create(client, manager)
    assert fail_export(sessions, uuid.UUID(export["id"]), "the warehouse was unreachable")

    plain = client.get(f"/api/v1/exports/{export['id']}", headers=manager.headers).json()["data"]
    detailed = client.get(f"/api/v1/exports/{export['id']}?include_details=true", headers=manager.headers)

    assert plain["statistics"] == []
    assert plain["status"] == "failed"
    statistics = detailed.json()["data"]["statistics"]
    assert [(item["success"], item["error_message"]) for item in statistics] == [
        (False, "the warehouse was unreachable")
    ]


def test_status_of_an_export_waiting_for_prefect(client: TestClient, manager: Caller) -> None:
    export = create(client, manager)

    status = client.get(f"/api/v1/exports/status/{export['id']}", headers=manager.headers).json()["data"]

    assert status["status"] == "pending"
    assert status["flow_run_id"] is None
    assert status["prefect_state"] is None


def test_cancel_then_retry(client: TestClient, manager: Caller, sessions: Any) -> None:
    export = create(client, manager)

    cancelled = client.post(f"/api/v1/exports/{export['id']}/cancel", headers=manager.headers)
    again = client.post(f"/api/v1/exports/{export['id']}/cancel", headers=manager.headers)
    retried = client.post(f"/api/v1/exports/{export['id']}/retry", headers=manager.headers)

    assert cancelled.status_code == 200
    assert cancelled.json()["data"]["status"] == "cancelled"
    assert cancelled.json()["data"]["error_message"] == f"cancelled by {manager.email}"
    assert again.status_code == 409
    assert retried.status_code == 201
    retry = retried.json()["data"]
    assert retry["retry_of"] == export["id"]
    assert retry["status"] == "pending"
    assert retry["export_name"].startswith("Q3 sales (retry ")
    assert client.post(f"/api/v1/exports/{retry['id']}/retry", headers=manager.headers).status_code == 409
    with sessions() as session:
        actions = session.scalars(select(AuditLog.action).where(AuditLog.resource_id == export["id"])).all()
    assert {"export_created", "export_cancelled", "export_retried"} <= set(actions)


def test_an_admin_retry_stays_the_owners_export(
    client: TestClient, manager: Caller, admin: Caller, sessions: Any
) -> None:
    export = create(client, manager)
    client.post(f"/api/v1/exports/{export['id']}/cancel", headers=manager.headers)

    retry = client.post(f"/api/v1/exports/{export['id']}/retry", headers=admin.headers).json()["data"]

    assert retry["created_by"] == str(manager.id)
    with sessions() as session:
        entry = session.scalars(
            select(AuditLog).where(AuditLog.resource_id == retry["id"], AuditLog.action == "export_created")
        ).one()
    assert entry.user_id == admin.id


def test_delete_hides_the_row_and_keeps_its_audit_trail(
    client: TestClient, manager: Caller, sessions: Any
) -> None:
    export = create(client, manager)

    deleted = client.delete(f"/api/v1/exports/{export['id']}", headers=manager.headers)

    assert deleted.status_code == 200
    assert deleted.json()["data"]["status"] == "cancelled"
    assert client.get(f"/api/v1/exports/{export['id']}", headers=manager.headers).status_code == 404
    assert client.delete(f"/api/v1/exports/{export['id']}", headers=manager.headers).status_code == 404
    assert export["id"] not in [
        row["id"] for row in client.get("/api/v1/exports", headers=manager.headers).json()["data"]
    ]
    with sessions() as session:
        row = session.get_one(DataExport, uuid.UUID(export["id"]))
        actions = session.scalars(select(AuditLog.action).where(AuditLog.resource_id == export["id"])).all()
    assert row.deleted_at is not None
    assert {"export_created", "export_cancelled", "export_deleted"} <= set(actions)


def test_an_idempotency_key_returns_the_first_export(
    client: TestClient, manager: Caller, make_caller: Any
) -> None:
    first = create(client, manager, headers={"Idempotency-Key": "order-42"})
    repeated = create(client, manager, headers={"Idempotency-Key": "order-42"})
    different = client.post(
        "/api/v1/exports",
        json={**SALES, "format": "json"},
        headers={**manager.headers, "Idempotency-Key": "order-42"},
    )
    other_route = client.post(
        "/api/v1/exports/execute", json=SALES, headers={**manager.headers, "Idempotency-Key": "order-42"}
    )
    someone_else = create(client, make_caller(manager.role), headers={"Idempotency-Key": "order-42"})

    assert repeated["id"] == first["id"]
    assert different.status_code == 409
    assert error_of(different)["field"] == "Idempotency-Key"
    assert other_route.status_code == 409
    assert someone_else["id"] != first["id"]


def test_a_malformed_idempotency_key_is_a_400(client: TestClient, manager: Caller) -> None:
    response = client.post(
        "/api/v1/exports", json=SALES, headers={**manager.headers, "Idempotency-Key": "a b"}
    )

    assert response.status_code == 400
    assert error_of(response)["field"] == "Idempotency-Key"


def test_execute_is_high_priority_and_execute_by_type_defaults_columns(
    client: TestClient, manager: Caller
) -> None:
    executed = client.post("/api/v1/exports/execute", json=SALES, headers=manager.headers)
    by_type = client.post("/api/v1/exports/execute/inventory", headers=manager.headers)
    key = {"Idempotency-Key": "inventory-now"}
    by_type_again = [
        client.post(
            "/api/v1/exports/execute/inventory", json={"format": "json"}, headers={**manager.headers, **key}
        )
        for _ in range(2)
    ]
    unknown = client.post("/api/v1/exports/execute/secrets", headers=manager.headers)

    assert executed.status_code == 201
    assert executed.json()["data"]["priority"] == "high"
    data = by_type.json()["data"]
    assert (data["export_type"], data["format"], data["priority"]) == ("inventory", "csv", "high")
    assert data["columns"] == list(get_definition(ExportType.INVENTORY).default_columns)
    assert data["export_name"].startswith("inventory export ")
    assert by_type_again[0].json()["data"]["id"] == by_type_again[1].json()["data"]["id"]
    assert unknown.status_code == 400
    assert error_of(unknown)["field"] == "export_type"


def test_create_from_a_template(client: TestClient, manager: Caller, make_caller: Any, sessions: Any) -> None:
    other = make_caller(manager.role)
    with transaction(sessions) as session:
        template = _template(session, manager.id, is_public=False, columns=["order_number"])
        foreign = _template(session, other.id, is_public=False, columns=[])

    from_template = create(client, manager, {"template_id": str(template), "recipients": ["a@example.com"]})
    overridden = create(
        client, manager, {"template_id": str(template), "export_name": "mine", "format": "json"}
    )
    refused = client.post("/api/v1/exports", json={"template_id": str(foreign)}, headers=manager.headers)

    assert (from_template["export_name"], from_template["format"]) == ("Monthly sales", "excel")
    assert from_template["columns"] == ["order_number"]
    assert (overridden["export_name"], overridden["format"]) == ("mine", "json")
    assert refused.status_code == 404
    assert error_of(refused)["field"] == "template_id"


def _template(session: Session, owner: uuid.UUID, *, is_public: bool, columns: list[str]) -> uuid.UUID:
    template = ExportTemplate(
        template_name="Monthly sales",
        export_type="sales",
        format="excel",
        columns=columns,
        filters={},
        is_public=is_public,
        created_by=owner,
    )
    session.add(template)
    session.flush()
    return template.id


def test_events_stream_until_the_export_ends(client: TestClient, manager: Caller, sessions: Any) -> None:
    export = create(client, manager)
    with transaction(sessions) as session:
        session.execute(
            update(DataExport)
            .where(DataExport.id == uuid.UUID(export["id"]))
            .values(status="failed", progress_percentage=40)
        )

    with client.stream("GET", f"/api/v1/exports/{export['id']}/events", headers=manager.headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = "".join(response.iter_text())

    assert body.count("event: status") == 1
    assert '"status": "failed"' in body or '"status":"failed"' in body


def test_every_route_needs_a_bearer_token(client: TestClient) -> None:
    response = client.get("/api/v1/exports")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert error_of(response)["code"] == "unauthorized"
