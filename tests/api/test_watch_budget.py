"""A page that watches its exports spends budgets of its own: status reads and event streams, and
downloads, never starve the seed's general 100 requests per 15 minutes, nor the other way round.

The fifteen minutes are simulated: the in-memory rate-limit store reads a clock the test moves on
(waiting a real quarter of an hour per test is the only thing replaced).
"""

import types
import uuid

import limits.storage.memory
import pytest
from fastapi.testclient import TestClient

from flows.settings import Settings
from flows.vocabulary import Role
from tests.api.conftest import MakeCaller
from tests.api.test_rate_limits import MakeClient

EXPORTS = "/api/v1/exports"
SEED_BUDGET = {"rate_limit_requests": 100, "rate_limit_window_seconds": 900, "rate_limit_create_requests": 20}
WATCHED = 5
LIST_EVERY_SECONDS = 10


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The clock of the in-memory rate-limit store, moved on by the test."""
    clock = Clock(1_900_000_000.0)
    monkeypatch.setattr(limits.storage.memory, "time", types.SimpleNamespace(time=clock.time))
    return clock


def _seed_budgets(settings: Settings, **overrides: object) -> Settings:
    defaults = Settings.model_fields
    budgets = {
        name: defaults[name].default
        for name in (
            "status_rate_limit_requests",
            "status_rate_limit_window_seconds",
            "download_rate_limit_requests",
            "download_rate_limit_window_seconds",
        )
    }
    return settings.model_copy(update={**budgets, **SEED_BUDGET, **overrides})


def _create(client: TestClient, headers: dict[str, str], name: str) -> uuid.UUID:
    response = client.post(
        EXPORTS, json={"export_name": name, "export_type": "sales", "format": "csv"}, headers=headers
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["data"]["id"])


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_polling_every_export_once_a_second_for_fifteen_minutes_never_hits_429(
    make_client: MakeClient, api_settings: Settings, make_caller: MakeCaller, clock: Clock
) -> None:
    client = make_client(_seed_budgets(api_settings))
    headers = make_caller(Role.MANAGER).headers
    watched = [_create(client, headers, f"watched {index}") for index in range(WATCHED)]
    refused: list[str] = []
    for second in range(15 * 60):
        clock.now += 1
        for export_id in watched:
            response = client.get(f"{EXPORTS}/status/{export_id}", headers=headers)
            if response.status_code != 200:
                refused.append(f"{second}s status {response.status_code}")
        if second % LIST_EVERY_SECONDS == 0:
            listed = client.get(EXPORTS, headers=headers)
            if listed.status_code != 200:
                refused.append(f"{second}s list {listed.status_code}")
    assert refused == []
    # The list and the creations spent the general budget, 5 + 90 of its 100; the status reads none.
    assert listed.headers["X-RateLimit-Limit"] == "100"
    assert listed.headers["X-RateLimit-Remaining"] == str(100 - WATCHED - 15 * 60 // LIST_EVERY_SECONDS)


def test_each_budget_runs_out_on_its_own(
    make_client: MakeClient, api_settings: Settings, make_caller: MakeCaller, clock: Clock
) -> None:
    settings = _seed_budgets(
        api_settings, rate_limit_requests=3, status_rate_limit_requests=4, download_rate_limit_requests=2
    )
    client = make_client(settings)
    headers = make_caller(Role.ADMIN).headers
    export_id = _create(client, headers, "budgets")
    status = f"{EXPORTS}/status/{export_id}"
    assert [client.get(status, headers=headers).status_code for _ in range(4)] == [200] * 4
    limited = client.get(status, headers=headers)
    assert limited.status_code == 429
    assert "rate limit of 4 status per 60 s" in limited.json()["errors"][0]["message"]
    assert client.get(f"{EXPORTS}/{export_id}/events", headers=headers).status_code == 429
    # The general budget still has 2 of its 3 (the create spent one), downloads their own 2.
    assert client.get(EXPORTS, headers=headers).status_code == 200
    downloads = [client.get(f"{EXPORTS}/{export_id}/download", headers=headers) for _ in range(3)]
    assert [response.status_code for response in downloads[:2]] == [409, 409]  # not completed yet
    assert downloads[2].status_code == 429
    assert client.get(EXPORTS, headers=headers).status_code == 200
    assert client.get(EXPORTS, headers=headers).status_code == 429
    clock.now += 61
    assert client.get(status, headers=headers).status_code == 200
