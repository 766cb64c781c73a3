"""The embedded Prefect server's one change to Prefect's app: a 503 names a short wait that grows
with the server's recent 503s, and Prefect's client waits that long instead of 2, 4, 8 s."""

import itertools
import time

import anyio
import httpx
import pytest
from prefect.client.base import PrefectHttpxAsyncClient
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from deployments.prefect_server import CLIENT_ENVIRONMENT, RetryAfter, RetrySoon


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def locked_then_ok(busy_answers: int, retry_after: str | None = None) -> tuple[Starlette, list[float]]:
    """An app answering 503 (as Prefect does on "database is locked") `busy_answers` times, then 200;
    it records when each request came."""
    arrivals: list[float] = []

    async def endpoint(request: Request) -> Response:
        arrivals.append(time.monotonic())
        if len(arrivals) <= busy_answers:
            headers = {"Retry-After": retry_after} if retry_after else None
            return JSONResponse({"exception_message": "Service Unavailable"}, 503, headers=headers)
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/api/health", endpoint)]), arrivals


def test_a_503_gets_a_short_retry_after_and_other_answers_are_untouched() -> None:
    app, _ = locked_then_ok(busy_answers=1)
    with TestClient(RetrySoon(app)) as client:
        busy, fine = client.get("/api/health"), client.get("/api/health")
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "0.1"
    assert busy.json() == {"exception_message": "Service Unavailable"}
    assert fine.status_code == 200
    assert "retry-after" not in fine.headers


def test_a_retry_after_the_app_set_itself_is_kept() -> None:
    app, _ = locked_then_ok(busy_answers=1, retry_after="30")
    with TestClient(RetrySoon(app)) as client:
        busy = client.get("/api/health")
    assert busy.headers.get_list("retry-after") == ["30"]


def test_the_wait_grows_with_the_503s_of_the_last_seconds_up_to_two_seconds_and_falls_back() -> None:
    clock = Clock()
    retry_after = RetryAfter(step=0.1, longest=2.0, window=5.0, clock=clock)

    burst = [retry_after.next() for _ in range(25)]
    clock.now = 5.5  # the burst is past the window
    after = retry_after.next()

    assert burst[:3] == pytest.approx([0.1, 0.2, 0.3])
    assert burst[-1] == 2.0
    assert after == pytest.approx(0.1)


def test_a_client_meeting_one_lasting_lock_alone_keeps_retrying_for_more_than_ten_seconds() -> None:
    clock = Clock()
    retry_after = RetryAfter(clock=clock)
    retries = int(CLIENT_ENVIRONMENT["PREFECT_CLIENT_MAX_RETRIES"])
    waited = 0.0
    for _ in range(retries):
        wait = retry_after.next()
        waited += wait
        clock.now += wait
    assert waited > 10.0


def test_prefects_client_retries_a_locked_server_after_the_short_wait_not_its_2_4_8_s_backoff() -> None:
    app, arrivals = locked_then_ok(busy_answers=8)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=RetrySoon(app))
        async with PrefectHttpxAsyncClient(transport=transport, base_url="http://prefect") as client:
            return await client.get("/api/health")

    retries = int(CLIENT_ENVIRONMENT["PREFECT_CLIENT_MAX_RETRIES"])
    with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: retries}):
        answer = anyio.run(get)

    # Eight 503s in a row: more than Prefect's default five retries would have survived.
    assert answer.status_code == 200
    assert len(arrivals) == 9
    waits = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    # Without the header the client would wait 2 s, then 4 s (PREFECT_CLIENT_RETRY_JITTER_FACTOR aside).
    assert all(wait < 1.5 for wait in waits), waits
    assert sum(waits) < 8.0, waits
