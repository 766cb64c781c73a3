"""Every route x every role x own or someone else's object: the exact status code, on both app databases.

The expected code follows three rules, applied in order: a role without the route's permission
gets 403 (the seed's table, api/permissions.py); a manager asking for another user's export or
private template gets 404 (it does not exist for them); otherwise the route's own answer for the
object's state. `/exports/{id}/file` is not here: it takes a signed link, not a role
(tests/api/test_downloads.py).
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.permissions import Permission, has_permission, sees_everyones_objects
from flows.appdb.engine import transaction
from flows.appdb.models import ExportSchedule, ExportTemplate, User
from flows.exports.creation import create_export
from flows.exports.lifecycle import fail_export
from flows.exports.requests import ExportRequest
from flows.vocabulary import Role
from tests.api.conftest import MakeCaller

SALES = {"export_name": "matrix", "export_type": "sales", "format": "csv"}
TEMPLATE = {"template_name": "matrix", "export_type": "sales", "format": "csv"}
SCHEDULE = {"schedule_name": "matrix", "export_type": "sales", "format": "csv", "frequency": "daily"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    permission: Permission
    success: int
    target: str | None = None  # "pending" / "failed" export, "template" or "schedule": the {id} in the path
    body: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}" + (f" ({self.target})" if self.target else "")


ROUTES = [
    Route("GET", "/exports", Permission.EXPORTS_READ, 200),
    Route("POST", "/exports", Permission.EXPORTS_CREATE, 201, body=SALES),
    Route("POST", "/exports/execute", Permission.EXPORTS_EXECUTE, 201, body=SALES),
    Route("POST", "/exports/estimate", Permission.EXPORTS_CREATE, 200, body=SALES),
    Route("POST", "/exports/execute/sales", Permission.EXPORTS_EXECUTE, 201),
    Route("GET", "/exports/{id}", Permission.EXPORTS_READ, 200, "pending"),
    Route("GET", "/exports/status/{id}", Permission.EXPORTS_READ, 200, "pending"),
    Route("GET", "/exports/{id}/events", Permission.EXPORTS_READ, 200, "failed"),
    Route("DELETE", "/exports/{id}", Permission.EXPORTS_DELETE, 200, "pending"),
    Route("POST", "/exports/{id}/cancel", Permission.EXPORTS_UPDATE, 200, "pending"),
    Route("POST", "/exports/{id}/cancel", Permission.EXPORTS_UPDATE, 409, "failed"),
    Route("POST", "/exports/{id}/retry", Permission.EXPORTS_EXECUTE, 201, "failed"),
    Route("POST", "/exports/{id}/retry", Permission.EXPORTS_EXECUTE, 409, "pending"),
    Route("POST", "/exports/{id}/resend", Permission.EXPORTS_EXECUTE, 409, "pending"),
    Route("GET", "/exports/{id}/download", Permission.EXPORTS_DOWNLOAD, 409, "pending"),
    Route("GET", "/exports/templates", Permission.TEMPLATES_READ, 200),
    Route("POST", "/exports/templates", Permission.TEMPLATES_CREATE, 201, body=TEMPLATE),
    Route(
        "PUT", "/exports/templates/{id}", Permission.TEMPLATES_UPDATE, 200, "template", {"description": "x"}
    ),
    Route("DELETE", "/exports/templates/{id}", Permission.TEMPLATES_DELETE, 200, "template"),
    Route("GET", "/exports/schedules", Permission.SCHEDULES_READ, 200),
    Route("POST", "/exports/schedules", Permission.SCHEDULES_CREATE, 201, body=SCHEDULE),
    Route("GET", "/exports/schedules/{id}", Permission.SCHEDULES_READ, 200, "schedule"),
    Route(
        "PUT",
        "/exports/schedules/{id}",
        Permission.SCHEDULES_UPDATE,
        200,
        "schedule",
        {"time_of_day": "06:00"},
    ),
    Route("DELETE", "/exports/schedules/{id}", Permission.SCHEDULES_DELETE, 200, "schedule"),
    Route("POST", "/exports/schedules/{id}/pause", Permission.SCHEDULES_UPDATE, 200, "schedule"),
    Route("POST", "/exports/schedules/{id}/resume", Permission.SCHEDULES_UPDATE, 200, "schedule"),
    Route("GET", "/exports/schedules/{id}/next-runs", Permission.SCHEDULES_READ, 200, "schedule"),
    Route("GET", "/exports/types", Permission.EXPORTS_READ, 200),
    Route("GET", "/exports/statistics", Permission.ANALYTICS_READ, 200),
    Route("GET", "/exports/analytics", Permission.ANALYTICS_READ, 200),
]


def expected_status(route: Route, role: Role, own: bool) -> int:
    if not has_permission(role, route.permission):
        return 403
    if route.target is not None and not own and not sees_everyones_objects(role):
        return 404
    return route.success


def make_target(sessions: sessionmaker[Session], kind: str, owner: uuid.UUID) -> uuid.UUID:
    """A fresh object of the route's kind, owned by `owner`."""
    with transaction(sessions) as session:
        if kind == "schedule":
            schedule = ExportSchedule(**SCHEDULE, next_run=datetime.now(UTC), created_by=owner)
            session.add(schedule)
            session.flush()
            return schedule.id
        if kind == "template":
            template = ExportTemplate(**TEMPLATE, columns=[], filters={}, is_public=False, created_by=owner)
            session.add(template)
            session.flush()
            return template.id
        row = create_export(session, ExportRequest.validated(SALES), session.get_one(User, owner))
        export_id = row.id
    if kind == "failed":
        assert fail_export(sessions, export_id, "failed for the matrix")
    return export_id


@pytest.mark.parametrize("own", [True, False], ids=["own", "foreign"])
@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_status_code(
    client: TestClient,
    make_caller: MakeCaller,
    sessions: sessionmaker[Session],
    route: Route,
    role: Role,
    own: bool,
) -> None:
    caller = make_caller(role)
    path = route.path
    if route.target is not None:
        owner = caller.id if own else make_caller(Role.MANAGER).id
        path = path.replace("{id}", str(make_target(sessions, route.target, owner)))

    response = client.request(route.method, f"/api/v1{path}", json=route.body, headers=caller.headers)

    assert response.status_code == expected_status(route, role, own), response.text
    if response.status_code >= 400:
        assert response.json()["success"] is False


def test_the_matrix_covers_every_route_of_the_app(client: TestClient) -> None:
    """A route added to the app without a row here fails this test."""
    documented = {
        (
            method.upper(),
            path.removeprefix("/api/v1")
            .replace("{export_id}", "{id}")
            .replace("{template_id}", "{id}")
            .replace("{schedule_id}", "{id}"),
        )
        for path, operations in client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        for method in operations
    }
    covered = {
        (route.method, route.path.replace("/execute/sales", "/execute/{export_type}")) for route in ROUTES
    }
    not_by_role = {("GET", "/exports/{id}/file")}

    assert documented - not_by_role - covered == set()
