"""Rate limits: per user, a stricter bucket for creations, shared through Redis, open when Redis is down.

Every test makes fresh users (new ids, so new keys), so tests sharing the Redis database never meet.
"""

import logging
import math
import socket
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from flows.settings import Settings
from flows.vocabulary import Role
from tests.api.conftest import Caller, MakeCaller

REDIS_URL = "redis://127.0.0.1:6379/15"
LIMIT = 5
WINDOW_SECONDS = 60
EXPORTS = "/api/v1/exports"
NEW_EXPORT = {"export_name": "limited", "export_type": "sales", "format": "csv"}

MakeClient = Callable[[Settings], TestClient]


def _limited(settings: Settings, **overrides: object) -> Settings:
    return settings.model_copy(
        update={
            "rate_limit_requests": LIMIT,
            "rate_limit_window_seconds": WINDOW_SECONDS,
            "rate_limit_create_requests": LIMIT,
            **overrides,
        }
    )


def _spend(client: TestClient, caller: Caller, times: int) -> list[Response]:
    return [client.get(EXPORTS, headers=caller.headers) for _ in range(times)]


def _assert_limited(response: Response, limit: int = LIMIT) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["success"] is False
    assert body["errors"][0]["code"] == "rate_limited"
    assert f"rate limit of {limit}" in body["errors"][0]["message"]
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= WINDOW_SECONDS
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert 0 < int(response.headers["X-RateLimit-Reset"]) - time.time() <= WINDOW_SECONDS + 1


def test_the_request_after_the_limit_is_429_and_others_are_unaffected(
    make_client: MakeClient, api_settings: Settings, make_caller: MakeCaller
) -> None:
    client = make_client(_limited(api_settings))
    first, second = make_caller(Role.MANAGER), make_caller(Role.MANAGER)
    allowed = _spend(client, first, LIMIT)
    assert [response.status_code for response in allowed] == [200] * LIMIT
    assert [response.headers["X-RateLimit-Remaining"] for response in allowed] == ["4", "3", "2", "1", "0"]
    assert all(response.headers["X-RateLimit-Limit"] == str(LIMIT) for response in allowed)
    _assert_limited(client.get(EXPORTS, headers=first.headers))
    _assert_limited(client.get(f"{EXPORTS}/types", headers=first.headers))
    assert client.get(EXPORTS, headers=second.headers).status_code == 200


def test_creations_spend_a_stricter_bucket_while_reads_pass(
    make_client: MakeClient, api_settings: Settings, make_caller: MakeCaller
) -> None:
    client = make_client(_limited(api_settings, rate_limit_requests=100, rate_limit_create_requests=2))
    caller = make_caller(Role.MANAGER)
    created = client.post(EXPORTS, json=NEW_EXPORT, headers=caller.headers)
    assert created.status_code == 201, created.text
    assert created.headers["X-RateLimit-Limit"] == "2"
    assert created.headers["X-RateLimit-Remaining"] == "1"
    executed = client.post(f"{EXPORTS}/execute", json=NEW_EXPORT, headers=caller.headers)
    assert executed.status_code == 201, executed.text
    _assert_limited(client.post(EXPORTS, json=NEW_EXPORT, headers=caller.headers), limit=2)
    _assert_limited(client.post(f"{EXPORTS}/execute", json=NEW_EXPORT, headers=caller.headers), limit=2)
    read = client.get(EXPORTS, headers=caller.headers)
    assert read.status_code == 200
    assert read.json()["pagination"]["total"] == 2
    assert read.headers["X-RateLimit-Limit"] == "100"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_instances_on_redis_share_one_budget(
    make_client: MakeClient, api_settings: Settings, make_caller: MakeCaller
) -> None:
    settings = _limited(api_settings, redis_url=REDIS_URL)
    one, other = make_client(settings), make_client(settings)
    caller, bystander = make_caller(Role.ADMIN), make_caller(Role.ADMIN)
    assert [response.status_code for response in _spend(one, caller, 3)] == [200] * 3
    on_other = _spend(other, caller, 2)
    assert [response.status_code for response in on_other] == [200] * 2
    assert on_other[-1].headers["X-RateLimit-Remaining"] == "0"
    _assert_limited(one.get(EXPORTS, headers=caller.headers))
    _assert_limited(other.get(EXPORTS, headers=caller.headers))
    assert other.get(EXPORTS, headers=bystander.headers).status_code == 200


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_instances_in_memory_keep_their_own_budgets(
    make_client: MakeClient, api_settings: Settings, make_caller: MakeCaller
) -> None:
    settings = _limited(api_settings)
    one, other = make_client(settings), make_client(settings)
    caller = make_caller(Role.ADMIN)
    assert [response.status_code for response in _spend(one, caller, LIMIT)] == [200] * LIMIT
    assert [response.status_code for response in _spend(other, caller, LIMIT)] == [200] * LIMIT
    _assert_limited(one.get(EXPORTS, headers=caller.headers))
    _assert_limited(other.get(EXPORTS, headers=caller.headers))


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: nothing listens there


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_with_redis_down_requests_are_served_and_the_outage_is_logged(
    make_client: MakeClient,
    api_settings: Settings,
    make_caller: MakeCaller,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Fail open: an unreachable Redis must not take the API down; each request logs the outage,
    without the Redis URL, and reports a full allowance."""
    redis_url = f"redis://127.0.0.1:{_closed_port()}/0"
    client = make_client(_limited(api_settings, redis_url=redis_url))
    caller = make_caller(Role.MANAGER)
    with caplog.at_level(logging.ERROR, logger="exportflow.api"):
        served = _spend(client, caller, LIMIT + 2)
    assert [response.status_code for response in served] == [200] * (LIMIT + 2)
    assert all(response.headers["X-RateLimit-Remaining"] == str(LIMIT) for response in served)
    outages = [record for record in caplog.records if "rate-limit store unavailable" in record.getMessage()]
    assert len(outages) == LIMIT + 2
    assert all(record.levelno == logging.ERROR for record in outages)
    assert not any(redis_url in record.getMessage() for record in caplog.records)
    assert math.isclose(int(served[0].headers["X-RateLimit-Reset"]), time.time() + WINDOW_SECONDS, abs_tol=2)
