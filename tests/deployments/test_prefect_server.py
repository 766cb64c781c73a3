"""The embedded Prefect server's one change to Prefect's app: a 503 tells clients to retry soon."""

import itertools
import time

import anyio
import httpx
from prefect.client.base import PrefectHttpxAsyncClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from deployments.prefect_server import RETRY_AFTER_SECONDS, RetrySoon


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
    assert busy.headers["retry-after"] == RETRY_AFTER_SECONDS
    assert busy.json() == {"exception_message": "Service Unavailable"}
    assert fine.status_code == 200
    assert "retry-after" not in fine.headers


def test_a_retry_after_the_app_set_itself_is_kept() -> None:
    app, _ = locked_then_ok(busy_answers=1, retry_after="30")
    with TestClient(RetrySoon(app)) as client:
        busy = client.get("/api/health")
    assert busy.headers.get_list("retry-after") == ["30"]


def test_prefects_client_retries_a_locked_server_after_the_short_wait_not_its_2_4_8_s_backoff() -> None:
    app, arrivals = locked_then_ok(busy_answers=2)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=RetrySoon(app))
        async with PrefectHttpxAsyncClient(transport=transport, base_url="http://prefect") as client:
            return await client.get("/api/health")

    answer = anyio.run(get)

    assert answer.status_code == 200
    assert len(arrivals) == 3
    waits = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    # Without the header the client would wait 2 s, then 4 s (PREFECT_CLIENT_RETRY_JITTER_FACTOR aside).
    assert all(wait < 1.0 for wait in waits), waits
