"""The template routes: validation against the catalog, who may read and change which template, audit."""

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.models import AuditLog, ExportTemplate
from flows.vocabulary import Role
from tests.api.conftest import Caller, MakeCaller

URL = "/api/v1/exports/templates"
SALES = {
    "template_name": "Weekly sales",
    "export_type": "sales",
    "format": "csv",
    "columns": ["order_number", "region", "total_amount"],
    "filters": {"region": ["EMEA", "APAC"], "total_amount": {"gte": 10}},
    "description": "Big sales in EMEA and APAC",
}


def create(client: TestClient, caller: Caller, **fields: Any) -> dict[str, Any]:
    response = client.post(URL, json={**SALES, **fields}, headers=caller.headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def listed(client: TestClient, caller: Caller, **params: Any) -> dict[str, Any]:
    response = client.get(URL, params={"limit": 100, **params}, headers=caller.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def listed_ids(client: TestClient, caller: Caller, **params: Any) -> set[str]:
    return {item["id"] for item in listed(client, caller, **params)["data"]}


def only_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert len(body["errors"]) == 1
    error: dict[str, Any] = body["errors"][0]
    return error


def audit_entries(sessions: sessionmaker[Session], template_id: str) -> list[AuditLog]:
    with sessions() as session:
        return list(
            session.scalars(
                select(AuditLog)
                .where(AuditLog.resource == "export_templates", AuditLog.resource_id == template_id)
                .order_by(AuditLog.created_at)
            )
        )


def test_create_stores_the_template_with_an_audit_entry(
    client: TestClient, manager: Caller, sessions: sessionmaker[Session]
) -> None:
    response = client.post(URL, json=SALES, headers={**manager.headers, "User-Agent": "templates-test/1"})

    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert {key: data[key] for key in SALES} == SALES
    assert data["is_public"] is False
    assert data["created_by"] == str(manager.id)
    assert data["created_at"] <= data["updated_at"]
    with sessions() as session:
        row = session.get_one(ExportTemplate, uuid.UUID(data["id"]))
        assert row.columns == SALES["columns"]
        assert row.filters == SALES["filters"]
    [entry] = audit_entries(sessions, data["id"])
    assert entry.action == "template_created"
    assert entry.user_id == manager.id
    assert entry.user_agent == "templates-test/1"
    assert entry.ip_address
    assert entry.details == {"export_type": "sales", "format": "csv", "is_public": False}


def test_columns_and_description_may_be_left_out(client: TestClient, manager: Caller) -> None:
    response = client.post(
        URL,
        json={"template_name": "  All inventory  ", "export_type": "inventory", "format": "parquet"},
        headers=manager.headers,
    )

    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["template_name"] == "All inventory"
    assert data["columns"] == []
    assert data["filters"] == {}
    assert data["description"] is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"template_name": ""}, "template_name"),
        ({"template_name": "   "}, "template_name"),
        ({"template_name": "tab\there"}, "template_name"),
        ({"template_name": "x" * 256}, "template_name"),
        ({"export_type": "weather"}, "export_type"),
        ({"format": "xml"}, "format"),
        ({"columns": ["order_number", "salary"]}, "columns[1]"),
        ({"filters": {"region": "Atlantis"}}, "filters.region"),
        ({"filters": {"planet": "Mars"}}, "filters.planet"),
        ({"filters": {"total_amount": {"like": 1}}}, "filters.total_amount.like"),
        ({"description": "d" * 2001}, "description"),
        ({"is_public": "maybe"}, "is_public"),
        ({"owner": "someone else"}, "owner"),
    ],
)
def test_a_bad_template_is_a_400_naming_its_field(
    client: TestClient, manager: Caller, changes: dict[str, Any], field: str
) -> None:
    error = only_error(client.post(URL, json={**SALES, **changes}, headers=manager.headers), 400)

    assert error["field"] == field
    assert error["code"] == "validation_error"
    if field == "owner":
        assert error["message"] == "unknown field"


def test_a_manager_may_not_keep_a_sensitive_template(
    client: TestClient, manager: Caller, admin: Caller
) -> None:
    body = {"template_name": "Payroll", "export_type": "payroll", "format": "excel", "columns": ["net_pay"]}
    error = only_error(client.post(URL, json=body, headers=manager.headers), 403)
    assert error["field"] == "export_type"
    assert "payroll" in error["message"]

    created = create(client, admin, **body, filters={}, is_public=True)
    assert created["export_type"] == "payroll"
    assert created["id"] not in listed_ids(client, manager)
    assert created["id"] in listed_ids(client, admin)

    own = create(client, manager)
    error = only_error(
        client.put(f"{URL}/{own['id']}", json={**body, "filters": {}}, headers=manager.headers), 403
    )
    assert error["field"] == "export_type"


