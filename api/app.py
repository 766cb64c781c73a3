"""The FastAPI application: the seed's routes under /api/v1, thin over flows/ and Prefect, and the
recipient pages (HTML, api/pages) under /d."""

import gc
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import ExitStack, asynccontextmanager
from typing import Protocol

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import Services, parse_networks
from api.errors import install_error_handlers
from api.openapi import install_openapi
from api.pages.app import create_pages_app
from api.ratelimit import RateLimits
from api.routes import analytics, downloads, exports, resend, schedules, templates, types
from api.run_states import RunStateCache
from flows.appdb.engine import make_engine, session_factory
from flows.exports.recipient_links import PATH_PREFIX
from flows.orchestration.prefect_config import configure_prefect
from flows.settings import Settings, get_settings

API_PREFIX = "/api/v1"
REQUEST_ID_HEADER = "X-Request-ID"


class BackgroundWork(Protocol):
    """Work the app runs beside itself from start-up to shutdown (deployments/background.py's service)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def create_app(settings: Settings | None = None, background: Sequence[BackgroundWork] = ()) -> FastAPI:
    """An app on its own settings, engine and rate-limit store (tests make several side by side);
    `background` is started at start-up and stopped at shutdown, last started first."""
    settings = settings or get_settings()
    configure_prefect(settings)
    pages = create_pages_app()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        app.state.services = Services(
            settings=settings,
            sessions=session_factory(engine),
            rate_limits=RateLimits(settings),
            trusted_proxies=parse_networks(settings.trusted_proxies),
            run_states=RunStateCache(),
        )
        pages.state.services = app.state.services
        # Everything imported so far (Prefect, pydantic, SQLAlchemy: ~1M objects) lives as long as
        # the process; out of the collector's way, a full collection no longer stalls requests.
        gc.collect()
        gc.freeze()
        with ExitStack() as running:
            running.callback(engine.dispose)
            for work in background:
                work.start()
                running.callback(work.stop)
            yield

    app = FastAPI(
        title="exportflow",
        version="1.0.0",
        summary="Exports of business data, each one a Prefect flow run.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(RequestIdMiddleware)
    for module in (types, templates, schedules, analytics, downloads, exports, resend):
        app.include_router(module.router, prefix=API_PREFIX)
    app.mount(PATH_PREFIX.rstrip("/"), pages)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


class RequestIdMiddleware:
    """Give each request an id (logged with any 500) and return it in X-Request-ID (plain ASGI: no
    extra task or buffering per request, streams untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)
