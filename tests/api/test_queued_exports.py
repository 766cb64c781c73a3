"""Exports past their user's running slots (EXPORTFLOW_USER_MAX_RUNNING_EXPORTS, 1 here) through the API:
created (201) and left pending, the status read saying they are queued and where, cancellable and
deletable while they wait (without a flow run, freeing no slot), admitted in order as slots free. No
Prefect here (see test_exports.py): an admitted export stays pending without a flow run, for the
dispatcher, and the status read no longer says it is queued.
"""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flows.settings import Settings
from tests.api.conftest import Caller

SALES = {"export_name": "Queued sales", "export_type": "sales", "format": "csv"}


@pytest.fixture
def client(make_client: Callable[[Settings], TestClient], api_settings: Settings) -> TestClient:
    return make_client(api_settings.model_copy(update={"user_max_running_exports": 1}))


def created(client: TestClient, caller: Caller) -> str:
    response = client.post("/api/v1/exports", json=SALES, headers=caller.headers)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["status"] == "pending"
    export_id: str = response.json()["data"]["id"]
    return export_id


def queue_of(client: TestClient, caller: Caller, export_id: str) -> tuple[Any, ...]:
    """(status, queued, queue_position) as the status read tells them."""
    response = client.get(f"/api/v1/exports/status/{export_id}", headers=caller.headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return data["status"], data["queued"], data["queue_position"]


def test_exports_past_the_users_slots_are_created_and_wait_queued_in_order(
    client: TestClient, manager: Caller, admin: Caller
) -> None:
    exports = [created(client, manager) for _ in range(3)]

    assert [queue_of(client, manager, export_id) for export_id in exports] == [
        ("pending", False, None),
        ("pending", True, 1),
        ("pending", True, 2),
    ]
    other = created(client, admin)  # another user is not held up
    assert queue_of(client, admin, other) == ("pending", False, None)


def test_a_waiting_export_is_cancelled_or_deleted_without_freeing_a_slot(
    client: TestClient, manager: Caller
) -> None:
    running, cancelled, deleted, last = [created(client, manager) for _ in range(4)]

    cancel = client.post(f"/api/v1/exports/{cancelled}/cancel", headers=manager.headers)
    delete = client.delete(f"/api/v1/exports/{deleted}", headers=manager.headers)

    assert cancel.status_code == 200, cancel.text
    assert (cancel.json()["data"]["status"], cancel.json()["data"]["flow_run_id"]) == ("cancelled", None)
    assert delete.status_code == 200, delete.text
    assert delete.json()["data"]["status"] == "cancelled"
    assert queue_of(client, manager, cancelled) == ("cancelled", False, None)
    assert queue_of(client, manager, running) == ("pending", False, None)
    assert queue_of(client, manager, last) == ("pending", True, 1)  # still behind the one running

    assert client.post(f"/api/v1/exports/{running}/cancel", headers=manager.headers).status_code == 200

    assert queue_of(client, manager, last) == ("pending", False, None)  # its slot went to the next