def test_private_templates_are_their_owners_and_public_ones_readable_by_all(
    client: TestClient, make_caller: MakeCaller, admin: Caller, super_admin: Caller
) -> None:
    alice, bob = make_caller(Role.MANAGER), make_caller(Role.MANAGER)
    private = create(client, alice, template_name="Alice private")
    public = create(client, alice, template_name="Alice public", is_public=True)

    assert {private["id"], public["id"]} <= listed_ids(client, alice)
    bob_sees = listed_ids(client, bob)
    assert public["id"] in bob_sees
    assert private["id"] not in bob_sees
    for privileged in (admin, super_admin):
        assert {private["id"], public["id"]} <= listed_ids(client, privileged)

    for template in (private, public):
        error = only_error(
            client.put(f"{URL}/{template['id']}", json={"format": "json"}, headers=bob.headers), 404
        )
        assert error["field"] == "id"
        only_error(client.delete(f"{URL}/{template['id']}", headers=bob.headers), 404)

    response = client.put(f"{URL}/{private['id']}", json={"format": "json"}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["format"] == "json"
    assert response.json()["data"]["created_by"] == str(alice.id)


def test_list_filters_and_pages(client: TestClient, manager: Caller) -> None:
    made = [create(client, manager, template_name=f"Mine {index}") for index in range(3)]
    inventory = create(
        client, manager, template_name="Stock", export_type="inventory", columns=["sku"], filters={}
    )

    first = listed(client, manager, is_public="false", limit=2)
    second = listed(client, manager, is_public="false", limit=2, page=2)
    third = listed(client, manager, is_public="false", limit=2, page=3)

    assert first["pagination"] == {"page": 1, "limit": 2, "total": 4, "pages": 2}
    assert second["pagination"] == {"page": 2, "limit": 2, "total": 4, "pages": 2}
    assert third["data"] == []
    newest_first = [inventory, *reversed(made)]
    assert [item["id"] for item in first["data"] + second["data"]] == [item["id"] for item in newest_first]
    assert listed_ids(client, manager, is_public="false", export_type="inventory") == {inventory["id"]}
    assert inventory["id"] not in listed_ids(client, manager, is_public="true")


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 101}, "limit"), ({"page": 0}, "page"), ({"export_type": "weather"}, "export_type")],
)
def test_bad_list_parameters_are_400s(
    client: TestClient, manager: Caller, params: dict[str, Any], field: str
) -> None:
    assert only_error(client.get(URL, params=params, headers=manager.headers), 400)["field"] == field


def test_update_changes_only_the_fields_given(
    client: TestClient, manager: Caller, sessions: sessionmaker[Session]
) -> None:
    template = create(client, manager)

    response = client.put(
        f"{URL}/{template['id']}", json={"format": "excel", "is_public": True}, headers=manager.headers
    )

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["format"] == "excel"
    assert data["is_public"] is True
    unchanged = ("template_name", "export_type", "columns", "filters", "description", "created_at")
    assert {key: data[key] for key in unchanged} == {key: template[key] for key in unchanged}
    assert data["updated_at"] > template["updated_at"]
    created, updated = audit_entries(sessions, template["id"])
    assert (created.action, updated.action) == ("template_created", "template_updated")
    assert updated.user_id == manager.id
    assert updated.details == {"fields": ["format", "is_public"]}

    response = client.put(
        f"{URL}/{template['id']}",
        json={"export_type": "inventory", "columns": None, "filters": {}, "description": None},
        headers=manager.headers,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["export_type"], data["columns"], data["description"]) == ("inventory", [], None)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"export_type": "inventory"}, "columns[0]"),
        ({"columns": ["net_pay"]}, "columns[0]"),
        ({"filters": {"date_from": "2024-02-01", "date_to": "2024-01-01"}}, "filters.date_to"),
        ({"template_name": None}, "template_name"),
        ({"template_name": ""}, "template_name"),
        ({"format": None}, "format"),
        ({"created_by": str(uuid.uuid4())}, "created_by"),
    ],
)
def test_an_update_making_a_bad_template_is_a_400_and_changes_nothing(
    client: TestClient,
    manager: Caller,
    sessions: sessionmaker[Session],
    changes: dict[str, Any],
    field: str,
) -> None:
    template = create(client, manager)

    error = only_error(client.put(f"{URL}/{template['id']}", json=changes, headers=manager.headers), 400)

    assert error["field"] == field
    with sessions() as session:
        row = session.get_one(ExportTemplate, uuid.UUID(template["id"]))
        assert (row.export_type, row.columns, row.template_name) == (
            "sales",
            SALES["columns"],
            "Weekly sales",
        )
    assert [entry.action for entry in audit_entries(sessions, template["id"])] == ["template_created"]


def test_delete_removes_the_template_and_keeps_its_audit_trail(
    client: TestClient, manager: Caller, sessions: sessionmaker[Session]
) -> None:
    template = create(client, manager)

    response = client.delete(f"{URL}/{template['id']}", headers=manager.headers)

    assert response.status_code == 200, response.text
    assert response.json()["data"]["id"] == template["id"]
    assert template["id"] not in listed_ids(client, manager)
    only_error(client.put(f"{URL}/{template['id']}", json={"format": "pdf"}, headers=manager.headers), 404)
    only_error(client.delete(f"{URL}/{template['id']}", headers=manager.headers), 404)
    with sessions() as session:
        assert session.get(ExportTemplate, uuid.UUID(template["id"])) is None
    deleted = audit_entries(sessions, template["id"])[-1]
    assert deleted.action == "template_deleted"
    assert deleted.user_id == manager.id
    assert deleted.details == {"template_name": "Weekly sales", "export_type": "sales"}


def test_unknown_and_malformed_ids_are_404s(client: TestClient, manager: Caller) -> None:
    only_error(client.put(f"{URL}/{uuid.uuid4()}", json={}, headers=manager.headers), 404)
    only_error(client.delete(f"{URL}/{uuid.uuid4()}", headers=manager.headers), 404)
    assert client.delete(f"{URL}/not-a-uuid", headers=manager.headers).status_code == 404
